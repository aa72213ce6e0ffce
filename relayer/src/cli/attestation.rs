//! `relayer attestation fetch|verify`: an issuer's attestation as a proof
//! bundle anyone can check offline — the attestation and its issuer's
//! institution record, proven against a header that a light client verifies
//! from a trusted block; the issuer's signature, the expiry and the issuer's
//! suspension are checked too.
//!
//! An offline check starts from trust the user supplies, never from the
//! bundle: `--trusted FILE` (a light block obtained out of band) or
//! `--chain-id --height --hash` (a header the user trusts). The bundle's
//! own `trusted` block is at most a hint (the block those flags name, when
//! it hashes to `--hash`); the proven block is verified from the user's
//! trust by the light client, on the user's chain.

use std::path::PathBuf;
use std::process::ExitCode;

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use borsh::BorshDeserialize;
use clap::{Args, Subcommand};
use credit_chain::app::auth::verify_signature;
use credit_chain::app::state::InstitutionRecord;
use light_clients::credit_chain::{Options, TrustedState, Verdict, verify};
use light_clients::merkle::StateProof;
use protocol::{Attestation, ChainId, Hash, Height, LightBlock, Time, state_keys};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Exit statuses of `attestation verify`.
pub mod exit {
    /// The attestation holds.
    pub const VALID: u8 = 0;
    /// It does not (a check failed; the report says which).
    pub const INVALID: u8 = 2;
    /// An input could not be read, parsed or fetched, or no trust was
    /// given (`--trusted`, or `--chain-id --height --hash`).
    pub const MALFORMED: u8 = 3;
}

/// `relayer attestation ...`
#[derive(Debug, Subcommand)]
pub enum AttestationCommand {
    /// Build the proof bundle of an attestation from its chain's RPC.
    /// Exit 0 written, 3 on any failure.
    Fetch(FetchArgs),
    /// Check a proof bundle offline, from trust you supply (`--trusted
    /// FILE`, or `--chain-id --height --hash`): the proven header verified
    /// from it, the proofs, the issuer's signature, the expiry, the issuer's
    /// suspension. Prints a JSON report; exit 0 valid, 2 invalid, 3
    /// malformed or no trust given.
    Verify(VerifyArgs),
}

/// Arguments of `attestation fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The issuer chain's RPC endpoint.
    #[arg(long)]
    pub rpc: String,
    /// The issuer chain's id.
    #[arg(long)]
    pub chain: ChainId,
    /// The attestation id (hex).
    #[arg(long)]
    pub id: Hash,
    /// Height of the block shipped in the bundle as a hint of where a
    /// verifier's trust may start (default: the chain's first block); a
    /// verifier trusts it only if it is the block it names itself.
    #[arg(long, default_value_t = 1)]
    pub trusted_height: u64,
    /// Where to write the bundle (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `attestation verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle (from `attestation fetch`).
    #[arg(long)]
    pub bundle: PathBuf,
    /// The time to check expiry and trusting period at (RFC 3339); default:
    /// the system clock.
    #[arg(long)]
    pub now: Option<String>,
    /// How long the trusted block stays usable, e.g. `14d`.
    #[arg(long, default_value = "14d")]
    pub trusting_period: String,
    /// A light block (JSON) you trust, obtained out of band: the bundle is
    /// verified from it. Or give --chain-id, --height and --hash.
    #[arg(long)]
    pub trusted: Option<PathBuf>,
    /// The chain you expect the attestation from (with --height, --hash).
    #[arg(long)]
    pub chain_id: Option<ChainId>,
    /// The height of a header you trust (with --chain-id, --hash).
    #[arg(long)]
    pub height: Option<u64>,
    /// The hash of the header you trust at --height (hex).
    #[arg(long)]
    pub hash: Option<Hash>,
}

/// What the user trusts: where an offline check starts.
#[derive(Clone, Debug)]
pub enum UserTrust {
    /// A whole light block the user obtained out of band.
    Block(Box<LightBlock>),
    /// A header the user trusts, named by chain, height and hash; the
    /// block itself may come from the bundle, if it hashes to `hash`.
    Header {
        /// The chain.
        chain_id: ChainId,
        /// The header's height.
        height: Height,
        /// The header's hash.
        hash: Hash,
    },
}

/// The message of a verify without trust (exit 3).
pub const NO_TRUST: &str = "attestation verify needs trust you supply: --trusted FILE (a light \
     block you obtained out of band), or --chain-id, --height and --hash of a header you trust; \
     the bundle's own trusted block is never trusted by itself";

