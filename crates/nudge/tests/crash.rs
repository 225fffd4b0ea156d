//! Durability under `kill -9`: clients stream events, the server process is SIGKILLed
//! mid-stream and restarted on the same store; every event that got a 200 must be present
//! exactly once. Runs the real binary on SQLite and on PostgreSQL.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{credentials, start_binary, Running};

use serde_json::{json, Value};

fn start(data_dir: &std::path::Path, database_url: Option<&str>) -> Running {
    start_binary(data_dir, database_url, &[])
}

/// Streams events from 16 clients until `acks` of them were acknowledged, then kills the
/// server with SIGKILL while the clients are still sending. Returns the acknowledged ids.
async fn stream_and_kill(
    server: &mut Running,
    creds: &Value,
    round: usize,
    acks: usize,
) -> Vec<(String, String)> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let (enough_tx, mut enough_rx) = tokio::sync::mpsc::channel::<()>(1);
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for client in 0..16 {
        let (http, acked, enough) = (http.clone(), acked.clone(), enough_tx.clone());
        let base = server.base.clone();
        let (site, key) = (
            creds["site_id"].as_str().unwrap().to_string(),
            creds["track_api_key"].as_str().unwrap().to_string(),
        );
        clients.push(tokio::spawn(async move {
            for n in 0.. {
                let person = format!("crash-{client}");
                let id = ulid::Ulid::new().to_string();
                let sent = http
                    .post(format!("{base}/api/v1/customers/{person}/events"))
                    .basic_auth(&site, Some(&key))
                    .json(&json!({"name": "tick", "id": id, "data": {"round": round, "n": n}}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        let mut list = acked.lock().unwrap();
                        list.push((person, id));
                        if list.len() >= acks {
                            let _ = enough.try_send(());
                        }
                    }
                    // The server is gone: this client is done.
                    _ => break,
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), enough_rx.recv())
        .await
        .expect("enough events were acknowledged");
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    for client in clients {
        client.await.unwrap();
    }
    let list = acked.lock().unwrap().clone();
    list
}

async fn stored_event_ids(
    base: &str,
    app_key: &str,
    people: &HashSet<String>,
) -> HashMap<String, usize> {
    let http = reqwest::Client::new();
    let mut counts = HashMap::new();
    for person in people {
        let mut start = String::new();
        loop {
            let page: Value = http
                .get(format!(
                    "{base}/v1/customers/{person}/activities?type=event&limit=1000&start={start}"
                ))
                .bearer_auth(app_key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for activity in page["activities"].as_array().unwrap() {
                *counts
                    .entry(activity["event_id"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
            start = page["next"].as_str().unwrap().to_string();
            if start.is_empty() {
                break;
            }
        }
    }
    counts
}

async fn acknowledged_events_survive_sigkill(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), database_url);
    let creds = credentials(dir.path());
    let mut acked = Vec::new();
    for round in 0..3 {
        acked.extend(stream_and_kill(&mut server, &creds, round, 300).await);
        server = start(dir.path(), database_url);
    }
    let app_key = creds["app_api_key"].as_str().unwrap();
    // Clients may retry what they never saw acknowledged; replaying acknowledged ids must
    // not duplicate them either.
    let http = reqwest::Client::new();
    for (person, id) in acked.iter().take(50) {
        let r = http
            .post(format!("{}/api/v1/customers/{person}/events", server.base))
            .basic_auth(
                creds["site_id"].as_str().unwrap(),
                Some(creds["track_api_key"].as_str().unwrap()),
            )
            .json(&json!({"name": "tick", "id": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let people: HashSet<String> = acked.iter().map(|(p, _)| p.clone()).collect();
    let stored = stored_event_ids(&server.base, app_key, &people).await;
    let lost: Vec<_> = acked
        .iter()
        .filter(|(_, id)| !stored.contains_key(id))
        .collect();
    let duplicated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        acked.len() >= 900,
        "three rounds of at least 300 acknowledgements"
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(duplicated.is_empty(), "events stored twice: {duplicated:?}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_event() {
    acknowledged_events_survive_sigkill(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_acknowledged_event() {
    let Some(db) = nudge_store_postgres::test_database::TestDatabase::create() else {
        return;
    };
    acknowledged_events_survive_sigkill(Some(db.url())).await;
}
