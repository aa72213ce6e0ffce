//! Prometheus metrics of the relayer (served at `/metrics` in the text
//! format).
//!
//! The mesh's metrics (all `relayer_mesh_*`) come from two sources:
//! - counted where they happen: gossip received, published and judged per
//!   topic kind (`light_blocks`, `registrations`, `governance`,
//!   `attestations`) by the mesh service; requests sent per kind and the
//!   round-trip time per destination chain by the mesh adapter; requests
//!   served per kind by the mesh service;
//! - snapshotted from the network task's [`network::NetworkStats`]
//!   ([`Metrics::snapshot_network`]): peers connected, connections refused
//!   per direction, envelopes rejected, peers banned, events dropped. The
//!   snapshot is taken on every scrape of the API's `/metrics` and every
//!   [`NETWORK_SNAPSHOT_INTERVAL`] by the mesh service (so the telemetry
//!   endpoint is at most that stale).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use protocol::ChainId;

/// How often the mesh service copies the network's counters into the
/// metrics (besides each scrape of the API's `/metrics`).
pub const NETWORK_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(5);

/// Round-trip samples kept per destination chain for the percentiles of
/// [`Metrics::route_latency`].
const LATENCY_SAMPLES: usize = 1024;

/// Labels naming a path direction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    /// Source chain.
    pub source: String,
    /// Destination chain.
    pub destination: String,
}

/// Labels naming a chain.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChainLabels {
    /// The chain.
    pub chain: String,
}

/// Labels of a light block the relayer's light client refused: the chain
/// and the kind of refusal (`from_future`, `trust_expired`,
/// `anchor_mismatch`, `broken_hash_chain`, `below_trusted`, `misbehaviour`,
/// `frozen`, `invalid`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The chain.
    pub chain: String,
    /// The kind of refusal.
    pub reason: String,
}

/// Labels naming an RPC endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The chain.
    pub chain: String,
    /// The endpoint's name: `rpc[i]` or `p2p:<peer id>`, never its URL.
    pub endpoint: String,
}

/// Labels naming a gossip topic kind: `light_blocks`, `registrations`,
/// `governance` or `attestations`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    /// The topic kind ([`topic_kind`]).
    pub topic: String,
}

/// Labels naming a connection direction: `inbound` or `outbound`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabels {
    /// The direction.
    pub direction: String,
}

/// Labels naming what a rejected envelope was: `gossip` or `request`
/// (requests and responses).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvelopeLabels {
    /// What it carried.
    pub what: String,
}

/// Labels of a mesh request: its kind (`status`, `light_block`, `states`,
/// `submit`) and outcome (`answered` or `failed`; served: `answered` or
/// `refused`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The kind of request.
    pub kind: String,
    /// How it ended.
    pub outcome: String,
}

/// Percentiles of the recent round trips to the relayers of one chain.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    /// Samples the percentiles are taken over (the latest, at most 1024).
    pub samples: usize,
    /// Median round trip in seconds.
    pub p50_seconds: f64,
    /// 99th percentile in seconds.
    pub p99_seconds: f64,
}

/// The kind of a gossip topic, as the `topic` label names it (light blocks
/// of every chain are one kind, so the label's values stay few).
pub fn topic_kind(topic: &network::Topic) -> &'static str {
    match topic {
        network::Topic::LightBlocks(_) => "light_blocks",
        network::Topic::Registrations => "registrations",
        network::Topic::Governance => "governance",
        network::Topic::Attestations => "attestations",
    }
}

/// The mesh's metric families.
struct MeshMetrics {
    peers_connected: Gauge,
    connections_refused: Family<DirectionLabels, Counter>,
    envelopes_rejected: Family<EnvelopeLabels, Counter>,
    peers_banned: Counter,
    events_dropped: Counter,
    discovery_lookups: Counter,
    discovery_dials: Counter,
    gossip_received: Family<TopicLabels, Counter>,
    gossip_published: Family<TopicLabels, Counter>,
    gossip_accepted: Family<TopicLabels, Counter>,
    gossip_rejected: Family<TopicLabels, Counter>,
    gossip_ignored: Family<TopicLabels, Counter>,
    requests_sent: Family<RequestLabels, Counter>,
    requests_served: Family<RequestLabels, Counter>,
    registry_items_merged: Counter,
    registry_items_rejected: Counter,
    route_latency: Family<ChainLabels, Histogram>,
    /// The latest round trips per chain, for percentiles.
    latency_samples: std::sync::Mutex<BTreeMap<String, VecDeque<f64>>>,
    /// Serializes snapshots (each raises counters to the network's values).
    snapshot: std::sync::Mutex<()>,
}

