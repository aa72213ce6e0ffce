//! Properties of state proofs over random maps (with the chain's `2^16`
//! buckets and with a few buckets, so that keys share buckets and every
//! neighbour case occurs), incremental updates against rebuilds, and
//! robustness of the proof decoders and verifiers against hostile input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use light_clients::merkle::{
    DEFAULT_BUCKET_BITS, MembershipProof, MerkleError, NeighbourLeaf, NonMembershipProof,
    StateProof, StateTree, verify_membership, verify_non_membership,
};
use proptest::prelude::*;
use protocol::Hash;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Small keys over a small alphabet, so equal keys and neighbours are common.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..5, 0..4)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

fn map() -> impl Strategy<Value = Map> {
    prop::collection::vec((key(), value()), 0..200).prop_map(|v| v.into_iter().collect())
}

/// Bucket counts: one bucket, a few (many keys per bucket), and the chain's.
fn bits() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(1), Just(3), Just(DEFAULT_BUCKET_BITS)]
}

fn build(map: &Map, bits: u8) -> StateTree {
    StateTree::from_map_with_bucket_bits(map, bits)
}

/// A write: set a value (`Some`) or remove the key (`None`).
fn write() -> impl Strategy<Value = (Vec<u8>, Option<Vec<u8>>)> {
    (key(), prop::option::weighted(0.7, value()))
}

/// How a batch is applied to a tree: `0` one `apply`, `1` `insert`/`remove` one by one.
fn apply_batch(tree: &mut StateTree, batch: &[(Vec<u8>, Option<Vec<u8>>)], how: u8) {
    if how & 1 == 0 {
        tree.apply(batch.iter().cloned());
    } else {
        for (k, v) in batch {
            match v {
                Some(v) => tree.insert(k, v),
                None => tree.remove(k),
            };
        }
    }
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

/// Mostly small numbers (so indices and counts are plausible), sometimes anything.
fn num() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..12, 1 => any::<u64>(), 1 => Just(u64::MAX)]
}

fn neighbour() -> impl Strategy<Value = NeighbourLeaf> {
    (num(), key(), hash()).prop_map(|(index, key, value_hash)| NeighbourLeaf {
        index,
        key,
        value_hash,
    })
}

fn siblings() -> impl Strategy<Value = Vec<Hash>> {
    prop_oneof![
        3 => prop::collection::vec(hash(), 0..6),
        1 => prop::collection::vec(hash(), 0..70),
    ]
}

/// Top-level paths: mostly a plausible length, sometimes beyond the maximum.
fn top_siblings() -> impl Strategy<Value = Vec<Hash>> {
    prop_oneof![
        3 => prop::collection::vec(hash(), 0..4),
        2 => prop::collection::vec(hash(), 16..17),
        1 => prop::collection::vec(hash(), 0..40),
    ]
}

fn any_membership() -> impl Strategy<Value = MembershipProof> {
    (key(), hash(), num(), num(), siblings(), top_siblings()).prop_map(
        |(key, value_hash, leaf_index, leaf_count, siblings, top_siblings)| MembershipProof {
            key,
            value_hash,
            leaf_index,
            leaf_count,
            siblings,
            top_siblings,
        },
    )
}

fn any_non_membership() -> impl Strategy<Value = NonMembershipProof> {
    (
        num(),
        prop::option::of(neighbour()),
        prop::option::of(neighbour()),
        siblings(),
        top_siblings(),
    )
        .prop_map(
            |(leaf_count, left, right, siblings, top_siblings)| NonMembershipProof {
                leaf_count,
                left,
                right,
                siblings,
                top_siblings,
            },
        )
}

