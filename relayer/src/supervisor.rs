//! The regulator's supervision node (`relayer supervise`): a read-only
//! member of the mesh that follows every registered chain through the
//! relayers serving it and keeps the audit log of every cross-chain
//! message's metadata, anchored periodically on a chain.
//!
//! Which chains: those configured (`[[network.chains]]`), and, with
//! `[network.governance]`, those the network registry accepts at runtime
//! ([`crate::mesh::SupervisorSync`] calls [`Supervisor::follow`] once the
//! node's light client is anchored at the registered trust anchor). A
//! chain the registry freezes or removes is no longer followed
//! ([`Supervisor::stop_following`]); its entries stay in the log.
//!
//! Why a node of its own rather than a relayer feature: the regulator must
//! see every chain, not only those one relayer serves, and must not depend
//! on any relayer telling the truth. So it follows each chain like a
//! relayer follows a remote one — light blocks verified by its own light
//! client, values read with Merkle proofs against them — and it relays
//! nothing: the relayers admit its peer id read-only (`network.regulator`),
//! refusing anything it would hand over to submit.
//!
//! What it logs, one entry per event (see [`AuditRecord`]):
//! - `send_packet` on the source: the packet's metadata (requester,
//!   enterprise, purpose, consent id, max fee, chains), outcome
//!   `committed`;
//! - `write_acknowledgement` on the destination: the response's kind and
//!   outcome (answered, refused with its reason) and the fee charged, with
//!   the query's requester, enterprise, purpose and consent id;
//! - `acknowledge_packet` on the source: outcome `acknowledged`, fee
//!   charged; `timeout_packet`: outcome `timed_out`.
//!
//! What it trusts: only values proven against headers its own light client
//! verified. A serving relayer's events, `scanned_to` and packet copies are
//! hints. A `committed` entry is written only from a packet whose
//! commitment is proven present — the packet in the source's state, or a
//! copy matching a commitment proven on a chain (the destination's receipt,
//! the query commitment inside the source's proven acknowledgement) — never
//! for a sequence at or past the source's proven next send sequence, so a
//! forged "future" send neither enters the log nor pre-empts the real one.
//! Completeness is checked against each (source, destination)'s proven next
//! send sequence after every round ([`crate::audit::SendCompleteness`]): a
//! send the events omitted is read and logged from the source's state, and
//! one that cannot be proven is a gap, reported (`/metrics`,
//! `GET /audit/gaps`, `relayer audit verify`), never skipped silently.
//!
//! Never an aggregation's amounts or ciphertexts, a key, or a record:
//! [`AuditRecord::from_packet`] does not copy them, and a response's
//! records are never read. Each entry is stored together with a marker of
//! its event in one transaction, and each chain's scanned height after its
//! events are logged, so a restart neither loses nor duplicates entries.
//!
//! [`Anchorer`]: every `every_entries` entries or `every` seconds, a signed
//! checkpoint (Merkle root of the log) is submitted to the anchoring chain
//! as `anchor_audit_checkpoint`, signed by the regulator's institution key.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use adapters::{AdapterError, ChainAdapter, PacketEvent};
use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ed25519_dalek::SigningKey;
use protocol::tx::{Acknowledgement, AuditAnchor, TxBody};
use protocol::{Canonical, ChainId, Hash, Packet, PacketPayload, state_keys};

use credit_chain::app::state::PacketResult;

use crate::api::ApiError;
use crate::audit::{
    AuditRecord, AuditService, MessageKind, Outcome, SendCompleteness, ServiceError,
};
use crate::engine::{ChainRuntime, EngineError, wall_clock};
use crate::store::{Store, StoreError};

pub mod release;

/// Why the supervision node could not log or anchor (it retries).
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit log refused an append.
    #[error(transparent)]
    Audit(#[from] ServiceError),
    /// A chain (or the relayers serving it) failed or answered badly.
    #[error(transparent)]
    Chain(#[from] EngineError),
    /// The anchoring chain's endpoint failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// An event or a value read does not hold together.
    #[error("{chain}: {reason}")]
    Inconsistent {
        /// The chain.
        chain: ChainId,
        /// What is wrong.
        reason: String,
    },
    /// A packet's acknowledgement was read before the follower of its
    /// followed source accounted for its send (logged it, or found it a
    /// gap): the destination's round stops there and is retried, so the
    /// entry gets the send's metadata rather than none.
    #[error(
        "the send of {from} -> {destination} #{sequence} is not accounted for yet by {from}'s follower; retrying"
    )]
    SendPending {
        /// The packet's source.
        from: ChainId,
        /// Its destination (the chain being followed).
        destination: ChainId,
        /// Its sequence.
        sequence: u64,
    },
    /// The anchoring chain refused the checkpoint.
    #[error("anchoring on {chain} refused: code {code}: {message}")]
    AnchorRefused {
        /// The chain.
        chain: ChainId,
        /// Its code.
        code: u32,
        /// Its message.
        message: String,
    },
}

/// The key under which the metadata of a packet seen sent is kept.
fn sent_key(source: &ChainId, destination: &ChainId, sequence: u64) -> Vec<u8> {
    format!("sent/{source}/{destination}/{sequence:020}").into_bytes()
}

/// The marker of the `send_packet` of `source → destination #sequence` (the
/// same whether the send was logged from its event or found by the
/// completeness check).
fn sent_marker(source: &ChainId, destination: &ChainId, sequence: u64) -> Vec<u8> {
    format!(
        "{source}/{}/{destination}/{sequence:020}",
        EventKind::Sent.as_str()
    )
    .into_bytes()
}

/// How many sequences of one pair the completeness check walks per round
/// (local marker lookups).
const COMPLETENESS_WINDOW: u64 = 100_000;

/// How many missing sends the completeness check tries to prove per round
/// and chain (one batch of proven reads).
const MAX_FILLS: usize = 64;

/// How many destinations named only by a round's hints the completeness
/// check reads (the followed chains and those checked before always are).
const MAX_HINTED_DESTINATIONS: usize = 64;

/// The key of the last anchored `upto`.
const ANCHORED_KEY: &[u8] = b"anchored_upto";

/// Per followed chain: how far it is followed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Progress {
    /// The last height whose events are logged.
    pub scanned: u64,
    /// The chain's latest height, as last heard.
    pub latest: u64,
    /// The last error, if the last round failed.
    pub last_error: Option<String>,
    /// Why the chain is no longer followed (the network registry froze or
    /// removed it), if it is not; its entries stay in the log.
    pub stopped: Option<String>,
}

/// The supervision node: the audit log and the chains it follows.
pub struct Supervisor {
    audit: Arc<AuditService>,
    store: Store,
    /// The chains followed now: those configured, plus those the network
    /// registry accepted at runtime, minus those it froze or removed.
    chains: RwLock<BTreeMap<ChainId, Arc<ChainRuntime>>>,
    /// The follower task of each followed chain, once [`Supervisor::run`]
    /// started them.
    followers: Mutex<BTreeMap<ChainId, tokio::task::AbortHandle>>,
    /// How often each chain is read; set by [`Supervisor::run`].
    interval: Mutex<Option<Duration>>,
    progress: Mutex<BTreeMap<ChainId, Progress>>,
    anchored: AtomicU64,
    anchors: AtomicU64,
    anchor_failures: AtomicU64,
    /// Events of serving relayers that did not hold up against proven
    /// state (a forged or future send, an event its state contradicts):
    /// not logged.
    unproven_hints: AtomicU64,
    started: Instant,
    /// The regulator's aggregation key share and release threshold, when
    /// configured (see [`release`]).
    release: std::sync::OnceLock<release::ReleasePolicy>,
}

