//! The state tree: builds the root and the proofs.

use std::collections::BTreeMap;
use std::fmt;

use protocol::Hash;

use super::hashing::{empty_root, for_each_sibling, leaf_hash, node_hash, state_root, value_hash};
use super::{MembershipProof, MerkleError, NeighbourLeaf, NonMembershipProof, StateProof};

/// A Merkle tree over a key-value state, from which membership and
/// non-membership proofs are made.
///
/// Leaves are the entries sorted by key (bytewise), one leaf per key:
/// `leaf = leaf_hash(key, value_hash(value))`. Interior nodes are combined as
/// `rs_merkle` does (pairs hashed with [`StateHasher`](super::StateHasher), the
/// last node of an odd layer carried up), and the state root binds the leaf
/// count: `state_root(len, rs_merkle_root)`; the empty state has the fixed
/// root [`empty_root()`](super::empty_root).
///
/// The tree keeps the keys, the value hashes and every layer of node hashes
/// (about `len * (key size + 100)` bytes), not the values.
///
/// ```
/// use light_clients::merkle::{StateTree, StateProof, verify_membership, verify_non_membership};
///
/// let tree = StateTree::from_entries([
///     (b"loan/42".to_vec(), b"amount=1000".to_vec()),
///     (b"loan/7".to_vec(), b"amount=250".to_vec()),
/// ]);
/// let root = tree.root(); // what a verified header's state root would carry
///
/// // Membership: the key has this value.
/// let proof = tree.prove_membership(b"loan/42")?;
/// verify_membership(&root, b"loan/42", b"amount=1000", &proof)?;
/// assert!(verify_membership(&root, b"loan/42", b"amount=9999", &proof).is_err());
///
/// // Non-membership: no record under this key.
/// let absent = tree.prove_non_membership(b"loan/5")?;
/// verify_non_membership(&root, b"loan/5", &absent)?;
///
/// // Either, depending on the state; the verifier states what it expects.
/// let proof: StateProof = tree.prove(b"loan/7");
/// proof.verify(&root, b"loan/7", Some(b"amount=250"))?;
/// assert!(proof.verify(&root, b"loan/7", None).is_err());
/// # Ok::<(), light_clients::merkle::MerkleError>(())
/// ```
#[derive(Clone)]
pub struct StateTree {
    /// Keys, strictly increasing.
    keys: Vec<Vec<u8>>,
    /// `value_hash` of each key's value.
    value_hashes: Vec<Hash>,
    /// `layers[0]` are the leaf hashes, each next layer the parents, the last
    /// layer the single `rs_merkle` root. Empty for the empty state.
    layers: Vec<Vec<[u8; 32]>>,
    /// The state root.
    root: Hash,
}

impl StateTree {
    /// Builds the tree of a state given as `(key, value)` pairs in any order.
    ///
    /// If a key occurs more than once the last value wins, as when collecting
    /// into a [`BTreeMap`].
    pub fn from_entries(entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> StateTree {
        let map: BTreeMap<Vec<u8>, Vec<u8>> = entries.into_iter().collect();
        StateTree::from_map(&map)
    }

    /// Builds the tree of the state held in `map`.
    pub fn from_map(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> StateTree {
        StateTree::from_sorted_hashed(map.iter().map(|(k, v)| (k.clone(), value_hash(v))))
    }

    /// Builds the tree from keys in strictly increasing order with their value hashes.
    fn from_sorted_hashed(entries: impl Iterator<Item = (Vec<u8>, Hash)>) -> StateTree {
        let (keys, value_hashes): (Vec<Vec<u8>>, Vec<Hash>) = entries.unzip();
        debug_assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let leaves: Vec<[u8; 32]> = keys
            .iter()
            .zip(&value_hashes)
            .map(|(k, vh)| leaf_hash(k, vh).0)
            .collect();
        let mut layers = Vec::new();
        if !leaves.is_empty() {
            layers.push(leaves);
        }
        while let Some(top) = layers.last().filter(|l| l.len() > 1) {
            let parents = top
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    [lone] => *lone,
                    _ => unreachable!("chunks(2) yields one or two nodes"),
                })
                .collect();
            layers.push(parents);
        }
        let root = match layers.last().and_then(|l| l.first()) {
            Some(inner) => state_root(keys.len() as u64, inner),
            None => empty_root(),
        };
        StateTree {
            keys,
            value_hashes,
            layers,
            root,
        }
    }

