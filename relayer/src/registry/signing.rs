//! Signing and verifying registry messages with ed25519.
//!
//! `protocol` only carries keys and signatures (it has no ed25519
//! dependency); the checks live here, next to the state machine that relies
//! on them. Verification is strict (`verify_strict`): no small-order keys,
//! no malleable signatures, so one message has one valid signature per key.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use protocol::{
    Approval, ChainRegistration, Proposal, ProposalId, PublicKey, Signature, SignedProposal,
};

/// The public key of a signing key, as the protocol carries it.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// Whether `signature` is `key`'s valid (strict) ed25519 signature of
/// `message`; false for a key that is not a valid curve point.
pub fn verify(key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    VerifyingKey::from_bytes(key.as_bytes()).is_ok_and(|k| {
        k.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
            .is_ok()
    })
}

/// Makes `operator` the registration's operator and signs it: sets
/// `operator_key` and `operator_signature` (over
/// [`ChainRegistration::sign_bytes`]).
pub fn sign_registration(registration: &mut ChainRegistration, operator: &SigningKey) {
    registration.operator_key = public_key(operator);
    registration.operator_signature =
        Signature(operator.sign(&registration.sign_bytes()).to_bytes());
}

/// Whether the registration's operator signature verifies.
pub fn verify_registration(registration: &ChainRegistration) -> bool {
    verify(
        &registration.operator_key,
        &registration.sign_bytes(),
        &registration.operator_signature,
    )
}

/// Signs `proposal` as `proposer` (over [`Proposal::sign_bytes`]).
pub fn sign_proposal(proposal: Proposal, proposer: &SigningKey) -> SignedProposal {
    let signature = Signature(proposer.sign(&proposal.sign_bytes()).to_bytes());
    SignedProposal {
        proposal,
        proposer: public_key(proposer),
        signature,
    }
}

/// Whether the proposer's signature over the proposal verifies (the roles
/// are the registry's to check).
pub fn verify_proposal(signed: &SignedProposal) -> bool {
    verify(
        &signed.proposer,
        &signed.proposal.sign_bytes(),
        &signed.signature,
    )
}

/// `governor`'s approval of the proposal `proposal_id`.
pub fn sign_approval(proposal_id: ProposalId, governor: &SigningKey) -> Approval {
    let signature = Signature(
        governor
            .sign(&Approval::sign_bytes_for(&proposal_id))
            .to_bytes(),
    );
    Approval {
        proposal_id,
        governor: public_key(governor),
        signature,
    }
}

/// Whether the approval's signature verifies (membership in the governance
/// set is the registry's to check).
pub fn verify_approval(approval: &Approval) -> bool {
    verify(
        &approval.governor,
        &approval.sign_bytes(),
        &approval.signature,
    )
}
