//! `relayer attestation fetch|verify` against a real chain process: a valid
//! attestation verifies offline from the user's own trust (a light block, or
//! a chain id, height and header hash); a tampered one, an expired one and
//! one from a suspended issuer do not, each with its reason; without the
//! user's trust there is no verdict (exit 3), and a forged bundle whose
//! own trusted block is its proven block is refused.

mod common;

use std::process::Command;
use std::time::Duration;

use credit_chain::app::attestations::attestation_id;
use credit_chain::app::auth::sign_attestation;
use protocol::tx::TxBody;
use protocol::{Attestation, PublicKey, Signature};
use relayer::devnet::{submit, wait_for_chain};

/// `attestation verify` of `bundle` at `now` with the trust flags `trust`.
fn verify_from(
    bundle: &std::path::Path,
    now: Option<&str>,
    trust: &[String],
) -> (i32, serde_json::Value) {
    let mut cmd = Command::new(common::exe());
    cmd.args(["attestation", "verify", "--bundle"]).arg(bundle);
    if let Some(now) = now {
        cmd.args(["--now", now]);
    }
    cmd.args(trust);
    let out = cmd.output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code().unwrap_or(-1), report)
}

/// The trust flags naming shaanxi's block 1 (what the user trusts).
static TRUST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

fn verify(bundle: &std::path::Path, now: Option<&str>) -> (i32, serde_json::Value) {
    verify_from(bundle, now, TRUST.get().expect("trust set"))
}

fn fetch(rpc: &str, id: &protocol::Hash, out: &std::path::Path) {
    let status = Command::new(common::exe())
        .args([
            "attestation",
            "fetch",
            "--rpc",
            rpc,
            "--chain",
            "shaanxi",
            "--id",
        ])
        .arg(id.to_string())
        .arg("--out")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
}

