//! App API event contract (docs/contract.md): `GET /v1/contract` (the current contract with
//! its version), `PUT /v1/contract` (the contract document, as a file holds it, in JSON;
//! `?force=true` lets a change break configuration that conformed) and `GET
//! /v1/contract/versions` (every version with its diff against the one before). The contract
//! is the workspace's one versioned document of kind `contract`, stored in the canonical form
//! `nudge_contract` writes. [`usages`] lists what configuration reads and [`enforce`] decides
//! what the contract refuses; [`workspace_contract`] and [`check_documents`] read what they
//! need from a store for the App API's writes.

pub mod enforce;
pub mod usages;

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nudge_contract::{diff, Contract};
use nudge_core::WorkspaceId;
use nudge_store::{Document, DocumentKind, Store, StoreResult, CONTRACT_NAME};
use serde::Deserialize;
use serde_json::{json, Value};

use super::definitions as defs;
use crate::auth::AppAuth;
use crate::{ApiError, AppState};
use enforce::{verdict, Verdict};
use usages::Configuration;

const KIND: DocumentKind = DocumentKind::Contract;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/contract", get(read).put(put))
        .route("/v1/contract/versions", get(versions))
}

type Reply = Result<Json<Value>, ApiError>;

/// A stored contract document as a contract. Stored bodies are written by this crate and
/// `nudge apply` only after they parse, so a failure is the store's fault.
pub fn stored_contract(document: &Document) -> StoreResult<Contract> {
    nudge_contract::parse(&document.body).map_err(|error| {
        nudge_store::StoreError::Corrupt(format!(
            "the stored contract version {} does not parse: {error}",
            document.version
        ))
    })
}

/// The workspace's live contract, with its stored version.
pub fn workspace_contract(
    store: &dyn Store,
    ws: WorkspaceId,
) -> StoreResult<Option<(Document, Contract)>> {
    let history = store.document_versions(ws, KIND, CONTRACT_NAME)?;
    match history.into_iter().last().filter(|d| !d.deleted) {
        Some(document) => {
            let contract = stored_contract(&document)?;
            Ok(Some((document, contract)))
        }
        None => Ok(None),
    }
}

/// The workspace's configuration as stored, with `replace` put in place of its namesakes
/// (a journey or template about to be written), checked against the workspace's contract:
/// `changed` names the documents being changed. Clean when the workspace has no contract.
pub fn check_documents(
    store: &dyn Store,
    ws: WorkspaceId,
    replace: &[Document],
    segments: Option<&[nudge_store::SegmentDefinition]>,
    computed: Option<&[nudge_store::ComputedDefinition]>,
    changed: &BTreeSet<String>,
) -> StoreResult<Verdict> {
    let Some((_, contract)) = workspace_contract(store, ws)? else {
        return Ok(Verdict::default());
    };
    let with = |kind: DocumentKind| -> StoreResult<Vec<Document>> {
        let mut documents = store.documents(ws, kind)?;
        for document in replace.iter().filter(|d| d.kind == kind) {
            documents.retain(|d| d.name != document.name);
            documents.push(document.clone());
        }
        Ok(documents)
    };
    let (journeys, templates) = (with(DocumentKind::Journey)?, with(DocumentKind::Template)?);
    let stored_segments;
    let segments = match segments {
        Some(given) => given,
        None => {
            stored_segments = store.segment_definitions(ws)?;
            &stored_segments
        }
    };
    let stored_computed;
    let computed = match computed {
        Some(given) => given,
        None => {
            stored_computed = store.computed_definitions(ws)?;
            &stored_computed
        }
    };
    let config = Configuration {
        journeys: &journeys,
        templates: &templates,
        segments,
        computed,
    };
    Ok(verdict(Some(&contract), Some(&contract), config, changed))
}

/// The current version's summary and document.
fn shown(history: &[Document]) -> Option<Value> {
    let latest = history.last().filter(|d| !d.deleted)?;
    let created = history.first().map_or(latest.created_at, |d| d.created_at);
    Some(json!({
        "version": latest.version,
        "created_at": created.unix_seconds(),
        "updated_at": latest.created_at.unix_seconds(),
        "document": latest.body,
    }))
}

