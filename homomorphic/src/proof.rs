//! Zero-knowledge proofs that a contribution is well formed.
//!
//! A data provider could otherwise encrypt a negative amount (an element
//! near the group order) or a huge one and silently wreck the total. With
//! every [`FenCiphertext`] it sends a [`ContributionProof`] that, for each
//! limb `(c1, c2) = (r·G, m·G + r·Y)` under the requester's key `Y`:
//!
//! * **range** — `c2` is a Pedersen commitment to `m` with generators
//!   `(B, B_blinding) = (G, Y)`; one aggregated Bulletproof (the
//!   `bulletproofs` crate, 4 × 64 bits) shows that `c2_yuan`,
//!   `MAX_AMOUNT·G − c2_yuan`, `c2_fen` and `99·G − c2_fen` all commit to
//!   values in `[0, 2^64)`. Two such values adding up to `MAX_AMOUNT`
//!   (or 99) modulo the group order must each be at most `MAX_AMOUNT`
//!   (or 99): the yuan limb is in `0..=2^40−1` and the fen limb in `0..=99`.
//! * **same randomness** — a Sigma proof of knowledge of `(m, r)` with
//!   `c1 = r·G` and `c2 = m·G + r·Y`, so `c1` belongs to `c2` and the
//!   ciphertext decrypts to the committed `m`.
//!
//! Both are made non-interactive with one Merlin transcript (Fiat–Shamir)
//! that first absorbs a caller-chosen `context` (e.g. which aggregation,
//! chain and provider), the public key and the ciphertext: a proof does not
//! verify for another ciphertext, key or context, so it cannot be replayed
//! elsewhere.
//!
//! Verification is deterministic (the Bulletproof's batching weights come
//! from the transcript, not from an RNG), so every validator of a chain
//! reaches the same verdict.

use std::sync::OnceLock;

use bulletproofs::{BulletproofGens, PedersenGens, RangeProof};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use merlin::Transcript;
use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};
use zeroize::Zeroize;

use crate::MAX_AMOUNT;
use crate::ciphertext::Ciphertext;
use crate::error::{Error, Result};
use crate::fen::{FEN_PER_YUAN, FenCiphertext, encrypt_limb, split};
use crate::keys::PublicKey;
use crate::point::{self, POINT_LEN};

/// Bits of each range in the aggregated Bulletproof.
const RANGE_BITS: usize = 64;
/// Values in the aggregated Bulletproof: each limb and its complement.
const RANGE_VALUES: usize = 4;
/// Bytes of the aggregated Bulletproof: `(2·log2(64·4) + 9)` 32-byte words.
const RANGE_PROOF_LEN: usize = (2 * 8 + 9) * 32;
/// Bytes of one limb's Sigma proof: `T1, T2, s_m, s_r`.
const SIGMA_LEN: usize = 4 * 32;
/// The largest fen limb of one contribution.
const MAX_FEN_LIMB: u64 = FEN_PER_YUAN - 1;

/// Length of a [`ContributionProof`] encoding: two Sigma proofs (128 bytes
/// each) and the aggregated range proof (800 bytes).
pub const CONTRIBUTION_PROOF_LEN: usize = 2 * SIGMA_LEN + RANGE_PROOF_LEN;

fn bulletproof_gens() -> &'static BulletproofGens {
    static GENS: OnceLock<BulletproofGens> = OnceLock::new();
    GENS.get_or_init(|| BulletproofGens::new(RANGE_BITS, RANGE_VALUES))
}

fn pedersen_gens(public: &PublicKey) -> PedersenGens {
    PedersenGens {
        B: RISTRETTO_BASEPOINT_POINT,
        B_blinding: public.point(),
    }
}

/// The transcript every proof of a contribution starts from.
fn transcript(public: &PublicKey, ciphertext: &FenCiphertext, context: &[u8]) -> Transcript {
    let mut t = Transcript::new(b"credit-homomorphic/contribution/v1");
    t.append_message(b"context", context);
    t.append_message(b"public key", &public.to_bytes());
    t.append_message(b"ciphertext", &ciphertext.to_bytes());
    t
}

