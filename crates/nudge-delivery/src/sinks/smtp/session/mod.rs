//! One SMTP connection of the sink: reads command lines, keeps the session and transaction
//! state (RFC 5321), and writes the replies. A transaction ends with the final reply to DATA,
//! whatever that reply is. STARTTLS (RFC 3207) replaces the connection with a TLS one and
//! forgets the session state, so the client must EHLO (and AUTH) again.

use std::sync::Arc;
use std::time::Instant;

use rustls::ServerConfig;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

mod auth;

use super::tls::SmtpSinkTls;
use super::{parse_headers, ReceivedMail, Shared, SmtpReply, SmtpStage, SmtpStep};

/// Command lines longer than this end the connection (RFC 5321 allows 512).
const MAX_COMMAND_LINE: u64 = 4096;
/// Text lines inside DATA longer than this end the connection (RFC 5321 allows 1000).
const MAX_DATA_LINE: u64 = 64 * 1024;

/// A connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Connection = BufReader<Box<dyn Io>>;

#[derive(Default)]
struct Transaction {
    number: usize,
    mail_from: String,
    rcpt_to: Vec<String>,
}

struct Session {
    shared: Arc<Shared>,
    io: Connection,
    tls: bool,
    helo: Option<String>,
    authenticated_as: Option<String>,
    transaction: Option<Transaction>,
}

/// What to do after a reply.
enum Next {
    Continue,
    /// `220` was sent to STARTTLS: the TLS handshake follows on the same socket.
    StartTls(Arc<ServerConfig>),
    Close,
}

pub(super) async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (io, tls): (Box<dyn Io>, bool) = match &shared.options.tls {
        SmtpSinkTls::Implicit(config) => {
            match TlsAcceptor::from(Arc::clone(config)).accept(stream).await {
                Ok(tls) => (Box::new(tls), true),
                Err(error) => {
                    tracing::debug!(%error, "smtp sink TLS handshake failed");
                    return;
                }
            }
        }
        _ => (Box::new(stream), false),
    };
    let mut session = Session::new(shared, io, tls);
    let greeting = format!("220 {} ESMTP recording sink", session.shared.options.name);
    if session.write(&greeting).await.is_err() {
        return;
    }
    loop {
        let Some(line) = read_line(&mut session.io, MAX_COMMAND_LINE).await else {
            return;
        };
        let Some(line) = line else {
            let _ = session.write("500 5.5.2 Line too long").await;
            return;
        };
        let line = String::from_utf8_lossy(&line).into_owned();
        match session.command(&line).await {
            Ok(Next::Continue) => {}
            Ok(Next::StartTls(config)) => match session.start_tls(config).await {
                Some(upgraded) => session = upgraded,
                None => return,
            },
            Ok(Next::Close) | Err(_) => return,
        }
    }
}

/// One line without its line ending: `None` at end of stream, `Some(None)` when too long.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: u64,
) -> Option<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    match (&mut *reader).take(limit).read_until(b'\n', &mut raw).await {
        Ok(0) | Err(_) => None,
        Ok(_) if raw.last() != Some(&b'\n') => Some(None),
        Ok(_) => {
            raw.pop();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
            Some(Some(raw))
        }
    }
}

impl Session {
    fn new(shared: Arc<Shared>, io: Box<dyn Io>, tls: bool) -> Self {
        Self {
            shared,
            io: BufReader::new(io),
            tls,
            helo: None,
            authenticated_as: None,
            transaction: None,
        }
    }

    /// The TLS handshake on this session's socket; a fresh session over it (RFC 3207 §4.2),
    /// `None` when the handshake fails.
    async fn start_tls(self, config: Arc<ServerConfig>) -> Option<Self> {
        let Self { shared, io, .. } = self;
        match TlsAcceptor::from(config).accept(io.into_inner()).await {
            Ok(tls) => Some(Self::new(shared, Box::new(tls), true)),
            Err(error) => {
                tracing::debug!(%error, "smtp sink STARTTLS handshake failed");
                None
            }
        }
    }

