//! Builders of every state key of a credit chain. The layout is described
//! in the chain's `app` module docs; everything that reads, writes or
//! proves a key builds it here — the chain and the relayer alike — so they
//! can never disagree.
//!
//! Sequences are written as 20 decimal digits, so that byte order is
//! numeric order; keys are hex (public keys, hashes) or validated ids
//! (lowercase letters, digits and '-', or a unified social credit code),
//! none of which contains '/'.

use crate::tx::Account;
use crate::{ChainId, EnterpriseId, Hash, InstitutionId, PublicKey, Time};

fn join(parts: &[&str]) -> Vec<u8> {
    parts.concat().into_bytes()
}

fn seq(n: u64) -> String {
    format!("{n:020}")
}

/// `params`: the chain's parameters (`Params`).
pub fn params() -> Vec<u8> {
    b"params".to_vec()
}

/// `keys/<public key hex>`: who a signing key belongs to
/// (`Principal`).
pub fn principal(key: &PublicKey) -> Vec<u8> {
    join(&["keys/", &key.to_string()])
}

/// `nonces/<public key hex>`: the last nonce a sender used (`u64`).
pub fn nonce(key: &PublicKey) -> Vec<u8> {
    join(&["nonces/", &key.to_string()])
}

/// `institutions/<id>`: an `InstitutionRecord`.
pub fn institution(id: &InstitutionId) -> Vec<u8> {
    join(&["institutions/", id.as_str()])
}

/// `enterprises/<uscc>`: an `EnterpriseRecord`.
pub fn enterprise(id: &EnterpriseId) -> Vec<u8> {
    join(&["enterprises/", id.as_str()])
}

