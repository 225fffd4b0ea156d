//! `nudge simulate --workspace W --since 7d --config DIR`: draft definitions dry-run against
//! what a workspace really received. A store is filled through the real writer on a virtual
//! clock over ten days; the d2c brand's journeys, never applied to it, are run over the last
//! seven: a cart in the window gets its messages at the right moments, one before the window
//! starts nothing, and the workspace itself is left as it was.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use nudge_core::{
    Clock, EventKind, EventRecord, Identifier, IdentifierKind, ManualClock, Operation, Timestamp,
};
use nudge_ingest::{Accepted, Ingestor, WriterConfig};
use nudge_store::{DocumentKind, NewWorkspace, Store};
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;
/// 2026-03-10T00:00:00Z: "now" for the dry run.
const NOW: Timestamp = Timestamp::from_millis(1_773_100_800_000);

fn person(id: &str) -> Identifier {
    Identifier::new(IdentifierKind::Id, id).unwrap()
}

fn cart(id: &str, value: f64) -> Operation {
    let items = json!([{"product_id": "p-serum", "variant_id": "serum-30ml",
        "name": "Vitamin C Serum", "price": value, "quantity": 1, "category": "serum"}]);
    Operation::Track {
        person: person(id),
        event: EventRecord {
            kind: EventKind::Event,
            name: "Added to Cart".into(),
            id: None,
            timestamp: None,
            data: json!({"cart_id": format!("cart-{id}"), "cart_value": value, "items": items})
                .as_object()
                .unwrap()
                .clone(),
        },
    }
}

fn identify(id: &str) -> Operation {
    Operation::Identify {
        person: person(id),
        attributes: json!({"email": format!("{id}@example.com"), "first_name": id})
            .as_object()
            .unwrap()
            .clone(),
        update_only: false,
        timestamp: None,
    }
}

/// A workspace that received, on a virtual clock: two people on day -10, Ana's cart on day
/// -9 (before the window), Bo's cart on day -2 at 10:02.
fn recorded(dir: &Path) -> Arc<dyn Store> {
    let store: Arc<dyn Store> =
        Arc::new(nudge_store_sqlite::SqliteStore::open(&dir.join("nudge.db")).unwrap());
    let clock = ManualClock::starting_at(NOW.minus_millis(10 * DAY));
    let ws = store
        .create_workspace(&NewWorkspace {
            name: "lumen".into(),
            env: nudge_core::Env::Production,
            site_id: "lumen-site".into(),
            keys: vec![],
            now: clock.now(),
        })
        .unwrap()
        .id;
    let (ingestor, writer) = Ingestor::start(
        store.clone(),
        Arc::new(clock.clone()),
        WriterConfig::default(),
    );
    let at = |offset: i64, operation: Operation| {
        clock.set(NOW.plus_millis(offset));
        ingestor
            .enqueue_blocking(ws, "track_v1", vec![Accepted::from(operation)])
            .unwrap()
            .wait()
            .unwrap();
    };
    at(-10 * DAY, identify("ana"));
    at(-10 * DAY + 1, identify("bo"));
    at(-9 * DAY + 10 * 3_600_000, cart("ana", 84.0));
    at(-2 * DAY + 10 * 3_600_000 + 2 * 60_000, cart("bo", 84.0));
    drop(ingestor);
    writer.join();
    store
}

fn d2c() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/d2c/definitions")
}

#[test]
fn drafts_run_over_the_window_and_leave_the_workspace_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = recorded(dir.path());
    let ws = store.workspace_by_name("lumen").unwrap().unwrap().id;
    let log_before = store.log_extent(ws, 0).unwrap();
    let timeline = nudge::simulate::dry_run::dry_run(
        store.as_ref(),
        ws,
        &d2c(),
        NOW.minus_millis(7 * DAY),
        NOW,
    )
    .unwrap();
    let journeys: Vec<(String, String, String)> = timeline
        .iter()
        .map(|e| e.to_json())
        .filter(|l| !l["kind"].as_str().unwrap().starts_with("segment_"))
        .map(|l| {
            let text = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (text("at"), text("person"), text("kind"))
        })
        .collect();
    let day_minus_2 = "2026-03-08T";
    assert_eq!(
        journeys,
        [
            (
                format!("{day_minus_2}10:02:00Z"),
                "bo".into(),
                "journey_entered".into()
            ),
            (
                format!("{day_minus_2}10:32:00Z"),
                "bo".into(),
                "message_skipped".into()
            ),
            (
                format!("{day_minus_2}16:02:00Z"),
                "bo".into(),
                "message_sent".into()
            ),
            (
                format!("{day_minus_2}16:02:00Z"),
                "bo".into(),
                "journey_exited".into()
            ),
        ],
        "Bo has no SMS consent; Ana's cart was before the window: {journeys:#?}"
    );
    assert_eq!(
        store.log_extent(ws, 0).unwrap(),
        log_before,
        "nothing written"
    );
    assert!(store
        .documents(ws, DocumentKind::Journey)
        .unwrap()
        .is_empty());
}

#[test]
fn the_command_needs_a_window_with_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    recorded(dir.path());
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nudge"))
            .args(["simulate", "--json", "--config"])
            .arg(d2c())
            .args(extra)
            .env("NUDGE_DATA_DIR", dir.path())
            .env_remove("NUDGE_DATABASE_URL")
            .output()
            .unwrap()
    };
    let refused = run(&["--workspace", "lumen"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--since"));
    let output = run(&[
        "--workspace",
        "lumen",
        "--since",
        "7d",
        "--until",
        "2026-03-10T00:00:00Z",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["kind"] == "message_sent")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["to"], json!("bo@example.com"));
}
