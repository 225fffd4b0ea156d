//! Signed tracking tokens: `{public URL}/t/o/{token}` (the open pixel) and
//! `{public URL}/t/c/{token}` (a link's redirect). A token names the workspace, the delivery
//! and, for a click, the original URL, and carries an HMAC-SHA256 over them with a key
//! derived from the server's link key (the one unsubscribe links use) for tracking only, and
//! a domain prefix per kind (`open:`, `click:`), so no token of one kind, or of the
//! unsubscribe page, passes for another. Fields are length-prefixed under the MAC, so no
//! split of one signed text into other fields verifies. Tokens do not expire: the links of
//! an old email keep working.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use nudge_core::WorkspaceId;
use sha2::Sha256;

/// What the tracking key is derived under, from the server's link key.
const KEY_LABEL: &[u8] = b"nudge tracking links v1";

/// Makes and checks tracking tokens and URLs.
#[derive(Clone)]
pub struct TrackingTokens {
    key: [u8; 32],
    /// The public base URL, without a trailing slash.
    base: String,
}

impl std::fmt::Debug for TrackingTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackingTokens")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A genuine click token's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub ws: WorkspaceId,
    pub delivery_id: String,
    /// The link's original URL: always `http:` or `https:`.
    pub url: String,
}

impl TrackingTokens {
    /// Tokens under `public_url`, keyed from the server's link key `server_key`.
    pub fn new(server_key: &[u8], public_url: &str) -> Self {
        let mut derive =
            Hmac::<Sha256>::new_from_slice(server_key).expect("HMAC takes any key length");
        derive.update(KEY_LABEL);
        Self {
            key: derive.finalize().into_bytes().into(),
            base: public_url.trim_end_matches('/').to_string(),
        }
    }

