//! Sealed answers at the requester: its encryption key file, and opening a
//! query's result offline.
//!
//! The relayer and its API never hold a requester's decryption key: they
//! carry and serve the sealed answers. The requester opens them itself
//! (`relayer query result --key FILE`, or the devnet acting as bank-a),
//! after checking, from the proof bundle alone, that the acknowledgement is
//! the one the answering chain committed: the proof block verifies from
//! the bundle's trusted block, the acknowledgement and its hash are proven
//! against the proof block's state root, and the acknowledgement answers
//! this packet. Then every provider's answer is opened and each record
//! checked against the commitment the chain selected for it.

use std::path::Path;

use light_clients::credit_chain::{Options, TrustedState, Verdict, verify};
use light_clients::merkle::StateProof;
use protocol::sealed::{SealError, open_answer};
use protocol::tx::Acknowledgement;
use protocol::{
    Canonical, ChainId, CreditRecord, CreditResponse, DecryptionKey, EncryptionKey, Hash,
    InstitutionId, LightBlock, Packet, PacketPayload, Time, state_keys,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a result could not be opened or checked.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The key file is unreadable or malformed.
    #[error("encryption key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The result JSON lacks a part or has a malformed one.
    #[error("the result is malformed: {0}")]
    Malformed(String),
    /// The proof bundle does not prove the acknowledgement.
    #[error("the result's proof does not hold: {0}")]
    Unproven(String),
    /// The acknowledgement is not a credit response to this packet.
    #[error("the acknowledgement does not answer this query: {0}")]
    NotTheAnswer(String),
    /// An answer does not open or a record does not match its commitment.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// A requester's encryption key file: JSON with the institution, its chain
/// and the X25519 key pair (secret in hex). Written `0600`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionKeyFile {
    /// The institution whose answers are sealed to this key.
    pub institution: InstitutionId,
    /// The chain it is registered on.
    pub chain_id: ChainId,
    /// The public key (registered on the chain).
    pub public_key: EncryptionKey,
    /// The secret key, 64 hex digits.
    pub secret_key: String,
}

impl EncryptionKeyFile {
    /// A fresh key for `institution` of `chain_id`.
    pub fn generate(
        institution: InstitutionId,
        chain_id: ChainId,
    ) -> (EncryptionKeyFile, DecryptionKey) {
        let key = DecryptionKey::generate(&mut rand::rngs::OsRng);
        let file = EncryptionKeyFile {
            institution,
            chain_id,
            public_key: key.public(),
            secret_key: hex::encode(key.to_bytes()),
        };
        (file, key)
    }

    /// Writes the file (owner read/write only).
    pub fn write(&self, path: &Path) -> Result<(), AnswerError> {
        let fail = |e: std::io::Error| AnswerError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(path, json).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        }
        Ok(())
    }

    /// Reads a key file and checks that its secret matches its public key.
    pub fn read(path: &Path) -> Result<(EncryptionKeyFile, DecryptionKey), AnswerError> {
        let fail = |reason: String| AnswerError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file: EncryptionKeyFile =
            serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let mut secret = [0u8; 32];
        hex::decode_to_slice(&file.secret_key, &mut secret)
            .map_err(|e| fail(format!("secret_key: {e} (expected 64 hex digits)")))?;
        let key = DecryptionKey::from_bytes(secret);
        if key.public() != file.public_key {
            return Err(fail("secret_key does not belong to public_key".into()));
        }
        Ok((file, key))
    }
}

/// One provider's records, opened and checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenedAnswer {
    /// The provider.
    pub provider: InstitutionId,
    /// Its records, each matching its commitment.
    pub records: Vec<CreditRecord>,
}

