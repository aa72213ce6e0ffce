//! Building blocks of a local devnet: regional credit chains as separate
//! processes on loopback, the relayer's runtimes for them, on-chain light
//! clients of each other, the seed of a consent-backed credit query, the
//! query itself, and a relayer configuration for `relayer start --config`.
//!
//! `relayer devnet` is made of these, and so are the end-to-end tests, which
//! pass their binary (`env!("CARGO_BIN_EXE_relayer")`) as the executable that
//! runs `credit-chain start`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions, SubmitOutcome};
use anyhow::{Context, bail};
use credit_chain::app::auth::{public_key, sign_consent, sign_transaction};
use credit_chain::genesis::{InitOptions, SAMPLE_ENTERPRISES, init};
use credit_chain::keys::KeyFile;
use ed25519_dalek::SigningKey;
use light_clients::credit_chain::Options;
use protocol::tx::{ConsentGrant, LightClientParams, TxBody};
use protocol::{
    ChainId, CreditQuery, CreditRecord, Currency, DecryptionKey, EncryptionKey, EnterpriseId, Hash,
    Height, Money, RecordKind, RecordStatus, state_keys,
};
use sha2::{Digest, Sha256};

use crate::answers::EncryptionKeyFile;
use crate::clock::SystemClock;
use crate::engine::{ChainRuntime, wall_clock};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::trust::{Anchor, ChainTrust};

/// Chain ids of the devnet's regions, in order: the 34 provincial-level
/// regions (lowercase pinyin), the first eight as the devnet always had them.
pub const REGIONS: &[&str] = &[
    "shaanxi",
    "guangdong",
    "beijing",
    "shanghai",
    "sichuan",
    "zhejiang",
    "hubei",
    "henan",
    "tianjin",
    "hebei",
    "shanxi",
    "neimenggu",
    "liaoning",
    "jilin",
    "heilongjiang",
    "jiangsu",
    "anhui",
    "fujian",
    "jiangxi",
    "shandong",
    "hunan",
    "guangxi",
    "hainan",
    "chongqing",
    "guizhou",
    "yunnan",
    "xizang",
    "gansu",
    "qinghai",
    "ningxia",
    "xinjiang",
    "taiwan",
    "xianggang",
    "aomen",
];

/// The purpose of the devnet's consent and queries.
pub const PURPOSE: &str = "working capital loan";

/// The two loan records the seed writes: provider and amount (minor units).
pub const SEED_LOANS: [(&str, u64); 2] = [("provider-a", 300_000_000), ("provider-b", 120_000_000)];

/// A chain of the devnet: its id, home (keys) and RPC endpoints.
#[derive(Clone, Debug)]
pub struct DevChain {
    /// The chain id.
    pub id: ChainId,
    /// The node's home, with `keys/`.
    pub home: PathBuf,
    /// RPC endpoints, in the order the relayer tries them.
    pub rpc: Vec<String>,
    /// The RPC endpoint of the node the devnet started itself: where its
    /// trust anchor is read (tests may put other endpoints in `rpc`).
    pub node: String,
    /// The trust anchor, once read (shared by clones).
    anchor: Arc<OnceLock<Anchor>>,
    /// The agents of its data providers, started on first use (shared by
    /// clones).
    agents: ProviderAgents,
}

/// A data provider's agent as the devnet runs it: in this process, its
/// records in its own sled store under `DIR/providers/<chain>-<provider>`.
pub type DevAgent = provider::Agent<provider::SledRecords>;

/// The provider agents of one devnet chain, by provider.
#[derive(Clone, Default)]
struct ProviderAgents(Arc<std::sync::Mutex<std::collections::BTreeMap<String, RunningAgent>>>);

/// An agent and its task.
struct RunningAgent {
    agent: Arc<DevAgent>,
    task: tokio::task::AbortHandle,
}

impl std::fmt::Debug for ProviderAgents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .0
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        write!(f, "ProviderAgents({names:?})")
    }
}

