//! The chain: executes transactions into blocks, signs them with the
//! committee's keys, commits them to the store.
//!
//! [`Chain`] is synchronous and owns all state; the async server
//! ([`crate::rpc`]) wraps it in a mutex and drives it from a block timer.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ed25519_dalek::SigningKey;
use light_clients::credit_chain::TrustThreshold;
use light_clients::credit_chain::signing::sign_commit;
use light_clients::merkle::{StateProof, StateTree};
use protocol::{
    Hash, Header, Height, LightBlock, PublicKey, SignedHeader, SignedTransaction, Time,
    ValidatorSet,
};

use crate::app::{App, BlockContext, KvStore, KvStoreMut, SignatureCheck, TxError, TxResult};
use crate::genesis::{Genesis, data_dir, keys_dir};
use crate::keys::KeyFile;
use crate::store::{Store, StoredBlock};

/// A state map that records every write, so a block's changes can be
/// committed to the store and the state tree together.
struct RecordingState<'a> {
    state: &'a mut BTreeMap<Vec<u8>, Vec<u8>>,
    changes: &'a mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl KvStore for RecordingState<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(key).cloned()
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.state.scan_prefix(prefix)
    }

    fn scan_range(&self, from: &[u8], to: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.state.scan_range(from, to)
    }
}

impl KvStoreMut for RecordingState<'_> {
    fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key.clone(), Some(value.clone()));
        self.state.insert(key, value);
    }

    fn delete(&mut self, key: &[u8]) {
        self.changes.insert(key.to_vec(), None);
        self.state.remove(key);
    }
}

/// A running chain: state, committee keys, tip.
pub struct Chain {
    genesis: Genesis,
    store: Store,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    tree: StateTree,
    keys: HashMap<PublicKey, SigningKey>,
    tip: Option<StoredBlock>,
    /// Imported entries not yet committed (only before block 1).
    pending_import: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Hashes (signature included) of transactions whose signature
    /// [`Chain::check_tx`] verified and no block has executed yet: their
    /// execution skips verifying it a second time. Bounded.
    verified: std::sync::Mutex<std::collections::HashSet<Hash>>,
}

/// Most admitted-and-verified transaction hashes remembered.
const MAX_VERIFIED: usize = 100_000;

/// How long each phase of producing a block took.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockTimings {
    /// Executing the transactions (signature checks included) and end-block.
    pub execute: std::time::Duration,
    /// Updating the state tree to the new root.
    pub state_root: std::time::Duration,
    /// Signing the commit.
    pub sign: std::time::Duration,
    /// Writing the block and its state changes to sled, flushed.
    pub store: std::time::Duration,
}

/// The outcome of producing one block.
#[derive(Debug)]
pub struct ProducedBlock {
    /// The block.
    pub block: StoredBlock,
    /// Where the time went.
    pub timings: BlockTimings,
    /// Per transaction, its result.
    pub results: Vec<TxResult>,
}

