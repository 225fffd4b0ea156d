//! SMTP connections kept open between messages. At most `max` sessions run at once; a
//! connection goes back to the pool only after a message went through on it, so one that
//! failed, timed out or was abandoned mid-transaction (its future dropped) is closed, never
//! reused out of step. Connecting and each message are bounded by the timeout, which lettre's
//! async client does not do by itself past the TCP connect. Plain and STARTTLS connections
//! use a socket with `TCP_NODELAY`; implicit TLS (`smtps://`) uses lettre's own socket.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::DEFAULT_MECHANISMS;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::target::{Security, SmtpTarget};

/// Idle connections older than this are closed rather than reused.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Connections idle longer than this are checked with NOOP before reuse.
const CHECK_AFTER: Duration = Duration::from_secs(2);

pub(crate) enum SendError {
    Smtp(lettre::transport::smtp::Error),
    Connect(std::io::Error),
    TimedOut,
}

impl From<lettre::transport::smtp::Error> for SendError {
    fn from(error: lettre::transport::smtp::Error) -> Self {
        Self::Smtp(error)
    }
}

struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

pub(crate) struct SmtpPool {
    target: SmtpTarget,
    timeout: Duration,
    max: usize,
    sessions: Semaphore,
    idle: Mutex<Vec<Idle>>,
}

impl SmtpPool {
    pub fn new(target: SmtpTarget, max: usize, timeout: Duration) -> Self {
        Self {
            target,
            timeout,
            max,
            sessions: Semaphore::new(max),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends one message on a pooled or new connection.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<(), SendError> {
        // The semaphore is never closed, so acquiring only waits.
        let _session = self.sessions.acquire().await;
        let mut connection = match self.reuse().await {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        match tokio::time::timeout(self.timeout, connection.send(envelope, email)).await {
            Ok(Ok(_)) => {
                self.park(connection);
                Ok(())
            }
            // lettre has already ended the session on any failure.
            Ok(Err(error)) => Err(SendError::Smtp(error)),
            Err(_) => Err(SendError::TimedOut),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn reuse(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let Idle {
                mut connection,
                since,
            } = self.idle().pop()?;
            let idle_for = since.elapsed();
            if idle_for > IDLE_LIMIT || connection.has_broken() {
                continue;
            }
            if idle_for < CHECK_AFTER {
                return Some(connection);
            }
            let alive = tokio::time::timeout(self.timeout, connection.test_connected()).await;
            if alive == Ok(true) {
                return Some(connection);
            }
        }
    }

    fn park(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.idle();
        if idle.len() < self.max {
            idle.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let target = &self.target;
        let connecting = async {
            let mut connection = match &target.security {
                Security::Wrapper(parameters) => {
                    AsyncSmtpConnection::connect_tokio1(
                        (target.host.as_str(), target.port),
                        Some(self.timeout),
                        &target.hello,
                        Some(parameters.clone()),
                        None,
                    )
                    .await?
                }
                _ => {
                    // Our own socket, so that Nagle's algorithm does not hold back the end
                    // of DATA, which lettre writes separately from the message.
                    let stream = TcpStream::connect((target.host.as_str(), target.port))
                        .await
                        .map_err(SendError::Connect)?;
                    stream.set_nodelay(true).map_err(SendError::Connect)?;
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &target.hello)
                        .await?
                }
            };
            match &target.security {
                Security::StartTls(parameters) => {
                    connection
                        .starttls(parameters.clone(), &target.hello)
                        .await?
                }
                Security::Opportunistic(parameters) if connection.can_starttls() => {
                    connection
                        .starttls(parameters.clone(), &target.hello)
                        .await?
                }
                _ => {}
            }
            if let Some(credentials) = &target.credentials {
                connection.auth(DEFAULT_MECHANISMS, credentials).await?;
            }
            Ok(connection)
        };
        match tokio::time::timeout(self.timeout, connecting).await {
            Ok(connected) => connected,
            Err(_) => Err(SendError::TimedOut),
        }
    }
}
