//! The regulator's supervision node follows a chain registered at runtime,
//! across real processes: shaanxi and guangdong are configured in the
//! node; beijing is new to the network. Once its registration is approved
//! by two of three governors (through shaanxi's relayer), the node — with
//! no restart — anchors its light client of beijing at the registered
//! anchor and scans it: a query from shaanxi answered on beijing gets its
//! three entries, the one read on beijing (received, answered) included.
//! Once beijing is deregistered the node no longer follows it, and its
//! entries stay.

mod common;

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use protocol::registry::Proposal;
use protocol::state_keys;
use relayer::audit::http::{SIGNATURE_HEADER, TIME_HEADER, sign_read};
use relayer::devnet::{create_clients, seed_query_scenario, send_query};
use relayer::engine::wall_clock;
use relayer::mesh::devnet::{
    MeshOptions, SupervisorOptions, regulator_key_file, regulator_public_key, start_relayers,
    start_supervisor, wait_closed,
};
use relayer::registry::signing::sign_proposal;

fn base_port() -> u16 {
    // Everything (up to base + 2900) stays below Linux's ephemeral range
    // (32768 and up): an outgoing connection never holds a port a process
    // of this test must listen on.
    24_000 + (std::process::id() % 300) as u16 * 10
}

/// The node's audit entries, read with the regulator's key.
async fn entries(api: &str, key: &SigningKey) -> Vec<serde_json::Value> {
    let path = "/audit/entries";
    let (signature, time) = sign_read(key, "GET", path, wall_clock());
    let Ok(response) = reqwest::Client::new()
        .get(format!("http://{api}{path}"))
        .header(SIGNATURE_HEADER, signature)
        .header(TIME_HEADER, time)
        .send()
        .await
    else {
        return Vec::new();
    };
    if response.status() != 200 {
        return Vec::new();
    }
    response.json().await.unwrap_or_default()
}

