//! One chain as the engine sees it: its adapter, the relayer's signing key
//! there, and the relayer's own light client of it.

use std::sync::Arc;
use std::time::Instant;

use adapters::{AdapterError, ChainAdapter, ProvenStates, SubmitOutcome};
use ed25519_dalek::{Signer, SigningKey};
use light_clients::credit_chain::{LightClient, Options, UpdateOutcome};
use light_clients::merkle::StateProof;
use protocol::tx::{SignedTransaction, Transaction, TxBody};
use protocol::{ChainId, Header, Height, LightBlock, PublicKey, Signature, state_keys};
use tokio::sync::{Mutex, oneshot};

use crate::clock::SharedClock;
use crate::engine::EngineError;
use crate::mesh::MeshChainAdapter;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::trust::{Anchor, ChainTrust, backward_depth, refusal_kind, verify_predecessor};

/// A chain, its adapter, the relayer's key there and its light client.
pub struct ChainRuntime {
    id: ChainId,
    adapter: Arc<dyn ChainAdapter>,
    signer: SigningKey,
    trust: ChainTrust,
    store: Store,
    metrics: Metrics,
    /// The next nonce to use, once learnt from the chain; held by the
    /// submission in flight (see [`ChainRuntime::submit`]).
    nonce: Mutex<Option<u64>>,
    /// Submissions waiting for the one in flight to finish; the next
    /// holder of `nonce` sends them all as one batch.
    queued: std::sync::Mutex<Vec<Queued>>,
    /// The relayer's own light client; `None` until first anchored.
    client: Mutex<Option<LightClient>>,
    /// Set for a chain served by other relayers: submissions are handed to
    /// them (they sign under their own keys).
    remote: Option<Arc<MeshChainAdapter>>,
    /// Why the network registry stopped this chain's traffic, if it did.
    suspended: std::sync::Mutex<Option<String>>,
}

/// Values and proofs of several keys at one height, verified: the light
/// block at that height passed the relayer's light client and every proof
/// passed against its state root.
pub struct VerifiedStates {
    /// The verified light block the proofs are against.
    pub light_block: LightBlock,
    /// Per key: the value (None = proven absent) and the proof.
    pub entries: Vec<(Vec<u8>, Option<Vec<u8>>, StateProof)>,
}

impl ChainRuntime {
    /// A runtime for chain `id`.
    pub fn new(
        id: ChainId,
        adapter: Arc<dyn ChainAdapter>,
        signer: SigningKey,
        trust: ChainTrust,
        store: Store,
        metrics: Metrics,
    ) -> ChainRuntime {
        ChainRuntime {
            id,
            adapter,
            signer,
            trust,
            store,
            metrics,
            nonce: Mutex::new(None),
            queued: std::sync::Mutex::new(Vec::new()),
            client: Mutex::new(None),
            remote: None,
            suspended: std::sync::Mutex::new(None),
        }
    }

    /// A runtime for chain `id` served by other relayers and reached
    /// through the mesh. `signer` is this relayer's operator key (never
    /// used to sign there: the serving relayers submit).
    pub fn remote(
        id: ChainId,
        adapter: Arc<MeshChainAdapter>,
        signer: SigningKey,
        trust: ChainTrust,
        store: Store,
        metrics: Metrics,
    ) -> ChainRuntime {
        let mut runtime = ChainRuntime::new(id, adapter.clone(), signer, trust, store, metrics);
        runtime.remote = Some(adapter);
        runtime
    }

    /// Whether this relayer serves the chain itself (RPC access and a key).
    pub fn is_local(&self) -> bool {
        self.remote.is_none()
    }

    /// The mesh adapter of a chain served by others.
    pub fn mesh_adapter(&self) -> Option<&Arc<MeshChainAdapter>> {
        self.remote.as_ref()
    }

    /// The store this runtime records its trusted blocks in (the
    /// relayer's).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The chain id.
    pub fn id(&self) -> &ChainId {
        &self.id
    }

    /// The metrics this chain reports into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The adapter.
    pub fn adapter(&self) -> &Arc<dyn ChainAdapter> {
        &self.adapter
    }

    /// The relayer's public key on this chain.
    pub fn signer_key(&self) -> PublicKey {
        PublicKey(self.signer.verifying_key().to_bytes())
    }

