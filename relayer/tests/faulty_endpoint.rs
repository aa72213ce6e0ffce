//! Lying RPC endpoints: a proxy in front of chain guangdong's node that
//! rewrites the light blocks it serves.
//!
//! - It flips a byte of every commit signature: the relayer daemon
//!   (`relayer start --config`, the proxy listed first, then the honest
//!   node) still carries the devnet query end to end, and its API counts the
//!   faults against the proxy endpoint (`/chains`) and its errors
//!   (`/metrics`).
//! - It re-dates blocks an hour ahead and has the chain's validators sign
//!   them again: the relayer's light client refuses them by its own clock,
//!   counts and logs the refusal, and relays on from the honest node.
//! - It back-dates a block to just after a trusted one whose trust expired
//!   long ago (the long-range fork), signed by that old validator set: the
//!   light client, reading a local clock set past the trusting period,
//!   refuses it and keeps its trusted height.
//! - It serves a block at the anchor's height that is not the anchored one,
//!   and forged blocks below the trusted ones: neither is ever trusted.

use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::SigningKey;
use light_clients::credit_chain::Options;
use light_clients::credit_chain::signing::sign_commit;
use protocol::{Hash, Height, LightBlock, PublicKey, Time, state_keys};
mod common;

use common::{TwoChains, free_port, start_relayer};
use relayer::clock::FixedClock;
use relayer::devnet::{self, DevChain, RelayerConfig};
use relayer::engine::ChainRuntime;
use relayer::metrics::Metrics;
use relayer::store::Store;
use relayer::trust::{Anchor, ChainTrust};
use serde_json::Value;

const TOKEN: &str = "faulty-endpoint-token";

/// Flips the first hex digit of every `"signature"` string in `value`.
fn corrupt_signatures(value: &mut Value) -> usize {
    match value {
        Value::Object(map) => {
            let mut n = 0;
            for (k, v) in map.iter_mut() {
                if k == "signature"
                    && let Value::String(s) = v
                    && let Some(first) = s.chars().next()
                {
                    let flipped = if first == '0' { '1' } else { '0' };
                    s.replace_range(..first.len_utf8(), &flipped.to_string());
                    n += 1;
                } else {
                    n += corrupt_signatures(v);
                }
            }
            n
        }
        Value::Array(items) => items.iter_mut().map(corrupt_signatures).sum(),
        _ => 0,
    }
}

/// How a proxy rewrites the JSON answer to a request for a path (`true`:
/// it changed it).
type Rewrite = Arc<dyn Fn(&str, &mut Value) -> bool + Send + Sync>;

/// A rewrite of the light blocks served (`/light_block/{h}`) only.
fn light_blocks(rewrite: impl Fn(&mut Value) -> bool + Send + Sync + 'static) -> Rewrite {
    Arc::new(move |path: &str, json: &mut Value| path.starts_with("/light_block/") && rewrite(json))
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    rewrite: Rewrite,
    /// While false, every request is answered 503.
    open: Arc<AtomicBool>,
}

/// Starts a proxy in front of `upstream` that passes `rewrite` every JSON
/// answer it serves; its URL.
async fn start_proxy(upstream: &str, rewrite: Rewrite) -> String {
    start_gated_proxy(upstream, rewrite, Arc::new(AtomicBool::new(true))).await
}

