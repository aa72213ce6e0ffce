//! Answers per second a provider agent makes: for a pending query
//! expecting two of its records, fetch both from the record source by
//! digest (checking each against it) and seal them to the requester's key
//! (`provider::sealed_answer`), from sled and from PostgreSQL.
//!
//! The PostgreSQL group needs a server: `eval "$(bash .ci/postgres)"`, then
//! `cargo bench -p credit-provider`. The store holds 10,000 other records
//! besides the two, so lookups are not in an empty table.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::sealed::PendingQuery;
use protocol::{DecryptionKey, RecordKind, SaltedRecord};
use provider::records::{PostgresRecords, RecordSource, SledRecords};
use provider::sealed_answer;
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::*;

const OTHER_RECORDS: u64 = 10_000;

/// Fills `store` and returns the pending query of two of its records.
async fn prepare(store: &impl RecordSource) -> PendingQuery {
    let mut rng = StdRng::seed_from_u64(1);
    let e = enterprise();
    for i in 0..OTHER_RECORDS {
        let r = record(&other_enterprise(), RecordKind::Loan, i, i);
        store.put(&SaltedRecord::new(r, &mut rng)).await.unwrap();
    }
    let mut digests = Vec::new();
    for (kind, fen) in [
        (RecordKind::Loan, 500_000),
        (RecordKind::Repayment, 120_000),
    ] {
        let salted = SaltedRecord::new(record(&e, kind, fen, fen), &mut rng);
        digests.push(store.put(&salted).await.unwrap());
    }
    let requester = DecryptionKey::generate(&mut rng);
    pending(query_packet(1, &requester), digests)
}

fn bench_source<S: RecordSource>(
    c: &mut Criterion,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    store: S,
) {
    let query = runtime.block_on(prepare(&store));
    let me = provider();
    let mut group = c.benchmark_group("answers");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("{name}/fetch_2_and_seal"), |b| {
        b.iter(|| {
            runtime
                .block_on(sealed_answer(&store, &me, black_box(&query)))
                .unwrap()
                .unwrap()
        })
    });
    group.finish();
}

fn answers(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    bench_source(c, "sled", &runtime, SledRecords::open(dir.path()).unwrap());

    let url = std::env::var("CREDIT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".to_owned());
    let schema = format!("bench_{}", std::process::id());
    let store = runtime
        .block_on(PostgresRecords::connect(&url, &schema))
        .unwrap_or_else(|e| {
            panic!("no PostgreSQL at {url} ({e}): run `eval \"$(bash .ci/postgres)\"` first")
        });
    bench_source(c, "postgres", &runtime, store);
    // The bench's tables go with it.
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    });
}

criterion_group!(benches, answers);
criterion_main!(benches);
