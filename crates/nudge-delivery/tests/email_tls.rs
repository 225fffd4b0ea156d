//! Email over TLS against the real SMTP sink, with certificates from a private CA the test
//! generates: STARTTLS (`smtp://…?tls=required`) with AUTH, TLS from the first byte
//! (`smtps://`), no plaintext fallback when the server lacks STARTTLS, a certificate no
//! trusted CA signed refused, and the sink's side of RFC 3207 (state reset after STARTTLS).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{clock, message, shared, DEADLINE};
use nudge_delivery::providers::{EmailChannel, EmailSettings};
use nudge_delivery::sinks::smtp::SmtpSinkTls;
use nudge_delivery::sinks::{SmtpSink, SmtpSinkOptions};
use nudge_delivery::{Channel, ChannelsConfig, Outcome, OutgoingMessage};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A private CA and a server certificate it signed for 127.0.0.1.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki(name: &str) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, name);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let server = SmtpSinkTls::server_config(&leaf.pem(), &leaf_key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        server,
    }
}

async fn sink(tls: SmtpSinkTls, credentials: Option<(&str, &str)>) -> SmtpSink {
    SmtpSink::start_with(SmtpSinkOptions {
        tls,
        credentials: credentials.map(|(user, password)| (user.into(), password.into())),
        ..SmtpSinkOptions::default()
    })
    .await
    .unwrap()
}

fn channel(smtp_url: &str, ca_pem: Option<&str>) -> EmailChannel {
    let settings = EmailSettings {
        smtp_url: smtp_url.into(),
        from: "Shop <hello@shop.example>".into(),
        max_connections: 2,
        timeout: DEADLINE,
        ca_pem: ca_pem.map(str::to_string),
    };
    EmailChannel::new(settings, shared(&clock())).unwrap()
}

fn receipt() -> OutgoingMessage {
    let mut email = message("email", "ada@example.com", "Your order 1042 is on its way.");
    email.subject = Some("Order 1042 shipped".into());
    email
}

#[tokio::test]
async fn starttls_with_auth_delivers_over_tls() {
    let pki = pki("Shop private CA");
    let sink = sink(
        SmtpSinkTls::StartTls(Arc::clone(&pki.server)),
        Some(("mailer", "s3cret")),
    )
    .await;
    let url = format!("smtp://mailer:s3cret@{}?tls=required", sink.address());

    let outcome = channel(&url, Some(&pki.ca_pem)).send(&receipt()).await;

    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    let received = sink.wait_for_messages(1, DEADLINE).await.unwrap();
    let [mail] = received.as_slice() else {
        panic!("one message expected, got {received:?}");
    };
    assert!(mail.tls, "the message arrived in plaintext");
    assert_eq!(mail.authenticated_as.as_deref(), Some("mailer"));
    assert_eq!(mail.rcpt_to, vec!["ada@example.com".to_string()]);
    assert_eq!(mail.header("Subject"), Some("Order 1042 shipped"));
}

#[tokio::test]
async fn smtps_speaks_tls_from_the_first_byte() {
    let pki = pki("Shop private CA");
    let sink = sink(SmtpSinkTls::Implicit(Arc::clone(&pki.server)), None).await;
    assert_eq!(sink.url(), format!("smtps://{}", sink.address()));

    let outcome = channel(&sink.url(), Some(&pki.ca_pem))
        .send(&receipt())
        .await;

    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    let received = sink.wait_for_messages(1, DEADLINE).await.unwrap();
    assert!(received[0].tls, "the message arrived in plaintext");
}

#[tokio::test]
async fn opportunistic_tls_upgrades_when_offered_and_sends_plain_otherwise() {
    let pki = pki("Shop private CA");
    let offered = sink(SmtpSinkTls::StartTls(Arc::clone(&pki.server)), None).await;
    let plain = sink(SmtpSinkTls::Off, None).await;

    for (sink, over_tls) in [(&offered, true), (&plain, false)] {
        let url = format!("smtp://{}?tls=opportunistic", sink.address());
        let outcome = channel(&url, Some(&pki.ca_pem)).send(&receipt()).await;
        assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
        let received = sink.wait_for_messages(1, DEADLINE).await.unwrap();
        assert_eq!(received[0].tls, over_tls);
    }
}

#[tokio::test]
async fn tls_required_against_a_server_without_starttls_never_sends_in_plaintext() {
    let pki = pki("Shop private CA");
    let sink = sink(SmtpSinkTls::Off, Some(("mailer", "s3cret"))).await;
    let url = format!("smtp://mailer:s3cret@{}?tls=required", sink.address());

    let outcome = channel(&url, Some(&pki.ca_pem)).send(&receipt()).await;

    assert_eq!(
        outcome,
        Outcome::Permanent {
            reason: "smtp client error: STARTTLS is not supported on this server".into()
        }
    );
    assert_eq!(sink.transaction_count(), 0, "MAIL was sent in plaintext");
    assert_eq!(sink.message_count(), 0);
}

