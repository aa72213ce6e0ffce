//! The state tree: keeps the state's commitment up to date and builds proofs.

use std::collections::BTreeMap;
use std::fmt;

use protocol::Hash;

use super::hashing::{
    DEFAULT_BUCKET_BITS, MAX_BUCKET_BITS, bucket_of, bucket_root, empty_subtrees, for_each_sibling,
    leaf_hash, node_hash, state_root, top_parent, value_hash,
};
use super::{MembershipProof, MerkleError, NeighbourLeaf, NonMembershipProof, StateProof};

/// Above this many changes to one bucket in one [`StateTree::apply`], the
/// bucket is rebuilt by one merge pass instead of one sorted insert each
/// (which would be quadratic in a large bucket).
const MERGE_THRESHOLD: usize = 8;

/// An incrementally updated Merkle tree over a key-value state, from which
/// membership and non-membership proofs are made.
///
/// # Shape
///
/// Keys are spread over `2^16` buckets ([`DEFAULT_BUCKET_BITS`]) by a hash of
/// the key ([`bucket_of`](super::bucket_of)); the bucket is never chosen by
/// whoever writes or proves.
///
/// - **Bucket**: its entries sorted by key (bytewise), one leaf per key,
///   `leaf = leaf_hash(key, value_hash(value))`, combined as `rs_merkle` does
///   (pairs hashed with [`StateHasher`](super::StateHasher), the last node of
///   an odd layer carried up); the bucket root binds its leaf count,
///   [`bucket_root`](super::bucket_root)`(len, rs_merkle_root)`. An empty
///   bucket has the fixed root [`empty_bucket_root()`](super::empty_bucket_root).
/// - **Top level**: an `rs_merkle` tree over the `2^16` bucket roots in
///   bucket order ([`TopHasher`](super::TopHasher)); its shape never changes.
/// - **State root**: [`state_root`](super::state_root)`(16, top_root)`; the
///   empty state has [`empty_root()`](super::empty_root).
///
/// # Updates
///
/// A write changes one bucket: only that bucket's root and the 16 top-level
/// nodes above it are recomputed. [`apply`](StateTree::apply) takes a whole
/// block of writes, rebuilds each touched bucket once and each top-level
/// node above a touched bucket once, then returns the new root. About 40,000
/// hashes for 1,000 writes into 1,000,000 keys (a bucket holds ~15 keys),
/// instead of ~3,000,000 for a rebuild. [`insert`](StateTree::insert) and
/// [`remove`](StateTree::remove) do the same for one write. The tree is
/// always up to date: [`root`](StateTree::root) and the proofs never see a
/// half-applied batch, and need only `&self`.
///
/// # Memory
///
/// The tree keeps each key and its [`value_hash`](super::value_hash), not
/// the value: the chain node keeps values in its own store, proofs need only
/// the hash, and keeping values too would more than double the memory for
/// typical records. Use [`value_hash`](StateTree::value_hash) to check a
/// stored value against the commitment. Per key: a 48-byte entry (boxed key
/// and value hash) plus the key's own allocation; fixed: the `2^17`
/// top-level nodes (4 MiB) and one `Vec` header per bucket (1.5 MiB). Leaf
/// hashes and bucket interior nodes are not kept: a commit rehashes each
/// touched bucket and a proof rehashes its bucket (~30 hashes at 1,000,000
/// keys). Measured at 1,000,000 random 16-byte keys: 69 MB requested from
/// the allocator (≈ 85 MB with its per-allocation overhead).
///
/// # Example
///
/// ```
/// use light_clients::merkle::{StateTree, StateProof, verify_membership, verify_non_membership};
///
/// let mut tree = StateTree::from_entries([
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
///
/// // The next block: its writes are applied at once, the new root returned.
/// let next = tree.apply([
///     (b"loan/5".to_vec(), Some(b"amount=80".to_vec())), // new key
///     (b"loan/7".to_vec(), None),                        // removed
/// ]);
/// assert_eq!(next, tree.root());
/// assert_eq!(next, StateTree::from_entries([
///     (b"loan/42".to_vec(), b"amount=1000".to_vec()),
///     (b"loan/5".to_vec(), b"amount=80".to_vec()),
/// ]).root());
/// verify_membership(&next, b"loan/5", b"amount=80", &tree.prove_membership(b"loan/5")?)?;
/// verify_non_membership(&next, b"loan/7", &tree.prove_non_membership(b"loan/7")?)?;
/// // Proofs of the old state still verify against the old root only.
/// assert!(verify_non_membership(&next, b"loan/5", &absent).is_err());
/// # Ok::<(), light_clients::merkle::MerkleError>(())
/// ```
#[derive(Clone)]
pub struct StateTree {
    /// log2 of the bucket count.
    bits: u8,
    /// `buckets[b]`: the entries of bucket `b`, keys strictly increasing.
    buckets: Vec<Vec<Entry>>,
    /// `top[l]`: the `2^(bits - l)` top-level nodes of layer `l`; `top[0]`
    /// are the bucket roots, `top[bits]` the single top-level root.
    top: Vec<Vec<[u8; 32]>>,
    /// Number of keys.
    len: usize,
    /// The state root.
    root: Hash,
}

