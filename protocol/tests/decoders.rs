//! Untrusted bytes never panic a decoder, and accepted bytes are canonical.

use proptest::prelude::*;
use protocol::{
    Canonical, ChainId, Commit, EnterpriseId, Header, LightBlock, Packet, SignedHeader,
    ValidatorSet,
};

fn sample_packet() -> Packet {
    serde_json::from_str(include_str!("data/packet.json")).unwrap()
}

/// Decodes `bytes` as `T`; if accepted, re-encoding must give the same bytes.
fn decode_is_canonical<T: Canonical>(bytes: &[u8]) {
    if let Ok(v) = T::from_canonical_bytes(bytes) {
        assert_eq!(
            v.to_canonical_bytes(),
            bytes,
            "{} accepted a non-canonical encoding",
            T::TYPE_NAME
        );
    }
}

fn all_decoders(bytes: &[u8]) {
    decode_is_canonical::<ChainId>(bytes);
    decode_is_canonical::<EnterpriseId>(bytes);
    decode_is_canonical::<ValidatorSet>(bytes);
    decode_is_canonical::<Header>(bytes);
    decode_is_canonical::<Commit>(bytes);
    decode_is_canonical::<SignedHeader>(bytes);
    decode_is_canonical::<LightBlock>(bytes);
    decode_is_canonical::<Packet>(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = serde_json::from_str::<LightBlock>(s);
        let _ = serde_json::from_str::<Packet>(s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_decoders(&bytes);
    }

    #[test]
    fn mutated_packets_never_panic(idx in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = sample_packet().to_canonical_bytes();
        let i = idx.index(bytes.len());
        bytes[i] = byte;
        all_decoders(&bytes);
        let len = bytes.len();
        all_decoders(&bytes[..cut.index(len)]);
    }
}

#[test]
fn packet_round_trips_and_commitment_depends_on_every_field() {
    let p = sample_packet();
    let bytes = p.to_canonical_bytes();
    assert_eq!(Packet::from_canonical_bytes(&bytes).unwrap(), p);
    let mut trailing = bytes.clone();
    trailing.push(0);
    let err = Packet::from_canonical_bytes(&trailing).unwrap_err();
    assert!(err.to_string().contains("credit-chain/packet"), "{err}");
    let mut q = p.clone();
    q.sequence += 1;
    assert_ne!(q.commitment(), p.commitment());
    let mut q = p.clone();
    q.destination = "beijing".parse().unwrap();
    assert_ne!(q.commitment(), p.commitment());
}

#[test]
fn a_huge_length_prefix_is_refused_without_allocating_it() {
    // A Vec length of 4 billion with no data behind it.
    let mut bytes = sample_packet().to_canonical_bytes();
    bytes.truncate(4);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(Packet::from_canonical_bytes(&bytes).is_err());
    assert!(ValidatorSet::from_canonical_bytes(&u32::MAX.to_le_bytes()).is_err());
}

#[test]
fn json_with_a_bad_enterprise_id_names_it() {
    let json = include_str!("data/packet.json").replace("91350100M000100Y43", "91350100M000100Y44");
    let err = serde_json::from_str::<Packet>(&json).unwrap_err();
    assert!(err.to_string().contains("check digit"), "{err}");
}
