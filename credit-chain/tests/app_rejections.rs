//! Every way a transaction is refused: the code, a message naming what is
//! wrong, and the whole state unchanged afterwards.

mod app_support;

use app_support::*;
use credit_chain::app::auth::{sign_attestation, sign_transaction};
use credit_chain::app::{App, TxError};
use light_clients::credit_chain::signing::TestChain;
use proptest::prelude::*;
use protocol::encoding::Canonical;
use protocol::sealed::SaltedRecord;
use protocol::tx::{LightClientParams, Role, TxBody};
use protocol::{Attestation, CreditQuery, Currency, Money, PublicKey, RecordKind, Signature};

fn chain_with_everyone() -> Chain {
    let mut g = genesis(vec![
        institution("bank-a", &[Role::Bank]),
        institution("provider-a", &[Role::DataProvider]),
        institution("bureau-a", &[Role::CreditBureau]),
        institution("relayer-a", &[Role::Relayer]),
        institution("registrar-a", &[Role::Registrar]),
    ]);
    g.balances = vec![balance("bank-a", 1_000)];
    let mut c = Chain::new("shaanxi", &g);
    c.empty_blocks(1);
    // bank-a's queries name its key (their other checks are under test).
    c.ok("bank-a", register_key("bank-a"));
    c
}

/// A provider's commitment to one of its loans: the plainest transaction.
fn commit_record(provider: &str) -> TxBody {
    let record = record(
        provider,
        RecordKind::Loan,
        100_000,
        "2025-06-01T00:00:00Z".parse().unwrap(),
    );
    TxBody::CommitRecord {
        commitment: SaltedRecord::new(record, &mut rand::rngs::OsRng).commitment(),
    }
}

fn contains(r: &credit_chain::app::TxResult, needle: &str) {
    assert!(
        r.message.contains(needle),
        "{:?} does not contain {needle:?}",
        r.message
    );
}

#[test]
fn bad_signature_is_refused() {
    let mut c = chain_with_everyone();
    let mut tx = c.tx("provider-a", commit_record("provider-a"));
    tx.signature.0[0] ^= 1;
    let r = c.fails_tx(&tx, 3);
    assert_eq!(r.codespace, "tx");
    contains(&r, "invalid signature");
    // Signed by another key than the sender's.
    let mut tx = c.tx("provider-a", commit_record("provider-a"));
    tx.tx.sender = pk("bank-a");
    c.fails_tx(&tx, 3);
    // A sender key that is not a curve point.
    let mut tx = c.tx("provider-a", commit_record("provider-a"));
    tx.tx.sender = PublicKey([0xff; 32]);
    c.fails_tx(&tx, 3);
    assert!(matches!(
        App::check_tx(&c.state, &c.ctx(), &tx),
        Err(TxError::InvalidSignature { .. })
    ));
}

#[test]
fn wrong_chain_id_is_refused() {
    let mut c = chain_with_everyone();
    let tx = sign_transaction(
        &key("provider-a"),
        chain("guangdong"),
        1,
        commit_record("provider-a"),
    );
    let r = c.fails_tx(&tx, 2);
    contains(&r, "this is shaanxi, the transaction is for guangdong");
    // Rewriting the chain id breaks the signature: the id is signed.
    let mut moved = tx.clone();
    moved.tx.chain_id = chain("shaanxi");
    c.fails_tx(&moved, 3);
}

#[test]
fn replayed_and_skipped_nonces_are_refused() {
    let mut c = chain_with_everyone();
    let tx = c.tx("provider-a", commit_record("provider-a"));
    assert_eq!(tx.tx.nonce, 1);
    assert!(c.block(std::slice::from_ref(&tx))[0].is_ok());
    let r = c.fails_tx(&tx, 6);
    contains(&r, "replayed nonce 1");
    assert!(matches!(
        App::check_tx(&c.state, &c.ctx(), &tx),
        Err(TxError::NonceReplayed { .. })
    ));
    // Nonce 3 before 2: admitted to the mempool, refused in a block.
    let ahead = c.tx_n("provider-a", 1, commit_record("provider-a"));
    App::check_tx(&c.state, &c.ctx(), &ahead).unwrap();
    let r = c.fails_tx(&ahead, 7);
    contains(&r, "the next nonce is 2");
}