/// One key of a bucket.
#[derive(Clone)]
struct Entry {
    key: Box<[u8]>,
    value_hash: Hash,
}

/// One change of a batch: `(bucket, key, new value hash or removal)`.
type Staged = (u32, Vec<u8>, Option<Hash>);

impl StateTree {
    /// The empty state, with the default `2^16` buckets.
    pub fn new() -> StateTree {
        StateTree::with_bucket_bits(DEFAULT_BUCKET_BITS)
    }

    /// The empty state, with `2^bucket_bits` buckets.
    ///
    /// The chain state uses [`DEFAULT_BUCKET_BITS`] (what [`new`](StateTree::new),
    /// [`from_entries`](StateTree::from_entries) and [`from_map`](StateTree::from_map)
    /// use). Other counts make different roots; they exist for tests (0 bits =
    /// one bucket = a single sorted tree) and for much larger states. Proofs
    /// carry the count and verify the same way.
    ///
    /// # Panics
    ///
    /// If `bucket_bits` is above [`MAX_BUCKET_BITS`].
    pub fn with_bucket_bits(bucket_bits: u8) -> StateTree {
        assert!(
            bucket_bits <= MAX_BUCKET_BITS,
            "bucket_bits {bucket_bits} above the maximum {MAX_BUCKET_BITS}"
        );
        let bits = usize::from(bucket_bits);
        let empty = empty_subtrees();
        let top = (0..=bits)
            .map(|l| vec![empty[l]; 1 << (bits - l)])
            .collect();
        StateTree {
            bits: bucket_bits,
            buckets: vec![Vec::new(); 1 << bits],
            top,
            len: 0,
            root: state_root(bucket_bits, &empty[bits]),
        }
    }

    /// Builds the tree of a state given as `(key, value)` pairs in any order,
    /// with the default `2^16` buckets.
    ///
    /// If a key occurs more than once the last value wins, as when collecting
    /// into a [`BTreeMap`].
    pub fn from_entries(entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> StateTree {
        let mut tree = StateTree::new();
        tree.apply(entries.into_iter().map(|(k, v)| (k, Some(v))));
        tree
    }

    /// Builds the tree of the state held in `map`, with the default `2^16` buckets.
    pub fn from_map(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> StateTree {
        StateTree::from_map_with_bucket_bits(map, DEFAULT_BUCKET_BITS)
    }

    /// Builds the tree of the state held in `map`, with `2^bucket_bits`
    /// buckets (see [`with_bucket_bits`](StateTree::with_bucket_bits)).
    ///
    /// # Panics
    ///
    /// If `bucket_bits` is above [`MAX_BUCKET_BITS`].
    pub fn from_map_with_bucket_bits(
        map: &BTreeMap<Vec<u8>, Vec<u8>>,
        bucket_bits: u8,
    ) -> StateTree {
        let mut tree = StateTree::with_bucket_bits(bucket_bits);
        let staged = map
            .iter()
            .map(|(k, v)| (bucket_of(k, bucket_bits), k.clone(), Some(value_hash(v))))
            .collect();
        tree.apply_staged(staged);
        tree
    }

    /// Applies a batch of writes, in order — `(key, Some(value))` sets
    /// `key` to `value`, `(key, None)` removes `key` (if present) — and
    /// returns the new state root.
    ///
    /// A key written more than once in the batch ends with its last write.
    /// Each touched bucket is rebuilt once and each top-level node above a
    /// touched bucket is rehashed once, whatever the batch size; a write that
    /// changes nothing (same value, or removal of an absent key) costs no
    /// hashing beyond the key's bucket and value hashes.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>) -> Hash {
        let bits = self.bits;
        let staged = changes
            .into_iter()
            .map(|(k, v)| (bucket_of(&k, bits), k, v.map(|v| value_hash(&v))))
            .collect();
        self.apply_staged(staged);
        self.root
    }

    /// Sets `key` to `value`, updates the root, and returns the previous
    /// [`value_hash`](super::value_hash) of `key`, if it was present.
    ///
    /// For many writes at once (a block), [`apply`](StateTree::apply) shares
    /// the rehashing between them.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Option<Hash> {
        self.write(key, Some(value_hash(value)))
    }

