//! Group commit against a real chain process: submissions to one chain
//! that arrive while a batch is in flight go out together as the next
//! batch (one block for all), each caller getting its own outcomes in
//! order; a refused message fails alone.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use protocol::Height;
use protocol::tx::TxBody;
use relayer::devnet::{Regions, create_clients};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submissions_to_one_chain_share_blocks() {
    let dir = std::env::temp_dir().join(format!("relayer-group-commit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Both chains' ports below Linux's ephemeral range (32768 and up).
    let base = 28_000 + (std::process::id() % 300) as u16 * 10;
    let Regions {
        chains: _chains,
        processes: _processes,
        runtimes,
    } = common::start_regions(&dir, 2, Duration::from_millis(300), base).await;
    create_clients(&runtimes).await.unwrap();
    let (shaanxi, guangdong) = (runtimes[0].clone(), runtimes[1].clone());
    // Wait for a few blocks of guangdong to update shaanxi's client with.
    let mut blocks = Vec::new();
    for h in 2..=9 {
        let height = Height::new(h).unwrap();
        loop {
            if let Ok(block) = guangdong.verified_block(height).await {
                blocks.push(block);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Eight callers at once, two messages each: a client update of
    // guangdong on shaanxi, then a second one; caller 3's second message
    // is a block of shaanxi itself, which shaanxi has no client of (refused
    // in the block); caller 5's first message fails the chain's stateless
    // checks (refused before the batch, or its nonce gap would fail every
    // later transaction of the group).
    let own_block = shaanxi
        .verified_block(Height::new(2).unwrap())
        .await
        .unwrap();
    let (batches_before, grouped_before) = batch_counts(&shaanxi);
    let mut callers = tokio::task::JoinSet::new();
    for (i, block) in blocks.into_iter().enumerate() {
        let shaanxi = shaanxi.clone();
        let second = TxBody::UpdateClient {
            block: if i == 3 {
                own_block.clone()
            } else {
                block.clone()
            },
        };
        let first = if i == 5 {
            TxBody::SuspendInstitution {
                institution: "bank-a".parse().unwrap(),
                reason: "x".repeat(10_000),
            }
        } else {
            TxBody::UpdateClient { block }
        };
        callers.spawn(async move {
            let outcomes = shaanxi.submit(vec![first, second]).await.unwrap();
            (i, outcomes)
        });
    }
    let mut heights = BTreeSet::new();
    let mut answered = 0;
    while let Some(done) = callers.join_next().await {
        let (i, outcomes) = done.unwrap();
        assert_eq!(outcomes.len(), 2, "caller {i} gets its own two outcomes");
        if i == 5 {
            let refused = outcomes[0].as_ref().unwrap_err();
            assert!(refused.contains("reason"), "{refused}");
            let second = outcomes[1].as_ref().unwrap();
            assert!(second.is_ok(), "caller {i}: {second:?}");
            heights.insert(second.height.unwrap());
            answered += 1;
            continue;
        }
        let first = outcomes[0].as_ref().unwrap();
        assert!(first.is_ok(), "caller {i}: {first:?}");
        let second = outcomes[1].as_ref().unwrap();
        if i == 3 {
            assert!(!second.is_ok(), "caller {i}'s bad update was refused");
            assert!(second.message.contains("shaanxi"), "{second:?}");
        } else {
            assert!(second.is_ok(), "caller {i}: {second:?}");
        }
        // Both of a caller's messages are in one block.
        assert_eq!(first.height, second.height, "caller {i}");
        heights.insert(first.height.unwrap());
        answered += 1;
    }
    assert_eq!(answered, 8);
    // One batch for the first caller (alone or with whoever had queued by
    // then), one for everyone who queued while it was in flight (a third
    // allowed for a caller the scheduler started late); taking turns
    // instead would use eight blocks.
    assert!(heights.len() <= 3, "blocks used: {heights:?}");
    // The metrics tell the same: 8 submissions in as many batches as blocks.
    let (batches, grouped) = batch_counts(&shaanxi);
    assert_eq!(grouped - grouped_before, 8.0);
    assert_eq!(batches - batches_before, heights.len() as f64);

    // The nonce stayed right across the grouped batches, and after the
    // refused message: the next submission goes through.
    let latest = guangdong
        .verified_block(Height::new(10).unwrap())
        .await
        .unwrap();
    let outcomes = shaanxi
        .submit(vec![TxBody::UpdateClient { block: latest }])
        .await
        .unwrap();
    assert!(outcomes[0].as_ref().unwrap().is_ok(), "{outcomes:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `relayer_batch_submissions` of shaanxi: batches sent, and submissions
/// they carried.
fn batch_counts(runtime: &relayer::engine::ChainRuntime) -> (f64, f64) {
    let page = runtime.metrics().encode();
    let sample = |name: &str| {
        page.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{chain=\"shaanxi\"}} ")))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    };
    (
        sample("relayer_batch_submissions_count"),
        sample("relayer_batch_submissions_sum"),
    )
}
