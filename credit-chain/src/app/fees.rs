//! Fees and balances: accounts, query fees, transfers.
//!
//! Balances are `u64` minor units of the chain's one currency
//! ([`Params::currency`](super::state::Params)); a zero balance is not
//! stored. An account is a local institution or a remote chain's
//! institution that prepays here for its queries.

use protocol::Money;
use protocol::tx::{Account, Role};

use super::Event;
use super::auth::Sender;
use super::error::TxError;
use super::keys;
use super::state::{self, Params};
use super::store::{KvStore, KvStoreMut};

/// Refuses an amount in another currency than the chain's.
pub(crate) fn check_currency(params: &Params, amount: &Money) -> Result<(), TxError> {
    if amount.currency != params.currency {
        return Err(TxError::WrongCurrency {
            expected: params.currency,
            got: amount.currency,
        });
    }
    Ok(())
}

/// The account's balance (0 when none).
pub(crate) fn balance(store: &(impl KvStore + ?Sized), account: &Account) -> Result<u64, TxError> {
    Ok(state::read::<u64>(store, &keys::balance(account))?.unwrap_or(0))
}

fn set_balance(store: &mut (impl KvStoreMut + ?Sized), account: &Account, units: u64) {
    if units == 0 {
        store.delete(&keys::balance(account));
    } else {
        state::write(store, keys::balance(account), &units);
    }
}

/// Adds to a balance.
pub(crate) fn credit(
    store: &mut (impl KvStoreMut + ?Sized),
    account: &Account,
    units: u64,
) -> Result<(), TxError> {
    let new =
        balance(store, account)?
            .checked_add(units)
            .ok_or_else(|| TxError::BalanceOverflow {
                account: account.to_string(),
            })?;
    set_balance(store, account, new);
    Ok(())
}

/// Takes from a balance, refusing to go below zero.
pub(crate) fn debit(
    store: &mut (impl KvStoreMut + ?Sized),
    params: &Params,
    account: &Account,
    units: u64,
) -> Result<(), TxError> {
    let have = balance(store, account)?;
    let new = have
        .checked_sub(units)
        .ok_or_else(|| TxError::InsufficientBalance {
            account: account.to_string(),
            balance: have,
            needed: units,
            currency: params.currency,
        })?;
    set_balance(store, account, new);
    Ok(())
}

/// A local account must be a registered institution.
pub(crate) fn check_account_exists(
    store: &(impl KvStore + ?Sized),
    account: &Account,
) -> Result<(), TxError> {
    if let Account::Local(id) = account
        && store.get(&keys::institution(id)).is_none()
    {
        return Err(TxError::UnknownInstitution(id.clone()));
    }
    Ok(())
}

/// `set_query_fee`: a data provider's fee per answered query.
pub(crate) fn set_query_fee<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    fee: &Money,
) -> Result<Vec<Event>, TxError> {
    let provider = sender.require_role("set_query_fee", &[Role::DataProvider])?;
    check_currency(&state::params(store)?, fee)?;
    state::write(store, keys::query_fee(&provider.id), fee);
    Ok(vec![
        Event::new("query_fee_set")
            .attr("provider", &provider.id)
            .attr("fee", fee.minor_units)
            .attr("currency", fee.currency),
    ])
}

/// `transfer`: from the sending institution's account.
pub(crate) fn transfer<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    to: &Account,
    amount: &Money,
) -> Result<Vec<Event>, TxError> {
    let from = Account::Local(sender.require_role("transfer", &[])?.id.clone());
    if *to == from {
        return Err(TxError::invalid(
            "transfer",
            format!("transfer to itself ({to})"),
        ));
    }
    let params = state::params(store)?;
    check_currency(&params, amount)?;
    check_account_exists(store, to)?;
    debit(store, &params, &from, amount.minor_units)?;
    credit(store, to, amount.minor_units)?;
    Ok(vec![transfer_event(&from, to, amount)])
}

/// `mint`: governance creates balance.
pub(crate) fn mint<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    to: &Account,
    amount: &Money,
) -> Result<Vec<Event>, TxError> {
    sender.require_governance("mint")?;
    check_currency(&state::params(store)?, amount)?;
    check_account_exists(store, to)?;
    credit(store, to, amount.minor_units)?;
    Ok(vec![
        Event::new("mint")
            .attr("to", to)
            .attr("amount", amount.minor_units)
            .attr("currency", amount.currency),
    ])
}

/// The event of a balance movement.
pub(crate) fn transfer_event(from: &Account, to: &Account, amount: &Money) -> Event {
    Event::new("transfer")
        .attr("from", from)
        .attr("to", to)
        .attr("amount", amount.minor_units)
        .attr("currency", amount.currency)
}
