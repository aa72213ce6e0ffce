//! Sealed credit queries: records stay with their provider, answers are
//! sealed to the requester.
//!
//! The chain holds [`RecordCommitment`](protocol::sealed::RecordCommitment)s
//! only (see [`records`]). A credit query is answered asynchronously, like
//! an aggregation (see [`aggregation`](super::aggregation)):
//!
//! 1. `register_encryption_key` on the asking chain A (a bank or credit
//!    bureau) stores the X25519 key its answers are sealed to under
//!    [`keys::encryption_key`]; `send_credit_query` refuses a query whose
//!    `encryption_key` is not that key, so neither a relayer nor a caller
//!    can make the providers seal to a key of its own.
//! 2. `recv_packet` of the query on the answering chain B: a consent
//!    refusal, a fee refusal (against the fees of the providers expected
//!    to answer) or a scope without committed records is acknowledged at
//!    once. Otherwise B fixes, per provider with commitments in the scope,
//!    the digests its answer must list ([`ExpectedAnswer`], provider order,
//!    then sequence order), stores a [`PendingQuery`] under
//!    [`keys::pending_query`] with an entry in the deadline index
//!    [`keys::query_deadline`] and the expected providers' fees under
//!    [`keys::pending_query_charges`], emits `query_requested` and writes
//!    **no acknowledgement yet**.
//! 3. Each expected provider sends `answer_query` once, before the
//!    deadline: a [`SealedAnswer`] whose list of digests must be exactly
//!    its expected list (so no committed record is left out, none added,
//!    none reordered) with a non-empty ciphertext of at most
//!    [`MAX_SEALED_BYTES`](protocol::sealed::MAX_SEALED_BYTES). The chain cannot read the ciphertext; the
//!    requester opens it and checks every record against these digests.
//! 4. Finalization, in the last answer's transaction or in `end_block` of
//!    the first block at or after the deadline, writes the acknowledgement
//!    `Answered` with the answers (by provider), the expected providers
//!    that did not answer (`missing`) and the charges of those that did,
//!    emitting `fee_charged` and `write_acknowledgement` as a synchronous
//!    receipt does.

use std::collections::{BTreeMap, BTreeSet};

use protocol::sealed::{EncryptionKey, ExpectedAnswer, PendingQuery, SealedAnswer};
use protocol::tx::{Acknowledgement, Role};
use protocol::{
    ChainId, CreditQuery, CreditResponse, FeeCharge, Hash, InstitutionId, Money, Packet,
    PacketPayload, QueryOutcome, Time,
};

use super::auth::Sender;
use super::error::TxError;
use super::interchain::{REQUESTER_ROLES, write_acknowledgement};
use super::state::{self, Params};
use super::store::{KvStore, KvStoreMut};
use super::{BlockContext, Event, consent, fees, keys, records};

/// How long (block time) the providers of a received credit query have to
/// answer: the first block at or after the deadline acknowledges with
/// whatever was answered.
pub const ANSWER_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// At most this many queries are finalized by one `end_block`; the rest
/// are in the next block.
pub const MAX_FINALIZED_PER_BLOCK: usize = 1_000;

