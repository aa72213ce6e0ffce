//! Wire types of the credit interchain network and their canonical encoding.
//!
//! What is signed or hashed is encoded with [borsh] (see [`encoding`]): one
//! byte string per value. JSON via serde is only for the edges (RPC, CLI
//! files). Every decoder validates (chain ids, unified social credit codes,
//! canonical validator sets), so a value of these types is always well
//! formed. This crate does no I/O.

pub mod crypto;
pub mod encoding;
pub mod error;
pub mod hash;
pub mod header;
pub mod ids;
pub mod packet;
pub mod registry;
pub mod sealed;
pub mod state_keys;
pub mod time;
pub mod tx;
pub mod validator;

pub use crypto::{PublicKey, Signature};
pub use encoding::Canonical;
pub use error::Error;
pub use hash::Hash;
pub use header::{Commit, CommitSig, Header, LightBlock, SignedHeader, vote_sign_bytes};
pub use ids::{ChainId, EnterpriseId, InstitutionId};
pub use packet::{
    AggregationPartial, AggregationRequest, AggregationTotal, Attestation, ChainRegistration,
    ChainType, CreditQuery, CreditRecord, CreditResponse, Currency, FeeCharge, Money, Packet,
    PacketPayload, PendingAggregation, QueryOutcome, RecordKind, RecordStatus, TrustAnchor,
};
pub use registry::{Approval, Proposal, ProposalId, SignedProposal};
pub use sealed::{
    DecryptionKey, EncryptionKey, RecordCommitment, SaltedRecord, SealError, SealedAnswer,
};
pub use time::{Height, Time};
pub use tx::{
    Account, Acknowledgement, ConsentGrant, LightClientParams, Role, SignedTransaction,
    Transaction, TxBody,
};
pub use validator::{MAX_TOTAL_VOTING_POWER, Validator, ValidatorSet};
