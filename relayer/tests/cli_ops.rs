//! The operator verbs against real processes: two credit chains started
//! with `relayer credit-chain`, then `chains list`, `health-check`,
//! `clear packets` and `query ...` run as the binary, with their exit
//! statuses, human output and `--json`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A chain process, killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn relayer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_relayer"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(args: &[&str]) -> Output {
    relayer().args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

/// Inits and starts chain `id` under `dir/id`; returns the process and its port.
fn start_chain(dir: &Path, id: &str) -> (Node, u16) {
    let home = dir.join(id);
    let init = relayer()
        .args([
            "credit-chain",
            "init",
            "--chain-id",
            id,
            "--validators",
            "4",
        ])
        .args(["--block-time", "100ms", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    assert!(init.status.success(), "init {id}: {init:?}");
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{id}.log"))).unwrap();
    let node = Node(
        relayer()
            .args(["credit-chain", "start", "--home"])
            .arg(&home)
            .args(["--rpc", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    (node, port)
}

fn write_config(dir: &Path, chains: &[(&str, u16)]) -> PathBuf {
    let mut text = String::from(
        "[store]\npath = \"relayer-data\"\n[api]\nenabled = false\n[telemetry]\nenabled = false\n",
    );
    for (id, port) in chains {
        // The test started the chain: its first block is the anchor.
        let anchor = anchor_of(dir, id, *port);
        text.push_str(&format!(
            "[[chains]]\nid = \"{id}\"\ntype = \"credit-chain\"\nrpc = [\"http://127.0.0.1:{port}\"]\nsigner_key = \"{id}/keys/institutions/relayer.json\"\nrpc_timeout = \"1s\"\ntrust_anchor = {}\n",
            relayer::devnet::anchor_toml(&anchor)
        ));
    }
    text.push_str(&format!(
        "[[paths]]\na = \"{}\"\nb = \"{}\"\n",
        chains[0].0, chains[1].0
    ));
    let file = dir.join("relayer.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// The first block of the chain `id` the test started on `port`, as an
/// anchor (waits for it).
fn anchor_of(dir: &Path, id: &str, port: u16) -> relayer::trust::Anchor {
    relayer::devnet::DevChain::new(
        id.parse().unwrap(),
        dir.join(id),
        format!("http://127.0.0.1:{port}"),
    )
    .anchor()
    .unwrap()
}

/// Answers one HTTP request with `status` and a JSON `body`; returns the
/// API's URL.
fn one_shot_api(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn operator_verbs_against_two_chains() {
    let dir = std::env::temp_dir().join(format!("relayer-cli-ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (shaanxi, shaanxi_port) = start_chain(&dir, "shaanxi");
    let (guangdong, guangdong_port) = start_chain(&dir, "guangdong");
    let config = write_config(
        &dir,
        &[("shaanxi", shaanxi_port), ("guangdong", guangdong_port)],
    );
    let config = config.to_str().unwrap();

    // chains list: both chains answer (wait for them to start).
    let deadline = Instant::now() + Duration::from_secs(60);
    let listed = loop {
        let out = run(&["chains", "list", "--config", config, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let listed = json(&out);
        let chains = listed["chains"].as_array().unwrap();
        if chains.iter().all(|c| c["reachable"] == true) {
            break listed;
        }
        assert!(Instant::now() < deadline, "chains did not start: {listed}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let chains = listed["chains"].as_array().unwrap();
    let ids: Vec<&str> = chains.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["guangdong", "shaanxi"]);
    for c in chains {
        assert!(c["latest_height"].as_u64().unwrap() >= 1, "{c}");
        assert!(c["latest_time"].is_string(), "{c}");
        assert!(c["trusted_height"].is_null(), "no store yet: {c}");
        assert!(c["error"].is_null(), "{c}");
        assert_eq!(c["endpoints"].as_array().unwrap().len(), 1, "{c}");
    }
    assert!(listed["store_note"].as_str().unwrap().contains("no store"));
    let out = run(&["chains", "list", "--config", config]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("CHAIN"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("shaanxi") && l.contains("yes")),
        "{text}"
    );

    // health-check: healthy.
    let out = run(&["health-check", "--config", config]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).ends_with("healthy\n"), "{}", stdout(&out));
    let out = run(&["health-check", "--config", config, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let health = json(&out);
    assert_eq!(health["healthy"], true, "{health}");
    assert_eq!(health["checks"]["store"], true);
    assert_eq!(health["problems"], serde_json::json!([]));
    for c in health["checks"]["chains"].as_array().unwrap() {
        assert_eq!(c["light_client"]["ok"], true, "{c}");
        assert_eq!(c["light_client"]["frozen"], false, "{c}");
    }

    // The store now trusts a height of each chain.
    let listed = json(&run(&["chains", "list", "--config", config, "--json"]));
    for c in listed["chains"].as_array().unwrap() {
        assert!(c["trusted_height"].as_u64().unwrap() >= 1, "{c}");
    }
    assert!(listed["store_note"].is_null(), "{listed}");

    // chains trust: malformed input is named; an anchor that is not the
    // chain's header is never trusted; the real one is trusted again.
    let out = run(&[
        "chains", "trust", "shaanxi", "--height", "1", "--hash", "zz", "--config", config,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--hash"), "{}", stderr(&out));
    let zero = "0".repeat(64);
    let out = run(&[
        "chains", "trust", "nowhere", "--height", "1", "--hash", &zero, "--config", config,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not configured"), "{}", stderr(&out));
    let out = run(&[
        "chains", "trust", "shaanxi", "--height", "2", "--hash", &zero, "--config", config,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let health = json(&run(&["health-check", "--config", config, "--json"]));
    assert_eq!(health["healthy"], false, "{health}");
    let shaanxi_check = health["checks"]["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "shaanxi")
        .unwrap_or_else(|| panic!("no shaanxi in {health}"))
        .clone();
    assert_eq!(
        shaanxi_check["light_client"]["ok"], false,
        "{shaanxi_check}"
    );
    let real = anchor_of(&dir, "shaanxi", shaanxi_port);
    let out = run(&[
        "chains",
        "trust",
        "shaanxi",
        "--height",
        "1",
        "--hash",
        &real.header_hash.to_string(),
        "--config",
        config,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let health = json(&run(&["health-check", "--config", config, "--json"]));
    assert_eq!(health["healthy"], true, "{health}");

    // clear packets on an idle network: nothing to do.
    let out = run(&["clear", "packets", "--config", config]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).starts_with("nothing to clear\n"),
        "{}",
        stdout(&out)
    );
    let out = run(&["clear", "packets", "--config", config, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cleared = json(&out);
    for key in ["received", "acknowledged", "timed_out", "pending"] {
        assert_eq!(cleared[key], 0, "{key}: {cleared}");
    }
    assert_eq!(cleared["errors"], serde_json::json!([]));
    assert_eq!(cleared["passes"], 1);

    // One chain down: unhealthy, naming it.
    drop(guangdong);
    let out = run(&["health-check", "--config", config]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("UNHEALTHY: chain guangdong is unreachable"),
        "{text}"
    );
    assert!(!text.contains("chain shaanxi is"), "{text}");
    let health = json(&run(&["health-check", "--config", config, "--json"]));
    assert_eq!(health["healthy"], false);
    let problems = health["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{health}");
    assert!(problems[0].as_str().unwrap().contains("guangdong"));
    drop(shaanxi);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn query_verbs_exit_statuses() {
    let dir = std::env::temp_dir().join(format!("relayer-cli-query-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let token = ["--token", "t0k3n"];

    // Unreachable API: 4, saying so.
    let api = format!("http://127.0.0.1:{}", free_port());
    let mut args = vec!["query", "status", "--api", &api];
    args.extend(token);
    args.push("shaanxi/guangdong/1");
    let out = run(&args);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("the relayer API at {api} is unreachable")),
        "{}",
        stderr(&out)
    );

    // Malformed inputs: 3.
    for id in [
        "shaanxi/guangdong",
        "shaanxi/guangdong/0",
        "shaanxi/guangdong/x",
    ] {
        let out = run(&["query", "status", "--api", &api, "--token", "t", id]);
        assert_eq!(out.status.code(), Some(3), "{id}");
        assert!(stderr(&out).contains("query id"), "{}", stderr(&out));
    }
    let out = run(&[
        "query",
        "status",
        "--api",
        "not a url",
        "--token",
        "t",
        "shaanxi/guangdong/1",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("API URL"), "{}", stderr(&out));
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"tx\": ").unwrap();
    let out = run(&[
        "query",
        "submit",
        "--api",
        &api,
        "--token",
        "t",
        "--tx",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("is not JSON"), "{}", stderr(&out));
    std::fs::write(&bad, "[{\"tx\": 1}]").unwrap();
    let out = run(&[
        "query",
        "submit",
        "--api",
        &api,
        "--token",
        "t",
        "--tx",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("transaction 0 is not a signed transaction"),
        "{}",
        stderr(&out)
    );
    let out = run(&[
        "chains",
        "list",
        "--config",
        dir.join("missing.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let out = run(&[
        "health-check",
        "--config",
        dir.join("missing.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("FAIL config"), "{}", stdout(&out));

    // The API's errors are shown with their message: 404 → 1.
    let api = one_shot_api(
        "404 Not Found",
        r#"{"error":"no query shaanxi→guangdong #7 is known","state":null}"#,
    );
    let out = run(&[
        "query",
        "result",
        "--api",
        &api,
        "--token",
        "t",
        "shaanxi/guangdong/7",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("404 Not Found: no query shaanxi→guangdong #7 is known"),
        "{}",
        stderr(&out)
    );
    let api = one_shot_api(
        "401 Unauthorized",
        r#"{"error":"unknown or missing bearer token"}"#,
    );
    let out = run(&[
        "query",
        "status",
        "--api",
        &api,
        "--token",
        "t",
        "--json",
        "shaanxi/guangdong/7",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out)["error"], "unknown or missing bearer token");

    // A result writes the bundle's two blocks for light-client verify.
    let api = one_shot_api(
        "200 OK",
        r#"{"query":{"source":"shaanxi","destination":"guangdong","sequence":1},"state":"acknowledged","acknowledgement":{"ok":true},"bundle":{"chain_id":"guangdong","height":9,"trusted":{"t":1},"light_block":{"u":2},"proofs":[]}}"#,
    );
    let out_dir = dir.join("bundle");
    let out = run(&[
        "query",
        "result",
        "--api",
        &api,
        "--token",
        "t",
        "shaanxi/guangdong/1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("query shaanxi/guangdong/1: acknowledged"),
        "{}",
        stdout(&out)
    );
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out_dir.join(name)).unwrap()).unwrap()
    };
    assert_eq!(read("trusted.json")["t"], 1);
    assert_eq!(read("untrusted.json")["u"], 2);
    let _ = std::fs::remove_dir_all(&dir);
}
