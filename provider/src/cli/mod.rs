//! The `credit-provider` command line: one file per verb.

pub mod records;
pub mod run;

use std::path::PathBuf;
use std::sync::Arc;

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use protocol::{ChainId, InstitutionId};

use crate::records::{DEFAULT_SCHEMA, PostgresRecords, SledRecords};
use crate::{Agent, HomeTrust, RecordSource};

/// A data provider's agent: keeps its credit records, commits them on its
/// chain, answers credit queries sealed to the requester.
#[derive(Parser)]
#[command(name = "credit-provider", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Subcommand)]
pub enum Command {
    /// Follows the chain and answers what it asks of this provider.
    Run(run::RunArgs),
    /// Adds or imports records.
    #[command(subcommand)]
    Records(records::RecordsCommand),
}

/// Who the provider is and which chain it is on.
#[derive(Args)]
pub struct ChainArgs {
    /// The home chain's id.
    #[arg(long)]
    pub chain_id: ChainId,
    /// An RPC endpoint of the home chain (repeat for failover).
    #[arg(long = "rpc", required = true)]
    pub rpc: Vec<String>,
    /// The institution's key file (the chain's format: JSON with name,
    /// public_key, secret_key).
    #[arg(long)]
    pub key: PathBuf,
    /// The institution's id on the chain.
    #[arg(long)]
    pub institution: InstitutionId,
    /// The height of the block the agent trusts the chain from (its
    /// operator's anchor, read off a node it runs or trusts; never from an
    /// endpoint it does not).
    #[arg(long)]
    pub trust_height: String,
    /// The header hash of that block (64 hex digits).
    #[arg(long)]
    pub trust_hash: String,
}

impl ChainArgs {
    /// The operator's anchor, checked.
    pub fn trust(&self) -> anyhow::Result<HomeTrust> {
        Ok(HomeTrust::parse(&self.trust_height, &self.trust_hash)?)
    }
}

/// Where the records are kept: one of the two.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct StoreArgs {
    /// An embedded store in this directory (created if missing).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// A PostgreSQL database (`postgres://user@host:port/db`).
    #[arg(long)]
    pub postgres: Option<String>,
}

/// The PostgreSQL schema, when `--postgres` is used.
#[derive(Args)]
pub struct SchemaArg {
    /// The schema the tables are in (created if missing).
    #[arg(long, default_value = DEFAULT_SCHEMA)]
    pub postgres_schema: String,
}

/// The adapter of `chain_id` over `rpc`.
pub fn adapter(chain_id: &ChainId, rpc: &[String]) -> anyhow::Result<Arc<dyn ChainAdapter>> {
    let adapter = CreditChainAdapter::new(chain_id.clone(), rpc.to_vec(), RpcOptions::default())
        .with_context(|| format!("RPC endpoints of chain {chain_id}"))?;
    Ok(Arc::new(adapter))
}

/// Something to do with an agent, whichever its store.
pub trait WithAgent {
    /// Does it.
    fn call<S: RecordSource>(
        self,
        agent: Agent<S>,
    ) -> impl std::future::Future<Output = anyhow::Result<()>> + Send;
}

/// Builds the agent of `chain` and `store` and hands it to `f`.
pub async fn with_agent(
    chain: &ChainArgs,
    store: &StoreArgs,
    schema: &SchemaArg,
    f: impl WithAgent,
) -> anyhow::Result<()> {
    let trust = chain.trust()?;
    let key = crate::signer::read_key_file(&chain.key)?;
    let home = adapter(&chain.chain_id, &chain.rpc)?;
    fn build<S: RecordSource>(
        home: &Arc<dyn ChainAdapter>,
        chain: &ChainArgs,
        key: &ed25519_dalek::SigningKey,
        trust: HomeTrust,
        records: S,
    ) -> Agent<S> {
        Agent::new(
            home.clone(),
            chain.institution.clone(),
            key.clone(),
            records,
            trust,
        )
    }
    match (&store.store, &store.postgres) {
        (Some(dir), _) => {
            let records = SledRecords::open(dir)?;
            f.call(build(&home, chain, &key, trust, records)).await
        }
        (None, Some(url)) => {
            let records = PostgresRecords::connect(url, &schema.postgres_schema).await?;
            f.call(build(&home, chain, &key, trust, records)).await
        }
        (None, None) => anyhow::bail!("give --store DIR or --postgres URL"),
    }
}