/// `records/<uscc>/<provider>/<seq>`: a
/// [`RecordCommitment`](crate::RecordCommitment) (the record itself stays
/// with its provider).
pub fn record(enterprise: &EnterpriseId, provider: &InstitutionId, sequence: u64) -> Vec<u8> {
    join(&[
        "records/",
        enterprise.as_str(),
        "/",
        provider.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// `records/<uscc>/`: the prefix of every record commitment about an
/// enterprise.
pub fn records_of(enterprise: &EnterpriseId) -> Vec<u8> {
    join(&["records/", enterprise.as_str(), "/"])
}

/// `sequences/records/<uscc>/<provider>`: the next record sequence of a
/// provider about an enterprise (`u64`, absent = 1).
pub fn record_sequence(enterprise: &EnterpriseId, provider: &InstitutionId) -> Vec<u8> {
    join(&[
        "sequences/records/",
        enterprise.as_str(),
        "/",
        provider.as_str(),
    ])
}

/// `consents/<consent id hex>`: a `ConsentRecord`.
pub fn consent(id: &Hash) -> Vec<u8> {
    join(&["consents/", &id.to_string()])
}

/// `attestations/<attestation id hex>`: an [`Attestation`](crate::Attestation).
pub fn attestation(id: &Hash) -> Vec<u8> {
    join(&["attestations/", &id.to_string()])
}

/// `foreign-attestations/<source chain>/<attestation id hex>`: an
/// [`Attestation`](crate::Attestation) received from another chain, its
/// signature and expiry checked on receipt.
pub fn foreign_attestation(source: &ChainId, id: &Hash) -> Vec<u8> {
    join(&[
        "foreign-attestations/",
        source.as_str(),
        "/",
        &id.to_string(),
    ])
}

/// `balances/<institution>` or `balances/<chain>/<institution>`: a balance
/// in minor units of the chain's currency (`u64`; absent = 0).
pub fn balance(account: &Account) -> Vec<u8> {
    join(&["balances/", &account.to_string()])
}

/// `fees/<provider>`: a data provider's fee per answered query
/// ([`Money`](crate::Money)).
pub fn query_fee(provider: &InstitutionId) -> Vec<u8> {
    join(&["fees/", provider.as_str()])
}

/// `governance/max_query_fee`: the most a data provider may charge per
/// answered query, in minor units of the chain's currency (`u64`; absent =
/// the chain's default), set by governance.
pub fn max_query_fee() -> Vec<u8> {
    b"governance/max_query_fee".to_vec()
}

/// `governance/pending_validators`: a validator set decided in the current
/// block, taken by `end_block`.
pub fn pending_validators() -> Vec<u8> {
    b"governance/pending_validators".to_vec()
}

/// `governance/validators`: the validator set most recently decided by
/// governance (the one `end_block` announced).
pub fn validators() -> Vec<u8> {
    b"governance/validators".to_vec()
}

/// `interchain/clients/<chain>`: the on-chain light client of another chain
/// (`StoredClient`).
pub fn client(chain: &ChainId) -> Vec<u8> {
    join(&["interchain/clients/", chain.as_str()])
}

/// `interchain/commitments/<destination>/<seq>`: on the source, the
/// commitment ([`Packet::commitment`](crate::Packet::commitment), 32
/// bytes) of a packet in flight. Proven to the destination on receive.
pub fn packet_commitment(destination: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/commitments/",
        destination.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// `interchain/packets/<destination>/<seq>`: on the source, the packet
/// itself, for relayers to read.
pub fn packet(destination: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/packets/",
        destination.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// `interchain/next_sequence/<destination>`: on the source, the sequence the
/// next packet to `destination` gets (`u64`; absent = 1).
pub fn next_sequence(destination: &ChainId) -> Vec<u8> {
    join(&["interchain/next_sequence/", destination.as_str()])
}

/// `interchain/escrows/<destination>/<seq>`: on the source, the fee
/// escrowed for a packet in flight (`Escrow`).
pub fn escrow(destination: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/escrows/",
        destination.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// `interchain/results/<destination>/<seq>`: on the source, how a packet
/// ended (`PacketResult`): the verified
/// acknowledgement, or timed out.
pub fn packet_result(destination: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/results/",
        destination.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// `interchain/receipts/<source>/<seq>`: on the destination, the receipt of
/// a delivered packet (its commitment, 32 bytes). Its absence is proven to
/// the source to time a packet out.
pub fn packet_receipt(source: &ChainId, sequence: u64) -> Vec<u8> {
    join(&["interchain/receipts/", source.as_str(), "/", &seq(sequence)])
}

/// `interchain/acks/<source>/<seq>`: on the destination, the hash of the
/// acknowledgement ([`Acknowledgement::hash`](crate::Acknowledgement::hash),
/// 32 bytes). Proven to the source.
pub fn packet_ack(source: &ChainId, sequence: u64) -> Vec<u8> {
    join(&["interchain/acks/", source.as_str(), "/", &seq(sequence)])
}

/// `interchain/ack_data/<source>/<seq>`: on the destination, the
/// acknowledgement itself ([`Acknowledgement`](crate::Acknowledgement)),
/// for relayers to read; its hash is under [`packet_ack`].
pub fn packet_ack_data(source: &ChainId, sequence: u64) -> Vec<u8> {
    join(&["interchain/ack_data/", source.as_str(), "/", &seq(sequence)])
}

/// `aggregations/<aggregation id hex>/<destination>`: on the requester's
/// chain, the verified [`AggregationPartial`](crate::AggregationPartial) of
/// one destination chain. Absent when that chain has not answered (or its
/// request timed out): never to be counted as zero.
pub fn aggregation_partial(aggregation_id: &Hash, destination: &ChainId) -> Vec<u8> {
    join(&[
        "aggregations/",
        &aggregation_id.to_string(),
        "/",
        destination.as_str(),
    ])
}

/// `aggregations/<aggregation id hex>/`: the prefix of every partial of one
/// aggregation.
pub fn aggregation_partials(aggregation_id: &Hash) -> Vec<u8> {
    join(&["aggregations/", &aggregation_id.to_string(), "/"])
}

/// `interchain/aggregations_sent/<aggregation id hex>/<destination>`: on the
/// requester's chain, who sent the aggregation's request to `destination`
/// and with which sequence (`AggregationSent`); after a timeout (the
/// packet's result says so) the request can be sent again, replacing it.
pub fn aggregation_sent(aggregation_id: &Hash, destination: &ChainId) -> Vec<u8> {
    join(&[
        "interchain/aggregations_sent/",
        &aggregation_id.to_string(),
        "/",
        destination.as_str(),
    ])
}

/// `interchain/aggregations_sent/<aggregation id hex>/`: the prefix of
/// [`aggregation_sent`] for one aggregation.
pub fn aggregations_sent(aggregation_id: &Hash) -> Vec<u8> {
    join(&[
        "interchain/aggregations_sent/",
        &aggregation_id.to_string(),
        "/",
    ])
}

/// `interchain/pending_aggregations/<source>/<seq>`: on a data chain, an
/// aggregation request received and not yet acknowledged
/// (`PendingAggregation`): expected providers, who contributed, the
/// encrypted running sum.
pub fn pending_aggregation(source: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/pending_aggregations/",
        source.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// `interchain/aggregation_deadlines/<deadline unix nanos>/<source>/<seq>`:
/// the index of pending aggregations by contribution deadline (value: the
/// borsh `(ChainId, u64)` of the pending one), so a block finds the due ones
/// without scanning all.
pub fn aggregation_deadline(deadline: Time, source: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/aggregation_deadlines/",
        &seq(deadline.unix_nanos()),
        "/",
        source.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// The prefix of every [`aggregation_deadline`] key.
pub fn aggregation_deadlines() -> Vec<u8> {
    b"interchain/aggregation_deadlines/".to_vec()
}

/// The exclusive upper bound of the [`aggregation_deadline`] keys due at
/// `now` (deadline at or before it).
pub fn aggregation_deadlines_due(now: Time) -> Vec<u8> {
    join(&[
        "interchain/aggregation_deadlines/",
        &seq(now.unix_nanos().saturating_add(1)),
    ])
}

/// `institutions/<id>/encryption_key`: the X25519 key (`EncryptionKey`)
/// an institution's answers are sealed to.
pub fn encryption_key(institution: &InstitutionId) -> Vec<u8> {
    join(&["institutions/", institution.as_str(), "/encryption_key"])
}

/// `institutions/<id>/aggregation_key`: an institution's share of joint
/// aggregation keys (32-byte Ristretto255 point, proven known).
pub fn aggregation_key(institution: &InstitutionId) -> Vec<u8> {
    join(&["institutions/", institution.as_str(), "/aggregation_key"])
}

/// `params/regulator_aggregation_key`: the regulator's share of every joint
/// aggregation key (32-byte Ristretto255 point).
pub fn regulator_aggregation_key() -> Vec<u8> {
    b"params/regulator_aggregation_key".to_vec()
}

/// `interchain/aggregation_totals/<aggregation id hex>`: on the asking
/// chain, a closed aggregation's [`AggregationTotal`](crate::AggregationTotal).
pub fn aggregation_total(aggregation_id: &Hash) -> Vec<u8> {
    join(&[
        "interchain/aggregation_totals/",
        &aggregation_id.to_string(),
    ])
}

/// `interchain/pending_queries/<source>/<seq>`: on an answering chain, a
/// credit query received and not yet acknowledged: the commitments each
/// provider must cover and the sealed answers so far.
pub fn pending_query(source: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/pending_queries/",
        source.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// `interchain/query_deadlines/<deadline unix nanos>/<source>/<seq>`: the
/// index of pending queries by answer deadline (value: borsh `(ChainId,
/// u64)`), as [`aggregation_deadline`].
pub fn query_deadline(deadline: Time, source: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/query_deadlines/",
        &seq(deadline.unix_nanos()),
        "/",
        source.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// The prefix of every [`query_deadline`] key.
pub fn query_deadlines() -> Vec<u8> {
    b"interchain/query_deadlines/".to_vec()
}

/// The exclusive upper bound of the [`query_deadline`] keys due at `now`.
pub fn query_deadlines_due(now: Time) -> Vec<u8> {
    join(&[
        "interchain/query_deadlines/",
        &seq(now.unix_nanos().saturating_add(1)),
    ])
}

/// `interchain/pending_query_charges/<source>/<seq>`: on an answering
/// chain, the fee of each expected provider of a pending query
/// (`Vec<FeeCharge>`), fixed when the query was received and checked
/// against its `max_fee`: a fee changed while the query waits is not
/// charged to it.
pub fn pending_query_charges(source: &ChainId, sequence: u64) -> Vec<u8> {
    join(&[
        "interchain/pending_query_charges/",
        source.as_str(),
        "/",
        &seq(sequence),
    ])
}

/// `audit/anchors/<upto>`: an anchored checkpoint of the regulator's
/// audit log ([`AuditAnchor`](crate::tx::AuditAnchor)), by its last entry.
pub fn audit_anchor(upto: u64) -> Vec<u8> {
    join(&["audit/anchors/", &seq(upto)])
}

/// `audit/latest_anchor`: the `upto` (`u64`) of the latest anchored audit
/// checkpoint; the next must cover more entries.
pub fn latest_audit_anchor() -> Vec<u8> {
    b"audit/latest_anchor".to_vec()
}

/// A key shown for humans: UTF-8 when it is, hex otherwise.
pub fn show(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) => s.to_owned(),
        Err(_) => hex::encode(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_readable_and_sequences_sort_numerically() {
        let b: ChainId = "guangdong".parse().unwrap();
        assert_eq!(
            packet_commitment(&b, 7),
            b"interchain/commitments/guangdong/00000000000000000007".to_vec()
        );
        assert!(packet_commitment(&b, 9) < packet_commitment(&b, 10));
        let remote: Account = "shaanxi/bank-a".parse().unwrap();
        assert_eq!(show(&balance(&remote)), "balances/shaanxi/bank-a");
        let e: EnterpriseId = "91350100M000100Y43".parse().unwrap();
        let p: InstitutionId = "bureau-1".parse().unwrap();
        assert!(record(&e, &p, 1).starts_with(&records_of(&e)));
        assert_eq!(show(&[0xff, 0x00]), "ff00");
    }
}
