//! Joint credit totals under homomorphic encryption ("multi-head lending"):
//! institution A asks for enterprise M's total outstanding amount over every
//! institution of every chain, and no institution reveals its own amount —
//! not to A, not to the chains, not to the relayers.
//!
//! # Design
//!
//! The scheme is exponential ElGamal over Ristretto255 (the
//! `credit-homomorphic` crate) under a **two-party joint key**: the
//! requester A and the regulator's supervision node R each hold a
//! [`KeyShare`](homomorphic::KeyShare), and every request is sent under
//! `Y = Y_A + Y_R` ([`joint_aggregation_key`]). The chains add the
//! providers' ciphertexts; A closes the aggregation, which writes the sum of
//! every chain's partial as one [`AggregationTotal`]; R releases its
//! decryption share for that total only — never for a partial — and A
//! combines it with its own. So A learns the total over all chains and
//! nothing about any one chain's (or, with one provider on a chain, any one
//! provider's) amount; R learns nothing at all (it never holds A's share).
//!
//! 0. A registers its share once (`register_aggregation_key`, a bank or
//!    credit bureau) and governance sets R's
//!    (`set_regulator_aggregation_key`), each with a Schnorr proof of
//!    knowledge of the share's secret bound to [`key_share_context`] (this
//!    chain and the party). Without the proof A could register
//!    `x·G − Y_R`, making the joint key `x·G`, which it alone opens (a
//!    rogue key); it knows no discrete log of that point, so it cannot
//!    prove one ([`TxError::InvalidKeyShare`]). Both are stored under
//!    [`keys::aggregation_key`] and [`keys::regulator_aggregation_key`].
//!
//! **Why the supervision node is the second party.** It already sees every
//! cross-chain packet's metadata (it follows all chains with light clients
//! and keeps the audit log), so holding a share teaches it nothing new; it
//! is independent of every lender, so no lender can collude with itself to
//! open a partial; and it is online, so a release needs no quorum to show
//! up. A validator committee holding a threshold key would need a
//! distributed key generation, a liveness guarantee of its own and a
//! decryption protocol among validators of every chain — much more
//! machinery for a second party that is no more independent.
//!
//! **Known limit: differencing.** A total over chains {B, C} and another
//! over {B} tell their difference, C's partial. R's release policy
//! mitigates it: it releases only totals with at least K providers
//! (`aggregation_threshold` of the supervision node) and logs every release
//! in its audit log, so overlapping aggregations by one requester are
//! visible to the regulator. It does not prevent them.
//!
//! **Encryption is done by each data provider itself**, off chain, with its
//! own randomness. The chain cannot encrypt for them: its execution is
//! deterministic and public, so any randomness it used would be derivable by
//! everyone, and a ciphertext whose randomness is known decrypts without the
//! key (`m·G = c2 − r·Y`, and `m` is small) — every amount would leak. So
//! the chain only ever sees ciphertexts, adds them, and never holds an
//! amount in plaintext: the pending aggregation stores the expected and
//! contributing providers and the encrypted running sum, nothing else.
//!
//! Hence acknowledgements are **asynchronous**:
//!
//! 1. `send_aggregation_request` on A (a bank or credit bureau, as the
//!    request's requester; no fee yet) requires the request's key to be the
//!    joint key of A's registered share and R's
//!    ([`TxError::NoAggregationKey`], [`TxError::NoRegulatorAggregationKey`],
//!    [`TxError::WrongAggregationKey`]) and the aggregation not to be
//!    closed ([`TxError::AggregationAlreadyClosed`]), commits the packet
//!    like a credit query and remembers who sent the aggregation to that
//!    destination, about whom and under which key
//!    ([`keys::aggregation_sent`]; every destination of one aggregation
//!    gets the same enterprise and key, so the partials add up).
//! 2. `recv_packet` on B writes the receipt, checks consent exactly as for a
//!    credit query ([`consent::refusal`]; a refusal, an unknown scheme, a
//!    bad key or a deadline not in `(now, now + MAX_CONTRIBUTION_WINDOW]`
//!    is acknowledged at once with an error), determines the expected
//!    providers (the institutions holding records of the enterprise of the
//!    kinds asked for), stores a [`PendingAggregation`] (with the request
//!    as received, so that a provider's agent reads what to sum from this
//!    chain alone) under [`keys::pending_aggregation`] with an entry in the
//!    deadline index [`keys::aggregation_deadline`], emits
//!    `aggregation_requested` (source,
//!    sequence, enterprise, expected providers, deadline, the encryption
//!    key) and writes **no acknowledgement yet**. (With no expected
//!    provider it acknowledges at once: 0 of 0.) The relayer's ack stage
//!    skips packets whose acknowledgement is not written, so it simply picks
//!    it up later.
//! 3. Each expected provider (role data provider, once, before the
//!    deadline) sends `contribute_aggregation` with its own amount in fen
//!    encrypted under A's key as two limbs (yuan = amount / 100 and
//!    fen = amount % 100, a [`FenCiphertext`]: 128 bytes) and a
//!    [`ContributionProof`] (1,056 bytes). The ciphertext is validated
//!    ([`TxError::MalformedCiphertext`], [`TxError::CiphertextNotOnCurve`]),
//!    the proof is verified against it, A's key and
//!    [`contribution_context`] (which aggregation, on which chain, from
//!    which provider) — a missing, malformed or failing proof is
//!    [`TxError::InvalidContributionProof`] — and only then is it added
//!    homomorphically to the running sum.
//! 4. Finalization writes the acknowledgement
//!    `Result(AggregationPartial { providers, expected, missing, ciphertext
//!    = the sum, proof: empty })` and emits `write_acknowledgement` exactly
//!    as a synchronous receipt does: in the contributing transaction when
//!    the last expected provider contributed, else in
//!    [`App::end_block`](super::App::end_block) of the first block whose
//!    time is at or after the deadline (found by a range scan of the
//!    deadline index, never a scan of every pending aggregation). With no
//!    contribution the ciphertext is `FenCiphertext::zero()` and
//!    `providers == 0` says so.
//! 5. `acknowledge_packet` on A stores the partial under
//!    [`keys::aggregation_partial`]`(aggregation id, B)` — all partials of
//!    one aggregation share the prefix [`keys::aggregation_partials`], and
//!    each is provable — and emits `aggregation_partial_received`. A timeout
//!    leaves it absent (and allows the request to be sent again): the
//!    chain is missing, never zero.
//! 6. `close_aggregation` on A (the requester), once every destination
//!    acknowledged or timed out ([`TxError::AggregationStillOpen`] names
//!    the chain still in flight), writes the [`AggregationTotal`] under
//!    [`keys::aggregation_total`]: the sum of the partials' ciphertexts,
//!    the providers summed over them, the chains in it and the chains
//!    missing (refused or timed out), and the block time; emits
//!    `aggregation_closed`. It is written once; no request with the id is
//!    sent after.
//! 7. R's supervision node, asked for its share of that total, reads it
//!    from A's state through its light client, refuses when `providers` is
//!    below its threshold, and otherwise returns its
//!    [`DecryptionShare`](homomorphic::DecryptionShare) with a DLEQ proof
//!    bound to [`decryption_share_context`]; A verifies it against R's
//!    registered share and combines.
//!
//! # Well-formedness proofs
//!
//! The proof shows, in zero knowledge, that each limb `(c1, c2) = (r·G,
//! m·G + r·Y)` under A's key `Y` has `m` in range (yuan limb in
//! `0..=2^40−1`, fen limb in `0..=99`: an aggregated Bulletproof over `c2`
//! and its complement) and that `c1` and `c2` share the same `r` (a Sigma
//! proof). So no provider can subtract from the total (a "negative"
//! amount) or push it out of the decryptable range; and because the proof
//! is bound to A's key and to this contribution, it cannot be copied from
//! another provider or aggregation. The partial sum then needs no proof of
//! its own (its `proof` field stays empty): the sum is this chain's own
//! deterministic computation over verified contributions, and the
//! acknowledgement is proven to A's chain by its Merkle proof against this
//! chain's header.
//!
//! Limits: nothing proves that a provider encrypted its *true* amount (only
//! that it is a well-formed amount in range); the record counts are
//! self-reported. Re-registering a share (or R's) changes the joint key of
//! later aggregations only: one aggregation's requests all carry the key
//! of its first, and its total is decrypted with the shares of that key.

