//! JSON shapes of the credit-chain RPC answers (see the node's `rpc.rs`).

use light_clients::merkle::StateProof;
use protocol::{ChainId, Hash, Height, Time};
use serde::Deserialize;

use crate::{ChainEvent, PacketEvent};

/// `GET /status`; the latest block fields are null before the first block.
#[derive(Deserialize)]
pub(crate) struct Status {
    pub chain_id: ChainId,
    pub latest_height: Option<Height>,
    pub latest_hash: Option<Hash>,
    pub latest_time: Option<Time>,
    pub state_root: Option<Hash>,
}

/// `GET /state?key=HEX`.
#[derive(Deserialize)]
pub(crate) struct State {
    pub key: String,
    pub value: Option<String>,
    pub height: Height,
    pub proof: StateProof,
}

/// `POST /proofs` answered in borsh (`Accept: application/octet-stream`):
/// the height, then each key asked with its value (if any) and proof.
pub(crate) type BinaryProofs = (Height, Vec<(Vec<u8>, Option<Vec<u8>>, StateProof)>);

/// A transaction's result in `POST /tx`'s answer.
#[derive(Deserialize)]
pub(crate) struct TxResult {
    pub code: u32,
    #[serde(default)]
    pub codespace: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub events: Vec<ChainEvent>,
}

/// `POST /tx` once committed.
#[derive(Deserialize)]
pub(crate) struct Committed {
    pub hash: Hash,
    pub height: Height,
    pub result: TxResult,
}

/// One answer of `POST /txs`: committed, or refused at admission. Decoded
/// straight into these types: a batch's answers held as generic JSON
/// values were the relayer's largest allocation while clearing a backlog.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum BatchAnswer {
    /// Refused (it has an `error` field).
    Refused(Refusal),
    /// Committed.
    Committed(Committed),
}

/// `POST /tx` refused at admission (400).
#[derive(Deserialize)]
pub(crate) struct Refusal {
    pub error: String,
    pub detail: Option<RefusalDetail>,
}

/// The machine-readable part of a refusal.
#[derive(Deserialize)]
pub(crate) struct RefusalDetail {
    pub code: Option<u32>,
    pub hash: Option<Hash>,
}

/// `GET /packets?since=H`.
#[derive(Deserialize)]
pub(crate) struct Packets {
    pub events: Vec<PacketEvent>,
    pub scanned_to: u64,
    pub latest_height: u64,
}

/// The data of an SSE `block` event of `GET /events`.
#[derive(Deserialize)]
pub(crate) struct BlockEvent {
    pub height: Height,
}
