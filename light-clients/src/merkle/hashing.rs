//! Hashing rules of the state tree and the shape of its proofs.
//!
//! All hashes are [`Hash::tagged`] SHA-256 digests, each kind with its own
//! tag, so a value hash, a leaf, an interior node and a state root can never
//! be mistaken for one another (no second-preimage tricks that pass an
//! interior node off as a leaf or the other way round).

use protocol::Hash;
use rs_merkle::{Hasher, PartialTree};

use super::MerkleError;

/// Tag of [`value_hash`].
pub const VALUE_TAG: &[u8] = b"credit/state/v1/value";
/// Tag of [`leaf_hash`].
pub const LEAF_TAG: &[u8] = b"credit/state/v1/leaf";
/// Tag of an interior node: `Hash::tagged(NODE_TAG, [left, right])`.
pub const NODE_TAG: &[u8] = b"credit/state/v1/node";
/// Tag of [`state_root`].
pub const ROOT_TAG: &[u8] = b"credit/state/v1/root";

/// Hash of a stored value: `Hash::tagged(VALUE_TAG, [value])`.
pub fn value_hash(value: &[u8]) -> Hash {
    Hash::tagged(VALUE_TAG, &[value])
}

/// Hash of one leaf: `Hash::tagged(LEAF_TAG, [len(key) as u64 BE, key, value_hash])`.
///
/// The key is length-prefixed and the value hash has a fixed size, so the
/// encoding of `(key, value_hash)` is unambiguous.
pub fn leaf_hash(key: &[u8], value_hash: &Hash) -> Hash {
    let len = (key.len() as u64).to_be_bytes();
    Hash::tagged(LEAF_TAG, &[&len, key, value_hash.as_bytes()])
}

/// The state root of a tree of `leaf_count` leaves whose `rs_merkle` root is
/// `inner_root`: `Hash::tagged(ROOT_TAG, [leaf_count as u64 BE, inner_root])`.
///
/// Binding the count makes the tree's shape part of the root: a verifier can
/// trust that leaf `n - 1` is the last and that `i`, `i + 1` are neighbours.
pub fn state_root(leaf_count: u64, inner_root: &[u8; 32]) -> Hash {
    Hash::tagged(ROOT_TAG, &[&leaf_count.to_be_bytes(), inner_root])
}

/// The root of the empty state: [`state_root`]`(0, [0; 32])`.
pub fn empty_root() -> Hash {
    state_root(0, &[0; 32])
}

/// The `rs_merkle` hasher of the state tree's interior nodes.
///
/// A node with two children is `Hash::tagged(NODE_TAG, [left, right])`; a
/// node without a right sibling (the last node of an odd layer) is carried up
/// unchanged, as `rs_merkle` does by default. `concat_and_hash` is overridden
/// only to avoid the two `Vec` allocations of the default implementation; the
/// result is identical to `hash(left ‖ right)`.
#[derive(Clone, Debug)]
pub struct StateHasher;

impl Hasher for StateHasher {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        Hash::tagged(NODE_TAG, &[data]).0
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => node_hash(left, right),
            None => *left,
        }
    }
}

/// An interior node with two children.
#[inline]
pub(crate) fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Hash::tagged(NODE_TAG, &[left, right]).0
}

/// Calls `f(layer, position)` for every sibling node a proof of the leaves at
/// `indices` (sorted, distinct, all `< leaf_count`, at most two) must carry,
/// in the order `rs_merkle` expects: layer by layer from the leaves up, left
/// to right. This is the layout `rs_merkle`'s `MerkleTree::proof` produces
/// and `MerkleProof::root` consumes (checked against both in the tests).
pub(crate) fn for_each_sibling(
    indices: &[usize],
    leaf_count: usize,
    mut f: impl FnMut(usize, usize),
) {
    debug_assert!(indices.len() <= 2 && indices.windows(2).all(|w| w[0] < w[1]));
    // The proven nodes of the current layer (sorted, distinct): no allocation.
    let mut nodes = [0usize; 2];
    let mut len = indices.len().min(2);
    nodes[..len].copy_from_slice(&indices[..len]);
    let mut width = leaf_count;
    let mut layer = 0;
    while width > 1 {
        let known = &nodes[..len];
        for &node in known {
            let sibling = node ^ 1;
            if sibling < width && !known.contains(&sibling) {
                f(layer, sibling);
            }
        }
        for node in &mut nodes[..len] {
            *node /= 2;
        }
        if len == 2 && nodes[0] == nodes[1] {
            len = 1;
        }
        width = width.div_ceil(2);
        layer += 1;
    }
}

/// How many sibling hashes a proof of the leaves at `indices` must carry.
pub(crate) fn expected_siblings(indices: &[usize], leaf_count: usize) -> usize {
    let mut n = 0;
    for_each_sibling(indices, leaf_count, |_, _| n += 1);
    n
}

