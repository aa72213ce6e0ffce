//! The endpoints of one chain: which to try first, and their counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use protocol::{ChainId, Hash};

use crate::{AdapterError, EndpointFailure, EndpointStats, FailureKind};

/// Why one attempt failed, before it is attributed to its endpoint.
#[derive(Debug)]
pub(crate) struct Failure {
    pub kind: FailureKind,
    pub reason: String,
    /// Set when a transaction may have reached the endpoint: the request
    /// must not be sent elsewhere.
    pub uncertain_tx: Option<Hash>,
}

impl Failure {
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Failure {
        Failure {
            kind,
            reason: reason.into(),
            uncertain_tx: None,
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: u64,
    errors: u64,
    faults: u64,
    by_kind: BTreeMap<FailureKind, u64>,
    last_error: Option<String>,
    quarantined_until: Option<Instant>,
}

/// One RPC endpoint.
pub(crate) struct Endpoint {
    /// Base URL without a trailing slash.
    pub url: String,
    counters: Mutex<Counters>,
}

impl Endpoint {
    fn counters(&self) -> MutexGuard<'_, Counters> {
        // Counters stay consistent even if a holder panicked: take them.
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn quarantined(&self, now: Instant) -> Option<Instant> {
        self.counters().quarantined_until.filter(|&t| t > now)
    }
}

/// The endpoints of a chain, tried healthy ones first, starting from the
/// one that last answered well.
pub(crate) struct Pool {
    pub chain_id: ChainId,
    endpoints: Vec<Endpoint>,
    current: AtomicUsize,
    quarantine: Duration,
}

impl Pool {
    pub fn new(chain_id: ChainId, urls: Vec<String>, quarantine: Duration) -> Pool {
        Pool {
            chain_id,
            endpoints: urls
                .into_iter()
                .map(|url| Endpoint {
                    url,
                    counters: Mutex::new(Counters::default()),
                })
                .collect(),
            current: AtomicUsize::new(0),
            quarantine,
        }
    }

    /// The endpoint at `index` (an index from [`Pool::order`]).
    pub fn url(&self, index: usize) -> &str {
        self.endpoints.get(index).map_or("", |e| e.url.as_str())
    }

    /// Indices in the order to try them: healthy endpoints from the current
    /// one on, then quarantined ones, soonest released first.
    pub fn order(&self) -> Vec<usize> {
        let n = self.endpoints.len();
        let now = Instant::now();
        let start = self.current.load(Ordering::Relaxed) % n.max(1);
        let mut healthy = Vec::with_capacity(n);
        let mut aside = Vec::new();
        for i in (start..n).chain(0..start) {
            match self.endpoints.get(i).and_then(|e| e.quarantined(now)) {
                None => healthy.push(i),
                Some(until) => aside.push((until, i)),
            }
        }
        aside.sort();
        healthy.extend(aside.into_iter().map(|(_, i)| i));
        healthy
    }

    /// Counts one HTTP request to `index`.
    pub fn record_request(&self, index: usize) {
        if let Some(e) = self.endpoints.get(index) {
            e.counters().requests += 1;
        }
    }

    /// `index` answered well: it becomes the first to try, and healthy.
    pub fn succeeded(&self, index: usize) {
        if let Some(e) = self.endpoints.get(index) {
            e.counters().quarantined_until = None;
            let previous = self.current.swap(index, Ordering::Relaxed);
            if previous != index {
                tracing::info!(chain = %self.chain_id, endpoint = %e.url, "now using endpoint");
            }
        }
    }

    /// Attributes a failure to `index`: counts it, logs it, puts the
    /// endpoint aside for the quarantine time.
    pub fn failed(&self, index: usize, failure: &Failure) -> EndpointFailure {
        let url = self.url(index).to_owned();
        if let Some(e) = self.endpoints.get(index) {
            let mut c = e.counters();
            c.errors += 1;
            if failure.kind.is_fault() {
                c.faults += 1;
            }
            *c.by_kind.entry(failure.kind).or_default() += 1;
            c.last_error = Some(format!("{}: {}", failure.kind, failure.reason));
            // A node that only lacks what was asked (e.g. a block not yet
            // produced) is not put aside.
            if failure.kind != FailureKind::Unavailable {
                let now = Instant::now();
                c.quarantined_until = now
                    .checked_add(self.quarantine)
                    .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)));
            }
        }
        if failure.kind.is_fault() {
            tracing::warn!(chain = %self.chain_id, endpoint = %url, kind = %failure.kind,
                reason = %failure.reason, "faulty endpoint: answer does not verify, discarded");
        } else {
            tracing::warn!(chain = %self.chain_id, endpoint = %url, kind = %failure.kind,
                reason = %failure.reason, "endpoint failed");
        }
        EndpointFailure {
            endpoint: url,
            kind: failure.kind,
            reason: failure.reason.clone(),
        }
    }

    /// A copy of every endpoint's counters.
    pub fn stats(&self) -> Vec<EndpointStats> {
        let now = Instant::now();
        self.endpoints
            .iter()
            .map(|e| {
                let c = e.counters();
                EndpointStats {
                    url: e.url.clone(),
                    requests: c.requests,
                    errors: c.errors,
                    faults: c.faults,
                    errors_by_kind: c.by_kind.clone(),
                    healthy: c.quarantined_until.is_none_or(|t| t <= now),
                    last_error: c.last_error.clone(),
                }
            })
            .collect()
    }
}

/// Checks and normalizes an endpoint's base URL.
pub(crate) fn parse_endpoint(raw: &str) -> Result<String, AdapterError> {
    let bad = |reason: &str| AdapterError::InvalidConfig(format!("endpoint {raw:?}: {reason}"));
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(bad(
                "https is not supported by this build (no TLS); use http, e.g. behind a local TLS-terminating proxy",
            ));
        }
        other => return Err(bad(&format!("scheme {other:?}, expected http"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a base URL takes no query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Pool {
        Pool::new(
            "shaanxi".parse().unwrap(),
            (0..n).map(|i| format!("http://h{i}")).collect(),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn failed_endpoints_go_last_and_success_moves_the_start() {
        let p = pool(3);
        assert_eq!(p.order(), [0, 1, 2]);
        p.failed(0, &Failure::new(FailureKind::Timeout, "slow"));
        assert_eq!(p.order(), [1, 2, 0]);
        p.succeeded(2);
        assert_eq!(p.order(), [2, 1, 0]);
        p.failed(1, &Failure::new(FailureKind::InvalidProof, "bad"));
        assert_eq!(p.order(), [2, 0, 1]);
        let stats = p.stats();
        assert_eq!(
            (stats[0].errors, stats[0].faults, stats[0].healthy),
            (1, 0, false)
        );
        assert_eq!((stats[1].errors, stats[1].faults), (1, 1));
        assert_eq!(stats[1].last_error.as_deref(), Some("invalid_proof: bad"));
        assert!(stats[2].healthy);
        // Unavailable is not put aside.
        p.failed(2, &Failure::new(FailureKind::Unavailable, "no block 9"));
        assert_eq!(p.order()[0], 2);
    }

    #[test]
    fn endpoint_urls_are_checked() {
        assert_eq!(
            parse_endpoint("http://127.0.0.1:26657/").unwrap(),
            "http://127.0.0.1:26657"
        );
        assert_eq!(
            parse_endpoint("http://proxy/chains/shaanxi/").unwrap(),
            "http://proxy/chains/shaanxi"
        );
        for bad in ["", "127.0.0.1:80", "ftp://x", "https://x", "http://x/?a=1"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