impl VerifyArgs {
    /// The trust the user gave, read; `Err` names what is missing or bad.
    fn user_trust(&self) -> Result<UserTrust, String> {
        let named = [
            ("--chain-id", self.chain_id.is_some()),
            ("--height", self.height.is_some()),
            ("--hash", self.hash.is_some()),
        ];
        let given: Vec<&str> = named.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
        if self.trusted.is_some() && !given.is_empty() {
            return Err(format!(
                "--trusted and {} are two ways to give your trust: give one",
                given.join(", ")
            ));
        }
        if !given.is_empty() && given.len() < named.len() {
            let missing: Vec<&str> = named.iter().filter(|(_, g)| !*g).map(|(f, _)| *f).collect();
            return Err(format!(
                "--chain-id, --height and --hash go together: missing {}",
                missing.join(", ")
            ));
        }
        if let Some(path) = &self.trusted {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--trusted {}: {e}", path.display()))?;
            let block: LightBlock = serde_json::from_str(&text)
                .map_err(|e| format!("--trusted {}: not a light block: {e}", path.display()))?;
            return Ok(UserTrust::Block(Box::new(block)));
        }
        match (&self.chain_id, self.height, self.hash) {
            (Some(chain_id), Some(height), Some(hash)) => Ok(UserTrust::Header {
                chain_id: chain_id.clone(),
                height: Height::new(height).map_err(|e| format!("--height: {e}"))?,
                hash,
            }),
            _ => Err(NO_TRUST.to_owned()),
        }
    }
}

/// An attestation with everything needed to check it offline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttestationBundle {
    /// A block shipped as a hint: `verify` uses it only when it is the
    /// header the user trusts (`--chain-id --height --hash`), never by
    /// itself.
    pub trusted: LightBlock,
    /// The block whose state root the proofs are against.
    pub proven_at: LightBlock,
    /// The attestation.
    pub attestation: Attestation,
    /// Membership of the attestation under `attestations/<id>`.
    pub attestation_proof: StateProof,
    /// The issuer's institution record (borsh, hex).
    #[serde(with = "hex::serde")]
    pub issuer_record: Vec<u8>,
    /// Membership of the record under `institutions/<issuer>`.
    pub issuer_proof: StateProof,
}

