//! Configuration problems: where, what, and on which line.

use std::fmt;

use serde::Serialize;

/// One problem in a configuration file.
///
/// `location` is a path into the document (`chains[1].rpc[0]`,
/// `api.tokens[0].sha256`), or `line L, column C` for a TOML syntax error,
/// or `config` for the file as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// Where: a path into the document such as `paths[0].b`.
    pub location: String,
    /// What is wrong, naming the offending value.
    pub message: String,
    /// The 1-based line of the file the problem is on, when known.
    pub line: Option<usize>,
}

impl ConfigError {
    /// A problem at `location`, with no line.
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: location.into(),
            message: message.into(),
            line: None,
        }
    }
}

impl fmt::Display for ConfigError {
    /// `location: message`, followed by ` (line N)` when the location does
    /// not already name the line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        match self.line {
            Some(line) if !self.location.starts_with("line ") => write!(f, " (line {line})"),
            _ => Ok(()),
        }
    }
}

/// Every problem found in a configuration file (never empty when returned
/// as an error). Displays one problem per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems, in the order they were found (document order, then
    /// cross-section checks).
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
