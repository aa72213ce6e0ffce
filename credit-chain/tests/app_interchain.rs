//! Two in-memory chains with on-chain light clients of each other: a credit
//! query sent on A (shaanxi) is received on B (guangdong) only with a valid
//! proof, answered under consent and fee, acknowledged on A only with a
//! valid proof, which pays the providers' charges from the escrow there;
//! refusals and unanswered packets (timed out) refund it all. Value never
//! crosses chains: each chain's balances plus escrows are conserved.

mod app_support;

use app_support::*;
use credit_chain::app::state::{Escrow, PacketResult};
use credit_chain::app::{fees, keys};
use protocol::tx::{Acknowledgement, Role, TxBody};
use protocol::{
    CreditQuery, CreditResponse, FeeCharge, Hash, Height, LightBlock, Packet, PacketPayload,
    QueryOutcome, RecordKind, SignedHeader,
};

struct Net {
    a: Chain,
    b: Chain,
}

const A: &str = "shaanxi";
const B: &str = "guangdong";

fn net() -> Net {
    let mut ga = genesis(vec![
        institution("bank-a", &[Role::Bank]),
        institution("relayer-a", &[Role::Relayer]),
    ]);
    ga.balances = vec![balance("bank-a", 10_000)];
    let mut gb = genesis(vec![
        institution("provider-b", &[Role::DataProvider]),
        institution("provider-c", &[Role::DataProvider]),
        institution("relayer-b", &[Role::Relayer]),
    ]);
    gb.balances = vec![balance("provider-c", 1_000)];
    gb.query_fees = vec![fee("provider-b", 300), fee("provider-c", 50)];
    let (mut a, mut b) = linked((A, &ga), (B, &gb));
    // B holds records about the enterprise and its consent for bank-a.
    let start = "2025-01-15T00:00:00Z".parse().unwrap();
    for (p, kind, units) in [
        ("provider-b", RecordKind::Loan, 3_000_000),
        ("provider-b", RecordKind::Overdue, 120_000),
        ("provider-c", RecordKind::Tax, 45_000),
    ] {
        b.ok(
            p,
            TxBody::WriteRecord {
                record: record(p, kind, units, start),
            },
        );
    }
    a.empty_blocks(3);
    Net { a, b }
}

impl Net {
    fn grant(&mut self, scope: &[RecordKind], ttl_secs: u64, nonce: u64) -> Hash {
        let body = consent(B, A, "bank-a", scope, secs(self.b.now(), ttl_secs), nonce);
        let id = consent_id(&body);
        self.b.ok("ent", body);
        id
    }

    /// Sends a query on A; returns the packet.
    fn send(&mut self, kinds: &[RecordKind], consent: Hash, max_fee: u64, timeout: u64) -> Packet {
        let timeout_height = Some(Height::new(self.b.height().value() + timeout).unwrap());
        let r = self.a.ok(
            "bank-a",
            TxBody::SendCreditQuery {
                destination: chain(B),
                query: CreditQuery {
                    requester: id("bank-a"),
                    enterprise: enterprise(),
                    kinds: kinds.to_vec(),
                    purpose: "loan application".into(),
                    consent_id: consent,
                    max_fee: cny(max_fee),
                },
                timeout_height,
                timeout_time: None,
            },
        );
        let ev = r.events_of("send_packet").next().unwrap();
        let seq: u64 = ev.get("sequence").unwrap().parse().unwrap();
        let packet: Packet = self.a.read(&keys::packet(&chain(B), seq)).unwrap();
        assert_eq!(
            ev.get("commitment"),
            Some(packet.commitment().to_string().as_str())
        );
        assert_eq!(
            self.a
                .read::<Hash>(&keys::packet_commitment(&chain(B), seq)),
            Some(packet.commitment())
        );
        packet
    }

    /// Updates B's client of A to A's latest block.
    fn update_b(&mut self) -> Height {
        let block = self.a.latest();
        let h = block.height();
        self.b.ok("relayer-b", TxBody::UpdateClient { block });
        h
    }

