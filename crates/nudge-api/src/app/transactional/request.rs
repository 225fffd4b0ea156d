//! The body of `POST /v1/send/{email,sms,push}` as Customer.io's transactional API and its
//! official clients send it, read into a [`SendRequest`]: the template or the inline content,
//! the person, the address, `message_data`, the send time, attachments and headers. Every
//! refusal names its field. Options Nudge cannot honour (drafts, copies to other addresses,
//! not keeping the body, device overrides) are refused when asked for rather than dropped;
//! `tracked` (default `true`, as Customer.io has it) says whether an email's opens and clicks
//! are tracked; options that change nothing here (`language`, AMP bodies, CSS preprocessing,
//! the preheader, the push sound) are accepted and ignored.

use std::collections::BTreeMap;

use nudge_core::{Identifier, IdentifierKind, JsonMap, Timestamp};
use nudge_templates::Channel;
use serde_json::Value;

use super::email_fields::{attachments, headers, mailbox};
use crate::ApiError;

/// How far ahead `send_at` may be: 90 days, as Customer.io allows.
pub(super) const MAX_SEND_AHEAD_SECS: i64 = 90 * 24 * 60 * 60;
/// A validated send request.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SendRequest {
    pub channel: Channel,
    /// The template's id (`transactional_message_id`: a name, case-insensitive, or a number).
    pub template: Option<String>,
    pub identifier: Identifier,
    /// The address to send to, when the request gives one.
    pub to: Option<Address>,
    /// The Liquid `trigger.*` scope.
    pub message_data: JsonMap,
    /// When to send; `None` is now (a past `send_at` is now too).
    pub send_at: Option<Timestamp>,
    pub send_to_unsubscribed: bool,
    /// Email only: record opens and clicks (`tracked`, default `true`).
    pub tracked: bool,
    pub content: InlineContent,
    /// Email only: `from`, `reply_to`, extra headers, attachments (file name → base64).
    pub from: Option<Address>,
    pub reply_to: Option<Address>,
    pub headers: BTreeMap<String, String>,
    pub attachments: BTreeMap<String, String>,
    /// Push only: the notification's data (`custom_data`, `link`, `image_url`).
    pub push_data: JsonMap,
}

/// Inline Liquid parts, by the part of a template they replace.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct InlineContent {
    pub subject: Option<String>,
    pub title: Option<String>,
    /// The text: the email's plain part, the SMS, the push message.
    pub text: Option<String>,
    /// The email's HTML (Customer.io's `body`).
    pub html: Option<String>,
}

/// An address, with the display name an email may give it (`Ana <ana@example.com>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Address {
    pub address: String,
    pub name: Option<String>,
}

impl SendRequest {
    /// Reads `body` for `channel`; `now` bounds `send_at`.
    pub(super) fn parse(
        channel: Channel,
        body: &JsonMap,
        now: Timestamp,
    ) -> Result<SendRequest, ApiError> {
        let fields = Fields(body);
        refuse_unsupported(channel, &fields)?;
        let template = template_id(body.get("transactional_message_id"))?;
        let content = inline_content(channel, &fields)?;
        if template.is_none() {
            require_inline(channel, &content)?;
        }
        let is_email = channel == Channel::Email;
        Ok(SendRequest {
            channel,
            template,
            identifier: identifiers(body.get("identifiers"))?,
            to: recipient(channel, &fields)?,
            message_data: fields.object("message_data")?.unwrap_or_default(),
            send_at: send_at(body.get("send_at"), now)?,
            send_to_unsubscribed: fields.boolean("send_to_unsubscribed")?.unwrap_or(true),
            tracked: is_email && fields.boolean("tracked")?.unwrap_or(true),
            content,
            from: fields.mailbox_if(is_email, "from")?,
            reply_to: fields.mailbox_if(is_email, "reply_to")?,
            headers: if is_email {
                headers(body.get("headers"))?
            } else {
                BTreeMap::new()
            },
            attachments: if is_email {
                attachments(body.get("attachments"))?
            } else {
                BTreeMap::new()
            },
            push_data: if channel == Channel::Push {
                push_data(&fields)?
            } else {
                JsonMap::new()
            },
        })
    }
}

/// Typed reads of the body's fields; JSON null counts as absent.
struct Fields<'a>(&'a JsonMap);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(ApiError::bad_request(name, "must be a string")),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(_) => Err(ApiError::bad_request(name, "must be true or false")),
        }
    }

    fn object(&self, name: &str) -> Result<Option<JsonMap>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map.clone())),
            Some(_) => Err(ApiError::bad_request(name, "must be an object")),
        }
    }

    fn mailbox_if(&self, wanted: bool, name: &str) -> Result<Option<Address>, ApiError> {
        match self.string(name)? {
            Some(text) if wanted => mailbox(name, &text).map(Some),
            _ => Ok(None),
        }
    }
}

