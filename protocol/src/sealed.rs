//! Records that stay home, and answers sealed to the requester.
//!
//! A data provider keeps its credit records itself (its provider agent);
//! its chain keeps, per record, only a [`RecordCommitment`]: who it is
//! about, who wrote it, its kind and dates (what consent checking and the
//! answer's completeness check need) and a salted digest of the whole
//! record ([`record_digest`]). The salt is 32 random bytes the provider
//! keeps with the record, so the digest of a small amount cannot be found
//! by trying every amount.
//!
//! A query names the requester's encryption key ([`EncryptionKey`], X25519,
//! registered on the requester's chain). Each provider holding committed
//! records in the consent's scope answers with a [`SealedAnswer`]: the list
//! of the commitments it covers, which the answering chain checks against
//! its own list (so no record can be left out), and the records with their
//! salts sealed with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305) to the requester's key, bound to this
//! query by the HPKE `info` ([`SealContext`]). Relayers, mesh peers, both
//! chains' members, the regulator and the API see the ciphertext and the
//! metadata only. The requester opens it ([`open_answer`]) and checks each
//! record against its commitment; the commitments themselves reach it in
//! the acknowledgement, proven against the answering chain's header.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::{ChainId, CreditQuery, CreditRecord, EnterpriseId, Error, Hash, InstitutionId, Time};
use crate::{RecordKind, packet::Packet};

/// The name of the sealing suite, part of every [`SealContext`].
pub const SEAL_SUITE: &str = "hpke-base-x25519-hkdfsha256-chacha20poly1305";

/// The most records one provider's sealed answer may carry (a query's
/// scope on one enterprise is bounded; an answer beyond it is refused).
pub const MAX_RECORDS_PER_ANSWER: usize = 256;

/// The most bytes a sealed answer's ciphertext may have: every record at
/// its largest encoding plus the AEAD tag, with room to spare.
pub const MAX_SEALED_BYTES: usize = MAX_RECORDS_PER_ANSWER * 512 + 64;

/// An X25519 public key records are sealed to (32 bytes, hex in JSON).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct EncryptionKey(pub [u8; 32]);

impl EncryptionKey {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({self})")
    }
}

impl FromStr for EncryptionKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|e| Error::InvalidHex {
            what: "X25519 encryption key",
            reason: format!("{e} (expected 64 hex digits, got {} chars)", s.len()),
        })?;
        Ok(EncryptionKey(out))
    }
}

impl Serialize for EncryptionKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for EncryptionKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The requester's secret half of an [`EncryptionKey`]. Never leaves the
/// requester; zeroized on drop.
pub struct DecryptionKey(Zeroizing<[u8; 32]>);

impl DecryptionKey {
    /// A fresh key pair from `rng`.
    pub fn generate(rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore)) -> DecryptionKey {
        let (secret, _) = X25519HkdfSha256::gen_keypair(rng);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&secret.to_bytes());
        DecryptionKey(Zeroizing::new(bytes))
    }

    /// The key from its 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> DecryptionKey {
        DecryptionKey(Zeroizing::new(bytes))
    }

    /// The secret bytes (for the key file).
    pub fn to_bytes(&self) -> [u8; 32] {
        *self.0
    }

    /// The public key records are sealed to.
    pub fn public(&self) -> EncryptionKey {
        let secret = self.hpke_secret();
        let public = X25519HkdfSha256::sk_to_pk(&secret);
        let mut out = [0u8; 32];
        out.copy_from_slice(&public.to_bytes());
        EncryptionKey(out)
    }

    fn hpke_secret(&self) -> <X25519HkdfSha256 as hpke::Kem>::PrivateKey {
        // Any 32 bytes are an X25519 secret (clamped on use).
        <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&self.0[..])
            .expect("32 bytes are an X25519 secret key")
    }
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DecryptionKey(public {})", self.public())
    }
}

