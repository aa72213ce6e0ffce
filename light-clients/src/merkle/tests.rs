//! Every verdict of the verifiers, incremental updates, and agreement with `rs_merkle`.
//!
//! Most verdicts inside a bucket are checked on single-bucket trees (0 bucket
//! bits: every key in bucket 0, so leaf indices are easy to reason about),
//! and again on the real `2^16`-bucket shape with keys ground into one
//! bucket ([`ground`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use protocol::Hash;
use rs_merkle::MerkleTree;

use super::hashing::{empty_subtrees, expected_siblings};
use super::*;

fn k(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// A tree of `keys` (values: the keys in upper case) with `2^bits` buckets.
fn tree_bits(bits: u8, keys: &[&str]) -> StateTree {
    let map: BTreeMap<Vec<u8>, Vec<u8>> =
        keys.iter().map(|s| (k(s), k(&s.to_uppercase()))).collect();
    StateTree::from_map_with_bucket_bits(&map, bits)
}

/// Single bucket: keys "b", "d", "f", "h", "j" with values "B", "D", ...
fn tree5() -> StateTree {
    tree_bits(0, &["b", "d", "f", "h", "j"])
}

/// Single bucket.
fn tree_with(keys: &[&str]) -> StateTree {
    tree_bits(0, keys)
}

/// Single bucket, keys "key0000", "key0002", ... (values `[i; 3]`).
fn tree_n(n: usize) -> StateTree {
    let map: BTreeMap<Vec<u8>, Vec<u8>> = (0..n)
        .map(|i| (format!("key{:04}", 2 * i).into_bytes(), vec![i as u8; 3]))
        .collect();
    StateTree::from_map_with_bucket_bits(&map, 0)
}

/// Eight keys `"g…"` that all fall in one bucket (that of `"g0"`) under the
/// default 16 bits, sorted, and that bucket. Found by trying `"g0"`,
/// `"g1"`, ... (about 2^16 tries per key), once per test binary.
fn ground() -> &'static (u32, Vec<Vec<u8>>) {
    static GROUND: OnceLock<(u32, Vec<Vec<u8>>)> = OnceLock::new();
    GROUND.get_or_init(|| {
        let target = bucket_of(b"g0", DEFAULT_BUCKET_BITS);
        let mut keys: Vec<Vec<u8>> = (0u64..)
            .map(|i| format!("g{i}").into_bytes())
            .filter(|key| bucket_of(key, DEFAULT_BUCKET_BITS) == target)
            .take(8)
            .collect();
        keys.sort();
        (target, keys)
    })
}

/// The default (2^16-bucket) tree with the ground keys 1, 2, 4, 6 (of 0..8)
/// in one bucket, plus keys of other buckets; the absent ground keys 0, 3,
/// 5, 7 fall before, between (twice) and after them.
fn ground_tree() -> StateTree {
    let (_, g) = ground();
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = [1, 2, 4, 6]
        .iter()
        .map(|&i| (g[i].clone(), vec![i as u8]))
        .collect();
    entries.extend((0..20u8).map(|i| (format!("other/{i}").into_bytes(), vec![i])));
    StateTree::from_entries(entries)
}

// ---- bucket assignment ----

#[test]
fn bucket_of_takes_the_leading_bits_of_the_tagged_key_hash() {
    for key in [&b""[..], b"a", b"loan/42", &[0xff; 100]] {
        let h = Hash::tagged(KEY_BUCKET_TAG, &[key]);
        assert_eq!(
            bucket_of(key, 16),
            u32::from(u16::from_be_bytes([h.0[0], h.0[1]]))
        );
        assert_eq!(bucket_of(key, 8), u32::from(h.0[0]));
        assert_eq!(bucket_of(key, 1), u32::from(h.0[0] >> 7));
        assert_eq!(bucket_of(key, 0), 0);
        assert_eq!(bucket_of(key, 20), bucket_of(key, 255), "clamped");
        assert!(bucket_of(key, 20) < 1 << 20);
    }
    let (b, keys) = ground();
    assert_eq!(keys.len(), 8);
    assert!(keys.iter().all(|key| bucket_of(key, 16) == *b));
}

// ---- membership ----

#[test]
fn valid_membership() {
    let t = tree5();
    for (key, value) in [("b", "B"), ("f", "F"), ("j", "J")] {
        let p = t.prove_membership(key.as_bytes()).unwrap();
        assert!(p.top_siblings.is_empty());
        verify_membership(&t.root(), key.as_bytes(), value.as_bytes(), &p).unwrap();
        t.prove(key.as_bytes())
            .verify(&t.root(), key.as_bytes(), Some(value.as_bytes()))
            .unwrap();
    }
    // The real shape: every key of a bucket, and keys alone in theirs.
    let t = ground_tree();
    let (_, g) = ground();
    for (pos, &i) in [1, 2, 4, 6].iter().enumerate() {
        let p = t.prove_membership(&g[i]).unwrap();
        assert_eq!((p.leaf_index, p.leaf_count), (pos as u64, 4));
        assert_eq!(p.top_siblings.len(), 16);
        verify_membership(&t.root(), &g[i], &[i as u8], &p).unwrap();
    }
    for i in 0..20u8 {
        let key = format!("other/{i}").into_bytes();
        verify_membership(&t.root(), &key, &[i], &t.prove_membership(&key).unwrap()).unwrap();
    }
}

#[test]
fn membership_value_changed() {
    let t = tree5();
    let p = t.prove_membership(b"f").unwrap();
    let err = verify_membership(&t.root(), b"f", b"X", &p).unwrap_err();
    assert!(matches!(err, MerkleError::ValueMismatch { .. }), "{err}");
    assert!(
        err.to_string().starts_with("value mismatch for key 0x66"),
        "{err}"
    );

    // A forger who also rewrites the value hash in the proof reaches another root.
    let mut forged = p.clone();
    forged.value_hash = value_hash(b"X");
    let err = verify_membership(&t.root(), b"f", b"X", &forged).unwrap_err();
    assert!(
        matches!(err, MerkleError::RootMismatch { expected, .. } if expected == t.root()),
        "{err}"
    );
}

