//! Counting voting power, and checking the signatures that carry it.

use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use protocol::{Commit, Header, PublicKey, ValidatorSet, vote_sign_bytes};

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

/// Checks the commit's structure against the header's own validator set
/// (every signer a member, none twice), then verifies every signature over
/// the vote sign-bytes in one ed25519 batch. Only when the batch fails are
/// signatures checked one by one, to name the bad signer.
pub fn verify_commit_signatures(
    header: &Header,
    header_hash: &protocol::Hash,
    commit: &Commit,
    validators: &ValidatorSet,
) -> Result<VerifiedSigners, VerificationError> {
    let n = commit.signatures.len();
    let mut signers: Vec<PublicKey> = Vec::with_capacity(n);
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(n);
    let mut signatures: Vec<Signature> = Vec::with_capacity(n);
    for sig in &commit.signatures {
        if validators.get(&sig.validator).is_none() {
            return Err(VerificationError::UnknownSigner(sig.validator));
        }
        signers.push(sig.validator);
        let key = VerifyingKey::from_bytes(sig.validator.as_bytes())
            .map_err(|_| VerificationError::InvalidPublicKey(sig.validator))?;
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
