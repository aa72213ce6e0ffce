//! Credit-chain transactions: who sends what, signed how.
//!
//! A [`Transaction`] names its chain, its sender's ed25519 key, a per-sender
//! nonce and a [`TxBody`] (one message of one module). The sender signs
//! [`Transaction::sign_bytes`]: a domain tag followed by the canonical
//! (borsh) encoding, which starts with the chain id, so a transaction signed
//! for one chain never verifies on another. The chain accepts nonce `n + 1`
//! after nonce `n`, so an old transaction replayed is refused.
//!
//! Some bodies carry other signatures: an enterprise's signature over a
//! [`ConsentGrant`], an issuer's over an [`Attestation`](crate::Attestation).
//! Proofs of another chain's state travel as bytes (the canonical borsh
//! encoding of `light_clients::merkle::MembershipProof` or
//! `NonMembershipProof`), since this crate does not depend on the light
//! clients; the chain decodes them strictly.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::{Canonical, string_conversions};
use crate::sealed::{EncryptionKey, RecordCommitment, SealedAnswer};
use crate::{
    AggregationRequest, Attestation, ChainId, CreditQuery, CreditRecord, EnterpriseId, Error, Hash,
    Height, InstitutionId, LightBlock, Money, Packet, PacketPayload, PublicKey, RecordKind,
    Signature, Time, ValidatorSet,
};

/// What an institution may do on its chain; an institution has one or
/// more roles.
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
pub enum Role {
    /// A lender: may send credit queries to other chains.
    Bank,
    /// A credit bureau: may send credit queries and issue attestations.
    CreditBureau,
    /// A data provider: writes credit records, sets its query fee, issues
    /// attestations.
    DataProvider,
    /// The regulator: issues attestations; reads everything (state is
    /// public to the chain's members).
    Regulator,
    /// A relayer: maintains light clients of other chains and delivers
    /// packets, acknowledgements and timeouts.
    Relayer,
    /// A registrar (e.g. the market regulation registry): binds an
    /// enterprise's unified social credit code to its signing key.
    Registrar,
}

impl Role {
    /// The role's name as in JSON (`data_provider`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Bank => "bank",
            Role::CreditBureau => "credit_bureau",
            Role::DataProvider => "data_provider",
            Role::Regulator => "regulator",
            Role::Relayer => "relayer",
            Role::Registrar => "registrar",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A balance holder on a chain: a local institution, or an institution of
/// another chain, such as a data provider holding here the fees it earned
/// answering this chain's credit queries (paid from the requester's escrow
/// when the acknowledgement is proven).
///
/// Shown as `bank-a` (local) or `guangdong/bank-a` (remote).
///
/// ```
/// use protocol::tx::Account;
/// let a: Account = "guangdong/bank-a".parse().unwrap();
/// assert_eq!(a.to_string(), "guangdong/bank-a");
/// assert!("Bank".parse::<Account>().is_err());
/// ```
#[derive(
    Clone,
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
#[serde(try_from = "String", into = "String")]
pub enum Account {
    /// An institution registered on this chain.
    Local(InstitutionId),
    /// An institution of another chain.
    Remote {
        /// Its chain.
        chain: ChainId,
        /// Its id there.
        institution: InstitutionId,
    },
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Local(id) => write!(f, "{id}"),
            Account::Remote { chain, institution } => write!(f, "{chain}/{institution}"),
        }
    }
}

impl FromStr for Account {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.split_once('/') {
            None => Ok(Account::Local(s.parse()?)),
            Some((chain, institution)) => Ok(Account::Remote {
                chain: chain.parse()?,
                institution: institution.parse()?,
            }),
        }
    }
}

string_conversions!(Account);

