//! `relayer attestation fetch|verify` against a real chain process: a valid
//! attestation verifies offline; a tampered one, an expired one and one from
//! a suspended issuer do not, each with its reason.

mod common;

use std::process::Command;
use std::time::Duration;

use credit_chain::app::attestations::attestation_id;
use credit_chain::app::auth::sign_attestation;
use protocol::tx::TxBody;
use protocol::{Attestation, PublicKey, Signature};
use relayer::devnet::{submit, wait_for_chain};

fn verify(bundle: &std::path::Path, now: Option<&str>) -> (i32, serde_json::Value) {
    let mut cmd = Command::new(common::exe());
    cmd.args(["attestation", "verify", "--bundle"]).arg(bundle);
    if let Some(now) = now {
        cmd.args(["--now", now]);
    }
    let out = cmd.output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code().unwrap_or(-1), report)
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

    let now = issued_at
        .checked_add(Duration::from_secs(60))
        .unwrap()
        .to_string();
    let (code, report) = verify(&bundle, Some(&now));
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdict"], "valid");
    assert_eq!(report["claim"], "tax grade A");

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
