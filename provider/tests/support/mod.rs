//! Test support: an in-memory chain behind the `ChainAdapter` trait,
//! serving blocks signed by its validators, an endpoint that can be
//! switched between chains, and sample records, queries and keys. Shared
//! by the integration tests and the benchmark.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use adapters::{
    AdapterError, BlockStream, BoxFuture, ChainAdapter, ChainEvent, ChainStatus, EndpointStats,
    EventAttribute, PacketEvent, PacketEvents, ProvenEntry, ProvenState, ProvenStates,
    SubmitOutcome,
};
use ed25519_dalek::SigningKey;
use light_clients::credit_chain::signing::Committee;
use light_clients::merkle::StateTree;
use protocol::sealed::{ExpectedAnswer, PendingQuery};
use protocol::tx::{SignedTransaction, TxBody};
use protocol::{
    AggregationRequest, ChainId, CreditQuery, CreditRecord, Currency, DecryptionKey, EnterpriseId,
    Hash, Header, Height, InstitutionId, LightBlock, Money, Packet, PacketPayload,
    PendingAggregation, RecordCommitment, RecordKind, RecordStatus, SignedHeader, Time,
    ValidatorSet, state_keys,
};
use provider::{Clock, HomeTrust};

/// The state of a [`FakeChain`], open to the tests.
pub struct FakeState {
    /// Key → value, as the chain's state.
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The latest height.
    pub height: u64,
    /// The chain's base time: the block at height `h` is at `time + h`
    /// seconds (block times strictly increase, as a light client demands).
    pub time: Time,
    /// The signed blocks, by height: one per height, fixed once made.
    pub blocks: BTreeMap<u64, LightBlock>,
    /// Events by height.
    pub events: Vec<PacketEvent>,
    /// Every transaction submitted, in order (refused ones included).
    pub submitted: Vec<SignedTransaction>,
    /// When set, every submission is refused with this code and message.
    pub refuse: Option<(u32, String)>,
    /// When set, every read fails as if no endpoint answered.
    pub unreachable: bool,
    /// Values served in place of the state's (with the proofs of the
    /// state's own): an endpoint lying about one value under an honest
    /// block.
    pub lies: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// An in-memory chain: serves its state (with real Merkle proofs against
/// the state root of the block at its latest height), blocks signed by all
/// its validators (each linked to the one below by hash), its events, and
/// executes the few transactions a provider sends (nonces, commit_record,
/// answer_query, contribute_aggregation) like the chain does.
pub struct FakeChain {
    chain_id: ChainId,
    committee: Committee,
    inner: Mutex<FakeState>,
}

/// The chain's base time (block `h` is `h` seconds after it).
pub const BASE_TIME_SECS: u64 = 1_000;

impl FakeChain {
    /// An empty chain at height 1, signed by its own four validators.
    pub fn new(chain_id: &str) -> Arc<FakeChain> {
        FakeChain::with_committee(
            chain_id,
            Committee::deterministic(&format!("{chain_id}-validators"), 4),
        )
    }

    /// An empty chain at height 1, signed by `committee`.
    pub fn with_committee(chain_id: &str, committee: Committee) -> Arc<FakeChain> {
        let chain = FakeChain {
            chain_id: chain_id.parse().unwrap(),
            committee,
            inner: Mutex::new(FakeState {
                state: BTreeMap::new(),
                height: 1,
                time: Time::from_unix_nanos(BASE_TIME_SECS * 1_000_000_000),
                blocks: BTreeMap::new(),
                events: Vec::new(),
                submitted: Vec::new(),
                refuse: None,
                unreachable: false,
                lies: BTreeMap::new(),
            }),
        };
        {
            let mut s = chain.lock();
            chain.seal(&mut s);
        }
        Arc::new(chain)
    }