/// An enterprise's authorization for one institution to query its records,
/// signed by the enterprise's registered key over
/// [`ConsentGrant::sign_bytes`].
///
/// It is granted on the chain that holds the records (the one that answers
/// queries), which it names in `chain_id` under the enterprise's signature:
/// a grant replayed on another chain (where the same enterprise code may
/// also hold records) authorises nothing there. The grantee may sit on
/// another chain. Its id is [`ConsentGrant::id`]; the `nonce` lets an
/// enterprise grant the same terms again after a revocation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ConsentGrant {
    /// The chain that holds the records and answers the queries: the only
    /// chain that accepts this grant.
    pub chain_id: ChainId,
    /// The enterprise (data subject) that consents.
    pub enterprise: EnterpriseId,
    /// The chain of the institution allowed to query.
    pub grantee_chain: ChainId,
    /// The institution allowed to query.
    pub grantee: InstitutionId,
    /// The record kinds it may see.
    pub scope: Vec<RecordKind>,
    /// What for (e.g. "loan application 2026-117"); a query must state the
    /// same purpose.
    pub purpose: String,
    /// After this time the consent no longer authorises anything.
    pub expires_at: Time,
    /// Chosen by the enterprise to make otherwise equal grants distinct.
    pub nonce: u64,
}

impl Canonical for ConsentGrant {
    const TYPE_NAME: &'static str = "credit-chain/consent-grant";
}

impl ConsentGrant {
    /// The bytes the enterprise signs: a domain tag and the canonical
    /// encoding.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = b"credit-chain/consent/v1".to_vec();
        out.extend(self.to_canonical_bytes());
        out
    }

    /// The consent's id: the hash of its canonical encoding. Queries name
    /// their consent by this id.
    pub fn id(&self) -> Hash {
        self.canonical_hash()
    }

    /// Whether `kind` is in the scope.
    pub fn covers(&self, kind: RecordKind) -> bool {
        self.scope.contains(&kind)
    }
}

/// Parameters of an on-chain light client of another chain.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(default, deny_unknown_fields)]
pub struct LightClientParams {
    /// Numerator of the skipping-verification trust threshold.
    pub trust_numerator: u64,
    /// Denominator of the trust threshold (the fraction must lie in [1/3, 1]).
    pub trust_denominator: u64,
    /// How long a trusted header may be used, in seconds.
    pub trusting_period_secs: u64,
    /// Tolerated clock drift, in seconds.
    pub clock_drift_secs: u64,
}

impl Default for LightClientParams {
    /// 1/3, 14 days, 10 seconds: the light client's defaults.
    fn default() -> Self {
        LightClientParams {
            trust_numerator: 1,
            trust_denominator: 3,
            trusting_period_secs: 14 * 24 * 3600,
            clock_drift_secs: 10,
        }
    }
}

/// What the destination chain writes back for a received packet; its hash
/// ([`Acknowledgement::hash`]) is committed in the destination's state and
/// proven to the source.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "kind", content = "body")]
pub enum Acknowledgement {
    /// The handler's answer (for a credit query: a
    /// [`CreditResponse`](crate::CreditResponse), including refusals).
    Result(PacketPayload),
    /// The packet was received but cannot be handled here.
    Error(String),
}

impl Canonical for Acknowledgement {
    const TYPE_NAME: &'static str = "credit-chain/acknowledgement";
}

impl Acknowledgement {
    /// The hash committed under the acknowledgement key.
    pub fn hash(&self) -> Hash {
        self.canonical_hash()
    }
}

