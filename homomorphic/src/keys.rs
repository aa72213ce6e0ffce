//! Key pairs: the requesting institution's secret scalar and the public
//! point it hands out for others to encrypt under.

use std::fmt;
use std::str::FromStr;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::MAX_AMOUNT;
use crate::ciphertext::Ciphertext;
use crate::dlog::DiscreteLogTable;
use crate::error::{Error, Result};
use crate::point::{self, POINT_LEN};

/// Length of a [`SecretKey`] or [`PublicKey`] encoding.
pub const KEY_LEN: usize = 32;

/// The decrypting party's secret: a non-zero scalar `x`. Wiped from memory
/// when dropped; never printed by `Debug`.
///
/// ```
/// use homomorphic::SecretKey;
///
/// let secret = SecretKey::generate(&mut rand::rngs::OsRng);
/// let restored = SecretKey::from_bytes(&secret.to_bytes())?;
/// assert_eq!(restored.public_key(), secret.public_key());
/// # Ok::<(), homomorphic::Error>(())
/// ```
#[derive(Clone)]
pub struct SecretKey {
    scalar: Scalar,
}

impl SecretKey {
    /// A uniformly random non-zero secret key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        loop {
            let scalar = Scalar::random(rng);
            if scalar != Scalar::ZERO {
                return Self { scalar };
            }
        }
    }

    /// Decodes a secret key: 32 bytes, a canonical little-endian scalar
    /// below the group order, not zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array = <[u8; KEY_LEN]>::try_from(bytes).map_err(|_| Error::WrongLength {
            what: "secret key",
            expected: KEY_LEN,
            actual: bytes.len(),
        })?;
        let scalar = Option::<Scalar>::from(Scalar::from_canonical_bytes(array))
            .ok_or(Error::NonCanonicalSecretKey)?;
        if scalar == Scalar::ZERO {
            return Err(Error::ZeroSecretKey);
        }
        Ok(Self { scalar })
    }

    /// The canonical 32-byte encoding. Handle it as a secret.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.scalar.to_bytes()
    }

    /// The scalar `x`, for the threshold shares built on it.
    pub(crate) fn scalar(&self) -> Scalar {
        self.scalar
    }

    /// The matching public key `x·G`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_point(RistrettoPoint::mul_base(&self.scalar))
    }

    /// Decrypts a ciphertext (typically a homomorphic sum) to its amount.
    ///
    /// Fails with [`Error::PlaintextOutOfRange`] — never a wrong number —
    /// when the plaintext is not in `0..=table.max()`: the total exceeded
    /// the table's range, or the ciphertext was not made under this key.
    /// Such a failure takes the longest: the whole range is searched
    /// (0.1–0.2 s with the default table on two cores).
    ///
    /// ```
    /// use homomorphic::{DiscreteLogTable, KeyPair};
    ///
    /// let mut rng = rand::rngs::OsRng;
    /// let keys = KeyPair::generate(&mut rng);
    /// let total = keys.public().encrypt(300, &mut rng)? + keys.public().encrypt(45, &mut rng)?;
    /// let table = DiscreteLogTable::with_params(8, 1 << 16)?; // small, for the example
    /// assert_eq!(keys.secret().decrypt(&total, &table)?, 345);
    /// # Ok::<(), homomorphic::Error>(())
    /// ```
    pub fn decrypt(&self, ciphertext: &Ciphertext, table: &DiscreteLogTable) -> Result<u64> {
        let (c1, c2) = ciphertext.points();
        table.solve(&(c2 - self.scalar * c1))
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.scalar.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The key amounts are encrypted under: the point `Y = x·G`, never the
/// identity. Encodes as 32 bytes, as hex in text and in serde.
///
/// ```
/// use homomorphic::{KeyPair, PublicKey};
///
/// let keys = KeyPair::generate(&mut rand::rngs::OsRng);
/// let sent: String = keys.public().to_string(); // 64 hex digits
/// let received: PublicKey = sent.parse()?;
/// assert_eq!(&received, keys.public());
/// # Ok::<(), homomorphic::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    point: RistrettoPoint,
    compressed: CompressedRistretto,
}

impl PublicKey {
    pub(crate) fn from_point(point: RistrettoPoint) -> Self {
        Self {
            point,
            compressed: point.compress(),
        }
    }

    /// The point `Y`.
    pub(crate) fn point(&self) -> RistrettoPoint {
        self.point
    }

