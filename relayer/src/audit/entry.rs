//! One audit entry: the metadata of one cross-chain message, linked to the
//! entry before it by its hash.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use protocol::{
    ChainId, CreditResponse, EnterpriseId, Hash, InstitutionId, Money, Packet, PacketPayload,
    QueryOutcome, Time,
};
use serde::{Deserialize, Serialize};

/// Domain tag of an entry's hash: `Hash::tagged(ENTRY_TAG, [borsh(entry)])`.
pub const ENTRY_TAG: &[u8] = b"credit-relayer/audit-entry";

/// What kind of message an entry is about: the kinds of
/// [`PacketPayload`], by the same names, and the supervision node's own
/// releases of decryption shares.
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
pub enum MessageKind {
    /// [`PacketPayload::CreditQuery`].
    CreditQuery,
    /// [`PacketPayload::CreditResponse`].
    CreditResponse,
    /// [`PacketPayload::Attestation`].
    Attestation,
    /// [`PacketPayload::AggregationRequest`].
    AggregationRequest,
    /// [`PacketPayload::AggregationPartial`] (its ciphertext is never logged).
    AggregationPartial,
    /// [`PacketPayload::ChainRegistration`].
    ChainRegistration,
    /// Not a packet: the supervision node released (or refused) its
    /// decryption share of a closed aggregation's total (never the share
    /// or the ciphertext is logged).
    DecryptionShare,
}

impl MessageKind {
    /// The kind of `payload`.
    pub fn of(payload: &PacketPayload) -> MessageKind {
        match payload {
            PacketPayload::CreditQuery(_) => MessageKind::CreditQuery,
            PacketPayload::CreditResponse(_) => MessageKind::CreditResponse,
            PacketPayload::Attestation(_) => MessageKind::Attestation,
            PacketPayload::AggregationRequest(_) => MessageKind::AggregationRequest,
            PacketPayload::AggregationPartial(_) => MessageKind::AggregationPartial,
            PacketPayload::ChainRegistration(_) => MessageKind::ChainRegistration,
        }
    }

    /// The snake_case name, as in JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::CreditQuery => "credit_query",
            MessageKind::CreditResponse => "credit_response",
            MessageKind::Attestation => "attestation",
            MessageKind::AggregationRequest => "aggregation_request",
            MessageKind::AggregationPartial => "aggregation_partial",
            MessageKind::ChainRegistration => "chain_registration",
            MessageKind::DecryptionShare => "decryption_share",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of the message when the entry was written.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum Outcome {
    /// Committed on the source chain.
    Committed,
    /// Answered by the destination (a credit query).
    Answered,
    /// Refused by the destination, with its reason (no consent, fee).
    Refused(String),
    /// Timed out on the source.
    TimedOut,
    /// Acknowledged on the source.
    Acknowledged,
}

impl Outcome {
    /// How a destination handled a credit query, from its response.
    pub fn of_response(response: &CreditResponse) -> Outcome {
        match &response.outcome {
            QueryOutcome::Answered => Outcome::Answered,
            QueryOutcome::ConsentRefused(reason) => Outcome::Refused(format!("consent: {reason}")),
            QueryOutcome::FeeRefused(reason) => Outcome::Refused(format!("fee: {reason}")),
        }
    }

    /// The status name: `committed`, `answered`, `refused`, `timed_out`,
    /// `acknowledged`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::Answered => "answered",
            Outcome::Refused(_) => "refused",
            Outcome::TimedOut => "timed_out",
            Outcome::Acknowledged => "acknowledged",
        }
    }

    /// The refusal's reason, if refused.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Refused(reason) => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Refused(reason) => write!(f, "refused({reason})"),
            other => f.write_str(other.status()),
        }
    }
}

