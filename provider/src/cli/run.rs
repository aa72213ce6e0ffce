//! `credit-provider run`: follow the chain and answer.

use clap::Args;
use protocol::ChainId;

use super::{ChainArgs, SchemaArg, StoreArgs, WithAgent, adapter, with_agent};
use crate::{Agent, RecordSource};

/// Arguments of `run`.
#[derive(Args)]
pub struct RunArgs {
    /// The home chain and institution.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Where the records are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The PostgreSQL schema.
    #[command(flatten)]
    pub schema: SchemaArg,
    /// `CHAIN=URL`: an RPC endpoint of a chain whose aggregation requests
    /// this provider contributes to (the request's record kinds are read
    /// there). Repeat per chain and endpoint.
    #[arg(long = "source-rpc", value_name = "CHAIN=URL")]
    pub source_rpc: Vec<String>,
}

struct Run;

impl WithAgent for Run {
    async fn call<S: RecordSource>(self, agent: Agent<S>) -> anyhow::Result<()> {
        let records = agent.records().count().await?;
        tracing::info!(institution = %agent.institution(), records, "provider agent started");
        agent.run().await?;
        Ok(())
    }
}

/// Runs the agent until it fails.
pub async fn execute(args: RunArgs) -> anyhow::Result<()> {
    let mut by_chain: std::collections::BTreeMap<ChainId, Vec<String>> = Default::default();
    for raw in &args.source_rpc {
        let (chain, url) = raw
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--source-rpc {raw:?}: expected CHAIN=URL"))?;
        let chain: ChainId = chain
            .parse()
            .map_err(|e| anyhow::anyhow!("--source-rpc {raw:?}: {e}"))?;
        by_chain.entry(chain).or_default().push(url.to_owned());
    }
    let sources = by_chain
        .iter()
        .map(|(chain, urls)| adapter(chain, urls))
        .collect::<anyhow::Result<Vec<_>>>()?;
    with_agent(&args.chain, &args.store, &args.schema, sources, Run).await
}
