//! The registry's rules, one test each.

use ed25519_dalek::SigningKey;
use protocol::{
    ChainId, ChainRegistration, ChainType, Hash, Height, Proposal, PublicKey, Signature,
    SignedProposal, TrustAnchor, Validator, ValidatorSet,
};

use super::service::{MAX_MESSAGE_BYTES, RegistryOptions};
use super::signing::{public_key, sign_approval, sign_proposal, sign_registration};
use super::*;
use crate::store::Store;
use std::sync::Arc;

/// The time the tests' proposals are received (unix seconds).
const NOW: u64 = 1_700_000_000;

const PEER_A: &str = "12D3KooWAbcdefghijkmnopqrstuvwxyz123456789ABCDEFGH";
const PEER_B: &str = "12D3KooWBbcdefghijkmnopqrstuvwxyz123456789ABCDEFGH";
const REGULATOR: &str = "12D3KooWRegu1atorPeerxyz23456789ABCDEFGHJKLMNPQRS";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn chain(id: &str) -> ChainId {
    id.parse().unwrap()
}

fn anchor(seed: u8) -> TrustAnchor {
    TrustAnchor {
        height: Height::new(10).unwrap(),
        header_hash: Hash::digest(&[seed]),
        next_validators: ValidatorSet::new(vec![Validator {
            pub_key: public_key(&key(200)),
            power: 1,
        }])
        .unwrap(),
    }
}

/// Governors are keys 1..=n; threshold k; chain "shaanxi" at genesis
/// served by PEER_A; the regulator admitted.
fn genesis(n: u8, k: u32) -> RegistryGenesis {
    RegistryGenesis {
        governors: (1..=n).map(|i| public_key(&key(i))).collect(),
        threshold: k,
        chains: vec![GenesisChain {
            chain_id: chain("shaanxi"),
            chain_type: ChainType::CreditChain,
            trust_anchor: anchor(0),
            operator_key: public_key(&key(100)),
            relayer_peer_ids: vec![PEER_A.into()],
        }],
        admitted_peers: vec![REGULATOR.into()],
    }
}

fn registration(id: &str, operator: &SigningKey) -> SignedProposal {
    let mut r = ChainRegistration {
        chain_id: chain(id),
        chain_type: ChainType::CreditChain,
        trust_anchor: anchor(1),
        operator_key: PublicKey([0; 32]),
        relayer_peer_ids: vec![PEER_B.into()],
        operator_signature: Signature([0; 64]),
    };
    sign_registration(&mut r, operator);
    sign_proposal(Proposal::Register(r), operator)
}

fn freeze(id: &str, governor: &SigningKey) -> SignedProposal {
    sign_proposal(
        Proposal::Freeze {
            chain_id: chain(id),
            reason: "double signing at height 43".into(),
        },
        governor,
    )
}

fn deregister(id: &str, governor: &SigningKey) -> SignedProposal {
    sign_proposal(
        Proposal::Deregister {
            chain_id: chain(id),
            reason: "platform retired".into(),
        },
        governor,
    )
}

/// The event of an approval that decided its proposal.
fn decided(outcome: Result<ApprovalOutcome, RegistryError>) -> RegistryEvent {
    match outcome {
        Ok(ApprovalOutcome::Decided { event }) => *event,
        other => panic!("not decided: {other:?}"),
    }
}

