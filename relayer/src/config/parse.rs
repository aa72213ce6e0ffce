//! Field-by-field reading of each section; every value's own rules.
//!
//! Each section reader records its problems and returns what it could read,
//! with defaults standing in for missing or invalid values; the result is
//! only used when the report has no error at all.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use light_clients::credit_chain::TrustThreshold;
use protocol::{ChainId, ChainType, InstitutionId, PublicKey};
use serde::Deserialize;
use toml::de::DeTable;
use url::Url;

use super::reader::{Node, Report, Table};
use super::{
    ApiConfig, ApiToken, ChainConfig, Config, ConfigError, ConfigErrors, FilterAction, FilterRule,
    GlobalConfig, LogLevel, PacketFilter, PacketKind, RelayConfig, RelayPath, StoreConfig,
    TelemetryConfig, TokenRole, checks,
};
use crate::trust::Anchor;

/// A value with the location and span it was read from.
pub(super) struct Located<T> {
    pub value: T,
    pub loc: String,
    pub span: Range<usize>,
}

/// A `[[chains]]` entry as read: its id (when valid) for the cross checks,
/// the whole chain only when every field was valid.
pub(super) struct ChainEntry {
    pub loc: String,
    pub id: Option<Located<ChainId>>,
    pub config: Option<ChainConfig>,
}

/// A `[[paths]]` entry as read.
pub(super) struct PathEntry {
    pub loc: String,
    pub span: Range<usize>,
    pub a: Option<Located<ChainId>>,
    pub b: Option<Located<ChainId>>,
}

/// Reads and validates a whole document; `file` is the configuration's
/// absolute path.
pub(super) fn parse(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
    let mut report = Report::new(text);
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        // A document that does not parse is not read further: recovered
        // fragments would only add misleading problems.
        // The parser recovers and goes on, so one mistake can cascade into
        // several reports on the lines it swallowed: keep the first per line.
        let mut errors: Vec<(usize, usize, ConfigError)> = Vec::new();
        for e in &syntax {
            let (line, column) = report.line_col(e.span().map_or(0, |s| s.start));
            if errors.iter().any(|(l, _, _)| *l == line) {
                continue;
            }
            errors.push((
                line,
                column,
                ConfigError {
                    location: format!("line {line}, column {column}"),
                    message: format!("TOML syntax error: {}", e.message().trim()),
                    line: Some(line),
                },
            ));
        }
        errors.sort_by_key(|(line, column, _)| (*line, *column));
        return Err(ConfigErrors(
            errors.into_iter().map(|(_, _, e)| e).collect(),
        ));
    }
    let base = file.parent().unwrap_or(Path::new("/"));
    let mut root = Table::root(&doc);

    let global = global(&mut root, &mut report);
    let store = store(&mut root, &mut report, base);
    let (api, api_listen, token_chains) = api(&mut root, &mut report);
    let (telemetry, telemetry_listen) = telemetry(&mut root, &mut report);
    let relay = relay(&mut root, &mut report);
    let chains = chains(&mut root, &mut report, base);
    let paths = paths(&mut root, &mut report);
    let (packet_filter, rules) = packet_filter(&mut root, &mut report);
    let network = super::mesh::network(&mut root, &mut report, base);
    root.finish(&mut report);

    checks::unique_chain_ids(&chains, &mut report);
    checks::paths_between_known_chains(&chains, &paths, &mut report);
    checks::distinct_listen_addresses(
        &api,
        &api_listen,
        &telemetry,
        &telemetry_listen,
        &mut report,
    );
    checks::token_chains_known(&token_chains, &chains, network.as_ref(), &mut report);
    checks::filter_rules_reachable(&rules, &packet_filter, &mut report);
    checks::filter_chains_configured(&rules, &chains, &mut report);
    checks::paths_not_filtered_out(&paths, &packet_filter, &mut report);

    if !report.errors.is_empty() {
        return Err(ConfigErrors(in_file_order(report.errors)));
    }
    let chains: Vec<ChainConfig> = chains.into_iter().filter_map(|c| c.config).collect();
    let paths: Vec<RelayPath> = paths
        .into_iter()
        .filter_map(|p| {
            Some(RelayPath {
                a: p.a?.value,
                b: p.b?.value,
            })
        })
        .collect();
    Ok(Config {
        file: file.to_path_buf(),
        global,
        store,
        api,
        telemetry,
        relay,
        chains,
        paths,
        packet_filter,
        network,
        warnings: in_file_order(report.warnings),
    })
}

