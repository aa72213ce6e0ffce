//! `relayer devnet`: N regional credit chains on loopback, a relayer between
//! them, and a consent-backed cross-chain credit query end to end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use protocol::tx::Acknowledgement;
use protocol::{Canonical, PacketPayload, state_keys};
use relayer::devnet::{
    INTEGRATORS, REGIONS, Regions, create_clients, integrator_token, seed_query_scenario,
    send_query, start_regions,
};
use relayer::engine::{Engine, EngineOptions};
use relayer::metrics::Metrics;
use relayer::store::{PacketState, Store};
use sha2::Digest;

/// Arguments of `relayer devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Number of regional chains (2 to 34, one per provincial-level region).
    #[arg(long, default_value_t = 3)]
    pub chains: usize,
    /// Directory for the chains' homes and the relayer's store (recreated).
    #[arg(long, default_value = "devnet")]
    pub dir: PathBuf,
    /// Run the end-to-end query, print the answer and stop.
    #[arg(long)]
    pub once: bool,
    /// Time between blocks on every chain.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub block_time: Duration,
    /// RPC port of the first chain; the others follow by 10.
    #[arg(long, default_value_t = 26657)]
    pub base_port: u16,
    /// Run a relayer process per region (this many per region), connected
    /// only through the libp2p mesh, instead of one relayer for all chains.
    #[arg(long, default_value_t = 0)]
    pub relayers_per_chain: usize,
    /// Also run the regulator's supervision node (`relayer supervise`):
    /// the relayers run as a mesh (one per region unless
    /// --relayers-per-chain says more), the node follows every chain,
    /// keeps the audit log and anchors it on the first chain.
    #[arg(long)]
    pub supervise: bool,
}

/// Runs the devnet.
pub fn run(mut args: DevnetArgs) -> anyhow::Result<ExitCode> {
    if args.supervise && args.relayers_per_chain == 0 {
        // The supervision node follows chains through the mesh.
        args.relayers_per_chain = 1;
    }
    if args.relayers_per_chain > 4 {
        bail!(
            "--relayers-per-chain must be at most 4, got {}",
            args.relayers_per_chain
        );
    }
    if !(2..=REGIONS.len()).contains(&args.chains) {
        bail!(
            "--chains must be between 2 and {}, got {}",
            REGIONS.len(),
            args.chains
        );
    }
    tokio::runtime::Runtime::new()?.block_on(run_async(args))
}

