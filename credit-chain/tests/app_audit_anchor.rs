//! `anchor_audit_checkpoint`: only a regulator anchors, only its own
//! signature of the checkpoint is accepted, and anchors only move forward.

mod app_support;

use app_support::*;
use credit_chain::app::keys;
use ed25519_dalek::Signer;
use protocol::tx::{AuditAnchor, Role, TxBody};
use protocol::{Hash, Signature, Time};

fn chain() -> Chain {
    Chain::new(
        "shaanxi",
        &genesis(vec![
            institution("regulator", &[Role::Regulator]),
            institution("bank-a", &[Role::Bank]),
        ]),
    )
}

fn anchor_body(signer: &str, upto: u64, time: Time) -> TxBody {
    let merkle_root = Hash::tagged(b"test/root", &[&upto.to_be_bytes()]);
    let head_hash = Hash::tagged(b"test/head", &[&upto.to_be_bytes()]);
    let signature = Signature(
        key(signer)
            .sign(&AuditAnchor::sign_bytes(
                upto,
                &merkle_root,
                &head_hash,
                &time,
            ))
            .to_bytes(),
    );
    TxBody::AnchorAuditCheckpoint {
        upto,
        merkle_root,
        head_hash,
        time,
        signature,
    }
}

#[test]
fn anchor_a_regulator_checkpoint_is_stored_provably() {
    let mut c = chain();
    let time = c.now();
    c.ok("regulator", anchor_body("regulator", 4, time));
    let stored: AuditAnchor = c.read(&keys::audit_anchor(4)).expect("anchored");
    assert_eq!(stored.upto, 4);
    assert_eq!(stored.regulator, pk("regulator"));
    assert_eq!(
        stored.merkle_root,
        Hash::tagged(b"test/root", &[&4u64.to_be_bytes()])
    );
    assert_eq!(c.read::<u64>(&keys::latest_audit_anchor()), Some(4));
    // The anchor is under the chain's state root.
    let h = c.height();
    let proof = c.prove(h, &keys::audit_anchor(4));
    assert!(!proof.is_empty());

    // A later checkpoint covers more entries.
    c.ok("regulator", anchor_body("regulator", 9, time));
    assert_eq!(c.read::<u64>(&keys::latest_audit_anchor()), Some(9));
}

#[test]
fn anchor_refused_from_a_non_regulator_with_a_foreign_signature_or_going_back() {
    let mut c = chain();
    let time = c.now();
    // A bank is not a regulator.
    let r = c.block(&[c.tx("bank-a", anchor_body("bank-a", 1, time))]);
    assert_ne!(r[0].code, 0);
    assert!(r[0].message.contains("regulator"), "{}", r[0].message);
    // The regulator cannot anchor a checkpoint signed by someone else.
    let r = c.block(&[c.tx("regulator", anchor_body("bank-a", 1, time))]);
    assert_ne!(r[0].code, 0);
    assert!(r[0].message.contains("not signed"), "{}", r[0].message);
    assert_eq!(c.read::<AuditAnchor>(&keys::audit_anchor(1)), None);
    // Anchors move forward only.
    c.ok("regulator", anchor_body("regulator", 5, time));
    let r = c.block(&[c.tx_n("regulator", 0, anchor_body("regulator", 5, time))]);
    assert_ne!(r[0].code, 0);
    assert!(
        r[0].message.contains("already anchored"),
        "{}",
        r[0].message
    );
}

#[test]
fn anchor_a_checkpoint_from_the_future_is_refused() {
    let mut c = chain();
    let far = c
        .now()
        .checked_add(std::time::Duration::from_secs(3600))
        .unwrap();
    let r = c.block(&[c.tx("regulator", anchor_body("regulator", 1, far))]);
    assert_ne!(r[0].code, 0);
    assert!(
        r[0].message.contains("after the block time"),
        "{}",
        r[0].message
    );
    // A little ahead (clocks differ) is fine.
    let near = c
        .now()
        .checked_add(std::time::Duration::from_secs(5))
        .unwrap();
    c.ok("regulator", anchor_body("regulator", 1, near));
}
