//! Two-party threshold decryption: a total that neither party can open
//! alone.
//!
//! The requester and a second party (the regulator's supervision node)
//! each hold a [`KeyShare`] `x_i` with public point `Y_i = x_i·G`. Amounts
//! are encrypted under the **joint key** `Y = Y_1 + Y_2` ([`joint_key`]),
//! whose secret `x_1 + x_2` nobody holds. To decrypt a total, the second
//! party releases a [`DecryptionShare`] `D = x_2·c1` for each limb with a
//! Chaum–Pedersen proof that `log_G(Y_2) = log_c1(D)`; the requester
//! checks it ([`DecryptionShare::verify`]) and recovers
//! `m·G = c2 − x_1·c1 − D` ([`combine`]). One share alone leaves
//! `m·G + x_other·c1`, which is uniformly distributed: it decodes to no
//! amount ([`Error::PlaintextOutOfRange`]).
//!
//! Each share is registered with a Schnorr proof of knowledge of its secret
//! ([`KeyShareProof`]), bound to a context (which chain, which party).
//! Without it the last party to register could pick `Y_2' = x·G − Y_1`,
//! making the joint key `x·G`, which it alone can open (a *rogue-key*
//! attack); it knows no discrete log of `Y_2'`, so it cannot prove one.
//!
//! Proofs are made non-interactive with Merlin transcripts (Fiat–Shamir)
//! that absorb the statement — context, public point, ciphertext, shares —
//! before the prover's commitments, so a proof verifies for nothing else.

use std::fmt;
use std::str::FromStr;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use merlin::Transcript;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::ciphertext::Ciphertext;
use crate::dlog::DiscreteLogTable;
use crate::error::{Error, Result};
use crate::fen::{FEN_PER_YUAN, FenCiphertext};
use crate::keys::{KEY_LEN, PublicKey, SecretKey};
use crate::point::{self, POINT_LEN};

/// Length of a [`KeyShareProof`] encoding: the commitment `R` and the
/// response `s`.
pub const KEY_SHARE_PROOF_LEN: usize = 2 * POINT_LEN;

/// Length of a [`DecryptionShare`] encoding: the yuan and fen shares `D`,
/// the three DLEQ commitments and the response.
pub const DECRYPTION_SHARE_LEN: usize = 6 * POINT_LEN;

/// One party's share of a joint decryption key: a secret non-zero scalar
/// `x` and its public point `x·G`. Wiped from memory when dropped; never
/// printed by `Debug`.
///
/// ```
/// use homomorphic::KeyShare;
///
/// let share = KeyShare::generate(&mut rand::rngs::OsRng);
/// let restored = KeyShare::from_bytes(&share.to_bytes())?; // e.g. from a key file
/// assert_eq!(restored.public(), share.public());
/// # Ok::<(), homomorphic::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyShare {
    secret: SecretKey,
    public: PublicKey,
}

