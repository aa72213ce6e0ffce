//! `credit-provider`: a data provider's agent (see the library docs).

use clap::Parser;
use provider::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run(args) => provider::cli::run::execute(args).await,
        Command::Records(command) => provider::cli::records::execute(command).await,
    }
}
