//! The Segment-spec Pipelines API: `POST /v1/identify|track|page|screen|group|alias|batch`,
//! authenticated by the workspace's write key. Bodies are read through gzip decompression
//! under a hard cap on the decompressed size; each message becomes one operation (`message`,
//! `convert`, `semantic`) committed through the writer. Permissive mode (the default) answers
//! 200 `{}` and durably records every refused message; strict mode (`X-Strict-Mode: 1`)
//! answers 400 naming the field of the first refusal and writes nothing of the request.

mod convert;
pub mod message;
mod semantic;
mod wire;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use nudge_core::{JsonMap, Timestamp, WorkspaceId};
use nudge_ingest::Outcome;
use nudge_store::Rejection;
use serde_json::{json, Value};
use tower_http::decompression::RequestDecompressionLayer;

use crate::auth::PipelinesAuth;
use crate::{ApiError, AppState};
use message::{Refused, Shared, Verdict, MESSAGE_LIMIT};
use wire::MessageType;

/// Largest `/v1/batch` body.
pub const BATCH_LIMIT: usize = 500 * 1024;
/// Bodies are read (after decompression) up to this size and no further: anything larger,
/// a gzip bomb included, is refused with 413 before it is held in memory. Between a limit and
/// this cap, a body is an oversize message, refused the way the request's mode says.
pub const READ_LIMIT: usize = 1024 * 1024;

const SOURCE: &str = "pipelines";
const STRICT_MODE: &str = "x-strict-mode";

pub fn router() -> Router<AppState> {
    let mut router = Router::new().route("/v1/batch", post(batch));
    for kind in MessageType::ALL {
        let handler =
            move |state: State<AppState>, auth: PipelinesAuth, headers: HeaderMap, body: Body| {
                single(state, auth, headers, body, kind)
            };
        router = router.route(&format!("/v1/{}", kind.as_str()), post(handler));
    }
    router
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(supported_encoding))
}

/// gzip (or no encoding) only; anything else is a 415 that says so before the body is read.
async fn supported_encoding(request: Request, next: Next) -> Response {
    let encoding = request.headers().get(header::CONTENT_ENCODING).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .trim()
            .to_ascii_lowercase()
    });
    match encoding.as_deref() {
        None | Some("" | "gzip" | "x-gzip" | "identity") => next.run(request).await,
        Some(other) => ApiError {
            field: Some("Content-Encoding".into()),
            ..ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding '{other}' is not supported: send gzip or no encoding"),
            )
        }
        .into_response(),
    }
}

type Reply = Result<Json<Value>, ApiError>;

/// `X-Strict-Mode: 1` turns strict mode on; any other value (or none) is permissive.
fn strict(headers: &HeaderMap) -> bool {
    headers
        .get(STRICT_MODE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "1")
}

async fn single(
    State(state): State<AppState>,
    PipelinesAuth(ws): PipelinesAuth,
    headers: HeaderMap,
    body: Body,
    kind: MessageType,
) -> Reply {
    let received_at = state.clock.now();
    let bytes = read_body(body).await?;
    let verdict = if bytes.len() > MESSAGE_LIMIT {
        Err(Refused::new(
            oversize("message", bytes.len(), "32 KB"),
            message::excerpt(&bytes),
        ))
    } else {
        match parse(&bytes) {
            Ok(value) => message::accept(value, Some(kind), &Shared::default(), received_at),
            Err(error) => Err(Refused::new(error, message::excerpt(&bytes))),
        }
    };
    if strict(&headers) {
        if let Err(refused) = verdict {
            return Err(refused.error);
        }
    }
    commit(&state, ws.id, received_at, vec![verdict]).await
}

async fn batch(
    State(state): State<AppState>,
    PipelinesAuth(ws): PipelinesAuth,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let received_at = state.clock.now();
    let bytes = read_body(body).await?;
    let strict = strict(&headers);
    let verdicts = match split_batch(&bytes, received_at) {
        Ok(verdicts) => verdicts,
        Err(refused) if strict => return Err(refused.error),
        Err(refused) => vec![Err(refused)],
    };
    if strict {
        let first = verdicts.iter().enumerate().find_map(|(i, v)| match v {
            Err(refused) => Some((i, refused.error.clone())),
            Ok(_) => None,
        });
        if let Some((index, error)) = first {
            return Err(in_batch(index, error));
        }
    }
    commit(&state, ws.id, received_at, verdicts).await
}

