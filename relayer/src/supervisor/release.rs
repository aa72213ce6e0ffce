//! Releasing the regulator's decryption share of a closed aggregation's
//! total (`POST /aggregations/{chain}/{aggregation_id}/decryption-share`).
//!
//! Every aggregation is encrypted under the joint key of the requester's
//! share and the regulator's (see `credit_chain::app::aggregation`): the
//! requester alone opens nothing. This node holds the regulator's
//! [`KeyShare`] (`[aggregation] key_file`) and releases its
//! [`DecryptionShare`] — with a DLEQ proof anyone can check against the
//! regulator's share registered on the chain — for exactly one ciphertext:
//! the [`AggregationTotal`] the asking chain wrote when its requester closed
//! the aggregation, read from that chain's state **through this node's own
//! light client** (a value proven against a header it verified, never an
//! endpoint's word). So a requester cannot get a partial (one chain's sum)
//! or any ciphertext of its choosing decrypted.
//!
//! Policy ([`check_release`]): the total must sum at least
//! `[aggregation] threshold` providers (default 3), and the chain's
//! registered regulator share must be this node's (else the share would
//! open nothing, or the chain was configured with another regulator).
//! Each release, and each refusal of an existing total, is appended to the
//! audit log once per aggregation *before* the share is returned: a share
//! leaves the node only with its entry in the log, so the regulator can see
//! overlapping aggregations of one requester (the differencing the
//! threshold alone does not stop).

use std::path::Path;

use anyhow::Context;
use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use homomorphic::{DecryptionShare, FenCiphertext, KeyShare, PublicKey};
use protocol::{AggregationTotal, ChainId, Hash, state_keys};
use serde::{Deserialize, Serialize};

use super::SupervisorState;
use crate::api::ApiError;
use crate::audit::{AuditRecord, MessageKind, Outcome};
use crate::engine::wall_clock;

/// The default `[aggregation] threshold`: totals of fewer providers are
/// not released.
pub const DEFAULT_AGGREGATION_THRESHOLD: u32 = 3;

/// A key share file (JSON, mode 0600): the share's public point and its
/// secret scalar, hex. The regulator's lives with the supervision node; a
/// requester's with `relayer aggregate`.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyShareFile {
    /// The public share `x·G`, hex (registered on the chains).
    pub public_key: PublicKey,
    /// The secret scalar `x`, hex. Never leaves this file.
    pub secret_key: String,
}

impl KeyShareFile {
    /// Reads a share file and checks that the secret matches the public
    /// share.
    pub fn read(path: &Path) -> anyhow::Result<KeyShare> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key share file {}", path.display()))?;
        let file: KeyShareFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a key share file", path.display()))?;
        let secret = hex::decode(&file.secret_key)
            .with_context(|| format!("{}: secret_key is not hex", path.display()))?;
        let share = KeyShare::from_bytes(&secret)
            .with_context(|| format!("{}: secret_key", path.display()))?;
        anyhow::ensure!(
            *share.public() == file.public_key,
            "{}: secret_key does not belong to public_key {}",
            path.display(),
            file.public_key
        );
        Ok(share)
    }

    /// Writes `share` to a new file (mode 0600; an existing file is never
    /// overwritten, so a share in use cannot be lost).
    pub fn create(path: &Path, share: &KeyShare) -> anyhow::Result<()> {
        use std::io::Write;
        let file = KeyShareFile {
            public_key: *share.public(),
            secret_key: hex::encode(share.to_bytes()),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(serde_json::to_string_pretty(&file)?.as_bytes())?;
        Ok(())
    }

    /// The share in `path`, generated and written first when the file does
    /// not exist.
    pub fn read_or_create(path: &Path) -> anyhow::Result<KeyShare> {
        if !path.exists() {
            KeyShareFile::create(path, &KeyShare::generate(&mut rand::rngs::OsRng))?;
        }
        KeyShareFile::read(path)
    }
}

