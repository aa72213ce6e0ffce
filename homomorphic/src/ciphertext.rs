//! Ciphertexts, their canonical encoding and homomorphic addition.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::str::FromStr;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;

use crate::error::{Error, Result};
use crate::point::{self, POINT_LEN};

/// Length of a [`Ciphertext`] encoding: two compressed points.
pub const CIPHERTEXT_LEN: usize = 2 * POINT_LEN;

/// An exponential-ElGamal ciphertext `(c1, c2) = (r·G, m·G + r·Y)` of an
/// amount `m` under a public key `Y`.
///
/// Ciphertexts under the same key add up: the sum encrypts the sum of the
/// amounts. Adding ciphertexts made under *different* keys yields garbage
/// that decrypts to [`Error::PlaintextOutOfRange`]; nothing here can tell,
/// so the caller must only add ciphertexts for the same request.
///
/// Encodes canonically as 64 bytes (`c1 ‖ c2`, each a compressed Ristretto
/// point), as 128 hex digits in text and in serde.
///
/// ```
/// use homomorphic::{Ciphertext, DiscreteLogTable, KeyPair};
///
/// let mut rng = rand::rngs::OsRng;
/// let keys = KeyPair::generate(&mut rng);
/// // Each provider on a chain encrypts its own amount for enterprise M...
/// let amounts = [1_200u64, 0, 35_000];
/// let ciphertexts: Vec<Ciphertext> = amounts
///     .iter()
///     .map(|&a| keys.public().encrypt(a, &mut rng))
///     .collect::<Result<_, _>>()?;
/// // ...the chain adds them without learning any...
/// let chain_sum: Ciphertext = ciphertexts.iter().sum();
/// // ...the sum travels as 64 bytes...
/// let received = Ciphertext::from_bytes(&chain_sum.to_bytes())?;
/// // ...and only the key holder decrypts the total.
/// let table = DiscreteLogTable::with_params(10, 1 << 20)?;
/// assert_eq!(keys.secret().decrypt(&received, &table)?, 36_200);
/// # Ok::<(), homomorphic::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ciphertext {
    c1: RistrettoPoint,
    c2: RistrettoPoint,
}

impl Ciphertext {
    pub(crate) fn from_points(c1: RistrettoPoint, c2: RistrettoPoint) -> Self {
        Self { c1, c2 }
    }

    pub(crate) fn points(&self) -> (RistrettoPoint, RistrettoPoint) {
        (self.c1, self.c2)
    }

    /// The encryption of 0 with no randomness, `(identity, identity)`: the
    /// neutral element of [`add`](Self::add) and the value of an empty sum.
    ///
    /// It says "these inputs add up to zero", not "no data". A chain whose
    /// partial sum is missing must be reported as missing by the caller,
    /// never replaced by `zero()`: the total would silently be too low.
    ///
    /// ```
    /// use homomorphic::{Ciphertext, KeyPair};
    ///
    /// let mut rng = rand::rngs::OsRng;
    /// let keys = KeyPair::generate(&mut rng);
    /// let c = keys.public().encrypt(5, &mut rng)?;
    /// assert_eq!(c + Ciphertext::zero(), c);
    /// assert_eq!(Vec::<Ciphertext>::new().into_iter().sum::<Ciphertext>(), Ciphertext::zero());
    /// # Ok::<(), homomorphic::Error>(())
    /// ```
    pub fn zero() -> Self {
        Self {
            c1: RistrettoPoint::identity(),
            c2: RistrettoPoint::identity(),
        }
    }

    /// The homomorphic sum: decrypts to the sum of the two amounts (if the
    /// sum is within the decryption table's range). Also available as `+`,
    /// `+=` and `Iterator::sum`.
    pub fn add(&self, other: &Ciphertext) -> Ciphertext {
        Self {
            c1: self.c1 + other.c1,
            c2: self.c2 + other.c2,
        }
    }

    /// The canonical 64-byte encoding `c1 ‖ c2`.
    pub fn to_bytes(&self) -> [u8; CIPHERTEXT_LEN] {
        let mut bytes = [0u8; CIPHERTEXT_LEN];
        bytes[..POINT_LEN].copy_from_slice(self.c1.compress().as_bytes());
        bytes[POINT_LEN..].copy_from_slice(self.c2.compress().as_bytes());
        bytes
    }

