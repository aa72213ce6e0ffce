//! An in-memory credit chain for the app tests: a BTreeMap state, blocks
//! whose headers carry the real state root (StateTree over the map) and are
//! signed by a real committee, and proofs from the state at any height.

#![allow(dead_code)]

use std::collections::BTreeMap;

use credit_chain::app::auth::{public_key, sign_consent, sign_transaction};
use credit_chain::app::{
    App, BlockContext, GenesisBalance, GenesisEnterprise, GenesisFee, GenesisInstitution,
    GenesisState, TxResult,
};
use ed25519_dalek::SigningKey;
use light_clients::credit_chain::signing::{Committee, TestChain};
use light_clients::merkle::StateTree;
use protocol::sealed::{DecryptionKey, PendingQuery, SaltedRecord, seal_answer};
use protocol::tx::{Account, ConsentGrant, Role, SignedTransaction, TxBody};
use protocol::{
    ChainId, CreditRecord, Currency, EnterpriseId, Hash, Height, InstitutionId, LightBlock, Money,
    PublicKey, RecordKind, RecordStatus, Time, ValidatorSet,
};

pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// A deterministic key for a name.
pub fn key(name: &str) -> SigningKey {
    SigningKey::from_bytes(Hash::tagged(b"app-test-key", &[name.as_bytes()]).as_bytes())
}

/// A deterministic X25519 decryption key for a name (a requester's).
pub fn decryption_key(name: &str) -> DecryptionKey {
    DecryptionKey::from_bytes(*Hash::tagged(b"app-test-x25519", &[name.as_bytes()]).as_bytes())
}

/// The `register_encryption_key` body of `name`'s test key.
pub fn register_key(name: &str) -> TxBody {
    TxBody::RegisterEncryptionKey {
        key: decryption_key(name).public(),
    }
}

pub fn pk(name: &str) -> PublicKey {
    public_key(&key(name))
}

pub fn id(s: &str) -> InstitutionId {
    s.parse().unwrap()
}

pub fn chain(s: &str) -> ChainId {
    s.parse().unwrap()
}

pub fn cny(units: u64) -> Money {
    Money {
        minor_units: units,
        currency: Currency::CNY,
    }
}

/// The enterprise of the tests (a valid USCC).
pub fn enterprise() -> EnterpriseId {
    "91350100M000100Y43".parse().unwrap()
}

/// Another enterprise.
pub fn other_enterprise() -> EnterpriseId {
    "91110000600037341L".parse().unwrap()
}

/// Names: "gov" (governance), institutions by id, "ent" (the enterprise),
/// "ent2" (the other enterprise).
pub fn institution(name: &str, roles: &[Role]) -> GenesisInstitution {
    GenesisInstitution {
        id: id(name),
        name: format!("{name} Ltd."),
        roles: roles.to_vec(),
        key: pk(name),
    }
}

/// A genesis with a governance key and the given institutions, both
/// enterprises registered.
pub fn genesis(institutions: Vec<GenesisInstitution>) -> GenesisState {
    GenesisState {
        governance_keys: vec![pk("gov")],
        institutions,
        enterprises: vec![
            GenesisEnterprise {
                enterprise: enterprise(),
                key: pk("ent"),
            },
            GenesisEnterprise {
                enterprise: other_enterprise(),
                key: pk("ent2"),
            },
        ],
        ..GenesisState::default()
    }
}

pub fn balance(account: &str, amount: u64) -> GenesisBalance {
    GenesisBalance {
        account: account.parse().unwrap(),
        amount,
    }
}

pub fn fee(provider: &str, fee: u64) -> GenesisFee {
    GenesisFee {
        provider: id(provider),
        fee,
    }
}

/// Two chains named `a` and `b`, one block each, each with an on-chain
/// client of the other created by its `relayer-a` / `relayer-b`.
pub fn linked(a: (&str, &GenesisState), b: (&str, &GenesisState)) -> (Chain, Chain) {
    let mut ca = Chain::new(a.0, a.1);
    let mut cb = Chain::new(b.0, b.1);
    ca.empty_blocks(1);
    cb.empty_blocks(1);
    let (a_anchor, b_anchor) = (ca.latest(), cb.latest());
    ca.ok(
        "relayer-a",
        TxBody::CreateClient {
            anchor: b_anchor,
            params: protocol::tx::LightClientParams::default(),
        },
    );
    cb.ok(
        "relayer-b",
        TxBody::CreateClient {
            anchor: a_anchor,
            params: protocol::tx::LightClientParams::default(),
        },
    );
    (ca, cb)
}

pub struct Chain {
    pub id: ChainId,
    pub state: State,
    producer: TestChain,
    committees: Vec<Committee>,
    /// Light block and state after each committed height.
    pub blocks: BTreeMap<Height, (LightBlock, State)>,
}

impl Chain {
    pub fn new(name: &str, genesis: &GenesisState) -> Chain {
        let mut state = State::new();
        App::init_genesis(&mut state, genesis).unwrap();
        Chain {
            id: chain(name),
            state,
            producer: TestChain::new(name, 4),
            committees: Vec::new(),
            blocks: BTreeMap::new(),
        }
    }

