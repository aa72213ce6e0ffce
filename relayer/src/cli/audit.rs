//! `relayer audit verify|export`: the regulator's offline view of a relayer
//! store's audit log — check that no entry was altered since it was
//! appended (the hash chain, the recorded head, every checkpoint's Merkle
//! root and signature), or export entries as CSV or JSON.
//!
//! The store is sled, which one process opens at a time: the daemon must
//! not be running on it (or work on a copy of the directory).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use adapters::{CreditChainAdapter, RpcOptions};
use clap::{Args, Subcommand, ValueEnum};
use protocol::{ChainId, EnterpriseId, InstitutionId, PublicKey, Time};
use relayer::audit::{
    AuditError, AuditFilter, AuditLog, SendCompleteness, VerifiedLog, stored_completeness, to_csv,
    to_json, verify_store,
};
use relayer::store::Store;
use relayer::supervisor::{anchored_checkpoint, check_anchor, latest_anchored};
use serde_json::json;

/// Exit statuses of `audit verify`.
pub mod exit {
    /// The log holds.
    pub const OK: u8 = 0;
    /// The log was tampered with (the report names the entry).
    pub const TAMPERED: u8 = 1;
    /// The log holds but misses sends: below a source chain's proven next
    /// send sequence, some have no entry (the report names them).
    pub const INCOMPLETE: u8 = 2;
    /// An input could not be read or parsed (no store, a locked store, a
    /// bad or missing regulator key).
    pub const MALFORMED: u8 = super::super::EXIT_MALFORMED;
}

/// `relayer audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check a store's audit log: every entry's hash link and sequence, the
    /// recorded head, every checkpoint's Merkle root and signature (by the
    /// regulator's key, --regulator-key), every send the supervision node
    /// knows was made. Exit 0 intact and complete, 1 tampered (naming the
    /// first altered entry), 2 intact but missing sends (naming them), 3
    /// malformed input, no --regulator-key or an unreadable store.
    Verify(VerifyArgs),
    /// Export a store's audit log entries, filtered, as CSV or JSON on
    /// stdout. Exit 0, or 3 on bad input or an unreadable store.
    Export(ExportArgs),
}

/// Arguments of `audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The relayer's store directory (the daemon must not be running).
    #[arg(long)]
    pub store: PathBuf,
    /// The regulator's ed25519 public key (hex), required: every checkpoint
    /// must be signed by it (a checkpoint is never trusted for the key it
    /// names itself).
    #[arg(long)]
    pub regulator_key: Option<String>,
    /// Also check the checkpoints anchored on a chain (the regulator's
    /// `anchor_audit_checkpoint`s) through this RPC endpoint: the latest
    /// anchored root must be the root of the log's entries up to it, and
    /// each stored checkpoint must be the one anchored. Needs --chain.
    #[arg(long, requires = "chain")]
    pub chain_rpc: Option<url::Url>,
    /// The id of the chain at --chain-rpc.
    #[arg(long, requires = "chain_rpc")]
    pub chain: Option<ChainId>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180, with a header row.
    Csv,
    /// An array of entries with their hashes.
    Json,
}

/// Arguments of `audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The relayer's store directory (the daemon must not be running).
    #[arg(long)]
    pub store: PathBuf,
    /// The output format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Only entries about this enterprise (unified social credit code).
    #[arg(long)]
    pub enterprise: Option<EnterpriseId>,
    /// Only entries requested (or issued) by this institution.
    #[arg(long)]
    pub institution: Option<InstitutionId>,
    /// Only entries from or to this chain.
    #[arg(long)]
    pub chain: Option<ChainId>,
    /// Only entries at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<Time>,
    /// Only entries before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<Time>,
}

/// Runs `relayer audit ...`.
pub fn run(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Verify(args) => verify(&args),
        AuditCommand::Export(args) => export(&args),
    }
}

