//! `relayer light-client verify`: verify a credit-chain light block offline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use light_clients::credit_chain::{
    Options, OptionsError, TrustThreshold, TrustedState, Verdict, verify,
};
use protocol::{LightBlock, Time};
use serde_json::json;

/// Exit statuses of `light-client verify`, one per verdict.
pub mod exit {
    /// The header verified.
    pub const SUCCESS: u8 = 0;
    /// Validly signed, but too little trust to skip to it.
    pub const NOT_ENOUGH_TRUST: u8 = 1;
    /// The header must not be trusted.
    pub const INVALID: u8 = 2;
    /// An input could not be read or parsed.
    pub const MALFORMED: u8 = 3;
}

/// `relayer light-client ...`
#[derive(Debug, Subcommand)]
pub enum LightClientCommand {
    /// Verify an untrusted credit-chain light block against a trusted state;
    /// prints the verdict as JSON. Exit 0 success, 1 not enough trust,
    /// 2 invalid, 3 malformed input.
    Verify(VerifyArgs),
}

/// Arguments of `light-client verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trusted state JSON: `{header, validators, next_validators}` or a light
    /// block; its validator sets must be the ones its header names.
    #[arg(long)]
    pub trusted: PathBuf,
    /// Untrusted light block JSON: `{signed_header: {header, commit}, validators, next_validators}`.
    #[arg(long)]
    pub untrusted: PathBuf,
    /// The time to verify at (RFC 3339); defaults to the system clock.
    #[arg(long)]
    pub now: Option<String>,
    /// Fraction of the trusted validator set that must sign a skipped-to header.
    #[arg(long, default_value = "1/3")]
    pub trust_threshold: String,
    /// How long a trusted header stays usable, e.g. `14d`, `36h`; more than
    /// zero, at most a year.
    #[arg(long, default_value = "14d")]
    pub trusting_period: String,
    /// How far ahead of `now` a header time may be, e.g. `10s`; at most an
    /// hour, and below the trusting period.
    #[arg(long, default_value = "10s")]
    pub clock_drift: String,
}

/// Runs `light-client ...`.
pub fn run(cmd: LightClientCommand) -> ExitCode {
    match cmd {
        LightClientCommand::Verify(args) => {
            let (report, code) = match verify_files(&args) {
                Ok(v) => v,
                Err(reason) => (
                    json!({ "verdict": "malformed", "reason": reason }),
                    exit::MALFORMED,
                ),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ExitCode::from(code)
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {what} file {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{what} file {}: {e}", path.display()))
}

fn duration(flag: &str, value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("--{flag} {value:?}: {e}"))
}

pub(crate) fn system_now() -> Result<Time, String> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("system clock before 1970: {e}"))?;
    u64::try_from(since.as_nanos())
        .map(Time::from_unix_nanos)
        .map_err(|_| "system clock out of range".to_owned())
}

/// Reads and checks every input, then verifies; `Err` means malformed input.
fn verify_files(args: &VerifyArgs) -> Result<(serde_json::Value, u8), String> {
    let trust_threshold: TrustThreshold = args
        .trust_threshold
        .parse()
        .map_err(|e| format!("--trust-threshold: {e}"))?;
    let options = Options::new(
        trust_threshold,
        duration("trusting-period", &args.trusting_period)?,
        duration("clock-drift", &args.clock_drift)?,
    )
    .map_err(|e| {
        let flag = match e {
            OptionsError::ZeroTrustingPeriod | OptionsError::TrustingPeriodTooLong { .. } => {
                "--trusting-period"
            }
            OptionsError::ClockDriftTooLarge { .. }
            | OptionsError::ClockDriftNotBelowTrustingPeriod { .. } => "--clock-drift",
        };
        format!("{flag}: {e}")
    })?;
    let now = match &args.now {
        Some(s) => s.parse::<Time>().map_err(|e| format!("--now: {e}"))?,
        None => system_now()?,
    };
    let trusted: TrustedState = read_json(&args.trusted, "trusted")?;
    let untrusted: LightBlock = read_json(&args.untrusted, "untrusted")?;
    let header = untrusted.header();
    let base = json!({
        "chain_id": header.chain_id,
        "height": header.height,
        "header_hash": header.hash(),
        "trusted_height": trusted.header.height,
        "now": now,
    });
    let (mut report, code) = match verify(&trusted, &untrusted, &options, now) {
        Verdict::Success => (json!({ "verdict": "success" }), exit::SUCCESS),
        Verdict::NotEnoughTrust(tally) => (
            json!({
                "verdict": "not_enough_trust",
                "reason": tally.to_string(),
                "signed_power": tally.tallied,
                "total_power": tally.total,
                "trust_threshold": tally.threshold,
            }),
            exit::NOT_ENOUGH_TRUST,
        ),
        Verdict::Invalid(e) => (
            json!({ "verdict": "invalid", "reason": e.to_string() }),
            exit::INVALID,
        ),
    };
    if let (Some(r), Some(b)) = (report.as_object_mut(), base.as_object()) {
        r.extend(b.clone());
    }
    Ok((report, code))
}
