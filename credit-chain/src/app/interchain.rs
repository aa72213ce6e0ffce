//! Interchain: on-chain light clients of other chains, and packets sent,
//! received, acknowledged and timed out with proofs against them.
//!
//! The life of a credit query, with A the source and B the destination:
//!
//! 1. `send_credit_query` on A: the query must name the requester's
//!    registered encryption key; the requester's maximum fee is escrowed
//!    (the send fails when its balance is short); the
//!    packet's commitment is written under
//!    [`keys::packet_commitment`]`(B, seq)` and the packet under
//!    [`keys::packet`]`(B, seq)`.
//! 2. `recv_packet` on B, with a membership proof of that commitment at a
//!    height of A that B's client of A trusts: unless the packet timed out
//!    on B, a receipt is written under [`keys::packet_receipt`]`(A, seq)`
//!    (a second delivery is refused). A refusal (consent, fee) or a scope
//!    without committed records is acknowledged at once; otherwise the
//!    query waits for its providers' sealed answers (see [`sealed`]) and
//!    is acknowledged when all answered or at its deadline. Either way the
//!    acknowledgement's hash is written under
//!    [`keys::packet_ack`]`(A, seq)`, the acknowledgement itself under
//!    [`keys::packet_ack_data`]`(A, seq)`.
//! 3. `acknowledge_packet` on A, with a membership proof of the
//!    acknowledgement hash at a height of B that A's client of B trusts:
//!    the commitment is deleted, each provider's charge (carried by the
//!    acknowledgement) paid from the escrow to its account on A,
//!    `balances/B/<provider>`, the rest refunded to the requester, and the
//!    acknowledgement kept under [`keys::packet_result`]`(B, seq)` for the
//!    requester to read.
//! 4. Or `timeout_packet` on A, with a non-membership proof of the receipt
//!    at a trusted height of B whose header is at or past the packet's
//!    timeout height or time: the commitment is deleted and the escrow
//!    refunded.
//!
//! Fees move only on A, so every chain's total (balances plus escrows) is
//! conserved: B computes the charges and puts them in its acknowledgement,
//! which A trusts because it is proven against B's state; A pays them from
//! the escrow, never more than was escrowed. A provider's earnings are its
//! balance on A, held in its name (`B/<provider>`).
//!
//! Timeouts are sound because B refuses a packet in any block at or past
//! its timeout, and a header's state root commits to the state after its
//! block: absent at such a height means never received.

use borsh::BorshDeserialize;
use light_clients::credit_chain::{
    ClientError, LightClient, LightClientState, Misbehaviour, Options, TrustThreshold,
    UpdateOutcome,
};
use light_clients::merkle::{MembershipProof, NonMembershipProof};
use protocol::tx::{Account, Acknowledgement, LightClientParams, Role};
use protocol::{
    Attestation, ChainId, CreditQuery, FeeCharge, Hash, Height, LightBlock, Money, Packet,
    PacketPayload, QueryOutcome, Time,
};

use super::auth::{Sender, verify_signature};
use super::error::TxError;
use super::state::{self, Escrow, InstitutionRecord, PacketResult, StoredClient};
use super::store::{KvStore, KvStoreMut, Overlay};
use super::{BlockContext, Event, aggregation, fees, keys, sealed};

/// How many trusted blocks an on-chain client keeps (the newest); proofs
/// must be at one of their heights.
pub const MAX_STORED_HEADERS: usize = 100;

/// The roles that may send credit queries.
pub const REQUESTER_ROLES: [Role; 2] = [Role::Bank, Role::CreditBureau];

/// The roles that may forward an attestation to another chain: its users
/// (lenders, bureaus) and issuers (providers, registrars).
pub const ATTESTATION_SENDERS: [Role; 4] = [
    Role::Bank,
    Role::CreditBureau,
    Role::DataProvider,
    Role::Registrar,
];

fn client_options(params: &LightClientParams) -> Result<Options, TxError> {
    let trust_threshold = TrustThreshold::new(params.trust_numerator, params.trust_denominator)
        .map_err(|e| TxError::invalid("create_client", e.to_string()))?;
    if params.trusting_period_secs == 0 {
        return Err(TxError::invalid("create_client", "trusting period is zero"));
    }
    Ok(Options {
        trust_threshold,
        trusting_period: std::time::Duration::from_secs(params.trusting_period_secs),
        clock_drift: std::time::Duration::from_secs(params.clock_drift_secs),
    })
}

/// The on-chain light client of `chain`, if this chain has one.
pub fn client(
    store: &(impl KvStore + ?Sized),
    chain: &ChainId,
) -> Result<Option<LightClient>, TxError> {
    let key = keys::client(chain);
    let Some(stored) = state::read::<StoredClient>(store, &key)? else {
        return Ok(None);
    };
    let corrupt = |reason: &str| TxError::CorruptState {
        key: keys::show(&key),
        reason: reason.to_owned(),
    };
    let options = client_options(&stored.params).map_err(|e| corrupt(&e.to_string()))?;
    let client = LightClient::from_state(LightClientState {
        options,
        trusted: stored.trusted,
        frozen: stored.frozen.map(Misbehaviour::from),
    })
    .map_err(|e| corrupt(&e.to_string()))?;
    if client.chain_id() != chain {
        return Err(corrupt(&format!("holds a client of {}", client.chain_id())));
    }
    Ok(Some(client))
}