fn challenge(t: &mut Transcript) -> Scalar {
    let mut wide = [0u8; 64];
    t.challenge_bytes(b"sigma challenge", &mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// The four range-proof commitments the verifier derives from the
/// ciphertext: `c2_yuan, MAX·G − c2_yuan, c2_fen, 99·G − c2_fen`.
fn range_commitments(ciphertext: &FenCiphertext) -> [CompressedRistretto; RANGE_VALUES] {
    let (_, yuan) = ciphertext.yuan().points();
    let (_, fen) = ciphertext.fen().points();
    let bound = |max: u64| RistrettoPoint::mul_base(&Scalar::from(max));
    [
        yuan.compress(),
        (bound(MAX_AMOUNT) - yuan).compress(),
        fen.compress(),
        (bound(MAX_FEN_LIMB) - fen).compress(),
    ]
}

/// The batching weights of the Bulletproof check, from the whole statement
/// and proof: deterministic, yet unpredictable to the prover.
fn batch_rng(t: &Transcript, range: &[u8]) -> StdRng {
    let mut t = t.clone();
    t.append_message(b"range proof", range);
    let mut seed = [0u8; 32];
    t.challenge_bytes(b"batch weights", &mut seed);
    StdRng::from_seed(seed)
}

/// One limb's proof of knowledge of `(m, r)` with `c1 = r·G`,
/// `c2 = m·G + r·Y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sigma {
    t1: RistrettoPoint,
    t2: RistrettoPoint,
    s_m: Scalar,
    s_r: Scalar,
}

impl Sigma {
    fn verify(&self, public: &PublicKey, limb: &Ciphertext, e: &Scalar) -> bool {
        let (c1, c2) = limb.points();
        let first = RistrettoPoint::vartime_multiscalar_mul(
            [self.s_r, -e],
            [RISTRETTO_BASEPOINT_POINT, c1],
        );
        let second = RistrettoPoint::vartime_multiscalar_mul(
            [self.s_m, self.s_r, -e],
            [RISTRETTO_BASEPOINT_POINT, public.point(), c2],
        );
        first == self.t1 && second == self.t2
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.t1.compress().as_bytes());
        out.extend_from_slice(self.t2.compress().as_bytes());
        out.extend_from_slice(self.s_m.as_bytes());
        out.extend_from_slice(self.s_r.as_bytes());
    }

    fn read(bytes: &[u8], limb: usize) -> Result<Self> {
        let word = |i: usize| {
            let mut array = [0u8; 32];
            array.copy_from_slice(&bytes[32 * i..32 * (i + 1)]);
            array
        };
        let names = [
            [
                "yuan sigma T1",
                "yuan sigma T2",
                "yuan sigma s_m",
                "yuan sigma s_r",
            ],
            [
                "fen sigma T1",
                "fen sigma T2",
                "fen sigma s_m",
                "fen sigma s_r",
            ],
        ][limb];
        let point = |i: usize| {
            point::decode(&word(i), names[i]).map_err(|_| Error::ProofMalformed { part: names[i] })
        };
        let scalar = |i: usize| {
            Option::<Scalar>::from(Scalar::from_canonical_bytes(word(i)))
                .ok_or(Error::ProofMalformed { part: names[i] })
        };
        Ok(Self {
            t1: point(0)?,
            t2: point(1)?,
            s_m: scalar(2)?,
            s_r: scalar(3)?,
        })
    }
}

/// The secret side of one limb while proving; wiped when dropped.
struct Witness {
    m: Scalar,
    r: Scalar,
    k_m: Scalar,
    k_r: Scalar,
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.m.zeroize();
        self.r.zeroize();
        self.k_m.zeroize();
        self.k_r.zeroize();
    }
}

