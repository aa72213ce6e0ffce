//! Amounts in fen (1/100 yuan) as two encrypted limbs, so that totals up
//! to 10^12 yuan decrypt exactly to the fen.
//!
//! A total of 10^12 yuan is 10^14 fen, beyond the 2^40 range one bounded
//! discrete logarithm can recover in well under a second. So an amount
//! `a` in fen travels as two ciphertexts: the **yuan limb** `a / 100`
//! (at most [`MAX_AMOUNT`]) and the **fen limb** `a % 100` (at most 99).
//! Sums add limb-wise without carrying, the key holder decrypts each limb
//! with the same [`DiscreteLogTable`] — the yuan limb of a total up to
//! 10^12 yuan is within the table's range, the fen limb is at most 99 per
//! contribution — and recombines `yuan·100 + fen`.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::str::FromStr;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::MAX_AMOUNT;
use crate::ciphertext::{CIPHERTEXT_LEN, Ciphertext};
use crate::dlog::DiscreteLogTable;
use crate::error::{Error, Result};
use crate::keys::{PublicKey, SecretKey};
use crate::point::{self, POINT_LEN};

/// Fen in a yuan: the base of the fen limb.
pub const FEN_PER_YUAN: u64 = 100;

/// The largest amount, in fen, one [`FenCiphertext`] encrypts:
/// [`MAX_AMOUNT`] yuan and 99 fen (109,951,162,777,599 fen).
pub const MAX_FEN_AMOUNT: u64 = MAX_AMOUNT * FEN_PER_YUAN + (FEN_PER_YUAN - 1);

/// Length of a [`FenCiphertext`] encoding: the yuan limb's 64 bytes, then
/// the fen limb's.
pub const FEN_CIPHERTEXT_LEN: usize = 2 * CIPHERTEXT_LEN;

/// An amount in fen encrypted as two exponential-ElGamal limbs: yuan
/// (`amount / 100`) and fen (`amount % 100`). Adds limb-wise; decrypts
/// with [`SecretKey::decrypt_fen`] to `yuan·100 + fen`.
///
/// Encodes canonically as 128 bytes (yuan limb ‖ fen limb, each `c1 ‖ c2`),
/// as 256 hex digits in text and in serde.
///
/// ```
/// use homomorphic::{DiscreteLogTable, FenCiphertext, KeyPair};
///
/// let mut rng = rand::rngs::OsRng;
/// let keys = KeyPair::generate(&mut rng);
/// // 1,234.56 yuan and 0.99 yuan, in fen.
/// let a = keys.public().encrypt_fen(123_456, &mut rng)?;
/// let b = keys.public().encrypt_fen(99, &mut rng)?;
/// let sum = FenCiphertext::from_bytes(&(a + b).to_bytes())?;
/// let table = DiscreteLogTable::with_params(8, 1 << 16)?; // small, for the example
/// assert_eq!(keys.secret().decrypt_fen(&sum, &table)?, 123_555);
/// # Ok::<(), homomorphic::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FenCiphertext {
    yuan: Ciphertext,
    fen: Ciphertext,
}

impl FenCiphertext {
    /// Assembles a two-limb ciphertext from its yuan and fen limbs.
    pub fn from_limbs(yuan: Ciphertext, fen: Ciphertext) -> Self {
        Self { yuan, fen }
    }

    /// The encryption of 0 with no randomness: the neutral element and the
    /// value of an empty sum. Like [`Ciphertext::zero`], it means "adds up
    /// to zero", never "no data".
    pub fn zero() -> Self {
        Self::from_limbs(Ciphertext::zero(), Ciphertext::zero())
    }

    /// The yuan limb (`amount / 100`, summed).
    pub fn yuan(&self) -> &Ciphertext {
        &self.yuan
    }

    /// The fen limb (`amount % 100`, summed: may exceed 99 in a sum).
    pub fn fen(&self) -> &Ciphertext {
        &self.fen
    }

    /// The homomorphic sum, limb by limb. Also `+`, `+=` and
    /// `Iterator::sum`.
    pub fn add(&self, other: &FenCiphertext) -> FenCiphertext {
        Self::from_limbs(self.yuan + other.yuan, self.fen + other.fen)
    }

