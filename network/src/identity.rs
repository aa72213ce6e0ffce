//! The binding between a relayer's operator key and its libp2p identity.
//!
//! The operator key is an ed25519 key (a 32-byte secret seed, as
//! `ed25519_dalek::SigningKey`). The libp2p identity is derived from the
//! same seed, so a [`PeerId`] names exactly one operator [`PublicKey`] and
//! back: an ed25519 peer id embeds its public key (identity multihash).

use ed25519_dalek::SigningKey;
use libp2p::PeerId;
use libp2p::identity::{self, Keypair};
use protocol::PublicKey;

use crate::Error;

/// The protocol form of an operator key's public half.
pub fn public_key_of_signing_key(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// The libp2p keypair of an operator key (same seed, same public key).
pub fn keypair_of(key: &SigningKey) -> Result<Keypair, Error> {
    // `ed25519_from_bytes` zeroizes the buffer it is given: hand it a copy.
    let mut seed = key.to_bytes();
    Keypair::ed25519_from_bytes(&mut seed)
        .map_err(|e| Error::Build(format!("operator key as libp2p identity: {e}")))
}

/// The peer id of the relayer whose operator key is `key`, or `None` if the
/// bytes are not a valid ed25519 point.
///
/// ```
/// use ed25519_dalek::SigningKey;
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let public = network::identity::public_key_of_signing_key(&key);
/// let peer = network::peer_id_of(&public).unwrap();
/// assert_eq!(peer, network::identity::keypair_of(&key).unwrap().public().to_peer_id());
/// assert_eq!(network::public_key_of(&peer), Some(public));
/// ```
pub fn peer_id_of(key: &PublicKey) -> Option<PeerId> {
    let public = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).ok()?;
    Some(identity::PublicKey::from(public).to_peer_id())
}

/// The operator key embedded in an ed25519 peer id, or `None` for a peer id
/// of another key type or a hashed (non-identity) peer id.
pub fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    let multihash = peer.as_ref();
    // 0x00 is the identity multihash: the digest is the protobuf public key.
    if multihash.code() != 0 {
        return None;
    }
    let public = identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let ed = public.try_into_ed25519().ok()?;
    Some(PublicKey(ed.to_bytes()))
}

/// Whether `key` is the operator key behind `peer`.
pub fn is_key_of(key: &PublicKey, peer: &PeerId) -> bool {
    peer_id_of(key).as_ref() == Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_and_key_round_trip() {
        let key = SigningKey::from_bytes(&[42; 32]);
        let public = public_key_of_signing_key(&key);
        let peer = keypair_of(&key).unwrap().public().to_peer_id();
        assert_eq!(peer_id_of(&public), Some(peer));
        assert_eq!(public_key_of(&peer), Some(public));
        assert!(is_key_of(&public, &peer));
        let other = public_key_of_signing_key(&SigningKey::from_bytes(&[43; 32]));
        assert!(!is_key_of(&other, &peer));
        assert_eq!(public_key_of(&PeerId::random()), None);
    }
}
