//! The Tendermint v0.33 (go-amino) encodings, for light blocks produced by
//! chains (and test generators) from before the protobuf migration of v0.34.
//!
//! Only three things changed between the two eras as far as light-client
//! verification is concerned: how a header is hashed, how a validator set is
//! hashed, and the bytes a validator signs for a vote. This module supplies
//! those three, plugged into the verifier's own extension points
//! ([`VerificationPredicates`] and the signature [`Verifier`] of
//! [`ProvidedVotingPowerCalculator`]); the verification algorithm is still
//! entirely the one of `tendermint-light-client-verifier`.

use tendermint::block::Header;
use tendermint::crypto::default::Sha256;
use tendermint::crypto::default::signature::Verifier as DefaultSignatureVerifier;
use tendermint::crypto::signature::{Error as SignatureError, Verifier};
use tendermint::merkle::simple_hash_from_byte_vectors;
use tendermint::validator::Set as ValidatorSet;
use tendermint::{Hash, PublicKey, Signature};
use tendermint_light_client_verifier::PredicateVerifier;
use tendermint_light_client_verifier::errors::VerificationError;
use tendermint_light_client_verifier::operations::{
    ProdCommitValidator, ProvidedVotingPowerCalculator,
};
use tendermint_light_client_verifier::predicates::VerificationPredicates;

/// The amino registration prefix of `tendermint/PubKeyEd25519`.
const ED25519_PREFIX: [u8; 4] = [0x16, 0x24, 0xDE, 0x64];

/// The verifier with the v0.33 encodings.
pub(super) type AminoVerifier = PredicateVerifier<
    AminoPredicates,
    ProvidedVotingPowerCalculator<AminoSignatureVerifier>,
    ProdCommitValidator,
>;

/// A verifier for v0.33 light blocks.
pub(super) fn verifier() -> AminoVerifier {
    PredicateVerifier::new(
        AminoPredicates,
        ProvidedVotingPowerCalculator::new(AminoSignatureVerifier),
        ProdCommitValidator,
    )
}

/// The verifier's predicates, with v0.33 header and validator-set hashes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AminoPredicates;

impl VerificationPredicates for AminoPredicates {
    type Sha256 = Sha256;

    fn validator_sets_match(
        &self,
        validators: &ValidatorSet,
        header_hash: Hash,
    ) -> Result<(), VerificationError> {
        let hash = validator_set_hash(validators);
        if hash == Some(header_hash) {
            Ok(())
        } else {
            Err(VerificationError::invalid_validator_set(
                header_hash,
                hash.unwrap_or_default(),
            ))
        }
    }

    fn next_validators_match(
        &self,
        validators: &ValidatorSet,
        header_hash: Hash,
    ) -> Result<(), VerificationError> {
        let hash = validator_set_hash(validators);
        if hash == Some(header_hash) {
            Ok(())
        } else {
            Err(VerificationError::invalid_next_validator_set(
                header_hash,
                hash.unwrap_or_default(),
            ))
        }
    }

    fn header_matches_commit(
        &self,
        header: &Header,
        commit_hash: Hash,
    ) -> Result<(), VerificationError> {
        let hash = header_hash(header);
        if hash == commit_hash {
            Ok(())
        } else {
            Err(VerificationError::invalid_commit_value(hash, commit_hash))
        }
    }
}

/// Checks a vote signature over the v0.33 sign bytes.
///
/// The verifier hands over the v0.34+ (protobuf) sign bytes of the vote;
/// they are transcoded to the amino ones, which differ only in the field
/// order of the part-set header.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AminoSignatureVerifier;

impl Verifier for AminoSignatureVerifier {
    fn verify(
        &self,
        pubkey: PublicKey,
        msg: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let amino = sign_bytes_from_protobuf(msg).ok_or(SignatureError::VerificationFailed)?;
        DefaultSignatureVerifier.verify(pubkey, &amino, signature)
    }
}

/// The v0.33 hash of a header: the Merkle root of the amino encoding of each field.
pub(super) fn header_hash(header: &Header) -> Hash {
    let mut version = Vec::new();
    put_uvarint_field(&mut version, 1, header.version.block);
    put_uvarint_field(&mut version, 2, header.version.app);

    let mut height = Vec::new();
    put_uvarint(&mut height, header.height.value());

    let mut last_block_id = Vec::new();
    if let Some(id) = &header.last_block_id {
        put_bytes_field(&mut last_block_id, 1, id.hash.as_bytes());
        let mut parts = Vec::new();
        put_uvarint_field(&mut parts, 1, u64::from(id.part_set_header.total));
        put_bytes_field(&mut parts, 2, id.part_set_header.hash.as_bytes());
        put_bytes_field(&mut last_block_id, 2, &parts);
    }

    let optional = |hash: &Option<Hash>| bytes(hash.as_ref().map_or(&[][..], Hash::as_bytes));
    let fields: [Vec<u8>; 14] = [
        version,
        bytes(header.chain_id.as_str().as_bytes()),
        height,
        time(header.time.unix_timestamp_nanos()),
        last_block_id,
        optional(&header.last_commit_hash),
        optional(&header.data_hash),
        bytes(header.validators_hash.as_bytes()),
        bytes(header.next_validators_hash.as_bytes()),
        bytes(header.consensus_hash.as_bytes()),
        bytes(header.app_hash.as_bytes()),
        optional(&header.last_results_hash),
        optional(&header.evidence_hash),
        bytes(header.proposer_address.as_bytes()),
    ];
    Hash::Sha256(simple_hash_from_byte_vectors::<Sha256>(&fields))
}

