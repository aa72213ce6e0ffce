//! `relayer start --config FILE`: the daemon.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use anyhow::Context;
use clap::Args;
use relayer::api::ApiState;
use std::collections::BTreeSet;

use network::{Network, NetworkConfig, PeerId};
use relayer::clock::{SharedClock, SystemClock};
use relayer::config::{Config, NetworkSettings};
use relayer::engine::{ChainRuntime, Engine, EngineOptions, PacketFilterFn};
use relayer::mesh::{MeshChainAdapter, MeshService, RegistrySync};
use relayer::metrics::Metrics;
use relayer::registry::RegistryGenesis;
use relayer::registry::service::RegistryService;
use relayer::store::Store;
use std::time::Duration;
use tokio_stream::StreamExt;

/// Arguments of `relayer start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The configuration file (see config/relayer.toml).
    #[arg(long)]
    pub config: PathBuf,
}

/// Loads the configuration (all or nothing), then runs the relay engine,
/// the integrator API and the telemetry endpoint until interrupted.
pub fn run(args: StartArgs) -> anyhow::Result<ExitCode> {
    let config = match super::load_or_refuse(&args.config, Config::load, |c| &c.warnings) {
        Ok(config) => config,
        Err(status) => return Ok(status),
    };
    tokio::runtime::Runtime::new()?.block_on(serve(config))?;
    Ok(ExitCode::SUCCESS)
}

/// Builds the engine a configuration describes.
pub fn build_engine(
    config: &Config,
    metrics: &Metrics,
    clock: &SharedClock,
) -> anyhow::Result<Arc<Engine>> {
    let store = Store::open(&config.store.path)
        .with_context(|| format!("cannot open the store at {}", config.store.path.display()))?;
    let mut runtimes = Vec::new();
    for chain in &config.chains {
        let options = RpcOptions {
            timeout: chain.rpc_timeout,
            poll_interval: config.relay.poll_interval,
            ..RpcOptions::default()
        };
        let endpoints = chain
            .rpc
            .iter()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .collect();
        let adapter: Arc<dyn ChainAdapter> = Arc::new(CreditChainAdapter::new(
            chain.id.clone(),
            endpoints,
            options,
        )?);
        runtimes.push(Arc::new(ChainRuntime::new(
            chain.id.clone(),
            adapter,
            chain.signer.clone(),
            chain.trust(clock),
            store.clone(),
            metrics.clone(),
        )));
    }
    let paths: Vec<_> = config
        .paths
        .iter()
        .map(|p| (p.a.clone(), p.b.clone()))
        .collect();
    let policy = Arc::new(config.clone());
    let filter: PacketFilterFn = Arc::new(move |packet| policy.allows_packet(packet));
    let engine = Engine::with_filter(
        runtimes,
        &paths,
        store,
        EngineOptions {
            batch_size: config.relay.batch_size,
            clear_interval: config.relay.clear_interval,
        },
        Some(filter),
    )?;
    Ok(Arc::new(engine))
}

/// The peers banned in an earlier run, still banned (lifted only by
/// `relayer network unban`).
pub fn kept_bans(store: &Store) -> anyhow::Result<Vec<PeerId>> {
    let mut banned = Vec::new();
    for ban in store
        .bans()
        .context("cannot read the bans kept in the store")?
    {
        match ban.peer_id.parse() {
            Ok(peer) => banned.push(peer),
            Err(e) => {
                tracing::warn!(peer = %ban.peer_id, error = %e, "a kept ban names no peer id; ignored")
            }
        }
    }
    if !banned.is_empty() {
        tracing::info!(
            count = banned.len(),
            "peers banned in an earlier run stay banned"
        );
    }
    Ok(banned)
}

