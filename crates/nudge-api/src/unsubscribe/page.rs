//! The hosted unsubscribe pages: plain server-rendered HTML with a form, no script, sent with
//! `Cache-Control: no-store` and `Referrer-Policy: no-referrer` (the URL carries the token).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The page asking to confirm: one button for every message, and one for the message's topic
/// when it has one. The form posts back to the page's own URL.
pub fn confirm(recipient: &str, topic: Option<&str>, already: bool) -> Response {
    let who = escape(&mask(recipient));
    let mut body = if already {
        format!("<p><strong>{who}</strong> is already unsubscribed from our messages.</p>")
    } else {
        format!("<p>Stop sending messages to <strong>{who}</strong>?</p>")
    };
    if !already {
        body.push_str("<form method=\"post\">");
        if let Some(topic) = topic {
            body.push_str(&format!(
                "<p><button type=\"submit\" name=\"scope\" value=\"topic\">\
                 Unsubscribe from messages like this one ({})</button></p>",
                escape(topic)
            ));
        }
        body.push_str(
            "<p><button type=\"submit\" name=\"scope\" value=\"all\">\
             Unsubscribe from all messages</button></p></form>",
        );
    }
    page(StatusCode::OK, "Unsubscribe", &body)
}

/// After the unsubscribe.
pub fn done(recipient: &str, topic: Option<&str>) -> Response {
    let who = escape(&mask(recipient));
    let body = match topic {
        Some(topic) => format!(
            "<p><strong>{who}</strong> will no longer get messages like this one ({}).</p>",
            escape(topic)
        ),
        None => format!("<p><strong>{who}</strong> will no longer get our messages.</p>"),
    };
    page(StatusCode::OK, "You are unsubscribed", &body)
}

/// A link that is not genuine, or whose message is gone.
pub fn invalid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "<p>This unsubscribe link is not valid. Use the link from the latest message you \
         received.</p>",
    )
}

/// Something failed on our side; the visitor may try again.
pub fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        "<p>We could not handle your request just now. Please try again in a moment.</p>",
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;\
         padding:0 1rem;line-height:1.5}}button{{font-size:1rem;padding:.5rem 1rem}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>\n"
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// An address shown without giving it away to whoever holds the link: `a•••@example.com`,
/// `•••0100` for a phone number.
pub fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => {
            let chars: Vec<char> = address.chars().collect();
            let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            format!("•••{tail}")
        }
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_and_escaped() {
        assert_eq!(mask("ana@example.com"), "a•••@example.com");
        assert_eq!(mask("+15555550100"), "•••0100");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
