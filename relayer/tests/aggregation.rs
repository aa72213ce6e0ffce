//! A joint credit total across real chain processes: bank-a on shaanxi asks
//! guangdong, beijing and shanghai for an enterprise's total loans under the
//! joint key of its share and the regulator's; each chain's two provider
//! agents encrypt their own amounts; shanghai has no consent and refuses.
//! `relayer aggregate result` closes the aggregation, gets the regulator's
//! decryption share of the total from a supervision node (its release
//! route, served in-process over a light client of shaanxi), verifies it,
//! and decrypts exactly the plaintext sum of the chains that answered,
//! naming shanghai as missing; no per-provider or per-chain amount appears
//! in the relayer's store.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use homomorphic::{KeyShare, PublicKey as ElGamalKey};
use relayer::devnet::{
    Regions, SEED_LOANS, create_clients, seed_query_scenario, start_regions, submit,
};
use relayer::engine::{Engine, EngineOptions};
use relayer::metrics::Metrics;
use relayer::store::Store;
use relayer::supervisor::release::ReleasePolicy;
use relayer::supervisor::{Supervisor, SupervisorState};

/// Runs the relayer binary: exit code and stdout (stderr echoed, so a
/// failure shows why).
fn relayer(args: &[&str]) -> (i32, String) {
    let out = Command::new(common::exe()).args(args).output().unwrap();
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_joint_total_opens_only_with_the_regulators_share_and_a_refusing_chain_is_missing() {
    let dir = std::env::temp_dir().join(format!("relayer-aggregation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("relayer-store")).unwrap();
    let metrics = Metrics::new();
    let Regions {
        chains,
        processes: _processes,
        runtimes,
    } = start_regions(
        common::exe(),
        &dir,
        4,
        Duration::from_millis(200),
        |_| common::free_port(),
        &store,
        &metrics,
    )
    .await
    .unwrap();
    create_clients(&runtimes).await.unwrap();
    let asker = &chains[0];
    // Every answering chain: two providers' loans of the enterprise and its
    // consent for shaanxi/bank-a (purpose and scope as the request's).
    let mut grants = Vec::new();
    let mut enterprise = None;
    for (answerer, runtime) in chains.iter().zip(&runtimes).skip(1).take(2) {
        let grant = seed_query_scenario(answerer, runtime.adapter().as_ref(), &asker.id)
            .await
            .unwrap();
        enterprise = Some(grant.enterprise.clone());
        grants.push((answerer.id.clone(), grant.id()));
    }
    // shanghai: no consent for this request (it refuses it).
    grants.push((
        chains[3].id.clone(),
        protocol::Hash::digest(b"no such consent"),
    ));

    // The regulator's share, set on shaanxi by governance with its proof.
    let regulator = KeyShare::generate(&mut rand::rngs::OsRng);
    let context = credit_chain::app::aggregation::key_share_context(
        &asker.id,
        credit_chain::app::aggregation::KeyShareOwner::Regulator,
    );
    submit(
        runtimes[0].adapter().as_ref(),
        &asker.key("governance").unwrap(),
        protocol::tx::TxBody::SetRegulatorAggregationKey {
            key: regulator.public().to_bytes().to_vec(),
            proof: regulator
                .prove_knowledge(&context, &mut rand::rngs::OsRng)
                .to_bytes()
                .to_vec(),
        },
    )
    .await
    .unwrap();
    // Its supervision node's release route, over its own light client of
    // shaanxi (no follower is run: only the release is under test).
    let supervisor_store = Store::open(&dir.join("supervisor-store")).unwrap();
    let audit = Arc::new(
        relayer::audit::AuditService::open(
            supervisor_store.clone(),
            relayer::registry::signing::public_key(&ed25519_dalek::SigningKey::from_bytes(
                &[9; 32],
            )),
        )
        .unwrap(),
    );
    let supervisor_runtime = asker.runtime(&supervisor_store, &Metrics::new()).unwrap();
    let supervisor = Supervisor::new(
        audit.clone(),
        supervisor_store.clone(),
        vec![supervisor_runtime],
    )
    .unwrap();
    assert!(supervisor.set_release_policy(ReleasePolicy {
        share: regulator,
        threshold: 3,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let supervisor_url = format!("http://{}", listener.local_addr().unwrap());
    let serving = tokio::spawn(async move {
        axum::serve(
            listener,
            relayer::supervisor::router(SupervisorState { supervisor }),
        )
        .await
    });

    let paths: Vec<_> = chains
        .iter()
        .skip(1)
        .map(|c| (asker.id.clone(), c.id.clone()))
        .collect();
    let engine = Arc::new(
        Engine::new(
            runtimes.clone(),
            &paths,
            store.clone(),
            EngineOptions {
                batch_size: 100,
                clear_interval: Duration::from_millis(500),
            },
        )
        .unwrap(),
    );
    let relaying = tokio::spawn(engine.clone().run());

    let key_file = dir.join("aggregation.json");
    let share_file = dir.join("bank-a-share.json");
    let bank_key = asker.home.join("keys/institutions/bank-a.json");
    let mut args = vec![
        "aggregate".to_owned(),
        "submit".into(),
        "--rpc".into(),
        asker.url().into(),
        "--chain".into(),
        asker.id.to_string(),
        "--requester".into(),
        "bank-a".into(),
        "--requester-key".into(),
        bank_key.to_string_lossy().into(),
        "--enterprise".into(),
        enterprise.unwrap().to_string(),
        "--purpose".into(),
        relayer::devnet::PURPOSE.into(),
        "--window".into(),
        "20s".into(),
        "--key-out".into(),
        key_file.to_string_lossy().into(),
        "--share-file".into(),
        share_file.to_string_lossy().into(),
        "--json".into(),
    ];
    for (chain, grant) in &grants {
        args.push("--to".into());
        args.push(format!("{chain}={grant}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = relayer(&argv);
    assert_eq!(code, 0, "{out}");
    let sent: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sent["sent"].as_object().map(|m| m.len()), Some(3), "{sent}");
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let _joint: ElGamalKey = key["joint_key"].as_str().unwrap().parse().unwrap();

    // On guangdong and beijing, each provider's agent (started by the
    // seed, holding its own records) sees the request, sums its records of
    // the kinds asked and contributes them encrypted under the joint key
    // with a range proof; nobody here handles an amount.
    // The partials come back, shanghai's refusal too; bank-a closes the
    // aggregation and opens the total with the regulator's share.
    let key_arg = key_file.to_string_lossy().into_owned();
    let bank_arg = bank_key.to_string_lossy().into_owned();
    let (code, out) = relayer(&[
        "aggregate",
        "result",
        "--rpc",
        asker.url(),
        "--key-file",
        &key_arg,
        "--requester-key",
        &bank_arg,
        "--supervisor",
        &supervisor_url,
        "--wait",
        "120s",
        "--max-total",
        "100000000000",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(code, 1, "shanghai is missing: {out}");
    let per_chain: u64 = SEED_LOANS.iter().map(|(_, a)| a).sum();
    assert_eq!(report["total"], per_chain * 2, "{report}");
    assert_eq!(
        report["missing_chains"],
        serde_json::json!(["shanghai"]),
        "{report}"
    );
    assert_eq!(report["providers"], 4, "{report}");
    assert_eq!(
        report["chains"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    // The release is in the supervision node's audit log, once.
    let released: Vec<_> = audit
        .entries(&relayer::audit::AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.record.kind == relayer::audit::MessageKind::DecryptionShare)
        .collect();
    assert_eq!(released.len(), 1, "{released:?}");
    assert!(
        released[0]
            .record
            .purpose
            .contains("4 providers on 2 chains")
    );
    serving.abort();
    relaying.abort();
    drop(engine);
    drop(runtimes);
    drop(store);

    // No provider's or chain's amount (nor the total) is in the relayer's
    // store, as little-endian bytes or as decimal text.
    let mut secrets: Vec<u64> = SEED_LOANS.iter().map(|(_, a)| *a).collect();
    secrets.push(per_chain);
    secrets.push(per_chain * 2);
    for entry in std::fs::read_dir(dir.join("relayer-store")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for s in &secrets {
                assert!(
                    !contains(&bytes, &s.to_le_bytes()),
                    "{s} in {}",
                    path.display()
                );
                assert!(
                    !contains(&bytes, s.to_string().as_bytes()),
                    "{s} in {}",
                    path.display()
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
