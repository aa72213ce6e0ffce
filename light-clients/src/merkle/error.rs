//! The one error type of the Merkle module.

use std::fmt::Write as _;

use protocol::Hash;

/// Why a state proof was refused, or why a proof could not be built.
///
/// Every message names what is wrong (which key, which index, which hash),
/// so that a relayer operator reading a log line can tell a stale root from a
/// forged proof. Keys are shown in hex (long keys are abbreviated).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The proof was made for a different key than the one being verified.
    #[error("proof is for key {}, not {}", show_key(.proof_key), show_key(.key))]
    KeyMismatch {
        /// The key the proof is about.
        proof_key: Vec<u8>,
        /// The key the caller asked about.
        key: Vec<u8>,
    },

    /// The value given to the verifier is not the one the proof commits to.
    #[error(
        "value mismatch for key {}: the proof commits to value hash {proven}, the given value hashes to {given}",
        show_key(.key)
    )]
    ValueMismatch {
        /// The key being verified.
        key: Vec<u8>,
        /// The value hash carried in the proof.
        proven: Hash,
        /// The hash of the value the caller passed in.
        given: Hash,
    },

    /// The proof's path does not lead to the trusted root.
    #[error("root mismatch: computed {computed}, expected {expected}")]
    RootMismatch {
        /// The state root recomputed from the proof.
        computed: Hash,
        /// The trusted state root (e.g. from a verified header).
        expected: Hash,
    },

    /// A leaf index is not below the leaf count claimed by the proof.
    #[error("leaf index {index} out of range for {count} leaves")]
    IndexOutOfRange {
        /// The leaf index in the proof.
        index: u64,
        /// The leaf count in the proof.
        count: u64,
    },

    /// The two neighbours of a non-membership proof are not at consecutive indices.
    #[error("neighbours not adjacent: left leaf index {left}, right leaf index {right}")]
    NotAdjacent {
        /// Index of the left (smaller key) neighbour.
        left: u64,
        /// Index of the right (larger key) neighbour.
        right: u64,
    },

    /// A non-membership proof's neighbour is the very key claimed absent.
    #[error("key exists: non-membership proof shows it (the {side} neighbour at leaf index {index} is key {})", show_key(.key))]
    KeyExists {
        /// The key claimed absent.
        key: Vec<u8>,
        /// "left" or "right".
        side: &'static str,
        /// The neighbour's leaf index.
        index: u64,
    },

    /// A neighbour's key is on the wrong side of the key claimed absent.
    #[error(
        "neighbour out of order: the {side} neighbour key {} must be {} key {}",
        show_key(.neighbour),
        if *.side == "left" { "below" } else { "above" },
        show_key(.key)
    )]
    NeighbourOutOfOrder {
        /// The key claimed absent.
        key: Vec<u8>,
        /// The offending neighbour's key.
        neighbour: Vec<u8>,
        /// "left" or "right".
        side: &'static str,
    },

    /// Only a right neighbour was given, but it is not the first leaf.
    #[error("missing left neighbour: right neighbour is leaf {index}, not the first leaf (0)")]
    NotFirst {
        /// The right neighbour's index.
        index: u64,
    },

    /// Only a left neighbour was given, but it is not the last leaf.
    #[error(
        "missing right neighbour: left neighbour is leaf {index}, not the last of {count} leaves"
    )]
    NotLast {
        /// The left neighbour's index.
        index: u64,
        /// The leaf count in the proof.
        count: u64,
    },

    /// A non-membership proof has no neighbours but claims a non-empty state.
    #[error("non-membership proof has no neighbour leaves but claims {count} leaves")]
    MissingNeighbours {
        /// The leaf count in the proof.
        count: u64,
    },

    /// Fewer sibling hashes than the tree shape requires.
    #[error("truncated proof: expected {expected} sibling hashes, got {got}")]
    TruncatedProof {
        /// How many the leaf count and indices require.
        expected: usize,
        /// How many the proof carries.
        got: usize,
    },

    /// More sibling hashes than the tree shape requires (proofs are canonical).
    #[error("proof too long: expected {expected} sibling hashes, got {got}")]
    ProofTooLong {
        /// How many the leaf count and indices require.
        expected: usize,
        /// How many the proof carries.
        got: usize,
    },

    /// A neighbour of a non-membership proof belongs to another bucket than
    /// the key claimed absent (the bucket is recomputed from each key).
    #[error(
        "neighbour in another bucket: the {side} neighbour key {} is in bucket {neighbour_bucket}, key {} is in bucket {bucket}",
        show_key(.neighbour),
        show_key(.key)
    )]
    WrongBucket {
        /// The key claimed absent.
        key: Vec<u8>,
        /// The bucket of `key` (under the proof's bucket count).
        bucket: u32,
        /// The offending neighbour's key.
        neighbour: Vec<u8>,
        /// The bucket of the neighbour's key.
        neighbour_bucket: u32,
        /// "left" or "right".
        side: &'static str,
    },

    /// The top-level path is longer than any supported bucket count allows.
    #[error("top-level path has {got} hashes: at most {max} (2^{max} buckets) are supported")]
    TopPathTooLong {
        /// How many hashes the top-level path carries.
        got: usize,
        /// [`MAX_BUCKET_BITS`](super::MAX_BUCKET_BITS).
        max: u8,
    },

    /// The leaf count does not fit in this platform's `usize`.
    #[error("leaf count {count} is too large for this platform")]
    CountTooLarge {
        /// The leaf count in the proof.
        count: u64,
    },

    /// `rs_merkle` refused to compute a root (not expected after our own checks).
    #[error("malformed proof: {0}")]
    Malformed(String),

    /// The caller expected the key to be present (with a value) but the proof shows it absent.
    #[error("expected key {} to be present, but the proof shows it absent", show_key(.key))]
    ExpectedPresent {
        /// The key being verified.
        key: Vec<u8>,
    },

    /// The caller expected the key to be absent but the proof shows it present.
    #[error("expected key {} to be absent, but the proof shows it present", show_key(.key))]
    ExpectedAbsent {
        /// The key being verified.
        key: Vec<u8>,
    },

    /// A membership proof was requested for a key that is not in the state.
    #[error("key {} is not in the state: no membership proof exists", show_key(.key))]
    KeyAbsent {
        /// The requested key.
        key: Vec<u8>,
    },

    /// A non-membership proof was requested for a key that is in the state.
    #[error("key {} is in the state: no non-membership proof exists", show_key(.key))]
    KeyPresent {
        /// The requested key.
        key: Vec<u8>,
    },
}

/// Longest key prefix (in bytes) shown in full in an error message.
const SHOWN_KEY_BYTES: usize = 48;

/// Hex of `key`, abbreviated when long, `""` shown as `(empty)`.
pub(crate) fn show_key(key: &[u8]) -> String {
    if key.is_empty() {
        return "(empty)".to_owned();
    }
    if key.len() <= SHOWN_KEY_BYTES {
        return format!("0x{}", hex::encode(key));
    }
    let mut s = format!("0x{}", hex::encode(&key[..SHOWN_KEY_BYTES]));
    let _ = write!(s, "… ({} bytes)", key.len());
    s
}