use borsh::BorshSerialize;
use homomorphic::{ContributionProof, Error as HeError, FenCiphertext, KeyShareProof};
use protocol::tx::{Acknowledgement, Role};
use protocol::{
    AggregationPartial, AggregationRequest, AggregationTotal, ChainId, Hash, Height, InstitutionId,
    Packet, PacketPayload, Time,
};

use super::auth::Sender;
use super::error::TxError;
use super::interchain::{
    REQUESTER_ROLES, commit_packet, next_sequence, open_client, write_acknowledgement,
};
use super::state::{self, AggregationSent, PacketResult, PendingAggregation};
use super::store::{KvStore, KvStoreMut};
use super::{BlockContext, Event, consent, keys, records};

/// The latest contribution deadline a chain accepts, after the block that
/// receives the request: pending aggregations do not accumulate forever.
pub const MAX_CONTRIBUTION_WINDOW: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);

/// At most this many aggregations are finalized by one `end_block`; the
/// rest are in the next block.
pub const MAX_FINALIZED_PER_BLOCK: usize = 1_000;

fn names(ids: &[InstitutionId]) -> String {
    ids.iter()
        .map(InstitutionId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// The context every contribution's [`ContributionProof`] is bound to:
/// the aggregation, the chain that sums it (the request's destination), the
/// request packet (source chain and sequence) and the contributing
/// provider. Providers prove against it; the chain verifies against it.
///
/// ```
/// use credit_chain::app::aggregation::contribution_context;
/// use protocol::{ChainId, Hash, InstitutionId};
///
/// let id = Hash::tagged(b"example", &[b"1"]);
/// let chain: ChainId = "guangdong".parse().unwrap();
/// let source: ChainId = "shaanxi".parse().unwrap();
/// let a: InstitutionId = "provider-a".parse().unwrap();
/// let b: InstitutionId = "provider-b".parse().unwrap();
/// assert_ne!(
///     contribution_context(&id, &chain, &source, 7, &a),
///     contribution_context(&id, &chain, &source, 7, &b)
/// );
/// ```
pub fn contribution_context(
    aggregation_id: &protocol::Hash,
    chain: &ChainId,
    source: &ChainId,
    sequence: u64,
    provider: &InstitutionId,
) -> Vec<u8> {
    let mut context = b"credit-chain/contribute_aggregation/v1".to_vec();
    (aggregation_id, chain, source, sequence, provider)
        .serialize(&mut context)
        .expect("writing to a Vec cannot fail");
    context
}

/// Whose share of the joint aggregation key a proof of knowledge is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyShareOwner<'a> {
    /// A requesting institution (bank or credit bureau).
    Institution(&'a InstitutionId),
    /// The regulator's supervision node.
    Regulator,
}

impl std::fmt::Display for KeyShareOwner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyShareOwner::Institution(id) => write!(f, "institution {id}"),
            KeyShareOwner::Regulator => f.write_str("the regulator"),
        }
    }
}

