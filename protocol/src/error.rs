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
}