    /// Updates A's client of B to B's latest block.
    fn update_a(&mut self) -> Height {
        let block = self.b.latest();
        let h = block.height();
        self.a.ok("relayer-a", TxBody::UpdateClient { block });
        h
    }

    fn recv_body(&self, packet: &Packet, proof_height: Height) -> TxBody {
        TxBody::RecvPacket {
            packet: packet.clone(),
            proof: self.a.prove(
                proof_height,
                &keys::packet_commitment(&chain(B), packet.sequence),
            ),
            proof_height,
        }
    }

    /// Relays `packet` to B with a valid proof; returns the acknowledgement.
    fn deliver(&mut self, packet: &Packet) -> Acknowledgement {
        let h = self.update_b();
        let r = self.b.ok("relayer-b", self.recv_body(packet, h));
        assert!(r.events_of("recv_packet").next().is_some());
        let ev = r.events_of("write_acknowledgement").next().unwrap();
        let ack: Acknowledgement = self
            .b
            .read(&keys::packet_ack_data(&chain(A), packet.sequence))
            .unwrap();
        assert_eq!(ev.get("ack_hash"), Some(ack.hash().to_string().as_str()));
        assert_eq!(
            self.b
                .read::<Hash>(&keys::packet_ack(&chain(A), packet.sequence)),
            Some(ack.hash())
        );
        ack
    }

    fn ack_body(&self, packet: &Packet, ack: &Acknowledgement, proof_height: Height) -> TxBody {
        TxBody::AcknowledgePacket {
            packet: packet.clone(),
            acknowledgement: ack.clone(),
            proof: self
                .b
                .prove(proof_height, &keys::packet_ack(&chain(A), packet.sequence)),
            proof_height,
        }
    }
}

fn response(ack: &Acknowledgement) -> &CreditResponse {
    match ack {
        Acknowledgement::Result(PacketPayload::CreditResponse(r)) => r,
        other => panic!("not a credit response: {other:?}"),
    }
}

