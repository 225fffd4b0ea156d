//! The transactional API on a live server with recording providers (a real SMTP server and a
//! Twilio stand-in), on a virtual clock: email by template (named or numbered) and inline,
//! with its attachments arriving as MIME parts; `send_at` waits for its time; an
//! `Idempotency-Key` replays the first answer and refuses a different request; errors come in
//! the `{"meta":{"error"}}` envelope naming the field; `send_to_unsubscribed` decides whether
//! an unsubscribed person gets the message; an unknown person is created; push goes to the
//! person's devices; and `POST /v1/templates/{id}/preview` renders a stored template.

mod common;
mod delivery;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{start_with, Backend, Reply, TestServer};
use delivery::{advance, at, ledger, ledger_entry, Providers};
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const START: &str = "2026-03-02T09:00:00Z";

const TEMPLATES: &str = r#"kind: template
format: 1
id: receipt
channel: email
subject: "Receipt for order {{ trigger.order }}"
body: "Hi {{ customer.first_name | default: 'there' }}, you paid {{ trigger.total | money }}."
html: "<p>You paid <b>{{ trigger.total | money }}</b></p>"
---
kind: template
format: 1
id: "7"
channel: email
subject: "Template seven"
body: "Seven for {{ customer.email }}"
---
kind: template
format: 1
id: code-sms
channel: sms
body: "Your code is {{ trigger.code }}"
"#;

async fn setup(backend: Backend) -> Option<(TestServer, Providers)> {
    let providers = Providers::start().await;
    let server = start_with(backend, Some(at(START)), providers.delivery_args(10)).await?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("templates.yaml"), TEMPLATES).unwrap();
    server.apply(dir.path()).await;
    advance(&server, at(START)).await;
    let ana = json!({"email": "ana@example.com", "phone": "+15555550100", "first_name": "Ana"});
    let identify = server
        .track(Method::PUT, "/api/v1/customers/c-1", ana)
        .await;
    assert_eq!(identify.status, StatusCode::OK, "{}", identify.body);
    Some((server, providers))
}

/// `POST /v1/send/{channel}` with `body`, and an `Idempotency-Key` when given.
async fn send(server: &TestServer, channel: &str, body: Value, key: Option<&str>) -> Reply {
    let mut request = server
        .http
        .post(format!("{}/v1/send/{channel}", server.base))
        .bearer_auth(&server.creds.app_api_key)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    server.send(request).await
}

