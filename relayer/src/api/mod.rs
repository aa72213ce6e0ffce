//! The integrators' HTTP API (axum): submit a cross-chain credit query,
//! poll its status, fetch its verified result with a proof bundle that can
//! be re-verified offline, list the chains; plus `/health`, `/metrics`
//! (Prometheus text format) and `/openapi.json` (the OpenAPI 3.0 document of
//! all of it).
//!
//! | method | path | role | |
//! |---|---|---|---|
//! | POST | `/queries` | integrator, operator | a signed `send_credit_query` transaction, or an array of them |
//! | GET | `/queries/{source}/{destination}/{sequence}` | integrator (own queries), operator | where the query is |
//! | GET | `/queries/{source}/{destination}/{sequence}/result` | integrator (own queries), operator | the acknowledgement with its proof bundle |
//! | GET | `/chains` | integrator, operator | heights and light clients (endpoint counters: operator only) |
//! | GET | `/network/peers` | operator | the mesh node, its connected peers, its counters (404 when not in a mesh) |
//! | GET | `/network/routes` | operator | per chain: local or remote, endpoints or serving relayers, latency |
//! | GET | `/network/bans` | operator | peers banned for misbehaviour, kept across restarts |
//! | DELETE | `/network/bans/{peer_id}` | operator | lifts a ban |
//! | GET, POST | `/registry`, `/registry/proposals`, `/registry/approvals` | operator | the network registry and its governance |
//! | GET | `/health` | none | 200, or 503 naming unreachable chains (from a survey kept fresh in the background) |
//! | GET | `/metrics` | none | Prometheus text format |
//! | GET | `/openapi.json` | none | this API described |
//!
//! Every bearer token has a role (`[[api.tokens]]`). An *integrator* token
//! is bound to one institution on one chain: it submits only that
//! institution's transactions on that chain (403 otherwise) and reads only
//! its queries (any other query is 404, the very answer an unknown one
//! gets, so sequences cannot be enumerated). An *operator* token reaches
//! every route; the routes that change the network's state or show its
//! internals (peers, addresses, bans, routes, the registry) need it (403
//! otherwise). The operator holds the store anyway, so it may read and
//! forward any query.
//!
//! What this module must never do: hold an integrator's key (queries come
//! signed by the requester institution; the relayer only forwards them),
//! answer anything but 401 to an unknown or missing bearer token on a
//! protected route, or show an endpoint URL (endpoints are named `rpc[i]`,
//! URLs are cut out of error messages). Errors are JSON `{"error": "..."}`
//! with a 4xx (bad input) or 5xx (a chain or the store failed) status; no
//! handler panics.

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

use crate::config::{ApiConfig, TokenRole};
use crate::engine::{ChainRuntime, Engine};
use crate::metrics::Metrics;
use crate::registry::RegistryService;

/// Tells whether a bearer token is known: who holds it, or `None`.
pub type TokenCheck = Arc<dyn Fn(&str) -> Option<Caller> + Send + Sync>;

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
    /// The latest survey of the chains (`/health`, `/chains`), refreshed
    /// in the background by [`serve`].
    health: chains::HealthCache,
}

impl ApiState {
    /// State whose tokens are the configuration's `[[api.tokens]]` (kept as
    /// SHA-256 digests; see [`ApiConfig::token_name`]).
    pub fn new(engine: Arc<Engine>, metrics: Metrics, api: &ApiConfig) -> ApiState {
        let api = api.clone();
        let tokens: TokenCheck = Arc::new(move |bearer| {
            api.token(bearer).map(|t| Caller {
                name: t.name.clone(),
                role: t.role.clone(),
            })
        });
        ApiState::with_tokens(engine, metrics, tokens)
    }

    /// State whose bearer tokens are checked by `tokens`.
    pub fn with_tokens(engine: Arc<Engine>, metrics: Metrics, tokens: TokenCheck) -> ApiState {
        ApiState {
            engine,
            metrics,
            tokens,
            registry: None,
            network: None,
            health: chains::HealthCache::new(),
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

/// Who a request was authenticated as (a request extension set by the
/// bearer-token check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// What it may do.
    pub role: TokenRole,
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "token {:?} ({})", self.name, self.role)
    }
}

/// The API's routes over `state`. [`serve`] also keeps the survey of the
/// chains fresh; without it `/health` and `/chains` answer 503.
pub fn router(state: ApiState) -> Router {
    // Routes that change the network's state or show its internals.
    let operator = Router::new()
        .route("/network/peers", get(network::peers))
        .route("/network/routes", get(network::routes))
        .route("/network/bans", get(network::bans))
        .route("/network/bans/{peer_id}", delete(network::unban));
    let operator = match state.registry.clone() {
        Some(service) => operator.merge(registry::routes().with_state(service)),
        None => operator,
    }
    .route_layer(middleware::from_fn(operator_only));
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
        .merge(operator)
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

/// Serves the API on `listener` until the server fails, surveying the
/// chains in the background meanwhile.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState) -> std::io::Result<()> {
    /// Stops the survey when serving stops (or is dropped).
    struct StopOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _survey = StopOnDrop(tokio::spawn(chains::refresh(state.clone())));
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
    let Some(caller) = bearer(&request).and_then(|t| (state.tokens)(t)) else {
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "unknown or missing bearer token")
                .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    tracing::debug!(caller = %caller, method = %request.method(), path = %request.uri().path(), "api request");
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Lets a request through only with an operator's token (after
/// [`authenticate`]).
async fn operator_only(request: Request, next: Next) -> Response {
    match request.extensions().get::<Caller>() {
        Some(caller) if caller.role == TokenRole::Operator => next.run(request).await,
        caller => {
            let who = caller.map_or_else(|| "this token".to_owned(), ToString::to_string);
            tracing::warn!(caller = %who, method = %request.method(), path = %request.uri().path(), "operator route refused");
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{who} may not use {} {}: it needs a token with role = \"operator\"",
                    request.method(),
                    request.uri().path()
                ),
            )
            .with("required_role", "operator")
            .into_response()
        }
    }
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
            ("/network/bans/{peer_id}", "delete"),
            ("/registry/proposals", "post"),
            ("/health", "get"),
            ("/metrics", "get"),
            ("/openapi.json", "get"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        // Operator routes say so, with their 403; integrators' do not.
        for (path, method) in [
            ("/network/peers", "get"),
            ("/network/bans/{peer_id}", "delete"),
            ("/registry", "get"),
            ("/registry/approvals", "post"),
        ] {
            let operation = &doc["paths"][path][method];
            assert_eq!(operation["x-required-role"], "operator", "{method} {path}");
            assert!(operation["responses"]["403"].is_object(), "{method} {path}");
        }
        assert!(doc["paths"]["/queries"]["post"]["responses"]["403"].is_object());
        assert!(doc["paths"]["/queries"]["post"]["x-required-role"].is_null());
        // Every reference resolves.
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(doc["components"]["schemas"][&name].is_object(), "{name}");
        }
    }
}
