//! Interchain packets and their payloads.
//!
//! A packet is committed in its source chain's state under
//! (destination, sequence); the commitment is [`Packet::commitment`].

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::{Canonical, invalid_data, string_conversions};
use crate::sealed::{EncryptionKey, SealedAnswer};
use crate::{
    ChainId, EnterpriseId, Error, Hash, Height, InstitutionId, PublicKey, Signature, Time,
    ValidatorSet,
};

/// Kinds of credit record a chain holds and a query may ask for.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A loan granted.
    Loan,
    /// A repayment made.
    Repayment,
    /// An overdue payment.
    Overdue,
    /// A tax payment or tax grade.
    Tax,
    /// A utility (water, power, gas) payment.
    Utility,
    /// A court judgement.
    Judgement,
}

/// An ISO 4217 currency code such as `CNY`.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, Serialize, Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Renminbi.
    pub const CNY: Currency = Currency(*b"CNY");
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.as_bytes() {
            [a, b, c] if s.bytes().all(|x| x.is_ascii_uppercase()) => Ok(Currency([*a, *b, *c])),
            _ => Err(Error::InvalidCurrency(s.to_owned())),
        }
    }
}

string_conversions!(Currency);

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only uppercase ASCII is ever stored.
        f.write_str(std::str::from_utf8(&self.0).unwrap_or("???"))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({self})")
    }
}

impl BorshDeserialize for Currency {
    fn deserialize_reader<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Self> {
        let bytes = <[u8; 3]>::deserialize_reader(reader)?;
        let s = String::from_utf8_lossy(&bytes).into_owned();
        s.parse().map_err(invalid_data)
    }
}

/// An amount of money in minor units (fen for CNY); integers only, so sums
/// are exact.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Amount in minor units.
    pub minor_units: u64,
    /// Currency.
    pub currency: Currency,
}

/// Status of a credit record.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Running (a loan not yet repaid).
    Active,
    /// Settled in full.
    Settled,
    /// Past due.
    Overdue,
    /// Written off or closed otherwise.
    Closed,
}

/// One credit record about an enterprise, written by a data provider.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditRecord {
    /// The enterprise the record is about.
    pub enterprise: EnterpriseId,
    /// What kind of record.
    pub kind: RecordKind,
    /// Amount and currency.
    pub amount: Money,
    /// When it started (loan granted, payment made, judgement issued).
    pub start: Time,
    /// When it ends or ended, if it has an end.
    pub end: Option<Time>,
    /// Current status.
    pub status: RecordStatus,
    /// The institution that wrote it.
    pub provider: InstitutionId,
    /// Digest of the off-chain source document, if any.
    pub document_digest: Option<Hash>,
}

/// A cross-chain credit query, signed off by the requester institution.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditQuery {
    /// Who asks.
    pub requester: InstitutionId,
    /// About whom.
    pub enterprise: EnterpriseId,
    /// Which kinds of record; must be covered by the consent's scope.
    pub kinds: Vec<RecordKind>,
    /// Why (recorded for supervision, checked against the consent).
    pub purpose: String,
    /// The enterprise's consent that authorises this query.
    pub consent_id: Hash,
    /// The most the requester will pay.
    pub max_fee: Money,
    /// The requester's encryption key, which the answer is sealed to: the
    /// key registered for the requester on the asking chain (that chain
    /// refuses the query otherwise).
    pub encryption_key: EncryptionKey,
}

/// How the destination chain handled a credit query.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
#[serde(deny_unknown_fields)]
pub enum QueryOutcome {
    /// Answered: the sealed answers follow (none when no record is
    /// committed in the scope).
    Answered,
    /// Refused: no valid consent covers the query.
    ConsentRefused(String),
    /// Refused: the fee could not be paid.
    FeeRefused(String),
}

/// The answer to a [`CreditQuery`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditResponse {
    /// Commitment hash of the query packet this answers.
    pub query_packet: Hash,
    /// What happened.
    pub outcome: QueryOutcome,
    /// One sealed answer per provider that answered, in provider order
    /// (empty unless answered; empty and `missing` empty: no record).
    pub answers: Vec<SealedAnswer>,
    /// Providers holding committed records in the scope that did not
    /// answer before the answering chain's deadline.
    pub missing: Vec<InstitutionId>,
    /// The fee charged: the sum of `charges` (zero unless answered).
    pub fee_charged: Money,
    /// What each provider that answered charges, in the
    /// destination's order. Nothing is paid on the destination: the source
    /// pays each provider out of the requester's escrow when this
    /// acknowledgement is proven to it.
    pub charges: Vec<FeeCharge>,
}

/// One provider's fee for an answered [`CreditQuery`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeCharge {
    /// The data provider, an institution of the answering chain.
    pub provider: InstitutionId,
    /// Its fee.
    pub fee: Money,
}

