//! The mesh of regional relayers across real processes on loopback: each
//! relayer has RPC access to its own chain only; everything else crosses
//! libp2p.

mod common;

use std::sync::Arc;
use std::time::Duration;

use protocol::tx::Acknowledgement;
use protocol::{Canonical, PacketPayload, QueryOutcome, state_keys};
use relayer::devnet::{
    ChainProcess, DevChain, REGIONS, create_clients, seed_query_scenario, send_query, start_chain,
    wait_for_chain,
};
use relayer::mesh::devnet::{MeshOptions, start_relayers, wait_closed};
use relayer::metrics::Metrics;
use relayer::store::Store;

/// Chains on `base + 10 i`, relayers' P2P ports at `base + 2000 + ...`.
fn base_port(offset: u16) -> u16 {
    20_000 + (std::process::id() % 500) as u16 * 10 + offset
}

async fn start_regions(
    dir: &std::path::Path,
    count: usize,
    base: u16,
) -> (Vec<DevChain>, Vec<ChainProcess>) {
    let exe = common::exe();
    let mut chains = Vec::new();
    let mut processes = Vec::new();
    for (i, name) in REGIONS.iter().take(count).enumerate() {
        let (chain, process) = start_chain(
            exe,
            dir,
            name,
            Duration::from_millis(200),
            base + 10 * i as u16,
        )
        .unwrap();
        chains.push(chain);
        processes.push(process);
    }
    let store = Store::open(&dir.join("setup-store")).unwrap();
    let metrics = Metrics::new();
    let mut runtimes = Vec::new();
    for c in &chains {
        let runtime = c.runtime(&store, &metrics).unwrap();
        wait_for_chain(runtime.adapter().as_ref()).await.unwrap();
        runtimes.push(runtime);
    }
    create_clients(&runtimes).await.unwrap();
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
                    let grant = seed_query_scenario(answerer, adapter.as_ref(), &asker.id, 100_000)
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
                // Two loans per seeded asker, all of the consenting enterprise.
                assert_eq!(response.records.len(), 8, "{} → {}", asker.id, answerer.id);
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