impl KeyShare {
    /// A fresh random share.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_secret(SecretKey::generate(rng))
    }

    fn from_secret(secret: SecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    /// Decodes the secret's 32 bytes (a canonical non-zero scalar), as
    /// [`SecretKey::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        SecretKey::from_bytes(bytes)
            .map_err(|e| match e {
                Error::WrongLength {
                    expected, actual, ..
                } => Error::WrongLength {
                    what: "key share",
                    expected,
                    actual,
                },
                other => other,
            })
            .map(Self::from_secret)
    }

    /// The secret's 32 bytes. Handle them as a secret.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.secret.to_bytes()
    }

    /// The public point `x·G`, registered for others to add into the
    /// joint key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    fn scalar(&self) -> Scalar {
        self.secret.scalar()
    }

    /// A Schnorr proof that the prover knows this share's secret, bound to
    /// `context` (e.g. the chain and the party registering it): the
    /// verifier must pass the same bytes.
    pub fn prove_knowledge<R: RngCore + CryptoRng>(
        &self,
        context: &[u8],
        rng: &mut R,
    ) -> KeyShareProof {
        let mut k = Scalar::random(rng);
        let r = RistrettoPoint::mul_base(&k);
        let mut t = key_share_transcript(&self.public, context);
        t.append_message(b"R", r.compress().as_bytes());
        let e = challenge(&mut t);
        let s = k + e * self.scalar();
        k.zeroize();
        KeyShareProof { r, s }
    }

    /// This share's part of the decryption of `ciphertext`, `D = x·c1` for
    /// each limb, with a DLEQ proof (bound to `context`) that it was made
    /// with the secret of [`public`](Self::public).
    pub fn decryption_share<R: RngCore + CryptoRng>(
        &self,
        ciphertext: &FenCiphertext,
        context: &[u8],
        rng: &mut R,
    ) -> DecryptionShare {
        let x = self.scalar();
        let (c1_yuan, _) = ciphertext.yuan().points();
        let (c1_fen, _) = ciphertext.fen().points();
        let d_yuan = x * c1_yuan;
        let d_fen = x * c1_fen;
        let mut k = Scalar::random(rng);
        let commitments = [RistrettoPoint::mul_base(&k), k * c1_yuan, k * c1_fen];
        let mut t = dleq_transcript(&self.public, ciphertext, context, &d_yuan, &d_fen);
        for c in &commitments {
            t.append_message(b"T", c.compress().as_bytes());
        }
        let e = challenge(&mut t);
        let s = k + e * x;
        k.zeroize();
        DecryptionShare {
            d_yuan,
            d_fen,
            commitments,
            s,
        }
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyShare({}, secret: <redacted>)", self.public)
    }
}

/// The joint key of two shares, `Y_1 + Y_2`: amounts encrypted under it
/// need both shares to decrypt.
///
/// Fails with [`Error::SharesCancel`] when the sum is the identity (the
/// shares are each other's negation: "encrypting" under it would hide
/// nothing). Verify each share's [`KeyShareProof`] before trusting the
/// sum: a rogue share can make the joint key one its maker alone opens.
pub fn joint_key(a: &PublicKey, b: &PublicKey) -> Result<PublicKey> {
    let sum = a.point() + b.point();
    if sum.is_identity() {
        return Err(Error::SharesCancel);
    }
    Ok(PublicKey::from_point(sum))
}

