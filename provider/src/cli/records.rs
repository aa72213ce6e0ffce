//! `credit-provider records add|import|count`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use protocol::CreditRecord;

use super::{ChainArgs, SchemaArg, StoreArgs, WithAgent, with_agent};
use crate::{Agent, RecordSource};

/// The most bytes a records file may have.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// What to do with records.
#[derive(Subcommand)]
pub enum RecordsCommand {
    /// Salts, stores and commits records, each in a JSON file (one
    /// `CreditRecord`).
    Add(AddArgs),
    /// Migration: salts, stores and commits every record of a JSON list of
    /// plaintext `CreditRecord`s (as exported from a chain that kept
    /// records in its state). Safe to run again on the same file.
    Import(ImportArgs),
}

/// Arguments of `records add`.
#[derive(Args)]
pub struct AddArgs {
    /// The home chain and institution.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Where the records are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The PostgreSQL schema.
    #[command(flatten)]
    pub schema: SchemaArg,
    /// A JSON file holding one record (repeat for several).
    #[arg(long = "record", required = true)]
    pub records: Vec<PathBuf>,
}

/// Arguments of `records import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The home chain and institution.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Where the records are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The PostgreSQL schema.
    #[command(flatten)]
    pub schema: SchemaArg,
    /// The JSON list of records.
    #[arg(long)]
    pub from: PathBuf,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        anyhow::bail!("{}: {size} bytes, at most {MAX_FILE_BYTES}", path.display());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
}

struct Add(Vec<CreditRecord>);

impl WithAgent for Add {
    async fn call<S: RecordSource>(self, agent: Agent<S>) -> anyhow::Result<()> {
        for record in self.0 {
            let c = agent.add_record(record).await?;
            // Digest and public fields only: the amount stays home.
            println!("{} {} {:?}", c.digest, c.enterprise, c.kind);
        }
        Ok(())
    }
}

struct Import(Vec<CreditRecord>);

impl WithAgent for Import {
    async fn call<S: RecordSource>(self, agent: Agent<S>) -> anyhow::Result<()> {
        let report = agent.import(&self.0).await?;
        println!(
            "{} records committed, {} already stored and committed",
            report.committed, report.already
        );
        Ok(())
    }
}

/// Runs `records ...`.
pub async fn execute(command: RecordsCommand) -> anyhow::Result<()> {
    match command {
        RecordsCommand::Add(args) => {
            let records = args
                .records
                .iter()
                .map(|p| read_json::<CreditRecord>(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            with_agent(&args.chain, &args.store, &args.schema, Add(records)).await
        }
        RecordsCommand::Import(args) => {
            let records: Vec<CreditRecord> = read_json(&args.from)?;
            with_agent(&args.chain, &args.store, &args.schema, Import(records)).await
        }
    }
}
