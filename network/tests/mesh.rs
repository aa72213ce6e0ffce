//! The mesh end to end, in process: real swarms on 127.0.0.1 talking TCP,
//! noise and yamux. Timeouts are generous; nothing here measures speed.

mod harness;

use std::time::Duration;

use harness::{
    Seen, config, connect, eventually, peer, public, start, subscribe_all, wait_banned_and_cut_off,
};
use network::{Direction, Error, Refusal, Topic, Verdict};

/// (a) A message published by A reaches B and C across the line A-B-C
/// (C through B's forwarding after B's Accept), attributed to A's verified
/// operator key.
#[tokio::test]
async fn gossip_reaches_every_peer_with_its_sender_verified() {
    let all = [1, 2, 3];
    let a = start(config(1, &all), Verdict::Accept).await;
    let b = start(config(2, &all), Verdict::Accept).await;
    let c = start(config(3, &all), Verdict::Accept).await;
    connect(&b, &a).await;
    connect(&c, &b).await;
    let topic = Topic::LightBlocks("guangdong".parse().unwrap());
    subscribe_all(&[&a, &b, &c], &topic).await;

    let mut n = 0u32;
    eventually("B and C receive A's light block", async || {
        n += 1;
        let _ = a
            .handle
            .publish(&topic, format!("light block {n}").into_bytes())
            .await;
        (!b.gossip().is_empty() && !c.gossip().is_empty()).then_some(())
    })
    .await;

    for node in [&b, &c] {
        for seen in node.gossip() {
            let Seen::Gossip {
                topic: t,
                from,
                sender,
                body,
                ..
            } = seen
            else {
                unreachable!()
            };
            assert_eq!(t, topic);
            assert_eq!(from, peer(1));
            assert_eq!(sender, public(1));
            assert!(body.starts_with(b"light block "));
        }
    }
    let stats = a.handle.stats().await.unwrap();
    assert!(stats.gossip_published >= 1);
    assert_eq!(stats.peers_connected, a.handle.peers().await.unwrap().len());
    assert!(b.handle.stats().await.unwrap().gossip_received >= 1);
    assert_eq!(c.handle.stats().await.unwrap().gossip_invalid, 0);
}

/// (b) A request reaches the peer with its sender verified and the
/// peer's signed answer comes back; a dropped responder is a clear error.
#[tokio::test]
async fn request_response_round_trip() {
    let a = start(config(1, &[2]), Verdict::Accept).await;
    let b = start(config(2, &[1]), Verdict::Accept).await;
    connect(&b, &a).await;

    let answer = b
        .handle
        .request(peer(1), b"packet 7".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"ack:packet 7");
    assert!(a.seen().contains(&Seen::Request {
        from: peer(2),
        sender: public(2),
        body: b"packet 7".to_vec(),
    }));

    let refused = b.handle.request(peer(1), b"refuse".to_vec()).await;
    assert!(
        matches!(refused, Err(Error::NoResponse { peer: p, .. }) if p == peer(1)),
        "{refused:?}"
    );

    let (sa, sb) = (
        a.handle.stats().await.unwrap(),
        b.handle.stats().await.unwrap(),
    );
    assert_eq!((sb.requests_sent, sa.requests_received), (2, 2));
    assert_eq!(sa.responses_sent, 1);
    assert_eq!(sb.requests_invalid, 0);

    let too_big = vec![0; network::DEFAULT_MAX_MESSAGE_SIZE];
    assert!(matches!(
        b.handle.request(peer(1), too_big).await,
        Err(Error::TooLarge { .. })
    ));

    b.handle.shutdown().await.unwrap();
    assert!(matches!(b.handle.stats().await, Err(Error::Stopped)));
    eventually("A sees B leave", async || {
        a.seen()
            .contains(&Seen::Disconnected(peer(2)))
            .then_some(())
    })
    .await;
}