impl MeshMetrics {
    fn register(registry: &mut Registry) -> MeshMetrics {
        let m = MeshMetrics {
            peers_connected: Gauge::default(),
            connections_refused: Family::default(),
            envelopes_rejected: Family::default(),
            peers_banned: Counter::default(),
            events_dropped: Counter::default(),
            discovery_lookups: Counter::default(),
            discovery_dials: Counter::default(),
            gossip_received: Family::default(),
            gossip_published: Family::default(),
            gossip_accepted: Family::default(),
            gossip_rejected: Family::default(),
            gossip_ignored: Family::default(),
            requests_sent: Family::default(),
            requests_served: Family::default(),
            registry_items_merged: Counter::default(),
            registry_items_rejected: Counter::default(),
            route_latency: Family::<ChainLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            latency_samples: std::sync::Mutex::new(BTreeMap::new()),
            snapshot: std::sync::Mutex::new(()),
        };
        let r = registry.sub_registry_with_prefix("mesh");
        r.register(
            "peers_connected",
            "Mesh peers with an open connection now",
            m.peers_connected.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused by admission (peer not in the allow-list, or banned), by direction",
            m.connections_refused.clone(),
        );
        r.register(
            "envelopes_rejected",
            "Signed envelopes dropped because their checks failed (gossip, or requests and responses)",
            m.envelopes_rejected.clone(),
        );
        r.register(
            "peers_banned",
            "Peers banned after too many strikes",
            m.peers_banned.clone(),
        );
        r.register(
            "events_dropped",
            "Network events dropped because the relayer was too slow to take them",
            m.events_dropped.clone(),
        );
        r.register(
            "discovery_lookups",
            "Kademlia lookups of admitted peers this relayer had no connection to",
            m.discovery_lookups.clone(),
        );
        r.register(
            "discovery_dials",
            "Dials to the addresses those lookups found",
            m.discovery_dials.clone(),
        );
        r.register(
            "gossip_received",
            "Gossip messages with a valid envelope handed to the relayer, by topic kind",
            m.gossip_received.clone(),
        );
        r.register(
            "gossip_published",
            "Gossip messages this relayer published, by topic kind",
            m.gossip_published.clone(),
        );
        r.register(
            "gossip_accepted",
            "Gossip messages the relayer judged valid (forwarded), by topic kind",
            m.gossip_accepted.clone(),
        );
        r.register(
            "gossip_rejected",
            "Gossip messages the relayer judged forged or malformed (author penalised), by topic kind",
            m.gossip_rejected.clone(),
        );
        r.register(
            "gossip_ignored",
            "Gossip messages dropped without penalty (not of interest, or late), by topic kind",
            m.gossip_ignored.clone(),
        );
        r.register(
            "requests_sent",
            "Requests to relayers serving other chains, per attempted peer, by kind and outcome",
            m.requests_sent.clone(),
        );
        r.register(
            "requests_served",
            "Requests of other relayers answered (or refused) here, by kind",
            m.requests_served.clone(),
        );
        r.register(
            "registry_items_merged",
            "Proposals and approvals from peers' registry snapshots (catch-up) that changed the registry here",
            m.registry_items_merged.clone(),
        );
        r.register(
            "registry_items_rejected",
            "Forged or malformed proposals and approvals in peers' registry snapshots (peer penalised)",
            m.registry_items_rejected.clone(),
        );
        r.register(
            "route_latency_seconds",
            "Round trip of a request to a relayer serving the chain, by destination chain",
            m.route_latency.clone(),
        );
        m
    }
}