/// The attack: a known sender fills the mempool with transactions whose
/// nonces are far ahead, which could never execute. Admission refuses a
/// nonce more than `MAX_NONCE_AHEAD` past the last used one, and admits a
/// whole batch of consecutive nonces (as the relayer signs them).
#[test]
fn a_nonce_far_ahead_is_refused_at_admission() {
    let c = chain_with_everyone();
    let max = credit_chain::app::MAX_NONCE_AHEAD;
    let edge = c.tx_n("provider-a", max - 1, commit_record("provider-a"));
    assert_eq!(edge.tx.nonce, max);
    App::check_tx(&c.state, &c.ctx(), &edge).unwrap();
    let far = c.tx_n("provider-a", max, commit_record("provider-a"));
    let err = App::check_tx(&c.state, &c.ctx(), &far).unwrap_err();
    assert_eq!(err.code(), 11);
    assert_eq!(err.codespace(), "tx");
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "nonce {} from {} is too far ahead: the last used is 0, at most {max} ahead",
            max + 1,
            pk("provider-a")
        )),
        "{message}"
    );
    let err = App::check_tx(
        &c.state,
        &c.ctx(),
        &c.tx_n("provider-a", u64::MAX - 1, commit_record("provider-a")),
    )
    .unwrap_err();
    assert!(matches!(err, TxError::NonceTooFarAhead { .. }), "{err}");
}

#[test]
fn a_failed_message_uses_its_nonce_and_the_next_transaction_applies() {
    let mut c = chain_with_everyone();
    let bad = c.tx(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(5_000),
        },
    );
    c.fails_tx(&bad, 60);
    let good = c.tx(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(500),
        },
    );
    assert_eq!(good.tx.nonce, bad.tx.nonce + 1);
    assert!(c.block(&[good])[0].is_ok());
    assert_eq!(c.balance("provider-a"), 500);
    assert_eq!(c.balance("bank-a"), 500);
}

#[test]
fn one_failed_transaction_in_a_block_does_not_fail_the_senders_later_ones() {
    let mut c = chain_with_everyone();
    let first = c.tx(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(5_000),
        },
    );
    // Signed for the nonce after the first, as a relayer's batch is.
    let second = c.tx_n(
        "bank-a",
        1,
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(300),
        },
    );
    let results = c.block(&[first, second]);
    assert_eq!(results[0].code, 60, "{}", results[0].message);
    assert!(results[1].is_ok(), "{}", results[1].message);
    assert_eq!(c.balance("provider-a"), 300);
}

#[test]
fn an_unauthenticated_transaction_uses_no_nonce() {
    let mut c = chain_with_everyone();
    let mut forged = c.tx(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(100),
        },
    );
    forged.signature.0[0] ^= 1;
    c.fails_tx(&forged, 3);
    let good = c.tx(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(100),
        },
    );
    assert_eq!(good.tx.nonce, forged.tx.nonce);
    assert!(c.block(&[good])[0].is_ok());
}

#[test]
fn unknown_sender_is_refused() {
    let mut c = chain_with_everyone();
    let r = c.fails("stranger", commit_record("provider-a"), 4);
    contains(&r, "unknown sender");
    assert!(matches!(
        App::check_tx(
            &c.state,
            &c.ctx(),
            &c.tx("stranger", commit_record("x-provider"))
        ),
        Err(TxError::UnknownSender { .. })
    ));
}

