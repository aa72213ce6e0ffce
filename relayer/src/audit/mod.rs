//! Penetrating supervision: an append-only, hash-chained audit log of the
//! metadata of every cross-chain message, for the regulator.
//!
//! - [`AuditEntry`]: who asked, about which enterprise, why, under which
//!   consent, at what fee, with what outcome, between which chains, when —
//!   and `prev_hash`, the hash of the entry before (zero for entry 0). An
//!   entry's hash is `Hash::tagged(ENTRY_TAG, borsh(entry))`
//!   ([`AuditEntry::hash`]), so changing any field of an entry changes its
//!   hash and breaks the next entry's link ([`verify_chain`]).
//! - [`AuditLog`]: appends ([`AuditLog::append`]), and makes
//!   [`Checkpoint`]s — the Merkle root of entries `0..=upto` ([`merkle`])
//!   and the head hash, signed with the regulator's ed25519 key — to be
//!   anchored on a chain, so that rewriting the whole chain after some
//!   entry is caught too ([`verify_checkpoint`]); one entry is shown to be
//!   under a checkpoint by an [`InclusionProof`] ([`AuditLog::prove`],
//!   [`verify_inclusion`]).
//! - [`AuditFilter`], [`to_csv`], [`to_json`]: what the regulator reads.
//! - [`SendCompleteness`] ([`gaps`]): which sends of each pair of chains
//!   the log has, against the source's proven next sequence.
//! - [`LogVerifier`]: the whole check of a stored copy (what
//!   `relayer audit verify` runs).
//! - [`AuditService`]: the log kept in the relayer's [`Store`](crate::store::Store),
//!   and [`http`]: the regulator's API routes.
//!
//! What this module must never do: log anything but metadata (an
//! aggregation's ciphertexts, an encryption key, a response's records are
//! never in an entry — [`AuditRecord::from_packet`] does not copy them), or
//! hold a key that decrypts anything. Everything but [`AuditService`] and
//! [`http`] is pure: no I/O, no clock.

mod entry;
mod export;
pub mod gaps;
#[path = "../api/audit.rs"]
pub mod http;
mod log;
pub mod merkle;
mod service;
mod verify;

#[cfg(test)]
mod tests;

use protocol::{Hash, PublicKey};

pub use entry::{AuditEntry, AuditRecord, ENTRY_TAG, MessageKind, Outcome};
pub use export::{AuditFilter, CSV_HEADER, ExportedEntry, csv_field, to_csv, to_json};
pub use gaps::SendCompleteness;
pub use log::{
    AuditHead, AuditLog, CHECKPOINT_TAG, ChainVerifier, Checkpoint, SignedCheckpoint, verify_chain,
    verify_checkpoint, verify_inclusion,
};
pub use merkle::InclusionProof;
pub use service::{AuditService, ServiceError, stored_completeness, verify_store};
pub use verify::{LogVerifier, VerifiedLog};

