//! Keeps a running relayer in step with the network registry: gossips the
//! proposals and approvals it accepts, and acts on decisions — a chain
//! accepted at runtime is tracked at once (its relayers admitted, its
//! light client anchored at the registered trust anchor, on-chain clients
//! of it created on the chains served here), a frozen or deregistered one
//! stops being relayed. No restart. [`SupervisorSync`] does the same for
//! the regulator's supervision node: a chain accepted at runtime is
//! followed into the audit log, a frozen or removed one no longer is.

use std::sync::Arc;
use std::time::Duration;

use light_clients::credit_chain::Options;
use network::{NetworkHandle, PeerId, Topic};
use protocol::tx::{LightClientParams, TxBody};
use protocol::{Canonical, ChainId, state_keys};
use tokio::sync::broadcast::error::RecvError;

use super::{MeshChainAdapter, MeshService};
use crate::clock::SharedClock;
use crate::engine::{ChainRuntime, Engine};
use crate::metrics::Metrics;
use crate::registry::{RegisteredChain, RegistryEvent, RegistryService, RegistryUpdate};
use crate::store::Store;
use crate::supervisor::Supervisor;
use crate::trust::{Anchor, ChainTrust};

/// How often pending proposals past their age are expired when nothing
/// else touches the registry.
const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Stops a background task when its owner returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a relayer needs to track chains accepted at runtime.
#[derive(Clone)]
pub struct RegistrySync {
    /// The registry.
    pub registry: Arc<RegistryService>,
    /// The engine chains are added to.
    pub engine: Arc<Engine>,
    /// The mesh service (answers about, and checks blocks of, every chain).
    pub service: Arc<MeshService>,
    /// The network.
    pub network: NetworkHandle,
    /// This relayer's operator key.
    pub identity: ed25519_dalek::SigningKey,
    /// How often remote chains are polled for new blocks.
    pub poll_interval: Duration,
    /// Metrics of new runtimes.
    pub metrics: Metrics,
    /// The process's clock, for the light clients of chains it follows.
    pub clock: SharedClock,
}

impl RegistrySync {
    /// Tracks the chains the stored registry already holds, then follows
    /// its updates until the process stops.
    pub async fn run(self) {
        let mut updates = self.registry.subscribe();
        let sweeping = tokio::spawn(self.registry.clone().keep_expiring(EXPIRY_SWEEP_INTERVAL));
        let _sweeping = AbortOnDrop(sweeping);
        let accepted: Vec<RegisteredChain> = self
            .registry
            .read(|r| r.chains().filter(|c| c.is_active()).cloned().collect());
        for chain in accepted {
            self.track(&chain).await;
        }
        loop {
            match updates.recv().await {
                Ok(update) => self.apply(update).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "registry updates missed; re-reading the registry");
                    let accepted: Vec<RegisteredChain> = self
                        .registry
                        .read(|r| r.chains().filter(|c| c.is_active()).cloned().collect());
                    for chain in accepted {
                        self.track(&chain).await;
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn apply(&self, update: RegistryUpdate) {
        match update {
            RegistryUpdate::Proposed(proposal) => {
                // Already-seen content is refused by gossipsub as a
                // duplicate: harmless.
                let topic = Topic::Registrations;
                if self
                    .network
                    .publish(&topic, proposal.to_canonical_bytes())
                    .await
                    .is_ok()
                {
                    self.metrics.gossip_published(&topic);
                }
            }
            RegistryUpdate::Approved { approval, .. } => {
                let topic = Topic::Governance;
                if self
                    .network
                    .publish(&topic, approval.to_canonical_bytes())
                    .await
                    .is_ok()
                {
                    self.metrics.gossip_published(&topic);
                }
            }
            RegistryUpdate::Decided(RegistryEvent::ChainAccepted(chain)) => {
                tracing::info!(chain = %chain.chain_id, relayers = chain.relayer_peer_ids.len(), "registry accepted a chain; tracking it");
                self.track(&chain).await;
            }
            RegistryUpdate::Decided(RegistryEvent::ChainFrozen {
                chain_id, reason, ..
            }) => {
                tracing::warn!(chain = %chain_id, %reason, "registry froze a chain; its traffic stops");
                if let Some(runtime) = self.engine.chain(&chain_id) {
                    runtime.suspend(format!("frozen by the network registry: {reason}"));
                }
            }
            RegistryUpdate::Decided(RegistryEvent::ChainDeregistered {
                chain_id,
                reason,
                former_peers,
                ..
            }) => {
                tracing::warn!(chain = %chain_id, %reason, "registry removed a chain; its traffic stops");
                if let Some(runtime) = self.engine.chain(&chain_id) {
                    runtime.suspend(format!("deregistered from the network: {reason}"));
                }
                let allowed = self.registry.allowed_peers();
                for peer in former_peers.iter().filter(|p| !allowed.contains(*p)) {
                    if let Ok(peer) = peer.parse::<PeerId>() {
                        let _ = self.network.disallow(peer).await;
                    }
                }
            }
        }
    }

    /// Admits the chain's relayers, tracks the chain through them (trust
    /// anchored at the registration's anchor) and gives every chain served
    /// here an on-chain client of it.
    async fn track(&self, chain: &RegisteredChain) {
        let id = &chain.chain_id;
        let peers: Vec<PeerId> = chain
            .relayer_peer_ids
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        for peer in &peers {
            let _ = self.network.allow(*peer).await;
        }
        let runtime = match self.engine.chain(id) {
            Some(runtime) => {
                if let Some(adapter) = runtime.mesh_adapter() {
                    adapter.set_serving(peers);
                }
                runtime
            }
            None => {
                let adapter = Arc::new(
                    MeshChainAdapter::new(
                        id.clone(),
                        self.network.clone(),
                        peers,
                        self.poll_interval,
                    )
                    .with_metrics(self.metrics.clone()),
                );
                let runtime = Arc::new(ChainRuntime::remote(
                    id.clone(),
                    adapter,
                    self.identity.clone(),
                    registered_trust(chain, &self.clock),
                    self.engine.store().clone(),
                    self.metrics.clone(),
                ));
                let _ = self
                    .network
                    .subscribe(&Topic::LightBlocks(id.clone()))
                    .await;
                runtime
            }
        };
        // Its relayers may not be connected yet (they were refused until
        // now): keep trying in the background.
        let (sync, chain) = (self.clone(), chain.clone());
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(500);
            loop {
                match anchor_light_client(&runtime).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::info!(chain = %chain.chain_id, error = %e, ?wait, "cannot anchor the registered chain yet; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(10));
                    }
                }
            }
            if !runtime.is_local() {
                sync.service.add_chain(runtime.clone());
                sync.engine.add_chain(runtime.clone());
            }
            sync.create_clients(&runtime, &chain).await;
        });
    }

