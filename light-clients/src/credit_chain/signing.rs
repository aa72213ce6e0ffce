//! Producing real commits: a committee of ed25519 keys signing headers.
//!
//! Used by the reference chain to sign its blocks and by tests and
//! benchmarks to build chains; nothing here is needed to verify.

use ed25519_dalek::{Signer, SigningKey};
use protocol::{
    ChainId, Commit, CommitSig, Hash, Header, Height, LightBlock, PublicKey, Signature,
    SignedHeader, Time, Validator, ValidatorSet, vote_sign_bytes,
};

/// A commit of `header` signed by every member of `validators` whose key
/// `key_of` returns (a node holding some or all of the committee's keys).
pub fn sign_commit<'a>(
    header: &Header,
    validators: &ValidatorSet,
    key_of: impl Fn(&PublicKey) -> Option<&'a SigningKey>,
) -> Commit {
    let header_hash = header.hash();
    let message = vote_sign_bytes(&header.chain_id, header.height, &header_hash);
    let signatures = validators
        .validators()
        .iter()
        .filter_map(|v| key_of(&v.pub_key).map(|k| (v.pub_key, k)))
        .map(|(validator, k)| CommitSig {
            validator,
            signature: Signature(k.sign(&message).to_bytes()),
        })
        .collect();
    Commit {
        height: header.height,
        header_hash,
        signatures,
    }
}

/// A non-canonical signature by `key` over `message`, for tests of the
/// verifier: its R carries the order-2 point (0, -1), i.e. R = rB + T and
/// s = r + H(R, A, M)·a, with r derived from `nonce`. Only the key's holder
/// can make one. The plain equation misses by T, so strict verification
/// refuses it; batch verification multiplies T by a random factor and
/// accepts it whenever that factor is even (try a few nonces).
pub fn torsioned_signature(key: &SigningKey, message: &[u8], nonce: u8) -> Signature {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};
    // (0, -1): y = p - 1, little-endian.
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let Some(order_two) = CompressedEdwardsY(minus_one).decompress() else {
        unreachable!("(0, -1) is on the curve")
    };
    let r = Scalar::from_bytes_mod_order(*Hash::tagged(b"torsioned-nonce", &[&[nonce]]).as_bytes());
    let big_r = (ED25519_BASEPOINT_POINT * r + order_two).compress();
    let mut h = Sha512::new();
    h.update(big_r.as_bytes());
    h.update(key.verifying_key().as_bytes());
    h.update(message);
    let h = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = r + h * key.to_scalar();
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(big_r.as_bytes());
    out[32..].copy_from_slice(s.as_bytes());
    Signature(out)
}

/// A validator committee whose keys sign commits.
#[derive(Clone)]
pub struct Committee {
    keys: Vec<(SigningKey, u64)>,
    set: ValidatorSet,
}

impl Committee {
    /// A committee from keys and their voting powers.
    pub fn new(keys: Vec<(SigningKey, u64)>) -> Result<Committee, protocol::Error> {
        let set = ValidatorSet::new(
            keys.iter()
                .map(|(k, power)| Validator {
                    pub_key: PublicKey(k.verifying_key().to_bytes()),
                    power: *power,
                })
                .collect(),
        )?;
        Ok(Committee { keys, set })
    }

    /// `n` validators of power 10 with keys derived from `seed` (for tests
    /// and devnets; never for production keys).
    pub fn deterministic(seed: &str, n: usize) -> Committee {
        let keys = (0..n)
            .map(|i| {
                let secret = Hash::tagged(
                    b"test-committee",
                    &[seed.as_bytes(), &(i as u64).to_le_bytes()],
                );
                (SigningKey::from_bytes(secret.as_bytes()), 10)
            })
            .collect();
        // Distinct seeds give distinct keys, powers are 10: always valid.
        Committee::new(keys).unwrap_or_else(|_| unreachable!("deterministic committee is valid"))
    }

    /// The validator set.
    pub fn validator_set(&self) -> &ValidatorSet {
        &self.set
    }

