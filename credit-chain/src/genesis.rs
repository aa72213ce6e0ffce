//! The genesis file and `credit-chain init`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use protocol::tx::{Account, Role};
use protocol::{ChainId, EnterpriseId, Time, Validator, ValidatorSet};
use serde::{Deserialize, Serialize};

use crate::app::{GenesisBalance, GenesisEnterprise, GenesisFee, GenesisInstitution, GenesisState};
use crate::keys::KeyFile;

/// Everything a node needs to start a chain, written by `init`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Genesis {
    /// The chain's id.
    pub chain_id: ChainId,
    /// Time of the genesis; the first block is after it.
    pub genesis_time: Time,
    /// Target time between blocks, e.g. `500ms`.
    pub block_time: String,
    /// The validator set that signs block 1.
    pub validators: ValidatorSet,
    /// The application's initial state (institutions, governance, balances).
    pub app_state: GenesisState,
}

impl Genesis {
    /// The block time as a duration.
    pub fn block_time(&self) -> anyhow::Result<Duration> {
        humantime::parse_duration(&self.block_time)
            .map_err(|e| anyhow::anyhow!("genesis block_time {:?}: {e}", self.block_time))
    }

    /// Reads `genesis.json` from a home directory.
    pub fn read(home: &Path) -> anyhow::Result<Genesis> {
        let path = genesis_path(home);
        let text = fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read {}: {e} (run `credit-chain init` first)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

/// `HOME/genesis.json`.
pub fn genesis_path(home: &Path) -> PathBuf {
    home.join("genesis.json")
}

/// `HOME/keys`.
pub fn keys_dir(home: &Path) -> PathBuf {
    home.join("keys")
}

/// `HOME/data`: the sled database.
pub fn data_dir(home: &Path) -> PathBuf {
    home.join("data")
}

/// The institutions `init` creates, with a key file each under
/// `keys/institutions/`: (id, name, roles).
pub const SAMPLE_INSTITUTIONS: &[(&str, &str, &[Role])] = &[
    ("bank-a", "Sample Commercial Bank", &[Role::Bank]),
    ("bureau-a", "Sample Credit Bureau", &[Role::CreditBureau]),
    (
        "provider-a",
        "Sample Data Provider A",
        &[Role::DataProvider],
    ),
    (
        "provider-b",
        "Sample Data Provider B",
        &[Role::DataProvider],
    ),
    (
        "registrar",
        "Market Regulation Registry",
        &[Role::Registrar],
    ),
    (
        "regulator",
        "Regional Financial Regulator",
        &[Role::Regulator],
    ),
    ("relayer", "Regional Relayer", &[Role::Relayer]),
];

/// Sample enterprises (unified social credit codes) whose consent keys
/// `init` writes under `keys/enterprises/`.
pub const SAMPLE_ENTERPRISES: &[&str] = &["91350100M000100Y43", "91110000600037341L"];

/// Initial balances (minor units) of sample institutions.
pub const SAMPLE_BALANCES: &[(&str, u64)] = &[("bank-a", 10_000_000), ("bureau-a", 10_000_000)];

/// Query fees (minor units) of the sample data providers.
pub const SAMPLE_FEES: &[(&str, u64)] = &[("provider-a", 500), ("provider-b", 300)];

/// Options of `credit-chain init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The chain id.
    pub chain_id: ChainId,
    /// Number of validators (all keys kept under `keys/`).
    pub validators: usize,
    /// Block time, e.g. `500ms`.
    pub block_time: Duration,
    /// Genesis time.
    pub genesis_time: Time,
}

/// Writes a new chain's genesis and key files (mode 0600) into `home`;
/// refuses to overwrite an existing genesis.
pub fn init(home: &Path, options: &InitOptions) -> anyhow::Result<Genesis> {
    if genesis_path(home).exists() {
        anyhow::bail!(
            "{} already exists: refusing to overwrite a chain",
            genesis_path(home).display()
        );
    }
    if options.validators == 0 || options.validators > 150 {
        anyhow::bail!(
            "--validators must be between 1 and 150, got {}",
            options.validators
        );
    }
    let keys = keys_dir(home);
    fs::create_dir_all(keys.join("validators"))?;
    fs::create_dir_all(keys.join("institutions"))?;
    let mut validators = Vec::new();
    for i in 0..options.validators {
        let key = KeyFile::generate(&format!("validator-{i}"));
        key.write(&keys.join("validators").join(format!("validator-{i}.json")))?;
        validators.push(Validator {
            pub_key: key.public_key,
            power: 10,
        });
    }
    let governance = KeyFile::generate("governance");
    governance.write(&keys.join("governance.json"))?;
    let mut app_state = GenesisState {
        governance_keys: vec![governance.public_key],
        ..GenesisState::default()
    };
    for (id, name, roles) in SAMPLE_INSTITUTIONS {
        let key = KeyFile::generate(id);
        key.write(&keys.join("institutions").join(format!("{id}.json")))?;
        app_state.institutions.push(GenesisInstitution {
            id: id.parse()?,
            name: (*name).to_owned(),
            roles: roles.to_vec(),
            key: key.public_key,
        });
    }
    fs::create_dir_all(keys.join("enterprises"))?;
    for code in SAMPLE_ENTERPRISES {
        let key = KeyFile::generate(code);
        key.write(&keys.join("enterprises").join(format!("{code}.json")))?;
        app_state.enterprises.push(GenesisEnterprise {
            enterprise: code.parse::<EnterpriseId>()?,
            key: key.public_key,
        });
    }
    for (id, amount) in SAMPLE_BALANCES {
        app_state.balances.push(GenesisBalance {
            account: Account::Local(id.parse()?),
            amount: *amount,
        });
    }
    for (provider, fee) in SAMPLE_FEES {
        app_state.query_fees.push(GenesisFee {
            provider: provider.parse()?,
            fee: *fee,
        });
    }
    let genesis = Genesis {
        chain_id: options.chain_id.clone(),
        genesis_time: options.genesis_time,
        block_time: humantime::format_duration(options.block_time).to_string(),
        validators: ValidatorSet::new(validators)?,
        app_state,
    };
    fs::write(
        genesis_path(home),
        serde_json::to_string_pretty(&genesis)? + "\n",
    )?;
    Ok(genesis)
}