#[test]
fn membership_truncated_proof() {
    let t = tree5();
    let mut p = t.prove_membership(b"b").unwrap();
    assert_eq!(p.siblings.len(), 3);
    p.siblings.pop();
    let err = verify_membership(&t.root(), b"b", b"B", &p).unwrap_err();
    assert_eq!(
        err,
        MerkleError::TruncatedProof {
            expected: 3,
            got: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "truncated proof: expected 3 sibling hashes, got 2"
    );
    p.siblings.clear();
    let err = verify_membership(&t.root(), b"b", b"B", &p).unwrap_err();
    assert_eq!(
        err,
        MerkleError::TruncatedProof {
            expected: 3,
            got: 0
        }
    );
}

#[test]
fn top_path_truncated_or_extended() {
    // Every length up to MAX_BUCKET_BITS is the path of some bucket count; the
    // state root binds the count, so any other length reaches another root.
    let t = ground_tree();
    let (_, g) = ground();
    let p = t.prove_membership(&g[2]).unwrap();
    for len in [0, 1, 15, 17, 20] {
        let mut forged = p.clone();
        forged.top_siblings.resize(len, Hash::ZERO);
        let err = verify_membership(&t.root(), &g[2], &[2], &forged).unwrap_err();
        assert!(
            matches!(err, MerkleError::RootMismatch { .. }),
            "{len}: {err}"
        );
    }
    // Beyond the maximum: refused before anything is hashed.
    let mut forged = p.clone();
    forged.top_siblings.resize(21, Hash::ZERO);
    let err = verify_membership(&t.root(), &g[2], &[2], &forged).unwrap_err();
    assert_eq!(
        err,
        MerkleError::TopPathTooLong {
            got: 21,
            max: MAX_BUCKET_BITS
        }
    );
    assert_eq!(
        err.to_string(),
        "top-level path has 21 hashes: at most 20 (2^20 buckets) are supported"
    );
    let absent = t.prove_non_membership(&g[3]).unwrap();
    let mut forged = absent.clone();
    forged.top_siblings = vec![Hash::ZERO; 300];
    assert!(matches!(
        verify_non_membership(&t.root(), &g[3], &forged),
        Err(MerkleError::TopPathTooLong { got: 300, .. })
    ));
    // A changed hash anywhere on the top path.
    for i in 0..16 {
        let mut forged = absent.clone();
        forged.top_siblings[i].0[0] ^= 1;
        assert!(matches!(
            verify_non_membership(&t.root(), &g[3], &forged),
            Err(MerkleError::RootMismatch { .. })
        ));
    }
}

#[test]
fn membership_extra_hash_refused() {
    // rs_merkle ignores surplus hashes; proofs here are canonical.
    let t = tree5();
    let mut p = t.prove_membership(b"b").unwrap();
    p.siblings.push(Hash::ZERO);
    let err = verify_membership(&t.root(), b"b", b"B", &p).unwrap_err();
    assert_eq!(
        err,
        MerkleError::ProofTooLong {
            expected: 3,
            got: 4
        }
    );
}

#[test]
fn membership_proof_for_another_key() {
    let t = tree5();
    let p = t.prove_membership(b"d").unwrap();
    let err = verify_membership(&t.root(), b"f", b"F", &p).unwrap_err();
    assert_eq!(err.to_string(), "proof is for key 0x64, not 0x66");

    // Relabelling the proof does not help: the leaf no longer matches.
    let mut forged = p.clone();
    forged.key = k("f");
    forged.value_hash = value_hash(b"F");
    let err = verify_membership(&t.root(), b"f", b"F", &forged).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");

    // Across buckets: the proof of a key alone in its bucket, relabelled for
    // another such key, lands in the wrong bucket's place.
    let t = ground_tree();
    let mut forged = t.prove_membership(b"other/1").unwrap();
    forged.key = k("other/2");
    forged.value_hash = value_hash(&[2]);
    let err = verify_membership(&t.root(), b"other/2", &[2], &forged).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
}

#[test]
fn membership_against_another_root() {
    let t = tree5();
    let other = tree_bits(0, &["b", "d"]);
    let p = t.prove_membership(b"b").unwrap();
    let err = verify_membership(&other.root(), b"b", b"B", &p).unwrap_err();
    assert_eq!(
        err,
        MerkleError::RootMismatch {
            computed: t.root(),
            expected: other.root()
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "root mismatch: computed {}, expected {}",
            t.root(),
            other.root()
        )
    );
    // The same state under another bucket count has another root.
    let keys = ["b", "d", "f", "h", "j"];
    let roots: Vec<Hash> = [0, 1, 4, 16]
        .iter()
        .map(|&bits| tree_bits(bits, &keys).root())
        .collect();
    for i in 0..roots.len() {
        for j in 0..i {
            assert_ne!(roots[i], roots[j]);
        }
    }
    let p16 = tree_bits(16, &keys).prove_membership(b"f").unwrap();
    assert!(verify_membership(&roots[2], b"f", b"F", &p16).is_err());
}

#[test]
fn membership_index_out_of_range() {
    let t = tree5();
    let mut p = t.prove_membership(b"j").unwrap();
    p.leaf_index = 7;
    let err = verify_membership(&t.root(), b"j", b"J", &p).unwrap_err();
    assert_eq!(err.to_string(), "leaf index 7 out of range for 5 leaves");
    p.leaf_index = u64::MAX;
    assert!(verify_membership(&t.root(), b"j", b"J", &p).is_err());
}

#[test]
fn membership_wrong_index_in_range() {
    let t = tree5();
    let mut p = t.prove_membership(b"d").unwrap();
    p.leaf_index = 0; // "d" is leaf 1; same sibling count, different path
    let err = verify_membership(&t.root(), b"d", b"D", &p).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
}

#[test]
fn forged_leaf_count() {
    let t = tree5();
    let p = t.prove_membership(b"b").unwrap();
    for count in [0, 1, 2, 3, 4, 6, 7, 8, 100, u64::MAX] {
        let mut forged = p.clone();
        forged.leaf_count = count;
        let err = verify_membership(&t.root(), b"b", b"B", &forged).unwrap_err();
        if count <= 4 || count > 8 {
            // Different shape: caught before or by the root.
            assert!(
                matches!(
                    err,
                    MerkleError::IndexOutOfRange { .. }
                        | MerkleError::ProofTooLong { .. }
                        | MerkleError::TruncatedProof { .. }
                ),
                "{count}: {err}"
            );
        } else {
            // 6..=8 leaves need the same 3 siblings for leaf 0: only the count binding catches it.
            assert!(
                matches!(err, MerkleError::RootMismatch { .. }),
                "{count}: {err}"
            );
        }
    }

    // Pretend the bucket ends at "f" (3 leaves) to "prove" that "g" (< "h") is
    // above every key: the real bucket has 5 leaves, so the root refuses it.
    let honest = tree_with(&["b", "d", "f"]);
    let mut forged = honest.prove_non_membership(b"g").unwrap();
    assert_eq!(forged.left.as_ref().unwrap().index, 2);
    assert!(forged.right.is_none());
    verify_non_membership(&honest.root(), b"g", &forged).unwrap();
    let err = verify_non_membership(&t.root(), b"g", &forged).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
    // Even with siblings taken from the real tree (leaf 2's real path in 5 leaves).
    forged.siblings = t.prove_membership(b"f").unwrap().siblings;
    forged.leaf_count = 3;
    let err = verify_non_membership(&t.root(), b"g", &forged).unwrap_err();
    assert!(
        matches!(
            err,
            MerkleError::ProofTooLong { .. } | MerkleError::RootMismatch { .. }
        ),
        "{err}"
    );

    // The real shape: the ground bucket holds 4 keys; claiming it ends at its
    // third (so that ground key 5, between the third and fourth, is "last").
    let t = ground_tree();
    let (_, g) = ground();
    let mut forged = t.prove_non_membership(&g[5]).unwrap();
    assert_eq!(forged.leaf_count, 4);
    forged.right = None;
    forged.leaf_count = 3;
    forged.siblings = t.prove_membership(&g[4]).unwrap().siblings;
    let err = verify_non_membership(&t.root(), &g[5], &forged).unwrap_err();
    assert!(
        matches!(
            err,
            MerkleError::RootMismatch { .. } | MerkleError::ProofTooLong { .. }
        ),
        "{err}"
    );
}

#[test]
fn huge_forged_count_does_not_panic() {
    let t = tree5();
    let mut p = t.prove_membership(b"b").unwrap();
    p.leaf_count = u64::MAX;
    p.leaf_index = u64::MAX - 1;
    p.siblings = vec![Hash::ZERO; 64];
    let err = verify_membership(&t.root(), b"b", b"B", &p).unwrap_err();
    assert!(
        matches!(
            err,
            MerkleError::RootMismatch { .. } | MerkleError::ProofTooLong { .. }
        ),
        "{err}"
    );
    p.siblings = vec![Hash::ZERO; expected_siblings(&[usize::MAX - 1], usize::MAX)];
    let err = verify_membership(&t.root(), b"b", b"B", &p).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
    // The same on the real shape, with the full top-level path.
    let t = ground_tree();
    let mut p = t.prove_membership(b"other/3").unwrap();
    p.leaf_count = u64::MAX;
    p.leaf_index = 1 << 40;
    p.siblings = vec![Hash::ZERO; expected_siblings(&[1 << 40], usize::MAX)];
    let err = verify_membership(&t.root(), b"other/3", &[3], &p).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
}

#[test]
fn prove_membership_of_absent_key_fails() {
    let t = tree5();
    assert_eq!(
        t.prove_membership(b"c").unwrap_err().to_string(),
        "key 0x63 is not in the state: no membership proof exists"
    );
    assert!(ground_tree().prove_membership(b"c").is_err());
}

// ---- non-membership ----

#[test]
fn non_membership_between_neighbours() {
    let t = tree5();
    for (key, l, r) in [
        ("c", 0, 1),
        ("e", 1, 2),
        ("g", 2, 3),
        ("i", 3, 4),
        ("bb", 0, 1),
    ] {
        let p = t.prove_non_membership(key.as_bytes()).unwrap();
        assert_eq!(p.left.as_ref().unwrap().index, l);
        assert_eq!(p.right.as_ref().unwrap().index, r);
        verify_non_membership(&t.root(), key.as_bytes(), &p).unwrap();
        t.prove(key.as_bytes())
            .verify(&t.root(), key.as_bytes(), None)
            .unwrap();
        // Not a proof for another absent key in another gap, nor against another root.
        assert!(verify_non_membership(&t.root(), b"a", &p).is_err());
        assert!(verify_non_membership(&tree_with(&["b", "d"]).root(), key.as_bytes(), &p).is_err());
    }
    // The real shape: ground keys 3 and 5 fall between present ones.
    let t = ground_tree();
    let (_, g) = ground();
    for (i, l, r) in [(3, 1, 2), (5, 2, 3)] {
        let p = t.prove_non_membership(&g[i]).unwrap();
        assert_eq!(p.leaf_count, 4);
        assert_eq!(p.left.as_ref().unwrap().index, l);
        assert_eq!(p.right.as_ref().unwrap().index, r);
        assert_eq!(p.top_siblings.len(), 16);
        verify_non_membership(&t.root(), &g[i], &p).unwrap();
        assert!(verify_non_membership(&tree5().root(), &g[i], &p).is_err());
    }
}

#[test]
fn non_membership_first_case() {
    let t = tree5();
    let p = t.prove_non_membership(b"a").unwrap();
    assert!(p.left.is_none());
    assert_eq!(p.right.as_ref().unwrap().index, 0);
    verify_non_membership(&t.root(), b"a", &p).unwrap();
    verify_non_membership(&t.root(), b"", &p).unwrap();

    // Dropping the left neighbour of a middle gap: "right is the first" is false.
    let mut forged = t.prove_non_membership(b"e").unwrap();
    forged.left = None;
    let err = verify_non_membership(&t.root(), b"e", &forged).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing left neighbour: right neighbour is leaf 2, not the first leaf (0)"
    );

    // The real shape: ground key 0 is below every key of its bucket.
    let t = ground_tree();
    let (_, g) = ground();
    let p = t.prove_non_membership(&g[0]).unwrap();
    assert!(p.left.is_none());
    assert_eq!(p.right.as_ref().unwrap().key, g[1]);
    verify_non_membership(&t.root(), &g[0], &p).unwrap();
    let mut forged = t.prove_non_membership(&g[3]).unwrap();
    forged.left = None;
    assert_eq!(
        verify_non_membership(&t.root(), &g[3], &forged).unwrap_err(),
        MerkleError::NotFirst { index: 2 }
    );
}