/// Problems sorted by line (stable: same-line problems keep the order they
/// were found in); problems with no line come last.
pub(super) fn in_file_order(mut problems: Vec<ConfigError>) -> Vec<ConfigError> {
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    problems
}

fn global(root: &mut Table<'_, '_>, report: &mut Report<'_>) -> GlobalConfig {
    let mut config = GlobalConfig::default();
    if let Some(mut t) = root.table(report, "global") {
        if let Some(level) = t
            .get("log_level")
            .and_then(|n| n.parse(report, |s| s.parse::<LogLevel>()))
        {
            config.log_level = level;
        }
        t.finish(report);
    }
    config
}

fn store(root: &mut Table<'_, '_>, report: &mut Report<'_>, base: &Path) -> StoreConfig {
    let mut path = base.join(super::DEFAULT_STORE_PATH);
    let mut span = None;
    if let Some(mut t) = root.table(report, "store") {
        if let Some(node) = t.get("path")
            && let Some(p) = node.parse(report, |s| file_path(base, s))
        {
            path = p;
            span = Some(node.span());
        }
        t.finish(report);
    }
    if path.exists() && !path.is_dir() {
        report.error(
            "store.path",
            span,
            format!("{} exists and is not a directory", path.display()),
        );
    }
    StoreConfig { path }
}

fn api(
    root: &mut Table<'_, '_>,
    report: &mut Report<'_>,
) -> (ApiConfig, Located<SocketAddr>, Vec<TokenChain>) {
    let mut token_chains = Vec::new();
    let mut config = ApiConfig {
        enabled: true,
        listen: default_addr(super::DEFAULT_API_LISTEN),
        tokens: Vec::new(),
    };
    let mut listen = Located {
        value: config.listen,
        loc: "api.listen".into(),
        span: 0..0,
    };
    if let Some(mut t) = root.table(report, "api") {
        listen.span = t.span();
        if let Some(enabled) = t.get("enabled").and_then(|n| n.bool(report)) {
            config.enabled = enabled;
        }
        if let Some(node) = t.get("listen") {
            listen.span = node.span();
            if let Some(addr) = node.parse(report, socket_addr) {
                config.listen = addr;
                listen.value = addr;
            }
        }
        if let Some(items) = t.get("tokens").and_then(|n| n.array(report)) {
            (config.tokens, token_chains) = api_tokens(items, report);
        }
        t.finish(report);
    }
    (config, listen, token_chains)
}

/// The chain an integrator token is bound to, where it was read, for the
/// check that the chain is configured.
pub(super) struct TokenChain {
    /// The token's name.
    pub token: String,
    /// The chain and where it was read (`api.tokens[i].institution`).
    pub chain: Located<ChainId>,
}

fn api_tokens(
    items: Vec<Node<'_, '_>>,
    report: &mut Report<'_>,
) -> (Vec<ApiToken>, Vec<TokenChain>) {
    let mut tokens: Vec<(String, ApiToken)> = Vec::new();
    let mut chains = Vec::new();
    for item in items {
        let Some(mut t) = item.table(report) else {
            continue;
        };
        let name = t.require(report, "name").and_then(|n| {
            let s = n.parse(report, |s| {
                if s.trim().is_empty() {
                    Err("must not be empty".to_owned())
                } else {
                    Ok(s.to_owned())
                }
            })?;
            if let Some((other, _)) = tokens.iter().find(|(_, tok)| tok.name == s) {
                n.error(report, format!("duplicate token name {s:?} (also {other})"));
            }
            Some(s)
        });
        let sha256 = t.require(report, "sha256").and_then(|n| {
            let digest = n.parse(report, sha256_hex)?;
            if let Some((other, _)) = tokens.iter().find(|(_, tok)| tok.sha256 == digest) {
                n.error(
                    report,
                    format!("same digest as {other}: one token, two names"),
                );
            }
            Some(digest)
        });
        let role = token_role(&mut t, name.as_deref().unwrap_or("?"), report);
        let loc = t.loc().to_owned();
        t.finish(report);
        let Some(role) = role else { continue };
        if let (TokenRole::Integrator { chain, .. }, Some(name)) = (&role.0, &name) {
            chains.push(TokenChain {
                token: name.clone(),
                chain: Located {
                    value: chain.clone(),
                    loc: role.1.clone(),
                    span: role.2.clone(),
                },
            });
        }
        if let (Some(name), Some(sha256)) = (name, sha256) {
            tokens.push((
                loc,
                ApiToken {
                    name,
                    sha256,
                    role: role.0,
                },
            ));
        }
    }
    (tokens.into_iter().map(|(_, t)| t).collect(), chains)
}

