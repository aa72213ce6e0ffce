//! The configuration of `relayer supervise`: the regulator's read-only
//! supervision node (see `config/supervisor.toml`). Read with the same
//! exhaustive reader as a relayer's configuration, so every problem is
//! reported at once, naming its field and line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use protocol::ChainId;
use toml::de::DeTable;
use url::Url;

use super::parse::{file_path, in_file_order, positive_duration, rpc_endpoints, socket_addr};
use super::reader::{Report, Table};
use super::{ConfigError, ConfigErrors, NetworkSettings};

/// Where the supervision node keeps its store by default, next to its
/// configuration file.
pub const DEFAULT_SUPERVISOR_STORE: &str = "supervisor-store";

/// A validated supervision node configuration.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    /// `[store] path`: the sled store of the audit log and the progress.
    pub store: PathBuf,
    /// `[network]`: the mesh. `identity_key` is the regulator's key file:
    /// the node's peer id derives from it, and it signs the checkpoints.
    /// `[[network.chains]]` are the chains followed, with their serving
    /// relayers.
    pub network: NetworkSettings,
    /// `[follow] poll_interval`: how often every chain's new events are
    /// read (default 500 ms).
    pub poll_interval: Duration,
    /// `[api] listen`: the regulator's API.
    pub api_listen: SocketAddr,
    /// `[anchor]`: where and how often checkpoints are anchored; `None`
    /// when the table is absent (checkpoints are then never anchored).
    pub anchor: Option<AnchorConfig>,
    /// `[aggregation]`: the regulator's share of the joint aggregation
    /// keys and when its decryption shares are released; `None` when the
    /// table is absent (no share is ever released).
    pub aggregation: Option<AggregationConfig>,
    /// Problems that do not stop the node.
    pub warnings: Vec<ConfigError>,
}

/// `[aggregation]`: the regulator's part in joint credit totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregationConfig {
    /// `key_file`: the regulator's key share (a key share file, mode 0600;
    /// its public share is set on every chain by governance).
    pub key_file: PathBuf,
    /// `threshold`: the aggregation threshold, the fewest providers a
    /// total must sum for its share to be released (default 3).
    pub threshold: u32,
}

/// `[anchor]`: the chain the regulator anchors its checkpoints on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorConfig {
    /// `chain`: its id.
    pub chain: ChainId,
    /// `rpc`: its RPC endpoints (the regulator is a member institution of
    /// that chain, with role regulator, and submits there directly).
    pub rpc: Vec<Url>,
    /// `every_entries`: anchor once this many entries are unanchored.
    pub every_entries: u64,
    /// `every`: anchor at least this often when there are new entries.
    pub every: Duration,
}

impl SupervisorConfig {
    /// Reads and validates `path` (all problems at once).
    pub fn load(path: &Path) -> Result<SupervisorConfig, ConfigErrors> {
        let (text, file) = super::read_file(path)?;
        SupervisorConfig::from_toml(&text, &file)
    }

