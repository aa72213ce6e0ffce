//! Why an adapter call failed.

use std::fmt;

use protocol::{ChainId, Hash};
use serde::Serialize;

/// Why one attempt at one endpoint failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection could not be made (refused, unreachable, DNS).
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke while sending or receiving.
    Transport,
    /// An HTTP status other than success or a client error (5xx, 3xx).
    HttpStatus,
    /// The answer exceeded the size limit.
    TooLarge,
    /// The answer is not the expected JSON.
    Malformed,
    /// The endpoint answered that it cannot serve this (a 4xx such as "no
    /// block at that height yet", or no block committed at all). Not a fault:
    /// a lagging node says so.
    Unavailable,
    /// The answer is for another chain. A fault.
    WrongChain,
    /// The light block does not verify against itself. A fault.
    InvalidLightBlock,
    /// The state proof does not verify against the header's state root. A
    /// fault.
    InvalidProof,
    /// The answer contradicts the request or itself (another height, key or
    /// transaction hash; events outside the scanned range). A fault.
    Inconsistent,
    /// The light block verifies against itself but the relayer's light
    /// client refused it (dated in the future, signed by validators it
    /// does not trust, off the anchored hash chain). A fault.
    RefusedByLightClient,
    /// The block event stream stayed silent past the silence timeout.
    StreamSilent,
    /// The block event stream ended or broke.
    StreamClosed,
}

impl FailureKind {
    /// Whether the endpoint served data that does not verify (as opposed to
    /// not answering properly).
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            FailureKind::WrongChain
                | FailureKind::InvalidLightBlock
                | FailureKind::InvalidProof
                | FailureKind::Inconsistent
                | FailureKind::RefusedByLightClient
        )
    }

    /// A stable snake_case name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Transport => "transport",
            FailureKind::HttpStatus => "http_status",
            FailureKind::TooLarge => "too_large",
            FailureKind::Malformed => "malformed",
            FailureKind::Unavailable => "unavailable",
            FailureKind::WrongChain => "wrong_chain",
            FailureKind::InvalidLightBlock => "invalid_light_block",
            FailureKind::InvalidProof => "invalid_proof",
            FailureKind::Inconsistent => "inconsistent",
            FailureKind::RefusedByLightClient => "refused_by_light_client",
            FailureKind::StreamSilent => "stream_silent",
            FailureKind::StreamClosed => "stream_closed",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed attempt: which endpoint, what kind of failure, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointFailure {
    /// The endpoint's base URL.
    pub endpoint: String,
    /// The kind of failure.
    pub kind: FailureKind,
    /// What exactly was wrong.
    pub reason: String,
}

impl fmt::Display for EndpointFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.endpoint, self.kind, self.reason)
    }
}

/// The failures of a list of endpoints, one per line.
struct Failures<'a>(&'a [EndpointFailure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failure in self.0 {
            write!(f, "\n  {failure}")?;
        }
        Ok(())
    }
}

/// Why an adapter call failed. Every variant names the endpoints involved
/// and what was wrong with each.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AdapterError {
    /// The adapter was configured wrongly (no endpoint, a bad URL, an option
    /// out of range).
    #[error("invalid adapter configuration: {0}")]
    InvalidConfig(String),

    /// The request itself is wrong (e.g. too many keys in one batch); no
    /// endpoint was asked.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// No endpoint gave a valid answer, after every retry.
    #[error(
        "{what} on chain {chain_id}: every endpoint failed ({rounds} round(s), last round's failures below){}",
        Failures(.failures)
    )]
    AllEndpointsFailed {
        /// The chain.
        chain_id: ChainId,
        /// The request.
        what: String,
        /// How many rounds over the endpoints were tried.
        rounds: u32,
        /// The failures of the last round, one per endpoint.
        failures: Vec<EndpointFailure>,
    },

    /// Every endpoint answered that it cannot serve the request (e.g. no
    /// block at that height yet). Not retried: ask again later.
    #[error("{what} on chain {chain_id}: not available from any endpoint{}", Failures(.failures))]
    Unavailable {
        /// The chain.
        chain_id: ChainId,
        /// The request.
        what: String,
        /// Each endpoint's answer.
        failures: Vec<EndpointFailure>,
    },

    /// A transaction reached an endpoint, but what became of it is unknown
    /// (timeout or a broken answer after it was sent). It was not sent
    /// elsewhere, since that could commit it twice or report a false
    /// refusal; check the sender's nonce or the packet's receipt before
    /// sending it again.
    #[error(
        "transaction {hash} on chain {chain_id}: fate unknown after sending it to {}: {}: {}; check the sender's nonce before resending",
        .failure.endpoint, .failure.kind, .failure.reason
    )]
    SubmitUncertain {
        /// The chain.
        chain_id: ChainId,
        /// The transaction's hash.
        hash: Hash,
        /// What went wrong at the endpoint it was sent to.
        failure: EndpointFailure,
    },
}

impl AdapterError {
    /// The endpoint failures this error carries (empty for a configuration
    /// or request error).
    pub fn failures(&self) -> &[EndpointFailure] {
        match self {
            AdapterError::InvalidConfig(_) | AdapterError::InvalidRequest(_) => &[],
            AdapterError::AllEndpointsFailed { failures, .. }
            | AdapterError::Unavailable { failures, .. } => failures,
            AdapterError::SubmitUncertain { failure, .. } => std::slice::from_ref(failure),
        }
    }
}
