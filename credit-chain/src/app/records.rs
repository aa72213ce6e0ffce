//! Credit records: data providers write records about enterprises.
//!
//! Records are append-only: a change of status (a loan repaid) is a new
//! record. Raw documents stay off chain; a record may carry the digest of
//! its source document.

use protocol::tx::Role;
use protocol::{CreditRecord, EnterpriseId, InstitutionId, RecordKind};

use super::Event;
use super::auth::Sender;
use super::error::TxError;
use super::keys;
use super::state;
use super::store::{KvStore, KvStoreMut};

/// `write_record`: the sender must be a data provider and the record's
/// provider.
pub(crate) fn write_record<S: KvStoreMut + ?Sized>(
    store: &mut S,
    sender: &Sender,
    record: &CreditRecord,
) -> Result<Vec<Event>, TxError> {
    let provider = sender.require_role("write_record", &[Role::DataProvider])?;
    if record.provider != provider.id {
        return Err(TxError::ProviderMismatch {
            record_provider: record.provider.clone(),
            sender: provider.id.clone(),
        });
    }
    let seq_key = keys::record_sequence(&record.enterprise, &record.provider);
    let sequence = state::read::<u64>(store, &seq_key)?.unwrap_or(1);
    let key = keys::record(&record.enterprise, &record.provider, sequence);
    state::write(store, key.clone(), record);
    state::write(store, seq_key, &sequence.saturating_add(1));
    Ok(vec![
        Event::new("record_written")
            .attr("key", keys::show(&key))
            .attr("enterprise", &record.enterprise)
            .attr("provider", &record.provider)
            .attr("kind", kind_name(record.kind))
            .attr("sequence", sequence),
    ])
}

/// Every record about `enterprise`, with its key, in key order (by
/// provider, then sequence).
pub fn records_of(
    store: &(impl KvStore + ?Sized),
    enterprise: &EnterpriseId,
) -> Result<Vec<(Vec<u8>, CreditRecord)>, TxError> {
    store
        .scan_prefix(&keys::records_of(enterprise))
        .into_iter()
        .map(|(k, v)| {
            let record = state::decode(&k, &v)?;
            Ok((k, record))
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

/// The providers of `records`, each once, in order.
pub(crate) fn providers(records: &[CreditRecord]) -> Vec<InstitutionId> {
    let set: std::collections::BTreeSet<&InstitutionId> =
        records.iter().map(|r| &r.provider).collect();
    set.into_iter().cloned().collect()
}