/// Recomputes the state root from proven leaves `(index, leaf hash)` (sorted
/// by index, distinct, one or two), the claimed leaf count and the sibling
/// hashes; the path is hashed up by `rs_merkle`'s `PartialTree`.
///
/// Everything `rs_merkle` would trip over on hostile input (indices out of
/// range, too few or too many hashes, an empty tree) is refused here first,
/// with an error that says what is wrong.
///
/// Why `PartialTree::build` and not `MerkleProof::root`: `MerkleProof::root`
/// is index bookkeeping followed by exactly this `PartialTree::build` call.
/// Its bookkeeping (`proof_indices_by_layers`: a `BTreeMap` and three `Vec`s
/// per layer, a clone of the proof and a `splice` per layer) repeats what
/// [`for_each_sibling`] has already worked out to check the sibling count,
/// and cost about as much as all the hashing (≈ 60 allocations for a
/// 2^16-leaf path). Handing rs_merkle the layers directly keeps the root
/// computation in rs_merkle and roughly halves verification time. The tests
/// check that both give the same root for every layout.
pub(crate) fn recompute_root(
    leaf_count: u64,
    leaves: &[(u64, Hash)],
    siblings: &[Hash],
) -> Result<Hash, MerkleError> {
    let count = usize::try_from(leaf_count)
        .map_err(|_| MerkleError::CountTooLarge { count: leaf_count })?;
    if leaves.is_empty() || leaves.len() > 2 {
        return Err(MerkleError::Malformed(format!(
            "{} proven leaves (expected 1 or 2)",
            leaves.len()
        )));
    }
    let mut indices = [0usize; 2];
    for (k, (index, _)) in leaves.iter().enumerate() {
        if *index >= leaf_count {
            return Err(MerkleError::IndexOutOfRange {
                index: *index,
                count: leaf_count,
            });
        }
        if k > 0 && *index <= leaves[k - 1].0 {
            return Err(MerkleError::Malformed(
                "proven leaves not in increasing index order".to_owned(),
            ));
        }
        // index < leaf_count <= usize::MAX, so this cannot truncate.
        indices[k] = *index as usize;
    }
    let indices = &indices[..leaves.len()];

    let expected = expected_siblings(indices, count);
    if siblings.len() < expected {
        return Err(MerkleError::TruncatedProof {
            expected,
            got: siblings.len(),
        });
    }
    if siblings.len() > expected {
        return Err(MerkleError::ProofTooLong {
            expected,
            got: siblings.len(),
        });
    }

    // rs_merkle's depth: the bit length of the leaf count (one more than the
    // tree height when the count is a power of two; the extra layer carries
    // the root up unchanged).
    let depth = (usize::BITS - count.leading_zeros()) as usize;
    let mut layers: Vec<Vec<(usize, [u8; 32])>> = Vec::with_capacity(depth);
    layers.push(
        indices
            .iter()
            .zip(leaves)
            .map(|(&i, (_, h))| (i, h.0))
            .collect(),
    );
    let mut next = siblings.iter();
    let mut missing = false;
    for_each_sibling(indices, count, |layer, pos| {
        while layers.len() <= layer {
            layers.push(Vec::new());
        }
        match next.next() {
            Some(h) => layers[layer].push((pos, h.0)),
            None => missing = true,
        }
    });
    if missing {
        return Err(MerkleError::TruncatedProof {
            expected,
            got: siblings.len(),
        });
    }
    let tree = PartialTree::<StateHasher>::build(layers, depth)
        .map_err(|e| MerkleError::Malformed(format!("rs_merkle: {e}")))?;
    let inner = tree
        .root()
        .ok_or_else(|| MerkleError::Malformed("rs_merkle computed no root".to_owned()))?;
    Ok(state_root(leaf_count, inner))
}

/// The same root as [`recompute_root`], through `rs_merkle`'s
/// `MerkleProof::root` (the reference the fast path is tested against).
#[cfg(test)]
pub(crate) fn recompute_root_via_merkle_proof(
    leaf_count: u64,
    leaves: &[(u64, Hash)],
    siblings: &[Hash],
) -> Result<Hash, MerkleError> {
    let count = usize::try_from(leaf_count)
        .map_err(|_| MerkleError::CountTooLarge { count: leaf_count })?;
    let indices: Vec<usize> = leaves.iter().map(|(i, _)| *i as usize).collect();
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|(_, h)| h.0).collect();
    let proof = rs_merkle::MerkleProof::<StateHasher>::new(siblings.iter().map(|h| h.0).collect());
    let inner = proof
        .root(&indices, &hashes, count)
        .map_err(|e| MerkleError::Malformed(format!("rs_merkle: {e}")))?;
    Ok(state_root(leaf_count, &inner))
}
