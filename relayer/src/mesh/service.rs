//! The serving side of the mesh: answers other relayers' requests about
//! the chains this relayer serves, checks the packet messages they hand
//! over before submitting them under its own key, publishes its chains'
//! light blocks, and judges the light blocks others gossip.
//!
//! The work a peer can make this relayer do is bounded: a submission may
//! need at most [`MAX_HEIGHTS_PER_SUBMIT`] distinct blocks verified (more
//! is refused before any is, and is a strike), and a gossiped light block
//! that would need a bisection (it does not directly follow a block this
//! relayer trusts) must first carry a valid signature of a validator this
//! relayer trusts: one signed only by keys of the sender's choosing is a
//! strike without a single block fetched (see [`GossipAbuse`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use light_clients::credit_chain::{
    KeyCache, TrustThreshold, VerificationError, verify_commit_signatures,
};
use light_clients::merkle::StateProof;
use network::{NetworkEvent, NetworkHandle, Responder, Topic, Verdict};
use protocol::tx::TxBody;
use protocol::{Canonical, ChainId, Header, Height, LightBlock, state_keys};
use tokio::sync::mpsc;

use super::catch_up::{CATCH_UP_INTERVAL, catch_up};
use super::remote::request_kind;
use super::wire::{self, HexBytes, MeshRequest, MeshResponse, WireEntry, WireProposal};
use crate::engine::{ChainRuntime, EngineError};
use crate::metrics::{Metrics, NETWORK_SNAPSHOT_INTERVAL};
use crate::registry::service::RegistryService;
use crate::store::{PeerBan, Store};

/// Most messages in one handed-over submission.
const MAX_SUBMIT: usize = 10_000;

/// Most distinct (chain, height) blocks one handed-over submission may need
/// verified: its client updates' blocks and its packet proofs' heights. An
/// honest relayer's submission needs at most the bisection steps of one
/// client update (64) and a few proof heights.
pub const MAX_HEIGHTS_PER_SUBMIT: usize = 80;

/// A peer's request refused before any verification work, with a strike
/// against the peer (no honest relayer sends it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestAbuse {
    /// A submission needs too many distinct blocks verified.
    #[error(
        "submission needs more than {MAX_HEIGHTS_PER_SUBMIT} distinct blocks verified \
         (client update blocks and proof heights, per chain); refused unverified"
    )]
    TooManyHeights,
}

/// Why a gossiped light block is rejected before it is verified.
#[derive(Debug, thiserror::Error)]
pub enum GossipAbuse {
    /// Its commit's signatures do not verify.
    #[error("light block {height}: its commit does not verify: {source}")]
    BadCommit {
        /// The block's height.
        height: Height,
        /// What the verifier said.
        #[source]
        source: VerificationError,
    },
    /// It would need a bisection, but none of the validators this relayer
    /// trusts signed it.
    #[error(
        "light block {height} is {distance} blocks past trusted block {trusted}, and none of \
         the validators trusted there signed it: refused without bisecting"
    )]
    NoTrustedSigner {
        /// The block's height.
        height: Height,
        /// The trusted block it would be verified from.
        trusted: Height,
        /// How far past it is.
        distance: u64,
    },
}

/// The distinct (chain, height) blocks a submission needs verified, up to
/// [`MAX_HEIGHTS_PER_SUBMIT`]; refused beyond.
fn check_heights(bodies: &[TxBody]) -> Result<usize, RequestAbuse> {
    let mut heights: HashSet<(&ChainId, Height)> = HashSet::new();
    for body in bodies {
        let needed = match body {
            TxBody::UpdateClient { block } => (&block.header().chain_id, block.height()),
            TxBody::RecvPacket {
                packet,
                proof_height,
                ..
            } => (&packet.source, *proof_height),
            TxBody::AcknowledgePacket {
                packet,
                proof_height,
                ..
            }
            | TxBody::TimeoutPacket {
                packet,
                proof_height,
                ..
            } => (&packet.destination, *proof_height),
            _ => continue,
        };
        if heights.insert(needed) && heights.len() > MAX_HEIGHTS_PER_SUBMIT {
            return Err(RequestAbuse::TooManyHeights);
        }
    }
    Ok(heights.len())
}