/// A signed claim by an issuer about an enterprise ("no overdue loan in 24
/// months", "tax grade A").
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// The issuing institution.
    pub issuer: InstitutionId,
    /// The key it signs with.
    pub issuer_key: PublicKey,
    /// The enterprise the claim is about.
    pub enterprise: EnterpriseId,
    /// The claim.
    pub claim: String,
    /// When issued.
    pub issued_at: Time,
    /// When it stops being valid.
    pub expires_at: Time,
    /// The issuer's signature over [`Attestation::sign_bytes`].
    pub signature: Signature,
}

impl Attestation {
    /// The bytes the issuer signs: every field but the signature.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let unsigned = (
            &self.issuer,
            &self.issuer_key,
            &self.enterprise,
            &self.claim,
            &self.issued_at,
            &self.expires_at,
        );
        let mut out = b"credit-chain/attestation/v1".to_vec();
        out.extend(borsh::to_vec(&unsigned).unwrap_or_default());
        out
    }
}

/// A request to compute an enterprise's total over all chains under
/// additively homomorphic encryption.
///
/// The destination checks consent exactly as for a [`CreditQuery`] (same
/// requester, enterprise, kinds, purpose and consent id), then waits until
/// `contribution_deadline` for its data providers to encrypt their own
/// amounts under `encryption_key`; its acknowledgement, an
/// [`AggregationPartial`], is written when all have contributed or at the
/// deadline.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationRequest {
    /// Id of this aggregation, chosen by the requester and the same in its
    /// requests to every chain.
    pub aggregation_id: Hash,
    /// Who asks (and holds the decryption key).
    pub requester: InstitutionId,
    /// About whom.
    pub enterprise: EnterpriseId,
    /// Which record kinds to sum.
    pub kinds: Vec<RecordKind>,
    /// Why (checked against the consent, as for a credit query).
    pub purpose: String,
    /// The consent that authorises it.
    pub consent_id: Hash,
    /// Name of the encryption scheme
    /// ([`AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255`]).
    pub scheme: String,
    /// The requester's encryption public key, in the scheme's encoding.
    #[serde(with = "hex::serde")]
    pub encryption_key: Vec<u8>,
    /// Until when (destination block time) its providers may contribute:
    /// the first destination block at or after it acknowledges with what
    /// was contributed.
    pub contribution_deadline: Time,
}

impl AggregationRequest {
    /// Exponential ElGamal over Ristretto255 (the `credit-homomorphic`
    /// crate): 32-byte public keys; amounts in fen as two limbs (yuan,
    /// fen), 128-byte ciphertexts (`homomorphic::FenCiphertext`), each
    /// contribution with a well-formedness proof. Versioned: the first
    /// format (one 64-byte ciphertext, no proof) is refused by name.
    pub const SCHEME_ELGAMAL_RISTRETTO255: &'static str = "exp-elgamal-ristretto255-fen-v2";
}

/// One chain's encrypted partial sum for an aggregation.
///
/// `providers == 0` means nobody contributed (the ciphertext is then the
/// encryption of zero with no randomness); a chain that did not answer at
/// all has no partial, which is never the same as zero.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationPartial {
    /// The aggregation it answers.
    pub aggregation_id: Hash,
    /// The chain whose providers it sums.
    pub chain: ChainId,
    /// How many providers contributed.
    pub providers: u32,
    /// How many providers were expected (those holding records of the
    /// enterprise of the kinds asked for).
    pub expected: u32,
    /// The expected providers that did not contribute before the deadline.
    pub missing: Vec<InstitutionId>,
    /// How many records the contributors say they summed (self-reported).
    pub records: u32,
    /// The ciphertext, in the scheme's encoding: the homomorphic sum of the
    /// contributions, amounts in fen as two limbs (128 bytes).
    #[serde(with = "hex::serde")]
    pub ciphertext: Vec<u8>,
    /// Empty. Each contribution's well-formedness proof was verified by the
    /// chain before it was added, and the sum is the chain's own
    /// (replicated, deterministic) computation, so the acknowledgement's
    /// Merkle proof against the chain's verified header is the partial's
    /// proof; nothing further to verify here.
    #[serde(with = "hex::serde")]
    pub proof: Vec<u8>,
}

/// On a data chain, an aggregation request received and not yet
/// acknowledged (under `state_keys::pending_aggregation`): the request as
/// received, the providers expected to contribute, who did, and the
/// encrypted running sum. Holds no amount. Provider agents read it (proven)
/// to know what to sum and under which key, from their home chain alone.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingAggregation {
    /// The requester's chain.
    pub source: ChainId,
    /// The request packet's sequence.
    pub sequence: u64,
    /// The request as received (its id, enterprise, record kinds,
    /// encryption key and contribution deadline).
    pub request: AggregationRequest,
    /// The providers holding records of the enterprise of the kinds asked
    /// for, sorted.
    pub expected: Vec<InstitutionId>,
    /// Those that contributed, in order.
    pub contributed: Vec<InstitutionId>,
    /// Records the contributors say they summed.
    pub records: u32,
    /// The homomorphic sum of the contributions, in the scheme's encoding
    /// (128 bytes).
    #[serde(with = "hex::serde")]
    pub sum: Vec<u8>,
}