/// A token's `role` and `institution`, with where the institution was read;
/// errors name the token.
fn token_role(
    t: &mut Table<'_, '_>,
    name: &str,
    report: &mut Report<'_>,
) -> Option<(TokenRole, String, Range<usize>)> {
    let institution = t.get("institution");
    let Some(role) = t.get("role") else {
        report.error(
            format!("{}.role", t.loc()),
            Some(t.span()),
            format!(
                "token {name:?} has no role: add role = \"integrator\" (with institution = \"INSTITUTION@CHAIN\") or role = \"operator\""
            ),
        );
        return None;
    };
    match role.str(report)? {
        "operator" => {
            if let Some(n) = institution {
                n.error(
                    report,
                    format!(
                        "token {name:?} is an operator token: it acts for no institution (remove institution, or make it role = \"integrator\")"
                    ),
                );
                return None;
            }
            Some((TokenRole::Operator, role.loc.clone(), role.span()))
        }
        "integrator" => {
            let Some(n) = institution else {
                role.error(
                    report,
                    format!(
                        "token {name:?} is an integrator token without an institution: add institution = \"INSTITUTION@CHAIN\" (e.g. \"bank-a@shaanxi\")"
                    ),
                );
                return None;
            };
            let (institution, chain) = n.parse(report, |s| {
                let (institution, chain) = s.split_once('@').ok_or_else(|| {
                    format!("token {name:?}: institution {s:?} is not INSTITUTION@CHAIN (e.g. \"bank-a@shaanxi\")")
                })?;
                let institution = institution
                    .parse::<InstitutionId>()
                    .map_err(|e| format!("token {name:?}: {e}"))?;
                let chain = chain
                    .parse::<ChainId>()
                    .map_err(|e| format!("token {name:?}: {e}"))?;
                Ok((institution, chain))
            })?;
            Some((
                TokenRole::Integrator { institution, chain },
                n.loc.clone(),
                n.span(),
            ))
        }
        other => {
            role.error(
                report,
                format!(
                    "token {name:?}: unknown role {other:?} (expected \"integrator\" or \"operator\")"
                ),
            );
            None
        }
    }
}

fn telemetry(
    root: &mut Table<'_, '_>,
    report: &mut Report<'_>,
) -> (TelemetryConfig, Located<SocketAddr>) {
    let mut config = TelemetryConfig {
        enabled: true,
        listen: default_addr(super::DEFAULT_TELEMETRY_LISTEN),
    };
    let mut listen = Located {
        value: config.listen,
        loc: "telemetry.listen".into(),
        span: 0..0,
    };
    if let Some(mut t) = root.table(report, "telemetry") {
        listen.span = t.span();
        if let Some(enabled) = t.get("enabled").and_then(|n| n.bool(report)) {
            config.enabled = enabled;
        }
        if let Some(node) = t.get("listen") {
            listen.span = node.span();
            if let Some(addr) = node.parse(report, socket_addr) {
                config.listen = addr;
                listen.value = addr;
            }
        }
        t.finish(report);
    }
    (config, listen)
}

fn relay(root: &mut Table<'_, '_>, report: &mut Report<'_>) -> RelayConfig {
    let mut config = RelayConfig {
        clear_interval: super::DEFAULT_CLEAR_INTERVAL,
        batch_size: super::DEFAULT_BATCH_SIZE,
        poll_interval: super::DEFAULT_POLL_INTERVAL,
    };
    if let Some(mut t) = root.table(report, "relay") {
        if let Some(d) = t
            .get("clear_interval")
            .and_then(|n| n.parse(report, positive_duration))
        {
            config.clear_interval = d;
        }
        if let Some(node) = t.get("batch_size")
            && let Some(n) = node.int(report)
        {
            match usize::try_from(n) {
                Ok(n) if (1..=super::MAX_BATCH_SIZE).contains(&n) => config.batch_size = n,
                _ => node.error(
                    report,
                    format!("{n} is out of range 1..={}", super::MAX_BATCH_SIZE),
                ),
            }
        }
        if let Some(d) = t
            .get("poll_interval")
            .and_then(|n| n.parse(report, positive_duration))
        {
            config.poll_interval = d;
        }
        t.finish(report);
    }
    config
}

