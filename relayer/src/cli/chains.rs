//! `relayer chains list`: every configured chain as the relayer sees it —
//! reachable or not, latest height and time, the height the relayer's store
//! trusts, and the health of each RPC endpoint. Talks to the chains
//! directly through the configuration (no running daemon needed).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adapters::{ChainAdapter, CreditChainAdapter, EndpointStats, RpcOptions};
use clap::{Args, Subcommand};
use protocol::{ChainId, Time};
use relayer::config::{ChainConfig, Config};
use relayer::store::Store;
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;

use super::EXIT_MALFORMED;

/// The least time a chain gets to answer its status before it counts as
/// unreachable (its `rpc_timeout` when longer).
const MIN_STATUS_WAIT: Duration = Duration::from_secs(3);

/// `relayer chains ...`
#[derive(Debug, Subcommand)]
pub enum ChainsCommand {
    /// Per configured chain: reachable, latest height and time, the store's
    /// trusted height, endpoint health. Exit 0 (even when a chain is down;
    /// see `health-check`), 3 when the configuration is invalid.
    List(ListArgs),
    /// Propose a new chain to the network's registry, signed by its operator
    /// (see config/chains/example.toml). Exit 0 proposed, 2 refused, 3
    /// malformed, 4 API unreachable.
    Register(super::register::RegisterArgs),
    /// Set the header a chain's light client starts from (kept in the
    /// store; overrides the config's `trust_anchor`). Exit 0 set, 1 store
    /// unavailable (stop the relayer first), 3 malformed.
    Trust(super::trust::TrustArgs),
}

/// Arguments of `chains list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Print `{"chains": [...]}` as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One chain as surveyed.
#[derive(Clone, Debug, Serialize)]
pub struct ChainSurvey {
    /// The chain id.
    pub id: ChainId,
    /// Whether an endpoint answered its status.
    pub reachable: bool,
    /// Its latest height, when reachable.
    pub latest_height: Option<u64>,
    /// Its latest block time, when reachable.
    pub latest_time: Option<Time>,
    /// Why it is unreachable.
    pub error: Option<String>,
    /// The height the relayer's store trusts (its light client's latest
    /// verified block), if any.
    pub trusted_height: Option<u64>,
    /// Per RPC endpoint: requests, errors, whether it is in use.
    pub endpoints: Vec<EndpointStats>,
}

/// The adapter for one configured chain, built as `relayer start` does.
pub fn adapter(config: &Config, chain: &ChainConfig) -> anyhow::Result<Arc<dyn ChainAdapter>> {
    Ok(Arc::new(credit_chain_adapter(config, chain)?))
}

/// [`adapter`] as its concrete type, for the chain's unproven reports
/// (ledger, fee events) that are not part of the [`ChainAdapter`] trait.
pub fn credit_chain_adapter(
    config: &Config,
    chain: &ChainConfig,
) -> anyhow::Result<CreditChainAdapter> {
    let options = RpcOptions {
        timeout: chain.rpc_timeout,
        poll_interval: config.relay.poll_interval,
        ..RpcOptions::default()
    };
    let endpoints = chain
        .rpc
        .iter()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .collect();
    Ok(CreditChainAdapter::new(
        chain.id.clone(),
        endpoints,
        options,
    )?)
}

/// Asks every chain for its status at once; `store`, when given, supplies
/// the trusted heights. Sorted by chain id.
pub async fn survey(
    chains: Vec<(Arc<dyn ChainAdapter>, Duration)>,
    store: Option<&Store>,
) -> Vec<ChainSurvey> {
    let mut tasks = JoinSet::new();
    for (adapter, wait) in chains {
        let wait = wait.max(MIN_STATUS_WAIT);
        tasks.spawn(async move {
            let status = match tokio::time::timeout(wait, adapter.status()).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {wait:?}")),
            };
            (adapter, status)
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let Ok((adapter, status)) = done else {
            continue;
        };
        let id = adapter.chain_id().clone();
        let trusted_height = store
            .and_then(|s| s.trusted_block(&id).ok().flatten())
            .map(|b| b.height().value());
        out.push(ChainSurvey {
            reachable: status.is_ok(),
            latest_height: status.as_ref().ok().map(|s| s.latest_height.value()),
            latest_time: status.as_ref().ok().map(|s| s.latest_time),
            error: status.err(),
            trusted_height,
            endpoints: adapter.endpoint_stats(),
            id,
        });
    }
    out.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    out
}

/// Loads a configuration, printing its problems; `None` when invalid.
pub fn load_config(path: &Path) -> Option<Config> {
    match Config::load(path) {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            Some(config)
        }
        Err(errors) => {
            eprintln!("{} has problems:\n{errors}", path.display());
            None
        }
    }
}

/// Runs `chains ...`.
pub fn run(cmd: ChainsCommand) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        ChainsCommand::List(args) => args,
        ChainsCommand::Register(args) => return Ok(super::register::run(args)),
        ChainsCommand::Trust(args) => return Ok(super::trust::run(args)),
    };
    let Some(config) = load_config(&args.config) else {
        return Ok(ExitCode::from(EXIT_MALFORMED));
    };
    let mut chains = Vec::new();
    for chain in &config.chains {
        chains.push((adapter(&config, chain)?, chain.rpc_timeout));
    }
    // The store is read only when it exists and is not held by a running
    // daemon (sled locks it); trusted heights are then unknown.
    let (store, store_note) = if config.store.path.exists() {
        match Store::open(&config.store.path) {
            Ok(s) => (Some(s), None),
            Err(e) => (
                None,
                Some(format!(
                    "store {} not readable (a running relayer holds it?): {e}",
                    config.store.path.display()
                )),
            ),
        }
    } else {
        (
            None,
            Some(format!("no store yet at {}", config.store.path.display())),
        )
    };
    let surveyed = tokio::runtime::Runtime::new()?.block_on(survey(chains, store.as_ref()));
    if args.json {
        let report = json!({ "chains": surveyed, "store_note": store_note });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<11} {:>10} {:<32} {:>8}  endpoints",
        "CHAIN", "REACHABLE", "HEIGHT", "TIME", "TRUSTED"
    );
    for c in &surveyed {
        let dash = || "-".to_owned();
        let endpoints: Vec<String> = c
            .endpoints
            .iter()
            .map(|e| format!("{} ({} req, {} err)", e.url, e.requests, e.errors))
            .collect();
        println!(
            "{:<20} {:<11} {:>10} {:<32} {:>8}  {}",
            c.id.as_str(),
            if c.reachable { "yes" } else { "NO" },
            c.latest_height.map_or_else(dash, |h| h.to_string()),
            c.latest_time.map_or_else(dash, |t| t.to_string()),
            c.trusted_height.map_or_else(dash, |h| h.to_string()),
            endpoints.join(", ")
        );
        if let Some(e) = &c.error {
            println!("  {}: {e}", c.id.as_str());
        }
    }
    if let Some(note) = store_note {
        println!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}