/// Opens an existing store, saying so when the daemon holds it.
fn open_existing(dir: &Path) -> Result<Store, String> {
    if !dir.join("db").is_file() || !dir.join("conf").is_file() {
        return Err(format!(
            "no relayer store at {} (expected sled's `db` and `conf` files there)",
            dir.display()
        ));
    }
    Store::open(dir).map_err(|e| {
        let text = e.to_string();
        if text.contains("could not acquire lock") || text.contains("WouldBlock") {
            format!(
                "the store at {} is locked by another process: stop the relayer daemon using it \
                 (or copy the directory and verify the copy), then try again",
                dir.display()
            )
        } else {
            format!("cannot open the store at {}: {text}", dir.display())
        }
    })
}

fn malformed(json_out: bool, message: &str) -> ExitCode {
    if json_out {
        println!("{}", json!({ "status": "malformed", "error": message }));
    }
    eprintln!("error: {message}");
    ExitCode::from(exit::MALFORMED)
}

fn verify(args: &VerifyArgs) -> ExitCode {
    let regulator = match args.regulator_key.as_deref().map(str::parse::<PublicKey>) {
        None => {
            return malformed(
                args.json,
                "--regulator-key is required: checkpoints are checked against the regulator's \
                 key (hex), never against the key a checkpoint names itself",
            );
        }
        Some(Ok(key)) => Some(key),
        Some(Err(e)) => return malformed(args.json, &format!("--regulator-key: {e}")),
    };
    let store = match open_existing(&args.store) {
        Ok(store) => store,
        Err(message) => return malformed(args.json, &message),
    };
    match verify_store(&store, regulator.as_ref()) {
        Err(e) => malformed(args.json, &format!("reading the audit log: {e}")),
        Ok(Ok((verified, log))) => {
            if let (Some(rpc), Some(chain)) = (&args.chain_rpc, &args.chain) {
                let checked = tokio::runtime::Runtime::new()
                    .map_err(|e| e.to_string())
                    .and_then(|rt| {
                        rt.block_on(check_anchored(&store, &log, rpc, chain, regulator.as_ref()))
                    });
                match checked {
                    Ok(Ok(note)) => {
                        if !args.json {
                            println!("{note}");
                        }
                    }
                    Ok(Err(tampered)) => {
                        if args.json {
                            println!("{}", json!({ "status": "tampered", "error": tampered }));
                        } else {
                            println!("TAMPERED: {tampered}");
                        }
                        return ExitCode::from(exit::TAMPERED);
                    }
                    Err(e) => return malformed(args.json, &format!("--chain-rpc {rpc}: {e}")),
                }
            }
            let gaps: Vec<SendCompleteness> = match stored_completeness(&store) {
                Ok(records) => records
                    .into_iter()
                    .filter(SendCompleteness::has_gaps)
                    .collect(),
                Err(e) => {
                    return malformed(
                        args.json,
                        &format!("reading the audit log's completeness: {e}"),
                    );
                }
            };
            report_ok(&verified, &gaps, args.json);
            if gaps.is_empty() {
                ExitCode::from(exit::OK)
            } else {
                ExitCode::from(exit::INCOMPLETE)
            }
        }
        Ok(Err(e)) => {
            report_tampered(&e, args.json);
            ExitCode::from(exit::TAMPERED)
        }
    }
}

