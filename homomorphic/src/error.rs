//! The crate's one error type.

/// Everything that can go wrong in this crate, each variant naming exactly
/// what was wrong and, where there is one, with which value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An encoding had the wrong number of bytes.
    #[error("{what} must be {expected} bytes, got {actual}")]
    WrongLength {
        /// What was being decoded ("ciphertext", "public key", "secret key").
        what: &'static str,
        /// The only accepted length.
        expected: usize,
        /// The length that was given.
        actual: usize,
    },

    /// A hex string did not decode to bytes.
    #[error("{what} is not valid hex: {source}")]
    InvalidHex {
        /// What was being decoded.
        what: &'static str,
        /// Why the hex decoder refused it.
        source: hex::FromHexError,
    },

    /// A 32-byte point encoding is not the canonical Ristretto255 encoding:
    /// its field element is not reduced modulo 2^255 - 19, or it is
    /// "negative" (lowest bit set). Every point has exactly one canonical
    /// encoding, so accepting these would make one ciphertext have several
    /// byte strings.
    #[error(
        "{what} is not a canonical Ristretto255 encoding (field element not below 2^255-19, or negative)"
    )]
    NonCanonicalPoint {
        /// Which point: "ciphertext c1", "ciphertext c2" or "public key".
        what: &'static str,
    },

    /// A 32-byte string is a canonical field element but not the encoding of
    /// any Ristretto255 point.
    #[error("{what} does not encode a Ristretto255 point")]
    NotAPoint {
        /// Which point: "ciphertext c1", "ciphertext c2" or "public key".
        what: &'static str,
    },

    /// The public key is the identity point: "encrypting" under it hides
    /// nothing, so it is refused on decode.
    #[error("public key is the identity point, which would hide nothing")]
    IdentityPublicKey,

    /// A 32-byte secret key is not a canonical scalar (it is not below the
    /// group order ℓ = 2^252 + 27742317777372353535851937790883648493).
    #[error("secret key is not a canonical scalar (must be below the group order)")]
    NonCanonicalSecretKey,

    /// A secret key of zero, whose public key would be the identity.
    #[error("secret key is zero")]
    ZeroSecretKey,

    /// [`PublicKey::encrypt`](crate::PublicKey::encrypt) was asked to encrypt
    /// more than [`MAX_AMOUNT`](crate::MAX_AMOUNT).
    #[error("amount {amount} exceeds the maximum encryptable amount {max}")]
    AmountTooLarge {
        /// The amount that was refused.
        amount: u64,
        /// [`MAX_AMOUNT`](crate::MAX_AMOUNT).
        max: u64,
    },

    /// The decrypted plaintext is not in `0..=max`, the range the
    /// discrete-log table covers: the sum exceeded the bound, or the
    /// ciphertext was made under another key (or is not an encryption at
    /// all). Decryption never returns a wrong number instead.
    #[error(
        "plaintext is not in 0..={max}: the total exceeds the discrete-log table's range, or the ciphertext was not made under this key"
    )]
    PlaintextOutOfRange {
        /// The largest value the table that was used can recover.
        max: u64,
    },

    /// [`DiscreteLogTable::with_params`](crate::DiscreteLogTable::with_params)
    /// was given a baby-step table size outside the supported range.
    #[error("discrete-log table baby-step bits must be in {min}..={max}, got {bits}")]
    BabyStepBitsOutOfRange {
        /// The number of bits that was asked for.
        bits: u32,
        /// Smallest accepted value.
        min: u32,
        /// Largest accepted value.
        max: u32,
    },

    /// A point or scalar inside a
    /// [`ContributionProof`](crate::ContributionProof) encoding is not
    /// canonical (or the range proof's layout is wrong).
    #[error("contribution proof is malformed: its {part} is not a canonical encoding")]
    ProofMalformed {
        /// Which part: `"yuan sigma T1"` … `"fen sigma s_r"`, `"range proof"`.
        part: &'static str,
    },

    /// A [`ContributionProof`](crate::ContributionProof) does not verify
    /// for this ciphertext, key and context.
    #[error(
        "contribution proof rejected: the {check} check failed (amount out of range, or a proof for another ciphertext, key or context)"
    )]
    ProofRejected {
        /// Which check failed: `"same randomness"` (c1 and c2 of a limb do
        /// not share their randomness) or `"range"` (a limb is out of
        /// range, or the proof is for another statement).
        check: &'static str,
    },

    /// Making a range proof failed (cannot happen for amounts the prover
    /// accepted; reported rather than panicking).
    #[error("cannot make the range proof: {reason}")]
    ProvingFailed {
        /// The `bulletproofs` crate's error.
        reason: String,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
