//! The log's chain, checkpoints, proofs, exports and stored copy: every
//! alteration of a past entry is caught and named.

use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use protocol::{Currency, Hash, Money, Packet, Time};
use serde_json::json;

use super::*;
use crate::store::Store;

const ENTERPRISE_A: &str = "91350100M000100Y43";
const ENTERPRISE_B: &str = "91110000600037341L";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(key: &SigningKey) -> protocol::PublicKey {
    crate::registry::signing::public_key(key)
}

fn time(secs: u64) -> Time {
    Time::from_unix_nanos(1_800_000_000_000_000_000 + secs * 1_000_000_000)
}

/// A varied record: kinds, requesters, enterprises, chains and outcomes
/// cycle with `i`.
fn record(i: u64) -> AuditRecord {
    let chains = ["shaanxi", "guangdong", "zhejiang"];
    let requesters = ["bank-of-xian", "bureau-gd", "lender-zj"];
    let enterprises = [ENTERPRISE_A, ENTERPRISE_B];
    let outcomes = [
        Outcome::Committed,
        Outcome::Answered,
        Outcome::Refused("consent: expired".into()),
        Outcome::TimedOut,
        Outcome::Acknowledged,
    ];
    let kinds = [
        MessageKind::CreditQuery,
        MessageKind::CreditResponse,
        MessageKind::Attestation,
        MessageKind::AggregationRequest,
        MessageKind::AggregationPartial,
        MessageKind::ChainRegistration,
    ];
    AuditRecord {
        time: time(i),
        source: chains[i as usize % 3].parse().unwrap(),
        destination: chains[(i as usize + 1) % 3].parse().unwrap(),
        packet_sequence: i + 1,
        kind: kinds[i as usize % kinds.len()],
        requester: Some(requesters[i as usize % 3].parse().unwrap()),
        enterprise: Some(enterprises[i as usize % 2].parse().unwrap()),
        purpose: format!("working capital loan, \"tranche\" {i}"),
        consent_id: (!i.is_multiple_of(4)).then(|| Hash::digest(&i.to_be_bytes())),
        fee: (!i.is_multiple_of(3)).then_some(Money {
            minor_units: 500 + i,
            currency: Currency::CNY,
        }),
        outcome: outcomes[i as usize % outcomes.len()].clone(),
    }
}

fn log_of(n: u64) -> (AuditLog, Vec<AuditEntry>) {
    let mut log = AuditLog::new();
    let entries = (0..n).map(|i| log.append(record(i))).collect();
    (log, entries)
}

/// Every way to alter one field of an entry.
/// A named way to alter an entry.
type Alteration = (&'static str, fn(&mut AuditEntry));

fn alterations() -> Vec<Alteration> {
    vec![
        ("sequence", |e| e.sequence += 1),
        ("time", |e| {
            e.record.time = Time::from_unix_nanos(e.record.time.unix_nanos() + 1)
        }),
        ("source", |e| e.record.source = "hainan".parse().unwrap()),
        ("destination", |e| {
            e.record.destination = "hainan".parse().unwrap()
        }),
        ("packet_sequence", |e| e.record.packet_sequence += 1),
        ("kind", |e| {
            e.record.kind = if e.record.kind == MessageKind::Attestation {
                MessageKind::CreditQuery
            } else {
                MessageKind::Attestation
            }
        }),
        ("requester", |e| {
            e.record.requester = Some("someone-else".parse().unwrap())
        }),
        ("enterprise", |e| e.record.enterprise = None),
        ("purpose", |e| e.record.purpose.push('!')),
        ("consent_id", |e| {
            e.record.consent_id = Some(Hash::digest(b"forged consent"))
        }),
        ("fee", |e| {
            e.record.fee = Some(Money {
                minor_units: 1,
                currency: Currency::CNY,
            })
        }),
        ("outcome", |e| {
            e.record.outcome = Outcome::Refused("rewritten".into())
        }),
        ("prev_hash", |e| e.prev_hash = Hash::digest(b"elsewhere")),
    ]
}

#[test]
fn a_chain_of_1000_entries_appends_and_verifies() {
    let started = Instant::now();
    let (log, entries) = log_of(1_000);
    let appended = started.elapsed();
    let started = Instant::now();
    verify_chain(&entries).unwrap();
    let verified = started.elapsed();
    eprintln!("1,000 entries: append {appended:?}, verify_chain {verified:?} (in memory)");
    assert_eq!(log.len(), 1_000);
    assert_eq!(entries[0].prev_hash, Hash::ZERO);
    for pair in entries.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash());
        assert_eq!(pair[1].sequence, pair[0].sequence + 1);
    }
    assert_eq!(
        log.head(),
        Some(AuditHead {
            sequence: 999,
            hash: entries[999].hash()
        })
    );
    assert_eq!(
        AuditLog::from_entries(&entries).unwrap().hashes(),
        log.hashes()
    );
}

