//! The provider agent: both record sources against one contract (sled, and
//! a real PostgreSQL server), and the agent against an in-memory chain.
//!
//! The PostgreSQL tests need a server: `eval "$(bash .ci/postgres)"`
//! starts one and exports `CREDIT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:55432/postgres`). Without one they fail.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::sealed::open_answer;
use protocol::tx::TxBody;
use protocol::{DecryptionKey, Hash, PacketPayload, RecordKind, SaltedRecord, state_keys};
use provider::records::{PostgresRecords, RecordSource, SledRecords};
use provider::{Agent, Error, HomeTrust, Outcome, Task};
use support::*;

// ---------------------------------------------------------------------------
// Record sources
// ---------------------------------------------------------------------------

fn postgres_url() -> String {
    std::env::var("CREDIT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".to_owned())
}

/// A fresh schema per test, so tests run in parallel on one server.
fn fresh_schema(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "t_{test}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Connects to the test server, or fails saying how to start one.
async fn postgres(test: &str) -> (PostgresRecords, String) {
    let url = postgres_url();
    let schema = fresh_schema(test);
    match PostgresRecords::connect(&url, &schema).await {
        Ok(store) => (store, schema),
        Err(e) => panic!(
            "no PostgreSQL server at {url} ({e}): run `eval \"$(bash .ci/postgres)\"` first \
             (it starts one and sets CREDIT_TEST_POSTGRES_URL)"
        ),
    }
}

/// A raw client, to write rows as another process would.
async fn raw_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL reachable: run `eval \"$(bash .ci/postgres)\"`");
    tokio::spawn(connection);
    client
}

fn salted(r: protocol::CreditRecord) -> SaltedRecord {
    SaltedRecord::new(r, &mut rand::rngs::OsRng)
}

/// What every record source must do.
async fn contract(source: &impl RecordSource) {
    let e = enterprise();
    let loan = salted(record(&e, RecordKind::Loan, 500_000, 30));
    let early_loan = salted(record(&e, RecordKind::Loan, 120_000, 10));
    let tax = salted(record(&e, RecordKind::Tax, 9_900, 20));
    let elsewhere = salted(record(&other_enterprise(), RecordKind::Loan, 1, 5));
    assert_eq!(source.count().await.unwrap(), 0);
    assert_eq!(source.get(&loan.commitment().digest).await.unwrap(), None);

    for r in [&loan, &early_loan, &tax, &elsewhere] {
        assert_eq!(source.put(r).await.unwrap(), r.commitment().digest);
    }
    // Storing the same record again changes nothing.
    source.put(&loan).await.unwrap();
    assert_eq!(source.count().await.unwrap(), 4);

    let got = source.get(&loan.commitment().digest).await.unwrap();
    assert_eq!(got.as_ref(), Some(&loan));

    // By enterprise and kinds, ordered by start.
    let loans = source.list(&e, &[RecordKind::Loan]).await.unwrap();
    assert_eq!(loans, vec![early_loan.clone(), loan.clone()]);
    let both = source
        .list(&e, &[RecordKind::Tax, RecordKind::Loan, RecordKind::Loan])
        .await
        .unwrap();
    assert_eq!(both, vec![early_loan.clone(), tax.clone(), loan.clone()]);
    assert!(
        source
            .list(&e, &[RecordKind::Judgement])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        source
            .list(&other_enterprise(), &[RecordKind::Loan])
            .await
            .unwrap(),
        vec![elsewhere]
    );

    // Progress.
    assert_eq!(source.last_height().await.unwrap(), 0);
    source.set_last_height(42).await.unwrap();
    source.set_last_height(43).await.unwrap();
    assert_eq!(source.last_height().await.unwrap(), 43);
    assert!(!source.is_handled("shaanxi/1").await.unwrap());
    source.mark_handled("shaanxi/1").await.unwrap();
    source.mark_handled("shaanxi/1").await.unwrap();
    assert!(source.is_handled("shaanxi/1").await.unwrap());
    assert!(!source.is_handled("shaanxi/2").await.unwrap());
}

#[tokio::test]
async fn sled_source_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let source = SledRecords::open(dir.path()).unwrap();
    contract(&source).await;
    // And keeps it across a reopen.
    let n = source.count().await.unwrap();
    drop(source);
    let again = reopen(dir.path());
    assert_eq!(again.count().await.unwrap(), n);
    assert_eq!(again.last_height().await.unwrap(), 43);
}

#[tokio::test]
async fn postgres_source_keeps_the_contract() {
    let (source, _) = postgres("contract").await;
    contract(&source).await;
}