/// The relayer's metrics; cheap to clone (shared inside).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: std::sync::Mutex<Registry>,
    relayed: Family<PathLabels, Counter>,
    failed: Family<PathLabels, Counter>,
    header_verification: Family<ChainLabels, Histogram>,
    light_blocks_refused: Family<RefusalLabels, Counter>,
    batch_submissions: Family<ChainLabels, Histogram>,
    batch_messages: Family<ChainLabels, Histogram>,
    rpc_errors: Family<EndpointLabels, Gauge>,
    backlog: Gauge,
    store_bytes: Gauge,
    mesh: MeshMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics registered under the `relayer` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("relayer");
        let relayed = Family::<PathLabels, Counter>::default();
        let failed = Family::<PathLabels, Counter>::default();
        let header_verification = Family::<ChainLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let light_blocks_refused = Family::<RefusalLabels, Counter>::default();
        let batch_submissions = Family::<ChainLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1.0, 2.0, 8))
        });
        let batch_messages = Family::<ChainLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1.0, 2.0, 14))
        });
        let rpc_errors = Family::<EndpointLabels, Gauge>::default();
        let backlog = Gauge::default();
        let store_bytes = Gauge::default();
        registry.register(
            "packets_relayed",
            "Packets moved one step (received, acknowledged, timed out) per path",
            relayed.clone(),
        );
        registry.register(
            "packets_failed",
            "Failed relay attempts per path (retried)",
            failed.clone(),
        );
        registry.register(
            "header_verification_seconds",
            "Time to verify a light block with the relayer's light client",
            header_verification.clone(),
        );
        registry.register(
            "light_blocks_refused",
            "Light blocks the relayer's light client refused, per chain and kind of refusal",
            light_blocks_refused.clone(),
        );
        registry.register(
            "batch_submissions",
            "Submissions (of stages, paths and handed-over deliveries) sent together in one batch to a chain: group commit",
            batch_submissions.clone(),
        );
        registry.register(
            "batch_messages",
            "Messages in one batch sent to a chain",
            batch_messages.clone(),
        );
        registry.register(
            "rpc_errors",
            "Errors and faults per RPC endpoint since start",
            rpc_errors.clone(),
        );
        registry.register(
            "pending_packets",
            "Packets not yet acknowledged or timed out",
            backlog.clone(),
        );
        registry.register(
            "store_bytes",
            "Size of the relayer's store on disk",
            store_bytes.clone(),
        );
        let mesh = MeshMetrics::register(&mut registry);
        Metrics {
            inner: Arc::new(Inner {
                registry: std::sync::Mutex::new(registry),
                relayed,
                failed,
                header_verification,
                light_blocks_refused,
                batch_submissions,
                batch_messages,
                rpc_errors,
                backlog,
                store_bytes,
                mesh,
            }),
        }
    }

    /// Counts packets moved on a path.
    pub fn relayed(&self, source: &ChainId, destination: &ChainId, n: u64) {
        self.inner
            .relayed
            .get_or_create(&labels(source, destination))
            .inc_by(n);
    }

    /// Counts failed attempts on a path.
    pub fn failed(&self, source: &ChainId, destination: &ChainId, n: u64) {
        self.inner
            .failed
            .get_or_create(&labels(source, destination))
            .inc_by(n);
    }

    /// Records one header verification.
    pub fn observe_header_verification(&self, chain: &ChainId, took: Duration) {
        self.inner
            .header_verification
            .get_or_create(&ChainLabels {
                chain: chain.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a light block of `chain` the relayer's light client refused,
    /// by kind of refusal.
    pub fn light_block_refused(&self, chain: &ChainId, reason: &str) {
        self.inner
            .light_blocks_refused
            .get_or_create(&RefusalLabels {
                chain: chain.to_string(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// How many light blocks of `chain` were refused for `reason`.
    pub fn light_blocks_refused(&self, chain: &ChainId, reason: &str) -> u64 {
        self.inner
            .light_blocks_refused
            .get_or_create(&RefusalLabels {
                chain: chain.to_string(),
                reason: reason.to_owned(),
            })
            .get()
    }

    /// Records one batch sent to `chain`: how many submissions it grouped
    /// and how many messages it carried.
    pub fn observe_batch(&self, chain: &ChainId, submissions: usize, messages: usize) {
        let labels = ChainLabels {
            chain: chain.to_string(),
        };
        self.inner
            .batch_submissions
            .get_or_create(&labels)
            .observe(submissions as f64);
        self.inner
            .batch_messages
            .get_or_create(&labels)
            .observe(messages as f64);
    }

    /// Sets an endpoint's error count.
    pub fn set_rpc_errors(&self, chain: &ChainId, endpoint: &str, errors: u64) {
        self.inner
            .rpc_errors
            .get_or_create(&EndpointLabels {
                chain: chain.to_string(),
                endpoint: endpoint.to_owned(),
            })
            .set(i64::try_from(errors).unwrap_or(i64::MAX));
    }

    /// Sets the pending backlog.
    pub fn set_backlog(&self, pending: u64) {
        self.inner
            .backlog
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// Sets the store size.
    pub fn set_store_bytes(&self, bytes: u64) {
        self.inner
            .store_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Counts a gossip message handed to the relayer on `topic`.
    pub fn gossip_received(&self, topic: &network::Topic) {
        self.inner
            .mesh
            .gossip_received
            .get_or_create(&topic_labels(topic))
            .inc();
    }

    /// Counts a gossip message this relayer published on `topic`.
    pub fn gossip_published(&self, topic: &network::Topic) {
        self.inner
            .mesh
            .gossip_published
            .get_or_create(&topic_labels(topic))
            .inc();
    }

    /// Counts the relayer's judgement of a gossip message on `topic`.
    pub fn gossip_judged(&self, topic: &network::Topic, verdict: network::Verdict) {
        let family = match verdict {
            network::Verdict::Accept => &self.inner.mesh.gossip_accepted,
            network::Verdict::Reject => &self.inner.mesh.gossip_rejected,
            network::Verdict::Ignore => &self.inner.mesh.gossip_ignored,
        };
        family.get_or_create(&topic_labels(topic)).inc();
    }

    /// Counts one request sent to a serving relayer (`answered`: it gave an
    /// answer that passed the checks).
    pub fn request_sent(&self, kind: &str, answered: bool) {
        self.inner
            .mesh
            .requests_sent
            .get_or_create(&RequestLabels {
                kind: kind.to_owned(),
                outcome: if answered { "answered" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    /// Counts one request of another relayer served here (`answered`, or
    /// refused).
    pub fn request_served(&self, kind: &str, answered: bool) {
        self.inner
            .mesh
            .requests_served
            .get_or_create(&RequestLabels {
                kind: kind.to_owned(),
                outcome: if answered { "answered" } else { "refused" }.to_owned(),
            })
            .inc();
    }

    /// Counts the items of a peer's registry snapshot merged here
    /// (`merged`: they changed the registry) and refused (`rejected`).
    pub fn registry_catch_up(&self, merged: u64, rejected: u64) {
        self.inner.mesh.registry_items_merged.inc_by(merged);
        self.inner.mesh.registry_items_rejected.inc_by(rejected);
    }

    /// Records one round trip to a relayer serving `chain`.
    pub fn observe_route_latency(&self, chain: &ChainId, took: Duration) {
        let seconds = took.as_secs_f64();
        self.inner
            .mesh
            .route_latency
            .get_or_create(&ChainLabels {
                chain: chain.to_string(),
            })
            .observe(seconds);
        if let Ok(mut samples) = self.inner.mesh.latency_samples.lock() {
            let samples = samples.entry(chain.to_string()).or_default();
            if samples.len() == LATENCY_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(seconds);
        }
    }

    /// The median and 99th percentile of the latest round trips to the
    /// relayers serving `chain`; `None` before the first.
    pub fn route_latency(&self, chain: &ChainId) -> Option<LatencySummary> {
        let samples = self.inner.mesh.latency_samples.lock().ok()?;
        let mut sorted: Vec<f64> = samples.get(chain.as_str())?.iter().copied().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(LatencySummary {
            samples: sorted.len(),
            p50_seconds: percentile(&sorted, 50),
            p99_seconds: percentile(&sorted, 99),
        })
    }

    /// Copies the network task's counters: the gauge is set, each counter
    /// raised to the network's value (they only grow, as the network's do).
    pub fn snapshot_network(&self, stats: &network::NetworkStats) {
        let mesh = &self.inner.mesh;
        let Ok(_one_at_a_time) = mesh.snapshot.lock() else {
            return;
        };
        mesh.peers_connected
            .set(i64::try_from(stats.peers_connected).unwrap_or(i64::MAX));
        let raise = |counter: &Counter, to: u64| {
            let now = counter.get();
            if to > now {
                counter.inc_by(to - now);
            }
        };
        for (direction, value) in [
            ("inbound", stats.connections_refused_inbound),
            ("outbound", stats.connections_refused_outbound),
        ] {
            raise(
                &mesh.connections_refused.get_or_create(&DirectionLabels {
                    direction: direction.to_owned(),
                }),
                value,
            );
        }
        for (what, value) in [
            ("gossip", stats.gossip_invalid),
            ("request", stats.requests_invalid),
        ] {
            raise(
                &mesh.envelopes_rejected.get_or_create(&EnvelopeLabels {
                    what: what.to_owned(),
                }),
                value,
            );
        }
        raise(&mesh.peers_banned, stats.bans);
        raise(&mesh.events_dropped, stats.events_dropped);
        raise(&mesh.discovery_lookups, stats.discovery_lookups);
        raise(&mesh.discovery_dials, stats.discovery_dials);
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.inner.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

fn topic_labels(topic: &network::Topic) -> TopicLabels {
    TopicLabels {
        topic: topic_kind(topic).to_owned(),
    }
}

/// The nearest-rank `p`th percentile of `sorted` (not empty).
fn percentile(sorted: &[f64], p: usize) -> f64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

fn labels(source: &ChainId, destination: &ChainId) -> PathLabels {
    PathLabels {
        source: source.to_string(),
        destination: destination.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesh_metrics_are_exported_under_their_names() {
        let metrics = Metrics::new();
        let shaanxi: ChainId = "shaanxi".parse().unwrap();
        metrics.gossip_received(&network::Topic::LightBlocks(shaanxi.clone()));
        metrics.gossip_judged(
            &network::Topic::LightBlocks(shaanxi.clone()),
            network::Verdict::Reject,
        );
        metrics.gossip_published(&network::Topic::Governance);
        metrics.request_sent("light_block", true);
        metrics.request_served("states", false);
        metrics.observe_route_latency(&shaanxi, Duration::from_millis(20));
        let stats = network::NetworkStats {
            peers_connected: 2,
            connections_refused_inbound: 3,
            bans: 1,
            ..Default::default()
        };
        metrics.snapshot_network(&stats);
        // A second snapshot of the same values adds nothing.
        metrics.snapshot_network(&stats);
        let text = metrics.encode();
        for line in [
            "relayer_mesh_peers_connected 2",
            "relayer_mesh_connections_refused_total{direction=\"inbound\"} 3",
            "relayer_mesh_peers_banned_total 1",
            "relayer_mesh_gossip_received_total{topic=\"light_blocks\"} 1",
            "relayer_mesh_gossip_rejected_total{topic=\"light_blocks\"} 1",
            "relayer_mesh_gossip_published_total{topic=\"governance\"} 1",
            "relayer_mesh_requests_sent_total{kind=\"light_block\",outcome=\"answered\"} 1",
            "relayer_mesh_requests_served_total{kind=\"states\",outcome=\"refused\"} 1",
            "relayer_mesh_route_latency_seconds_count{chain=\"shaanxi\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn route_latency_percentiles() {
        let metrics = Metrics::new();
        let chain: ChainId = "guangdong".parse().unwrap();
        assert_eq!(metrics.route_latency(&chain), None);
        for ms in 1..=100 {
            metrics.observe_route_latency(&chain, Duration::from_millis(ms));
        }
        let summary = metrics.route_latency(&chain).unwrap();
        assert_eq!(summary.samples, 100);
        assert!((summary.p50_seconds - 0.050).abs() < 1e-9, "{summary:?}");
        assert!((summary.p99_seconds - 0.099).abs() < 1e-9, "{summary:?}");
        // Only the latest samples count.
        for _ in 0..LATENCY_SAMPLES {
            metrics.observe_route_latency(&chain, Duration::from_secs(1));
        }
        let summary = metrics.route_latency(&chain).unwrap();
        assert_eq!(summary.samples, LATENCY_SAMPLES);
        assert_eq!(summary.p50_seconds, 1.0);
    }
}
