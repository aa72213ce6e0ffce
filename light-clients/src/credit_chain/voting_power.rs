//! Counting voting power, and checking the signatures that carry it.

use std::collections::VecDeque;
use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use protocol::{Commit, Hash, Header, PublicKey, ValidatorSet, vote_sign_bytes};

use crate::credit_chain::{TrustThreshold, VerificationError};

/// How much voting power signed, out of how much, against which threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VotingPowerTally {
    /// Total power of the set counted against.
    pub total: u64,
    /// Power of the members of that set that signed.
    pub tallied: u64,
    /// The fraction that had to be exceeded.
    pub threshold: TrustThreshold,
}

impl VotingPowerTally {
    /// Whether `tallied` exceeds `threshold` of `total`.
    pub fn is_enough(&self) -> bool {
        self.threshold.is_exceeded_by(self.tallied, self.total)
    }
}

impl fmt::Display for VotingPowerTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} voting power signed, more than {} needed",
            self.tallied, self.total, self.threshold
        )
    }
}

/// The signers of a commit whose signatures all verified, in commit order.
#[derive(Debug)]
pub struct VerifiedSigners(Vec<PublicKey>);

impl VerifiedSigners {
    /// Sums the power in `set` of the verified signers that are members of
    /// it (signers outside `set` count nothing).
    pub fn tally(&self, set: &ValidatorSet, threshold: TrustThreshold) -> VotingPowerTally {
        let tallied = self
            .0
            .iter()
            .filter_map(|k| set.get(k))
            .map(|v| v.power)
            .sum();
        VotingPowerTally {
            total: set.total_power(),
            tallied,
            threshold,
        }
    }

    /// The signers.
    pub fn keys(&self) -> &[PublicKey] {
        &self.0
    }
}

/// How many validator sets a [`KeyCache`] keeps.
const KEY_CACHE_SETS: usize = 4;

/// Decompressed ed25519 keys of recently seen validator sets, by set hash.
///
/// Decompressing a public key costs about a third of a signature check; a
/// chain's validator set rarely changes, so a client that keeps this cache
/// decompresses each key once rather than once per header. Entries are
/// keyed by the set's hash, so a cached entry only ever serves the exact
/// set it was built from.
#[derive(Clone, Debug, Default)]
pub struct KeyCache {
    sets: VecDeque<(Hash, Vec<VerifyingKey>)>,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> KeyCache {
        KeyCache::default()
    }

    /// Parses and keeps the keys of `set` (evicting the oldest set beyond
    /// a few); fails, as [`validate_validator_set`] does, on a key that is
    /// not a valid ed25519 point or is weak.
    pub fn insert(&mut self, set: &ValidatorSet) -> Result<(), VerificationError> {
        let hash = set.hash();
        if self.get(&hash).is_some() {
            return Ok(());
        }
        let keys = validator_keys(set)?;
        self.sets.push_front((hash, keys));
        self.sets.truncate(KEY_CACHE_SETS);
        Ok(())
    }

    /// The keys of the set with this hash, in the set's order.
    pub fn get(&self, set_hash: &Hash) -> Option<&[VerifyingKey]> {
        self.sets
            .iter()
            .find(|(h, _)| h == set_hash)
            .map(|(_, keys)| keys.as_slice())
    }
}