fn challenge(t: &mut Transcript) -> Scalar {
    let mut wide = [0u8; 64];
    t.challenge_bytes(b"challenge", &mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn key_share_transcript(public: &PublicKey, context: &[u8]) -> Transcript {
    let mut t = Transcript::new(b"credit-homomorphic/key-share-pok/v1");
    t.append_message(b"context", context);
    t.append_message(b"public key", &public.to_bytes());
    t
}

fn dleq_transcript(
    public: &PublicKey,
    ciphertext: &FenCiphertext,
    context: &[u8],
    d_yuan: &RistrettoPoint,
    d_fen: &RistrettoPoint,
) -> Transcript {
    let mut t = Transcript::new(b"credit-homomorphic/decryption-share-dleq/v1");
    t.append_message(b"context", context);
    t.append_message(b"share public key", &public.to_bytes());
    t.append_message(b"ciphertext", &ciphertext.to_bytes());
    t.append_message(b"D yuan", d_yuan.compress().as_bytes());
    t.append_message(b"D fen", d_fen.compress().as_bytes());
    t
}

fn word(bytes: &[u8], i: usize) -> [u8; 32] {
    let mut array = [0u8; 32];
    array.copy_from_slice(&bytes[32 * i..32 * (i + 1)]);
    array
}

fn read_point(
    bytes: &[u8],
    i: usize,
    what: &'static str,
    part: &'static str,
) -> Result<RistrettoPoint> {
    point::decode(&word(bytes, i), part).map_err(|_| Error::ShareMalformed { what, part })
}

fn read_scalar(bytes: &[u8], i: usize, what: &'static str, part: &'static str) -> Result<Scalar> {
    Option::<Scalar>::from(Scalar::from_canonical_bytes(word(bytes, i)))
        .ok_or(Error::ShareMalformed { what, part })
}

/// A proof of knowledge of a [`KeyShare`]'s secret (Schnorr: `R = k·G`,
/// `s = k + e·x`), bound to a context. Made by
/// [`KeyShare::prove_knowledge`]; encodes as [`KEY_SHARE_PROOF_LEN`] (64)
/// bytes, hex in text and serde.
///
/// ```
/// use homomorphic::{Error, KeyShare, KeyShareProof};
///
/// let mut rng = rand::rngs::OsRng;
/// let share = KeyShare::generate(&mut rng);
/// let proof = share.prove_knowledge(b"chain a / bank-a", &mut rng);
/// let received = KeyShareProof::from_bytes(&proof.to_bytes())?;
/// received.verify(share.public(), b"chain a / bank-a")?;
/// // Bound to its context: not for another party or chain.
/// assert_eq!(received.verify(share.public(), b"chain a / bank-b"), Err(Error::KeyShareProofRejected));
/// # Ok::<(), homomorphic::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyShareProof {
    r: RistrettoPoint,
    s: Scalar,
}

impl KeyShareProof {
    /// Checks that whoever made the proof knows the discrete log of
    /// `public`, for this `context`: `s·G == R + e·public`. Fails with
    /// [`Error::KeyShareProofRejected`] otherwise (a rogue key, or a proof
    /// for another key or context). Deterministic; never panics.
    pub fn verify(&self, public: &PublicKey, context: &[u8]) -> Result<()> {
        let mut t = key_share_transcript(public, context);
        t.append_message(b"R", self.r.compress().as_bytes());
        let e = challenge(&mut t);
        let expected = RistrettoPoint::vartime_multiscalar_mul(
            [self.s, -e],
            [RISTRETTO_BASEPOINT_POINT, public.point()],
        );
        if expected == self.r {
            Ok(())
        } else {
            Err(Error::KeyShareProofRejected)
        }
    }

    /// The canonical encoding `R ‖ s`.
    pub fn to_bytes(&self) -> [u8; KEY_SHARE_PROOF_LEN] {
        let mut out = [0u8; KEY_SHARE_PROOF_LEN];
        out[..32].copy_from_slice(self.r.compress().as_bytes());
        out[32..].copy_from_slice(self.s.as_bytes());
        out
    }

    /// Decodes untrusted bytes; never panics. Refuses a length other than
    /// 64 ([`Error::WrongLength`]) and a non-canonical `R` or `s`
    /// ([`Error::ShareMalformed`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "key share proof";
        if bytes.len() != KEY_SHARE_PROOF_LEN {
            return Err(Error::WrongLength {
                what: WHAT,
                expected: KEY_SHARE_PROOF_LEN,
                actual: bytes.len(),
            });
        }
        Ok(Self {
            r: read_point(bytes, 0, WHAT, "R")?,
            s: read_scalar(bytes, 1, WHAT, "s")?,
        })
    }
}

/// One party's part of the decryption of a [`FenCiphertext`]: `D = x·c1`
/// for the yuan and the fen limb, with a Chaum–Pedersen (DLEQ) proof that
/// `log_G(Y) = log_c1_yuan(D_yuan) = log_c1_fen(D_fen)` for the party's
/// public share `Y`, bound to a context. Anyone holding `Y` and the
/// ciphertext can check it ([`verify`](Self::verify)); only a verified
/// share can be [`combine`]d, so a party cannot shift the total by
/// releasing `D + δ·G`.
///
/// Encodes as [`DECRYPTION_SHARE_LEN`] (192) bytes: `D_yuan ‖ D_fen ‖ T_G ‖
/// T_yuan ‖ T_fen ‖ s`; hex in text and serde.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DecryptionShare {
    d_yuan: RistrettoPoint,
    d_fen: RistrettoPoint,
    /// `k·G`, `k·c1_yuan`, `k·c1_fen`.
    commitments: [RistrettoPoint; 3],
    s: Scalar,
}

