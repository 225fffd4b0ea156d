//! App API channels (docs/delivery.md, "Channels per workspace"): the workspace's channel
//! definitions under `/v1/channels`: list, read, create or replace, delete, and every stored
//! version. The body of a `PUT` is the definition file's document without `kind` and `format`
//! (its `id` may be left out: the path gives it), checked by the channel format before it is
//! stored. Nothing read here ever shows a secret given inline: it comes back `<redacted>`.
//! Which channel a delivery goes out through is the delivery worker's business.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nudge_delivery::workspace_channels::{redacted, ChannelDefinition};
use nudge_store::{Document, DocumentKind, StoreResult};
use serde_json::{json, Value};

use super::definitions as defs;
use super::documents::wire;
use crate::auth::AppAuth;
use crate::json::decode_object;
use crate::{ApiError, AppState};

const KIND: DocumentKind = DocumentKind::Channel;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/channels", get(list))
        .route("/v1/channels/{id}", get(read).put(put).delete(delete))
        .route("/v1/channels/{id}/versions", get(versions))
}

type Reply = Result<Json<Value>, ApiError>;

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no channel '{id}'"))
}

/// A live channel as the wire shows it: its summary and its document, secrets redacted.
fn shown(history: &[Document]) -> Option<Value> {
    let mut rendered = wire::summary(history)?;
    rendered["document"] = redacted(&wire::live(history)?.body);
    Some(rendered)
}

async fn list(State(state): State<AppState>, AppAuth(ws): AppAuth) -> Reply {
    let ws = ws.id;
    let all = state
        .read(move |store| store.all_document_versions(ws, KIND))
        .await?;
    let rendered: Vec<Value> = wire::histories(all)
        .iter()
        .filter_map(|history| shown(history))
        .collect();
    Ok(Json(json!({ "channels": rendered })))
}

async fn history(
    state: &AppState,
    ws: nudge_core::WorkspaceId,
    id: &str,
) -> Result<Vec<Document>, ApiError> {
    let name = id.to_string();
    let history = state
        .read(move |store| store.document_versions(ws, KIND, &name))
        .await?;
    if history.is_empty() {
        return Err(not_found(id));
    }
    Ok(history)
}

async fn read(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
) -> Reply {
    let history = history(&state, ws.id, &id).await?;
    let rendered = shown(&history).ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({ "channel": rendered })))
}

async fn versions(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
) -> Reply {
    let history = history(&state, ws.id, &id).await?;
    let rendered: Vec<Value> = history
        .iter()
        .map(|version| {
            let mut rendered = wire::version(version);
            rendered["document"] = redacted(&rendered["document"]);
            rendered
        })
        .collect();
    Ok(Json(json!({"id": id, "versions": rendered})))
}

/// The body of a `PUT` as the document to store: an object without the definition files'
/// `kind` and `format`, its `id` the path's, and a valid channel definition.
fn proposed_body(bytes: &[u8], id: &str) -> Result<Value, ApiError> {
    let mut document = decode_object(bytes)?;
    for key in ["kind", "format"] {
        if document.contains_key(key) {
            return Err(ApiError::bad_request(
                key,
                "kind and format belong to definition files; the App API takes the document without them",
            ));
        }
    }
    if !document.contains_key("id") {
        document.insert("id".into(), Value::String(id.to_string()));
    }
    let document = Value::Object(document);
    ChannelDefinition::parse(id, &document)
        .map_err(|error| ApiError::bad_request(error.field, error.message))?;
    Ok(document)
}

async fn put(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let document = proposed_body(&body, &id)?;
    let (ws, now) = (ws.id, state.clock.now());
    let history = state
        .read(move |store| -> StoreResult<Vec<Document>> {
            let _serialized = defs::changes_lock();
            store.put_document(ws, KIND, &id, &document, now)?;
            store.document_versions(ws, KIND, &id)
        })
        .await?;
    let rendered =
        shown(&history).ok_or_else(|| ApiError::internal("a channel just stored is not live"))?;
    Ok(Json(json!({ "channel": rendered })))
}

async fn delete(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (ws, now) = (ws.id, state.clock.now());
    let name = id.clone();
    let deleted = state
        .read(move |store| {
            let _serialized = defs::changes_lock();
            store.delete_document(ws, KIND, &name, now)
        })
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_take_the_path_id_and_are_checked_as_channels() {
        let body = br#"{"account_sid": "AC1", "auth_token": "t", "from": "+15550001111"}"#;
        let filled = proposed_body(body, "sms").unwrap();
        assert_eq!(filled["id"], "sms");
        let field = |bytes: &[u8], id: &str| proposed_body(bytes, id).unwrap_err().field;
        assert_eq!(field(body, "fax").as_deref(), Some("id"));
        assert_eq!(field(br#"{"id": "email"}"#, "sms").as_deref(), Some("id"));
        assert_eq!(
            field(br#"{"kind": "channel"}"#, "sms").as_deref(),
            Some("kind")
        );
        assert_eq!(
            field(br#"{"account_sid": "AC1", "from": "x"}"#, "sms").as_deref(),
            Some("auth_token")
        );
        assert_eq!(
            field(br#"{"secret": {"env": ""}}"#, "webhook").as_deref(),
            Some("secret.env")
        );
    }
}
