//! `POST /v1/segments/preview`: how many people a condition matches right now, and a sample of
//! them, before it becomes a segment. It evaluates the condition over every person of the
//! workspace (keyset pages of people; for each, only the events the condition reads and, when
//! it refers to segments, their memberships), so it is O(people): an explicit user action, not
//! a hot path. It runs on the blocking pool and never writes.

use nudge_process::segment_subject;
use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use nudge_conditions::Condition;
use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_process::PersonData;
use nudge_store::{ExportScope, NewSegment, SegmentDefinition, Store, StoreResult};
use serde::Deserialize;
use serde_json::{json, Value};

use super::definitions::{self as defs, UNSAVED_ID};
use super::render;
use crate::auth::AppAuth;
use crate::json::decode;
use crate::{ApiError, AppState};

const DEFAULT_SAMPLE: usize = 10;
const MAX_SAMPLE: usize = 100;
/// People read per page of the scan.
const PAGE: usize = 500;

#[derive(Deserialize)]
struct PreviewBody {
    conditions: Value,
    sample: Option<usize>,
}

struct Outcome {
    count: u64,
    sample: Vec<Value>,
}

pub async fn preview(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let PreviewBody { conditions, sample } = decode(&body)?;
    let sample = sample.unwrap_or(DEFAULT_SAMPLE);
    if sample > MAX_SAMPLE {
        return Err(ApiError::bad_request(
            "sample",
            format!("sample must be at most {MAX_SAMPLE}"),
        ));
    }
    let condition = nudge_conditions::parse(&conditions).map_err(|e| {
        ApiError::bad_request(defs::field(&format!("/conditions{}", e.pointer)), e.message)
    })?;
    let (ws, now) = (ws.id, state.clock.now());
    let outcome = state
        .read(move |store| -> StoreResult<Result<Outcome, ApiError>> {
            // The condition's segment references must exist, as they must in a segment.
            let new = NewSegment {
                id: None,
                name: "preview".into(),
                description: String::new(),
                conditions: Some(conditions),
            };
            let candidate = SegmentDefinition::proposed(UNSAVED_ID, &new, None, now);
            if let Err(error) = defs::check_segment(store, ws, &candidate)? {
                let own = segment_subject(candidate.id, &candidate.name);
                return Ok(Err(defs::refusal(error, &own, "/conditions")));
            }
            scan(store, ws, &condition, sample, now).map(Ok)
        })
        .await??;
    Ok(Json(
        json!({"count": outcome.count, "sample": outcome.sample}),
    ))
}

fn scan(
    store: &dyn Store,
    ws: WorkspaceId,
    condition: &Condition,
    sample: usize,
    now: Timestamp,
) -> StoreResult<Outcome> {
    let reads = condition.dependencies();
    let event_names: Vec<String> = reads.events.into_iter().collect();
    let mut outcome = Outcome {
        count: 0,
        sample: Vec::new(),
    };
    let mut after: Option<PersonKey> = None;
    loop {
        let page = store.people_page(ws, after, PAGE, &ExportScope::default())?;
        let last_page = page.len() < PAGE;
        after = page.last().map(|p| p.key);
        for person in page {
            let segments: BTreeSet<i64> = if reads.segments.is_empty() {
                BTreeSet::new()
            } else {
                store
                    .person_segments(ws, person.key)?
                    .into_iter()
                    .map(|s| s.id)
                    .collect()
            };
            let events = if event_names.is_empty() {
                Vec::new()
            } else {
                store.person_events(ws, person.key, &event_names, None)?
            };
            let identifiers = (outcome.sample.len() < sample).then(|| render::identifiers(&person));
            // The same facts the processor evaluates: attributes plus identifiers.
            let facts = PersonData::for_person(person, segments, events);
            if nudge_conditions::evaluate(condition, &facts, now) {
                outcome.count += 1;
                outcome.sample.extend(identifiers);
            }
        }
        if last_page {
            return Ok(outcome);
        }
    }
}