/// A [`DecryptionShare`] whose DLEQ proof was checked against a public
/// share and one ciphertext: the only form [`combine`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedDecryptionShare {
    share: DecryptionShare,
    ciphertext: FenCiphertext,
}

impl VerifiedDecryptionShare {
    /// The ciphertext the share was verified for.
    pub fn ciphertext(&self) -> &FenCiphertext {
        &self.ciphertext
    }

    /// The share itself.
    pub fn share(&self) -> &DecryptionShare {
        &self.share
    }
}

impl DecryptionShare {
    /// Checks the DLEQ proof: the share was made with the secret of
    /// `public` (the releasing party's registered share) for exactly this
    /// `ciphertext` and `context`. Fails with
    /// [`Error::DecryptionShareRejected`] otherwise. Deterministic; never
    /// panics.
    pub fn verify(
        &self,
        public: &PublicKey,
        ciphertext: &FenCiphertext,
        context: &[u8],
    ) -> Result<VerifiedDecryptionShare> {
        let (c1_yuan, _) = ciphertext.yuan().points();
        let (c1_fen, _) = ciphertext.fen().points();
        let mut t = dleq_transcript(public, ciphertext, context, &self.d_yuan, &self.d_fen);
        for c in &self.commitments {
            t.append_message(b"T", c.compress().as_bytes());
        }
        let e = challenge(&mut t);
        // s·B == T + e·P for each (base B, point P).
        let checks = [
            (RISTRETTO_BASEPOINT_POINT, public.point()),
            (c1_yuan, self.d_yuan),
            (c1_fen, self.d_fen),
        ];
        let holds = checks
            .iter()
            .zip(&self.commitments)
            .all(|((base, point), commitment)| {
                RistrettoPoint::vartime_multiscalar_mul([self.s, -e], [*base, *point])
                    == *commitment
            });
        if !holds {
            return Err(Error::DecryptionShareRejected);
        }
        Ok(VerifiedDecryptionShare {
            share: *self,
            ciphertext: *ciphertext,
        })
    }

    /// The canonical 192-byte encoding.
    pub fn to_bytes(&self) -> [u8; DECRYPTION_SHARE_LEN] {
        let mut out = [0u8; DECRYPTION_SHARE_LEN];
        let points = [self.d_yuan, self.d_fen]
            .into_iter()
            .chain(self.commitments);
        for (i, p) in points.enumerate() {
            out[32 * i..32 * (i + 1)].copy_from_slice(p.compress().as_bytes());
        }
        out[5 * 32..].copy_from_slice(self.s.as_bytes());
        out
    }

    /// Decodes untrusted bytes; never panics. Refuses a length other than
    /// 192 ([`Error::WrongLength`]) and any point or the scalar that is not
    /// canonical ([`Error::ShareMalformed`], naming it). A decoded share
    /// may still fail [`verify`](Self::verify).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "decryption share";
        if bytes.len() != DECRYPTION_SHARE_LEN {
            return Err(Error::WrongLength {
                what: WHAT,
                expected: DECRYPTION_SHARE_LEN,
                actual: bytes.len(),
            });
        }
        Ok(Self {
            d_yuan: read_point(bytes, 0, WHAT, "D yuan")?,
            d_fen: read_point(bytes, 1, WHAT, "D fen")?,
            commitments: [
                read_point(bytes, 2, WHAT, "T G")?,
                read_point(bytes, 3, WHAT, "T yuan")?,
                read_point(bytes, 4, WHAT, "T fen")?,
            ],
            s: read_scalar(bytes, 5, WHAT, "s")?,
        })
    }
}

