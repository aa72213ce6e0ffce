//! Unit tests: one or more per rule, each through [`Config::load`] on a file
//! in a scratch directory (so relative paths and key files are real).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use protocol::ChainId;

use super::*;

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("relayer-config-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// Writes a key file (mode 0600) for `seed` at `rel`.
    fn key(&self, rel: &str, seed: u8) -> SigningKey {
        let key = SigningKey::from_bytes(&[seed; 32]);
        write_key(&self.path(rel), &key, &hex::encode(key.to_bytes()));
        key
    }

    /// Writes `text` as `relayer.toml` and loads it.
    fn load(&self, text: &str) -> Result<Config, ConfigErrors> {
        let file = self.path("relayer.toml");
        fs::write(&file, text).unwrap();
        Config::load(&file)
    }

    /// Like [`Scratch::load`], with the two key files [`BASE`] names.
    fn load_with_keys(&self, text: &str) -> Result<Config, ConfigErrors> {
        self.key("keys/a.json", 1);
        self.key("keys/b.json", 2);
        self.load(text)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write_key(path: &Path, key: &SigningKey, secret_hex: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let json = serde_json::json!({
        "name": "relayer",
        "public_key": hex::encode(key.verifying_key().to_bytes()),
        "secret_key": secret_hex,
    });
    fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    set_mode(path, 0o600);
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

/// A minimal valid configuration: two chains, one path.
const BASE: &str = r#"
[[chains]]
id = "shaanxi"
type = "credit-chain"
rpc = ["http://127.0.0.1:26657"]
signer_key = "keys/a.json"
trust_anchor = { height = 1, hash = "abababababababababababababababababababababababababababababababab" }

[[chains]]
id = "guangdong"
type = "credit-chain"
rpc = ["http://127.0.0.1:26667"]
signer_key = "keys/b.json"
trust_anchor = { height = 1, hash = "abababababababababababababababababababababababababababababababab" }

[[paths]]
a = "shaanxi"
b = "guangdong"
"#;

/// `extra` followed by BASE (so top-level keys in `extra` stay top-level).
fn with(extra: &str) -> String {
    format!("{extra}\n{BASE}")
}

/// BASE with no `[[paths]]`.
fn without_paths() -> String {
    BASE.replace("[[paths]]\na = \"shaanxi\"\nb = \"guangdong\"", "")
}

/// The problems of an invalid configuration, one `Display` line each.
fn problems(result: Result<Config, ConfigErrors>) -> Vec<String> {
    match result {
        Ok(_) => panic!("expected the configuration to be rejected"),
        Err(errors) => {
            assert!(!errors.is_empty());
            errors.iter().map(|e| e.to_string()).collect()
        }
    }
}

/// Asserts exactly one problem, at `location`, whose message contains `text`.
fn assert_only(result: Result<Config, ConfigErrors>, location: &str, text: &str) {
    let errors = match result {
        Ok(_) => panic!("expected {location}: {text}"),
        Err(errors) => errors,
    };
    assert_eq!(errors.len(), 1, "{errors}");
    let e = &errors.0[0];
    assert_eq!(e.location, location, "{errors}");
    assert!(e.message.contains(text), "{errors}");
}

fn warnings(config: &Config) -> Vec<String> {
    config.warnings.iter().map(|w| w.to_string()).collect()
}

fn id(s: &str) -> ChainId {
    s.parse().unwrap()
}

// ---- whole files ----

#[test]
fn minimal_file_loads_with_defaults_and_absolute_paths() {
    let dir = Scratch::new();
    let config = dir.load_with_keys(BASE).unwrap();
    assert_eq!(config.file, dir.path("relayer.toml"));
    assert_eq!(config.global.log_level, LogLevel::Info);
    assert_eq!(config.store.path, dir.path("relayer-data"));
    assert!(config.api.enabled && config.telemetry.enabled);
    assert_eq!(config.api.listen.to_string(), DEFAULT_API_LISTEN);
    assert_eq!(
        config.telemetry.listen.to_string(),
        DEFAULT_TELEMETRY_LISTEN
    );
    assert_eq!(config.relay.clear_interval, DEFAULT_CLEAR_INTERVAL);
    assert_eq!(config.relay.batch_size, DEFAULT_BATCH_SIZE);
    assert_eq!(config.relay.poll_interval, DEFAULT_POLL_INTERVAL);
    assert_eq!(config.chains.len(), 2);
    let c = &config.chains[0];
    assert_eq!(c.id, id("shaanxi"));
    assert_eq!(c.chain_type, ChainType::CreditChain);
    assert_eq!(c.rpc[0].as_str(), "http://127.0.0.1:26657/");
    assert_eq!(c.signer_key, dir.path("keys/a.json"));
    let expected = SigningKey::from_bytes(&[1; 32]);
    assert_eq!(c.signer_public_key().0, expected.verifying_key().to_bytes());
    assert_eq!(c.options(), light_clients::credit_chain::Options::default());
    assert_eq!(c.rpc_timeout, DEFAULT_RPC_TIMEOUT);
    assert_eq!(
        config.paths,
        vec![RelayPath {
            a: id("shaanxi"),
            b: id("guangdong")
        }]
    );
    assert!(config.paths[0].touches(&id("guangdong")));
    assert_eq!(
        config.chain(&id("guangdong")).unwrap().signer_key,
        dir.path("keys/b.json")
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn every_field_is_read() {
    let dir = Scratch::new();
    let text = with(
        r#"
[global]
log_level = "debug"
[store]
path = "/var/tmp/relayer-store-test"
[api]
enabled = false
listen = "0.0.0.0:8080"
[[api.tokens]]
name = "bank-a"
sha256 = "71384e9600f81d119355e9c0eded7d2c48a885e8a98dc49d3acd39c83fc164ef"
role = "integrator"
institution = "bank-a@shaanxi"
[telemetry]
enabled = false
listen = "[::1]:9000"
[relay]
clear_interval = "1m"
batch_size = 7
poll_interval = "250ms"
"#,
    )
    .replace(
        "signer_key = \"keys/b.json\"",
        "signer_key = \"keys/b.json\"\ntrust_threshold = \"2/3\"\ntrusting_period = \"2d\"\nclock_drift = \"1s\"\nrpc_timeout = \"3s\"\nrpc = \"https://gd.example:443/rpc\"",
    )
    .replace("rpc = [\"http://127.0.0.1:26667\"]\n", "");
    let config = dir.load_with_keys(&text).unwrap();
    assert_eq!(config.global.log_level, LogLevel::Debug);
    assert_eq!(
        config.store.path,
        PathBuf::from("/var/tmp/relayer-store-test")
    );
    assert!(!config.api.enabled && !config.telemetry.enabled);
    assert_eq!(config.api.listen.to_string(), "0.0.0.0:8080");
    let token = config.api.token("bank-a-example-token").unwrap();
    assert_eq!(token.name, "bank-a");
    assert_eq!(
        token.role,
        TokenRole::Integrator {
            institution: "bank-a".parse().unwrap(),
            chain: id("shaanxi"),
        }
    );
    assert_eq!(config.api.token("bank-a-example-tokeN"), None);
    assert_eq!(config.telemetry.listen.to_string(), "[::1]:9000");
    assert_eq!(config.relay.clear_interval, Duration::from_secs(60));
    assert_eq!(config.relay.batch_size, 7);
    assert_eq!(config.relay.poll_interval, Duration::from_millis(250));
    let gd = &config.chains[1];
    assert_eq!(gd.trust_threshold, TrustThreshold::TWO_THIRDS);
    assert_eq!(gd.trusting_period, Duration::from_secs(2 * 86400));
    assert_eq!(gd.clock_drift, Duration::from_secs(1));
    assert_eq!(gd.rpc_timeout, Duration::from_secs(3));
    assert_eq!(gd.rpc.len(), 1, "a single string is a list of one");
    assert_eq!(gd.rpc[0].as_str(), "https://gd.example/rpc");
}

#[test]
fn the_example_files_are_valid_given_their_keys() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");

    let dir = Scratch::new();
    let text = fs::read_to_string(repo.join("relayer.toml")).unwrap();
    dir.key("keys/shaanxi-relayer.json", 1);
    dir.key("keys/guangdong-relayer.json", 2);
    let config = dir.load(&text).unwrap();
    assert_eq!((config.chains.len(), config.paths.len()), (2, 1));
    assert_eq!(config.chains[0].rpc.len(), 2);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let (sx, gd) = (id("shaanxi"), id("guangdong"));
    assert!(!config.filter_allows(&gd, PacketKind::AggregationRequest));
    assert!(config.filter_allows(&sx, PacketKind::AggregationRequest));
    assert!(config.filter_allows(&gd, PacketKind::CreditQuery));

    let dir = Scratch::new();
    let text = fs::read_to_string(repo.join("devnet.toml")).unwrap();
    let missing = problems(dir.load(&text));
    assert_eq!(missing.len(), 3, "{missing:?}");
    assert!(
        missing
            .iter()
            .all(|p| p.contains(".signer_key: cannot read devnet/"))
    );
    for (i, chain) in ["shaanxi", "guangdong", "beijing"].iter().enumerate() {
        dir.key(
            &format!("devnet/{chain}/keys/institutions/relayer.json"),
            i as u8 + 1,
        );
    }
    let config = dir.load(&text).unwrap();
    assert_eq!((config.chains.len(), config.paths.len()), (3, 3));
    assert_eq!(config.store.path, dir.path("devnet/relayer-data"));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let dir = Scratch::new();
    let text = r#"[global]
log_level = "loud"
[[chains]]
id = "Shaanxi"
type = "credit-chain"
rpc = ["htp://x"]
signer_key = "keys/missing.json"
trust_anchor = { height = 1, hash = "abababababababababababababababababababababababababababababababab" }
[[paths]]
a = "shaanxi"
b = "guangdon"
"#;
    let lines = problems(dir.load(text));
    assert_eq!(
        lines,
        vec![
            "global.log_level: unknown log level \"loud\" (expected trace, debug, info, warn or error) (line 2)",
            "chains[0].id: invalid chain id \"Shaanxi\": only lowercase ascii letters, digits and '-' are allowed (line 4)",
            "chains[0].rpc[0]: \"htp://x\" is not an http(s) URL (scheme \"htp\") (line 6)",
            &format!(
                "chains[0].signer_key: cannot read keys/missing.json ({}): No such file or directory (os error 2) (line 7)",
                dir.path("keys/missing.json").display()
            ),
            "paths[0].a: unknown chain \"shaanxi\" (known: none) (line 10)",
            "paths[0].b: unknown chain \"guangdon\" (known: none) (line 11)",
        ]
    );
}

#[test]
fn errors_display_one_per_line() {
    let errors = ConfigErrors(vec![
        ConfigError::new("a", "x"),
        ConfigError {
            location: "b".into(),
            message: "y".into(),
            line: Some(3),
        },
        ConfigError {
            location: "line 4, column 2".into(),
            message: "z".into(),
            line: Some(4),
        },
    ]);
    assert_eq!(
        errors.to_string(),
        "a: x\nb: y (line 3)\nline 4, column 2: z"
    );
}

#[test]
fn unreadable_file_is_one_problem() {
    let dir = Scratch::new();
    let errors = Config::load(&dir.path("nope.toml")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.0[0].location, "config");
    assert!(errors.0[0].message.contains("cannot read"), "{errors}");
}

// ---- syntax, types, unknown fields ----

#[test]
fn syntax_error_names_line_and_column() {
    let dir = Scratch::new();
    let errors = dir.load("[global]\nlog_level = info\n").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(errors.0[0].location, "line 2, column 13");
    assert_eq!(errors.0[0].line, Some(2));
    assert!(
        errors.0[0].message.starts_with("TOML syntax error"),
        "{errors}"
    );
}

#[test]
fn syntax_errors_are_not_followed_by_validation_noise() {
    let dir = Scratch::new();
    let errors = dir.load("[chains\nid = 1\n\nx = \"unclosed\n").unwrap_err();
    assert!(
        errors.iter().all(|e| e.location.starts_with("line ")),
        "{errors}"
    );
    let lines: Vec<_> = errors.iter().map(|e| e.line.unwrap()).collect();
    let mut sorted = lines.clone();
    sorted.dedup();
    assert_eq!(lines, sorted, "one report per line, in order: {errors}");
}

#[test]
fn unknown_fields_are_named_with_their_path() {
    let dir = Scratch::new();
    let text = with(
        r#"
colour = "blue"
[api]
listn = "127.0.0.1:3000"
[[api.tokens]]
name = "x"
sha256 = "71384e9600f81d119355e9c0eded7d2c48a885e8a98dc49d3acd39c83fc164ef"
role = "operator"
secret = "oops"
[[packet_filter.rules]]
action = "deny"
chian = "shaanxi"
"#,
    )
    .replace(
        "type = \"credit-chain\"\nrpc = [\"http://127.0.0.1:26667\"]",
        "type = \"credit-chain\"\nrpc = [\"http://127.0.0.1:26667\"]\nrcp = 1",
    );
    let lines = problems(dir.load_with_keys(&text));
    let locations: Vec<_> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        locations,
        vec![
            "colour",
            "api.listn",
            "api.tokens[0].secret",
            "packet_filter.rules[0].chian",
            "chains[1].rcp",
        ],
        "{lines:?}"
    );
    assert!(lines[4].contains("unknown field (known fields here: id, type, rpc"));
}

#[test]
fn wrong_types_are_named() {
    let dir = Scratch::new();
    let text = with(
        "[api]\nenabled = \"yes\"\n[relay]\nbatch_size = \"10\"\n[telemetry]\nlisten = 3001\n",
    );
    let lines = problems(dir.load_with_keys(&text));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("api.enabled: expected true or false, found string")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("relay.batch_size: expected an integer, found string")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("telemetry.listen: expected a string, found integer")),
        "{lines:?}"
    );
    assert_only(
        dir.load_with_keys(&with("api = 1")),
        "api",
        "expected a table, found integer",
    );
    assert_only(
        dir.load_with_keys(&format!("paths = 5\n{}", without_paths())),
        "paths",
        "expected an array",
    );
}

// ---- sections ----

#[test]
fn log_level_is_one_of_five() {
    let dir = Scratch::new();
    for level in ["trace", "debug", "info", "warn", "error"] {
        let config = dir
            .load_with_keys(&with(&format!("[global]\nlog_level = \"{level}\"")))
            .unwrap();
        assert_eq!(config.global.log_level.as_str(), level);
    }
    assert_only(
        dir.load_with_keys(&with("[global]\nlog_level = \"INFO\"")),
        "global.log_level",
        "unknown log level \"INFO\"",
    );
}

#[test]
fn store_path_must_not_be_a_file() {
    let dir = Scratch::new();
    fs::write(dir.path("data"), "x").unwrap();
    assert_only(
        dir.load_with_keys(&with("[store]\npath = \"data\"")),
        "store.path",
        "is not a directory",
    );
    assert_only(
        dir.load_with_keys(&with("[store]\npath = \"\"")),
        "store.path",
        "must not be empty",
    );
}

#[test]
fn listen_addresses_must_parse() {
    let dir = Scratch::new();
    assert_only(
        dir.load_with_keys(&with("[api]\nlisten = \"localhost:3000\"")),
        "api.listen",
        "is not an IP address and port",
    );
    assert_only(
        dir.load_with_keys(&with("[telemetry]\nlisten = \"127.0.0.1\"")),
        "telemetry.listen",
        "is not an IP address and port",
    );
}

#[test]
fn api_and_telemetry_need_different_addresses() {
    let dir = Scratch::new();
    assert_only(
        dir.load_with_keys(&with(
            "[api]\nlisten = \"127.0.0.1:4000\"\n[telemetry]\nlisten = \"127.0.0.1:4000\"",
        )),
        "telemetry.listen",
        "conflicts with api.listen 127.0.0.1:4000",
    );
    // 0.0.0.0 takes the port on every interface.
    assert_only(
        dir.load_with_keys(&with(
            "[api]\nlisten = \"0.0.0.0:4000\"\n[telemetry]\nlisten = \"127.0.0.1:4000\"",
        )),
        "telemetry.listen",
        "conflicts",
    );
    // Defaults collide with an explicit choice too.
    assert_only(
        dir.load_with_keys(&with("[telemetry]\nlisten = \"127.0.0.1:3000\"")),
        "telemetry.listen",
        "conflicts",
    );
    // Fine when one is disabled, on different ports, or on different IPs.
    for extra in [
        "[api]\nlisten = \"127.0.0.1:4000\"\n[telemetry]\nenabled = false\nlisten = \"127.0.0.1:4000\"",
        "[api]\nlisten = \"127.0.0.1:4000\"\n[telemetry]\nlisten = \"127.0.0.1:4001\"",
        "[api]\nlisten = \"127.0.0.1:4000\"\n[telemetry]\nlisten = \"127.0.0.2:4000\"",
        "[api]\nlisten = \"127.0.0.1:0\"\n[telemetry]\nlisten = \"127.0.0.1:0\"",
    ] {
        dir.load_with_keys(&with(extra)).unwrap();
    }
}

#[test]
fn api_tokens_are_digests_with_unique_names() {
    let dir = Scratch::new();
    let digest = "71384e9600f81d119355e9c0eded7d2c48a885e8a98dc49d3acd39c83fc164ef";
    assert_only(
        dir.load_with_keys(&with(
            "[[api.tokens]]\nname = \"a\"\nsha256 = \"bank-a-secret\"\nrole = \"operator\"",
        )),
        "api.tokens[0].sha256",
        "expected 64 hex digits",
    );
    assert_only(
        dir.load_with_keys(&with(&format!(
            "[[api.tokens]]\nname = \"a\"\nsha256 = \"{}\"\nrole = \"operator\"",
            &digest[..62]
        ))),
        "api.tokens[0].sha256",
        "expected 64 hex digits",
    );
    assert_only(
        dir.load_with_keys(&with(&format!(
            "[[api.tokens]]\nname = \"  \"\nsha256 = \"{digest}\"\nrole = \"operator\""
        ))),
        "api.tokens[0].name",
        "must not be empty",
    );
    assert_only(
        dir.load_with_keys(&with(&format!(
            "[[api.tokens]]\nsha256 = \"{digest}\"\nrole = \"operator\""
        ))),
        "api.tokens[0].name",
        "required field is missing",
    );
    let other = "eb681c7e0beb46b0f596f7f54048160d3aed03ac4ea83415e83713a14c34ce1c";
    assert_only(
        dir.load_with_keys(&with(&format!(
            "[[api.tokens]]\nname = \"a\"\nsha256 = \"{digest}\"\nrole = \"operator\"\n[[api.tokens]]\nname = \"a\"\nsha256 = \"{other}\"\nrole = \"operator\""
        ))),
        "api.tokens[1].name",
        "duplicate token name \"a\" (also api.tokens[0])",
    );
    assert_only(
        dir.load_with_keys(&with(&format!(
            "[[api.tokens]]\nname = \"a\"\nsha256 = \"{digest}\"\nrole = \"operator\"\n[[api.tokens]]\nname = \"b\"\nsha256 = \"{}\"\nrole = \"operator\"",
            digest.to_uppercase()
        ))),
        "api.tokens[1].sha256",
        "same digest as api.tokens[0]",
    );
}

#[test]
fn api_tokens_are_bound_to_a_role() {
    let dir = Scratch::new();
    let digest = "71384e9600f81d119355e9c0eded7d2c48a885e8a98dc49d3acd39c83fc164ef";
    let token = |rest: &str| {
        with(&format!(
            "[[api.tokens]]\nname = \"bank-a\"\nsha256 = \"{digest}\"\n{rest}"
        ))
    };
    assert_only(
        dir.load_with_keys(&token("")),
        "api.tokens[0].role",
        "token \"bank-a\" has no role",
    );
    assert_only(
        dir.load_with_keys(&token("role = \"integrator\"")),
        "api.tokens[0].role",
        "token \"bank-a\" is an integrator token without an institution",
    );
    assert_only(
        dir.load_with_keys(&token(
            "role = \"integrator\"\ninstitution = \"bank-a@beijing\"",
        )),
        "api.tokens[0].institution",
        "token \"bank-a\" is bound to unknown chain \"beijing\" (known: shaanxi, guangdong)",
    );
    assert_only(
        dir.load_with_keys(&token("role = \"integrator\"\ninstitution = \"bank-a\"")),
        "api.tokens[0].institution",
        "token \"bank-a\": institution \"bank-a\" is not INSTITUTION@CHAIN",
    );
    assert_only(
        dir.load_with_keys(&token(
            "role = \"integrator\"\ninstitution = \"Bank A@shaanxi\"",
        )),
        "api.tokens[0].institution",
        "token \"bank-a\": invalid institution id",
    );
    assert_only(
        dir.load_with_keys(&token(
            "role = \"operator\"\ninstitution = \"bank-a@shaanxi\"",
        )),
        "api.tokens[0].institution",
        "token \"bank-a\" is an operator token",
    );
    assert_only(
        dir.load_with_keys(&token("role = \"admin\"")),
        "api.tokens[0].role",
        "token \"bank-a\": unknown role \"admin\"",
    );
    let config = dir
        .load_with_keys(&token(
            "role = \"integrator\"\ninstitution = \"bureau-a@guangdong\"",
        ))
        .unwrap();
    assert_eq!(
        config.api.tokens[0].role,
        TokenRole::Integrator {
            institution: "bureau-a".parse().unwrap(),
            chain: id("guangdong"),
        }
    );
    let config = dir.load_with_keys(&token("role = \"operator\"")).unwrap();
    assert_eq!(config.api.tokens[0].role, TokenRole::Operator);
}

#[test]
fn tokens_are_selected_by_comparing_every_digest() {
    let digests = [[1u8; 32], [2; 32], [3; 32]];
    assert_eq!(matching_digest(&[1; 32], &digests), Some(0));
    assert_eq!(matching_digest(&[3; 32], &digests), Some(2));
    assert_eq!(matching_digest(&[4; 32], &digests), None);
    assert_eq!(matching_digest(&[1; 32], &[]), None);
    // One byte off anywhere is no match.
    let mut near = [2u8; 32];
    near[31] = 0;
    assert_eq!(matching_digest(&near, &digests), None);
    // Every digest is looked at: an iterator that counts its items is
    // drained even when the first one matches.
    let mut looked_at = 0;
    let counted = digests.iter().inspect(|_| looked_at += 1);
    assert_eq!(matching_digest(&[1; 32], counted), Some(0));
    assert_eq!(looked_at, 3);
}

#[test]
fn endpoint_urls_with_credentials_are_refused_naming_the_chain() {
    let dir = Scratch::new();
    let text = BASE.replace(
        "rpc = [\"http://127.0.0.1:26667\"]",
        "rpc = [\"http://relayer:hunter2@127.0.0.1:26667\"]",
    );
    let errors = match dir.load_with_keys(&text) {
        Ok(_) => panic!("a URL with credentials was accepted"),
        Err(errors) => errors,
    };
    assert_eq!(errors.len(), 1, "{errors}");
    let e = &errors.0[0];
    assert_eq!(e.location, "chains[1].rpc[0]", "{errors}");
    assert!(
        e.message.contains("of chain guangdong carries credentials"),
        "{errors}"
    );
    // The secret is not repeated in the message.
    assert!(!errors.to_string().contains("hunter2"), "{errors}");
    let text = BASE.replace(
        "rpc = [\"http://127.0.0.1:26667\"]",
        "rpc = [\"https://token@127.0.0.1:26667\"]",
    );
    assert_only(
        dir.load_with_keys(&text),
        "chains[1].rpc[0]",
        "carries credentials",
    );
}

#[test]
fn relay_pacing_is_positive_and_bounded() {
    let dir = Scratch::new();
    assert_only(
        dir.load_with_keys(&with("[relay]\nclear_interval = \"0s\"")),
        "relay.clear_interval",
        "must be greater than zero",
    );
    assert_only(
        dir.load_with_keys(&with("[relay]\npoll_interval = \"soon\"")),
        "relay.poll_interval",
        "is not a duration such as",
    );
    assert_only(
        dir.load_with_keys(&with("[relay]\nbatch_size = 0")),
        "relay.batch_size",
        "0 is out of range 1..=5000",
    );
    assert_only(
        dir.load_with_keys(&with("[relay]\nbatch_size = 5001")),
        "relay.batch_size",
        "out of range",
    );
    assert_only(
        dir.load_with_keys(&with("[relay]\nbatch_size = -1")),
        "relay.batch_size",
        "out of range",
    );
    let config = dir
        .load_with_keys(&with("[relay]\nbatch_size = 5000"))
        .unwrap();
    assert_eq!(config.relay.batch_size, MAX_BATCH_SIZE);
}

// ---- chains ----

#[test]
fn at_least_one_chain() {
    let dir = Scratch::new();
    assert_only(dir.load(""), "chains", "no chain configured");
    assert_only(dir.load("chains = []"), "chains", "no chain configured");
}

#[test]
fn chain_fields_are_required() {
    let dir = Scratch::new();
    let lines = problems(dir.load("[[chains]]\nid = \"shaanxi\"\n"));
    assert_eq!(
        lines,
        vec![
            "chains[0].type: required field is missing (line 1)",
            "chains[0].rpc: required field is missing (line 1)",
            "chains[0].signer_key: required field is missing (line 1)",
            "chains[0].trust_anchor: chain shaanxi has no trust anchor: add trust_anchor = \
             { height = H, hash = \"HEX\" } with the hash of its header at height H, read from \
             a source you trust (the relayer never trusts its endpoints for it) (line 1)",
        ]
    );
}

#[test]
fn a_trust_anchor_is_a_height_and_a_header_hash() {
    let dir = Scratch::new();
    let anchor = "trust_anchor = { height = 1, hash = \"abababababababababababababababababababababababababababababababab\" }";
    let config = dir.load_with_keys(BASE).unwrap();
    assert_eq!(config.chains[0].trust_anchor.height.value(), 1);
    assert_eq!(
        config.chains[0].trust_anchor.header_hash.to_string(),
        "ab".repeat(32)
    );
    let text = BASE.replacen(anchor, "trust_anchor = { height = 0, hash = \"ab\" }", 1);
    let lines = problems(dir.load_with_keys(&text));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("chains[0].trust_anchor.height: 0 is not a block height"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with(
            "chains[0].trust_anchor.hash: trust anchor hash \"ab\" is not a header hash"
        ),
        "{lines:?}"
    );
    let text = BASE.replacen(anchor, "trust_anchor = { height = 3, hash = \"abababababababababababababababababababababababababababababababab\", at = 1 }", 1);
    assert_only(
        dir.load_with_keys(&text),
        "chains[0].trust_anchor.at",
        "unknown field",
    );
}

#[test]
fn chain_ids_follow_the_protocol_rule_and_are_unique() {
    let dir = Scratch::new();
    assert_only(
        dir.load_with_keys(&without_paths().replace("id = \"guangdong\"", "id = \"gd\"")),
        "chains[1].id",
        "invalid chain id \"gd\": shorter than 3 characters",
    );
    let text = BASE
        .replace("id = \"guangdong\"", "id = \"shaanxi\"")
        .replace("b = \"guangdong\"", "b = \"beijing\"");
    let lines = problems(dir.load_with_keys(&text));
    assert_eq!(
        lines,
        vec![
            "chains[1].id: duplicate chain id \"shaanxi\" (also chains[0]) (line 10)",
            "paths[0].b: unknown chain \"beijing\" (known: shaanxi) (line 18)",
        ]
    );
}

#[test]
fn only_credit_chains_are_relayed() {
    let dir = Scratch::new();
    assert_only(
        dir.load_with_keys(&BASE.replacen("type = \"credit-chain\"", "type = \"cometbft\"", 1)),
        "chains[0].type",
        "the relay engine has no CometBFT adapter yet",
    );
    assert_only(
        dir.load_with_keys(&BASE.replacen("type = \"credit-chain\"", "type = \"ethereum\"", 1)),
        "chains[0].type",
        "unknown chain type \"ethereum\"",
    );
}

#[test]
fn rpc_endpoints_are_http_urls() {
    let dir = Scratch::new();
    let rpc = |value: &str| {
        BASE.replacen(
            "rpc = [\"http://127.0.0.1:26657\"]",
            &format!("rpc = {value}"),
            1,
        )
    };
    assert_only(
        dir.load_with_keys(&rpc("[\"htp://x\"]")),
        "chains[0].rpc[0]",
        "\"htp://x\" is not an http(s) URL",
    );
    assert_only(
        dir.load_with_keys(&rpc("[\"http://a:1\", \"127.0.0.1:26657\"]")),
        "chains[0].rpc[1]",
        "is not an http(s) URL",
    );
    assert_only(
        dir.load_with_keys(&rpc("[\"http://a:1/?x=1\"]")),
        "chains[0].rpc[0]",
        "no query or fragment",
    );
    assert_only(
        dir.load_with_keys(&rpc("[]")),
        "chains[0].rpc",
        "at least one RPC endpoint",
    );
    assert_only(
        dir.load_with_keys(&rpc("[1]")),
        "chains[0].rpc[0]",
        "expected a string",
    );
    let config = dir
        .load_with_keys(&rpc("[\"http://a:1\", \"https://b\", \"http://a:1/\"]"))
        .unwrap();
    assert_eq!(config.chains[0].rpc.len(), 2);
    assert_eq!(
        warnings(&config),
        vec!["chains[0].rpc[2]: http://a:1/ is listed twice (line 5)"]
    );
}

#[test]
fn signer_key_must_be_a_readable_matching_key_file() {
    let dir = Scratch::new();
    let a = SigningKey::from_bytes(&[1; 32]);
    dir.key("keys/b.json", 2);

    // Missing, with the path as written and as resolved.
    let lines = problems(dir.load(BASE));
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("chains[0].signer_key: cannot read keys/a.json ("),
        "{lines:?}"
    );

    // Not JSON.
    fs::create_dir_all(dir.path("keys")).unwrap();
    fs::write(dir.path("keys/a.json"), "not json").unwrap();
    assert_only(
        dir.load(BASE),
        "chains[0].signer_key",
        "keys/a.json is not a key file",
    );

    // Secret of another key.
    let other = SigningKey::from_bytes(&[9; 32]);
    write_key(&dir.path("keys/a.json"), &a, &hex::encode(other.to_bytes()));
    assert_only(
        dir.load(BASE),
        "chains[0].signer_key",
        "does not match its public key",
    );

    // Bad hex.
    write_key(&dir.path("keys/a.json"), &a, "zz");
    assert_only(
        dir.load(BASE),
        "chains[0].signer_key",
        "secret_key is not 64 hex digits",
    );

    // Relative to the config file's directory, not the working directory;
    // absolute paths are taken as they are.
    dir.key("keys/a.json", 1);
    let elsewhere = Scratch::new();
    let moved = elsewhere.key("somewhere/key.json", 5);
    let text = BASE.replacen(
        "keys/a.json",
        elsewhere.path("somewhere/key.json").to_str().unwrap(),
        1,
    );
    let config = dir.load(&text).unwrap();
    assert_eq!(
        config.chains[0].signer.verifying_key(),
        moved.verifying_key()
    );
}

