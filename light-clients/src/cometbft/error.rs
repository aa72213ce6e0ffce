//! Errors for malformed vector files.

/// A vector file that cannot be run, naming the field at fault.
///
/// Field paths are written as in the file, e.g.
/// `primary.lite_blocks[3].signed_header` or `input[1].verdict`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VectorError {
    /// The text is not JSON at all.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// The JSON is not an object with the fields of a known format.
    #[error(
        "unrecognised vector format: expected `initial` and `input` (single_step) \
         or `trust_options` and `primary` (bisection)"
    )]
    UnknownFormat,
    /// A required field is absent.
    #[error("missing field `{field}`")]
    MissingField {
        /// Path of the missing field.
        field: String,
    },
    /// A field is present but its value is wrong.
    #[error("field `{field}`: {reason}")]
    InvalidField {
        /// Path of the offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl VectorError {
    /// The path of the field at fault, if the error is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            VectorError::MissingField { field } | VectorError::InvalidField { field, .. } => {
                Some(field)
            }
            VectorError::Json(_) | VectorError::UnknownFormat => None,
        }
    }
}