/// Decrypts `total` under the joint key of `own` and the other party's
/// share: per limb `m·G = c2 − x_own·c1 − D_other`, recovered with `table`,
/// then `yuan·100 + fen` in fen.
///
/// Fails with [`Error::ShareForAnotherCiphertext`] when `other` was
/// verified for another ciphertext, and with [`Error::PlaintextOutOfRange`]
/// — never a wrong number — when a limb is not in `0..=table.max()` (the
/// total exceeds the table, or `own` and `other` are not the two shares of
/// the key `total` was made under).
///
/// ```
/// use homomorphic::{DiscreteLogTable, FenCiphertext, KeyShare, combine, joint_key};
///
/// let mut rng = rand::rngs::OsRng;
/// let requester = KeyShare::generate(&mut rng);
/// let regulator = KeyShare::generate(&mut rng);
/// // Each proves its share when registering it (here: checked at once).
/// let proof = regulator.prove_knowledge(b"chain shaanxi / regulator", &mut rng);
/// proof.verify(regulator.public(), b"chain shaanxi / regulator")?;
/// let joint = joint_key(requester.public(), regulator.public())?;
///
/// let total: FenCiphertext = [12_345u64, 99]
///     .iter()
///     .map(|&fen| joint.encrypt_fen(fen, &mut rng))
///     .sum::<Result<_, _>>()?;
/// // The regulator releases its share, the requester verifies and combines.
/// let share = regulator.decryption_share(&total, b"aggregation 1", &mut rng);
/// let verified = share.verify(regulator.public(), &total, b"aggregation 1")?;
/// let table = DiscreteLogTable::with_params(8, 1 << 16)?;
/// assert_eq!(combine(&total, &requester, &verified, &table)?, 12_444);
/// # Ok::<(), homomorphic::Error>(())
/// ```
pub fn combine(
    total: &FenCiphertext,
    own: &KeyShare,
    other: &VerifiedDecryptionShare,
    table: &DiscreteLogTable,
) -> Result<u64> {
    if other.ciphertext != *total {
        return Err(Error::ShareForAnotherCiphertext);
    }
    let x = own.scalar();
    let limb = |c: &Ciphertext, d: &RistrettoPoint| {
        let (c1, c2) = c.points();
        table.solve(&(c2 - x * c1 - d))
    };
    // The fen limb first: it is small, so a wrong share shows quickly.
    let fen = limb(total.fen(), &other.share.d_fen)?;
    let yuan = limb(total.yuan(), &other.share.d_yuan)?;
    // Both are at most 2^40 < 2^64 / 101: no overflow.
    Ok(yuan * FEN_PER_YUAN + fen)
}

impl fmt::Debug for KeyShareProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyShareProof({})", hex::encode(self.to_bytes()))
    }
}

impl fmt::Debug for DecryptionShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DecryptionShare({self})")
    }
}

impl fmt::Display for DecryptionShare {
    /// Lower-case hex of the 192-byte encoding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

impl FromStr for DecryptionShare {
    type Err = Error;

    /// Parses 384 hex digits and validates as
    /// [`DecryptionShare::from_bytes`] does.
    fn from_str(s: &str) -> Result<Self> {
        Self::from_bytes(&point::decode_hex::<DECRYPTION_SHARE_LEN>(
            s,
            "decryption share",
        )?)
    }
}

impl serde::Serialize for DecryptionShare {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DecryptionShare {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyPair;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const CONTEXT: &[u8] = b"aggregation 1 / shaanxi";

    fn table() -> DiscreteLogTable {
        DiscreteLogTable::with_params(10, 1 << 20).unwrap()
    }

    fn setup(seed: u64) -> (KeyShare, KeyShare, PublicKey, StdRng) {
        let mut rng = StdRng::seed_from_u64(seed);
        let a = KeyShare::generate(&mut rng);
        let b = KeyShare::generate(&mut rng);
        let joint = joint_key(a.public(), b.public()).unwrap();
        (a, b, joint, rng)
    }

