//! Configuration of a relayer's network node.

use std::fmt;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use libp2p::{Multiaddr, PeerId};

use crate::Error;

/// Default hard limit of a request or response frame: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Default hard limit of a gossip message: 1 MiB (a light block with a few
/// hundred validator signatures fits many times over).
pub const DEFAULT_MAX_GOSSIP_SIZE: usize = 1024 * 1024;

/// Everything [`crate::Network::start`] needs.
///
/// ```
/// use network::NetworkConfig;
/// let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
/// let mut config = NetworkConfig::new(key);
/// config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
/// assert_eq!(config.ban_after_rejections, 3);
/// config.validate().unwrap();
/// ```
#[derive(Clone)]
pub struct NetworkConfig {
    /// The operator key; the libp2p identity is derived from the same seed.
    pub identity: SigningKey,
    /// Addresses to listen on (`/ip4/0.0.0.0/tcp/4001`; `/tcp/0` picks a
    /// free port).
    pub listen: Vec<Multiaddr>,
    /// Peers dialled at start and added to kademlia's routing table. They
    /// must also be in `allowed` or the dial is refused.
    pub bootstrap: Vec<(PeerId, Multiaddr)>,
    /// Peer ids admitted to connect (the relayers of the network registry).
    pub allowed: Vec<PeerId>,
    /// Peers banned from the start (the bans the daemon kept from an
    /// earlier run): refused even if allowed, until unbanned.
    pub banned: Vec<PeerId>,
    /// Strikes (application rejections and invalid envelopes authored by a
    /// peer) after which the peer is banned.
    pub ban_after_rejections: u32,
    /// How long a request waits for its response.
    pub request_timeout: Duration,
    /// Hard limit of a request or response frame in bytes.
    pub max_message_size: usize,
    /// Hard limit of a gossip message in bytes.
    pub max_gossip_size: usize,
    /// Gossipsub heartbeat (mesh maintenance); short in tests.
    pub gossip_heartbeat: Duration,
    /// How long a connection with no open stream is kept.
    pub idle_connection_timeout: Duration,
    /// How long a kademlia query (providers lookup or announcement) runs.
    pub kad_query_timeout: Duration,
    /// How often provider records are re-announced; they expire after three
    /// intervals, so a relayer that went away drops out of lookups.
    pub provider_republish_interval: Duration,
    /// How often the node looks up, through kademlia, the admitted peers it
    /// has no connection to and dials them: a relayer admitted at runtime
    /// (its chain accepted by the registry) is reached from its peer id
    /// alone, without anyone configuring its address. A peer is also looked
    /// up as soon as it is admitted. `None`: only bootstrap peers and
    /// explicit dials.
    pub discovery_interval: Option<Duration>,
    /// Connections kept to one peer at most.
    pub max_connections_per_peer: u32,
    /// Established connections at most, in total.
    pub max_connections: u32,
    /// Capacity of the event channel to the daemon. When it is full, events
    /// are dropped (and counted) rather than stalling the network: a dropped
    /// gossip message is reported `Ignore`, a dropped request goes
    /// unanswered.
    pub event_buffer: usize,
    /// Where to append every gossip, request and response body this node
    /// receives, once its envelope opened (what the protocol layer sees),
    /// for audits of what crosses the mesh. One record per body: a kind
    /// byte (`g` gossip, `q` request, `r` response), its length (u32 big
    /// endian), the body. Off by default.
    pub capture: Option<std::path::PathBuf>,
}

impl NetworkConfig {
    /// A configuration with defaults and no listen address, bootstrap peer
    /// or allowed peer.
    pub fn new(identity: SigningKey) -> NetworkConfig {
        NetworkConfig {
            identity,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            allowed: Vec::new(),
            banned: Vec::new(),
            ban_after_rejections: 3,
            request_timeout: Duration::from_secs(30),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_gossip_size: DEFAULT_MAX_GOSSIP_SIZE,
            gossip_heartbeat: Duration::from_secs(1),
            idle_connection_timeout: Duration::from_secs(120),
            kad_query_timeout: Duration::from_secs(30),
            provider_republish_interval: Duration::from_secs(600),
            discovery_interval: Some(Duration::from_secs(5)),
            max_connections_per_peer: 2,
            max_connections: 256,
            event_buffer: 1024,
            capture: None,
        }
    }

    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: String| Err(Error::Config(what));
        if self.ban_after_rejections == 0 {
            return bad("ban_after_rejections must be at least 1".into());
        }
        if self.max_message_size < 1024 || self.max_message_size > u32::MAX as usize {
            return bad(format!(
                "max_message_size {} must be between 1 KiB and 4 GiB",
                self.max_message_size
            ));
        }
        if self.max_gossip_size < 1024 {
            return bad(format!(
                "max_gossip_size {} must be at least 1 KiB",
                self.max_gossip_size
            ));
        }
        for (name, value) in [
            ("request_timeout", self.request_timeout),
            ("gossip_heartbeat", self.gossip_heartbeat),
            ("kad_query_timeout", self.kad_query_timeout),
            (
                "provider_republish_interval",
                self.provider_republish_interval,
            ),
        ] {
            if value.is_zero() {
                return bad(format!("{name} must be positive"));
            }
        }
        if self.discovery_interval.is_some_and(|d| d.is_zero()) {
            return bad("discovery_interval must be positive (or off)".into());
        }
        if self.max_connections_per_peer == 0 || self.max_connections == 0 {
            return bad("connection limits must be at least 1".into());
        }
        if self.event_buffer == 0 {
            return bad("event_buffer must be at least 1".into());
        }
        Ok(())
    }
}

impl fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret key.
        f.debug_struct("NetworkConfig")
            .field(
                "identity",
                &crate::identity::public_key_of_signing_key(&self.identity),
            )
            .field("listen", &self.listen)
            .field("bootstrap", &self.bootstrap)
            .field("allowed", &self.allowed)
            .field("banned", &self.banned)
            .field("ban_after_rejections", &self.ban_after_rejections)
            .field("request_timeout", &self.request_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("max_gossip_size", &self.max_gossip_size)
            .field("gossip_heartbeat", &self.gossip_heartbeat)
            .field("idle_connection_timeout", &self.idle_connection_timeout)
            .field("kad_query_timeout", &self.kad_query_timeout)
            .field(
                "provider_republish_interval",
                &self.provider_republish_interval,
            )
            .field("discovery_interval", &self.discovery_interval)
            .field("max_connections_per_peer", &self.max_connections_per_peer)
            .field("max_connections", &self.max_connections)
            .field("event_buffer", &self.event_buffer)
            .finish()
    }
}
