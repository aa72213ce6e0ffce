//! `relayer bench-mesh`: the mesh of regional relayers at the size of the
//! country — one credit chain and one relayer process per provincial-level
//! region (34), all on this machine — measured as an operator sees it:
//! each relayer's resident memory, the gossip it carries per block, and
//! the round trip of credit queries across the mesh.
//!
//! Phases: setup (chains, on-chain clients among all, consent seeded, the
//! relayers started and connected), an *idle* window of M blocks (memory,
//! CPU, gossip messages and bytes per relayer per block), a *load* (every
//! asker sends its queries in order, askers in parallel; each round trip
//! timed from the commit of the query on the asker to its commitment being
//! removed there, i.e. acknowledged with a proof), then memory after it.
//!
//! Gossip bytes are measured on the wire: the kernel's per-socket TCP
//! counters (`ss -ti`: `bytes_received`, `bytes_acked`) of every
//! established connection of a relayer process to or from a P2P port of
//! the mesh — noise-encrypted, yamux-framed gossipsub traffic, duplicates
//! and control messages included. An estimate of the useful payload
//! (messages delivered × the size of one signed light-block envelope) is
//! printed beside it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use credit_chain::app::auth::{public_key, sign_transaction};
use credit_chain::keys::KeyFile;
use protocol::tx::{Acknowledgement, ConsentGrant, LightClientParams, SignedTransaction, TxBody};
use protocol::{Canonical, Height, PacketPayload, PublicKey, QueryOutcome, state_keys};
use relayer::devnet::{
    DevChain, MeshMember, REGIONS, Regions, RelayerConfig, credit_query, next_nonce,
    seed_query_scenario, sent_sequence, start_regions,
};
use relayer::engine::ChainRuntime;
use relayer::mesh::devnet::RelayerProcess;
use relayer::metrics::Metrics;
use relayer::store::Store;

/// Offsets offered to each asker: chain i asks chain (i + o) mod N.
const ASK_OFFSETS: [usize; 2] = [1, 7];

/// Arguments of `relayer bench-mesh`.
#[derive(Debug, Args)]
pub struct BenchMeshArgs {
    /// Regional chains, one relayer process each (2 to 34; the regions are
    /// taken in the devnet's order).
    #[arg(long, default_value_t = 34)]
    pub chains: usize,
    /// Time between blocks on every chain.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub block_time: Duration,
    /// Queries each chain sends, alternately to chain i+1 and chain i+7
    /// (mod N).
    #[arg(long, default_value_t = 20)]
    pub queries_per_chain: usize,
    /// Queries an asker submits per batch (one block each, sent back to
    /// back): the offered load is about chains × batch per block time.
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// Pause between an asker's batches (0: back to back); a pause of a
    /// few block times measures the round trip of a mesh that is not
    /// queueing.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Blocks of the idle window (memory and gossip with no queries).
    #[arg(long, default_value_t = 30)]
    pub idle_blocks: u64,
    /// Working directory (recreated).
    #[arg(long, default_value = "bench-mesh")]
    pub dir: PathBuf,
    /// Chain i's RPC is on P + 10 i, relayer i's P2P on P + 2000 + 10 i and
    /// its telemetry (`/metrics`) on P + 3000 + 10 i.
    #[arg(long, default_value_t = 21_000)]
    pub base_port: u16,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark.
pub fn run(args: BenchMeshArgs) -> anyhow::Result<ExitCode> {
    if !(2..=REGIONS.len()).contains(&args.chains) {
        bail!(
            "--chains must be between 2 and {}, got {}",
            REGIONS.len(),
            args.chains
        );
    }
    if args.queries_per_chain == 0 || args.batch == 0 || args.idle_blocks == 0 {
        bail!("--queries-per-chain, --batch and --idle-blocks must be positive");
    }
    if u32::from(args.base_port) + 3000 + 10 * args.chains as u32 > u32::from(u16::MAX) {
        bail!(
            "--base-port {} leaves no room for the ports",
            args.base_port
        );
    }
    tokio::runtime::Runtime::new()?.block_on(run_async(args))
}

// ---------------------------------------------------------------- /proc

/// A `kB` field (`VmRSS:`, `VmHWM:`) of `/proc/<pid>/status`, in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // 100 clock ticks per second on every supported Linux arch.
    Duration::from_millis(ticks * 10)
}

