//! Command-line interface: one file per operator verb.

pub mod aggregate;
pub mod attestation;
pub mod audit;
pub mod bench;
pub mod bench_aggregate;
pub mod bench_mesh;
pub mod chains;
pub mod clear;
pub mod config;
pub mod conformance;
pub mod devnet;
pub mod fees;
pub mod governance;
pub mod health;
pub mod light_client;
pub mod network;
pub mod query;
pub mod register;
pub mod start;
pub mod supervise;
pub mod trust;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for input the command could not read or parse.
pub const EXIT_MALFORMED: u8 = 3;

/// Loads a daemon's configuration all or nothing: every problem printed
/// and the exit status for malformed input, or the configuration with its
/// warnings printed.
pub fn load_or_refuse<C>(
    path: &std::path::Path,
    load: impl FnOnce(&std::path::Path) -> Result<C, relayer::config::ConfigErrors>,
    warnings: impl FnOnce(&C) -> &[relayer::config::ConfigError],
) -> Result<C, ExitCode> {
    match load(path) {
        Ok(config) => {
            for w in warnings(&config) {
                eprintln!("warning: {w}");
            }
            Ok(config)
        }
        Err(errors) => {
            eprintln!(
                "refusing to start: {} has problems:\n{errors}",
                path.display()
            );
            Err(ExitCode::from(EXIT_MALFORMED))
        }
    }
}

/// The credit interchain relayer.
#[derive(Debug, Parser)]
#[command(name = "relayer", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the configured chains: reachability, heights, trusted heights.
    #[command(subcommand)]
    Chains(chains::ChainsCommand),
    /// Govern the network's registry of chains through a relayer's API:
    /// approve proposals, freeze or deregister chains, list the registry.
    #[command(subcommand)]
    Governance(governance::GovernanceCommand),
    /// Relay everything pending once, without the daemon.
    #[command(subcommand)]
    Clear(clear::ClearCommand),
    /// Check the configuration, the store, the chains and the light clients.
    #[command(name = "health-check")]
    HealthCheck(health::HealthArgs),
    /// Submit credit queries and fetch their status and results through a
    /// relayer's API (exit 0 ok, 1 not found / not yet, 2 refused,
    /// 3 malformed input, 4 API unreachable).
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// Inspect a relayer's place in the mesh through its API: connected
    /// peers and the network's counters, and how each chain is routed
    /// (exit 0 ok, 1 not in a mesh, 2 refused, 3 malformed, 4 unreachable).
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Check configuration files.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Cross-chain query fees: per institution earnings and spending per
    /// period, read from every configured chain (exit 0, 3 malformed
    /// input, 4 a chain could not be read).
    #[command(subcommand)]
    Fees(fees::FeesCommand),
    /// Run light-client conformance vectors.
    #[command(subcommand)]
    Conformance(ConformanceCommand),
    /// Run N regional credit chains and a relayer on loopback, and a
    /// consent-backed cross-chain credit query end to end.
    Devnet(devnet::DevnetArgs),
    /// Benchmark the relayer end to end on a two-chain devnet.
    Bench(bench::BenchArgs),
    /// Benchmark the mesh of regional relayers: one chain and one relayer
    /// process per region (34), memory, gossip per block, query latency.
    #[command(name = "bench-mesh")]
    BenchMesh(bench_mesh::BenchMeshArgs),
    /// Benchmark joint credit totals under homomorphic encryption across N
    /// chains: aggregations/s and latency, request to decrypted total.
    #[command(name = "bench-aggregate")]
    BenchAggregate(bench_aggregate::BenchAggregateArgs),
    /// Run the relayer daemon from a configuration file.
    Start(start::StartArgs),
    /// Run the regulator's read-only supervision node: follow every chain
    /// through the mesh, keep the hash-chained audit log, anchor its
    /// checkpoints on a chain, serve the regulator's API.
    Supervise(supervise::SuperviseArgs),
    /// The reference credit chain node, embedded (as `credit-chain`).
    #[command(subcommand, name = "credit-chain")]
    CreditChain(credit_chain::cli::Command),
    /// Verify credit-chain light blocks offline.
    #[command(subcommand, name = "light-client")]
    LightClient(light_client::LightClientCommand),
    /// Fetch an attestation's proof bundle from its chain, or check one
    /// offline (signature, expiry, issuer suspension, proofs, header).
    #[command(subcommand)]
    Attestation(attestation::AttestationCommand),
    /// The regulator's audit log in a store: verify it is intact (exit 0,
    /// 1 tampered, 3 malformed) or export entries as CSV or JSON.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// A joint credit total across chains under homomorphic encryption:
    /// submit the requests, follow them, decrypt the total.
    #[command(subcommand)]
    Aggregate(aggregate::AggregateCommand),
}

/// `relayer conformance ...`
#[derive(Debug, Subcommand)]
pub enum ConformanceCommand {
    /// Run every CometBFT vector file (single_step and bisection formats) under DIR.
    Cometbft {
        /// Directory searched recursively for `*.json` vector files.
        dir: PathBuf,
    },
}

/// Runs one parsed command line.
/// Clears `dir` for a fresh run of `relayer {command}` and returns its
/// canonical path. Only a directory that command made (it holds the marker
/// `.relayer-{command}`), or an empty one, is ever cleared: a mistyped
/// `--dir` never deletes anything else.
pub(crate) fn fresh_run_dir(
    dir: &std::path::Path,
    command: &str,
) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let marker = dir.join(format!(".relayer-{command}"));
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !marker.exists() {
            anyhow::bail!(
                "{} exists and was not made by `relayer {command}`; pass another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        &marker,
        format!("made by `relayer {command}`; cleared at its next run\n"),
    )?;
    Ok(dir.canonicalize()?)
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Chains(cmd) => chains::run(cmd),
        Command::Governance(cmd) => Ok(governance::run(cmd)),
        Command::Clear(cmd) => clear::run(cmd),
        Command::HealthCheck(args) => health::run(args),
        Command::Query(cmd) => Ok(query::run(cmd)),
        Command::Network(cmd) => Ok(network::run(cmd)),
        Command::Config(cmd) => Ok(config::run(cmd)),
        Command::Fees(cmd) => fees::run(cmd),
        Command::Conformance(ConformanceCommand::Cometbft { dir }) => {
            conformance::run_cometbft(&dir)
        }
        Command::LightClient(cmd) => Ok(light_client::run(cmd)),
        Command::Attestation(cmd) => Ok(attestation::run(cmd)),
        Command::Audit(cmd) => Ok(audit::run(cmd)),
        Command::Aggregate(cmd) => aggregate::run(cmd),
        Command::Devnet(args) => devnet::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchMesh(args) => bench_mesh::run(args),
        Command::BenchAggregate(args) => bench_aggregate::run(args),
        Command::Start(args) => start::run(args),
        Command::Supervise(args) => supervise::run(args),
        Command::CreditChain(cmd) => credit_chain::cli::run(cmd).map(|()| ExitCode::SUCCESS),
    }
}