#[cfg(unix)]
#[test]
fn a_key_file_readable_by_others_is_a_warning() {
    let dir = Scratch::new();
    dir.key("keys/b.json", 2);
    dir.key("keys/a.json", 1);
    set_mode(&dir.path("keys/a.json"), 0o644);
    let config = dir.load(BASE).unwrap();
    assert_eq!(
        warnings(&config),
        vec![
            "chains[0].signer_key: keys/a.json is readable by others (mode 0644); run chmod 600 on it (line 6)"
        ]
    );
}

#[test]
fn trust_parameters_follow_the_light_client_rules() {
    let dir = Scratch::new();
    let chain = |extra: &str| {
        BASE.replacen(
            "signer_key = \"keys/a.json\"",
            &format!("signer_key = \"keys/a.json\"\n{extra}"),
            1,
        )
    };
    assert_only(
        dir.load_with_keys(&chain("trust_threshold = \"1/4\"")),
        "chains[0].trust_threshold",
        "below 1/3",
    );
    assert_only(
        dir.load_with_keys(&chain("trust_threshold = \"4/3\"")),
        "chains[0].trust_threshold",
        "greater than 1",
    );
    assert_only(
        dir.load_with_keys(&chain("trust_threshold = \"half\"")),
        "chains[0].trust_threshold",
        "expected a fraction",
    );
    assert_only(
        dir.load_with_keys(&chain("trusting_period = \"0s\"")),
        "chains[0].trusting_period",
        "greater than zero",
    );
    assert_only(
        dir.load_with_keys(&chain("trusting_period = \"400d\"")),
        "chains[0].trusting_period",
        "longer than the maximum",
    );
    assert_only(
        dir.load_with_keys(&chain("clock_drift = \"2h\"")),
        "chains[0].clock_drift",
        "clock drift",
    );
    assert_only(
        dir.load_with_keys(&chain("clock_drift = \"ten seconds\"")),
        "chains[0].clock_drift",
        "not a duration",
    );
    assert_only(
        dir.load_with_keys(&chain("rpc_timeout = \"0ms\"")),
        "chains[0].rpc_timeout",
        "greater than zero",
    );
    assert_only(
        dir.load_with_keys(&chain("trusting_period = \"1m\"\nclock_drift = \"2m\"")),
        "chains[0].clock_drift",
        "2m is not shorter than the trusting period 1m",
    );
    let config = dir
        .load_with_keys(&chain("trust_threshold = \"1/1\"\nclock_drift = \"0s\""))
        .unwrap();
    assert_eq!(config.chains[0].trust_threshold.to_string(), "1/1");
    assert_eq!(config.chains[0].clock_drift, Duration::ZERO);
}