/// The engine of a relayer in the mesh: its own chains over RPC, the
/// others through the relayers serving them; and the mesh service that
/// answers peers and gossips light blocks.
pub async fn build_mesh_engine(
    config: &Config,
    settings: &NetworkSettings,
    metrics: &Metrics,
    clock: &SharedClock,
) -> anyhow::Result<MeshParts> {
    let local = build_engine(config, metrics, clock)?;
    let mut net = NetworkConfig::new(settings.identity.clone());
    net.listen = settings.listen.clone();
    net.bootstrap = settings.bootstrap.clone();
    net.discovery_interval = settings.discovery_interval;
    net.capture = settings.capture.clone();
    let mut allowed: BTreeSet<PeerId> = settings.admitted.iter().copied().collect();
    allowed.extend(settings.bootstrap.iter().map(|(p, _)| *p));
    for chain in &settings.chains {
        allowed.extend(chain.relayers.iter().copied());
    }
    // The regulator's supervision node: admitted, read-only.
    let regulator = match &settings.regulator {
        Some(key) => Some(
            network::peer_id_of(key)
                .context("the regulator's key (network.regulator) has no peer id")?,
        ),
        None => None,
    };
    allowed.extend(regulator);
    net.allowed = allowed.into_iter().collect();
    net.banned = kept_bans(local.store())?;
    let (network, events) = Network::start(net)
        .await
        .context("cannot start the mesh network")?;
    tracing::info!(peer_id = %network.local_peer_id(), "mesh network started");
    for chain in &settings.chains {
        if local.chain(&chain.id).is_some() {
            continue;
        }
        let adapter = Arc::new(
            MeshChainAdapter::new(
                chain.id.clone(),
                network.clone(),
                chain.relayers.clone(),
                config.relay.poll_interval,
            )
            .with_metrics(metrics.clone()),
        );
        local.add_chain(Arc::new(ChainRuntime::remote(
            chain.id.clone(),
            adapter,
            settings.identity.clone(),
            chain.trust(clock),
            local.store().clone(),
            metrics.clone(),
        )));
    }
    let service = MeshService::new(
        network.clone(),
        local.chains(),
        metrics.clone(),
        local.store().clone(),
    );
    service.set_read_only(regulator.into_iter().collect());
    tokio::spawn(service.clone().run(events));
    service.announce().await;
    tokio::spawn(
        service
            .clone()
            .keep_dialling(settings.bootstrap.clone(), Duration::from_secs(3)),
    );
    // The network registry, when governance keys are configured: chains
    // registered at runtime are tracked without a restart.
    let registry = if settings.governance.keys.is_empty() {
        tracing::info!("no [network.governance]: chains cannot be registered at runtime");
        None
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
        let registry = RegistryService::open_with(local.store().clone(), &genesis, options)
            .context("cannot open the network registry")?;
        service.set_registry(registry.clone());
        tokio::spawn(
            RegistrySync {
                registry: registry.clone(),
                engine: local.clone(),
                service: service.clone(),
                network: network.clone(),
                identity: settings.identity.clone(),
                poll_interval: config.relay.poll_interval,
                metrics: metrics.clone(),
                clock: clock.clone(),
            }
            .run(),
        );
        Some(registry)
    };
    for chain in local.chains().into_iter().filter(|c| c.is_local()) {
        let service = service.clone();
        tokio::spawn(async move {
            let mut blocks = chain.adapter().block_stream();
            while let Some(height) = blocks.next().await {
                if let Ok(block) = chain.adapter().light_block(height).await {
                    service.publish_block(&block).await;
                }
            }
        });
    }
    Ok(MeshParts {
        engine: local,
        registry,
        network,
    })
}

/// What [`build_mesh_engine`] starts.
pub struct MeshParts {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The network registry, when governance is configured.
    pub registry: Option<Arc<RegistryService>>,
    /// The mesh network node (for the API's `/network` routes).
    pub network: network::NetworkHandle,
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    // The one clock every verification of this process reads.
    let clock = SystemClock::shared();
    let (engine, registry, network) = match &config.network {
        Some(settings) => {
            let parts = build_mesh_engine(&config, settings, &metrics, &clock).await?;
            (parts.engine, parts.registry, Some(parts.network))
        }
        None => (build_engine(&config, &metrics, &clock)?, None, None),
    };
    tracing::info!(
        chains = config.chains.len(),
        paths = config.paths.len(),
        store = %config.store.path.display(),
        "relayer starting"
    );
    let telemetry = async {
        if !config.telemetry.enabled {
            return std::future::pending::<anyhow::Result<()>>().await;
        }
        let listener = tokio::net::TcpListener::bind(config.telemetry.listen)
            .await
            .with_context(|| {
                format!("cannot listen on {} for telemetry", config.telemetry.listen)
            })?;
        let metrics = metrics.clone();
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        );
        axum::serve(listener, router)
            .await
            .context("telemetry server")
    };
    let api = async {
        if !config.api.enabled {
            return std::future::pending::<anyhow::Result<()>>().await;
        }
        let listener = tokio::net::TcpListener::bind(config.api.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the API", config.api.listen))?;
        tracing::info!(api = %config.api.listen, "integrator API listening");
        let mut state = ApiState::new(engine.clone(), metrics.clone(), &config.api);
        if let Some(registry) = registry.clone() {
            state = state.with_registry(registry);
        }
        if let Some(network) = network.clone() {
            state = state.with_network(network);
        }
        relayer::api::serve(listener, state)
            .await
            .context("API server")
    };
    tokio::select! {
        () = engine.clone().run() => Ok(()),
        r = telemetry => r,
        r = api => r,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted; the store holds what is pending");
            Ok(())
        }
    }
}
