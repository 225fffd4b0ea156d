//! Consent, suppression and sending limits on a live server with recording providers, on a
//! virtual clock: per-channel consent attributes, topic and channel preferences and global
//! unsubscription skip messages; a bounce reported through Track `POST /api/v1/metrics`
//! suppresses the address until the App API lifts it; the signed unsubscribe link shows a
//! page, then unsubscribes from a topic or (one-click) from everything, and the Track-style
//! `POST /unsubscribe/{delivery_id}` works too; the frequency cap defers a message until the
//! window frees up, or makes it undeliverable past its deadline; quiet hours in the person's
//! time zone defer to their end; transactional messages bypass consent only when they ask to,
//! never a suppression, and are not capped.

mod common;
mod delivery;

use common::{encode, start_with, Backend, TestServer};
use delivery::{advance, at, ledger, ledger_entry, Providers};
use nudge::config::DeliveryArgs;
use nudge_core::{Identifier, IdentifierKind};
use nudge_store::OutboxMessage;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const START: &str = "2026-03-02T09:00:00Z";

const DEFINITIONS: &str = r#"kind: template
format: 1
id: news-email
channel: email
topic: topic_1
subject: "News for {{ customer.first_name | default: 'you' }}"
body: "Our news"
html: "<p>Our news</p>"
---
kind: template
format: 1
id: deal-email
channel: email
subject: "A deal"
body: "A deal for you"
---
kind: template
format: 1
id: deal-sms
channel: sms
body: "A deal for you"
---
kind: journey
format: 1
id: news
name: News
trigger:
  event: News
steps:
  - id: email
    send: {channel: email, template: news-email}
---
kind: journey
format: 1
id: deal
name: Deal
trigger:
  event: Deal
steps:
  - id: email
    send: {channel: email, template: deal-email}
---
kind: journey
format: 1
id: text
name: Text
trigger:
  event: Text
steps:
  - id: sms
    send: {channel: sms, template: deal-sms}
"#;

struct Setup {
    server: TestServer,
    providers: Providers,
}

/// A server with the definitions applied and `c-1` (Ana) identified, on `backend`, with the
/// delivery settings `edit` makes.
async fn setup(backend: Backend, edit: impl FnOnce(&mut DeliveryArgs)) -> Option<Setup> {
    let providers = Providers::start().await;
    let mut args = providers.delivery_args(10);
    edit(&mut args);
    let server = start_with(backend, Some(at(START)), args).await?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("defs.yaml"), DEFINITIONS).unwrap();
    server.apply(dir.path()).await;
    advance(&server, at(START)).await;
    identify(
        &server,
        "c-1",
        json!({"email": "ana@example.com", "phone": "+15555550100", "first_name": "Ana"}),
    )
    .await;
    Some(Setup { server, providers })
}

async fn identify(server: &TestServer, id: &str, attributes: Value) {
    let path = format!("/api/v1/customers/{id}");
    let reply = server.track(Method::PUT, &path, attributes).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    settle(server).await;
}

