//! `/chains`, `/health` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::error::without_urls;
use super::{ApiError, ApiState, Caller};
use crate::config::TokenRole;
use crate::engine::ChainRuntime;

/// How long a chain may take to answer its status before it counts as
/// unreachable.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the background survey asks every chain for its status.
pub const HEALTH_REFRESH: Duration = Duration::from_secs(2);

/// How long `/health` and `/chains` wait for the first survey.
const FIRST_SURVEY_WAIT: Duration = Duration::from_secs(15);

/// The content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One chain as the latest survey saw it.
struct ChainView {
    id: String,
    /// Its status, or why it could not be read (endpoint URLs removed).
    status: Result<adapters::ChainStatus, String>,
    trusted_height: Option<u64>,
    frozen: bool,
    runtime: Arc<ChainRuntime>,
}

/// Every chain as one survey saw it.
pub(super) struct Survey {
    chains: Vec<ChainView>,
    at: protocol::Time,
}

/// The latest survey of the chains, kept fresh by [`refresh`]: `/health`
/// and `/chains` answer from it, so no request makes the relayer ask every
/// chain (a cheap way to flood the endpoints otherwise).
#[derive(Clone)]
pub(super) struct HealthCache {
    latest: tokio::sync::watch::Sender<Option<Arc<Survey>>>,
}

impl HealthCache {
    /// A cache with no survey yet.
    pub(super) fn new() -> HealthCache {
        HealthCache {
            latest: tokio::sync::watch::Sender::new(None),
        }
    }

    /// The latest survey; waits for the first one, at most
    /// [`FIRST_SURVEY_WAIT`].
    async fn latest(&self) -> Result<Arc<Survey>, ApiError> {
        let mut rx = self.latest.subscribe();
        let first = tokio::time::timeout(FIRST_SURVEY_WAIT, rx.wait_for(Option::is_some)).await;
        match first {
            Ok(Ok(survey)) => Ok(survey.clone().expect("waited for Some")),
            _ => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the chains have not been surveyed yet; retry shortly",
            )
            .with("status", "starting")),
        }
    }
}

/// Surveys every chain every [`HEALTH_REFRESH`], for as long as it runs.
pub(super) async fn refresh(state: ApiState) {
    loop {
        let survey = survey(&state).await;
        state.health.latest.send_replace(Some(Arc::new(survey)));
        tokio::time::sleep(HEALTH_REFRESH).await;
    }
}

/// Asks every chain for its status at once.
async fn survey(state: &ApiState) -> Survey {
    let mut tasks = JoinSet::new();
    for runtime in state.engine.chains() {
        let runtime = runtime.clone();
        tasks.spawn(async move {
            let status =
                match tokio::time::timeout(STATUS_TIMEOUT, runtime.adapter().status()).await {
                    Ok(Ok(s)) => Ok(s),
                    // Adapter errors name the endpoints' URLs.
                    Ok(Err(e)) => Err(without_urls(&e.to_string())),
                    Err(_) => Err(format!("no answer within {STATUS_TIMEOUT:?}")),
                };
            let trusted_height = runtime
                .trusted_height()
                .await
                .ok()
                .flatten()
                .map(|h| h.value());
            ChainView {
                id: runtime.id().to_string(),
                status,
                trusted_height,
                frozen: runtime.is_frozen().await,
                runtime,
            }
        });
    }
    let mut chains = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(view) = done {
            chains.push(view);
        }
    }
    chains.sort_by(|a, b| a.id.cmp(&b.id));
    Survey {
        chains,
        at: crate::engine::wall_clock(),
    }
}

/// The name an endpoint is shown by: `rpc[i]` (its place in the chain's
/// `rpc` list) for a URL, which may hold a secret or an internal host; a
/// mesh endpoint (`p2p:<peer id>`) as it is.
pub(super) fn endpoint_name(index: usize, url: &str) -> String {
    if url.starts_with(super::network::PEER_ENDPOINT) {
        url.to_owned()
    } else {
        format!("rpc[{index}]")
    }
}

