//! Keeps a running relayer in step with the network registry: gossips the
//! proposals and approvals it accepts, and acts on decisions — a chain
//! accepted at runtime is tracked at once (its relayers admitted, its
//! light client anchored at the registered trust anchor, on-chain clients
//! of it created on the chains served here), a frozen or deregistered one
//! stops being relayed. No restart.

use std::sync::Arc;
use std::time::Duration;

use light_clients::credit_chain::Options;
use network::{NetworkHandle, PeerId, Topic};
use protocol::tx::{LightClientParams, TxBody};
use protocol::{Canonical, ChainId, state_keys};
use tokio::sync::broadcast::error::RecvError;

use super::{MeshChainAdapter, MeshService};
use crate::engine::{ChainRuntime, Engine};
use crate::metrics::Metrics;
use crate::registry::{RegisteredChain, RegistryEvent, RegistryService, RegistryUpdate};

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
}

impl RegistrySync {
    /// Tracks the chains the stored registry already holds, then follows
    /// its updates until the process stops.
    pub async fn run(self) {
        let mut updates = self.registry.subscribe();
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
                    Options::default(),
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
                match sync.anchor(&runtime, &chain).await {
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

    /// Starts the relayer's light client of `runtime` at the registered
    /// trust anchor (unless it already trusts a block of it).
    async fn anchor(&self, runtime: &ChainRuntime, chain: &RegisteredChain) -> Result<(), String> {
        if runtime.is_local() {
            return Ok(());
        }
        let store = self.engine.store();
        if store
            .trusted_block(runtime.id())
            .map_err(|e| e.to_string())?
            .is_some()
        {
            return Ok(());
        }
        let anchor = &chain.trust_anchor;
        let block = runtime
            .adapter()
            .light_block(anchor.height)
            .await
            .map_err(|e| e.to_string())?;
        if block.header().hash() != anchor.header_hash {
            return Err(format!(
                "block {} served for {} does not hash to the registered anchor {}",
                anchor.height, chain.chain_id, anchor.header_hash
            ));
        }
        store
            .save_trusted_block(runtime.id(), &block)
            .map_err(|e| e.to_string())
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

async fn has_client(on: &ChainRuntime, of: &ChainId) -> bool {
    matches!(on.adapter().state(&state_keys::client(of)).await, Ok(s) if s.value.is_some())
}
