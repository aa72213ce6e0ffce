//! Consent: an enterprise authorises an institution to query its records,
//! and can revoke it.
//!
//! Enterprise keys are bound to unified social credit codes by a registrar
//! (or governance) with `register_enterprise`; self-registration would let
//! anyone claim any code. A grant is stored by whoever submits it (the
//! enterprise or the grantee), since the enterprise's signature over it is
//! what authenticates it; a revocation must be sent by the enterprise. A
//! grant names, under that signature, the chain that holds the records;
//! another chain refuses it, so a grant seen on one chain cannot be
//! replayed to open an enterprise's records on another.

use protocol::tx::ConsentGrant;
use protocol::{
    AggregationRequest, CreditQuery, EnterpriseId, Hash, InstitutionId, RecordKind, Signature,
};

use super::auth::{Sender, verify_signature};
use super::error::TxError;
use super::keys;
use super::records::kind_name;
use super::state::{self, ConsentRecord, EnterpriseRecord, Principal};
use super::store::{KvStore, KvStoreMut};
use super::{BlockContext, Event};

/// `grant_consent`.
pub(crate) fn grant_consent<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    grant: &ConsentGrant,
    signature: &Signature,
) -> Result<Vec<Event>, TxError> {
    if grant.chain_id != ctx.chain_id {
        return Err(TxError::ConsentForOtherChain {
            id: grant.id(),
            granted_on: grant.chain_id.clone(),
            this_chain: ctx.chain_id.clone(),
        });
    }
    let enterprise: EnterpriseRecord = state::read(store, &keys::enterprise(&grant.enterprise))?
        .ok_or_else(|| TxError::UnknownEnterprise(grant.enterprise.clone()))?;
    if !verify_signature(&enterprise.key, &grant.sign_bytes(), signature) {
        return Err(TxError::InvalidConsentSignature {
            enterprise: grant.enterprise.clone(),
            key: enterprise.key,
        });
    }
    let id = grant.id();
    if grant.expires_at <= ctx.time {
        return Err(TxError::ConsentExpired {
            id,
            expires_at: grant.expires_at,
            now: ctx.time,
        });
    }
    if store.get(&keys::consent(&id)).is_some() {
        return Err(TxError::ConsentExists(id));
    }
    if grant.grantee_chain == ctx.chain_id
        && store.get(&keys::institution(&grant.grantee)).is_none()
    {
        return Err(TxError::UnknownInstitution(grant.grantee.clone()));
    }
    let mut scope = grant.scope.clone();
    scope.sort();
    let scope: Vec<&str> = scope.iter().map(|k| kind_name(*k)).collect();
    state::write(
        store,
        keys::consent(&id),
        &ConsentRecord {
            grant: grant.clone(),
            signature: *signature,
            granted_at: ctx.time,
            revoked_at: None,
        },
    );
    Ok(vec![
        Event::new("consent_granted")
            .attr("consent_id", id)
            .attr("enterprise", &grant.enterprise)
            .attr(
                "grantee",
                format!("{}/{}", grant.grantee_chain, grant.grantee),
            )
            .attr("scope", scope.join(","))
            .attr("expires_at", grant.expires_at),
    ])
}

/// `revoke_consent`: only the enterprise itself.
pub(crate) fn revoke_consent<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    id: &Hash,
) -> Result<Vec<Event>, TxError> {
    let mut record: ConsentRecord =
        state::read(store, &keys::consent(id))?.ok_or(TxError::UnknownConsent(*id))?;
    if sender.principal != Principal::Enterprise(record.grant.enterprise.clone()) {
        return Err(TxError::Unauthorized {
            sender: sender.principal.to_string(),
            action: "revoke_consent",
            needed: format!(
                "only enterprise {} may revoke its consent {id}",
                record.grant.enterprise
            ),
        });
    }
    if let Some(at) = record.revoked_at {
        return Err(TxError::ConsentRevoked { id: *id, at });
    }
    record.revoked_at = Some(ctx.time);
    state::write(store, keys::consent(id), &record);
    Ok(vec![
        Event::new("consent_revoked")
            .attr("consent_id", id)
            .attr("enterprise", &record.grant.enterprise),
    ])
}