#[test]
fn wrong_roles_are_refused() {
    let mut c = chain_with_everyone();
    let r = c.fails("bank-a", commit_record("bank-a"), 8);
    contains(&r, "institution bank-a (roles: bank) may not commit_record");
    contains(&r, "needs role data_provider");
    c.fails("bank-a", TxBody::SetQueryFee { fee: cny(1) }, 8);
    // Only governance registers institutions.
    let r = c.fails(
        "provider-a",
        TxBody::RegisterInstitution {
            institution: id("bank-z"),
            name: "Bank Z".into(),
            roles: vec![Role::Bank],
            key: pk("bank-z"),
        },
        8,
    );
    contains(&r, "only a governance key may");
    c.fails(
        "bank-a",
        TxBody::SetValidators {
            validators: TestChain::new("other", 2)
                .committee()
                .validator_set()
                .clone(),
        },
        8,
    );
    c.fails(
        "bank-a",
        TxBody::Mint {
            to: "bank-a".parse().unwrap(),
            amount: cny(1),
        },
        8,
    );
    // Registrars and governance bind enterprise keys, banks do not.
    c.fails(
        "bank-a",
        TxBody::RegisterEnterprise {
            enterprise: enterprise(),
            key: pk("ent-new"),
        },
        8,
    );
    // An enterprise has no balance and sends no queries.
    c.fails(
        "ent",
        TxBody::Transfer {
            to: "bank-a".parse().unwrap(),
            amount: cny(1),
        },
        8,
    );
    // A provider does not send queries; relayers do not update clients for
    // banks.
    c.fails(
        "provider-a",
        TxBody::SendCreditQuery {
            destination: chain("guangdong"),
            query: query("provider-a", 0),
            timeout_height: Some(protocol::Height::new(100).unwrap()),
            timeout_time: None,
        },
        8,
    );
    let other = TestChain::new("guangdong", 4).next_block();
    c.fails(
        "bank-a",
        TxBody::CreateClient {
            anchor: other.clone(),
            params: LightClientParams::default(),
        },
        8,
    );
    c.fails("bank-a", TxBody::UpdateClient { block: other }, 8);
    // A bank may not query in another institution's name.
    let r = c.fails(
        "bank-a",
        TxBody::SendCreditQuery {
            destination: chain("guangdong"),
            query: query("bureau-a", 0),
            timeout_height: Some(protocol::Height::new(100).unwrap()),
            timeout_time: None,
        },
        8,
    );
    contains(&r, "may only query for itself");
}

fn query(requester: &str, max_fee: u64) -> CreditQuery {
    CreditQuery {
        requester: id(requester),
        enterprise: enterprise(),
        kinds: vec![RecordKind::Loan],
        purpose: "loan application".into(),
        consent_id: protocol::Hash::ZERO,
        max_fee: cny(max_fee),
        encryption_key: decryption_key(requester).public(),
    }
}

#[test]
fn suspended_institution_is_refused_until_reinstated() {
    let mut c = chain_with_everyone();
    c.ok(
        "gov",
        TxBody::SuspendInstitution {
            institution: id("provider-a"),
            reason: "data quality audit".into(),
        },
    );
    let r = c.fails("provider-a", commit_record("provider-a"), 5);
    contains(&r, "provider-a is suspended");
    contains(&r, "data quality audit");
    assert!(matches!(
        App::check_tx(
            &c.state,
            &c.ctx(),
            &c.tx("provider-a", commit_record("provider-a"))
        ),
        Err(TxError::SenderSuspended { .. })
    ));
    c.fails(
        "gov",
        TxBody::SuspendInstitution {
            institution: id("provider-a"),
            reason: "again".into(),
        },
        23,
    );
    c.ok(
        "gov",
        TxBody::ReinstateInstitution {
            institution: id("provider-a"),
        },
    );
    c.fails(
        "gov",
        TxBody::ReinstateInstitution {
            institution: id("provider-a"),
        },
        24,
    );
    c.ok("provider-a", commit_record("provider-a"));
}

