//! Mesh tests that need to put forged bytes on the wire, which the public
//! API never does.

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{Seen, config, connect, eventually, key, peer, start, subscribe_all};

use crate::envelope::{Envelope, Kind};
use crate::{Error, Topic, Verdict};

fn gossip(topic: &Topic) -> Kind {
    Kind::Gossip {
        topic: topic.to_string(),
    }
}

/// (e) Gossip envelopes with a bad signature, another sender's key, or
/// signed for another topic are rejected, counted and never delivered.
#[tokio::test]
async fn forged_gossip_envelopes_are_rejected_and_counted() {
    let mut ca = config(1, &[2]);
    ca.ban_after_rejections = 100;
    let a = start(ca, Verdict::Accept).await;
    let mut cb = config(2, &[1]);
    cb.ban_after_rejections = 100;
    let b = start(cb, Verdict::Accept).await;
    connect(&a, &b).await;
    let topic = Topic::Attestations;
    subscribe_all(&[&a, &b], &topic).await;
    eventually("B subscribed as seen by A", async || {
        a.handle.publish(&topic, b"hello".to_vec()).await.ok()
    })
    .await;
    eventually("the good message arrives", async || {
        (b.gossip().len() == 1).then_some(())
    })
    .await;

    // 1. A's own envelope, body altered after signing.
    let mut tampered = Envelope::seal(&key(1), gossip(&topic), b"no overdue".to_vec());
    tampered.body = b"no overdue, tax grade A".to_vec();
    // 2. A validly signed envelope of another operator (node 3), sent by A.
    let impostor = Envelope::seal(&key(3), gossip(&topic), b"claim of 3".to_vec());
    // 3. A's envelope signed for the governance topic, sent on attestations.
    let replayed = Envelope::seal(&key(1), gossip(&Topic::Governance), b"approval".to_vec());
    for envelope in [tampered, impostor, replayed] {
        a.handle
            .publish_encoded(&topic, envelope.encode())
            .await
            .unwrap();
    }

    let stats = eventually("B rejects the three forgeries", async || {
        let stats = b.handle.stats().await.ok()?;
        (stats.gossip_invalid == 3).then_some(stats)
    })
    .await;
    assert_eq!(
        stats.gossip_received, 1,
        "only the good message is delivered"
    );
    assert_eq!(b.gossip().len(), 1);
    let rejected = b
        .seen()
        .iter()
        .filter(|s| **s == Seen::EnvelopeRejected(peer(1)))
        .count();
    assert_eq!(rejected, 3);
    assert_eq!(stats.bans, 0);

    // Three invalid messages put A below gossipsub's graylist threshold at
    // B: from now on B ignores whatever A sends, valid or not.
    a.handle.publish(&topic, b"after".to_vec()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(b.gossip().len(), 1);
    assert_eq!(b.handle.stats().await.unwrap().gossip_invalid, 3);
}

/// (e) Requests whose envelope is forged are dropped unanswered, counted
/// and never delivered; a good one still goes through.
#[tokio::test]
async fn forged_requests_are_rejected_and_counted() {
    let mut cb = config(2, &[1]);
    cb.ban_after_rejections = 100;
    let a = start(config(1, &[2]), Verdict::Accept).await;
    let b = start(cb, Verdict::Accept).await;
    connect(&a, &b).await;

    let mut tampered = Envelope::seal(&key(1), Kind::Request, b"packet".to_vec());
    tampered.body.push(1);
    let impostor = Envelope::seal(&key(3), Kind::Request, b"packet".to_vec());
    let wrong_kind = Envelope::seal(&key(1), gossip(&Topic::Attestations), b"packet".to_vec());
    let mut trailing = Envelope::seal(&key(1), Kind::Request, b"packet".to_vec()).encode();
    trailing.push(0);
    for bytes in [
        tampered.encode(),
        impostor.encode(),
        wrong_kind.encode(),
        trailing,
    ] {
        let result = a.handle.request_encoded(peer(2), bytes).await;
        assert!(
            matches!(result, Err(Error::NoResponse { .. })),
            "{result:?}"
        );
    }
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.requests_invalid, 4);
    assert_eq!(stats.requests_received, 0);
    assert!(b.seen().iter().all(|s| !matches!(s, Seen::Request { .. })));

    let answer = a.handle.request(peer(2), b"packet".to_vec()).await.unwrap();
    assert_eq!(answer, b"ack:packet");
}
