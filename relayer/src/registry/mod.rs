//! The network registry of chains and its k-of-n governance.
//!
//! The network starts from a [`RegistryGenesis`]: `n` governance keys, a
//! threshold `k` (1 ≤ k ≤ n), the chains registered from the start and the
//! peers admitted without serving a chain (a regulator, spare relayers).
//! After that the registry changes only by [`Proposal`]s that `k` distinct
//! governors approve:
//!
//! - [`Proposal::Register`]: signed by the new chain's operator (the proposer
//!   must be the registration's `operator_key`, and both the operator's
//!   signature of the registration and the proposal's signature must
//!   verify); refused for a chain id that is already registered.
//!   Accepted, the chain is [`ChainStatus::Active`].
//! - [`Proposal::Freeze`]: signed by a governor, for an active chain.
//!   Accepted, the chain is [`ChainStatus::Frozen`]: it stays registered and
//!   its relayers stay admitted, but nothing should be relayed from or to it.
//! - [`Proposal::Deregister`]: signed by a governor, for a registered chain.
//!   Accepted, the chain is removed.
//!
//! A proposal does not count as its proposer's approval: a governor who
//! proposes a freeze also sends an [`Approval`] (the CLI does both).
//!
//! Rules that keep gossip safe:
//! - Everything is idempotent: the same proposal or approval received twice
//!   changes nothing the second time ([`Submission::already_pending`],
//!   [`ApprovalOutcome::AlreadyCounted`]).
//! - Approvals may arrive before their proposal: a valid approval (a
//!   governor's, signature checked) of an unknown proposal is kept and
//!   counted when the proposal arrives ([`ApprovalOutcome::Deferred`]), at
//!   most [`MAX_ORPHAN_APPROVALS`] of them (the oldest are dropped first).
//! - Pending proposals are bounded per kind, so that the cheap kind cannot
//!   crowd out the urgent one: anyone can sign a registration (its proposer
//!   is the new chain's own operator key), so registrations have their own
//!   queue of [`MAX_PENDING_REGISTRATIONS`]; freezes and deregistrations
//!   are proposed only by governors, each of whom may hold
//!   [`MAX_PENDING_PER_GOVERNOR`] of them pending. A flood of junk
//!   registrations therefore never blocks a freeze, and one governor's
//!   backlog never blocks another's. Approvals of pending proposals are
//!   never capped. (Evicting junk to make room was not chosen: whoever
//!   floods could then evict a genuine registration.)
//! - Pending proposals expire: [`Registry::expire`] closes those received
//!   longer ago than the configured age ([`Closure::Expired`]), so a full
//!   queue drains by itself. The time is the caller's (the state machine
//!   reads no clock); the last [`MAX_EXPIRED_REMEMBERED`] expired ids are
//!   remembered, so a peer's snapshot cannot bring an expired proposal back.
//! - A proposal is closed once decided, and so are the pending proposals a
//!   decision makes moot (a second registration of the chain just accepted,
//!   a freeze of a chain just removed): closed ids are remembered, so
//!   replaying an old proposal and its approvals can never decide it again
//!   (a deregistered chain is not re-registered by a replay). Re-proposing
//!   the same change needs different content (a new trust anchor, another
//!   reason).
//!
//! This module does no I/O: [`Registry`] is a pure state machine whose
//! whole state encodes with borsh ([`Registry::to_bytes`]);
//! [`service::RegistryService`] persists it in the store and publishes its
//! changes.

pub mod service;
pub mod signing;
#[cfg(test)]
mod tests;

/// Compiles and tests the HTTP handlers of `api/registry.rs` until
/// `api/mod.rs` declares them.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use protocol::{
    Approval, ChainId, ChainRegistration, ChainType, Hash, Proposal, ProposalId, PublicKey,
    Signature, SignedProposal, TrustAnchor,
};
use serde::{Deserialize, Serialize};

pub use service::{
    MergeReport, RegistryService, RegistryUpdate, ServiceError, SnapshotEntry, SnapshotPage,
};

/// Most approvals of unknown proposals kept at once.
pub const MAX_ORPHAN_APPROVALS: usize = 1024;

/// Most registrations pending at once; more are refused until some are
/// decided or expire.
pub const MAX_PENDING_REGISTRATIONS: usize = 256;

/// Most freezes and deregistrations one governor may have pending at once.
pub const MAX_PENDING_PER_GOVERNOR: usize = 16;

/// Most expired proposal ids remembered (the oldest are forgotten first).
pub const MAX_EXPIRED_REMEMBERED: usize = 4096;

/// How long a proposal stays pending by default before it expires.
pub const DEFAULT_PENDING_EXPIRY: std::time::Duration =
    std::time::Duration::from_secs(3 * 24 * 3600);

/// Most bytes in a freeze or deregistration reason.
pub const MAX_REASON_BYTES: usize = 1024;

