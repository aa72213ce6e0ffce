//! The values stored under the keys of [`keys`](super::keys), and typed
//! access to them. Every value is its canonical borsh encoding.

use borsh::{BorshDeserialize, BorshSerialize};
use light_clients::credit_chain::Misbehaviour;
use protocol::tx::{Account, ConsentGrant, LightClientParams, Role};
use protocol::{
    Acknowledgement, Currency, EnterpriseId, Height, InstitutionId, LightBlock, Money, PublicKey,
    Signature, Time,
};
use serde::{Deserialize, Serialize};

use super::error::TxError;
use super::keys;
use super::store::{KvStore, KvStoreMut};

/// The chain's parameters, fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Params {
    /// The currency balances and fees are kept in.
    pub currency: Currency,
}

/// Who a signing key belongs to.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Principal {
    /// A governance member: registers institutions, changes validators.
    Governance,
    /// A registered institution.
    Institution(InstitutionId),
    /// An enterprise: signs and revokes consents.
    Enterprise(EnterpriseId),
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Governance => f.write_str("governance"),
            Principal::Institution(id) => write!(f, "institution {id}"),
            Principal::Enterprise(id) => write!(f, "enterprise {id}"),
        }
    }
}

/// Why and since when an institution is suspended.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Suspension {
    /// The reason governance gave.
    pub reason: String,
    /// The height of the suspending block.
    pub since: Height,
}

/// A registered institution.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct InstitutionRecord {
    /// Its id.
    pub id: InstitutionId,
    /// Its legal name.
    pub name: String,
    /// What it may do, sorted.
    pub roles: Vec<Role>,
    /// The key its transactions are signed with.
    pub key: PublicKey,
    /// Set while suspended.
    pub suspension: Option<Suspension>,
}

impl InstitutionRecord {
    /// Whether it holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// An enterprise's registered signing key.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct EnterpriseRecord {
    /// The enterprise.
    pub enterprise: EnterpriseId,
    /// The key it signs consents (and its transactions) with.
    pub key: PublicKey,
}

/// A stored consent.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The terms.
    pub grant: ConsentGrant,
    /// The enterprise's signature over them.
    pub signature: Signature,
    /// The block time it was stored at.
    pub granted_at: Time,
    /// The block time it was revoked at, if revoked.
    pub revoked_at: Option<Time>,
}

/// Fee escrowed on the source for a packet in flight.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Escrow {
    /// Who paid it in (and gets it back).
    pub account: Account,
    /// How much.
    pub amount: Money,
}

/// How a packet this chain sent ended.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "result", content = "acknowledgement")]
pub enum PacketResult {
    /// The destination's acknowledgement, verified against its state.
    Acknowledged(Box<Acknowledgement>),
    /// Proven not received before its timeout.
    TimedOut,
}

/// On a data chain: an aggregation request received and not yet
/// acknowledged. Defined in `protocol`, because provider agents read it
/// (proven) without depending on this crate.
pub use protocol::PendingAggregation;

/// On the requester's chain: who sent an aggregation's request to one
/// destination, with which sequence, about whom and under which key (the
/// same for every destination of one aggregation, so its partials add up).
/// Kept after a timeout (the packet's result says so) until the request is
/// sent again.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AggregationSent {
    /// The requester.
    pub requester: InstitutionId,
    /// The request packet's sequence.
    pub sequence: u64,
    /// The enterprise asked about.
    pub enterprise: EnterpriseId,
    /// The joint encryption key the request was sent under.
    #[serde(with = "hex::serde")]
    pub encryption_key: Vec<u8>,
}

/// Misbehaviour evidence as stored (mirrors the light client's
/// [`Misbehaviour`]).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum StoredEvidence {
    /// Two headers at one height.
    ConflictingHeaders {
        /// One.
        first: LightBlock,
        /// The other.
        second: LightBlock,
    },
    /// A higher header not later in time.
    NonMonotonicTime {
        /// The lower block.
        earlier: LightBlock,
        /// The higher block.
        later: LightBlock,
    },
}

impl From<Misbehaviour> for StoredEvidence {
    fn from(m: Misbehaviour) -> Self {
        match m {
            Misbehaviour::ConflictingHeaders { first, second } => {
                StoredEvidence::ConflictingHeaders {
                    first: *first,
                    second: *second,
                }
            }
            Misbehaviour::NonMonotonicTime { earlier, later } => StoredEvidence::NonMonotonicTime {
                earlier: *earlier,
                later: *later,
            },
        }
    }
}

impl From<StoredEvidence> for Misbehaviour {
    fn from(e: StoredEvidence) -> Self {
        match e {
            StoredEvidence::ConflictingHeaders { first, second } => {
                Misbehaviour::ConflictingHeaders {
                    first: Box::new(first),
                    second: Box::new(second),
                }
            }
            StoredEvidence::NonMonotonicTime { earlier, later } => Misbehaviour::NonMonotonicTime {
                earlier: Box::new(earlier),
                later: Box::new(later),
            },
        }
    }
}

/// An on-chain light client of another chain.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredClient {
    /// Its verification parameters.
    pub params: LightClientParams,
    /// Trusted blocks, lowest height first (at most
    /// [`MAX_STORED_HEADERS`](super::interchain::MAX_STORED_HEADERS)).
    pub trusted: Vec<LightBlock>,
    /// Evidence it is frozen on.
    pub frozen: Option<StoredEvidence>,
}

/// Reads and decodes the value under `key`.
pub(crate) fn read<T: BorshDeserialize>(
    store: &(impl KvStore + ?Sized),
    key: &[u8],
) -> Result<Option<T>, TxError> {
    match store.get(key) {
        None => Ok(None),
        Some(bytes) => decode(key, &bytes).map(Some),
    }
}

/// Decodes a stored value strictly.
pub(crate) fn decode<T: BorshDeserialize>(key: &[u8], bytes: &[u8]) -> Result<T, TxError> {
    borsh::from_slice(bytes).map_err(|e| TxError::CorruptState {
        key: keys::show(key),
        reason: e.to_string(),
    })
}

/// Encodes and writes `value` under `key`.
pub(crate) fn write<T: BorshSerialize>(
    store: &mut (impl KvStoreMut + ?Sized),
    key: Vec<u8>,
    value: &T,
) {
    // Encoding into a Vec cannot fail; borsh only errors on writer I/O.
    store.set(key, borsh::to_vec(value).unwrap_or_default());
}

/// The chain parameters.
pub(crate) fn params(store: &(impl KvStore + ?Sized)) -> Result<Params, TxError> {
    read(store, &keys::params())?.ok_or_else(|| TxError::CorruptState {
        key: "params".into(),
        reason: "missing: the chain was not initialised with a genesis".into(),
    })
}