/// The chain's attribute `key` of `event`.
fn attr<'a>(
    chain: &ChainId,
    event: &'a PacketEvent,
    key: &str,
) -> Result<&'a str, SupervisorError> {
    event
        .event
        .get(key)
        .ok_or_else(|| SupervisorError::Inconsistent {
            chain: chain.clone(),
            reason: format!(
                "{} event at height {} has no {key:?}",
                event.event.kind, event.height
            ),
        })
}

fn parse_attr<T: std::str::FromStr>(
    chain: &ChainId,
    event: &PacketEvent,
    key: &str,
) -> Result<T, SupervisorError>
where
    T::Err: std::fmt::Display,
{
    let raw = attr(chain, event, key)?;
    raw.parse().map_err(|e| SupervisorError::Inconsistent {
        chain: chain.clone(),
        reason: format!("{} event attribute {key}={raw:?}: {e}", event.event.kind),
    })
}

/// What an acknowledgement says: the outcome, the fee charged, and the
/// kind of the response (when it carries one).
fn ack_outcome(ack: &Acknowledgement) -> (Outcome, Option<protocol::Money>, Option<MessageKind>) {
    match ack {
        Acknowledgement::Result(PacketPayload::CreditResponse(r)) => (
            Outcome::of_response(r),
            Some(r.fee_charged),
            Some(MessageKind::CreditResponse),
        ),
        Acknowledgement::Result(payload) => {
            (Outcome::Acknowledged, None, Some(MessageKind::of(payload)))
        }
        Acknowledgement::Error(reason) => {
            (Outcome::Refused(format!("error: {reason}")), None, None)
        }
    }
}

/// The packet events the audit log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventKind {
    /// `send_packet`, on the source.
    Sent,
    /// `write_acknowledgement`, on the destination.
    Received,
    /// `acknowledge_packet`, on the source.
    Acknowledged,
    /// `timeout_packet`, on the source.
    TimedOut,
}

impl EventKind {
    fn of(kind: &str) -> Option<EventKind> {
        Some(match kind {
            "send_packet" => EventKind::Sent,
            "write_acknowledgement" => EventKind::Received,
            "acknowledge_packet" => EventKind::Acknowledged,
            "timeout_packet" => EventKind::TimedOut,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            EventKind::Sent => "send_packet",
            EventKind::Received => "write_acknowledgement",
            EventKind::Acknowledged => "acknowledge_packet",
            EventKind::TimedOut => "timeout_packet",
        }
    }
}

/// Which packet an event of a followed chain is about, and the marker its
/// entry is stored with (so a replayed event is never logged twice).
#[derive(Clone, Debug, PartialEq, Eq)]
struct EventId {
    kind: EventKind,
    /// The packet's other chain: its source for a `write_acknowledgement`,
    /// its destination otherwise.
    other: ChainId,
    sequence: u64,
    marker: Vec<u8>,
}

/// The [`EventId`] of `event` emitted by `chain`; `None` for a kind the
/// log does not record. The attributes are the chain's (untrusted) text:
/// a missing or malformed one is an error, never a panic.
fn event_id(chain: &ChainId, event: &PacketEvent) -> Result<Option<EventId>, SupervisorError> {
    let Some(kind) = EventKind::of(&event.event.kind) else {
        return Ok(None);
    };
    let sequence: u64 = parse_attr(chain, event, "sequence")?;
    let other: ChainId = if kind == EventKind::Received {
        parse_attr(chain, event, "source")?
    } else {
        parse_attr(chain, event, "destination")?
    };
    let marker = format!("{chain}/{}/{other}/{sequence:020}", kind.as_str()).into_bytes();
    Ok(Some(EventId {
        kind,
        other,
        sequence,
        marker,
    }))
}

/// The entry of a packet whose send the node did not see (it started
/// after the packet was closed and pruned): the chains and sequence only.
fn bare_record(
    source: &ChainId,
    destination: &ChainId,
    sequence: u64,
    now: protocol::Time,
) -> AuditRecord {
    AuditRecord {
        time: now,
        source: source.clone(),
        destination: destination.clone(),
        packet_sequence: sequence,
        kind: MessageKind::CreditQuery,
        requester: None,
        enterprise: None,
        purpose: "packet not seen sent by the supervision node".into(),
        consent_id: None,
        fee: None,
        outcome: Outcome::Committed,
    }
}

/// The entry of a `write_acknowledgement` on the destination: the sent
/// packet's metadata (`sent`), with the acknowledgement's outcome, fee and
/// response kind. An aggregation's partial sum shows its metadata only,
/// never its ciphertext.
fn received_record(
    mut record: AuditRecord,
    ack: &Acknowledgement,
    now: protocol::Time,
) -> AuditRecord {
    let (outcome, fee, response_kind) = ack_outcome(ack);
    record.time = now;
    record.outcome = outcome;
    if let Some(kind) = response_kind {
        record.kind = kind;
    }
    if let Acknowledgement::Result(payload @ PacketPayload::AggregationPartial(_)) = ack {
        let shown = Packet {
            source: record.source.clone(),
            destination: record.destination.clone(),
            sequence: record.packet_sequence,
            timeout_height: None,
            timeout_time: None,
            payload: payload.clone(),
        };
        record.purpose = AuditRecord::from_packet(&shown, Outcome::Acknowledged, now).purpose;
    }
    record.fee = fee;
    record
}

/// The entry of an `acknowledge_packet` or `timeout_packet` on the
/// source: the sent packet's metadata (`sent`) with how the packet ended,
/// as its proven `result` says; `None` when the result does not match the
/// event (the event is only a hint).
fn closed_record(
    mut record: AuditRecord,
    kind: EventKind,
    result: Option<&PacketResult>,
    now: protocol::Time,
) -> Option<AuditRecord> {
    match (kind, result) {
        (EventKind::Acknowledged, Some(PacketResult::Acknowledged(ack))) => {
            record.outcome = Outcome::Acknowledged;
            record.fee = ack_outcome(ack).1;
        }
        (EventKind::TimedOut, Some(PacketResult::TimedOut)) => {
            record.outcome = Outcome::TimedOut;
        }
        _ => return None,
    }
    record.time = now;
    Some(record)
}

impl Supervisor {
    /// A supervision node over `audit` (kept in `store`) following
    /// `chains` (remote runtimes over
    /// [`MeshChainAdapter`](crate::mesh::MeshChainAdapter)s).
    pub fn new(
        audit: Arc<AuditService>,
        store: Store,
        chains: Vec<Arc<ChainRuntime>>,
    ) -> Result<Arc<Supervisor>, SupervisorError> {
        let anchored = match store.supervisor_get(ANCHORED_KEY)? {
            Some(v) => <[u8; 8]>::try_from(v.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    key: "supervisor/anchored_upto".into(),
                    reason: "not an 8-byte big-endian number".into(),
                })?
                .saturating_add(1),
            None => 0,
        };
        let mut progress = BTreeMap::new();
        for c in &chains {
            progress.insert(
                c.id().clone(),
                Progress {
                    scanned: store.scanned(c.id())?,
                    ..Progress::default()
                },
            );
        }
        Ok(Arc::new(Supervisor {
            audit,
            store,
            chains: RwLock::new(chains.into_iter().map(|c| (c.id().clone(), c)).collect()),
            followers: Mutex::new(BTreeMap::new()),
            interval: Mutex::new(None),
            progress: Mutex::new(progress),
            anchored: AtomicU64::new(anchored),
            anchors: AtomicU64::new(0),
            anchor_failures: AtomicU64::new(0),
            unproven_hints: AtomicU64::new(0),
            started: Instant::now(),
            release: std::sync::OnceLock::new(),
        }))
    }

