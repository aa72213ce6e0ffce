//! What the regulator asks of the log: entries filtered by enterprise,
//! institution, chain and time, exported as CSV or JSON.

use protocol::{ChainId, EnterpriseId, Hash, InstitutionId, Time};
use serde::Serialize;

use super::entry::AuditEntry;

/// Which entries to keep; every criterion set must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries about this enterprise.
    pub enterprise: Option<EnterpriseId>,
    /// Entries whose requester (or issuer) is this institution.
    pub institution: Option<InstitutionId>,
    /// Entries whose source or destination is this chain.
    pub chain: Option<ChainId>,
    /// Entries at or after this time.
    pub since: Option<Time>,
    /// Entries before this time (exclusive).
    pub until: Option<Time>,
}

impl AuditFilter {
    /// Whether `entry` passes.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.enterprise
            .as_ref()
            .is_none_or(|e| entry.record.enterprise.as_ref() == Some(e))
            && self
                .institution
                .as_ref()
                .is_none_or(|i| entry.record.requester.as_ref() == Some(i))
            && self
                .chain
                .as_ref()
                .is_none_or(|c| entry.record.source == *c || entry.record.destination == *c)
            && self.since.is_none_or(|t| entry.record.time >= t)
            && self.until.is_none_or(|t| entry.record.time < t)
    }

    /// The entries of `entries` that pass, in order.
    pub fn apply<'a>(
        &'a self,
        entries: impl IntoIterator<Item = AuditEntry> + 'a,
    ) -> impl Iterator<Item = AuditEntry> + 'a {
        entries.into_iter().filter(|e| self.matches(e))
    }
}

/// An entry as exported: its fields and its hash.
#[derive(Clone, Debug, Serialize)]
pub struct ExportedEntry<'a> {
    /// The entry's hash.
    pub hash: Hash,
    /// The entry.
    #[serde(flatten)]
    pub entry: &'a AuditEntry,
}

/// The CSV header row (without its line break).
pub const CSV_HEADER: &str = "sequence,hash,prev_hash,time,source,destination,packet_sequence,\
kind,requester,enterprise,purpose,consent_id,fee_minor_units,fee_currency,outcome,reason";

/// One CSV field, quoted as RFC 4180 requires: within double quotes (with
/// quotes doubled) when it holds a comma, a quote, a CR or an LF.
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// `entries` as CSV (RFC 4180): a header row ([`CSV_HEADER`]), one row per
/// entry, CRLF line breaks; absent values are empty fields.
pub fn to_csv<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for e in entries {
        let opt = |v: Option<String>| v.unwrap_or_default();
        let fields = [
            e.sequence.to_string(),
            e.hash().to_string(),
            e.prev_hash.to_string(),
            e.record.time.to_string(),
            e.record.source.to_string(),
            e.record.destination.to_string(),
            e.record.packet_sequence.to_string(),
            e.record.kind.to_string(),
            opt(e.record.requester.as_ref().map(ToString::to_string)),
            opt(e.record.enterprise.as_ref().map(ToString::to_string)),
            e.record.purpose.clone(),
            opt(e.record.consent_id.map(|c| c.to_string())),
            opt(e.record.fee.map(|f| f.minor_units.to_string())),
            opt(e.record.fee.map(|f| f.currency.to_string())),
            e.record.outcome.status().to_owned(),
            opt(e.record.outcome.reason().map(str::to_owned)),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// `entries` as a JSON array of [`ExportedEntry`].
pub fn to_json<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> serde_json::Value {
    let exported: Vec<ExportedEntry<'_>> = entries
        .into_iter()
        .map(|entry| ExportedEntry {
            hash: entry.hash(),
            entry,
        })
        .collect();
    serde_json::to_value(exported).unwrap_or_default()
}