/// Sends event `name` for person `id` and lets the server do what is due.
async fn event(server: &TestServer, id: &str, name: &str) {
    let path = format!("/api/v1/customers/{id}/events");
    let reply = server
        .track(Method::POST, &path, json!({"name": name}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    settle(server).await;
}

async fn settle(server: &TestServer) {
    let now = server.app_get("/v1/clock").await;
    advance(server, at(now.body["now"].as_str().unwrap())).await;
}

/// The newest ledger entry.
async fn newest(server: &TestServer) -> Value {
    ledger(server).await.pop().expect("a message in the ledger")
}

fn reason(message: &Value) -> &str {
    message["reason"].as_str().unwrap_or_default()
}

fn seconds(text: &str) -> i64 {
    at(text).unix_seconds()
}

async fn app(server: &TestServer, method: Method, path: &str) -> common::Reply {
    let request = server
        .http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.creds.app_api_key);
    server.send(request).await
}

/// An HTML page: status, body, and the response's headers.
async fn page(
    request: reqwest::RequestBuilder,
) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

async fn attributes(server: &TestServer, id: &str) -> Value {
    server.customer(id, "id").await.expect("the person")["attributes"].clone()
}

async fn consent_rules_skip_what_the_person_did_not_agree_to(backend: Backend) {
    let Some(Setup { server, providers }) = setup(backend, |args| {
        args.consent_sms_attribute = Some("accepts_sms".into());
    })
    .await
    else {
        return;
    };
    event(&server, "c-1", "Text").await;
    let text = newest(&server).await;
    assert_eq!(text["state"], "skipped", "{text}");
    assert_eq!(
        reason(&text),
        "no_consent: sms messages need the person's accepts_sms to be true"
    );
    assert_eq!(providers.twilio.request_count(), 0);
    identify(&server, "c-1", json!({"accepts_sms": true})).await;
    event(&server, "c-1", "Text").await;
    assert_eq!(newest(&server).await["state"], "sent");
    assert_eq!(providers.twilio.request_count(), 1);

    identify(
        &server,
        "c-1",
        json!({"cio_subscription_preferences": {"topics": {"topic_1": false}}}),
    )
    .await;
    event(&server, "c-1", "News").await;
    let news = newest(&server).await;
    assert_eq!(news["state"], "skipped", "{news}");
    assert_eq!(
        reason(&news),
        "topic_unsubscribed: the person unsubscribed from topic_1"
    );
    event(&server, "c-1", "Deal").await;
    assert_eq!(
        newest(&server).await["state"],
        "sent",
        "no topic, no preference"
    );
    assert_eq!(providers.smtp.messages().len(), 1);

    identify(
        &server,
        "c-1",
        json!({"cio_subscription_preferences.channels.email": false}),
    )
    .await;
    event(&server, "c-1", "Deal").await;
    let deal = newest(&server).await;
    assert_eq!(
        reason(&deal),
        "channel_unsubscribed: the person unsubscribed from email messages"
    );
    assert_eq!(providers.smtp.messages().len(), 1);

    // Unsubscribed while an SMS waits for its retry: the retry is skipped.
    providers
        .twilio
        .answer_request(2, delivery_sink_error(503, "Service unavailable"));
    event(&server, "c-1", "Text").await;
    let waiting = newest(&server).await;
    assert_eq!(waiting["state"], "queued", "{waiting}");
    identify(&server, "c-1", json!({"unsubscribed": true})).await;
    advance(&server, at("2026-03-02T09:05:00Z")).await;
    let skipped = ledger_entry(&server, waiting["id"].as_str().unwrap()).await;
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    assert_eq!(reason(&skipped), "unsubscribed: the person is unsubscribed");
    assert_eq!(providers.twilio.request_count(), 2, "no second try");
    server.stop().await;
}

fn delivery_sink_error(status: u16, message: &str) -> nudge_delivery::sinks::http::SinkResponse {
    nudge_delivery::sinks::http::SinkResponse::json(
        status,
        &json!({"code": 20000 + status, "message": message}),
    )
}

async fn metric(server: &TestServer, body: Value) -> common::Reply {
    server.track(Method::POST, "/api/v1/metrics", body).await
}

async fn a_bounce_suppresses_the_address_until_it_is_lifted(backend: Backend) {
    let Some(Setup { server, providers }) = setup(backend, |_| {}).await else {
        return;
    };
    event(&server, "c-1", "Deal").await;
    let first = newest(&server).await;
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["state"], "sent");

    let anonymous = server
        .http
        .post(format!("{}/api/v1/metrics", server.base))
        .json(&json!({"delivery_id": id, "metric": "bounced"}));
    assert_eq!(
        server.send(anonymous).await.status,
        StatusCode::UNAUTHORIZED
    );
    let wrong = metric(&server, json!({"delivery_id": id, "metric": "exploded"})).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let message = wrong.body["meta"]["errors"][0].as_str().unwrap();
    assert!(
        message.starts_with("metric must be one of bounced"),
        "{message}"
    );
    let unknown = metric(&server, json!({"delivery_id": "nope", "metric": "bounced"})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert_eq!(
        providers.smtp.messages().len(),
        1,
        "nothing changed by refused reports"
    );

    advance(&server, at("2026-03-02T09:01:00Z")).await;
    let bounced = metric(
        &server,
        json!({"delivery_id": id, "metric": "bounced", "recipient": "ana@example.com",
               "reason": "550 5.1.1 mailbox unknown"}),
    )
    .await;
    assert_eq!(bounced.status, StatusCode::OK, "{}", bounced.body);
    assert_eq!(bounced.body, json!({}));
    let entry = ledger_entry(&server, &id).await;
    assert_eq!(entry["state"], "bounced", "{entry}");
    assert_eq!(reason(&entry), "bounced: 550 5.1.1 mailbox unknown");
    assert_eq!(entry["metrics"]["bounced"], seconds("2026-03-02T09:01:00Z"));

    let listed = server.app_get("/v1/suppressions").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.body,
        json!({"suppressions": [{
            "address": "ana@example.com", "category": "bounces",
            "reason": "550 5.1.1 mailbox unknown", "delivery_id": id,
            "created": seconds("2026-03-02T09:01:00Z")}], "next": ""})
    );
    let search = server
        .app_get(&format!(
            "/v1/esp/search_suppression/{}",
            encode("Ana@Example.com")
        ))
        .await;
    assert_eq!(search.body["category"], "bounces", "{}", search.body);
    assert_eq!(search.body["suppressions"][0]["email"], "ana@example.com");
    let spam = server.app_get("/v1/esp/suppression/spam_reports").await;
    assert_eq!(spam.body["suppressions"], json!([]));

    event(&server, "c-1", "Deal").await;
    let skipped = newest(&server).await;
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    assert_eq!(
        reason(&skipped),
        "suppressed: ana@example.com is suppressed (bounces)"
    );
    assert_eq!(providers.smtp.messages().len(), 1);

    let path = format!("/v1/suppressions/{}", encode("ana@example.com"));
    assert_eq!(
        app(&server, Method::DELETE, &path).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app(&server, Method::DELETE, &path).await.status,
        StatusCode::NOT_FOUND
    );
    event(&server, "c-1", "Deal").await;
    let again = newest(&server).await;
    assert_eq!(again["state"], "sent", "{again}");
    assert_eq!(providers.smtp.messages().len(), 2);

    let again_id = again["id"].as_str().unwrap();
    let spammed = metric(
        &server,
        json!({"delivery_id": again_id, "metric": "spammed"}),
    )
    .await;
    assert_eq!(spammed.status, StatusCode::OK, "{}", spammed.body);
    let entry = ledger_entry(&server, again_id).await;
    assert_eq!(entry["state"], "sent");
    assert_eq!(reason(&entry), "spammed");
    let spam = server
        .app_get("/v1/suppressions?category=spam_reports")
        .await;
    assert_eq!(spam.body["suppressions"][0]["address"], "ana@example.com");
    server.stop().await;
}