fn problems(report: &serde_json::Value) -> String {
    report["problems"].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn attestations_verify_offline_and_expiry_tampering_and_suspension_are_caught() {
    let chains = common::TwoChains::start("relayer-attestation-cli");
    let chain = &chains.a;
    let adapter = chain.adapter().unwrap();
    wait_for_chain(adapter.as_ref()).await.unwrap();
    // Issue "tax grade A" by bureau-a, valid for an hour.
    let status = adapter.status().await.unwrap();
    let issued_at = status.latest_time;
    let expires_at = issued_at.checked_add(Duration::from_secs(3600)).unwrap();
    let bureau = chain.key("institutions/bureau-a").unwrap();
    let mut attestation = Attestation {
        issuer: "bureau-a".parse().unwrap(),
        issuer_key: PublicKey([0; 32]),
        enterprise: credit_chain::genesis::SAMPLE_ENTERPRISES[0]
            .parse()
            .unwrap(),
        claim: "tax grade A".into(),
        issued_at,
        expires_at,
        signature: Signature([0; 64]),
    };
    sign_attestation(&bureau, &mut attestation);
    submit(
        adapter.as_ref(),
        &bureau,
        TxBody::IssueAttestation {
            attestation: attestation.clone(),
        },
    )
    .await
    .unwrap();
    let id = attestation_id(&attestation);
    let bundle = chains.dir.join("bundle.json");
    fetch(chain.url(), &id, &bundle);
    // The user's trust: shaanxi's block 1, learnt out of band (here read
    // from the chain directly, not from the bundle).
    let first = adapter
        .light_block(protocol::Height::new(1).unwrap())
        .await
        .unwrap();
    let trusted_file = chains.dir.join("trusted.json");
    std::fs::write(&trusted_file, serde_json::to_string(&first).unwrap()).unwrap();
    let by_hash: Vec<String> = [
        "--chain-id",
        "shaanxi",
        "--height",
        "1",
        "--hash",
        &first.header().hash().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let by_file = vec!["--trusted".to_owned(), trusted_file.display().to_string()];
    TRUST.set(by_hash.clone()).unwrap();

    let now = issued_at
        .checked_add(Duration::from_secs(60))
        .unwrap()
        .to_string();
    let (code, report) = verify(&bundle, Some(&now));
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdict"], "valid");
    assert_eq!(report["claim"], "tax grade A");
    let (code, report) = verify_from(&bundle, Some(&now), &by_file);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdict"], "valid");

    // Without the user's trust: no verdict, the flags named.
    let (code, report) = verify_from(&bundle, Some(&now), &[]);
    assert_eq!(code, 3, "{report}");
    let reason = report["reason"].as_str().unwrap_or_default();
    for flag in ["--trusted", "--chain-id", "--height", "--hash"] {
        assert!(reason.contains(flag), "{report}");
    }
    // Half a trust is no trust either (exit 3, not a verdict).
    let (code, report) = verify_from(&bundle, Some(&now), &by_hash[..4]);
    assert_eq!(code, 3, "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("missing --hash"),
        "{report}"
    );
    let both: Vec<String> = by_file.iter().chain(&by_hash).cloned().collect();
    let (code, report) = verify_from(&bundle, Some(&now), &both);
    assert_eq!(code, 3, "{report}");

    // Forged bundles whose own trusted block is the proven block (so the
    // two heights coincide): one claims another chain, one a header no
    // validator signed. Each is refused from the user's trust.
    let honest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    let forge = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut forged = honest.clone();
        edit(&mut forged["proven_at"]["signed_header"]["header"]);
        forged["trusted"] = forged["proven_at"].clone();
        let path = chains.dir.join(name);
        std::fs::write(&path, forged.to_string()).unwrap();
        path
    };
    let other_chain = forge("other-chain.json", &|h| h["chain_id"] = "guangdong".into());
    let unsigned = forge("unsigned.json", &|h| {
        let time: protocol::Time = serde_json::from_value(h["time"].clone()).unwrap();
        h["time"] =
            serde_json::to_value(time.checked_add(Duration::from_secs(1)).unwrap()).unwrap();
    });
    for forged in [&other_chain, &unsigned] {
        for trust in [&by_hash, &by_file] {
            let (code, report) = verify_from(forged, Some(&now), trust);
            assert_eq!(code, 2, "{} with {trust:?}: {report}", forged.display());
            assert_eq!(report["verdict"], "invalid", "{report}");
        }
    }
    let (_, report) = verify_from(&other_chain, Some(&now), &by_file);
    assert!(problems(&report).contains("not of shaanxi"), "{report}");
    let (_, report) = verify_from(&unsigned, Some(&now), &by_file);
    assert!(problems(&report).contains("header"), "{report}");
    let (_, report) = verify_from(&unsigned, Some(&now), &by_hash);
    assert!(
        problems(&report).contains("no block of shaanxi at height 1"),
        "{report}"
    );

    // Expired at the time of checking.
    let later = expires_at
        .checked_add(Duration::from_secs(1))
        .unwrap()
        .to_string();
    let (code, report) = verify(&bundle, Some(&later));
    assert_eq!(code, 2, "{report}");
    assert!(problems(&report).contains("expired"), "{report}");

    // Tampered claim: the proof and the signature both fail.
    let mut tampered: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    tampered["attestation"]["claim"] = "tax grade A+".into();
    let tampered_file = chains.dir.join("tampered.json");
    std::fs::write(&tampered_file, tampered.to_string()).unwrap();
    let (code, report) = verify(&tampered_file, Some(&now));
    assert_eq!(code, 2, "{report}");
    assert!(problems(&report).contains("attestation proof"), "{report}");
    assert!(problems(&report).contains("signature"), "{report}");

    // Garbage is malformed, not a verdict.
    let garbage = chains.dir.join("garbage.json");
    std::fs::write(&garbage, "{\"trusted\": 1").unwrap();
    assert_eq!(verify(&garbage, Some(&now)).0, 3);

    // The issuer suspended by governance: a fresh bundle says so.
    submit(
        adapter.as_ref(),
        &chain.key("governance").unwrap(),
        TxBody::SuspendInstitution {
            institution: "bureau-a".parse().unwrap(),
            reason: "fraudulent claims".into(),
        },
    )
    .await
    .unwrap();
    let suspended = chains.dir.join("suspended.json");
    fetch(chain.url(), &id, &suspended);
    let (code, report) = verify(&suspended, Some(&now));
    assert_eq!(code, 2, "{report}");
    assert!(problems(&report).contains("suspended"), "{report}");
    let _ = std::fs::remove_dir_all(&chains.dir);
}
