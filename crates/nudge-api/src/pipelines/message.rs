//! One Pipelines message from arrival to an [`Accepted`] or a refusal: the batch's context and
//! integrations lent to it, the write key dropped (keys are never stored in clear), its time
//! worked out (client clock skew corrected as the Segment spec describes), the raw payload the
//! event log keeps, and the `messageId` dedupe key.

use nudge_core::{JsonMap, Operation, Timestamp};
use nudge_ingest::Accepted;
use serde_json::Value;

use super::convert;
use super::wire::{self, Message, MessageType};
use crate::ApiError;

/// Largest message, alone or as a batch item.
pub const MESSAGE_LIMIT: usize = 32 * 1024;
/// Longest `messageId` kept as a dedupe key (clients send 36 to about 60 characters).
const MAX_MESSAGE_ID_BYTES: usize = 256;
/// How much of an oversize or unreadable message a rejection keeps.
const EXCERPT_BYTES: usize = 4096;

/// What a batch's top level lends each of its items (the items' own values win).
#[derive(Debug, Default)]
pub struct Shared {
    pub context: Option<JsonMap>,
    pub integrations: Option<JsonMap>,
    pub sent_at: Option<Value>,
}

/// A message that could not be accepted: why, and what of it to keep.
#[derive(Debug)]
pub struct Refused {
    pub error: ApiError,
    pub raw: Value,
}

impl Refused {
    pub fn new(error: ApiError, raw: Value) -> Box<Self> {
        Box::new(Self { error, raw })
    }
}

/// One message's fate: committed as an operation, or refused (boxed: refusals are rare and
/// large, acceptances many).
pub type Verdict = Result<Accepted, Box<Refused>>;

/// Turns one message into what the writer commits. `kind` is the endpoint's type; `None`
/// (a batch item) reads it from the message's own `type`.
pub fn accept(
    value: Value,
    kind: Option<MessageType>,
    shared: &Shared,
    received_at: Timestamp,
) -> Verdict {
    let mut map = match value {
        Value::Object(map) => map,
        other => {
            let error = ApiError::bad_request(
                "",
                format!(
                    "a message must be a JSON object, got {}",
                    wire::kind_of(&other)
                ),
            );
            return Err(Refused::new(error, other));
        }
    };
    map.shift_remove("writeKey");
    lend(&mut map, shared);
    match decide(&mut map, kind, received_at) {
        Ok((operation, dedupe_key)) => Ok(Accepted {
            operation,
            dedupe_key,
            raw: Some(Value::Object(map)),
        }),
        Err(error) => Err(Refused::new(error, Value::Object(map))),
    }
}

fn decide(
    map: &mut JsonMap,
    kind: Option<MessageType>,
    received_at: Timestamp,
) -> Result<(Operation, Option<String>), ApiError> {
    let kind =
        match kind {
            Some(kind) => {
                // The endpoint decides the type, whatever the body says.
                map.insert("type".into(), Value::String(kind.as_str().into()));
                kind
            }
            None => match map.get("type") {
                Some(Value::String(s)) => MessageType::parse(s).ok_or_else(|| {
                    ApiError::bad_request(
                        "type",
                        format!(
                            "type must be identify, track, page, screen, group or alias, got '{s}'"
                        ),
                    )
                })?,
                _ => return Err(ApiError::bad_request(
                    "type",
                    "each batch item needs a type: identify, track, page, screen, group or alias",
                )),
            },
        };
    let msg = Message::new(map);
    msg.object("context")?;
    msg.object("integrations")?;
    let at = event_time(&msg, received_at)?;
    let operation = convert::operation(kind, &msg, at)?;
    let dedupe_key = match wire::id_text(msg.get("messageId"), "messageId")? {
        Some(id) if id.len() > MAX_MESSAGE_ID_BYTES => {
            return Err(ApiError::bad_request(
                "messageId",
                format!("messageId cannot be longer than {MAX_MESSAGE_ID_BYTES} bytes"),
            ))
        }
        Some(id) => Some(format!("message:{id}")),
        None => None,
    };
    map.insert("receivedAt".into(), Value::String(received_at.to_rfc3339()));
    if map.get("timestamp").is_none_or(Value::is_null) {
        let effective = at.unwrap_or(received_at);
        map.insert("timestamp".into(), Value::String(effective.to_rfc3339()));
    }
    Ok((operation, dedupe_key))
}