#[test]
fn a_validator_set_with_a_weak_or_invalid_key_is_refused() {
    let mut c = chain_with_everyone();
    let honest = TestChain::new("shaanxi", 4)
        .committee()
        .validator_set()
        .validators()[0]
        .clone();
    // The identity point (order 1): under it a signature with R = identity
    // and s = 0 fits the batch equation for any header.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let with_key = |key: [u8; 32]| TxBody::SetValidators {
        validators: protocol::ValidatorSet::new(vec![
            honest.clone(),
            protocol::Validator {
                pub_key: PublicKey(key),
                power: 30,
            },
        ])
        .unwrap(),
    };
    let r = c.fails("gov", with_key(identity), 9);
    contains(&r, "set_validators");
    contains(&r, "weak ed25519 public key");
    contains(&r, &PublicKey(identity).to_string());
    // A point in a non-canonical encoding: y = 2^255 - 1, not reduced.
    let r = c.fails("gov", with_key([0xff; 32]), 9);
    contains(&r, "non-canonical ed25519 public key");
    // Not a curve point at all (y = 2, no x fits).
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    let r = c.fails("gov", with_key(off_curve), 9);
    contains(&r, "invalid ed25519 public key");
    // A sound set from governance is proposed.
    let sound = light_clients::credit_chain::signing::Committee::deterministic("rotated", 4);
    c.expect_committee(sound.clone());
    c.ok(
        "gov",
        TxBody::SetValidators {
            validators: sound.validator_set().clone(),
        },
    );
}

#[test]
fn governance_conflicts_are_refused() {
    let mut c = chain_with_everyone();
    let register = |inst: &str, key: &str| TxBody::RegisterInstitution {
        institution: id(inst),
        name: "X".into(),
        roles: vec![Role::Bank],
        key: pk(key),
    };
    let r = c.fails("gov", register("bank-a", "fresh"), 20);
    contains(&r, "bank-a is already registered");
    let r = c.fails("gov", register("bank-b", "bank-a"), 22);
    contains(&r, "already registered to institution bank-a");
    c.fails("gov", register("bank-c", "gov"), 22);
    c.fails("gov", register("bank-d", "ent"), 22);
    c.fails(
        "gov",
        TxBody::SuspendInstitution {
            institution: id("nobody"),
            reason: "x".into(),
        },
        21,
    );
    // An enterprise key cannot take an institution's key.
    c.fails(
        "registrar-a",
        TxBody::RegisterEnterprise {
            enterprise: enterprise(),
            key: pk("bank-a"),
        },
        22,
    );
    c.ok("gov", register("bank-b", "bank-b"));
}

