//! The one error type of `protocol`.

/// What was wrong with a value or an encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A hex string did not decode to the expected bytes.
    #[error("invalid {what} hex: {reason}")]
    InvalidHex {
        /// Which value was being parsed.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A chain id broke the naming rule.
    #[error("invalid chain id {value:?}: {reason}")]
    InvalidChainId {
        /// The rejected value.
        value: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// An institution id broke the naming rule.
    #[error("invalid institution id {value:?}: {reason}")]
    InvalidInstitutionId {
        /// The rejected value.
        value: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A unified social credit code was malformed or had a wrong check digit.
    #[error("invalid unified social credit code {value:?}: {reason}")]
    InvalidEnterpriseId {
        /// The rejected value.
        value: String,
        /// What was wrong.
        reason: String,
    },
    /// A time was not RFC 3339 or out of the representable range.
    #[error("invalid time {value:?}: {reason}")]
    InvalidTime {
        /// The rejected value.
        value: String,
        /// What was wrong.
        reason: String,
    },
    /// A height of zero (heights start at 1).
    #[error("invalid height 0: heights start at 1")]
    ZeroHeight,
    /// A validator set broke a structural rule.
    #[error("invalid validator set: {0}")]
    InvalidValidatorSet(String),
    /// A currency code was not three uppercase ASCII letters.
    #[error("invalid currency code {0:?}: expected three uppercase letters such as CNY")]
    InvalidCurrency(String),
    /// Canonical bytes failed to decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// The type being decoded.
        what: &'static str,
        /// Why decoding failed.
        reason: String,
    },
}
