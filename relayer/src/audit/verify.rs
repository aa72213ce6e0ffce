//! The whole check of a stored log: every entry decodes and links to the
//! one before, the recorded head is the last entry, every checkpoint is the
//! regulator's and commits to the entries as they are now.

use protocol::PublicKey;
use serde::Serialize;

use super::AuditError;
use super::entry::AuditEntry;
use super::log::{AuditHead, AuditLog, ChainVerifier, SignedCheckpoint};

/// What a successful check found.
#[derive(Clone, Debug, Serialize)]
pub struct VerifiedLog {
    /// How many entries.
    pub entries: u64,
    /// The last entry.
    pub head: Option<AuditHead>,
    /// How many checkpoints were checked.
    pub checkpoints: u64,
    /// The latest checkpoint.
    pub last_checkpoint: Option<SignedCheckpoint>,
    /// Whether checkpoints were checked against a given regulator key
    /// (otherwise only against the key each names).
    pub regulator_pinned: bool,
}

/// Checks a stored log fed entry by entry as stored: `(key, bytes)`, the
/// key being the sequence the store files the entry under.
#[derive(Debug, Default)]
pub struct LogVerifier {
    walk: ChainVerifier,
}

impl LogVerifier {
    /// A check from entry 0.
    pub fn new() -> LogVerifier {
        LogVerifier::default()
    }

    /// Checks the next stored entry: it decodes, it is filed under its own
    /// sequence, it is the next in sequence and links to the one before.
    pub fn push_stored(&mut self, key: u64, bytes: &[u8]) -> Result<AuditEntry, AuditError> {
        let entry = AuditEntry::from_bytes(bytes).map_err(|reason| AuditError::Undecodable {
            sequence: key,
            reason,
        })?;
        if entry.sequence != key {
            return Err(AuditError::Misfiled {
                key,
                found: entry.sequence,
            });
        }
        self.walk.push(&entry)?;
        Ok(entry)
    }

    /// Finishes the check: the recorded `head` is the last entry walked;
    /// every checkpoint verifies (against `regulator` if given, else against
    /// the key it names) over the entries walked.
    pub fn finish(
        self,
        head: Option<AuditHead>,
        checkpoints: &[SignedCheckpoint],
        regulator: Option<&PublicKey>,
    ) -> Result<(VerifiedLog, AuditLog), AuditError> {
        let log = self.walk.finish();
        match (head, log.head()) {
            (None, None) => {}
            (Some(recorded), actual) if actual.is_none_or(|a| a.sequence < recorded.sequence) => {
                return Err(AuditError::Truncated {
                    recorded: recorded.sequence,
                    entries: log.len(),
                });
            }
            (None, Some(actual)) => {
                return Err(AuditError::HeadMissing {
                    entries: actual.sequence + 1,
                });
            }
            (Some(recorded), Some(actual)) if actual.sequence > recorded.sequence => {
                return Err(AuditError::BeyondHead {
                    recorded: recorded.sequence,
                    last: actual.sequence,
                });
            }
            (Some(recorded), Some(actual)) if actual.hash != recorded.hash => {
                return Err(AuditError::HeadMismatch {
                    sequence: actual.sequence,
                    recorded: recorded.hash,
                    actual: actual.hash,
                });
            }
            _ => {}
        }
        for checkpoint in checkpoints {
            let key = regulator.copied().unwrap_or(checkpoint.signer);
            log.verify_checkpoint(checkpoint, &key)?;
        }
        let verified = VerifiedLog {
            entries: log.len(),
            head: log.head(),
            checkpoints: checkpoints.len() as u64,
            last_checkpoint: checkpoints.last().cloned(),
            regulator_pinned: regulator.is_some(),
        };
        Ok((verified, log))
    }
}
