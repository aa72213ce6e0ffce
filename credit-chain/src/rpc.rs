//! The node's HTTP/JSON RPC (axum) and its block timer.
//!
//! | method | path | returns |
//! |---|---|---|
//! | GET | `/status` | chain id, latest height, hash, time, state root |
//! | GET | `/light_block/{height}` | header, commit, validator sets |
//! | GET | `/header/{height}`, `/commit/{height}`, `/validators/{height}` | parts of it |
//! | GET | `/state?key=HEX` | value at the latest height with its proof |
//! | POST | `/tx` | submits a signed transaction; answers once committed |
//! | POST | `/txs` | submits several (a JSON array, or borsh `Vec<SignedTransaction>` with content type `application/octet-stream`) into the same block if they fit; answers each once committed |
//! | POST | `/proofs` | `{"keys": [HEX, ...]}`: values and proofs of many keys at one height (with `Accept: application/octet-stream`, borsh `(Height, Vec<(key, Option<value>, StateProof)>)`) |
//! | GET | `/packets?since=HEIGHT&limit=N` | packet and acknowledgement events since a height (at most `N`, default and maximum 5,000, whole blocks) |
//! | GET | `/events` | server-sent events, one per new block |
//! | GET | `/accounts` | every balance and escrow at the latest height, with totals |
//! | GET | `/fee_events?since=HEIGHT&limit=N` | fee events (escrow locked, fee paid, escrow refunded) since a height, with block times, bounded like `/packets` |
//!
//! Errors are `{"error": "..."}` with a 4xx status naming what was wrong,
//! or 503 when the mempool is full (the caller may retry later).
//!
//! # Admission
//!
//! The mempool is bounded ([`MempoolLimits`]): a submission that does not
//! fit is refused whole with 503, and the node goes on serving. A
//! transaction already pending, or another one with the nonce of a pending
//! one, is refused with 409; so is nothing else. A nonce further than
//! [`MAX_NONCE_AHEAD`](crate::app::MAX_NONCE_AHEAD) past the sender's last
//! used one is refused by the chain's admission check (code 11).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::{Hash, Height, PublicKey, SignedTransaction, Time};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Mutex, broadcast, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::app::{TxError, TxResult};
use crate::node::Chain;
use crate::store::BlockReader;

/// Largest `POST /txs` body: a relayer's batch of packets with their
/// proofs (axum's default of 2 MiB holds only a few hundred).
const MAX_BATCH_BODY: usize = 64 * 1024 * 1024;

/// How long `POST /tx` waits for its transaction to be committed.
const COMMIT_WAIT: Duration = Duration::from_secs(30);
/// Most transactions in one block; the rest wait for the next.
const MAX_BLOCK_TXS: usize = 5_000;

/// A transaction's fate, sent to whoever submitted it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Committed {
    /// Transaction hash.
    pub hash: Hash,
    /// Height of the block that holds it.
    pub height: Height,
    /// Its result (code 0 = success).
    pub result: TxResult,
}

/// How much the mempool holds at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Transactions pending.
    pub max_txs: usize,
    /// Their encoded size, in bytes.
    pub max_bytes: usize,
}

impl Default for MempoolLimits {
    /// 20,000 transactions (four full blocks) and 256 MiB.
    fn default() -> Self {
        MempoolLimits {
            max_txs: 20_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Why a transaction was not admitted to the mempool.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The chain's admission check refused it.
    #[error("transaction {hash} rejected: {source}")]
    Rejected {
        /// The transaction.
        hash: Hash,
        /// The chain's reason (boxed: it is large, and refusals are rare).
        #[source]
        source: Box<TxError>,
    },
    /// The very same transaction is already pending.
    #[error("transaction {hash} is a duplicate of a pending transaction")]
    DuplicatePending {
        /// The transaction.
        hash: Hash,
    },
    /// Another pending transaction of the sender has this nonce: at most
    /// one of them could execute.
    #[error(
        "transaction {hash} rejected: nonce {nonce} of {sender} is already taken by pending transaction {pending}"
    )]
    NonceTaken {
        /// The transaction.
        hash: Hash,
        /// Its sender.
        sender: PublicKey,
        /// Its nonce.
        nonce: u64,
        /// The pending transaction with that nonce.
        pending: Hash,
    },
    /// The submission does not fit in the mempool.
    #[error(
        "mempool full: {pending} transactions ({bytes} bytes) pending, at most {max_txs} ({max_bytes} bytes); {incoming} more ({incoming_bytes} bytes) do not fit, retry later"
    )]
    MempoolFull {
        /// Transactions pending.
        pending: usize,
        /// Their size.
        bytes: usize,
        /// The limit on transactions.
        max_txs: usize,
        /// The limit on bytes.
        max_bytes: usize,
        /// Transactions submitted.
        incoming: usize,
        /// Their size.
        incoming_bytes: usize,
    },
}