/// Reopens a sled store just closed in this process: sled's flusher
/// thread may still hold the directory's lock for a moment (a restarted
/// process has no such overlap).
fn reopen(dir: &std::path::Path) -> SledRecords {
    for _ in 0..100 {
        match SledRecords::open(dir) {
            Ok(store) => return store,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("{} stays locked", dir.display());
}

#[tokio::test]
async fn sled_corrupt_records_are_errors_naming_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    // The database itself, to write behind the source's back as a damaged
    // disk or another program would.
    let db = sled::open(dir.path()).unwrap();
    let raw = db.open_tree(SledRecords::RECORDS).unwrap();
    let source = SledRecords::from_db(&db, dir.path()).unwrap();
    let e = enterprise();
    let honest = salted(record(&e, RecordKind::Loan, 500_000, 30));
    let digest = honest.commitment().digest;
    source.put(&honest).await.unwrap();

    // Garbage bytes.
    raw.insert(digest.as_bytes(), &[0xff; 7]).unwrap();
    let err = source.get(&digest).await.unwrap_err();
    assert!(matches!(err, Error::CorruptRecord { .. }), "{err}");
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
    let err = source.list(&e, &[RecordKind::Loan]).await.unwrap_err();
    assert!(err.to_string().contains(&digest.to_string()), "{err}");

    // A well-formed record with another amount under the honest digest:
    // only the digest check tells.
    let mut tampered = honest.clone();
    tampered.record.amount.minor_units = 1;
    raw.insert(digest.as_bytes(), borsh::to_vec(&tampered).unwrap())
        .unwrap();
    let err = source.get(&digest).await.unwrap_err();
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
    assert!(err.to_string().contains("salted digest"), "{err}");
    // And it is not replaced by storing the honest record again.
    let err = source.put(&honest).await.unwrap_err();
    assert!(err.to_string().contains("another value"), "{err}");

    // Oversized.
    raw.insert(digest.as_bytes(), vec![0u8; 1 << 20]).unwrap();
    let err = source.get(&digest).await.unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");

    // An index entry whose record is gone.
    raw.remove(digest.as_bytes()).unwrap();
    let err = source.list(&e, &[RecordKind::Loan]).await.unwrap_err();
    assert!(err.to_string().contains("indexed but not stored"), "{err}");
}

#[tokio::test]
async fn postgres_corrupt_rows_are_errors_naming_the_digest() {
    let (source, schema) = postgres("corrupt").await;
    let raw = raw_client().await;
    let e = enterprise();
    let honest = salted(record(&e, RecordKind::Loan, 500_000, 30));
    let digest = honest.commitment().digest;
    source.put(&honest).await.unwrap();
    let set_salted = |bytes: Vec<u8>| {
        let raw = &raw;
        let schema = schema.clone();
        async move {
            raw.execute(
                &format!("UPDATE {schema}.records SET salted = $1 WHERE digest = $2"),
                &[&bytes, &digest.as_bytes().as_slice()],
            )
            .await
            .unwrap();
        }
    };

    set_salted(vec![0xff; 7]).await;
    let err = source.get(&digest).await.unwrap_err();
    assert!(matches!(err, Error::CorruptRecord { .. }), "{err}");
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
    let err = source.list(&e, &[RecordKind::Loan]).await.unwrap_err();
    assert!(err.to_string().contains(&digest.to_string()), "{err}");

    let mut tampered = honest.clone();
    tampered.record.amount.minor_units = 1;
    set_salted(borsh::to_vec(&tampered).unwrap()).await;
    let err = source.get(&digest).await.unwrap_err();
    assert!(err.to_string().contains("salted digest"), "{err}");

    // The row is intact but its columns say another enterprise: listing
    // that enterprise must not return it as theirs.
    set_salted(borsh::to_vec(&honest).unwrap()).await;
    raw.execute(
        &format!("UPDATE {schema}.records SET enterprise = $1 WHERE digest = $2"),
        &[&other_enterprise().as_str(), &digest.as_bytes().as_slice()],
    )
    .await
    .unwrap();
    let err = source
        .list(&other_enterprise(), &[RecordKind::Loan])
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&digest.to_string()), "{err}");

    // A digest column that is no digest.
    raw.execute(
        &format!("UPDATE {schema}.records SET digest = '\\x0102' WHERE digest = $1"),
        &[&digest.as_bytes().as_slice()],
    )
    .await
    .unwrap();
    let err = source
        .list(&other_enterprise(), &[RecordKind::Loan])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("0102"), "{err}");
}

#[tokio::test]
async fn postgres_progress_row_out_of_range_is_an_error() {
    let (source, schema) = postgres("progress").await;
    raw_client()
        .await
        .execute(
            &format!("INSERT INTO {schema}.progress (name, value) VALUES ('last_height', -5)"),
            &[],
        )
        .await
        .unwrap();
    let err = source.last_height().await.unwrap_err();
    assert!(err.to_string().contains("negative height -5"), "{err}");
}