#[test]
fn query_is_received_only_with_a_valid_proof_answered_and_acknowledged() {
    let mut n = net();
    let consent = n.grant(&[RecordKind::Loan, RecordKind::Overdue], 86_400, 0);
    let packet = n.send(&[RecordKind::Loan, RecordKind::Overdue], consent, 500, 100);
    // The maximum fee is escrowed on A.
    assert_eq!(n.a.balance("bank-a"), 9_500);
    assert_eq!(
        n.a.read::<Escrow>(&keys::escrow(&chain(B), packet.sequence))
            .unwrap()
            .amount,
        cny(500)
    );

    // --- receive on B ---
    let h_sent = n.a.height();
    // Before B's client trusts the height of the commitment: refused.
    let r = n.b.fails("relayer-b", n.recv_body(&packet, h_sent), 75);
    assert!(r.message.contains("not trusted"), "{}", r.message);
    let h = n.update_b();
    assert_eq!(h, h_sent);
    // A tampered packet does not match the proven commitment.
    let mut tampered = packet.clone();
    if let PacketPayload::CreditQuery(q) = &mut tampered.payload {
        q.kinds.push(RecordKind::Tax);
    }
    let body = TxBody::RecvPacket {
        packet: tampered,
        proof: n
            .a
            .prove(h, &keys::packet_commitment(&chain(B), packet.sequence)),
        proof_height: h,
    };
    let r = n.b.fails("relayer-b", body, 75);
    assert!(r.message.contains("value mismatch"), "{}", r.message);
    // A proof of another key.
    let body = TxBody::RecvPacket {
        packet: packet.clone(),
        proof: n.a.prove(h, &keys::packet(&chain(B), packet.sequence)),
        proof_height: h,
    };
    n.b.fails("relayer-b", body, 75);
    // Garbage proof bytes.
    let body = TxBody::RecvPacket {
        packet: packet.clone(),
        proof: vec![1, 2, 3],
        proof_height: h,
    };
    let r = n.b.fails("relayer-b", body, 75);
    assert!(
        r.message.contains("malformed membership proof"),
        "{}",
        r.message
    );
    // Addressed to another chain.
    let mut elsewhere = packet.clone();
    elsewhere.destination = chain("beijing");
    let body = TxBody::RecvPacket {
        packet: elsewhere,
        proof: n
            .a
            .prove(h, &keys::packet_commitment(&chain(B), packet.sequence)),
        proof_height: h,
    };
    n.b.fails("relayer-b", body, 76);
    // Only relayers deliver.
    n.b.fails("provider-b", n.recv_body(&packet, h), 8);

    // The valid delivery.
    let r = n.b.ok("relayer-b", n.recv_body(&packet, h));
    let ev = r.events_of("write_acknowledgement").next().unwrap();
    assert_eq!(ev.get("outcome"), Some("answered"));
    let ack: Acknowledgement =
        n.b.read(&keys::packet_ack_data(&chain(A), packet.sequence))
            .unwrap();
    let resp = response(&ack);
    assert_eq!(resp.outcome, QueryOutcome::Answered);
    assert_eq!(resp.query_packet, packet.commitment());
    let kinds: Vec<RecordKind> = resp.records.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![RecordKind::Loan, RecordKind::Overdue]);
    // Only provider-b's records are returned, so only its fee is charged;
    // nothing moves on B.
    assert_eq!(resp.fee_charged, cny(300));
    assert_eq!(
        resp.charges,
        vec![FeeCharge {
            provider: id("provider-b"),
            fee: cny(300)
        }]
    );
    assert!(r.events_of("fee_charged").next().is_some());
    assert_eq!(n.b.balance("provider-b"), 0);
    assert_eq!(n.b.balance("provider-c"), 1_000);
    assert_eq!(fees::ledger(&n.b.state).unwrap().total, 1_000);
    assert_eq!(
        n.b.read::<Hash>(&keys::packet_receipt(&chain(A), packet.sequence)),
        Some(packet.commitment())
    );

    // A second delivery is refused, with nothing changed.
    let r = n.b.fails("relayer-b", n.recv_body(&packet, h), 77);
    assert!(r.message.contains("already received"), "{}", r.message);

    // --- acknowledge on A ---
    let h_ack = n.b.height();
    let r = n.a.fails("relayer-a", n.ack_body(&packet, &ack, h_ack), 75);
    assert!(r.message.contains("not trusted"), "{}", r.message);
    let hb = n.update_a();
    assert_eq!(hb, h_ack);
    // A forged acknowledgement (claiming a refusal) fails the proof.
    let mut forged = response(&ack).clone();
    forged.outcome = QueryOutcome::ConsentRefused("made up".into());
    forged.records.clear();
    let forged = Acknowledgement::Result(PacketPayload::CreditResponse(forged));
    let body = TxBody::AcknowledgePacket {
        packet: packet.clone(),
        acknowledgement: forged,
        proof: n.b.prove(hb, &keys::packet_ack(&chain(A), packet.sequence)),
        proof_height: hb,
    };
    let r = n.a.fails("relayer-a", body, 75);
    assert!(r.message.contains("value mismatch"), "{}", r.message);
    // A packet A never sent in this form.
    let mut other = packet.clone();
    other.timeout_height = None;
    let r = n.a.fails("relayer-a", n.ack_body(&other, &ack, hb), 80);
    assert!(
        r.message.contains("does not match its commitment"),
        "{}",
        r.message
    );

    // A forged acknowledgement claiming more charges fails the proof too.
    let mut greedy = response(&ack).clone();
    greedy.charges[0].fee = cny(500);
    greedy.fee_charged = cny(500);
    let body = TxBody::AcknowledgePacket {
        packet: packet.clone(),
        acknowledgement: Acknowledgement::Result(PacketPayload::CreditResponse(greedy)),
        proof: n.b.prove(hb, &keys::packet_ack(&chain(A), packet.sequence)),
        proof_height: hb,
    };
    n.a.fails("relayer-a", body, 75);

    let r = n.a.ok("relayer-a", n.ack_body(&packet, &ack, hb));
    let ev = r.events_of("acknowledge_packet").next().unwrap();
    assert_eq!(ev.get("outcome"), Some("answered"));
    // provider-b's charge is paid from the escrow to its account on A, the
    // rest refunded.
    let paid = r.events_of("fee_paid").next().unwrap();
    assert_eq!(paid.get("payer"), Some("bank-a"));
    assert_eq!(paid.get("payee"), Some("guangdong/provider-b"));
    assert_eq!(paid.get("amount"), Some("300"));
    assert_eq!(paid.get("currency"), Some("CNY"));
    assert_eq!(paid.get("destination"), Some(B));
    assert_eq!(
        paid.get("sequence"),
        Some(packet.sequence.to_string().as_str())
    );
    let refunded = r.events_of("escrow_refunded").next().unwrap();
    assert_eq!(refunded.get("account"), Some("bank-a"));
    assert_eq!(refunded.get("amount"), Some("200"));
    assert_eq!(n.a.balance("bank-a"), 9_700);
    assert_eq!(n.a.balance("guangdong/provider-b"), 300);
    assert_eq!(n.a.balance("guangdong/provider-c"), 0);
    let ledger = fees::ledger(&n.a.state).unwrap();
    assert_eq!((ledger.total, ledger.escrowed_total), (10_000, 0));
    assert_eq!(fees::ledger(&n.b.state).unwrap().total, 1_000);
    let seq = packet.sequence;
    assert!(
        !n.a.state
            .contains_key(&keys::packet_commitment(&chain(B), seq))
    );
    assert!(!n.a.state.contains_key(&keys::packet(&chain(B), seq)));
    assert!(!n.a.state.contains_key(&keys::escrow(&chain(B), seq)));
    assert_eq!(
        n.a.read::<PacketResult>(&keys::packet_result(&chain(B), seq)),
        Some(PacketResult::Acknowledged(Box::new(ack.clone())))
    );
    // A second acknowledgement is refused.
    n.a.fails("relayer-a", n.ack_body(&packet, &ack, hb), 79);
    // A chain's acknowledgement is only accepted by the packet's source.
    n.b.fails("relayer-b", n.ack_body(&packet, &ack, hb), 76);
}

