//! The delivery worker's batched re-check reads on SQLite: a claimed batch's instances, and
//! its people, suppressed addresses, marketing sends and exit events, each call in one read
//! transaction on one pooled reader. Statements run in process, one cached statement per row
//! wanted (each a seek of its index, checked below); what the batch saves is the pool checkout,
//! the transaction and the hand-off to a blocking thread that each delivery used to take.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Address, AddressSuppression, EventRead, InstanceRow, MarketingSend, RecheckQuery, RecheckReads,
    StoreResult, SuppressionCategory,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::errors::{corrupt, from_sqlite};
use crate::{journeys, processing, read};

const SUPPRESSION: &str = "SELECT address, category, reason, delivery_id, created_at \
     FROM address_suppressions WHERE workspace_id = ?1 AND address = ?2";
/// As `SendHistory` reads them: `json_extract` reads JSON `true` as 1; the channel list is
/// `MARKETING_CHANNELS`.
const MARKETING_SENDS: &str = "SELECT message_id, sent_at FROM journey_outbox \
     WHERE workspace_id = ?1 AND person_key = ?2 AND sent_at >= ?3 \
     AND channel IN ('email', 'sms', 'push') \
     AND json_extract(payload, '$.transactional') IS NOT 1 \
     ORDER BY sent_at";

/// The instances with these ids, by id.
pub(super) fn instances(
    conn: &Connection,
    ws: WorkspaceId,
    ids: &[i64],
) -> StoreResult<Vec<InstanceRow>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        rows.extend(journeys::instance(conn, ws, id)?);
    }
    Ok(rows)
}

/// Everything `query` names, read on `conn` (a snapshot).
pub(super) fn recheck_reads(
    conn: &Connection,
    ws: WorkspaceId,
    query: &RecheckQuery,
) -> StoreResult<RecheckReads> {
    let mut reads = RecheckReads::default();
    for &key in &query.people {
        if reads.people.contains_key(&key) {
            continue;
        }
        if let Some(view) = read::person(conn, ws, key)? {
            reads.people.insert(key, view);
        }
    }
    for address in &query.addresses {
        if reads.suppressions.contains_key(address) {
            continue;
        }
        if let Some(found) = suppression(conn, ws, address)? {
            reads.suppressions.insert(address.clone(), found);
        }
    }
    if let Some(sends) = &query.sends {
        for &person in &sends.people {
            if reads.sends.contains_key(&person) {
                continue;
            }
            let found = marketing_sends(conn, ws, person, sends.since)?;
            if !found.is_empty() {
                reads.sends.insert(person, found);
            }
        }
    }
    for events in &query.events {
        let read = EventRead {
            names: events.names.clone(),
            since: events.since,
            with_data: true,
        };
        reads
            .events
            .push(processing::person_events(conn, ws, events.person, &read)?);
    }
    Ok(reads)
}

fn suppression(
    conn: &Connection,
    ws: WorkspaceId,
    address: &Address,
) -> StoreResult<Option<AddressSuppression>> {
    type Row = (String, String, Option<String>, Option<String>, i64);
    let row: Option<Row> = conn
        .prepare_cached(SUPPRESSION)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, address.as_str()], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let Some((address, category, reason, delivery_id, created_at)) = row else {
        return Ok(None);
    };
    Ok(Some(AddressSuppression {
        address: Address::new(&address).ok_or_else(|| corrupt("suppressed address", "empty"))?,
        category: SuppressionCategory::parse(&category)
            .ok_or_else(|| corrupt("suppression category", format!("unknown '{category}'")))?,
        reason,
        delivery_id,
        created_at: Timestamp::from_millis(created_at),
    }))
}

fn marketing_sends(
    conn: &Connection,
    ws: WorkspaceId,
    person: PersonKey,
    since: Timestamp,
) -> StoreResult<Vec<MarketingSend>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send_history::plan;

    #[test]
    fn each_read_seeks_its_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let expected = [
            (
                SUPPRESSION,
                "sqlite_autoindex_address_suppressions_1 (workspace_id=? AND address=?)",
            ),
            (
                MARKETING_SENDS,
                "journey_outbox_person_sent (workspace_id=? AND person_key=? AND sent_at>?)",
            ),
        ];
        for (sql, index) in expected {
            let plan = plan(&conn, sql);
            assert!(
                plan.len() == 1 && plan[0].starts_with("SEARCH") && plan[0].ends_with(index),
                "{sql}\n  plan: {plan:?}\n  expected one search of {index}"
            );
        }
    }
}