    /// A forgery of `honest`: the same chain id, the same blocks' public
    /// history up to height 1 (the anchor, copied), its state copied, and
    /// every later block, up to `honest`'s height, signed by other
    /// validators (`seed`) — self-consistent, each block signed by more
    /// than 2/3 of its own validator set and linked to the one below.
    pub fn forgery_of(honest: &FakeChain, seed: &str) -> Arc<FakeChain> {
        let forged =
            FakeChain::with_committee(honest.chain_id.as_str(), Committee::deterministic(seed, 4));
        {
            let h = honest.lock();
            let mut f = forged.lock();
            f.blocks.clear();
            f.blocks.insert(1, h.blocks[&1].clone());
            f.state = h.state.clone();
            f.height = 1;
            while f.height < h.height {
                f.height += 1;
                forged.seal(&mut f);
            }
        }
        forged
    }

    /// The operator's anchor at this chain's first block.
    pub fn trust(&self) -> HomeTrust {
        let s = self.lock();
        HomeTrust::new(Height::GENESIS, s.blocks[&1].header().hash())
    }

    /// Signs the block at the state's height over the current state root
    /// (the caller has just raised the height).
    fn seal(&self, s: &mut FakeState) {
        let root = StateTree::from_map(&s.state).root();
        let height = Height::new(s.height).unwrap();
        let last_header_hash = s
            .blocks
            .get(&(s.height - 1))
            .map(|b| b.header().hash())
            .unwrap_or(Hash::ZERO);
        let validators: ValidatorSet = self.committee.validator_set().clone();
        let header = Header {
            chain_id: self.chain_id.clone(),
            height,
            time: Time::from_unix_nanos(s.time.unix_nanos() + s.height * 1_000_000_000),
            last_header_hash,
            state_root: root,
            transactions_root: Hash::ZERO,
            validators_hash: validators.hash(),
            next_validators_hash: validators.hash(),
            proposer: validators.validators()[0].pub_key,
        };
        let commit = self.committee.sign(&header);
        s.blocks.insert(
            s.height,
            LightBlock {
                signed_header: SignedHeader { header, commit },
                validators: validators.clone(),
                next_validators: validators,
            },
        );
    }

    /// A new block (over the current state).
    pub fn next_block(&self) {
        let mut s = self.lock();
        s.height += 1;
        self.seal(&mut s);
    }

    /// The state, to look at or change.
    pub fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.inner.lock().unwrap()
    }

    /// The bodies of the transactions submitted.
    pub fn bodies(&self) -> Vec<TxBody> {
        self.lock()
            .submitted
            .iter()
            .map(|t| t.tx.body.clone())
            .collect()
    }

    /// The `answer_query` bodies submitted.
    pub fn answers(&self) -> Vec<TxBody> {
        self.bodies()
            .into_iter()
            .filter(|b| matches!(b, TxBody::AnswerQuery { .. }))
            .collect()
    }

    /// Adds a block with `event` (its attributes as given).
    pub fn emit(&self, kind: &str, attributes: &[(&str, String)]) {
        let mut s = self.lock();
        s.height += 1;
        self.seal(&mut s);
        let height = Height::new(s.height).unwrap();
        s.events.push(PacketEvent {
            height,
            tx: Hash::tagged(b"fake-tx", &[&height.value().to_be_bytes()]),
            event: ChainEvent {
                kind: kind.to_owned(),
                attributes: attributes
                    .iter()
                    .map(|(k, v)| EventAttribute {
                        key: (*k).to_owned(),
                        value: v.clone(),
                    })
                    .collect(),
            },
        });
    }

    /// Receives the query `pending` (stores it and its receipt, emits
    /// `recv_packet` and `query_requested`).
    pub fn receive_query(&self, pending: &PendingQuery) {
        let p = &pending.packet;
        {
            let mut s = self.lock();
            s.state.insert(
                state_keys::pending_query(&p.source, p.sequence),
                borsh::to_vec(pending).unwrap(),
            );
            s.state.insert(
                state_keys::packet_receipt(&p.source, p.sequence),
                p.commitment().as_bytes().to_vec(),
            );
        }
        let route = [
            ("source", p.source.to_string()),
            ("destination", p.destination.to_string()),
            ("sequence", p.sequence.to_string()),
        ];
        self.emit("recv_packet", &route);
        let providers: Vec<&str> = pending
            .expected
            .iter()
            .map(|e| e.provider.as_str())
            .collect();
        self.emit(
            "query_requested",
            &[
                ("source", p.source.to_string()),
                ("sequence", p.sequence.to_string()),
                ("providers", providers.join(",")),
            ],
        );
    }

