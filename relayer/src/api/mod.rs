//! The integrators' HTTP API (axum): submit a cross-chain credit query,
//! poll its status, fetch its verified result with a proof bundle that can
//! be re-verified offline, list the chains; plus `/health`, `/metrics`
//! (Prometheus text format) and `/openapi.json` (the OpenAPI 3.0 document of
//! all of it).
//!
//! | method | path | auth | |
//! |---|---|---|---|
//! | POST | `/queries` | bearer | a signed `send_credit_query` transaction, or an array of them |
//! | GET | `/queries/{source}/{destination}/{sequence}` | bearer | where the query is |
//! | GET | `/queries/{source}/{destination}/{sequence}/result` | bearer | the acknowledgement with its proof bundle |
//! | GET | `/chains` | bearer | heights, light clients, endpoints |
//! | GET | `/network/peers` | bearer | the mesh node, its connected peers, its counters (404 when not in a mesh) |
//! | GET | `/network/routes` | bearer | per chain: local or remote, endpoints or serving relayers, latency |
//! | GET | `/network/bans` | bearer | peers banned for misbehaviour, kept across restarts |
//! | DELETE | `/network/bans/{peer_id}` | bearer | lifts a ban |
//! | GET | `/health` | none | 200, or 503 naming unreachable chains |
//! | GET | `/metrics` | none | Prometheus text format |
//! | GET | `/openapi.json` | none | this API described |
//!
//! What this module must never do: hold an integrator's key (queries come
//! signed by the requester institution; the relayer only forwards them), or
//! answer anything but 401 to an unknown or missing bearer token on a
//! protected route. Errors are JSON `{"error": "..."}` with a 4xx (bad
//! input) or 5xx (a chain or the store failed) status; no handler panics.

mod chains;
mod error;
mod network;
mod openapi;
mod queries;
mod registry;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use protocol::ChainId;

pub use error::ApiError;
pub use openapi::document as openapi_document;
pub use queries::parse_transactions;

use crate::config::ApiConfig;
use crate::engine::{ChainRuntime, Engine};
use crate::metrics::Metrics;
use crate::registry::RegistryService;

/// Tells whether a bearer token is known: the integrator's name, or `None`.
pub type TokenCheck = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The relay engine: its chains and store.
    pub engine: Arc<Engine>,
    /// The metrics `/metrics` serves (the engine's).
    pub metrics: Metrics,
    /// The bearer-token check.
    pub tokens: TokenCheck,
    /// The network registry, for a relayer in the mesh (`/registry`
    /// routes); `None` for a stand-alone relayer.
    pub registry: Option<Arc<RegistryService>>,
    /// The mesh network node, for a relayer in the mesh (`/network`
    /// routes); `None` for a stand-alone relayer.
    pub network: Option<::network::NetworkHandle>,
}

impl ApiState {
    /// State whose tokens are the configuration's `[[api.tokens]]` (kept as
    /// SHA-256 digests; see [`ApiConfig::token_name`]).
    pub fn new(engine: Arc<Engine>, metrics: Metrics, api: &ApiConfig) -> ApiState {
        let api = api.clone();
        ApiState {
            engine,
            metrics,
            tokens: Arc::new(move |bearer| api.token_name(bearer).map(str::to_owned)),
            registry: None,
            network: None,
        }
    }

    /// The same state with the mesh node (`/network/peers`, and the
    /// network's counters in `/metrics`).
    pub fn with_network(mut self, network: ::network::NetworkHandle) -> ApiState {
        self.network = Some(network);
        self
    }

    /// The same state serving the network registry's routes too.
    pub fn with_registry(mut self, registry: Arc<RegistryService>) -> ApiState {
        self.registry = Some(registry);
        self
    }

    /// The runtime of `chain`, if this relayer serves it.
    fn chain(&self, chain: &ChainId) -> Option<Arc<ChainRuntime>> {
        self.engine.chain(chain)
    }

    /// The ids of the chains this relayer serves, for error messages.
    fn chain_list(&self) -> String {
        let ids: Vec<String> = self
            .engine
            .chains()
            .iter()
            .map(|c| c.id().to_string())
            .collect();
        ids.join(", ")
    }
}

/// The integrator a request was authenticated as (a request extension set
/// by the bearer-token check).
#[derive(Clone, Debug)]
pub struct Integrator(pub String);

/// The API's routes over `state`.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/queries", post(queries::submit))
        .route(
            "/queries/{source}/{destination}/{sequence}",
            get(queries::status),
        )
        .route(
            "/queries/{source}/{destination}/{sequence}/result",
            get(queries::result),
        )
        .route("/chains", get(chains::list))
        .route("/network/peers", get(network::peers))
        .route("/network/routes", get(network::routes))
        .route("/network/bans", get(network::bans))
        .route("/network/bans/{peer_id}", delete(network::unban));
    let protected = match state.registry.clone() {
        Some(service) => protected.merge(registry::routes().with_state(service)),
        None => protected,
    }
    .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .merge(protected)
        .route("/health", get(chains::health))
        .route("/metrics", get(network::metrics))
        .route("/openapi.json", get(openapi::serve))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

/// Serves the API on `listener` until the server fails.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// The bearer token of a request, if it carries one.
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Lets a request through only with a known bearer token.
async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let Some(name) = bearer(&request).and_then(|t| (state.tokens)(t)) else {
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "unknown or missing bearer token")
                .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    tracing::debug!(integrator = %name, method = %request.method(), path = %request.uri().path(), "api request");
    request.extensions_mut().insert(Integrator(name));
    next.run(request).await
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {} (see /openapi.json)",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {} (see /openapi.json)",
            request.method(),
            request.uri().path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_authorization(value: &str) -> Request {
        Request::builder()
            .header(header::AUTHORIZATION, value)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[test]
    fn only_bearer_tokens_are_read() {
        assert_eq!(bearer(&with_authorization("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with_authorization("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with_authorization("Basic abc")), None);
        assert_eq!(bearer(&with_authorization("Bearer ")), None);
        assert_eq!(bearer(&with_authorization("abc")), None);
        let none = Request::builder().body(axum::body::Body::empty()).unwrap();
        assert_eq!(bearer(&none), None);
    }

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc = openapi_document();
        assert_eq!(doc["openapi"], "3.0.3");
        for (path, method) in [
            ("/queries", "post"),
            ("/queries/{source}/{destination}/{sequence}", "get"),
            ("/queries/{source}/{destination}/{sequence}/result", "get"),
            ("/chains", "get"),
            ("/network/peers", "get"),
            ("/network/routes", "get"),
            ("/health", "get"),
            ("/metrics", "get"),
            ("/openapi.json", "get"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        // Every reference resolves.
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(doc["components"]["schemas"][&name].is_object(), "{name}");
        }
    }
}
