//! API-triggered broadcasts with an audience filter: the processor visits every person a page
//! at a time between log batches, as a backfill does, and starts the broadcast's journey for
//! each one the filter matches when the page is processed. Progress is stored with each page,
//! so a restart resumes where it stopped; a person the broadcast already started an instance
//! for keeps it (the instance's entry rules decide, as for any trigger).

use std::collections::BTreeSet;

use nudge_core::{JsonMap, Timestamp, WorkspaceId};
use nudge_journeys::{Trigger, TriggerData};
use nudge_store::{BroadcastJob, EventRead, Store, StoreResult};

use super::person::{advance_person, BroadcastWork, JourneyWork};
use crate::events::PersonEvents;
use crate::person::Moment;
use crate::{Catalog, PersonData};

/// Advances the workspace's oldest open broadcast by one page of at most `page` people;
/// returns how much was done (0 when no broadcast is open).
pub fn broadcast_step(
    store: &dyn Store,
    ws: WorkspaceId,
    catalog: &Catalog,
    now: Timestamp,
    page: usize,
) -> StoreResult<usize> {
    let Some(job) = store.open_broadcasts(ws)?.into_iter().next() else {
        return Ok(0);
    };
    let runnable = catalog
        .journeys
        .live(&job.journey)
        .is_some_and(|(_, j)| matches!(j.trigger, Trigger::Broadcast));
    let filter = job
        .filter
        .as_ref()
        .and_then(|f| nudge_conditions::parse(f).ok());
    let Some(filter) = filter.filter(|_| runnable) else {
        // The journey was deleted or changed its trigger since: nobody more is reached.
        let done = BroadcastJob {
            complete: true,
            ..job
        };
        store.write(&mut |tx| tx.put_broadcast(ws, &done))?;
        return Ok(1);
    };
    let names: Vec<String> = filter.dependencies().events.into_iter().collect();
    let reads: Vec<EventRead> = if names.is_empty() {
        Vec::new()
    } else {
        vec![EventRead {
            names,
            since: None,
            with_data: true,
        }]
    };
    let mut visited = 0;
    store.write(&mut |tx| {
        let people = tx.people_page(ws, job.after, page, &reads)?;
        visited = people.len();
        let upto = tx.processed_offset(ws)?;
        let mut progress = job.clone();
        for paged in people {
            progress.after = paged.state.key.0;
            progress.visited += 1;
            let key = paged.state.key;
            let segments: BTreeSet<i64> = paged.segment_ids.iter().copied().collect();
            let mut events = PersonEvents::preloaded(ws, key, upto, &reads, paged.events);
            let loaded = events.read_all(tx, &reads)?;
            let facts = PersonData::for_person(paged.state.clone(), segments.clone(), loaded);
            if !nudge_conditions::evaluate(&filter, &facts, now) {
                continue;
            }
            let broadcast = [BroadcastWork {
                journey: job.journey.clone(),
                trigger: TriggerData {
                    event: None,
                    timestamp: job.created_at,
                    data: job.data.clone(),
                    offset: job.offset,
                },
            }];
            let work = JourneyWork {
                events: &[],
                entered: &[],
                exited: &[],
                attributes: &BTreeSet::new(),
                identify_offsets: &[],
                broadcasts: &broadcast,
                segments,
            };
            let at = Moment { now, upto };
            let started = advance_person(
                tx,
                ws,
                &catalog.journeys,
                &paged.state,
                &mut events,
                work,
                at,
            )?;
            progress.started += started.len() as u64;
        }
        progress.complete = visited < page;
        tx.put_broadcast(ws, &progress)
    })?;
    Ok(visited.max(1))
}

/// The job a broadcast's log entry records, by the trigger id the API answered with: finished
/// at once for named people (the log batch started them), open for a filter.
pub fn broadcast_job(
    trigger_id: i64,
    offset: i64,
    journey: &str,
    data: &JsonMap,
    filter: Option<&serde_json::Value>,
    received_at: Timestamp,
) -> BroadcastJob {
    BroadcastJob {
        id: trigger_id,
        offset,
        journey: journey.to_string(),
        data: data.clone(),
        filter: filter.cloned(),
        after: 0,
        visited: 0,
        started: 0,
        complete: filter.is_none(),
        created_at: received_at,
    }
}