/// Mean and maximum of some figures (0 when empty).
fn mean_max(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let sum: f64 = values.iter().sum();
    (
        sum / values.len() as f64,
        values.iter().copied().fold(f64::MIN, f64::max),
    )
}

/// Resident memory of every relayer, sampled while a phase runs.
#[derive(Default)]
struct RssSamples {
    /// Per relayer: sum of samples, count, maximum (MiB).
    per: Vec<(f64, u32, f64)>,
}

impl RssSamples {
    fn sample(&mut self, pids: &[u32]) {
        if self.per.len() != pids.len() {
            self.per = vec![(0.0, 0, 0.0); pids.len()];
        }
        for (slot, pid) in self.per.iter_mut().zip(pids) {
            let rss = status_mib(*pid, "VmRSS:");
            slot.0 += rss;
            slot.1 += 1;
            slot.2 = slot.2.max(rss);
        }
    }

    /// Mean over time per relayer, then (mean, max) over relayers; and the
    /// largest sample of any relayer.
    fn summary(&self) -> (f64, f64, f64) {
        let means: Vec<f64> = self
            .per
            .iter()
            .map(|(s, n, _)| s / f64::from((*n).max(1)))
            .collect();
        let (mean, max_mean) = mean_max(&means);
        let peak = self.per.iter().map(|p| p.2).fold(0.0, f64::max);
        (mean, max_mean, peak)
    }
}

/// Samples the relayers' RSS every 500 ms until dropped.
fn spawn_sampler(
    pids: Vec<u32>,
) -> (
    Arc<std::sync::Mutex<RssSamples>>,
    tokio::task::JoinHandle<()>,
) {
    let samples = Arc::new(std::sync::Mutex::new(RssSamples::default()));
    let shared = samples.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Ok(mut s) = shared.lock() {
                s.sample(&pids);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    (samples, task)
}

// ---------------------------------------------------------------- wire bytes

/// Per TCP connection (pid, local, peer): bytes received and bytes sent
/// (acknowledged by the peer), from the kernel's `tcp_info`.
type SocketBytes = HashMap<(u32, String, String), (u64, u64)>;

/// The established TCP connections of `pids` to or from one of `ports`
/// (the mesh's P2P ports), with their byte counters (`ss -tinpH`).
fn mesh_socket_bytes(pids: &HashSet<u32>, ports: &HashSet<u16>) -> anyhow::Result<SocketBytes> {
    let out = std::process::Command::new("ss")
        .args(["-tinpH", "state", "established"])
        .output()
        .context("cannot run `ss` to read TCP counters")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let port_of = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
    };
    let counter = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut sockets = SocketBytes::new();
    let mut current: Option<(u32, String, String)> = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            // "Recv-Q Send-Q Local Peer users:(("relayer",pid=N,fd=M))"
            // (with `state established` there is no State column).
            current = None;
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 5 {
                continue;
            }
            let (local, peer) = (fields[2], fields[3]);
            let pid = line
                .split("pid=")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse::<u32>().ok());
            let in_mesh = [local, peer]
                .iter()
                .any(|a| port_of(a).is_some_and(|p| ports.contains(&p)));
            if let Some(pid) = pid
                && pids.contains(&pid)
                && in_mesh
            {
                current = Some((pid, local.to_owned(), peer.to_owned()));
            }
        } else if let Some(key) = current.take() {
            let received = counter(line, "bytes_received:");
            let sent = counter(line, "bytes_acked:");
            sockets.insert(key, (received, sent));
        }
    }
    Ok(sockets)
}

/// Bytes received and sent per pid between two snapshots (a connection
/// opened in between counts from zero; one closed in between is lost).
fn bytes_between(before: &SocketBytes, after: &SocketBytes) -> HashMap<u32, (u64, u64)> {
    let mut per = HashMap::new();
    for (key, (r1, s1)) in after {
        let (r0, s0) = before.get(key).copied().unwrap_or((0, 0));
        let e = per.entry(key.0).or_insert((0, 0));
        e.0 += r1.saturating_sub(r0);
        e.1 += s1.saturating_sub(s0);
    }
    per
}

// ---------------------------------------------------------------- metrics