#[test]
fn malformed_bytes_and_bodies_are_refused() {
    let mut c = chain_with_everyone();
    let before = c.state.clone();
    let ctx = c.ctx();
    let tx = c.tx("provider-a", commit_record("provider-a"));
    let bytes = tx.to_canonical_bytes();
    for bad in [
        &bytes[..bytes.len() - 1],
        &[bytes.as_slice(), &[0]].concat()[..],
        &[][..],
        &[0xff; 40][..],
    ] {
        let r = App::deliver_tx_bytes(&mut c.state, &ctx, bad);
        assert_eq!(r.code, 1, "{}", r.message);
        assert!(
            r.message.starts_with("malformed transaction"),
            "{}",
            r.message
        );
    }
    assert_eq!(c.state, before);
    assert!(App::deliver_tx_bytes(&mut c.state, &ctx, &bytes).is_ok());

    let mut c = chain_with_everyone();
    let r = c.fails(
        "gov",
        TxBody::RegisterInstitution {
            institution: id("bank-z"),
            name: "Bank Z".into(),
            roles: vec![],
            key: pk("bank-z"),
        },
        9,
    );
    contains(&r, "invalid register_institution: roles is empty");
    let mut rec = record("provider-a", RecordKind::Loan, 1, c.now());
    rec.end = Some(secs(rec.start, 0).saturating_sub(std::time::Duration::from_secs(1)));
    let commitment = SaltedRecord::new(rec, &mut rand::rngs::OsRng).commitment();
    let r = c.fails("provider-a", TxBody::CommitRecord { commitment }, 9);
    contains(&r, "before it starts");
    let r = c.fails(
        "ent",
        consent("shaanxi", "shaanxi", "bank-a", &[], secs(c.now(), 3600), 0),
        9,
    );
    contains(&r, "scope is empty");
    c.fails(
        "ent",
        consent(
            "shaanxi",
            "shaanxi",
            "bank-a",
            &[RecordKind::Loan, RecordKind::Loan],
            secs(c.now(), 3600),
            0,
        ),
        9,
    );
    c.fails(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(0),
        },
        9,
    );
    let r = c.fails(
        "bank-a",
        TxBody::SendCreditQuery {
            destination: chain("guangdong"),
            query: query("bank-a", 0),
            timeout_height: None,
            timeout_time: None,
        },
        9,
    );
    contains(&r, "neither a timeout height nor a timeout time");
    c.fails(
        "relayer-a",
        TxBody::CreateClient {
            anchor: TestChain::new("shaanxi", 4).next_block(),
            params: LightClientParams::default(),
        },
        9,
    );
    c.fails(
        "relayer-a",
        TxBody::CreateClient {
            anchor: TestChain::new("guangdong", 4).next_block(),
            params: LightClientParams {
                trust_numerator: 1,
                trust_denominator: 4,
                ..LightClientParams::default()
            },
        },
        9,
    );
}

#[test]
fn consent_rejections() {
    let mut c = chain_with_everyone();
    let now = c.now();
    // Already expired at grant.
    let r = c.fails(
        "bank-a",
        consent("shaanxi", "shaanxi", "bank-a", &[RecordKind::Loan], now, 0),
        44,
    );
    contains(&r, "not after the block time");
    // Signed by someone else than the enterprise's registered key.
    let body = consent(
        "shaanxi",
        "shaanxi",
        "bank-a",
        &[RecordKind::Loan],
        secs(now, 3600),
        0,
    );
    let TxBody::GrantConsent { grant, .. } = body.clone() else {
        unreachable!()
    };
    let forged = TxBody::GrantConsent {
        signature: credit_chain::app::auth::sign_consent(&key("bank-a"), &grant),
        grant: grant.clone(),
    };
    let r = c.fails("bank-a", forged, 40);
    contains(&r, "registered key");
    // Unknown enterprise.
    let mut stranger = grant.clone();
    stranger.enterprise = protocol::EnterpriseId::with_check_digit("91440300MA5F00001").unwrap();
    c.fails(
        "bank-a",
        TxBody::GrantConsent {
            signature: credit_chain::app::auth::sign_consent(&key("ent"), &stranger),
            grant: stranger,
        },
        25,
    );
    // A local grantee must exist.
    let mut nobody = grant.clone();
    nobody.grantee = id("nobody");
    c.fails(
        "ent",
        TxBody::GrantConsent {
            signature: credit_chain::app::auth::sign_consent(&key("ent"), &nobody),
            grant: nobody,
        },
        21,
    );
    // Granted once; not twice.
    c.ok("ent", body.clone());
    c.fails("bank-a", body.clone(), 41);
    let id = consent_id(&body);
    // Only the enterprise revokes.
    let r = c.fails("bank-a", TxBody::RevokeConsent { consent_id: id }, 8);
    contains(&r, "may revoke its consent");
    c.fails("ent2", TxBody::RevokeConsent { consent_id: id }, 8);
    c.fails(
        "ent",
        TxBody::RevokeConsent {
            consent_id: protocol::Hash::ZERO,
        },
        42,
    );
    c.ok("ent", TxBody::RevokeConsent { consent_id: id });
    let r = c.fails("ent", TxBody::RevokeConsent { consent_id: id }, 43);
    contains(&r, "already revoked");
}