impl From<AdmissionError> for ApiError {
    fn from(e: AdmissionError) -> ApiError {
        let (status, detail) = match &e {
            AdmissionError::Rejected { hash, source } => (
                StatusCode::BAD_REQUEST,
                Some(json!({ "code": source.code(), "hash": hash })),
            ),
            AdmissionError::DuplicatePending { hash } => (
                StatusCode::CONFLICT,
                Some(json!({ "reason": "duplicate_pending", "hash": hash })),
            ),
            AdmissionError::NonceTaken { hash, pending, .. } => (
                StatusCode::CONFLICT,
                Some(json!({ "reason": "nonce_pending", "hash": hash, "pending": pending })),
            ),
            AdmissionError::MempoolFull { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                Some(json!({ "reason": "mempool_full" })),
            ),
        };
        ApiError {
            status,
            message: e.to_string(),
            detail,
        }
    }
}

/// A transaction waiting for a block, with whoever waits for its fate.
struct PendingTx {
    tx: SignedTransaction,
    hash: Hash,
    bytes: usize,
    waiter: Option<oneshot::Sender<Committed>>,
}

/// The transactions admitted and not yet in a block, in order, indexed by
/// (sender, nonce), within [`MempoolLimits`].
#[derive(Default)]
struct Mempool {
    queue: Vec<PendingTx>,
    by_nonce: HashMap<(PublicKey, u64), Hash>,
    bytes: usize,
    limits: MempoolLimits,
}

impl Mempool {
    /// Refuses a duplicate, or a second transaction with a pending one's
    /// nonce.
    fn check_new(&self, tx: &SignedTransaction, hash: Hash) -> Result<(), AdmissionError> {
        match self.by_nonce.get(&(tx.tx.sender, tx.tx.nonce)) {
            Some(pending) if *pending == hash => Err(AdmissionError::DuplicatePending { hash }),
            Some(pending) => Err(AdmissionError::NonceTaken {
                hash,
                sender: tx.tx.sender,
                nonce: tx.tx.nonce,
                pending: *pending,
            }),
            None => Ok(()),
        }
    }

    /// Refuses a submission of `count` transactions and `bytes` bytes that
    /// does not fit whole (a batch is admitted together or not at all, so
    /// it never leaves a nonce gap behind).
    fn check_room(&self, count: usize, bytes: usize) -> Result<(), AdmissionError> {
        let fits = self.queue.len().saturating_add(count) <= self.limits.max_txs
            && self.bytes.saturating_add(bytes) <= self.limits.max_bytes;
        if fits {
            return Ok(());
        }
        Err(AdmissionError::MempoolFull {
            pending: self.queue.len(),
            bytes: self.bytes,
            max_txs: self.limits.max_txs,
            max_bytes: self.limits.max_bytes,
            incoming: count,
            incoming_bytes: bytes,
        })
    }

    fn push(&mut self, pending: PendingTx) {
        self.by_nonce
            .insert((pending.tx.tx.sender, pending.tx.tx.nonce), pending.hash);
        self.bytes = self.bytes.saturating_add(pending.bytes);
        self.queue.push(pending);
    }

    /// Takes the oldest `n` transactions out.
    fn take(&mut self, n: usize) -> Vec<PendingTx> {
        let n = n.min(self.queue.len());
        let taken: Vec<PendingTx> = self.queue.drain(..n).collect();
        for p in &taken {
            self.by_nonce.remove(&(p.tx.tx.sender, p.tx.tx.nonce));
            self.bytes = self.bytes.saturating_sub(p.bytes);
        }
        taken
    }
}

/// What the server shares between requests and the block timer.
pub struct Node {
    chain: Mutex<Chain>,
    mempool: Mutex<Mempool>,
    blocks: broadcast::Sender<serde_json::Value>,
    /// Committed blocks, read by scans without the chain's lock.
    reader: BlockReader,
}

