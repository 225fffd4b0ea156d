//! The template document (docs/templates.md): reading `id`, `channel` and the Liquid parts a
//! channel has, refusing anything else with the JSON pointer of the offending key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::render::{compile_part, liquid_parser, Template};

/// A refused template document: where (`/body`) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct TemplateError {
    pub pointer: String,
    pub message: String,
}

impl TemplateError {
    pub(crate) fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// The channel a template's message goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Push,
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Email,
        Channel::Sms,
        Channel::Push,
        Channel::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|channel| channel.as_str() == text)
    }

    /// Whether a message on this channel has `part`, and whether it must.
    fn part_rule(self, part: PartName) -> PartRule {
        match (self, part) {
            (_, PartName::Body) => PartRule::Required,
            (Channel::Email, PartName::Subject) => PartRule::Required,
            (Channel::Email, PartName::Html) => PartRule::Optional,
            (Channel::Push, PartName::Title) => PartRule::Required,
            _ => PartRule::Absent,
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Liquid parts a template can have, in the order they are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartName {
    Subject,
    Title,
    Body,
    Html,
}

impl PartName {
    pub(crate) const ALL: [PartName; 4] = [
        PartName::Subject,
        PartName::Title,
        PartName::Body,
        PartName::Html,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PartName::Subject => "subject",
            PartName::Title => "title",
            PartName::Body => "body",
            PartName::Html => "html",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartRule {
    Required,
    Optional,
    Absent,
}

const KEYS: [&str; 7] = ["id", "channel", "topic", "subject", "title", "body", "html"];
const MAX_ID_LENGTH: usize = 64;

/// Reads and compiles a template document (without `kind` and `format`).
pub fn parse_template(document: &Value) -> Result<Template, TemplateError> {
    let Some(fields) = document.as_object() else {
        return Err(TemplateError::new("", "a template must be an object"));
    };
    if let Some(unknown) = fields.keys().find(|key| !KEYS.contains(&key.as_str())) {
        return Err(TemplateError::new(
            pointer(unknown),
            format!("unknown key; a template has {}", KEYS.join(", ")),
        ));
    }
    let id = match fields.get("id") {
        Some(Value::String(id)) if is_valid_id(id) => id.clone(),
        Some(_) => {
            return Err(TemplateError::new(
                "/id",
                "must be a string of 1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit",
            ))
        }
        None => return Err(TemplateError::new("/id", "required")),
    };
    let channel = match fields.get("channel") {
        Some(Value::String(name)) => Channel::parse(name).ok_or_else(|| {
            TemplateError::new("/channel", "must be one of email, sms, push, webhook")
        })?,
        Some(_) => {
            return Err(TemplateError::new(
                "/channel",
                "must be one of email, sms, push, webhook",
            ))
        }
        None => return Err(TemplateError::new("/channel", "required")),
    };
    let topic = parse_topic(fields.get("topic"), channel)?;
    let parser = liquid_parser().map_err(|message| TemplateError::new("", message))?;
    let mut parts = Vec::new();
    for part in PartName::ALL {
        let pointer = pointer(part.as_str());
        let source = match (fields.get(part.as_str()), channel.part_rule(part)) {
            (None, PartRule::Required) => {
                return Err(TemplateError::new(
                    pointer,
                    format!("required for {channel} templates"),
                ))
            }
            (None, _) => continue,
            (Some(_), PartRule::Absent) => {
                return Err(TemplateError::new(
                    pointer,
                    format!("{channel} templates have no {}", part.as_str()),
                ))
            }
            (Some(Value::String(source)), rule) => {
                if rule == PartRule::Required && source.trim().is_empty() {
                    return Err(TemplateError::new(pointer, "must not be empty"));
                }
                source
            }
            (Some(_), _) => return Err(TemplateError::new(pointer, "must be a string")),
        };
        parts.push(
            compile_part(&parser, part, source)
                .map_err(|message| TemplateError { pointer, message })?,
        );
    }
    let mut template = Template::new(id, channel, parts);
    template.topic = topic;
    Ok(template)
}

/// A subscription topic as Customer.io numbers them: `topic_1`, `topic_2`, … Webhooks are
/// not messages a person subscribes to, so their templates have none.
fn parse_topic(value: Option<&Value>, channel: Channel) -> Result<Option<String>, TemplateError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if channel == Channel::Webhook {
        return Err(TemplateError::new(
            "/topic",
            "webhook templates have no topic",
        ));
    }
    let numbered = value
        .as_str()
        .and_then(|topic| topic.strip_prefix("topic_"))
        .is_some_and(|n| {
            !n.is_empty()
                && !n.starts_with('0')
                && n.len() <= 9
                && n.bytes().all(|b| b.is_ascii_digit())
        });
    match value {
        Value::String(topic) if numbered => Ok(Some(topic.clone())),
        _ => Err(TemplateError::new(
            "/topic",
            "must be a subscription topic such as topic_1",
        )),
    }
}

fn pointer(key: &str) -> String {
    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// `[a-z0-9][a-z0-9_-]{0,63}`
fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && id.len() <= MAX_ID_LENGTH
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_pattern() {
        for valid in ["cart-email", "a", "0_x", &"a".repeat(64)] {
            assert!(is_valid_id(valid), "{valid}");
        }
        for invalid in ["", "-a", "_a", "Cart", "a b", "é", &"a".repeat(65)] {
            assert!(!is_valid_id(invalid), "{invalid}");
        }
    }

    #[test]
    fn channels_round_trip_through_their_names() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
            let json = serde_json::to_value(channel).ok();
            assert_eq!(json, Some(Value::String(channel.as_str().to_owned())));
        }
        assert_eq!(Channel::parse("Email"), None);
    }

    #[test]
    fn a_topic_is_a_numbered_subscription_topic_of_a_message() {
        let parse = |channel: &str, topic: Value| {
            let mut document = serde_json::json!({"id": "t", "channel": channel, "body": "hi"});
            if channel == "email" {
                document["subject"] = "s".into();
            }
            if channel == "push" {
                document["title"] = "t".into();
            }
            document["topic"] = topic;
            parse_template(&document).map(|t| t.topic)
        };
        assert_eq!(parse("email", "topic_1".into()), Ok(Some("topic_1".into())));
        assert_eq!(parse("sms", "topic_12".into()), Ok(Some("topic_12".into())));
        assert_eq!(parse("push", "topic_3".into()), Ok(Some("topic_3".into())));
        for wrong in [
            "topic_", "topic_0", "topic_01", "topic_x", "Topic_1", "news",
        ] {
            let error = parse("email", wrong.into()).unwrap_err();
            assert_eq!(error.pointer, "/topic", "{wrong}");
        }
        assert!(parse("email", Value::from(1)).is_err());
        let webhook = parse("webhook", "topic_1".into()).unwrap_err();
        assert_eq!(webhook.message, "webhook templates have no topic");
        let none = parse_template(&serde_json::json!({"id": "t", "channel": "sms", "body": "x"}));
        assert_eq!(none.map(|t| t.topic), Ok(None));
    }

    #[test]
    fn pointers_escape_slashes_and_tildes() {
        assert_eq!(pointer("a/b~c"), "/a~1b~0c");
    }
}
