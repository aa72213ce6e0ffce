//! The mesh of regional relayers across real processes on loopback: each
//! relayer has RPC access to its own chain only; everything else crosses
//! libp2p.

mod common;

use std::sync::Arc;
use std::time::Duration;

use protocol::tx::Acknowledgement;
use protocol::{Canonical, PacketPayload, QueryOutcome, state_keys};
use relayer::devnet::{ChainProcess, DevChain, create_clients, seed_query_scenario, send_query};
use relayer::engine::ChainRuntime;
use relayer::mesh::devnet::{MeshOptions, start_relayers, wait_closed};

/// Chains on `base + 10 i`, relayers' P2P ports at `base + 2000 + ...`.
fn base_port(offset: u16) -> u16 {
    20_000 + (std::process::id() % 500) as u16 * 10 + offset
}

/// Starts `count` regions; the first `known` get on-chain clients of each
/// other. Returns the chains, their processes and setup runtimes.
async fn start_regions_with(
    dir: &std::path::Path,
    count: usize,
    known: usize,
    base: u16,
) -> (Vec<DevChain>, Vec<ChainProcess>, Vec<Arc<ChainRuntime>>) {
    let regions = common::start_regions(dir, count, Duration::from_millis(200), base).await;
    create_clients(&regions.runtimes[..known]).await.unwrap();
    (regions.chains, regions.processes, regions.runtimes)
}