// ---- paths ----

#[test]
fn paths_join_two_different_known_chains_once() {
    let dir = Scratch::new();
    assert_only(
        dir.load_with_keys(&BASE.replace("b = \"guangdong\"", "b = \"guangdon\"")),
        "paths[0].b",
        "unknown chain \"guangdon\" (known: shaanxi, guangdong)",
    );
    assert_only(
        dir.load_with_keys(&BASE.replace("b = \"guangdong\"", "b = \"shaanxi\"")),
        "paths[0]",
        "a path from chain \"shaanxi\" to itself",
    );
    assert_only(
        dir.load_with_keys(&with("[[paths]]\na = \"guangdong\"\nb = \"shaanxi\"")),
        "paths[1]",
        "duplicate path shaanxi <-> guangdong (also paths[0]; paths go both ways)",
    );
    assert_only(
        dir.load_with_keys(&with("[[paths]]\na = \"guangdong\"")),
        "paths[0].b",
        "required field is missing",
    );
    assert_only(
        dir.load_with_keys(&BASE.replace("b = \"guangdong\"", "b = \"Guangdong\"")),
        "paths[0].b",
        "invalid chain id \"Guangdong\"",
    );
    // No paths at all is allowed: the relayer then only follows its chains.
    let config = dir.load_with_keys(&without_paths()).unwrap();
    assert!(config.paths.is_empty());
}