#[test]
fn altering_any_field_of_a_past_entry_breaks_the_chain_at_that_entry() {
    let (_, entries) = log_of(50);
    for (field, alter) in alterations() {
        for k in [0u64, 17, 48] {
            let mut copy = entries.clone();
            alter(&mut copy[k as usize]);
            let err = verify_chain(&copy).unwrap_err();
            let expected = match field {
                // A link rewritten points at the entry before it.
                "prev_hash" if k > 0 => k - 1,
                _ => k,
            };
            assert_eq!(
                err.tampered_entry(),
                Some(expected),
                "{field} of entry {k}: {err}"
            );
            assert!(
                err.to_string().contains(&format!("entry {expected}")),
                "{err}"
            );
        }
    }
    // Removing or reordering entries breaks the sequence.
    let mut removed = entries.clone();
    removed.remove(20);
    assert_eq!(
        verify_chain(&removed).unwrap_err(),
        AuditError::Sequence {
            position: 20,
            found: 21
        }
    );
    let mut swapped = entries.clone();
    swapped.swap(5, 6);
    assert_eq!(
        verify_chain(&swapped).unwrap_err().tampered_entry(),
        Some(5)
    );
}

#[test]
fn checkpoints_commit_to_every_entry_and_only_the_regulator_signs_them() {
    let regulator = key(1);
    let intruder = key(2);
    let (log, entries) = log_of(100);
    let checkpoint = log.checkpoint(time(1_000), &regulator).unwrap();
    assert_eq!(checkpoint.checkpoint.upto, 99);
    assert_eq!(checkpoint.checkpoint.head_hash, entries[99].hash());
    verify_checkpoint(&entries, &checkpoint, &public(&regulator)).unwrap();

    // Signed by another key: refused, naming both keys.
    let forged = log.checkpoint(time(1_000), &intruder).unwrap();
    let err = verify_checkpoint(&entries, &forged, &public(&regulator)).unwrap_err();
    assert!(
        matches!(err, AuditError::CheckpointSigner { upto: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&public(&intruder).to_string()));
    // Claiming the regulator's key without its signature: refused.
    let mut claimed = forged.clone();
    claimed.signer = public(&regulator);
    assert_eq!(
        verify_checkpoint(&entries, &claimed, &public(&regulator)).unwrap_err(),
        AuditError::CheckpointSignature { upto: 99 }
    );
    // A signed field altered: the signature no longer holds.
    let mut moved = checkpoint.clone();
    moved.checkpoint.upto = 98;
    assert_eq!(
        verify_checkpoint(&entries, &moved, &public(&regulator)).unwrap_err(),
        AuditError::CheckpointSignature { upto: 98 }
    );

    // Rewriting the whole chain after entry 40 (every later link redone)
    // passes the chain check but not the checkpoint.
    let mut rewritten = entries[..40].to_vec();
    let mut relog = AuditLog::from_entries(&rewritten).unwrap();
    for i in 40..100 {
        let mut r = record(i);
        if i == 40 {
            r.purpose = "nothing to see".into();
        }
        rewritten.push(relog.append(r));
    }
    verify_chain(&rewritten).unwrap();
    let err = verify_checkpoint(&rewritten, &checkpoint, &public(&regulator)).unwrap_err();
    assert!(
        matches!(err, AuditError::CheckpointHead { upto: 99, .. }),
        "{err}"
    );
    // An earlier checkpoint over a rewritten prefix: the root differs.
    let early = SignedCheckpoint::sign(
        Checkpoint {
            upto: 60,
            merkle_root: log.root(60).unwrap(),
            head_hash: rewritten[60].hash(),
            time: time(2_000),
        },
        &regulator,
    );
    let err = verify_checkpoint(&rewritten, &early, &public(&regulator)).unwrap_err();
    assert!(
        matches!(err, AuditError::CheckpointRoot { upto: 60, .. }),
        "{err}"
    );
    // Truncated below a checkpoint.
    let err = verify_checkpoint(&entries[..50], &checkpoint, &public(&regulator)).unwrap_err();
    assert_eq!(
        err,
        AuditError::CheckpointBeyondLog {
            upto: 99,
            entries: 50
        }
    );
    assert_eq!(
        AuditLog::new().checkpoint(time(0), &regulator).unwrap_err(),
        AuditError::EmptyLog
    );
}

/// The root by the plain rs_merkle layout, for reference.
fn reference_root(leaves: &[Hash]) -> Hash {
    let mut layer = leaves.to_vec();
    while layer.len() > 1 {
        let mut next = Vec::new();
        for pair in layer.chunks(2) {
            next.push(if pair.len() == 2 {
                Hash::tagged(merkle::NODE_TAG, &[&pair[0].0, &pair[1].0])
            } else {
                pair[0]
            });
        }
        layer = next;
    }
    layer[0]
}

#[test]
fn the_rs_merkle_tree_is_sound_for_every_size_up_to_70() {
    let leaves: Vec<Hash> = (0..70u64)
        .map(|i| Hash::tagged(super::entry::ENTRY_TAG, &[&i.to_be_bytes()]))
        .collect();
    assert_eq!(merkle::root(&[]), Hash::ZERO);
    for count in 1..=leaves.len() {
        let tree = &leaves[..count];
        let root = merkle::root(tree);
        assert_eq!(root, reference_root(tree), "{count} leaves");
        if count == 1 {
            // One leaf: the root is the entry hash itself, proven by no sibling.
            assert_eq!(root, tree[0]);
        }
        for index in 0..count as u64 {
            let proof = merkle::prove(tree, index).unwrap();
            assert_eq!(proof.leaf_count, count as u64);
            assert_eq!(
                merkle::root_of(&tree[index as usize], &proof).unwrap(),
                root
            );
            // Another leaf, or any sibling altered, leads elsewhere.
            let other = &leaves[(index as usize + 1) % leaves.len()];
            assert_ne!(merkle::root_of(other, &proof).ok(), Some(root));
            for k in 0..proof.siblings.len() {
                let mut bad = proof.clone();
                bad.siblings[k].0[31] ^= 1;
                assert_ne!(merkle::root_of(&tree[index as usize], &bad).unwrap(), root);
            }
            // A surplus or missing sibling is refused, not ignored.
            let mut long = proof.clone();
            long.siblings.push(root);
            assert!(matches!(
                merkle::root_of(&tree[index as usize], &long),
                Err(AuditError::ProofShape { .. })
            ));
        }
        assert!(matches!(
            merkle::prove(tree, count as u64),
            Err(AuditError::ProofOutOfRange { .. })
        ));
    }
    // Untrusted proofs never panic: huge or inconsistent sizes are errors.
    for (sequence, leaf_count) in [(u64::MAX - 1, u64::MAX), (5, 5), (0, 0), (1 << 40, 1 << 41)] {
        let proof = merkle::InclusionProof {
            sequence,
            leaf_count,
            siblings: vec![Hash::ZERO; 3],
        };
        assert!(merkle::root_of(&leaves[0], &proof).is_err());
    }
    // An interior node is never an entry: a 2-leaf proof over the nodes of
    // a 4-leaf tree reaches its root only under another leaf count, which
    // the checkpoint binds (see the next test).
    let n01 = Hash::tagged(merkle::NODE_TAG, &[&leaves[0].0, &leaves[1].0]);
    assert!(!leaves.contains(&n01));
}

#[test]
fn inclusion_proofs_verify_and_fail_when_tampered() {
    let regulator = key(1);
    let (log, entries) = log_of(37);
    for upto in [0u64, 1, 2, 5, 15, 16, 31, 36] {
        let root = log.root(upto).unwrap();
        assert_eq!(root, reference_root(&log.hashes()[..=upto as usize]));
        let checkpoint = Checkpoint {
            upto,
            merkle_root: root,
            head_hash: entries[upto as usize].hash(),
            time: time(0),
        };
        for seq in 0..=upto {
            let proof = log.prove(seq, upto).unwrap();
            verify_inclusion(&entries[seq as usize], &proof, &checkpoint).unwrap();
            // The entry altered.
            let mut altered = entries[seq as usize].clone();
            altered.record.purpose.push('x');
            assert_eq!(
                verify_inclusion(&altered, &proof, &checkpoint).unwrap_err(),
                AuditError::NotIncluded {
                    sequence: seq,
                    upto
                }
            );
            // A sibling altered, one dropped, one added.
            if !proof.siblings.is_empty() {
                let mut bad = proof.clone();
                bad.siblings[0].0[0] ^= 1;
                assert!(verify_inclusion(&entries[seq as usize], &bad, &checkpoint).is_err());
                let mut short = proof.clone();
                short.siblings.pop();
                assert!(matches!(
                    verify_inclusion(&entries[seq as usize], &short, &checkpoint),
                    Err(AuditError::ProofShape { .. })
                ));
            }
            let mut long = proof.clone();
            long.siblings.push(Hash::ZERO);
            assert!(matches!(
                verify_inclusion(&entries[seq as usize], &long, &checkpoint),
                Err(AuditError::ProofShape { .. })
            ));
            // Another entry presented with this proof.
            if seq > 0 {
                assert!(verify_inclusion(&entries[seq as usize - 1], &proof, &checkpoint).is_err());
            }
        }
    }
    // A proof over another tree size than the checkpoint's.
    let signed = log.checkpoint(time(0), &regulator).unwrap();
    let proof = log.prove(3, 20).unwrap();
    assert!(matches!(
        verify_inclusion(&entries[3], &proof, &signed.checkpoint),
        Err(AuditError::ProofShape { .. })
    ));
    assert!(matches!(
        log.prove(40, 36),
        Err(AuditError::ProofOutOfRange { .. })
    ));
    assert!(log.prove(0, 37).is_err());
}

#[test]
fn filters_and_exports() {
    let (_, entries) = log_of(30);
    let filter = AuditFilter {
        enterprise: Some(ENTERPRISE_A.parse().unwrap()),
        institution: Some("bank-of-xian".parse().unwrap()),
        chain: Some("shaanxi".parse().unwrap()),
        since: Some(time(6)),
        until: Some(time(24)),
    };
    let kept: Vec<u64> = filter.apply(entries.clone()).map(|e| e.sequence).collect();
    // i even (A), i % 3 == 0 (bank-of-xian, from shaanxi), 6 <= i < 24.
    assert_eq!(kept, vec![6, 12, 18]);
    let by_chain = AuditFilter {
        chain: Some("guangdong".parse().unwrap()),
        ..AuditFilter::default()
    };
    // guangdong is the destination of i % 3 == 0 and the source of i % 3 == 1.
    assert_eq!(filter_count(&by_chain, &entries), 20);
    assert_eq!(filter_count(&AuditFilter::default(), &entries), 30);

    let csv = to_csv(&entries[..3]);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], CSV_HEADER);
    assert_eq!(lines.len(), 5, "header, 3 rows, and the empty tail");
    assert_eq!(lines[4], "");
    // The purpose holds a comma and quotes: quoted, quotes doubled.
    assert!(
        lines[1].contains(r#","working capital loan, ""tranche"" 0","#),
        "{}",
        lines[1]
    );
    assert!(lines[1].starts_with(&format!("0,{},{},", entries[0].hash(), Hash::ZERO)));
    assert!(
        lines[3].ends_with(",refused,consent: expired"),
        "{}",
        lines[3]
    );
    assert_eq!(csv_field("plain"), "plain");
    assert_eq!(csv_field("a\nb"), "\"a\nb\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");

    let json = to_json(&entries[..3]);
    assert_eq!(json[0]["hash"], json!(entries[0].hash().to_string()));
    assert_eq!(json[0]["sequence"], json!(0));
    assert_eq!(
        json[2]["outcome"],
        json!({"status": "refused", "reason": "consent: expired"})
    );
    assert_eq!(json[1]["kind"], json!("credit_response"));
    // JSON round-trips to the same entries (and hashes).
    let back: Vec<AuditEntry> = serde_json::from_value(json).unwrap();
    assert_eq!(back, entries[..3]);
}

