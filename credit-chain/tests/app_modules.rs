//! The modules on one chain: genesis, institutions, record commitments, consent,
//! attestations, fees, validator-set changes.

mod app_support;

use app_support::*;
use credit_chain::app::attestations::attestation_id;
use credit_chain::app::auth::sign_attestation;
use credit_chain::app::state::{ConsentRecord, InstitutionRecord, Principal};
use credit_chain::app::{App, AppError, GenesisState, keys};
use light_clients::credit_chain::signing::Committee;
use light_clients::credit_chain::{LightClient, Options, UpdateOutcome};
use light_clients::merkle::{StateTree, verify_membership};
use protocol::encoding::Canonical;
use protocol::sealed::{MAX_RECORDS_PER_ANSWER, RecordCommitment, SaltedRecord};
use protocol::tx::{Account, Role, TxBody};
use protocol::{Attestation, PublicKey, RecordKind, Signature};

fn provider_chain() -> Chain {
    let mut g = genesis(vec![
        institution("provider-b", &[Role::DataProvider]),
        institution("bureau-b", &[Role::CreditBureau]),
        institution("bank-b", &[Role::Bank]),
        institution("registrar-b", &[Role::Registrar]),
    ]);
    g.balances = vec![balance("bank-b", 2_000), balance("shaanxi/bank-a", 700)];
    g.query_fees = vec![fee("provider-b", 300)];
    Chain::new("guangdong", &g)
}

#[test]
fn genesis_is_written_and_validated() {
    let c = provider_chain();
    assert_eq!(c.balance("bank-b"), 2_000);
    assert_eq!(c.balance("shaanxi/bank-a"), 700);
    let inst: InstitutionRecord = c.read(&keys::institution(&id("provider-b"))).unwrap();
    assert_eq!(inst.roles, vec![Role::DataProvider]);
    assert_eq!(
        c.read::<Principal>(&keys::principal(&pk("gov"))),
        Some(Principal::Governance)
    );
    assert_eq!(
        c.read::<Principal>(&keys::principal(&pk("ent"))),
        Some(Principal::Enterprise(enterprise()))
    );
    assert_eq!(
        c.read::<protocol::Money>(&keys::query_fee(&id("provider-b"))),
        Some(cny(300))
    );

    // A second genesis on the same store is refused.
    let mut state = c.state.clone();
    assert_eq!(
        App::init_genesis(&mut state, &GenesisState::default()),
        Err(AppError::AlreadyInitialised)
    );
    // Invalid genesis documents write nothing.
    let cases: Vec<(GenesisState, &str)> = vec![
        (GenesisState::default(), "no governance key"),
        (
            {
                let mut g = genesis(vec![
                    institution("bank-a", &[Role::Bank]),
                    institution("bank-a", &[Role::Bank]),
                ]);
                g.governance_keys.push(pk("other-gov"));
                g
            },
            "institution bank-a is already registered",
        ),
        (
            genesis(vec![institution("gov", &[Role::Bank]).clone()]).tap(|g| {
                g.institutions[0].key = pk("gov");
            }),
            "already registered to governance",
        ),
        (
            genesis(vec![]).tap(|g| g.balances = vec![balance("nobody", 1)]),
            "unknown institution nobody",
        ),
        (
            genesis(vec![institution("bank-a", &[Role::Bank])])
                .tap(|g| g.query_fees = vec![fee("bank-a", 1)]),
            "not a data provider",
        ),
        (genesis(vec![institution("bank-a", &[])]), "roles is empty"),
    ];
    for (g, needle) in cases {
        let mut state = State::new();
        let err = App::init_genesis(&mut state, &g).unwrap_err();
        assert!(err.to_string().contains(needle), "{err} / {needle}");
        assert!(state.is_empty(), "a refused genesis wrote {state:?}");
    }
}

trait Tap: Sized {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}
impl Tap for GenesisState {}

