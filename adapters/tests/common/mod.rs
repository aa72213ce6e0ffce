//! Test RPC servers on 127.0.0.1 that answer like a credit-chain node, with
//! real signatures (`TestChain`) and real proofs (`StateTree`), honestly or
//! with one fault each.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use adapters::{CreditChainAdapter, RpcOptions};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use light_clients::credit_chain::signing::TestChain;
use light_clients::merkle::StateTree;
use protocol::tx::{Transaction, TxBody};
use protocol::{Hash, Height, LightBlock, PublicKey, Signature, SignedTransaction};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

/// The chain the adapters under test follow.
pub const CHAIN: &str = "shaanxi";
/// Blocks the fixture holds.
pub const BLOCKS: u64 = 10;
/// A key present in the state.
pub const KEY: &[u8] = b"institutions/bank-a";
/// Its value.
pub const VALUE: &[u8] = b"bank-a: licensed lender";
/// A key absent from the state.
pub const ABSENT: &[u8] = b"institutions/nobody";

/// Honest blocks of `shaanxi`, blocks of another chain, and the state.
pub struct Fixture {
    pub blocks: Vec<LightBlock>,
    pub other_chain: Vec<LightBlock>,
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    pub tree: StateTree,
}

fn chain_blocks(id: &str, root: Hash) -> Vec<LightBlock> {
    let mut chain = TestChain::new(id, 4);
    (0..BLOCKS)
        .map(|_| {
            let mut header = chain.next_header();
            header.state_root = root;
            chain.commit_header(header)
        })
        .collect()
}

impl Fixture {
    pub fn new() -> Arc<Fixture> {
        let state: BTreeMap<Vec<u8>, Vec<u8>> = [
            (KEY.to_vec(), VALUE.to_vec()),
            (b"balances/bank-a".to_vec(), 1000u64.to_le_bytes().to_vec()),
            (b"params".to_vec(), b"p".to_vec()),
        ]
        .into();
        let tree = StateTree::from_map(&state);
        Arc::new(Fixture {
            blocks: chain_blocks(CHAIN, tree.root()),
            other_chain: chain_blocks("beijing", tree.root()),
            state,
            tree,
        })
    }

    pub fn block(&self, h: u64) -> Option<&LightBlock> {
        self.blocks.get(usize::try_from(h).ok()?.checked_sub(1)?)
    }
}

/// How a test server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Like the node.
    Honest,
    /// Light blocks with one flipped signature byte.
    ForgedSignature,
    /// Another chain's status and blocks.
    WrongChain,
    /// The block below the one asked.
    WrongHeight,
    /// Light blocks cut in half.
    TruncatedJson,
    /// Light blocks padded past the adapters' test size limit.
    Oversized,
    /// Lies everywhere it cannot be signed: another value with the real
    /// proof, packet events outside the range, another transaction hash,
    /// and block events announcing heights that do not exist.
    Liar,
    /// Honest, but its event stream sends only keep-alives.
    SilentEvents,
}

pub struct ServerState {
    pub fixture: Arc<Fixture>,
    pub behaviour: Behaviour,
    pub tip: AtomicU64,
    pub events: broadcast::Sender<u64>,
    pub requests: AtomicU64,
    /// The size of each `POST /txs` batch received, in order.
    pub batches: std::sync::Mutex<Vec<usize>>,
}

/// A running test server.
pub struct Server {
    pub url: String,
    pub state: Arc<ServerState>,
}

impl Server {
    /// Moves the tip to `h` and announces it on the event stream.
    pub fn advance(&self, h: u64) {
        self.state.tip.store(h, Ordering::SeqCst);
        let _ = self.state.events.send(h);
    }

