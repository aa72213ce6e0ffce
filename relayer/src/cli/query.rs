//! `relayer query submit|status|result`: a client of a running relayer's
//! integrator API (see `relayer::api`).
//!
//! Exit statuses (the same for the three verbs):
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done: submitted, or the status / result is shown |
//! | 1 | not found, or not yet (no such query, no result yet) |
//! | 2 | the API refused or failed (unknown token, a chain refused the transaction, a chain or the store failed) |
//! | 3 | malformed input: a file or query id that does not parse, or a request the API calls malformed |
//! | 4 | the API is unreachable |
//!
//! Errors from the API are shown with their message (`{"error": ...}`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use protocol::ChainId;
use serde_json::{Value, json};

/// Exit statuses of `relayer query ...`.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// Not found, or not yet.
    pub const NOT_FOUND: u8 = 1;
    /// The API refused the request or failed serving it.
    pub const REFUSED: u8 = 2;
    /// Malformed input.
    pub const MALFORMED: u8 = crate::cli::EXIT_MALFORMED;
    /// The API is unreachable.
    pub const UNREACHABLE: u8 = 4;
}

/// `relayer query ...`
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Submit signed `send_credit_query` transactions through the API.
    /// Exit 0 committed, 2 refused, 3 malformed, 4 API unreachable.
    Submit(SubmitArgs),
    /// Show where a query is (`SOURCE/DESTINATION/SEQUENCE`).
    /// Exit 0 shown, 1 unknown query, 3 malformed id, 4 API unreachable.
    Status(StatusArgs),
    /// Fetch a query's verified result and its proof bundle.
    /// Exit 0 shown, 1 no result (yet), 3 malformed id, 4 API unreachable.
    Result(ResultArgs),
}

/// Where the API is and how to authenticate.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The relayer API's base URL, e.g. `http://127.0.0.1:3000`.
    #[arg(long, value_name = "URL")]
    pub api: String,
    /// The integrator's bearer token.
    #[arg(long)]
    pub token: String,
    /// Print the API's JSON answer on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `query submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The API and token.
    #[command(flatten)]
    pub api: ApiArgs,
    /// A signed `send_credit_query` transaction as JSON, or an array of them.
    #[arg(long, value_name = "FILE")]
    pub tx: PathBuf,
}

/// Arguments of `query status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The API and token.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The query: `SOURCE/DESTINATION/SEQUENCE`, e.g. `shaanxi/guangdong/1`.
    pub query: String,
}

/// Arguments of `query result`.
#[derive(Debug, Args)]
pub struct ResultArgs {
    /// The API and token.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The query: `SOURCE/DESTINATION/SEQUENCE`.
    pub query: String,
    /// Write the proof bundle's `trusted.json` and `untrusted.json` here,
    /// for `relayer light-client verify --trusted DIR/trusted.json
    /// --untrusted DIR/untrusted.json`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The requester's encryption key file: check the result from its
    /// proof bundle alone, open every provider's sealed answer and check
    /// each record against its commitment; prints the records.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

pub(crate) use super::governance::Failure;

/// Runs `query ...`.
pub fn run(cmd: QueryCommand) -> ExitCode {
    let (json_output, outcome) = match &cmd {
        QueryCommand::Submit(args) => (args.api.json, submit(args)),
        QueryCommand::Status(args) => (args.api.json, status(args)),
        QueryCommand::Result(args) => (args.api.json, result(args)),
    };
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

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Checks a query id `SOURCE/DESTINATION/SEQUENCE` and returns it as a path.
pub fn parse_query_id(raw: &str) -> Result<(ChainId, ChainId, u64), String> {
    let parts: Vec<&str> = raw.split('/').collect();
    let [source, destination, sequence] = parts.as_slice() else {
        return Err(format!(
            "query id {raw:?}: expected SOURCE/DESTINATION/SEQUENCE, e.g. shaanxi/guangdong/1"
        ));
    };
    let chain = |what: &str, s: &str| {
        s.parse::<ChainId>()
            .map_err(|e| format!("query id {raw:?}: {what} chain {s:?}: {e}"))
    };
    let sequence = match sequence.parse::<u64>() {
        Ok(n) if n >= 1 => n,
        _ => {
            return Err(format!(
                "query id {raw:?}: sequence {sequence:?} is not a whole number from 1"
            ));
        }
    };
    Ok((
        chain("source", source)?,
        chain("destination", destination)?,
        sequence,
    ))
}

/// Sends a request and reads the JSON answer (see [`super::governance::call`]).
fn call(
    api: &ApiArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Failure> {
    super::governance::call(&api.api, &api.token, method, path, body)
}

fn read_json(path: &Path, what: &str) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            exit::MALFORMED,
            format!("cannot read {what} {}: {e}", path.display()),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            exit::MALFORMED,
            format!("{what} {} is not JSON: {e}", path.display()),
        )
    })
}

