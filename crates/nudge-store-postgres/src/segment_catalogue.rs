//! Segment definitions on PostgreSQL: creating (with a chosen id or the next one), replacing
//! and deleting them, and reading their members and their people's transitions. Each change
//! runs in a transaction `PostgresStore` opened and raises the config version in it. Not on the
//! ingest path; memberships themselves are written by the write transaction.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Backfill, NewSegment, SegmentDefinition, SegmentTransition, StoreError, StoreResult,
};
use postgres::types::ToSql;
use postgres::{GenericClient, Row, Transaction};

use crate::definitions::{backfill_columns, backfill_params, people_count, raise_config_version};
use crate::errors::{column, corrupt, pg};
use crate::event_rows::to_json;
use crate::Statements;

/// The columns `definition` decodes, in its order.
macro_rules! segment_columns {
    () => {
        "id, name, description, conditions, version, created_at, updated_at, \
         backfill_complete, backfill_after, backfill_done, backfill_total"
    };
}

const SEGMENTS: &str = concat!(
    "SELECT ",
    segment_columns!(),
    " FROM segments WHERE workspace_id = $1 ORDER BY id"
);
const SEGMENT: &str = concat!(
    "SELECT ",
    segment_columns!(),
    " FROM segments WHERE workspace_id = $1 AND id = $2"
);
const SEGMENT_FOR_UPDATE: &str = concat!(
    "SELECT ",
    segment_columns!(),
    " FROM segments WHERE workspace_id = $1 AND id = $2 FOR UPDATE"
);
const INSERT_SEGMENT: &str = "INSERT INTO segments (workspace_id, name, description, manual, \
     conditions, version, created_at, updated_at, backfill_complete, backfill_after, \
     backfill_done, backfill_total) VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7, $8, $9, $10) \
     RETURNING id";
// ON CONFLICT rather than a failing INSERT, which would abort the whole transaction.
const INSERT_SEGMENT_WITH_ID: &str = "INSERT INTO segments (workspace_id, name, description, \
     manual, conditions, version, created_at, updated_at, backfill_complete, backfill_after, \
     backfill_done, backfill_total, id) VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7, $8, $9, $10, \
     $11) ON CONFLICT (id) DO NOTHING RETURNING id";
/// Moves the id sequence past an id chosen by hand, so the sequence never hands it out again.
/// Never lowers it: definition changes are serialised by the config version's row lock.
const ADVANCE_SEGMENT_IDS: &str = "SELECT setval(pg_get_serial_sequence('segments', 'id')::regclass, \
     GREATEST($1::BIGINT, pg_sequence_last_value(pg_get_serial_sequence('segments', 'id')::regclass)))";
const UPDATE_SEGMENT: &str = concat!(
    "UPDATE segments SET name = $3, description = $4, conditions = $5, version = version + 1, \
     updated_at = $6, backfill_complete = $7, backfill_after = $8, backfill_done = $9, \
     backfill_total = $10 WHERE workspace_id = $1 AND id = $2 RETURNING ",
    segment_columns!()
);
const DELETE_MEMBERS: &str =
    "DELETE FROM segment_members WHERE workspace_id = $1 AND segment_id = $2";
const DELETE_TRANSITIONS: &str =
    "DELETE FROM segment_transitions WHERE workspace_id = $1 AND segment_id = $2";
const DELETE_SEGMENT: &str = "DELETE FROM segments WHERE workspace_id = $1 AND id = $2";
const MEMBER_COUNT: &str =
    "SELECT count(*) FROM segment_members WHERE workspace_id = $1 AND segment_id = $2";
const MEMBERS_PAGE: &str = "SELECT person_key FROM segment_members \
     WHERE workspace_id = $1 AND segment_id = $2 AND person_key > $3 \
     ORDER BY person_key LIMIT $4";
const TRANSITIONS: &str = "SELECT id, person_key, segment_id, entered, at \
     FROM segment_transitions WHERE workspace_id = $1 AND person_key = $2 \
     ORDER BY id DESC LIMIT $3";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        SEGMENTS,
        SEGMENT,
        SEGMENT_FOR_UPDATE,
        INSERT_SEGMENT,
        INSERT_SEGMENT_WITH_ID,
        ADVANCE_SEGMENT_IDS,
        UPDATE_SEGMENT,
        DELETE_MEMBERS,
        DELETE_TRANSITIONS,
        DELETE_SEGMENT,
        MEMBER_COUNT,
        MEMBERS_PAGE,
        TRANSITIONS,
    ]
}

