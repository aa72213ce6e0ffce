//! The relay engine: per chain a scanner that turns packet events into
//! store records, per path a worker that moves pending packets forward —
//! receive on the destination, acknowledgement or timeout back on the
//! source — always with proofs the engine verified first.
//!
//! Workers wake on new blocks (the adapters' event streams, which fall back
//! to polling when silent) and at the clear interval, and clear everything
//! pending at start: after a kill -9 the store says what is left to do, and
//! the chains' receipts make a duplicate delivery impossible.

mod chain;
mod path;
mod scanner;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use light_clients::credit_chain::Misbehaviour;
use protocol::ChainId;
use tokio::sync::Notify;
use tokio_stream::StreamExt;

pub use chain::{ChainRuntime, VerifiedStates};
pub use path::{PacketFilterFn, PathWorker, RelayReport};
pub use scanner::scan_chain;

use crate::store::{Store, StoreError};

/// Why a relay step failed. Steps are retried; nothing here stops the
/// daemon except misbehaviour, which stops traffic of that chain.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The chain's endpoints failed or served data that does not check.
    #[error("chain RPC: {0}")]
    Adapter(String),
    /// The relayer's light client refused a header or a proof.
    #[error("verification failed on {chain}: {reason}")]
    Verification {
        /// The chain.
        chain: ChainId,
        /// Why.
        reason: String,
    },
    /// Conflicting signed headers: the chain's traffic stops.
    #[error("misbehaviour of {chain}: its light client is frozen")]
    Misbehaviour {
        /// The chain.
        chain: ChainId,
        /// The evidence.
        evidence: Box<Misbehaviour>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A chain answered something the engine cannot use.
    #[error("unexpected answer from {chain}: {reason}")]
    Unexpected {
        /// The chain.
        chain: ChainId,
        /// What was wrong.
        reason: String,
    },
}

/// The system clock as a protocol time (for store timestamps only;
/// verification uses header times).
pub fn wall_clock() -> protocol::Time {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    protocol::Time::from_unix_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Engine tuning, from the config's `[relay]` table.
#[derive(Clone, Copy, Debug)]
pub struct EngineOptions {
    /// Packets per batch (one client update each).
    pub batch_size: usize,
    /// How often everything pending is cleared even without new blocks.
    pub clear_interval: Duration,
}

/// The running engine: chains and the paths between them.
pub struct Engine {
    chains: BTreeMap<ChainId, Arc<ChainRuntime>>,
    paths: Vec<Arc<PathWorker>>,
    store: Store,
    options: EngineOptions,
}

impl Engine {
    /// An engine over `chains` relaying on `paths` (pairs of chain ids,
    /// both directions).
    pub fn new(
        chains: Vec<Arc<ChainRuntime>>,
        paths: &[(ChainId, ChainId)],
        store: Store,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        Engine::with_filter(chains, paths, store, options, None)
    }

    /// [`Engine::new`], relaying only the packets `filter` allows.
    pub fn with_filter(
        chains: Vec<Arc<ChainRuntime>>,
        paths: &[(ChainId, ChainId)],
        store: Store,
        options: EngineOptions,
        filter: Option<PacketFilterFn>,
    ) -> Result<Engine, EngineError> {
        let chains: BTreeMap<ChainId, Arc<ChainRuntime>> =
            chains.into_iter().map(|c| (c.id().clone(), c)).collect();
        let mut workers = Vec::new();
        for (a, b) in paths {
            let get = |id: &ChainId| {
                chains
                    .get(id)
                    .cloned()
                    .ok_or_else(|| EngineError::Unexpected {
                        chain: id.clone(),
                        reason: "path names a chain that is not configured".into(),
                    })
            };
            workers.push(Arc::new(PathWorker::new(
                get(a)?,
                get(b)?,
                store.clone(),
                options.batch_size,
                filter.clone(),
            )));
        }
        Ok(Engine {
            chains,
            paths: workers,
            store,
            options,
        })
    }

    /// The chains.
    pub fn chains(&self) -> impl Iterator<Item = &Arc<ChainRuntime>> {
        self.chains.values()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// One full pass: scan every chain's new events, then move every path's
    /// pending packets. Returns what was done.
    pub async fn step(&self) -> RelayReport {
        let mut report = RelayReport::default();
        for chain in self.chains.values() {
            if let Err(e) = scan_chain(chain, &self.store).await {
                tracing::warn!(chain = %chain.id(), error = %e, "scanning events failed; will retry");
                report.errors.push(e.to_string());
            }
        }
        for path in &self.paths {
            report.merge(path.relay_both().await);
        }
        report
    }

    /// Runs until the process stops: a pass at start (clearing whatever a
    /// previous run left pending), then one per new block on any chain and
    /// at least every clear interval.
    pub async fn run(self: Arc<Self>) {
        let wake = Arc::new(Notify::new());
        for chain in self.chains.values() {
            let mut blocks = chain.adapter().block_stream();
            let wake = wake.clone();
            tokio::spawn(async move {
                while blocks.next().await.is_some() {
                    wake.notify_one();
                }
            });
        }
        loop {
            let report = self.step().await;
            if !report.is_empty() {
                tracing::info!(
                    received = report.received,
                    acknowledged = report.acknowledged,
                    timed_out = report.timed_out,
                    errors = report.errors.len(),
                    "relayed"
                );
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.options.clear_interval) => {}
            }
        }
    }
}
