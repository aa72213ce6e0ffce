//! The credit-chain adapter against honest and faulty RPC endpoints: it
//! returns only data that verifies, fails over, and counts every failure
//! against the endpoint that caused it.

mod common;

use std::time::{Duration, Instant};

use adapters::{AdapterError, ChainAdapter, EndpointStats, FailureKind};
use common::{
    ABSENT, Behaviour, Fixture, KEY, VALUE, adapter, hanging, height, refused, serve, transaction,
};

fn stats_of<'a>(stats: &'a [EndpointStats], url: &str) -> &'a EndpointStats {
    stats.iter().find(|s| s.url == url).unwrap()
}

fn only_kind(s: &EndpointStats) -> FailureKind {
    assert_eq!(s.errors_by_kind.len(), 1, "{s:?}");
    *s.errors_by_kind.keys().next().unwrap()
}

#[tokio::test]
async fn honest_endpoint_serves_verified_data() {
    let fixture = Fixture::new();
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = adapter(&[&honest.url]);

    let status = chain.status().await.unwrap();
    assert_eq!(status.latest_height, height(3));
    assert_eq!(
        status.latest_hash,
        fixture.block(3).unwrap().header().hash()
    );
    assert_eq!(chain.chain_id().as_str(), "shaanxi");

    assert_eq!(
        &chain.light_block(height(2)).await.unwrap(),
        fixture.block(2).unwrap()
    );
    assert_eq!(
        &chain.validators(height(2)).await.unwrap(),
        &fixture.block(2).unwrap().validators
    );

    let present = chain.state(KEY).await.unwrap();
    assert_eq!(present.value.as_deref(), Some(VALUE));
    assert_eq!(present.height, height(3));
    assert_eq!(present.light_block.height(), height(3));
    assert!(present.proof.is_membership());
    let absent = chain.state(ABSENT).await.unwrap();
    assert_eq!(absent.value, None);
    assert!(!absent.proof.is_membership());

    let packets = chain.packet_events(0).await.unwrap();
    assert_eq!(packets.scanned_to, 3);
    let kinds: Vec<_> = packets
        .events
        .iter()
        .map(|e| e.event.kind.as_str())
        .collect();
    assert_eq!(kinds, ["send_packet", "write_acknowledgement"]);
    assert_eq!(packets.events[0].event.get("sequence"), Some("2"));
    assert!(chain.packet_events(2).await.unwrap().events.len() == 1);

    let stats = chain.endpoint_stats();
    assert_eq!(stats.len(), 1);
    assert!(stats[0].requests >= 8, "{stats:?}");
    assert_eq!((stats[0].errors, stats[0].faults), (0, 0));
    assert!(stats[0].healthy);
}