    /// Validates `text` as if read from `file` (absolute; relative paths
    /// are resolved against its directory).
    pub fn from_toml(text: &str, file: &Path) -> Result<SupervisorConfig, ConfigErrors> {
        let mut report = Report::new(text);
        let (doc, syntax) = DeTable::parse_recoverable(text);
        if let Some(e) = syntax.first() {
            let (line, column) = report.line_col(e.span().map_or(0, |s| s.start));
            return Err(ConfigErrors(vec![ConfigError {
                location: format!("line {line}, column {column}"),
                message: format!("TOML syntax error: {}", e.message().trim()),
                line: Some(line),
            }]));
        }
        let base = file.parent().unwrap_or(Path::new("/"));
        let mut root = Table::root(&doc);

        let mut store = base.join(DEFAULT_SUPERVISOR_STORE);
        if let Some(mut t) = root.table(&mut report, "store") {
            if let Some(n) = t.get("path")
                && let Some(p) = n.parse(&mut report, |s| file_path(base, s))
            {
                if p.exists() && !p.is_dir() {
                    n.error(
                        &mut report,
                        format!("{} exists and is not a directory", p.display()),
                    );
                }
                store = p;
            }
            t.finish(&mut report);
        }

        let mut poll_interval = Duration::from_millis(500);
        if let Some(mut t) = root.table(&mut report, "follow") {
            if let Some(d) = t
                .get("poll_interval")
                .and_then(|n| n.parse(&mut report, positive_duration))
            {
                poll_interval = d;
            }
            t.finish(&mut report);
        }

        let api_listen = match root.table(&mut report, "api") {
            Some(mut t) => {
                let listen = t
                    .require(&mut report, "listen")
                    .and_then(|n| n.parse(&mut report, socket_addr));
                t.finish(&mut report);
                listen
            }
            None => {
                report.error(
                    "api",
                    None,
                    "the regulator's API needs [api] listen = \"127.0.0.1:3100\" (or another address)",
                );
                None
            }
        };

        let anchor = root.table(&mut report, "anchor").and_then(|mut t| {
            let chain = t.require(&mut report, "chain").and_then(|n| {
                n.parse(&mut report, |s| {
                    s.parse::<ChainId>()
                        .map_err(|e| format!("{s:?} is not a chain id: {e}"))
                })
            });
            let rpc = t
                .require(&mut report, "rpc")
                .and_then(|n| rpc_endpoints(n, &mut report, chain.as_ref()));
            let every_entries = match t.get("every_entries") {
                Some(n) => n.int(&mut report).and_then(|k| {
                    if k < 1 {
                        n.error(
                            &mut report,
                            format!("{k}: anchor every 1 entry or more (or leave it out: 100)"),
                        );
                        return None;
                    }
                    Some(k as u64)
                }),
                None => Some(100),
            };
            let every = match t.get("every") {
                Some(n) => n.parse(&mut report, positive_duration),
                None => Some(Duration::from_secs(60)),
            };
            t.finish(&mut report);
            Some(AnchorConfig {
                chain: chain?,
                rpc: rpc?,
                every_entries: every_entries?,
                every: every?,
            })
        });

        let aggregation = root.table(&mut report, "aggregation").and_then(|mut t| {
            let key_file = t
                .require(&mut report, "key_file")
                .and_then(|n| n.parse(&mut report, |s| file_path(base, s)));
            let threshold = match t.get("threshold") {
                Some(n) => n.int(&mut report).and_then(|k| {
                    if !(1..=i64::from(u32::MAX)).contains(&k) {
                        n.error(
                            &mut report,
                            format!(
                                "{k}: release totals of 1 provider or more (or leave it out: {})",
                                crate::supervisor::release::DEFAULT_AGGREGATION_THRESHOLD
                            ),
                        );
                        return None;
                    }
                    Some(k as u32)
                }),
                None => Some(crate::supervisor::release::DEFAULT_AGGREGATION_THRESHOLD),
            };
            t.finish(&mut report);
            Some(AggregationConfig {
                key_file: key_file?,
                threshold: threshold?,
            })
        });

        let network = super::mesh::network(&mut root, &mut report, base);
        let network_missing = network.is_none();
        root.finish(&mut report);
        if network_missing && report.errors.is_empty() {
            report.error(
                "network",
                None,
                "the supervision node follows chains through the mesh: [network] with \
                 identity_key (the regulator's key file), listen, bootstrap and \
                 [[network.chains]] is required (and enabled)",
            );
        }
        if let Some(n) = &network
            && n.chains.is_empty()
        {
            report.error(
                "network.chains",
                None,
                "name at least one chain to follow: [[network.chains]] id = \"...\" relayers = [\"<peer id>\"]",
            );
        }
        if let Some(n) = &network
            && n.chains.iter().any(|c| c.relayers.is_empty())
        {
            report.error(
                "network.chains",
                None,
                "every followed chain needs at least one serving relayer (relayers = [\"<peer id>\"])",
            );
        }
        if !report.errors.is_empty() {
            return Err(ConfigErrors(in_file_order(report.errors)));
        }
        let (Some(network), Some(api_listen)) = (network, api_listen) else {
            return Err(ConfigErrors(vec![ConfigError::new(
                "config",
                "incomplete configuration",
            )]));
        };
        Ok(SupervisorConfig {
            store,
            network,
            poll_interval,
            api_listen,
            anchor,
            aggregation,
            warnings: in_file_order(report.warnings),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_file(dir: &Path) -> PathBuf {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let path = dir.join("regulator.json");
        let text = serde_json::json!({
            "name": "institutions/regulator",
            "public_key": hex::encode(key.verifying_key().to_bytes()),
            "secret_key": hex::encode([7u8; 32]),
        });
        std::fs::write(&path, text.to_string()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("supervisor-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const PEER: &str = "12D3KooWGbK3NAtbpDq5ZhScYhpQWQFVhA3Mn4Bi5Us4Y8g9jJ5d";

    fn text(extra: &str) -> String {
        format!(
            r#"
[store]
path = "store"

[api]
listen = "127.0.0.1:3100"

[network]
identity_key = "regulator.json"
listen = ["/ip4/127.0.0.1/tcp/4100"]
bootstrap = ["/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"]

[[network.chains]]
id = "shaanxi"
relayers = ["{PEER}"]
trust_anchor = {{ height = 1, hash = "abababababababababababababababababababababababababababababababab" }}
{extra}"#
        )
    }

    #[test]
    fn supervisor_config_is_read_with_defaults() {
        let d = dir("ok");
        key_file(&d);
        let config = SupervisorConfig::from_toml(
            &text("[anchor]\nchain = \"shaanxi\"\nrpc = \"http://127.0.0.1:26657\"\nevery_entries = 5\n"),
            &d.join("supervisor.toml"),
        )
        .unwrap();
        assert_eq!(config.store, d.join("store"));
        assert_eq!(config.poll_interval, Duration::from_millis(500));
        assert_eq!(config.network.chains.len(), 1);
        let anchor = config.anchor.unwrap();
        assert_eq!(anchor.chain.as_str(), "shaanxi");
        assert_eq!(anchor.every_entries, 5);
        assert_eq!(anchor.every, Duration::from_secs(60));
        assert_eq!(config.aggregation, None);
        let config = SupervisorConfig::from_toml(
            &text("[aggregation]\nkey_file = \"share.json\"\n"),
            &d.join("supervisor.toml"),
        )
        .unwrap();
        assert_eq!(
            config.aggregation,
            Some(AggregationConfig {
                key_file: d.join("share.json"),
                threshold: 3
            })
        );
        let errors = SupervisorConfig::from_toml(
            &text("[aggregation]\nthreshold = 0\n"),
            &d.join("supervisor.toml"),
        )
        .unwrap_err()
        .to_string();
        for field in ["aggregation.key_file", "aggregation.threshold"] {
            assert!(errors.contains(field), "{field} not named in:\n{errors}");
        }
    }

    #[test]
    fn the_example_supervisor_config_is_valid() {
        let d = dir("example");
        std::fs::create_dir_all(d.join("keys")).unwrap();
        std::fs::rename(key_file(&d), d.join("keys/regulator.json")).unwrap();
        let config = SupervisorConfig::from_toml(
            include_str!("../../../config/supervisor.toml"),
            &d.join("supervisor.toml"),
        )
        .unwrap();
        assert_eq!(config.network.chains.len(), 2);
        assert_eq!(config.anchor.unwrap().every_entries, 100);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn supervisor_config_errors_name_the_field() {
        let d = dir("bad");
        key_file(&d);
        let errors = SupervisorConfig::from_toml(
            &text("[anchor]\nchain = \"Not A Chain\"\nrpc = \"ftp://x\"\nevery_entries = 0\nevery = \"soon\"\n[follow]\npoll_interval = \"0s\"\ncolour = 1\n"),
            &d.join("supervisor.toml"),
        )
        .unwrap_err()
        .to_string();
        for field in [
            "anchor.chain",
            "anchor.rpc",
            "anchor.every_entries",
            "anchor.every",
            "follow.poll_interval",
            "follow.colour",
        ] {
            assert!(errors.contains(field), "{field} not named in:\n{errors}");
        }
        // No [api], no [network].
        let errors = SupervisorConfig::from_toml("", &d.join("supervisor.toml"))
            .unwrap_err()
            .to_string();
        assert!(errors.contains("api"), "{errors}");
        let errors =
            SupervisorConfig::from_toml("[api]\nlisten = \"127.0.0.1:1\"\n", &d.join("s.toml"))
                .unwrap_err()
                .to_string();
        assert!(errors.contains("network"), "{errors}");
    }
}
