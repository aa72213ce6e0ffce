//! The integrators' HTTP API against two real credit-chain processes (the
//! relayer binary's embedded node) and an in-process engine: a query
//! submitted through the API is answered end to end and its result bundle
//! re-verifies offline; a query without consent comes back refused with the
//! reason; tokens, malformed input and unknown chains are refused; metrics,
//! health and the OpenAPI document are served. Then a real `relayer start`
//! daemon in a mesh with governance: its tokens' roles hold against an
//! integrator reading or submitting another institution's queries and
//! against one using the operator's routes, and no answer shows an
//! endpoint URL.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credit_chain::app::auth::{public_key, sign_transaction};
use credit_chain::genesis::SAMPLE_ENTERPRISES;
use ed25519_dalek::SigningKey;
use light_clients::merkle::StateProof;
use protocol::tx::{Acknowledgement, SignedTransaction, TxBody};
use protocol::{ChainId, EnterpriseId, Hash, LightBlock, Money, state_keys};
use relayer::api::{ApiState, Caller, TokenCheck};
use relayer::config::TokenRole;
use relayer::devnet::{self, ChainProcess, DevChain};
use relayer::engine::{ChainRuntime, Engine, EngineOptions};
use relayer::metrics::Metrics;
use relayer::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// bank-a@shaanxi's token in the in-process test.
const TOKEN: &str = "bank-a-token-0123456789";
/// The operator's token in the in-process test.
const OPERATOR: &str = "operator-token-0123456789";
const BLOCK_TIME: Duration = Duration::from_millis(100);

struct Region {
    id: ChainId,
    home: PathBuf,
    chain: DevChain,
    node: ChainProcess,
    runtime: Arc<ChainRuntime>,
}

fn relayer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_relayer"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn key(home: &Path, name: &str) -> SigningKey {
    devnet::key(home, name).unwrap()
}

/// Starts chain `id` in `dir/id` and a runtime of the relayer for it.
async fn start_chain(dir: &Path, id: &str, store: &Store, metrics: &Metrics) -> Region {
    let exe = Path::new(env!("CARGO_BIN_EXE_relayer"));
    let (chain, node) = devnet::start_chain(exe, dir, id, BLOCK_TIME, free_port()).unwrap();
    let runtime = chain.runtime(store, metrics).unwrap();
    devnet::wait_for_chain(runtime.adapter().as_ref())
        .await
        .unwrap();
    Region {
        id: chain.id.clone(),
        home: chain.home.clone(),
        chain,
        node,
        runtime,
    }
}

async fn next_nonce(region: &Region, signer: &SigningKey) -> u64 {
    devnet::next_nonce(region.runtime.adapter().as_ref(), &public_key(signer))
        .await
        .unwrap()
}

fn money(minor_units: u64) -> Money {
    devnet::cny(minor_units)
}

/// A `send_credit_query` of bank-a on `asker` to `answerer`.
fn query_tx(
    asker: &Region,
    answerer: &ChainId,
    nonce: u64,
    enterprise: &EnterpriseId,
    consent_id: Hash,
) -> SignedTransaction {
    sign_transaction(
        &key(&asker.home, "institutions/bank-a"),
        asker.id.clone(),
        nonce,
        devnet::credit_query(
            answerer,
            enterprise,
            consent_id,
            asker.chain.encryption_key("bank-a").unwrap().public(),
        ),
    )
}

/// An HTTP answer.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request (`Connection: close`), raw, so that malformed
/// bodies are sent exactly as written.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    // A token with a space in it is sent as the whole header value.
    match token {
        Some(t) if t.contains(' ') => request.push_str(&format!("Authorization: {t}\r\n")),
        Some(t) => request.push_str(&format!("Authorization: Bearer {t}\r\n")),
        None => {}
    }
    let body = body.unwrap_or("");
    if method == "POST" {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: body.to_owned(),
    }
}

