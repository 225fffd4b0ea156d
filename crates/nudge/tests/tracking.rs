//! Open and click tracking on a live server with a real SMTP server, on a virtual clock: a
//! tracked email goes out with its links rewritten and an open pixel; fetching the pixel and
//! following a link (no credentials) answer the GIF and the redirect to the original URL, and
//! the ledger moves sent → opened → clicked and never back; a forged token changes nothing;
//! an untracked email keeps its links and has no pixel. A journey goal with `attribution:
//! clicked` credits no conversion to a message nobody clicked, and credits one after a click.

mod common;
mod delivery;

use common::{start_with, Backend, TestServer};
use delivery::{advance, at, ledger_entry, Providers};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const START: &str = "2026-03-02T09:00:00Z";
const CART: &str = "https://shop.example/cart?a=1&b=2";

const DEFINITIONS: &str = r#"kind: template
format: 1
id: browse-email
channel: email
subject: "Still looking, {{ customer.first_name }}?"
body: "Your cart: https://shop.example/cart"
html: '<html><body><p>Your <a href="https://shop.example/cart">cart</a> is waiting.</p></body></html>'
---
kind: journey
format: 1
id: browse
name: Browse follow-up
trigger:
  event: Browsed
goal:
  event: Order Completed
  within: 3d
  attribution: clicked
steps:
  - id: email
    send: {channel: email, template: browse-email, tracked: true}
"#;

async fn setup(backend: Backend) -> Option<(TestServer, Providers)> {
    let providers = Providers::start().await;
    let server = start_with(backend, Some(at(START)), providers.delivery_args(10)).await?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("defs.yaml"), DEFINITIONS).unwrap();
    server.apply(dir.path()).await;
    advance(&server, at(START)).await;
    let ana = json!({"email": "ana@example.com", "first_name": "Ana"});
    let identify = server
        .track(Method::PUT, "/api/v1/customers/c-1", ana)
        .await;
    assert_eq!(identify.status, StatusCode::OK, "{}", identify.body);
    Some((server, providers))
}

/// Lets the server do everything due at its clock's time (processing, deliveries).
async fn settle(server: &TestServer) {
    let now = server.app_get("/v1/clock").await;
    advance(server, at(now.body["now"].as_str().unwrap())).await;
}

/// A transactional email with a web link, a `mailto:` link and an anchor; its delivery id.
async fn send_email(server: &TestServer, extra: Value) -> String {
    let mut body = json!({
        "identifiers": {"id": "c-1"},
        "subject": "Your cart",
        "body": format!(
            "<html><body><p><a href=\"{}\">Cart</a> <a href=\"mailto:help@lumen.example\">Help</a> \
             <a href=\"#top\">Top</a></p></body></html>",
            CART.replace('&', "&amp;")
        ),
        "body_plain": "Your cart",
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let reply = server.app_post("/v1/send/email", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["delivery_id"].as_str().unwrap().to_string()
}

/// The HTML part of every email the SMTP server received, in order.
fn html_parts(providers: &Providers) -> Vec<String> {
    providers
        .smtp
        .messages()
        .iter()
        .map(|mail| {
            let parsed = mail_parser::MessageParser::default()
                .parse(&mail.data)
                .expect("a parseable message");
            parsed.body_html(0).unwrap_or_default().to_string()
        })
        .collect()
}

/// Every value of `attribute="…"` in `html`, with `&amp;` decoded.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!("{attribute}=\"");
    html.split(&marker)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

/// A client that shows redirects instead of following them, without credentials.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn state_of(server: &TestServer, delivery_id: &str) -> Value {
    ledger_entry(server, delivery_id).await["state"].clone()
}

async fn a_tracked_email_records_opens_and_clicks(backend: Backend) {
    let Some((server, providers)) = setup(backend).await else {
        return;
    };
    let id = send_email(&server, json!({})).await;
    settle(&server).await;
    assert_eq!(state_of(&server, &id).await, "sent");
    let entry = ledger_entry(&server, &id).await;
    assert_eq!(entry["payload"]["tracked"], true, "{entry}");

    let html = &html_parts(&providers)[0];
    let hrefs = attribute_values(html, "href");
    let tracked_prefix = format!("{}/t/c/", server.base);
    assert_eq!(hrefs.len(), 3, "{html}");
    assert!(hrefs[0].starts_with(&tracked_prefix), "{html}");
    assert_eq!(hrefs[1], "mailto:help@lumen.example", "left alone");
    assert_eq!(hrefs[2], "#top", "left alone");
    let pixels = attribute_values(html, "src");
    assert_eq!(pixels.len(), 1, "{html}");
    assert!(
        pixels[0].starts_with(&format!("{}/t/o/", server.base)),
        "{html}"
    );
    assert!(html.contains("</p><img src="), "before </body>: {html}");
    assert!(html.trim_end().ends_with("</body></html>"), "{html}");

    let http = browser();
    // A forged pixel or link is refused and changes nothing.
    let forged_pixel = format!("{}x", pixels[0]);
    let reply = http.get(&forged_pixel).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    let token = hrefs[0].strip_prefix(&tracked_prefix).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 4, "{token}");
    use base64::Engine;
    let evil = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("https://evil.example/");
    let forged_link = format!(
        "{tracked_prefix}{}",
        [parts[0], parts[1], &evil, parts[3]].join(".")
    );
    let reply = http.get(&forged_link).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    assert!(reply.headers().get("location").is_none());
    let body = reply.text().await.unwrap();
    assert!(!body.contains("evil"), "{body}");
    assert_eq!(state_of(&server, &id).await, "sent", "nothing recorded");

    // The pixel: a GIF nobody caches, and `opened`; again, no harm done.
    for _ in 0..2 {
        let reply = http.get(&pixels[0]).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(reply.headers()["content-type"], "image/gif");
        let cache = reply.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(cache.contains("no-store"), "{cache}");
        let gif = reply.bytes().await.unwrap();
        assert!(gif.starts_with(b"GIF89a"), "{gif:?}");
        assert_eq!(state_of(&server, &id).await, "opened");
    }

    // The link: `clicked`, and on to the original URL.
    let reply = http.get(&hrefs[0]).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::FOUND);
    assert_eq!(reply.headers()["location"], CART);
    let entry = ledger_entry(&server, &id).await;
    assert_eq!(entry["state"], "clicked", "{entry}");
    assert!(entry["metrics"]["clicked"].is_i64(), "{entry}");
    // An open after the click does not move it back.
    let reply = http.get(&pixels[0]).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(state_of(&server, &id).await, "clicked");

    // Untracked: the links as written and no pixel.
    let plain = send_email(&server, json!({"tracked": false})).await;
    settle(&server).await;
    assert_eq!(state_of(&server, &plain).await, "sent");
    let html = &html_parts(&providers)[1];
    assert_eq!(
        attribute_values(html, "href"),
        [CART, "mailto:help@lumen.example", "#top"],
        "{html}"
    );
    assert!(!html.contains("/t/o/") && !html.contains("<img"), "{html}");
    let entry = ledger_entry(&server, &plain).await;
    assert_eq!(entry["payload"].get("tracked"), None, "{entry}");
    server.stop().await;
}