/// The node's `/health` body (open to all), `Null` while it does not answer.
async fn health(api: &str) -> serde_json::Value {
    match reqwest::get(format!("http://{api}/health")).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

/// Waits up to `secs` for `check` to hold, panicking with `what`.
async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "{what} within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_supervision_node_follows_a_chain_registered_at_runtime() {
    let dir =
        std::env::temp_dir().join(format!("relayer-supervise-registry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = base_port();
    let regions = common::start_regions(&dir, 3, Duration::from_millis(200), base).await;
    let (chains, runtimes) = (&regions.chains, &regions.runtimes);
    // shaanxi and guangdong know each other; beijing's operator gives it
    // a client of shaanxi.
    create_clients(&runtimes[..2]).await.unwrap();
    common::clients_on_newcomer(&runtimes[2], &runtimes[..1]).await;
    let (shaanxi, beijing) = (&chains[0], &chains[2]);
    let grant = seed_query_scenario(beijing, runtimes[2].adapter().as_ref(), &shaanxi.id)
        .await
        .unwrap();

    let (governors, keys) = common::governors();
    let regulator_hex = regulator_public_key(shaanxi).unwrap();
    let regulator = credit_chain::keys::KeyFile::read(&regulator_key_file(shaanxi))
        .unwrap()
        .signing_key()
        .unwrap();
    let relayer_api = std::net::SocketAddr::from(([127, 0, 0, 1], base + 1000));
    let token = "supervise-registry-token".to_owned();
    let relayers = start_relayers(
        common::exe(),
        &dir,
        chains,
        1,
        base,
        &MeshOptions {
            api: Some((relayer_api, token.clone())),
            governance: Some((keys.clone(), 2)),
            unannounced: vec![beijing.id.clone()],
            admitted: Vec::new(),
            regulator: Some(regulator_hex),
            capture: false,
        },
    )
    .await
    .unwrap();
    // The node is configured with shaanxi and guangdong and their relayers
    // only: it knows neither beijing nor its relayer's address, and finds
    // that relayer through kademlia once the registry admits it.
    let options = SupervisorOptions {
        api: std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port())),
        p2p_port: base + 2900,
        anchor_every_entries: 1000,
        anchor_every: Duration::from_secs(3600),
        governance: Some((keys, 2)),
    };
    let node =
        start_supervisor(common::exe(), &dir, &chains[..2], &relayers[..2], &options).unwrap();
    let api = node.api.to_string();
    let url = |path: &str| format!("http://{relayer_api}{path}");
    wait_until(60, "shaanxi's relayer API answers", || async {
        reqwest::get(url("/health")).await.is_ok()
    })
    .await;
    // The node reads shaanxi through the mesh (so it is connected and
    // subscribed to the registry's gossip), and does not follow beijing.
    wait_until(60, "the node reads shaanxi", || async {
        health(&api).await["chains"][shaanxi.id.as_str()]["latest"]
            .as_u64()
            .is_some_and(|h| h > 0)
    })
    .await;
    assert!(
        health(&api).await["chains"][beijing.id.as_str()].is_null(),
        "beijing followed before it is registered"
    );
    // Gossipsub grafts the node into the registry topics' mesh.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // beijing's operator proposes it, anchored at its block 1; two
    // governors approve.
    let operator = SigningKey::from_bytes(&[42; 32]);
    let registration =
        common::signed_registration(&runtimes[2], relayers[2].peer_id.clone(), &operator).await;
    let proposal = sign_proposal(Proposal::Register(registration), &operator);
    common::propose_and_approve(&url(""), &token, &proposal, &governors[..2]).await;

    // The node follows beijing, with no restart.
    // Gossip normally brings the decision within seconds; if the node was
    // not yet in the topic's mesh, its periodic registry catch-up (every
    // 60 s) does.
    wait_until(150, "the node follows beijing", || async {
        health(&api).await["chains"][beijing.id.as_str()]["latest"]
            .as_u64()
            .is_some_and(|h| h > 0)
    })
    .await;

    // A query from shaanxi, answered on beijing.
    let shaanxi_adapter = shaanxi.adapter().unwrap();
    let client_key = state_keys::client(&beijing.id);
    wait_until(60, "shaanxi has a client of beijing", || async {
        shaanxi_adapter
            .state(&client_key)
            .await
            .is_ok_and(|s| s.value.is_some())
    })
    .await;
    let (_, sequence) = send_query(shaanxi, shaanxi_adapter.as_ref(), &beijing.id, &grant)
        .await
        .unwrap();
    wait_closed(shaanxi, &beijing.id, sequence, Duration::from_secs(120))
        .await
        .unwrap();
    let of_query = |list: &[serde_json::Value]| -> Vec<serde_json::Value> {
        list.iter()
            .filter(|e| {
                e["source"] == shaanxi.id.as_str()
                    && e["destination"] == beijing.id.as_str()
                    && e["packet_sequence"] == sequence
            })
            .cloned()
            .collect()
    };
    let started = Instant::now();
    let logged = loop {
        let logged = of_query(&entries(&api, &regulator).await);
        if logged.len() >= 3 {
            break logged;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the node did not log the query's three entries in 60 s: {logged:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let statuses: Vec<&str> = logged
        .iter()
        .filter_map(|e| e["outcome"]["status"].as_str())
        .collect();
    // "answered" is read on beijing (its write_acknowledgement, proven
    // against the node's own light client of beijing).
    for status in ["committed", "answered", "acknowledged"] {
        assert!(statuses.contains(&status), "no {status} in {logged:#?}");
    }
    assert_eq!(logged.len(), 3, "{logged:#?}");
    let received = logged
        .iter()
        .find(|e| e["outcome"]["status"] == "answered")
        .unwrap();
    assert_eq!(
        received["enterprise"],
        grant.enterprise.as_str(),
        "{received}"
    );

    // beijing deregistered: no longer followed; its entries stay.
    let proposal = sign_proposal(
        Proposal::Deregister {
            chain_id: beijing.id.clone(),
            reason: "test: leaves the network".into(),
        },
        &governors[0],
    );
    common::propose_and_approve(&url(""), &token, &proposal, &governors[..2]).await;
    wait_until(60, "the node stops following beijing", || async {
        health(&api).await["chains"][beijing.id.as_str()]["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("deregistered"))
    })
    .await;
    let after = health(&api).await;
    assert_eq!(after["status"], "ok", "{after}");
    assert_eq!(of_query(&entries(&api, &regulator).await).len(), 3);
    drop(node);
    drop(relayers);
    let _ = std::fs::remove_dir_all(&dir);
}