/// Options whose effect Nudge does not have: refused when set, so nobody believes a copy
/// went to a BCC address or a draft was held.
fn refuse_unsupported(channel: Channel, fields: &Fields<'_>) -> Result<(), ApiError> {
    for flag in ["queue_draft", "fake_bcc", "disable_message_retention"] {
        if fields.get(flag).is_some_and(|v| v != &Value::Bool(false)) {
            return Err(ApiError::bad_request(
                flag,
                format!("{flag} is not supported"),
            ));
        }
    }
    let mut copies = vec!["bcc", "cc"];
    if channel == Channel::Push {
        copies.extend(["custom_device", "custom_payload"]);
    }
    for name in copies {
        let given = match fields.get(name) {
            None => false,
            Some(Value::String(text)) => !text.trim().is_empty(),
            Some(_) => true,
        };
        if given {
            return Err(ApiError::bad_request(
                name,
                format!("{name} is not supported"),
            ));
        }
    }
    Ok(())
}

/// A template id: a name (lowercased, as trigger names are case-insensitive) or a number,
/// which names the template whose id is its digits.
fn template_id(value: Option<&Value>) -> Result<Option<String>, ApiError> {
    const FIELD: &str = "transactional_message_id";
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) if number.is_u64() => Ok(Some(number.to_string())),
        Some(Value::String(name)) if !name.trim().is_empty() => {
            Ok(Some(name.trim().to_lowercase()))
        }
        Some(_) => Err(ApiError::bad_request(
            FIELD,
            "must be a template id: a non-empty string or a non-negative integer",
        )),
    }
}

/// `identifiers`: exactly one of `id`, `email` or `cio_id`.
pub(crate) fn identifiers(value: Option<&Value>) -> Result<Identifier, ApiError> {
    const FIELD: &str = "identifiers";
    const ONE_OF: &str = "must have exactly one of id, email or cio_id";
    let Some(Value::Object(given)) = value else {
        return Err(ApiError::bad_request(
            FIELD,
            format!("is required and {ONE_OF}"),
        ));
    };
    let present: Vec<(&String, &Value)> = given.iter().filter(|(_, v)| !v.is_null()).collect();
    let [(name, value)] = present.as_slice() else {
        return Err(ApiError::bad_request(FIELD, ONE_OF));
    };
    let kind = match name.as_str() {
        "id" => IdentifierKind::Id,
        "email" => IdentifierKind::Email,
        "cio_id" => IdentifierKind::CioId,
        other => {
            return Err(ApiError::bad_request(
                FIELD,
                format!("{ONE_OF}, not {other}"),
            ))
        }
    };
    let field = format!("{FIELD}.{name}");
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) if kind == IdentifierKind::Id => number.to_string(),
        _ => return Err(ApiError::bad_request(field, "must be a string")),
    };
    Identifier::new(kind, &text).map_err(|e| ApiError::bad_request(field, e.to_string()))
}

/// `to`: an email address (one), a phone number, or for push `all` (every device).
fn recipient(channel: Channel, fields: &Fields<'_>) -> Result<Option<Address>, ApiError> {
    let Some(to) = fields.string("to")? else {
        return Ok(None);
    };
    match channel {
        Channel::Email => mailbox("to", &to).map(Some),
        Channel::Sms => {
            let number = to.trim();
            if number.is_empty() || number.chars().any(|c| c.is_whitespace() || c == ',') {
                return Err(ApiError::bad_request("to", "must be one phone number"));
            }
            Ok(Some(Address {
                address: number.to_string(),
                name: None,
            }))
        }
        _ if to.trim() == "all" => Ok(None),
        _ => Err(ApiError::bad_request(
            "to",
            "push goes to every device of the person: to may only be \"all\"",
        )),
    }
}

/// The inline parts of each channel: email `subject`, `body` (HTML) and `body_plain` (also
/// spelled `plaintext_body`); SMS `body`; push `title` and `message`.
fn inline_content(channel: Channel, fields: &Fields<'_>) -> Result<InlineContent, ApiError> {
    Ok(match channel {
        Channel::Email => InlineContent {
            subject: fields.string("subject")?,
            html: fields.string("body")?,
            text: match fields.string("body_plain")? {
                Some(text) => Some(text),
                None => fields.string("plaintext_body")?,
            },
            title: None,
        },
        Channel::Sms => InlineContent {
            text: fields.string("body")?,
            ..InlineContent::default()
        },
        _ => InlineContent {
            title: fields.string("title")?,
            text: fields.string("message")?,
            ..InlineContent::default()
        },
    })
}

