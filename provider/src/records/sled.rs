//! The embedded book of records: a sled database in a directory.
//!
//! Trees: [`SledRecords::RECORDS`] (digest → borsh `SaltedRecord`),
//! [`SledRecords::INDEX`] (`<enterprise>/<kind>/` + digest → nothing),
//! [`SledRecords::PROGRESS`] (`last_height` → u64 big-endian) and
//! [`SledRecords::HANDLED`] (task → nothing). A record and its index entry
//! are written in one transaction, so a crash never leaves one without the
//! other.

use std::path::Path;

use protocol::{EnterpriseId, Hash, RecordKind, SaltedRecord};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{RecordSource, check_listed, decode_stored, distinct, finish_list, kind_name};
use crate::Error;

/// A [`RecordSource`] in a sled database (the default: nothing to run
/// beside the agent). Cheap to clone: clones share the database.
#[derive(Clone)]
pub struct SledRecords {
    path: String,
    records: sled::Tree,
    index: sled::Tree,
    progress: sled::Tree,
    handled: sled::Tree,
}

const LAST_HEIGHT: &[u8] = b"last_height";

impl SledRecords {
    /// The tree of records by digest.
    pub const RECORDS: &'static str = "records";
    /// The tree indexing records by enterprise and kind.
    pub const INDEX: &'static str = "records_by_enterprise";
    /// The tree of the agent's progress.
    pub const PROGRESS: &'static str = "progress";
    /// The tree of handled tasks.
    pub const HANDLED: &'static str = "handled";

