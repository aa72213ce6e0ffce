//! The provider's book of records: [`RecordSource`], with an embedded
//! implementation ([`SledRecords`]) and a PostgreSQL one
//! ([`PostgresRecords`]).
//!
//! A record is kept with its salt ([`SaltedRecord`]) under its salted
//! digest, the one its commitment on the chain names. The book also keeps
//! the agent's progress (the last block processed, the queries and
//! aggregations already handled), so a restart resumes where it stopped.
//!
//! What a source returns is checked: a stored record must decode and hash
//! to the digest it is stored under, and be what its index says (its
//! enterprise, its kind); otherwise the read fails with
//! [`Error::CorruptRecord`] naming the digest. A store another process
//! writes is untrusted input.

mod postgres;
mod sled;

use std::future::Future;

use protocol::{EnterpriseId, Hash, RecordKind, SaltedRecord};

use crate::Error;

pub use self::postgres::{DEFAULT_SCHEMA, PostgresRecords};
pub use self::sled::SledRecords;

/// The most bytes a stored record may have; a longer one is refused as
/// corrupt before decoding (the largest honest record is a few hundred).
pub const MAX_STORED_RECORD_BYTES: usize = 4096;

/// The most records [`RecordSource::list`] returns: the most one
/// (enterprise, provider) may have committed on a chain.
pub const MAX_LISTED_RECORDS: usize = protocol::sealed::MAX_RECORDS_PER_ANSWER;

/// A provider's book of records, and the agent's progress.
///
/// Methods return `Send` futures so that an agent holding a source can be
/// spawned on a multi-threaded runtime.
pub trait RecordSource: Send + Sync + 'static {
    /// Stores `record` under its digest (which it returns). Storing the
    /// same salted record again is a no-op; it never replaces a different
    /// one (two different records cannot share a digest).
    fn put(&self, record: &SaltedRecord) -> impl Future<Output = Result<Hash, Error>> + Send;

    /// The record stored under `digest`, if any, checked against it.
    fn get(
        &self,
        digest: &Hash,
    ) -> impl Future<Output = Result<Option<SaltedRecord>, Error>> + Send;

    /// The records about `enterprise` of one of `kinds`, ordered by start
    /// then digest; at most [`MAX_LISTED_RECORDS`] (more is an error: the
    /// chain would not have committed them).
    fn list(
        &self,
        enterprise: &EnterpriseId,
        kinds: &[RecordKind],
    ) -> impl Future<Output = Result<Vec<SaltedRecord>, Error>> + Send;

    /// How many records are stored.
    fn count(&self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// The last block height the agent processed completely (0: none).
    fn last_height(&self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Remembers that every block up to `height` was processed.
    fn set_last_height(&self, height: u64) -> impl Future<Output = Result<(), Error>> + Send;

    /// Whether the task `task` (a query or aggregation, see
    /// [`crate::agent::Task`]) was handled already.
    fn is_handled(&self, task: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Remembers that `task` was handled.
    fn mark_handled(&self, task: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Decodes a stored record and checks it is the one stored under
/// `digest`: bounded, canonical borsh, and hashing to `digest`.
pub(crate) fn decode_stored(digest: &Hash, bytes: &[u8]) -> Result<SaltedRecord, Error> {
    let corrupt = |reason: String| Error::CorruptRecord {
        digest: digest.to_string(),
        reason,
    };
    if bytes.len() > MAX_STORED_RECORD_BYTES {
        return Err(corrupt(format!(
            "{} bytes, at most {MAX_STORED_RECORD_BYTES}",
            bytes.len()
        )));
    }
    let record: SaltedRecord =
        borsh::from_slice(bytes).map_err(|e| corrupt(format!("does not decode: {e}")))?;
    let actual = record.commitment().digest;
    if actual != *digest {
        return Err(corrupt(format!("the record's salted digest is {actual}")));
    }
    Ok(record)
}

/// Checks that a listed record is what the index said: about `enterprise`
/// and of one of `kinds`.
pub(crate) fn check_listed(
    digest: &Hash,
    record: &SaltedRecord,
    enterprise: &EnterpriseId,
    kinds: &[RecordKind],
) -> Result<(), Error> {
    let corrupt = |reason: String| Error::CorruptRecord {
        digest: digest.to_string(),
        reason,
    };
    if record.record.enterprise != *enterprise {
        return Err(corrupt(format!(
            "indexed under enterprise {enterprise}, the record is about {}",
            record.record.enterprise
        )));
    }
    if !kinds.contains(&record.record.kind) {
        return Err(corrupt(format!(
            "listed for kinds {kinds:?}, the record is of kind {:?}",
            record.record.kind
        )));
    }
    Ok(())
}

/// Sorts listed records as [`RecordSource::list`] promises and bounds them.
pub(crate) fn finish_list(
    mut records: Vec<(Hash, SaltedRecord)>,
    enterprise: &EnterpriseId,
) -> Result<Vec<SaltedRecord>, Error> {
    if records.len() > MAX_LISTED_RECORDS {
        return Err(Error::CorruptRecord {
            digest: records[MAX_LISTED_RECORDS].0.to_string(),
            reason: format!(
                "more than {MAX_LISTED_RECORDS} records about enterprise {enterprise} \
                 of the kinds asked: no chain commits that many"
            ),
        });
    }
    records.sort_by_key(|(d, r)| (r.record.start, *d));
    Ok(records.into_iter().map(|(_, r)| r).collect())
}

/// The JSON (serde) name of a kind: `loan`, `tax`, ...
pub(crate) fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Loan => "loan",
        RecordKind::Repayment => "repayment",
        RecordKind::Overdue => "overdue",
        RecordKind::Tax => "tax",
        RecordKind::Utility => "utility",
        RecordKind::Judgement => "judgement",
    }
}

/// The distinct kinds of `kinds`, in order.
pub(crate) fn distinct(kinds: &[RecordKind]) -> Vec<RecordKind> {
    let mut out = kinds.to_vec();
    out.sort();
    out.dedup();
    out
}
