//! App API segments: list, read, create (manual without conditions, as Customer.io;
//! data-driven with them), update, delete, member count, member pages, a person's segments,
//! and `preview` (in [`super::preview`]). Every change is checked against the workspace's
//! whole set of definitions first (see [`super::definitions`]); membership of data-driven
//! segments is the processor's to maintain, never written here.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use nudge_core::{PersonKey, WorkspaceId};
use nudge_process::segment_subject;
use nudge_store::{NewSegment, SegmentDefinition, Store, StoreResult};
use serde::Deserialize;
use serde_json::{json, Value};

use super::definitions::{self as defs, UNSAVED_ID};
use super::people::{identifier, require, IdTypeQuery};
use super::{cursor::PageRequest, render};
use crate::auth::AppAuth;
use crate::json::decode;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/segments", get(list).post(create))
        .route("/v1/segments/preview", post(super::preview::preview))
        .route("/v1/segments/{id}", get(read).put(update).delete(delete))
        .route("/v1/segments/{id}/customer_count", get(count))
        .route("/v1/segments/{id}/membership", get(membership))
        .route(
            "/v1/customers/{identifier}/segments",
            get(customer_segments),
        )
}

type Reply = Result<Json<Value>, ApiError>;

const MAX_NAME_CHARS: usize = 255;

/// `{"segment": {...}}`, the body of create and update.
#[derive(Deserialize)]
struct SegmentBody {
    segment: SegmentFields,
}

#[derive(Deserialize)]
struct SegmentFields {
    id: Option<i64>,
    name: String,
    description: Option<String>,
    #[serde(default)]
    conditions: Option<Value>,
}

impl SegmentFields {
    fn validated(self) -> Result<NewSegment, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::bad_request(
                "segment.name",
                format!("segment name must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if self.id.is_some_and(|id| id < 1) {
            return Err(ApiError::bad_request(
                "segment.id",
                "segment id must be a positive integer",
            ));
        }
        Ok(NewSegment {
            id: self.id,
            name: name.to_string(),
            description: self.description.unwrap_or_default(),
            conditions: self.conditions,
        })
    }
}

fn no_segment(id: i64) -> ApiError {
    ApiError::not_found(format!("no segment {id}"))
}

async fn list(State(state): State<AppState>, AppAuth(ws): AppAuth) -> Reply {
    let ws = ws.id;
    let all = state
        .read(move |store| store.segment_definitions(ws))
        .await?;
    let rendered: Vec<Value> = all.iter().map(render::segment_definition).collect();
    Ok(Json(json!({"segments": rendered})))
}

async fn read(State(state): State<AppState>, AppAuth(ws): AppAuth, Path(id): Path<i64>) -> Reply {
    let segment = existing(&state, ws.id, id).await?;
    Ok(Json(
        json!({"segment": render::segment_definition(&segment)}),
    ))
}

async fn existing(
    state: &AppState,
    ws: WorkspaceId,
    id: i64,
) -> Result<SegmentDefinition, ApiError> {
    state
        .read(move |store| store.segment_definition(ws, id))
        .await?
        .ok_or_else(|| no_segment(id))
}

async fn create(State(state): State<AppState>, AppAuth(ws): AppAuth, body: Bytes) -> Reply {
    let SegmentBody { segment } = decode(&body)?;
    let new = segment.validated()?;
    let (ws, now) = (ws.id, state.clock.now());
    let created = state
        .read(
            move |store| -> StoreResult<Result<SegmentDefinition, ApiError>> {
                let _serialized = defs::changes_lock();
                if let Some(id) = new.id {
                    if store.segment_definition(ws, id)?.is_some() {
                        return Ok(Err(ApiError::new(
                            StatusCode::CONFLICT,
                            format!("segment {id} already exists"),
                        )));
                    }
                }
                let candidate =
                    SegmentDefinition::proposed(new.id.unwrap_or(UNSAVED_ID), &new, None, now);
                if let Err(error) = defs::check_segment(store, ws, &candidate)? {
                    let own = segment_subject(candidate.id, &candidate.name);
                    return Ok(Err(defs::refusal(error, &own, "/segment/conditions")));
                }
                defs::conflict_or(store.create_segment(ws, &new, now))
            },
        )
        .await??;
    Ok(Json(
        json!({"segment": render::segment_definition(&created)}),
    ))
}

async fn update(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<i64>,
    body: Bytes,
) -> Reply {
    let SegmentBody { segment } = decode(&body)?;
    let new = segment.validated()?;
    if new.id.is_some_and(|given| given != id) {
        return Err(ApiError::bad_request(
            "segment.id",
            format!(
                "the body names segment {}, the path {id}",
                new.id.unwrap_or(id)
            ),
        ));
    }
    let (ws, now) = (ws.id, state.clock.now());
    let updated = state
        .read(move |store| apply_update(store, ws, id, &new, now))
        .await??;
    Ok(Json(
        json!({"segment": render::segment_definition(&updated)}),
    ))
}