fn submit(args: &SubmitArgs) -> Result<u8, Failure> {
    let body = read_json(&args.tx, "transaction file")?;
    let items = match &body {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    for (i, item) in items.iter().enumerate() {
        if let Err(e) = serde_json::from_value::<protocol::tx::SignedTransaction>((*item).clone()) {
            return Err(Failure::new(
                exit::MALFORMED,
                format!(
                    "{}: transaction {i} is not a signed transaction: {e}",
                    args.tx.display()
                ),
            ));
        }
    }
    let answer = call(&args.api, reqwest::Method::POST, "/queries", Some(&body))?;
    if args.api.json {
        println!("{}", pretty(&answer));
        return Ok(exit::OK);
    }
    let queries = match answer.get("queries").and_then(Value::as_array) {
        Some(many) => many.clone(),
        None => vec![answer],
    };
    for q in &queries {
        let id = &q["query"];
        println!(
            "submitted {}/{}/{} (tx {}, height {})",
            id["source"].as_str().unwrap_or("?"),
            id["destination"].as_str().unwrap_or("?"),
            id["sequence"],
            q["tx"].as_str().unwrap_or("?"),
            q["height"]
        );
    }
    Ok(exit::OK)
}

fn query_path(raw: &str) -> Result<String, Failure> {
    let (source, destination, sequence) =
        parse_query_id(raw).map_err(|e| Failure::new(exit::MALFORMED, e))?;
    Ok(format!("/queries/{source}/{destination}/{sequence}"))
}

fn status(args: &StatusArgs) -> Result<u8, Failure> {
    let path = query_path(&args.query)?;
    let answer = call(&args.api, reqwest::Method::GET, &path, None)?;
    if args.api.json {
        println!("{}", pretty(&answer));
        return Ok(exit::OK);
    }
    println!(
        "query {}: {}",
        args.query,
        answer["state"].as_str().unwrap_or("?")
    );
    println!("  committed at:    {}", answer["committed_at"]);
    if let Some(h) = answer["received_height"].as_u64() {
        println!("  received at:     {h}");
    }
    println!("  failed attempts: {}", answer["failed_attempts"]);
    if let Some(e) = answer["last_error"].as_str() {
        println!("  last error:      {e}");
    }
    if answer["result"].is_string() {
        println!("  result ready:    relayer query result {}", args.query);
    }
    Ok(exit::OK)
}

fn result(args: &ResultArgs) -> Result<u8, Failure> {
    let path = format!("{}/result", query_path(&args.query)?);
    let answer = call(&args.api, reqwest::Method::GET, &path, None)?;
    if let Some(dir) = &args.out {
        write_bundle(dir, &answer["bundle"])?;
    }
    if args.api.json {
        // With a key, the opened records are the JSON printed.
        if args.key.is_none() {
            println!("{}", pretty(&answer));
        }
    } else {
        println!(
            "query {}: {}",
            args.query,
            answer["state"].as_str().unwrap_or("?")
        );
        println!("acknowledgement: {}", pretty(&answer["acknowledgement"]));
        println!(
            "proven on {} at height {}",
            answer["bundle"]["chain_id"].as_str().unwrap_or("?"),
            answer["bundle"]["height"]
        );
    }
    if let Some(file) = &args.key {
        open_and_print(file, &answer, args.api.json)?;
    }
    if let Some(dir) = &args.out {
        eprintln!(
            "wrote {0}/trusted.json and {0}/untrusted.json; check with: relayer light-client verify --trusted {0}/trusted.json --untrusted {0}/untrusted.json",
            dir.display()
        );
    }
    Ok(exit::OK)
}

/// Checks `answer` from its bundle, opens it with the key in `file` and
/// prints the records (JSON with `--json`).
fn open_and_print(file: &Path, answer: &Value, json_output: bool) -> Result<(), Failure> {
    use relayer::answers::{EncryptionKeyFile, open_result};
    let (_, key) =
        EncryptionKeyFile::read(file).map_err(|e| Failure::new(exit::MALFORMED, e.to_string()))?;
    let opened = open_result(&key, answer, relayer::engine::wall_clock())
        .map_err(|e| Failure::new(exit::REFUSED, e.to_string()))?;
    if json_output {
        let body = json!({
            "query": answer["query"],
            "proven_at": opened.proven_at.height(),
            "opened": opened.answers,
            "missing": opened.response.missing,
        });
        println!("{}", pretty(&body));
        return Ok(());
    }
    println!(
        "opened and checked against {} height {} ({:?}):",
        opened.proven_at.header().chain_id,
        opened.proven_at.height(),
        opened.response.outcome
    );
    for answer in &opened.answers {
        for r in &answer.records {
            println!("  {}", relayer::devnet::show_record(r));
        }
    }
    if opened.answers.is_empty() && opened.response.missing.is_empty() {
        println!("  no record");
    }
    for p in &opened.response.missing {
        println!("  provider {p} did not answer before the deadline");
    }
    Ok(())
}

/// Writes the bundle's trusted block and proof block for offline checking.
fn write_bundle(dir: &Path, bundle: &Value) -> Result<(), Failure> {
    let (trusted, untrusted) = (&bundle["trusted"], &bundle["light_block"]);
    if !trusted.is_object() || !untrusted.is_object() {
        return Err(Failure::new(
            exit::REFUSED,
            "the API's answer has no proof bundle (bundle.trusted, bundle.light_block)",
        ));
    }
    let fail = |e: std::io::Error| {
        Failure::new(
            exit::MALFORMED,
            format!("cannot write to {}: {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    std::fs::write(dir.join("trusted.json"), pretty(trusted)).map_err(fail)?;
    std::fs::write(dir.join("untrusted.json"), pretty(untrusted)).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ids_are_checked() {
        assert!(parse_query_id("shaanxi/guangdong/1").is_ok());
        for bad in [
            "shaanxi/guangdong",
            "a/b/c/d",
            "shaanxi/guangdong/0",
            "shaanxi/guangdong/x",
            "Bad Id/guangdong/1",
        ] {
            assert!(parse_query_id(bad).is_err(), "{bad}");
        }
    }
}