impl DevChain {
    /// A chain whose node the devnet runs at `node` (its only endpoint).
    pub fn new(id: ChainId, home: PathBuf, node: String) -> DevChain {
        DevChain {
            id,
            home,
            rpc: vec![node.clone()],
            node,
            anchor: Arc::new(OnceLock::new()),
            agents: ProviderAgents::default(),
        }
    }

    /// Where provider `provider`'s agent keeps its records:
    /// `DIR/providers/<chain>-<provider>` beside the chain's home.
    pub fn provider_store(&self, provider: &str) -> PathBuf {
        let dir = self.home.parent().unwrap_or(&self.home);
        dir.join("providers")
            .join(format!("{}-{provider}", self.id))
    }

    /// The agent of data provider `provider` (its key `institutions/
    /// <provider>` of the home), started on first use: it follows the
    /// chain from then on in a task of the current runtime, answering the
    /// queries and aggregations that name it.
    pub fn provider_agent(&self, provider: &str) -> anyhow::Result<Arc<DevAgent>> {
        let mut agents = self
            .agents
            .0
            .lock()
            .map_err(|_| anyhow::anyhow!("the provider agents' lock is poisoned"))?;
        if let Some(running) = agents.get(provider) {
            return Ok(running.agent.clone());
        }
        let records = provider::SledRecords::open(&self.provider_store(provider))?;
        let anchor = self.anchor()?;
        let agent = provider::Agent::new(
            self.adapter()?,
            provider.parse()?,
            self.key(&format!("institutions/{provider}"))?,
            records,
            provider::HomeTrust::new(anchor.height, anchor.header_hash),
        )
        .with_poll_interval(Duration::from_millis(500));
        let agent = Arc::new(agent);
        let running = agent.clone();
        let (chain, name) = (self.id.clone(), provider.to_owned());
        let task = tokio::spawn(async move {
            if let Err(e) = running.run().await {
                tracing::error!(%chain, provider = %name, error = %e, "provider agent stopped");
            }
        })
        .abort_handle();
        agents.insert(
            provider.to_owned(),
            RunningAgent {
                agent: agent.clone(),
                task,
            },
        );
        Ok(agent)
    }

    /// Stops the chain's provider agents (before its process stops, so
    /// they do not log a vanished chain).
    pub fn stop_providers(&self) {
        if let Ok(mut agents) = self.agents.0.lock() {
            for (_, running) in std::mem::take(&mut *agents) {
                running.task.abort();
            }
        }
    }

