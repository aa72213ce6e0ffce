//! Joint credit totals under homomorphic encryption, chain side: A
//! (shaanxi) asks B (guangdong) for the enterprise's total outstanding loan
//! amount under the joint key of bank-a's share and the regulator's; B's
//! providers encrypt their own amounts under it and contribute; B
//! acknowledges the encrypted sum when all have contributed or at the
//! deadline; A keeps the partial; bank-a closes the aggregation, A writes the
//! total, and only bank-a's share together with the regulator's decryption
//! share opens it. No amount is ever on chain in plaintext, and no single
//! party can open a partial.

mod app_support;

use app_support::*;
use credit_chain::app::aggregation::{
    KeyShareOwner, contribution_context, decryption_share_context, key_share_context,
};
use credit_chain::app::keys;
use credit_chain::app::state::PendingAggregation;
use homomorphic::{
    DiscreteLogTable, FenCiphertext, KeyPair, KeyShare, PublicKey, SecretKey, combine, joint_key,
};
use protocol::tx::{Acknowledgement, Role, TxBody};
use protocol::{
    AggregationPartial, AggregationRequest, AggregationTotal, Hash, Height, Packet, PacketPayload,
    RecordKind, Time,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const A: &str = "shaanxi";
const B: &str = "guangdong";

/// provider-b's two loans, provider-c's loan, provider-d's tax record.
const LOANS_B: [u64; 2] = [1_200_000, 1_941_592];
const LOAN_C: u64 = 2_718_281;
const TAX_D: u64 = 45_000;

struct Net {
    a: Chain,
    b: Chain,
    /// bank-a's share of the joint key.
    share: KeyShare,
    /// The regulator's share (held by its supervision node).
    regulator: KeyShare,
    /// The joint key every request is sent under.
    joint: PublicKey,
}

/// The two chains with their records; no key share registered yet.
fn bare_net() -> Net {
    let ga = genesis(vec![
        institution("bank-a", &[Role::Bank]),
        institution("bank-b", &[Role::Bank]),
        institution("relayer-a", &[Role::Relayer]),
    ]);
    let gb = genesis(vec![
        institution("provider-b", &[Role::DataProvider]),
        institution("provider-c", &[Role::DataProvider]),
        institution("provider-d", &[Role::DataProvider]),
        institution("relayer-b", &[Role::Relayer]),
    ]);
    let (mut a, mut b) = linked((A, &ga), (B, &gb));
    let start = "2025-01-15T00:00:00Z".parse().unwrap();
    for (p, kind, units) in [
        ("provider-b", RecordKind::Loan, LOANS_B[0]),
        ("provider-b", RecordKind::Loan, LOANS_B[1]),
        ("provider-c", RecordKind::Loan, LOAN_C),
        ("provider-d", RecordKind::Tax, TAX_D),
    ] {
        b.commit(record(p, kind, units, start));
    }
    a.empty_blocks(2);
    let mut rng = StdRng::seed_from_u64(42);
    let share = KeyShare::generate(&mut rng);
    let regulator = KeyShare::generate(&mut rng);
    let joint = joint_key(share.public(), regulator.public()).unwrap();
    Net {
        a,
        b,
        share,
        regulator,
        joint,
    }
}

/// [`bare_net`] with bank-a's share registered and the regulator's set on A.
fn net() -> Net {
    let mut n = bare_net();
    let body = n.register_share(&n.share.clone(), "bank-a");
    n.a.ok("bank-a", body);
    let body = n.regulator_share(&n.regulator.clone());
    n.a.ok("gov", body);
    n
}

fn table() -> DiscreteLogTable {
    DiscreteLogTable::with_params(16, 100_000_000).unwrap()
}

impl Net {
    /// `register_aggregation_key` of `share` by `institution`, proven for A.
    fn register_share(&self, share: &KeyShare, institution: &str) -> TxBody {
        let context = key_share_context(&chain(A), KeyShareOwner::Institution(&id(institution)));
        let proof = share.prove_knowledge(&context, &mut StdRng::seed_from_u64(7));
        TxBody::RegisterAggregationKey {
            key: share.public().to_bytes().to_vec(),
            proof: proof.to_bytes().to_vec(),
        }
    }

    /// `set_regulator_aggregation_key` of `share`, proven for A.
    fn regulator_share(&self, share: &KeyShare) -> TxBody {
        let context = key_share_context(&chain(A), KeyShareOwner::Regulator);
        let proof = share.prove_knowledge(&context, &mut StdRng::seed_from_u64(8));
        TxBody::SetRegulatorAggregationKey {
            key: share.public().to_bytes().to_vec(),
            proof: proof.to_bytes().to_vec(),
        }
    }

    /// The regulator's decryption share of `total`, verified, combined with
    /// bank-a's share.
    fn open(&self, total: &AggregationTotal) -> Result<u64, homomorphic::Error> {
        let ciphertext = FenCiphertext::from_bytes(&total.ciphertext).unwrap();
        let context = decryption_share_context(&chain(A), &total.aggregation_id);
        let share =
            self.regulator
                .decryption_share(&ciphertext, &context, &mut StdRng::seed_from_u64(9));
        let verified = share.verify(self.regulator.public(), &ciphertext, &context)?;
        combine(&ciphertext, &self.share, &verified, &table())
    }

    fn close(&mut self, aggregation_id: Hash) -> credit_chain::app::TxResult {
        self.a
            .ok("bank-a", TxBody::CloseAggregation { aggregation_id })
    }

    fn total(&self, aggregation_id: &Hash) -> Option<AggregationTotal> {
        self.a.read(&keys::aggregation_total(aggregation_id))
    }

    fn grant(&mut self) -> Hash {
        let body = consent(
            B,
            A,
            "bank-a",
            &[RecordKind::Loan],
            secs(self.b.now(), 86_400),
            0,
        );
        let id = consent_id(&body);
        self.b.ok("ent", body);
        id
    }

    fn request(&self, consent: Hash, deadline: Time) -> AggregationRequest {
        AggregationRequest {
            aggregation_id: Hash::digest(b"aggregation 1"),
            requester: id("bank-a"),
            enterprise: enterprise(),
            kinds: vec![RecordKind::Loan],
            purpose: "loan application".into(),
            consent_id: consent,
            scheme: AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255.into(),
            encryption_key: self.joint.to_bytes().to_vec(),
            contribution_deadline: deadline,
        }
    }

    /// Sends `request` on A; returns the packet.
    fn send(&mut self, request: AggregationRequest, timeout: u64) -> Packet {
        let timeout_height = Some(Height::new(self.b.height().value() + timeout).unwrap());
        let r = self.a.ok(
            "bank-a",
            TxBody::SendAggregationRequest {
                destination: chain(B),
                request,
                timeout_height,
                timeout_time: None,
            },
        );
        assert!(r.events_of("aggregation_request_sent").next().is_some());
        let seq: u64 = r
            .events_of("send_packet")
            .next()
            .unwrap()
            .get("sequence")
            .unwrap()
            .parse()
            .unwrap();
        self.a.read(&keys::packet(&chain(B), seq)).unwrap()
    }

    /// Relays `packet` to B; returns the recv result.
    fn deliver(&mut self, packet: &Packet) -> credit_chain::app::TxResult {
        let block = self.a.latest();
        let h = block.height();
        self.b.ok("relayer-b", TxBody::UpdateClient { block });
        let body = TxBody::RecvPacket {
            packet: packet.clone(),
            proof: self
                .a
                .prove(h, &keys::packet_commitment(&chain(B), packet.sequence)),
            proof_height: h,
        };
        let r = self.b.ok("relayer-b", body);
        assert!(r.events_of("recv_packet").next().is_some());
        r
    }

    fn ack(&self, packet: &Packet) -> Option<Acknowledgement> {
        self.b
            .read(&keys::packet_ack_data(&chain(A), packet.sequence))
    }

    /// Relays B's acknowledgement of `packet` back to A.
    fn acknowledge(&mut self, packet: &Packet) -> credit_chain::app::TxResult {
        let ack = self.ack(packet).expect("an acknowledgement on B");
        let block = self.b.latest();
        // A's clock must have reached B's header time.
        while self.a.now() < block.header().time {
            self.a.empty_blocks(1);
        }
        let h = block.height();
        self.a.ok("relayer-a", TxBody::UpdateClient { block });
        let body = TxBody::AcknowledgePacket {
            packet: packet.clone(),
            acknowledgement: ack,
            proof: self
                .b
                .prove(h, &keys::packet_ack(&chain(A), packet.sequence)),
            proof_height: h,
        };
        self.a.ok("relayer-a", body)
    }

    /// `provider` encrypts `amount` (in fen) itself under the joint key and
    /// proves it well formed.
    fn contribution(&self, provider: &str, packet: &Packet, amount: u64, seed: u64) -> TxBody {
        let (c, proof) = self
            .joint
            .encrypt_contribution(
                amount,
                &context(packet, provider),
                &mut StdRng::seed_from_u64(seed),
            )
            .unwrap();
        contribute(packet, c.to_bytes().to_vec(), proof.to_bytes())
    }

    fn partial(&self, aggregation_id: &Hash) -> Option<AggregationPartial> {
        self.a
            .read(&keys::aggregation_partial(aggregation_id, &chain(B)))
    }
}

/// What `provider`'s proof for `packet` on B is bound to.
fn context(packet: &Packet, provider: &str) -> Vec<u8> {
    let PacketPayload::AggregationRequest(request) = &packet.payload else {
        panic!("not an aggregation request");
    };
    contribution_context(
        &request.aggregation_id,
        &chain(B),
        &chain(A),
        packet.sequence,
        &id(provider),
    )
}

fn contribute(packet: &Packet, ciphertext: Vec<u8>, proof: Vec<u8>) -> TxBody {
    TxBody::ContributeAggregation {
        source: chain(A),
        sequence: packet.sequence,
        ciphertext,
        records: 1,
        proof,
    }
}

fn partial_of(ack: &Acknowledgement) -> &AggregationPartial {
    match ack {
        Acknowledgement::Result(PacketPayload::AggregationPartial(p)) => p,
        other => panic!("not a partial: {other:?}"),
    }
}

/// No key or value holds any of `amounts` or `totals` as little-endian
/// bytes or as a decimal string (records are commitments: no amount).
fn assert_no_plaintext(state: &State, amounts: &[u64], totals: &[u64]) {
    assert_no_amount(state, &[amounts, totals].concat());
}

#[test]
fn providers_contribute_encrypted_amounts_and_the_requester_decrypts_the_sum() {
    let mut n = net();
    let consent = n.grant();
    let deadline = secs(n.b.now(), 3_600);
    let request = n.request(consent, deadline);
    let id = request.aggregation_id;
    let packet = n.send(request.clone(), 100);
    // The same aggregation is not sent twice to one chain.
    let body = TxBody::SendAggregationRequest {
        destination: chain(B),
        request: request.clone(),
        timeout_height: Some(Height::new(1_000).unwrap()),
        timeout_time: None,
    };
    n.a.fails("bank-a", body, 88);

    // --- B receives it: consent checked, no acknowledgement yet ---
    let r = n.deliver(&packet);
    assert!(r.events_of("write_acknowledgement").next().is_none());
    let ev = r.events_of("aggregation_requested").next().unwrap();
    assert_eq!(ev.get("expected_providers"), Some("provider-b,provider-c"));
    assert_eq!(ev.get("enterprise"), Some(enterprise().as_str()));
    assert_eq!(ev.get("deadline"), Some(deadline.to_string().as_str()));
    assert!(n.ack(&packet).is_none());
    assert!(
        n.b.read::<Hash>(&keys::packet_receipt(&chain(A), packet.sequence))
            .is_some()
    );
    let pending: PendingAggregation =
        n.b.read(&keys::pending_aggregation(&chain(A), packet.sequence))
            .unwrap();
    assert_eq!(pending.expected, vec![id_("provider-b"), id_("provider-c")]);
    assert!(pending.contributed.is_empty());
    // The request as received, so that a provider's agent reads the kinds
    // to sum from this chain alone.
    assert_eq!(
        (&pending.source, pending.sequence),
        (&chain(A), packet.sequence)
    );
    assert_eq!(pending.request, request);
    assert_eq!(pending.deadline(), deadline);

    // --- refusals, each leaving the state unchanged ---
    // provider-d holds no loan of the enterprise: not expected.
    let r = n.b.fails(
        "provider-d",
        n.contribution("provider-d", &packet, 1, 1),
        83,
    );
    assert!(
        r.message.contains("not an expected provider"),
        "{}",
        r.message
    );
    // Only data providers contribute.
    n.b.fails("relayer-b", n.contribution("relayer-b", &packet, 1, 1), 8);
    // Wrong length.
    let total_b: u64 = LOANS_B.iter().sum();
    let proof = |n: &Net| match n.contribution("provider-b", &packet, total_b, 11) {
        TxBody::ContributeAggregation { proof, .. } => proof,
        _ => unreachable!(),
    };
    let r = n.b.fails(
        "provider-b",
        contribute(&packet, vec![0; 64], proof(&n)),
        85,
    );
    assert!(r.message.contains("must be 128 bytes"), "{}", r.message);
    // 128 bytes that are no curve points.
    let r = n.b.fails(
        "provider-b",
        contribute(&packet, vec![0xff; 128], proof(&n)),
        86,
    );
    assert!(r.message.contains("not on the curve"), "{}", r.message);
    let mut odd = vec![0; 128];
    odd[64] = 1;
    let r =
        n.b.fails("provider-b", contribute(&packet, odd, proof(&n)), 86);
    assert!(r.message.contains("fen limb c1"), "{}", r.message);
    // --- contributions without a valid well-formedness proof ---
    let TxBody::ContributeAggregation {
        ciphertext: good_c,
        proof: good_p,
        ..
    } = n.contribution("provider-b", &packet, total_b, 11)
    else {
        unreachable!()
    };
    // No proof at all.
    let r = n.b.fails(
        "provider-b",
        contribute(&packet, good_c.clone(), vec![]),
        89,
    );
    assert!(r.message.contains("no proof"), "{}", r.message);
    // Truncated.
    let r = n.b.fails(
        "provider-b",
        contribute(
            &packet,
            good_c.clone(),
            good_p[..good_p.len() - 32].to_vec(),
        ),
        89,
    );
    assert!(r.message.contains("1056 bytes"), "{}", r.message);
    // A valid proof, for another ciphertext.
    let TxBody::ContributeAggregation {
        ciphertext: other_c,
        ..
    } = n.contribution("provider-b", &packet, 1, 99)
    else {
        unreachable!()
    };
    let r = n.b.fails(
        "provider-b",
        contribute(&packet, other_c, good_p.clone()),
        89,
    );
    assert!(r.message.contains("rejected"), "{}", r.message);
    // provider-b's valid contribution replayed by provider-c: the proof is
    // bound to the contributing provider.
    let r = n.b.fails(
        "provider-c",
        contribute(&packet, good_c.clone(), good_p.clone()),
        89,
    );
    assert!(r.message.contains("rejected"), "{}", r.message);
    // A proof made under another key (the ciphertext too).
    let other_keys = KeyPair::generate(&mut StdRng::seed_from_u64(43));
    let (c, p) = other_keys
        .public()
        .encrypt_contribution(
            5,
            &context(&packet, "provider-b"),
            &mut StdRng::seed_from_u64(5),
        )
        .unwrap();
    n.b.fails(
        "provider-b",
        contribute(&packet, c.to_bytes().to_vec(), p.to_bytes()),
        89,
    );
    // A valid proof with one byte of its range proof altered.
    let mut forged = good_p.clone();
    forged[300] ^= 0x40;
    n.b.fails("provider-b", contribute(&packet, good_c, forged), 89);
    // An aggregation that is not pending.
    let mut unknown = packet.clone();
    unknown.sequence += 7;
    n.b.fails(
        "provider-b",
        n.contribution("provider-b", &unknown, 1, 1),
        82,
    );

    // --- contributions ---
    let r = n.b.ok(
        "provider-b",
        n.contribution("provider-b", &packet, total_b, 11),
    );
    let ev = r.events_of("aggregation_contributed").next().unwrap();
    assert_eq!(ev.get("contributed"), Some("1"));
    assert!(r.events_of("write_acknowledgement").next().is_none());
    assert!(n.ack(&packet).is_none());
    // Once each.
    let r = n.b.fails(
        "provider-b",
        n.contribution("provider-b", &packet, total_b, 12),
        84,
    );
    assert!(r.message.contains("already contributed"), "{}", r.message);
    // The last expected provider completes it: acknowledged in its tx.
    let r = n.b.ok(
        "provider-c",
        n.contribution("provider-c", &packet, LOAN_C, 13),
    );
    let ev = r.events_of("write_acknowledgement").next().unwrap();
    let ack = n.ack(&packet).unwrap();
    assert_eq!(ev.get("ack_hash"), Some(ack.hash().to_string().as_str()));
    assert_eq!(
        n.b.read::<Hash>(&keys::packet_ack(&chain(A), packet.sequence)),
        Some(ack.hash())
    );
    let partial = partial_of(&ack);
    assert_eq!((partial.providers, partial.expected), (2, 2), "{partial:?}");
    assert!(partial.missing.is_empty());
    assert_eq!(partial.records, 2);
    assert!(partial.proof.is_empty());
    assert!(
        n.b.read::<PendingAggregation>(&keys::pending_aggregation(&chain(A), packet.sequence))
            .is_none()
    );
    // Closed: a late contribution finds nothing pending.
    n.b.fails(
        "provider-c",
        n.contribution("provider-c", &packet, 1, 14),
        82,
    );

    // --- A keeps the partial; bank-a's share alone does not open it ---
    let r = n.acknowledge(&packet);
    assert!(r.events_of("aggregation_partial_received").next().is_some());
    let stored = n.partial(&id).unwrap();
    assert_eq!(&stored, partial);
    let sum = FenCiphertext::from_bytes(&stored.ciphertext).unwrap();
    let alone = SecretKey::from_bytes(&n.share.to_bytes()).unwrap();
    assert_eq!(
        alone.decrypt_fen(&sum, &table()),
        Err(homomorphic::Error::PlaintextOutOfRange { max: 100_000_000 })
    );

    // --- bank-a closes it; the total opens with both shares ---
    let closing_time = n.a.now();
    let r = n.close(id);
    let ev = r.events_of("aggregation_closed").next().unwrap();
    assert_eq!(ev.get("providers"), Some("2"));
    assert_eq!(ev.get("chains"), Some("1"));
    assert_eq!(ev.get("missing_chains"), Some(""));
    let total = n.total(&id).unwrap();
    assert_eq!(total.requester, id_("bank-a"));
    assert_eq!(total.enterprise, enterprise());
    assert_eq!(total.encryption_key, n.joint.to_bytes().to_vec());
    assert_eq!(
        total.ciphertext, stored.ciphertext,
        "one chain: its partial"
    );
    assert_eq!(total.providers, 2);
    assert_eq!(total.chains, vec![chain(B)]);
    assert!(total.missing_chains.is_empty());
    assert_eq!(total.closed_at, closing_time);
    let expected_total = total_b + LOAN_C;
    assert_eq!(n.open(&total), Ok(expected_total));
    // The partials of one aggregation are under one prefix.
    assert_eq!(
        n.a.state
            .range(keys::aggregation_partials(&id)..)
            .take_while(|(k, _)| k.starts_with(&keys::aggregation_partials(&id)))
            .count(),
        1
    );

    // --- nothing on either chain holds an amount in plaintext ---
    let amounts = [LOANS_B[0], LOANS_B[1], LOAN_C, TAX_D];
    let totals = [total_b, expected_total];
    assert_no_plaintext(&n.b.state, &amounts, &totals);
    assert_no_plaintext(&n.a.state, &amounts, &totals);
}

fn id_(s: &str) -> protocol::InstitutionId {
    id(s)
}

#[test]
fn at_the_deadline_the_partial_says_who_is_missing() {
    let mut n = net();
    let consent = n.grant();
    let deadline = secs(n.b.now(), 20);
    let request = n.request(consent, deadline);
    let id = request.aggregation_id;
    let packet = n.send(request, 100);
    n.deliver(&packet);
    let total_b: u64 = LOANS_B.iter().sum();
    n.b.ok(
        "provider-b",
        n.contribution("provider-b", &packet, total_b, 21),
    );

    // Blocks before the deadline acknowledge nothing.
    let mut finalized_at = None;
    for _ in 0..100 {
        let ctx = n.b.ctx();
        let (_, end) = n.b.block_with_end(&[]);
        let wrote = end.events.iter().any(|e| e.kind == "write_acknowledgement");
        if ctx.time < deadline {
            assert!(!wrote, "acknowledged before the deadline");
            assert!(n.ack(&packet).is_none());
        } else {
            assert!(wrote, "not acknowledged in the first block at the deadline");
            let ev = end
                .events
                .iter()
                .find(|e| e.kind == "aggregation_finalized")
                .unwrap();
            assert_eq!(ev.get("reason"), Some("deadline"));
            assert_eq!(ev.get("missing"), Some("provider-c"));
            finalized_at = Some(ctx.time);
            break;
        }
    }
    assert!(finalized_at.is_some());
    let ack = n.ack(&packet).unwrap();
    let partial = partial_of(&ack);
    assert_eq!((partial.providers, partial.expected), (1, 2));
    assert_eq!(partial.missing, vec![id_("provider-c")]);
    // Too late for provider-c, and the index entry is gone.
    n.b.fails(
        "provider-c",
        n.contribution("provider-c", &packet, LOAN_C, 22),
        82,
    );
    assert!(
        !n.b.state
            .keys()
            .any(|k| k.starts_with(&keys::aggregation_deadlines()))
    );
    n.b.empty_blocks(2);
    assert_eq!(n.ack(&packet).unwrap(), ack, "acknowledged once only");

    n.acknowledge(&packet);
    assert!(n.partial(&id).is_some());
    n.close(id);
    let total = n.total(&id).unwrap();
    assert_eq!(total.providers, 1);
    assert_eq!(n.open(&total), Ok(total_b));
}

#[test]
fn nobody_contributing_is_zero_of_two_not_a_missing_chain() {
    let mut n = net();
    let consent = n.grant();
    let deadline = secs(n.b.now(), 5);
    let packet = n.send(n.request(consent, deadline), 100);
    n.deliver(&packet);
    n.b.empty_blocks(10);
    let ack = n.ack(&packet).unwrap();
    let partial = partial_of(&ack);
    assert_eq!((partial.providers, partial.expected), (0, 2));
    assert_eq!(
        partial.ciphertext,
        FenCiphertext::zero().to_bytes().to_vec()
    );
}

#[test]
fn without_consent_the_request_is_refused_like_a_credit_query() {
    let mut n = net();
    let request = n.request(Hash::digest(b"no such consent"), secs(n.b.now(), 3_600));
    let id = request.aggregation_id;
    let packet = n.send(request, 100);
    let r = n.deliver(&packet);
    // Acknowledged at once, with the refusal; nothing pending.
    let ev = r.events_of("write_acknowledgement").next().unwrap();
    assert_eq!(ev.get("outcome"), Some("error"));
    assert!(r.events_of("aggregation_requested").next().is_none());
    match n.ack(&packet).unwrap() {
        Acknowledgement::Error(m) => {
            assert!(m.contains("consent refused: no consent"), "{m}")
        }
        other => panic!("not refused: {other:?}"),
    }
    assert!(
        n.b.read::<PendingAggregation>(&keys::pending_aggregation(&chain(A), packet.sequence))
            .is_none()
    );
    n.b.fails(
        "provider-b",
        n.contribution("provider-b", &packet, 1, 1),
        82,
    );
    // A learns of the refusal and keeps no partial.
    let r = n.acknowledge(&packet);
    assert!(r.events_of("aggregation_refused").next().is_some());
    assert!(n.partial(&id).is_none());
    // Closed, the refusing chain is missing, not zero.
    n.close(id);
    let total = n.total(&id).unwrap();
    assert_eq!(total.missing_chains, vec![chain(B)]);
    assert!(total.chains.is_empty());
    assert_eq!(total.providers, 0);
}

#[test]
fn a_timed_out_request_leaves_the_chain_missing() {
    let mut n = net();
    let consent = n.grant();
    let request = n.request(consent, secs(n.b.now(), 3_600));
    let id = request.aggregation_id;
    let packet = n.send(request.clone(), 3);
    let timeout = packet.timeout_height.unwrap();
    while n.b.height() < timeout {
        n.b.empty_blocks(1);
    }
    let block = n.b.latest();
    let late = block.height();
    n.a.ok("relayer-a", TxBody::UpdateClient { block });
    let body = TxBody::TimeoutPacket {
        packet: packet.clone(),
        proof: n
            .b
            .prove_absent(late, &keys::packet_receipt(&chain(A), packet.sequence)),
        proof_height: late,
    };
    let r = n.a.ok("relayer-a", body);
    assert!(
        r.events_of("aggregation_request_timed_out")
            .next()
            .is_some()
    );
    assert!(n.partial(&id).is_none(), "a timed-out chain is not zero");
    // It may be sent again, and while that one is in flight the
    // aggregation stays open.
    let again = n.send(request.clone(), 100);
    assert_ne!(again.sequence, packet.sequence);
    let r = n.a.fails(
        "bank-a",
        TxBody::CloseAggregation { aggregation_id: id },
        125,
    );
    assert!(r.message.contains(B), "{}", r.message);
    // A second timeout: closed with the chain missing.
    let timeout = again.timeout_height.unwrap();
    while n.b.height() < timeout {
        n.b.empty_blocks(1);
    }
    let block = n.b.latest();
    let late = block.height();
    while n.a.now() < block.header().time {
        n.a.empty_blocks(1);
    }
    n.a.ok("relayer-a", TxBody::UpdateClient { block });
    let body = TxBody::TimeoutPacket {
        packet: again.clone(),
        proof: n
            .b
            .prove_absent(late, &keys::packet_receipt(&chain(A), again.sequence)),
        proof_height: late,
    };
    n.a.ok("relayer-a", body);
    let r = n.close(id);
    let ev = r.events_of("aggregation_closed").next().unwrap();
    assert_eq!(ev.get("missing_chains"), Some(B));
    let total = n.total(&id).unwrap();
    assert_eq!(total.missing_chains, vec![chain(B)]);
    assert_eq!(total.providers, 0);
    assert_eq!(total.ciphertext, FenCiphertext::zero().to_bytes().to_vec());
    // Not sent again after closing.
    let r = n.a.fails(
        "bank-a",
        TxBody::SendAggregationRequest {
            destination: chain(B),
            request,
            timeout_height: Some(Height::new(1_000).unwrap()),
            timeout_time: None,
        },
        124,
    );
    assert!(r.message.contains("was closed"), "{}", r.message);
}

#[test]
fn requests_are_checked_on_the_source() {
    let mut n = net();
    let consent = n.grant();
    let mut request = n.request(consent, secs(n.b.now(), 3_600));
    let send = |request: AggregationRequest| TxBody::SendAggregationRequest {
        destination: chain(B),
        request,
        timeout_height: Some(Height::new(1_000).unwrap()),
        timeout_time: None,
    };
    // Only for itself, only banks and bureaus.
    n.a.fails("relayer-a", send(request.clone()), 8);
    request.encryption_key = vec![0; 32];
    let r = n.a.fails("bank-a", send(request.clone()), 9);
    assert!(r.message.contains("identity"), "{}", r.message);
    request.encryption_key = n.joint.to_bytes().to_vec();
    request.scheme = "paillier".into();
    n.a.fails("bank-a", send(request.clone()), 9);
    request.scheme = AggregationRequest::SCHEME_ELGAMAL_RISTRETTO255.into();
    request.contribution_deadline = n.a.now();
    n.a.fails("bank-a", send(request), 9);
}

#[test]
fn key_shares_are_registered_only_with_a_proof_of_knowledge() {
    let mut n = bare_net();
    let mut rng = StdRng::seed_from_u64(100);
    let regulator = n.regulator.clone();
    let body = n.regulator_share(&regulator);
    n.a.ok("gov", body);
    assert_eq!(
        n.a.read::<[u8; 32]>(&keys::regulator_aggregation_key()),
        Some(regulator.public().to_bytes())
    );

    // The rogue-key attack: bank-a registers x·G − Y_reg, so that the joint
    // key would be x·G, which it alone could open. It can only prove
    // knowledge of x, for x·G.
    let attacker = KeyShare::generate(&mut rng);
    let rogue = {
        let x_g = curve_point(attacker.public());
        let y_reg = curve_point(regulator.public());
        PublicKey::from_bytes((x_g - y_reg).compress().as_bytes()).unwrap()
    };
    assert_eq!(
        &joint_key(&rogue, regulator.public()).unwrap(),
        attacker.public(),
        "the rogue key would make the joint key the attacker's own"
    );
    let context = key_share_context(&chain(A), KeyShareOwner::Institution(&id("bank-a")));
    let proof = attacker.prove_knowledge(&context, &mut rng);
    let r = n.a.fails(
        "bank-a",
        TxBody::RegisterAggregationKey {
            key: rogue.to_bytes().to_vec(),
            proof: proof.to_bytes().to_vec(),
        },
        120,
    );
    assert!(
        r.message.contains("key share proof rejected"),
        "{}",
        r.message
    );
    assert!(r.message.contains("institution bank-a"), "{}", r.message);
    assert!(
        n.a.read::<[u8; 32]>(&keys::aggregation_key(&id("bank-a")))
            .is_none()
    );

    // A valid proof is bound to its party and chain: bank-b's, or one made
    // for another chain, or the regulator's context, do not register it
    // for bank-a.
    let share = n.share.clone();
    let for_bank_b = n.register_share(&share, "bank-b");
    n.a.fails("bank-a", for_bank_b, 120);
    let other_chain = key_share_context(&chain(B), KeyShareOwner::Institution(&id("bank-a")));
    let regulator_context = key_share_context(&chain(A), KeyShareOwner::Regulator);
    for context in [other_chain, regulator_context] {
        let proof = share.prove_knowledge(&context, &mut rng);
        n.a.fails(
            "bank-a",
            TxBody::RegisterAggregationKey {
                key: share.public().to_bytes().to_vec(),
                proof: proof.to_bytes().to_vec(),
            },
            120,
        );
    }
    // Malformed: checked before any state is read.
    let r = n.a.fails(
        "bank-a",
        TxBody::RegisterAggregationKey {
            key: vec![0; 32],
            proof: vec![0; 64],
        },
        9,
    );
    assert!(r.message.contains("identity"), "{}", r.message);
    let r = n.a.fails(
        "bank-a",
        TxBody::RegisterAggregationKey {
            key: share.public().to_bytes().to_vec(),
            proof: vec![0; 63],
        },
        9,
    );
    assert!(r.message.contains("63 bytes, must be 64"), "{}", r.message);
    // Who may: banks and bureaus for themselves, governance for the
    // regulator.
    let body = n.register_share(&share, "relayer-a");
    n.a.fails("relayer-a", body, 8);
    let body = n.regulator_share(&share);
    n.a.fails("bank-a", body, 8);
    // The honest registration.
    let body = n.register_share(&share, "bank-a");
    let r = n.a.ok("bank-a", body);
    let ev = r.events_of("aggregation_key_registered").next().unwrap();
    assert_eq!(ev.get("key"), Some(share.public().to_string().as_str()));
    assert_eq!(
        n.a.read::<[u8; 32]>(&keys::aggregation_key(&id("bank-a"))),
        Some(share.public().to_bytes())
    );
}

fn curve_point(key: &PublicKey) -> curve25519_dalek::ristretto::RistrettoPoint {
    curve25519_dalek::ristretto::CompressedRistretto(key.to_bytes())
        .decompress()
        .unwrap()
}

#[test]
fn requests_must_be_under_the_joint_key() {
    let mut n = bare_net();
    let consent = n.grant();
    let deadline = secs(n.b.now(), 3_600);
    let send = |request: AggregationRequest| TxBody::SendAggregationRequest {
        destination: chain(B),
        request,
        timeout_height: Some(Height::new(1_000).unwrap()),
        timeout_time: None,
    };
    // No share registered.
    let r = n.a.fails("bank-a", send(n.request(consent, deadline)), 121);
    assert!(
        r.message.contains("bank-a has no aggregation key share"),
        "{}",
        r.message
    );
    let body = n.register_share(&n.share.clone(), "bank-a");
    n.a.ok("bank-a", body);
    // No regulator share.
    let r = n.a.fails("bank-a", send(n.request(consent, deadline)), 122);
    assert!(
        r.message.contains("no regulator aggregation key"),
        "{}",
        r.message
    );
    let body = n.regulator_share(&n.regulator.clone());
    n.a.ok("gov", body);

    // Under bank-a's own share (or any key of its own): it could open the
    // total, and every partial, alone.
    let mut own = n.request(consent, deadline);
    own.encryption_key = n.share.public().to_bytes().to_vec();
    let r = n.a.fails("bank-a", send(own), 123);
    assert!(r.message.contains(&n.joint.to_string()), "{}", r.message);
    let mut private = n.request(consent, deadline);
    private.encryption_key = KeyPair::generate(&mut StdRng::seed_from_u64(5))
        .public()
        .to_bytes()
        .to_vec();
    n.a.fails("bank-a", send(private), 123);
    // bank-b's joint key is not bank-a's.
    let bank_b = KeyShare::generate(&mut StdRng::seed_from_u64(6));
    let body = n.register_share(&bank_b, "bank-b");
    n.a.ok("bank-b", body);
    let mut request = n.request(consent, deadline);
    request.encryption_key = joint_key(bank_b.public(), n.regulator.public())
        .unwrap()
        .to_bytes()
        .to_vec();
    n.a.fails("bank-a", send(request), 123);

    // Under the joint key: sent.
    let packet = n.send(n.request(consent, deadline), 100);
    // bank-a re-registers its share: this aggregation stays under the key
    // of its first request, so a request to another destination under the
    // new joint key is refused as a mismatch.
    let rotated = KeyShare::generate(&mut StdRng::seed_from_u64(7));
    let body = n.register_share(&rotated, "bank-a");
    n.a.ok("bank-a", body);
    let r = n.a.fails("bank-a", send(n.request(consent, deadline)), 123);
    assert!(r.message.contains("not the joint key"), "{}", r.message);
    let mut under_new_key = n.request(consent, deadline);
    under_new_key.encryption_key = joint_key(rotated.public(), n.regulator.public())
        .unwrap()
        .to_bytes()
        .to_vec();
    let r = n.a.fails("bank-a", send(under_new_key), 88);
    assert!(r.message.contains("re-registered"), "{}", r.message);
    assert!(n.total(&packet_id(&packet)).is_none());
}

fn packet_id(packet: &Packet) -> Hash {
    match &packet.payload {
        PacketPayload::AggregationRequest(r) => r.aggregation_id,
        _ => panic!("not an aggregation request"),
    }
}

#[test]
fn an_aggregation_is_closed_once_by_its_requester_after_every_chain_answered() {
    let mut n = net();
    let consent = n.grant();
    let request = n.request(consent, secs(n.b.now(), 3_600));
    let id = request.aggregation_id;
    // Nothing sent yet.
    let r = n.a.fails(
        "bank-a",
        TxBody::CloseAggregation { aggregation_id: id },
        126,
    );
    assert!(r.message.contains("never sent"), "{}", r.message);
    let packet = n.send(request.clone(), 100);
    // B has not answered: the aggregation is open on B.
    let r = n.a.fails(
        "bank-a",
        TxBody::CloseAggregation { aggregation_id: id },
        125,
    );
    assert!(r.message.contains(&format!("to {B}")), "{}", r.message);
    n.deliver(&packet);
    n.b.ok(
        "provider-b",
        n.contribution("provider-b", &packet, LOANS_B[0], 31),
    );
    n.b.ok(
        "provider-c",
        n.contribution("provider-c", &packet, LOAN_C, 32),
    );
    // Acknowledged on B, not yet on A: still open.
    n.a.fails(
        "bank-a",
        TxBody::CloseAggregation { aggregation_id: id },
        125,
    );
    n.acknowledge(&packet);
    // Only its requester closes it.
    let r =
        n.a.fails("bank-b", TxBody::CloseAggregation { aggregation_id: id }, 8);
    assert!(r.message.contains("requester bank-a"), "{}", r.message);
    n.a.fails(
        "relayer-a",
        TxBody::CloseAggregation { aggregation_id: id },
        8,
    );
    assert!(n.total(&id).is_none());
    n.close(id);
    let total = n.total(&id).unwrap();
    assert_eq!(n.open(&total), Ok(LOANS_B[0] + LOAN_C));
    // Once.
    let r = n.a.fails(
        "bank-a",
        TxBody::CloseAggregation { aggregation_id: id },
        124,
    );
    assert!(r.message.contains("was closed at"), "{}", r.message);
    assert_eq!(n.total(&id), Some(total));
    // No request with its id after: not to B again, nor to anywhere else.
    let body = TxBody::SendAggregationRequest {
        destination: chain(B),
        request,
        timeout_height: Some(Height::new(1_000).unwrap()),
        timeout_time: None,
    };
    n.a.fails("bank-a", body, 124);
}
