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
            tracing::warn!(status = %self.status, error = %self.message, "api request failed");
        }
        (self.status, Json(self.body())).into_response()
    }
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
