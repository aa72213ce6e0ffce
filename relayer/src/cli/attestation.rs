//! `relayer attestation fetch|verify`: an issuer's attestation as a proof
//! bundle anyone can check offline — the attestation and its issuer's
//! institution record, proven against a header that a light client verifies
//! from a trusted block; the issuer's signature, the expiry and the issuer's
//! suspension are checked too.

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
    /// An input could not be read, parsed or fetched.
    pub const MALFORMED: u8 = 3;
}

/// `relayer attestation ...`
#[derive(Debug, Subcommand)]
pub enum AttestationCommand {
    /// Build the proof bundle of an attestation from its chain's RPC.
    /// Exit 0 written, 3 on any failure.
    Fetch(FetchArgs),
    /// Check a proof bundle offline: the header against the trusted block,
    /// the proofs, the issuer's signature, the expiry, the issuer's
    /// suspension. Prints a JSON report; exit 0 valid, 2 invalid, 3 malformed.
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
    /// Height of the block the bundle's verifier trusts (default: the
    /// chain's first block).
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
}

/// An attestation with everything needed to check it offline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttestationBundle {
    /// A block the verifier trusts (obtained out of band).
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
    let problems = check(&bundle, &options, now);
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

/// Every reason the bundle does not prove a valid attestation at `now`.
pub fn check(bundle: &AttestationBundle, options: &Options, now: Time) -> Vec<String> {
    let mut problems = Vec::new();
    let trusted = TrustedState {
        header: bundle.trusted.header().clone(),
        validators: bundle.trusted.validators.clone(),
        next_validators: bundle.trusted.next_validators.clone(),
    };
    let header = bundle.proven_at.header();
    if bundle.proven_at.height() != bundle.trusted.height() {
        match verify(&trusted, &bundle.proven_at, options, now) {
            Verdict::Success => {}
            Verdict::NotEnoughTrust(tally) => problems.push(format!(
                "header {} is not trusted from block {}: {tally}",
                header.height,
                bundle.trusted.height()
            )),
            Verdict::Invalid(e) => problems.push(format!("header {}: {e}", header.height)),
        }
    } else if bundle.proven_at.header().hash() != bundle.trusted.header().hash() {
        problems.push("proven block differs from the trusted block at the same height".into());
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
