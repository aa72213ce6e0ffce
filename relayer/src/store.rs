//! The relayer's durable memory in sled; all store access lives here.
//!
//! - `packets`: every packet seen on a path with its state, written at each
//!   transition (committed → received → acknowledged, or timed out), so a
//!   restarted relayer resumes where it stopped;
//! - `pending`: the keys of the packets not yet final, so finding the work
//!   left costs the backlog, not the whole history;
//! - `progress`: per chain, the height up to which its packet events were
//!   scanned;
//! - `clients`: per chain, the latest light block the relayer's own light
//!   client verified, so a restart resumes trust from there rather than
//!   re-trusting the chain from scratch;
//! - `trust_anchors`: per chain, the anchor an operator set with `relayer
//!   chains trust` (it overrides the config's and the registration's).
//!
//! Chains' receipts make a double delivery impossible; this store makes a
//! forgotten packet impossible. Each write is flushed before it is relied on.

use std::path::Path;

use borsh::{BorshDeserialize, BorshSerialize};
use protocol::{ChainId, Height, LightBlock, Packet, Time};

use crate::trust::Anchor;

/// Where a packet is in its life.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, serde::Serialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum PacketState {
    /// Committed on the source; not yet received on the destination.
    Committed,
    /// Received on the destination (receipt written); the acknowledgement
    /// is not yet relayed back.
    Received {
        /// Destination height of the receipt, when known.
        height: Option<Height>,
    },
    /// Acknowledged on the source: done.
    Acknowledged,
    /// Timed out on the source (refunded): done.
    TimedOut,
}

impl PacketState {
    /// Whether nothing is left to do.
    pub fn is_final(&self) -> bool {
        matches!(self, PacketState::Acknowledged | PacketState::TimedOut)
    }

    /// Order of the states, so a transition never goes backwards.
    fn rank(&self) -> u8 {
        match self {
            PacketState::Committed => 0,
            PacketState::Received { .. } => 1,
            PacketState::Acknowledged | PacketState::TimedOut => 2,
        }
    }
}

/// The two states in which a packet waits for the relayer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Committed: to be received on its destination (or timed out).
    Delivery,
    /// Received: its acknowledgement to be relayed back.
    Acknowledgement,
}

/// A packet with its state.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, serde::Serialize)]
pub struct PacketRecord {
    /// The packet as committed on its source.
    pub packet: Packet,
    /// Where it is.
    pub state: PacketState,
    /// Source height of the commitment.
    pub committed_at: Height,
    /// Delivery attempts that failed.
    pub failed_attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When the record last changed.
    pub updated_at: Time,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value did not decode.
    #[error("corrupt store entry {key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// The decoding error.
        reason: String,
    },
}

/// The relayer's sled database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    packets: sled::Tree,
    pending: sled::Tree,
    progress: sled::Tree,
    clients: sled::Tree,
}

