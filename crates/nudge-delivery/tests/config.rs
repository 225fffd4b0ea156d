//! Channel configuration from `NUDGE_*` variables: what is configured, errors that name the
//! variable, secrets from files, and the redacted effective settings.

mod common;

use std::collections::HashMap;
use std::io::Write;

use common::{clock, message, shared};
use nudge_delivery::{ChannelsConfig, ConfigError, Outcome};

const PRIVATE_KEY: &str = include_str!("fixtures/fcm-test-key.pem");

fn load(vars: &[(&str, &str)]) -> Result<ChannelsConfig, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ChannelsConfig::from_env(|name| vars.get(name).cloned(), shared(&clock()))
}

fn credentials_file(document: &serde_json::Value) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(document.to_string().as_bytes()).unwrap();
    file
}

fn service_account() -> serde_json::Value {
    serde_json::json!({
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "key-1",
        "private_key": PRIVATE_KEY,
        "client_email": "nudge@demo-project.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token"
    })
}

#[tokio::test]
async fn with_nothing_set_only_the_outbox_and_webhooks_exist() {
    let config = load(&[("NUDGE_EMAIL_FROM", "  ")]).unwrap();
    assert_eq!(config.names(), vec!["outbox", "webhook"]);
    assert!(config.channel("email").is_none());
    assert!(config.channel("carrier-pigeon").is_none());
    let outbox = config.channel("outbox").unwrap();
    assert_eq!(
        outbox
            .send(&message("email", "ada@example.com", "hi"))
            .await,
        Outcome::Sent {
            provider_message_id: None,
            response: None
        }
    );
}

