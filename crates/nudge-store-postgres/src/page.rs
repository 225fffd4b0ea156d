//! A backfill page on PostgreSQL: a page of people with everything one evaluation reads
//! (their rows, schedules, fold states, memberships and events), in one range read per table
//! over the page's key range instead of several round trips per person.

use std::collections::HashMap;

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{EventRead, PagedPerson, PersonSchedule, StoreResult};

use crate::errors::{column, corrupt};
use crate::processor_reads::event_from_row;
use crate::read::person_from_row;
use crate::segment_catalogue::as_limit;
use crate::write_tx::PgWriteTx;

const PAGE_PEOPLE: &str = "SELECT key, cio_id, id, email, phone, attributes, attribute_times, \
     created_at, updated_at FROM people WHERE workspace_id = $1 AND key > $2 \
     ORDER BY key LIMIT $3";
const PAGE_SCHEDULES: &str = "SELECT person_key, next_check, segment_checks FROM person_schedules \
     WHERE workspace_id = $1 AND person_key BETWEEN $2 AND $3";
const PAGE_COMPUTED_STATES: &str = "SELECT person_key, states FROM computed_states \
     WHERE workspace_id = $1 AND person_key BETWEEN $2 AND $3";
const PAGE_MEMBERSHIPS: &str = "SELECT person_key, segment_id FROM segment_members \
     WHERE workspace_id = $1 AND person_key BETWEEN $2 AND $3 ORDER BY person_key, segment_id";
/// Every name of one read in one statement: the (workspace, person, name, timestamp) index
/// over the page's people, the names and time checked inside the index.
const PAGE_EVENTS: &str = "SELECT person_key, seq, name, \"timestamp\", data FROM activities \
     WHERE workspace_id = $1 AND person_key BETWEEN $2 AND $3 AND name = ANY($4::TEXT[]) \
     AND \"timestamp\" >= $5 AND kind IN ('event', 'page', 'screen')";
/// The same without the data: the index carries kind and seq, so an index-only scan answers.
const PAGE_EVENT_TIMES: &str = "SELECT person_key, seq, name, \"timestamp\", NULL::TEXT \
     FROM activities WHERE workspace_id = $1 AND person_key BETWEEN $2 AND $3 \
     AND name = ANY($4::TEXT[]) AND \"timestamp\" >= $5 AND kind IN ('event', 'page', 'screen')";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        PAGE_PEOPLE,
        PAGE_SCHEDULES,
        PAGE_COMPUTED_STATES,
        PAGE_MEMBERSHIPS,
        PAGE_EVENTS,
        PAGE_EVENT_TIMES,
    ]
}

pub(crate) fn people_page(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    after: i64,
    limit: usize,
    reads: &[EventRead],
) -> StoreResult<Vec<PagedPerson>> {
    let rows = tx.query(PAGE_PEOPLE, &[&ws.0, &after, &as_limit(limit)])?;
    let mut page = Vec::with_capacity(rows.len());
    for row in &rows {
        page.push(PagedPerson {
            state: person_from_row(row)?,
            schedule: None,
            computed_states: Default::default(),
            segment_ids: Vec::new(),
            events: Vec::new(),
        });
    }
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(page);
    };
    let (first, last) = (first.state.key.0, last.state.key.0);
    let at: HashMap<i64, usize> = page
        .iter()
        .enumerate()
        .map(|(i, p)| (p.state.key.0, i))
        .collect();
    let range: [&(dyn postgres::types::ToSql + Sync); 3] = [&ws.0, &first, &last];

    for row in tx.query(PAGE_SCHEDULES, &range)? {
        if let Some(&i) = at.get(&column::<i64>(&row, 0)?) {
            let checks: Option<&str> = column(&row, 2)?;
            page[i].schedule = Some(PersonSchedule::from_columns(column(&row, 1)?, checks)?);
        }
    }
    for row in tx.query(PAGE_COMPUTED_STATES, &range)? {
        if let Some(&i) = at.get(&column::<i64>(&row, 0)?) {
            let states: &str = column(&row, 1)?;
            page[i].computed_states =
                serde_json::from_str(states).map_err(|e| corrupt("computed states", e))?;
        }
    }
    for row in tx.query(PAGE_MEMBERSHIPS, &range)? {
        if let Some(&i) = at.get(&column::<i64>(&row, 0)?) {
            page[i].segment_ids.push(column(&row, 1)?);
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
        let params: [&(dyn postgres::types::ToSql + Sync); 5] =
            [&ws.0, &first, &last, &read.names, &since];
        for row in tx.query(sql, &params)? {
            if let Some(&i) = at.get(&column::<i64>(&row, 0)?) {
                page[i].events.push(event_from_row(&row, 1)?);
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
