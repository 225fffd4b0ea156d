//! Turning an outgoing message into an RFC 5322 email: text, or text and HTML as
//! multipart/alternative, inside multipart/mixed with the attachments when the payload has
//! some (`attachments`: file name → base64, typed by extension); `List-Unsubscribe` with
//! one-click `List-Unsubscribe-Post` when the payload has an unsubscribe URL; `Reply-To`; a
//! `From` the payload may set instead of the channel's (`from`, with `from_name`), the
//! recipient's display name (`to_name`) and extra `headers` (never one the email sets itself);
//! a `Date` from the injected clock; and a `Message-ID` derived from the delivery id alone, so
//! a retry carries the same one.

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use nudge_core::Timestamp;
use serde_json::Value;

use crate::channel::OutgoingMessage;

/// Headers the email sets itself; a payload's `headers` may not name them.
const OWN_HEADERS: [&str; 15] = [
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
];

/// The `Message-ID` of a delivery: `<{id}@{domain}>` where `{id}` keeps ASCII letters,
/// digits, `-` and `_`, and writes every other byte as `=XX` (hex), so distinct delivery ids
/// never share a Message-ID.
pub fn message_id(delivery_id: &str, domain: &str) -> String {
    let mut id = String::with_capacity(delivery_id.len() + 8);
    for byte in delivery_id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            id.push(char::from(byte));
        } else {
            id.push_str(&format!("={byte:02X}"));
        }
    }
    format!("<{id}@{domain}>")
}

/// A composed email and its Message-ID.
pub(crate) struct Composed {
    pub email: Message,
    pub message_id: String,
}

/// Builds the email, or says why this message can never be sent.
pub(crate) fn compose(
    from: &Mailbox,
    message: &OutgoingMessage,
    now: Timestamp,
) -> Result<Composed, String> {
    if message.delivery_id.is_empty() {
        return Err("delivery id is empty".to_string());
    }
    let payload = &message.payload;
    let to = named(
        parse_mailbox("email address", &message.recipient)?,
        text_field(payload, "to_name")?,
    );
    let from = match text_field(payload, "from")? {
        Some(address) => named(
            parse_mailbox("from address", address)?,
            text_field(payload, "from_name")?,
        ),
        None => from.clone(),
    };
    let message_id = message_id(&message.delivery_id, from.email.domain());
    let sent_at =
        SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(now.millis()).unwrap_or(0));
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .date(sent_at)
        .message_id(Some(message_id.clone()));
    if let Some(subject) = &message.subject {
        builder = builder.subject(subject);
    }
    if let Some(reply_to) = text_field(payload, "reply_to")? {
        let reply_to = named(
            parse_mailbox("reply_to address", reply_to)?,
            text_field(payload, "reply_to_name")?,
        );
        builder = builder.reply_to(reply_to);
    }
    for (name, value) in extra_headers(payload)? {
        builder = builder.raw_header(HeaderValue::new(name, value));
    }
    if let Some(url) = text_field(payload, "unsubscribe_url")? {
        let url = url.trim();
        if !is_header_safe_url(url) {
            return Err(format!(
                "unsubscribe_url '{url}' is not a URL that fits a header"
            ));
        }
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_string(),
            ));
    }
    let html = text_field(payload, "html")?.filter(|html| !html.trim().is_empty());
    let content = match html {
        Some(html) => Content::Multi(MultiPart::alternative_plain_html(
            message.body.clone(),
            html.to_string(),
        )),
        None => Content::Single(SinglePart::plain(message.body.clone())),
    };
    let attachments = attachments(payload)?;
    let built = match content {
        Content::Multi(alternative) if attachments.is_empty() => builder.multipart(alternative),
        Content::Single(plain) if attachments.is_empty() => builder.singlepart(plain),
        content => {
            let mixed = match content {
                Content::Multi(alternative) => MultiPart::mixed().multipart(alternative),
                Content::Single(plain) => MultiPart::mixed().singlepart(plain),
            };
            builder.multipart(attachments.into_iter().fold(mixed, MultiPart::singlepart))
        }
    };
    let email = built.map_err(|error| format!("email cannot be built: {error}"))?;
    Ok(Composed { email, message_id })
}

/// The message itself: text, or text and HTML.
enum Content {
    Single(SinglePart),
    Multi(MultiPart),
}

fn parse_mailbox(what: &str, text: &str) -> Result<Mailbox, String> {
    text.trim()
        .parse()
        .map_err(|error| format!("invalid {what} '{text}': {error}"))
}

/// `mailbox` with `name` as its display name, when there is one.
fn named(mailbox: Mailbox, name: Option<&str>) -> Mailbox {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => Mailbox::new(Some(name.to_string()), mailbox.email),
        None => mailbox,
    }
}

/// The payload's `headers` (name → one-line string), none of them one the email sets.
fn extra_headers(payload: &Value) -> Result<Vec<(HeaderName, String)>, String> {
    let Some(headers) = payload.get("headers").filter(|h| !h.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(headers) = headers.as_object() else {
        return Err("email field 'headers' must be an object".to_string());
    };
    headers
        .iter()
        .map(|(name, value)| {
            if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!("header '{name}' is set by the email itself"));
            }
            let value = match value {
                Value::String(text) if !text.contains(['\r', '\n']) => text.clone(),
                _ => return Err(format!("header '{name}' must be a one-line string")),
            };
            let name = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| format!("'{name}' is not a valid header name"))?;
            Ok((name, value))
        })
        .collect()
}

