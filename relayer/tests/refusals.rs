//! The destination chain refuses queries without a valid consent or whose
//! fee exceeds the requester's maximum, and the integrator sees why in the
//! acknowledgement; a requester without the funds to escrow its maximum
//! fee is refused by its own chain when sending.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credit_chain::app::auth::sign_consent;
use credit_chain::genesis::SAMPLE_FEES;
use protocol::tx::{Acknowledgement, ConsentGrant, TxBody};
use protocol::{Canonical, ChainId, PacketPayload, QueryOutcome, state_keys};
use relayer::devnet::{
    DevChain, cny, create_clients, credit_query, seed_query_scenario, sent_sequence, start_chain,
    submit, wait_for_chain,
};
use relayer::engine::{ChainRuntime, Engine, EngineOptions, wall_clock};
use relayer::metrics::Metrics;
use relayer::store::{PacketState, Store};

fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let p = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 60_000 && TcpListener::bind(("127.0.0.1", p + 10)).is_ok() {
            return p;
        }
    }
    panic!("no free ports")
}

/// Sends a query by `requester` of `asker` under `grant`, relays until it is
/// acknowledged, and returns the answer's outcome.
async fn ask(
    engine: &Engine,
    store: &Store,
    asker: &DevChain,
    (a, b): (&Arc<ChainRuntime>, &Arc<ChainRuntime>),
    requester: &str,
    grant: &ConsentGrant,
    max_fee: Option<u64>,
) -> QueryOutcome {
    let sealed_to =
        relayer::devnet::register_encryption_key(asker, a.adapter().as_ref(), requester)
            .await
            .unwrap();
    let mut body = credit_query(&b.id().clone(), &grant.enterprise, grant.id(), sealed_to);
    if let TxBody::SendCreditQuery { query, .. } = &mut body {
        query.requester = requester.parse().unwrap();
        if let Some(units) = max_fee {
            query.max_fee = cny(units);
        }
    }
    let sent = submit(
        a.adapter().as_ref(),
        &asker.key(&format!("institutions/{requester}")).unwrap(),
        body,
    )
    .await
    .unwrap();
    let sequence = sent_sequence(&sent).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        engine.step().await;
        if matches!(store.packet(a.id(), b.id(), sequence), Ok(Some(r)) if r.state == PacketState::Acknowledged)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "query {sequence} not acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let proven = b
        .verified_states(&[state_keys::packet_ack_data(a.id(), sequence)])
        .await
        .unwrap();
    let bytes = proven.entries[0]
        .1
        .clone()
        .expect("acknowledgement proven present");
    match Acknowledgement::from_canonical_bytes(&bytes).unwrap() {
        Acknowledgement::Result(PacketPayload::CreditResponse(r)) => {
            if !matches!(r.outcome, QueryOutcome::Answered) {
                assert!(
                    r.answers.is_empty() && r.missing.is_empty(),
                    "a refused query must carry no answers"
                );
            }
            r.outcome
        }
        other => panic!("unexpected acknowledgement {other:?}"),
    }
}