    fn total(joint: &PublicKey, amounts: &[u64], rng: &mut StdRng) -> FenCiphertext {
        amounts
            .iter()
            .map(|&a| joint.encrypt_fen(a, rng).unwrap())
            .sum()
    }

    #[test]
    fn both_shares_decrypt_the_total_either_way_round() {
        let (a, b, joint, mut rng) = setup(1);
        let c = total(&joint, &[123_456, 99, 1], &mut rng);
        let from_b = b
            .decryption_share(&c, CONTEXT, &mut rng)
            .verify(b.public(), &c, CONTEXT)
            .unwrap();
        assert_eq!(combine(&c, &a, &from_b, &table()), Ok(123_556));
        let from_a = a
            .decryption_share(&c, CONTEXT, &mut rng)
            .verify(a.public(), &c, CONTEXT)
            .unwrap();
        assert_eq!(combine(&c, &b, &from_a, &table()), Ok(123_556));
    }

    #[test]
    fn the_joint_key_is_the_point_sum() {
        let (a, b, joint, _) = setup(2);
        let x = a.scalar() + b.scalar();
        assert_eq!(joint.point(), RistrettoPoint::mul_base(&x));
        assert_eq!(joint_key(b.public(), a.public()), Ok(joint));
    }

    #[test]
    fn shares_that_cancel_are_refused() {
        let (a, _, _, _) = setup(3);
        let negated = PublicKey::from_point(-a.public().point());
        assert_eq!(joint_key(a.public(), &negated), Err(Error::SharesCancel));
    }

    #[test]
    fn one_share_alone_does_not_decrypt() {
        let (a, b, joint, mut rng) = setup(4);
        let c = total(&joint, &[5_000], &mut rng);
        let table = table();
        // Either share used as a whole secret key: a uniformly random point.
        for share in [&a, &b] {
            let alone = SecretKey::from_bytes(&share.to_bytes()).unwrap();
            assert_eq!(
                alone.decrypt_fen(&c, &table),
                Err(Error::PlaintextOutOfRange { max: 1 << 20 })
            );
        }
        // A's own share "combined" with its own decryption share: 2·x_a,
        // still not the joint secret.
        let own = a
            .decryption_share(&c, CONTEXT, &mut rng)
            .verify(a.public(), &c, CONTEXT)
            .unwrap();
        assert_eq!(
            combine(&c, &a, &own, &table),
            Err(Error::PlaintextOutOfRange { max: 1 << 20 })
        );
        // Both together do.
        let secret = a.scalar() + b.scalar();
        let keys = KeyPair::from_bytes(secret.as_bytes()).unwrap();
        assert_eq!(keys.public(), &joint);
        assert_eq!(keys.secret().decrypt_fen(&c, &table), Ok(5_000));
    }

    #[test]
    fn a_key_share_proof_verifies_only_for_its_key_and_context() {
        let (a, b, _, mut rng) = setup(5);
        let proof = a.prove_knowledge(CONTEXT, &mut rng);
        assert_eq!(proof.verify(a.public(), CONTEXT), Ok(()));
        let decoded = KeyShareProof::from_bytes(&proof.to_bytes()).unwrap();
        assert_eq!(decoded, proof);
        assert_eq!(decoded.verify(a.public(), CONTEXT), Ok(()));
        assert_eq!(
            proof.verify(b.public(), CONTEXT),
            Err(Error::KeyShareProofRejected)
        );
        assert_eq!(
            proof.verify(a.public(), b"another chain / another party"),
            Err(Error::KeyShareProofRejected)
        );
    }