fn apply_update(
    store: &dyn Store,
    ws: WorkspaceId,
    id: i64,
    new: &NewSegment,
    now: nudge_core::Timestamp,
) -> StoreResult<Result<SegmentDefinition, ApiError>> {
    let _serialized = defs::changes_lock();
    let Some(existing) = store.segment_definition(ws, id)? else {
        return Ok(Err(no_segment(id)));
    };
    if existing.manual() != new.conditions.is_none() {
        let message = if existing.manual() {
            format!("segment {id} is manual: it cannot take conditions (create a data-driven segment instead)")
        } else {
            format!("segment {id} is data-driven: its conditions cannot be removed (create a manual segment instead)")
        };
        return Ok(Err(ApiError::bad_request("segment.conditions", message)));
    }
    let unchanged = existing.name == new.name
        && existing.description == new.description
        && existing.conditions == new.conditions;
    if unchanged {
        return Ok(Ok(existing));
    }
    let candidate = SegmentDefinition::proposed(id, new, Some(&existing), now);
    if let Err(error) = defs::check_segment(store, ws, &candidate)? {
        let own = segment_subject(candidate.id, &candidate.name);
        return Ok(Err(defs::refusal(error, &own, "/segment/conditions")));
    }
    Ok(defs::conflict_or(store.update_segment(ws, id, new, now))?
        .and_then(|updated| updated.ok_or_else(|| no_segment(id))))
}

async fn delete(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let ws = ws.id;
    state
        .read(move |store| -> StoreResult<Result<(), ApiError>> {
            let _serialized = defs::changes_lock();
            let all = store.segment_definitions(ws)?;
            if !all.iter().any(|s| s.id == id) {
                return Ok(Err(no_segment(id)));
            }
            let users: Vec<String> = defs::referrers(&all, id)
                .into_iter()
                .map(|s| segment_subject(s.id, &s.name))
                .collect();
            if !users.is_empty() {
                return Ok(Err(ApiError::bad_request(
                    "",
                    format!(
                        "segment {id} is used by {}: change or delete those first",
                        users.join(", ")
                    ),
                )));
            }
            if let Some(journey) = super::documents::journey_using_segment(store, ws, id)? {
                return Ok(Err(ApiError::bad_request(
                    "",
                    format!("segment {id} is used by {journey}: change or delete it first"),
                )));
            }
            Ok(if store.delete_segment(ws, id)? {
                Ok(())
            } else {
                Err(no_segment(id))
            })
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

async fn count(State(state): State<AppState>, AppAuth(ws): AppAuth, Path(id): Path<i64>) -> Reply {
    existing(&state, ws.id, id).await?;
    let ws = ws.id;
    let count = state
        .read(move |store| store.segment_member_count(ws, id))
        .await?;
    Ok(Json(json!({"count": count})))
}

#[derive(Deserialize)]
struct PageParams {
    start: Option<String>,
    limit: Option<String>,
}

/// Members in a stable order, `limit` at a time; `next` continues (empty on the last page).
async fn membership(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<i64>,
    Query(params): Query<PageParams>,
) -> Reply {
    let request = PageRequest::parse(params.start.as_deref(), params.limit.as_deref())?;
    existing(&state, ws.id, id).await?;
    let ws = ws.id;
    let (keys, people) = state
        .read(move |store| {
            let keys = store.segment_members(ws, id, request.past.map(PersonKey), request.limit)?;
            let mut people = Vec::with_capacity(keys.len());
            for key in &keys {
                people.extend(store.person(ws, *key)?);
            }
            Ok((keys, people))
        })
        .await?;
    let next = request.next(keys.len(), keys.last().map(|k| k.0));
    let identifiers: Vec<Value> = people
        .iter()
        .map(|p| render::identifiers(&p.state))
        .collect();
    let ids: Vec<&str> = people
        .iter()
        .filter_map(|p| p.state.id.as_deref())
        .collect();
    Ok(Json(
        json!({"identifiers": identifiers, "ids": ids, "next": next}),
    ))
}

async fn customer_segments(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(raw): Path<String>,
    Query(q): Query<IdTypeQuery>,
) -> Reply {
    let view = require(&state, ws.id, identifier(&raw, q.id_type.as_deref())?).await?;
    let (ws, key) = (ws.id, view.state.key);
    let list = state
        .read(move |store| store.person_segments(ws, key))
        .await?;
    Ok(Json(
        json!({"segments": list.iter().map(render::segment).collect::<Vec<_>>()}),
    ))
}