fn load_client(
    store: &(impl KvStore + ?Sized),
    chain: &ChainId,
) -> Result<(LightClient, LightClientParams), TxError> {
    let client = client(store, chain)?.ok_or_else(|| TxError::UnknownClient(chain.clone()))?;
    // `client` succeeded, so the stored value decodes.
    let params = state::read::<StoredClient>(store, &keys::client(chain))?
        .map(|s| s.params)
        .unwrap_or_default();
    Ok((client, params))
}

fn save_client(
    store: &mut (impl KvStoreMut + ?Sized),
    client: &LightClient,
    params: LightClientParams,
) {
    let s = client.to_state();
    let skip = s.trusted.len().saturating_sub(MAX_STORED_HEADERS);
    let stored = StoredClient {
        params,
        trusted: s.trusted.into_iter().skip(skip).collect(),
        frozen: s.frozen.map(Into::into),
    };
    state::write(store, keys::client(client.chain_id()), &stored);
}

fn client_error(chain: &ChainId, what: &str, e: ClientError) -> TxError {
    match e {
        ClientError::Frozen { .. } => TxError::ClientFrozen(e.to_string()),
        ClientError::Proof(m) => TxError::InvalidProof {
            what: what.to_owned(),
            reason: m.to_string(),
        },
        ClientError::UntrustedHeight(h) => TxError::InvalidProof {
            what: what.to_owned(),
            reason: format!(
                "height {h} of {chain} is not trusted by this chain's client; update the client to it first"
            ),
        },
        other => TxError::ClientRejected {
            chain: chain.clone(),
            reason: other.to_string(),
        },
    }
}

fn decode_proof<T: BorshDeserialize>(bytes: &[u8], kind: &str, what: &str) -> Result<T, TxError> {
    borsh::from_slice(bytes).map_err(|e| TxError::InvalidProof {
        what: what.to_owned(),
        reason: format!("malformed {kind} proof: {e}"),
    })
}

/// `create_client` (governance or a relayer).
pub(crate) fn create_client<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    anchor: &LightBlock,
    params: &LightClientParams,
) -> Result<Vec<Event>, TxError> {
    sender.require_governance_or_role("create_client", &[Role::Relayer])?;
    let chain = &anchor.header().chain_id;
    if *chain == ctx.chain_id {
        return Err(TxError::invalid(
            "create_client",
            format!("the anchor is a block of this chain ({chain}), not of another"),
        ));
    }
    if store.get(&keys::client(chain)).is_some() {
        return Err(TxError::ClientExists(chain.clone()));
    }
    let options = client_options(params)?;
    // The light client checks that the anchor has not expired, not that it
    // has already happened: a future anchor would stretch its trusting
    // period and outrank every honest header.
    let latest_allowed = ctx
        .time
        .checked_add(options.clock_drift)
        .unwrap_or(Time::from_unix_nanos(u64::MAX));
    if anchor.header().time > latest_allowed {
        return Err(TxError::AnchorFromFuture {
            chain: chain.clone(),
            height: anchor.height(),
            anchor_time: anchor.header().time,
            block_time: ctx.time,
            drift_secs: params.clock_drift_secs,
        });
    }
    let client = LightClient::new(anchor.clone(), options, ctx.time)
        .map_err(|e| client_error(chain, "the anchor", e))?;
    save_client(store, &client, *params);
    Ok(vec![
        Event::new("client_created")
            .attr("chain", chain)
            .attr("height", anchor.height())
            .attr("header_hash", anchor.header().hash()),
    ])
}

/// `update_client` (a relayer).
pub(crate) fn update_client<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    block: &LightBlock,
) -> Result<Vec<Event>, TxError> {
    sender.require_role("update_client", &[Role::Relayer])?;
    let chain = &block.header().chain_id;
    let (mut client, params) = load_client(store, chain)?;
    let height = block.height();
    let event = match client
        .update(block.clone(), ctx.time)
        .map_err(|e| client_error(chain, "the header", e))?
    {
        UpdateOutcome::Verified { height, hash } => Event::new("client_updated")
            .attr("chain", chain)
            .attr("height", height)
            .attr("header_hash", hash),
        UpdateOutcome::AlreadyTrusted => Event::new("client_updated")
            .attr("chain", chain)
            .attr("height", height)
            .attr("already_trusted", true),
        UpdateOutcome::NotEnoughTrust(tally) => {
            return Err(TxError::NotEnoughTrust {
                chain: chain.clone(),
                height,
                tally: tally.to_string(),
            });
        }
        UpdateOutcome::Misbehaviour(evidence) => Event::new("client_frozen")
            .attr("chain", chain)
            .attr("height", evidence.height())
            .attr("kind", evidence.kind()),
    };
    save_client(store, &client, params);
    Ok(vec![event])
}

