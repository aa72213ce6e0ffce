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

    /// The two key shares are each other's negation: their joint key is
    /// the identity, under which nothing is hidden.
    #[error("the two key shares cancel out: their joint key is the identity point")]
    SharesCancel,

    /// A point or scalar inside a
    /// [`KeyShareProof`](crate::KeyShareProof) or
    /// [`DecryptionShare`](crate::DecryptionShare) encoding is not
    /// canonical.
    #[error("{what} is malformed: its {part} is not a canonical encoding")]
    ShareMalformed {
        /// `"key share proof"` or `"decryption share"`.
        what: &'static str,
        /// Which part: `"R"`, `"s"`, `"D yuan"`, `"D fen"`, `"T G"`, ….
        part: &'static str,
    },

    /// A [`KeyShareProof`](crate::KeyShareProof) does not verify: whoever
    /// registers the key does not show it knows its secret (a rogue key
    /// made to cancel another party's share), or the proof is for another
    /// key or context.
    #[error(
        "key share proof rejected: it does not show knowledge of the share's secret for this key and context (a rogue key, or a proof made for another key or context)"
    )]
    KeyShareProofRejected,

    /// A [`DecryptionShare`](crate::DecryptionShare)'s DLEQ proof does not
    /// verify: it was not made with the secret of the claimed public share,
    /// or not for this ciphertext and context.
    #[error(
        "decryption share rejected: its DLEQ proof does not show it was made with the claimed share's secret for this ciphertext and context"
    )]
    DecryptionShareRejected,

    /// [`combine`](crate::combine) was given a decryption share verified
    /// for another ciphertext than the total.
    #[error("the decryption share was verified for another ciphertext than this total")]
    ShareForAnotherCiphertext,

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