/// When the message happened. `timestamp` when given; otherwise, with `sentAt`, the client's
/// `originalTimestamp` moved by the client's clock skew: receivedAt − (sentAt −
/// originalTimestamp); otherwise `originalTimestamp`; otherwise `None` (receipt time).
fn event_time(msg: &Message<'_>, received_at: Timestamp) -> Result<Option<Timestamp>, ApiError> {
    let timestamp = wire::iso_time(msg.get("timestamp"), "timestamp")?;
    let original = wire::iso_time(msg.get("originalTimestamp"), "originalTimestamp")?;
    let sent_at = wire::iso_time(msg.get("sentAt"), "sentAt")?;
    Ok(match (timestamp, original, sent_at) {
        (Some(timestamp), _, _) => Some(timestamp),
        (None, Some(original), Some(sent)) => {
            Some(received_at.minus_millis(sent.millis() - original.millis()))
        }
        (None, original, _) => original,
    })
}

/// Lends the batch's context and integrations key by key (the item's own keys win) and its
/// `sentAt` to an item that has none.
fn lend(map: &mut JsonMap, shared: &Shared) {
    for (key, lent) in [
        ("context", &shared.context),
        ("integrations", &shared.integrations),
    ] {
        let Some(lent) = lent else { continue };
        match map.get_mut(key) {
            Some(Value::Object(own)) => {
                for (name, value) in lent {
                    if !own.contains_key(name) {
                        own.insert(name.clone(), value.clone());
                    }
                }
            }
            None | Some(Value::Null) => {
                map.insert(key.into(), Value::Object(lent.clone()));
            }
            // Not an object: left alone for `decide` to refuse by name.
            Some(_) => {}
        }
    }
    if let Some(sent_at) = &shared.sent_at {
        if map.get("sentAt").is_none_or(Value::is_null) {
            map.insert("sentAt".into(), sent_at.clone());
        }
    }
}

/// What a rejection keeps of bytes that are not a usable message: the text, or for anything
/// over the message limit its size and first few kilobytes. A `writeKey` in the text is
/// blanked out.
pub fn excerpt(bytes: &[u8]) -> Value {
    if bytes.len() <= MESSAGE_LIMIT {
        return Value::String(redact_write_key(&String::from_utf8_lossy(bytes)));
    }
    let head = redact_write_key(&String::from_utf8_lossy(&bytes[..EXCERPT_BYTES]));
    serde_json::json!({"truncated": true, "bytes": bytes.len(), "head": head})
}