/// Why a log, a checkpoint or a proof does not hold. Each names the entry
/// (or checkpoint) where the check failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The entry at a position carries another sequence number.
    #[error(
        "entry {position}: its sequence field says {found}: an entry was removed, inserted or renumbered"
    )]
    Sequence {
        /// Where the entry is in the log.
        position: u64,
        /// The sequence it carries.
        found: u64,
    },
    /// An entry's `prev_hash` is not the hash of the entry before.
    #[error(
        "entry {sequence}: prev_hash {found} is not the hash {expected} of entry {prev}: \
         entry {prev} was altered (or this link was)",
        prev = sequence.saturating_sub(1)
    )]
    BrokenLink {
        /// The entry whose link is broken.
        sequence: u64,
        /// The hash of the entry before (zero for entry 0).
        expected: Hash,
        /// The link it carries.
        found: Hash,
    },
    /// A stored entry does not decode.
    #[error("entry {sequence}: stored bytes do not decode ({reason}): the entry was altered")]
    Undecodable {
        /// The key it is stored under.
        sequence: u64,
        /// The decoder's complaint.
        reason: String,
    },
    /// A stored entry is filed under another sequence than its own.
    #[error("entry {key}: stored under key {key} but says it is entry {found}")]
    Misfiled {
        /// The key it is stored under.
        key: u64,
        /// The sequence it carries.
        found: u64,
    },
    /// The last entry is not the recorded head.
    #[error(
        "entry {sequence}: it hashes to {actual} but the log's head was recorded as {recorded}: \
         entry {sequence} was altered"
    )]
    HeadMismatch {
        /// The last entry.
        sequence: u64,
        /// The head hash recorded at append.
        recorded: Hash,
        /// Its hash now.
        actual: Hash,
    },
    /// Entries after the recorded head are missing.
    #[error(
        "the log's head was recorded as entry {recorded} but only {entries} entries remain: entries were removed"
    )]
    Truncated {
        /// The recorded head's sequence.
        recorded: u64,
        /// How many entries remain.
        entries: u64,
    },
    /// There are entries but no recorded head.
    #[error("the log has {entries} entries but no recorded head: the head record was removed")]
    HeadMissing {
        /// How many entries.
        entries: u64,
    },
    /// The recorded head does not decode.
    #[error("the log's head record does not decode ({reason}): it was altered")]
    HeadUndecodable {
        /// The decoder's complaint.
        reason: String,
    },
    /// Entries were written past the recorded head, not by an append.
    #[error("entries {first}..={last} lie beyond the recorded head {recorded}: they were not appended", first = recorded + 1)]
    BeyondHead {
        /// The recorded head's sequence.
        recorded: u64,
        /// The last entry found.
        last: u64,
    },
    /// A checkpoint is signed by another key than the regulator's.
    #[error(
        "checkpoint up to entry {upto}: signed by {signer}, not by the regulator's key {regulator}"
    )]
    CheckpointSigner {
        /// The checkpoint's last entry.
        upto: u64,
        /// Who signed it.
        signer: PublicKey,
        /// The regulator's key.
        regulator: PublicKey,
    },
    /// A checkpoint's signature does not verify.
    #[error("checkpoint up to entry {upto}: the signature does not verify")]
    CheckpointSignature {
        /// The checkpoint's last entry.
        upto: u64,
    },
    /// A checkpoint covers entries the log does not have.
    #[error(
        "checkpoint up to entry {upto}: the log has only {entries} entries: entries were removed"
    )]
    CheckpointBeyondLog {
        /// The checkpoint's last entry.
        upto: u64,
        /// How many entries the log has.
        entries: u64,
    },
    /// A checkpoint's head hash is not the hash of its last entry.
    #[error(
        "checkpoint up to entry {upto}: entry {upto} hashes to {actual}, the signed checkpoint says \
         {signed}: entries up to {upto} were rewritten"
    )]
    CheckpointHead {
        /// The checkpoint's last entry.
        upto: u64,
        /// The signed head hash.
        signed: Hash,
        /// The entry's hash now.
        actual: Hash,
    },
    /// A checkpoint's Merkle root is not that of the entries now.
    #[error(
        "checkpoint up to entry {upto}: entries 0..={upto} have Merkle root {actual}, the signed \
         checkpoint says {signed}: an entry at or before {upto} was rewritten"
    )]
    CheckpointRoot {
        /// The checkpoint's last entry.
        upto: u64,
        /// The signed root.
        signed: Hash,
        /// The root now.
        actual: Hash,
    },
    /// A stored checkpoint does not decode.
    #[error("a stored checkpoint does not decode ({reason}): it was altered")]
    CheckpointUndecodable {
        /// The decoder's complaint.
        reason: String,
    },
    /// Nothing to checkpoint.
    #[error("the log is empty: nothing to checkpoint")]
    EmptyLog,
    /// A proof names an entry outside its tree.
    #[error("inclusion proof of entry {sequence}: the tree has only {leaf_count} entries")]
    ProofOutOfRange {
        /// The entry.
        sequence: u64,
        /// The tree's size.
        leaf_count: u64,
    },
    /// A proof does not have the shape its tree requires.
    #[error("inclusion proof of entry {sequence}: {reason}")]
    ProofShape {
        /// The entry.
        sequence: u64,
        /// What is wrong.
        reason: String,
    },
    /// A proof does not lead to the checkpoint's root.
    #[error(
        "entry {sequence} is not under the root of the checkpoint up to entry {upto} (the entry or the proof was altered)"
    )]
    NotIncluded {
        /// The entry.
        sequence: u64,
        /// The checkpoint's last entry.
        upto: u64,
    },
}

impl AuditError {
    /// The entry found altered (or the first one suspect), if the error
    /// points at one: for a broken link, the entry before the link.
    pub fn tampered_entry(&self) -> Option<u64> {
        match self {
            AuditError::Sequence { position, .. } => Some(*position),
            AuditError::BrokenLink { sequence, .. } => Some(sequence.saturating_sub(1)),
            AuditError::Undecodable { sequence, .. }
            | AuditError::HeadMismatch { sequence, .. } => Some(*sequence),
            AuditError::Misfiled { key, .. } => Some(*key),
            AuditError::CheckpointHead { upto, .. } => Some(*upto),
            AuditError::NotIncluded { sequence, .. } => Some(*sequence),
            _ => None,
        }
    }
}
