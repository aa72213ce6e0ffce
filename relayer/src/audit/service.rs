//! The audit log kept in the relayer's store: what the supervision node
//! appends to, checkpoints, and serves to the regulator.

use std::sync::Mutex;

use ed25519_dalek::SigningKey;
use protocol::{PublicKey, Time};

use super::AuditError;
use super::entry::{AuditEntry, AuditRecord};
use super::export::AuditFilter;
use super::gaps::{COMPLETENESS_KEY, SendCompleteness, decode_completeness, encode_completeness};
use super::log::{AuditLog, SignedCheckpoint};
use super::merkle::InclusionProof;
use super::verify::{LogVerifier, VerifiedLog};
use crate::registry::signing;
use crate::store::{Store, StoreError};

/// How many entries a walk over the store reads at a time.
const BATCH: u64 = 10_000;

/// Why the audit service failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored log does not verify (the service refuses to append to a
    /// log that was tampered with).
    #[error("the stored audit log does not verify: {0}")]
    Tampered(#[from] AuditError),
    /// A checkpoint was to be signed by another key than the regulator's.
    #[error("checkpoints are signed by the regulator's key {regulator}, not {signer}")]
    NotRegulator {
        /// The regulator's key.
        regulator: PublicKey,
        /// The key offered.
        signer: PublicKey,
    },
}

/// Checks the whole audit log stored in `store`: every entry, the recorded
/// head, every checkpoint (against `regulator` if given). The outer error
/// is the store failing; the inner one is the log not holding.
pub fn verify_store(
    store: &Store,
    regulator: Option<&PublicKey>,
) -> Result<Result<(VerifiedLog, AuditLog), AuditError>, StoreError> {
    let mut verifier = LogVerifier::new();
    let mut from = 0u64;
    loop {
        let batch = match store.audit_raw(from..from.saturating_add(BATCH)) {
            Ok(batch) => batch,
            Err(StoreError::Corrupt { key, reason }) => {
                return Ok(Err(AuditError::Undecodable {
                    sequence: from,
                    reason: format!("{key}: {reason}"),
                }));
            }
            Err(e) => return Err(e),
        };
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        for (key, bytes) in &batch {
            if let Err(e) = verifier.push_stored(*key, bytes) {
                return Ok(Err(e));
            }
        }
        from = last + 1;
    }
    let head = match store.audit_head() {
        Ok(head) => head,
        Err(StoreError::Corrupt { reason, .. }) => {
            return Ok(Err(AuditError::HeadUndecodable { reason }));
        }
        Err(e) => return Err(e),
    };
    let checkpoints = match store.checkpoints() {
        Ok(c) => c,
        Err(StoreError::Corrupt { reason, .. }) => {
            return Ok(Err(AuditError::CheckpointUndecodable { reason }));
        }
        Err(e) => return Err(e),
    };
    Ok(verifier.finish(head, &checkpoints, regulator))
}

/// The completeness records stored in `store` (none before the supervision
/// node first checked a pair of chains).
pub fn stored_completeness(store: &Store) -> Result<Vec<SendCompleteness>, StoreError> {
    match store.supervisor_get(COMPLETENESS_KEY)? {
        None => Ok(Vec::new()),
        Some(bytes) => decode_completeness(&bytes).map_err(|reason| StoreError::Corrupt {
            key: String::from_utf8_lossy(COMPLETENESS_KEY).into_owned(),
            reason,
        }),
    }
}

/// The supervision node's audit log: appends persisted in the store (in
/// log order, one at a time), checkpoints signed by the regulator, reads
/// for the regulator's API. Holds no key that decrypts anything.
pub struct AuditService {
    store: Store,
    regulator: PublicKey,
    log: Mutex<AuditLog>,
    /// Per (source, destination): which sends the log has.
    completeness: Mutex<Vec<SendCompleteness>>,
}

impl AuditService {
    /// The service over the log in `store`, which is verified first
    /// (entries, head and checkpoints, against `regulator`): a tampered log
    /// is refused rather than appended to.
    pub fn open(store: Store, regulator: PublicKey) -> Result<AuditService, ServiceError> {
        let (_, log) = verify_store(&store, Some(&regulator))??;
        let completeness = stored_completeness(&store)?;
        Ok(AuditService {
            store,
            regulator,
            log: Mutex::new(log),
            completeness: Mutex::new(completeness),
        })
    }

    /// The regulator's key: the only one that may read the log and sign
    /// its checkpoints.
    pub fn regulator(&self) -> &PublicKey {
        &self.regulator
    }

