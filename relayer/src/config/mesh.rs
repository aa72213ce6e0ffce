//! `[network]`: the libp2p mesh of regional relayers and the network's
//! genesis registry (governance keys, the chains other relayers serve).

use std::path::Path;

use network::{Multiaddr, PeerId};
use protocol::{ChainId, ChainType, PublicKey};

use super::parse::{chain_type, key_file};
use super::reader::{Node, Report, Table};
use super::{DEFAULT_DISCOVERY_INTERVAL, GovernanceConfig, NetworkChain, NetworkSettings};
use crate::registry::DEFAULT_PENDING_EXPIRY;

fn multiaddr(s: &str) -> Result<Multiaddr, String> {
    s.parse::<Multiaddr>()
        .map_err(|e| format!("{s:?} is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001): {e}"))
}

fn peer_id(s: &str) -> Result<PeerId, String> {
    s.parse::<PeerId>()
        .map_err(|e| format!("{s:?} is not a libp2p peer id: {e}"))
}

/// A bootstrap address must end with the peer's id (`/p2p/<peer id>`).
fn bootstrap_addr(s: &str) -> Result<(PeerId, Multiaddr), String> {
    let addr = multiaddr(s)?;
    let named = s
        .rsplit_once("/p2p/")
        .filter(|(_, id)| !id.contains('/'))
        .ok_or_else(|| {
            format!("{s:?} does not end with /p2p/<peer id>: a bootstrap peer must be named")
        })?;
    Ok((peer_id(named.1)?, addr))
}

fn public_key(s: &str) -> Result<PublicKey, String> {
    s.parse::<PublicKey>()
        .map_err(|e| format!("{s:?} is not an ed25519 public key (64 hex digits): {e}"))
}

fn list<T>(
    node: Node<'_, '_>,
    report: &mut Report<'_>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    node.array(report)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.parse(report, &parse))
        .collect()
}

/// Reads `[network]`; `None` when absent or `enabled = false`.
pub(super) fn network(
    root: &mut Table<'_, '_>,
    report: &mut Report<'_>,
    base: &Path,
) -> Option<NetworkSettings> {
    let mut t = root.table(report, "network")?;
    let enabled = t
        .get("enabled")
        .and_then(|n| n.bool(report))
        .unwrap_or(true);
    let listen = t
        .get("listen")
        .map(|n| list(n, report, multiaddr))
        .unwrap_or_default();
    let identity = t
        .require(report, "identity_key")
        .and_then(|n| key_file(&n, report, base));
    let bootstrap = t
        .get("bootstrap")
        .map(|n| list(n, report, bootstrap_addr))
        .unwrap_or_default();
    let admitted = t
        .get("admitted")
        .map(|n| list(n, report, peer_id))
        .unwrap_or_default();
    let regulator = t.get("regulator").and_then(|n| n.parse(report, public_key));
    let capture = t
        .get("capture")
        .and_then(|n| n.parse(report, |s| super::parse::file_path(base, s)));
    let discovery_interval = match t.get("discovery_interval") {
        None => Some(Some(DEFAULT_DISCOVERY_INTERVAL)),
        Some(n) => n.parse(report, |s| match s {
            "off" => Ok(None),
            s => super::parse::positive_duration(s)
                .map(Some)
                .map_err(|e| format!("{e} (or \"off\")")),
        }),
    };
    let governance = t.table(report, "governance").map(|mut g| {
        let keys = g
            .require(report, "keys")
            .map(|n| list(n, report, public_key))
            .unwrap_or_default();
        let threshold = g.require(report, "threshold").and_then(|n| {
            let k = n.int(report)?;
            if k < 1 || k as usize > keys.len().max(1) {
                n.error(
                    report,
                    format!(
                        "threshold {k} must be between 1 and the number of keys ({})",
                        keys.len()
                    ),
                );
                return None;
            }
            Some(k as usize)
        });
        let proposal_expiry = match g.get("proposal_expiry") {
            None => Some(DEFAULT_PENDING_EXPIRY),
            Some(n) => n.parse(report, super::parse::positive_duration),
        };
        g.finish(report);
        GovernanceConfig {
            keys,
            threshold: threshold.unwrap_or(1),
            proposal_expiry: proposal_expiry.unwrap_or(DEFAULT_PENDING_EXPIRY),
        }
    });
    let chains = t
        .get("chains")
        .and_then(|n| n.array(report))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            let mut c = n.table(report)?;
            let id = c
                .require(report, "id")
                .and_then(|n| n.parse(report, |s| s.parse::<ChainId>().map_err(|e| e.to_string())));
            let chain_type: Option<ChainType> = match c.get("type") {
                Some(n) => n.parse(report, chain_type),
                None => Some(ChainType::CreditChain),
            };
            let relayers = c
                .require(report, "relayers")
                .map(|n| list(n, report, peer_id))
                .unwrap_or_default();
            let trust_anchor = super::parse::trust_anchor(&mut c, report, id.as_ref());
            c.finish(report);
            Some(NetworkChain {
                id: id?,
                chain_type: chain_type?,
                relayers,
                trust_anchor: trust_anchor?,
            })
        })
        .collect();
    let span = t.span();
    let loc = t.loc().to_owned();
    t.finish(report);
    if !enabled {
        return None;
    }
    if listen.is_empty() {
        report.error(
            format!("{loc}.listen"),
            Some(span),
            "the mesh needs at least one listen address",
        );
    }
    let (identity_key, identity) = identity?;
    Some(NetworkSettings {
        listen,
        identity_key,
        identity,
        bootstrap,
        admitted,
        regulator,
        discovery_interval: discovery_interval.unwrap_or(Some(DEFAULT_DISCOVERY_INTERVAL)),
        capture,
        governance: governance.unwrap_or(GovernanceConfig {
            keys: Vec::new(),
            threshold: 1,
            proposal_expiry: DEFAULT_PENDING_EXPIRY,
        }),
        chains,
    })
}
