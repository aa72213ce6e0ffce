//! The provider agent: commits records it keeps, follows its chain, and
//! answers what the chain asks of it.
//!
//! # What it follows
//!
//! The agent reads its home chain's packet events from its last processed
//! height ([`ChainAdapter::packet_events`]): `recv_packet` (which every
//! received packet emits, with its source and sequence) and, where the
//! chain serves them, `query_requested` and `aggregation_requested`. Each
//! names a received packet; what the agent does for it is decided by the
//! chain's state only, never by the event: a [`PendingQuery`] under
//! `pending_query(source, sequence)` it is expected in, or a
//! [`PendingAggregation`] under `pending_aggregation(source, sequence)`.
//! Events are hints of where to look.
//!
//! # Trust
//!
//! Every value the agent acts on (pending queries and aggregations, its
//! commitments, its nonce) is read from its home chain only, with its
//! Merkle proof checked against a block its light client verified from the
//! operator's anchor ([`HomeTrust`], see [`crate::trust`]). An endpoint
//! serving a chain that does not verify (another validator set naming its
//! own key in a pending query, say) is refused by name
//! ([`Error::Untrusted`], logged with the chain, height and why), nothing
//! it served is acted on, and the agent keeps its place and keeps running:
//! the same blocks are read again, from whichever endpoint serves the
//! verified chain.
//!
//! # Queries
//!
//! For a pending query naming this provider and not answered by it yet:
//! the records of the expected digests, in the chain's order, from the
//! [`RecordSource`], sealed to the query's key ([`seal_answer`]) and sent
//! as `answer_query`. A digest the source does not hold is logged by name
//! and the query is not answered at all (the chain then lists this
//! provider as missing at the deadline): a partial answer is never sealed.
//!
//! # Aggregations
//!
//! The chain's [`PendingAggregation`] holds the request as received (its
//! id, enterprise, record kinds, key and deadline), so the agent reads it
//! from its home chain alone, never from the asking chain. For one that
//! expects this provider and has no contribution of it yet, the sum covers
//! exactly the records the chain has committed for this provider about the
//! enterprise of the kinds asked (read from the chain, so the same
//! selection as the chain's expected providers), each found in the source
//! and matching its commitment.
//!
//! # Restarts
//!
//! The last height processed and the packets handled are kept in the
//! record source. A packet already handled is skipped; one whose pending
//! query already holds this provider's answer is skipped too (the chain
//! refuses a second answer anyway). A transient failure (chain or store
//! unreachable) leaves the height where it was, so the same blocks are
//! read again.
//!
//! Logs name chains, sequences, providers and digests; never an amount or
//! a record.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use adapters::ChainAdapter;
use ed25519_dalek::SigningKey;
use protocol::sealed::{PendingQuery, seal_answer};
use protocol::tx::{SignedTransaction, TxBody};
use protocol::{
    ChainId, CreditRecord, EnterpriseId, InstitutionId, PendingAggregation, RecordCommitment,
    RecordKind, SaltedRecord, SealedAnswer, Time, state_keys,
};
use tokio_stream::StreamExt;

use crate::Error;
use crate::contribution::{contribution_context, sum_fen};
use crate::records::RecordSource;
use crate::signer::{public_key, sign_transaction};
use crate::trust::{Clock, HomeClient, HomeTrust, SystemClock, VerifiedStates};

/// The event kinds that name a received packet the agent may have to act
/// on.
pub const FOLLOWED_EVENTS: [&str; 3] = ["recv_packet", "query_requested", "aggregation_requested"];

/// The most packets whose pending state one verified read fetches (two
/// keys each).
pub const MAX_TASKS_PER_READ: usize = 1_000;

/// The most transactions the agent sends in one batch.
pub const MAX_TXS_PER_BATCH: usize = 500;

/// A transaction prepared for a packet, sent with the others of its page.
struct Planned {
    task: Task,
    what: &'static str,
    body: TxBody,
    /// The packet's outcome once it is committed.
    outcome: Outcome,
}

/// The most pages of events one [`Agent::sync`] reads (each page is up to
/// the node's limit of events); the rest is read by the next call.
pub const MAX_PAGES_PER_SYNC: usize = 64;

/// A received packet the agent looks at: the asking chain and the
/// packet's sequence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Task {
    /// The asking chain.
    pub source: ChainId,
    /// The packet's sequence.
    pub sequence: u64,
}

