//! Operations on what hangs off people: devices, manual segment memberships, objects and
//! person-object relationships.

use nudge_core::operation::Relationship;
use nudge_core::{Activity, ActivityKind, Identifier, JsonMap, ObjectRef, Operation};
use nudge_store::{Marked, StoreResult};
use serde_json::json;

use super::{Cx, Outcome};

pub(crate) fn apply(cx: &mut Cx<'_>, operation: &Operation) -> StoreResult<Outcome> {
    match operation {
        Operation::AddDevice { person, device } => {
            let key = match cx.resolve_or_create(person)? {
                Ok(key) => key,
                Err(reason) => return Ok(Outcome::Dropped(reason)),
            };
            // Customer.io's default: a device without `last_used` was used when it was sent.
            let mut device = device.clone();
            device.last_used.get_or_insert(cx.now);
            cx.tx.upsert_device(cx.ws, key, &device)?;
            let data = json!({"token": device.token, "platform": device.platform});
            cx.record(key, timeline(cx, ActivityKind::DeviceUpdated, data))?;
            Ok(Outcome::Applied)
        }
        Operation::DeleteDevice { person, token } => {
            let Some(key) = cx.tx.resolve(cx.ws, person)? else {
                return Ok(Outcome::Dropped(format!("no person matches {person}")));
            };
            if !cx.tx.delete_device(cx.ws, key, token)? {
                return Ok(Outcome::Dropped(format!("{person} has no device {token}")));
            }
            let data = json!({"token": token});
            cx.record(key, timeline(cx, ActivityKind::DeviceDeleted, data))?;
            Ok(Outcome::Applied)
        }
        Operation::ManualSegment {
            segment_id,
            people,
            add,
        } => manual_segment(cx, *segment_id, people, *add),
        Operation::PersonRelationships {
            person,
            add,
            relationships,
        } => {
            let key = match cx.resolve_or_create(person)? {
                Ok(key) => key,
                Err(reason) => return Ok(Outcome::Dropped(reason)),
            };
            for Relationship { with, attributes } in relationships {
                let attrs = add.then_some(attributes);
                cx.tx.set_relationship(cx.ws, key, with, attrs, cx.now)?;
                cx.mark(Marked::Object(with))?;
            }
            cx.mark(Marked::Person(key))?;
            Ok(Outcome::Applied)
        }
        Operation::IdentifyObject {
            object,
            attributes,
            relationships,
        } => {
            cx.tx.upsert_object(cx.ws, object, attributes, cx.now)?;
            cx.mark(Marked::Object(object))?;
            relate_people(cx, object, true, relationships)
        }
        Operation::DeleteObject { object } => {
            if cx.tx.delete_object(cx.ws, object)? {
                cx.mark(Marked::Object(object))?;
                Ok(Outcome::Applied)
            } else {
                Ok(Outcome::Dropped(format!(
                    "no object {} of type {}",
                    object.object_id, object.type_id
                )))
            }
        }
        Operation::ObjectRelationships {
            object,
            add,
            relationships,
        } => relate_people(cx, object, *add, relationships),
        // The remaining operations are person-level and handled by the caller.
        _ => Ok(Outcome::Refused(format!(
            "operation {} is not a relation operation",
            operation.name()
        ))),
    }
}

fn timeline(cx: &Cx<'_>, kind: ActivityKind, data: serde_json::Value) -> Activity {
    Activity {
        kind,
        name: String::new(),
        timestamp: cx.now,
        data: data.as_object().cloned().unwrap_or_default(),
        event_id: None,
        can_trigger: true,
    }
}

fn manual_segment(
    cx: &mut Cx<'_>,
    segment_id: i64,
    people: &[Identifier],
    add: bool,
) -> StoreResult<Outcome> {
    match cx.tx.segment_is_manual(cx.ws, segment_id)? {
        None => {
            return Ok(Outcome::Refused(format!(
                "segment {segment_id} does not exist"
            )))
        }
        Some(false) => {
            return Ok(Outcome::Refused(format!(
                "segment {segment_id} is data-driven; only manual segments take people by API"
            )))
        }
        Some(true) => {}
    }
    // Customer.io ignores identifiers that match nobody; so do we.
    for person in people {
        if let Some(key) = cx.tx.resolve(cx.ws, person)? {
            cx.tx
                .set_segment_membership(cx.ws, segment_id, key, add, cx.now)?;
            cx.mark(Marked::Person(key))?;
        }
    }
    Ok(Outcome::Applied)
}

fn relate_people(
    cx: &mut Cx<'_>,
    object: &ObjectRef,
    add: bool,
    relationships: &[Relationship<Identifier>],
) -> StoreResult<Outcome> {
    let mut skipped = Vec::new();
    for Relationship { with, attributes } in relationships {
        let key = if add {
            cx.resolve_or_create(with)?.ok()
        } else {
            cx.tx.resolve(cx.ws, with)?
        };
        match key {
            Some(key) => {
                let attrs: Option<&JsonMap> = add.then_some(attributes);
                cx.tx.set_relationship(cx.ws, key, object, attrs, cx.now)?;
                cx.mark(Marked::Person(key))?;
                cx.mark(Marked::Object(object))?;
            }
            None => skipped.push(with.to_string()),
        }
    }
    if skipped.is_empty() {
        Ok(Outcome::Applied)
    } else {
        Ok(Outcome::Dropped(format!(
            "relationships skipped for unknown or suppressed people: {}",
            skipped.join(", ")
        )))
    }
}