#[test]
fn refusals_are_acknowledged_not_failed() {
    let mut n = net();
    let narrow = n.grant(&[RecordKind::Loan], 86_400, 1);
    let revoked = n.grant(&[RecordKind::Loan], 86_400, 2);
    n.b.ok(
        "ent",
        TxBody::RevokeConsent {
            consent_id: revoked,
        },
    );
    let short = n.grant(&[RecordKind::Loan], 3, 3);

    let outcome = |n: &mut Net, kinds: &[RecordKind], consent: Hash, max_fee: u64| {
        let before = n.a.balance("bank-a");
        let packet = n.send(kinds, consent, max_fee, 100);
        assert_eq!(n.a.balance("bank-a"), before - max_fee);
        let ack = n.deliver(&packet);
        let resp = response(&ack).clone();
        if !matches!(resp.outcome, QueryOutcome::Answered) {
            assert!(resp.records.is_empty());
            assert!(resp.charges.is_empty());
            assert_eq!(resp.fee_charged.minor_units, 0);
        }
        // Acknowledged on A: the charges are paid, the rest refunded.
        let hb = n.update_a();
        let r = n.a.ok("relayer-a", n.ack_body(&packet, &ack, hb));
        let charged: u64 = resp.charges.iter().map(|c| c.fee.minor_units).sum();
        assert_eq!(charged, resp.fee_charged.minor_units);
        assert_eq!(n.a.balance("bank-a"), before - charged);
        assert_eq!(r.events_of("fee_paid").count(), resp.charges.len());
        assert_eq!(fees::ledger(&n.a.state).unwrap().total, 10_000);
        assert_eq!(fees::ledger(&n.b.state).unwrap().total, 1_000);
        resp.outcome
    };
    let refused = |o: QueryOutcome, needle: &str| match o {
        QueryOutcome::ConsentRefused(m) | QueryOutcome::FeeRefused(m) => {
            assert!(m.contains(needle), "{m:?} does not contain {needle:?}")
        }
        QueryOutcome::Answered => panic!("answered, expected a refusal with {needle:?}"),
    };

    // Scope does not cover the kinds asked.
    let o = outcome(&mut n, &[RecordKind::Loan, RecordKind::Tax], narrow, 1_000);
    assert!(matches!(o, QueryOutcome::ConsentRefused(_)));
    refused(o, "does not cover tax");
    // Revoked.
    let o = outcome(&mut n, &[RecordKind::Loan], revoked, 1_000);
    refused(o, "was revoked");
    // Unknown consent.
    let o = outcome(&mut n, &[RecordKind::Loan], Hash::ZERO, 1_000);
    refused(o, "no consent");
    // Expired: `short` lived 3 seconds; several blocks have passed.
    let o = outcome(&mut n, &[RecordKind::Loan], short, 1_000);
    refused(o, "expired");
    // Fee above the maximum.
    let o = outcome(&mut n, &[RecordKind::Loan], narrow, 299);
    assert!(matches!(o, QueryOutcome::FeeRefused(_)));
    refused(o, "exceeds the max fee 299");
    // Within the maximum: answered, 300 charged (of 1,000 escrowed).
    for _ in 0..3 {
        assert_eq!(
            outcome(&mut n, &[RecordKind::Loan], narrow, 1_000),
            QueryOutcome::Answered
        );
    }
    assert_eq!(n.a.balance("bank-a"), 9_100);
    assert_eq!(n.a.balance("guangdong/provider-b"), 900);
    // Nothing moved on B.
    assert_eq!(n.b.balance("provider-b"), 0);
    // A max fee above the requester's balance: the send fails on A,
    // naming the account, its balance and the fee.
    let body = TxBody::SendCreditQuery {
        destination: chain(B),
        query: CreditQuery {
            requester: id("bank-a"),
            enterprise: enterprise(),
            kinds: vec![RecordKind::Loan],
            purpose: "loan application".into(),
            consent_id: narrow,
            max_fee: cny(9_101),
        },
        timeout_height: None,
        timeout_time: Some(secs(n.a.now(), 600)),
    };
    let r = n.a.fails("bank-a", body, 60);
    assert!(
        r.message.contains("bank-a has 9100 CNY, needs 9101"),
        "{}",
        r.message
    );
    assert_eq!(n.a.balance("bank-a"), 9_100);
}