/// A change that makes a different map: `0` change a value, `1` remove a key, `2` add a key.
fn modify(map: &Map, op: u8, pick: usize, new_key: Vec<u8>, new_value: Vec<u8>) -> Option<Map> {
    let mut m = map.clone();
    match op % 3 {
        0 if !m.is_empty() => {
            let k = m.keys().nth(pick % m.len())?.clone();
            let v = m.get_mut(&k)?;
            v.push(1); // differs from the old value
        }
        1 if !m.is_empty() => {
            let k = m.keys().nth(pick % m.len())?.clone();
            m.remove(&k);
        }
        _ => {
            if m.contains_key(&new_key) {
                return None;
            }
            m.insert(new_key, new_value);
        }
    }
    Some(m)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any sequence of writes, applied batch by batch (`apply`, or `insert`
    /// and `remove` one by one), gives after every batch exactly the root of
    /// a tree built from scratch from the resulting map; the updated tree's
    /// proofs verify and are identical to the rebuilt tree's.
    #[test]
    fn incremental_updates_match_a_rebuild(
        start in map(),
        batches in prop::collection::vec((prop::collection::vec(write(), 0..40), any::<u8>()), 1..6),
        bits in bits(),
        probes in prop::collection::vec(key(), 0..20),
    ) {
        let mut map = start.clone();
        let mut updated = build(&start, bits);
        let mut rebuilt = build(&start, bits);
        for (batch, how) in &batches {
            apply_batch(&mut updated, batch, *how);
            for (k, v) in batch {
                match v {
                    Some(v) => map.insert(k.clone(), v.clone()),
                    None => map.remove(k),
                };
            }
            rebuilt = build(&map, bits);
            prop_assert_eq!(updated.root(), rebuilt.root());
            prop_assert_eq!(updated.len(), map.len());
        }
        let root = updated.root();
        // (A proof rehashes its bucket: with one bucket, every key costs the
        // whole map, so a sample of the keys keeps the test fast.)
        for (k, v) in map.iter().step_by(map.len() / 64 + 1) {
            prop_assert_eq!(updated.value_hash(k), Some(light_clients::merkle::value_hash(v)));
            let proof = updated.prove_membership(k).map_err(|e| TestCaseError::fail(e.to_string()))?;
            verify_membership(&root, k, v, &proof).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&proof, &rebuilt.prove_membership(k).unwrap());
        }
        let written = batches.iter().flat_map(|(b, _)| b.iter().map(|(k, _)| k));
        for k in probes.iter().chain(written).filter(|k| !map.contains_key(*k)) {
            prop_assert!(!updated.contains_key(k));
            let proof = updated.prove_non_membership(k).map_err(|e| TestCaseError::fail(e.to_string()))?;
            verify_non_membership(&root, k, &proof).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&proof, &rebuilt.prove_non_membership(k).unwrap());
        }
    }

    #[test]
    fn present_keys_prove_membership(map in map(), bits in bits()) {
        let tree = build(&map, bits);
        let root = tree.root();
        prop_assert_eq!(tree.len(), map.len());
        for (k, v) in &map {
            let proof = tree.prove(k);
            prop_assert!(proof.is_membership());
            proof.verify(&root, k, Some(v)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let m = tree.prove_membership(k).map_err(|e| TestCaseError::fail(e.to_string()))?;
            verify_membership(&root, k, v, &m).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(proof.verify(&root, k, None).is_err());
            prop_assert!(proof.verify(&root, k, Some(&[v.as_slice(), b"x"].concat())).is_err());
            prop_assert_eq!(
                tree.prove_non_membership(k).unwrap_err(),
                MerkleError::KeyPresent { key: k.clone() }
            );
        }
    }

    #[test]
    fn absent_keys_prove_non_membership(
        map in map(),
        bits in bits(),
        probes in prop::collection::vec(key(), 0..30),
    ) {
        let tree = build(&map, bits);
        let root = tree.root();
        for p in probes.iter().filter(|p| !map.contains_key(*p)) {
            let proof = tree.prove(p);
            prop_assert!(!proof.is_membership());
            proof.verify(&root, p, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(proof.verify(&root, p, Some(b"")).is_err());
            prop_assert!(tree.prove_membership(p).is_err());
            let nm = tree.prove_non_membership(p).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // The gap proof never covers a present key.
            for k in map.keys() {
                prop_assert!(verify_non_membership(&root, k, &nm).is_err());
            }
        }
    }

    #[test]
    fn no_proof_survives_a_modified_map(
        map in map(),
        op in any::<u8>(),
        pick in any::<usize>(),
        new_key in key(),
        new_value in value(),
        bits in bits(),
    ) {
        let Some(changed) = modify(&map, op, pick, new_key, new_value) else { return Ok(()) };
        prop_assume!(changed != map);
        let old = build(&map, bits);
        let new = build(&changed, bits);
        prop_assert_ne!(old.root(), new.root());
        for (k, v) in &map {
            let proof = old.prove_membership(k).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(verify_membership(&new.root(), k, v, &proof).is_err());
        }
        for (k, v) in &changed {
            let proof = new.prove(k);
            prop_assert!(proof.verify(&old.root(), k, Some(v)).is_err());
        }
        // Absence proven in one state does not carry over either.
        for k in map.keys().chain(changed.keys()) {
            if !map.contains_key(k) {
                prop_assert!(old.prove(k).verify(&new.root(), k, None).is_err());
            }
            if !changed.contains_key(k) {
                prop_assert!(new.prove(k).verify(&old.root(), k, None).is_err());
            }
        }
    }

    #[test]
    fn encodings_round_trip_and_mutations_fail(
        map in map(),
        probe in key(),
        pos in any::<usize>(),
        flip in 1u8..=255,
        bits in bits(),
    ) {
        let tree = build(&map, bits);
        let root = tree.root();
        let proof = tree.prove(&probe);
        let expected = map.get(&probe).map(Vec::as_slice);
        let bytes = borsh::to_vec(&proof).unwrap();
        prop_assert_eq!(&borsh::from_slice::<StateProof>(&bytes).unwrap(), &proof);
        let json = serde_json::to_string(&proof).unwrap();
        prop_assert_eq!(&serde_json::from_str::<StateProof>(&json).unwrap(), &proof);

        // Any changed byte: the encoding is refused or the proof is.
        let mut mutated = bytes.clone();
        let i = pos % mutated.len();
        mutated[i] ^= flip;
        if let Ok(p) = borsh::from_slice::<StateProof>(&mutated) {
            prop_assert!(p.verify(&root, &probe, expected).is_err(), "byte {} ^ {} still verifies", i, flip);
        }
        // Truncated encodings are refused.
        prop_assert!(borsh::from_slice::<StateProof>(&bytes[..pos % bytes.len()]).is_err());
    }

    #[test]
    fn arbitrary_proofs_never_panic(
        m in any_membership(),
        n in any_non_membership(),
        root in hash(),
        k in key(),
        v in value(),
    ) {
        let _ = verify_membership(&root, &k, &v, &m);
        let _ = verify_membership(&root, &m.key, &v, &m);
        let _ = verify_non_membership(&root, &k, &n);
        // Also the real roots of small trees, so the checks run up to the root comparison.
        let tree = StateTree::from_entries((0u8..7).map(|i| (vec![i], vec![i])));
        let one_bucket = build(&(0u8..7).map(|i| (vec![i], vec![i])).collect(), 0);
        let _ = verify_membership(&one_bucket.root(), &m.key, &v, &m);
        let _ = verify_non_membership(&one_bucket.root(), &k, &n);
        let mut m2 = m.clone();
        m2.value_hash = light_clients::merkle::value_hash(&v);
        let _ = verify_membership(&tree.root(), &m2.key, &v, &m2);
        let _ = verify_non_membership(&tree.root(), &k, &n);
    }

    #[test]
    fn random_bytes_never_panic_borsh(bytes in prop::collection::vec(any::<u8>(), 0..400), root in hash(), k in key()) {
        if let Ok(p) = borsh::from_slice::<StateProof>(&bytes) {
            let _ = p.verify(&root, &k, None);
            let _ = p.verify(&root, &k, Some(b"v"));
        }
        if let Ok(p) = borsh::from_slice::<MembershipProof>(&bytes) {
            let _ = verify_membership(&root, &k, b"v", &p);
        }
        if let Ok(p) = borsh::from_slice::<NonMembershipProof>(&bytes) {
            let _ = verify_non_membership(&root, &k, &p);
        }
        let _ = borsh::from_slice::<NeighbourLeaf>(&bytes);
    }

    #[test]
    fn random_text_never_panics_json(text in ".{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = serde_json::from_str::<StateProof>(&text);
        let _ = serde_json::from_str::<MembershipProof>(&text);
        let _ = serde_json::from_str::<NonMembershipProof>(&text);
        let _ = serde_json::from_slice::<StateProof>(&bytes);
        let _ = serde_json::from_slice::<NonMembershipProof>(&bytes);
    }

    #[test]
    fn mutated_json_never_panics(
        map in map(),
        bits in bits(),
        probe in key(),
        pos in any::<usize>(),
        c in any::<char>(),
    ) {
        let tree = build(&map, bits);
        let json = serde_json::to_string(&tree.prove(&probe)).unwrap();
        let mut chars: Vec<char> = json.chars().collect();
        let i = pos % chars.len();
        chars[i] = c;
        let text: String = chars.into_iter().collect();
        if let Ok(p) = serde_json::from_str::<StateProof>(&text) {
            let _ = p.verify(&tree.root(), &probe, map.get(&probe).map(Vec::as_slice));
        }
    }
}

// ---- allocation on hostile length prefixes ----

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// Records the largest single allocation made on the current thread.
struct Tracking;

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(layout.size())));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    f();
    LARGEST.with(|l| l.get())
}