    /// Receives the aggregation request `packet` expecting [`provider`]
    /// (the pending aggregation and the receipt, and `recv_packet`).
    pub fn receive_aggregation(&self, packet: &Packet) {
        self.receive_aggregation_expecting(packet, vec![provider()]);
    }

    /// Receives the aggregation request `packet` expecting `expected`.
    pub fn receive_aggregation_expecting(&self, packet: &Packet, expected: Vec<InstitutionId>) {
        let PacketPayload::AggregationRequest(request) = &packet.payload else {
            panic!("not an aggregation request: {packet:?}");
        };
        let pending = PendingAggregation {
            source: packet.source.clone(),
            sequence: packet.sequence,
            request: request.clone(),
            expected,
            contributed: Vec::new(),
            records: 0,
            sum: vec![0; 128],
        };
        {
            let mut s = self.lock();
            s.state.insert(
                state_keys::pending_aggregation(&packet.source, packet.sequence),
                borsh::to_vec(&pending).unwrap(),
            );
            s.state.insert(
                state_keys::packet_receipt(&packet.source, packet.sequence),
                packet.commitment().as_bytes().to_vec(),
            );
        }
        self.emit(
            "recv_packet",
            &[
                ("source", packet.source.to_string()),
                ("destination", packet.destination.to_string()),
                ("sequence", packet.sequence.to_string()),
            ],
        );
    }

    fn unavailable(&self) -> AdapterError {
        AdapterError::InvalidRequest(format!("chain {} is unreachable (test)", self.chain_id))
    }

    fn read(&self, keys: &[Vec<u8>]) -> Result<ProvenStates, AdapterError> {
        let mut s = self.lock();
        if s.unreachable {
            return Err(self.unavailable());
        }
        let tree = StateTree::from_map(&s.state);
        // The state changed since the latest block (a test wrote it
        // directly): a new block, since a block once made never changes.
        if s.blocks[&s.height].header().state_root != tree.root() {
            s.height += 1;
            self.seal(&mut s);
        }
        let entries = keys
            .iter()
            .map(|k| ProvenEntry {
                key: k.clone(),
                value: s.lies.get(k).or_else(|| s.state.get(k)).cloned(),
                proof: tree.prove(k),
            })
            .collect();
        Ok(ProvenStates {
            height: Height::new(s.height).unwrap(),
            entries,
            light_block: s.blocks[&s.height].clone(),
        })
    }

    /// Executes `tx` as the chain would, as far as a provider's messages
    /// go: `Err` is a refusal (code, message).
    fn execute(s: &mut FakeState, tx: &SignedTransaction) -> Result<(), (u32, String)> {
        if let Some(refusal) = s.refuse.clone() {
            return Err(refusal);
        }
        let nonce_key = state_keys::nonce(&tx.tx.sender);
        let last = s
            .state
            .get(&nonce_key)
            .map(|b| borsh::from_slice::<u64>(b).unwrap())
            .unwrap_or(0);
        if tx.tx.nonce != last + 1 {
            return Err((3, format!("nonce {} after {last}", tx.tx.nonce)));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&tx.tx.sender.0).unwrap();
        let signature = ed25519_dalek::Signature::from_bytes(&tx.signature.0);
        key.verify_strict(&tx.tx.sign_bytes(), &signature)
            .map_err(|e| (4, format!("bad signature: {e}")))?;
        match &tx.tx.body {
            TxBody::CommitRecord { commitment } => {
                let seq_key =
                    state_keys::record_sequence(&commitment.enterprise, &commitment.provider);
                let next = s
                    .state
                    .get(&seq_key)
                    .map(|b| borsh::from_slice::<u64>(b).unwrap())
                    .unwrap_or(1);
                s.state.insert(
                    state_keys::record(&commitment.enterprise, &commitment.provider, next),
                    borsh::to_vec(commitment).unwrap(),
                );
                s.state.insert(seq_key, borsh::to_vec(&(next + 1)).unwrap());
            }
            TxBody::AnswerQuery {
                source,
                sequence,
                answer,
            } => {
                let key = state_keys::pending_query(source, *sequence);
                let mut pending: PendingQuery = borsh::from_slice(
                    s.state
                        .get(&key)
                        .ok_or((60, "no pending query".to_owned()))?,
                )
                .unwrap();
                if pending
                    .answers
                    .iter()
                    .any(|a| a.provider == answer.provider)
                {
                    return Err((61, format!("{} answered already", answer.provider)));
                }
                let expected = pending
                    .expected
                    .iter()
                    .find(|e| e.provider == answer.provider)
                    .ok_or((62, "not expected".to_owned()))?;
                if expected.commitments != answer.commitments {
                    return Err((63, "incomplete answer".to_owned()));
                }
                pending.answers.push(answer.clone());
                s.state.insert(key, borsh::to_vec(&pending).unwrap());
            }
            TxBody::ContributeAggregation {
                source,
                sequence,
                records,
                ..
            } => {
                let key = state_keys::pending_aggregation(source, *sequence);
                let mut pending: PendingAggregation = borsh::from_slice(
                    s.state
                        .get(&key)
                        .ok_or((82, "no pending aggregation".to_owned()))?,
                )
                .unwrap();
                // The only provider these tests sign for.
                if pending.contributed.contains(&provider()) {
                    return Err((85, "contributed already".to_owned()));
                }
                pending.contributed.push(provider());
                pending.records += records;
                s.state.insert(key, borsh::to_vec(&pending).unwrap());
            }
            other => return Err((99, format!("{} not supported here", other.name()))),
        }
        s.state
            .insert(nonce_key, borsh::to_vec(&tx.tx.nonce).unwrap());
        Ok(())
    }
}

