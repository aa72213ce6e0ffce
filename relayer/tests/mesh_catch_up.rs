//! Catch-up on the network registry across real processes: a relayer that
//! was down while a chain was proposed and approved learns of it from a
//! peer's registry snapshot when it comes back, and tracks the chain; so
//! does the regulator's supervision node started only afterwards.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use protocol::registry::Proposal;
use protocol::state_keys;
use relayer::devnet::{create_clients, seed_query_scenario, send_query};
use relayer::engine::ChainRuntime;
use relayer::mesh::devnet::{
    MeshOptions, SupervisorOptions, regulator_public_key, start_relayers, start_supervisor,
    wait_closed,
};
use relayer::registry::signing::sign_proposal;

/// Chains on `base + 10 i`, relayers' P2P ports at `base + 2000 + ...`,
/// the API at `base + 1000`.
fn base_port() -> u16 {
    20_000 + (std::process::id() % 500) as u16 * 10 + 400
}

async fn health(api: &str) -> serde_json::Value {
    match reqwest::get(format!("http://{api}/health")).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relayer_down_during_a_registration_catches_up_when_it_returns() {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("relayer-mesh-catch-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = base_port();
    let exe = common::exe();
    // shaanxi and guangdong know each other; beijing is new to the network.
    let regions = common::start_regions(&dir, 3, Duration::from_millis(200), base).await;
    let (chains, runtimes): (_, Vec<Arc<ChainRuntime>>) = (regions.chains, regions.runtimes);
    let _processes = regions.processes;
    create_clients(&runtimes[..2]).await.unwrap();
    let (guangdong, beijing) = (&chains[1], &chains[2]);
    // beijing's operator gives it a client of guangdong and a query
    // scenario for guangdong's banks.
    common::clients_on_newcomer(&runtimes[2], &runtimes[1..2]).await;
    let grant = seed_query_scenario(beijing, runtimes[2].adapter().as_ref(), &guangdong.id)
        .await
        .unwrap();

    let (governors, keys) = common::governors();
    let api = std::net::SocketAddr::from(([127, 0, 0, 1], base + 1000));
    let token = "catch-up-test-token".to_owned();
    let mut relayers = start_relayers(
        exe,
        &dir,
        &chains,
        1,
        base,
        &MeshOptions {
            api: Some((api, token.clone())),
            governance: Some((keys.clone(), 2)),
            unannounced: vec![beijing.id.clone()],
            admitted: Vec::new(),
            regulator: Some(regulator_public_key(&chains[0]).unwrap()),
            capture: false,
        },
    )
    .await
    .unwrap();
    let url = |path: &str| format!("http://{api}{path}");
    for _ in 0..100 {
        if reqwest::get(url("/health")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // guangdong's relayer goes down before anything is proposed.
    let victim = &mut relayers[1];
    assert_eq!(victim.chain, guangdong.id);
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();

    // beijing is proposed and approved (2 of 3) while it is down.
    let operator = SigningKey::from_bytes(&[42; 32]);
    let registration =
        common::signed_registration(&runtimes[2], relayers[2].peer_id.clone(), &operator).await;
    let proposal = sign_proposal(Proposal::Register(registration), &operator);
    common::propose_and_approve(&url(""), &token, &proposal, &governors[..2]).await;

    // guangdong's relayer comes back with its old configuration and store:
    // nothing gossips the registration again, it has to ask.
    let home = dir.join("relayers").join(format!("{}-1", guangdong.id));
    let log = home.join("relayer.log");
    let _back = common::start_relayer(&home.join("relayer.toml"), &log);

    // It tracks beijing: its chain gets a client of beijing from the
    // registered anchor, and a query from guangdong is answered.
    let adapter = guangdong.adapter().unwrap();
    let client_key = state_keys::client(&beijing.id);
    let deadline = Instant::now() + Duration::from_secs(60);
    while adapter.state(&client_key).await.unwrap().value.is_none() {
        assert!(
            Instant::now() < deadline,
            "no client of beijing on guangdong; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, sequence) = send_query(guangdong, adapter.as_ref(), &beijing.id, &grant)
        .await
        .unwrap();
    wait_closed(guangdong, &beijing.id, sequence, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("guangdong → beijing: {e}"));
    let ack = runtimes[2]
        .adapter()
        .state(&state_keys::packet_ack_data(&guangdong.id, sequence))
        .await
        .unwrap();
    assert!(ack.value.is_some(), "beijing answered guangdong");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("caught up on the network registry"),
        "the registration came through catch-up:\n{text}"
    );

    // The supervision node, started only now and configured with shaanxi
    // and guangdong, learns of beijing the same way and follows it.
    let options = SupervisorOptions {
        api: std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port())),
        p2p_port: base + 2900,
        anchor_every_entries: 1000,
        anchor_every: Duration::from_secs(3600),
        governance: Some((keys, 2)),
    };
    let node = start_supervisor(exe, &dir, &chains[..2], &relayers, &options).unwrap();
    let node_api = node.api.to_string();
    let node_log = dir.join("supervisor/supervisor.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let latest = health(&node_api).await["chains"][beijing.id.as_str()]["latest"].as_u64();
        if latest.is_some_and(|h| h > 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the supervision node does not follow beijing; log:\n{}",
            std::fs::read_to_string(&node_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&node_log).unwrap();
    assert!(
        text.contains("caught up on the network registry"),
        "the node learnt of beijing through catch-up:\n{text}"
    );
    drop(node);
    eprintln!("catch-up test took {:?}", started.elapsed());
    drop(relayers);
    let _ = std::fs::remove_dir_all(&dir);
}
