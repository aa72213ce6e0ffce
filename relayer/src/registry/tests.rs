//! The registry's rules, one test each.

use ed25519_dalek::SigningKey;
use protocol::{
    ChainId, ChainRegistration, ChainType, Hash, Height, Proposal, PublicKey, Signature,
    SignedProposal, TrustAnchor, Validator, ValidatorSet,
};

use super::service::MAX_MESSAGE_BYTES;
use super::signing::{public_key, sign_approval, sign_proposal, sign_registration};
use super::*;
use crate::store::Store;

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
    let s = r.submit(registration("sichuan", &key(50))).unwrap();
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
        .submit(registration("sichuan", &key(50)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is closed (decided)"), "{err}");
}

#[test]
fn duplicate_approvals_count_once_and_proposals_are_idempotent() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let p = registration("sichuan", &key(50));
    let id = r.submit(p.clone()).unwrap().id;
    let again = r.submit(p).unwrap();
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
    let err = r.submit(p).unwrap_err();
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
    let err = r.submit(p).unwrap_err();
    assert!(
        matches!(err, RegistryError::BadOperatorSignature { .. }),
        "{err}"
    );
    // The proposal's signature is broken.
    let mut p = registration("sichuan", &key(50));
    p.signature.0[5] ^= 1;
    let err = r.submit(p).unwrap_err().to_string();
    assert!(err.contains("signature of register proposal"), "{err}");
    // A freeze proposed by a non-governor.
    let err = r
        .submit(freeze("shaanxi", &key(9)))
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
        .submit(sign_proposal(p.proposal, &key(50)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid registration of chain sichuan"),
        "{err}"
    );
    assert_eq!(r, before, "a refusal changes nothing");

    let id = r.submit(registration("sichuan", &key(50))).unwrap().id;
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
        .submit(registration("shaanxi", &key(50)))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "chain shaanxi is already registered (active)");
    let err = r.submit(freeze("hubei", &key(1))).unwrap_err().to_string();
    assert_eq!(err, "chain hubei is not registered (registered: shaanxi)");
    let err = r
        .submit(deregister("hubei", &key(1)))
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
    let err = r.submit(blank).unwrap_err().to_string();
    assert!(err.contains("the reason is empty"), "{err}");
}

#[test]
fn freeze_then_deregister() {
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    let f = r.submit(freeze("shaanxi", &key(1))).unwrap().id;
    // A second freeze with another reason competes.
    let f2 = r
        .submit(sign_proposal(
            Proposal::Freeze {
                chain_id: chain("shaanxi"),
                reason: "other".into(),
            },
            &key(2),
        ))
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
    let err = r.submit(freeze("shaanxi", &key(3)));
    assert!(matches!(err, Err(RegistryError::ProposalClosed { .. })));
    let err = r
        .submit(sign_proposal(
            Proposal::Freeze {
                chain_id: chain("shaanxi"),
                reason: "again".into(),
            },
            &key(3),
        ))
        .unwrap_err();
    assert!(matches!(err, RegistryError::AlreadyFrozen { .. }), "{err}");

    let d = r.submit(deregister("shaanxi", &key(3))).unwrap().id;
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
    r.submit(reg.clone()).unwrap();
    r.approve(approval.clone()).unwrap();
    let d = r.submit(deregister("sichuan", &key(1))).unwrap().id;
    r.approve(sign_approval(d, &key(1))).unwrap();
    assert!(r.chain(&chain("sichuan")).is_none());
    // Gossip replays the old registration and its approval.
    assert!(r.submit(reg).is_err());
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
    let s = r.submit(p.clone()).unwrap();
    assert_eq!((s.approvals, s.decided.is_none()), (1, true));
    assert_eq!(r.orphan_approvals(), 0);
    // Both approvals first: the proposal is decided on arrival.
    let mut r = Registry::new(&genesis(3, 2)).unwrap();
    r.approve(sign_approval(p.id(), &key(2))).unwrap();
    r.approve(sign_approval(p.id(), &key(3))).unwrap();
    let s = r.submit(p).unwrap();
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
    let id = r.submit(registration("sichuan", &key(50))).unwrap().id;
    r.approve(sign_approval(id, &key(1))).unwrap();
    r.approve(sign_approval(Hash::digest(b"later"), &key(2)))
        .unwrap();
    r.submit(freeze("shaanxi", &key(1))).unwrap();
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
