//! `relayer chains register`: an operator proposes a new chain to the
//! network.
//!
//! Reads a chain description (TOML, see `config/chains/example.toml`): the
//! chain id and type, the libp2p peer ids of the relayers that serve it,
//! and its trust anchor — given explicitly (height, header hash, next
//! validator set) or fetched from the chain's RPC (`rpc = "http://..."`) at
//! a height (the latest when none is given) through the credit-chain
//! adapter, whose light block is self-verified. The RPC address is only
//! used here; it is not part of the registration. Signs the registration
//! and the proposal with the operator's key, prints the proposal id, and
//! posts the proposal to a relayer's API when `--api` is given. The
//! network's governors then approve it (`relayer governance approve ID`).
//!
//! Exit statuses as for `relayer query`: 0 done, 2 refused, 3 malformed
//! input (the file, the key, a trust anchor that cannot be fetched), 4 the
//! API is unreachable.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use clap::Args;
use protocol::{
    ChainId, ChainRegistration, ChainType, Hash, Height, Proposal, PublicKey, Signature,
    SignedProposal, TrustAnchor, Validator, ValidatorSet,
};
use relayer::registry::check_peer_id;
use relayer::registry::signing::{sign_proposal, sign_registration};
use serde::Deserialize;
use serde_json::{Value, json};

use super::governance::{Failure, call, describe_event, finish, pretty, read_key};
use super::query::exit;

/// Arguments of `chains register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The chain description, e.g. `config/chains/sichuan.toml`.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// The operator's key file (`{"name", "public_key", "secret_key"}`
    /// JSON, as `relayer governance keygen` writes it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// A relayer API's base URL to post the proposal to; without it the
    /// proposal is only printed (see `--out`).
    #[arg(long, value_name = "URL", requires = "token")]
    pub api: Option<String>,
    /// A bearer token of the API.
    #[arg(long, requires = "api")]
    pub token: Option<String>,
    /// Also write the signed proposal (JSON, the body of
    /// `POST /registry/proposals`) to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print `{"id", "proposal", "api"}` as JSON on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// A chain description file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainFile {
    /// The chain id.
    pub chain_id: ChainId,
    /// `credit-chain` or `cometbft`.
    pub chain_type: ChainType,
    /// libp2p peer ids of the relayers serving the chain.
    pub relayer_peer_ids: Vec<String>,
    /// Where light clients start.
    pub trust_anchor: AnchorSpec,
}

/// A trust anchor as written: fetched (`rpc`, optional `height`) or given
/// (`height`, `header_hash`, `next_validators`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorSpec {
    /// The chain's RPC, to fetch the anchor from.
    pub rpc: Option<String>,
    /// The anchor's height (with `rpc`: the latest when absent).
    pub height: Option<u64>,
    /// The header hash at that height.
    pub header_hash: Option<Hash>,
    /// The validator set that signs the next header.
    pub next_validators: Option<Vec<Validator>>,
}

/// Reads and checks a chain description (not the anchor's RPC).
pub fn read_chain_file(path: &Path) -> Result<ChainFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: ChainFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for peer in &file.relayer_peer_ids {
        check_peer_id(peer).map_err(|e| format!("{}: relayer_peer_ids: {e}", path.display()))?;
    }
    if file.relayer_peer_ids.is_empty() {
        return Err(format!(
            "{}: relayer_peer_ids: name at least one serving relayer",
            path.display()
        ));
    }
    Ok(file)
}

/// The trust anchor a description gives, fetching it when it names an RPC.
pub fn resolve_anchor(file: &ChainFile) -> Result<TrustAnchor, String> {
    let spec = &file.trust_anchor;
    let height = spec
        .height
        .map(|h| Height::new(h).map_err(|e| format!("trust_anchor.height: {e}")))
        .transpose()?;
    let Some(rpc) = &spec.rpc else {
        let (Some(height), Some(header_hash), Some(validators)) =
            (height, spec.header_hash, spec.next_validators.clone())
        else {
            return Err("trust_anchor: give either `rpc` (and optionally `height`), or all of `height`, `header_hash` and `next_validators`".into());
        };
        let next_validators = ValidatorSet::new(validators)
            .map_err(|e| format!("trust_anchor.next_validators: {e}"))?;
        return Ok(TrustAnchor {
            height,
            header_hash,
            next_validators,
        });
    };
    if spec.header_hash.is_some() || spec.next_validators.is_some() {
        return Err(
            "trust_anchor: `rpc` fetches header_hash and next_validators; do not give them too"
                .into(),
        );
    }
    if file.chain_type != ChainType::CreditChain {
        return Err(format!(
            "trust_anchor: fetching from `rpc` is supported for credit-chain only; give the {:?} anchor explicitly",
            file.chain_type
        ));
    }
    let adapter = CreditChainAdapter::new(
        file.chain_id.clone(),
        vec![rpc.trim_end_matches('/').to_owned()],
        RpcOptions::default(),
    )
    .map_err(|e| format!("trust_anchor.rpc {rpc}: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let height = match height {
            Some(h) => h,
            None => {
                adapter
                    .status()
                    .await
                    .map_err(|e| format!("status of {} at {rpc}: {e}", file.chain_id))?
                    .latest_height
            }
        };
        let block = adapter
            .light_block(height)
            .await
            .map_err(|e| format!("light block {height} of {} at {rpc}: {e}", file.chain_id))?;
        Ok(TrustAnchor {
            height: block.height(),
            header_hash: block.header().hash(),
            next_validators: block.next_validators.clone(),
        })
    })
}