/// The attack: a provider prices itself at `u64::MAX`, so that every query
/// about an enterprise it holds records of is refused (or, summed with
/// another provider's fee, overflows). Its fee is charged at most at the
/// governance cap, and a sum that would overflow is a named refusal,
/// acknowledged and refunded, never an answer charging a wrapped total.
#[test]
fn a_provider_fee_of_u64_max_neither_blocks_queries_nor_overflows_the_sum() {
    let mut n = net();
    let consent = n.grant(&[RecordKind::Loan, RecordKind::Tax], 86_400, 0);
    // Governance lifts the cap to the maximum; both providers price
    // themselves at it.
    n.b.ok("gov", TxBody::SetMaxQueryFee { fee: cny(u64::MAX) });
    for p in ["provider-b", "provider-c"] {
        n.b.ok(p, TxBody::SetQueryFee { fee: cny(u64::MAX) });
    }
    // bank-a can escrow a maximum fee of u64::MAX: the providers' fees
    // summed would wrap it.
    n.a.ok(
        "gov",
        TxBody::Mint {
            to: "bank-a".parse().unwrap(),
            amount: cny(u64::MAX - 10_000),
        },
    );
    let packet = n.send(&[RecordKind::Loan, RecordKind::Tax], consent, u64::MAX, 100);
    let ack = n.deliver(&packet);
    let resp = response(&ack).clone();
    match &resp.outcome {
        QueryOutcome::FeeRefused(why) => assert!(
            why.contains("the query fees of 2 providers add up to more than"),
            "{why}"
        ),
        other => panic!("expected an overflow refusal, got {other:?}"),
    }
    assert!(resp.charges.is_empty() && resp.records.is_empty());
    // Acknowledged on A: the whole escrow comes back.
    let hb = n.update_a();
    n.a.ok("relayer-a", n.ack_body(&packet, &ack, hb));
    assert_eq!(n.a.balance("bank-a"), u64::MAX);

    // Governance lowers the cap again: the fee set before is charged at
    // the cap, and the query is answered.
    n.b.ok("gov", TxBody::SetMaxQueryFee { fee: cny(1_000) });
    let packet = n.send(&[RecordKind::Loan], consent, 1_000, 100);
    let ack = n.deliver(&packet);
    let resp = response(&ack).clone();
    assert_eq!(resp.outcome, QueryOutcome::Answered);
    assert_eq!(resp.fee_charged, cny(1_000));
    assert_eq!(
        resp.charges,
        vec![FeeCharge {
            provider: id("provider-b"),
            fee: cny(1_000),
        }]
    );
}

