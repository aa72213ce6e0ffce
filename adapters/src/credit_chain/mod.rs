//! The adapter of the reference credit chain, over its HTTP/JSON RPC
//! (`GET /status`, `/light_block/{h}`, `/state?key=HEX`, `/packets?since=H`,
//! `/events`; `POST /proofs`, `/tx`).
//!
//! # Failover
//!
//! A request goes to the endpoint that last answered well, then to the
//! other healthy ones, then to those put aside after a failure. An attempt
//! fails on a connection error, a timeout, a broken or oversized answer, an
//! unexpected status, or an answer that does not verify against itself
//! ([`self_check`]): that is a *fault*, logged as such;
//! the answer is dropped. Every failure is counted per endpoint
//! ([`EndpointStats`]) and puts the endpoint aside for
//! [`RpcOptions::quarantine`], except a plain "not available here" (4xx,
//! e.g. a block not produced yet), which is normal for a lagging node. When
//! every endpoint failed, the round is retried after an exponential backoff,
//! [`RpcOptions::retries`] times; when every endpoint said "not available",
//! the call returns [`AdapterError::Unavailable`] at once.
//!
//! # Transactions
//!
//! `POST /tx` answers once the transaction is committed. It is sent to
//! another endpoint only when the connection could not be made; once it may
//! have reached a node, a timeout or a broken answer gives
//! [`AdapterError::SubmitUncertain`], because sending it again elsewhere
//! could report a false "nonce replayed" refusal for a transaction that
//! succeeded. A refusal by the chain is an `Ok` [`SubmitOutcome`] with its
//! code.
//!
//! # Light blocks
//!
//! The last [`BLOCK_CACHE`] self-verified light blocks are kept, so that a
//! block announced by [`block_stream`](crate::ChainAdapter::block_stream),
//! which verifies each height before yielding it, is not fetched twice.

mod http;
mod pool;
mod stream;
mod wire;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use light_clients::credit_chain::KeyCache;
use protocol::{ChainId, Hash, Height, LightBlock, SignedTransaction, ValidatorSet};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::self_check::{self, SelfCheckError};
use crate::{
    AdapterError, BlockStream, BoxFuture, ChainAdapter, ChainStatus, EndpointStats, FailureKind,
    FeeEvents, Ledger, MAX_BATCH_KEYS, PacketEvents, ProvenEntry, ProvenState, ProvenStates,
    RpcOptions, SubmitOutcome,
};
use pool::{Failure, Pool};

/// The content type of the borsh bodies of `POST /txs` and `POST /proofs`.
const BINARY: &str = "application/octet-stream";

/// How many self-verified light blocks the adapter keeps.
pub const BLOCK_CACHE: usize = 32;

/// Most transactions in one `POST /txs`: the node's limit, the same as
/// for keys in one `POST /proofs`.
pub const MAX_TXS_PER_REQUEST: usize = MAX_BATCH_KEYS;

/// The kinds of event `GET /packets` reports.
pub const PACKET_EVENT_KINDS: [&str; 5] = [
    "send_packet",
    "recv_packet",
    "write_acknowledgement",
    "acknowledge_packet",
    "timeout_packet",
];

/// The kinds of event a data chain emits when it waits for its providers:
/// a credit query to answer (`query_requested`), an aggregation to
/// contribute to (`aggregation_requested`). Provider agents follow them
/// beside `recv_packet`; `GET /packets` may report them too.
pub const PROVIDER_EVENT_KINDS: [&str; 2] = ["query_requested", "aggregation_requested"];

