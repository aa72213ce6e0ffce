//! Two in-memory chains with on-chain light clients of each other: a credit
//! query sent on A (shaanxi) is received on B (guangdong) only with a valid
//! proof; under consent and fee, B's providers answer it with their
//! records sealed to the requester's registered key, each answer covering
//! exactly the provider's commitments on B; B acknowledges when all have
//! answered or at the deadline; A accepts the acknowledgement only with a
//! valid proof, which pays the providers' charges from the escrow there;
//! refusals and unanswered packets (timed out) refund it all. Value never
//! crosses chains: each chain's balances plus escrows are conserved; no
//! record's amount is ever in either chain's state.

mod app_support;

use app_support::*;
use credit_chain::app::sealed::ANSWER_WINDOW;
use credit_chain::app::state::{Escrow, PacketResult};
use credit_chain::app::{TxResult, fees, keys};
use protocol::sealed::{SaltedRecord, SealError, open_answer, seal_with_commitments};
use protocol::tx::{Acknowledgement, Role, TxBody};
use protocol::{
    CreditQuery, CreditRecord, CreditResponse, FeeCharge, Hash, Height, LightBlock, Packet,
    PacketPayload, QueryOutcome, RecordKind, SignedHeader,
};

struct Net {
    a: Chain,
    b: Chain,
    /// B's providers' records, kept at home with their salts.
    vault: Vec<SaltedRecord>,
}

/// The amounts of B's records: they must never appear in either state.
const AMOUNTS: [u64; 3] = [3_000_017, 120_013, 45_011];

const A: &str = "shaanxi";
const B: &str = "guangdong";

