//! The email channel against the real SMTP sink: the envelope, the headers and MIME parts a
//! receiver sees, the stable Message-ID, AUTH, and the outcome of SMTP answers and failures.

mod common;

use std::time::Duration;

use common::{clock, closed_port, message, shared, DEADLINE};
use mail_parser::{MessageParser, MimeHeaders};
use nudge_delivery::providers::email::message_id;
use nudge_delivery::providers::{EmailChannel, EmailSettings};
use nudge_delivery::sinks::{ReceivedMail, SmtpReply, SmtpSink, SmtpSinkOptions, SmtpStage};
use nudge_delivery::{Channel, Outcome, OutgoingMessage};
use serde_json::json;

fn channel(smtp_url: &str, timeout: Duration) -> EmailChannel {
    let settings = EmailSettings {
        smtp_url: smtp_url.into(),
        from: "Shop <hello@shop.example>".into(),
        max_connections: 4,
        timeout,
        ca_pem: None,
    };
    EmailChannel::new(settings, shared(&clock())).unwrap()
}

fn email() -> OutgoingMessage {
    let mut email = message("email", "ada@example.com", "You left a mug in your cart.");
    email.subject = Some("Your cart is waiting".into());
    email.payload = json!({
        "html": "<p>You left a <b>mug</b> in your cart.</p>",
        "unsubscribe_url": "https://shop.example/unsubscribe/d-1?sig=abc",
        "reply_to": "Support <help@shop.example>",
    });
    email
}

async fn send_one(sink: &SmtpSink, message: &OutgoingMessage) -> (Outcome, Vec<ReceivedMail>) {
    let outcome = channel(&sink.url(), DEADLINE).send(message).await;
    (outcome, sink.messages())
}

#[tokio::test]
async fn a_marketing_email_is_multipart_with_one_click_unsubscribe() {
    let sink = SmtpSink::start().await.unwrap();
    let email = email();

    let (outcome, received) = send_one(&sink, &email).await;

    let expected_id = "<1700=3Acart_recovery=3A3=3A42=3Aremind=3A1=3A@shop.example>";
    assert_eq!(message_id(&email.delivery_id, "shop.example"), expected_id);
    assert_eq!(
        outcome,
        Outcome::Sent {
            provider_message_id: Some(expected_id.into()),
            response: None
        }
    );
    let [mail] = received.as_slice() else {
        panic!("one message expected, got {received:?}");
    };
    assert_eq!(mail.mail_from, "hello@shop.example");
    assert_eq!(mail.rcpt_to, vec!["ada@example.com".to_string()]);
    assert_eq!(mail.header("From"), Some("Shop <hello@shop.example>"));
    assert_eq!(mail.header("To"), Some("ada@example.com"));
    assert_eq!(mail.header("Subject"), Some("Your cart is waiting"));
    assert_eq!(mail.header("Reply-To"), Some("Support <help@shop.example>"));
    assert_eq!(mail.header("Message-ID"), Some(expected_id));
    assert_eq!(mail.header("Date"), Some("Mon, 02 Mar 2026 09:00:00 +0000"));
    assert_eq!(
        mail.header_values("List-Unsubscribe"),
        vec!["<https://shop.example/unsubscribe/d-1?sig=abc>"]
    );
    assert_eq!(
        mail.header_values("List-Unsubscribe-Post"),
        vec!["List-Unsubscribe=One-Click"]
    );

    let parsed = MessageParser::default().parse(&mail.data).unwrap();
    let content_type = parsed.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!((parsed.text_body_count(), parsed.html_body_count()), (1, 1));
    assert_eq!(parsed.attachment_count(), 0);
    assert_eq!(
        parsed.body_text(0).unwrap().trim_end(),
        "You left a mug in your cart."
    );
    assert_eq!(
        parsed.body_html(0).unwrap().trim_end(),
        "<p>You left a <b>mug</b> in your cart.</p>"
    );
    assert_eq!(parsed.subject(), Some("Your cart is waiting"));
}

