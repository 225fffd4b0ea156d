//! The channel definition format (docs/delivery.md, "Channels per workspace"): one document
//! per channel of a workspace, `id` one of `email`, `sms`, `push`, `webhook`, with the same
//! settings the `NUDGE_*` variables give the first workspace. Parsing checks everything that
//! can be checked without the server's environment and names the field at fault; references
//! to secrets are resolved only when the channel is built ([`super::build`]). Also how a
//! stored definition is shown: with every inline secret redacted.

use std::time::Duration;

use lettre::message::Mailbox;
use serde_json::{Map, Value};

use super::secret::{Secret, REDACTED};
use crate::providers::email::{check_ca_pem, check_smtp_url, redact_password};
use crate::providers::push::ServiceAccount;
use crate::providers::sms::DEFAULT_TWILIO_BASE_URL;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SMTP_CONNECTIONS: u32 = 16;

/// The fields that may hold a secret; a read shows them redacted.
const SECRET_FIELDS: [&str; 4] = ["password", "auth_token", "credentials", "secret"];

/// A refusal, naming the field at fault as a dotted path (`auth_token.env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Empty when the document as a whole is at fault.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The channels a workspace can define.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelId {
    Email,
    Sms,
    Push,
    Webhook,
}

impl ChannelId {
    pub const ALL: [ChannelId; 4] = [
        ChannelId::Email,
        ChannelId::Sms,
        ChannelId::Push,
        ChannelId::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelId::Email => "email",
            ChannelId::Sms => "sms",
            ChannelId::Push => "push",
            ChannelId::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|id| id.as_str() == text)
    }

    /// The keys a definition of this channel may hold.
    fn keys(self) -> &'static [&'static str] {
        match self {
            ChannelId::Email => &[
                "id",
                "smtp_url",
                "password",
                "from",
                "max_connections",
                "timeout_secs",
                "ca_pem",
            ],
            ChannelId::Sms => &[
                "id",
                "base_url",
                "account_sid",
                "auth_token",
                "from",
                "timeout_secs",
            ],
            ChannelId::Push => &["id", "base_url", "credentials", "timeout_secs"],
            ChannelId::Webhook => &["id", "secret", "timeout_secs"],
        }
    }
}

/// A parsed channel definition: settings checked, secrets not yet resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelDefinition {
    Email {
        /// The lettre connection URL; inline it may carry `user:password@`.
        smtp_url: Secret,
        /// Put into the URL's user info when given (the URL then names the user only).
        password: Option<Secret>,
        from: String,
        max_connections: u32,
        timeout: Duration,
        /// CA certificates (PEM) TLS trusts besides the public roots: inline, or a reference
        /// to a file in the secrets directory (or a `NUDGE_SECRET_*` variable).
        ca_pem: Option<Secret>,
    },
    Sms {
        base_url: String,
        account_sid: String,
        auth_token: Secret,
        from: String,
        timeout: Duration,
    },
    Push {
        base_url: Option<String>,
        /// The service-account JSON.
        credentials: Secret,
        timeout: Duration,
    },
    Webhook {
        secret: Option<Secret>,
        timeout: Duration,
    },
}

