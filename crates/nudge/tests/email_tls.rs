//! Email over TLS on a live server, to the real SMTP sink with a certificate from a private
//! CA: the environment's channel sends a transactional email with STARTTLS and AUTH
//! (`smtp://…?tls=required`, the CA from `NUDGE_SMTP_CA_FILE`); a workspace's own channel
//! sends over `smtps://`, trusting the CA given as `ca_pem` (a file in the secrets directory,
//! or inline PEM, checked when stored); and `tls=required` against a server without STARTTLS
//! fails the delivery, nothing sent in plaintext.

mod common;
mod delivery;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{start_with, Backend, TestServer};
use delivery::{advance, at, ledger_entry, EMAIL_FROM};
use nudge::config::DeliveryArgs;
use nudge_delivery::sinks::smtp::{SmtpSink, SmtpSinkOptions, SmtpSinkTls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const START: &str = "2026-03-02T09:00:00Z";
/// How long a test waits for recorded traffic before failing.
const DEADLINE: Duration = Duration::from_secs(10);

/// A private CA's certificate (PEM) and a sink TLS configuration it signed for 127.0.0.1.
fn private_ca() -> (String, Arc<rustls::ServerConfig>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Lumen mail CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let server = SmtpSinkTls::server_config(&leaf.pem(), &key.serialize_pem()).unwrap();
    (ca.pem(), server)
}

async fn sink(tls: SmtpSinkTls, credentials: Option<(&str, &str)>) -> SmtpSink {
    SmtpSink::start_with(SmtpSinkOptions {
        tls,
        credentials: credentials.map(|(user, password)| (user.into(), password.into())),
        ..SmtpSinkOptions::default()
    })
    .await
    .expect("smtp sink")
}

fn delivery_args(vars: &[(&str, String)]) -> DeliveryArgs {
    DeliveryArgs {
        delivery_retry_secs: 10,
        provider_env: Some(
            vars.iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..DeliveryArgs::default()
    }
}

async fn app(server: &TestServer, method: Method, path: &str, body: Value) -> common::Reply {
    let request = server
        .http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.creds.app_api_key)
        .json(&body);
    server.send(request).await
}

/// A transactional email with inline content, sent and settled: its ledger entry.
async fn send_email(server: &TestServer, subject: &str) -> Value {
    let body = json!({"identifiers": {"id": "c-1"}, "to": "ana@example.com",
                      "subject": subject, "body": "Your order is on its way."});
    let reply = app(server, Method::POST, "/v1/send/email", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let id = reply.body["delivery_id"].as_str().unwrap().to_string();
    let now = server.app_get("/v1/clock").await;
    advance(server, at(now.body["now"].as_str().unwrap())).await;
    ledger_entry(server, &id).await
}

async fn starttls_and_smtps_with_a_private_ca(backend: Backend) {
    let (ca_pem, server_tls) = private_ca();
    let starttls = sink(
        SmtpSinkTls::StartTls(Arc::clone(&server_tls)),
        Some(("mailer", "s3cret")),
    )
    .await;
    let implicit = sink(SmtpSinkTls::Implicit(Arc::clone(&server_tls)), None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("lumen-ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("lumen-ca.pem"), &ca_pem).unwrap();
    let args = delivery_args(&[
        (
            "NUDGE_SMTP_URL",
            format!("smtp://mailer:s3cret@{}?tls=required", starttls.address()),
        ),
        ("NUDGE_SMTP_CA_FILE", ca_file.to_str().unwrap().to_string()),
        ("NUDGE_EMAIL_FROM", EMAIL_FROM.to_string()),
        ("NUDGE_SECRETS_DIR", secrets.to_str().unwrap().to_string()),
    ]);
    let Some(server) = start_with(backend, Some(at(START)), args).await else {
        return;
    };
    advance(&server, at(START)).await;

    // The environment's channel: STARTTLS, then AUTH, over the private CA.
    let entry = send_email(&server, "Order 1042 shipped").await;
    assert_eq!(entry["state"], "sent", "{entry}");
    let received = starttls.wait_for_messages(1, DEADLINE).await.unwrap();
    assert!(received[0].tls, "the message arrived in plaintext");
    assert_eq!(received[0].authenticated_as.as_deref(), Some("mailer"));
    assert_eq!(received[0].header("Subject"), Some("Order 1042 shipped"));

    // A CA that is not PEM is refused when stored, naming the field.
    let refused = app(
        &server,
        Method::PUT,
        "/v1/channels/email",
        json!({"smtp_url": implicit.url(), "from": EMAIL_FROM, "ca_pem": "not a certificate"}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let error = refused.body.to_string();
    assert!(
        error.contains("ca_pem") && error.contains("no PEM certificate"),
        "{error}"
    );

    // The workspace's own channel: TLS from the first byte, the CA from the secrets directory.
    let put = app(
        &server,
        Method::PUT,
        "/v1/channels/email",
        json!({"smtp_url": implicit.url(), "from": EMAIL_FROM,
               "ca_pem": {"file": "lumen-ca.pem"}}),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let entry = send_email(&server, "Order 1043 shipped").await;
    assert_eq!(entry["state"], "sent", "{entry}");
    let received = implicit.wait_for_messages(1, DEADLINE).await.unwrap();
    assert!(received[0].tls, "the message arrived in plaintext");
    assert_eq!(received[0].header("Subject"), Some("Order 1043 shipped"));

    // Inline PEM works the same way.
    let put = app(
        &server,
        Method::PUT,
        "/v1/channels/email",
        json!({"smtp_url": implicit.url(), "from": EMAIL_FROM, "ca_pem": ca_pem}),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let entry = send_email(&server, "Order 1044 shipped").await;
    assert_eq!(entry["state"], "sent", "{entry}");
    assert_eq!(implicit.message_count(), 2);
    assert_eq!(starttls.message_count(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_smtps_with_a_private_ca_on_sqlite() {
    starttls_and_smtps_with_a_private_ca(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_smtps_with_a_private_ca_on_postgres() {
    starttls_and_smtps_with_a_private_ca(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_without_starttls_fails_the_delivery() {
    let (ca_pem, _) = private_ca();
    let plain = sink(SmtpSinkTls::Off, Some(("mailer", "s3cret"))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("lumen-ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let args = delivery_args(&[
        (
            "NUDGE_SMTP_URL",
            format!("smtp://mailer:s3cret@{}?tls=required", plain.address()),
        ),
        ("NUDGE_SMTP_CA_FILE", ca_file.to_str().unwrap().to_string()),
        ("NUDGE_EMAIL_FROM", EMAIL_FROM.to_string()),
    ]);
    let Some(server) = start_with(Backend::Sqlite, Some(at(START)), args).await else {
        return;
    };
    advance(&server, at(START)).await;

    let entry = send_email(&server, "Order 1042 shipped").await;

    assert_eq!(entry["state"], "failed", "{entry}");
    assert_eq!(
        entry["reason"], "smtp client error: STARTTLS is not supported on this server",
        "{entry}"
    );
    assert_eq!(plain.transaction_count(), 0, "MAIL was sent in plaintext");
    assert_eq!(plain.message_count(), 0);
    server.stop().await;
}