impl ChainAdapter for FakeChain {
    fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    fn status(&self) -> BoxFuture<'_, Result<ChainStatus, AdapterError>> {
        Box::pin(async move {
            let proven = self.read(&[])?;
            Ok(ChainStatus {
                chain_id: self.chain_id.clone(),
                latest_height: proven.height,
                latest_hash: proven.light_block.header().hash(),
                latest_time: proven.light_block.header().time,
                state_root: proven.light_block.header().state_root,
            })
        })
    }

    fn light_block(&self, height: Height) -> BoxFuture<'_, Result<LightBlock, AdapterError>> {
        Box::pin(async move {
            let s = self.lock();
            if s.unreachable {
                return Err(self.unavailable());
            }
            s.blocks.get(&height.value()).cloned().ok_or_else(|| {
                AdapterError::InvalidRequest(format!("no block at height {height} (test)"))
            })
        })
    }

    fn validators(&self, height: Height) -> BoxFuture<'_, Result<ValidatorSet, AdapterError>> {
        Box::pin(async move { Ok(self.light_block(height).await?.validators) })
    }

    fn state<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<ProvenState, AdapterError>> {
        Box::pin(async move {
            let mut proven = self.read(&[key.to_vec()])?;
            let entry = proven.entries.remove(0);
            Ok(ProvenState {
                key: entry.key,
                height: proven.height,
                value: entry.value,
                proof: entry.proof,
                light_block: proven.light_block,
            })
        })
    }

    fn states<'a>(
        &'a self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<ProvenStates, AdapterError>> {
        Box::pin(async move { self.read(keys) })
    }

    fn submit<'a>(
        &'a self,
        tx: &'a SignedTransaction,
    ) -> BoxFuture<'a, Result<SubmitOutcome, AdapterError>> {
        Box::pin(async move {
            let mut s = self.lock();
            if s.unreachable {
                return Err(self.unavailable());
            }
            s.submitted.push(tx.clone());
            let result = FakeChain::execute(&mut s, tx);
            s.height += 1;
            self.seal(&mut s);
            let (code, message) = result.err().unwrap_or((0, String::new()));
            Ok(SubmitOutcome {
                hash: tx.hash(),
                height: Some(Height::new(s.height).unwrap()),
                code,
                codespace: if code == 0 {
                    String::new()
                } else {
                    "fake".into()
                },
                message,
                events: Vec::new(),
            })
        })
    }

    fn submit_batch<'a>(
        &'a self,
        txs: &'a [SignedTransaction],
    ) -> BoxFuture<'a, Result<Vec<Result<SubmitOutcome, String>>, AdapterError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for tx in txs {
                out.push(Ok(self.submit(tx).await?));
            }
            Ok(out)
        })
    }

    fn packet_events(&self, since: u64) -> BoxFuture<'_, Result<PacketEvents, AdapterError>> {
        Box::pin(async move {
            let s = self.lock();
            if s.unreachable {
                return Err(self.unavailable());
            }
            Ok(PacketEvents {
                events: s
                    .events
                    .iter()
                    .filter(|e| e.height.value() > since)
                    .cloned()
                    .collect(),
                scanned_to: s.height,
                latest_height: s.height,
            })
        })
    }

    fn block_stream(&self) -> BlockStream {
        Box::pin(tokio_stream::pending())
    }

    fn endpoint_stats(&self) -> Vec<EndpointStats> {
        Vec::new()
    }
}