#[test]
fn genesis_is_checked() {
    assert!(Registry::new(&genesis(3, 2)).is_ok());
    for (g, needle) in [
        (genesis(3, 0), "threshold 0"),
        (genesis(3, 4), "threshold 4"),
        (genesis(0, 1), "no governance key"),
    ] {
        let err = Registry::new(&g).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
    let mut g = genesis(3, 2);
    g.governors.push(g.governors[0]);
    assert!(
        Registry::new(&g)
            .unwrap_err()
            .to_string()
            .contains("listed twice")
    );
    let mut g = genesis(3, 2);
    g.chains.push(g.chains[0].clone());
    assert!(
        Registry::new(&g)
            .unwrap_err()
            .to_string()
            .contains("chain shaanxi is listed twice")
    );
    let mut g = genesis(3, 2);
    g.admitted_peers.push("not a peer id!".into());
    assert!(
        Registry::new(&g)
            .unwrap_err()
            .to_string()
            .contains("not a base58 character")
    );
}

#[test]
fn k_of_n_approvals_register_a_chain() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let s = r.submit(registration("sichuan", &key(50)), NOW).unwrap();
    assert_eq!((s.approvals, s.threshold, s.decided), (0, 2, None));
    assert_eq!(r.proposals().count(), 1);
    assert!(r.chain(&chain("sichuan")).is_none());
    // One approval: still pending.
    assert_eq!(
        r.approve(sign_approval(s.id, &key(1))).unwrap(),
        ApprovalOutcome::Counted {
            approvals: 1,
            threshold: 2
        }
    );
    assert_eq!(r.proposal(&s.id).unwrap().approval_count(), 1);
    assert!(!r.is_allowed_peer(PEER_B));
    // The second distinct governor decides it.
    let RegistryEvent::ChainAccepted(c) = decided(r.approve(sign_approval(s.id, &key(3)))) else {
        panic!("not accepted");
    };
    assert_eq!(c.chain_id, chain("sichuan"));
    assert_eq!(c.status, ChainStatus::Active);
    assert_eq!(c.registered_by, Some(s.id));
    assert_eq!(r.proposals().count(), 0);
    assert_eq!(r.closure(&s.id), Some(Closure::Decided));
    assert_eq!(
        r.serving_peers(&chain("sichuan")).unwrap(),
        &[PEER_B.to_owned()]
    );
    assert_eq!(
        r.allowed_peers().into_iter().collect::<Vec<_>>(),
        vec![PEER_A.to_owned(), PEER_B.to_owned(), REGULATOR.to_owned()]
    );
    // A late approval changes nothing; a replay of the proposal is refused.
    assert_eq!(
        r.approve(sign_approval(s.id, &key(2))).unwrap(),
        ApprovalOutcome::AlreadyClosed {
            closure: Closure::Decided
        }
    );
    let err = r
        .submit(registration("sichuan", &key(50)), NOW)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is closed (decided)"), "{err}");
}

#[test]
fn duplicate_approvals_count_once_and_proposals_are_idempotent() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let p = registration("sichuan", &key(50));
    let id = r.submit(p.clone(), NOW).unwrap().id;
    let again = r.submit(p, NOW).unwrap();
    assert!(again.already_pending);
    assert_eq!(again.id, id);
    let a = sign_approval(id, &key(2));
    assert!(matches!(
        r.approve(a.clone()).unwrap(),
        ApprovalOutcome::Counted { approvals: 1, .. }
    ));
    assert_eq!(r.approve(a).unwrap(), ApprovalOutcome::AlreadyCounted);
    assert_eq!(r.proposal(&id).unwrap().approval_count(), 1);
    assert!(r.chain(&chain("sichuan")).is_none());
}

#[test]
fn bad_signatures_and_wrong_roles_are_refused() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let before = r.clone();
    // A registration proposed by someone else than its operator.
    let mut p = registration("sichuan", &key(50));
    p = sign_proposal(p.proposal, &key(51));
    let err = r.submit(p, NOW).unwrap_err();
    assert!(
        matches!(err, RegistryError::ProposerNotOperator { .. }),
        "{err}"
    );
    // The operator's signature of the registration is broken.
    let mut p = registration("sichuan", &key(50));
    if let Proposal::Register(reg) = &mut p.proposal {
        reg.operator_signature.0[0] ^= 1;
    }
    let p = sign_proposal(p.proposal, &key(50));
    let err = r.submit(p, NOW).unwrap_err();
    assert!(
        matches!(err, RegistryError::BadOperatorSignature { .. }),
        "{err}"
    );
    // The proposal's signature is broken.
    let mut p = registration("sichuan", &key(50));
    p.signature.0[5] ^= 1;
    let err = r.submit(p, NOW).unwrap_err().to_string();
    assert!(err.contains("signature of register proposal"), "{err}");
    // A freeze proposed by a non-governor.
    let err = r
        .submit(freeze("shaanxi", &key(9)), NOW)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not a governance key (proposer of a freeze)"),
        "{err}"
    );
    // A registration without a valid peer id.
    let mut p = registration("sichuan", &key(50));
    if let Proposal::Register(reg) = &mut p.proposal {
        reg.relayer_peer_ids = vec!["bad/peer".into()];
        sign_registration(reg, &key(50));
    }
    let err = r
        .submit(sign_proposal(p.proposal, &key(50)), NOW)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid registration of chain sichuan"),
        "{err}"
    );
    assert_eq!(r, before, "a refusal changes nothing");

    let id = r.submit(registration("sichuan", &key(50)), NOW).unwrap().id;
    // An approval by a non-governor, and one with a bad signature.
    let err = r
        .approve(sign_approval(id, &key(9)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a governance key (approver)"), "{err}");
    let mut a = sign_approval(id, &key(1));
    a.signature.0[0] ^= 1;
    let err = r.approve(a).unwrap_err();
    assert!(
        matches!(err, RegistryError::BadApprovalSignature { .. }),
        "{err}"
    );
    // A governor's signature of another proposal, relabelled.
    let mut a = sign_approval(Hash::digest(b"other"), &key(1));
    a.proposal_id = id;
    assert!(r.approve(a).is_err());
    assert_eq!(r.proposal(&id).unwrap().approval_count(), 0);
}

#[test]
fn state_rules_name_the_chain() {
    let mut r = Registry::new(&genesis(3, 1)).unwrap();
    let err = r
        .submit(registration("shaanxi", &key(50)), NOW)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "chain shaanxi is already registered (active)");
    let err = r
        .submit(freeze("hubei", &key(1)), NOW)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "chain hubei is not registered (registered: shaanxi)");
    let err = r
        .submit(deregister("hubei", &key(1)), NOW)
        .unwrap_err()
        .to_string();
    assert!(err.contains("chain hubei is not registered"), "{err}");
    let blank = sign_proposal(
        Proposal::Freeze {
            chain_id: chain("shaanxi"),
            reason: "  ".into(),
        },
        &key(1),
    );
    let err = r.submit(blank, NOW).unwrap_err().to_string();
    assert!(err.contains("the reason is empty"), "{err}");
}