/// The batch's items, each accepted or refused on its own; `Err` when the batch as a whole
/// is unusable (too large, not JSON, no `batch` array, a malformed shared field).
fn split_batch(bytes: &[u8], received_at: Timestamp) -> Result<Vec<Verdict>, Box<Refused>> {
    if bytes.len() > BATCH_LIMIT {
        let error = oversize("batch", bytes.len(), "500 KB");
        return Err(Refused::new(error, message::excerpt(bytes)));
    }
    let mut body = match parse(bytes) {
        Ok(Value::Object(body)) => body,
        _ => crate::json::decode_object(bytes)
            .map_err(|error| Refused::new(error, message::excerpt(bytes)))?,
    };
    body.shift_remove("writeKey");
    let items = match body.shift_remove("batch") {
        Some(Value::Array(items)) => items,
        other => {
            let error = match &other {
                None => ApiError::bad_request("batch", "the body needs a batch array of messages"),
                Some(v) => ApiError::bad_request(
                    "batch",
                    format!(
                        "batch must be an array of messages, got {}",
                        wire::kind_of(v)
                    ),
                ),
            };
            body.extend(other.map(|v| ("batch".to_string(), v)));
            return Err(Refused::new(error, Value::Object(body)));
        }
    };
    let shared = match shared(&mut body) {
        Ok(shared) => shared,
        Err(error) => {
            body.insert("batch".into(), Value::Array(items));
            return Err(Refused::new(error, Value::Object(body)));
        }
    };
    Ok(items
        .into_iter()
        .map(|item| {
            let size = message::encoded_len(&item);
            if size > MESSAGE_LIMIT {
                let text = serde_json::to_vec(&item).unwrap_or_default();
                let error = oversize("message", size, "32 KB");
                return Err(Refused::new(error, message::excerpt(&text)));
            }
            message::accept(item, None, &shared, received_at)
        })
        .collect())
}

/// The batch's top-level `context`, `integrations` and `sentAt`, which every item borrows.
/// The top-level `writeKey` and `_metadata` are dropped (a key is never stored in clear).
fn shared(body: &mut JsonMap) -> Result<Shared, ApiError> {
    let mut object = |key: &str| -> Result<Option<JsonMap>, ApiError> {
        match body.shift_remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(ApiError::bad_request(
                key,
                format!("{key} must be an object, got {}", wire::kind_of(&other)),
            )),
        }
    };
    Ok(Shared {
        context: object("context")?,
        integrations: object("integrations")?,
        sent_at: body.shift_remove("sentAt").filter(|v| !v.is_null()),
    })
}

/// JSON text as a value: the plain parser first (the hot path), and only for text it refuses
/// the slower one that explains where and why.
fn parse(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).or_else(|_| crate::json::decode::<Value>(bytes))
}

fn oversize(what: &str, bytes: usize, limit: &str) -> ApiError {
    ApiError::bad_request(
        "",
        format!("the {what} is {bytes} bytes; the limit is {limit}"),
    )
}

/// A batch item's error as the strict-mode answer: the field says which item.
fn in_batch(index: usize, mut error: ApiError) -> ApiError {
    error.field = Some(match error.field.take() {
        Some(field) => format!("batch[{index}].{field}"),
        None => format!("batch[{index}]"),
    });
    error
}

/// Commits what was accepted and records what was refused, in one writer transaction, so the
/// 200 that follows means both are durable.
async fn commit(
    state: &AppState,
    ws: WorkspaceId,
    received_at: Timestamp,
    verdicts: Vec<Verdict>,
) -> Reply {
    let mut accepted = Vec::with_capacity(verdicts.len());
    let mut rejections = Vec::new();
    for verdict in verdicts {
        match verdict {
            Ok(message) => accepted.push(message),
            Err(refused) => {
                let Refused { error, raw } = *refused;
                rejections.push(Rejection {
                    received_at,
                    source: SOURCE.into(),
                    reason: error.message,
                    field: error.field,
                    raw,
                });
            }
        }
    }
    if accepted.is_empty() && rejections.is_empty() {
        return Ok(Json(json!({})));
    }
    let outcomes = state
        .ingestor
        .submit_with_rejections(ws, SOURCE, accepted, rejections)
        .await?;
    for outcome in outcomes {
        if let Outcome::Dropped(reason) | Outcome::Refused(reason) = outcome {
            tracing::info!(%reason, "pipelines message accepted without effect");
        }
    }
    Ok(Json(json!({})))
}

/// The whole body, decompressed, or a 4xx: 413 past [`READ_LIMIT`], 400 when it cannot be
/// read (a broken gzip stream).
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    match Limited::new(body, READ_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is over {} KB once decompressed; a batch may be 500 KB",
                READ_LIMIT / 1024
            ),
        )),
        Err(error) => Err(ApiError::bad_request(
            "",
            format!("the request body could not be read: {error}"),
        )),
    }
}
