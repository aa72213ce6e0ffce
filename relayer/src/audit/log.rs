//! The log itself (hash chain, checkpoints, inclusion proofs) and the
//! checks that a stored copy is the log that was written.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey};
use protocol::{Hash, PublicKey, Signature, Time};
use serde::{Deserialize, Serialize};

use super::AuditError;
use super::entry::{AuditEntry, AuditRecord};
use super::merkle::{self, InclusionProof};
use crate::registry::signing;

/// Domain tag of the bytes a checkpoint's signer signs.
/// The same tag as the chain's `anchor_audit_checkpoint` checks, so that the
/// signature kept with a checkpoint is the one the chain verifies.
pub const CHECKPOINT_TAG: &[u8] = protocol::tx::AUDIT_CHECKPOINT_TAG;

/// The last entry of a log: its sequence and hash.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct AuditHead {
    /// The last entry's sequence.
    pub sequence: u64,
    /// The last entry's hash.
    pub hash: Hash,
}

/// A commitment to the entries `0..=upto`, to be anchored on a chain.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last entry covered.
    pub upto: u64,
    /// The Merkle root over the hashes of entries `0..=upto` (see
    /// [`merkle`](super::merkle)).
    pub merkle_root: Hash,
    /// The hash of entry `upto`.
    pub head_hash: Hash,
    /// When the checkpoint was made.
    pub time: Time,
}

impl Checkpoint {
    /// The bytes the regulator signs: [`CHECKPOINT_TAG`] then borsh.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = CHECKPOINT_TAG.to_vec();
        out.extend(borsh::to_vec(self).unwrap_or_default());
        out
    }
}

/// A checkpoint with its signer's ed25519 signature over
/// [`Checkpoint::sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// What is signed.
    pub checkpoint: Checkpoint,
    /// Who signed (must be the regulator's key to be accepted).
    pub signer: PublicKey,
    /// The signature.
    pub signature: Signature,
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with `key`.
    pub fn sign(checkpoint: Checkpoint, key: &SigningKey) -> SignedCheckpoint {
        let signature = Signature(key.sign(&checkpoint.sign_bytes()).to_bytes());
        SignedCheckpoint {
            checkpoint,
            signer: signing::public_key(key),
            signature,
        }
    }

    /// That it is signed by `regulator`, and validly (strict ed25519).
    pub fn verify_signature(&self, regulator: &PublicKey) -> Result<(), AuditError> {
        let upto = self.checkpoint.upto;
        if self.signer != *regulator {
            return Err(AuditError::CheckpointSigner {
                upto,
                signer: self.signer,
                regulator: *regulator,
            });
        }
        if !signing::verify(regulator, &self.checkpoint.sign_bytes(), &self.signature) {
            return Err(AuditError::CheckpointSignature { upto });
        }
        Ok(())
    }
}

/// Walks a log entry by entry, checking that each one is the next in
/// sequence and links to the hash of the one before; keeps the hashes, so
/// that checkpoints can be checked after the walk.
#[derive(Clone, Debug, Default)]
pub struct ChainVerifier {
    leaves: Vec<Hash>,
}

impl ChainVerifier {
    /// A walk from entry 0.
    pub fn new() -> ChainVerifier {
        ChainVerifier::default()
    }

    /// Checks `entry` as the next one; returns its hash. The error names
    /// the first entry whose sequence or link is broken.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<Hash, AuditError> {
        let position = self.leaves.len() as u64;
        if entry.sequence != position {
            return Err(AuditError::Sequence {
                position,
                found: entry.sequence,
            });
        }
        let expected = self.leaves.last().copied().unwrap_or(Hash::ZERO);
        if entry.prev_hash != expected {
            return Err(AuditError::BrokenLink {
                sequence: position,
                expected,
                found: entry.prev_hash,
            });
        }
        let hash = entry.hash();
        self.leaves.push(hash);
        Ok(hash)
    }

    /// The log walked so far.
    pub fn finish(self) -> AuditLog {
        AuditLog {
            leaves: self.leaves,
        }
    }
}

/// Checks that `entries` are a log from entry 0: sequences `0, 1, 2, …`,
/// each entry's `prev_hash` the hash of the one before (zero for the first).
/// The error names the first entry whose sequence or link is broken.
pub fn verify_chain(entries: &[AuditEntry]) -> Result<(), AuditError> {
    let mut walk = ChainVerifier::new();
    entries.iter().try_for_each(|e| walk.push(e).map(drop))
}

/// Checks `checkpoint` against `entries` (a log from entry 0): signed by
/// `regulator`, `upto` within the log, the head hash and the Merkle root
/// those of entries `0..=upto`. The chain itself is [`verify_chain`]'s.
pub fn verify_checkpoint(
    entries: &[AuditEntry],
    checkpoint: &SignedCheckpoint,
    regulator: &PublicKey,
) -> Result<(), AuditError> {
    let log = AuditLog {
        leaves: entries.iter().map(AuditEntry::hash).collect(),
    };
    log.verify_checkpoint(checkpoint, regulator)
}