#[test]
fn institutions_register_and_suspend() {
    let mut c = provider_chain();
    let r = c.ok(
        "gov",
        TxBody::RegisterInstitution {
            institution: id("relayer-b"),
            name: "Relayer B".into(),
            roles: vec![Role::Relayer, Role::Bank],
            key: pk("relayer-b"),
        },
    );
    let ev = r.events_of("institution_registered").next().unwrap();
    assert_eq!(ev.get("roles"), Some("bank,relayer"));
    let inst: InstitutionRecord = c.read(&keys::institution(&id("relayer-b"))).unwrap();
    assert_eq!(inst.roles, vec![Role::Bank, Role::Relayer]);
    assert_eq!(inst.suspension, None);
    c.ok(
        "gov",
        TxBody::SuspendInstitution {
            institution: id("relayer-b"),
            reason: "key compromise".into(),
        },
    );
    let inst: InstitutionRecord = c.read(&keys::institution(&id("relayer-b"))).unwrap();
    let s = inst.suspension.unwrap();
    assert_eq!(s.reason, "key compromise");
    assert_eq!(s.since, c.height());
}

#[test]
fn registrar_rotates_an_enterprise_key() {
    let mut c = provider_chain();
    c.ok(
        "registrar-b",
        TxBody::RegisterEnterprise {
            enterprise: enterprise(),
            key: pk("ent-rotated"),
        },
    );
    assert_eq!(c.read::<Principal>(&keys::principal(&pk("ent"))), None);
    // The old key signs no more consents; the new one does.
    let exp = secs(c.now(), 3600);
    c.fails(
        "ent-rotated",
        consent(
            "guangdong",
            "shaanxi",
            "bank-a",
            &[RecordKind::Loan],
            exp,
            0,
        ),
        40,
    );
    c.fails(
        "ent",
        TxBody::RevokeConsent {
            consent_id: protocol::Hash::ZERO,
        },
        4,
    );
}

#[test]
fn record_commitments_are_appended_under_readable_keys() {
    let mut c = provider_chain();
    let start = "2025-03-01T00:00:00Z".parse().unwrap();
    let loan = SaltedRecord::new(
        record("provider-b", RecordKind::Loan, 5_000_017, start),
        &mut rand::rngs::OsRng,
    );
    let r = c.ok(
        "provider-b",
        TxBody::CommitRecord {
            commitment: loan.commitment(),
        },
    );
    let ev = r.events_of("record_committed").next().unwrap();
    assert_eq!(
        ev.get("key"),
        Some("records/91350100M000100Y43/provider-b/00000000000000000001")
    );
    assert_eq!(ev.get("kind"), Some("loan"));
    assert_eq!(ev.get("sequence"), Some("1"));
    assert_eq!(
        ev.get("digest"),
        Some(loan.commitment().digest.to_string().as_str())
    );
    let mut repaid = loan.record.clone();
    repaid.kind = RecordKind::Repayment;
    repaid.status = protocol::RecordStatus::Settled;
    let repaid = c.commit(repaid);
    let all = credit_chain::app::records::records_of(&c.state, &enterprise()).unwrap();
    let got: Vec<RecordCommitment> = all.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, vec![loan.commitment(), repaid.commitment()]);
    // Provable: the stored bytes are the canonical commitment, which holds
    // no amount.
    let key = keys::record(&enterprise(), &id("provider-b"), 1);
    let tree = StateTree::from_map(&c.state);
    let proof = tree.prove_membership(&key).unwrap();
    let bytes = borsh::to_vec(&loan.commitment()).unwrap();
    verify_membership(&tree.root(), &key, &bytes, &proof).unwrap();
    assert_no_amount(&c.state, &[5_000_017]);
}