/// The context a key share's [`KeyShareProof`] is bound to: this chain and
/// the party registering it. A proof made for one chain or party does not
/// verify for another, so a share's registration cannot be replayed as
/// someone else's.
///
/// ```
/// use credit_chain::app::aggregation::{KeyShareOwner, key_share_context};
/// use protocol::{ChainId, InstitutionId};
///
/// let chain: ChainId = "shaanxi".parse().unwrap();
/// let bank: InstitutionId = "bank-a".parse().unwrap();
/// assert_ne!(
///     key_share_context(&chain, KeyShareOwner::Institution(&bank)),
///     key_share_context(&chain, KeyShareOwner::Regulator)
/// );
/// ```
pub fn key_share_context(chain: &ChainId, owner: KeyShareOwner<'_>) -> Vec<u8> {
    // Institution ids never contain '/', so neither form is the other.
    let party = match owner {
        KeyShareOwner::Institution(id) => format!("institution/{id}"),
        KeyShareOwner::Regulator => "regulator".to_owned(),
    };
    let mut context = b"credit-chain/aggregation-key-share/v1".to_vec();
    (chain, party)
        .serialize(&mut context)
        .expect("writing to a Vec cannot fail");
    context
}

/// The context the supervision node's
/// [`DecryptionShare`](homomorphic::DecryptionShare) for a closed
/// aggregation's total is bound to: the chain holding the
/// [`AggregationTotal`] and the aggregation. The node proves against it;
/// the requester verifies against it.
pub fn decryption_share_context(chain: &ChainId, aggregation_id: &Hash) -> Vec<u8> {
    let mut context = b"credit-chain/aggregation-decryption-share/v1".to_vec();
    (chain, aggregation_id)
        .serialize(&mut context)
        .expect("writing to a Vec cannot fail");
    context
}

