//! Fee conservation across processes: two chain processes (shaanxi asks,
//! guangdong answers) and an in-process relay engine. bank-a sends credit
//! queries of which some are answered (the providers' charges paid from
//! its escrow on shaanxi), one is refused for its fee, and some time out
//! (sent while nothing relays, with a short timeout). Then: every chain's
//! total of balances and escrows equals its genesis total; each provider's
//! earnings on shaanxi equal the charges in the proven acknowledgements;
//! bank-a paid exactly those; refused and timed-out queries cost nothing;
//! and `relayer fees report --json` says the same.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters::{ChainAdapter, CreditChainAdapter, Ledger, RpcOptions};
use credit_chain::genesis::{SAMPLE_BALANCES, SAMPLE_FEES};
use protocol::tx::{Account, Acknowledgement, TxBody};
use protocol::{Canonical, CreditResponse, PacketPayload, QueryOutcome, state_keys};
use relayer::devnet::{
    DevChain, RelayerConfig, cny, create_clients, credit_query, seed_query_scenario, sent_sequence,
    submit,
};
use relayer::engine::{ChainRuntime, Engine, EngineOptions, wall_clock};
use relayer::metrics::Metrics;
use relayer::store::{PacketState, Store};
use serde_json::Value;

const ANSWERED: usize = 4;
const TIMED_OUT: usize = 3;
/// The max fee of every query (`devnet::credit_query`).
const MAX_FEE: u64 = 10_000;

fn reader(chain: &DevChain) -> CreditChainAdapter {
    CreditChainAdapter::new(chain.id.clone(), chain.rpc.clone(), RpcOptions::default()).unwrap()
}

async fn balance(adapter: &dyn ChainAdapter, account: &Account) -> u64 {
    adapter
        .state(&state_keys::balance(account))
        .await
        .unwrap()
        .value
        .map_or(0, |v| borsh::from_slice::<u64>(&v).unwrap())
}