/// `submit_misbehaviour` (governance or any institution: the evidence
/// speaks for itself).
pub(crate) fn submit_misbehaviour<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    first: &LightBlock,
    second: &LightBlock,
) -> Result<Vec<Event>, TxError> {
    if !sender.is_governance() {
        sender.require_role("submit_misbehaviour", &[])?;
    }
    let chain = &first.header().chain_id;
    if second.header().chain_id != *chain {
        return Err(TxError::invalid(
            "submit_misbehaviour",
            format!(
                "the blocks are of two chains, {chain} and {}",
                second.header().chain_id
            ),
        ));
    }
    let (mut client, params) = load_client(store, chain)?;
    if let Some(ev) = client.frozen() {
        return Err(TxError::ClientFrozen(format!(
            "light client of {chain} is already frozen on {} evidence at height {}",
            ev.kind(),
            ev.height()
        )));
    }
    let (a, b) = (Box::new(first.clone()), Box::new(second.clone()));
    let evidence = if first.height() == second.height() {
        Misbehaviour::ConflictingHeaders {
            first: a,
            second: b,
        }
    } else if first.height() < second.height() {
        Misbehaviour::NonMonotonicTime {
            earlier: a,
            later: b,
        }
    } else {
        Misbehaviour::NonMonotonicTime {
            earlier: b,
            later: a,
        }
    };
    let (kind, height) = (evidence.kind(), evidence.height());
    client
        .submit_misbehaviour(evidence, ctx.time)
        .map_err(|e| client_error(chain, "the evidence", e))?;
    save_client(store, &client, params);
    Ok(vec![
        Event::new("client_frozen")
            .attr("chain", chain)
            .attr("height", height)
            .attr("kind", kind),
    ])
}

/// `send_credit_query` (a bank or credit bureau, the query's requester).
pub(crate) fn send_credit_query<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    destination: &ChainId,
    query: &CreditQuery,
    timeout_height: Option<Height>,
    timeout_time: Option<Time>,
) -> Result<Vec<Event>, TxError> {
    let requester = sender.require_role("send_credit_query", &REQUESTER_ROLES)?;
    if query.requester != requester.id {
        return Err(TxError::Unauthorized {
            sender: format!("institution {}", requester.id),
            action: "send_credit_query",
            needed: format!(
                "the query names requester {}; an institution may only query for itself",
                query.requester
            ),
        });
    }
    sealed::check_query_key(store, &requester.id, query)?;
    if *destination == ctx.chain_id {
        return Err(TxError::invalid(
            "send_credit_query",
            format!("destination is this chain ({destination})"),
        ));
    }
    open_client(store, destination)?;
    let params = state::params(store)?;
    fees::check_currency(&params, &query.max_fee)?;
    let sequence = next_sequence(store, destination)?;
    let account = Account::Local(requester.id.clone());
    let mut events = Vec::new();
    if query.max_fee.minor_units > 0 {
        fees::debit(store, &params, &account, query.max_fee.minor_units)?;
        state::write(
            store,
            keys::escrow(destination, sequence),
            &Escrow {
                account: account.clone(),
                amount: query.max_fee,
            },
        );
        events.push(
            Event::new("escrow_locked")
                .attr("account", &account)
                .attr("amount", query.max_fee.minor_units)
                .attr("currency", query.max_fee.currency)
                .attr("destination", destination)
                .attr("sequence", sequence),
        );
    }
    let packet = Packet {
        source: ctx.chain_id.clone(),
        destination: destination.clone(),
        sequence,
        timeout_height,
        timeout_time,
        payload: PacketPayload::CreditQuery(query.clone()),
    };
    events.insert(0, commit_packet(store, &packet));
    Ok(events)
}

/// The sequence the next packet to `destination` gets.
pub(super) fn next_sequence<S: KvStore + ?Sized>(
    store: &S,
    destination: &ChainId,
) -> Result<u64, TxError> {
    Ok(state::read::<u64>(store, &keys::next_sequence(destination))?.unwrap_or(1))
}

/// Commits `packet` (its commitment, the packet, the next sequence) and
/// returns its `send_packet` event.
pub(super) fn commit_packet<S: KvStoreMut + ?Sized>(store: &mut S, packet: &Packet) -> Event {
    let destination = &packet.destination;
    let commitment = packet.commitment();
    state::write(
        store,
        keys::packet_commitment(destination, packet.sequence),
        &commitment,
    );
    state::write(store, keys::packet(destination, packet.sequence), packet);
    state::write(
        store,
        keys::next_sequence(destination),
        &packet.sequence.saturating_add(1),
    );
    Event::new("send_packet")
        .attr("source", &packet.source)
        .attr("destination", destination)
        .attr("sequence", packet.sequence)
        .attr("commitment", commitment)
}

/// The light client of `destination`, refused when frozen (nothing is sent
/// to a chain whose client saw misbehaviour).
pub(super) fn open_client<S: KvStore + ?Sized>(
    store: &S,
    destination: &ChainId,
) -> Result<(), TxError> {
    let (client, _) = load_client(store, destination)?;
    if let Some(ev) = client.frozen() {
        return Err(TxError::ClientFrozen(format!(
            "light client of {destination} is frozen on {} evidence at height {}: nothing is sent to it until an operator acts",
            ev.kind(),
            ev.height()
        )));
    }
    Ok(())
}

