//! `relayer governance approve|freeze|deregister|list`: the network's
//! governors at work, through a running relayer's API (`/registry`).
//!
//! A proposal is decided once `k` of the `n` governance keys approved it
//! (see `relayer::registry`). `freeze` and `deregister` sign the proposal
//! with the governor's key and post it, then post the same governor's
//! approval of it (a proposal does not count as its proposer's approval).
//!
//! Exit statuses, as for `relayer query`: 0 done, 1 not found (an unknown
//! chain), 2 refused (a bad signature, not a governor, a closed proposal, a
//! store failure), 3 malformed input (a key file, an id, a request the API
//! calls malformed), 4 the API is unreachable.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;
use protocol::{ChainId, Proposal, ProposalId};
use relayer::registry::signing::{sign_approval, sign_proposal};
use serde_json::{Value, json};

use super::query::exit;

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `relayer governance ...`
#[derive(Debug, Subcommand)]
pub enum GovernanceCommand {
    /// Approve a pending proposal with a governance key. Exit 0 counted,
    /// kept or decided, 2 refused, 3 malformed, 4 API unreachable.
    Approve(ApproveArgs),
    /// Propose to freeze a registered chain, and approve it.
    Freeze(ChangeArgs),
    /// Propose to remove a registered chain, and approve it.
    Deregister(ChangeArgs),
    /// Show the registry: chains, pending proposals and their approvals.
    List(ListArgs),
    /// Write a new ed25519 key file (mode 0600) and print its public key: a
    /// governance key for the genesis, or an operator key.
    Keygen(KeygenArgs),
}