pub(crate) fn list(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<Vec<SegmentDefinition>> {
    let statement = statements.get(client, SEGMENTS)?;
    let rows = client.query(&statement, &[&ws.0]).map_err(pg)?;
    rows.iter().map(definition).collect()
}

pub(crate) fn get(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<Option<SegmentDefinition>> {
    let statement = statements.get(client, SEGMENT)?;
    let row = client.query_opt(&statement, &[&ws.0, &id]).map_err(pg)?;
    row.as_ref().map(definition).transpose()
}

pub(crate) fn create(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    new: &NewSegment,
    now: Timestamp,
) -> StoreResult<SegmentDefinition> {
    // First, so that its row lock orders this creation after any other definition change.
    raise_config_version(tx, statements)?;
    let backfill = match new.conditions {
        Some(_) => Backfill::starting(people_count(tx, statements, ws)?),
        None => Backfill::COMPLETE,
    };
    let conditions = new.conditions.as_ref().map(to_json).transpose()?;
    let (complete, after, done, total) = backfill_params(&backfill);
    let (manual, now) = (new.conditions.is_none(), now.millis());
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &ws.0,
        &new.name,
        &new.description,
        &manual,
        &conditions,
        &now,
        &complete,
        &after,
        &done,
        &total,
    ];
    let sql = match &new.id {
        Some(id) => {
            params.push(id);
            INSERT_SEGMENT_WITH_ID
        }
        None => INSERT_SEGMENT,
    };
    let statement = statements.get(tx, sql)?;
    let Some(row) = tx.query_opt(&statement, &params).map_err(pg)? else {
        return Err(StoreError::Conflict(format!(
            "segment id {} is already taken",
            new.id.unwrap_or_default()
        )));
    };
    let id: i64 = column(&row, 0)?;
    if new.id.is_some() {
        let statement = statements.get(tx, ADVANCE_SEGMENT_IDS)?;
        tx.execute(&statement, &[&id]).map_err(pg)?;
    }
    Ok(SegmentDefinition {
        id,
        name: new.name.clone(),
        description: new.description.clone(),
        conditions: new.conditions.clone(),
        version: 1,
        created_at: Timestamp::from_millis(now),
        updated_at: Timestamp::from_millis(now),
        backfill,
    })
}

pub(crate) fn update(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
    new: &NewSegment,
    now: Timestamp,
) -> StoreResult<Option<SegmentDefinition>> {
    let statement = statements.get(tx, SEGMENT_FOR_UPDATE)?;
    let Some(row) = tx.query_opt(&statement, &[&ws.0, &id]).map_err(pg)? else {
        return Ok(None);
    };
    let current = definition(&row)?;
    if current.manual() != new.conditions.is_none() {
        let (from, to) = match current.manual() {
            true => ("manual", "data-driven"),
            false => ("data-driven", "manual"),
        };
        return Err(StoreError::Conflict(format!(
            "segment {id} is {from}; it cannot become {to}"
        )));
    }
    let backfill = if current.conditions == new.conditions {
        current.backfill
    } else {
        Backfill::starting(people_count(tx, statements, ws)?)
    };
    let conditions = new.conditions.as_ref().map(to_json).transpose()?;
    let (complete, after, done, total) = backfill_params(&backfill);
    let statement = statements.get(tx, UPDATE_SEGMENT)?;
    let row = tx
        .query_one(
            &statement,
            &[
                &ws.0,
                &id,
                &new.name,
                &new.description,
                &conditions,
                &now.millis(),
                &complete,
                &after,
                &done,
                &total,
            ],
        )
        .map_err(pg)?;
    raise_config_version(tx, statements)?;
    definition(&row).map(Some)
}

/// `false` when there was no such segment (and nothing changed).
pub(crate) fn delete(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<bool> {
    let mut deleted = 0;
    for sql in [DELETE_MEMBERS, DELETE_TRANSITIONS, DELETE_SEGMENT] {
        let statement = statements.get(tx, sql)?;
        deleted = tx.execute(&statement, &[&ws.0, &id]).map_err(pg)?;
    }
    if deleted > 0 {
        raise_config_version(tx, statements)?;
    }
    Ok(deleted > 0)
}

pub(crate) fn member_count(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<u64> {
    let statement = statements.get(client, MEMBER_COUNT)?;
    let row = client.query_one(&statement, &[&ws.0, &id]).map_err(pg)?;
    let count: i64 = column(&row, 0)?;
    Ok(count.unsigned_abs())
}

pub(crate) fn members(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
    after: Option<PersonKey>,
    limit: usize,
) -> StoreResult<Vec<PersonKey>> {
    let after = after.map_or(i64::MIN, |key| key.0);
    let statement = statements.get(client, MEMBERS_PAGE)?;
    let rows = client
        .query(&statement, &[&ws.0, &id, &after, &as_limit(limit)])
        .map_err(pg)?;
    rows.iter()
        .map(|row| column(row, 0).map(PersonKey))
        .collect()
}

pub(crate) fn transitions(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    person: PersonKey,
    limit: usize,
) -> StoreResult<Vec<SegmentTransition>> {
    let statement = statements.get(client, TRANSITIONS)?;
    let rows = client
        .query(&statement, &[&ws.0, &person.0, &as_limit(limit)])
        .map_err(pg)?;
    rows.iter()
        .map(|row| {
            Ok(SegmentTransition {
                id: column(row, 0)?,
                person: PersonKey(column(row, 1)?),
                segment_id: column(row, 2)?,
                entered: column(row, 3)?,
                at: Timestamp::from_millis(column(row, 4)?),
            })
        })
        .collect()
}

/// Decodes the columns of `segment_columns!`.
fn definition(row: &Row) -> StoreResult<SegmentDefinition> {
    let conditions: Option<&str> = column(row, 3)?;
    Ok(SegmentDefinition {
        id: column(row, 0)?,
        name: column(row, 1)?,
        description: column(row, 2)?,
        conditions: conditions
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt("segment conditions", e))?,
        version: column(row, 4)?,
        created_at: Timestamp::from_millis(column(row, 5)?),
        updated_at: Timestamp::from_millis(column(row, 6)?),
        backfill: backfill_columns(row, 7)?,
    })
}

pub(crate) fn as_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
