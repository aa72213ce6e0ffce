//! Hostile peers against a mesh of real relayer processes on loopback: a
//! node the registry does not know is refused at connection time, and an
//! admitted node that gossips forged light blocks is rejected, banned
//! after three strikes and never gets its block onto a chain; both show in
//! `/network/peers`, `/metrics` and `relayer network ...`. Admitted nodes
//! that flood or ask for unbounded work (junk registrations, a submission
//! needing thousands of blocks verified, far-ahead blocks signed by keys of
//! their own) are refused and banned, and governance still freezes a chain.

mod common;

use std::time::{Duration, Instant};

use credit_chain::app::state::StoredClient;
use ed25519_dalek::SigningKey;
use network::{Multiaddr, Network, NetworkConfig, NetworkHandle, PeerId, Topic};
use protocol::registry::Proposal;
use protocol::tx::TxBody;
use protocol::{Canonical, Hash, Height, LightBlock, state_keys};
use relayer::devnet::{DevChain, Regions, create_clients, seed_query_scenario, send_query};
use relayer::mesh::devnet::{MeshOptions, start_relayers, wait_closed};
use serde_json::Value;

/// Chains on `base + 10 i`, relayers' P2P ports at `base + 2000 + ...`,
/// the API at `base + 1000` (clear of tests/mesh.rs's ranges).
fn base_port() -> u16 {
    20_000 + (std::process::id() % 500) as u16 * 10 + 300
}

/// A fresh ed25519 key and its peer id.
fn fresh_identity() -> (SigningKey, PeerId) {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let peer = network::peer_id_of(&network::identity::public_key_of_signing_key(&key)).unwrap();
    (key, peer)
}

/// A libp2p node of the test process that knows (and admits) only
/// `relayer` at `addr`.
async fn start_node(key: SigningKey, relayer: PeerId, addr: Multiaddr) -> NetworkHandle {
    let mut config = NetworkConfig::new(key);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.bootstrap = vec![(relayer, addr)];
    config.allowed = vec![relayer];
    config.request_timeout = Duration::from_secs(5);
    config.gossip_heartbeat = Duration::from_millis(200);
    // Its events are not read: gossip it receives is dropped unjudged.
    let (handle, _events) = Network::start(config).await.unwrap();
    handle
}