    /// Opens (or creates) the store in directory `path`.
    pub fn open(path: &Path) -> Result<SledRecords, Error> {
        let db = sled::open(path).map_err(|e| Error::Sled {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        SledRecords::from_db(&db, path)
    }

    /// The store in the trees of an open database at `path` (a process
    /// that keeps other trees in the same database; tests that look under
    /// the hood).
    pub fn from_db(db: &sled::Db, path: &Path) -> Result<SledRecords, Error> {
        let shown = path.display().to_string();
        let fail = |e: sled::Error| Error::Sled {
            path: shown.clone(),
            reason: e.to_string(),
        };
        Ok(SledRecords {
            records: db.open_tree(Self::RECORDS).map_err(fail)?,
            index: db.open_tree(Self::INDEX).map_err(fail)?,
            progress: db.open_tree(Self::PROGRESS).map_err(fail)?,
            handled: db.open_tree(Self::HANDLED).map_err(fail)?,
            path: shown,
        })
    }

    /// Writes everything to disk (sled also does so periodically and on
    /// drop).
    pub fn flush(&self) -> Result<(), Error> {
        for tree in [&self.records, &self.index, &self.progress, &self.handled] {
            tree.flush().map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    fn error(&self, e: impl std::fmt::Display) -> Error {
        Error::Sled {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn index_prefix(enterprise: &EnterpriseId, kind: RecordKind) -> Vec<u8> {
        // Neither part contains '/': ids are validated on decoding.
        format!("{}/{}/", enterprise.as_str(), kind_name(kind)).into_bytes()
    }

    fn put_sync(&self, record: &SaltedRecord) -> Result<Hash, Error> {
        let digest = record.commitment().digest;
        let bytes = borsh::to_vec(record).map_err(|e| self.error(e))?;
        let mut index_key = Self::index_prefix(&record.record.enterprise, record.record.kind);
        index_key.extend_from_slice(digest.as_bytes());
        let key = digest.as_bytes().to_vec();
        let result = (&self.records, &self.index).transaction(|(records, index)| {
            if let Some(existing) = records.get(&key)? {
                if existing.as_ref() == bytes.as_slice() {
                    return Ok(());
                }
                // Same digest, other bytes: the stored one is damaged, or
                // the hash broken; either way never overwrite it silently.
                return Err(ConflictableTransactionError::Abort(()));
            }
            records.insert(key.as_slice(), bytes.as_slice())?;
            index.insert(index_key.as_slice(), &[] as &[u8])?;
            Ok(())
        });
        match result {
            // Durable before the caller commits it on the chain: a
            // commitment must never outlive its record.
            Ok(()) => {
                self.records.flush().map_err(|e| self.error(e))?;
                Ok(digest)
            }
            Err(TransactionError::Abort(())) => Err(Error::CorruptRecord {
                digest: digest.to_string(),
                reason: "another value is stored under this digest".to_owned(),
            }),
            Err(TransactionError::Storage(e)) => Err(self.error(e)),
        }
    }

    fn get_sync(&self, digest: &Hash) -> Result<Option<SaltedRecord>, Error> {
        match self
            .records
            .get(digest.as_bytes())
            .map_err(|e| self.error(e))?
        {
            None => Ok(None),
            Some(bytes) => decode_stored(digest, &bytes).map(Some),
        }
    }

    fn list_sync(
        &self,
        enterprise: &EnterpriseId,
        kinds: &[RecordKind],
    ) -> Result<Vec<SaltedRecord>, Error> {
        let mut out = Vec::new();
        for kind in distinct(kinds) {
            let prefix = Self::index_prefix(enterprise, kind);
            for entry in self.index.scan_prefix(&prefix) {
                let (key, _) = entry.map_err(|e| self.error(e))?;
                let raw = &key[prefix.len()..];
                let digest = Hash(raw.try_into().map_err(|_| Error::CorruptRecord {
                    digest: hex::encode(raw),
                    reason: format!("index entry of {} bytes, not a digest", raw.len()),
                })?);
                let record = self
                    .get_sync(&digest)?
                    .ok_or_else(|| Error::CorruptRecord {
                        digest: digest.to_string(),
                        reason: "indexed but not stored".to_owned(),
                    })?;
                check_listed(&digest, &record, enterprise, kinds)?;
                out.push((digest, record));
                if out.len() > super::MAX_LISTED_RECORDS {
                    // finish_list reports it; stop reading a runaway index.
                    return finish_list(out, enterprise);
                }
            }
        }
        finish_list(out, enterprise)
    }
}

impl RecordSource for SledRecords {
    async fn put(&self, record: &SaltedRecord) -> Result<Hash, Error> {
        self.put_sync(record)
    }

    async fn get(&self, digest: &Hash) -> Result<Option<SaltedRecord>, Error> {
        self.get_sync(digest)
    }

    async fn list(
        &self,
        enterprise: &EnterpriseId,
        kinds: &[RecordKind],
    ) -> Result<Vec<SaltedRecord>, Error> {
        self.list_sync(enterprise, kinds)
    }

    async fn count(&self) -> Result<u64, Error> {
        Ok(self.records.len() as u64)
    }

    async fn last_height(&self) -> Result<u64, Error> {
        match self.progress.get(LAST_HEIGHT).map_err(|e| self.error(e))? {
            None => Ok(0),
            Some(bytes) => {
                let raw: [u8; 8] =
                    bytes
                        .as_ref()
                        .try_into()
                        .map_err(|_| Error::CorruptProgress {
                            key: "last_height".to_owned(),
                            reason: format!("{} bytes, expected 8", bytes.len()),
                        })?;
                Ok(u64::from_be_bytes(raw))
            }
        }
    }

    async fn set_last_height(&self, height: u64) -> Result<(), Error> {
        self.progress
            .insert(LAST_HEIGHT, &height.to_be_bytes())
            .map_err(|e| self.error(e))?;
        self.progress.flush().map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn is_handled(&self, task: &str) -> Result<bool, Error> {
        self.handled
            .contains_key(task.as_bytes())
            .map_err(|e| self.error(e))
    }

    async fn mark_handled(&self, task: &str) -> Result<(), Error> {
        self.handled
            .insert(task.as_bytes(), &[] as &[u8])
            .map_err(|e| self.error(e))?;
        self.handled.flush().map_err(|e| self.error(e))?;
        Ok(())
    }
}
