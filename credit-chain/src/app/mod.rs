//! The credit chain's state machine: a pure, deterministic function of the
//! state and the block's transactions. No I/O, no clock (the block context
//! brings the time), no randomness; the node gives it a [`KvStore`].
//!
//! # Transactions
//!
//! A [`SignedTransaction`] passes, in order: chain id, the sender's ed25519
//! signature over [`Transaction::sign_bytes`](protocol::Transaction::sign_bytes)
//! (which binds the chain id), a known sender (a governance, institution or
//! enterprise key), not suspended, the nonce (exactly the last used + 1 in
//! [`App::deliver_tx`]; any unused one in [`App::check_tx`]), the message's
//! fields, then the module. [`App::deliver_tx`] is atomic: it runs over an
//! [`Overlay`] and writes nothing of its message unless it succeeds. A
//! transaction refused before its message runs (chain id, signature,
//! sender, nonce) uses nothing; once authenticated it uses its nonce even if
//! its message fails, so one refused transaction never makes the sender's
//! later ones in the block fail.
//!
//! # Who may send what
//!
//! | message | sender |
//! |---|---|
//! | `register_institution`, `suspend_institution`, `reinstate_institution`, `set_validators`, `mint`, `set_max_query_fee` | governance |
//! | `register_enterprise` | governance or registrar |
//! | `commit_record`, `set_query_fee` | data provider (for itself) |
//! | `write_record` | nobody: refused, records stay with their provider |
//! | `register_encryption_key` | bank or credit bureau (for itself) |
//! | `answer_query` | data provider expected by the pending query |
//! | `issue_attestation` | credit bureau, data provider or regulator (as issuer) |
//! | `grant_consent` | anyone known (the enterprise's signature authenticates it) |
//! | `revoke_consent` | the enterprise itself |
//! | `transfer` | any institution (from its own account) |
//! | `send_credit_query`, `send_aggregation_request` | bank or credit bureau (as requester) |
//! | `contribute_aggregation` | data provider expected by the pending aggregation |
//! | `register_aggregation_key` | bank or credit bureau (its own share, proven known) |
//! | `set_regulator_aggregation_key` | governance (the regulator's share, proven known) |
//! | `close_aggregation` | the aggregation's requester |
//! | `create_client` | governance or relayer |
//! | `update_client`, `recv_packet`, `acknowledge_packet`, `timeout_packet` | relayer |
//! | `submit_misbehaviour` | governance or any institution |
//! | `anchor_audit_checkpoint` | regulator (its own signed checkpoint) |
//!
//! Enterprise keys are bound to unified social credit codes by a registrar
//! (or governance), never self-registered: a code is public, so anyone
//! could claim one.
//!
//! # Key layout
//!
//! Every value is canonical borsh. Keys are built only by [`keys`].
//!
//! | key | value |
//! |---|---|
//! | `params` | [`Params`](state::Params) |
//! | `keys/<public key hex>` | [`Principal`](state::Principal) |
//! | `nonces/<public key hex>` | `u64`, last nonce used |
//! | `institutions/<id>` | [`InstitutionRecord`](state::InstitutionRecord) |
//! | `enterprises/<uscc>` | [`EnterpriseRecord`](state::EnterpriseRecord) |
//! | `records/<uscc>/<provider>/<seq>` | [`RecordCommitment`](protocol::sealed::RecordCommitment), never the record (see [`records`]) |
//! | `sequences/records/<uscc>/<provider>` | `u64`, next record sequence |
//! | `consents/<consent id hex>` | [`ConsentRecord`](state::ConsentRecord) |
//! | `attestations/<attestation id hex>` | [`Attestation`](protocol::Attestation) |
//! | `balances/<institution>`, `balances/<chain>/<institution>` | `u64` minor units (absent = 0) |
//! | `fees/<provider>` | [`Money`](protocol::Money), fee per answered query |
//! | `governance/max_query_fee` | `u64` minor units, the cap on query fees (absent = [`fees::DEFAULT_MAX_QUERY_FEE`]) |
//! | `governance/pending_validators` | [`ValidatorSet`], decided in this block |
//! | `governance/validators` | [`ValidatorSet`], last announced by `end_block` |
//! | `interchain/clients/<chain>` | [`StoredClient`](state::StoredClient) |
//! | `interchain/next_sequence/<dest>` | `u64`, next packet sequence (absent = 1) |
//! | `interchain/commitments/<dest>/<seq>` | [`Hash`], [`Packet::commitment`](protocol::Packet::commitment) |
//! | `interchain/packets/<dest>/<seq>` | [`Packet`](protocol::Packet) |
//! | `interchain/escrows/<dest>/<seq>` | [`Escrow`](state::Escrow) |
//! | `interchain/results/<dest>/<seq>` | [`PacketResult`](state::PacketResult) |
//! | `interchain/receipts/<source>/<seq>` | [`Hash`], the received packet's commitment |
//! | `interchain/acks/<source>/<seq>` | [`Hash`], [`Acknowledgement::hash`](protocol::Acknowledgement::hash) |
//! | `interchain/ack_data/<source>/<seq>` | [`Acknowledgement`](protocol::Acknowledgement) |
//! | `institutions/<id>/encryption_key` | [`EncryptionKey`](protocol::sealed::EncryptionKey) answers to it are sealed to |
//! | `interchain/pending_queries/<source>/<seq>` | [`PendingQuery`](protocol::sealed::PendingQuery) (see [`sealed`]) |
//! | `interchain/query_deadlines/<deadline nanos>/<source>/<seq>` | `(ChainId, u64)`, index of the pending queries by deadline |
//! | `interchain/pending_query_charges/<source>/<seq>` | `Vec<FeeCharge>`, the expected providers' fees fixed on receipt |
//! | `interchain/pending_aggregations/<source>/<seq>` | [`PendingAggregation`](state::PendingAggregation) (see [`aggregation`]) |
//! | `interchain/aggregation_deadlines/<deadline nanos>/<source>/<seq>` | `(ChainId, u64)`, index of the pending ones by deadline |
//! | `interchain/aggregations_sent/<aggregation id hex>/<dest>` | [`AggregationSent`](state::AggregationSent) |
//! | `aggregations/<aggregation id hex>/<dest>` | [`AggregationPartial`](protocol::AggregationPartial), verified |
//! | `institutions/<id>/aggregation_key` | `[u8; 32]`, the institution's share of joint aggregation keys |
//! | `params/regulator_aggregation_key` | `[u8; 32]`, the regulator's share |
//! | `interchain/aggregation_totals/<aggregation id hex>` | [`AggregationTotal`](protocol::AggregationTotal), written by `close_aggregation` |
//! | `audit/anchors/<upto>` | [`AuditAnchor`](protocol::tx::AuditAnchor), see [`audit_anchor`] |
//! | `audit/latest_anchor` | `u64`, the latest anchored `upto` |
//!
//! `<seq>` is 20 decimal digits. A relayer proves the commitment, ack and
//! receipt keys, so the node must put in the header of block `H` the state
//! root of the state *after* block `H` (all its transactions and
//! [`App::end_block`]).
//!
//! # Validator-set changes
//!
//! `set_validators` (governance) stores the set; [`App::end_block`] of the
//! same block returns it in [`EndBlock::next_validators`]. The node puts its
//! hash in that block's `next_validators_hash`, so the next block is signed
//! by the new set, which is exactly what a light client verifies.
//!
//! # Simplifications
//!
//! - Fees of a cross-chain query move only on the source (value never
//!   crosses chains): the query's maximum fee is escrowed there when it is
//!   sent; the destination names each provider's charge in its proven
//!   acknowledgement; the source then pays each charge from the escrow to
//!   the provider's account on the source (`balances/<destination>/<provider>`)
//!   and refunds the rest, or refunds all on a refusal or a timeout (see
//!   [`interchain`]). Spending those earnings on the source needs a key
//!   there: `transfer` only moves a local institution's own balance.
//! - The fee of an answer is the sum of the query fees of the providers
//!   that answered it (fees as they were when the query was received).
//! - On-chain clients keep their newest [`interchain::MAX_STORED_HEADERS`]
//!   trusted blocks; proofs must be at one of those heights.
//! - Record commitments are append-only, at most
//!   [`MAX_RECORDS_PER_ANSWER`](protocol::sealed::MAX_RECORDS_PER_ANSWER)
//!   per enterprise and provider.

