//! What hangs off a person, table by table: removed with them, or moved to the person a merge
//! keeps. Every statement reaches the person's rows through an index that starts with
//! (workspace_id, person_key) (`plans.rs` checks); all run inside the write transaction.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{MovedData, StoreResult};

use crate::journeys;
use crate::write_tx::PgWriteTx;

// Data-modifying CTEs all run to completion and foreign keys are checked at the end of the
// statement: ten deletes in one round trip. The person's journey timeline and outbox messages
// stay: they are the record of what happened.
const DELETE_PERSON: &str = "WITH \
     identifiers_gone AS (DELETE FROM identifiers WHERE workspace_id = $1 AND person_key = $2), \
     devices_gone AS (DELETE FROM devices WHERE workspace_id = $1 AND person_key = $2), \
     activities_gone AS (DELETE FROM activities WHERE workspace_id = $1 AND person_key = $2), \
     members_gone AS (DELETE FROM segment_members WHERE workspace_id = $1 AND person_key = $2), \
     transitions_gone AS (DELETE FROM segment_transitions \
                          WHERE workspace_id = $1 AND person_key = $2), \
     states_gone AS (DELETE FROM computed_states WHERE workspace_id = $1 AND person_key = $2), \
     schedule_gone AS (DELETE FROM person_schedules WHERE workspace_id = $1 AND person_key = $2), \
     related_gone AS (DELETE FROM relationships WHERE workspace_id = $1 AND person_key = $2), \
     instances_gone AS (DELETE FROM journey_instances \
                        WHERE workspace_id = $1 AND person_key = $2) \
     DELETE FROM people WHERE key = $2 AND workspace_id = $1";
/// Tables where `from` and `to` cannot clash (a device token belongs to one person) move by
/// one UPDATE; the others first drop `from`'s rows that clash, keeping `to`'s own, then move
/// the rest. Memberships move only if manual: `from`'s data-driven ones are dropped with the
/// clashes, as the processor re-evaluates `to` from the merged data. Transitions are history
/// and move.
const MOVE_PERSON_DATA: [&str; 8] = [
    "UPDATE identifiers SET person_key = $3 WHERE workspace_id = $1 AND person_key = $2",
    "UPDATE activities SET person_key = $3 WHERE workspace_id = $1 AND person_key = $2",
    "UPDATE devices SET person_key = $3 WHERE workspace_id = $1 AND person_key = $2",
    "DELETE FROM segment_members m WHERE m.workspace_id = $1 AND m.person_key = $2 \
     AND (EXISTS (SELECT 1 FROM segment_members t WHERE t.workspace_id = $1 \
                  AND t.segment_id = m.segment_id AND t.person_key = $3) \
          OR NOT (SELECT s.manual FROM segments s \
                  WHERE s.workspace_id = m.workspace_id AND s.id = m.segment_id))",
    "UPDATE segment_members SET person_key = $3 WHERE workspace_id = $1 AND person_key = $2",
    "DELETE FROM relationships r WHERE r.workspace_id = $1 AND r.person_key = $2 \
     AND EXISTS (SELECT 1 FROM relationships t WHERE t.workspace_id = $1 \
                 AND t.person_key = $3 AND t.type_id = r.type_id AND t.object_id = r.object_id)",
    "UPDATE relationships SET person_key = $3 WHERE workspace_id = $1 AND person_key = $2",
    "UPDATE segment_transitions SET person_key = $3 WHERE workspace_id = $1 AND person_key = $2",
];
/// What the processor derived for `from` alone, which merging makes stale.
const DROP_MERGED_AWAY: [&str; 2] = [
    "DELETE FROM computed_states WHERE workspace_id = $1 AND person_key = $2",
    "DELETE FROM person_schedules WHERE workspace_id = $1 AND person_key = $2",
];

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    std::iter::once(DELETE_PERSON)
        .chain(MOVE_PERSON_DATA)
        .chain(DROP_MERGED_AWAY)
        .collect()
}

pub(crate) fn delete(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<()> {
    tx.run(DELETE_PERSON, &[&ws.0, &key.0])?;
    Ok(())
}

pub(crate) fn move_to(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    from: PersonKey,
    to: PersonKey,
    now: Timestamp,
) -> StoreResult<MovedData> {
    // Moving onto oneself must not run the clash clean-up, which would delete everything.
    if from == to {
        return Ok(MovedData::default());
    }
    let mut counts = [0u64; MOVE_PERSON_DATA.len()];
    for (n, sql) in MOVE_PERSON_DATA.iter().enumerate() {
        counts[n] = tx.run(sql, &[&ws.0, &from.0, &to.0])?;
    }
    for sql in DROP_MERGED_AWAY {
        tx.run(sql, &[&ws.0, &from.0])?;
    }
    let (instances, instances_closed) =
        journeys::move_journeys(tx.tx, tx.statements, ws, from, to, now)?;
    // The UPDATEs count what moved; the DELETEs (clashes, at 3 and 5) what stayed behind.
    Ok(MovedData {
        identifiers: counts[0],
        activities: counts[1],
        devices: counts[2],
        segment_memberships: counts[4],
        relationships: counts[6],
        instances,
        instances_closed,
    })
}