/// One message of one module. Who may send which is decided by the chain
/// (see the chain's `app` module); every id is validated on decoding.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum TxBody {
    // --- governance ---
    /// Registers an institution with its roles and signing key (governance).
    RegisterInstitution {
        /// The new institution.
        institution: InstitutionId,
        /// Its legal name.
        name: String,
        /// What it may do.
        roles: Vec<Role>,
        /// The key its transactions are signed with.
        key: PublicKey,
    },
    /// Suspends an institution: its transactions are refused (governance).
    SuspendInstitution {
        /// The institution.
        institution: InstitutionId,
        /// Why, for the record.
        reason: String,
    },
    /// Lifts a suspension (governance).
    ReinstateInstitution {
        /// The institution.
        institution: InstitutionId,
    },
    /// Binds an enterprise's unified social credit code to the key it signs
    /// consents with, or rotates that key (governance or a registrar).
    RegisterEnterprise {
        /// The enterprise.
        enterprise: EnterpriseId,
        /// Its signing key.
        key: PublicKey,
    },
    /// Replaces the validator set from the next block (governance).
    SetValidators {
        /// The new set.
        validators: ValidatorSet,
    },
    /// Creates balance (governance; funding without a genesis change).
    Mint {
        /// Who receives it.
        to: Account,
        /// How much, in the chain's currency.
        amount: Money,
    },

    // --- records ---
    /// Legacy: a credit record in plaintext in the chain's state. Refused
    /// by name since records stay with their provider; kept so the variant
    /// indexes after it do not move. See [`TxBody::CommitRecord`].
    WriteRecord {
        /// The record.
        record: CreditRecord,
    },

    // --- consent ---
    /// Stores an enterprise's signed consent (sent by anyone known, e.g. the
    /// enterprise or the grantee).
    GrantConsent {
        /// The terms.
        grant: ConsentGrant,
        /// The enterprise's signature over [`ConsentGrant::sign_bytes`].
        signature: Signature,
    },
    /// Revokes a consent (sent by the enterprise itself).
    RevokeConsent {
        /// [`ConsentGrant::id`] of the consent.
        consent_id: Hash,
    },

    // --- attestations ---
    /// Stores a claim signed by its issuer (the issuer must be the sender).
    IssueAttestation {
        /// The signed claim.
        attestation: Attestation,
    },

    // --- fees ---
    /// Sets the sender's (a data provider's) fee per answered query.
    SetQueryFee {
        /// The fee, in the chain's currency.
        fee: Money,
    },
    /// Moves balance from the sender's account.
    Transfer {
        /// The receiver.
        to: Account,
        /// How much, in the chain's currency.
        amount: Money,
    },

    // --- interchain ---
    /// Creates an on-chain light client of another chain from a trust
    /// anchor.
    CreateClient {
        /// The anchor block (its chain id names the client).
        anchor: LightBlock,
        /// Verification parameters.
        params: LightClientParams,
    },
    /// Offers a newer block of another chain to its client.
    UpdateClient {
        /// The block.
        block: LightBlock,
    },
    /// Shows two validly signed blocks of another chain that conflict; the
    /// client freezes.
    SubmitMisbehaviour {
        /// One block.
        first: LightBlock,
        /// The other (same height and different header, or a higher height
        /// with a time not after the first's).
        second: LightBlock,
    },
    /// Commits a credit query packet to `destination`, escrowing its
    /// maximum fee (the sender must be the query's requester).
    SendCreditQuery {
        /// The chain to ask.
        destination: ChainId,
        /// The query.
        query: CreditQuery,
        /// Not to be received at or after this destination height.
        timeout_height: Option<Height>,
        /// Not to be received at or after this destination time.
        timeout_time: Option<Time>,
    },
    /// Delivers a packet committed on its source chain.
    RecvPacket {
        /// The packet.
        packet: Packet,
        /// Borsh `MembershipProof` of the packet commitment in the source's
        /// state at `proof_height`.
        #[serde(with = "hex::serde")]
        proof: Vec<u8>,
        /// A height of the source trusted by this chain's client of it.
        proof_height: Height,
    },
    /// Delivers the acknowledgement of a packet this chain sent.
    AcknowledgePacket {
        /// The packet as sent.
        packet: Packet,
        /// The destination's acknowledgement.
        acknowledgement: Acknowledgement,
        /// Borsh `MembershipProof` of the acknowledgement hash in the
        /// destination's state at `proof_height`.
        #[serde(with = "hex::serde")]
        proof: Vec<u8>,
        /// A height of the destination trusted by this chain's client of it.
        proof_height: Height,
    },
    /// Times out a packet this chain sent and the destination never
    /// received.
    TimeoutPacket {
        /// The packet as sent.
        packet: Packet,
        /// Borsh `NonMembershipProof` of the packet receipt in the
        /// destination's state at `proof_height`.
        #[serde(with = "hex::serde")]
        proof: Vec<u8>,
        /// A destination height at or past the packet's timeout, trusted by
        /// this chain's client of the destination.
        proof_height: Height,
    },
    /// Sends an attestation stored on this chain to another chain, which
    /// verifies the issuer's signature and its expiry and keeps it.
    SendAttestation {
        /// The chain to send it to.
        destination: ChainId,
        /// The attestation's id on this chain.
        attestation_id: Hash,
        /// Not to be received at or after this destination height.
        timeout_height: Option<Height>,
        /// Not to be received at or after this destination time.
        timeout_time: Option<Time>,
    },
    /// Commits a joint-aggregation request packet to `destination` (the
    /// sender must be the request's requester, a bank or credit bureau).
    SendAggregationRequest {
        /// The chain to ask.
        destination: ChainId,
        /// The request.
        request: AggregationRequest,
        /// Not to be received at or after this destination height.
        timeout_height: Option<Height>,
        /// Not to be received at or after this destination time.
        timeout_time: Option<Time>,
    },
    /// A data provider adds its own amount, encrypted by itself under the
    /// requester's key, to a pending aggregation received from `source`.
    ContributeAggregation {
        /// The chain the aggregation request came from.
        source: ChainId,
        /// The request packet's sequence.
        sequence: u64,
        /// The provider's amount in fen, encrypted as two limbs (yuan,
        /// fen): 128 bytes for exponential ElGamal over Ristretto255
        /// (`homomorphic::FenCiphertext`).
        #[serde(with = "hex::serde")]
        ciphertext: Vec<u8>,
        /// How many records the provider summed (self-reported).
        records: u32,
        /// Zero-knowledge proof that the ciphertext is well formed (each
        /// limb in range, c1 and c2 sharing their randomness), bound to
        /// this contribution (`homomorphic::ContributionProof`, 1,056
        /// bytes); the chain refuses a contribution without a valid one.
        #[serde(with = "hex::serde")]
        proof: Vec<u8>,
    },
    // --- supervision ---
    /// Anchors a signed checkpoint of the regulator's audit log (sender:
    /// an institution with role regulator): the Merkle root of entries
    /// `0..=upto` and the hash of entry `upto`, signed by the sender over
    /// [`AUDIT_CHECKPOINT_TAG`] + borsh `(upto, merkle_root, head_hash,
    /// time)`. Stored under `audit/anchors/<upto>`; `upto` must grow.
    AnchorAuditCheckpoint {
        /// The last audit entry covered.
        upto: u64,
        /// The Merkle root over the hashes of entries `0..=upto`.
        merkle_root: Hash,
        /// The hash of entry `upto`.
        head_hash: Hash,
        /// When the regulator made the checkpoint.
        time: Time,
        /// The regulator's ed25519 signature of the checkpoint.
        signature: Signature,
    },
    // --- fees, continued (appended: variants keep their borsh index) ---
    /// Sets the most a data provider may charge per answered query
    /// (governance): a higher `set_query_fee` is refused, and a fee set
    /// before the cap was lowered is charged at the cap.
    SetMaxQueryFee {
        /// The cap, in the chain's currency.
        fee: Money,
    },
    // --- records that stay home (appended) ---
    /// A data provider commits to a record it keeps itself: the chain
    /// stores the commitment (kind, dates, salted digest), never the
    /// record. The commitment's provider must be the sender.
    CommitRecord {
        /// The commitment.
        commitment: RecordCommitment,
    },
    /// A bank or credit bureau registers (or rotates) the X25519 key its
    /// answers are sealed to; its queries must name it.
    RegisterEncryptionKey {
        /// The key.
        key: EncryptionKey,
    },
    /// A data provider answers a pending credit query received from
    /// `source`: its committed records in the query's scope, sealed to the
    /// requester's key. Refused unless the answer lists exactly the
    /// provider's commitments the chain selected for the query.
    AnswerQuery {
        /// The asking chain.
        source: ChainId,
        /// The query packet's sequence.
        sequence: u64,
        /// The sealed answer.
        answer: SealedAnswer,
    },
    /// A bank or credit bureau registers its share of the joint
    /// aggregation key: a Ristretto255 point (32 bytes) and a Schnorr proof
    /// that it knows the point's discrete log (`homomorphic`'s key-share
    /// proof, bound to the chain and institution), so it cannot register a
    /// share that cancels the regulator's.
    RegisterAggregationKey {
        /// The key share.
        #[serde(with = "hex::serde")]
        key: Vec<u8>,
        /// The proof of knowledge.
        #[serde(with = "hex::serde")]
        proof: Vec<u8>,
    },
    /// Sets the regulator's share of every joint aggregation key
    /// (governance), with its proof of knowledge.
    SetRegulatorAggregationKey {
        /// The key share.
        #[serde(with = "hex::serde")]
        key: Vec<u8>,
        /// The proof of knowledge.
        #[serde(with = "hex::serde")]
        proof: Vec<u8>,
    },
    /// The requester closes an aggregation once every chain it was sent to
    /// answered or timed out: the chain writes the
    /// [`AggregationTotal`](crate::AggregationTotal); no request with this
    /// id may be sent after.
    CloseAggregation {
        /// The aggregation.
        aggregation_id: Hash,
    },
}