#[test]
fn hostile_length_prefixes_do_not_allocate() {
    let huge = u32::MAX.to_le_bytes();
    // Membership proof whose key claims 4 GiB, followed by a few bytes.
    let key_prefix = [&huge[..], &[1, 2, 3]].concat();
    // Membership proof with an empty key and 4 Gi sibling hashes.
    let mut siblings_prefix = vec![0u8; 4]; // empty key
    siblings_prefix.extend_from_slice(&[0; 32 + 8 + 8]); // value hash, index, count
    siblings_prefix.extend_from_slice(&huge);
    siblings_prefix.extend_from_slice(&[9; 50]);
    // Membership proof with no bucket siblings and 4 Gi top-level hashes.
    let mut top_prefix = vec![0u8; 4]; // empty key
    top_prefix.extend_from_slice(&[0; 32 + 8 + 8]); // value hash, index, count
    top_prefix.extend_from_slice(&[0; 4]); // no bucket siblings
    top_prefix.extend_from_slice(&huge);
    top_prefix.extend_from_slice(&[9; 50]);
    // Non-membership proof whose left neighbour key claims 4 GiB.
    let mut neighbour_prefix = vec![0u8; 8]; // leaf count
    neighbour_prefix.push(1); // Some(left)
    neighbour_prefix.extend_from_slice(&[0; 8]); // index
    neighbour_prefix.extend_from_slice(&huge);
    neighbour_prefix.extend_from_slice(&[5; 10]);

    type Case = (&'static str, Vec<u8>, fn(&[u8]) -> bool);
    let cases: [Case; 5] = [
        ("membership key", key_prefix.clone(), |b| {
            borsh::from_slice::<MembershipProof>(b).is_err()
        }),
        ("state proof key", [&[0u8][..], &key_prefix].concat(), |b| {
            borsh::from_slice::<StateProof>(b).is_err()
        }),
        ("siblings", siblings_prefix, |b| {
            borsh::from_slice::<MembershipProof>(b).is_err()
        }),
        ("top-level siblings", top_prefix, |b| {
            borsh::from_slice::<MembershipProof>(b).is_err()
        }),
        ("neighbour key", neighbour_prefix, |b| {
            borsh::from_slice::<NonMembershipProof>(b).is_err()
        }),
    ];
    for (what, bytes, refused) in cases {
        let mut ok = false;
        let largest = largest_allocation(|| ok = refused(&bytes));
        assert!(ok, "{what}: hostile input was accepted");
        assert!(
            largest <= 8 * 1024,
            "{what}: largest allocation {largest} bytes"
        );
    }

    // For comparison: borsh's own Vec<u8> preallocates up to 1 MiB here.
    let plain = largest_allocation(|| {
        let _ = borsh::from_slice::<Vec<u8>>(&key_prefix);
    });
    eprintln!("borsh Vec<u8> with a 4 GiB prefix: largest allocation {plain} bytes");
}
