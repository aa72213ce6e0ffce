//! `relayer chains trust CHAIN --height H --hash HEX`: the operator sets the
//! header a chain's light client starts from.
//!
//! The anchor is kept in the relayer's store and overrides the config's
//! `trust_anchor` (and a registration's): the block the relayer trusted so
//! far is forgotten, and at its next start the relayer verifies from the
//! block at height H, which must hash to HEX. This is how trust is renewed
//! after the trusting period ran out, or moved after a chain's validators
//! were compromised. The relayer must be stopped (it holds the store).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use protocol::ChainId;
use relayer::store::Store;
use relayer::trust::Anchor;

use super::EXIT_MALFORMED;
use super::chains::load_config;

/// Exit status when the store cannot be opened or written.
const EXIT_STORE: u8 = 1;

/// Arguments of `chains trust`.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The chain, as configured in `[[chains]]` or `[[network.chains]]`.
    #[arg(value_name = "CHAIN")]
    pub chain: String,
    /// The configuration file (its store is written).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Height of the trusted header.
    #[arg(long, value_name = "H")]
    pub height: String,
    /// Hash of the trusted header (64 hex digits), read from a source you
    /// trust (not from the endpoint the relayer will use).
    #[arg(long, value_name = "HEX")]
    pub hash: String,
}

/// Runs `chains trust`: exit 0 set, 1 store unavailable, 3 malformed.
pub fn run(args: TrustArgs) -> ExitCode {
    let Some(config) = load_config(&args.config) else {
        return ExitCode::from(EXIT_MALFORMED);
    };
    let chain: ChainId = match args.chain.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: CHAIN {:?}: {e}", args.chain);
            return ExitCode::from(EXIT_MALFORMED);
        }
    };
    let configured = config.chains.iter().any(|c| c.id == chain)
        || config
            .network
            .as_ref()
            .is_some_and(|n| n.chains.iter().any(|c| c.id == chain));
    if !configured {
        eprintln!(
            "error: chain {chain} is not configured in {}",
            args.config.display()
        );
        return ExitCode::from(EXIT_MALFORMED);
    }
    let anchor = match Anchor::parse(&args.height, &args.hash) {
        Ok(a) => a,
        Err(e) => {
            let flag = match e {
                relayer::trust::AnchorError::Height(_) => "--height",
                relayer::trust::AnchorError::Hash(_) => "--hash",
            };
            eprintln!("error: {flag}: {e}");
            return ExitCode::from(EXIT_MALFORMED);
        }
    };
    let store = match Store::open(&config.store.path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: cannot open the store at {} (stop the relayer first): {e}",
                config.store.path.display()
            );
            return ExitCode::from(EXIT_STORE);
        }
    };
    if let Err(e) = store.set_trust_anchor(&chain, &anchor) {
        eprintln!("error: cannot write the trust anchor: {e}");
        return ExitCode::from(EXIT_STORE);
    }
    println!(
        "trust anchor of {chain}: header {} at height {}; the relayer verifies from it at its next start",
        anchor.header_hash, anchor.height
    );
    ExitCode::SUCCESS
}
