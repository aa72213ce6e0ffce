//! A chain served by other relayers, reached through the mesh: the
//! [`ChainAdapter`] the engine uses for it. Each answer is self-checked
//! exactly like an RPC endpoint's (the serving relayer is just another
//! untrusted endpoint), and the engine's light client verifies the rest.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use adapters::self_check;
use adapters::{
    AdapterError, BlockStream, BoxFuture, ChainAdapter, ChainStatus, EndpointFailure,
    EndpointStats, FailureKind, PacketEvents, ProvenEntry, ProvenState, ProvenStates,
    SubmitOutcome,
};
use light_clients::credit_chain::KeyCache;
use network::{NetworkHandle, PeerId};
use protocol::tx::TxBody;
use protocol::{ChainId, Height, LightBlock, SignedTransaction, ValidatorSet};

use super::wire::{self, HexBytes, MeshRequest, MeshResponse};
use crate::metrics::Metrics;

/// Per serving peer: how it has answered.
#[derive(Default)]
struct PeerRecord {
    requests: u64,
    errors: u64,
    faults: u64,
    errors_by_kind: BTreeMap<FailureKind, u64>,
    last_error: Option<String>,
}

/// A chain reached through the relayers that serve it.
pub struct MeshChainAdapter {
    chain: ChainId,
    network: NetworkHandle,
    /// The serving relayers, tried in order; the last one that answered well
    /// goes first.
    serving: Mutex<Vec<PeerId>>,
    records: Mutex<BTreeMap<PeerId, PeerRecord>>,
    keys: Mutex<KeyCache>,
    poll_interval: Duration,
    /// Where requests and their round trips are counted, if anywhere.
    metrics: Option<Metrics>,
}

impl MeshChainAdapter {
    /// An adapter for `chain`, served by `serving` (from the registry).
    pub fn new(
        chain: ChainId,
        network: NetworkHandle,
        serving: Vec<PeerId>,
        poll_interval: Duration,
    ) -> MeshChainAdapter {
        MeshChainAdapter {
            chain,
            network,
            serving: Mutex::new(serving),
            records: Mutex::new(BTreeMap::new()),
            keys: Mutex::new(KeyCache::default()),
            poll_interval,
            metrics: None,
        }
    }