/// `send_attestation`: any institution forwards an attestation stored here
/// to another chain, while it is unexpired and its issuer not suspended.
pub(crate) fn send_attestation<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    destination: &ChainId,
    attestation_id: &Hash,
    timeout_height: Option<Height>,
    timeout_time: Option<Time>,
) -> Result<Vec<Event>, TxError> {
    sender.require_role("send_attestation", &ATTESTATION_SENDERS)?;
    if *destination == ctx.chain_id {
        return Err(TxError::invalid(
            "send_attestation",
            format!("destination is this chain ({destination})"),
        ));
    }
    let attestation: Attestation = state::read(store, &keys::attestation(attestation_id))?
        .ok_or_else(|| {
            TxError::invalid(
                "send_attestation",
                format!("no attestation {attestation_id} on this chain"),
            )
        })?;
    if attestation.expires_at <= ctx.time {
        return Err(TxError::AttestationExpired {
            expires_at: attestation.expires_at,
            now: ctx.time,
        });
    }
    let issuer: Option<InstitutionRecord> =
        state::read(store, &keys::institution(&attestation.issuer))?;
    match issuer {
        None => {
            return Err(TxError::UnknownInstitution(attestation.issuer.clone()));
        }
        Some(record) => {
            if let Some(s) = record.suspension {
                return Err(TxError::invalid(
                    "send_attestation",
                    format!(
                        "issuer {} is suspended since {} ({}): its attestations are not sent",
                        attestation.issuer, s.since, s.reason
                    ),
                ));
            }
        }
    }
    open_client(store, destination)?;
    let packet = Packet {
        source: ctx.chain_id.clone(),
        destination: destination.clone(),
        sequence: next_sequence(store, destination)?,
        timeout_height,
        timeout_time,
        payload: PacketPayload::Attestation(attestation),
    };
    Ok(vec![commit_packet(store, &packet)])
}

/// A received attestation is kept only with a valid issuer signature and
/// before its expiry (at this chain's block time).
fn receive_attestation<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    source: &ChainId,
    attestation: &Attestation,
    events: &mut Vec<Event>,
) -> Acknowledgement {
    if !verify_signature(
        &attestation.issuer_key,
        &attestation.sign_bytes(),
        &attestation.signature,
    ) {
        return Acknowledgement::Error(format!(
            "attestation signature does not verify under issuer key {}",
            attestation.issuer_key
        ));
    }
    if attestation.expires_at <= ctx.time {
        return Acknowledgement::Error(format!(
            "attestation expired at {} (block time {})",
            attestation.expires_at, ctx.time
        ));
    }
    let id = super::attestations::attestation_id(attestation);
    state::write(store, keys::foreign_attestation(source, &id), attestation);
    events.push(
        Event::new("attestation_received")
            .attr("source", source)
            .attr("attestation_id", id)
            .attr("issuer", &attestation.issuer)
            .attr("enterprise", &attestation.enterprise),
    );
    Acknowledgement::Result(PacketPayload::Attestation(attestation.clone()))
}

/// Why the packet may no longer be received at `height`/`time`, if so.
fn timed_out_at(packet: &Packet, height: Height, time: Time) -> Option<String> {
    if let Some(h) = packet.timeout_height
        && height >= h
    {
        return Some(format!(
            "height {height} is at or past the timeout height {h}"
        ));
    }
    if let Some(t) = packet.timeout_time
        && time >= t
    {
        return Some(format!("time {time} is at or past the timeout time {t}"));
    }
    None
}

/// `recv_packet` (a relayer).
pub(crate) fn recv_packet<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    packet: &Packet,
    proof: &[u8],
    proof_height: Height,
) -> Result<Vec<Event>, TxError> {
    sender.require_role("recv_packet", &[Role::Relayer])?;
    if packet.destination != ctx.chain_id {
        return Err(TxError::WrongPacketRoute {
            field: "destination",
            expected: ctx.chain_id.clone(),
            got: packet.destination.clone(),
        });
    }
    let source = &packet.source;
    let sequence = packet.sequence;
    let receipt_key = keys::packet_receipt(source, sequence);
    if store.get(&receipt_key).is_some() {
        return Err(TxError::PacketAlreadyReceived {
            source_chain: source.clone(),
            sequence,
        });
    }
    if let Some(reason) = timed_out_at(packet, ctx.height, ctx.time) {
        return Err(TxError::PacketTimedOut {
            source_chain: source.clone(),
            sequence,
            reason,
        });
    }
    let (client, _) = load_client(store, source)?;
    let commitment_key = keys::packet_commitment(&ctx.chain_id, sequence);
    let what = format!("the commitment {}", keys::show(&commitment_key));
    let proof: MembershipProof = decode_proof(proof, "membership", &what)?;
    let commitment = packet.commitment();
    client
        .verify_membership(proof_height, &commitment_key, commitment.as_bytes(), &proof)
        .map_err(|e| client_error(source, &what, e))?;

    state::write(store, receipt_key, &commitment);
    let mut events = vec![
        Event::new("recv_packet")
            .attr("source", source)
            .attr("destination", &packet.destination)
            .attr("sequence", sequence)
            .attr("commitment", commitment),
    ];
    // The handler runs in its own overlay: if it fails, its writes are
    // dropped and the failure is acknowledged, the receipt stays.
    let mut handler = Overlay::new(&*store);
    // `None`: acknowledged later (a credit query or an aggregation waits
    // for its providers); only the receipt is written now.
    let (ack, writes) = match handle_packet(&mut handler, ctx, packet, &mut events) {
        Ok(ack) => (ack, Some(handler.into_writes())),
        Err(e) => (Some(Acknowledgement::Error(e.to_string())), None),
    };
    if let Some(writes) = writes {
        writes.apply(store);
    }
    if let Some(ack) = ack {
        events.push(write_acknowledgement(store, source, sequence, &ack));
    }
    Ok(events)
}

