//! The HTTP sink: an axum server on a free port that records every request (method, path,
//! headers, body, arrival) and answers from a script. It plays Twilio, FCM (token endpoint
//! included) and any webhook receiver. It records a request before answering it, so once a
//! client has its answer the request is already visible.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use tokio::sync::watch;

use super::{wait_for_count, WaitTimedOut};

/// Request bodies above this are refused by the sink (413).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One request as the sink received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// 1 for the first request the sink received.
    pub number: usize,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// In arrival order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The first value of a form field.
    pub fn form_value(&self, key: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// What the sink answers to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Held this long before answering (the request is recorded at once).
    pub delay: Option<Duration>,
}

impl SinkResponse {
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            delay: None,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
            delay: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Answers only after `delay`, as a slow provider would.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

type Responder = Arc<dyn Fn(&RecordedRequest) -> SinkResponse + Send + Sync>;

struct Shared {
    next_number: AtomicUsize,
    keep_requests: AtomicBool,
    requests: Mutex<Vec<RecordedRequest>>,
    recorded: watch::Sender<usize>,
    responder: RwLock<Responder>,
    by_number: Mutex<HashMap<usize, SinkResponse>>,
}

impl Shared {
    fn answer_for(&self, request: &RecordedRequest) -> SinkResponse {
        let scripted = self
            .by_number
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&request.number);
        scripted.unwrap_or_else(|| {
            let responder = self
                .responder
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            responder(request)
        })
    }
}

/// A recording HTTP server on a local port; stops when dropped.
pub struct HttpSink {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl HttpSink {
    /// Starts on 127.0.0.1 with a free port, answering `200 {}` until told otherwise.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(address: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let default: Responder = Arc::new(|_| SinkResponse::json(200, &serde_json::json!({})));
        let shared = Arc::new(Shared {
            next_number: AtomicUsize::new(1),
            keep_requests: AtomicBool::new(true),
            requests: Mutex::new(Vec::new()),
            recorded: watch::Sender::new(0),
            responder: RwLock::new(default),
            by_number: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .fallback(record_and_answer)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "http sink stopped");
            }
        });
        Ok(Self {
            address,
            shared,
            server,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Answers every request with `response` (requests scripted by number aside).
    pub fn answer(&self, response: SinkResponse) {
        self.answer_with(move |_| response.clone());
    }

    /// Answers the `number`-th request (1-based) with `response`, once.
    pub fn answer_request(&self, number: usize, response: SinkResponse) {
        self.shared
            .by_number
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, response);
    }

    /// Decides every answer with `responder` (requests scripted by number aside).
    pub fn answer_with(
        &self,
        responder: impl Fn(&RecordedRequest) -> SinkResponse + Send + Sync + 'static,
    ) {
        *self
            .shared
            .responder
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(responder);
    }

    /// With `false`, requests are counted but their contents not kept (long benchmarks).
    pub fn keep_requests(&self, keep: bool) {
        self.shared.keep_requests.store(keep, Ordering::SeqCst);
    }

    /// The requests kept so far, in the order they were recorded.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests arrived, kept or not.
    pub fn request_count(&self) -> usize {
        *self.shared.recorded.borrow()
    }

    /// Waits until at least `count` requests arrived, at most `deadline`; returns those kept.
    pub async fn wait_for_requests(
        &self,
        count: usize,
        deadline: Duration,
    ) -> Result<Vec<RecordedRequest>, WaitTimedOut> {
        wait_for_count(&self.shared.recorded, "requests", count, deadline).await?;
        Ok(self.requests())
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record_and_answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RecordedRequest {
        number: shared.next_number.fetch_add(1, Ordering::SeqCst),
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect(),
        body: body.to_vec(),
        received_at: Instant::now(),
    };
    let answer = shared.answer_for(&request);
    if shared.keep_requests.load(Ordering::SeqCst) {
        shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }
    shared.recorded.send_modify(|count| *count += 1);
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    into_response(answer)
}

fn into_response(answer: SinkResponse) -> Response {
    let mut builder = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Body::from(answer.body))
        .unwrap_or_else(|error| {
            let mut response =
                Response::new(Body::from(format!("sink script is invalid: {error}")));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        })
}