/// The attack: an enterprise's grant, signed for the chain holding its
/// records, is replayed on another chain (where the same enterprise code
/// holds other records) to open those. The grant names its chain under the
/// enterprise's signature: refused there, and its chain cannot be rewritten.
#[test]
fn a_consent_replayed_from_another_chain_is_refused() {
    let mut c = chain_with_everyone();
    let mut elsewhere = Chain::new(
        "guangdong",
        &genesis(vec![institution("bank-a", &[Role::Bank])]),
    );
    elsewhere.empty_blocks(1);
    let now = c.now();
    let body = consent(
        "guangdong",
        "shaanxi",
        "bank-a",
        &[RecordKind::Loan],
        secs(now, 3600),
        0,
    );
    elsewhere.ok("ent", body.clone());
    let r = c.fails("bank-a", body.clone(), 45);
    assert_eq!(r.codespace, "consent");
    contains(
        &r,
        "is granted on chain guangdong, not on this chain shaanxi: a grant replayed from another chain",
    );
    // Rewriting the chain it names breaks the enterprise's signature.
    let TxBody::GrantConsent {
        mut grant,
        signature,
    } = body
    else {
        unreachable!()
    };
    grant.chain_id = chain("shaanxi");
    c.fails("bank-a", TxBody::GrantConsent { grant, signature }, 40);
}

/// The attack: a provider sets a query fee of `u64::MAX` so every query
/// about an enterprise it holds records of is refused. Governance caps the
/// fee; above the cap is refused, and only governance moves the cap.
#[test]
fn query_fees_above_the_governance_cap_are_refused() {
    let mut c = chain_with_everyone();
    let default = credit_chain::app::fees::DEFAULT_MAX_QUERY_FEE;
    // Refused at admission, so it takes no mempool room, and in a block.
    let priced_out = c.tx("provider-a", TxBody::SetQueryFee { fee: cny(u64::MAX) });
    assert!(matches!(
        App::check_tx(&c.state, &c.ctx(), &priced_out),
        Err(TxError::QueryFeeAboveMax { .. })
    ));
    let r = c.fails_tx(&priced_out, 63);
    assert_eq!(r.codespace, "fees");
    contains(
        &r,
        &format!(
            "query fee {} CNY of provider-a is above the maximum {default} CNY set by governance",
            u64::MAX
        ),
    );
    c.fails(
        "provider-a",
        TxBody::SetQueryFee {
            fee: cny(default + 1),
        },
        63,
    );
    c.ok("provider-a", TxBody::SetQueryFee { fee: cny(default) });
    // Only governance sets the cap, in the chain's currency.
    c.fails("provider-a", TxBody::SetMaxQueryFee { fee: cny(10) }, 8);
    let usd = Money {
        minor_units: 10,
        currency: "USD".parse::<Currency>().unwrap(),
    };
    c.fails("gov", TxBody::SetMaxQueryFee { fee: usd }, 61);
    let r = c.ok("gov", TxBody::SetMaxQueryFee { fee: cny(100) });
    assert!(r.events_of("max_query_fee_set").next().is_some());
    let r = c.fails("provider-a", TxBody::SetQueryFee { fee: cny(101) }, 63);
    contains(&r, "above the maximum 100 CNY");
    c.ok("provider-a", TxBody::SetQueryFee { fee: cny(100) });
    // A genesis fee above the cap is refused too.
    let mut g = genesis(vec![institution("provider-a", &[Role::DataProvider])]);
    g.query_fees = vec![fee("provider-a", u64::MAX)];
    let mut state = State::new();
    let err = App::init_genesis(&mut state, &g).unwrap_err().to_string();
    assert!(err.contains("query fee of provider-a"), "{err}");
    assert!(err.contains("above the maximum"), "{err}");
    g.max_query_fee = Some(u64::MAX);
    App::init_genesis(&mut State::new(), &g).unwrap();
}