    /// Holds `policy` (the regulator's aggregation key share and the
    /// release threshold) for releasing decryption shares of closed
    /// aggregations' totals; set once, at start. Returns whether it was set.
    pub fn set_release_policy(&self, policy: release::ReleasePolicy) -> bool {
        self.release.set(policy).is_ok()
    }

    /// The audit log.
    pub fn audit(&self) -> &Arc<AuditService> {
        &self.audit
    }

    /// How far each chain is followed.
    pub fn progress(&self) -> BTreeMap<ChainId, Progress> {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// How many events of serving relayers were not logged because proven
    /// state did not bear them out, since start.
    pub fn unproven_hints(&self) -> u64 {
        self.unproven_hints.load(Ordering::Relaxed)
    }

    /// The pairs of chains whose sends the log misses (see
    /// [`SendCompleteness`]).
    pub fn gaps(&self) -> Vec<SendCompleteness> {
        self.audit.gaps()
    }

    /// How many entries are anchored (the next `upto` + 1).
    pub fn anchored(&self) -> u64 {
        self.anchored.load(Ordering::Relaxed)
    }

    fn note(&self, chain: &ChainId, f: impl FnOnce(&mut Progress)) {
        if let Ok(mut p) = self.progress.lock() {
            f(p.entry(chain.clone()).or_default());
        }
    }

    /// The chain `id`, when it is followed now.
    fn chain(&self, id: &ChainId) -> Option<Arc<ChainRuntime>> {
        self.chains.read().ok()?.get(id).cloned()
    }

    /// The chains followed now.
    pub fn followed(&self) -> Vec<ChainId> {
        self.chains
            .read()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Follows every chain until the process stops: each chain's new
    /// events every `interval`. Chains added later with
    /// [`Supervisor::follow`] get a follower of their own at once.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        if let Ok(mut i) = self.interval.lock() {
            *i = Some(interval);
        }
        let chains: Vec<Arc<ChainRuntime>> = self
            .chains
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        for chain in chains {
            self.spawn_follower(chain);
        }
        std::future::pending::<()>().await;
    }

    /// Starts following `chain` (accepted by the network registry at
    /// runtime), from its stored scanned height, with no restart. Its light
    /// client must already trust a block of it (the registered anchor).
    /// A chain already followed is left as it is (`chain` is dropped).
    pub fn follow(self: &Arc<Self>, chain: Arc<ChainRuntime>) -> Result<(), SupervisorError> {
        let id = chain.id().clone();
        let scanned = self.store.scanned(&id)?;
        let added = match self.chains.write() {
            Ok(mut chains) => {
                if chains.contains_key(&id) {
                    false
                } else {
                    chains.insert(id.clone(), chain.clone());
                    true
                }
            }
            Err(_) => false,
        };
        if !added {
            return Ok(());
        }
        self.note(&id, |p| {
            p.scanned = p.scanned.max(scanned);
            p.stopped = None;
            p.last_error = None;
        });
        tracing::info!(chain = %id, from = scanned, "following a chain accepted by the network registry");
        self.spawn_follower(chain);
        Ok(())
    }

    /// Stops following chain `id` (the network registry froze or removed
    /// it): its follower ends, nothing more is read from it, and no other
    /// chain's event is checked against it. Its entries stay in the log and
    /// its scanned height in the store. Returns whether it was followed.
    pub fn stop_following(&self, id: &ChainId, reason: String) -> bool {
        let removed = self.chains.write().ok().and_then(|mut c| c.remove(id));
        if let Some(handle) = self.followers.lock().ok().and_then(|mut f| f.remove(id)) {
            handle.abort();
        }
        let Some(runtime) = removed else {
            return false;
        };
        runtime.suspend(reason.clone());
        tracing::warn!(chain = %id, %reason, "no longer following the chain; its entries stay in the log");
        self.note(id, |p| {
            p.stopped = Some(reason);
            p.last_error = None;
        });
        true
    }

    /// Spawns `chain`'s follower, once [`Supervisor::run`] set the
    /// interval (before that, `run` spawns it).
    fn spawn_follower(self: &Arc<Self>, chain: Arc<ChainRuntime>) {
        let Some(interval) = self.interval.lock().ok().and_then(|i| *i) else {
            return;
        };
        let Ok(mut followers) = self.followers.lock() else {
            return;
        };
        if followers.contains_key(chain.id()) {
            return;
        }
        let this = self.clone();
        let id = chain.id().clone();
        let task = tokio::spawn(async move {
            loop {
                match this.follow_once(&chain).await {
                    Ok(logged) => {
                        if logged > 0 {
                            tracing::info!(chain = %chain.id(), logged, "audit entries appended");
                        }
                        this.note(chain.id(), |p| p.last_error = None);
                    }
                    Err(e) => {
                        tracing::warn!(chain = %chain.id(), error = %e, "following the chain failed; will retry");
                        this.note(chain.id(), |p| p.last_error = Some(e.to_string()));
                    }
                }
                tokio::time::sleep(interval).await;
            }
        });
        followers.insert(id, task.abort_handle());
    }