/// The sum of every sample of metric `name` whose labels contain `label`
/// (empty: all) in a Prometheus text exposition.
fn metric(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let metric_name = key.split('{').next()?;
            (metric_name == name && key.contains(label)).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// The `/metrics` text of every relayer (empty for one that did not answer).
async fn scrape(client: &reqwest::Client, telemetry: &[SocketAddr]) -> Vec<String> {
    let fetches = telemetry.iter().map(|addr| async move {
        match client.get(format!("http://{addr}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    });
    futures::future::join_all(fetches).await
}

// ---------------------------------------------------------------- setup

/// On-chain light clients of every chain on every other, each chain's
/// `CreateClient` transactions in one batch, all chains at once.
async fn create_clients_parallel(runtimes: &[Arc<ChainRuntime>]) -> anyhow::Result<()> {
    let anchors =
        futures::future::try_join_all(runtimes.iter().map(|r| r.verified_block(Height::GENESIS)))
            .await?;
    let submits = runtimes.iter().enumerate().map(|(i, runtime)| {
        let bodies: Vec<TxBody> = anchors
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, anchor)| TxBody::CreateClient {
                anchor: anchor.clone(),
                params: LightClientParams::default(),
            })
            .collect();
        async move {
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
            Ok(())
        }
    });
    futures::future::try_join_all(submits).await?;
    Ok(())
}

/// A relayer of the bench: its process, telemetry address and P2P port.
struct Relayer {
    process: RelayerProcess,
    telemetry: SocketAddr,
    p2p_port: u16,
}

/// One relayer process per chain, like `relayer devnet
/// --relayers-per-chain 1` (RPC access to its own chain only, every other
/// chain through the mesh), with its telemetry endpoint on.
fn start_mesh(
    exe: &Path,
    dir: &Path,
    chains: &[DevChain],
    base_port: u16,
) -> anyhow::Result<Vec<Relayer>> {
    let mut planned = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        let home = dir.join("relayers").join(chain.id.as_str());
        std::fs::create_dir_all(&home)?;
        let identity = KeyFile::generate("operator");
        let identity_key = home.join("operator.json");
        identity.write(&identity_key)?;
        let public = PublicKey(identity.signing_key()?.verifying_key().to_bytes());
        let peer_id = network::peer_id_of(&public)
            .context("operator key without a peer id")?
            .to_string();
        let port = base_port + 2000 + 10 * i as u16;
        planned.push((home, identity_key, peer_id, port));
    }
    let mut relayers = Vec::new();
    for (i, (home, identity_key, peer_id, port)) in planned.iter().enumerate() {
        let mut config = RelayerConfig::new(home.join("store"));
        config.batch_size = 500;
        config.clear_interval = Duration::from_secs(2);
        let telemetry = SocketAddr::from(([127, 0, 0, 1], base_port + 3000 + 10 * i as u16));
        config.telemetry = Some(telemetry);
        config.mesh = Some(MeshMember {
            identity_key: identity_key.clone(),
            listen: format!("/ip4/127.0.0.1/tcp/{port}"),
            bootstrap: planned
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, _, peer, port))| format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}"))
                .collect(),
            chains: planned
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(j, (_, _, peer, _))| {
                    Ok((
                        chains[j].id.clone(),
                        chains[j].anchor()?,
                        vec![peer.clone()],
                    ))
                })
                .collect::<anyhow::Result<_>>()?,
            regulator: None,
            capture: None,
            governance: None,
            admitted: Vec::new(),
        });
        let path = home.join("relayer.toml");
        config.write(&path, std::slice::from_ref(&chains[i]))?;
        let child =
            relayer::mesh::devnet::spawn_logged(exe, "start", &path, &home.join("relayer.log"))
                .context("cannot start a relayer process")?;
        relayers.push(Relayer {
            process: RelayerProcess {
                chain: chains[i].id.clone(),
                peer_id: peer_id.clone(),
                address: format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id}"),
                api: None,
                child,
            },
            telemetry,
            p2p_port: *port,
        });
    }
    Ok(relayers)
}

// ---------------------------------------------------------------- load

/// One asker's load: its queries, each with its destination and the
/// consent the destination holds for it.
struct Asker {
    index: usize,
    targets: Vec<(usize, ConsentGrant)>,
}

/// A query's life as the bench saw it.
struct Trip {
    asker: usize,
    answerer: usize,
    sequence: u64,
    round_trip: Duration,
    closed_at: Instant,
}