    /// Removes `key`, updates the root, and returns the
    /// [`value_hash`](super::value_hash) it had, if it was present.
    pub fn remove(&mut self, key: &[u8]) -> Option<Hash> {
        self.write(key, None)
    }

    /// One write, then the one bucket and the one top-level path above it.
    fn write(&mut self, key: &[u8], new: Option<Hash>) -> Option<Hash> {
        let b = bucket_of(key, self.bits) as usize;
        let bucket = &mut self.buckets[b];
        let previous = match (bucket.binary_search_by(|e| (*e.key).cmp(key)), new) {
            (Ok(i), Some(value_hash)) => {
                let previous = std::mem::replace(&mut bucket[i].value_hash, value_hash);
                if previous == value_hash {
                    return Some(previous);
                }
                Some(previous)
            }
            (Ok(i), None) => {
                self.len -= 1;
                Some(bucket.remove(i).value_hash)
            }
            (Err(i), Some(value_hash)) => {
                let key = key.into();
                bucket.insert(i, Entry { key, value_hash });
                self.len += 1;
                None
            }
            (Err(_), None) => return None,
        };
        self.refresh(vec![b]);
        previous
    }

    /// Applies staged changes: grouped by bucket, last write per key wins.
    fn apply_staged(&mut self, mut staged: Vec<Staged>) {
        // Stable: the writes of one key stay in batch order.
        staged.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        // Keep the last write of each key (`later` is dropped into `earlier`).
        staged.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0 && later.1 == earlier.1;
            if same {
                earlier.2 = later.2;
            }
            same
        });
        let mut dirty = Vec::new();
        let mut rest = staged.as_mut_slice();
        while let Some(first) = rest.first() {
            let b = first.0;
            let n = rest.iter().take_while(|c| c.0 == b).count();
            let (group, tail) = rest.split_at_mut(n);
            rest = tail;
            if self.merge_into(b as usize, group) {
                dirty.push(b as usize);
            }
        }
        if !dirty.is_empty() {
            self.refresh(dirty);
        }
    }

    /// Applies `changes` (sorted by key, distinct keys) to bucket `b`; true if
    /// the bucket changed.
    fn merge_into(&mut self, b: usize, changes: &mut [Staged]) -> bool {
        let mut changed = false;
        let bucket = &mut self.buckets[b];
        if changes.len() <= MERGE_THRESHOLD {
            for (_, key, new) in changes.iter_mut() {
                match (bucket.binary_search_by(|e| (*e.key).cmp(key)), *new) {
                    (Ok(i), Some(value_hash)) => {
                        changed |= bucket[i].value_hash != value_hash;
                        bucket[i].value_hash = value_hash;
                    }
                    (Ok(i), None) => {
                        bucket.remove(i);
                        self.len -= 1;
                        changed = true;
                    }
                    (Err(i), Some(value_hash)) => {
                        let key = std::mem::take(key).into_boxed_slice();
                        bucket.insert(i, Entry { key, value_hash });
                        self.len += 1;
                        changed = true;
                    }
                    (Err(_), None) => {}
                }
            }
            return changed;
        }
        // One merge pass: linear in the bucket plus the changes.
        let old = std::mem::take(bucket);
        let mut merged = Vec::with_capacity(old.len() + changes.len());
        let mut old = old.into_iter().peekable();
        for (_, key, new) in changes.iter_mut() {
            while let Some(e) = old.next_if(|e| *e.key < **key) {
                merged.push(e);
            }
            match (old.next_if(|e| *e.key == **key), *new) {
                (Some(mut e), Some(value_hash)) => {
                    changed |= e.value_hash != value_hash;
                    e.value_hash = value_hash;
                    merged.push(e);
                }
                (Some(_), None) => {
                    self.len -= 1;
                    changed = true;
                }
                (None, Some(value_hash)) => {
                    let key = std::mem::take(key).into_boxed_slice();
                    merged.push(Entry { key, value_hash });
                    self.len += 1;
                    changed = true;
                }
                (None, None) => {}
            }
        }
        merged.extend(old);
        *bucket = merged;
        changed
    }

    /// Recomputes the roots of the buckets in `dirty` (sorted, distinct),
    /// every top-level node above them (each once), and the state root.
    fn refresh(&mut self, mut dirty: Vec<usize>) {
        let mut scratch = Vec::new();
        for &b in &dirty {
            self.top[0][b] = compute_bucket_root(&self.buckets[b], &mut scratch);
        }
        for layer in 1..=usize::from(self.bits) {
            // Parents of the dirty nodes: still sorted; neighbours may share one.
            for d in dirty.iter_mut() {
                *d /= 2;
            }
            dirty.dedup();
            let (below, above) = self.top.split_at_mut(layer);
            let (children, parents) = (&below[layer - 1], &mut above[0]);
            for &p in &dirty {
                parents[p] = top_parent(layer - 1, &children[2 * p], &children[2 * p + 1]);
            }
        }
        self.root = state_root(self.bits, &self.top[usize::from(self.bits)][0]);
    }

    /// The state root, which commits to every key, every value and the
    /// number of keys of every bucket.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// log2 of the number of buckets ([`DEFAULT_BUCKET_BITS`] unless built
    /// with [`with_bucket_bits`](StateTree::with_bucket_bits)).
    pub fn bucket_bits(&self) -> u8 {
        self.bits
    }

    /// The number of keys in the state.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the state holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when `key` is in the state.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.locate(key).1.is_ok()
    }

    /// The [`value_hash`](super::value_hash) of `key`'s value, if present.
    ///
    /// The tree does not keep values (the chain node keeps them in its own
    /// store); this is what it commits to.
    pub fn value_hash(&self, key: &[u8]) -> Option<Hash> {
        let (b, pos) = self.locate(key);
        pos.ok().map(|i| self.buckets[b][i].value_hash)
    }

    /// Proves what the state holds under `key`: membership if it is present,
    /// non-membership otherwise.
    pub fn prove(&self, key: &[u8]) -> StateProof {
        match self.locate(key) {
            (b, Ok(i)) => StateProof::Membership(self.membership_at(b, i)),
            (b, Err(i)) => StateProof::NonMembership(self.non_membership_at(b, i)),
        }
    }

    /// Proves that `key` is present with its current value.
    ///
    /// Fails with [`MerkleError::KeyAbsent`] if `key` is not in the state.
    pub fn prove_membership(&self, key: &[u8]) -> Result<MembershipProof, MerkleError> {
        match self.locate(key) {
            (b, Ok(i)) => Ok(self.membership_at(b, i)),
            (_, Err(_)) => Err(MerkleError::KeyAbsent { key: key.to_vec() }),
        }
    }

    /// Proves that `key` is absent.
    ///
    /// Fails with [`MerkleError::KeyPresent`] if `key` is in the state.
    pub fn prove_non_membership(&self, key: &[u8]) -> Result<NonMembershipProof, MerkleError> {
        match self.locate(key) {
            (_, Ok(_)) => Err(MerkleError::KeyPresent { key: key.to_vec() }),
            (b, Err(i)) => Ok(self.non_membership_at(b, i)),
        }
    }

    /// `key`'s bucket, and `Ok(index)` of `key` in it or `Err(index where it
    /// would be inserted)`.
    fn locate(&self, key: &[u8]) -> (usize, Result<usize, usize>) {
        let b = bucket_of(key, self.bits) as usize;
        (b, self.buckets[b].binary_search_by(|e| (*e.key).cmp(key)))
    }

    fn membership_at(&self, b: usize, i: usize) -> MembershipProof {
        let bucket = &self.buckets[b];
        MembershipProof {
            key: bucket[i].key.to_vec(),
            value_hash: bucket[i].value_hash,
            leaf_index: i as u64,
            leaf_count: bucket.len() as u64,
            siblings: bucket_siblings(bucket, &[i]),
            top_siblings: self.top_siblings(b),
        }
    }

    /// Non-membership of a key of bucket `b` that would be inserted at index `i`.
    fn non_membership_at(&self, b: usize, i: usize) -> NonMembershipProof {
        let bucket = &self.buckets[b];
        let neighbour = |j: usize| NeighbourLeaf {
            index: j as u64,
            key: bucket[j].key.to_vec(),
            value_hash: bucket[j].value_hash,
        };
        let left = i.checked_sub(1).map(neighbour);
        let right = (i < bucket.len()).then(|| neighbour(i));
        let indices: Vec<usize> = left
            .iter()
            .chain(&right)
            .map(|n| n.index as usize)
            .collect();
        NonMembershipProof {
            leaf_count: bucket.len() as u64,
            left,
            right,
            siblings: bucket_siblings(bucket, &indices),
            top_siblings: self.top_siblings(b),
        }
    }

    /// The top-level path of bucket `b`: one sibling per layer, from the
    /// bucket roots up (`rs_merkle` proof order).
    fn top_siblings(&self, b: usize) -> Vec<Hash> {
        let mut out = Vec::with_capacity(usize::from(self.bits));
        for_each_sibling(&[b], 1 << self.bits, |layer, pos| {
            out.push(Hash(self.top[layer][pos]))
        });
        out
    }
}