fn names<'a>(ids: impl IntoIterator<Item = &'a InstitutionId>) -> String {
    ids.into_iter()
        .map(InstitutionId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// `register_encryption_key`: a bank or credit bureau registers (or
/// rotates) the X25519 key its answers are sealed to.
pub(crate) fn register_encryption_key<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    key: &EncryptionKey,
) -> Result<Vec<Event>, TxError> {
    let institution = sender.require_role("register_encryption_key", &REQUESTER_ROLES)?;
    let path = keys::encryption_key(&institution.id);
    let rotated = store.get(&path).is_some();
    state::write(store, path, key);
    Ok(vec![
        Event::new("encryption_key_registered")
            .attr("institution", &institution.id)
            .attr("key", key)
            .attr("rotated", rotated),
    ])
}

/// On the asking chain: the query must name the key registered for its
/// requester, so nobody but the requester can open the answers.
pub(crate) fn check_query_key(
    store: &(impl KvStore + ?Sized),
    requester: &InstitutionId,
    query: &CreditQuery,
) -> Result<(), TxError> {
    let registered: EncryptionKey = state::read(store, &keys::encryption_key(requester))?
        .ok_or_else(|| TxError::NoEncryptionKey {
            institution: requester.clone(),
        })?;
    if registered != query.encryption_key {
        return Err(TxError::EncryptionKeyMismatch {
            institution: requester.clone(),
            registered,
            given: query.encryption_key,
        });
    }
    Ok(())
}

/// The commitments each provider must cover in its answer to `query`:
/// those about the enterprise of a kind asked for, by provider, then by
/// sequence.
fn expected_answers(
    store: &(impl KvStore + ?Sized),
    query: &CreditQuery,
) -> Result<Vec<ExpectedAnswer>, TxError> {
    let mut by_provider: BTreeMap<InstitutionId, Vec<Hash>> = BTreeMap::new();
    // Within one provider, keys come in sequence order.
    for (_, c) in records::records_of(store, &query.enterprise)? {
        if query.kinds.contains(&c.kind) {
            by_provider.entry(c.provider).or_default().push(c.digest);
        }
    }
    Ok(by_provider
        .into_iter()
        .map(|(provider, commitments)| ExpectedAnswer {
            provider,
            commitments,
        })
        .collect())
}

/// The fees of the `expected` providers, each at most the governance cap,
/// or why the query cannot pay them.
///
/// Each fee is charged at most at the governance cap (a fee set before the
/// cap was lowered included), and the sum is checked: no provider can price
/// every query about an enterprise out of reach.
fn quote(
    store: &(impl KvStore + ?Sized),
    params: &Params,
    expected: &[ExpectedAnswer],
    query: &CreditQuery,
) -> Result<Result<Vec<FeeCharge>, String>, TxError> {
    let nothing = Money {
        minor_units: 0,
        currency: params.currency,
    };
    let cap = fees::max_query_fee(store)?;
    let mut charges = Vec::new();
    let mut total: Option<u64> = Some(0);
    for e in expected {
        let mut fee =
            state::read::<Money>(store, &keys::query_fee(&e.provider))?.unwrap_or(nothing);
        fee.minor_units = fee.minor_units.min(cap);
        if fee.minor_units > 0 {
            total = total.and_then(|t| t.checked_add(fee.minor_units));
            charges.push(FeeCharge {
                provider: e.provider.clone(),
                fee,
            });
        }
    }
    let Some(total) = total else {
        let overflow = TxError::QueryFeeOverflow {
            providers: charges.len(),
        };
        return Ok(Err(overflow.to_string()));
    };
    if total > 0 && query.max_fee.currency != params.currency {
        return Ok(Err(format!(
            "max fee is in {}, this chain charges in {}",
            query.max_fee.currency, params.currency
        )));
    }
    if total > query.max_fee.minor_units {
        return Ok(Err(format!(
            "fee {total} {} exceeds the max fee {}",
            params.currency, query.max_fee.minor_units
        )));
    }
    Ok(Ok(charges))
}

fn response(
    query_packet: Hash,
    outcome: QueryOutcome,
    currency: protocol::Currency,
) -> Acknowledgement {
    Acknowledgement::Result(PacketPayload::CreditResponse(CreditResponse {
        query_packet,
        outcome,
        answers: Vec::new(),
        missing: Vec::new(),
        fee_charged: Money {
            minor_units: 0,
            currency,
        },
        charges: Vec::new(),
    }))
}

/// On the answering chain, a credit query just received (its receipt is
/// written): `Some` acknowledgement when it is refused or no record is
/// committed in its scope, `None` when it waits for its providers.
///
/// Consent: see [`consent::refusal`]. Fee: each expected provider charges
/// its query fee (at most the governance cap); the total must be at most
/// the query's `max_fee` (in this chain's currency), else the query is
/// refused, as it is when the total would overflow. Nothing is paid here:
/// the charges of the providers that answer travel in the
/// acknowledgement, and the source pays them from the requester's escrow.
pub(crate) fn receive_query<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    packet: &Packet,
    query: &CreditQuery,
    events: &mut Vec<Event>,
) -> Result<Option<Acknowledgement>, TxError> {
    let (source, sequence) = (&packet.source, packet.sequence);
    let params = state::params(store)?;
    let query_packet = packet.commitment();
    if let Some(reason) = consent::refusal(store, ctx, source, query)? {
        let outcome = QueryOutcome::ConsentRefused(reason);
        return Ok(Some(response(query_packet, outcome, params.currency)));
    }
    let expected = expected_answers(store, query)?;
    let charges = match quote(store, &params, &expected, query)? {
        Ok(charges) => charges,
        Err(reason) => {
            let outcome = QueryOutcome::FeeRefused(reason);
            return Ok(Some(response(query_packet, outcome, params.currency)));
        }
    };
    if expected.is_empty() {
        // No record: answered, nobody missing; the requester proves it
        // from the acknowledgement.
        return Ok(Some(response(
            query_packet,
            QueryOutcome::Answered,
            params.currency,
        )));
    }
    let deadline = ctx
        .time
        .checked_add(ANSWER_WINDOW)
        .unwrap_or(Time::from_unix_nanos(u64::MAX));
    events.push(
        Event::new("query_requested")
            .attr("source", source)
            .attr("sequence", sequence)
            .attr("enterprise", &query.enterprise)
            .attr("providers", names(expected.iter().map(|e| &e.provider)))
            .attr("deadline", deadline),
    );
    let pending = PendingQuery {
        packet: packet.clone(),
        deadline,
        expected,
        answers: Vec::new(),
    };
    state::write(store, keys::pending_query(source, sequence), &pending);
    state::write(
        store,
        keys::query_deadline(deadline, source, sequence),
        &(source.clone(), sequence),
    );
    state::write(
        store,
        keys::pending_query_charges(source, sequence),
        &charges,
    );
    Ok(None)
}

