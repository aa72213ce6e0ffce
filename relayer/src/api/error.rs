//! The API's error answer: a status and `{"error": "...", ...details}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::engine::EngineError;
use crate::store::StoreError;

/// An error answer: `status` with `{"error": message}` plus any details.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status (4xx: the request is wrong; 5xx: a chain or the store
    /// failed).
    pub status: StatusCode,
    /// What was wrong, naming the value.
    pub message: String,
    /// More fields of the JSON body (e.g. a chain's error code).
    pub details: Map<String, Value>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: what was asked for does not exist (yet).
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// Adds a field to the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), json!(self.message));
        body.extend(self.details.clone());
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            // The log keeps the whole message, URLs included.
            tracing::warn!(status = %self.status, error = %self.message, "api request failed");
        }
        // Errors of the adapters name the endpoints they tried, by URL: an
        // endpoint URL (perhaps an internal host, perhaps a secret in it)
        // never leaves in an answer.
        let mut body = self.body();
        redact(&mut body);
        (self.status, Json(body)).into_response()
    }
}

/// Replaces, in every string of `value`, each URL by `<endpoint>`.
fn redact(value: &mut Value) {
    match value {
        Value::String(s) if s.contains("://") => *s = without_urls(s),
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Object(map) => map.values_mut().for_each(redact),
        _ => {}
    }
}

/// `text` with every URL (`scheme://...`, up to a space, a quote or a
/// bracket) replaced by `<endpoint>`.
pub fn without_urls(text: &str) -> String {
    /// Where a URL in a message ends.
    fn ends(c: char) -> bool {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '<' | '>' | '(' | ')' | '[' | ']' | '{' | '}' | '`'
            )
    }
    fn in_scheme(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let scheme_start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| in_scheme(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let after = &rest[at + 3..];
        let end = after.find(ends).unwrap_or(after.len());
        if scheme_start == at {
            // No scheme: not a URL; keep the separator.
            out.push_str(&rest[..at + 3]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..scheme_start]);
        out.push_str("<endpoint>");
        // A URL ending a sentence keeps its full stop or colon.
        let url = &after[..end];
        let trailing = url.len() - url.trim_end_matches(['.', ',', ':', ';']).len();
        out.push_str(&url[url.len() - trailing..]);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match e {
            EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            // A chain unreachable, or serving what does not verify.
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_removed_from_messages() {
        assert_eq!(
            without_urls(
                "status on chain shaanxi: every endpoint failed\nhttp://user:pw@10.0.0.7:26657: timeout: error sending request for url (http://10.0.0.7:26657/status)."
            ),
            "status on chain shaanxi: every endpoint failed\n<endpoint>: timeout: error sending request for url (<endpoint>)."
        );
        assert_eq!(without_urls("no url here"), "no url here");
        assert_eq!(without_urls("odd :// here"), "odd :// here");
        assert_eq!(
            without_urls("see https://rpc.example/x, then"),
            "see <endpoint>, then"
        );
        let mut body = json!({"error": "at http://a.example", "queries": [{"error": "x https://b.example:1/"}], "n": 1});
        redact(&mut body);
        assert_eq!(
            body,
            json!({"error": "at <endpoint>", "queries": [{"error": "x <endpoint>"}], "n": 1})
        );
    }
}
