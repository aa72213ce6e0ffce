//! Credit records stay with their provider: the chain keeps, per record,
//! only a [`RecordCommitment`] (enterprise, provider, kind, dates and a
//! salted digest), never its amount or status.
//!
//! Commitments are append-only: a change of status (a loan repaid) is a
//! new record, so a new commitment. A provider holds at most
//! [`MAX_RECORDS_PER_ANSWER`] commitments about one enterprise, so its
//! sealed answer to any query about that enterprise always fits.

use protocol::sealed::{MAX_RECORDS_PER_ANSWER, RecordCommitment};
use protocol::tx::Role;
use protocol::{EnterpriseId, InstitutionId, RecordKind};

use super::Event;
use super::auth::Sender;
use super::error::TxError;
use super::keys;
use super::state;
use super::store::{KvStore, KvStoreMut};

/// `commit_record`: the sender must be a data provider and the
/// commitment's provider; stored under the next sequence of the
/// (enterprise, provider) pair.
pub(crate) fn commit_record<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    commitment: &RecordCommitment,
) -> Result<Vec<Event>, TxError> {
    let provider = sender.require_role("commit_record", &[Role::DataProvider])?;
    if commitment.provider != provider.id {
        return Err(TxError::ProviderMismatch {
            record_provider: commitment.provider.clone(),
            sender: provider.id.clone(),
        });
    }
    let (enterprise, provider) = (&commitment.enterprise, &commitment.provider);
    let seq_key = keys::record_sequence(enterprise, provider);
    let sequence = state::read::<u64>(store, &seq_key)?.unwrap_or(1);
    // Append-only from 1, so `sequence - 1` commitments are held.
    if usize::try_from(sequence.saturating_sub(1)).unwrap_or(usize::MAX) >= MAX_RECORDS_PER_ANSWER {
        return Err(TxError::TooManyRecords {
            enterprise: enterprise.clone(),
            provider: provider.clone(),
            max: MAX_RECORDS_PER_ANSWER,
        });
    }
    let key = keys::record(enterprise, provider, sequence);
    state::write(store, key.clone(), commitment);
    state::write(store, seq_key, &sequence.saturating_add(1));
    Ok(vec![
        Event::new("record_committed")
            .attr("key", keys::show(&key))
            .attr("enterprise", enterprise)
            .attr("provider", provider)
            .attr("kind", kind_name(commitment.kind))
            .attr("sequence", sequence)
            .attr("digest", commitment.digest),
    ])
}

/// Every record commitment about `enterprise`, with its key, in key order
/// (by provider key, then sequence).
pub fn records_of(
    store: &(impl KvStore + ?Sized),
    enterprise: &EnterpriseId,
) -> Result<Vec<(Vec<u8>, RecordCommitment)>, TxError> {
    store
        .scan_prefix(&keys::records_of(enterprise))
        .into_iter()
        .map(|(k, v)| {
            let commitment = state::decode(&k, &v)?;
            Ok((k, commitment))
        })
        .collect()
}

/// A record kind's name as in JSON (`loan`, `overdue`, ...).
pub fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Loan => "loan",
        RecordKind::Repayment => "repayment",
        RecordKind::Overdue => "overdue",
        RecordKind::Tax => "tax",
        RecordKind::Utility => "utility",
        RecordKind::Judgement => "judgement",
    }
}

/// The providers of `commitments`, each once, in order.
pub(crate) fn providers(commitments: &[RecordCommitment]) -> Vec<InstitutionId> {
    let set: std::collections::BTreeSet<&InstitutionId> =
        commitments.iter().map(|c| &c.provider).collect();
    set.into_iter().cloned().collect()
}