#[tokio::test]
async fn a_certificate_no_trusted_ca_signed_is_refused() {
    let trusted = pki("Shop private CA");
    let other = pki("Somebody else's CA");
    let starttls = sink(SmtpSinkTls::StartTls(Arc::clone(&other.server)), None).await;
    let implicit = sink(SmtpSinkTls::Implicit(Arc::clone(&other.server)), None).await;

    for sink in [&starttls, &implicit] {
        for ca_pem in [Some(trusted.ca_pem.as_str()), None] {
            let outcome = channel(&sink.url(), ca_pem).send(&receipt()).await;
            let Outcome::Transient { reason, .. } = &outcome else {
                panic!(
                    "{}: a transient failure expected, got {outcome:?}",
                    sink.url()
                );
            };
            assert_eq!(
                reason,
                "smtp TLS handshake failed: invalid peer certificate: UnknownIssuer"
            );
        }
        assert_eq!(sink.transaction_count(), 0);
    }
    // The same sinks accept the client that trusts their CA.
    let outcome = channel(&starttls.url(), Some(&other.ca_pem))
        .send(&receipt())
        .await;
    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
}

#[test]
fn a_ca_setting_that_holds_no_certificate_is_refused() {
    let settings = EmailSettings {
        smtp_url: "smtps://127.0.0.1:465".into(),
        from: "hello@shop.example".into(),
        max_connections: 1,
        timeout: Duration::from_secs(1),
        ca_pem: Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into()),
    };
    let error = EmailChannel::new(settings, shared(&clock()))
        .err()
        .expect("refused");
    assert!(
        error
            .to_string()
            .starts_with("the CA certificate is invalid: "),
        "{error}"
    );
}

#[test]
fn nudge_smtp_ca_file_is_read_and_checked_when_the_configuration_loads() {
    let load = |ca_file: &str| {
        let vars = [
            ("NUDGE_SMTP_URL", "smtp://127.0.0.1:2525?tls=required"),
            ("NUDGE_EMAIL_FROM", "hello@shop.example"),
            ("NUDGE_SMTP_CA_FILE", ca_file),
        ];
        ChannelsConfig::from_env(
            |name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            },
            shared(&clock()),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki("Shop private CA").ca_pem).unwrap();
    let config = load(ca.to_str().unwrap()).unwrap();
    assert_eq!(config.effective()["email"]["private_ca"], true);

    let missing = dir.path().join("missing.pem");
    let error = load(missing.to_str().unwrap()).err().unwrap().to_string();
    assert!(
        error.starts_with("NUDGE_SMTP_CA_FILE: cannot read"),
        "{error}"
    );
    let key = dir.path().join("key.pem");
    std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let error = load(key.to_str().unwrap()).err().unwrap().to_string();
    assert!(
        error.starts_with("NUDGE_SMTP_CA_FILE: the CA certificate is invalid"),
        "{error}"
    );
}

/// Reads one reply, all its lines, joined by `\n`.
async fn reply<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> String {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let read = tokio::time::timeout(DEADLINE, reader.read_line(&mut line))
            .await
            .expect("the sink answers")
            .unwrap();
        assert!(read > 0, "the sink closed the connection after {lines:?}");
        let line = line.trim_end().to_string();
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last {
            return lines.join("\n");
        }
    }
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    line: &str,
) -> String {
    stream
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .unwrap();
    stream.get_mut().flush().await.unwrap();
    reply(stream).await
}

#[tokio::test]
async fn the_sink_forgets_the_session_after_starttls() {
    let pki = pki("Shop private CA");
    let sink = sink(
        SmtpSinkTls::StartTls(Arc::clone(&pki.server)),
        Some(("mailer", "s3cret")),
    )
    .await;
    let mut plain = BufReader::new(TcpStream::connect(sink.address()).await.unwrap());
    assert!(reply(&mut plain).await.starts_with("220 "));
    let ehlo = command(&mut plain, "EHLO client.example").await;
    assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
    assert_eq!(
        command(&mut plain, "STARTTLS").await,
        "220 2.0.0 Ready to start TLS"
    );

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            ServerName::try_from("127.0.0.1").unwrap(),
            plain.into_inner(),
        )
        .await
        .unwrap();
    let mut tls = BufReader::new(tls);

    // RFC 3207 §4.2: the EHLO given before STARTTLS no longer counts.
    assert!(command(&mut tls, "MAIL FROM:<a@shop.example>")
        .await
        .starts_with("503 "));
    let ehlo = command(&mut tls, "EHLO client.example").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(command(&mut tls, "STARTTLS").await.starts_with("454 "));
    assert_eq!(command(&mut tls, "QUIT").await, "221 2.0.0 Bye");
}
