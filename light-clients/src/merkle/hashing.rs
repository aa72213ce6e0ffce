//! Hashing rules of the state tree and the shape of its proofs.
//!
//! All hashes are [`Hash::tagged`] SHA-256 digests, each kind with its own
//! tag, so a value hash, a leaf, a bucket node, a bucket root, a top-level
//! node and a state root can never be mistaken for one another (no
//! second-preimage tricks that pass an interior node off as a leaf, or a
//! top-level node off as a bucket node, or the other way round).

use std::sync::OnceLock;

use protocol::Hash;
use rs_merkle::{Hasher, PartialTree};
use sha2::{Digest, Sha256};

use super::MerkleError;

/// Tag of [`value_hash`].
pub const VALUE_TAG: &[u8] = b"credit/state/v2/value";
/// Tag of [`leaf_hash`].
pub const LEAF_TAG: &[u8] = b"credit/state/v2/leaf";
/// Tag of an interior node of a bucket: `Hash::tagged(NODE_TAG, [left, right])`.
pub const NODE_TAG: &[u8] = b"credit/state/v2/node";
/// Tag of [`bucket_root`].
pub const BUCKET_TAG: &[u8] = b"credit/state/v2/bucket";
/// Tag of an interior node of the top level: `Hash::tagged(TOP_NODE_TAG, [left, right])`.
pub const TOP_NODE_TAG: &[u8] = b"credit/state/v2/top";
/// Tag of [`state_root`].
pub const ROOT_TAG: &[u8] = b"credit/state/v2/root";
/// Tag of the key hash that picks a key's bucket ([`bucket_of`]).
pub const KEY_BUCKET_TAG: &[u8] = b"credit/state/v2/key-bucket";

/// The bucket count of the chain state: `2^16` buckets.
///
/// [`StateTree::new`](super::StateTree::new), [`from_entries`](super::StateTree::from_entries)
/// and [`from_map`](super::StateTree::from_map) use it; verifiers take the
/// bucket count from the proof (the length of its top-level path), which the
/// state root binds.
pub const DEFAULT_BUCKET_BITS: u8 = 16;

/// The largest supported bucket count: `2^20` buckets (the top level of such
/// a tree takes 64 MiB). Proofs with a longer top-level path are refused.
pub const MAX_BUCKET_BITS: u8 = 20;

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

/// The bucket of `key` in a tree of `2^bucket_bits` buckets: the first
/// `bucket_bits` bits (big-endian) of `Hash::tagged(KEY_BUCKET_TAG, [key])`.
///
/// With the default 16 bits this is the first two bytes of that hash. A
/// verifier always recomputes the bucket from the key; a proof never says
/// which bucket it is about. `bucket_bits` above [`MAX_BUCKET_BITS`] is
/// treated as [`MAX_BUCKET_BITS`].
pub fn bucket_of(key: &[u8], bucket_bits: u8) -> u32 {
    let bits = u32::from(bucket_bits.min(MAX_BUCKET_BITS));
    let h = Hash::tagged(KEY_BUCKET_TAG, &[key]);
    let prefix = u32::from_be_bytes([h.0[0], h.0[1], h.0[2], h.0[3]]);
    // bits <= 20, so the shift is in 12..=32 and the u64 never overflows.
    (u64::from(prefix) >> (32 - bits)) as u32
}

/// The root of a bucket of `leaf_count` keys whose `rs_merkle` root is
/// `inner_root`: `Hash::tagged(BUCKET_TAG, [leaf_count as u64 BE, inner_root])`.
///
/// Binding the count makes the bucket's shape part of its root: a verifier
/// can trust that leaf `n - 1` is the bucket's last and that `i`, `i + 1`
/// are neighbours.
pub fn bucket_root(leaf_count: u64, inner_root: &[u8; 32]) -> Hash {
    Hash::tagged(BUCKET_TAG, &[&leaf_count.to_be_bytes(), inner_root])
}