    /// The rogue-key attack: the requester registers `x·G − Y_reg`, so the
    /// joint key is `x·G`, which it alone can open. It can make a proof
    /// only for a key it knows, and that proof does not verify for the
    /// rogue key.
    #[test]
    fn a_rogue_key_cannot_be_proven() {
        let (_, regulator, _, mut rng) = setup(6);
        let attacker = KeyShare::generate(&mut rng);
        let rogue = PublicKey::from_point(attacker.public().point() - regulator.public().point());
        // The attack works on the key alone...
        let joint = joint_key(&rogue, regulator.public()).unwrap();
        assert_eq!(&joint, attacker.public());
        let c = total(&joint, &[777], &mut rng);
        let alone = SecretKey::from_bytes(&attacker.to_bytes()).unwrap();
        assert_eq!(alone.decrypt_fen(&c, &table()), Ok(777));
        // ...but the best proof the attacker can make is refused.
        let proof = attacker.prove_knowledge(CONTEXT, &mut rng);
        assert_eq!(
            proof.verify(&rogue, CONTEXT),
            Err(Error::KeyShareProofRejected)
        );
        // As is a proof with R chosen to satisfy the equation for a fixed
        // challenge: the challenge depends on R.
        let s = Scalar::random(&mut rng);
        let e = {
            let mut t = key_share_transcript(&rogue, CONTEXT);
            t.append_message(b"R", RistrettoPoint::mul_base(&s).compress().as_bytes());
            challenge(&mut t)
        };
        let forged = KeyShareProof {
            r: RistrettoPoint::mul_base(&s) - e * rogue.point(),
            s,
        };
        assert_eq!(
            forged.verify(&rogue, CONTEXT),
            Err(Error::KeyShareProofRejected)
        );
    }

    #[test]
    fn a_decryption_share_verifies_only_for_its_key_ciphertext_and_context() {
        let (a, b, joint, mut rng) = setup(7);
        let c = total(&joint, &[42], &mut rng);
        let other = total(&joint, &[42], &mut rng);
        let share = b.decryption_share(&c, CONTEXT, &mut rng);
        assert!(share.verify(b.public(), &c, CONTEXT).is_ok());
        let rejected = Err(Error::DecryptionShareRejected);
        assert_eq!(share.verify(a.public(), &c, CONTEXT), rejected);
        assert_eq!(share.verify(b.public(), &other, CONTEXT), rejected);
        assert_eq!(share.verify(b.public(), &c, b"aggregation 2"), rejected);
        // A share verified for one ciphertext is not combined with another.
        let verified = share.verify(b.public(), &c, CONTEXT).unwrap();
        assert_eq!(
            combine(&other, &a, &verified, &table()),
            Err(Error::ShareForAnotherCiphertext)
        );
    }

    /// A dishonest releaser shifts the total by δ: `D' = D − δ·G` makes
    /// the requester decrypt `m + δ`. The DLEQ proof catches it, whether
    /// the forger keeps the honest proof or proves with the honest
    /// commitments for the shifted point.
    #[test]
    fn a_shifted_or_forged_share_is_refused() {
        let (a, b, joint, mut rng) = setup(8);
        let c = total(&joint, &[1_000], &mut rng);
        let honest = b.decryption_share(&c, CONTEXT, &mut rng);
        let delta = RistrettoPoint::mul_base(&Scalar::from(500u64));
        let shifted = DecryptionShare {
            d_fen: honest.d_fen - delta,
            ..honest
        };
        // Without the proof check, the shift would go through unnoticed.
        let unchecked = VerifiedDecryptionShare {
            share: shifted,
            ciphertext: c,
        };
        assert_eq!(combine(&c, &a, &unchecked, &table()), Ok(1_500));
        assert_eq!(
            shifted.verify(b.public(), &c, CONTEXT),
            Err(Error::DecryptionShareRejected)
        );
        // A share made with another secret, claimed as b's.
        let impostor = KeyShare::generate(&mut rng);
        let forged = impostor.decryption_share(&c, CONTEXT, &mut rng);
        assert_eq!(
            forged.verify(b.public(), &c, CONTEXT),
            Err(Error::DecryptionShareRejected)
        );
        // Every single-bit flip of an honest encoding is refused.
        let bytes = honest.to_bytes();
        for i in (0..bytes.len()).step_by(3) {
            let mut flipped = bytes;
            flipped[i] ^= 1 << (i % 8);
            if let Ok(share) = DecryptionShare::from_bytes(&flipped) {
                assert!(
                    share.verify(b.public(), &c, CONTEXT).is_err(),
                    "flip at byte {i} accepted"
                );
            }
        }
    }

