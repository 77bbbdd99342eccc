//! The one error type of the suite: a case that could not be measured says
//! why in words, and the report prints them.

use std::fmt;

/// Why a case (or the setup of a run) failed: what was being done and the
/// underlying error, as text for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchError {
    message: String,
}

impl BenchError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        BenchError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BenchError {}

/// The crate's result type.
pub(crate) type Result<T> = std::result::Result<T, BenchError>;

/// Adds what was being done to any displayable error:
/// `mkfifo(path).map_err(ctx("mkfifo"))`.
pub(crate) fn ctx<E: fmt::Display>(what: &str) -> impl FnOnce(E) -> BenchError + '_ {
    move |e| BenchError::new(format!("{what}: {e}"))
}

/// Shorthand for an error built from text.
pub(crate) fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(BenchError::new(message))
}
