//! `relayer config validate`: check a configuration file without starting
//! anything, reporting every problem with its location.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use relayer::config::{Config, ConfigError};
use serde_json::json;

use super::EXIT_MALFORMED;

/// `relayer config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file: prints `config OK: N chains, M paths`
    /// (exit 0) or every problem as `location: problem`, one per line
    /// (exit 3). Warnings do not fail validation.
    Validate(ValidateArgs),
}

/// Arguments of `config validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The configuration file (TOML), e.g. `config/relayer.toml`.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Print `{"ok", "errors", "warnings"}` as JSON on stdout instead.
    #[arg(long)]
    pub json: bool,
}

/// Runs `config ...`.
pub fn run(cmd: ConfigCommand) -> ExitCode {
    match cmd {
        ConfigCommand::Validate(args) => validate(&args),
    }
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let result = Config::load(&args.config);
    let (errors, warnings): (&[ConfigError], &[ConfigError]) = match &result {
        Ok(config) => (&[], &config.warnings),
        Err(errors) => (&errors.0, &[]),
    };
    if args.json {
        let mut report = json!({
            "ok": result.is_ok(),
            "errors": errors,
            "warnings": warnings,
        });
        if let Ok(config) = &result {
            report["chains"] = json!(config.chains.len());
            report["paths"] = json!(config.paths.len());
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        match &result {
            Ok(config) => println!(
                "config OK: {} chains, {} paths",
                config.chains.len(),
                config.paths.len()
            ),
            Err(errors) => {
                for error in errors {
                    println!("{error}");
                }
            }
        }
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_MALFORMED)
    }
}
