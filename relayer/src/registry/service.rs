//! The registry as the daemon holds it: shared, persisted, observable.
//!
//! [`RegistryService`] wraps a [`Registry`] in a mutex, saves the whole
//! state in the store after every change (before the change is visible:
//! when the store fails, nothing changed), and publishes every accepted
//! proposal, approval and decision on a broadcast channel
//! ([`RegistryService::subscribe`]) so the daemon can gossip them to its
//! peers and act on decisions (track a chain, admit or drop peers). It
//! owns the clock the pure [`Registry`] is given: before every change,
//! proposals pending longer than [`RegistryOptions::pending_expiry`]
//! expire.
//!
//! Only proposals submitted here (through the API) are published: what
//! arrives by gossip is forwarded by gossipsub itself once accepted, and a
//! snapshot's proposals reach other peers through their own catch-up. So a
//! relayer never becomes the author of someone else's proposal, and a peer
//! whose queue is full strikes the proposal's real sender, never a relayer
//! that merely passed it on.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use protocol::{Approval, Canonical, Hash, SignedProposal};
use tokio::sync::broadcast;

use super::{
    ApprovalOutcome, DEFAULT_PENDING_EXPIRY, Registry, RegistryError, RegistryEvent,
    RegistryGenesis, Submission,
};
use crate::store::{Store, StoreError};

/// Most bytes of an encoded proposal or approval taken from the network (a
/// registration carries a validator set: 10 000 validators fit).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Most bytes of proposals and approvals in one page of a registry
/// snapshot (hex-encoded in JSON it stays well under the network's 16 MiB
/// frames). A page holds at least one proposal whatever its size.
pub const MAX_SNAPSHOT_PAGE_BYTES: usize = 4 << 20;

/// Most proposals in one page of a registry snapshot.
pub const MAX_SNAPSHOT_ENTRIES: usize = 512;

/// Updates kept for a slow subscriber before it lags (and is told so).
const UPDATES_CAPACITY: usize = 1024;

/// Why the service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The registry refused the proposal or approval.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bytes from the network did not decode.
    #[error(transparent)]
    Decode(#[from] protocol::Error),
    /// Bytes from the network were too long to decode.
    #[error("{what} of {len} bytes, at most {MAX_MESSAGE_BYTES}")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The store's registry grew from another genesis than the configured one.
    #[error(
        "the store's registry grew from genesis {stored}, but the configured genesis is {configured}; \
         every relayer of a network must use the same genesis"
    )]
    GenesisMismatch {
        /// The hash the store's registry remembers.
        stored: Hash,
        /// The configured genesis' hash.
        configured: Hash,
    },
}

impl ServiceError {
    /// Whether the refusal is of a proposal whose queue is full: from a
    /// peer's gossip, a strike against its sender (flooding), though not a
    /// forgery (a peer's snapshot may honestly hold more than fits here).
    pub fn is_over_capacity(&self) -> bool {
        matches!(
            self,
            ServiceError::Registry(RegistryError::TooManyPending { .. })
        )
    }

    /// Whether the refusal means the message is forged or malformed (its
    /// sender is penalised) rather than late, redundant or not applicable
    /// yet.
    pub fn is_forged(&self) -> bool {
        match self {
            ServiceError::Registry(e) => matches!(
                e,
                RegistryError::BadOperatorSignature { .. }
                    | RegistryError::BadProposalSignature { .. }
                    | RegistryError::BadApprovalSignature { .. }
                    | RegistryError::NotAGovernor { .. }
                    | RegistryError::ProposerNotOperator { .. }
                    | RegistryError::InvalidRegistration { .. }
            ),
            ServiceError::Decode(_) | ServiceError::TooLarge { .. } => true,
            _ => false,
        }
    }
}

/// One proposal of a registry snapshot and its approvals, as the canonical
/// bytes that gossip carries (untrusted: each is checked as gossip is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// The [`SignedProposal`].
    pub proposal: Vec<u8>,
    /// Its [`Approval`]s.
    pub approvals: Vec<Vec<u8>>,
}

/// A page of a registry's snapshot ([`RegistryService::snapshot_page`]):
/// the decided proposals in decision order, then the pending ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPage {
    /// The genesis the registry grew from.
    pub genesis: Hash,
    /// The proposals of this page.
    pub entries: Vec<SnapshotEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<u64>,
}