/// Most serving relayer peer ids per chain.
pub const MAX_PEERS_PER_CHAIN: usize = 64;

/// Most characters in a peer id.
pub const MAX_PEER_ID_CHARS: usize = 128;

/// Most governance keys.
pub const MAX_GOVERNORS: usize = 256;

/// Domain tag of [`RegistryGenesis::hash`].
const GENESIS_TAG: &[u8] = b"credit-chain/registry/genesis/v1";

/// Version byte in front of [`Registry::to_bytes`] (versions 1 and 2, read
/// still, lacked the decided proposals and the times proposals arrived).
const STATE_VERSION: u8 = 3;

/// The version of states written before decided proposals were kept.
const STATE_VERSION_1: u8 = 1;

/// The version of states written before proposals could expire.
const STATE_VERSION_2: u8 = 2;

/// What is wrong with a genesis, a proposal or an approval.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The genesis breaks a rule.
    #[error("invalid registry genesis: {0}")]
    InvalidGenesis(String),
    /// A registration's content breaks a rule.
    #[error("invalid registration of chain {chain_id}: {reason}")]
    InvalidRegistration {
        /// The chain.
        chain_id: ChainId,
        /// The rule broken.
        reason: String,
    },
    /// A freeze or deregistration reason is empty or too long.
    #[error("invalid {kind} reason for chain {chain_id}: {reason}")]
    InvalidReason {
        /// `freeze` or `deregister`.
        kind: &'static str,
        /// The chain.
        chain_id: ChainId,
        /// What is wrong with it.
        reason: String,
    },
    /// A registration was proposed by another key than its operator's.
    #[error(
        "registration of chain {chain_id} is proposed by {proposer}, not by its operator {operator}"
    )]
    ProposerNotOperator {
        /// The chain.
        chain_id: ChainId,
        /// Who proposed.
        proposer: PublicKey,
        /// The registration's operator key.
        operator: PublicKey,
    },
    /// The operator's signature of a registration does not verify.
    #[error("operator signature of the registration of chain {chain_id} by {operator} is invalid")]
    BadOperatorSignature {
        /// The chain.
        chain_id: ChainId,
        /// The operator key.
        operator: PublicKey,
    },
    /// The proposer's signature of a proposal does not verify.
    #[error("signature of {kind} proposal {proposal} by {proposer} is invalid")]
    BadProposalSignature {
        /// `register`, `freeze` or `deregister`.
        kind: &'static str,
        /// The proposal id.
        proposal: ProposalId,
        /// The claimed proposer.
        proposer: PublicKey,
    },
    /// A governor's signature of an approval does not verify.
    #[error("signature of the approval of proposal {proposal} by {governor} is invalid")]
    BadApprovalSignature {
        /// The proposal id.
        proposal: ProposalId,
        /// The claimed governor.
        governor: PublicKey,
    },
    /// A key acting as a governor is not one.
    #[error("{key} is not a governance key ({role}); the {count} governance keys are: {governors}")]
    NotAGovernor {
        /// The key.
        key: PublicKey,
        /// What it tried: `proposer of a freeze`, `approver`, ...
        role: &'static str,
        /// How many governance keys there are.
        count: usize,
        /// The governance keys, comma-separated.
        governors: String,
    },
    /// A registration of a chain id that is taken.
    #[error("chain {chain_id} is already registered ({status})")]
    AlreadyRegistered {
        /// The chain.
        chain_id: ChainId,
        /// Its status.
        status: ChainStatus,
    },
    /// A freeze or deregistration of a chain the registry does not have.
    #[error("chain {chain_id} is not registered (registered: {registered})")]
    UnknownChain {
        /// The chain.
        chain_id: ChainId,
        /// The registered chains, comma-separated.
        registered: String,
    },
    /// A freeze of a chain that is frozen already.
    #[error("chain {chain_id} is already frozen")]
    AlreadyFrozen {
        /// The chain.
        chain_id: ChainId,
    },
    /// A proposal that was decided or made moot before.
    #[error(
        "proposal {proposal} is closed ({closure}); propose the change anew with different content"
    )]
    ProposalClosed {
        /// The proposal id.
        proposal: ProposalId,
        /// How it was closed.
        closure: Closure,
    },
    /// The proposal's queue of pending proposals is full.
    #[error("{pending} {queue} are pending, at most {max}; retry once some are decided or expire")]
    TooManyPending {
        /// The full queue.
        queue: PendingQueue,
        /// How many it holds.
        pending: usize,
        /// Its capacity.
        max: usize,
    },
    /// Stored registry state does not decode.
    #[error("stored registry state is corrupt: {0}")]
    CorruptState(String),
}

/// A queue of pending proposals with its own cap (see the module
/// documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingQueue {
    /// Registrations, whoever proposed them.
    Registrations,
    /// The freezes and deregistrations one governor proposed.
    Governor(PublicKey),
}