    /// Reads `chain`'s events since the last scanned height up to its
    /// latest, logging each; the scanned height is saved after each piece.
    /// Then checks the log has every send of `chain` (see
    /// [`Supervisor::check_sends`]). Returns the entries appended.
    ///
    /// Events are hints: one that proven state does not bear out is not
    /// logged (counted and warned), and does not stop the round.
    pub async fn follow_once(&self, chain: &ChainRuntime) -> Result<usize, SupervisorError> {
        let id = chain.id().clone();
        let mesh = chain
            .mesh_adapter()
            .ok_or_else(|| SupervisorError::Inconsistent {
                chain: id.clone(),
                reason: "followed chains are reached through the mesh".into(),
            })?;
        let mut logged = 0;
        let mut destinations = std::collections::BTreeSet::new();
        loop {
            let since = self.store.scanned(&id)?;
            let (events, packets) = mesh.packet_events_with_packets(since).await?;
            for event in &events.events {
                if event.event.kind == EventKind::Sent.as_str()
                    && let Some(Ok(destination)) = event.event.get("destination").map(str::parse)
                {
                    destinations.insert(destination);
                }
                match self.log_event(chain, event, &packets).await {
                    Ok(true) => logged += 1,
                    Ok(false) => {}
                    Err(SupervisorError::Inconsistent { chain, reason }) => {
                        self.unproven_hints.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%chain, %reason, kind = %event.event.kind, height = %event.height,
                            "an event of a serving relayer does not hold against proven state; not logged");
                    }
                    Err(e) => return Err(e),
                }
            }
            if events.scanned_to > since {
                self.store.set_scanned(&id, events.scanned_to)?;
            }
            self.note(&id, |p| {
                p.scanned = events.scanned_to.max(since);
                p.latest = events.latest_height;
            });
            if events.scanned_to >= events.latest_height || events.scanned_to <= since {
                break;
            }
        }
        logged += self.check_sends(chain, destinations).await?;
        Ok(logged)
    }

    /// Checks the log has every send of `chain` to each destination (the
    /// followed chains, those named by this round's hints, those checked
    /// before), against the next send sequence proven on `chain`: a
    /// sequence below it without an entry is read from `chain`'s state and
    /// logged when its packet is proven there, and is otherwise a gap,
    /// noted and reported. Returns the entries appended.
    async fn check_sends(
        &self,
        chain: &ChainRuntime,
        hinted: std::collections::BTreeSet<ChainId>,
    ) -> Result<usize, SupervisorError> {
        let id = chain.id();
        let mut destinations: std::collections::BTreeSet<ChainId> =
            self.followed().into_iter().collect();
        // A hint names a chain for the check to read, nothing more; a
        // peer naming thousands costs a bounded read.
        destinations.extend(hinted.into_iter().take(MAX_HINTED_DESTINATIONS));
        destinations.extend(
            self.audit
                .completeness()
                .into_iter()
                .filter(|c| &c.source == id)
                .map(|c| c.destination),
        );
        destinations.remove(id);
        let destinations: Vec<ChainId> = destinations
            .into_iter()
            .take(adapters::MAX_BATCH_KEYS)
            .collect();
        if destinations.is_empty() {
            return Ok(0);
        }
        let keys: Vec<Vec<u8>> = destinations.iter().map(state_keys::next_sequence).collect();
        let proven = chain.verified_states(&keys).await?;
        let mut records = Vec::new();
        for (destination, (_, value, _)) in destinations.iter().zip(&proven.entries) {
            let next = match value {
                Some(bytes) => borsh::from_slice::<u64>(bytes).map_err(|e| {
                    self.inconsistent(id, format!("next send sequence to {destination}: {e}"))
                })?,
                None => 1,
            };
            let mut record = self.audit.completeness_of(id, destination);
            if next <= 1 && record.next_sequence <= 1 && !record.has_gaps() {
                continue;
            }
            // The proven next sequence never goes back: a lower one is
            // another (older) header, and the higher one stands.
            record.next_sequence = record.next_sequence.max(next);
            let end = record
                .next_sequence
                .min(record.checked.saturating_add(COMPLETENESS_WINDOW));
            for sequence in record.checked..end {
                if !self
                    .audit
                    .is_recorded(&sent_marker(id, destination, sequence))?
                {
                    record.missing.insert(sequence);
                }
            }
            record.checked = record.checked.max(end);
            let mut still = std::collections::BTreeSet::new();
            for sequence in std::mem::take(&mut record.missing) {
                if !self
                    .audit
                    .is_recorded(&sent_marker(id, destination, sequence))?
                {
                    still.insert(sequence);
                }
            }
            record.missing = still;
            records.push(record);
        }
        // Try to prove the missing sends: their packets in `chain`'s state.
        let wanted: Vec<(ChainId, u64)> = records
            .iter()
            .flat_map(|r| r.missing.iter().map(|s| (r.destination.clone(), *s)))
            .take(MAX_FILLS)
            .collect();
        let mut logged = 0;
        if !wanted.is_empty() {
            let keys: Vec<Vec<u8>> = wanted
                .iter()
                .map(|(destination, sequence)| state_keys::packet(destination, *sequence))
                .collect();
            // No serving relayer proving them leaves them gaps, reported;
            // it does not stop the check.
            let entries = match chain.verified_states(&keys).await {
                Ok(states) => states.entries,
                Err(e) => {
                    tracing::warn!(chain = %id, error = %e, missing = wanted.len(),
                        "cannot read the sends missing from the audit log; they stay gaps");
                    Vec::new()
                }
            };
            for ((destination, sequence), (_, value, _)) in wanted.iter().zip(&entries) {
                let Some(bytes) = value else {
                    continue;
                };
                let packet = match Packet::from_canonical_bytes(bytes) {
                    Ok(p)
                        if &p.source == id
                            && &p.destination == destination
                            && p.sequence == *sequence =>
                    {
                        p
                    }
                    Ok(_) | Err(_) => {
                        tracing::warn!(chain = %id, %destination, sequence, "the packet stored on the chain does not decode as its own");
                        continue;
                    }
                };
                tracing::warn!(chain = %id, %destination, sequence,
                    "a send the serving relayers' events omitted was found in the chain's state; logging it");
                if self.log_sent(id, &packet, wall_clock())? {
                    logged += 1;
                }
                if let Some(r) = records.iter_mut().find(|r| &r.destination == destination) {
                    r.missing.remove(sequence);
                }
            }
        }
        for record in records {
            if record.has_gaps() {
                tracing::warn!(gap = %record.describe(), "the audit log misses sends");
            }
            self.audit.note_completeness(record)?;
        }
        Ok(logged)
    }

    /// Logs the send of `packet` (proven) once, keeping its metadata for
    /// the entries of how it ends; whether it was appended.
    fn log_sent(
        &self,
        source: &ChainId,
        packet: &Packet,
        now: protocol::Time,
    ) -> Result<bool, SupervisorError> {
        let record = AuditRecord::from_packet(packet, Outcome::Committed, now);
        self.store.supervisor_put(
            &sent_key(source, &packet.destination, packet.sequence),
            &borsh::to_vec(&record).unwrap_or_default(),
        )?;
        let marker = sent_marker(source, &packet.destination, packet.sequence);
        Ok(self.audit.record_once(record, &marker)?.is_some())
    }

    /// Logs one event unless it is already logged; `Ok(false)` when it is,
    /// or when the event kind is not one the log records.
    async fn log_event(
        &self,
        chain: &ChainRuntime,
        event: &PacketEvent,
        packets: &[Packet],
    ) -> Result<bool, SupervisorError> {
        let id = chain.id();
        let Some(EventId {
            kind,
            other,
            sequence,
            marker,
        }) = event_id(id, event)?
        else {
            return Ok(false);
        };
        if self.audit.is_recorded(&marker)? {
            return Ok(false);
        }
        let now = wall_clock();
        let record = match kind {
            EventKind::Sent => {
                let packet = self.sent_packet(chain, &other, sequence, packets).await?;
                return self.log_sent(id, &packet, now);
            }
            EventKind::Received => {
                // On the destination: the acknowledgement itself, proven.
                let states = chain
                    .verified_states(&[
                        state_keys::packet_ack(&other, sequence),
                        state_keys::packet_ack_data(&other, sequence),
                        state_keys::packet_receipt(&other, sequence),
                    ])
                    .await?;
                let receipt = states.entries[2].1.clone();
                let (hash, data) = (&states.entries[0].1, &states.entries[1].1);
                let (Some(hash), Some(data)) = (hash, data) else {
                    return Err(self.inconsistent(
                        id,
                        format!("acknowledgement of {other}/{sequence} announced but not in state"),
                    ));
                };
                let ack = Acknowledgement::from_canonical_bytes(data).map_err(|e| {
                    self.inconsistent(id, format!("acknowledgement of {other}/{sequence}: {e}"))
                })?;
                if ack.hash().as_bytes().as_slice() != hash.as_slice() {
                    return Err(self.inconsistent(
                        id,
                        format!("acknowledgement of {other}/{sequence} does not match its hash"),
                    ));
                }
                let sent = match self.known_sent(&other, id, sequence)? {
                    Some(record) => record,
                    // The source's follower may not have reached the send
                    // yet: read the packet from the source while in flight.
                    None => match self.in_flight(&other, id, sequence, receipt).await? {
                        Some(packet) => AuditRecord::from_packet(&packet, Outcome::Committed, now),
                        // Closed on the source already: wait for its
                        // follower to account for the send, which it
                        // logs from the proven acknowledgement.
                        None if self.chain(&other).is_some()
                            && self.audit.completeness_of(&other, id).checked <= sequence =>
                        {
                            return Err(SupervisorError::SendPending {
                                from: other,
                                destination: id.clone(),
                                sequence,
                            });
                        }
                        None => self.sent_record(&other, id, sequence, now)?,
                    },
                };
                received_record(sent, &ack, now)
            }
            // On the source: how the packet ended, proven (the event is
            // only a hint).
            EventKind::Acknowledged | EventKind::TimedOut => {
                let result = self.packet_result(chain, &other, sequence).await?;
                let sent = self.sent_record(id, &other, sequence, now)?;
                closed_record(sent, kind, result.as_ref(), now).ok_or_else(|| {
                    self.inconsistent(
                        id,
                        format!(
                            "packet {other}/{sequence} announced {} but its proven result is {}",
                            kind.as_str(),
                            match &result {
                                Some(PacketResult::Acknowledged(_)) => "an acknowledgement",
                                Some(PacketResult::TimedOut) => "a timeout",
                                None => "absent",
                            }
                        ),
                    )
                })?
            }
        };
        let appended = self.audit.record_once(record, &marker)?;
        Ok(appended.is_some())
    }

    fn inconsistent(&self, chain: &ChainId, reason: String) -> SupervisorError {
        SupervisorError::Inconsistent {
            chain: chain.clone(),
            reason,
        }
    }

    /// The packet `destination/sequence` sent by `chain`, with its
    /// commitment proven present: read with its proof from the chain's
    /// state while in flight; once closed (pruned), a copy a serving relayer
    /// handed over whose commitment is proven on a chain — the query
    /// commitment inside the source's proven acknowledgement, or the
    /// destination's proven receipt. A sequence at or past the source's
    /// proven next send sequence was not sent (yet): `Inconsistent`, and
    /// nothing is logged, so the real send is logged when it comes.
    async fn sent_packet(
        &self,
        chain: &ChainRuntime,
        destination: &ChainId,
        sequence: u64,
        packets: &[Packet],
    ) -> Result<Packet, SupervisorError> {
        let id = chain.id();
        let states = chain
            .verified_states(&[
                state_keys::packet(destination, sequence),
                state_keys::next_sequence(destination),
                state_keys::packet_result(destination, sequence),
            ])
            .await?;
        if let Some(bytes) = &states.entries[0].1 {
            // Proven in the chain's state: the event's own commitment is
            // only a hint, and this packet is what was sent.
            return Packet::from_canonical_bytes(bytes).map_err(|e| {
                self.inconsistent(id, format!("packet {destination}/{sequence}: {e}"))
            });
        }
        let next = match &states.entries[1].1 {
            Some(bytes) => borsh::from_slice::<u64>(bytes).map_err(|e| {
                self.inconsistent(id, format!("next send sequence to {destination}: {e}"))
            })?,
            None => 1,
        };
        if sequence >= next {
            return Err(self.inconsistent(
                id,
                format!(
                    "send_packet {destination}/{sequence} announced, but the proven next send \
                     sequence to {destination} is {next}: not sent"
                ),
            ));
        }
        let result: Option<PacketResult> = match &states.entries[2].1 {
            Some(bytes) => Some(borsh::from_slice(bytes).map_err(|e| {
                self.inconsistent(
                    id,
                    format!("result of packet {destination}/{sequence}: {e}"),
                )
            })?),
            None => None,
        };
        let proven_query = match &result {
            Some(PacketResult::Acknowledged(ack)) => match ack.as_ref() {
                Acknowledgement::Result(PacketPayload::CreditResponse(r)) => Some(r.query_packet),
                _ => None,
            },
            _ => None,
        };
        let receipt = match self.chain(destination) {
            Some(dest) => dest
                .verified_states(&[state_keys::packet_receipt(id, sequence)])
                .await?
                .entries[0]
                .1
                .clone(),
            None => None,
        };
        packets
            .iter()
            .filter(|p| &p.source == id && &p.destination == destination && p.sequence == sequence)
            .find(|p| {
                let commitment = p.commitment();
                proven_query == Some(commitment)
                    || receipt.as_deref() == Some(commitment.as_bytes().as_slice())
            })
            .cloned()
            .ok_or_else(|| {
                self.inconsistent(
                    id,
                    format!(
                        "packet {destination}/{sequence} is closed and no copy handed over \
                         matches a commitment proven on a chain: its send is a gap"
                    ),
                )
            })
    }

    /// How packet `destination/sequence` of `chain` ended, proven.
    async fn packet_result(
        &self,
        chain: &ChainRuntime,
        destination: &ChainId,
        sequence: u64,
    ) -> Result<Option<PacketResult>, SupervisorError> {
        let states = chain
            .verified_states(&[state_keys::packet_result(destination, sequence)])
            .await?;
        Ok(match &states.entries[0].1 {
            Some(bytes) => Some(borsh::from_slice(bytes).map_err(|e| {
                self.inconsistent(
                    chain.id(),
                    format!("result of packet {destination}/{sequence}: {e}"),
                )
            })?),
            None => None,
        })
    }

    /// The metadata logged when packet `source → destination #sequence`
    /// was sent, if the node saw it sent.
    fn known_sent(
        &self,
        source: &ChainId,
        destination: &ChainId,
        sequence: u64,
    ) -> Result<Option<AuditRecord>, SupervisorError> {
        let key = sent_key(source, destination, sequence);
        match self.store.supervisor_get(&key)? {
            Some(bytes) => Ok(Some(borsh::from_slice(&bytes).map_err(|e| {
                StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: e.to_string(),
                }
            })?)),
            None => Ok(None),
        }
    }

    /// Packet `source → destination #sequence` read (proven) from its
    /// followed source while still in flight there, and matching the
    /// destination's proven `receipt`; `None` when not readable so.
    async fn in_flight(
        &self,
        source: &ChainId,
        destination: &ChainId,
        sequence: u64,
        receipt: Option<Vec<u8>>,
    ) -> Result<Option<Packet>, SupervisorError> {
        let (Some(chain), Some(receipt)) = (self.chain(source), receipt) else {
            return Ok(None);
        };
        let states = chain
            .verified_states(&[state_keys::packet(destination, sequence)])
            .await?;
        let Some(bytes) = &states.entries[0].1 else {
            return Ok(None);
        };
        let packet = Packet::from_canonical_bytes(bytes).map_err(|e| {
            self.inconsistent(source, format!("packet {destination}/{sequence}: {e}"))
        })?;
        Ok((packet.commitment().as_bytes().as_slice() == receipt.as_slice()).then_some(packet))
    }

    /// The metadata logged when packet `source → destination #sequence`
    /// was sent; a bare record when the node did not see it sent.
    fn sent_record(
        &self,
        source: &ChainId,
        destination: &ChainId,
        sequence: u64,
        now: protocol::Time,
    ) -> Result<AuditRecord, SupervisorError> {
        Ok(self
            .known_sent(source, destination, sequence)?
            .unwrap_or_else(|| bare_record(source, destination, sequence, now)))
    }
}