    /// The same adapter counting its requests (`relayer_mesh_requests_sent`)
    /// and their round trips (`relayer_mesh_route_latency_seconds`) in
    /// `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> MeshChainAdapter {
        self.metrics = Some(metrics);
        self
    }

    /// Records one attempt: its round trip (when the peer answered at all)
    /// and whether its answer was good.
    fn record(&self, request: &MeshRequest, took: Option<Duration>, answered: bool) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        if let Some(took) = took {
            metrics.observe_route_latency(&self.chain, took);
        }
        metrics.request_sent(request_kind(request), answered);
    }

    /// Replaces the serving relayers (the registry changed).
    pub fn set_serving(&self, serving: Vec<PeerId>) {
        if let Ok(mut s) = self.serving.lock() {
            *s = serving;
        }
    }

    /// The serving relayers, in the order they are tried.
    pub fn serving(&self) -> Vec<PeerId> {
        self.serving.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn note(&self, peer: PeerId, failure: Option<(FailureKind, &str)>) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        let record = records.entry(peer).or_default();
        record.requests += 1;
        if let Some((kind, reason)) = failure {
            record.errors += 1;
            if kind.is_fault() {
                record.faults += 1;
            }
            *record.errors_by_kind.entry(kind).or_default() += 1;
            record.last_error = Some(format!("{kind}: {reason}"));
        }
    }

    fn prefer(&self, peer: PeerId) {
        if let Ok(mut serving) = self.serving.lock()
            && let Some(i) = serving.iter().position(|p| *p == peer)
        {
            serving[..=i].rotate_right(1);
        }
    }

    /// Asks each serving relayer in turn until one answers with something
    /// `check` accepts. A refusal or a check failure moves on to the next.
    async fn ask<T>(
        &self,
        request: &MeshRequest,
        check: impl Fn(MeshResponse) -> Result<T, (FailureKind, String)>,
    ) -> Result<T, AdapterError> {
        let body = wire::encode(request);
        let mut failures = Vec::new();
        for peer in self.serving() {
            let sent = Instant::now();
            let answer = self.network.request(peer, body.clone()).await;
            // A round trip is timed only when the peer answered.
            let took = answer.is_ok().then(|| sent.elapsed());
            let failure = match answer {
                Err(e) => (FailureKind::Unavailable, e.to_string()),
                Ok(bytes) => match wire::decode::<MeshResponse>(&bytes, "mesh response") {
                    Err(e) => (FailureKind::Malformed, e),
                    Ok(MeshResponse::Refused { reason }) => (FailureKind::Unavailable, reason),
                    Ok(response) => match check(response) {
                        Ok(value) => {
                            self.record(request, took, true);
                            self.note(peer, None);
                            self.prefer(peer);
                            return Ok(value);
                        }
                        Err(failure) => failure,
                    },
                },
            };
            self.record(request, took, false);
            tracing::warn!(chain = %self.chain, %peer, kind = %failure.0, reason = %failure.1, what = %request.what(), "serving relayer failed");
            self.note(peer, Some((failure.0, &failure.1)));
            failures.push(EndpointFailure {
                endpoint: format!("p2p:{peer}"),
                kind: failure.0,
                reason: failure.1,
            });
        }
        if failures.is_empty() {
            return Err(AdapterError::InvalidConfig(format!(
                "no relayer serves chain {} (none registered or found)",
                self.chain
            )));
        }
        Err(AdapterError::AllEndpointsFailed {
            chain_id: self.chain.clone(),
            what: request.what(),
            rounds: 1,
            failures,
        })
    }

    fn check_block(&self, height: Height, block: &LightBlock) -> Result<(), (FailureKind, String)> {
        let mut keys = self
            .keys
            .lock()
            .map_err(|_| (FailureKind::Inconsistent, "key cache poisoned".to_owned()))?;
        self_check::light_block(&self.chain, height, block, &mut keys)
            .map(|_| ())
            .map_err(|e| (FailureKind::InvalidLightBlock, e.to_string()))
    }

    async fn fetch_block(&self, height: Height) -> Result<LightBlock, AdapterError> {
        let request = MeshRequest::LightBlock {
            chain: self.chain.clone(),
            height,
        };
        self.ask(&request, |response| match response {
            MeshResponse::LightBlock { block } => {
                self.check_block(height, &block)?;
                Ok(block)
            }
            other => Err(unexpected(&other)),
        })
        .await
    }

    async fn fetch_states(&self, keys: &[Vec<u8>]) -> Result<ProvenStates, AdapterError> {
        let request = MeshRequest::States {
            chain: self.chain.clone(),
            keys: keys.iter().cloned().map(HexBytes).collect(),
        };
        self.ask(&request, |response| match response {
            MeshResponse::States {
                light_block,
                entries,
            } => {
                self.check_block(light_block.height(), &light_block)?;
                if entries.len() != keys.len() {
                    return Err((
                        FailureKind::Inconsistent,
                        format!("{} entries for {} keys", entries.len(), keys.len()),
                    ));
                }
                let mut out = Vec::with_capacity(entries.len());
                for (asked, entry) in keys.iter().zip(entries) {
                    if entry.key.0 != *asked {
                        return Err((FailureKind::Inconsistent, "entries out of order".into()));
                    }
                    let value = entry.value.map(|v| v.0);
                    self_check::state_proof(&light_block, asked, value.as_deref(), &entry.proof)
                        .map_err(|e| (FailureKind::InvalidProof, e.to_string()))?;
                    out.push(ProvenEntry {
                        key: asked.clone(),
                        value,
                        proof: entry.proof,
                    });
                }
                Ok(ProvenStates {
                    height: light_block.height(),
                    entries: out,
                    light_block,
                })
            }
            other => Err(unexpected(&other)),
        })
        .await
    }

    /// The packet events of this chain after height `since`, as a serving
    /// relayer's endpoint gives them (hints: the asker proves what it
    /// uses), with the packets of its `send_packet` events the serving
    /// relayer recorded.
    pub async fn packet_events_with_packets(
        &self,
        since: u64,
    ) -> Result<(PacketEvents, Vec<protocol::Packet>), AdapterError> {
        let request = MeshRequest::PacketEvents {
            chain: self.chain.clone(),
            since,
        };
        self.ask(&request, |response| match response {
            MeshResponse::PacketEvents { events, packets } => {
                if events.scanned_to < since && !events.events.is_empty() {
                    return Err((
                        FailureKind::Inconsistent,
                        format!(
                            "events scanned to {} when asked since {since}",
                            events.scanned_to
                        ),
                    ));
                }
                if let Some(e) = events.events.iter().find(|e| e.height.value() <= since) {
                    return Err((
                        FailureKind::Inconsistent,
                        format!("an event at height {} when asked since {since}", e.height),
                    ));
                }
                Ok((events, packets))
            }
            other => Err(unexpected(&other)),
        })
        .await
    }

    /// Hands packet messages (and the client updates they need) to a relayer
    /// serving this chain, which checks them itself and submits them under
    /// its own key. Returns each message's outcome.
    pub async fn submit_bodies(
        &self,
        bodies: Vec<TxBody>,
    ) -> Result<Vec<Result<SubmitOutcome, String>>, AdapterError> {
        let count = bodies.len();
        let request = MeshRequest::Submit {
            chain: self.chain.clone(),
            bodies,
        };
        self.ask(&request, |response| match response {
            MeshResponse::Submitted { outcomes } if outcomes.len() == count => Ok(outcomes),
            MeshResponse::Submitted { outcomes } => Err((
                FailureKind::Inconsistent,
                format!("{} outcomes for {count} messages", outcomes.len()),
            )),
            other => Err(unexpected(&other)),
        })
        .await
    }
}