/// Domain tag of the bytes a regulator signs for an audit checkpoint
/// (the relayer's audit log signs with the same tag, so the chain checks
/// the very signature the log keeps).
pub const AUDIT_CHECKPOINT_TAG: &[u8] = b"credit-relayer/audit-checkpoint/v1";

/// An anchored audit checkpoint, as stored by
/// [`TxBody::AnchorAuditCheckpoint`] under
/// [`state_keys::audit_anchor`](crate::state_keys::audit_anchor).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AuditAnchor {
    /// The last audit entry covered.
    pub upto: u64,
    /// The Merkle root over entries `0..=upto`.
    pub merkle_root: Hash,
    /// The hash of entry `upto`.
    pub head_hash: Hash,
    /// When the regulator made the checkpoint.
    pub time: Time,
    /// The regulator's key that signed it.
    pub regulator: PublicKey,
    /// The signature over [`AuditAnchor::sign_bytes`].
    pub signature: Signature,
}

impl AuditAnchor {
    /// The signed bytes of a checkpoint: [`AUDIT_CHECKPOINT_TAG`] then
    /// borsh `(upto, merkle_root, head_hash, time)`.
    pub fn sign_bytes(upto: u64, merkle_root: &Hash, head_hash: &Hash, time: &Time) -> Vec<u8> {
        let mut out = AUDIT_CHECKPOINT_TAG.to_vec();
        out.extend(borsh::to_vec(&(upto, merkle_root, head_hash, time)).unwrap_or_default());
        out
    }
}