/// The root of an empty bucket: [`bucket_root`]`(0, [0; 32])`.
pub fn empty_bucket_root() -> Hash {
    Hash(empty_subtrees()[0])
}

/// The state root of a tree of `2^bucket_bits` buckets whose top-level
/// `rs_merkle` root is `top_root`:
/// `Hash::tagged(ROOT_TAG, [bucket_bits as u8, top_root])`.
///
/// The tag carries the format version; binding the bucket count fixes the
/// shape of the top level, so a proof cannot claim another bucket count.
pub fn state_root(bucket_bits: u8, top_root: &[u8; 32]) -> Hash {
    Hash::tagged(ROOT_TAG, &[&[bucket_bits], top_root])
}

/// The root of the empty state with the default bucket count
/// ([`DEFAULT_BUCKET_BITS`]): every bucket empty.
pub fn empty_root() -> Hash {
    let bits = usize::from(DEFAULT_BUCKET_BITS);
    state_root(DEFAULT_BUCKET_BITS, &empty_subtrees()[bits])
}

/// `E[0]` = the empty bucket root, `E[l + 1]` = the top-level node over two
/// `E[l]`: the hash of a top-level subtree of height `l` whose buckets are all
/// empty. Lets a tree of few keys skip hashing its empty regions.
pub(crate) fn empty_subtrees() -> &'static [[u8; 32]; MAX_BUCKET_BITS as usize + 1] {
    static EMPTY: OnceLock<[[u8; 32]; MAX_BUCKET_BITS as usize + 1]> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let mut e = [[0u8; 32]; MAX_BUCKET_BITS as usize + 1];
        e[0] = bucket_root(0, &[0; 32]).0;
        for l in 1..e.len() {
            e[l] = top_node_hash(&e[l - 1], &e[l - 1]);
        }
        e
    })
}

/// The top-level parent of two nodes of layer `layer` (0 = bucket roots).
/// Two empty subtrees give the precomputed empty subtree, without hashing;
/// the result is the same.
#[inline]
pub(crate) fn top_parent(layer: usize, left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let empty = empty_subtrees();
    if *left == empty[layer] && *right == empty[layer] {
        empty[layer + 1]
    } else {
        top_node_hash(left, right)
    }
}

/// The `rs_merkle` hasher of the interior nodes inside a bucket.
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

/// The `rs_merkle` hasher of the top level, whose leaves are the bucket
/// roots: `Hash::tagged(TOP_NODE_TAG, [left, right])`. The top level always
/// has `2^bucket_bits` leaves, so no node is ever carried up alone.
#[derive(Clone, Debug)]
pub struct TopHasher;

impl Hasher for TopHasher {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        Hash::tagged(TOP_NODE_TAG, &[data]).0
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => top_node_hash(left, right),
            None => *left,
        }
    }
}

/// An interior node of a bucket with two children.
#[inline]
pub(crate) fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    static PREFIX: OnceLock<Sha256> = OnceLock::new();
    tagged_pair(PREFIX.get_or_init(|| tag_prefix(NODE_TAG)), left, right)
}

/// An interior node of the top level.
#[inline]
pub(crate) fn top_node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    static PREFIX: OnceLock<Sha256> = OnceLock::new();
    tagged_pair(PREFIX.get_or_init(|| tag_prefix(TOP_NODE_TAG)), left, right)
}

/// A SHA-256 state that has absorbed what [`Hash::tagged`] puts before the
/// parts: the tag's length (u32 BE) and the tag.
fn tag_prefix(tag: &[u8]) -> Sha256 {
    let mut h = Sha256::new();
    h.update((tag.len() as u32).to_be_bytes());
    h.update(tag);
    h
}

