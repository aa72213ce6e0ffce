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
use std::sync::{Arc, RwLock};
use std::time::Duration;

use light_clients::credit_chain::Misbehaviour;
use protocol::ChainId;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;

pub use chain::{ChainRuntime, MAX_GROUP_MESSAGES, VerifiedStates};
pub use path::{Direction, PacketFilterFn, PathWorker, RelayReport, Stage};
pub use scanner::{MAX_RECOVERED_PER_PASS, recover_omitted, scan_chain};

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

impl EngineError {
    /// The same error for another waiter of a failed grouped batch (a
    /// store error, which cannot be copied, as its message).
    pub fn duplicate(&self) -> EngineError {
        match self {
            EngineError::Adapter(m) => EngineError::Adapter(m.clone()),
            EngineError::Verification { chain, reason } => EngineError::Verification {
                chain: chain.clone(),
                reason: reason.clone(),
            },
            EngineError::Misbehaviour { chain, evidence } => EngineError::Misbehaviour {
                chain: chain.clone(),
                evidence: evidence.clone(),
            },
            EngineError::Store(e) => EngineError::Adapter(format!("store: {e}")),
            EngineError::Unexpected { chain, reason } => EngineError::Unexpected {
                chain: chain.clone(),
                reason: reason.clone(),
            },
        }
    }
}

