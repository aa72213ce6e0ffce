//! The regulator's audit routes: read the audit log, filtered, as JSON or
//! CSV, and its checkpoints.
//!
//! | method | path | auth | |
//! |---|---|---|---|
//! | GET | `/audit/entries?enterprise=&institution=&chain=&since=&until=&format=json\|csv` | regulator signature | the entries passing every filter given, in order |
//! | GET | `/audit/checkpoints` | regulator signature | the signed checkpoints, oldest first |
//! | GET | `/audit/gaps` | regulator signature | per (source, destination) chain: the proven next send sequence and the sends the log has no entry for |
//!
//! Only a request signed with the regulator's ed25519 key is served: header
//! `X-Regulator-Time` (RFC 3339, at most [`MAX_REQUEST_AGE`] from the
//! server's clock either way) and `X-Regulator-Signature` (hex) over
//! [`read_message`] — `"credit-relayer/audit-read\n" + METHOD + " " +
//! path-and-query + "\n" + time`, the time exactly as sent. Anything else
//! (no signature, another key's, a stale time, an integrator's bearer
//! token) gets 403. The routes are generic over the router's state, which
//! must give an `Arc<AuditService>`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, OriginalUri, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ed25519_dalek::{Signer, SigningKey};
use protocol::{PublicKey, Signature, Time};

use super::{AuditFilter, AuditService, ServiceError, to_csv, to_json};
use crate::api::ApiError;
use crate::registry::signing;

/// The header carrying the regulator's signature (hex).
pub const SIGNATURE_HEADER: &str = "x-regulator-signature";
/// The header carrying the signed time (RFC 3339).
pub const TIME_HEADER: &str = "x-regulator-time";
/// The domain of the signed message.
pub const READ_TAG: &str = "credit-relayer/audit-read";
/// How far a signed time may be from the server's clock (either way).
pub const MAX_REQUEST_AGE: Duration = Duration::from_secs(5 * 60);

/// The bytes the regulator signs to read `path_and_query` with `method` at
/// `time` (as sent in [`TIME_HEADER`]).
pub fn read_message(method: &str, path_and_query: &str, time: &str) -> Vec<u8> {
    format!("{READ_TAG}\n{method} {path_and_query}\n{time}").into_bytes()
}

/// The two headers `(signature, time)` of a read request signed with `key`
/// at `time`.
pub fn sign_read(
    key: &SigningKey,
    method: &str,
    path_and_query: &str,
    time: Time,
) -> (String, String) {
    let time = time.to_string();
    let signature = key.sign(&read_message(method, path_and_query, &time));
    (hex::encode(signature.to_bytes()), time)
}

/// Whether a request with `method`, `path_and_query` and `headers` is the
/// regulator's (signed by `regulator`, within [`MAX_REQUEST_AGE`] of `now`);
/// the error says what is wrong.
pub fn authorize(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    regulator: &PublicKey,
    now: Time,
) -> Result<(), String> {
    const HOW: &str = "audit routes serve only requests signed with the regulator's key \
         (headers X-Regulator-Signature and X-Regulator-Time)";
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(time)) = (header(SIGNATURE_HEADER), header(TIME_HEADER)) else {
        let bearer = if headers.contains_key(header::AUTHORIZATION) {
            "; an integrator's bearer token does not authorise them"
        } else {
            ""
        };
        return Err(format!("{HOW}{bearer}"));
    };
    let signed_at: Time = time
        .parse()
        .map_err(|e| format!("X-Regulator-Time {time:?} is not an RFC 3339 time: {e}"))?;
    if now
        .duration_since(signed_at)
        .is_some_and(|age| age > MAX_REQUEST_AGE)
    {
        return Err(format!(
            "X-Regulator-Time {time} is more than {} minutes old (server time {now}): sign the request again",
            MAX_REQUEST_AGE.as_secs() / 60
        ));
    }
    if signed_at
        .duration_since(now)
        .is_some_and(|ahead| ahead > MAX_REQUEST_AGE)
    {
        return Err(format!(
            "X-Regulator-Time {time} is more than {} minutes ahead of the server time {now}",
            MAX_REQUEST_AGE.as_secs() / 60
        ));
    }
    let signature: Signature = signature
        .parse()
        .map_err(|e| format!("X-Regulator-Signature is not a hex ed25519 signature: {e}"))?;
    if !signing::verify(
        regulator,
        &read_message(method.as_str(), path_and_query, time),
        &signature,
    ) {
        return Err(format!(
            "X-Regulator-Signature is not the regulator's ({regulator}) signature of \
             {READ_TAG:?} + {:?} + {time:?}",
            format!("{method} {path_and_query}")
        ));
    }
    Ok(())
}