// ---------------------------------------------------------------------------
// The agent, against an in-memory chain
// ---------------------------------------------------------------------------

struct Setup {
    home: Arc<FakeChain>,
    agent: Agent<SledRecords>,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let home = FakeChain::new(HOME);
    let agent = agent_on(&home, SledRecords::open(dir.path()).unwrap());
    Setup {
        home,
        agent,
        _dir: dir,
    }
}

/// The agent on `home`, trusting it from its first block (the operator's
/// anchor), on the tests' clock. It reads no other chain.
fn agent_on<S: RecordSource>(home: &Arc<FakeChain>, records: S) -> Agent<S> {
    Agent::new(
        home.clone(),
        provider(),
        provider_key(),
        records,
        home.trust(),
    )
    .with_clock(test_clock())
}

/// Adds `records` through the agent; returns their commitments' digests.
async fn add_all<S: RecordSource>(
    agent: &Agent<S>,
    records: Vec<protocol::CreditRecord>,
) -> Vec<Hash> {
    let mut out = Vec::new();
    for r in records {
        out.push(agent.add_record(r).await.unwrap().digest);
    }
    out
}

#[tokio::test]
async fn add_record_stores_first_then_commits() {
    let s = setup();
    let r = record(&enterprise(), RecordKind::Loan, 500_000, 30);
    let c = s.agent.add_record(r.clone()).await.unwrap();
    let stored = s.agent.records().get(&c.digest).await.unwrap().unwrap();
    assert_eq!(stored.record, r);
    assert!(c.matches(&r, &stored.salt));
    assert_eq!(committed_on(&s.home, &enterprise()), vec![c.clone()]);

    // The chain refuses: the record is stored all the same (a stored record
    // that is not committed is never asked for; the reverse would be a
    // query nobody can answer).
    s.home.lock().refuse = Some((7, "suspended".into()));
    let r2 = record(&enterprise(), RecordKind::Tax, 1_000, 40);
    let err = s.agent.add_record(r2.clone()).await.unwrap_err();
    assert!(matches!(err, Error::Refused { code: 7, .. }), "{err}");
    let listed = s
        .agent
        .records()
        .list(&enterprise(), &[RecordKind::Tax])
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].record, r2);

    // Another provider's record is not taken.
    let mut foreign = record(&enterprise(), RecordKind::Loan, 1, 1);
    foreign.provider = "provider-b".parse().unwrap();
    s.home.lock().refuse = None;
    let err = s.agent.add_record(foreign).await.unwrap_err();
    assert!(matches!(err, Error::ForeignRecord { .. }), "{err}");
}

#[tokio::test]
async fn answers_with_the_expected_records_in_the_chains_order_and_they_open() {
    let s = setup();
    let e = enterprise();
    let records = vec![
        record(&e, RecordKind::Loan, 500_000, 30),
        record(&e, RecordKind::Repayment, 120_000, 10),
        record(&e, RecordKind::Loan, 7_700, 20),
    ];
    let digests = add_all(&s.agent, records.clone()).await;
    // The chain's order, not the store's: third, first, second.
    let expected = vec![digests[2], digests[0], digests[1]];
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    let packet = query_packet(1, &requester);
    s.home
        .receive_query(&pending(packet.clone(), expected.clone()));

    let report = s.agent.sync().await.unwrap();
    assert!(
        matches!(
            report.outcomes.as_slice(),
            [(_, Outcome::Answered { records: 3 })]
        ),
        "{:?}",
        report.outcomes
    );
    let answers = s.home.answers();
    let [
        TxBody::AnswerQuery {
            source,
            sequence,
            answer,
        },
    ] = answers.as_slice()
    else {
        panic!("one answer expected, got {answers:?}");
    };
    assert_eq!((source.as_str(), *sequence), (ASKER, 1));
    assert_eq!(answer.provider, provider());
    assert_eq!(answer.commitments, expected);

    // The requester opens it and gets the records in the chain's order.
    let PacketPayload::CreditQuery(query) = &packet.payload else {
        unreachable!()
    };
    let opened = open_answer(&requester, &packet, query, answer).unwrap();
    assert_eq!(
        opened,
        vec![records[2].clone(), records[0].clone(), records[1].clone()]
    );
    // Nobody else does.
    let stranger = DecryptionKey::generate(&mut rand::rngs::OsRng);
    assert!(open_answer(&stranger, &packet, query, answer).is_err());
}

