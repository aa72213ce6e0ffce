//! Helpers shared by the relayer's process tests.

// Each test binary uses only some of them.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The `relayer` binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_relayer"))
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `relayer start` daemon; killed with SIGKILL when dropped.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `relayer start --config CONFIG`, appending its logs to `log`.
pub fn start_relayer(config: &Path, log: &Path) -> Daemon {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Daemon(
        Command::new(exe())
            .args(["start", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Two chains of a fresh devnet (shaanxi and guangdong, 100 ms blocks) in a
/// new temp directory named after the test; their processes stop on drop.
pub struct TwoChains {
    /// The working directory.
    pub dir: std::path::PathBuf,
    /// shaanxi.
    pub a: relayer::devnet::DevChain,
    /// guangdong.
    pub b: relayer::devnet::DevChain,
    _nodes: Vec<relayer::devnet::ChainProcess>,
}

impl TwoChains {
    /// Starts both chains under `temp/<name>-<pid>`.
    pub fn start(name: &str) -> TwoChains {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let block_time = std::time::Duration::from_millis(100);
        let (a, a_node) =
            relayer::devnet::start_chain(exe(), &dir, "shaanxi", block_time, free_port()).unwrap();
        let (b, b_node) =
            relayer::devnet::start_chain(exe(), &dir, "guangdong", block_time, free_port())
                .unwrap();
        TwoChains {
            dir,
            a,
            b,
            _nodes: vec![a_node, b_node],
        }
    }
}

/// A registration of the chain `runtime` follows, anchored at its first
/// block (verified by `runtime`'s light client), served by the relayer
/// `serving_peer`, signed by its operator.
pub async fn signed_registration(
    runtime: &relayer::engine::ChainRuntime,
    serving_peer: String,
    operator: &ed25519_dalek::SigningKey,
) -> protocol::ChainRegistration {
    let anchor_block = runtime
        .verified_block(protocol::Height::GENESIS)
        .await
        .unwrap();
    let mut registration = protocol::ChainRegistration {
        chain_id: runtime.id().clone(),
        chain_type: protocol::ChainType::CreditChain,
        trust_anchor: protocol::TrustAnchor {
            height: anchor_block.height(),
            header_hash: anchor_block.header().hash(),
            next_validators: anchor_block.next_validators.clone(),
        },
        operator_key: protocol::PublicKey(operator.verifying_key().to_bytes()),
        relayer_peer_ids: vec![serving_peer],
        operator_signature: protocol::Signature([0; 64]),
    };
    relayer::registry::signing::sign_registration(&mut registration, operator);
    registration
}

/// POSTs `body` as JSON with an integrator's bearer `token`; the status and
/// the JSON answer (null if none).
pub async fn post(url: &str, token: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Submits `proposal` to the relayer API at `api` (`http://host:port`) and
/// approves it with each of `governors`, asserting every step is accepted.
pub async fn propose_and_approve(
    api: &str,
    token: &str,
    proposal: &protocol::registry::SignedProposal,
    governors: &[ed25519_dalek::SigningKey],
) {
    let (status, body) = post(
        &format!("{api}/registry/proposals"),
        token,
        &serde_json::to_value(proposal).unwrap(),
    )
    .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    for governor in governors {
        let approval = relayer::registry::signing::sign_approval(proposal.id(), governor);
        let (status, body) = post(
            &format!("{api}/registry/approvals"),
            token,
            &serde_json::to_value(approval).unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Starts `count` regional chains (a block every `block_time`, RPC on
/// `base + 10 i`) and a runtime of each over a setup store in
/// `dir/setup-store`.
pub async fn start_regions(
    dir: &Path,
    count: usize,
    block_time: std::time::Duration,
    base: u16,
) -> relayer::devnet::Regions {
    let store = relayer::store::Store::open(&dir.join("setup-store")).unwrap();
    relayer::devnet::start_regions(
        exe(),
        dir,
        count,
        block_time,
        |i| base + 10 * i as u16,
        &store,
        &relayer::metrics::Metrics::new(),
    )
    .await
    .unwrap()
}

/// The network's three governance keys in these tests, and their public
/// keys in hex (for `[network.governance]`).
pub fn governors() -> (Vec<ed25519_dalek::SigningKey>, Vec<String>) {
    let keys: Vec<ed25519_dalek::SigningKey> = (0..3)
        .map(|i| ed25519_dalek::SigningKey::from_bytes(&[i + 7; 32]))
        .collect();
    let hex = keys
        .iter()
        .map(|k| hex::encode(k.verifying_key().to_bytes()))
        .collect();
    (keys, hex)
}

/// A chain new to the network gets, from its own operator, on-chain
/// clients of the chains it will talk to (anchored at their first block).
pub async fn clients_on_newcomer(
    newcomer: &relayer::engine::ChainRuntime,
    of: &[std::sync::Arc<relayer::engine::ChainRuntime>],
) {
    let mut bodies = Vec::new();
    for other in of {
        bodies.push(protocol::tx::TxBody::CreateClient {
            anchor: other
                .verified_block(protocol::Height::GENESIS)
                .await
                .unwrap(),
            params: Default::default(),
        });
    }
    for outcome in newcomer.submit(bodies).await.unwrap() {
        let outcome = outcome.unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}