#[tokio::test]
async fn without_html_or_unsubscribe_url_the_email_is_plain_text() {
    let sink = SmtpSink::start().await.unwrap();
    let mut email = message("email", "ada@example.com", "Your code is 123456 — é");
    email.payload = json!({"html": ""});

    let (outcome, received) = send_one(&sink, &email).await;

    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    let mail = &received[0];
    assert_eq!(mail.header("List-Unsubscribe"), None);
    assert_eq!(mail.header("List-Unsubscribe-Post"), None);
    assert_eq!(mail.header("Subject"), None);
    let parsed = MessageParser::default().parse(&mail.data).unwrap();
    let content_type = parsed.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("text", Some("plain"))
    );
    assert_eq!(content_type.attribute("charset"), Some("utf-8"));
    assert_eq!(
        parsed.body_text(0).unwrap().trim_end(),
        "Your code is 123456 — é"
    );
}

#[tokio::test]
async fn a_retry_carries_the_same_message_id_and_another_delivery_a_different_one() {
    let sink = SmtpSink::start().await.unwrap();
    let channel = channel(&sink.url(), DEADLINE);
    let mut first = email();
    channel.send(&first).await;
    first.attempt = 2;
    channel.send(&first).await;
    let mut other = email();
    other.delivery_id.push('2');
    channel.send(&other).await;

    let received = sink.wait_for_messages(3, DEADLINE).await.unwrap();
    let ids: Vec<_> = received.iter().map(|m| m.header("Message-ID")).collect();
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[tokio::test]
async fn concurrent_sends_share_a_few_connections_and_all_arrive() {
    let sink = SmtpSink::start().await.unwrap();
    let channel = channel(&sink.url(), DEADLINE);
    let emails: Vec<_> = (0..60)
        .map(|n| {
            let mut email = email();
            email.delivery_id = format!("d-{n}");
            email
        })
        .collect();

    let outcomes = futures::future::join_all(emails.iter().map(|e| channel.send(e))).await;

    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Sent { .. })),
        "{outcomes:?}"
    );
    let received = sink.wait_for_messages(60, DEADLINE).await.unwrap();
    let mut ids: Vec<_> = received
        .iter()
        .filter_map(|m| m.header("Message-ID"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60);
    assert!(
        sink.connection_count() <= 4,
        "{} connections",
        sink.connection_count()
    );
}

#[tokio::test]
async fn one_connection_carries_message_after_message() {
    let sink = SmtpSink::start().await.unwrap();
    let channel = channel(&sink.url(), DEADLINE);
    for attempt in 1..=5 {
        let mut email = email();
        email.attempt = attempt;
        let outcome = channel.send(&email).await;
        assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    }
    assert_eq!(sink.message_count(), 5);
    assert_eq!(sink.connection_count(), 1);
}

/// Sends one email to a sink answering `reply` at `stage`.
async fn outcome_when(stage: SmtpStage, reply: SmtpReply) -> (Outcome, SmtpSink) {
    let sink = SmtpSink::start().await.unwrap();
    sink.answer_with(move |step| (step.stage == stage).then(|| reply.clone()));
    let outcome = channel(&sink.url(), DEADLINE).send(&email()).await;
    (outcome, sink)
}

#[tokio::test]
async fn smtp_answers_map_to_outcomes() {
    let cases = [
        (
            SmtpStage::Rcpt,
            SmtpReply::new(550, "5.1.1 mailbox unknown"),
            Outcome::Permanent {
                reason: "smtp 550 5.1.1 mailbox unknown".into(),
            },
        ),
        (
            SmtpStage::Mail,
            SmtpReply::new(451, "4.7.1 greylisted, try again later"),
            Outcome::Transient {
                reason: "smtp 451 4.7.1 greylisted, try again later".into(),
                retry_after: None,
            },
        ),
        (
            SmtpStage::Data,
            SmtpReply::new(554, "5.7.1 message refused as spam"),
            Outcome::Permanent {
                reason: "smtp 554 5.7.1 message refused as spam".into(),
            },
        ),
        (
            SmtpStage::Data,
            SmtpReply::new(452, "4.3.1 insufficient system storage"),
            Outcome::Transient {
                reason: "smtp 452 4.3.1 insufficient system storage".into(),
                retry_after: None,
            },
        ),
        (
            SmtpStage::Mail,
            SmtpReply::new(421, "4.3.2 shutting down"),
            Outcome::Transient {
                reason: "smtp 421 4.3.2 shutting down".into(),
                retry_after: None,
            },
        ),
    ];
    for (stage, reply, expected) in cases {
        let (outcome, sink) = outcome_when(stage, reply.clone()).await;
        assert_eq!(outcome, expected, "{stage:?} {reply:?}");
        assert_eq!(sink.message_count(), 0);
        assert_eq!(sink.transaction_count(), 1);
    }
}