/// Opens every answer of `response`, the acknowledgement of the credit
/// query `packet`, with `key`.
pub fn open_response(
    key: &DecryptionKey,
    packet: &Packet,
    response: &CreditResponse,
) -> Result<Vec<OpenedAnswer>, AnswerError> {
    let PacketPayload::CreditQuery(query) = &packet.payload else {
        return Err(AnswerError::NotTheAnswer(
            "the packet is not a credit query".into(),
        ));
    };
    if response.query_packet != packet.commitment() {
        return Err(AnswerError::NotTheAnswer(format!(
            "it answers packet {}, this query is packet {}",
            response.query_packet,
            packet.commitment()
        )));
    }
    response
        .answers
        .iter()
        .map(|answer| {
            Ok(OpenedAnswer {
                provider: answer.provider.clone(),
                records: open_answer(key, packet, query, answer)?,
            })
        })
        .collect()
}

/// A result checked from its proof bundle and opened.
#[derive(Clone, Debug)]
pub struct OpenedResult {
    /// The query packet.
    pub packet: Packet,
    /// The proven acknowledgement.
    pub response: CreditResponse,
    /// The answering chain's block the acknowledgement is proven against.
    pub proven_at: LightBlock,
    /// Each provider's records.
    pub answers: Vec<OpenedAnswer>,
}

/// The part `name` of a result, decoded.
fn decode<T: serde::de::DeserializeOwned>(name: &str, v: &Value) -> Result<T, AnswerError> {
    if v.is_null() {
        return Err(AnswerError::Malformed(format!("no {name}")));
    }
    serde_json::from_value(v.clone()).map_err(|e| AnswerError::Malformed(format!("{name}: {e}")))
}

/// Checks the API's result JSON (`GET /queries/.../result`: `packet`,
/// `acknowledgement`, `bundle`) from its bundle alone, at time `now`, then
/// opens its answers with `key`.
pub fn open_result(
    key: &DecryptionKey,
    result: &Value,
    now: Time,
) -> Result<OpenedResult, AnswerError> {
    let packet: Packet = decode("packet", &result["packet"])?;
    let ack: Acknowledgement = decode("acknowledgement", &result["acknowledgement"])?;
    let bundle = &result["bundle"];
    let trusted: LightBlock = decode("bundle.trusted", &bundle["trusted"])?;
    let proven_at: LightBlock = decode("bundle.light_block", &bundle["light_block"])?;
    if proven_at.header().chain_id != packet.destination {
        return Err(AnswerError::Unproven(format!(
            "the proof block is of {}, the query was answered by {}",
            proven_at.header().chain_id,
            packet.destination
        )));
    }
    let trusted_state: TrustedState = trusted.into();
    match verify(&trusted_state, &proven_at, &Options::default(), now) {
        Verdict::Success => {}
        other => {
            return Err(AnswerError::Unproven(format!(
                "the proof block {} does not verify from the bundle's trusted block: {other:?}",
                proven_at.height()
            )));
        }
    }
    let root = proven_at.header().state_root;
    let proofs = bundle["proofs"]
        .as_array()
        .ok_or_else(|| AnswerError::Malformed("no bundle.proofs".into()))?;
    let expect = [
        (
            state_keys::packet_ack(&packet.source, packet.sequence),
            ack.hash().0.to_vec(),
        ),
        (
            state_keys::packet_ack_data(&packet.source, packet.sequence),
            ack.to_canonical_bytes(),
        ),
    ];
    for (key_bytes, value) in &expect {
        let entry = proofs
            .iter()
            .find(|p| p["key"].as_str() == Some(&hex::encode(key_bytes)))
            .ok_or_else(|| {
                AnswerError::Unproven(format!("no proof of {}", state_keys::show(key_bytes)))
            })?;
        let proof: StateProof = decode("bundle.proofs[].proof", &entry["proof"])?;
        proof
            .verify(&root, key_bytes, Some(value))
            .map_err(|e| AnswerError::Unproven(format!("{}: {e}", state_keys::show(key_bytes))))?;
    }
    let Acknowledgement::Result(PacketPayload::CreditResponse(response)) = ack else {
        return Err(AnswerError::NotTheAnswer(format!(
            "the acknowledgement is not a credit response: {ack:?}"
        )));
    };
    let answers = open_response(key, &packet, &response)?;
    Ok(OpenedResult {
        packet,
        response,
        proven_at,
        answers,
    })
}