/// Decodes a key share and checks its proof of knowledge for `context`.
fn proven_share(
    owner: KeyShareOwner<'_>,
    key: &[u8],
    proof: &[u8],
    context: &[u8],
) -> Result<homomorphic::PublicKey, TxError> {
    let refused = |e: HeError| TxError::InvalidKeyShare {
        owner: owner.to_string(),
        reason: e.to_string(),
    };
    let public = homomorphic::PublicKey::from_bytes(key).map_err(refused)?;
    KeyShareProof::from_bytes(proof)
        .and_then(|p| p.verify(&public, context))
        .map_err(refused)?;
    Ok(public)
}

/// `register_aggregation_key` (a bank or credit bureau): its share of the
/// joint keys its aggregations are sent under, with a proof that it knows
/// the share's secret. Registering again replaces the share (requests sent
/// before stay under the key they were sent with).
pub(crate) fn register_aggregation_key<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    key: &[u8],
    proof: &[u8],
) -> Result<Vec<Event>, TxError> {
    let institution = sender.require_role("register_aggregation_key", &REQUESTER_ROLES)?;
    let owner = KeyShareOwner::Institution(&institution.id);
    let context = key_share_context(&ctx.chain_id, owner);
    let public = proven_share(owner, key, proof, &context)?;
    state::write(
        store,
        keys::aggregation_key(&institution.id),
        &public.to_bytes(),
    );
    Ok(vec![
        Event::new("aggregation_key_registered")
            .attr("institution", &institution.id)
            .attr("key", public),
    ])
}

/// `set_regulator_aggregation_key` (governance): the regulator's share of
/// every joint key, with its proof of knowledge.
pub(crate) fn set_regulator_aggregation_key<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    key: &[u8],
    proof: &[u8],
) -> Result<Vec<Event>, TxError> {
    sender.require_governance("set_regulator_aggregation_key")?;
    let owner = KeyShareOwner::Regulator;
    let context = key_share_context(&ctx.chain_id, owner);
    let public = proven_share(owner, key, proof, &context)?;
    state::write(store, keys::regulator_aggregation_key(), &public.to_bytes());
    Ok(vec![
        Event::new("regulator_aggregation_key_set").attr("key", public),
    ])
}

/// A stored key share (32 bytes).
fn stored_share(
    store: &(impl KvStore + ?Sized),
    key: &[u8],
) -> Result<Option<homomorphic::PublicKey>, TxError> {
    let Some(bytes) = state::read::<[u8; 32]>(store, key)? else {
        return Ok(None);
    };
    homomorphic::PublicKey::from_bytes(&bytes)
        .map(Some)
        .map_err(|e| TxError::CorruptState {
            key: keys::show(key),
            reason: e.to_string(),
        })
}

/// The joint key `requester`'s aggregations must be sent under: its
/// registered share plus the regulator's.
pub fn joint_aggregation_key(
    store: &(impl KvStore + ?Sized),
    requester: &InstitutionId,
) -> Result<homomorphic::PublicKey, TxError> {
    let own = stored_share(store, &keys::aggregation_key(requester))?
        .ok_or_else(|| TxError::NoAggregationKey(requester.clone()))?;
    let regulator = stored_share(store, &keys::regulator_aggregation_key())?
        .ok_or(TxError::NoRegulatorAggregationKey)?;
    homomorphic::joint_key(&own, &regulator).map_err(|e| TxError::InvalidKeyShare {
        owner: KeyShareOwner::Institution(requester).to_string(),
        reason: e.to_string(),
    })
}

/// Maps a decoding error of an untrusted ciphertext to its error code.
pub(crate) fn ciphertext_error(e: HeError) -> TxError {
    match e {
        HeError::WrongLength { .. } => TxError::MalformedCiphertext(e.to_string()),
        _ => TxError::CiphertextNotOnCurve(e.to_string()),
    }
}

