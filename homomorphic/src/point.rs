//! Strict decoding of 32-byte Ristretto255 encodings from untrusted bytes.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};

use crate::error::{Error, Result};

/// Length of one compressed Ristretto255 point.
pub(crate) const POINT_LEN: usize = 32;

/// Whether `bytes` is a canonical encoding of a field element that Ristretto
/// allows: below p = 2^255 - 19 and "non-negative" (lowest bit clear).
///
/// curve25519-dalek refuses these too, but only with `None`; checking first
/// lets the error say *non-canonical* rather than *not a point*.
pub(crate) fn is_canonical_encoding(bytes: &[u8; POINT_LEN]) -> bool {
    if bytes[0] & 1 == 1 || bytes[31] & 0x80 != 0 {
        return false;
    }
    // p in little-endian is ed ff ff .. ff 7f: the only values in
    // [p, 2^255) have top byte 7f, thirty ff bytes and a first byte >= ed.
    let at_least_p =
        bytes[31] == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed;
    !at_least_p
}

/// Decodes one point, saying which check failed. Never panics.
pub(crate) fn decode(bytes: &[u8; POINT_LEN], what: &'static str) -> Result<RistrettoPoint> {
    if !is_canonical_encoding(bytes) {
        return Err(Error::NonCanonicalPoint { what });
    }
    CompressedRistretto(*bytes)
        .decompress()
        .ok_or(Error::NotAPoint { what })
}

/// Decodes hex into exactly `N` bytes, naming `what` in errors.
pub(crate) fn decode_hex<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N]> {
    let bytes = hex::decode(s).map_err(|source| Error::InvalidHex { what, source })?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| Error::WrongLength {
        what,
        expected: N,
        actual: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;

    /// p = 2^255 - 19, little-endian.
    fn p_bytes() -> [u8; 32] {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    }

    #[test]
    fn real_points_are_canonical_and_decode_back() {
        let mut point = RISTRETTO_BASEPOINT_POINT;
        for _ in 0..50 {
            let bytes = point.compress().to_bytes();
            assert!(is_canonical_encoding(&bytes));
            assert_eq!(decode(&bytes, "test").unwrap(), point);
            point += RISTRETTO_BASEPOINT_POINT;
        }
    }

    #[test]
    fn field_elements_at_or_above_p_are_non_canonical() {
        // p + 1 is even, so only the range check can catch it.
        let mut p_plus_1 = p_bytes();
        p_plus_1[0] = 0xee;
        let mut top = [0xff; 32];
        top[0] = 0xfe;
        top[31] = 0x7f; // 2^255 - 2
        let mut high_bit = [0u8; 32];
        high_bit[31] = 0x80; // 2^255
        for bytes in [p_plus_1, top, high_bit] {
            assert!(!is_canonical_encoding(&bytes), "{}", hex::encode(bytes));
            assert_eq!(
                decode(&bytes, "x"),
                Err(Error::NonCanonicalPoint { what: "x" })
            );
            assert!(CompressedRistretto(bytes).decompress().is_none());
        }
        // p - 1 is even and below p: canonical as a field element.
        let mut p_minus_1 = p_bytes();
        p_minus_1[0] = 0xec;
        assert!(is_canonical_encoding(&p_minus_1));
    }

    #[test]
    fn negative_field_elements_are_non_canonical() {
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            decode(&one, "x"),
            Err(Error::NonCanonicalPoint { what: "x" })
        );
        let mut basepoint = RISTRETTO_BASEPOINT_POINT.compress().to_bytes();
        basepoint[0] |= 1;
        assert_eq!(
            decode(&basepoint, "x"),
            Err(Error::NonCanonicalPoint { what: "x" })
        );
    }

    #[test]
    fn canonical_non_points_are_reported_as_not_a_point() {
        // Small even field elements: about half of canonical encodings are
        // not points; find the first and check the error names it.
        let not_a_point = (1u8..=127)
            .map(|s| {
                let mut bytes = [0u8; 32];
                bytes[0] = s * 2;
                bytes
            })
            .find(|b| CompressedRistretto(*b).decompress().is_none())
            .expect("some small even s is not a Ristretto encoding");
        assert!(is_canonical_encoding(&not_a_point));
        assert_eq!(
            decode(&not_a_point, "public key"),
            Err(Error::NotAPoint { what: "public key" })
        );
    }

    #[test]
    fn hex_of_the_wrong_length_or_alphabet_is_refused() {
        assert_eq!(
            decode_hex::<4>("0011", "thing"),
            Err(Error::WrongLength {
                what: "thing",
                expected: 4,
                actual: 2
            })
        );
        assert!(matches!(
            decode_hex::<1>("zz", "thing"),
            Err(Error::InvalidHex { what: "thing", .. })
        ));
        assert_eq!(decode_hex::<2>("abCD", "thing"), Ok([0xab, 0xcd]));
    }
}
