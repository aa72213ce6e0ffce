//! Proof types and their verification, which needs only the trusted root.

use borsh::{BorshDeserialize, BorshSerialize};
use protocol::Hash;
use serde::{Deserialize, Serialize};

use super::MerkleError;
use super::hashing::{
    bucket_of, empty_bucket_root, leaf_hash, recompute_bucket_root, recompute_state_root,
    top_path_bits, value_hash,
};

/// Proof that a key is in the state with a given value.
///
/// Two paths: the key's leaf up to the root of its bucket (`leaf_index`,
/// `leaf_count`, `siblings`), and that bucket root up to the top-level root
/// (`top_siblings`). The bucket is never named: the verifier recomputes it
/// from the key ([`bucket_of`](super::bucket_of)), and the length of
/// `top_siblings` is the bucket count in bits, which the state root binds
/// (a path of another length leads to another root).
///
/// Encoded with borsh (canonical, for what is hashed or sent on chain) or
/// JSON (bytes and hashes as hex). Verify with [`verify_membership`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipProof {
    /// The proven key.
    #[serde(with = "hex::serde")]
    #[borsh(deserialize_with = "read_bytes")]
    pub key: Vec<u8>,
    /// [`value_hash`](super::value_hash) of the key's value.
    pub value_hash: Hash,
    /// Position of the key's leaf among the sorted keys of its bucket.
    pub leaf_index: u64,
    /// Number of keys in the key's bucket.
    pub leaf_count: u64,
    /// Sibling hashes from the leaf up to the bucket's `rs_merkle` root, in
    /// `rs_merkle` proof order.
    pub siblings: Vec<Hash>,
    /// Sibling hashes from the bucket root up to the top-level root, one per
    /// layer (16 for the default `2^16` buckets), in `rs_merkle` proof order.
    pub top_siblings: Vec<Hash>,
}

/// A leaf shown in a non-membership proof: a neighbour of the absent key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourLeaf {
    /// Position of the leaf among the sorted keys of its bucket.
    pub index: u64,
    /// The leaf's key.
    #[serde(with = "hex::serde")]
    #[borsh(deserialize_with = "read_bytes")]
    pub key: Vec<u8>,
    /// [`value_hash`](super::value_hash) of the leaf's value.
    pub value_hash: Hash,
}

/// Proof that a key is absent from the state.
///
/// A key can only be in its own bucket ([`bucket_of`](super::bucket_of)), and
/// a bucket's keys are sorted, so an absent key `k` falls in one gap of its
/// bucket, shown by the leaves around it, proven together (one `rs_merkle`
/// multi-proof) up to the bucket root:
///
/// | `k`'s bucket                    | `left`              | `right`          |
/// |---------------------------------|---------------------|------------------|
/// | empty (`leaf_count` 0)          | none                | none             |
/// | `k` below every key of it       | none                | leaf 0, key > k  |
/// | `k` above every key of it       | leaf n-1, key < k   | none             |
/// | `key_i < k < key_{i+1}`         | leaf i              | leaf i+1         |
///
/// The bucket root binds `leaf_count`, so "leaf 0 is the first", "leaf n-1
/// is the last" and "i and i+1 are adjacent" are all checked against the
/// root; `top_siblings` proves the bucket root (or the empty bucket's fixed
/// root) at `k`'s bucket, recomputed from `k`. Verify with
/// [`verify_non_membership`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct NonMembershipProof {
    /// Number of keys in the absent key's bucket.
    pub leaf_count: u64,
    /// The greatest key below the absent key in its bucket, if any.
    pub left: Option<NeighbourLeaf>,
    /// The smallest key above the absent key in its bucket, if any.
    pub right: Option<NeighbourLeaf>,
    /// Sibling hashes proving `left` and `right` together up to the bucket's
    /// `rs_merkle` root, in `rs_merkle` multi-proof order (layer by layer
    /// from the leaves up, left to right).
    pub siblings: Vec<Hash>,
    /// Sibling hashes from the bucket root up to the top-level root, one per
    /// layer, as in [`MembershipProof::top_siblings`].
    pub top_siblings: Vec<Hash>,
}

/// What the state holds under a key: the answer to a state query, with its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateProof {
    /// The key is present.
    Membership(MembershipProof),
    /// The key is absent.
    NonMembership(NonMembershipProof),
}

impl StateProof {
    /// Verifies the proof against a trusted `root` for `key`, and that it
    /// matches what the caller expects: `Some(value)` = present with exactly
    /// this value, `None` = absent.
    pub fn verify(
        &self,
        root: &Hash,
        key: &[u8],
        expected: Option<&[u8]>,
    ) -> Result<(), MerkleError> {
        match (self, expected) {
            (StateProof::Membership(p), Some(value)) => verify_membership(root, key, value, p),
            (StateProof::NonMembership(p), None) => verify_non_membership(root, key, p),
            (StateProof::Membership(_), None) => {
                Err(MerkleError::ExpectedAbsent { key: key.to_vec() })
            }
            (StateProof::NonMembership(_), Some(_)) => {
                Err(MerkleError::ExpectedPresent { key: key.to_vec() })
            }
        }
    }

    /// True for a membership proof.
    pub fn is_membership(&self) -> bool {
        matches!(self, StateProof::Membership(_))
    }
}