    /// Decodes and validates a public key: exactly 32 bytes, the canonical
    /// encoding of a Ristretto255 point, not the identity. Never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array = <[u8; POINT_LEN]>::try_from(bytes).map_err(|_| Error::WrongLength {
            what: "public key",
            expected: KEY_LEN,
            actual: bytes.len(),
        })?;
        let point = point::decode(&array, "public key")?;
        if point.is_identity() {
            return Err(Error::IdentityPublicKey);
        }
        Ok(Self {
            point,
            compressed: CompressedRistretto(array),
        })
    }

    /// The canonical 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.compressed.to_bytes()
    }

    /// Encrypts `amount` with fresh randomness `r`: `(r·G, amount·G + r·Y)`.
    ///
    /// Fails with [`Error::AmountTooLarge`] above [`MAX_AMOUNT`].
    ///
    /// ```
    /// use homomorphic::{KeyPair, MAX_AMOUNT, Error};
    ///
    /// let mut rng = rand::rngs::OsRng;
    /// let keys = KeyPair::generate(&mut rng);
    /// let a = keys.public().encrypt(1_000, &mut rng)?;
    /// let b = keys.public().encrypt(1_000, &mut rng)?;
    /// assert_ne!(a, b); // randomized: equal amounts do not show
    /// assert_eq!(
    ///     keys.public().encrypt(MAX_AMOUNT + 1, &mut rng),
    ///     Err(Error::AmountTooLarge { amount: MAX_AMOUNT + 1, max: MAX_AMOUNT })
    /// );
    /// # Ok::<(), homomorphic::Error>(())
    /// ```
    pub fn encrypt<R: RngCore + CryptoRng>(&self, amount: u64, rng: &mut R) -> Result<Ciphertext> {
        if amount > MAX_AMOUNT {
            return Err(Error::AmountTooLarge {
                amount,
                max: MAX_AMOUNT,
            });
        }
        let mut r = Scalar::random(rng);
        let c1 = RistrettoPoint::mul_base(&r);
        let c2 = RistrettoPoint::mul_base(&Scalar::from(amount)) + r * self.point;
        r.zeroize();
        Ok(Ciphertext::from_points(c1, c2))
    }

    /// The same plaintext under fresh randomness: adds an encryption of
    /// zero. Apply it to a sum before publishing it, so the sum cannot be
    /// matched against its inputs. Anyone holding the public key can do it.
    ///
    /// ```
    /// use homomorphic::{DiscreteLogTable, KeyPair};
    ///
    /// let mut rng = rand::rngs::OsRng;
    /// let keys = KeyPair::generate(&mut rng);
    /// let sum = keys.public().encrypt(7, &mut rng)?;
    /// let fresh = keys.public().rerandomize(&sum, &mut rng);
    /// assert_ne!(fresh, sum);
    /// let table = DiscreteLogTable::with_params(4, 100)?;
    /// assert_eq!(keys.secret().decrypt(&fresh, &table)?, 7);
    /// # Ok::<(), homomorphic::Error>(())
    /// ```
    pub fn rerandomize<R: RngCore + CryptoRng>(
        &self,
        ciphertext: &Ciphertext,
        rng: &mut R,
    ) -> Ciphertext {
        let mut r = Scalar::random(rng);
        let (c1, c2) = ciphertext.points();
        let fresh = Ciphertext::from_points(c1 + RistrettoPoint::mul_base(&r), c2 + r * self.point);
        r.zeroize();
        fresh
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Display for PublicKey {
    /// Lower-case hex of the 32-byte encoding.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    /// Parses 64 hex digits (either case) and validates as
    /// [`PublicKey::from_bytes`] does.
    fn from_str(s: &str) -> Result<Self> {
        Self::from_bytes(&point::decode_hex::<KEY_LEN>(s, "public key")?)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A secret key with its public key, as the requesting institution holds
/// them. Encodes as the secret key's 32 bytes.
///
/// ```
/// use homomorphic::KeyPair;
///
/// let keys = KeyPair::generate(&mut rand::rngs::OsRng);
/// let again = KeyPair::from_bytes(&keys.to_bytes())?;
/// assert_eq!(again.public(), keys.public());
/// # Ok::<(), homomorphic::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyPair {
    secret: SecretKey,
    public: PublicKey,
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_secret(SecretKey::generate(rng))
    }

    /// The key pair of an existing secret key.
    pub fn from_secret(secret: SecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    /// Decodes the secret key's 32 bytes, as [`SecretKey::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        SecretKey::from_bytes(bytes).map(Self::from_secret)
    }

    /// The secret key's 32 bytes. Handle them as a secret.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.secret.to_bytes()
    }

    /// The secret half, for decryption.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The public half, to send to the data providers.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn key_generation_is_deterministic_given_the_rng() {
        let a = KeyPair::generate(&mut StdRng::seed_from_u64(7));
        let b = KeyPair::generate(&mut StdRng::seed_from_u64(7));
        let c = KeyPair::generate(&mut StdRng::seed_from_u64(8));
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(a.public(), b.public());
        assert_ne!(a.public(), c.public());
    }

    #[test]
    fn public_key_is_the_secret_times_the_basepoint() {
        let keys = KeyPair::generate(&mut StdRng::seed_from_u64(1));
        let x = Scalar::from_canonical_bytes(keys.to_bytes()).unwrap();
        assert_eq!(keys.public().point, x * RISTRETTO_BASEPOINT_POINT);
        assert_eq!(
            PublicKey::from_bytes(&keys.public().to_bytes()).unwrap(),
            *keys.public()
        );
    }

    #[test]
    fn secret_key_decoding_refuses_bad_input() {
        assert_eq!(
            SecretKey::from_bytes(&[1; 31]).unwrap_err(),
            Error::WrongLength {
                what: "secret key",
                expected: 32,
                actual: 31
            }
        );
        assert_eq!(
            SecretKey::from_bytes(&[0; 32]).unwrap_err(),
            Error::ZeroSecretKey
        );
        // 2^256 - 1 is far above the group order.
        assert_eq!(
            SecretKey::from_bytes(&[0xff; 32]).unwrap_err(),
            Error::NonCanonicalSecretKey
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        let key = SecretKey::from_bytes(&one).unwrap();
        assert_eq!(key.public_key().point, RISTRETTO_BASEPOINT_POINT);
    }

    #[test]
    fn public_key_decoding_refuses_bad_input() {
        assert_eq!(
            PublicKey::from_bytes(&[0; 33]).unwrap_err(),
            Error::WrongLength {
                what: "public key",
                expected: 32,
                actual: 33
            }
        );
        assert_eq!(
            PublicKey::from_bytes(&[0; 32]).unwrap_err(),
            Error::IdentityPublicKey
        );
        let mut odd = RISTRETTO_BASEPOINT_POINT.compress().to_bytes();
        odd[0] |= 1;
        assert_eq!(
            PublicKey::from_bytes(&odd).unwrap_err(),
            Error::NonCanonicalPoint { what: "public key" }
        );
        assert!(matches!(
            "xyz".parse::<PublicKey>(),
            Err(Error::InvalidHex {
                what: "public key",
                ..
            })
        ));
        assert_eq!(
            "00".parse::<PublicKey>().unwrap_err(),
            Error::WrongLength {
                what: "public key",
                expected: 32,
                actual: 1
            }
        );
    }

    #[test]
    fn public_key_text_and_serde_are_hex() {
        let keys = KeyPair::generate(&mut StdRng::seed_from_u64(2));
        let text = keys.public().to_string();
        assert_eq!(text, hex::encode(keys.public().to_bytes()));
        assert_eq!(
            text.to_uppercase().parse::<PublicKey>().unwrap(),
            *keys.public()
        );
        let json = serde_json::to_string(keys.public()).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<PublicKey>(&json).unwrap(),
            *keys.public()
        );
        assert!(serde_json::from_str::<PublicKey>(&format!("\"{}\"", "00".repeat(32))).is_err());
    }

    #[test]
    fn secret_key_debug_is_redacted() {
        let keys = KeyPair::generate(&mut StdRng::seed_from_u64(3));
        let shown = format!("{keys:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains(&hex::encode(keys.to_bytes())));
    }

    #[test]
    fn encryption_refuses_amounts_above_the_maximum() {
        let keys = KeyPair::generate(&mut StdRng::seed_from_u64(4));
        let mut rng = StdRng::seed_from_u64(5);
        assert!(keys.public().encrypt(MAX_AMOUNT, &mut rng).is_ok());
        assert_eq!(
            keys.public().encrypt(u64::MAX, &mut rng),
            Err(Error::AmountTooLarge {
                amount: u64::MAX,
                max: MAX_AMOUNT
            })
        );
    }

    #[test]
    fn encryption_is_exponential_elgamal() {
        let keys = KeyPair::generate(&mut StdRng::seed_from_u64(6));
        let ciphertext = keys
            .public()
            .encrypt(42, &mut StdRng::seed_from_u64(9))
            .unwrap();
        let r = Scalar::random(&mut StdRng::seed_from_u64(9));
        let (c1, c2) = ciphertext.points();
        assert_eq!(c1, RistrettoPoint::mul_base(&r));
        assert_eq!(
            c2,
            Scalar::from(42u64) * RISTRETTO_BASEPOINT_POINT + r * keys.public().point
        );
    }
}