    /// The canonical 128-byte encoding: yuan `c1 ‖ c2`, fen `c1 ‖ c2`.
    pub fn to_bytes(&self) -> [u8; FEN_CIPHERTEXT_LEN] {
        let mut bytes = [0u8; FEN_CIPHERTEXT_LEN];
        bytes[..CIPHERTEXT_LEN].copy_from_slice(&self.yuan.to_bytes());
        bytes[CIPHERTEXT_LEN..].copy_from_slice(&self.fen.to_bytes());
        bytes
    }

    /// Decodes untrusted bytes; never panics. Refuses a length other than
    /// 128 ([`Error::WrongLength`]) and any of the four points that is not
    /// canonical ([`Error::NonCanonicalPoint`]) or not a point
    /// ([`Error::NotAPoint`]), naming it (`"yuan limb c1"` …
    /// `"fen limb c2"`).
    ///
    /// ```
    /// use homomorphic::{Error, FenCiphertext};
    ///
    /// assert_eq!(
    ///     FenCiphertext::from_bytes(&[0u8; 64]),
    ///     Err(Error::WrongLength { what: "fen ciphertext", expected: 128, actual: 64 })
    /// );
    /// let mut bytes = [0u8; 128];
    /// bytes[96] = 1; // the fen limb's c2 is "negative"
    /// assert_eq!(
    ///     FenCiphertext::from_bytes(&bytes),
    ///     Err(Error::NonCanonicalPoint { what: "fen limb c2" })
    /// );
    /// assert_eq!(FenCiphertext::from_bytes(&[0u8; 128]), Ok(FenCiphertext::zero()));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != FEN_CIPHERTEXT_LEN {
            return Err(Error::WrongLength {
                what: "fen ciphertext",
                expected: FEN_CIPHERTEXT_LEN,
                actual: bytes.len(),
            });
        }
        const NAMES: [&str; 4] = ["yuan limb c1", "yuan limb c2", "fen limb c1", "fen limb c2"];
        let mut points = [RistrettoPoint::default(); 4];
        for ((chunk, name), out) in bytes
            .chunks_exact(POINT_LEN)
            .zip(NAMES)
            .zip(points.iter_mut())
        {
            let mut array = [0u8; POINT_LEN];
            array.copy_from_slice(chunk);
            *out = point::decode(&array, name)?;
        }
        Ok(Self::from_limbs(
            Ciphertext::from_points(points[0], points[1]),
            Ciphertext::from_points(points[2], points[3]),
        ))
    }
}

/// `(r·G, m·G + r·Y)` with the given randomness.
pub(crate) fn encrypt_limb(public: &PublicKey, m: u64, r: &Scalar) -> Ciphertext {
    Ciphertext::from_points(
        RistrettoPoint::mul_base(r),
        RistrettoPoint::mul_base(&Scalar::from(m)) + r * public.point(),
    )
}

/// Splits an amount in fen into its limbs, refusing more than
/// [`MAX_FEN_AMOUNT`].
pub(crate) fn split(amount_fen: u64) -> Result<(u64, u64)> {
    if amount_fen > MAX_FEN_AMOUNT {
        return Err(Error::AmountTooLarge {
            amount: amount_fen,
            max: MAX_FEN_AMOUNT,
        });
    }
    Ok((amount_fen / FEN_PER_YUAN, amount_fen % FEN_PER_YUAN))
}

impl PublicKey {
    /// Encrypts an amount in fen as two limbs, each with fresh randomness.
    /// Fails with [`Error::AmountTooLarge`] above [`MAX_FEN_AMOUNT`].
    ///
    /// Data providers contributing to an aggregation use
    /// [`PublicKey::encrypt_contribution`] instead, which also proves the
    /// ciphertext well formed.
    pub fn encrypt_fen<R: RngCore + CryptoRng>(
        &self,
        amount_fen: u64,
        rng: &mut R,
    ) -> Result<FenCiphertext> {
        let (yuan, fen) = split(amount_fen)?;
        let mut r = [Scalar::random(rng), Scalar::random(rng)];
        let c = FenCiphertext::from_limbs(
            encrypt_limb(self, yuan, &r[0]),
            encrypt_limb(self, fen, &r[1]),
        );
        r.zeroize();
        Ok(c)
    }
}

