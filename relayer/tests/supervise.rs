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
//! entry; no loan amount is anywhere in the node's output or store. The
//! query that timed out before the node started is closed and pruned: its
//! send cannot be proven any more, so it is a gap the node reports (never a
//! `committed` entry made from a relayer's copy), and its timeout an entry
//! without metadata.

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
/// 6 s window) with `relayer aggregate submit`; both of the answerer's
/// provider agents contribute their seeded loan amount, encrypted.
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
        .arg("--share-file")
        .arg(dir.join("bank-a-aggregation-share.json"))
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
    let aggregation: Hash = key["aggregation_id"].as_str().unwrap().parse().unwrap();
    // The answerer's provider agents (started by the seed) contribute
    // their own amounts, encrypted, once the request arrives.
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
    let sealed_to = relayer::devnet::register_encryption_key(
        asker,
        asker.adapter().unwrap().as_ref(),
        "bank-a",
    )
    .await
    .unwrap();
    let mut body =
        relayer::devnet::credit_query(&stranger.id, &grant.enterprise, grant.id(), sealed_to);
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
    // The expired query is timed out (closed, pruned) before the node
    // starts: the node never sees it in flight.
    wait_closed(asker, &stranger.id, expired, Duration::from_secs(120))
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
    // Governance sets the node's share of the joint aggregation keys.
    relayer::mesh::devnet::set_regulator_aggregation_share(&dir, &chains)
        .await
        .unwrap();

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
    // Per query: sent, received, acknowledged; the expired one: timed out
    // only (its send is a gap, below).
    let list = wait_entries(&api, &regulator, 10).await;
    assert_eq!(list.len(), 10, "{list:#?}");
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
    // The query's own acknowledgement (the aggregation's may come first).
    let acked = list
        .iter()
        .find(|e| {
            e["destination"] == answerer.id.as_str()
                && e["outcome"]["status"] == "acknowledged"
                && e["packet_sequence"] == answered
        })
        .unwrap_or_else(|| panic!("no acknowledged entry of query {answered} in {list:#?}"))
        .clone();
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
    // Nothing proven of its metadata: none is shown.
    assert!(timed_out["enterprise"].is_null(), "{timed_out}");
    assert!(timed_out["requester"].is_null(), "{timed_out}");
    assert_eq!(
        list.iter()
            .filter(|e| e["packet_sequence"] == expired && e["destination"] == stranger.id.as_str())
            .count(),
        1,
        "timed out, no committed entry from a relayer's copy"
    );
    // Its send is a gap, reported.
    let (status, body) = read(&api, "/audit/gaps", Some(&regulator)).await;
    assert_eq!(status, 200, "{body}");
    let gaps: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(gaps["complete"], false, "{gaps}");
    let pair = gaps["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == asker.id.as_str() && p["destination"] == stranger.id.as_str())
        .unwrap_or_else(|| panic!("no {} -> {} in {gaps}", asker.id, stranger.id));
    assert_eq!(pair["missing"], serde_json::json!([expired]), "{gaps}");
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
        9,
        "{:#?}",
        list.iter()
            .filter(|e| e["enterprise"].is_null())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        entries(&api, &format!("?chain={}", stranger.id), &regulator)
            .await
            .len(),
        4
    );
    assert_eq!(
        entries(&api, "?institution=bank-a", &regulator).await.len(),
        9
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
    assert_eq!(lines.len(), 11, "{csv}");
    assert!(lines[0].starts_with("sequence,hash"), "{csv}");
    // Every entry but the partial sum's (which says what it sums) and the
    // unproven send's timeout carries the declared purpose.
    assert_eq!(
        lines.iter().filter(|l| l.contains(PURPOSE)).count(),
        8,
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
    assert!(metrics.contains("supervisor_audit_entries 10"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "supervisor_audit_gaps{{source=\"{}\",destination=\"{}\"}} 1",
            asker.id, stranger.id
        )),
        "{metrics}"
    );

    // A checkpoint of the whole log is anchored on the first chain, and
    // its root is the log's.
    let anchor = wait_anchor(asker, 9).await;
    assert_eq!(anchor.upto, 9);
    let hashes: Vec<Hash> = list
        .iter()
        .map(|e| e["hash"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(anchor.merkle_root, relayer::audit::merkle::root(&hashes));
    assert_eq!(anchor.head_hash, hashes[9]);
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
    // Intact, anchored, and incomplete: exit 2, naming the gap.
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("OK: 10 entries"), "{out}");
    assert!(out.contains("match the log"), "{out}");
    assert!(
        out.contains(&format!(
            "INCOMPLETE: {} -> {}: 1 sends below the proven next sequence",
            asker.id, stranger.id
        )) && out.contains(&format!("(sequences {expired})")),
        "{out}"
    );
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

    // A restart neither loses nor repeats: the same 10 entries, then 3 more
    // for a new query.
    let mut node = start_supervisor(common::exe(), &dir, &chains, &relayers, &options).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = wait_entries(&api, &regulator, 10).await;
    assert_eq!(again.len(), 10, "{again:#?}");
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
    let after = wait_entries(&api, &regulator, 13).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_settled = entries(&api, "", &regulator).await;
    assert_eq!(after_settled.len(), 13, "{after:#?}");
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

/// What the hostile serving peer of [`hostile_serving_peer`] does.
#[derive(Clone, Debug)]
enum Lie {
    /// Nothing: it forwards the chain's own answers.
    Honest,
    /// Adds a `send_packet` event of `packet`, which it made up (a future
    /// sequence), and hands the packet over as one it recorded.
    ForgeSend(Box<protocol::Packet>),
    /// Drops the `send_packet` event of `destination #sequence` (still
    /// saying it scanned past it) and refuses to prove that packet.
    HideSend(protocol::ChainId, u64),
}

/// A relayer serving `adapter`'s chain in the test process: a libp2p node
/// on `port`, admitting only `asker`, that answers the mesh's requests from
/// the chain's RPC — blocks and proofs are the chain's own, which it cannot
/// forge — and lies about packet events as `lie` says.
async fn hostile_serving_peer(
    key: SigningKey,
    asker: network::PeerId,
    port: u16,
    adapter: Arc<dyn adapters::ChainAdapter>,
    lie: Arc<std::sync::Mutex<Lie>>,
) -> network::NetworkHandle {
    use relayer::mesh::wire::{self, HexBytes, MeshRequest, MeshResponse, WireEntry};
    let mut config = network::NetworkConfig::new(key);
    config.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
    config.allowed = vec![asker];
    config.request_timeout = Duration::from_secs(5);
    let (handle, mut events) = network::Network::start(config).await.unwrap();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let network::NetworkEvent::Request {
                body, responder, ..
            } = event
            else {
                continue;
            };
            let lie = lie.lock().unwrap().clone();
            let refused = |reason: String| MeshResponse::Refused { reason };
            let response = match wire::decode::<MeshRequest>(&body, "mesh request") {
                Err(e) => refused(e),
                Ok(MeshRequest::Status { .. }) => match adapter.status().await {
                    Ok(status) => MeshResponse::Status { status },
                    Err(e) => refused(e.to_string()),
                },
                Ok(MeshRequest::LightBlock { height, .. }) => {
                    match adapter.light_block(height).await {
                        Ok(block) => MeshResponse::LightBlock { block },
                        Err(e) => refused(e.to_string()),
                    }
                }
                Ok(MeshRequest::States { keys, .. }) => {
                    let keys: Vec<Vec<u8>> = keys.into_iter().map(|k| k.0).collect();
                    let hidden = match &lie {
                        Lie::HideSend(destination, sequence) => {
                            keys.contains(&state_keys::packet(destination, *sequence))
                        }
                        _ => false,
                    };
                    if hidden {
                        refused("not today".into())
                    } else {
                        match adapter.states(&keys).await {
                            Ok(proven) => MeshResponse::States {
                                light_block: proven.light_block,
                                entries: proven
                                    .entries
                                    .into_iter()
                                    .map(|e| WireEntry {
                                        key: HexBytes(e.key),
                                        value: e.value.map(HexBytes),
                                        proof: e.proof,
                                    })
                                    .collect(),
                            },
                            Err(e) => refused(e.to_string()),
                        }
                    }
                }
                Ok(MeshRequest::PacketEvents { since, .. }) => {
                    match adapter.packet_events(since).await {
                        Err(e) => refused(e.to_string()),
                        Ok(mut events) => {
                            let mut packets = Vec::new();
                            match &lie {
                                Lie::Honest => {}
                                Lie::ForgeSend(packet) => {
                                    let height =
                                        protocol::Height::new(events.scanned_to.max(1)).unwrap();
                                    events.events.push(adapters::PacketEvent {
                                        height,
                                        tx: Hash::digest(b"forged"),
                                        event: adapters::ChainEvent {
                                            kind: "send_packet".into(),
                                            attributes: [
                                                ("source", packet.source.to_string()),
                                                ("destination", packet.destination.to_string()),
                                                ("sequence", packet.sequence.to_string()),
                                                ("commitment", packet.commitment().to_string()),
                                            ]
                                            .into_iter()
                                            .map(|(key, value)| adapters::EventAttribute {
                                                key: key.into(),
                                                value,
                                            })
                                            .collect(),
                                        },
                                    });
                                    packets.push(packet.as_ref().clone());
                                }
                                Lie::HideSend(destination, sequence) => {
                                    events.events.retain(|e| {
                                        !(e.event.kind == "send_packet"
                                            && e.event.get("destination")
                                                == Some(destination.as_str())
                                            && e.event.get("sequence")
                                                == Some(sequence.to_string().as_str()))
                                    });
                                }
                            }
                            MeshResponse::PacketEvents { events, packets }
                        }
                    }
                }
                Ok(other) => refused(format!("{} is not served here", other.what())),
            };
            let _ = responder.respond(wire::encode(&response));
        }
    });
    handle
}