    /// Gives every chain served here that lacks one an on-chain light
    /// client of `runtime`'s chain, anchored at the registered anchor.
    async fn create_clients(&self, runtime: &ChainRuntime, chain: &RegisteredChain) {
        if runtime.is_local() {
            return;
        }
        let anchor = match runtime
            .adapter()
            .light_block(chain.trust_anchor.height)
            .await
        {
            Ok(block) if block.header().hash() == chain.trust_anchor.header_hash => block,
            _ => return,
        };
        for local in self.engine.chains().into_iter().filter(|c| c.is_local()) {
            if has_client(&local, runtime.id()).await {
                continue;
            }
            let body = TxBody::CreateClient {
                anchor: anchor.clone(),
                params: LightClientParams::default(),
            };
            match local.submit(vec![body]).await {
                Ok(outcomes) => match outcomes.first() {
                    Some(Ok(o)) if o.is_ok() => {
                        tracing::info!(on = %local.id(), of = %runtime.id(), "created an on-chain light client of the registered chain");
                    }
                    other => {
                        tracing::warn!(on = %local.id(), of = %runtime.id(), outcome = ?other, "creating the on-chain light client failed");
                    }
                },
                Err(e) => {
                    tracing::warn!(on = %local.id(), of = %runtime.id(), error = %e, "creating the on-chain light client failed");
                }
            }
        }
    }
}

/// The trust a registered chain's light client starts from: its
/// registered anchor, default parameters, the process's clock.
pub fn registered_trust(chain: &RegisteredChain, clock: &SharedClock) -> ChainTrust {
    ChainTrust {
        anchor: Anchor {
            height: chain.trust_anchor.height,
            header_hash: chain.trust_anchor.header_hash,
        },
        options: Options::default(),
        clock: clock.clone(),
    }
}

/// Starts the light client of `runtime` (a chain served by others) at its
/// trust anchor, unless it already trusts a block of it: the block at the
/// anchor's height, read through the chain's relayers, must hash to the
/// anchor (see [`ChainRuntime::ensure_anchored`]).
pub async fn anchor_light_client(runtime: &ChainRuntime) -> Result<(), String> {
    if runtime.is_local() {
        return Ok(());
    }
    runtime.ensure_anchored().await.map_err(|e| e.to_string())
}

/// Keeps the regulator's supervision node in step with the network
/// registry, as [`RegistrySync`] keeps a relayer: a chain accepted at
/// runtime is followed at once (its relayers admitted, the node's light
/// client of it anchored at the registered trust anchor, then its events
/// scanned into the audit log); a frozen or deregistered chain stops being
/// followed (its entries stay in the log). The node is read-only: it
/// applies the proposals and approvals gossiped to it (checked like any
/// relayer checks them), never publishes any.
#[derive(Clone)]
pub struct SupervisorSync {
    /// The registry (in the node's store).
    pub registry: Arc<RegistryService>,
    /// The supervision node.
    pub supervisor: Arc<Supervisor>,
    /// The node's store (its light clients' trusted blocks).
    pub store: Store,
    /// The network.
    pub network: NetworkHandle,
    /// The regulator's key (the node's identity; signs nothing here).
    pub identity: ed25519_dalek::SigningKey,
    /// How often followed chains are polled for new blocks.
    pub poll_interval: Duration,
    /// Peers admitted by the configuration (bootstrap, configured chains'
    /// relayers, `admitted`): never dropped when a chain is deregistered.
    pub configured_peers: Vec<PeerId>,
    /// The chains the configuration names (`[[network.chains]]`).
    pub configured_chains: Vec<ChainId>,
    /// Metrics of new adapters.
    pub metrics: Metrics,
    /// The process's clock, for the light clients of chains it follows.
    pub clock: SharedClock,
}

