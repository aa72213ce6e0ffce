//! One path between two chains: moves its pending packets forward in both
//! directions.

use std::collections::BTreeMap;
use std::sync::Arc;

use adapters::SubmitOutcome;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use light_clients::credit_chain::UpdateOutcome;
use light_clients::merkle::StateProof;
use protocol::tx::{Acknowledgement, TxBody};
use protocol::{Canonical, ChainId, Header, Height, LightBlock, Packet, state_keys};

use crate::engine::{ChainRuntime, EngineError, wall_clock};
use crate::store::{PacketRecord, PacketState, Store, Waiting};

/// The sequences of the packets `bodies` carry, in order.
fn packet_sequences(bodies: &[TxBody]) -> Vec<u64> {
    bodies
        .iter()
        .filter_map(|b| match b {
            TxBody::RecvPacket { packet, .. }
            | TxBody::AcknowledgePacket { packet, .. }
            | TxBody::TimeoutPacket { packet, .. } => Some(packet.sequence),
            _ => None,
        })
        .collect()
}

/// Batches of one stage in flight at once: one waiting for its block, the
/// next being proven.
const BATCHES_IN_FLIGHT: usize = 2;

/// Batches one pass of a stage takes at most.
const BATCHES_PER_PASS: usize = 4;

/// Most blocks fetched to plan one client update.
const MAX_BISECTION_STEPS: usize = 64;

/// Interchain error codes of the chain that mean "already done".
const PACKET_ALREADY_RECEIVED: u32 = 77;
const UNKNOWN_PACKET: u32 = 79;

/// What one relay pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    /// Packets received on their destination.
    pub received: usize,
    /// Acknowledgements relayed back.
    pub acknowledged: usize,
    /// Packets timed out on their source.
    pub timed_out: usize,
    /// Failures (retried on the next pass).
    pub errors: Vec<String>,
}

impl RelayReport {
    /// Adds another report's counts.
    pub fn merge(&mut self, other: RelayReport) {
        self.received += other.received;
        self.acknowledged += other.acknowledged;
        self.timed_out += other.timed_out;
        self.errors.extend(other.errors);
    }

    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        self.received == 0
            && self.acknowledged == 0
            && self.timed_out == 0
            && self.errors.is_empty()
    }
}

/// Whether `packet`'s timeout has passed at `header` of its destination.
fn is_expired(packet: &Packet, header: &Header) -> bool {
    packet.timeout_height.is_some_and(|h| header.height >= h)
        || packet.timeout_time.is_some_and(|t| header.time >= t)
}

/// Which way packets travel on a path between chains `a` and `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From `a` to `b`.
    Forward,
    /// From `b` to `a`.
    Backward,
}

/// One kind of work on a direction of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Committed packets: received on the destination (or timed out on the
    /// source). Submits to the destination.
    Deliver,
    /// Received packets: their acknowledgements proven back. Submits to the
    /// source.
    Acknowledge,
}

/// Decides which packets are relayed (the config's packet filter).
pub type PacketFilterFn = Arc<dyn Fn(&Packet) -> bool + Send + Sync>;

/// A path between chains `a` and `b`.
pub struct PathWorker {
    a: Arc<ChainRuntime>,
    b: Arc<ChainRuntime>,
    store: Store,
    batch_size: usize,
    filter: Option<PacketFilterFn>,
}

fn proof_bytes(proof: &StateProof) -> Vec<u8> {
    match proof {
        StateProof::Membership(p) => borsh::to_vec(p),
        StateProof::NonMembership(p) => borsh::to_vec(p),
    }
    .unwrap_or_default()
}

impl PathWorker {
    /// A worker for the path between `a` and `b`.
    pub fn new(
        a: Arc<ChainRuntime>,
        b: Arc<ChainRuntime>,
        store: Store,
        batch_size: usize,
        filter: Option<PacketFilterFn>,
    ) -> PathWorker {
        PathWorker {
            a,
            b,
            store,
            batch_size: batch_size.max(1),
            filter,
        }
    }

    /// The two chain ids.
    pub fn ends(&self) -> (&ChainId, &ChainId) {
        (self.a.id(), self.b.id())
    }

