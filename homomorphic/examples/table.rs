//! Builds the discrete-log table and reports its build time, its memory
//! (as counted by the table and as the process's peak RSS) and decryption
//! times across the range.
//!
//! `cargo run --release -p credit-homomorphic --example table [BITS]`
//! (BITS: baby-step bits, default `DiscreteLogTable::DEFAULT_BITS`). Linux
//! only for the RSS figures (read from /proc/self/status).

use std::time::Instant;

use homomorphic::{DiscreteLogTable, KeyPair, MAX_AMOUNT};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "n/a".to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bits = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => DiscreteLogTable::DEFAULT_BITS,
    };
    println!("RSS before: {}", status("VmRSS:"));
    let start = Instant::now();
    let table = DiscreteLogTable::with_params(bits, MAX_AMOUNT)?;
    println!("built 2^{bits} baby steps in {:.2?}", start.elapsed());
    println!(
        "table heap: {} bytes ({:.1} MiB); RSS now {}, peak {}",
        table.memory_bytes(),
        table.memory_bytes() as f64 / (1 << 20) as f64,
        status("VmRSS:"),
        status("VmHWM:")
    );

    let mut rng = StdRng::seed_from_u64(1);
    let keys = KeyPair::generate(&mut rng);
    for amount in [0, 1_000_000, 10u64.pow(9), 10u64.pow(12), MAX_AMOUNT] {
        let c = keys.public().encrypt(amount, &mut rng)?;
        let start = Instant::now();
        let decrypted = keys.secret().decrypt(&c, &table)?;
        println!("decrypt {amount:>16}: {:>10.2?}", start.elapsed());
        assert_eq!(decrypted, amount);
    }
    let over = keys.public().encrypt(MAX_AMOUNT, &mut rng)? + keys.public().encrypt(1, &mut rng)?;
    let start = Instant::now();
    let refused = keys.secret().decrypt(&over, &table);
    println!(
        "decrypt MAX_AMOUNT + 1: {:.2?} ({refused:?})",
        start.elapsed()
    );
    Ok(())
}