/// The current time from the system clock.
pub fn now() -> Time {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Time::from_unix_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Node {
    /// Wraps an opened chain, with the default mempool limits.
    pub fn new(chain: Chain) -> Arc<Node> {
        Node::with_limits(chain, MempoolLimits::default())
    }

    /// Wraps an opened chain whose mempool holds at most `limits`.
    pub fn with_limits(chain: Chain, limits: MempoolLimits) -> Arc<Node> {
        let (blocks, _) = broadcast::channel(256);
        let reader = chain.block_reader();
        Arc::new(Node {
            chain: Mutex::new(chain),
            mempool: Mutex::new(Mempool {
                limits,
                ..Mempool::default()
            }),
            blocks,
            reader,
        })
    }

    /// Produces one block from the mempool; returns its height.
    pub async fn produce_block(&self) -> anyhow::Result<Height> {
        let batch = self.mempool.lock().await.take(MAX_BLOCK_TXS);
        let (txs, waiters): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.tx, p.waiter)).unzip();
        let produced = self.chain.lock().await.produce_block(txs, now())?;
        let header = produced.block.light_block.header().clone();
        let t = &produced.timings;
        tracing::debug!(
            height = %header.height,
            txs = produced.block.transactions.len(),
            execute_ms = t.execute.as_millis() as u64,
            state_root_ms = t.state_root.as_millis() as u64,
            sign_ms = t.sign.as_millis() as u64,
            store_ms = t.store.as_millis() as u64,
            "committed block"
        );
        for ((waiter, tx), result) in waiters
            .into_iter()
            .zip(&produced.block.transactions)
            .zip(produced.results)
        {
            if let Some(w) = waiter {
                let _ = w.send(Committed {
                    hash: tx.hash(),
                    height: header.height,
                    result,
                });
            }
        }
        let _ = self.blocks.send(json!({
            "height": header.height,
            "hash": header.hash(),
            "time": header.time,
            "state_root": header.state_root,
            "transactions": produced.block.transactions.len(),
        }));
        Ok(header.height)
    }

    /// Produces a block every `block_time` until a block fails to commit.
    pub async fn run_blocks(self: Arc<Self>, block_time: Duration) -> anyhow::Result<()> {
        let mut timer = tokio::time::interval(block_time);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            self.produce_block().await?;
        }
    }
}

/// The RPC routes.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/light_block/{height}", get(light_block))
        .route("/header/{height}", get(header))
        .route("/commit/{height}", get(commit))
        .route("/validators/{height}", get(validators))
        .route("/state", get(state))
        .route("/tx", post(submit_tx))
        .route(
            "/txs",
            post(submit_txs).layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route("/proofs", post(proofs))
        .route("/packets", get(packets))
        .route("/events", get(events))
        .route("/accounts", get(accounts))
        .route("/fee_events", get(fee_events))
        .fallback(|| async { ApiError::not_found("no such endpoint; see GET /status, /light_block/{height}, /state?key=HEX, POST /tx") })
        .with_state(node)
}

/// Serves the RPC on `addr` and produces blocks until either fails.
pub async fn serve(node: Arc<Node>, addr: SocketAddr, block_time: Duration) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(rpc = %listener.local_addr()?, "credit-chain RPC listening");
    let app = router(node.clone());
    tokio::select! {
        r = axum::serve(listener, app) => r.map_err(anyhow::Error::from),
        r = node.run_blocks(block_time) => r,
    }
}

/// An RPC error: a status and a message naming what was wrong.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    detail: Option<serde_json::Value>,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            detail: None,
        }
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            detail: None,
        }
    }

    fn internal(err: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: err.to_string(),
            detail: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let (Some(d), Some(obj)) = (self.detail, body.as_object_mut()) {
            obj.insert("detail".into(), d);
        }
        (self.status, Json(body)).into_response()
    }
}

type ApiResult = Result<Json<serde_json::Value>, ApiError>;

fn parse_height(raw: &str) -> Result<Height, ApiError> {
    raw.parse::<u64>()
        .ok()
        .and_then(|h| Height::new(h).ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!("invalid height {raw:?}: expected an integer >= 1"))
        })
}

async fn status(State(node): State<Arc<Node>>) -> ApiResult {
    let mempool = {
        let pool = node.mempool.lock().await;
        json!({
            "pending": pool.queue.len(),
            "bytes": pool.bytes,
            "max_txs": pool.limits.max_txs,
            "max_bytes": pool.limits.max_bytes,
        })
    };
    let chain = node.chain.lock().await;
    let tip = chain.tip().map(|b| b.light_block.header().clone());
    Ok(Json(json!({
        "mempool": mempool,
        "chain_id": chain.genesis().chain_id,
        "latest_height": tip.as_ref().map(|h| h.height),
        "latest_hash": tip.as_ref().map(|h| h.hash()),
        "latest_time": tip.as_ref().map(|h| h.time),
        "state_root": tip.as_ref().map(|h| h.state_root),
        "next_validators_hash": chain.next_validators().hash(),
        "store_bytes": chain.store_size(),
    })))
}

