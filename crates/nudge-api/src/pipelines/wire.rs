//! The Segment-spec message as it arrives on the Pipelines wire: a borrowed view of the JSON
//! object (every field stays a JSON value until asked for) and the typed reads that turn a
//! field into an id, an object or a point in time, each failure a 400 naming the field. The
//! domain mapping lives in `convert`; nothing here decides what a message means.

use nudge_core::{Identifier, IdentifierKind, JsonMap, Timestamp};
use serde_json::Value;

use crate::ApiError;

/// The six Segment calls; in `/v1/batch` each item names its own in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl MessageType {
    pub const ALL: [MessageType; 6] = [
        MessageType::Identify,
        MessageType::Track,
        MessageType::Page,
        MessageType::Screen,
        MessageType::Group,
        MessageType::Alias,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Identify => "identify",
            MessageType::Track => "track",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Group => "group",
            MessageType::Alias => "alias",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One message, borrowed. `null` reads as absent everywhere, as Segment's clients write it.
#[derive(Clone, Copy)]
pub struct Message<'a> {
    map: &'a JsonMap,
}

impl<'a> Message<'a> {
    pub fn new(map: &'a JsonMap) -> Self {
        Self { map }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A nested value such as `context.device.token`.
    pub fn path(&self, keys: &[&str]) -> Option<&'a Value> {
        let (first, rest) = keys.split_first()?;
        let mut value = self.get(first)?;
        for key in rest {
            value = value.get(key).filter(|v| !v.is_null())?;
        }
        Some(value)
    }

    /// `userId`: an email-shaped value is an email identifier, anything else an id.
    pub fn user(&self) -> Result<Option<Identifier>, ApiError> {
        let Some(text) = id_text(self.get("userId"), "userId")? else {
            return Ok(None);
        };
        let kind = if nudge_core::identifier::looks_like_email(text.trim()) {
            IdentifierKind::Email
        } else {
            IdentifierKind::Id
        };
        Identifier::new(kind, &text)
            .map(Some)
            .map_err(|e| ApiError::bad_request("userId", e.to_string()))
    }

    /// `anonymousId`, checked as an anonymous identifier.
    pub fn anonymous_id(&self) -> Result<Option<String>, ApiError> {
        let Some(text) = id_text(self.get("anonymousId"), "anonymousId")? else {
            return Ok(None);
        };
        anonymous(&text, "anonymousId").map(|_| Some(text))
    }

    /// Who the message is about: the user when known, else the anonymous profile.
    pub fn person(&self) -> Result<Identifier, ApiError> {
        if let Some(user) = self.user()? {
            return Ok(user);
        }
        match self.anonymous_id()? {
            Some(anon) => anonymous(&anon, "anonymousId"),
            None => Err(ApiError::bad_request(
                "userId",
                "the message needs a userId or an anonymousId",
            )),
        }
    }

    /// An optional object field, such as `traits` or `properties`.
    pub fn object(&self, key: &str) -> Result<Option<&'a JsonMap>, ApiError> {
        object(self.get(key), key)
    }
}

/// An anonymous-id identifier, the error naming `field`.
pub fn anonymous(value: &str, field: &str) -> Result<Identifier, ApiError> {
    Identifier::new(IdentifierKind::AnonymousId, value)
        .map_err(|e| ApiError::bad_request(field, e.to_string()))
}

/// An id-like field: a string, or an integer (stored as its decimal text). Blank is absent.
pub fn id_text(value: Option<&Value>, field: &str) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(ApiError::bad_request(
            field,
            format!("{field} must be a string, got {}", kind_of(other)),
        )),
    }
}

pub fn object<'v>(value: Option<&'v Value>, field: &str) -> Result<Option<&'v JsonMap>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(ApiError::bad_request(
            field,
            format!("{field} must be an object, got {}", kind_of(other)),
        )),
    }
}

