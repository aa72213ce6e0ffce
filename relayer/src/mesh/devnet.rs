//! `relayer devnet --relayers-per-chain K`: one relayer *process* per
//! region (K per region), each with RPC access to its own chain only,
//! connected to the others through the libp2p mesh. The query then travels
//! chain A → relayer A → mesh → relayer B → chain B and back.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::devnet::{DevChain, MeshMember, RelayerConfig, submit};
use anyhow::{Context, bail};
use credit_chain::keys::KeyFile;
use protocol::tx::{Role, TxBody};
use protocol::{ChainId, PublicKey, state_keys};

/// A relayer process of the mesh devnet; killed (and reaped) when dropped.
pub struct RelayerProcess {
    /// The region it serves.
    pub chain: ChainId,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its listen multiaddr (with `/p2p/<peer id>`).
    pub address: String,
    /// Where it serves the integrator API ([`MeshOptions::api`]).
    pub api: Option<std::net::SocketAddr>,
    /// The process.
    pub child: std::process::Child,
}

impl Drop for RelayerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One relayer's identity and on-chain signer before it starts.
struct Planned {
    chain: usize,
    index: usize,
    identity_key: std::path::PathBuf,
    peer_id: String,
    address: String,
    signer_key: std::path::PathBuf,
}

/// The on-chain signer of relayer `k` of a chain: the genesis relayer for
/// the first, a relayer institution registered by governance for others.
async fn relayer_signer(chain: &DevChain, k: usize) -> anyhow::Result<std::path::PathBuf> {
    let genesis = chain.home.join("keys/institutions/relayer.json");
    if k == 0 {
        return Ok(genesis);
    }
    let name = format!("relayer-{}", k + 1);
    let file = KeyFile::generate(&format!("institutions/{name}"));
    let path = chain.home.join(format!("keys/institutions/{name}.json"));
    file.write(&path)?;
    let key = file.signing_key()?;
    submit(
        chain.adapter()?.as_ref(),
        &chain.key("governance")?,
        TxBody::RegisterInstitution {
            institution: name.parse()?,
            name: format!("{} relayer {}", chain.id, k + 1),
            roles: vec![Role::Relayer],
            key: PublicKey(key.verifying_key().to_bytes()),
        },
    )
    .await
    .with_context(|| format!("registering {name} on {}", chain.id))?;
    Ok(path)
}

/// The network-wide settings of a mesh devnet.
#[derive(Clone, Debug, Default)]
pub struct MeshOptions {
    /// Every relayer serves the integrator API with this bearer token: the
    /// first relayer of the first chain at this address, the `n`th started
    /// (chain by chain) at its port + `n`.
    pub api: Option<(std::net::SocketAddr, String)>,
    /// Governance keys (hex) and how many must approve a registration;
    /// none: no runtime registration.
    pub governance: Option<(Vec<String>, usize)>,
    /// Chains whose relayers start, but which the others' configurations do
    /// not name: they join when the registry accepts them at runtime. Their
    /// relayers bootstrap from the first relayer only; the others find them
    /// through kademlia once admitted.
    pub unannounced: Vec<ChainId>,
    /// Extra peer ids every relayer admits (`network.admitted`), e.g. a
    /// test's own node.
    pub admitted: Vec<String>,
    /// The regulator's public key (hex): every relayer admits its
    /// supervision node read-only (`network.regulator`).
    pub regulator: Option<String>,
    /// Every relayer appends the mesh messages it receives to
    /// `mesh-capture.bin` in its home (`network.capture`).
    pub capture: bool,
}

