//! `credit-chain`: the reference regional credit chain node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use credit_chain::genesis::{InitOptions, init};
use credit_chain::node::Chain;
use credit_chain::rpc::{self, Node};
use protocol::ChainId;

/// The reference regional credit chain node.
#[derive(Debug, Parser)]
#[command(name = "credit-chain", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new chain's genesis and keys (mode 0600) into --home.
    Init {
        /// Home directory of the chain.
        #[arg(long)]
        home: PathBuf,
        /// Chain id: lowercase letters, digits and '-', 3-48 characters.
        #[arg(long)]
        chain_id: ChainId,
        /// Number of validators (their keys all live in this home).
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Time between blocks.
        #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
        block_time: Duration,
    },
    /// Run the chain: produce blocks and serve the RPC.
    Start {
        /// Home directory of the chain.
        #[arg(long)]
        home: PathBuf,
        /// RPC listen address.
        #[arg(long, default_value = "127.0.0.1:26657")]
        rpc: SocketAddr,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init {
            home,
            chain_id,
            validators,
            block_time,
        } => {
            let genesis = init(
                &home,
                &InitOptions {
                    chain_id,
                    validators,
                    block_time,
                    genesis_time: rpc::now(),
                },
            )?;
            println!(
                "initialised chain {} in {} with {} validators (validator set {})",
                genesis.chain_id,
                home.display(),
                genesis.validators.len(),
                genesis.validators.hash()
            );
            Ok(())
        }
        Command::Start { home, rpc: addr } => {
            let chain = Chain::open(&home)?;
            let block_time = chain.genesis().block_time()?;
            if let Some(tip) = chain.tip() {
                tracing::info!(height = %tip.light_block.height(), "resuming from the last committed block");
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(rpc::serve(Node::new(chain), addr, block_time))
        }
    }
}
