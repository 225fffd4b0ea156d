//! Recognises, on replay, a log entry the store already reflects. An entry reaches stored
//! state only through the identifiers and objects it names, and applying it marks every
//! person, identifier and object it changes with its offset. So if any of its subjects (or
//! the person an identifier names now) carries a mark at or past the entry's offset, the entry
//! or a later one has been applied there, and re-applying it could only undo later work: it is
//! skipped whole. If none does, nothing the entry reads has changed since it was first
//! applied, so applying it again decides exactly as it did then. Read-only.

use nudge_core::{Identifier, IdentifierKind, ObjectRef, Operation, WorkspaceId};
use nudge_store::{Marked, StoreResult, WriteTx};
use serde_json::Value;

use super::identify::body_identifiers;

/// `true` when the store already reflects the entry at `offset` (or something later).
pub(crate) fn already_applied(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    offset: i64,
    operation: &Operation,
) -> StoreResult<bool> {
    let (identifiers, objects) = subjects(operation);
    for identifier in &identifiers {
        if tx.marked(ws, Marked::Identifier(identifier))? >= offset {
            return Ok(true);
        }
        if let Some(key) = tx.resolve(ws, identifier)? {
            if tx.marked(ws, Marked::Person(key))? >= offset {
                return Ok(true);
            }
        }
    }
    for object in objects {
        if tx.marked(ws, Marked::Object(object))? >= offset {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every identifier and object `operation` names: how it finds everything it reads or
/// changes. Deliberately exhaustive, so a new operation must say what it touches.
fn subjects(operation: &Operation) -> (Vec<Identifier>, Vec<&ObjectRef>) {
    let anonymous = |value: &str| Identifier::new(IdentifierKind::AnonymousId, value).ok();
    match operation {
        Operation::Identify {
            person, attributes, ..
        } => {
            let mut named = vec![person.clone()];
            named.extend(body_identifiers(attributes));
            named.extend(
                attributes
                    .get("anonymous_id")
                    .and_then(Value::as_str)
                    .and_then(anonymous),
            );
            (named, Vec::new())
        }
        Operation::DeletePerson { person }
        | Operation::Track { person, .. }
        | Operation::AddDevice { person, .. }
        | Operation::DeleteDevice { person, .. }
        | Operation::Suppress { person }
        | Operation::Unsuppress { person } => (vec![person.clone()], Vec::new()),
        Operation::TrackAnonymous { anonymous_id, .. } => (
            anonymous_id
                .as_deref()
                .and_then(anonymous)
                .into_iter()
                .collect(),
            Vec::new(),
        ),
        Operation::Merge { primary, secondary } => {
            (vec![primary.clone(), secondary.clone()], Vec::new())
        }
        Operation::Alias { previous, user } => {
            let mut named = vec![user.clone()];
            named.extend(anonymous(previous));
            named.extend(Identifier::infer_from_path(previous).ok());
            (named, Vec::new())
        }
        Operation::ManualSegment { people, .. } => (people.clone(), Vec::new()),
        Operation::PersonRelationships {
            person,
            relationships,
            ..
        } => (
            vec![person.clone()],
            relationships.iter().map(|r| &r.with).collect(),
        ),
        Operation::IdentifyObject {
            object,
            relationships,
            ..
        }
        | Operation::ObjectRelationships {
            object,
            relationships,
            ..
        } => (
            relationships.iter().map(|r| r.with.clone()).collect(),
            vec![object],
        ),
        Operation::DeleteObject { object } => (Vec::new(), vec![object]),
        // Changes no stored state: the processor starts the broadcast's instances, and their
        // message ids make starting them again harmless.
        Operation::TriggerBroadcast { .. } => (Vec::new(), Vec::new()),
    }
}