/// Checks what the [`ValidatorSet`] type cannot: that every validator key
/// is a valid ed25519 point in its canonical encoding and not a
/// small-order ("weak") one, under which a signature can be made to verify
/// for almost any message.
///
/// The type itself already bounds the set (non-empty, at most
/// [`protocol::validator::MAX_VALIDATORS`] members, sorted, no duplicates,
/// every power at least 1, total power at most
/// [`protocol::MAX_TOTAL_VOTING_POWER`]). A set that passes both may sign
/// blocks; the chain node calls this before it adopts a set, the verifier
/// on every set a light block brings.
///
/// ```
/// use light_clients::credit_chain::{VerificationError, validate_validator_set};
/// use light_clients::credit_chain::signing::Committee;
/// use protocol::{PublicKey, Validator, ValidatorSet};
/// let honest = Committee::deterministic("shaanxi", 4);
/// assert!(validate_validator_set(honest.validator_set()).is_ok());
/// // The identity point (encoded as 1 followed by zeros) has order 1.
/// let mut identity = [0u8; 32];
/// identity[0] = 1;
/// let weak = ValidatorSet::new(vec![Validator { pub_key: PublicKey(identity), power: 1 }]).unwrap();
/// assert_eq!(
///     validate_validator_set(&weak),
///     Err(VerificationError::WeakPublicKey(PublicKey(identity)))
/// );
/// ```
pub fn validate_validator_set(set: &ValidatorSet) -> Result<(), VerificationError> {
    validator_keys(set).map(|_| ())
}

/// The decompressed keys of `set`, in its order; refuses invalid and weak
/// keys.
fn validator_keys(set: &ValidatorSet) -> Result<Vec<VerifyingKey>, VerificationError> {
    set.validators()
        .iter()
        .map(|v| {
            let key = VerifyingKey::from_bytes(v.pub_key.as_bytes())
                .map_err(|_| VerificationError::InvalidPublicKey(v.pub_key))?;
            if key.is_weak() {
                return Err(VerificationError::WeakPublicKey(v.pub_key));
            }
            // Another encoding of the same point would let one validator
            // sit in a set twice (members are told apart by bytes).
            if key.to_edwards().compress().as_bytes() != v.pub_key.as_bytes() {
                return Err(VerificationError::NonCanonicalPublicKey(v.pub_key));
            }
            Ok(key)
        })
        .collect()
}

/// Checks the commit's structure against the header's own validator set
/// (every signer a member, none twice) and that set's keys (see
/// [`validate_validator_set`]), then verifies every signature over the vote
/// sign-bytes with `verify_strict`, which refuses non-canonical signatures
/// (an unreduced `s`, a non-canonical or small-order `R`) that batch or
/// cofactored verification would let through.
///
/// `validators` must already be checked to hash to `header.validators_hash`;
/// keys come from `cache` when it holds that set.
pub fn verify_commit_signatures(
    header: &Header,
    header_hash: &Hash,
    commit: &Commit,
    validators: &ValidatorSet,
    cache: &KeyCache,
) -> Result<VerifiedSigners, VerificationError> {
    let mut signers: Vec<PublicKey> = Vec::with_capacity(commit.signatures.len());
    let mut indices: Vec<usize> = Vec::with_capacity(commit.signatures.len());
    for sig in &commit.signatures {
        let index = validators
            .index_of(&sig.validator)
            .ok_or(VerificationError::UnknownSigner(sig.validator))?;
        signers.push(sig.validator);
        indices.push(index);
    }
    // Duplicates: sort a copy of the keys (cheaper than a hash set at n ≤ 10k).
    let mut sorted = signers.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(VerificationError::DuplicateSigner(w[0]));
    }
    let decoded;
    let keys: &[VerifyingKey] = match cache.get(&header.validators_hash) {
        Some(keys) => keys,
        None => {
            decoded = validator_keys(validators)?;
            &decoded
        }
    };
    let message = vote_sign_bytes(&header.chain_id, header.height, header_hash);
    for (sig, index) in commit.signatures.iter().zip(indices) {
        let Some(key) = keys.get(index) else {
            // Only with a cache entry of another set under this hash,
            // which `KeyCache` never builds.
            return Err(VerificationError::UnknownSigner(sig.validator));
        };
        let signature = Signature::from_bytes(sig.signature.as_bytes());
        if key.verify_strict(&message, &signature).is_err() {
            return Err(VerificationError::InvalidSignature(sig.validator));
        }
    }
    Ok(VerifiedSigners(signers))
}
