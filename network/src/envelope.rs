//! Signed envelopes: what every gossip message, request and response is.
//!
//! An [`Envelope`] carries an opaque body (the relayer's own canonical
//! borsh bytes), the operator key of its author and that key's ed25519
//! signature over [`sign_bytes`]: a domain tag, the [`Kind`] (the gossip
//! topic, "request", or "response to request H") and the body. So a
//! signature made for one topic cannot be replayed on another, and a
//! response names the request it answers.
//!
//! Checking an envelope ([`Envelope::open`]) is three rules, each its own
//! error: it is of the expected kind, its sender key is the key of the peer
//! it came from, and its signature verifies (strictly).

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use libp2p::PeerId;
use protocol::{Hash, PublicKey, Signature};

use crate::Error;
use crate::identity::{is_key_of, public_key_of_signing_key};

/// Domain tag of envelope signatures; no other signed object of the network
/// starts with it.
pub const SIGN_DOMAIN: &str = "credit-network/envelope/v1";

/// Domain tag of the hash that binds a response to its request.
pub const REQUEST_HASH_DOMAIN: &[u8] = b"credit-network/request/v1";

/// What an envelope was signed for.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Kind {
    /// A gossip message on the topic with this name.
    Gossip {
        /// The topic string (see [`crate::Topic`]).
        topic: String,
    },
    /// A request of the packet-handover protocol.
    Request,
    /// The response to the request whose encoded envelope hashes to
    /// `request` (see [`Envelope::request_hash`]).
    Response {
        /// Hash of the request envelope's bytes.
        request: Hash,
    },
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Gossip { topic } => write!(f, "gossip message on {topic}"),
            Kind::Request => f.write_str("request"),
            Kind::Response { request } => write!(f, "response to request {request}"),
        }
    }
}

/// A signed message between relayers.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Envelope {
    /// The author's operator key; its peer id must be the peer the envelope
    /// came from.
    pub sender: PublicKey,
    /// What the envelope was signed for.
    pub kind: Kind,
    /// The opaque payload.
    pub body: Vec<u8>,
    /// Ed25519 signature of [`sign_bytes`]`(kind, body)` by `sender`.
    pub signature: Signature,
}

/// The bytes an envelope's signature covers: borsh of
/// `(SIGN_DOMAIN, kind, body)`.
pub fn sign_bytes(kind: &Kind, body: &[u8]) -> Vec<u8> {
    // Writing into a Vec cannot fail; borsh only errors on writer I/O.
    borsh::to_vec(&(SIGN_DOMAIN, kind, body)).unwrap_or_default()
}

/// Bytes of an envelope's fixed fields, so a body of `max - ENVELOPE_OVERHEAD`
/// bytes still fits in a message of `max` bytes (kind of a gossip envelope
/// excluded: add the topic length).
pub const ENVELOPE_OVERHEAD: usize = 32 + 64 + 1 + 32 + 4 + 4;

impl Envelope {
    /// Signs `body` as `kind` with the operator key.
    ///
    /// ```
    /// use network::{Envelope, Kind};
    /// let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    /// let peer = network::identity::keypair_of(&key).unwrap().public().to_peer_id();
    /// let env = Envelope::seal(&key, Kind::Request, b"packet".to_vec());
    /// let bytes = env.encode();
    /// let back = Envelope::decode(&bytes, &peer).unwrap();
    /// assert!(back.open(&peer, &Kind::Request).is_ok());
    /// // Strict decoding: a trailing byte is refused.
    /// let mut longer = bytes.clone();
    /// longer.push(0);
    /// assert!(Envelope::decode(&longer, &peer).is_err());
    /// ```
    pub fn seal(key: &SigningKey, kind: Kind, body: Vec<u8>) -> Envelope {
        let signature = key.sign(&sign_bytes(&kind, &body));
        Envelope {
            sender: public_key_of_signing_key(key),
            kind,
            body,
            signature: Signature(signature.to_bytes()),
        }
    }

    /// The canonical (borsh) bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Writing into a Vec cannot fail.
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes bytes received from `peer`; trailing bytes are refused.
    pub fn decode(bytes: &[u8], peer: &PeerId) -> Result<Envelope, Error> {
        borsh::from_slice(bytes).map_err(|e| Error::MalformedEnvelope {
            peer: *peer,
            reason: e.to_string(),
        })
    }