#[tokio::test]
async fn a_missing_record_means_no_answer_at_all() {
    let s = setup();
    let e = enterprise();
    let digests = add_all(
        &s.agent,
        vec![
            record(&e, RecordKind::Loan, 500_000, 30),
            record(&e, RecordKind::Loan, 1_000, 31),
        ],
    )
    .await;
    let unknown = Hash::tagged(b"not-in-the-store", &[]);
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    s.home.receive_query(&pending(
        query_packet(2, &requester),
        vec![digests[0], unknown, digests[1]],
    ));

    let report = s.agent.sync().await.unwrap();
    let [(task, Outcome::Declined(err))] = report.outcomes.as_slice() else {
        panic!("{:?}", report.outcomes);
    };
    assert_eq!(task.sequence, 2);
    assert!(
        matches!(err, Error::MissingRecord { digest, .. } if *digest == unknown),
        "{err}"
    );
    assert!(err.to_string().contains(&unknown.to_string()), "{err}");
    // Nothing sealed, nothing sent: not even the two records it has.
    assert!(s.home.answers().is_empty());
}

#[tokio::test]
async fn a_record_that_does_not_fit_the_query_is_not_sealed() {
    let s = setup();
    // A tax record committed, listed by a (faulty) chain for a query about
    // loans and repayments.
    let digests = add_all(&s.agent, vec![record(&enterprise(), RecordKind::Tax, 5, 1)]).await;
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    s.home
        .receive_query(&pending(query_packet(3, &requester), digests.clone()));
    let report = s.agent.sync().await.unwrap();
    let [(_, Outcome::Declined(err))] = report.outcomes.as_slice() else {
        panic!("{:?}", report.outcomes);
    };
    assert!(matches!(err, Error::UnfitRecord { .. }), "{err}");
    assert!(s.home.answers().is_empty());
}

#[tokio::test]
async fn never_answers_twice() {
    let dir = tempfile::tempdir().unwrap();
    let home = FakeChain::new(HOME);
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    {
        let agent = agent_on(&home, SledRecords::open(dir.path()).unwrap());
        let digests = add_all(
            &agent,
            vec![record(&enterprise(), RecordKind::Loan, 500_000, 30)],
        )
        .await;
        home.receive_query(&pending(query_packet(4, &requester), digests));
        agent.sync().await.unwrap();
        assert_eq!(home.answers().len(), 1);
        // The same blocks again (a re-scan): handled already.
        let task = Task {
            source: ASKER.parse().unwrap(),
            sequence: 4,
        };
        assert!(matches!(
            agent.handle(&task).await.unwrap(),
            Outcome::AlreadyHandled
        ));
        agent.sync().await.unwrap();
        assert_eq!(home.answers().len(), 1);
    }
    // A restart on the same store, made to read every block again.
    {
        let store = reopen(dir.path());
        store.set_last_height(0).await.unwrap();
        let agent = agent_on(&home, store);
        let report = agent.sync().await.unwrap();
        assert!(
            report
                .outcomes
                .iter()
                .all(|(_, o)| matches!(o, Outcome::AlreadyHandled)),
            "{:?}",
            report.outcomes
        );
    }
    // A fresh store that forgot everything, but holds the records: the
    // chain's pending query already has this provider's answer.
    {
        let fresh = tempfile::tempdir().unwrap();
        let store = SledRecords::open(fresh.path()).unwrap();
        let agent = agent_on(&home, store);
        let report = agent.sync().await.unwrap();
        assert!(
            report
                .outcomes
                .iter()
                .all(|(_, o)| matches!(o, Outcome::AlreadyHandled)),
            "{:?}",
            report.outcomes
        );
    }
    assert_eq!(home.answers().len(), 1);
}

#[tokio::test]
async fn an_unreachable_chain_keeps_the_place() {
    let s = setup();
    let digests = add_all(
        &s.agent,
        vec![record(&enterprise(), RecordKind::Loan, 9, 1)],
    )
    .await;
    let before = s.agent.records().last_height().await.unwrap();
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    s.home
        .receive_query(&pending(query_packet(5, &requester), digests));
    s.home.lock().unreachable = true;
    let err = s.agent.sync().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(s.agent.records().last_height().await.unwrap(), before);
    s.home.lock().unreachable = false;
    s.agent.sync().await.unwrap();
    assert_eq!(s.home.answers().len(), 1);
    assert_eq!(
        s.agent.records().last_height().await.unwrap(),
        s.home.lock().height - 1,
        "processed up to the block before its own answer"
    );
}