/// What a consent is checked against: the terms of a credit query or of an
/// aggregation request, which are checked identically.
pub(crate) struct Ask<'a> {
    /// Who asks.
    pub requester: &'a InstitutionId,
    /// About whom.
    pub enterprise: &'a EnterpriseId,
    /// Which record kinds.
    pub kinds: &'a [RecordKind],
    /// Why.
    pub purpose: &'a str,
    /// The consent named.
    pub consent_id: Hash,
}

impl<'a> From<&'a CreditQuery> for Ask<'a> {
    fn from(q: &'a CreditQuery) -> Self {
        Ask {
            requester: &q.requester,
            enterprise: &q.enterprise,
            kinds: &q.kinds,
            purpose: &q.purpose,
            consent_id: q.consent_id,
        }
    }
}

impl<'a> From<&'a AggregationRequest> for Ask<'a> {
    fn from(r: &'a AggregationRequest) -> Self {
        Ask {
            requester: &r.requester,
            enterprise: &r.enterprise,
            kinds: &r.kinds,
            purpose: &r.purpose,
            consent_id: r.consent_id,
        }
    }
}

/// Why a consent does not authorise `query` (a credit query or an
/// aggregation request) from `source`'s institution at `ctx.time`, or
/// `None` when it does: it exists, is about the query's enterprise, names
/// the requester (on its chain) as grantee, is neither revoked nor expired,
/// covers every kind asked for and states the same purpose.
pub(crate) fn refusal<'a>(
    store: &(impl KvStore + ?Sized),
    ctx: &BlockContext,
    source: &protocol::ChainId,
    query: impl Into<Ask<'a>>,
) -> Result<Option<String>, TxError> {
    let query: Ask<'a> = query.into();
    let id = query.consent_id;
    let Some(record) = state::read::<ConsentRecord>(store, &keys::consent(&id))? else {
        return Ok(Some(format!("no consent {id} on {}", ctx.chain_id)));
    };
    let g = &record.grant;
    let refusal = if g.chain_id != ctx.chain_id {
        // Never stored by `grant_consent`; kept so an imported state cannot
        // carry one either.
        Some(format!(
            "consent {id} is granted on chain {}, not on {}",
            g.chain_id, ctx.chain_id
        ))
    } else if g.enterprise != *query.enterprise {
        Some(format!(
            "consent {id} is from enterprise {}, the query is about {}",
            g.enterprise, query.enterprise
        ))
    } else if g.grantee_chain != *source || g.grantee != *query.requester {
        Some(format!(
            "consent {id} is granted to {}/{}, not to {source}/{}",
            g.grantee_chain, g.grantee, query.requester
        ))
    } else if let Some(at) = record.revoked_at {
        Some(format!("consent {id} was revoked at {at}"))
    } else if g.expires_at <= ctx.time {
        Some(format!(
            "consent {id} expired at {} (block time {})",
            g.expires_at, ctx.time
        ))
    } else if let Some(kind) = query.kinds.iter().find(|k| !g.covers(**k)) {
        Some(format!(
            "consent {id} scope {} does not cover {}",
            kinds(&g.scope),
            kind_name(*kind)
        ))
    } else if g.purpose != query.purpose {
        Some(format!(
            "consent {id} is for purpose {:?}, the query states {:?}",
            g.purpose, query.purpose
        ))
    } else {
        None
    };
    Ok(refusal)
}

fn kinds(kinds: &[RecordKind]) -> String {
    let names: Vec<&str> = kinds.iter().map(|k| kind_name(*k)).collect();
    format!("[{}]", names.join(", "))
}
