//! Backfills: a new or edited definition is evaluated over every existing person in the
//! background, a page of people per transaction between log batches, so ingestion never
//! pauses. Definitions whose backfills stand at the same person are carried together, and
//! progress is stored with each page, so a restart resumes where it stopped.

use std::collections::BTreeSet;

use nudge_conditions::segments::Changes;
use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Backfill, Store, StoreResult};

use crate::person::{process_paged_person, Moment, PersonWork};
use crate::Catalog;

/// Advances the workspace's furthest-behind backfills by one page of at most `page` people;
/// returns how many people were evaluated (0 when nothing is backfilling).
pub fn backfill_step(
    store: &dyn Store,
    ws: WorkspaceId,
    catalog: &mut Catalog,
    now: Timestamp,
    page: usize,
) -> StoreResult<usize> {
    let running = catalog
        .definitions
        .values()
        .filter(|d| !d.manual() && !d.backfill.complete)
        .map(|d| d.backfill.after)
        .chain(
            catalog
                .computed_definitions
                .iter()
                .filter(|d| !d.backfill.complete)
                .map(|d| d.backfill.after),
        )
        .min();
    let Some(after) = running else {
        return Ok(0);
    };
    let segments: BTreeSet<i64> = catalog
        .definitions
        .values()
        .filter(|d| !d.manual() && !d.backfill.complete && d.backfill.after == after)
        .map(|d| d.id)
        .collect();
    let computed: BTreeSet<String> = catalog
        .computed_definitions
        .iter()
        .filter(|d| !d.backfill.complete && d.backfill.after == after)
        .map(|d| d.name.clone())
        .collect();
    let reads = catalog.full_event_reads(now);
    let mut visited = 0;
    let mut last = after;
    {
        let catalog: &Catalog = catalog;
        store.write(&mut |tx| {
            let people = tx.people_page(ws, after, page, &reads)?;
            visited = people.len();
            last = people.last().map_or(after, |p| p.state.key.0);
            let upto = tx.processed_offset(ws)?;
            for person in people {
                let work = PersonWork {
                    changes: Changes {
                        everything: !segments.is_empty(),
                        ..Changes::default()
                    },
                    recompute: computed.clone(),
                    silent: segments.clone(),
                    ..PersonWork::default()
                };
                let at = Moment { now, upto };
                process_paged_person(tx, ws, catalog, person, &reads, work, at)?;
            }
            let progress = |b: &Backfill| Backfill {
                complete: visited < page,
                after: last,
                done: b.done + visited as u64,
                total: b.total.max(b.done + visited as u64),
            };
            for id in &segments {
                let current = catalog.definitions[id].backfill;
                tx.set_segment_backfill(ws, *id, &progress(&current))?;
            }
            for definition in catalog
                .computed_definitions
                .iter()
                .filter(|d| computed.contains(&d.name))
            {
                tx.set_computed_backfill(ws, &definition.name, &progress(&definition.backfill))?;
            }
            Ok(())
        })?;
    }
    let advance = |b: &mut Backfill| {
        b.done += visited as u64;
        b.total = b.total.max(b.done);
        b.after = last;
        b.complete = visited < page;
    };
    for id in &segments {
        if let Some(d) = catalog.definitions.get_mut(id) {
            advance(&mut d.backfill);
        }
    }
    for d in catalog
        .computed_definitions
        .iter_mut()
        .filter(|d| computed.contains(&d.name))
    {
        advance(&mut d.backfill);
    }
    Ok(visited.max(1))
}
