//! `relayer audit verify|export` on real stores: an intact log verifies; an
//! entry edited directly in sled (on a copy of the store) is named and the
//! command exits 1; a locked store or bad input exits 3; exports filter.

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use protocol::{Currency, Hash, Money, Time};
use relayer::audit::{AuditEntry, AuditRecord, AuditService, MessageKind, Outcome};
use relayer::registry::signing::public_key;
use relayer::store::Store;

const ENTERPRISE_A: &str = "91350100M000100Y43";
const ENTERPRISE_B: &str = "91110000600037341L";

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_relayer"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relayer-audit-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn reopen(dir: &Path) -> Store {
    for _ in 0..100 {
        if let Ok(store) = Store::open(dir) {
            return store;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Store::open(dir).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
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

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time: Time::from_unix_nanos(1_800_000_000_000_000_000 + i * 1_000_000_000),
        source: "shaanxi".parse().unwrap(),
        destination: if i.is_multiple_of(2) {
            "guangdong"
        } else {
            "zhejiang"
        }
        .parse()
        .unwrap(),
        packet_sequence: i + 1,
        kind: MessageKind::CreditQuery,
        requester: Some("bank-of-xian".parse().unwrap()),
        enterprise: Some(
            if i.is_multiple_of(3) {
                ENTERPRISE_A
            } else {
                ENTERPRISE_B
            }
            .parse()
            .unwrap(),
        ),
        purpose: format!("loan application, batch {i}"),
        consent_id: Some(Hash::digest(&i.to_be_bytes())),
        fee: Some(Money {
            minor_units: 500,
            currency: Currency::CNY,
        }),
        outcome: Outcome::Answered,
    }
}

