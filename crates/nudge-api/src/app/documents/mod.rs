//! App API journeys and templates (Nudge's own, docs/definitions.md): list, read, create or
//! replace, delete, and every stored version, under `/v1/journeys` and `/v1/templates`. The
//! body of a `PUT` is the document of docs/journeys.md or docs/templates.md without `kind`
//! and `format` (its `id` may be left out: the path gives it). Every change is checked with
//! the workspace's whole set first ([`check`]); a body equal to the live version changes
//! nothing. What the processor does with a journey is not decided here.

mod check;
pub(crate) mod wire;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nudge_process::journeys::{journey_subject, template_subject};
use nudge_process::CatalogError;
use nudge_store::{Document, DocumentKind, Store, StoreResult};
use serde_json::{json, Value};

pub use check::journey_using_segment;
use check::{check_change, missing_segment_pointer, Change};

use super::definitions as defs;
use crate::auth::AppAuth;
use crate::json::decode_object;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    routes(DocumentKind::Journey).merge(routes(DocumentKind::Template))
}

fn routes(kind: DocumentKind) -> Router<AppState> {
    let base = format!("/v1/{}", wire::plural(kind));
    Router::new()
        .route(
            &base,
            get(move |state: State<AppState>, auth: AppAuth| list(state, auth, kind)),
        )
        .route(
            &format!("{base}/{{id}}"),
            get(
                move |state: State<AppState>, auth: AppAuth, id: Path<String>| {
                    read(state, auth, id, kind)
                },
            )
            .put(
                move |state: State<AppState>, auth: AppAuth, id: Path<String>, body: Bytes| {
                    put(state, auth, id, body, kind)
                },
            )
            .delete(
                move |state: State<AppState>, auth: AppAuth, id: Path<String>| {
                    delete(state, auth, id, kind)
                },
            ),
        )
        .route(
            &format!("{base}/{{id}}/versions"),
            get(
                move |state: State<AppState>, auth: AppAuth, id: Path<String>| {
                    versions(state, auth, id, kind)
                },
            ),
        )
}

type Reply = Result<Json<Value>, ApiError>;

fn not_found(kind: DocumentKind, id: &str) -> ApiError {
    ApiError::not_found(format!("no {kind} '{id}'"))
}

/// `journey cart-recovery` or `template cart-email`: how the compiler names the document.
fn subject(kind: DocumentKind, id: &str) -> String {
    match kind {
        DocumentKind::Journey => journey_subject(id),
        DocumentKind::Template => template_subject(id),
        DocumentKind::Channel => format!("channel {id}"),
        DocumentKind::Contract => "contract".to_string(),
    }
}

async fn list(State(state): State<AppState>, AppAuth(ws): AppAuth, kind: DocumentKind) -> Reply {
    let ws = ws.id;
    let all = state
        .read(move |store| store.all_document_versions(ws, kind))
        .await?;
    let rendered: Vec<Value> = wire::histories(all)
        .iter()
        .filter_map(|history| wire::summary(history))
        .collect();
    Ok(Json(json!({ wire::plural(kind): rendered })))
}

async fn history(
    state: &AppState,
    ws: nudge_core::WorkspaceId,
    kind: DocumentKind,
    id: &str,
) -> Result<Vec<Document>, ApiError> {
    let name = id.to_string();
    let history = state
        .read(move |store| store.document_versions(ws, kind, &name))
        .await?;
    if history.is_empty() {
        return Err(not_found(kind, id));
    }
    Ok(history)
}

async fn read(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
    kind: DocumentKind,
) -> Reply {
    let history = history(&state, ws.id, kind, &id).await?;
    let rendered = wire::detailed(&history).ok_or_else(|| not_found(kind, &id))?;
    Ok(Json(json!({ wire::singular(kind): rendered })))
}

async fn versions(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
    kind: DocumentKind,
) -> Reply {
    let history = history(&state, ws.id, kind, &id).await?;
    let rendered: Vec<Value> = history.iter().map(wire::version).collect();
    Ok(Json(json!({"id": id, "versions": rendered})))
}

