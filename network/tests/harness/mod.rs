//! In-process relayer nodes on 127.0.0.1 for the mesh tests, shared by
//! `tests/mesh.rs` and the crate's own tests (`src/tests.rs`).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use network::{
    Direction, Multiaddr, Network, NetworkConfig, NetworkEvent, NetworkHandle, PeerId, Refusal,
    Topic, Verdict,
};
use protocol::PublicKey;

/// How long a condition may take before a test fails (not a timing claim).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The operator key of test node `n`.
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// The operator public key of test node `n`.
pub fn public(n: u8) -> PublicKey {
    network::identity::public_key_of_signing_key(&key(n))
}

/// The peer id of test node `n`.
pub fn peer(n: u8) -> PeerId {
    network::peer_id_of(&public(n)).expect("valid key")
}

/// What a node's event pump saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Gossip {
        topic: Topic,
        from: PeerId,
        sender: PublicKey,
        body: Vec<u8>,
        propagation_source: PeerId,
    },
    Request {
        from: PeerId,
        sender: PublicKey,
        body: Vec<u8>,
    },
    Connected(PeerId),
    Disconnected(PeerId),
    Refused {
        peer: PeerId,
        direction: Direction,
        refusal: Refusal,
    },
    EnvelopeRejected(PeerId),
    Banned {
        peer: PeerId,
        strikes: u32,
    },
}

/// A running node and what its pump saw.
pub struct Node {
    pub handle: NetworkHandle,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Node {
    /// The first listen address.
    pub async fn addr(&self) -> Multiaddr {
        self.handle.listen_addrs().await.expect("running")[0].clone()
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// Gossip bodies seen so far.
    pub fn gossip(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| matches!(s, Seen::Gossip { .. }))
            .collect()
    }
}

/// A test configuration for node `n` admitting the nodes in `allowed`.
pub fn config(n: u8, allowed: &[u8]) -> NetworkConfig {
    let mut config = NetworkConfig::new(key(n));
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid")];
    config.allowed = allowed.iter().map(|m| peer(*m)).collect();
    config.gossip_heartbeat = Duration::from_millis(100);
    config.request_timeout = Duration::from_secs(10);
    config.kad_query_timeout = Duration::from_secs(10);
    config
}

/// Starts a node whose pump records every event, judges every gossip
/// message with `verdict`, and answers each request `body` with
/// `ack:body`, except `refuse`, whose responder it drops.
pub async fn start(config: NetworkConfig, verdict: Verdict) -> Node {
    let (handle, mut events) = Network::start(config).await.expect("node starts");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (pump_handle, pump_seen) = (handle.clone(), seen.clone());
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let record = match event {
                NetworkEvent::Gossip {
                    topic,
                    from,
                    sender,
                    body,
                    message_id,
                    propagation_source,
                } => {
                    let _ = pump_handle
                        .report(message_id, propagation_source, verdict)
                        .await;
                    Seen::Gossip {
                        topic,
                        from,
                        sender,
                        body,
                        propagation_source,
                    }
                }
                NetworkEvent::Request {
                    from,
                    sender,
                    body,
                    responder,
                } => {
                    if body != b"refuse" {
                        let answer = [b"ack:".as_slice(), &body].concat();
                        responder.respond(answer).expect("request still open");
                    }
                    Seen::Request { from, sender, body }
                }
                NetworkEvent::PeerConnected { peer, .. } => Seen::Connected(peer),
                NetworkEvent::PeerDisconnected { peer } => Seen::Disconnected(peer),
                NetworkEvent::ConnectionRefused {
                    peer,
                    direction,
                    refusal,
                } => Seen::Refused {
                    peer,
                    direction,
                    refusal,
                },
                NetworkEvent::EnvelopeRejected { peer, .. } => Seen::EnvelopeRejected(peer),
                NetworkEvent::PeerBanned { peer, strikes } => Seen::Banned { peer, strikes },
            };
            pump_seen.lock().expect("not poisoned").push(record);
        }
    });
    Node { handle, seen }
}

/// Waits until `check` returns `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {PATIENCE:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Connects `from` to `to` and waits until both see each other.
pub async fn connect(from: &Node, to: &Node) {
    let (a, b) = (from.handle.local_peer_id(), to.handle.local_peer_id());
    from.handle.dial(b, to.addr().await).await.expect("dial");
    eventually("both ends connected", async || {
        let x = from.handle.peers().await.ok()?;
        let y = to.handle.peers().await.ok()?;
        (x.iter().any(|p| p.peer == b) && y.iter().any(|p| p.peer == a)).then_some(())
    })
    .await;
}

/// Subscribes every node to `topic`.
pub async fn subscribe_all(nodes: &[&Node], topic: &Topic) {
    for node in nodes {
        node.handle.subscribe(topic).await.expect("subscribe");
    }
}

/// Waits until `node` has banned `banned` at three strikes and no longer
/// has a connection to it.
pub async fn wait_banned_and_cut_off(node: &Node, banned: PeerId) {
    eventually("the ban at three strikes", async || {
        node.seen()
            .contains(&Seen::Banned {
                peer: banned,
                strikes: 3,
            })
            .then_some(())
    })
    .await;
    eventually("the banned peer disconnected", async || {
        let peers = node.handle.peers().await.ok()?;
        peers.iter().all(|p| p.peer != banned).then_some(())
    })
    .await;
}
