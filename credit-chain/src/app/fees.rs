//! Fees and balances: accounts, query fees, transfers.
//!
//! Balances are `u64` minor units of the chain's one currency
//! ([`Params::currency`](super::state::Params)); a zero balance is not
//! stored. An account is a local institution, or a remote chain's
//! institution: a data provider of another chain holds there the fees it
//! earned answering this chain's queries (see
//! [`interchain`](super::interchain)).

use protocol::Money;
use protocol::tx::{Account, Role};
use serde::{Deserialize, Serialize};

use super::Event;
use super::auth::Sender;
use super::error::TxError;
use super::keys;
use super::state::{self, Escrow, Params};
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

/// The cap on a provider's query fee when governance set none: 10,000.00
/// in the chain's currency (1,000,000 minor units), far above any fee of
/// the sample chains and far below what could hold every query hostage.
pub const DEFAULT_MAX_QUERY_FEE: u64 = 1_000_000;

/// The most a data provider may charge per answered query, in minor units
/// (governance's `set_max_query_fee`, else [`DEFAULT_MAX_QUERY_FEE`]).
pub fn max_query_fee(store: &(impl KvStore + ?Sized)) -> Result<u64, TxError> {
    Ok(state::read::<u64>(store, &keys::max_query_fee())?.unwrap_or(DEFAULT_MAX_QUERY_FEE))
}

/// Refuses a provider's fee above the governance cap.
pub(crate) fn check_query_fee(
    store: &(impl KvStore + ?Sized),
    params: &Params,
    provider: &protocol::InstitutionId,
    fee: u64,
) -> Result<(), TxError> {
    let max = max_query_fee(store)?;
    if fee > max {
        return Err(TxError::QueryFeeAboveMax {
            provider: provider.clone(),
            fee,
            max,
            currency: params.currency,
        });
    }
    Ok(())
}

/// `set_query_fee`: a data provider's fee per answered query, at most the
/// governance cap (a provider's fee of `u64::MAX` would make every query
/// about the enterprises it holds records of refused).
pub(crate) fn set_query_fee<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    fee: &Money,
) -> Result<Vec<Event>, TxError> {
    let provider = sender.require_role("set_query_fee", &[Role::DataProvider])?;
    let params = state::params(store)?;
    check_currency(&params, fee)?;
    check_query_fee(store, &params, &provider.id, fee.minor_units)?;
    state::write(store, keys::query_fee(&provider.id), fee);
    Ok(vec![
        Event::new("query_fee_set")
            .attr("provider", &provider.id)
            .attr("fee", fee.minor_units)
            .attr("currency", fee.currency),
    ])
}

/// `set_max_query_fee`: governance caps the providers' query fees.
pub(crate) fn set_max_query_fee<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    fee: &Money,
) -> Result<Vec<Event>, TxError> {
    sender.require_governance("set_max_query_fee")?;
    check_currency(&state::params(store)?, fee)?;
    state::write(store, keys::max_query_fee(), &fee.minor_units);
    Ok(vec![
        Event::new("max_query_fee_set")
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

/// One account's balance in a [`Ledger`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerBalance {
    /// The account.
    pub account: Account,
    /// Its balance in minor units.
    pub amount: u64,
}

/// One escrow of a packet in flight in a [`Ledger`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEscrow {
    /// The packet's destination.
    pub destination: String,
    /// The packet's sequence.
    pub sequence: u64,
    /// Who paid it in.
    pub account: Account,
    /// How much, in minor units.
    pub amount: u64,
}

/// Every balance and escrow of a chain, and their totals: what fees may
/// move but never create (`total` changes only by `mint`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The chain's currency.
    pub currency: protocol::Currency,
    /// Every non-zero balance, sorted by key.
    pub balances: Vec<LedgerBalance>,
    /// Every escrow of a packet in flight, sorted by key.
    pub escrows: Vec<LedgerEscrow>,
    /// The sum of the balances.
    pub balances_total: u128,
    /// The sum of the escrows.
    pub escrowed_total: u128,
    /// `balances_total + escrowed_total`.
    pub total: u128,
}

/// Reads the chain's [`Ledger`] from its state.
pub fn ledger(store: &(impl KvStore + ?Sized)) -> Result<Ledger, TxError> {
    let params = state::params(store)?;
    let corrupt = |key: &[u8], reason: String| TxError::CorruptState {
        key: keys::show(key),
        reason,
    };
    let mut balances = Vec::new();
    for (key, value) in store.scan_prefix(b"balances/") {
        let name = std::str::from_utf8(&key[b"balances/".len()..])
            .map_err(|e| corrupt(&key, e.to_string()))?;
        let account: Account = name.parse().map_err(|e| corrupt(&key, format!("{e}")))?;
        let amount: u64 = state::decode(&key, &value)?;
        balances.push(LedgerBalance { account, amount });
    }
    let prefix = b"interchain/escrows/";
    let mut escrows = Vec::new();
    for (key, value) in store.scan_prefix(prefix) {
        let rest =
            std::str::from_utf8(&key[prefix.len()..]).map_err(|e| corrupt(&key, e.to_string()))?;
        let (destination, seq) = rest
            .rsplit_once('/')
            .ok_or_else(|| corrupt(&key, "no sequence in the key".into()))?;
        let sequence = seq
            .parse()
            .map_err(|e| corrupt(&key, format!("sequence {seq:?}: {e}")))?;
        let escrow: Escrow = state::decode(&key, &value)?;
        escrows.push(LedgerEscrow {
            destination: destination.to_owned(),
            sequence,
            account: escrow.account,
            amount: escrow.amount.minor_units,
        });
    }
    let balances_total = balances.iter().map(|b| u128::from(b.amount)).sum::<u128>();
    let escrowed_total = escrows.iter().map(|e| u128::from(e.amount)).sum::<u128>();
    Ok(Ledger {
        currency: params.currency,
        balances,
        escrows,
        balances_total,
        escrowed_total,
        total: balances_total + escrowed_total,
    })
}