fn assert_error(answer: &Answer, status: u16, needle: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let error = answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains(needle),
        "error {error:?} should mention {needle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrators_query_through_the_api_and_re_verify_the_answer_offline() {
    let dir = std::env::temp_dir().join(format!("relayer-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("relayer-store")).unwrap();
    let metrics = Metrics::new();
    let shaanxi = start_chain(&dir, "shaanxi", &store, &metrics).await;
    let guangdong = start_chain(&dir, "guangdong", &store, &metrics).await;

    // On-chain light clients of each other, as the devnet makes them.
    devnet::create_clients(&[shaanxi.runtime.clone(), guangdong.runtime.clone()])
        .await
        .unwrap();
    let engine = Arc::new(
        Engine::new(
            vec![shaanxi.runtime.clone(), guangdong.runtime.clone()],
            &[(shaanxi.id.clone(), guangdong.id.clone())],
            store.clone(),
            EngineOptions {
                batch_size: 100,
                clear_interval: Duration::from_secs(1),
            },
        )
        .unwrap(),
    );

    // On guangdong: two loans of an enterprise and its consent for
    // shaanxi/bank-a.
    let grant = devnet::seed_query_scenario(
        &guangdong.chain,
        guangdong.runtime.adapter().as_ref(),
        &shaanxi.id,
    )
    .await
    .unwrap();
    devnet::register_encryption_key(&shaanxi.chain, shaanxi.runtime.adapter().as_ref(), "bank-a")
        .await
        .unwrap();
    let consented: EnterpriseId = grant.enterprise.clone();
    assert_eq!(consented.to_string(), SAMPLE_ENTERPRISES[0]);
    let unconsented: EnterpriseId = SAMPLE_ENTERPRISES[1].parse().unwrap();

    // The API, on an ephemeral port.
    let tokens: TokenCheck = Arc::new(|t| match t {
        TOKEN => Some(Caller {
            name: "bank-a".into(),
            role: TokenRole::Integrator {
                institution: "bank-a".parse().unwrap(),
                chain: "shaanxi".parse().unwrap(),
            },
        }),
        OPERATOR => Some(Caller {
            name: "operator".into(),
            role: TokenRole::Operator,
        }),
        _ => None,
    });
    let state = ApiState::with_tokens(engine.clone(), metrics.clone(), tokens);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(relayer::api::serve(listener, state));
    let get = |path: &str, token: Option<&'static str>| {
        let path = path.to_owned();
        async move { http(addr, "GET", &path, token, None).await }
    };
    let post = |body: String, token: Option<&'static str>| async move {
        http(addr, "POST", "/queries", token, Some(&body)).await
    };

    // The OpenAPI document lists every route.
    let doc = get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    for path in [
        "/queries",
        "/queries/{source}/{destination}/{sequence}",
        "/queries/{source}/{destination}/{sequence}/result",
        "/chains",
        "/health",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not documented");
    }

    let health = get("/health", None).await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "ok");
    // /health answers from the background survey: calls do not each ask
    // every chain (the engine is not running yet, so only the survey and
    // these calls could reach the endpoints).
    let requests = || -> u64 {
        [&shaanxi, &guangdong]
            .iter()
            .flat_map(|r| r.runtime.adapter().endpoint_stats())
            .map(|e| e.requests)
            .sum()
    };
    let before = requests();
    for _ in 0..50 {
        assert_eq!(get("/health", None).await.status, 200);
    }
    let asked = requests() - before;
    assert!(
        asked < 25,
        "50 calls of /health made {asked} chain requests"
    );

    // Unknown or missing tokens: 401 and nothing else.
    let bank_a = key(&shaanxi.home, "institutions/bank-a");
    let nonce = next_nonce(&shaanxi, &bank_a).await;
    let first = query_tx(&shaanxi, &guangdong.id, nonce, &consented, grant.id());
    let first_json = serde_json::to_string(&first).unwrap();
    for token in [None, Some("not-a-token")] {
        for answer in [
            get("/chains", token).await,
            get("/queries/shaanxi/guangdong/1", token).await,
            get("/queries/shaanxi/guangdong/1/result", token).await,
            post(first_json.clone(), token).await,
        ] {
            assert_eq!(answer.status, 401, "{}", answer.body);
            assert_eq!(
                answer.json(),
                json!({ "error": "unknown or missing bearer token" })
            );
        }
    }
    assert_eq!(
        next_nonce(&shaanxi, &bank_a).await,
        nonce,
        "nothing was submitted"
    );
    let basic = get("/chains", Some("Basic YmFuay1hOnNlY3JldA==")).await;
    assert_eq!(basic.status, 401, "{}", basic.body);

    // Chains, with heights and the relayer's light clients; endpoints'
    // counters only for the operator, and by name, not URL.
    let listed = get("/chains", Some(TOKEN)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    for c in listed.json()["chains"].as_array().unwrap() {
        assert!(c.get("endpoints").is_none(), "{c}");
    }
    let answer = get("/chains", Some(OPERATOR)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for region in [&shaanxi, &guangdong] {
        let url = region.chain.url();
        assert!(!answer.body.contains(url), "{url} in {}", answer.body);
    }
    let chains = answer.json()["chains"].as_array().unwrap().clone();
    assert_eq!(chains.len(), 2);
    for c in &chains {
        assert_eq!(c["reachable"], true, "{c}");
        assert!(c["latest_height"].as_u64().unwrap() >= 1, "{c}");
        assert!(
            c["light_client"]["trusted_height"].as_u64().is_some(),
            "{c}"
        );
        assert_eq!(c["light_client"]["frozen"], false);
        assert_eq!(c["endpoints"].as_array().unwrap().len(), 1);
        assert_eq!(c["endpoints"][0]["endpoint"], "rpc[0]", "{c}");
    }

    // Bad input: 400 or 404 naming what is wrong.
    assert_error(
        &post("{\"tx\": ".into(), Some(TOKEN)).await,
        400,
        "malformed JSON",
    );
    assert_error(
        &post("{\"hello\": 1}".into(), Some(TOKEN)).await,
        400,
        "not a signed transaction",
    );
    assert_error(&post("[]".into(), Some(TOKEN)).await, 400, "empty array");
    let transfer = sign_transaction(
        &bank_a,
        shaanxi.id.clone(),
        nonce,
        TxBody::Transfer {
            to: "bureau-a".parse().unwrap(),
            amount: money(1),
        },
    );
    assert_error(
        &post(serde_json::to_string(&transfer).unwrap(), Some(TOKEN)).await,
        400,
        "transfer, not a send_credit_query",
    );
    let mut elsewhere = first.clone();
    elsewhere.tx.chain_id = "beijing".parse().unwrap();
    assert_error(
        &post(serde_json::to_string(&elsewhere).unwrap(), Some(OPERATOR)).await,
        404,
        "unknown source chain beijing",
    );
    let to_nowhere = query_tx(
        &shaanxi,
        &"beijing".parse().unwrap(),
        nonce,
        &consented,
        grant.id(),
    );
    assert_error(
        &post(serde_json::to_string(&to_nowhere).unwrap(), Some(TOKEN)).await,
        404,
        "unknown destination chain beijing",
    );
    assert_error(
        &get("/queries/shaanxi/guangdong/abc", Some(TOKEN)).await,
        400,
        "sequence",
    );
    assert_error(
        &get("/queries/Shaanxi/guangdong/1", Some(TOKEN)).await,
        400,
        "Shaanxi",
    );
    assert_error(
        &get("/queries/shaanxi/beijing/1", Some(TOKEN)).await,
        404,
        "unknown chain beijing",
    );
    assert_error(
        &get("/queries/shaanxi/guangdong/999", Some(TOKEN)).await,
        404,
        "no query",
    );
    assert_error(&get("/nowhere", None).await, 404, "no route");
    assert_error(
        &http(addr, "DELETE", "/health", None, None).await,
        405,
        "DELETE is not allowed on /health",
    );
    assert_eq!(next_nonce(&shaanxi, &bank_a).await, nonce);

    // A consented query, submitted through the API.
    let sent = post(first_json.clone(), Some(TOKEN)).await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let sent = sent.json();
    assert_eq!(sent["query"]["source"], "shaanxi");
    assert_eq!(sent["query"]["destination"], "guangdong");
    assert_eq!(sent["tx"], first.hash().to_string());
    let answered = sent["status"].as_str().unwrap().to_owned();
    // Known at once, and no result before it is relayed.
    let status = get(&answered, Some(TOKEN)).await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.json()["state"], "committed");
    assert_error(
        &get(&format!("{answered}/result"), Some(TOKEN)).await,
        404,
        "not yet received",
    );

    // Sent again: the chain refuses the reused nonce, with its code.
    let again = post(first_json, Some(TOKEN)).await;
    assert_eq!(again.status, 422, "{}", again.body);
    let again = again.json();
    assert!(again["code"].as_u64().unwrap() > 0, "{again}");
    assert!(
        again["error"].as_str().unwrap().contains("shaanxi refused"),
        "{again}"
    );

    // "All" destinations: an array, here a query without consent and
    // another consented one.
    let batch = vec![
        query_tx(
            &shaanxi,
            &guangdong.id,
            nonce + 1,
            &unconsented,
            Hash([7; 32]),
        ),
        query_tx(&shaanxi, &guangdong.id, nonce + 2, &consented, grant.id()),
    ];
    let sent = post(serde_json::to_string(&batch).unwrap(), Some(TOKEN)).await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let items = sent.json()["queries"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let refused = items[0]["status"].as_str().unwrap().to_owned();
    let answered_too = items[1]["status"].as_str().unwrap().to_owned();

    // The relayer runs; every query ends acknowledged.
    let driver = {
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                engine.step().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let started = Instant::now();
    for path in [&answered, &refused, &answered_too] {
        loop {
            let status = get(path, Some(TOKEN)).await;
            assert_eq!(status.status, 200, "{}", status.body);
            if status.json()["state"] == "acknowledged" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "{path} not acknowledged: {}",
                status.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // The answer, with a bundle that re-verifies offline.
    let result = get(&format!("{answered}/result"), Some(TOKEN)).await;
    assert_eq!(result.status, 200, "{}", result.body);
    let result = result.json();
    let response = &result["acknowledgement"]["body"];
    assert_eq!(response["kind"], "credit_response", "{result}");
    assert_eq!(response["body"]["outcome"]["outcome"], "answered");
    let covered: usize = response["body"]["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["commitments"].as_array().unwrap().len())
        .sum();
    assert_eq!(covered, 2, "{result}");
    let bundle = &result["bundle"];
    let trusted_file = dir.join("trusted.json");
    let block_file = dir.join("light_block.json");
    std::fs::write(&trusted_file, bundle["trusted"].to_string()).unwrap();
    std::fs::write(&block_file, bundle["light_block"].to_string()).unwrap();
    let verify = relayer()
        .args(["light-client", "verify", "--trusted"])
        .arg(&trusted_file)
        .arg("--untrusted")
        .arg(&block_file)
        .output()
        .unwrap();
    let verdict: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert!(verify.status.success(), "{verdict}");
    assert_eq!(verdict["verdict"], "success");
    assert_eq!(verdict["chain_id"], "guangdong");
    let block: LightBlock = serde_json::from_value(bundle["light_block"].clone()).unwrap();
    let root = block.header().state_root;
    let proofs = bundle["proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 2);
    let acknowledgement: Acknowledgement =
        serde_json::from_value(result["acknowledgement"].clone()).unwrap();
    let sequence = result["query"]["sequence"].as_u64().unwrap();
    for p in proofs {
        let key = hex::decode(p["key"].as_str().unwrap()).unwrap();
        let value = hex::decode(p["value"].as_str().unwrap()).unwrap();
        let proof: StateProof = serde_json::from_value(p["proof"].clone()).unwrap();
        proof.verify(&root, &key, Some(&value)).unwrap();
        if key == state_keys::packet_ack(&shaanxi.id, sequence) {
            // The proven hash is the acknowledgement's.
            assert_eq!(value, acknowledgement.hash().0.to_vec());
        }
    }
    // A tampered value does not verify.
    let p = &proofs[0];
    let proof: StateProof = serde_json::from_value(p["proof"].clone()).unwrap();
    let key = hex::decode(p["key"].as_str().unwrap()).unwrap();
    assert!(proof.verify(&root, &key, Some(b"forged")).is_err());

    // The query without consent: acknowledged as refused, with the reason.
    let result = get(&format!("{refused}/result"), Some(TOKEN)).await;
    assert_eq!(result.status, 200, "{}", result.body);
    let outcome = &result.json()["acknowledgement"]["body"]["body"]["outcome"];
    assert_eq!(outcome["outcome"], "consent_refused", "{outcome}");
    assert!(
        !outcome["detail"].as_str().unwrap_or_default().is_empty(),
        "{outcome}"
    );
    let result = get(&format!("{answered_too}/result"), Some(TOKEN)).await;
    assert_eq!(result.status, 200, "{}", result.body);

    // Metrics: every family, and the relayed packets of the path.
    let metrics = get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .content_type
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        metrics.content_type
    );
    for family in [
        "relayer_packets_relayed",
        "relayer_packets_failed",
        "relayer_header_verification_seconds",
        "relayer_rpc_errors",
        "relayer_pending_packets",
        "relayer_store_bytes",
    ] {
        assert!(
            metrics.body.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{}",
            metrics.body
        );
    }
    assert!(
        metrics.body.contains(
            "relayer_packets_relayed_total{source=\"shaanxi\",destination=\"guangdong\"}"
        ),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("relayer_pending_packets 0"),
        "{}",
        metrics.body
    );

    for region in [&shaanxi, &guangdong] {
        let url = region.chain.url();
        assert!(!metrics.body.contains(url), "{url} in /metrics");
    }

    // A chain down: /health says which, once the survey saw it, without
    // the endpoint's URL the adapter's error names.
    driver.abort();
    let guangdong_url = guangdong.chain.url().to_owned();
    let Region { node, .. } = guangdong;
    drop(node);
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        let health = get("/health", None).await;
        if health.status == 503 {
            break health;
        }
        assert_eq!(health.status, 200, "{}", health.body);
        assert!(Instant::now() < deadline, "guangdong still healthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !health.body.contains(&guangdong_url) && !health.body.contains("http://"),
        "{}",
        health.body
    );
    let health = health.json();
    assert_eq!(health["status"], "unavailable");
    assert!(
        health["error"]
            .as_str()
            .unwrap()
            .contains("guangdong is unreachable"),
        "{health}"
    );
    drop(shaanxi);
    let _ = std::fs::remove_dir_all(&dir);
}

/// GET with a bearer token from a real daemon: status and body text.
async fn get_with(api: SocketAddr, path: &str, token: &str) -> Answer {
    http(api, "GET", path, Some(token), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_hold_an_integrator_to_its_own_queries_and_the_operator_routes_to_the_operator() {
    let dir = std::env::temp_dir().join(format!("relayer-api-roles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("setup-store")).unwrap();
    let metrics = Metrics::new();
    let shaanxi = start_chain(&dir, "shaanxi", &store, &metrics).await;
    let guangdong = start_chain(&dir, "guangdong", &store, &metrics).await;
    devnet::create_clients(&[shaanxi.runtime.clone(), guangdong.runtime.clone()])
        .await
        .unwrap();
    let grant = devnet::seed_query_scenario(
        &guangdong.chain,
        guangdong.runtime.adapter().as_ref(),
        &shaanxi.id,
    )
    .await
    .unwrap();
    devnet::register_encryption_key(&shaanxi.chain, shaanxi.runtime.adapter().as_ref(), "bank-a")
        .await
        .unwrap();

    // A relayer daemon in a mesh with governance (the registry's routes),
    // with the devnet's tokens: the operator's, and bank-a's and
    // bureau-a's on each chain.
    let operator = "operator-secret-token";
    let bank_a = devnet::integrator_token(operator, "bank-a", &shaanxi.id);
    let bureau_a = devnet::integrator_token(operator, "bureau-a", &shaanxi.id);
    let identity = credit_chain::keys::KeyFile::generate("operator");
    let identity_key = dir.join("operator.json");
    identity.write(&identity_key).unwrap();
    let (governors, governor_keys) = common::governors();
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut config = devnet::RelayerConfig::new(dir.join("relayer-store"));
    config.api = Some(api);
    config.api_token = operator.into();
    config.mesh = Some(devnet::MeshMember {
        identity_key,
        listen: format!("/ip4/127.0.0.1/tcp/{}", free_port()),
        bootstrap: Vec::new(),
        chains: Vec::new(),
        governance: Some((governor_keys, 2)),
        admitted: Vec::new(),
        regulator: None,
        capture: None,
    });
    let regions = [shaanxi.chain.clone(), guangdong.chain.clone()];
    let text = config.toml(&regions).unwrap();

    // An endpoint URL with credentials in it is refused, naming the chain,
    // without repeating the secret.
    let with_secret = dir.join("with-secret.toml");
    std::fs::write(
        &with_secret,
        text.replace(
            &format!("\"{}\"", shaanxi.chain.url()),
            &format!(
                "\"{}\"",
                shaanxi
                    .chain
                    .url()
                    .replace("http://", "http://relayer:hunter2@")
            ),
        ),
    )
    .unwrap();
    let validated = relayer()
        .args(["config", "validate", "--config"])
        .arg(&with_secret)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&validated.stdout).into_owned();
    assert_eq!(validated.status.code(), Some(3), "{said}");
    assert!(
        said.contains("of chain shaanxi carries credentials"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
    // The daemon refuses to start on it, too (and would keep running if
    // it took the file: the wait is bounded, the test fails then).
    let mut refused = common::Daemon(
        relayer()
            .args(["start", "--config"])
            .arg(&with_secret)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = refused.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "relayer start took a config with credentials in a URL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut refused.0.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!exit.success(), "{said}");
    assert!(
        said.contains("of chain shaanxi carries credentials") && !said.contains("hunter2"),
        "{said}"
    );

    let file = dir.join("relayer.toml");
    std::fs::write(&file, &text).unwrap();
    let log = dir.join("relayer.log");
    let _daemon = common::start_relayer(&file, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(stream) = tokio::net::TcpStream::connect(api).await {
            drop(stream);
            let health = http(api, "GET", "/health", None, None).await;
            if health.status == 200 {
                // No endpoint URL in /health.
                assert!(!health.body.contains("http://"), "{}", health.body);
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the relayer API did not come up; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // bank-a submits its own query.
    let bank_a_key = key(&shaanxi.home, "institutions/bank-a");
    let nonce = next_nonce(&shaanxi, &bank_a_key).await;
    let first = query_tx(
        &shaanxi,
        &guangdong.id,
        nonce,
        &grant.enterprise,
        grant.id(),
    );
    let sent = http(
        api,
        "POST",
        "/queries",
        Some(&bank_a),
        Some(&serde_json::to_string(&first).unwrap()),
    )
    .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let status_path = sent.json()["status"].as_str().unwrap().to_owned();
    let sequence = sent.json()["query"]["sequence"].as_u64().unwrap();
    let mine = get_with(api, &status_path, &bank_a).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(
        mine.json()["payload"]["body"]["requester"],
        "bank-a",
        "{}",
        mine.body
    );

    // bureau-a reads bank-a's query: 404, the very answer of a query that
    // does not exist (so sequences tell nothing).
    let unknown = |n: u64| json!({ "error": format!("no query shaanxi→guangdong #{n} is known to this relayer (not submitted, or not yet seen on shaanxi)") });
    for path in [status_path.clone(), format!("{status_path}/result")] {
        let theirs = get_with(api, &path, &bureau_a).await;
        assert_eq!(theirs.status, 404, "{path}: {}", theirs.body);
        assert_eq!(theirs.json(), unknown(sequence), "{path}");
    }
    let missing = get_with(api, "/queries/shaanxi/guangdong/999", &bureau_a).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(missing.json(), unknown(999));
    // The operator reads any.
    let any = get_with(api, &status_path, operator).await;
    assert_eq!(any.status, 200, "{}", any.body);

    // bureau-a submits a query signed by bank-a: 403, nothing submitted.
    let second = query_tx(
        &shaanxi,
        &guangdong.id,
        nonce + 1,
        &grant.enterprise,
        grant.id(),
    );
    let forged = http(
        api,
        "POST",
        "/queries",
        Some(&bureau_a),
        Some(&serde_json::to_string(&second).unwrap()),
    )
    .await;
    assert_error(
        &forged,
        403,
        "token \"bureau-a@shaanxi\" (integrator bureau-a@shaanxi) may submit only queries of bureau-a on shaanxi; this one is of bank-a on shaanxi",
    );
    // So is bank-a@shaanxi submitting bank-a's query on guangdong, and a
    // batch with one query not its own.
    let elsewhere = sign_transaction(
        &key(&guangdong.home, "institutions/bank-a"),
        guangdong.id.clone(),
        1,
        devnet::credit_query(
            &shaanxi.id,
            &grant.enterprise,
            grant.id(),
            guangdong.chain.encryption_key("bank-a").unwrap().public(),
        ),
    );
    assert_error(
        &http(
            api,
            "POST",
            "/queries",
            Some(&bank_a),
            Some(&serde_json::to_string(&elsewhere).unwrap()),
        )
        .await,
        403,
        "this one is of bank-a on guangdong",
    );
    assert_error(
        &http(
            api,
            "POST",
            "/queries",
            Some(&bank_a),
            Some(&serde_json::to_string(&vec![second.clone(), elsewhere]).unwrap()),
        )
        .await,
        403,
        "transaction 1: ",
    );
    assert_eq!(
        next_nonce(&shaanxi, &bank_a_key).await,
        nonce + 1,
        "nothing but bank-a's own query was submitted"
    );

    // Integrators use none of the operator's routes; the operator does.
    let chain_operator = key(&guangdong.home, "institutions/relayer");
    let registration = common::signed_registration(
        &guangdong.runtime,
        identity_peer_id(&identity),
        &chain_operator,
    )
    .await;
    let proposal = relayer::registry::signing::sign_proposal(
        protocol::registry::Proposal::Register(registration),
        &chain_operator,
    );
    let proposal_json = serde_json::to_string(&proposal).unwrap();
    let approval = serde_json::to_string(&relayer::registry::signing::sign_approval(
        proposal.id(),
        &governors[1],
    ))
    .unwrap();
    let some_peer = identity_peer_id(&credit_chain::keys::KeyFile::generate("other"));
    for token in [&bank_a, &bureau_a] {
        for (method, path, body) in [
            ("GET", "/network/peers".to_owned(), None),
            ("GET", "/network/routes".to_owned(), None),
            ("GET", "/network/bans".to_owned(), None),
            ("DELETE", format!("/network/bans/{some_peer}"), None),
            ("GET", "/registry".to_owned(), None),
            (
                "POST",
                "/registry/proposals".to_owned(),
                Some(proposal_json.as_str()),
            ),
            (
                "POST",
                "/registry/approvals".to_owned(),
                Some(approval.as_str()),
            ),
        ] {
            let answer = http(api, method, &path, Some(token), body).await;
            assert_error(&answer, 403, "it needs a token with role = \"operator\"");
            assert_eq!(answer.json()["required_role"], "operator");
        }
    }
    let registry = get_with(api, "/registry", operator).await;
    assert_eq!(registry.status, 200, "{}", registry.body);
    assert_eq!(
        registry.json()["proposals"],
        json!([]),
        "an integrator's proposal was not taken"
    );
    let proposed = http(
        api,
        "POST",
        "/registry/proposals",
        Some(operator),
        Some(&proposal_json),
    )
    .await;
    assert_eq!(proposed.status, 201, "{}", proposed.body);
    let registry = get_with(api, "/registry", operator).await;
    assert_eq!(
        registry.json()["proposals"][0]["id"],
        proposal.id().to_string()
    );
    let unban = http(
        api,
        "DELETE",
        &format!("/network/bans/{some_peer}"),
        Some(operator),
        None,
    )
    .await;
    assert_error(&unban, 404, "is not banned");
    let peers = get_with(api, "/network/peers", operator).await;
    assert_eq!(peers.status, 200, "{}", peers.body);
    let routes = get_with(api, "/network/routes", operator).await;
    assert_eq!(routes.status, 200, "{}", routes.body);

    // No answer, to anyone, names an endpoint by URL.
    for answer in [
        routes,
        get_with(api, "/chains", operator).await,
        get_with(api, "/chains", &bank_a).await,
        http(api, "GET", "/metrics", None, None).await,
    ] {
        for region in [&shaanxi, &guangdong] {
            let url = region.chain.url();
            assert!(!answer.body.contains(url), "{url} in {}", answer.body);
        }
    }
    drop(_daemon);
    drop((shaanxi, guangdong));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The libp2p peer id of an operator key file.
fn identity_peer_id(identity: &credit_chain::keys::KeyFile) -> String {
    let public = protocol::PublicKey(identity.signing_key().unwrap().verifying_key().to_bytes());
    network::peer_id_of(&public).unwrap().to_string()
}
