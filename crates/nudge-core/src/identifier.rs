//! Identifiers that address a person: the stable `id`, `email` (case-insensitive), `phone`
//! (E.164), the system `cio_id`, and anonymous ids. Parsing here decides which is which.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    Id,
    Email,
    Phone,
    CioId,
    AnonymousId,
}

impl IdentifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::Id => "id",
            IdentifierKind::Email => "email",
            IdentifierKind::Phone => "phone",
            IdentifierKind::CioId => "cio_id",
            IdentifierKind::AnonymousId => "anonymous_id",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            IdentifierKind::Id,
            IdentifierKind::Email,
            IdentifierKind::Phone,
            IdentifierKind::CioId,
            IdentifierKind::AnonymousId,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One identifier, normalised: emails are lower-cased so lookups are case-insensitive.
/// Construct through [`Identifier::new`] or [`Identifier::infer_from_path`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identifier {
    kind: IdentifierKind,
    value: String,
}

/// Why a value cannot be an identifier of the requested kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("{0} cannot be an empty string")]
    Empty(&'static str),
    #[error("{0} cannot be longer than 150 bytes")]
    TooLong(&'static str),
    #[error("email '{0}' is not a valid email address")]
    BadEmail(String),
    #[error("phone '{0}' is not an E.164 number (such as +15555550100)")]
    BadPhone(String),
}

pub const MAX_IDENTIFIER_BYTES: usize = 150;

impl Identifier {
    pub fn new(kind: IdentifierKind, value: &str) -> Result<Self, IdentifierError> {
        let name = kind.as_str();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(IdentifierError::Empty(name));
        }
        if trimmed.len() > MAX_IDENTIFIER_BYTES {
            return Err(IdentifierError::TooLong(name));
        }
        let value = match kind {
            IdentifierKind::Email => {
                if !looks_like_email(trimmed) {
                    return Err(IdentifierError::BadEmail(trimmed.to_string()));
                }
                trimmed.to_lowercase()
            }
            IdentifierKind::Phone => {
                if !is_e164(trimmed) {
                    return Err(IdentifierError::BadPhone(trimmed.to_string()));
                }
                trimmed.to_string()
            }
            // Ids are kept exactly as sent: "A1" and "a1" are different people.
            _ => value.to_string(),
        };
        Ok(Self { kind, value })
    }

    /// The Track v1 rule for `{identifier}` in a path: email-shaped means email, a `cio_`
    /// prefix means cio_id, anything else is an id (a phone number there is an id).
    pub fn infer_from_path(decoded: &str) -> Result<Self, IdentifierError> {
        if let Some(cio) = decoded.strip_prefix("cio_") {
            return Self::new(IdentifierKind::CioId, cio);
        }
        if looks_like_email(decoded.trim()) {
            return Self::new(IdentifierKind::Email, decoded);
        }
        Self::new(IdentifierKind::Id, decoded)
    }

    pub fn kind(&self) -> IdentifierKind {
        self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.kind.as_str(), self.value)
    }
}

/// A pragmatic shape check: one `@`, something before it, a dot in the domain, no spaces.
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, kind: IdentifierKind, value: &str) {
        let id = Identifier::infer_from_path(path).unwrap();
        assert_eq!((id.kind(), id.value()), (kind, value), "for {path}");
    }

    #[test]
    fn path_values_are_inferred_by_shape() {
        check("c-1001", IdentifierKind::Id, "c-1001");
        check("Ana@Example.COM", IdentifierKind::Email, "ana@example.com");
        check("cio_a1b2", IdentifierKind::CioId, "a1b2");
        check("+15555550100", IdentifierKind::Id, "+15555550100");
    }

    #[test]
    fn bad_identifiers_are_refused_with_their_name() {
        assert_eq!(
            Identifier::new(IdentifierKind::Id, " ")
                .unwrap_err()
                .to_string(),
            "id cannot be an empty string"
        );
        assert!(Identifier::new(IdentifierKind::Id, &"x".repeat(151)).is_err());
        assert!(Identifier::new(IdentifierKind::Email, "no-at-sign").is_err());
        assert!(Identifier::new(IdentifierKind::Phone, "5555550100").is_err());
        assert!(Identifier::new(IdentifierKind::Phone, "+15555550100").is_ok());
    }
}
