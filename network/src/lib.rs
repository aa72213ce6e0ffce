//! The libp2p mesh that connects the relayers of the credit interchain
//! network.
//!
//! Each regional platform's relayer runs one node. Nodes talk over TCP
//! secured by noise and multiplexed by yamux (there is no plaintext
//! transport), and speak:
//! - **identify** (`/credit/id/1.0.0`): listen addresses, fed to kademlia;
//! - **kademlia** (`/credit/kad/1.0.0`, our own DHT): which relayers serve
//!   which chain, as provider records keyed by the chain id string
//!   ([`NetworkHandle::provide`], [`NetworkHandle::providers`]);
//! - **gossipsub** (`/meshsub/1.2.0`, with IDONTWANT): light blocks, attestations,
//!   registrations and governance approvals (see [`Topic`] for the topic
//!   names), with peer scoring and application validation;
//! - **request-response** (`/credit/packet/1.0.0`): packet handover to the
//!   relayer of the destination chain, one length-prefixed frame each way
//!   with a hard size limit ([`codec`]).
//!
//! Admission: only peers of the network registry ([`NetworkConfig::allowed`],
//! updated at runtime with [`NetworkHandle::allow`] / `disallow`) may
//! connect, in either direction; refusals are counted and reported.
//!
//! Every gossip message, request and response is a signed [`Envelope`]:
//! the libp2p identity is derived from the operator's ed25519 key
//! ([`identity`]), and an envelope reaches the daemon only if its signature
//! verifies and its sender key is the key of the peer it came from. Bad
//! envelopes are rejected, counted and held against their author; the
//! daemon's own rejections ([`NetworkHandle::report`]) too; after
//! [`NetworkConfig::ban_after_rejections`] strikes a peer is banned.
//!
//! This crate never interprets payloads (they are the relayer's canonical
//! borsh bytes) and never panics on bytes from the network.
//!
//! ```
//! # async fn two_nodes() -> Result<(), network::Error> {
//! use network::{Network, NetworkConfig, NetworkEvent};
//! let (ka, kb) = (
//!     ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
//!     ed25519_dalek::SigningKey::from_bytes(&[2; 32]),
//! );
//! let peer_of = |k: &ed25519_dalek::SigningKey| {
//!     network::peer_id_of(&network::identity::public_key_of_signing_key(k)).unwrap()
//! };
//! let (pa, pb) = (peer_of(&ka), peer_of(&kb));
//! let local: network::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
//! let mut ca = NetworkConfig::new(ka);
//! ca.listen = vec![local.clone()];
//! ca.allowed = vec![pb];
//! let (a, mut a_events) = Network::start(ca).await?;
//! let mut cb = NetworkConfig::new(kb);
//! cb.listen = vec![local];
//! cb.allowed = vec![pa];
//! let (b, _b_events) = Network::start(cb).await?;
//! b.dial(pa, a.listen_addrs().await?[0].clone()).await?;
//! tokio::spawn(async move {
//!     while let Some(event) = a_events.recv().await {
//!         if let NetworkEvent::Request { body, responder, .. } = event {
//!             let _ = responder.respond([b"ack:".as_slice(), &body].concat());
//!         }
//!     }
//! });
//! assert_eq!(b.request(pa, b"packet".to_vec()).await?, b"ack:packet");
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(two_nodes()).unwrap();
//! ```

#![warn(missing_docs)]

pub mod admission;
mod api;
mod behaviour;
pub mod codec;
mod config;
pub mod envelope;
mod error;
pub mod identity;
mod task;
mod topic;

#[cfg(test)]
extern crate self as network;
#[cfg(test)]
mod tests;

pub use admission::{Direction, Refusal};
pub use api::{NetworkEvent, NetworkHandle, NetworkStats, PeerInfo, Responder, Verdict};
pub use behaviour::{IDENTIFY_PROTOCOL, KAD_PROTOCOL};
pub use codec::PACKET_PROTOCOL;
pub use config::{DEFAULT_MAX_GOSSIP_SIZE, DEFAULT_MAX_MESSAGE_SIZE, NetworkConfig};
pub use envelope::{Envelope, Kind};
pub use error::{Error, Result};
pub use identity::{is_key_of, peer_id_of, public_key_of};
pub use libp2p::gossipsub::MessageId;
pub use libp2p::{Multiaddr, PeerId};
pub use task::Network;
pub use topic::Topic;