/// `"writeKey": "<key>"` becomes `"writeKey": "[redacted]"` in text that did not parse.
fn redact_write_key(text: &str) -> String {
    const NAME: &str = "\"writeKey\"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(NAME) {
        let after_name = at + NAME.len();
        out.push_str(&rest[..after_name]);
        rest = &rest[after_name..];
        let value_start = rest
            .char_indices()
            .find(|(_, c)| !c.is_whitespace() && *c != ':')
            .map_or(rest.len(), |(i, _)| i);
        if !rest[value_start..].starts_with('"') {
            continue;
        }
        out.push_str(&rest[..=value_start]);
        let value = &rest[value_start + 1..];
        let mut escaped = false;
        let end = value.char_indices().find(|(_, c)| {
            let closes = *c == '"' && !escaped;
            escaped = *c == '\\' && !escaped;
            closes
        });
        out.push_str("[redacted]");
        rest = match end {
            Some((i, _)) => &value[i..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// The size of `value` as compact JSON, without building the text.
pub fn encoded_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn check_time(message: Value, expected: Option<&str>) {
        let received = at("2024-05-01T12:00:00Z");
        let map = message.as_object().unwrap().clone();
        let got = event_time(&Message::new(&map), received).unwrap();
        assert_eq!(got, expected.map(at), "for {message}");
    }

    #[test]
    fn clock_skew_is_corrected_only_without_a_timestamp() {
        // The client's clock runs two hours fast: it sent at "14:00" what happened at "13:55".
        check_time(
            json!({"originalTimestamp": "2024-05-01T13:55:00Z", "sentAt": "2024-05-01T14:00:00Z"}),
            Some("2024-05-01T11:55:00Z"),
        );
        check_time(
            json!({"timestamp": "2024-04-01T00:00:00Z", "sentAt": "2024-05-01T14:00:00Z",
                   "originalTimestamp": "2024-05-01T13:55:00Z"}),
            Some("2024-04-01T00:00:00Z"),
        );
        check_time(
            json!({"originalTimestamp": "2024-04-30T00:00:00Z"}),
            Some("2024-04-30T00:00:00Z"),
        );
        check_time(json!({"sentAt": "2024-05-01T14:00:00Z"}), None);
        check_time(json!({}), None);
    }

    #[test]
    fn accepted_messages_keep_times_drop_the_write_key_and_borrow_the_batch_context() {
        let shared = Shared {
            context: Some(
                json!({"library": {"name": "batch"}, "ip": "1.2.3.4"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            integrations: Some(json!({"All": false}).as_object().unwrap().clone()),
            sent_at: Some(json!("2024-05-01T12:00:00Z")),
        };
        let item = json!({"type": "track", "userId": "u", "event": "E", "messageId": "m-1",
                          "writeKey": "secret", "context": {"ip": "5.6.7.8"}});
        let accepted = accept(item, None, &shared, at("2024-05-01T12:00:01Z")).unwrap();
        assert_eq!(accepted.dedupe_key.as_deref(), Some("message:m-1"));
        let raw = accepted.raw.unwrap();
        assert_eq!(raw.get("writeKey"), None);
        assert_eq!(
            raw["context"],
            json!({"ip": "5.6.7.8", "library": {"name": "batch"}})
        );
        assert_eq!(raw["integrations"], json!({"All": false}));
        assert_eq!(raw["sentAt"], "2024-05-01T12:00:00Z");
        assert_eq!(raw["receivedAt"], "2024-05-01T12:00:01.000Z");
        assert_eq!(raw["timestamp"], "2024-05-01T12:00:01.000Z");
    }

    #[test]
    fn refusals_keep_the_message_and_name_the_field() {
        let now = at("2024-05-01T12:00:00Z");
        let refused = accept(json!({"userId": "u"}), None, &Shared::default(), now).unwrap_err();
        assert_eq!(refused.error.field.as_deref(), Some("type"));
        assert_eq!(refused.raw, json!({"userId": "u"}));
        let refused = accept(json!([1]), None, &Shared::default(), now).unwrap_err();
        assert_eq!(refused.raw, json!([1]));
        let long = json!({"userId": "u", "event": "E", "messageId": "m".repeat(300)});
        let refused = accept(long, Some(MessageType::Track), &Shared::default(), now).unwrap_err();
        assert_eq!(refused.error.field.as_deref(), Some("messageId"));
        let refused = accept(
            json!({"userId": "u", "event": "E", "context": "web"}),
            Some(MessageType::Track),
            &Shared::default(),
            now,
        )
        .unwrap_err();
        assert_eq!(refused.error.field.as_deref(), Some("context"));
    }

    /// Arbitrary JSON, biased towards the keys and values the decoders look at.
    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("type".to_string()),
            Just("userId".to_string()),
            Just("anonymousId".to_string()),
            Just("previousId".to_string()),
            Just("groupId".to_string()),
            Just("event".to_string()),
            Just("name".to_string()),
            Just("traits".to_string()),
            Just("properties".to_string()),
            Just("context".to_string()),
            Just("device".to_string()),
            Just("token".to_string()),
            Just("timestamp".to_string()),
            Just("sentAt".to_string()),
            Just("originalTimestamp".to_string()),
            Just("messageId".to_string()),
            Just("createdAt".to_string()),
            Just("email".to_string()),
            Just("object_type_id".to_string()),
            Just("objectId".to_string()),
            "[a-zA-Z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("identify"),
                Just("track"),
                Just("page"),
                Just("screen"),
                Just("group"),
                Just("alias"),
                Just("Device Created or Updated"),
                Just("User Suppressed"),
                Just("Object Deleted"),
                Just("Report Delivery Event"),
                Just("ios"),
                Just("a@b.co"),
                Just("2024-05-01T10:00:00Z"),
                Just(""),
                Just("1"),
            ]
            .prop_map(|s| Value::String(s.to_string())),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..8)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn random_messages_are_accepted_or_refused_with_a_4xx(value in json_value()) {
            let now = at("2024-05-01T12:00:00Z");
            for kind in [None, Some(MessageType::Identify), Some(MessageType::Track),
                         Some(MessageType::Group), Some(MessageType::Alias)] {
                if let Err(refused) = accept(value.clone(), kind, &Shared::default(), now) {
                    proptest::prop_assert!(refused.error.status.is_client_error());
                }
            }
        }
    }

    #[test]
    fn excerpts_and_sizes() {
        assert_eq!(excerpt(b"{not json"), json!("{not json"));
        assert_eq!(
            excerpt(br#"{"writeKey" : "k\"ey", "batch": [{"writeKey":"x"}, "#),
            json!(r#"{"writeKey" : "[redacted]", "batch": [{"writeKey":"[redacted]"}, "#)
        );
        assert_eq!(
            excerpt(br#"{"writeKey": "unterminated"#),
            json!(r#"{"writeKey": "[redacted]"#)
        );
        let big = vec![b'x'; MESSAGE_LIMIT + 1];
        let kept = excerpt(&big);
        assert_eq!(kept["bytes"], MESSAGE_LIMIT + 1);
        assert_eq!(kept["head"].as_str().unwrap().len(), EXCERPT_BYTES);
        let value = json!({"a": [1, "two"], "b": null});
        assert_eq!(encoded_len(&value), value.to_string().len());
    }
}
