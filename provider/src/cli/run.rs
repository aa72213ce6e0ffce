//! `credit-provider run`: follow the chain and answer.

use clap::Args;

use super::{ChainArgs, SchemaArg, StoreArgs, WithAgent, with_agent};
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
}

struct Run;

impl WithAgent for Run {
    async fn call<S: RecordSource>(self, agent: Agent<S>) -> anyhow::Result<()> {
        let records = agent.records().count().await?;
        tracing::info!(
            institution = %agent.institution(),
            records,
            trust = %agent.trust(),
            "provider agent started"
        );
        agent.run().await?;
        Ok(())
    }
}

/// Runs the agent until it fails.
pub async fn execute(args: RunArgs) -> anyhow::Result<()> {
    with_agent(&args.chain, &args.store, &args.schema, Run).await
}
