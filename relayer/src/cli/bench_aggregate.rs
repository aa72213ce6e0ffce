//! `relayer bench-aggregate`: joint credit totals under homomorphic
//! encryption across N regional chains, end to end, as the requesting
//! institution sees it.
//!
//! Setup (not timed): N chain processes (the devnet's first N regions), a
//! star of on-chain light clients (the asker, chain 0, has one of every
//! other chain; each of them one of the asker), on every other chain the
//! seed scenario (two providers' loans of the enterprise and its consent
//! for the asker's bank-a), one in-process relayer over the N − 1 paths,
//! and the requester's discrete-log table.
//!
//! Load: `--aggregations` aggregations in waves of `--concurrency`. A wave
//! commits its requests to every other chain in one batch on the asker;
//! on each destination, its two data providers' agents (in this process,
//! holding the records) see the requests, encrypt their sums under each
//! request's key, prove them well formed and contribute; the relayer
//! brings each partial sum back; the bench reads an aggregation's N − 1
//! partials (proven) off the asker as soon as all are there, adds them,
//! decrypts the total and checks it equals the plaintext sum.
//!
//! Latency of one aggregation: from submitting its requests to its
//! decrypted total. Throughput: aggregations completed per second of load.
//! The providers' proving runs on this machine too (in reality each
//! provider proves on its own), and so do the N chains (4 validators
//! each) and the relayer: figures on a 2-core machine are pessimistic.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use credit_chain::app::auth::sign_transaction;
use futures::future::try_join_all;
use homomorphic::{DiscreteLogTable, FenCiphertext, KeyShare, PublicKey as ElGamalKey};
use protocol::tx::{ConsentGrant, LightClientParams, SignedTransaction, TxBody};
use protocol::{AggregationPartial, AggregationRequest, ChainId, Hash, RecordKind, state_keys};
use relayer::devnet::{
    DevChain, PURPOSE, Regions, SEED_LOANS, next_nonce, seed_query_scenario, sent_sequence,
    start_regions,
};
use relayer::engine::{ChainRuntime, Engine, EngineOptions};
use relayer::metrics::Metrics;
use relayer::store::Store;
use serde_json::json;

/// Arguments of `relayer bench-aggregate`.
#[derive(Debug, Args)]
pub struct BenchAggregateArgs {
    /// Regional chains (2 to 34): chain 0 asks the N − 1 others.
    #[arg(long, default_value_t = 3)]
    pub chains: usize,
    /// Aggregations to run.
    #[arg(long, default_value_t = 12)]
    pub aggregations: usize,
    /// Aggregations in flight at once (one wave).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Time between blocks on every chain.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    pub block_time: Duration,
    /// Working directory (recreated).
    #[arg(long, default_value = "bench-aggregate")]
    pub dir: PathBuf,
    /// Chain i's RPC is on P + 10 i.
    #[arg(long, default_value_t = 29357)]
    pub base_port: u16,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark.
pub fn run(args: BenchAggregateArgs) -> anyhow::Result<ExitCode> {
    if !(2..=relayer::devnet::REGIONS.len()).contains(&args.chains) {
        bail!("--chains must be 2 to {}", relayer::devnet::REGIONS.len());
    }
    if args.aggregations == 0 || args.concurrency == 0 {
        bail!("--aggregations and --concurrency must be at least 1");
    }
    tokio::runtime::Runtime::new()?.block_on(run_async(args))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The asker has a light client of every other chain, each of them one of
/// the asker: all an aggregation needs.
async fn create_star_clients(runtimes: &[Arc<ChainRuntime>]) -> anyhow::Result<()> {
    let asker = &runtimes[0];
    let mut on_asker = Vec::new();
    for other in &runtimes[1..] {
        on_asker.push(TxBody::CreateClient {
            anchor: other.verified_block(protocol::Height::GENESIS).await?,
            params: LightClientParams::default(),
        });
    }
    let anchor = asker.verified_block(protocol::Height::GENESIS).await?;
    let mut jobs = vec![(asker.clone(), on_asker)];
    for other in &runtimes[1..] {
        jobs.push((
            other.clone(),
            vec![TxBody::CreateClient {
                anchor: anchor.clone(),
                params: LightClientParams::default(),
            }],
        ));
    }
    try_join_all(jobs.into_iter().map(|(runtime, bodies)| async move {
        for outcome in runtime.submit(bodies).await? {
            let o = outcome.map_err(anyhow::Error::msg)?;
            if !o.is_ok() {
                bail!("creating light clients on {}: {}", runtime.id(), o.message);
            }
        }
        anyhow::Ok(())
    }))
    .await?;
    Ok(())
}

/// Registers bank-a's key share and the regulator's on the asker (each
/// with its proof of knowledge); returns both.
async fn register_shares(asker: &DevChain) -> anyhow::Result<(KeyShare, KeyShare)> {
    use credit_chain::app::aggregation::{KeyShareOwner, key_share_context};
    let mut rng = rand::rngs::OsRng;
    let (share, regulator) = (KeyShare::generate(&mut rng), KeyShare::generate(&mut rng));
    let adapter = asker.adapter()?;
    let bank: protocol::InstitutionId = "bank-a".parse()?;
    let context = key_share_context(&asker.id, KeyShareOwner::Institution(&bank));
    relayer::devnet::submit(
        adapter.as_ref(),
        &asker.key("institutions/bank-a")?,
        TxBody::RegisterAggregationKey {
            key: share.public().to_bytes().to_vec(),
            proof: share
                .prove_knowledge(&context, &mut rng)
                .to_bytes()
                .to_vec(),
        },
    )
    .await?;
    let context = key_share_context(&asker.id, KeyShareOwner::Regulator);
    relayer::devnet::submit(
        adapter.as_ref(),
        &asker.key("governance")?,
        TxBody::SetRegulatorAggregationKey {
            key: regulator.public().to_bytes().to_vec(),
            proof: regulator
                .prove_knowledge(&context, &mut rng)
                .to_bytes()
                .to_vec(),
        },
    )
    .await?;
    Ok((share, regulator))
}

/// One aggregation in flight.
struct InFlight {
    id: Hash,
    /// Its request's sequence on each destination, in destination order.
    sequences: Vec<u64>,
}

/// Everything a wave needs.
struct Bench<'a> {
    chains: &'a [DevChain],
    runtimes: &'a [Arc<ChainRuntime>],
    grants: &'a [ConsentGrant],
    table: &'static DiscreteLogTable,
    /// The plaintext total every aggregation must decrypt to.
    expected_total: u64,
    /// bank-a's share of the joint key.
    share: KeyShare,
    /// The regulator's share (the bench plays the supervision node too).
    regulator: KeyShare,
    /// The joint key every request is sent under.
    joint: ElGamalKey,
}

/// Figures of one aggregation.
struct Done {
    latency: Duration,
    decrypt: Duration,
}

impl Bench<'_> {
    fn destinations(&self) -> impl Iterator<Item = (&DevChain, &Arc<ChainRuntime>)> {
        self.chains.iter().zip(self.runtimes).skip(1)
    }

