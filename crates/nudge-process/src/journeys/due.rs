//! Firing journey timers: instances whose wake-up time has come, from the store's index on
//! that time, earliest first. Before an instance wakes, every event of the person it has not
//! seen yet (acknowledged, even if the log processor has not reached it) is handed to it, in
//! the same transaction that records what the wake-up sends: an exit event acknowledged
//! before the send is always seen first.

use std::collections::{BTreeMap, HashMap};

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_journeys::{EventInput, Input};
use nudge_store::{EventRead, Store, StoreResult, WriteTx, ACTIVITIES_PER_ENTRY};

use super::effects::Subject;
use super::person::{load_instances, save_instances, Loaded};
use super::runner::{row_for, Runner};
use crate::events::PersonEvents;
use crate::{Catalog, PersonData};

/// Wakes up to `limit` due instances in one transaction; returns how many.
pub fn process_due_instances(
    store: &dyn Store,
    catalogs: &HashMap<WorkspaceId, Catalog>,
    now: Timestamp,
    limit: usize,
) -> StoreResult<usize> {
    // A read first: most rounds have nothing due, and need not take the writer's lock.
    if store.next_instance_wake()?.is_none_or(|next| next > now) {
        return Ok(0);
    }
    let mut fired = 0;
    store.write(&mut |tx| {
        fired = 0;
        let mut by_person: BTreeMap<(WorkspaceId, PersonKey), Vec<(i64, Timestamp)>> =
            BTreeMap::new();
        for due in tx.due_instances(now, limit)? {
            by_person
                .entry((due.ws, due.person))
                .or_default()
                .push((due.id, due.wake_at));
        }
        for ((ws, person), due) in by_person {
            fired += due.len();
            let Some(catalog) = catalogs.get(&ws) else {
                continue;
            };
            wake_person(tx, ws, catalog, person, &due, now)?;
        }
        Ok(())
    })?;
    Ok(fired)
}

fn wake_person(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    catalog: &Catalog,
    person: PersonKey,
    due: &[(i64, Timestamp)],
    now: Timestamp,
) -> StoreResult<()> {
    let journeys = &catalog.journeys;
    let Some(state) = tx.load_person(ws, person)? else {
        return Ok(());
    };
    let upto = tx.processed_offset(ws)?;
    let mut instances = load_instances(tx, ws, person, now)?;
    let segments = tx.person_segment_ids(ws, person)?.into_iter().collect();
    let mut stored = PersonEvents::new(ws, person, upto);
    let events = stored.read_all(tx, &journeys.condition_event_reads())?;
    let facts = PersonData::for_person(state.clone(), segments, events);
    let subject = Subject::new(tx, ws, &state)?;
    let mut runner = Runner {
        tx,
        journeys,
        facts: &facts,
        subject: &subject,
        now,
    };
    for &(id, wake_at) in due {
        let Some(loaded) = instances.iter_mut().find(|l| l.row.id == id) else {
            continue;
        };
        catch_up(&mut runner, loaded)?;
        if loaded.instance.is_active() && loaded.instance.wake_at == Some(wake_at) {
            runner.step(loaded, Input::Wake { due: wake_at })?;
        }
        if loaded.instance.wake_at == Some(wake_at) && loaded.instance.is_active() {
            // The engine left the timer where it was: never fire it again in a loop.
            loaded.instance.wake_at = None;
            loaded.row.wake_at = None;
            loaded.dirty = true;
            tracing::error!(instance = id, "a journey step kept its own wake-up time");
        }
    }
    save_instances(runner.tx, ws, instances)
}

/// Hands the instance every stored event it reacts to that it has not seen, in log order.
fn catch_up(runner: &mut Runner<'_>, loaded: &mut Loaded) -> StoreResult<()> {
    let Some(journey) = runner
        .journeys
        .version(&loaded.instance.journey, loaded.instance.version)
        .cloned()
    else {
        return Ok(());
    };
    let names: Vec<String> = journey
        .event_names()
        .into_iter()
        .filter(|n| runner.journeys.watches_event(n))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let read = EventRead {
        names,
        since: None,
        with_data: true,
    };
    let mut unseen: Vec<_> = runner
        .tx
        .person_events(runner.subject.ws, runner.subject.key, &read)?
        .into_iter()
        .map(|e| (e.seq.div_euclid(ACTIVITIES_PER_ENTRY), e))
        .filter(|(offset, _)| *offset > loaded.instance.seen_offset)
        .collect();
    unseen.sort_by_key(|(_, e)| e.seq);
    for (offset, event) in unseen {
        if !loaded.instance.watching(runner.now) {
            break;
        }
        let input = Input::Event(EventInput {
            name: &event.name,
            timestamp: event.timestamp,
            data: &event.data,
            offset,
        });
        runner.step(loaded, input)?;
        loaded.instance.seen_offset = offset;
        loaded.row = row_for(loaded.row.id, loaded.row.person, &loaded.instance)?;
        loaded.dirty = true;
    }
    Ok(())
}
