//! Rules that span sections, one function per rule. Each records its
//! problems in the report and never stops the others.

use std::net::SocketAddr;

use protocol::ChainId;

use super::parse::{ChainEntry, Located, PathEntry, TokenChain};
use super::reader::Report;
use super::{ApiConfig, FilterRule, NetworkSettings, PacketFilter, PacketKind, TelemetryConfig};

/// No two chains share an id.
pub(super) fn unique_chain_ids(chains: &[ChainEntry], report: &mut Report<'_>) {
    for (i, chain) in chains.iter().enumerate() {
        let Some(id) = &chain.id else { continue };
        if let Some(first) = chains[..i]
            .iter()
            .find(|c| c.id.as_ref().is_some_and(|other| other.value == id.value))
        {
            report.error(
                id.loc.clone(),
                Some(id.span.clone()),
                format!("duplicate chain id \"{}\" (also {})", id.value, first.loc),
            );
        }
    }
}

/// Every integrator token's chain is one this relayer knows: a `[[chains]]`
/// entry or a `[[network.chains]]` entry.
pub(super) fn token_chains_known(
    tokens: &[TokenChain],
    chains: &[ChainEntry],
    network: Option<&NetworkSettings>,
    report: &mut Report<'_>,
) {
    let mut known: Vec<&ChainId> = chains
        .iter()
        .filter_map(|c| c.id.as_ref().map(|id| &id.value))
        .collect();
    known.extend(network.iter().flat_map(|n| n.chains.iter().map(|c| &c.id)));
    for token in tokens {
        if !known.contains(&&token.chain.value) {
            let list: Vec<&str> = known.iter().map(|c| c.as_str()).collect();
            report.error(
                token.chain.loc.clone(),
                Some(token.chain.span.clone()),
                format!(
                    "token {:?} is bound to unknown chain \"{}\" (known: {})",
                    token.token,
                    token.chain.value,
                    if list.is_empty() {
                        "none".to_owned()
                    } else {
                        list.join(", ")
                    }
                ),
            );
        }
    }
}

/// Both ends of every path are configured chains, the ends differ, and no
/// pair is listed twice (in either order).
pub(super) fn paths_between_known_chains(
    chains: &[ChainEntry],
    paths: &[PathEntry],
    report: &mut Report<'_>,
) {
    let mut known: Vec<&ChainId> = Vec::new();
    for id in chains.iter().filter_map(|c| c.id.as_ref()) {
        if !known.contains(&&id.value) {
            known.push(&id.value);
        }
    }
    let known_list = if known.is_empty() {
        "none".to_owned()
    } else {
        known
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, path) in paths.iter().enumerate() {
        for end in [&path.a, &path.b].into_iter().flatten() {
            if !known.contains(&&end.value) {
                report.error(
                    end.loc.clone(),
                    Some(end.span.clone()),
                    format!("unknown chain \"{}\" (known: {known_list})", end.value),
                );
            }
        }
        let (Some(a), Some(b)) = (&path.a, &path.b) else {
            continue;
        };
        if a.value == b.value {
            report.error(
                path.loc.clone(),
                Some(path.span.clone()),
                format!("a path from chain \"{}\" to itself", a.value),
            );
            continue;
        }
        let same = |p: &PathEntry| match (&p.a, &p.b) {
            (Some(x), Some(y)) => {
                (x.value == a.value && y.value == b.value)
                    || (x.value == b.value && y.value == a.value)
            }
            _ => false,
        };
        if let Some(first) = paths[..i].iter().find(|p| same(p)) {
            report.error(
                path.loc.clone(),
                Some(path.span.clone()),
                format!(
                    "duplicate path {} <-> {} (also {}; paths go both ways)",
                    a.value, b.value, first.loc
                ),
            );
        }
    }
}

/// Whether two listeners would fight over one port.
fn same_listener(x: SocketAddr, y: SocketAddr) -> bool {
    x.port() != 0
        && x.port() == y.port()
        && (x.ip() == y.ip() || x.ip().is_unspecified() || y.ip().is_unspecified())
}

/// The API and the metrics endpoint, when both enabled, listen on
/// different sockets.
pub(super) fn distinct_listen_addresses(
    api: &ApiConfig,
    api_listen: &Located<SocketAddr>,
    telemetry: &TelemetryConfig,
    telemetry_listen: &Located<SocketAddr>,
    report: &mut Report<'_>,
) {
    if api.enabled && telemetry.enabled && same_listener(api.listen, telemetry.listen) {
        let span = (!telemetry_listen.span.is_empty()).then(|| telemetry_listen.span.clone());
        report.error(
            telemetry_listen.loc.clone(),
            span,
            format!(
                "{} conflicts with {} {}: the API and telemetry need different addresses",
                telemetry.listen, api_listen.loc, api.listen
            ),
        );
    }
}

/// A rule after one that matches everything (no chain, no kind) is never
/// reached; a default that the last catch-all overrides is never used.
pub(super) fn filter_rules_reachable(
    rules: &[Located<FilterRule>],
    filter: &PacketFilter,
    report: &mut Report<'_>,
) {
    let Some(i) = rules
        .iter()
        .position(|r| r.value.chain.is_none() && r.value.kind.is_none())
    else {
        return;
    };
    for later in &rules[i + 1..] {
        report.warn(
            later.loc.clone(),
            Some(later.span.clone()),
            format!("never reached: {} matches every packet first", rules[i].loc),
        );
    }
    if rules[i].value.action != filter.default {
        report.warn(
            "packet_filter.default",
            None,
            format!(
                "\"{}\" is never used: {} matches every packet",
                filter.default, rules[i].loc
            ),
        );
    }
}

/// A rule naming a chain that is not configured is probably a typo (it is
/// kept: packets of that chain may still cross this relayer).
pub(super) fn filter_chains_configured(
    rules: &[Located<FilterRule>],
    chains: &[ChainEntry],
    report: &mut Report<'_>,
) {
    for rule in rules {
        let Some(chain) = &rule.value.chain else {
            continue;
        };
        let configured = chains
            .iter()
            .any(|c| c.id.as_ref().is_some_and(|id| &id.value == chain));
        if !configured {
            report.warn(
                format!("{}.chain", rule.loc),
                Some(rule.span.clone()),
                format!("chain \"{chain}\" is not among the configured chains"),
            );
        }
    }
}

/// A path on which the filter denies every packet kind carries nothing.
pub(super) fn paths_not_filtered_out(
    paths: &[PathEntry],
    filter: &PacketFilter,
    report: &mut Report<'_>,
) {
    for path in paths {
        let (Some(a), Some(b)) = (&path.a, &path.b) else {
            continue;
        };
        let carries_something = PacketKind::ALL
            .into_iter()
            .any(|kind| filter.allows(&a.value, kind) && filter.allows(&b.value, kind));
        if !carries_something {
            report.warn(
                path.loc.clone(),
                Some(path.span.clone()),
                format!(
                    "the packet filter denies every packet kind between {} and {}: this path carries nothing",
                    a.value, b.value
                ),
            );
        }
    }
}