/// A chain's endpoints' counters as JSON, without their URLs.
pub(super) fn endpoints_json(runtime: &ChainRuntime) -> Value {
    let endpoints: Vec<Value> = runtime
        .adapter()
        .endpoint_stats()
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            json!({
                "endpoint": endpoint_name(i, &e.url),
                "requests": e.requests,
                "errors": e.errors,
                "faults": e.faults,
                "errors_by_kind": e.errors_by_kind,
                "healthy": e.healthy,
                "last_error": e.last_error.as_deref().map(without_urls),
            })
        })
        .collect();
    Value::Array(endpoints)
}

/// `GET /chains`: per chain its latest height (from the latest survey) and
/// the relayer's light client; the RPC endpoints' counters for an operator.
pub(super) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let survey = state.health.latest().await?;
    let chains: Vec<Value> = survey
        .chains
        .iter()
        .map(|v| {
            let (latest_height, latest_time, error) = match &v.status {
                Ok(s) => (
                    Some(s.latest_height.value()),
                    Some(json!(s.latest_time)),
                    None,
                ),
                Err(e) => (None, None, Some(e.clone())),
            };
            let mut chain = json!({
                "id": v.id,
                "reachable": v.status.is_ok(),
                "latest_height": latest_height,
                "latest_time": latest_time,
                "error": error,
                "light_client": {
                    "trusted_height": v.trusted_height,
                    "frozen": v.frozen,
                },
                // Why the network registry stopped its traffic (frozen or
                // deregistered by governance), if it did.
                "stopped_by_registry": v.runtime.suspension(),
            });
            // How the relayer reaches a chain is the operator's business.
            if caller.role == TokenRole::Operator {
                chain["endpoints"] = endpoints_json(&v.runtime);
            }
            chain
        })
        .collect();
    Ok(Json(json!({ "chains": chains, "surveyed_at": survey.at })))
}

/// `GET /health`: from the latest survey, 200 when every chain answered and
/// no light client is frozen, else 503 naming the chains that do not.
pub(super) async fn health(State(state): State<ApiState>) -> Response {
    let survey = match state.health.latest().await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let mut problems = Vec::new();
    let chains: Vec<Value> = survey
        .chains
        .iter()
        .map(|v| {
            if let Err(e) = &v.status {
                problems.push(format!("{} is unreachable ({e})", v.id));
            }
            if v.frozen {
                problems.push(format!("{}'s light client is frozen", v.id));
            }
            json!({
                "id": v.id,
                "reachable": v.status.is_ok(),
                "latest_height": v.status.as_ref().ok().map(|s| s.latest_height.value()),
                "frozen": v.frozen,
            })
        })
        .collect();
    if problems.is_empty() {
        return (
            StatusCode::OK,
            Json(json!({ "status": "ok", "chains": chains, "surveyed_at": survey.at })),
        )
            .into_response();
    }
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, problems.join("; "))
        .with("status", "unavailable")
        .with("chains", chains)
        .with("surveyed_at", json!(survey.at))
        .into_response()
}

/// `GET /metrics`: refreshes the gauges (backlog, store size, RPC errors
/// per endpoint), then the Prometheus text format.
pub(super) async fn metrics(State(state): State<ApiState>) -> Response {
    let store = state.engine.store();
    match store.counts() {
        Ok(c) => state.metrics.set_backlog(c.committed + c.received),
        Err(e) => tracing::warn!(error = %e, "counting packets for /metrics"),
    }
    state.metrics.set_store_bytes(store.size_on_disk());
    for chain in state.engine.chains() {
        // Labelled by name, never by URL (a URL may hold a secret).
        for (i, endpoint) in chain.adapter().endpoint_stats().into_iter().enumerate() {
            state.metrics.set_rpc_errors(
                chain.id(),
                &endpoint_name(i, &endpoint.url),
                endpoint.errors,
            );
        }
    }
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        state.metrics.encode(),
    )
        .into_response()
}