// ---- packet filter ----

#[test]
fn filter_rules_first_match_wins_then_default() {
    let dir = Scratch::new();
    let text = with(
        r#"
[packet_filter]
default = "deny"
[[packet_filter.rules]]
action = "deny"
chain = "guangdong"
kind = "attestation"
[[packet_filter.rules]]
action = "allow"
chain = "*"
kind = "attestation"
[[packet_filter.rules]]
action = "allow"
chain = "guangdong"
"#,
    );
    let config = dir.load_with_keys(&text).unwrap();
    let (sx, gd) = (id("shaanxi"), id("guangdong"));
    assert!(!config.filter_allows(&gd, PacketKind::Attestation));
    assert!(config.filter_allows(&sx, PacketKind::Attestation));
    assert!(config.filter_allows(&gd, PacketKind::CreditQuery));
    assert!(
        !config.filter_allows(&sx, PacketKind::CreditQuery),
        "default deny"
    );
    // Nothing is allowed at both ends of the one path: said as a warning.
    assert_eq!(
        warnings(&config),
        vec![
            "paths[0]: the packet filter denies every packet kind between shaanxi and guangdong: \
             this path carries nothing (line 31)"
        ]
    );
    assert_eq!(config.packet_filter.rules[1].chain, None);
    assert_eq!(
        config
            .packet_filter
            .action(&sx, PacketKind::ChainRegistration),
        FilterAction::Deny
    );
}