pub mod aggregation;
pub mod attestations;
pub mod audit_anchor;
pub mod auth;
pub mod consent;
mod error;
pub mod fees;
mod genesis;
pub mod governance;
pub mod interchain;
pub use protocol::state_keys as keys;
pub mod records;
pub mod sealed;
pub mod state;
mod store;
pub mod validate;

use protocol::encoding::Canonical;
use protocol::tx::{Account, SignedTransaction, TxBody};
use protocol::{ChainId, Height, PublicKey, Time, ValidatorSet};
use serde::{Deserialize, Serialize};

pub use error::{AppError, TxError};
pub use genesis::{
    GenesisBalance, GenesisEnterprise, GenesisFee, GenesisInstitution, GenesisState,
};
pub use store::{KvStore, KvStoreMut, Overlay, Writes};

pub use auth::SignatureCheck;
use auth::{NonceRule, Sender};

/// Largest accepted encoded transaction, in bytes.
pub const MAX_TX_BYTES: usize = 4 * 1024 * 1024;

/// How far past a sender's last used nonce admission goes: one full batch
/// (the node takes 5,000 transactions per `POST /txs`, and a relayer signs
/// a batch with consecutive nonces from its committed one, sending the next
/// once it is committed). A nonce further ahead could not execute before
/// thousands of others and would only hold mempool room.
pub const MAX_NONCE_AHEAD: u64 = 5_000;