#[test]
fn unreceived_packet_times_out_and_refunds() {
    let mut n = net();
    let consent = n.grant(&[RecordKind::Loan], 86_400, 0);
    let packet = n.send(&[RecordKind::Loan], consent, 400, 3);
    assert_eq!(n.a.balance("bank-a"), 9_600);
    let timeout = packet.timeout_height.unwrap();
    let receipt = keys::packet_receipt(&chain(A), packet.sequence);

    // Too early: B's latest height is below the timeout.
    let early = n.update_a();
    assert!(early < timeout);
    let body = TxBody::TimeoutPacket {
        packet: packet.clone(),
        proof: n.b.prove_absent(early, &receipt),
        proof_height: early,
    };
    let r = n.a.fails("relayer-a", body, 81);
    assert!(r.message.contains("has not timed out"), "{}", r.message);

    // B passes the timeout height without receiving it; a late delivery
    // is refused there.
    while n.b.height() < timeout {
        n.b.empty_blocks(1);
    }
    let h = n.update_b();
    let r = n.b.fails("relayer-b", n.recv_body(&packet, h), 78);
    assert!(r.message.contains("timed out"), "{}", r.message);
    n.b.empty_blocks(1);

    let late = n.update_a();
    assert!(late >= timeout);
    // A membership-style proof is not a non-membership proof.
    let body = TxBody::TimeoutPacket {
        packet: packet.clone(),
        proof: n.b.prove(late, &keys::params()),
        proof_height: late,
    };
    n.a.fails("relayer-a", body, 75);
    // A non-membership proof of a key in another gap.
    let body = TxBody::TimeoutPacket {
        packet: packet.clone(),
        proof: n.b.prove_absent(late, b"aaa"),
        proof_height: late,
    };
    n.a.fails("relayer-a", body, 75);

    let body = TxBody::TimeoutPacket {
        packet: packet.clone(),
        proof: n.b.prove_absent(late, &receipt),
        proof_height: late,
    };
    let r = n.a.ok("relayer-a", body.clone());
    assert!(r.events_of("timeout_packet").next().is_some());
    assert!(r.events_of("fee_paid").next().is_none());
    let refunded = r.events_of("escrow_refunded").next().unwrap();
    assert_eq!(refunded.get("amount"), Some("400"));
    assert_eq!(n.a.balance("bank-a"), 10_000);
    assert_eq!(fees::ledger(&n.a.state).unwrap().escrowed_total, 0);
    assert!(
        !n.a.state
            .contains_key(&keys::packet_commitment(&chain(B), packet.sequence))
    );
    assert_eq!(
        n.a.read::<PacketResult>(&keys::packet_result(&chain(B), packet.sequence)),
        Some(PacketResult::TimedOut)
    );
    // Not twice.
    let tx = n.a.tx("relayer-a", body);
    n.a.fails_tx(&tx, 79);
}