#[test]
fn freeze_then_deregister() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let f = r.submit(freeze("shaanxi", &key(1)), NOW).unwrap().id;
    // A second freeze with another reason competes.
    let f2 = r
        .submit(
            sign_proposal(
                Proposal::Freeze {
                    chain_id: chain("shaanxi"),
                    reason: "other".into(),
                },
                &key(2),
            ),
            NOW,
        )
        .unwrap()
        .id;
    r.approve(sign_approval(f, &key(1))).unwrap();
    let out = decided(r.approve(sign_approval(f, &key(2))));
    assert!(
        matches!(
            &out,
            RegistryEvent::ChainFrozen { chain_id, proposal, .. }
                if *chain_id == chain("shaanxi") && *proposal == f
        ),
        "{out:?}"
    );
    let c = r.chain(&chain("shaanxi")).unwrap();
    assert!(!c.is_active());
    assert_eq!(c.status.to_string(), "frozen: double signing at height 43");
    // The competing freeze is moot now; frozen chains stay admitted.
    assert_eq!(r.closure(&f2), Some(Closure::Superseded { by: f }));
    assert!(r.is_allowed_peer(PEER_A));
    let err = r.submit(freeze("shaanxi", &key(3)), NOW);
    assert!(matches!(err, Err(RegistryError::ProposalClosed { .. })));
    let err = r
        .submit(
            sign_proposal(
                Proposal::Freeze {
                    chain_id: chain("shaanxi"),
                    reason: "again".into(),
                },
                &key(3),
            ),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::AlreadyFrozen { .. }), "{err}");

    let d = r.submit(deregister("shaanxi", &key(3)), NOW).unwrap().id;
    r.approve(sign_approval(d, &key(3))).unwrap();
    let RegistryEvent::ChainDeregistered { former_peers, .. } =
        decided(r.approve(sign_approval(d, &key(1))))
    else {
        panic!("not deregistered");
    };
    assert_eq!(former_peers, vec![PEER_A.to_owned()]);
    assert!(r.chain(&chain("shaanxi")).is_none());
    assert!(!r.is_allowed_peer(PEER_A));
    assert!(r.is_allowed_peer(REGULATOR));
    assert_eq!(r.chains().count(), 0);
}

#[test]
fn a_replayed_registration_cannot_re_register_a_removed_chain() {
    let mut r = Registry::new(&genesis(1, 1)).unwrap();
    let reg = registration("sichuan", &key(50));
    let id = reg.id();
    let approval = sign_approval(id, &key(1));
    r.submit(reg.clone(), NOW).unwrap();
    r.approve(approval.clone()).unwrap();
    let d = r.submit(deregister("sichuan", &key(1)), NOW).unwrap().id;
    r.approve(sign_approval(d, &key(1))).unwrap();
    assert!(r.chain(&chain("sichuan")).is_none());
    // Gossip replays the old registration and its approval.
    assert!(r.submit(reg, NOW).is_err());
    assert!(matches!(
        r.approve(approval).unwrap(),
        ApprovalOutcome::AlreadyClosed { .. }
    ));
    assert!(r.chain(&chain("sichuan")).is_none());
}

