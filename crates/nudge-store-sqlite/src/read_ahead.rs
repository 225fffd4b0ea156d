//! What the log processor reads ahead for a batch on SQLite: the people its entries name and
//! those people's rows, schedules, fold states and memberships. An embedded database answers
//! each indexed read in microseconds with no round trip, so this is the per-person reads in
//! a loop; the processor is written against the batch form, which PostgreSQL answers in one
//! statement per table.

use nudge_core::{Identifier, PersonKey, WorkspaceId};
use nudge_store::{PagedPerson, ProcessingTx, StoreResult, WriteTx};

use crate::write_tx::SqliteWriteTx;

pub(crate) fn resolve_all(
    tx: &mut SqliteWriteTx<'_>,
    ws: WorkspaceId,
    identifiers: &[Identifier],
) -> StoreResult<Vec<Option<PersonKey>>> {
    identifiers.iter().map(|i| tx.resolve(ws, i)).collect()
}

pub(crate) fn people_by_key(
    tx: &mut SqliteWriteTx<'_>,
    ws: WorkspaceId,
    keys: &[PersonKey],
) -> StoreResult<Vec<PagedPerson>> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    let mut people = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(state) = tx.load_person(ws, key)? else {
            continue;
        };
        people.push(PagedPerson {
            state,
            schedule: tx.person_schedule(ws, key)?,
            computed_states: tx.computed_states(ws, key)?,
            segment_ids: tx.person_segment_ids(ws, key)?,
            events: Vec::new(),
        });
    }
    Ok(people)
}