/// A proof that a [`FenCiphertext`] under a given public key encrypts an
/// amount in `0..=`[`MAX_FEN_AMOUNT`](crate::MAX_FEN_AMOUNT) with limbs in
/// range (yuan in `0..=2^40−1`, fen in `0..=99`), bound to a context. It
/// reveals nothing else about the amount.
///
/// Made by [`PublicKey::encrypt_contribution`]; checked by
/// [`ContributionProof::verify`]. Encodes as exactly
/// [`CONTRIBUTION_PROOF_LEN`] (1,056) bytes.
///
/// ```
/// use homomorphic::{ContributionProof, DiscreteLogTable, Error, KeyPair};
///
/// let mut rng = rand::rngs::OsRng;
/// let a = KeyPair::generate(&mut rng);
/// let context = b"aggregation 7, chain guangdong, provider-a";
/// // The provider encrypts 3,000,000.50 yuan (in fen) and proves it well formed.
/// let (ciphertext, proof) = a.public().encrypt_contribution(300_000_050, context, &mut rng)?;
/// // The chain checks the proof against the bytes it received.
/// let received = ContributionProof::from_bytes(&proof.to_bytes())?;
/// received.verify(a.public(), &ciphertext, context)?;
/// // Not for another context (or ciphertext, or key).
/// assert!(matches!(
///     received.verify(a.public(), &ciphertext, b"another aggregation"),
///     Err(Error::ProofRejected { .. })
/// ));
/// let table = DiscreteLogTable::with_params(12, 1 << 24)?;
/// assert_eq!(a.secret().decrypt_fen(&ciphertext, &table)?, 300_000_050);
/// # Ok::<(), homomorphic::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ContributionProof {
    sigma: [Sigma; 2],
    range: RangeProof,
}

impl PublicKey {
    /// Encrypts `amount_fen` as a [`FenCiphertext`] and proves it well
    /// formed ([`ContributionProof`]), bound to `context`: the verifier
    /// must pass the same bytes. Fails with [`Error::AmountTooLarge`] above
    /// [`MAX_FEN_AMOUNT`](crate::MAX_FEN_AMOUNT).
    ///
    /// About 32 ms on one core (verification: about 3 ms; see the crate's
    /// benchmarks).
    pub fn encrypt_contribution<R: RngCore + CryptoRng>(
        &self,
        amount_fen: u64,
        context: &[u8],
        rng: &mut R,
    ) -> Result<(FenCiphertext, ContributionProof)> {
        let (yuan, fen) = split(amount_fen)?;
        prove_limbs(self, [yuan, fen], context, rng)
    }
}

/// Encrypts the limbs and proves them; the limbs must be in range (else
/// the range proof cannot be made).
fn prove_limbs<R: RngCore + CryptoRng>(
    public: &PublicKey,
    limbs: [u64; 2],
    context: &[u8],
    rng: &mut R,
) -> Result<(FenCiphertext, ContributionProof)> {
    let witness = limbs.map(|m| Witness {
        m: Scalar::from(m),
        r: Scalar::random(rng),
        k_m: Scalar::random(rng),
        k_r: Scalar::random(rng),
    });
    let ciphertext = FenCiphertext::from_limbs(
        encrypt_limb(public, limbs[0], &witness[0].r),
        encrypt_limb(public, limbs[1], &witness[1].r),
    );
    let mut t = transcript(public, &ciphertext, context);
    let commitments = witness.each_ref().map(|w| {
        (
            RistrettoPoint::mul_base(&w.k_r),
            RistrettoPoint::mul_base(&w.k_m) + w.k_r * public.point(),
        )
    });
    for (t1, t2) in &commitments {
        t.append_message(b"T1", t1.compress().as_bytes());
        t.append_message(b"T2", t2.compress().as_bytes());
    }
    let e = challenge(&mut t);
    let sigma = [0, 1].map(|i| Sigma {
        t1: commitments[i].0,
        t2: commitments[i].1,
        s_m: witness[i].k_m + e * witness[i].m,
        s_r: witness[i].k_r + e * witness[i].r,
    });
    let values = [
        limbs[0],
        MAX_AMOUNT
            .checked_sub(limbs[0])
            .ok_or(Error::AmountTooLarge {
                amount: limbs[0],
                max: MAX_AMOUNT,
            })?,
        limbs[1],
        MAX_FEN_LIMB
            .checked_sub(limbs[1])
            .ok_or(Error::AmountTooLarge {
                amount: limbs[1],
                max: MAX_FEN_LIMB,
            })?,
    ];
    let mut blindings = [witness[0].r, -witness[0].r, witness[1].r, -witness[1].r];
    let proved = RangeProof::prove_multiple_with_rng(
        bulletproof_gens(),
        &pedersen_gens(public),
        &mut t,
        &values,
        &blindings,
        RANGE_BITS,
        rng,
    );
    blindings.zeroize();
    let (range, _) = proved.map_err(|e| Error::ProvingFailed {
        reason: e.to_string(),
    })?;
    Ok((ciphertext, ContributionProof { sigma, range }))
}

