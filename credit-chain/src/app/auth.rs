//! Signatures and senders: signing helpers for clients and tests, and the
//! checks every transaction passes before its module sees it (chain id,
//! signature, known and active sender, nonce).

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use protocol::tx::{ConsentGrant, Role, SignedTransaction, Transaction, TxBody};
use protocol::{Attestation, ChainId, PublicKey, Signature};

use super::BlockContext;
use super::error::TxError;
use super::keys;
use super::state::{self, InstitutionRecord, Principal};
use super::store::KvStore;

/// The protocol form of a signing key's public key.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// Whether `signature` is `key`'s ed25519 signature of `message` (strict
/// verification: no malleable or small-order encodings).
pub fn verify_signature(key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    VerifyingKey::from_bytes(key.as_bytes())
        .map(|k| {
            k.verify_strict(
                message,
                &ed25519_dalek::Signature::from_bytes(signature.as_bytes()),
            )
            .is_ok()
        })
        .unwrap_or(false)
}

/// Signs a transaction for `chain_id` from `key` with `nonce`.
///
/// ```
/// use credit_chain::app::auth::{public_key, sign_transaction};
/// use protocol::tx::TxBody;
/// let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
/// let body = TxBody::ReinstateInstitution { institution: "bank-a".parse().unwrap() };
/// let tx = sign_transaction(&key, "shaanxi".parse().unwrap(), 1, body);
/// assert_eq!(tx.tx.sender, public_key(&key));
/// ```
pub fn sign_transaction(
    key: &SigningKey,
    chain_id: ChainId,
    nonce: u64,
    body: TxBody,
) -> SignedTransaction {
    let tx = Transaction {
        chain_id,
        sender: public_key(key),
        nonce,
        body,
    };
    let signature = Signature(key.sign(&tx.sign_bytes()).to_bytes());
    SignedTransaction { tx, signature }
}

/// The enterprise's signature over a consent grant.
pub fn sign_consent(key: &SigningKey, grant: &ConsentGrant) -> Signature {
    Signature(key.sign(&grant.sign_bytes()).to_bytes())
}

/// Sets the attestation's issuer key to `key`'s and signs it.
pub fn sign_attestation(key: &SigningKey, attestation: &mut Attestation) {
    attestation.issuer_key = public_key(key);
    attestation.signature = Signature(key.sign(&attestation.sign_bytes()).to_bytes());
}

/// An authenticated sender, as the modules see it.
#[derive(Clone, Debug)]
pub(crate) struct Sender {
    /// The signing key.
    pub key: PublicKey,
    /// Who it belongs to.
    pub principal: Principal,
    /// The institution's record, for an institution.
    pub institution: Option<InstitutionRecord>,
}

impl Sender {
    fn describe(&self) -> String {
        match &self.institution {
            Some(i) => {
                let roles: Vec<&str> = i.roles.iter().map(|r| r.as_str()).collect();
                format!("institution {} (roles: {})", i.id, roles.join(", "))
            }
            None => self.principal.to_string(),
        }
    }

    fn refuse(&self, action: &'static str, needed: impl Into<String>) -> TxError {
        TxError::Unauthorized {
            sender: self.describe(),
            action,
            needed: needed.into(),
        }
    }

    pub fn is_governance(&self) -> bool {
        self.principal == Principal::Governance
    }

    /// Only governance may do this.
    pub fn require_governance(&self, action: &'static str) -> Result<(), TxError> {
        if self.is_governance() {
            Ok(())
        } else {
            Err(self.refuse(action, "only a governance key may"))
        }
    }

    /// Only an institution with one of `roles` (any institution when
    /// `roles` is empty) may do this.
    pub fn require_role(
        &self,
        action: &'static str,
        roles: &[Role],
    ) -> Result<&InstitutionRecord, TxError> {
        match &self.institution {
            Some(i) if roles.is_empty() || roles.iter().any(|r| i.has_role(*r)) => Ok(i),
            _ => Err(self.refuse(action, needed_roles(roles, false))),
        }
    }