/// `send_aggregation_request` (a bank or credit bureau, the requester).
pub(crate) fn send_aggregation_request<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    destination: &ChainId,
    request: &AggregationRequest,
    timeout_height: Option<Height>,
    timeout_time: Option<Time>,
) -> Result<Vec<Event>, TxError> {
    let action = "send_aggregation_request";
    let requester = sender.require_role(action, &REQUESTER_ROLES)?;
    if request.requester != requester.id {
        return Err(TxError::Unauthorized {
            sender: format!("institution {}", requester.id),
            action,
            needed: format!(
                "the request names requester {}; an institution may only ask for itself",
                request.requester
            ),
        });
    }
    if *destination == ctx.chain_id {
        return Err(TxError::invalid(
            action,
            format!("destination is this chain ({destination})"),
        ));
    }
    if request.contribution_deadline <= ctx.time {
        return Err(TxError::invalid(
            action,
            format!(
                "contribution deadline {} is not after the block time {}",
                request.contribution_deadline, ctx.time
            ),
        ));
    }
    let id = request.aggregation_id;
    if let Some(total) = state::read::<AggregationTotal>(store, &keys::aggregation_total(&id))? {
        return Err(TxError::AggregationAlreadyClosed {
            aggregation_id: id,
            closed_at: total.closed_at,
        });
    }
    // Under the joint key only: a total under the requester's own key (or
    // any key the regulator has no share of) could be opened by it alone.
    let joint = joint_aggregation_key(store, &requester.id)?;
    if request.encryption_key != joint.to_bytes() {
        return Err(TxError::WrongAggregationKey {
            requester: requester.id.clone(),
            expected: joint.to_string(),
            got: hex::encode(&request.encryption_key),
        });
    }
    for (key, value) in store.scan_prefix(&keys::aggregations_sent(&id)) {
        let sent: AggregationSent = state::decode(&key, &value)?;
        if sent.requester != requester.id {
            return Err(TxError::AggregationExists {
                aggregation_id: id,
                reason: format!("the id is used by {}", sent.requester),
            });
        }
        // The partials are added up: they must be about one enterprise,
        // under one key.
        if sent.enterprise != request.enterprise {
            return Err(TxError::AggregationExists {
                aggregation_id: id,
                reason: format!(
                    "its requests are about enterprise {}, this one about {}",
                    sent.enterprise, request.enterprise
                ),
            });
        }
        if sent.encryption_key != request.encryption_key {
            return Err(TxError::AggregationExists {
                aggregation_id: id,
                reason: format!(
                    "its requests are under key {}, this one under {} (was the aggregation key share re-registered?)",
                    hex::encode(&sent.encryption_key),
                    hex::encode(&request.encryption_key)
                ),
            });
        }
    }
    if let Some(sent) =
        state::read::<AggregationSent>(store, &keys::aggregation_sent(&id, destination))?
    {
        // Only a request proven never received may be sent again.
        let result =
            state::read::<PacketResult>(store, &keys::packet_result(destination, sent.sequence))?;
        if result != Some(PacketResult::TimedOut) {
            return Err(TxError::AggregationExists {
                aggregation_id: id,
                reason: format!("its request to {destination} was already sent"),
            });
        }
    }
    open_client(store, destination)?;
    let sequence = next_sequence(store, destination)?;
    let packet = Packet {
        source: ctx.chain_id.clone(),
        destination: destination.clone(),
        sequence,
        timeout_height,
        timeout_time,
        payload: PacketPayload::AggregationRequest(request.clone()),
    };
    let sent = commit_packet(store, &packet);
    state::write(
        store,
        keys::aggregation_sent(&id, destination),
        &AggregationSent {
            requester: requester.id.clone(),
            sequence,
            enterprise: request.enterprise.clone(),
            encryption_key: request.encryption_key.clone(),
        },
    );
    Ok(vec![
        sent,
        Event::new("aggregation_request_sent")
            .attr("aggregation_id", id)
            .attr("destination", destination)
            .attr("sequence", sequence)
            .attr("enterprise", &request.enterprise),
    ])
}