impl TxBody {
    /// The message's name, as the JSON `type` tag (`write_record`).
    pub fn name(&self) -> &'static str {
        match self {
            TxBody::RegisterInstitution { .. } => "register_institution",
            TxBody::SuspendInstitution { .. } => "suspend_institution",
            TxBody::ReinstateInstitution { .. } => "reinstate_institution",
            TxBody::RegisterEnterprise { .. } => "register_enterprise",
            TxBody::SetValidators { .. } => "set_validators",
            TxBody::Mint { .. } => "mint",
            TxBody::WriteRecord { .. } => "write_record",
            TxBody::GrantConsent { .. } => "grant_consent",
            TxBody::RevokeConsent { .. } => "revoke_consent",
            TxBody::IssueAttestation { .. } => "issue_attestation",
            TxBody::SetQueryFee { .. } => "set_query_fee",
            TxBody::SetMaxQueryFee { .. } => "set_max_query_fee",
            TxBody::Transfer { .. } => "transfer",
            TxBody::CreateClient { .. } => "create_client",
            TxBody::UpdateClient { .. } => "update_client",
            TxBody::SubmitMisbehaviour { .. } => "submit_misbehaviour",
            TxBody::SendCreditQuery { .. } => "send_credit_query",
            TxBody::RecvPacket { .. } => "recv_packet",
            TxBody::AcknowledgePacket { .. } => "acknowledge_packet",
            TxBody::TimeoutPacket { .. } => "timeout_packet",
            TxBody::SendAttestation { .. } => "send_attestation",
            TxBody::SendAggregationRequest { .. } => "send_aggregation_request",
            TxBody::ContributeAggregation { .. } => "contribute_aggregation",
            TxBody::AnchorAuditCheckpoint { .. } => "anchor_audit_checkpoint",
            TxBody::CommitRecord { .. } => "commit_record",
            TxBody::RegisterEncryptionKey { .. } => "register_encryption_key",
            TxBody::AnswerQuery { .. } => "answer_query",
            TxBody::RegisterAggregationKey { .. } => "register_aggregation_key",
            TxBody::SetRegulatorAggregationKey { .. } => "set_regulator_aggregation_key",
            TxBody::CloseAggregation { .. } => "close_aggregation",
        }
    }

    /// The module that handles the message: `governance`, `records`,
    /// `consent`, `keys`, `attestations`, `fees`, `interchain` or
    /// `supervision`.
    pub fn module(&self) -> &'static str {
        match self {
            TxBody::RegisterInstitution { .. }
            | TxBody::SuspendInstitution { .. }
            | TxBody::ReinstateInstitution { .. }
            | TxBody::RegisterEnterprise { .. }
            | TxBody::SetValidators { .. }
            | TxBody::Mint { .. }
            | TxBody::SetRegulatorAggregationKey { .. } => "governance",
            TxBody::WriteRecord { .. } | TxBody::CommitRecord { .. } => "records",
            TxBody::RegisterEncryptionKey { .. } | TxBody::RegisterAggregationKey { .. } => "keys",
            TxBody::GrantConsent { .. } | TxBody::RevokeConsent { .. } => "consent",
            TxBody::IssueAttestation { .. } => "attestations",
            TxBody::SetQueryFee { .. }
            | TxBody::SetMaxQueryFee { .. }
            | TxBody::Transfer { .. } => "fees",
            TxBody::CreateClient { .. }
            | TxBody::UpdateClient { .. }
            | TxBody::SubmitMisbehaviour { .. }
            | TxBody::SendCreditQuery { .. }
            | TxBody::RecvPacket { .. }
            | TxBody::AcknowledgePacket { .. }
            | TxBody::TimeoutPacket { .. }
            | TxBody::SendAttestation { .. }
            | TxBody::SendAggregationRequest { .. }
            | TxBody::ContributeAggregation { .. }
            | TxBody::AnswerQuery { .. }
            | TxBody::CloseAggregation { .. } => "interchain",
            TxBody::AnchorAuditCheckpoint { .. } => "supervision",
        }
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// The chain it is for; part of what is signed.
    pub chain_id: ChainId,
    /// The sender's ed25519 key (a governance, institution or enterprise
    /// key registered on the chain).
    pub sender: PublicKey,
    /// The sender's next nonce: 1 for its first transaction, then one more
    /// each time.
    pub nonce: u64,
    /// The message.
    pub body: TxBody,
}

