//! What the log processor reads ahead for a batch on PostgreSQL: the people its entries name,
//! resolved together, and those people's rows with their schedules, fold states and
//! memberships, one statement for the whole batch (keys as an array) instead of several round
//! trips per person. Every statement reaches its rows through a key or index (`plans.rs` checks).

use std::collections::HashMap;

use nudge_core::{Identifier, PersonKey, WorkspaceId};
use nudge_store::{PagedPerson, PersonSchedule, StoreResult};
use postgres::types::ToSql;

use crate::errors::{column, corrupt};
use crate::read::person_from_row;
use crate::write_tx::PgWriteTx;

/// Each identifier with the person it names (NULL: nobody). A lookup per identifier by its
/// key, written as a subquery so no plan can turn it into a join that reads the whole table
/// (a plan cached while the table was still small would).
const RESOLVE_ALL: &str = "SELECT wanted.kind, wanted.value, (SELECT i.person_key \
     FROM identifiers i WHERE i.workspace_id = $1 AND i.kind = wanted.kind \
     AND i.value = wanted.value) \
     FROM unnest($2::TEXT[], $3::TEXT[]) AS wanted (kind, value)";
/// The people with their schedule, fold states and segment ids, in one statement (columns
/// 0–8 as `person_from_row` reads them, then whether there is a schedule and its two, the
/// fold states and the segment ids), each joined through its table's key.
const PEOPLE: &str = "SELECT p.key, p.cio_id, p.id, p.email, p.phone, p.attributes, \
     p.attribute_times, p.created_at, p.updated_at, s.person_key IS NOT NULL, s.next_check, \
     s.segment_checks, c.states, \
     ARRAY(SELECT m.segment_id FROM segment_members m WHERE m.workspace_id = $1 \
     AND m.person_key = p.key ORDER BY m.segment_id) \
     FROM people p \
     LEFT JOIN person_schedules s ON s.workspace_id = $1 AND s.person_key = p.key \
     LEFT JOIN computed_states c ON c.workspace_id = $1 AND c.person_key = p.key \
     WHERE p.workspace_id = $1 AND p.key = ANY($2::INT8[]) ORDER BY p.key";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![RESOLVE_ALL, PEOPLE]
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
        if let Some(key) = column::<Option<i64>>(&row, 2)? {
            found.insert((column(&row, 0)?, column(&row, 1)?), PersonKey(key));
        }
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
        let schedule = if column::<bool>(&row, 9)? {
            let checks: Option<&str> = column(&row, 11)?;
            Some(PersonSchedule::from_columns(column(&row, 10)?, checks)?)
        } else {
            None
        };
        let computed_states = match column::<Option<&str>>(&row, 12)? {
            Some(states) => {
                serde_json::from_str(states).map_err(|e| corrupt("computed states", e))?
            }
            None => Default::default(),
        };
        people.push(PagedPerson {
            state: person_from_row(&row)?,
            schedule,
            computed_states,
            segment_ids: column(&row, 13)?,
            events: Vec::new(),
        });
    }
    Ok(people)
}
