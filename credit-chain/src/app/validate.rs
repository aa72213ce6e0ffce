//! Stateless checks of a message's fields, run before any state is read.
//! Ids, codes, currencies and the structure of validator sets are already
//! valid by type; a validator set's keys are checked here.

use light_clients::credit_chain::validate_validator_set;
use protocol::sealed::{
    EncryptionKey, MAX_RECORDS_PER_ANSWER, MAX_SEALED_BYTES, RecordCommitment, SealedAnswer,
};
use protocol::tx::{Role, TxBody};
use protocol::{AggregationRequest, Attestation, CreditQuery, RecordKind};

use super::error::TxError;

/// Longest institution name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest reason or purpose, in bytes.
pub const MAX_TEXT_LEN: usize = 256;
/// Longest attestation claim, in bytes.
pub const MAX_CLAIM_LEN: usize = 1024;

fn text(message: &'static str, field: &str, value: &str, max: usize) -> Result<(), TxError> {
    if value.trim().is_empty() {
        return Err(TxError::invalid(message, format!("{field} is empty")));
    }
    if value.len() > max {
        return Err(TxError::invalid(
            message,
            format!("{field} is {} bytes, at most {max}", value.len()),
        ));
    }
    Ok(())
}

/// Non-empty, no duplicates.
fn distinct<T: Ord + Copy + std::fmt::Debug>(
    message: &'static str,
    field: &str,
    items: &[T],
) -> Result<(), TxError> {
    if items.is_empty() {
        return Err(TxError::invalid(message, format!("{field} is empty")));
    }
    let mut sorted = items.to_vec();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(TxError::invalid(
            message,
            format!("{field} lists {:?} twice", w[0]),
        ));
    }
    Ok(())
}

fn positive(message: &'static str, field: &str, units: u64) -> Result<(), TxError> {
    if units == 0 {
        return Err(TxError::invalid(message, format!("{field} is zero")));
    }
    Ok(())
}

fn commitment(message: &'static str, c: &RecordCommitment) -> Result<(), TxError> {
    if let Some(end) = c.end
        && end < c.start
    {
        return Err(TxError::invalid(
            message,
            format!("record ends at {end}, before it starts at {}", c.start),
        ));
    }
    Ok(())
}

/// A key HPKE can seal to: not a low-order X25519 point, whose shared
/// secret is all zeros (RFC 7748 section 6.1) for every sender, so no
/// answer could ever be sealed to it.
fn encryption_key(message: &'static str, key: &EncryptionKey) -> Result<(), TxError> {
    let point = curve25519_dalek::montgomery::MontgomeryPoint(*key.as_bytes());
    // A clamped scalar is a multiple of the cofactor: it sends exactly the
    // low-order points (on the curve or its twist) to zero.
    if point.mul_clamped([0x5a; 32]).to_bytes() == [0u8; 32] {
        return Err(TxError::invalid(
            message,
            format!(
                "encryption key {key} is a low-order X25519 point: nothing can be sealed to it"
            ),
        ));
    }
    Ok(())
}

fn sealed_answer(message: &'static str, a: &SealedAnswer) -> Result<(), TxError> {
    if a.commitments.len() > MAX_RECORDS_PER_ANSWER {
        return Err(TxError::invalid(
            message,
            format!(
                "the answer lists {} commitments, at most {MAX_RECORDS_PER_ANSWER}",
                a.commitments.len()
            ),
        ));
    }
    if a.ciphertext.is_empty() {
        return Err(TxError::invalid(
            message,
            "the answer's ciphertext is empty",
        ));
    }
    if a.ciphertext.len() > MAX_SEALED_BYTES {
        return Err(TxError::invalid(
            message,
            format!(
                "the answer's ciphertext is {} bytes, at most {MAX_SEALED_BYTES}",
                a.ciphertext.len()
            ),
        ));
    }
    Ok(())
}

fn attestation(message: &'static str, a: &Attestation) -> Result<(), TxError> {
    text(message, "claim", &a.claim, MAX_CLAIM_LEN)?;
    if a.expires_at <= a.issued_at {
        return Err(TxError::invalid(
            message,
            format!(
                "expires at {}, not after it is issued at {}",
                a.expires_at, a.issued_at
            ),
        ));
    }
    Ok(())
}