#[test]
fn balance_and_currency_rejections() {
    let mut c = chain_with_everyone();
    let r = c.fails(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(1_001),
        },
        60,
    );
    contains(&r, "bank-a has 1000 CNY, needs 1001");
    let usd = Money {
        minor_units: 1,
        currency: "USD".parse::<Currency>().unwrap(),
    };
    let r = c.fails(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: usd,
        },
        61,
    );
    contains(&r, "this chain's currency is CNY");
    c.fails("provider-a", TxBody::SetQueryFee { fee: usd }, 61);
    c.fails(
        "bank-a",
        TxBody::Transfer {
            to: "nobody".parse().unwrap(),
            amount: cny(1),
        },
        21,
    );
    c.fails(
        "bank-a",
        TxBody::Transfer {
            to: "bank-a".parse().unwrap(),
            amount: cny(1),
        },
        9,
    );
    c.ok(
        "gov",
        TxBody::Mint {
            to: "provider-a".parse().unwrap(),
            amount: cny(u64::MAX),
        },
    );
    c.fails(
        "bank-a",
        TxBody::Transfer {
            to: "provider-a".parse().unwrap(),
            amount: cny(1),
        },
        62,
    );
    // A query's escrow needs the balance too.
    let g = TestChain::new("guangdong", 4).next_block();
    c.ok(
        "relayer-a",
        TxBody::CreateClient {
            anchor: g,
            params: LightClientParams::default(),
        },
    );
    let r = c.fails(
        "bank-a",
        TxBody::SendCreditQuery {
            destination: chain("guangdong"),
            query: query("bank-a", 5_000),
            timeout_height: Some(protocol::Height::new(100).unwrap()),
            timeout_time: None,
        },
        60,
    );
    contains(&r, "insufficient balance");
}

#[test]
fn record_and_attestation_rejections() {
    let mut c = chain_with_everyone();
    let r = c.fails("provider-a", commit_record("bureau-a"), 30);
    contains(&r, "names provider bureau-a, but the sender is provider-a");

    let now = c.now();
    let mut a = Attestation {
        issuer: id("bureau-a"),
        issuer_key: PublicKey([0; 32]),
        enterprise: enterprise(),
        claim: "no overdue loan in 24 months".into(),
        issued_at: now,
        expires_at: secs(now, 86_400),
        signature: Signature([0; 64]),
    };
    sign_attestation(&key("bureau-a"), &mut a);
    // Banks do not issue attestations.
    c.fails(
        "bank-a",
        TxBody::IssueAttestation {
            attestation: a.clone(),
        },
        8,
    );
    // Issued in another's name.
    let r = c.fails(
        "provider-a",
        TxBody::IssueAttestation {
            attestation: a.clone(),
        },
        50,
    );
    contains(&r, "names issuer bureau-a");
    // Tampered claim.
    let mut tampered = a.clone();
    tampered.claim = "tax grade A".into();
    c.fails(
        "bureau-a",
        TxBody::IssueAttestation {
            attestation: tampered,
        },
        51,
    );
    // Expired.
    let mut old = a.clone();
    old.issued_at = secs(now, 0).saturating_sub(std::time::Duration::from_secs(100));
    old.expires_at = secs(now, 0).saturating_sub(std::time::Duration::from_secs(1));
    sign_attestation(&key("bureau-a"), &mut old);
    c.fails(
        "bureau-a",
        TxBody::IssueAttestation { attestation: old },
        53,
    );
    // Issued in the future.
    let mut future = a.clone();
    future.issued_at = secs(now, 60);
    sign_attestation(&key("bureau-a"), &mut future);
    c.fails(
        "bureau-a",
        TxBody::IssueAttestation {
            attestation: future,
        },
        9,
    );
    c.ok(
        "bureau-a",
        TxBody::IssueAttestation {
            attestation: a.clone(),
        },
    );
    c.fails("bureau-a", TxBody::IssueAttestation { attestation: a }, 52);
}

