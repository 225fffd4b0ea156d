//! Black-box test support: a real Nudge server on port 0, started through the same `launch`
//! as production, on a fresh SQLite file or a fresh PostgreSQL database, plus small clients
//! for the Track and App APIs.

#![allow(dead_code)]

pub mod process;

use std::sync::Arc;

use nudge::config::{ServeArgs, StoreArgs};
use nudge_api::credentials::IssuedCredentials;
use nudge_core::SystemClock;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    pub creds: IssuedCredentials,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    pub database_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _database: Option<nudge_store_postgres::test_database::TestDatabase>,
}

/// Starts a server; `None` (after a loud notice) when PostgreSQL is wanted but absent and not
/// required.
pub async fn start(backend: Backend) -> Option<TestServer> {
    start_on(backend, None).await
}

/// Starts a server on a virtual clock at `clock` (`--virtual-clock`), or on the system clock.
pub async fn start_on(
    backend: Backend,
    clock: Option<nudge_core::Timestamp>,
) -> Option<TestServer> {
    start_with(backend, clock, nudge::config::DeliveryArgs::default()).await
}

/// [`start_on`] with the delivery worker's settings and providers given.
pub async fn start_with(
    backend: Backend,
    clock: Option<nudge_core::Timestamp>,
    delivery: nudge::config::DeliveryArgs,
) -> Option<TestServer> {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (database_url, database) = match backend {
        Backend::Sqlite => (None, None),
        Backend::Postgres => {
            let db = nudge_store_postgres::test_database::TestDatabase::create()?;
            (Some(db.url().to_string()), Some(db))
        }
    };
    let args = ServeArgs {
        store: StoreArgs {
            data_dir: data_dir.path().to_path_buf(),
            database_url: database_url.clone(),
        },
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: None,
        tls_key: None,
        virtual_clock: clock,
        delivery,
    };
    let listener = std::net::TcpListener::bind(args.listen).unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (shutdown, stop) = oneshot::channel::<()>();
    let task = tokio::spawn(nudge::server::launch(
        args,
        listener,
        Arc::new(SystemClock),
        async move {
            let _ = stop.await;
        },
        move |addr, creds| {
            let _ = ready_tx.send((addr, creds));
        },
    ));
    let (addr, creds) = ready_rx.await.expect("server started");
    Some(TestServer {
        base: format!("http://{addr}"),
        creds: creds.expect("a fresh store creates the development workspace"),
        http: reqwest::Client::new(),
        data_dir,
        database_url,
        shutdown: Some(shutdown),
        task: Some(task),
        _database: database,
    })
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl TestServer {
    /// The store the server runs on, for tests that administer it directly.
    pub fn store_args(&self) -> nudge::config::StoreArgs {
        nudge::config::StoreArgs {
            data_dir: self.data_dir.path().to_path_buf(),
            database_url: self.database_url.clone(),
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "non-JSON body for {status}: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Reply {
            status,
            body,
            headers,
        }
    }

    pub fn track_request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.creds.site_id, Some(&self.creds.track_api_key))
    }

    /// A Track API call with a JSON body (`Value::Null` sends none).
    pub async fn track(&self, method: Method, path: &str, body: Value) -> Reply {
        let request = self.track_request(method, path);
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        self.send(request).await
    }

    pub async fn app_get(&self, path: &str) -> Reply {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.creds.app_api_key);
        self.send(request).await
    }

    pub async fn app_post(&self, path: &str, body: Value) -> Reply {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.creds.app_api_key)
            .json(&body);
        self.send(request).await
    }

    /// The `customer` object of the App API, or `None` on 404.
    pub async fn customer(&self, id: &str, id_type: &str) -> Option<Value> {
        let path = format!("/v1/customers/{}/attributes?id_type={id_type}", encode(id));
        let reply = self.app_get(&path).await;
        match reply.status {
            StatusCode::OK => Some(reply.body["customer"].clone()),
            StatusCode::NOT_FOUND => None,
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }

    pub async fn activities(&self, id: &str, query: &str) -> Value {
        let path = format!("/v1/customers/{}/activities?{query}", encode(id));
        let reply = self.app_get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }
}

pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs each named scenario (`async fn(&TestServer)`) as a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let server = $crate::common::start($crate::common::Backend::Sqlite).await.unwrap();
                    super::$scenario(&server).await;
                    server.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(server) = $crate::common::start($crate::common::Backend::Postgres).await else { return };
                    super::$scenario(&server).await;
                    server.stop().await;
                }
            )*
        }
    };
}

impl TestServer {
    /// `nudge apply -f DIR` through the real binary, to this server's store (the running
    /// server picks the definitions up by itself).
    pub async fn apply(&self, dir: &std::path::Path) {
        let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_nudge"));
        process
            .args(["apply", "-f"])
            .arg(dir)
            .args(["--workspace", "development"])
            .env("NUDGE_DATA_DIR", self.data_dir.path())
            .env("NUDGE_LOG", "warn");
        match &self.database_url {
            Some(url) => process.env("NUDGE_DATABASE_URL", url),
            None => process.env_remove("NUDGE_DATABASE_URL"),
        };
        let output = process.output().await.expect("nudge runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The whole journey timeline (`GET /v1/timeline`), every page of `page_size`.
    pub async fn timeline(&self, page_size: usize) -> Vec<Value> {
        let mut lines = Vec::new();
        let mut start = String::new();
        loop {
            let reply = self
                .app_get(&format!("/v1/timeline?limit={page_size}&start={start}"))
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let page = reply.body["timeline"].as_array().expect("a timeline array");
            assert!(page.len() <= page_size, "{}", reply.body);
            lines.extend(page.iter().cloned());
            start = reply.body["next"]
                .as_str()
                .expect("a next cursor")
                .to_string();
            if start.is_empty() {
                return lines;
            }
        }
    }
}