/// [`start_proxy`], answering 503 while `open` is false.
async fn start_gated_proxy(upstream: &str, rewrite: Rewrite, open: Arc<AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().fallback(forward).with_state(Proxy {
        upstream: upstream.to_owned(),
        client: reqwest::Client::new(),
        rewrite,
        open,
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// The chain's validators' keys, by public key (the devnet keeps them in
/// the chain's home): what an attacker holding them signs with.
fn validator_keys(chain: &DevChain) -> HashMap<PublicKey, SigningKey> {
    (0..4)
        .map(|i| {
            let key = chain.key(&format!("validators/validator-{i}")).unwrap();
            (PublicKey(key.verifying_key().to_bytes()), key)
        })
        .collect()
}

/// A rewrite that gives the blocks above `from` the time `retime` chooses
/// and signs them again with `keys`: validly signed, self-consistent,
/// dated by the attacker.
fn re_dating(
    keys: HashMap<PublicKey, SigningKey>,
    from: u64,
    retime: impl Fn(&LightBlock) -> Time + Send + Sync + 'static,
) -> Rewrite {
    light_blocks(move |json: &mut Value| {
        let Ok(mut block) = serde_json::from_value::<LightBlock>(json.clone()) else {
            return false;
        };
        if block.height().value() <= from {
            return false;
        }
        block.signed_header.header.time = retime(&block);
        block.signed_header.commit =
            sign_commit(&block.signed_header.header, &block.validators, |k| {
                keys.get(k)
            });
        *json = serde_json::to_value(&block).unwrap();
        true
    })
}

/// Forwards everything to the real node; light blocks come back with
/// broken signatures, and there is no event stream.
async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    if !proxy.open.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "closed").into_response();
    }
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if path.starts_with("/events") {
        return (StatusCode::NOT_FOUND, "no events here").into_response();
    }
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut upstream = proxy
        .client
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(answer) = upstream.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let Ok(mut bytes) = answer.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if status.is_success()
        && let Ok(mut json) = serde_json::from_slice::<Value>(&bytes)
        && (proxy.rewrite)(&path, &mut json)
    {
        bytes = Bytes::from(serde_json::to_vec(&json).unwrap());
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_completes_past_a_lying_endpoint_and_its_faults_are_counted() {
    let started = Instant::now();
    let net = TwoChains::start("relayer-faulty");
    let (dir, a, b) = (&net.dir, &net.a, &net.b);

    // Setup: clients of each other and the query's seed.
    let setup_store = Store::open(&dir.join("setup-store")).unwrap();
    let metrics = Metrics::new();
    let a_rt = a.runtime(&setup_store, &metrics).unwrap();
    let b_rt = b.runtime(&setup_store, &metrics).unwrap();
    devnet::wait_for_chain(a_rt.adapter().as_ref())
        .await
        .unwrap();
    devnet::wait_for_chain(b_rt.adapter().as_ref())
        .await
        .unwrap();
    devnet::create_clients(&[a_rt.clone(), b_rt.clone()])
        .await
        .unwrap();
    let grant = devnet::seed_query_scenario(b, b_rt.adapter().as_ref(), &a.id)
        .await
        .unwrap();

    // The lying proxy in front of guangdong.
    let proxy_url = start_proxy(
        b.url(),
        light_blocks(|json: &mut Value| corrupt_signatures(json) > 0),
    )
    .await;

    // The daemon: guangdong's endpoints are the proxy first, then the node.
    let mut b_via_proxy = b.clone();
    b_via_proxy.rpc.insert(0, proxy_url.clone());
    let api: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (_daemon, log) = start_daemon(dir, &[a.clone(), b_via_proxy], Some(api));

    // The devnet query, answered and acknowledged on shaanxi.
    let (_, sequence) = devnet::send_query(a, a_rt.adapter().as_ref(), &b.id, &grant)
        .await
        .unwrap();
    let result = state_keys::packet_result(&b.id, sequence);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let proven = a_rt.adapter().state(&result).await.unwrap();
        if proven.value.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "query not acknowledged within 60 s; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answered_at = started.elapsed();

    // The API names the proxy and counts its faults.
    let chains: Value = reqwest::Client::new()
        .get(format!("http://{api}/chains"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let guangdong = chains["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "guangdong")
        .unwrap_or_else(|| panic!("no guangdong in {chains}"));
    let endpoints = guangdong["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2, "{guangdong}");
    // Named by their place in the chain's rpc list, never by URL.
    assert!(!chains.to_string().contains(&proxy_url), "{chains}");
    let proxy = endpoints
        .iter()
        .find(|e| e["endpoint"] == "rpc[0]")
        .unwrap_or_else(|| panic!("no rpc[0] (the proxy) in {guangdong}"));
    assert!(proxy["faults"].as_u64().unwrap() >= 1, "{proxy}");
    let honest = endpoints
        .iter()
        .find(|e| e["endpoint"] == "rpc[1]")
        .unwrap_or_else(|| panic!("no rpc[1] (the node) in {guangdong}"));
    assert_eq!(honest["faults"], 0, "{honest}");
    assert!(honest["requests"].as_u64().unwrap() >= 1, "{honest}");
    let shaanxi = chains["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "shaanxi")
        .unwrap();
    assert_eq!(shaanxi["endpoints"][0]["faults"], 0, "{shaanxi}");
    // /metrics: the proxy's errors, per endpoint.
    let metrics = reqwest::get(format!("http://{api}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains(&proxy_url), "{metrics}");
    let line = "relayer_rpc_errors{chain=\"guangdong\",endpoint=\"rpc[0]\"} ";
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(line))
        .unwrap_or_else(|| panic!("no {line} in\n{metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!(errors >= 1, "{metrics}");
    eprintln!(
        "faulty endpoint: answered at {:.1} s; proxy {} faults of {} requests, honest {} requests",
        answered_at.as_secs_f64(),
        proxy["faults"],
        proxy["requests"],
        honest["requests"]
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits (at most 60 s) until the query `sequence` sent by shaanxi to
/// guangdong is answered and its acknowledgement is proven on shaanxi.
async fn wait_acknowledged(
    a_adapter: &dyn ChainAdapter,
    b: &DevChain,
    sequence: u64,
    log: &std::path::Path,
) {
    let result = state_keys::packet_result(&b.id, sequence);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let proven = a_adapter.state(&result).await.unwrap();
        if proven.value.is_some() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "query not acknowledged within 60 s; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Gives each chain a client of the other and seeds the devnet query
/// scenario on `b`: shaanxi's runtime (over its own node) and the consent.
async fn clients_and_seed(
    dir: &std::path::Path,
    a: &DevChain,
    b: &DevChain,
) -> (Arc<ChainRuntime>, protocol::tx::ConsentGrant) {
    let setup_store = Store::open(&dir.join("setup-store")).unwrap();
    let metrics = Metrics::new();
    let a_rt = a.runtime(&setup_store, &metrics).unwrap();
    let b_rt = b.runtime(&setup_store, &metrics).unwrap();
    devnet::create_clients(&[a_rt.clone(), b_rt.clone()])
        .await
        .unwrap();
    let grant = devnet::seed_query_scenario(b, b_rt.adapter().as_ref(), &a.id)
        .await
        .unwrap();
    (a_rt, grant)
}

/// Starts `relayer start` over `chains` (clearing every second, its API
/// on `api` with [`TOKEN`] if given); the daemon and its log's path.
fn start_daemon(
    dir: &std::path::Path,
    chains: &[DevChain],
    api: Option<std::net::SocketAddr>,
) -> (common::Daemon, std::path::PathBuf) {
    let mut options = RelayerConfig::new(dir.join("relayer-store"));
    options.api = api;
    options.api_token = TOKEN.into();
    options.clear_interval = Duration::from_secs(1);
    let config = dir.join("relayer.toml");
    options.write(&config, chains).unwrap();
    let log = dir.join("relayer.log");
    (start_relayer(&config, &log), log)
}

/// The value of the sample `line_start` (`name{labels}`) in a metrics page.
fn sample(page: &str, line_start: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_dated_ahead_of_the_local_clock_are_refused_and_relaying_goes_on() {
    let net = TwoChains::start("relayer-future-headers");
    let (dir, a, b) = (&net.dir, &net.a, &net.b);
    let (a_rt, grant) = clients_and_seed(dir, a, b).await;

    // Every block above the anchor, an hour ahead of its real time, signed
    // again by guangdong's own validators: only a clock can tell.
    let hour = Duration::from_secs(3600);
    let proxy_url = start_proxy(
        b.url(),
        re_dating(validator_keys(b), 1, move |block| {
            block.header().time.checked_add(hour).unwrap()
        }),
    )
    .await;
    let mut b_via_proxy = b.clone();
    b_via_proxy.rpc.insert(0, proxy_url);
    let api: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (_daemon, log) = start_daemon(dir, &[a.clone(), b_via_proxy], Some(api));

    // Relayed end to end, from the honest node.
    let (_, sequence) = devnet::send_query(a, a_rt.adapter().as_ref(), &b.id, &grant)
        .await
        .unwrap();
    wait_acknowledged(a_rt.adapter().as_ref(), b, sequence, &log).await;

    // Counted and named.
    let page = reqwest::get(format!("http://{api}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = sample(
        &page,
        "relayer_light_blocks_refused_total{chain=\"guangdong\",reason=\"from_future\"} ",
    )
    .unwrap_or_else(|| panic!("no refusal of guangdong's future headers in\n{page}"));
    assert!(refused >= 1.0, "{page}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.lines().any(|l| l.contains("light block refused")
            && l.contains("guangdong")
            && l.contains("from_future")),
        "no refusal named in {}",
        log.display()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A runtime of `chain` over `endpoints` alone, anchored at `anchor`, with
/// `clock` and its own store in `dir`.
fn runtime_over(
    chain: &DevChain,
    endpoints: Vec<String>,
    anchor: Anchor,
    clock: Arc<FixedClock>,
    store: &Store,
    metrics: &Metrics,
) -> Arc<ChainRuntime> {
    let adapter: Arc<dyn ChainAdapter> = Arc::new(
        CreditChainAdapter::new(chain.id.clone(), endpoints, RpcOptions::default()).unwrap(),
    );
    Arc::new(ChainRuntime::new(
        chain.id.clone(),
        adapter,
        chain.key("institutions/relayer").unwrap(),
        ChainTrust {
            anchor,
            options: Options::default(),
            clock,
        },
        store.clone(),
        metrics.clone(),
    ))
}

/// Now, by the system clock.
fn system_now() -> Time {
    Time::from_unix_nanos(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_back_dated_past_an_expired_trust_is_refused_by_the_local_clock() {
    let net = TwoChains::start("relayer-long-range");
    let (dir, b) = (&net.dir, &net.b);
    let anchor = b.anchor().unwrap();
    let store = Store::open(&dir.join("store")).unwrap();
    let metrics = Metrics::new();
    let clock = FixedClock::new(system_now());
    let honest = runtime_over(
        b,
        vec![b.url().to_owned()],
        anchor,
        clock.clone(),
        &store,
        &metrics,
    );
    // Trusted today: block 2.
    wait_for_height(b, 2).await;
    let trusted = honest
        .verified_block(Height::new(2).unwrap())
        .await
        .unwrap();
    assert_eq!(
        honest.trusted_height().await.unwrap(),
        Some(Height::new(2).unwrap())
    );
    drop(honest);

    // Fifteen days later (past the 14-day trusting period) an endpoint
    // serves block 8 dated a second after the trusted block, signed by the
    // validator set trusted then.
    clock.advance(Duration::from_secs(15 * 24 * 3600));
    let back_dated = trusted
        .header()
        .time
        .checked_add(Duration::from_secs(1))
        .unwrap();
    let proxy_url = start_proxy(
        b.url(),
        re_dating(validator_keys(b), 2, move |_| back_dated),
    )
    .await;
    wait_for_height(b, 8).await;
    let later = runtime_over(b, vec![proxy_url], anchor, clock.clone(), &store, &metrics);
    let refused = later.verified_block(Height::new(8).unwrap()).await;
    let error = refused.expect_err("a back-dated header passed an expired trust");
    assert!(
        error.to_string().contains("trusting period"),
        "refused for another reason: {error}"
    );
    assert!(metrics.light_blocks_refused(&b.id, "trust_expired") >= 1);
    assert_eq!(
        later.trusted_height().await.unwrap(),
        Some(Height::new(2).unwrap())
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits until `chain`'s own node has produced block `height`.
async fn wait_for_height(chain: &DevChain, height: u64) {
    let adapter = chain.adapter().unwrap();
    while adapter
        .status()
        .await
        .map_or(0, |s| s.latest_height.value())
        < height
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_moves_the_trust_anchor_or_slips_in_an_older_block() {
    let net = TwoChains::start("relayer-anchor");
    let (dir, b) = (&net.dir, &net.b);
    let anchor = b.anchor().unwrap();
    let store = Store::open(&dir.join("store")).unwrap();
    let metrics = Metrics::new();
    let clock = FixedClock::new(system_now());
    let keys = validator_keys(b);

    // An endpoint whose block at the anchor's height is another one
    // (validly signed, re-dated by a second): refused, nothing trusted.
    let shift = Duration::from_secs(1);
    let liar = start_proxy(
        b.url(),
        re_dating(keys.clone(), 0, move |blk| {
            blk.header().time.checked_add(shift).unwrap()
        }),
    )
    .await;
    wait_for_height(b, 6).await;
    let runtime = runtime_over(b, vec![liar], anchor, clock.clone(), &store, &metrics);
    let error = runtime
        .verified_block(Height::new(3).unwrap())
        .await
        .expect_err("a block that is not the anchor was trusted");
    assert!(error.to_string().contains("trust anchor"), "{error}");
    assert!(metrics.light_blocks_refused(&b.id, "anchor_mismatch") >= 1);
    assert_eq!(runtime.trusted_height().await.unwrap(), None);
    drop(runtime);

    // The honest node: trusted up to block 6, kept in the store.
    let honest = runtime_over(
        b,
        vec![b.url().to_owned()],
        anchor,
        clock.clone(),
        &store,
        &metrics,
    );
    honest
        .verified_block(Height::new(6).unwrap())
        .await
        .unwrap();
    drop(honest);

    // Restarted over an endpoint that forges the blocks below 6: asking
    // for block 3 neither re-anchors nor trusts the forgery.
    let forger = start_proxy(
        b.url(),
        light_blocks(move |json: &mut Value| {
            let Ok(mut block) = serde_json::from_value::<LightBlock>(json.clone()) else {
                return false;
            };
            if block.height().value() >= 6 {
                return false;
            }
            block.signed_header.header.state_root = Hash::ZERO;
            block.signed_header.commit =
                sign_commit(&block.signed_header.header, &block.validators, |k| {
                    keys.get(k)
                });
            *json = serde_json::to_value(&block).unwrap();
            true
        }),
    )
    .await;
    let restarted = runtime_over(b, vec![forger], anchor, clock.clone(), &store, &metrics);
    let error = restarted
        .verified_block(Height::new(3).unwrap())
        .await
        .expect_err("a forged block below the trusted ones was trusted");
    assert!(error.to_string().contains("last_header_hash"), "{error}");
    assert!(metrics.light_blocks_refused(&b.id, "broken_hash_chain") >= 1);
    assert_eq!(
        restarted.trusted_height().await.unwrap(),
        Some(Height::new(6).unwrap())
    );
    drop(restarted);

    // From the honest node the same old block is verified backwards.
    let honest = runtime_over(b, vec![b.url().to_owned()], anchor, clock, &store, &metrics);
    let old = honest
        .verified_block(Height::new(3).unwrap())
        .await
        .unwrap();
    assert_eq!(old.height().value(), 3);
    assert_eq!(
        honest.trusted_height().await.unwrap(),
        Some(Height::new(6).unwrap())
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A rewrite of `/packets` answers that, for every packet an earlier answer
/// showed sent, adds an `acknowledge_packet` event (once): the endpoint
/// claims packets ended that never were. Sets `lied` once it did.
fn false_acknowledgements(lied: Arc<AtomicBool>) -> Rewrite {
    let sent: Arc<std::sync::Mutex<(Vec<Value>, usize)>> = Default::default();
    Arc::new(move |path: &str, json: &mut Value| {
        if !path.starts_with("/packets") {
            return false;
        }
        let (Some(since), Some(scanned_to)) = (
            path.split("since=")
                .nth(1)
                .and_then(|s| s.split('&').next()?.parse::<u64>().ok()),
            json["scanned_to"].as_u64(),
        ) else {
            return false;
        };
        let mut sent = sent.lock().unwrap();
        let (seen, injected) = &mut *sent;
        let mut changed = false;
        // Events must lie in (since, scanned_to]: the lies go at its end.
        if scanned_to > since && *injected < seen.len() {
            let events = json["events"].as_array_mut().unwrap();
            for send in &seen[*injected..] {
                // The send's own event (its tx, its time), retold as an end.
                let mut lie = send.clone();
                lie["height"] = scanned_to.into();
                lie["event"]["kind"] = "acknowledge_packet".into();
                events.push(lie);
            }
            *injected = seen.len();
            changed = true;
            lied.store(true, Ordering::SeqCst);
        }
        let answered: Vec<Value> = json["events"].as_array().unwrap().clone();
        for event in answered {
            if event["event"]["kind"] == "send_packet" {
                seen.push(event);
            }
        }
        changed
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_claiming_packets_ended_are_hints_and_every_packet_is_still_delivered() {
    let net = TwoChains::start("relayer-false-acks");
    let (dir, a, b) = (&net.dir, &net.a, &net.b);
    let (a_rt, grant) = clients_and_seed(dir, a, b).await;

    // shaanxi, where the query is sent, only through the lying proxy;
    // guangdong unreachable until the lie was told, so the packet is still
    // pending when the relayer hears it "acknowledged".
    let lied = Arc::new(AtomicBool::new(false));
    let proxy_url = start_proxy(a.url(), false_acknowledgements(lied.clone())).await;
    let gate_url = start_gated_proxy(
        b.url(),
        Arc::new(|_: &str, _: &mut Value| false),
        lied.clone(),
    )
    .await;
    let mut a_via_proxy = a.clone();
    a_via_proxy.rpc = vec![proxy_url];
    let mut b_gated = b.clone();
    b_gated.rpc = vec![gate_url];
    let (_daemon, log) = start_daemon(dir, &[a_via_proxy, b_gated], None);

    let (_, sequence) = devnet::send_query(a, a_rt.adapter().as_ref(), &b.id, &grant)
        .await
        .unwrap();
    wait_acknowledged(a_rt.adapter().as_ref(), b, sequence, &log).await;
    assert!(lied.load(Ordering::SeqCst), "the proxy never lied");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("proven state has no result"),
        "the false acknowledgements were never seen; see {}",
        log.display()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_hidden_from_the_events_is_found_in_proven_state_and_delivered() {
    let net = TwoChains::start("relayer-hidden-sends");
    let (dir, a, b) = (&net.dir, &net.a, &net.b);
    let (a_rt, grant) = clients_and_seed(dir, a, b).await;

    // shaanxi only through a proxy that drops every send_packet event
    // while still claiming it scanned the whole range.
    let hiding = start_proxy(
        a.url(),
        Arc::new(|path: &str, json: &mut Value| {
            if !path.starts_with("/packets") {
                return false;
            }
            let Some(events) = json["events"].as_array_mut() else {
                return false;
            };
            let before = events.len();
            events.retain(|e| e["event"]["kind"] != "send_packet");
            events.len() != before
        }),
    )
    .await;
    let mut a_hidden = a.clone();
    a_hidden.rpc = vec![hiding];
    let (_daemon, log) = start_daemon(dir, &[a_hidden, b.clone()], None);

    let (_, sequence) = devnet::send_query(a, a_rt.adapter().as_ref(), &b.id, &grant)
        .await
        .unwrap();
    wait_acknowledged(a_rt.adapter().as_ref(), b, sequence, &log).await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("a packet no event announced"),
        "delivered without the recovery; see {}",
        log.display()
    );
    let _ = std::fs::remove_dir_all(dir);
}