/// The root of a bucket whose entries are `entries`; `scratch` is reused
/// between buckets.
fn compute_bucket_root(entries: &[Entry], scratch: &mut Vec<[u8; 32]>) -> [u8; 32] {
    if entries.is_empty() {
        return empty_subtrees()[0];
    }
    scratch.clear();
    scratch.extend(entries.iter().map(|e| leaf_hash(&e.key, &e.value_hash).0));
    let mut width = scratch.len();
    while width > 1 {
        for p in 0..width / 2 {
            scratch[p] = node_hash(&scratch[2 * p], &scratch[2 * p + 1]);
        }
        if width % 2 == 1 {
            // The last node of an odd layer is carried up unchanged.
            scratch[width / 2] = scratch[width - 1];
        }
        width = width.div_ceil(2);
    }
    bucket_root(entries.len() as u64, &scratch[0]).0
}

/// The sibling hashes proving the leaves at `indices` (sorted, distinct, in
/// range; none for an empty bucket) up to the bucket's `rs_merkle` root.
fn bucket_siblings(entries: &[Entry], indices: &[usize]) -> Vec<Hash> {
    if indices.is_empty() {
        return Vec::new();
    }
    let mut layers: Vec<Vec<[u8; 32]>> = vec![
        entries
            .iter()
            .map(|e| leaf_hash(&e.key, &e.value_hash).0)
            .collect(),
    ];
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
    let mut out = Vec::new();
    for_each_sibling(indices, entries.len(), |layer, pos| {
        out.push(Hash(layers[layer][pos]))
    });
    out
}

impl Default for StateTree {
    fn default() -> StateTree {
        StateTree::new()
    }
}

impl fmt::Debug for StateTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateTree")
            .field("len", &self.len)
            .field("bucket_bits", &self.bits)
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
