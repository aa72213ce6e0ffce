//! `relayer supervise --config FILE`: the regulator's read-only supervision
//! node (see [`relayer::supervisor`]): follows every chain through the
//! mesh (those configured, and, with `[network.governance]`, those the
//! network registry accepts at runtime), keeps the audit log, anchors its
//! checkpoints, serves the regulator's API and, with `[aggregation]`, the
//! release of its decryption shares of closed aggregations' totals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use anyhow::Context;
use clap::Args;
use network::{Network, NetworkConfig, Topic};
use relayer::audit::AuditService;
use relayer::clock::SystemClock;
use relayer::config::SupervisorConfig;
use relayer::engine::ChainRuntime;
use relayer::mesh::{MeshChainAdapter, MeshService, SupervisorSync};
use relayer::metrics::Metrics;
use relayer::registry::RegistryGenesis;
use relayer::registry::service::RegistryService;
use relayer::registry::signing;
use relayer::store::Store;
use relayer::supervisor::release::{KeyShareFile, ReleasePolicy};
use relayer::supervisor::{Anchorer, Supervisor, SupervisorState};

/// Arguments of `relayer supervise`.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The configuration file (see config/supervisor.toml).
    #[arg(long)]
    pub config: PathBuf,
}

/// Loads the configuration (all or nothing), then runs the node until
/// interrupted.
pub fn run(args: SuperviseArgs) -> anyhow::Result<ExitCode> {
    let config = match super::load_or_refuse(&args.config, SupervisorConfig::load, |c| &c.warnings)
    {
        Ok(config) => config,
        Err(status) => return Ok(status),
    };
    tokio::runtime::Runtime::new()?.block_on(serve(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: SupervisorConfig) -> anyhow::Result<()> {
    let settings = &config.network;
    let key = settings.identity.clone();
    let regulator = signing::public_key(&key);
    let store = Store::open(&config.store)
        .with_context(|| format!("cannot open the store at {}", config.store.display()))?;
    let audit = Arc::new(
        AuditService::open(store.clone(), regulator)
            .context("the audit log in the store does not verify; refusing to append to it")?,
    );
    let metrics = Metrics::new();
    // The one clock every verification of this process reads.
    let clock = SystemClock::shared();

    let mut net = NetworkConfig::new(key.clone());
    net.listen = settings.listen.clone();
    net.bootstrap = settings.bootstrap.clone();
    let mut allowed: Vec<network::PeerId> = settings.bootstrap.iter().map(|(p, _)| *p).collect();
    for chain in &settings.chains {
        allowed.extend(chain.relayers.iter().copied());
    }
    allowed.extend(settings.admitted.iter().copied());
    allowed.sort();
    allowed.dedup();
    let allowed_at_start = allowed.clone();
    net.allowed = allowed;
    net.banned = super::start::kept_bans(&store)?;
    let (network, events) = Network::start(net)
        .await
        .context("cannot start the mesh network")?;
    tracing::info!(peer_id = %network.local_peer_id(), %regulator, "supervision node in the mesh");
    // Serves nothing: every request about a chain is refused (it serves
    // none), gossip is ignored; the service only keeps the connections.
    let service = MeshService::new(network.clone(), Vec::new(), metrics.clone(), store.clone());
    tokio::spawn(service.clone().run(events));
    tokio::spawn(service.clone().keep_dialling(
        settings.bootstrap.clone(),
        std::time::Duration::from_secs(3),
    ));

    let mut chains = Vec::new();
    for chain in &settings.chains {
        let adapter = Arc::new(
            MeshChainAdapter::new(
                chain.id.clone(),
                network.clone(),
                chain.relayers.clone(),
                config.poll_interval,
            )
            .with_metrics(metrics.clone()),
        );
        chains.push(Arc::new(ChainRuntime::remote(
            chain.id.clone(),
            adapter,
            key.clone(),
            chain.trust(&clock),
            store.clone(),
            metrics.clone(),
        )));
    }
    let supervisor = Supervisor::new(audit, store.clone(), chains)?;
    match &config.aggregation {
        Some(aggregation) => {
            let share = KeyShareFile::read(&aggregation.key_file)?;
            tracing::info!(share = %share.public(), threshold = aggregation.threshold,
                "releasing decryption shares of closed aggregations' totals");
            supervisor.set_release_policy(ReleasePolicy {
                share,
                threshold: aggregation.threshold,
            });
        }
        None => tracing::info!("no [aggregation]: no decryption share is ever released"),
    }
    tokio::spawn(supervisor.clone().run(config.poll_interval));

    // The network registry, when governance keys are configured: chains
    // accepted at runtime are followed without a restart, frozen or
    // removed ones no longer are (their entries stay).
    if settings.governance.keys.is_empty() {
        tracing::info!("no [network.governance]: only the configured chains are followed");
    } else {
        let genesis = RegistryGenesis {
            governors: settings.governance.keys.clone(),
            threshold: settings.governance.threshold as u32,
            chains: Vec::new(),
            admitted_peers: Vec::new(),
        };
        let options = relayer::registry::service::RegistryOptions {
            pending_expiry: settings.governance.proposal_expiry,
            ..Default::default()
        };
        let registry = RegistryService::open_with(store.clone(), &genesis, options)
            .context("cannot open the network registry")?;
        service.set_registry(registry.clone());
        for topic in [Topic::Registrations, Topic::Governance] {
            if let Err(e) = network.subscribe(&topic).await {
                tracing::warn!(%topic, error = %e, "cannot subscribe");
            }
        }
        tokio::spawn(
            SupervisorSync {
                registry,
                supervisor: supervisor.clone(),
                store: store.clone(),
                network: network.clone(),
                identity: key.clone(),
                poll_interval: config.poll_interval,
                configured_peers: allowed_at_start.clone(),
                configured_chains: settings.chains.iter().map(|c| c.id.clone()).collect(),
                metrics: metrics.clone(),
                clock: clock.clone(),
            }
            .run(),
        );
    }

    if let Some(anchor) = &config.anchor {
        let endpoints = anchor
            .rpc
            .iter()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .collect();
        let chain: Arc<dyn ChainAdapter> = Arc::new(CreditChainAdapter::new(
            anchor.chain.clone(),
            endpoints,
            RpcOptions::default(),
        )?);
        tokio::spawn(
            Anchorer {
                supervisor: supervisor.clone(),
                chain,
                key: key.clone(),
                every_entries: anchor.every_entries,
                every: anchor.every,
            }
            .run(),
        );
    } else {
        tracing::warn!("no [anchor]: checkpoints are not anchored on any chain");
    }

    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("cannot listen on {} for the API", config.api_listen))?;
    tracing::info!(api = %config.api_listen, "regulator API listening");
    let app = relayer::supervisor::router(SupervisorState { supervisor });
    tokio::select! {
        r = axum::serve(listener, app) => r.context("API server"),
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted; the store holds the log and the progress");
            Ok(())
        }
    }
}