/// `Hash::tagged(tag, [left, right])` from the tag's [`tag_prefix`]: the same
/// digest, without re-feeding the tag for every node (checked in the tests).
#[inline]
fn tagged_pair(prefix: &Sha256, left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = prefix.clone();
    h.update(left);
    h.update(right);
    h.finalize().into()
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

/// Recomputes the root of a bucket from proven leaves `(index, leaf hash)`
/// (sorted by index, distinct, one or two), the claimed leaf count and the
/// sibling hashes: [`bucket_root`]`(leaf_count, inner)` where `inner` is
/// hashed up by `rs_merkle`'s `PartialTree` ([`recompute_inner`]).
pub(crate) fn recompute_bucket_root(
    leaf_count: u64,
    leaves: &[(u64, Hash)],
    siblings: &[Hash],
) -> Result<Hash, MerkleError> {
    let inner = recompute_inner::<StateHasher>(leaf_count, leaves, siblings)?;
    Ok(bucket_root(leaf_count, &inner))
}

/// The bucket count (as bits) a proof's top-level path stands for: its
/// length, refused above [`MAX_BUCKET_BITS`] before anything is hashed.
pub(crate) fn top_path_bits(top_siblings: &[Hash]) -> Result<u8, MerkleError> {
    match u8::try_from(top_siblings.len()) {
        Ok(bits) if bits <= MAX_BUCKET_BITS => Ok(bits),
        _ => Err(MerkleError::TopPathTooLong {
            got: top_siblings.len(),
            max: MAX_BUCKET_BITS,
        }),
    }
}

/// Recomputes the state root from the root of bucket `bucket` and the
/// top-level path above it (one sibling per layer, bucket roots first): the
/// top-level root is hashed up by `rs_merkle`'s `PartialTree`
/// ([`recompute_inner`] over `2^len(top_siblings)` leaves), then wrapped by
/// [`state_root`].
pub(crate) fn recompute_state_root(
    bucket: u32,
    bucket_root: &Hash,
    top_siblings: &[Hash],
) -> Result<Hash, MerkleError> {
    let bits = top_path_bits(top_siblings)?;
    let inner = recompute_inner::<TopHasher>(
        1u64 << bits,
        &[(u64::from(bucket), *bucket_root)],
        top_siblings,
    )?;
    Ok(state_root(bits, &inner))
}

/// Recomputes the `rs_merkle` root of a tree of `leaf_count` leaves from
/// proven leaves `(index, hash)` (sorted by index, distinct, one or two) and
/// the sibling hashes; the path is hashed up by `rs_merkle`'s `PartialTree`.
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
pub(crate) fn recompute_inner<H: Hasher<Hash = [u8; 32]>>(
    leaf_count: u64,
    leaves: &[(u64, Hash)],
    siblings: &[Hash],
) -> Result<[u8; 32], MerkleError> {
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
            // At most two siblings per layer (one or two proven leaves).
            layers.push(Vec::with_capacity(2));
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
    let tree = PartialTree::<H>::build(layers, depth)
        .map_err(|e| MerkleError::Malformed(format!("rs_merkle: {e}")))?;
    tree.root()
        .copied()
        .ok_or_else(|| MerkleError::Malformed("rs_merkle computed no root".to_owned()))
}

/// The same root as [`recompute_inner`], through `rs_merkle`'s
/// `MerkleProof::root` (the reference the fast path is tested against).
#[cfg(test)]
pub(crate) fn recompute_inner_via_merkle_proof<H: Hasher<Hash = [u8; 32]>>(
    leaf_count: u64,
    leaves: &[(u64, Hash)],
    siblings: &[Hash],
) -> Result<[u8; 32], MerkleError> {
    let count = usize::try_from(leaf_count)
        .map_err(|_| MerkleError::CountTooLarge { count: leaf_count })?;
    let indices: Vec<usize> = leaves.iter().map(|(i, _)| *i as usize).collect();
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|(_, h)| h.0).collect();
    let proof = rs_merkle::MerkleProof::<H>::new(siblings.iter().map(|h| h.0).collect());
    proof
        .root(&indices, &hashes, count)
        .map_err(|e| MerkleError::Malformed(format!("rs_merkle: {e}")))
}