#[test]
fn interchain_rejections_without_clients() {
    let mut c = chain_with_everyone();
    let r = c.fails(
        "bank-a",
        TxBody::SendCreditQuery {
            destination: chain("guangdong"),
            query: query("bank-a", 0),
            timeout_height: Some(protocol::Height::new(100).unwrap()),
            timeout_time: None,
        },
        71,
    );
    contains(&r, "no light client of guangdong");
    let r = c.fails(
        "bank-a",
        TxBody::SendCreditQuery {
            destination: chain("shaanxi"),
            query: query("bank-a", 0),
            timeout_height: Some(protocol::Height::new(100).unwrap()),
            timeout_time: None,
        },
        9,
    );
    contains(&r, "destination is this chain");
    let g = TestChain::new("guangdong", 4).next_block();
    c.fails("relayer-a", TxBody::UpdateClient { block: g.clone() }, 71);
    c.ok(
        "relayer-a",
        TxBody::CreateClient {
            anchor: g.clone(),
            params: LightClientParams::default(),
        },
    );
    c.fails(
        "relayer-a",
        TxBody::CreateClient {
            anchor: g,
            params: LightClientParams::default(),
        },
        70,
    );
    // A header signed by strangers.
    let mut forged = TestChain::new("guangdong", 4);
    forged.next_block();
    let other = TestChain::new("guangdong-fake", 4);
    let mut header = forged.next_header();
    header.validators_hash = other.committee().validator_set().hash();
    header.next_validators_hash = header.validators_hash;
    let commit = other.committee().sign(&header);
    let block = protocol::LightBlock {
        signed_header: protocol::SignedHeader { header, commit },
        validators: other.committee().validator_set().clone(),
        next_validators: other.committee().validator_set().clone(),
    };
    let r = c.fails("relayer-a", TxBody::UpdateClient { block }, 73);
    contains(&r, "light client of guangdong refused it");
}

/// The attack: a client created from an anchor dated in the future, so its
/// trusting period runs from then and a fork signed later outranks every
/// honest header. Refused beyond the allowed clock drift, named.
#[test]
fn a_client_anchor_from_the_future_is_refused() {
    let mut c = chain_with_everyone();
    let now = c.now();
    let params = LightClientParams::default();
    let mut future = TestChain::new("guangdong", 4);
    let mut header = future.next_header();
    // One second past the allowed drift.
    header.time = secs(now, params.clock_drift_secs + 1);
    let anchor = future.commit_header(header);
    let r = c.fails("relayer-a", TxBody::CreateClient { anchor, params }, 90);
    assert_eq!(r.codespace, "interchain");
    contains(&r, "anchor of guangdong at height 1 is from the future");
    contains(&r, "plus the allowed drift of 10s");
    // Within the drift: created.
    let mut near = TestChain::new("guangdong", 4);
    let mut header = near.next_header();
    header.time = secs(now, params.clock_drift_secs);
    let anchor = near.commit_header(header);
    c.ok("relayer-a", TxBody::CreateClient { anchor, params });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes, or a valid transaction with one byte changed, never
    /// panic and never change the state unless they are a valid transaction.
    #[test]
    fn garbage_never_changes_state(
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut c = chain_with_everyone();
        let before = c.state.clone();
        let ctx = c.ctx();
        let r = App::deliver_tx_bytes(&mut c.state, &ctx, &garbage);
        prop_assert!(r.code != 0);
        prop_assert_eq!(&c.state, &before);
        let mut bytes = c.tx("provider-a", commit_record("provider-a")).to_canonical_bytes();
        let i = flip.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let r = App::deliver_tx_bytes(&mut c.state, &ctx, &bytes);
        prop_assert!(r.code != 0, "a corrupted transaction was accepted");
        prop_assert_eq!(&c.state, &before);
    }
}