/// Verifies that `key` has `value` in the state whose root is `root`.
///
/// Checks, in order: the proof is about `key`; it commits to `value`; the
/// top-level path is not longer than [`MAX_BUCKET_BITS`](super::MAX_BUCKET_BITS);
/// the leaf index is in range; the proof has exactly the sibling hashes the
/// bucket's shape requires; both paths (hashed up by `rs_merkle`), the
/// second at the bucket recomputed from `key`, lead to `root`.
pub fn verify_membership(
    root: &Hash,
    key: &[u8],
    value: &[u8],
    proof: &MembershipProof,
) -> Result<(), MerkleError> {
    if proof.key != key {
        return Err(MerkleError::KeyMismatch {
            proof_key: proof.key.clone(),
            key: key.to_vec(),
        });
    }
    let given = value_hash(value);
    if proof.value_hash != given {
        return Err(MerkleError::ValueMismatch {
            key: key.to_vec(),
            proven: proof.value_hash,
            given,
        });
    }
    let bits = top_path_bits(&proof.top_siblings)?;
    let leaf = leaf_hash(key, &given);
    let bucket_root = recompute_bucket_root(
        proof.leaf_count,
        &[(proof.leaf_index, leaf)],
        &proof.siblings,
    )?;
    let computed = recompute_state_root(bucket_of(key, bits), &bucket_root, &proof.top_siblings)?;
    check_root(computed, root)
}

/// Verifies that `key` is absent from the state whose root is `root`.
///
/// Checks the case the proof's neighbours describe (see
/// [`NonMembershipProof`]): neighbours at adjacent indices, or the first/last
/// leaf, or an empty bucket; neighbours in `key`'s bucket and on the right
/// sides of `key` (a neighbour equal to `key` means the key exists); then
/// that the neighbours are proven, with exactly the required sibling hashes,
/// up to the bucket root, and that bucket root, at the bucket recomputed
/// from `key`, up to `root`.
pub fn verify_non_membership(
    root: &Hash,
    key: &[u8],
    proof: &NonMembershipProof,
) -> Result<(), MerkleError> {
    let bits = top_path_bits(&proof.top_siblings)?;
    let bucket = bucket_of(key, bits);
    let count = proof.leaf_count;
    for n in proof.left.iter().chain(&proof.right) {
        if n.index >= count {
            return Err(MerkleError::IndexOutOfRange {
                index: n.index,
                count,
            });
        }
    }
    match (&proof.left, &proof.right) {
        (None, None) => {
            if count != 0 {
                return Err(MerkleError::MissingNeighbours { count });
            }
            if !proof.siblings.is_empty() {
                return Err(MerkleError::ProofTooLong {
                    expected: 0,
                    got: proof.siblings.len(),
                });
            }
            let computed = recompute_state_root(bucket, &empty_bucket_root(), &proof.top_siblings)?;
            return check_root(computed, root);
        }
        (None, Some(right)) => {
            if right.index != 0 {
                return Err(MerkleError::NotFirst { index: right.index });
            }
        }
        (Some(left), None) => {
            if left.index != count - 1 {
                return Err(MerkleError::NotLast {
                    index: left.index,
                    count,
                });
            }
        }
        (Some(left), Some(right)) => {
            if left.index.checked_add(1) != Some(right.index) {
                return Err(MerkleError::NotAdjacent {
                    left: left.index,
                    right: right.index,
                });
            }
        }
    }
    if let Some(left) = &proof.left {
        check_side(key, (bucket, bits), left, "left", left.key.as_slice() < key)?;
    }
    if let Some(right) = &proof.right {
        check_side(
            key,
            (bucket, bits),
            right,
            "right",
            right.key.as_slice() > key,
        )?;
    }
    let mut leaves = [(0, Hash::ZERO); 2];
    let mut proven = 0;
    for n in proof.left.iter().chain(&proof.right) {
        leaves[proven] = (n.index, leaf_hash(&n.key, &n.value_hash));
        proven += 1;
    }
    let bucket_root = recompute_bucket_root(count, &leaves[..proven], &proof.siblings)?;
    let computed = recompute_state_root(bucket, &bucket_root, &proof.top_siblings)?;
    check_root(computed, root)
}

/// A neighbour is not the key itself, lies in the key's bucket
/// (`(bucket, bits)`) and on its `side` (`ordered`).
fn check_side(
    key: &[u8],
    (bucket, bits): (u32, u8),
    n: &NeighbourLeaf,
    side: &'static str,
    ordered: bool,
) -> Result<(), MerkleError> {
    if n.key == key {
        return Err(MerkleError::KeyExists {
            key: key.to_vec(),
            side,
            index: n.index,
        });
    }
    let neighbour_bucket = bucket_of(&n.key, bits);
    if neighbour_bucket != bucket {
        return Err(MerkleError::WrongBucket {
            key: key.to_vec(),
            bucket,
            neighbour: n.key.clone(),
            neighbour_bucket,
            side,
        });
    }
    if !ordered {
        return Err(MerkleError::NeighbourOutOfOrder {
            key: key.to_vec(),
            neighbour: n.key.clone(),
            side,
        });
    }
    Ok(())
}

fn check_root(computed: Hash, expected: &Hash) -> Result<(), MerkleError> {
    if computed == *expected {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch {
            computed,
            expected: *expected,
        })
    }
}

/// Borsh decoding of a length-prefixed byte string that allocates only as
/// the bytes actually arrive, so a hostile length prefix (up to 4 GiB) on a
/// short input costs at most one 4 KiB buffer, not a large allocation
/// (borsh's own `Vec<u8>` decoding preallocates up to 1 MiB).
/// The encoding is the same as borsh's `Vec<u8>`.
fn read_bytes<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Vec<u8>> {
    let len = u32::deserialize_reader(reader)? as usize;
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < len {
        let want = (len - out.len()).min(chunk.len());
        reader.read_exact(&mut chunk[..want])?;
        out.extend_from_slice(&chunk[..want]);
    }
    Ok(out)
}
