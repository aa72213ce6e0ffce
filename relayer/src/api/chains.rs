//! `/chains`, `/health` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{ApiError, ApiState};
use crate::engine::ChainRuntime;

/// How long a chain may take to answer its status before it counts as
/// unreachable.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// The content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One chain as `/chains` and `/health` show it.
struct ChainView {
    id: String,
    status: Result<adapters::ChainStatus, String>,
    trusted_height: Option<u64>,
    frozen: bool,
    runtime: Arc<ChainRuntime>,
}

/// Asks every chain for its status at once.
async fn survey(state: &ApiState) -> Vec<ChainView> {
    let mut tasks = JoinSet::new();
    for runtime in state.engine.chains() {
        let runtime = runtime.clone();
        tasks.spawn(async move {
            let status =
                match tokio::time::timeout(STATUS_TIMEOUT, runtime.adapter().status()).await {
                    Ok(Ok(s)) => Ok(s),
                    Ok(Err(e)) => Err(e.to_string()),
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
    let mut views = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(view) = done {
            views.push(view);
        }
    }
    views.sort_by(|a, b| a.id.cmp(&b.id));
    views
}

/// `GET /chains`: per chain its latest height, the relayer's light client
/// and the RPC endpoints' counters.
pub(super) async fn list(State(state): State<ApiState>) -> Json<Value> {
    let chains: Vec<Value> = survey(&state)
        .await
        .into_iter()
        .map(|v| {
            let (latest_height, latest_time, error) = match &v.status {
                Ok(s) => (
                    Some(s.latest_height.value()),
                    Some(json!(s.latest_time)),
                    None,
                ),
                Err(e) => (None, None, Some(e.clone())),
            };
            json!({
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
                "endpoints": v.runtime.adapter().endpoint_stats(),
            })
        })
        .collect();
    Json(json!({ "chains": chains }))
}

/// `GET /health`: 200 when every chain answers and no light client is
/// frozen, else 503 naming the chains that do not.
pub(super) async fn health(State(state): State<ApiState>) -> Response {
    let views = survey(&state).await;
    let mut problems = Vec::new();
    let chains: Vec<Value> = views
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
            Json(json!({ "status": "ok", "chains": chains })),
        )
            .into_response();
    }
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, problems.join("; "))
        .with("status", "unavailable")
        .with("chains", chains)
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
        for endpoint in chain.adapter().endpoint_stats() {
            state
                .metrics
                .set_rpc_errors(chain.id(), &endpoint.url, endpoint.errors);
        }
    }
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        state.metrics.encode(),
    )
        .into_response()
}