/// What the node releases shares under: its share and the threshold.
pub struct ReleasePolicy {
    /// The regulator's share.
    pub share: KeyShare,
    /// The fewest providers a released total may sum.
    pub threshold: u32,
}

/// Why a share is not released.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// The total sums fewer providers than the threshold.
    #[error(
        "aggregation {aggregation_id} on {chain} sums {providers} providers, fewer than the release threshold {threshold}: its total would tell too much about too few"
    )]
    BelowThreshold {
        /// The chain holding the total.
        chain: ChainId,
        /// The aggregation.
        aggregation_id: Hash,
        /// Providers in the total.
        providers: u32,
        /// The threshold.
        threshold: u32,
    },
    /// The chain's registered regulator share is not this node's.
    #[error(
        "the regulator aggregation key registered on {chain} is {registered}, not this node's share {ours}: its totals are not under a key this node holds a share of"
    )]
    NotOurShare {
        /// The chain.
        chain: ChainId,
        /// What the chain has (hex, or "none").
        registered: String,
        /// This node's public share, hex.
        ours: String,
    },
    /// The total's ciphertext does not decode.
    #[error(
        "the total of aggregation {aggregation_id} on {chain} is not a valid ciphertext: {reason}"
    )]
    BadTotal {
        /// The chain.
        chain: ChainId,
        /// The aggregation.
        aggregation_id: Hash,
        /// The decoding error.
        reason: String,
    },
}

/// The release decision for `total`, read (proven) from `chain`, whose
/// registered regulator share is `registered`: the ciphertext to share, or
/// why not.
pub fn check_release(
    chain: &ChainId,
    total: &AggregationTotal,
    registered: Option<&[u8]>,
    policy: &ReleasePolicy,
) -> Result<FenCiphertext, Refusal> {
    let ours = *policy.share.public();
    if registered != Some(ours.to_bytes().as_slice()) {
        return Err(Refusal::NotOurShare {
            chain: chain.clone(),
            registered: registered.map_or_else(|| "none".to_owned(), hex::encode),
            ours: ours.to_string(),
        });
    }
    if total.providers < policy.threshold {
        return Err(Refusal::BelowThreshold {
            chain: chain.clone(),
            aggregation_id: total.aggregation_id,
            providers: total.providers,
            threshold: policy.threshold,
        });
    }
    FenCiphertext::from_bytes(&total.ciphertext).map_err(|e| Refusal::BadTotal {
        chain: chain.clone(),
        aggregation_id: total.aggregation_id,
        reason: e.to_string(),
    })
}

/// The answer of a release: the share and what it is for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleasedShare {
    /// The chain holding the total.
    pub chain: ChainId,
    /// The aggregation.
    pub aggregation_id: Hash,
    /// Providers in the total.
    pub providers: u32,
    /// The chains whose partials are in it.
    pub chains: Vec<ChainId>,
    /// The chains asked that are not.
    pub missing_chains: Vec<ChainId>,
    /// The regulator's public share the DLEQ proof is checked against
    /// (check it against the chain's `params/regulator_aggregation_key`).
    pub share_public_key: PublicKey,
    /// The decryption share with its DLEQ proof, bound to
    /// `credit_chain::app::aggregation::decryption_share_context(chain,
    /// aggregation_id)`.
    pub decryption_share: DecryptionShare,
}

/// The audit entry of a release decision about `total` (metadata only:
/// never the ciphertext nor the share).
fn release_record(chain: &ChainId, total: &AggregationTotal, outcome: Outcome) -> AuditRecord {
    let names = |c: &[ChainId]| c.iter().map(ChainId::as_str).collect::<Vec<_>>().join(",");
    AuditRecord {
        time: wall_clock(),
        source: chain.clone(),
        destination: chain.clone(),
        packet_sequence: 0,
        kind: MessageKind::DecryptionShare,
        requester: Some(total.requester.clone()),
        enterprise: Some(total.enterprise.clone()),
        purpose: format!(
            "decryption share of aggregation {}: {} providers on {} chains ({}); missing: {}",
            total.aggregation_id,
            total.providers,
            total.chains.len(),
            names(&total.chains),
            names(&total.missing_chains)
        ),
        consent_id: None,
        fee: None,
        outcome,
    }
}

