//! Reads the log processor makes both inside the writer's transaction and outside it (previews,
//! status): a person's events by name, and a workspace's processed offset. One statement and
//! one decoder each, so both sides answer alike. Nothing here writes.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{EventRead, StoreResult, StoredEvent};
use postgres::GenericClient;

use crate::errors::{column, pg};
use crate::read::json_map;
use crate::Statements;

/// One statement for every name: the (workspace, person, name, timestamp) index answers each
/// name with a range from `since`; the kinds are a filter on those few rows.
const PERSON_EVENTS: &str = "SELECT seq, name, \"timestamp\", data FROM activities \
     WHERE workspace_id = $1 AND person_key = $2 AND name = ANY($3::TEXT[]) \
     AND \"timestamp\" >= $4 AND kind IN ('event', 'page', 'screen') \
     ORDER BY \"timestamp\", seq";
/// The same without the data: the index carries kind and seq, so an index-only scan answers.
const PERSON_EVENT_TIMES: &str = "SELECT seq, name, \"timestamp\", NULL::TEXT FROM activities \
     WHERE workspace_id = $1 AND person_key = $2 AND name = ANY($3::TEXT[]) \
     AND \"timestamp\" >= $4 AND kind IN ('event', 'page', 'screen') \
     ORDER BY \"timestamp\", seq";
const PROCESSED_OFFSET: &str = "SELECT \"offset\" FROM processed_offsets WHERE workspace_id = $1";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![PERSON_EVENTS, PERSON_EVENT_TIMES, PROCESSED_OFFSET]
}

pub(crate) fn person_events(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    person: PersonKey,
    read: &EventRead,
) -> StoreResult<Vec<StoredEvent>> {
    if read.names.is_empty() {
        return Ok(Vec::new());
    }
    let since = read.since.map_or(i64::MIN, Timestamp::millis);
    let sql = if read.with_data {
        PERSON_EVENTS
    } else {
        PERSON_EVENT_TIMES
    };
    let statement = statements.get(client, sql)?;
    let rows = client
        .query(&statement, &[&ws.0, &person.0, &read.names, &since])
        .map_err(pg)?;
    rows.iter().map(|row| event_from_row(row, 0)).collect()
}

/// An event from the columns `seq, name, timestamp, data` starting at `first` (data NULL when
/// not read).
pub(crate) fn event_from_row(row: &postgres::Row, first: usize) -> StoreResult<StoredEvent> {
    let data: Option<&str> = column(row, first + 3)?;
    Ok(StoredEvent {
        seq: column(row, first)?,
        name: column(row, first + 1)?,
        timestamp: Timestamp::from_millis(column(row, first + 2)?),
        data: match data {
            Some(data) => json_map(data, "activity data")?,
            None => Default::default(),
        },
    })
}

pub(crate) fn processed_offset(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<i64> {
    let statement = statements.get(client, PROCESSED_OFFSET)?;
    let row = client.query_opt(&statement, &[&ws.0]).map_err(pg)?;
    Ok(row.map(|row| column(&row, 0)).transpose()?.unwrap_or(0))
}