    /// The hash a response names: tagged SHA-256 of the request envelope's
    /// encoded bytes.
    pub fn request_hash(encoded_request: &[u8]) -> Hash {
        Hash::tagged(REQUEST_HASH_DOMAIN, &[encoded_request])
    }

    /// Checks an envelope received from `peer` where `expected` is due:
    /// the kind matches, the sender key is `peer`'s key, the signature
    /// verifies.
    pub fn open(&self, peer: &PeerId, expected: &Kind) -> Result<(), Error> {
        check_kind(self, peer, expected)?;
        check_sender(self, peer)?;
        check_signature(self, peer)
    }
}

/// Rule 1: the envelope was signed for what is due here.
fn check_kind(env: &Envelope, peer: &PeerId, expected: &Kind) -> Result<(), Error> {
    if &env.kind == expected {
        return Ok(());
    }
    Err(Error::WrongKind {
        peer: *peer,
        got_and_expected: format!("{}, expected a {expected}", env.kind),
    })
}

/// Rule 2: the sender key is the key behind the peer id it came from.
fn check_sender(env: &Envelope, peer: &PeerId) -> Result<(), Error> {
    if is_key_of(&env.sender, peer) {
        return Ok(());
    }
    Err(Error::SenderMismatch {
        peer: *peer,
        sender: env.sender,
    })
}

/// Rule 3: the signature verifies under the sender key (strict: no
/// malleable or small-order encodings).
fn check_signature(env: &Envelope, peer: &PeerId) -> Result<(), Error> {
    let bad = || Error::BadSignature {
        peer: *peer,
        sender: env.sender,
    };
    let key = VerifyingKey::from_bytes(env.sender.as_bytes()).map_err(|_| bad())?;
    let signature = ed25519_dalek::Signature::from_bytes(env.signature.as_bytes());
    key.verify_strict(&sign_bytes(&env.kind, &env.body), &signature)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::keypair_of;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn peer(n: u8) -> PeerId {
        keypair_of(&key(n)).unwrap().public().to_peer_id()
    }

    fn gossip(topic: &str) -> Kind {
        Kind::Gossip {
            topic: topic.into(),
        }
    }

    #[test]
    fn a_sealed_envelope_opens_for_its_author() {
        let env = Envelope::seal(&key(1), gossip("attestations"), vec![1, 2, 3]);
        let back = Envelope::decode(&env.encode(), &peer(1)).unwrap();
        assert_eq!(back, env);
        back.open(&peer(1), &gossip("attestations")).unwrap();
    }

    #[test]
    fn a_tampered_body_fails_the_signature() {
        let mut env = Envelope::seal(&key(1), Kind::Request, vec![1, 2, 3]);
        env.body[0] ^= 1;
        assert!(matches!(
            env.open(&peer(1), &Kind::Request),
            Err(Error::BadSignature { .. })
        ));
    }

    #[test]
    fn another_peer_cannot_claim_the_envelope() {
        let env = Envelope::seal(&key(1), Kind::Request, vec![]);
        assert!(matches!(
            env.open(&peer(2), &Kind::Request),
            Err(Error::SenderMismatch { .. })
        ));
    }

    #[test]
    fn a_signature_for_one_topic_is_not_valid_on_another() {
        let env = Envelope::seal(&key(1), gossip("attestations"), vec![9]);
        assert!(matches!(
            env.open(&peer(1), &gossip("governance")),
            Err(Error::WrongKind { .. })
        ));
        // Relabelling the kind breaks the signature.
        let mut relabelled = env.clone();
        relabelled.kind = gossip("governance");
        assert!(matches!(
            relabelled.open(&peer(1), &gossip("governance")),
            Err(Error::BadSignature { .. })
        ));
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        let env = Envelope::seal(&key(1), Kind::Request, vec![5; 10]);
        let mut bytes = env.encode();
        bytes.push(0);
        assert!(Envelope::decode(&bytes, &peer(1)).is_err());
        assert!(Envelope::decode(&[0xff; 7], &peer(1)).is_err());
        // A length prefix claiming 4 GiB of body does not allocate it.
        let mut huge = env.encode();
        let body_len_at = 32 + 1;
        huge[body_len_at..body_len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Envelope::decode(&huge, &peer(1)).is_err());
    }
}
