//! The canonical binary encoding: what is signed and hashed.
//!
//! Every wire type encodes with [borsh], which gives exactly one byte string
//! per value (fixed-width little-endian integers, length-prefixed sequences,
//! no maps, no floats). Decoding is strict: trailing bytes, unknown enum
//! tags, invalid UTF-8 and values that fail validation (a bad chain id, an
//! unsorted validator set) are errors, so `decode(encode(x)) == x` and
//! `encode(decode(b)) == b` for every accepted `b`.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::{Error, Hash};

/// A type with one canonical byte encoding.
///
/// ```
/// use protocol::{ChainId, Canonical};
/// let id: ChainId = "shaanxi".parse().unwrap();
/// let bytes = id.to_canonical_bytes();
/// assert_eq!(ChainId::from_canonical_bytes(&bytes).unwrap(), id);
/// assert!(ChainId::from_canonical_bytes(&bytes[..3]).is_err());
/// ```
pub trait Canonical: BorshSerialize + BorshDeserialize + Sized {
    /// Name used in error messages.
    const TYPE_NAME: &'static str;

    /// The canonical bytes of `self`.
    fn to_canonical_bytes(&self) -> Vec<u8> {
        // Writing into a Vec cannot fail; borsh only errors on writer I/O.
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes canonical bytes, rejecting trailing bytes and invalid values.
    fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, Error> {
        borsh::from_slice(bytes).map_err(|e| Error::Decode {
            what: Self::TYPE_NAME,
            reason: e.to_string(),
        })
    }

    /// Domain-separated SHA-256 of the canonical bytes, tagged by type.
    fn canonical_hash(&self) -> Hash {
        Hash::tagged(Self::TYPE_NAME.as_bytes(), &[&self.to_canonical_bytes()])
    }
}

/// Maps a validation error into the error borsh expects from a decoder.
pub(crate) fn invalid_data(err: Error) -> borsh::io::Error {
    borsh::io::Error::new(borsh::io::ErrorKind::InvalidData, err.to_string())
}

/// Serde through strings for a type with `FromStr<Err = Error>` and
/// `Display`: implements `TryFrom<String>` and `From<T> for String`, for use
/// with `#[serde(try_from = "String", into = "String")]`.
macro_rules! string_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = $crate::Error;
            fn try_from(s: String) -> Result<Self, $crate::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.to_string()
            }
        }
    };
}
pub(crate) use string_conversions;