/// The kind of a request, as the metrics' `kind` label names it.
pub fn request_kind(request: &MeshRequest) -> &'static str {
    match request {
        MeshRequest::Status { .. } => "status",
        MeshRequest::LightBlock { .. } => "light_block",
        MeshRequest::States { .. } => "states",
        MeshRequest::PacketEvents { .. } => "packet_events",
        MeshRequest::Submit { .. } => "submit",
        MeshRequest::RegistrySnapshot { .. } => "registry_snapshot",
    }
}

fn unexpected(response: &MeshResponse) -> (FailureKind, String) {
    let kind = match response {
        MeshResponse::Status { .. } => "status",
        MeshResponse::LightBlock { .. } => "light_block",
        MeshResponse::States { .. } => "states",
        MeshResponse::PacketEvents { .. } => "packet_events",
        MeshResponse::Submitted { .. } => "submitted",
        MeshResponse::RegistrySnapshot { .. } => "registry_snapshot",
        MeshResponse::Refused { .. } => "refused",
    };
    (
        FailureKind::Inconsistent,
        format!("answered {kind:?} to another request"),
    )
}

impl ChainAdapter for MeshChainAdapter {
    fn chain_id(&self) -> &ChainId {
        &self.chain
    }

    fn status(&self) -> BoxFuture<'_, Result<ChainStatus, AdapterError>> {
        Box::pin(async move {
            let request = MeshRequest::Status {
                chain: self.chain.clone(),
            };
            self.ask(&request, |response| match response {
                MeshResponse::Status { status } => {
                    self_check::is_chain(&self.chain, &status.chain_id)
                        .map_err(|e| (FailureKind::WrongChain, e.to_string()))?;
                    Ok(status)
                }
                other => Err(unexpected(&other)),
            })
            .await
        })
    }

    fn light_block(&self, height: Height) -> BoxFuture<'_, Result<LightBlock, AdapterError>> {
        Box::pin(self.fetch_block(height))
    }

    fn validators(&self, height: Height) -> BoxFuture<'_, Result<ValidatorSet, AdapterError>> {
        Box::pin(async move { Ok(self.fetch_block(height).await?.validators) })
    }

    fn state<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<ProvenState, AdapterError>> {
        Box::pin(async move {
            let mut proven = self.fetch_states(&[key.to_vec()]).await?;
            let entry = proven
                .entries
                .pop()
                .ok_or_else(|| AdapterError::InvalidRequest("no entry for the key asked".into()))?;
            Ok(ProvenState {
                key: entry.key,
                height: proven.height,
                value: entry.value,
                proof: entry.proof,
                light_block: proven.light_block,
            })
        })
    }

    fn states<'a>(
        &'a self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<ProvenStates, AdapterError>> {
        Box::pin(self.fetch_states(keys))
    }

    fn submit<'a>(
        &'a self,
        _tx: &'a SignedTransaction,
    ) -> BoxFuture<'a, Result<SubmitOutcome, AdapterError>> {
        Box::pin(async move { Err(not_forwarded(&self.chain)) })
    }

    fn submit_batch<'a>(
        &'a self,
        _txs: &'a [SignedTransaction],
    ) -> BoxFuture<'a, Result<Vec<Result<SubmitOutcome, String>>, AdapterError>> {
        Box::pin(async move { Err(not_forwarded(&self.chain)) })
    }

    /// The events as a serving relayer's endpoint gives them: hints only
    /// (the relay engine scans chains it serves; the regulator's
    /// supervision node follows every chain this way and proves what it
    /// logs).
    fn packet_events(&self, since: u64) -> BoxFuture<'_, Result<PacketEvents, AdapterError>> {
        Box::pin(async move { Ok(self.packet_events_with_packets(since).await?.0) })
    }

    fn block_stream(&self) -> BlockStream {
        // The serving relayers' status, polled: a new height is a new block.
        let (chain, network, serving, interval) = (
            self.chain.clone(),
            self.network.clone(),
            self.serving(),
            self.poll_interval,
        );
        let mut adapter = MeshChainAdapter::new(chain, network, serving, interval);
        adapter.metrics = self.metrics.clone();
        Box::pin(futures::stream::unfold(
            (adapter, Height::GENESIS),
            |(adapter, last)| async move {
                loop {
                    tokio::time::sleep(adapter.poll_interval).await;
                    if let Ok(status) = adapter.status().await
                        && status.latest_height > last
                    {
                        let height = status.latest_height;
                        return Some((height, (adapter, height)));
                    }
                }
            },
        ))
    }

    fn endpoint_stats(&self) -> Vec<EndpointStats> {
        let Ok(records) = self.records.lock() else {
            return Vec::new();
        };
        self.serving()
            .into_iter()
            .map(|peer| {
                let r = records.get(&peer);
                EndpointStats {
                    url: format!("p2p:{peer}"),
                    requests: r.map_or(0, |r| r.requests),
                    errors: r.map_or(0, |r| r.errors),
                    faults: r.map_or(0, |r| r.faults),
                    errors_by_kind: r.map(|r| r.errors_by_kind.clone()).unwrap_or_default(),
                    healthy: r.is_none_or(|r| r.last_error.is_none()),
                    last_error: r.and_then(|r| r.last_error.clone()),
                }
            })
            .collect()
    }
}

fn not_forwarded(chain: &ChainId) -> AdapterError {
    AdapterError::InvalidRequest(format!(
        "signed transactions are not forwarded to {chain}: its serving relayers submit under their own keys (MeshChainAdapter::submit_bodies)"
    ))
}