/// The [`ChainAdapter`] of a credit chain, over several RPC endpoints; see
/// the [module docs](self). Cheap to clone: clones share endpoints,
/// counters and caches.
#[derive(Clone)]
pub struct CreditChainAdapter {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    chain_id: ChainId,
    options: RpcOptions,
    pool: Pool,
    client: reqwest::Client,
    stream_client: reqwest::Client,
    keys: Mutex<KeyCache>,
    /// Self-verified light blocks and the endpoint that served each.
    blocks: Mutex<VecDeque<(LightBlock, usize)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // What these mutexes guard stays valid if a holder panicked.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CreditChainAdapter {
    /// An adapter for `chain_id` over `endpoints` (base URLs such as
    /// `http://127.0.0.1:26657`, tried in this order at first). Fails when
    /// there is no endpoint, a URL is not a plain `http` base URL, or an
    /// option is out of range. Makes no request.
    pub fn new(
        chain_id: ChainId,
        endpoints: Vec<String>,
        options: RpcOptions,
    ) -> Result<CreditChainAdapter, AdapterError> {
        options.validate()?;
        if endpoints.is_empty() {
            return Err(AdapterError::InvalidConfig(format!(
                "no RPC endpoint given for chain {chain_id}"
            )));
        }
        let urls = endpoints
            .iter()
            .map(|raw| pool::parse_endpoint(raw))
            .collect::<Result<Vec<_>, _>>()?;
        let build = |timeout: Option<std::time::Duration>| {
            let mut b = reqwest::Client::builder()
                .connect_timeout(options.timeout)
                .redirect(reqwest::redirect::Policy::none());
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build()
                .map_err(|e| AdapterError::InvalidConfig(format!("HTTP client: {e}")))
        };
        let client = build(Some(options.timeout))?;
        // The event stream is long-lived: no overall timeout, silence is
        // watched instead.
        let stream_client = build(None)?;
        Ok(CreditChainAdapter {
            inner: Arc::new(Inner {
                pool: Pool::new(chain_id.clone(), urls, options.quarantine),
                chain_id,
                options,
                client,
                stream_client,
                keys: Mutex::new(KeyCache::new()),
                blocks: Mutex::new(VecDeque::new()),
            }),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &RpcOptions {
        &self.inner.options
    }

    /// Every balance and escrow of the chain at its latest height
    /// (`GET /accounts`), with failover. Not proven: for reports.
    pub async fn ledger(&self) -> Result<Ledger, AdapterError> {
        let inner = &self.inner;
        inner
            .failover("ledger".to_owned(), |i| async move {
                inner.get::<Ledger>(i, "/accounts").await
            })
            .await
    }

    /// Fee events of the blocks after `since` (`GET /fee_events`), up to
    /// [`FeeEvents::scanned_to`], with failover. Not proven: for reports.
    pub async fn fee_events(&self, since: u64) -> Result<FeeEvents, AdapterError> {
        let inner = &self.inner;
        inner
            .failover(format!("fee_events(since {since})"), |i| async move {
                let answer: FeeEvents = inner.get(i, &format!("/fee_events?since={since}")).await?;
                if answer.scanned_to < since || answer.scanned_to > answer.latest_height {
                    return Err(inconsistent(format!(
                        "scanned_to {} outside [{since}, latest {}]",
                        answer.scanned_to, answer.latest_height
                    )));
                }
                if let Some(e) = answer
                    .events
                    .iter()
                    .find(|e| e.height.value() <= since || e.height.value() > answer.scanned_to)
                {
                    return Err(inconsistent(format!(
                        "event at height {} outside the scanned range ({since}, {}]",
                        e.height, answer.scanned_to
                    )));
                }
                Ok(answer)
            })
            .await
    }
}

impl ChainAdapter for CreditChainAdapter {
    fn chain_id(&self) -> &ChainId {
        &self.inner.chain_id
    }

    fn status(&self) -> BoxFuture<'_, Result<ChainStatus, AdapterError>> {
        Box::pin(self.inner.status())
    }

    fn light_block(&self, height: Height) -> BoxFuture<'_, Result<LightBlock, AdapterError>> {
        Box::pin(self.inner.light_block(height))
    }

    fn validators(&self, height: Height) -> BoxFuture<'_, Result<ValidatorSet, AdapterError>> {
        Box::pin(async move { Ok(self.inner.light_block(height).await?.validators) })
    }