/// Takes from a deadline index (keys between `prefix` and `due`, values
/// the borsh `(source, sequence)` of the pending packet) at most `max`
/// entries due, deleting each index entry — a bad one too, so it is not
/// retried forever — and returns the packets of those that decode. The
/// asynchronous acknowledgements (sealed answers, aggregations) finalize
/// what it returns in `end_block`.
pub(crate) fn take_due<S: KvStoreMut + ?Sized>(
    store: &mut S,
    prefix: &[u8],
    due: &[u8],
    max: usize,
) -> Vec<(ChainId, u64)> {
    let entries = store.scan_range(prefix, due);
    let mut out = Vec::new();
    for (index_key, value) in entries.into_iter().take(max) {
        store.delete(&index_key);
        if let Ok(packet) = state::decode::<(ChainId, u64)>(&index_key, &value) {
            out.push(packet);
        }
    }
    out
}

/// Writes the acknowledgement of packet `sequence` from `source` (its hash,
/// which the source is proven, and the acknowledgement itself) and returns
/// the `write_acknowledgement` event relayers follow. Used on receipt, and
/// later for asynchronous acknowledgements (credit queries, aggregations).
pub(crate) fn write_acknowledgement<S: KvStoreMut + ?Sized>(
    store: &mut S,
    source: &ChainId,
    sequence: u64,
    ack: &Acknowledgement,
) -> Event {
    let ack_hash = ack.hash();
    state::write(store, keys::packet_ack(source, sequence), &ack_hash);
    state::write(store, keys::packet_ack_data(source, sequence), ack);
    Event::new("write_acknowledgement")
        .attr("source", source)
        .attr("sequence", sequence)
        .attr("ack_hash", ack_hash)
        .attr("outcome", outcome(ack))
}

/// A short name of what an acknowledgement says.
pub fn outcome(ack: &Acknowledgement) -> &'static str {
    match ack {
        Acknowledgement::Result(PacketPayload::CreditResponse(r)) => match r.outcome {
            QueryOutcome::Answered => "answered",
            QueryOutcome::ConsentRefused(_) => "consent_refused",
            QueryOutcome::FeeRefused(_) => "fee_refused",
        },
        Acknowledgement::Result(_) => "result",
        Acknowledgement::Error(_) => "error",
    }
}

/// Handles a received packet: `Some` acknowledgement to write now, or
/// `None` when it is written later (a credit query, acknowledged when its
/// providers have answered or at its deadline; an aggregation request,
/// when its providers have contributed or at its deadline).
fn handle_packet<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    packet: &Packet,
    events: &mut Vec<Event>,
) -> Result<Option<Acknowledgement>, TxError> {
    match &packet.payload {
        PacketPayload::CreditQuery(query) => {
            sealed::receive_query(store, ctx, packet, query, events)
        }
        PacketPayload::Attestation(attestation) => Ok(Some(receive_attestation(
            store,
            ctx,
            &packet.source,
            attestation,
            events,
        ))),
        PacketPayload::AggregationRequest(request) => {
            aggregation::receive_request(store, ctx, packet, request, events)
        }
        other => Ok(Some(Acknowledgement::Error(format!(
            "{} packets are not handled by this chain",
            payload_name(other)
        )))),
    }
}

fn payload_name(p: &PacketPayload) -> &'static str {
    match p {
        PacketPayload::CreditQuery(_) => "credit_query",
        PacketPayload::CreditResponse(_) => "credit_response",
        PacketPayload::Attestation(_) => "attestation",
        PacketPayload::AggregationRequest(_) => "aggregation_request",
        PacketPayload::AggregationPartial(_) => "aggregation_partial",
        PacketPayload::ChainRegistration(_) => "chain_registration",
    }
}

/// Checks that `packet` is one this chain sent and still has in flight.
fn check_in_flight(
    store: &(impl KvStore + ?Sized),
    ctx: &BlockContext,
    packet: &Packet,
) -> Result<(), TxError> {
    if packet.source != ctx.chain_id {
        return Err(TxError::WrongPacketRoute {
            field: "source",
            expected: ctx.chain_id.clone(),
            got: packet.source.clone(),
        });
    }
    let destination = &packet.destination;
    let sequence = packet.sequence;
    let committed: Hash = state::read(store, &keys::packet_commitment(destination, sequence))?
        .ok_or_else(|| TxError::UnknownPacket {
            destination: destination.clone(),
            sequence,
        })?;
    let given = packet.commitment();
    if committed != given {
        return Err(TxError::CommitmentMismatch {
            destination: destination.clone(),
            sequence,
            committed,
            given,
        });
    }
    Ok(())
}