impl ContributionProof {
    /// Checks that `ciphertext`, under `public`, encrypts an amount whose
    /// yuan limb is in `0..=2^40−1` and fen limb in `0..=99`, with `c1` and
    /// `c2` of each limb sharing their randomness, for this `context`.
    ///
    /// Fails with [`Error::ProofRejected`] naming the check that failed:
    /// `"same randomness"` (the Sigma proofs) or `"range"` (the
    /// Bulletproof: an amount out of range, or a proof for another
    /// ciphertext, key or context). Never panics.
    pub fn verify(
        &self,
        public: &PublicKey,
        ciphertext: &FenCiphertext,
        context: &[u8],
    ) -> Result<()> {
        let mut t = transcript(public, ciphertext, context);
        for sigma in &self.sigma {
            t.append_message(b"T1", sigma.t1.compress().as_bytes());
            t.append_message(b"T2", sigma.t2.compress().as_bytes());
        }
        let e = challenge(&mut t);
        let limbs = [ciphertext.yuan(), ciphertext.fen()];
        if !self
            .sigma
            .iter()
            .zip(limbs)
            .all(|(sigma, limb)| sigma.verify(public, limb, &e))
        {
            return Err(Error::ProofRejected {
                check: "same randomness",
            });
        }
        let mut rng = batch_rng(&t, &self.range.to_bytes());
        self.range
            .verify_multiple_with_rng(
                bulletproof_gens(),
                &pedersen_gens(public),
                &mut t,
                &range_commitments(ciphertext),
                RANGE_BITS,
                &mut rng,
            )
            .map_err(|_| Error::ProofRejected { check: "range" })
    }

    /// The canonical encoding: the yuan and fen Sigma proofs (`T1 ‖ T2 ‖
    /// s_m ‖ s_r` each), then the range proof.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CONTRIBUTION_PROOF_LEN);
        for sigma in &self.sigma {
            sigma.write(&mut out);
        }
        out.extend_from_slice(&self.range.to_bytes());
        out
    }

    /// Decodes untrusted bytes; never panics. Refuses a length other than
    /// [`CONTRIBUTION_PROOF_LEN`] ([`Error::WrongLength`]) and a point or
    /// scalar that is not canonical ([`Error::ProofMalformed`], naming the
    /// part). A decoded proof may still fail [`verify`](Self::verify).
    ///
    /// ```
    /// use homomorphic::{ContributionProof, Error};
    ///
    /// assert_eq!(
    ///     ContributionProof::from_bytes(&[]).unwrap_err(),
    ///     Error::WrongLength { what: "contribution proof", expected: 1056, actual: 0 }
    /// );
    /// assert_eq!(
    ///     ContributionProof::from_bytes(&[0xff; 1056]).unwrap_err(),
    ///     Error::ProofMalformed { part: "yuan sigma T1" }
    /// );
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != CONTRIBUTION_PROOF_LEN {
            return Err(Error::WrongLength {
                what: "contribution proof",
                expected: CONTRIBUTION_PROOF_LEN,
                actual: bytes.len(),
            });
        }
        let yuan = Sigma::read(&bytes[..SIGMA_LEN], 0)?;
        let fen = Sigma::read(&bytes[SIGMA_LEN..2 * SIGMA_LEN], 1)?;
        let range =
            RangeProof::from_bytes(&bytes[2 * SIGMA_LEN..]).map_err(|_| Error::ProofMalformed {
                part: "range proof",
            })?;
        Ok(Self {
            sigma: [yuan, fen],
            range,
        })
    }
}

