//! Data available but not visible, inspected: the whole system runs —
//! three chains as processes, one relayer process per chain in the libp2p
//! mesh, the regulator's supervision node, the providers' agents — through
//! answered, refused and timed-out credit queries and a joint total; then
//! every byte it wrote is read: every chain's store and blocks, every
//! relayer's store and every mesh message it received (as the protocol
//! layer saw it, after the Noise and envelope layers), the supervision
//! node's store, every log at debug level, the API's responses and
//! `/metrics`. No record amount, and no per-provider or per-chain amount,
//! is anywhere but in the providers' own stores; the requester alone
//! opens the records and the total.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use protocol::tx::TxBody;
use protocol::{Hash, Height};
use relayer::devnet::{
    SEED_LOANS, create_clients, credit_query, integrator_token, register_encryption_key,
    seed_query_scenario, send_query, sent_sequence, submit,
};
use relayer::mesh::devnet::{
    MeshOptions, SupervisorOptions, regulator_public_key, set_regulator_aggregation_share,
    start_relayers, start_supervisor, wait_closed,
};

/// Chains on `base + 10 i`, relayers' P2P ports at `base + 2000 + ...`.
fn base_port() -> u16 {
    20_000 + (std::process::id() % 500) as u16 * 10 + 500
}

/// The secrets: each provider's record amount, a chain's partial sum (two
/// providers), the total over both answering chains.
fn secrets() -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = SEED_LOANS
        .iter()
        .map(|(p, a)| (format!("{p}'s record"), *a))
        .collect();
    let per_chain: u64 = SEED_LOANS.iter().map(|(_, a)| a).sum();
    out.push(("a chain's partial sum".into(), per_chain));
    out.push(("the total".into(), per_chain * 2));
    out
}

/// The encodings an amount could be written in: borsh (little-endian
/// u64), big-endian u64, its yuan limb as borsh, and as text: decimal fen
/// and `yuan.fen`.
fn needles(amount: u64) -> (Vec<Vec<u8>>, Vec<String>) {
    (
        vec![
            amount.to_le_bytes().to_vec(),
            amount.to_be_bytes().to_vec(),
            (amount / 100).to_le_bytes().to_vec(),
        ],
        vec![
            amount.to_string(),
            format!("{}.{:02}", amount / 100, amount % 100),
        ],
    )
}

/// Whether `text` holds `number` as a number of its own (not inside a
/// longer run of digits).
fn has_number(text: &str, number: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit() && c != '.')
        .any(|token| token == number || token.trim_matches('.') == number)
}

/// Where in `bytes` any secret shows, as `(what, encoding)`.
fn leaks(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut found = Vec::new();
    for (what, amount) in secrets() {
        let (binary, decimal) = needles(amount);
        for needle in &binary {
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(format!(
                    "{what} ({amount}) as bytes {}",
                    hex::encode(needle)
                ));
            }
        }
        for needle in &decimal {
            if has_number(&text, needle) {
                found.push(format!("{what} as text {needle:?}"));
            }
        }
    }
    found
}

/// Every file under `dir`, but those under `except`.
fn files(dir: &Path, except: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.starts_with(except) {
            continue;
        }
        if path.is_dir() {
            files(&path, except, out);
        } else {
            out.push(path);
        }
    }
}