async fn block_at(node: &Node, raw: &str) -> Result<crate::store::StoredBlock, ApiError> {
    let height = parse_height(raw)?;
    let chain = node.chain.lock().await;
    chain
        .block(height)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            let latest = chain.tip().map_or(0, |b| b.light_block.height().value());
            ApiError::not_found(format!("no block at height {height}; latest is {latest}"))
        })
}

fn to_json(v: &impl Serialize) -> ApiResult {
    serde_json::to_value(v)
        .map(Json)
        .map_err(ApiError::internal)
}

async fn light_block(State(node): State<Arc<Node>>, Path(h): Path<String>) -> ApiResult {
    to_json(&block_at(&node, &h).await?.light_block)
}

async fn header(State(node): State<Arc<Node>>, Path(h): Path<String>) -> ApiResult {
    to_json(block_at(&node, &h).await?.light_block.header())
}

async fn commit(State(node): State<Arc<Node>>, Path(h): Path<String>) -> ApiResult {
    to_json(&block_at(&node, &h).await?.light_block.signed_header.commit)
}

async fn validators(State(node): State<Arc<Node>>, Path(h): Path<String>) -> ApiResult {
    to_json(&block_at(&node, &h).await?.light_block.validators)
}

#[derive(Deserialize)]
struct StateQuery {
    key: Option<String>,
    height: Option<String>,
}

async fn state(State(node): State<Arc<Node>>, Query(q): Query<StateQuery>) -> ApiResult {
    let raw = q
        .key
        .ok_or_else(|| ApiError::bad_request("missing query parameter key (hex)"))?;
    let key = hex::decode(&raw)
        .map_err(|e| ApiError::bad_request(format!("key {raw:?} is not hex: {e}")))?;
    let chain = node.chain.lock().await;
    let latest = chain
        .tip()
        .map(|b| b.light_block.height())
        .ok_or_else(|| ApiError::not_found("no block committed yet"))?;
    if let Some(h) = q.height {
        let h = parse_height(&h)?;
        if h != latest {
            return Err(ApiError::bad_request(format!(
                "proofs are served at the latest height only: asked {h}, latest is {latest}"
            )));
        }
    }
    let (value, proof) = chain.prove(&key);
    Ok(Json(json!({
        "key": hex::encode(&key),
        "value": value.map(hex::encode),
        "height": latest,
        "proof": proof,
    })))
}

/// The content type of a borsh-encoded `POST /txs` body.
pub const BINARY_BODY: &str = "application/octet-stream";

/// Most keys in one `/proofs` request, and transactions in one `/txs`.
const MAX_BATCH: usize = 5_000;

/// Admits `txs` to the mempool together, in order (so a batch lands in one
/// block when it fits); each receiver, beside its transaction's hash,
/// yields the transaction once committed. A submission that does not fit in
/// the mempool is refused whole.
async fn admit(
    node: &Node,
    txs: Vec<SignedTransaction>,
) -> Result<Vec<(Hash, Result<oneshot::Receiver<Committed>, ApiError>)>, ApiError> {
    let sized: Vec<(SignedTransaction, Hash, usize)> = txs
        .into_iter()
        .map(|tx| {
            let bytes = borsh::object_length(&tx).unwrap_or(usize::MAX);
            let hash = tx.hash();
            (tx, hash, bytes)
        })
        .collect();
    let incoming_bytes = sized
        .iter()
        .fold(0usize, |sum, (_, _, b)| sum.saturating_add(*b));
    let chain = node.chain.lock().await;
    // The mempool is held with the chain: no block can be cut between the
    // checks and the push, and no twin can slip in between.
    let mut pool = node.mempool.lock().await;
    pool.check_room(sized.len(), incoming_bytes)?;
    let at = now();
    let mut out = Vec::with_capacity(sized.len());
    for (tx, hash, bytes) in sized {
        let admitted = pool.check_new(&tx, hash).and_then(|()| {
            chain
                .check_tx(&tx, at)
                .map_err(|e| AdmissionError::Rejected {
                    hash,
                    source: Box::new(e),
                })
        });
        match admitted {
            Ok(()) => {
                let (send, receive) = oneshot::channel();
                pool.push(PendingTx {
                    tx,
                    hash,
                    bytes,
                    waiter: Some(send),
                });
                out.push((hash, Ok(receive)));
            }
            Err(e) => out.push((hash, Err(e.into()))),
        }
    }
    drop(chain);
    Ok(out)
}

