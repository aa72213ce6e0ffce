//! Sealed answers: they open only for the requester, only as the answer to
//! the query they were sealed for, and every record must match its
//! commitment.

use protocol::sealed::{SealError, open_answer, record_digest, seal_answer};
use protocol::{
    CreditQuery, CreditRecord, Currency, DecryptionKey, Money, Packet, PacketPayload, RecordKind,
    RecordStatus, SaltedRecord,
};
use rand::rngs::OsRng;

fn query_packet(key: &DecryptionKey) -> (Packet, CreditQuery) {
    let mut packet: Packet = serde_json::from_str(include_str!("data/packet.json")).unwrap();
    let PacketPayload::CreditQuery(query) = &mut packet.payload else {
        panic!("the sample is a credit query");
    };
    query.encryption_key = key.public();
    let query = query.clone();
    (packet, query)
}

fn record(provider: &str, amount: u64) -> SaltedRecord {
    SaltedRecord::new(
        CreditRecord {
            enterprise: "91350100M000100Y43".parse().unwrap(),
            kind: RecordKind::Loan,
            amount: Money {
                minor_units: amount,
                currency: Currency::CNY,
            },
            start: "2026-02-01T00:00:00Z".parse().unwrap(),
            end: None,
            status: RecordStatus::Active,
            provider: provider.parse().unwrap(),
            document_digest: None,
        },
        &mut OsRng,
    )
}

#[test]
fn an_answer_opens_for_the_requester_and_matches_its_commitments() {
    let key = DecryptionKey::generate(&mut OsRng);
    let (packet, query) = query_packet(&key);
    let provider = "provider-a".parse().unwrap();
    let records = vec![record("provider-a", 300_000_000), record("provider-a", 7)];
    let sealed = seal_answer(&key.public(), &packet, &provider, &records, &mut OsRng).unwrap();
    assert_eq!(sealed.commitments.len(), 2);
    assert_eq!(sealed.commitments[0], records[0].commitment().digest);
    // No amount in the clear.
    let bytes = borsh::to_vec(&sealed).unwrap();
    let amount = 300_000_000u64.to_le_bytes();
    assert!(!bytes.windows(8).any(|w| w == amount));
    let opened = open_answer(&key, &packet, &query, &sealed).unwrap();
    assert_eq!(
        opened,
        vec![records[0].record.clone(), records[1].record.clone()]
    );
}

#[test]
fn another_key_or_another_query_does_not_open_it() {
    let key = DecryptionKey::generate(&mut OsRng);
    let (packet, query) = query_packet(&key);
    let provider = "provider-a".parse().unwrap();
    let sealed = seal_answer(
        &key.public(),
        &packet,
        &provider,
        &[record("provider-a", 1)],
        &mut OsRng,
    )
    .unwrap();
    let stranger = DecryptionKey::generate(&mut OsRng);
    assert!(matches!(
        open_answer(&stranger, &packet, &query, &sealed),
        Err(SealError::DoesNotOpen { .. })
    ));
    let mut other = packet.clone();
    other.sequence += 1;
    assert!(matches!(
        open_answer(&key, &other, &query, &sealed),
        Err(SealError::DoesNotOpen { .. })
    ));
    // Its commitment list is authenticated too.
    let mut relisted = sealed.clone();
    relisted.commitments[0] = protocol::Hash::digest(b"another");
    assert!(matches!(
        open_answer(&key, &packet, &query, &relisted),
        Err(SealError::DoesNotOpen { .. })
    ));
}

#[test]
fn a_record_that_does_not_match_its_commitment_is_named() {
    let key = DecryptionKey::generate(&mut OsRng);
    let (packet, query) = query_packet(&key);
    let provider = "provider-a".parse().unwrap();
    let honest = vec![record("provider-a", 5), record("provider-a", 6)];
    // The provider seals an altered second record but lists the committed
    // digests: the list authenticates, the record does not match.
    let mut altered = honest.clone();
    altered[1].record.amount.minor_units = 1;
    // Sealed listing the honest commitments, as a lying provider would.
    let committed: Vec<_> = honest.iter().map(|r| r.commitment().digest).collect();
    assert_ne!(
        committed[1],
        record_digest(&altered[1].record, &altered[1].salt)
    );
    let sealed = reseal_with_list(&key, &packet, &provider, &altered, committed);
    match open_answer(&key, &packet, &query, &sealed) {
        Err(SealError::RecordMismatch { index, .. }) => assert_eq!(index, 1),
        other => panic!("expected record 1 refused, got {other:?}"),
    }
    // One record left out of the seal: counted.
    let short = reseal_with_list(
        &key,
        &packet,
        &provider,
        &honest[..1],
        honest.iter().map(|r| r.commitment().digest).collect(),
    );
    assert!(matches!(
        open_answer(&key, &packet, &query, &short),
        Err(SealError::CountMismatch {
            opened: 1,
            committed: 2,
            ..
        })
    ));
}

/// A seal of `records` whose listed commitments are `list` (what a lying
/// provider sends).
fn reseal_with_list(
    key: &DecryptionKey,
    packet: &Packet,
    provider: &protocol::InstitutionId,
    records: &[SaltedRecord],
    list: Vec<protocol::Hash>,
) -> protocol::SealedAnswer {
    protocol::sealed::seal_with_commitments(
        &key.public(),
        packet,
        provider,
        records,
        list,
        &mut OsRng,
    )
    .unwrap()
}
