//! What the adapters return.

use std::collections::BTreeMap;

use light_clients::merkle::StateProof;
use protocol::{ChainId, Hash, Height, LightBlock, Time};
use serde::{Deserialize, Serialize};

use crate::FailureKind;

/// A chain's latest block, as an endpoint reports it.
///
/// Only the chain id is checked; the rest is a hint until the light block
/// at `latest_height` is verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// The chain (always the adapter's).
    pub chain_id: ChainId,
    /// Height of the latest block.
    pub latest_height: Height,
    /// Hash of its header.
    pub latest_hash: Hash,
    /// Its time.
    pub latest_time: Time,
    /// The state root after it.
    pub state_root: Hash,
}

/// The value under a key, proven against a self-verified light block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenState {
    /// The key asked.
    pub key: Vec<u8>,
    /// The height of the state the value was read from.
    pub height: Height,
    /// The value, `None` when the key is absent (a proven absence).
    pub value: Option<Vec<u8>>,
    /// Membership proof (value present) or non-membership proof (absent)
    /// against `light_block`'s state root.
    pub proof: StateProof,
    /// The light block at `height`, self-verified, whose state root the
    /// proof was checked against. The engine verifies it with its light
    /// client before trusting the value.
    pub light_block: LightBlock,
}

/// One key of a [`ProvenStates`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenEntry {
    /// The key asked.
    pub key: Vec<u8>,
    /// The value, `None` when the key is absent (a proven absence).
    pub value: Option<Vec<u8>>,
    /// Membership or non-membership proof against the batch's light block.
    pub proof: StateProof,
}

/// The values under many keys at one height, each proven against the same
/// self-verified light block, so that a batch of packets can be proven
/// under one client update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenStates {
    /// The height of the state the values were read from.
    pub height: Height,
    /// One entry per key asked, in the order asked.
    pub entries: Vec<ProvenEntry>,
    /// The light block at `height`, self-verified, whose state root every
    /// proof was checked against.
    pub light_block: LightBlock,
}

/// One attribute of a [`ChainEvent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAttribute {
    /// Name.
    pub key: String,
    /// Value, as text.
    pub value: String,
}

/// Something a transaction did (`send_packet`, `record_written`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEvent {
    /// What happened.
    pub kind: String,
    /// Details.
    pub attributes: Vec<EventAttribute>,
}

impl ChainEvent {
    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| a.value.as_str())
    }
}

/// What became of a submitted transaction.
///
/// A refusal by the chain (bad nonce, missing consent, ...) is a normal
/// outcome: `code != 0` with the chain's message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitOutcome {
    /// The transaction's hash.
    pub hash: Hash,
    /// The block that holds it; `None` when the node refused to admit it
    /// (nothing was committed, the nonce is not consumed).
    pub height: Option<Height>,
    /// 0 on success, else the chain's stable error code.
    pub code: u32,
    /// The module of the code (empty on success, and when the node refused
    /// the transaction before a block, where only the code is reported).
    pub codespace: String,
    /// What was wrong (empty on success).
    pub message: String,
    /// What the transaction did (empty on failure).
    pub events: Vec<ChainEvent>,
}

impl SubmitOutcome {
    /// Whether the transaction was committed and succeeded.
    pub fn is_ok(&self) -> bool {
        self.code == 0 && self.height.is_some()
    }
}

/// One packet event found in a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketEvent {
    /// The block.
    pub height: Height,
    /// The transaction that emitted it.
    pub tx: Hash,
    /// The event (`send_packet`, `recv_packet`, `write_acknowledgement`,
    /// `acknowledge_packet`, `timeout_packet`).
    pub event: ChainEvent,
}

/// Packet events of a range of blocks.
///
/// Events are hints of where to look: what a relayer proves is read with
/// [`ChainAdapter::state`](crate::ChainAdapter::state). An endpoint could
/// leave events out; the engine's state proofs (sequences, commitments)
/// are what catches that.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketEvents {
    /// The events, in block order.
    pub events: Vec<PacketEvent>,
    /// The last height scanned: ask again with `since = scanned_to`.
    pub scanned_to: u64,
    /// The endpoint's latest height.
    pub latest_height: u64,
}

/// Counters of one endpoint, for metrics and operators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointStats {
    /// The endpoint's base URL.
    pub url: String,
    /// HTTP requests sent to it.
    pub requests: u64,
    /// Failed attempts, whatever the reason (faults included).
    pub errors: u64,
    /// Failed attempts where the endpoint served data that does not verify
    /// (wrong chain, bad light block, bad proof, inconsistent answer).
    pub faults: u64,
    /// Failed attempts by kind.
    pub errors_by_kind: BTreeMap<FailureKind, u64>,
    /// False while the endpoint is put aside after a failure.
    pub healthy: bool,
    /// The last failure, with its reason.
    pub last_error: Option<String>,
}

/// One fee event (`escrow_locked`, `fee_paid`, `escrow_refunded`,
/// `fee_charges_rejected`) found in a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeEvent {
    /// The block.
    pub height: Height,
    /// The block's time.
    pub time: Time,
    /// The transaction that emitted it.
    pub tx: Hash,
    /// The event.
    pub event: ChainEvent,
}

/// Fee events of a range of blocks, as an endpoint reports them: for
/// accounting and reports, not proven.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeEvents {
    /// The events, in block order.
    pub events: Vec<FeeEvent>,
    /// The last height scanned: ask again with `since = scanned_to`.
    pub scanned_to: u64,
    /// The endpoint's latest height.
    pub latest_height: u64,
}

/// One account's balance in a [`Ledger`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerBalance {
    /// The account (`<institution>` or `<chain>/<institution>`).
    pub account: protocol::tx::Account,
    /// Its balance in minor units.
    pub amount: u64,
}

/// One escrow of a packet in flight in a [`Ledger`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEscrow {
    /// The packet's destination.
    pub destination: ChainId,
    /// The packet's sequence.
    pub sequence: u64,
    /// Who paid it in.
    pub account: protocol::tx::Account,
    /// How much, in minor units.
    pub amount: u64,
}

/// Every balance and escrow of a chain at one height, with their totals,
/// as an endpoint reports them (`GET /accounts`): for accounting and
/// reports, not proven.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The height read.
    pub height: Height,
    /// The chain's currency.
    pub currency: protocol::Currency,
    /// Every non-zero balance.
    pub balances: Vec<LedgerBalance>,
    /// Every escrow of a packet in flight.
    pub escrows: Vec<LedgerEscrow>,
    /// The sum of the balances.
    pub balances_total: u128,
    /// The sum of the escrows.
    pub escrowed_total: u128,
    /// `balances_total + escrowed_total`.
    pub total: u128,
}
