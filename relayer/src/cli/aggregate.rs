//! `relayer aggregate submit|status|result|run`: a joint credit total
//! across chains under homomorphic encryption (the multi-head lending
//! check), which neither the requester nor the regulator can open alone.
//!
//! `submit` keeps the requester's share of the joint key in a key share
//! file (`--share-file`, generated on first use, mode 0600; the secret never
//! leaves it), registers its public share on the requester's chain with a
//! proof of knowledge (`register_aggregation_key`) unless that share is
//! registered already, reads the regulator's share from the chain (proven),
//! and sends one aggregation request per destination under the joint key
//! `Y_requester + Y_regulator`. Each destination's data providers encrypt
//! their own amounts (in fen, as two limbs) under it, with a proof that each
//! ciphertext is well formed, which the destination verifies before adding
//! it; the destination acknowledges with the encrypted partial sum.
//!
//! `result` waits (`--wait`) until every destination answered or timed out,
//! closes the aggregation (`close_aggregation`: the requester's chain writes
//! the sum of the partials as the aggregation's total), reads the total
//! (proven), asks the regulator's supervision node (`--supervisor URL`) for
//! its decryption share of it, verifies the share's DLEQ proof against the
//! regulator's share registered on the chain, and combines it with its own:
//! it prints the total, exactly to the fen up to 10^12 yuan, and "N providers
//! on M chains". No chain's partial is ever decrypted: the supervision node
//! releases a share only for a closed total read from the chain's state
//! through its own light client, and only when it sums at least its
//! threshold of providers. A chain without a partial is reported missing,
//! never counted as zero. `run` is `submit` then `result`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use anyhow::{Context, bail};
use borsh::BorshDeserialize;
use clap::{Args, Subcommand};
use credit_chain::app::aggregation::{KeyShareOwner, decryption_share_context, key_share_context};
use ed25519_dalek::SigningKey;
use homomorphic::{DiscreteLogTable, FenCiphertext, KeyShare, PublicKey as ElGamalKey};
use protocol::tx::TxBody;
use protocol::{
    AggregationPartial, AggregationRequest, AggregationTotal, ChainId, EnterpriseId, Hash,
    InstitutionId, RecordKind, state_keys,
};
use relayer::supervisor::release::{KeyShareFile, ReleasedShare};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `relayer aggregate ...`
#[derive(Debug, Subcommand)]
pub enum AggregateCommand {
    /// Register the requester's key share (once) and send an aggregation
    /// request under the joint key to each destination chain; writes the
    /// aggregation file. Exit 0 sent, 1 a chain refused, 3 malformed input.
    Submit(SubmitArgs),
    /// Which destination chains have answered. Exit 0 all answered, 1 some
    /// pending.
    Status(StatusArgs),
    /// Close the aggregation once every chain answered or timed out, get
    /// the supervision node's decryption share of the total, verify it and
    /// decrypt. Exit 0 every chain answered, 1 some chains missing (the
    /// total of those that did is still printed) or still open at the end
    /// of --wait, 2 the share or the total does not verify or decrypt, 4
    /// the supervision node refused (e.g. fewer providers than its
    /// threshold).
    Result(ResultArgs),
    /// `submit`, then `result`.
    Run(RunArgs),
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
    /// The requester's key share file: its share of every joint
    /// aggregation key (generated and registered on first use; keep it: it
    /// is needed to decrypt every aggregation sent under it).
    #[arg(long)]
    pub share_file: PathBuf,
    /// Where to write the aggregation file (its id, chains, joint key).
    #[arg(long)]
    pub key_out: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `aggregate status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// RPC endpoint of the requester's chain.
    #[arg(long)]
    pub rpc: String,
    /// The aggregation file `aggregate submit` wrote.
    #[arg(long)]
    pub key_file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `aggregate result`.
#[derive(Debug, Args)]
pub struct ResultArgs {
    /// RPC endpoint of the requester's chain.
    #[arg(long)]
    pub rpc: String,
    /// The aggregation file `aggregate submit` wrote.
    #[arg(long)]
    pub key_file: PathBuf,
    /// The requester's key file (signs `close_aggregation`).
    #[arg(long)]
    pub requester_key: PathBuf,
    /// The regulator's supervision node (its API's base URL).
    #[arg(long)]
    pub supervisor: String,
    /// How long to wait for every chain to answer or time out.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
    /// Largest total, in fen, to search for when decrypting (smaller is
    /// faster); default: the scheme's maximum (2^40 − 1 yuan).
    #[arg(long)]
    pub max_total: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `aggregate run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// As `submit`.
    #[command(flatten)]
    pub submit: SubmitArgs,
    /// The regulator's supervision node (its API's base URL).
    #[arg(long)]
    pub supervisor: String,
    /// How long to wait for every chain to answer or time out.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
    /// As `result`.
    #[arg(long)]
    pub max_total: Option<u64>,
}