#[tokio::test]
async fn after_a_refused_message_the_next_one_goes_through() {
    let sink = SmtpSink::start().await.unwrap();
    sink.answer_with(|step| {
        (step.stage == SmtpStage::Data && step.transaction == 1)
            .then(|| SmtpReply::new(451, "4.3.0 try again"))
    });
    let channel = channel(&sink.url(), DEADLINE);
    let mut email = email();

    let first = channel.send(&email).await;
    email.attempt = 2;
    let second = channel.send(&email).await;

    assert!(matches!(first, Outcome::Transient { .. }), "{first:?}");
    assert!(matches!(second, Outcome::Sent { .. }), "{second:?}");
    let received = sink.wait_for_messages(1, DEADLINE).await.unwrap();
    assert_eq!(received[0].transaction, 2);
}

#[tokio::test]
async fn credentials_in_the_url_authenticate_and_wrong_ones_are_permanent() {
    let sink = SmtpSink::start_with(SmtpSinkOptions {
        credentials: Some(("mailer".into(), "p@ss word".into())),
        ..SmtpSinkOptions::default()
    })
    .await
    .unwrap();
    let address = sink.address();

    let good = channel(&format!("smtp://mailer:p%40ss%20word@{address}"), DEADLINE)
        .send(&email())
        .await;
    assert!(matches!(good, Outcome::Sent { .. }), "{good:?}");
    let received = sink.wait_for_messages(1, DEADLINE).await.unwrap();
    assert_eq!(received[0].authenticated_as.as_deref(), Some("mailer"));

    let wrong = channel(&format!("smtp://mailer:nope@{address}"), DEADLINE)
        .send(&email())
        .await;
    assert_eq!(
        wrong,
        Outcome::Permanent {
            reason: "smtp 535 5.7.8 Authentication credentials invalid".into()
        }
    );
    let anonymous = channel(&sink.url(), DEADLINE).send(&email()).await;
    assert_eq!(
        anonymous,
        Outcome::Permanent {
            reason: "smtp 530 5.7.0 Authentication required".into()
        }
    );
    assert_eq!(sink.message_count(), 1);
}

#[tokio::test]
async fn an_unreachable_or_silent_server_is_transient() {
    let refused = channel(&format!("smtp://{}", closed_port()), DEADLINE)
        .send(&email())
        .await;
    assert!(
        matches!(&refused, Outcome::Transient { reason, .. } if reason.starts_with("smtp ")),
        "{refused:?}"
    );

    // A server that accepts the connection and never greets.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let timed_out = channel(&format!("smtp://{address}"), Duration::from_millis(300))
        .send(&email())
        .await;
    holder.abort();
    assert_eq!(
        timed_out,
        Outcome::Transient {
            reason: "smtp timed out after 300 ms".into(),
            retry_after: None
        }
    );
}

#[tokio::test]
async fn bad_addresses_and_payloads_are_refused_before_connecting() {
    let sink = SmtpSink::start().await.unwrap();
    let channel = channel(&sink.url(), DEADLINE);
    let mut refused = email();
    let cases = [
        (
            "not-an-address",
            json!({}),
            "invalid email address 'not-an-address'",
        ),
        (
            "ada@example.com",
            json!({"html": 3}),
            "email field 'html' must be a string, got 3",
        ),
        (
            "ada@example.com",
            json!({"unsubscribe_url": "https://x.example/a b"}),
            "unsubscribe_url 'https://x.example/a b' is not a URL that fits a header",
        ),
        (
            "ada@example.com",
            json!({"reply_to": "nobody"}),
            "invalid reply_to address 'nobody'",
        ),
    ];
    for (recipient, payload, reason) in cases {
        refused.recipient = recipient.into();
        refused.payload = payload;
        let outcome = channel.send(&refused).await;
        assert!(
            matches!(&outcome, Outcome::Permanent { reason: r } if r.starts_with(reason)),
            "{outcome:?} should start with {reason}"
        );
    }
    assert_eq!(sink.transaction_count(), 0);
}