fn filter_count(filter: &AuditFilter, entries: &[AuditEntry]) -> usize {
    filter.apply(entries.to_vec()).count()
}

/// An aggregation partial with a recognisable ciphertext; the JSON carries
/// every field any version of the payload has (unknown ones are ignored).
fn aggregation_packets() -> (Packet, Packet, Vec<u8>, Vec<u8>) {
    let ciphertext: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37) ^ 0xA5).collect();
    let encryption_key: Vec<u8> = (0..32u8).map(|b| b.wrapping_mul(91) ^ 0x3C).collect();
    let partial = serde_json::from_value(json!({
        "source": "guangdong", "destination": "shaanxi", "sequence": 3,
        "timeout_height": null, "timeout_time": null,
        "payload": {"kind": "aggregation_partial", "body": {
            "aggregation_id": Hash::digest(b"agg").to_string(),
            "chain": "guangdong", "providers": 4, "expected": 4, "missing": [], "records": 9,
            "ciphertext": hex::encode(&ciphertext), "proof": hex::encode([7u8; 48]),
        }}
    }))
    .unwrap();
    let request = serde_json::from_value(json!({
        "source": "shaanxi", "destination": "guangdong", "sequence": 2,
        "timeout_height": null, "timeout_time": null,
        "payload": {"kind": "aggregation_request", "body": {
            "aggregation_id": Hash::digest(b"agg").to_string(),
            "requester": "bank-of-xian", "enterprise": ENTERPRISE_A, "kinds": ["loan"],
            "purpose": "total loans", "consent_id": Hash::digest(b"consent").to_string(),
            "scheme": "exp-elgamal-ristretto255-fen-v2", "encryption_key": hex::encode(&encryption_key),
            "contribution_deadline": "2027-01-01T00:00:00Z",
        }}
    }))
    .unwrap();
    (request, partial, ciphertext, encryption_key)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_entry_carries_an_aggregation_ciphertext_or_key() {
    // The fields of an entry, all of them: a new field must be added here,
    // and so be looked at by whoever adds it.
    let (_, entries) = log_of(1);
    let AuditEntry {
        sequence: _,
        record,
        prev_hash: _,
    } = entries[0].clone();
    let AuditRecord {
        time: _,
        source: _,
        destination: _,
        packet_sequence: _,
        kind: _,
        requester: _,
        enterprise: _,
        purpose: _,
        consent_id: _,
        fee: _,
        outcome: _,
    } = record;

    let (request, partial, ciphertext, encryption_key) = aggregation_packets();
    let mut log = AuditLog::new();
    for (packet, outcome) in [
        (&request, Outcome::Committed),
        (&partial, Outcome::Acknowledged),
    ] {
        let entry = log.append(AuditRecord::from_packet(packet, outcome, time(5)));
        let bytes = entry.to_bytes();
        let json = serde_json::to_string(&to_json([&entry])).unwrap();
        let csv = to_csv([&entry]);
        for secret in [&ciphertext[..], &encryption_key[..], &[7u8; 48][..]] {
            assert!(
                !contains(&bytes, secret),
                "{:?} carries secret bytes",
                entry.record.kind
            );
            for text in [&json, &csv] {
                assert!(!text.contains(&hex::encode(secret)), "{text}");
            }
        }
        let value = &to_json([&entry])[0];
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        for forbidden in ["ciphertext", "proof", "encryption_key", "records"] {
            assert!(!keys.iter().any(|k| k.as_str() == forbidden), "{keys:?}");
        }
    }
    let entries: Vec<AuditEntry> = serde_json::from_value(to_json([])).unwrap();
    assert!(entries.is_empty());
}

