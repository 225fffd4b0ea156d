//! [`SendHistory`] on [`SqliteStore`]: a person's recent marketing sends, read through the
//! partial `journey_outbox_person_sent` index on `(workspace_id, person_key, sent_at)`. The
//! channel and the payload's `transactional` flag are checked on the few rows the seek reads.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{MarketingSend, SendHistory, StoreResult};
use rusqlite::params;

use crate::errors::from_sqlite;
use crate::SqliteStore;

/// `json_extract` reads JSON `true` as 1. The channel list is `MARKETING_CHANNELS`.
const MARKETING_SENDS: &str = "SELECT message_id, sent_at FROM journey_outbox \
     WHERE workspace_id = ?1 AND person_key = ?2 AND sent_at >= ?3 \
     AND channel IN ('email', 'sms', 'push') \
     AND json_extract(payload, '$.transactional') IS NOT 1 \
     ORDER BY sent_at";

impl SendHistory for SqliteStore {
    fn marketing_sends_since(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        since: Timestamp,
    ) -> StoreResult<Vec<MarketingSend>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(MARKETING_SENDS).map_err(from_sqlite)?;
            let rows = stmt
                .query_map(params![ws.0, person.0, since.millis()], |row| {
                    Ok(MarketingSend {
                        delivery_id: row.get(0)?,
                        sent_at: Timestamp::from_millis(row.get(1)?),
                    })
                })
                .map_err(from_sqlite)?;
            rows.collect::<Result<_, _>>().map_err(from_sqlite)
        })
    }
}

/// The query plan of `sql` with every parameter NULL, one line per step.
#[cfg(test)]
pub(crate) fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    stmt.query_map(rusqlite::params_from_iter(nulls), |row| row.get(3))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marketing_sends_seek_the_persons_sent_index() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let plan = plan(&conn, MARKETING_SENDS);
        assert_eq!(
            plan,
            vec![
                "SEARCH journey_outbox USING INDEX journey_outbox_person_sent \
                 (workspace_id=? AND person_key=? AND sent_at>?)"
                    .to_string()
            ],
        );
    }
}