    async fn write(&mut self, reply: &str) -> std::io::Result<()> {
        let io = self.io.get_mut();
        io.write_all(format!("{reply}\r\n").as_bytes()).await?;
        // A TLS stream holds records back until flushed.
        io.flush().await
    }

    async fn reply(&mut self, reply: &SmtpReply) -> std::io::Result<Next> {
        self.write(&format!("{} {}", reply.code, reply.text))
            .await?;
        Ok(if reply.code == 421 {
            Next::Close
        } else {
            Next::Continue
        })
    }

    async fn command(&mut self, line: &str) -> std::io::Result<Next> {
        let (verb, argument) = match line.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim()),
            None => (line.trim().to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "EHLO" | "HELO" if argument.is_empty() => {
                self.write("501 5.5.4 Syntax: EHLO hostname").await?
            }
            "EHLO" => {
                self.helo = Some(argument.to_string());
                self.transaction = None;
                let ehlo = self.ehlo_reply(argument);
                self.write(&ehlo).await?
            }
            "HELO" => {
                self.helo = Some(argument.to_string());
                self.transaction = None;
                let name = self.shared.options.name.clone();
                self.write(&format!("250 {name}")).await?
            }
            "MAIL" => return self.mail(argument).await,
            "RCPT" => return self.rcpt(argument).await,
            "DATA" => return self.data().await,
            "RSET" => {
                self.transaction = None;
                self.write("250 2.0.0 Ok").await?
            }
            "NOOP" => self.write("250 2.0.0 Ok").await?,
            "VRFY" => self.write("252 2.5.2 Cannot VRFY user").await?,
            "QUIT" => {
                self.write("221 2.0.0 Bye").await?;
                return Ok(Next::Close);
            }
            "AUTH" => return self.auth(argument).await,
            "STARTTLS" => return self.starttls(argument).await,
            _ => self.write("500 5.5.2 Command not recognized").await?,
        }
        Ok(Next::Continue)
    }

    async fn starttls(&mut self, argument: &str) -> std::io::Result<Next> {
        let config = match &self.shared.options.tls {
            SmtpSinkTls::StartTls(config) if !self.tls => Arc::clone(config),
            _ => {
                self.write("454 4.7.0 TLS not available").await?;
                return Ok(Next::Continue);
            }
        };
        if !argument.is_empty() {
            self.write("501 5.5.4 Syntax: STARTTLS").await?;
            return Ok(Next::Continue);
        }
        if !self.io.buffer().is_empty() {
            // Commands pipelined after STARTTLS would cross into the TLS session unprotected.
            self.write("503 5.5.1 Error: commands pipelined after STARTTLS")
                .await?;
            return Ok(Next::Close);
        }
        self.write("220 2.0.0 Ready to start TLS").await?;
        Ok(Next::StartTls(config))
    }

    fn ehlo_reply(&self, client: &str) -> String {
        let options = &self.shared.options;
        let mut lines = vec![
            format!("{} greets {client}", options.name),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            format!("SIZE {}", options.max_message_bytes),
        ];
        if options.tls.offers_starttls() && !self.tls {
            lines.push("STARTTLS".to_string());
        }
        if options.credentials.is_some() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| format!("250{}{line}", if i == last { ' ' } else { '-' }))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    async fn mail(&mut self, argument: &str) -> std::io::Result<Next> {
        if self.helo.is_none() {
            self.write("503 5.5.1 Error: send EHLO first").await?;
            return Ok(Next::Continue);
        }
        if self.shared.options.credentials.is_some() && self.authenticated_as.is_none() {
            self.write("530 5.7.0 Authentication required").await?;
            return Ok(Next::Continue);
        }
        if self.transaction.is_some() {
            self.write("503 5.5.1 Error: nested MAIL command").await?;
            return Ok(Next::Continue);
        }
        let Some(from) = path_argument(argument, "FROM:") else {
            self.write("501 5.5.4 Syntax: MAIL FROM:<address>").await?;
            return Ok(Next::Continue);
        };
        let number = self.shared.next_transaction();
        let step = SmtpStep {
            transaction: number,
            stage: SmtpStage::Mail,
            mail_from: &from,
            rcpt_to: &[],
            data: &[],
        };
        if let Some(reply) = self.shared.scripted(&step) {
            return self.reply(&reply).await;
        }
        self.transaction = Some(Transaction {
            number,
            mail_from: from,
            rcpt_to: Vec::new(),
        });
        self.write("250 2.1.0 Ok").await?;
        Ok(Next::Continue)
    }

    async fn rcpt(&mut self, argument: &str) -> std::io::Result<Next> {
        let Some(transaction) = self.transaction.as_mut() else {
            self.write("503 5.5.1 Error: need MAIL command").await?;
            return Ok(Next::Continue);
        };
        let Some(to) = path_argument(argument, "TO:").filter(|to| !to.is_empty()) else {
            self.write("501 5.5.4 Syntax: RCPT TO:<address>").await?;
            return Ok(Next::Continue);
        };
        transaction.rcpt_to.push(to);
        let step = SmtpStep {
            transaction: transaction.number,
            stage: SmtpStage::Rcpt,
            mail_from: &transaction.mail_from,
            rcpt_to: &transaction.rcpt_to,
            data: &[],
        };
        if let Some(reply) = self.shared.scripted(&step) {
            transaction.rcpt_to.pop();
            return self.reply(&reply).await;
        }
        self.write("250 2.1.5 Ok").await?;
        Ok(Next::Continue)
    }

    async fn data(&mut self) -> std::io::Result<Next> {
        let ready = self
            .transaction
            .as_ref()
            .is_some_and(|t| !t.rcpt_to.is_empty());
        if !ready {
            self.write("503 5.5.1 Error: need RCPT command").await?;
            return Ok(Next::Continue);
        }
        self.write("354 End data with <CR><LF>.<CR><LF>").await?;
        let limit = self.shared.options.max_message_bytes;
        let mut data = Vec::new();
        let mut too_large = false;
        loop {
            let Some(line) = read_line(&mut self.io, MAX_DATA_LINE).await else {
                return Ok(Next::Close);
            };
            let Some(line) = line else {
                self.write("500 5.5.2 Line too long").await?;
                return Ok(Next::Close);
            };
            if line == b"." {
                break;
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            if data.len() + line.len() + 2 > limit {
                too_large = true;
                continue;
            }
            data.extend_from_slice(line);
            data.extend_from_slice(b"\r\n");
        }
        // The final reply ends the transaction, accepted or not (RFC 5321 §4.1.1.4).
        let Some(transaction) = self.transaction.take() else {
            return Ok(Next::Continue);
        };
        if too_large {
            self.write("552 5.3.4 Message too big").await?;
            return Ok(Next::Continue);
        }
        let step = SmtpStep {
            transaction: transaction.number,
            stage: SmtpStage::Data,
            mail_from: &transaction.mail_from,
            rcpt_to: &transaction.rcpt_to,
            data: &data,
        };
        if let Some(reply) = self.shared.scripted(&step) {
            return self.reply(&reply).await;
        }
        let number = transaction.number;
        self.shared.record(ReceivedMail {
            transaction: number,
            helo: self.helo.clone().unwrap_or_default(),
            authenticated_as: self.authenticated_as.clone(),
            tls: self.tls,
            mail_from: transaction.mail_from,
            rcpt_to: transaction.rcpt_to,
            headers: parse_headers(&data),
            data,
            received_at: Instant::now(),
        });
        self.write(&format!("250 2.0.0 Ok: queued as {number}"))
            .await?;
        Ok(Next::Continue)
    }
}

/// The address of `FROM:<a@b> PARAMS` or `TO:<a@b>`; `<>` gives an empty address.
fn path_argument(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::path_argument;

    #[test]
    fn paths_are_read_with_their_parameters_ignored() {
        assert_eq!(
            path_argument("FROM:<a@b.c> BODY=8BITMIME", "FROM:"),
            Some("a@b.c".to_string())
        );
        assert_eq!(path_argument("from: <>", "FROM:"), Some(String::new()));
        assert_eq!(path_argument("TO:a@b.c", "TO:"), None);
        assert_eq!(path_argument("FROM:<a@b.c>", "TO:"), None);
    }
}