#[tokio::test]
async fn queries_for_other_providers_or_past_their_deadline_are_left_alone() {
    let s = setup();
    let digests = add_all(
        &s.agent,
        vec![record(&enterprise(), RecordKind::Loan, 9, 1)],
    )
    .await;
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    let mut others = pending(query_packet(6, &requester), digests.clone());
    others.expected[0].provider = "provider-b".parse().unwrap();
    s.home.receive_query(&others);
    let mut late = pending(query_packet(7, &requester), digests);
    late.deadline = s.home.lock().time;
    s.home.receive_query(&late);
    let report = s.agent.sync().await.unwrap();
    let outcomes: Vec<_> = report
        .outcomes
        .iter()
        .map(|(t, o)| (t.sequence, o))
        .collect();
    assert!(
        matches!(
            outcomes.as_slice(),
            [(6, Outcome::NotExpected), (7, Outcome::TooLate)]
        ),
        "{outcomes:?}"
    );
    assert!(s.home.answers().is_empty());
}

fn small_table() -> homomorphic::DiscreteLogTable {
    homomorphic::DiscreteLogTable::with_params(12, 1 << 20).unwrap()
}

#[tokio::test]
async fn contributes_its_sum_of_the_kinds_asked() {
    let s = setup();
    let e = enterprise();
    add_all(
        &s.agent,
        vec![
            record(&e, RecordKind::Loan, 500_012, 30),
            record(&e, RecordKind::Loan, 120_099, 10),
            record(&e, RecordKind::Tax, 777_777, 20),
            record(&other_enterprise(), RecordKind::Loan, 1_000_000, 5),
        ],
    )
    .await;
    let requester = homomorphic::KeyPair::generate(&mut rand::rngs::OsRng);
    let packet = aggregation_packet(8, requester.public(), vec![RecordKind::Loan]);
    s.home.receive_aggregation(&packet);

    let report = s.agent.sync().await.unwrap();
    assert!(
        matches!(
            report.outcomes.as_slice(),
            [(_, Outcome::Contributed { records: 2 })]
        ),
        "{:?}",
        report.outcomes
    );
    let bodies = s.home.bodies();
    let Some(TxBody::ContributeAggregation {
        source,
        sequence,
        ciphertext,
        records,
        proof,
    }) = bodies.last()
    else {
        panic!("{bodies:?}");
    };
    assert_eq!((source.as_str(), *sequence, *records), (ASKER, 8, 2));
    let ciphertext = homomorphic::FenCiphertext::from_bytes(ciphertext).unwrap();
    let proof = homomorphic::ContributionProof::from_bytes(proof).unwrap();
    let PacketPayload::AggregationRequest(request) = &packet.payload else {
        unreachable!()
    };
    // The proof holds for the chain's context of this contribution.
    let context = provider::contribution::contribution_context(
        &request.aggregation_id,
        &HOME.parse().unwrap(),
        &ASKER.parse().unwrap(),
        8,
        &provider(),
    );
    proof
        .verify(requester.public(), &ciphertext, &context)
        .unwrap();
    assert!(
        proof
            .verify(requester.public(), &ciphertext, b"another context")
            .is_err()
    );
    assert_eq!(
        requester
            .secret()
            .decrypt_fen(&ciphertext, &small_table())
            .unwrap(),
        500_012 + 120_099
    );
}

#[tokio::test]
async fn aggregations_not_expecting_it_or_already_holding_its_contribution_are_left_alone() {
    let s = setup();
    add_all(
        &s.agent,
        vec![record(&enterprise(), RecordKind::Loan, 500_000, 30)],
    )
    .await;
    let requester = homomorphic::KeyPair::generate(&mut rand::rngs::OsRng);
    // The chain expects another provider only.
    let others = aggregation_packet(9, requester.public(), vec![RecordKind::Loan]);
    s.home
        .receive_aggregation_expecting(&others, vec!["provider-b".parse().unwrap()]);
    // This provider's contribution is on the chain already (a store that
    // forgot it contributed).
    let done = aggregation_packet(16, requester.public(), vec![RecordKind::Loan]);
    s.home.receive_aggregation(&done);
    {
        let mut st = s.home.lock();
        let key = state_keys::pending_aggregation(&ASKER.parse().unwrap(), 16);
        let mut pending: protocol::PendingAggregation = borsh::from_slice(&st.state[&key]).unwrap();
        pending.contributed.push(provider());
        st.state.insert(key, borsh::to_vec(&pending).unwrap());
    }
    // Past its deadline.
    let mut late = aggregation_packet(17, requester.public(), vec![RecordKind::Loan]);
    if let PacketPayload::AggregationRequest(r) = &mut late.payload {
        r.contribution_deadline = s.home.lock().time;
    }
    s.home.receive_aggregation(&late);

    let report = s.agent.sync().await.unwrap();
    let outcomes: Vec<_> = report
        .outcomes
        .iter()
        .map(|(t, o)| (t.sequence, o))
        .collect();
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                (9, Outcome::NotExpected),
                (16, Outcome::AlreadyHandled),
                (17, Outcome::TooLate)
            ]
        ),
        "{outcomes:?}"
    );
    assert!(
        !s.home
            .bodies()
            .iter()
            .any(|b| matches!(b, TxBody::ContributeAggregation { .. }))
    );
}

