//! Prometheus metrics of the relayer (served at `/metrics` in the text
//! format).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use protocol::ChainId;

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

/// Labels naming an RPC endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The chain.
    pub chain: String,
    /// The endpoint URL.
    pub endpoint: String,
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
    rpc_errors: Family<EndpointLabels, Gauge>,
    backlog: Gauge,
    store_bytes: Gauge,
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
        Metrics {
            inner: Arc::new(Inner {
                registry: std::sync::Mutex::new(registry),
                relayed,
                failed,
                header_verification,
                rpc_errors,
                backlog,
                store_bytes,
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

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.inner.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

fn labels(source: &ChainId, destination: &ChainId) -> PathLabels {
    PathLabels {
        source: source.to_string(),
        destination: destination.to_string(),
    }
}
