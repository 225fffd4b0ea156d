//! The D2C brand's eight stories (and its other scenarios) with real deliveries: a live server
//! on a virtual clock, its delivery worker pointed at a real SMTP server and a
//! Twilio-compatible recording server. Each scenario is replayed through the Pipelines API
//! (`examples/d2c/scenarios/*.ndjson`) with
//! the brand's definitions applied, and every `message_sent` line of the story's hand-written
//! expected timeline must reach its provider, with that recipient and text, and be recorded
//! in the ledger as sent at that moment; nothing else may reach a provider.

mod common;
mod delivery;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{start_with, Backend};
use delivery::{at, ledger, replay, Providers};
use serde_json::Value;

/// Past every journey of the brand, as the SDK story test runs on.
const HORIZON: Duration = Duration::from_secs(100 * 86_400);

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/d2c")
        .join(path)
}

fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect()
}

fn stories() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(example("scenarios"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".ndjson") && !n.ends_with(".expected.ndjson"))
        .map(|n| n.trim_end_matches(".ndjson").to_string())
        .collect();
    names.sort();
    names
}

fn text(line: &Value, field: &str) -> String {
    line[field].as_str().unwrap_or_default().to_string()
}

async fn story_delivers_what_its_timeline_says(backend: Backend, story: &str) {
    let lines = ndjson(&example(&format!("scenarios/{story}.ndjson")));
    let expected: Vec<Value> = ndjson(&example(&format!("scenarios/{story}.expected.ndjson")))
        .into_iter()
        .filter(|l| l["kind"] == "message_sent")
        .collect();
    let providers = Providers::start().await;
    let first = at(lines[0]["timestamp"].as_str().unwrap());
    let Some(server) = start_with(backend, Some(first), providers.delivery_args(10)).await else {
        return;
    };
    server.apply(&example("definitions")).await;
    replay(&server, &lines, HORIZON).await;

    let want_sms: Vec<(String, String)> = expected
        .iter()
        .filter(|l| l["channel"] == "sms")
        .map(|l| (text(l, "to"), text(l, "body")))
        .collect();
    let want_emails: Vec<(String, String, String)> = expected
        .iter()
        .filter(|l| l["channel"] == "email")
        .map(|l| {
            let body = text(l, "body").trim_end().to_string();
            (text(l, "to"), text(l, "subject"), body)
        })
        .collect();
    assert_eq!(providers.sms(), want_sms, "{story}: SMS received");
    assert_eq!(providers.emails(), want_emails, "{story}: emails received");

    let mut sent: Vec<(String, String, i64)> = ledger(&server)
        .await
        .iter()
        .map(|m| {
            assert_eq!(m["state"], "sent", "{story}: {m}");
            (
                text(m, "type"),
                text(m, "recipient"),
                m["metrics"]["sent"].as_i64().expect("a sent time"),
            )
        })
        .collect();
    let mut want_sent: Vec<(String, String, i64)> = expected
        .iter()
        .map(|l| {
            (
                text(l, "channel"),
                text(l, "to"),
                at(l["at"].as_str().unwrap()).unix_seconds(),
            )
        })
        .collect();
    sent.sort();
    want_sent.sort();
    assert_eq!(sent, want_sent, "{story}: the ledger");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_story_delivers_what_its_timeline_says_on_sqlite() {
    let stories = stories();
    let numbered = stories.iter().filter(|s| s.starts_with("story-")).count();
    assert_eq!(numbered, 8, "{stories:?}");
    for story in &stories {
        story_delivers_what_its_timeline_says(Backend::Sqlite, story).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cart_stories_deliver_on_postgres() {
    for story in ["story-1-abandoned", "story-3-ordered-after-sms"] {
        story_delivers_what_its_timeline_says(Backend::Postgres, story).await;
    }
}