#[test]
fn a_received_packet_cannot_be_timed_out() {
    let mut n = net();
    let consent = n.grant(&[RecordKind::Loan], 86_400, 0);
    let packet = n.send(&[RecordKind::Loan], consent, 0, 4);
    let before_receipt = n.b.height();
    n.deliver(&packet);
    let receipt = keys::packet_receipt(&chain(A), packet.sequence);
    while n.b.height() < packet.timeout_height.unwrap() {
        n.b.empty_blocks(1);
    }
    let late = n.update_a();
    // The receipt is present past the timeout: no non-membership proof
    // exists; an old proof from before the receipt is at a height before
    // the timeout, and a proof from one height does not verify at another.
    assert!(
        light_clients::merkle::StateTree::from_map(n.b.state_at(late))
            .prove_non_membership(&receipt)
            .is_err()
    );
    let old = TxBody::TimeoutPacket {
        packet: packet.clone(),
        proof: n.b.prove_absent(before_receipt, &receipt),
        proof_height: late,
    };
    n.a.fails("relayer-a", old, 75);
}

#[test]
fn frozen_client_refuses_packets() {
    let mut n = net();
    let consent = n.grant(&[RecordKind::Loan], 86_400, 0);
    let packet = n.send(&[RecordKind::Loan], consent, 0, 100);
    let h = n.update_b();
    // A conflicting header of A at a trusted height, signed by A's real
    // validators: a fork.
    let real = n.a.light_block(h);
    let mut header = real.header().clone();
    header.state_root = Hash::digest(b"forked state");
    let committee = light_clients::credit_chain::signing::Committee::deterministic(A, 4);
    let commit = committee.sign(&header);
    let fork = LightBlock {
        signed_header: SignedHeader { header, commit },
        ..real.clone()
    };
    // Evidence needs both blocks to be validly signed.
    let mut unsigned = fork.clone();
    unsigned.signed_header.commit.signatures.clear();
    n.b.fails(
        "provider-b",
        TxBody::SubmitMisbehaviour {
            first: real.clone(),
            second: unsigned,
        },
        73,
    );
    let r = n.b.ok(
        "provider-b",
        TxBody::SubmitMisbehaviour {
            first: real.clone(),
            second: fork.clone(),
        },
    );
    let ev = r.events_of("client_frozen").next().unwrap();
    assert_eq!(ev.get("kind"), Some("conflicting headers"));
    let r = n.b.fails("relayer-b", n.recv_body(&packet, h), 72);
    assert!(r.message.contains("frozen"), "{}", r.message);
    n.b.fails(
        "relayer-b",
        TxBody::UpdateClient {
            block: n.a.latest(),
        },
        72,
    );
    n.b.fails(
        "provider-b",
        TxBody::SubmitMisbehaviour {
            first: real,
            second: fork,
        },
        72,
    );
}

#[test]
fn update_with_a_conflicting_header_freezes_the_client() {
    let mut n = net();
    let next = n.a.latest().height().increment();
    // Sign a block at A's next height that A will not produce.
    let mut producer = light_clients::credit_chain::signing::TestChain::new(A, 4);
    producer.skip(next.value() - 1);
    let mut header = producer.next_header();
    assert_eq!(header.height, next);
    header.state_root = Hash::digest(b"other");
    header.last_header_hash = n.a.latest().header().hash();
    let fake = producer.commit_header(header);
    // B learns the fake first (it verifies: A's validators signed it)...
    n.b.ok("relayer-b", TxBody::UpdateClient { block: fake });
    // ...then A's real block at that height: conflicting headers.
    n.a.empty_blocks(1);
    let real = n.a.latest();
    assert_eq!(real.height(), next);
    let r = n.b.ok("relayer-b", TxBody::UpdateClient { block: real });
    assert!(r.events_of("client_frozen").next().is_some());
}

/// A chain with an issuer and a relayer, and one with a relayer, each with
/// a client of the other.
fn attestation_net() -> (Chain, Chain) {
    let ga = genesis(vec![
        institution("bureau-a", &[Role::CreditBureau]),
        institution("bank-a", &[Role::Bank]),
        institution("relayer-a", &[Role::Relayer]),
    ]);
    let gb = genesis(vec![institution("relayer-b", &[Role::Relayer])]);
    let (a, b) = linked((A, &ga), (B, &gb));
    (a, b)
}

