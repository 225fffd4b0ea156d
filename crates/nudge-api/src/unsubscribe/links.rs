//! Signed unsubscribe links: `{public URL}/unsubscribe/{token}`, where the token names a
//! workspace and a delivery and carries an HMAC-SHA256 over both with the server's
//! unsubscribe key. Only a link Nudge made opens the hosted page (delivery ids alone are
//! derived from the person and the journey, so they are guessable; a token is not). Tokens
//! do not expire: an unsubscribe link must keep working as long as the email exists.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use nudge_core::WorkspaceId;
use rand::RngCore;
use sha2::Sha256;

/// Makes and checks unsubscribe tokens and URLs.
pub struct UnsubscribeLinks {
    key: Vec<u8>,
    /// The public base URL, without a trailing slash.
    base: String,
}

impl std::fmt::Debug for UnsubscribeLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsubscribeLinks")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

impl UnsubscribeLinks {
    /// Links under `public_url` (`https://nudge.example.com`), signed with `key`.
    pub fn new(key: &[u8], public_url: &str) -> Self {
        Self {
            key: key.to_vec(),
            base: public_url.trim_end_matches('/').to_string(),
        }
    }

    fn mac(&self, ws: WorkspaceId, delivery_id: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("unsubscribe:{ws}:{delivery_id}").as_bytes());
        mac
    }

    /// The signing key, from which other signed links of this server derive theirs.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// The public base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `{workspace}.{base64url delivery id}.{base64url HMAC}`.
    pub fn token(&self, ws: WorkspaceId, delivery_id: &str) -> String {
        let signature = self.mac(ws, delivery_id).finalize().into_bytes();
        format!(
            "{ws}.{}.{}",
            URL_SAFE_NO_PAD.encode(delivery_id),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// The hosted page's URL for a delivery: what `List-Unsubscribe` carries.
    pub fn url(&self, ws: WorkspaceId, delivery_id: &str) -> String {
        format!("{}/unsubscribe/{}", self.base, self.token(ws, delivery_id))
    }

    /// The workspace and delivery a genuine token names; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<(WorkspaceId, String)> {
        let mut parts = token.splitn(3, '.');
        let ws = WorkspaceId(parts.next()?.parse().ok()?);
        let delivery_id = String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        self.mac(ws, &delivery_id).verify_slice(&signature).ok()?;
        Some((ws, delivery_id))
    }
}

/// The key in `path` (hex), created with 32 random bytes (mode 0600) when the file does not
/// exist yet, so links keep working across restarts of a server that was given no key.
pub fn load_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .filter(|key| key.len() >= MIN_KEY_BYTES)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} does not hold a hex key of 16 bytes or more",
                        path.display()
                    ),
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut key = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            file.write_all(hex::encode(&key).as_bytes())?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_the_delivery_it_was_made_for() {
        let links = UnsubscribeLinks::new(b"0123456789abcdef", "https://nudge.example/");
        let id = "cio-1:cart:3:17:1700000000000:email:1:";
        let token = links.token(WorkspaceId(4), id);
        assert_eq!(links.verify(&token), Some((WorkspaceId(4), id.to_string())));
        assert!(links
            .url(WorkspaceId(4), id)
            .starts_with("https://nudge.example/unsubscribe/4."));
        let (_, rest) = token.split_once('.').unwrap();
        assert_eq!(
            links.verify(&format!("5.{rest}")),
            None,
            "another workspace"
        );
        let (head, _) = token.rsplit_once('.').unwrap();
        let other = links.token(WorkspaceId(4), "cio-2:cart");
        let (_, other_sig) = other.rsplit_once('.').unwrap();
        assert_eq!(
            links.verify(&format!("{head}.{other_sig}")),
            None,
            "another delivery"
        );
        let stranger = UnsubscribeLinks::new(b"fedcba9876543210", "https://nudge.example");
        assert_eq!(stranger.verify(&token), None, "another key");
        for junk in ["", "4", "4.x", "x.y.z", "cio-1:cart:3"] {
            assert_eq!(links.verify(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_key_is_created_once_and_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("unsubscribe.key");
        let first = load_or_create_key(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(load_or_create_key(&path).unwrap(), first);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "not hex").unwrap();
        assert!(load_or_create_key(&path).is_err());
    }
}