/// Makes and anchors checkpoints of the audit log on a chain.
pub struct Anchorer {
    /// The node.
    pub supervisor: Arc<Supervisor>,
    /// The anchoring chain (RPC access, the regulator's institution key).
    pub chain: Arc<dyn ChainAdapter>,
    /// The regulator's key: signs the checkpoint and the transaction.
    pub key: SigningKey,
    /// Anchor once this many entries are unanchored.
    pub every_entries: u64,
    /// Anchor at least this often when there are new entries.
    pub every: Duration,
}

impl Anchorer {
    /// Anchors when due, checking every second, until the process stops.
    pub async fn run(self) {
        // What the chain already holds (the store's note of it may lag a
        // crash between submitting and noting).
        match latest_anchored(self.chain.as_ref()).await {
            Ok(Some(latest)) => self.note_anchored(latest),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(chain = %self.chain.chain_id(), error = %e, "cannot read the latest anchor")
            }
        }
        let mut last = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (len, _) = self.supervisor.audit.head();
            let unanchored = len.saturating_sub(self.supervisor.anchored());
            if unanchored == 0 {
                continue;
            }
            if unanchored < self.every_entries && last.elapsed() < self.every {
                continue;
            }
            match self.anchor_now().await {
                Ok(upto) => {
                    last = Instant::now();
                    tracing::info!(chain = %self.chain.chain_id(), upto, "audit checkpoint anchored");
                }
                Err(e) => {
                    self.supervisor
                        .anchor_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(chain = %self.chain.chain_id(), error = %e, "anchoring failed; will retry");
                }
            }
        }
    }

    /// Checkpoints the whole log, stores the checkpoint and anchors it;
    /// returns its `upto`.
    pub async fn anchor_now(&self) -> Result<u64, SupervisorError> {
        let checkpoint = self.supervisor.audit.checkpoint(&self.key, wall_clock())?;
        let c = &checkpoint.checkpoint;
        let body = TxBody::AnchorAuditCheckpoint {
            upto: c.upto,
            merkle_root: c.merkle_root,
            head_hash: c.head_hash,
            time: c.time,
            signature: checkpoint.signature,
        };
        let signer = crate::registry::signing::public_key(&self.key);
        let nonce = match self.chain.state(&state_keys::nonce(&signer)).await?.value {
            Some(bytes) => borsh::from_slice::<u64>(&bytes).map_err(|e| {
                self.supervisor
                    .inconsistent(self.chain.chain_id(), format!("regulator nonce: {e}"))
            })?,
            None => 0,
        }
        .saturating_add(1);
        let tx = credit_chain::app::auth::sign_transaction(
            &self.key,
            self.chain.chain_id().clone(),
            nonce,
            body,
        );
        let outcome = self.chain.submit(&tx).await?;
        if !outcome.is_ok() {
            return Err(SupervisorError::AnchorRefused {
                chain: self.chain.chain_id().clone(),
                code: outcome.code,
                message: outcome.message,
            });
        }
        self.note_anchored(c.upto);
        self.supervisor.anchors.fetch_add(1, Ordering::Relaxed);
        Ok(c.upto)
    }

    /// Notes that entries up to `upto` are anchored (never going back).
    fn note_anchored(&self, upto: u64) {
        let covered = upto.saturating_add(1);
        if covered <= self.supervisor.anchored() {
            return;
        }
        if let Err(e) = self
            .supervisor
            .store
            .supervisor_put(ANCHORED_KEY, &upto.to_be_bytes())
        {
            tracing::warn!(error = %e, "cannot note the anchored checkpoint in the store");
        }
        self.supervisor.anchored.store(covered, Ordering::Relaxed);
    }
}