/// Whether `given` is exactly `expected`: the first committed digest left
/// out is named, then the first one not committed, then the first place
/// where the order differs (or a digest repeats).
fn check_covers(
    provider: &InstitutionId,
    expected: &[Hash],
    given: &[Hash],
) -> Result<(), TxError> {
    if let Some(missing) = expected.iter().find(|d| !given.contains(d)) {
        return Err(TxError::IncompleteAnswer {
            provider: provider.clone(),
            missing: *missing,
        });
    }
    if let Some(digest) = given.iter().find(|d| !expected.contains(d)) {
        return Err(TxError::UnexpectedCommitment {
            provider: provider.clone(),
            digest: *digest,
        });
    }
    if given != expected {
        let position = expected
            .iter()
            .zip(given)
            .position(|(e, g)| e != g)
            .unwrap_or(expected.len().min(given.len()));
        return Err(TxError::AnswerOutOfOrder {
            provider: provider.clone(),
            expected: expected.len(),
            position,
        });
    }
    Ok(())
}

/// `answer_query`: an expected data provider answers a pending query, once,
/// before its deadline, covering exactly its expected commitments. The
/// ciphertext's bounds are checked statelessly
/// ([`validate`](super::validate)); what it holds only the requester can
/// check.
pub(crate) fn answer_query<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
    sender: &Sender,
    source: &ChainId,
    sequence: u64,
    answer: &SealedAnswer,
) -> Result<Vec<Event>, TxError> {
    let provider = sender.require_role("answer_query", &[Role::DataProvider])?;
    if answer.provider != provider.id {
        return Err(TxError::AnswerProviderMismatch {
            provider: answer.provider.clone(),
            sender: provider.id.clone(),
        });
    }
    let key = keys::pending_query(source, sequence);
    let mut pending: PendingQuery =
        state::read(store, &key)?.ok_or_else(|| TxError::UnknownQuery {
            source_chain: source.clone(),
            sequence,
        })?;
    if ctx.time >= pending.deadline {
        return Err(TxError::QueryClosed {
            source_chain: source.clone(),
            sequence,
            deadline: pending.deadline,
            now: ctx.time,
        });
    }
    let Some(expected) = pending.expected.iter().find(|e| e.provider == provider.id) else {
        return Err(TxError::NotExpectedAnswer {
            provider: provider.id.clone(),
            source_chain: source.clone(),
            sequence,
            expected: names(pending.expected.iter().map(|e| &e.provider)),
        });
    };
    if pending.answers.iter().any(|a| a.provider == provider.id) {
        return Err(TxError::AlreadyAnswered {
            provider: provider.id.clone(),
            source_chain: source.clone(),
            sequence,
        });
    }
    check_covers(&provider.id, &expected.commitments, &answer.commitments)?;
    pending.answers.push(answer.clone());
    let mut events = vec![
        Event::new("query_answered")
            .attr("source", source)
            .attr("sequence", sequence)
            .attr("provider", &provider.id)
            .attr("answered", pending.answers.len())
            .attr("expected", pending.expected.len()),
    ];
    if pending.answers.len() >= pending.expected.len() {
        events.extend(finalize(store, &pending, "complete")?);
    } else {
        state::write(store, key, &pending);
    }
    Ok(events)
}