fn chains(root: &mut Table<'_, '_>, report: &mut Report<'_>, base: &Path) -> Vec<ChainEntry> {
    let items = match root.get("chains") {
        Some(node) => node.array(report).unwrap_or_default(),
        None => {
            report.error(
                "chains",
                None,
                "no chain configured: at least one [[chains]] entry is required",
            );
            return Vec::new();
        }
    };
    if items.is_empty() {
        report.error(
            "chains",
            None,
            "no chain configured: at least one [[chains]] entry is required",
        );
    }
    items
        .into_iter()
        .filter_map(|item| {
            let mut t = item.table(report)?;
            let entry = chain(&mut t, report, base);
            t.finish(report);
            Some(entry)
        })
        .collect()
}

fn chain(t: &mut Table<'_, '_>, report: &mut Report<'_>, base: &Path) -> ChainEntry {
    let loc = t.loc().to_owned();
    let id = t.require(report, "id").and_then(|n| {
        let value = n.parse(report, |s| s.parse::<ChainId>().map_err(|e| e.to_string()))?;
        Some(Located {
            value,
            loc: n.loc.clone(),
            span: n.span(),
        })
    });
    let chain_type = t
        .require(report, "type")
        .and_then(|n| n.parse(report, chain_type));
    let rpc = t
        .require(report, "rpc")
        .and_then(|n| rpc_endpoints(n, report, id.as_ref().map(|id| &id.value)));
    let signer_key = t
        .require(report, "signer_key")
        .and_then(|n| key_file(&n, report, base));
    let trust_threshold = match t.get("trust_threshold") {
        Some(n) => n.parse(report, |s| {
            s.parse::<TrustThreshold>()
                .map_err(|e| e.to_string().replace("invalid options: ", ""))
        }),
        None => Some(TrustThreshold::ONE_THIRD),
    };
    let trusting_period = match t.get("trusting_period") {
        Some(n) => n.parse(report, positive_duration),
        None => Some(super::DEFAULT_TRUSTING_PERIOD),
    };
    let (clock_drift, drift_span) = match t.get("clock_drift") {
        Some(n) => (n.parse(report, duration), n.span()),
        None => (Some(super::DEFAULT_CLOCK_DRIFT), t.span()),
    };
    // The light client's own bounds (a year of trust, an hour of drift at
    // most), named here rather than failing when the client starts.
    if let (Some(threshold), Some(period), Some(drift)) =
        (trust_threshold, trusting_period, clock_drift)
        && drift < period
        && let Err(e) = light_clients::credit_chain::Options::new(threshold, period, drift)
    {
        let field = match e {
            light_clients::credit_chain::OptionsError::ZeroTrustingPeriod
            | light_clients::credit_chain::OptionsError::TrustingPeriodTooLong { .. } => {
                "trusting_period"
            }
            _ => "clock_drift",
        };
        report.error(
            format!("{loc}.{field}"),
            Some(drift_span.clone()),
            e.to_string(),
        );
    }
    if let (Some(period), Some(drift)) = (trusting_period, clock_drift)
        && drift >= period
    {
        report.error(
            format!("{loc}.clock_drift"),
            Some(drift_span),
            format!(
                "{} is not shorter than the trusting period {}",
                humantime::format_duration(drift),
                humantime::format_duration(period)
            ),
        );
    }
    let rpc_timeout = match t.get("rpc_timeout") {
        Some(n) => n.parse(report, positive_duration),
        None => Some(super::DEFAULT_RPC_TIMEOUT),
    };
    let trust_anchor = trust_anchor(t, report, id.as_ref().map(|i| &i.value));
    let config = (|| {
        let (signer_key, signer) = signer_key?;
        Some(ChainConfig {
            id: id.as_ref()?.value.clone(),
            chain_type: chain_type?,
            rpc: rpc?,
            signer_key,
            signer,
            trust_threshold: trust_threshold?,
            trusting_period: trusting_period?,
            clock_drift: clock_drift?,
            rpc_timeout: rpc_timeout?,
            trust_anchor: trust_anchor?,
        })
    })();
    ChainEntry { loc, id, config }
}

