//! Durable chain storage in sled: state, blocks, and the chain tip.
//!
//! One sled transaction per block writes the block's state changes, the
//! block itself and the new tip, then the database is flushed: after a
//! kill -9 the node finds either the whole block or none of it.

use std::path::Path;

use borsh::{BorshDeserialize, BorshSerialize};
use protocol::{Canonical, Height, LightBlock, SignedTransaction};
use sled::Transactional;

use crate::app::TxResult;

/// A committed block as stored: the light block (header, commit, validator
/// sets), its transactions and their results.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct StoredBlock {
    /// Header, commit and validator sets.
    pub light_block: LightBlock,
    /// The transactions, in order.
    pub transactions: Vec<SignedTransaction>,
    /// Their results, as JSON (results carry free-form events).
    pub results_json: String,
}

impl StoredBlock {
    /// The transaction results (one per transaction, in order).
    pub fn results(&self) -> Vec<TxResult> {
        let mut all: Vec<TxResult> = serde_json::from_str(&self.results_json).unwrap_or_default();
        all.truncate(self.transactions.len());
        all
    }

    /// The events of the block's end (`App::end_block`), stored as one more
    /// result after the transactions' results.
    pub fn end_block_events(&self) -> Vec<crate::app::Event> {
        let all: Vec<TxResult> = serde_json::from_str(&self.results_json).unwrap_or_default();
        all.into_iter()
            .skip(self.transactions.len())
            .flat_map(|r| r.events)
            .collect()
    }
}

/// A state key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value did not decode: the store is corrupt.
    #[error("corrupt store: {0}")]
    Corrupt(String),
}

/// A read-only handle on the committed blocks, usable without the chain:
/// a committed block never changes, so a reader needs no lock.
#[derive(Clone)]
pub struct BlockReader {
    blocks: sled::Tree,
}

impl BlockReader {
    /// The block at `height`, if committed.
    pub fn block(&self, height: Height) -> Result<Option<StoredBlock>, StoreError> {
        read_block(&self.blocks, height)
    }
}

fn read_block(blocks: &sled::Tree, height: Height) -> Result<Option<StoredBlock>, StoreError> {
    match blocks.get(height.value().to_be_bytes())? {
        None => Ok(None),
        Some(v) => borsh::from_slice(&v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("block {height}: {e}"))),
    }
}

/// The node's sled database.
pub struct Store {
    db: sled::Db,
    state: sled::Tree,
    blocks: sled::Tree,
    meta: sled::Tree,
}

const TIP: &[u8] = b"tip";

impl Store {
    /// Opens (or creates) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::open(dir)?;
        Ok(Store {
            state: db.open_tree("state")?,
            blocks: db.open_tree("blocks")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    /// The height of the last committed block, if any.
    pub fn tip(&self) -> Result<Option<Height>, StoreError> {
        match self.meta.get(TIP)? {
            None => Ok(None),
            Some(v) => {
                let bytes: [u8; 8] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("tip is not 8 bytes".into()))?;
                Height::new(u64::from_be_bytes(bytes))
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            }
        }
    }

    /// The block at `height`, if committed.
    pub fn block(&self, height: Height) -> Result<Option<StoredBlock>, StoreError> {
        read_block(&self.blocks, height)
    }

    /// A reader of the committed blocks that does not borrow the store.
    pub fn block_reader(&self) -> BlockReader {
        BlockReader {
            blocks: self.blocks.clone(),
        }
    }

    /// Every state entry, in key order (to rebuild the in-memory state).
    pub fn state_entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.state
            .iter()
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// Commits a block atomically with its state changes (`None` deletes)
    /// and makes it the tip, then flushes to disk.
    pub fn commit_block(
        &self,
        block: &StoredBlock,
        changes: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        let height = block.light_block.height().value().to_be_bytes();
        let encoded = borsh::to_vec(block).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        (&self.state, &self.blocks, &self.meta)
            .transaction(|(state, blocks, meta)| {
                for (k, v) in changes {
                    match v {
                        Some(v) => {
                            state.insert(k.as_slice(), v.as_slice())?;
                        }
                        None => {
                            state.remove(k.as_slice())?;
                        }
                    }
                }
                blocks.insert(&height, encoded.as_slice())?;
                meta.insert(TIP, &height)?;
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| match e {
                sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
                sled::transaction::TransactionError::Abort(()) => {
                    StoreError::Corrupt("aborted".into())
                }
            })?;
        self.db.flush()?;
        Ok(())
    }

    /// Size of the database on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// Decodes a canonical value stored in state.
pub fn decode<T: Canonical>(bytes: &[u8]) -> Result<T, StoreError> {
    T::from_canonical_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
