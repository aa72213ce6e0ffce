//! `relayer bench`: drives a two-chain devnet with credit queries and
//! measures the relayer end to end — committed on A, answered on B,
//! acknowledged on A — as a user of the network sees it.
//!
//! Two phases: a *backlog* (queries sent while the relayer is stopped, then
//! cleared) and a *live* load (queries sent in batches while it runs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use credit_chain::app::auth::sign_transaction;
use protocol::ChainId;
use protocol::tx::{Account, SignedTransaction};
use relayer::devnet::{
    DevChain, Regions, cny, create_clients, credit_query, next_nonce, seed_query_scenario,
    start_regions, submit,
};
use relayer::engine::{Engine, EngineOptions};
use relayer::metrics::Metrics;
use relayer::store::{PacketState, Store};

/// Arguments of `relayer bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Queries sent while the relayer is stopped, then cleared.
    #[arg(long, default_value_t = 1_000)]
    pub backlog: usize,
    /// Queries sent while the relayer runs.
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Queries per submitted batch (one block where they fit).
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Offered rate of the live load, in queries/s (sent once per block
    /// time); 0 sends it as fast as the chain takes it. Round-trip
    /// latency means something only at a rate the network sustains.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Packets per relayer batch (one client update each).
    #[arg(long, default_value_t = 2_000)]
    pub relay_batch: usize,
    /// Time between blocks.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub block_time: Duration,
    /// Working directory (recreated).
    #[arg(long, default_value = "bench-devnet")]
    pub dir: PathBuf,
    /// RPC port of the first chain; the second is +10.
    #[arg(long, default_value_t = 27657)]
    pub base_port: u16,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Runtime::new()?.block_on(run_async(args))
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // Linux reports in clock ticks, 100 per second on every supported arch.
    Duration::from_millis(ticks * 10)
}

/// Peak resident memory of this process, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Load<'a> {
    asker: &'a DevChain,
    answerer: &'a ChainId,
    adapter: Arc<dyn adapters::ChainAdapter>,
    grant: protocol::tx::ConsentGrant,
}

impl Load<'_> {
    /// Sends `n` queries in batches; returns each packet's sequence with the
    /// instant its batch was committed.
    async fn send(
        &self,
        n: usize,
        batch: usize,
        pace: Option<Duration>,
        progress: Option<&tokio::sync::mpsc::UnboundedSender<(u64, Instant)>>,
    ) -> anyhow::Result<Vec<(u64, Instant)>> {
        let key = self.asker.key("institutions/bank-a")?;
        let encryption_key =
            relayer::devnet::register_encryption_key(self.asker, self.adapter.as_ref(), "bank-a")
                .await?;
        let mut nonce = next_nonce(
            self.adapter.as_ref(),
            &credit_chain::app::auth::public_key(&key),
        )
        .await?;
        let mut sent = Vec::with_capacity(n);
        let mut left = n;
        let mut ticks = pace.map(tokio::time::interval);
        while left > 0 {
            if let Some(ticks) = ticks.as_mut() {
                ticks.tick().await;
            }
            let size = left.min(batch);
            let txs: Vec<SignedTransaction> = (0..size)
                .map(|i| {
                    sign_transaction(
                        &key,
                        self.asker.id.clone(),
                        nonce + i as u64,
                        credit_query(
                            self.answerer,
                            &self.grant.enterprise,
                            self.grant.id(),
                            encryption_key,
                        ),
                    )
                })
                .collect();
            let outcomes = self.adapter.submit_batch(&txs).await?;
            let committed = Instant::now();
            for outcome in outcomes {
                let o = outcome.map_err(anyhow::Error::msg)?;
                if !o.is_ok() {
                    bail!(
                        "query refused by {}: code {}: {}",
                        self.asker.id,
                        o.code,
                        o.message
                    );
                }
                let sequence = relayer::devnet::sent_sequence(&o)?;
                if let Some(progress) = progress {
                    let _ = progress.send((sequence, committed));
                }
                sent.push((sequence, committed));
            }
            nonce += size as u64;
            left -= size;
        }
        Ok(sent)
    }
}