    /// Decodes untrusted bytes; never panics. Refuses, with distinct
    /// errors: a length other than 64 ([`Error::WrongLength`]), a half that
    /// is not a canonical encoding ([`Error::NonCanonicalPoint`]) and a half
    /// that encodes no point ([`Error::NotAPoint`]); the error names the
    /// half, `"ciphertext c1"` or `"ciphertext c2"`.
    ///
    /// ```
    /// use homomorphic::{Ciphertext, Error};
    ///
    /// assert_eq!(
    ///     Ciphertext::from_bytes(&[0u8; 63]),
    ///     Err(Error::WrongLength { what: "ciphertext", expected: 64, actual: 63 })
    /// );
    /// let mut bytes = [0u8; 64];
    /// bytes[32] = 1; // c2's field element is odd: not canonical
    /// assert_eq!(
    ///     Ciphertext::from_bytes(&bytes),
    ///     Err(Error::NonCanonicalPoint { what: "ciphertext c2" })
    /// );
    /// assert_eq!(Ciphertext::from_bytes(&[0u8; 64]), Ok(Ciphertext::zero()));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != CIPHERTEXT_LEN {
            return Err(Error::WrongLength {
                what: "ciphertext",
                expected: CIPHERTEXT_LEN,
                actual: bytes.len(),
            });
        }
        let (first, second) = bytes.split_at(POINT_LEN);
        let half = |b: &[u8]| {
            <[u8; POINT_LEN]>::try_from(b).expect("split at POINT_LEN of 2·POINT_LEN bytes")
        };
        Ok(Self {
            c1: point::decode(&half(first), "ciphertext c1")?,
            c2: point::decode(&half(second), "ciphertext c2")?,
        })
    }
}

impl Add for Ciphertext {
    type Output = Ciphertext;

    fn add(self, other: Ciphertext) -> Ciphertext {
        Ciphertext::add(&self, &other)
    }
}

impl Add<&Ciphertext> for Ciphertext {
    type Output = Ciphertext;

    fn add(self, other: &Ciphertext) -> Ciphertext {
        Ciphertext::add(&self, other)
    }
}

impl Add<&Ciphertext> for &Ciphertext {
    type Output = Ciphertext;

    fn add(self, other: &Ciphertext) -> Ciphertext {
        Ciphertext::add(self, other)
    }
}

impl AddAssign for Ciphertext {
    fn add_assign(&mut self, other: Ciphertext) {
        *self = Ciphertext::add(self, &other);
    }
}

impl AddAssign<&Ciphertext> for Ciphertext {
    fn add_assign(&mut self, other: &Ciphertext) {
        *self = Ciphertext::add(self, other);
    }
}

impl Sum for Ciphertext {
    /// The homomorphic sum; [`Ciphertext::zero`] for no items.
    fn sum<I: Iterator<Item = Ciphertext>>(iter: I) -> Self {
        iter.fold(Ciphertext::zero(), |sum, c| sum + c)
    }
}

impl<'a> Sum<&'a Ciphertext> for Ciphertext {
    /// The homomorphic sum; [`Ciphertext::zero`] for no items.
    fn sum<I: Iterator<Item = &'a Ciphertext>>(iter: I) -> Self {
        iter.fold(Ciphertext::zero(), |sum, c| sum + *c)
    }
}

impl fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ciphertext({self})")
    }
}

impl fmt::Display for Ciphertext {
    /// Lower-case hex of the 64-byte encoding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

impl FromStr for Ciphertext {
    type Err = Error;

    /// Parses 128 hex digits (either case) and validates as
    /// [`Ciphertext::from_bytes`] does.
    fn from_str(s: &str) -> Result<Self> {
        Self::from_bytes(&point::decode_hex::<CIPHERTEXT_LEN>(s, "ciphertext")?)
    }
}

impl serde::Serialize for Ciphertext {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ciphertext {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DiscreteLogTable, KeyPair};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn setup() -> (KeyPair, StdRng, DiscreteLogTable) {
        let mut rng = StdRng::seed_from_u64(11);
        let keys = KeyPair::generate(&mut rng);
        (
            keys,
            rng,
            DiscreteLogTable::with_params(10, 1 << 24).unwrap(),
        )
    }

    #[test]
    fn sums_over_chains_decrypt_to_the_total() {
        let (keys, mut rng, table) = setup();
        // Three chains, a few providers each; the partial sums are added again.
        let chains: [&[u64]; 3] = [&[100, 250_000], &[0, 7, 9_999], &[1_000_000]];
        let partials: Vec<Ciphertext> = chains
            .iter()
            .map(|amounts| {
                amounts
                    .iter()
                    .map(|&a| keys.public().encrypt(a, &mut rng).unwrap())
                    .sum()
            })
            .collect();
        let total: Ciphertext = partials.iter().sum();
        assert_eq!(keys.secret().decrypt(&total, &table), Ok(1_260_106));
        let expected_partials = [250_100, 10_006, 1_000_000];
        for (partial, expected) in partials.iter().zip(expected_partials) {
            assert_eq!(keys.secret().decrypt(partial, &table), Ok(expected));
        }
    }

    #[test]
    fn every_way_of_adding_agrees() {
        let (keys, mut rng, _) = setup();
        let a = keys.public().encrypt(3, &mut rng).unwrap();
        let b = keys.public().encrypt(4, &mut rng).unwrap();
        let mut assigned = a;
        assigned += b;
        let mut assigned_ref = a;
        assigned_ref += &b;
        assert_eq!(a + b, a.add(&b));
        let (a_ref, b_ref) = (&a, &b);
        assert_eq!(a_ref + b_ref, a.add(&b));
        assert_eq!(assigned, a.add(&b));
        assert_eq!(assigned_ref, a.add(&b));
        assert_eq!([a, b].into_iter().sum::<Ciphertext>(), a.add(&b));
        assert_eq!(a + b, b + a);
    }