fn query(message: &'static str, q: &CreditQuery) -> Result<(), TxError> {
    distinct::<RecordKind>(message, "query kinds", &q.kinds)?;
    text(message, "query purpose", &q.purpose, MAX_TEXT_LEN)
}

fn aggregation_request(message: &'static str, r: &AggregationRequest) -> Result<(), TxError> {
    distinct::<RecordKind>(message, "request kinds", &r.kinds)?;
    text(message, "request purpose", &r.purpose, MAX_TEXT_LEN)?;
    if r.scheme != AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255 {
        return Err(TxError::invalid(
            message,
            format!(
                "unknown encryption scheme {:?}; supported: {:?}",
                r.scheme,
                AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255
            ),
        ));
    }
    homomorphic::PublicKey::from_bytes(&r.encryption_key)
        .map_err(|e| TxError::invalid(message, format!("encryption key: {e}")))?;
    Ok(())
}

/// A key share: a valid Ristretto255 point (not the identity) and a proof
/// of the right length; the proof is verified by the module, against this
/// chain and the sender.
fn key_share(message: &'static str, key: &[u8], proof: &[u8]) -> Result<(), TxError> {
    homomorphic::PublicKey::from_bytes(key)
        .map_err(|e| TxError::invalid(message, format!("key share: {e}")))?;
    if proof.len() != homomorphic::KEY_SHARE_PROOF_LEN {
        return Err(TxError::invalid(
            message,
            format!(
                "proof of knowledge is {} bytes, must be {}",
                proof.len(),
                homomorphic::KEY_SHARE_PROOF_LEN
            ),
        ));
    }
    Ok(())
}

