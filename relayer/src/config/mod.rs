//! The relayer's configuration: a TOML file (see `config/relayer.toml`, every
//! field commented) read into typed values, and every rule it must obey.
//!
//! [`Config::load`] is all or nothing: it returns a [`Config`] only when the
//! file has no problem at all, otherwise [`ConfigErrors`] listing *every*
//! problem with its location (`chains[1].rpc[0]: "htp://x" is not an http(s)
//! URL`), so a wrong file never starts a half-working daemon and an operator
//! fixes all mistakes in one round.
//!
//! Reading happens in two steps, like a verifier composing predicates:
//! `parse` reads each section field by field (types, ranges, syntax of ids,
//! URLs, durations, addresses, key files) and `checks` applies the rules that
//! span sections (duplicate chain ids, paths naming unknown chains, API and
//! telemetry on one address, filter rules that can never match).
//!
//! Relative paths (store directory, signer key files) are relative to the
//! directory of the configuration file and are returned absolute.

mod checks;
mod error;
mod mesh;
mod parse;
mod reader;
mod supervisor;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use light_clients::credit_chain::{Options, TrustThreshold};
use protocol::{ChainId, ChainType, InstitutionId, Packet, PacketPayload, PublicKey};
use sha2::{Digest, Sha256};
use url::Url;

use crate::clock::SharedClock;
use crate::trust::{Anchor, ChainTrust};

pub use error::{ConfigError, ConfigErrors};
pub use supervisor::{AnchorConfig, DEFAULT_SUPERVISOR_STORE, SupervisorConfig};