    /// Stops this chain's traffic (the network registry froze or removed
    /// it): [`ChainRuntime::is_frozen`] is true from now on.
    pub fn suspend(&self, reason: String) {
        if let Ok(mut s) = self.suspended.lock() {
            *s = Some(reason);
        }
    }

    /// Why the chain's traffic was stopped by the registry, if it was.
    pub fn suspension(&self) -> Option<String> {
        self.suspended.lock().ok().and_then(|s| s.clone())
    }

    /// Whether the relayer's light client of this chain is frozen (or the
    /// network registry stopped the chain).
    pub async fn is_frozen(&self) -> bool {
        if self.suspension().is_some() {
            return true;
        }
        self.client
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.frozen().is_some())
    }

    /// The height of the latest block the relayer's light client trusts:
    /// the running client's, or before its first use the stored one.
    pub async fn trusted_height(&self) -> Result<Option<Height>, EngineError> {
        if let Some(client) = self.client.lock().await.as_ref() {
            return Ok(Some(client.latest_height()));
        }
        Ok(self.store.trusted_block(&self.id)?.map(|b| b.height()))
    }

    /// The lowest height the relayer's light client trusts (below it,
    /// blocks are only verified backwards); `None` before its first use.
    pub async fn lowest_trusted_height(&self) -> Option<Height> {
        self.client
            .lock()
            .await
            .as_ref()
            .map(|c| c.lowest_trusted().height())
    }

    /// The header of the latest block the relayer's light client trusts;
    /// `None` before the client's first use.
    pub async fn latest_trusted_header(&self) -> Option<Header> {
        self.client
            .lock()
            .await
            .as_ref()
            .map(|c| c.latest().header().clone())
    }

    /// The highest block below `height` that the relayer's light client
    /// trusts: the anchor from which a block at `height` it verified can be
    /// re-verified offline (what an integrator's proof bundle starts from).
    /// `None` before the client's first use or when it trusts nothing lower.
    pub async fn anchor_below(&self, height: Height) -> Option<LightBlock> {
        self.client
            .lock()
            .await
            .as_ref()
            .and_then(|c| c.trusted_below(height).cloned())
    }

    /// The anchor this runtime's trust starts from: one an operator set
    /// with `relayer chains trust` (kept in the store), else the one it was
    /// built with (config or registration).
    pub fn anchor(&self) -> Result<Anchor, EngineError> {
        Ok(self
            .store
            .trust_anchor(&self.id)?
            .unwrap_or(self.trust.anchor))
    }

    /// The local clock verification reads.
    pub fn clock(&self) -> &SharedClock {
        &self.trust.clock
    }

    /// The light client's parameters.
    pub fn options(&self) -> &Options {
        &self.trust.options
    }

    /// Starts the relayer's light client if it has not started: from the
    /// block it trusted last (in the store), or else from the block at the
    /// anchor's height, which must hash to the anchor. Nothing else is ever
    /// trusted without verification.
    pub async fn ensure_anchored(&self) -> Result<(), EngineError> {
        let mut refused = None;
        for _ in 0..REFETCHES {
            let mut guard = self.client.lock().await;
            match self.anchor_client(&mut guard).await {
                Ok(()) => return Ok(()),
                Err(Attempt::Refused(e)) => refused = Some(e),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        Err(refused.unwrap_or_else(|| self.verification("trust anchor refused".into())))
    }

    async fn anchor_client(&self, guard: &mut Option<LightClient>) -> Result<(), Attempt> {
        if guard.is_some() {
            return Ok(());
        }
        let anchor = self.anchor().map_err(Attempt::Failed)?;
        let stored = self
            .store
            .trusted_block(&self.id)
            .map_err(|e| Attempt::Failed(e.into()))?;
        let start = match stored {
            // Verified from this anchor (or an earlier one) in an earlier run.
            Some(b) if b.height() > anchor.height || anchor.matches(&b) => b,
            _ => {
                let block = self
                    .adapter
                    .light_block(anchor.height)
                    .await
                    .map_err(|e| Attempt::Failed(e.into()))?;
                if !anchor.matches(&block) {
                    let reason = format!(
                        "block {} served for the trust anchor hashes to {}, not to the anchor's {}",
                        anchor.height,
                        block.header().hash(),
                        anchor.header_hash
                    );
                    self.refuse(&block, "anchor_mismatch", &reason, true);
                    return Err(Attempt::Refused(self.verification(reason)));
                }
                block
            }
        };
        let now = self.trust.clock.now();
        match LightClient::new(start.clone(), self.trust.options, now) {
            Ok(client) => {
                *guard = Some(client);
                Ok(())
            }
            Err(e) => {
                let kind = refusal_kind(&e);
                let reason = match kind {
                    "trust_expired" => format!(
                        "the trusted block {} is past the trusting period ({e}); set a new anchor with `relayer chains trust {} --height H --hash HEX`",
                        start.height(),
                        self.id
                    ),
                    _ => format!("trusted block {}: {e}", start.height()),
                };
                // A stored block was verified earlier: its expiry is our
                // staleness, not the endpoint's fault.
                self.refuse(&start, kind, &reason, false);
                Err(Attempt::Failed(self.verification(reason)))
            }
        }
    }

    /// The light block at `height`, verified by the relayer's light client
    /// from its anchor with the local clock; bisects when a skip lacks
    /// trust, and walks back the hash chain (at most
    /// [`MAX_BACKWARD_BLOCKS`](crate::trust::MAX_BACKWARD_BLOCKS)) below the lowest trusted block. A block
    /// the client refuses is reported to the adapter (dropped from its
    /// cache, a fault against the endpoint that served it) and fetched
    /// again, from another endpoint when there is one.
    pub async fn verified_block(&self, height: Height) -> Result<LightBlock, EngineError> {
        let mut refused = None;
        for _ in 0..REFETCHES {
            match self.verify_fetched(height).await {
                Ok(block) => return Ok(block),
                Err(Attempt::Refused(e)) => refused = Some(e),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        Err(refused.unwrap_or_else(|| self.verification(format!("block {height} refused"))))
    }

    async fn verify_fetched(&self, height: Height) -> Result<LightBlock, Attempt> {
        let block = self
            .adapter
            .light_block(height)
            .await
            .map_err(|e| Attempt::Failed(e.into()))?;
        let mut guard = self.client.lock().await;
        self.anchor_client(&mut guard).await?;
        let Some(client) = guard.as_mut() else {
            unreachable!("client anchored above")
        };
        if client.trusted_below(height).is_none() && client.trusted_at(height).is_none() {
            let lowest = client.lowest_trusted().clone();
            drop(guard);
            return self.verify_backwards(block, lowest).await;
        }
        let started = Instant::now();
        self.update_client(client, block.clone()).await?;
        self.metrics
            .observe_header_verification(&self.id, started.elapsed());
        self.store
            .save_trusted_block(&self.id, client.latest())
            .map_err(|e| Attempt::Failed(e.into()))?;
        Ok(block)
    }

    /// Verifies `block`, below the client's lowest trusted block `lowest`,
    /// by walking the hash chain down from `lowest`.
    async fn verify_backwards(
        &self,
        block: LightBlock,
        lowest: LightBlock,
    ) -> Result<LightBlock, Attempt> {
        let height = block.height();
        backward_depth(height, lowest.height()).map_err(|e| {
            tracing::warn!(chain = %self.id, %height, error = %e, "refused a block below the trusted ones");
            self.metrics.light_block_refused(&self.id, "below_trusted");
            Attempt::Failed(self.verification(e.to_string()))
        })?;
        let mut next = lowest;
        while next.height() > height {
            let below = Height::new(next.height().value() - 1)
                .map_err(|e| Attempt::Failed(self.verification(e.to_string())))?;
            let older = if below == height {
                block.clone()
            } else {
                self.adapter
                    .light_block(below)
                    .await
                    .map_err(|e| Attempt::Failed(e.into()))?
            };
            if let Err(e) = verify_predecessor(&older, &next) {
                let reason = e.to_string();
                self.refuse(&older, "broken_hash_chain", &reason, true);
                return Err(Attempt::Refused(self.verification(reason)));
            }
            next = older;
        }
        Ok(next)
    }

    /// Counts, logs and reports a refused block; `endpoint_fault`: the
    /// endpoint that served it lied (not our own stale trust).
    fn refuse(&self, block: &LightBlock, kind: &'static str, reason: &str, endpoint_fault: bool) {
        self.metrics.light_block_refused(&self.id, kind);
        tracing::warn!(
            chain = %self.id,
            height = %block.height(),
            hash = %block.header().hash(),
            refusal = kind,
            %reason,
            "light block refused"
        );
        if endpoint_fault {
            self.adapter.refute_light_block(block, reason);
        }
    }

    fn verification(&self, reason: String) -> EngineError {
        EngineError::Verification {
            chain: self.id.clone(),
            reason,
        }
    }

    /// Brings the relayer's light client to `target`, bisecting through
    /// intermediate blocks when skipping lacks trust.
    async fn update_client(
        &self,
        client: &mut LightClient,
        target: LightBlock,
    ) -> Result<(), Attempt> {
        let mut pending = vec![target];
        while let Some(block) = pending.last().cloned() {
            // The local clock: never a time the block itself chose.
            let now = self.trust.clock.now();
            let height = block.height();
            match client.update(block.clone(), now) {
                Ok(UpdateOutcome::Verified { .. } | UpdateOutcome::AlreadyTrusted) => {
                    pending.pop();
                }
                Ok(UpdateOutcome::NotEnoughTrust(_)) => {
                    let low = client
                        .trusted_below(height)
                        .map(|b| b.height().value())
                        .unwrap_or(1);
                    let mid = low + (height.value() - low) / 2;
                    if mid <= low {
                        return Err(Attempt::Failed(
                            self.verification(format!("cannot bisect between {low} and {height}")),
                        ));
                    }
                    let mid = Height::new(mid)
                        .map_err(|e| Attempt::Failed(self.verification(e.to_string())))?;
                    pending.push(
                        self.adapter
                            .light_block(mid)
                            .await
                            .map_err(|e| Attempt::Failed(e.into()))?,
                    );
                }
                Ok(UpdateOutcome::Misbehaviour(evidence)) => {
                    self.metrics.light_block_refused(&self.id, "misbehaviour");
                    return Err(Attempt::Failed(EngineError::Misbehaviour {
                        chain: self.id.clone(),
                        evidence: Box::new(*evidence),
                    }));
                }
                Err(e) => {
                    let kind = refusal_kind(&e);
                    let reason = format!("block {height}: {e}");
                    // An expired trusted state or a frozen client refuses
                    // every block: not the endpoint's fault, and no other
                    // endpoint can help.
                    let endpoint_fault = !matches!(kind, "trust_expired" | "frozen");
                    self.refuse(&block, kind, &reason, endpoint_fault);
                    let error = self.verification(reason);
                    return Err(if endpoint_fault {
                        Attempt::Refused(error)
                    } else {
                        Attempt::Failed(error)
                    });
                }
            }
        }
        Ok(())
    }

    /// Verifies `block` (received from a peer, not fetched) with the
    /// relayer's light client, bisecting through fetched blocks when needed.
    /// A block below the lowest trusted one is checked against the block
    /// at its height verified backwards.
    pub async fn verify_given(&self, block: LightBlock) -> Result<(), EngineError> {
        let height = block.height();
        self.ensure_anchored().await?;
        let mut guard = self.client.lock().await;
        let Some(client) = guard.as_mut() else {
            unreachable!("client anchored above")
        };
        if client.trusted_below(height).is_none() && client.trusted_at(height).is_none() {
            drop(guard);
            let verified = self.verified_block(height).await?;
            if verified.header().hash() != block.header().hash() {
                return Err(self.verification(format!(
                    "block {height} is not the one the hash chain from the trusted blocks leads to"
                )));
            }
            return Ok(());
        }
        self.update_client(client, block)
            .await
            .map_err(Attempt::into_error)?;
        self.store.save_trusted_block(&self.id, client.latest())?;
        Ok(())
    }

    /// Values and proofs of `keys` at one height, verified end to end.
    pub async fn verified_states(&self, keys: &[Vec<u8>]) -> Result<VerifiedStates, EngineError> {
        let ProvenStates {
            light_block,
            entries,
            ..
        } = self.adapter.states(keys).await?;
        let entries: Vec<(Vec<u8>, Option<Vec<u8>>, StateProof)> = entries
            .into_iter()
            .map(|e| (e.key, e.value, e.proof))
            .collect();
        // The adapter checked each proof against this block's root; the
        // block itself must now pass our light client.
        let verified = self.verified_block(light_block.height()).await?;
        if verified.header().hash() != light_block.header().hash() {
            return Err(EngineError::Verification {
                chain: self.id.clone(),
                reason: format!(
                    "proofs at height {} are against another header",
                    light_block.height()
                ),
            });
        }
        for (key, value, proof) in &entries {
            proof
                .verify(&verified.header().state_root, key, value.as_deref())
                .map_err(|e| EngineError::Verification {
                    chain: self.id.clone(),
                    reason: format!("proof of {}: {e}", state_keys::show(key)),
                })?;
        }
        Ok(VerifiedStates {
            light_block: verified,
            entries,
        })
    }

    /// Signs `bodies` with consecutive nonces and submits them, returning
    /// each one's outcome in order.
    ///
    /// Group commit: one batch is in flight per chain (nonces are assigned
    /// from the committed state, so the next batch waits for it). The
    /// submissions of every path and handover that arrive meanwhile are
    /// queued and go out together as the next batch, one block for all of
    /// them, instead of one block each in turn. A caller's messages stay
    /// together and in order; they never wait for a timer.
    ///
    /// A chain served by other relayers is not signed for here: the
    /// messages are handed to a serving relayer, which submits them under
    /// its own key (and groups them with its own).
    pub async fn submit(
        &self,
        bodies: Vec<TxBody>,
    ) -> Result<Vec<Result<SubmitOutcome, String>>, EngineError> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(remote) = &self.remote {
            return Ok(remote.submit_bodies(bodies).await?);
        }
        // A message the chain would refuse at admission leaves a nonce gap
        // that fails every later transaction of the batch, other callers'
        // too: it is refused here, alone.
        let refusals: Vec<Option<String>> = bodies
            .iter()
            .map(|body| {
                credit_chain::app::validate::validate_body(body)
                    .err()
                    .map(|e| {
                        format!(
                            "not submitted: the chain would refuse it (code {} {}): {e}",
                            e.code(),
                            e.codespace()
                        )
                    })
            })
            .collect();
        let bodies: Vec<TxBody> = bodies
            .into_iter()
            .zip(&refusals)
            .filter(|(_, refused)| refused.is_none())
            .map(|(body, _)| body)
            .collect();
        let outcomes = if bodies.is_empty() {
            Vec::new()
        } else {
            self.submit_checked(bodies).await?
        };
        let mut outcomes = outcomes.into_iter();
        Ok(refusals
            .into_iter()
            .map(|refused| match refused {
                Some(reason) => Err(reason),
                None => outcomes
                    .next()
                    .unwrap_or_else(|| Err("the chain gave no outcome for this message".into())),
            })
            .collect())
    }

    /// [`ChainRuntime::submit`] of messages that pass the chain's
    /// stateless checks: queued, then sent by whoever holds the turn.
    async fn submit_checked(
        &self,
        bodies: Vec<TxBody>,
    ) -> Result<Vec<Result<SubmitOutcome, String>>, EngineError> {
        let (reply, mut answer) = oneshot::channel();
        self.queued
            .lock()
            .map_err(|_| self.poisoned())?
            .push(Queued { bodies, reply });
        let mut nonce = self.nonce.lock().await;
        // Whoever held the turn before may have sent ours with its batch.
        loop {
            match answer.try_recv() {
                Ok(outcome) => return outcome,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(EngineError::Adapter(format!(
                        "the batch carrying this submission to {} was abandoned (its sender was cancelled); nothing of it is known to be committed",
                        self.id
                    )));
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let group = self.take_group()?;
            if group.is_empty() {
                // Ours was queued before the turn was taken and nobody else
                // sends while we hold it: this cannot happen, but must not
                // spin.
                return Err(EngineError::Unexpected {
                    chain: self.id.clone(),
                    reason: "a queued submission went missing".into(),
                });
            }
            self.send_group(&mut nonce, group).await;
        }
    }

    /// The queued submissions of the next batch, oldest first: as many as
    /// fit in [`MAX_GROUP_MESSAGES`], and always at least one.
    fn take_group(&self) -> Result<Vec<Queued>, EngineError> {
        let mut queued = self.queued.lock().map_err(|_| self.poisoned())?;
        let mut messages = 0;
        let take = queued
            .iter()
            .position(|q| {
                messages += q.bodies.len();
                messages > MAX_GROUP_MESSAGES
            })
            .unwrap_or(queued.len())
            .max(1)
            .min(queued.len());
        Ok(queued.drain(..take).collect())
    }

    /// Sends `group` as one batch and answers each of its submissions with
    /// its share of the outcomes (or the batch's error).
    async fn send_group(&self, nonce: &mut Option<u64>, mut group: Vec<Queued>) {
        if group.len() > 1 {
            tracing::debug!(chain = %self.id, submissions = group.len(), "group commit");
        }
        let sizes: Vec<usize> = group.iter().map(|q| q.bodies.len()).collect();
        self.metrics
            .observe_batch(&self.id, group.len(), sizes.iter().sum());
        // Moved, not copied: a batch's bodies carry its proofs.
        let bodies: Vec<TxBody> = group
            .iter_mut()
            .flat_map(|q| std::mem::take(&mut q.bodies))
            .collect();
        let mut outcomes = self.sign_and_send(nonce, bodies).await.map(Vec::into_iter);
        for (queued, size) in group.into_iter().zip(sizes) {
            let share = match &mut outcomes {
                Ok(all) => Ok(all.by_ref().take(size).collect()),
                Err(e) => Err(e.duplicate()),
            };
            // A caller that gave up (its task was cancelled) needs no answer.
            let _ = queued.reply.send(share);
        }
    }

    /// Signs `bodies` with consecutive nonces from `nonce` and submits them
    /// as one batch. Unless every transaction reached a block, the next
    /// batch re-reads the nonce from the chain.
    async fn sign_and_send(
        &self,
        nonce: &mut Option<u64>,
        bodies: Vec<TxBody>,
    ) -> Result<Vec<Result<SubmitOutcome, String>>, EngineError> {
        let first = match *nonce {
            Some(n) => n,
            None => self.chain_nonce().await?,
        };
        let txs: Vec<SignedTransaction> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let tx = Transaction {
                    chain_id: self.id.clone(),
                    sender: self.signer_key(),
                    nonce: first + i as u64,
                    body,
                };
                let signature = Signature(self.signer.sign(&tx.sign_bytes()).to_bytes());
                SignedTransaction { tx, signature }
            })
            .collect();
        let outcomes = match self.adapter.submit_batch(&txs).await {
            Ok(o) => o,
            Err(e) => {
                *nonce = None;
                return Err(e.into());
            }
        };
        // A transaction that reached a block used its nonce, even if its
        // message failed; one refused at admission did not, and leaves a
        // gap.
        let all_committed = outcomes
            .iter()
            .all(|o| matches!(o, Ok(s) if s.height.is_some()));
        *nonce = all_committed.then_some(first + txs.len() as u64);
        Ok(outcomes)
    }

    /// The next nonce of this relayer's key, read (proven) from the chain.
    async fn chain_nonce(&self) -> Result<u64, EngineError> {
        let proven = self
            .adapter
            .state(&state_keys::nonce(&self.signer_key()))
            .await?;
        let last = match proven.value {
            Some(bytes) => {
                borsh::from_slice::<u64>(&bytes).map_err(|e| EngineError::Verification {
                    chain: self.id.clone(),
                    reason: format!("nonce value: {e}"),
                })?
            }
            None => 0,
        };
        Ok(last + 1)
    }

    fn poisoned(&self) -> EngineError {
        EngineError::Unexpected {
            chain: self.id.clone(),
            reason: "a submission task panicked".into(),
        }
    }
}

/// Most messages one grouped batch carries (the chain takes 5,000 per
/// request); a single submission larger than this still goes alone.
pub const MAX_GROUP_MESSAGES: usize = 4_000;

/// How many times [`ChainRuntime::verified_block`] fetches a block again
/// after its light client refused what an endpoint served.
const REFETCHES: usize = 3;

/// How one verification attempt failed.
enum Attempt {
    /// The light client refused a block an endpoint served: worth fetching
    /// again (the endpoint was reported).
    Refused(EngineError),
    /// Anything else: final for this call.
    Failed(EngineError),
}

impl Attempt {
    fn into_error(self) -> EngineError {
        match self {
            Attempt::Refused(e) | Attempt::Failed(e) => e,
        }
    }
}

/// A submission waiting in [`ChainRuntime::submit`]'s queue.
struct Queued {
    bodies: Vec<TxBody>,
    reply: oneshot::Sender<Result<Vec<Result<SubmitOutcome, String>>, EngineError>>,
}

impl From<AdapterError> for EngineError {
    fn from(e: AdapterError) -> Self {
        EngineError::Adapter(e.to_string())
    }
}