/// The chains `chain` has a path to.
fn destinations_of(paths: &RwLock<Vec<Arc<PathWorker>>>, chain: &ChainId) -> Vec<ChainId> {
    let Ok(paths) = paths.read() else {
        return Vec::new();
    };
    let mut out: Vec<ChainId> = paths
        .iter()
        .filter_map(|p| match p.ends() {
            (a, b) if a == chain => Some(b.clone()),
            (a, b) if b == chain => Some(a.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
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

/// The running engine: chains and the paths between them. Chains (and the
/// paths to them) can be added while it runs, when the network registry
/// accepts a chain.
pub struct Engine {
    chains: RwLock<BTreeMap<ChainId, Arc<ChainRuntime>>>,
    paths: Arc<RwLock<Vec<Arc<PathWorker>>>>,
    store: Store,
    options: EngineOptions,
    filter: Option<PacketFilterFn>,
    /// Tells the running engine about added chains and paths.
    added: mpsc::UnboundedSender<Added>,
    added_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Added>>>,
}

/// What was added to a running engine.
enum Added {
    Chain(Arc<ChainRuntime>),
    Path(Arc<PathWorker>),
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
        let (added, added_rx) = mpsc::unbounded_channel();
        Ok(Engine {
            chains: RwLock::new(chains),
            paths: Arc::new(RwLock::new(workers)),
            store,
            options,
            filter,
            added,
            added_rx: std::sync::Mutex::new(Some(added_rx)),
        })
    }

    /// The chains, by id.
    pub fn chains(&self) -> Vec<Arc<ChainRuntime>> {
        self.chains
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The chain `id`, if known.
    pub fn chain(&self, id: &ChainId) -> Option<Arc<ChainRuntime>> {
        self.chains.read().ok()?.get(id).cloned()
    }

    /// The paths.
    pub fn paths(&self) -> Vec<Arc<PathWorker>> {
        self.paths.read().map(|p| p.clone()).unwrap_or_default()
    }

    /// Adds `chain` (e.g. accepted by the network registry) with a path to
    /// every chain served here; a running engine starts relaying on them at
    /// once. Adding a known chain does nothing.
    pub fn add_chain(&self, chain: Arc<ChainRuntime>) {
        let Ok(mut chains) = self.chains.write() else {
            return;
        };
        if chains.contains_key(chain.id()) {
            return;
        }
        let partners: Vec<Arc<ChainRuntime>> = chains
            .values()
            .filter(|c| c.is_local() || chain.is_local())
            .cloned()
            .collect();
        chains.insert(chain.id().clone(), chain.clone());
        drop(chains);
        let _ = self.added.send(Added::Chain(chain.clone()));
        for partner in partners {
            let path = Arc::new(PathWorker::new(
                partner,
                chain.clone(),
                self.store.clone(),
                self.options.batch_size,
                self.filter.clone(),
            ));
            if let Ok(mut paths) = self.paths.write() {
                paths.push(path.clone());
            }
            let _ = self.added.send(Added::Path(path));
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// One full pass: scan every chain's new events, then move every path's
    /// pending packets. Returns what was done.
    pub async fn step(&self) -> RelayReport {
        let mut report = RelayReport::default();
        for chain in self.chains().iter().filter(|c| c.is_local()) {
            if let Err(e) = scan_chain(chain, &self.store).await {
                tracing::warn!(chain = %chain.id(), error = %e, "scanning events failed; will retry");
                report.errors.push(e.to_string());
            }
            let destinations = destinations_of(&self.paths, chain.id());
            if let Err(e) = recover_omitted(chain, &self.store, &destinations).await {
                tracing::warn!(chain = %chain.id(), error = %e, "checking for packets no event announced failed; will retry");
                report.errors.push(e.to_string());
            }
        }
        for path in self.paths() {
            report.merge(path.relay_both().await);
        }
        report
    }

    /// Runs until the process stops. Every chain's events are scanned by a
    /// task of their own on each new block, and every path runs its four
    /// stages (deliver and acknowledge, both ways) as tasks of their own, so
    /// a batch waiting for one chain's block never holds up the others.
    /// Each task clears whatever is pending at start (what a previous run
    /// left), then again on every wake — a new block, progress of another
    /// task — and at least every clear interval.
    pub async fn run(self: Arc<Self>) {
        let (wake, _) = watch::channel(0u64);
        let mut tasks = tokio::task::JoinSet::new();
        for chain in self.chains() {
            self.spawn_scanner(&mut tasks, chain, &wake);
        }
        for path in self.paths() {
            self.spawn_stages(&mut tasks, path, &wake);
        }
        let added = self.added_rx.lock().ok().and_then(|mut r| r.take());
        let Some(mut added) = added else {
            tracing::error!("the engine is already running");
            return;
        };
        loop {
            tokio::select! {
                Some(item) = added.recv() => match item {
                    Added::Chain(chain) => self.spawn_scanner(&mut tasks, chain, &wake),
                    Added::Path(path) => self.spawn_stages(&mut tasks, path, &wake),
                },
                // The tasks loop forever; one ends only by panicking.
                Some(Err(e)) = tasks.join_next() => {
                    tracing::error!(error = %e, "a relay task ended");
                }
            }
        }
    }

    /// Scans a chain served here on each of its blocks.
    fn spawn_scanner(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        chain: Arc<ChainRuntime>,
        wake: &watch::Sender<u64>,
    ) {
        // Chains served by other relayers are scanned by them.
        if !chain.is_local() {
            return;
        }
        let (store, wake) = (self.store.clone(), wake.clone());
        let interval = self.options.clear_interval;
        let paths = self.paths.clone();
        tasks.spawn(async move {
            let mut blocks = chain.adapter().block_stream();
            // Events are only hints of what was sent: once per clear
            // interval the chain's proven sequences are checked as well.
            let mut checked: Option<std::time::Instant> = None;
            loop {
                if let Err(e) = scan_chain(&chain, &store).await {
                    tracing::warn!(chain = %chain.id(), error = %e, "scanning events failed; will retry");
                }
                if checked.is_none_or(|at| at.elapsed() >= interval) {
                    let destinations = destinations_of(&paths, chain.id());
                    match recover_omitted(&chain, &store, &destinations).await {
                        Ok(_) => checked = Some(std::time::Instant::now()),
                        Err(e) => tracing::warn!(chain = %chain.id(), error = %e,
                            "checking for packets no event announced failed; will retry"),
                    }
                }
                // Every block wakes the stages: new packets, and time
                // passing for timeouts.
                wake.send_modify(|n| *n += 1);
                tokio::select! {
                    next = blocks.next() => if next.is_none() {
                        tokio::time::sleep(interval).await;
                        blocks = chain.adapter().block_stream();
                    },
                    _ = tokio::time::sleep(interval) => {}
                }
            }
        });
    }

    /// Runs the stages of a path this relayer relays.
    fn spawn_stages(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        path: Arc<PathWorker>,
        wake: &watch::Sender<u64>,
    ) {
        for direction in [Direction::Forward, Direction::Backward] {
            // A direction is relayed by the relayers serving its source:
            // they see its packets and submit its acknowledgements.
            if !path.source(direction).is_local() {
                continue;
            }
            for stage in [Stage::Deliver, Stage::Acknowledge] {
                let (path, wake) = (path.clone(), wake.clone());
                let interval = self.options.clear_interval;
                tasks.spawn(async move {
                    let mut woken = wake.subscribe();
                    loop {
                        woken.borrow_and_update();
                        let report = path.run_stage(direction, stage).await;
                        let moved = report.received + report.acknowledged + report.timed_out;
                        if !report.is_empty() {
                            let (a, b) = path.ends();
                            tracing::info!(
                                path = %format!("{a}↔{b}"),
                                ?direction,
                                ?stage,
                                received = report.received,
                                acknowledged = report.acknowledged,
                                timed_out = report.timed_out,
                                errors = report.errors.len(),
                                "relayed"
                            );
                        }
                        if moved > 0 {
                            // What moved is the next stage's work.
                            wake.send_modify(|n| *n += 1);
                        }
                        tokio::select! {
                            _ = woken.changed() => {}
                            _ = tokio::time::sleep(interval) => {}
                        }
                    }
                });
            }
        }
    }
}