#[tokio::test]
async fn fails_over_past_every_kind_of_faulty_endpoint() {
    let fixture = Fixture::new();
    let forged = serve(fixture.clone(), Behaviour::ForgedSignature).await;
    let other_chain = serve(fixture.clone(), Behaviour::WrongChain).await;
    let truncated = serve(fixture.clone(), Behaviour::TruncatedJson).await;
    let wrong_height = serve(fixture.clone(), Behaviour::WrongHeight).await;
    let oversized = serve(fixture.clone(), Behaviour::Oversized).await;
    let down = refused().await;
    let hang = hanging().await;
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = adapter(&[
        &forged.url,
        &other_chain.url,
        &truncated.url,
        &wrong_height.url,
        &oversized.url,
        &down,
        &hang,
        &honest.url,
    ]);

    let block = chain.light_block(height(2)).await.unwrap();
    assert_eq!(
        &block,
        fixture.block(2).unwrap(),
        "only the honest block is returned"
    );

    let stats = chain.endpoint_stats();
    let expect = [
        (
            &forged.url,
            FailureKind::InvalidLightBlock,
            true,
            "invalid signature from validator",
        ),
        (
            &other_chain.url,
            FailureKind::WrongChain,
            true,
            "expected shaanxi, got beijing",
        ),
        (
            &truncated.url,
            FailureKind::Malformed,
            false,
            "invalid JSON",
        ),
        (
            &wrong_height.url,
            FailureKind::Inconsistent,
            true,
            "light block for height 1, asked 2",
        ),
        (
            &oversized.url,
            FailureKind::TooLarge,
            false,
            "the limit is 65536",
        ),
        (&down, FailureKind::Connect, false, ""),
        (&hang, FailureKind::Timeout, false, ""),
    ];
    for (url, kind, fault, reason) in expect {
        let s = stats_of(&stats, url);
        assert_eq!(only_kind(s), kind, "{s:?}");
        assert_eq!((s.errors, s.faults), (1, u64::from(fault)), "{s:?}");
        assert!(!s.healthy, "{s:?}");
        let last = s.last_error.as_deref().unwrap();
        assert!(
            last.starts_with(kind.as_str()) && last.contains(reason),
            "{last}"
        );
    }
    let good = stats_of(&stats, &honest.url);
    assert_eq!((good.requests, good.errors, good.healthy), (1, 0, true));

    // The next request goes straight to the endpoint that answered well.
    let before = [
        forged.requests(),
        other_chain.requests(),
        truncated.requests(),
    ];
    chain.light_block(height(3)).await.unwrap();
    chain.status().await.unwrap();
    assert_eq!(
        before,
        [
            forged.requests(),
            other_chain.requests(),
            truncated.requests()
        ]
    );
}

#[tokio::test]
async fn a_proof_that_fails_is_a_fault_and_its_value_is_never_returned() {
    let fixture = Fixture::new();
    let liar = serve(fixture.clone(), Behaviour::Liar).await;
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = adapter(&[&liar.url, &honest.url]);

    let proven = chain.state(KEY).await.unwrap();
    assert_eq!(proven.value.as_deref(), Some(VALUE));
    let s = &chain.endpoint_stats()[0];
    assert_eq!((only_kind(s), s.faults), (FailureKind::InvalidProof, 1));
    let reason = s.last_error.as_deref().unwrap();
    assert!(
        reason.contains("does not verify against state root"),
        "{reason}"
    );

    // Absent key, lied to be present: the liar is tried last now, so reset
    // the order with a fresh adapter.
    let chain = adapter(&[&liar.url, &honest.url]);
    let proven = chain.state(ABSENT).await.unwrap();
    assert_eq!(proven.value, None);
    assert_eq!(chain.endpoint_stats()[0].faults, 1);
}

#[tokio::test]
async fn batch_proofs_are_each_checked_at_one_height() {
    let fixture = Fixture::new();
    let liar = serve(fixture.clone(), Behaviour::Liar).await;
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = adapter(&[&liar.url, &honest.url]);
    let keys = vec![ABSENT.to_vec(), KEY.to_vec(), b"params".to_vec()];

    let proven = chain.states(&keys).await.unwrap();
    assert_eq!(proven.height, height(3));
    assert_eq!(proven.light_block.height(), height(3));
    let values: Vec<_> = proven.entries.iter().map(|e| e.value.as_deref()).collect();
    assert_eq!(values, [None, Some(VALUE), Some(&b"p"[..])]);
    let s = &chain.endpoint_stats()[0];
    assert_eq!((only_kind(s), s.faults), (FailureKind::InvalidProof, 1));
    assert!(
        s.last_error.as_deref().unwrap().contains("entry 1"),
        "{s:?}"
    );

    let too_many = vec![KEY.to_vec(); adapters::MAX_BATCH_KEYS + 1];
    let err = chain.states(&too_many).await.unwrap_err();
    assert!(matches!(err, AdapterError::InvalidRequest(_)), "{err}");
}