#[test]
fn approvals_before_their_proposal_are_counted_when_it_arrives() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let p = registration("sichuan", &key(50));
    assert_eq!(
        r.approve(sign_approval(p.id(), &key(1))).unwrap(),
        ApprovalOutcome::Deferred
    );
    assert_eq!(
        r.approve(sign_approval(p.id(), &key(1))).unwrap(),
        ApprovalOutcome::AlreadyCounted
    );
    assert_eq!(r.orphan_approvals(), 1);
    let s = r.submit(p.clone(), NOW).unwrap();
    assert_eq!((s.approvals, s.decided.is_none()), (1, true));
    assert_eq!(r.orphan_approvals(), 0);
    // Both approvals first: the proposal is decided on arrival.
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    r.approve(sign_approval(p.id(), &key(2))).unwrap();
    r.approve(sign_approval(p.id(), &key(3))).unwrap();
    let s = r.submit(p, NOW).unwrap();
    assert!(matches!(s.decided, Some(RegistryEvent::ChainAccepted(_))));
    assert!(r.chain(&chain("sichuan")).is_some());
}

#[test]
fn orphan_approvals_are_bounded() {
    let mut r = Registry::new(&genesis(2, 2)).unwrap();
    let first = Hash::digest(b"0");
    for i in 0..(MAX_ORPHAN_APPROVALS + 10) {
        let id = Hash::digest(i.to_string().as_bytes());
        assert_eq!(
            r.approve(sign_approval(id, &key(1))).unwrap(),
            ApprovalOutcome::Deferred
        );
    }
    assert_eq!(r.orphan_approvals(), MAX_ORPHAN_APPROVALS);
    // The oldest went first.
    assert_eq!(
        r.approve(sign_approval(first, &key(1))).unwrap(),
        ApprovalOutcome::Deferred
    );
}

#[test]
fn state_round_trips_through_bytes() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let id = r.submit(registration("sichuan", &key(50)), NOW).unwrap().id;
    r.approve(sign_approval(id, &key(1))).unwrap();
    r.approve(sign_approval(Hash::digest(b"later"), &key(2)))
        .unwrap();
    r.submit(freeze("shaanxi", &key(1)), NOW).unwrap();
    let back = Registry::from_bytes(&r.to_bytes()).unwrap();
    assert_eq!(back, r);
    assert!(Registry::from_bytes(&[]).is_err());
    assert!(Registry::from_bytes(&[9, 1, 2]).is_err());
    let mut cut = r.to_bytes();
    cut.truncate(cut.len() / 2);
    assert!(matches!(
        Registry::from_bytes(&cut),
        Err(RegistryError::CorruptState(_))
    ));
}