    /// Commits `count` aggregations' requests to every destination in one
    /// batch on the asker.
    async fn send(&self, count: usize) -> anyhow::Result<Vec<InFlight>> {
        let asker = &self.chains[0];
        let adapter = self.runtimes[0].adapter();
        let key = asker.key("institutions/bank-a")?;
        let nonce =
            next_nonce(adapter.as_ref(), &credit_chain::app::auth::public_key(&key)).await?;
        let deadline = adapter
            .status()
            .await?
            .latest_time
            .checked_add(Duration::from_secs(600))
            .context("deadline")?;
        let mut flights = Vec::new();
        let mut txs: Vec<SignedTransaction> = Vec::new();
        for _ in 0..count {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            let id = Hash::tagged(b"credit-relayer/aggregation", &[&seed]);
            for ((destination, _), grant) in self.destinations().zip(self.grants) {
                let request = AggregationRequest {
                    aggregation_id: id,
                    requester: "bank-a".parse()?,
                    enterprise: grant.enterprise.clone(),
                    kinds: vec![RecordKind::Loan],
                    purpose: PURPOSE.into(),
                    consent_id: grant.id(),
                    scheme: AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255.into(),
                    encryption_key: self.joint.to_bytes().to_vec(),
                    contribution_deadline: deadline,
                };
                txs.push(sign_transaction(
                    &key,
                    asker.id.clone(),
                    nonce + txs.len() as u64,
                    TxBody::SendAggregationRequest {
                        destination: destination.id.clone(),
                        request,
                        timeout_height: None,
                        timeout_time: deadline.checked_add(Duration::from_secs(600)),
                    },
                ));
            }
            flights.push(InFlight {
                id,
                sequences: Vec::new(),
            });
        }
        let per = self.chains.len() - 1;
        for (i, outcome) in adapter.submit_batch(&txs).await?.into_iter().enumerate() {
            let o = outcome.map_err(anyhow::Error::msg)?;
            if !o.is_ok() {
                bail!(
                    "aggregation request refused: code {}: {}",
                    o.code,
                    o.message
                );
            }
            flights[i / per].sequences.push(sent_sequence(&o)?);
        }
        Ok(flights)
    }