    /// The context of the next block.
    pub fn ctx(&self) -> BlockContext {
        let h = self.producer.next_header();
        BlockContext {
            chain_id: self.id.clone(),
            height: h.height,
            time: h.time,
        }
    }

    pub fn now(&self) -> Time {
        self.ctx().time
    }

    /// Signs `body` from `signer` with its next nonce (as of the current
    /// state; `extra` more for transactions queued in the same block).
    pub fn tx_n(&self, signer: &str, extra: u64, body: TxBody) -> SignedTransaction {
        let nonce = App::next_nonce(&self.state, &pk(signer)).unwrap() + extra;
        sign_transaction(&key(signer), self.id.clone(), nonce, body)
    }

    pub fn tx(&self, signer: &str, body: TxBody) -> SignedTransaction {
        self.tx_n(signer, 0, body)
    }

    /// A committee the chain may switch to by governance.
    pub fn expect_committee(&mut self, committee: Committee) {
        self.committees.push(committee);
    }

    /// Executes a block of `txs` and commits its header; returns the
    /// results and the end-block outcome.
    pub fn block_with_end(
        &mut self,
        txs: &[SignedTransaction],
    ) -> (Vec<TxResult>, credit_chain::app::EndBlock) {
        let mut header = self.producer.next_header();
        let ctx = self.ctx();
        let results = txs
            .iter()
            .map(|tx| App::deliver_tx(&mut self.state, &ctx, tx))
            .collect();
        let end = App::end_block(&mut self.state, &ctx);
        if let Some(set) = &end.next_validators {
            let committee = self
                .committees
                .iter()
                .find(|c| c.validator_set() == set)
                .expect("a committee for the new set")
                .clone();
            self.producer.rotate_to(committee);
            header.next_validators_hash = set.hash();
        }
        header.state_root = StateTree::from_map(&self.state).root();
        let block = self.producer.commit_header(header);
        self.blocks
            .insert(block.height(), (block, self.state.clone()));
        (results, end)
    }

    pub fn block(&mut self, txs: &[SignedTransaction]) -> Vec<TxResult> {
        self.block_with_end(txs).0
    }

    /// One transaction in its own block; panics unless it succeeds.
    pub fn ok(&mut self, signer: &str, body: TxBody) -> TxResult {
        let tx = self.tx(signer, body);
        let r = self.block(&[tx]).remove(0);
        assert!(r.is_ok(), "{} failed: {} {}", signer, r.code, r.message);
        r
    }

    /// One transaction in its own block, expected to fail with `code`;
    /// checks the state is exactly as before.
    pub fn fails(&mut self, signer: &str, body: TxBody, code: u32) -> TxResult {
        let tx = self.tx(signer, body);
        self.fails_tx(&tx, code)
    }

    /// Delivers `tx` expecting `code`, with the whole state unchanged but
    /// for the sender's nonce, which an authenticated transaction uses even
    /// when its message fails.
    pub fn fails_tx(&mut self, tx: &SignedTransaction, code: u32) -> TxResult {
        let mut before = self.state.clone();
        let nonce_key = protocol::state_keys::nonce(&tx.tx.sender);
        let ctx = self.ctx();
        let r = App::deliver_tx(&mut self.state, &ctx, tx);
        assert_eq!(
            r.code, code,
            "expected code {code}, got {}: {}",
            r.code, r.message
        );
        assert!(r.events.is_empty());
        assert!(!r.message.is_empty());
        let after = self.state.get(&nonce_key);
        if after != before.get(&nonce_key) {
            let used = after.cloned().unwrap_or_default();
            assert_eq!(used, borsh::to_vec(&tx.tx.nonce).unwrap(), "nonce");
            before.insert(nonce_key, used);
        }
        assert_eq!(
            self.state, before,
            "a refused transaction changed the state beyond its nonce"
        );
        r
    }

    /// Produces `n` empty blocks.
    pub fn empty_blocks(&mut self, n: u64) {
        for _ in 0..n {
            self.block(&[]);
        }
    }

    pub fn height(&self) -> Height {
        *self.blocks.keys().next_back().expect("a block")
    }

    pub fn latest(&self) -> LightBlock {
        self.blocks.values().next_back().expect("a block").0.clone()
    }

    pub fn light_block(&self, h: Height) -> LightBlock {
        self.blocks[&h].0.clone()
    }

    pub fn state_at(&self, h: Height) -> &State {
        &self.blocks[&h].1
    }

    /// Borsh membership proof of `key` in the state after block `h`.
    pub fn prove(&self, h: Height, key: &[u8]) -> Vec<u8> {
        let tree = StateTree::from_map(self.state_at(h));
        borsh::to_vec(&tree.prove_membership(key).unwrap()).unwrap()
    }