/// Deletes the packet's commitment, settles its escrow (see
/// [`settle_escrow`]) and records how it ended.
fn close_packet<S: KvStoreMut + ?Sized>(
    store: &mut S,
    packet: &Packet,
    result: &PacketResult,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (destination, sequence) = (&packet.destination, packet.sequence);
    store.delete(&keys::packet_commitment(destination, sequence));
    store.delete(&keys::packet(destination, sequence));
    let escrow_key = keys::escrow(destination, sequence);
    if let Some(escrow) = state::read::<Escrow>(store, &escrow_key)? {
        store.delete(&escrow_key);
        let ack = match result {
            PacketResult::Acknowledged(ack) => Some(ack.as_ref()),
            PacketResult::TimedOut => None,
        };
        settle_escrow(store, packet, &escrow, ack, events)?;
    }
    state::write(store, keys::packet_result(destination, sequence), result);
    Ok(())
}

/// The fee charges an acknowledgement of `packet` carries: those of an
/// answered credit query, none for anything else (a refusal, an error, a
/// packet of another kind).
fn charges_of<'a>(packet: &Packet, ack: &'a Acknowledgement) -> &'a [FeeCharge] {
    match (&packet.payload, ack) {
        (
            PacketPayload::CreditQuery(_),
            Acknowledgement::Result(PacketPayload::CreditResponse(r)),
        ) if r.outcome == QueryOutcome::Answered => &r.charges,
        _ => &[],
    }
}

/// Why `charges` cannot be paid out of `escrow`, if so: another currency,
/// more than escrowed, or a total that differs from the response's
/// `fee_charged`. The acknowledgement is proven, so only a faulty or lying
/// destination chain sends such charges; paying them would create money.
fn invalid_charges(
    escrow: &Escrow,
    charges: &[FeeCharge],
    fee_charged: Option<&Money>,
) -> Option<String> {
    let mut total: u64 = 0;
    for c in charges {
        if c.fee.currency != escrow.amount.currency {
            return Some(format!(
                "provider {} charges in {}, the escrow is in {}",
                c.provider, c.fee.currency, escrow.amount.currency
            ));
        }
        total = match total.checked_add(c.fee.minor_units) {
            Some(t) => t,
            None => return Some("the charges overflow".to_owned()),
        };
    }
    if total > escrow.amount.minor_units {
        return Some(format!(
            "the charges total {total} {}, more than the {} escrowed",
            escrow.amount.currency, escrow.amount.minor_units
        ));
    }
    if let Some(declared) = fee_charged
        && !charges.is_empty()
        && (declared.minor_units != total || declared.currency != escrow.amount.currency)
    {
        return Some(format!(
            "the charges total {total} {} but the response declares {} {}",
            escrow.amount.currency, declared.minor_units, declared.currency
        ));
    }
    None
}

/// Settles the escrow of a closed packet on its source.
///
/// On an acknowledgement of an answered credit query, each provider's
/// charge is paid from the escrow to its account on this chain,
/// `balances/<destination>/<provider>` (an [`Account::Remote`]: the
/// provider's earnings are kept on the requester's chain, as value never
/// crosses chains), with a `fee_paid` event; the rest is refunded to the
/// requester (`escrow_refunded`). A refusal, an error, a timeout: all is
/// refunded. Charges that cannot be valid (see [`invalid_charges`]) are
/// not paid: all is refunded and a `fee_charges_rejected` event says why,
/// so a lying destination can neither create money nor keep the escrow
/// locked. The escrow's amount is thus conserved exactly: paid + refunded.
fn settle_escrow<S: KvStoreMut + ?Sized>(
    store: &mut S,
    packet: &Packet,
    escrow: &Escrow,
    ack: Option<&Acknowledgement>,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (destination, sequence) = (&packet.destination, packet.sequence);
    let mut charges = ack.map_or(&[][..], |a| charges_of(packet, a));
    let fee_charged = match ack {
        Some(Acknowledgement::Result(PacketPayload::CreditResponse(r))) => Some(&r.fee_charged),
        _ => None,
    };
    if let Some(reason) = invalid_charges(escrow, charges, fee_charged) {
        events.push(
            Event::new("fee_charges_rejected")
                .attr("destination", destination)
                .attr("sequence", sequence)
                .attr("reason", reason),
        );
        charges = &[];
    }
    let mut rest = escrow.amount.minor_units;
    for c in charges {
        let payee = Account::Remote {
            chain: destination.clone(),
            institution: c.provider.clone(),
        };
        fees::credit(store, &payee, c.fee.minor_units)?;
        // `invalid_charges` checked the sum is at most the escrow.
        rest = rest.saturating_sub(c.fee.minor_units);
        events.push(
            Event::new("fee_paid")
                .attr("payer", &escrow.account)
                .attr("payee", &payee)
                .attr("amount", c.fee.minor_units)
                .attr("currency", c.fee.currency)
                .attr("destination", destination)
                .attr("sequence", sequence),
        );
    }
    if rest > 0 {
        fees::credit(store, &escrow.account, rest)?;
        events.push(
            Event::new("escrow_refunded")
                .attr("account", &escrow.account)
                .attr("amount", rest)
                .attr("currency", escrow.amount.currency)
                .attr("destination", destination)
                .attr("sequence", sequence),
        );
    }
    Ok(())
}