impl Canonical for Transaction {
    const TYPE_NAME: &'static str = "credit-chain/transaction";
}

impl Transaction {
    /// The domain tag in front of the signed bytes.
    pub const SIGN_TAG: &'static [u8] = b"credit-chain/tx/v1";

    /// The bytes the sender signs: [`Self::SIGN_TAG`] then the canonical
    /// encoding, which begins with the chain id.
    ///
    /// ```
    /// use protocol::tx::{Transaction, TxBody};
    /// use protocol::PublicKey;
    /// let tx = |chain: &str| Transaction {
    ///     chain_id: chain.parse().unwrap(),
    ///     sender: PublicKey([7; 32]),
    ///     nonce: 1,
    ///     body: TxBody::ReinstateInstitution { institution: "bank-a".parse().unwrap() },
    /// };
    /// assert_ne!(tx("shaanxi").sign_bytes(), tx("beijing").sign_bytes());
    /// ```
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = Self::SIGN_TAG.to_vec();
        out.extend(self.to_canonical_bytes());
        out
    }
}

/// A transaction with its sender's signature over
/// [`Transaction::sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// The sender's ed25519 signature.
    pub signature: Signature,
}

impl Canonical for SignedTransaction {
    const TYPE_NAME: &'static str = "credit-chain/signed-transaction";
}