/// Waits for an admitted transaction to be committed.
async fn committed(
    hash: Hash,
    receive: oneshot::Receiver<Committed>,
) -> Result<Committed, ApiError> {
    match tokio::time::timeout(COMMIT_WAIT, receive).await {
        Ok(Ok(committed)) => Ok(committed),
        Ok(Err(_)) => Err(ApiError::internal(
            "the node stopped before committing the transaction",
        )),
        Err(_) => Err(ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            message: format!("transaction {hash} not committed within {COMMIT_WAIT:?}"),
            detail: None,
        }),
    }
}

async fn submit_tx(State(node): State<Arc<Node>>, body: Bytes) -> ApiResult {
    let tx: SignedTransaction = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed transaction JSON: {e}")))?;
    let Some((hash, admitted)) = admit(&node, vec![tx]).await?.pop() else {
        return Err(ApiError::internal("admission returned no answer"));
    };
    to_json(&committed(hash, admitted?).await?)
}

/// Each transaction of the array is admitted or refused on its own; the
/// answer lists, in order, `{hash, height, result}` or `{hash, error}`.
async fn submit_txs(
    State(node): State<Arc<Node>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult {
    // A relayer's batch is sent as borsh (`application/octet-stream`): the
    // same transactions as JSON are about three times the bytes, hex and all,
    // and parsing them was a visible share of a busy chain's time.
    let binary = headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == BINARY_BODY.as_bytes());
    let txs: Vec<SignedTransaction> = if binary {
        borsh::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("malformed transaction array (borsh): {e}"))
        })?
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("malformed transaction array JSON: {e}")))?
    };
    if txs.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "{} transactions, at most {MAX_BATCH} per request",
            txs.len()
        )));
    }
    let waiting = admit(&node, txs).await?;
    let mut out = Vec::with_capacity(waiting.len());
    for (hash, admitted) in waiting {
        let outcome = match admitted {
            Ok(receive) => committed(hash, receive).await,
            Err(e) => Err(e),
        };
        out.push(match outcome {
            Ok(c) => serde_json::to_value(&c).map_err(ApiError::internal)?,
            Err(e) => json!({ "hash": hash, "error": e.message, "detail": e.detail }),
        });
    }
    Ok(Json(json!(out)))
}

#[derive(Deserialize)]
struct ProofsRequest {
    keys: Vec<String>,
}

/// Values and proofs of many keys, all at the same (latest) height, so a
/// relayer can prove a batch of packets under one client update.
async fn proofs(
    State(node): State<Arc<Node>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: ProofsRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "malformed proofs request JSON (expected {{\"keys\": [hex, ...]}}): {e}"
        ))
    })?;
    if request.keys.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "{} keys, at most {MAX_BATCH} per request",
            request.keys.len()
        )));
    }
    let keys = request
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            hex::decode(k)
                .map_err(|e| ApiError::bad_request(format!("keys[{i}] {k:?} is not hex: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let chain = node.chain.lock().await;
    let height = chain
        .tip()
        .map(|b| b.light_block.height())
        .ok_or_else(|| ApiError::not_found("no block committed yet"))?;
    // A relayer proving a batch asks for borsh: the JSON answer (hex in
    // strings) is about three times the bytes, on both sides' heaps.
    let binary = headers
        .get(axum::http::header::ACCEPT)
        .is_some_and(|v| v.as_bytes() == BINARY_BODY.as_bytes());
    let entries: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let (value, proof) = chain.prove(&key);
            (key, value, proof)
        })
        .collect();
    // Encoding needs no state: the chain is let go first.
    drop(chain);
    if binary {
        let bytes = borsh::to_vec(&(height, entries)).map_err(ApiError::internal)?;
        return Ok(([(axum::http::header::CONTENT_TYPE, BINARY_BODY)], bytes).into_response());
    }
    let entries: Vec<_> = entries
        .into_iter()
        .map(|(key, value, proof)| {
            json!({ "key": hex::encode(key), "value": value.map(hex::encode), "proof": proof })
        })
        .collect();
    Ok(Json(json!({ "height": height, "entries": entries })).into_response())
}