impl Chain {
    /// Opens the chain in `home`: genesis, validator keys, store. A chain
    /// with committed blocks resumes from its tip; its state root is
    /// checked against the tip's header.
    pub fn open(home: &Path) -> anyhow::Result<Chain> {
        let genesis = Genesis::read(home)?;
        let mut keys = HashMap::new();
        let dir = keys_dir(home).join("validators");
        for entry in std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let file = KeyFile::read(&path)?;
                keys.insert(file.public_key, file.signing_key()?);
            }
        }
        let store = Store::open(&data_dir(home))?;
        let state: BTreeMap<Vec<u8>, Vec<u8>> = store.state_entries()?.into_iter().collect();
        let tree = StateTree::from_entries(state.iter().map(|(k, v)| (k.clone(), v.clone())));
        let tip = match store.tip()? {
            Some(h) => Some(
                store
                    .block(h)?
                    .ok_or_else(|| anyhow::anyhow!("store names tip {h} but has no such block"))?,
            ),
            None => None,
        };
        if let Some(tip) = &tip {
            let header = tip.light_block.header();
            if header.state_root != tree.root() {
                anyhow::bail!(
                    "state root {} does not match the tip header's {} at height {}: the store is corrupt",
                    tree.root(),
                    header.state_root,
                    header.height
                );
            }
            if header.chain_id != genesis.chain_id {
                anyhow::bail!(
                    "store holds chain {}, genesis says {}",
                    header.chain_id,
                    genesis.chain_id
                );
            }
        }
        Ok(Chain {
            genesis,
            store,
            state,
            tree,
            keys,
            tip,
            pending_import: Vec::new(),
            verified: std::sync::Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The last committed block.
    pub fn tip(&self) -> Option<&StoredBlock> {
        self.tip.as_ref()
    }

    /// The height the next block will have.
    pub fn next_height(&self) -> Height {
        self.tip
            .as_ref()
            .map_or(Height::GENESIS, |b| b.light_block.height().increment())
    }

    /// The validator set that signs the next block.
    pub fn next_validators(&self) -> &ValidatorSet {
        self.tip
            .as_ref()
            .map_or(&self.genesis.validators, |b| &b.light_block.next_validators)
    }

    /// The committed block at `height`.
    pub fn block(&self, height: Height) -> anyhow::Result<Option<StoredBlock>> {
        if let Some(tip) = &self.tip
            && tip.light_block.height() == height
        {
            return Ok(Some(tip.clone()));
        }
        Ok(self.store.block(height)?)
    }

    /// A reader of the committed blocks that needs no access to the chain
    /// (so scans of many blocks do not hold it).
    pub fn block_reader(&self) -> crate::store::BlockReader {
        self.store.block_reader()
    }

    /// The committed state (after the tip).
    pub fn state(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.state
    }

    /// The value of `key` at the tip and its proof against the tip's state root.
    pub fn prove(&self, key: &[u8]) -> (Option<Vec<u8>>, StateProof) {
        (self.state.get(key).cloned(), self.tree.prove(key))
    }

    /// Size of the store on disk.
    pub fn store_size(&self) -> u64 {
        self.store.size_on_disk()
    }

    /// Imports raw state entries into a chain that has no block yet (a
    /// state snapshot, or a benchmark's preloaded records). They are
    /// committed with block 1; refused once blocks exist, since the state
    /// would no longer match a signed header.
    pub fn import_entries(
        &mut self,
        entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> anyhow::Result<()> {
        if self.tip.is_some() {
            anyhow::bail!("cannot import state into a chain that has committed blocks");
        }
        for (k, v) in entries {
            self.pending_import.push((k.clone(), Some(v.clone())));
            self.state.insert(k, v);
        }
        self.tree = StateTree::from_entries(self.state.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }

    /// Admission check for the mempool, against the committed state.
    pub fn check_tx(&self, tx: &SignedTransaction, now: Time) -> Result<(), TxError> {
        let ctx = self.context(self.next_height(), self.block_time_after(now));
        App::check_tx(&self.state, &ctx, tx)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
            verified.insert(tx.hash());
        }
        Ok(())
    }

    fn context(&self, height: Height, time: Time) -> BlockContext {
        BlockContext {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time,
        }
    }

    /// A block time not before `now` and strictly after the previous block.
    fn block_time_after(&self, now: Time) -> Time {
        let floor = self
            .tip
            .as_ref()
            .map_or(self.genesis.genesis_time, |b| b.light_block.header().time);
        let min = Time::from_unix_nanos(floor.unix_nanos().saturating_add(1));
        now.max(min)
    }

    /// Executes `txs` into the next block at time `now`, signs it with the
    /// committee's keys and commits it. On a storage error the in-memory
    /// state may be ahead of disk: the caller must stop the node (a restart
    /// resumes from disk).
    pub fn produce_block(
        &mut self,
        txs: Vec<SignedTransaction>,
        now: Time,
    ) -> anyhow::Result<ProducedBlock> {
        let height = self.next_height();
        let time = self.block_time_after(now);
        let ctx = self.context(height, time);
        let validators = self.next_validators().clone();
        let mut changes = BTreeMap::new();
        let mut recording = RecordingState {
            state: &mut self.state,
            changes: &mut changes,
        };
        if self.tip.is_none() {
            App::init_genesis(&mut recording, &self.genesis.app_state)
                .map_err(|e| anyhow::anyhow!("genesis app state: {e}"))?;
        }
        let started = std::time::Instant::now();
        let mut timings = BlockTimings::default();
        let mut verified = self
            .verified
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        let results: Vec<TxResult> = txs
            .iter()
            .map(|tx| {
                let check = if verified.remove(&tx.hash()) {
                    SignatureCheck::AlreadyVerified
                } else {
                    SignatureCheck::Verify
                };
                App::deliver_checked_tx(&mut recording, &ctx, tx, check)
            })
            .collect();
        // Admitted but not in this block (the mempool holds more than a
        // block): still verified.
        if let Ok(mut v) = self.verified.lock() {
            v.extend(verified);
        }
        let end = App::end_block(&mut recording, &ctx);
        let next_validators = end.next_validators.unwrap_or_else(|| validators.clone());
        // End-block events (asynchronous acknowledgements) are stored as
        // one more result after the transactions' (see
        // `StoredBlock::end_block_events`).
        let mut stored_results = results.clone();
        if !end.events.is_empty() {
            stored_results.push(TxResult {
                code: 0,
                codespace: String::new(),
                message: String::new(),
                events: end.events,
            });
        }
        let mut changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = changes.into_iter().collect();
        timings.execute = started.elapsed();
        let phase = std::time::Instant::now();
        self.tree.apply(changes.iter().cloned());
        timings.state_root = phase.elapsed();
        if !self.pending_import.is_empty() {
            // Imported entries are already in the tree; they reach disk with
            // block 1 (block changes win over imported values).
            let mut all = std::mem::take(&mut self.pending_import);
            all.append(&mut changes);
            changes = all;
        }
        let tx_hashes: Vec<Hash> = txs.iter().map(SignedTransaction::hash).collect();
        let tx_bytes: Vec<&[u8]> = tx_hashes.iter().map(|h| h.as_bytes().as_slice()).collect();
        let header = Header {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time,
            last_header_hash: self
                .tip
                .as_ref()
                .map_or(Hash::ZERO, |b| b.light_block.header().hash()),
            state_root: self.tree.root(),
            transactions_root: Hash::tagged(b"credit-chain/transactions", &tx_bytes),
            validators_hash: validators.hash(),
            next_validators_hash: next_validators.hash(),
            proposer: validators.validators()[(height.value() as usize) % validators.len()].pub_key,
        };
        let phase = std::time::Instant::now();
        let commit = sign_commit(&header, &validators, |k| self.keys.get(k));
        timings.sign = phase.elapsed();
        let signed: u64 = commit
            .signatures
            .iter()
            .filter_map(|s| validators.get(&s.validator))
            .map(|v| v.power)
            .sum();
        if !TrustThreshold::TWO_THIRDS.is_exceeded_by(signed, validators.total_power()) {
            anyhow::bail!(
                "cannot commit block {height}: this node holds keys for {signed} of {} voting power, more than 2/3 needed",
                validators.total_power()
            );
        }
        let block = StoredBlock {
            light_block: LightBlock {
                signed_header: SignedHeader { header, commit },
                validators,
                next_validators,
            },
            transactions: txs,
            results_json: serde_json::to_string(&stored_results)?,
        };
        let phase = std::time::Instant::now();
        self.store.commit_block(&block, &changes)?;
        timings.store = phase.elapsed();
        self.tip = Some(block.clone());
        Ok(ProducedBlock {
            block,
            timings,
            results,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use protocol::tx::{Account, TxBody};
    use protocol::{Currency, Money, Signature};

    use super::*;
    use crate::app::auth::sign_transaction;
    use crate::genesis::{InitOptions, init};
    use crate::keys::KeyFile;

    fn chain(name: &str) -> (Chain, ed25519_dalek::SigningKey, std::path::PathBuf) {
        let home =
            std::env::temp_dir().join(format!("credit-chain-node-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        init(
            &home,
            &InitOptions {
                chain_id: "node-test".parse().unwrap(),
                validators: 4,
                block_time: Duration::from_secs(1),
                genesis_time: Time::from_unix_nanos(1_700_000_000_000_000_000),
            },
        )
        .unwrap();
        let governance = KeyFile::read(&home.join("keys/governance.json"))
            .unwrap()
            .signing_key()
            .unwrap();
        (Chain::open(&home).unwrap(), governance, home)
    }

    fn mint(key: &ed25519_dalek::SigningKey, nonce: u64) -> SignedTransaction {
        sign_transaction(
            key,
            "node-test".parse().unwrap(),
            nonce,
            TxBody::Mint {
                to: Account::Local("bank-a".parse().unwrap()),
                amount: Money {
                    minor_units: 100,
                    currency: Currency::CNY,
                },
            },
        )
    }

    #[test]
    fn a_signature_verified_at_admission_is_not_verified_again_but_a_forged_one_never_passes() {
        let (mut chain, governance, home) = chain("signatures");
        let now = Time::from_unix_nanos(1_700_000_001_000_000_000);
        // Block 1 applies the genesis state (the governance key among it).
        chain.produce_block(Vec::new(), now).unwrap();
        let admitted = mint(&governance, 1);
        chain.check_tx(&admitted, now).unwrap();
        assert!(chain.verified.lock().unwrap().contains(&admitted.hash()));
        // A forged signature is refused at admission, and a block that
        // carries it anyway (never admitted here) verifies and refuses it.
        let mut forged = mint(&governance, 2);
        forged.signature = Signature([7; 64]);
        assert!(chain.check_tx(&forged, now).is_err());
        let produced = chain.produce_block(vec![admitted, forged], now).unwrap();
        assert!(produced.results[0].is_ok(), "{:?}", produced.results[0]);
        assert!(!produced.results[1].is_ok());
        assert!(
            produced.results[1].message.contains("signature"),
            "{}",
            produced.results[1].message
        );
        assert!(chain.verified.lock().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&home);
    }
}
