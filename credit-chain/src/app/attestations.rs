//! Attestations: an issuer institution's signed claim about an enterprise,
//! stored under its id so that any chain can be shown a proof of it.

use protocol::tx::Role;
use protocol::{Attestation, Hash};

use super::auth::{Sender, verify_signature};
use super::error::TxError;
use super::keys;
use super::state;
use super::store::KvStoreMut;
use super::{BlockContext, Event};

/// The roles that may issue attestations.
pub const ISSUER_ROLES: [Role; 3] = [Role::CreditBureau, Role::DataProvider, Role::Regulator];

/// An attestation's id: the domain-tagged hash of its borsh encoding
/// (signature included).
pub fn attestation_id(attestation: &Attestation) -> Hash {
    Hash::tagged(
        b"credit-chain/attestation-id",
        &[&borsh::to_vec(attestation).unwrap_or_default()],
    )
}

/// `issue_attestation`: the sender must be an issuer, named in the
/// attestation with its registered key, which must have signed it.
pub(crate) fn issue_attestation<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    attestation: &Attestation,
) -> Result<Vec<Event>, TxError> {
    let issuer = sender.require_role("issue_attestation", &ISSUER_ROLES)?;
    if attestation.issuer != issuer.id || attestation.issuer_key != issuer.key {
        return Err(TxError::IssuerMismatch {
            issuer: attestation.issuer.clone(),
            issuer_key: attestation.issuer_key,
            sender: issuer.id.clone(),
            sender_key: issuer.key,
        });
    }
    if !verify_signature(
        &attestation.issuer_key,
        &attestation.sign_bytes(),
        &attestation.signature,
    ) {
        return Err(TxError::InvalidAttestationSignature(attestation.issuer_key));
    }
    if attestation.issued_at > ctx.time {
        return Err(TxError::invalid(
            "issue_attestation",
            format!(
                "issued at {}, after the block time {}",
                attestation.issued_at, ctx.time
            ),
        ));
    }
    if attestation.expires_at <= ctx.time {
        return Err(TxError::AttestationExpired {
            expires_at: attestation.expires_at,
            now: ctx.time,
        });
    }
    let id = attestation_id(attestation);
    let key = keys::attestation(&id);
    if store.get(&key).is_some() {
        return Err(TxError::AttestationExists(id));
    }
    state::write(store, key, attestation);
    Ok(vec![
        Event::new("attestation_issued")
            .attr("attestation_id", id)
            .attr("issuer", &attestation.issuer)
            .attr("enterprise", &attestation.enterprise)
            .attr("expires_at", attestation.expires_at),
    ])
}
