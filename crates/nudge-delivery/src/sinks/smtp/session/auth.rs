//! AUTH PLAIN and AUTH LOGIN (RFC 4954) for the sink, when it is given credentials.

use base64::Engine;

use super::{read_line, Next, Session, MAX_COMMAND_LINE};

impl Session {
    pub(super) async fn auth(&mut self, argument: &str) -> std::io::Result<Next> {
        let Some((user, password)) = self.shared.options.credentials.clone() else {
            self.write("503 5.5.1 Error: authentication not enabled")
                .await?;
            return Ok(Next::Continue);
        };
        if self.authenticated_as.is_some() {
            self.write("503 5.5.1 Error: already authenticated").await?;
            return Ok(Next::Continue);
        }
        let (mechanism, initial) = match argument.split_once(' ') {
            Some((mechanism, initial)) => (mechanism.to_ascii_uppercase(), Some(initial.trim())),
            None => (argument.to_ascii_uppercase(), None),
        };
        let given = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(initial) => Some(initial.to_string()),
                    None => self.challenge("").await?,
                };
                response.and_then(|r| decode(&r)).and_then(|plain| {
                    let mut parts = plain.split('\0').skip(1);
                    Some((parts.next()?.to_string(), parts.next()?.to_string()))
                })
            }
            "LOGIN" => {
                let name = match initial {
                    Some(initial) => Some(initial.to_string()),
                    None => self.challenge("VXNlcm5hbWU6").await?,
                };
                match name.and_then(|n| decode(&n)) {
                    Some(name) => self
                        .challenge("UGFzc3dvcmQ6")
                        .await?
                        .and_then(|p| decode(&p))
                        .map(|p| (name, p)),
                    None => None,
                }
            }
            _ => {
                self.write("504 5.5.4 Unrecognized authentication type")
                    .await?;
                return Ok(Next::Continue);
            }
        };
        match given {
            Some((given_user, given_password))
                if given_user == user && given_password == password =>
            {
                self.authenticated_as = Some(given_user);
                self.write("235 2.7.0 Authentication successful").await?;
            }
            Some(_) => {
                self.write("535 5.7.8 Authentication credentials invalid")
                    .await?
            }
            None => self.write("501 5.5.2 Cannot decode response").await?,
        }
        Ok(Next::Continue)
    }

    /// Sends a `334` challenge and reads the answer; `None` when the client cancels.
    async fn challenge(&mut self, challenge: &str) -> std::io::Result<Option<String>> {
        self.write(&format!("334 {challenge}")).await?;
        match read_line(&mut self.io, MAX_COMMAND_LINE).await {
            Some(Some(answer)) if answer != b"*" => {
                Ok(Some(String::from_utf8_lossy(&answer).into_owned()))
            }
            Some(_) => Ok(None),
            None => Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

fn decode(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}