impl PendingAggregation {
    /// Contributions are accepted before this block time (the request's
    /// contribution deadline).
    pub fn deadline(&self) -> Time {
        self.request.contribution_deadline
    }
}

/// An aggregation's total on the asking chain, written by
/// `close_aggregation` once every chain it was sent to answered or timed
/// out: the homomorphic sum of the partials, under the key shared by the
/// requester and the regulator's supervision node
/// ([`AggregationRequest::encryption_key`]). The supervision node releases
/// its decryption share for this ciphertext only, and only when
/// `providers` reaches its threshold; no partial is ever decrypted.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationTotal {
    /// The aggregation.
    pub aggregation_id: Hash,
    /// Who asked.
    pub requester: InstitutionId,
    /// About whom.
    pub enterprise: EnterpriseId,
    /// The joint encryption key (requester's share + regulator's share).
    #[serde(with = "hex::serde")]
    pub encryption_key: Vec<u8>,
    /// The sum of every partial (128 bytes, two limbs).
    #[serde(with = "hex::serde")]
    pub ciphertext: Vec<u8>,
    /// How many providers contributed, over all chains.
    pub providers: u32,
    /// The chains whose partial is in the sum.
    pub chains: Vec<ChainId>,
    /// The chains asked that did not answer (timed out or refused).
    pub missing_chains: Vec<ChainId>,
    /// When it was closed (block time of the asking chain).
    pub closed_at: Time,
}

/// Kind of chain a registration describes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "kebab-case")]
pub enum ChainType {
    /// Our reference credit chain.
    CreditChain,
    /// A CometBFT (Tendermint) chain.
    Cometbft,
}

/// The state a light client starts from when it first trusts a chain.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustAnchor {
    /// Height of the trusted header.
    pub height: Height,
    /// Its hash.
    pub header_hash: Hash,
    /// The validator set that signs the next header.
    pub next_validators: ValidatorSet,
}

/// An operator's request to add a chain to the network.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainRegistration {
    /// The new chain.
    pub chain_id: ChainId,
    /// Its type.
    pub chain_type: ChainType,
    /// Where light clients start.
    pub trust_anchor: TrustAnchor,
    /// The operator's key.
    pub operator_key: PublicKey,
    /// libp2p peer ids of the relayers serving the chain.
    pub relayer_peer_ids: Vec<String>,
    /// The operator's signature over [`ChainRegistration::sign_bytes`].
    pub operator_signature: Signature,
}

impl ChainRegistration {
    /// The bytes the operator signs: every field but the signature.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let unsigned = (
            &self.chain_id,
            &self.chain_type,
            &self.trust_anchor,
            &self.operator_key,
            &self.relayer_peer_ids,
        );
        let mut out = b"credit-chain/registration/v1".to_vec();
        out.extend(borsh::to_vec(&unsigned).unwrap_or_default());
        out
    }
}

/// What a packet carries.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "kind", content = "body")]
#[serde(deny_unknown_fields)]
pub enum PacketPayload {
    /// A credit query.
    CreditQuery(CreditQuery),
    /// The answer to a credit query.
    CreditResponse(CreditResponse),
    /// An attestation relayed to another chain.
    Attestation(Attestation),
    /// A joint aggregation request.
    AggregationRequest(AggregationRequest),
    /// An encrypted partial sum.
    AggregationPartial(AggregationPartial),
    /// A chain registration.
    ChainRegistration(ChainRegistration),
}

/// An interchain packet.
///
/// ```
/// use protocol::{Canonical, Packet};
/// # fn sample() -> Packet { serde_json::from_str(include_str!("../tests/data/packet.json")).unwrap() }
/// let p = sample();
/// let again = Packet::from_canonical_bytes(&p.to_canonical_bytes()).unwrap();
/// assert_eq!(again.commitment(), p.commitment());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packet {
    /// The chain that committed it.
    pub source: ChainId,
    /// The chain it is for.
    pub destination: ChainId,
    /// Per (source, destination) sequence number, from 1.
    pub sequence: u64,
    /// Not to be received at or after this destination height.
    pub timeout_height: Option<Height>,
    /// Not to be received at or after this destination time.
    pub timeout_time: Option<Time>,
    /// The content.
    pub payload: PacketPayload,
}

impl Canonical for Packet {
    const TYPE_NAME: &'static str = "credit-chain/packet";
}

impl Packet {
    /// The hash committed in the source chain's state.
    pub fn commitment(&self) -> Hash {
        self.canonical_hash()
    }
}
