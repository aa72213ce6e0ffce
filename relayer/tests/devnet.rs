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