impl SignedTransaction {
    /// The transaction's id: the hash of the canonical encoding, signature
    /// included.
    pub fn hash(&self) -> Hash {
        self.canonical_hash()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                chain_id: "shaanxi".parse().unwrap(),
                sender: PublicKey([1; 32]),
                nonce: 3,
                body: TxBody::Transfer {
                    to: "guangdong/bank-a".parse().unwrap(),
                    amount: Money {
                        minor_units: 500,
                        currency: crate::Currency::CNY,
                    },
                },
            },
            signature: Signature([2; 64]),
        }
    }

    #[test]
    fn borsh_and_json_round_trip() {
        let tx = sample();
        let bytes = tx.to_canonical_bytes();
        assert_eq!(SignedTransaction::from_canonical_bytes(&bytes).unwrap(), tx);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(SignedTransaction::from_canonical_bytes(&trailing).is_err());
        let json = serde_json::to_string(&tx).unwrap();
        assert!(json.contains("\"type\":\"transfer\""), "{json}");
        assert!(json.contains("\"guangdong/bank-a\""), "{json}");
        assert_eq!(
            serde_json::from_str::<SignedTransaction>(&json).unwrap(),
            tx
        );
    }

    #[test]
    fn hash_covers_signature_and_sign_bytes_bind_chain() {
        let a = sample();
        let mut b = a.clone();
        b.signature = Signature([3; 64]);
        assert_ne!(a.hash(), b.hash());
        let mut c = a.clone();
        c.tx.chain_id = "beijing".parse().unwrap();
        assert_ne!(a.tx.sign_bytes(), c.tx.sign_bytes());
        assert!(a.tx.sign_bytes().starts_with(Transaction::SIGN_TAG));
    }

    #[test]
    fn decoding_validates_ids() {
        let json = serde_json::to_string(&sample())
            .unwrap()
            .replace("guangdong/bank-a", "guangdong/Bank A");
        let err = serde_json::from_str::<SignedTransaction>(&json).unwrap_err();
        assert!(err.to_string().contains("invalid institution id"), "{err}");
    }

    #[test]
    fn accounts_parse() {
        assert_eq!(
            "bank-a".parse::<Account>().unwrap(),
            Account::Local("bank-a".parse().unwrap())
        );
        assert!("a/b/c".parse::<Account>().is_err());
        assert!("/bank-a".parse::<Account>().is_err());
    }

    #[test]
    fn consent_id_depends_on_every_field() {
        let grant = ConsentGrant {
            chain_id: "guangdong".parse().unwrap(),
            enterprise: "91350100M000100Y43".parse().unwrap(),
            grantee_chain: "shaanxi".parse().unwrap(),
            grantee: "bank-a".parse().unwrap(),
            scope: vec![RecordKind::Loan],
            purpose: "loan".into(),
            expires_at: Time::from_unix_nanos(1),
            nonce: 0,
        };
        let mut other = grant.clone();
        other.nonce = 1;
        assert_ne!(grant.id(), other.id());
        let mut elsewhere = grant.clone();
        elsewhere.chain_id = "beijing".parse().unwrap();
        assert_ne!(grant.id(), elsewhere.id());
        assert_ne!(grant.sign_bytes(), elsewhere.sign_bytes());
        assert!(grant.covers(RecordKind::Loan));
        assert!(!grant.covers(RecordKind::Tax));
        assert!(grant.sign_bytes().starts_with(b"credit-chain/consent/v1"));
    }
}