#[test]
fn non_membership_last_case() {
    let t = tree5();
    let p = t.prove_non_membership(b"z").unwrap();
    assert_eq!(p.left.as_ref().unwrap().index, 4);
    assert!(p.right.is_none());
    verify_non_membership(&t.root(), b"z", &p).unwrap();
    verify_non_membership(&t.root(), b"jj", &p).unwrap();

    let mut forged = t.prove_non_membership(b"e").unwrap();
    forged.right = None;
    let err = verify_non_membership(&t.root(), b"e", &forged).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing right neighbour: left neighbour is leaf 1, not the last of 5 leaves"
    );

    // The real shape: ground key 7 is above every key of its bucket.
    let t = ground_tree();
    let (_, g) = ground();
    let p = t.prove_non_membership(&g[7]).unwrap();
    assert!(p.right.is_none());
    assert_eq!(p.left.as_ref().unwrap().index, 3);
    verify_non_membership(&t.root(), &g[7], &p).unwrap();
    let mut forged = t.prove_non_membership(&g[5]).unwrap();
    forged.right = None;
    assert_eq!(
        verify_non_membership(&t.root(), &g[5], &forged).unwrap_err(),
        MerkleError::NotLast { index: 2, count: 4 }
    );
}

#[test]
fn non_membership_empty_bucket() {
    // 24 keys in 2^16 buckets: most keys fall in an empty bucket.
    let t = ground_tree();
    let p = t.prove_non_membership(b"elsewhere").unwrap();
    assert_eq!(
        (p.leaf_count, p.left.is_none(), p.right.is_none()),
        (0, true, true)
    );
    assert!(p.siblings.is_empty());
    verify_non_membership(&t.root(), b"elsewhere", &p).unwrap();

    // An empty-bucket proof for a key whose bucket is not empty: the root refuses it.
    let (_, g) = ground();
    let err = verify_non_membership(&t.root(), &g[3], &p).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
    let err = verify_non_membership(&t.root(), b"other/1", &p).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
    // Even with that bucket's own top-level path.
    let mut forged = p.clone();
    forged.top_siblings = t.prove_non_membership(&g[3]).unwrap().top_siblings;
    let err = verify_non_membership(&t.root(), &g[3], &forged).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
    // A claimed count without neighbours, or a padded proof.
    let err = verify_non_membership(
        &t.root(),
        b"elsewhere",
        &NonMembershipProof {
            leaf_count: 4,
            ..p.clone()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "non-membership proof has no neighbour leaves but claims 4 leaves"
    );
    let mut padded = p.clone();
    padded.siblings.push(Hash::ZERO);
    assert_eq!(
        verify_non_membership(&t.root(), b"elsewhere", &padded).unwrap_err(),
        MerkleError::ProofTooLong {
            expected: 0,
            got: 1
        }
    );
}

#[test]
fn non_membership_empty_tree() {
    let t = StateTree::new();
    assert!(t.is_empty());
    assert_eq!(t.root(), empty_root());
    assert_eq!(t.root(), StateTree::from_entries([]).root());
    let e = empty_subtrees();
    assert_eq!(t.root(), state_root(16, &e[16]));
    assert_eq!(empty_bucket_root(), bucket_root(0, &[0; 32]));
    let p = t.prove_non_membership(b"anything").unwrap();
    assert_eq!(
        p,
        NonMembershipProof {
            leaf_count: 0,
            left: None,
            right: None,
            siblings: vec![],
            top_siblings: e[..16].iter().map(|h| Hash(*h)).collect(),
        }
    );
    verify_non_membership(&t.root(), b"anything", &p).unwrap();
    assert!(t.prove_membership(b"anything").is_err());

    // Single bucket: the empty state is the one empty bucket.
    let t = StateTree::with_bucket_bits(0);
    assert_eq!(t.root(), state_root(0, empty_bucket_root().as_bytes()));
    let p = t.prove_non_membership(b"anything").unwrap();
    assert!(p.top_siblings.is_empty());
    verify_non_membership(&t.root(), b"anything", &p).unwrap();

    // An "empty" proof does not verify against a non-empty state, ...
    let err = verify_non_membership(&tree5().root(), b"c", &p).unwrap_err();
    assert!(matches!(err, MerkleError::RootMismatch { .. }), "{err}");
    // ... nor one claiming leaves without showing any, nor one with hashes.
    let err = verify_non_membership(
        &tree5().root(),
        b"c",
        &NonMembershipProof {
            leaf_count: 5,
            ..p.clone()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "non-membership proof has no neighbour leaves but claims 5 leaves"
    );
    let mut padded = p.clone();
    padded.siblings.push(Hash::ZERO);
    assert_eq!(
        verify_non_membership(&t.root(), b"c", &padded).unwrap_err(),
        MerkleError::ProofTooLong {
            expected: 0,
            got: 1
        }
    );
}

#[test]
fn non_membership_of_present_key_refused() {
    let t = tree5();
    assert_eq!(
        t.prove_non_membership(b"f").unwrap_err(),
        MerkleError::KeyPresent { key: k("f") }
    );
    // A valid proof for the gap ("d", "f") presented for "f".
    let p = t.prove_non_membership(b"e").unwrap();
    let err = verify_non_membership(&t.root(), b"f", &p).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("key exists: non-membership proof shows it"),
        "{err}"
    );
    let err = verify_non_membership(&t.root(), b"d", &p).unwrap_err();
    assert!(
        matches!(
            err,
            MerkleError::KeyExists {
                side: "left",
                index: 1,
                ..
            }
        ),
        "{err}"
    );
    // A key outside the gap.
    let err = verify_non_membership(&t.root(), b"g", &p).unwrap_err();
    assert!(
        matches!(err, MerkleError::NeighbourOutOfOrder { side: "right", .. }),
        "{err}"
    );
    let err = verify_non_membership(&t.root(), b"c", &p).unwrap_err();
    assert!(
        matches!(err, MerkleError::NeighbourOutOfOrder { side: "left", .. }),
        "{err}"
    );
    // StateProof says which way the expectation failed.
    let err = t.prove(b"f").verify(&t.root(), b"f", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected key 0x66 to be absent, but the proof shows it present"
    );
    let err = t
        .prove(b"e")
        .verify(&t.root(), b"e", Some(b"E"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected key 0x65 to be present, but the proof shows it absent"
    );

    // The real shape: the gap proof of ground key 3 (between 2 and 4).
    let t = ground_tree();
    let (_, g) = ground();
    let p = t.prove_non_membership(&g[3]).unwrap();
    assert!(matches!(
        verify_non_membership(&t.root(), &g[2], &p),
        Err(MerkleError::KeyExists { side: "left", .. })
    ));
    assert!(matches!(
        verify_non_membership(&t.root(), &g[4], &p),
        Err(MerkleError::KeyExists { side: "right", .. })
    ));
    assert!(matches!(
        verify_non_membership(&t.root(), &g[6], &p),
        Err(MerkleError::NeighbourOutOfOrder { side: "right", .. })
    ));
}

#[test]
fn non_membership_proof_from_another_bucket() {
    // A gap proof of one bucket presented for a key of another bucket.
    let t = ground_tree();
    let (b, g) = ground();
    let p = t.prove_non_membership(&g[3]).unwrap();
    let other = b"elsewhere";
    let other_bucket = bucket_of(other, 16);
    assert_ne!(other_bucket, *b);
    let err = verify_non_membership(&t.root(), other, &p).unwrap_err();
    assert_eq!(
        err,
        MerkleError::WrongBucket {
            key: other.to_vec(),
            bucket: other_bucket,
            neighbour: g[2].clone(),
            neighbour_bucket: *b,
            side: "left",
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "neighbour in another bucket: the left neighbour key 0x{} is in bucket {b}, key 0x{} is in bucket {other_bucket}",
            hex::encode(&g[2]),
            hex::encode(other)
        )
    );
    // A first-case proof (right neighbour only).
    let p = t.prove_non_membership(&g[0]).unwrap();
    assert!(matches!(
        verify_non_membership(&t.root(), other, &p),
        Err(MerkleError::WrongBucket { side: "right", .. })
    ));
}

/// Every proof that can verify against the root is (by collision resistance) an
/// honest proof of some leaves of the tree. Try every honest neighbour
/// configuration — each adjacent pair, the first leaf, the last leaf, the
/// empty bucket — for every present key: none may verify.
#[test]
fn no_non_membership_proof_for_present_key_exists() {
    for n in 1..=9 {
        let t = tree_n(n);
        let mut candidates = Vec::new();
        for i in 0..=n {
            // Honest proof of the gap at i (left = i-1, right = i), built via an absent probe.
            let probe = if i == 0 {
                Vec::new()
            } else {
                [format!("key{:04}", 2 * (i - 1)).into_bytes(), vec![0]].concat()
            };
            let p = t.prove_non_membership(&probe).unwrap();
            assert_eq!(
                p.right.as_ref().map(|r| r.index),
                (i < n).then_some(i as u64)
            );
            candidates.push(p);
        }
        candidates.push(NonMembershipProof {
            leaf_count: 0,
            left: None,
            right: None,
            siblings: vec![],
            top_siblings: vec![],
        });
        for i in 0..n {
            let key = format!("key{:04}", 2 * i).into_bytes();
            assert!(t.contains_key(&key));
            for p in &candidates {
                assert!(
                    verify_non_membership(&t.root(), &key, p).is_err(),
                    "n={n} key {i} proof {p:?}"
                );
            }
        }
    }
    // The real shape: every honest gap proof of the ground bucket and an
    // empty-bucket proof, against every present key of that bucket.
    let t = ground_tree();
    let (_, g) = ground();
    let mut candidates: Vec<NonMembershipProof> = [0, 3, 5, 7]
        .iter()
        .map(|&i| t.prove_non_membership(&g[i]).unwrap())
        .collect();
    let mut empty = t.prove_non_membership(b"elsewhere").unwrap();
    empty.top_siblings = candidates[0].top_siblings.clone();
    candidates.push(empty);
    for i in [1, 2, 4, 6] {
        for p in &candidates {
            assert!(verify_non_membership(&t.root(), &g[i], p).is_err());
        }
    }
}

#[test]
fn neighbours_not_adjacent() {
    let t = tree5();
    let mut p = t.prove_non_membership(b"e").unwrap();
    // Keep the left neighbour (leaf 1, "d"), swap in leaf 3 ("h") as right: "f" hides between.
    let h = t.prove_membership(b"h").unwrap();
    p.right = Some(NeighbourLeaf {
        index: 3,
        key: k("h"),
        value_hash: h.value_hash,
    });
    let err = verify_non_membership(&t.root(), b"f", &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "neighbours not adjacent: left leaf index 1, right leaf index 3"
    );
    // Lying about the index instead: the path no longer matches.
    p.right.as_mut().unwrap().index = 2;
    let err = verify_non_membership(&t.root(), b"f", &p).unwrap_err();
    assert!(
        matches!(
            err,
            MerkleError::RootMismatch { .. } | MerkleError::TruncatedProof { .. }
        ),
        "{err}"
    );
}

#[test]
fn non_membership_index_out_of_range_and_truncated() {
    let t = tree5();
    let mut p = t.prove_non_membership(b"z").unwrap();
    p.left.as_mut().unwrap().index = 5;
    assert_eq!(
        verify_non_membership(&t.root(), b"z", &p)
            .unwrap_err()
            .to_string(),
        "leaf index 5 out of range for 5 leaves"
    );

    let mut p = t.prove_non_membership(b"e").unwrap();
    let n = p.siblings.len();
    p.siblings.truncate(n - 1);
    assert_eq!(
        verify_non_membership(&t.root(), b"e", &p).unwrap_err(),
        MerkleError::TruncatedProof {
            expected: n,
            got: n - 1
        }
    );

    let t = ground_tree();
    let (_, g) = ground();
    // Ground key 3: leaves 1 and 2 of 4, proven with leaves 0 and 3.
    let mut p = t.prove_non_membership(&g[3]).unwrap();
    assert_eq!(p.siblings.len(), 2);
    p.siblings.pop();
    assert_eq!(
        verify_non_membership(&t.root(), &g[3], &p).unwrap_err(),
        MerkleError::TruncatedProof {
            expected: 2,
            got: 1
        }
    );
}

#[test]
fn single_leaf_tree() {
    let t = tree_bits(0, &["m"]);
    assert_eq!(t.len(), 1);
    let leaf = leaf_hash(b"m", &value_hash(b"M"));
    assert_eq!(
        t.root(),
        state_root(0, bucket_root(1, leaf.as_bytes()).as_bytes())
    );
    let p = t.prove_membership(b"m").unwrap();
    assert!(p.siblings.is_empty());
    verify_membership(&t.root(), b"m", b"M", &p).unwrap();
    assert!(verify_membership(&t.root(), b"m", b"N", &p).is_err());

    let below = t.prove_non_membership(b"a").unwrap();
    assert_eq!(
        (below.left.is_none(), below.right.as_ref().map(|r| r.index)),
        (true, Some(0))
    );
    verify_non_membership(&t.root(), b"a", &below).unwrap();
    let above = t.prove_non_membership(b"z").unwrap();
    assert_eq!(
        (above.left.as_ref().map(|l| l.index), above.right.is_none()),
        (Some(0), true)
    );
    verify_non_membership(&t.root(), b"z", &above).unwrap();
    assert!(verify_non_membership(&t.root(), b"m", &below).is_err());
    assert!(verify_non_membership(&t.root(), b"m", &above).is_err());
    // The single-leaf root differs from the bare leaf hash and from the empty root.
    assert_ne!(t.root(), leaf);
    assert_ne!(t.root(), StateTree::with_bucket_bits(0).root());
}

#[test]
fn interior_node_cannot_pose_as_leaf() {
    // Two-leaf bucket: its rs_merkle root is node(l0, l1). A one-leaf bucket whose
    // leaf equals that node would need leaf_hash(..) == node_hash(..): the tags differ.
    let t = tree_with(&["a", "b"]);
    let l0 = leaf_hash(b"a", &value_hash(b"A"));
    let l1 = leaf_hash(b"b", &value_hash(b"B"));
    let node = Hash::tagged(NODE_TAG, &[l0.as_bytes(), l1.as_bytes()]);
    assert_eq!(
        t.root(),
        state_root(0, bucket_root(2, node.as_bytes()).as_bytes())
    );
    assert_ne!(
        Hash::tagged(LEAF_TAG, &[l0.as_bytes(), l1.as_bytes()]),
        node
    );
    // Nor a top-level node as a bucket node, nor a bucket root as either.
    let top = Hash::tagged(TOP_NODE_TAG, &[l0.as_bytes(), l1.as_bytes()]);
    assert_ne!(top, node);
    let tags = [
        VALUE_TAG,
        LEAF_TAG,
        NODE_TAG,
        BUCKET_TAG,
        TOP_NODE_TAG,
        ROOT_TAG,
        KEY_BUCKET_TAG,
    ];
    for i in 0..tags.len() {
        for j in 0..i {
            assert_ne!(tags[i], tags[j]);
        }
    }
}

#[test]
fn duplicate_keys_last_wins_and_order_irrelevant() {
    let a = StateTree::from_entries([(k("x"), k("1")), (k("a"), k("2")), (k("x"), k("3"))]);
    let b = StateTree::from_entries([(k("a"), k("2")), (k("x"), k("3"))]);
    assert_eq!(a.root(), b.root());
    assert_eq!(a.len(), 2);
    assert_eq!(a.value_hash(b"x"), Some(value_hash(b"3")));
    let c: StateTree = [(k("x"), k("3")), (k("a"), k("2"))].into_iter().collect();
    assert_eq!(c.root(), a.root());
    let map: BTreeMap<Vec<u8>, Vec<u8>> = [(k("x"), k("3")), (k("a"), k("2"))].into();
    assert_eq!(StateTree::from(&map).root(), a.root());
}

#[test]
fn key_value_boundary_is_unambiguous() {
    // ("ab", "c") and ("a", "bc") must not share a leaf.
    let x = StateTree::from_entries([(k("ab"), k("c"))]);
    let y = StateTree::from_entries([(k("a"), k("bc"))]);
    assert_ne!(x.root(), y.root());
}

// ---- incremental updates ----

#[test]
fn insert_and_remove_report_and_track_the_state() {
    let mut t = StateTree::new();
    assert_eq!(t.insert(b"a", b"1"), None);
    assert_eq!(t.insert(b"b", b"2"), None);
    assert_eq!(t.insert(b"a", b"3"), Some(value_hash(b"1")));
    assert_eq!(t.len(), 2);
    assert_eq!(
        t.root(),
        StateTree::from_entries([(k("a"), k("3")), (k("b"), k("2"))]).root()
    );
    // Writing the same value again changes nothing.
    let root = t.root();
    assert_eq!(t.insert(b"a", b"3"), Some(value_hash(b"3")));
    assert_eq!(t.root(), root);
    assert_eq!(t.remove(b"zz"), None);
    assert_eq!(t.root(), root);
    assert_eq!(t.remove(b"a"), Some(value_hash(b"3")));
    assert!(!t.contains_key(b"a"));
    assert_eq!(t.value_hash(b"b"), Some(value_hash(b"2")));
    assert_eq!(t.remove(b"b"), Some(value_hash(b"2")));
    assert!(t.is_empty());
    assert_eq!(t.root(), empty_root());
    assert_eq!(
        format!("{t:?}"),
        format!(
            "StateTree {{ len: 0, bucket_bits: 16, root: {:?} }}",
            empty_root()
        )
    );
}

#[test]
fn apply_batches_match_a_rebuild() {
    for bits in [0u8, 2, 16] {
        let mut map: BTreeMap<Vec<u8>, Vec<u8>> = (0..300u32)
            .map(|i| (format!("r{i}").into_bytes(), i.to_be_bytes().to_vec()))
            .collect();
        let mut t = StateTree::from_map_with_bucket_bits(&map, bits);
        assert_eq!(t.bucket_bits(), bits);
        // A block: new keys, overwrites (some to the same value), removals of
        // present and absent keys, and one key written three times.
        let mut block: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        for i in 0..100u32 {
            let key = format!("r{}", i * 7).into_bytes();
            let write = match i % 4 {
                0 => None,
                1 => Some(b"new".to_vec()),
                2 => Some((i * 7).to_be_bytes().to_vec()), // unchanged
                _ => Some(vec![]),
            };
            block.push((key, write));
            block.push((format!("n{i}").into_bytes(), Some(vec![i as u8])));
            block.push((format!("absent{i}").into_bytes(), None));
        }
        block.push((k("twice"), Some(k("1"))));
        block.push((k("twice"), None));
        block.push((k("twice"), Some(k("2"))));
        for (key, write) in &block {
            match write {
                Some(v) => map.insert(key.clone(), v.clone()),
                None => map.remove(key),
            };
        }
        let root = t.apply(block);
        let rebuilt = StateTree::from_map_with_bucket_bits(&map, bits);
        assert_eq!(root, rebuilt.root(), "bits {bits}");
        assert_eq!(t.root(), root);
        assert_eq!(t.len(), map.len());
        for (key, value) in &map {
            verify_membership(&root, key, value, &t.prove_membership(key).unwrap()).unwrap();
        }
        for i in 0..50 {
            let key = format!("absent{i}").into_bytes();
            verify_non_membership(&root, &key, &t.prove_non_membership(&key).unwrap()).unwrap();
        }
        // An empty batch, or one that changes nothing, keeps the root.
        assert_eq!(t.apply([]), root);
        let same: Vec<_> = map
            .iter()
            .take(40)
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        assert_eq!(t.apply(same), root);
        // Removing everything gives the empty root of that bucket count.
        let all: Vec<_> = map.keys().map(|k| (k.clone(), None)).collect();
        assert_eq!(t.apply(all), StateTree::with_bucket_bits(bits).root());
        assert!(t.is_empty());
    }
}

#[test]
#[should_panic(expected = "bucket_bits 21 above the maximum 20")]
fn too_many_bucket_bits_panics() {
    let _ = StateTree::with_bucket_bits(MAX_BUCKET_BITS + 1);
}

// ---- agreement with rs_merkle ----

#[test]
fn bucket_layout_matches_rs_merkle() {
    for n in 1..=70usize {
        let t = tree_n(n);
        let leaves: Vec<[u8; 32]> = (0..n)
            .map(|i| {
                leaf_hash(
                    format!("key{:04}", 2 * i).as_bytes(),
                    &value_hash(&[i as u8; 3]),
                )
                .0
            })
            .collect();
        let rs = MerkleTree::<StateHasher>::from_leaves(&leaves);
        let bucket = bucket_root(n as u64, &rs.root().unwrap());
        assert_eq!(t.root(), state_root(0, bucket.as_bytes()), "n={n}");
        for i in 0..n {
            let p = t
                .prove_membership(format!("key{:04}", 2 * i).as_bytes())
                .unwrap();
            let rs_proof: Vec<Hash> = rs
                .proof(&[i])
                .proof_hashes()
                .iter()
                .map(|h| Hash(*h))
                .collect();
            assert_eq!(p.siblings, rs_proof, "n={n} i={i}");
            assert_eq!(expected_siblings(&[i], n), rs_proof.len());
            if i + 1 < n {
                let key = [format!("key{:04}", 2 * i).into_bytes(), vec![0]].concat();
                let p = t.prove_non_membership(&key).unwrap();
                let rs_proof: Vec<Hash> = rs
                    .proof(&[i, i + 1])
                    .proof_hashes()
                    .iter()
                    .map(|h| Hash(*h))
                    .collect();
                assert_eq!(p.siblings, rs_proof, "n={n} pair {i}");
                verify_non_membership(&t.root(), &key, &p).unwrap();
            }
        }
    }
}

/// The whole two-level tree recomputed independently: buckets grouped by
/// `bucket_of`, each bucket and the top level built by `rs_merkle`'s own
/// `MerkleTree`; the root and the top-level paths must agree.
#[test]
fn two_level_layout_matches_rs_merkle() {
    for bits in [1u8, 3, 16] {
        let mut map: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for i in 0..40u32 {
            map.insert(format!("k{i}").into_bytes(), vec![i as u8]);
        }
        // And the ground keys: one bucket of 8 under 16 bits.
        for key in &ground().1 {
            map.insert(key.clone(), b"g".to_vec());
        }
        let t = StateTree::from_map_with_bucket_bits(&map, bits);
        let mut buckets: Vec<Vec<[u8; 32]>> = vec![Vec::new(); 1 << bits];
        for (key, value) in &map {
            buckets[bucket_of(key, bits) as usize].push(leaf_hash(key, &value_hash(value)).0);
        }
        let roots: Vec<[u8; 32]> = buckets
            .iter()
            .map(
                |leaves| match MerkleTree::<StateHasher>::from_leaves(leaves).root() {
                    Some(inner) => bucket_root(leaves.len() as u64, &inner).0,
                    None => empty_bucket_root().0,
                },
            )
            .collect();
        let top = MerkleTree::<TopHasher>::from_leaves(&roots);
        assert_eq!(
            t.root(),
            state_root(bits, &top.root().unwrap()),
            "bits {bits}"
        );
        for key in map.keys().take(10).chain(&ground().1) {
            let b = bucket_of(key, bits) as usize;
            let expected: Vec<Hash> = top
                .proof(&[b])
                .proof_hashes()
                .iter()
                .map(|h| Hash(*h))
                .collect();
            assert_eq!(t.prove_membership(key).unwrap().top_siblings, expected);
        }
    }
}

#[test]
fn hashers_default_path_agrees() {
    use rs_merkle::Hasher;
    let (a, b) = ([1u8; 32], [2u8; 32]);
    let concat: Vec<u8> = [a, b].concat();
    assert_eq!(
        StateHasher::concat_and_hash(&a, Some(&b)),
        StateHasher::hash(&concat)
    );
    assert_eq!(StateHasher::concat_and_hash(&a, None), a);
    assert_eq!(
        TopHasher::concat_and_hash(&a, Some(&b)),
        TopHasher::hash(&concat)
    );
    assert_eq!(TopHasher::concat_and_hash(&a, None), a);
    assert_ne!(TopHasher::hash(&concat), StateHasher::hash(&concat));
    // The cached-tag-prefix node hashes are exactly `Hash::tagged`.
    for (l, r) in [(a, b), (b, a), ([0; 32], [0xff; 32])] {
        assert_eq!(
            StateHasher::concat_and_hash(&l, Some(&r)),
            Hash::tagged(NODE_TAG, &[&l, &r]).0
        );
        assert_eq!(
            TopHasher::concat_and_hash(&l, Some(&r)),
            Hash::tagged(TOP_NODE_TAG, &[&l, &r]).0
        );
    }
}

// ---- encodings ----

#[test]
fn encodings_round_trip() {
    for t in [tree5(), ground_tree()] {
        for key in ["a", "b", "e", "j", "z", "other/4"] {
            let p = t.prove(key.as_bytes());
            let bytes = borsh::to_vec(&p).unwrap();
            assert_eq!(borsh::from_slice::<StateProof>(&bytes).unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<StateProof>(&json).unwrap(), p);
        }
    }
    let json = serde_json::to_value(tree5().prove(b"b")).unwrap();
    assert_eq!(json["membership"]["key"], "62");
    assert_eq!(json["membership"]["leaf_count"], 5);
    assert_eq!(json["membership"]["top_siblings"], serde_json::json!([]));
    let json = serde_json::to_value(ground_tree().prove(b"other/4")).unwrap();
    assert_eq!(
        json["membership"]["top_siblings"].as_array().unwrap().len(),
        16
    );
}

#[test]
fn hostile_length_prefix_is_refused() {
    // Key length prefix 0xffffffff with 3 bytes behind it.
    let mut bytes = vec![0u8]; // StateProof::Membership
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(b"abc");
    assert!(borsh::from_slice::<StateProof>(&bytes).is_err());
    // Top-level sibling count 0xffffffff.
    let mut p = tree5().prove_membership(b"b").unwrap();
    p.top_siblings.clear();
    let mut bytes = borsh::to_vec(&p).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[7; 40]);
    assert!(borsh::from_slice::<MembershipProof>(&bytes).is_err());
    // Trailing bytes.
    let mut bytes = borsh::to_vec(&tree5().prove(b"c")).unwrap();
    bytes.push(0);
    assert!(borsh::from_slice::<StateProof>(&bytes).is_err());
}

#[test]
fn error_messages_abbreviate_long_keys() {
    let long = vec![0xabu8; 1000];
    let msg = MerkleError::KeyAbsent { key: long }.to_string();
    assert!(msg.contains("(1000 bytes)") && msg.len() < 200, "{msg}");
    assert!(
        MerkleError::KeyAbsent { key: vec![] }
            .to_string()
            .contains("(empty)")
    );
}

/// With exactly the sibling count the shape requires, rs_merkle is reached for
/// every index layout, including absurd leaf counts: it must not panic, and
/// the fast path (our layers into `PartialTree::build`) must give the same
/// root as `MerkleProof::root`, with either hasher.
#[test]
fn fast_path_matches_merkle_proof_root_for_every_layout() {
    use super::hashing::{recompute_inner, recompute_inner_via_merkle_proof};
    let check = |count: u64, indices: &[u64]| {
        let n = usize::try_from(count).unwrap();
        let idx: Vec<usize> = indices.iter().map(|&i| i as usize).collect();
        let siblings: Vec<Hash> = (0..expected_siblings(&idx, n))
            .map(|s| Hash::digest(&[s as u8, 1]))
            .collect();
        let leaves: Vec<(u64, Hash)> = indices
            .iter()
            .map(|&i| (i, Hash::digest(&i.to_le_bytes())))
            .collect();
        let fast = recompute_inner::<StateHasher>(count, &leaves, &siblings)
            .unwrap_or_else(|e| panic!("{count} {indices:?}: {e}"));
        let reference =
            recompute_inner_via_merkle_proof::<StateHasher>(count, &leaves, &siblings).unwrap();
        assert_eq!(fast, reference, "{count} {indices:?}");
        if count.is_power_of_two() && indices.len() == 1 {
            let fast = recompute_inner::<TopHasher>(count, &leaves, &siblings).unwrap();
            let reference =
                recompute_inner_via_merkle_proof::<TopHasher>(count, &leaves, &siblings).unwrap();
            assert_eq!(fast, reference, "top {count} {indices:?}");
        }
    };
    for count in 1..=130u64 {
        for i in 0..count {
            check(count, &[i]);
            if i + 1 < count {
                check(count, &[i, i + 1]);
            }
        }
    }
    let big = [
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
        (1 << 63) + 1,
        (1 << 32) + 3,
        (1 << 20) + 1,
        1 << 20,
        1 << 16,
    ];
    for count in big {
        for i in [0, 1, count / 2, count / 2 + 1, count - 2, count - 1] {
            check(count, &[i]);
            if i + 1 < count {
                check(count, &[i, i + 1]);
            }
        }
    }
}

#[test]
fn sibling_layout_matches_rs_merkle_indices() {
    // rs_merkle's own (doc-hidden) layout function, layer by layer.
    for n in 1..=100usize {
        for i in 0..n {
            let mut ours: Vec<Vec<usize>> = Vec::new();
            let mut record = |layer: usize, pos: usize| {
                ours.resize_with(ours.len().max(layer + 1), Vec::new);
                ours[layer].push(pos);
            };
            super::hashing::for_each_sibling(&[i], n, &mut record);
            let theirs: Vec<usize> =
                rs_merkle::utils::indices::proof_indices_by_layers(&[i], n).concat();
            assert_eq!(ours.concat(), theirs, "n={n} i={i}");
            if i + 1 < n {
                let mut ours = Vec::new();
                super::hashing::for_each_sibling(&[i, i + 1], n, |_, pos| ours.push(pos));
                let theirs =
                    rs_merkle::utils::indices::proof_indices_by_layers(&[i, i + 1], n).concat();
                assert_eq!(ours, theirs, "n={n} pair {i}");
            }
        }
    }
}
