//! One HTTP exchange with a size limit, and the classification of what can
//! go wrong with it.

use std::error::Error as _;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::pool::Failure;
use crate::FailureKind;

/// Longest excerpt of an answer quoted in a failure reason.
const EXCERPT: usize = 200;

/// A complete answer.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

/// A reqwest error with its chain of causes (its own message is terse).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The kind of a reqwest error.
pub(crate) fn classify(e: &reqwest::Error) -> FailureKind {
    if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_connect() {
        FailureKind::Connect
    } else {
        FailureKind::Transport
    }
}

pub(crate) fn transport_failure(e: &reqwest::Error) -> Failure {
    Failure::new(classify(e), describe(e))
}

/// Sends `request` and reads the whole answer, refusing one longer than
/// `limit` bytes.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    limit: usize,
) -> Result<Reply, Failure> {
    let mut response = request.send().await.map_err(|e| transport_failure(&e))?;
    let status = response.status();
    let too_large = |n: u64| {
        Failure::new(
            FailureKind::TooLarge,
            format!("answer of {n} bytes or more, the limit is {limit}"),
        )
    };
    if let Some(n) = response.content_length().filter(|&n| n > limit as u64) {
        return Err(too_large(n));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_failure(&e))? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(too_large(body.len().saturating_add(chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply { status, body })
}

/// At most [`EXCERPT`] characters of `body`, as text.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(EXCERPT).collect();
    if text.chars().nth(EXCERPT).is_some() {
        out.push('…');
    }
    out
}

/// The `error` message of a `{"error": ...}` answer, or an excerpt.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => excerpt(e.error.as_bytes()),
        Err(_) => excerpt(body),
    }
}

/// Decodes a successful JSON answer; a client error (4xx) is
/// [`FailureKind::Unavailable`], any other status [`FailureKind::HttpStatus`].
pub(crate) fn decode<T: DeserializeOwned>(reply: &Reply) -> Result<T, Failure> {
    if !reply.status.is_success() {
        return Err(status_failure(reply));
    }
    serde_json::from_slice(&reply.body).map_err(|e| {
        Failure::new(
            FailureKind::Malformed,
            format!(
                "invalid JSON answer: {e} (answer: {})",
                excerpt(&reply.body)
            ),
        )
    })
}

/// [`decode`] for a borsh answer (`application/octet-stream`).
pub(crate) fn decode_borsh<T: borsh::BorshDeserialize>(reply: &Reply) -> Result<T, Failure> {
    if !reply.status.is_success() {
        return Err(status_failure(reply));
    }
    borsh::from_slice(&reply.body).map_err(|e| {
        Failure::new(
            FailureKind::Malformed,
            format!("invalid borsh answer ({} bytes): {e}", reply.body.len()),
        )
    })
}

/// The failure an unsuccessful status means (the body's error message kept).
fn status_failure(reply: &Reply) -> Failure {
    let status = reply.status;
    let kind = if status.is_client_error() {
        FailureKind::Unavailable
    } else {
        FailureKind::HttpStatus
    };
    Failure::new(
        kind,
        format!("HTTP {status}: {}", error_message(&reply.body)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_and_bodies_are_classified() {
        let ok: Result<u64, _> = decode(&reply(200, "7"));
        assert_eq!(ok.unwrap(), 7);
        let cut = decode::<serde_json::Value>(&reply(200, "{\"a\": [1, 2")).unwrap_err();
        assert_eq!(cut.kind, FailureKind::Malformed);
        let missing =
            decode::<u64>(&reply(404, "{\"error\": \"no block at height 9\"}")).unwrap_err();
        assert_eq!(missing.kind, FailureKind::Unavailable);
        assert!(
            missing.reason.contains("no block at height 9"),
            "{}",
            missing.reason
        );
        let broken = decode::<u64>(&reply(502, "bad gateway")).unwrap_err();
        assert_eq!(broken.kind, FailureKind::HttpStatus);
    }

    #[test]
    fn excerpts_are_bounded() {
        let long = "x".repeat(10_000);
        assert!(excerpt(long.as_bytes()).chars().count() <= EXCERPT + 1);
        assert_eq!(excerpt(b"short"), "short");
    }
}