/// What a chain keeps of a credit record: never its amount or status.
///
/// Kind and dates are public because consent checking and the answer's
/// completeness check select records by them (a consent's scope is a set
/// of kinds; a query's answer must cover every committed record of those
/// kinds), and a regulator can see how many records of which kind a
/// provider holds without seeing what they say.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordCommitment {
    /// The enterprise the record is about.
    pub enterprise: EnterpriseId,
    /// The provider that holds it (the sender of `commit_record`).
    pub provider: InstitutionId,
    /// Its kind.
    pub kind: RecordKind,
    /// When it started.
    pub start: Time,
    /// When it ends, if it has an end.
    pub end: Option<Time>,
    /// [`record_digest`] of the record with the provider's salt.
    pub digest: Hash,
}

impl RecordCommitment {
    /// The commitment of `record` under `salt`.
    pub fn of(record: &CreditRecord, salt: &[u8; 32]) -> RecordCommitment {
        RecordCommitment {
            enterprise: record.enterprise.clone(),
            provider: record.provider.clone(),
            kind: record.kind,
            start: record.start,
            end: record.end,
            digest: record_digest(record, salt),
        }
    }

    /// Whether `record` with `salt` is the record committed here: the
    /// digest matches and so does every public field.
    pub fn matches(&self, record: &CreditRecord, salt: &[u8; 32]) -> bool {
        *self == RecordCommitment::of(record, salt)
    }
}

/// The salted digest of a record: tagged SHA-256 over the salt and the
/// record's canonical (borsh) encoding.
pub fn record_digest(record: &CreditRecord, salt: &[u8; 32]) -> Hash {
    let bytes = borsh::to_vec(record).unwrap_or_default();
    Hash::tagged(b"credit-chain/record-commitment/v1", &[salt, &bytes])
}

/// A record with the salt of its commitment, as the provider keeps it and
/// as it travels inside a seal.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaltedRecord {
    /// The commitment's salt.
    #[serde(with = "hex::serde")]
    pub salt: [u8; 32],
    /// The record.
    pub record: CreditRecord,
}

impl SaltedRecord {
    /// `record` with a fresh random salt.
    pub fn new(
        record: CreditRecord,
        rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore),
    ) -> SaltedRecord {
        let mut salt = [0u8; 32];
        rng.fill_bytes(&mut salt);
        SaltedRecord { salt, record }
    }

    /// Its commitment.
    pub fn commitment(&self) -> RecordCommitment {
        RecordCommitment::of(&self.record, &self.salt)
    }
}

/// What binds a sealed answer to one query: the HPKE `info` is the suite
/// name and the borsh encoding of this, so an answer sealed for one query
/// does not open as the answer to another.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SealContext {
    /// The asking chain (the query packet's source).
    pub source: ChainId,
    /// The answering chain.
    pub destination: ChainId,
    /// The query packet's sequence.
    pub sequence: u64,
    /// The query packet's commitment.
    pub query_packet: Hash,
    /// The answering provider.
    pub provider: InstitutionId,
}

impl SealContext {
    /// The context of `provider`'s answer to the query `packet`.
    pub fn of(packet: &Packet, provider: &InstitutionId) -> SealContext {
        SealContext {
            source: packet.source.clone(),
            destination: packet.destination.clone(),
            sequence: packet.sequence,
            query_packet: packet.commitment(),
            provider: provider.clone(),
        }
    }

    fn info(&self) -> Vec<u8> {
        let mut out = SEAL_SUITE.as_bytes().to_vec();
        out.extend(borsh::to_vec(self).unwrap_or_default());
        out
    }
}

/// One provider's answer to a credit query: which committed records it
/// covers (in the chain's key order) and those records, salted, sealed to
/// the requester's key.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedAnswer {
    /// The answering provider.
    pub provider: InstitutionId,
    /// The digests of the committed records it covers; the answering chain
    /// refuses an answer whose list is not exactly its own.
    pub commitments: Vec<Hash>,
    /// The HPKE encapsulated key (X25519: 32 bytes).
    #[serde(with = "hex::serde")]
    pub encapsulated_key: [u8; 32],
    /// The HPKE ciphertext of the borsh `Vec<SaltedRecord>`, with the
    /// borsh `commitments` as associated data.
    #[serde(with = "hex::serde")]
    pub ciphertext: Vec<u8>,
}