    /// Waits until a client follows the event stream.
    pub async fn wait_subscribed(&self) {
        for _ in 0..500 {
            if self.state.events.receiver_count() > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("nobody subscribed to {}/events within 5 s", self.url);
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }
}

fn not_found(msg: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": msg }))).into_response()
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn raw_json(bytes: Vec<u8>) -> Response {
    ([("content-type", "application/json")], bytes).into_response()
}

async fn status(State(s): State<Arc<ServerState>>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let tip = s.tip.load(Ordering::SeqCst);
    let blocks = if s.behaviour == Behaviour::WrongChain {
        &s.fixture.other_chain
    } else {
        &s.fixture.blocks
    };
    let Some(block) = usize::try_from(tip)
        .ok()
        .and_then(|t| t.checked_sub(1))
        .and_then(|i| blocks.get(i))
    else {
        return Json(
            json!({"chain_id": CHAIN, "latest_height": null, "latest_hash": null,
            "latest_time": null, "state_root": null}),
        )
        .into_response();
    };
    let h = block.header();
    Json(json!({
        "chain_id": h.chain_id,
        "latest_height": h.height,
        "latest_hash": h.hash(),
        "latest_time": h.time,
        "state_root": h.state_root,
        "next_validators_hash": h.next_validators_hash,
        "store_bytes": 0,
    }))
    .into_response()
}

async fn light_block(State(s): State<Arc<ServerState>>, Path(h): Path<String>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let tip = s.tip.load(Ordering::SeqCst);
    let h: u64 = h.parse().unwrap_or(0);
    let Some(honest) = s.fixture.block(h).filter(|_| h <= tip) else {
        return not_found(format!("no block at height {h}; latest is {tip}"));
    };
    let mut block = honest.clone();
    match s.behaviour {
        Behaviour::ForgedSignature => {
            block.signed_header.commit.signatures[0].signature.0[0] ^= 1;
        }
        Behaviour::WrongChain => block = s.fixture.other_chain[(h - 1) as usize].clone(),
        Behaviour::WrongHeight => {
            let other = if h > 1 { h - 1 } else { h + 1 };
            block = s.fixture.block(other).unwrap().clone();
        }
        _ => {}
    }
    let mut body = json_bytes(&serde_json::to_value(&block).unwrap());
    match s.behaviour {
        Behaviour::TruncatedJson => body.truncate(body.len() / 2),
        Behaviour::Oversized => {
            let mut v = serde_json::to_value(&block).unwrap();
            v["padding"] = Value::String("x".repeat(200 * 1024));
            body = json_bytes(&v);
        }
        _ => {}
    }
    raw_json(body)
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
}

async fn state(State(s): State<Arc<ServerState>>, Query(q): Query<KeyQuery>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let key = hex::decode(&q.key).unwrap();
    let mut value = s.fixture.state.get(&key).cloned();
    if s.behaviour == Behaviour::Liar {
        value = Some(b"forged value".to_vec());
    }
    Json(json!({
        "key": q.key,
        "value": value.map(hex::encode),
        "height": s.tip.load(Ordering::SeqCst),
        "proof": s.fixture.tree.prove(&key),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ProofsRequest {
    keys: Vec<String>,
}

/// `POST /proofs`, answered in borsh as the node does for a relayer (which
/// asks with `Accept: application/octet-stream`).
async fn proofs(State(s): State<Arc<ServerState>>, Json(q): Json<ProofsRequest>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let entries: Vec<_> = q
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let key = hex::decode(k).unwrap();
            let mut value = s.fixture.state.get(&key).cloned();
            if s.behaviour == Behaviour::Liar && i == 1 {
                value = None;
            }
            let proof = s.fixture.tree.prove(&key);
            (key, value, proof)
        })
        .collect();
    let height = Height::new(s.tip.load(Ordering::SeqCst)).unwrap();
    borsh::to_vec(&(height, entries)).unwrap().into_response()
}

#[derive(Deserialize)]
struct SinceQuery {
    since: u64,
}

async fn packets(State(s): State<Arc<ServerState>>, Query(q): Query<SinceQuery>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let tip = s.tip.load(Ordering::SeqCst);
    let event = |h: u64, kind: &str| {
        json!({"height": h, "tx": Hash([h as u8; 32]), "event": {"kind": kind,
            "attributes": [{"key": "sequence", "value": h.to_string()}]}})
    };
    let mut events: Vec<Value> = [(2, "send_packet"), (3, "write_acknowledgement")]
        .into_iter()
        .filter(|(h, _)| *h > q.since && *h <= tip)
        .map(|(h, k)| event(h, k))
        .collect();
    if s.behaviour == Behaviour::Liar {
        events.push(event(q.since, "send_packet"));
    }
    Json(json!({"events": events, "scanned_to": tip, "latest_height": tip})).into_response()
}

async fn submit(State(s): State<Arc<ServerState>>, body: Bytes) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let tx: SignedTransaction = match serde_json::from_slice(&body) {
        Ok(tx) => tx,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("malformed: {e}")})),
            )
                .into_response();
        }
    };
    if tx.tx.nonce == 0 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "transaction rejected: replayed nonce 0",
                "detail": {"code": 6, "hash": tx.hash()}})),
        )
            .into_response();
    }
    let hash = if s.behaviour == Behaviour::Liar {
        Hash([7; 32])
    } else {
        tx.hash()
    };
    Json(json!({"hash": hash, "height": s.tip.load(Ordering::SeqCst), "result": {
        "code": 0, "codespace": "", "message": "",
        "events": [{"kind": "institution_reinstated", "attributes": [{"key": "institution", "value": "bank-a"}]}]
    }}))
    .into_response()
}