impl SecretKey {
    /// Decrypts a two-limb sum to its total in fen: `yuan·100 + fen`, each
    /// limb recovered with `table` (so each limb's sum must be in
    /// `0..=table.max()`; with the default table any total up to 10^12
    /// yuan). Fails with [`Error::PlaintextOutOfRange`] — never a wrong
    /// number — otherwise.
    ///
    /// ```
    /// use homomorphic::{DiscreteLogTable, KeyPair};
    ///
    /// let mut rng = rand::rngs::OsRng;
    /// let keys = KeyPair::generate(&mut rng);
    /// let c = keys.public().encrypt_fen(1_000_000_000_001, &mut rng)?; // 10^10 yuan + 1 fen
    /// let table = DiscreteLogTable::with_params(16, 1 << 34)?;
    /// assert_eq!(keys.secret().decrypt_fen(&c, &table)?, 1_000_000_000_001);
    /// # Ok::<(), homomorphic::Error>(())
    /// ```
    pub fn decrypt_fen(&self, ciphertext: &FenCiphertext, table: &DiscreteLogTable) -> Result<u64> {
        // The fen limb first: it is small, so a wrong key shows quickly.
        let fen = self.decrypt(ciphertext.fen(), table)?;
        let yuan = self.decrypt(ciphertext.yuan(), table)?;
        // Both are at most 2^40 < 2^64 / 101: no overflow.
        Ok(yuan * FEN_PER_YUAN + fen)
    }
}

impl Add for FenCiphertext {
    type Output = FenCiphertext;

    fn add(self, other: FenCiphertext) -> FenCiphertext {
        FenCiphertext::add(&self, &other)
    }
}

impl Add<&FenCiphertext> for FenCiphertext {
    type Output = FenCiphertext;

    fn add(self, other: &FenCiphertext) -> FenCiphertext {
        FenCiphertext::add(&self, other)
    }
}

impl AddAssign for FenCiphertext {
    fn add_assign(&mut self, other: FenCiphertext) {
        *self = FenCiphertext::add(self, &other);
    }
}

impl AddAssign<&FenCiphertext> for FenCiphertext {
    fn add_assign(&mut self, other: &FenCiphertext) {
        *self = FenCiphertext::add(self, other);
    }
}

impl Sum for FenCiphertext {
    /// The homomorphic sum; [`FenCiphertext::zero`] for no items.
    fn sum<I: Iterator<Item = FenCiphertext>>(iter: I) -> Self {
        iter.fold(FenCiphertext::zero(), |sum, c| sum + c)
    }
}

impl<'a> Sum<&'a FenCiphertext> for FenCiphertext {
    /// The homomorphic sum; [`FenCiphertext::zero`] for no items.
    fn sum<I: Iterator<Item = &'a FenCiphertext>>(iter: I) -> Self {
        iter.fold(FenCiphertext::zero(), |sum, c| sum + c)
    }
}

impl fmt::Debug for FenCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FenCiphertext({self})")
    }
}

impl fmt::Display for FenCiphertext {
    /// Lower-case hex of the 128-byte encoding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

impl FromStr for FenCiphertext {
    type Err = Error;

    /// Parses 256 hex digits and validates as
    /// [`FenCiphertext::from_bytes`] does.
    fn from_str(s: &str) -> Result<Self> {
        Self::from_bytes(&point::decode_hex::<FEN_CIPHERTEXT_LEN>(
            s,
            "fen ciphertext",
        )?)
    }
}

impl serde::Serialize for FenCiphertext {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FenCiphertext {
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

    #[test]
    fn limbs_split_the_amount_and_refuse_too_much() {
        assert_eq!(split(0), Ok((0, 0)));
        assert_eq!(split(12_345), Ok((123, 45)));
        assert_eq!(split(MAX_FEN_AMOUNT), Ok((MAX_AMOUNT, 99)));
        assert_eq!(
            split(MAX_FEN_AMOUNT + 1),
            Err(Error::AmountTooLarge {
                amount: MAX_FEN_AMOUNT + 1,
                max: MAX_FEN_AMOUNT
            })
        );
    }

