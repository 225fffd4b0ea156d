//! Writes to objects (companies, accounts, courses) and their relationships to people, for
//! the write transaction. Attribute maps are merged here rather than in SQL so that key order
//! survives; every statement reaches its rows by primary key.

use nudge_core::{JsonMap, ObjectRef, PersonKey, Timestamp, WorkspaceId};
use nudge_store::{StoreError, StoreResult};
use postgres::types::ToSql;
use postgres::Transaction;

use crate::errors::pg;
use crate::event_rows::to_json;
use crate::{read, Statements};

const UPDATE_OBJECT: &str = "UPDATE objects SET attributes = $4, updated_at = $5 \
     WHERE workspace_id = $1 AND type_id = $2 AND object_id = $3";
const INSERT_OBJECT: &str = "INSERT INTO objects (workspace_id, type_id, object_id, attributes, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
     ON CONFLICT (workspace_id, type_id, object_id) DO NOTHING";
const DELETE_OBJECT: &str = "WITH related_gone AS (DELETE FROM relationships \
     WHERE workspace_id = $1 AND type_id = $2 AND object_id = $3) \
     DELETE FROM objects WHERE workspace_id = $1 AND type_id = $2 AND object_id = $3";
const SET_RELATIONSHIP: &str = "WITH object_made AS (INSERT INTO objects (workspace_id, \
     type_id, object_id, attributes, created_at, updated_at) VALUES ($1, $3, $4, '{}', $6, $6) \
     ON CONFLICT (workspace_id, type_id, object_id) DO NOTHING) \
     INSERT INTO relationships (workspace_id, person_key, type_id, object_id, attributes, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (workspace_id, person_key, type_id, object_id) DO UPDATE \
     SET attributes = excluded.attributes, updated_at = excluded.updated_at";
const REMOVE_RELATIONSHIP: &str = "DELETE FROM relationships \
     WHERE workspace_id = $1 AND person_key = $2 AND type_id = $3 AND object_id = $4";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        UPDATE_OBJECT,
        INSERT_OBJECT,
        DELETE_OBJECT,
        SET_RELATIONSHIP,
        REMOVE_RELATIONSHIP,
    ]
}

fn run(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<u64> {
    let statement = statements.get(tx, sql)?;
    tx.execute(&statement, params).map_err(pg)
}

/// Creates the object if needed and merges `attributes` into its own.
pub(crate) fn upsert(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    object: &ObjectRef,
    attributes: &JsonMap,
    now: Timestamp,
) -> StoreResult<()> {
    // Read with a row lock, merge, write back. If another transaction creates the object
    // between our read and our insert, the second round merges into theirs.
    for _ in 0..2 {
        let current = read::object_attributes(tx, statements, ws, object, true)?;
        let exists = current.is_some();
        let mut merged = current.unwrap_or_default();
        merge_attributes(&mut merged, attributes);
        let merged = to_json(&merged)?;
        let params: [&(dyn ToSql + Sync); 5] = [
            &ws.0,
            &object.type_id,
            &object.object_id,
            &merged,
            &now.millis(),
        ];
        if exists {
            run(tx, statements, UPDATE_OBJECT, &params)?;
            return Ok(());
        }
        if run(tx, statements, INSERT_OBJECT, &params)? == 1 {
            return Ok(());
        }
    }
    Err(StoreError::Unavailable(format!(
        "object {}/{} was created and deleted concurrently; retry",
        object.type_id, object.object_id
    )))
}

/// Deletes the object and its relationships; `false` if there was none.
pub(crate) fn delete(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    object: &ObjectRef,
) -> StoreResult<bool> {
    let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &object.type_id, &object.object_id];
    Ok(run(tx, statements, DELETE_OBJECT, &params)? > 0)
}

/// Adds or replaces (`Some`) or removes (`None`) one person's relationship to the object.
pub(crate) fn set_relationship(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    key: PersonKey,
    object: &ObjectRef,
    attributes: Option<&JsonMap>,
    now: Timestamp,
) -> StoreResult<()> {
    let (type_id, object_id) = (&object.type_id, &object.object_id);
    match attributes {
        Some(attributes) => {
            let attributes = to_json(attributes)?;
            let params: [&(dyn ToSql + Sync); 6] = [
                &ws.0,
                &key.0,
                type_id,
                object_id,
                &attributes,
                &now.millis(),
            ];
            run(tx, statements, SET_RELATIONSHIP, &params)?;
        }
        None => {
            let params: [&(dyn ToSql + Sync); 4] = [&ws.0, &key.0, type_id, object_id];
            run(tx, statements, REMOVE_RELATIONSHIP, &params)?;
        }
    }
    Ok(())
}

/// Merges `changes` into `attributes` in place: `null` or `""` removes a key, anything else
/// sets it. Kept keys keep their position, new ones go last.
fn merge_attributes(attributes: &mut JsonMap, changes: &JsonMap) {
    for (name, value) in changes {
        if value.is_null() || value.as_str() == Some("") {
            // `remove` would swap the last key into the gap; `shift_remove` keeps the order.
            attributes.shift_remove(name);
        } else {
            attributes.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(start: serde_json::Value, changes: serde_json::Value, expected: &str) {
        let mut attributes = start.as_object().unwrap().clone();
        merge_attributes(&mut attributes, changes.as_object().unwrap());
        assert_eq!(serde_json::to_string(&attributes).unwrap(), expected);
    }

    #[test]
    fn merging_keeps_order_and_removes_blanks() {
        check(json!({"b": 1, "a": 2}), json!({"b": 3}), r#"{"b":3,"a":2}"#);
        check(
            json!({"b": 1, "a": 2, "c": 3}),
            json!({"b": null}),
            r#"{"a":2,"c":3}"#,
        );
        check(json!({"z": 1}), json!({"z": "", "y": 0}), r#"{"y":0}"#);
        check(json!({}), json!({"n": false}), r#"{"n":false}"#);
    }
}