#[tokio::test]
async fn a_status_of_another_chain_is_refused() {
    let fixture = Fixture::new();
    let other_chain = serve(fixture.clone(), Behaviour::WrongChain).await;
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = adapter(&[&other_chain.url, &honest.url]);
    let status = chain.status().await.unwrap();
    assert_eq!(status.chain_id.as_str(), "shaanxi");
    let s = &chain.endpoint_stats()[0];
    assert_eq!((only_kind(s), s.faults), (FailureKind::WrongChain, 1));
}

#[tokio::test]
async fn when_every_endpoint_is_faulty_the_error_names_each() {
    let fixture = Fixture::new();
    let forged = serve(fixture.clone(), Behaviour::ForgedSignature).await;
    let other_chain = serve(fixture.clone(), Behaviour::WrongChain).await;
    let down = refused().await;
    let chain = adapter(&[&forged.url, &other_chain.url, &down]);

    let err = chain.light_block(height(2)).await.unwrap_err();
    let AdapterError::AllEndpointsFailed {
        rounds, failures, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*rounds, 2, "one retry");
    let kinds: Vec<_> = failures.iter().map(|f| f.kind).collect();
    assert_eq!(kinds.len(), 3);
    for kind in [
        FailureKind::InvalidLightBlock,
        FailureKind::WrongChain,
        FailureKind::Connect,
    ] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let text = err.to_string();
    for needle in [
        "light_block(2) on chain shaanxi",
        &forged.url,
        "invalid signature",
        &other_chain.url,
        "got beijing",
        &down,
        "connect",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in: {text}");
    }
    // Both rounds went to every endpoint.
    assert_eq!(forged.requests(), 2);
    let stats = chain.endpoint_stats();
    assert_eq!(stats_of(&stats, &forged.url).faults, 2);
    assert_eq!(stats_of(&stats, &down).errors, 2);
    assert_eq!(stats_of(&stats, &down).faults, 0);
}

