//! The network task: owns the swarm, runs its event loop, answers the
//! handle's commands and hands checked envelopes to the daemon.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::kad::{
    self, GetClosestPeersError, GetClosestPeersOk, GetProvidersOk, QueryId, QueryResult, RecordKey,
};
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionDenied, ConnectionId, DialError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, noise, tcp, yamux};
use protocol::{ChainId, Hash};
use tokio::sync::{mpsc, oneshot};

use crate::admission::{Denied, Direction, Refusal, Refused};
use crate::api::{
    Command, NetworkEvent, NetworkHandle, NetworkStats, PeerInfo, Responder, Verdict,
};
use crate::behaviour::{Behaviour, BehaviourEvent, topic_score_params};
use crate::envelope::{ENVELOPE_OVERHEAD, Envelope, Kind};
use crate::identity::{keypair_of, public_key_of};
use crate::{Error, NetworkConfig, Result, Topic};

/// How long a delivered gossip message waits for the daemon's verdict
/// before we forget its author (gossipsub forgets the message sooner).
const VERDICT_MEMORY: Duration = Duration::from_secs(300);
/// How long `start` waits for the listeners to report their addresses.
const LISTEN_WAIT: Duration = Duration::from_secs(10);

/// Starts relayer network nodes.
pub struct Network;

impl Network {
    /// Builds the swarm, binds the listen addresses (waiting until each
    /// reports its address, so [`NetworkHandle::listen_addrs`] is complete
    /// at once), dials the bootstrap peers and spawns the network task on
    /// the current tokio runtime.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), network::Error> {
    /// use network::{Network, NetworkConfig, NetworkEvent, Topic};
    /// let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    /// let mut config = NetworkConfig::new(key);
    /// config.listen = vec!["/ip4/0.0.0.0/tcp/4001".parse().unwrap()];
    /// let (handle, mut events) = Network::start(config).await?;
    /// handle.subscribe(&Topic::Attestations).await?;
    /// while let Some(event) = events.recv().await {
    ///     if let NetworkEvent::Request { body, responder, .. } = event {
    ///         responder.respond(body)?; // echo
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn start(
        config: NetworkConfig,
    ) -> Result<(NetworkHandle, mpsc::Receiver<NetworkEvent>)> {
        config.validate()?;
        let keypair = keypair_of(&config.identity)?;
        let behaviour = Behaviour::new(&keypair, &config)?;
        let idle = config.idle_connection_timeout;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| Error::Build(format!("tcp/noise/yamux transport: {e}")))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| Error::Build(format!("behaviour: {e}")))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build();

        for peer in &config.banned {
            let behaviour = swarm.behaviour_mut();
            behaviour.admission.ban(*peer);
            behaviour.gossipsub.blacklist_peer(peer);
        }
        listen(&mut swarm, &config.listen).await?;
        for (peer, addr) in &config.bootstrap {
            swarm
                .behaviour_mut()
                .kademlia
                .add_address(peer, addr.clone());
            swarm.add_peer_address(*peer, addr.clone());
            let opts = DialOpts::peer_id(*peer)
                .addresses(vec![addr.clone()])
                .build();
            if let Err(e) = swarm.dial(opts) {
                tracing::warn!(%peer, %addr, error = %e, "cannot dial bootstrap peer");
            }
        }

        let (command_tx, command_rx) = mpsc::channel(256);
        let (event_tx, event_rx) = mpsc::channel(config.event_buffer);
        let key = Arc::new(config.identity.clone());
        let handle = NetworkHandle {
            commands: command_tx,
            key: key.clone(),
            local_peer_id: *swarm.local_peer_id(),
            max_message_size: config.max_message_size,
            max_gossip_size: config.max_gossip_size,
        };
        let capture = match &config.capture {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| Error::Config(format!("capture file {}: {e}", path.display())))?,
            ),
            None => None,
        };
        let task = Task {
            capture,
            swarm,
            events: event_tx,
            key,
            ban_after: config.ban_after_rejections,
            request_timeout: config.request_timeout,
            max_response_body: config.max_message_size.saturating_sub(ENVELOPE_OVERHEAD),
            stats: NetworkStats::default(),
            strikes: HashMap::new(),
            awaiting_verdict: HashMap::new(),
            requests: HashMap::new(),
            dials: HashMap::new(),
            provides: HashMap::new(),
            lookups: HashMap::new(),
            discovery_interval: config.discovery_interval,
            finding: HashMap::new(),
            peers: HashMap::new(),
            responses: FuturesUnordered::new(),
        };
        tokio::spawn(task.run(command_rx));
        Ok((handle, event_rx))
    }
}