/// Checks that `entry` is under `checkpoint`'s Merkle root, by `proof`.
/// The checkpoint's signature is the caller's to check
/// ([`SignedCheckpoint::verify_signature`]).
pub fn verify_inclusion(
    entry: &AuditEntry,
    proof: &InclusionProof,
    checkpoint: &Checkpoint,
) -> Result<(), AuditError> {
    if proof.sequence != entry.sequence {
        return Err(AuditError::ProofShape {
            sequence: entry.sequence,
            reason: format!("the proof is for entry {}", proof.sequence),
        });
    }
    if proof.leaf_count != checkpoint.upto + 1 {
        return Err(AuditError::ProofShape {
            sequence: entry.sequence,
            reason: format!(
                "the proof is over {} entries, the checkpoint over {}",
                proof.leaf_count,
                checkpoint.upto + 1
            ),
        });
    }
    let root = merkle::root_of(&entry.hash(), proof)?;
    if root != checkpoint.merkle_root {
        return Err(AuditError::NotIncluded {
            sequence: entry.sequence,
            upto: checkpoint.upto,
        });
    }
    Ok(())
}

/// An append-only, hash-chained log of message metadata, kept as the hashes
/// of its entries (the entries themselves are the caller's to persist).
/// Pure: no I/O, no clock.
#[derive(Clone, Debug, Default)]
pub struct AuditLog {
    leaves: Vec<Hash>,
}

impl AuditLog {
    /// An empty log.
    pub fn new() -> AuditLog {
        AuditLog::default()
    }

    /// The log whose entries are `entries`, checked with [`verify_chain`].
    pub fn from_entries(entries: &[AuditEntry]) -> Result<AuditLog, AuditError> {
        let mut walk = ChainVerifier::new();
        for entry in entries {
            walk.push(entry)?;
        }
        Ok(walk.finish())
    }

    /// How many entries.
    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The last entry, if any.
    pub fn head(&self) -> Option<AuditHead> {
        self.leaves.last().map(|hash| AuditHead {
            sequence: self.len() - 1,
            hash: *hash,
        })
    }

    /// The hashes of the entries, in order.
    pub fn hashes(&self) -> &[Hash] {
        &self.leaves
    }

    /// The next entry for `record` (sequence and link set), without adding
    /// it: for a caller that persists first and then [`commit`](Self::commit)s.
    pub fn prepare(&self, record: AuditRecord) -> AuditEntry {
        let prev = self.leaves.last().copied().unwrap_or(Hash::ZERO);
        AuditEntry::new(self.len(), prev, record)
    }

    /// Adds `entry`, which must be the next one (from [`prepare`](Self::prepare)).
    pub fn commit(&mut self, entry: &AuditEntry) -> Result<Hash, AuditError> {
        let mut walk = ChainVerifier {
            leaves: std::mem::take(&mut self.leaves),
        };
        let result = walk.push(entry);
        self.leaves = walk.leaves;
        result
    }

    /// Appends `record` as the next entry (sequence and `prev_hash` set)
    /// and returns it.
    pub fn append(&mut self, record: AuditRecord) -> AuditEntry {
        let entry = self.prepare(record);
        self.leaves.push(entry.hash());
        entry
    }

    /// The Merkle root over entries `0..=upto`.
    pub fn root(&self, upto: u64) -> Result<Hash, AuditError> {
        let covered = self.covered(upto)?;
        Ok(merkle::root(covered))
    }

    fn covered(&self, upto: u64) -> Result<&[Hash], AuditError> {
        if upto >= self.len() {
            return Err(AuditError::CheckpointBeyondLog {
                upto,
                entries: self.len(),
            });
        }
        Ok(&self.leaves[..=upto as usize])
    }

    /// A checkpoint of the whole log at `time`, signed with `key`.
    pub fn checkpoint(&self, time: Time, key: &SigningKey) -> Result<SignedCheckpoint, AuditError> {
        let head = self.head().ok_or(AuditError::EmptyLog)?;
        let checkpoint = Checkpoint {
            upto: head.sequence,
            merkle_root: self.root(head.sequence)?,
            head_hash: head.hash,
            time,
        };
        Ok(SignedCheckpoint::sign(checkpoint, key))
    }

    /// The proof that entry `sequence` is under the root of the checkpoint
    /// up to `upto`.
    pub fn prove(&self, sequence: u64, upto: u64) -> Result<InclusionProof, AuditError> {
        merkle::prove(self.covered(upto)?, sequence)
    }

    /// Checks `checkpoint` against this log: signed by `regulator`, `upto`
    /// within the log, its head hash and root those of entries `0..=upto`.
    pub fn verify_checkpoint(
        &self,
        checkpoint: &SignedCheckpoint,
        regulator: &PublicKey,
    ) -> Result<(), AuditError> {
        checkpoint.verify_signature(regulator)?;
        let c = &checkpoint.checkpoint;
        let covered = self.covered(c.upto)?;
        let head = covered[c.upto as usize];
        if head != c.head_hash {
            return Err(AuditError::CheckpointHead {
                upto: c.upto,
                signed: c.head_hash,
                actual: head,
            });
        }
        let root = merkle::root(covered);
        if root != c.merkle_root {
            return Err(AuditError::CheckpointRoot {
                upto: c.upto,
                signed: c.merkle_root,
                actual: root,
            });
        }
        Ok(())
    }
}