async fn start_regions(
    dir: &std::path::Path,
    count: usize,
    base: u16,
) -> (Vec<DevChain>, Vec<ChainProcess>) {
    let (chains, processes, _) = start_regions_with(dir, count, count, base).await;
    (chains, processes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_regions_query_each_other_through_the_mesh() {
    let dir = std::env::temp_dir().join(format!("relayer-mesh-five-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = base_port(0);
    let (chains, _processes) = start_regions(&dir, 5, base).await;
    let chains = Arc::new(chains);

    // Every answerer holds consent for every asker (answerers in parallel).
    let mut seeds = tokio::task::JoinSet::new();
    for b in 0..chains.len() {
        let chains = chains.clone();
        seeds.spawn(async move {
            let answerer = &chains[b];
            let adapter = answerer.adapter().unwrap();
            let mut grants = Vec::new();
            for (a, asker) in chains.iter().enumerate() {
                if a != b {
                    let grant = seed_query_scenario(answerer, adapter.as_ref(), &asker.id)
                        .await
                        .unwrap();
                    grants.push((a, b, grant));
                }
            }
            grants
        });
    }
    let mut grants = Vec::new();
    while let Some(done) = seeds.join_next().await {
        grants.extend(done.unwrap());
    }
    assert_eq!(grants.len(), 20);

    let relayers = start_relayers(
        common::exe(),
        &dir,
        &chains,
        1,
        base,
        &MeshOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(relayers.len(), 5);

    // Each asker sends its four queries (its own nonces, in order); askers
    // in parallel.
    let mut sends = tokio::task::JoinSet::new();
    for a in 0..chains.len() {
        let chains = chains.clone();
        let mine: Vec<_> = grants.iter().filter(|(x, _, _)| *x == a).cloned().collect();
        sends.spawn(async move {
            let asker = &chains[a];
            let adapter = asker.adapter().unwrap();
            let mut sent = Vec::new();
            for (_, b, grant) in mine {
                let (_, sequence) = send_query(asker, adapter.as_ref(), &chains[b].id, &grant)
                    .await
                    .unwrap();
                sent.push((a, b, sequence));
            }
            sent
        });
    }
    let mut sent = Vec::new();
    while let Some(done) = sends.join_next().await {
        sent.extend(done.unwrap());
    }
    assert_eq!(sent.len(), 20);

    for (a, b, sequence) in &sent {
        let (asker, answerer) = (&chains[*a], &chains[*b]);
        wait_closed(asker, &answerer.id, *sequence, Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("{} → {}: {e}", asker.id, answerer.id));
        // The answer is on the answering chain, and the packet was closed
        // on the asking one by its acknowledgement (not a timeout).
        let ack = answerer
            .adapter()
            .unwrap()
            .state(&state_keys::packet_ack_data(&asker.id, *sequence))
            .await
            .unwrap();
        let bytes = ack
            .value
            .unwrap_or_else(|| panic!("no answer of {} to {}", answerer.id, asker.id));
        match Acknowledgement::from_canonical_bytes(&bytes).unwrap() {
            Acknowledgement::Result(PacketPayload::CreditResponse(response)) => {
                assert_eq!(
                    response.outcome,
                    QueryOutcome::Answered,
                    "{} → {}",
                    asker.id,
                    answerer.id
                );
                // Two loans per seeded asker, all of the consenting
                // enterprise, each covered by its provider's sealed answer.
                let covered: usize = response.answers.iter().map(|a| a.commitments.len()).sum();
                assert_eq!(covered, 8, "{} → {}", asker.id, answerer.id);
            }
            other => panic!("{} → {}: {other:?}", asker.id, answerer.id),
        }
        let receipt = answerer
            .adapter()
            .unwrap()
            .state(&state_keys::packet_receipt(&asker.id, *sequence))
            .await
            .unwrap();
        assert!(receipt.value.is_some(), "received once on {}", answerer.id);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn get(url: &str, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until `check` holds on the JSON of `GET url`, failing after
/// `limit` with the last answer.
async fn wait_for(
    what: &str,
    url: &str,
    token: &str,
    limit: Duration,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let started = std::time::Instant::now();
    loop {
        let answer = get(url, token).await;
        if check(&answer) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{what} after {limit:?}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sixth_chain_registered_at_runtime_becomes_reachable_from_all_without_restarts() {
    use ed25519_dalek::SigningKey;
    use protocol::registry::Proposal;
    use relayer::registry::signing::{sign_approval, sign_proposal};

    let dir = std::env::temp_dir().join(format!("relayer-mesh-register-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = base_port(100);
    let exe = common::exe();
    // Five regions know each other; the sixth is new to the network.
    let (chains, _processes, runtimes) = start_regions_with(&dir, 6, 5, base).await;
    let (older, newcomer) = (&chains[..5], &chains[5]);
    let new_runtime = &runtimes[5];
    // The newcomer's own operator gives it clients of the chains it will
    // talk to, and its answerer holds consent for every older region.
    common::clients_on_newcomer(new_runtime, &runtimes[..5]).await;
    let mut grants = Vec::new();
    for asker in older {
        grants.push(
            seed_query_scenario(newcomer, new_runtime.adapter().as_ref(), &asker.id)
                .await
                .unwrap(),
        );
    }
    // And the newcomer asks the first region too, once it is in.
    let back_grant = seed_query_scenario(&older[0], runtimes[0].adapter().as_ref(), &newcomer.id)
        .await
        .unwrap();

    let (governors, keys) = common::governors();
    let api = std::net::SocketAddr::from(([127, 0, 0, 1], base + 1000));
    let token = "registry-test-token".to_owned();
    // Every relayer serves its API; the newcomer's relayer bootstraps from
    // the first relayer only, so the other four must find it through
    // kademlia once the registry admits it.
    let relayers = start_relayers(
        exe,
        &dir,
        &chains,
        1,
        base,
        &MeshOptions {
            api: Some((api, token.clone())),
            governance: Some((keys, 2)),
            unannounced: vec![newcomer.id.clone()],
            admitted: Vec::new(),
            regulator: None,
            capture: false,
        },
    )
    .await
    .unwrap();
    let apis: Vec<String> = relayers
        .iter()
        .map(|r| format!("http://{}", r.api.unwrap()))
        .collect();
    for api in &apis {
        for _ in 0..100 {
            if reqwest::get(format!("{api}/health")).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // The newcomer's operator proposes it, anchored at its block 1.
    let operator = SigningKey::from_bytes(&[42; 32]);
    let registration =
        common::signed_registration(new_runtime, relayers[5].peer_id.clone(), &operator).await;
    let proposal = sign_proposal(Proposal::Register(registration.clone()), &operator);
    let id = proposal.id();

    // A forged registration (signed by someone else) is refused by every
    // relayer.
    let mut forged = proposal.clone();
    forged.signature = protocol::Signature([1; 64]);
    for api in &apis {
        let (status, body) = common::post(
            &format!("{api}/registry/proposals"),
            &token,
            &serde_json::to_value(&forged).unwrap(),
        )
        .await;
        assert_eq!(status, 403, "{api}: {body}");
    }

    let (status, body) = common::post(
        &format!("{}/registry/proposals", apis[0]),
        &token,
        &serde_json::to_value(&proposal).unwrap(),
    )
    .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    // One approval of the two needed: every relayer has the proposal
    // pending with one approval, and none tracks the newcomer.
    let (status, body) = common::post(
        &format!("{}/registry/approvals", apis[0]),
        &token,
        &serde_json::to_value(sign_approval(id, &governors[0])).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "counted", "{body}");
    for api in &apis[..5] {
        wait_for(
            "the proposal pending with one approval",
            &format!("{api}/registry"),
            &token,
            Duration::from_secs(60),
            |view| {
                view["proposals"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["approval_count"] == 1))
            },
        )
        .await;
        let view = get(&format!("{api}/registry"), &token).await;
        assert_eq!(
            view["chains"].as_array().map(Vec::len),
            Some(0),
            "{api}: {view}"
        );
    }
    // A governor's approval from a non-governor key is refused.
    let (status, _) = common::post(
        &format!("{}/registry/approvals", apis[1]),
        &token,
        &serde_json::to_value(sign_approval(id, &operator)).unwrap(),
    )
    .await;
    assert_eq!(status, 403);

    // The second approval, given at another relayer, decides it
    // network-wide.
    let (status, body) = common::post(
        &format!("{}/registry/approvals", apis[2]),
        &token,
        &serde_json::to_value(sign_approval(id, &governors[1])).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "decided", "{body}");

    // Every older region now reaches the newcomer: its relayer gave its
    // chain a client of it from the registered anchor, found the
    // newcomer's relayer and the queries are answered.
    let mut sent = Vec::new();
    for (asker, grant) in older.iter().zip(&grants) {
        let adapter = asker.adapter().unwrap();
        let client_key = state_keys::client(&newcomer.id);
        let mut waited = 0;
        while adapter.state(&client_key).await.unwrap().value.is_none() {
            assert!(
                waited < 600,
                "no client of {} on {} after 60 s",
                newcomer.id,
                asker.id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        let (_, sequence) = send_query(asker, adapter.as_ref(), &newcomer.id, grant)
            .await
            .unwrap();
        sent.push((asker, sequence));
    }
    // And the newcomer asks the first region.
    let (_, back) = send_query(
        newcomer,
        new_runtime.adapter().as_ref(),
        &older[0].id,
        &back_grant,
    )
    .await
    .unwrap();
    for (asker, sequence) in sent {
        wait_closed(asker, &newcomer.id, sequence, Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("{} → {}: {e}", asker.id, newcomer.id));
        let ack = new_runtime
            .adapter()
            .state(&state_keys::packet_ack_data(&asker.id, sequence))
            .await
            .unwrap();
        assert!(ack.value.is_some(), "{} answered {}", newcomer.id, asker.id);
    }
    wait_closed(newcomer, &older[0].id, back, Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{} → {}: {e}", newcomer.id, older[0].id));
    let ack = runtimes[0]
        .adapter()
        .state(&state_keys::packet_ack_data(&newcomer.id, back))
        .await
        .unwrap();
    assert!(
        ack.value.is_some(),
        "{} answered {}",
        older[0].id,
        newcomer.id
    );

    // The four relayers that never had the newcomer's address are connected
    // to its relayer: they found it through kademlia.
    for api in &apis[1..5] {
        let peers = get(&format!("{api}/network/peers"), &token).await;
        let connected = peers["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["peer_id"] == relayers[5].peer_id));
        assert!(connected, "{api}: {peers}");
    }

    // Governance freezes the newcomer (two approvals, given at another
    // relayer): every relayer stops its traffic and says why; the API
    // refuses a query to it.
    let chain_of = |view: &serde_json::Value| {
        view["chains"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == newcomer.id.as_str()).cloned())
            .unwrap_or_default()
    };
    let freeze = sign_proposal(
        Proposal::Freeze {
            chain_id: newcomer.id.clone(),
            reason: "test: conflicting headers reported".into(),
        },
        &governors[0],
    );
    common::propose_and_approve(&apis[3], &token, &freeze, &governors[..2]).await;
    for api in &apis[..5] {
        wait_for(
            "the newcomer stopped by the registry",
            &format!("{api}/chains"),
            &token,
            Duration::from_secs(60),
            |view| {
                let chain = chain_of(view);
                chain["light_client"]["frozen"] == true
                    && chain["stopped_by_registry"]
                        .as_str()
                        .is_some_and(|r| r.contains("conflicting headers reported"))
            },
        )
        .await;
    }
    // Deregistered: its relayer is no longer admitted anywhere.
    let deregister = sign_proposal(
        Proposal::Deregister {
            chain_id: newcomer.id.clone(),
            reason: "test: platform retired".into(),
        },
        &governors[1],
    );
    common::propose_and_approve(&apis[4], &token, &deregister, &governors[1..]).await;
    for api in &apis[..5] {
        wait_for(
            "the newcomer's relayer cut off",
            &format!("{api}/network/peers"),
            &token,
            Duration::from_secs(60),
            |peers| {
                peers["peers"]
                    .as_array()
                    .is_some_and(|p| p.iter().all(|p| p["peer_id"] != relayers[5].peer_id))
            },
        )
        .await;
        let view = get(&format!("{api}/chains"), &token).await;
        assert!(
            chain_of(&view)["stopped_by_registry"]
                .as_str()
                .is_some_and(|r| r.contains("platform retired")),
            "{api}: {view}"
        );
    }
    drop(relayers);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relayers_serve_one_chain_and_one_is_killed_mid_load() {
    let dir = std::env::temp_dir().join(format!("relayer-mesh-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = base_port(200);
    let (chains, _processes) = start_regions(&dir, 2, base).await;
    let (asker, answerer) = (&chains[0], &chains[1]);
    let grant = seed_query_scenario(answerer, answerer.adapter().unwrap().as_ref(), &asker.id)
        .await
        .unwrap();
    // Fees are escrowed and paid on the asking chain.
    let payer = protocol::tx::Account::Local("bank-a".parse().unwrap());
    let balance =
        |bytes: Option<Vec<u8>>| bytes.map_or(0, |b| borsh::from_slice::<u64>(&b).unwrap());
    let answers = answerer.adapter().unwrap();
    let asks = asker.adapter().unwrap();
    let before = balance(
        asks.state(&state_keys::balance(&payer))
            .await
            .unwrap()
            .value,
    );
    let mut fee_per_query = 0;
    for (provider, _) in relayer::devnet::SEED_LOANS {
        let fee = answers
            .state(&state_keys::query_fee(&provider.parse().unwrap()))
            .await
            .unwrap()
            .value
            .map_or(0, |v| {
                borsh::from_slice::<protocol::Money>(&v)
                    .unwrap()
                    .minor_units
            });
        fee_per_query += fee;
    }
    assert!(fee_per_query > 0);
    // Two relayers per region, each with its own key on its chain.
    let mut relayers = start_relayers(
        common::exe(),
        &dir,
        &chains,
        2,
        base,
        &MeshOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(relayers.len(), 4);

    let adapter = asker.adapter().unwrap();
    let mut sent = Vec::new();
    for i in 0..60 {
        let (_, sequence) = send_query(asker, adapter.as_ref(), &answerer.id, &grant)
            .await
            .unwrap();
        sent.push(sequence);
        if i == 20 {
            // kill -9 of the asking region's first relayer, mid-load.
            let victim = &mut relayers[0];
            assert_eq!(victim.chain, asker.id);
            victim.child.kill().unwrap();
            victim.child.wait().unwrap();
        }
    }
    for sequence in &sent {
        wait_closed(asker, &answerer.id, *sequence, Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("#{sequence}: {e}"));
        let ack = answers
            .state(&state_keys::packet_ack_data(&asker.id, *sequence))
            .await
            .unwrap();
        assert!(ack.value.is_some(), "#{sequence} answered");
    }
    // Exactly once: bank-a paid one fee per query on its chain, however
    // many relayers tried to deliver or acknowledge it.
    let after = balance(
        asks.state(&state_keys::balance(&payer))
            .await
            .unwrap()
            .value,
    );
    assert_eq!(
        before - after,
        sent.len() as u64 * fee_per_query,
        "one fee per query"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