/// Runs `attestation ...`.
pub fn run(cmd: AttestationCommand) -> ExitCode {
    match cmd {
        AttestationCommand::Fetch(args) => match fetch(&args) {
            Ok(()) => {
                println!("wrote {}", args.out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(exit::MALFORMED)
            }
        },
        AttestationCommand::Verify(args) => {
            let (report, code) = match check_file(&args) {
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

fn fetch(args: &FetchArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let adapter = CreditChainAdapter::new(
        args.chain.clone(),
        vec![args.rpc.trim_end_matches('/').to_owned()],
        RpcOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let trusted_height =
            Height::new(args.trusted_height).map_err(|e| format!("--trusted-height: {e}"))?;
        let trusted = adapter
            .light_block(trusted_height)
            .await
            .map_err(|e| e.to_string())?;
        let key = state_keys::attestation(&args.id);
        let first = adapter.state(&key).await.map_err(|e| e.to_string())?;
        let bytes = first
            .value
            .ok_or_else(|| format!("no attestation {} on {}", args.id, args.chain))?;
        let attestation =
            Attestation::try_from_slice(&bytes).map_err(|e| format!("stored attestation: {e}"))?;
        let issuer_key = state_keys::institution(&attestation.issuer);
        let proven = adapter
            .states(&[key, issuer_key])
            .await
            .map_err(|e| e.to_string())?;
        let [att, issuer] = proven.entries.as_slice() else {
            return Err("the chain answered another number of entries".to_owned());
        };
        let issuer_record = issuer
            .value
            .clone()
            .ok_or_else(|| format!("issuer {} is not registered", attestation.issuer))?;
        let bundle = AttestationBundle {
            trusted,
            proven_at: proven.light_block,
            attestation,
            attestation_proof: att.proof.clone(),
            issuer_record,
            issuer_proof: issuer.proof.clone(),
        };
        let text = serde_json::to_string_pretty(&bundle).map_err(|e| e.to_string())?;
        std::fs::write(&args.out, text).map_err(|e| format!("{}: {e}", args.out.display()))
    })
}

fn check_file(args: &VerifyArgs) -> Result<(serde_json::Value, u8), String> {
    let trust = args.user_trust()?;
    let text = std::fs::read_to_string(&args.bundle)
        .map_err(|e| format!("cannot read {}: {e}", args.bundle.display()))?;
    let bundle: AttestationBundle = serde_json::from_str(&text)
        .map_err(|e| format!("bundle {}: {e}", args.bundle.display()))?;
    let now = match &args.now {
        Some(s) => s.parse::<Time>().map_err(|e| format!("--now: {e}"))?,
        None => crate::cli::light_client::system_now()?,
    };
    let options = Options {
        trusting_period: humantime::parse_duration(&args.trusting_period)
            .map_err(|e| format!("--trusting-period: {e}"))?,
        ..Options::default()
    };
    let problems = check(&bundle, &trust, &options, now);
    let a = &bundle.attestation;
    let header = bundle.proven_at.header();
    let report = json!({
        "verdict": if problems.is_empty() { "valid" } else { "invalid" },
        "problems": problems,
        "attestation_id": credit_chain::app::attestations::attestation_id(a),
        "issuer": a.issuer,
        "enterprise": a.enterprise,
        "claim": a.claim,
        "issued_at": a.issued_at,
        "expires_at": a.expires_at,
        "chain_id": header.chain_id,
        "proven_at_height": header.height,
        "header_hash": header.hash(),
        "now": now,
    });
    let code = if problems.is_empty() {
        exit::VALID
    } else {
        exit::INVALID
    };
    Ok((report, code))
}

/// The block the check starts from: the user's own, or the bundle's block
/// at the user's height if it hashes to the user's hash; `Err` says why the
/// bundle cannot be checked from the user's trust.
fn trusted_block<'a>(
    bundle: &'a AttestationBundle,
    trust: &'a UserTrust,
) -> Result<&'a LightBlock, String> {
    match trust {
        UserTrust::Block(block) => Ok(block),
        UserTrust::Header {
            chain_id,
            height,
            hash,
        } => [&bundle.trusted, &bundle.proven_at]
            .into_iter()
            .find(|b| b.height() == *height && b.header().hash() == *hash)
            .filter(|b| &b.header().chain_id == chain_id)
            .ok_or_else(|| {
                format!(
                    "the bundle carries no block of {chain_id} at height {height} with hash \
                     {hash} (the header you trust): it cannot be checked from your trust"
                )
            }),
    }
}

/// Every reason the bundle does not prove a valid attestation at `now`,
/// checked from `trust` (the user's, never the bundle's own anchor).
pub fn check(
    bundle: &AttestationBundle,
    trust: &UserTrust,
    options: &Options,
    now: Time,
) -> Vec<String> {
    let mut problems = Vec::new();
    let header = bundle.proven_at.header();
    match trusted_block(bundle, trust) {
        Err(reason) => problems.push(reason),
        Ok(anchor) => {
            let anchor_header = anchor.header();
            // The trusted header is the user's; its validator sets must be
            // the ones it names, or a skip could be signed by outsiders.
            if anchor.validators.hash() != anchor_header.validators_hash
                || anchor.next_validators.hash() != anchor_header.next_validators_hash
            {
                problems.push(format!(
                    "the trusted block at height {} carries validator sets its header does not name",
                    anchor.height()
                ));
            } else if header.chain_id != anchor_header.chain_id {
                problems.push(format!(
                    "the bundle proves a header of chain {}, not of {} (the chain you trust)",
                    header.chain_id, anchor_header.chain_id
                ));
            } else if bundle.proven_at.height() == anchor.height() {
                if header.hash() != anchor_header.hash() {
                    problems.push(format!(
                        "the proven block at height {} is not the block you trust there",
                        header.height
                    ));
                }
            } else {
                let trusted = TrustedState {
                    header: anchor_header.clone(),
                    validators: anchor.validators.clone(),
                    next_validators: anchor.next_validators.clone(),
                };
                match verify(&trusted, &bundle.proven_at, options, now) {
                    Verdict::Success => {}
                    Verdict::NotEnoughTrust(tally) => problems.push(format!(
                        "header {} is not trusted from block {}: {tally}",
                        header.height,
                        anchor.height()
                    )),
                    Verdict::Invalid(e) => problems.push(format!("header {}: {e}", header.height)),
                }
            }
        }
    }
    let a = &bundle.attestation;
    let id = credit_chain::app::attestations::attestation_id(a);
    let encoded = borsh::to_vec(a).unwrap_or_default();
    if let Err(e) = bundle.attestation_proof.verify(
        &header.state_root,
        &state_keys::attestation(&id),
        Some(&encoded),
    ) {
        problems.push(format!("attestation proof: {e}"));
    }
    if !verify_signature(&a.issuer_key, &a.sign_bytes(), &a.signature) {
        problems.push(format!(
            "the issuer's signature does not verify under {}",
            a.issuer_key
        ));
    }
    if a.expires_at <= now {
        problems.push(format!("expired at {} (now {now})", a.expires_at));
    }
    if let Err(e) = bundle.issuer_proof.verify(
        &header.state_root,
        &state_keys::institution(&a.issuer),
        Some(&bundle.issuer_record),
    ) {
        problems.push(format!("issuer record proof: {e}"));
    }
    match InstitutionRecord::try_from_slice(&bundle.issuer_record) {
        Err(e) => problems.push(format!("issuer record does not decode: {e}")),
        Ok(record) => {
            if record.key != a.issuer_key {
                problems.push(format!(
                    "issuer {} signs with {}, not {}",
                    a.issuer, record.key, a.issuer_key
                ));
            }
            if let Some(s) = record.suspension {
                problems.push(format!(
                    "issuer {} suspended since height {}: {}",
                    a.issuer, s.since, s.reason
                ));
            }
        }
    }
    problems
}