/// Reads the checkpoint anchored on `chain` up to entry `upto`, if any
/// (its value proven against the endpoint's light block).
pub async fn anchored_checkpoint(
    chain: &dyn ChainAdapter,
    upto: u64,
) -> Result<Option<AuditAnchor>, SupervisorError> {
    let state = chain.state(&state_keys::audit_anchor(upto)).await?;
    state
        .value
        .map(|bytes| {
            borsh::from_slice::<AuditAnchor>(&bytes).map_err(|e| SupervisorError::Inconsistent {
                chain: chain.chain_id().clone(),
                reason: format!("anchored checkpoint {upto}: {e}"),
            })
        })
        .transpose()
}

/// The latest `upto` anchored on `chain`, if any.
pub async fn latest_anchored(chain: &dyn ChainAdapter) -> Result<Option<u64>, SupervisorError> {
    let state = chain.state(&state_keys::latest_audit_anchor()).await?;
    state
        .value
        .map(|bytes| {
            borsh::from_slice::<u64>(&bytes).map_err(|e| SupervisorError::Inconsistent {
                chain: chain.chain_id().clone(),
                reason: format!("latest anchor: {e}"),
            })
        })
        .transpose()
}

/// Whether an anchored checkpoint is the log's: its root is the Merkle
/// root of entries `0..=upto` now (`Err` names the difference).
pub fn check_anchor(anchor: &AuditAnchor, root_now: &Hash) -> Result<(), String> {
    if anchor.merkle_root != *root_now {
        return Err(format!(
            "the checkpoint anchored up to entry {} has root {}, but entries 0..={} now have root {}: an entry at or before {} was rewritten",
            anchor.upto, anchor.merkle_root, anchor.upto, root_now, anchor.upto
        ));
    }
    Ok(())
}

/// What the supervision node's HTTP handlers share.
#[derive(Clone)]
pub struct SupervisorState {
    /// The node.
    pub supervisor: Arc<Supervisor>,
}

impl FromRef<SupervisorState> for Arc<AuditService> {
    fn from_ref(state: &SupervisorState) -> Arc<AuditService> {
        state.supervisor.audit.clone()
    }
}

/// The supervision node's API: the regulator's audit routes
/// ([`crate::audit::http`], with the log's gaps), `/health` and `/metrics`,
/// and the release of decryption shares of closed aggregations' totals
/// (`POST /aggregations/{chain}/{aggregation_id}/decryption-share`, see
/// [`release`]); anything else is 403.
pub fn router(state: SupervisorState) -> Router {
    Router::new()
        .merge(crate::audit::http::routes())
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route(
            "/aggregations/{chain}/{aggregation_id}/decryption-share",
            axum::routing::post(release::decryption_share),
        )
        .fallback(forbidden)
        .with_state(state)
}

async fn forbidden(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{} {}: the regulator's supervision node serves only /audit/entries, \
             /audit/checkpoints and /audit/gaps (signed by the regulator), \
             POST /aggregations/{{chain}}/{{aggregation_id}}/decryption-share, /health and /metrics",
            request.method(),
            request.uri().path()
        ),
    )
}