const _: () = assert!(POINT_LEN == 32);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DiscreteLogTable, KeyPair, MAX_FEN_AMOUNT};
    use proptest::prelude::*;

    const CONTEXT: &[u8] = b"aggregation 1 / guangdong / provider-a";

    fn keys(seed: u64) -> (KeyPair, StdRng) {
        let mut rng = StdRng::seed_from_u64(seed);
        (KeyPair::generate(&mut rng), rng)
    }

    #[test]
    fn valid_proofs_verify_at_the_edges_of_the_range() {
        let (a, mut rng) = keys(1);
        let table = DiscreteLogTable::with_params(10, 1 << 20).unwrap();
        for amount in [0, 1, 99, 100, 12_345_678, MAX_FEN_AMOUNT] {
            let (c, proof) = a
                .public()
                .encrypt_contribution(amount, CONTEXT, &mut rng)
                .unwrap();
            let bytes = proof.to_bytes();
            assert_eq!(bytes.len(), CONTRIBUTION_PROOF_LEN);
            let decoded = ContributionProof::from_bytes(&bytes).unwrap();
            assert_eq!(decoded.to_bytes(), bytes);
            assert_eq!(decoded.verify(a.public(), &c, CONTEXT), Ok(()), "{amount}");
            if amount < 1 << 20 {
                assert_eq!(a.secret().decrypt_fen(&c, &table), Ok(amount));
            }
        }
        assert_eq!(
            a.public()
                .encrypt_contribution(MAX_FEN_AMOUNT + 1, CONTEXT, &mut rng)
                .unwrap_err(),
            Error::AmountTooLarge {
                amount: MAX_FEN_AMOUNT + 1,
                max: MAX_FEN_AMOUNT
            }
        );
    }

    /// A dishonest prover: encrypts the limbs `plain` (any scalars, e.g.
    /// negative) and runs the proving steps claiming the range values
    /// `claimed`, with the blindings an honest prover would use.
    fn forged(
        public: &PublicKey,
        plain: [Scalar; 2],
        claimed: [u64; 4],
        rng: &mut StdRng,
    ) -> (FenCiphertext, ContributionProof) {
        let r = [Scalar::random(rng), Scalar::random(rng)];
        let limb = |i: usize| {
            Ciphertext::from_points(
                RistrettoPoint::mul_base(&r[i]),
                RistrettoPoint::mul_base(&plain[i]) + r[i] * public.point(),
            )
        };
        let ciphertext = FenCiphertext::from_limbs(limb(0), limb(1));
        let mut t = transcript(public, &ciphertext, CONTEXT);
        let k: Vec<(Scalar, Scalar)> = (0..2)
            .map(|_| (Scalar::random(rng), Scalar::random(rng)))
            .collect();
        let commitments: Vec<_> = k
            .iter()
            .map(|(k_m, k_r)| {
                (
                    RistrettoPoint::mul_base(k_r),
                    RistrettoPoint::mul_base(k_m) + k_r * public.point(),
                )
            })
            .collect();
        for (t1, t2) in &commitments {
            t.append_message(b"T1", t1.compress().as_bytes());
            t.append_message(b"T2", t2.compress().as_bytes());
        }
        let e = challenge(&mut t);
        let sigma = [0, 1].map(|i| Sigma {
            t1: commitments[i].0,
            t2: commitments[i].1,
            s_m: k[i].0 + e * plain[i],
            s_r: k[i].1 + e * r[i],
        });
        let (range, _) = RangeProof::prove_multiple_with_rng(
            bulletproof_gens(),
            &pedersen_gens(public),
            &mut t,
            &claimed,
            &[r[0], -r[0], r[1], -r[1]],
            RANGE_BITS,
            rng,
        )
        .unwrap();
        (ciphertext, ContributionProof { sigma, range })
    }

    #[test]
    fn the_forging_helper_is_faithful_for_honest_values() {
        let (a, mut rng) = keys(2);
        let (c, proof) = forged(
            a.public(),
            [Scalar::from(5u64), Scalar::from(7u64)],
            [5, MAX_AMOUNT - 5, 7, 92],
            &mut rng,
        );
        assert_eq!(proof.verify(a.public(), &c, CONTEXT), Ok(()));
    }

    #[test]
    fn out_of_range_amounts_cannot_be_proven() {
        let (a, mut rng) = keys(3);
        let rejected = Err(Error::ProofRejected { check: "range" });
        // 2^40 yuan: the complement would be −1, claimed as 0.
        let (c, p) = forged(
            a.public(),
            [Scalar::from(1u64 << 40), Scalar::ZERO],
            [1 << 40, 0, 0, 99],
            &mut rng,
        );
        assert_eq!(p.verify(a.public(), &c, CONTEXT), rejected);
        // A negative amount (−5 yuan), claimed as 5.
        let (c, p) = forged(
            a.public(),
            [-Scalar::from(5u64), Scalar::ZERO],
            [5, MAX_AMOUNT - 5, 0, 99],
            &mut rng,
        );
        assert_eq!(p.verify(a.public(), &c, CONTEXT), rejected);
        // A fen limb of 100, with its complement claimed as 0.
        let (c, p) = forged(
            a.public(),
            [Scalar::ZERO, Scalar::from(100u64)],
            [0, MAX_AMOUNT, 100, 0],
            &mut rng,
        );
        assert_eq!(p.verify(a.public(), &c, CONTEXT), rejected);
        // A huge yuan limb claimed in range: values must match the
        // commitments.
        let (c, p) = forged(
            a.public(),
            [Scalar::from(u64::MAX), Scalar::ZERO],
            [7, MAX_AMOUNT - 7, 0, 99],
            &mut rng,
        );
        assert_eq!(p.verify(a.public(), &c, CONTEXT), rejected);
    }

    #[test]
    fn a_proof_only_verifies_its_own_ciphertext_key_and_context() {
        let (a, mut rng) = keys(4);
        let (c, proof) = a
            .public()
            .encrypt_contribution(4_200, CONTEXT, &mut rng)
            .unwrap();
        let (other_c, _) = a
            .public()
            .encrypt_contribution(4_200, CONTEXT, &mut rng)
            .unwrap();
        assert!(matches!(
            proof.verify(a.public(), &other_c, CONTEXT),
            Err(Error::ProofRejected { .. })
        ));
        let b = KeyPair::generate(&mut rng);
        assert!(matches!(
            proof.verify(b.public(), &c, CONTEXT),
            Err(Error::ProofRejected { .. })
        ));
        assert!(matches!(
            proof.verify(a.public(), &c, b"another provider"),
            Err(Error::ProofRejected { .. })
        ));
        // c1 swapped for another's: the Sigma proof catches it.
        let swapped = FenCiphertext::from_limbs(
            Ciphertext::from_points(other_c.yuan().points().0, c.yuan().points().1),
            *c.fen(),
        );
        assert!(matches!(
            proof.verify(a.public(), &swapped, CONTEXT),
            Err(Error::ProofRejected { .. })
        ));
        // Limbs swapped.
        let limbs_swapped = FenCiphertext::from_limbs(*c.fen(), *c.yuan());
        assert!(matches!(
            proof.verify(a.public(), &limbs_swapped, CONTEXT),
            Err(Error::ProofRejected { .. })
        ));
        assert_eq!(proof.verify(a.public(), &c, CONTEXT), Ok(()));
    }

    #[test]
    fn truncated_extended_or_altered_bytes_are_refused() {
        let (a, mut rng) = keys(5);
        let (c, proof) = a
            .public()
            .encrypt_contribution(1_000_000, CONTEXT, &mut rng)
            .unwrap();
        let bytes = proof.to_bytes();
        for len in [0, 1, 255, 256, 1055, 1057, 2112] {
            let mut b = bytes.clone();
            b.resize(len, 0);
            assert_eq!(
                ContributionProof::from_bytes(&b).unwrap_err(),
                Error::WrongLength {
                    what: "contribution proof",
                    expected: CONTRIBUTION_PROOF_LEN,
                    actual: len
                }
            );
        }
        // Every single-bit flip is refused on decoding or on verification.
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 1 << (i % 8);
            match ContributionProof::from_bytes(&b) {
                Err(Error::ProofMalformed { .. }) => {}
                Ok(p) => assert!(
                    matches!(
                        p.verify(a.public(), &c, CONTEXT),
                        Err(Error::ProofRejected { .. })
                    ),
                    "flip at byte {i} accepted"
                ),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        let mut bad_scalar = bytes.clone();
        bad_scalar[2 * 32..3 * 32].fill(0xff);
        assert_eq!(
            ContributionProof::from_bytes(&bad_scalar).unwrap_err(),
            Error::ProofMalformed {
                part: "yuan sigma s_m"
            }
        );
        let mut bad_range = bytes.clone();
        bad_range[2 * SIGMA_LEN + 4 * 32..2 * SIGMA_LEN + 5 * 32].fill(0xff);
        assert_eq!(
            ContributionProof::from_bytes(&bad_range).unwrap_err(),
            Error::ProofMalformed {
                part: "range proof"
            }
        );
    }

    #[test]
    fn verification_is_deterministic() {
        let (a, mut rng) = keys(6);
        let (c, proof) = a
            .public()
            .encrypt_contribution(5, CONTEXT, &mut rng)
            .unwrap();
        let again = ContributionProof::from_bytes(&proof.to_bytes()).unwrap();
        for _ in 0..3 {
            assert_eq!(again.verify(a.public(), &c, CONTEXT), Ok(()));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_bytes_never_panic_nor_verify(bytes in proptest::collection::vec(any::<u8>(), CONTRIBUTION_PROOF_LEN..=CONTRIBUTION_PROOF_LEN)) {
            let (a, mut rng) = keys(7);
            let c = a.public().encrypt_fen(1, &mut rng).unwrap();
            if let Ok(p) = ContributionProof::from_bytes(&bytes) {
                prop_assert!(p.verify(a.public(), &c, CONTEXT).is_err());
            }
        }

        #[test]
        fn random_lengths_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = ContributionProof::from_bytes(&bytes);
        }

        #[test]
        fn a_valid_proof_with_random_words_spliced_in_fails(word in 0usize..33, fill in any::<[u8; 32]>()) {
            let (a, mut rng) = keys(8);
            let (c, proof) = a.public().encrypt_contribution(77, CONTEXT, &mut rng).unwrap();
            let mut bytes = proof.to_bytes();
            prop_assume!(bytes[32 * word..32 * (word + 1)] != fill);
            bytes[32 * word..32 * (word + 1)].copy_from_slice(&fill);
            if let Ok(p) = ContributionProof::from_bytes(&bytes) {
                prop_assert!(p.verify(a.public(), &c, CONTEXT).is_err());
            }
        }
    }
}
