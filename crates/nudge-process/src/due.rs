//! Firing scheduled checks: people whose memberships or windowed computed attributes time
//! alone could change are re-evaluated at that moment, and only they. No scan: the store hands
//! out the due checks in time order from its index.

use std::collections::HashMap;

use nudge_conditions::segments::Changes;
use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{PersonSchedule, Store, StoreResult};

use crate::person::{process_person, Moment, PersonWork};
use crate::Catalog;

/// Re-evaluates up to `limit` people whose check is due at `now`, in one transaction; returns
/// how many.
pub fn process_due_checks(
    store: &dyn Store,
    catalogs: &HashMap<WorkspaceId, Catalog>,
    now: Timestamp,
    limit: usize,
) -> StoreResult<usize> {
    // A read first: most rounds have nothing due, and need not take the writer's lock.
    if store.next_scheduled_check()?.is_none_or(|next| next > now) {
        return Ok(0);
    }
    let mut fired = 0;
    store.write(&mut |tx| {
        // Derived state only: a crash makes the processor derive it again.
        tx.commit_lazily()?;
        fired = 0;
        let due = tx.due_checks(now, limit)?;
        let mut reached: HashMap<WorkspaceId, i64> = HashMap::new();
        for check in due {
            let Some(catalog) = catalogs.get(&check.ws) else {
                // The workspace has no definitions left: nothing can change with time.
                tx.set_person_schedule(check.ws, check.person, &PersonSchedule::next(None))?;
                continue;
            };
            let upto = match reached.get(&check.ws) {
                Some(offset) => *offset,
                None => {
                    let offset = tx.processed_offset(check.ws)?;
                    reached.insert(check.ws, offset);
                    offset
                }
            };
            let work = PersonWork {
                changes: Changes {
                    time: true,
                    ..Changes::default()
                },
                ..PersonWork::default()
            };
            process_person(
                tx,
                check.ws,
                catalog,
                check.person,
                work,
                Moment { now, upto },
            )?;
            fired += 1;
        }
        Ok(())
    })?;
    Ok(fired)
}