/// Sends `count` queries of `asker`, alternating over its targets, in
/// batches of `batch` (one block each, back to back), and watches each
/// packet until its commitment is gone from the asker (acknowledged):
/// round trips are timed while the load runs.
async fn run_asker(
    chains: &[DevChain],
    asker: &Asker,
    count: usize,
    batch: usize,
    interval: Duration,
    limit: Duration,
) -> anyhow::Result<Vec<Trip>> {
    let me = &chains[asker.index];
    let adapter = me.adapter()?;
    let key = me.key("institutions/bank-a")?;
    let (progress, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(usize, u64, Instant)>();
    let encryption_key =
        relayer::devnet::register_encryption_key(me, adapter.as_ref(), "bank-a").await?;
    let sending = async {
        let mut nonce = next_nonce(adapter.as_ref(), &public_key(&key)).await?;
        let mut sent = 0usize;
        while sent < count {
            let size = (count - sent).min(batch);
            let plan: Vec<usize> = (sent..sent + size)
                .map(|q| q % asker.targets.len())
                .collect();
            let txs: Vec<SignedTransaction> = plan
                .iter()
                .enumerate()
                .map(|(k, &t)| {
                    let (b, grant) = &asker.targets[t];
                    sign_transaction(
                        &key,
                        me.id.clone(),
                        nonce + k as u64,
                        credit_query(
                            &chains[*b].id,
                            &grant.enterprise,
                            grant.id(),
                            encryption_key,
                        ),
                    )
                })
                .collect();
            let outcomes = adapter.submit_batch(&txs).await?;
            let committed = Instant::now();
            for (outcome, &t) in outcomes.into_iter().zip(&plan) {
                let o = outcome.map_err(anyhow::Error::msg)?;
                if !o.is_ok() {
                    bail!("query refused by {}: code {}: {}", me.id, o.code, o.message);
                }
                let _ = progress.send((asker.targets[t].0, sent_sequence(&o)?, committed));
            }
            nonce += size as u64;
            sent += size;
            if sent < count && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
        }
        drop(progress);
        Ok::<(), anyhow::Error>(())
    };
    let watching = async {
        let mut open: BTreeMap<(usize, u64), Instant> = BTreeMap::new();
        let mut trips = Vec::new();
        let mut sending = true;
        let deadline = Instant::now() + limit;
        while sending || !open.is_empty() {
            loop {
                match receiver.try_recv() {
                    Ok((b, sequence, at)) => {
                        open.insert((b, sequence), at);
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                        sending = false;
                        break;
                    }
                }
            }
            if !open.is_empty() {
                let keys: Vec<Vec<u8>> = open
                    .keys()
                    .map(|(b, s)| state_keys::packet_commitment(&chains[*b].id, *s))
                    .collect();
                if let Ok(states) = adapter.states(&keys).await {
                    let now = Instant::now();
                    let done: Vec<(usize, u64)> = open
                        .keys()
                        .zip(&states.entries)
                        .filter(|(_, e)| e.value.is_none())
                        .map(|(k, _)| *k)
                        .collect();
                    for k in done {
                        if let Some(at) = open.remove(&k) {
                            trips.push(Trip {
                                asker: asker.index,
                                answerer: k.0,
                                sequence: k.1,
                                round_trip: now.saturating_duration_since(at),
                                closed_at: now,
                            });
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{}: {} queries not acknowledged within {limit:?}",
                    me.id,
                    open.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok::<Vec<Trip>, anyhow::Error>(trips)
    };
    let (sent, trips) = tokio::join!(sending, watching);
    sent.with_context(|| format!("sending the queries of {}", me.id))?;
    trips
}

/// How many of the acknowledgements written on the answerers are verified
/// answers (`Answered`), read back from each answering chain.
async fn count_answered(chains: &[DevChain], trips: &[Trip]) -> anyhow::Result<usize> {
    let mut by_answerer: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
    for t in trips {
        by_answerer
            .entry(t.answerer)
            .or_default()
            .push(state_keys::packet_ack_data(&chains[t.asker].id, t.sequence));
    }
    let reads = by_answerer.into_iter().map(|(b, keys)| async move {
        let states = chains[b].adapter()?.states(&keys).await?;
        let answered = states
            .entries
            .iter()
            .filter(|e| {
                e.value.as_deref().is_some_and(|bytes| {
                    matches!(
                        Acknowledgement::from_canonical_bytes(bytes),
                        Ok(Acknowledgement::Result(PacketPayload::CreditResponse(r)))
                            if r.outcome == QueryOutcome::Answered
                    )
                })
            })
            .count();
        Ok::<usize, anyhow::Error>(answered)
    });
    Ok(futures::future::try_join_all(reads).await?.iter().sum())
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

// ---------------------------------------------------------------- run

async fn run_async(args: BenchMeshArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = super::fresh_run_dir(&args.dir, "bench-mesh")?;
    let exe = std::env::current_exe()?;
    let n = args.chains;
    let say = |s: String| eprintln!("[{:6.1} s] {s}", started.elapsed().as_secs_f64());

    // Chains.
    let store = Store::open(&dir.join("setup-store"))?;
    let metrics = Metrics::new();
    let Regions {
        chains,
        processes: chain_processes,
        runtimes,
    } = start_regions(
        &exe,
        &dir,
        n,
        args.block_time,
        |i| args.base_port + 10 * i as u16,
        &store,
        &metrics,
    )
    .await?;
    say(format!(
        "{n} chains up ({} blocks, 4 validators each)",
        humantime::format_duration(args.block_time)
    ));
    create_clients_parallel(&runtimes).await?;
    say(format!(
        "{} on-chain light clients created ({n} × {})",
        n * (n - 1),
        n - 1
    ));

    // Consent: chain i asks chain i + o (mod N) for each offset; each
    // answerer seeds its askers in order, answerers in parallel.
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for a in 0..n {
        for o in ASK_OFFSETS {
            let b = (a + o) % n;
            if b != a && !pairs.contains(&(a, b)) {
                pairs.push((a, b));
            }
        }
    }
    let seeds = (0..n).map(|b| {
        let chains = &chains;
        let askers: Vec<usize> = pairs
            .iter()
            .filter(|(_, x)| *x == b)
            .map(|(a, _)| *a)
            .collect();
        async move {
            let adapter = chains[b].adapter()?;
            let mut grants = Vec::new();
            for a in askers {
                let grant = seed_query_scenario(&chains[b], adapter.as_ref(), &chains[a].id)
                    .await
                    .with_context(|| format!("seeding {} for {}", chains[b].id, chains[a].id))?;
                grants.push((a, b, grant));
            }
            Ok::<_, anyhow::Error>(grants)
        }
    });
    let grants: Vec<(usize, usize, ConsentGrant)> = futures::future::try_join_all(seeds)
        .await?
        .into_iter()
        .flatten()
        .collect();
    say(format!(
        "consent seeded for {} (asker, answerer) pairs",
        grants.len()
    ));
    // The size of one gossiped light block, for the payload estimate.
    let sample_block = runtimes[0]
        .adapter()
        .light_block(runtimes[0].adapter().status().await?.latest_height)
        .await?;
    let light_block_bytes = sample_block.to_canonical_bytes().len();
    let topic_len = format!("light-blocks/{}", chains[0].id).len();
    // Envelope (key, signature, kind with topic, body length) around it.
    let envelope_bytes = light_block_bytes + network::envelope::ENVELOPE_OVERHEAD + topic_len;
    drop(runtimes);
    drop(store);

    // Relayers.
    let relayers = start_mesh(&exe, &dir, &chains, args.base_port)?;
    let pids: Vec<u32> = relayers.iter().map(|r| r.process.child.id()).collect();
    let chain_pids: Vec<u32> = chain_processes.iter().map(|c| c.0.id()).collect();
    let telemetry: Vec<SocketAddr> = relayers.iter().map(|r| r.telemetry).collect();
    let p2p_ports: HashSet<u16> = relayers.iter().map(|r| r.p2p_port).collect();
    let pid_set: HashSet<u32> = pids.iter().copied().collect();
    say(format!(
        "{n} relayer processes started; waiting for the mesh"
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    // Connected: every relayer sees every other (the peers gauge is
    // refreshed every 5 s) and receives light blocks of every other chain.
    let connect_deadline = Instant::now() + Duration::from_secs(180);
    let mut min_peers;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let texts = scrape(&client, &telemetry).await;
        let peers: Vec<f64> = texts
            .iter()
            .map(|t| metric(t, "relayer_mesh_peers_connected", ""))
            .collect();
        min_peers = peers.iter().copied().fold(f64::MAX, f64::min);
        let gossip_ok = texts.iter().all(|t| {
            metric(
                t,
                "relayer_mesh_gossip_accepted_total",
                "topic=\"light_blocks\"",
            ) > 0.0
        });
        if min_peers >= (n - 1) as f64 && gossip_ok {
            break;
        }
        if Instant::now() > connect_deadline {
            say(format!(
                "mesh not fully connected after 180 s (fewest peers: {min_peers}); measuring anyway"
            ));
            break;
        }
    }
    say(format!(
        "mesh connected: every relayer has ≥ {min_peers} peers and accepts gossiped light blocks"
    ));
    // Let start-up work (first client updates, catch-up) settle.
    tokio::time::sleep(args.block_time * 5).await;

    // Phase 1: idle.
    let height = |c: &DevChain| {
        let adapter = c.adapter();
        async move { Ok::<u64, anyhow::Error>(adapter?.status().await?.latest_height.value()) }
    };
    let (sampler, sampler_task) = spawn_sampler(pids.clone());
    let rss_start: Vec<f64> = pids.iter().map(|p| status_mib(*p, "VmRSS:")).collect();
    let h0 = height(&chains[0]).await?;
    let metrics0 = scrape(&client, &telemetry).await;
    let sockets0 = mesh_socket_bytes(&pid_set, &p2p_ports)?;
    let cpu0: Vec<Duration> = pids.iter().map(|p| cpu_time(*p)).collect();
    let idle_started = Instant::now();
    say(format!("idle window: {} blocks", args.idle_blocks));
    loop {
        tokio::time::sleep(args.block_time).await;
        if height(&chains[0]).await? >= h0 + args.idle_blocks {
            break;
        }
    }
    let idle_wall = idle_started.elapsed();
    let sockets1 = mesh_socket_bytes(&pid_set, &p2p_ports)?;
    let metrics1 = scrape(&client, &telemetry).await;
    let cpu1: Vec<Duration> = pids.iter().map(|p| cpu_time(*p)).collect();
    let h1 = height(&chains[0]).await?;
    let blocks = (h1 - h0).max(1) as f64;
    let idle_rss = std::mem::take(&mut *sampler.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let delta = |name: &str, label: &str| -> Vec<f64> {
        metrics0
            .iter()
            .zip(&metrics1)
            .map(|(a, b)| (metric(b, name, label) - metric(a, name, label)) / blocks)
            .collect()
    };
    let lb = "topic=\"light_blocks\"";
    let received = delta("relayer_mesh_gossip_received_total", lb);
    let accepted = delta("relayer_mesh_gossip_accepted_total", lb);
    let published = delta("relayer_mesh_gossip_published_total", lb);
    let all_received = delta("relayer_mesh_gossip_received_total", "");
    let wire = bytes_between(&sockets0, &sockets1);
    let wire_in: Vec<f64> = pids
        .iter()
        .map(|p| wire.get(p).map_or(0.0, |w| w.0 as f64) / blocks)
        .collect();
    let wire_out: Vec<f64> = pids
        .iter()
        .map(|p| wire.get(p).map_or(0.0, |w| w.1 as f64) / blocks)
        .collect();
    let idle_cpu: Vec<f64> = cpu0
        .iter()
        .zip(&cpu1)
        .map(|(a, b)| 100.0 * b.saturating_sub(*a).as_secs_f64() / idle_wall.as_secs_f64())
        .collect();
    let payload_in: Vec<f64> = received.iter().map(|m| m * envelope_bytes as f64).collect();

    // Phase 2: load.
    let askers: Vec<Asker> = (0..n)
        .map(|a| Asker {
            index: a,
            targets: grants
                .iter()
                .filter(|(x, _, _)| *x == a)
                .map(|(_, b, g)| (*b, g.clone()))
                .collect(),
        })
        .filter(|a| !a.targets.is_empty())
        .collect();
    let total_queries = askers.len() * args.queries_per_chain;
    say(format!(
        "load: {total_queries} queries ({} per chain, batches of {} every {}, {} askers in parallel)",
        args.queries_per_chain,
        args.batch,
        if args.interval.is_zero() {
            "block".to_owned()
        } else {
            format!("block + {}", humantime::format_duration(args.interval))
        },
        askers.len()
    ));
    let metrics_before_load = scrape(&client, &telemetry).await;
    let cpu_load0: Vec<Duration> = pids.iter().map(|p| cpu_time(*p)).collect();
    let load_started = Instant::now();
    let limit = Duration::from_secs(900);
    let runs = askers.iter().map(|a| {
        run_asker(
            &chains,
            a,
            args.queries_per_chain,
            args.batch,
            args.interval,
            limit,
        )
    });
    let trips: Vec<Trip> = futures::future::try_join_all(runs)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let load_wall = trips
        .iter()
        .map(|t| t.closed_at.saturating_duration_since(load_started))
        .max()
        .unwrap_or_default();
    let cpu_load1: Vec<Duration> = pids.iter().map(|p| cpu_time(*p)).collect();
    let load_rss = std::mem::take(&mut *sampler.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let metrics_after_load = scrape(&client, &telemetry).await;
    let answered = count_answered(&chains, &trips).await?;
    let mut round_trips: Vec<Duration> = trips.iter().map(|t| t.round_trip).collect();
    round_trips.sort();
    let (p50, p99) = (
        percentile(&round_trips, 0.50),
        percentile(&round_trips, 0.99),
    );
    let max_trip = round_trips.last().copied().unwrap_or_default();
    let qps = trips.len() as f64 / load_wall.as_secs_f64().max(1e-9);
    let load_cpu: Vec<f64> = cpu_load0
        .iter()
        .zip(&cpu_load1)
        .map(|(a, b)| 100.0 * b.saturating_sub(*a).as_secs_f64() / load_wall.as_secs_f64())
        .collect();
    let handover = |texts: &[String], what: &str| -> f64 {
        texts
            .iter()
            .map(|t| metric(t, &format!("relayer_mesh_route_latency_seconds_{what}"), ""))
            .sum()
    };
    let handovers =
        handover(&metrics_after_load, "count") - handover(&metrics_before_load, "count");
    let handover_mean_ms = 1e3
        * (handover(&metrics_after_load, "sum") - handover(&metrics_before_load, "sum"))
        / handovers.max(1.0);

    // Phase 3: memory after the load.
    tokio::time::sleep(args.block_time * 5).await;
    let rss_after: Vec<f64> = pids.iter().map(|p| status_mib(*p, "VmRSS:")).collect();
    let hwm: Vec<f64> = pids.iter().map(|p| status_mib(*p, "VmHWM:")).collect();
    let chain_rss: Vec<f64> = chain_pids
        .iter()
        .map(|p| status_mib(*p, "VmRSS:"))
        .collect();
    sampler_task.abort();
    let alive = relayers
        .iter()
        .zip(&pids)
        .filter(|(_, p)| Path::new(&format!("/proc/{p}")).exists())
        .count();

    let (idle_mean, idle_mean_max, idle_peak) = idle_rss.summary();
    let (load_mean, load_mean_max, load_peak) = load_rss.summary();
    let (start_mean, start_max) = mean_max(&rss_start);
    let (after_mean, after_max) = mean_max(&rss_after);
    let (hwm_mean, hwm_max) = mean_max(&hwm);
    let (chain_rss_mean, chain_rss_max) = mean_max(&chain_rss);
    let (recv_mean, recv_max) = mean_max(&received);
    let (acc_mean, _) = mean_max(&accepted);
    let (pub_mean, _) = mean_max(&published);
    let (all_recv_mean, _) = mean_max(&all_received);
    let (in_mean, in_max) = mean_max(&wire_in);
    let (out_mean, out_max) = mean_max(&wire_out);
    let (payload_mean, _) = mean_max(&payload_in);
    let (idle_cpu_mean, idle_cpu_max) = mean_max(&idle_cpu);
    let (load_cpu_mean, load_cpu_max) = mean_max(&load_cpu);
    let block_s = args.block_time.as_secs_f64();
    let figures = serde_json::json!({
        "chains": n,
        "relayers": relayers.len(),
        "block_time_ms": args.block_time.as_millis(),
        "setup_seconds": idle_started.duration_since(started).as_secs_f64(),
        "mesh_min_peers_connected": min_peers,
        "idle_blocks": blocks,
        "relayer_rss_mib": {
            "connected_mean": start_mean, "connected_max": start_max,
            "idle_mean": idle_mean, "idle_max_of_means": idle_mean_max, "idle_peak": idle_peak,
            "load_mean": load_mean, "load_max_of_means": load_mean_max, "load_peak": load_peak,
            "after_load_mean": after_mean, "after_load_max": after_max,
            "lifetime_peak_mean": hwm_mean, "lifetime_peak_max": hwm_max,
            "per_relayer_after_load": chains.iter().zip(&rss_after)
                .map(|(c, r)| (c.id.to_string(), *r)).collect::<BTreeMap<_, _>>(),
        },
        "chain_rss_mib": { "mean": chain_rss_mean, "max": chain_rss_max },
        "relayer_cpu_percent": {
            "idle_mean": idle_cpu_mean, "idle_max": idle_cpu_max,
            "load_mean": load_cpu_mean, "load_max": load_cpu_max,
        },
        "gossip_per_relayer_per_block": {
            "light_blocks_received_mean": recv_mean,
            "light_blocks_received_max": recv_max,
            "light_blocks_accepted_mean": acc_mean,
            "light_blocks_published_mean": pub_mean,
            "all_topics_received_mean": all_recv_mean,
            "wire_bytes_in_mean": in_mean, "wire_bytes_in_max": in_max,
            "wire_bytes_out_mean": out_mean, "wire_bytes_out_max": out_max,
            "payload_bytes_in_estimate_mean": payload_mean,
            "light_block_bytes": light_block_bytes,
            "envelope_bytes": envelope_bytes,
        },
        "load": {
            "queries": trips.len(),
            "answered": answered,
            "queries_per_chain": args.queries_per_chain,
            "batch": args.batch,
            "interval_ms": args.interval.as_millis(),
            "seconds": load_wall.as_secs_f64(),
            "queries_per_second": qps,
            "round_trip_p50_ms": ms(p50),
            "round_trip_p99_ms": ms(p99),
            "round_trip_max_ms": ms(max_trip),
            "mesh_handovers": handovers,
            "mesh_handover_mean_ms": handover_mean_ms,
        },
        "relayers_alive_at_end": alive,
        "target_rss_150mb_met": hwm_max * 1.048_576 <= 150.0,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "mesh: {n} chains ({} blocks) and {} relayer processes on one machine, \
             set up in {:.0} s; fewest peers of a relayer: {min_peers}",
            humantime::format_duration(args.block_time),
            relayers.len(),
            idle_started.duration_since(started).as_secs_f64()
        );
        println!(
            "relayer RSS (MiB, mean / max over relayers): connected {start_mean:.1} / {start_max:.1}; \
             idle {idle_mean:.1} / {idle_mean_max:.1} (peak sample {idle_peak:.1}); \
             load {load_mean:.1} / {load_mean_max:.1} (peak sample {load_peak:.1}); \
             after load {after_mean:.1} / {after_max:.1}; lifetime peak (VmHWM) {hwm_mean:.1} / {hwm_max:.1}"
        );
        println!(
            "  target ≤ 150 MB per relayer tracking {n} chains: {} (largest peak {:.0} MB)",
            if hwm_max * 1.048_576 <= 150.0 {
                "met"
            } else {
                "NOT met"
            },
            hwm_max * 1.048_576
        );
        println!(
            "relayer CPU (% of one core, mean / max): idle {idle_cpu_mean:.1} / {idle_cpu_max:.1}, \
             load {load_cpu_mean:.1} / {load_cpu_max:.1}; chain RSS {chain_rss_mean:.1} / {chain_rss_max:.1} MiB"
        );
        println!(
            "gossip per relayer per block (idle, {blocks:.0} blocks): {recv_mean:.1} light blocks received \
             (max {recv_max:.1}; {acc_mean:.1} accepted), {pub_mean:.2} published, {all_recv_mean:.1} messages of all topics"
        );
        println!(
            "  wire (TCP on the P2P connections, both directions counted apart): in {:.1} KiB (max {:.1}), \
             out {:.1} KiB (max {:.1}) per block = {:.1} KiB/s in",
            in_mean / 1024.0,
            in_max / 1024.0,
            out_mean / 1024.0,
            out_max / 1024.0,
            in_mean / 1024.0 / block_s
        );
        println!(
            "  payload estimate: {recv_mean:.1} × {envelope_bytes} B (light block {light_block_bytes} B + \
             envelope) = {:.1} KiB per block; wire / payload = {:.1}",
            payload_mean / 1024.0,
            in_mean / payload_mean.max(1.0)
        );
        println!(
            "load: {} queries ({answered} answered with verified records) in {:.1} s = {qps:.1} queries/s \
             across the mesh",
            trips.len(),
            load_wall.as_secs_f64()
        );
        println!(
            "  round trip (committed on the asker → answered on the answerer → acknowledged on the asker): \
             p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({:.1} / {:.1} block times)",
            ms(p50),
            ms(p99),
            ms(max_trip),
            p50.as_secs_f64() / block_s,
            p99.as_secs_f64() / block_s
        );
        println!(
            "  mesh handovers to a serving relayer: {handovers:.0}, mean round trip {handover_mean_ms:.1} ms"
        );
        if alive < relayers.len() {
            println!(
                "  {} relayer processes died (logs in {}/relayers)",
                relayers.len() - alive,
                dir.display()
            );
        }
    }
    drop(relayers);
    drop(chain_processes);
    Ok(ExitCode::SUCCESS)
}
