//! The book of records in PostgreSQL (`tokio-postgres`).
//!
//! Tables, in a schema of their own (created if missing):
//!
//! - `records`: `digest` (bytea, primary key), `enterprise`, `provider`,
//!   `kind`, `start_nanos`, `end_nanos`, `amount_minor`, `currency`,
//!   `status` (the record's fields, for the provider's own reports and
//!   indexes), `salted` (the borsh `SaltedRecord`, the authoritative copy)
//!   and `record_json`;
//! - `progress` (`name`, `value`): the agent's last processed height;
//! - `handled` (`task`): the queries and aggregations handled.
//!
//! Rows are untrusted (another process may write the database): `salted`
//! must decode and hash to `digest`, and the columns the agent selects by
//! (`enterprise`, `kind`) must agree with it; otherwise the read fails
//! naming the digest.

use protocol::{EnterpriseId, Hash, RecordKind, SaltedRecord};
use tokio_postgres::{Client, NoTls, Row};

use super::{RecordSource, check_listed, decode_stored, distinct, finish_list, kind_name};
use crate::Error;

/// The schema [`PostgresRecords::connect`] uses by default.
pub const DEFAULT_SCHEMA: &str = "credit_provider";

/// A [`RecordSource`] in a PostgreSQL database.
pub struct PostgresRecords {
    client: Client,
    schema: String,
}

fn pg(context: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| {
        // The server's own message says what failed; the outer Display of
        // tokio-postgres is only "db error".
        let mut detail = e
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_else(|| e.to_string());
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            detail.push_str(&format!(": {c}"));
            cause = c.source();
        }
        Error::Postgres(format!("{context}: {detail}"))
    }
}

fn to_bigint(what: &str, value: u64) -> Result<i64, Error> {
    i64::try_from(value)
        .map_err(|_| Error::Postgres(format!("{what} {value} does not fit a bigint column")))
}