    #[test]
    fn the_zero_total_has_an_honest_share_too() {
        let (a, b, _, mut rng) = setup(9);
        let zero = FenCiphertext::zero();
        let verified = b
            .decryption_share(&zero, CONTEXT, &mut rng)
            .verify(b.public(), &zero, CONTEXT)
            .unwrap();
        assert_eq!(combine(&zero, &a, &verified, &table()), Ok(0));
    }

    #[test]
    fn encodings_round_trip_and_refuse_bad_bytes() {
        let (a, b, joint, mut rng) = setup(10);
        let c = total(&joint, &[3], &mut rng);
        let share = b.decryption_share(&c, CONTEXT, &mut rng);
        assert_eq!(DecryptionShare::from_bytes(&share.to_bytes()), Ok(share));
        let text = share.to_string();
        assert_eq!(text.len(), 2 * DECRYPTION_SHARE_LEN);
        assert_eq!(text.parse::<DecryptionShare>(), Ok(share));
        let json = serde_json::to_string(&share).unwrap();
        assert_eq!(
            serde_json::from_str::<DecryptionShare>(&json).unwrap(),
            share
        );
        assert_eq!(
            DecryptionShare::from_bytes(&[0; 191]),
            Err(Error::WrongLength {
                what: "decryption share",
                expected: 192,
                actual: 191
            })
        );
        let mut bad = share.to_bytes();
        bad[32] |= 1;
        assert_eq!(
            DecryptionShare::from_bytes(&bad),
            Err(Error::ShareMalformed {
                what: "decryption share",
                part: "D fen"
            })
        );
        let mut bad = share.to_bytes();
        bad[5 * 32..].fill(0xff);
        assert_eq!(
            DecryptionShare::from_bytes(&bad),
            Err(Error::ShareMalformed {
                what: "decryption share",
                part: "s"
            })
        );
        let proof = a.prove_knowledge(CONTEXT, &mut rng);
        assert_eq!(
            KeyShareProof::from_bytes(&proof.to_bytes()[..63]),
            Err(Error::WrongLength {
                what: "key share proof",
                expected: 64,
                actual: 63
            })
        );
        let mut bad = proof.to_bytes();
        bad[0] |= 1;
        assert_eq!(
            KeyShareProof::from_bytes(&bad),
            Err(Error::ShareMalformed {
                what: "key share proof",
                part: "R"
            })
        );
        assert_eq!(
            KeyShare::from_bytes(&[1; 5]).unwrap_err(),
            Error::WrongLength {
                what: "key share",
                expected: 32,
                actual: 5
            }
        );
        assert_eq!(
            KeyShare::from_bytes(&a.to_bytes()).unwrap().public(),
            a.public()
        );
        let shown = format!("{a:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains(&hex::encode(a.to_bytes())));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        #[test]
        fn random_bytes_never_panic_nor_verify(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..260)) {
            let (_, b, joint, mut rng) = setup(11);
            let c = total(&joint, &[1], &mut rng);
            if let Ok(share) = DecryptionShare::from_bytes(&bytes) {
                proptest::prop_assert!(share.verify(b.public(), &c, CONTEXT).is_err());
            }
            if let Ok(proof) = KeyShareProof::from_bytes(&bytes) {
                proptest::prop_assert!(proof.verify(b.public(), CONTEXT).is_err());
            }
            let _ = KeyShare::from_bytes(&bytes);
        }
    }
}