/// Checks every field that can be checked without state.
pub fn validate_body(body: &TxBody) -> Result<(), TxError> {
    let m = body.name();
    match body {
        TxBody::RegisterInstitution { name, roles, .. } => {
            text(m, "name", name, MAX_NAME_LEN)?;
            distinct::<Role>(m, "roles", roles)
        }
        TxBody::SuspendInstitution { reason, .. } => text(m, "reason", reason, MAX_TEXT_LEN),
        TxBody::Mint { amount, .. } | TxBody::Transfer { amount, .. } => {
            positive(m, "amount", amount.minor_units)
        }
        // Refused whoever sends it, at admission already.
        TxBody::WriteRecord { .. } => Err(TxError::WriteRecordRetired),
        TxBody::CommitRecord { commitment: c } => commitment(m, c),
        TxBody::RegisterEncryptionKey { key } => encryption_key(m, key),
        TxBody::AnswerQuery { answer, .. } => sealed_answer(m, answer),
        TxBody::GrantConsent { grant, .. } => {
            distinct::<RecordKind>(m, "scope", &grant.scope)?;
            text(m, "purpose", &grant.purpose, MAX_TEXT_LEN)
        }
        TxBody::IssueAttestation { attestation: a } => attestation(m, a),
        TxBody::SendAttestation {
            timeout_height,
            timeout_time,
            ..
        } => {
            if timeout_height.is_none() && timeout_time.is_none() {
                return Err(TxError::invalid(
                    m,
                    "neither a timeout height nor a timeout time: the packet could never be timed out",
                ));
            }
            Ok(())
        }
        TxBody::SendCreditQuery {
            query: q,
            timeout_height,
            timeout_time,
            ..
        } => {
            query(m, q)?;
            if timeout_height.is_none() && timeout_time.is_none() {
                return Err(TxError::invalid(
                    m,
                    "neither a timeout height nor a timeout time: the packet could never be timed out and its escrow never refunded",
                ));
            }
            Ok(())
        }
        TxBody::SendAggregationRequest {
            request,
            timeout_height,
            timeout_time,
            ..
        } => {
            aggregation_request(m, request)?;
            if timeout_height.is_none() && timeout_time.is_none() {
                return Err(TxError::invalid(
                    m,
                    "neither a timeout height nor a timeout time: the packet could never be timed out",
                ));
            }
            Ok(())
        }
        TxBody::RegisterAggregationKey { key, proof }
        | TxBody::SetRegulatorAggregationKey { key, proof } => key_share(m, key, proof),
        // Structure (size, powers, total) is checked by the type; the keys
        // here: a weak key could sign blocks for any header.
        TxBody::SetValidators { validators } => validate_validator_set(validators)
            .map_err(|e| TxError::invalid(m, format!("validators: {e}"))),
        TxBody::RecvPacket { proof, .. }
        | TxBody::AcknowledgePacket { proof, .. }
        | TxBody::TimeoutPacket { proof, .. } => {
            if proof.is_empty() {
                return Err(TxError::invalid(m, "proof is empty"));
            }
            Ok(())
        }
        TxBody::ReinstateInstitution { .. }
        | TxBody::RegisterEnterprise { .. }
        | TxBody::RevokeConsent { .. }
        | TxBody::SetQueryFee { .. }
        | TxBody::SetMaxQueryFee { .. }
        | TxBody::CreateClient { .. }
        | TxBody::UpdateClient { .. }
        | TxBody::SubmitMisbehaviour { .. }
        // The ciphertext is checked by the module, with its own codes.
        | TxBody::ContributeAggregation { .. }
        // Signature and order are checked by the module.
        | TxBody::AnchorAuditCheckpoint { .. }
        // Whether it can be closed depends on the state only.
        | TxBody::CloseAggregation { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_roles_and_empty_names_are_refused() {
        let body = |name: &str, roles: Vec<Role>| TxBody::RegisterInstitution {
            institution: "bank-a".parse().unwrap(),
            name: name.into(),
            roles,
            key: protocol::PublicKey([1; 32]),
        };
        assert!(validate_body(&body("Bank A", vec![Role::Bank])).is_ok());
        let err = validate_body(&body("Bank A", vec![Role::Bank, Role::Bank])).unwrap_err();
        assert!(err.to_string().contains("lists Bank twice"), "{err}");
        let err = validate_body(&body(" ", vec![Role::Bank])).unwrap_err();
        assert!(err.to_string().contains("name is empty"), "{err}");
        let err = validate_body(&body("x", vec![])).unwrap_err();
        assert_eq!(err.code(), 9);
        assert!(err.to_string().contains("roles is empty"), "{err}");
    }

    #[test]
    fn low_order_encryption_keys_are_refused() {
        let body = |key: [u8; 32]| TxBody::RegisterEncryptionKey {
            key: EncryptionKey(key),
        };
        // u = 0 and u = 1 are of order 4 and 2 (RFC 7748's well-known
        // low-order inputs).
        let mut one = [0u8; 32];
        one[0] = 1;
        for low in [[0u8; 32], one] {
            let err = validate_body(&body(low)).unwrap_err();
            assert!(err.to_string().contains("low-order"), "{err}");
        }
        let mut rng = rand::rngs::OsRng;
        let good = protocol::sealed::DecryptionKey::generate(&mut rng).public();
        assert!(validate_body(&body(*good.as_bytes())).is_ok());
    }

    #[test]
    fn write_record_is_refused_by_name() {
        let record = protocol::CreditRecord {
            enterprise: "91350100M000100Y43".parse().unwrap(),
            kind: RecordKind::Loan,
            amount: protocol::Money {
                minor_units: 1,
                currency: protocol::Currency::CNY,
            },
            start: protocol::Time::from_unix_nanos(1),
            end: None,
            status: protocol::RecordStatus::Active,
            provider: "provider-a".parse().unwrap(),
            document_digest: None,
        };
        let err = validate_body(&TxBody::WriteRecord { record }).unwrap_err();
        assert_eq!(err, TxError::WriteRecordRetired);
        assert!(err.to_string().contains("commit_record"), "{err}");
    }

    #[test]
    fn a_weak_validator_key_is_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let set = protocol::ValidatorSet::new(vec![protocol::Validator {
            pub_key: protocol::PublicKey(identity),
            power: 1,
        }])
        .unwrap();
        let err = validate_body(&TxBody::SetValidators { validators: set }).unwrap_err();
        assert_eq!(err.code(), 9);
        assert!(err.to_string().contains("weak ed25519 public key"), "{err}");
    }
}