impl PostgresRecords {
    /// Connects to `url` (`postgres://user@host:port/db`) and creates the
    /// tables in `schema` if missing. `schema` is lowercase letters,
    /// digits and `_`, starting with a letter, at most 48 characters.
    /// Must be called within a tokio runtime, which then drives the
    /// connection.
    pub async fn connect(url: &str, schema: &str) -> Result<PostgresRecords, Error> {
        let valid = !schema.is_empty()
            && schema.len() <= 48
            && schema.starts_with(|c: char| c.is_ascii_lowercase())
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(Error::Postgres(format!(
                "invalid schema name {schema:?}: lowercase letters, digits and _, \
                 starting with a letter, at most 48 characters"
            )));
        }
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(pg(&format!("connecting to {}", redact(url))))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "PostgreSQL connection closed");
            }
        });
        let store = PostgresRecords {
            client,
            schema: schema.to_owned(),
        };
        store.create_tables().await?;
        Ok(store)
    }

    /// The schema the tables are in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    async fn create_tables(&self) -> Result<(), Error> {
        let s = &self.schema;
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.records (
                 digest bytea PRIMARY KEY,
                 enterprise text NOT NULL,
                 provider text NOT NULL,
                 kind text NOT NULL,
                 start_nanos bigint NOT NULL,
                 end_nanos bigint,
                 amount_minor bigint NOT NULL,
                 currency text NOT NULL,
                 status text NOT NULL,
                 salted bytea NOT NULL,
                 record_json jsonb NOT NULL,
                 stored_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE INDEX IF NOT EXISTS records_by_enterprise
                 ON {s}.records (enterprise, kind);
             CREATE TABLE IF NOT EXISTS {s}.progress (
                 name text PRIMARY KEY,
                 value bigint NOT NULL
             );
             CREATE TABLE IF NOT EXISTS {s}.handled (
                 task text PRIMARY KEY,
                 handled_at timestamptz NOT NULL DEFAULT now()
             );"
        );
        self.client
            .batch_execute(&ddl)
            .await
            .map_err(pg(&format!("creating the tables in schema {s}")))
    }

    /// Decodes one `(digest, salted, enterprise, kind)` row.
    fn decode_row(row: &Row) -> Result<(Hash, SaltedRecord), Error> {
        let raw: Vec<u8> = row
            .try_get(0)
            .map_err(|e| Error::Postgres(format!("column digest: {e}")))?;
        let digest = Hash(
            raw.as_slice()
                .try_into()
                .map_err(|_| Error::CorruptRecord {
                    digest: hex::encode(&raw),
                    reason: format!("digest column of {} bytes, not 32", raw.len()),
                })?,
        );
        let corrupt = |reason: String| Error::CorruptRecord {
            digest: digest.to_string(),
            reason,
        };
        let salted: Vec<u8> = row
            .try_get(1)
            .map_err(|e| corrupt(format!("column salted: {e}")))?;
        let record = decode_stored(&digest, &salted)?;
        let enterprise: String = row
            .try_get(2)
            .map_err(|e| corrupt(format!("column enterprise: {e}")))?;
        let kind: String = row
            .try_get(3)
            .map_err(|e| corrupt(format!("column kind: {e}")))?;
        if enterprise != record.record.enterprise.as_str() || kind != kind_name(record.record.kind)
        {
            return Err(corrupt(format!(
                "columns say enterprise {enterprise:?} kind {kind:?}, the record is about {} \
                 of kind {}",
                record.record.enterprise,
                kind_name(record.record.kind)
            )));
        }
        Ok((digest, record))
    }
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl RecordSource for PostgresRecords {
    async fn put(&self, record: &SaltedRecord) -> Result<Hash, Error> {
        let digest = record.commitment().digest;
        let r = &record.record;
        let salted = borsh::to_vec(record).map_err(|e| Error::Postgres(e.to_string()))?;
        let json = serde_json::to_value(r).map_err(|e| Error::Postgres(e.to_string()))?;
        let start = to_bigint("start", r.start.unix_nanos())?;
        let end = r
            .end
            .map(|t| to_bigint("end", t.unix_nanos()))
            .transpose()?;
        let amount = to_bigint("amount", r.amount.minor_units)?;
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let s = &self.schema;
        let inserted = self
            .client
            .execute(
                &format!(
                    "INSERT INTO {s}.records (digest, enterprise, provider, kind, start_nanos,
                         end_nanos, amount_minor, currency, status, salted, record_json)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (digest) DO NOTHING"
                ),
                &[
                    &digest.as_bytes().as_slice(),
                    &r.enterprise.as_str(),
                    &r.provider.as_str(),
                    &kind_name(r.kind),
                    &start,
                    &end,
                    &amount,
                    &r.amount.currency.to_string(),
                    &status,
                    &salted,
                    &json,
                ],
            )
            .await
            .map_err(pg(&format!("storing record {digest}")))?;
        if inserted == 0 {
            // Already there: fine if it is this very record.
            match self.get(&digest).await? {
                Some(existing) if existing == *record => {}
                _ => {
                    return Err(Error::CorruptRecord {
                        digest: digest.to_string(),
                        reason: "another value is stored under this digest".to_owned(),
                    });
                }
            }
        }
        Ok(digest)
    }

    async fn get(&self, digest: &Hash) -> Result<Option<SaltedRecord>, Error> {
        let s = &self.schema;
        let row = self
            .client
            .query_opt(
                &format!(
                    "SELECT digest, salted, enterprise, kind FROM {s}.records WHERE digest = $1"
                ),
                &[&digest.as_bytes().as_slice()],
            )
            .await
            .map_err(pg(&format!("reading record {digest}")))?;
        row.map(|row| Self::decode_row(&row).map(|(_, r)| r))
            .transpose()
    }

    async fn list(
        &self,
        enterprise: &EnterpriseId,
        kinds: &[RecordKind],
    ) -> Result<Vec<SaltedRecord>, Error> {
        let names: Vec<&str> = distinct(kinds).into_iter().map(kind_name).collect();
        let s = &self.schema;
        // One more than allowed, to tell "too many" from "just enough".
        let limit = (super::MAX_LISTED_RECORDS + 1) as i64;
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT digest, salted, enterprise, kind FROM {s}.records
                     WHERE enterprise = $1 AND kind = ANY($2) LIMIT $3"
                ),
                &[&enterprise.as_str(), &names, &limit],
            )
            .await
            .map_err(pg(&format!("listing the records of {enterprise}")))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let (digest, record) = Self::decode_row(row)?;
            check_listed(&digest, &record, enterprise, kinds)?;
            out.push((digest, record));
        }
        finish_list(out, enterprise)
    }

    async fn count(&self) -> Result<u64, Error> {
        let s = &self.schema;
        let row = self
            .client
            .query_one(&format!("SELECT count(*) FROM {s}.records"), &[])
            .await
            .map_err(pg("counting records"))?;
        let n: i64 = row
            .try_get(0)
            .map_err(|e| Error::Postgres(format!("count: {e}")))?;
        Ok(n.max(0) as u64)
    }

    async fn last_height(&self) -> Result<u64, Error> {
        let s = &self.schema;
        let row = self
            .client
            .query_opt(
                &format!("SELECT value FROM {s}.progress WHERE name = 'last_height'"),
                &[],
            )
            .await
            .map_err(pg("reading the last height"))?;
        match row {
            None => Ok(0),
            Some(row) => {
                let v: i64 = row.try_get(0).map_err(|e| Error::CorruptProgress {
                    key: "last_height".to_owned(),
                    reason: e.to_string(),
                })?;
                u64::try_from(v).map_err(|_| Error::CorruptProgress {
                    key: "last_height".to_owned(),
                    reason: format!("negative height {v}"),
                })
            }
        }
    }

    async fn set_last_height(&self, height: u64) -> Result<(), Error> {
        let s = &self.schema;
        let value = to_bigint("height", height)?;
        self.client
            .execute(
                &format!(
                    "INSERT INTO {s}.progress (name, value) VALUES ('last_height', $1)
                     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
                ),
                &[&value],
            )
            .await
            .map_err(pg("storing the last height"))?;
        Ok(())
    }

    async fn is_handled(&self, task: &str) -> Result<bool, Error> {
        let s = &self.schema;
        let row = self
            .client
            .query_opt(
                &format!("SELECT 1 FROM {s}.handled WHERE task = $1"),
                &[&task],
            )
            .await
            .map_err(pg(&format!("reading task {task}")))?;
        Ok(row.is_some())
    }

    async fn mark_handled(&self, task: &str) -> Result<(), Error> {
        let s = &self.schema;
        self.client
            .execute(
                &format!("INSERT INTO {s}.handled (task) VALUES ($1) ON CONFLICT DO NOTHING"),
                &[&task],
            )
            .await
            .map_err(pg(&format!("storing task {task}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
