//! The regulator's supervision node across real processes: three regional
//! chains, a relayer per region in the libp2p mesh, and `relayer
//! supervise` following every chain through the mesh. Messages cross the
//! mesh (a query answered, one refused for lack of consent, one timed out,
//! a joint aggregation with two encrypted contributions); the node's API,
//! signed with the regulator's key, lists an entry per event with its
//! metadata and filters it; another key gets 403; relayers refuse its
//! submissions; checkpoints are anchored on the first chain with the log's
//! root; the stored log verifies (against the chain too) and a tampered
//! copy does not, naming the entry; a restart neither loses nor repeats an
//! entry; no loan amount is anywhere in the node's output or store.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use protocol::tx::{Acknowledgement, AuditAnchor};
use protocol::{Canonical, Hash, PacketPayload, state_keys};
use relayer::audit::http::{SIGNATURE_HEADER, TIME_HEADER, sign_read};
use relayer::devnet::{
    DevChain, PURPOSE, SEED_LOANS, create_clients, seed_query_scenario, send_query,
};
use relayer::engine::wall_clock;
use relayer::mesh::devnet::{
    MeshOptions, SupervisorOptions, regulator_key_file, regulator_public_key, start_relayers,
    start_supervisor, wait_closed,
};

fn base_port() -> u16 {
    24_000 + (std::process::id() % 300) as u16 * 10
}