#[tokio::test]
async fn every_channel_configured_and_secrets_redacted() {
    let credentials = credentials_file(&service_account());
    let mut token_file = tempfile::NamedTempFile::new().unwrap();
    token_file.write_all(b"twilio-s3cret\n").unwrap();
    let config = load(&[
        (
            "NUDGE_SMTP_URL",
            "smtps://mailer:smtp-s3cret@smtp.example:465",
        ),
        ("NUDGE_EMAIL_FROM", "Shop <hello@shop.example>"),
        ("NUDGE_SMTP_MAX_CONNECTIONS", "8"),
        ("NUDGE_TWILIO_ACCOUNT_SID", "AC123"),
        (
            "NUDGE_TWILIO_AUTH_TOKEN_FILE",
            token_file.path().to_str().unwrap(),
        ),
        ("NUDGE_TWILIO_FROM", "+15005550006"),
        (
            "NUDGE_FCM_CREDENTIALS_FILE",
            credentials.path().to_str().unwrap(),
        ),
        ("NUDGE_WEBHOOK_SECRET", "whsec-s3cret"),
        ("NUDGE_WEBHOOK_TIMEOUT_SECS", "2.5"),
    ])
    .unwrap();

    assert_eq!(
        config.names(),
        vec!["email", "outbox", "push", "sms", "webhook"]
    );
    let effective = config.effective();
    let printed = effective.to_string();
    for secret in [
        "smtp-s3cret",
        "twilio-s3cret",
        "whsec-s3cret",
        "PRIVATE KEY",
    ] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    assert_eq!(
        effective["email"]["smtp_url"],
        "smtps://mailer:<redacted>@smtp.example:465"
    );
    assert_eq!(effective["email"]["max_connections"], 8);
    assert_eq!(effective["sms"]["base_url"], "https://api.twilio.com");
    assert_eq!(effective["push"]["base_url"], "https://fcm.googleapis.com");
    assert_eq!(effective["push"]["project_id"], "demo-project");
    assert_eq!(effective["webhook"]["signed"], true);
    assert_eq!(effective["webhook"]["timeout_secs"], 2.5);
    let debug = format!("{config:?}");
    for secret in [
        "smtp-s3cret",
        "twilio-s3cret",
        "whsec-s3cret",
        "PRIVATE KEY",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
}

/// Loads `vars` and expects an error whose message starts with `expected`.
fn check(vars: &[(&str, &str)], expected: &str) {
    match load(vars) {
        Ok(config) => panic!("{vars:?} was accepted: {config:?}"),
        Err(error) => assert!(
            error.to_string().starts_with(expected),
            "{vars:?}: got '{error}', expected '{expected}…'"
        ),
    }
}

#[test]
fn half_configured_channels_name_the_missing_variable() {
    check(
        &[("NUDGE_SMTP_URL", "smtp://127.0.0.1:25")],
        "the email channel is half configured: NUDGE_EMAIL_FROM is not set (but NUDGE_SMTP_URL is)",
    );
    check(
        &[("NUDGE_EMAIL_FROM", "hello@shop.example")],
        "the email channel is half configured: NUDGE_SMTP_URL is not set (but NUDGE_EMAIL_FROM is)",
    );
    check(
        &[
            ("NUDGE_TWILIO_ACCOUNT_SID", "AC1"),
            ("NUDGE_TWILIO_FROM", "+15005550006"),
        ],
        "the sms channel is half configured: NUDGE_TWILIO_AUTH_TOKEN is not set",
    );
    check(
        &[("NUDGE_TWILIO_BASE_URL", "http://127.0.0.1:9")],
        "the sms channel is half configured: NUDGE_TWILIO_ACCOUNT_SID is not set (but NUDGE_TWILIO_BASE_URL is)",
    );
    check(
        &[("NUDGE_FCM_BASE_URL", "http://127.0.0.1:9")],
        "the push channel is half configured: NUDGE_FCM_CREDENTIALS_FILE is not set",
    );
}

#[test]
fn invalid_values_name_their_variable() {
    let email = [
        ("NUDGE_SMTP_URL", "smtp://127.0.0.1:25"),
        ("NUDGE_EMAIL_FROM", "hello@shop.example"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut vars = email.to_vec();
        vars.retain(|(name, _)| *name != extra.0);
        vars.push(extra);
        vars
    };
    check(
        &with(("NUDGE_EMAIL_FROM", "not an address")),
        "NUDGE_EMAIL_FROM: the From address is invalid",
    );
    check(
        &with(("NUDGE_SMTP_URL", "http://smtp.example")),
        "NUDGE_SMTP_URL: the SMTP URL is invalid",
    );
    check(
        &with(("NUDGE_SMTP_MAX_CONNECTIONS", "0")),
        "NUDGE_SMTP_MAX_CONNECTIONS: '0' is not a whole number",
    );
    check(
        &with(("NUDGE_SMTP_TIMEOUT_SECS", "soon")),
        "NUDGE_SMTP_TIMEOUT_SECS: 'soon' is not a number of seconds",
    );
    check(
        &[("NUDGE_WEBHOOK_TIMEOUT_SECS", "0")],
        "NUDGE_WEBHOOK_TIMEOUT_SECS: '0' is not a number of seconds",
    );
    check(
        &[("NUDGE_WEBHOOK_SECRET", "a"), ("NUDGE_WEBHOOK_SECRET_FILE", "/nonexistent")],
        "NUDGE_WEBHOOK_SECRET_FILE: set either NUDGE_WEBHOOK_SECRET or NUDGE_WEBHOOK_SECRET_FILE, not both",
    );
    check(
        &[("NUDGE_WEBHOOK_SECRET_FILE", "/nonexistent/secret")],
        "NUDGE_WEBHOOK_SECRET_FILE: cannot read '/nonexistent/secret'",
    );
    check(
        &[
            ("NUDGE_TWILIO_ACCOUNT_SID", "AC/../x"),
            ("NUDGE_TWILIO_AUTH_TOKEN", "t"),
            ("NUDGE_TWILIO_FROM", "+15005550006"),
        ],
        "NUDGE_TWILIO_ACCOUNT_SID: 'AC/../x' must be letters and digits",
    );
    check(
        &[
            ("NUDGE_TWILIO_ACCOUNT_SID", "AC1"),
            ("NUDGE_TWILIO_AUTH_TOKEN", "t"),
            ("NUDGE_TWILIO_FROM", "+15005550006"),
            ("NUDGE_TWILIO_BASE_URL", "not a url"),
        ],
        "NUDGE_TWILIO_BASE_URL: base url 'not a url' is invalid",
    );
}

#[test]
fn fcm_credentials_are_checked_when_loaded() {
    check(
        &[("NUDGE_FCM_CREDENTIALS_FILE", "/nonexistent/sa.json")],
        "NUDGE_FCM_CREDENTIALS_FILE: cannot read '/nonexistent/sa.json'",
    );
    let mut no_email = service_account();
    no_email.as_object_mut().unwrap().remove("client_email");
    let file = credentials_file(&no_email);
    let path = file.path().to_str().unwrap();
    check(
        &[("NUDGE_FCM_CREDENTIALS_FILE", path)],
        &format!(
            "NUDGE_FCM_CREDENTIALS_FILE: '{path}': the field 'client_email' is missing or empty"
        ),
    );
    let mut bad_key = service_account();
    bad_key["private_key"] =
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
    let file = credentials_file(&bad_key);
    check(
        &[("NUDGE_FCM_CREDENTIALS_FILE", file.path().to_str().unwrap())],
        "NUDGE_FCM_CREDENTIALS_FILE: private_key is not an RSA private key in PEM",
    );
}