/// What the node tells the state machine about the block being executed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockContext {
    /// This chain.
    pub chain_id: ChainId,
    /// The block's height.
    pub height: Height,
    /// The block's time (the header's).
    pub time: Time,
}

/// One attribute of an [`Event`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAttribute {
    /// Name.
    pub key: String,
    /// Value, as text.
    pub value: String,
}

/// Something a transaction did, for clients and relayers to follow
/// (`send_packet`, `record_committed`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: String,
    /// Details.
    pub attributes: Vec<EventAttribute>,
}

impl Event {
    /// An event without attributes.
    pub fn new(kind: &str) -> Event {
        Event {
            kind: kind.to_owned(),
            attributes: Vec::new(),
        }
    }

    /// Adds an attribute.
    pub fn attr(mut self, key: &str, value: impl std::fmt::Display) -> Event {
        self.attributes.push(EventAttribute {
            key: key.to_owned(),
            value: value.to_string(),
        });
        self
    }

    /// The kinds of event that mark a packet's life, which relayers follow.
    pub const PACKET_KINDS: [&'static str; 5] = [
        "send_packet",
        "recv_packet",
        "write_acknowledgement",
        "acknowledge_packet",
        "timeout_packet",
    ];

    /// The kinds of event that move fees on a query's source, which
    /// `relayer fees report` reads: `escrow_locked` (send),
    /// `fee_paid` and `escrow_refunded` (acknowledgement or timeout), and
    /// `fee_charges_rejected` (charges a destination had no right to).
    pub const FEE_KINDS: [&'static str; 4] = [
        "escrow_locked",
        "fee_paid",
        "escrow_refunded",
        "fee_charges_rejected",
    ];

    /// Whether this event is one of [`Event::FEE_KINDS`].
    pub fn is_fee_event(&self) -> bool {
        Event::FEE_KINDS.contains(&self.kind.as_str())
    }

    /// Whether this event is one of [`Event::PACKET_KINDS`].
    pub fn is_packet_event(&self) -> bool {
        Event::PACKET_KINDS.contains(&self.kind.as_str())
    }

    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| a.value.as_str())
    }
}

/// The outcome of delivering one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxResult {
    /// 0 on success, else [`TxError::code`].
    pub code: u32,
    /// The module of the code (empty on success).
    pub codespace: String,
    /// What was wrong (empty on success).
    pub message: String,
    /// What the transaction did (empty on failure).
    pub events: Vec<Event>,
}