    fn state<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<ProvenState, AdapterError>> {
        Box::pin(self.inner.state(key))
    }

    fn states<'a>(
        &'a self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<ProvenStates, AdapterError>> {
        Box::pin(self.inner.states(keys))
    }

    fn submit<'a>(
        &'a self,
        tx: &'a SignedTransaction,
    ) -> BoxFuture<'a, Result<SubmitOutcome, AdapterError>> {
        Box::pin(self.inner.submit(tx))
    }

    fn submit_batch<'a>(
        &'a self,
        txs: &'a [SignedTransaction],
    ) -> BoxFuture<'a, Result<Vec<Result<SubmitOutcome, String>>, AdapterError>> {
        Box::pin(self.inner.submit_batch(txs))
    }

    fn packet_events(&self, since: u64) -> BoxFuture<'_, Result<PacketEvents, AdapterError>> {
        Box::pin(self.inner.packet_events(since))
    }

    fn block_stream(&self) -> BlockStream {
        stream::spawn(self.inner.clone())
    }

    fn endpoint_stats(&self) -> Vec<EndpointStats> {
        self.inner.pool.stats()
    }

    fn refute_light_block(&self, block: &LightBlock, reason: &str) {
        self.inner.refute(block, reason);
    }
}

/// A refusal at admission: `400 {"error", "detail": {"code", "hash"}}`
/// gives the code, the hash it names and the message.
fn refusal(reply: &http::Reply) -> Option<(u32, Option<Hash>, String)> {
    if reply.status != StatusCode::BAD_REQUEST {
        return None;
    }
    let refusal: wire::Refusal = serde_json::from_slice(&reply.body).ok()?;
    let detail = refusal.detail?;
    Some((detail.code?, detail.hash, refusal.error))
}

/// The failure an answer that does not verify against itself stands for.
fn check_failure(e: SelfCheckError) -> Failure {
    let kind = match &e {
        SelfCheckError::WrongChain { .. } => FailureKind::WrongChain,
        SelfCheckError::WrongHeight { .. } => FailureKind::Inconsistent,
        SelfCheckError::Invalid(_) => FailureKind::InvalidLightBlock,
        SelfCheckError::Proof { .. } => FailureKind::InvalidProof,
    };
    Failure::new(kind, e.to_string())
}

fn inconsistent(reason: String) -> Failure {
    Failure::new(FailureKind::Inconsistent, reason)
}

impl Inner {
    fn url(&self, index: usize, path: &str) -> String {
        format!("{}{path}", self.pool.url(index))
    }

    /// `GET path` at endpoint `index`, decoded.
    async fn get<T: DeserializeOwned>(&self, index: usize, path: &str) -> Result<T, Failure> {
        self.pool.record_request(index);
        let request = self.client.get(self.url(index, path));
        let reply = http::exchange(request, self.options.max_response_bytes).await?;
        http::decode(&reply)
    }