/// The operator's signed registration proposal of a described chain.
pub fn signed_proposal(
    file: &ChainFile,
    anchor: TrustAnchor,
    operator: &ed25519_dalek::SigningKey,
) -> SignedProposal {
    let mut registration = ChainRegistration {
        chain_id: file.chain_id.clone(),
        chain_type: file.chain_type,
        trust_anchor: anchor,
        operator_key: PublicKey([0; 32]),
        relayer_peer_ids: file.relayer_peer_ids.clone(),
        operator_signature: Signature([0; 64]),
    };
    sign_registration(&mut registration, operator);
    sign_proposal(Proposal::Register(registration), operator)
}

/// Runs `chains register`.
pub fn run(args: RegisterArgs) -> ExitCode {
    finish(args.json, register(&args))
}

fn register(args: &RegisterArgs) -> Result<u8, Failure> {
    let malformed = |m: String| Failure::new(exit::MALFORMED, m);
    let file = read_chain_file(&args.file).map_err(malformed)?;
    let key = read_key(&args.key)?;
    let anchor =
        resolve_anchor(&file).map_err(|e| malformed(format!("{}: {e}", args.file.display())))?;
    let signed = signed_proposal(&file, anchor, &key);
    let id = signed.id();
    let body = serde_json::to_value(&signed).unwrap_or(Value::Null);
    if let Some(out) = &args.out {
        std::fs::write(out, pretty(&body) + "\n")
            .map_err(|e| malformed(format!("cannot write {}: {e}", out.display())))?;
    }
    let answer = match (&args.api, &args.token) {
        (Some(api), Some(token)) => Some(call(
            api,
            token,
            reqwest::Method::POST,
            "/registry/proposals",
            Some(&body),
        )?),
        _ => None,
    };
    if args.json {
        println!(
            "{}",
            pretty(&json!({ "id": id, "proposal": body, "api": answer }))
        );
        return Ok(exit::OK);
    }
    println!("{id}");
    let Proposal::Register(r) = &signed.proposal else {
        return Ok(exit::OK);
    };
    eprintln!(
        "registration of {} ({:?}) at height {} (header {}), {} next validators, served by {}",
        r.chain_id,
        r.chain_type,
        r.trust_anchor.height,
        r.trust_anchor.header_hash,
        r.trust_anchor.next_validators.len(),
        r.relayer_peer_ids.join(", ")
    );
    match &answer {
        Some(a) if a["decided"].is_object() => {
            eprintln!("decided: {}", describe_event(&a["decided"]))
        }
        Some(a) => eprintln!(
            "submitted: {}/{} approvals; governors approve with: relayer governance approve {id} --key GOVERNOR_KEY --api URL --token TOKEN",
            a["approvals"], a["threshold"]
        ),
        None => eprintln!("not submitted (no --api); post it with --api URL --token TOKEN"),
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use relayer::registry::{Registry, RegistryGenesis};

    use super::*;

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/chains/example.toml")
    }

    #[test]
    fn the_example_registration_is_accepted_by_the_registry() {
        let file = read_chain_file(&example()).unwrap();
        let anchor = resolve_anchor(&file).unwrap();
        let operator = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let signed = signed_proposal(&file, anchor, &operator);
        let governor = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
        let mut registry = Registry::new(&RegistryGenesis {
            governors: vec![relayer::registry::signing::public_key(&governor)],
            threshold: 1,
            chains: vec![],
            admitted_peers: vec![],
        })
        .unwrap();
        let id = registry.submit(signed, 0).unwrap().id;
        registry
            .approve(relayer::registry::signing::sign_approval(id, &governor))
            .unwrap();
        assert!(registry.chain(&file.chain_id).is_some());
    }

    #[test]
    fn anchors_are_either_fetched_or_given_in_full() {
        let mut file = read_chain_file(&example()).unwrap();
        file.trust_anchor.rpc = Some("http://127.0.0.1:1".into());
        let err = resolve_anchor(&file).unwrap_err();
        assert!(err.contains("do not give them too"), "{err}");
        file.trust_anchor = AnchorSpec {
            height: Some(3),
            ..AnchorSpec::default()
        };
        let err = resolve_anchor(&file).unwrap_err();
        assert!(err.contains("give either `rpc`"), "{err}");
        file.chain_type = ChainType::Cometbft;
        file.trust_anchor.rpc = Some("http://127.0.0.1:1".into());
        let err = resolve_anchor(&file).unwrap_err();
        assert!(err.contains("credit-chain only"), "{err}");
    }

    #[test]
    fn unknown_fields_and_bad_peers_are_named() {
        let dir = std::env::temp_dir().join(format!("relayer-register-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = std::fs::read_to_string(example()).unwrap();
        let typo = dir.join("typo.toml");
        std::fs::write(&typo, text.replace("chain_type", "chain_kind")).unwrap();
        let err = read_chain_file(&typo).unwrap_err();
        assert!(err.contains("chain_kind"), "{err}");
        let bad = dir.join("bad-peer.toml");
        std::fs::write(
            &bad,
            text.replace("relayer_peer_ids = [", "relayer_peer_ids = [\"no/slash\", "),
        )
        .unwrap();
        let err = read_chain_file(&bad).unwrap_err();
        assert!(err.contains("not a base58 character"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