    /// The chain packets travelling in `direction` come from.
    pub fn source(&self, direction: Direction) -> &Arc<ChainRuntime> {
        match direction {
            Direction::Forward => &self.a,
            Direction::Backward => &self.b,
        }
    }

    /// Relays a→b then b→a, both stages each.
    pub async fn relay_both(&self) -> RelayReport {
        let mut report = RelayReport::default();
        for direction in [Direction::Forward, Direction::Backward] {
            if !self.source(direction).is_local() {
                continue;
            }
            for stage in [Stage::Deliver, Stage::Acknowledge] {
                report.merge(self.run_stage(direction, stage).await);
            }
        }
        report
    }

    /// Moves every pending packet travelling in `direction` one `stage`
    /// forward. Stages and directions are independent: the engine runs the
    /// four of a path concurrently (submissions to one chain take turns).
    pub async fn run_stage(&self, direction: Direction, stage: Stage) -> RelayReport {
        let (src, dst) = match direction {
            Direction::Forward => (&*self.a, &*self.b),
            Direction::Backward => (&*self.b, &*self.a),
        };
        let mut report = RelayReport::default();
        if src.is_frozen().await || dst.is_frozen().await {
            report.errors.push(format!(
                "path {}→{} stopped: a light client is frozen",
                src.id(),
                dst.id()
            ));
            return report;
        }
        // A bounded piece of the work (the engine runs the stage again at
        // once when it moved something), so memory does not grow with the
        // backlog. Filtered-out packets stay in the store, untouched, until
        // the filter changes.
        let wanted = |r: &PacketRecord| self.filter.as_ref().is_none_or(|allows| allows(&r.packet));
        let waiting = match stage {
            Stage::Deliver => Waiting::Delivery,
            Stage::Acknowledge => Waiting::Acknowledgement,
        };
        let limit = self.batch_size * BATCHES_PER_PASS;
        let work = match self
            .store
            .pending_where(src.id(), dst.id(), waiting, limit, wanted)
        {
            Ok(w) => w,
            Err(e) => {
                report.errors.push(e.to_string());
                return report;
            }
        };
        // Batches overlap: the next one is proven while the previous one
        // waits for its block (submissions to a chain still take turns).
        let mut batches = work.chunks(self.batch_size);
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < BATCHES_IN_FLIGHT {
                let Some(batch) = batches.next() else { break };
                in_flight.push(self.run_batch(src, dst, stage, batch));
            }
            let Some(done) = in_flight.next().await else {
                break;
            };
            report.merge(done);
        }
        let moved = report.received + report.acknowledged + report.timed_out;
        src.metrics().relayed(src.id(), dst.id(), moved as u64);
        src.metrics()
            .failed(src.id(), dst.id(), report.errors.len() as u64);
        report
    }

    /// One batch of a stage, with its own report.
    async fn run_batch(
        &self,
        src: &ChainRuntime,
        dst: &ChainRuntime,
        stage: Stage,
        batch: &[PacketRecord],
    ) -> RelayReport {
        let mut report = RelayReport::default();
        let step = match stage {
            Stage::Deliver => self.deliver(src, dst, batch, &mut report).await,
            Stage::Acknowledge => self.acknowledge(src, dst, batch, &mut report).await,
        };
        if let Err(e) = step {
            self.note(src, dst, batch, &e, &mut report);
        }
        report
    }

    fn note(
        &self,
        src: &ChainRuntime,
        dst: &ChainRuntime,
        batch: &[PacketRecord],
        e: &EngineError,
        report: &mut RelayReport,
    ) {
        tracing::warn!(source = %src.id(), destination = %dst.id(), packets = batch.len(), error = %e, "relay step failed; will retry");
        for r in batch {
            let _ = self.store.note_failure(
                src.id(),
                dst.id(),
                r.packet.sequence,
                &e.to_string(),
                wall_clock(),
            );
        }
        report.errors.push(e.to_string());
    }

    /// Committed packets: receive them on `dst` with proofs of their
    /// commitments, or time them out on `src` when their timeout passed.
    async fn deliver(
        &self,
        src: &ChainRuntime,
        dst: &ChainRuntime,
        batch: &[PacketRecord],
        report: &mut RelayReport,
    ) -> Result<(), EngineError> {
        // Only packets that may have expired need the destination's receipts
        // first (a timeout proves their absence). The others go straight to
        // delivery: a duplicate is refused by the destination's receipt.
        let mut latest = dst.latest_trusted_header().await;
        // A packet past its timeout by the clock but not by the newest
        // destination header verified so far (a quiet destination, no block
        // stream): verify the destination's latest block, or it would be
        // delivered, and refused as timed out, on every pass.
        let now = wall_clock();
        let stale = latest.as_ref().is_none_or(|header| {
            batch.iter().any(|r| {
                !is_expired(&r.packet, header) && r.packet.timeout_time.is_some_and(|t| t <= now)
            })
        });
        if stale {
            let status = dst.adapter().status().await?;
            latest = Some(
                dst.verified_block(status.latest_height)
                    .await?
                    .header()
                    .clone(),
            );
        }
        let Some(latest) = latest else {
            return Ok(());
        };
        let (expired, mut to_receive): (Vec<&Packet>, Vec<&Packet>) = batch
            .iter()
            .map(|r| &r.packet)
            .partition(|p| is_expired(p, &latest));
        if !expired.is_empty() {
            to_receive.extend(self.time_out(src, dst, &expired, report).await?);
        }
        if to_receive.is_empty() {
            return Ok(());
        }
        let keys: Vec<Vec<u8>> = to_receive
            .iter()
            .map(|p| state_keys::packet_commitment(dst.id(), p.sequence))
            .collect();
        let proving = std::time::Instant::now();
        let proven = src.verified_states(&keys).await?;
        tracing::debug!(chain = %src.id(), keys = keys.len(), ms = proving.elapsed().as_millis() as u64, "proved commitments");
        let height = proven.light_block.height();
        let mut bodies = Vec::new();
        for (p, (_, value, proof)) in to_receive.iter().zip(&proven.entries) {
            if value.is_none() {
                // No commitment any more: acknowledged or timed out meanwhile.
                continue;
            }
            bodies.push(TxBody::RecvPacket {
                packet: (*p).clone(),
                proof: proof_bytes(proof),
                proof_height: height,
            });
        }
        if bodies.is_empty() {
            return Ok(());
        }
        let sequences = packet_sequences(&bodies);
        let outcomes = submit_proven(dst, src, &proven.light_block, bodies).await?;
        report.received += self.settle(
            src,
            dst,
            sequences,
            &outcomes,
            PACKET_ALREADY_RECEIVED,
            |o| PacketState::Received { height: o.height },
            report,
        )?;
        Ok(())
    }

    /// Packets whose timeout seems passed on `dst`: proves their receipts'
    /// absence at a verified destination height past the timeout and times
    /// them out on `src`. Returns those not expired at that height after
    /// all, to be delivered; received ones are recorded as such.
    async fn time_out<'p>(
        &self,
        src: &ChainRuntime,
        dst: &ChainRuntime,
        packets: &[&'p Packet],
        report: &mut RelayReport,
    ) -> Result<Vec<&'p Packet>, EngineError> {
        let receipt_keys: Vec<Vec<u8>> = packets
            .iter()
            .map(|p| state_keys::packet_receipt(src.id(), p.sequence))
            .collect();
        let receipts = dst.verified_states(&receipt_keys).await?;
        let dst_header = receipts.light_block.header().clone();
        let mut received = Vec::new();
        let mut to_time_out = Vec::new();
        let mut not_expired = Vec::new();
        for (p, (_, value, proof)) in packets.iter().zip(&receipts.entries) {
            if value.is_some() {
                received.push((
                    p.sequence,
                    PacketState::Received {
                        height: Some(dst_header.height),
                    },
                ));
            } else if is_expired(p, &dst_header) {
                to_time_out.push((*p, proof));
            } else {
                not_expired.push(*p);
            }
        }
        self.store
            .advance_many(src.id(), dst.id(), received, wall_clock())?;
        if to_time_out.is_empty() {
            return Ok(not_expired);
        }
        let bodies = to_time_out
            .iter()
            .map(|(p, proof)| TxBody::TimeoutPacket {
                packet: (*p).clone(),
                proof: proof_bytes(proof),
                proof_height: dst_header.height,
            })
            .collect();
        let outcomes = submit_proven(src, dst, &receipts.light_block, bodies).await?;
        let sequences = to_time_out.iter().map(|(p, _)| p.sequence).collect();
        report.timed_out += self.settle(
            src,
            dst,
            sequences,
            &outcomes,
            UNKNOWN_PACKET,
            |_| PacketState::TimedOut,
            report,
        )?;
        Ok(not_expired)
    }

    /// Received packets: prove their acknowledgements from `dst` to `src`.
    async fn acknowledge(
        &self,
        src: &ChainRuntime,
        dst: &ChainRuntime,
        batch: &[PacketRecord],
        report: &mut RelayReport,
    ) -> Result<(), EngineError> {
        let mut keys = Vec::with_capacity(batch.len() * 2);
        for r in batch {
            keys.push(state_keys::packet_ack(src.id(), r.packet.sequence));
            keys.push(state_keys::packet_ack_data(src.id(), r.packet.sequence));
        }
        let proving = std::time::Instant::now();
        let proven = dst.verified_states(&keys).await?;
        tracing::debug!(chain = %dst.id(), keys = keys.len(), ms = proving.elapsed().as_millis() as u64, "proved acknowledgements");
        let height = proven.light_block.height();
        let mut bodies = Vec::new();
        for (r, pair) in batch.iter().zip(proven.entries.chunks(2)) {
            let [(_, Some(_), proof), (_, Some(data), _)] = pair else {
                continue; // not acknowledged yet
            };
            let acknowledgement = Acknowledgement::from_canonical_bytes(data).map_err(|e| {
                EngineError::Unexpected {
                    chain: dst.id().clone(),
                    reason: format!("acknowledgement of {}/{}: {e}", src.id(), r.packet.sequence),
                }
            })?;
            bodies.push(TxBody::AcknowledgePacket {
                packet: r.packet.clone(),
                acknowledgement,
                proof: proof_bytes(proof),
                proof_height: height,
            });
        }
        if bodies.is_empty() {
            return Ok(());
        }
        let sequences = packet_sequences(&bodies);
        let outcomes = submit_proven(src, dst, &proven.light_block, bodies).await?;
        report.acknowledged += self.settle(
            src,
            dst,
            sequences,
            &outcomes,
            UNKNOWN_PACKET,
            |_| PacketState::Acknowledged,
            report,
        )?;
        Ok(())
    }

    /// Records the outcome of each packet message: a success, or the
    /// chain's code for "already done" (`done_code`), moves the packet to
    /// `state`; anything else is a failure, retried on a later pass.
    /// Returns how many packets moved.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        src: &ChainRuntime,
        dst: &ChainRuntime,
        sequences: Vec<u64>,
        outcomes: &[Result<SubmitOutcome, String>],
        done_code: u32,
        state: impl Fn(&SubmitOutcome) -> PacketState,
        report: &mut RelayReport,
    ) -> Result<usize, EngineError> {
        let mut moved = Vec::new();
        for (sequence, outcome) in sequences.into_iter().zip(outcomes) {
            match outcome {
                Ok(o) if o.is_ok() || o.code == done_code => moved.push((sequence, state(o))),
                other => self.fail(src, dst, sequence, other, report),
            }
        }
        let count = moved.len();
        self.store
            .advance_many(src.id(), dst.id(), moved, wall_clock())?;
        Ok(count)
    }

    fn fail(
        &self,
        src: &ChainRuntime,
        dst: &ChainRuntime,
        sequence: u64,
        outcome: &Result<SubmitOutcome, String>,
        report: &mut RelayReport,
    ) {
        let reason = match outcome {
            Ok(o) => format!("code {} ({}): {}", o.code, o.codespace, o.message),
            Err(e) => e.clone(),
        };
        let _ = self
            .store
            .note_failure(src.id(), dst.id(), sequence, &reason, wall_clock());
        report
            .errors
            .push(format!("{}→{} #{sequence}: {reason}", src.id(), dst.id()));
    }
}