    /// Borsh non-membership proof of `key` in the state after block `h`.
    pub fn prove_absent(&self, h: Height, key: &[u8]) -> Vec<u8> {
        let tree = StateTree::from_map(self.state_at(h));
        borsh::to_vec(&tree.prove_non_membership(key).unwrap()).unwrap()
    }

    pub fn read<T: borsh::BorshDeserialize>(&self, key: &[u8]) -> Option<T> {
        App::read(&self.state, key).unwrap()
    }

    pub fn balance(&self, account: &str) -> u64 {
        App::balance(&self.state, &account.parse::<Account>().unwrap()).unwrap()
    }

    /// Commits `record` from its provider (which keeps it, salted, as the
    /// returned value); panics unless the commitment is accepted.
    pub fn commit(&mut self, record: CreditRecord) -> SaltedRecord {
        let salted = SaltedRecord::new(record, &mut rand::rngs::OsRng);
        let provider = salted.record.provider.to_string();
        self.ok(
            &provider,
            TxBody::CommitRecord {
                commitment: salted.commitment(),
            },
        );
        salted
    }

    /// The credit query from `source` with `sequence` pending here.
    pub fn pending_query(&self, source: &ChainId, sequence: u64) -> Option<PendingQuery> {
        self.read(&protocol::state_keys::pending_query(source, sequence))
    }

    /// The honest `answer_query` body of `provider` for the query pending
    /// from `source`: the records of `vault` whose digests the chain
    /// expects from it, in the chain's order, sealed to the query's key.
    pub fn answer_body(
        &self,
        source: &ChainId,
        sequence: u64,
        provider: &str,
        vault: &[SaltedRecord],
    ) -> TxBody {
        let pending = self
            .pending_query(source, sequence)
            .expect("a pending query");
        answer_body(&pending, provider, vault)
    }
}

/// The honest `answer_query` body of `provider` for `pending`: the records
/// of `vault` whose digests the chain expects from it, in its order.
pub fn answer_body(pending: &PendingQuery, provider: &str, vault: &[SaltedRecord]) -> TxBody {
    let expected = pending
        .expected
        .iter()
        .find(|e| e.provider.as_str() == provider)
        .map(|e| e.commitments.clone())
        .unwrap_or_default();
    let records: Vec<SaltedRecord> = expected
        .iter()
        .map(|d| {
            vault
                .iter()
                .find(|s| s.commitment().digest == *d)
                .expect("the vault holds every committed record")
                .clone()
        })
        .collect();
    sealed_body(pending, provider, &records)
}

/// The `answer_query` body of `provider` sealing exactly `records` for
/// `pending` (listing their own digests).
pub fn sealed_body(pending: &PendingQuery, provider: &str, records: &[SaltedRecord]) -> TxBody {
    let query = pending.query().expect("a credit query");
    let answer = seal_answer(
        &query.encryption_key,
        &pending.packet,
        &id(provider),
        records,
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    TxBody::AnswerQuery {
        source: pending.packet.source.clone(),
        sequence: pending.packet.sequence,
        answer,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// No key or value of `state` holds any of `amounts` as little-endian
/// bytes or as a decimal string.
pub fn assert_no_amount(state: &State, amounts: &[u64]) {
    for (k, v) in state {
        let entry = [k.as_slice(), v.as_slice()].concat();
        for n in amounts {
            assert!(
                !contains(&entry, &n.to_le_bytes()),
                "{} holds {n} as little-endian bytes",
                protocol::state_keys::show(k)
            );
            assert!(
                !contains(&entry, n.to_string().as_bytes()),
                "{} holds {n} as a decimal string",
                protocol::state_keys::show(k)
            );
        }
    }
}

pub fn record(provider: &str, kind: RecordKind, units: u64, start: Time) -> CreditRecord {
    CreditRecord {
        enterprise: enterprise(),
        kind,
        amount: cny(units),
        start,
        end: None,
        status: RecordStatus::Active,
        provider: id(provider),
        document_digest: Some(Hash::digest(b"contract.pdf")),
    }
}

/// A consent of the test enterprise, signed with its key, granted on the
/// chain `held_on` (the one holding the records).
pub fn consent(
    held_on: &str,
    grantee_chain: &str,
    grantee: &str,
    scope: &[RecordKind],
    expires_at: Time,
    nonce: u64,
) -> TxBody {
    let grant = ConsentGrant {
        chain_id: chain(held_on),
        enterprise: enterprise(),
        grantee_chain: chain(grantee_chain),
        grantee: id(grantee),
        scope: scope.to_vec(),
        purpose: "loan application".into(),
        expires_at,
        nonce,
    };
    let signature = sign_consent(&key("ent"), &grant);
    TxBody::GrantConsent { grant, signature }
}

pub fn consent_id(body: &TxBody) -> Hash {
    match body {
        TxBody::GrantConsent { grant, .. } => grant.id(),
        _ => panic!("not a consent"),
    }
}

pub fn secs(t: Time, s: u64) -> Time {
    t.checked_add(std::time::Duration::from_secs(s)).unwrap()
}

pub fn validator_set_of(c: &Committee) -> ValidatorSet {
    c.validator_set().clone()
}