fn net() -> Net {
    let mut ga = genesis(vec![
        institution("bank-a", &[Role::Bank]),
        institution("bank-z", &[Role::Bank]),
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
    // B's providers commit to records about the enterprise.
    let start = "2025-01-15T00:00:00Z".parse().unwrap();
    let vault = [
        ("provider-b", RecordKind::Loan, AMOUNTS[0]),
        ("provider-b", RecordKind::Overdue, AMOUNTS[1]),
        ("provider-c", RecordKind::Tax, AMOUNTS[2]),
    ]
    .into_iter()
    .map(|(p, kind, units)| b.commit(record(p, kind, units, start)))
    .collect();
    // bank-a's answers are sealed to its key (bank-z registers none).
    a.ok("bank-a", register_key("bank-a"));
    a.empty_blocks(2);
    Net { a, b, vault }
}

/// bank-a's query, naming its registered key.
fn query(kinds: &[RecordKind], consent: Hash, max_fee: u64) -> CreditQuery {
    CreditQuery {
        requester: id("bank-a"),
        enterprise: enterprise(),
        kinds: kinds.to_vec(),
        purpose: "loan application".into(),
        consent_id: consent,
        max_fee: cny(max_fee),
        encryption_key: decryption_key("bank-a").public(),
    }
}

/// Every answer of `resp` opened with bank-a's key, in order.
fn opened(packet: &Packet, resp: &CreditResponse) -> Vec<CreditRecord> {
    let PacketPayload::CreditQuery(q) = &packet.payload else {
        panic!("not a query")
    };
    resp.answers
        .iter()
        .flat_map(|a| open_answer(&decryption_key("bank-a"), packet, q, a).unwrap())
        .collect()
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
                query: query(kinds, consent, max_fee),
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

    /// The honest answer of `provider` to the query `packet` pending on B.
    fn answer(&self, packet: &Packet, provider: &str) -> TxBody {
        self.b
            .answer_body(&chain(A), packet.sequence, provider, &self.vault)
    }

    /// Every expected provider answers the query `packet` pending on B;
    /// returns the last answer's result.
    fn answer_all(&mut self, packet: &Packet) -> TxResult {
        let pending = self.b.pending_query(&chain(A), packet.sequence).unwrap();
        let mut last = None;
        for e in &pending.expected {
            let p = e.provider.as_str();
            last = Some(self.b.ok(p, answer_body(&pending, p, &self.vault)));
        }
        last.expect("an expected provider")
    }

    /// Relays `packet` to B with a valid proof, and has B's providers
    /// answer it when it waits for them; returns the acknowledgement.
    fn deliver(&mut self, packet: &Packet) -> Acknowledgement {
        let h = self.update_b();
        let mut r = self.b.ok("relayer-b", self.recv_body(packet, h));
        assert!(r.events_of("recv_packet").next().is_some());
        if r.events_of("write_acknowledgement").next().is_none() {
            assert!(r.events_of("query_requested").next().is_some());
            r = self.answer_all(packet);
        }
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

    // The valid delivery: provider-b holds commitments in the scope, so
    // the query waits for its answer; no acknowledgement yet.
    let r = n.b.ok("relayer-b", n.recv_body(&packet, h));
    assert!(r.events_of("write_acknowledgement").next().is_none());
    let ev = r.events_of("query_requested").next().unwrap();
    assert_eq!(ev.get("providers"), Some("provider-b"));
    assert!(
        n.b.read::<Acknowledgement>(&keys::packet_ack_data(&chain(A), packet.sequence))
            .is_none()
    );
    let r = n.b.ok("provider-b", n.answer(&packet, "provider-b"));
    assert!(r.events_of("query_answered").next().is_some());
    let ev = r.events_of("write_acknowledgement").next().unwrap();
    assert_eq!(ev.get("outcome"), Some("answered"));
    let ack: Acknowledgement =
        n.b.read(&keys::packet_ack_data(&chain(A), packet.sequence))
            .unwrap();
    let resp = response(&ack);
    assert_eq!(resp.outcome, QueryOutcome::Answered);
    assert_eq!(resp.query_packet, packet.commitment());
    assert!(resp.missing.is_empty());
    let kinds: Vec<RecordKind> = opened(&packet, resp).iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![RecordKind::Loan, RecordKind::Overdue]);
    // The pending query is gone once acknowledged.
    assert!(n.b.pending_query(&chain(A), packet.sequence).is_none());
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
    forged.answers.clear();
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
            assert!(resp.answers.is_empty());
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
        query: query(&[RecordKind::Loan], narrow, 9_101),
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
    assert!(resp.charges.is_empty() && resp.answers.is_empty());
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

impl Net {
    /// Sends bank-a's query of `kinds` under `consent` (max fee 1,000) and
    /// delivers it to B, where it waits for its providers; returns it.
    fn pending(&mut self, kinds: &[RecordKind], consent: Hash) -> Packet {
        let packet = self.send(kinds, consent, 1_000, 1_000);
        let h = self.update_b();
        let r = self.b.ok("relayer-b", self.recv_body(&packet, h));
        assert!(r.events_of("write_acknowledgement").next().is_none());
        assert!(self.b.pending_query(&chain(A), packet.sequence).is_some());
        packet
    }

    /// The vault's records of `provider` of one of `kinds`, in commit order.
    fn records_of(&self, provider: &str, kinds: &[RecordKind]) -> Vec<SaltedRecord> {
        self.vault
            .iter()
            .filter(|s| s.record.provider.as_str() == provider && kinds.contains(&s.record.kind))
            .cloned()
            .collect()
    }

    /// B's acknowledgement of `packet`, when written.
    fn ack_of(&self, packet: &Packet) -> Option<Acknowledgement> {
        self.b
            .read(&keys::packet_ack_data(&chain(A), packet.sequence))
    }
}

const ALL: [RecordKind; 3] = [RecordKind::Loan, RecordKind::Overdue, RecordKind::Tax];

#[test]
fn sealed_answers_open_only_at_the_requester_and_match_the_records() {
    let mut n = net();
    let consent = n.grant(&ALL, 86_400, 0);
    let packet = n.send(&ALL, consent, 1_000, 1_000);
    let h = n.update_b();
    let r = n.b.ok("relayer-b", n.recv_body(&packet, h));
    let ev = r.events_of("query_requested").next().unwrap();
    assert_eq!(ev.get("providers"), Some("provider-b,provider-c"));
    assert_eq!(ev.get("enterprise"), Some(enterprise().as_str()));
    // B fixed what each provider must cover: its commitments, in order.
    let pending = n.b.pending_query(&chain(A), packet.sequence).unwrap();
    let digests = |p: &str| -> Vec<Hash> {
        n.records_of(p, &ALL)
            .iter()
            .map(|s| s.commitment().digest)
            .collect()
    };
    assert_eq!(pending.expected.len(), 2);
    assert_eq!(pending.expected[0].commitments, digests("provider-b"));
    assert_eq!(pending.expected[1].commitments, digests("provider-c"));
    assert_eq!(
        ev.get("deadline"),
        Some(pending.deadline.to_string().as_str())
    );

    // provider-c answers first: still pending.
    let r = n.b.ok("provider-c", n.answer(&packet, "provider-c"));
    assert!(r.events_of("write_acknowledgement").next().is_none());
    let ev = r.events_of("query_answered").next().unwrap();
    assert_eq!(ev.get("provider"), Some("provider-c"));
    // provider-b's answer completes it.
    let r = n.b.ok("provider-b", n.answer(&packet, "provider-b"));
    let fin = r.events_of("query_finalized").next().unwrap();
    assert_eq!(fin.get("reason"), Some("complete"));
    assert_eq!(r.events_of("fee_charged").count(), 2);
    assert!(r.events_of("write_acknowledgement").next().is_some());
    let ack = n.ack_of(&packet).unwrap();
    let resp = response(&ack);
    assert_eq!(resp.outcome, QueryOutcome::Answered);
    // By provider, whatever the arrival order.
    let answered: Vec<&str> = resp.answers.iter().map(|a| a.provider.as_str()).collect();
    assert_eq!(answered, ["provider-b", "provider-c"]);
    assert!(resp.missing.is_empty());
    assert_eq!(resp.fee_charged, cny(350));

    // The requester opens them: exactly the providers' records.
    let records: Vec<CreditRecord> = n.vault.iter().map(|s| s.record.clone()).collect();
    assert_eq!(opened(&packet, resp), records);
    // Any other key opens nothing.
    let PacketPayload::CreditQuery(q) = &packet.payload else {
        unreachable!()
    };
    let err = open_answer(&decryption_key("mallory"), &packet, q, &resp.answers[0]).unwrap_err();
    assert!(matches!(err, SealError::DoesNotOpen { .. }), "{err}");

    // Acknowledged on A: both charges paid.
    let hb = n.update_a();
    n.a.ok("relayer-a", n.ack_body(&packet, &ack, hb));
    assert_eq!(n.a.balance("guangdong/provider-b"), 300);
    assert_eq!(n.a.balance("guangdong/provider-c"), 50);
    assert_eq!(n.a.balance("bank-a"), 10_000 - 350);

    // No amount of any record is in either chain's state, now or at any
    // height: not under records/, not in the pending query, not in the
    // acknowledgement.
    for state in [&n.a.state, &n.b.state] {
        assert_no_amount(state, &AMOUNTS);
    }
    for (_, state) in n.b.blocks.values() {
        assert_no_amount(state, &AMOUNTS);
    }
    // The check itself finds an amount where there is one.
    let mut leaky = State::new();
    leaky.insert(b"x".to_vec(), AMOUNTS[1].to_le_bytes().to_vec());
    assert!(std::panic::catch_unwind(|| assert_no_amount(&leaky, &AMOUNTS)).is_err());
}

/// The attack: a provider leaves out a record that would hurt the
/// enterprise (its overdue payment). The chain refuses the answer, naming
/// the committed record left out; hiding the omission behind the full list
/// of digests is caught by the requester on opening.
#[test]
fn an_answer_leaving_out_a_committed_record_is_refused_naming_it() {
    let mut n = net();
    let kinds = [RecordKind::Loan, RecordKind::Overdue];
    let consent = n.grant(&kinds, 86_400, 0);
    let packet = n.pending(&kinds, consent);
    let pending = n.b.pending_query(&chain(A), packet.sequence).unwrap();
    let all = n.records_of("provider-b", &kinds);
    let overdue = all[1].commitment().digest;
    assert_eq!(all[1].record.kind, RecordKind::Overdue);

    let body = sealed_body(&pending, "provider-b", &all[..1]);
    let r = n.b.fails("provider-b", body, 107);
    assert!(r.message.contains("incomplete"), "{}", r.message);
    assert!(r.message.contains(&overdue.to_string()), "{}", r.message);
    assert!(n.ack_of(&packet).is_none());

    // Listing both digests over the loan alone passes the chain (it cannot
    // read the seal) but not the requester.
    let digests = all.iter().map(|s| s.commitment().digest).collect();
    let q = pending.query().unwrap();
    let answer = seal_with_commitments(
        &q.encryption_key,
        &packet,
        &id("provider-b"),
        &all[..1],
        digests,
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    n.b.ok(
        "provider-b",
        TxBody::AnswerQuery {
            source: chain(A),
            sequence: packet.sequence,
            answer,
        },
    );
    let ack = n.ack_of(&packet).unwrap();
    let err = open_answer(
        &decryption_key("bank-a"),
        &packet,
        q,
        &response(&ack).answers[0],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            SealError::CountMismatch {
                opened: 1,
                committed: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_answer_listing_an_uncommitted_digest_or_another_order_is_refused() {
    let mut n = net();
    let kinds = [RecordKind::Loan, RecordKind::Overdue];
    let consent = n.grant(&kinds, 86_400, 0);
    let packet = n.pending(&kinds, consent);
    let pending = n.b.pending_query(&chain(A), packet.sequence).unwrap();
    let mut all = n.records_of("provider-b", &kinds);
    // A record provider-b never committed.
    let start = "2025-02-01T00:00:00Z".parse().unwrap();
    let invented = SaltedRecord::new(
        record("provider-b", RecordKind::Loan, 1, start),
        &mut rand::rngs::OsRng,
    );
    let mut padded = all.clone();
    padded.push(invented.clone());
    let r = n.b.fails(
        "provider-b",
        sealed_body(&pending, "provider-b", &padded),
        108,
    );
    assert!(
        r.message
            .contains(&invented.commitment().digest.to_string()),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("not one of its committed records"),
        "{}",
        r.message
    );
    // The right records in another order.
    all.reverse();
    let r =
        n.b.fails("provider-b", sealed_body(&pending, "provider-b", &all), 109);
    assert!(r.message.contains("position 0"), "{}", r.message);
    // An empty ciphertext is refused before any state is read.
    let TxBody::AnswerQuery { mut answer, .. } = n.answer(&packet, "provider-b") else {
        unreachable!()
    };
    answer.ciphertext.clear();
    let body = TxBody::AnswerQuery {
        source: chain(A),
        sequence: packet.sequence,
        answer,
    };
    let r = n.b.fails("provider-b", body, 9);
    assert!(r.message.contains("ciphertext is empty"), "{}", r.message);
    // The honest answer still goes through.
    n.b.ok("provider-b", n.answer(&packet, "provider-b"));
    assert!(n.ack_of(&packet).is_some());
}

#[test]
fn a_second_answer_an_unexpected_provider_and_a_stranger_are_refused() {
    let mut n = net();
    let consent = n.grant(&ALL, 86_400, 0);
    let both = n.pending(&[RecordKind::Loan, RecordKind::Tax], consent);
    n.b.ok("provider-b", n.answer(&both, "provider-b"));
    // Once only.
    let r = n.b.fails("provider-b", n.answer(&both, "provider-b"), 106);
    assert!(r.message.contains("already answered"), "{}", r.message);
    // An answer in another provider's name.
    let TxBody::AnswerQuery { answer, .. } = n.answer(&both, "provider-c") else {
        unreachable!()
    };
    let body = TxBody::AnswerQuery {
        source: chain(A),
        sequence: both.sequence,
        answer,
    };
    let r = n.b.fails("provider-b", body.clone(), 104);
    assert!(
        r.message
            .contains("names provider provider-c, but the sender is provider-b"),
        "{}",
        r.message
    );
    // Only data providers answer.
    n.b.fails("relayer-b", body, 8);
    // No such query.
    let TxBody::AnswerQuery { answer, .. } = n.answer(&both, "provider-c") else {
        unreachable!()
    };
    let body = TxBody::AnswerQuery {
        source: chain(A),
        sequence: both.sequence + 100,
        answer,
    };
    n.b.fails("provider-c", body, 102);

    // provider-c holds no loan or overdue record: not expected.
    let loans = n.pending(&[RecordKind::Loan, RecordKind::Overdue], consent);
    let pending = n.b.pending_query(&chain(A), loans.sequence).unwrap();
    let tax = n.records_of("provider-c", &[RecordKind::Tax]);
    let r =
        n.b.fails("provider-c", sealed_body(&pending, "provider-c", &tax), 105);
    assert!(
        r.message.contains("provider-c is not expected")
            && r.message.contains("(expected: provider-b)"),
        "{}",
        r.message
    );
}

#[test]
fn the_deadline_acknowledges_with_the_missing_providers() {
    let mut n = net();
    let consent = n.grant(&ALL, 86_400, 0);
    let packet = n.pending(&[RecordKind::Loan, RecordKind::Tax], consent);
    let pending = n.b.pending_query(&chain(A), packet.sequence).unwrap();
    let received_at = n.b.latest().header().time;
    assert_eq!(pending.deadline, secs(received_at, ANSWER_WINDOW.as_secs()));
    n.b.ok("provider-b", n.answer(&packet, "provider-b"));
    // provider-c never answers in time: blocks before the deadline
    // acknowledge nothing.
    while n.b.now() < pending.deadline {
        let (_, end) = n.b.block_with_end(&[]);
        assert!(end.events.is_empty());
        assert!(n.ack_of(&packet).is_none());
    }
    // In the deadline's block an answer is too late.
    let r =
        n.b.fails("provider-c", n.answer(&packet, "provider-c"), 103);
    assert!(
        r.message.contains("closed at its deadline"),
        "{}",
        r.message
    );
    let (_, end) = n.b.block_with_end(&[]);
    let fin = end
        .events
        .iter()
        .find(|e| e.kind == "query_finalized")
        .unwrap();
    assert_eq!(fin.get("reason"), Some("deadline"));
    assert_eq!(fin.get("missing"), Some("provider-c"));
    assert!(end.events.iter().any(|e| e.kind == "write_acknowledgement"));
    let ack = n.ack_of(&packet).unwrap();
    let resp = response(&ack);
    assert_eq!(resp.outcome, QueryOutcome::Answered);
    assert_eq!(resp.missing, vec![id("provider-c")]);
    assert_eq!(resp.answers.len(), 1);
    assert_eq!(
        resp.charges,
        vec![FeeCharge {
            provider: id("provider-b"),
            fee: cny(300)
        }]
    );
    assert_eq!(resp.fee_charged, cny(300));
    assert_eq!(opened(&packet, resp).len(), 1);
    // Forgotten: the pending query, its deadline entry and its fees.
    assert!(n.b.pending_query(&chain(A), packet.sequence).is_none());
    assert!(
        n.b.state
            .keys()
            .all(|k| !k.starts_with(b"interchain/query_deadlines/")
                && !k.starts_with(b"interchain/pending_query_charges/"))
    );
    // Later, there is nothing to answer.
    n.b.fails("provider-c", n.answer_late(&pending), 102);

    // A pays provider-b only and refunds the rest (once its clock caught
    // up with B's: a light client refuses headers from its future).
    while n.a.now() < n.b.latest().header().time {
        n.a.empty_blocks(1);
    }
    let hb = n.update_a();
    n.a.ok("relayer-a", n.ack_body(&packet, &ack, hb));
    assert_eq!(n.a.balance("guangdong/provider-b"), 300);
    assert_eq!(n.a.balance("guangdong/provider-c"), 0);
    assert_eq!(n.a.balance("bank-a"), 9_700);
}

impl Net {
    /// provider-c's answer to `pending`, built from the query as received.
    fn answer_late(&self, pending: &protocol::sealed::PendingQuery) -> TxBody {
        answer_body(pending, "provider-c", &self.vault)
    }
}

/// The attack: a relayer or the caller swaps the query's key for its own,
/// so the providers would seal the records to it. The asking chain refuses
/// any key but the requester's registered one.
#[test]
fn a_query_must_name_the_requesters_registered_key() {
    let mut n = net();
    let consent = n.grant(&ALL, 86_400, 0);
    let timeout = Some(secs(n.a.now(), 600));
    let send = |q: CreditQuery| TxBody::SendCreditQuery {
        destination: chain(B),
        query: q,
        timeout_height: None,
        timeout_time: timeout,
    };
    let mut swapped = query(&ALL, consent, 100);
    swapped.encryption_key = decryption_key("mallory").public();
    let r = n.a.fails("bank-a", send(swapped.clone()), 101);
    assert!(r.message.contains("institution bank-a"), "{}", r.message);
    assert!(
        r.message
            .contains(&decryption_key("mallory").public().to_string())
            && r.message
                .contains(&decryption_key("bank-a").public().to_string()),
        "{}",
        r.message
    );
    // No key registered at all.
    let mut unkeyed = query(&ALL, consent, 0);
    unkeyed.requester = id("bank-z");
    let r = n.a.fails("bank-z", send(unkeyed), 100);
    assert!(
        r.message
            .contains("institution bank-z has no encryption key"),
        "{}",
        r.message
    );
    // Only banks and bureaus register keys; never a low-order point.
    n.a.fails("relayer-a", register_key("relayer-a"), 8);
    n.a.fails(
        "bank-z",
        TxBody::RegisterEncryptionKey {
            key: protocol::sealed::EncryptionKey([0; 32]),
        },
        9,
    );
    // Rotated: the new key is the one queries must name.
    let r = n.a.ok("bank-a", register_key("mallory"));
    let ev = r.events_of("encryption_key_registered").next().unwrap();
    assert_eq!(ev.get("rotated"), Some("true"));
    n.a.ok("bank-a", send(swapped));
    n.a.fails("bank-a", send(query(&ALL, consent, 100)), 101);
}

#[test]
fn write_record_is_refused_naming_commit_record() {
    let mut n = net();
    let before = n.b.state.clone();
    let start = "2025-01-15T00:00:00Z".parse().unwrap();
    let r = n.b.fails(
        "provider-b",
        TxBody::WriteRecord {
            record: record("provider-b", RecordKind::Loan, 1, start),
        },
        31,
    );
    assert!(r.message.contains("commit_record"), "{}", r.message);
    assert!(
        r.message.contains("stay with their provider"),
        "{}",
        r.message
    );
    // Refused at admission too, so it takes no mempool room.
    let tx = n.b.tx(
        "provider-b",
        TxBody::WriteRecord {
            record: record("provider-b", RecordKind::Loan, 1, start),
        },
    );
    let err = credit_chain::app::App::check_tx(&n.b.state, &n.b.ctx(), &tx).unwrap_err();
    assert_eq!(err.code(), 31);
    assert!(
        n.b.state
            .keys()
            .filter(|k| k.starts_with(b"records/"))
            .count()
            == 3
    );
    assert_eq!(before.len(), n.b.state.len());
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