/// On the data chain, an aggregation request just received (its receipt is
/// written): `Some` acknowledgement when it is refused or there is nobody
/// to wait for, `None` when it is pending.
pub(crate) fn receive_request<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    packet: &Packet,
    request: &AggregationRequest,
    events: &mut Vec<Event>,
) -> Result<Option<Acknowledgement>, TxError> {
    let source = &packet.source;
    let refuse = |reason: String| Ok(Some(Acknowledgement::Error(reason)));
    if let Some(reason) = consent::refusal(store, ctx, source, request)? {
        return refuse(format!("consent refused: {reason}"));
    }
    if request.scheme != AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255 {
        return refuse(format!(
            "unknown encryption scheme {:?}; this chain supports {:?}",
            request.scheme,
            AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255
        ));
    }
    if let Err(e) = homomorphic::PublicKey::from_bytes(&request.encryption_key) {
        return refuse(format!("invalid encryption key: {e}"));
    }
    let deadline = request.contribution_deadline;
    if deadline <= ctx.time {
        return refuse(format!(
            "contribution deadline {deadline} is not after the block time {}",
            ctx.time
        ));
    }
    match ctx.time.checked_add(MAX_CONTRIBUTION_WINDOW) {
        Some(latest) if deadline <= latest => {}
        _ => {
            return refuse(format!(
                "contribution deadline {deadline} is more than {}s after the block time {}",
                MAX_CONTRIBUTION_WINDOW.as_secs(),
                ctx.time
            ));
        }
    }
    let found: Vec<_> = records::records_of(store, &request.enterprise)?
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| request.kinds.contains(&r.kind))
        .collect();
    let expected = records::providers(&found);
    let pending = PendingAggregation {
        source: source.clone(),
        sequence: packet.sequence,
        request: request.clone(),
        expected,
        contributed: Vec::new(),
        records: 0,
        sum: FenCiphertext::zero().to_bytes().to_vec(),
    };
    events.push(
        Event::new("aggregation_requested")
            .attr("source", source)
            .attr("sequence", packet.sequence)
            .attr("aggregation_id", request.aggregation_id)
            .attr("enterprise", &request.enterprise)
            .attr("expected_providers", names(&pending.expected))
            .attr("deadline", deadline)
            .attr("encryption_key", hex::encode(&request.encryption_key)),
    );
    if pending.expected.is_empty() {
        events.push(finalized_event(&pending, "no_provider"));
        return Ok(Some(partial_ack(ctx, &pending)));
    }
    state::write(
        store,
        keys::pending_aggregation(source, packet.sequence),
        &pending,
    );
    state::write(
        store,
        keys::aggregation_deadline(deadline, source, packet.sequence),
        &(source.clone(), packet.sequence),
    );
    Ok(None)
}

/// The acknowledgement of `pending` as it stands.
fn partial_ack(ctx: &BlockContext, pending: &PendingAggregation) -> Acknowledgement {
    let missing: Vec<InstitutionId> = pending
        .expected
        .iter()
        .filter(|p| !pending.contributed.contains(p))
        .cloned()
        .collect();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Acknowledgement::Result(PacketPayload::AggregationPartial(AggregationPartial {
        aggregation_id: pending.request.aggregation_id,
        chain: ctx.chain_id.clone(),
        providers: count(pending.contributed.len()),
        expected: count(pending.expected.len()),
        missing,
        records: pending.records,
        ciphertext: pending.sum.clone(),
        proof: Vec::new(),
    }))
}

fn finalized_event(pending: &PendingAggregation, reason: &str) -> Event {
    let missing: Vec<InstitutionId> = pending
        .expected
        .iter()
        .filter(|p| !pending.contributed.contains(p))
        .cloned()
        .collect();
    Event::new("aggregation_finalized")
        .attr("source", &pending.source)
        .attr("sequence", pending.sequence)
        .attr("aggregation_id", pending.request.aggregation_id)
        .attr("providers", pending.contributed.len())
        .attr("expected", pending.expected.len())
        .attr("missing", names(&missing))
        .attr("reason", reason)
}

/// Writes the acknowledgement of `pending` and forgets it.
fn finalize<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    pending: &PendingAggregation,
    reason: &str,
) -> Vec<Event> {
    let (source, sequence) = (&pending.source, pending.sequence);
    store.delete(&keys::pending_aggregation(source, sequence));
    store.delete(&keys::aggregation_deadline(
        pending.deadline(),
        source,
        sequence,
    ));
    let ack = partial_ack(ctx, pending);
    vec![
        finalized_event(pending, reason),
        write_acknowledgement(store, source, sequence, &ack),
    ]
}

