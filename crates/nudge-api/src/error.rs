//! The one mapping from errors to HTTP answers. Handlers (and axum's own rejections) produce a
//! status and a message; [`render_errors`] then writes the body in the shape the caller's API
//! uses: Track v1 `{"meta":{"errors":[…]}}`, Track v2 `{"errors":[{reason,field,message}]}`,
//! App API `{"errors":[{detail,status,source}]}` (its transactional sends `{"meta":{"error"}}`),
//! Pipelines `{code,message}`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nudge_store::StoreError;
use serde_json::json;

/// Which wire format an error is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    TrackV1,
    TrackV2,
    App,
    /// The App API's transactional sends (`/v1/send/…`): Customer.io's older
    /// `{"meta":{"error"}}` envelope, the one its official clients decode there.
    Transactional,
    Pipelines,
    Plain,
}

impl Flavor {
    pub fn for_path(path: &str) -> Self {
        const PIPELINES: [&str; 7] = [
            "/v1/identify",
            "/v1/track",
            "/v1/page",
            "/v1/screen",
            "/v1/group",
            "/v1/alias",
            "/v1/batch",
        ];
        if path.starts_with("/api/v2/") {
            Flavor::TrackV2
        } else if path.starts_with("/api/") || path.starts_with("/unsubscribe/") {
            Flavor::TrackV1
        } else if path.starts_with("/v1/send/") {
            Flavor::Transactional
        } else if PIPELINES.contains(&path) {
            Flavor::Pipelines
        } else if path.starts_with("/v1/") {
            Flavor::App
        } else {
            Flavor::Plain
        }
    }
}

/// A failed request: what went wrong, and which field of the request caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub field: Option<String>,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            field: None,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()).filter(|f: &String| !f.is_empty()),
            ..Self::new(StatusCode::BAD_REQUEST, message)
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized request")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Logged in full; the client sees only that something failed on our side.
    pub fn internal(detail: impl Into<String>) -> Self {
        tracing::error!(detail = %detail.into(), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    pub fn unavailable() -> Self {
        Self {
            retry_after_secs: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable; retry shortly",
            )
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                ApiError::unavailable()
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<nudge_ingest::IngestError> for ApiError {
    fn from(error: nudge_ingest::IngestError) -> Self {
        match error {
            nudge_ingest::IngestError::Store(store) => store.into(),
            nudge_ingest::IngestError::ShutDown => ApiError::unavailable(),
        }
    }
}

impl From<nudge_core::limits::Violation> for ApiError {
    fn from(v: nudge_core::limits::Violation) -> Self {
        ApiError::bad_request(v.field, v.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Gives every error response (ours or axum's) its API's body shape.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let flavor = Flavor::for_path(request.uri().path());
    let response = next.run(request).await;
    let html = (response.headers().get(header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if response.status().as_u16() < 400 || html {
        // Success, or a hosted page that already speaks to a person.
        return response;
    }
    let (parts, body) = response.into_parts();
    let error = match parts.extensions.get::<ApiError>() {
        Some(error) => error.clone(),
        None => {
            // An axum rejection or a layer's answer: its plain-text body is the message.
            let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            let message = if text.is_empty() {
                parts
                    .status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_string()
            } else {
                text
            };
            ApiError::new(parts.status, message)
        }
    };
    let mut rendered = (error.status, axum::Json(body_for(flavor, &error))).into_response();
    if let Some(secs) = error.retry_after_secs {
        rendered
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if error.status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of an oversize body is never read: tell the client this connection ends
        // here, so a keep-alive pool does not send its next request into a closing socket.
        rendered
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    for name in [header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            rendered.headers_mut().insert(name, value.clone());
        }
    }
    rendered
}

fn body_for(flavor: Flavor, error: &ApiError) -> serde_json::Value {
    let message = match &error.field {
        Some(field) if !error.message.contains(field.as_str()) => {
            format!("{field}: {}", error.message)
        }
        _ => error.message.clone(),
    };
    let reason = reason_code(error.status);
    match flavor {
        Flavor::TrackV1 if error.status == StatusCode::BAD_REQUEST => {
            json!({"meta": {"errors": [message]}})
        }
        Flavor::TrackV1 | Flavor::Transactional => json!({"meta": {"error": message}}),
        Flavor::TrackV2 => json!({"errors": [{
            "reason": reason, "field": error.field, "message": message}]}),
        Flavor::App => {
            let mut item = json!({"detail": message, "status": error.status.as_str()});
            if let Some(field) = &error.field {
                item["source"] = json!({"pointer": pointer(field)});
            }
            json!({"errors": [item]})
        }
        Flavor::Pipelines => json!({"code": reason, "message": message}),
        Flavor::Plain => json!({"error": message}),
    }
}

/// A stable, machine-readable code per status.
pub fn reason_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "error",
    }
}

/// `items[0].sku` as a JSON pointer: `/items/0/sku`.
fn pointer(field: &str) -> String {
    let mut out = String::new();
    for part in field.split(['.', '[', ']']).filter(|p| !p.is_empty()) {
        out.push('/');
        out.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    out
}

pub async fn unknown_route(request: Request<Body>) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
}

pub async fn method_not_allowed(request: Request<Body>) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavors_follow_the_path() {
        assert_eq!(Flavor::for_path("/api/v1/customers/x"), Flavor::TrackV1);
        assert_eq!(Flavor::for_path("/api/v2/batch"), Flavor::TrackV2);
        assert_eq!(Flavor::for_path("/v1/batch"), Flavor::Pipelines);
        assert_eq!(Flavor::for_path("/v1/customers"), Flavor::App);
        assert_eq!(Flavor::for_path("/v1/send/email"), Flavor::Transactional);
        assert_eq!(Flavor::for_path("/unsubscribe/d-1"), Flavor::TrackV1);
        assert_eq!(Flavor::for_path("/healthz"), Flavor::Plain);
    }

    #[test]
    fn bodies_take_each_api_shape_and_name_the_field() {
        let e = ApiError::bad_request("data", "event data must be a hash");
        assert_eq!(
            body_for(Flavor::TrackV1, &e),
            json!({"meta": {"errors": ["event data must be a hash"]}})
        );
        let e = ApiError::bad_request("items[0].sku", "must be a string");
        assert_eq!(
            body_for(Flavor::App, &e),
            json!({"errors": [{"detail": "items[0].sku: must be a string", "status": "400",
                               "source": {"pointer": "/items/0/sku"}}]})
        );
        assert_eq!(body_for(Flavor::Pipelines, &e)["code"], json!("invalid"));
        assert_eq!(
            body_for(Flavor::TrackV1, &ApiError::unauthorized()),
            json!({"meta": {"error": "Unauthorized request"}})
        );
    }
}