/// Submits `bodies` on chain `on`, preceded by the client updates that bring
/// its on-chain light client of `of` to `block` (the height the bodies'
/// proofs are at). Returns the outcomes of `bodies` only, in order; if an
/// update fails, the batch fails.
async fn submit_proven(
    on: &ChainRuntime,
    of: &ChainRuntime,
    block: &LightBlock,
    bodies: Vec<TxBody>,
) -> Result<Vec<Result<SubmitOutcome, String>>, EngineError> {
    // Other submissions may move the on-chain client between this plan and
    // the commit (they are grouped into the same batch or go before it):
    // an update is then already trusted, or verifies from a newer header;
    // the chain checks each one regardless.
    let planned = std::time::Instant::now();
    let mut all = client_updates(on, of, block).await?;
    let updates = all.len();
    all.extend(bodies);
    let submitted = std::time::Instant::now();
    let outcomes = on.submit(all).await?;
    tracing::debug!(
        chain = %on.id(),
        messages = outcomes.len(),
        plan_ms = (submitted - planned).as_millis() as u64,
        commit_ms = submitted.elapsed().as_millis() as u64,
        "submitted a proven batch"
    );
    for outcome in outcomes.iter().take(updates) {
        match outcome {
            Ok(o) if o.is_ok() => {}
            Ok(o) => {
                return Err(EngineError::Unexpected {
                    chain: on.id().clone(),
                    reason: format!("client update refused: code {}: {}", o.code, o.message),
                });
            }
            Err(e) => {
                return Err(EngineError::Unexpected {
                    chain: on.id().clone(),
                    reason: format!("client update: {e}"),
                });
            }
        }
    }
    Ok(outcomes.into_iter().skip(updates).collect())
}