/// (c) C, which only knows A, finds through kademlia that B serves
/// guangdong.
#[tokio::test]
async fn kademlia_finds_the_relayer_of_a_chain() {
    let all = [1, 2, 3];
    let a = start(config(1, &all), Verdict::Accept).await;
    let mut cb = config(2, &all);
    cb.bootstrap = vec![(peer(1), a.addr().await)];
    let b = start(cb, Verdict::Accept).await;
    let mut cc = config(3, &all);
    cc.bootstrap = vec![(peer(1), a.addr().await)];
    let c = start(cc, Verdict::Accept).await;
    eventually("A knows the listen addresses of B and C", async || {
        let peers = a.handle.peers().await.ok()?;
        (peers.iter().filter(|p| !p.listen_addrs.is_empty()).count() == 2).then_some(())
    })
    .await;

    let guangdong = "guangdong".parse().unwrap();
    let providers = eventually("C finds B as the provider of guangdong", async || {
        let _ = b.handle.provide(&guangdong).await;
        let found = c.handle.providers(&guangdong).await.ok()?;
        found.contains(&peer(2)).then_some(found)
    })
    .await;
    assert_eq!(providers, vec![peer(2)]);
    let shaanxi = "shaanxi".parse().unwrap();
    assert_eq!(c.handle.providers(&shaanxi).await.unwrap(), vec![]);
}

/// A peer admitted at runtime is reached from its peer id alone: A never
/// learns C's address from configuration, yet once A admits C it finds C
/// through kademlia (B, which both know, has C's listen address from
/// identify) and connects.
#[tokio::test]
async fn an_admitted_peer_is_found_through_kademlia_and_connected() {
    let mut ca = config(1, &[2]);
    ca.discovery_interval = Some(Duration::from_millis(300));
    let a = start(ca, Verdict::Accept).await;
    let b = start(config(2, &[1, 3]), Verdict::Accept).await;
    let mut cc = config(3, &[1, 2]);
    cc.discovery_interval = None;
    let c = start(cc, Verdict::Accept).await;
    connect(&a, &b).await;
    connect(&c, &b).await;
    eventually("B knows C's listen address", async || {
        let peers = b.handle.peers().await.ok()?;
        peers
            .iter()
            .any(|p| p.peer == peer(3) && !p.listen_addrs.is_empty())
            .then_some(())
    })
    .await;
    // Not admitted yet: A keeps away from C.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let peers = a.handle.peers().await.unwrap();
    assert!(!peers.iter().any(|p| p.peer == peer(3)), "{peers:?}");

    a.handle.allow(peer(3)).await.unwrap();
    eventually("A finds and connects to C", async || {
        let peers = a.handle.peers().await.ok()?;
        peers.iter().any(|p| p.peer == peer(3)).then_some(())
    })
    .await;
    // C does no discovery of its own: A's lookup made the connection (kademlia contacts the peer it finds, or A dials
    // the addresses returned).
    let stats = a.handle.stats().await.unwrap();
    assert!(stats.discovery_lookups >= 1, "{stats:?}");
}

