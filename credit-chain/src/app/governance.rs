//! Governance and institutions: registering and suspending institutions,
//! binding enterprise keys, changing the validator set.

use protocol::tx::Role;
use protocol::{EnterpriseId, InstitutionId, PublicKey, ValidatorSet};

use super::auth::Sender;
use super::error::TxError;
use super::keys;
use super::state::{self, EnterpriseRecord, InstitutionRecord, Principal, Suspension};
use super::store::{KvStore, KvStoreMut};
use super::{BlockContext, Event};

/// Refuses a key that already belongs to a principal other than `except`.
fn check_key_free(
    store: &(impl KvStore + ?Sized),
    key: &PublicKey,
    except: Option<&Principal>,
) -> Result<(), TxError> {
    match state::read::<Principal>(store, &keys::principal(key))? {
        Some(holder) if Some(&holder) != except => Err(TxError::KeyInUse {
            key: *key,
            holder: holder.to_string(),
        }),
        _ => Ok(()),
    }
}

fn load(store: &(impl KvStore + ?Sized), id: &InstitutionId) -> Result<InstitutionRecord, TxError> {
    state::read(store, &keys::institution(id))?
        .ok_or_else(|| TxError::UnknownInstitution(id.clone()))
}

/// Writes a new institution and its key (genesis and `register_institution`).
pub(crate) fn put_institution(
    store: &mut (impl KvStoreMut + ?Sized),
    id: &InstitutionId,
    name: &str,
    roles: &[Role],
    key: &PublicKey,
) -> Result<(), TxError> {
    if store.get(&keys::institution(id)).is_some() {
        return Err(TxError::InstitutionExists(id.clone()));
    }
    check_key_free(store, key, None)?;
    let mut roles = roles.to_vec();
    roles.sort();
    let record = InstitutionRecord {
        id: id.clone(),
        name: name.to_owned(),
        roles,
        key: *key,
        suspension: None,
    };
    state::write(store, keys::institution(id), &record);
    state::write(
        store,
        keys::principal(key),
        &Principal::Institution(id.clone()),
    );
    Ok(())
}

/// Binds (or rebinds) an enterprise's key (genesis and `register_enterprise`).
pub(crate) fn put_enterprise(
    store: &mut (impl KvStoreMut + ?Sized),
    enterprise: &EnterpriseId,
    key: &PublicKey,
) -> Result<(), TxError> {
    let principal = Principal::Enterprise(enterprise.clone());
    check_key_free(store, key, Some(&principal))?;
    if let Some(old) = state::read::<EnterpriseRecord>(store, &keys::enterprise(enterprise))? {
        store.delete(&keys::principal(&old.key));
    }
    state::write(
        store,
        keys::enterprise(enterprise),
        &EnterpriseRecord {
            enterprise: enterprise.clone(),
            key: *key,
        },
    );
    state::write(store, keys::principal(key), &principal);
    Ok(())
}

/// `register_institution` (governance).
pub(crate) fn register_institution<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    id: &InstitutionId,
    name: &str,
    roles: &[Role],
    key: &PublicKey,
) -> Result<Vec<Event>, TxError> {
    sender.require_governance("register_institution")?;
    put_institution(store, id, name, roles, key)?;
    let mut roles = roles.to_vec();
    roles.sort();
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Ok(vec![
        Event::new("institution_registered")
            .attr("institution", id)
            .attr("roles", roles.join(","))
            .attr("key", key),
    ])
}

/// `suspend_institution` (governance).
pub(crate) fn suspend_institution<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    id: &InstitutionId,
    reason: &str,
) -> Result<Vec<Event>, TxError> {
    sender.require_governance("suspend_institution")?;
    let mut record = load(store, id)?;
    if record.suspension.is_some() {
        return Err(TxError::AlreadySuspended(id.clone()));
    }
    record.suspension = Some(Suspension {
        reason: reason.to_owned(),
        since: ctx.height,
    });
    state::write(store, keys::institution(id), &record);
    Ok(vec![
        Event::new("institution_suspended")
            .attr("institution", id)
            .attr("reason", reason),
    ])
}

/// `reinstate_institution` (governance).
pub(crate) fn reinstate_institution<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    id: &InstitutionId,
) -> Result<Vec<Event>, TxError> {
    sender.require_governance("reinstate_institution")?;
    let mut record = load(store, id)?;
    if record.suspension.take().is_none() {
        return Err(TxError::NotSuspended(id.clone()));
    }
    state::write(store, keys::institution(id), &record);
    Ok(vec![
        Event::new("institution_reinstated").attr("institution", id),
    ])
}

/// `register_enterprise` (governance or a registrar).
pub(crate) fn register_enterprise<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    enterprise: &EnterpriseId,
    key: &PublicKey,
) -> Result<Vec<Event>, TxError> {
    sender.require_governance_or_role("register_enterprise", &[Role::Registrar])?;
    put_enterprise(store, enterprise, key)?;
    Ok(vec![
        Event::new("enterprise_registered")
            .attr("enterprise", enterprise)
            .attr("key", key),
    ])
}

/// `set_validators` (governance): taken by `end_block` of this block.
pub(crate) fn set_validators<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    validators: &ValidatorSet,
) -> Result<Vec<Event>, TxError> {
    sender.require_governance("set_validators")?;
    state::write(store, keys::pending_validators(), validators);
    Ok(vec![
        Event::new("validators_proposed")
            .attr("validators_hash", validators.hash())
            .attr("count", validators.len())
            .attr("total_power", validators.total_power()),
    ])
}