    /// The signing keys with their powers.
    pub fn keys(&self) -> &[(SigningKey, u64)] {
        &self.keys
    }

    /// A commit of `header` signed by the members selected by `signs`.
    pub fn sign_with(&self, header: &Header, mut signs: impl FnMut(usize) -> bool) -> Commit {
        let header_hash = header.hash();
        let message = vote_sign_bytes(&header.chain_id, header.height, &header_hash);
        let signatures = self
            .keys
            .iter()
            .enumerate()
            .filter(|(i, _)| signs(*i))
            .map(|(_, (k, _))| CommitSig {
                validator: PublicKey(k.verifying_key().to_bytes()),
                signature: Signature(k.sign(&message).to_bytes()),
            })
            .collect();
        Commit {
            height: header.height,
            header_hash,
            signatures,
        }
    }

    /// A commit of `header` signed by every member.
    pub fn sign(&self, header: &Header) -> Commit {
        self.sign_with(header, |_| true)
    }
}

/// A chain of signed light blocks in memory, one block per second.
///
/// ```
/// use light_clients::credit_chain::signing::TestChain;
/// let mut chain = TestChain::new("beijing", 4);
/// let b1 = chain.next_block();
/// let b2 = chain.next_block();
/// assert_eq!(b2.header().last_header_hash, b1.header().hash());
/// ```
pub struct TestChain {
    chain_id: ChainId,
    committee: Committee,
    next_committee: Committee,
    last: Option<Header>,
    start: Time,
}

impl TestChain {
    /// A chain with `n` deterministic validators, starting at 2026-01-01.
    pub fn new(chain_id: &str, n: usize) -> TestChain {
        let committee = Committee::deterministic(chain_id, n);
        TestChain {
            // Callers pass literal, valid ids; a bad one is a test bug.
            chain_id: chain_id.parse().unwrap_or_else(|e| panic!("{e}")),
            next_committee: committee.clone(),
            committee,
            last: None,
            start: Time::from_unix_nanos(1_767_225_600_000_000_000),
        }
    }

    /// The committee signing the next block.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// From the block after next, `committee` signs: the next block
    /// announces it in `next_validators_hash`.
    pub fn rotate_to(&mut self, committee: Committee) {
        self.next_committee = committee;
    }

    /// The header the next block will have (for tests that tamper with it).
    pub fn next_header(&self) -> Header {
        let height = self
            .last
            .as_ref()
            .map_or(Height::GENESIS, |h| h.height.increment());
        Header {
            chain_id: self.chain_id.clone(),
            height,
            time: Time::from_unix_nanos(self.start.unix_nanos() + height.value() * 1_000_000_000),
            last_header_hash: self.last.as_ref().map_or(Hash::ZERO, Header::hash),
            state_root: Hash::tagged(b"test-state", &[&height.value().to_le_bytes()]),
            transactions_root: Hash::ZERO,
            validators_hash: self.committee.validator_set().hash(),
            next_validators_hash: self.next_committee.validator_set().hash(),
            proposer: self.committee.validator_set().validators()[0].pub_key,
        }
    }

    /// Signs `header` by the current committee and advances the chain.
    pub fn commit_header(&mut self, header: Header) -> LightBlock {
        let commit = self.committee.sign(&header);
        let block = LightBlock {
            signed_header: SignedHeader {
                header: header.clone(),
                commit,
            },
            validators: self.committee.validator_set().clone(),
            next_validators: self.next_committee.validator_set().clone(),
        };
        self.last = Some(header);
        self.committee = self.next_committee.clone();
        block
    }

    /// Produces the next block, signed by the whole committee.
    pub fn next_block(&mut self) -> LightBlock {
        let header = self.next_header();
        self.commit_header(header)
    }

    /// Skips `n` blocks and returns the last.
    pub fn skip(&mut self, n: u64) -> LightBlock {
        let mut block = self.next_block();
        for _ in 1..n {
            block = self.next_block();
        }
        block
    }
}