/// Events in one `/packets` or `/fee_events` answer, at most, and the
/// default (whole blocks: one block may add up to its own events beyond
/// it).
const MAX_EVENTS: usize = 5_000;

/// Blocks one scan reads, at most.
const MAX_SCAN_BLOCKS: u64 = 10_000;

#[derive(Deserialize)]
struct PacketsQuery {
    since: Option<String>,
    limit: Option<String>,
}

/// Events of kind send_packet / write_acknowledgement / acknowledge_packet /
/// timeout_packet from blocks after `since`.
async fn packets(State(node): State<Arc<Node>>, Query(q): Query<PacketsQuery>) -> ApiResult {
    scan_events(&node, q, crate::app::Event::is_packet_event).await
}

/// The events `wanted` from blocks after `since` (a query parameter), each
/// with its block's height and time and its transaction's hash. Bounded:
/// at most [`MAX_SCAN_BLOCKS`] blocks, and no block started once `limit`
/// events (at most and by default [`MAX_EVENTS`]) are collected (the
/// caller continues from `scanned_to`), so a backlog is read in pieces.
/// The chain's lock is held only to read the tip: committed blocks are read
/// and their events serialised without it, so a scan never stalls block
/// production or admission.
async fn scan_events(
    node: &Node,
    q: PacketsQuery,
    wanted: impl Fn(&crate::app::Event) -> bool,
) -> ApiResult {
    let since = match q.since {
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid since {s:?}: expected an integer"))
        })?,
        None => 0,
    };
    let limit = match q.limit {
        None => MAX_EVENTS,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_EVENTS).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid limit {raw:?}: expected an integer from 1 to {MAX_EVENTS}"
                )));
            }
        },
    };
    let latest = {
        let chain = node.chain.lock().await;
        chain.tip().map_or(0, |b| b.light_block.height().value())
    };
    let mut to = latest.min(since.saturating_add(MAX_SCAN_BLOCKS));
    let mut out = Vec::new();
    for h in since.saturating_add(1)..=to {
        if out.len() >= limit {
            to = h - 1;
            break;
        }
        let height = Height::new(h).map_err(ApiError::internal)?;
        // Every height up to the tip read above is committed.
        let block = node
            .reader
            .block(height)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal(format!("block {h} is missing from the store")))?;
        let time = block.light_block.header().time;
        for (tx, result) in block.transactions.iter().zip(block.results()) {
            for event in result.events.iter().filter(|e| wanted(e)) {
                out.push(json!({ "height": h, "time": time, "tx": tx.hash(), "event": event }));
            }
        }
        // Asynchronous acknowledgements written by the block's end carry no
        // transaction: a tag of the height stands in for its hash.
        let end_block = Hash::tagged(b"credit-chain/end-block", &[&h.to_be_bytes()]);
        for event in block.end_block_events().iter().filter(|e| wanted(e)) {
            out.push(json!({ "height": h, "time": time, "tx": end_block, "event": event }));
        }
    }
    Ok(Json(
        json!({ "events": out, "scanned_to": to, "latest_height": latest }),
    ))
}

async fn events(
    State(node): State<Arc<Node>>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let stream = BroadcastStream::new(node.blocks.subscribe())
        .filter_map(|r| r.ok())
        .map(|v| Ok(Event::default().event("block").data(v.to_string())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Every balance and escrow at the latest height, with their totals
/// ([`Ledger`](crate::app::fees::Ledger)).
async fn accounts(State(node): State<Arc<Node>>) -> ApiResult {
    let chain = node.chain.lock().await;
    let height = chain
        .tip()
        .map(|b| b.light_block.height())
        .ok_or_else(|| ApiError::not_found("no block committed yet"))?;
    let ledger = crate::app::fees::ledger(chain.state()).map_err(ApiError::internal)?;
    drop(chain);
    let mut body = serde_json::to_value(&ledger).map_err(ApiError::internal)?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("height".into(), json!(height));
    }
    Ok(Json(body))
}

/// Events of the kinds in [`Event::FEE_KINDS`](crate::app::Event::FEE_KINDS)
/// from blocks after `since`, each with its block's height and time;
/// bounded like `/packets` (continue from `scanned_to`).
async fn fee_events(State(node): State<Arc<Node>>, Query(q): Query<PacketsQuery>) -> ApiResult {
    scan_events(&node, q, crate::app::Event::is_fee_event).await
}
