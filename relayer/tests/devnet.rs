//! `relayer devnet --once`: three chain processes, the relayer, and a
//! consent-backed cross-chain query answered with verified records.

use std::net::TcpListener;
use std::process::Command;

/// A base port whose +0, +10, +20 are free right now.
fn free_base_port() -> u16 {
    for _ in 0..100 {
        let probe = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if probe > 60_000 {
            continue;
        }
        if (0..3).all(|i| TcpListener::bind(("127.0.0.1", probe + 10 * i)).is_ok()) {
            return probe;
        }
    }
    panic!("no free ports");
}

#[test]
fn the_devnet_answers_a_cross_chain_query_with_verified_records() {
    let dir = std::env::temp_dir().join(format!("relayer-devnet-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_relayer"))
        .args([
            "devnet",
            "--once",
            "--chains",
            "3",
            "--block-time",
            "100ms",
            "--dir",
        ])
        .arg(&dir)
        .args(["--base-port", &free_base_port().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "devnet failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("verified answer from guangdong (Answered)"),
        "{stdout}"
    );
    // Both providers' records, with their amounts, and the fee of both.
    assert!(
        stdout.contains("Loan 3000000.00 CNY Active from provider-a"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Loan 1200000.00 CNY Active from provider-b"),
        "{stdout}"
    );
    assert!(stdout.contains("fee charged: 8.00 CNY"), "{stdout}");
    assert!(
        stdout.contains("proven against guangdong header height"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills the devnet (and so its chains, which die with it) when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        // SIGINT: the devnet stops as on Ctrl-C, its chain processes with it.
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        if self.0.wait().is_err() {
            let _ = self.0.kill();
        }
    }
}

#[test]
fn the_running_devnet_prints_a_token_per_integrator_and_the_operators() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("relayer-devnet-tokens-{}", std::process::id()));
    let base = free_base_port();
    let child = Command::new(env!("CARGO_BIN_EXE_relayer"))
        .args(["devnet", "--chains", "2", "--block-time", "100ms", "--dir"])
        .arg(&dir)
        .args(["--base-port", &base.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let mut tokens = std::collections::BTreeMap::new();
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line == "Ctrl-C to stop." {
            break;
        }
        if let Some(rest) = line.strip_prefix("token ") {
            let (who, token) = rest.split_once(' ').unwrap();
            assert!(!token.is_empty() && !token.contains(' '), "{line}");
            tokens.insert(who.to_owned(), token.to_owned());
        }
    }
    let seen = seen.join("\n");
    let who: Vec<&str> = tokens.keys().map(String::as_str).collect();
    assert_eq!(
        who,
        [
            "bank-a@guangdong",
            "bank-a@shaanxi",
            "bureau-a@guangdong",
            "bureau-a@shaanxi",
            "operator"
        ],
        "{seen}"
    );
    let mut distinct: Vec<&String> = tokens.values().collect();
    distinct.dedup();
    assert_eq!(distinct.len(), tokens.len(), "{seen}");

    // The printed bank-a@shaanxi token works, for bank-a's queries only;
    // the operator's reaches what the integrators' cannot.
    let api = format!("http://127.0.0.1:{}", base + 1000);
    let client = reqwest::blocking::Client::new();
    let get = |path: &str, token: &str| {
        client
            .get(format!("{api}{path}"))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    let query = get("/queries/shaanxi/guangdong/1", &tokens["bank-a@shaanxi"]);
    assert_eq!(query.status(), 200, "the devnet's query is bank-a's");
    let query: serde_json::Value = query.json().unwrap();
    assert_eq!(query["payload"]["body"]["requester"], "bank-a", "{query}");
    let theirs = get("/queries/shaanxi/guangdong/1", &tokens["bureau-a@shaanxi"]);
    assert_eq!(theirs.status(), 404);
    let chains = get("/chains", &tokens["bank-a@shaanxi"]);
    assert_eq!(chains.status(), 200);
    assert_eq!(get("/chains", "not-a-token").status(), 401);
    assert_eq!(
        get("/network/routes", &tokens["bank-a@shaanxi"]).status(),
        403
    );
    assert_eq!(get("/network/routes", &tokens["operator"]).status(), 200);
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}
