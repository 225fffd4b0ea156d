//! Firing journey timers: instances whose wake-up time has come, from the store's index on
//! that time, earliest first. Before an instance wakes, every event of the person it has not
//! seen yet (acknowledged, even if the log processor has not reached it) is handed to it, in
//! the same transaction that records what the wake-up sends: an exit event acknowledged
//! before the send is always seen first. The people woken are read ahead together, unless
//! running a journey could change one of them before their turn.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use nudge_core::{PersonKey, PersonState, Timestamp, WorkspaceId};
use nudge_journeys::{EventInput, Input};
use nudge_store::{EventRead, PagedPerson, Store, StoreResult, WriteTx, ACTIVITIES_PER_ENTRY};

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
        // Derived state only: a crash makes the processor derive it again.
        tx.commit_lazily()?;
        fired = 0;
        let mut by_person: BTreeMap<(WorkspaceId, PersonKey), Vec<(i64, Timestamp)>> =
            BTreeMap::new();
        let mut people_of: HashMap<WorkspaceId, Vec<PersonKey>> = HashMap::new();
        for due in tx.due_instances(now, limit)? {
            by_person
                .entry((due.ws, due.person))
                .or_default()
                .push((due.id, due.wake_at));
        }
        for (ws, person) in by_person.keys() {
            people_of.entry(*ws).or_default().push(*person);
        }
        let mut workspaces: HashMap<WorkspaceId, Workspace> = HashMap::new();
        for ((ws, person), due) in by_person {
            fired += due.len();
            let Some(catalog) = catalogs.get(&ws) else {
                continue;
            };
            let workspace = match workspaces.entry(ws) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => {
                    new.insert(Workspace::read(tx, ws, catalog, &people_of[&ws])?)
                }
            };
            let Some((state, segments)) = workspace.person(tx, ws, person)? else {
                continue;
            };
            let upto = workspace.upto;
            wake_person(tx, ws, catalog, state, segments, &due, now, upto)?;
        }
        Ok(())
    })?;
    Ok(fired)
}

/// What waking a workspace's instances reads once: its processed offset (the same for every
/// person: nothing here moves it), and the people woken, read ahead when nothing done for
/// one of them can change another (see
/// [`JourneyCatalog::appends_entries`](super::JourneyCatalog::appends_entries)).
struct Workspace {
    upto: i64,
    /// `None`: each person is read at their turn.
    ahead: Option<HashMap<PersonKey, PagedPerson>>,
}

impl Workspace {
    fn read(
        tx: &mut dyn WriteTx,
        ws: WorkspaceId,
        catalog: &Catalog,
        people: &[PersonKey],
    ) -> StoreResult<Self> {
        let upto = tx.processed_offset(ws)?;
        let ahead = match catalog.journeys.appends_entries() {
            true => None,
            false => Some(
                tx.people_by_key(ws, people)?
                    .into_iter()
                    .map(|p| (p.state.key, p))
                    .collect(),
            ),
        };
        Ok(Self { upto, ahead })
    }

    /// The person and their segments; `None` when they are gone (deleted, merged away).
    fn person(
        &mut self,
        tx: &mut dyn WriteTx,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Option<(PersonState, BTreeSet<i64>)>> {
        if let Some(ahead) = self.ahead.as_mut() {
            return Ok(ahead
                .remove(&person)
                .map(|p| (p.state, p.segment_ids.into_iter().collect())));
        }
        let Some(state) = tx.load_person(ws, person)? else {
            return Ok(None);
        };
        let segments = tx.person_segment_ids(ws, person)?.into_iter().collect();
        Ok(Some((state, segments)))
    }
}

#[allow(clippy::too_many_arguments)]
fn wake_person(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    catalog: &Catalog,
    state: PersonState,
    segments: BTreeSet<i64>,
    due: &[(i64, Timestamp)],
    now: Timestamp,
    upto: i64,
) -> StoreResult<()> {
    let journeys = &catalog.journeys;
    let person = state.key;
    let mut instances = load_instances(tx, ws, person, now)?;
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
