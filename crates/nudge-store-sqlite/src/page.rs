//! A backfill page on SQLite: a page of people with everything one evaluation reads (their
//! rows, schedules, fold states, memberships and events), in one range read per table over
//! the page's key range instead of several statements per person.

use std::collections::HashMap;

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{EventRead, PagedPerson, PersonSchedule, StoreResult};
use rusqlite::{params, Connection};

use crate::codec::{from_json, PersonRow};
use crate::errors::from_sqlite;
use crate::processing::EventRow;
use crate::read::limit;

const PAGE_PEOPLE: &str = "SELECT key, cio_id, id, email, phone, attributes, attribute_times, \
     created_at, updated_at FROM people WHERE workspace_id = ?1 AND key > ?2 \
     ORDER BY key LIMIT ?3";
const PAGE_SCHEDULES: &str = "SELECT person_key, next_check, segment_checks FROM person_schedules \
     WHERE workspace_id = ?1 AND person_key BETWEEN ?2 AND ?3";
const PAGE_COMPUTED_STATES: &str = "SELECT person_key, states FROM computed_states \
     WHERE workspace_id = ?1 AND person_key BETWEEN ?2 AND ?3";
const PAGE_MEMBERSHIPS: &str = "SELECT person_key, segment_id FROM segment_members \
     WHERE workspace_id = ?1 AND person_key BETWEEN ?2 AND ?3 ORDER BY person_key, segment_id";
/// One name per statement: a range of the (workspace, person, name, timestamp, kind) index
/// over the page's people, filtered on the name, time and kind inside the index, so only the
/// rows asked for are looked up (the planner would otherwise walk `activities_person` and look
/// up every row of the page's people for each name).
const PAGE_EVENTS: &str = "SELECT person_key, seq, name, timestamp, data \
     FROM activities INDEXED BY activities_person_name \
     WHERE workspace_id = ?1 AND person_key BETWEEN ?2 AND ?3 AND name = ?4 \
     AND timestamp >= ?5 AND kind IN ('event', 'page', 'screen')";
/// The same without the data: answered from the index alone.
const PAGE_EVENT_TIMES: &str = "SELECT person_key, seq, name, timestamp, NULL \
     FROM activities INDEXED BY activities_person_name \
     WHERE workspace_id = ?1 AND person_key BETWEEN ?2 AND ?3 AND name = ?4 \
     AND timestamp >= ?5 AND kind IN ('event', 'page', 'screen')";

/// The statements, for the plan test.
#[cfg(test)]
pub(crate) const STATEMENTS: [&str; 6] = [
    PAGE_PEOPLE,
    PAGE_SCHEDULES,
    PAGE_COMPUTED_STATES,
    PAGE_MEMBERSHIPS,
    PAGE_EVENTS,
    PAGE_EVENT_TIMES,
];

pub(crate) fn people_page(
    conn: &Connection,
    ws: WorkspaceId,
    after: i64,
    max: usize,
    reads: &[EventRead],
) -> StoreResult<Vec<PagedPerson>> {
    let mut stmt = conn.prepare_cached(PAGE_PEOPLE).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, after, limit(max)], PersonRow::read)
        .map_err(from_sqlite)?;
    let mut page = Vec::new();
    for row in rows {
        page.push(PagedPerson {
            state: row.map_err(from_sqlite)?.decode()?,
            schedule: None,
            computed_states: Default::default(),
            segment_ids: Vec::new(),
            events: Vec::new(),
        });
    }
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(page);
    };
    let range = (ws.0, first.state.key.0, last.state.key.0);
    let at: HashMap<i64, usize> = page
        .iter()
        .enumerate()
        .map(|(i, p)| (p.state.key.0, i))
        .collect();
    let person = |key: i64| at.get(&key).copied();

    let schedules = each_row(
        conn,
        PAGE_SCHEDULES,
        params![range.0, range.1, range.2],
        |row| {
            let columns: (i64, Option<i64>, Option<String>) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            Ok(columns)
        },
    )?;
    for (key, next, checks) in schedules {
        if let Some(i) = person(key) {
            page[i].schedule = Some(PersonSchedule::from_columns(next, checks.as_deref())?);
        }
    }
    let states = each_row(
        conn,
        PAGE_COMPUTED_STATES,
        params![range.0, range.1, range.2],
        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
    )?;
    for (key, states) in states {
        if let Some(i) = person(key) {
            page[i].computed_states = from_json(&states, "computed attribute states")?;
        }
    }
    let members = each_row(
        conn,
        PAGE_MEMBERSHIPS,
        params![range.0, range.1, range.2],
        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
    )?;
    for (key, segment) in members {
        if let Some(i) = person(key) {
            page[i].segment_ids.push(segment);
        }
    }
    // Reads with data first, so where two reads bring an event the copy with data is kept.
    let mut ordered: Vec<&EventRead> = reads.iter().collect();
    ordered.sort_by_key(|read| !read.with_data);
    for read in ordered {
        let since = read.since.map_or(i64::MIN, Timestamp::millis);
        let sql = if read.with_data {
            PAGE_EVENTS
        } else {
            PAGE_EVENT_TIMES
        };
        let mut names: Vec<&String> = read.names.iter().collect();
        names.sort();
        names.dedup();
        for name in names {
            let sql_params = params![range.0, range.1, range.2, name, since];
            let events = each_row(conn, sql, sql_params, |row| {
                Ok((row.get::<_, i64>(0)?, EventRow::read_from(row, 1)?))
            })?;
            for (key, event) in events {
                if let Some(i) = person(key) {
                    page[i].events.push(event.decode()?);
                }
            }
        }
    }
    for p in &mut page {
        // Stable: of two copies of an event, the one with data (read first) stays first.
        p.events.sort_by_key(|e| (e.timestamp, e.seq));
        p.events.dedup_by_key(|e| e.seq);
    }
    Ok(page)
}

/// Runs one cached statement and collects its rows.
fn each_row<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let rows = stmt.query_map(params, read).map_err(from_sqlite)?;
    rows.collect::<Result<_, _>>().map_err(from_sqlite)
}