async fn event(server: &TestServer, name: &str) {
    let reply = server
        .track(
            Method::POST,
            "/api/v1/customers/c-1/events",
            json!({"name": name, "data": {}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    settle(server).await;
}

async fn converted(server: &TestServer) -> (Value, usize) {
    let reply = server.app_get("/v1/campaigns/browse/journey_metrics").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let timeline = server.timeline(100).await;
    let rows = timeline.iter().filter(|l| l["kind"] == "converted").count();
    (reply.body["journey_metrics"]["converted"].clone(), rows)
}

async fn a_goal_attributed_to_clicks_waits_for_the_click(backend: Backend) {
    let Some((server, providers)) = setup(backend).await else {
        return;
    };
    event(&server, "Browsed").await;
    let html = html_parts(&providers);
    assert_eq!(html.len(), 1, "the journey's email went out");
    let link = attribute_values(&html[0], "href").remove(0);
    assert!(link.starts_with(&format!("{}/t/c/", server.base)), "{link}");
    assert_eq!(attribute_values(&html[0], "src").len(), 1, "the pixel");

    // Opened is not enough for `clicked`.
    let pixel = attribute_values(&html[0], "src").remove(0);
    let http = browser();
    assert_eq!(
        http.get(&pixel).send().await.unwrap().status(),
        StatusCode::OK
    );
    event(&server, "Order Completed").await;
    assert_eq!(converted(&server).await, (json!(0), 0), "not clicked yet");

    let reply = http.get(&link).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::FOUND);
    assert_eq!(reply.headers()["location"], "https://shop.example/cart");
    event(&server, "Order Completed").await;
    assert_eq!(
        converted(&server).await,
        (json!(1), 1),
        "credited after the click"
    );
    event(&server, "Order Completed").await;
    assert_eq!(converted(&server).await, (json!(1), 1), "once per message");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_email_records_opens_and_clicks_on_sqlite() {
    a_tracked_email_records_opens_and_clicks(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_email_records_opens_and_clicks_on_postgres() {
    a_tracked_email_records_opens_and_clicks(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goal_attributed_to_clicks_waits_for_the_click_on_sqlite() {
    a_goal_attributed_to_clicks_waits_for_the_click(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goal_attributed_to_clicks_waits_for_the_click_on_postgres() {
    a_goal_attributed_to_clicks_waits_for_the_click(Backend::Postgres).await;
}
