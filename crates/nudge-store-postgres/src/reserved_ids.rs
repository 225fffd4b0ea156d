//! Ids taken from the timeline's and the instances' sequences ahead of the rows that will
//! carry them, so a row written behind (see `written_behind`) can name its id at once. One
//! round trip reserves a block of each (a round of events usually needs both), each further
//! block twice the last up to [`LARGEST_BLOCK`]. Ids are handed out smallest first; what is
//! left when the caller gives ids up is never used (a gap, as after any rollback).

use postgres::GenericClient;

use nudge_store::{StoreError, StoreResult};

use crate::errors::column;
use crate::Statements;

/// `$1` timeline entry ids and as many instance ids, in the order the sequences hand them out.
const RESERVE_IDS: &str = "SELECT nextval('journey_events_id_seq'), \
     nextval('journey_instances_id_seq') FROM generate_series(1, $1::INT4)";

/// The first block a transaction reserves: a round of a few events needs one.
const FIRST_BLOCK: i32 = 64;
/// A batch of hundreds of timers reserves a handful of blocks.
const LARGEST_BLOCK: i32 = 1024;

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![RESERVE_IDS]
}

/// The two tables whose ids are reserved.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sequence {
    Events,
    Instances,
}

/// Reserved ids of both sequences, for one transaction.
#[derive(Default)]
pub(crate) struct ReservedIds {
    /// Not handed out yet, the next one last.
    events: Vec<i64>,
    instances: Vec<i64>,
    /// The size of the last block reserved (0 before the first).
    last_block: i32,
}

impl ReservedIds {
    /// The next id of `sequence`, reserving a block of both first when none is left.
    pub(crate) fn next(
        &mut self,
        sequence: Sequence,
        client: &mut impl GenericClient,
        statements: &mut Statements,
    ) -> StoreResult<i64> {
        if self.left(sequence).is_empty() {
            self.reserve(client, statements)?;
        }
        self.left(sequence)
            .pop()
            .ok_or_else(|| StoreError::Backend(format!("no {sequence:?} id was reserved")))
    }

    /// Gives up the ids of `sequence` left, so an id it hands out from now on (a row inserted
    /// at once) is never followed by a smaller reserved one.
    pub(crate) fn give_up(&mut self, sequence: Sequence) {
        self.left(sequence).clear();
    }

    fn left(&mut self, sequence: Sequence) -> &mut Vec<i64> {
        match sequence {
            Sequence::Events => &mut self.events,
            Sequence::Instances => &mut self.instances,
        }
    }

    fn reserve(
        &mut self,
        client: &mut impl GenericClient,
        statements: &mut Statements,
    ) -> StoreResult<()> {
        let block = match self.last_block {
            0 => FIRST_BLOCK,
            last => (last * 2).min(LARGEST_BLOCK),
        };
        let rows = statements.query(client, RESERVE_IDS, &[&block])?;
        let mut events = Vec::with_capacity(rows.len());
        let mut instances = Vec::with_capacity(rows.len());
        for row in &rows {
            events.push(column::<i64>(row, 0)?);
            instances.push(column::<i64>(row, 1)?);
        }
        // Handed out from the end, smallest first; a new block's ids are all larger than
        // any left of an earlier one, which go first.
        for (left, mut new) in [(&mut self.events, events), (&mut self.instances, instances)] {
            new.sort_unstable_by(|a, b| b.cmp(a));
            new.append(left);
            *left = new;
        }
        self.last_block = block;
        Ok(())
    }
}