/// What the caller logs about a message: an entry without its place in
/// the chain ([`AuditLog::append`](super::AuditLog::append) adds the
/// sequence number and the previous entry's hash).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the message was seen (or its outcome became known).
    pub time: Time,
    /// The chain that committed the packet.
    pub source: ChainId,
    /// The chain it is for.
    pub destination: ChainId,
    /// The packet's sequence on its (source, destination) path.
    pub packet_sequence: u64,
    /// The kind of message.
    pub kind: MessageKind,
    /// The institution that asked (requester, issuer), if the kind has one.
    pub requester: Option<InstitutionId>,
    /// The enterprise the message is about, if any.
    pub enterprise: Option<EnterpriseId>,
    /// Why: a query's declared purpose, an attestation's claim, or a short
    /// description for kinds without one.
    pub purpose: String,
    /// The consent that authorises it, if any.
    pub consent_id: Option<Hash>,
    /// The fee offered (query) or charged (response), if any.
    pub fee: Option<Money>,
    /// What became of it.
    pub outcome: Outcome,
}

impl AuditRecord {
    /// The metadata of `packet` with `outcome`, seen at `time`.
    ///
    /// Only metadata is taken: an aggregation request's encryption key and
    /// an aggregation partial's ciphertext and proof are never copied, nor
    /// are a response's records.
    pub fn from_packet(packet: &Packet, outcome: Outcome, time: Time) -> AuditRecord {
        let mut record = AuditRecord {
            time,
            source: packet.source.clone(),
            destination: packet.destination.clone(),
            packet_sequence: packet.sequence,
            kind: MessageKind::of(&packet.payload),
            requester: None,
            enterprise: None,
            purpose: String::new(),
            consent_id: None,
            fee: None,
            outcome,
        };
        match &packet.payload {
            PacketPayload::CreditQuery(q) => {
                record.requester = Some(q.requester.clone());
                record.enterprise = Some(q.enterprise.clone());
                record.purpose = q.purpose.clone();
                record.consent_id = Some(q.consent_id);
                record.fee = Some(q.max_fee);
            }
            PacketPayload::CreditResponse(r) => {
                record.purpose = format!("response to query packet {}", r.query_packet);
                record.fee = Some(r.fee_charged);
            }
            PacketPayload::Attestation(a) => {
                record.requester = Some(a.issuer.clone());
                record.enterprise = Some(a.enterprise.clone());
                record.purpose = a.claim.clone();
            }
            PacketPayload::AggregationRequest(a) => {
                record.requester = Some(a.requester.clone());
                record.enterprise = Some(a.enterprise.clone());
                record.purpose = format!("{} [aggregation {}]", a.purpose, a.aggregation_id);
                record.consent_id = Some(a.consent_id);
            }
            PacketPayload::AggregationPartial(p) => {
                record.purpose = format!(
                    "partial sum for aggregation {} from {} over {} providers",
                    p.aggregation_id, p.chain, p.providers
                );
            }
            PacketPayload::ChainRegistration(r) => {
                record.purpose = format!("registration of chain {}", r.chain_id);
            }
        }
        record
    }
}

/// One entry of the audit log: a message's metadata, its place in the log
/// and the hash of the entry before it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 0.
    pub sequence: u64,
    /// The metadata (borsh lays its fields out in place, so the encoding
    /// is that of the fields side by side).
    #[serde(flatten)]
    pub record: AuditRecord,
    /// The hash of entry `sequence - 1`; [`Hash::ZERO`] for entry 0.
    pub prev_hash: Hash,
}

impl AuditEntry {
    /// `record` as entry `sequence`, linked to `prev_hash`.
    pub fn new(sequence: u64, prev_hash: Hash, record: AuditRecord) -> AuditEntry {
        AuditEntry {
            sequence,
            record,
            prev_hash,
        }
    }

    /// The canonical bytes: borsh, as stored and hashed.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Writing into a Vec cannot fail.
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes canonical bytes (strictly: no trailing bytes, valid ids).
    pub fn from_bytes(bytes: &[u8]) -> Result<AuditEntry, String> {
        borsh::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// The entry's hash: `Hash::tagged(ENTRY_TAG, [canonical bytes])`. It
    /// covers every field, the sequence and the link included.
    pub fn hash(&self) -> Hash {
        Hash::tagged(ENTRY_TAG, &[&self.to_bytes()])
    }
}