/// The URL in an email's `List-Unsubscribe` header.
fn unsubscribe_url(mail: &nudge_delivery::sinks::smtp::ReceivedMail) -> String {
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let header = mail
        .header("List-Unsubscribe")
        .expect("a List-Unsubscribe header");
    header
        .trim()
        .strip_prefix('<')
        .and_then(|h| h.strip_suffix('>'))
        .expect("<url>")
        .to_string()
}

async fn the_unsubscribe_link_shows_a_page_then_unsubscribes(backend: Backend) {
    let Some(Setup { server, providers }) = setup(backend, |_| {}).await else {
        return;
    };
    event(&server, "c-1", "News").await;
    let news = newest(&server).await;
    let mails = providers.smtp.messages();
    assert_eq!(mails.len(), 1);
    let url = unsubscribe_url(&mails[0]);
    assert!(
        url.starts_with(&format!("{}/unsubscribe/", server.base)),
        "{url}"
    );

    let (status, html, headers) = page(server.http.get(&url)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.contains("a•••@example.com"), "{html}");
    assert!(html.contains(r#"<form method="post">"#), "{html}");
    assert!(
        html.contains(r#"value="topic""#) && html.contains(r#"value="all""#),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    let untouched = attributes(&server, "c-1").await;
    assert!(
        untouched.get("unsubscribed").is_none(),
        "a GET changes nothing: {untouched}"
    );

    let last = if url.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &url[..url.len() - 1]);
    let (status, html, headers) = page(server.http.get(&forged)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        html.starts_with("<!doctype html>") && html.contains("not valid"),
        "{html}"
    );
    let (status, _, _) = page(server.http.post(&forged).body("scope=all")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a forged token is no delivery id"
    );

    let (status, html, _) = page(
        server
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("scope=topic"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("messages like this one (topic_1)"), "{html}");
    settle(&server).await;
    let after_topic = attributes(&server, "c-1").await;
    assert_eq!(
        after_topic["cio_subscription_preferences"],
        json!({"topics": {"topic_1": false}})
    );
    assert!(after_topic.get("unsubscribed").is_none(), "{after_topic}");
    let entry = ledger_entry(&server, news["id"].as_str().unwrap()).await;
    assert_eq!(reason(&entry), "unsubscribed: topic_1");

    event(&server, "c-1", "News").await;
    assert_eq!(
        reason(&newest(&server).await),
        "topic_unsubscribed: the person unsubscribed from topic_1"
    );
    event(&server, "c-1", "Deal").await;
    let deal = newest(&server).await;
    assert_eq!(deal["state"], "sent");
    let mails = providers.smtp.messages();
    assert_eq!(mails.len(), 2);

    assert!(
        mails[1].header("List-Unsubscribe").is_some(),
        "every marketing email"
    );
    // A mail client's one-click POST (RFC 8058) unsubscribes from everything, even from a
    // message with a topic.
    let (status, _, _) = page(
        server
            .http
            .post(unsubscribe_url(&mails[0]))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    settle(&server).await;
    assert_eq!(attributes(&server, "c-1").await["unsubscribed"], true);
    let queued_before = ledger(&server).await.len();
    event(&server, "c-1", "Deal").await;
    assert_eq!(ledger(&server).await.len(), queued_before, "nothing queued");
    assert_eq!(providers.smtp.messages().len(), 2);

    // Customer.io's Track call, by delivery id, with the workspace's Track credentials.
    let deal_id = deal["id"].as_str().unwrap();
    let path = format!("/unsubscribe/{}", encode(deal_id));
    let anonymous = server
        .http
        .post(format!("{}{path}", server.base))
        .json(&json!({"unsubscribe": false}));
    let refused = server.send(anonymous).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.body["meta"]["error"], "Unauthorized request");
    let resubscribed = server
        .track(Method::POST, &path, json!({"unsubscribe": false}))
        .await;
    assert_eq!(resubscribed.status, StatusCode::OK, "{}", resubscribed.body);
    settle(&server).await;
    assert_eq!(attributes(&server, "c-1").await["unsubscribed"], false);
    let unknown = server
        .track(
            Method::POST,
            "/unsubscribe/no-such-delivery",
            json!({"unsubscribe": true}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.body["meta"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("no-such-delivery"),
        "{}",
        unknown.body
    );
    event(&server, "c-1", "Deal").await;
    assert_eq!(providers.smtp.messages().len(), 3);
    let unsubscribed = server
        .track(Method::POST, &path, json!({"unsubscribe": true}))
        .await;
    assert_eq!(unsubscribed.status, StatusCode::OK);
    settle(&server).await;
    assert_eq!(attributes(&server, "c-1").await["unsubscribed"], true);
    server.stop().await;
}

async fn the_frequency_cap_defers_then_gives_up(backend: Backend) {
    let Some(Setup { server, providers }) = setup(backend, |args| {
        args.frequency_cap = Some("2/1h".into());
        args.frequency_cap_deadline = "30m".into();
    })
    .await
    else {
        return;
    };
    event(&server, "c-1", "Deal").await;
    advance(&server, at("2026-03-02T09:10:00Z")).await;
    event(&server, "c-1", "Deal").await;
    assert_eq!(providers.smtp.messages().len(), 2);

    advance(&server, at("2026-03-02T09:20:00Z")).await;
    event(&server, "c-1", "Deal").await;
    let late = newest(&server).await;
    assert_eq!(late["state"], "undeliverable", "{late}");
    assert_eq!(
        reason(&late),
        "frequency cap 2/1h: no room before the deadline of 30m"
    );

    advance(&server, at("2026-03-02T09:40:00Z")).await;
    event(&server, "c-1", "Deal").await;
    let waiting = newest(&server).await;
    assert_eq!(waiting["state"], "queued", "{waiting}");
    assert_eq!(waiting["next_attempt"], seconds("2026-03-02T10:00:00Z"));
    assert_eq!(
        reason(&waiting),
        "frequency cap 2/1h reached; deferred until 2026-03-02T10:00:00Z"
    );
    assert_eq!(providers.smtp.messages().len(), 2);

    advance(&server, at("2026-03-02T09:59:59Z")).await;
    assert_eq!(providers.smtp.messages().len(), 2);
    advance(&server, at("2026-03-02T10:00:00Z")).await;
    let sent = ledger_entry(&server, waiting["id"].as_str().unwrap()).await;
    assert_eq!(sent["state"], "sent", "{sent}");
    assert_eq!(sent["metrics"]["sent"], seconds("2026-03-02T10:00:00Z"));
    assert_eq!(providers.smtp.messages().len(), 3);

    // A send that fails does not count: the window has room for two more.
    advance(&server, at("2026-03-02T11:30:00Z")).await;
    providers
        .twilio
        .answer_request(1, delivery_sink_error(503, "Service unavailable"));
    event(&server, "c-1", "Text").await;
    let text = newest(&server).await;
    assert_eq!(text["state"], "queued", "{text}");
    event(&server, "c-1", "Deal").await;
    event(&server, "c-1", "Deal").await;
    assert_eq!(newest(&server).await["state"], "sent");
    assert_eq!(providers.smtp.messages().len(), 5);
    // Its retry finds the window full until 12:30, past its deadline.
    advance(&server, at("2026-03-02T11:31:00Z")).await;
    let retried = ledger_entry(&server, text["id"].as_str().unwrap()).await;
    assert_eq!(retried["state"], "undeliverable", "{retried}");
    assert_eq!(providers.twilio.request_count(), 1);
    server.stop().await;
}

async fn quiet_hours_defer_to_the_persons_morning(backend: Backend) {
    let Some(Setup { server, providers }) = setup(backend, |args| {
        args.quiet_hours = Some("21:00-08:00".into());
    })
    .await
    else {
        return;
    };
    // 09:00 UTC is 04:00 in New York: quiet until 08:00 there, 13:00 UTC.
    identify(&server, "c-1", json!({"timezone": "America/New_York"})).await;
    identify(&server, "c-2", json!({"email": "bo@example.com"})).await;
    event(&server, "c-1", "Deal").await;
    let deferred = newest(&server).await;
    assert_eq!(deferred["state"], "queued", "{deferred}");
    assert_eq!(deferred["next_attempt"], seconds("2026-03-02T13:00:00Z"));
    assert_eq!(
        reason(&deferred),
        "quiet hours 21:00-08:00 (America/New_York); deferred until 2026-03-02T13:00:00Z"
    );
    event(&server, "c-1", "Text").await;
    event(&server, "c-2", "Deal").await;
    let emails = providers.emails();
    assert_eq!(emails.len(), 1, "UTC is past 08:00: {emails:?}");
    assert_eq!(emails[0].0, "bo@example.com");
    assert_eq!(providers.twilio.request_count(), 0);

    advance(&server, at("2026-03-02T12:59:00Z")).await;
    assert_eq!(providers.smtp.messages().len(), 1);
    advance(&server, at("2026-03-02T13:00:00Z")).await;
    let sent = ledger_entry(&server, deferred["id"].as_str().unwrap()).await;
    assert_eq!(sent["state"], "sent", "{sent}");
    assert_eq!(sent["metrics"]["sent"], seconds("2026-03-02T13:00:00Z"));
    assert_eq!(providers.smtp.messages().len(), 2);
    assert_eq!(providers.twilio.request_count(), 1, "the SMS waited too");
    server.stop().await;
}

/// Queues `message` straight into the ledger of the server's store, as the transactional API
/// does (`transactional` and `send_to_unsubscribed` in its payload).
async fn queue(server: &TestServer, person: &str, message: OutboxMessage) {
    let args = server.store_args();
    let person = person.to_string();
    tokio::task::spawn_blocking(move || {
        let store = nudge::server::open_store(&args).expect("open the store");
        let ws = store
            .workspace_by_name("development")
            .unwrap()
            .expect("the workspace")
            .id;
        let id = Identifier::new(IdentifierKind::Id, &person).unwrap();
        let key = store.resolve(ws, &id).unwrap().expect("the person");
        let message = OutboxMessage {
            person: key,
            ..message
        };
        store
            .write(&mut |tx| tx.enqueue_message(ws, &message).map(|_| ()))
            .expect("queued");
    })
    .await
    .unwrap();
    settle(server).await;
}

fn transactional(id: &str, recipient: &str, send_to_unsubscribed: bool) -> OutboxMessage {
    OutboxMessage {
        message_id: id.into(),
        person: nudge_core::PersonKey(0),
        journey: String::new(),
        step: String::new(),
        instance: 0,
        channel: "email".into(),
        recipient: recipient.into(),
        subject: Some("Your receipt".into()),
        body: "Thanks for your order".into(),
        payload: json!({"transactional": true, "send_to_unsubscribed": send_to_unsubscribed}),
        created_at: at(START),
    }
}

async fn state_of(server: &TestServer, id: &str) -> (String, String) {
    let entry = ledger_entry(server, id).await;
    (
        entry["state"].as_str().unwrap().to_string(),
        reason(&entry).to_string(),
    )
}

async fn transactional_messages_bypass_consent_only_when_asked_and_are_not_capped(
    backend: Backend,
) {
    let Some(Setup { server, providers }) = setup(backend, |args| {
        args.frequency_cap = Some("1/1d".into());
    })
    .await
    else {
        return;
    };
    identify(&server, "c-1", json!({"unsubscribed": true})).await;
    queue(
        &server,
        "c-1",
        transactional("txn-bypass", "ana@example.com", true),
    )
    .await;
    queue(
        &server,
        "c-1",
        transactional("txn-keep", "ana@example.com", false),
    )
    .await;
    let marketing = OutboxMessage {
        payload: json!({"send_to_unsubscribed": true}),
        ..transactional("not-txn", "ana@example.com", true)
    };
    queue(&server, "c-1", marketing).await;
    assert_eq!(state_of(&server, "txn-bypass").await.0, "sent");
    assert_eq!(
        state_of(&server, "txn-keep").await,
        (
            "skipped".into(),
            "unsubscribed: the person is unsubscribed".into()
        )
    );
    assert_eq!(
        state_of(&server, "not-txn").await.1,
        "unsubscribed: the person is unsubscribed",
        "only a transactional message may ask"
    );
    let receipt = providers.emails();
    assert_eq!(receipt.len(), 1);
    assert_eq!(receipt[0].1, "Your receipt");
    assert!(
        providers.smtp.messages()[0]
            .header("List-Unsubscribe")
            .is_none(),
        "transactional emails carry no unsubscribe link"
    );

    // A suppression is never bypassed.
    identify(&server, "c-2", json!({"email": "bo@example.com"})).await;
    let suppress = app(
        &server,
        Method::POST,
        &format!("/v1/esp/suppression/bounces/{}", encode("bo@example.com")),
    )
    .await;
    assert_eq!(suppress.status, StatusCode::OK, "{}", suppress.body);
    queue(
        &server,
        "c-2",
        transactional("txn-suppressed", "bo@example.com", true),
    )
    .await;
    assert_eq!(
        state_of(&server, "txn-suppressed").await,
        (
            "skipped".into(),
            "suppressed: bo@example.com is suppressed (bounces)".into()
        )
    );

    // Transactional messages neither count toward the cap nor wait for it.
    identify(&server, "c-3", json!({"email": "cy@example.com"})).await;
    queue(
        &server,
        "c-3",
        transactional("txn-first", "cy@example.com", false),
    )
    .await;
    event(&server, "c-3", "Deal").await;
    assert_eq!(
        newest(&server).await["state"],
        "sent",
        "the receipt did not count"
    );
    event(&server, "c-3", "Deal").await;
    let capped = newest(&server).await;
    assert_eq!(capped["state"], "queued", "{capped}");
    assert!(
        reason(&capped).starts_with("frequency cap 1/1d reached"),
        "{capped}"
    );
    queue(
        &server,
        "c-3",
        transactional("txn-after", "cy@example.com", false),
    )
    .await;
    assert_eq!(state_of(&server, "txn-after").await.0, "sent");
    let to_cy = providers
        .emails()
        .iter()
        .filter(|(to, _, _)| to == "cy@example.com")
        .count();
    assert_eq!(to_cy, 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_rules_skip_what_the_person_did_not_agree_to_on_sqlite() {
    consent_rules_skip_what_the_person_did_not_agree_to(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_suppresses_the_address_until_it_is_lifted_on_sqlite() {
    a_bounce_suppresses_the_address_until_it_is_lifted(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_suppresses_the_address_until_it_is_lifted_on_postgres() {
    a_bounce_suppresses_the_address_until_it_is_lifted(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unsubscribe_link_shows_a_page_then_unsubscribes_on_sqlite() {
    the_unsubscribe_link_shows_a_page_then_unsubscribes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unsubscribe_link_shows_a_page_then_unsubscribes_on_postgres() {
    the_unsubscribe_link_shows_a_page_then_unsubscribes(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frequency_cap_defers_then_gives_up_on_sqlite() {
    the_frequency_cap_defers_then_gives_up(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frequency_cap_defers_then_gives_up_on_postgres() {
    the_frequency_cap_defers_then_gives_up(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_defer_to_the_persons_morning_on_sqlite() {
    quiet_hours_defer_to_the_persons_morning(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_messages_bypass_consent_only_when_asked_on_sqlite() {
    transactional_messages_bypass_consent_only_when_asked_and_are_not_capped(Backend::Sqlite).await;
}
