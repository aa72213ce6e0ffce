//! What relayers ask each other over the mesh's request-response protocol
//! (inside the network's signed envelopes), encoded as JSON.
//!
//! Everything a peer answers about a chain is checked before use exactly as
//! an RPC endpoint's answer would be: light blocks by the asking relayer's
//! own light client, values by their Merkle proofs. A peer is never trusted.

use adapters::{ChainStatus, PacketEvents, SubmitOutcome};
use light_clients::merkle::StateProof;
use protocol::tx::TxBody;
use protocol::{ChainId, Hash, Height, LightBlock};
use serde::{Deserialize, Serialize};

/// Bytes as hex in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexBytes(#[serde(with = "hex::serde")] pub Vec<u8>);

/// A request to the relayer serving `chain`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MeshRequest {
    /// The chain's latest height.
    Status {
        /// The chain.
        chain: ChainId,
    },
    /// The light block at a height.
    LightBlock {
        /// The chain.
        chain: ChainId,
        /// The height.
        height: Height,
    },
    /// Values and proofs of keys, all at one height.
    States {
        /// The chain.
        chain: ChainId,
        /// The keys.
        keys: Vec<HexBytes>,
    },
    /// The chain's packet events after height `since` (hints of where to
    /// look, as an RPC endpoint gives them: the asker proves what it reads).
    PacketEvents {
        /// The chain.
        chain: ChainId,
        /// The last height already scanned.
        since: u64,
    },
    /// Packet messages (with their proofs) and the client updates they need,
    /// to be checked by the serving relayer and submitted on its chain
    /// under its own key.
    Submit {
        /// The chain to submit on.
        chain: ChainId,
        /// The messages, in order.
        bodies: Vec<TxBody>,
    },
    /// A page of the network registry as the peer holds it (decided
    /// proposals in decision order, then pending ones, with their
    /// approvals), for a relayer catching up on what it missed.
    RegistrySnapshot {
        /// Where the page starts (0, then the previous page's `next`).
        from: u64,
    },
}

impl MeshRequest {
    /// The chain the request is about; `None` for the registry snapshot.
    pub fn chain(&self) -> Option<&ChainId> {
        match self {
            MeshRequest::Status { chain }
            | MeshRequest::LightBlock { chain, .. }
            | MeshRequest::States { chain, .. }
            | MeshRequest::PacketEvents { chain, .. }
            | MeshRequest::Submit { chain, .. } => Some(chain),
            MeshRequest::RegistrySnapshot { .. } => None,
        }
    }

    /// What the request is, for logs and errors.
    pub fn what(&self) -> String {
        match self {
            MeshRequest::Status { .. } => "status".into(),
            MeshRequest::LightBlock { height, .. } => format!("light block {height}"),
            MeshRequest::States { keys, .. } => format!("{} proven states", keys.len()),
            MeshRequest::PacketEvents { since, .. } => format!("packet events since {since}"),
            MeshRequest::Submit { bodies, .. } => {
                format!("submission of {} messages", bodies.len())
            }
            MeshRequest::RegistrySnapshot { from } => format!("registry snapshot from {from}"),
        }
    }
}

/// One proven value of [`MeshResponse::States`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    /// The key.
    pub key: HexBytes,
    /// The value; `None` when absent.
    pub value: Option<HexBytes>,
    /// Its proof against the light block's state root.
    pub proof: StateProof,
}

/// One proposal of [`MeshResponse::RegistrySnapshot`]: canonical bytes, as
/// gossip carries them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireProposal {
    /// The signed proposal.
    pub proposal: HexBytes,
    /// Its approvals.
    pub approvals: Vec<HexBytes>,
}

/// The serving relayer's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MeshResponse {
    /// Answer to [`MeshRequest::Status`].
    Status {
        /// The status.
        status: ChainStatus,
    },
    /// Answer to [`MeshRequest::LightBlock`].
    LightBlock {
        /// The block.
        block: LightBlock,
    },
    /// Answer to [`MeshRequest::States`].
    States {
        /// The light block the proofs are against.
        light_block: LightBlock,
        /// One entry per key, in order.
        entries: Vec<WireEntry>,
    },
    /// Answer to [`MeshRequest::PacketEvents`].
    PacketEvents {
        /// The events, as the chain's endpoint gave them.
        events: PacketEvents,
        /// The packets of the `send_packet` events that the serving
        /// relayer recorded (a packet is pruned from its chain's state once
        /// closed; the asker checks each against its commitment).
        #[serde(default)]
        packets: Vec<protocol::Packet>,
    },
    /// Answer to [`MeshRequest::Submit`]: per message, the chain's outcome
    /// or why it was not submitted.
    Submitted {
        /// The outcomes, in order.
        outcomes: Vec<Result<SubmitOutcome, String>>,
    },
    /// Answer to [`MeshRequest::RegistrySnapshot`].
    RegistrySnapshot {
        /// The genesis the peer's registry grew from.
        genesis: Hash,
        /// The page's proposals.
        proposals: Vec<WireProposal>,
        /// Where the next page starts; `None` on the last.
        next: Option<u64>,
    },
    /// The request was refused (not served here, failed checks, malformed).
    Refused {
        /// Why.
        reason: String,
    },
}

/// Encodes a message.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}

/// Decodes untrusted bytes, naming what is wrong.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("malformed {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_named() {
        let request = MeshRequest::States {
            chain: "guangdong".parse().unwrap(),
            keys: vec![HexBytes(b"packets/x/1".to_vec())],
        };
        let bytes = encode(&request);
        assert_eq!(decode::<MeshRequest>(&bytes, "request").unwrap(), request);
        let err = decode::<MeshRequest>(b"{\"kind\":\"states\"", "mesh request").unwrap_err();
        assert!(err.starts_with("malformed mesh request"), "{err}");
        let err = decode::<MeshRequest>(b"{\"kind\":\"launch\"}", "mesh request").unwrap_err();
        assert!(err.contains("launch"), "{err}");
    }
}