/// Writes the acknowledgement of `pending` as it stands and forgets it:
/// the answers by provider, the expected providers that did not answer,
/// and the fees (fixed on receipt) of those that did.
fn finalize<S: KvStoreMut + ?Sized>(
    store: &mut S,
    pending: &PendingQuery,
    reason: &str,
) -> Result<Vec<Event>, TxError> {
    let (source, sequence) = (&pending.packet.source, pending.packet.sequence);
    let key = keys::pending_query(source, sequence);
    let query = pending.query().ok_or_else(|| TxError::CorruptState {
        key: keys::show(&key),
        reason: "the pending packet is not a credit query".into(),
    })?;
    let params = state::params(store)?;
    let charges_key = keys::pending_query_charges(source, sequence);
    let quoted: Vec<FeeCharge> = state::read(store, &charges_key)?.unwrap_or_default();

    let mut answers = pending.answers.clone();
    answers.sort_by(|a, b| a.provider.cmp(&b.provider));
    let answered: BTreeSet<&InstitutionId> = answers.iter().map(|a| &a.provider).collect();
    let missing: Vec<InstitutionId> = pending
        .expected
        .iter()
        .map(|e| &e.provider)
        .filter(|p| !answered.contains(p))
        .cloned()
        .collect();
    let charges: Vec<FeeCharge> = quoted
        .into_iter()
        .filter(|c| answered.contains(&c.provider))
        .collect();
    // The quote's total was checked on receipt not to overflow; a part of
    // it cannot either.
    let total = charges
        .iter()
        .fold(0u64, |t, c| t.saturating_add(c.fee.minor_units));

    store.delete(&key);
    store.delete(&keys::query_deadline(pending.deadline, source, sequence));
    store.delete(&charges_key);
    let mut events = vec![
        Event::new("query_finalized")
            .attr("source", source)
            .attr("sequence", sequence)
            .attr("answered", answers.len())
            .attr("expected", pending.expected.len())
            .attr("missing", names(&missing))
            .attr("reason", reason),
    ];
    for charge in &charges {
        events.push(
            Event::new("fee_charged")
                .attr("source", source)
                .attr("requester", &query.requester)
                .attr("provider", &charge.provider)
                .attr("amount", charge.fee.minor_units)
                .attr("currency", charge.fee.currency),
        );
    }
    let ack = Acknowledgement::Result(PacketPayload::CreditResponse(CreditResponse {
        query_packet: pending.packet.commitment(),
        outcome: QueryOutcome::Answered,
        answers,
        missing,
        fee_charged: Money {
            minor_units: total,
            currency: params.currency,
        },
        charges,
    }));
    events.push(write_acknowledgement(store, source, sequence, &ack));
    Ok(events)
}

/// In `end_block`: acknowledges the queries whose answer deadline is at or
/// before the block time, with what was answered.
pub(crate) fn finalize_due<S: KvStoreMut + ?Sized>(
    store: &mut S,
    ctx: &BlockContext,
) -> Vec<Event> {
    let due = super::interchain::take_due(
        store,
        &keys::query_deadlines(),
        &keys::query_deadlines_due(ctx.time),
        MAX_FINALIZED_PER_BLOCK,
    );
    let mut events = Vec::new();
    for (source, sequence) in due {
        let key = keys::pending_query(&source, sequence);
        let finalized = match state::read::<PendingQuery>(&*store, &key) {
            Ok(Some(pending)) => finalize(store, &pending, "deadline"),
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        match finalized {
            Ok(e) => events.extend(e),
            Err(e) => {
                // Cannot have been written by this state machine; answer
                // with an error rather than leave the packet hanging.
                store.delete(&key);
                store.delete(&keys::pending_query_charges(&source, sequence));
                let ack = Acknowledgement::Error(e.to_string());
                events.push(write_acknowledgement(store, &source, sequence, &ack));
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        Hash::digest(&[n])
    }

    #[test]
    fn an_answer_must_list_exactly_the_expected_digests() {
        let p: InstitutionId = "provider-a".parse().unwrap();
        let expected = [h(1), h(2), h(3)];
        assert!(check_covers(&p, &expected, &expected).is_ok());
        let err = check_covers(&p, &expected, &[h(1), h(3)]).unwrap_err();
        assert_eq!(
            err,
            TxError::IncompleteAnswer {
                provider: p.clone(),
                missing: h(2)
            }
        );
        let err = check_covers(&p, &expected, &[h(1), h(2), h(3), h(4)]).unwrap_err();
        assert_eq!(
            err,
            TxError::UnexpectedCommitment {
                provider: p.clone(),
                digest: h(4)
            }
        );
        let err = check_covers(&p, &expected, &[h(2), h(1), h(3)]).unwrap_err();
        assert!(matches!(err, TxError::AnswerOutOfOrder { position: 0, .. }));
        let err = check_covers(&p, &expected, &[h(1), h(2), h(3), h(3)]).unwrap_err();
        assert!(matches!(err, TxError::AnswerOutOfOrder { position: 3, .. }));
    }
}
