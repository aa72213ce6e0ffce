//! `relayer aggregate submit|status|result`: a joint credit total across
//! chains under homomorphic encryption (the multi-head lending check).
//!
//! `submit` makes a fresh key pair (exponential ElGamal over Ristretto255),
//! sends one aggregation request per destination chain from the requester's
//! chain, and keeps the secret key in a local file (mode 0600) — it never
//! leaves the requester. Each destination's data providers encrypt their own
//! amounts (in fen, as two limbs: yuan and fen) under the public key, each
//! with a zero-knowledge proof that its ciphertext is well formed (amount in
//! range), which the destination verifies before adding it; the destination
//! acknowledges with the encrypted partial sum. `result` reads the partials
//! the requester's chain received (proven), adds them and decrypts the total
//! alone, exactly to the fen up to 10^12 yuan. A chain without a partial is
//! reported missing, never counted as zero.
//!
//! `result` verifies nothing beyond the Merkle proofs of the partials: each
//! contribution's well-formedness proof was verified by the destination
//! chain (by all its validators) before it was added, the partial sum is
//! that chain's own deterministic computation, and the acknowledgement
//! carrying it was accepted by the requester's chain only with a Merkle
//! proof against the destination's verified header; `aggregate result`
//! reads it back with a proof against the requester's chain.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use anyhow::{Context, bail};
use borsh::BorshDeserialize;
use clap::{Args, Subcommand};
use homomorphic::{DiscreteLogTable, FenCiphertext, KeyPair};
use protocol::tx::TxBody;
use protocol::{
    AggregationPartial, AggregationRequest, ChainId, EnterpriseId, Hash, InstitutionId, RecordKind,
    state_keys,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `relayer aggregate ...`
#[derive(Debug, Subcommand)]
pub enum AggregateCommand {
    /// Send an aggregation request to each destination chain; writes the
    /// secret key file. Exit 0 sent, 1 a chain refused, 3 malformed input.
    Submit(SubmitArgs),
    /// Which destination chains have answered. Exit 0 all answered, 1 some
    /// pending.
    Status(ResultArgs),
    /// Add the partial sums and decrypt the total. Exit 0 every chain
    /// answered, 1 some chains missing (the total of those that did is
    /// still printed), 2 a partial does not decode or decrypt.
    Result(ResultArgs),
}

/// Arguments of `aggregate submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// RPC endpoint of the requester's chain.
    #[arg(long)]
    pub rpc: String,
    /// The requester's chain.
    #[arg(long)]
    pub chain: ChainId,
    /// The requester institution.
    #[arg(long)]
    pub requester: InstitutionId,
    /// Its key file.
    #[arg(long)]
    pub requester_key: PathBuf,
    /// The enterprise (unified social credit code).
    #[arg(long)]
    pub enterprise: EnterpriseId,
    /// The purpose, as in the consents.
    #[arg(long)]
    pub purpose: String,
    /// Record kinds to sum (e.g. `loan`).
    #[arg(long, value_delimiter = ',', default_value = "loan")]
    pub kinds: Vec<String>,
    /// A destination chain and the consent id that authorises the request
    /// there: `CHAIN=CONSENT_ID`; repeat per chain.
    #[arg(long = "to", required = true)]
    pub to: Vec<String>,
    /// How long the destinations' providers may contribute.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub window: Duration,
    /// Where to write the aggregation's secret key file.
    #[arg(long)]
    pub key_out: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `aggregate status|result`.
#[derive(Debug, Args)]
pub struct ResultArgs {
    /// RPC endpoint of the requester's chain.
    #[arg(long)]
    pub rpc: String,
    /// The key file `aggregate submit` wrote.
    #[arg(long)]
    pub key_file: PathBuf,
    /// Largest total, in fen, to search for when decrypting (smaller is
    /// faster); default: the scheme's maximum (2^40 − 1 yuan).
    #[arg(long)]
    pub max_total: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `submit` keeps locally: the only copy of the secret key.
#[derive(Debug, Serialize, Deserialize)]
pub struct AggregationKeyFile {
    /// The aggregation.
    pub aggregation_id: Hash,
    /// The requester's chain.
    pub chain: ChainId,
    /// The destinations asked.
    pub destinations: Vec<ChainId>,
    /// The ElGamal secret key (hex).
    pub secret_key: String,
    /// Its public key (hex), sent in the requests.
    pub public_key: String,
}

/// Runs `aggregate ...`.
pub fn run(cmd: AggregateCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    match cmd {
        AggregateCommand::Submit(args) => runtime.block_on(submit(args)),
        AggregateCommand::Status(args) => runtime.block_on(status(args, false)),
        AggregateCommand::Result(args) => runtime.block_on(status(args, true)),
    }
}

fn adapter(rpc: &str, chain: &ChainId) -> anyhow::Result<CreditChainAdapter> {
    Ok(CreditChainAdapter::new(
        chain.clone(),
        vec![rpc.trim_end_matches('/').to_owned()],
        RpcOptions::default(),
    )?)
}

async fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let mut destinations = Vec::new();
    for item in &args.to {
        let (chain, consent) = item
            .split_once('=')
            .with_context(|| format!("--to {item:?}: expected CHAIN=CONSENT_ID"))?;
        let chain: ChainId = chain.parse().with_context(|| format!("--to {item:?}"))?;
        let consent: Hash = consent.parse().with_context(|| format!("--to {item:?}"))?;
        destinations.push((chain, consent));
    }
    let kinds: Vec<RecordKind> = args
        .kinds
        .iter()
        .map(|k| {
            serde_json::from_value(json!(k)).with_context(|| format!("--kinds: unknown kind {k:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let requester_key = credit_chain::keys::KeyFile::read(&args.requester_key)?.signing_key()?;
    let chain = adapter(&args.rpc, &args.chain)?;
    let keys = KeyPair::generate(&mut rand::rngs::OsRng);
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let aggregation_id = Hash::tagged(b"credit-relayer/aggregation", &[&seed]);
    let status = chain.status().await?;
    let deadline = status
        .latest_time
        .checked_add(args.window)
        .context("--window too long")?;
    let file = AggregationKeyFile {
        aggregation_id,
        chain: args.chain.clone(),
        destinations: destinations.iter().map(|(c, _)| c.clone()).collect(),
        secret_key: hex::encode(keys.secret().to_bytes()),
        public_key: hex::encode(keys.public().to_bytes()),
    };
    // The secret key is written before anything is sent: a request whose
    // key was lost could never be decrypted.
    write_private(&args.key_out, &serde_json::to_string_pretty(&file)?)?;
    let mut sent = BTreeMap::new();
    let mut refused = BTreeMap::new();
    for (destination, consent_id) in &destinations {
        let request = AggregationRequest {
            aggregation_id,
            requester: args.requester.clone(),
            enterprise: args.enterprise.clone(),
            kinds: kinds.clone(),
            purpose: args.purpose.clone(),
            consent_id: *consent_id,
            scheme: AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255.into(),
            encryption_key: keys.public().to_bytes().to_vec(),
            contribution_deadline: deadline,
        };
        let body = TxBody::SendAggregationRequest {
            destination: destination.clone(),
            request,
            timeout_height: None,
            timeout_time: deadline.checked_add(Duration::from_secs(600)),
        };
        match relayer::devnet::submit(&chain, &requester_key, body).await {
            Ok(outcome) => {
                sent.insert(
                    destination.to_string(),
                    relayer::devnet::sent_sequence(&outcome)?,
                );
            }
            Err(e) => {
                refused.insert(destination.to_string(), e.to_string());
            }
        }
    }
    if args.json {
        println!(
            "{}",
            json!({ "aggregation_id": aggregation_id, "sent": sent, "refused": refused, "key_file": args.key_out })
        );
    } else {
        println!("aggregation {aggregation_id}");
        for (chain, sequence) in &sent {
            println!("  sent to {chain} (packet #{sequence})");
        }
        for (chain, reason) in &refused {
            println!("  NOT sent to {chain}: {reason}");
        }
        println!(
            "  secret key in {} (only there; keep it)",
            args.key_out.display()
        );
    }
    Ok(ExitCode::from(if refused.is_empty() { 0 } else { 1 }))
}

fn write_private(path: &PathBuf, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// A partial as read back, or why a chain has none.
enum Answer {
    Partial(AggregationPartial),
    Missing,
}

async fn status(args: ResultArgs, decrypt: bool) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.key_file)
        .with_context(|| format!("cannot read {}", args.key_file.display()))?;
    let file: AggregationKeyFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an aggregation key file", args.key_file.display()))?;
    let chain = adapter(&args.rpc, &file.chain)?;
    let keys: Vec<Vec<u8>> = file
        .destinations
        .iter()
        .map(|d| state_keys::aggregation_partial(&file.aggregation_id, d))
        .collect();
    // One proven read at one height (the adapter checks every proof
    // against the self-verified block).
    let proven = chain.states(&keys).await?;
    let mut answers = Vec::new();
    for (destination, entry) in file.destinations.iter().zip(&proven.entries) {
        let answer = match &entry.value {
            None => Answer::Missing,
            Some(bytes) => Answer::Partial(
                AggregationPartial::try_from_slice(bytes)
                    .with_context(|| format!("the partial of {destination} does not decode"))?,
            ),
        };
        answers.push((destination.clone(), answer));
    }
    let missing: Vec<String> = answers
        .iter()
        .filter(|(_, a)| matches!(a, Answer::Missing))
        .map(|(c, _)| c.to_string())
        .collect();
    let mut total = FenCiphertext::zero();
    let (mut providers, mut expected, mut records) = (0u32, 0u32, 0u32);
    let mut per_chain = Vec::new();
    for (destination, answer) in &answers {
        if let Answer::Partial(p) = answer {
            let c = match FenCiphertext::from_bytes(&p.ciphertext) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!(
                        "error: the partial sum of {destination} is not a valid ciphertext: {e}"
                    );
                    return Ok(ExitCode::from(2));
                }
            };
            total += c;
            providers += p.providers;
            expected += p.expected;
            records += p.records;
            per_chain.push(json!({
                "chain": destination,
                "providers": p.providers,
                "expected": p.expected,
                "missing_providers": p.missing,
            }));
        }
    }
    let answered = answers.len() - missing.len();
    let mut report = json!({
        "aggregation_id": file.aggregation_id,
        "proven_at_height": proven.height,
        "chains_asked": answers.len(),
        "chains_answered": answered,
        "missing_chains": missing,
        "providers_contributed": providers,
        "providers_expected": expected,
        "records": records,
        "chains": per_chain,
    });
    if decrypt {
        let secret = homomorphic::SecretKey::from_bytes(
            &hex::decode(&file.secret_key).context("secret_key is not hex")?,
        )
        .context("secret_key")?;
        let table = match args.max_total {
            None => DiscreteLogTable::shared(),
            Some(max_fen) => {
                // Both limbs are solved with one table: the yuan limb is at
                // most max / 100, the fen limb at most 99 per provider.
                let max = (max_fen / homomorphic::FEN_PER_YUAN).max(1 << 20);
                let bits = (64 - max.leading_zeros())
                    .div_ceil(2)
                    .clamp(DiscreteLogTable::MIN_BITS, DiscreteLogTable::MAX_BITS);
                Box::leak(Box::new(DiscreteLogTable::with_params(bits, max)?))
            }
        };
        match secret.decrypt_fen(&total, table) {
            Ok(value) => {
                report["total"] = json!(value);
                report["total_yuan"] = json!(format!(
                    "{}.{:02}",
                    value / homomorphic::FEN_PER_YUAN,
                    value % homomorphic::FEN_PER_YUAN
                ));
            }
            Err(e) => {
                eprintln!("error: the total does not decrypt: {e}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    if args.json {
        println!("{report}");
    } else {
        println!(
            "aggregation {}: {answered} of {} chains answered, {providers} of {expected} providers contributed",
            file.aggregation_id,
            answers.len()
        );
        if let Some(total) = report.get("total") {
            println!(
                "  total: {total} fen = {} yuan (over the chains that answered)",
                report["total_yuan"].as_str().unwrap_or_default()
            );
        }
        if !missing.is_empty() {
            println!("  MISSING (not counted, not zero): {}", missing.join(", "));
        }
    }
    if answered < answers.len() {
        if decrypt && answered == 0 {
            bail!("no chain answered yet");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