/// Writes the configurations of `per_chain` relayers for each chain and
/// starts them (P2P ports from `base_port + 2000`).
pub async fn start_relayers(
    exe: &Path,
    dir: &Path,
    chains: &[DevChain],
    per_chain: usize,
    base_port: u16,
    options: &MeshOptions,
) -> anyhow::Result<Vec<RelayerProcess>> {
    let mut planned = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        for k in 0..per_chain {
            let home = dir.join("relayers").join(format!("{}-{}", chain.id, k + 1));
            std::fs::create_dir_all(&home)?;
            let identity = KeyFile::generate("operator");
            let identity_key = home.join("operator.json");
            identity.write(&identity_key)?;
            let public = PublicKey(identity.signing_key()?.verifying_key().to_bytes());
            let peer_id = network::peer_id_of(&public)
                .context("operator key without a peer id")?
                .to_string();
            let port = base_port + 2000 + 10 * i as u16 + k as u16;
            planned.push(Planned {
                chain: i,
                index: k,
                identity_key,
                address: format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id}"),
                peer_id,
                signer_key: relayer_signer(chain, k).await?,
            });
        }
    }
    let is_unannounced = |c: &DevChain| options.unannounced.contains(&c.id);
    let mut processes = Vec::new();
    let first = planned.first().map(|p| p.peer_id.clone());
    for (n, p) in planned.iter().enumerate() {
        let chain = &chains[p.chain];
        let home = dir
            .join("relayers")
            .join(format!("{}-{}", chain.id, p.index + 1));
        let mut config = RelayerConfig::new(home.join("store"));
        config.batch_size = 500;
        config.clear_interval = Duration::from_secs(2);
        if let Some((addr, token)) = &options.api {
            let port = u16::try_from(n)
                .ok()
                .and_then(|n| addr.port().checked_add(n))
                .context("API port out of range")?;
            config.api = Some(std::net::SocketAddr::new(addr.ip(), port));
            config.api_token = token.clone();
        }
        config.mesh = Some(MeshMember {
            identity_key: p.identity_key.clone(),
            listen: p
                .address
                .rsplit_once("/p2p/")
                .map_or(p.address.clone(), |(a, _)| a.to_owned()),
            bootstrap: planned
                .iter()
                .filter(|o| o.peer_id != p.peer_id)
                .filter(|o| {
                    if is_unannounced(&chains[p.chain]) {
                        first.as_ref() == Some(&o.peer_id)
                    } else {
                        !is_unannounced(&chains[o.chain])
                    }
                })
                .map(|o| o.address.clone())
                .collect(),
            chains: chains
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != p.chain)
                .filter(|(_, c)| is_unannounced(&chains[p.chain]) || !is_unannounced(c))
                .map(|(j, c)| {
                    let serving = planned
                        .iter()
                        .filter(|o| o.chain == j)
                        .map(|o| o.peer_id.clone())
                        .collect();
                    Ok((c.id.clone(), c.anchor()?, serving))
                })
                .collect::<anyhow::Result<_>>()?,
            governance: options.governance.clone(),
            admitted: options.admitted.clone(),
            regulator: options.regulator.clone(),
            capture: options.capture.then(|| home.join("mesh-capture.bin")),
        });
        let mine = chain.clone();
        let text = config.toml(std::slice::from_ref(&mine))?.replace(
            &mine
                .home
                .join("keys/institutions/relayer.json")
                .to_string_lossy()
                .to_string(),
            &p.signer_key.to_string_lossy(),
        );
        let path = home.join("relayer.toml");
        std::fs::write(&path, text)?;
        let child = spawn_logged(exe, "start", &path, &home.join("relayer.log"))
            .context("cannot start a relayer process")?;
        processes.push(RelayerProcess {
            chain: chain.id.clone(),
            peer_id: p.peer_id.clone(),
            address: p.address.clone(),
            api: config.api,
            child,
        });
    }
    Ok(processes)
}