#[test]
fn no_filter_allows_everything() {
    let dir = Scratch::new();
    let config = dir.load_with_keys(BASE).unwrap();
    for kind in PacketKind::ALL {
        assert!(config.filter_allows(&id("shaanxi"), kind));
        assert_eq!(kind.as_str().parse::<PacketKind>(), Ok(kind));
    }
}

#[test]
fn filter_rule_values_are_checked() {
    let dir = Scratch::new();
    let lines = problems(dir.load_with_keys(&with(
        r#"
[packet_filter]
default = "maybe"
[[packet_filter.rules]]
action = "block"
chain = "Beijing"
kind = "loan"
[[packet_filter.rules]]
kind = "attestation"
"#,
    )));
    let locations: Vec<_> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        locations,
        vec![
            "packet_filter.default",
            "packet_filter.rules[0].action",
            "packet_filter.rules[0].chain",
            "packet_filter.rules[0].kind",
            "packet_filter.rules[1].action",
        ],
        "{lines:?}"
    );
    assert!(lines[3].contains("unknown packet kind \"loan\" (expected one of: credit_query,"));
}

#[test]
fn filter_warnings_for_typos_unreachable_rules_and_dead_paths() {
    let dir = Scratch::new();
    let config = dir
        .load_with_keys(&with(
            r#"
[[packet_filter.rules]]
action = "deny"
chain = "beijng"
[[packet_filter.rules]]
action = "deny"
[[packet_filter.rules]]
action = "allow"
kind = "credit_query"
"#,
        ))
        .unwrap();
    let w = warnings(&config);
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(w[0].starts_with(
        "packet_filter.rules[0].chain: chain \"beijng\" is not among the configured chains"
    ));
    assert!(w[1].starts_with(
        "packet_filter.rules[2]: never reached: packet_filter.rules[1] matches every packet first"
    ));
    assert!(w[2].starts_with(
        "paths[0]: the packet filter denies every packet kind between shaanxi and guangdong"
    ));
    assert!(w[3].starts_with("packet_filter.default: \"allow\" is never used"));
}

