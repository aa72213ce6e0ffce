//! The composed behaviour: admission, connection limits, identify,
//! kademlia, gossipsub and request-response, each configured for a small
//! permissioned mesh.

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, identify};
use protocol::Hash;

use crate::admission::Admission;
use crate::codec::{FrameCodec, PACKET_PROTOCOL};
use crate::{Error, NetworkConfig, Topic};

/// Identify protocol version: peers of another network are told apart.
pub const IDENTIFY_PROTOCOL: &str = "/credit/id/1.0.0";
/// Kademlia protocol: our own DHT, never the public one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/credit/kad/1.0.0");

/// One relayer's libp2p behaviour. Admission comes first so a refused peer
/// is turned away before any other behaviour sees the connection.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) admission: Admission,
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) kademlia: kad::Behaviour<MemoryStore>,
    pub(crate) gossipsub: gossipsub::Behaviour,
    pub(crate) packets: request_response::Behaviour<FrameCodec>,
}

impl Behaviour {
    pub(crate) fn new(key: &Keypair, config: &NetworkConfig) -> Result<Behaviour, Error> {
        let peer = key.public().to_peer_id();
        let limits = ConnectionLimits::default()
            .with_max_established_per_peer(Some(config.max_connections_per_peer))
            .with_max_established(Some(config.max_connections));
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                .with_agent_version(format!("credit-network/{}", env!("CARGO_PKG_VERSION"))),
        );
        let packets = request_response::Behaviour::with_codec(
            FrameCodec::new(config.max_message_size),
            [(PACKET_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(config.request_timeout),
        );
        Ok(Behaviour {
            admission: Admission::new(config.allowed.iter().copied()),
            limits: connection_limits::Behaviour::new(limits),
            identify,
            kademlia: kademlia(peer, config),
            gossipsub: gossipsub(key, config)?,
            packets,
        })
    }
}

fn kademlia(peer: libp2p::PeerId, config: &NetworkConfig) -> kad::Behaviour<MemoryStore> {
    let mut kad_config = kad::Config::new(KAD_PROTOCOL);
    kad_config
        .set_query_timeout(config.kad_query_timeout)
        .set_provider_publication_interval(Some(config.provider_republish_interval))
        .set_provider_record_ttl(Some(config.provider_republish_interval * 3));
    let mut kademlia = kad::Behaviour::with_config(peer, MemoryStore::new(peer), kad_config);
    // Every relayer answers queries: there are no "client only" members.
    kademlia.set_mode(Some(kad::Mode::Server));
    kademlia
}

/// Gossip message ids are content hashes (topic + envelope bytes): the
/// same envelope is one message however many peers forward it.
fn message_id(message: &gossipsub::Message) -> MessageId {
    let hash = Hash::tagged(
        b"credit-network/gossip-id/v1",
        &[message.topic.as_str().as_bytes(), &message.data],
    );
    MessageId::from(hash.as_bytes().to_vec())
}

fn gossipsub(key: &Keypair, config: &NetworkConfig) -> Result<gossipsub::Behaviour, Error> {
    // gossipsub's own protocol ids (`/meshsub/1.2.0`), not a prefix of
    // ours: libp2p negotiates a custom prefix as v1.1 at most, without
    // IDONTWANT, and every relayer then took each light block from most of
    // its mesh peers as well as from its author (7-8x the payload on the
    // wire at 34 regions). Admission already keeps other networks' peers
    // out, and the topics are ours.
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(config.gossip_heartbeat)
        // Messages are signed by their author's libp2p key (= operator key)
        // and the signature is checked on receipt.
        .validation_mode(ValidationMode::Strict)
        // Relayers of a permissioned network are few and well connected:
        // a block goes to a small mesh (4 peers, 3 to 6) and spreads in a
        // few hops, each peer taking it once or twice (IDONTWANT), rather
        // than from its author and from most of its mesh peers at once
        // (flood publishing with the default mesh of 6).
        .flood_publish(false)
        .mesh_n(4)
        .mesh_n_low(3)
        .mesh_n_high(6)
        .mesh_outbound_min(2)
        .gossip_lazy(4)
        .gossip_factor(0.15)
        // Nothing is forwarded before the application said Accept.
        .validate_messages()
        .max_transmit_size(config.max_gossip_size)
        .message_id_fn(message_id)
        .build()
        .map_err(|e| Error::Build(format!("gossipsub config: {e}")))?;
    let mut behaviour =
        gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gossip_config)
            .map_err(|e| Error::Build(format!("gossipsub: {e}")))?;
    behaviour
        .with_peer_score(score_params(), score_thresholds())
        .map_err(|e| Error::Build(format!("gossipsub peer scoring: {e}")))?;
    Ok(behaviour)
}

/// Peer-score parameters for a small permissioned mesh: no IP colocation
/// penalty (admission already keeps sybils out, and relayers may share a
/// cloud), the rest as libp2p's defaults.
pub(crate) fn score_params() -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    for topic in [Topic::Attestations, Topic::Registrations, Topic::Governance] {
        params
            .topics
            .insert(topic.ident().hash(), topic_score_params());
    }
    params
}

/// Per-topic scoring. Invalid messages (P4) weigh heavily: the penalty is
/// `-15 × count²`, so one rejected message takes a peer below the gossip
/// threshold (-10), two below the publish threshold (-50) and three below
/// the graylist threshold (-80), when everything it sends is ignored; the
/// count decays by 1% a second. Mesh delivery rate (P3) is off: our topics are low volume
/// and a quiet relayer is not a faulty one.
pub(crate) fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: std::time::Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -15.0,
        invalid_message_deliveries_decay: 0.99,
        ..Default::default()
    }
}

/// Score thresholds (libp2p's defaults, spelled out): below -10 no gossip
/// is exchanged with the peer, below -50 we do not publish to it, below -80
/// everything it sends is ignored.
pub(crate) fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 20.0,
    }
}