impl fmt::Display for PendingQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PendingQueue::Registrations => f.write_str("registrations"),
            PendingQueue::Governor(key) => {
                write!(f, "freezes and deregistrations proposed by governor {key}")
            }
        }
    }
}

/// The network's registry at its start.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryGenesis {
    /// The `n` governance keys.
    pub governors: Vec<PublicKey>,
    /// How many distinct governors must approve a proposal (`k`, 1 ≤ k ≤ n).
    pub threshold: u32,
    /// The chains registered from the start.
    #[serde(default)]
    pub chains: Vec<GenesisChain>,
    /// Peers admitted to the mesh without serving a chain (a regulator,
    /// relayers without a chain of their own).
    #[serde(default)]
    pub admitted_peers: Vec<String>,
}

/// A chain registered at genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisChain {
    /// The chain.
    pub chain_id: ChainId,
    /// Its type.
    pub chain_type: ChainType,
    /// Where light clients start.
    pub trust_anchor: TrustAnchor,
    /// Its operator's key.
    pub operator_key: PublicKey,
    /// libp2p peer ids of the relayers serving it.
    pub relayer_peer_ids: Vec<String>,
}

impl RegistryGenesis {
    /// SHA-256 (domain-tagged) of the genesis' borsh encoding: a store's
    /// registry state remembers the genesis it grew from.
    pub fn hash(&self) -> Hash {
        Hash::tagged(GENESIS_TAG, &[&borsh::to_vec(self).unwrap_or_default()])
    }
}

/// Where a registered chain stands.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ChainStatus {
    /// Relayed.
    Active,
    /// Registered but not relayed.
    Frozen {
        /// Why.
        reason: String,
        /// The proposal that froze it.
        proposal: ProposalId,
    },
}

impl fmt::Display for ChainStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainStatus::Active => f.write_str("active"),
            ChainStatus::Frozen { reason, .. } => write!(f, "frozen: {reason}"),
        }
    }
}

/// A chain in the registry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RegisteredChain {
    /// The chain.
    pub chain_id: ChainId,
    /// Its type.
    pub chain_type: ChainType,
    /// Where light clients start.
    pub trust_anchor: TrustAnchor,
    /// Its operator's key.
    pub operator_key: PublicKey,
    /// libp2p peer ids of the relayers serving it.
    pub relayer_peer_ids: Vec<String>,
    /// Active or frozen.
    #[serde(flatten)]
    pub status: ChainStatus,
    /// The registration proposal that admitted it (`None`: at genesis).
    pub registered_by: Option<ProposalId>,
}

impl RegisteredChain {
    /// Whether the chain is active (not frozen).
    pub fn is_active(&self) -> bool {
        self.status == ChainStatus::Active
    }

    fn from_registration(r: &ChainRegistration, proposal: ProposalId) -> RegisteredChain {
        RegisteredChain {
            chain_id: r.chain_id.clone(),
            chain_type: r.chain_type,
            trust_anchor: r.trust_anchor.clone(),
            operator_key: r.operator_key,
            relayer_peer_ids: r.relayer_peer_ids.clone(),
            status: ChainStatus::Active,
            registered_by: Some(proposal),
        }
    }
}

/// A proposal with its approvals: waiting for more ([`Registry::proposals`])
/// or as it was decided ([`Registry::decided`]).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PendingProposal {
    /// Its id.
    pub id: ProposalId,
    /// The proposal as signed by its proposer.
    pub signed: SignedProposal,
    /// The distinct governors who approved it, with their signatures.
    pub approvals: BTreeMap<PublicKey, Signature>,
}

impl PendingProposal {
    /// How many distinct governors approved it.
    pub fn approval_count(&self) -> usize {
        self.approvals.len()
    }

    /// The approvals as [`Approval`] values (to gossip them again).
    pub fn approval_messages(&self) -> Vec<Approval> {
        self.approvals
            .iter()
            .map(|(governor, signature)| Approval {
                proposal_id: self.id,
                governor: *governor,
                signature: *signature,
            })
            .collect()
    }
}

/// Why a proposal is closed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "closure")]
pub enum Closure {
    /// It reached the threshold and was applied.
    Decided,
    /// Another decided proposal made it moot.
    Superseded {
        /// The decided proposal.
        by: ProposalId,
    },
    /// It stayed pending longer than the registry keeps proposals.
    Expired,
}

impl fmt::Display for Closure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closure::Decided => f.write_str("decided"),
            Closure::Superseded { by } => write!(f, "made moot by decided proposal {by}"),
            Closure::Expired => f.write_str("expired before enough governors approved it"),
        }
    }
}