    /// On destination `d` (index among the destinations): waits until all
    /// of the wave's requests are received, then until the chain has
    /// acknowledged each (its providers' agents, which hold the records,
    /// encrypted, proved and contributed their sums). Returns when the
    /// requests were all seen received and when all were acknowledged.
    async fn contribute(
        &self,
        d: usize,
        flights: &[InFlight],
    ) -> anyhow::Result<(Instant, Instant)> {
        let asker = &self.chains[0].id;
        let chain = &self.chains[d + 1];
        let adapter = self.runtimes[d + 1].adapter();
        let wait_all = |keys: Vec<Vec<u8>>, what: &'static str| {
            let adapter = adapter.clone();
            let chain = chain.id.clone();
            async move {
                let limit = Instant::now() + Duration::from_secs(300);
                loop {
                    let proven = adapter.states(&keys).await?;
                    if proven.entries.iter().all(|e| e.value.is_some()) {
                        return Ok::<Instant, anyhow::Error>(Instant::now());
                    }
                    if Instant::now() > limit {
                        bail!("requests not {what} on {chain} within 300 s");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let received = wait_all(
            flights
                .iter()
                .map(|f| state_keys::packet_receipt(asker, f.sequences[d]))
                .collect(),
            "received",
        )
        .await?;
        let contributed = wait_all(
            flights
                .iter()
                .map(|f| state_keys::packet_ack(asker, f.sequences[d]))
                .collect(),
            "acknowledged",
        )
        .await?;
        Ok((received, contributed))
    }

    /// Waits until all partials of `flight` are on the asker, adds and
    /// decrypts them.
    async fn collect(&self, flight: &InFlight, started: Instant) -> anyhow::Result<Done> {
        let adapter = self.runtimes[0].adapter();
        let keys: Vec<Vec<u8>> = self
            .destinations()
            .map(|(c, _)| state_keys::aggregation_partial(&flight.id, &c.id))
            .collect();
        let limit = Instant::now() + Duration::from_secs(600);
        let partials = loop {
            let proven = adapter.states(&keys).await?;
            if proven.entries.iter().all(|e| e.value.is_some()) {
                break proven;
            }
            if Instant::now() > limit {
                bail!("partials of {} not back within 600 s", flight.id);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let decrypting = Instant::now();
        let mut total = FenCiphertext::zero();
        for entry in &partials.entries {
            let bytes = entry.value.as_deref().unwrap_or_default();
            let partial: AggregationPartial = borsh::from_slice(bytes)?;
            if partial.providers != partial.expected {
                bail!("a partial of {} misses providers: {partial:?}", flight.id);
            }
            total += FenCiphertext::from_bytes(&partial.ciphertext)?;
        }
        // The supervision node's part (its share, with the DLEQ proof), then
        // the requester's: verify and combine.
        let context = credit_chain::app::aggregation::decryption_share_context(
            &self.chains[0].id,
            &flight.id,
        );
        let released = self
            .regulator
            .decryption_share(&total, &context, &mut rand::rngs::OsRng);
        let verified = released.verify(self.regulator.public(), &total, &context)?;
        let value = homomorphic::combine(&total, &self.share, &verified, self.table)?;
        let decrypt = decrypting.elapsed();
        if value != self.expected_total {
            bail!(
                "aggregation {} decrypted to {value}, expected {}",
                flight.id,
                self.expected_total
            );
        }
        Ok(Done {
            latency: started.elapsed(),
            decrypt,
        })
    }

    /// One wave of `count` aggregations.
    async fn wave(&self, count: usize) -> anyhow::Result<Wave> {
        let started = Instant::now();
        let flights = self.send(count).await?;
        let sent = started.elapsed();
        let destinations = self.chains.len() - 1;
        let contributing = try_join_all((0..destinations).map(|d| self.contribute(d, &flights)));
        let collecting = try_join_all(flights.iter().map(|f| self.collect(f, started)));
        let (contributed, done) = tokio::try_join!(contributing, collecting)?;
        let last = |pick: fn(&(Instant, Instant)) -> Instant| {
            contributed
                .iter()
                .map(pick)
                .max()
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(started))
        };
        Ok(Wave {
            sent,
            received: last(|c| c.0),
            contributed: last(|c| c.1),
            done,
        })
    }
}

/// Figures of one wave; times are since the wave started.
struct Wave {
    /// Requests committed on the asker.
    sent: Duration,
    /// The last destination saw all requests received.
    received: Duration,
    /// The last destination acknowledged (its agents contributed).
    contributed: Duration,
    done: Vec<Done>,
}

async fn run_async(args: BenchAggregateArgs) -> anyhow::Result<ExitCode> {
    let dir = super::fresh_run_dir(&args.dir, "bench-aggregate")?;
    let exe = std::env::current_exe()?;
    let store = Store::open(&dir.join("relayer-store"))?;
    let metrics = Metrics::new();
    let setup = Instant::now();
    let Regions {
        chains,
        processes,
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
    create_star_clients(&runtimes).await?;
    let (share, regulator) = register_shares(&chains[0]).await?;
    let asker = chains[0].id.clone();
    let grants = try_join_all(chains.iter().zip(&runtimes).skip(1).map(|(c, r)| {
        let asker = asker.clone();
        async move { seed_query_scenario(c, r.adapter().as_ref(), &asker).await }
    }))
    .await?;
    let paths: Vec<(ChainId, ChainId)> = chains
        .iter()
        .skip(1)
        .map(|c| (asker.clone(), c.id.clone()))
        .collect();
    let engine = Arc::new(Engine::new(
        runtimes.clone(),
        &paths,
        store.clone(),
        EngineOptions {
            batch_size: 1_000,
            clear_interval: Duration::from_millis(500),
        },
    )?);
    let relaying = tokio::spawn(engine.clone().run());
    let table_started = Instant::now();
    let table = tokio::task::spawn_blocking(DiscreteLogTable::shared).await?;
    let table_build = table_started.elapsed();
    let per_chain: u64 = SEED_LOANS.iter().map(|(_, a)| a).sum();
    let bench = Bench {
        chains: &chains,
        runtimes: &runtimes,
        grants: &grants,
        table,
        expected_total: per_chain * (args.chains as u64 - 1),
        joint: homomorphic::joint_key(share.public(), regulator.public())?,
        share,
        regulator,
    };
    eprintln!(
        "bench-aggregate: {} chains ({} blocks), set up in {:.1?} (table {:.1?}); {} aggregations, {} at a time",
        args.chains,
        humantime::format_duration(args.block_time),
        setup.elapsed(),
        table_build,
        args.aggregations,
        args.concurrency
    );

    let load = Instant::now();
    let mut done = Vec::new();
    let mut phases = Vec::new();
    let mut left = args.aggregations;
    while left > 0 {
        let count = left.min(args.concurrency);
        let wave = bench.wave(count).await?;
        eprintln!(
            "  wave of {count}: sent {:.1?}, all received {:.1?}, all contributed {:.1?}, latencies {:.1?}",
            wave.sent,
            wave.received,
            wave.contributed,
            wave.done.iter().map(|d| d.latency).collect::<Vec<_>>()
        );
        phases.push(json!({
            "sent_ms": ms(wave.sent),
            "all_received_ms": ms(wave.received),
            "all_contributed_ms": ms(wave.contributed),
        }));
        done.extend(wave.done);
        left -= count;
    }
    let elapsed = load.elapsed();
    relaying.abort();
    drop(processes);

    let mut latencies: Vec<Duration> = done.iter().map(|d| d.latency).collect();
    latencies.sort();
    let mut decrypts: Vec<Duration> = done.iter().map(|d| d.decrypt).collect();
    decrypts.sort();
    let contributions = args.aggregations * (args.chains - 1) * SEED_LOANS.len();
    let rate = args.aggregations as f64 / elapsed.as_secs_f64();
    let report = json!({
        "chains": args.chains,
        "destinations_per_aggregation": args.chains - 1,
        "providers_per_aggregation": (args.chains - 1) * SEED_LOANS.len(),
        "aggregations": args.aggregations,
        "concurrency": args.concurrency,
        "block_time_ms": ms(args.block_time),
        "load_seconds": elapsed.as_secs_f64(),
        "aggregations_per_second": rate,
        "latency_ms": {
            "p50": ms(percentile(&latencies, 0.5)),
            "p99": ms(percentile(&latencies, 0.99)),
            "max": ms(percentile(&latencies, 1.0)),
        },
        "decrypt_ms_p50": ms(percentile(&decrypts, 0.5)),
        "contributions": contributions,
        "table_build_seconds": table_build.as_secs_f64(),
        "waves": phases,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} chains: {} aggregations ({} at a time) over {} destinations, {} providers each, in {:.1?}",
            args.chains,
            args.aggregations,
            args.concurrency,
            args.chains - 1,
            (args.chains - 1) * SEED_LOANS.len(),
            elapsed
        );
        println!("  {rate:.2} aggregations/s");
        println!(
            "  latency p50 {:.0} ms, p99 {:.0} ms (request sent to total decrypted)",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99))
        );
        println!(
            "  decryption p50 {:.1} ms; {} contributions by the providers' agents (all sharing this machine)",
            ms(percentile(&decrypts, 0.5)),
            contributions
        );
    }
    Ok(ExitCode::SUCCESS)
}
