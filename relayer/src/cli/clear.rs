//! `relayer clear packets`: clear everything pending once, without starting
//! the daemon — engine passes (scan every chain, then move every path's
//! pending packets) until a pass moves nothing or [`MAX_PASSES`] is hit,
//! with a progress line on a terminal and a summary at the end.
//!
//! Exit 0 when no pass failed anything (packets still waiting, e.g. for a
//! timeout, may remain: the summary counts them), 1 when some step failed
//! (the errors are listed; the daemon would retry them), 3 when the
//! configuration is invalid.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use relayer::engine::RelayReport;
use relayer::metrics::Metrics;
use relayer::store::Store;
use serde_json::json;

use super::EXIT_MALFORMED;
use super::chains::load_config;
use super::start::build_engine;

/// Most engine passes one `clear packets` makes.
pub const MAX_PASSES: usize = 50;

/// Exit status when some relay step failed.
pub const EXIT_ERRORS: u8 = 1;

/// `relayer clear ...`
#[derive(Debug, Subcommand)]
pub enum ClearCommand {
    /// Relay every pending packet now (receive, acknowledge, time out),
    /// then print what was done. Do not run it beside `relayer start` on
    /// the same store (the store is locked).
    Packets(PacketsArgs),
}

/// Arguments of `clear packets`.
#[derive(Debug, Args)]
pub struct PacketsArgs {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Print the summary as JSON on stdout instead (no progress line).
    #[arg(long)]
    pub json: bool,
}

/// Packets not yet final in the store.
fn pending(store: &Store) -> Option<u64> {
    store.counts().ok().map(|c| c.committed + c.received)
}

/// Whether a pass moved any packet.
fn moved(report: &RelayReport) -> bool {
    report.received + report.acknowledged + report.timed_out > 0
}

/// Runs `clear ...`.
pub fn run(cmd: ClearCommand) -> anyhow::Result<ExitCode> {
    let ClearCommand::Packets(args) = cmd;
    let Some(config) = load_config(&args.config) else {
        return Ok(ExitCode::from(EXIT_MALFORMED));
    };
    let engine = build_engine(
        &config,
        &Metrics::new(),
        &relayer::clock::SystemClock::shared(),
    )?;
    let progress = !args.json && std::io::stderr().is_terminal();
    let runtime = tokio::runtime::Runtime::new()?;
    let mut total = RelayReport::default();
    let mut passes = 0;
    while passes < MAX_PASSES {
        passes += 1;
        let report = runtime.block_on(engine.step());
        let again = moved(&report);
        total.merge(report);
        if progress {
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\rpass {passes}: {} pending, {} received, {} acknowledged, {} timed out, {} errors   ",
                pending(engine.store()).map_or_else(|| "?".to_owned(), |n| n.to_string()),
                total.received,
                total.acknowledged,
                total.timed_out,
                total.errors.len()
            );
            let _ = err.flush();
        }
        if !again {
            break;
        }
    }
    if progress {
        eprintln!();
    }
    let left = pending(engine.store());
    let bound_hit = passes == MAX_PASSES;
    if args.json {
        let body = json!({
            "passes": passes,
            "bound_hit": bound_hit,
            "received": total.received,
            "acknowledged": total.acknowledged,
            "timed_out": total.timed_out,
            "errors": total.errors,
            "pending": left,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
    } else {
        if total.received + total.acknowledged + total.timed_out == 0 && total.errors.is_empty() {
            println!("nothing to clear");
        }
        println!(
            "received: {}\nacknowledged: {}\ntimed out: {}\nerrors: {}\nstill pending: {}\npasses: {passes}{}",
            total.received,
            total.acknowledged,
            total.timed_out,
            total.errors.len(),
            left.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
            if bound_hit {
                " (the bound; run again)"
            } else {
                ""
            }
        );
        for e in &total.errors {
            println!("  error: {e}");
        }
    }
    Ok(if total.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERRORS)
    })
}
