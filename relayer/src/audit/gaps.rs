//! Completeness of the audit log: per (source chain, destination chain),
//! which sends the log has, checked against the source's proven next send
//! sequence — never against the events or the `scanned_to` a serving relayer
//! reports, which are hints.
//!
//! The supervision node keeps one [`SendCompleteness`] per pair in the
//! store (see [`crate::audit::AuditService::note_completeness`]); a sequence
//! below the proven next one with no `committed` entry is a gap, reported by
//! the node's `/metrics`, `GET /audit/gaps` and `relayer audit verify`, and
//! filled as soon as the packet is proven.

use std::collections::BTreeSet;

use protocol::ChainId;
use serde::{Deserialize, Serialize};

/// The key of the completeness record in the supervision node's state.
pub const COMPLETENESS_KEY: &[u8] = b"audit_completeness";

/// How many missing sequences a report lists (the count is always whole).
pub const LISTED_GAPS: usize = 100;

/// What the log has of the sends from `source` to `destination`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCompleteness {
    /// The sending chain.
    pub source: ChainId,
    /// The receiving chain.
    pub destination: ChainId,
    /// The source's next send sequence to `destination`, proven against a
    /// verified header at the last check (every lower sequence was sent).
    pub next_sequence: u64,
    /// Every sequence below this one was checked: it has an entry, or it is
    /// in `missing`.
    pub checked: u64,
    /// Sequences sent (below `next_sequence`) that have no entry: their
    /// packet could not be proven (pruned before the node saw it in flight,
    /// or no serving relayer would prove it).
    pub missing: BTreeSet<u64>,
}

impl SendCompleteness {
    /// A pair not checked yet (sequences start at 1).
    pub fn new(source: ChainId, destination: ChainId) -> SendCompleteness {
        SendCompleteness {
            source,
            destination,
            next_sequence: 1,
            checked: 1,
            missing: BTreeSet::new(),
        }
    }

    /// Whether the log misses any send of this pair.
    pub fn has_gaps(&self) -> bool {
        !self.missing.is_empty()
    }

    /// One line naming the gap: the pair, how many, the first few.
    pub fn describe(&self) -> String {
        let listed: Vec<String> = self
            .missing
            .iter()
            .take(LISTED_GAPS)
            .map(u64::to_string)
            .collect();
        let more = self.missing.len().saturating_sub(LISTED_GAPS);
        format!(
            "{} -> {}: {} sends below the proven next sequence {} have no entry (sequences {}{})",
            self.source,
            self.destination,
            self.missing.len(),
            self.next_sequence,
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    }
}

/// Decodes the stored completeness records; the error says what is wrong.
pub fn decode_completeness(bytes: &[u8]) -> Result<Vec<SendCompleteness>, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("audit completeness record: {e}"))
}

/// Encodes completeness records for the store.
pub fn encode_completeness(records: &[SendCompleteness]) -> Vec<u8> {
    serde_json::to_vec(records).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(id: &str) -> ChainId {
        id.parse().unwrap()
    }

    #[test]
    fn a_gap_is_named_with_its_pair_and_sequences_and_round_trips_the_store() {
        let mut record = SendCompleteness::new(chain("shaanxi"), chain("guangdong"));
        assert!(!record.has_gaps());
        record.next_sequence = 500;
        record.checked = 500;
        record.missing = (3..=250).collect();
        assert!(record.has_gaps());
        let text = record.describe();
        assert!(
            text.starts_with("shaanxi -> guangdong: 248 sends below the proven next sequence 500"),
            "{text}"
        );
        assert!(text.contains("sequences 3, 4, 5"), "{text}");
        // The list is bounded; the count is whole.
        assert!(!text.contains(", 150,"), "{text}");
        assert!(text.ends_with("and 148 more)"), "{text}");
        let bytes = encode_completeness(std::slice::from_ref(&record));
        assert_eq!(decode_completeness(&bytes).unwrap(), vec![record]);
        let err = decode_completeness(b"{not json").unwrap_err();
        assert!(err.contains("audit completeness record"), "{err}");
    }
}
