//! The SMTP sink: a real SMTP server on a local port (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
//! VRFY, QUIT, and AUTH PLAIN/LOGIN when given credentials) that records each accepted
//! message with its envelope, raw data and headers, and can be scripted to answer 4xx/5xx at
//! MAIL, RCPT or the end of DATA. A message is recorded before its `250` is sent. With a
//! certificate it offers STARTTLS or speaks TLS from the first byte ([`SmtpSinkTls`]) and
//! records whether each message arrived over TLS.

mod session;
mod tls;

pub use tls::SmtpSinkTls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{wait_for_count, WaitTimedOut};

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The transaction's number: 1 for the first MAIL command the sink received.
    pub transaction: usize,
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// The user name of AUTH, when the client authenticated.
    pub authenticated_as: Option<String>,
    /// Whether the message arrived over TLS (after STARTTLS, or on an implicit-TLS sink).
    pub tls: bool,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as transmitted, dot-unstuffed, CRLF line endings.
    pub data: Vec<u8>,
    /// The header section, unfolded, in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub received_at: Instant,
}

impl ReceivedMail {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (case-insensitive name).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The point of a transaction at which a script may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpStage {
    Mail,
    Rcpt,
    /// After the final `.` of DATA.
    Data,
}

/// What a script sees when asked for an answer.
#[derive(Debug)]
pub struct SmtpStep<'a> {
    pub transaction: usize,
    pub stage: SmtpStage,
    pub mail_from: &'a str,
    /// Accepted recipients so far; at `Rcpt`, the one being asked about is last.
    pub rcpt_to: &'a [String],
    /// The message data (at `Data` only; empty before).
    pub data: &'a [u8],
}

/// A scripted answer: `code` and its text, e.g. `550` and `5.1.1 mailbox unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    pub code: u16,
    pub text: String,
}

impl SmtpReply {
    pub fn new(code: u16, text: &str) -> Self {
        Self {
            code,
            text: text.to_string(),
        }
    }
}

/// How to start an SMTP sink.
#[derive(Debug, Clone)]
pub struct SmtpSinkOptions {
    pub address: SocketAddr,
    /// The server name in the greeting and the EHLO answer.
    pub name: String,
    /// With credentials, the sink offers AUTH PLAIN and LOGIN and refuses MAIL before it.
    pub credentials: Option<(String, String)>,
    /// Messages larger than this are refused with 552.
    pub max_message_bytes: usize,
    /// Plain (the default), STARTTLS, or TLS from the first byte.
    pub tls: SmtpSinkTls,
}

impl Default for SmtpSinkOptions {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            name: "sink.localhost".into(),
            credentials: None,
            max_message_bytes: 32 * 1024 * 1024,
            tls: SmtpSinkTls::Off,
        }
    }
}

type Script = Arc<dyn Fn(&SmtpStep<'_>) -> Option<SmtpReply> + Send + Sync>;

pub(crate) struct Shared {
    options: SmtpSinkOptions,
    connections: AtomicUsize,
    transactions: AtomicUsize,
    keep_messages: AtomicBool,
    messages: Mutex<Vec<ReceivedMail>>,
    accepted: watch::Sender<usize>,
    script: RwLock<Option<Script>>,
}

impl Shared {
    fn next_transaction(&self) -> usize {
        self.transactions.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn scripted(&self, step: &SmtpStep<'_>) -> Option<SmtpReply> {
        let script = self
            .script
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        script.and_then(|script| script(step))
    }

    fn record(&self, mail: ReceivedMail) {
        if self.keep_messages.load(Ordering::SeqCst) {
            self.messages
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(mail);
        }
        self.accepted.send_modify(|count| *count += 1);
    }
}

/// A recording SMTP server on a local port; stops (with its connections) when dropped.
pub struct SmtpSink {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Starts on 127.0.0.1 with a free port, accepting everything, without AUTH.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(SmtpSinkOptions::default()).await
    }

    pub async fn start_with(options: SmtpSinkOptions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(options.address).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            options,
            connections: AtomicUsize::new(0),
            transactions: AtomicUsize::new(0),
            keep_messages: AtomicBool::new(true),
            messages: Mutex::new(Vec::new()),
            accepted: watch::Sender::new(0),
            script: RwLock::new(None),
        });
        let accepting = Arc::clone(&shared);
        let server = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            accepting.connections.fetch_add(1, Ordering::SeqCst);
                            let _ = stream.set_nodelay(true);
                            connections.spawn(session::serve(stream, Arc::clone(&accepting)));
                        }
                        Err(error) => tracing::warn!(%error, "smtp sink could not accept"),
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
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

    /// The form `NUDGE_SMTP_URL` takes: `smtp://127.0.0.1:PORT`, with `?tls=required` when
    /// the sink offers STARTTLS, `smtps://127.0.0.1:PORT` when it speaks TLS from the start.
    pub fn url(&self) -> String {
        match self.shared.options.tls {
            SmtpSinkTls::Off => format!("smtp://{}", self.address),
            SmtpSinkTls::StartTls(_) => format!("smtp://{}?tls=required", self.address),
            SmtpSinkTls::Implicit(_) => format!("smtps://{}", self.address),
        }
    }

    /// Lets `script` answer MAIL, RCPT and the end of DATA; `None` accepts as usual.
    pub fn answer_with(
        &self,
        script: impl Fn(&SmtpStep<'_>) -> Option<SmtpReply> + Send + Sync + 'static,
    ) {
        *self
            .shared
            .script
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(script));
    }

    /// With `false`, messages are counted but not kept (long benchmarks).
    pub fn keep_messages(&self, keep: bool) {
        self.shared.keep_messages.store(keep, Ordering::SeqCst);
    }

    /// The accepted messages kept so far, in the order they were accepted.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared
            .messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many messages were accepted, kept or not.
    pub fn message_count(&self) -> usize {
        *self.shared.accepted.borrow()
    }

    /// How many connections clients opened.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many transactions (MAIL commands) were started, accepted or not.
    pub fn transaction_count(&self) -> usize {
        self.shared.transactions.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` messages were accepted, at most `deadline`.
    pub async fn wait_for_messages(
        &self,
        count: usize,
        deadline: Duration,
    ) -> Result<Vec<ReceivedMail>, WaitTimedOut> {
        wait_for_count(&self.shared.accepted, "messages", count, deadline).await?;
        Ok(self.messages())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Splits the header section (up to the first empty line) into unfolded `(name, value)`s.
pub(crate) fn parse_headers(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::parse_headers;

    #[test]
    fn headers_are_unfolded_and_stop_at_the_body() {
        let data = b"Subject: a long\r\n  subject\r\nTo: x@y.z\r\n\r\nBody: not a header\r\n";
        assert_eq!(
            parse_headers(data),
            vec![
                ("Subject".to_string(), "a long subject".to_string()),
                ("To".to_string(), "x@y.z".to_string()),
            ]
        );
    }
}
