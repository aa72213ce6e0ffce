//! The real `credit-chain` binary on loopback: init, start, transactions,
//! proofs verified by `light-clients`, hostile input, kill -9 and restart.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use credit_chain::app::keys;
use credit_chain::keys::KeyFile;
use ed25519_dalek::{Signer, SigningKey};
use light_clients::credit_chain::{LightClient, Options, UpdateOutcome};
use light_clients::merkle::StateProof;
use protocol::sealed::{DecryptionKey, RecordCommitment, SaltedRecord};
use protocol::tx::{ConsentGrant, SignedTransaction, Transaction, TxBody};
use protocol::{
    ChainId, CreditRecord, Currency, EnterpriseId, Height, LightBlock, Money, PublicKey,
    RecordKind, RecordStatus, Signature, Time,
};
use serde_json::Value;

const ENTERPRISE: &str = "91350100M000100Y43";

struct Node {
    child: Child,
    home: PathBuf,
    url: String,
    http: reqwest::blocking::Client,
}

impl Node {
    fn start(home: &Path) -> Node {
        Node::start_with(home, &[])
    }

    /// Starts the node with `extra` arguments to `credit-chain start`.
    fn start_with(home: &Path, extra: &[&str]) -> Node {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_credit-chain"))
            .args([
                "start",
                "--home",
                home.to_str().unwrap(),
                "--rpc",
                &format!("127.0.0.1:{port}"),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = Node {
            child,
            home: home.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(40))
                .build()
                .unwrap(),
        };
        node.wait_for_height(1);
        node
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    fn post_tx(&self, body: String) -> (u16, Value) {
        self.post("/tx", body)
    }

    fn post(&self, path: &str, body: String) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// Waits until the mempool holds `n` transactions.
    fn wait_for_pending(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.status()["mempool"]["pending"].as_u64() != Some(n) {
            assert!(Instant::now() < deadline, "mempool never held {n}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn status(&self) -> Value {
        self.get("/status").1
    }

    fn height(&self) -> u64 {
        self.status()["latest_height"].as_u64().unwrap_or(0)
    }

    fn wait_for_height(&self, h: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(format!("{}/status", self.url)).send()
                && let Ok(v) = r.json::<Value>()
                && v["latest_height"].as_u64().unwrap_or(0) >= h
            {
                return;
            }
            assert!(Instant::now() < deadline, "node did not reach height {h}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn light_block(&self, h: u64) -> LightBlock {
        let (code, v) = self.get(&format!("/light_block/{h}"));
        assert_eq!(code, 200, "{v}");
        serde_json::from_value(v).unwrap()
    }

    fn key(&self, name: &str) -> SigningKey {
        KeyFile::read(&self.home.join("keys").join(format!("{name}.json")))
            .unwrap()
            .signing_key()
            .unwrap()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL on unix
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `credit-chain init` of a fresh home named `name` in the temp dir.
fn init_chain(name: &str, chain_id: &str) -> PathBuf {
    init_chain_with(name, chain_id, "100ms")
}

/// [`init_chain`] with another block time.
fn init_chain_with(name: &str, chain_id: &str, block_time: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let out = Command::new(env!("CARGO_BIN_EXE_credit-chain"))
        .args([
            "init",
            "--home",
            home.to_str().unwrap(),
            "--chain-id",
            chain_id,
            "--block-time",
            block_time,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    home
}

fn sign(chain: &ChainId, key: &SigningKey, nonce: u64, body: TxBody) -> SignedTransaction {
    let tx = Transaction {
        chain_id: chain.clone(),
        sender: PublicKey(key.verifying_key().to_bytes()),
        nonce,
        body,
    };
    let signature = Signature(key.sign(&tx.sign_bytes()).to_bytes());
    SignedTransaction { tx, signature }
}

/// A provider's record with a fresh salt, as its provider keeps it.
fn salted(provider: &str, minor_units: u64) -> SaltedRecord {
    SaltedRecord::new(record(provider, minor_units), &mut rand::rngs::OsRng)
}

/// The `commit_record` body of a fresh record.
fn commit(provider: &str, minor_units: u64) -> TxBody {
    TxBody::CommitRecord {
        commitment: salted(provider, minor_units).commitment(),
    }
}

fn record(provider: &str, minor_units: u64) -> CreditRecord {
    CreditRecord {
        enterprise: ENTERPRISE.parse().unwrap(),
        kind: RecordKind::Loan,
        amount: Money {
            minor_units,
            currency: Currency::CNY,
        },
        start: "2026-03-01T00:00:00Z".parse().unwrap(),
        end: Some("2027-03-01T00:00:00Z".parse().unwrap()),
        status: RecordStatus::Active,
        provider: provider.parse().unwrap(),
        document_digest: None,
    }
}

fn code_of(v: &Value) -> u64 {
    v["result"]["code"].as_u64().unwrap_or(u64::MAX)
}

/// Verifies one `{key, value, proof}` entry served at `height` with a light
/// client anchored at block 1; returns the value proven (None = absent).
fn verify_entry(node: &Node, height: u64, key: &[u8], entry: &Value) -> Option<Vec<u8>> {
    let proof: StateProof = serde_json::from_value(entry["proof"].clone()).unwrap();
    let value = entry["value"].as_str().map(|h| hex::decode(h).unwrap());
    let anchor = node.light_block(1);
    let target = node.light_block(height);
    let now = target.header().time;
    let mut client = LightClient::new(anchor, Options::default(), now).unwrap();
    if height > 1 {
        assert!(matches!(
            client.update(target, now).unwrap(),
            UpdateOutcome::Verified { .. }
        ));
    }
    let h = Height::new(height).unwrap();
    match (&proof, &value) {
        (StateProof::Membership(p), Some(val)) => client.verify_membership(h, key, val, p).unwrap(),
        (StateProof::NonMembership(p), None) => client.verify_non_membership(h, key, p).unwrap(),
        _ => panic!("proof kind does not match the value: {entry}"),
    }
    value
}

/// Verifies `key` at the node's latest height (`GET /state`).
fn verified_value(node: &Node, key: &[u8]) -> Option<Vec<u8>> {
    let (code, v) = node.get(&format!("/state?key={}", hex::encode(key)));
    assert_eq!(code, 200, "{v}");
    verify_entry(node, v["height"].as_u64().unwrap(), key, &v)
}

/// Verifies several keys proven together at one height (`POST /proofs`).
fn verified_values(node: &Node, keys: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    let body = serde_json::json!({ "keys": keys.iter().map(hex::encode).collect::<Vec<_>>() });
    let r = node
        .http
        .post(format!("{}/proofs", node.url))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().unwrap();
    let height = v["height"].as_u64().unwrap();
    keys.iter()
        .zip(v["entries"].as_array().unwrap())
        .map(|(key, entry)| verify_entry(node, height, key, entry))
        .collect()
}

#[test]
fn a_chain_serves_verified_state_refuses_hostile_input_and_survives_kill_9() {
    let home = init_chain("credit-chain-node", "shaanxi");
    // Key files are private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("keys/governance.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut node = Node::start(&home);
    let chain: ChainId = "shaanxi".parse().unwrap();
    let provider = node.key("institutions/provider-a");
    let bank = node.key("institutions/bank-a");
    let enterprise_key = node.key(&format!("enterprises/{ENTERPRISE}"));

    // Governance registers a new institution; its registration is provable.
    let governance = node.key("governance");
    let bank_b = SigningKey::from_bytes(&[77; 32]);
    let register = sign(
        &chain,
        &governance,
        1,
        TxBody::RegisterInstitution {
            institution: "bank-b".parse().unwrap(),
            name: "Second Sample Bank".into(),
            roles: vec![protocol::tx::Role::Bank],
            key: PublicKey(bank_b.verifying_key().to_bytes()),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&register).unwrap());
    assert_eq!((code, code_of(&v)), (200, 0), "{v}");
    assert!(verified_value(&node, &keys::institution(&"bank-b".parse().unwrap())).is_some());
    // Registering it twice is refused.
    let again = sign(
        &chain,
        &governance,
        2,
        TxBody::RegisterInstitution {
            institution: "bank-b".parse().unwrap(),
            name: "Again".into(),
            roles: vec![protocol::tx::Role::Bank],
            key: PublicKey([5; 32]),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&again).unwrap());
    assert!(
        code == 400 || code_of(&v) != 0,
        "duplicate registration accepted: {v}"
    );

    // The plaintext record is refused at admission, naming its
    // replacement.
    let legacy = sign(
        &chain,
        &provider,
        1,
        TxBody::WriteRecord {
            record: record("provider-a", 5_000_017),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&legacy).unwrap());
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("commit_record"),
        "{v}"
    );
    // A data provider commits to a record it keeps.
    let loan = salted("provider-a", 5_000_017);
    let write = sign(
        &chain,
        &provider,
        1,
        TxBody::CommitRecord {
            commitment: loan.commitment(),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&write).unwrap());
    assert_eq!((code, code_of(&v)), (200, 0), "{v}");

    // The enterprise consents to bank-a of guangdong seeing its loans.
    let grant = ConsentGrant {
        chain_id: chain.clone(),
        enterprise: ENTERPRISE.parse::<EnterpriseId>().unwrap(),
        grantee_chain: "guangdong".parse().unwrap(),
        grantee: "bank-a".parse().unwrap(),
        scope: vec![RecordKind::Loan],
        purpose: "working capital loan".into(),
        expires_at: "2030-01-01T00:00:00Z".parse().unwrap(),
        nonce: 1,
    };
    let consent = sign(
        &chain,
        &enterprise_key,
        1,
        TxBody::GrantConsent {
            signature: Signature(enterprise_key.sign(&grant.sign_bytes()).to_bytes()),
            grant: grant.clone(),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&consent).unwrap());
    assert_eq!((code, code_of(&v)), (200, 0), "{v}");

    // Both are in state, proven against a verified header.
    let enterprise: EnterpriseId = ENTERPRISE.parse().unwrap();
    let record_key = keys::record(&enterprise, &"provider-a".parse().unwrap(), 1);
    let stored = verified_value(&node, &record_key).expect("commitment proven present");
    let decoded: RecordCommitment = borsh::from_slice(&stored).unwrap();
    assert_eq!(decoded, loan.commitment());
    // The chain holds the commitment, not the amount.
    assert!(
        !stored
            .windows(8)
            .any(|w| w == 5_000_017u64.to_le_bytes().as_slice())
    );
    assert!(verified_value(&node, &keys::consent(&grant.id())).is_some());
    // A record never written is proven absent.
    assert!(
        verified_value(
            &node,
            &keys::record(&enterprise, &"provider-a".parse().unwrap(), 99)
        )
        .is_none()
    );

    // Many keys at once, all proven at one height.
    let absent = keys::record(&enterprise, &"provider-b".parse().unwrap(), 1);
    let both = verified_values(&node, &[record_key.clone(), absent]);
    assert_eq!(both, vec![Some(stored.clone()), None]);

    // Hostile input: refused with a reason, and the state does not move.
    let root_before = node.status()["state_root"].clone();
    let (code, v) = node.post_tx("{ not json".into());
    assert_eq!(code, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("malformed transaction JSON"),
        "{v}"
    );

    let mut forged = sign(&chain, &provider, 2, commit("provider-a", 1));
    forged.signature.0[0] ^= 1;
    let (code, v) = node.post_tx(serde_json::to_string(&forged).unwrap());
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("signature"), "{v}");

    let (code, v) = node.post_tx(serde_json::to_string(&write).unwrap());
    assert_eq!(code, 400, "replayed nonce must be refused: {v}");
    assert!(v["error"].as_str().unwrap().contains("nonce"), "{v}");

    let other_chain = sign(
        &"beijing".parse().unwrap(),
        &provider,
        2,
        commit("provider-a", 1),
    );
    let (code, v) = node.post_tx(serde_json::to_string(&other_chain).unwrap());
    assert_eq!(code, 400, "{v}");

    // A bank may not commit records.
    let wrong_role = sign(&chain, &bank, 1, commit("bank-a", 1));
    let (code, v) = node.post_tx(serde_json::to_string(&wrong_role).unwrap());
    assert!(code == 400 || code_of(&v) != 0, "wrong role accepted: {v}");

    // An expired consent is refused.
    let mut expired = grant.clone();
    expired.nonce = 2;
    expired.expires_at = "2020-01-01T00:00:00Z".parse::<Time>().unwrap();
    let expired_id = expired.id();
    let stale = sign(
        &chain,
        &enterprise_key,
        2,
        TxBody::GrantConsent {
            signature: Signature(enterprise_key.sign(&expired.sign_bytes()).to_bytes()),
            grant: expired,
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&stale).unwrap());
    assert!(
        code == 400 || code_of(&v) != 0,
        "expired consent accepted: {v}"
    );

    let h = node.height();
    node.wait_for_height(h + 2);
    // Refused before their message ran, the malformed, forged, replayed and
    // foreign transactions moved nothing; the wrong role and the expired
    // consent, if they reached a block, used only their senders' nonces.
    let untouched = verified_values(
        &node,
        &[
            keys::record(&ENTERPRISE.parse().unwrap(), &"bank-a".parse().unwrap(), 1),
            keys::consent(&expired_id),
        ],
    );
    assert_eq!(untouched, vec![None, None], "a refused message was written");
    if node.status()["state_root"] == root_before {
        eprintln!("both refused at admission: the state did not move at all");
    }
    let enterprise_nonce = verified_values(
        &node,
        &[keys::nonce(&PublicKey(
            enterprise_key.verifying_key().to_bytes(),
        ))],
    )
    .remove(0)
    .map_or(0, |v| borsh::from_slice::<u64>(&v).unwrap());

    // The enterprise revokes; a second revocation is refused.
    let revoke = sign(
        &chain,
        &enterprise_key,
        enterprise_nonce + 1,
        TxBody::RevokeConsent {
            consent_id: grant.id(),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&revoke).unwrap());
    assert_eq!((code, code_of(&v)), (200, 0), "{v}");
    let again = sign(
        &chain,
        &enterprise_key,
        enterprise_nonce + 2,
        TxBody::RevokeConsent {
            consent_id: grant.id(),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&again).unwrap());
    assert!(
        code == 400 || code_of(&v) != 0,
        "double revocation accepted: {v}"
    );

    // kill -9, restart: same state, height continues, proofs still verify.
    let before = node.status();
    node.kill9();
    let node = Node::start(&home);
    let after = node.status();
    assert!(
        after["latest_height"].as_u64() >= before["latest_height"].as_u64(),
        "{before} -> {after}"
    );
    assert_eq!(after["state_root"], before["state_root"]);
    node.wait_for_height(after["latest_height"].as_u64().unwrap() + 1);
    assert_eq!(verified_value(&node, &record_key), Some(stored));
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_governance_validator_change_is_followed_by_a_light_client() {
    let home = init_chain("credit-chain-valset", "beijing");
    let node = Node::start(&home);
    let chain: ChainId = "beijing".parse().unwrap();
    let governance = node.key("governance");
    let kept: Vec<protocol::Validator> = (0..3)
        .map(|i| protocol::Validator {
            pub_key: PublicKey(
                node.key(&format!("validators/validator-{i}"))
                    .verifying_key()
                    .to_bytes(),
            ),
            power: 10,
        })
        .collect();
    let new_set = protocol::ValidatorSet::new(kept).unwrap();
    let change = sign(
        &chain,
        &governance,
        1,
        TxBody::SetValidators {
            validators: new_set.clone(),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&change).unwrap());
    assert_eq!((code, code_of(&v)), (200, 0), "{v}");
    let h = v["height"].as_u64().unwrap();
    node.wait_for_height(h + 5);

    let announcing = node.light_block(h);
    assert_eq!(announcing.header().next_validators_hash, new_set.hash());
    assert_ne!(announcing.header().validators_hash, new_set.hash());
    let first_signed_by_new = node.light_block(h + 1);
    assert_eq!(first_signed_by_new.validators, new_set);
    assert_eq!(first_signed_by_new.signed_header.commit.signatures.len(), 3);

    let now = node.light_block(h + 5).header().time;
    let mut client = LightClient::new(node.light_block(h - 1), Options::default(), now).unwrap();
    for height in [h, h + 1, h + 5] {
        let outcome = client.update(node.light_block(height), now).unwrap();
        assert!(
            matches!(outcome, UpdateOutcome::Verified { .. }),
            "height {height}: {outcome:?}"
        );
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&home);
}

fn mint(chain: &ChainId, governance: &SigningKey, nonce: u64, units: u64) -> SignedTransaction {
    sign(
        chain,
        governance,
        nonce,
        TxBody::Mint {
            to: "bank-a".parse().unwrap(),
            amount: Money {
                minor_units: units,
                currency: Currency::CNY,
            },
        },
    )
}

/// The attack: a known sender floods the node's mempool (many
/// transactions, the same one again and again, nonces far ahead). The
/// mempool is bounded: past its limit a submission gets 503 with a JSON
/// body naming it, duplicates of pending transactions and nonces far ahead
/// are refused at admission, and the node goes on serving.
#[test]
fn a_flooded_mempool_refuses_with_503_duplicates_and_far_nonces_and_keeps_serving() {
    // One block an hour: what is admitted stays pending for the test.
    let home = init_chain_with("credit-chain-mempool", "mempool-test", "1h");
    let node = Node::start_with(&home, &["--mempool-max-txs", "2"]);
    let chain: ChainId = "mempool-test".parse().unwrap();
    let governance = node.key("governance");
    assert_eq!(node.status()["mempool"]["max_txs"], 2);
    let submit_in_background = |tx: &SignedTransaction| {
        let url = format!("{}/tx", node.url);
        let body = serde_json::to_string(tx).unwrap();
        std::thread::spawn(move || {
            // Answers once committed, or fails when the node is stopped.
            let _ = reqwest::blocking::Client::new().post(url).body(body).send();
        })
    };

    let first = mint(&chain, &governance, 1, 1);
    let waiting = vec![submit_in_background(&first)];
    node.wait_for_pending(1);
    // The same transaction again: refused, naming it.
    let (code, v) = node.post_tx(serde_json::to_string(&first).unwrap());
    assert_eq!(code, 409, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "transaction {} is a duplicate of a pending transaction",
            first.hash()
        )),
        "{error}"
    );
    assert_eq!(v["detail"]["reason"], "duplicate_pending");
    // In a batch too.
    let (code, v) = node.post("/txs", serde_json::to_string(&vec![first.clone()]).unwrap());
    assert_eq!(code, 200, "{v}");
    assert!(
        v[0]["error"]
            .as_str()
            .unwrap()
            .contains("duplicate of a pending"),
        "{v}"
    );
    // Another transaction with the pending one's nonce.
    let twin = mint(&chain, &governance, 1, 2);
    let (code, v) = node.post_tx(serde_json::to_string(&twin).unwrap());
    assert_eq!(code, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains(&format!(
            "nonce 1 of {} is already taken by pending transaction {}",
            twin.tx.sender,
            first.hash()
        )),
        "{v}"
    );
    // A nonce far ahead of the last used one (0).
    let ahead = credit_chain::app::MAX_NONCE_AHEAD + 1;
    let far = mint(&chain, &governance, ahead, 1);
    let (code, v) = node.post_tx(serde_json::to_string(&far).unwrap());
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["detail"]["code"], 11, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains(&format!(
            "nonce {ahead} from {} is too far ahead",
            far.tx.sender
        )),
        "{v}"
    );
    assert_eq!(node.status()["mempool"]["pending"], 1);

    // Fill the mempool; the next submission is refused with 503.
    let mut waiting = waiting;
    waiting.push(submit_in_background(&mint(&chain, &governance, 2, 1)));
    node.wait_for_pending(2);
    let third = mint(&chain, &governance, 3, 1);
    let (code, v) = node.post_tx(serde_json::to_string(&third).unwrap());
    assert_eq!(code, 503, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("mempool full: 2 transactions") && error.contains("at most 2"),
        "{error}"
    );
    assert_eq!(v["detail"]["reason"], "mempool_full");
    let (code, v) = node.post("/txs", serde_json::to_string(&vec![third]).unwrap());
    assert_eq!(code, 503, "{v}");

    // The node goes on serving, its mempool unchanged.
    let status = node.status();
    assert_eq!(status["latest_height"], 1, "{status}");
    assert_eq!(status["mempool"]["pending"], 2, "{status}");
    assert_eq!(node.light_block(1).height().value(), 1);
    drop(node);
    for thread in waiting {
        thread.join().unwrap();
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// The attack: one `/packets` call asks for everything since height 0 (or
/// for an absurd number of events). A scan returns at most `limit` events
/// (whole blocks), continued from `scanned_to`; a limit out of range is
/// refused, named.
#[test]
fn packet_scans_are_bounded_by_their_limit() {
    let home = init_chain("credit-chain-packets", "shaanxi");
    let node = Node::start(&home);
    let chain: ChainId = "shaanxi".parse().unwrap();
    let governance = node.key("governance");
    let bank = node.key("institutions/bank-a");
    // An anchor dated now, so it is within the default trusting period
    // whenever the test runs.
    let mut counterparty = light_clients::credit_chain::signing::TestChain::new("guangdong", 4);
    let mut header = counterparty.next_header();
    header.time = protocol::Time::from_unix_nanos(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            - 1_000_000_000,
    );
    let anchor = counterparty.commit_header(header);
    let create = sign(
        &chain,
        &governance,
        1,
        TxBody::CreateClient {
            anchor,
            params: protocol::tx::LightClientParams::default(),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&create).unwrap());
    assert_eq!((code, code_of(&v)), (200, 0), "{v}");
    // bank-a's answers are sealed to its key; its queries name it.
    let decryption = DecryptionKey::generate(&mut rand::rngs::OsRng);
    let register = sign(
        &chain,
        &bank,
        1,
        TxBody::RegisterEncryptionKey {
            key: decryption.public(),
        },
    );
    let (code, v) = node.post_tx(serde_json::to_string(&register).unwrap());
    assert_eq!((code, code_of(&v)), (200, 0), "{v}");
    // Three queries, each in its own block (each answer waits for its
    // block).
    let mut heights = Vec::new();
    for nonce in 2..=4 {
        let query = sign(
            &chain,
            &bank,
            nonce,
            TxBody::SendCreditQuery {
                destination: "guangdong".parse().unwrap(),
                query: protocol::CreditQuery {
                    requester: "bank-a".parse().unwrap(),
                    enterprise: ENTERPRISE.parse().unwrap(),
                    kinds: vec![RecordKind::Loan],
                    purpose: "working capital loan".into(),
                    consent_id: protocol::Hash::ZERO,
                    max_fee: Money {
                        minor_units: 0,
                        currency: Currency::CNY,
                    },
                    encryption_key: decryption.public(),
                },
                timeout_height: Some(Height::new(1_000_000).unwrap()),
                timeout_time: None,
            },
        );
        let (code, v) = node.post_tx(serde_json::to_string(&query).unwrap());
        assert_eq!((code, code_of(&v)), (200, 0), "{v}");
        heights.push(v["height"].as_u64().unwrap());
    }
    let events = |v: &Value| -> Vec<u64> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["height"].as_u64().unwrap())
            .collect()
    };
    let (code, all) = node.get("/packets?since=0");
    assert_eq!(code, 200, "{all}");
    assert_eq!(events(&all), heights);
    // One at a time, continued from where the last scan stopped.
    let mut since = 0;
    for h in &heights {
        let (code, v) = node.get(&format!("/packets?since={since}&limit=1"));
        assert_eq!(code, 200, "{v}");
        assert_eq!(events(&v), vec![*h], "{v}");
        assert_eq!(v["scanned_to"], *h, "{v}");
        since = *h;
    }
    for bad in ["0", "5001", "-1", "many"] {
        let (code, v) = node.get(&format!("/packets?since=0&limit={bad}"));
        assert_eq!(code, 400, "{v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("expected an integer from 1 to 5000"),
            "{v}"
        );
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&home);
}