/// What [`RegistryService::merge`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Proposals new here (now pending or decided).
    pub proposals: usize,
    /// Approvals that changed the registry (counted, deciding or kept).
    pub approvals: usize,
    /// Decisions reached.
    pub decided: usize,
    /// Forged or malformed items, refused: why, one per item.
    pub rejected: Vec<String>,
}

impl MergeReport {
    /// Whether the merge changed the registry.
    pub fn changed(&self) -> bool {
        self.proposals + self.approvals + self.decided > 0
    }
}

/// A change the service accepted, as published to subscribers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryUpdate {
    /// A new proposal is pending (gossip it).
    Proposed(SignedProposal),
    /// An approval was counted or kept for later (gossip it).
    Approved {
        /// The approval.
        approval: Approval,
        /// What it did.
        outcome: ApprovalOutcome,
    },
    /// A proposal was decided and applied (act on it).
    Decided(RegistryEvent),
}

/// The clock a [`RegistryService`] stamps and expires proposals with: unix
/// seconds.
pub type RegistryClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock in unix seconds.
pub fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How a [`RegistryService`] keeps pending proposals.
#[derive(Clone)]
pub struct RegistryOptions {
    /// How long a proposal stays pending before it expires
    /// (`[network.governance] proposal_expiry`).
    pub pending_expiry: Duration,
    /// Where the time comes from (the system clock but in tests).
    pub clock: RegistryClock,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            pending_expiry: DEFAULT_PENDING_EXPIRY,
            clock: Arc::new(system_clock),
        }
    }
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("pending_expiry", &self.pending_expiry)
            .finish_non_exhaustive()
    }
}

/// The shared, persisted registry.
pub struct RegistryService {
    registry: Mutex<Registry>,
    store: Store,
    updates: broadcast::Sender<RegistryUpdate>,
    options: RegistryOptions,
}

impl RegistryService {
    /// Opens the registry saved in `store`, or builds it from `genesis` (and
    /// saves it) when the store has none. Refuses a store whose registry
    /// grew from another genesis. Proposals expire after
    /// [`DEFAULT_PENDING_EXPIRY`] (see [`RegistryService::open_with`]).
    pub fn open(
        store: Store,
        genesis: &RegistryGenesis,
    ) -> Result<Arc<RegistryService>, ServiceError> {
        RegistryService::open_with(store, genesis, RegistryOptions::default())
    }

    /// [`RegistryService::open`] with these options.
    pub fn open_with(
        store: Store,
        genesis: &RegistryGenesis,
        options: RegistryOptions,
    ) -> Result<Arc<RegistryService>, ServiceError> {
        let configured = genesis.hash();
        let registry = match store.load_registry()? {
            Some(bytes) => {
                let registry = Registry::from_bytes(&bytes)?;
                if registry.genesis_hash() != configured {
                    return Err(ServiceError::GenesisMismatch {
                        stored: registry.genesis_hash(),
                        configured,
                    });
                }
                registry
            }
            None => {
                let registry = Registry::new(genesis)?;
                store.save_registry(&registry.to_bytes())?;
                registry
            }
        };
        let (updates, _) = broadcast::channel(UPDATES_CAPACITY);
        Ok(Arc::new(RegistryService {
            registry: Mutex::new(registry),
            store,
            updates,
            options,
        }))
    }

    /// Every change accepted from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RegistryUpdate> {
        self.updates.subscribe()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // The registry is only replaced whole, after a successful save, so
        // a panic elsewhere never leaves it half-changed.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the registry under its lock.
    pub fn read<R>(&self, f: impl FnOnce(&Registry) -> R) -> R {
        f(&self.lock())
    }

    /// A copy of the registry as it is now.
    pub fn snapshot(&self) -> Registry {
        self.lock().clone()
    }

    /// The peers admitted to the mesh now ([`Registry::allowed_peers`]).
    pub fn allowed_peers(&self) -> BTreeSet<String> {
        self.lock().allowed_peers()
    }

    fn now(&self) -> u64 {
        (self.options.clock)()
    }

    fn max_age(&self) -> u64 {
        self.options.pending_expiry.as_secs()
    }

    /// Expires the proposals pending longer than the configured age
    /// ([`Registry::expire`]), persisting the change; returns how many.
    pub fn expire(&self) -> Result<usize, ServiceError> {
        self.change_counted(|_, _| Ok(()), |()| false)
            .map(|((), expired)| expired)
    }