async fn run_async(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    let dir = super::fresh_run_dir(&args.dir, "devnet")?;
    let exe = std::env::current_exe()?;
    // The relayer: one runtime per chain, paths between every pair.
    let store = Store::open(&dir.join("relayer-store"))?;
    let metrics = Metrics::new();
    let Regions {
        chains: regions,
        processes: _children,
        runtimes,
    } = start_regions(
        &exe,
        &dir,
        args.chains,
        args.block_time,
        |i| args.base_port + 10 * i as u16,
        &store,
        &metrics,
    )
    .await?;
    let _stop_providers = relayer::devnet::StopProvidersOnDrop(regions.clone());
    println!("devnet: {} chains in {}", regions.len(), dir.display());
    for r in &regions {
        println!("  {} at {}", r.id, r.url());
    }
    let mut paths = Vec::new();
    for i in 0..regions.len() {
        for j in i + 1..regions.len() {
            paths.push((regions[i].id.clone(), regions[j].id.clone()));
        }
    }
    // Every chain gets an on-chain light client of every other chain.
    create_clients(&runtimes).await?;
    println!("  on-chain light clients created on every chain");
    let engine = Arc::new(Engine::new(
        runtimes.clone(),
        &paths,
        store.clone(),
        EngineOptions {
            batch_size: 200,
            clear_interval: Duration::from_secs(2),
        },
    )?);

    // The scenario: bank-a of the first region asks the second region for
    // an enterprise's loans, under the enterprise's consent.
    let (asker, answerer) = (&regions[0], &regions[1]);
    let b_runtime = &runtimes[1];
    let a_runtime = &runtimes[0];
    let grant = seed_query_scenario(answerer, b_runtime.adapter().as_ref(), &asker.id).await?;
    let enterprise = &grant.enterprise;
    println!(
        "  {}: 2 loan records of {enterprise}, its consent for {}/bank-a",
        answerer.id, asker.id
    );

    // The API token (served by the in-process relayer, or in the mesh by
    // the first region's first relayer).
    let mut secret = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut secret)
        .context("cannot read /dev/urandom for the API token")?;
    let token = hex::encode(secret);
    let api_listen =
        std::net::SocketAddr::from(([127, 0, 0, 1], args.base_port.saturating_add(1000)));
    let mut relayers = Vec::new();
    if args.relayers_per_chain > 0 {
        let options = relayer::mesh::devnet::MeshOptions {
            api: (!args.once).then(|| (api_listen, token.clone())),
            governance: None,
            unannounced: Vec::new(),
            admitted: Vec::new(),
            regulator: if args.supervise {
                Some(relayer::mesh::devnet::regulator_public_key(&regions[0])?)
            } else {
                None
            },
            capture: false,
        };
        relayers = relayer::mesh::devnet::start_relayers(
            &exe,
            &dir,
            &regions,
            args.relayers_per_chain,
            args.base_port,
            &options,
        )
        .await?;
        println!(
            "  {} relayer processes in a libp2p mesh, each with RPC access to its own region only:",
            relayers.len()
        );
        for r in &relayers {
            println!("    {} served by {}", r.chain, r.address);
        }
    }
    let supervisor = if args.supervise {
        let api = std::net::SocketAddr::from(([127, 0, 0, 1], args.base_port.saturating_add(1100)));
        let node = relayer::mesh::devnet::start_supervisor(
            &exe,
            &dir,
            &regions,
            &relayers,
            &relayer::mesh::devnet::SupervisorOptions {
                api,
                p2p_port: args.base_port.saturating_add(2900),
                anchor_every_entries: 10,
                anchor_every: Duration::from_secs(30),
                governance: None,
            },
        )?;
        relayer::mesh::devnet::set_regulator_aggregation_share(&dir, &regions).await?;
        println!(
            "  regulator's aggregation key share {} set on every chain (joint totals: POST http://{api}/aggregations/{{chain}}/{{id}}/decryption-share)",
            node.aggregation_share
        );
        println!(
            "  supervision node {} (the regulator of {}): API at http://{api} (requests signed with {}), audit log anchored on {}; log in {}/supervisor",
            node.peer_id,
            regions[0].id,
            relayer::mesh::devnet::regulator_key_file(&regions[0]).display(),
            regions[0].id,
            dir.display()
        );
        Some(node)
    } else {
        None
    };

    let (sent, sequence) =
        send_query(asker, a_runtime.adapter().as_ref(), &answerer.id, &grant).await?;
    println!(
        "query sent: {} → {} packet #{sequence} (height {})",
        asker.id,
        answerer.id,
        sent.height.map_or(0, |h| h.value())
    );

    // The packet as committed (the sealed answers are bound to it), read
    // before its acknowledgement removes it from the asking chain.
    let packet_key = state_keys::packet(&answerer.id, sequence);
    let sent_packet = a_runtime.verified_states(&[packet_key]).await?;
    let Some((_, Some(packet_bytes), _)) = sent_packet.entries.first() else {
        bail!("the query packet is missing from {}", asker.id);
    };
    let packet = protocol::Packet::from_canonical_bytes(packet_bytes)?;

    // Relay until the acknowledgement is proven back on the asking chain.
    let started = Instant::now();
    if relayers.is_empty() {
        loop {
            let report = engine.step().await;
            for e in &report.errors {
                eprintln!("  relay: {e}");
            }
            if let Some(record) = store.packet(&asker.id, &answerer.id, sequence)?
                && record.state == PacketState::Acknowledged
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the query was not answered within 60 s");
            }
            tokio::time::sleep(args.block_time).await;
        }
    } else {
        relayer::mesh::devnet::wait_closed(asker, &answerer.id, sequence, Duration::from_secs(90))
            .await?;
    }
    let took = started.elapsed();

    // The answer, read back from the answering chain with a verified proof,
    // and the query packet from the asking chain: bank-a opens the sealed
    // answers with its own key and checks every record against its
    // commitment.
    let ack_key = state_keys::packet_ack_data(&asker.id, sequence);
    let verified = b_runtime.verified_states(&[ack_key]).await?;
    let header = verified.light_block.header();
    let Some((_, Some(bytes), _)) = verified.entries.first() else {
        bail!("the acknowledgement is missing from {}", answerer.id);
    };
    match Acknowledgement::from_canonical_bytes(bytes)? {
        Acknowledgement::Result(PacketPayload::CreditResponse(response)) => {
            println!(
                "verified answer from {} ({:?}), relayed in {:.1} s; opened by bank-a with {}:",
                answerer.id,
                response.outcome,
                took.as_secs_f64(),
                asker.encryption_key_file("bank-a").display()
            );
            let key = asker.encryption_key("bank-a")?;
            let opened = relayer::answers::open_response(&key, &packet, &response)?;
            for answer in &opened {
                for r in &answer.records {
                    println!("  {}", relayer::devnet::show_record(r));
                }
            }
            for p in &response.missing {
                println!("  provider {p} did not answer before the deadline");
            }
            println!(
                "  proven against {} header height {} hash {}",
                answerer.id,
                header.height,
                header.hash()
            );
            println!(
                "  fee charged: {}.{:02} {} (paid on {} from bank-a's escrow)",
                response.fee_charged.minor_units / 100,
                response.fee_charged.minor_units % 100,
                response.fee_charged.currency,
                asker.id
            );
            for c in &response.charges {
                println!(
                    "    {}/{}: {}.{:02} {}",
                    answerer.id,
                    c.provider,
                    c.fee.minor_units / 100,
                    c.fee.minor_units % 100,
                    c.fee.currency
                );
            }
        }
        other => bail!("unexpected acknowledgement: {other:?}"),
    }
    if args.once {
        drop(supervisor);
        return Ok(ExitCode::SUCCESS);
    }
    if !relayers.is_empty() {
        println!(
            "devnet running: {} relayers in the mesh (logs and configs in {}/relayers)",
            relayers.len(),
            dir.display()
        );
        println!(
            "integrator API of {}'s relayer at http://{api_listen} (see GET /openapi.json); its tokens:",
            asker.id
        );
        print_tokens(&token, std::slice::from_ref(&asker.id));
        println!("Ctrl-C to stop.");
        if let Some(node) = &supervisor {
            println!(
                "regulator's supervision API at http://{}/audit/entries (signed requests only; see README), /health, /metrics",
                node.api
            );
        }
        let _ = tokio::signal::ctrl_c().await;
        return Ok(ExitCode::SUCCESS);
    }
    // The integrator API, with fresh tokens for this devnet only: the
    // operator's, and each region's integrators'.
    let ids: Vec<protocol::ChainId> = regions.iter().map(|r| r.id.clone()).collect();
    let mut tokens = vec![relayer::config::ApiToken {
        name: "devnet".into(),
        sha256: sha2::Sha256::digest(token.as_bytes()).into(),
        role: relayer::config::TokenRole::Operator,
    }];
    for chain in &ids {
        for institution in INTEGRATORS {
            let secret = integrator_token(&token, institution, chain);
            tokens.push(relayer::config::ApiToken {
                name: format!("{institution}@{chain}"),
                sha256: sha2::Sha256::digest(secret.as_bytes()).into(),
                role: relayer::config::TokenRole::Integrator {
                    institution: institution.parse()?,
                    chain: chain.clone(),
                },
            });
        }
    }
    let api = relayer::config::ApiConfig {
        enabled: true,
        listen: api_listen,
        tokens,
    };
    let listener = tokio::net::TcpListener::bind(api.listen)
        .await
        .with_context(|| format!("cannot listen on {} for the API", api.listen))?;
    println!(
        "devnet running; chain RPCs above, relayer store in {}/relayer-store",
        dir.display()
    );
    println!(
        "integrator API at http://{} (see GET /openapi.json); its tokens:",
        api.listen
    );
    print_tokens(&token, &ids);
    println!("Ctrl-C to stop.");
    let state = relayer::api::ApiState::new(engine.clone(), metrics.clone(), &api);
    tokio::select! {
        _ = engine.run() => {}
        r = relayer::api::serve(listener, state) => r.context("API server")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the API's tokens, one a line: `token INSTITUTION@CHAIN TOKEN` for
/// each integrator of `chains`, then `token operator TOKEN`.
fn print_tokens(operator: &str, chains: &[protocol::ChainId]) {
    for chain in chains {
        for institution in INTEGRATORS {
            println!(
                "token {institution}@{chain} {}",
                integrator_token(operator, institution, chain)
            );
        }
    }
    println!("token operator {operator}");
}