/// Checks a gossiped light block cheaply before it may cost a bisection:
/// a block right after the highest block trusted below it is verified
/// directly (no fetch); any other must carry at least one valid signature
/// of a validator of that trusted block's next set. Blocks that pass may
/// still fail full verification.
async fn precheck_gossiped(chain: &ChainRuntime, block: &LightBlock) -> Result<(), GossipAbuse> {
    let height = block.height();
    let trusted = match chain.anchor_below(height).await {
        Some(trusted) => trusted,
        // Before the client's first use: the stored trusted block.
        None => match chain.store().trusted_block(chain.id()) {
            Ok(Some(stored)) if stored.height() < height => stored,
            _ => return Ok(()),
        },
    };
    let distance = height.value().saturating_sub(trusted.height().value());
    if distance <= 1 {
        return Ok(());
    }
    let header = block.header();
    let signers = verify_commit_signatures(
        header,
        &header.hash(),
        &block.signed_header.commit,
        &block.validators,
        &KeyCache::new(),
    )
    .map_err(|source| GossipAbuse::BadCommit { height, source })?;
    let tally = signers.tally(&trusted.next_validators, TrustThreshold::ONE_THIRD);
    if tally.tallied == 0 {
        return Err(GossipAbuse::NoTrustedSigner {
            height,
            trusted: trusted.height(),
            distance,
        });
    }
    Ok(())
}

/// This relayer's side of the mesh.
pub struct MeshService {
    network: NetworkHandle,
    /// Every chain the engine knows (served here or reached through the
    /// mesh), by id; grows when the registry accepts a chain.
    chains: RwLock<BTreeMap<ChainId, Arc<ChainRuntime>>>,
    /// The network registry, when governance is configured: gossiped
    /// proposals and approvals go there.
    registry: RwLock<Option<Arc<RegistryService>>>,
    /// Gossip and served requests are counted here, and the network's
    /// counters copied (see [`crate::metrics`]).
    metrics: Metrics,
    /// Peers admitted read-only (the regulator's supervision node): they
    /// may read chains, never hand over messages to submit.
    read_only: RwLock<Vec<network::PeerId>>,
    /// Where bans are kept, so they outlive a restart.
    store: Store,
}

impl MeshService {
    /// A service over `chains` (those with `is_local()` are served here),
    /// counting what it does in `metrics` and keeping the peers the network
    /// bans in `store` (start the network with [`Store::bans`] as
    /// `NetworkConfig::banned`).
    pub fn new(
        network: NetworkHandle,
        chains: Vec<Arc<ChainRuntime>>,
        metrics: Metrics,
        store: Store,
    ) -> Arc<MeshService> {
        Arc::new(MeshService {
            network,
            chains: RwLock::new(chains.into_iter().map(|c| (c.id().clone(), c)).collect()),
            registry: RwLock::new(None),
            metrics,
            read_only: RwLock::new(Vec::new()),
            store,
        })
    }

    /// Routes gossiped proposals and approvals to `registry`, serves its
    /// snapshot to peers, and keeps it caught up: with every peer
    /// connected now, with each peer that connects later, and with one
    /// random connected peer every [`CATCH_UP_INTERVAL`] (see
    /// [`super::catch_up`]).
    pub fn set_registry(self: &Arc<Self>, registry: Arc<RegistryService>) {
        let first = match self.registry.write() {
            Ok(mut r) => r.replace(registry).is_none(),
            Err(_) => return,
        };
        if first {
            let service = self.clone();
            tokio::spawn(async move {
                let connected = service.network.peers().await.unwrap_or_default();
                for info in connected {
                    service.clone().catch_up_with(info.peer).await;
                }
                service.keep_catching_up(CATCH_UP_INTERVAL).await;
            });
        }
    }

    /// Merges `peer`'s registry snapshot (when a registry is set); logs
    /// what changed or why it failed.
    async fn catch_up_with(self: Arc<Self>, peer: network::PeerId) {
        let Some(registry) = self.registry() else {
            return;
        };
        match catch_up(&self.network, &registry, &self.metrics, peer).await {
            Ok(report) if report.changed() || !report.rejected.is_empty() => {
                tracing::info!(%peer, proposals = report.proposals, approvals = report.approvals, decided = report.decided, rejected = report.rejected.len(), "caught up on the network registry");
            }
            Ok(_) => tracing::debug!(%peer, "registry already up to date with the peer's"),
            Err(e) => tracing::info!(%peer, error = %e, "registry catch-up failed"),
        }
    }