/// Why a sealed answer could not be made or was refused on opening.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// HPKE refused the key or the ciphertext did not authenticate.
    #[error("the answer of provider {provider} does not open with this key: {reason}")]
    DoesNotOpen {
        /// The provider whose answer it is.
        provider: InstitutionId,
        /// What HPKE said.
        reason: String,
    },
    /// The opened plaintext is not a list of salted records.
    #[error("the answer of provider {provider} opened to malformed records: {reason}")]
    Malformed {
        /// The provider.
        provider: InstitutionId,
        /// The decoding error.
        reason: String,
    },
    /// More or fewer records than the answer commits to.
    #[error(
        "the answer of provider {provider} holds {opened} records but covers {committed} commitments"
    )]
    CountMismatch {
        /// The provider.
        provider: InstitutionId,
        /// Records inside.
        opened: usize,
        /// Commitments listed.
        committed: usize,
    },
    /// A record does not match the commitment at its place.
    #[error(
        "record {index} of provider {provider} does not match its commitment {commitment}: {reason}"
    )]
    RecordMismatch {
        /// The provider.
        provider: InstitutionId,
        /// Its place in the answer.
        index: usize,
        /// The commitment it should match.
        commitment: Hash,
        /// What differs.
        reason: &'static str,
    },
    /// Too many records, or too many bytes.
    #[error("the answer of provider {provider} is too large: {reason}")]
    TooLarge {
        /// The provider.
        provider: InstitutionId,
        /// Which bound.
        reason: String,
    },
}

/// Seals `records` (the provider's records of the query, in the order of
/// their commitments on the chain) to `key` for the query `packet`.
pub fn seal_answer(
    key: &EncryptionKey,
    packet: &Packet,
    provider: &InstitutionId,
    records: &[SaltedRecord],
    rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore),
) -> Result<SealedAnswer, SealError> {
    if records.len() > MAX_RECORDS_PER_ANSWER {
        return Err(SealError::TooLarge {
            provider: provider.clone(),
            reason: format!(
                "{} records, at most {MAX_RECORDS_PER_ANSWER}",
                records.len()
            ),
        });
    }
    let commitments: Vec<Hash> = records.iter().map(|r| r.commitment().digest).collect();
    seal_with_commitments(key, packet, provider, records, commitments, rng)
}

/// Seals `records` listing `commitments` as the ones covered, whatever the
/// records are: [`seal_answer`] lists the records' own digests. Public so
/// tests and the provider's tooling can build the answers a lying provider
/// would send; an honest caller uses [`seal_answer`].
pub fn seal_with_commitments(
    key: &EncryptionKey,
    packet: &Packet,
    provider: &InstitutionId,
    records: &[SaltedRecord],
    commitments: Vec<Hash>,
    rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore),
) -> Result<SealedAnswer, SealError> {
    let does_not_open = |e: hpke::HpkeError| SealError::DoesNotOpen {
        provider: provider.clone(),
        reason: e.to_string(),
    };
    let public = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&key.0[..])
        .map_err(does_not_open)?;
    let plaintext = Zeroizing::new(borsh::to_vec(records).unwrap_or_default());
    let aad = borsh::to_vec(&commitments).unwrap_or_default();
    let info = SealContext::of(packet, provider).info();
    let (encapsulated, ciphertext) = hpke::single_shot_seal::<
        ChaCha20Poly1305,
        HkdfSha256,
        X25519HkdfSha256,
        _,
    >(&OpModeS::Base, &public, &info, &plaintext, &aad, rng)
    .map_err(does_not_open)?;
    let mut encapsulated_key = [0u8; 32];
    encapsulated_key.copy_from_slice(&encapsulated.to_bytes());
    Ok(SealedAnswer {
        provider: provider.clone(),
        commitments,
        encapsulated_key,
        ciphertext,
    })
}