impl TxResult {
    /// Whether the transaction succeeded.
    pub fn is_ok(&self) -> bool {
        self.code == 0
    }

    fn ok(events: Vec<Event>) -> TxResult {
        TxResult {
            code: 0,
            codespace: String::new(),
            message: String::new(),
            events,
        }
    }

    /// The events of kind `kind`.
    pub fn events_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| e.kind == kind)
    }
}

impl From<&TxError> for TxResult {
    fn from(e: &TxError) -> TxResult {
        TxResult {
            code: e.code(),
            codespace: e.codespace().to_owned(),
            message: e.to_string(),
            events: Vec::new(),
        }
    }
}

/// What [`App::end_block`] tells the node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndBlock {
    /// The validator set that signs from the next block, when governance
    /// changed it in this block; its hash goes in this block's
    /// `next_validators_hash`.
    pub next_validators: Option<ValidatorSet>,
    /// What the block's end did: acknowledgements of aggregations and
    /// credit queries whose deadline passed (`aggregation_finalized`,
    /// `query_finalized`, `fee_charged`, `write_acknowledgement`).
    pub events: Vec<Event>,
}

/// The state machine. All functions are associated: the state is the store.
pub struct App;

impl App {
    /// Writes the genesis state into an empty store; on error nothing is
    /// written.
    pub fn init_genesis(
        store: &mut impl KvStoreMut,
        genesis: &GenesisState,
    ) -> Result<(), AppError> {
        let mut overlay = Overlay::new(&*store);
        genesis::init(&mut overlay, genesis)?;
        overlay.into_writes().apply(store);
        Ok(())
    }