/// `contribute_aggregation`: an expected data provider adds its encrypted
/// amount, with its well-formedness proof, once, before the deadline.
pub(crate) fn contribute<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    (source, sequence): (&ChainId, u64),
    ciphertext: &[u8],
    proof: &[u8],
    records: u32,
) -> Result<Vec<Event>, TxError> {
    let provider = sender.require_role("contribute_aggregation", &[Role::DataProvider])?;
    let contribution = FenCiphertext::from_bytes(ciphertext).map_err(ciphertext_error)?;
    let key = keys::pending_aggregation(source, sequence);
    let mut pending: PendingAggregation =
        state::read(store, &key)?.ok_or_else(|| TxError::UnknownAggregation {
            source_chain: source.clone(),
            sequence,
        })?;
    if ctx.time >= pending.deadline() {
        return Err(TxError::AggregationClosed {
            source_chain: source.clone(),
            sequence,
            deadline: pending.deadline(),
            now: ctx.time,
        });
    }
    if !pending.expected.contains(&provider.id) {
        return Err(TxError::NotExpectedProvider {
            provider: provider.id.clone(),
            source_chain: source.clone(),
            sequence,
            expected: names(&pending.expected),
        });
    }
    if pending.contributed.contains(&provider.id) {
        return Err(TxError::AlreadyContributed {
            provider: provider.id.clone(),
            source_chain: source.clone(),
            sequence,
        });
    }
    let refused = |reason: String| TxError::InvalidContributionProof {
        provider: provider.id.clone(),
        source_chain: source.clone(),
        sequence,
        reason,
    };
    if proof.is_empty() {
        return Err(refused(
            "no proof that the ciphertext is well formed (amount in range)".into(),
        ));
    }
    let encryption_key = homomorphic::PublicKey::from_bytes(&pending.request.encryption_key)
        .map_err(|e| TxError::CorruptState {
            key: keys::show(&key),
            reason: format!("encryption key: {e}"),
        })?;
    let context = contribution_context(
        &pending.request.aggregation_id,
        &ctx.chain_id,
        source,
        sequence,
        &provider.id,
    );
    ContributionProof::from_bytes(proof)
        .and_then(|p| p.verify(&encryption_key, &contribution, &context))
        .map_err(|e| refused(e.to_string()))?;
    let sum = FenCiphertext::from_bytes(&pending.sum).map_err(|e| TxError::CorruptState {
        key: keys::show(&key),
        reason: format!("running sum: {e}"),
    })?;
    pending.sum = (sum + contribution).to_bytes().to_vec();
    pending.contributed.push(provider.id.clone());
    pending.records = pending.records.saturating_add(records);
    let mut events = vec![
        Event::new("aggregation_contributed")
            .attr("source", source)
            .attr("sequence", sequence)
            .attr("aggregation_id", pending.request.aggregation_id)
            .attr("provider", &provider.id)
            .attr("contributed", pending.contributed.len())
            .attr("expected", pending.expected.len()),
    ];
    if pending.contributed.len() >= pending.expected.len() {
        events.extend(finalize(store, ctx, &pending, "complete"));
    } else {
        state::write(store, key, &pending);
    }
    Ok(events)
}

/// In `end_block`: acknowledges the aggregations whose deadline is at or
/// before the block time, with what was contributed.
pub(crate) fn finalize_due<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
) -> Vec<Event> {
    let due = super::interchain::take_due(
        store,
        &keys::aggregation_deadlines(),
        &keys::aggregation_deadlines_due(ctx.time),
        MAX_FINALIZED_PER_BLOCK,
    );
    let mut events = Vec::new();
    for (source, sequence) in due {
        let key = keys::pending_aggregation(&source, sequence);
        match state::read::<PendingAggregation>(&*store, &key) {
            Ok(Some(pending)) => events.extend(finalize(store, ctx, &pending, "deadline")),
            Ok(None) => {}
            Err(e) => {
                // Cannot have been written by this state machine; answer
                // with an error rather than leave the packet hanging.
                store.delete(&key);
                let ack = Acknowledgement::Error(e.to_string());
                events.push(write_acknowledgement(store, &source, sequence, &ack));
            }
        }
    }
    events
}

/// On the requester's chain, the verified acknowledgement of an
/// aggregation request: the partial is kept under
/// [`keys::aggregation_partial`]; an error is reported, and nothing kept.
pub(crate) fn acknowledged<S: KvStoreMut + ?Sized>(
    store: &mut S,
    packet: &Packet,
    request: &AggregationRequest,
    ack: &Acknowledgement,
    events: &mut Vec<Event>,
) {
    let destination = &packet.destination;
    let id = request.aggregation_id;
    let refused = |reason: String| {
        Event::new("aggregation_refused")
            .attr("aggregation_id", id)
            .attr("destination", destination)
            .attr("sequence", packet.sequence)
            .attr("reason", reason)
    };
    match ack {
        Acknowledgement::Result(PacketPayload::AggregationPartial(partial))
            if partial.aggregation_id == id && partial.chain == *destination =>
        {
            state::write(store, keys::aggregation_partial(&id, destination), partial);
            events.push(
                Event::new("aggregation_partial_received")
                    .attr("aggregation_id", id)
                    .attr("destination", destination)
                    .attr("sequence", packet.sequence)
                    .attr("providers", partial.providers)
                    .attr("expected", partial.expected)
                    .attr("missing", names(&partial.missing)),
            );
        }
        Acknowledgement::Result(_) => events.push(refused(
            "the acknowledgement is not a partial of this aggregation from this chain".into(),
        )),
        Acknowledgement::Error(reason) => events.push(refused(reason.clone())),
    }
}