/// The balance of local institution `who` on the adapter's chain.
async fn balance(adapter: &dyn adapters::ChainAdapter, who: &str) -> u64 {
    let account = protocol::tx::Account::Local(who.parse().unwrap());
    adapter
        .state(&state_keys::balance(&account))
        .await
        .unwrap()
        .value
        .map_or(0, |v| borsh::from_slice::<u64>(&v).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_queries_say_why() {
    let dir = std::env::temp_dir().join(format!("relayer-refusals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_relayer"));
    let port = free_port_pair();
    let (asker, _pa) = start_chain(exe, &dir, "shaanxi", Duration::from_millis(100), port).unwrap();
    let (answerer, _pb) = start_chain(
        exe,
        &dir,
        "guangdong",
        Duration::from_millis(100),
        port + 10,
    )
    .unwrap();
    let store = Store::open(&dir.join("store")).unwrap();
    let metrics = Metrics::new();
    let a = asker.runtime(&store, &metrics).unwrap();
    let b = answerer.runtime(&store, &metrics).unwrap();
    wait_for_chain(a.adapter().as_ref()).await.unwrap();
    wait_for_chain(b.adapter().as_ref()).await.unwrap();
    create_clients(&[a.clone(), b.clone()]).await.unwrap();
    let ids: (ChainId, ChainId) = (asker.id.clone(), answerer.id.clone());
    let engine = Engine::new(
        vec![a.clone(), b.clone()],
        &[ids],
        store.clone(),
        EngineOptions {
            batch_size: 50,
            clear_interval: Duration::from_secs(1),
        },
    )
    .unwrap();
    let grant = seed_query_scenario(&answerer, b.adapter().as_ref(), &asker.id)
        .await
        .unwrap();
    let enterprise_key = answerer
        .key(&format!("enterprises/{}", grant.enterprise))
        .unwrap();
    let grant_on_b = |grant: ConsentGrant| {
        let key = enterprise_key.clone();
        let adapter = b.adapter().clone();
        async move {
            submit(
                adapter.as_ref(),
                &key,
                TxBody::GrantConsent {
                    signature: sign_consent(&key, &grant),
                    grant,
                },
            )
            .await
            .unwrap();
        }
    };

    // Answered under the consent.
    assert_eq!(
        ask(&engine, &store, &asker, (&a, &b), "bank-a", &grant, None).await,
        QueryOutcome::Answered
    );

    // The providers' fees exceed the maximum the requester will pay: the
    // destination refuses, naming both.
    let fees: u64 = SAMPLE_FEES.iter().map(|(_, f)| f).sum();
    match ask(
        &engine,
        &store,
        &asker,
        (&a, &b),
        "bank-a",
        &grant,
        Some(fees - 1),
    )
    .await
    {
        QueryOutcome::FeeRefused(why) => assert!(
            why.contains(&format!("fee {fees} CNY exceeds the max fee {}", fees - 1)),
            "{why}"
        ),
        other => panic!("expected a fee refusal, got {other:?}"),
    }

    // bureau-a cannot escrow a maximum fee above its balance on shaanxi:
    // its own chain refuses the send, naming the account, its balance and
    // the fee, and nothing is sent.
    let bureau = ConsentGrant {
        grantee: "bureau-a".parse().unwrap(),
        nonce: 2,
        ..grant.clone()
    };
    grant_on_b(bureau.clone()).await;
    let have = balance(a.adapter().as_ref(), "bureau-a").await;
    let sealed_to =
        relayer::devnet::register_encryption_key(&asker, a.adapter().as_ref(), "bureau-a")
            .await
            .unwrap();
    let mut body = credit_query(b.id(), &bureau.enterprise, bureau.id(), sealed_to);
    if let TxBody::SendCreditQuery { query, .. } = &mut body {
        query.requester = "bureau-a".parse().unwrap();
        query.max_fee = cny(have + 1);
    }
    let key = asker.key("institutions/bureau-a").unwrap();
    let err = submit(a.adapter().as_ref(), &key, body)
        .await
        .expect_err("a send beyond the balance must fail")
        .to_string();
    assert!(
        err.contains(&format!(
            "insufficient balance: bureau-a has {have} CNY, needs {}",
            have + 1
        )),
        "{err}"
    );
    assert_eq!(balance(a.adapter().as_ref(), "bureau-a").await, have);
    // Within its balance, bureau-a's query is answered.
    assert_eq!(
        ask(&engine, &store, &asker, (&a, &b), "bureau-a", &bureau, None).await,
        QueryOutcome::Answered
    );

    // A consent that expires before the query arrives.
    let short = ConsentGrant {
        nonce: 3,
        expires_at: wall_clock().checked_add(Duration::from_secs(2)).unwrap(),
        ..grant.clone()
    };
    grant_on_b(short.clone()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    match ask(&engine, &store, &asker, (&a, &b), "bank-a", &short, None).await {
        QueryOutcome::ConsentRefused(why) => assert!(why.contains("expired"), "{why}"),
        other => panic!("expected an expired-consent refusal, got {other:?}"),
    }

    // The enterprise revokes its consent: the next query is refused.
    submit(
        b.adapter().as_ref(),
        &enterprise_key,
        TxBody::RevokeConsent {
            consent_id: grant.id(),
        },
    )
    .await
    .unwrap();
    match ask(&engine, &store, &asker, (&a, &b), "bank-a", &grant, None).await {
        QueryOutcome::ConsentRefused(why) => assert!(why.contains("revoked"), "{why}"),
        other => panic!("expected a revoked-consent refusal, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