/// Without a template the request carries the whole message.
fn require_inline(channel: Channel, content: &InlineContent) -> Result<(), ApiError> {
    let missing = match channel {
        Channel::Email if content.subject.is_none() => Some("subject"),
        Channel::Email if content.html.is_none() && content.text.is_none() => Some("body"),
        Channel::Sms if content.text.is_none() => Some("body"),
        Channel::Push if content.title.is_none() => Some("title"),
        Channel::Push if content.text.is_none() => Some("message"),
        _ => None,
    };
    match missing {
        Some(field) => Err(ApiError::bad_request(
            field,
            format!("{field} is required when no transactional_message_id names a template"),
        )),
        None => Ok(()),
    }
}

/// `send_at` in unix seconds: at most 90 days ahead; a past time means now.
fn send_at(value: Option<&Value>, now: Timestamp) -> Result<Option<Timestamp>, ApiError> {
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_i64(),
        Some(_) => None,
    };
    let Some(seconds) = seconds else {
        return Err(ApiError::bad_request(
            "send_at",
            "must be a unix time in seconds (an integer)",
        ));
    };
    if seconds > now.unix_seconds() + MAX_SEND_AHEAD_SECS {
        return Err(ApiError::bad_request(
            "send_at",
            "must be at most 90 days ahead (a unix time in seconds)",
        ));
    }
    let at = Timestamp::from_millis(seconds.saturating_mul(1000));
    Ok(Some(if at > now { at } else { now }))
}

