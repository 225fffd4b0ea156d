//! [`SendHistory`] on [`PostgresStore`]: a person's recent marketing sends, read through the
//! partial `journey_outbox_person_sent` index on `(workspace_id, person_key, sent_at)`. The
//! channel and the payload's `transactional` flag are checked on the few rows the seek reads.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{MarketingSend, SendHistory, StoreResult};
use postgres::types::ToSql;

use crate::errors::column;
use crate::PostgresStore;

/// The payload is JSON text; only JSON `true` marks a message transactional. The channel
/// list is `MARKETING_CHANNELS`.
const MARKETING_SENDS: &str = "SELECT message_id, sent_at FROM journey_outbox \
     WHERE workspace_id = $1 AND person_key = $2 AND sent_at >= $3 \
     AND channel IN ('email', 'sms', 'push') \
     AND (payload::jsonb -> 'transactional') IS DISTINCT FROM 'true'::jsonb \
     ORDER BY sent_at";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![MARKETING_SENDS]
}

impl SendHistory for PostgresStore {
    fn marketing_sends_since(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        since: Timestamp,
    ) -> StoreResult<Vec<MarketingSend>> {
        let since = since.millis();
        let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &person.0, &since];
        let rows = self.with_conn(|c, s| s.query(c, MARKETING_SENDS, &params))?;
        rows.iter()
            .map(|row| {
                Ok(MarketingSend {
                    delivery_id: column(row, 0)?,
                    sent_at: Timestamp::from_millis(column(row, 1)?),
                })
            })
            .collect()
    }
}
