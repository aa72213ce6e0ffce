//! Every verdict path of the credit-chain light client, with real keys.

use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use light_clients::credit_chain::signing::{Committee, TestChain};
use light_clients::credit_chain::{
    ClientError, KeyCache, LightClient, Misbehaviour, Options, TrustThreshold, TrustedState,
    UpdateOutcome, Verdict, VerificationError, verify, verify_cached,
};
use light_clients::merkle::StateTree;
use protocol::{CommitSig, LightBlock, PublicKey, Signature, Time, vote_sign_bytes};

fn now_after(block: &LightBlock) -> Time {
    block
        .header()
        .time
        .checked_add(Duration::from_secs(1))
        .unwrap()
}

fn invalid(v: Verdict) -> VerificationError {
    match v {
        Verdict::Invalid(e) => e,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The reason `block` is refused from `trusted` with default options.
fn refuse(trusted: &TrustedState, block: &LightBlock) -> VerificationError {
    invalid(verify(
        trusted,
        block,
        &Options::default(),
        now_after(block),
    ))
}

/// A chain's second block with its header changed by `tamper`, then signed.
fn tampered_second(tamper: impl FnOnce(&mut protocol::Header)) -> (TrustedState, LightBlock) {
    let mut chain = TestChain::new("shaanxi", 4);
    let trusted = TrustedState::from(chain.next_block());
    let mut h = chain.next_header();
    tamper(&mut h);
    (trusted, chain.commit_header(h))
}

fn setup(n: usize) -> (TestChain, TrustedState, LightBlock) {
    let mut chain = TestChain::new("shaanxi", n);
    let trusted = TrustedState::from(chain.next_block());
    let next = chain.next_block();
    (chain, trusted, next)
}

#[test]
fn sequential_and_skipping_succeed() {
    let (mut chain, trusted, next) = setup(4);
    assert_eq!(
        verify(&trusted, &next, &Options::default(), now_after(&next)),
        Verdict::Success
    );
    let far = chain.skip(20);
    assert_eq!(far.height().value(), 22);
    assert_eq!(
        verify(&trusted, &far, &Options::default(), now_after(&far)),
        Verdict::Success
    );
}

#[test]
fn flipped_signature_byte_names_the_signer() {
    let (_, trusted, mut next) = setup(4);
    let victim = next.signed_header.commit.signatures[2].validator;
    next.signed_header.commit.signatures[2].signature.0[10] ^= 0x01;
    let err = refuse(&trusted, &next);
    assert_eq!(err, VerificationError::InvalidSignature(victim));
    assert!(err.to_string().contains(&victim.to_string()));
}

#[test]
fn signature_by_a_non_member_is_refused() {
    let (_, trusted, mut next) = setup(4);
    let outsider = SigningKey::from_bytes(&[42; 32]);
    let h = next.header();
    let msg = vote_sign_bytes(&h.chain_id, h.height, &h.hash());
    let outsider_key = PublicKey(outsider.verifying_key().to_bytes());
    next.signed_header.commit.signatures.push(CommitSig {
        validator: outsider_key,
        signature: Signature(outsider.sign(&msg).to_bytes()),
    });
    let err = refuse(&trusted, &next);
    assert_eq!(err, VerificationError::UnknownSigner(outsider_key));
}

#[test]
fn duplicated_signer_is_refused() {
    let (_, trusted, mut next) = setup(4);
    let dup = next.signed_header.commit.signatures[0].clone();
    // Three of four validators, one of them twice: would reach 4 "votes".
    next.signed_header.commit.signatures.truncate(3);
    next.signed_header.commit.signatures.push(dup.clone());
    let err = refuse(&trusted, &next);
    assert_eq!(err, VerificationError::DuplicateSigner(dup.validator));
}

#[test]
fn two_thirds_or_less_of_own_power_is_invalid() {
    let (_, trusted, mut next) = setup(6);
    // 4 of 6 equal validators is exactly 2/3: not more than 2/3.
    next.signed_header.commit.signatures.truncate(4);
    match refuse(&trusted, &next) {
        VerificationError::InsufficientSigningPower(t) => {
            assert_eq!((t.tallied, t.total), (40, 60));
        }
        e => panic!("unexpected {e}"),
    }
    next.signed_header.commit.signatures.clear();
    assert!(matches!(
        refuse(&trusted, &next),
        VerificationError::InsufficientSigningPower(_)
    ));
}

#[test]
fn five_of_six_is_enough() {
    let (_, trusted, mut next) = setup(6);
    next.signed_header.commit.signatures.truncate(5);
    assert_eq!(
        verify(&trusted, &next, &Options::default(), now_after(&next)),
        Verdict::Success
    );
}

/// A chain whose validator set moves to `new_members` fresh keys out of 4,
/// and a block far ahead signed only by the new set.
fn rotated(new_members: usize) -> (TrustedState, LightBlock) {
    let mut chain = TestChain::new("guangdong", 4);
    let trusted = TrustedState::from(chain.next_block());
    let old = chain.committee().keys().to_vec();
    let mut keys: Vec<_> = old[..4 - new_members].to_vec();
    keys.extend((0..new_members).map(|i| (SigningKey::from_bytes(&[100 + i as u8; 32]), 10)));
    chain.rotate_to(Committee::new(keys).unwrap());
    let far = chain.skip(10);
    (trusted, far)
}

#[test]
fn skipping_with_too_little_trust_is_not_enough_trust() {
    // 3 of 4 replaced: only 1/4 of the trusted set signed, below 1/3.
    let (trusted, far) = rotated(3);
    match verify(&trusted, &far, &Options::default(), now_after(&far)) {
        Verdict::NotEnoughTrust(t) => assert_eq!((t.tallied, t.total), (10, 40)),
        v => panic!("expected NotEnoughTrust, got {v:?}"),
    }
    // 2 of 4 replaced: half the trusted set signed, above 1/3.
    let (trusted, far) = rotated(2);
    assert_eq!(
        verify(&trusted, &far, &Options::default(), now_after(&far)),
        Verdict::Success
    );
    // With a 2/3 trust threshold, half is not enough.
    let strict = Options {
        trust_threshold: TrustThreshold::TWO_THIRDS,
        ..Options::default()
    };
    assert!(matches!(
        verify(&trusted, &far, &strict, now_after(&far)),
        Verdict::NotEnoughTrust(_)
    ));
}

#[test]
fn wrong_chain_id_is_refused() {
    let (_, trusted, _) = setup(4);
    let mut other = TestChain::new("beijing", 4);
    other.next_block();
    let foreign = other.next_block();
    let err = refuse(&trusted, &foreign);
    assert!(
        matches!(err, VerificationError::ChainIdMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("expected shaanxi, got beijing"));
}

#[test]
fn wrong_validators_hash_is_refused() {
    let (_, trusted, mut next) = setup(4);
    next.validators = Committee::deterministic("someone-else", 4)
        .validator_set()
        .clone();
    let err = refuse(&trusted, &next);
    assert!(
        matches!(err, VerificationError::ValidatorsHashMismatch { .. }),
        "{err}"
    );
    let (_, trusted, mut next) = setup(4);
    next.next_validators = Committee::deterministic("someone-else", 4)
        .validator_set()
        .clone();
    let err = refuse(&trusted, &next);
    assert!(
        matches!(err, VerificationError::NextValidatorsHashMismatch { .. }),
        "{err}"
    );
}

#[test]
fn header_from_the_future_is_refused() {
    let (_, trusted, next) = setup(4);
    let opts = Options::default();
    let too_early = next
        .header()
        .time
        .saturating_sub(opts.clock_drift + Duration::from_secs(1));
    let err = invalid(verify(&trusted, &next, &opts, too_early));
    assert!(
        matches!(err, VerificationError::HeaderFromFuture { .. }),
        "{err}"
    );
    // Within the drift it is fine.
    let within = next.header().time.saturating_sub(opts.clock_drift);
    assert_eq!(verify(&trusted, &next, &opts, within), Verdict::Success);
}

#[test]
fn expired_trusted_header_is_refused() {
    let (_, trusted, next) = setup(4);
    let opts = Options::default();
    let late = trusted
        .header
        .time
        .checked_add(opts.trusting_period)
        .unwrap();
    let err = invalid(verify(&trusted, &next, &opts, late));
    assert!(
        matches!(err, VerificationError::TrustedHeaderExpired { .. }),
        "{err}"
    );
}

#[test]
fn non_monotonic_height_and_time_are_refused() {
    let (_, trusted, _) = setup(4);
    let same = LightBlock {
        signed_header: protocol::SignedHeader {
            header: trusted.header.clone(),
            commit: protocol::Commit {
                height: trusted.header.height,
                header_hash: trusted.header.hash(),
                signatures: vec![],
            },
        },
        validators: trusted.validators.clone(),
        next_validators: trusted.next_validators.clone(),
    };
    let err = refuse(&trusted, &same);
    assert!(
        matches!(err, VerificationError::NonIncreasingHeight { .. }),
        "{err}"
    );

    // Blocks are a second apart: one second back is the trusted block's time.
    let (trusted, block) =
        tampered_second(|h| h.time = h.time.saturating_sub(Duration::from_secs(1)));
    assert_eq!(block.header().time, trusted.header.time);
    let err = refuse(&trusted, &block);
    assert!(
        matches!(err, VerificationError::NonIncreasingTime { .. }),
        "{err}"
    );
}

#[test]
fn commit_for_another_header_is_refused() {
    let (mut chain, trusted, mut next) = setup(4);
    let other = chain.next_block();
    next.signed_header.commit = other.signed_header.commit.clone();
    let err = refuse(&trusted, &next);
    assert!(
        matches!(err, VerificationError::CommitHeightMismatch { .. }),
        "{err}"
    );
    let (_, trusted, mut next) = setup(4);
    next.signed_header.header.state_root = protocol::Hash([7; 32]);
    let err = refuse(&trusted, &next);
    assert!(
        matches!(err, VerificationError::CommitHeaderHashMismatch { .. }),
        "{err}"
    );
}

#[test]
fn adjacent_header_must_link_to_trusted() {
    let (trusted, block) = tampered_second(|h| h.last_header_hash = protocol::Hash([9; 32]));
    let err = refuse(&trusted, &block);
    assert!(
        matches!(err, VerificationError::LastHeaderHashMismatch { .. }),
        "{err}"
    );
}

#[test]
fn adjacent_header_signed_by_an_unannounced_set_is_refused() {
    let mut chain = TestChain::new("shaanxi", 4);
    let trusted = TrustedState::from(chain.next_block());
    // Same chain id and height, a different committee that was never announced.
    let mut impostor = TestChain::new("shaanxi", 4);
    impostor.rotate_to(Committee::deterministic("impostor", 4));
    impostor.next_block();
    let mut h = impostor.next_header();
    h.last_header_hash = trusted.header.hash();
    let block = impostor.commit_header(h);
    let err = refuse(&trusted, &block);
    assert!(
        matches!(err, VerificationError::NotTrustedNextValidators { .. }),
        "{err}"
    );
}

fn client_with_state(
    entries: &[(&[u8], &[u8])],
) -> (TestChain, LightClient, StateTree, LightBlock) {
    let mut chain = TestChain::new("beijing", 4);
    let anchor = chain.next_block();
    let mut client =
        LightClient::new(anchor, Options::default(), chain.next_header().time).unwrap();
    let tree = StateTree::from_entries(entries.iter().map(|(k, v)| (k.to_vec(), v.to_vec())));
    let mut h = chain.next_header();
    h.state_root = tree.root();
    let block = chain.commit_header(h);
    let now = now_after(&block);
    assert!(matches!(
        client.update(block.clone(), now).unwrap(),
        UpdateOutcome::Verified { .. }
    ));
    (chain, client, tree, block)
}

#[test]
fn proofs_verify_against_a_trusted_state_root_only() {
    let entries: &[(&[u8], &[u8])] = &[
        (b"credit/a", b"loan 100"),
        (b"credit/c", b"loan 300"),
        (b"credit/e", b"x"),
    ];
    let (_, client, tree, block) = client_with_state(entries);
    let h = block.height();
    let proof = tree.prove_membership(b"credit/c").unwrap();
    client
        .verify_membership(h, b"credit/c", b"loan 300", &proof)
        .unwrap();
    // Wrong value, another key.
    assert!(matches!(
        client.verify_membership(h, b"credit/c", b"loan 301", &proof),
        Err(ClientError::Proof(_))
    ));
    assert!(matches!(
        client.verify_membership(h, b"credit/a", b"loan 300", &proof),
        Err(ClientError::Proof(_))
    ));
    // Against another root: the anchor's state root.
    let anchor_h = protocol::Height::GENESIS;
    assert!(matches!(
        client.verify_membership(anchor_h, b"credit/c", b"loan 300", &proof),
        Err(ClientError::Proof(_))
    ));
    // A height never trusted.
    assert!(matches!(
        client.verify_membership(h.increment(), b"credit/c", b"loan 300", &proof),
        Err(ClientError::UntrustedHeight(_))
    ));
    // Absence: proven for a missing key, impossible for a present one.
    let absent = tree.prove_non_membership(b"credit/b").unwrap();
    client
        .verify_non_membership(h, b"credit/b", &absent)
        .unwrap();
    assert!(
        client
            .verify_non_membership(h, b"credit/c", &absent)
            .is_err()
    );
    assert!(tree.prove_non_membership(b"credit/c").is_err());
}

#[test]
fn conflicting_headers_freeze_the_client_until_an_operator_acts() {
    let entries: &[(&[u8], &[u8])] = &[(b"k", b"v")];
    let (mut chain, mut client, tree, block) = client_with_state(entries);
    // The same committee signs a second header at the same height.
    let mut fork = block.header().clone();
    fork.state_root = protocol::Hash([1; 32]);
    let commit = chain.committee().sign(&fork);
    let forked = LightBlock {
        signed_header: protocol::SignedHeader {
            header: fork,
            commit,
        },
        validators: block.validators.clone(),
        next_validators: block.next_validators.clone(),
    };
    let now = now_after(&block);
    match client.update(forked, now).unwrap() {
        UpdateOutcome::Misbehaviour(ev) => {
            assert!(matches!(*ev, Misbehaviour::ConflictingHeaders { .. }))
        }
        o => panic!("expected misbehaviour, got {o:?}"),
    }
    assert!(client.frozen().is_some());
    // Frozen: every update and every proof is refused.
    let next = chain.next_block();
    let err = client.update(next.clone(), now_after(&next)).unwrap_err();
    assert!(matches!(err, ClientError::Frozen { .. }), "{err}");
    assert!(err.to_string().contains("frozen"));
    let proof = tree.prove_membership(b"k").unwrap();
    assert!(matches!(
        client.verify_membership(block.height(), b"k", b"v", &proof),
        Err(ClientError::Frozen { .. })
    ));
    // The operator unfreezes with a new anchor; the evidence is handed back.
    let evidence = client.unfreeze(next.clone(), now_after(&next)).unwrap();
    assert!(evidence.is_some());
    assert!(client.frozen().is_none());
    let after = chain.next_block();
    assert!(matches!(
        client.update(after.clone(), now_after(&after)).unwrap(),
        UpdateOutcome::Verified { .. }
    ));
}

#[test]
fn a_forged_conflicting_header_is_not_evidence() {
    let (_, mut client, _, block) = client_with_state(&[]);
    let mut fork = block.header().clone();
    fork.state_root = protocol::Hash([1; 32]);
    let outsiders = Committee::deterministic("outsiders", 4);
    let forged = LightBlock {
        signed_header: protocol::SignedHeader {
            commit: outsiders.sign(&fork),
            header: fork,
        },
        validators: block.validators.clone(),
        next_validators: block.next_validators.clone(),
    };
    let err = client
        .update(forged.clone(), now_after(&block))
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown signer") || err.to_string().contains("hash"),
        "{err}"
    );
    assert!(client.frozen().is_none());
    let evidence = Misbehaviour::ConflictingHeaders {
        first: Box::new(block.clone()),
        second: Box::new(forged),
    };
    assert!(
        client
            .submit_misbehaviour(evidence, now_after(&block))
            .is_err()
    );
    assert!(client.frozen().is_none());
}

#[test]
fn a_validly_signed_time_violation_is_evidence() {
    let mut chain = TestChain::new("shaanxi", 4);
    let anchor = chain.next_block();
    let mut client =
        LightClient::new(anchor.clone(), Options::default(), chain.next_header().time).unwrap();
    let mut h = chain.next_header();
    h.time = anchor.header().time;
    let bad = chain.commit_header(h);
    match client.update(bad.clone(), now_after(&bad)).unwrap() {
        UpdateOutcome::Misbehaviour(ev) => {
            assert!(matches!(*ev, Misbehaviour::NonMonotonicTime { .. }))
        }
        o => panic!("expected misbehaviour, got {o:?}"),
    }
    assert!(client.frozen().is_some());
}

#[test]
fn skipping_client_reports_not_enough_trust_and_accepts_an_intermediate() {
    let mut chain = TestChain::new("guangdong", 4);
    let anchor = chain.next_block();
    let mut client =
        LightClient::new(anchor, Options::default(), chain.next_header().time).unwrap();
    let mut keys = chain.committee().keys()[..1].to_vec();
    keys.extend((0..3).map(|i| (SigningKey::from_bytes(&[200 + i as u8; 32]), 10)));
    chain.rotate_to(Committee::new(keys).unwrap());
    let middle = chain.next_block(); // still signed by the old set, announces the new
    let far = chain.skip(5);
    assert!(matches!(
        client.update(far.clone(), now_after(&far)).unwrap(),
        UpdateOutcome::NotEnoughTrust(_)
    ));
    assert!(matches!(
        client.update(middle, now_after(&far)).unwrap(),
        UpdateOutcome::Verified { .. }
    ));
    // From the middle, trust is counted against the set it announced, which
    // signed the far block in full.
    assert!(matches!(
        client.update(far.clone(), now_after(&far)).unwrap(),
        UpdateOutcome::Verified { .. }
    ));
}

#[test]
fn wrong_chain_update_is_refused_by_the_client() {
    let (_, mut client, _, _) = client_with_state(&[]);
    let mut other = TestChain::new("shanghai", 4);
    let b = other.skip(3);
    let err = client.update(b.clone(), now_after(&b)).unwrap_err();
    assert!(
        err.to_string()
            .contains("wrong chain id: expected beijing, got shanghai"),
        "{err}"
    );
}

#[test]
fn trust_threshold_parsing() {
    assert_eq!(
        "2/3".parse::<TrustThreshold>().unwrap(),
        TrustThreshold::TWO_THIRDS
    );
    for bad in ["1/4", "4/3", "1/0", "a/b", "1"] {
        assert!(bad.parse::<TrustThreshold>().is_err(), "{bad}");
    }
}

#[test]
fn cached_keys_give_the_same_verdicts() {
    let (_, trusted, mut next) = setup(4);
    let mut cache = KeyCache::new();
    cache.insert(&trusted.next_validators).unwrap();
    let now = now_after(&next);
    assert_eq!(
        verify_cached(&trusted, &next, &Options::default(), now, &cache),
        Verdict::Success
    );
    // A cache holding only other sets is not used for this one.
    let mut other = KeyCache::new();
    other
        .insert(Committee::deterministic("other", 3).validator_set())
        .unwrap();
    assert_eq!(
        verify_cached(&trusted, &next, &Options::default(), now, &other),
        Verdict::Success
    );
    let victim = next.signed_header.commit.signatures[3].validator;
    next.signed_header.commit.signatures[3].signature.0[5] ^= 4;
    assert_eq!(
        verify_cached(&trusted, &next, &Options::default(), now, &cache),
        Verdict::Invalid(VerificationError::InvalidSignature(victim))
    );
}