/// A provider holds at most `MAX_RECORDS_PER_ANSWER` commitments about one
/// enterprise, so its sealed answer to any query always fits; another
/// enterprise is unaffected.
#[test]
fn record_commitments_are_bounded_per_enterprise_and_provider() {
    let mut c = provider_chain();
    let start = "2025-03-01T00:00:00Z".parse().unwrap();
    let body = |e: protocol::EnterpriseId, units: u64| {
        let mut r = record("provider-b", RecordKind::Loan, units, start);
        r.enterprise = e;
        TxBody::CommitRecord {
            commitment: SaltedRecord::new(r, &mut rand::rngs::OsRng).commitment(),
        }
    };
    let txs: Vec<_> = (0..MAX_RECORDS_PER_ANSWER as u64)
        .map(|i| c.tx_n("provider-b", i, body(enterprise(), i)))
        .collect();
    assert!(c.block(&txs).iter().all(|r| r.is_ok()));
    let r = c.fails("provider-b", body(enterprise(), 9), 32);
    assert!(
        r.message.contains("already holds 256 record commitments"),
        "{}",
        r.message
    );
    c.ok("provider-b", body(other_enterprise(), 9));
    // Only the provider itself commits, and only as a data provider.
    let r = c.fails("bureau-b", body(other_enterprise(), 1), 8);
    assert!(r.message.contains("may not commit_record"), "{}", r.message);
    let mut theirs = record("bureau-b", RecordKind::Loan, 1, start);
    theirs.enterprise = other_enterprise();
    let theirs = TxBody::CommitRecord {
        commitment: SaltedRecord::new(theirs, &mut rand::rngs::OsRng).commitment(),
    };
    c.fails("provider-b", theirs, 30);
}

#[test]
fn consent_is_granted_by_anyone_holding_it_and_revoked_by_the_enterprise() {
    let mut c = provider_chain();
    let body = consent(
        "guangdong",
        "shaanxi",
        "bank-a",
        &[RecordKind::Overdue, RecordKind::Loan],
        secs(c.now(), 86_400),
        7,
    );
    let id = consent_id(&body);
    // The grantee's partner submits it; the enterprise's signature is what counts.
    let r = c.ok("bank-b", body);
    let ev = r.events_of("consent_granted").next().unwrap();
    assert_eq!(ev.get("consent_id"), Some(id.to_string().as_str()));
    assert_eq!(ev.get("grantee"), Some("shaanxi/bank-a"));
    assert_eq!(ev.get("scope"), Some("loan,overdue"));
    let stored: ConsentRecord = c.read(&keys::consent(&id)).unwrap();
    assert_eq!(stored.revoked_at, None);
    c.ok("ent", TxBody::RevokeConsent { consent_id: id });
    let stored: ConsentRecord = c.read(&keys::consent(&id)).unwrap();
    assert_eq!(
        stored.revoked_at,
        Some(c.light_block(c.height()).header().time)
    );
}

#[test]
fn attestations_are_stored_and_provable() {
    let mut c = provider_chain();
    let now = c.now();
    let mut a = Attestation {
        issuer: id("bureau-b"),
        issuer_key: PublicKey([0; 32]),
        enterprise: enterprise(),
        claim: "no overdue loan in 24 months".into(),
        issued_at: now,
        expires_at: secs(now, 365 * 86_400),
        signature: Signature([0; 64]),
    };
    sign_attestation(&key("bureau-b"), &mut a);
    let r = c.ok(
        "bureau-b",
        TxBody::IssueAttestation {
            attestation: a.clone(),
        },
    );
    let aid = attestation_id(&a);
    let ev = r.events_of("attestation_issued").next().unwrap();
    assert_eq!(ev.get("attestation_id"), Some(aid.to_string().as_str()));
    let key = keys::attestation(&aid);
    assert_eq!(c.read::<Attestation>(&key), Some(a.clone()));
    // Another chain's light client of this one verifies it.
    let h = c.height();
    let block = c.light_block(h);
    let client = LightClient::new(block, Options::default(), now).unwrap();
    let proof = borsh::from_slice(&c.prove(h, &key)).unwrap();
    client
        .verify_membership(h, &key, &borsh::to_vec(&a).unwrap(), &proof)
        .unwrap();
}

