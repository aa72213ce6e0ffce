//! What the daemon sees: the handle, the events, the verdicts and the
//! statistics.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use libp2p::gossipsub::MessageId;
use libp2p::{Multiaddr, PeerId};
use protocol::{ChainId, Hash, PublicKey};
use tokio::sync::{mpsc, oneshot};

use crate::admission::{Direction, Refusal};
use crate::envelope::{ENVELOPE_OVERHEAD, Envelope, Kind};
use crate::{Error, Result, Topic};

/// Room left in a gossip message for gossipsub's own fields (author,
/// sequence number, topic, signature, protobuf framing).
const GOSSIP_FRAMING: usize = 512;

/// The application's judgement of a gossip message whose envelope was
/// valid (see [`NetworkHandle::report`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The content is valid: forward it to the mesh.
    Accept,
    /// The content is invalid (e.g. a forged light block): do not forward,
    /// penalise the forwarder's gossip score and give its author a strike.
    Reject,
    /// Not judged (e.g. not interesting): drop it without penalty.
    Ignore,
}

/// Answers one inbound request. The body is signed by the network (an
/// envelope of kind "response to request H") before it is sent. Dropping
/// the responder without answering closes the stream: the requester gets
/// [`Error::NoResponse`].
#[derive(Debug)]
pub struct Responder {
    pub(crate) peer: PeerId,
    pub(crate) request: Hash,
    pub(crate) key: Arc<SigningKey>,
    pub(crate) max_body: usize,
    pub(crate) reply: oneshot::Sender<Vec<u8>>,
}

impl Responder {
    /// The peer that asked.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Signs and sends `body` as the response.
    pub fn respond(self, body: Vec<u8>) -> Result<()> {
        if body.len() > self.max_body {
            return Err(Error::TooLarge {
                what: "response body",
                size: body.len(),
                max: self.max_body,
            });
        }
        let envelope = Envelope::seal(
            &self.key,
            Kind::Response {
                request: self.request,
            },
            body,
        );
        self.reply
            .send(envelope.encode())
            .map_err(|_| Error::RequestGone { peer: self.peer })
    }
}

/// What the network tells the daemon.
#[derive(Debug)]
pub enum NetworkEvent {
    /// A gossip message whose envelope is valid: signed by `sender`, the
    /// operator key of `from`, its author. The daemon must judge it with
    /// [`NetworkHandle::report`]`(message_id, propagation_source, ..)`;
    /// nothing is forwarded before it says [`Verdict::Accept`].
    Gossip {
        /// The topic it came on.
        topic: Topic,
        /// The author's peer id.
        from: PeerId,
        /// The author's operator key (verified).
        sender: PublicKey,
        /// The payload.
        body: Vec<u8>,
        /// Gossipsub's id of the message (a content hash).
        message_id: MessageId,
        /// The neighbour that forwarded it to us (`from` itself or a relay).
        propagation_source: PeerId,
    },
    /// A packet-handover request whose envelope is valid.
    Request {
        /// The peer that asked.
        from: PeerId,
        /// Its operator key (verified).
        sender: PublicKey,
        /// The payload.
        body: Vec<u8>,
        /// Sends the (signed) answer.
        responder: Responder,
    },
    /// The first connection to a peer was established.
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// The remote address of that connection.
        address: Multiaddr,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// Admission refused a connection.
    ConnectionRefused {
        /// The peer refused.
        peer: PeerId,
        /// Which way the connection went.
        direction: Direction,
        /// Why.
        refusal: Refusal,
    },
    /// An envelope failed its checks and was dropped (never delivered).
    EnvelopeRejected {
        /// The peer held responsible: the gossip author, or the peer of the
        /// request or response.
        peer: PeerId,
        /// What was wrong.
        reason: String,
    },
    /// A peer was banned after too many strikes: disconnected, refused from
    /// now on.
    PeerBanned {
        /// The peer.
        peer: PeerId,
        /// Its strikes.
        strikes: u32,
    },
}