/// `acknowledge_packet` (a relayer).
pub(crate) fn acknowledge_packet<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    packet: &Packet,
    ack: &Acknowledgement,
    proof: &[u8],
    proof_height: Height,
) -> Result<Vec<Event>, TxError> {
    sender.require_role("acknowledge_packet", &[Role::Relayer])?;
    check_in_flight(store, ctx, packet)?;
    let destination = &packet.destination;
    let (client, _) = load_client(store, destination)?;
    let ack_key = keys::packet_ack(&ctx.chain_id, packet.sequence);
    let what = format!("the acknowledgement {}", keys::show(&ack_key));
    let proof: MembershipProof = decode_proof(proof, "membership", &what)?;
    client
        .verify_membership(proof_height, &ack_key, ack.hash().as_bytes(), &proof)
        .map_err(|e| client_error(destination, &what, e))?;
    let mut events = vec![
        Event::new("acknowledge_packet")
            .attr("destination", destination)
            .attr("sequence", packet.sequence)
            .attr("outcome", outcome(ack)),
    ];
    close_packet(
        store,
        packet,
        &PacketResult::Acknowledged(Box::new(ack.clone())),
        &mut events,
    )?;
    if let PacketPayload::AggregationRequest(request) = &packet.payload {
        aggregation::acknowledged(store, packet, request, ack, &mut events);
    }
    Ok(events)
}