    #[test]
    fn fen_sums_carry_at_decryption() {
        let mut rng = StdRng::seed_from_u64(21);
        let keys = KeyPair::generate(&mut rng);
        let table = DiscreteLogTable::with_params(10, 1 << 20).unwrap();
        // 0.99 + 0.99 + 1.50 yuan: the fen limb sums to 198 (no carry on
        // chain), the total is still exact.
        let amounts = [99u64, 99, 150];
        let sum: FenCiphertext = amounts
            .iter()
            .map(|&a| keys.public().encrypt_fen(a, &mut rng).unwrap())
            .sum();
        assert_eq!(keys.secret().decrypt(sum.fen(), &table), Ok(248));
        assert_eq!(keys.secret().decrypt(sum.yuan(), &table), Ok(1));
        assert_eq!(keys.secret().decrypt_fen(&sum, &table), Ok(348));
        let mut assigned = FenCiphertext::zero();
        for a in amounts {
            assigned += keys.public().encrypt_fen(a, &mut rng).unwrap();
        }
        assert_eq!(keys.secret().decrypt_fen(&assigned, &table), Ok(348));
    }

    #[test]
    fn a_total_of_a_trillion_yuan_decrypts_exactly_to_the_fen() {
        let mut rng = StdRng::seed_from_u64(22);
        let keys = KeyPair::generate(&mut rng);
        // Three providers; 10^12 yuan = 10^14 fen in all, far beyond 2^40.
        let amounts = [
            99_999_999_999_901u64, // 999,999,999,999.01 yuan
            49,
            50,
        ];
        let total: u64 = amounts.iter().sum();
        assert_eq!(total, 100_000_000_000_000);
        let sum: FenCiphertext = amounts
            .iter()
            .map(|&a| keys.public().encrypt_fen(a, &mut rng).unwrap())
            .sum();
        // A table just covering 10^12 (smaller than the default 2^23 baby
        // steps, to build quickly; the default covers all of MAX_AMOUNT).
        let table = DiscreteLogTable::with_params(21, 1_000_000_000_000).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(keys.secret().decrypt_fen(&sum, &table), Ok(total));
        eprintln!("decrypted 10^14 fen in {:?}", started.elapsed());
    }

    #[test]
    fn another_key_or_an_overflowing_limb_is_an_error() {
        let mut rng = StdRng::seed_from_u64(23);
        let keys = KeyPair::generate(&mut rng);
        let other = KeyPair::generate(&mut rng);
        let table = DiscreteLogTable::with_params(8, 1000).unwrap();
        let c = other.public().encrypt_fen(1_234, &mut rng).unwrap();
        assert_eq!(
            keys.secret().decrypt_fen(&c, &table),
            Err(Error::PlaintextOutOfRange { max: 1000 })
        );
        let big = keys.public().encrypt_fen(900 * 100, &mut rng).unwrap();
        assert_eq!(
            keys.secret().decrypt_fen(&(big + big), &table),
            Err(Error::PlaintextOutOfRange { max: 1000 })
        );
    }

    #[test]
    fn encoding_round_trips_and_names_the_bad_point() {
        let mut rng = StdRng::seed_from_u64(24);
        let keys = KeyPair::generate(&mut rng);
        let c = keys.public().encrypt_fen(777, &mut rng).unwrap();
        assert_eq!(FenCiphertext::from_bytes(&c.to_bytes()), Ok(c));
        let text = c.to_string();
        assert_eq!(text.len(), 256);
        assert_eq!(text.parse::<FenCiphertext>(), Ok(c));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<FenCiphertext>(&json).unwrap(), c);
        assert!(format!("{c:?}").starts_with("FenCiphertext("));
        for (i, name) in ["yuan limb c1", "yuan limb c2", "fen limb c1", "fen limb c2"]
            .into_iter()
            .enumerate()
        {
            let mut bytes = c.to_bytes();
            bytes[32 * i] |= 1;
            assert_eq!(
                FenCiphertext::from_bytes(&bytes),
                Err(Error::NonCanonicalPoint { what: name })
            );
        }
        assert!(matches!(
            "zz".parse::<FenCiphertext>(),
            Err(Error::InvalidHex {
                what: "fen ciphertext",
                ..
            })
        ));
    }
}