    /// Every `interval`, catches up with one random connected peer.
    async fn keep_catching_up(self: Arc<Self>, interval: std::time::Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let Ok(connected) = self.network.peers().await else {
                return;
            };
            if connected.is_empty() {
                continue;
            }
            let pick = rand::Rng::gen_range(&mut rand::thread_rng(), 0..connected.len());
            self.clone().catch_up_with(connected[pick].peer).await;
        }
    }

    /// Admits `peers` read-only: their submissions are refused.
    pub fn set_read_only(&self, peers: Vec<network::PeerId>) {
        if let Ok(mut r) = self.read_only.write() {
            *r = peers;
        }
    }

    fn is_read_only(&self, peer: &network::PeerId) -> bool {
        self.read_only.read().is_ok_and(|r| r.contains(peer))
    }

    fn registry(&self) -> Option<Arc<RegistryService>> {
        self.registry.read().ok()?.clone()
    }

    /// Dials the peers among `peers` not connected, every `interval`: a
    /// relayer admitted later (its chain accepted by the registry after it
    /// started) joins without a restart.
    pub async fn keep_dialling(
        self: Arc<Self>,
        peers: Vec<(network::PeerId, network::Multiaddr)>,
        interval: std::time::Duration,
    ) {
        loop {
            tokio::time::sleep(interval).await;
            let connected: Vec<network::PeerId> = self
                .network
                .peers()
                .await
                .map(|p| p.into_iter().map(|i| i.peer).collect())
                .unwrap_or_default();
            for (peer, addr) in &peers {
                if !connected.contains(peer) {
                    let _ = self.network.dial(*peer, addr.clone()).await;
                }
            }
        }
    }

    /// Adds a chain (accepted by the registry at runtime).
    pub fn add_chain(&self, chain: Arc<ChainRuntime>) {
        if let Ok(mut chains) = self.chains.write() {
            chains.insert(chain.id().clone(), chain);
        }
    }

    fn chain(&self, id: &ChainId) -> Option<Arc<ChainRuntime>> {
        self.chains.read().ok()?.get(id).cloned()
    }

    fn local(&self, id: &ChainId) -> Result<Arc<ChainRuntime>, String> {
        match self.chain(id) {
            Some(c) if c.is_local() => Ok(c),
            _ => Err(format!("chain {id} is not served by this relayer")),
        }
    }

    /// Subscribes to the light blocks of every known chain and announces
    /// (kademlia) the chains served here.
    pub async fn announce(&self) {
        for topic in [Topic::Registrations, Topic::Governance] {
            if let Err(e) = self.network.subscribe(&topic).await {
                tracing::warn!(%topic, error = %e, "cannot subscribe");
            }
        }
        let chains: Vec<Arc<ChainRuntime>> = self
            .chains
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        for chain in chains {
            if let Err(e) = self
                .network
                .subscribe(&Topic::LightBlocks(chain.id().clone()))
                .await
            {
                tracing::warn!(chain = %chain.id(), error = %e, "cannot subscribe to its light blocks");
            }
            if chain.is_local()
                && let Err(e) = self.network.provide(chain.id()).await
            {
                tracing::warn!(chain = %chain.id(), error = %e, "cannot announce it on the mesh");
            }
        }
    }

    /// Publishes a light block of a chain served here.
    pub async fn publish_block(&self, block: &LightBlock) {
        let topic = Topic::LightBlocks(block.header().chain_id.clone());
        match self
            .network
            .publish(&topic, block.to_canonical_bytes())
            .await
        {
            Ok(()) => self.metrics.gossip_published(&topic),
            Err(e) => tracing::debug!(%topic, error = %e, "light block not published"),
        }
    }

    /// Copies the network's counters into the metrics every
    /// [`NETWORK_SNAPSHOT_INTERVAL`] until the network stops.
    async fn snapshot_stats(self: Arc<Self>) {
        loop {
            match self.network.stats().await {
                Ok(stats) => self.metrics.snapshot_network(&stats),
                Err(_) => return,
            }
            tokio::time::sleep(NETWORK_SNAPSHOT_INTERVAL).await;
        }
    }

    /// Handles the network's events until it stops (and keeps the
    /// network's counters in the metrics meanwhile).
    pub async fn run(self: Arc<Self>, mut events: mpsc::Receiver<NetworkEvent>) {
        let snapshots = tokio::spawn(self.clone().snapshot_stats());
        while let Some(event) = events.recv().await {
            match event {
                NetworkEvent::Request {
                    from,
                    body,
                    responder,
                    ..
                } => {
                    let service = self.clone();
                    tokio::spawn(async move { service.answer(from, body, responder).await });
                }
                NetworkEvent::Gossip {
                    topic,
                    from,
                    body,
                    message_id,
                    propagation_source,
                    ..
                } => {
                    // Judging may fetch blocks from peers: never on the
                    // event loop, which must keep answering them.
                    self.metrics.gossip_received(&topic);
                    let service = self.clone();
                    tokio::spawn(async move {
                        let verdict = service.judge(&topic, &body).await;
                        service.metrics.gossip_judged(&topic, verdict);
                        if verdict == Verdict::Reject {
                            tracing::warn!(%topic, peer = %from, "rejected a gossiped message");
                        }
                        let _ = service
                            .network
                            .report(message_id, propagation_source, verdict)
                            .await;
                    });
                }
                // Only admitted peers connect. Gossip published while
                // either side was away is never repeated: ask.
                NetworkEvent::PeerConnected { peer, .. } if self.registry().is_some() => {
                    tokio::spawn(self.clone().catch_up_with(peer));
                }
                NetworkEvent::PeerBanned { peer, strikes } => {
                    tracing::warn!(%peer, strikes, "peer banned");
                    let ban = PeerBan {
                        peer_id: peer.to_string(),
                        strikes,
                        banned_at: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs()),
                    };
                    if let Err(e) = self.store.record_ban(&ban) {
                        tracing::error!(%peer, error = %e, "cannot keep the ban in the store: it ends with this run");
                    }
                }
                NetworkEvent::ConnectionRefused { peer, refusal, .. } => {
                    tracing::info!(%peer, ?refusal, "connection refused");
                }
                NetworkEvent::EnvelopeRejected { peer, reason } => {
                    tracing::warn!(%peer, %reason, "envelope rejected");
                }
                _ => {}
            }
        }
        snapshots.abort();
    }

    /// A gossiped light block is accepted only when this relayer's own
    /// light client of its chain verifies it.
    async fn judge(&self, topic: &Topic, body: &[u8]) -> Verdict {
        let chain_id = match topic {
            Topic::LightBlocks(chain_id) => chain_id,
            Topic::Registrations | Topic::Governance => {
                let Some(registry) = self.registry() else {
                    return Verdict::Ignore;
                };
                let outcome = if *topic == Topic::Registrations {
                    registry.submit_bytes(body).map(|_| ())
                } else {
                    registry.approve_bytes(body).map(|_| ())
                };
                return match outcome {
                    Ok(()) => Verdict::Accept,
                    Err(e) if e.is_forged() => {
                        tracing::warn!(%topic, error = %e, "refused a forged registry message");
                        Verdict::Reject
                    }
                    // A full queue is what a flood looks like: its sender
                    // gets a strike (relayers never re-publish others'
                    // proposals, so the sender is who proposed it).
                    Err(e) if e.is_over_capacity() => {
                        tracing::warn!(%topic, error = %e, "refused a registry message over capacity");
                        Verdict::Reject
                    }
                    Err(e) => {
                        tracing::info!(%topic, error = %e, "registry message not applied");
                        Verdict::Ignore
                    }
                };
            }
            Topic::Attestations => return Verdict::Ignore,
        };
        let Some(chain) = self.chain(chain_id) else {
            return Verdict::Ignore;
        };
        let Ok(block) = LightBlock::from_canonical_bytes(body) else {
            return Verdict::Reject;
        };
        if &block.header().chain_id != chain_id {
            return Verdict::Reject;
        }
        if let Err(e) = precheck_gossiped(&chain, &block).await {
            tracing::warn!(chain = %chain_id, error = %e, "rejected a gossiped light block unverified");
            return Verdict::Reject;
        }
        match chain.verify_given(block).await {
            Ok(()) => Verdict::Accept,
            Err(EngineError::Verification { .. } | EngineError::Misbehaviour { .. }) => {
                Verdict::Reject
            }
            Err(_) => Verdict::Ignore,
        }
    }

    async fn answer(&self, from: network::PeerId, body: Vec<u8>, responder: Responder) {
        let response = match wire::decode::<MeshRequest>(&body, "mesh request") {
            Err(reason) => MeshResponse::Refused { reason },
            Ok(request) => {
                let what = request.what();
                let kind = request_kind(&request);
                let abuse = match &request {
                    MeshRequest::Submit { bodies, .. } => check_heights(bodies).err(),
                    _ => None,
                };
                let served = if matches!(request, MeshRequest::Submit { .. })
                    && self.is_read_only(&from)
                {
                    Err(format!(
                        "peer {from} is the regulator's read-only node: it may not hand over messages to submit"
                    ))
                } else if let Some(abuse) = abuse {
                    tracing::warn!(peer = %from, %what, error = %abuse, "refused an abusive mesh request; strike");
                    let _ = self.network.penalise(from).await;
                    Err(abuse.to_string())
                } else if let MeshRequest::Submit { chain, bodies } = request {
                    match self.submit(&chain, bodies).await {
                        Ok(response) => Ok(response),
                        Err(Refusal::Unchecked(reason)) => Err(reason),
                        Err(Refusal::Forged(reason)) => {
                            tracing::warn!(peer = %from, %what, %reason, "refused a handed-over message that does not verify; strike");
                            let _ = self.network.penalise(from).await;
                            Err(reason)
                        }
                    }
                } else {
                    self.serve(request).await
                };
                let response = match served {
                    Ok(response) => response,
                    Err(reason) => {
                        tracing::warn!(peer = %from, %what, %reason, "refused a mesh request");
                        MeshResponse::Refused { reason }
                    }
                };
                let answered = !matches!(response, MeshResponse::Refused { .. });
                self.metrics.request_served(kind, answered);
                response
            }
        };
        if let Err(e) = responder.respond(wire::encode(&response)) {
            tracing::debug!(peer = %from, error = %e, "response not sent");
        }
    }

    async fn serve(&self, request: MeshRequest) -> Result<MeshResponse, String> {
        let chain_id = match (&request, request.chain()) {
            (MeshRequest::RegistrySnapshot { from }, _) => return self.snapshot(*from),
            (_, Some(chain)) => chain,
            (_, None) => return Err(format!("{} names no chain", request.what())),
        };
        let chain = self.local(chain_id)?;
        let adapter = chain.adapter();
        Ok(match request {
            MeshRequest::Status { .. } => MeshResponse::Status {
                status: adapter.status().await.map_err(|e| e.to_string())?,
            },
            MeshRequest::LightBlock { height, .. } => MeshResponse::LightBlock {
                block: adapter
                    .light_block(height)
                    .await
                    .map_err(|e| e.to_string())?,
            },
            MeshRequest::States { keys, .. } => {
                let keys: Vec<Vec<u8>> = keys.into_iter().map(|k| k.0).collect();
                let proven = adapter.states(&keys).await.map_err(|e| e.to_string())?;
                MeshResponse::States {
                    light_block: proven.light_block,
                    entries: proven
                        .entries
                        .into_iter()
                        .map(|e| WireEntry {
                            key: HexBytes(e.key),
                            value: e.value.map(HexBytes),
                            proof: e.proof,
                        })
                        .collect(),
                }
            }
            MeshRequest::PacketEvents { since, .. } => {
                let events = adapter
                    .packet_events(since)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut packets = Vec::new();
                for event in events
                    .events
                    .iter()
                    .filter(|e| e.event.kind == "send_packet")
                {
                    let destination = event.event.get("destination").and_then(|d| d.parse().ok());
                    let sequence = event.event.get("sequence").and_then(|s| s.parse().ok());
                    if let (Some(destination), Some(sequence)) = (destination, sequence)
                        && let Ok(Some(record)) =
                            chain.store().packet(chain.id(), &destination, sequence)
                    {
                        packets.push(record.packet);
                    }
                }
                MeshResponse::PacketEvents { events, packets }
            }
            MeshRequest::RegistrySnapshot { .. } => {
                return Err("registry snapshots are not about a chain".into());
            }
            MeshRequest::Submit { .. } => {
                return Err("submissions are answered by MeshService::submit".into());
            }
        })
    }

    /// A peer's messages for chain `chain_id` (served here), submitted
    /// under this relayer's key once it verified them itself.
    async fn submit(
        &self,
        chain_id: &ChainId,
        bodies: Vec<TxBody>,
    ) -> Result<MeshResponse, Refusal> {
        let chain = self.local(chain_id).map_err(Refusal::Unchecked)?;
        if bodies.len() > MAX_SUBMIT {
            return Err(Refusal::Forged(format!(
                "{} messages, at most {MAX_SUBMIT} per submission",
                bodies.len()
            )));
        }
        self.check_bodies(&chain, &bodies).await?;
        Ok(MeshResponse::Submitted {
            outcomes: chain
                .submit(bodies)
                .await
                .map_err(|e| Refusal::Unchecked(e.to_string()))?,
        })
    }

    /// A page of the registry's snapshot.
    fn snapshot(&self, from: u64) -> Result<MeshResponse, String> {
        let registry = self
            .registry()
            .ok_or("no network registry here (no governance configured)")?;
        let page = registry.snapshot_page(from);
        Ok(MeshResponse::RegistrySnapshot {
            genesis: page.genesis,
            proposals: page
                .entries
                .into_iter()
                .map(|e| WireProposal {
                    proposal: HexBytes(e.proposal),
                    approvals: e.approvals.into_iter().map(HexBytes).collect(),
                })
                .collect(),
            next: page.next,
        })
    }

    /// What a peer hands over is submitted under this relayer's key only if
    /// this relayer verifies it itself: client updates must be blocks its
    /// own light client trusts, packet proofs must hold against headers it
    /// trusts. Only packet messages and client updates are accepted.
    async fn check_bodies(&self, on: &ChainRuntime, bodies: &[TxBody]) -> Result<(), Refusal> {
        let mut headers: HashMap<(ChainId, Height), Header> = HashMap::new();
        for (i, body) in bodies.iter().enumerate() {
            let fail = |refusal: Refusal| refusal.map(|reason| format!("message {i}: {reason}"));
            let claim = match body {
                TxBody::UpdateClient { block } => {
                    let header = self
                        .trusted_header(&mut headers, &block.header().chain_id, block.height())
                        .await
                        .map_err(fail)?;
                    if header.hash() != block.header().hash() {
                        return Err(fail(Refusal::Forged(format!(
                            "client update with block {} of {} that this relayer's light client does not trust",
                            block.height(),
                            block.header().chain_id
                        ))));
                    }
                    continue;
                }
                TxBody::RecvPacket {
                    packet,
                    proof,
                    proof_height,
                } => Claim {
                    expected_end: &packet.destination,
                    counterparty: &packet.source,
                    height: *proof_height,
                    key: state_keys::packet_commitment(on.id(), packet.sequence),
                    value: Some(packet.commitment().as_bytes().to_vec()),
                    proof,
                },
                TxBody::AcknowledgePacket {
                    packet,
                    acknowledgement,
                    proof,
                    proof_height,
                } => Claim {
                    expected_end: &packet.source,
                    counterparty: &packet.destination,
                    height: *proof_height,
                    key: state_keys::packet_ack(on.id(), packet.sequence),
                    value: Some(acknowledgement.hash().as_bytes().to_vec()),
                    proof,
                },
                TxBody::TimeoutPacket {
                    packet,
                    proof,
                    proof_height,
                } => Claim {
                    expected_end: &packet.source,
                    counterparty: &packet.destination,
                    height: *proof_height,
                    key: state_keys::packet_receipt(on.id(), packet.sequence),
                    value: None,
                    proof,
                },
                other => {
                    return Err(fail(Refusal::Forged(format!(
                        "{} is not relayed for peers (only client updates and packet messages are)",
                        other.name()
                    ))));
                }
            };
            self.check_claim(on, &mut headers, claim)
                .await
                .map_err(fail)?;
        }
        Ok(())
    }

    /// Checks one packet message's proof against the counterparty header
    /// this relayer trusts at the proof height.
    async fn check_claim(
        &self,
        on: &ChainRuntime,
        headers: &mut HashMap<(ChainId, Height), Header>,
        claim: Claim<'_>,
    ) -> Result<(), Refusal> {
        if claim.expected_end != on.id() {
            return Err(Refusal::Forged(format!(
                "packet message for {}, submitted to {}",
                claim.expected_end,
                on.id()
            )));
        }
        let header = self
            .trusted_header(headers, claim.counterparty, claim.height)
            .await?;
        // Against a header this relayer verified, a proof that fails is a
        // lie of the peer's.
        check_proof(&header, &claim.key, claim.value.as_deref(), claim.proof)
            .map_err(Refusal::Forged)
    }

    async fn trusted_header(
        &self,
        cache: &mut HashMap<(ChainId, Height), Header>,
        chain: &ChainId,
        height: Height,
    ) -> Result<Header, Refusal> {
        if let Some(h) = cache.get(&(chain.clone(), height)) {
            return Ok(h.clone());
        }
        let runtime = self.chain(chain).ok_or_else(|| {
            Refusal::Unchecked(format!("chain {chain} is not tracked by this relayer"))
        })?;
        // An honest peer's proofs are at heights near what this relayer
        // trusts; one far below it (e.g. height 1 after a restart) would
        // only make it walk back the chain, and never re-anchors it.
        if let Some(lowest) = runtime.lowest_trusted_height().await
            && let Err(e) = crate::trust::backward_depth(height, lowest)
        {
            return Err(Refusal::Forged(format!("block {height} of {chain}: {e}")));
        }
        let block = runtime
            .verified_block(height)
            .await
            .map_err(|e| Refusal::Unchecked(format!("block {height} of {chain}: {e}")))?;
        let header = block.header().clone();
        cache.insert((chain.clone(), height), header.clone());
        Ok(header)
    }
}