/// Default `store.path`, relative to the configuration file's directory.
pub const DEFAULT_STORE_PATH: &str = "relayer-data";
/// Default `api.listen`.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:3000";
/// Default `telemetry.listen`.
pub const DEFAULT_TELEMETRY_LISTEN: &str = "127.0.0.1:3001";
/// Default `relay.clear_interval`.
pub const DEFAULT_CLEAR_INTERVAL: Duration = Duration::from_secs(30);
/// Default `relay.batch_size`.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// Largest accepted `relay.batch_size`: a batch's proofs are read from the
/// chain in one request, which takes at most this many keys.
pub const MAX_BATCH_SIZE: usize = adapters::MAX_BATCH_KEYS;
/// Default `network.discovery_interval`.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(5);
/// Default `relay.poll_interval`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Default `chains[].trusting_period`: 14 days.
pub const DEFAULT_TRUSTING_PERIOD: Duration = Duration::from_secs(14 * 24 * 3600);
/// Default `chains[].clock_drift`.
pub const DEFAULT_CLOCK_DRIFT: Duration = Duration::from_secs(10);
/// Default `chains[].rpc_timeout`.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// A complete, valid relayer configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The configuration file, absolute.
    pub file: PathBuf,
    /// `[global]`.
    pub global: GlobalConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[api]`.
    pub api: ApiConfig,
    /// `[telemetry]`.
    pub telemetry: TelemetryConfig,
    /// `[relay]`.
    pub relay: RelayConfig,
    /// `[[chains]]`, in file order; at least one, ids unique.
    pub chains: Vec<ChainConfig>,
    /// `[[paths]]`: the chain pairs relayed, both ends among `chains`.
    pub paths: Vec<RelayPath>,
    /// `[packet_filter]`.
    pub packet_filter: PacketFilter,
    /// `[network]`: the mesh of relayers; `None` when absent or disabled
    /// (a stand-alone relayer with RPC access to every chain it relays).
    pub network: Option<NetworkSettings>,
    /// Things that are allowed but probably not meant (a key file readable
    /// by others, a filter rule that can never match, ...).
    pub warnings: Vec<ConfigError>,
}

/// The text of the configuration file at `path` and its absolute path
/// (relative paths in it are resolved against its directory).
pub(crate) fn read_file(path: &Path) -> Result<(String, PathBuf), ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            "config",
            format!("cannot read {}: {e}", path.display()),
        )])
    })?;
    let file = std::path::absolute(path).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            "config",
            format!("cannot resolve {}: {e}", path.display()),
        )])
    })?;
    Ok((text, file))
}

impl Config {
    /// Reads and validates the configuration file at `path`.
    ///
    /// Returns every problem found, or a configuration in which every value
    /// is valid: chain ids follow the protocol's rule, trust thresholds lie in
    /// [1/3, 1], signer key files were read and their keys match, paths are
    /// absolute.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let (text, file) = read_file(path)?;
        Config::from_toml(&text, &file)
    }

    /// Validates configuration `text` as if read from `file` (an absolute
    /// path; relative paths in the text are resolved against its directory).
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
        parse::parse(text, file)
    }

    /// The chain with this id.
    pub fn chain(&self, id: &ChainId) -> Option<&ChainConfig> {
        self.chains.iter().find(|c| &c.id == id)
    }

    /// Whether the packet filter lets packets of `kind` to or from `chain`
    /// through: the action of the first rule matching both, else the
    /// filter's default.
    pub fn filter_allows(&self, chain: &ChainId, kind: PacketKind) -> bool {
        self.packet_filter.allows(chain, kind)
    }

    /// Whether `packet` may be relayed: the filter allows its kind for its
    /// source chain and for its destination chain.
    pub fn allows_packet(&self, packet: &Packet) -> bool {
        let kind = PacketKind::of(&packet.payload);
        self.filter_allows(&packet.source, kind) && self.filter_allows(&packet.destination, kind)
    }
}

/// Verbosity of the logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, including per-packet detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    #[default]
    Info,
    /// Only problems.
    Warn,
    /// Only failures.
    Error,
}

impl LogLevel {
    /// Every level, most verbose first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ];

    /// The level's name in the file and in `tracing` filters.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LogLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                format!("unknown log level {s:?} (expected trace, debug, info, warn or error)")
            })
    }
}

/// `[global]`: process-wide settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalConfig {
    /// `log_level`: default `info`; `RUST_LOG`, when set, overrides it.
    pub log_level: LogLevel,
}

/// `[store]`: where the relayer keeps its durable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// `path`: the sled directory, absolute; created at start if missing.
    pub path: PathBuf,
}

/// `[api]`: the HTTP/JSON API for integrators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// `enabled`: default true.
    pub enabled: bool,
    /// `listen`: default 127.0.0.1:3000.
    pub listen: SocketAddr,
    /// `[[api.tokens]]`: the bearer tokens, as SHA-256 digests, each bound
    /// to a role; names and digests unique.
    pub tokens: Vec<ApiToken>,
}

impl ApiConfig {
    /// The token whose secret is `bearer`, if any. Every digest is compared
    /// in constant time, and all of them, so the time taken does not tell
    /// which token (if any) matched.
    pub fn token(&self, bearer: &str) -> Option<&ApiToken> {
        let digest: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        let index = matching_digest(&digest, self.tokens.iter().map(|t| &t.sha256))?;
        self.tokens.get(index)
    }
}

/// The index of the digest among `digests` equal to `digest`, compared in
/// constant time: every digest is compared, with no early exit, and the
/// index is chosen without a branch on the comparison.
pub fn matching_digest<'a>(
    digest: &[u8; 32],
    digests: impl IntoIterator<Item = &'a [u8; 32]>,
) -> Option<usize> {
    use subtle::{ConditionallySelectable, ConstantTimeEq};
    let mut found = subtle::Choice::from(0);
    let mut index = 0u64;
    for (i, candidate) in digests.into_iter().enumerate() {
        let equal = digest.ct_eq(candidate);
        // The first match wins (digests are unique in a valid config).
        let take = equal & !found;
        index = u64::conditional_select(&index, &(i as u64), take);
        found |= equal;
    }
    bool::from(found).then_some(index as usize)
}

/// What a bearer token may do on the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRole {
    /// `role = "integrator"`, `institution = "INSTITUTION@CHAIN"`: submits
    /// only its institution's transactions on that chain, reads only its
    /// own queries.
    Integrator {
        /// The institution it acts for.
        institution: InstitutionId,
        /// The chain the institution belongs to.
        chain: ChainId,
    },
    /// `role = "operator"`: the relayer's operator; every route, the
    /// network's and the registry's included.
    Operator,
}

impl fmt::Display for TokenRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenRole::Integrator { institution, chain } => {
                write!(f, "integrator {institution}@{chain}")
            }
            TokenRole::Operator => f.write_str("operator"),
        }
    }
}

/// One API token; the token itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// `name`: who holds it (shown in logs and the audit trail).
    pub name: String,
    /// `sha256`: SHA-256 of the token (64 hex digits in the file).
    pub sha256: [u8; 32],
    /// `role` (and `institution`): what it may do.
    pub role: TokenRole,
}

/// `[telemetry]`: Prometheus metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `enabled`: default true.
    pub enabled: bool,
    /// `listen`: default 127.0.0.1:3001; serves `/metrics`.
    pub listen: SocketAddr,
}

/// `[relay]`: pacing of the relay engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// `clear_interval`: how often pending packets are cleared (default 30s, > 0).
    pub clear_interval: Duration,
    /// `batch_size`: packets proven per client update (default 100, 1..=5000).
    pub batch_size: usize,
    /// `poll_interval`: polling period when a chain's event stream is
    /// silent (default 1s, > 0).
    pub poll_interval: Duration,
}

/// One `[[chains]]` entry: a chain this relayer talks to.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// `id`: the chain id (protocol rule: `[a-z0-9-]{3,48}`), unique.
    pub id: ChainId,
    /// `type`: `credit-chain` (the only type the engine relays today).
    pub chain_type: ChainType,
    /// `rpc`: http(s) endpoints, tried in order (failover).
    pub rpc: Vec<Url>,
    /// `signer_key`: the key file, absolute.
    pub signer_key: PathBuf,
    /// The key read from `signer_key` (checked against its public key).
    pub signer: SigningKey,
    /// `trust_threshold`: default 1/3, within [1/3, 1].
    pub trust_threshold: TrustThreshold,
    /// `trusting_period`: default 14d, > 0, longer than `clock_drift`.
    pub trusting_period: Duration,
    /// `clock_drift`: default 10s.
    pub clock_drift: Duration,
    /// `rpc_timeout`: per request, default 5s, > 0.
    pub rpc_timeout: Duration,
    /// `trust_anchor = { height, hash }`: the header the relayer's light
    /// client of this chain starts from (required; `relayer chains trust`
    /// overrides it in the store).
    pub trust_anchor: Anchor,
}

impl ChainConfig {
    /// What the light client of this chain starts from, with `clock`.
    pub fn trust(&self, clock: &SharedClock) -> ChainTrust {
        ChainTrust {
            anchor: self.trust_anchor,
            options: self.options(),
            clock: clock.clone(),
        }
    }

    /// The light-client parameters of this chain.
    pub fn options(&self) -> Options {
        Options {
            trust_threshold: self.trust_threshold,
            trusting_period: self.trusting_period,
            clock_drift: self.clock_drift,
        }
    }

    /// The public key of the relayer's signer on this chain.
    pub fn signer_public_key(&self) -> PublicKey {
        PublicKey(self.signer.verifying_key().to_bytes())
    }
}

/// `[network]`: this relayer as a member of the mesh of regional relayers.
/// The `[[chains]]` are the chains it serves (their RPC stays private to
/// it); `[[network.chains]]` are the chains other relayers serve, reached
/// only through the mesh.
#[derive(Clone, Debug)]
pub struct NetworkSettings {
    /// `listen`: multiaddrs (`/ip4/0.0.0.0/tcp/4001`), at least one.
    pub listen: Vec<network::Multiaddr>,
    /// `identity_key`: the operator key file, absolute; the libp2p identity
    /// (peer id) derives from it.
    pub identity_key: PathBuf,
    /// The key read from `identity_key`.
    pub identity: SigningKey,
    /// `bootstrap`: multiaddrs ending in `/p2p/<peer id>`, dialled at start.
    pub bootstrap: Vec<(network::PeerId, network::Multiaddr)>,
    /// `admitted`: peers admitted besides the serving relayers of registered
    /// chains (e.g. the regulator's node).
    pub admitted: Vec<network::PeerId>,
    /// `regulator`: the regulator's public key; its supervision node (peer
    /// id derived from the key) is admitted read-only: it may read every
    /// chain this relayer serves, never hand over messages to submit.
    pub regulator: Option<PublicKey>,
    /// `discovery_interval`: how often admitted peers without a connection
    /// are looked up in kademlia and dialled (default 5 s; `"off"`: only
    /// bootstrap peers are dialled).
    pub discovery_interval: Option<Duration>,
    /// `capture`: a file every mesh message body received is appended to
    /// (`network::NetworkConfig::capture`), for audits of what crosses the
    /// mesh; off when absent.
    pub capture: Option<PathBuf>,
    /// `[network.governance]`: the keys approving registrations.
    pub governance: GovernanceConfig,
    /// `[[network.chains]]`: the genesis registry's chains served by others.
    pub chains: Vec<NetworkChain>,
}

/// `[network.governance]`: k of n keys approve a registry change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GovernanceConfig {
    /// `keys`: the governance public keys (hex).
    pub keys: Vec<PublicKey>,
    /// `threshold`: approvals needed, 1..=keys.
    pub threshold: usize,
    /// `proposal_expiry`: how long a proposal stays pending before it
    /// expires (default [`crate::registry::DEFAULT_PENDING_EXPIRY`]).
    pub proposal_expiry: std::time::Duration,
}

/// One `[[network.chains]]` entry: a chain of the network served by other
/// relayers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkChain {
    /// `id`.
    pub id: ChainId,
    /// `type`: default `credit-chain`.
    pub chain_type: ChainType,
    /// `relayers`: peer ids of the relayers serving it.
    pub relayers: Vec<network::PeerId>,
    /// `trust_anchor = { height, hash }`: where the light client of it
    /// starts (required).
    pub trust_anchor: Anchor,
}

impl NetworkChain {
    /// What the light client of this chain starts from, with `clock`
    /// (default light-client parameters).
    pub fn trust(&self, clock: &SharedClock) -> ChainTrust {
        ChainTrust {
            anchor: self.trust_anchor,
            options: Options::default(),
            clock: clock.clone(),
        }
    }
}

/// One `[[paths]]` entry: packets are relayed between `a` and `b`, both
/// ways. Unordered: `a`–`b` and `b`–`a` are the same path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayPath {
    /// One end.
    pub a: ChainId,
    /// The other end, different from `a`.
    pub b: ChainId,
}

impl RelayPath {
    /// Whether `chain` is one of the ends.
    pub fn touches(&self, chain: &ChainId) -> bool {
        &self.a == chain || &self.b == chain
    }
}

/// What a filter rule does with the packets it matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FilterAction {
    /// Relay them.
    #[default]
    Allow,
    /// Do not relay them.
    Deny,
}

impl FromStr for FilterAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "allow" => Ok(FilterAction::Allow),
            "deny" => Ok(FilterAction::Deny),
            _ => Err(format!("unknown action {s:?} (expected allow or deny)")),
        }
    }
}

impl fmt::Display for FilterAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilterAction::Allow => "allow",
            FilterAction::Deny => "deny",
        })
    }
}

/// Kind of a packet, as named in filter rules (one per [`PacketPayload`]
/// variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PacketKind {
    /// `credit_query`.
    CreditQuery,
    /// `credit_response`.
    CreditResponse,
    /// `attestation`.
    Attestation,
    /// `aggregation_request`.
    AggregationRequest,
    /// `aggregation_partial`.
    AggregationPartial,
    /// `chain_registration`.
    ChainRegistration,
}

impl PacketKind {
    /// Every kind.
    pub const ALL: [PacketKind; 6] = [
        PacketKind::CreditQuery,
        PacketKind::CreditResponse,
        PacketKind::Attestation,
        PacketKind::AggregationRequest,
        PacketKind::AggregationPartial,
        PacketKind::ChainRegistration,
    ];

    /// The kind of a payload.
    pub fn of(payload: &PacketPayload) -> PacketKind {
        match payload {
            PacketPayload::CreditQuery(_) => PacketKind::CreditQuery,
            PacketPayload::CreditResponse(_) => PacketKind::CreditResponse,
            PacketPayload::Attestation(_) => PacketKind::Attestation,
            PacketPayload::AggregationRequest(_) => PacketKind::AggregationRequest,
            PacketPayload::AggregationPartial(_) => PacketKind::AggregationPartial,
            PacketPayload::ChainRegistration(_) => PacketKind::ChainRegistration,
        }
    }

    /// The name used in the configuration (and in the packets' JSON `kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            PacketKind::CreditQuery => "credit_query",
            PacketKind::CreditResponse => "credit_response",
            PacketKind::Attestation => "attestation",
            PacketKind::AggregationRequest => "aggregation_request",
            PacketKind::AggregationPartial => "aggregation_partial",
            PacketKind::ChainRegistration => "chain_registration",
        }
    }
}

