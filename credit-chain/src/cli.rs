//! The `credit-chain` command line, also embedded in `relayer credit-chain`
//! so a devnet needs one binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use protocol::ChainId;

use crate::genesis::{InitOptions, init};
use crate::node::Chain;
use crate::rpc::{self, MempoolLimits, Node};

/// The reference regional credit chain node.
#[derive(Debug, Parser)]
#[command(name = "credit-chain", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The node's verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
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
        /// Most transactions the mempool holds; a submission beyond is
        /// refused with 503.
        #[arg(long, default_value_t = MempoolLimits::default().max_txs as u64, value_parser = clap::value_parser!(u64).range(1..))]
        mempool_max_txs: u64,
        /// Most bytes of encoded transactions the mempool holds.
        #[arg(long, default_value_t = MempoolLimits::default().max_bytes as u64, value_parser = clap::value_parser!(u64).range(1..))]
        mempool_max_bytes: u64,
    },
}

/// Runs one command.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
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
        Command::Start {
            home,
            rpc: addr,
            mempool_max_txs,
            mempool_max_bytes,
        } => {
            let limits = MempoolLimits {
                max_txs: usize::try_from(mempool_max_txs).unwrap_or(usize::MAX),
                max_bytes: usize::try_from(mempool_max_bytes).unwrap_or(usize::MAX),
            };
            let chain = Chain::open(&home)?;
            let block_time = chain.genesis().block_time()?;
            if let Some(tip) = chain.tip() {
                tracing::info!(height = %tip.light_block.height(), "resuming from the last committed block");
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(rpc::serve(
                Node::with_limits(chain, limits),
                addr,
                block_time,
            ))
        }
    }
}
