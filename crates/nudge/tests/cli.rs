//! The `nudge` binary as an operator uses it: `check-config`, `workspace create|list|
//! rotate-keys`, the first `serve` creating the development workspace, SIGTERM draining, and
//! native TLS.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

fn nudge(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nudge"));
    command
        .env("NUDGE_DATA_DIR", data_dir)
        .env_remove("NUDGE_DATABASE_URL")
        .env_remove("NUDGE_LISTEN")
        .env_remove("NUDGE_TLS_CERT")
        .env_remove("NUDGE_TLS_KEY");
    command
}

fn run_json(command: &mut Command) -> Value {
    let output = command.output().expect("nudge runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// Starts `nudge serve` and returns it with the address it printed.
fn serve(command: &mut Command) -> (Child, String) {
    let mut child = command
        .arg("serve")
        .env("NUDGE_LISTEN", "127.0.0.1:0")
        .env("NUDGE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("listening line");
    (child, url)
}

fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap()
}

#[test]
fn check_config_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let config = run_json(
        nudge(dir.path())
            .arg("check-config")
            .env(
                "NUDGE_DATABASE_URL",
                "postgres://app:hunter2@db.internal:5432/nudge",
            )
            .env("NUDGE_LISTEN", "0.0.0.0:8080"),
    );
    assert_eq!(config["database"], "postgres");
    assert_eq!(
        config["database_url"],
        "postgres://app:<redacted>@db.internal:5432/nudge"
    );
    assert_eq!(config["listen"], "0.0.0.0:8080");
    assert!(!config.to_string().contains("hunter2"));
    let flags = run_json(nudge(dir.path()).args(["check-config", "--listen", "127.0.0.1:9000"]));
    assert_eq!(
        flags["listen"], "127.0.0.1:9000",
        "flags override the environment"
    );
    assert_eq!(flags["database"], "sqlite");
    let bad = nudge(dir.path())
        .arg("check-config")
        .env("NUDGE_DATABASE_URL", "mysql://x/y")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("postgres:// or sqlite://"));
}

#[test]
fn workspaces_are_created_listed_and_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let created = run_json(nudge(dir.path()).args([
        "workspace",
        "create",
        "lumen",
        "--env",
        "production",
        "--json",
    ]));
    for key in [
        "workspace_id",
        "name",
        "env",
        "site_id",
        "track_api_key",
        "pipelines_write_key",
        "app_api_key",
    ] {
        assert!(!created[key].is_null(), "{key} missing from {created}");
    }
    assert_eq!(created["env"], "production");
    assert!(
        created["track_api_key"].as_str().unwrap().len() >= 32,
        "at least 128 bits"
    );
    let duplicate = nudge(dir.path())
        .args(["workspace", "create", "lumen"])
        .output()
        .unwrap();
    assert!(!duplicate.status.success(), "names are unique");
    let listed = run_json(nudge(dir.path()).args(["workspace", "list", "--json"]));
    assert_eq!(listed[0]["name"], "lumen");
    assert!(
        !listed
            .to_string()
            .contains(created["track_api_key"].as_str().unwrap()),
        "keys are never listed"
    );
    // The plain keys are not in the database file: only hashes are stored.
    let db = std::fs::read(dir.path().join("nudge.db")).unwrap();
    let key = created["app_api_key"].as_str().unwrap().as_bytes();
    assert!(!db.windows(key.len()).any(|w| w == key));

    let (mut server, url) = serve(&mut nudge(dir.path()));
    let http = reqwest::blocking::Client::new();
    let identify = |site: &Value, key: &Value| {
        http.put(format!("{url}/api/v1/customers/r-1"))
            .basic_auth(site.as_str().unwrap(), key.as_str())
            .json(&json!({"a": 1}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        identify(&created["site_id"], &created["track_api_key"]),
        200
    );
    let rotated = run_json(nudge(dir.path()).args(["workspace", "rotate-keys", "lumen", "--json"]));
    assert_ne!(rotated["track_api_key"], created["track_api_key"]);
    assert_eq!(rotated["site_id"], created["site_id"]);
    // A running server caches a valid key for at most a second; wait for that bound, not a
    // fixed sleep: poll until the old key is refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while identify(&created["site_id"], &created["track_api_key"]) != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the old key still works"
        );
        std::thread::yield_now();
    }
    assert_eq!(
        identify(&rotated["site_id"], &rotated["track_api_key"]),
        200
    );
    assert!(sigterm(&mut server).success());
}

#[test]
fn first_serve_creates_the_development_workspace_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _) = serve(&mut nudge(dir.path()));
    let path = dir.path().join("credentials.json");
    let creds: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(creds["env"], "development");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(sigterm(&mut server).success(), "SIGTERM is a clean exit");
    let (mut again, _) = serve(&mut nudge(dir.path()));
    let after: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(after, creds, "a second start creates nothing");
    assert!(sigterm(&mut again).success());
    let listed = run_json(nudge(dir.path()).args(["workspace", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = serve(&mut nudge(dir.path()));
    let creds: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("credentials.json")).unwrap())
            .unwrap();
    let (site, key) = (
        creds["site_id"].as_str().unwrap().to_string(),
        creds["track_api_key"].as_str().unwrap().to_string(),
    );
    // Clients keep sending; SIGTERM arrives while requests are in flight. Every request that
    // was answered must have been answered 200, and every 200 must be stored.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(9));
    let mut senders = Vec::new();
    for client in 0..8 {
        let (url, site, key, barrier) = (url.clone(), site.clone(), key.clone(), barrier.clone());
        senders.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut acked = 0;
            for n in 0.. {
                if n == 20 {
                    barrier.wait();
                }
                let sent = http
                    .post(format!("{url}/api/v1/customers/term-{client}/events"))
                    .basic_auth(&site, Some(&key))
                    .json(&json!({"name": "e", "id": ulid::Ulid::new().to_string()}))
                    .send();
                match sent {
                    Ok(r) => {
                        assert_eq!(r.status(), 200, "no request is cut off with an error");
                        acked += 1;
                    }
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    barrier.wait();
    assert!(sigterm(&mut server).success());
    let acked: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
    let (mut again, url) = serve(&mut nudge(dir.path()));
    let http = reqwest::blocking::Client::new();
    let mut stored = 0;
    for client in 0..8 {
        let page: Value = http
            .get(format!(
                "{url}/v1/customers/term-{client}/activities?type=event&limit=1000"
            ))
            .bearer_auth(creds["app_api_key"].as_str().unwrap())
            .send()
            .unwrap()
            .json()
            .unwrap();
        stored += page["activities"].as_array().unwrap().len();
    }
    assert!(acked >= 160);
    assert_eq!(
        stored, acked,
        "every acknowledged event was stored, and only those"
    );
    assert!(sigterm(&mut again).success());
}

#[test]
fn serves_https_natively() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let (mut server, url) = serve(
        nudge(dir.path())
            .env("NUDGE_TLS_CERT", &cert_path)
            .env("NUDGE_TLS_KEY", &key_path),
    );
    assert!(url.starts_with("https://"), "{url}");
    let port = url.rsplit(':').next().unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let body = http
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "ok");
    let plain = reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"));
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP is not served"
    );
    assert!(sigterm(&mut server).success());
}