/// (d) A peer not in the allow-list cannot connect, in either direction;
/// refusals are counted; admitting it at runtime lets it in and
/// disallowing it throws it out.
#[tokio::test]
async fn a_peer_outside_the_allow_list_is_refused() {
    let a = start(config(1, &[2]), Verdict::Accept).await;
    // X (node 9) would accept A, but A does not admit X.
    let x = start(config(9, &[1]), Verdict::Accept).await;

    let _ = x.handle.dial(peer(1), a.addr().await).await;
    eventually("A refuses X's inbound connection", async || {
        let stats = a.handle.stats().await.ok()?;
        (stats.connections_refused_inbound >= 1).then_some(())
    })
    .await;
    assert!(a.seen().contains(&Seen::Refused {
        peer: peer(9),
        direction: Direction::Inbound,
        refusal: Refusal::NotAllowed,
    }));
    assert!(!a.seen().contains(&Seen::Connected(peer(9))));
    assert!(a.handle.peers().await.unwrap().is_empty());
    assert!(x.handle.request(peer(1), b"hello".to_vec()).await.is_err());
    assert!(x.seen().iter().all(|s| !matches!(s, Seen::Request { .. })));
    assert_eq!(a.handle.stats().await.unwrap().requests_received, 0);

    // Outbound: A does not even dial X.
    let dial = a.handle.dial(peer(9), x.addr().await).await;
    assert!(
        matches!(dial, Err(Error::NotAllowed { peer: p }) if p == peer(9)),
        "{dial:?}"
    );
    assert!(a.handle.stats().await.unwrap().connections_refused_outbound >= 1);
    let request = a.handle.request(peer(9), b"hello".to_vec()).await;
    assert!(
        matches!(request, Err(Error::NotAllowed { .. })),
        "{request:?}"
    );

    // The registry admits X at runtime, then removes it again.
    a.handle.allow(peer(9)).await.unwrap();
    connect(&x, &a).await;
    assert_eq!(
        x.handle.request(peer(1), b"hi".to_vec()).await.unwrap(),
        b"ack:hi"
    );
    a.handle.disallow(peer(9)).await.unwrap();
    eventually("X is disconnected", async || {
        let peers = a.handle.peers().await.ok()?;
        peers.iter().all(|p| p.peer != peer(9)).then_some(())
    })
    .await;
}

/// (f) After `ban_after_rejections` rejections of messages B authored, A
/// bans B: disconnected, counted, refused when it comes back.
#[tokio::test]
async fn rejected_gossip_gets_its_author_banned() {
    let a = start(config(1, &[2]), Verdict::Reject).await;
    let b = start(config(2, &[1]), Verdict::Accept).await;
    connect(&b, &a).await;
    subscribe_all(&[&a, &b], &Topic::Governance).await;

    let mut n = 0u32;
    eventually("A bans B", async || {
        n += 1;
        let _ = b
            .handle
            .publish(
                &Topic::Governance,
                format!("forged approval {n}").into_bytes(),
            )
            .await;
        a.seen()
            .contains(&Seen::Banned {
                peer: peer(2),
                strikes: 3,
            })
            .then_some(())
    })
    .await;
    wait_banned_and_cut_off(&a, peer(2)).await;
    let stats = a.handle.stats().await.unwrap();
    assert_eq!(stats.bans, 1);
    assert_eq!(stats.gossip_rejected, 3);
    assert_eq!(stats.gossip_received, 3);

    // B comes back: refused as banned.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = b.handle.dial(peer(1), a.addr().await).await;
    eventually("A refuses the banned peer", async || {
        a.seen()
            .contains(&Seen::Refused {
                peer: peer(2),
                direction: Direction::Inbound,
                refusal: Refusal::Banned,
            })
            .then_some(())
    })
    .await;
    assert!(matches!(
        a.handle.request(peer(2), b"x".to_vec()).await,
        Err(Error::Banned { .. })
    ));
}

/// Strikes given by the application for something bad a peer sent outside
/// gossip (an answer to a request) count like rejected gossip: at
/// `ban_after_rejections` the peer is banned and disconnected.
#[tokio::test]
async fn penalised_peers_are_banned_at_the_threshold() {
    let a = start(config(1, &[2]), Verdict::Accept).await;
    let b = start(config(2, &[1]), Verdict::Accept).await;
    connect(&b, &a).await;
    for _ in 0..2 {
        a.handle.penalise(peer(2)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        a.handle
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.peer == peer(2)),
        "two strikes of three: still connected"
    );
    assert_eq!(a.handle.stats().await.unwrap().bans, 0);
    a.handle.penalise(peer(2)).await.unwrap();
    wait_banned_and_cut_off(&a, peer(2)).await;
    assert_eq!(a.handle.stats().await.unwrap().bans, 1);
}