impl Task {
    /// The key under which the record source remembers it was handled.
    pub fn key(&self) -> String {
        format!("{}/{:020}", self.source, self.sequence)
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.source, self.sequence)
    }
}

/// What the agent did about one [`Task`].
#[derive(Debug)]
pub enum Outcome {
    /// It answered the query with this many records.
    Answered {
        /// Records sealed.
        records: usize,
    },
    /// It contributed to the aggregation, summing this many records.
    Contributed {
        /// Records summed.
        records: u32,
    },
    /// Handled before (by this agent or, for a query, an answer already on
    /// the chain).
    AlreadyHandled,
    /// Nothing pending under this packet (not a query or aggregation, or
    /// already finalized).
    NothingPending,
    /// Pending, but this provider is not expected to answer.
    NotExpected,
    /// The deadline had passed (block time of the state read).
    TooLate,
    /// Not answered, for the reason given (logged as an error): a missing
    /// or unfit record, a refusal by the chain, a pending value that does
    /// not decode.
    Declined(Error),
}

/// What one [`Agent::sync`] did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// The height processed up to (and remembered).
    pub height: u64,
    /// Each packet looked at, with what was done.
    pub outcomes: Vec<(Task, Outcome)>,
}

/// What [`Agent::import`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Records committed by this run.
    pub committed: usize,
    /// Records found stored and committed already.
    pub already: usize,
}

/// A data provider's agent on its home chain; see the [module docs](self).
pub struct Agent<S> {
    chain: Arc<dyn ChainAdapter>,
    /// The light client every value read from `chain` is verified with.
    trusted: HomeClient,
    institution: InstitutionId,
    key: SigningKey,
    records: S,
    /// One transaction at a time: each takes the next nonce from the chain.
    submitting: tokio::sync::Mutex<()>,
    poll: Duration,
}

impl<S: RecordSource> Agent<S> {
    /// The agent of `institution`, signing with `key`, on the chain of
    /// `chain`, keeping its records in `records`, trusting the chain from
    /// the operator's anchor `trust` only (see the [module docs](self)).
    pub fn new(
        chain: Arc<dyn ChainAdapter>,
        institution: InstitutionId,
        key: SigningKey,
        records: S,
        trust: HomeTrust,
    ) -> Agent<S> {
        let trusted = HomeClient::new(chain.chain_id().clone(), trust, Arc::new(SystemClock));
        Agent {
            chain,
            trusted,
            institution,
            key,
            records,
            submitting: tokio::sync::Mutex::new(()),
            poll: Duration::from_secs(5),
        }
    }