/// A decision applied to the registry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum RegistryEvent {
    /// A chain was registered: track it, admit its relayers.
    ChainAccepted(RegisteredChain),
    /// A chain was frozen: stop relaying from and to it.
    ChainFrozen {
        /// The chain.
        chain_id: ChainId,
        /// Why.
        reason: String,
        /// The decided proposal.
        proposal: ProposalId,
    },
    /// A chain was removed: stop tracking it; its relayers stay admitted
    /// only if [`Registry::allowed_peers`] still names them.
    ChainDeregistered {
        /// The chain.
        chain_id: ChainId,
        /// Why.
        reason: String,
        /// The decided proposal.
        proposal: ProposalId,
        /// The peers that served it.
        former_peers: Vec<String>,
    },
}

/// What [`Registry::submit`] did with a valid proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Submission {
    /// The proposal id.
    pub id: ProposalId,
    /// True when it was pending already (nothing changed).
    pub already_pending: bool,
    /// Approvals counted so far (approvals that arrived before it count).
    pub approvals: usize,
    /// The threshold `k`.
    pub threshold: usize,
    /// The decision, when earlier approvals already reach the threshold.
    pub decided: Option<RegistryEvent>,
}

/// What [`Registry::approve`] did with a valid approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ApprovalOutcome {
    /// Counted; the proposal still waits for more.
    Counted {
        /// Distinct approvals so far.
        approvals: usize,
        /// The threshold `k`.
        threshold: usize,
    },
    /// Counted, and it was the `k`-th: the proposal is decided and applied.
    Decided {
        /// What changed.
        event: Box<RegistryEvent>,
    },
    /// This governor's approval of this proposal was counted already
    /// (nothing changed).
    AlreadyCounted,
    /// The proposal is not known yet: the approval is kept and counted when
    /// it arrives.
    Deferred,
    /// The proposal is closed (nothing changed).
    AlreadyClosed {
        /// How it was closed.
        closure: Closure,
    },
}

impl ApprovalOutcome {
    /// Whether the registry changed (the approval is worth persisting and
    /// gossiping).
    pub fn changed(&self) -> bool {
        matches!(
            self,
            ApprovalOutcome::Counted { .. }
                | ApprovalOutcome::Decided { .. }
                | ApprovalOutcome::Deferred
        )
    }
}

/// The registry: governance, chains, pending proposals. Pure; see the
/// module documentation for its rules.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Registry {
    genesis_hash: Hash,
    governors: BTreeSet<PublicKey>,
    threshold: u32,
    admitted_peers: BTreeSet<String>,
    chains: BTreeMap<ChainId, RegisteredChain>,
    pending: BTreeMap<ProposalId, PendingProposal>,
    orphans: VecDeque<Approval>,
    closed: BTreeMap<ProposalId, Closure>,
    /// The decided proposals with the approvals that decided them, in
    /// decision order: what a relayer that missed them replays
    /// ([`Registry::decided`]).
    decided: Vec<PendingProposal>,
    /// When each pending proposal was first received, in the caller's unix
    /// seconds (a proposal without one, from a version 2 state, gets its
    /// time at the next [`Registry::expire`]).
    received: BTreeMap<ProposalId, u64>,
    /// The ids of the latest expired proposals, oldest first (each also in
    /// `closed`), at most [`MAX_EXPIRED_REMEMBERED`].
    expired: VecDeque<ProposalId>,
}

/// [`Registry`] as version 2 stored it (no times, nothing expired).
#[derive(BorshDeserialize)]
struct RegistryV2 {
    genesis_hash: Hash,
    governors: BTreeSet<PublicKey>,
    threshold: u32,
    admitted_peers: BTreeSet<String>,
    chains: BTreeMap<ChainId, RegisteredChain>,
    pending: BTreeMap<ProposalId, PendingProposal>,
    orphans: VecDeque<Approval>,
    closed: BTreeMap<ProposalId, Closure>,
    decided: Vec<PendingProposal>,
}

impl From<RegistryV2> for Registry {
    fn from(v2: RegistryV2) -> Registry {
        Registry {
            genesis_hash: v2.genesis_hash,
            governors: v2.governors,
            threshold: v2.threshold,
            admitted_peers: v2.admitted_peers,
            chains: v2.chains,
            pending: v2.pending,
            orphans: v2.orphans,
            closed: v2.closed,
            decided: v2.decided,
            received: BTreeMap::new(),
            expired: VecDeque::new(),
        }
    }
}

/// [`Registry`] as version 1 stored it (no decided proposals).
#[derive(BorshDeserialize)]
struct RegistryV1 {
    genesis_hash: Hash,
    governors: BTreeSet<PublicKey>,
    threshold: u32,
    admitted_peers: BTreeSet<String>,
    chains: BTreeMap<ChainId, RegisteredChain>,
    pending: BTreeMap<ProposalId, PendingProposal>,
    orphans: VecDeque<Approval>,
    closed: BTreeMap<ProposalId, Closure>,
}