/// The `update_client` messages that bring `on`'s light client of `of` to
/// `target`: none when it already trusts it, `target` alone when it
/// verifies from what the client trusts, otherwise intermediate blocks
/// found by bisection. The plan runs the on-chain client's own code on its
/// stored state, so a sequence that passes here passes on the chain (which
/// verifies it again regardless).
async fn client_updates(
    on: &ChainRuntime,
    of: &ChainRuntime,
    target: &LightBlock,
) -> Result<Vec<TxBody>, EngineError> {
    let unexpected = |reason: String| EngineError::Unexpected {
        chain: on.id().clone(),
        reason,
    };
    let key = state_keys::client(of.id());
    let stored = on.adapter().state(&key).await?;
    let now = stored.light_block.header().time.max(target.header().time);
    let bytes = stored
        .value
        .ok_or_else(|| unexpected(format!("no light client of {} on {}", of.id(), on.id())))?;
    let state = BTreeMap::from([(key, bytes)]);
    let mut client = credit_chain::app::interchain::client(&state, of.id())
        .map_err(|e| unexpected(format!("light client of {}: {e}", of.id())))?
        .ok_or_else(|| unexpected(format!("no light client of {} on {}", of.id(), on.id())))?;
    let mut pending = vec![target.clone()];
    let mut updates = Vec::new();
    for _ in 0..MAX_BISECTION_STEPS {
        let Some(block) = pending.last().cloned() else {
            return Ok(updates);
        };
        let height = block.height();
        match client.update(block.clone(), now) {
            Ok(UpdateOutcome::Verified { .. }) => {
                pending.pop();
                updates.push(TxBody::UpdateClient { block });
            }
            Ok(UpdateOutcome::AlreadyTrusted) => {
                pending.pop();
            }
            Ok(UpdateOutcome::NotEnoughTrust(_)) => {
                let low = client
                    .trusted_below(height)
                    .map_or(1, |b| b.height().value());
                let mid = Height::new(low + (height.value() - low) / 2)
                    .ok()
                    .filter(|m| m.value() > low)
                    .ok_or_else(|| {
                        unexpected(format!("cannot bisect between {low} and {height}"))
                    })?;
                pending.push(of.verified_block(mid).await?);
            }
            Ok(UpdateOutcome::Misbehaviour(_)) => {
                return Err(unexpected(format!(
                    "block {height} of {} conflicts with what {}'s client trusts",
                    of.id(),
                    on.id()
                )));
            }
            Err(e) => {
                return Err(unexpected(format!(
                    "client of {} refuses block {height}: {e}",
                    of.id()
                )));
            }
        }
    }
    Err(unexpected(format!(
        "no update path to {} within {MAX_BISECTION_STEPS} steps",
        target.height()
    )))
}
