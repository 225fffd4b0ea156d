//! Open and click tracking: the public endpoints a tracked email's pixel and links lead to.
//! No credentials: the signed token ([`token`]) is the authority. `GET /t/o/{token}` answers
//! a 1×1 transparent GIF that no cache keeps and records `opened`; `GET /t/c/{token}`
//! records `clicked` and redirects (302) to the link's original URL. Both record through the
//! store call Track `POST /api/v1/metrics` uses, so the ledger only moves forward (sent →
//! delivered → opened → clicked) and a repeated open changes nothing. A token this server
//! did not sign answers 404 (pixel) or 400 (link) with a page that says nothing more, and
//! records nothing; a link never redirects anywhere its token does not name.

pub mod token;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use nudge_core::WorkspaceId;
use nudge_store::{DeliveryMetric, MetricReport};

use crate::AppState;

pub use token::{Click, TrackingTokens};

/// A transparent 1×1 GIF.
const PIXEL: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t/o/{token}", get(open))
        .route("/t/c/{token}", get(click))
}

impl crate::unsubscribe::UnsubscribeLinks {
    /// The tracking tokens of the server these links belong to: under the same public URL,
    /// with a key derived from theirs.
    pub fn tracking_tokens(&self) -> TrackingTokens {
        TrackingTokens::new(self.key(), self.base())
    }
}

fn tokens(state: &AppState) -> TrackingTokens {
    state.unsubscribe.tracking_tokens()
}

/// `GET /t/o/{token}`: the pixel, and `opened` on its delivery.
async fn open(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((ws, delivery_id)) = tokens(&state).verify_open(&token) else {
        return refusal(StatusCode::NOT_FOUND);
    };
    record(&state, ws, delivery_id, DeliveryMetric::Opened, None).await;
    let mut response = (StatusCode::OK, PIXEL).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    no_cache(headers);
    response
}

/// `GET /t/c/{token}`: `clicked` on its delivery, then on to the original URL.
async fn click(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(click) = tokens(&state).verify_click(&token) else {
        return refusal(StatusCode::BAD_REQUEST);
    };
    let Ok(location) = HeaderValue::from_str(&location(&click.url)) else {
        return refusal(StatusCode::BAD_REQUEST);
    };
    let Click {
        ws,
        delivery_id,
        url,
    } = click;
    record(&state, ws, delivery_id, DeliveryMetric::Clicked, Some(url)).await;
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    no_cache(headers);
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Records `metric` on the delivery. A failure is logged, never shown: the recipient still
/// gets the image or reaches the link.
async fn record(
    state: &AppState,
    ws: WorkspaceId,
    delivery_id: String,
    metric: DeliveryMetric,
    url: Option<String>,
) {
    let report = MetricReport {
        delivery_id: delivery_id.clone(),
        metric,
        at: state.clock.now(),
        reason: None,
    };
    let recorded = state
        .read(move |store| store.record_delivery_metric(ws, &report))
        .await;
    match recorded {
        Ok(Some(_)) => {
            tracing::debug!(delivery = %delivery_id, metric = metric.as_str(), url, "tracked")
        }
        Ok(None) => {
            tracing::info!(delivery = %delivery_id, metric = metric.as_str(),
                "a tracking link names a delivery the ledger does not have")
        }
        Err(error) => {
            tracing::warn!(delivery = %delivery_id, metric = metric.as_str(), ?error,
                "could not record a tracking hit")
        }
    }
}

/// `url` as a `Location` header carries it: bytes outside visible ASCII (spaces, non-ASCII
/// letters) percent-encoded, as a browser encodes them when it follows a link.
fn location(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for byte in url.bytes() {
        if (0x21..=0x7e).contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn no_cache(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, private, max-age=0"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
}

/// A link this server did not make: a page that says so and nothing else.
fn refusal(status: StatusCode) -> Response {
    let mut response = (
        status,
        Html(
            "<!doctype html><meta charset=\"utf-8\"><title>Invalid link</title>\
              <p>This link is not valid.</p>",
        ),
    )
        .into_response();
    no_cache(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn locations_are_percent_encoded_outside_visible_ascii() {
        assert_eq!(
            super::location("https://a.example/ä b?q=1&r=\"x\""),
            "https://a.example/%C3%A4%20b?q=1&r=\"x\""
        );
    }
}
