//! App API computed attributes (Nudge's own): list, read, create or replace, delete. The
//! body of `PUT /v1/computed_attributes/{name}` is the definition document of
//! docs/conditions.md (its `name` may be left out: the path gives it). Every change is checked
//! against the workspace's whole set of definitions; the values themselves are the
//! processor's to maintain.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nudge_process::computed_subject;
use nudge_store::{ComputedDefinition, StoreResult};
use serde_json::{json, Value};

use super::definitions as defs;
use super::render;
use crate::auth::AppAuth;
use crate::json::decode_object;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/computed_attributes", get(list))
        .route(
            "/v1/computed_attributes/{name}",
            get(read).put(put).delete(delete),
        )
}

type Reply = Result<Json<Value>, ApiError>;

fn no_attribute(name: &str) -> ApiError {
    ApiError::not_found(format!("no computed attribute '{name}'"))
}

async fn list(State(state): State<AppState>, AppAuth(ws): AppAuth) -> Reply {
    let ws = ws.id;
    let all = state
        .read(move |store| store.computed_definitions(ws))
        .await?;
    let rendered: Vec<Value> = all.iter().map(render::computed_definition).collect();
    Ok(Json(json!({"computed_attributes": rendered})))
}

async fn read(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(name): Path<String>,
) -> Reply {
    let ws = ws.id;
    let wanted = name.clone();
    let found = state
        .read(move |store| {
            Ok(store
                .computed_definitions(ws)?
                .into_iter()
                .find(|c| c.name == wanted))
        })
        .await?
        .ok_or_else(|| no_attribute(&name))?;
    Ok(Json(
        json!({"computed_attribute": render::computed_definition(&found)}),
    ))
}

async fn put(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let mut document = decode_object(&body)?;
    document
        .entry("name")
        .or_insert_with(|| Value::String(name.clone()));
    let definition = Value::Object(document);
    let (ws, now) = (ws.id, state.clock.now());
    let stored = state
        .read(
            move |store| -> StoreResult<Result<ComputedDefinition, ApiError>> {
                let _serialized = defs::changes_lock();
                let candidate = ComputedDefinition::proposed(&name, &definition, now);
                if let Err(error) = defs::check_computed(store, ws, &candidate)? {
                    return Ok(Err(defs::refusal(error, &computed_subject(&name), "")));
                }
                store
                    .put_computed_definition(ws, &name, &definition, now)
                    .map(Ok)
            },
        )
        .await??;
    Ok(Json(
        json!({"computed_attribute": render::computed_definition(&stored)}),
    ))
}

async fn delete(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ws = ws.id;
    let wanted = name.clone();
    let deleted = state
        .read(move |store| {
            let _serialized = defs::changes_lock();
            store.delete_computed_definition(ws, &wanted)
        })
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_attribute(&name))
    }
}