/// A store with 200 entries and a checkpoint at 150, signed by `regulator`.
fn build_store(dir: &Path, regulator: &SigningKey) {
    let service = AuditService::open(reopen(dir), public_key(regulator)).unwrap();
    for i in 0..200 {
        service.record(record(i)).unwrap();
        if i == 150 {
            service
                .checkpoint(regulator, Time::from_unix_nanos(1_900_000_000_000_000_000))
                .unwrap();
        }
    }
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(exe()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_names_the_entry_edited_in_sled_and_export_filters() {
    let regulator = SigningKey::from_bytes(&[1; 32]);
    let regulator_hex = public_key(&regulator).to_string();
    let dir = temp_dir("store");
    build_store(&dir, &regulator);
    // Let sled's threads of the dropped store release the lock.
    drop(reopen(&dir));
    let store = dir.to_str().unwrap();

    let (code, out, err) = run(&[
        "audit",
        "verify",
        "--store",
        store,
        "--regulator-key",
        &regulator_hex,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OK: 200 entries"), "{out}");
    assert!(out.contains("up to entry 150"), "{out}");
    let (code, out, _) = run(&[
        "audit",
        "verify",
        "--store",
        store,
        "--regulator-key",
        &regulator_hex,
        "--json",
    ]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "ok");
    assert_eq!(report["entries"], 200);
    assert_eq!(report["regulator_pinned"], true);
    assert_eq!(report["gaps"], serde_json::json!([]));

    // Without the regulator's key there is no verdict: a checkpoint is
    // never trusted for the key it names itself. Exit 3, naming the flag.
    for json in [false, true] {
        let mut args = vec!["audit", "verify", "--store", store];
        if json {
            args.push("--json");
        }
        let (code, out, err) = run(&args);
        assert_eq!(code, 3, "{out}{err}");
        assert!(err.contains("--regulator-key is required"), "{err}");
        assert!(!out.contains("\"ok\""), "{out}");
    }

    // A checkpoint checked against another regulator key: exit 1.
    let other = public_key(&SigningKey::from_bytes(&[2; 32])).to_string();
    let (code, out, _) = run(&[
        "audit",
        "verify",
        "--store",
        store,
        "--regulator-key",
        &other,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not by the regulator's key"), "{out}");

    // A store whose checkpoint someone else signed (a relayer forging the
    // regulator's seal over a log it rewrote): it fails against the
    // regulator's key.
    let forged = temp_dir("forged");
    let forger = SigningKey::from_bytes(&[3; 32]);
    build_store(&forged, &forger);
    drop(reopen(&forged));
    let (code, out, err) = run(&[
        "audit",
        "verify",
        "--store",
        forged.to_str().unwrap(),
        "--regulator-key",
        &regulator_hex,
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!(
            "signed by {}, not by the regulator's key {regulator_hex}",
            public_key(&forger)
        )),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&forged);

    // Edit entry 42's fee in a copy, through sled directly.
    let copy = temp_dir("tampered");
    copy_dir(&dir, &copy);
    {
        let db = sled::open(&copy).unwrap();
        let tree = db.open_tree("audit").unwrap();
        let key = 42u64.to_be_bytes();
        let mut entry = AuditEntry::from_bytes(&tree.get(key).unwrap().unwrap()).unwrap();
        entry.record.fee = Some(Money {
            minor_units: 1,
            currency: Currency::CNY,
        });
        tree.insert(key, entry.to_bytes()).unwrap();
        db.flush().unwrap();
    }
    let copy_str = copy.to_str().unwrap();
    let (code, out, err) = run(&[
        "audit",
        "verify",
        "--store",
        copy_str,
        "--regulator-key",
        &regulator_hex,
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("TAMPERED: entry 42:"), "{out}");
    let (code, out, _) = run(&[
        "audit",
        "verify",
        "--store",
        copy_str,
        "--regulator-key",
        &regulator_hex,
        "--json",
    ]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "tampered");
    assert_eq!(report["entry"], 42);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("entry 42 was altered"),
        "{report}"
    );

    // The store held by a running process: exit 3, saying so.
    let held = reopen(&dir);
    let (code, _, err) = run(&[
        "audit",
        "verify",
        "--store",
        store,
        "--regulator-key",
        &regulator_hex,
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("locked") && err.contains("daemon"), "{err}");
    drop(held);
    drop(reopen(&dir));

    // No store, a bad key: exit 3.
    let missing = temp_dir("missing");
    let (code, _, err) = run(&[
        "audit",
        "verify",
        "--store",
        missing.to_str().unwrap(),
        "--regulator-key",
        &regulator_hex,
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("no relayer store"), "{err}");
    assert!(!missing.exists(), "verify must not create a store");
    let (code, _, err) = run(&[
        "audit",
        "verify",
        "--store",
        store,
        "--regulator-key",
        "abc",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("--regulator-key"), "{err}");

    // Export: CSV filtered by enterprise and chain, JSON by time.
    let (code, out, err) = run(&[
        "audit",
        "export",
        "--store",
        store,
        "--format",
        "csv",
        "--enterprise",
        ENTERPRISE_A,
        "--chain",
        "guangdong",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(rows[0].starts_with("sequence,hash,prev_hash,time"));
    // i % 3 == 0 and i even: i % 6 == 0, 0..200 → 34 rows.
    assert_eq!(rows.len(), 1 + 34);
    assert!(
        rows[1].contains("\"loan application, batch 0\""),
        "{}",
        rows[1]
    );
    let (code, out, _) = run(&[
        "audit",
        "export",
        "--store",
        store,
        "--format",
        "json",
        "--since",
        "2027-01-15T08:00:10Z",
        "--until",
        "2027-01-15T08:00:20Z",
    ]);
    assert_eq!(code, 0);
    let entries: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = entries[0]["time"].as_str().unwrap().to_owned();
    assert_eq!(entries.as_array().unwrap().len(), 10, "first {first}");
    let (code, _, _) = run(&["audit", "export", "--store", store, "--format", "xml"]);
    assert_eq!(code, 3);

    let _ = std::fs::remove_dir_all(&copy);
    let _ = std::fs::remove_dir_all(&dir);
}
