//! What the log processor reads ahead for a batch on PostgreSQL: the people its entries name,
//! resolved together, and those people's rows, schedules, fold states and memberships, one
//! statement per table for the whole batch (keys as an array) instead of several round trips
//! per person. Every statement reaches its rows through a key or index (`plans.rs` checks).

use std::collections::HashMap;

use nudge_core::{Identifier, PersonKey, WorkspaceId};
use nudge_store::{PagedPerson, PersonSchedule, StoreResult};
use postgres::types::ToSql;

use crate::errors::{column, corrupt};
use crate::read::person_from_row;
use crate::write_tx::PgWriteTx;

const RESOLVE_ALL: &str = "SELECT wanted.kind, wanted.value, i.person_key \
     FROM unnest($2::TEXT[], $3::TEXT[]) AS wanted (kind, value) \
     JOIN identifiers i ON i.workspace_id = $1 AND i.kind = wanted.kind \
     AND i.value = wanted.value";
const PEOPLE: &str = "SELECT key, cio_id, id, email, phone, attributes, attribute_times, \
     created_at, updated_at FROM people WHERE workspace_id = $1 AND key = ANY($2::INT8[]) \
     ORDER BY key";
const SCHEDULES: &str = "SELECT person_key, next_check, segment_checks FROM person_schedules \
     WHERE workspace_id = $1 AND person_key = ANY($2::INT8[])";
const COMPUTED_STATES: &str = "SELECT person_key, states FROM computed_states \
     WHERE workspace_id = $1 AND person_key = ANY($2::INT8[])";
const MEMBERSHIPS: &str = "SELECT person_key, segment_id FROM segment_members \
     WHERE workspace_id = $1 AND person_key = ANY($2::INT8[]) ORDER BY person_key, segment_id";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![RESOLVE_ALL, PEOPLE, SCHEDULES, COMPUTED_STATES, MEMBERSHIPS]
}

pub(crate) fn resolve_all(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    identifiers: &[Identifier],
) -> StoreResult<Vec<Option<PersonKey>>> {
    if identifiers.is_empty() {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = identifiers.iter().map(|i| i.kind().as_str()).collect();
    let values: Vec<&str> = identifiers.iter().map(Identifier::value).collect();
    let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &kinds, &values];
    let mut found: HashMap<(String, String), PersonKey> = HashMap::new();
    for row in tx.query(RESOLVE_ALL, &params)? {
        found.insert(
            (column(&row, 0)?, column(&row, 1)?),
            PersonKey(column(&row, 2)?),
        );
    }
    Ok(identifiers
        .iter()
        .map(|i| {
            let wanted = (i.kind().as_str().to_string(), i.value().to_string());
            found.get(&wanted).copied()
        })
        .collect())
}

pub(crate) fn people_by_key(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    keys: &[PersonKey],
) -> StoreResult<Vec<PagedPerson>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let params: [&(dyn ToSql + Sync); 2] = [&ws.0, &keys];
    let mut people = Vec::with_capacity(keys.len());
    for row in tx.query(PEOPLE, &params)? {
        people.push(PagedPerson {
            state: person_from_row(&row)?,
            schedule: None,
            computed_states: Default::default(),
            segment_ids: Vec::new(),
            events: Vec::new(),
        });
    }
    if people.is_empty() {
        return Ok(people);
    }
    let at: HashMap<i64, usize> = people
        .iter()
        .enumerate()
        .map(|(i, p)| (p.state.key.0, i))
        .collect();
    for row in tx.query(SCHEDULES, &params)? {
        if let Some(&i) = at.get(&column::<i64>(&row, 0)?) {
            let checks: Option<&str> = column(&row, 2)?;
            people[i].schedule = Some(PersonSchedule::from_columns(column(&row, 1)?, checks)?);
        }
    }
    for row in tx.query(COMPUTED_STATES, &params)? {
        if let Some(&i) = at.get(&column::<i64>(&row, 0)?) {
            let states: &str = column(&row, 1)?;
            people[i].computed_states =
                serde_json::from_str(states).map_err(|e| corrupt("computed states", e))?;
        }
    }
    for row in tx.query(MEMBERSHIPS, &params)? {
        if let Some(&i) = at.get(&column::<i64>(&row, 0)?) {
            people[i].segment_ids.push(column(&row, 1)?);
        }
    }
    Ok(people)
}