/// A send that must succeed: its answer.
async fn sent(server: &TestServer, channel: &str, body: Value) -> Value {
    let reply = send(server, channel, body, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Lets the server do everything due at its clock's time.
async fn settle(server: &TestServer) {
    let now = server.app_get("/v1/clock").await;
    advance(server, at(now.body["now"].as_str().unwrap())).await;
}

fn mails(providers: &Providers) -> Vec<Vec<u8>> {
    providers
        .smtp
        .messages()
        .into_iter()
        .map(|m| m.data)
        .collect()
}

fn error_of(reply: &Reply) -> &str {
    reply.body["meta"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no meta.error: {}", reply.body))
}

async fn email_by_template_and_inline(backend: Backend) {
    let Some((server, providers)) = setup(backend).await else {
        return;
    };
    let answer = sent(
        &server,
        "email",
        json!({"transactional_message_id": "Receipt", "identifiers": {"id": "c-1"},
               "message_data": {"order": 7, "total": 42}}),
    )
    .await;
    assert_eq!(answer["queued_at"], at(START).unix_seconds());
    assert!(answer.get("send_at").is_none(), "{answer}");
    let id = answer["delivery_id"].as_str().unwrap().to_string();
    settle(&server).await;
    assert_eq!(
        providers.emails(),
        [(
            "ana@example.com".to_string(),
            "Receipt for order 7".to_string(),
            "Hi Ana, you paid $42.00.".to_string()
        )]
    );
    let entry = ledger_entry(&server, &id).await;
    assert_eq!(entry["state"], "sent", "{entry}");
    assert_eq!(entry["type"], "email");
    assert_eq!(entry["campaign_id"], Value::Null);
    assert_eq!(entry["payload"]["transactional"], true);
    assert_eq!(entry["payload"]["transactional_message_id"], "receipt");

    // Inline content, addressed by email, from another sender with a header of its own.
    sent(
        &server,
        "email",
        json!({"identifiers": {"email": "ana@example.com"},
               "to": "Ana Lopez <ana@example.com>", "from": "Lumen Billing <billing@lumen.example>",
               "subject": "Welcome {{ customer.first_name }}",
               "body": "<p>Hello <b>{{ trigger.name }}</b></p>", "message_data": {"name": "friend"},
               "headers": {"X-Order": "8"}}),
    )
    .await;
    // A numeric transactional_message_id names the template with that id.
    sent(
        &server,
        "email",
        json!({"transactional_message_id": 7, "identifiers": {"id": "c-1"}}),
    )
    .await;
    settle(&server).await;
    let raw = mails(&providers);
    assert_eq!(raw.len(), 3);
    // The two went out together: find each by its subject.
    let parsed: Vec<_> = raw
        .iter()
        .map(|data| MessageParser::default().parse(data).unwrap())
        .collect();
    let with_subject = |subject: &str| {
        parsed
            .iter()
            .find(|mail| mail.subject() == Some(subject))
            .unwrap_or_else(|| panic!("no email with subject {subject}"))
    };
    let inline = with_subject("Welcome Ana");
    let from = inline.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some("billing@lumen.example"));
    assert_eq!(from.name(), Some("Lumen Billing"));
    assert_eq!(
        inline.to().unwrap().first().unwrap().name(),
        Some("Ana Lopez")
    );
    assert_eq!(inline.header_raw("X-Order").map(str::trim), Some("8"));
    assert_eq!(
        inline.body_text(0).as_deref().map(str::trim),
        Some("Hello friend")
    );
    // Tracked by default, as in Customer.io: the open pixel follows the content.
    let html = inline.body_html(0).unwrap_or_default();
    assert!(
        html.trim().starts_with(&format!(
            "<p>Hello <b>friend</b></p><img src=\"{}/t/o/",
            server.base
        )),
        "{html}"
    );
    with_subject("Template seven");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_by_template_and_inline_on_sqlite() {
    email_by_template_and_inline(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_by_template_and_inline_on_postgres() {
    email_by_template_and_inline(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_arrive_as_mime_parts() {
    let (server, providers) = setup(Backend::Sqlite).await.unwrap();
    let pdf: Vec<u8> = (0..=255u8).cycle().take(40_000).collect();
    sent(
        &server,
        "email",
        json!({"transactional_message_id": "receipt", "identifiers": {"id": "c-1"},
               "message_data": {"order": 9, "total": 5},
               "attachments": {"receipt.pdf": STANDARD.encode(&pdf),
                               "notes.txt": STANDARD.encode("thank you")}}),
    )
    .await;
    settle(&server).await;
    let raw = mails(&providers);
    assert_eq!(raw.len(), 1);
    let mail = MessageParser::default().parse(&raw[0]).unwrap();
    let files: Vec<(String, String, Vec<u8>)> = mail
        .attachments()
        .map(|part| {
            let kind = part.content_type().unwrap();
            (
                part.attachment_name().unwrap().to_string(),
                format!("{}/{}", kind.ctype(), kind.subtype().unwrap_or_default()),
                part.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            (
                "notes.txt".into(),
                "text/plain".into(),
                b"thank you".to_vec()
            ),
            ("receipt.pdf".into(), "application/pdf".into(), pdf),
        ]
    );
    assert_eq!(
        mail.body_text(0).as_deref().map(str::trim),
        Some("Hi Ana, you paid $5.00.")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_at_in_the_future_waits_for_its_time() {
    let (server, providers) = setup(Backend::Sqlite).await.unwrap();
    let later = at("2026-03-02T10:00:00Z");
    let answer = sent(
        &server,
        "sms",
        json!({"transactional_message_id": "code-sms", "identifiers": {"id": "c-1"},
               "message_data": {"code": "123456"}, "send_at": later.unix_seconds()}),
    )
    .await;
    assert_eq!(answer["send_at"], later.unix_seconds());
    let id = answer["delivery_id"].as_str().unwrap().to_string();
    advance(&server, at("2026-03-02T09:59:59Z")).await;
    assert!(providers.sms().is_empty(), "not before its time");
    let waiting = ledger_entry(&server, &id).await;
    assert_eq!(waiting["state"], "queued", "{waiting}");
    assert_eq!(waiting["next_attempt"], later.unix_seconds());
    advance(&server, later).await;
    assert_eq!(
        providers.sms(),
        [(
            "+15555550100".to_string(),
            "Your code is 123456".to_string()
        )]
    );
    assert_eq!(ledger_entry(&server, &id).await["state"], "sent");

    // A send time already past goes at once; the answer says when.
    let now = at("2026-03-02T10:00:00Z").unix_seconds();
    let past = sent(
        &server,
        "sms",
        json!({"transactional_message_id": "code-sms", "identifiers": {"id": "c-1"},
               "message_data": {"code": "654321"}, "send_at": now - 3600}),
    )
    .await;
    assert_eq!(past["send_at"], now);
    settle(&server).await;
    assert_eq!(providers.sms().len(), 2);
    server.stop().await;
}

async fn an_idempotency_key_replays_the_first_answer(backend: Backend) {
    let Some((server, providers)) = setup(backend).await else {
        return;
    };
    let body = json!({"transactional_message_id": "code-sms", "identifiers": {"id": "c-1"},
                      "message_data": {"code": "111111"}});
    let first = send(&server, "sms", body.clone(), Some("order-42")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    settle(&server).await;
    // The retry, its keys in another order, after the clock moved: the first answer again.
    advance(&server, at("2026-03-02T09:05:00Z")).await;
    let reordered = json!({"message_data": {"code": "111111"}, "identifiers": {"id": "c-1"},
                           "transactional_message_id": "code-sms"});
    let again = send(&server, "sms", reordered, Some("order-42")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    settle(&server).await;
    assert_eq!(providers.sms().len(), 1, "one SMS for one key");
    assert_eq!(ledger(&server).await.len(), 1);

    // The same key for a different message is refused; another key sends another.
    let other = json!({"transactional_message_id": "code-sms", "identifiers": {"id": "c-1"},
                       "message_data": {"code": "222222"}});
    let reused = send(&server, "sms", other.clone(), Some("order-42")).await;
    assert_eq!(
        reused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reused.body
    );
    assert!(error_of(&reused).contains("order-42"), "{}", reused.body);
    let on_email = send(&server, "email", body, Some("order-42")).await;
    assert_eq!(
        on_email.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another endpoint"
    );
    let fresh = send(&server, "sms", other, Some("order-43")).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_ne!(fresh.body["delivery_id"], first.body["delivery_id"]);
    settle(&server).await;
    assert_eq!(providers.sms().len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_replays_the_first_answer_on_sqlite() {
    an_idempotency_key_replays_the_first_answer(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_replays_the_first_answer_on_postgres() {
    an_idempotency_key_replays_the_first_answer(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_in_the_meta_envelope_and_name_the_field() {
    let (server, providers) = setup(Backend::Sqlite).await.unwrap();
    let cases: [(Value, u16, &str); 8] = [
        (
            json!({"transactional_message_id": "receipt"}),
            400,
            "identifiers",
        ),
        (
            json!({"transactional_message_id": "nope", "identifiers": {"id": "c-1"}}),
            400,
            "transactional_message_id: there is no template 'nope'",
        ),
        (
            json!({"transactional_message_id": "code-sms", "identifiers": {"id": "c-1"}}),
            400,
            "template 'code-sms' is for sms, not email",
        ),
        (
            json!({"transactional_message_id": "receipt", "identifiers": {"id": "c-1"},
                   "message_data": {"order": 1}}),
            400,
            "message_data: the message did not render: the text body: `trigger.total` is undefined",
        ),
        (
            json!({"identifiers": {"id": "c-1"}, "body": "<p>x</p>"}),
            400,
            "subject is required when no transactional_message_id names a template",
        ),
        (
            json!({"transactional_message_id": "receipt", "identifiers": {"id": "c-1"},
                   "send_at": at(START).unix_seconds() + 91 * 86_400}),
            400,
            "send_at: must be at most 90 days ahead",
        ),
        (
            json!({"transactional_message_id": "receipt", "identifiers": {"id": "c-1"},
                   "attachments": {"a.pdf": "not base64!"}}),
            400,
            "attachments.a.pdf: is not valid base64",
        ),
        (
            json!({"transactional_message_id": "receipt", "identifiers": {"id": "c-1"},
                   "attachments": {"a.bin": STANDARD.encode(vec![0u8; 2 * 1024 * 1024])}}),
            413,
            "they must stay under 2 MiB",
        ),
    ];
    for (body, status, message) in cases {
        let reply = send(&server, "email", body.clone(), None).await;
        assert_eq!(reply.status.as_u16(), status, "{body}: {}", reply.body);
        assert!(
            error_of(&reply).starts_with(message) || error_of(&reply).contains(message),
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.body.as_object().unwrap().len(), 1, "{}", reply.body);
    }
    let malformed = server
        .send(
            server
                .http
                .post(format!("{}/v1/send/email", server.base))
                .bearer_auth(&server.creds.app_api_key)
                .header("content-type", "application/json")
                .body("{\"identifiers\":"),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&malformed).contains("malformed JSON"),
        "{}",
        malformed.body
    );
    let unauthorized = server
        .send(
            server
                .http
                .post(format!("{}/v1/send/sms", server.base))
                .bearer_auth("not-a-key")
                .json(&json!({})),
        )
        .await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unauthorized.body,
        json!({"meta": {"error": "Unauthorized request"}})
    );
    settle(&server).await;
    assert!(mails(&providers).is_empty(), "nothing refused was sent");
    assert!(ledger(&server).await.is_empty(), "nor queued");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_unsubscribed_decides_for_an_unsubscribed_person() {
    let (server, providers) = setup(Backend::Sqlite).await.unwrap();
    let unsubscribe = server
        .track(
            Method::PUT,
            "/api/v1/customers/c-1",
            json!({"unsubscribed": true}),
        )
        .await;
    assert_eq!(unsubscribe.status, StatusCode::OK, "{}", unsubscribe.body);
    let code = |code: &str, flag: Option<bool>| {
        let mut body = json!({"transactional_message_id": "code-sms",
                              "identifiers": {"id": "c-1"}, "message_data": {"code": code}});
        if let Some(flag) = flag {
            body["send_to_unsubscribed"] = json!(flag);
        }
        body
    };
    let kept_back = sent(&server, "sms", code("100001", Some(false))).await;
    let by_default = sent(&server, "sms", code("100002", None)).await;
    let allowed = sent(&server, "sms", code("100003", Some(true))).await;
    settle(&server).await;
    let mut texts: Vec<String> = providers.sms().into_iter().map(|(_, body)| body).collect();
    texts.sort();
    assert_eq!(texts, ["Your code is 100002", "Your code is 100003"]);
    let skipped = ledger_entry(&server, kept_back["delivery_id"].as_str().unwrap()).await;
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    assert!(
        skipped["reason"].as_str().unwrap().contains("unsubscribed"),
        "{skipped}"
    );
    for answer in [by_default, allowed] {
        let entry = ledger_entry(&server, answer["delivery_id"].as_str().unwrap()).await;
        assert_eq!(entry["state"], "sent", "{entry}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_person_is_created_and_push_goes_to_devices() {
    let (server, providers) = setup(Backend::Sqlite).await.unwrap();
    sent(
        &server,
        "email",
        json!({"identifiers": {"email": "new@example.com"}, "subject": "Hello",
               "body_plain": "Welcome aboard"}),
    )
    .await;
    settle(&server).await;
    assert_eq!(
        providers.emails(),
        [(
            "new@example.com".into(),
            "Hello".into(),
            "Welcome aboard".into()
        )]
    );
    let created = server.customer("new@example.com", "email").await;
    assert!(created.is_some(), "the person exists now");
    let ghost = send(
        &server,
        "email",
        json!({"identifiers": {"cio_id": "nobody"}, "subject": "s", "body": "b"}),
        None,
    )
    .await;
    assert_eq!(ghost.status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&ghost).starts_with("identifiers.cio_id"),
        "{}",
        ghost.body
    );

    // Push: no FCM provider here, so the outbox channel records it, per device.
    let push = json!({"identifiers": {"id": "c-1"}, "title": "Order {{ trigger.order }}",
                      "message": "It shipped", "message_data": {"order": 7},
                      "custom_data": {"order": "7"}});
    let without_device = sent(&server, "push", push.clone()).await;
    settle(&server).await;
    let device = json!({"device": {"id": "tok-1", "platform": "ios"}});
    let added = server
        .track(Method::PUT, "/api/v1/customers/c-1/devices", device)
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let with_device = sent(&server, "push", push).await;
    settle(&server).await;
    let skipped = ledger_entry(&server, without_device["delivery_id"].as_str().unwrap()).await;
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    let entry = ledger_entry(&server, with_device["delivery_id"].as_str().unwrap()).await;
    assert_eq!(entry["state"], "sent", "{entry}");
    assert_eq!(entry["subject"], "Order 7");
    assert_eq!(entry["body"], "It shipped");
    assert_eq!(entry["payload"]["data"], json!({"order": "7"}));
    assert!(
        entry["reason"].as_str().unwrap().contains("recorded only"),
        "{entry}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_preview_renders_or_names_the_undefined_variable() {
    let (server, _providers) = setup(Backend::Sqlite).await.unwrap();
    let preview = server
        .app_post(
            "/v1/templates/receipt/preview",
            json!({"identifiers": {"id": "c-1"}, "message_data": {"order": 3, "total": 19.5}}),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(
        preview.body,
        json!({"id": "receipt", "version": 1, "channel": "email",
               "subject": "Receipt for order 3", "title": null,
               "body": "Hi Ana, you paid $19.50.", "html": "<p>You paid <b>$19.50</b></p>"})
    );
    let inline_person = server
        .app_post(
            "/v1/templates/7/preview",
            json!({"customer": {"email": "zoe@example.com"}}),
        )
        .await;
    assert_eq!(
        inline_person.body["body"], "Seven for zoe@example.com",
        "{}",
        inline_person.body
    );

    let missing = server
        .app_post(
            "/v1/templates/receipt/preview",
            json!({"identifiers": {"id": "c-1"}, "trigger": {"order": 3}}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
    let error = &missing.body["errors"][0];
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("`trigger.total` is undefined"),
        "{error}"
    );
    assert_eq!(error["source"]["pointer"], "/trigger/total");
    let unknown = server
        .app_post("/v1/templates/nope/preview", json!({}))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let nobody = server
        .app_post(
            "/v1/templates/receipt/preview",
            json!({"identifiers": {"id": "ghost"}}),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST, "{}", nobody.body);
    server.stop().await;
}
