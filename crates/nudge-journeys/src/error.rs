//! The one error of this crate: a refused journey document, naming the offending node.

/// A journey document was refused. `pointer` is the JSON pointer of the offending node
/// (`/steps/2/branch/then`; `""` is the whole document).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct JourneyError {
    pub pointer: String,
    pub message: String,
}

impl JourneyError {
    pub(crate) fn at(pointer: &str, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.to_string(),
            message: message.into(),
        }
    }
}