/// The push notification's data: `custom_data`, plus `link` and `image_url` when given.
fn push_data(fields: &Fields<'_>) -> Result<JsonMap, ApiError> {
    let mut data = fields.object("custom_data")?.unwrap_or_default();
    for name in ["link", "image_url"] {
        if let Some(text) = fields.string(name)? {
            data.insert(name.to_string(), Value::String(text));
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::super::email_fields::MAX_ATTACHMENT_BYTES;
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::json;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn parse(channel: Channel, body: Value) -> Result<SendRequest, ApiError> {
        SendRequest::parse(channel, body.as_object().unwrap(), NOW)
    }

    /// The field a refusal names, and its status.
    fn refusal(channel: Channel, body: Value) -> (u16, String) {
        let error = parse(channel, body).expect_err("refused");
        (error.status.as_u16(), error.field.unwrap_or_default())
    }

    fn email(extra: Value) -> Value {
        let mut body = json!({"transactional_message_id": "Receipt",
                              "identifiers": {"id": "ana"}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    }

    #[test]
    fn a_full_email_request_reads_every_field() {
        let request = parse(
            Channel::Email,
            email(json!({
                "to": "Ana Lopez <ana@example.com>", "from": "shop@lumen.example",
                "reply_to": "help@lumen.example", "message_data": {"order": 7},
                "send_at": 1_700_000_600, "send_to_unsubscribed": false,
                "subject": "Hi", "plaintext_body": "text", "tracked": true,
                "headers": {"X-Order": "7"}, "attachments": {"r.txt": "aGk="},
            })),
        )
        .unwrap();
        assert_eq!(request.template.as_deref(), Some("receipt"));
        assert_eq!(
            request.identifier,
            Identifier::new(IdentifierKind::Id, "ana").unwrap()
        );
        assert_eq!(
            request.to,
            Some(Address {
                address: "ana@example.com".into(),
                name: Some("Ana Lopez".into())
            })
        );
        assert_eq!(request.from.unwrap().address, "shop@lumen.example");
        assert_eq!(request.message_data["order"], json!(7));
        assert_eq!(
            request.send_at,
            Some(Timestamp::from_millis(1_700_000_600_000))
        );
        assert!(!request.send_to_unsubscribed);
        assert_eq!(request.content.subject.as_deref(), Some("Hi"));
        assert_eq!(request.content.text.as_deref(), Some("text"));
        assert_eq!(request.headers["X-Order"], "7");
        assert_eq!(request.attachments["r.txt"], "aGk=");
        assert!(request.tracked);
    }

    #[test]
    fn defaults_and_numeric_template_ids() {
        let request = parse(
            Channel::Email,
            json!({"transactional_message_id": 3, "identifiers": {"email": "a@b.c"},
                   "send_at": 1_600_000_000, "headers": "{\"X-A\": \"1\"}"}),
        )
        .unwrap();
        assert_eq!(request.template.as_deref(), Some("3"));
        assert!(request.send_to_unsubscribed, "transactional default");
        assert!(request.tracked, "tracked by default, as in Customer.io");
        let untracked = parse(
            Channel::Email,
            json!({"transactional_message_id": 3, "identifiers": {"id": "a"}, "tracked": false}),
        );
        assert!(!untracked.unwrap().tracked);
        let sms = parse(
            Channel::Sms,
            json!({"transactional_message_id": 3, "identifiers": {"id": "a"}, "tracked": true}),
        );
        assert!(!sms.unwrap().tracked, "only email is tracked");
        assert_eq!(request.send_at, Some(NOW), "a past send_at is now");
        assert_eq!(request.headers["X-A"], "1", "headers as JSON text");
        let numeric_id = parse(
            Channel::Sms,
            json!({"transactional_message_id": "x",
                                                     "identifiers": {"id": 42}}),
        );
        assert_eq!(numeric_id.unwrap().identifier.value(), "42");
    }

    #[test]
    fn refusals_name_their_field() {
        let cases = [
            (json!({"identifiers": {}}), "identifiers"),
            (
                json!({"identifiers": {"id": "a", "email": "a@b.c"}}),
                "identifiers",
            ),
            (json!({"identifiers": {"phone": "+1"}}), "identifiers"),
            (json!({"to": "a@b.c, d@e.f"}), "to"),
            (json!({"to": "not an address"}), "to"),
            (
                json!({"send_at": NOW.unix_seconds() + MAX_SEND_AHEAD_SECS + 1}),
                "send_at",
            ),
            (json!({"send_at": "tomorrow"}), "send_at"),
            (
                json!({"send_to_unsubscribed": "yes"}),
                "send_to_unsubscribed",
            ),
            (json!({"message_data": [1]}), "message_data"),
            (json!({"tracked": "yes"}), "tracked"),
            (json!({"queue_draft": true}), "queue_draft"),
            (json!({"bcc": "boss@example.com"}), "bcc"),
            (json!({"headers": {"Subject": "x"}}), "headers.Subject"),
            (
                json!({"headers": {"X-A": "a\r\nBcc: b@c.d"}}),
                "headers.X-A",
            ),
            (
                json!({"attachments": {"r.pdf": "%%%"}}),
                "attachments.r.pdf",
            ),
            (
                json!({"transactional_message_id": ""}),
                "transactional_message_id",
            ),
        ];
        for (extra, field) in cases {
            let (status, named) = refusal(Channel::Email, email(extra.clone()));
            assert_eq!((status, named.as_str()), (400, field), "{extra}");
        }
        let two = parse(Channel::Email, email(json!({"to": "a@b.c,d@e.f"}))).unwrap_err();
        assert!(two.message.contains("one recipient"), "{}", two.message);
        let within = NOW.unix_seconds() + MAX_SEND_AHEAD_SECS;
        assert!(parse(Channel::Email, email(json!({"send_at": within}))).is_ok());
    }

    #[test]
    fn inline_messages_need_their_parts() {
        let who = json!({"identifiers": {"id": "a"}});
        assert_eq!(
            refusal(Channel::Email, who.clone()),
            (400, "subject".into())
        );
        let subject_only = json!({"identifiers": {"id": "a"}, "subject": "s"});
        assert_eq!(refusal(Channel::Email, subject_only), (400, "body".into()));
        assert_eq!(refusal(Channel::Sms, who.clone()), (400, "body".into()));
        assert_eq!(refusal(Channel::Push, who), (400, "title".into()));
        let push = parse(
            Channel::Push,
            json!({"identifiers": {"id": "a"}, "title": "t", "message": "m", "to": "all",
                   "custom_data": {"order": "7"}, "link": "app://orders/7"}),
        )
        .unwrap();
        assert_eq!(
            push.push_data,
            json!({"order": "7", "link": "app://orders/7"})
                .as_object()
                .unwrap()
                .clone()
        );
        let device = json!({"identifiers": {"id": "a"}, "title": "t", "message": "m",
                            "to": "token-1"});
        assert_eq!(refusal(Channel::Push, device), (400, "to".into()));
    }

    #[test]
    fn attachments_are_limited_in_type_and_size() {
        let exe = email(json!({"attachments": {"setup.EXE": "aGk="}}));
        assert_eq!(
            refusal(Channel::Email, exe),
            (403, "attachments.setup.EXE".into())
        );
        let big = STANDARD.encode(vec![7_u8; MAX_ATTACHMENT_BYTES / 2]);
        let two = email(json!({"attachments": {"a.bin": big, "b.bin": big}}));
        assert_eq!(refusal(Channel::Email, two).0, 413);
        let one = email(json!({"attachments": {"a.bin": big}}));
        assert!(parse(Channel::Email, one).is_ok());
        let wrapped = email(json!({"attachments": {"a.txt": "aG\nk"}}));
        assert_eq!(
            parse(Channel::Email, wrapped).unwrap().attachments["a.txt"],
            "aGk="
        );
    }
}