    /// Every `interval`, expires the proposals due (so the API and peers
    /// stop seeing them even when nothing else changes), until the process
    /// stops.
    pub async fn keep_expiring(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = self.expire() {
                tracing::warn!(error = %e, "registry: cannot persist expired proposals");
            }
        }
    }

    /// Expires what is due, then runs `change` on a copy of the registry;
    /// when either changed something, saves the copy and only then makes it
    /// the registry. Returns `change`'s output and how many expired.
    fn change_counted<T>(
        &self,
        change: impl FnOnce(&mut Registry, u64) -> Result<T, RegistryError>,
        changed: impl FnOnce(&T) -> bool,
    ) -> Result<(T, usize), ServiceError> {
        let now = self.now();
        let mut guard = self.lock();
        let mut next = guard.clone();
        let expired = next.expire(now, self.max_age());
        let out = match change(&mut next, now) {
            Ok(out) => out,
            Err(e) => {
                // The expiry alone is still worth keeping.
                if !expired.is_empty() && self.store.save_registry(&next.to_bytes()).is_ok() {
                    *guard = next;
                }
                return Err(e.into());
            }
        };
        if !expired.is_empty() || changed(&out) {
            self.store.save_registry(&next.to_bytes())?;
            *guard = next;
        }
        if !expired.is_empty() {
            tracing::info!(
                expired = expired.len(),
                "registry: proposals expired before enough governors approved them"
            );
        }
        Ok((out, expired.len()))
    }

    fn change<T>(
        &self,
        change: impl FnOnce(&mut Registry) -> Result<T, RegistryError>,
        changed: impl FnOnce(&T) -> bool,
    ) -> Result<T, ServiceError> {
        self.change_counted(|r, _| change(r), changed)
            .map(|(out, _)| out)
    }

    fn publish(&self, update: RegistryUpdate) {
        // No subscriber is not an error.
        let _ = self.updates.send(update);
    }

    /// Submits a signed proposal ([`Registry::submit`]); persists and
    /// publishes it when new, and the decision when earlier approvals
    /// decide it at once.
    pub fn submit(&self, signed: SignedProposal) -> Result<Submission, ServiceError> {
        self.submit_from(signed, true)
    }

    /// [`RegistryService::submit`]; publishes the new proposal only when
    /// `publish` (see the module documentation).
    fn submit_from(
        &self,
        signed: SignedProposal,
        publish: bool,
    ) -> Result<Submission, ServiceError> {
        let copy = signed.clone();
        let (submission, _) =
            self.change_counted(|r, now| r.submit(signed, now), |s| !s.already_pending)?;
        if !submission.already_pending && publish {
            self.publish(RegistryUpdate::Proposed(copy));
        }
        if let Some(event) = &submission.decided {
            self.log(event);
            self.publish(RegistryUpdate::Decided(event.clone()));
        }
        Ok(submission)
    }

    /// Approves ([`Registry::approve`]); persists and publishes the approval
    /// when it changed something, and the decision it made.
    pub fn approve(&self, approval: Approval) -> Result<ApprovalOutcome, ServiceError> {
        let copy = approval.clone();
        let outcome = self.change(|r| r.approve(approval), ApprovalOutcome::changed)?;
        if outcome.changed() {
            self.publish(RegistryUpdate::Approved {
                approval: copy,
                outcome: outcome.clone(),
            });
        }
        if let ApprovalOutcome::Decided { event } = &outcome {
            self.log(event);
            self.publish(RegistryUpdate::Decided((**event).clone()));
        }
        Ok(outcome)
    }

    /// [`RegistryService::submit`] of untrusted canonical bytes from a peer
    /// (gossip, a snapshot); never panics. The proposal is not published
    /// again (see the module documentation).
    pub fn submit_bytes(&self, bytes: &[u8]) -> Result<Submission, ServiceError> {
        check_len("signed proposal", bytes)?;
        self.submit_from(SignedProposal::from_canonical_bytes(bytes)?, false)
    }

    /// [`RegistryService::approve`] of untrusted canonical bytes (gossip);
    /// never panics.
    pub fn approve_bytes(&self, bytes: &[u8]) -> Result<ApprovalOutcome, ServiceError> {
        check_len("approval", bytes)?;
        self.approve(Approval::from_canonical_bytes(bytes)?)
    }

    /// A page of this registry's snapshot starting at position `from` of
    /// the decided proposals (in decision order) followed by the pending
    /// ones: at most [`MAX_SNAPSHOT_ENTRIES`] proposals and, beyond the
    /// first, [`MAX_SNAPSHOT_PAGE_BYTES`].
    pub fn snapshot_page(&self, from: u64) -> SnapshotPage {
        // Expired proposals are not handed to peers.
        if let Err(e) = self.expire() {
            tracing::warn!(error = %e, "registry: cannot persist expired proposals");
        }
        let registry = self.lock();
        let all = registry.decided().iter().chain(registry.proposals());
        let start = usize::try_from(from).unwrap_or(usize::MAX);
        let mut entries = Vec::new();
        let mut bytes = 0usize;
        let mut next = None;
        for (i, p) in all.enumerate().skip(start) {
            let entry = SnapshotEntry {
                proposal: p.signed.to_canonical_bytes(),
                approvals: p
                    .approval_messages()
                    .iter()
                    .map(Canonical::to_canonical_bytes)
                    .collect(),
            };
            let size = entry.proposal.len() + entry.approvals.iter().map(Vec::len).sum::<usize>();
            if !entries.is_empty()
                && (entries.len() >= MAX_SNAPSHOT_ENTRIES || bytes + size > MAX_SNAPSHOT_PAGE_BYTES)
            {
                next = Some(i as u64);
                break;
            }
            bytes += size;
            entries.push(entry);
        }
        SnapshotPage {
            genesis: registry.genesis_hash(),
            entries,
            next,
        }
    }

    /// Merges a peer's snapshot entries: every proposal and approval goes
    /// through [`RegistryService::submit_bytes`] and
    /// [`RegistryService::approve_bytes`], the checks gossip gets
    /// (signatures, roles, governance keys, threshold), and what they
    /// accept is persisted and published like gossip (decisions included,
    /// so subscribers act on them the same way). Forged or malformed items
    /// are refused and reported; so are the approvals of a forged
    /// proposal, unread. A proposal that does not apply yet (e.g. a
    /// registration of a chain whose removal comes later in the snapshot)
    /// is retried after the others while that makes progress. Idempotent:
    /// merging what is already known changes nothing.
    pub fn merge(&self, entries: &[SnapshotEntry]) -> MergeReport {
        let mut report = MergeReport::default();
        let mut remaining: Vec<&SnapshotEntry> = entries.iter().collect();
        loop {
            let before = report.clone();
            let mut retry = Vec::new();
            for entry in remaining {
                match self.submit_bytes(&entry.proposal) {
                    Ok(submission) => {
                        if !submission.already_pending {
                            report.proposals += 1;
                        }
                        if submission.decided.is_some() {
                            report.decided += 1;
                        }
                    }
                    Err(ServiceError::Registry(RegistryError::ProposalClosed { .. })) => {}
                    Err(e) if e.is_forged() => {
                        report.rejected.push(format!("proposal: {e}"));
                        continue;
                    }
                    Err(_) => {
                        retry.push(entry);
                        continue;
                    }
                }
                for approval in &entry.approvals {
                    match self.approve_bytes(approval) {
                        Ok(outcome) => {
                            if outcome.changed() {
                                report.approvals += 1;
                            }
                            if matches!(outcome, ApprovalOutcome::Decided { .. }) {
                                report.decided += 1;
                            }
                        }
                        Err(e) if e.is_forged() => report.rejected.push(format!("approval: {e}")),
                        Err(_) => {}
                    }
                }
            }
            if retry.is_empty() || report == before {
                return report;
            }
            remaining = retry;
        }
    }

    fn log(&self, event: &RegistryEvent) {
        match event {
            RegistryEvent::ChainAccepted(c) => {
                tracing::info!(chain = %c.chain_id, peers = ?c.relayer_peer_ids, "registry: chain accepted")
            }
            RegistryEvent::ChainFrozen {
                chain_id, reason, ..
            } => tracing::warn!(chain = %chain_id, %reason, "registry: chain frozen"),
            RegistryEvent::ChainDeregistered {
                chain_id, reason, ..
            } => tracing::warn!(chain = %chain_id, %reason, "registry: chain deregistered"),
        }
    }
}

fn check_len(what: &'static str, bytes: &[u8]) -> Result<(), ServiceError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ServiceError::TooLarge {
            what,
            len: bytes.len(),
        });
    }
    Ok(())
}