    /// The state root, which commits to every key, every value and the number of keys.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The number of keys in the state.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the state holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// True when `key` is in the state.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.position(key).is_ok()
    }

    /// The [`value_hash`](super::value_hash) of `key`'s value, if present.
    pub fn value_hash(&self, key: &[u8]) -> Option<Hash> {
        self.position(key).ok().map(|i| self.value_hashes[i])
    }

    /// Proves what the state holds under `key`: membership if it is present,
    /// non-membership otherwise.
    pub fn prove(&self, key: &[u8]) -> StateProof {
        match self.position(key) {
            Ok(i) => StateProof::Membership(self.membership_at(i)),
            Err(i) => StateProof::NonMembership(self.non_membership_at(i)),
        }
    }

    /// Proves that `key` is present with its current value.
    ///
    /// Fails with [`MerkleError::KeyAbsent`] if `key` is not in the state.
    pub fn prove_membership(&self, key: &[u8]) -> Result<MembershipProof, MerkleError> {
        match self.position(key) {
            Ok(i) => Ok(self.membership_at(i)),
            Err(_) => Err(MerkleError::KeyAbsent { key: key.to_vec() }),
        }
    }

    /// Proves that `key` is absent.
    ///
    /// Fails with [`MerkleError::KeyPresent`] if `key` is in the state.
    pub fn prove_non_membership(&self, key: &[u8]) -> Result<NonMembershipProof, MerkleError> {
        match self.position(key) {
            Ok(_) => Err(MerkleError::KeyPresent { key: key.to_vec() }),
            Err(i) => Ok(self.non_membership_at(i)),
        }
    }

    /// `Ok(index)` of `key`, or `Err(index where it would be inserted)`.
    fn position(&self, key: &[u8]) -> Result<usize, usize> {
        self.keys.binary_search_by(|k| k.as_slice().cmp(key))
    }

    fn membership_at(&self, i: usize) -> MembershipProof {
        MembershipProof {
            key: self.keys[i].clone(),
            value_hash: self.value_hashes[i],
            leaf_index: i as u64,
            leaf_count: self.len() as u64,
            siblings: self.siblings(&[i]),
        }
    }

    /// Non-membership of a key that would be inserted at index `i`.
    fn non_membership_at(&self, i: usize) -> NonMembershipProof {
        let neighbour = |j: usize| NeighbourLeaf {
            index: j as u64,
            key: self.keys[j].clone(),
            value_hash: self.value_hashes[j],
        };
        let left = i.checked_sub(1).map(neighbour);
        let right = (i < self.len()).then(|| neighbour(i));
        let indices: Vec<usize> = left
            .iter()
            .chain(&right)
            .map(|n| n.index as usize)
            .collect();
        let siblings = if indices.is_empty() {
            Vec::new()
        } else {
            self.siblings(&indices)
        };
        NonMembershipProof {
            leaf_count: self.len() as u64,
            left,
            right,
            siblings,
        }
    }

    /// The sibling hashes proving the leaves at `indices` (sorted, distinct, in range).
    fn siblings(&self, indices: &[usize]) -> Vec<Hash> {
        let mut out = Vec::new();
        for_each_sibling(indices, self.len(), |layer, pos| {
            out.push(Hash(self.layers[layer][pos]))
        });
        out
    }
}

impl fmt::Debug for StateTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateTree")
            .field("len", &self.len())
            .field("root", &self.root)
            .finish()
    }
}

impl From<&BTreeMap<Vec<u8>, Vec<u8>>> for StateTree {
    fn from(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> StateTree {
        StateTree::from_map(map)
    }
}

impl FromIterator<(Vec<u8>, Vec<u8>)> for StateTree {
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>>(iter: I) -> StateTree {
        StateTree::from_entries(iter)
    }
}