const NETWORK: &str = r#"
[network]
listen = ["/ip4/127.0.0.1/tcp/4001"]
identity_key = "keys/operator.json"
bootstrap = ["/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWKk6QPUvQTzF4JGCuhMVftnwNyjjyCT46HfiCydEbUeM2"]

[network.governance]
keys = ["3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"]
threshold = 1

[[network.chains]]
id = "beijing"
relayers = ["12D3KooWKk6QPUvQTzF4JGCuhMVftnwNyjjyCT46HfiCydEbUeM2"]
trust_anchor = { height = 1, hash = "abababababababababababababababababababababababababababababababab" }
"#;

#[test]
fn a_network_section_is_read_with_its_peers_and_governance() {
    let s = Scratch::new();
    let operator = s.key("keys/operator.json", 9);
    let config = s.load_with_keys(&format!("{BASE}{NETWORK}")).unwrap();
    let network = config.network.expect("a [network] section");
    assert_eq!(network.identity.to_bytes(), operator.to_bytes());
    assert_eq!(network.listen.len(), 1);
    assert_eq!(network.bootstrap.len(), 1);
    assert_eq!(
        network.bootstrap[0].0.to_string(),
        "12D3KooWKk6QPUvQTzF4JGCuhMVftnwNyjjyCT46HfiCydEbUeM2"
    );
    assert_eq!(network.governance.threshold, 1);
    assert_eq!(
        network.governance.proposal_expiry,
        crate::registry::DEFAULT_PENDING_EXPIRY
    );
    let expiring = NETWORK.replace("threshold = 1", "threshold = 1\nproposal_expiry = \"6h\"");
    let expiring = s.load_with_keys(&format!("{BASE}{expiring}")).unwrap();
    assert_eq!(
        expiring.network.unwrap().governance.proposal_expiry,
        std::time::Duration::from_secs(6 * 3600)
    );
    assert_eq!(network.chains[0].id, id("beijing"));
    assert_eq!(network.chains[0].chain_type, ChainType::CreditChain);
    assert_eq!(
        network.discovery_interval,
        Some(super::DEFAULT_DISCOVERY_INTERVAL)
    );
    let with_discovery = |value: &str| {
        let text = NETWORK.replace(
            "identity_key = ",
            &format!("discovery_interval = {value}\nidentity_key = "),
        );
        s.load_with_keys(&format!("{BASE}{text}"))
    };
    let off = with_discovery("\"off\"").unwrap().network.unwrap();
    assert_eq!(off.discovery_interval, None);
    let two = with_discovery("\"2s\"").unwrap().network.unwrap();
    assert_eq!(
        two.discovery_interval,
        Some(std::time::Duration::from_secs(2))
    );
    assert_only(
        with_discovery("\"0s\""),
        "network.discovery_interval",
        "(or \"off\")",
    );
}