    fn mac(&self, kind: &str, ws: WorkspaceId, delivery_id: &str, url: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        let ws = ws.to_string();
        mac.update(kind.as_bytes());
        for field in [ws.as_str(), delivery_id, url] {
            mac.update(format!(":{}:", field.len()).as_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }

    /// `{workspace}.{base64url delivery id}.{base64url HMAC}`.
    pub fn open_token(&self, ws: WorkspaceId, delivery_id: &str) -> String {
        let signature = self
            .mac("open", ws, delivery_id, "")
            .finalize()
            .into_bytes();
        format!(
            "{ws}.{}.{}",
            URL_SAFE_NO_PAD.encode(delivery_id),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// `{workspace}.{base64url delivery id}.{base64url URL}.{base64url HMAC}`.
    pub fn click_token(&self, ws: WorkspaceId, delivery_id: &str, url: &str) -> String {
        let signature = self
            .mac("click", ws, delivery_id, url)
            .finalize()
            .into_bytes();
        format!(
            "{ws}.{}.{}.{}",
            URL_SAFE_NO_PAD.encode(delivery_id),
            URL_SAFE_NO_PAD.encode(url),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    pub fn open_url(&self, ws: WorkspaceId, delivery_id: &str) -> String {
        format!("{}/t/o/{}", self.base, self.open_token(ws, delivery_id))
    }

    pub fn click_url(&self, ws: WorkspaceId, delivery_id: &str, url: &str) -> String {
        format!(
            "{}/t/c/{}",
            self.base,
            self.click_token(ws, delivery_id, url)
        )
    }

    /// Whether `url` is one of this server's pages that a tracked email keeps as it is: an
    /// unsubscribe link or a tracking URL.
    pub fn is_own(&self, url: &str) -> bool {
        ["/unsubscribe/", "/t/"].iter().any(|path| {
            url.strip_prefix(self.base.as_str())
                .is_some_and(|rest| rest.starts_with(path))
        })
    }

    /// The workspace and delivery a genuine open token names; `None` for anything else.
    pub fn verify_open(&self, token: &str) -> Option<(WorkspaceId, String)> {
        let [ws, delivery_id, signature] = parts(token)?;
        let ws = WorkspaceId(std::str::from_utf8(&ws).ok()?.parse().ok()?);
        let delivery_id = String::from_utf8(delivery_id).ok()?;
        self.mac("open", ws, &delivery_id, "")
            .verify_slice(&signature)
            .ok()?;
        Some((ws, delivery_id))
    }

    /// What a genuine click token names; `None` for anything else, and for a URL that is not
    /// `http:` or `https:` (never an open redirect, never a `javascript:` one).
    pub fn verify_click(&self, token: &str) -> Option<Click> {
        let [ws, delivery_id, url, signature] = parts(token)?;
        let ws = WorkspaceId(std::str::from_utf8(&ws).ok()?.parse().ok()?);
        let delivery_id = String::from_utf8(delivery_id).ok()?;
        let url = String::from_utf8(url).ok()?;
        self.mac("click", ws, &delivery_id, &url)
            .verify_slice(&signature)
            .ok()?;
        let lower = url.to_ascii_lowercase();
        let web = lower.starts_with("http://") || lower.starts_with("https://");
        web.then_some(Click {
            ws,
            delivery_id,
            url,
        })
    }
}

/// A token's `N` dot-separated parts: the first as written (the workspace), the others
/// base64url-decoded.
fn parts<const N: usize>(token: &str) -> Option<[Vec<u8>; N]> {
    let pieces: Vec<&str> = token.split('.').collect();
    if pieces.len() != N {
        return None;
    }
    let mut decoded = Vec::with_capacity(N);
    decoded.push(pieces[0].as_bytes().to_vec());
    for piece in &pieces[1..] {
        decoded.push(URL_SAFE_NO_PAD.decode(piece).ok()?);
    }
    decoded.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "cio-1:cart:3:17:1700000000000:email:1:";
    const URL: &str = "https://shop.example/cart?a=1&b=2";

    fn tokens() -> TrackingTokens {
        TrackingTokens::new(b"0123456789abcdef", "https://nudge.example/")
    }

    #[test]
    fn genuine_tokens_verify() {
        let t = tokens();
        let open = t.open_token(WorkspaceId(4), ID);
        assert_eq!(t.verify_open(&open), Some((WorkspaceId(4), ID.to_string())));
        let click = t.click_token(WorkspaceId(4), ID, URL);
        let want = Click {
            ws: WorkspaceId(4),
            delivery_id: ID.into(),
            url: URL.into(),
        };
        assert_eq!(t.verify_click(&click), Some(want));
        assert!(t
            .open_url(WorkspaceId(4), ID)
            .starts_with("https://nudge.example/t/o/4."));
        assert!(t
            .click_url(WorkspaceId(4), ID, URL)
            .starts_with("https://nudge.example/t/c/4."));
    }

    #[test]
    fn forged_truncated_and_borrowed_tokens_are_refused() {
        let t = tokens();
        let click = t.click_token(WorkspaceId(4), ID, URL);
        let pieces: Vec<&str> = click.split('.').collect();
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let forged_url = [
            pieces[0],
            pieces[1],
            &b64("https://evil.example/"),
            pieces[3],
        ]
        .join(".");
        assert_eq!(t.verify_click(&forged_url), None, "another URL");
        let other_ws = ["5", pieces[1], pieces[2], pieces[3]].join(".");
        assert_eq!(t.verify_click(&other_ws), None, "another workspace");
        let other_delivery = [pieces[0], &b64("cio-2:cart"), pieces[2], pieces[3]].join(".");
        assert_eq!(t.verify_click(&other_delivery), None, "another delivery");
        let truncated = &click[..click.len() - 4];
        assert_eq!(t.verify_click(truncated), None, "truncated signature");
        let stranger = TrackingTokens::new(b"fedcba9876543210", "https://nudge.example");
        assert_eq!(stranger.verify_click(&click), None, "another key");
        let open = t.open_token(WorkspaceId(4), ID);
        assert_eq!(
            t.verify_click(&open),
            None,
            "an open token is no click token"
        );
        assert_eq!(
            t.verify_open(&click),
            None,
            "a click token is no open token"
        );
        let open_pieces: Vec<&str> = open.split('.').collect();
        let open_other = ["4", &b64("cio-2:cart"), open_pieces[2]].join(".");
        assert_eq!(t.verify_open(&open_other), None, "another delivery");
        assert_eq!(t.verify_open(&open[..open.len() - 1]), None, "truncated");
        for junk in ["", "4", "4.x", "x.y.z", "4.x.y.z.w", "4..", "4...", ID] {
            assert_eq!(t.verify_open(junk), None, "{junk}");
            assert_eq!(t.verify_click(junk), None, "{junk}");
        }
    }

    #[test]
    fn field_boundaries_are_signed() {
        // "m:https" then "//a.example" joins to the same text as "m" then "https://a.example":
        // the lengths under the MAC tell them apart.
        let t = tokens();
        let click = t.click_token(WorkspaceId(4), "m:https", "//a.example");
        let signature = click.rsplit('.').next().unwrap();
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let moved = ["4", &b64("m"), &b64("https://a.example"), signature].join(".");
        assert_eq!(t.verify_click(&moved), None);
    }

    #[test]
    fn only_web_urls_are_followed() {
        let t = tokens();
        let script = t.click_token(WorkspaceId(4), ID, "javascript:alert(1)");
        assert_eq!(t.verify_click(&script), None);
        let upper = t.click_token(WorkspaceId(4), ID, "HTTPS://shop.example/");
        assert!(t.verify_click(&upper).is_some());
    }

    #[test]
    fn own_pages_are_recognised() {
        let t = tokens();
        assert!(t.is_own("https://nudge.example/unsubscribe/4.a.b"));
        assert!(t.is_own(&t.click_url(WorkspaceId(4), ID, URL)));
        assert!(!t.is_own("https://nudge.example/shop"));
        assert!(!t.is_own("https://shop.example/unsubscribe/x"));
    }
}