impl From<RegistryV1> for Registry {
    fn from(v1: RegistryV1) -> Registry {
        Registry {
            genesis_hash: v1.genesis_hash,
            governors: v1.governors,
            threshold: v1.threshold,
            admitted_peers: v1.admitted_peers,
            chains: v1.chains,
            pending: v1.pending,
            orphans: v1.orphans,
            closed: v1.closed,
            decided: Vec::new(),
            received: BTreeMap::new(),
            expired: VecDeque::new(),
        }
    }
}

// --- predicates: one rule each -------------------------------------------

/// A libp2p peer id as libp2p prints it: base58btc, 1 to
/// [`MAX_PEER_ID_CHARS`] characters.
pub fn check_peer_id(peer: &str) -> Result<(), String> {
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    if peer.is_empty() {
        return Err("empty peer id".into());
    }
    if peer.chars().count() > MAX_PEER_ID_CHARS {
        return Err(format!(
            "peer id {peer:?} is longer than {MAX_PEER_ID_CHARS} characters"
        ));
    }
    if let Some(c) = peer.chars().find(|c| !BASE58.contains(*c)) {
        return Err(format!(
            "peer id {peer:?} has {c:?}, not a base58 character (a libp2p peer id looks like 12D3KooW...)"
        ));
    }
    Ok(())
}

/// The serving peers of a chain: 1 to [`MAX_PEERS_PER_CHAIN`] valid,
/// distinct peer ids.
fn check_serving_peers(peers: &[String]) -> Result<(), String> {
    if peers.is_empty() {
        return Err("no serving relayer peer id".into());
    }
    if peers.len() > MAX_PEERS_PER_CHAIN {
        return Err(format!(
            "{} serving relayer peer ids, at most {MAX_PEERS_PER_CHAIN}",
            peers.len()
        ));
    }
    let mut seen = BTreeSet::new();
    for p in peers {
        check_peer_id(p)?;
        if !seen.insert(p) {
            return Err(format!("peer id {p} is listed twice"));
        }
    }
    Ok(())
}

/// A freeze or deregistration reason: not blank, at most
/// [`MAX_REASON_BYTES`].
fn check_reason(kind: &'static str, chain_id: &ChainId, reason: &str) -> Result<(), RegistryError> {
    let bad = |why: String| RegistryError::InvalidReason {
        kind,
        chain_id: chain_id.clone(),
        reason: why,
    };
    if reason.trim().is_empty() {
        return Err(bad("the reason is empty".into()));
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(bad(format!(
            "the reason has {} bytes, at most {MAX_REASON_BYTES}",
            reason.len()
        )));
    }
    Ok(())
}

impl Registry {
    /// The registry at genesis; refuses no or duplicate governors, a
    /// threshold outside 1..=n, duplicate chains and malformed peer ids.
    pub fn new(genesis: &RegistryGenesis) -> Result<Registry, RegistryError> {
        let bad = |m: String| RegistryError::InvalidGenesis(m);
        let n = genesis.governors.len();
        if n == 0 {
            return Err(bad("no governance key".into()));
        }
        if n > MAX_GOVERNORS {
            return Err(bad(format!("{n} governance keys, at most {MAX_GOVERNORS}")));
        }
        let governors: BTreeSet<PublicKey> = genesis.governors.iter().copied().collect();
        if governors.len() != n {
            let dup = genesis
                .governors
                .iter()
                .enumerate()
                .find(|(i, g)| genesis.governors[..*i].contains(g))
                .map(|(_, g)| g.to_string())
                .unwrap_or_default();
            return Err(bad(format!("governance key {dup} is listed twice")));
        }
        let k = genesis.threshold;
        if k == 0 || k as usize > n {
            return Err(bad(format!(
                "threshold {k} is not between 1 and the {n} governance keys"
            )));
        }
        let mut chains = BTreeMap::new();
        for c in &genesis.chains {
            check_serving_peers(&c.relayer_peer_ids)
                .map_err(|e| bad(format!("chain {}: {e}", c.chain_id)))?;
            let chain = RegisteredChain {
                chain_id: c.chain_id.clone(),
                chain_type: c.chain_type,
                trust_anchor: c.trust_anchor.clone(),
                operator_key: c.operator_key,
                relayer_peer_ids: c.relayer_peer_ids.clone(),
                status: ChainStatus::Active,
                registered_by: None,
            };
            if chains.insert(c.chain_id.clone(), chain).is_some() {
                return Err(bad(format!("chain {} is listed twice", c.chain_id)));
            }
        }
        let mut admitted_peers = BTreeSet::new();
        for p in &genesis.admitted_peers {
            check_peer_id(p).map_err(|e| bad(format!("admitted peer: {e}")))?;
            admitted_peers.insert(p.clone());
        }
        Ok(Registry {
            genesis_hash: genesis.hash(),
            governors,
            threshold: k,
            admitted_peers,
            chains,
            pending: BTreeMap::new(),
            orphans: VecDeque::new(),
            closed: BTreeMap::new(),
            decided: Vec::new(),
            received: BTreeMap::new(),
            expired: VecDeque::new(),
        })
    }

