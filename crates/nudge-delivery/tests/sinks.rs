//! The recording sinks themselves: the SMTP sink speaks the protocol correctly to a raw
//! client (sequence errors, dot-stuffing, RSET, AUTH, a refused message ending its
//! transaction), and both sinks count, keep and wait as documented.

mod common;

use std::time::Duration;

use base64::Engine;
use common::DEADLINE;
use nudge_delivery::sinks::{
    HttpSink, SinkResponse, SmtpReply, SmtpSink, SmtpSinkOptions, SmtpStage, WaitTimedOut,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A line-by-line SMTP client.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(sink: &SmtpSink) -> Self {
        let (reader, writer) = TcpStream::connect(sink.address())
            .await
            .unwrap()
            .into_split();
        let mut client = Self {
            reader: BufReader::new(reader),
            writer,
        };
        assert!(client.reply().await.starts_with("220 "));
        client
    }

    /// The full reply (continuation lines included), CRLFs kept.
    async fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.unwrap();
            assert!(line.len() >= 4, "short reply line {line:?}");
            reply.push_str(&line);
            if line.as_bytes()[3] == b' ' {
                return reply;
            }
        }
    }

    /// Sends `line` and returns the first line of the answer without CRLF.
    async fn say(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await.lines().last().unwrap().to_string()
    }
}

#[tokio::test]
async fn commands_out_of_order_are_refused_and_the_session_goes_on() {
    let sink = SmtpSink::start().await.unwrap();
    let mut client = Client::connect(&sink).await;
    let exchanges = [
        (
            "MAIL FROM:<a@b.example>",
            "503 5.5.1 Error: send EHLO first",
        ),
        ("EHLO client.example", "250 SIZE 33554432"),
        (
            "RCPT TO:<c@d.example>",
            "503 5.5.1 Error: need MAIL command",
        ),
        ("DATA", "503 5.5.1 Error: need RCPT command"),
        (
            "MAIL FROM:a@b.example",
            "501 5.5.4 Syntax: MAIL FROM:<address>",
        ),
        ("MAIL FROM:<a@b.example> BODY=8BITMIME", "250 2.1.0 Ok"),
        (
            "MAIL FROM:<again@b.example>",
            "503 5.5.1 Error: nested MAIL command",
        ),
        ("DATA", "503 5.5.1 Error: need RCPT command"),
        ("FROB", "500 5.5.2 Command not recognized"),
        ("NOOP", "250 2.0.0 Ok"),
        ("RSET", "250 2.0.0 Ok"),
        (
            "RCPT TO:<c@d.example>",
            "503 5.5.1 Error: need MAIL command",
        ),
        ("STARTTLS", "454 4.7.0 TLS not available"),
        ("QUIT", "221 2.0.0 Bye"),
    ];
    for (command, expected) in exchanges {
        assert_eq!(client.say(command).await, expected, "{command}");
    }
    assert_eq!(sink.message_count(), 0);
}

#[tokio::test]
async fn messages_are_unstuffed_and_a_refused_one_ends_its_transaction() {
    let sink = SmtpSink::start().await.unwrap();
    sink.answer_with(|step| {
        (step.stage == SmtpStage::Data && step.transaction == 1)
            .then(|| SmtpReply::new(554, "5.7.1 no thanks"))
    });
    let mut client = Client::connect(&sink).await;
    client.say("HELO client.example").await;
    for (n, expected) in [(1, "554 5.7.1 no thanks"), (2, "250 2.0.0 Ok: queued as 2")] {
        assert_eq!(
            client.say("MAIL FROM:<>").await,
            "250 2.1.0 Ok",
            "message {n}"
        );
        assert_eq!(client.say("RCPT TO:<x@y.example>").await, "250 2.1.5 Ok");
        assert_eq!(client.say("RCPT TO:<z@y.example>").await, "250 2.1.5 Ok");
        assert!(client.say("DATA").await.starts_with("354 "));
        let body = "Subject: dots\r\nX-Folded: one\r\n\ttwo\r\n\r\n..leading dot\r\n.\r\n";
        assert_eq!(client.say(body.trim_end()).await, expected);
    }

    let received = sink.wait_for_messages(1, DEADLINE).await.unwrap();
    let mail = &received[0];
    assert_eq!(mail.transaction, 2);
    assert_eq!(mail.helo, "client.example");
    assert_eq!(mail.mail_from, "");
    assert_eq!(mail.rcpt_to, vec!["x@y.example", "z@y.example"]);
    assert_eq!(
        mail.data,
        b"Subject: dots\r\nX-Folded: one\r\n\ttwo\r\n\r\n.leading dot\r\n"
    );
    assert_eq!(mail.header("x-folded"), Some("one two"));
    assert_eq!(sink.transaction_count(), 2);
}

#[tokio::test]
async fn auth_plain_and_login_check_the_credentials() {
    let sink = SmtpSink::start_with(SmtpSinkOptions {
        credentials: Some(("user".into(), "secret".into())),
        ..SmtpSinkOptions::default()
    })
    .await
    .unwrap();
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);

    let mut plain = Client::connect(&sink).await;
    assert_eq!(plain.say("EHLO c").await, "250 AUTH PLAIN LOGIN");
    assert_eq!(
        plain.say("MAIL FROM:<a@b.c>").await,
        "530 5.7.0 Authentication required"
    );
    let wrong = format!("AUTH PLAIN {}", b64("\0user\0guess"));
    assert_eq!(
        plain.say(&wrong).await,
        "535 5.7.8 Authentication credentials invalid"
    );
    let right = format!("AUTH PLAIN {}", b64("\0user\0secret"));
    assert_eq!(
        plain.say(&right).await,
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(plain.say("MAIL FROM:<a@b.c>").await, "250 2.1.0 Ok");

    let mut login = Client::connect(&sink).await;
    login.say("EHLO c").await;
    assert_eq!(login.say("AUTH LOGIN").await, "334 VXNlcm5hbWU6");
    assert_eq!(login.say(&b64("user")).await, "334 UGFzc3dvcmQ6");
    assert_eq!(
        login.say(&b64("secret")).await,
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(
        login.say("AUTH LOGIN").await,
        "503 5.5.1 Error: already authenticated"
    );
}

#[tokio::test]
async fn waits_end_at_their_deadline_and_counts_go_on_without_keeping() {
    let smtp = SmtpSink::start().await.unwrap();
    assert_eq!(
        smtp.wait_for_messages(1, Duration::from_millis(50))
            .await
            .unwrap_err(),
        WaitTimedOut {
            what: "messages",
            wanted: 1,
            got: 0,
            waited: Duration::from_millis(50)
        }
    );

    let http = HttpSink::start().await.unwrap();
    http.keep_requests(false);
    http.answer_with(|request| match request.path.as_str() {
        "/token" => SinkResponse::json(200, &serde_json::json!({"access_token": "t"})),
        _ => SinkResponse::empty(1000),
    });
    let client = reqwest::Client::new();
    let token = client
        .post(format!("{}/token", http.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let invalid = client
        .get(format!("{}/other", http.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        invalid.status(),
        500,
        "an impossible scripted status is a 500"
    );

    assert!(http
        .wait_for_requests(2, DEADLINE)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(http.request_count(), 2);
    let timed_out = http.wait_for_requests(3, Duration::from_millis(50)).await;
    assert_eq!(timed_out.unwrap_err().got, 2);
}
