//! `relayer health-check`: is this relayer fit to run? The configuration is
//! valid, its store opens, every chain answers, and the relayer's light
//! client of every chain verifies the chain's latest block (not frozen on
//! misbehaviour, not expired). Exit 0 healthy, 1 not, naming what failed.
//! Verifying advances the store's trusted block, as the daemon would.
//!
//! The store is locked while a daemon runs: check a running relayer with
//! its API's `GET /health` instead.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use relayer::metrics::Metrics;
use serde_json::{Value, json};

use super::chains::{ChainSurvey, adapter, load_config, survey};
use super::start::build_engine;

/// Exit status of an unhealthy relayer.
pub const EXIT_UNHEALTHY: u8 = 1;

/// How long the light-client check of one chain may take.
const VERIFY_WAIT: Duration = Duration::from_secs(30);

/// Arguments of `health-check`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Print `{"healthy", "problems", "checks"}` as JSON on stdout instead.
    #[arg(long)]
    pub json: bool,
}

/// One chain's checks.
struct ChainHealth {
    survey: ChainSurvey,
    /// `Ok(trusted height)` or why the light client failed; `None` when
    /// not checked (chain unreachable, or no store).
    light_client: Option<Result<u64, String>>,
    frozen: bool,
}

/// Runs `health-check`.
pub fn run(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let Some(config) = load_config(&args.config) else {
        problems.push(format!(
            "configuration {} is invalid",
            args.config.display()
        ));
        return Ok(report(&args, false, &problems, None, &[]));
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let (store_ok, chains) = match build_engine(
        &config,
        &Metrics::new(),
        &relayer::clock::SystemClock::shared(),
    ) {
        Ok(engine) => {
            let checked = runtime.block_on(async {
                let runtimes: Vec<_> = engine.chains();
                let waits = runtimes.iter().map(|r| {
                    let wait = config
                        .chain(r.id())
                        .map_or(Duration::from_secs(5), |c| c.rpc_timeout);
                    (r.adapter().clone(), wait)
                });
                let surveyed = survey(waits.collect(), Some(engine.store())).await;
                let mut out = Vec::new();
                for s in surveyed {
                    let Some(rt) = runtimes.iter().find(|r| r.id() == &s.id) else {
                        continue;
                    };
                    let latest = s.latest_height.and_then(|h| protocol::Height::new(h).ok());
                    let light_client = match latest {
                        Some(h) => Some(
                            match tokio::time::timeout(VERIFY_WAIT, rt.verified_block(h)).await {
                                Ok(Ok(block)) => Ok(block.height().value()),
                                Ok(Err(e)) => Err(e.to_string()),
                                Err(_) => Err(format!("no verdict within {VERIFY_WAIT:?}")),
                            },
                        ),
                        None => None,
                    };
                    out.push(ChainHealth {
                        frozen: rt.is_frozen().await,
                        survey: s,
                        light_client,
                    });
                }
                out
            });
            (Ok(()), checked)
        }
        Err(e) => {
            // Still say which chains answer.
            let mut waits = Vec::new();
            for chain in &config.chains {
                waits.push((adapter(&config, chain)?, chain.rpc_timeout));
            }
            let surveyed = runtime.block_on(survey(waits, None));
            let checked = surveyed
                .into_iter()
                .map(|survey| ChainHealth {
                    survey,
                    light_client: None,
                    frozen: false,
                })
                .collect();
            (Err(format!("{e:#}")), checked)
        }
    };
    if let Err(e) = &store_ok {
        problems.push(format!("store: {e}"));
    }
    for c in &chains {
        let id = c.survey.id.as_str();
        if let Some(e) = &c.survey.error {
            problems.push(format!("chain {id} is unreachable: {e}"));
        }
        if c.frozen {
            problems.push(format!(
                "chain {id}: the relayer's light client is frozen on misbehaviour"
            ));
        } else if let Some(Err(e)) = &c.light_client {
            problems.push(format!(
                "chain {id}: the relayer's light client failed: {e}"
            ));
        }
    }
    let healthy = problems.is_empty();
    Ok(report(&args, healthy, &problems, Some(&store_ok), &chains))
}

fn report(
    args: &HealthArgs,
    healthy: bool,
    problems: &[String],
    store: Option<&Result<(), String>>,
    chains: &[ChainHealth],
) -> ExitCode {
    if args.json {
        let chains: Vec<Value> = chains
            .iter()
            .map(|c| {
                json!({
                    "id": c.survey.id,
                    "reachable": c.survey.reachable,
                    "latest_height": c.survey.latest_height,
                    "error": c.survey.error,
                    "light_client": {
                        "checked": c.light_client.is_some(),
                        "ok": matches!(c.light_client, Some(Ok(_))),
                        "trusted_height": c.light_client.as_ref().and_then(|r| r.as_ref().ok()),
                        "frozen": c.frozen,
                        "error": c.light_client.as_ref().and_then(|r| r.as_ref().err()),
                    },
                })
            })
            .collect();
        let body = json!({
            "healthy": healthy,
            "problems": problems,
            "checks": {
                "config": store.is_some(),
                "store": store.map(Result::is_ok),
                "chains": chains,
            },
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
    } else {
        let mark = |ok: bool| if ok { "ok  " } else { "FAIL" };
        println!("{} config {}", mark(store.is_some()), args.config.display());
        if let Some(store) = store {
            match store {
                Ok(()) => println!("{} store opens", mark(true)),
                Err(e) => println!("{} store: {e}", mark(false)),
            }
        }
        for c in chains {
            let id = c.survey.id.as_str();
            match (&c.survey.latest_height, &c.survey.error) {
                (Some(h), _) => println!("{} {id} reachable, height {h}", mark(true)),
                (None, e) => println!(
                    "{} {id} unreachable: {}",
                    mark(false),
                    e.as_deref().unwrap_or("no answer")
                ),
            }
            match &c.light_client {
                _ if c.frozen => println!("{} {id} light client FROZEN", mark(false)),
                Some(Ok(h)) => println!("{} {id} light client verifies height {h}", mark(true)),
                Some(Err(e)) => println!("{} {id} light client: {e}", mark(false)),
                None => {}
            }
        }
        if healthy {
            println!("healthy");
        } else {
            println!("UNHEALTHY: {}", problems.join("; "));
        }
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNHEALTHY)
    }
}