    /// The clock the light client reads "now" from (default: the system's).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Agent<S> {
        self.trusted.set_clock(clock);
        self
    }

    /// The operator's anchor the agent trusts its chain from.
    pub fn trust(&self) -> &HomeTrust {
        self.trusted.trust()
    }

    /// How long [`Agent::run`] waits for a new block before looking again
    /// anyway (default 5 s): a safety net under the block stream.
    pub fn with_poll_interval(mut self, poll: Duration) -> Agent<S> {
        self.poll = poll;
        self
    }

    /// The book of records.
    pub fn records(&self) -> &S {
        &self.records
    }

    /// The agent's institution.
    pub fn institution(&self) -> &InstitutionId {
        &self.institution
    }

    fn home(&self) -> &ChainId {
        self.chain.chain_id()
    }

    fn adapter_error(chain: &ChainId) -> impl Fn(adapters::AdapterError) -> Error + '_ {
        move |source| Error::Adapter {
            chain: chain.clone(),
            source: Box::new(source),
        }
    }

    /// The values under `keys` at the home chain's latest height, each
    /// proven against a block the light client verified.
    pub async fn read(&self, keys: &[Vec<u8>]) -> Result<VerifiedStates, Error> {
        self.trusted.states(self.chain.as_ref(), keys).await
    }

    /// Salts `record`, stores it, then commits it on the chain: stored
    /// first, so that a crash never leaves a commitment without its record
    /// (a record stored and not committed is only never asked for).
    pub async fn add_record(&self, record: CreditRecord) -> Result<RecordCommitment, Error> {
        if record.provider != self.institution {
            return Err(Error::ForeignRecord {
                expected: self.institution.clone(),
                found: record.provider,
            });
        }
        let salted = SaltedRecord::new(record, &mut rand::rngs::OsRng);
        self.add_salted(&salted).await
    }

    /// Stores and commits an already salted record (an import that keeps
    /// its salts). Storing again a record already stored is a no-op; the
    /// commitment is sent each time.
    pub async fn add_salted(&self, salted: &SaltedRecord) -> Result<RecordCommitment, Error> {
        if salted.record.provider != self.institution {
            return Err(Error::ForeignRecord {
                expected: self.institution.clone(),
                found: salted.record.provider.clone(),
            });
        }
        let commitment = salted.commitment();
        self.records.put(salted).await?;
        tracing::debug!(digest = %commitment.digest, enterprise = %commitment.enterprise, "record stored");
        self.submit(
            "commit_record",
            TxBody::CommitRecord {
                commitment: commitment.clone(),
            },
        )
        .await?;
        tracing::info!(
            chain = %self.home(),
            digest = %commitment.digest,
            enterprise = %commitment.enterprise,
            "record committed"
        );
        Ok(commitment)
    }

    /// Imports plaintext records (a migration from a chain that kept them
    /// in its state): salts, stores and commits each. Safe to run again on
    /// the same list: the `n`-th copy of a record already stored `n` times
    /// is not stored again, and is committed only if its commitment is not
    /// on the chain yet (a previous run stopped between storing and
    /// committing). Stops at the first failure; what came before stands.
    pub async fn import(&self, records: &[CreditRecord]) -> Result<ImportReport, Error> {
        let mut report = ImportReport::default();
        let mut occurrences: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        let mut committed: BTreeMap<EnterpriseId, BTreeSet<protocol::Hash>> = BTreeMap::new();
        let all_kinds = [
            RecordKind::Loan,
            RecordKind::Repayment,
            RecordKind::Overdue,
            RecordKind::Tax,
            RecordKind::Utility,
            RecordKind::Judgement,
        ];
        for record in records {
            if record.provider != self.institution {
                return Err(Error::ForeignRecord {
                    expected: self.institution.clone(),
                    found: record.provider.clone(),
                });
            }
            let seen = occurrences
                .entry(borsh::to_vec(record).unwrap_or_default())
                .or_insert(0);
            let occurrence = *seen;
            *seen += 1;
            let mut stored: Vec<SaltedRecord> = self
                .records
                .list(&record.enterprise, &[record.kind])
                .await?
                .into_iter()
                .filter(|s| s.record == *record)
                .collect();
            stored.sort_by_key(|s| s.commitment().digest);
            let Some(salted) = stored.into_iter().nth(occurrence) else {
                self.add_record(record.clone()).await?;
                report.committed += 1;
                continue;
            };
            // Read once per enterprise, when a stored record may be
            // committed already; what this run commits is not in it, but
            // this run never meets its own records here (occurrences).
            if !committed.contains_key(&record.enterprise) {
                let on_chain = self.committed(&record.enterprise, &all_kinds).await?;
                committed.insert(
                    record.enterprise.clone(),
                    on_chain.into_iter().map(|c| c.digest).collect(),
                );
            }
            let digest = salted.commitment().digest;
            if committed
                .get(&record.enterprise)
                .is_some_and(|set| set.contains(&digest))
            {
                report.already += 1;
            } else {
                self.add_salted(&salted).await?;
                report.committed += 1;
            }
        }
        Ok(report)
    }

    /// The sender's next nonce, read from verified state.
    async fn next_nonce(&self) -> Result<u64, Error> {
        let home = self.home().clone();
        let nonce_key = state_keys::nonce(&public_key(&self.key));
        let verified = self.read(std::slice::from_ref(&nonce_key)).await?;
        Ok(match verified.values.into_iter().next().flatten() {
            None => 1,
            Some(bytes) => {
                let last: u64 = borsh::from_slice(&bytes).map_err(|e| Error::ChainValue {
                    chain: home.clone(),
                    key: state_keys::show(&nonce_key),
                    reason: e.to_string(),
                })?;
                last.saturating_add(1)
            }
        })
    }

    /// Signs `body` with the sender's next nonce (read from the chain),
    /// submits it and waits for its commit; a refusal is an error.
    async fn submit(&self, what: &'static str, body: TxBody) -> Result<(), Error> {
        let _one_at_a_time = self.submitting.lock().await;
        let home = self.home().clone();
        let nonce = self.next_nonce().await?;
        let tx: SignedTransaction = sign_transaction(&self.key, home.clone(), nonce, body);
        let outcome = self
            .chain
            .submit(&tx)
            .await
            .map_err(Self::adapter_error(&home))?;
        if !outcome.is_ok() {
            return Err(Error::Refused {
                chain: home,
                what,
                code: outcome.code,
                codespace: outcome.codespace,
                message: outcome.message,
            });
        }
        Ok(())
    }

    /// Sends the planned transactions as batches with consecutive nonces
    /// (one block where they fit: answering a page of queries costs a
    /// block, not a block per query) and marks each committed packet
    /// handled. A refusal is that packet's error; a transaction whose fate
    /// the endpoint did not report makes the whole call fail transiently
    /// (the packets are read again, and the chain's state says which were
    /// answered).
    async fn send_planned(
        &self,
        plan: Vec<Planned>,
    ) -> Result<Vec<(Task, Result<Outcome, Error>)>, Error> {
        let mut out = Vec::with_capacity(plan.len());
        if plan.is_empty() {
            return Ok(out);
        }
        let _one_at_a_time = self.submitting.lock().await;
        let home = self.home().clone();
        let mut unknown = None;
        let mut plan = plan.into_iter().peekable();
        while plan.peek().is_some() {
            let chunk: Vec<Planned> = plan.by_ref().take(MAX_TXS_PER_BATCH).collect();
            let nonce = self.next_nonce().await?;
            let txs: Vec<SignedTransaction> = chunk
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    sign_transaction(&self.key, home.clone(), nonce + i as u64, p.body.clone())
                })
                .collect();
            let outcomes = self
                .chain
                .submit_batch(&txs)
                .await
                .map_err(Self::adapter_error(&home))?;
            for (p, outcome) in chunk.into_iter().zip(outcomes) {
                let result = match outcome {
                    Ok(o) if o.is_ok() => {
                        self.records.mark_handled(&p.task.key()).await?;
                        match &p.outcome {
                            Outcome::Answered { records } => {
                                tracing::info!(packet = %p.task, records, "query answered")
                            }
                            Outcome::Contributed { records } => {
                                tracing::info!(packet = %p.task, records, "contributed")
                            }
                            _ => {}
                        }
                        Ok(p.outcome)
                    }
                    Ok(o) => Err(Error::Refused {
                        chain: home.clone(),
                        what: p.what,
                        code: o.code,
                        codespace: o.codespace,
                        message: o.message,
                    }),
                    Err(reason) => {
                        unknown = Some(Error::Unsent {
                            chain: home.clone(),
                            what: p.what,
                            reason,
                        });
                        continue;
                    }
                };
                out.push((p.task, result));
            }
        }
        match unknown {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Follows the chain forever: [`Agent::sync`] at every new block (and
    /// at least every poll interval). Transient failures are logged and
    /// retried; returns only on a failure of the agent's own store.
    pub async fn run(&self) -> Result<(), Error> {
        let mut blocks = self.chain.block_stream();
        loop {
            match self.sync().await {
                Ok(report) => {
                    if !report.outcomes.is_empty() {
                        tracing::debug!(
                            height = report.height,
                            packets = report.outcomes.len(),
                            "processed"
                        );
                    }
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "will retry from the last processed height");
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                _ = blocks.next() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// Processes the blocks after the last processed height, up to the
    /// chain's latest (at most [`MAX_PAGES_PER_SYNC`] pages of events), and
    /// remembers how far it got. Errs only on a transient failure (nothing
    /// after the last complete page is remembered) or a corrupt progress
    /// value; what went wrong with one packet is in its [`Outcome`].
    pub async fn sync(&self) -> Result<SyncReport, Error> {
        let home = self.home().clone();
        let mut report = SyncReport {
            height: self.records.last_height().await?,
            outcomes: Vec::new(),
        };
        for _ in 0..MAX_PAGES_PER_SYNC {
            let page = self
                .chain
                .packet_events(report.height)
                .await
                .map_err(Self::adapter_error(&home))?;
            let mut seen = BTreeSet::new();
            let tasks: Vec<Task> = page
                .events
                .iter()
                .filter_map(|event| self.task_of(&event.event))
                .filter(|task| seen.insert(task.clone()))
                .collect();
            for (task, result) in self.handle_all(&tasks).await? {
                let outcome = match result {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        tracing::error!(packet = %task, error = %e, "not answered");
                        Outcome::Declined(e)
                    }
                };
                report.outcomes.push((task, outcome));
            }
            if page.scanned_to > report.height {
                self.records.set_last_height(page.scanned_to).await?;
                report.height = page.scanned_to;
            }
            if page.scanned_to >= page.latest_height {
                break;
            }
        }
        Ok(report)
    }

    /// The packet an event names, if it is one the agent follows and is
    /// for this chain.
    fn task_of(&self, event: &adapters::ChainEvent) -> Option<Task> {
        if !FOLLOWED_EVENTS.contains(&event.kind.as_str()) {
            return None;
        }
        if event
            .get("destination")
            .is_some_and(|d| d != self.home().as_str())
        {
            return None;
        }
        let source = event.get("source")?.parse().ok()?;
        let sequence = event.get("sequence")?.parse().ok()?;
        Some(Task { source, sequence })
    }

    /// Does what the chain's state asks of this provider for `task`, once.
    /// An `Err` is not handled (and not remembered as handled).
    pub async fn handle(&self, task: &Task) -> Result<Outcome, Error> {
        let mut results = self.handle_all(std::slice::from_ref(task)).await?;
        match results.pop() {
            Some((_, result)) => result,
            None => Ok(Outcome::NothingPending),
        }
    }

    /// [`Agent::handle`] for many packets: their pending state read at one
    /// height (in pieces of [`MAX_TASKS_PER_READ`]), their transactions
    /// sent together. The outer `Err` is transient (nothing of it is
    /// remembered: read again); each packet's own failure is in its entry.
    pub async fn handle_all(
        &self,
        tasks: &[Task],
    ) -> Result<Vec<(Task, Result<Outcome, Error>)>, Error> {
        let mut results = Vec::with_capacity(tasks.len());
        let mut todo = Vec::with_capacity(tasks.len());
        for task in tasks {
            if self.records.is_handled(&task.key()).await? {
                results.push((task.clone(), Ok(Outcome::AlreadyHandled)));
            } else {
                todo.push(task.clone());
            }
        }
        let mut plan = Vec::new();
        for chunk in todo.chunks(MAX_TASKS_PER_READ) {
            let keys: Vec<Vec<u8>> = chunk
                .iter()
                .flat_map(|t| {
                    [
                        state_keys::pending_query(&t.source, t.sequence),
                        state_keys::pending_aggregation(&t.source, t.sequence),
                    ]
                })
                .collect();
            let verified = self.read(&keys).await?;
            // The chain's clock, which its deadlines are measured on.
            let now = verified.time;
            for (i, task) in chunk.iter().enumerate() {
                let value = |j: usize| verified.values.get(2 * i + j).cloned().flatten();
                let prepared = self
                    .prepare(
                        task,
                        value(0),
                        value(1),
                        &keys[2 * i..2 * i + 2],
                        now,
                        &mut plan,
                    )
                    .await;
                let outcome = match prepared {
                    // Planned: its result comes with the batch.
                    Ok(None) => continue,
                    Ok(Some(outcome)) => outcome,
                    Err(e) if e.is_transient() => return Err(e),
                    Err(e) => {
                        results.push((task.clone(), Err(e)));
                        continue;
                    }
                };
                match outcome {
                    Outcome::AlreadyHandled | Outcome::NotExpected | Outcome::TooLate => {
                        self.records.mark_handled(&task.key()).await?
                    }
                    _ => {}
                }
                results.push((task.clone(), Ok(outcome)));
            }
        }
        results.extend(self.send_planned(plan).await?);
        Ok(results)
    }

    /// What to do for `task` given its pending query (`query`) or
    /// aggregation (`aggregation`) values under `keys`: an outcome now, or
    /// `None` when a transaction was added to `plan`.
    async fn prepare(
        &self,
        task: &Task,
        query: Option<Vec<u8>>,
        aggregation: Option<Vec<u8>>,
        keys: &[Vec<u8>],
        now: Time,
        plan: &mut Vec<Planned>,
    ) -> Result<Option<Outcome>, Error> {
        let home = self.home().clone();
        let undecodable = |i: usize, e: std::io::Error| Error::ChainValue {
            chain: home.clone(),
            key: state_keys::show(&keys[i]),
            reason: e.to_string(),
        };
        if let Some(bytes) = query {
            let pending: PendingQuery = borsh::from_slice(&bytes).map_err(|e| undecodable(0, e))?;
            self.answer(task, &pending, now, plan).await
        } else if let Some(bytes) = aggregation {
            let pending: PendingAggregation =
                borsh::from_slice(&bytes).map_err(|e| undecodable(1, e))?;
            self.contribute(task, &pending, now, plan).await
        } else {
            Ok(Some(Outcome::NothingPending))
        }
    }

    async fn answer(
        &self,
        task: &Task,
        pending: &PendingQuery,
        now: Time,
        plan: &mut Vec<Planned>,
    ) -> Result<Option<Outcome>, Error> {
        let me = &self.institution;
        if !pending.expected.iter().any(|e| e.provider == *me) {
            return Ok(Some(Outcome::NotExpected));
        }
        if pending.answers.iter().any(|a| a.provider == *me) {
            tracing::info!(packet = %task, "already answered on the chain");
            return Ok(Some(Outcome::AlreadyHandled));
        }
        if now >= pending.deadline {
            tracing::warn!(packet = %task, deadline = %pending.deadline, "query deadline passed");
            return Ok(Some(Outcome::TooLate));
        }
        let Some(answer) = sealed_answer(&self.records, me, pending).await? else {
            return Ok(Some(Outcome::NotExpected));
        };
        let records = answer.commitments.len();
        tracing::debug!(packet = %task, records, "answer sealed");
        plan.push(Planned {
            task: task.clone(),
            what: "answer_query",
            body: TxBody::AnswerQuery {
                source: task.source.clone(),
                sequence: task.sequence,
                answer,
            },
            outcome: Outcome::Answered { records },
        });
        Ok(None)
    }

    /// This provider's commitments on the chain about `enterprise` of one
    /// of `kinds`, in the chain's order, read from proven state.
    pub async fn committed(
        &self,
        enterprise: &EnterpriseId,
        kinds: &[RecordKind],
    ) -> Result<Vec<RecordCommitment>, Error> {
        let home = self.home().clone();
        let me = &self.institution;
        let seq_key = state_keys::record_sequence(enterprise, me);
        let chain_value = |key: &[u8], reason: String| Error::ChainValue {
            chain: home.clone(),
            key: state_keys::show(key),
            reason,
        };
        let next = match self
            .read(std::slice::from_ref(&seq_key))
            .await?
            .values
            .into_iter()
            .next()
            .flatten()
        {
            None => 1,
            Some(bytes) => borsh::from_slice::<u64>(&bytes)
                .map_err(|e| chain_value(&seq_key, e.to_string()))?,
        };
        let count = next.saturating_sub(1);
        if count > protocol::sealed::MAX_RECORDS_PER_ANSWER as u64 {
            return Err(chain_value(
                &seq_key,
                format!(
                    "{count} commitments, more than the chain allows ({})",
                    protocol::sealed::MAX_RECORDS_PER_ANSWER
                ),
            ));
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        let keys: Vec<Vec<u8>> = (1..next)
            .map(|seq| state_keys::record(enterprise, me, seq))
            .collect();
        let verified = self.read(&keys).await?;
        let mut out = Vec::new();
        for (key, value) in keys.iter().zip(&verified.values) {
            let Some(bytes) = value else { continue };
            let c: RecordCommitment =
                borsh::from_slice(bytes).map_err(|e| chain_value(key, e.to_string()))?;
            if c.provider == *me && c.enterprise == *enterprise && kinds.contains(&c.kind) {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn contribute(
        &self,
        task: &Task,
        pending: &PendingAggregation,
        now: Time,
        plan: &mut Vec<Planned>,
    ) -> Result<Option<Outcome>, Error> {
        if pending.source != task.source || pending.sequence != task.sequence {
            return Err(Error::ChainValue {
                chain: self.home().clone(),
                key: state_keys::show(&state_keys::pending_aggregation(
                    &task.source,
                    task.sequence,
                )),
                reason: format!(
                    "the pending aggregation is of packet {}/{}",
                    pending.source, pending.sequence
                ),
            });
        }
        let me = &self.institution;
        if !pending.expected.contains(me) {
            return Ok(Some(Outcome::NotExpected));
        }
        if pending.contributed.contains(me) {
            tracing::info!(packet = %task, "already contributed on the chain");
            return Ok(Some(Outcome::AlreadyHandled));
        }
        let request = &pending.request;
        if now >= pending.deadline() {
            tracing::warn!(packet = %task, deadline = %pending.deadline(), "aggregation deadline passed");
            return Ok(Some(Outcome::TooLate));
        }
        let committed = self.committed(&request.enterprise, &request.kinds).await?;
        if committed.is_empty() {
            return Ok(Some(Outcome::NotExpected));
        }
        let what = format!("aggregation {} ({task})", request.aggregation_id);
        let mut found = Vec::with_capacity(committed.len());
        for c in &committed {
            let salted =
                self.records
                    .get(&c.digest)
                    .await?
                    .ok_or_else(|| Error::MissingRecord {
                        digest: c.digest,
                        what: what.clone(),
                    })?;
            if !c.matches(&salted.record, &salted.salt) {
                return Err(Error::UnfitRecord {
                    digest: c.digest,
                    what,
                    reason: "it does not match its commitment on the chain".to_owned(),
                });
            }
            found.push((c.digest, salted));
        }
        let total = sum_fen(&found, &what)?;
        let key = homomorphic::PublicKey::from_bytes(&request.encryption_key)?;
        let context = contribution_context(
            &request.aggregation_id,
            self.home(),
            &task.source,
            task.sequence,
            &self.institution,
        );
        let (ciphertext, proof) =
            key.encrypt_contribution(total, &context, &mut rand::rngs::OsRng)?;
        let records = u32::try_from(found.len()).unwrap_or(u32::MAX);
        tracing::debug!(packet = %task, aggregation = %request.aggregation_id, records, "contribution made");
        plan.push(Planned {
            task: task.clone(),
            what: "contribute_aggregation",
            body: TxBody::ContributeAggregation {
                source: task.source.clone(),
                sequence: task.sequence,
                ciphertext: ciphertext.to_bytes().to_vec(),
                records,
                proof: proof.to_bytes(),
            },
            outcome: Outcome::Contributed { records },
        });
        Ok(None)
    }
}

/// `provider`'s answer to `pending`: the records of its expected digests,
/// in the chain's order, fetched from `records` and sealed to the query's
/// key. `None` when the provider is not expected. Fails, naming the
/// digest, when a record is missing or does not fit the query (another
/// enterprise, kind or provider): nothing partial is ever sealed.
pub async fn sealed_answer<S: RecordSource>(
    records: &S,
    provider: &InstitutionId,
    pending: &PendingQuery,
) -> Result<Option<SealedAnswer>, Error> {
    let Some(expected) = pending.expected.iter().find(|e| e.provider == *provider) else {
        return Ok(None);
    };
    let packet = &pending.packet;
    let what = format!("query {}/{}", packet.source, packet.sequence);
    let query = pending.query().ok_or_else(|| Error::ChainValue {
        chain: packet.destination.clone(),
        key: state_keys::show(&state_keys::pending_query(&packet.source, packet.sequence)),
        reason: "the pending query's packet is not a credit query".to_owned(),
    })?;
    let mut found = Vec::with_capacity(expected.commitments.len());
    for digest in &expected.commitments {
        let salted = records
            .get(digest)
            .await?
            .ok_or_else(|| Error::MissingRecord {
                digest: *digest,
                what: what.clone(),
            })?;
        let unfit = |reason: &str| Error::UnfitRecord {
            digest: *digest,
            what: what.clone(),
            reason: reason.to_owned(),
        };
        let r = &salted.record;
        if r.provider != *provider {
            return Err(unfit("it is another provider's record"));
        }
        if r.enterprise != query.enterprise {
            return Err(unfit("it is about another enterprise"));
        }
        if !query.kinds.contains(&r.kind) {
            return Err(unfit("its kind was not asked for"));
        }
        found.push(salted);
    }
    let answer = seal_answer(
        &query.encryption_key,
        packet,
        provider,
        &found,
        &mut rand::rngs::OsRng,
    )?;
    // The source checked each digest; the list is the chain's, in its order.
    debug_assert_eq!(answer.commitments, expected.commitments);
    Ok(Some(answer))
}
