//! The one check every segment and computed-attribute change passes: the workspace's stored
//! definitions with the change applied must compile (`nudge_process::compile`), so the App API
//! never stores a set the processor cannot run, and what the changed definition reads of
//! events must be declared by the workspace's event contract, when it has one. Refusals point
//! into the request body. Runs on the blocking pool inside a store read; it never writes.

use std::sync::{Mutex, MutexGuard};

use axum::http::StatusCode;
use nudge_core::WorkspaceId;
use nudge_process::CatalogError;
use nudge_store::{ComputedDefinition, SegmentDefinition, Store, StoreError, StoreResult};

use super::contract::check_documents;
use crate::ApiError;

/// The id a segment is checked under before the store has chosen one. Nothing refers to it.
pub const UNSAVED_ID: i64 = i64::MIN;

/// Serializes definition changes made through this process, so two requests cannot each pass
/// the check against a set the other is about to change (two halves of a cycle, say).
pub fn changes_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the stored segments plus `candidate` (replacing the one with its id) and the
/// stored computed attributes compile.
pub fn check_segment(
    store: &dyn Store,
    ws: WorkspaceId,
    candidate: &SegmentDefinition,
) -> StoreResult<Result<(), CatalogError>> {
    let mut segments = store.segment_definitions(ws)?;
    segments.retain(|s| s.id != candidate.id);
    segments.push(candidate.clone());
    let computed = store.computed_definitions(ws)?;
    if let Err(error) = nudge_process::compile(&segments, &computed) {
        return Ok(Err(error));
    }
    let own = nudge_process::segment_subject(candidate.id, &candidate.name);
    let found = check_documents(
        store,
        ws,
        &[],
        Some(&segments),
        Some(&computed),
        &[own].into(),
    )?;
    // A segment's refusals point inside its conditions.
    Ok(contract_refusal(found.own, "/conditions"))
}

/// The first breach of the event contract as a refusal, its pointer made relative to
/// `inside` (where the caller points from).
fn contract_refusal(
    breaches: Vec<nudge_contract::Breach>,
    inside: &str,
) -> Result<(), CatalogError> {
    match breaches.into_iter().next() {
        Some(breach) => Err(CatalogError {
            pointer: breach
                .pointer
                .strip_prefix(inside)
                .unwrap_or(&breach.pointer)
                .to_string(),
            subject: breach.document,
            message: breach.message,
        }),
        None => Ok(()),
    }
}

/// Whether the stored definitions with `candidate` put in place of its namesake compile.
pub fn check_computed(
    store: &dyn Store,
    ws: WorkspaceId,
    candidate: &ComputedDefinition,
) -> StoreResult<Result<(), CatalogError>> {
    let segments = store.segment_definitions(ws)?;
    let mut computed = store.computed_definitions(ws)?;
    computed.retain(|c| c.name != candidate.name);
    computed.push(candidate.clone());
    if let Err(error) = nudge_process::compile(&segments, &computed) {
        return Ok(Err(error));
    }
    let own = nudge_process::computed_subject(&candidate.name);
    let found = check_documents(
        store,
        ws,
        &[],
        Some(&segments),
        Some(&computed),
        &[own].into(),
    )?;
    Ok(contract_refusal(found.own, ""))
}

/// The 400 for a refused change. An error inside the changed definition (named `own`) points
/// at its node under `body_pointer`; one elsewhere (a cycle through other segments) points at
/// `body_pointer` and names what it concerns.
pub fn refusal(error: CatalogError, own: &str, body_pointer: &str) -> ApiError {
    if error.subject == own {
        ApiError::bad_request(
            field(&format!("{body_pointer}{}", error.pointer)),
            error.message,
        )
    } else {
        let at = if error.pointer.is_empty() {
            String::new()
        } else {
            format!(" at {}", error.pointer)
        };
        ApiError::bad_request(
            field(body_pointer),
            format!("{}{at}: {}", error.subject, error.message),
        )
    }
}

/// A JSON pointer as the field path `ApiError` carries (`/segment/conditions/and/1` →
/// `segment.conditions.and.1`); the error renderer turns it back into the pointer.
pub fn field(pointer: &str) -> String {
    pointer
        .split('/')
        .filter(|part| !part.is_empty())
        .map(|part| part.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// The segments whose conditions refer to segment `id`.
pub fn referrers(segments: &[SegmentDefinition], id: i64) -> Vec<&SegmentDefinition> {
    segments
        .iter()
        .filter(|s| s.id != id)
        .filter(|s| {
            s.conditions
                .as_ref()
                .and_then(|c| nudge_conditions::parse(c).ok())
                .is_some_and(|c| c.dependencies().segments.contains(&id))
        })
        .collect()
}

/// A store conflict (an explicit id already taken) is the client's 409; anything else is ours.
pub fn conflict_or<T>(result: StoreResult<T>) -> StoreResult<Result<T, ApiError>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(StoreError::Conflict(detail)) => Ok(Err(ApiError::new(StatusCode::CONFLICT, detail))),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_fields_and_refusals_point_into_the_body() {
        assert_eq!(
            field("/segment/conditions/and/1"),
            "segment.conditions.and.1"
        );
        assert_eq!(field(""), "");
        let own = CatalogError {
            subject: "segment 3 (VIP)".into(),
            pointer: "/attribute/operator".into(),
            message: "unknown operator 'equals'".into(),
        };
        let e = refusal(own, "segment 3 (VIP)", "/segment/conditions");
        assert_eq!(
            e.field.as_deref(),
            Some("segment.conditions.attribute.operator")
        );
        let cycle = CatalogError {
            subject: "segments [3, 4]".into(),
            pointer: String::new(),
            message: "these segments depend on each other in a cycle".into(),
        };
        let e = refusal(cycle, "segment 3 (VIP)", "/segment/conditions");
        assert_eq!(e.field.as_deref(), Some("segment.conditions"));
        assert!(e.message.contains("segments [3, 4]"), "{}", e.message);
    }
}