/// The v0.33 hash of a validator set: the Merkle root of the amino encoding
/// of each validator's public key and voting power. `None` if a key is not
/// Ed25519 (the only key type of the v0.33 vectors).
pub(super) fn validator_set_hash(validators: &ValidatorSet) -> Option<Hash> {
    let leaves = validators
        .validators()
        .iter()
        .map(|validator| {
            let key = validator.pub_key.ed25519()?;
            let mut amino_key = ED25519_PREFIX.to_vec();
            amino_key.extend(bytes(key.as_bytes()));
            let mut leaf = Vec::new();
            put_bytes_field(&mut leaf, 1, &amino_key);
            put_uvarint_field(&mut leaf, 2, validator.power.value());
            Some(leaf)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Hash::Sha256(simple_hash_from_byte_vectors::<Sha256>(
        &leaves,
    )))
}

/// Transcodes the length-prefixed protobuf `CanonicalVote` sign bytes into
/// the length-prefixed amino ones: same fields and numbers, except that the
/// canonical part-set header is `{1: total, 2: hash}` in protobuf and
/// `{1: hash, 2: total}` in amino. `None` if the input does not parse.
fn sign_bytes_from_protobuf(msg: &[u8]) -> Option<Vec<u8>> {
    let (len, mut rest) = read_uvarint(msg)?;
    if u64::try_from(rest.len()).ok()? != len {
        return None;
    }
    let mut vote = Vec::with_capacity(msg.len());
    while !rest.is_empty() {
        let (field, payload, tail) = read_field(rest)?;
        rest = tail;
        match (field, payload) {
            (4, Payload::Bytes(block_id)) => {
                put_bytes_field(&mut vote, 4, &transcode_block_id(block_id)?);
            }
            (field, payload) => payload.write(&mut vote, field),
        }
    }
    let mut out = Vec::with_capacity(vote.len() + 2);
    put_uvarint(&mut out, u64::try_from(vote.len()).ok()?);
    out.extend(vote);
    Some(out)
}

fn transcode_block_id(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let (field, payload, tail) = read_field(rest)?;
        rest = tail;
        match (field, payload) {
            (2, Payload::Bytes(mut parts)) => {
                let (mut total, mut hash) = (None, None);
                while !parts.is_empty() {
                    let (field, payload, tail) = read_field(parts)?;
                    parts = tail;
                    match (field, payload) {
                        (1, Payload::Varint(v)) => total = Some(v),
                        (2, Payload::Bytes(b)) => hash = Some(b),
                        _ => return None,
                    }
                }
                let mut amino_parts = Vec::new();
                if let Some(hash) = hash {
                    put_bytes_field(&mut amino_parts, 1, hash);
                }
                if let Some(total) = total {
                    put_uvarint_field(&mut amino_parts, 2, total);
                }
                put_bytes_field(&mut out, 2, &amino_parts);
            }
            (field, payload) => payload.write(&mut out, field),
        }
    }
    Some(out)
}

/// A decoded protobuf field value.
enum Payload<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

impl Payload<'_> {
    fn write(&self, out: &mut Vec<u8>, field: u64) {
        match self {
            Payload::Varint(v) => {
                put_uvarint(out, field << 3);
                put_uvarint(out, *v);
            }
            Payload::Fixed64(b) => {
                put_uvarint(out, (field << 3) | 1);
                out.extend_from_slice(b);
            }
            Payload::Bytes(b) => {
                put_uvarint(out, (field << 3) | 2);
                put_uvarint(out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Payload::Fixed32(b) => {
                put_uvarint(out, (field << 3) | 5);
                out.extend_from_slice(b);
            }
        }
    }
}

fn read_field(input: &[u8]) -> Option<(u64, Payload<'_>, &[u8])> {
    let (key, rest) = read_uvarint(input)?;
    let field = key >> 3;
    match key & 7 {
        0 => {
            let (v, rest) = read_uvarint(rest)?;
            Some((field, Payload::Varint(v), rest))
        }
        1 => {
            let (bytes, rest) = rest.split_first_chunk::<8>()?;
            Some((field, Payload::Fixed64(*bytes), rest))
        }
        2 => {
            let (len, rest) = read_uvarint(rest)?;
            let len = usize::try_from(len).ok()?;
            if len > rest.len() {
                return None;
            }
            let (bytes, rest) = rest.split_at(len);
            Some((field, Payload::Bytes(bytes), rest))
        }
        5 => {
            let (bytes, rest) = rest.split_first_chunk::<4>()?;
            Some((field, Payload::Fixed32(*bytes), rest))
        }
        _ => None,
    }
}

fn read_uvarint(input: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in input.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, input.get(i + 1..)?));
        }
    }
    None
}

fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A varint field; omitted when zero, as amino (and proto3) do.
fn put_uvarint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    if value != 0 {
        put_uvarint(out, field << 3);
        put_uvarint(out, value);
    }
}

/// A length-delimited field; omitted when empty.
fn put_bytes_field(out: &mut Vec<u8>, field: u64, value: &[u8]) {
    if !value.is_empty() {
        put_uvarint(out, (field << 3) | 2);
        put_uvarint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

/// Bare length-prefixed bytes; empty when empty.
fn bytes(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 1);
    if !value.is_empty() {
        put_uvarint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

/// An amino timestamp `{1: seconds, 2: nanos}` from nanoseconds since the epoch.
fn time(unix_nanos: i128) -> Vec<u8> {
    let seconds = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let mut out = Vec::new();
    // Two's complement as a u64 for negative seconds, as amino writes int64.
    put_uvarint_field(&mut out, 1, (seconds as i64) as u64);
    put_uvarint_field(&mut out, 2, nanos as u64);
    out
}