/// What `submit` keeps locally about one aggregation (no secret: the
/// requester's share stays in its share file).
#[derive(Debug, Serialize, Deserialize)]
pub struct AggregationKeyFile {
    /// The aggregation.
    pub aggregation_id: Hash,
    /// The requester's chain.
    pub chain: ChainId,
    /// The requester.
    pub requester: InstitutionId,
    /// The destinations asked.
    pub destinations: Vec<ChainId>,
    /// The requester's key share file.
    pub share_file: PathBuf,
    /// The joint key the requests were sent under.
    pub joint_key: ElGamalKey,
    /// The regulator's share it was formed with.
    pub regulator_share: ElGamalKey,
}

/// Runs `aggregate ...`.
pub fn run(cmd: AggregateCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    match cmd {
        AggregateCommand::Submit(args) => runtime.block_on(submit(args)),
        AggregateCommand::Status(args) => runtime.block_on(status(args)),
        AggregateCommand::Result(args) => runtime.block_on(result(args)),
        AggregateCommand::Run(args) => runtime.block_on(async {
            let result_args = ResultArgs {
                rpc: args.submit.rpc.clone(),
                key_file: args.submit.key_out.clone(),
                requester_key: args.submit.requester_key.clone(),
                supervisor: args.supervisor,
                wait: args.wait,
                max_total: args.max_total,
                json: args.submit.json,
            };
            let sent = submit(args.submit).await?;
            if sent != ExitCode::SUCCESS {
                return Ok(sent);
            }
            result(result_args).await
        }),
    }
}

/// A 32-byte key share stored on the chain, proven.
async fn stored_share(
    chain: &CreditChainAdapter,
    key: &[u8],
) -> anyhow::Result<Option<ElGamalKey>> {
    match chain.state(key).await?.value {
        None => Ok(None),
        Some(bytes) => {
            let raw: [u8; 32] = borsh::from_slice(&bytes)
                .with_context(|| format!("{} does not decode", state_keys::show(key)))?;
            Ok(Some(ElGamalKey::from_bytes(&raw).with_context(|| {
                format!("{} is not a key share", state_keys::show(key))
            })?))
        }
    }
}

/// Registers `share` as `requester`'s on `chain` unless it already is.
async fn register_share(
    chain: &CreditChainAdapter,
    chain_id: &ChainId,
    requester: &InstitutionId,
    signer: &SigningKey,
    share: &KeyShare,
) -> anyhow::Result<()> {
    let registered = stored_share(chain, &state_keys::aggregation_key(requester)).await?;
    if registered.as_ref() == Some(share.public()) {
        return Ok(());
    }
    let context = key_share_context(chain_id, KeyShareOwner::Institution(requester));
    let proof = share.prove_knowledge(&context, &mut rand::rngs::OsRng);
    relayer::devnet::submit(
        chain,
        signer,
        TxBody::RegisterAggregationKey {
            key: share.public().to_bytes().to_vec(),
            proof: proof.to_bytes().to_vec(),
        },
    )
    .await
    .context("cannot register the aggregation key share")?;
    Ok(())
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
    let share = KeyShareFile::read_or_create(&args.share_file)?;
    register_share(&chain, &args.chain, &args.requester, &requester_key, &share).await?;
    let regulator = stored_share(&chain, &state_keys::regulator_aggregation_key())
        .await?
        .with_context(|| {
            format!(
                "no regulator aggregation key share is set on {}: governance must set it (set_regulator_aggregation_key) before any aggregation",
                args.chain
            )
        })?;
    let joint = homomorphic::joint_key(share.public(), &regulator)?;
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
        requester: args.requester.clone(),
        destinations: destinations.iter().map(|(c, _)| c.clone()).collect(),
        share_file: args.share_file.clone(),
        joint_key: joint,
        regulator_share: regulator,
    };
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
            encryption_key: joint.to_bytes().to_vec(),
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
            "  under the joint key {joint} (your share in {}, the regulator's {regulator}); aggregation file {}",
            args.share_file.display(),
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

