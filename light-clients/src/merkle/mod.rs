//! Merkle membership and non-membership proofs over a chain key-value state.
//!
//! A chain's state is a map from byte keys to byte values. [`StateTree`]
//! commits to it with one [`Hash`](protocol::Hash), the state root a header
//! carries, and proves what is stored under any key:
//!
//! - **membership** ([`MembershipProof`], [`verify_membership`]): `key` has
//!   `value`;
//! - **non-membership** ([`NonMembershipProof`], [`verify_non_membership`]):
//!   `key` has no value, shown by the two leaves around the gap where it
//!   would be (or the first/last leaf, or an empty state);
//! - [`StateProof`] is either, as returned by [`StateTree::prove`].
//!
//! Verification needs only the trusted root, never the tree, and does no I/O.
//!
//! # Construction
//!
//! - leaves are the entries sorted by key, one per key:
//!   `leaf = H(LEAF_TAG; len(key) as u64 BE ‖ key ‖ H(VALUE_TAG; value))`;
//! - interior nodes follow `rs_merkle`'s layout: pairs are hashed,
//!   `H(NODE_TAG; left ‖ right)` ([`StateHasher`]), and the last node of an odd
//!   layer is carried up unchanged;
//! - state root = `H(ROOT_TAG; leaf_count as u64 BE ‖ rs_merkle_root)`; the
//!   empty state's root is [`empty_root`] = `H(ROOT_TAG; 0u64 ‖ [0; 32])`.
//!
//! `H(tag; ...)` is [`Hash::tagged`](protocol::Hash::tagged) (SHA-256 over the
//! length-prefixed tag and the parts). Distinct tags separate leaves from
//! interior nodes, so no interior node can be presented as a leaf. The count
//! in the root fixes the tree's shape, so "leaf `n-1` is the last" and
//! "leaves `i` and `i+1` are adjacent" are provable, which non-membership
//! needs. Paths are verified by `rs_merkle`'s `MerkleProof::root`, after this
//! module has checked everything that could make it misbehave on hostile
//! input (indices out of range, too few or too many sibling hashes).
//!
//! Soundness of non-membership relies on the root having been built by
//! [`StateTree`] (keys strictly sorted), which is what a validator-signed
//! header attests.

mod error;
mod hashing;
mod proof;
mod tree;

#[cfg(test)]
mod tests;

pub use error::MerkleError;
pub use hashing::{
    LEAF_TAG, NODE_TAG, ROOT_TAG, StateHasher, VALUE_TAG, empty_root, leaf_hash, state_root,
    value_hash,
};
pub use proof::{
    MembershipProof, NeighbourLeaf, NonMembershipProof, StateProof, verify_membership,
    verify_non_membership,
};
pub use tree::StateTree;