impl SupervisorSync {
    /// Follows the active chains the stored registry already holds, then
    /// its updates, until the process stops.
    pub async fn run(self) {
        let mut updates = self.registry.subscribe();
        let sweeping = tokio::spawn(self.registry.clone().keep_expiring(EXPIRY_SWEEP_INTERVAL));
        let _sweeping = AbortOnDrop(sweeping);
        self.track_all();
        loop {
            match updates.recv().await {
                Ok(RegistryUpdate::Decided(event)) => self.apply(event).await,
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "registry updates missed; re-reading the registry");
                    self.track_all();
                    self.stop_all_inactive();
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    fn track_all(&self) {
        let accepted: Vec<RegisteredChain> = self
            .registry
            .read(|r| r.chains().filter(|c| c.is_active()).cloned().collect());
        for chain in accepted {
            self.track(&chain);
        }
    }

    /// After missed updates: stops following the chains the registry
    /// holds frozen, and those it added that it no longer holds.
    fn stop_all_inactive(&self) {
        let (frozen, registered): (Vec<(ChainId, String)>, Vec<ChainId>) =
            self.registry.read(|r| {
                (
                    r.chains()
                        .filter(|c| !c.is_active())
                        .map(|c| (c.chain_id.clone(), c.status.to_string()))
                        .collect(),
                    r.chains().map(|c| c.chain_id.clone()).collect(),
                )
            });
        for (id, status) in frozen {
            self.supervisor
                .stop_following(&id, format!("network registry: {status}"));
        }
        for id in self.supervisor.followed() {
            if !registered.contains(&id) && !self.configured_chains.contains(&id) {
                self.supervisor
                    .stop_following(&id, "no longer in the network registry".into());
            }
        }
    }

    async fn apply(&self, event: RegistryEvent) {
        match event {
            RegistryEvent::ChainAccepted(chain) => {
                tracing::info!(chain = %chain.chain_id, relayers = chain.relayer_peer_ids.len(), "registry accepted a chain; following it");
                self.track(&chain);
            }
            RegistryEvent::ChainFrozen {
                chain_id, reason, ..
            } => {
                self.supervisor.stop_following(
                    &chain_id,
                    format!("frozen by the network registry: {reason}"),
                );
            }
            RegistryEvent::ChainDeregistered {
                chain_id,
                reason,
                former_peers,
                ..
            } => {
                self.supervisor.stop_following(
                    &chain_id,
                    format!("deregistered from the network: {reason}"),
                );
                let allowed = self.registry.allowed_peers();
                for peer in former_peers.iter().filter(|p| !allowed.contains(*p)) {
                    if let Ok(peer) = peer.parse::<PeerId>()
                        && !self.configured_peers.contains(&peer)
                    {
                        let _ = self.network.disallow(peer).await;
                    }
                }
            }
        }
    }

    /// Admits the chain's relayers and, in the background (they may not be
    /// connected yet), anchors the node's light client of the chain at the
    /// registered trust anchor, then follows it.
    fn track(&self, chain: &RegisteredChain) {
        let id = chain.chain_id.clone();
        let peers: Vec<PeerId> = chain
            .relayer_peer_ids
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        let (sync, chain) = (self.clone(), chain.clone());
        tokio::spawn(async move {
            for peer in &peers {
                let _ = sync.network.allow(*peer).await;
            }
            if sync.supervisor.followed().contains(&id) {
                return;
            }
            let adapter = Arc::new(
                MeshChainAdapter::new(id.clone(), sync.network.clone(), peers, sync.poll_interval)
                    .with_metrics(sync.metrics.clone()),
            );
            let runtime = Arc::new(ChainRuntime::remote(
                id.clone(),
                adapter,
                sync.identity.clone(),
                registered_trust(&chain, &sync.clock),
                sync.store.clone(),
                sync.metrics.clone(),
            ));
            let mut wait = Duration::from_millis(500);
            loop {
                match anchor_light_client(&runtime).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::info!(chain = %id, error = %e, ?wait, "cannot anchor the registered chain yet; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(10));
                    }
                }
            }
            // Frozen or removed while it was being anchored: not followed.
            let still_active = sync
                .registry
                .read(|r| r.chains().any(|c| c.chain_id == id && c.is_active()));
            if !still_active {
                return;
            }
            if let Err(e) = sync.supervisor.follow(runtime) {
                tracing::warn!(chain = %id, error = %e, "cannot follow the registered chain");
            }
        });
    }
}

async fn has_client(on: &ChainRuntime, of: &ChainId) -> bool {
    matches!(on.adapter().state(&state_keys::client(of)).await, Ok(s) if s.value.is_some())
}