/// The payload's `attachments` as MIME parts, in file-name order.
fn attachments(payload: &Value) -> Result<Vec<SinglePart>, String> {
    let Some(files) = payload.get("attachments").filter(|a| !a.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(files) = files.as_object() else {
        return Err("email field 'attachments' must be an object".to_string());
    };
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bytes = files[name]
                .as_str()
                .and_then(|encoded| STANDARD.decode(encoded).ok())
                .ok_or_else(|| format!("attachment '{name}' is not base64"))?;
            Ok(Attachment::new(name.clone()).body(bytes, content_type(name)))
        })
        .collect()
}

/// The MIME type of a file, by its extension.
fn content_type(file_name: &str) -> ContentType {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let mime = match extension.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "htm" | "html" => "text/html",
        "ics" => "text/calendar",
        "json" => "application/json",
        "xml" => "application/xml",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    };
    ContentType::parse(mime).unwrap_or(ContentType::TEXT_PLAIN)
}

/// A string field of the payload; absent and null are `None`, other types are refused.
fn text_field<'a>(payload: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!(
            "email field '{name}' must be a string, got {other}"
        )),
    }
}

/// An absolute URL (scheme `http`, `https` or `mailto`) of visible ASCII without `<` or `>`.
fn is_header_safe_url(url: &str) -> bool {
    let scheme_ok = ["https://", "http://", "mailto:"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url[..scheme.len()].eq_ignore_ascii_case(scheme));
    scheme_ok
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_and_never_collide() {
        assert_eq!(
            message_id("cart:v2:17:step_1", "shop.example"),
            "<cart=3Av2=3A17=3Astep_1@shop.example>"
        );
        assert_ne!(message_id("a:b", "d"), message_id("a=3Ab", "d"));
        assert_eq!(message_id("x y", "d"), message_id("x y", "d"));
    }

    #[test]
    fn only_plain_urls_go_into_list_unsubscribe() {
        assert!(is_header_safe_url("https://shop.example/u/1?t=abc"));
        assert!(is_header_safe_url("mailto:unsub@shop.example"));
        assert!(!is_header_safe_url("https://shop.example/u/1>, <evil"));
        assert!(!is_header_safe_url("https://shop.example/a b"));
        assert!(!is_header_safe_url("javascript:alert(1)"));
        assert!(!is_header_safe_url("https://"));
    }

    fn outgoing(payload: Value, attempt: u32) -> OutgoingMessage {
        OutgoingMessage {
            delivery_id: "txn-1".into(),
            workspace: nudge_core::WorkspaceId(1),
            channel: "email".into(),
            recipient: "ana@example.com".into(),
            subject: Some("Your receipt".into()),
            body: "Total 9".into(),
            payload,
            attempt,
        }
    }

    fn composed(payload: Value, attempt: u32) -> Result<Vec<u8>, String> {
        let from: Mailbox = "Shop <shop@lumen.example>".parse().unwrap();
        compose(
            &from,
            &outgoing(payload, attempt),
            Timestamp::from_millis(0),
        )
        .map(|c| c.email.formatted())
    }

    #[test]
    fn attachments_headers_and_addresses_from_the_payload() {
        use mail_parser::MimeHeaders;
        let pdf = b"%PDF-1.4 receipt";
        let raw = composed(
            serde_json::json!({
                "html": "<p>Total 9</p>",
                "from": "billing@lumen.example", "from_name": "Lumen Billing",
                "to_name": "Ana Lopez", "reply_to": "help@lumen.example",
                "headers": {"X-Order": "7"},
                "attachments": {"receipt.pdf": STANDARD.encode(pdf), "notes.txt": "aGk="},
            }),
            1,
        )
        .unwrap();
        let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let from = mail.from().unwrap().first().unwrap();
        assert_eq!(
            (from.name(), from.address()),
            (Some("Lumen Billing"), Some("billing@lumen.example"))
        );
        assert_eq!(
            mail.to().unwrap().first().unwrap().name(),
            Some("Ana Lopez")
        );
        assert_eq!(mail.header_raw("X-Order").map(str::trim), Some("7"));
        assert_eq!(mail.body_text(0).as_deref().map(str::trim), Some("Total 9"));
        assert_eq!(
            mail.body_html(0).as_deref().map(str::trim),
            Some("<p>Total 9</p>")
        );
        let files: Vec<(Option<&str>, &[u8])> = mail
            .attachments()
            .map(|a| (a.attachment_name(), a.contents()))
            .collect();
        assert_eq!(
            files,
            [
                (Some("notes.txt"), &b"hi"[..]),
                (Some("receipt.pdf"), &pdf[..])
            ]
        );
        let pdf_type = mail.attachment(1).unwrap().content_type().unwrap();
        assert_eq!(
            (pdf_type.ctype(), pdf_type.subtype()),
            ("application", Some("pdf"))
        );
    }

    #[test]
    fn a_retry_carries_the_same_message_id() {
        let id = |attempt| {
            let from: Mailbox = "shop@lumen.example".parse().unwrap();
            let message = outgoing(serde_json::json!({}), attempt);
            compose(&from, &message, Timestamp::from_millis(0))
                .unwrap()
                .message_id
        };
        assert_eq!(id(1), id(2));
        assert_eq!(id(1), "<txn-1@lumen.example>");
    }

    #[test]
    fn headers_the_email_sets_are_refused() {
        for header in ["Bcc", "subject", "Content-Type"] {
            let error = composed(serde_json::json!({"headers": {header: "x"}}), 1).unwrap_err();
            assert!(error.contains(header), "{error}");
        }
        let error = composed(serde_json::json!({"attachments": {"a.bin": "%%"}}), 1).unwrap_err();
        assert!(error.contains("a.bin"), "{error}");
    }
}
