//! Every verdict path of the credit-chain light client, with real keys.

use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use light_clients::credit_chain::signing::{Committee, TestChain, torsioned_signature};
use light_clients::credit_chain::{
    ClientError, KeyCache, LightClient, Misbehaviour, Options, OptionsError, TrustThreshold,
    TrustedState, UpdateOutcome, Verdict, VerificationError, verify, verify_cached,
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

// ---- Hostile trusted states, keys, signatures, options and JSON ----

/// A genuine trusted block of an honest chain whose `next_validators` were
/// swapped for an outsider set, and a block at height 6 signed only by
/// those outsiders: the skip that counts trust against the swapped set.
fn swapped_next_validators_and_outsider_skip() -> (TrustedState, LightBlock) {
    let mut honest = TestChain::new("shaanxi", 4);
    let mut trusted = TrustedState::from(honest.next_block());
    let outsiders = Committee::deterministic("outsiders", 4);
    trusted.next_validators = outsiders.validator_set().clone();
    // The forger's chain: same chain id, handing over to the outsiders.
    let mut forger = TestChain::new("shaanxi", 4);
    forger.rotate_to(outsiders);
    let _ = forger.next_block();
    let skip = forger.skip(5);
    (trusted, skip)
}

#[test]
fn trusted_state_with_swapped_next_validators_is_refused() {
    let (trusted, skip) = swapped_next_validators_and_outsider_skip();
    assert_eq!(skip.height().value(), 6);
    let err = refuse(&trusted, &skip);
    match err {
        VerificationError::TrustedNextValidatorsMismatch {
            height,
            header,
            computed,
        } => {
            assert_eq!(height.value(), 1);
            assert_eq!(header, trusted.header.next_validators_hash);
            assert_eq!(computed, trusted.next_validators.hash());
        }
        e => panic!("unexpected {e}"),
    }
    assert!(err_text(&trusted, &skip).contains("next validators"));
}

#[test]
fn trusted_state_with_swapped_validators_is_refused() {
    let (_, mut trusted, next) = setup(4);
    trusted.validators = Committee::deterministic("outsiders", 4)
        .validator_set()
        .clone();
    let err = refuse(&trusted, &next);
    assert!(
        matches!(err, VerificationError::TrustedValidatorsMismatch { .. }),
        "{err}"
    );
}

fn err_text(trusted: &TrustedState, block: &LightBlock) -> String {
    refuse(trusted, block).to_string()
}

#[test]
fn misbehaviour_from_an_inconsistent_trusted_state_is_refused() {
    let (trusted, skip) = swapped_next_validators_and_outsider_skip();
    let mut other = skip.clone();
    other.signed_header.header.state_root = protocol::Hash::ZERO;
    let evidence = Misbehaviour::ConflictingHeaders {
        first: Box::new(skip.clone()),
        second: Box::new(other),
    };
    let err = evidence
        .verify(&trusted, &Options::default(), now_after(&skip))
        .unwrap_err();
    assert!(
        matches!(err, VerificationError::TrustedNextValidatorsMismatch { .. }),
        "{err}"
    );
}

#[test]
fn a_restored_client_state_with_swapped_sets_is_refused() {
    let mut chain = TestChain::new("beijing", 4);
    let anchor = chain.next_block();
    let client = LightClient::new(anchor, Options::default(), chain.next_header().time).unwrap();
    assert!(LightClient::from_state(client.to_state()).is_ok());

    let mut state = client.to_state();
    state.trusted[0].next_validators = Committee::deterministic("outsiders", 4)
        .validator_set()
        .clone();
    let err = LightClient::from_state(state).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Verification(VerificationError::TrustedNextValidatorsMismatch { .. })
        ),
        "{err}"
    );
    let mut state = client.to_state();
    state.trusted[0].validators = Committee::deterministic("outsiders", 4)
        .validator_set()
        .clone();
    assert!(matches!(
        LightClient::from_state(state).unwrap_err(),
        ClientError::Verification(VerificationError::TrustedValidatorsMismatch { .. })
    ));
    let mut state = client.to_state();
    state.options.trusting_period = Duration::ZERO;
    assert!(matches!(
        LightClient::from_state(state).unwrap_err(),
        ClientError::Verification(VerificationError::OptionsOutOfBounds(
            OptionsError::ZeroTrustingPeriod
        ))
    ));
    let mut state = client.to_state();
    state.trusted.clear();
    assert_eq!(
        LightClient::from_state(state).unwrap_err(),
        ClientError::EmptyState
    );
}

/// The identity point: order 1, the weakest key there is.
fn identity_key() -> PublicKey {
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    PublicKey(bytes)
}

/// A signature that verifies under the identity key for any message in
/// the plain (and batch) equation `sB = R + hA`: R = identity, s = 0.
fn any_message_signature() -> Signature {
    let mut bytes = [0u8; 64];
    bytes[0] = 1;
    Signature(bytes)
}