/// An ISO-8601 date-time, as Segment's clients write them (`2024-05-01T10:00:00.000Z`).
/// Offsets are honoured; a date-time without one is UTC; a bare date is midnight UTC.
pub fn iso_time(value: Option<&Value>, field: &str) -> Result<Option<Timestamp>, ApiError> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim(),
        Some(other) => {
            return Err(ApiError::bad_request(
                field,
                format!(
                    "{field} must be an ISO-8601 date-time string, got {}",
                    kind_of(other)
                ),
            ))
        }
    };
    parse_iso(text).map(Some).ok_or_else(|| {
        ApiError::bad_request(
            field,
            format!(
                "{field} must be an ISO-8601 date-time such as 2024-05-01T10:00:00Z, got '{text}'"
            ),
        )
    })
}

fn parse_iso(text: &str) -> Option<Timestamp> {
    if let Some(at) = Timestamp::parse_rfc3339(text) {
        return Some(at);
    }
    let is_date = |s: &str| {
        s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    if is_date(text) {
        return Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z"));
    }
    // A date-time without an offset: only when the text after the date has no zone of its own.
    let (date, time) = (text.get(..10)?, text.get(11..)?);
    if is_date(date) && !time.contains(['Z', 'z', '+', '-']) {
        return Timestamp::parse_rfc3339(&format!("{text}Z"));
    }
    None
}

pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(value: Value) -> JsonMap {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn user_ids_that_look_like_emails_are_emails() {
        let map = message(json!({"userId": "Ana@Example.com"}));
        let user = Message::new(&map).user().unwrap().unwrap();
        assert_eq!(
            (user.kind(), user.value()),
            (IdentifierKind::Email, "ana@example.com")
        );
        let map = message(json!({"userId": 42}));
        let user = Message::new(&map).user().unwrap().unwrap();
        assert_eq!((user.kind(), user.value()), (IdentifierKind::Id, "42"));
        let map = message(json!({"userId": ["x"]}));
        let e = Message::new(&map).user().unwrap_err();
        assert_eq!(e.field.as_deref(), Some("userId"));
    }

    #[test]
    fn the_person_is_the_user_else_the_anonymous_profile() {
        let map = message(json!({"userId": "", "anonymousId": "anon-1"}));
        let person = Message::new(&map).person().unwrap();
        assert_eq!(person.kind(), IdentifierKind::AnonymousId);
        let map = message(json!({"anonymousId": "x".repeat(151)}));
        let e = Message::new(&map).person().unwrap_err();
        assert_eq!(e.field.as_deref(), Some("anonymousId"));
        let map = message(json!({"event": "x"}));
        assert_eq!(
            Message::new(&map).person().unwrap_err().field.as_deref(),
            Some("userId")
        );
    }

    #[test]
    fn iso_times_parse_with_offsets_without_them_and_as_dates() {
        let at = |s: &str| iso_time(Some(&json!(s)), "timestamp").unwrap().unwrap();
        assert_eq!(at("2023-11-14T22:13:20.000Z").unix_seconds(), 1_700_000_000);
        assert_eq!(
            at("2023-11-14T23:13:20+01:00").unix_seconds(),
            1_700_000_000
        );
        assert_eq!(at("2023-11-14T22:13:20").unix_seconds(), 1_700_000_000);
        assert_eq!(at("2023-11-14").unix_seconds(), 1_699_920_000);
        for bad in [
            json!("yesterday"),
            json!(1_700_000_000),
            json!("2023-11-14T25:00:00Z"),
        ] {
            let e = iso_time(Some(&bad), "sentAt").unwrap_err();
            assert_eq!(e.field.as_deref(), Some("sentAt"), "{bad}");
        }
        assert_eq!(iso_time(None, "timestamp").unwrap(), None);
    }

    #[test]
    fn nested_paths_skip_nulls() {
        let map = message(json!({"context": {"device": {"token": "t", "type": null}}}));
        let m = Message::new(&map);
        assert_eq!(m.path(&["context", "device", "token"]), Some(&json!("t")));
        assert_eq!(m.path(&["context", "device", "type"]), None);
        assert_eq!(m.path(&["context", "page"]), None);
    }
}