/// Checks the checkpoints anchored on `chain` against the verified `log`:
/// `Err` is a failure to read the chain, `Ok(Err)` tampering (named),
/// `Ok(Ok)` what was checked.
async fn check_anchored(
    store: &Store,
    log: &AuditLog,
    rpc: &url::Url,
    chain: &ChainId,
    regulator: Option<&PublicKey>,
) -> Result<Result<String, String>, String> {
    let adapter = CreditChainAdapter::new(
        chain.clone(),
        vec![rpc.as_str().trim_end_matches('/').to_owned()],
        RpcOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let Some(latest) = latest_anchored(&adapter).await.map_err(|e| e.to_string())? else {
        return Ok(Ok(format!("no checkpoint anchored on {chain} yet")));
    };
    let mut checked = Vec::new();
    let stored = store.checkpoints().map_err(|e| e.to_string())?;
    let mut uptos: Vec<u64> = stored.iter().map(|c| c.checkpoint.upto).collect();
    if !uptos.contains(&latest) {
        uptos.push(latest);
    }
    for upto in uptos {
        let Some(anchor) = anchored_checkpoint(&adapter, upto)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        if let Some(key) = regulator
            && anchor.regulator != *key
        {
            return Ok(Err(format!(
                "the checkpoint anchored on {chain} up to entry {upto} was anchored by {}, not the regulator {key}",
                anchor.regulator
            )));
        }
        let root = match log.root(upto) {
            Ok(root) => root,
            Err(e) => return Ok(Err(format!("anchored on {chain}: {e}"))),
        };
        if let Err(e) = check_anchor(&anchor, &root) {
            return Ok(Err(format!("anchored on {chain}: {e}")));
        }
        if let Some(s) = stored.iter().find(|c| c.checkpoint.upto == upto)
            && (s.checkpoint.merkle_root != anchor.merkle_root
                || s.checkpoint.head_hash != anchor.head_hash)
        {
            return Ok(Err(format!(
                "the stored checkpoint up to entry {upto} is not the one anchored on {chain}"
            )));
        }
        checked.push(upto);
    }
    Ok(Ok(format!(
        "anchored on {chain}: {} checkpoints match the log (latest up to entry {latest})",
        checked.len()
    )))
}

fn report_ok(v: &VerifiedLog, gaps: &[SendCompleteness], json_out: bool) {
    let last = v.last_checkpoint.as_ref().map(|c| &c.checkpoint);
    if json_out {
        println!(
            "{}",
            json!({
                "status": if gaps.is_empty() { "ok" } else { "incomplete" },
                "gaps": gaps,
                "entries": v.entries,
                "head": v.head,
                "checkpoints": v.checkpoints,
                "last_checkpoint": v.last_checkpoint,
                "regulator_pinned": v.regulator_pinned,
            })
        );
        return;
    }
    let head = v.head.map_or_else(
        || "none (empty log)".to_owned(),
        |h| format!("entry {} {}", h.sequence, h.hash),
    );
    println!("OK: {} entries, head {head}", v.entries);
    match last {
        Some(c) => println!(
            "last checkpoint: up to entry {} at {}, root {} ({} checkpoints checked{})",
            c.upto,
            c.time,
            c.merkle_root,
            v.checkpoints,
            if v.regulator_pinned {
                " against the regulator's key"
            } else {
                ""
            }
        ),
        None => println!("no checkpoint yet"),
    }
    for gap in gaps {
        println!("INCOMPLETE: {}", gap.describe());
    }
}

fn report_tampered(e: &AuditError, json_out: bool) {
    if json_out {
        println!(
            "{}",
            json!({
                "status": "tampered",
                "entry": e.tampered_entry(),
                "error": e.to_string(),
            })
        );
        return;
    }
    match e.tampered_entry() {
        Some(entry) => println!("TAMPERED: entry {entry}: {e}"),
        None => println!("TAMPERED: {e}"),
    }
}

fn export(args: &ExportArgs) -> ExitCode {
    let store = match open_existing(&args.store) {
        Ok(store) => store,
        Err(message) => return malformed(false, &message),
    };
    let filter = AuditFilter {
        enterprise: args.enterprise.clone(),
        institution: args.institution.clone(),
        chain: args.chain.clone(),
        since: args.since,
        until: args.until,
    };
    let entries = match store.audit_entries(..) {
        Ok(entries) => entries,
        Err(e) => return malformed(false, &format!("reading the audit log: {e}")),
    };
    let kept: Vec<_> = filter.apply(entries).collect();
    let text = match args.format {
        ExportFormat::Csv => to_csv(&kept),
        ExportFormat::Json => format!("{:#}\n", to_json(&kept)),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("error: writing the export: {e}");
        return ExitCode::from(exit::MALFORMED);
    }
    ExitCode::SUCCESS
}
