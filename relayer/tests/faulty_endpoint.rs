//! A lying RPC endpoint: chain guangdong's config lists first a proxy that
//! forwards to the real node but flips a byte of every commit signature in
//! the light blocks it serves, then the honest node. The relayer daemon
//! (`relayer start --config`) still carries the devnet query end to end,
//! and its API counts the faults against the proxy endpoint (`/chains`)
//! and its errors (`/metrics`).

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::state_keys;
mod common;

use common::{TwoChains, free_port, start_relayer};
use relayer::devnet::{self, RelayerConfig};
use relayer::metrics::Metrics;
use relayer::store::Store;
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

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
}

/// Forwards everything to the real node; light blocks come back with
/// broken signatures, and there is no event stream.
async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
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
    if path.starts_with("/light_block/")
        && status.is_success()
        && let Ok(mut json) = serde_json::from_slice::<Value>(&bytes)
        && corrupt_signatures(&mut json) > 0
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().fallback(forward).with_state(Proxy {
        upstream: b.url().to_owned(),
        client: reqwest::Client::new(),
    });
    tokio::spawn(async move { axum::serve(listener, router).await });

    // The daemon: guangdong's endpoints are the proxy first, then the node.
    let mut b_via_proxy = b.clone();
    b_via_proxy.rpc.insert(0, proxy_url.clone());
    let api: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut options = RelayerConfig::new(dir.join("relayer-store"));
    options.api = Some(api);
    options.api_token = TOKEN.into();
    options.clear_interval = Duration::from_secs(1);
    let config = dir.join("relayer.toml");
    options.write(&config, &[a.clone(), b_via_proxy]).unwrap();
    let log = dir.join("relayer.log");
    let _daemon = start_relayer(&config, &log);

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
