//! Exactly once across a crash: two chain processes and a relayer daemon
//! process (`relayer start --config`, batches of 50). bank-a sends 500
//! consented credit queries; once some but not all are delivered the relayer
//! is killed with SIGKILL and restarted on the same store. All 500 end
//! acknowledged, each received once: 500 receipts on the destination, the
//! providers paid exactly 500 fees (into their accounts on the source, from
//! the escrow), bank-a charged exactly 500 fees, and on the source every
//! packet has a result and none is pending.
//!
//! `RELAYER_TEST_KEEP=1` keeps the directory (chain and relayer logs, the
//! generated config) for a look afterwards.

use std::time::{Duration, Instant};

use adapters::ChainAdapter;
use credit_chain::app::auth::{public_key, sign_transaction};
use protocol::tx::Account;
use protocol::{Money, state_keys};
mod common;

use common::{TwoChains, start_relayer};
use relayer::devnet::{self, RelayerConfig, SEED_LOANS};
use relayer::metrics::Metrics;
use relayer::store::{PacketState, Store};

const PACKETS: u64 = 500;
const BATCH_SIZE: usize = 50;

/// The values under `keys` (proven by the adapter), in order.
async fn values(adapter: &dyn ChainAdapter, keys: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    let proven = adapter.states(keys).await.unwrap();
    proven.entries.into_iter().map(|e| e.value).collect()
}

