//! The regulator's supervision node (`relayer supervise`): a read-only
//! member of the mesh that follows every registered chain through the
//! relayers serving it and keeps the audit log of every cross-chain
//! message's metadata, anchored periodically on a chain.
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
use std::sync::{Arc, Mutex};
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
use crate::audit::{AuditRecord, AuditService, MessageKind, Outcome, ServiceError};
use crate::engine::{ChainRuntime, EngineError, wall_clock};
use crate::store::{Store, StoreError};

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
}

/// The supervision node: the audit log and the chains it follows.
pub struct Supervisor {
    audit: Arc<AuditService>,
    store: Store,
    chains: BTreeMap<ChainId, Arc<ChainRuntime>>,
    progress: Mutex<BTreeMap<ChainId, Progress>>,
    anchored: AtomicU64,
    anchors: AtomicU64,
    anchor_failures: AtomicU64,
    started: Instant,
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
            chains: chains.into_iter().map(|c| (c.id().clone(), c)).collect(),
            progress: Mutex::new(progress),
            anchored: AtomicU64::new(anchored),
            anchors: AtomicU64::new(0),
            anchor_failures: AtomicU64::new(0),
            started: Instant::now(),
        }))
    }

    /// The audit log.
    pub fn audit(&self) -> &Arc<AuditService> {
        &self.audit
    }

    /// How far each chain is followed.
    pub fn progress(&self) -> BTreeMap<ChainId, Progress> {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
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

    /// Follows every chain until the process stops: each chain's new
    /// events every `interval`.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        let mut tasks = tokio::task::JoinSet::new();
        for chain in self.chains.values() {
            let (this, chain) = (self.clone(), chain.clone());
            tasks.spawn(async move {
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
        }
        while let Some(done) = tasks.join_next().await {
            let Err(e) = done;
            tracing::error!(error = %e, "a follower task ended");
        }
    }

    /// Reads `chain`'s events since the last scanned height up to its
    /// latest, logging each; the scanned height is saved after each piece.
    /// Returns the entries appended.
    pub async fn follow_once(&self, chain: &ChainRuntime) -> Result<usize, SupervisorError> {
        let id = chain.id().clone();
        let mesh = chain
            .mesh_adapter()
            .ok_or_else(|| SupervisorError::Inconsistent {
                chain: id.clone(),
                reason: "followed chains are reached through the mesh".into(),
            })?;
        let mut logged = 0;
        loop {
            let since = self.store.scanned(&id)?;
            let (events, packets) = mesh.packet_events_with_packets(since).await?;
            for event in &events.events {
                if self.log_event(chain, event, &packets).await? {
                    logged += 1;
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
                return Ok(logged);
            }
        }
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
        let kind = event.event.kind.as_str();
        if !matches!(
            kind,
            "send_packet" | "write_acknowledgement" | "acknowledge_packet" | "timeout_packet"
        ) {
            return Ok(false);
        }
        let sequence: u64 = parse_attr(id, event, "sequence")?;
        let other: ChainId = if kind == "write_acknowledgement" {
            parse_attr(id, event, "source")?
        } else {
            parse_attr(id, event, "destination")?
        };
        let marker = format!("{id}/{kind}/{other}/{sequence:020}").into_bytes();
        if self.audit.is_recorded(&marker)? {
            return Ok(false);
        }
        let now = wall_clock();
        let record = match kind {
            "send_packet" => {
                let commitment = attr(id, event, "commitment")?;
                let packet = self
                    .sent_packet(chain, &other, sequence, commitment, packets)
                    .await?;
                let record = AuditRecord::from_packet(&packet, Outcome::Committed, now);
                self.store.supervisor_put(
                    &sent_key(id, &other, sequence),
                    &borsh::to_vec(&record).unwrap_or_default(),
                )?;
                record
            }
            "write_acknowledgement" => {
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
                let (outcome, fee, response_kind) = ack_outcome(&ack);
                let mut record = match self.known_sent(&other, id, sequence)? {
                    Some(record) => record,
                    // The source's follower may not have reached the send
                    // yet: read the packet from the source while in flight.
                    None => match self.in_flight(&other, id, sequence, receipt).await? {
                        Some(packet) => AuditRecord::from_packet(&packet, Outcome::Committed, now),
                        None => self.sent_record(&other, id, sequence, now)?,
                    },
                };
                record.time = now;
                record.outcome = outcome;
                if let Some(kind) = response_kind {
                    record.kind = kind;
                }
                if let Acknowledgement::Result(payload @ PacketPayload::AggregationPartial(_)) =
                    &ack
                {
                    // Its metadata only (chain, provider count), never the
                    // ciphertext.
                    let shown = Packet {
                        source: other.clone(),
                        destination: id.clone(),
                        sequence,
                        timeout_height: None,
                        timeout_time: None,
                        payload: payload.clone(),
                    };
                    record.purpose =
                        AuditRecord::from_packet(&shown, Outcome::Acknowledged, now).purpose;
                }
                record.fee = fee;
                record
            }
            // On the source: how the packet ended, proven (the event is
            // only a hint).
            "acknowledge_packet" => {
                let mut record = self.sent_record(id, &other, sequence, now)?;
                let Some(PacketResult::Acknowledged(ack)) =
                    self.packet_result(chain, &other, sequence).await?
                else {
                    return Err(self.inconsistent(
                        id,
                        format!("packet {other}/{sequence} announced acknowledged but its result is not an acknowledgement"),
                    ));
                };
                record.time = now;
                record.outcome = Outcome::Acknowledged;
                record.fee = ack_outcome(&ack).1;
                record
            }
            _ => {
                let Some(PacketResult::TimedOut) =
                    self.packet_result(chain, &other, sequence).await?
                else {
                    return Err(self.inconsistent(
                        id,
                        format!("packet {other}/{sequence} announced timed out but its result is not a timeout"),
                    ));
                };
                let mut record = self.sent_record(id, &other, sequence, now)?;
                record.time = now;
                record.outcome = Outcome::TimedOut;
                record
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

    /// The packet `destination/sequence` sent by `chain`: read with its
    /// proof from the chain's state while in flight; once closed (pruned),
    /// the copy the serving relayer recorded, checked against the
    /// commitment and, when the destination is followed, against the
    /// destination's proven receipt.
    async fn sent_packet(
        &self,
        chain: &ChainRuntime,
        destination: &ChainId,
        sequence: u64,
        commitment: &str,
        packets: &[Packet],
    ) -> Result<Packet, SupervisorError> {
        let id = chain.id();
        let states = chain
            .verified_states(&[state_keys::packet(destination, sequence)])
            .await?;
        if let Some(bytes) = &states.entries[0].1 {
            let packet = Packet::from_canonical_bytes(bytes).map_err(|e| {
                self.inconsistent(id, format!("packet {destination}/{sequence}: {e}"))
            })?;
            if packet.commitment().to_string() != commitment {
                return Err(self.inconsistent(
                    id,
                    format!(
                        "packet {destination}/{sequence} does not match its send_packet commitment"
                    ),
                ));
            }
            return Ok(packet);
        }
        let packet = packets
            .iter()
            .find(|p| {
                &p.source == id
                    && &p.destination == destination
                    && p.sequence == sequence
                    && p.commitment().to_string() == commitment
            })
            .cloned()
            .ok_or_else(|| {
                self.inconsistent(
                    id,
                    format!(
                        "packet {destination}/{sequence} is closed and no serving relayer has it"
                    ),
                )
            })?;
        if let Some(dest) = self.chains.get(destination) {
            let receipt = dest
                .verified_states(&[state_keys::packet_receipt(id, sequence)])
                .await?;
            if let Some(value) = &receipt.entries[0].1
                && value.as_slice() != packet.commitment().as_bytes().as_slice()
            {
                return Err(self.inconsistent(
                    id,
                    format!(
                        "packet {destination}/{sequence} handed over does not match {destination}'s receipt"
                    ),
                ));
            }
        }
        Ok(packet)
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
        let (Some(chain), Some(receipt)) = (self.chains.get(source), receipt) else {
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
        match self.known_sent(source, destination, sequence)? {
            Some(record) => Ok(record),
            None => Ok(AuditRecord {
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
            }),
        }
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
/// ([`crate::audit::http`]), `/health` and `/metrics`; anything else is
/// 403 (the node serves the regulator only).
pub fn router(state: SupervisorState) -> Router {
    Router::new()
        .merge(crate::audit::http::routes())
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(forbidden)
        .with_state(state)
}

async fn forbidden(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{} {}: the regulator's supervision node serves only /audit/entries and \
             /audit/checkpoints (signed by the regulator), /health and /metrics",
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
        .filter(|(_, p)| p.last_error.is_some())
        .map(|(c, _)| c.to_string())
        .collect();
    let (entries, _) = s.audit.head();
    let body = serde_json::json!({
        "status": if failing.is_empty() { "ok" } else { "degraded" },
        "entries": entries,
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
}