/// Why a peer's submission was refused.
enum Refusal {
    /// It could not be checked now (a chain not tracked, an endpoint
    /// down): not the peer's fault.
    Unchecked(String),
    /// It does not verify against what this relayer trusts: the peer
    /// handed over a lie, and gets a strike.
    Forged(String),
}

impl Refusal {
    fn map(self, f: impl FnOnce(String) -> String) -> Refusal {
        match self {
            Refusal::Unchecked(r) => Refusal::Unchecked(f(r)),
            Refusal::Forged(r) => Refusal::Forged(f(r)),
        }
    }
}

/// What a packet message claims about its counterparty chain's state.
struct Claim<'a> {
    /// The chain the message must be submitted to.
    expected_end: &'a ChainId,
    /// The chain whose state the proof is about.
    counterparty: &'a ChainId,
    /// The counterparty height of the proof.
    height: Height,
    /// The key proven.
    key: Vec<u8>,
    /// Its value (`None`: proven absent).
    value: Option<Vec<u8>>,
    /// The proof bytes.
    proof: &'a [u8],
}

fn check_proof(
    header: &Header,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &[u8],
) -> Result<(), String> {
    let proof = if value.is_some() {
        borsh::from_slice(proof).map(StateProof::Membership)
    } else {
        borsh::from_slice(proof).map(StateProof::NonMembership)
    }
    .map_err(|e| format!("malformed proof of {}: {e}", state_keys::show(key)))?;
    proof.verify(&header.state_root, key, value).map_err(|e| {
        format!(
            "proof of {} at height {}: {e}",
            state_keys::show(key),
            header.height
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_at(height: u64) -> TxBody {
        let mut packet: protocol::Packet =
            serde_json::from_str(include_str!("../../../protocol/tests/data/packet.json")).unwrap();
        packet.sequence = height;
        TxBody::TimeoutPacket {
            packet,
            proof: Vec::new(),
            proof_height: Height::new(height).unwrap(),
        }
    }

    #[test]
    fn a_submission_may_need_a_bounded_number_of_distinct_heights() {
        let limit = MAX_HEIGHTS_PER_SUBMIT as u64;
        let at_limit: Vec<TxBody> = (1..=limit).map(timeout_at).collect();
        assert_eq!(check_heights(&at_limit), Ok(MAX_HEIGHTS_PER_SUBMIT));
        // The same heights again cost nothing more.
        let repeated: Vec<TxBody> = (1..=limit).chain(1..=limit).map(timeout_at).collect();
        assert_eq!(check_heights(&repeated), Ok(MAX_HEIGHTS_PER_SUBMIT));
        let over: Vec<TxBody> = (1..=limit + 1).map(timeout_at).collect();
        assert_eq!(check_heights(&over), Err(RequestAbuse::TooManyHeights));
        assert!(
            RequestAbuse::TooManyHeights
                .to_string()
                .contains("more than 80 distinct blocks verified")
        );
    }
}
