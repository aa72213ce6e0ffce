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
    /// The first relayer of the first chain serves the integrator API here,
    /// with this bearer token.
    pub api: Option<(std::net::SocketAddr, String)>,
    /// Governance keys (hex) and how many must approve a registration;
    /// none: no runtime registration.
    pub governance: Option<(Vec<String>, usize)>,
    /// Chains whose relayers start, but which the others' configurations do
    /// not name: they join when the registry accepts them at runtime.
    pub unannounced: Vec<ChainId>,
    /// Extra peer ids every relayer admits (`network.admitted`), e.g. a
    /// test's own node.
    pub admitted: Vec<String>,
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
    for p in &planned {
        let chain = &chains[p.chain];
        let home = dir
            .join("relayers")
            .join(format!("{}-{}", chain.id, p.index + 1));
        let mut config = RelayerConfig::new(home.join("store"));
        config.batch_size = 500;
        config.clear_interval = Duration::from_secs(2);
        if p.chain == 0
            && p.index == 0
            && let Some((addr, token)) = &options.api
        {
            config.api = Some(*addr);
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
                .filter(|o| is_unannounced(&chains[p.chain]) || !is_unannounced(&chains[o.chain]))
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
                    (c.id.clone(), serving)
                })
                .collect(),
            governance: options.governance.clone(),
            admitted: options.admitted.clone(),
        });
        let mine = DevChain {
            id: chain.id.clone(),
            home: chain.home.clone(),
            rpc: chain.rpc.clone(),
        };
        let text = config.toml(std::slice::from_ref(&mine)).replace(
            &mine
                .home
                .join("keys/institutions/relayer.json")
                .to_string_lossy()
                .to_string(),
            &p.signer_key.to_string_lossy(),
        );
        let path = home.join("relayer.toml");
        std::fs::write(&path, text)?;
        let log = std::fs::File::create(home.join("relayer.log"))?;
        let child = std::process::Command::new(exe)
            .args(["start", "--config"])
            .arg(&path)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start a relayer process")?;
        processes.push(RelayerProcess {
            chain: chain.id.clone(),
            peer_id: p.peer_id.clone(),
            address: p.address.clone(),
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