/// GET `path` on the node, signed with `key` (or unsigned): status and body.
async fn read(api: &str, path: &str, key: Option<&SigningKey>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("http://{api}{path}"));
    if let Some(key) = key {
        let (signature, time) = sign_read(key, "GET", path, wall_clock());
        request = request
            .header(SIGNATURE_HEADER, signature)
            .header(TIME_HEADER, time);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

async fn entries(api: &str, query: &str, key: &SigningKey) -> Vec<serde_json::Value> {
    let (status, body) = read(api, &format!("/audit/entries{query}"), Some(key)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits until the node lists at least `count` entries.
async fn wait_entries(api: &str, key: &SigningKey, count: usize) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let (status, body) = read(api, "/audit/entries", Some(key)).await;
        if status == 200 {
            let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
            if list.len() >= count {
                return list;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the supervision node did not list {count} entries in time (last: {status} {body})"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The anchored checkpoint with the highest `upto` on `chain`, waiting
/// until it covers at least `upto` entries.
async fn wait_anchor(chain: &DevChain, upto: u64) -> AuditAnchor {
    let adapter = chain.adapter().unwrap();
    let started = Instant::now();
    loop {
        if let Ok(state) = adapter.state(&state_keys::latest_audit_anchor()).await
            && let Some(bytes) = state.value
        {
            let latest: u64 = borsh::from_slice(&bytes).unwrap();
            if latest >= upto {
                let anchor = adapter
                    .state(&state_keys::audit_anchor(latest))
                    .await
                    .unwrap()
                    .value
                    .expect("the latest anchor is stored");
                return borsh::from_slice(&anchor).unwrap();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no checkpoint up to entry {upto} anchored on {}",
            chain.id
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn audit_verify(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(common::exe())
        .args(["audit", "verify"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Whether `text` has `number` as a run of digits of its own (not inside
/// a longer number, e.g. a timestamp's nanoseconds).
fn has_number(text: &str, number: u64) -> bool {
    let number = number.to_string();
    text.split(|c: char| !c.is_ascii_digit())
        .any(|token| token == number)
}

/// Whether any file under `dir` holds `number`: as little-endian u64 bytes
/// (borsh) or as a decimal number of its own.
fn files_contain(dir: &Path, number: u64) -> bool {
    let needle = number.to_le_bytes();
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            files_contain(&entry.path(), number)
        } else {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
                || has_number(&String::from_utf8_lossy(&bytes), number)
        }
    })
}

/// Sends an aggregation request from `asker`'s bank-a to `answerer` (a
/// 6 s window) with `relayer aggregate submit`, and has both of the
/// answerer's providers contribute their seeded loan amount, encrypted.
/// Returns the aggregation id and the request's packet sequence.
async fn aggregate(
    dir: &Path,
    asker: &DevChain,
    answerer: &DevChain,
    grant: &protocol::ConsentGrant,
) -> (Hash, u64) {
    let key_file = dir.join("aggregation-key.json");
    let bank_key = asker.home.join("keys/institutions/bank-a.json");
    let out = std::process::Command::new(common::exe())
        .args(["aggregate", "submit", "--rpc", asker.url(), "--chain"])
        .arg(asker.id.as_str())
        .args(["--requester", "bank-a", "--requester-key"])
        .arg(&bank_key)
        .arg("--enterprise")
        .arg(grant.enterprise.to_string())
        .args(["--purpose", PURPOSE, "--window", "6s", "--key-out"])
        .arg(&key_file)
        .arg("--to")
        .arg(format!("{}={}", answerer.id, grant.id()))
        .arg("--json")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sequence = sent["sent"][answerer.id.as_str()].as_u64().unwrap();
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let public = homomorphic::PublicKey::from_bytes(
        &hex::decode(key["public_key"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let aggregation: Hash = key["aggregation_id"].as_str().unwrap().parse().unwrap();
    let adapter = answerer.adapter().unwrap();
    let receipt = state_keys::packet_receipt(&asker.id, sequence);
    let started = Instant::now();
    while adapter.state(&receipt).await.unwrap().value.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no aggregation request on {}",
            answerer.id
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (provider, amount) in SEED_LOANS {
        let body = relayer::devnet::aggregation_contribution(
            &public,
            &aggregation,
            &answerer.id,
            &asker.id,
            sequence,
            &provider.parse().unwrap(),
            amount,
        )
        .unwrap();
        relayer::devnet::submit(
            adapter.as_ref(),
            &answerer.key(&format!("institutions/{provider}")).unwrap(),
            body,
        )
        .await
        .unwrap();
    }
    (aggregation, sequence)
}

/// A node with the regulator's key asks `relayer` (serving `chain`) for
/// the chain's status (answered) and to submit (refused, read-only).
async fn read_only_at_the_relayer(
    regulator: &SigningKey,
    relayer: &relayer::mesh::devnet::RelayerProcess,
    chain: &protocol::ChainId,
) {
    use relayer::mesh::wire::{MeshRequest, MeshResponse, decode, encode};
    let peer: network::PeerId = relayer.peer_id.parse().unwrap();
    let addr: network::Multiaddr = relayer
        .address
        .rsplit_once("/p2p/")
        .unwrap()
        .0
        .parse()
        .unwrap();
    let mut config = network::NetworkConfig::new(regulator.clone());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.bootstrap = vec![(peer, addr)];
    config.allowed = vec![peer];
    config.request_timeout = Duration::from_secs(5);
    let (node, _events) = network::Network::start(config).await.unwrap();
    let ask = |request: MeshRequest| {
        let node = node.clone();
        async move {
            let started = Instant::now();
            loop {
                match node.request(peer, encode(&request)).await {
                    Ok(bytes) => return decode::<MeshResponse>(&bytes, "response").unwrap(),
                    Err(e) => assert!(
                        started.elapsed() < Duration::from_secs(20),
                        "the relayer does not answer the regulator: {e}"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    let status = ask(MeshRequest::Status {
        chain: chain.clone(),
    })
    .await;
    assert!(matches!(status, MeshResponse::Status { .. }), "{status:?}");
    let submitted = ask(MeshRequest::Submit {
        chain: chain.clone(),
        bodies: Vec::new(),
    })
    .await;
    match submitted {
        MeshResponse::Refused { reason } => assert!(reason.contains("read-only"), "{reason}"),
        other => panic!("the regulator's submission was not refused: {other:?}"),
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_supervision_node_logs_every_message_anchors_and_serves_only_the_regulator() {
    let dir = std::env::temp_dir().join(format!("relayer-supervise-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = base_port();
    let regions = common::start_regions(&dir, 3, Duration::from_millis(200), base).await;
    create_clients(&regions.runtimes).await.unwrap();
    let chains = Arc::new(regions.chains.clone());
    let (asker, answerer, stranger) = (&chains[0], &chains[1], &chains[2]);

    // answerer holds the enterprise's consent for the asker; stranger not.
    let grant = seed_query_scenario(answerer, answerer.adapter().unwrap().as_ref(), &asker.id)
        .await
        .unwrap();

    // A query sent while nothing relays, with a short timeout: it will be
    // timed out once the relayers start.
    let mut body = relayer::devnet::credit_query(&stranger.id, &grant.enterprise, grant.id());
    if let protocol::tx::TxBody::SendCreditQuery { timeout_time, .. } = &mut body {
        *timeout_time = wall_clock().checked_add(Duration::from_secs(2));
    }
    let sent = relayer::devnet::submit(
        asker.adapter().unwrap().as_ref(),
        &asker.key("institutions/bank-a").unwrap(),
        body,
    )
    .await
    .unwrap();
    let expired = relayer::devnet::sent_sequence(&sent).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let regulator_hex = regulator_public_key(asker).unwrap();
    let regulator = credit_chain::keys::KeyFile::read(&regulator_key_file(asker))
        .unwrap()
        .signing_key()
        .unwrap();
    let relayers = start_relayers(
        common::exe(),
        &dir,
        &chains,
        1,
        base,
        &MeshOptions {
            regulator: Some(regulator_hex.clone()),
            ..MeshOptions::default()
        },
    )
    .await
    .unwrap();
    let options = SupervisorOptions {
        api: std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port())),
        p2p_port: base + 2900,
        anchor_every_entries: 3,
        anchor_every: Duration::from_secs(2),
        governance: None,
    };
    let mut node = start_supervisor(common::exe(), &dir, &chains, &relayers, &options).unwrap();
    let api = node.api.to_string();

    // One query answered, one refused (no consent on the stranger).
    let (_, answered) = send_query(
        asker,
        asker.adapter().unwrap().as_ref(),
        &answerer.id,
        &grant,
    )
    .await
    .unwrap();
    let (_, refused) = send_query(
        asker,
        asker.adapter().unwrap().as_ref(),
        &stranger.id,
        &grant,
    )
    .await
    .unwrap();
    // A joint total: the answerer's two providers each encrypt their own
    // loan amount under the asker's key.
    let (aggregation, aggregated) = aggregate(&dir, asker, answerer, &grant).await;
    for (to, sequence) in [
        (&answerer.id, answered),
        (&stranger.id, refused),
        (&answerer.id, aggregated),
        (&stranger.id, expired),
    ] {
        wait_closed(asker, to, sequence, Duration::from_secs(120))
            .await
            .unwrap();
    }
    let ack = answerer
        .adapter()
        .unwrap()
        .state(&state_keys::packet_ack_data(&asker.id, answered))
        .await
        .unwrap()
        .value
        .unwrap();
    let Acknowledgement::Result(PacketPayload::CreditResponse(response)) =
        Acknowledgement::from_canonical_bytes(&ack).unwrap()
    else {
        panic!("no credit response");
    };

    // Per query: sent (committed), received (answered / refused) on the
    // destination, acknowledged on the source.
    // Per query: sent, received, acknowledged; the expired one: sent,
    // timed out.
    let list = wait_entries(&api, &regulator, 11).await;
    assert_eq!(list.len(), 11, "{list:#?}");
    let find = |dest: &str, status: &str| {
        list.iter()
            .find(|e| e["destination"] == dest && e["outcome"]["status"] == status)
            .unwrap_or_else(|| panic!("no {status} entry to {dest} in {list:#?}"))
            .clone()
    };
    let sent = find(answerer.id.as_str(), "committed");
    assert_eq!(sent["kind"], "credit_query");
    assert_eq!(sent["source"], asker.id.as_str());
    assert_eq!(sent["packet_sequence"], answered);
    assert_eq!(sent["requester"], "bank-a");
    assert_eq!(sent["enterprise"], grant.enterprise.to_string());
    assert_eq!(sent["purpose"], PURPOSE);
    assert_eq!(sent["consent_id"], grant.id().to_string());
    assert_eq!(sent["fee"]["minor_units"], 10_000);
    let received = find(answerer.id.as_str(), "answered");
    assert_eq!(received["kind"], "credit_response");
    assert_eq!(received["enterprise"], grant.enterprise.to_string());
    assert_eq!(received["requester"], "bank-a");
    assert_eq!(
        received["fee"]["minor_units"],
        response.fee_charged.minor_units
    );
    let acked = find(answerer.id.as_str(), "acknowledged");
    assert_eq!(
        acked["fee"]["minor_units"],
        response.fee_charged.minor_units
    );
    find(stranger.id.as_str(), "committed");
    let no = find(stranger.id.as_str(), "refused");
    assert!(
        no["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("consent"),
        "{no}"
    );
    find(stranger.id.as_str(), "acknowledged");
    let timed_out = find(stranger.id.as_str(), "timed_out");
    assert_eq!(timed_out["packet_sequence"], expired);
    assert_eq!(timed_out["kind"], "credit_query");
    assert_eq!(timed_out["enterprise"], grant.enterprise.to_string());
    assert_eq!(
        list.iter()
            .filter(|e| e["packet_sequence"] == expired && e["destination"] == stranger.id.as_str())
            .count(),
        2,
        "sent and timed out"
    );
    let of_aggregation: Vec<&serde_json::Value> = list
        .iter()
        .filter(|e| e["packet_sequence"] == aggregated && e["destination"] == answerer.id.as_str())
        .collect();
    assert_eq!(of_aggregation.len(), 3, "{of_aggregation:#?}");
    assert_eq!(of_aggregation[0]["kind"], "aggregation_request");
    let partial = of_aggregation
        .iter()
        .find(|e| e["kind"] == "aggregation_partial")
        .expect("the partial sum's entry");
    assert!(
        partial["purpose"]
            .as_str()
            .unwrap()
            .contains(&format!("aggregation {aggregation}")),
        "{partial}"
    );
    assert!(
        partial["purpose"]
            .as_str()
            .unwrap()
            .contains("over 2 providers"),
        "{partial}"
    );
    assert_eq!(partial["enterprise"], grant.enterprise.to_string());

    // Filters.
    let enterprise = grant.enterprise.to_string();
    assert_eq!(
        entries(&api, &format!("?enterprise={enterprise}"), &regulator)
            .await
            .len(),
        11
    );
    assert_eq!(
        entries(&api, &format!("?chain={}", stranger.id), &regulator)
            .await
            .len(),
        5
    );
    assert_eq!(
        entries(&api, "?institution=bank-a", &regulator).await.len(),
        11
    );
    assert_eq!(
        entries(&api, "?institution=bank-z", &regulator).await.len(),
        0
    );
    let later = wall_clock()
        .checked_add(Duration::from_secs(3600))
        .unwrap()
        .to_string();
    assert_eq!(
        entries(&api, &format!("?since={later}"), &regulator)
            .await
            .len(),
        0
    );
    let (status, csv) = read(&api, "/audit/entries?format=csv", Some(&regulator)).await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 12, "{csv}");
    assert!(lines[0].starts_with("sequence,hash"), "{csv}");
    // Every entry but the partial sum's (which says what it sums) carries
    // the declared purpose.
    assert_eq!(
        lines.iter().filter(|l| l.contains(PURPOSE)).count(),
        10,
        "{csv}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(&aggregation.to_string()))
            .count(),
        3,
        "{csv}"
    );

    // Only the regulator reads; everything else is 403.
    let intruder = SigningKey::from_bytes(&[42u8; 32]);
    assert_eq!(read(&api, "/audit/entries", Some(&intruder)).await.0, 403);
    assert_eq!(read(&api, "/audit/entries", None).await.0, 403);
    assert_eq!(
        read(&api, "/audit/checkpoints", Some(&intruder)).await.0,
        403
    );
    assert_eq!(read(&api, "/queries", Some(&regulator)).await.0, 403);
    let (status, health) = read(&api, "/health", None).await;
    assert_eq!(status, 200, "{health}");
    let (status, metrics) = read(&api, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("supervisor_audit_entries 11"), "{metrics}");

    // A checkpoint of the whole log is anchored on the first chain, and
    // its root is the log's.
    let anchor = wait_anchor(asker, 10).await;
    assert_eq!(anchor.upto, 10);
    let hashes: Vec<Hash> = list
        .iter()
        .map(|e| e["hash"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(anchor.merkle_root, relayer::audit::merkle::root(&hashes));
    assert_eq!(anchor.head_hash, hashes[10]);
    assert_eq!(anchor.regulator.to_string(), regulator_hex);
    let (status, body) = read(&api, "/audit/checkpoints", Some(&regulator)).await;
    assert_eq!(status, 200, "{body}");
    let checkpoints: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(
        checkpoints
            .iter()
            .any(|c| c["checkpoint"]["merkle_root"] == anchor.merkle_root.to_string()),
        "{body}"
    );

    // No loan amount anywhere in the node's output or store.
    let everything = format!("{list:?}{csv}{body}{metrics}{health}");
    node.stop();
    for (_, amount) in SEED_LOANS {
        assert!(!has_number(&everything, amount), "{amount} leaked");
        assert!(!files_contain(&node.store, amount), "{amount} in the store");
    }

    // The stopped node's store verifies, against the chain too; a copy
    // with an edited entry does not, and the report names the entry.
    let copy = dir.join("store-copy");
    copy_dir(&node.store, &copy);
    let copy_arg = copy.to_string_lossy().to_string();
    let (code, out) = audit_verify(&[
        "--store",
        &copy_arg,
        "--regulator-key",
        &regulator_hex,
        "--chain-rpc",
        asker.url(),
        "--chain",
        asker.id.as_str(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK: 11 entries"), "{out}");
    assert!(out.contains("match the log"), "{out}");
    {
        let db = sled::open(&copy).unwrap();
        let tree = db.open_tree("audit").unwrap();
        let key = 1u64.to_be_bytes();
        let mut entry =
            relayer::audit::AuditEntry::from_bytes(&tree.get(key).unwrap().unwrap()).unwrap();
        entry.record.purpose = "nothing to see here".into();
        tree.insert(key, entry.to_bytes()).unwrap();
        db.flush().unwrap();
    }
    let (code, out) = audit_verify(&["--store", &copy_arg, "--regulator-key", &regulator_hex]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("TAMPERED: entry 1"), "{out}");

    // The relayers admit the regulator's key read-only: it reads, it never
    // hands over anything to submit.
    read_only_at_the_relayer(&regulator, &relayers[1], &answerer.id).await;

    // A restart neither loses nor repeats: the same 11 entries, then 3 more
    // for a new query.
    let mut node = start_supervisor(common::exe(), &dir, &chains, &relayers, &options).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = wait_entries(&api, &regulator, 11).await;
    assert_eq!(again.len(), 11, "{again:#?}");
    let (_, third) = send_query(
        asker,
        asker.adapter().unwrap().as_ref(),
        &answerer.id,
        &grant,
    )
    .await
    .unwrap();
    wait_closed(asker, &answerer.id, third, Duration::from_secs(120))
        .await
        .unwrap();
    let after = wait_entries(&api, &regulator, 14).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_settled = entries(&api, "", &regulator).await;
    assert_eq!(after_settled.len(), 14, "{after:#?}");
    assert_eq!(
        after_settled
            .iter()
            .filter(|e| e["packet_sequence"] == third && e["destination"] == answerer.id.as_str())
            .count(),
        3
    );
    node.stop();
    drop(relayers);
    let _ = std::fs::remove_dir_all(&dir);
}