async fn balance(adapter: &dyn ChainAdapter, account: &Account) -> u64 {
    let proven = adapter.state(&state_keys::balance(account)).await.unwrap();
    proven
        .value
        .map_or(0, |b| borsh::from_slice::<u64>(&b).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayer_killed_mid_batch_delivers_every_packet_exactly_once_after_restart() {
    let started = Instant::now();
    let net = TwoChains::start("relayer-exactly-once");
    let (dir, a, b) = (&net.dir, &net.a, &net.b);

    // Setup through in-process runtimes with a store of their own.
    let setup_store = Store::open(&dir.join("setup-store")).unwrap();
    let metrics = Metrics::new();
    let a_rt = a.runtime(&setup_store, &metrics).unwrap();
    let b_rt = b.runtime(&setup_store, &metrics).unwrap();
    let (a_chain, b_chain) = (a_rt.adapter().clone(), b_rt.adapter().clone());
    devnet::wait_for_chain(a_chain.as_ref()).await.unwrap();
    devnet::wait_for_chain(b_chain.as_ref()).await.unwrap();
    devnet::create_clients(&[a_rt.clone(), b_rt.clone()])
        .await
        .unwrap();
    let grant = devnet::seed_query_scenario(b, b_chain.as_ref(), &a.id)
        .await
        .unwrap();
    drop((a_rt, b_rt, setup_store));

    // What one answered query costs, and the balances before.
    let mut fee_per_query = 0;
    let mut providers = Vec::new();
    for (provider, _) in SEED_LOANS {
        let fee = b_chain
            .state(&state_keys::query_fee(&provider.parse().unwrap()))
            .await
            .unwrap()
            .value
            .map(|v| borsh::from_slice::<Money>(&v).unwrap().minor_units)
            .unwrap_or(0);
        assert!(fee > 0, "{provider} charges nothing");
        fee_per_query += fee;
        // Fees are paid on the source, to the provider's account there.
        let account = Account::Remote {
            chain: b.id.clone(),
            institution: provider.parse().unwrap(),
        };
        let before = balance(a_chain.as_ref(), &account).await;
        providers.push((account, fee, before));
    }
    let payer = Account::Local("bank-a".parse().unwrap());
    let payer_before = balance(a_chain.as_ref(), &payer).await;
    assert!(payer_before >= PACKETS * fee_per_query);

    // 500 queries with consecutive nonces, 250 per POST /txs.
    let bank_a = a.key("institutions/bank-a").unwrap();
    let sealed_to = devnet::register_encryption_key(a, a_chain.as_ref(), "bank-a")
        .await
        .unwrap();
    let first_nonce = devnet::next_nonce(a_chain.as_ref(), &public_key(&bank_a))
        .await
        .unwrap();
    let txs: Vec<_> = (0..PACKETS)
        .map(|i| {
            sign_transaction(
                &bank_a,
                a.id.clone(),
                first_nonce + i,
                devnet::credit_query(&b.id, &grant.enterprise, grant.id(), sealed_to),
            )
        })
        .collect();
    let mut sequences = Vec::new();
    for chunk in txs.chunks(250) {
        for outcome in a_chain.submit_batch(chunk).await.unwrap() {
            let outcome = outcome.unwrap();
            assert!(outcome.is_ok(), "{outcome:?}");
            sequences.push(devnet::sent_sequence(&outcome).unwrap());
        }
    }
    assert_eq!(sequences.len() as u64, PACKETS);
    let sent_in = started.elapsed();

    // The relayer daemon, in batches of 50.
    let config = dir.join("relayer.toml");
    let mut options = RelayerConfig::new(dir.join("relayer-store"));
    options.batch_size = BATCH_SIZE;
    options.clear_interval = Duration::from_secs(1);
    options.poll_interval = Duration::from_millis(100);
    options.write(&config, &[a.clone(), b.clone()]).unwrap();
    let log = dir.join("relayer.log");
    let daemon = start_relayer(&config, &log);

    let receipts: Vec<Vec<u8>> = sequences
        .iter()
        .map(|s| state_keys::packet_receipt(&a.id, *s))
        .collect();
    let count = |v: &[Option<Vec<u8>>]| v.iter().filter(|x| x.is_some()).count();

    // Some delivered, not all: kill -9.
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered_at_kill = loop {
        let delivered = count(&values(b_chain.as_ref(), &receipts).await);
        if delivered > 0 {
            break delivered;
        }
        assert!(
            Instant::now() < deadline,
            "nothing delivered within 30 s; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(daemon);
    let killed_at = started.elapsed();
    let delivered_after_kill = count(&values(b_chain.as_ref(), &receipts).await);
    assert!(
        (delivered_after_kill as u64) < PACKETS,
        "all {PACKETS} delivered before the kill: nothing left to test"
    );

    // Restart on the same store; every packet ends with a result on A.
    let daemon = start_relayer(&config, &log);
    let results: Vec<Vec<u8>> = sequences
        .iter()
        .map(|s| state_keys::packet_result(&b.id, *s))
        .collect();
    let commitments: Vec<Vec<u8>> = sequences
        .iter()
        .map(|s| state_keys::packet_commitment(&b.id, *s))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = count(&values(a_chain.as_ref(), &results).await);
        if done as u64 == PACKETS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {PACKETS} acknowledged after 120 s; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finished_at = started.elapsed();
    drop(daemon);

    // Exactly once, on both chains.
    let on_b = values(b_chain.as_ref(), &receipts).await;
    assert_eq!(count(&on_b) as u64, PACKETS, "receipts on {}", b.id);
    for (account, fee, before) in &providers {
        let after = balance(a_chain.as_ref(), account).await;
        assert_eq!(
            after - before,
            PACKETS * fee,
            "{account} paid {} fees of {fee}",
            (after - before) / fee
        );
    }
    let payer_after = balance(a_chain.as_ref(), &payer).await;
    assert_eq!(payer_before - payer_after, PACKETS * fee_per_query);
    let on_a = values(a_chain.as_ref(), &results).await;
    assert_eq!(count(&on_a) as u64, PACKETS);
    let pending = values(a_chain.as_ref(), &commitments).await;
    assert_eq!(count(&pending), 0, "commitments left on {}", a.id);

    // The relayer's own store agrees: all acknowledged.
    let store = Store::open(&dir.join("relayer-store")).unwrap();
    for s in &sequences {
        let record = store.packet(&a.id, &b.id, *s).unwrap().unwrap();
        assert_eq!(record.state, PacketState::Acknowledged, "packet #{s}");
    }
    drop(store);
    eprintln!(
        "exactly once: {PACKETS} sent by {:.1} s, relayer killed at {:.1} s with {delivered_at_kill} \
         (then {delivered_after_kill}) delivered, all acknowledged at {:.1} s",
        sent_in.as_secs_f64(),
        killed_at.as_secs_f64(),
        finished_at.as_secs_f64()
    );
    if std::env::var_os("RELAYER_TEST_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