    /// The hash of the genesis this registry grew from.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The governance keys (`n` of them).
    pub fn governors(&self) -> &BTreeSet<PublicKey> {
        &self.governors
    }

    /// How many distinct approvals decide a proposal (`k`).
    pub fn threshold(&self) -> usize {
        self.threshold as usize
    }

    /// The registered chains (active and frozen), by chain id.
    pub fn chains(&self) -> impl Iterator<Item = &RegisteredChain> {
        self.chains.values()
    }

    /// One registered chain.
    pub fn chain(&self, chain_id: &ChainId) -> Option<&RegisteredChain> {
        self.chains.get(chain_id)
    }

    /// The pending proposals with their approvals, by id.
    pub fn proposals(&self) -> impl Iterator<Item = &PendingProposal> {
        self.pending.values()
    }

    /// One pending proposal.
    pub fn proposal(&self, id: &ProposalId) -> Option<&PendingProposal> {
        self.pending.get(id)
    }

    /// How a proposal was closed, if it was.
    pub fn closure(&self, id: &ProposalId) -> Option<Closure> {
        self.closed.get(id).copied()
    }

    /// The decided proposals, each with the approvals that decided it, in
    /// the order they were decided (a registry that missed them reaches
    /// the same state by replaying them in this order).
    pub fn decided(&self) -> &[PendingProposal] {
        &self.decided
    }

    /// When a pending proposal was first received (the caller's unix
    /// seconds, as given to [`Registry::submit`]).
    pub fn received_at(&self, id: &ProposalId) -> Option<u64> {
        self.received.get(id).copied()
    }

    /// How many approvals of unknown proposals are kept.
    pub fn orphan_approvals(&self) -> usize {
        self.orphans.len()
    }

    /// The peer ids of the relayers serving a registered chain.
    pub fn serving_peers(&self, chain_id: &ChainId) -> Option<&[String]> {
        self.chains
            .get(chain_id)
            .map(|c| c.relayer_peer_ids.as_slice())
    }

    /// The peers admitted to the mesh: the serving relayers of every
    /// registered chain (active or frozen) and genesis' admitted peers.
    pub fn allowed_peers(&self) -> BTreeSet<String> {
        let mut out = self.admitted_peers.clone();
        for c in self.chains.values() {
            out.extend(c.relayer_peer_ids.iter().cloned());
        }
        out
    }

    /// Whether `peer` may join the mesh (see [`Registry::allowed_peers`]).
    pub fn is_allowed_peer(&self, peer: &str) -> bool {
        self.admitted_peers.contains(peer)
            || self
                .chains
                .values()
                .any(|c| c.relayer_peer_ids.iter().any(|p| p == peer))
    }

    fn not_a_governor(&self, key: PublicKey, role: &'static str) -> RegistryError {
        RegistryError::NotAGovernor {
            key,
            role,
            count: self.governors.len(),
            governors: join(self.governors.iter()),
        }
    }

    /// Who may propose it, and whether the signatures verify.
    fn check_signed(&self, signed: &SignedProposal, id: ProposalId) -> Result<(), RegistryError> {
        match &signed.proposal {
            Proposal::Register(r) => {
                if signed.proposer != r.operator_key {
                    return Err(RegistryError::ProposerNotOperator {
                        chain_id: r.chain_id.clone(),
                        proposer: signed.proposer,
                        operator: r.operator_key,
                    });
                }
                if !signing::verify_registration(r) {
                    return Err(RegistryError::BadOperatorSignature {
                        chain_id: r.chain_id.clone(),
                        operator: r.operator_key,
                    });
                }
                check_serving_peers(&r.relayer_peer_ids).map_err(|reason| {
                    RegistryError::InvalidRegistration {
                        chain_id: r.chain_id.clone(),
                        reason,
                    }
                })?;
            }
            Proposal::Freeze { chain_id, reason } | Proposal::Deregister { chain_id, reason } => {
                let kind = signed.proposal.kind();
                if !self.governors.contains(&signed.proposer) {
                    return Err(self.not_a_governor(
                        signed.proposer,
                        if kind == "freeze" {
                            "proposer of a freeze"
                        } else {
                            "proposer of a deregistration"
                        },
                    ));
                }
                check_reason(kind, chain_id, reason)?;
            }
        }
        if !signing::verify_proposal(signed) {
            return Err(RegistryError::BadProposalSignature {
                kind: signed.proposal.kind(),
                proposal: id,
                proposer: signed.proposer,
            });
        }
        Ok(())
    }