async fn get(url: &str, token: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Runs the relayer binary: exit code and stdout (stderr kept in `log`).
fn relayer(args: &[String], log: &Path) -> (i32, String) {
    let out = Command::new(common::exe()).args(args).output().unwrap();
    std::fs::write(log, &out.stderr).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_amount_is_anywhere_but_at_its_provider_and_opened_at_the_requester() {
    // Every process this test starts logs at debug level, into files under
    // the test's directory, and so does the test process itself (where the
    // providers' agents run).
    // SAFETY: set before any thread of this process reads the environment
    // (the runtime's workers do not).
    unsafe { std::env::set_var("RUST_LOG", "debug") };
    let dir = std::env::temp_dir().join(format!("relayer-inspection-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("test-process.log")).unwrap();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(std::sync::Mutex::new(log))
        .with_ansi(false)
        .try_init();

    let base = base_port();
    let regions = common::start_regions(&dir, 3, Duration::from_millis(200), base).await;
    create_clients(&regions.runtimes).await.unwrap();
    let chains = regions.chains.clone();
    let (asker, answerers) = (&chains[0], &chains[1..]);

    // Each answering chain: the providers' records, kept by their agents
    // (committed on the chain), and the enterprise's consent for bank-a.
    let mut grants = Vec::new();
    for answerer in answerers {
        let adapter = answerer.adapter().unwrap();
        grants.push(
            seed_query_scenario(answerer, adapter.as_ref(), &asker.id)
                .await
                .unwrap(),
        );
    }

    let token = "inspection-operator-token".to_owned();
    let api = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let relayers = start_relayers(
        common::exe(),
        &dir,
        &chains,
        1,
        base,
        &MeshOptions {
            api: Some((api, token.clone())),
            regulator: Some(regulator_public_key(asker).unwrap()),
            capture: true,
            ..MeshOptions::default()
        },
    )
    .await
    .unwrap();
    let supervisor = start_supervisor(
        common::exe(),
        &dir,
        &chains,
        &relayers,
        &SupervisorOptions {
            api: std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port())),
            p2p_port: base + 2900,
            anchor_every_entries: 5,
            anchor_every: Duration::from_secs(2),
            governance: None,
        },
    )
    .unwrap();
    set_regulator_aggregation_share(&dir, &chains)
        .await
        .unwrap();

    // Answered: both chains. Refused: a consent that does not exist.
    // Timed out: a timeout height the destination has passed already.
    let a = asker.adapter().unwrap();
    let mut queries = Vec::new();
    for (answerer, grant) in answerers.iter().zip(&grants) {
        let (_, sequence) = send_query(asker, a.as_ref(), &answerer.id, grant)
            .await
            .unwrap();
        queries.push((answerer.id.clone(), sequence, "answered"));
    }
    let sealed_to = register_encryption_key(asker, a.as_ref(), "bank-a")
        .await
        .unwrap();
    let bank = asker.key("institutions/bank-a").unwrap();
    let refused = credit_query(
        &answerers[0].id,
        &grants[0].enterprise,
        Hash::digest(b"no such consent"),
        sealed_to,
    );
    let sent = submit(a.as_ref(), &bank, refused).await.unwrap();
    queries.push((
        answerers[0].id.clone(),
        sent_sequence(&sent).unwrap(),
        "refused",
    ));
    let mut late = credit_query(
        &answerers[1].id,
        &grants[1].enterprise,
        grants[1].id(),
        sealed_to,
    );
    if let TxBody::SendCreditQuery {
        timeout_height,
        timeout_time,
        ..
    } = &mut late
    {
        *timeout_height = Some(Height::GENESIS);
        *timeout_time = None;
    }
    let sent = submit(a.as_ref(), &bank, late).await.unwrap();
    queries.push((
        answerers[1].id.clone(),
        sent_sequence(&sent).unwrap(),
        "timed_out",
    ));
    for (to, sequence, _) in &queries {
        wait_closed(asker, to, *sequence, Duration::from_secs(120))
            .await
            .unwrap();
    }

    // The API as an integrator sees it: status and result of each query,
    // the chains, /metrics; every body is kept for the inspection.
    let api_dir = dir.join("api");
    std::fs::create_dir_all(&api_dir).unwrap();
    let bank_token = integrator_token(&token, "bank-a", &asker.id);
    let mut opened_records = 0;
    for (to, sequence, expected) in &queries {
        let path = format!("http://{api}/queries/{}/{to}/{sequence}", asker.id);
        let (status, body) = get(&path, &bank_token).await;
        assert_eq!(status, 200, "{body}");
        std::fs::write(api_dir.join(format!("{to}-{sequence}-status.json")), &body).unwrap();
        let (status, body) = get(&format!("{path}/result"), &bank_token).await;
        std::fs::write(api_dir.join(format!("{to}-{sequence}-result.json")), &body).unwrap();
        match *expected {
            "timed_out" => assert_eq!(status, 404, "{body}"),
            _ => assert_eq!(status, 200, "{body}"),
        }
        if *expected == "answered" {
            // bank-a opens it itself, offline, with its key.
            let args: Vec<String> = [
                "query",
                "result",
                "--api",
                &format!("http://{api}"),
                "--token",
                &bank_token,
                "--key",
                &asker.encryption_key_file("bank-a").to_string_lossy(),
                "--json",
                &format!("{}/{to}/{sequence}", asker.id),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let (code, out) = relayer(&args, &dir.join(format!("open-{to}.log")));
            assert_eq!(code, 0, "{out}");
            let opened: serde_json::Value = serde_json::from_str(&out).unwrap();
            let amounts: Vec<u64> = opened["opened"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|a| a["records"].as_array().unwrap().clone())
                .map(|r| r["amount"]["minor_units"].as_u64().unwrap())
                .collect();
            let mut seeded: Vec<u64> = SEED_LOANS.iter().map(|(_, a)| *a).collect();
            seeded.sort_unstable();
            let mut got = amounts.clone();
            got.sort_unstable();
            assert_eq!(got, seeded, "{opened}");
            opened_records += amounts.len();
        }
    }
    assert_eq!(opened_records, 4);
    let (status, body) = get(&format!("http://{api}/chains"), &token).await;
    assert_eq!(status, 200, "{body}");
    std::fs::write(api_dir.join("chains.json"), &body).unwrap();
    let (status, body) = get(&format!("http://{api}/metrics"), &token).await;
    assert_eq!(status, 200, "{body}");
    std::fs::write(api_dir.join("metrics.txt"), &body).unwrap();

    // The joint total: both chains' providers contribute under the key
    // bank-a shares with the regulator; bank-a opens the total with the
    // supervision node's decryption share.
    std::fs::create_dir_all(dir.join("requester")).unwrap();
    let key_file = dir.join("requester/aggregation.json");
    let share_file = dir.join("requester/bank-a-share.json");
    let bank_key = asker.home.join("keys/institutions/bank-a.json");
    let mut args: Vec<String> = [
        "aggregate",
        "submit",
        "--rpc",
        asker.url(),
        "--chain",
        asker.id.as_str(),
        "--requester",
        "bank-a",
        "--requester-key",
        &bank_key.to_string_lossy(),
        "--enterprise",
        &grants[0].enterprise.to_string(),
        "--purpose",
        relayer::devnet::PURPOSE,
        "--window",
        "20s",
        "--key-out",
        &key_file.to_string_lossy(),
        "--share-file",
        &share_file.to_string_lossy(),
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (answerer, grant) in answerers.iter().zip(&grants) {
        args.push("--to".into());
        args.push(format!("{}={}", answerer.id, grant.id()));
    }
    let (code, out) = relayer(&args, &dir.join("aggregate-submit.log"));
    assert_eq!(code, 0, "{out}");
    let args: Vec<String> = [
        "aggregate",
        "result",
        "--rpc",
        asker.url(),
        "--key-file",
        &key_file.to_string_lossy(),
        "--requester-key",
        &bank_key.to_string_lossy(),
        "--supervisor",
        &format!("http://{}", supervisor.api),
        "--wait",
        "120s",
        "--max-total",
        "100000000000",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, out) = relayer(&args, &dir.join("aggregate-result.log"));
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let per_chain: u64 = SEED_LOANS.iter().map(|(_, a)| a).sum();
    assert_eq!(report["total"], per_chain * 2, "{report}");
    assert_eq!(report["providers"], 4, "{report}");

    // Let every store flush, then stop everything.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(supervisor);
    drop(relayers);
    for chain in &chains {
        chain.stop_providers();
    }
    drop(regions);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The inspection: every file the system wrote but the providers' own
    // stores (bank-a's key files under requester/ and its keys in
    // shaanxi's home included: they hold no amount either).
    let mut all = Vec::new();
    files(&dir, &dir.join("providers"), &mut all);
    let captures = all
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "mesh-capture.bin"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum::<u64>();
    assert!(captures > 0, "the relayers captured no mesh message");
    assert!(
        all.iter()
            .any(|p| p.to_string_lossy().contains("supervisor/store")),
        "the supervision node's store is inspected"
    );
    let mut found = Vec::new();
    for path in &all {
        let bytes = std::fs::read(path).unwrap();
        for leak in leaks(&bytes) {
            found.push(format!("{}: {leak}", path.display()));
        }
    }
    assert!(found.is_empty(), "amounts found:\n{}", found.join("\n"));

    // The providers' stores do hold them (the inspection would see them).
    let mut provider_files = Vec::new();
    files(
        &dir.join("providers"),
        &dir.join("none"),
        &mut provider_files,
    );
    assert!(
        provider_files
            .iter()
            .any(|p| !leaks(&std::fs::read(p).unwrap()).is_empty()),
        "the inspection finds the amounts where they are kept"
    );
}
