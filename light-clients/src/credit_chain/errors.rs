//! Why a credit-chain header failed verification.

use std::time::Duration;

use protocol::{ChainId, Hash, Height, PublicKey, Time};

use crate::credit_chain::{OptionsError, VotingPowerTally};

/// Every reason a header can be refused, each naming the values involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerificationError {
    /// Verification options out of range.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// Verification options out of their bounds (see [`crate::credit_chain::Options::new`]).
    #[error("invalid options: {0}")]
    OptionsOutOfBounds(#[from] OptionsError),
    /// The trusted state's `validators` do not hash to its own header's
    /// `validators_hash`: someone swapped the set it claims signed it.
    #[error(
        "trusted state at height {height} is inconsistent: its header says validators {header}, its validators hash to {computed}"
    )]
    TrustedValidatorsMismatch {
        /// Height of the trusted header.
        height: Height,
        /// `validators_hash` of the trusted header.
        header: Hash,
        /// Hash of the validators given with it.
        computed: Hash,
    },
    /// The trusted state's `next_validators` do not hash to its own
    /// header's `next_validators_hash`: trust would be counted against a
    /// set the chain never announced.
    #[error(
        "trusted state at height {height} is inconsistent: its header says next validators {header}, its next validators hash to {computed}"
    )]
    TrustedNextValidatorsMismatch {
        /// Height of the trusted header.
        height: Height,
        /// `next_validators_hash` of the trusted header.
        header: Hash,
        /// Hash of the next validators given with it.
        computed: Hash,
    },
    /// The untrusted header is for another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    ChainIdMismatch {
        /// The trusted chain.
        expected: ChainId,
        /// The header's chain.
        got: ChainId,
    },
    /// The untrusted height is not above the trusted one.
    #[error("non-monotonic height: untrusted {untrusted} is not above trusted {trusted}")]
    NonIncreasingHeight {
        /// Trusted height.
        trusted: Height,
        /// Untrusted height.
        untrusted: Height,
    },
    /// The untrusted time is not after the trusted one.
    #[error("non-monotonic time: untrusted {untrusted} is not after trusted {trusted}")]
    NonIncreasingTime {
        /// Trusted header time.
        trusted: Time,
        /// Untrusted header time.
        untrusted: Time,
    },
    /// The header's time is ahead of our clock by more than the drift.
    #[error(
        "header from the future: time {header_time} is after now {now} plus clock drift {clock_drift:?}"
    )]
    HeaderFromFuture {
        /// Header time.
        header_time: Time,
        /// Our clock.
        now: Time,
        /// Tolerated drift.
        clock_drift: Duration,
    },
    /// The trusted header is older than the trusting period.
    #[error(
        "trusted header at height {height} expired: its time {trusted_time} plus trusting period {trusting_period:?} is not after now {now}"
    )]
    TrustedHeaderExpired {
        /// Trusted height.
        height: Height,
        /// Trusted header time.
        trusted_time: Time,
        /// Trusting period.
        trusting_period: Duration,
        /// Our clock.
        now: Time,
    },
    /// `validators` does not hash to `header.validators_hash`.
    #[error(
        "validator set hash mismatch: header says {header}, validators given hash to {computed}"
    )]
    ValidatorsHashMismatch {
        /// From the header.
        header: Hash,
        /// Of the set given.
        computed: Hash,
    },
    /// `next_validators` does not hash to `header.next_validators_hash`.
    #[error(
        "next validator set hash mismatch: header says {header}, next validators given hash to {computed}"
    )]
    NextValidatorsHashMismatch {
        /// From the header.
        header: Hash,
        /// Of the set given.
        computed: Hash,
    },
    /// Adjacent header signed by a set other than the trusted next set.
    #[error(
        "adjacent header's validators {header} are not the trusted next validators {trusted_next}"
    )]
    NotTrustedNextValidators {
        /// From the untrusted header.
        header: Hash,
        /// From the trusted header.
        trusted_next: Hash,
    },
    /// Adjacent header does not link to the trusted header.
    #[error("adjacent header links to {got}, trusted header hash is {expected}")]
    LastHeaderHashMismatch {
        /// Trusted header hash.
        expected: Hash,
        /// `last_header_hash` of the untrusted header.
        got: Hash,
    },
    /// The commit is for another height.
    #[error("commit is for height {commit}, header is at {header}")]
    CommitHeightMismatch {
        /// Header height.
        header: Height,
        /// Commit height.
        commit: Height,
    },
    /// The commit signs another header.
    #[error("commit signs header {commit}, header hashes to {header}")]
    CommitHeaderHashMismatch {
        /// Hash of the header given.
        header: Hash,
        /// Hash in the commit.
        commit: Hash,
    },
    /// The proposer is not in the validator set.
    #[error("proposer {0} is not in the header's validator set")]
    ProposerNotInValidatorSet(PublicKey),
    /// A signer is not in the header's validator set.
    #[error("unknown signer {0}: not in the header's validator set")]
    UnknownSigner(PublicKey),
    /// A validator signed twice.
    #[error("duplicate signer {0}")]
    DuplicateSigner(PublicKey),
    /// A signature does not verify.
    #[error("invalid signature from validator {0}")]
    InvalidSignature(PublicKey),
    /// A validator's public key is not a valid ed25519 point.
    #[error("invalid ed25519 public key {0}")]
    InvalidPublicKey(PublicKey),
    /// A validator's public key is a small-order ("weak") point: a
    /// signature under it can be made to verify for almost any message.
    #[error("weak ed25519 public key {0}: a small-order point cannot be a validator key")]
    WeakPublicKey(PublicKey),
    /// A validator's public key is a valid point in a non-canonical
    /// encoding (a coordinate not reduced modulo p).
    #[error("non-canonical ed25519 public key {0}: the point has another, canonical encoding")]
    NonCanonicalPublicKey(PublicKey),
    /// Not more than 2/3 of the header's own validator set signed.
    #[error("insufficient signing power: {0}")]
    InsufficientSigningPower(VotingPowerTally),
}