    /// Whether the proposal can apply to the registry as it is.
    fn check_applicable(&self, proposal: &Proposal) -> Result<(), RegistryError> {
        let chain_id = proposal.chain_id();
        let current = self.chains.get(chain_id);
        match (proposal, current) {
            (Proposal::Register(_), Some(c)) => Err(RegistryError::AlreadyRegistered {
                chain_id: chain_id.clone(),
                status: c.status.clone(),
            }),
            (Proposal::Register(_), None) => Ok(()),
            (_, None) => Err(RegistryError::UnknownChain {
                chain_id: chain_id.clone(),
                registered: join(self.chains.keys()),
            }),
            (Proposal::Freeze { .. }, Some(c)) if !c.is_active() => {
                Err(RegistryError::AlreadyFrozen {
                    chain_id: chain_id.clone(),
                })
            }
            (_, Some(_)) => Ok(()),
        }
    }

    /// Takes a signed proposal: checks roles, signatures and that it
    /// applies (see the module documentation), then keeps it pending and
    /// counts the approvals that arrived before it — deciding it at once
    /// when they reach the threshold. The same pending proposal again is
    /// `Ok` with [`Submission::already_pending`]. `now` (unix seconds) is
    /// when it was received: it expires from then ([`Registry::expire`]).
    /// Refused when its queue is full ([`RegistryError::TooManyPending`]).
    pub fn submit(
        &mut self,
        signed: SignedProposal,
        now: u64,
    ) -> Result<Submission, RegistryError> {
        let id = signed.id();
        if let Some(closure) = self.closed.get(&id) {
            return Err(RegistryError::ProposalClosed {
                proposal: id,
                closure: *closure,
            });
        }
        if let Some(p) = self.pending.get(&id) {
            return Ok(Submission {
                id,
                already_pending: true,
                approvals: p.approval_count(),
                threshold: self.threshold(),
                decided: None,
            });
        }
        self.check_signed(&signed, id)?;
        self.check_applicable(&signed.proposal)?;
        self.check_room(&signed)?;
        // Approvals that arrived first (all checked when kept).
        let mut approvals = BTreeMap::new();
        self.orphans.retain(|a| {
            if a.proposal_id == id {
                approvals.insert(a.governor, a.signature);
                false
            } else {
                true
            }
        });
        let count = approvals.len();
        self.received.insert(id, now);
        self.pending.insert(
            id,
            PendingProposal {
                id,
                signed,
                approvals,
            },
        );
        let decided = (count >= self.threshold())
            .then(|| self.decide(id))
            .flatten();
        Ok(Submission {
            id,
            already_pending: false,
            approvals: count,
            threshold: self.threshold(),
            decided,
        })
    }

    /// Takes a governor's approval: refuses a key that is not a governance
    /// key and a bad signature; otherwise counts it once per governor, and
    /// the `k`-th distinct approval decides and applies the proposal. An
    /// approval of an unknown proposal is kept for when it arrives
    /// ([`ApprovalOutcome::Deferred`]); one of a closed proposal changes
    /// nothing ([`ApprovalOutcome::AlreadyClosed`]).
    pub fn approve(&mut self, approval: Approval) -> Result<ApprovalOutcome, RegistryError> {
        if !self.governors.contains(&approval.governor) {
            return Err(self.not_a_governor(approval.governor, "approver"));
        }
        if !signing::verify_approval(&approval) {
            return Err(RegistryError::BadApprovalSignature {
                proposal: approval.proposal_id,
                governor: approval.governor,
            });
        }
        let id = approval.proposal_id;
        if let Some(closure) = self.closed.get(&id) {
            return Ok(ApprovalOutcome::AlreadyClosed { closure: *closure });
        }
        let threshold = self.threshold();
        let Some(pending) = self.pending.get_mut(&id) else {
            if self
                .orphans
                .iter()
                .any(|a| a.proposal_id == id && a.governor == approval.governor)
            {
                return Ok(ApprovalOutcome::AlreadyCounted);
            }
            if self.orphans.len() >= MAX_ORPHAN_APPROVALS {
                self.orphans.pop_front();
            }
            self.orphans.push_back(approval);
            return Ok(ApprovalOutcome::Deferred);
        };
        if pending.approvals.contains_key(&approval.governor) {
            return Ok(ApprovalOutcome::AlreadyCounted);
        }
        pending
            .approvals
            .insert(approval.governor, approval.signature);
        let approvals = pending.approval_count();
        if approvals < threshold {
            return Ok(ApprovalOutcome::Counted {
                approvals,
                threshold,
            });
        }
        Ok(match self.decide(id) {
            Some(event) => ApprovalOutcome::Decided {
                event: Box::new(event),
            },
            // Cannot happen: pending proposals always apply.
            None => ApprovalOutcome::AlreadyClosed {
                closure: self.closed.get(&id).copied().unwrap_or(Closure::Decided),
            },
        })
    }