/// `trust_anchor = { height = H, hash = "HEX" }`: the header the chain's
/// light client starts from. Required: a chain without one is refused,
/// naming the chain (trust is never taken from an endpoint).
pub(super) fn trust_anchor(
    t: &mut Table<'_, '_>,
    report: &mut Report<'_>,
    chain: Option<&ChainId>,
) -> Option<Anchor> {
    let Some(node) = t.get("trust_anchor") else {
        let name = chain.map_or_else(|| "this chain".to_owned(), |c| format!("chain {c}"));
        report.error(
            format!("{}.trust_anchor", t.loc()),
            Some(t.span()),
            format!(
                "{name} has no trust anchor: add trust_anchor = {{ height = H, hash = \"HEX\" }} \
                 with the hash of its header at height H, read from a source you trust \
                 (the relayer never trusts its endpoints for it)"
            ),
        );
        return None;
    };
    let mut a = node.table(report)?;
    let height = a.require(report, "height").and_then(|n| {
        let h = n.int(report)?;
        match u64::try_from(h)
            .ok()
            .and_then(|h| protocol::Height::new(h).ok())
        {
            Some(h) => Some(h),
            None => {
                n.error(
                    report,
                    format!("{h} is not a block height (a positive integer)"),
                );
                None
            }
        }
    });
    let hash = a.require(report, "hash").and_then(|n| {
        n.parse(report, |s| {
            Anchor::parse("1", s)
                .map(|a| a.header_hash)
                .map_err(|e| e.to_string())
        })
    });
    a.finish(report);
    Some(Anchor {
        height: height?,
        header_hash: hash?,
    })
}

/// `credit-chain`, or an error naming what is wrong with the value.
pub(super) fn chain_type(s: &str) -> Result<ChainType, String> {
    match s {
        "credit-chain" => Ok(ChainType::CreditChain),
        "cometbft" => Err(
            "\"cometbft\" chains are not relayed by this version: the CometBFT light client \
             verifies headers, but the relay engine has no CometBFT adapter yet; remove this \
             chain (and its paths) or use type = \"credit-chain\""
                .to_owned(),
        ),
        _ => Err(format!(
            "unknown chain type {s:?} (expected \"credit-chain\"; \"cometbft\" is not supported yet)"
        )),
    }
}

/// Reads the RPC endpoints of `chain` (named in errors, when known).
pub(super) fn rpc_endpoints(
    node: Node<'_, '_>,
    report: &mut Report<'_>,
    chain: Option<&ChainId>,
) -> Option<Vec<Url>> {
    let loc = node.loc.clone();
    let span = node.span();
    let items = node.one_or_many(report)?;
    if items.is_empty() {
        report.error(loc, Some(span), "at least one RPC endpoint is required");
        return None;
    }
    let mut urls: Vec<Url> = Vec::new();
    let mut all_valid = true;
    for item in items {
        match item.parse(report, |s| http_url(s, chain)) {
            Some(url) => {
                if urls.contains(&url) {
                    item.warn(report, format!("{url} is listed twice"));
                } else {
                    urls.push(url);
                }
            }
            None => all_valid = false,
        }
    }
    all_valid.then_some(urls)
}

fn http_url(s: &str, chain: Option<&ChainId>) -> Result<Url, String> {
    let mut url = Url::parse(s).map_err(|e| format!("{s:?} is not an http(s) URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        // URLs end up in logs and in operators' tools: a secret in one
        // leaks. The message shows the URL without them.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let of = chain.map(|c| format!(" of chain {c}")).unwrap_or_default();
        return Err(format!(
            "the RPC endpoint {url}{of} carries credentials (user:password@ in the URL): refused, \
             since endpoint URLs are logged; give the endpoint without them (put an \
             authenticating proxy on loopback in front of it)"
        ));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{s:?} is not an http(s) URL (scheme {:?})",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err(format!("{s:?} is not an http(s) URL: no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{s:?}: an RPC endpoint takes no query or fragment"));
    }
    Ok(url)
}

fn paths(root: &mut Table<'_, '_>, report: &mut Report<'_>) -> Vec<PathEntry> {
    let Some(items) = root.get("paths").and_then(|n| n.array(report)) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let mut t = item.table(report)?;
            let mut end = |key: &'static str| {
                let n = t.require(report, key)?;
                let value = n.parse(report, |s| s.parse::<ChainId>().map_err(|e| e.to_string()))?;
                Some(Located {
                    value,
                    loc: n.loc.clone(),
                    span: n.span(),
                })
            };
            let a = end("a");
            let b = end("b");
            let entry = PathEntry {
                loc: t.loc().to_owned(),
                span: t.span(),
                a,
                b,
            };
            t.finish(report);
            Some(entry)
        })
        .collect()
}

