//! The block stream: server-sent events, and polling when they fail or go
//! silent.

mod common;

use std::time::Duration;

use adapters::{BlockStream, ChainAdapter, FailureKind, RpcOptions};
use common::{Behaviour, Fixture, adapter, adapter_with, height, serve};
use protocol::Height;
use tokio_stream::StreamExt;

async fn next(stream: &mut BlockStream) -> Height {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a block within 5 s")
        .expect("the stream does not end")
}

/// Waits until the stream yields `h`, checking heights only increase.
async fn until(stream: &mut BlockStream, h: u64) {
    let mut last = 0;
    loop {
        let got = next(stream).await.value();
        assert!(got > last, "heights increase: {got} after {last}");
        last = got;
        if got >= h {
            assert_eq!(got, h);
            return;
        }
    }
}

#[tokio::test]
async fn follows_block_events() {
    let fixture = Fixture::new();
    let honest = serve(fixture, Behaviour::Honest).await;
    // A long silence timeout: every block must come from the events.
    let options = RpcOptions {
        silence_timeout: Duration::from_secs(30),
        ..common::options()
    };
    let chain = adapter_with(&[&honest.url], options);
    let mut stream = chain.block_stream();
    assert_eq!(next(&mut stream).await, height(3), "the tip first");
    honest.wait_subscribed().await;
    honest.advance(4);
    assert_eq!(next(&mut stream).await, height(4));
    honest.advance(5);
    assert_eq!(next(&mut stream).await, height(5));
    let s = &chain.endpoint_stats()[0];
    assert_eq!(s.errors, 0, "{s:?}");
    // Dropping the stream ends its task, which unsubscribes.
    drop(stream);
    for _ in 0..500 {
        if honest.state.events.receiver_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the stream's task still follows the events");
}

#[tokio::test]
async fn falls_back_to_polling_when_events_are_silent() {
    let fixture = Fixture::new();
    // Keep-alives only: connected, but no block event ever.
    let silent = serve(fixture, Behaviour::SilentEvents).await;
    let chain = adapter(&[&silent.url]);
    let mut stream = chain.block_stream();
    assert_eq!(next(&mut stream).await, height(3));
    silent.advance(6);
    // Seen by polling once the 400 ms silence timeout has passed.
    until(&mut stream, 6).await;
    let s = &chain.endpoint_stats()[0];
    assert_eq!(
        s.errors_by_kind.get(&FailureKind::StreamSilent),
        Some(&1),
        "{s:?}"
    );
    assert_eq!(s.faults, 0);
    silent.advance(7);
    until(&mut stream, 7).await;
}

#[tokio::test]
async fn announced_heights_that_do_not_verify_are_not_yielded() {
    let fixture = Fixture::new();
    // Announces height h + 1000 for every block h.
    let liar = serve(fixture, Behaviour::Liar).await;
    let chain = adapter(&[&liar.url]);
    let mut stream = chain.block_stream();
    assert_eq!(next(&mut stream).await, height(3));
    liar.wait_subscribed().await;
    liar.advance(4);
    // Block 1004 does not exist: not yielded; polling finds 4.
    assert_eq!(next(&mut stream).await, height(4));
    let s = &chain.endpoint_stats()[0];
    let reason = s.last_error.as_deref().unwrap_or_default();
    assert!(reason.contains("announced block 1004"), "{s:?}");
}

#[tokio::test]
async fn the_stream_moves_to_another_endpoint_when_one_is_down() {
    let fixture = Fixture::new();
    let down = common::refused().await;
    let honest = serve(fixture, Behaviour::Honest).await;
    let chain = adapter(&[&down, &honest.url]);
    let mut stream = chain.block_stream();
    assert_eq!(next(&mut stream).await, height(3));
    honest.wait_subscribed().await;
    honest.advance(4);
    assert_eq!(next(&mut stream).await, height(4));
    assert_eq!(chain.endpoint_stats()[1].errors, 0);
    drop(stream);
}