    /// Decodes a transaction from its canonical bytes.
    pub fn decode_tx(bytes: &[u8]) -> Result<SignedTransaction, TxError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(TxError::Malformed {
                reason: format!("{} bytes, at most {MAX_TX_BYTES}", bytes.len()),
            });
        }
        SignedTransaction::from_canonical_bytes(bytes).map_err(|e| TxError::Malformed {
            reason: e.to_string(),
        })
    }

    /// Mempool admission: chain id, signature, known and active sender, an
    /// unused nonce (a later one, at most [`MAX_NONCE_AHEAD`] past the last
    /// used, is admitted, to queue several transactions of one sender), the
    /// message's fields, and a query fee within the governance cap. Writes
    /// nothing.
    pub fn check_tx(
        store: &impl KvStore,
        ctx: &BlockContext,
        tx: &SignedTransaction,
    ) -> Result<(), TxError> {
        let sender = auth::authenticate(
            store,
            ctx,
            tx,
            NonceRule::NotReplayed,
            SignatureCheck::Verify,
        )?;
        validate::validate_body(&tx.tx.body)?;
        // A fee above the governance cap would fail in its block anyway:
        // refused here, it takes no mempool room.
        if let TxBody::SetQueryFee { fee } = &tx.tx.body
            && let Some(provider) = &sender.institution
        {
            fees::check_query_fee(store, &state::params(store)?, &provider.id, fee.minor_units)?;
        }
        Ok(())
    }

    /// Executes a transaction atomically: on success its writes and the
    /// nonce are applied; when its message fails only the nonce is (an
    /// unauthenticated transaction writes nothing).
    pub fn deliver_tx(
        store: &mut impl KvStoreMut,
        ctx: &BlockContext,
        tx: &SignedTransaction,
    ) -> TxResult {
        App::deliver_checked_tx(store, ctx, tx, SignatureCheck::Verify)
    }

    /// [`App::deliver_tx`], skipping the signature when the caller verified
    /// these exact bytes already (a node's admission check): everything
    /// else — chain id, sender, nonce, the message — is checked as always.
    pub fn deliver_checked_tx(
        store: &mut impl KvStoreMut,
        ctx: &BlockContext,
        tx: &SignedTransaction,
        check: SignatureCheck,
    ) -> TxResult {
        let sender = match auth::authenticate(&*store, ctx, tx, NonceRule::Next, check) {
            Ok(sender) => sender,
            Err(e) => return TxResult::from(&e),
        };
        let mut overlay = Overlay::new(&*store);
        match execute(&mut overlay, ctx, tx, sender) {
            Ok(events) => {
                overlay.into_writes().apply(store);
                TxResult::ok(events)
            }
            Err(e) => {
                drop(overlay);
                // An authenticated transaction uses its nonce even when its
                // message fails (as a Cosmos SDK ante handler does): in a
                // relayer's batch, one refused packet (a duplicate delivery,
                // an expired one) no longer leaves a gap that every later
                // transaction of the batch falls into.
                state::write(store, keys::nonce(&tx.tx.sender), &tx.tx.nonce);
                TxResult::from(&e)
            }
        }
    }

    /// [`App::deliver_tx`] on encoded bytes (code 1 when they do not decode).
    pub fn deliver_tx_bytes(
        store: &mut impl KvStoreMut,
        ctx: &BlockContext,
        bytes: &[u8],
    ) -> TxResult {
        match App::decode_tx(bytes) {
            Ok(tx) => App::deliver_tx(store, ctx, &tx),
            Err(e) => TxResult::from(&e),
        }
    }

    /// Ends a block: aggregations whose contribution deadline and credit
    /// queries whose answer deadline is at or before the block time are
    /// acknowledged (see [`aggregation`] and [`sealed`]), and a
    /// validator set decided by governance in this block is announced (and
    /// recorded under `governance/validators`).
    pub fn end_block(store: &mut impl KvStoreMut, ctx: &BlockContext) -> EndBlock {
        let mut events = aggregation::finalize_due(store, ctx);
        events.extend(sealed::finalize_due(store, ctx));
        let key = keys::pending_validators();
        // A pending value that fails to decode cannot have been written by
        // this state machine; drop it rather than halt the chain.
        let next = state::read::<ValidatorSet>(&*store, &key).ok().flatten();
        store.delete(&key);
        if let Some(set) = &next {
            state::write(store, keys::validators(), set);
        }
        EndBlock {
            next_validators: next,
            events,
        }
    }

    /// The nonce the next transaction of `sender` must carry.
    pub fn next_nonce(store: &impl KvStore, sender: &PublicKey) -> Result<u64, TxError> {
        Ok(auth::last_nonce(store, sender)?.saturating_add(1))
    }

    /// The balance of `account` in minor units of the chain's currency.
    pub fn balance(store: &impl KvStore, account: &Account) -> Result<u64, TxError> {
        fees::balance(store, account)
    }

    /// A stored value, decoded.
    pub fn read<T: borsh::BorshDeserialize>(
        store: &impl KvStore,
        key: &[u8],
    ) -> Result<Option<T>, TxError> {
        state::read(store, key)
    }
}

