//! The block stream: follows `GET /events`, falls back to polling
//! `GET /status` when the event stream fails or goes silent, and subscribes
//! again later.
//!
//! A stream that stays connected but stops delivering blocks is a known
//! failure of relayers in the field, so silence is watched: if no new block
//! arrives for [`RpcOptions::silence_timeout`](crate::RpcOptions) (keep-alive
//! comments do not count), the stream is dropped and counted as a failure of
//! its endpoint. Every announced height is fetched and self-verified before
//! it is yielded (the light block is then cached), so a lying endpoint
//! cannot make a consumer chase a block that does not exist.

use std::sync::Arc;
use std::time::Duration;

use protocol::Height;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::Inner;
use super::http;
use super::pool::Failure;
use super::wire;
use crate::sse::SseParser;
use crate::{BlockStream, FailureKind};

/// Largest server-sent event accepted.
const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Starts following the chain in a task that ends when the stream is
/// dropped. Outside a Tokio runtime, logs an error and returns an empty
/// stream.
pub(crate) fn spawn(inner: Arc<Inner>) -> BlockStream {
    let (sender, receiver) = mpsc::channel(16);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                let mut follower = Follower {
                    inner,
                    sender: sender.clone(),
                    last: None,
                };
                tokio::select! {
                    () = sender.closed() => {}
                    () = follower.run() => {}
                }
            });
        }
        Err(e) => {
            tracing::error!(chain = %inner.chain_id, error = %e,
                "block_stream called outside a Tokio runtime: the stream is empty");
        }
    }
    Box::pin(ReceiverStream::new(receiver))
}

struct Follower {
    inner: Arc<Inner>,
    sender: mpsc::Sender<Height>,
    last: Option<Height>,
}

/// What happened to an announced height.
enum Offer {
    /// Yielded.
    Sent,
    /// Not above the last yielded height.
    Old,
    /// Its light block could not be fetched and verified.
    Unverified(String),
    /// The consumer is gone.
    Closed,
}

impl Follower {
    /// Runs until the consumer is gone.
    async fn run(&mut self) {
        if matches!(self.poll_once().await, Offer::Closed) {
            return;
        }
        loop {
            if self.follow_events().await.is_err() {
                return;
            }
            let until = after(self.inner.options.resubscribe_after);
            loop {
                if matches!(self.poll_once().await, Offer::Closed) {
                    return;
                }
                if Instant::now() >= until {
                    break;
                }
                tokio::time::sleep(self.inner.options.poll_interval).await;
            }
            tracing::info!(chain = %self.inner.chain_id, "subscribing to block events again");
        }
    }

    /// Yields `height` if it is new and its light block verifies.
    async fn offer(&mut self, height: Height) -> Offer {
        if self.last.is_some_and(|last| height <= last) {
            return Offer::Old;
        }
        if let Err(e) = self.inner.light_block(height).await {
            tracing::warn!(chain = %self.inner.chain_id, %height, error = %e,
                "announced block does not verify; not yielded");
            return Offer::Unverified(e.to_string());
        }
        if self.sender.send(height).await.is_err() {
            return Offer::Closed;
        }
        self.last = Some(height);
        Offer::Sent
    }

    /// One `status` poll; yields its height if new and verified.
    async fn poll_once(&mut self) -> Offer {
        match self.inner.status().await {
            Ok(status) => self.offer(status.latest_height).await,
            Err(e) => {
                tracing::warn!(chain = %self.inner.chain_id, error = %e, "polling status failed");
                Offer::Old
            }
        }
    }

    /// Follows the event stream of the first endpoint in line until it
    /// fails, goes silent or the consumer is gone (`Err`). A failure is
    /// attributed to the endpoint.
    async fn follow_events(&mut self) -> Result<(), Closed> {
        let Some(&index) = self.inner.pool.order().first() else {
            return Ok(());
        };
        match self.read_events(index).await {
            Ok(()) => Err(Closed),
            Err(Stop::Closed) => Err(Closed),
            Err(Stop::Failed(failure)) => {
                self.inner.pool.failed(index, &failure);
                tracing::info!(chain = %self.inner.chain_id, endpoint = %self.inner.pool.url(index),
                    "falling back to polling status");
                Ok(())
            }
        }
    }

    async fn read_events(&mut self, index: usize) -> Result<(), Stop> {
        let options = &self.inner.options;
        let silence = options.silence_timeout;
        self.inner.pool.record_request(index);
        let request = self
            .inner
            .stream_client
            .get(self.inner.url(index, "/events"))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let mut response = match tokio::time::timeout(options.timeout, request.send()).await {
            Err(_) => {
                return Err(Stop::Failed(Failure::new(
                    FailureKind::Timeout,
                    format!("no answer to GET /events within {:?}", options.timeout),
                )));
            }
            Ok(Err(e)) => return Err(Stop::Failed(http::transport_failure(&e))),
            Ok(Ok(r)) => r,
        };
        if !response.status().is_success() {
            let kind = if response.status().is_client_error() {
                FailureKind::Unavailable
            } else {
                FailureKind::HttpStatus
            };
            return Err(Stop::Failed(Failure::new(
                kind,
                format!("GET /events: HTTP {}", response.status()),
            )));
        }
        tracing::info!(chain = %self.inner.chain_id, endpoint = %self.inner.pool.url(index),
            "following block events");
        let mut parser = SseParser::new(MAX_EVENT_BYTES);
        let mut deadline = after(silence);
        loop {
            let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => {
                    return Err(Stop::Failed(Failure::new(
                        FailureKind::StreamSilent,
                        format!("no new block event for {silence:?}"),
                    )));
                }
                Ok(Err(e)) => {
                    return Err(Stop::Failed(Failure::new(
                        FailureKind::StreamClosed,
                        http::describe(&e),
                    )));
                }
                Ok(Ok(None)) => {
                    return Err(Stop::Failed(Failure::new(
                        FailureKind::StreamClosed,
                        "the server ended the event stream",
                    )));
                }
                Ok(Ok(Some(chunk))) => chunk,
            };
            let events = parser
                .feed(&chunk)
                .map_err(|e| Stop::Failed(Failure::new(FailureKind::TooLarge, e.to_string())))?;
            for event in events.into_iter().filter(|e| e.event == "block") {
                let block: wire::BlockEvent = serde_json::from_str(&event.data).map_err(|e| {
                    Stop::Failed(Failure::new(
                        FailureKind::Malformed,
                        format!("block event {}: {e}", http::excerpt(event.data.as_bytes())),
                    ))
                })?;
                match self.offer(block.height).await {
                    Offer::Sent => deadline = after(silence),
                    Offer::Old => {}
                    Offer::Closed => return Err(Stop::Closed),
                    Offer::Unverified(reason) => {
                        // Not necessarily this endpoint's fault (the block
                        // may be fetched elsewhere): not counted as a fault.
                        return Err(Stop::Failed(Failure::new(
                            FailureKind::Unavailable,
                            format!(
                                "announced block {}, which could not be verified: {reason}",
                                block.height
                            ),
                        )));
                    }
                }
            }
        }
    }
}

/// `now + d`, or a year from now when that is not representable.
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// The consumer dropped the stream.
struct Closed;

/// Why reading the event stream stopped.
enum Stop {
    Closed,
    Failed(Failure),
}