/// Binds every listen address and waits until each has reported one
/// address (or failed).
async fn listen(swarm: &mut Swarm<Behaviour>, addrs: &[Multiaddr]) -> Result<()> {
    let mut waiting = HashMap::new();
    for addr in addrs {
        let id = swarm.listen_on(addr.clone()).map_err(|e| Error::Listen {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
        waiting.insert(id, addr.clone());
    }
    let deadline = tokio::time::Instant::now() + LISTEN_WAIT;
    while !waiting.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| Error::Listen {
                addr: waiting
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_else(Multiaddr::empty),
                reason: format!("no address reported within {LISTEN_WAIT:?}"),
            })?;
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::info!(%address, "listening");
                waiting.remove(&listener_id);
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                if let Some(addr) = waiting.remove(&listener_id) {
                    return Err(Error::Listen {
                        addr,
                        reason: error.to_string(),
                    });
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(addr) = waiting.remove(&listener_id) {
                    return Err(Error::Listen {
                        addr,
                        reason: format!("listener closed: {reason:?}"),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

struct PendingRequest {
    peer: PeerId,
    hash: Hash,
    reply: oneshot::Sender<Result<Vec<u8>>>,
}

/// A providers lookup under way: what it found so far.
struct ProviderLookup {
    chain: ChainId,
    found: HashSet<PeerId>,
    reply: oneshot::Sender<Result<Vec<PeerId>>>,
}

#[derive(Default)]
struct PeerState {
    connections: Vec<(ConnectionId, Multiaddr)>,
    listen_addrs: Vec<Multiaddr>,
    agent_version: Option<String>,
}

type PendingResponse = BoxFuture<
    'static,
    (
        PeerId,
        std::result::Result<Vec<u8>, oneshot::error::RecvError>,
        ResponseChannel<Vec<u8>>,
    ),
>;

struct Task {
    /// Where received bodies are appended ([`NetworkConfig::capture`]).
    capture: Option<std::fs::File>,
    swarm: Swarm<Behaviour>,
    events: mpsc::Sender<NetworkEvent>,
    key: Arc<SigningKey>,
    ban_after: u32,
    request_timeout: Duration,
    max_response_body: usize,
    stats: NetworkStats,
    /// Strikes per peer: rejected gossip it authored, bad envelopes.
    strikes: HashMap<PeerId, u32>,
    /// Author of each gossip message handed to the daemon, until judged.
    awaiting_verdict: HashMap<MessageId, (PeerId, Instant)>,
    requests: HashMap<OutboundRequestId, PendingRequest>,
    dials: HashMap<ConnectionId, (PeerId, oneshot::Sender<Result<()>>)>,
    provides: HashMap<QueryId, (ChainId, oneshot::Sender<Result<()>>)>,
    lookups: HashMap<QueryId, ProviderLookup>,
    /// How often admitted peers without a connection are looked up.
    discovery_interval: Option<Duration>,
    /// Kademlia lookups of admitted peers under way, by the peer sought.
    finding: HashMap<QueryId, PeerId>,
    peers: HashMap<PeerId, PeerState>,
    /// Inbound requests handed to the daemon, waiting for its answer.
    responses: FuturesUnordered<PendingResponse>,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        // Off: an interval that never matters (the branch is disabled).
        let mut discover =
            tokio::time::interval(self.discovery_interval.unwrap_or(Duration::from_secs(3600)));
        discover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command),
                    // Every handle is gone: nobody can use the network.
                    None => break,
                },
                Some((peer, answer, channel)) = self.responses.next(), if !self.responses.is_empty() => {
                    self.on_answer(peer, answer, channel);
                }
                _ = tick.tick() => self.forget_old_verdicts(),
                _ = discover.tick(), if self.discovery_interval.is_some() => self.discover_admitted(),
            }
        }
        tracing::info!("network task stopped");
    }

    /// Appends a received body to the capture file, if any (a failed write
    /// turns capturing off, logged: it never stops the network).
    fn capture(&mut self, kind: u8, body: &[u8]) {
        use std::io::Write;
        let Some(file) = self.capture.as_mut() else {
            return;
        };
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes();
        let written = file
            .write_all(&[kind])
            .and_then(|()| file.write_all(&len))
            .and_then(|()| file.write_all(body));
        if let Err(error) = written {
            tracing::warn!(%error, "cannot write the mesh capture: capturing stops");
            self.capture = None;
        }
    }

    /// Hands an event to the daemon; false (and counted) if its channel is
    /// full or closed.
    fn emit(&mut self, event: NetworkEvent) -> bool {
        if self.events.try_send(event).is_ok() {
            return true;
        }
        self.stats.events_dropped += 1;
        false
    }

    // ---- commands ------------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(&topic, data));
            }
            Command::Subscribe {
                topic,
                subscribe,
                reply,
            } => {
                let _ = reply.send(self.subscribe(&topic, subscribe));
            }
            Command::Request {
                peer,
                data,
                request_hash,
                reply,
            } => self.request(peer, data, request_hash, reply),
            Command::Dial { peer, addr, reply } => self.dial(peer, addr, reply),
            Command::Provide { chain, reply } => {
                let key = RecordKey::new(&chain.as_str());
                match self.swarm.behaviour_mut().kademlia.start_providing(key) {
                    Ok(id) => {
                        self.provides.insert(id, (chain, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Provide {
                            chain: chain.to_string(),
                            reason: e.to_string(),
                        }));
                    }
                }
            }
            Command::Providers { chain, reply } => {
                let key = RecordKey::new(&chain.as_str());
                let id = self.swarm.behaviour_mut().kademlia.get_providers(key);
                let lookup = ProviderLookup {
                    chain,
                    found: HashSet::new(),
                    reply,
                };
                self.lookups.insert(id, lookup);
            }
            Command::Allow { peer, reply } => {
                let added = self.swarm.behaviour_mut().admission.allow(peer);
                if added && self.discovery_interval.is_some() {
                    self.find(peer);
                }
                let _ = reply.send(());
            }
            Command::Disallow { peer, reply } => {
                let behaviour = self.swarm.behaviour_mut();
                behaviour.admission.disallow(peer);
                behaviour.kademlia.remove_peer(&peer);
                let _ = reply.send(());
            }
            Command::Unban { peer, reply } => {
                let behaviour = self.swarm.behaviour_mut();
                behaviour.admission.unban(&peer);
                behaviour.gossipsub.remove_blacklisted_peer(&peer);
                self.strikes.remove(&peer);
                let _ = reply.send(());
            }
            Command::Penalise { peer, reply } => {
                self.strike(peer);
                let _ = reply.send(());
            }
            Command::Report {
                message_id,
                propagation_source,
                verdict,
                reply,
            } => {
                let _ = reply.send(self.report(message_id, propagation_source, verdict));
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Stats { reply } => {
                let mut stats = self.stats.clone();
                stats.peers_connected = self.swarm.connected_peers().count();
                let _ = reply.send(stats);
            }
            // Handled by the loop.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn publish(&mut self, topic: &Topic, data: Vec<u8>) -> Result<()> {
        let name = topic.to_string();
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic.ident(), data)
        {
            Ok(_) => {
                self.stats.gossip_published += 1;
                Ok(())
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                Err(Error::NoPeersOnTopic { topic: name })
            }
            Err(gossipsub::PublishError::Duplicate) => Err(Error::DuplicateMessage { topic: name }),
            Err(e) => Err(Error::Publish {
                topic: name,
                reason: e.to_string(),
            }),
        }
    }

    fn subscribe(&mut self, topic: &Topic, subscribe: bool) -> Result<()> {
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        let ident = topic.ident();
        if !subscribe {
            gossipsub.unsubscribe(&ident);
            return Ok(());
        }
        gossipsub.subscribe(&ident).map_err(|e| Error::Subscribe {
            topic: topic.to_string(),
            reason: e.to_string(),
        })?;
        if gossipsub.get_topic_params(&ident).is_none() {
            gossipsub
                .set_topic_params(ident, topic_score_params())
                .map_err(|e| Error::Subscribe {
                    topic: topic.to_string(),
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }

    fn request(
        &mut self,
        peer: PeerId,
        data: Vec<u8>,
        hash: Hash,
        reply: oneshot::Sender<Result<Vec<u8>>>,
    ) {
        if let Err(refusal) = self.swarm.behaviour().admission.check(&peer) {
            let _ = reply.send(Err(refused(peer, refusal)));
            return;
        }
        let id = self.swarm.behaviour_mut().packets.send_request(&peer, data);
        self.stats.requests_sent += 1;
        self.requests
            .insert(id, PendingRequest { peer, hash, reply });
    }

    fn dial(&mut self, peer: PeerId, addr: Multiaddr, reply: oneshot::Sender<Result<()>>) {
        self.swarm.add_peer_address(peer, addr.clone());
        let opts = DialOpts::peer_id(peer)
            .addresses(vec![addr])
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, (peer, reply));
            }
            // Already connected (or a dial is under way).
            Err(DialError::DialPeerConditionFalse(_)) => {
                let _ = reply.send(Ok(()));
            }
            Err(error) => {
                let _ = reply.send(Err(dial_error(peer, error)));
            }
        }
    }

    fn report(&mut self, message_id: MessageId, source: PeerId, verdict: Verdict) -> bool {
        let author = self
            .awaiting_verdict
            .remove(&message_id)
            .map_or(source, |(author, _)| author);
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Reject => MessageAcceptance::Reject,
            Verdict::Ignore => MessageAcceptance::Ignore,
        };
        let found = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&message_id, &source, acceptance);
        if verdict == Verdict::Reject {
            self.stats.gossip_rejected += 1;
            self.strike(author);
        }
        found
    }

    // ---- discovery -----------------------------------------------------

    /// Looks up every admitted peer we have no connection to (and no
    /// lookup under way for).
    fn discover_admitted(&mut self) {
        let local = *self.swarm.local_peer_id();
        let missing: Vec<PeerId> = self
            .swarm
            .behaviour()
            .admission
            .allowed()
            .iter()
            .filter(|p| **p != local && !self.swarm.is_connected(p))
            .copied()
            .collect();
        for peer in missing {
            self.find(peer);
        }
    }

    /// Starts a kademlia lookup of `peer`'s id: the peers closest to it
    /// answer with the addresses they know for it (identify gave them its
    /// listen addresses), which [`Task::on_found`] dials.
    fn find(&mut self, peer: PeerId) {
        if self.finding.values().any(|p| *p == peer)
            || self.swarm.behaviour().admission.check(&peer).is_err()
        {
            return;
        }
        let id = self.swarm.behaviour_mut().kademlia.get_closest_peers(peer);
        self.finding.insert(id, peer);
        self.stats.discovery_lookups += 1;
    }

    /// A lookup of `sought` ended with `found`: dials it if it was found
    /// with addresses and is still admitted and unconnected. The addresses
    /// come from other peers and are not trusted: the noise handshake
    /// proves the peer id, so a wrong address fails to connect, never
    /// connects to someone else.
    fn on_found(&mut self, sought: PeerId, found: Vec<kad::PeerInfo>) {
        let Some(info) = found.into_iter().find(|p| p.peer_id == sought) else {
            tracing::debug!(peer = %sought, "lookup did not find the peer");
            return;
        };
        if info.addrs.is_empty()
            || self.swarm.is_connected(&sought)
            || self.swarm.behaviour().admission.check(&sought).is_err()
        {
            return;
        }
        tracing::info!(peer = %sought, addrs = ?info.addrs, "found through kademlia; dialling");
        let opts = DialOpts::peer_id(sought)
            .addresses(info.addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(opts) {
            Ok(()) => self.stats.discovery_dials += 1,
            Err(DialError::DialPeerConditionFalse(_)) => {}
            Err(error) => tracing::debug!(peer = %sought, %error, "cannot dial a found peer"),
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let mut infos: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(peer, state)| PeerInfo {
                peer: *peer,
                public_key: public_key_of(peer),
                addresses: state.connections.iter().map(|(_, a)| a.clone()).collect(),
                listen_addrs: state.listen_addrs.clone(),
                agent_version: state.agent_version.clone(),
            })
            .collect();
        infos.sort_by_key(|info| info.peer);
        infos
    }

    fn forget_old_verdicts(&mut self) {
        let now = Instant::now();
        self.awaiting_verdict
            .retain(|_, (_, at)| now.duration_since(*at) < VERDICT_MEMORY);
    }

    // ---- penalties -----------------------------------------------------

    /// One more strike against `peer`; bans it at the threshold.
    fn strike(&mut self, peer: PeerId) {
        if peer == *self.swarm.local_peer_id() {
            return;
        }
        let strikes = self.strikes.entry(peer).or_insert(0);
        *strikes += 1;
        let strikes = *strikes;
        if strikes < self.ban_after || self.swarm.behaviour().admission.is_banned(&peer) {
            return;
        }
        tracing::warn!(%peer, strikes, "banning peer");
        let behaviour = self.swarm.behaviour_mut();
        behaviour.admission.ban(peer);
        behaviour.gossipsub.blacklist_peer(&peer);
        behaviour.kademlia.remove_peer(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.stats.bans += 1;
        self.emit(NetworkEvent::PeerBanned { peer, strikes });
    }

    fn envelope_rejected(&mut self, peer: PeerId, error: &Error) {
        tracing::warn!(%peer, %error, "envelope rejected");
        self.emit(NetworkEvent::EnvelopeRejected {
            peer,
            reason: error.to_string(),
        });
        self.strike(peer);
    }

    // ---- swarm events --------------------------------------------------

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                let address = endpoint.get_remote_address().clone();
                if let ConnectedPoint::Dialer { address, .. } = &endpoint {
                    // A dialled address is a listen address of the peer.
                    self.swarm
                        .behaviour_mut()
                        .kademlia
                        .add_address(&peer_id, address.clone());
                }
                self.peers
                    .entry(peer_id)
                    .or_default()
                    .connections
                    .push((connection_id, address.clone()));
                if let Some((_, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(()));
                }
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, %address, "peer connected");
                    self.emit(NetworkEvent::PeerConnected {
                        peer: peer_id,
                        address,
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    state.connections.retain(|(id, _)| *id != connection_id);
                }
                if num_established == 0 {
                    self.peers.remove(&peer_id);
                    tracing::info!(peer = %peer_id, "peer disconnected");
                    self.emit(NetworkEvent::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                tracing::debug!(peer = ?peer_id, %error, "outgoing connection failed");
                if let Some((peer, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(dial_error(peer, error)));
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(%send_back_addr, %error, "incoming connection failed");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Admission(refused) => self.on_refused(refused),
            BehaviourEvent::Limits(never) => match never {},
            BehaviourEvent::Identify(event) => self.on_identify(event),
            BehaviourEvent::Kademlia(event) => self.on_kademlia(event),
            BehaviourEvent::Gossipsub(event) => self.on_gossipsub(event),
            BehaviourEvent::Packets(event) => self.on_packets(event),
        }
    }

    fn on_refused(&mut self, refused: Refused) {
        tracing::info!(peer = %refused.peer, direction = ?refused.direction, refusal = %refused.refusal, "connection refused");
        match refused.direction {
            Direction::Inbound => self.stats.connections_refused_inbound += 1,
            Direction::Outbound => self.stats.connections_refused_outbound += 1,
        }
        self.emit(NetworkEvent::ConnectionRefused {
            peer: refused.peer,
            direction: refused.direction,
            refusal: refused.refusal,
        });
    }

    fn on_identify(&mut self, event: identify::Event) {
        if let identify::Event::Received { peer_id, info, .. } = event {
            let kademlia = &mut self.swarm.behaviour_mut().kademlia;
            for addr in &info.listen_addrs {
                kademlia.add_address(&peer_id, addr.clone());
            }
            if let Some(state) = self.peers.get_mut(&peer_id) {
                state.listen_addrs = info.listen_addrs;
                state.agent_version = Some(info.agent_version);
            }
        }
    }

    fn on_kademlia(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            return;
        };
        match result {
            QueryResult::StartProviding(result) => {
                if let Some((chain, reply)) = self.provides.remove(&id) {
                    let _ = reply.send(result.map(|_| ()).map_err(|e| Error::Provide {
                        chain: chain.to_string(),
                        reason: e.to_string(),
                    }));
                }
            }
            QueryResult::GetClosestPeers(result) => {
                let Some(sought) = self.finding.remove(&id) else {
                    return;
                };
                let peers = match result {
                    Ok(GetClosestPeersOk { peers, .. }) => peers,
                    // What a timed-out lookup found still counts.
                    Err(GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                self.on_found(sought, peers);
            }
            QueryResult::GetProviders(result) => {
                let local = *self.swarm.local_peer_id();
                let Some(ProviderLookup { found, .. }) = self.lookups.get_mut(&id) else {
                    return;
                };
                let error = match result {
                    Ok(GetProvidersOk::FoundProviders { providers, .. }) => {
                        found.extend(providers.into_iter().filter(|p| *p != local));
                        None
                    }
                    Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => None,
                    Err(e) => Some(e.to_string()),
                };
                if !step.last && error.is_none() {
                    return;
                }
                if let Some(ProviderLookup {
                    chain,
                    found,
                    reply,
                }) = self.lookups.remove(&id)
                {
                    let admission = &self.swarm.behaviour().admission;
                    let mut providers: Vec<PeerId> = found
                        .into_iter()
                        .filter(|p| admission.check(p).is_ok())
                        .collect();
                    providers.sort();
                    let answer = match error {
                        // A timeout with answers is still an answer.
                        Some(reason) if providers.is_empty() => Err(Error::Providers {
                            chain: chain.to_string(),
                            reason,
                        }),
                        _ => Ok(providers),
                    };
                    let _ = reply.send(answer);
                }
            }
            _ => {}
        }
    }

    fn on_gossipsub(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let verdict = |task: &mut Task, acceptance| {
            task.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&message_id, &propagation_source, acceptance);
        };
        let Ok(topic) = message.topic.as_str().parse::<Topic>() else {
            verdict(self, MessageAcceptance::Ignore);
            return;
        };
        // Strict validation: gossipsub already checked that `source` signed
        // the message; the envelope must be signed by the same key.
        let Some(author) = message.source else {
            self.stats.gossip_invalid += 1;
            verdict(self, MessageAcceptance::Reject);
            return;
        };
        // Only members of the network author gossip. Ignore, not Reject:
        // the forwarder may have admitted the author before we did (the
        // registry reaches relayers at different times).
        if let Err(refusal) = self.swarm.behaviour().admission.check(&author) {
            tracing::debug!(%author, %refusal, "gossip from a peer that is not admitted");
            self.stats.gossip_invalid += 1;
            verdict(self, MessageAcceptance::Ignore);
            return;
        }
        let expected = Kind::Gossip {
            topic: topic.to_string(),
        };
        let checked = Envelope::decode(&message.data, &author)
            .and_then(|env| env.open(&author, &expected).map(|()| env));
        let envelope = match checked {
            Ok(envelope) => envelope,
            Err(error) => {
                self.stats.gossip_invalid += 1;
                verdict(self, MessageAcceptance::Reject);
                self.envelope_rejected(author, &error);
                return;
            }
        };
        self.capture(b'g', &envelope.body);
        self.awaiting_verdict
            .insert(message_id.clone(), (author, Instant::now()));
        let event = NetworkEvent::Gossip {
            topic,
            from: author,
            sender: envelope.sender,
            body: envelope.body,
            message_id: message_id.clone(),
            propagation_source,
        };
        if self.emit(event) {
            self.stats.gossip_received += 1;
        } else {
            self.awaiting_verdict.remove(&message_id);
            verdict(self, MessageAcceptance::Ignore);
        }
    }

    fn on_packets(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(peer, request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(pending) = self.requests.remove(&request_id) {
                    let error = self.outbound_failure(peer, error);
                    let _ = pending.reply.send(Err(error));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => self.stats.responses_sent += 1,
        }
    }

    fn on_request(&mut self, peer: PeerId, request: Vec<u8>, channel: ResponseChannel<Vec<u8>>) {
        let hash = Envelope::request_hash(&request);
        let checked = Envelope::decode(&request, &peer)
            .and_then(|env| env.open(&peer, &Kind::Request).map(|()| env));
        let envelope = match checked {
            Ok(envelope) => envelope,
            Err(error) => {
                // Dropping the channel closes the stream unanswered.
                self.stats.requests_invalid += 1;
                self.envelope_rejected(peer, &error);
                return;
            }
        };
        self.capture(b'q', &envelope.body);
        let (tx, rx) = oneshot::channel();
        let responder = Responder {
            peer,
            request: hash,
            key: self.key.clone(),
            max_body: self.max_response_body,
            reply: tx,
        };
        let event = NetworkEvent::Request {
            from: peer,
            sender: envelope.sender,
            body: envelope.body,
            responder,
        };
        if self.emit(event) {
            self.stats.requests_received += 1;
            self.responses
                .push(Box::pin(async move { (peer, rx.await, channel) }));
        }
    }

    fn on_answer(
        &mut self,
        peer: PeerId,
        answer: std::result::Result<Vec<u8>, oneshot::error::RecvError>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        match answer {
            Ok(encoded) => {
                if self
                    .swarm
                    .behaviour_mut()
                    .packets
                    .send_response(channel, encoded)
                    .is_err()
                {
                    tracing::debug!(%peer, "request closed before its response");
                }
            }
            // The daemon dropped the responder: the stream closes unanswered.
            Err(_) => tracing::debug!(%peer, "request dropped without a response"),
        }
    }

    fn on_response(&mut self, peer: PeerId, id: OutboundRequestId, response: Vec<u8>) {
        let Some(pending) = self.requests.remove(&id) else {
            return;
        };
        let expected = Kind::Response {
            request: pending.hash,
        };
        let checked = Envelope::decode(&response, &peer)
            .and_then(|env| env.open(&pending.peer, &expected).map(|()| env.body));
        match &checked {
            Ok(body) => self.capture(b'r', body),
            Err(error) => {
                self.stats.requests_invalid += 1;
                self.envelope_rejected(peer, error);
            }
        }
        let _ = pending.reply.send(checked);
    }

    fn outbound_failure(&self, peer: PeerId, error: OutboundFailure) -> Error {
        match error {
            OutboundFailure::DialFailure => match self.swarm.behaviour().admission.check(&peer) {
                Err(refusal) => refused(peer, refusal),
                Ok(()) => Error::DialFailed {
                    peer,
                    reason: "no reachable address (dial first or wait for discovery)".into(),
                },
            },
            OutboundFailure::Timeout => Error::Timeout {
                peer,
                timeout: self.request_timeout,
            },
            OutboundFailure::ConnectionClosed => Error::NoResponse {
                peer,
                reason: "the connection closed".into(),
            },
            OutboundFailure::UnsupportedProtocols => Error::UnsupportedProtocol { peer },
            OutboundFailure::Io(e) => Error::NoResponse {
                peer,
                reason: format!("stream error: {e}"),
            },
        }
    }
}

fn refused(peer: PeerId, refusal: Refusal) -> Error {
    match refusal {
        Refusal::NotAllowed => Error::NotAllowed { peer },
        Refusal::Banned => Error::Banned { peer },
    }
}

fn denied(peer: PeerId, cause: ConnectionDenied) -> Error {
    match cause.downcast::<Denied>() {
        Ok(denied) => refused(peer, denied.refusal),
        Err(cause) => Error::DialFailed {
            peer,
            reason: cause.to_string(),
        },
    }
}

fn dial_error(peer: PeerId, error: DialError) -> Error {
    match error {
        DialError::Denied { cause } => denied(peer, cause),
        other => Error::DialFailed {
            peer,
            reason: other.to_string(),
        },
    }
}