#[tokio::test]
async fn an_aggregation_with_a_committed_record_missing_gets_no_contribution() {
    let s = setup();
    let e = enterprise();
    add_all(&s.agent, vec![record(&e, RecordKind::Loan, 500_000, 30)]).await;
    // A commitment on the chain whose record the store lost.
    let lost = salted(record(&e, RecordKind::Loan, 3, 3));
    {
        let mut st = s.home.lock();
        let p = provider();
        st.state.insert(
            state_keys::record(&e, &p, 2),
            borsh::to_vec(&lost.commitment()).unwrap(),
        );
        st.state.insert(
            state_keys::record_sequence(&e, &p),
            borsh::to_vec(&3u64).unwrap(),
        );
    }
    let requester = homomorphic::KeyPair::generate(&mut rand::rngs::OsRng);
    let packet = aggregation_packet(10, requester.public(), vec![RecordKind::Loan]);
    s.home.receive_aggregation(&packet);
    let report = s.agent.sync().await.unwrap();
    let [(_, Outcome::Declined(err))] = report.outcomes.as_slice() else {
        panic!("{:?}", report.outcomes);
    };
    assert!(
        matches!(err, Error::MissingRecord { digest, .. } if *digest == lost.commitment().digest),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Trust: only what verifies from the operator's anchor
// ---------------------------------------------------------------------------

/// The attack: an endpoint of the home chain serves a chain of its own
/// making — the honest anchor block copied, every later block signed by
/// other validators (more than 2/3 of each block's own set, linked by
/// hash, so the adapter's self-check passes it) — whose pending query
/// names the attacker's key for the provider's records. The agent, which
/// trusts the chain from its operator's anchor only, refuses it, logs the
/// refusal, seals nothing and keeps its place; from an honest endpoint, the
/// same query is answered to the requester.
#[tokio::test]
async fn a_forged_chain_naming_an_attackers_key_gets_nothing_sealed() {
    let captured = captured_logs();
    let dir = tempfile::tempdir().unwrap();
    let honest = FakeChain::new(HOME);
    let endpoint = Endpoint::new(&honest);
    let agent = Agent::new(
        endpoint.clone(),
        provider(),
        provider_key(),
        SledRecords::open(dir.path()).unwrap(),
        honest.trust(),
    )
    .with_clock(test_clock());
    let e = enterprise();
    let records = vec![
        record(&e, RecordKind::Loan, 500_000, 30),
        record(&e, RecordKind::Repayment, 1_000, 31),
    ];
    let digests = add_all(&agent, records.clone()).await;
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    let packet = query_packet(20, &requester);
    honest.receive_query(&pending(packet.clone(), digests.clone()));

    // The forgery: the same query, under the attacker's key, some blocks
    // ahead of the honest chain.
    let forged = FakeChain::forgery_of(&honest, "attacker-validators");
    let attacker = DecryptionKey::generate(&mut rand::rngs::OsRng);
    forged.receive_query(&pending(query_packet(20, &attacker), digests.clone()));
    for _ in 0..5 {
        forged.next_block();
    }
    // Each forged block verifies against itself, as an adapter checks.
    let latest = forged.lock().blocks.last_key_value().unwrap().1.clone();
    adapters::self_check::light_block(
        &HOME.parse().unwrap(),
        latest.height(),
        &latest,
        &mut light_clients::credit_chain::KeyCache::new(),
    )
    .unwrap();

    endpoint.switch_to(&forged);
    for _ in 0..2 {
        let err = agent.sync().await.unwrap_err();
        let Error::Untrusted { chain, height, .. } = &err else {
            panic!("not refused as untrusted: {err}");
        };
        assert_eq!(chain.as_str(), HOME);
        assert!(height.value() > 1, "{err}");
        assert!(err.is_transient(), "the agent keeps its place: {err}");
        assert_eq!(agent.records().last_height().await.unwrap(), 0);
    }
    assert!(forged.answers().is_empty(), "sealed to the attacker");
    assert!(honest.answers().is_empty());
    assert!(!endpoint.refuted.lock().unwrap().is_empty());
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().any(|l| l.contains("light block refused")
            && l.contains("chain=guangdong")
            && l.contains("height=")),
        "{logs}"
    );

    // An honest endpoint again: the query is answered, to the requester.
    endpoint.switch_to(&honest);
    let report = agent.sync().await.unwrap();
    assert!(
        matches!(
            report.outcomes.as_slice(),
            [(_, Outcome::Answered { records: 2 })]
        ),
        "{:?}",
        report.outcomes
    );
    let answers = honest.answers();
    let [TxBody::AnswerQuery { answer, .. }] = answers.as_slice() else {
        panic!("{answers:?}");
    };
    let PacketPayload::CreditQuery(query) = &packet.payload else {
        unreachable!()
    };
    assert_eq!(
        open_answer(&requester, &packet, query, answer).unwrap(),
        records
    );
    assert!(open_answer(&attacker, &packet, query, answer).is_err());
    assert!(forged.answers().is_empty());
}

/// An endpoint serving the honest block but another value under it (the
/// pending query with the attacker's key): the value's proof does not
/// match the verified block's state root, so nothing is sealed.
#[tokio::test]
async fn a_value_not_proven_by_the_verified_block_is_refused() {
    let s = setup();
    let digests = add_all(
        &s.agent,
        vec![record(&enterprise(), RecordKind::Loan, 500_000, 30)],
    )
    .await;
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    s.home
        .receive_query(&pending(query_packet(21, &requester), digests.clone()));
    let attacker = DecryptionKey::generate(&mut rand::rngs::OsRng);
    let key = state_keys::pending_query(&ASKER.parse().unwrap(), 21);
    let lie = borsh::to_vec(&pending(query_packet(21, &attacker), digests)).unwrap();
    s.home.lock().lies.insert(key.clone(), lie);

    let err = s.agent.sync().await.unwrap_err();
    assert!(matches!(err, Error::Untrusted { .. }), "{err}");
    assert!(err.to_string().contains(&state_keys::show(&key)), "{err}");
    assert!(s.home.answers().is_empty());

    s.home.lock().lies.clear();
    s.agent.sync().await.unwrap();
    assert_eq!(s.home.answers().len(), 1);
}

/// An anchor that is not the chain's block at its height (a wrong hash
/// configured, or an endpoint of a chain made up from its first block):
/// nothing is read, committed or answered.
#[tokio::test]
async fn an_anchor_the_chain_does_not_match_trusts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = FakeChain::new(HOME);
    let other = FakeChain::new("made-up");
    let wrong = HomeTrust::new(protocol::Height::GENESIS, other.trust().anchor_hash);
    let agent = Agent::new(
        home.clone(),
        provider(),
        provider_key(),
        SledRecords::open(dir.path()).unwrap(),
        wrong,
    )
    .with_clock(test_clock());
    let err = agent
        .add_record(record(&enterprise(), RecordKind::Loan, 1, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Untrusted { .. }), "{err}");
    assert!(err.to_string().contains("is not the anchor"), "{err}");
    assert!(home.bodies().is_empty(), "nothing submitted");

    // An anchor older than the trusting period is refused by name.
    let expired = Agent::new(
        home.clone(),
        provider(),
        provider_key(),
        SledRecords::open(tempfile::tempdir().unwrap().path()).unwrap(),
        home.trust(),
    )
    .with_clock(Arc::new(TestClock(protocol::Time::from_unix_nanos(
        (BASE_TIME_SECS + 15 * 24 * 3_600) * 1_000_000_000,
    ))));
    let err = expired
        .add_record(record(&enterprise(), RecordKind::Loan, 1, 1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("trusting period"), "{err}");
    assert!(home.bodies().is_empty(), "nothing submitted");
}

/// The operator's anchor as text.
#[test]
fn an_anchor_parses_from_text_and_names_what_is_wrong() {
    let hash = "ab".repeat(32);
    let trust = HomeTrust::parse("7", &hash).unwrap();
    assert_eq!(trust.anchor_height.value(), 7);
    assert_eq!(trust.anchor_hash.to_string(), hash);
    for (height, hash, what) in [
        ("0", hash.as_str(), "height"),
        ("x", hash.as_str(), "height"),
        ("7", "abc", "hash"),
        ("7", &"zz".repeat(32), "hash"),
    ] {
        let err = HomeTrust::parse(height, hash).unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
}

#[tokio::test]
async fn import_is_safe_to_run_again() {
    let s = setup();
    let e = enterprise();
    let same = record(&e, RecordKind::Loan, 42, 1);
    let list = vec![
        same.clone(),
        same.clone(),
        record(&e, RecordKind::Tax, 5, 2),
    ];
    let first = s.agent.import(&list).await.unwrap();
    assert_eq!((first.committed, first.already), (3, 0));
    assert_eq!(committed_on(&s.home, &e).len(), 3);
    let again = s.agent.import(&list).await.unwrap();
    assert_eq!((again.committed, again.already), (0, 3));
    assert_eq!(committed_on(&s.home, &e).len(), 3);
    assert_eq!(s.agent.records().count().await.unwrap(), 3);

    // A run stopped between storing and committing: the next one commits
    // the stored record (with its salt), and stores nothing new.
    let extra = record(&e, RecordKind::Loan, 43, 3);
    s.home.lock().refuse = Some((9, "down".into()));
    let mut longer = list.clone();
    longer.push(extra);
    s.agent.import(&longer).await.unwrap_err();
    s.home.lock().refuse = None;
    let resumed = s.agent.import(&longer).await.unwrap();
    assert_eq!((resumed.committed, resumed.already), (1, 3));
    assert_eq!(s.agent.records().count().await.unwrap(), 4);
    let on_chain = committed_on(&s.home, &e);
    assert_eq!(on_chain.len(), 4);
    for c in &on_chain {
        assert!(s.agent.records().get(&c.digest).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn the_agent_works_on_postgres_too() {
    let (store, _) = postgres("agent").await;
    let home = FakeChain::new(HOME);
    let agent = agent_on(&home, store);
    let e = enterprise();
    let records = vec![
        record(&e, RecordKind::Loan, 500_000, 30),
        record(&e, RecordKind::Repayment, 1_000, 31),
    ];
    let digests = add_all(&agent, records.clone()).await;
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    let packet = query_packet(12, &requester);
    s_receive(&home, &packet, vec![digests[1], digests[0]]);
    agent.sync().await.unwrap();
    agent.sync().await.unwrap();
    let answers = home.answers();
    let [TxBody::AnswerQuery { answer, .. }] = answers.as_slice() else {
        panic!("{answers:?}");
    };
    let PacketPayload::CreditQuery(query) = &packet.payload else {
        unreachable!()
    };
    let opened = open_answer(&requester, &packet, query, answer).unwrap();
    assert_eq!(opened, vec![records[1].clone(), records[0].clone()]);
}

fn s_receive(home: &FakeChain, packet: &protocol::Packet, digests: Vec<Hash>) {
    home.receive_query(&pending(packet.clone(), digests));
}

/// Collects every log line of the test's thread.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of the test binary from the first call on. Global, not
/// scoped to the test's thread: a scoped subscriber misses events whose
/// callsite another test's thread registered first without one.
fn captured_logs() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
    .clone()
}

#[tokio::test]
async fn logs_never_hold_an_amount() {
    let captured = captured_logs();

    let s = setup();
    let e = enterprise();
    let amounts = [987_654_321u64, 123_456_789];
    let digests = add_all(
        &s.agent,
        vec![
            record(&e, RecordKind::Loan, amounts[0], 30),
            record(&e, RecordKind::Loan, amounts[1], 31),
        ],
    )
    .await;
    let requester = DecryptionKey::generate(&mut rand::rngs::OsRng);
    // One answered, one declined (a missing record), one aggregation.
    s.home
        .receive_query(&pending(query_packet(13, &requester), digests.clone()));
    s.home.receive_query(&pending(
        query_packet(14, &requester),
        vec![digests[0], Hash::tagged(b"lost", &[])],
    ));
    let keys = homomorphic::KeyPair::generate(&mut rand::rngs::OsRng);
    let packet = aggregation_packet(15, keys.public(), vec![RecordKind::Loan]);
    s.home.receive_aggregation(&packet);
    s.agent.sync().await.unwrap();
    assert_eq!(s.home.answers().len(), 1);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("query answered packet=shaanxi/13 records=2"),
        "{logs}"
    );
    assert!(logs.contains("not answered packet=shaanxi/14"), "{logs}");
    assert!(logs.contains("contributed packet=shaanxi/15"), "{logs}");
    let sum = amounts[0] + amounts[1];
    for amount in [amounts[0], amounts[1], sum] {
        assert!(
            !logs.contains(&amount.to_string()),
            "amount {amount} in the logs:\n{logs}"
        );
    }
}

#[test]
fn key_files_in_the_chains_format_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let key = provider_key();
    let path = dir.path().join("provider-a.json");
    let public = hex::encode(key.verifying_key().to_bytes());
    std::fs::write(
        &path,
        format!(
            r#"{{"name": "provider-a", "public_key": "{public}", "secret_key": "{}"}}"#,
            hex::encode(key.to_bytes())
        ),
    )
    .unwrap();
    let read = provider::signer::read_key_file(&path).unwrap();
    assert_eq!(read.to_bytes(), key.to_bytes());

    let other = hex::encode([8u8; 32]);
    std::fs::write(
        &path,
        format!(r#"{{"name": "provider-a", "public_key": "{public}", "secret_key": "{other}"}}"#),
    )
    .unwrap();
    let err = provider::signer::read_key_file(&path).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    std::fs::write(&path, "not json").unwrap();
    assert!(provider::signer::read_key_file(&path).is_err());
}
