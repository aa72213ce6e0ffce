//! The Merkle tree a checkpoint commits to: over the entry hashes `0..=upto`,
//! built and proven with the `rs_merkle` crate.
//!
//! Layout (`rs_merkle`'s): leaves in sequence order, pairs hashed layer by
//! layer, the last node of an odd layer carried up unchanged. Hashing is
//! domain-separated through [`AuditHasher`]:
//! - a leaf is an entry hash, itself tagged
//!   [`ENTRY_TAG`](super::entry::ENTRY_TAG) (`rs_merkle` takes leaves
//!   already hashed);
//! - an interior node is `Hash::tagged(NODE_TAG, [left, right])` (the
//!   hasher's `concat_and_hash`), so a node can never be passed off as an
//!   entry, nor an entry as a node.
//!
//! The leaf count is not in the root: a checkpoint binds it (`upto + 1`)
//! under the regulator's signature, and a proof is checked against that
//! count. `rs_merkle` computes a root from a proof but ignores surplus
//! proof hashes and does not bound the leaf index: [`root_of`] checks both
//! before handing the proof over, so exactly one sibling list proves an
//! entry under a root, for any leaf count (1 and non-powers of two
//! included; see the tests in `audit/tests.rs`).

use borsh::{BorshDeserialize, BorshSerialize};
use protocol::Hash;
use rs_merkle::{Hasher, MerkleProof, MerkleTree};
use serde::{Deserialize, Serialize};

use super::AuditError;

/// Domain tag of an interior node.
pub const NODE_TAG: &[u8] = b"credit-relayer/audit-node";

/// The `rs_merkle` hasher of the audit tree: an interior node is
/// `Hash::tagged(NODE_TAG, [left, right])`; a node without a right sibling
/// is carried up unchanged.
#[derive(Clone, Copy, Debug)]
pub struct AuditHasher;

impl Hasher for AuditHasher {
    type Hash = [u8; 32];

    /// `rs_merkle` hashes only the concatenation of two children (leaves
    /// are given hashed): tagged as a node.
    fn hash(data: &[u8]) -> [u8; 32] {
        Hash::tagged(NODE_TAG, &[data]).0
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => node(left, right),
            None => *left,
        }
    }
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Hash::tagged(NODE_TAG, &[left, right]).0
}

fn leaf_bytes(leaves: &[Hash]) -> Vec<[u8; 32]> {
    leaves.iter().map(|h| h.0).collect()
}

/// The root over `leaves`; [`Hash::ZERO`] for none.
pub fn root(leaves: &[Hash]) -> Hash {
    MerkleTree::<AuditHasher>::from_leaves(&leaf_bytes(leaves))
        .root()
        .map_or(Hash::ZERO, Hash)
}

/// That one entry is among the leaves of a checkpoint's tree.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The entry's sequence (its leaf index).
    pub sequence: u64,
    /// How many leaves the tree has (the checkpoint's `upto + 1`).
    pub leaf_count: u64,
    /// The siblings from the leaf up, skipping the layers where the node
    /// has none (carried up alone).
    pub siblings: Vec<Hash>,
}

/// The proof that leaf `index` is in the tree over `leaves`.
pub fn prove(leaves: &[Hash], index: u64) -> Result<InclusionProof, AuditError> {
    let count = leaves.len() as u64;
    let position = usize::try_from(index)
        .ok()
        .filter(|i| *i < leaves.len())
        .ok_or(AuditError::ProofOutOfRange {
            sequence: index,
            leaf_count: count,
        })?;
    let tree = MerkleTree::<AuditHasher>::from_leaves(&leaf_bytes(leaves));
    let proof = tree.proof(&[position]);
    Ok(InclusionProof {
        sequence: index,
        leaf_count: count,
        siblings: proof.proof_hashes().iter().map(|h| Hash(*h)).collect(),
    })
}

/// How many siblings the proof of leaf `index` of a tree of `count` leaves
/// has: one per layer where the node has a sibling.
fn sibling_count(index: u64, count: u64) -> usize {
    let (mut i, mut len, mut siblings) = (index, count, 0);
    while len > 1 {
        if (i ^ 1) < len {
            siblings += 1;
        }
        i /= 2;
        len = len.div_ceil(2);
    }
    siblings
}

/// The root that `proof` and `leaf` hash up to, or why the proof is not
/// well formed (index out of range, too few or too many siblings). Never
/// panics, whatever the proof says.
pub fn root_of(leaf: &Hash, proof: &InclusionProof) -> Result<Hash, AuditError> {
    let out_of_range = || AuditError::ProofOutOfRange {
        sequence: proof.sequence,
        leaf_count: proof.leaf_count,
    };
    if proof.sequence >= proof.leaf_count {
        return Err(out_of_range());
    }
    let index = usize::try_from(proof.sequence).map_err(|_| out_of_range())?;
    let count = usize::try_from(proof.leaf_count).map_err(|_| out_of_range())?;
    let expected = sibling_count(proof.sequence, proof.leaf_count);
    let shape = |reason: &str| AuditError::ProofShape {
        sequence: proof.sequence,
        reason: reason.into(),
    };
    if proof.siblings.len() < expected {
        return Err(shape("too few sibling hashes"));
    }
    if proof.siblings.len() > expected {
        return Err(shape("more sibling hashes than the tree's shape has"));
    }
    MerkleProof::<AuditHasher>::new(leaf_bytes(&proof.siblings))
        .root(&[index], &[leaf.0], count)
        .map(Hash)
        .map_err(|e| shape(&e.to_string()))
}
