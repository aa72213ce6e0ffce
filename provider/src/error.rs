//! The crate's one error type.

use protocol::{ChainId, Hash, Height, InstitutionId};

/// What went wrong in the provider agent or its book of records.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded store failed.
    #[error("record store (sled) at {path}: {reason}")]
    Sled {
        /// The store's directory.
        path: String,
        /// What sled said.
        reason: String,
    },
    /// PostgreSQL failed or could not be reached.
    #[error("record store (PostgreSQL): {0}")]
    Postgres(String),
    /// A stored record does not decode or does not match its key: the
    /// store was written by something else, or damaged.
    #[error("stored record {digest} is corrupt: {reason}")]
    CorruptRecord {
        /// The digest it is stored under (hex, or the raw key when that is
        /// not a digest).
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored progress value (last height, handled marker) does not decode.
    #[error("stored agent progress {key} is corrupt: {reason}")]
    CorruptProgress {
        /// Which value.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record given to the agent is not this provider's to keep.
    #[error("record of provider {found} given to the agent of provider {expected}")]
    ForeignRecord {
        /// The agent's institution.
        expected: InstitutionId,
        /// The record's provider.
        found: InstitutionId,
    },
    /// The chain expects a record the book does not hold: the answer is
    /// not sent (a partial answer is never sealed).
    #[error(
        "record {digest} committed on the chain is not in the record store: \
         not answering {what}"
    )]
    MissingRecord {
        /// The commitment's digest.
        digest: Hash,
        /// The query or aggregation that needed it.
        what: String,
    },
    /// A record in the book does not fit what the chain asks for.
    #[error("record {digest} does not fit {what}: {reason}")]
    UnfitRecord {
        /// Its digest.
        digest: Hash,
        /// The query or aggregation.
        what: String,
        /// Why.
        reason: String,
    },
    /// A value read from the chain does not decode as its key says.
    #[error("chain {chain}: value under {key} does not decode: {reason}")]
    ChainValue {
        /// The chain.
        chain: ChainId,
        /// The state key, shown.
        key: String,
        /// The decoding error.
        reason: String,
    },
    /// What an endpoint served does not verify from the operator's trust
    /// anchor (a light block the light client refuses, or a value whose
    /// proof does not match a verified block): nothing is done with it.
    #[error("chain {chain} at height {height}: not trusted: {reason}")]
    Untrusted {
        /// The chain.
        chain: ChainId,
        /// The height of the block concerned.
        height: Height,
        /// Why.
        reason: String,
    },
    /// A trust anchor given by the operator is not one.
    #[error("trust anchor: {0}")]
    TrustAnchor(String),
    /// The chain adapter failed (network, endpoints, self-verification).
    #[error("chain {chain}: {source}")]
    Adapter {
        /// The chain.
        chain: ChainId,
        /// The adapter's error (boxed: it is large, and rare).
        #[source]
        source: Box<adapters::AdapterError>,
    },
    /// The chain refused a transaction.
    #[error("chain {chain} refused {what}: code {code} ({codespace}): {message}")]
    Refused {
        /// The chain.
        chain: ChainId,
        /// The message sent (`answer_query`, ...).
        what: &'static str,
        /// The chain's code.
        code: u32,
        /// Its module.
        codespace: String,
        /// Its message.
        message: String,
    },
    /// Sealing the answer failed.
    #[error("sealing: {0}")]
    Seal(#[from] protocol::SealError),
    /// Encrypting a contribution failed.
    #[error("encrypting the contribution: {0}")]
    Homomorphic(#[from] homomorphic::Error),
    /// A transaction of a batch whose fate the endpoint did not report
    /// (it may or may not be committed): the packets are read again.
    #[error("{what} on {chain}: sent in a batch, fate unknown: {reason}")]
    Unsent {
        /// The chain.
        chain: ChainId,
        /// Which message.
        what: &'static str,
        /// Why it is unknown.
        reason: String,
    },
    /// A key file is unreadable or inconsistent.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// Whether trying again later may succeed without anyone changing
    /// anything: the chain or the store could not be reached, or an
    /// endpoint served what does not verify (another endpoint, or the same
    /// one later, may serve the verified chain). The agent then keeps its
    /// place and retries the same blocks.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Adapter { .. }
                | Error::Unsent { .. }
                | Error::Untrusted { .. }
                | Error::Postgres(_)
                | Error::Sled { .. }
        )
    }
}