    fn log(&self) -> std::sync::MutexGuard<'_, AuditLog> {
        // The log is only replaced whole after a successful write, so a
        // poisoned lock still holds a consistent log.
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `record` as the next entry, persisted (flushed) before it
    /// is returned.
    pub fn record(&self, record: AuditRecord) -> Result<AuditEntry, ServiceError> {
        let mut log = self.log();
        let entry = log.prepare(record);
        self.store.append_audit(&entry)?;
        log.commit(&entry)?;
        Ok(entry)
    }

    /// Appends `record` as the next entry unless the event `marker` names
    /// was logged already (then `None`); entry and marker are stored in one
    /// transaction, so a restart neither loses nor repeats an event.
    pub fn record_once(
        &self,
        record: AuditRecord,
        marker: &[u8],
    ) -> Result<Option<AuditEntry>, ServiceError> {
        let mut log = self.log();
        if self.store.audit_marked(marker)? {
            return Ok(None);
        }
        let entry = log.prepare(record);
        self.store.append_audit_marked(&entry, Some(marker))?;
        log.commit(&entry)?;
        Ok(Some(entry))
    }

    /// Whether the event `marker` names was logged.
    pub fn is_recorded(&self, marker: &[u8]) -> Result<bool, ServiceError> {
        Ok(self.store.audit_marked(marker)?)
    }

    /// What the log has of the sends `source → destination` (a fresh record
    /// when never checked).
    pub fn completeness_of(
        &self,
        source: &protocol::ChainId,
        destination: &protocol::ChainId,
    ) -> SendCompleteness {
        self.completeness()
            .into_iter()
            .find(|c| &c.source == source && &c.destination == destination)
            .unwrap_or_else(|| SendCompleteness::new(source.clone(), destination.clone()))
    }

    /// Every pair's completeness record, as last noted.
    pub fn completeness(&self) -> Vec<SendCompleteness> {
        self.completeness
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The pairs whose log misses sends.
    pub fn gaps(&self) -> Vec<SendCompleteness> {
        self.completeness()
            .into_iter()
            .filter(SendCompleteness::has_gaps)
            .collect()
    }

    /// Records what the log has of one pair's sends, persisted (flushed)
    /// before it is returned.
    pub fn note_completeness(&self, record: SendCompleteness) -> Result<(), ServiceError> {
        let mut all = self
            .completeness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = all.clone();
        match next
            .iter_mut()
            .find(|c| c.source == record.source && c.destination == record.destination)
        {
            Some(slot) => *slot = record,
            None => next.push(record),
        }
        self.store
            .supervisor_put(COMPLETENESS_KEY, &encode_completeness(&next))?;
        *all = next;
        Ok(())
    }

    /// The Merkle root of entries `0..=upto` as the log holds them now.
    pub fn root(&self, upto: u64) -> Result<protocol::Hash, ServiceError> {
        Ok(self.log().root(upto)?)
    }

    /// How many entries, and the last one.
    pub fn head(&self) -> (u64, Option<super::AuditHead>) {
        let log = self.log();
        (log.len(), log.head())
    }

    /// Checkpoints the whole log at `time` with the regulator's `key`, and
    /// stores the checkpoint. The caller anchors its root on a chain.
    pub fn checkpoint(
        &self,
        key: &SigningKey,
        time: Time,
    ) -> Result<SignedCheckpoint, ServiceError> {
        let signer = signing::public_key(key);
        if signer != self.regulator {
            return Err(ServiceError::NotRegulator {
                regulator: self.regulator,
                signer,
            });
        }
        let checkpoint = self.log().checkpoint(time, key)?;
        self.store.save_checkpoint(&checkpoint)?;
        Ok(checkpoint)
    }

    /// The stored checkpoints, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, ServiceError> {
        Ok(self.store.checkpoints()?)
    }

    /// The proof that entry `sequence` is under the checkpoint up to `upto`.
    pub fn prove(&self, sequence: u64, upto: u64) -> Result<InclusionProof, ServiceError> {
        Ok(self.log().prove(sequence, upto)?)
    }

    /// The entries passing `filter`, in order.
    pub fn entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, ServiceError> {
        let mut out = Vec::new();
        let mut from = 0u64;
        loop {
            let batch = self.store.audit_entries(from..from.saturating_add(BATCH))?;
            let Some(last) = batch.last().map(|e| e.sequence) else {
                break;
            };
            out.extend(batch.into_iter().filter(|e| filter.matches(e)));
            from = last + 1;
        }
        Ok(out)
    }
}