/// On the requester's chain, an aggregation request proven never received:
/// no partial (the chain is missing, not zero); it may be sent again. Its
/// [`AggregationSent`] stays: the packet's result ([`PacketResult::TimedOut`])
/// says it ended, so the aggregation can be closed with the chain missing.
pub(crate) fn timed_out(packet: &Packet, request: &AggregationRequest, events: &mut Vec<Event>) {
    let id = request.aggregation_id;
    events.push(
        Event::new("aggregation_request_timed_out")
            .attr("aggregation_id", id)
            .attr("destination", &packet.destination)
            .attr("sequence", packet.sequence),
    );
}

/// `close_aggregation` (the aggregation's requester): once every chain it
/// was sent to acknowledged or timed out, writes the [`AggregationTotal`] —
/// the homomorphic sum of the partials received, with how many providers
/// and which chains are in it and which are missing — under
/// [`keys::aggregation_total`]. No request with this id is sent after.
pub(crate) fn close_aggregation<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    aggregation_id: &Hash,
) -> Result<Vec<Event>, TxError> {
    let action = "close_aggregation";
    let id = *aggregation_id;
    let total_key = keys::aggregation_total(&id);
    if let Some(total) = state::read::<AggregationTotal>(&*store, &total_key)? {
        return Err(TxError::AggregationAlreadyClosed {
            aggregation_id: id,
            closed_at: total.closed_at,
        });
    }
    let prefix = keys::aggregations_sent(&id);
    let sent_entries = store.scan_prefix(&prefix);
    let Some((first_key, first_value)) = sent_entries.first() else {
        return Err(TxError::AggregationNotSent(id));
    };
    let first: AggregationSent = state::decode(first_key, first_value)?;
    let requester = sender.require_role(action, &REQUESTER_ROLES)?;
    if requester.id != first.requester {
        return Err(TxError::Unauthorized {
            sender: format!("institution {}", requester.id),
            action,
            needed: format!("only the aggregation's requester {} may", first.requester),
        });
    }
    let mut ciphertext = FenCiphertext::zero();
    let mut providers = 0u32;
    let mut chains = Vec::new();
    let mut missing_chains = Vec::new();
    for (key, value) in &sent_entries {
        let sent: AggregationSent = state::decode(key, value)?;
        let destination = std::str::from_utf8(&key[prefix.len()..])
            .ok()
            .and_then(|s| s.parse::<ChainId>().ok())
            .ok_or_else(|| TxError::CorruptState {
                key: keys::show(key),
                reason: "the key does not end in a chain id".into(),
            })?;
        let partial_key = keys::aggregation_partial(&id, &destination);
        if let Some(partial) = state::read::<AggregationPartial>(&*store, &partial_key)? {
            let sum = FenCiphertext::from_bytes(&partial.ciphertext).map_err(|e| {
                TxError::CorruptState {
                    key: keys::show(&partial_key),
                    reason: format!("partial ciphertext: {e}"),
                }
            })?;
            ciphertext += sum;
            providers = providers.saturating_add(partial.providers);
            chains.push(destination);
        } else if store
            .get(&keys::packet_result(&destination, sent.sequence))
            .is_some()
        {
            // Refused, or proven never received: missing, never zero.
            missing_chains.push(destination);
        } else {
            return Err(TxError::AggregationStillOpen {
                aggregation_id: id,
                chain: destination,
                sequence: sent.sequence,
            });
        }
    }
    let names = |chains: &[ChainId]| {
        chains
            .iter()
            .map(ChainId::as_str)
            .collect::<Vec<_>>()
            .join(",")
    };
    let event = Event::new("aggregation_closed")
        .attr("aggregation_id", id)
        .attr("requester", &first.requester)
        .attr("providers", providers)
        .attr("chains", chains.len())
        .attr("answered", names(&chains))
        .attr("missing_chains", names(&missing_chains));
    let total = AggregationTotal {
        aggregation_id: id,
        requester: first.requester,
        enterprise: first.enterprise,
        encryption_key: first.encryption_key,
        ciphertext: ciphertext.to_bytes().to_vec(),
        providers,
        chains,
        missing_chains,
        closed_at: ctx.time,
    };
    state::write(store, total_key, &total);
    Ok(vec![event])
}