    /// Whether the queue `signed` goes to has room for it.
    fn check_room(&self, signed: &SignedProposal) -> Result<(), RegistryError> {
        let (queue, max) = match signed.proposal {
            Proposal::Register(_) => (PendingQueue::Registrations, MAX_PENDING_REGISTRATIONS),
            Proposal::Freeze { .. } | Proposal::Deregister { .. } => (
                PendingQueue::Governor(signed.proposer),
                MAX_PENDING_PER_GOVERNOR,
            ),
        };
        let pending = self
            .pending
            .values()
            .filter(|p| match (&queue, &p.signed.proposal) {
                (PendingQueue::Registrations, Proposal::Register(_)) => true,
                (
                    PendingQueue::Governor(key),
                    Proposal::Freeze { .. } | Proposal::Deregister { .. },
                ) => p.signed.proposer == *key,
                _ => false,
            })
            .count();
        if pending >= max {
            return Err(RegistryError::TooManyPending {
                queue,
                pending,
                max,
            });
        }
        Ok(())
    }

    /// Closes every pending proposal received more than `max_age` seconds
    /// before `now` (unix seconds) as [`Closure::Expired`], and returns
    /// their ids. A proposal with no receipt time (stored by a relayer
    /// before proposals expired) is given `now`.
    pub fn expire(&mut self, now: u64, max_age: u64) -> Vec<ProposalId> {
        let mut gone = Vec::new();
        for id in self.pending.keys() {
            let received = *self.received.entry(*id).or_insert(now);
            if now.saturating_sub(received) > max_age {
                gone.push(*id);
            }
        }
        for id in &gone {
            self.pending.remove(id);
            self.received.remove(id);
            self.closed.insert(*id, Closure::Expired);
            self.expired.push_back(*id);
        }
        while self.expired.len() > MAX_EXPIRED_REMEMBERED {
            if let Some(old) = self.expired.pop_front()
                && self.closed.get(&old) == Some(&Closure::Expired)
            {
                self.closed.remove(&old);
            }
        }
        gone
    }

    /// Applies a pending proposal that reached the threshold, closes it,
    /// and closes the pending proposals it makes moot.
    fn decide(&mut self, id: ProposalId) -> Option<RegistryEvent> {
        let pending = self.pending.remove(&id)?;
        self.received.remove(&id);
        if self.check_applicable(&pending.signed.proposal).is_err() {
            self.closed.insert(id, Closure::Superseded { by: id });
            return None;
        }
        self.closed.insert(id, Closure::Decided);
        self.decided.push(pending.clone());
        let event = match pending.signed.proposal {
            Proposal::Register(r) => {
                let chain = RegisteredChain::from_registration(&r, id);
                self.chains.insert(r.chain_id.clone(), chain.clone());
                RegistryEvent::ChainAccepted(chain)
            }
            Proposal::Freeze { chain_id, reason } => {
                if let Some(c) = self.chains.get_mut(&chain_id) {
                    c.status = ChainStatus::Frozen {
                        reason: reason.clone(),
                        proposal: id,
                    };
                }
                RegistryEvent::ChainFrozen {
                    chain_id,
                    reason,
                    proposal: id,
                }
            }
            Proposal::Deregister { chain_id, reason } => {
                let former_peers = self
                    .chains
                    .remove(&chain_id)
                    .map(|c| c.relayer_peer_ids)
                    .unwrap_or_default();
                RegistryEvent::ChainDeregistered {
                    chain_id,
                    reason,
                    proposal: id,
                    former_peers,
                }
            }
        };
        let moot: Vec<ProposalId> = self
            .pending
            .values()
            .filter(|p| self.check_applicable(&p.signed.proposal).is_err())
            .map(|p| p.id)
            .collect();
        for m in moot {
            self.pending.remove(&m);
            self.received.remove(&m);
            self.closed.insert(m, Closure::Superseded { by: id });
        }
        Some(event)
    }

    /// The whole state: a version byte, then borsh.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![STATE_VERSION];
        out.extend(borsh::to_vec(self).unwrap_or_default());
        out
    }

    /// Reads [`Registry::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Result<Registry, RegistryError> {
        match bytes.split_first() {
            Some((&STATE_VERSION, rest)) => {
                borsh::from_slice(rest).map_err(|e| RegistryError::CorruptState(e.to_string()))
            }
            Some((&STATE_VERSION_2, rest)) => borsh::from_slice::<RegistryV2>(rest)
                .map(Registry::from)
                .map_err(|e| RegistryError::CorruptState(e.to_string())),
            Some((&STATE_VERSION_1, rest)) => borsh::from_slice::<RegistryV1>(rest)
                .map(Registry::from)
                .map_err(|e| RegistryError::CorruptState(e.to_string())),
            Some((v, _)) => Err(RegistryError::CorruptState(format!(
                "unknown state version {v} (this relayer writes {STATE_VERSION})"
            ))),
            None => Err(RegistryError::CorruptState("empty".into())),
        }
    }
}

fn join<T: fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let all: Vec<String> = items.map(|i| i.to_string()).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}