    #[test]
    fn zero_decrypts_to_zero_and_is_neutral() {
        let (keys, mut rng, table) = setup();
        assert_eq!(keys.secret().decrypt(&Ciphertext::zero(), &table), Ok(0));
        let c = keys.public().encrypt(12, &mut rng).unwrap();
        assert_eq!(Ciphertext::zero() + c, c);
        assert_eq!(Ciphertext::zero().to_bytes(), [0u8; 64]);
    }

    #[test]
    fn a_total_beyond_the_table_is_an_error_not_a_wrong_number() {
        let (keys, mut rng, _) = setup();
        let table = DiscreteLogTable::with_params(8, 1000).unwrap();
        let c = keys.public().encrypt(600, &mut rng).unwrap();
        assert_eq!(keys.secret().decrypt(&c, &table), Ok(600));
        assert_eq!(
            keys.secret().decrypt(&(c + c), &table),
            Err(Error::PlaintextOutOfRange { max: 1000 })
        );
    }

    #[test]
    fn a_ciphertext_under_another_key_does_not_decrypt() {
        let (keys, mut rng, table) = setup();
        let other = KeyPair::generate(&mut rng);
        let c = other.public().encrypt(5, &mut rng).unwrap();
        assert_eq!(
            keys.secret().decrypt(&c, &table),
            Err(Error::PlaintextOutOfRange { max: 1 << 24 })
        );
    }

    #[test]
    fn rerandomized_sums_are_unlinkable_bytes_with_the_same_total() {
        let (keys, mut rng, table) = setup();
        let sum = keys.public().encrypt(40, &mut rng).unwrap()
            + keys.public().encrypt(2, &mut rng).unwrap();
        let fresh = keys.public().rerandomize(&sum, &mut rng);
        assert_ne!(fresh.to_bytes()[..32], sum.to_bytes()[..32]);
        assert_ne!(fresh.to_bytes()[32..], sum.to_bytes()[32..]);
        assert_eq!(keys.secret().decrypt(&fresh, &table), Ok(42));
    }

    #[test]
    fn encoding_round_trips_through_bytes_text_and_serde() {
        let (keys, mut rng, _) = setup();
        let c = keys.public().encrypt(77, &mut rng).unwrap();
        assert_eq!(Ciphertext::from_bytes(&c.to_bytes()), Ok(c));
        let text = c.to_string();
        assert_eq!(text.len(), 128);
        assert_eq!(text.parse::<Ciphertext>(), Ok(c));
        assert_eq!(text.to_uppercase().parse::<Ciphertext>(), Ok(c));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<Ciphertext>(&json).unwrap(), c);
        assert_eq!(format!("{c:?}"), format!("Ciphertext({text})"));
    }

    #[test]
    fn decoding_names_the_bad_half() {
        let (keys, mut rng, _) = setup();
        let good = keys.public().encrypt(1, &mut rng).unwrap().to_bytes();
        let mut bad_c1 = good;
        bad_c1[0] |= 1;
        assert_eq!(
            Ciphertext::from_bytes(&bad_c1),
            Err(Error::NonCanonicalPoint {
                what: "ciphertext c1"
            })
        );
        let mut bad_c2 = good;
        bad_c2[63] = 0xff; // field element >= 2^255
        assert_eq!(
            Ciphertext::from_bytes(&bad_c2),
            Err(Error::NonCanonicalPoint {
                what: "ciphertext c2"
            })
        );
        // Find a canonical c2 that is not a point (small even field elements).
        let not_a_point = (1u8..=127)
            .map(|s| {
                let mut bytes = good;
                bytes[32..].fill(0);
                bytes[32] = 2 * s;
                bytes
            })
            .find(|b| Ciphertext::from_bytes(b).is_err())
            .unwrap();
        assert_eq!(
            Ciphertext::from_bytes(&not_a_point),
            Err(Error::NotAPoint {
                what: "ciphertext c2"
            })
        );
        assert_eq!(
            Ciphertext::from_bytes(&good[..]).map(|c| c.to_bytes()),
            Ok(good),
            "the untouched encoding still decodes"
        );
    }

    #[test]
    fn text_of_the_wrong_length_or_alphabet_is_refused() {
        assert_eq!(
            "00".repeat(65).parse::<Ciphertext>(),
            Err(Error::WrongLength {
                what: "ciphertext",
                expected: 64,
                actual: 65
            })
        );
        assert!(matches!(
            "g".repeat(128).parse::<Ciphertext>(),
            Err(Error::InvalidHex {
                what: "ciphertext",
                ..
            })
        ));
        assert!(serde_json::from_str::<Ciphertext>("\"0\"").is_err());
        assert!(serde_json::from_str::<Ciphertext>("42").is_err());
    }
}