/// `POST /aggregations/{chain}/{aggregation_id}/decryption-share`.
pub(super) async fn decryption_share(
    State(state): State<SupervisorState>,
    UrlPath((chain, aggregation_id)): UrlPath<(String, String)>,
) -> Result<Json<ReleasedShare>, ApiError> {
    let s = &state.supervisor;
    let chain: ChainId = chain
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{chain:?} is not a chain id: {e}")))?;
    let aggregation_id: Hash = aggregation_id.parse().map_err(|e| {
        ApiError::bad_request(format!("{aggregation_id:?} is not an aggregation id: {e}"))
    })?;
    let policy = s.release.get().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this supervision node holds no aggregation key share ([aggregation] key_file)",
        )
    })?;
    let runtime = s.chain(&chain).ok_or_else(|| {
        ApiError::not_found(format!("this supervision node does not follow {chain}"))
    })?;
    // Proven against a header this node's light client verified.
    let states = runtime
        .verified_states(&[
            state_keys::aggregation_total(&aggregation_id),
            state_keys::regulator_aggregation_key(),
        ])
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let Some(bytes) = &states.entries[0].1 else {
        return Err(ApiError::not_found(format!(
            "aggregation {aggregation_id} has no total on {chain}: not closed (close_aggregation) or never sent"
        )));
    };
    let total: AggregationTotal = borsh::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the total of {aggregation_id} on {chain} does not decode: {e}"),
        )
    })?;
    let registered: Option<[u8; 32]> = match &states.entries[1].1 {
        Some(bytes) => Some(borsh::from_slice(bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the regulator aggregation key on {chain} does not decode: {e}"),
            )
        })?),
        None => None,
    };
    let audit = s.audit();
    let ciphertext = match check_release(
        &chain,
        &total,
        registered.as_ref().map(|k| k.as_slice()),
        policy,
    ) {
        Ok(c) => c,
        Err(refusal) => {
            let marker = format!("release-refused/{chain}/{aggregation_id}").into_bytes();
            let record = release_record(&chain, &total, Outcome::Refused(refusal.to_string()));
            if let Err(e) = audit.record_once(record, &marker) {
                tracing::warn!(error = %e, "cannot log a refused release");
            }
            let status = match refusal {
                Refusal::BelowThreshold { .. } => StatusCode::FORBIDDEN,
                Refusal::NotOurShare { .. } => StatusCode::CONFLICT,
                Refusal::BadTotal { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            };
            return Err(ApiError::new(status, refusal.to_string())
                .with("providers", total.providers)
                .with("threshold", policy.threshold));
        }
    };
    // Logged before it leaves: no share without its entry.
    let marker = format!("release/{chain}/{aggregation_id}").into_bytes();
    audit
        .record_once(release_record(&chain, &total, Outcome::Answered), &marker)
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot log the release, so it is not made: {e}"),
            )
        })?;
    let context = credit_chain::app::aggregation::decryption_share_context(&chain, &aggregation_id);
    let share = policy
        .share
        .decryption_share(&ciphertext, &context, &mut rand::rngs::OsRng);
    tracing::info!(%chain, %aggregation_id, providers = total.providers, requester = %total.requester,
        "decryption share released");
    Ok(Json(ReleasedShare {
        chain,
        aggregation_id,
        providers: total.providers,
        chains: total.chains,
        missing_chains: total.missing_chains,
        share_public_key: *policy.share.public(),
        decryption_share: share,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use homomorphic::{DiscreteLogTable, combine, joint_key};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn total(providers: u32, ciphertext: Vec<u8>) -> AggregationTotal {
        AggregationTotal {
            aggregation_id: Hash::digest(b"aggregation"),
            requester: "bank-a".parse().unwrap(),
            enterprise: "91350100M000100Y43".parse().unwrap(),
            encryption_key: Vec::new(),
            ciphertext,
            providers,
            chains: vec!["guangdong".parse().unwrap()],
            missing_chains: Vec::new(),
            closed_at: protocol::Time::from_unix_nanos(1),
        }
    }

    #[test]
    fn a_total_of_enough_providers_under_our_share_is_released_and_opens() {
        let mut rng = StdRng::seed_from_u64(1);
        let requester = KeyShare::generate(&mut rng);
        let policy = ReleasePolicy {
            share: KeyShare::generate(&mut rng),
            threshold: 3,
        };
        let joint = joint_key(requester.public(), policy.share.public()).unwrap();
        let c: FenCiphertext = [100u64, 250, 7]
            .iter()
            .map(|&a| joint.encrypt_fen(a, &mut rng).unwrap())
            .sum();
        let chain: ChainId = "shaanxi".parse().unwrap();
        let ours = policy.share.public().to_bytes();
        let t = total(3, c.to_bytes().to_vec());
        let released = check_release(&chain, &t, Some(&ours), &policy).unwrap();
        assert_eq!(released, c);
        let context =
            credit_chain::app::aggregation::decryption_share_context(&chain, &t.aggregation_id);
        let share = policy.share.decryption_share(&released, &context, &mut rng);
        let verified = share.verify(policy.share.public(), &c, &context).unwrap();
        let table = DiscreteLogTable::with_params(8, 1 << 12).unwrap();
        assert_eq!(combine(&c, &requester, &verified, &table), Ok(357));
    }

    #[test]
    fn too_few_providers_or_another_regulator_share_is_refused() {
        let mut rng = StdRng::seed_from_u64(2);
        let policy = ReleasePolicy {
            share: KeyShare::generate(&mut rng),
            threshold: 3,
        };
        let chain: ChainId = "shaanxi".parse().unwrap();
        let ours = policy.share.public().to_bytes();
        let zero = FenCiphertext::zero().to_bytes().to_vec();
        // One chain with two providers: its total is nearly their amounts.
        assert!(matches!(
            check_release(&chain, &total(2, zero.clone()), Some(&ours), &policy),
            Err(Refusal::BelowThreshold {
                providers: 2,
                threshold: 3,
                ..
            })
        ));
        let other = KeyShare::generate(&mut rng).public().to_bytes();
        assert!(matches!(
            check_release(&chain, &total(5, zero.clone()), Some(&other), &policy),
            Err(Refusal::NotOurShare { .. })
        ));
        assert!(matches!(
            check_release(&chain, &total(5, zero.clone()), None, &policy),
            Err(Refusal::NotOurShare { .. })
        ));
        assert!(matches!(
            check_release(&chain, &total(5, vec![1; 128]), Some(&ours), &policy),
            Err(Refusal::BadTotal { .. })
        ));
        assert!(check_release(&chain, &total(3, zero), Some(&ours), &policy).is_ok());
    }

    #[test]
    fn a_share_file_round_trips_and_refuses_a_mismatched_secret() {
        let dir = std::env::temp_dir().join(format!("key-share-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("share.json");
        let share = KeyShareFile::read_or_create(&path).unwrap();
        assert_eq!(KeyShareFile::read(&path).unwrap().public(), share.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            KeyShareFile::create(&path, &share).is_err(),
            "never overwritten"
        );
        let other = KeyShare::generate(&mut rand::rngs::OsRng);
        let forged = KeyShareFile {
            public_key: *share.public(),
            secret_key: hex::encode(other.to_bytes()),
        };
        std::fs::write(&path, serde_json::to_string(&forged).unwrap()).unwrap();
        let err = KeyShareFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("does not belong"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