/// A connected peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its peer id.
    pub peer: PeerId,
    /// Its operator key, if its peer id is an ed25519 one.
    pub public_key: Option<PublicKey>,
    /// Remote addresses of the open connections.
    pub addresses: Vec<Multiaddr>,
    /// The addresses it listens on (from identify).
    pub listen_addrs: Vec<Multiaddr>,
    /// Its agent string (from identify).
    pub agent_version: Option<String>,
}

/// Counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Peers with at least one connection now.
    pub peers_connected: usize,
    /// Inbound connections refused by admission.
    pub connections_refused_inbound: u64,
    /// Outbound connections (dials) refused by admission.
    pub connections_refused_outbound: u64,
    /// Gossip messages we published.
    pub gossip_published: u64,
    /// Gossip messages delivered to the daemon.
    pub gossip_received: u64,
    /// Gossip messages dropped because their envelope failed its checks
    /// (or their author is not admitted).
    pub gossip_invalid: u64,
    /// Gossip messages the daemon rejected.
    pub gossip_rejected: u64,
    /// Requests we sent.
    pub requests_sent: u64,
    /// Requests delivered to the daemon.
    pub requests_received: u64,
    /// Requests and responses dropped because their envelope failed its
    /// checks.
    pub requests_invalid: u64,
    /// Responses we sent.
    pub responses_sent: u64,
    /// Peers banned.
    pub bans: u64,
    /// Events dropped because the daemon's channel was full.
    pub events_dropped: u64,
    /// Kademlia lookups of admitted peers we had no connection to.
    pub discovery_lookups: u64,
    /// Dials to addresses those lookups found.
    pub discovery_dials: u64,
}