fn read_aggregation_file(path: &PathBuf) -> anyhow::Result<AggregationKeyFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an aggregation file", path.display()))
}

/// The partials received so far, proven at one height of the requester's
/// chain: a report and whether every destination answered.
async fn partials(
    chain: &CreditChainAdapter,
    file: &AggregationKeyFile,
) -> anyhow::Result<(serde_json::Value, bool)> {
    let keys: Vec<Vec<u8>> = file
        .destinations
        .iter()
        .map(|d| state_keys::aggregation_partial(&file.aggregation_id, d))
        .collect();
    // One proven read at one height (the adapter checks every proof
    // against the self-verified block).
    let proven = chain.states(&keys).await?;
    let mut missing = Vec::new();
    let mut per_chain = Vec::new();
    let (mut providers, mut expected) = (0u32, 0u32);
    for (destination, entry) in file.destinations.iter().zip(&proven.entries) {
        match &entry.value {
            None => missing.push(destination.to_string()),
            Some(bytes) => {
                let p = AggregationPartial::try_from_slice(bytes)
                    .with_context(|| format!("the partial of {destination} does not decode"))?;
                providers = providers.saturating_add(p.providers);
                expected = expected.saturating_add(p.expected);
                per_chain.push(json!({
                    "chain": destination,
                    "providers": p.providers,
                    "expected": p.expected,
                    "missing_providers": p.missing,
                }));
            }
        }
    }
    let all = missing.is_empty();
    Ok((
        json!({
            "aggregation_id": file.aggregation_id,
            "proven_at_height": proven.height,
            "chains_asked": file.destinations.len(),
            "chains_answered": file.destinations.len() - missing.len(),
            "not_answered": missing,
            "providers_contributed": providers,
            "providers_expected": expected,
            "chains": per_chain,
        }),
        all,
    ))
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let file = read_aggregation_file(&args.key_file)?;
    let chain = adapter(&args.rpc, &file.chain)?;
    let (report, all) = partials(&chain, &file).await?;
    if args.json {
        println!("{report}");
    } else {
        println!(
            "aggregation {}: {} of {} chains answered, {} of {} providers contributed",
            file.aggregation_id,
            report["chains_answered"],
            report["chains_asked"],
            report["providers_contributed"],
            report["providers_expected"]
        );
    }
    Ok(ExitCode::from(if all { 0 } else { 1 }))
}

/// The chain's code for an aggregation closed meanwhile (read it above next
/// time round).
const ALREADY_CLOSED: u32 = 124;
/// The chain's code for an aggregation with a chain that has neither
/// answered nor timed out yet.
const STILL_OPEN: u32 = 125;

/// Closes the aggregation (once every chain answered or timed out),
/// waiting up to `wait`; the total, proven, or `None` if still open.
async fn close(
    chain: &CreditChainAdapter,
    file: &AggregationKeyFile,
    signer: &SigningKey,
    wait: Duration,
) -> anyhow::Result<Option<AggregationTotal>> {
    let key = state_keys::aggregation_total(&file.aggregation_id);
    let started = std::time::Instant::now();
    loop {
        if let Some(bytes) = chain.state(&key).await?.value {
            return Ok(Some(
                AggregationTotal::try_from_slice(&bytes).context("the total does not decode")?,
            ));
        }
        let public = credit_chain::app::auth::public_key(signer);
        let nonce = relayer::devnet::next_nonce(chain, &public).await?;
        let tx = credit_chain::app::auth::sign_transaction(
            signer,
            file.chain.clone(),
            nonce,
            TxBody::CloseAggregation {
                aggregation_id: file.aggregation_id,
            },
        );
        let outcome = chain.submit(&tx).await?;
        match outcome.code {
            0 | ALREADY_CLOSED => continue,
            STILL_OPEN if started.elapsed() < wait => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            STILL_OPEN => return Ok(None),
            code => bail!(
                "close_aggregation refused: code {code} ({}): {}",
                outcome.codespace,
                outcome.message
            ),
        }
    }
}

