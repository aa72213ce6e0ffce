//! The genesis state: governance keys, institutions, enterprises, initial
//! balances and fees.

use protocol::tx::{Account, Role};
use protocol::{Currency, EnterpriseId, InstitutionId, Money, PublicKey};
use serde::{Deserialize, Serialize};

use super::error::{AppError, TxError};
use super::state::{self, Params, Principal};
use super::store::KvStoreMut;
use super::{fees, governance, keys, validate};

/// An institution registered at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisInstitution {
    /// Its id.
    pub id: InstitutionId,
    /// Its legal name.
    pub name: String,
    /// What it may do.
    pub roles: Vec<Role>,
    /// Its signing key.
    pub key: PublicKey,
}

/// An enterprise key bound at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisEnterprise {
    /// The enterprise.
    pub enterprise: EnterpriseId,
    /// Its signing key.
    pub key: PublicKey,
}

/// An initial balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBalance {
    /// Whose (`bank-a` or `<chain>/<institution>`).
    pub account: Account,
    /// Minor units of the chain's currency.
    pub amount: u64,
}

/// A data provider's initial query fee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFee {
    /// The provider (must hold the data provider role).
    pub provider: InstitutionId,
    /// Minor units of the chain's currency per answered query.
    pub fee: u64,
}

/// The application state at height 1.
///
/// ```
/// let json = r#"{
///   "governance_keys": ["0101010101010101010101010101010101010101010101010101010101010101"],
///   "institutions": [{ "id": "bank-a", "name": "Bank A", "roles": ["bank"],
///     "key": "0202020202020202020202020202020202020202020202020202020202020202" }],
///   "balances": [{ "account": "bank-a", "amount": 1000 }]
/// }"#;
/// let genesis: credit_chain::app::GenesisState = serde_json::from_str(json).unwrap();
/// assert_eq!(genesis.currency.to_string(), "CNY");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisState {
    /// The currency of balances and fees (default CNY).
    #[serde(default = "default_currency")]
    pub currency: Currency,
    /// Governance keys; any one of them may sign a governance transaction.
    pub governance_keys: Vec<PublicKey>,
    /// Institutions.
    #[serde(default)]
    pub institutions: Vec<GenesisInstitution>,
    /// Enterprise keys.
    #[serde(default)]
    pub enterprises: Vec<GenesisEnterprise>,
    /// Initial balances.
    #[serde(default)]
    pub balances: Vec<GenesisBalance>,
    /// Initial query fees.
    #[serde(default)]
    pub query_fees: Vec<GenesisFee>,
    /// The cap on query fees, in minor units (default
    /// [`DEFAULT_MAX_QUERY_FEE`](super::fees::DEFAULT_MAX_QUERY_FEE));
    /// governance changes it with `set_max_query_fee`.
    #[serde(default)]
    pub max_query_fee: Option<u64>,
}

fn default_currency() -> Currency {
    Currency::CNY
}

impl Default for GenesisState {
    fn default() -> Self {
        GenesisState {
            currency: Currency::CNY,
            governance_keys: Vec::new(),
            institutions: Vec::new(),
            enterprises: Vec::new(),
            balances: Vec::new(),
            query_fees: Vec::new(),
            max_query_fee: None,
        }
    }
}

fn bad(what: impl std::fmt::Display, e: TxError) -> AppError {
    AppError::InvalidGenesis(format!("{what}: {e}"))
}

/// Writes the genesis state; see [`App::init_genesis`](super::App::init_genesis).
pub(crate) fn init(
    store: &mut (impl KvStoreMut + ?Sized),
    genesis: &GenesisState,
) -> Result<(), AppError> {
    if store.get(&keys::params()).is_some() {
        return Err(AppError::AlreadyInitialised);
    }
    if genesis.governance_keys.is_empty() {
        return Err(AppError::InvalidGenesis(
            "no governance key: nobody could ever register an institution".into(),
        ));
    }
    let params = Params {
        currency: genesis.currency,
    };
    state::write(store, keys::params(), &params);
    for key in &genesis.governance_keys {
        if store.get(&keys::principal(key)).is_some() {
            return Err(AppError::InvalidGenesis(format!(
                "governance key {key} is listed twice"
            )));
        }
        state::write(store, keys::principal(key), &Principal::Governance);
    }
    for i in &genesis.institutions {
        let body = protocol::tx::TxBody::RegisterInstitution {
            institution: i.id.clone(),
            name: i.name.clone(),
            roles: i.roles.clone(),
            key: i.key,
        };
        validate::validate_body(&body).map_err(|e| bad(format!("institution {}", i.id), e))?;
        governance::put_institution(store, &i.id, &i.name, &i.roles, &i.key)
            .map_err(|e| bad(format!("institution {}", i.id), e))?;
    }
    for e in &genesis.enterprises {
        if store.get(&keys::enterprise(&e.enterprise)).is_some() {
            return Err(AppError::InvalidGenesis(format!(
                "enterprise {} is listed twice",
                e.enterprise
            )));
        }
        governance::put_enterprise(store, &e.enterprise, &e.key)
            .map_err(|err| bad(format!("enterprise {}", e.enterprise), err))?;
    }
    for b in &genesis.balances {
        let what = format!("balance of {}", b.account);
        fees::check_account_exists(store, &b.account).map_err(|e| bad(&what, e))?;
        fees::credit(store, &b.account, b.amount).map_err(|e| bad(&what, e))?;
    }
    if let Some(max) = genesis.max_query_fee {
        state::write(store, keys::max_query_fee(), &max);
    }
    for f in &genesis.query_fees {
        let what = format!("query fee of {}", f.provider);
        fees::check_query_fee(store, &params, &f.provider, f.fee).map_err(|e| bad(&what, e))?;
        let provider = genesis
            .institutions
            .iter()
            .find(|i| i.id == f.provider)
            .ok_or_else(|| bad(&what, TxError::UnknownInstitution(f.provider.clone())))?;
        if !provider.roles.contains(&Role::DataProvider) {
            return Err(AppError::InvalidGenesis(format!(
                "{what}: {} is not a data provider",
                f.provider
            )));
        }
        state::write(
            store,
            keys::query_fee(&f.provider),
            &Money {
                minor_units: f.fee,
                currency: params.currency,
            },
        );
    }
    Ok(())
}