/// sled's page cache size.
const STORE_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Marks a store whose `pending` index is complete (stores written before
/// the index existed get it rebuilt once, at open).
const PENDING_INDEX_MARK: &[u8] = b"pending-index-v2";

fn packet_key(source: &ChainId, destination: &ChainId, sequence: u64) -> Vec<u8> {
    format!("{source}/{destination}/{sequence:020}").into_bytes()
}

fn decode<T: BorshDeserialize>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    borsh::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).unwrap_or_default()
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        // sled's page cache defaults to 1 GiB; the relayer reads each record
        // a few times in its life, so a small cache costs nothing and keeps
        // the daemon's memory bounded.
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(STORE_CACHE_BYTES)
            .open()?;
        let store = Store {
            packets: db.open_tree("packets")?,
            pending: db.open_tree("pending")?,
            progress: db.open_tree("progress")?,
            clients: db.open_tree("clients")?,
            db,
        };
        let meta = store.db.open_tree("meta")?;
        if meta.get(PENDING_INDEX_MARK)?.is_none() {
            for item in store.packets.iter() {
                let (k, v) = item?;
                let state = decode::<PacketRecord>(&k, &v)?.state;
                if !state.is_final() {
                    store.pending.insert(k, &[state.rank()])?;
                }
            }
            meta.insert(PENDING_INDEX_MARK, &[])?;
            store.db.flush()?;
        }
        Ok(store)
    }

    /// The record of a packet, if seen.
    pub fn packet(
        &self,
        source: &ChainId,
        destination: &ChainId,
        sequence: u64,
    ) -> Result<Option<PacketRecord>, StoreError> {
        let key = packet_key(source, destination, sequence);
        self.packets
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    /// Records a packet seen committed on its source; a packet already
    /// known keeps its state (rescanning events is harmless).
    pub fn record_committed(
        &self,
        packet: Packet,
        committed_at: Height,
        now: Time,
    ) -> Result<bool, StoreError> {
        let key = packet_key(&packet.source, &packet.destination, packet.sequence);
        let record = PacketRecord {
            packet,
            state: PacketState::Committed,
            committed_at,
            failed_attempts: 0,
            last_error: None,
            updated_at: now,
        };
        let inserted = self
            .packets
            .compare_and_swap(&key, None as Option<&[u8]>, Some(encode(&record)))?
            .is_ok();
        if inserted {
            self.pending.insert(key, &[PacketState::Committed.rank()])?;
        }
        Ok(inserted)
    }

    /// Moves a packet to `state`; never backwards (a stale observation of
    /// an earlier state is ignored). Flushed before returning.
    pub fn advance(
        &self,
        source: &ChainId,
        destination: &ChainId,
        sequence: u64,
        state: PacketState,
        now: Time,
    ) -> Result<(), StoreError> {
        self.advance_many(source, destination, [(sequence, state)], now)
    }

    /// [`Store::advance`] for many packets of one path, with one flush.
    pub fn advance_many(
        &self,
        source: &ChainId,
        destination: &ChainId,
        transitions: impl IntoIterator<Item = (u64, PacketState)>,
        now: Time,
    ) -> Result<(), StoreError> {
        let mut changed = false;
        for (sequence, state) in transitions {
            let key = packet_key(source, destination, sequence);
            let Some(mut record) = self
                .packets
                .get(&key)?
                .map(|v| decode::<PacketRecord>(&key, &v))
                .transpose()?
            else {
                continue;
            };
            if state.rank() < record.state.rank() {
                continue;
            }
            record.state = state;
            record.last_error = None;
            record.updated_at = now;
            self.packets.insert(&key, encode(&record))?;
            if record.state.is_final() {
                self.pending.remove(&key)?;
            } else {
                self.pending.insert(&key, &[record.state.rank()])?;
            }
            changed = true;
        }
        if changed {
            self.db.flush()?;
        }
        Ok(())
    }

    /// Notes a failed attempt on a packet.
    pub fn note_failure(
        &self,
        source: &ChainId,
        destination: &ChainId,
        sequence: u64,
        error: &str,
        now: Time,
    ) -> Result<(), StoreError> {
        let key = packet_key(source, destination, sequence);
        if let Some(mut record) = self
            .packets
            .get(&key)?
            .map(|v| decode::<PacketRecord>(&key, &v))
            .transpose()?
        {
            record.failed_attempts = record.failed_attempts.saturating_add(1);
            record.last_error = Some(error.to_owned());
            record.updated_at = now;
            self.packets.insert(&key, encode(&record))?;
        }
        Ok(())
    }

    /// Every packet from `source` to `destination` not yet final, by sequence.
    pub fn pending(
        &self,
        source: &ChainId,
        destination: &ChainId,
    ) -> Result<Vec<PacketRecord>, StoreError> {
        let prefix = format!("{source}/{destination}/");
        let mut out = Vec::new();
        for item in self.pending.scan_prefix(prefix.as_bytes()) {
            let (k, _) = item?;
            let Some(v) = self.packets.get(&k)? else {
                continue;
            };
            let record: PacketRecord = decode(&k, &v)?;
            if !record.state.is_final() {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// The first `limit` packets from `source` to `destination`, by
    /// sequence, in state `waiting` and chosen by `wanted`: a relay pass
    /// takes its work in bounded pieces, whatever the backlog. The index
    /// holds each packet's state, so packets in the other state are skipped
    /// without being read.
    pub fn pending_where(
        &self,
        source: &ChainId,
        destination: &ChainId,
        waiting: Waiting,
        limit: usize,
        wanted: impl Fn(&PacketRecord) -> bool,
    ) -> Result<Vec<PacketRecord>, StoreError> {
        let prefix = format!("{source}/{destination}/");
        let rank = match waiting {
            Waiting::Delivery => PacketState::Committed.rank(),
            Waiting::Acknowledgement => PacketState::Received { height: None }.rank(),
        };
        let mut out = Vec::new();
        for item in self.pending.scan_prefix(prefix.as_bytes()) {
            if out.len() >= limit {
                break;
            }
            let (k, indexed) = item?;
            if indexed.as_ref() != [rank] {
                continue;
            }
            let Some(v) = self.packets.get(&k)? else {
                continue;
            };
            let record: PacketRecord = decode(&k, &v)?;
            if record.state.rank() == rank && wanted(&record) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// The sequences of the packets from `source` to `destination` not yet
    /// final (read from the index alone: cheap enough to poll).
    pub fn pending_sequences(
        &self,
        source: &ChainId,
        destination: &ChainId,
    ) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        let prefix = format!("{source}/{destination}/");
        let mut out = std::collections::BTreeSet::new();
        for item in self.pending.scan_prefix(prefix.as_bytes()) {
            let (k, _) = item?;
            let sequence = std::str::from_utf8(&k[prefix.len()..])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "pending index key without a sequence".into(),
                })?;
            out.insert(sequence);
        }
        Ok(out)
    }

    /// Counts of packets by state (for metrics and `relayer health-check`).
    pub fn counts(&self) -> Result<PacketCounts, StoreError> {
        let mut counts = PacketCounts::default();
        for item in self.packets.iter() {
            let (k, v) = item?;
            match decode::<PacketRecord>(&k, &v)?.state {
                PacketState::Committed => counts.committed += 1,
                PacketState::Received { .. } => counts.received += 1,
                PacketState::Acknowledged => counts.acknowledged += 1,
                PacketState::TimedOut => counts.timed_out += 1,
            }
        }
        Ok(counts)
    }

    /// The height up to which `chain`'s packet events were scanned.
    pub fn scanned(&self, chain: &ChainId) -> Result<u64, StoreError> {
        let key = chain.as_str().as_bytes();
        Ok(self
            .progress
            .get(key)?
            .map(|v| decode::<u64>(key, &v))
            .transpose()?
            .unwrap_or(0))
    }

    /// Records that `chain`'s events were scanned up to `height`; flushed.
    pub fn set_scanned(&self, chain: &ChainId, height: u64) -> Result<(), StoreError> {
        self.progress
            .insert(chain.as_str().as_bytes(), encode(&height))?;
        self.db.flush()?;
        Ok(())
    }

    /// The sequence up to which every packet `source` sent to
    /// `destination` is known to the store (read from events or proven
    /// state); 0 when none is.
    pub fn complete_upto(
        &self,
        source: &ChainId,
        destination: &ChainId,
    ) -> Result<u64, StoreError> {
        let key = format!("{source}/{destination}/complete");
        Ok(self
            .progress
            .get(key.as_bytes())?
            .map(|v| decode::<u64>(key.as_bytes(), &v))
            .transpose()?
            .unwrap_or(0))
    }

    /// Records [`Store::complete_upto`]; flushed.
    pub fn set_complete_upto(
        &self,
        source: &ChainId,
        destination: &ChainId,
        sequence: u64,
    ) -> Result<(), StoreError> {
        let key = format!("{source}/{destination}/complete");
        self.progress.insert(key.as_bytes(), encode(&sequence))?;
        self.db.flush()?;
        Ok(())
    }

    /// The latest verified light block of `chain`, if any.
    pub fn trusted_block(&self, chain: &ChainId) -> Result<Option<LightBlock>, StoreError> {
        let key = chain.as_str().as_bytes();
        self.clients.get(key)?.map(|v| decode(key, &v)).transpose()
    }

    /// Stores the latest verified light block of `chain`.
    pub fn save_trusted_block(
        &self,
        chain: &ChainId,
        block: &LightBlock,
    ) -> Result<(), StoreError> {
        self.clients
            .insert(chain.as_str().as_bytes(), encode(block))?;
        Ok(())
    }

    /// The sled tree of operators' trust anchors.
    const TRUST_ANCHORS_TREE: &'static str = "trust_anchors";

    /// The trust anchor an operator set for `chain` with `relayer chains
    /// trust`, if any.
    pub fn trust_anchor(&self, chain: &ChainId) -> Result<Option<Anchor>, StoreError> {
        let tree = self.db.open_tree(Self::TRUST_ANCHORS_TREE)?;
        let key = chain.as_str().as_bytes();
        tree.get(key)?.map(|v| decode(key, &v)).transpose()
    }

    /// Sets `anchor` as `chain`'s root of trust and forgets the block the
    /// light client trusted so far (verification restarts from the anchor);
    /// flushed before returning.
    pub fn set_trust_anchor(&self, chain: &ChainId, anchor: &Anchor) -> Result<(), StoreError> {
        let tree = self.db.open_tree(Self::TRUST_ANCHORS_TREE)?;
        let key = chain.as_str().as_bytes();
        tree.insert(key, encode(anchor))?;
        self.clients.remove(key)?;
        self.db.flush()?;
        Ok(())
    }

    /// Size of the store on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// How many packets are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PacketCounts {
    /// Waiting for delivery.
    pub committed: u64,
    /// Delivered, acknowledgement not yet relayed back.
    pub received: u64,
    /// Done.
    pub acknowledged: u64,
    /// Timed out.
    pub timed_out: u64,
}

/// The network registry's state (see `crate::registry`), in its own tree.
impl Store {
    /// The sled tree of the registry's state.
    const REGISTRY_TREE: &'static str = "registry";
    /// The key of the registry's state in its tree.
    const REGISTRY_STATE_KEY: &'static [u8] = b"state";

    /// Replaces the registry's state with `bytes`; flushed before returning.
    pub fn save_registry(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let tree = self.db.open_tree(Self::REGISTRY_TREE)?;
        tree.insert(Self::REGISTRY_STATE_KEY, bytes)?;
        tree.flush()?;
        Ok(())
    }

    /// The registry's state last saved, if any.
    pub fn load_registry(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let tree = self.db.open_tree(Self::REGISTRY_TREE)?;
        Ok(tree.get(Self::REGISTRY_STATE_KEY)?.map(|v| v.to_vec()))
    }
}

/// A peer of the mesh banned for misbehaviour, as the store keeps it so the
/// ban outlives a restart (until an operator lifts it).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, serde::Serialize)]
pub struct PeerBan {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// The strikes that got it banned.
    pub strikes: u32,
    /// When, in seconds since the Unix epoch.
    pub banned_at: u64,
}

/// Peers banned from the mesh, by peer id.
impl Store {
    /// The sled tree of the bans.
    const BANS_TREE: &'static str = "mesh-bans";

    /// Records a ban (replacing an earlier one of the same peer), flushed.
    pub fn record_ban(&self, ban: &PeerBan) -> Result<(), StoreError> {
        let tree = self.db.open_tree(Self::BANS_TREE)?;
        tree.insert(ban.peer_id.as_bytes(), encode(ban))?;
        tree.flush()?;
        Ok(())
    }

    /// Lifts the ban of `peer_id`; true if it was banned.
    pub fn remove_ban(&self, peer_id: &str) -> Result<bool, StoreError> {
        let tree = self.db.open_tree(Self::BANS_TREE)?;
        let removed = tree.remove(peer_id.as_bytes())?.is_some();
        tree.flush()?;
        Ok(removed)
    }

    /// Every ban, by peer id.
    pub fn bans(&self) -> Result<Vec<PeerBan>, StoreError> {
        let tree = self.db.open_tree(Self::BANS_TREE)?;
        tree.iter()
            .map(|item| {
                let (key, value) = item?;
                decode(&key, &value)
            })
            .collect()
    }
}

/// The audit log (see `crate::audit`): its entries under their big-endian
/// sequence (so iteration is in order), its head and its checkpoints.
/// Appends are append-only (an entry is written once, as the next after the
/// recorded head, entry and head in one transaction) and flushed.
impl Store {
    /// The sled tree of the audit entries, keyed by big-endian sequence.
    const AUDIT_TREE: &'static str = "audit";
    /// The sled tree of the audit log's head.
    const AUDIT_META_TREE: &'static str = "audit-meta";
    /// The key of the head in [`Self::AUDIT_META_TREE`].
    const AUDIT_HEAD_KEY: &'static [u8] = b"head";
    /// The sled tree of the audit checkpoints, keyed by big-endian `upto`.
    const AUDIT_CHECKPOINTS_TREE: &'static str = "audit-checkpoints";
    /// The sled tree of the events logged by the supervision node (marker
    /// -> big-endian sequence of their entry).
    const AUDIT_SEEN_TREE: &'static str = "audit-seen";
    /// The sled tree of the supervision node's own state (the metadata of
    /// packets it saw sent, its anchoring progress).
    const SUPERVISOR_TREE: &'static str = "supervisor";

    /// A value of the supervision node's own state.
    pub fn supervisor_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tree = self.db.open_tree(Self::SUPERVISOR_TREE)?;
        Ok(tree.get(key)?.map(|v| v.to_vec()))
    }

    /// Sets a value of the supervision node's own state, flushed.
    pub fn supervisor_put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let tree = self.db.open_tree(Self::SUPERVISOR_TREE)?;
        tree.insert(key, value)?;
        tree.flush()?;
        Ok(())
    }

    fn audit_key_bounds(
        range: impl std::ops::RangeBounds<u64>,
    ) -> (std::ops::Bound<[u8; 8]>, std::ops::Bound<[u8; 8]>) {
        use std::ops::Bound;
        let map = |b: Bound<&u64>| match b {
            Bound::Included(s) => Bound::Included(s.to_be_bytes()),
            Bound::Excluded(s) => Bound::Excluded(s.to_be_bytes()),
            Bound::Unbounded => Bound::Unbounded,
        };
        (map(range.start_bound()), map(range.end_bound()))
    }

    fn audit_key(key: &[u8]) -> Result<u64, StoreError> {
        <[u8; 8]>::try_from(key)
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt {
                key: format!("audit/{}", hex::encode(key)),
                reason: "an audit key is an 8-byte big-endian sequence".into(),
            })
    }

    /// Appends `entry` to the audit log, flushed before returning. Refused
    /// unless it is the next entry: its sequence follows the recorded head
    /// and its `prev_hash` is the head's hash (zero for entry 0).
    pub fn append_audit(&self, entry: &crate::audit::AuditEntry) -> Result<(), StoreError> {
        self.append_audit_marked(entry, None)
    }

    /// Whether an event was logged under `marker` by
    /// [`Store::append_audit_marked`].
    pub fn audit_marked(&self, marker: &[u8]) -> Result<bool, StoreError> {
        let seen = self.db.open_tree(Self::AUDIT_SEEN_TREE)?;
        Ok(seen.contains_key(marker)?)
    }

    /// [`Store::append_audit`], and (when given) records `marker` — the
    /// identity of the event the entry is about — in the same transaction,
    /// so that a restarted supervision node neither loses nor duplicates
    /// an entry. Refused if `marker` is already recorded.
    pub fn append_audit_marked(
        &self,
        entry: &crate::audit::AuditEntry,
        marker: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        use sled::Transactional;
        use sled::transaction::{ConflictableTransactionError, TransactionError};

        let entries = self.db.open_tree(Self::AUDIT_TREE)?;
        let meta = self.db.open_tree(Self::AUDIT_META_TREE)?;
        let seen = self.db.open_tree(Self::AUDIT_SEEN_TREE)?;
        let key = entry.sequence.to_be_bytes();
        let head = encode(&crate::audit::AuditHead {
            sequence: entry.sequence,
            hash: entry.hash(),
        });
        let bytes = entry.to_bytes();
        let refuse = |reason: String| StoreError::Corrupt {
            key: format!("audit/{}", entry.sequence),
            reason,
        };
        let result = (&entries, &meta, &seen).transaction(|(entries, meta, seen)| {
            if let Some(marker) = marker
                && seen.get(marker)?.is_some()
            {
                return Err(ConflictableTransactionError::Abort(format!(
                    "append refused: event {} is already logged",
                    String::from_utf8_lossy(marker)
                )));
            }
            let recorded = match meta.get(Self::AUDIT_HEAD_KEY)? {
                Some(v) => Some(
                    borsh::from_slice::<crate::audit::AuditHead>(&v)
                        .map_err(|e| ConflictableTransactionError::Abort(e.to_string()))?,
                ),
                None => None,
            };
            let (next, prev) =
                recorded.map_or((0, protocol::Hash::ZERO), |h| (h.sequence + 1, h.hash));
            if entry.sequence != next || entry.prev_hash != prev {
                return Err(ConflictableTransactionError::Abort(format!(
                    "append refused: the log is append-only and its next entry is {next} \
                     linked to {prev}, not entry {} linked to {}",
                    entry.sequence, entry.prev_hash
                )));
            }
            if entries.get(key)?.is_some() {
                return Err(ConflictableTransactionError::Abort(format!(
                    "append refused: entry {} is already stored",
                    entry.sequence
                )));
            }
            entries.insert(&key, bytes.as_slice())?;
            meta.insert(Self::AUDIT_HEAD_KEY, head.as_slice())?;
            if let Some(marker) = marker {
                seen.insert(marker, &key)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(reason)) => return Err(refuse(reason)),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        }
        entries.flush()?;
        Ok(())
    }

    /// The audit entries whose sequence is in `range`, in order.
    pub fn audit_entries(
        &self,
        range: impl std::ops::RangeBounds<u64>,
    ) -> Result<Vec<crate::audit::AuditEntry>, StoreError> {
        self.audit_raw(range)?
            .into_iter()
            .map(|(seq, bytes)| {
                crate::audit::AuditEntry::from_bytes(&bytes).map_err(|reason| StoreError::Corrupt {
                    key: format!("audit/{seq}"),
                    reason,
                })
            })
            .collect()
    }

    /// The stored bytes of the audit entries whose sequence is in `range`,
    /// in order, undecoded (for a verifier that reports what does not
    /// decode as tampering).
    pub fn audit_raw(
        &self,
        range: impl std::ops::RangeBounds<u64>,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let entries = self.db.open_tree(Self::AUDIT_TREE)?;
        entries
            .range(Self::audit_key_bounds(range))
            .map(|item| {
                let (k, v) = item?;
                Ok((Self::audit_key(&k)?, v.to_vec()))
            })
            .collect()
    }

    /// The audit log's last entry as recorded at append, if any.
    pub fn audit_head(&self) -> Result<Option<crate::audit::AuditHead>, StoreError> {
        let meta = self.db.open_tree(Self::AUDIT_META_TREE)?;
        meta.get(Self::AUDIT_HEAD_KEY)?
            .map(|v| decode(b"audit-meta/head", &v))
            .transpose()
    }

    /// Stores a signed audit checkpoint (one per `upto`), flushed.
    pub fn save_checkpoint(
        &self,
        checkpoint: &crate::audit::SignedCheckpoint,
    ) -> Result<(), StoreError> {
        let tree = self.db.open_tree(Self::AUDIT_CHECKPOINTS_TREE)?;
        tree.insert(checkpoint.checkpoint.upto.to_be_bytes(), encode(checkpoint))?;
        tree.flush()?;
        Ok(())
    }

    /// The audit checkpoints, oldest (lowest `upto`) first.
    pub fn checkpoints(&self) -> Result<Vec<crate::audit::SignedCheckpoint>, StoreError> {
        let tree = self.db.open_tree(Self::AUDIT_CHECKPOINTS_TREE)?;
        tree.iter()
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sequence: u64) -> Packet {
        let mut packet: Packet =
            serde_json::from_str(include_str!("../../protocol/tests/data/packet.json"))
                .expect("sample packet");
        packet.sequence = sequence;
        packet
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("relayer-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn sequences(records: &[PacketRecord]) -> Vec<u64> {
        records.iter().map(|r| r.packet.sequence).collect()
    }

    #[test]
    fn pending_lists_only_unfinished_packets_and_survives_reopening() {
        let dir = temp_dir("pending");
        let (src, dst) = (sample(1).source, sample(1).destination);
        {
            let store = Store::open(&dir).unwrap();
            for s in 1..=5 {
                assert!(
                    store
                        .record_committed(sample(s), Height::GENESIS, Time::from_unix_nanos(0))
                        .unwrap()
                );
            }
            // A packet seen twice keeps its first record.
            assert!(
                !store
                    .record_committed(sample(3), Height::GENESIS, Time::from_unix_nanos(0))
                    .unwrap()
            );
            store
                .advance_many(
                    &src,
                    &dst,
                    [
                        (1, PacketState::Acknowledged),
                        (2, PacketState::Received { height: None }),
                        (4, PacketState::TimedOut),
                    ],
                    Time::from_unix_nanos(1),
                )
                .unwrap();
            // Never backwards: a stale "received" after the acknowledgement.
            store
                .advance(
                    &src,
                    &dst,
                    1,
                    PacketState::Received { height: None },
                    Time::from_unix_nanos(2),
                )
                .unwrap();
            assert_eq!(
                sequences(&store.pending(&src, &dst).unwrap()),
                vec![2, 3, 5]
            );
            assert_eq!(
                store
                    .pending_sequences(&src, &dst)
                    .unwrap()
                    .into_iter()
                    .collect::<Vec<_>>(),
                vec![2, 3, 5]
            );
            assert_eq!(
                store.packet(&src, &dst, 1).unwrap().unwrap().state,
                PacketState::Acknowledged
            );
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(
            sequences(&store.pending(&src, &dst).unwrap()),
            vec![2, 3, 5]
        );
        let counts = store.counts().unwrap();
        assert_eq!(
            (
                counts.committed,
                counts.received,
                counts.acknowledged,
                counts.timed_out
            ),
            (2, 1, 1, 1)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_store_without_the_pending_index_gets_it_rebuilt() {
        let dir = temp_dir("rebuild");
        let (src, dst) = (sample(1).source, sample(1).destination);
        {
            let store = Store::open(&dir).unwrap();
            for s in 1..=3 {
                store
                    .record_committed(sample(s), Height::GENESIS, Time::from_unix_nanos(0))
                    .unwrap();
            }
            store
                .advance(
                    &src,
                    &dst,
                    2,
                    PacketState::Acknowledged,
                    Time::from_unix_nanos(1),
                )
                .unwrap();
            // As written by a relayer from before the index.
            store.pending.clear().unwrap();
            store.db.open_tree("meta").unwrap().clear().unwrap();
            store.db.flush().unwrap();
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(sequences(&store.pending(&src, &dst).unwrap()), vec![1, 3]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