/// What the handle asks of the network task.
#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
    Subscribe {
        topic: Topic,
        subscribe: bool,
        reply: oneshot::Sender<Result<()>>,
    },
    Request {
        peer: PeerId,
        data: Vec<u8>,
        request_hash: Hash,
        reply: oneshot::Sender<Result<Vec<u8>>>,
    },
    Dial {
        peer: PeerId,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<()>>,
    },
    Provide {
        chain: ChainId,
        reply: oneshot::Sender<Result<()>>,
    },
    Providers {
        chain: ChainId,
        reply: oneshot::Sender<Result<Vec<PeerId>>>,
    },
    Allow {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Disallow {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Unban {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Penalise {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Report {
        message_id: MessageId,
        propagation_source: PeerId,
        verdict: Verdict,
        reply: oneshot::Sender<bool>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Stats {
        reply: oneshot::Sender<NetworkStats>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// The daemon's side of a running network node. Cheap to clone; every
/// method talks to the network task and fails with [`Error::Stopped`] once
/// it has stopped.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) key: Arc<SigningKey>,
    pub(crate) local_peer_id: PeerId,
    pub(crate) max_message_size: usize,
    pub(crate) max_gossip_size: usize,
}

impl NetworkHandle {
    /// Our peer id (derived from the operator key).
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Our operator key.
    pub fn public_key(&self) -> PublicKey {
        crate::identity::public_key_of_signing_key(&self.key)
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Signs `body` and publishes it on `topic`. Fails with
    /// [`Error::NoPeersOnTopic`] while no connected peer subscribes to it.
    pub async fn publish(&self, topic: &Topic, body: Vec<u8>) -> Result<()> {
        let name = topic.to_string();
        let max = self
            .max_gossip_size
            .saturating_sub(GOSSIP_FRAMING + ENVELOPE_OVERHEAD + name.len());
        if body.len() > max {
            return Err(Error::TooLarge {
                what: "gossip body",
                size: body.len(),
                max,
            });
        }
        let data = Envelope::seal(&self.key, Kind::Gossip { topic: name }, body).encode();
        self.publish_encoded(topic, data).await
    }

    pub(crate) async fn publish_encoded(&self, topic: &Topic, data: Vec<u8>) -> Result<()> {
        let topic = topic.clone();
        self.call(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Subscribes to `topic`; its messages then arrive as
    /// [`NetworkEvent::Gossip`].
    pub async fn subscribe(&self, topic: &Topic) -> Result<()> {
        let topic = topic.clone();
        self.call(|reply| Command::Subscribe {
            topic,
            subscribe: true,
            reply,
        })
        .await?
    }

    /// Unsubscribes from `topic`.
    pub async fn unsubscribe(&self, topic: &Topic) -> Result<()> {
        let topic = topic.clone();
        self.call(|reply| Command::Subscribe {
            topic,
            subscribe: false,
            reply,
        })
        .await?
    }

    /// Hands `body` (signed) to `peer` and waits for its signed response,
    /// whose envelope must name this request. Errors say why there is no
    /// answer: [`Error::NotAllowed`], [`Error::Banned`],
    /// [`Error::DialFailed`], [`Error::Timeout`], [`Error::NoResponse`], or
    /// an envelope error for a bad response.
    pub async fn request(&self, peer: PeerId, body: Vec<u8>) -> Result<Vec<u8>> {
        let max = self.max_message_size.saturating_sub(ENVELOPE_OVERHEAD);
        if body.len() > max {
            return Err(Error::TooLarge {
                what: "request body",
                size: body.len(),
                max,
            });
        }
        let data = Envelope::seal(&self.key, Kind::Request, body).encode();
        self.request_encoded(peer, data).await
    }

    pub(crate) async fn request_encoded(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>> {
        let request_hash = Envelope::request_hash(&data);
        self.call(|reply| Command::Request {
            peer,
            data,
            request_hash,
            reply,
        })
        .await?
    }

    /// Connects to `peer` at `addr` (and remembers the address); returns
    /// once the connection is up, or at once if the peer is already
    /// connected or being dialled.
    pub async fn dial(&self, peer: PeerId, addr: Multiaddr) -> Result<()> {
        self.call(|reply| Command::Dial { peer, addr, reply })
            .await?
    }

    /// Announces in kademlia that we serve `chain` (provider record under
    /// the chain id string). The record is kept and re-announced even if
    /// this announcement fails.
    pub async fn provide(&self, chain: &ChainId) -> Result<()> {
        let chain = chain.clone();
        self.call(|reply| Command::Provide { chain, reply }).await?
    }

    /// The admitted relayers (other than us) that announced serving `chain`.
    pub async fn providers(&self, chain: &ChainId) -> Result<Vec<PeerId>> {
        let chain = chain.clone();
        self.call(|reply| Command::Providers { chain, reply })
            .await?
    }

    /// Admits `peer` (it joined the registry).
    pub async fn allow(&self, peer: PeerId) -> Result<()> {
        self.call(|reply| Command::Allow { peer, reply }).await
    }

    /// Removes `peer` from the allow-list and closes its connections.
    pub async fn disallow(&self, peer: PeerId) -> Result<()> {
        self.call(|reply| Command::Disallow { peer, reply }).await
    }

    /// Lifts a ban and clears the peer's strikes.
    pub async fn unban(&self, peer: PeerId) -> Result<()> {
        self.call(|reply| Command::Unban { peer, reply }).await
    }

    /// Judges a gossip message delivered as [`NetworkEvent::Gossip`]. On
    /// [`Verdict::Reject`] the message's author gets a strike, and is
    /// banned after `ban_after_rejections` strikes. Returns false if the
    /// message was no longer in gossipsub's cache (judged too late).
    pub async fn report(
        &self,
        message_id: MessageId,
        propagation_source: PeerId,
        verdict: Verdict,
    ) -> Result<bool> {
        self.call(|reply| Command::Report {
            message_id,
            propagation_source,
            verdict,
            reply,
        })
        .await
    }

    /// Gives `peer` a strike for something invalid it sent outside gossip
    /// (e.g. a forged item in an answer to a request), as a rejected gossip
    /// message does: it is banned after `ban_after_rejections` strikes.
    pub async fn penalise(&self, peer: PeerId) -> Result<()> {
        self.call(|reply| Command::Penalise { peer, reply }).await
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>> {
        self.call(|reply| Command::Peers { reply }).await
    }

    /// The addresses we listen on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>> {
        self.call(|reply| Command::ListenAddrs { reply }).await
    }

    /// Counters since start.
    pub async fn stats(&self) -> Result<NetworkStats> {
        self.call(|reply| Command::Stats { reply }).await
    }

    /// Stops the network task (connections close); later calls fail with
    /// [`Error::Stopped`].
    pub async fn shutdown(&self) -> Result<()> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}