/// An endpoint of one chain id that serves whichever [`FakeChain`] it is
/// switched to (an honest node, or a hostile one), and remembers the
/// blocks its client refuted.
pub struct Endpoint {
    chain_id: ChainId,
    current: Mutex<Arc<FakeChain>>,
    /// The reasons given to `refute_light_block`, in order.
    pub refuted: Mutex<Vec<String>>,
}

impl Endpoint {
    /// An endpoint serving `chain`.
    pub fn new(chain: &Arc<FakeChain>) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            chain_id: chain.chain_id.clone(),
            current: Mutex::new(chain.clone()),
            refuted: Mutex::new(Vec::new()),
        })
    }

    /// From now on serves `chain` (of the same chain id).
    pub fn switch_to(&self, chain: &Arc<FakeChain>) {
        assert_eq!(chain.chain_id, self.chain_id);
        *self.current.lock().unwrap() = chain.clone();
    }

    fn current(&self) -> Arc<FakeChain> {
        self.current.lock().unwrap().clone()
    }
}

impl ChainAdapter for Endpoint {
    fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    fn status(&self) -> BoxFuture<'_, Result<ChainStatus, AdapterError>> {
        let chain = self.current();
        Box::pin(async move { chain.status().await })
    }

    fn light_block(&self, height: Height) -> BoxFuture<'_, Result<LightBlock, AdapterError>> {
        let chain = self.current();
        Box::pin(async move { chain.light_block(height).await })
    }

    fn validators(&self, height: Height) -> BoxFuture<'_, Result<ValidatorSet, AdapterError>> {
        let chain = self.current();
        Box::pin(async move { chain.validators(height).await })
    }

    fn state<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<ProvenState, AdapterError>> {
        let chain = self.current();
        Box::pin(async move { chain.state(key).await })
    }

    fn states<'a>(
        &'a self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<ProvenStates, AdapterError>> {
        let chain = self.current();
        Box::pin(async move { chain.states(keys).await })
    }

    fn submit<'a>(
        &'a self,
        tx: &'a SignedTransaction,
    ) -> BoxFuture<'a, Result<SubmitOutcome, AdapterError>> {
        let chain = self.current();
        Box::pin(async move { chain.submit(tx).await })
    }

    fn submit_batch<'a>(
        &'a self,
        txs: &'a [SignedTransaction],
    ) -> BoxFuture<'a, Result<Vec<Result<SubmitOutcome, String>>, AdapterError>> {
        let chain = self.current();
        Box::pin(async move { chain.submit_batch(txs).await })
    }

    fn packet_events(&self, since: u64) -> BoxFuture<'_, Result<PacketEvents, AdapterError>> {
        let chain = self.current();
        Box::pin(async move { chain.packet_events(since).await })
    }

    fn block_stream(&self) -> BlockStream {
        Box::pin(tokio_stream::pending())
    }

    fn endpoint_stats(&self) -> Vec<EndpointStats> {
        Vec::new()
    }

    fn refute_light_block(&self, _block: &LightBlock, reason: &str) {
        self.refuted.lock().unwrap().push(reason.to_owned());
    }
}

/// A clock that shows a fixed time: the chains' base time plus an hour
/// (block `h` is at base + `h` s, so every test block is in its past and
/// well within the trusting period).
#[derive(Debug)]
pub struct TestClock(pub Time);

