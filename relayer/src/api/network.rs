//! `/network`: the relayer's place in the mesh of regional relayers.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/network/peers` | this node (peer id, operator key, listen addresses), the connected peers (peer id, operator key, addresses, agent) and the network's counters |
//! | GET | `/network/bans` | the peers banned for misbehaviour (peer id, strikes, when), kept across restarts |
//! | DELETE | `/network/bans/{peer_id}` | lifts a ban: the peer may connect again (if admitted) with its strikes cleared |
//! | GET | `/network/routes` | per chain: served here (`local`: its RPC endpoints, named `rpc[i]`) or through the mesh (`remote`: its serving relayers in the order tried), each endpoint's requests / errors / faults / last error, and the round-trip percentiles of the latest requests |
//!
//! A stand-alone relayer (no `[network]`) answers `/network/peers` with 404
//! `{"error": "this relayer is not in a mesh ..."}`; `/network/routes`
//! still lists its chains, all local.
//!
//! `/metrics` goes through [`metrics`] here: it copies the network's
//! counters into the metrics first, so a scrape is never stale.

use ::network::{NetworkStats, PeerInfo};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{ApiError, ApiState};

/// The prefix of a mesh endpoint's name in `endpoint_stats()`.
pub(super) const PEER_ENDPOINT: &str = "p2p:";

/// The counters of [`NetworkStats`] as JSON.
fn stats_json(stats: &NetworkStats) -> Value {
    json!({
        "peers_connected": stats.peers_connected,
        "connections_refused_inbound": stats.connections_refused_inbound,
        "connections_refused_outbound": stats.connections_refused_outbound,
        "gossip_published": stats.gossip_published,
        "gossip_received": stats.gossip_received,
        "gossip_invalid": stats.gossip_invalid,
        "gossip_rejected": stats.gossip_rejected,
        "requests_sent": stats.requests_sent,
        "requests_received": stats.requests_received,
        "requests_invalid": stats.requests_invalid,
        "responses_sent": stats.responses_sent,
        "bans": stats.bans,
        "events_dropped": stats.events_dropped,
        "discovery_lookups": stats.discovery_lookups,
        "discovery_dials": stats.discovery_dials,
    })
}

fn peer_json(info: &PeerInfo) -> Value {
    let strings = |addrs: &[::network::Multiaddr]| -> Vec<String> {
        addrs.iter().map(ToString::to_string).collect()
    };
    json!({
        "peer_id": info.peer.to_string(),
        "operator_key": info.public_key.map(|k| k.to_string()),
        "addresses": strings(&info.addresses),
        "listen_addrs": strings(&info.listen_addrs),
        "agent": info.agent_version,
    })
}

fn network_failed(e: ::network::Error) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the mesh network does not answer: {e}"),
    )
}

/// `GET /network/peers`.
pub(super) async fn peers(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let network = mesh_node(&state)?;
    let peers = network.peers().await.map_err(network_failed)?;
    let stats = network.stats().await.map_err(network_failed)?;
    let listen = network.listen_addrs().await.map_err(network_failed)?;
    state.metrics.snapshot_network(&stats);
    Ok(Json(json!({
        "local": {
            "peer_id": network.local_peer_id().to_string(),
            "operator_key": network.public_key().to_string(),
            "listen_addrs": listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "peers": peers.iter().map(peer_json).collect::<Vec<_>>(),
        "stats": stats_json(&stats),
    })))
}

/// The mesh node, or 404 for a stand-alone relayer.
fn mesh_node(state: &ApiState) -> Result<&::network::NetworkHandle, ApiError> {
    state.network.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "this relayer is not in a mesh (its configuration has no [network] table)",
        )
    })
}

fn store_failed(e: crate::store::StoreError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the store failed: {e}"),
    )
}

/// `GET /network/bans`.
pub(super) async fn bans(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    mesh_node(&state)?;
    let bans = state.engine.store().bans().map_err(store_failed)?;
    Ok(Json(json!({ "bans": bans })))
}

