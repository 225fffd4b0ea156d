//! `Idempotency-Key` for transactional sends: the key (per workspace) is kept with the ledger
//! row the first request queued, together with a fingerprint of that request (SHA-256 of the
//! endpoint and the body's JSON with its keys sorted, so key order and whitespace do not
//! matter). A request repeating the key gets the first answer again; one that reuses the key
//! for a different request gets a 422 (the request is well-formed but cannot be processed
//! under that key), never a second message.

use axum::http::{HeaderMap, StatusCode};
use nudge_templates::Channel;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ApiError;

pub(super) const HEADER: &str = "idempotency-key";
/// The header a replayed answer carries.
pub(super) const REPLAYED_HEADER: &str = "idempotent-replayed";
const MAX_KEY_BYTES: usize = 255;

/// The request's key: 1 to 255 visible ASCII characters, or none.
pub(super) fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let refusal = || {
        ApiError::bad_request(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_BYTES} visible ASCII characters"),
        )
    };
    let text = value.to_str().map_err(|_| refusal())?.trim();
    let valid = !text.is_empty()
        && text.len() <= MAX_KEY_BYTES
        && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if valid {
        Ok(Some(text.to_string()))
    } else {
        Err(refusal())
    }
}

/// What identifies a request under a key: the endpoint and the body's canonical JSON.
pub(super) fn fingerprint(channel: Channel, body: &Value) -> String {
    let mut text = format!("/v1/send/{}\n", channel.as_str());
    canonical(body, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The key reused for another request.
pub(super) fn mismatch(key: &str) -> ApiError {
    ApiError {
        field: Some("Idempotency-Key".into()),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Idempotency-Key '{key}' was already used for a different request; \
                 use a new key for a new message"
            ),
        )
    }
}

/// JSON with object keys in sorted order, so equal documents print alike.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (n, (key, value)) in entries.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprints_ignore_key_order_but_not_content_or_endpoint() {
        let a: Value = serde_json::from_str(
            r#"{"to": "a@b.c", "message_data": {"x": 1, "y": [1, {"b": 2, "a": 1}]}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"message_data": {"y": [1, {"a": 1, "b": 2}], "x": 1},   "to": "a@b.c"}"#,
        )
        .unwrap();
        assert_eq!(
            fingerprint(Channel::Email, &a),
            fingerprint(Channel::Email, &b)
        );
        assert_ne!(
            fingerprint(Channel::Email, &a),
            fingerprint(Channel::Sms, &a)
        );
        let c = json!({"to": "a@b.c", "message_data": {"x": 2, "y": [1, {"a": 1, "b": 2}]}});
        assert_ne!(
            fingerprint(Channel::Email, &a),
            fingerprint(Channel::Email, &c)
        );
        let arrays = json!({"y": [2, 1]});
        assert_ne!(
            fingerprint(Channel::Email, &arrays),
            fingerprint(Channel::Email, &json!({"y": [1, 2]}))
        );
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255_bytes() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(HEADER, value.parse().unwrap());
            key(&headers)
        };
        assert_eq!(key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(with(" order-7 ").unwrap().as_deref(), Some("order-7"));
        assert!(with("").is_err());
        assert!(with(&"k".repeat(256)).is_err());
        assert!(with(&"k".repeat(255)).is_ok());
    }
}