fn packet_filter(
    root: &mut Table<'_, '_>,
    report: &mut Report<'_>,
) -> (PacketFilter, Vec<Located<FilterRule>>) {
    let mut filter = PacketFilter::default();
    let mut rules = Vec::new();
    let Some(mut t) = root.table(report, "packet_filter") else {
        return (filter, rules);
    };
    if let Some(action) = t
        .get("default")
        .and_then(|n| n.parse(report, |s| s.parse::<FilterAction>()))
    {
        filter.default = action;
    }
    for item in t
        .get("rules")
        .and_then(|n| n.array(report))
        .unwrap_or_default()
    {
        let Some(mut r) = item.table(report) else {
            continue;
        };
        let action = r
            .require(report, "action")
            .and_then(|n| n.parse(report, |s| s.parse::<FilterAction>()));
        let chain = match r.get("chain") {
            Some(n) => n.parse(report, |s| match s {
                "*" => Ok(None),
                _ => s.parse::<ChainId>().map(Some).map_err(|e| e.to_string()),
            }),
            None => Some(None),
        };
        let kind = match r.get("kind") {
            Some(n) => n.parse(report, |s| match s {
                "*" => Ok(None),
                _ => s.parse::<PacketKind>().map(Some),
            }),
            None => Some(None),
        };
        let (loc, span) = (r.loc().to_owned(), r.span());
        r.finish(report);
        if let (Some(action), Some(chain), Some(kind)) = (action, chain, kind) {
            rules.push(Located {
                value: FilterRule {
                    action,
                    chain,
                    kind,
                },
                loc,
                span,
            });
        }
    }
    t.finish(report);
    filter.rules = rules.iter().map(|r| r.value.clone()).collect();
    (filter, rules)
}

// ---- value rules ----

fn default_addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// An IP address and port, e.g. `127.0.0.1:3000` or `[::1]:3000`.
pub(super) fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("{s:?} is not an IP address and port such as \"127.0.0.1:3000\" (host names are not resolved)")
    })
}

/// A duration in humantime form: `500ms`, `30s`, `14d`, `1h 30m`.
pub(super) fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration such as \"30s\" or \"14d\": {e}"))
}

/// A duration greater than zero.
pub(super) fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err(format!("{s:?}: must be greater than zero"));
    }
    Ok(d)
}

/// 64 hex digits.
pub(super) fn sha256_hex(s: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| format!("expected 64 hex digits (a SHA-256 digest), got {:?}", s))?;
    Ok(out)
}

/// A non-empty path, relative to `base` unless absolute.
pub(super) fn file_path(base: &Path, s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(base.join(s))
}

/// Reads the key file a node names (a path relative to `base`), reporting
/// a loose mode as a warning and any other problem as an error at the node.
pub(super) fn key_file(
    n: &Node<'_, '_>,
    report: &mut Report<'_>,
    base: &Path,
) -> Option<(PathBuf, SigningKey)> {
    let path = n.parse(report, |s| file_path(base, s))?;
    let shown = n.str(report).unwrap_or_default();
    match read_signer(&path, shown) {
        Ok((key, warning)) => {
            if let Some(warning) = warning {
                n.warn(report, warning);
            }
            Some((path, key))
        }
        Err(message) => {
            n.error(report, message);
            None
        }
    }
}

/// The key file format `credit-chain init` writes.
#[derive(Deserialize)]
struct KeyFile {
    name: String,
    public_key: PublicKey,
    secret_key: String,
}

/// Reads a signer key file; `shown` is the path as written in the config.
/// Returns the key and, when the file is readable by others, a warning.
pub(super) fn read_signer(
    path: &Path,
    shown: &str,
) -> Result<(SigningKey, Option<String>), String> {
    let full = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        if shown == full.to_string() {
            format!("cannot read {shown}: {e}")
        } else {
            format!("cannot read {shown} ({full}): {e}")
        }
    })?;
    let file: KeyFile = serde_json::from_str(&text)
        .map_err(|e| format!("{shown} is not a key file {{name, public_key, secret_key}}: {e}"))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(file.secret_key.trim(), &mut seed)
        .map_err(|_| format!("{shown}: secret_key is not 64 hex digits"))?;
    let key = SigningKey::from_bytes(&seed);
    if key.verifying_key().to_bytes() != file.public_key.0 {
        return Err(format!(
            "{shown}: secret key of {:?} does not match its public key {}",
            file.name, file.public_key
        ));
    }
    Ok((key, loose_permissions(path, shown)))
}

#[cfg(unix)]
fn loose_permissions(path: &Path, shown: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0)
        .then(|| format!("{shown} is readable by others (mode {mode:04o}); run chmod 600 on it"))
}

#[cfg(not(unix))]
fn loose_permissions(_path: &Path, _shown: &str) -> Option<String> {
    None
}