/// Steps the engine until every packet in `sequences` is in a final state;
/// returns their states.
async fn relay_until_done(
    engine: &Engine,
    store: &Store,
    a: &Arc<ChainRuntime>,
    b: &Arc<ChainRuntime>,
    sequences: &[u64],
) -> Vec<PacketState> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let report = engine.step().await;
        if !report.errors.is_empty() {
            eprintln!("relay errors: {:?}", report.errors);
        }
        let states: Vec<Option<PacketState>> = sequences
            .iter()
            .map(|s| store.packet(a.id(), b.id(), *s).unwrap().map(|r| r.state))
            .collect();
        if states.iter().all(|s| {
            matches!(
                s,
                Some(PacketState::Acknowledged) | Some(PacketState::TimedOut)
            )
        }) {
            return states.into_iter().flatten().collect();
        }
        assert!(
            Instant::now() < deadline,
            "packets {sequences:?} not done within 90 s: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The proven acknowledgement of query `sequence` as a credit response.
async fn response(a: &ChainRuntime, b: &ChainRuntime, sequence: u64) -> CreditResponse {
    let proven = b
        .verified_states(&[state_keys::packet_ack_data(a.id(), sequence)])
        .await
        .unwrap();
    let bytes = proven.entries[0].1.clone().expect("acknowledgement proven");
    match Acknowledgement::from_canonical_bytes(&bytes).unwrap() {
        Acknowledgement::Result(PacketPayload::CreditResponse(r)) => r,
        other => panic!("unexpected acknowledgement {other:?}"),
    }
}

fn genesis_total() -> u128 {
    SAMPLE_BALANCES.iter().map(|(_, b)| u128::from(*b)).sum()
}

fn check_conserved(ledger: &Ledger, chain: &str) {
    assert_eq!(
        ledger.total,
        genesis_total(),
        "{chain}: balances {} + escrows {} differ from the genesis total",
        ledger.balances_total,
        ledger.escrowed_total
    );
    let balances: u128 = ledger.balances.iter().map(|b| u128::from(b.amount)).sum();
    let escrows: u128 = ledger.escrows.iter().map(|e| u128::from(e.amount)).sum();
    assert_eq!(
        (balances, escrows),
        (ledger.balances_total, ledger.escrowed_total)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fees_are_conserved_across_answers_refusals_and_timeouts() {
    let net = common::TwoChains::start("relayer-fees");
    let (dir, asker, answerer) = (&net.dir, &net.a, &net.b);
    let store = Store::open(&dir.join("store")).unwrap();
    let metrics = Metrics::new();
    let a = asker.runtime(&store, &metrics).unwrap();
    let b = answerer.runtime(&store, &metrics).unwrap();
    relayer::devnet::wait_for_chain(a.adapter().as_ref())
        .await
        .unwrap();
    relayer::devnet::wait_for_chain(b.adapter().as_ref())
        .await
        .unwrap();
    let (ledger_a, ledger_b) = (reader(asker), reader(answerer));
    // Nothing but genesis balances yet.
    check_conserved(&ledger_a.ledger().await.unwrap(), "shaanxi");
    let b_at_genesis = ledger_b.ledger().await.unwrap();
    check_conserved(&b_at_genesis, "guangdong");

    create_clients(&[a.clone(), b.clone()]).await.unwrap();
    let engine = Engine::new(
        vec![a.clone(), b.clone()],
        &[(asker.id.clone(), answerer.id.clone())],
        store.clone(),
        EngineOptions {
            batch_size: 50,
            clear_interval: Duration::from_secs(1),
        },
    )
    .unwrap();
    let grant = seed_query_scenario(answerer, b.adapter().as_ref(), &asker.id)
        .await
        .unwrap();
    let bank_key = asker.key("institutions/bank-a").unwrap();
    let sealed_to = relayer::devnet::register_encryption_key(asker, a.adapter().as_ref(), "bank-a")
        .await
        .unwrap();
    let bank_a = Account::Local("bank-a".parse().unwrap());
    let bank_before = balance(a.adapter().as_ref(), &bank_a).await;

    // Answered queries, and one refused for its fee (the providers charge
    // more than its max fee).
    let mut answered = Vec::new();
    for _ in 0..ANSWERED {
        let body = credit_query(&answerer.id, &grant.enterprise, grant.id(), sealed_to);
        let sent = submit(a.adapter().as_ref(), &bank_key, body).await.unwrap();
        answered.push(sent_sequence(&sent).unwrap());
    }
    let all_fees: u64 = SAMPLE_FEES.iter().map(|(_, f)| f).sum();
    let mut body = credit_query(&answerer.id, &grant.enterprise, grant.id(), sealed_to);
    if let TxBody::SendCreditQuery { query, .. } = &mut body {
        query.max_fee = cny(all_fees - 1);
    }
    let refused =
        sent_sequence(&submit(a.adapter().as_ref(), &bank_key, body).await.unwrap()).unwrap();
    let mut closed = answered.clone();
    closed.push(refused);
    let states = relay_until_done(&engine, &store, &a, &b, &closed).await;
    assert!(states.iter().all(|s| *s == PacketState::Acknowledged));

    // Queries that time out: sent while nothing relays, 2 s to live.
    let mut timed_out = Vec::new();
    for _ in 0..TIMED_OUT {
        let mut body = credit_query(&answerer.id, &grant.enterprise, grant.id(), sealed_to);
        if let TxBody::SendCreditQuery { timeout_time, .. } = &mut body {
            *timeout_time = wall_clock().checked_add(Duration::from_secs(2));
        }
        let sent = submit(a.adapter().as_ref(), &bank_key, body).await.unwrap();
        timed_out.push(sent_sequence(&sent).unwrap());
    }
    // In flight, their max fees are escrowed, and still counted.
    let in_flight = ledger_a.ledger().await.unwrap();
    check_conserved(&in_flight, "shaanxi");
    assert_eq!(
        in_flight.escrowed_total,
        TIMED_OUT as u128 * u128::from(MAX_FEE)
    );
    assert!(
        in_flight
            .escrows
            .iter()
            .all(|e| e.account == bank_a && e.amount == MAX_FEE && timed_out.contains(&e.sequence))
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let states = relay_until_done(&engine, &store, &a, &b, &timed_out).await;
    assert!(
        states.iter().all(|s| *s == PacketState::TimedOut),
        "{states:?}"
    );

    // --- conservation: every chain's total is its genesis total ---
    let after_a = ledger_a.ledger().await.unwrap();
    let after_b = ledger_b.ledger().await.unwrap();
    check_conserved(&after_a, "shaanxi");
    check_conserved(&after_b, "guangdong");
    assert_eq!(
        after_a.escrowed_total, 0,
        "escrows left: {:?}",
        after_a.escrows
    );
    // Nothing moved on the answering chain.
    assert_eq!(after_b.balances, b_at_genesis.balances);

    // --- each provider earned exactly the proven charges ---
    let mut charged: BTreeMap<String, u64> = BTreeMap::new();
    for s in &answered {
        let r = response(&a, &b, *s).await;
        assert_eq!(r.outcome, QueryOutcome::Answered);
        assert!(!r.charges.is_empty());
        let sum: u64 = r.charges.iter().map(|c| c.fee.minor_units).sum();
        assert_eq!(sum, r.fee_charged.minor_units);
        for c in r.charges {
            *charged.entry(c.provider.to_string()).or_default() += c.fee.minor_units;
        }
    }
    let r = response(&a, &b, refused).await;
    assert!(
        matches!(r.outcome, QueryOutcome::FeeRefused(_)) && r.charges.is_empty(),
        "{r:?}"
    );
    let total_charged: u64 = charged.values().sum();
    // The sample providers' fees, once per answered query.
    assert_eq!(total_charged, ANSWERED as u64 * all_fees);
    for (provider, fees) in &charged {
        let account = Account::Remote {
            chain: answerer.id.clone(),
            institution: provider.parse().unwrap(),
        };
        assert_eq!(
            balance(a.adapter().as_ref(), &account).await,
            *fees,
            "{account} on {}",
            asker.id
        );
        // And nothing on its own chain came from fees.
        let local = Account::Local(provider.parse().unwrap());
        assert_eq!(balance(b.adapter().as_ref(), &local).await, 0);
    }
    // bank-a paid exactly those: the refused and timed-out queries cost
    // nothing.
    assert_eq!(
        balance(a.adapter().as_ref(), &bank_a).await,
        bank_before - total_charged
    );

    // --- the fee events say the same ---
    let mut events = Vec::new();
    let mut since = 0;
    loop {
        let page = ledger_a.fee_events(since).await.unwrap();
        events.extend(page.events);
        if page.scanned_to >= page.latest_height {
            break;
        }
        since = page.scanned_to;
    }
    let of = |kind: &str, seq: u64| {
        events
            .iter()
            .filter(|e| {
                e.event.kind == kind && e.event.get("sequence") == Some(seq.to_string().as_str())
            })
            .map(|e| e.event.get("amount").unwrap().parse::<u64>().unwrap())
            .collect::<Vec<_>>()
    };
    for s in &timed_out {
        assert!(of("fee_paid", *s).is_empty(), "#{s} paid a fee");
        assert_eq!(of("escrow_refunded", *s), vec![MAX_FEE], "#{s}");
    }
    assert!(of("fee_paid", refused).is_empty());
    assert_eq!(of("escrow_refunded", refused), vec![all_fees - 1]);
    for s in &answered {
        assert_eq!(of("fee_paid", *s).iter().sum::<u64>(), all_fees);
        assert_eq!(of("escrow_refunded", *s), vec![MAX_FEE - all_fees]);
    }

    // --- `relayer fees report --json` agrees ---
    let config = dir.join("relayer.toml");
    RelayerConfig::new(dir.join("report-store"))
        .write(&config, &[asker.clone(), answerer.clone()])
        .unwrap();
    let run = |extra: &[&str]| -> Value {
        let out = Command::new(common::exe())
            .args(["fees", "report", "--json", "--config"])
            .arg(&config)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "fees report {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let report = run(&[]);
    let totals = report["totals"].as_array().unwrap();
    let total = |chain: &str, who: &str| {
        totals
            .iter()
            .find(|t| t["chain"] == chain && t["institution"] == who)
            .unwrap_or_else(|| panic!("no total of {chain}/{who} in {report}"))
            .clone()
    };
    let bank = total(asker.id.as_str(), "bank-a");
    assert_eq!(bank["spent"], total_charged);
    assert_eq!(bank["earned"], 0);
    assert_eq!(bank["spent_count"], charged.len() * ANSWERED);
    let refunds =
        (ANSWERED as u64) * (MAX_FEE - all_fees) + (TIMED_OUT as u64) * MAX_FEE + all_fees - 1;
    assert_eq!(bank["refunded"], refunds);
    for (provider, fees) in &charged {
        let t = total(answerer.id.as_str(), provider);
        assert_eq!(t["earned"], *fees, "{provider}");
        assert_eq!(t["earned_count"], ANSWERED, "{provider}");
        assert_eq!(t["spent"], 0);
    }
    assert_eq!(totals.len(), 1 + charged.len(), "{report}");
    // Per hour, the rows add up to the same totals.
    let hourly = run(&["--period", "hour"]);
    let spent: u64 = hourly["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["institution"] == "bank-a")
        .map(|r| r["spent"].as_u64().unwrap())
        .sum();
    assert_eq!(spent, total_charged);
    // The human table has a total line per institution.
    let out = Command::new(common::exe())
        .args(["fees", "report", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let spent = format!("{}.{:02}", total_charged / 100, total_charged % 100);
    assert!(
        table.lines().any(|l| l.starts_with("total")
            && l.contains("bank-a")
            && l.contains(&spent)
            && l.ends_with("CNY")),
        "{table}"
    );
    // A window after everything holds nothing.
    let later = run(&["--since", "2500-01-01T00:00:00Z"]);
    assert!(later["rows"].as_array().unwrap().is_empty(), "{later}");

    drop(engine);
    if std::env::var_os("RELAYER_TEST_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