    /// Governance, or an institution with one of `roles`.
    pub fn require_governance_or_role(
        &self,
        action: &'static str,
        roles: &[Role],
    ) -> Result<(), TxError> {
        if self.is_governance() {
            return Ok(());
        }
        match &self.institution {
            Some(i) if roles.iter().any(|r| i.has_role(*r)) => Ok(()),
            _ => Err(self.refuse(action, needed_roles(roles, true))),
        }
    }
}

fn needed_roles(roles: &[Role], or_governance: bool) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let mut out = if names.is_empty() {
        "needs to be an institution".to_owned()
    } else {
        format!("needs role {}", names.join(" or "))
    };
    if or_governance {
        out.push_str(" or a governance key");
    }
    out
}

/// How strictly the nonce is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceRule {
    /// Mempool admission: refuse used nonces, admit later ones up to
    /// [`MAX_NONCE_AHEAD`](super::MAX_NONCE_AHEAD) ahead.
    NotReplayed,
    /// Execution: exactly the next nonce.
    Next,
}

/// Whether the transaction's signature must still be verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify it.
    Verify,
    /// The node verified these exact bytes (signature included) at
    /// admission; verifying again would only repeat the same computation.
    AlreadyVerified,
}

/// The last nonce `key` used (0 before its first transaction).
pub(crate) fn last_nonce(store: &(impl KvStore + ?Sized), key: &PublicKey) -> Result<u64, TxError> {
    Ok(state::read::<u64>(store, &keys::nonce(key))?.unwrap_or(0))
}

/// Checks the envelope and authenticates the sender.
pub(crate) fn authenticate(
    store: &(impl KvStore + ?Sized),
    ctx: &BlockContext,
    signed: &SignedTransaction,
    rule: NonceRule,
    check: SignatureCheck,
) -> Result<Sender, TxError> {
    let tx = &signed.tx;
    if tx.chain_id != ctx.chain_id {
        return Err(TxError::WrongChainId {
            expected: ctx.chain_id.clone(),
            got: tx.chain_id.clone(),
        });
    }
    if check == SignatureCheck::Verify
        && !verify_signature(&tx.sender, &tx.sign_bytes(), &signed.signature)
    {
        return Err(TxError::InvalidSignature { sender: tx.sender });
    }
    let principal: Principal = state::read(store, &keys::principal(&tx.sender))?
        .ok_or(TxError::UnknownSender { sender: tx.sender })?;
    let institution = match &principal {
        Principal::Institution(id) => {
            let record: InstitutionRecord = state::read(store, &keys::institution(id))?
                .ok_or_else(|| TxError::CorruptState {
                    key: keys::show(&keys::institution(id)),
                    reason: format!("missing, though key {} names it", tx.sender),
                })?;
            if let Some(s) = &record.suspension {
                return Err(TxError::SenderSuspended {
                    institution: id.clone(),
                    reason: s.reason.clone(),
                    since: s.since,
                });
            }
            Some(record)
        }
        _ => None,
    };
    let last = last_nonce(store, &tx.sender)?;
    if tx.nonce <= last {
        return Err(TxError::NonceReplayed {
            sender: tx.sender,
            nonce: tx.nonce,
            last,
        });
    }
    if rule == NonceRule::NotReplayed && tx.nonce - last > super::MAX_NONCE_AHEAD {
        return Err(TxError::NonceTooFarAhead {
            sender: tx.sender,
            nonce: tx.nonce,
            last,
            max_ahead: super::MAX_NONCE_AHEAD,
        });
    }
    if rule == NonceRule::Next && tx.nonce != last + 1 {
        return Err(TxError::NonceGap {
            sender: tx.sender,
            nonce: tx.nonce,
            expected: last + 1,
        });
    }
    Ok(Sender {
        key: tx.sender,
        principal,
        institution,
    })
}
