//! Merkle membership and non-membership proofs over a chain key-value state.
//!
//! A chain's state is a map from byte keys to byte values. [`StateTree`]
//! commits to it with one [`Hash`](protocol::Hash), the state root a header
//! carries, and proves what is stored under any key:
//!
//! - **membership** ([`MembershipProof`], [`verify_membership`]): `key` has
//!   `value`;
//! - **non-membership** ([`NonMembershipProof`], [`verify_non_membership`]):
//!   `key` has no value, shown by the two leaves of its bucket around the
//!   gap where it would be (or the bucket's first/last leaf, or an empty
//!   bucket);
//! - [`StateProof`] is either, as returned by [`StateTree::prove`].
//!
//! Verification needs only the trusted root, never the tree, and does no I/O.
//!
//! # Construction
//!
//! Keys are spread over `2^16` buckets ([`DEFAULT_BUCKET_BITS`]) by the first
//! 16 bits of `H(KEY_BUCKET_TAG; key)` ([`bucket_of`]), so that a write
//! changes one bucket and one fixed top-level path: the tree is updated
//! incrementally ([`StateTree::apply`]) instead of being rebuilt each block.
//!
//! - a bucket's leaves are its entries sorted by key, one per key:
//!   `leaf = H(LEAF_TAG; len(key) as u64 BE ‖ key ‖ H(VALUE_TAG; value))`;
//! - a bucket's interior nodes follow `rs_merkle`'s layout: pairs are hashed,
//!   `H(NODE_TAG; left ‖ right)` ([`StateHasher`]), and the last node of an
//!   odd layer is carried up unchanged;
//! - bucket root = `H(BUCKET_TAG; leaf_count as u64 BE ‖ rs_merkle_root)`
//!   ([`bucket_root`]); an empty bucket's root is [`empty_bucket_root`] =
//!   `H(BUCKET_TAG; 0u64 ‖ [0; 32])`;
//! - the top level is an `rs_merkle` tree over the `2^16` bucket roots in
//!   bucket order, `H(TOP_NODE_TAG; left ‖ right)` ([`TopHasher`]);
//! - state root = `H(ROOT_TAG; 16u8 ‖ top_root)` ([`state_root`]); the
//!   empty state's root is [`empty_root`].
//!
//! `H(tag; ...)` is [`Hash::tagged`](protocol::Hash::tagged) (SHA-256 over the
//! length-prefixed tag and the parts); the tags carry the format version
//! (`credit/state/v2/...`). Distinct tags separate every kind of node, so
//! no interior node can be presented as a leaf, nor a top-level node as a
//! bucket node. The count in a bucket root fixes the bucket's shape, so
//! "leaf `n-1` is the last" and "leaves `i` and `i+1` are adjacent" are
//! provable, which non-membership needs; the bucket count in the state root
//! fixes the top level's shape.
//!
//! A proof is the path from its leaves to their bucket root plus the path
//! from that bucket root to the top-level root. The verifier recomputes the
//! bucket from the key, never from the proof. Both paths are hashed up by
//! `rs_merkle` (`PartialTree`), after this module has checked everything
//! that could make it misbehave on hostile input (indices out of range, too
//! few or too many sibling hashes, a top-level path longer than
//! [`MAX_BUCKET_BITS`]).
//!
//! Soundness of non-membership relies on the root having been built by
//! [`StateTree`] (each key in its own bucket, keys of a bucket strictly
//! sorted), which is what a validator-signed header attests.
//!
//! # Cost
//!
//! Keys are placed by a hash, so buckets stay balanced (~15 keys each at
//! 1,000,000 keys) unless someone grinds keys into one bucket (about 2^16
//! hash attempts per key). Even then a block costs at most one rebuild of
//! each touched bucket, which is no worse than the whole-state rebuild a
//! single sorted tree needs for every block.

mod error;
mod hashing;
mod proof;
mod tree;

#[cfg(test)]
mod tests;

pub use error::MerkleError;
pub use hashing::{
    BUCKET_TAG, DEFAULT_BUCKET_BITS, KEY_BUCKET_TAG, LEAF_TAG, MAX_BUCKET_BITS, NODE_TAG, ROOT_TAG,
    StateHasher, TOP_NODE_TAG, TopHasher, VALUE_TAG, bucket_of, bucket_root, empty_bucket_root,
    empty_root, leaf_hash, state_root, value_hash,
};
pub use proof::{
    MembershipProof, NeighbourLeaf, NonMembershipProof, StateProof, verify_membership,
    verify_non_membership,
};
pub use tree::StateTree;
