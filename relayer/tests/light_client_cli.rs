//! `relayer light-client verify` as a user runs it: files in, JSON verdict
//! and exit status out.

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use light_clients::credit_chain::TrustedState;
use light_clients::credit_chain::signing::{Committee, TestChain, torsioned_signature};
use protocol::{
    Commit, CommitSig, LightBlock, PublicKey, Signature, SignedHeader, Validator, ValidatorSet,
    vote_sign_bytes,
};

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

/// The reason string of a run, for assertions.
fn reason(r: &Run) -> &str {
    r.json["reason"].as_str().unwrap_or_default()
}

#[test]
fn a_trusted_state_with_swapped_validator_sets_exits_2_naming_it() {
    let dir = scratch("swapped");
    // A genuine trusted block whose next validators were swapped for an
    // outsider set, and a skip to height 6 signed by those outsiders alone.
    let mut honest = TestChain::new("shaanxi", 4);
    let genuine = TrustedState::from(honest.next_block());
    let outsiders = Committee::deterministic("outsiders", 4);
    let mut trusted = genuine.clone();
    trusted.next_validators = outsiders.validator_set().clone();
    let mut forger = TestChain::new("shaanxi", 4);
    forger.rotate_to(outsiders.clone());
    let _ = forger.next_block();
    let skip = forger.skip(5);
    let now = skip.header().time.to_string();
    let t = write(&dir, "trusted.json", &trusted);
    let u = write(&dir, "untrusted.json", &skip);
    let r = verify(&t, &u, &now, &[]);
    assert_eq!(r.code, 2, "{}", r.json);
    assert_eq!(r.json["verdict"], "invalid");
    assert!(
        reason(&r).contains("trusted state at height 1 is inconsistent")
            && reason(&r).contains("next validators")
            && reason(&r).contains(&genuine.header.next_validators_hash.to_string()),
        "{}",
        r.json
    );
    // The genuine trusted state does not reach the forged skip.
    let g = write(&dir, "genuine.json", &genuine);
    assert_ne!(verify(&g, &u, &now, &[]).code, 0);

    // Swapped `validators`, with an honest skip.
    let mut trusted = genuine.clone();
    trusted.validators = outsiders.validator_set().clone();
    let t = write(&dir, "trusted-validators.json", &trusted);
    let u = write(&dir, "honest.json", &honest.skip(5));
    let r = verify(&t, &u, &now, &[]);
    assert_eq!(r.code, 2, "{}", r.json);
    assert!(
        reason(&r).contains("inconsistent") && reason(&r).contains("says validators"),
        "{}",
        r.json
    );
    // The same, as a whole light block.
    let mut chain = TestChain::new("shaanxi", 4);
    let mut block = chain.next_block();
    block.next_validators = outsiders.validator_set().clone();
    let t = write(&dir, "trusted-lb.json", &block);
    let r = verify(&t, &write(&dir, "skip.json", &skip), &now, &[]);
    assert_eq!(r.code, 2, "{}", r.json);
    assert!(reason(&r).contains("next validators"), "{}", r.json);
}

#[test]
fn a_signed_structure_with_an_unknown_field_exits_3_naming_it() {
    let dir = scratch("unknown-field");
    let (trusted, untrusted, now) = chain_pair();
    let t = write(&dir, "trusted.json", &trusted);
    let mut v = serde_json::to_value(&untrusted).unwrap();
    v["signed_header"]["header"]["approved_by_regulator"] = serde_json::json!(true);
    let u = write(&dir, "untrusted.json", &v);
    let r = verify(&t, &u, &now, &[]);
    assert_eq!(r.code, 3, "{}", r.json);
    assert_eq!(r.json["verdict"], "malformed");
    assert!(
        reason(&r).contains("untrusted file")
            && reason(&r).contains("unknown field `approved_by_regulator`"),
        "{}",
        r.json
    );
    let mut v = serde_json::to_value(&trusted).unwrap();
    v["header"]["note"] = serde_json::json!("unsigned");
    let t = write(&dir, "trusted-extra.json", &v);
    let u = write(&dir, "untrusted-ok.json", &untrusted);
    let r = verify(&t, &u, &now, &[]);
    assert_eq!(r.code, 3, "{}", r.json);
    assert!(
        reason(&r).contains("trusted file") && reason(&r).contains("unknown field `note`"),
        "{}",
        r.json
    );
}

/// The identity point, of order 1: a weak key.
fn identity_key() -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    PublicKey(bytes)
}

