//! The Merkle tree a checkpoint commits to: over the entry hashes `0..=upto`.
//!
//! The layout is `rs_merkle`'s: leaves in sequence order, pairs hashed
//! layer by layer, the last node of an odd layer carried up unchanged. The
//! leaves are entry hashes (tagged [`ENTRY_TAG`](super::entry::ENTRY_TAG));
//! an interior node is `Hash::tagged(NODE_TAG, [left, right])`, so a node
//! can never be passed off as an entry. The leaf count is not in the root:
//! a checkpoint binds it (`upto + 1`) under the regulator's signature.

use borsh::{BorshDeserialize, BorshSerialize};
use protocol::Hash;
use serde::{Deserialize, Serialize};

use super::AuditError;

/// Domain tag of an interior node.
pub const NODE_TAG: &[u8] = b"credit-relayer/audit-node";

fn node(left: &Hash, right: &Hash) -> Hash {
    Hash::tagged(NODE_TAG, &[left.as_bytes(), right.as_bytes()])
}

/// The layer above `layer`.
fn parent_layer(layer: &[Hash]) -> Vec<Hash> {
    layer
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => node(left, right),
            [alone] => *alone,
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// The root over `leaves`; [`Hash::ZERO`] for none.
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut layer = leaves.to_vec();
    while layer.len() > 1 {
        layer = parent_layer(&layer);
    }
    layer[0]
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
    if index >= count {
        return Err(AuditError::ProofOutOfRange {
            sequence: index,
            leaf_count: count,
        });
    }
    let mut siblings = Vec::new();
    let mut layer = leaves.to_vec();
    let mut i = index as usize;
    while layer.len() > 1 {
        let sibling = i ^ 1;
        if sibling < layer.len() {
            siblings.push(layer[sibling]);
        }
        layer = parent_layer(&layer);
        i /= 2;
    }
    Ok(InclusionProof {
        sequence: index,
        leaf_count: count,
        siblings,
    })
}

/// The root that `proof` and `leaf` hash up to, or why the proof is not
/// well formed (index out of range, too few or too many siblings).
pub fn root_of(leaf: &Hash, proof: &InclusionProof) -> Result<Hash, AuditError> {
    if proof.sequence >= proof.leaf_count {
        return Err(AuditError::ProofOutOfRange {
            sequence: proof.sequence,
            leaf_count: proof.leaf_count,
        });
    }
    let mut siblings = proof.siblings.iter();
    let (mut i, mut len, mut hash) = (proof.sequence, proof.leaf_count, *leaf);
    while len > 1 {
        let sibling = i ^ 1;
        if sibling < len {
            let Some(s) = siblings.next() else {
                return Err(AuditError::ProofShape {
                    sequence: proof.sequence,
                    reason: "too few sibling hashes".into(),
                });
            };
            hash = if i.is_multiple_of(2) {
                node(&hash, s)
            } else {
                node(s, &hash)
            };
        }
        i /= 2;
        len = len.div_ceil(2);
    }
    if siblings.next().is_some() {
        return Err(AuditError::ProofShape {
            sequence: proof.sequence,
            reason: "more sibling hashes than the tree's shape has".into(),
        });
    }
    Ok(hash)
}