#[test]
fn network_mistakes_are_named_with_their_location() {
    let s = Scratch::new();
    s.key("keys/operator.json", 9);
    let bad =
        |from: &str, to: &str| s.load_with_keys(&format!("{BASE}{}", NETWORK.replace(from, to)));
    assert_only(
        bad("/ip4/127.0.0.1/tcp/4002/p2p/", "/ip4/127.0.0.1/tcp/4002/"),
        "network.bootstrap[0]",
        "is not a multiaddr",
    );
    assert_only(
        bad(
            "tcp/4002/p2p/12D3KooWKk6QPUvQTzF4JGCuhMVftnwNyjjyCT46HfiCydEbUeM2",
            "tcp/4002",
        ),
        "network.bootstrap[0]",
        "/p2p/<peer id>",
    );
    assert_only(
        bad("threshold = 1", "threshold = 2"),
        "network.governance.threshold",
        "between 1 and",
    );
    assert_only(
        bad("threshold = 1", "threshold = 1\nproposal_expiry = \"0s\""),
        "network.governance.proposal_expiry",
        "must be greater than zero",
    );
    assert_only(
        bad("relayers = [\"12D3", "relayers = [\"xx12D3"),
        "network.chains[0].relayers[0]",
        "not a libp2p peer id",
    );
    assert_only(
        bad("keys/operator.json", "keys/missing.json"),
        "network.identity_key",
        "cannot read",
    );
}