/// Waits until every packet in `sent` is acknowledged; returns each round
/// trip (commit on A to acknowledgement recorded) and when the last one was.
async fn wait_acknowledged(
    store: &Store,
    source: &ChainId,
    destination: &ChainId,
    sent: &[(u64, Instant)],
    limit: Duration,
) -> anyhow::Result<(Vec<Duration>, Instant)> {
    let (progress, receiver) = tokio::sync::mpsc::unbounded_channel();
    for s in sent {
        let _ = progress.send(*s);
    }
    drop(progress);
    watch_acknowledged(store, source, destination, receiver, limit).await
}

/// Like [`wait_acknowledged`] for packets still being sent: each arrives
/// on `sent` as its batch commits, so a round trip is timed while the load
/// runs, not after it.
async fn watch_acknowledged(
    store: &Store,
    source: &ChainId,
    destination: &ChainId,
    mut sent: tokio::sync::mpsc::UnboundedReceiver<(u64, Instant)>,
    limit: Duration,
) -> anyhow::Result<(Vec<Duration>, Instant)> {
    let mut open: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut trips = Vec::new();
    let mut total = 0usize;
    let mut sending = true;
    let deadline = Instant::now() + limit;
    let mut last = Instant::now();
    while sending || !open.is_empty() {
        loop {
            match sent.try_recv() {
                Ok((sequence, at)) => {
                    open.insert(sequence, at);
                    total += 1;
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    sending = false;
                    break;
                }
            }
        }
        let now = Instant::now();
        // Only packets that left the pending index can be done (or not yet
        // scanned): few per poll, whatever the load.
        let pending = store.pending_sequences(source, destination)?;
        // Reading a 100,000-packet index takes a while: poll no more than a
        // fifth of the time, so the bench does not slow (or bloat) the
        // relayer it shares a process with.
        let poll = Duration::from_millis(20).max(now.elapsed() * 4);
        let done: Vec<u64> = open
            .keys()
            .copied()
            .filter(|s| !pending.contains(s))
            .filter(|s| {
                matches!(store.packet(source, destination, *s), Ok(Some(r)) if r.state == PacketState::Acknowledged)
            })
            .collect();
        for s in done {
            if let Some(t) = open.remove(&s) {
                trips.push(now.saturating_duration_since(t));
                last = now;
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{} of {total} queries not acknowledged within {limit:?}",
                open.len()
            );
        }
        tokio::time::sleep(poll).await;
    }
    trips.sort();
    Ok((trips, last))
}