/// Arguments of `governance keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Whose key (stored in the file).
    #[arg(long)]
    pub name: String,
    /// The file to create (refused when it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Where the API is and how to authenticate.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The relayer API's base URL, e.g. `http://127.0.0.1:3000`.
    #[arg(long, value_name = "URL")]
    pub api: String,
    /// A bearer token of the API.
    #[arg(long)]
    pub token: String,
    /// Print the API's JSON answer on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `governance approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The proposal id (64 hex digits, as `governance list` shows it).
    pub id: String,
    /// The governor's key file (`{"name", "public_key", "secret_key"}` JSON,
    /// as `governance keygen` or `credit-chain init` write it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The API and token.
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `governance freeze` and `governance deregister`.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// The chain id.
    pub chain: String,
    /// Why (recorded in the registry; 1 to 1024 bytes). Proposing the same
    /// change again later needs another reason.
    #[arg(long)]
    pub reason: String,
    /// The governor's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Only propose; do not also approve with the same key.
    #[arg(long)]
    pub no_approve: bool,
    /// The API and token.
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `governance list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The API and token.
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Why a command failed, with its exit status.
pub struct Failure {
    /// The exit status.
    pub code: u8,
    /// What went wrong.
    pub message: String,
    /// The API's error body, when it answered one.
    pub body: Option<Value>,
}

impl Failure {
    /// A failure without an API body.
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            body: None,
        }
    }
}

/// Turns an outcome into the exit status, printing the failure.
pub fn finish(json_output: bool, outcome: Result<u8, Failure>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if json_output {
                let body = failure
                    .body
                    .clone()
                    .unwrap_or_else(|| json!({ "error": failure.message }));
                println!("{}", pretty(&body));
            }
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Pretty JSON.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Reads a key file and its signing key.
pub fn read_key(path: &Path) -> Result<SigningKey, Failure> {
    credit_chain::keys::KeyFile::read(path)
        .and_then(|k| k.signing_key())
        .map_err(|e| Failure::new(exit::MALFORMED, format!("{e:#}")))
}

/// Sends a request to the API and reads the JSON answer: `Ok` for 2xx,
/// else a failure with the API's message and the exit status its HTTP
/// status maps to (404 → 1, 400 → 3, others → 2).
pub fn call(
    api: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Failure> {
    let base = url::Url::parse(api)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            Failure::new(
                exit::MALFORMED,
                format!("API URL {api:?} is not an http(s) URL"),
            )
        })?;
    let url = format!("{}{path}", base.as_str().trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| Failure::new(exit::REFUSED, format!("HTTP client: {e}")))?;
    let mut request = client.request(method, &url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().map_err(|e| {
        Failure::new(
            exit::UNREACHABLE,
            format!("the relayer API at {api} is unreachable: {e}"),
        )
    })?;
    let status = response.status();
    let text = response.text().map_err(|e| {
        Failure::new(
            exit::UNREACHABLE,
            format!("reading the answer of {url}: {e}"),
        )
    })?;
    let value: Option<Value> = serde_json::from_str(&text).ok();
    if status.is_success() {
        return value.ok_or_else(|| {
            Failure::new(
                exit::REFUSED,
                format!("{url} answered {status} with a body that is not JSON"),
            )
        });
    }
    let message = value
        .as_ref()
        .and_then(|v| v["error"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| text.trim().chars().take(200).collect());
    let code = match status.as_u16() {
        404 => exit::NOT_FOUND,
        400 => exit::MALFORMED,
        _ => exit::REFUSED,
    };
    Err(Failure {
        code,
        message: format!("the API answered {status}: {message}"),
        body: value,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Runs `governance ...`.
pub fn run(cmd: GovernanceCommand) -> ExitCode {
    match &cmd {
        GovernanceCommand::Approve(args) => finish(args.api.json, approve(args)),
        GovernanceCommand::Freeze(args) => finish(args.api.json, change(args, true)),
        GovernanceCommand::Deregister(args) => finish(args.api.json, change(args, false)),
        GovernanceCommand::List(args) => finish(args.api.json, list(args)),
        GovernanceCommand::Keygen(args) => finish(false, keygen(args)),
    }
}

fn keygen(args: &KeygenArgs) -> Result<u8, Failure> {
    let key = credit_chain::keys::KeyFile::generate(&args.name);
    key.write(&args.out)
        .map_err(|e| Failure::new(exit::MALFORMED, format!("{e:#}")))?;
    println!("{}", key.public_key);
    Ok(exit::OK)
}

/// One line about an approval's outcome.
fn describe_outcome(id: &str, answer: &Value) -> String {
    match answer["outcome"].as_str().unwrap_or("?") {
        "counted" => format!(
            "approval of {id} counted: {}/{} approvals",
            answer["approvals"], answer["threshold"]
        ),
        "decided" => format!(
            "approval of {id} decided it: {}",
            describe_event(&answer["event"])
        ),
        "already_counted" => format!("approval of {id} was counted already"),
        "deferred" => format!(
            "proposal {id} is not known to this relayer yet; the approval is kept and counts when it arrives"
        ),
        "already_closed" => format!(
            "proposal {id} is closed already ({})",
            answer["closure"]["closure"].as_str().unwrap_or("?")
        ),
        other => format!("approval of {id}: {other}"),
    }
}

/// One line about a decision.
pub fn describe_event(event: &Value) -> String {
    match event["event"].as_str() {
        Some("chain_accepted") => format!(
            "chain {} registered",
            event["chain_id"].as_str().unwrap_or("?")
        ),
        Some("chain_frozen") => {
            format!("chain {} frozen", event["chain_id"].as_str().unwrap_or("?"))
        }
        Some("chain_deregistered") => format!(
            "chain {} deregistered",
            event["chain_id"].as_str().unwrap_or("?")
        ),
        _ => event.to_string(),
    }
}

fn approve(args: &ApproveArgs) -> Result<u8, Failure> {
    let id: ProposalId = args
        .id
        .parse()
        .map_err(|e| Failure::new(exit::MALFORMED, format!("proposal id {:?}: {e}", args.id)))?;
    let key = read_key(&args.key)?;
    let approval = sign_approval(id, &key);
    let answer = call(
        &args.api.api,
        &args.api.token,
        reqwest::Method::POST,
        "/registry/approvals",
        Some(&to_json(&approval)),
    )?;
    if args.api.json {
        println!("{}", pretty(&answer));
    } else {
        println!("{}", describe_outcome(&args.id, &answer));
    }
    Ok(exit::OK)
}

fn change(args: &ChangeArgs, freeze: bool) -> Result<u8, Failure> {
    let chain_id: ChainId = args
        .chain
        .parse()
        .map_err(|e| Failure::new(exit::MALFORMED, format!("{e}")))?;
    let key = read_key(&args.key)?;
    let reason = args.reason.clone();
    let proposal = if freeze {
        Proposal::Freeze { chain_id, reason }
    } else {
        Proposal::Deregister { chain_id, reason }
    };
    let signed = sign_proposal(proposal, &key);
    let id = signed.id().to_string();
    let proposed = call(
        &args.api.api,
        &args.api.token,
        reqwest::Method::POST,
        "/registry/proposals",
        Some(&to_json(&signed)),
    )?;
    let approved = if args.no_approve {
        Value::Null
    } else {
        call(
            &args.api.api,
            &args.api.token,
            reqwest::Method::POST,
            "/registry/approvals",
            Some(&to_json(&sign_approval(signed.id(), &key))),
        )?
    };
    if args.api.json {
        println!(
            "{}",
            pretty(&json!({ "id": id, "proposal": proposed, "approval": approved }))
        );
        return Ok(exit::OK);
    }
    println!("proposal {id}");
    println!(
        "  {} {}: {}/{} approvals",
        signed.proposal.kind(),
        signed.proposal.chain_id(),
        proposed["approvals"],
        proposed["threshold"]
    );
    if !approved.is_null() {
        println!("  {}", describe_outcome(&id, &approved));
    }
    Ok(exit::OK)
}

fn list(args: &ListArgs) -> Result<u8, Failure> {
    let answer = call(
        &args.api.api,
        &args.api.token,
        reqwest::Method::GET,
        "/registry",
        None,
    )?;
    if args.api.json {
        println!("{}", pretty(&answer));
        return Ok(exit::OK);
    }
    let empty = Vec::new();
    println!(
        "governance: {} of {} keys",
        answer["threshold"],
        answer["governors"].as_array().map_or(0, Vec::len)
    );
    println!("{:<20} {:<8} {:<14} peers", "CHAIN", "STATUS", "TYPE");
    for c in answer["chains"].as_array().unwrap_or(&empty) {
        let peers: Vec<&str> = c["relayer_peer_ids"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{:<20} {:<8} {:<14} {}",
            c["chain_id"].as_str().unwrap_or("?"),
            c["status"].as_str().unwrap_or("?"),
            c["chain_type"].as_str().unwrap_or("?"),
            peers.join(", ")
        );
        if let Some(reason) = c["reason"].as_str() {
            println!("  frozen: {reason}");
        }
    }
    let proposals = answer["proposals"].as_array().unwrap_or(&empty);
    if proposals.is_empty() {
        println!("no pending proposal");
    }
    for p in proposals {
        println!(
            "proposal {} {} {}: {}/{} approvals",
            p["id"].as_str().unwrap_or("?"),
            p["kind"].as_str().unwrap_or("?"),
            p["chain_id"].as_str().unwrap_or("?"),
            p["approval_count"],
            p["threshold"]
        );
    }
    Ok(exit::OK)
}