#[test]
fn fees_and_transfers_move_balances() {
    let mut c = provider_chain();
    c.ok("provider-b", TxBody::SetQueryFee { fee: cny(450) });
    assert_eq!(
        c.read::<protocol::Money>(&keys::query_fee(&id("provider-b"))),
        Some(cny(450))
    );
    let r = c.ok(
        "bank-b",
        TxBody::Transfer {
            to: "shaanxi/bank-a".parse().unwrap(),
            amount: cny(2_000),
        },
    );
    let ev = r.events_of("transfer").next().unwrap();
    assert_eq!(ev.get("from"), Some("bank-b"));
    assert_eq!(ev.get("to"), Some("shaanxi/bank-a"));
    assert_eq!(c.balance("shaanxi/bank-a"), 2_700);
    // An emptied account is not kept in state.
    assert_eq!(c.balance("bank-b"), 0);
    assert!(
        !c.state
            .contains_key(&keys::balance(&Account::Local(id("bank-b"))))
    );
    c.ok(
        "gov",
        TxBody::Mint {
            to: "bank-b".parse().unwrap(),
            amount: cny(10),
        },
    );
    assert_eq!(c.balance("bank-b"), 10);
}

#[test]
fn validator_set_change_takes_effect_through_next_validators_hash() {
    let mut c = provider_chain();
    c.empty_blocks(1);
    let anchor = c.latest();
    let mut client = LightClient::new(anchor, Options::default(), c.now()).unwrap();

    let new = Committee::deterministic("guangdong-rotated", 5);
    c.expect_committee(new.clone());
    let tx = c.tx(
        "gov",
        TxBody::SetValidators {
            validators: new.validator_set().clone(),
        },
    );
    let (results, end) = c.block_with_end(&[tx]);
    assert!(results[0].is_ok(), "{}", results[0].message);
    assert_eq!(end.next_validators.as_ref(), Some(new.validator_set()));
    assert_eq!(
        c.read::<protocol::ValidatorSet>(&keys::validators())
            .as_ref(),
        Some(new.validator_set())
    );
    assert!(!c.state.contains_key(&keys::pending_validators()));
    let announcing = c.latest();
    assert_eq!(
        announcing.header().next_validators_hash,
        new.validator_set().hash()
    );
    assert_ne!(
        announcing.header().validators_hash,
        announcing.header().next_validators_hash
    );
    // Blocks without a change announce nothing.
    let (_, end) = c.block_with_end(&[]);
    assert_eq!(end.next_validators, None);
    let signed_by_new = c.latest();
    assert_eq!(
        signed_by_new.header().validators_hash,
        new.validator_set().hash()
    );
    // A light client follows: the announcing block, then the first one
    // signed by the new set, sequentially.
    for block in [announcing, signed_by_new] {
        let now = block.header().time;
        assert!(matches!(
            client.update(block, now).unwrap(),
            UpdateOutcome::Verified { .. }
        ));
    }
}

#[test]
fn transactions_round_trip_through_bytes_and_json() {
    let c = provider_chain();
    let commitment = SaltedRecord::new(
        record("provider-b", RecordKind::Tax, 1, c.now()),
        &mut rand::rngs::OsRng,
    )
    .commitment();
    let tx = c.tx("provider-b", TxBody::CommitRecord { commitment });
    let bytes = tx.to_canonical_bytes();
    assert_eq!(App::decode_tx(&bytes).unwrap(), tx);
    let json = serde_json::to_string(&tx).unwrap();
    assert_eq!(
        serde_json::from_str::<protocol::SignedTransaction>(&json).unwrap(),
        tx
    );
    App::check_tx(&c.state, &c.ctx(), &tx).unwrap();
}
