//! `relayer light-client verify` as a user runs it: files in, JSON verdict
//! and exit status out.

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use light_clients::credit_chain::TrustedState;
use light_clients::credit_chain::signing::{Committee, TestChain};
use protocol::LightBlock;

struct Run {
    code: i32,
    json: serde_json::Value,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relayer-lc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, value: &impl serde::Serialize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

fn run(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_relayer"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    Run {
        code: out.status.code().unwrap(),
        json: serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null),
    }
}

fn verify(trusted: &Path, untrusted: &Path, now: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "light-client",
        "verify",
        "--trusted",
        trusted.to_str().unwrap(),
        "--untrusted",
        untrusted.to_str().unwrap(),
        "--now",
        now,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn chain_pair() -> (TrustedState, LightBlock, String) {
    let mut chain = TestChain::new("shaanxi", 4);
    let trusted = TrustedState::from(chain.next_block());
    let untrusted = chain.skip(5);
    let now = untrusted.header().time.to_string();
    (trusted, untrusted, now)
}

#[test]
fn success_prints_the_verified_header() {
    let dir = scratch("ok");
    let (trusted, untrusted, now) = chain_pair();
    let t = write(&dir, "trusted.json", &trusted);
    let u = write(&dir, "untrusted.json", &untrusted);
    let r = verify(&t, &u, &now, &[]);
    assert_eq!(r.code, 0, "{}", r.json);
    assert_eq!(r.json["verdict"], "success");
    assert_eq!(r.json["height"], 6);
    assert_eq!(r.json["header_hash"], untrusted.header().hash().to_string());
    // A whole light block is accepted as the trusted state too.
    let mut chain = TestChain::new("shaanxi", 4);
    let lb = write(&dir, "trusted-lb.json", &chain.next_block());
    assert_eq!(verify(&lb, &u, &now, &[]).code, 0);
}

#[test]
fn not_enough_trust_exits_1_with_the_tally() {
    let dir = scratch("net");
    let mut chain = TestChain::new("guangdong", 4);
    let trusted = TrustedState::from(chain.next_block());
    let mut keys = chain.committee().keys()[..1].to_vec();
    keys.extend((0..3).map(|i| (SigningKey::from_bytes(&[90 + i as u8; 32]), 10)));
    chain.rotate_to(Committee::new(keys).unwrap());
    let far = chain.skip(6);
    let t = write(&dir, "trusted.json", &trusted);
    let u = write(&dir, "untrusted.json", &far);
    let r = verify(&t, &u, &far.header().time.to_string(), &[]);
    assert_eq!(r.code, 1, "{}", r.json);
    assert_eq!(r.json["verdict"], "not_enough_trust");
    assert_eq!(r.json["signed_power"], 10);
    assert_eq!(r.json["total_power"], 40);
    // Lowering nothing below 1/3 is allowed: 1/4 is refused as malformed.
    let r = verify(
        &t,
        &u,
        &far.header().time.to_string(),
        &["--trust-threshold", "1/4"],
    );
    assert_eq!(r.code, 3);
    assert!(
        r.json["reason"].as_str().unwrap().contains("below 1/3"),
        "{}",
        r.json
    );
}

#[test]
fn forged_inputs_exit_2_naming_the_fault() {
    let dir = scratch("invalid");
    let (trusted, mut untrusted, now) = chain_pair();
    let signer = untrusted.signed_header.commit.signatures[1].validator;
    untrusted.signed_header.commit.signatures[1].signature.0[0] ^= 0x80;
    let t = write(&dir, "trusted.json", &trusted);
    let u = write(&dir, "untrusted.json", &untrusted);
    let r = verify(&t, &u, &now, &[]);
    assert_eq!(r.code, 2, "{}", r.json);
    assert_eq!(r.json["verdict"], "invalid");
    let reason = r.json["reason"].as_str().unwrap();
    assert!(
        reason.contains("invalid signature") && reason.contains(&signer.to_string()),
        "{reason}"
    );

    // Another chain's block.
    let mut other = TestChain::new("beijing", 4);
    let foreign = other.skip(3);
    let u = write(&dir, "foreign.json", &foreign);
    let r = verify(&t, &u, &now, &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.json["reason"]
            .as_str()
            .unwrap()
            .contains("wrong chain id"),
        "{}",
        r.json
    );

    // Trusting period over.
    let (_, untrusted, _) = chain_pair();
    let u = write(&dir, "late.json", &untrusted);
    let r = verify(
        &t,
        &u,
        "2026-03-01T00:00:00Z",
        &["--trusting-period", "14d"],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.json["reason"].as_str().unwrap().contains("expired"),
        "{}",
        r.json
    );
}

#[test]
fn malformed_inputs_exit_3_with_the_reason() {
    let dir = scratch("malformed");
    let (trusted, untrusted, now) = chain_pair();
    let t = write(&dir, "trusted.json", &trusted);
    let u = write(&dir, "untrusted.json", &untrusted);

    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let r = verify(&t, &garbage, &now, &[]);
    assert_eq!(r.code, 3);
    assert_eq!(r.json["verdict"], "malformed");
    assert!(
        r.json["reason"]
            .as_str()
            .unwrap()
            .contains("untrusted file"),
        "{}",
        r.json
    );

    // A chain id that breaks the naming rule is named.
    let text = std::fs::read_to_string(&u)
        .unwrap()
        .replace("\"shaanxi\"", "\"Shaanxi\"");
    let bad_id = dir.join("bad-id.json");
    std::fs::write(&bad_id, text).unwrap();
    let r = verify(&t, &bad_id, &now, &[]);
    assert_eq!(r.code, 3);
    let reason = r.json["reason"].as_str().unwrap();
    assert!(reason.contains(r#"invalid chain id "Shaanxi""#), "{reason}");

    let r = verify(&t, &dir.join("missing.json"), &now, &[]);
    assert_eq!(r.code, 3);
    assert!(
        r.json["reason"].as_str().unwrap().contains("cannot read"),
        "{}",
        r.json
    );

    let r = verify(&t, &u, "tomorrow", &[]);
    assert_eq!(r.code, 3);
    assert!(
        r.json["reason"].as_str().unwrap().contains("--now"),
        "{}",
        r.json
    );

    let r = verify(&t, &u, &now, &["--trusting-period", "forever"]);
    assert_eq!(r.code, 3);

    // Unknown flag: a usage error is malformed input, not "invalid".
    let r = run(&["light-client", "verify", "--bogus"]);
    assert_eq!(r.code, 3);
}

#[test]
fn the_readme_example_files_verify() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/light-client");
    let r = verify(
        &dir.join("trusted.json"),
        &dir.join("untrusted.json"),
        "2026-01-01T00:00:10Z",
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.json);
    assert_eq!(r.json["height"], 6);
}