/// Runs an authenticated transaction's message; the nonce is written on
/// success, with the message's writes.
fn execute<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    signed: &SignedTransaction,
    sender: Sender,
) -> Result<Vec<Event>, TxError> {
    let body = &signed.tx.body;
    validate::validate_body(body)?;
    let events = match body {
        TxBody::RegisterInstitution {
            institution,
            name,
            roles,
            key,
        } => governance::register_institution(store, &sender, institution, name, roles, key),
        TxBody::SuspendInstitution {
            institution,
            reason,
        } => governance::suspend_institution(store, ctx, &sender, institution, reason),
        TxBody::ReinstateInstitution { institution } => {
            governance::reinstate_institution(store, &sender, institution)
        }
        TxBody::RegisterEnterprise { enterprise, key } => {
            governance::register_enterprise(store, &sender, enterprise, key)
        }
        TxBody::SetValidators { validators } => {
            governance::set_validators(store, &sender, validators)
        }
        TxBody::Mint { to, amount } => fees::mint(store, &sender, to, amount),
        // Refused by `validate_body` above: records stay with their provider.
        TxBody::WriteRecord { .. } => Err(TxError::WriteRecordRetired),
        TxBody::CommitRecord { commitment } => records::commit_record(store, &sender, commitment),
        TxBody::RegisterEncryptionKey { key } => {
            sealed::register_encryption_key(store, &sender, key)
        }
        TxBody::AnswerQuery {
            source,
            sequence,
            answer,
        } => sealed::answer_query(store, ctx, &sender, source, *sequence, answer),
        TxBody::GrantConsent { grant, signature } => {
            consent::grant_consent(store, ctx, grant, signature)
        }
        TxBody::RevokeConsent { consent_id } => {
            consent::revoke_consent(store, ctx, &sender, consent_id)
        }
        TxBody::IssueAttestation { attestation } => {
            attestations::issue_attestation(store, ctx, &sender, attestation)
        }
        TxBody::SetQueryFee { fee } => fees::set_query_fee(store, &sender, fee),
        TxBody::SetMaxQueryFee { fee } => fees::set_max_query_fee(store, &sender, fee),
        TxBody::Transfer { to, amount } => fees::transfer(store, &sender, to, amount),
        TxBody::CreateClient { anchor, params } => {
            interchain::create_client(store, ctx, &sender, anchor, params)
        }
        TxBody::UpdateClient { block } => interchain::update_client(store, ctx, &sender, block),
        TxBody::SubmitMisbehaviour { first, second } => {
            interchain::submit_misbehaviour(store, ctx, &sender, first, second)
        }
        TxBody::SendAttestation {
            destination,
            attestation_id,
            timeout_height,
            timeout_time,
        } => interchain::send_attestation(
            store,
            ctx,
            &sender,
            destination,
            attestation_id,
            *timeout_height,
            *timeout_time,
        ),
        TxBody::SendCreditQuery {
            destination,
            query,
            timeout_height,
            timeout_time,
        } => interchain::send_credit_query(
            store,
            ctx,
            &sender,
            destination,
            query,
            *timeout_height,
            *timeout_time,
        ),
        TxBody::SendAggregationRequest {
            destination,
            request,
            timeout_height,
            timeout_time,
        } => aggregation::send_aggregation_request(
            store,
            ctx,
            &sender,
            destination,
            request,
            *timeout_height,
            *timeout_time,
        ),
        TxBody::ContributeAggregation {
            source,
            sequence,
            ciphertext,
            records,
            proof,
        } => aggregation::contribute(
            store,
            ctx,
            &sender,
            (source, *sequence),
            ciphertext,
            proof,
            *records,
        ),
        TxBody::AnchorAuditCheckpoint {
            upto,
            merkle_root,
            head_hash,
            time,
            signature,
        } => audit_anchor::anchor_audit_checkpoint(
            store,
            ctx,
            &sender,
            protocol::tx::AuditAnchor {
                upto: *upto,
                merkle_root: *merkle_root,
                head_hash: *head_hash,
                time: *time,
                regulator: sender.key,
                signature: *signature,
            },
        ),
        TxBody::RecvPacket {
            packet,
            proof,
            proof_height,
        } => interchain::recv_packet(store, ctx, &sender, packet, proof, *proof_height),
        TxBody::AcknowledgePacket {
            packet,
            acknowledgement,
            proof,
            proof_height,
        } => interchain::acknowledge_packet(
            store,
            ctx,
            &sender,
            packet,
            acknowledgement,
            proof,
            *proof_height,
        ),
        TxBody::TimeoutPacket {
            packet,
            proof,
            proof_height,
        } => interchain::timeout_packet(store, ctx, &sender, packet, proof, *proof_height),
        TxBody::RegisterAggregationKey { key, proof } => {
            aggregation::register_aggregation_key(store, ctx, &sender, key, proof)
        }
        TxBody::SetRegulatorAggregationKey { key, proof } => {
            aggregation::set_regulator_aggregation_key(store, ctx, &sender, key, proof)
        }
        TxBody::CloseAggregation { aggregation_id } => {
            aggregation::close_aggregation(store, ctx, &sender, aggregation_id)
        }
    }?;
    state::write(store, keys::nonce(&sender.key), &signed.tx.nonce);
    Ok(events)
}