/// A trusted block announcing a next set in which a weak key holds 3/4 of
/// the power, and the adjacent block "signed" by that weak key alone.
fn weak_key_takeover() -> (TrustedState, LightBlock) {
    let mut chain = TestChain::new("shaanxi", 4);
    let honest = chain.committee().validator_set().validators()[0].clone();
    let weak_set = protocol::ValidatorSet::new(vec![
        honest,
        protocol::Validator {
            pub_key: identity_key(),
            power: 30,
        },
    ])
    .unwrap();
    let mut h1 = chain.next_header();
    h1.next_validators_hash = weak_set.hash();
    let mut b1 = chain.commit_header(h1);
    b1.next_validators = weak_set.clone();
    let trusted = TrustedState::from(b1);
    assert!(trusted.check().is_ok());

    let mut h2 = chain.next_header();
    h2.validators_hash = weak_set.hash();
    h2.next_validators_hash = weak_set.hash();
    h2.proposer = identity_key();
    h2.state_root = protocol::Hash::tagged(b"forged", &[]);
    let hash = h2.hash();
    let forged = LightBlock {
        signed_header: protocol::SignedHeader {
            commit: protocol::Commit {
                height: h2.height,
                header_hash: hash,
                signatures: vec![CommitSig {
                    validator: identity_key(),
                    signature: any_message_signature(),
                }],
            },
            header: h2,
        },
        validators: weak_set.clone(),
        next_validators: weak_set,
    };
    (trusted, forged)
}

#[test]
fn a_validator_set_with_a_weak_key_is_refused() {
    let (trusted, forged) = weak_key_takeover();
    // The forged signature is real for the batch equation: that is the attack.
    let message = vote_sign_bytes(
        &forged.header().chain_id,
        forged.height(),
        &forged.header().hash(),
    );
    let weak = ed25519_dalek::VerifyingKey::from_bytes(identity_key().as_bytes()).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(any_message_signature().as_bytes());
    assert!(ed25519_dalek::verify_batch(&[&message], &[sig], &[weak]).is_ok());

    assert_eq!(
        refuse(&trusted, &forged),
        VerificationError::WeakPublicKey(identity_key())
    );
    assert_eq!(
        light_clients::credit_chain::validate_validator_set(&forged.validators),
        Err(VerificationError::WeakPublicKey(identity_key()))
    );
    assert_eq!(
        KeyCache::new().insert(&forged.validators),
        Err(VerificationError::WeakPublicKey(identity_key()))
    );
    // An anchor announcing such a set is refused as well.
    let mut chain = TestChain::new("shaanxi", 4);
    let mut h1 = chain.next_header();
    h1.next_validators_hash = forged.validators.hash();
    let mut anchor = chain.commit_header(h1);
    anchor.next_validators = forged.validators.clone();
    let err = LightClient::new(anchor, Options::default(), now_after(&forged)).unwrap_err();
    assert_eq!(
        err,
        ClientError::Verification(VerificationError::WeakPublicKey(identity_key()))
    );
}

#[test]
fn a_validator_key_in_a_non_canonical_encoding_is_refused() {
    // y = 2^255 - 1 is not reduced modulo p: the point it decodes to has
    // another encoding, so one validator could be listed twice.
    let key = PublicKey([0xff; 32]);
    assert!(ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes()).is_ok());
    let set = protocol::ValidatorSet::new(vec![protocol::Validator {
        pub_key: key,
        power: 1,
    }])
    .unwrap();
    assert_eq!(
        light_clients::credit_chain::validate_validator_set(&set),
        Err(VerificationError::NonCanonicalPublicKey(key))
    );
}

#[test]
fn a_next_validator_set_with_a_weak_key_is_refused() {
    // An honestly signed header announcing a weak next set.
    let mut chain = TestChain::new("shaanxi", 4);
    let trusted = TrustedState::from(chain.next_block());
    let (_, forged) = weak_key_takeover();
    let mut h = chain.next_header();
    h.next_validators_hash = forged.validators.hash();
    let mut block = chain.commit_header(h);
    block.next_validators = forged.validators;
    assert_eq!(
        refuse(&trusted, &block),
        VerificationError::WeakPublicKey(identity_key())
    );
}