/// Waits until packet `sequence` from `asker` to `answerer` is closed on
/// `asker` (its commitment removed: acknowledged or timed out).
pub async fn wait_closed(
    asker: &DevChain,
    answerer: &ChainId,
    sequence: u64,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let adapter = asker.adapter()?;
    let key = state_keys::packet_commitment(answerer, sequence);
    let started = Instant::now();
    loop {
        if let Ok(state) = adapter.state(&key).await
            && state.value.is_none()
        {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            bail!(
                "packet {}→{answerer} #{sequence} not acknowledged within {limit:?}",
                asker.id
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The regulator's key file on the devnet: the `regulator` institution of
/// the first chain (the chain its checkpoints are anchored on).
pub fn regulator_key_file(anchor_chain: &DevChain) -> std::path::PathBuf {
    anchor_chain.home.join("keys/institutions/regulator.json")
}

/// The regulator's public key (hex) on the devnet, for
/// [`MeshOptions::regulator`].
pub fn regulator_public_key(anchor_chain: &DevChain) -> anyhow::Result<String> {
    let key = KeyFile::read(&regulator_key_file(anchor_chain))?.signing_key()?;
    Ok(hex::encode(key.verifying_key().to_bytes()))
}

/// Settings of the devnet's supervision node.
#[derive(Clone, Debug)]
pub struct SupervisorOptions {
    /// Where its API listens.
    pub api: std::net::SocketAddr,
    /// Its libp2p port.
    pub p2p_port: u16,
    /// Anchor every this many entries.
    pub anchor_every_entries: u64,
    /// Anchor at least this often.
    pub anchor_every: Duration,
    /// The network registry's governance keys (hex) and threshold, as the
    /// relayers' (`[network.governance]`): chains accepted at runtime are
    /// then followed too. `None`: only `chains` are followed.
    pub governance: Option<(Vec<String>, usize)>,
}

/// The devnet's `relayer supervise` process; killed (and reaped) when
/// dropped.
pub struct SupervisorProcess {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its API.
    pub api: std::net::SocketAddr,
    /// Its configuration file.
    pub config: std::path::PathBuf,
    /// Its store.
    pub store: std::path::PathBuf,
    /// The regulator's share of the joint aggregation keys (its file is
    /// `supervisor/aggregation-share.json`); set it on the chains with
    /// [`set_regulator_aggregation_share`].
    pub aggregation_share: homomorphic::PublicKey,
    /// The process.
    pub child: std::process::Child,
}

impl SupervisorProcess {
    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SupervisorProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `supervisor.toml` under `dir/supervisor` (the regulator's key of
/// the first chain, every chain of `chains` followed through its
/// `relayers`, every relayer dialled, checkpoints anchored on the first
/// chain) and starts `relayer supervise`.
/// The relayers must have been started with [`MeshOptions::regulator`].
pub fn start_supervisor(
    exe: &Path,
    dir: &Path,
    chains: &[DevChain],
    relayers: &[RelayerProcess],
    options: &SupervisorOptions,
) -> anyhow::Result<SupervisorProcess> {
    use std::fmt::Write;
    let anchor = chains.first().context("no chain to anchor on")?;
    let home = dir.join("supervisor");
    std::fs::create_dir_all(&home)?;
    let key_file = regulator_key_file(anchor);
    let key = KeyFile::read(&key_file)?.signing_key()?;
    let peer_id = network::peer_id_of(&PublicKey(key.verifying_key().to_bytes()))
        .context("regulator key without a peer id")?
        .to_string();
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let store = home.join("store");
    let mut text = String::new();
    let _ = writeln!(
        text,
        "[store]\npath = {}\n\n[api]\nlisten = {}\n\n[follow]\npoll_interval = \"300ms\"\n",
        quote(&store.to_string_lossy()),
        quote(&options.api.to_string())
    );
    let _ = writeln!(
        text,
        "[anchor]\nchain = {}\nrpc = [{}]\nevery_entries = {}\nevery = {}\n",
        quote(anchor.id.as_str()),
        quote(anchor.url()),
        options.anchor_every_entries,
        quote(&humantime::format_duration(options.anchor_every).to_string())
    );
    let bootstrap: Vec<String> = relayers.iter().map(|r| quote(&r.address)).collect();
    let _ = writeln!(
        text,
        "[network]\nidentity_key = {}\nlisten = [{}]\nbootstrap = [{}]\n",
        quote(&key_file.to_string_lossy()),
        quote(&format!("/ip4/127.0.0.1/tcp/{}", options.p2p_port)),
        bootstrap.join(", ")
    );
    if let Some((keys, threshold)) = &options.governance {
        let keys: Vec<String> = keys.iter().map(|k| quote(k)).collect();
        let _ = writeln!(
            text,
            "[network.governance]\nkeys = [{}]\nthreshold = {threshold}\n",
            keys.join(", ")
        );
    }
    for chain in chains {
        let serving: Vec<String> = relayers
            .iter()
            .filter(|r| r.chain == chain.id)
            .map(|r| quote(&r.peer_id))
            .collect();
        let _ = writeln!(
            text,
            "[[network.chains]]\nid = {}\nrelayers = [{}]\ntrust_anchor = {}\n",
            quote(chain.id.as_str()),
            serving.join(", "),
            crate::devnet::anchor_toml(&chain.anchor()?)
        );
    }
    // The regulator's share of the joint aggregation keys, generated once.
    let share_file = home.join("aggregation-share.json");
    let share = crate::supervisor::release::KeyShareFile::read_or_create(&share_file)?;
    let _ = writeln!(
        text,
        "[aggregation]\nkey_file = {}\nthreshold = {}\n",
        quote(&share_file.to_string_lossy()),
        crate::supervisor::release::DEFAULT_AGGREGATION_THRESHOLD
    );
    let config = home.join("supervisor.toml");
    std::fs::write(&config, text)?;
    let child = spawn_logged(exe, "supervise", &config, &home.join("supervisor.log"))
        .context("cannot start the supervision node")?;
    Ok(SupervisorProcess {
        peer_id,
        api: options.api,
        config,
        store,
        aggregation_share: *share.public(),
        child,
    })
}

/// Sets the regulator's aggregation key share (the supervision node's, in
/// `dir/supervisor/aggregation-share.json`) on every chain of `chains`, by
/// governance, each with its proof of knowledge for that chain.
pub async fn set_regulator_aggregation_share(
    dir: &Path,
    chains: &[DevChain],
) -> anyhow::Result<()> {
    let share = crate::supervisor::release::KeyShareFile::read(
        &dir.join("supervisor/aggregation-share.json"),
    )?;
    for chain in chains {
        let context = credit_chain::app::aggregation::key_share_context(
            &chain.id,
            credit_chain::app::aggregation::KeyShareOwner::Regulator,
        );
        let proof = share.prove_knowledge(&context, &mut rand::rngs::OsRng);
        crate::devnet::submit(
            chain.adapter()?.as_ref(),
            &chain.key("governance")?,
            protocol::tx::TxBody::SetRegulatorAggregationKey {
                key: share.public().to_bytes().to_vec(),
                proof: proof.to_bytes().to_vec(),
            },
        )
        .await
        .with_context(|| {
            format!(
                "cannot set the regulator's aggregation share on {}",
                chain.id
            )
        })?;
    }
    Ok(())
}

/// Starts `relayer SUBCOMMAND --config CONFIG` as a child process, its log
/// (stderr, `RUST_LOG` or info) written to `log`.
pub fn spawn_logged(
    exe: &Path,
    subcommand: &str,
    config: &Path,
    log: &Path,
) -> std::io::Result<std::process::Child> {
    let log = std::fs::File::create(log)?;
    std::process::Command::new(exe)
        .args([subcommand, "--config"])
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
}
