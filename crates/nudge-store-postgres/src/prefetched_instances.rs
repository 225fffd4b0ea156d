//! A batch's journey instances read ahead in one statement: the log processor names the
//! people of a batch before their turns ([`prefetch_instances`](nudge_store::ProcessingTx::prefetch_instances)),
//! and each person's `person_instances` is then answered from what was read, once, instead
//! of a round trip per person. What was read for a person is dropped before anything in the
//! transaction writes one of their instances, and all of it before journey rows move between
//! people or are deleted, so an answer never differs from a read made at that moment.

use std::collections::HashMap;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{InstanceRow, StoreResult};
use postgres::types::ToSql;
use postgres::GenericClient;

use crate::journeys::{instance_columns, instance_from_row};
use crate::Statements;

/// The people's active instances and the finished ones still watched at `$3`, by person
/// then id: `person_instances` for many people at once.
const PEOPLE_INSTANCES: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE workspace_id = $1 AND person_key = ANY($2::INT8[]) \
     AND (active OR watch_until > $3) ORDER BY person_key, id"
);

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![PEOPLE_INSTANCES]
}

/// What one transaction read ahead, for one workspace at one moment.
pub(crate) struct PrefetchedInstances {
    ws: WorkspaceId,
    now: Timestamp,
    /// Every person named, with their instances (none for some), until their turn.
    people: HashMap<PersonKey, Vec<InstanceRow>>,
}

impl PrefetchedInstances {
    /// Reads the instances of `people` in one statement.
    pub(crate) fn read(
        client: &mut impl GenericClient,
        statements: &mut Statements,
        ws: WorkspaceId,
        people: &[PersonKey],
        now: Timestamp,
    ) -> StoreResult<Self> {
        let keys: Vec<i64> = people.iter().map(|p| p.0).collect();
        let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &keys, &now.millis()];
        let mut read: HashMap<PersonKey, Vec<InstanceRow>> =
            people.iter().map(|p| (*p, Vec::new())).collect();
        for row in statements.query(client, PEOPLE_INSTANCES, &params)? {
            let instance = instance_from_row(&row)?;
            read.entry(instance.person).or_default().push(instance);
        }
        Ok(Self {
            ws,
            now,
            people: read,
        })
    }

    /// The person's instances as read, taken out (a second ask reads the table), when they
    /// were read for this workspace and moment.
    pub(crate) fn take(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        now: Timestamp,
    ) -> Option<Vec<InstanceRow>> {
        if ws != self.ws || now != self.now {
            return None;
        }
        self.people.remove(&person)
    }

    /// Drops what was read for the person: one of their instances is about to be written.
    pub(crate) fn forget(&mut self, ws: WorkspaceId, person: PersonKey) {
        if ws == self.ws {
            self.people.remove(&person);
        }
    }
}