/// The supervision node's entries about `destination #sequence`.
fn entries_of(
    supervisor: &relayer::supervisor::Supervisor,
    destination: &protocol::ChainId,
    sequence: u64,
) -> Vec<relayer::audit::AuditEntry> {
    supervisor
        .audit()
        .entries(&relayer::audit::AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| &e.record.destination == destination && e.record.packet_sequence == sequence)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_serving_peer_can_neither_forge_nor_hide_a_send_in_the_audit_log() {
    use relayer::supervisor::{Supervisor, SupervisorState, router};
    let dir =
        std::env::temp_dir().join(format!("relayer-supervise-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = base_port() + 5;
    let regions = common::start_regions(&dir, 2, Duration::from_millis(200), base).await;
    create_clients(&regions.runtimes).await.unwrap();
    let (asker, answerer) = (&regions.chains[0], &regions.chains[1]);
    let grant = seed_query_scenario(answerer, answerer.adapter().unwrap().as_ref(), &asker.id)
        .await
        .unwrap();

    // The hostile peer serves the asker's chain; nothing relays, so every
    // packet sent stays in flight.
    let node_key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let node_peer =
        network::peer_id_of(&network::identity::public_key_of_signing_key(&node_key)).unwrap();
    let hostile_key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let hostile_peer =
        network::peer_id_of(&network::identity::public_key_of_signing_key(&hostile_key)).unwrap();
    let lie = Arc::new(std::sync::Mutex::new(Lie::Honest));
    let hostile_port = common::free_port();
    let _hostile = hostile_serving_peer(
        hostile_key,
        node_peer,
        hostile_port,
        asker.adapter().unwrap(),
        lie.clone(),
    )
    .await;

    // The supervision node, in this process, reaching the chain through
    // the hostile peer only.
    let mut config = network::NetworkConfig::new(node_key.clone());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.bootstrap = vec![(
        hostile_peer,
        format!("/ip4/127.0.0.1/tcp/{hostile_port}")
            .parse()
            .unwrap(),
    )];
    config.allowed = vec![hostile_peer];
    config.request_timeout = Duration::from_secs(5);
    let (network, _events) = network::Network::start(config).await.unwrap();
    let regulator = SigningKey::from_bytes(&[5u8; 32]);
    let regulator_hex = relayer::registry::signing::public_key(&regulator).to_string();
    let node_store_dir = dir.join("node-store");
    let store = relayer::store::Store::open(&node_store_dir).unwrap();
    let audit = Arc::new(
        relayer::audit::AuditService::open(
            store.clone(),
            relayer::registry::signing::public_key(&regulator),
        )
        .unwrap(),
    );
    let mesh = Arc::new(relayer::mesh::MeshChainAdapter::new(
        asker.id.clone(),
        network,
        vec![hostile_peer],
        Duration::from_millis(200),
    ));
    let runtime = Arc::new(relayer::engine::ChainRuntime::remote(
        asker.id.clone(),
        mesh,
        node_key,
        // The regulator's anchor: the chain's first block, which the test
        // read from the node it started.
        relayer::trust::ChainTrust {
            anchor: asker.anchor().unwrap(),
            options: light_clients::credit_chain::Options::default(),
            clock: relayer::clock::SystemClock::shared(),
        },
        store.clone(),
        relayer::metrics::Metrics::new(),
    ));
    let supervisor = Supervisor::new(audit, store, vec![runtime.clone()]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let app = router(SupervisorState {
        supervisor: supervisor.clone(),
    });
    tokio::spawn(async move { axum::serve(listener, app).await });

    // One round, once the two nodes are connected.
    let follow = || async {
        let started = Instant::now();
        loop {
            match supervisor.follow_once(&runtime).await {
                Ok(logged) => return logged,
                Err(e) => assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the node cannot follow the chain: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };

    // 1. A made-up send at the next sequence, handed over with its packet:
    //    nothing enters the log.
    let next = 1;
    let mut forged: serde_json::Value =
        serde_json::from_str(include_str!("../../protocol/tests/data/packet.json")).unwrap();
    forged["source"] = asker.id.as_str().into();
    forged["destination"] = answerer.id.as_str().into();
    forged["sequence"] = next.into();
    forged["payload"]["body"]["purpose"] = "forged by a serving relayer".into();
    let forged: protocol::Packet = serde_json::from_value(forged).unwrap();
    *lie.lock().unwrap() = Lie::ForgeSend(Box::new(forged));
    follow().await;
    assert!(
        entries_of(&supervisor, &answerer.id, next).is_empty(),
        "a forged send was logged"
    );
    assert!(supervisor.unproven_hints() >= 1);
    let (_, metrics) = read(&api, "/metrics", None).await;
    assert!(
        !metrics.contains("supervisor_unproven_hints_total 0"),
        "{metrics}"
    );

    // 2. The real send at that sequence is logged, with its own metadata,
    //    once (the forgery pre-empted nothing).
    *lie.lock().unwrap() = Lie::Honest;
    let (_, sent) = send_query(
        asker,
        asker.adapter().unwrap().as_ref(),
        &answerer.id,
        &grant,
    )
    .await
    .unwrap();
    assert_eq!(sent, next);
    follow().await;
    let logged = entries_of(&supervisor, &answerer.id, next);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert_eq!(logged[0].record.purpose, PURPOSE);
    assert_eq!(
        logged[0].record.requester.as_ref().unwrap().as_str(),
        "bank-a"
    );
    assert!(supervisor.gaps().is_empty(), "{:?}", supervisor.gaps());

    // 3. A send the peer hides (no event, scanned past, its packet not
    //    proven): a gap, in the metric, the API and `audit verify`.
    let (_, hidden) = send_query(
        asker,
        asker.adapter().unwrap().as_ref(),
        &answerer.id,
        &grant,
    )
    .await
    .unwrap();
    *lie.lock().unwrap() = Lie::HideSend(answerer.id.clone(), hidden);
    let scanned_before = supervisor.progress()[&asker.id].scanned;
    follow().await;
    assert!(supervisor.progress()[&asker.id].scanned > scanned_before);
    assert!(entries_of(&supervisor, &answerer.id, hidden).is_empty());
    let gaps = supervisor.gaps();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(
        gaps[0].missing.iter().copied().collect::<Vec<_>>(),
        vec![hidden]
    );
    let (_, metrics) = read(&api, "/metrics", None).await;
    assert!(
        metrics.contains(&format!(
            "supervisor_audit_gaps{{source=\"{}\",destination=\"{}\"}} 1",
            asker.id, answerer.id
        )),
        "{metrics}"
    );
    let (status, body) = read(&api, "/audit/gaps", Some(&regulator)).await;
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["complete"], false, "{report}");
    assert_eq!(report["pairs"][0]["missing"], serde_json::json!([hidden]));
    assert_eq!(read(&api, "/audit/gaps", None).await.0, 403);
    let copy = dir.join("node-store-copy");
    copy_dir(&node_store_dir, &copy);
    let copy_arg = copy.to_string_lossy().to_string();
    let (code, out) = audit_verify(&["--store", &copy_arg, "--regulator-key", &regulator_hex]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "INCOMPLETE: {} -> {}: 1 sends below the proven next sequence {} have no entry (sequences {hidden})",
            asker.id,
            answerer.id,
            hidden + 1
        )),
        "{out}"
    );

    // 4. Once a serving peer proves it, the hidden send is logged from the
    //    chain's state and the gap closes.
    *lie.lock().unwrap() = Lie::Honest;
    follow().await;
    let logged = entries_of(&supervisor, &answerer.id, hidden);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert_eq!(logged[0].record.purpose, PURPOSE);
    assert!(supervisor.gaps().is_empty(), "{:?}", supervisor.gaps());
    let (_, metrics) = read(&api, "/metrics", None).await;
    assert!(
        metrics.contains(&format!(
            "supervisor_audit_gaps{{source=\"{}\",destination=\"{}\"}} 0",
            asker.id, answerer.id
        )),
        "{metrics}"
    );
    drop(regions);
    let _ = std::fs::remove_dir_all(&dir);
}