#[test]
fn non_canonical_signatures_are_refused() {
    // A validator's own torsioned signature: look for one the batch
    // equation accepts (about one nonce in two).
    let (chain, trusted, mut next) = setup(4);
    let h = next.header().clone();
    let message = vote_sign_bytes(&h.chain_id, h.height, &h.hash());
    let (signing_key, _) = &chain.committee().keys()[0];
    let victim = PublicKey(signing_key.verifying_key().to_bytes());
    let index = next
        .signed_header
        .commit
        .signatures
        .iter()
        .position(|s| s.validator == victim)
        .unwrap();
    let forged = (0..64)
        .map(|nonce| torsioned_signature(signing_key, &message, nonce))
        .find(|forged| {
            let key = signing_key.verifying_key();
            let sig = ed25519_dalek::Signature::from_bytes(&forged.0);
            ed25519_dalek::verify_batch(&[&message], &[sig], &[key]).is_ok()
        })
        .expect("a torsioned signature the batch equation accepts");
    next.signed_header.commit.signatures[index].signature = forged;
    assert_eq!(
        refuse(&trusted, &next),
        VerificationError::InvalidSignature(victim)
    );

    // An unreduced s (s + l): the same signature in other bytes.
    let (_, trusted, mut next) = setup(4);
    let victim = next.signed_header.commit.signatures[1].validator;
    let s = &mut next.signed_header.commit.signatures[1].signature.0[32..];
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (b, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(
        refuse(&trusted, &next),
        VerificationError::InvalidSignature(victim)
    );
}

#[test]
fn options_out_of_bounds_are_refused_with_their_name() {
    use light_clients::credit_chain::{MAX_CLOCK_DRIFT, MAX_TRUSTING_PERIOD};
    let t = TrustThreshold::ONE_THIRD;
    let day = Duration::from_secs(86_400);
    assert!(Options::new(t, 14 * day, Duration::from_secs(10)).is_ok());
    assert!(Options::new(t, MAX_TRUSTING_PERIOD, MAX_CLOCK_DRIFT).is_ok());
    assert_eq!(
        Options::new(t, Duration::ZERO, Duration::ZERO),
        Err(OptionsError::ZeroTrustingPeriod)
    );
    let err = Options::new(t, MAX_TRUSTING_PERIOD + day, Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("trusting period"), "{err}");
    let err = Options::new(t, 14 * day, MAX_CLOCK_DRIFT * 2).unwrap_err();
    assert!(
        matches!(err, OptionsError::ClockDriftTooLarge { .. })
            && err.to_string().contains("clock drift"),
        "{err}"
    );
    assert!(matches!(
        Options::new(t, Duration::from_secs(60), Duration::from_secs(60)),
        Err(OptionsError::ClockDriftNotBelowTrustingPeriod { .. })
    ));

    // The verifier refuses them too, even when built field by field: an
    // absurd drift would let a header dated a year ahead through.
    let (_, trusted, next) = setup(4);
    let absurd = Options {
        clock_drift: 365 * day,
        ..Options::default()
    };
    let now = now_after(&next);
    assert_eq!(
        verify(&trusted, &next, &absurd, now),
        Verdict::Invalid(VerificationError::OptionsOutOfBounds(
            OptionsError::ClockDriftTooLarge {
                value: 365 * day,
                max: MAX_CLOCK_DRIFT
            }
        ))
    );
    let mut chain = TestChain::new("beijing", 4);
    let anchor = chain.next_block();
    let zero = Options {
        trusting_period: Duration::ZERO,
        ..Options::default()
    };
    assert!(matches!(
        LightClient::new(anchor, zero, now),
        Err(ClientError::Verification(
            VerificationError::OptionsOutOfBounds(OptionsError::ZeroTrustingPeriod)
        ))
    ));
}

/// `json` with `"extra": 1` added to the object at `path`.
fn with_unknown_field(value: &impl serde::Serialize, path: &[&str]) -> String {
    let mut v = serde_json::to_value(value).unwrap();
    let mut at = &mut v;
    for p in path {
        at = at.get_mut(*p).unwrap();
    }
    at.as_object_mut()
        .unwrap()
        .insert("extra".into(), serde_json::json!(1));
    serde_json::to_string(&v).unwrap()
}

#[test]
fn signed_structures_with_an_unknown_field_are_refused() {
    let (_, trusted, next) = setup(4);
    for path in [
        &[][..],
        &["signed_header"],
        &["signed_header", "header"],
        &["signed_header", "commit"],
        &["validators"],
    ] {
        let text = with_unknown_field(&next, path);
        let err = serde_json::from_str::<LightBlock>(&text).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `extra`"),
            "{path:?}: {err}"
        );
        // The same light block as a trusted state.
        let err = serde_json::from_str::<TrustedState>(&text).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `extra`"),
            "{path:?}: {err}"
        );
    }
    let mut v = serde_json::to_value(&next).unwrap();
    v["signed_header"]["commit"]["signatures"][0]["extra"] = serde_json::json!(1);
    assert!(serde_json::from_value::<LightBlock>(v).is_err());
    let mut v = serde_json::to_value(&next).unwrap();
    v["validators"]["validators"][0]["extra"] = serde_json::json!(1);
    assert!(serde_json::from_value::<LightBlock>(v).is_err());
    for path in [&[][..], &["header"], &["next_validators"]] {
        let text = with_unknown_field(&trusted, path);
        let err = serde_json::from_str::<TrustedState>(&text).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `extra`"),
            "{path:?}: {err}"
        );
    }
    // Without the extra field both parse back to what was written.
    let text = serde_json::to_string(&next).unwrap();
    assert_eq!(serde_json::from_str::<LightBlock>(&text).unwrap(), next);
    let text = serde_json::to_string(&trusted).unwrap();
    assert_eq!(
        serde_json::from_str::<TrustedState>(&text).unwrap(),
        trusted
    );
}