#[tokio::test]
async fn a_height_not_yet_produced_is_unavailable_at_once() {
    let fixture = Fixture::new();
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = adapter(&[&honest.url]);
    let err = chain.light_block(height(9)).await.unwrap_err();
    assert!(matches!(err, AdapterError::Unavailable { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("no block at height 9; latest is 3"),
        "{err}"
    );
    assert_eq!(honest.requests(), 1, "not retried");
    let s = &chain.endpoint_stats()[0];
    assert!(s.healthy, "a lagging node is not put aside");
    assert_eq!((s.errors, s.faults), (1, 0));

    // Once produced, it is served.
    honest.advance(9);
    assert_eq!(
        chain.light_block(height(9)).await.unwrap().height(),
        height(9)
    );
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_and_the_next_answers() {
    let fixture = Fixture::new();
    let hang = hanging().await;
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = adapter(&[&hang, &honest.url]);
    let started = Instant::now();
    assert_eq!(chain.status().await.unwrap().latest_height, height(3));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(only_kind(&chain.endpoint_stats()[0]), FailureKind::Timeout);
}

/// A batch larger than the node takes in one request goes as several, in
/// order, with every outcome in its place.
#[tokio::test]
async fn a_batch_above_the_node_limit_is_sent_in_requests_it_takes() {
    let fixture = Fixture::new();
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = common::adapter_with(
        &[&honest.url],
        adapters::RpcOptions {
            max_response_bytes: 16 * 1024 * 1024,
            ..common::options()
        },
    );
    let count = adapters::MAX_BATCH_KEYS * 2 + 3;
    // Nonce 0 (refused) at a chunk boundary, the rest committed.
    let txs: Vec<_> = (0..count)
        .map(|i| {
            transaction(if i == adapters::MAX_BATCH_KEYS {
                0
            } else {
                i as u64 + 1
            })
        })
        .collect();
    let outcomes = chain.submit_batch(&txs).await.unwrap();
    assert_eq!(outcomes.len(), count);
    assert_eq!(
        *honest.state.batches.lock().unwrap(),
        vec![adapters::MAX_BATCH_KEYS, adapters::MAX_BATCH_KEYS, 3]
    );
    for (i, (tx, outcome)) in txs.iter().zip(&outcomes).enumerate() {
        let outcome = outcome.as_ref().unwrap();
        assert_eq!(outcome.hash, tx.hash(), "{i}");
        assert_eq!(outcome.is_ok(), i != adapters::MAX_BATCH_KEYS, "{i}");
    }
}

#[tokio::test]
async fn submit_reports_commits_and_refusals_and_never_resends_blindly() {
    let fixture = Fixture::new();
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let down = refused().await;

    // A connection that could not be made: sent to the next endpoint.
    let chain = adapter(&[&down, &honest.url]);
    let tx = transaction(1);
    let outcome = chain.submit(&tx).await.unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(outcome.hash, tx.hash());
    assert_eq!(outcome.height, Some(height(3)));
    assert_eq!(outcome.events[0].get("institution"), Some("bank-a"));

    // A refusal by the chain is an outcome, not an endpoint failure.
    let refused_tx = transaction(0);
    let outcome = chain.submit(&refused_tx).await.unwrap();
    assert!(!outcome.is_ok());
    assert_eq!((outcome.code, outcome.height), (6, None));
    assert!(
        outcome.message.contains("replayed nonce"),
        "{}",
        outcome.message
    );
    assert_eq!(stats_of(&chain.endpoint_stats(), &honest.url).errors, 0);

    // Sent to a node that never answers: fate unknown, not sent elsewhere.
    let hang = hanging().await;
    let chain = adapter(&[&hang, &honest.url]);
    let before = honest.requests();
    let err = chain.submit(&tx).await.unwrap_err();
    let AdapterError::SubmitUncertain { hash, failure, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!((*hash, failure.kind), (tx.hash(), FailureKind::Timeout));
    assert_eq!(failure.endpoint, hang);
    assert!(
        err.to_string().contains("check the sender's nonce"),
        "{err}"
    );
    assert_eq!(honest.requests(), before);

    // An answer about another transaction is a fault, and the fate unknown.
    let liar = serve(fixture.clone(), Behaviour::Liar).await;
    let chain = adapter(&[&liar.url, &honest.url]);
    let err = chain.submit(&tx).await.unwrap_err();
    assert!(matches!(err, AdapterError::SubmitUncertain { .. }), "{err}");
    assert_eq!(chain.endpoint_stats()[0].faults, 1);
}

#[tokio::test]
async fn packet_events_outside_the_scanned_range_are_a_fault() {
    let fixture = Fixture::new();
    let liar = serve(fixture.clone(), Behaviour::Liar).await;
    let honest = serve(fixture.clone(), Behaviour::Honest).await;
    let chain = adapter(&[&liar.url, &honest.url]);
    let packets = chain.packet_events(1).await.unwrap();
    assert_eq!(packets.events.len(), 2);
    let s = &chain.endpoint_stats()[0];
    assert_eq!((only_kind(s), s.faults), (FailureKind::Inconsistent, 1));
    assert!(
        s.last_error
            .as_deref()
            .unwrap()
            .contains("outside the scanned range")
    );

    // Asking past every endpoint's tip: unavailable, not a fault.
    let err = chain.packet_events(50).await.unwrap_err();
    assert!(matches!(err, AdapterError::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn bad_configuration_is_refused_with_a_reason() {
    let id = || "shaanxi".parse().unwrap();
    let opts = common::options;
    let err = adapters::CreditChainAdapter::new(id(), vec![], opts())
        .err()
        .unwrap();
    assert!(err.to_string().contains("no RPC endpoint"), "{err}");
    let err = adapters::CreditChainAdapter::new(id(), vec!["https://x:1".into()], opts())
        .err()
        .unwrap();
    assert!(err.to_string().contains("https is not supported"), "{err}");
    let mut o = opts();
    o.max_response_bytes = 10;
    let err = adapters::CreditChainAdapter::new(id(), vec!["http://x:1".into()], o)
        .err()
        .unwrap();
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
}
