//! Where and how to reach the SMTP server, read from a connection URL with lettre's
//! conventions: `smtp://host[:25]` plain, `smtp://host[:587]?tls=required` (STARTTLS or
//! fail), `smtp://host[:587]?tls=opportunistic` (STARTTLS when offered), `smtps://host[:465]`
//! (TLS from the start), `user:password@` (percent-encoded) for AUTH, and a path naming the
//! EHLO host name. TLS trusts the usual public roots plus any private CA certificates given;
//! there is no way to turn certificate checks off.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSIONS_PORT, SUBMISSION_PORT};

/// How the connection is protected.
#[derive(Clone)]
pub(crate) enum Security {
    Plain,
    /// TLS from the first byte (`smtps://`).
    Wrapper(TlsParameters),
    /// STARTTLS, refusing to go on without it.
    StartTls(TlsParameters),
    /// STARTTLS when the server offers it.
    Opportunistic(TlsParameters),
}

#[derive(Clone)]
pub(crate) struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<Credentials>,
    pub hello: ClientId,
}

impl SmtpTarget {
    /// Reads `text`; TLS also trusts the certificates of `private_ca_pem` (PEM, one or more).
    pub fn parse(text: &str, private_ca_pem: Option<&str>) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|error| error.to_string())?;
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("it names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let roots = private_ca_pem.map(private_ca).transpose()?;
        let parameters = || {
            let mut builder = TlsParameters::builder(host.clone());
            if let Some(roots) = &roots {
                builder = builder.add_root_certificate(roots.clone());
            }
            builder
                .build()
                .map_err(|error| format!("TLS cannot be set up: {error}"))
        };
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::Plain, SMTP_PORT),
            ("smtp", Some("required")) => (Security::StartTls(parameters()?), SUBMISSION_PORT),
            ("smtp", Some("opportunistic")) => {
                (Security::Opportunistic(parameters()?), SUBMISSION_PORT)
            }
            ("smtps", None) => (Security::Wrapper(parameters()?), SUBMISSIONS_PORT),
            (scheme, tls) => {
                return Err(format!(
                    "scheme '{scheme}' with tls={} is not one of smtp://, smtp://…?tls=required, \
                     smtp://…?tls=opportunistic, smtps://",
                    tls.unwrap_or("(none)")
                ))
            }
        };
        let credentials = match url.password() {
            None => None,
            Some(password) => Some(Credentials::new(decode(url.username())?, decode(password)?)),
        };
        let path = url.path().trim_matches('/');
        let hello = if path.is_empty() {
            ClientId::default()
        } else {
            ClientId::Domain(path.to_string())
        };
        Ok(Self {
            port: url.port().unwrap_or(default_port),
            host,
            security,
            credentials,
            hello,
        })
    }
}

/// The certificates of a PEM bundle; the reason when it holds none or one does not parse.
pub(crate) fn private_ca(pem: &str) -> Result<Certificate, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let count = CertificateDer::pem_slice_iter(pem.as_bytes())
        .try_fold(0usize, |count, certificate| certificate.map(|_| count + 1))
        .map_err(|error| format!("not valid PEM: {error}"))?;
    if count == 0 {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into());
    }
    Certificate::from_pem(pem.as_bytes()).map_err(|error| format!("cannot be read: {error}"))
}

fn decode(text: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| "its user or password is not UTF-8 once decoded".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> SmtpTarget {
        SmtpTarget::parse(url, None).unwrap_or_else(|error| panic!("{url}: {error}"))
    }

    #[test]
    fn lettre_conventions_pick_ports_and_security() {
        let plain = parsed("smtp://127.0.0.1");
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 25));
        assert!(matches!(plain.security, Security::Plain));
        assert!(plain.credentials.is_none());
        let starttls = parsed("smtp://relay.example?tls=required");
        assert_eq!(starttls.port, 587);
        assert!(matches!(starttls.security, Security::StartTls(_)));
        assert!(matches!(
            parsed("smtp://relay.example:2525?tls=opportunistic").security,
            Security::Opportunistic(_)
        ));
        let tls = parsed("smtps://relay.example");
        assert_eq!(tls.port, 465);
        assert!(matches!(tls.security, Security::Wrapper(_)));
        assert!(matches!(parsed("smtp://[::1]:2525").host.as_str(), "::1"));
    }

    #[test]
    fn credentials_are_percent_decoded_and_the_path_names_the_client() {
        let target = parsed("smtp://mail%40shop:p%40ss+word@127.0.0.1:2525/mta.shop.example");
        assert_eq!(
            target.credentials,
            Some(Credentials::new("mail@shop".into(), "p@ss+word".into()))
        );
        assert_eq!(target.hello, ClientId::Domain("mta.shop.example".into()));
    }

    #[test]
    fn other_urls_are_refused() {
        for url in [
            "http://relay.example",
            "smtp://relay.example?tls=maybe",
            "smtp://",
            "relay",
        ] {
            assert!(SmtpTarget::parse(url, None).is_err(), "{url}");
        }
    }

    #[test]
    fn a_private_ca_must_hold_a_certificate() {
        let error = SmtpTarget::parse("smtps://relay.example", Some("not a certificate"))
            .err()
            .unwrap();
        assert!(error.contains("no PEM certificate"), "{error}");
        let bad = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        let error = SmtpTarget::parse("smtps://relay.example", Some(bad))
            .err()
            .unwrap();
        assert!(error.contains("not valid PEM"), "{error}");
    }
}
