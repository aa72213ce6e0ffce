//! `relayer config validate` as an operator runs it: a file in, `config OK`
//! or every problem with its location out, exit 0 or 3.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ed25519_dalek::SigningKey;

const EXIT_MALFORMED: i32 = 3;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("relayer-config-cli-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// Writes a key file as `credit-chain init` does (mode 0600).
    fn key(&self, rel: &str, seed: u8) {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let json = serde_json::json!({
            "name": "relayer",
            "public_key": hex::encode(key.verifying_key().to_bytes()),
            "secret_key": hex::encode(key.to_bytes()),
        });
        let path = self.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.join(rel);
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn repo_config(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validate(file: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relayer"))
        .args(["config", "validate", "--config"])
        .arg(file)
        .args(extra)
        .output()
        .expect("run relayer")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn the_example_config_validates() {
    let dir = TempDir::new("example");
    let file = dir.write("relayer.toml", &repo_config("relayer.toml"));
    dir.key("keys/shaanxi-relayer.json", 1);
    dir.key("keys/guangdong-relayer.json", 2);

    let out = validate(&file, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "config OK: 2 chains, 1 paths\n");
    assert_eq!(stderr(&out), "", "no warning on the example");

    let out = validate(&file, &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["ok"], true);
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(report["warnings"], serde_json::json!([]));
    assert_eq!(
        (report["chains"].as_u64(), report["paths"].as_u64()),
        (Some(2), Some(1))
    );
}

#[test]
fn the_devnet_config_is_a_valid_template() {
    let dir = TempDir::new("devnet");
    let file = dir.write("devnet.toml", &repo_config("devnet.toml"));

    // Before the devnet homes exist: exactly the three key files are missing.
    let out = validate(&file, &[]);
    assert_eq!(out.status.code(), Some(EXIT_MALFORMED));
    let lines: Vec<_> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, (i, chain)) in lines
        .iter()
        .zip(["shaanxi", "guangdong", "beijing"].iter().enumerate())
    {
        let prefix = format!(
            "chains[{i}].signer_key: cannot read devnet/{chain}/keys/institutions/relayer.json"
        );
        assert!(line.starts_with(&prefix), "{line}");
    }

    for (i, chain) in ["shaanxi", "guangdong", "beijing"].iter().enumerate() {
        dir.key(
            &format!("devnet/{chain}/keys/institutions/relayer.json"),
            i as u8 + 1,
        );
    }
    let out = validate(&file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "config OK: 3 chains, 3 paths\n");
}

const MISTAKES: &str = r#"[global]
log_level = "verbose"

[api]
listen = "127.0.0.1:3000"
[[api.tokens]]
name = "bank-a"
sha256 = "not-a-digest"

[telemetry]
listen = "127.0.0.1:3000"

[[chains]]
id = "shaanxi"
type = "credit-chain"
rpc = ["http://127.0.0.1:26657"]
signer_key = "keys/shaanxi.json"

[[chains]]
id = "beijing"
type = "credit-chain"
rpc = ["htp://x"]
signer_key = "keys/x.json"
trust_threshold = "1/5"

[[chains]]
id = "shaanxi"
type = "credit-chain"
rpc = ["http://127.0.0.1:26677"]
signer_key = "keys/shaanxi.json"
rcp = "http://typo"

[[paths]]
a = "shaanxi"
b = "guangdon"

[[paths]]
a = "beijing"
b = "beijing"
"#;

#[test]
fn every_mistake_is_reported_with_its_location() {
    let dir = TempDir::new("mistakes");
    dir.key("keys/shaanxi.json", 1);
    let file = dir.write("relayer.toml", MISTAKES);

    let out = validate(&file, &[]);
    assert_eq!(out.status.code(), Some(EXIT_MALFORMED));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let missing_key = dir.join("keys/x.json");
    let expected = [
        "global.log_level: unknown log level \"verbose\" (expected trace, debug, info, warn or error) (line 2)".to_owned(),
        "api.tokens[0].role: token \"bank-a\" has no role: add role = \"integrator\" (with institution = \"INSTITUTION@CHAIN\") or role = \"operator\" (line 6)".to_owned(),
        "api.tokens[0].sha256: expected 64 hex digits (a SHA-256 digest), got \"not-a-digest\" (line 8)".to_owned(),
        "telemetry.listen: 127.0.0.1:3000 conflicts with api.listen 127.0.0.1:3000: the API and telemetry need different addresses (line 11)".to_owned(),
        "chains[0].trust_anchor: chain shaanxi has no trust anchor: add trust_anchor = { height = H, hash = \"HEX\" } with the hash of its header at height H, read from a source you trust (the relayer never trusts its endpoints for it) (line 13)".to_owned(),
        "chains[1].trust_anchor: chain beijing has no trust anchor: add trust_anchor = { height = H, hash = \"HEX\" } with the hash of its header at height H, read from a source you trust (the relayer never trusts its endpoints for it) (line 19)".to_owned(),
        "chains[1].rpc[0]: \"htp://x\" is not an http(s) URL (scheme \"htp\") (line 22)".to_owned(),
        format!(
            "chains[1].signer_key: cannot read keys/x.json ({}): No such file or directory (os error 2) (line 23)",
            missing_key.display()
        ),
        "chains[1].trust_threshold: trust threshold 1/5: below 1/3 (line 24)".to_owned(),
        "chains[2].trust_anchor: chain shaanxi has no trust anchor: add trust_anchor = { height = H, hash = \"HEX\" } with the hash of its header at height H, read from a source you trust (the relayer never trusts its endpoints for it) (line 26)".to_owned(),
        "chains[2].id: duplicate chain id \"shaanxi\" (also chains[0]) (line 27)".to_owned(),
        "chains[2].rcp: unknown field (known fields here: id, type, rpc, signer_key, trust_threshold, trusting_period, clock_drift, rpc_timeout, trust_anchor) (line 31)".to_owned(),
        "paths[0].b: unknown chain \"guangdon\" (known: shaanxi, beijing) (line 35)".to_owned(),
        "paths[1]: a path from chain \"beijing\" to itself (line 37)".to_owned(),
    ];
    assert_eq!(
        lines,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[test]
fn json_report_of_a_bad_config() {
    let dir = TempDir::new("json");
    dir.key("keys/shaanxi.json", 1);
    let file = dir.write("relayer.toml", MISTAKES);

    let out = validate(&file, &["--json"]);
    assert_eq!(out.status.code(), Some(EXIT_MALFORMED));
    let report = json(&out);
    assert_eq!(report["ok"], false);
    let errors = report["errors"].as_array().unwrap();
    // Three of them: chains without a trust anchor; one a token's role.
    assert_eq!(errors.len(), 14);
    assert_eq!(
        errors[12],
        serde_json::json!({
            "location": "paths[0].b",
            "message": "unknown chain \"guangdon\" (known: shaanxi, beijing)",
            "line": 35,
        })
    );
    for e in errors {
        assert!(e["location"].is_string() && e["message"].is_string(), "{e}");
    }
    assert_eq!(stderr(&out), "");
}

#[test]
fn toml_syntax_error_names_line_and_column() {
    let dir = TempDir::new("syntax");
    let file = dir.write(
        "relayer.toml",
        "[global]\nlog_level = \"info\"\n\n[[chains]]\nid = shaanxi\n",
    );
    let out = validate(&file, &[]);
    assert_eq!(out.status.code(), Some(EXIT_MALFORMED));
    let text = stdout(&out);
    assert!(
        text.starts_with("line 5, column 6: TOML syntax error: "),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");

    let out = validate(&file, &["--json"]);
    let report = json(&out);
    assert_eq!(report["ok"], false);
    assert_eq!(report["errors"][0]["location"], "line 5, column 6");
    assert_eq!(report["errors"][0]["line"], 5);
}

#[test]
fn warnings_go_to_stderr_and_do_not_fail() {
    let dir = TempDir::new("warnings");
    dir.key("keys/a.json", 1);
    let file = dir.write(
        "relayer.toml",
        "[[chains]]\nid = \"shaanxi\"\ntype = \"credit-chain\"\nrpc = \"http://127.0.0.1:26657\"\n\
         signer_key = \"keys/a.json\"\ntrust_anchor = { height = 1, hash = \"abababababababababababababababababababababababababababababababab\" }\n\n[[packet_filter.rules]]\naction = \"deny\"\nchain = \"beijng\"\n",
    );
    let out = validate(&file, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "config OK: 1 chains, 0 paths\n");
    assert_eq!(
        stderr(&out),
        "warning: packet_filter.rules[0].chain: chain \"beijng\" is not among the configured chains (line 8)\n"
    );
    let report = json(&validate(&file, &["--json"]));
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["warnings"][0]["location"],
        "packet_filter.rules[0].chain"
    );
}

#[test]
fn missing_file_and_missing_flag_are_malformed() {
    let dir = TempDir::new("missing");
    let out = validate(&dir.join("nope.toml"), &[]);
    assert_eq!(out.status.code(), Some(EXIT_MALFORMED));
    assert!(
        stdout(&out).starts_with("config: cannot read "),
        "{}",
        stdout(&out)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_relayer"))
        .args(["config", "validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(EXIT_MALFORMED));
    assert!(stderr(&out).contains("--config"), "{}", stderr(&out));
}