#[test]
fn records_from_packets_keep_the_metadata() {
    let query: Packet =
        serde_json::from_str(include_str!("../../../protocol/tests/data/packet.json")).unwrap();
    let r = AuditRecord::from_packet(&query, Outcome::Committed, time(1));
    assert_eq!(r.kind, MessageKind::CreditQuery);
    assert_eq!(r.requester.unwrap().as_str(), "bank-of-xian");
    assert_eq!(r.enterprise.unwrap().as_str(), ENTERPRISE_A);
    assert_eq!(r.purpose, "working capital loan application");
    assert!(r.consent_id.is_some());
    assert_eq!(r.fee.unwrap().minor_units, 500);
    assert_eq!(
        (r.source.as_str(), r.destination.as_str(), r.packet_sequence),
        ("shaanxi", "guangdong", 7)
    );
    let (request, partial, _, _) = aggregation_packets();
    let r = AuditRecord::from_packet(&request, Outcome::Committed, time(1));
    assert_eq!(r.kind, MessageKind::AggregationRequest);
    assert_eq!(r.requester.unwrap().as_str(), "bank-of-xian");
    assert!(
        r.purpose.starts_with("total loans [aggregation "),
        "{}",
        r.purpose
    );
    let r = AuditRecord::from_packet(&partial, Outcome::Acknowledged, time(1));
    assert_eq!(r.kind, MessageKind::AggregationPartial);
    assert!(r.purpose.contains("4 providers"), "{}", r.purpose);
    assert_eq!(Outcome::Refused("x".into()).to_string(), "refused(x)");
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("relayer-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Opens the store in `dir`, waiting for sled's background threads of an
/// instance just dropped to let go of its lock.
fn reopen(dir: &std::path::Path) -> Store {
    for _ in 0..100 {
        if let Ok(store) = Store::open(dir) {
            return store;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Store::open(dir).unwrap()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &to.join(item.file_name()));
        } else {
            std::fs::copy(item.path(), to.join(item.file_name())).unwrap();
        }
    }
}

/// Rewrites entry `seq` of the store in `dir` through sled directly.
fn tamper(dir: &std::path::Path, seq: u64, alter: impl FnOnce(&mut AuditEntry)) {
    let db = sled::open(dir).unwrap();
    let tree = db.open_tree("audit").unwrap();
    let key = seq.to_be_bytes();
    let mut entry = AuditEntry::from_bytes(&tree.get(key).unwrap().unwrap()).unwrap();
    alter(&mut entry);
    tree.insert(key, entry.to_bytes()).unwrap();
    db.flush().unwrap();
}

#[test]
fn the_stored_log_detects_edits_made_directly_in_sled() {
    let regulator = key(1);
    let dir = temp_dir("stored");
    let n = 1_000u64;
    {
        let store = reopen(&dir);
        let service = AuditService::open(store.clone(), public(&regulator)).unwrap();
        let started = Instant::now();
        for i in 0..n {
            service.record(record(i)).unwrap();
        }
        let elapsed = started.elapsed();
        eprintln!(
            "1,000 appends to sled (flushed): {elapsed:?}, {:.0} appends/s",
            n as f64 / elapsed.as_secs_f64()
        );
        service.checkpoint(&regulator, time(5_000)).unwrap();
        // Not the next entry: refused by the store (append-only).
        let stale = AuditEntry::new(10, Hash::ZERO, record(10));
        let err = store.append_audit(&stale).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{err}");
        // Only the regulator signs checkpoints.
        assert!(matches!(
            service.checkpoint(&key(9), time(5_001)),
            Err(ServiceError::NotRegulator { .. })
        ));
    }
    let store = reopen(&dir);
    let started = Instant::now();
    let (verified, _) = verify_store(&store, Some(&public(&regulator)))
        .unwrap()
        .unwrap();
    eprintln!(
        "verify_store over 1,000 entries and a checkpoint: {:?}",
        started.elapsed()
    );
    assert_eq!(verified.entries, n);
    assert_eq!(verified.checkpoints, 1);
    assert_eq!(store.audit_entries(998..).unwrap().len(), 2);
    assert_eq!(store.audit_entries(..3).unwrap()[2].sequence, 2);
    drop(store);

    // Every field of a past entry, edited in a copy of the store.
    for (i, (field, alter)) in alterations().into_iter().enumerate() {
        let k = 100 + 37 * i as u64;
        let copy = temp_dir(&format!("stored-{field}"));
        copy_dir(&dir, &copy);
        tamper(&copy, k, alter);
        let store = reopen(&copy);
        let err = verify_store(&store, Some(&public(&regulator)))
            .unwrap()
            .unwrap_err();
        let expected = if field == "prev_hash" { k - 1 } else { k };
        assert_eq!(
            err.tampered_entry(),
            Some(expected),
            "{field} of entry {k}: {err}"
        );
        // The service refuses to append to it.
        assert!(matches!(
            AuditService::open(store, public(&regulator)),
            Err(ServiceError::Tampered(_))
        ));
        let _ = std::fs::remove_dir_all(&copy);
    }

    // The last entry, which no later link covers: the recorded head does.
    let copy = temp_dir("stored-head");
    copy_dir(&dir, &copy);
    tamper(&copy, n - 1, |e| e.record.purpose = "rewritten".into());
    let err = verify_store(&reopen(&copy), None).unwrap().unwrap_err();
    assert!(
        matches!(err, AuditError::HeadMismatch { sequence: 999, .. }),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&copy);

    // Raw bytes garbled: the entry no longer decodes.
    let copy = temp_dir("stored-garbled");
    copy_dir(&dir, &copy);
    {
        let db = sled::open(&copy).unwrap();
        let tree = db.open_tree("audit").unwrap();
        let mut bytes = tree.get(500u64.to_be_bytes()).unwrap().unwrap().to_vec();
        bytes.push(0);
        tree.insert(500u64.to_be_bytes(), bytes).unwrap();
        db.flush().unwrap();
    }
    let err = verify_store(&reopen(&copy), None).unwrap().unwrap_err();
    assert_eq!(err.tampered_entry(), Some(500), "{err}");
    let _ = std::fs::remove_dir_all(&copy);

    // The tail removed (head record too): the checkpoint still covers it.
    let copy = temp_dir("stored-truncated");
    copy_dir(&dir, &copy);
    {
        let db = sled::open(&copy).unwrap();
        let tree = db.open_tree("audit").unwrap();
        for seq in 900..n {
            tree.remove(seq.to_be_bytes()).unwrap();
        }
        db.flush().unwrap();
    }
    let err = verify_store(&reopen(&copy), None).unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Truncated {
                recorded: 999,
                entries: 900
            }
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&copy);

    // A checkpoint replaced by one another key signed.
    let copy = temp_dir("stored-forged-checkpoint");
    copy_dir(&dir, &copy);
    {
        let store = reopen(&copy);
        let (_, log) = verify_store(&store, None).unwrap().unwrap();
        store
            .save_checkpoint(&log.checkpoint(time(6_000), &key(2)).unwrap())
            .unwrap();
        let err = verify_store(&store, Some(&public(&regulator)))
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, AuditError::CheckpointSigner { upto: 999, .. }),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&copy);
    let _ = std::fs::remove_dir_all(&dir);
}

