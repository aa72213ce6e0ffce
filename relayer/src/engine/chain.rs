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

use crate::engine::EngineError;
use crate::mesh::MeshChainAdapter;
use crate::metrics::Metrics;
use crate::store::Store;

/// A chain, its adapter, the relayer's key there and its light client.
pub struct ChainRuntime {
    id: ChainId,
    adapter: Arc<dyn ChainAdapter>,
    signer: SigningKey,
    options: Options,
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
        options: Options,
        store: Store,
        metrics: Metrics,
    ) -> ChainRuntime {
        ChainRuntime {
            id,
            adapter,
            signer,
            options,
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
        options: Options,
        store: Store,
        metrics: Metrics,
    ) -> ChainRuntime {
        let mut runtime = ChainRuntime::new(id, adapter.clone(), signer, options, store, metrics);
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

    /// The light block at `height`, verified by the relayer's light client
    /// (anchored at the stored trusted block, or on first use at the chain's
    /// first block); bisects when a skip lacks trust.
    pub async fn verified_block(&self, height: Height) -> Result<LightBlock, EngineError> {
        let block = self.adapter.light_block(height).await?;
        let mut guard = self.client.lock().await;
        if guard.is_none() {
            let anchor = match self.store.trusted_block(&self.id)? {
                Some(b) if b.height() <= height => b,
                _ => {
                    tracing::warn!(chain = %self.id, "no trusted block stored: trusting the chain's first block");
                    self.adapter.light_block(Height::GENESIS).await?
                }
            };
            let now = block.header().time;
            *guard = Some(LightClient::new(anchor, self.options, now).map_err(|e| {
                EngineError::Verification {
                    chain: self.id.clone(),
                    reason: e.to_string(),
                }
            })?);
        }
        let Some(client) = guard.as_mut() else {
            unreachable!("client set above")
        };
        let started = Instant::now();
        self.update_client(client, block.clone()).await?;
        self.metrics
            .observe_header_verification(&self.id, started.elapsed());
        self.store.save_trusted_block(&self.id, client.latest())?;
        Ok(block)
    }

    /// Brings the relayer's light client to `target`, bisecting through
    /// intermediate blocks when skipping lacks trust.
    async fn update_client(
        &self,
        client: &mut LightClient,
        target: LightBlock,
    ) -> Result<(), EngineError> {
        let mut pending = vec![target];
        while let Some(block) = pending.last().cloned() {
            let now = block.header().time;
            let height = block.height();
            match client.update(block, now) {
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
                        return Err(EngineError::Verification {
                            chain: self.id.clone(),
                            reason: format!("cannot bisect between {low} and {height}"),
                        });
                    }
                    let mid = Height::new(mid).map_err(|e| EngineError::Verification {
                        chain: self.id.clone(),
                        reason: e.to_string(),
                    })?;
                    pending.push(self.adapter.light_block(mid).await?);
                }
                Ok(UpdateOutcome::Misbehaviour(evidence)) => {
                    return Err(EngineError::Misbehaviour {
                        chain: self.id.clone(),
                        evidence: Box::new(*evidence),
                    });
                }
                Err(e) => {
                    return Err(EngineError::Verification {
                        chain: self.id.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Verifies `block` (received from a peer, not fetched) with the
    /// relayer's light client, bisecting through fetched blocks when needed.
    pub async fn verify_given(&self, block: LightBlock) -> Result<(), EngineError> {
        let height = block.height();
        // Anchors the client on first use.
        if self.client.lock().await.is_none() {
            self.verified_block(height).await?;
        }
        let mut guard = self.client.lock().await;
        let Some(client) = guard.as_mut() else {
            unreachable!("client anchored above")
        };
        self.update_client(client, block).await?;
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
