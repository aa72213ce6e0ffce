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
    /// a few); fails on a key that is not a valid ed25519 point.
    pub fn insert(&mut self, set: &ValidatorSet) -> Result<(), VerificationError> {
        let hash = set.hash();
        if self.get(&hash).is_some() {
            return Ok(());
        }
        let keys = set
            .validators()
            .iter()
            .map(|v| {
                VerifyingKey::from_bytes(v.pub_key.as_bytes())
                    .map_err(|_| VerificationError::InvalidPublicKey(v.pub_key))
            })
            .collect::<Result<Vec<_>, _>>()?;
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

/// Checks the commit's structure against the header's own validator set
/// (every signer a member, none twice), then verifies every signature over
/// the vote sign-bytes in one ed25519 batch. Only when the batch fails are
/// signatures checked one by one, to name the bad signer.
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
    let cached = cache.get(&header.validators_hash);
    let n = commit.signatures.len();
    let mut signers: Vec<PublicKey> = Vec::with_capacity(n);
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(n);
    let mut signatures: Vec<Signature> = Vec::with_capacity(n);
    for sig in &commit.signatures {
        let index = validators
            .index_of(&sig.validator)
            .ok_or(VerificationError::UnknownSigner(sig.validator))?;
        signers.push(sig.validator);
        let key = match cached.and_then(|keys| keys.get(index)) {
            Some(key) => *key,
            None => VerifyingKey::from_bytes(sig.validator.as_bytes())
                .map_err(|_| VerificationError::InvalidPublicKey(sig.validator))?,
        };
        keys.push(key);
        signatures.push(Signature::from_bytes(sig.signature.as_bytes()));
    }
    // Duplicates: sort a copy of the keys (cheaper than a hash set at n ≤ 10k).
    let mut sorted = signers.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(VerificationError::DuplicateSigner(w[0]));
    }
    if n == 0 {
        return Ok(VerifiedSigners(signers));
    }
    let message = vote_sign_bytes(&header.chain_id, header.height, header_hash);
    let messages: Vec<&[u8]> = vec![message.as_slice(); n];
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        return Ok(VerifiedSigners(signers));
    }
    for ((key, sig), signer) in keys.iter().zip(&signatures).zip(&signers) {
        if key.verify_strict(&message, sig).is_err() {
            return Err(VerificationError::InvalidSignature(*signer));
        }
    }
    Err(VerificationError::BatchVerificationFailed)
}
