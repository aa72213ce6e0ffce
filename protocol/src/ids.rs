//! Identifiers: chains, institutions, enterprises.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::encoding::{Canonical, invalid_data};

/// Checks the shared naming rule of chain and institution ids:
/// lowercase ASCII letters, digits and '-', 3 to 48 characters.
fn check_name(s: &str) -> Result<(), &'static str> {
    if s.len() < 3 {
        return Err("shorter than 3 characters");
    }
    if s.len() > 48 {
        return Err("longer than 48 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("only lowercase ascii letters, digits and '-' are allowed");
    }
    Ok(())
}

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                let check: fn(&str) -> Result<(), Error> = $check;
                check(s)?;
                Ok($name(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl BorshDeserialize for $name {
            fn deserialize_reader<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Self> {
                let s = String::deserialize_reader(reader)?;
                s.parse().map_err(invalid_data)
            }
        }

        impl Canonical for $name {
            const TYPE_NAME: &'static str = stringify!($name);
        }
    };
}

validated_string!(
    /// A chain's id, e.g. `shaanxi` or `guangdong-2`: lowercase ASCII
    /// letters, digits and '-', 3 to 48 characters.
    ///
    /// ```
    /// use protocol::ChainId;
    /// assert!("shaanxi".parse::<ChainId>().is_ok());
    /// assert!("Shaanxi".parse::<ChainId>().is_err());
    /// assert!("sx".parse::<ChainId>().is_err());
    /// ```
    ChainId,
    |s| check_name(s).map_err(|reason| Error::InvalidChainId { value: s.to_owned(), reason })
);

validated_string!(
    /// An institution's id on its chain (a bank, a credit bureau, a data
    /// provider, the regulator): same rule as [`ChainId`].
    InstitutionId,
    |s| check_name(s).map_err(|reason| Error::InvalidInstitutionId { value: s.to_owned(), reason })
);

validated_string!(
    /// An enterprise's unified social credit code (统一社会信用代码), the
    /// 18-character id of GB 32100-2015, with its check digit validated.
    ///
    /// ```
    /// use protocol::EnterpriseId;
    /// assert!("91350100M000100Y43".parse::<EnterpriseId>().is_ok());
    /// let err = "91350100M000100Y44".parse::<EnterpriseId>().unwrap_err();
    /// assert!(err.to_string().contains("check digit"));
    /// ```
    EnterpriseId,
    check_uscc
);

/// The 31 characters of GB 32100-2015 (no I, O, S, V, Z), in value order.
const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Position weights 3^i mod 31 of GB 32100-2015 for the first 17 characters.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_value(c: u8) -> Option<u32> {
    USCC_CHARSET.iter().position(|&x| x == c).map(|v| v as u32)
}

/// Validates an 18-character unified social credit code (GB 32100-2015).
fn check_uscc(s: &str) -> Result<(), Error> {
    let fail = |reason: String| Error::InvalidEnterpriseId {
        value: s.to_owned(),
        reason,
    };
    let bytes = s.as_bytes();
    if bytes.len() != 18 || s.chars().count() != 18 {
        return Err(fail(format!(
            "expected 18 characters, got {}",
            s.chars().count()
        )));
    }
    let mut sum = 0u32;
    for (i, &c) in bytes[..17].iter().enumerate() {
        let v = uscc_value(c).ok_or_else(|| {
            fail(format!(
                "character {:?} at position {} is not in the GB 32100-2015 set 0-9 A-Y without I, O, S, V, Z",
                c as char,
                i + 1
            ))
        })?;
        sum += v * USCC_WEIGHTS[i];
    }
    // Positions 3-8 are an administrative division code: digits only.
    if let Some(pos) = bytes[2..8].iter().position(|b| !b.is_ascii_digit()) {
        return Err(fail(format!(
            "position {} must be a digit (administrative division code)",
            pos + 3
        )));
    }
    let expected = USCC_CHARSET[((31 - sum % 31) % 31) as usize];
    if bytes[17] != expected {
        return Err(fail(format!(
            "wrong check digit {:?}, expected {:?}",
            bytes[17] as char, expected as char
        )));
    }
    Ok(())
}

impl EnterpriseId {
    /// Completes a 17-character prefix with its GB 32100-2015 check digit;
    /// handy for generating sample enterprises.
    ///
    /// ```
    /// use protocol::EnterpriseId;
    /// let id = EnterpriseId::with_check_digit("91350100M000100Y4").unwrap();
    /// assert_eq!(id.as_str(), "91350100M000100Y43");
    /// ```
    pub fn with_check_digit(prefix: &str) -> Result<EnterpriseId, Error> {
        let mut sum = 0u32;
        if prefix.len() != 17 {
            return Err(Error::InvalidEnterpriseId {
                value: prefix.to_owned(),
                reason: format!("prefix must have 17 characters, got {}", prefix.len()),
            });
        }
        for (i, c) in prefix.bytes().enumerate() {
            let v = uscc_value(c).ok_or_else(|| Error::InvalidEnterpriseId {
                value: prefix.to_owned(),
                reason: format!(
                    "character {:?} at position {} is not allowed",
                    c as char,
                    i + 1
                ),
            })?;
            sum += v * USCC_WEIGHTS[i];
        }
        let check = USCC_CHARSET[((31 - sum % 31) % 31) as usize] as char;
        format!("{prefix}{check}").parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_rules() {
        for ok in ["abc", "shaanxi", "guangdong-2", &"a".repeat(48)] {
            assert!(ok.parse::<ChainId>().is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Shaanxi",
            "shaan xi",
            "shaanxi_1",
            "陕西省链",
            &"a".repeat(49),
        ] {
            let err = bad.parse::<ChainId>().unwrap_err();
            assert!(err.to_string().contains("invalid chain id"), "{bad}: {err}");
        }
    }

    #[test]
    fn real_codes_pass_and_wrong_check_digit_fails() {
        for ok in ["91350100M000100Y43", "91110000600037341L"] {
            ok.parse::<EnterpriseId>().unwrap();
        }
        let err = "91110000600037341M".parse::<EnterpriseId>().unwrap_err();
        assert!(
            err.to_string()
                .contains("wrong check digit 'M', expected 'L'"),
            "{err}"
        );
        let err = "9111000060003734".parse::<EnterpriseId>().unwrap_err();
        assert!(err.to_string().contains("expected 18 characters"), "{err}");
        let err = "91110000600037I41L".parse::<EnterpriseId>().unwrap_err();
        assert!(err.to_string().contains("position 15"), "{err}");
        let err = "91A10000600037341L".parse::<EnterpriseId>().unwrap_err();
        assert!(err.to_string().contains("administrative division"), "{err}");
    }

    #[test]
    fn check_digit_completion_round_trips() {
        let id = EnterpriseId::with_check_digit("91110000600037341").unwrap();
        assert_eq!(id.as_str(), "91110000600037341L");
    }

    #[test]
    fn borsh_decoding_validates() {
        let bytes = borsh::to_vec(&"Bad Id".to_string()).unwrap();
        assert!(ChainId::from_canonical_bytes(&bytes).is_err());
        let json = serde_json::from_str::<EnterpriseId>("\"91350100M000100Y44\"");
        assert!(json.unwrap_err().to_string().contains("check digit"));
    }
}