/// `timeout_packet` (a relayer).
pub(crate) fn timeout_packet<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    packet: &Packet,
    proof: &[u8],
    proof_height: Height,
) -> Result<Vec<Event>, TxError> {
    sender.require_role("timeout_packet", &[Role::Relayer])?;
    check_in_flight(store, ctx, packet)?;
    let destination = &packet.destination;
    let (client, _) = load_client(store, destination)?;
    let receipt_key = keys::packet_receipt(&ctx.chain_id, packet.sequence);
    let what = format!("the absence of receipt {}", keys::show(&receipt_key));
    let header = client
        .trusted_at(proof_height)
        .map(|b| b.header().clone())
        .ok_or_else(|| {
            client_error(
                destination,
                &what,
                ClientError::UntrustedHeight(proof_height),
            )
        })?;
    if timed_out_at(packet, header.height, header.time).is_none() {
        return Err(TxError::TimeoutNotReached {
            destination: destination.clone(),
            sequence: packet.sequence,
            proof_height,
            reason: format!(
                "header time {} is before the timeout time {}, and height {} before the timeout height {}",
                header.time,
                packet
                    .timeout_time
                    .map_or_else(|| "(none)".to_owned(), |t| t.to_string()),
                header.height,
                packet
                    .timeout_height
                    .map_or_else(|| "(none)".to_owned(), |h| h.to_string()),
            ),
        });
    }
    let proof: NonMembershipProof = decode_proof(proof, "non-membership", &what)?;
    client
        .verify_non_membership(proof_height, &receipt_key, &proof)
        .map_err(|e| client_error(destination, &what, e))?;
    let mut events = vec![
        Event::new("timeout_packet")
            .attr("destination", destination)
            .attr("sequence", packet.sequence),
    ];
    close_packet(store, packet, &PacketResult::TimedOut, &mut events)?;
    if let PacketPayload::AggregationRequest(request) = &packet.payload {
        aggregation::timed_out(packet, request, &mut events);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use protocol::{CreditResponse, Currency, EnterpriseId};

    use super::*;

    fn cny(minor_units: u64) -> Money {
        Money {
            minor_units,
            currency: Currency::CNY,
        }
    }

    fn query_packet(max_fee: u64) -> Packet {
        Packet {
            source: "shaanxi".parse().unwrap(),
            destination: "guangdong".parse().unwrap(),
            sequence: 7,
            timeout_height: None,
            timeout_time: None,
            payload: PacketPayload::CreditQuery(CreditQuery {
                requester: "bank-a".parse().unwrap(),
                enterprise: "91350100M000100Y43".parse::<EnterpriseId>().unwrap(),
                kinds: Vec::new(),
                purpose: "loan".into(),
                consent_id: Hash::ZERO,
                max_fee: cny(max_fee),
                encryption_key: protocol::sealed::EncryptionKey([9; 32]),
            }),
        }
    }

    fn answered(charges: &[(&str, Money)]) -> Acknowledgement {
        let total = charges
            .iter()
            .fold(0u64, |t, (_, m)| t.saturating_add(m.minor_units));
        Acknowledgement::Result(PacketPayload::CreditResponse(CreditResponse {
            query_packet: Hash::ZERO,
            outcome: QueryOutcome::Answered,
            answers: Vec::new(),
            missing: Vec::new(),
            fee_charged: cny(total),
            charges: charges
                .iter()
                .map(|(p, fee)| FeeCharge {
                    provider: p.parse().unwrap(),
                    fee: *fee,
                })
                .collect(),
        }))
    }

    /// Settles an escrow of `escrowed` against `ack`; returns the store and
    /// the event kinds.
    fn settle(
        escrowed: u64,
        ack: Option<&Acknowledgement>,
    ) -> (BTreeMap<Vec<u8>, Vec<u8>>, Vec<Event>) {
        let mut store = BTreeMap::new();
        let escrow = Escrow {
            account: Account::Local("bank-a".parse().unwrap()),
            amount: cny(escrowed),
        };
        let mut events = Vec::new();
        settle_escrow(
            &mut store,
            &query_packet(escrowed),
            &escrow,
            ack,
            &mut events,
        )
        .unwrap();
        (store, events)
    }

    fn balance(store: &BTreeMap<Vec<u8>, Vec<u8>>, account: &str) -> u64 {
        fees::balance(store, &account.parse().unwrap()).unwrap()
    }

    fn total(store: &BTreeMap<Vec<u8>, Vec<u8>>) -> u64 {
        store
            .values()
            .map(|v| borsh::from_slice::<u64>(v).unwrap())
            .sum()
    }

    #[test]
    fn fees_are_paid_from_the_escrow_and_the_rest_refunded() {
        let ack = answered(&[("provider-a", cny(500)), ("provider-b", cny(300))]);
        let (store, events) = settle(1_000, Some(&ack));
        assert_eq!(balance(&store, "guangdong/provider-a"), 500);
        assert_eq!(balance(&store, "guangdong/provider-b"), 300);
        assert_eq!(balance(&store, "bank-a"), 200);
        assert_eq!(total(&store), 1_000);
        let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["fee_paid", "fee_paid", "escrow_refunded"]);
        assert_eq!(events[0].get("payer"), Some("bank-a"));
        assert_eq!(events[0].get("payee"), Some("guangdong/provider-a"));
        assert_eq!(events[0].get("sequence"), Some("7"));
        assert_eq!(events[2].get("amount"), Some("200"));
    }

    #[test]
    fn fees_paid_exactly_the_escrow_leave_no_refund() {
        let ack = answered(&[("provider-a", cny(1_000))]);
        let (store, events) = settle(1_000, Some(&ack));
        assert_eq!(balance(&store, "guangdong/provider-a"), 1_000);
        assert_eq!(balance(&store, "bank-a"), 0);
        assert!(events.iter().all(|e| e.kind != "escrow_refunded"));
    }

    #[test]
    fn refusals_errors_and_timeouts_refund_everything() {
        let refusal = Acknowledgement::Result(PacketPayload::CreditResponse(CreditResponse {
            query_packet: Hash::ZERO,
            outcome: QueryOutcome::ConsentRefused("no consent".into()),
            answers: Vec::new(),
            missing: Vec::new(),
            fee_charged: cny(0),
            // Charges on a refusal are ignored.
            charges: vec![FeeCharge {
                provider: "provider-a".parse().unwrap(),
                fee: cny(100),
            }],
        }));
        let error = Acknowledgement::Error("boom".into());
        for ack in [Some(&refusal), Some(&error), None] {
            let (store, events) = settle(800, ack);
            assert_eq!(balance(&store, "bank-a"), 800, "{ack:?}");
            assert_eq!(balance(&store, "guangdong/provider-a"), 0);
            let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
            assert_eq!(kinds, ["escrow_refunded"]);
        }
    }

    #[test]
    fn charges_beyond_the_escrow_are_not_paid() {
        // A lying destination: more than escrowed, another currency, or a
        // declared total that is not the sum. Nothing is paid, all refunded.
        let over = answered(&[("provider-a", cny(600)), ("provider-b", cny(600))]);
        let usd = Money {
            minor_units: 10,
            currency: "USD".parse().unwrap(),
        };
        let foreign = answered(&[("provider-a", usd)]);
        let mut understated = answered(&[("provider-a", cny(300))]);
        if let Acknowledgement::Result(PacketPayload::CreditResponse(r)) = &mut understated {
            r.fee_charged = cny(100);
        }
        let overflow = answered(&[("provider-a", cny(u64::MAX)), ("provider-b", cny(2))]);
        for (ack, needle) in [
            (&over, "more than the 1000 escrowed"),
            (&foreign, "charges in USD"),
            (&understated, "declares 100 CNY"),
            (&overflow, "overflow"),
        ] {
            let (store, events) = settle(1_000, Some(ack));
            assert_eq!(balance(&store, "bank-a"), 1_000);
            assert_eq!(total(&store), 1_000);
            let rejected = events
                .iter()
                .find(|e| e.kind == "fee_charges_rejected")
                .expect("a rejection event");
            let reason = rejected.get("reason").unwrap();
            assert!(reason.contains(needle), "{reason}");
            assert!(events.iter().all(|e| e.kind != "fee_paid"));
        }
    }
}