#[test]
fn a_validator_set_with_a_weak_key_exits_2_naming_the_key() {
    let dir = scratch("weak");
    // A trusted block announcing a next set where a weak key holds 3/4 of
    // the power, then the next block "signed" by that key alone with
    // R = identity, s = 0, which fits the batch equation for any message.
    let mut chain = TestChain::new("shaanxi", 4);
    let honest = chain.committee().validator_set().validators()[0].clone();
    let weak_set = ValidatorSet::new(vec![
        honest,
        Validator {
            pub_key: identity_key(),
            power: 30,
        },
    ])
    .unwrap();
    let mut h1 = chain.next_header();
    h1.next_validators_hash = weak_set.hash();
    let mut b1 = chain.commit_header(h1);
    b1.next_validators = weak_set.clone();
    let mut h2 = chain.next_header();
    h2.validators_hash = weak_set.hash();
    h2.next_validators_hash = weak_set.hash();
    h2.proposer = identity_key();
    let mut any_message = [0u8; 64];
    any_message[0] = 1;
    let forged = LightBlock {
        signed_header: SignedHeader {
            commit: Commit {
                height: h2.height,
                header_hash: h2.hash(),
                signatures: vec![CommitSig {
                    validator: identity_key(),
                    signature: Signature(any_message),
                }],
            },
            header: h2,
        },
        validators: weak_set.clone(),
        next_validators: weak_set,
    };
    let t = write(&dir, "trusted.json", &b1);
    let u = write(&dir, "untrusted.json", &forged);
    let r = verify(&t, &u, &forged.header().time.to_string(), &[]);
    assert_eq!(r.code, 2, "{}", r.json);
    assert!(
        reason(&r).contains("weak ed25519 public key")
            && reason(&r).contains(&identity_key().to_string()),
        "{}",
        r.json
    );
}

#[test]
fn a_non_canonical_signature_exits_2_naming_the_signer() {
    let dir = scratch("non-canonical");
    let (trusted, untrusted, now) = chain_pair();
    let t = write(&dir, "trusted.json", &trusted);
    let chain = TestChain::new("shaanxi", 4);
    let (key, _) = &chain.committee().keys()[0];
    let victim = PublicKey(key.verifying_key().to_bytes());
    let h = untrusted.header();
    let message = vote_sign_bytes(&h.chain_id, h.height, &h.hash());
    let index = untrusted
        .signed_header
        .commit
        .signatures
        .iter()
        .position(|s| s.validator == victim)
        .unwrap();
    // A signature by the validator itself whose R carries a small-order
    // point, chosen so that batch verification accepts it.
    let torsioned = (0..64)
        .map(|nonce| torsioned_signature(key, &message, nonce))
        .find(|sig| {
            let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
            ed25519_dalek::verify_batch(&[&message], &[sig], &[key.verifying_key()]).is_ok()
        })
        .unwrap();
    // s + l: the same signature in other bytes.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut unreduced = untrusted.signed_header.commit.signatures[index].signature;
    let mut carry = 0u16;
    for (b, l) in unreduced.0[32..].iter_mut().zip(L) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
    for (name, sig) in [("torsioned", torsioned), ("unreduced", unreduced)] {
        let mut block = untrusted.clone();
        block.signed_header.commit.signatures[index].signature = sig;
        let u = write(&dir, &format!("{name}.json"), &block);
        let r = verify(&t, &u, &now, &[]);
        assert_eq!(r.code, 2, "{name}: {}", r.json);
        assert!(
            reason(&r).contains("invalid signature") && reason(&r).contains(&victim.to_string()),
            "{name}: {}",
            r.json
        );
    }
}

#[test]
fn out_of_bounds_durations_exit_3_naming_the_flag() {
    let dir = scratch("bounds");
    let (trusted, untrusted, now) = chain_pair();
    let t = write(&dir, "trusted.json", &trusted);
    let u = write(&dir, "untrusted.json", &untrusted);
    for (flags, flag, what) in [
        (
            &["--trusting-period", "0s"][..],
            "--trusting-period",
            "zero",
        ),
        (
            &["--trusting-period", "10y"],
            "--trusting-period",
            "longer than",
        ),
        (&["--clock-drift", "100y"], "--clock-drift", "larger than"),
        (
            &["--trusting-period", "30m", "--clock-drift", "30m"],
            "--clock-drift",
            "not below",
        ),
    ] {
        let r = verify(&t, &u, &now, flags);
        assert_eq!(r.code, 3, "{flags:?}: {}", r.json);
        assert_eq!(r.json["verdict"], "malformed");
        assert!(
            reason(&r).starts_with(flag) && reason(&r).contains(what),
            "{flags:?}: {}",
            r.json
        );
    }
    // In bounds, the same files verify.
    let r = verify(
        &t,
        &u,
        &now,
        &["--trusting-period", "1d", "--clock-drift", "1h"],
    );
    assert_eq!(r.code, 0, "{}", r.json);
}
