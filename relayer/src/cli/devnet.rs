//! `relayer devnet`: N regional credit chains on loopback, a relayer between
//! them, and a consent-backed cross-chain credit query end to end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
use anyhow::{Context, bail};
use clap::Args;
use credit_chain::app::auth::{sign_consent, sign_transaction};
use credit_chain::genesis::{InitOptions, SAMPLE_ENTERPRISES, init};
use credit_chain::keys::KeyFile;
use ed25519_dalek::SigningKey;
use light_clients::credit_chain::Options;
use protocol::tx::{Account, Acknowledgement, ConsentGrant, LightClientParams, TxBody};
use protocol::{
    Canonical, ChainId, CreditQuery, CreditRecord, Currency, EnterpriseId, Height, Money,
    PacketPayload, RecordKind, RecordStatus, state_keys,
};
use relayer::engine::{ChainRuntime, Engine, EngineOptions, wall_clock};
use relayer::metrics::Metrics;
use relayer::store::{PacketState, Store};

/// File that marks a directory as the devnet's own.
const MARKER: &str = ".relayer-devnet";

/// Chain ids of the devnet's regions, in order.
const REGIONS: &[&str] = &[
    "shaanxi",
    "guangdong",
    "beijing",
    "shanghai",
    "sichuan",
    "zhejiang",
    "hubei",
    "henan",
];

/// Arguments of `relayer devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Number of regional chains (2 to 8).
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
}

/// The chain processes; killed when dropped.
struct Chains(Vec<Child>);