/// Opens the store in `dir`, waiting for sled's background threads of an
/// instance just dropped to let go of its lock.
fn reopen(dir: &std::path::Path) -> Store {
    for _ in 0..100 {
        if let Ok(store) = Store::open(dir) {
            return store;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Store::open(dir).unwrap()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("relayer-registry-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_service_persists_and_publishes() {
    let dir = temp_dir("service");
    let g = genesis(3, 2);
    let reg = registration("sichuan", &key(50));
    let id = reg.id();
    {
        let service = RegistryService::open(reopen(&dir), &g).unwrap();
        let mut updates = service.subscribe();
        service.submit(reg.clone()).unwrap();
        assert_eq!(
            updates.try_recv().unwrap(),
            RegistryUpdate::Proposed(reg.clone())
        );
        // Gossip duplicates publish nothing.
        assert!(service.submit(reg.clone()).unwrap().already_pending);
        let a = sign_approval(id, &key(1));
        service
            .approve_bytes(&protocol::Canonical::to_canonical_bytes(&a))
            .unwrap();
        assert!(matches!(
            updates.try_recv().unwrap(),
            RegistryUpdate::Approved { .. }
        ));
        assert_eq!(service.approve(a).unwrap(), ApprovalOutcome::AlreadyCounted);
        assert!(updates.try_recv().is_err());
        // Refusals change nothing and publish nothing.
        assert!(service.submit_bytes(&[1, 2, 3]).is_err());
        assert!(
            service
                .approve_bytes(&vec![0; MAX_MESSAGE_BYTES + 1])
                .is_err()
        );
        assert!(updates.try_recv().is_err());
    }
    // Restarted: the pending proposal and its approval are still there.
    let service = RegistryService::open(reopen(&dir), &g).unwrap();
    assert_eq!(
        service.read(|r| r.proposal(&id).map(PendingProposal::approval_count)),
        Some(1)
    );
    let mut updates = service.subscribe();
    let out = service.approve(sign_approval(id, &key(2))).unwrap();
    assert!(matches!(out, ApprovalOutcome::Decided { .. }));
    assert!(matches!(
        updates.try_recv().unwrap(),
        RegistryUpdate::Approved { .. }
    ));
    assert!(matches!(
        updates.try_recv().unwrap(),
        RegistryUpdate::Decided(RegistryEvent::ChainAccepted(_))
    ));
    drop(service);
    let service = RegistryService::open(reopen(&dir), &g).unwrap();
    assert!(service.allowed_peers().contains(PEER_B));
    assert!(service.read(|r| r.chain(&chain("sichuan")).is_some()));
    drop(service);
    // Another genesis is refused.
    let err = RegistryService::open(reopen(&dir), &genesis(3, 3))
        .err()
        .unwrap();
    assert!(matches!(err, ServiceError::GenesisMismatch { .. }), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn untrusted_bytes_never_panic_the_service() {
    let dir = temp_dir("bytes");
    let service = RegistryService::open(Store::open(&dir).unwrap(), &genesis(3, 2)).unwrap();
    let good = protocol::Canonical::to_canonical_bytes(&registration("sichuan", &key(50)));
    let approval =
        protocol::Canonical::to_canonical_bytes(&sign_approval(Hash::digest(b"x"), &key(1)));
    let mut state = 0x9e37_79b9_u32;
    for round in 0..2000 {
        let mut bytes = if round % 2 == 0 {
            good.clone()
        } else {
            approval.clone()
        };
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let i = state as usize % bytes.len();
        bytes[i] = (state >> 8) as u8;
        bytes.truncate(bytes.len() - (state as usize >> 3) % 4);
        let _ = service.submit_bytes(&bytes);
        let _ = service.approve_bytes(&bytes);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A registry that decided sichuan's registration (governors 1 and 2) and
/// holds a freeze of shaanxi pending with governor 1's approval.
fn busy_service(dir: &std::path::Path) -> Arc<RegistryService> {
    let service = RegistryService::open(Store::open(dir).unwrap(), &genesis(3, 2)).unwrap();
    let id = service
        .submit(registration("sichuan", &key(50)))
        .unwrap()
        .id;
    service.approve(sign_approval(id, &key(1))).unwrap();
    service.approve(sign_approval(id, &key(2))).unwrap();
    let freeze = service.submit(freeze("shaanxi", &key(1))).unwrap().id;
    service.approve(sign_approval(freeze, &key(1))).unwrap();
    service
}

#[test]
fn a_snapshot_replays_missed_decisions_once_in_any_order() {
    let dirs = [temp_dir("snap-a"), temp_dir("snap-b"), temp_dir("snap-c")];
    let source = busy_service(&dirs[0]);
    let page = source.snapshot_page(0);
    assert_eq!(page.next, None);
    assert_eq!(page.entries.len(), 2, "one decided, one pending");
    assert_eq!(page.entries[0].approvals.len(), 2);

    let late = RegistryService::open(Store::open(&dirs[1]).unwrap(), &genesis(3, 2)).unwrap();
    let mut updates = late.subscribe();
    let report = late.merge(&page.entries);
    assert_eq!(report.proposals, 2);
    assert_eq!(report.approvals, 3);
    assert_eq!(report.decided, 1);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    // The same state as the source's, and the decision published as a
    // gossiped one is (subscribers track the chain on it).
    assert_eq!(late.snapshot(), source.snapshot());
    let mut seen = Vec::new();
    while let Ok(update) = updates.try_recv() {
        seen.push(update);
    }
    assert!(
        seen.iter().any(|u| matches!(
            u,
            RegistryUpdate::Decided(RegistryEvent::ChainAccepted(c)) if c.chain_id == chain("sichuan")
        )),
        "{seen:?}"
    );

    // The same snapshot twice changes nothing and publishes nothing.
    let before = late.snapshot();
    let again = late.merge(&page.entries);
    assert_eq!(again, MergeReport::default());
    assert!(!again.changed());
    assert_eq!(late.snapshot(), before);
    assert!(updates.try_recv().is_err());

    // Reversed (the freeze of shaanxi is fine either way; a proposal that
    // does not apply yet is retried after the others): the same state.
    let reversed: Vec<SnapshotEntry> = page.entries.iter().rev().cloned().collect();
    let other = RegistryService::open(Store::open(&dirs[2]).unwrap(), &genesis(3, 2)).unwrap();
    other.merge(&reversed);
    assert_eq!(other.snapshot(), source.snapshot());
    // The merged state survives a restart (it is persisted).
    drop(other);
    let other = RegistryService::open(reopen(&dirs[2]), &genesis(3, 2)).unwrap();
    assert!(other.read(|r| r.chain(&chain("sichuan")).is_some()));
    for dir in dirs {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_snapshot_that_only_applies_in_order_is_retried_until_it_does() {
    // Deregistered, then registered again with a new anchor: the second
    // registration cannot apply before the removal.
    let dirs = [temp_dir("order-a"), temp_dir("order-b")];
    let source = RegistryService::open(Store::open(&dirs[0]).unwrap(), &genesis(3, 1)).unwrap();
    let gone = source.submit(deregister("shaanxi", &key(1))).unwrap().id;
    source.approve(sign_approval(gone, &key(1))).unwrap();
    let mut again = registration("shaanxi", &key(100));
    if let Proposal::Register(r) = &mut again.proposal {
        r.trust_anchor = anchor(9);
        sign_registration(r, &key(100));
    }
    let again = sign_proposal(again.proposal, &key(100));
    let back = source.submit(again).unwrap().id;
    source.approve(sign_approval(back, &key(2))).unwrap();
    let entries: Vec<SnapshotEntry> = source.snapshot_page(0).entries.into_iter().rev().collect();
    let late = RegistryService::open(Store::open(&dirs[1]).unwrap(), &genesis(3, 1)).unwrap();
    let report = late.merge(&entries);
    assert_eq!(report.decided, 2, "{report:?}");
    assert_eq!(
        late.read(|r| r.chain(&chain("shaanxi")).map(|c| c.trust_anchor.clone())),
        Some(anchor(9))
    );
    for dir in dirs {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn forged_items_of_a_snapshot_are_refused_and_counted() {
    let dirs = [temp_dir("forged-a"), temp_dir("forged-b")];
    let source = busy_service(&dirs[0]);
    let mut entries = source.snapshot_page(0).entries;
    let id = registration("sichuan", &key(50)).id();
    // sichuan's second approval forged (signature flipped), a third from a
    // key that is not a governance key, and a forged proposal with an
    // approval that must not be kept for it.
    let mut flipped = sign_approval(id, &key(2));
    flipped.signature.0[0] ^= 1;
    entries[0].approvals[1] = protocol::Canonical::to_canonical_bytes(&flipped);
    entries[0]
        .approvals
        .push(protocol::Canonical::to_canonical_bytes(&sign_approval(
            id,
            &key(77),
        )));
    let mut forged = registration("beijing", &key(51));
    forged.signature = Signature([3; 64]);
    entries.push(SnapshotEntry {
        proposal: protocol::Canonical::to_canonical_bytes(&forged),
        approvals: vec![protocol::Canonical::to_canonical_bytes(&sign_approval(
            forged.id(),
            &key(1),
        ))],
    });
    entries.push(SnapshotEntry {
        proposal: vec![0xff; 7],
        approvals: Vec::new(),
    });

    let late = RegistryService::open(Store::open(&dirs[1]).unwrap(), &genesis(3, 2)).unwrap();
    let report = late.merge(&entries);
    assert_eq!(report.rejected.len(), 4, "{:?}", report.rejected);
    assert_eq!(report.decided, 0);
    // One valid approval of the two needed: sichuan is not registered.
    assert!(late.read(|r| r.chain(&chain("sichuan")).is_none()));
    assert_eq!(
        late.read(|r| r.proposal(&id).map(PendingProposal::approval_count)),
        Some(1)
    );
    assert!(late.read(|r| r.proposal(&forged.id()).is_none()));
    assert_eq!(late.read(Registry::orphan_approvals), 0);
    for dir in dirs {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn version_1_and_2_states_still_open() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let id = r.submit(registration("sichuan", &key(50)), NOW).unwrap().id;
    let current = r.to_bytes();
    // Version 2 had no receipt times (one entry: 4 + 32 + 8 bytes) and no
    // expired ids (an empty list: 4 bytes).
    let mut v2 = current.clone();
    v2.truncate(v2.len() - 48);
    v2[0] = 2;
    // Version 1 had no decided proposals either (an empty list: 4 bytes).
    let mut v1 = v2.clone();
    v1.truncate(v1.len() - 4);
    v1[0] = 1;
    let mut timeless = r.clone();
    timeless.received.clear();
    for old in [v1, v2] {
        let mut opened = Registry::from_bytes(&old).unwrap();
        assert_eq!(opened, timeless);
        // A proposal without a receipt time starts its clock at the next
        // expiry, instead of expiring at once.
        assert!(opened.expire(NOW + 10_000, 60).is_empty());
        assert_eq!(opened.received_at(&id), Some(NOW + 10_000));
    }
    assert_eq!(Registry::from_bytes(&current).unwrap(), r);
}

#[test]
fn snapshot_pages_follow_each_other() {
    let dir = temp_dir("pages");
    let service = RegistryService::open(Store::open(&dir).unwrap(), &genesis(3, 2)).unwrap();
    for i in 0..(service::MAX_SNAPSHOT_ENTRIES + 3) {
        let name = format!("chain-{i}");
        let id = service.submit(registration(&name, &key(50))).map(|s| s.id);
        if let Ok(id) = id {
            service.approve(sign_approval(id, &key(1))).unwrap();
            service.approve(sign_approval(id, &key(2))).unwrap();
        }
    }
    let first = service.snapshot_page(0);
    assert_eq!(first.entries.len(), service::MAX_SNAPSHOT_ENTRIES);
    let next = first.next.unwrap();
    let second = service.snapshot_page(next);
    assert_eq!(second.entries.len(), 3);
    assert_eq!(second.next, None);
    assert!(service.snapshot_page(u64::MAX).entries.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A registration of a fresh chain by a fresh operator: what anyone can
/// sign, as many times as they like.
fn junk_registration(i: usize) -> SignedProposal {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    seed[31] = 0xee;
    registration(&format!("junk-{i}"), &SigningKey::from_bytes(&seed))
}

#[test]
fn pending_proposals_expire_and_stay_closed() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let age = 3600;
    let old = r.submit(registration("sichuan", &key(50)), NOW).unwrap().id;
    let young = r.submit(freeze("shaanxi", &key(1)), NOW + 100).unwrap().id;
    assert_eq!(r.received_at(&old), Some(NOW));
    // Not older than the age yet.
    assert!(r.expire(NOW + age, age).is_empty());
    assert_eq!(r.expire(NOW + age + 1, age), vec![old]);
    assert!(r.proposal(&old).is_none());
    assert!(r.proposal(&young).is_some(), "a younger proposal stays");
    assert_eq!(r.received_at(&old), None);
    assert_eq!(r.closure(&old), Some(Closure::Expired));
    // Neither a replay (a peer that still holds it) nor a late approval
    // brings it back.
    let err = r
        .submit(registration("sichuan", &key(50)), NOW + age + 2)
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::ProposalClosed {
                closure: Closure::Expired,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(
        r.approve(sign_approval(old, &key(1))).unwrap(),
        ApprovalOutcome::AlreadyClosed {
            closure: Closure::Expired
        }
    );
    assert!(r.chain(&chain("sichuan")).is_none());
    // Expiry survives the state's round trip.
    let back = Registry::from_bytes(&r.to_bytes()).unwrap();
    assert_eq!(back, r);
    assert_eq!(r.expire(NOW + age + 101, age), vec![young]);
}

#[test]
fn junk_registrations_never_block_a_freeze_or_a_deregistration() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    for i in 0..MAX_PENDING_REGISTRATIONS {
        r.submit(junk_registration(i), NOW).unwrap();
    }
    // The registrations' queue is full: one more is refused, named.
    let err = r
        .submit(junk_registration(MAX_PENDING_REGISTRATIONS), NOW)
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::TooManyPending {
            queue: PendingQueue::Registrations,
            pending: MAX_PENDING_REGISTRATIONS,
            max: MAX_PENDING_REGISTRATIONS,
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{MAX_PENDING_REGISTRATIONS} registrations are pending, at most \
             {MAX_PENDING_REGISTRATIONS}; retry once some are decided or expire"
        )
    );
    // A governor's freeze goes through and is decided.
    let f = r.submit(freeze("shaanxi", &key(1)), NOW).unwrap().id;
    let d = r.submit(deregister("shaanxi", &key(2)), NOW).unwrap().id;
    r.approve(sign_approval(f, &key(1))).unwrap();
    let event = decided(r.approve(sign_approval(f, &key(3))));
    assert!(
        matches!(event, RegistryEvent::ChainFrozen { .. }),
        "{event:?}"
    );
    // And so does a deregistration.
    r.approve(sign_approval(d, &key(1))).unwrap();
    let event = decided(r.approve(sign_approval(d, &key(2))));
    assert!(
        matches!(event, RegistryEvent::ChainDeregistered { .. }),
        "{event:?}"
    );
    assert!(r.chain(&chain("shaanxi")).is_none());
    // Once the junk expires, registrations have room again.
    assert_eq!(
        r.expire(NOW + 61, 60).len(),
        MAX_PENDING_REGISTRATIONS,
        "every junk registration expired"
    );
    r.submit(registration("sichuan", &key(50)), NOW + 61)
        .unwrap();
}

#[test]
fn one_governors_backlog_never_blocks_another_governor() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let reasoned = |reason: String, governor: &SigningKey| {
        sign_proposal(
            Proposal::Freeze {
                chain_id: chain("shaanxi"),
                reason,
            },
            governor,
        )
    };
    for i in 0..MAX_PENDING_PER_GOVERNOR {
        r.submit(reasoned(format!("reason {i}"), &key(1)), NOW)
            .unwrap();
    }
    let err = r
        .submit(reasoned("one too many".into(), &key(1)), NOW)
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::TooManyPending {
            queue: PendingQueue::Governor(public_key(&key(1))),
            pending: MAX_PENDING_PER_GOVERNOR,
            max: MAX_PENDING_PER_GOVERNOR,
        }
    );
    assert!(
        err.to_string()
            .contains(&format!("proposed by governor {}", public_key(&key(1)))),
        "{err}"
    );
    // Another governor's proposal, and registrations, still go through.
    r.submit(deregister("shaanxi", &key(2)), NOW).unwrap();
    r.submit(registration("sichuan", &key(50)), NOW).unwrap();
}

#[test]
fn the_service_expires_proposals_by_its_clock() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = temp_dir("expiry");
    let clock = Arc::new(AtomicU64::new(NOW));
    let options = || RegistryOptions {
        pending_expiry: std::time::Duration::from_secs(60),
        clock: {
            let clock = clock.clone();
            Arc::new(move || clock.load(Ordering::SeqCst))
        },
    };
    let id = {
        let service = RegistryService::open_with(reopen(&dir), &genesis(3, 2), options()).unwrap();
        let id = service
            .submit(registration("sichuan", &key(50)))
            .unwrap()
            .id;
        assert_eq!(service.read(|r| r.received_at(&id)), Some(NOW));
        clock.store(NOW + 60, Ordering::SeqCst);
        assert_eq!(service.expire().unwrap(), 0);
        clock.store(NOW + 61, Ordering::SeqCst);
        // Peers are not handed an expired proposal.
        assert!(service.snapshot_page(0).entries.is_empty());
        // Nor is an approval of it counted.
        assert_eq!(
            service.approve(sign_approval(id, &key(1))).unwrap(),
            ApprovalOutcome::AlreadyClosed {
                closure: Closure::Expired
            }
        );
        id
    };
    // The expiry was persisted.
    let service = RegistryService::open_with(reopen(&dir), &genesis(3, 2), options()).unwrap();
    assert_eq!(service.read(|r| r.closure(&id)), Some(Closure::Expired));
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn proposals_from_peers_are_not_published_again() {
    let dir = temp_dir("republish");
    let service = RegistryService::open(Store::open(&dir).unwrap(), &genesis(3, 2)).unwrap();
    let mut updates = service.subscribe();
    let bytes = protocol::Canonical::to_canonical_bytes(&registration("sichuan", &key(50)));
    assert!(!service.submit_bytes(&bytes).unwrap().already_pending);
    assert!(updates.try_recv().is_err(), "gossip forwards it, not us");
    let ours = freeze("shaanxi", &key(1));
    service.submit(ours.clone()).unwrap();
    assert_eq!(updates.try_recv().unwrap(), RegistryUpdate::Proposed(ours));
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}