/// `POST /txs` (borsh): every transaction committed at the tip, except
/// nonce 0, refused.
async fn submit_batch(State(s): State<Arc<ServerState>>, body: Bytes) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let txs: Vec<SignedTransaction> = match borsh::from_slice(&body) {
        Ok(txs) => txs,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("malformed: {e}")})),
            )
                .into_response();
        }
    };
    if txs.len() > 5_000 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("{} transactions, at most 5000 per request", txs.len())})),
        )
            .into_response();
    }
    s.batches.lock().unwrap().push(txs.len());
    let tip = s.tip.load(Ordering::SeqCst);
    let answers: Vec<Value> = txs
        .iter()
        .map(|tx| {
            if tx.tx.nonce == 0 {
                json!({"hash": tx.hash(), "error": "transaction rejected: replayed nonce 0",
                    "detail": {"code": 6, "hash": tx.hash()}})
            } else {
                json!({"hash": tx.hash(), "height": tip, "result": {
                    "code": 0, "codespace": "", "message": "", "events": []}})
            }
        })
        .collect();
    Json(json!(answers)).into_response()
}

type EventStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Event, Infallible>> + Send>>;

async fn events(State(s): State<Arc<ServerState>>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let keep_alive = KeepAlive::new().interval(Duration::from_millis(50));
    if s.behaviour == Behaviour::SilentEvents {
        let silent: EventStream = Box::pin(tokio_stream::pending());
        return Sse::new(silent).keep_alive(keep_alive).into_response();
    }
    let liar = s.behaviour == Behaviour::Liar;
    let fixture = s.fixture.clone();
    let stream = BroadcastStream::new(s.events.subscribe())
        .filter_map(|r| r.ok())
        .map(move |h| {
            let h = if liar { h + 1000 } else { h };
            let data = match fixture.block(h) {
                Some(b) => json!({"height": h, "hash": b.header().hash(), "time": b.header().time,
                    "state_root": b.header().state_root, "transactions": 0}),
                None => json!({"height": h, "hash": Hash::ZERO, "transactions": 0}),
            };
            Ok(Event::default().event("block").data(data.to_string()))
        });
    let stream: EventStream = Box::pin(stream);
    Sse::new(stream).keep_alive(keep_alive).into_response()
}

/// Serves `behaviour` on 127.0.0.1 with the tip at height 3.
pub async fn serve(fixture: Arc<Fixture>, behaviour: Behaviour) -> Server {
    let (sender, _) = broadcast::channel(64);
    let shared = Arc::new(ServerState {
        fixture,
        behaviour,
        tip: AtomicU64::new(3),
        events: sender,
        requests: AtomicU64::new(0),
        batches: std::sync::Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/status", get(status))
        .route("/light_block/{h}", get(light_block))
        .route("/state", get(state))
        .route("/packets", get(packets))
        .route("/proofs", post(proofs))
        .route("/tx", post(submit))
        .route("/txs", post(submit_batch))
        .route("/events", get(events))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { url, state: shared }
}

/// An address where nothing listens: connections are refused.
pub async fn refused() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A server that accepts connections and never answers.
pub async fn hanging() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// Short timeouts and backoffs for tests.
pub fn options() -> RpcOptions {
    RpcOptions {
        timeout: Duration::from_millis(1000),
        submit_timeout: Duration::from_millis(1000),
        retries: 1,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        quarantine: Duration::from_secs(60),
        max_response_bytes: 64 * 1024,
        silence_timeout: Duration::from_millis(400),
        poll_interval: Duration::from_millis(50),
        resubscribe_after: Duration::from_secs(2),
    }
}

pub fn adapter(urls: &[&str]) -> CreditChainAdapter {
    adapter_with(urls, options())
}

pub fn adapter_with(urls: &[&str], options: RpcOptions) -> CreditChainAdapter {
    CreditChainAdapter::new(
        CHAIN.parse().unwrap(),
        urls.iter().map(|u| u.to_string()).collect(),
        options,
    )
    .unwrap()
}

pub fn height(h: u64) -> Height {
    Height::new(h).unwrap()
}

/// A transaction; nonce 0 is refused by the test servers.
pub fn transaction(nonce: u64) -> SignedTransaction {
    SignedTransaction {
        tx: Transaction {
            chain_id: CHAIN.parse().unwrap(),
            sender: PublicKey([1; 32]),
            nonce,
            body: TxBody::ReinstateInstitution {
                institution: "bank-a".parse().unwrap(),
            },
        },
        signature: Signature([2; 64]),
    }
}