fn issue(a: &mut Chain, ttl_secs: u64) -> Hash {
    use credit_chain::app::attestations::attestation_id;
    use credit_chain::app::auth::sign_attestation;
    let now = a.now();
    let mut attestation = protocol::Attestation {
        issuer: id("bureau-a"),
        issuer_key: pk("bureau-a"),
        enterprise: enterprise(),
        claim: "tax grade A".into(),
        issued_at: now,
        expires_at: secs(now, ttl_secs),
        signature: protocol::Signature([0; 64]),
    };
    sign_attestation(&key("bureau-a"), &mut attestation);
    a.ok(
        "bureau-a",
        TxBody::IssueAttestation {
            attestation: attestation.clone(),
        },
    );
    attestation_id(&attestation)
}

fn send_attestation(a: &mut Chain, sender: &str, attestation_id: Hash) -> Result<Packet, String> {
    let body = TxBody::SendAttestation {
        destination: chain(B),
        attestation_id,
        timeout_height: None,
        timeout_time: Some(secs(a.now(), 3_600)),
    };
    let results = a.block(&[a.tx(sender, body)]);
    let r = &results[0];
    if !r.is_ok() {
        return Err(r.message.clone());
    }
    let ev = r.events_of("send_packet").next().unwrap();
    let seq: u64 = ev.get("sequence").unwrap().parse().unwrap();
    Ok(a.read(&keys::packet(&chain(B), seq)).unwrap())
}

/// Delivers `packet` from a to b; returns b's acknowledgement.
fn deliver_to_b(a: &Chain, b: &mut Chain, packet: &Packet) -> Acknowledgement {
    let block = a.latest();
    let h = block.height();
    b.ok("relayer-b", TxBody::UpdateClient { block });
    b.ok(
        "relayer-b",
        TxBody::RecvPacket {
            packet: packet.clone(),
            proof: a.prove(h, &keys::packet_commitment(&chain(B), packet.sequence)),
            proof_height: h,
        },
    );
    b.read(&keys::packet_ack_data(&chain(A), packet.sequence))
        .unwrap()
}

#[test]
fn attestations_cross_chains_with_expiry_and_issuer_suspension_honoured() {
    let (mut a, mut b) = attestation_net();
    // Relayed: b verifies the issuer's signature and keeps it.
    let aid = issue(&mut a, 86_400);
    let packet = send_attestation(&mut a, "bank-a", aid).unwrap();
    let ack = deliver_to_b(&a, &mut b, &packet);
    assert!(
        matches!(&ack, Acknowledgement::Result(PacketPayload::Attestation(att)) if att.claim == "tax grade A"),
        "{ack:?}"
    );
    let kept: protocol::Attestation = b.read(&keys::foreign_attestation(&chain(A), &aid)).unwrap();
    assert_eq!(kept.issuer, id("bureau-a"));

    // Expired in flight: sent while valid, received after its expiry.
    let short = issue(&mut a, 2);
    let packet = send_attestation(&mut a, "bank-a", short).unwrap();
    a.empty_blocks(5);
    b.empty_blocks(5);
    let ack = deliver_to_b(&a, &mut b, &packet);
    assert!(
        matches!(&ack, Acknowledgement::Error(e) if e.contains("expired")),
        "{ack:?}"
    );
    assert!(
        b.read::<protocol::Attestation>(&keys::foreign_attestation(&chain(A), &short))
            .is_none()
    );
    // Already expired on its own chain: not sent at all.
    let refused = send_attestation(&mut a, "bank-a", short).unwrap_err();
    assert!(refused.contains("not after the block time"), "{refused}");

    // The issuer suspended: its attestations are no longer sent.
    let another = issue(&mut a, 86_400);
    a.ok(
        "gov",
        TxBody::SuspendInstitution {
            institution: id("bureau-a"),
            reason: "fraudulent claims".into(),
        },
    );
    // bank-a (not suspended) may not forward it either.
    let refused = send_attestation(&mut a, "bank-a", another).unwrap_err();
    assert!(refused.contains("suspended"), "{refused}");
}
