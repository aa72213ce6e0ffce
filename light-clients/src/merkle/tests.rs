//! Every verdict of the verifiers, and agreement with `rs_merkle`.

use protocol::Hash;
use rs_merkle::MerkleTree;

use super::hashing::expected_siblings;
use super::*;

fn k(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Keys "b", "d", "f", "h", "j" with values "B", "D", ...
fn tree5() -> StateTree {
    StateTree::from_entries(["b", "d", "f", "h", "j"].map(|s| (k(s), k(&s.to_uppercase()))))
}

fn tree_n(n: usize) -> StateTree {
    StateTree::from_entries(
        (0..n).map(|i| (format!("key{:04}", 2 * i).into_bytes(), vec![i as u8; 3])),
    )
}

// ---- membership ----

#[test]
fn valid_membership() {
    let t = tree5();
    for (key, value) in [("b", "B"), ("f", "F"), ("j", "J")] {
        let p = t.prove_membership(key.as_bytes()).unwrap();
        verify_membership(&t.root(), key.as_bytes(), value.as_bytes(), &p).unwrap();
        t.prove(key.as_bytes())
            .verify(&t.root(), key.as_bytes(), Some(value.as_bytes()))
            .unwrap();
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
}

#[test]
fn membership_against_another_root() {
    let t = tree5();
    let other = StateTree::from_entries([(k("b"), k("B")), (k("d"), k("D2"))]);
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
            // 6..=8 leaves need the same 3 siblings for leaf 0: only the root binding catches it.
            assert!(
                matches!(err, MerkleError::RootMismatch { .. }),
                "{count}: {err}"
            );
        }
    }

    // Pretend the state ends at "f" (3 leaves) to "prove" that "g" (< "h") is
    // above every key: the real tree has 5 leaves, so the root refuses it.
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
}

fn tree_with(keys: &[&str]) -> StateTree {
    StateTree::from_entries(keys.iter().map(|s| (k(s), k(&s.to_uppercase()))))
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
}

#[test]
fn prove_membership_of_absent_key_fails() {
    let t = tree5();
    assert_eq!(
        t.prove_membership(b"c").unwrap_err().to_string(),
        "key 0x63 is not in the state: no membership proof exists"
    );
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
}

#[test]
fn non_membership_empty_tree() {
    let t = StateTree::from_entries([]);
    assert!(t.is_empty());
    assert_eq!(t.root(), empty_root());
    assert_eq!(t.root(), state_root(0, &[0; 32]));
    let p = t.prove_non_membership(b"anything").unwrap();
    assert_eq!(
        p,
        NonMembershipProof {
            leaf_count: 0,
            left: None,
            right: None,
            siblings: vec![]
        }
    );
    verify_non_membership(&t.root(), b"anything", &p).unwrap();
    assert!(t.prove_membership(b"anything").is_err());

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
}

/// Every proof that can verify against the root is (by collision resistance) an
/// honest proof of some leaves of the tree. Try every honest neighbour
/// configuration — each adjacent pair, the first leaf, the last leaf, the
/// empty state — for every present key: none may verify.
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
}

#[test]
fn single_leaf_tree() {
    let t = StateTree::from_entries([(k("m"), k("M"))]);
    assert_eq!(t.len(), 1);
    assert_eq!(
        t.root(),
        state_root(1, leaf_hash(b"m", &value_hash(b"M")).as_bytes())
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
    assert_ne!(t.root(), leaf_hash(b"m", &value_hash(b"M")));
    assert_ne!(t.root(), empty_root());
}

#[test]
fn interior_node_cannot_pose_as_leaf() {
    // Two-leaf tree: the rs_merkle root is node(l0, l1). A one-leaf "tree" whose
    // leaf equals that node would need leaf_hash(..) == node_hash(..): the tags differ.
    let t = tree_with(&["a", "b"]);
    let l0 = leaf_hash(b"a", &value_hash(b"A"));
    let l1 = leaf_hash(b"b", &value_hash(b"B"));
    let node = Hash::tagged(NODE_TAG, &[l0.as_bytes(), l1.as_bytes()]);
    assert_eq!(t.root(), state_root(2, node.as_bytes()));
    assert_ne!(
        Hash::tagged(LEAF_TAG, &[l0.as_bytes(), l1.as_bytes()]),
        node
    );
}

#[test]
fn duplicate_keys_last_wins_and_order_irrelevant() {
    let a = StateTree::from_entries([(k("x"), k("1")), (k("a"), k("2")), (k("x"), k("3"))]);
    let b = StateTree::from_entries([(k("a"), k("2")), (k("x"), k("3"))]);
    assert_eq!(a.root(), b.root());
    assert_eq!(a.len(), 2);
    assert_eq!(a.value_hash(b"x"), Some(value_hash(b"3")));
}

#[test]
fn key_value_boundary_is_unambiguous() {
    // ("ab", "c") and ("a", "bc") must not share a leaf.
    let x = StateTree::from_entries([(k("ab"), k("c"))]);
    let y = StateTree::from_entries([(k("a"), k("bc"))]);
    assert_ne!(x.root(), y.root());
}

// ---- agreement with rs_merkle ----

#[test]
fn layout_matches_rs_merkle() {
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
        assert_eq!(t.root(), state_root(n as u64, &rs.root().unwrap()), "n={n}");
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

#[test]
fn state_hasher_default_path_agrees() {
    use rs_merkle::Hasher;
    let (a, b) = ([1u8; 32], [2u8; 32]);
    let concat: Vec<u8> = [a, b].concat();
    assert_eq!(
        StateHasher::concat_and_hash(&a, Some(&b)),
        StateHasher::hash(&concat)
    );
    assert_eq!(StateHasher::concat_and_hash(&a, None), a);
}

// ---- encodings ----

#[test]
fn encodings_round_trip() {
    let t = tree5();
    for key in ["a", "b", "e", "j", "z"] {
        let p = t.prove(key.as_bytes());
        let bytes = borsh::to_vec(&p).unwrap();
        assert_eq!(borsh::from_slice::<StateProof>(&bytes).unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<StateProof>(&json).unwrap(), p);
    }
    let json = serde_json::to_value(t.prove(b"b")).unwrap();
    assert_eq!(json["membership"]["key"], "62");
    assert_eq!(json["membership"]["leaf_count"], 5);
}

#[test]
fn hostile_length_prefix_is_refused() {
    // Key length prefix 0xffffffff with 3 bytes behind it.
    let mut bytes = vec![0u8]; // StateProof::Membership
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(b"abc");
    assert!(borsh::from_slice::<StateProof>(&bytes).is_err());
    // Sibling count 0xffffffff.
    let mut p = tree5().prove_membership(b"b").unwrap();
    p.siblings.clear();
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
/// root as `MerkleProof::root`.
#[test]
fn fast_path_matches_merkle_proof_root_for_every_layout() {
    use super::hashing::{recompute_root, recompute_root_via_merkle_proof};
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
        let fast = recompute_root(count, &leaves, &siblings)
            .unwrap_or_else(|e| panic!("{count} {indices:?}: {e}"));
        let reference = recompute_root_via_merkle_proof(count, &leaves, &siblings).unwrap();
        assert_eq!(fast, reference, "{count} {indices:?}");
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