/// `DELETE /network/bans/{peer_id}`.
pub(super) async fn unban(
    State(state): State<ApiState>,
    Path(peer_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let network = mesh_node(&state)?;
    let peer: ::network::PeerId = peer_id
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{peer_id:?} is not a libp2p peer id: {e}")))?;
    if !state
        .engine
        .store()
        .remove_ban(&peer.to_string())
        .map_err(store_failed)?
    {
        return Err(ApiError::not_found(format!("peer {peer} is not banned")));
    }
    network.unban(peer).await.map_err(network_failed)?;
    tracing::info!(%peer, "ban lifted by an operator");
    Ok(Json(
        json!({ "peer_id": peer.to_string(), "unbanned": true }),
    ))
}

/// `GET /network/routes`.
pub(super) async fn routes(State(state): State<ApiState>) -> Json<Value> {
    let mut chains = state.engine.chains();
    chains.sort_by(|a, b| a.id().cmp(b.id()));
    let routes: Vec<Value> = chains
        .iter()
        .map(|chain| {
            let relayers: Vec<String> = chain
                .adapter()
                .endpoint_stats()
                .iter()
                .filter_map(|e| e.url.strip_prefix(PEER_ENDPOINT).map(str::to_owned))
                .collect();
            json!({
                "chain": chain.id(),
                "route": if chain.is_local() { "local" } else { "remote" },
                "relayers": relayers,
                // By name: `rpc[i]` or `p2p:<peer id>`, never a URL.
                "endpoints": super::chains::endpoints_json(chain),
                "latency": state.metrics.route_latency(chain.id()),
            })
        })
        .collect();
    Json(json!({
        "mesh": state.network.is_some(),
        "routes": routes,
    }))
}

/// `GET /metrics`: the network's counters copied in (for a relayer in a
/// mesh), then as `/metrics` of [`super::chains`].
pub(super) async fn metrics(State(state): State<ApiState>) -> Response {
    if let Some(network) = &state.network {
        match network.stats().await {
            Ok(stats) => state.metrics.snapshot_network(&stats),
            Err(e) => tracing::warn!(error = %e, "reading the network's counters for /metrics"),
        }
    }
    super::chains::metrics(State(state)).await
}

/// Path item `/network/peers` of the OpenAPI document.
pub(super) fn path_peers() -> Value {
    json!({
        "get": {
            "summary": "This relayer's mesh node, its connected peers and the network's counters",
            "responses": {
                "200": {
                    "description": "`local`, `peers` (connected now) and `stats` (counters since start).",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NetworkPeers" } } },
                },
                "401": super::openapi::unauthorized(),
                "404": super::openapi::error_response("This relayer is not in a mesh (no `[network]` in its configuration)."),
                "503": super::openapi::error_response("The mesh network task stopped."),
            },
        },
    })
}

/// Path item `/network/bans` of the OpenAPI document.
pub(super) fn path_bans() -> Value {
    json!({
        "get": {
            "summary": "The peers banned for misbehaviour, kept across restarts",
            "responses": {
                "200": {
                    "description": "`bans`: `peer_id`, `strikes`, `banned_at` (Unix seconds).",
                    "content": { "application/json": { "schema": {
                        "type": "object", "required": ["bans"],
                        "properties": { "bans": { "type": "array", "items": {
                            "type": "object", "required": ["peer_id", "strikes", "banned_at"],
                            "properties": {
                                "peer_id": { "type": "string" },
                                "strikes": { "type": "integer", "minimum": 1 },
                                "banned_at": { "type": "integer", "minimum": 0 } } } } } } } },
                },
                "401": super::openapi::unauthorized(),
                "404": super::openapi::error_response("This relayer is not in a mesh."),
            },
        },
    })
}

/// Path item `/network/bans/{peer_id}` of the OpenAPI document.
pub(super) fn path_ban() -> Value {
    json!({
        "delete": {
            "summary": "Lifts a ban: the peer may connect again (if admitted), its strikes cleared",
            "parameters": [{ "name": "peer_id", "in": "path", "required": true,
                "schema": { "type": "string" } }],
            "responses": {
                "200": { "description": "`{\"peer_id\": ..., \"unbanned\": true}`." },
                "400": super::openapi::error_response("Not a libp2p peer id."),
                "401": super::openapi::unauthorized(),
                "404": super::openapi::error_response("The peer is not banned, or this relayer is not in a mesh."),
                "503": super::openapi::error_response("The mesh network task stopped."),
            },
        },
    })
}

/// Path item `/network/routes` of the OpenAPI document.
pub(super) fn path_routes() -> Value {
    json!({
        "get": {
            "summary": "How each chain is reached: its RPC endpoints, or the relayers serving it",
            "responses": {
                "200": {
                    "description": "One route per chain.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NetworkRoutes" } } },
                },
                "401": super::openapi::unauthorized(),
            },
        },
    })
}

