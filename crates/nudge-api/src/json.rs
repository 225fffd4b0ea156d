//! Decoding request bodies: UTF-8, JSON syntax and the wire types' shapes, with every failure
//! turned into a 400 that names the offending field (`items[2].price: invalid type …`).

use nudge_core::JsonMap;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Decodes `bytes` as `T`. Errors name the JSON path of the bad value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::bad_request("", "request body is not valid UTF-8"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = strip_position(&inner.to_string());
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request("", format!("malformed JSON: {message}"))
        } else if path == "." {
            ApiError::bad_request("", message)
        } else {
            ApiError::bad_request(path, message)
        }
    })?;
    deserializer.end().map_err(|e| {
        ApiError::bad_request(
            "",
            format!("malformed JSON: {}", strip_position(&e.to_string())),
        )
    })?;
    Ok(value)
}

/// Decodes a body that must be a JSON object; an empty body counts as `{}`.
pub fn decode_object(bytes: &[u8]) -> Result<JsonMap, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(JsonMap::new());
    }
    match decode::<serde_json::Value>(bytes)? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "",
            "request body must be a JSON object",
        )),
    }
}

/// serde_json appends " at line 1 column 7"; the byte position helps nobody reading an API
/// error about a field, but it does for syntax errors, so only positions of field errors go.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains("column") => message[..at].to_string(),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Event {
        name: String,
        data: Option<JsonMap>,
    }

    #[test]
    fn errors_name_the_field() {
        let e = decode::<Event>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"));
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let e = decode::<Event>(br#"{"name": "x", "data": "text"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("data"));
        let e = decode::<Event>(br#"{"data": {}}"#).unwrap_err();
        assert!(e.message.contains("missing field `name`"), "{}", e.message);
    }

    #[test]
    fn syntax_utf8_and_nesting_are_client_errors() {
        assert!(decode::<Event>(b"{\"name\": ")
            .unwrap_err()
            .message
            .starts_with("malformed JSON"));
        assert_eq!(
            decode::<Event>(b"{\"name\": \"\xff\"}")
                .unwrap_err()
                .message,
            "request body is not valid UTF-8"
        );
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(
            decode::<serde_json::Value>(deep.as_bytes())
                .unwrap_err()
                .status,
            400
        );
        assert!(decode_object(b"[1]").is_err());
        assert!(decode_object(b"  ").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Err(e) = decode::<Event>(&bytes) {
                prop_assert_eq!(e.status.as_u16(), 400);
            }
            let _ = decode_object(&bytes);
        }
    }
}
