//! The one error type of the crate.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use protocol::PublicKey;

/// What went wrong in the network, naming the peer, topic or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address from the configuration.
        addr: Multiaddr,
        /// Why the transport refused it.
        reason: String,
    },
    /// The swarm could not be assembled (transport or behaviour setup).
    #[error("cannot build the libp2p swarm: {0}")]
    Build(String),
    /// The configuration is inconsistent.
    #[error("invalid network configuration: {0}")]
    Config(String),
    /// The network task has stopped (after `shutdown` or a fatal error).
    #[error("the network task has stopped")]
    Stopped,
    /// A body does not fit under the configured size limit.
    #[error("{what} of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// What was too large ("gossip body", "request body", ...).
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A topic string is not one of the mesh's topics.
    #[error("invalid topic {topic:?}: {reason}")]
    InvalidTopic {
        /// The string that was parsed.
        topic: String,
        /// Why it is not a topic.
        reason: String,
    },
    /// No connected peer is subscribed to the topic yet (gossip needs at
    /// least one peer to hand the message to).
    #[error("no connected peer is subscribed to {topic}")]
    NoPeersOnTopic {
        /// The topic that was published on.
        topic: String,
    },
    /// The same envelope was already published (gossip ids are content
    /// hashes).
    #[error("the same message was already published on {topic}")]
    DuplicateMessage {
        /// The topic that was published on.
        topic: String,
    },
    /// Publishing failed for another reason.
    #[error("publishing on {topic} failed: {reason}")]
    Publish {
        /// The topic that was published on.
        topic: String,
        /// The gossipsub error.
        reason: String,
    },
    /// Subscribing failed.
    #[error("subscribing to {topic} failed: {reason}")]
    Subscribe {
        /// The topic.
        topic: String,
        /// The gossipsub error.
        reason: String,
    },
    /// The peer is not in the allow-list (the network registry).
    #[error("peer {peer} is not in the allow-list")]
    NotAllowed {
        /// The peer.
        peer: PeerId,
    },
    /// The peer was banned for misbehaviour.
    #[error("peer {peer} is banned")]
    Banned {
        /// The peer.
        peer: PeerId,
    },
    /// A request got no response in time.
    #[error("request to {peer} timed out after {timeout:?}")]
    Timeout {
        /// The peer asked.
        peer: PeerId,
        /// The configured request timeout.
        timeout: Duration,
    },
    /// The peer could not be reached.
    #[error("cannot dial {peer}: {reason}")]
    DialFailed {
        /// The peer.
        peer: PeerId,
        /// The transport's or admission's reason.
        reason: String,
    },
    /// The connection closed, or the peer closed the stream without a
    /// response (its application refused or dropped the request).
    #[error("{peer} sent no response: {reason}")]
    NoResponse {
        /// The peer asked.
        peer: PeerId,
        /// What happened to the stream.
        reason: String,
    },
    /// The peer does not speak the packet-handover protocol.
    #[error("{peer} does not support the packet protocol")]
    UnsupportedProtocol {
        /// The peer asked.
        peer: PeerId,
    },
    /// An envelope did not decode (strict borsh: no trailing bytes).
    #[error("malformed envelope from {peer}: {reason}")]
    MalformedEnvelope {
        /// The peer it came from.
        peer: PeerId,
        /// The decoder's message.
        reason: String,
    },
    /// The envelope's signature does not verify under its sender key.
    #[error("envelope from {peer} has a bad signature for sender {sender}")]
    BadSignature {
        /// The peer it came from.
        peer: PeerId,
        /// The key the envelope claims.
        sender: PublicKey,
    },
    /// The envelope's sender key is not the key of the peer it came from.
    #[error("envelope sender {sender} is not peer {peer}")]
    SenderMismatch {
        /// The peer it came from.
        peer: PeerId,
        /// The key the envelope claims.
        sender: PublicKey,
    },
    /// The envelope was signed for another purpose (topic, request or the
    /// response to another request).
    #[error("envelope from {peer} is a {got_and_expected}")]
    WrongKind {
        /// The peer it came from.
        peer: PeerId,
        /// What the envelope says it is and what was expected here
        /// ("request, expected a response to request ...").
        got_and_expected: String,
    },
    /// Announcing a provider record failed.
    #[error("announcing that we serve {chain} failed: {reason}")]
    Provide {
        /// The chain id.
        chain: String,
        /// The kademlia error.
        reason: String,
    },
    /// Looking up the providers of a chain failed.
    #[error("finding the relayers of {chain} failed: {reason}")]
    Providers {
        /// The chain id.
        chain: String,
        /// The kademlia error.
        reason: String,
    },
    /// The request this responder answers is gone (timed out or the
    /// connection closed).
    #[error("the request from {peer} can no longer be answered")]
    RequestGone {
        /// The peer that asked.
        peer: PeerId,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