    /// The chain's trust anchor: its first block, read from the node the
    /// devnet started itself (waiting, at most 30 s, until it is produced).
    /// The devnet is the operator of its chains, so this is the operator
    /// reading the anchor off its own node; a relayer's configuration
    /// then carries it, and no relayer ever takes it from an endpoint.
    /// Blocks the calling thread (the read runs on a thread of its own).
    pub fn anchor(&self) -> anyhow::Result<Anchor> {
        if let Some(anchor) = self.anchor.get() {
            return Ok(*anchor);
        }
        let (id, node) = (self.id.clone(), self.node.clone());
        let anchor = std::thread::spawn(move || -> anyhow::Result<Anchor> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                // Quietly wait for the node to serve block 1 (the adapter
                // would log every refused connection), then read it checked.
                let first = format!("{node}/light_block/1");
                let deadline = Instant::now() + Duration::from_secs(30);
                while !reqwest::get(&first)
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    if Instant::now() > deadline {
                        bail!("chain {id} produced no first block within 30 s");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let adapter =
                    CreditChainAdapter::new(id.clone(), vec![node], RpcOptions::default())?;
                Ok(Anchor::of(&adapter.light_block(Height::GENESIS).await?))
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("reading the trust anchor of {} panicked", self.id))??;
        Ok(*self.anchor.get_or_init(|| anchor))
    }

    /// What a runtime of this chain trusts: its [`DevChain::anchor`],
    /// default parameters, the system clock.
    pub fn trust(&self) -> anyhow::Result<ChainTrust> {
        Ok(ChainTrust {
            anchor: self.anchor()?,
            options: Options::default(),
            clock: SystemClock::shared(),
        })
    }

    /// The first RPC endpoint.
    pub fn url(&self) -> &str {
        self.rpc.first().map_or("", String::as_str)
    }

    /// The signing key `keys/<name>.json` of the home (e.g.
    /// `institutions/bank-a`, `governance`, `enterprises/<code>`).
    pub fn key(&self, name: &str) -> anyhow::Result<SigningKey> {
        key(&self.home, name)
    }

    /// Where requester `institution`'s encryption key file is kept:
    /// `keys/institutions/<institution>.encryption.json` of the home (the
    /// devnet plays every institution; a real requester keeps it itself).
    pub fn encryption_key_file(&self, institution: &str) -> PathBuf {
        self.home
            .join("keys/institutions")
            .join(format!("{institution}.encryption.json"))
    }

    /// Requester `institution`'s decryption key, created on first use.
    pub fn encryption_key(&self, institution: &str) -> anyhow::Result<DecryptionKey> {
        let path = self.encryption_key_file(institution);
        if path.exists() {
            return Ok(EncryptionKeyFile::read(&path)?.1);
        }
        let (file, key) = EncryptionKeyFile::generate(institution.parse()?, self.id.clone());
        file.write(&path)?;
        Ok(key)
    }

    /// An adapter over the chain's endpoints (5 s event-stream silence
    /// before polling).
    pub fn adapter(&self) -> anyhow::Result<Arc<dyn ChainAdapter>> {
        Ok(Arc::new(CreditChainAdapter::new(
            self.id.clone(),
            self.rpc.clone(),
            RpcOptions {
                silence_timeout: Duration::from_secs(5),
                ..RpcOptions::default()
            },
        )?))
    }

    /// A relayer runtime for the chain (signer: the home's
    /// `institutions/relayer`), over [`DevChain::adapter`].
    pub fn runtime(&self, store: &Store, metrics: &Metrics) -> anyhow::Result<Arc<ChainRuntime>> {
        Ok(Arc::new(ChainRuntime::new(
            self.id.clone(),
            self.adapter()?,
            self.key("institutions/relayer")?,
            self.trust()?,
            store.clone(),
            metrics.clone(),
        )))
    }
}

/// The signing key `keys/<name>.json` of a chain home.
pub fn key(home: &Path, name: &str) -> anyhow::Result<SigningKey> {
    KeyFile::read(&home.join("keys").join(format!("{name}.json")))?.signing_key()
}

/// A chain process; killed (and reaped) when dropped.
pub struct ChainProcess(pub Child);

impl Drop for ChainProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Makes the home `dir/<name>` of chain `name` (4 validators, blocks every
/// `block_time`) and starts `exe credit-chain start` on `127.0.0.1:port`,
/// its log in `dir/<name>.log`. Does not wait for it: see
/// [`wait_for_chain`].
pub fn start_chain(
    exe: &Path,
    dir: &Path,
    name: &str,
    block_time: Duration,
    port: u16,
) -> anyhow::Result<(DevChain, ChainProcess)> {
    let id: ChainId = name.parse()?;
    let home = dir.join(name);
    init(
        &home,
        &InitOptions {
            chain_id: id.clone(),
            validators: 4,
            block_time,
            genesis_time: wall_clock(),
        },
    )?;
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    let child = Command::new(exe)
        .args(["credit-chain", "start", "--home"])
        .arg(&home)
        .args(["--rpc", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start a chain process")?;
    Ok((
        DevChain::new(id, home, format!("http://127.0.0.1:{port}")),
        ChainProcess(child),
    ))
}

/// Stops the provider agents of its chains when dropped: held after the
/// chains' processes, so the agents stop first.
pub struct StopProvidersOnDrop(pub Vec<DevChain>);

impl Drop for StopProvidersOnDrop {
    fn drop(&mut self) {
        for chain in &self.0 {
            chain.stop_providers();
        }
    }
}

/// The first chains of [`REGIONS`] as processes, with a relayer runtime of
/// each over one store, once every chain answers.
pub struct Regions {
    /// The chains, in [`REGIONS`] order.
    pub chains: Vec<DevChain>,
    /// Their processes (killed when dropped).
    pub processes: Vec<ChainProcess>,
    /// A runtime per chain (signer: its `institutions/relayer` key).
    pub runtimes: Vec<Arc<ChainRuntime>>,
}

/// Starts the first `count` regions (chain `i` on `port_of(i)`, blocks
/// every `block_time`) under `dir` and waits until each answers; the
/// runtimes share `store` and `metrics`.
pub async fn start_regions(
    exe: &Path,
    dir: &Path,
    count: usize,
    block_time: Duration,
    port_of: impl Fn(usize) -> u16,
    store: &Store,
    metrics: &Metrics,
) -> anyhow::Result<Regions> {
    let mut regions = Regions {
        chains: Vec::new(),
        processes: Vec::new(),
        runtimes: Vec::new(),
    };
    for (i, name) in REGIONS.iter().take(count).enumerate() {
        let (chain, process) = start_chain(exe, dir, name, block_time, port_of(i))?;
        regions.chains.push(chain);
        regions.processes.push(process);
    }
    for chain in &regions.chains {
        let runtime = chain.runtime(store, metrics)?;
        wait_for_chain(runtime.adapter().as_ref()).await?;
        regions.runtimes.push(runtime);
    }
    Ok(regions)
}

/// Waits (at most 30 s) until the chain answers its status.
pub async fn wait_for_chain(adapter: &dyn ChainAdapter) -> anyhow::Result<()> {
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

/// Gives every chain an on-chain light client of every other chain,
/// anchored at its verified genesis block.
pub async fn create_clients(runtimes: &[Arc<ChainRuntime>]) -> anyhow::Result<()> {
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
    Ok(())
}

/// The next nonce of `key` on the adapter's chain.
pub async fn next_nonce(
    adapter: &dyn ChainAdapter,
    key: &protocol::PublicKey,
) -> anyhow::Result<u64> {
    let proven = adapter.state(&state_keys::nonce(key)).await?;
    Ok(match proven.value {
        Some(bytes) => borsh::from_slice::<u64>(&bytes)? + 1,
        None => 1,
    })
}

/// Signs `body` by `signer` with its next nonce, submits it and waits for
/// its commit; a refusal by the chain is an error with its code.
pub async fn submit(
    adapter: &dyn ChainAdapter,
    signer: &SigningKey,
    body: TxBody,
) -> anyhow::Result<SubmitOutcome> {
    let chain = adapter.chain_id().clone();
    let nonce = next_nonce(adapter, &public_key(signer)).await?;
    let outcome = adapter
        .submit(&sign_transaction(signer, chain.clone(), nonce, body))
        .await?;
    if !outcome.is_ok() {
        bail!(
            "on {chain}: code {} ({}): {}",
            outcome.code,
            outcome.codespace,
            outcome.message
        );
    }
    Ok(outcome)
}

/// An amount in the devnet's currency.
pub fn cny(minor_units: u64) -> Money {
    Money {
        minor_units,
        currency: Currency::CNY,
    }
}

/// Seeds the answering chain of the scenario: the [`SEED_LOANS`] of the
/// first sample enterprise, kept by their providers' agents (started
/// here: [`DevChain::provider_agent`]) and committed on the chain, and its
/// consent (a year, loans, [`PURPOSE`]) for
/// `asker`/bank-a. Returns the consent. Nothing is prepaid on the answering
/// chain: a query's fee is escrowed from bank-a's balance on the asking
/// chain (its genesis funds it) and paid to the providers there.
pub async fn seed_query_scenario(
    answerer: &DevChain,
    adapter: &dyn ChainAdapter,
    asker: &ChainId,
) -> anyhow::Result<ConsentGrant> {
    let enterprise: EnterpriseId = SAMPLE_ENTERPRISES[0].parse()?;
    // Each provider keeps its record itself; the chain gets its
    // commitment.
    for (provider, amount) in SEED_LOANS {
        answerer
            .provider_agent(provider)?
            .add_record(CreditRecord {
                enterprise: enterprise.clone(),
                kind: RecordKind::Loan,
                amount: cny(amount),
                start: "2026-02-01T00:00:00Z".parse()?,
                end: Some("2027-02-01T00:00:00Z".parse()?),
                status: RecordStatus::Active,
                provider: provider.parse()?,
                document_digest: None,
            })
            .await?;
    }
    let grant = ConsentGrant {
        chain_id: answerer.id.clone(),
        enterprise: enterprise.clone(),
        grantee_chain: asker.clone(),
        grantee: "bank-a".parse()?,
        scope: vec![RecordKind::Loan],
        purpose: PURPOSE.into(),
        expires_at: wall_clock()
            .checked_add(Duration::from_secs(365 * 24 * 3600))
            .context("time overflow")?,
        nonce: 1,
    };
    let enterprise_key = answerer.key(&format!("enterprises/{enterprise}"))?;
    submit(
        adapter,
        &enterprise_key,
        TxBody::GrantConsent {
            signature: sign_consent(&enterprise_key, &grant),
            grant: grant.clone(),
        },
    )
    .await?;
    Ok(grant)
}

/// A `send_credit_query` of bank-a to `destination` for the loans of
/// `enterprise` under consent `consent_id` ([`PURPOSE`], max fee 100 CNY,
/// timing out in 10 minutes), its answers sealed to `encryption_key`.
pub fn credit_query(
    destination: &ChainId,
    enterprise: &EnterpriseId,
    consent_id: Hash,
    encryption_key: EncryptionKey,
) -> TxBody {
    TxBody::SendCreditQuery {
        destination: destination.clone(),
        query: CreditQuery {
            requester: "bank-a".parse().expect("a valid institution id"),
            enterprise: enterprise.clone(),
            kinds: vec![RecordKind::Loan],
            purpose: PURPOSE.into(),
            consent_id,
            max_fee: cny(10_000),
            encryption_key,
        },
        timeout_height: None,
        timeout_time: wall_clock().checked_add(Duration::from_secs(600)),
    }
}

/// Registers requester `institution`'s encryption key
/// ([`DevChain::encryption_key`]) on `chain` unless the chain already holds
/// it (read with its proof); returns the public key its queries name.
pub async fn register_encryption_key(
    chain: &DevChain,
    adapter: &dyn ChainAdapter,
    institution: &str,
) -> anyhow::Result<EncryptionKey> {
    let public = chain.encryption_key(institution)?.public();
    let id: protocol::InstitutionId = institution.parse()?;
    let registered = adapter.state(&state_keys::encryption_key(&id)).await?;
    let current = registered
        .value
        .map(|bytes| borsh::from_slice::<EncryptionKey>(&bytes))
        .transpose()?;
    if current != Some(public) {
        submit(
            adapter,
            &chain.key(&format!("institutions/{institution}"))?,
            TxBody::RegisterEncryptionKey { key: public },
        )
        .await?;
    }
    Ok(public)
}

/// A record shown on one line: enterprise, kind, amount, status, provider,
/// start.
pub fn show_record(r: &CreditRecord) -> String {
    format!(
        "{} {:?} {}.{:02} {} {:?} from {} since {}",
        r.enterprise,
        r.kind,
        r.amount.minor_units / 100,
        r.amount.minor_units % 100,
        r.amount.currency,
        r.status,
        r.provider,
        r.start
    )
}

/// The packet sequence of a committed `send_credit_query`.
pub fn sent_sequence(outcome: &SubmitOutcome) -> anyhow::Result<u64> {
    outcome
        .events
        .iter()
        .find(|e| e.kind == "send_packet")
        .and_then(|e| e.get("sequence"))
        .and_then(|s| s.parse().ok())
        .context("send_packet event without a sequence")
}

/// bank-a of `asker` sends the consented [`credit_query`] of `grant` to
/// `destination`; returns the commit and the packet's sequence.
pub async fn send_query(
    asker: &DevChain,
    adapter: &dyn ChainAdapter,
    destination: &ChainId,
    grant: &ConsentGrant,
) -> anyhow::Result<(SubmitOutcome, u64)> {
    let key = register_encryption_key(asker, adapter, "bank-a").await?;
    let sent = submit(
        adapter,
        &asker.key("institutions/bank-a")?,
        credit_query(destination, &grant.enterprise, grant.id(), key),
    )
    .await?;
    let sequence = sent_sequence(&sent)?;
    Ok((sent, sequence))
}

/// The institutions of every devnet chain that get an integrator API token
/// (the sample bank and credit bureau: the institutions that may query).
pub const INTEGRATORS: &[&str] = &["bank-a", "bureau-a"];

/// The API token of integrator `institution` on `chain` in a devnet whose
/// operator token is `operator_token`: derived from it one way, so whoever
/// holds the operator token can print every integrator's, and an
/// integrator's token tells nothing of another's or of the operator's.
pub fn integrator_token(operator_token: &str, institution: &str, chain: &ChainId) -> String {
    let digest = Sha256::digest(format!(
        "devnet-integrator/{operator_token}/{institution}@{chain}"
    ));
    hex::encode(&digest[..16])
}

/// What a generated relayer configuration sets beyond the chains.
#[derive(Clone, Debug)]
pub struct RelayerConfig {
    /// The relayer's store directory.
    pub store: PathBuf,
    /// Where the integrator API listens, if enabled.
    pub api: Option<SocketAddr>,
    /// The API's operator token (its SHA-256 is written), when the API is
    /// on; each chain's [`INTEGRATORS`] get a token derived from it
    /// ([`integrator_token`]).
    pub api_token: String,
    /// Where `/metrics` is served, if enabled.
    pub telemetry: Option<SocketAddr>,
    /// `relay.batch_size`.
    pub batch_size: usize,
    /// `relay.clear_interval`.
    pub clear_interval: Duration,
    /// `relay.poll_interval`.
    pub poll_interval: Duration,
    /// `[network]`, for a relayer in the mesh (then only the chains it
    /// serves are `[[chains]]`; the others are reached through the mesh).
    pub mesh: Option<MeshMember>,
}

/// `{ height = H, hash = "HEX" }`, a config's `trust_anchor`.
pub fn anchor_toml(anchor: &Anchor) -> String {
    format!(
        "{{ height = {}, hash = \"{}\" }}",
        anchor.height, anchor.header_hash
    )
}

/// A relayer's place in the devnet's mesh.
#[derive(Clone, Debug)]
pub struct MeshMember {
    /// Its operator key file.
    pub identity_key: PathBuf,
    /// Its listen multiaddr.
    pub listen: String,
    /// Other relayers' multiaddrs (ending `/p2p/<peer id>`).
    pub bootstrap: Vec<String>,
    /// The chains other relayers serve, with their trust anchors and the
    /// peer ids serving them.
    pub chains: Vec<(ChainId, Anchor, Vec<String>)>,
    /// Governance keys (hex) and threshold, if runtime registration is on.
    pub governance: Option<(Vec<String>, usize)>,
    /// Peer ids admitted besides the serving relayers (`admitted`).
    pub admitted: Vec<String>,
    /// The regulator's public key (hex), admitted read-only (`regulator`).
    pub regulator: Option<String>,
    /// Where the relayer appends every mesh message it receives
    /// (`capture`), if anywhere.
    pub capture: Option<PathBuf>,
}

impl RelayerConfig {
    /// Defaults for a store at `store`: API and telemetry off, batches of
    /// 100, clearing every 2 s, polling every 200 ms.
    pub fn new(store: PathBuf) -> RelayerConfig {
        RelayerConfig {
            store,
            api: None,
            api_token: "devnet-token".into(),
            telemetry: None,
            batch_size: 100,
            clear_interval: Duration::from_secs(2),
            poll_interval: Duration::from_millis(200),
            mesh: None,
        }
    }

    /// The TOML of a relayer for `chains`, relayed pairwise, every packet
    /// allowed; signers are each home's `institutions/relayer` key.
    pub fn toml(&self, chains: &[DevChain]) -> anyhow::Result<String> {
        let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let duration = |d: Duration| quote(&humantime::format_duration(d).to_string());
        let mut out = String::new();
        let _ = writeln!(out, "[global]\nlog_level = \"info\"\n");
        let _ = writeln!(
            out,
            "[store]\npath = {}\n",
            quote(&self.store.to_string_lossy())
        );
        let _ = writeln!(
            out,
            "[api]\nenabled = {}\nlisten = {}\n",
            self.api.is_some(),
            quote(&self.api.map_or("127.0.0.1:3000".into(), |a| a.to_string()))
        );
        let digest = hex::encode(Sha256::digest(self.api_token.as_bytes()));
        let _ = writeln!(
            out,
            "[[api.tokens]]\nname = \"devnet\"\nsha256 = \"{digest}\"\nrole = \"operator\"\n"
        );
        for c in chains {
            for institution in INTEGRATORS {
                let token = integrator_token(&self.api_token, institution, &c.id);
                let digest = hex::encode(Sha256::digest(token.as_bytes()));
                let _ = writeln!(
                    out,
                    "[[api.tokens]]\nname = \"{institution}@{}\"\nsha256 = \"{digest}\"\n\
                     role = \"integrator\"\ninstitution = \"{institution}@{}\"\n",
                    c.id, c.id
                );
            }
        }
        let _ = writeln!(
            out,
            "[telemetry]\nenabled = {}\nlisten = {}\n",
            self.telemetry.is_some(),
            quote(
                &self
                    .telemetry
                    .map_or("127.0.0.1:3001".into(), |a| a.to_string())
            )
        );
        let _ = writeln!(
            out,
            "[relay]\nclear_interval = {}\nbatch_size = {}\npoll_interval = {}\n",
            duration(self.clear_interval),
            self.batch_size,
            duration(self.poll_interval)
        );
        for c in chains {
            let rpc: Vec<String> = c.rpc.iter().map(|u| quote(u)).collect();
            let signer = c.home.join("keys/institutions/relayer.json");
            let anchor = c.anchor()?;
            let _ = writeln!(
                out,
                "[[chains]]\nid = \"{}\"\ntype = \"credit-chain\"\nrpc = [{}]\nsigner_key = {}\n\
                 trust_threshold = \"1/3\"\ntrusting_period = \"14d\"\nclock_drift = \"10s\"\n\
                 rpc_timeout = \"5s\"\ntrust_anchor = {}\n",
                c.id,
                rpc.join(", "),
                quote(&signer.to_string_lossy()),
                anchor_toml(&anchor)
            );
        }
        for (i, a) in chains.iter().enumerate() {
            for b in &chains[i + 1..] {
                let _ = writeln!(out, "[[paths]]\na = \"{}\"\nb = \"{}\"\n", a.id, b.id);
            }
        }
        out.push_str("[packet_filter]\ndefault = \"allow\"\n");
        if let Some(mesh) = &self.mesh {
            let list = |items: &[String]| {
                items
                    .iter()
                    .map(|s| quote(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "\n[network]\nlisten = [{}]\nidentity_key = {}\nbootstrap = [{}]\nadmitted = [{}]\n",
                quote(&mesh.listen),
                quote(&mesh.identity_key.to_string_lossy()),
                list(&mesh.bootstrap),
                list(&mesh.admitted)
            );
            if let Some(regulator) = &mesh.regulator {
                // Still in [network]: the tables below follow it.
                out.truncate(out.trim_end().len());
                let _ = writeln!(out, "\nregulator = {}\n", quote(regulator));
            }
            if let Some(capture) = &mesh.capture {
                out.truncate(out.trim_end().len());
                let _ = writeln!(out, "\ncapture = {}\n", quote(&capture.to_string_lossy()));
            }
            if let Some((keys, threshold)) = &mesh.governance {
                let _ = writeln!(
                    out,
                    "[network.governance]\nkeys = [{}]\nthreshold = {threshold}\n",
                    list(keys)
                );
            }
            for (id, anchor, relayers) in &mesh.chains {
                let _ = writeln!(
                    out,
                    "[[network.chains]]\nid = \"{id}\"\nrelayers = [{}]\ntrust_anchor = {}\n",
                    list(relayers),
                    anchor_toml(anchor)
                );
            }
        }
        Ok(out)
    }

    /// Writes [`RelayerConfig::toml`] to `path`.
    pub fn write(&self, path: &Path, chains: &[DevChain]) -> anyhow::Result<()> {
        std::fs::write(path, self.toml(chains)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}