/// `GET /health`: 200 with each chain's progress, or 503 when a chain's
/// last round failed.
async fn health(State(state): State<SupervisorState>) -> Response {
    let s = &state.supervisor;
    let progress = s.progress();
    let failing: Vec<String> = progress
        .iter()
        .filter(|(_, p)| p.last_error.is_some() && p.stopped.is_none())
        .map(|(c, _)| c.to_string())
        .collect();
    let (entries, _) = s.audit.head();
    let gaps: Vec<String> = s.gaps().iter().map(SendCompleteness::describe).collect();
    let body = serde_json::json!({
        "status": if failing.is_empty() { "ok" } else { "degraded" },
        "entries": entries,
        "gaps": gaps,
        "anchored": s.anchored(),
        "chains": progress,
        "failing": failing,
    });
    let status = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<SupervisorState>) -> Response {
    use std::fmt::Write;
    let s = &state.supervisor;
    let (entries, _) = s.audit.head();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP supervisor_audit_entries Entries in the audit log.\n# TYPE supervisor_audit_entries gauge\nsupervisor_audit_entries {entries}"
    );
    let _ = writeln!(
        out,
        "# HELP supervisor_audit_anchored_entries Entries covered by an anchored checkpoint.\n# TYPE supervisor_audit_anchored_entries gauge\nsupervisor_audit_anchored_entries {}",
        s.anchored()
    );
    let _ = writeln!(
        out,
        "# HELP supervisor_anchors_total Checkpoints anchored since start.\n# TYPE supervisor_anchors_total counter\nsupervisor_anchors_total {}",
        s.anchors.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP supervisor_anchor_failures_total Anchoring attempts that failed since start.\n# TYPE supervisor_anchor_failures_total counter\nsupervisor_anchor_failures_total {}",
        s.anchor_failures.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP supervisor_scanned_height Last height of a chain whose events are logged.\n# TYPE supervisor_scanned_height gauge"
    );
    for (chain, p) in s.progress() {
        let _ = writeln!(
            out,
            "supervisor_scanned_height{{chain=\"{chain}\"}} {}",
            p.scanned
        );
    }
    let _ = writeln!(
        out,
        "# HELP supervisor_audit_gaps Sends below the source's proven next send sequence that have no entry in the audit log.\n# TYPE supervisor_audit_gaps gauge"
    );
    for record in s.audit.completeness() {
        let _ = writeln!(
            out,
            "supervisor_audit_gaps{{source=\"{}\",destination=\"{}\"}} {}",
            record.source,
            record.destination,
            record.missing.len()
        );
    }
    let _ = writeln!(
        out,
        "# HELP supervisor_unproven_hints_total Events of serving relayers not logged because proven state did not bear them out, since start.\n# TYPE supervisor_unproven_hints_total counter\nsupervisor_unproven_hints_total {}",
        s.unproven_hints()
    );
    let _ = writeln!(
        out,
        "# HELP supervisor_uptime_seconds Seconds since start.\n# TYPE supervisor_uptime_seconds gauge\nsupervisor_uptime_seconds {}",
        s.started.elapsed().as_secs()
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditLog, AuditRecord};

    #[test]
    fn the_chain_checks_the_signature_the_log_keeps() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let mut log = AuditLog::new();
        let packet: Packet =
            serde_json::from_str(include_str!("../../protocol/tests/data/packet.json")).unwrap();
        log.append(AuditRecord::from_packet(
            &packet,
            Outcome::Committed,
            protocol::Time::from_unix_nanos(1),
        ));
        let signed = log
            .checkpoint(protocol::Time::from_unix_nanos(2), &key)
            .unwrap();
        let c = &signed.checkpoint;
        let bytes = AuditAnchor::sign_bytes(c.upto, &c.merkle_root, &c.head_hash, &c.time);
        assert_eq!(bytes, c.sign_bytes());
        assert!(crate::registry::signing::verify(
            &signed.signer,
            &bytes,
            &signed.signature
        ));
    }

    #[test]
    fn an_anchor_with_another_root_is_named() {
        let anchor = AuditAnchor {
            upto: 3,
            merkle_root: Hash::tagged(b"a", &[b"1"]),
            head_hash: Hash::ZERO,
            time: protocol::Time::from_unix_nanos(0),
            regulator: protocol::PublicKey([0; 32]),
            signature: protocol::Signature([0; 64]),
        };
        assert!(check_anchor(&anchor, &anchor.merkle_root.clone()).is_ok());
        let err = check_anchor(&anchor, &Hash::tagged(b"a", &[b"2"])).unwrap_err();
        assert!(err.contains("up to entry 3"), "{err}");
    }

    fn packet() -> Packet {
        serde_json::from_str(include_str!("../../protocol/tests/data/packet.json")).unwrap()
    }

    fn time(nanos: u64) -> protocol::Time {
        protocol::Time::from_unix_nanos(nanos)
    }

    fn chain(id: &str) -> ChainId {
        id.parse().unwrap()
    }

    fn event(kind: &str, attributes: &[(&str, &str)]) -> PacketEvent {
        PacketEvent {
            height: protocol::Height::GENESIS,
            tx: Hash::ZERO,
            event: adapters::ChainEvent {
                kind: kind.into(),
                attributes: attributes
                    .iter()
                    .map(|(key, value)| adapters::EventAttribute {
                        key: (*key).into(),
                        value: (*value).into(),
                    })
                    .collect(),
            },
        }
    }

    fn money(minor_units: u64) -> protocol::Money {
        serde_json::from_value(serde_json::json!({"minor_units": minor_units, "currency": "CNY"}))
            .unwrap()
    }

    fn response(outcome: protocol::QueryOutcome, fee: u64) -> Acknowledgement {
        Acknowledgement::Result(PacketPayload::CreditResponse(protocol::CreditResponse {
            query_packet: packet().commitment(),
            outcome,
            answers: Vec::new(),
            missing: Vec::new(),
            fee_charged: money(fee),
            charges: Vec::new(),
        }))
    }

    #[test]
    fn events_name_their_packet_and_the_other_chain() {
        let shaanxi = chain("shaanxi");
        let sent = event(
            "send_packet",
            &[
                ("destination", "guangdong"),
                ("sequence", "7"),
                ("commitment", "ab"),
            ],
        );
        let id = event_id(&shaanxi, &sent).unwrap().unwrap();
        assert_eq!(id.kind, EventKind::Sent);
        assert_eq!(id.other, chain("guangdong"));
        assert_eq!(id.sequence, 7);
        assert_eq!(
            id.marker,
            format!("shaanxi/send_packet/guangdong/{:020}", 7).into_bytes()
        );
        // On the destination, the other chain is the packet's source.
        let received = event(
            "write_acknowledgement",
            &[
                ("source", "shaanxi"),
                ("destination", "guangdong"),
                ("sequence", "7"),
            ],
        );
        let id = event_id(&chain("guangdong"), &received).unwrap().unwrap();
        assert_eq!((id.kind, id.other), (EventKind::Received, shaanxi.clone()));
        for (kind, expected) in [
            ("acknowledge_packet", EventKind::Acknowledged),
            ("timeout_packet", EventKind::TimedOut),
        ] {
            let e = event(kind, &[("destination", "guangdong"), ("sequence", "7")]);
            let id = event_id(&shaanxi, &e).unwrap().unwrap();
            assert_eq!(id.kind, expected);
            // Each event of a packet has its own marker.
            assert_ne!(
                id.marker,
                event_id(&shaanxi, &sent).unwrap().unwrap().marker
            );
        }
        // Events the log does not record.
        for kind in ["recv_packet", "create_client", ""] {
            assert_eq!(event_id(&shaanxi, &event(kind, &[])).unwrap(), None);
        }
    }

    #[test]
    fn malformed_event_attributes_are_errors_not_panics() {
        let shaanxi = chain("shaanxi");
        for attributes in [
            vec![("destination", "guangdong")],
            vec![("sequence", "7")],
            vec![("destination", "guangdong"), ("sequence", "-1")],
            vec![
                ("destination", "guangdong"),
                ("sequence", "99999999999999999999999"),
            ],
            vec![("destination", "Not A Chain!"), ("sequence", "7")],
            vec![("destination", "\u{0}\u{ffff}"), ("sequence", "\u{1F600}")],
        ] {
            let err = event_id(&shaanxi, &event("send_packet", &attributes)).unwrap_err();
            assert!(
                matches!(&err, SupervisorError::Inconsistent { chain, .. } if chain == &shaanxi),
                "{err}"
            );
        }
    }

    #[test]
    fn a_sent_packet_becomes_a_committed_entry_with_its_metadata() {
        let record = AuditRecord::from_packet(&packet(), Outcome::Committed, time(5));
        assert_eq!(record.outcome, Outcome::Committed);
        assert_eq!(record.kind, MessageKind::CreditQuery);
        assert_eq!(
            (record.source.as_str(), record.destination.as_str()),
            ("shaanxi", "guangdong")
        );
        assert_eq!(record.packet_sequence, 7);
        assert_eq!(record.requester.unwrap().as_str(), "bank-of-xian");
        assert_eq!(record.enterprise.unwrap().as_str(), "91350100M000100Y43");
        assert_eq!(record.purpose, "working capital loan application");
        assert!(record.consent_id.is_some());
        assert_eq!(record.fee, Some(money(500)));
    }

    #[test]
    fn a_received_packet_takes_the_acknowledgement_outcome_and_fee() {
        let sent = AuditRecord::from_packet(&packet(), Outcome::Committed, time(5));
        let answered = received_record(
            sent.clone(),
            &response(protocol::QueryOutcome::Answered, 120),
            time(9),
        );
        assert_eq!(answered.outcome, Outcome::Answered);
        assert_eq!(answered.kind, MessageKind::CreditResponse);
        assert_eq!(answered.fee, Some(money(120)));
        assert_eq!(answered.time, time(9));
        // The query's metadata stays.
        assert_eq!(answered.requester, sent.requester);
        assert_eq!(answered.enterprise, sent.enterprise);
        assert_eq!(answered.consent_id, sent.consent_id);
        assert_eq!(answered.purpose, sent.purpose);

        let refused = received_record(
            sent.clone(),
            &response(protocol::QueryOutcome::ConsentRefused("expired".into()), 0),
            time(9),
        );
        assert_eq!(refused.outcome, Outcome::Refused("consent: expired".into()));
        let failed = received_record(
            sent.clone(),
            &Acknowledgement::Error("no handler".into()),
            time(9),
        );
        assert_eq!(failed.outcome, Outcome::Refused("error: no handler".into()));
        assert_eq!(failed.fee, None);
        assert_eq!(failed.kind, sent.kind);
        // Not seen sent: the chains and sequence only.
        let bare = received_record(
            bare_record(&chain("shaanxi"), &chain("guangdong"), 7, time(9)),
            &response(protocol::QueryOutcome::Answered, 120),
            time(9),
        );
        assert_eq!(bare.outcome, Outcome::Answered);
        assert_eq!((bare.requester, bare.enterprise), (None, None));
        assert_eq!(bare.packet_sequence, 7);
    }

    #[test]
    fn a_closed_packet_takes_its_proven_result_only() {
        let sent = AuditRecord::from_packet(&packet(), Outcome::Committed, time(5));
        let ack =
            PacketResult::Acknowledged(Box::new(response(protocol::QueryOutcome::Answered, 120)));
        let acknowledged =
            closed_record(sent.clone(), EventKind::Acknowledged, Some(&ack), time(11)).unwrap();
        assert_eq!(acknowledged.outcome, Outcome::Acknowledged);
        assert_eq!(acknowledged.fee, Some(money(120)));
        assert_eq!(acknowledged.time, time(11));
        assert_eq!(acknowledged.enterprise, sent.enterprise);

        let timed_out = closed_record(
            sent.clone(),
            EventKind::TimedOut,
            Some(&PacketResult::TimedOut),
            time(11),
        )
        .unwrap();
        assert_eq!(timed_out.outcome, Outcome::TimedOut);
        // The max fee of the query, nothing charged on a timeout.
        assert_eq!(timed_out.fee, sent.fee);

        // An event the proven result contradicts is not logged.
        for (kind, result) in [
            (EventKind::Acknowledged, Some(&PacketResult::TimedOut)),
            (EventKind::TimedOut, Some(&ack)),
            (EventKind::Acknowledged, None),
            (EventKind::TimedOut, None),
        ] {
            assert_eq!(closed_record(sent.clone(), kind, result, time(11)), None);
        }
    }

    #[test]
    fn a_replayed_event_is_appended_once_even_across_a_restart() {
        let dir =
            std::env::temp_dir().join(format!("relayer-supervisor-replay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let regulator = protocol::PublicKey(
            SigningKey::from_bytes(&[9u8; 32])
                .verifying_key()
                .to_bytes(),
        );
        let sent = event(
            "send_packet",
            &[
                ("destination", "guangdong"),
                ("sequence", "7"),
                ("commitment", "ab"),
            ],
        );
        let shaanxi = chain("shaanxi");
        let record = AuditRecord::from_packet(&packet(), Outcome::Committed, time(5));
        {
            let store = Store::open(&dir).unwrap();
            let audit = AuditService::open(store, regulator).unwrap();
            let id = event_id(&shaanxi, &sent).unwrap().unwrap();
            assert!(!audit.is_recorded(&id.marker).unwrap());
            assert!(
                audit
                    .record_once(record.clone(), &id.marker)
                    .unwrap()
                    .is_some()
            );
            // The same event read again (a poll overlapping the last one).
            let again = event_id(&shaanxi, &sent).unwrap().unwrap();
            assert!(audit.is_recorded(&again.marker).unwrap());
            assert!(
                audit
                    .record_once(record.clone(), &again.marker)
                    .unwrap()
                    .is_none()
            );
            assert_eq!(audit.head().0, 1);
        }
        // After a restart (scanned height not yet saved): still once.
        let store = Store::open(&dir).unwrap();
        let audit = AuditService::open(store, regulator).unwrap();
        let id = event_id(&shaanxi, &sent).unwrap().unwrap();
        assert!(
            audit
                .record_once(record.clone(), &id.marker)
                .unwrap()
                .is_none()
        );
        assert_eq!(audit.head().0, 1);
        // Another event of the same packet is its own entry.
        let closed = event(
            "acknowledge_packet",
            &[("destination", "guangdong"), ("sequence", "7")],
        );
        let id = event_id(&shaanxi, &closed).unwrap().unwrap();
        assert!(audit.record_once(record, &id.marker).unwrap().is_some());
        assert_eq!(audit.head().0, 2);
        drop(audit);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