impl Clock for TestClock {
    fn now(&self) -> Time {
        self.0
    }
}

/// The [`TestClock`] of the tests, shared.
pub fn test_clock() -> Arc<TestClock> {
    Arc::new(TestClock(Time::from_unix_nanos(
        (BASE_TIME_SECS + 3_600) * 1_000_000_000,
    )))
}

/// The answering chain of the tests.
pub const HOME: &str = "guangdong";
/// The asking chain.
pub const ASKER: &str = "shaanxi";
/// The provider under test.
pub const PROVIDER: &str = "provider-a";

/// The enterprise of the samples.
pub fn enterprise() -> EnterpriseId {
    "91350100M000100Y43".parse().unwrap()
}

/// Another enterprise.
pub fn other_enterprise() -> EnterpriseId {
    "91110000600037341L".parse().unwrap()
}

/// The provider's id.
pub fn provider() -> InstitutionId {
    PROVIDER.parse().unwrap()
}

/// A fixed signing key of the provider.
pub fn provider_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// A record of the provider about `enterprise`, of `kind`, for `fen`.
pub fn record(
    enterprise: &EnterpriseId,
    kind: RecordKind,
    fen: u64,
    start_secs: u64,
) -> CreditRecord {
    CreditRecord {
        enterprise: enterprise.clone(),
        kind,
        amount: Money {
            minor_units: fen,
            currency: Currency::CNY,
        },
        start: Time::from_unix_nanos(start_secs * 1_000_000_000),
        end: None,
        status: RecordStatus::Active,
        provider: provider(),
        document_digest: None,
    }
}

/// A credit query packet from [`ASKER`] to [`HOME`] with `sequence`,
/// sealed to `key`, about [`enterprise`], loans and repayments.
pub fn query_packet(sequence: u64, key: &DecryptionKey) -> Packet {
    Packet {
        source: ASKER.parse().unwrap(),
        destination: HOME.parse().unwrap(),
        sequence,
        timeout_height: None,
        timeout_time: None,
        payload: PacketPayload::CreditQuery(CreditQuery {
            requester: "bank-a".parse().unwrap(),
            enterprise: enterprise(),
            kinds: vec![RecordKind::Loan, RecordKind::Repayment],
            purpose: "loan application".into(),
            consent_id: Hash::tagged(b"consent", &[b"1"]),
            max_fee: Money {
                minor_units: 1_000,
                currency: Currency::CNY,
            },
            encryption_key: key.public(),
        }),
    }
}

/// The pending query of `packet` expecting `digests` of [`provider`].
pub fn pending(packet: Packet, digests: Vec<Hash>) -> PendingQuery {
    PendingQuery {
        packet,
        deadline: Time::from_unix_nanos(2_000_000_000_000),
        expected: vec![ExpectedAnswer {
            provider: provider(),
            commitments: digests,
        }],
        answers: Vec::new(),
    }
}

/// An aggregation request packet from [`ASKER`] to [`HOME`].
pub fn aggregation_packet(
    sequence: u64,
    key: &homomorphic::PublicKey,
    kinds: Vec<RecordKind>,
) -> Packet {
    Packet {
        source: ASKER.parse().unwrap(),
        destination: HOME.parse().unwrap(),
        sequence,
        timeout_height: None,
        timeout_time: None,
        payload: PacketPayload::AggregationRequest(AggregationRequest {
            aggregation_id: Hash::tagged(b"aggregation", &[&sequence.to_be_bytes()]),
            requester: "bank-a".parse().unwrap(),
            enterprise: enterprise(),
            kinds,
            purpose: "multi-head lending".into(),
            consent_id: Hash::tagged(b"consent", &[b"1"]),
            scheme: AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255.into(),
            encryption_key: key.to_bytes().to_vec(),
            contribution_deadline: Time::from_unix_nanos(2_000_000_000_000),
        }),
    }
}

/// The commitments a chain holds for [`provider`] about `enterprise`.
pub fn committed_on(chain: &FakeChain, enterprise: &EnterpriseId) -> Vec<RecordCommitment> {
    let s = chain.lock();
    let prefix = state_keys::records_of(enterprise);
    s.state
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| borsh::from_slice(v).unwrap())
        .collect()
}
