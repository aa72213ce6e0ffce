//! Test support: an in-memory chain behind the `ChainAdapter` trait, and
//! sample records, queries and keys. Shared by the integration tests and
//! the benchmark.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use adapters::{
    AdapterError, BlockStream, BoxFuture, ChainAdapter, ChainEvent, ChainStatus, EndpointStats,
    EventAttribute, PacketEvent, PacketEvents, ProvenEntry, ProvenState, ProvenStates,
    SubmitOutcome,
};
use ed25519_dalek::SigningKey;
use light_clients::merkle::StateTree;
use protocol::sealed::{ExpectedAnswer, PendingQuery};
use protocol::tx::{SignedTransaction, TxBody};
use protocol::{
    AggregationRequest, ChainId, Commit, CreditQuery, CreditRecord, Currency, DecryptionKey,
    EnterpriseId, Hash, Header, Height, InstitutionId, LightBlock, Money, Packet, PacketPayload,
    PublicKey, RecordCommitment, RecordKind, RecordStatus, SignedHeader, Time, Validator,
    ValidatorSet, state_keys,
};

/// The state of a [`FakeChain`], open to the tests.
pub struct FakeState {
    /// Key → value, as the chain's state.
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The latest height.
    pub height: u64,
    /// The latest block time.
    pub time: Time,
    /// Events by height.
    pub events: Vec<PacketEvent>,
    /// Every transaction submitted, in order (refused ones included).
    pub submitted: Vec<SignedTransaction>,
    /// When set, every submission is refused with this code and message.
    pub refuse: Option<(u32, String)>,
    /// When set, every read fails as if no endpoint answered.
    pub unreachable: bool,
}

/// An in-memory chain: serves its state (with real Merkle proofs against
/// the root in a light block it makes up, unsigned: the agent does not
/// verify blocks itself), its events, and executes the few transactions a
/// provider sends (nonces, commit_record, answer_query,
/// contribute_aggregation) like the chain does.
pub struct FakeChain {
    chain_id: ChainId,
    inner: Mutex<FakeState>,
}

impl FakeChain {
    /// An empty chain at height 1, time 1,000 s.
    pub fn new(chain_id: &str) -> Arc<FakeChain> {
        Arc::new(FakeChain {
            chain_id: chain_id.parse().unwrap(),
            inner: Mutex::new(FakeState {
                state: BTreeMap::new(),
                height: 1,
                time: Time::from_unix_nanos(1_000_000_000_000),
                events: Vec::new(),
                submitted: Vec::new(),
                refuse: None,
                unreachable: false,
            }),
        })
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

    /// Receives the aggregation request `packet` (a pending marker and the
    /// receipt, and `recv_packet`).
    pub fn receive_aggregation(&self, packet: &Packet) {
        {
            let mut s = self.lock();
            // The agent only looks at the presence of the pending entry.
            s.state.insert(
                state_keys::pending_aggregation(&packet.source, packet.sequence),
                b"pending".to_vec(),
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

    /// Commits `packet` as its source does (for relayers and agents to
    /// read).
    pub fn send_packet(&self, packet: &Packet) {
        self.lock().state.insert(
            state_keys::packet(&packet.destination, packet.sequence),
            borsh::to_vec(packet).unwrap(),
        );
    }

    fn light_block(&self, s: &FakeState, root: Hash) -> LightBlock {
        let validators = ValidatorSet::new(vec![Validator {
            pub_key: PublicKey([9; 32]),
            power: 1,
        }])
        .unwrap();
        let header = Header {
            chain_id: self.chain_id.clone(),
            height: Height::new(s.height).unwrap(),
            time: s.time,
            last_header_hash: Hash::ZERO,
            state_root: root,
            transactions_root: Hash::ZERO,
            validators_hash: validators.hash(),
            next_validators_hash: validators.hash(),
            proposer: PublicKey([9; 32]),
        };
        LightBlock {
            signed_header: SignedHeader {
                commit: Commit {
                    height: header.height,
                    header_hash: header.hash(),
                    signatures: Vec::new(),
                },
                header,
            },
            validators: validators.clone(),
            next_validators: validators,
        }
    }

    fn unavailable(&self) -> AdapterError {
        AdapterError::InvalidRequest(format!("chain {} is unreachable (test)", self.chain_id))
    }

    fn read(&self, keys: &[Vec<u8>]) -> Result<ProvenStates, AdapterError> {
        let s = self.lock();
        if s.unreachable {
            return Err(self.unavailable());
        }
        let tree = StateTree::from_map(&s.state);
        let entries = keys
            .iter()
            .map(|k| ProvenEntry {
                key: k.clone(),
                value: s.state.get(k).cloned(),
                proof: tree.prove(k),
            })
            .collect();
        Ok(ProvenStates {
            height: Height::new(s.height).unwrap(),
            entries,
            light_block: self.light_block(&s, tree.root()),
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
            TxBody::ContributeAggregation { .. } => {}
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

    fn light_block(&self, _height: Height) -> BoxFuture<'_, Result<LightBlock, AdapterError>> {
        Box::pin(async move { Ok(self.read(&[])?.light_block) })
    }

    fn validators(&self, _height: Height) -> BoxFuture<'_, Result<ValidatorSet, AdapterError>> {
        Box::pin(async move { Ok(self.read(&[])?.light_block.validators) })
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