impl ChannelDefinition {
    /// Reads the stored document of channel `id` (the definition file without `kind` and
    /// `format`). Its own `id`, when present, must be `id`.
    pub fn parse(id: &str, body: &Value) -> Result<Self, FieldError> {
        let channel = ChannelId::parse(id).ok_or_else(|| {
            FieldError::new(
                "id",
                format!("'{id}' is not a channel: email, sms, push or webhook"),
            )
        })?;
        let Value::Object(map) = body else {
            return Err(FieldError::new("", "a channel definition is an object"));
        };
        match map.get("id") {
            None => {}
            Some(Value::String(given)) if given == id => {}
            Some(other) => {
                return Err(FieldError::new(
                    "id",
                    format!("the definition names channel {other}, not '{id}'"),
                ))
            }
        }
        if let Some(key) = map
            .keys()
            .find(|key| !channel.keys().contains(&key.as_str()))
        {
            return Err(FieldError::new(
                key.as_str(),
                format!(
                    "unknown key for the {id} channel (it takes {})",
                    channel.keys()[1..].join(", ")
                ),
            ));
        }
        let fields = Fields(map);
        let timeout = fields.timeout()?;
        Ok(match channel {
            ChannelId::Email => email(&fields, timeout)?,
            ChannelId::Sms => {
                let account_sid = fields.required_text("account_sid")?;
                if !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(FieldError::new("account_sid", "must be letters and digits"));
                }
                ChannelDefinition::Sms {
                    base_url: fields
                        .base_url()?
                        .unwrap_or_else(|| DEFAULT_TWILIO_BASE_URL.to_string()),
                    account_sid,
                    auth_token: fields.required_secret("auth_token")?,
                    from: fields.required_text("from")?,
                    timeout,
                }
            }
            ChannelId::Push => ChannelDefinition::Push {
                base_url: fields.base_url()?,
                credentials: credentials(map.get("credentials"))?,
                timeout,
            },
            ChannelId::Webhook => ChannelDefinition::Webhook {
                secret: fields.secret("secret")?,
                timeout,
            },
        })
    }

    pub fn id(&self) -> ChannelId {
        match self {
            ChannelDefinition::Email { .. } => ChannelId::Email,
            ChannelDefinition::Sms { .. } => ChannelId::Sms,
            ChannelDefinition::Push { .. } => ChannelId::Push,
            ChannelDefinition::Webhook { .. } => ChannelId::Webhook,
        }
    }
}

fn email(fields: &Fields<'_>, timeout: Duration) -> Result<ChannelDefinition, FieldError> {
    let smtp_url = fields.required_secret("smtp_url")?;
    let password = fields.secret("password")?;
    if let Secret::Inline(url) = &smtp_url {
        check_smtp_url(url).map_err(|reason| FieldError::new("smtp_url", reason))?;
        if password.is_some() {
            let parsed =
                url::Url::parse(url).map_err(|e| FieldError::new("smtp_url", e.to_string()))?;
            if parsed.username().is_empty() || parsed.password().is_some() {
                return Err(FieldError::new(
                    "smtp_url",
                    "with password given apart, the URL names the user and no password \
                     (smtp://user@host)",
                ));
            }
        }
    }
    let from = fields.required_text("from")?;
    from.trim()
        .parse::<Mailbox>()
        .map_err(|error| FieldError::new("from", format!("not a mailbox: {error}")))?;
    let max_connections = match fields.0.get("max_connections") {
        None => DEFAULT_SMTP_CONNECTIONS,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=1024).contains(n))
            .map(|n| n as u32)
            .ok_or_else(|| {
                FieldError::new("max_connections", "must be a whole number from 1 to 1024")
            })?,
    };
    let ca_pem = fields.secret("ca_pem")?;
    if let Some(Secret::Inline(pem)) = &ca_pem {
        check_ca_pem(pem).map_err(|reason| FieldError::new("ca_pem", reason))?;
    }
    Ok(ChannelDefinition::Email {
        smtp_url,
        password,
        from,
        max_connections,
        timeout,
        ca_pem,
    })
}

/// The service account: an inline object or JSON text (checked here), or a reference.
fn credentials(value: Option<&Value>) -> Result<Secret, FieldError> {
    let Some(value) = value else {
        return Err(FieldError::new("credentials", "is required"));
    };
    let secret = match value {
        Value::Object(map)
            if !(map.len() == 1 && (map.contains_key("env") || map.contains_key("file"))) =>
        {
            Secret::inline("credentials", &value.to_string())?
        }
        other => Secret::parse("credentials", other)?,
    };
    if let Secret::Inline(text) = &secret {
        ServiceAccount::from_json(text).map_err(|reason| {
            FieldError::new("credentials", format!("not a service account: {reason}"))
        })?;
    }
    Ok(secret)
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn required_text(&self, field: &str) -> Result<String, FieldError> {
        match self.0.get(field) {
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_string()),
            Some(_) => Err(FieldError::new(field, "must be a non-empty string")),
            None => Err(FieldError::new(field, "is required")),
        }
    }

    fn secret(&self, field: &str) -> Result<Option<Secret>, FieldError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => Secret::parse(field, value).map(Some),
        }
    }

    fn required_secret(&self, field: &str) -> Result<Secret, FieldError> {
        self.secret(field)?
            .ok_or_else(|| FieldError::new(field, "is required"))
    }

    fn base_url(&self) -> Result<Option<String>, FieldError> {
        let Some(value) = self.0.get("base_url") else {
            return Ok(None);
        };
        let text = value
            .as_str()
            .ok_or_else(|| FieldError::new("base_url", "must be a string"))?;
        let url = url::Url::parse(text)
            .map_err(|error| FieldError::new("base_url", format!("not a URL: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FieldError::new("base_url", "must be http:// or https://"));
        }
        Ok(Some(text.to_string()))
    }

    /// Seconds above 0 and at most an hour; 10 when left out.
    fn timeout(&self) -> Result<Duration, FieldError> {
        match self.0.get("timeout_secs") {
            None => Ok(DEFAULT_TIMEOUT),
            Some(value) => value
                .as_f64()
                .filter(|seconds| *seconds > 0.0 && *seconds <= 3600.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    FieldError::new(
                        "timeout_secs",
                        "must be a number of seconds above 0 and at most 3600",
                    )
                }),
        }
    }
}