async fn run_async(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let dir = super::fresh_run_dir(&args.dir, "bench")?;
    let exe = std::env::current_exe()?;
    let store = Store::open(&dir.join("relayer-store"))?;
    let metrics = Metrics::new();
    let Regions {
        chains,
        processes,
        runtimes,
    } = start_regions(
        &exe,
        &dir,
        2,
        args.block_time,
        |i| args.base_port + 10 * i as u16,
        &store,
        &metrics,
    )
    .await?;
    create_clients(&runtimes).await?;
    let (asker, answerer) = (&chains[0], &chains[1]);
    let total = (args.backlog + args.queries) as u64;
    // bank-a's max fee is escrowed on A per query in flight; the fees are
    // paid from it there on acknowledgement.
    let grant = seed_query_scenario(answerer, runtimes[1].adapter().as_ref(), &asker.id).await?;
    submit(
        runtimes[0].adapter().as_ref(),
        &asker.key("governance")?,
        protocol::tx::TxBody::Mint {
            to: Account::Local("bank-a".parse()?),
            amount: cny(total * 10_000),
        },
    )
    .await?;
    let engine = Arc::new(Engine::new(
        runtimes.clone(),
        &[(asker.id.clone(), answerer.id.clone())],
        store.clone(),
        EngineOptions {
            batch_size: args.relay_batch,
            clear_interval: Duration::from_millis(500),
        },
    )?);
    let load = Load {
        asker,
        answerer: &answerer.id,
        adapter: runtimes[0].adapter().clone(),
        grant,
    };
    eprintln!(
        "bench: 2 chains ({} blocks), relayer batch {}",
        humantime::format_duration(args.block_time),
        args.relay_batch
    );

    // Phase 1: a backlog built while the relayer is stopped.
    let backlog = load
        .send(args.backlog, args.batch, None, None)
        .await
        .context("sending the backlog")?;
    eprintln!(
        "  backlog of {} queries committed; starting the relayer",
        backlog.len()
    );
    let cpu_before = cpu_time();
    let started = Instant::now();
    let relayer = tokio::spawn(engine.clone().run());
    let (_, cleared_at) = wait_acknowledged(
        &store,
        &asker.id,
        &answerer.id,
        &backlog,
        Duration::from_secs(600),
    )
    .await?;
    let clear_time = cleared_at.saturating_duration_since(started);

    // Phase 2: live load.
    let live_started = Instant::now();
    let (live_batch, pace) = if args.rate == 0 {
        (args.batch, None)
    } else {
        let per_block = (args.rate as f64 * args.block_time.as_secs_f64()).ceil() as usize;
        (per_block.max(1), Some(args.block_time))
    };
    let (progress, receiver) = tokio::sync::mpsc::unbounded_channel();
    let watching = watch_acknowledged(
        &store,
        &asker.id,
        &answerer.id,
        receiver,
        Duration::from_secs(600),
    );
    let sending = async {
        let sent = load
            .send(args.queries, live_batch, pace, Some(&progress))
            .await;
        drop(progress);
        sent
    };
    let (live, watched) = tokio::join!(sending, watching);
    let live = live.context("sending the live load")?;
    let (trips, last) = watched?;
    let live_time = last.saturating_duration_since(live_started);
    let cpu = cpu_time().saturating_sub(cpu_before);
    let wall = started.elapsed();
    relayer.abort();

    let backlog_rate = backlog.len() as f64 / clear_time.as_secs_f64().max(1e-9);
    let qps = live.len() as f64 / live_time.as_secs_f64().max(1e-9);
    let (p50, p99) = (percentile(&trips, 0.50), percentile(&trips, 0.99));
    let figures = serde_json::json!({
        "block_time_ms": args.block_time.as_millis(),
        "backlog_packets": backlog.len(),
        "backlog_clear_seconds": clear_time.as_secs_f64(),
        "backlog_packets_per_second": backlog_rate,
        "live_queries": live.len(),
        "live_queries_per_second": qps,
        "round_trip_p50_ms": p50.as_secs_f64() * 1e3,
        "round_trip_p99_ms": p99.as_secs_f64() * 1e3,
        "relayer_cpu_percent": 100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
        "relayer_peak_rss_mib": peak_rss_mib(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "backlog: {} packets cleared in {:.1} s ({backlog_rate:.0} queries/s)",
            backlog.len(),
            clear_time.as_secs_f64()
        );
        println!(
            "live: {} queries in {:.1} s = {qps:.0} verified queries/s end to end (committed on {} → answered on {} → acknowledged on {})",
            live.len(),
            live_time.as_secs_f64(),
            asker.id,
            answerer.id,
            asker.id
        );
        println!(
            "round trip: p50 {:.0} ms, p99 {:.0} ms ({:.1} / {:.1} block times)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            p50.as_secs_f64() / args.block_time.as_secs_f64(),
            p99.as_secs_f64() / args.block_time.as_secs_f64()
        );
        println!(
            "relayer: {:.0} % of one core, peak RSS {:.0} MiB (the chains run in their own processes)",
            figures["relayer_cpu_percent"].as_f64().unwrap_or(0.0),
            peak_rss_mib()
        );
    }
    drop(processes);
    Ok(ExitCode::SUCCESS)
}