fn system_now() -> Time {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Time::from_unix_nanos(nanos)
}

/// A request proven to be the regulator's (an extractor: a handler taking
/// it is served only to the regulator; 403 otherwise).
#[derive(Clone, Copy, Debug)]
pub struct Regulator;

impl<S> FromRequestParts<S> for Regulator
where
    Arc<AuditService>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Regulator, ApiError> {
        let service = Arc::<AuditService>::from_ref(state);
        // The URI as the client sent it, even under a nested router.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
        authorize(
            &parts.method,
            &path_and_query,
            &parts.headers,
            service.regulator(),
            system_now(),
        )
        .map(|()| Regulator)
        .map_err(|reason| {
            tracing::warn!(method = %parts.method, path = %path_and_query, %reason, "audit read refused");
            ApiError::new(StatusCode::FORBIDDEN, reason)
        })
    }
}

/// The audit routes, for a router whose state gives an `Arc<AuditService>`.
pub fn routes<S>() -> Router<S>
where
    Arc<AuditService>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/audit/entries", get(entries))
        .route("/audit/checkpoints", get(checkpoints))
        .route("/audit/gaps", get(gaps))
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// The answer's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// The filter and format of `/audit/entries`'s query; unknown parameters and
/// values that do not parse are named in the error.
fn parse_query(params: &[(String, String)]) -> Result<(AuditFilter, Format), ApiError> {
    fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        value
            .parse()
            .map_err(|e| ApiError::bad_request(format!("query parameter {name}={value:?}: {e}")))
    }
    let mut filter = AuditFilter::default();
    let mut format = Format::Json;
    let mut seen = BTreeSet::new();
    for (name, value) in params {
        if !seen.insert(name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "query parameter {name} is given twice"
            )));
        }
        match name.as_str() {
            "enterprise" => filter.enterprise = Some(parse(name, value)?),
            "institution" => filter.institution = Some(parse(name, value)?),
            "chain" => filter.chain = Some(parse(name, value)?),
            "since" => filter.since = Some(parse(name, value)?),
            "until" => filter.until = Some(parse(name, value)?),
            "format" => {
                format = match value.as_str() {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "query parameter format={other:?}: expected json or csv"
                        )));
                    }
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {other:?} (expected enterprise, institution, chain, \
                     since, until, format)"
                )));
            }
        }
    }
    Ok((filter, format))
}

/// `GET /audit/entries`: the entries passing the filters, as JSON (an array
/// of entries with their hashes) or CSV (RFC 4180, with a header row).
async fn entries(
    _: Regulator,
    State(service): State<Arc<AuditService>>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let (filter, format) = parse_query(&params)?;
    let entries = tokio::task::spawn_blocking(move || service.entries(&filter))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(match format {
        Format::Json => Json(to_json(&entries)).into_response(),
        Format::Csv => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            )],
            to_csv(&entries),
        )
            .into_response(),
    })
}

/// `GET /audit/checkpoints`: the signed checkpoints, oldest first.
async fn checkpoints(
    _: Regulator,
    State(service): State<Arc<AuditService>>,
) -> Result<Response, ApiError> {
    let checkpoints = tokio::task::spawn_blocking(move || service.checkpoints())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(checkpoints).into_response())
}

/// `GET /audit/gaps`: per (source, destination) pair of chains the node
/// checked, the source's proven next send sequence and the sends below it
/// the log has no entry for (`complete` is false when any is missing).
async fn gaps(_: Regulator, State(service): State<Arc<AuditService>>) -> Response {
    let pairs = service.completeness();
    let complete = pairs.iter().all(|p| !p.has_gaps());
    let missing: usize = pairs.iter().map(|p| p.missing.len()).sum();
    Json(serde_json::json!({
        "complete": complete,
        "missing": missing,
        "pairs": pairs,
    }))
    .into_response()
}
