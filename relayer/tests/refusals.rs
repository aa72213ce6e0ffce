//! The destination chain refuses queries without a valid consent or
//! without funds, and the integrator sees why in the acknowledgement.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credit_chain::app::auth::sign_consent;
use protocol::tx::{Acknowledgement, ConsentGrant, TxBody};
use protocol::{Canonical, ChainId, PacketPayload, QueryOutcome, state_keys};
use relayer::devnet::{
    DevChain, create_clients, credit_query, seed_query_scenario, sent_sequence, start_chain,
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
    a: &Arc<ChainRuntime>,
    b: &Arc<ChainRuntime>,
    requester: &str,
    grant: &ConsentGrant,
) -> QueryOutcome {
    let mut body = credit_query(&b.id().clone(), &grant.enterprise, grant.id());
    if let TxBody::SendCreditQuery { query, .. } = &mut body {
        query.requester = requester.parse().unwrap();
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
                    r.records.is_empty(),
                    "a refused query must carry no records"
                );
            }
            r.outcome
        }
        other => panic!("unexpected acknowledgement {other:?}"),
    }
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
    let grant = seed_query_scenario(&answerer, b.adapter().as_ref(), &asker.id, 100_000)
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
        ask(&engine, &store, &asker, &a, &b, "bank-a", &grant).await,
        QueryOutcome::Answered
    );

    // bureau-a has its own consent but no prepaid account on guangdong.
    let bureau = ConsentGrant {
        grantee: "bureau-a".parse().unwrap(),
        nonce: 2,
        ..grant.clone()
    };
    grant_on_b(bureau.clone()).await;
    match ask(&engine, &store, &asker, &a, &b, "bureau-a", &bureau).await {
        QueryOutcome::FeeRefused(why) => assert!(
            why.contains("bureau-a") && why.contains("has 0 CNY"),
            "{why}"
        ),
        other => panic!("expected a fee refusal, got {other:?}"),
    }

    // A consent that expires before the query arrives.
    let short = ConsentGrant {
        nonce: 3,
        expires_at: wall_clock().checked_add(Duration::from_secs(2)).unwrap(),
        ..grant.clone()
    };
    grant_on_b(short.clone()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    match ask(&engine, &store, &asker, &a, &b, "bank-a", &short).await {
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
    match ask(&engine, &store, &asker, &a, &b, "bank-a", &grant).await {
        QueryOutcome::ConsentRefused(why) => assert!(why.contains("revoked"), "{why}"),
        other => panic!("expected a revoked-consent refusal, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