/// Schema `NetworkPeers`.
pub(super) fn schema_peers() -> Value {
    let addrs = json!({ "type": "array", "items": { "type": "string" },
        "description": "Multiaddrs." });
    let count = json!({ "type": "integer", "minimum": 0 });
    json!({
        "type": "object", "required": ["local", "peers", "stats"],
        "properties": {
            "local": { "type": "object", "properties": {
                "peer_id": { "type": "string" },
                "operator_key": { "type": "string", "description": "ed25519 public key, hex." },
                "listen_addrs": addrs } },
            "peers": { "type": "array", "items": { "type": "object", "properties": {
                "peer_id": { "type": "string" },
                "operator_key": { "type": "string", "nullable": true },
                "addresses": addrs,
                "listen_addrs": addrs,
                "agent": { "type": "string", "nullable": true } } } },
            "stats": { "type": "object", "properties": {
                "peers_connected": count, "connections_refused_inbound": count,
                "connections_refused_outbound": count, "gossip_published": count,
                "gossip_received": count, "gossip_invalid": count, "gossip_rejected": count,
                "requests_sent": count, "requests_received": count, "requests_invalid": count,
                "responses_sent": count, "bans": count, "events_dropped": count,
                "discovery_lookups": count, "discovery_dials": count } },
        },
    })
}

/// Schema `NetworkRoutes`.
pub(super) fn schema_routes() -> Value {
    json!({
        "type": "object", "required": ["mesh", "routes"],
        "properties": {
            "mesh": { "type": "boolean", "description": "Whether this relayer is in a mesh." },
            "routes": { "type": "array", "items": { "type": "object", "properties": {
                "chain": { "type": "string" },
                "route": { "type": "string", "enum": ["local", "remote"] },
                "relayers": { "type": "array", "items": { "type": "string" },
                    "description": "Peer ids of the serving relayers in the order they are tried (remote)." },
                "endpoints": { "type": "array", "items": { "type": "object", "properties": {
                    "endpoint": { "type": "string", "description": "`rpc[i]` (the i-th configured RPC URL, never shown), or `p2p:<peer id>`." },
                    "requests": { "type": "integer" }, "errors": { "type": "integer" },
                    "faults": { "type": "integer" }, "errors_by_kind": { "type": "object" },
                    "healthy": { "type": "boolean" },
                    "last_error": { "type": "string", "nullable": true } } } },
                "latency": { "type": "object", "nullable": true,
                    "description": "Round trips of the latest requests to the serving relayers (remote routes).",
                    "properties": {
                        "samples": { "type": "integer" },
                        "p50_seconds": { "type": "number" },
                        "p99_seconds": { "type": "number" } } },
            } } },
        },
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::engine::{Engine, EngineOptions};
    use crate::metrics::Metrics;
    use crate::store::Store;

    fn standalone(name: &str) -> (ApiState, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("relayer-api-network-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = EngineOptions {
            batch_size: 10,
            clear_interval: Duration::from_secs(1),
        };
        let engine = Engine::new(Vec::new(), &[], Store::open(&dir).unwrap(), options).unwrap();
        let state = ApiState::with_tokens(Arc::new(engine), Metrics::new(), Arc::new(|_| None));
        (state, dir)
    }

    #[tokio::test]
    async fn a_standalone_relayer_has_no_peers_but_routes() {
        let (state, dir) = standalone("standalone");
        let error = peers(State(state.clone())).await.unwrap_err();
        assert_eq!(error.status, StatusCode::NOT_FOUND);
        assert!(
            error.message.contains("this relayer is not in a mesh"),
            "{}",
            error.message
        );
        let Json(answer) = routes(State(state)).await;
        assert_eq!(answer["mesh"], false);
        assert_eq!(answer["routes"], json!([]));
        let _ = std::fs::remove_dir_all(dir);
    }
}
