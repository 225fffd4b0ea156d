//! Ids taken from a table's sequence ahead of the rows that will carry them, so a row written
//! behind (see `written_behind`) can name its id at once: one round trip reserves a block,
//! each further block twice the last up to [`LARGEST_BLOCK`]. Ids are handed out smallest
//! first; what is left of a block when the caller gives it up is never used (a gap, as after
//! any rollback).

use postgres::GenericClient;

use nudge_store::{StoreError, StoreResult};

use crate::errors::column;
use crate::Statements;

/// Ids for the next `$1` timeline entries, in the order the sequence hands them out.
pub(crate) const RESERVE_EVENT_IDS: &str =
    "SELECT nextval('journey_events_id_seq') FROM generate_series(1, $1::INT4)";
/// Ids for the next `$1` journey instances.
pub(crate) const RESERVE_INSTANCE_IDS: &str =
    "SELECT nextval('journey_instances_id_seq') FROM generate_series(1, $1::INT4)";

/// The first block a transaction reserves: a round of a few events needs one.
const FIRST_BLOCK: i32 = 16;
/// A batch of hundreds of timers reserves a handful of blocks.
const LARGEST_BLOCK: i32 = 1024;

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![RESERVE_EVENT_IDS, RESERVE_INSTANCE_IDS]
}

/// Reserved ids of one sequence, for one transaction.
pub(crate) struct ReservedIds {
    /// [`RESERVE_EVENT_IDS`] or [`RESERVE_INSTANCE_IDS`].
    reserve: &'static str,
    /// Not handed out yet, the next one last.
    left: Vec<i64>,
    /// The size of the last block reserved (0 before the first).
    last_block: i32,
}

impl ReservedIds {
    pub(crate) fn new(reserve: &'static str) -> Self {
        Self {
            reserve,
            left: Vec::new(),
            last_block: 0,
        }
    }

    /// The next id, reserving a block first when none is left.
    pub(crate) fn next(
        &mut self,
        client: &mut impl GenericClient,
        statements: &mut Statements,
    ) -> StoreResult<i64> {
        if let Some(id) = self.left.pop() {
            return Ok(id);
        }
        let block = match self.last_block {
            0 => FIRST_BLOCK,
            last => (last * 2).min(LARGEST_BLOCK),
        };
        let rows = statements.query(client, self.reserve, &[&block])?;
        let mut ids = rows
            .iter()
            .map(|row| column::<i64>(row, 0))
            .collect::<StoreResult<Vec<i64>>>()?;
        // Handed out from the end: the smallest first.
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let id = ids
            .pop()
            .ok_or_else(|| StoreError::Backend(format!("reserved no id: {}", self.reserve)))?;
        self.left = ids;
        self.last_block = block;
        Ok(id)
    }

    /// Gives up the ids left, so an id the sequence hands out from now on (a row inserted
    /// at once) is never followed by a smaller reserved one.
    pub(crate) fn give_up(&mut self) {
        self.left.clear();
    }
}
