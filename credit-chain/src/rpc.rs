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
//! | GET | `/packets?since=HEIGHT` | packet and acknowledgement events since a height |
//! | GET | `/events` | server-sent events, one per new block |
//! | GET | `/accounts` | every balance and escrow at the latest height, with totals |
//! | GET | `/fee_events?since=HEIGHT` | fee events (escrow locked, fee paid, escrow refunded) since a height, with block times |
//!
//! Errors are `{"error": "..."}` with a 4xx status naming what was wrong.

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
use protocol::{Hash, Height, SignedTransaction, Time};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Mutex, broadcast, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::app::TxResult;
use crate::node::Chain;

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

/// What the server shares between requests and the block timer.
pub struct Node {
    chain: Mutex<Chain>,
    mempool: Mutex<Vec<(SignedTransaction, Option<oneshot::Sender<Committed>>)>>,
    blocks: broadcast::Sender<serde_json::Value>,
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
    /// Wraps an opened chain.
    pub fn new(chain: Chain) -> Arc<Node> {
        let (blocks, _) = broadcast::channel(256);
        Arc::new(Node {
            chain: Mutex::new(chain),
            mempool: Mutex::new(Vec::new()),
            blocks,
        })
    }

    /// Produces one block from the mempool; returns its height.
    pub async fn produce_block(&self) -> anyhow::Result<Height> {
        let batch: Vec<_> = {
            let mut pool = self.mempool.lock().await;
            let n = pool.len().min(MAX_BLOCK_TXS);
            pool.drain(..n).collect()
        };
        let (txs, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
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
    let chain = node.chain.lock().await;
    let tip = chain.tip().map(|b| b.light_block.header().clone());
    Ok(Json(json!({
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
/// block when it fits); each receiver yields its transaction once committed.
async fn admit(
    node: &Node,
    txs: Vec<SignedTransaction>,
) -> Vec<Result<oneshot::Receiver<Committed>, ApiError>> {
    let chain = node.chain.lock().await;
    let at = now();
    let mut admitted = Vec::with_capacity(txs.len());
    let mut out = Vec::with_capacity(txs.len());
    for tx in txs {
        match chain.check_tx(&tx, at) {
            Ok(()) => {
                let (send, receive) = oneshot::channel();
                admitted.push((tx, Some(send)));
                out.push(Ok(receive));
            }
            Err(e) => out.push(Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                message: format!("transaction {} rejected: {e}", tx.hash()),
                detail: Some(json!({ "code": e.code(), "hash": tx.hash() })),
            })),
        }
    }
    // The mempool is taken before the chain is let go: no block can be cut
    // between the checks and the push.
    let mut pool = node.mempool.lock().await;
    drop(chain);
    pool.extend(admitted);
    out
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
    let hash = tx.hash();
    let Some(admitted) = admit(&node, vec![tx]).await.pop() else {
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
    let hashes: Vec<Hash> = txs.iter().map(SignedTransaction::hash).collect();
    let waiting: Vec<_> = hashes.into_iter().zip(admit(&node, txs).await).collect();
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
    if binary {
        let entries: Vec<_> = keys
            .into_iter()
            .map(|key| {
                let (value, proof) = chain.prove(&key);
                (key, value, proof)
            })
            .collect();
        drop(chain);
        let bytes = borsh::to_vec(&(height, entries)).map_err(ApiError::internal)?;
        return Ok(([(axum::http::header::CONTENT_TYPE, BINARY_BODY)], bytes).into_response());
    }
    let entries: Vec<_> = keys
        .iter()
        .map(|key| {
            let (value, proof) = chain.prove(key);
            json!({ "key": hex::encode(key), "value": value.map(hex::encode), "proof": proof })
        })
        .collect();
    Ok(Json(json!({ "height": height, "entries": entries })).into_response())
}

/// Events in one `/packets` answer, at most (whole blocks: one block may
/// add up to its own events beyond it).
const MAX_EVENTS: usize = 5_000;

#[derive(Deserialize)]
struct PacketsQuery {
    since: Option<String>,
}

/// Events of kind send_packet / write_acknowledgement / acknowledge_packet /
/// timeout_packet from blocks after `since`.
async fn packets(State(node): State<Arc<Node>>, Query(q): Query<PacketsQuery>) -> ApiResult {
    scan_events(&node, q.since, crate::app::Event::is_packet_event).await
}

/// The events `wanted` from blocks after `since` (a query parameter), each
/// with its block's height and time and its transaction's hash. Bounded:
/// at most 10,000 blocks, and no block started once [`MAX_EVENTS`] events
/// are collected (the caller continues from `scanned_to`), so a backlog is
/// read in pieces.
async fn scan_events(
    node: &Node,
    since: Option<String>,
    wanted: impl Fn(&crate::app::Event) -> bool,
) -> ApiResult {
    let since = match since {
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid since {s:?}: expected an integer"))
        })?,
        None => 0,
    };
    let chain = node.chain.lock().await;
    let latest = chain.tip().map_or(0, |b| b.light_block.height().value());
    let mut to = latest.min(since.saturating_add(10_000));
    let mut out = Vec::new();
    for h in since.saturating_add(1)..=to {
        if out.len() >= MAX_EVENTS {
            to = h - 1;
            break;
        }
        let Some(block) = Height::new(h)
            .ok()
            .and_then(|h| chain.block(h).ok().flatten())
        else {
            continue;
        };
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
    scan_events(&node, q.since, crate::app::Event::is_fee_event).await
}