impl fmt::Display for PacketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PacketKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PacketKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = PacketKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown packet kind {s:?} (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// One `[[packet_filter.rules]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterRule {
    /// `action`: `allow` or `deny`.
    pub action: FilterAction,
    /// `chain`: the chain a packet comes from or goes to; `None` (`"*"` or
    /// absent) matches any.
    pub chain: Option<ChainId>,
    /// `kind`: `None` (`"*"` or absent) matches any.
    pub kind: Option<PacketKind>,
}

impl FilterRule {
    /// Whether the rule applies to packets of `kind` to or from `chain`.
    pub fn matches(&self, chain: &ChainId, kind: PacketKind) -> bool {
        self.chain.as_ref().is_none_or(|c| c == chain) && self.kind.is_none_or(|k| k == kind)
    }
}

/// `[packet_filter]`: which packets this relayer carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PacketFilter {
    /// `default`: the action when no rule matches (default `allow`).
    pub default: FilterAction,
    /// `rules`: tried in order, the first match wins.
    pub rules: Vec<FilterRule>,
}

impl PacketFilter {
    /// The action of the first rule matching `(chain, kind)`, else the default.
    pub fn action(&self, chain: &ChainId, kind: PacketKind) -> FilterAction {
        self.rules
            .iter()
            .find(|r| r.matches(chain, kind))
            .map_or(self.default, |r| r.action)
    }

    /// Whether packets of `kind` to or from `chain` are relayed.
    pub fn allows(&self, chain: &ChainId, kind: PacketKind) -> bool {
        self.action(chain, kind) == FilterAction::Allow
    }
}
