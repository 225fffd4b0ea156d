//! App API people endpoints: lookup by email, attributes (one or many), activities with
//! cursor pagination, and objects. Every read goes straight to the committed store, so a 200
//! from the Track API is visible here at once.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use nudge_core::{ActivityKind, Identifier, IdentifierKind, ObjectRef, PersonKey, WorkspaceId};
use nudge_store::{ActivityQuery, PersonView};
use serde::Deserialize;
use serde_json::{json, Value};

use super::render;
use crate::auth::AppAuth;
use crate::json::decode;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/customers", get(by_email))
        .route("/v1/customers/attributes", post(many_attributes))
        .route("/v1/customers/{identifier}/attributes", get(attributes))
        .route("/v1/customers/{identifier}/activities", get(activities))
        .route("/v1/objects/{type_id}/{object_id}/attributes", get(object))
}

type Reply = Result<Json<Value>, ApiError>;

#[derive(Deserialize)]
struct EmailQuery {
    email: Option<String>,
}

async fn by_email(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Query(q): Query<EmailQuery>,
) -> Reply {
    let email = q
        .email
        .ok_or_else(|| ApiError::bad_request("email", "the email query parameter is required"))?;
    let identifier = Identifier::new(IdentifierKind::Email, &email)
        .map_err(|e| ApiError::bad_request("email", e.to_string()))?;
    let view = find(&state, ws.id, identifier).await?;
    let results: Vec<Value> = view.iter().map(|v| render::identifiers(&v.state)).collect();
    Ok(Json(json!({"results": results})))
}

#[derive(Deserialize)]
pub(super) struct IdTypeQuery {
    pub id_type: Option<String>,
}

pub(super) fn identifier(raw: &str, id_type: Option<&str>) -> Result<Identifier, ApiError> {
    let kind = match id_type.unwrap_or("id") {
        "id" => IdentifierKind::Id,
        "email" => IdentifierKind::Email,
        "cio_id" => IdentifierKind::CioId,
        "phone" => IdentifierKind::Phone,
        other => {
            return Err(ApiError::bad_request(
                "id_type",
                format!("id_type must be id, email, cio_id or phone, got '{other}'"),
            ))
        }
    };
    Identifier::new(kind, raw).map_err(|e| ApiError::bad_request("identifier", e.to_string()))
}

async fn find(
    state: &AppState,
    ws: WorkspaceId,
    identifier: Identifier,
) -> Result<Option<PersonView>, ApiError> {
    state
        .read(move |store| match store.resolve(ws, &identifier)? {
            Some(key) => store.person(ws, key),
            None => Ok(None),
        })
        .await
}

pub(super) async fn require(
    state: &AppState,
    ws: WorkspaceId,
    identifier: Identifier,
) -> Result<PersonView, ApiError> {
    let label = identifier.to_string();
    find(state, ws, identifier)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no customer with {label}")))
}

async fn attributes(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(raw): Path<String>,
    Query(q): Query<IdTypeQuery>,
) -> Reply {
    let view = require(&state, ws.id, identifier(&raw, q.id_type.as_deref())?).await?;
    Ok(Json(json!({"customer": render::customer(&view)})))
}

async fn many_attributes(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    body: Bytes,
) -> Reply {
    #[derive(Deserialize)]
    struct Ids {
        ids: Vec<String>,
    }
    let Ids { ids } = decode(&body)?;
    if ids.len() > 100 {
        return Err(ApiError::bad_request("ids", "at most 100 ids per request"));
    }
    let identifiers = ids
        .iter()
        .map(|id| {
            Identifier::new(IdentifierKind::Id, id)
                .map_err(|e| ApiError::bad_request("ids", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ws = ws.id;
    let views = state
        .read(move |store| {
            let mut found = Vec::new();
            for identifier in &identifiers {
                if let Some(key) = store.resolve(ws, identifier)? {
                    found.extend(store.person(ws, key)?);
                }
            }
            Ok(found)
        })
        .await?;
    Ok(Json(
        json!({"customers": views.iter().map(render::customer).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct ActivityParams {
    id_type: Option<String>,
    start: Option<String>,
    limit: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
}

async fn activities(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(raw): Path<String>,
    Query(params): Query<ActivityParams>,
) -> Reply {
    let view = require(&state, ws.id, identifier(&raw, params.id_type.as_deref())?).await?;
    let page_request =
        super::cursor::PageRequest::parse(params.start.as_deref(), params.limit.as_deref())?;
    let (limit, before_seq) = (page_request.limit, page_request.past);
    let kinds = match params.kind.as_deref() {
        None | Some("") => Vec::new(),
        Some(kind) => vec![ActivityKind::parse(kind).ok_or_else(|| {
            ApiError::bad_request("type", format!("unknown activity type '{kind}'"))
        })?],
    };
    let query = ActivityQuery {
        kinds,
        name: params.name.filter(|n| !n.is_empty()),
        before_seq,
        limit,
    };
    let (ws, key): (WorkspaceId, PersonKey) = (ws.id, view.state.key);
    let page = state
        .read(move |store| store.activities(ws, key, &query))
        .await?;
    let next = page_request.next(page.len(), page.last().map(|a| a.seq));
    let items: Vec<Value> = page
        .iter()
        .map(|a| render::activity(&view.state, a))
        .collect();
    Ok(Json(json!({"activities": items, "next": next})))
}

async fn object(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path((type_id, object_id)): Path<(String, String)>,
) -> Reply {
    let object = ObjectRef { type_id, object_id };
    let ws = ws.id;
    let found = state
        .read(move |store| {
            let Some(view) = store.object(ws, &object)? else {
                return Ok(None);
            };
            let mut related = Vec::new();
            for (key, attributes) in &view.relationships {
                if let Some(person) = store.person(ws, *key)? {
                    related.push(json!({"identifiers": render::identifiers(&person.state),
                                        "relationship_attributes": attributes}));
                }
            }
            Ok(Some(
                json!({"object": {"object_type_id": view.object.type_id,
                "object_id": view.object.object_id, "attributes": view.attributes,
                "relationships": related}}),
            ))
        })
        .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such object"))
}