/// Opens `answer` to the query `packet` (a credit query) with `key` and
/// checks it: as many records as `answer.commitments` (which the answering
/// chain checked against its own commitments, and which reach the
/// requester in the acknowledgement proven against that chain's header),
/// each matching the digest at its place (which covers every field), about
/// the query's enterprise, of a kind it asked for and from the answering
/// provider. Returns the records; the first that fails is named.
pub fn open_answer(
    key: &DecryptionKey,
    packet: &Packet,
    query: &CreditQuery,
    answer: &SealedAnswer,
) -> Result<Vec<CreditRecord>, SealError> {
    let provider = &answer.provider;
    if answer.commitments.len() > MAX_RECORDS_PER_ANSWER
        || answer.ciphertext.len() > MAX_SEALED_BYTES
    {
        return Err(SealError::TooLarge {
            provider: provider.clone(),
            reason: format!(
                "{} commitments, {} bytes",
                answer.commitments.len(),
                answer.ciphertext.len()
            ),
        });
    }
    let does_not_open = |e: hpke::HpkeError| SealError::DoesNotOpen {
        provider: provider.clone(),
        reason: e.to_string(),
    };
    let encapsulated =
        <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&answer.encapsulated_key[..])
            .map_err(does_not_open)?;
    let aad = borsh::to_vec(&answer.commitments).unwrap_or_default();
    let info = SealContext::of(packet, provider).info();
    let plaintext = Zeroizing::new(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &key.hpke_secret(),
            &encapsulated,
            &info,
            &answer.ciphertext,
            &aad,
        )
        .map_err(does_not_open)?,
    );
    let records: Vec<SaltedRecord> =
        borsh::from_slice(&plaintext).map_err(|e| SealError::Malformed {
            provider: provider.clone(),
            reason: e.to_string(),
        })?;
    if records.len() != answer.commitments.len() {
        return Err(SealError::CountMismatch {
            provider: provider.clone(),
            opened: records.len(),
            committed: answer.commitments.len(),
        });
    }
    let mut out = Vec::with_capacity(records.len());
    for (index, (salted, commitment)) in records.iter().zip(&answer.commitments).enumerate() {
        let mismatch = |reason| SealError::RecordMismatch {
            provider: provider.clone(),
            index,
            commitment: *commitment,
            reason,
        };
        let r = &salted.record;
        if record_digest(r, &salted.salt) != *commitment {
            return Err(mismatch("its salted digest differs"));
        }
        if r.provider != *provider {
            return Err(mismatch("it is another provider's record"));
        }
        if r.enterprise != query.enterprise {
            return Err(mismatch("it is about another enterprise"));
        }
        if !query.kinds.contains(&r.kind) {
            return Err(mismatch("its kind was not asked for"));
        }
        out.push(salted.record.clone());
    }
    Ok(out)
}

/// The commitments one provider must cover in its answer to a query.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAnswer {
    /// The provider.
    pub provider: InstitutionId,
    /// The digests of its committed records in the query's scope, in the
    /// chain's key order (by sequence).
    pub commitments: Vec<Hash>,
}

/// On an answering chain, a credit query received and not yet
/// acknowledged (under `state_keys::pending_query`): what each provider
/// must cover, fixed when the query was received, and the answers so far.
/// Provider agents read it (proven) to know what to seal.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingQuery {
    /// The query packet as received.
    pub packet: Packet,
    /// When the chain acknowledges with whatever was answered (block
    /// time).
    pub deadline: Time,
    /// Per provider with committed records in the scope, in provider
    /// order.
    pub expected: Vec<ExpectedAnswer>,
    /// The sealed answers received, in arrival order.
    pub answers: Vec<SealedAnswer>,
}

impl PendingQuery {
    /// The query (a pending query always holds a credit query packet).
    pub fn query(&self) -> Option<&CreditQuery> {
        match &self.packet.payload {
            crate::PacketPayload::CreditQuery(q) => Some(q),
            _ => None,
        }
    }
}