mod api {
    //! The regulator's routes over a real listener.

    use super::*;
    use crate::audit::http::{MAX_REQUEST_AGE, routes, sign_read};

    struct Served {
        base: String,
        regulator: SigningKey,
        _dir: std::path::PathBuf,
    }

    async fn serve(name: &str) -> Served {
        let regulator = key(1);
        let dir = temp_dir(name);
        let service = AuditService::open(reopen(&dir), public(&regulator)).unwrap();
        for i in 0..30 {
            service.record(record(i)).unwrap();
        }
        service.checkpoint(&regulator, time(100)).unwrap();
        let app = routes().with_state(Arc::new(service));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Served {
            base,
            regulator,
            _dir: dir,
        }
    }

    fn now() -> Time {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Time::from_unix_nanos(nanos as u64)
    }

    async fn get(
        served: &Served,
        path_and_query: &str,
        signer: Option<(&SigningKey, Time)>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path_and_query}", served.base));
        if let Some((key, at)) = signer {
            let (signature, time) = sign_read(key, "GET", path_and_query, at);
            request = request
                .header("X-Regulator-Signature", signature)
                .header("X-Regulator-Time", time);
        }
        request.send().await.unwrap()
    }

    async fn error_of(response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    }

    #[tokio::test]
    async fn only_the_regulator_reads_and_gets_filtered_json_and_csv() {
        let served = serve("api").await;
        let regulator = served.regulator.clone();
        let path = format!("/audit/entries?enterprise={ENTERPRISE_A}&institution=bank-of-xian");

        // JSON, filtered.
        let response = get(&served, &path, Some((&regulator, now()))).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        let sequences: Vec<u64> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(sequences, vec![0, 6, 12, 18, 24]);

        // CSV, filtered by chain and time.
        let path = format!(
            "/audit/entries?chain=zhejiang&since={}&until={}&format=csv",
            time(10),
            time(20)
        );
        let response = get(&served, &path, Some((&regulator, now()))).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let csv = response.text().await.unwrap();
        let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(rows[0], CSV_HEADER);
        // zhejiang: source when i % 3 == 2, destination when i % 3 == 1.
        let firsts: Vec<&str> = rows[1..]
            .iter()
            .map(|r| r.split(',').next().unwrap())
            .collect();
        assert_eq!(firsts, ["10", "11", "13", "14", "16", "17", "19"]);

        // Checkpoints.
        let response = get(&served, "/audit/checkpoints", Some((&regulator, now()))).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body[0]["checkpoint"]["upto"], json!(29));
        assert_eq!(body[0]["signer"], json!(public(&regulator).to_string()));

        // A bad filter value is named.
        let (status, error) =
            error_of(get(&served, "/audit/entries?chain=X", Some((&regulator, now()))).await).await;
        assert_eq!(status, 400);
        assert!(error.contains("chain=\"X\""), "{error}");
        let (status, error) = error_of(
            get(
                &served,
                "/audit/entries?colour=red",
                Some((&regulator, now())),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400);
        assert!(error.contains("colour"), "{error}");
    }

    #[tokio::test]
    async fn anyone_but_the_regulator_gets_403() {
        let served = serve("api-refusals").await;
        let regulator = served.regulator.clone();
        let path = "/audit/entries?format=csv";

        // Unsigned.
        let (status, error) = error_of(get(&served, path, None).await).await;
        assert_eq!(status, 403);
        assert!(error.contains("regulator"), "{error}");
        // An integrator's bearer token.
        let response = reqwest::Client::new()
            .get(format!("{}{path}", served.base))
            .bearer_auth("integrator-token")
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, 403);
        assert!(error.contains("bearer token does not authorise"), "{error}");
        // Signed by another key.
        let (status, error) = error_of(get(&served, path, Some((&key(2), now()))).await).await;
        assert_eq!(status, 403);
        assert!(error.contains("not the regulator's"), "{error}");
        let (status, _) =
            error_of(get(&served, "/audit/checkpoints", Some((&key(2), now()))).await).await;
        assert_eq!(status, 403);
        // Stale, and too far ahead.
        let stale = now().saturating_sub(MAX_REQUEST_AGE + std::time::Duration::from_secs(1));
        let (status, error) = error_of(get(&served, path, Some((&regulator, stale))).await).await;
        assert_eq!(status, 403);
        assert!(error.contains("minutes old"), "{error}");
        let ahead = now()
            .checked_add(MAX_REQUEST_AGE + std::time::Duration::from_secs(60))
            .unwrap();
        let (status, error) = error_of(get(&served, path, Some((&regulator, ahead))).await).await;
        assert_eq!(status, 403);
        assert!(error.contains("ahead"), "{error}");
        // The regulator's signature for another query: refused.
        let (signature, at) = sign_read(&regulator, "GET", "/audit/entries?format=json", now());
        let response = reqwest::Client::new()
            .get(format!("{}{path}", served.base))
            .header("X-Regulator-Signature", signature)
            .header("X-Regulator-Time", at)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        // A signature that is not hex, a time that is not RFC 3339.
        let response = reqwest::Client::new()
            .get(format!("{}{path}", served.base))
            .header("X-Regulator-Signature", "zz")
            .header("X-Regulator-Time", "yesterday")
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, 403);
        assert!(error.contains("RFC 3339"), "{error}");
        // And the regulator, in time, is served.
        assert_eq!(
            get(&served, path, Some((&regulator, now()))).await.status(),
            200
        );
    }
}