/// GET with a bearer token: the status and JSON body; `(0, null)` while
/// the API does not listen yet.
async fn get(url: &str, token: &str) -> (u16, Value) {
    let Ok(response) = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
    else {
        return (0, Value::Null);
    };
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The value of the sample `line_start` (a metric name with its labels) in
/// a Prometheus text page; 0 when absent.
/// The Prometheus text at `url`.
async fn metrics_page(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

fn sample(page: &str, line_start: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Polls `check` every 200 ms until it holds, at most `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if started.elapsed() > limit => {
                panic!("{what}: not within {limit:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn peer_ids(peers: &Value) -> Vec<String> {
    peers["peers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["peer_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The headers guangdong's on-chain client of shaanxi trusts, by height.
async fn trusted_on_guangdong(
    guangdong: &DevChain,
    shaanxi: &protocol::ChainId,
) -> Vec<(Height, Hash)> {
    let state = guangdong
        .adapter()
        .unwrap()
        .state(&state_keys::client(shaanxi))
        .await
        .unwrap();
    let client: StoredClient = borsh::from_slice(&state.value.unwrap()).unwrap();
    client
        .trusted
        .iter()
        .map(|b| (b.height(), b.header().hash()))
        .collect()
}

/// Runs `relayer network VERB [ARGS] --api URL --token T` (off the async
/// runtime: the CLI blocks); its exit code and stdout.
async fn cli(verb: &str, args: &[&str], api: &str, token: &str) -> (i32, String) {
    let mut command = std::process::Command::new(common::exe());
    command
        .args(["network", verb])
        .args(args)
        .args(["--api", api, "--token", token]);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unregistered_and_forging_peers_are_refused_rejected_and_banned() {
    let dir = std::env::temp_dir().join(format!("relayer-mesh-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = base_port();
    let exe = common::exe();

    // Two regions with clients of each other.
    let Regions {
        chains,
        processes: _processes,
        runtimes,
    } = common::start_regions(&dir, 2, Duration::from_millis(200), base).await;
    create_clients(&runtimes).await.unwrap();
    let (shaanxi, guangdong) = (&chains[0], &chains[1]);
    let grant = seed_query_scenario(
        guangdong,
        guangdong.adapter().unwrap().as_ref(),
        &shaanxi.id,
    )
    .await
    .unwrap();

    // One relayer per region; every relayer admits the hostile node's id
    // (as the registry would a registered relayer's), not the intruder's.
    let (hostile_key, hostile_peer) = fresh_identity();
    let (intruder_key, intruder_peer) = fresh_identity();
    let api = std::net::SocketAddr::from(([127, 0, 0, 1], base + 1000));
    let token = "hostile-test-token".to_owned();
    let relayers = start_relayers(
        exe,
        &dir,
        &chains,
        1,
        base,
        &MeshOptions {
            api: Some((api, token.clone())),
            admitted: vec![hostile_peer.to_string()],
            ..MeshOptions::default()
        },
    )
    .await
    .unwrap();
    let relayer_peer: PeerId = relayers[0].peer_id.parse().unwrap();
    let relayer_addr: Multiaddr = relayers[0]
        .address
        .rsplit_once("/p2p/")
        .unwrap()
        .0
        .parse()
        .unwrap();
    let base_url = format!("http://{api}");
    let url = |path: &str| format!("{base_url}{path}");
    eventually(
        "shaanxi's relayer meets guangdong's",
        Duration::from_secs(20),
        || async {
            let (status, peers) = get(&url("/network/peers"), &token).await;
            if status == 200 && peer_ids(&peers).contains(&relayers[1].peer_id) {
                Ok(())
            } else {
                Err(format!("{status} {peers}"))
            }
        },
    )
    .await;
    let (status, _) = get(&url("/network/peers"), "wrong-token").await;
    assert_eq!(status, 401, "/network/peers is bearer-protected");

    // (a) A node the registry does not know is refused at connection time.
    let intruder = start_node(intruder_key, relayer_peer, relayer_addr.clone()).await;
    let asked = tokio::time::timeout(
        Duration::from_secs(15),
        intruder.request(relayer_peer, b"let me in".to_vec()),
    )
    .await;
    assert!(
        !matches!(asked, Ok(Ok(_))),
        "an unregistered node got an answer: {asked:?}"
    );
    assert!(intruder.peers().await.unwrap().is_empty());
    eventually(
        "the relayer counts the refused connection",
        Duration::from_secs(10),
        || async {
            let (_, peers) = get(&url("/network/peers"), &token).await;
            let refused = peers["stats"]["connections_refused_inbound"]
                .as_u64()
                .unwrap_or(0);
            if refused >= 1 && !peer_ids(&peers).contains(&intruder_peer.to_string()) {
                Ok(())
            } else {
                Err(peers.to_string())
            }
        },
    )
    .await;
    let page = metrics_page(&url("/metrics")).await;
    assert!(
        sample(
            &page,
            "relayer_mesh_connections_refused_total{direction=\"inbound\"}"
        ) >= 1.0,
        "{page}"
    );
    intruder.shutdown().await.unwrap();

    // (b) An admitted node gossips forged light blocks of shaanxi: real
    // blocks with another state root, so their commits do not sign them.
    let hostile = start_node(hostile_key, relayer_peer, relayer_addr.clone()).await;
    let topic = Topic::LightBlocks(shaanxi.id.clone());
    hostile.subscribe(&topic).await.unwrap();
    eventually(
        "the relayer admits the hostile node",
        Duration::from_secs(15),
        || async {
            let (_, peers) = get(&url("/network/peers"), &token).await;
            if peer_ids(&peers).contains(&hostile_peer.to_string()) {
                Ok(())
            } else {
                Err(peers.to_string())
            }
        },
    )
    .await;
    let shaanxi_rpc = shaanxi.adapter().unwrap();
    let latest = shaanxi_rpc.status().await.unwrap().latest_height.value();
    assert!(latest > 3, "shaanxi at height {latest}");
    let mut forged: Vec<(LightBlock, Hash)> = Vec::new();
    for height in [latest - 2, latest - 1, latest] {
        let mut block = shaanxi_rpc
            .light_block(Height::new(height).unwrap())
            .await
            .unwrap();
        let honest = block.header().hash();
        block.signed_header.header.state_root = Hash::digest(b"forged state root");
        assert_ne!(block.header().hash(), honest);
        forged.push((block, honest));
    }
    for (block, _) in &forged {
        let body = block.to_canonical_bytes();
        // Gossipsub refuses to publish until the relayer's subscription
        // reached the node.
        let started = Instant::now();
        while let Err(e) = hostile.publish(&topic, body.clone()).await {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "cannot publish: {e}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eventually(
        "three rejections and a ban",
        Duration::from_secs(20),
        || async {
            let (_, peers) = get(&url("/network/peers"), &token).await;
            let stats = &peers["stats"];
            let rejected = stats["gossip_rejected"].as_u64().unwrap_or(0);
            let bans = stats["bans"].as_u64().unwrap_or(0);
            if rejected >= 3 && bans >= 1 && !peer_ids(&peers).contains(&hostile_peer.to_string()) {
                Ok(())
            } else {
                Err(peers.to_string())
            }
        },
    )
    .await;
    let page = metrics_page(&url("/metrics")).await;
    assert!(
        sample(
            &page,
            "relayer_mesh_gossip_rejected_total{topic=\"light_blocks\"}"
        ) >= 3.0,
        "{page}"
    );
    assert!(
        sample(
            &page,
            "relayer_mesh_gossip_received_total{topic=\"light_blocks\"}"
        ) >= 3.0,
        "{page}"
    );
    assert!(
        sample(&page, "relayer_mesh_peers_banned_total") >= 1.0,
        "{page}"
    );
    // Banned: disconnected, and refused if it tries again.
    eventually(
        "the hostile node is cut off",
        Duration::from_secs(10),
        || async {
            let peers = hostile.peers().await.unwrap();
            if peers.iter().all(|p| p.peer != relayer_peer) {
                Ok(())
            } else {
                Err(format!("{peers:?}"))
            }
        },
    )
    .await;
    let asked = tokio::time::timeout(
        Duration::from_secs(15),
        hostile.request(relayer_peer, b"status?".to_vec()),
    )
    .await;
    assert!(
        !matches!(asked, Ok(Ok(_))),
        "a banned node got an answer: {asked:?}"
    );

    // The mesh still relays a real query end to end, and guangdong's client
    // of shaanxi never trusted a forged header.
    let adapter = shaanxi.adapter().unwrap();
    let (_, sequence) = send_query(shaanxi, adapter.as_ref(), &guangdong.id, &grant)
        .await
        .unwrap();
    wait_closed(shaanxi, &guangdong.id, sequence, Duration::from_secs(40))
        .await
        .unwrap();
    let ack = guangdong
        .adapter()
        .unwrap()
        .state(&state_keys::packet_ack_data(&shaanxi.id, sequence))
        .await
        .unwrap();
    assert!(ack.value.is_some(), "guangdong answered shaanxi");
    let trusted = trusted_on_guangdong(guangdong, &shaanxi.id).await;
    assert!(
        trusted.len() >= 2,
        "the query moved the client: {trusted:?}"
    );
    for (block, honest) in &forged {
        let forged_hash = block.header().hash();
        for (height, hash) in &trusted {
            assert_ne!(*hash, forged_hash, "a forged header is trusted at {height}");
            if *height == block.height() {
                assert_eq!(
                    hash, honest,
                    "the header trusted at {height} is the honest one"
                );
            }
        }
    }

    // The routes: shaanxi local, guangdong through its relayer, used.
    let (status, routes) = get(&url("/network/routes"), &token).await;
    assert_eq!(status, 200, "{routes}");
    assert_eq!(routes["mesh"], true);
    let route = |chain: &str| {
        routes["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["chain"] == chain)
            .cloned()
            .unwrap_or_else(|| panic!("no route of {chain}: {routes}"))
    };
    assert_eq!(route("shaanxi")["route"], "local", "{routes}");
    let remote = route("guangdong");
    assert_eq!(remote["route"], "remote", "{routes}");
    assert_eq!(
        remote["relayers"][0],
        relayers[1].peer_id.as_str(),
        "{routes}"
    );
    assert!(
        remote["endpoints"][0]["requests"].as_u64().unwrap() > 0,
        "{routes}"
    );
    assert!(
        remote["latency"]["samples"].as_u64().unwrap() > 0,
        "{routes}"
    );
    let page = metrics_page(&url("/metrics")).await;
    assert!(
        sample(
            &page,
            "relayer_mesh_route_latency_seconds_count{chain=\"guangdong\"}"
        ) >= 1.0,
        "{page}"
    );

    // The operator's view of the same.
    let (code, out) = cli("routes", &[], &base_url, &token).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("guangdong") && out.contains("remote"), "{out}");
    assert!(
        out.contains(&format!("p2p:{}", relayers[1].peer_id)),
        "{out}"
    );
    let (code, out) = cli("peers", &[], &base_url, &token).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&relayers[1].peer_id), "{out}");
    assert!(out.contains("peers banned: 1"), "{out}");
    let (code, _) = cli("peers", &[], &base_url, "wrong").await;
    assert_eq!(code, 2, "an unknown token is refused");

    // (c) The ban is kept in the store: listed, still in force after the
    // relayer restarts, and lifted only by the operator.
    let hostile_id = hostile_peer.to_string();
    let (status, bans) = get(&url("/network/bans"), &token).await;
    assert_eq!(status, 200, "{bans}");
    assert_eq!(bans["bans"][0]["peer_id"], hostile_id.as_str(), "{bans}");
    assert!(bans["bans"][0]["strikes"].as_u64() >= Some(3), "{bans}");
    let mut relayers = relayers;
    let _ = relayers[0].child.kill();
    let _ = relayers[0].child.wait();
    let home = dir.join("relayers").join(format!("{}-1", shaanxi.id));
    relayers[0].child = relayer::mesh::devnet::spawn_logged(
        exe,
        "start",
        &home.join("relayer.toml"),
        &home.join("relayer-restarted.log"),
    )
    .unwrap();
    eventually(
        "the restarted relayer refuses the banned node",
        Duration::from_secs(30),
        || async {
            let _ = hostile.dial(relayer_peer, relayer_addr.clone()).await;
            let (status, peers) = get(&url("/network/peers"), &token).await;
            let refused = peers["stats"]["connections_refused_inbound"]
                .as_u64()
                .unwrap_or(0);
            if status == 200 && refused >= 1 && !peer_ids(&peers).contains(&hostile_id) {
                Ok(())
            } else {
                Err(format!("{status} {peers}"))
            }
        },
    )
    .await;
    let (code, out) = cli("bans", &[], &base_url, &token).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 peer(s) banned") && out.contains(&hostile_id),
        "{out}"
    );
    for expected in [0, 1] {
        // Lifted once; the second time it is no longer banned (exit 1).
        let (code, out) = cli("unban", &[hostile_id.as_str()], &base_url, &token).await;
        assert_eq!(code, expected, "{out}");
    }
    let (status, body) = get(&url("/network/bans"), &token).await;
    assert_eq!(
        (status, body["bans"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // Not a peer id: malformed (exit 3), named as such.
    let (code, _) = cli("unban", &["not-a-peer-id"], &base_url, &token).await;
    assert_eq!(code, 3);
    let response = reqwest::Client::new()
        .delete(url("/network/bans/not-a-peer-id"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("is not a libp2p peer id")),
        "{body}"
    );
    eventually(
        "the unbanned node connects again",
        Duration::from_secs(30),
        || async {
            let _ = hostile.dial(relayer_peer, relayer_addr.clone()).await;
            let (_, peers) = get(&url("/network/peers"), &token).await;
            if peer_ids(&peers).contains(&hostile_id) {
                Ok(())
            } else {
                Err(peers.to_string())
            }
        },
    )
    .await;

    // (d) After the restart, the admitted node hands over a timeout whose
    // proof is at guangdong's height 1, far below what the relayer trusts
    // of it: no re-anchoring (the trusted height stays), a strike each
    // time, banned after three.
    let trusted_guangdong = || async {
        let (_, chains) = get(&url("/chains"), &token).await;
        chains["chains"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == guangdong.id.as_str()))
            .and_then(|c| c["light_client"]["trusted_height"].as_u64())
            .unwrap_or(0)
    };
    eventually(
        "the restarted relayer trusts a recent block of guangdong",
        Duration::from_secs(30),
        || async {
            match trusted_guangdong().await {
                h if h > 1 => Ok(()),
                h => Err(format!("trusted height {h}")),
            }
        },
    )
    .await;
    let before = trusted_guangdong().await;
    let mut packet: protocol::Packet =
        serde_json::from_str(include_str!("../../protocol/tests/data/packet.json")).unwrap();
    packet.source = shaanxi.id.clone();
    packet.destination = guangdong.id.clone();
    let request = relayer::mesh::wire::encode(&relayer::mesh::wire::MeshRequest::Submit {
        chain: shaanxi.id.clone(),
        bodies: vec![protocol::tx::TxBody::TimeoutPacket {
            packet,
            proof: Vec::new(),
            proof_height: Height::GENESIS,
        }],
    });
    for attempt in 0..3 {
        let answer = hostile.request(relayer_peer, request.clone()).await;
        if attempt == 2 && answer.is_err() {
            break;
        }
        match relayer::mesh::wire::decode(&answer.unwrap(), "answer").unwrap() {
            relayer::mesh::wire::MeshResponse::Refused { reason } => {
                // Too far below to walk back, or walked back and the
                // proof fails against the genuine block 1.
                assert!(
                    reason.contains("block 1 of") || reason.contains("proof"),
                    "{reason}"
                )
            }
            other => panic!("a submission proven at height 1 was served: {other:?}"),
        }
        assert!(
            trusted_guangdong().await >= before,
            "the relayer's trust in guangdong moved back"
        );
    }
    eventually(
        "the node is banned again",
        Duration::from_secs(20),
        || async {
            let (_, bans) = get(&url("/network/bans"), &token).await;
            if bans.to_string().contains(&hostile_id) {
                Ok(())
            } else {
                Err(bans.to_string())
            }
        },
    )
    .await;
    assert!(trusted_guangdong().await >= before);

    drop(relayers);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A registration of the chain `id` that exists nowhere but in it, signed
/// by `operator` (anyone may sign one), served by `peer`.
fn registration_of(
    id: &str,
    operator: &SigningKey,
    peer: &PeerId,
) -> protocol::registry::SignedProposal {
    let validators = light_clients::credit_chain::signing::Committee::deterministic(id, 1);
    let mut registration = protocol::ChainRegistration {
        chain_id: id.parse().unwrap(),
        chain_type: protocol::ChainType::CreditChain,
        trust_anchor: protocol::TrustAnchor {
            height: Height::GENESIS,
            header_hash: Hash::digest(id.as_bytes()),
            next_validators: validators.validator_set().clone(),
        },
        operator_key: protocol::PublicKey([0; 32]),
        relayer_peer_ids: vec![peer.to_string()],
        operator_signature: protocol::Signature([0; 64]),
    };
    relayer::registry::signing::sign_registration(&mut registration, operator);
    relayer::registry::signing::sign_proposal(Proposal::Register(registration), operator)
}

/// Publishes `body` on `topic`, waiting (at most 15 s) for the relayer's
/// subscription to reach the node.
async fn publish(node: &NetworkHandle, topic: &Topic, body: Vec<u8>) {
    let started = Instant::now();
    while let Err(e) = node.publish(topic, body.clone()).await {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "cannot publish: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flooding_and_costly_peers_are_banned_and_governance_still_freezes() {
    let dir = std::env::temp_dir().join(format!("relayer-mesh-abuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Clear of the other test's ports (they end in 0, these in 5).
    let base = base_port() + 5;
    let exe = common::exe();
    let Regions {
        chains,
        processes: _processes,
        runtimes,
    } = common::start_regions(&dir, 2, Duration::from_millis(200), base).await;
    create_clients(&runtimes).await.unwrap();
    let (shaanxi, guangdong) = (&chains[0], &chains[1]);

    // Three admitted nodes, one per abuse (each is banned for it).
    let (submitter_key, submitter) = fresh_identity();
    let (forger_key, forger) = fresh_identity();
    let (flooder_key, flooder) = fresh_identity();
    let (governors, keys) = common::governors();
    let api = std::net::SocketAddr::from(([127, 0, 0, 1], base + 1000));
    let token = "abuse-test-token".to_owned();
    let relayers = start_relayers(
        exe,
        &dir,
        &chains,
        1,
        base,
        &MeshOptions {
            api: Some((api, token.clone())),
            governance: Some((keys, 2)),
            admitted: [&submitter, &forger, &flooder]
                .iter()
                .map(|p| p.to_string())
                .collect(),
            ..MeshOptions::default()
        },
    )
    .await
    .unwrap();
    let relayer_peer: PeerId = relayers[0].peer_id.parse().unwrap();
    let relayer_addr: Multiaddr = relayers[0]
        .address
        .rsplit_once("/p2p/")
        .unwrap()
        .0
        .parse()
        .unwrap();
    let base_url = format!("http://{api}");
    let url = |path: &str| format!("{base_url}{path}");
    eventually(
        "shaanxi's relayer meets guangdong's",
        Duration::from_secs(30),
        || async {
            let (status, peers) = get(&url("/network/peers"), &token).await;
            if status == 200 && peer_ids(&peers).contains(&relayers[1].peer_id) {
                Ok(())
            } else {
                Err(format!("{status} {peers}"))
            }
        },
    )
    .await;
    let admitted = |peer: PeerId| {
        let (url, token) = (url("/network/peers"), token.clone());
        async move {
            eventually(
                "the relayer admits the node",
                Duration::from_secs(15),
                || async {
                    let (_, peers) = get(&url, &token).await;
                    if peer_ids(&peers).contains(&peer.to_string()) {
                        Ok(())
                    } else {
                        Err(peers.to_string())
                    }
                },
            )
            .await;
        }
    };
    let banned = |peer: PeerId| {
        let (url, token) = (url("/network/bans"), token.clone());
        async move {
            eventually(
                "the relayer bans the node",
                Duration::from_secs(30),
                || async {
                    let (_, bans) = get(&url, &token).await;
                    let listed = bans["bans"].as_array().is_some_and(|b| {
                        b.iter().any(|b| {
                            b["peer_id"] == peer.to_string().as_str()
                                && b["strikes"].as_u64() >= Some(3)
                        })
                    });
                    if listed {
                        Ok(())
                    } else {
                        Err(bans.to_string())
                    }
                },
            )
            .await;
        }
    };
    let registry = || async {
        let (status, view) = get(&url("/registry"), &token).await;
        assert_eq!(status, 200, "{view}");
        view
    };
    let status_of = |view: &Value, chain: &str| {
        view["chains"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["chain_id"] == chain))
            .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
    };

    // hubei is registered by governance (before anyone floods).
    let hubei_relayer = fresh_identity().1;
    let hubei = registration_of("hubei", &SigningKey::from_bytes(&[43; 32]), &hubei_relayer);
    common::propose_and_approve(&base_url, &token, &hubei, &governors[..2]).await;
    let view = registry().await;
    assert_eq!(
        status_of(&view, "hubei").as_deref(),
        Some("active"),
        "{view}"
    );

    // (a) A submission needing thousands of blocks verified (timeouts with
    // distinct proof heights) is refused unverified, named; three of them
    // are three strikes.
    let submitting = start_node(submitter_key, relayer_peer, relayer_addr.clone()).await;
    admitted(submitter).await;
    let mut packet: protocol::Packet =
        serde_json::from_str(include_str!("../../protocol/tests/data/packet.json")).unwrap();
    packet.source = shaanxi.id.clone();
    packet.destination = guangdong.id.clone();
    let bodies: Vec<TxBody> = (1..=3000u64)
        .map(|h| TxBody::TimeoutPacket {
            packet: protocol::Packet {
                sequence: h,
                ..packet.clone()
            },
            proof: Vec::new(),
            proof_height: Height::new(h).unwrap(),
        })
        .collect();
    let request = relayer::mesh::wire::encode(&relayer::mesh::wire::MeshRequest::Submit {
        chain: shaanxi.id.clone(),
        bodies,
    });
    for attempt in 0..3 {
        let answer = submitting.request(relayer_peer, request.clone()).await;
        // The third strike bans: its answer may be cut off.
        if attempt == 2 && answer.is_err() {
            break;
        }
        let answer: relayer::mesh::wire::MeshResponse =
            relayer::mesh::wire::decode(&answer.unwrap(), "answer").unwrap();
        match answer {
            relayer::mesh::wire::MeshResponse::Refused { reason } => assert!(
                reason.contains("more than 80 distinct blocks verified"),
                "{reason}"
            ),
            other => panic!("an abusive submission was served: {other:?}"),
        }
    }
    banned(submitter).await;

    // (b) Blocks of guangdong far past what the relayer trusts, signed by
    // keys of the node's own: rejected without a bisection, banned.
    let forging = start_node(forger_key, relayer_peer, relayer_addr.clone()).await;
    let topic = Topic::LightBlocks(guangdong.id.clone());
    forging.subscribe(&topic).await.unwrap();
    admitted(forger).await;
    // The relayer's light client of guangdong follows its relayer's gossip.
    eventually(
        "the relayer accepts guangdong's gossiped blocks",
        Duration::from_secs(30),
        || async {
            let page = metrics_page(&url("/metrics")).await;
            let accepted = sample(
                &page,
                "relayer_mesh_gossip_accepted_total{topic=\"light_blocks\"}",
            );
            if accepted >= 1.0 {
                Ok(())
            } else {
                Err(format!("{accepted} accepted"))
            }
        },
    )
    .await;
    let own_keys = light_clients::credit_chain::signing::Committee::deterministic("forger", 4);
    // A real recent header, moved far ahead and just later in time: it
    // passes every cheap check of the light client, which could only
    // bisect towards it (through blocks that do not exist).
    let guangdong_rpc = guangdong.adapter().unwrap();
    let latest = guangdong_rpc.status().await.unwrap().latest_height;
    let real = guangdong_rpc.light_block(latest).await.unwrap();
    for ahead in 0..3u64 {
        let mut block = real.clone();
        let header = &mut block.signed_header.header;
        header.height = Height::new(latest.value() + 100_000 + ahead).unwrap();
        header.time = header
            .time
            .checked_add(Duration::from_millis(100 * (ahead + 1)))
            .unwrap();
        header.validators_hash = own_keys.validator_set().hash();
        header.next_validators_hash = own_keys.validator_set().hash();
        header.proposer = own_keys.validator_set().validators()[0].pub_key;
        block.validators = own_keys.validator_set().clone();
        block.next_validators = own_keys.validator_set().clone();
        block.signed_header.commit = own_keys.sign(block.header());
        publish(&forging, &topic, block.to_canonical_bytes()).await;
    }
    banned(forger).await;

    // (c) More junk registrations than the queue holds: the excess is
    // refused with a strike each, and the flooder banned.
    let flooding = start_node(flooder_key, relayer_peer, relayer_addr.clone()).await;
    flooding.subscribe(&Topic::Registrations).await.unwrap();
    admitted(flooder).await;
    let max = relayer::registry::MAX_PENDING_REGISTRATIONS;
    for i in 0..max + 20 {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        let junk = registration_of(
            &format!("junk-{i}"),
            &SigningKey::from_bytes(&seed),
            &flooder,
        );
        publish(&flooding, &Topic::Registrations, junk.to_canonical_bytes()).await;
    }
    banned(flooder).await;
    let view = registry().await;
    let pending = view["proposals"].as_array().map_or(0, Vec::len);
    assert_eq!(pending, max, "the registrations' queue is full");

    // Governance still freezes hubei.
    let freeze = relayer::registry::signing::sign_proposal(
        Proposal::Freeze {
            chain_id: "hubei".parse().unwrap(),
            reason: "test: frozen during a flood".into(),
        },
        &governors[0],
    );
    common::propose_and_approve(&base_url, &token, &freeze, &governors[..2]).await;
    let view = registry().await;
    assert_eq!(
        status_of(&view, "hubei").as_deref(),
        Some("frozen"),
        "{view}"
    );

    drop(relayers);
    let _ = std::fs::remove_dir_all(&dir);
}