fn is_reference(value: &Value) -> bool {
    matches!(value, Value::Object(map)
        if map.len() == 1 && (map.contains_key("env") || map.contains_key("file")))
}

/// A stored definition as a read shows it: every inline secret replaced by `<redacted>`, the
/// password of an inline SMTP URL too; references shown as they are. Works on any JSON, so
/// even a document that no longer parses is shown without its secrets.
pub fn redacted(body: &Value) -> Value {
    let Value::Object(map) = body else {
        return body.clone();
    };
    let mut shown = map.clone();
    for field in SECRET_FIELDS {
        if let Some(value) = shown.get_mut(field) {
            if !value.is_null() && !is_reference(value) {
                *value = Value::String(REDACTED.into());
            }
        }
    }
    if let Some(Value::String(url)) = shown.get_mut("smtp_url") {
        *url = redact_password(url);
    }
    Value::Object(shown)
}

/// Whether the body gives a secret inline (which a redacted read cannot show).
pub fn has_inline_secret(body: &Value) -> bool {
    redacted(body) != *body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(id: &str, body: Value) -> FieldError {
        ChannelDefinition::parse(id, &body).expect_err("refused")
    }

    fn sms() -> Value {
        json!({"id": "sms", "base_url": "http://127.0.0.1:9", "account_sid": "AC1",
               "auth_token": "tok", "from": "+15550001111"})
    }

    #[test]
    fn each_channel_reads_its_settings() {
        let email = ChannelDefinition::parse(
            "email",
            &json!({"smtp_url": "smtp://mailer@127.0.0.1:2525", "password": {"env": "NUDGE_SECRET_SMTP"},
                    "from": "Shop <hello@shop.example>", "max_connections": 4, "timeout_secs": 2.5}),
        )
        .unwrap();
        assert_eq!(
            email,
            ChannelDefinition::Email {
                smtp_url: Secret::Inline("smtp://mailer@127.0.0.1:2525".into()),
                password: Some(Secret::Env("NUDGE_SECRET_SMTP".into())),
                from: "Shop <hello@shop.example>".into(),
                max_connections: 4,
                timeout: Duration::from_millis(2500),
                ca_pem: None,
            }
        );
        let ChannelDefinition::Sms {
            base_url, timeout, ..
        } = ChannelDefinition::parse("sms", &sms()).unwrap()
        else {
            panic!("an sms channel");
        };
        assert_eq!(
            (base_url.as_str(), timeout),
            ("http://127.0.0.1:9", DEFAULT_TIMEOUT)
        );
        let default_base = ChannelDefinition::parse(
            "sms",
            &json!({"account_sid": "AC1", "auth_token": {"file": "/run/secrets/t"}, "from": "Shop"}),
        )
        .unwrap();
        assert!(
            matches!(default_base, ChannelDefinition::Sms { base_url, .. } if base_url == DEFAULT_TWILIO_BASE_URL)
        );
        let webhook = ChannelDefinition::parse("webhook", &json!({})).unwrap();
        assert_eq!(
            webhook,
            ChannelDefinition::Webhook {
                secret: None,
                timeout: DEFAULT_TIMEOUT
            }
        );
        let push =
            ChannelDefinition::parse("push", &json!({"credentials": {"file": "/etc/fcm.json"}}));
        assert_eq!(push.unwrap().id(), ChannelId::Push);
    }

    #[test]
    fn every_refusal_names_the_field() {
        let with = |key: &str, value: Value| {
            let mut body = sms();
            body[key] = value;
            body
        };
        let without = |key: &str| {
            let mut body = sms();
            body.as_object_mut().unwrap().remove(key);
            body
        };
        let cases = [
            ("sms", with("id", json!("email")), "id"),
            ("fax", json!({}), "id"),
            ("sms", with("auth_tokn", json!("x")), "auth_tokn"),
            ("sms", without("account_sid"), "account_sid"),
            ("sms", with("account_sid", json!("AC-1")), "account_sid"),
            ("sms", without("auth_token"), "auth_token"),
            (
                "sms",
                with("auth_token", json!({"env": "NUDGE_X"})),
                "auth_token.env",
            ),
            (
                "sms",
                with("auth_token", json!({"env": "TWILIO_TOKEN"})),
                "auth_token.env",
            ),
            (
                "sms",
                with("auth_token", json!({"file": "../token"})),
                "auth_token.file",
            ),
            ("sms", with("auth_token", json!(REDACTED)), "auth_token"),
            ("sms", without("from"), "from"),
            ("sms", with("base_url", json!("ftp://x")), "base_url"),
            ("sms", with("base_url", json!("not a url")), "base_url"),
            ("sms", with("timeout_secs", json!(0)), "timeout_secs"),
            ("sms", with("timeout_secs", json!("10")), "timeout_secs"),
            ("email", json!({"from": "a@b.example"}), "smtp_url"),
            (
                "email",
                json!({"smtp_url": "http://x", "from": "a@b.example"}),
                "smtp_url",
            ),
            (
                "email",
                json!({"smtp_url": "smtp://h", "from": "not a mailbox"}),
                "from",
            ),
            (
                "email",
                json!({"smtp_url": "smtp://h", "from": "a@b.example", "max_connections": 0}),
                "max_connections",
            ),
            (
                "email",
                json!({"smtp_url": "smtp://u:p@h", "password": "p", "from": "a@b.example"}),
                "smtp_url",
            ),
            (
                "email",
                json!({"smtp_url": "smtp://u:<redacted>@h", "from": "a@b.example"}),
                "smtp_url",
            ),
            ("push", json!({}), "credentials"),
            (
                "push",
                json!({"credentials": {"project_id": "p"}}),
                "credentials",
            ),
            (
                "push",
                json!({"credentials": {"file": "/x"}, "base_url": 5}),
                "base_url",
            ),
            ("webhook", json!({"secret": ""}), "secret"),
        ];
        for (id, body, field) in cases {
            let error = refused(id, body.clone());
            assert_eq!(error.field, field, "{id} {body}: {error}");
            assert!(!error.message.is_empty());
        }
        assert_eq!(refused("sms", json!([1])).field, "");
    }

    #[test]
    fn reads_redact_inline_secrets_and_keep_references() {
        let body = json!({"smtp_url": "smtp://mailer:hunter2@mail.example:587?tls=required",
                          "password": null, "from": "a@b.example"});
        let shown = redacted(&body);
        assert_eq!(
            shown["smtp_url"],
            "smtp://mailer:<redacted>@mail.example:587?tls=required"
        );
        assert!(!shown.to_string().contains("hunter2"));
        assert!(has_inline_secret(&body));
        let shown = redacted(&sms());
        assert_eq!(shown["auth_token"], REDACTED);
        assert_eq!(shown["account_sid"], "AC1");
        let referenced = json!({"auth_token": {"env": "NUDGE_SECRET_TWILIO"}, "secret": {"file": "/s"},
                                "credentials": {"project_id": "p", "private_key": "k"}});
        let shown = redacted(&referenced);
        assert_eq!(shown["auth_token"], json!({"env": "NUDGE_SECRET_TWILIO"}));
        assert_eq!(shown["secret"], json!({"file": "/s"}));
        assert_eq!(shown["credentials"], REDACTED);
        assert!(!has_inline_secret(&json!({"auth_token": {"env": "T"}})));
    }
}
