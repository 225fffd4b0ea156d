//! The email-only fields of a transactional send: one address (`to`, `from`, `reply_to`,
//! with an optional display name), extra `headers` (never one the email sets itself), and
//! `attachments` (file name → base64: valid base64, no executable types, under 2 MiB in all).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use serde_json::Value;

use super::request::Address;
use crate::ApiError;

/// Attachments must add up to less than this, decoded.
pub(super) const MAX_ATTACHMENT_BYTES: usize = 2 * 1024 * 1024;
/// File types mail providers refuse to carry (executables and scripts): a 403, as Customer.io
/// answers for a forbidden attachment type.
const FORBIDDEN_EXTENSIONS: [&str; 18] = [
    "exe", "bat", "cmd", "com", "cpl", "dll", "hta", "jar", "js", "jse", "lnk", "msi", "pif",
    "ps1", "scr", "vbe", "vbs", "wsf",
];
/// Headers the email itself sets; a request may not replace them.
const RESERVED_HEADERS: [&str; 16] = [
    "bcc",
    "cc",
    "content-transfer-encoding",
    "content-type",
    "date",
    "from",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "message-id",
    "mime-version",
    "reply-to",
    "return-path",
    "sender",
    "subject",
    "to",
    "x-nudge-signature",
];

/// One mailbox: `ana@example.com` or `Ana <ana@example.com>`.
pub(super) fn mailbox(field: &str, text: &str) -> Result<Address, ApiError> {
    let text = text.trim();
    let (name, address) = match (text.rfind('<'), text.ends_with('>')) {
        (Some(open), true) => {
            let name = text[..open].trim().trim_matches('"').trim();
            (
                (!name.is_empty()).then(|| name.to_string()),
                text[open + 1..text.len() - 1].trim(),
            )
        }
        _ => (None, text),
    };
    if text.matches('@').count() > 1 {
        return Err(ApiError::bad_request(
            field,
            "must be one email address: Nudge sends a transactional email to one recipient",
        ));
    }
    let valid = match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !address
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>(),;:\\\"[]".contains(c))
        }
        None => false,
    };
    if !valid
        || name
            .as_deref()
            .is_some_and(|n| n.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            field,
            format!("'{text}' is not an email address"),
        ));
    }
    Ok(Address {
        address: address.to_string(),
        name,
    })
}

/// `headers`: an object of header names to string values (or that object as JSON text, as
/// Customer.io's reference describes it). Names the email sets itself are refused.
pub(super) fn headers(value: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let parsed;
    let map = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(BTreeMap::new()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => {
                parsed = map;
                &parsed
            }
            _ => return Err(ApiError::bad_request("headers", "must be an object")),
        },
        Some(_) => return Err(ApiError::bad_request("headers", "must be an object")),
    };
    let mut headers = BTreeMap::new();
    for (name, value) in map {
        let field = format!("headers.{name}");
        let token = !name.is_empty()
            && name.len() <= 76
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(ApiError::bad_request(field, "is not a valid header name"));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(ApiError::bad_request(
                field,
                "is set by the email itself and cannot be given as a header",
            ));
        }
        let Value::String(text) = value else {
            return Err(ApiError::bad_request(field, "must be a string"));
        };
        if text.len() > 998 || text.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
            return Err(ApiError::bad_request(
                field,
                "must be one line of at most 998 bytes",
            ));
        }
        headers.insert(name.clone(), text.clone());
    }
    Ok(headers)
}

/// `attachments`: file name → base64 content. Returned re-encoded canonically; refused when
/// not base64 (400), of a forbidden type (403), or together 2 MiB or more decoded (413).
pub(super) fn attachments(value: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let map = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::bad_request("attachments", "must be an object")),
    };
    let mut total = 0;
    let mut files = BTreeMap::new();
    for (name, content) in map {
        let field = format!("attachments.{name}");
        let bad_name = name.trim().is_empty()
            || name.len() > 255
            || name == "."
            || name == ".."
            || name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\');
        if bad_name {
            return Err(ApiError::bad_request(field, "is not a usable file name"));
        }
        let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        if extension.is_some_and(|e| FORBIDDEN_EXTENSIONS.contains(&e.as_str())) {
            return Err(ApiError {
                field: Some(field),
                ..ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("attachment '{name}' is of a type that cannot be sent"),
                )
            });
        }
        let Value::String(encoded) = content else {
            return Err(ApiError::bad_request(field, "must be a base64 string"));
        };
        let compact: String = encoded
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = STANDARD
            .decode(&compact)
            .or_else(|_| STANDARD_NO_PAD.decode(&compact))
            .map_err(|_| ApiError::bad_request(field, "is not valid base64"))?;
        total += bytes.len();
        files.insert(name.clone(), STANDARD.encode(&bytes));
    }
    if total >= MAX_ATTACHMENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("attachments add up to {total} bytes; they must stay under 2 MiB"),
        ));
    }
    Ok(files)
}