/// The body of a `PUT` as the document to store: an object, without the definition files'
/// `kind` and `format`, whose `id` is the path's (filled in when left out).
fn proposed_body(bytes: &[u8], id: &str, kind: DocumentKind) -> Result<Value, ApiError> {
    let mut document = decode_object(bytes)?;
    for key in ["kind", "format"] {
        if document.contains_key(key) {
            return Err(ApiError::bad_request(
                key,
                "kind and format belong to definition files; the App API takes the document without them",
            ));
        }
    }
    match document.get("id") {
        None => {
            document.insert("id".into(), Value::String(id.to_string()));
        }
        Some(Value::String(given)) if given == id => {}
        Some(other) => {
            return Err(ApiError::bad_request(
                "id",
                format!("the body names {kind} {other}, the path '{id}'"),
            ))
        }
    }
    Ok(Value::Object(document))
}

async fn put(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
    body: Bytes,
    kind: DocumentKind,
) -> Reply {
    let document = proposed_body(&body, &id, kind)?;
    let (ws, now) = (ws.id, state.clock.now());
    let history = state
        .read(
            move |store| -> StoreResult<Result<Vec<Document>, ApiError>> {
                let _serialized = defs::changes_lock();
                let history = store.document_versions(ws, kind, &id)?;
                let Some(version) = Document::version_to_put(history.last(), &document) else {
                    return Ok(Ok(history));
                };
                let candidate = Document {
                    kind,
                    name: id.clone(),
                    version,
                    body: document.clone(),
                    created_at: now,
                    deleted: false,
                };
                if let Err(error) = check_change(store, ws, &Change::Put(candidate))? {
                    return Ok(Err(refusal(store, ws, error, kind, &id, &document)?));
                }
                store.put_document(ws, kind, &id, &document, now)?;
                Ok(Ok(store.document_versions(ws, kind, &id)?))
            },
        )
        .await??;
    let rendered = wire::detailed(&history)
        .ok_or_else(|| ApiError::internal("a document just stored is not live"))?;
    Ok(Json(json!({ wire::singular(kind): rendered })))
}

/// The 400 for a refused document: an error inside it points at its node in the body (a
/// missing segment at the node that names it); one in another document names that one.
fn refusal(
    store: &dyn Store,
    ws: nudge_core::WorkspaceId,
    mut error: CatalogError,
    kind: DocumentKind,
    id: &str,
    body: &Value,
) -> StoreResult<ApiError> {
    let own = subject(kind, id);
    if error.subject == own && error.pointer.is_empty() && kind == DocumentKind::Journey {
        let known = store
            .segment_definitions(ws)?
            .into_iter()
            .map(|s| s.id)
            .collect();
        if let Some(pointer) = missing_segment_pointer(body, &known) {
            error.pointer = pointer;
        }
    }
    Ok(defs::refusal(error, &own, ""))
}

async fn delete(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
    kind: DocumentKind,
) -> Result<StatusCode, ApiError> {
    let (ws, now) = (ws.id, state.clock.now());
    state
        .read(move |store| -> StoreResult<Result<(), ApiError>> {
            let _serialized = defs::changes_lock();
            let history = store.document_versions(ws, kind, &id)?;
            if wire::live(&history).is_none() {
                return Ok(Err(not_found(kind, &id)));
            }
            if let Err(error) = check_change(store, ws, &Change::Delete(kind, id.clone()))? {
                return Ok(Err(ApiError::bad_request(
                    "",
                    format!("{kind} '{id}' cannot be deleted: {error}"),
                )));
            }
            Ok(if store.delete_document(ws, kind, &id, now)? {
                Ok(())
            } else {
                Err(not_found(kind, &id))
            })
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_take_the_path_id_and_refuse_file_keys() {
        let filled = proposed_body(br#"{"name": "W"}"#, "welcome", DocumentKind::Journey);
        assert_eq!(filled.unwrap(), json!({"name": "W", "id": "welcome"}));
        let other = proposed_body(br#"{"id": "other"}"#, "welcome", DocumentKind::Journey);
        assert_eq!(other.unwrap_err().field.as_deref(), Some("id"));
        let numeric = proposed_body(br#"{"id": 5}"#, "5", DocumentKind::Template);
        assert_eq!(numeric.unwrap_err().field.as_deref(), Some("id"));
        let file = proposed_body(br#"{"kind": "journey"}"#, "w", DocumentKind::Journey);
        assert_eq!(file.unwrap_err().field.as_deref(), Some("kind"));
        assert!(proposed_body(b"[1]", "w", DocumentKind::Journey).is_err());
    }
}