impl Drop for Chains {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn key(home: &Path, name: &str) -> anyhow::Result<SigningKey> {
    KeyFile::read(&home.join("keys").join(format!("{name}.json")))?.signing_key()
}

/// Runs the devnet.
pub fn run(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    if !(2..=REGIONS.len()).contains(&args.chains) {
        bail!(
            "--chains must be between 2 and {}, got {}",
            REGIONS.len(),
            args.chains
        );
    }
    tokio::runtime::Runtime::new()?.block_on(run_async(args))
}

struct Region {
    id: ChainId,
    home: PathBuf,
    url: String,
}

async fn run_async(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    // Only a directory this command made is ever cleared.
    let marker = args.dir.join(MARKER);
    if args.dir.exists() {
        let empty = std::fs::read_dir(&args.dir)?.next().is_none();
        if !empty && !marker.exists() {
            bail!(
                "{} exists and was not made by `relayer devnet`; pass another --dir",
                args.dir.display()
            );
        }
        std::fs::remove_dir_all(&args.dir)
            .with_context(|| format!("cannot clear {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(&args.dir)?;
    std::fs::write(
        &marker,
        "made by `relayer devnet`; cleared at its next run\n",
    )?;
    let dir = args.dir.canonicalize()?;
    let exe = std::env::current_exe()?;
    let mut regions = Vec::new();
    let mut children = Chains(Vec::new());
    for (i, name) in REGIONS.iter().take(args.chains).enumerate() {
        let id: ChainId = name.parse()?;
        let home = dir.join(name);
        init(
            &home,
            &InitOptions {
                chain_id: id.clone(),
                validators: 4,
                block_time: args.block_time,
                genesis_time: wall_clock(),
            },
        )?;
        let port = args.base_port + 10 * i as u16;
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        children.0.push(
            Process::new(&exe)
                .args(["credit-chain", "start", "--home"])
                .arg(&home)
                .args(["--rpc", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("cannot start a chain process")?,
        );
        regions.push(Region {
            id,
            home,
            url: format!("http://127.0.0.1:{port}"),
        });
    }
    println!("devnet: {} chains in {}", regions.len(), dir.display());

    // The relayer: one runtime per chain, paths between every pair.
    let store = Store::open(&dir.join("relayer-store"))?;
    let metrics = Metrics::new();
    let rpc = RpcOptions {
        silence_timeout: Duration::from_secs(5),
        ..RpcOptions::default()
    };
    let mut runtimes = Vec::new();
    for r in &regions {
        let adapter: Arc<dyn ChainAdapter> = Arc::new(CreditChainAdapter::new(
            r.id.clone(),
            vec![r.url.clone()],
            rpc.clone(),
        )?);
        wait_for_chain(adapter.as_ref()).await?;
        println!("  {} at {}", r.id, r.url);
        runtimes.push(Arc::new(ChainRuntime::new(
            r.id.clone(),
            adapter,
            key(&r.home, "institutions/relayer")?,
            Options::default(),
            store.clone(),
            metrics.clone(),
        )));
    }
    let mut paths = Vec::new();
    for i in 0..regions.len() {
        for j in i + 1..regions.len() {
            paths.push((regions[i].id.clone(), regions[j].id.clone()));
        }
    }
    // Every chain gets an on-chain light client of every other chain.
    for (i, runtime) in runtimes.iter().enumerate() {
        let mut bodies = Vec::new();
        for (j, other) in runtimes.iter().enumerate() {
            if i != j {
                let anchor = other.verified_block(Height::GENESIS).await?;
                bodies.push(TxBody::CreateClient {
                    anchor,
                    params: LightClientParams::default(),
                });
            }
        }
        for outcome in runtime.submit(bodies).await? {
            let o = outcome.map_err(anyhow::Error::msg)?;
            if !o.is_ok() {
                bail!(
                    "creating light clients on {}: code {}: {}",
                    runtime.id(),
                    o.code,
                    o.message
                );
            }
        }
    }
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
    let enterprise: EnterpriseId = SAMPLE_ENTERPRISES[0].parse()?;
    let submit = |r: &Region, runtime: &Arc<ChainRuntime>, signer: SigningKey, body: TxBody| {
        let chain = r.id.clone();
        let adapter = runtime.adapter().clone();
        async move {
            let sender = credit_chain::app::auth::public_key(&signer);
            let nonce = next_nonce(adapter.as_ref(), &sender).await?;
            let outcome = adapter
                .submit(&sign_transaction(&signer, chain.clone(), nonce, body))
                .await?;
            if !outcome.is_ok() {
                bail!(
                    "on {chain}: code {} ({}): {}",
                    outcome.code,
                    outcome.codespace,
                    outcome.message
                );
            }
            anyhow::Ok(outcome)
        }
    };
    let b_runtime = &runtimes[1];
    let a_runtime = &runtimes[0];
    for (provider, amount) in [("provider-a", 300_000_000_u64), ("provider-b", 120_000_000)] {
        submit(
            answerer,
            b_runtime,
            key(&answerer.home, &format!("institutions/{provider}"))?,
            TxBody::WriteRecord {
                record: CreditRecord {
                    enterprise: enterprise.clone(),
                    kind: RecordKind::Loan,
                    amount: Money {
                        minor_units: amount,
                        currency: Currency::CNY,
                    },
                    start: "2026-02-01T00:00:00Z".parse()?,
                    end: Some("2027-02-01T00:00:00Z".parse()?),
                    status: RecordStatus::Active,
                    provider: provider.parse()?,
                    document_digest: None,
                },
            },
        )
        .await?;
    }
    let grant = ConsentGrant {
        enterprise: enterprise.clone(),
        grantee_chain: asker.id.clone(),
        grantee: "bank-a".parse()?,
        scope: vec![RecordKind::Loan],
        purpose: "working capital loan".into(),
        expires_at: wall_clock()
            .checked_add(Duration::from_secs(365 * 24 * 3600))
            .context("time overflow")?,
        nonce: 1,
    };
    let enterprise_key = key(&answerer.home, &format!("enterprises/{enterprise}"))?;
    submit(
        answerer,
        b_runtime,
        enterprise_key.clone(),
        TxBody::GrantConsent {
            signature: sign_consent(&enterprise_key, &grant),
            grant: grant.clone(),
        },
    )
    .await?;
    submit(
        answerer,
        b_runtime,
        key(&answerer.home, "governance")?,
        TxBody::Mint {
            to: Account::Remote {
                chain: asker.id.clone(),
                institution: "bank-a".parse()?,
            },
            amount: Money {
                minor_units: 100_000,
                currency: Currency::CNY,
            },
        },
    )
    .await?;
    println!(
        "  {}: 2 loan records of {enterprise}, its consent for {}/bank-a, bank-a's prepaid account",
        answerer.id, asker.id
    );

    let sent = submit(
        asker,
        a_runtime,
        key(&asker.home, "institutions/bank-a")?,
        TxBody::SendCreditQuery {
            destination: answerer.id.clone(),
            query: CreditQuery {
                requester: "bank-a".parse()?,
                enterprise: enterprise.clone(),
                kinds: vec![RecordKind::Loan],
                purpose: grant.purpose.clone(),
                consent_id: grant.id(),
                max_fee: Money {
                    minor_units: 10_000,
                    currency: Currency::CNY,
                },
            },
            timeout_height: None,
            timeout_time: wall_clock().checked_add(Duration::from_secs(600)),
        },
    )
    .await?;
    let sequence: u64 = sent
        .events
        .iter()
        .find(|e| e.kind == "send_packet")
        .and_then(|e| e.get("sequence"))
        .and_then(|s| s.parse().ok())
        .context("send_packet event without a sequence")?;
    println!(
        "query sent: {} → {} packet #{sequence} (height {})",
        asker.id,
        answerer.id,
        sent.height.map_or(0, |h| h.value())
    );

    // Relay until the acknowledgement is proven back on the asking chain.
    let started = Instant::now();
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
    let took = started.elapsed();

    // The answer, read back from the answering chain with a verified proof.
    let ack_key = state_keys::packet_ack_data(&asker.id, sequence);
    let verified = b_runtime.verified_states(&[ack_key]).await?;
    let header = verified.light_block.header();
    let Some((_, Some(bytes), _)) = verified.entries.first() else {
        bail!("the acknowledgement is missing from {}", answerer.id);
    };
    match Acknowledgement::from_canonical_bytes(bytes)? {
        Acknowledgement::Result(PacketPayload::CreditResponse(response)) => {
            println!(
                "verified answer from {} ({:?}), relayed in {:.1} s:",
                answerer.id,
                response.outcome,
                took.as_secs_f64()
            );
            for r in &response.records {
                println!(
                    "  {} {:?} {}.{:02} {} {:?} from {} since {}",
                    r.enterprise,
                    r.kind,
                    r.amount.minor_units / 100,
                    r.amount.minor_units % 100,
                    r.amount.currency,
                    r.status,
                    r.provider,
                    r.start
                );
            }
            println!(
                "  proven against {} header height {} hash {}",
                answerer.id,
                header.height,
                header.hash()
            );
            println!(
                "  fee charged: {}.{:02} {}",
                response.fee_charged.minor_units / 100,
                response.fee_charged.minor_units % 100,
                response.fee_charged.currency
            );
        }
        other => bail!("unexpected acknowledgement: {other:?}"),
    }
    if args.once {
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "devnet running; chain RPCs above, relayer store in {}/relayer-store. Ctrl-C to stop.",
        dir.display()
    );
    tokio::select! {
        _ = engine.run() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_chain(adapter: &dyn ChainAdapter) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if adapter.status().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("chain {} did not start within 30 s", adapter.chain_id());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn next_nonce(adapter: &dyn ChainAdapter, key: &protocol::PublicKey) -> anyhow::Result<u64> {
    let proven = adapter.state(&state_keys::nonce(key)).await?;
    Ok(match proven.value {
        Some(bytes) => borsh::from_slice::<u64>(&bytes)? + 1,
        None => 1,
    })
}