/// The digest list of every answer, for display (`provider: n records`).
pub fn commitments_of(response: &CreditResponse) -> Vec<(InstitutionId, Vec<Hash>)> {
    response
        .answers
        .iter()
        .map(|a| (a.provider.clone(), a.commitments.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::sealed::seal_answer;
    use protocol::{CreditRecord, Currency, Money, RecordKind, RecordStatus, SaltedRecord};

    fn query_packet(key: &EncryptionKey) -> Packet {
        Packet {
            source: "shaanxi".parse().unwrap(),
            destination: "guangdong".parse().unwrap(),
            sequence: 3,
            timeout_height: None,
            timeout_time: None,
            payload: PacketPayload::CreditQuery(protocol::CreditQuery {
                requester: "bank-a".parse().unwrap(),
                enterprise: "91350100M000100Y43".parse().unwrap(),
                kinds: vec![RecordKind::Loan],
                purpose: "working capital loan".into(),
                consent_id: Hash::digest(b"consent"),
                max_fee: Money {
                    minor_units: 100,
                    currency: Currency::CNY,
                },
                encryption_key: *key,
            }),
        }
    }

    fn response(packet: &Packet, key: &EncryptionKey) -> (CreditResponse, CreditRecord) {
        let record = CreditRecord {
            enterprise: "91350100M000100Y43".parse().unwrap(),
            kind: RecordKind::Loan,
            amount: Money {
                minor_units: 123_456,
                currency: Currency::CNY,
            },
            start: "2026-02-01T00:00:00Z".parse().unwrap(),
            end: None,
            status: RecordStatus::Active,
            provider: "provider-a".parse().unwrap(),
            document_digest: None,
        };
        let salted = SaltedRecord::new(record.clone(), &mut rand::rngs::OsRng);
        let provider = "provider-a".parse().unwrap();
        let answer =
            seal_answer(key, packet, &provider, &[salted], &mut rand::rngs::OsRng).unwrap();
        let response = CreditResponse {
            query_packet: packet.commitment(),
            outcome: protocol::QueryOutcome::Answered,
            answers: vec![answer],
            missing: Vec::new(),
            fee_charged: Money {
                minor_units: 0,
                currency: Currency::CNY,
            },
            charges: Vec::new(),
        };
        (response, record)
    }

    #[test]
    fn the_requester_opens_its_answer_and_nobody_opens_another_packets() {
        let (file, key) =
            EncryptionKeyFile::generate("bank-a".parse().unwrap(), "shaanxi".parse().unwrap());
        let packet = query_packet(&file.public_key);
        let (response, record) = response(&packet, &file.public_key);
        let opened = open_response(&key, &packet, &response).unwrap();
        assert_eq!(opened[0].records, vec![record]);
        // An acknowledgement of another packet is refused by name.
        let mut other = packet.clone();
        other.sequence += 1;
        assert!(matches!(
            open_response(&key, &other, &response),
            Err(AnswerError::NotTheAnswer(_))
        ));
        // A tampered ciphertext does not open, naming the provider.
        let mut tampered = response.clone();
        tampered.answers[0].ciphertext[0] ^= 1;
        let err = open_response(&key, &packet, &tampered)
            .unwrap_err()
            .to_string();
        assert!(err.contains("provider-a"), "{err}");
    }

    #[test]
    fn a_key_file_round_trips_and_a_mismatched_secret_is_refused() {
        let dir = std::env::temp_dir().join(format!("answers-key-{}", std::process::id()));
        let path = dir.join("bank-a.encryption.json");
        let (file, key) =
            EncryptionKeyFile::generate("bank-a".parse().unwrap(), "shaanxi".parse().unwrap());
        file.write(&path).unwrap();
        let (read, again) = EncryptionKeyFile::read(&path).unwrap();
        assert_eq!(read.public_key, key.public());
        assert_eq!(again.to_bytes(), key.to_bytes());
        let mut wrong = file.clone();
        wrong.public_key = EncryptionKey([7; 32]);
        wrong.write(&path).unwrap();
        let err = EncryptionKeyFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("does not belong"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