async fn history(state: &AppState, ws: WorkspaceId) -> Result<Vec<Document>, ApiError> {
    state
        .read(move |store| store.document_versions(ws, KIND, CONTRACT_NAME))
        .await
}

async fn read(State(state): State<AppState>, AppAuth(ws): AppAuth) -> Reply {
    let history = history(&state, ws.id).await?;
    let rendered =
        shown(&history).ok_or_else(|| ApiError::not_found("this workspace has no contract"))?;
    Ok(Json(json!({ "contract": rendered })))
}

/// Every version, oldest first, with what changed since the one before (the first against
/// an empty contract: every declaration added).
async fn versions(State(state): State<AppState>, AppAuth(ws): AppAuth) -> Reply {
    let history = history(&state, ws.id).await?;
    let mut previous = Contract::default();
    let mut rendered = Vec::with_capacity(history.len());
    for document in &history {
        let mut entry = json!({
            "version": document.version,
            "created_at": document.created_at.unix_seconds(),
            "deleted": document.deleted,
        });
        if document.deleted {
            entry["document"] = Value::Null;
            previous = Contract::default();
        } else {
            let contract = stored_contract(document)?;
            let changes = diff(&previous, &contract);
            entry["document"] = document.body.clone();
            entry["diff"] = json!(changes.iter().map(ToString::to_string).collect::<Vec<_>>());
            entry["changes"] = json!(changes);
            previous = contract;
        }
        rendered.push(entry);
    }
    Ok(Json(json!({ "versions": rendered })))
}

#[derive(Debug, Deserialize)]
struct PutOptions {
    #[serde(default)]
    force: bool,
}

/// The body as a contract: the document of docs/contract.md in JSON (`format: 1`, `kind`
/// optional), refused with the pointer of the offending node.
fn proposed(bytes: &[u8]) -> Result<Contract, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("", "the body is not UTF-8 text"))?;
    Contract::from_json(text)
        .map_err(|error| ApiError::bad_request(defs::field(&error.pointer), error.message))
}

async fn put(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Query(options): Query<PutOptions>,
    body: Bytes,
) -> Reply {
    let contract = proposed(&body)?;
    let document = contract.to_json();
    let (ws, now) = (ws.id, state.clock.now());
    let (history, changes) = state
        .read(
            move |store| -> StoreResult<Result<(Vec<Document>, Value), ApiError>> {
                let _serialized = defs::changes_lock();
                let old = workspace_contract(store, ws)?.map(|(_, c)| c);
                let (journeys, templates) = (
                    store.documents(ws, DocumentKind::Journey)?,
                    store.documents(ws, DocumentKind::Template)?,
                );
                let (segments, computed) = (
                    store.segment_definitions(ws)?,
                    store.computed_definitions(ws)?,
                );
                let config = Configuration {
                    journeys: &journeys,
                    templates: &templates,
                    segments: &segments,
                    computed: &computed,
                };
                let found = verdict(old.as_ref(), Some(&contract), config, &BTreeSet::new());
                let refusals = found.refusals(options.force, "PUT with ?force=true");
                if !refusals.is_empty() {
                    return Ok(Err(ApiError::new(
                        StatusCode::CONFLICT,
                        refusals.join("; "),
                    )));
                }
                let changes = diff(old.as_ref().unwrap_or(&Contract::default()), &contract);
                store.put_document(ws, KIND, CONTRACT_NAME, &document, now)?;
                let history = store.document_versions(ws, KIND, CONTRACT_NAME)?;
                Ok(Ok((history, json!(changes))))
            },
        )
        .await??;
    let mut rendered =
        shown(&history).ok_or_else(|| ApiError::internal("a contract just stored is not live"))?;
    rendered["changes"] = changes;
    Ok(Json(json!({ "contract": rendered })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_refused_at_their_node() {
        let wrong_type = br#"{"format": 1, "events": {"Order Completed": {"properties": {"price": {"type": "float"}}}}}"#;
        let error = proposed(wrong_type).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            error.field.as_deref(),
            Some("events.Order Completed.properties.price.type")
        );
        assert!(error.message.contains("unknown type 'float'"), "{error:?}");
        assert!(proposed(b"{\"format\": 1}").is_ok());
        assert!(proposed(b"[")
            .unwrap_err()
            .message
            .contains("not valid JSON"));
    }
}