    /// Runs `attempt` on each endpoint in turn until one succeeds, for as
    /// many rounds as the options allow; see the [module docs](self).
    async fn failover<T, F, Fut>(&self, what: String, attempt: F) -> Result<T, AdapterError>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let rounds = self.options.retries.saturating_add(1);
        let mut failures = Vec::new();
        for round in 0..rounds {
            failures.clear();
            for index in self.pool.order() {
                match attempt(index).await {
                    Ok(value) => {
                        self.pool.succeeded(index);
                        return Ok(value);
                    }
                    Err(failure) => {
                        let attributed = self.pool.failed(index, &failure);
                        if let Some(hash) = failure.uncertain_tx {
                            return Err(AdapterError::SubmitUncertain {
                                chain_id: self.chain_id.clone(),
                                hash,
                                failure: attributed,
                            });
                        }
                        failures.push(attributed);
                    }
                }
            }
            if failures.iter().all(|f| f.kind == FailureKind::Unavailable) {
                return Err(AdapterError::Unavailable {
                    chain_id: self.chain_id.clone(),
                    what,
                    failures,
                });
            }
            if round + 1 < rounds {
                let wait = self.options.backoff(round);
                tracing::info!(chain = %self.chain_id, %what, round = round + 1, ?wait,
                    "every endpoint failed; retrying after backoff");
                tokio::time::sleep(wait).await;
            }
        }
        Err(AdapterError::AllEndpointsFailed {
            chain_id: self.chain_id.clone(),
            what,
            rounds,
            failures,
        })
    }

    async fn status(&self) -> Result<ChainStatus, AdapterError> {
        self.failover("status".to_owned(), |i| self.status_at(i))
            .await
    }

    async fn status_at(&self, index: usize) -> Result<ChainStatus, Failure> {
        let status: wire::Status = self.get(index, "/status").await?;
        self_check::is_chain(&self.chain_id, &status.chain_id).map_err(check_failure)?;
        match (
            status.latest_height,
            status.latest_hash,
            status.latest_time,
            status.state_root,
        ) {
            (Some(latest_height), Some(latest_hash), Some(latest_time), Some(state_root)) => {
                Ok(ChainStatus {
                    chain_id: status.chain_id,
                    latest_height,
                    latest_hash,
                    latest_time,
                    state_root,
                })
            }
            (None, None, None, None) => Err(Failure::new(
                FailureKind::Unavailable,
                "no block committed yet",
            )),
            _ => Err(Failure::new(
                FailureKind::Malformed,
                "status has some latest-block fields null and others not",
            )),
        }
    }

    fn cached(&self, height: Height) -> Option<LightBlock> {
        lock(&self.blocks)
            .iter()
            .find(|(b, _)| b.height() == height)
            .map(|(b, _)| b.clone())
    }

    /// Keeps `block`, served by endpoint `index`.
    fn remember(&self, block: &LightBlock, index: usize) {
        let mut blocks = lock(&self.blocks);
        if blocks.iter().any(|(b, _)| b.height() == block.height()) {
            return;
        }
        blocks.push_back((block.clone(), index));
        while blocks.len() > BLOCK_CACHE {
            blocks.pop_front();
        }
    }

    /// Drops `block` from the cache and counts a fault against the
    /// endpoint that served it: the caller's light client refused it.
    fn refute(&self, block: &LightBlock, reason: &str) {
        let hash = block.header().hash();
        let served_by = {
            let mut blocks = lock(&self.blocks);
            let at = blocks
                .iter()
                .position(|(b, _)| b.height() == block.height() && b.header().hash() == hash);
            at.and_then(|at| blocks.remove(at)).map(|(_, index)| index)
        };
        if let Some(index) = served_by {
            self.pool.failed(
                index,
                &Failure::new(
                    FailureKind::RefusedByLightClient,
                    format!("light block {}: {reason}", block.height()),
                ),
            );
        }
    }

    pub(crate) async fn light_block(&self, height: Height) -> Result<LightBlock, AdapterError> {
        if let Some(block) = self.cached(height) {
            return Ok(block);
        }
        let (block, index) = self
            .failover(format!("light_block({height})"), |i| async move {
                self.light_block_at(i, height).await.map(|b| (b, i))
            })
            .await?;
        self.remember(&block, index);
        Ok(block)
    }

    async fn light_block_at(&self, index: usize, height: Height) -> Result<LightBlock, Failure> {
        let block: LightBlock = self.get(index, &format!("/light_block/{height}")).await?;
        let mut keys = lock(&self.keys);
        self_check::light_block(&self.chain_id, height, &block, &mut keys).map_err(|e| {
            let f = check_failure(e);
            Failure::new(f.kind, format!("light block {height}: {}", f.reason))
        })?;
        Ok(block)
    }

    async fn state(&self, key: &[u8]) -> Result<ProvenState, AdapterError> {
        let what = format!("state(key {})", http::excerpt(hex::encode(key).as_bytes()));
        let (proven, index) = self
            .failover(what, |i| async move {
                self.state_at(i, key).await.map(|p| (p, i))
            })
            .await?;
        self.remember(&proven.light_block, index);
        Ok(proven)
    }

    /// The value and proof from endpoint `index`, checked against the light
    /// block at the proof's height from the same endpoint.
    async fn state_at(&self, index: usize, key: &[u8]) -> Result<ProvenState, Failure> {
        let key_hex = hex::encode(key);
        let answer: wire::State = self.get(index, &format!("/state?key={key_hex}")).await?;
        if !answer.key.eq_ignore_ascii_case(&key_hex) {
            return Err(inconsistent(format!(
                "state answer is for key {}, asked {}",
                http::excerpt(answer.key.as_bytes()),
                http::excerpt(key_hex.as_bytes())
            )));
        }
        let value =
            answer.value.map(hex::decode).transpose().map_err(|e| {
                Failure::new(FailureKind::Malformed, format!("value is not hex: {e}"))
            })?;
        let block = self.light_block_at(index, answer.height).await?;
        self_check::state_proof(&block, key, value.as_deref(), &answer.proof)
            .map_err(check_failure)?;
        Ok(ProvenState {
            key: key.to_vec(),
            height: answer.height,
            value,
            proof: answer.proof,
            light_block: block,
        })
    }

    async fn states(&self, keys: &[Vec<u8>]) -> Result<ProvenStates, AdapterError> {
        if keys.len() > MAX_BATCH_KEYS {
            return Err(AdapterError::InvalidRequest(format!(
                "{} keys in one batch, at most {MAX_BATCH_KEYS}",
                keys.len()
            )));
        }
        let what = format!("states({} keys)", keys.len());
        let (proven, index) = self
            .failover(what, |i| async move {
                self.states_at(i, keys).await.map(|p| (p, i))
            })
            .await?;
        self.remember(&proven.light_block, index);
        Ok(proven)
    }

    /// Values and proofs of `keys` from endpoint `index` (`POST /proofs`),
    /// checked against the light block at their height from the same
    /// endpoint.
    async fn states_at(&self, index: usize, keys: &[Vec<u8>]) -> Result<ProvenStates, Failure> {
        self.pool.record_request(index);
        let hex_keys: Vec<String> = keys.iter().map(hex::encode).collect();
        // Borsh answer: a third of the JSON's bytes, and no hex to parse.
        let request = self
            .client
            .post(self.url(index, "/proofs"))
            .header(reqwest::header::ACCEPT, BINARY)
            .json(&serde_json::json!({ "keys": hex_keys }));
        let reply = http::exchange(request, self.options.max_response_bytes).await?;
        let (height, answered): wire::BinaryProofs = http::decode_borsh(&reply)?;
        if answered.len() != keys.len() {
            return Err(inconsistent(format!(
                "{} entries for {} keys",
                answered.len(),
                keys.len()
            )));
        }
        let block = self.light_block_at(index, height).await?;
        let mut entries = Vec::with_capacity(keys.len());
        for (i, ((entry_key, value, proof), key)) in answered.into_iter().zip(keys).enumerate() {
            if entry_key != *key {
                return Err(inconsistent(format!(
                    "entry {i} is for key {}, asked {}",
                    http::excerpt(hex::encode(&entry_key).as_bytes()),
                    http::excerpt(hex::encode(key).as_bytes())
                )));
            }
            self_check::state_proof(&block, key, value.as_deref(), &proof).map_err(|e| {
                let f = check_failure(e);
                Failure::new(f.kind, format!("entry {i}: {}", f.reason))
            })?;
            entries.push(ProvenEntry {
                key: entry_key,
                value,
                proof,
            });
        }
        Ok(ProvenStates {
            height,
            entries,
            light_block: block,
        })
    }

    async fn submit(&self, tx: &SignedTransaction) -> Result<SubmitOutcome, AdapterError> {
        let hash = tx.hash();
        self.failover(format!("submit({hash})"), |i| self.submit_at(i, tx, hash))
            .await
    }

    /// POSTs transactions for submission. Only a failed connection means
    /// they reached no one; any later failure leaves their fate uncertain
    /// (marked with `hash`), so they are not resent elsewhere.
    async fn post_submission<T: serde::Serialize + ?Sized>(
        &self,
        index: usize,
        path: &str,
        body: &T,
        hash: Hash,
    ) -> Result<http::Reply, Failure> {
        let request = self.client.post(self.url(index, path)).json(body);
        self.send_submission(index, request, hash).await
    }

    async fn send_submission(
        &self,
        index: usize,
        request: reqwest::RequestBuilder,
        hash: Hash,
    ) -> Result<http::Reply, Failure> {
        self.pool.record_request(index);
        let request = request.timeout(self.options.submit_timeout);
        match http::exchange(request, self.options.max_response_bytes).await {
            Ok(reply) => Ok(reply),
            Err(f) if f.kind == FailureKind::Connect => Err(f),
            Err(f) => Err(Failure {
                uncertain_tx: Some(hash),
                ..f
            }),
        }
    }

    async fn submit_at(
        &self,
        index: usize,
        tx: &SignedTransaction,
        hash: Hash,
    ) -> Result<SubmitOutcome, Failure> {
        let uncertain = |f: Failure| Failure {
            uncertain_tx: Some(hash),
            ..f
        };
        let reply = self.post_submission(index, "/tx", tx, hash).await?;
        if let Some((code, refused, message)) = refusal(&reply) {
            if let Some(other) = refused.filter(|h| *h != hash) {
                return Err(uncertain(inconsistent(format!(
                    "refusal names transaction {other}, sent {hash}"
                ))));
            }
            if code == 0 {
                return Err(uncertain(inconsistent(
                    "refusal with code 0 (success)".to_owned(),
                )));
            }
            return Ok(SubmitOutcome {
                hash,
                height: None,
                code,
                codespace: String::new(),
                message,
                events: Vec::new(),
            });
        }
        if reply.status.is_client_error() {
            // Refused before admission without a chain code (the node could
            // not read it): nothing was admitted.
            return Err(Failure::new(
                FailureKind::Unavailable,
                format!(
                    "HTTP {}: {}",
                    reply.status,
                    http::error_message(&reply.body)
                ),
            ));
        }
        let committed: wire::Committed = http::decode(&reply).map_err(uncertain)?;
        if committed.hash != hash {
            return Err(uncertain(inconsistent(format!(
                "answer is for transaction {}, sent {hash}",
                committed.hash
            ))));
        }
        Ok(SubmitOutcome {
            hash,
            height: Some(committed.height),
            code: committed.result.code,
            codespace: committed.result.codespace,
            message: committed.result.message,
            events: committed.result.events,
        })
    }

    /// Submits `txs` in requests of at most [`MAX_TXS_PER_REQUEST`] (the
    /// node's limit), one after the other. A request that fails after the
    /// first leaves the rest unsent: their outcomes are errors, and what
    /// came before stands.
    async fn submit_batch(
        &self,
        txs: &[SignedTransaction],
    ) -> Result<Vec<Result<SubmitOutcome, String>>, AdapterError> {
        let mut out = Vec::with_capacity(txs.len());
        for chunk in txs.chunks(MAX_TXS_PER_REQUEST) {
            let first = chunk[0].hash();
            let answered = self
                .failover(format!("submit_batch({} from {first})", chunk.len()), |i| {
                    self.submit_batch_at(i, chunk, first)
                })
                .await;
            match answered {
                Ok(outcomes) => out.extend(outcomes),
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    let reason = format!("no outcome: a request of the batch failed: {e}");
                    out.extend(std::iter::repeat_n(Err(reason), txs.len() - out.len()));
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn submit_batch_at(
        &self,
        index: usize,
        txs: &[SignedTransaction],
        first: Hash,
    ) -> Result<Vec<Result<SubmitOutcome, String>>, Failure> {
        let uncertain = |f: Failure| Failure {
            uncertain_tx: Some(first),
            ..f
        };
        // Borsh, not JSON: a third of the bytes, and no hex to encode or parse.
        let body = borsh::to_vec(txs).map_err(|e| {
            Failure::new(FailureKind::Malformed, format!("encoding the batch: {e}"))
        })?;
        let request = self
            .client
            .post(self.url(index, "/txs"))
            .header(reqwest::header::CONTENT_TYPE, BINARY)
            .body(body);
        let reply = self.send_submission(index, request, first).await?;
        if reply.status.is_client_error() {
            return Err(Failure::new(
                FailureKind::Unavailable,
                format!(
                    "HTTP {}: {}",
                    reply.status,
                    http::error_message(&reply.body)
                ),
            ));
        }
        let answers: Vec<wire::BatchAnswer> = http::decode(&reply).map_err(uncertain)?;
        if answers.len() != txs.len() {
            return Err(uncertain(inconsistent(format!(
                "{} answers for {} transactions",
                answers.len(),
                txs.len()
            ))));
        }
        let mut out = Vec::with_capacity(txs.len());
        for (tx, answer) in txs.iter().zip(answers) {
            let hash = tx.hash();
            let committed = match answer {
                wire::BatchAnswer::Refused(refusal) => {
                    let code = refusal.detail.and_then(|d| d.code).filter(|c| *c != 0);
                    out.push(match code {
                        Some(code) => Ok(SubmitOutcome {
                            hash,
                            height: None,
                            code,
                            codespace: String::new(),
                            message: refusal.error,
                            events: Vec::new(),
                        }),
                        None => Err(format!("transaction {hash}: {}", refusal.error)),
                    });
                    continue;
                }
                wire::BatchAnswer::Committed(committed) => committed,
            };
            if committed.hash != hash {
                return Err(uncertain(inconsistent(format!(
                    "answer is for transaction {}, sent {hash}",
                    committed.hash
                ))));
            }
            out.push(Ok(SubmitOutcome {
                hash,
                height: Some(committed.height),
                code: committed.result.code,
                codespace: committed.result.codespace,
                message: committed.result.message,
                events: committed.result.events,
            }));
        }
        Ok(out)
    }

    async fn packet_events(&self, since: u64) -> Result<PacketEvents, AdapterError> {
        self.failover(format!("packet_events(since {since})"), |i| {
            self.packet_events_at(i, since)
        })
        .await
    }

    async fn packet_events_at(&self, index: usize, since: u64) -> Result<PacketEvents, Failure> {
        let answer: wire::Packets = self.get(index, &format!("/packets?since={since}")).await?;
        if answer.latest_height < since {
            return Err(Failure::new(
                FailureKind::Unavailable,
                format!(
                    "endpoint is at height {}, behind {since}",
                    answer.latest_height
                ),
            ));
        }
        if answer.scanned_to < since || answer.scanned_to > answer.latest_height {
            return Err(inconsistent(format!(
                "scanned_to {} outside [{since}, latest {}]",
                answer.scanned_to, answer.latest_height
            )));
        }
        let mut previous = since;
        for e in &answer.events {
            let h = e.height.value();
            if h <= since || h > answer.scanned_to {
                return Err(inconsistent(format!(
                    "event at height {h} outside the scanned range ({since}, {}]",
                    answer.scanned_to
                )));
            }
            if h < previous {
                return Err(inconsistent(format!(
                    "events out of order: height {h} after {previous}"
                )));
            }
            previous = h;
            let kind = e.event.kind.as_str();
            if !PACKET_EVENT_KINDS.contains(&kind) && !PROVIDER_EVENT_KINDS.contains(&kind) {
                return Err(inconsistent(format!(
                    "event of kind {:?} is not a packet event",
                    http::excerpt(e.event.kind.as_bytes())
                )));
            }
        }
        Ok(PacketEvents {
            events: answer.events,
            scanned_to: answer.scanned_to,
            latest_height: answer.latest_height,
        })
    }
}