fn table(max_total: Option<u64>) -> anyhow::Result<&'static DiscreteLogTable> {
    Ok(match max_total {
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
    })
}

async fn result(args: ResultArgs) -> anyhow::Result<ExitCode> {
    let file = read_aggregation_file(&args.key_file)?;
    let share = KeyShareFile::read(&file.share_file)?;
    let signer = credit_chain::keys::KeyFile::read(&args.requester_key)?.signing_key()?;
    let chain = adapter(&args.rpc, &file.chain)?;
    let Some(total) = close(&chain, &file, &signer, args.wait).await? else {
        let (report, _) = partials(&chain, &file).await?;
        eprintln!(
            "aggregation {} is still open: not every chain answered or timed out yet ({report})",
            file.aggregation_id
        );
        return Ok(ExitCode::from(1));
    };
    let ciphertext = match FenCiphertext::from_bytes(&total.ciphertext) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: the total on {} is not a valid ciphertext: {e}",
                file.chain
            );
            return Ok(ExitCode::from(2));
        }
    };
    // The regulator's share the chain formed the joint key with: the one
    // the released share must prove against (whatever the node claims).
    let regulator = stored_share(&chain, &state_keys::regulator_aggregation_key())
        .await?
        .context("no regulator aggregation key share on the chain")?;
    if homomorphic::joint_key(share.public(), &regulator)?
        .to_bytes()
        .as_slice()
        != total.encryption_key.as_slice()
    {
        eprintln!(
            "error: the total is under key {}, not the joint key of {} and the regulator's current share {regulator} (was a share re-registered since?)",
            hex::encode(&total.encryption_key),
            share.public()
        );
        return Ok(ExitCode::from(2));
    }
    let url = format!(
        "{}/aggregations/{}/{}/decryption-share",
        args.supervisor.trim_end_matches('/'),
        file.chain,
        file.aggregation_id
    );
    let response = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach the supervision node at {}", args.supervisor))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        eprintln!("the supervision node refused its decryption share ({status}): {body}");
        return Ok(ExitCode::from(4));
    }
    let released: ReleasedShare = serde_json::from_str(&body).with_context(|| {
        format!("the supervision node's answer is not a released share: {body}")
    })?;
    let context = decryption_share_context(&file.chain, &file.aggregation_id);
    let verified = match released
        .decryption_share
        .verify(&regulator, &ciphertext, &context)
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: the supervision node's decryption share does not verify: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let value = match homomorphic::combine(&ciphertext, &share, &verified, table(args.max_total)?) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: the total does not decrypt: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let yuan = format!(
        "{}.{:02}",
        value / homomorphic::FEN_PER_YUAN,
        value % homomorphic::FEN_PER_YUAN
    );
    let report = json!({
        "aggregation_id": file.aggregation_id,
        "total": value,
        "total_yuan": yuan,
        "providers": total.providers,
        "chains": total.chains,
        "missing_chains": total.missing_chains,
        "closed_at": total.closed_at,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "aggregation {}: total {value} fen = {yuan} yuan: {} providers on {} chains",
            file.aggregation_id,
            total.providers,
            total.chains.len()
        );
        if !total.missing_chains.is_empty() {
            let names: Vec<&str> = total.missing_chains.iter().map(ChainId::as_str).collect();
            println!("  MISSING (not counted, not zero): {}", names.join(", "));
        }
    }
    Ok(ExitCode::from(if total.missing_chains.is_empty() {
        0
    } else {
        1
    }))
}
