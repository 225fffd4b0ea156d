//! Bringing one person up to date inside the processor's transaction: fold the new events
//! into their computed attributes (or recompute them), write changed values to their
//! attributes, re-evaluate the segments the changes can affect, record every entry and exit
//! at the moment it happened, and schedule the one moment time alone could next change
//! something for them.

use std::collections::{BTreeMap, BTreeSet};

use nudge_conditions::segments::Changes;
use nudge_core::{PersonKey, PersonState, Timestamp, WorkspaceId};
use nudge_store::{EventRead, PagedPerson, PersonSchedule, StoreResult, WriteTx};

use crate::computed_step::{update_computed, ComputedWork, NewEvent};
use crate::events::PersonEvents;
use crate::journeys::{advance_person, BroadcastWork, JourneyWork};
use crate::{Catalog, PersonData};

/// What happened to a person since they were last evaluated.
#[derive(Debug, Clone, Default)]
pub struct PersonWork {
    pub changes: Changes,
    /// Events to fold into computed attributes, in log order.
    pub events: Vec<NewEvent>,
    /// Recompute every computed attribute from the person's events (a merge, a first sight).
    pub recompute_all: bool,
    /// Recompute these computed attributes (a backfill of a new definition).
    pub recompute: BTreeSet<String>,
    /// Segments whose entries and exits are established without recording transitions (the
    /// backfill of a new definition: people did not "enter" it, it was created around them).
    pub silent: BTreeSet<i64>,
    /// When the change reached Nudge, for the event-to-transition latency metric.
    pub received_at: Option<Timestamp>,
    /// Log offsets of the identify entries among these changes, in log order (journeys
    /// triggered by an attribute change read what each changed).
    pub identify_offsets: Vec<i64>,
    /// API-triggered broadcasts that name this person.
    pub broadcasts: Vec<BroadcastWork>,
}

impl PersonWork {
    pub fn everything() -> Self {
        PersonWork {
            changes: Changes {
                everything: true,
                ..Changes::default()
            },
            recompute_all: true,
            ..PersonWork::default()
        }
    }

    /// Adds `other`'s changes to these (two log entries for the same person in one batch).
    pub fn absorb(&mut self, other: PersonWork) {
        self.changes.attributes.extend(other.changes.attributes);
        self.changes.events.extend(other.changes.events);
        self.changes.time |= other.changes.time;
        self.changes.everything |= other.changes.everything;
        self.events.extend(other.events);
        self.recompute_all |= other.recompute_all;
        self.recompute.extend(other.recompute);
        self.silent.extend(other.silent);
        self.identify_offsets.extend(other.identify_offsets);
        self.broadcasts.extend(other.broadcasts);
        self.received_at = match (self.received_at, other.received_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// When an evaluation happens: the time, and the last log offset it has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub now: Timestamp,
    pub upto: i64,
}

/// What evaluating one person did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonOutcome {
    pub entered: Vec<i64>,
    pub exited: Vec<i64>,
    pub computed_changed: Vec<String>,
    /// Broadcasts (by id) that started an instance for the person.
    pub broadcasts_started: Vec<i64>,
}

/// Brings `person` up to date with `work` at `now`, counting the events of log entries up to
/// offset `upto`. A person who no longer exists (deleted, merged away) is skipped.
pub fn process_person(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    catalog: &Catalog,
    person: PersonKey,
    work: PersonWork,
    at: Moment,
) -> StoreResult<PersonOutcome> {
    let Some(state) = tx.load_person(ws, person)? else {
        return Ok(PersonOutcome::default());
    };
    let loaded = Loaded {
        schedule: tx.person_schedule(ws, person)?,
        computed_states: None,
        segment_ids: None,
        events: PersonEvents::new(ws, person, at.upto),
        state,
    };
    evaluate(tx, ws, catalog, loaded, work, at)
}

/// [`process_person`] for a person a backfill page read ahead with `reads`.
pub(crate) fn process_paged_person(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    catalog: &Catalog,
    paged: PagedPerson,
    reads: &[EventRead],
    work: PersonWork,
    at: Moment,
) -> StoreResult<PersonOutcome> {
    let key = paged.state.key;
    let loaded = Loaded {
        schedule: paged.schedule,
        computed_states: Some(paged.computed_states),
        segment_ids: Some(paged.segment_ids),
        events: PersonEvents::preloaded(ws, key, at.upto, reads, paged.events),
        state: paged.state,
    };
    evaluate(tx, ws, catalog, loaded, work, at)
}

/// What an evaluation starts from; the parts that are `None` are read when needed.
struct Loaded {
    state: PersonState,
    schedule: Option<PersonSchedule>,
    computed_states: Option<BTreeMap<String, serde_json::Value>>,
    segment_ids: Option<Vec<i64>>,
    events: PersonEvents,
}

fn evaluate(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    catalog: &Catalog,
    loaded: Loaded,
    mut work: PersonWork,
    at: Moment,
) -> StoreResult<PersonOutcome> {
    let Moment { now, .. } = at;
    let mut outcome = PersonOutcome::default();
    let Loaded {
        mut state,
        schedule,
        computed_states,
        mut segment_ids,
        events: mut stored,
    } = loaded;
    let person = state.key;
    match &schedule {
        // Never evaluated, or evaluated before segment checks were kept: everything, once.
        None
        | Some(PersonSchedule {
            segment_checks: None,
            ..
        }) => {
            work.changes.everything = true;
            work.recompute_all = true;
        }
        // Their check is due: evaluating them now without it would lose it.
        Some(s) if s.next_check.is_some_and(|t| t <= now) => work.changes.time = true,
        Some(_) => {}
    }
    let computed = update_computed(
        tx,
        ws,
        catalog,
        &mut state,
        &mut stored,
        ComputedWork {
            events: &work.events,
            recompute_all: work.recompute_all,
            recompute: &work.recompute,
            time: work.changes.time,
            stored_states: computed_states,
        },
        at,
    )?;
    if !computed.changed.is_empty() {
        state.updated_at = state.updated_at.max(now);
        tx.save_person(ws, &state)?;
        work.changes
            .attributes
            .extend(computed.changed.iter().cloned());
        outcome.computed_changed = computed.changed;
    }

    let set = &catalog.segments;
    // Only the segments the changes can affect read the person's events; the others keep
    // their stored next change.
    let affected = set.affected(&work.changes);
    let mut checks = schedule
        .as_ref()
        .and_then(|s| s.segment_checks.clone())
        .unwrap_or_default();
    let journeys_run = !catalog.journeys.is_empty();
    let journey_state = journeys_run.then(|| state.clone());
    let mut journeys_next = None;
    let mut segments_now: Option<BTreeSet<i64>> = None;
    if !affected.is_empty() {
        let segments: BTreeSet<i64> = match segment_ids.take() {
            Some(ids) => ids.into_iter().collect(),
            None => tx.person_segment_ids(ws, person)?.into_iter().collect(),
        };
        let reads = catalog.segment_event_reads_for(&affected, now);
        let events = stored.read_all(tx, &reads)?;
        let mut members: BTreeSet<i64> = segments
            .iter()
            .copied()
            .filter(|id| catalog.definitions.get(id).is_some_and(|d| !d.manual()))
            .collect();
        let data = PersonData::for_person(state, segments.clone(), events);
        let transitions = set.evaluate_person(&data, &mut members, &work.changes, now, &mut checks);
        for (ids, entered) in [(&transitions.entered, true), (&transitions.exited, false)] {
            for &id in ids {
                tx.set_segment_membership(ws, id, person, entered, now)?;
                if !work.silent.contains(&id) {
                    tx.record_segment_transition(ws, person, id, entered, now)?;
                    record_latency(work.received_at, now);
                }
            }
        }
        if journeys_run {
            let mut now_in = segments.clone();
            now_in.retain(|id| !transitions.exited.contains(id));
            now_in.extend(transitions.entered.iter().copied());
            segments_now = Some(now_in);
        }
        outcome.entered = transitions.entered;
        outcome.exited = transitions.exited;
    }
    if let Some(state) = journey_state {
        let segments = match (segments_now, segment_ids) {
            (Some(segments), _) => segments,
            // No segment was evaluated, so none changed since they were read.
            (None, Some(ids)) => ids.into_iter().collect(),
            (None, None) => tx.person_segment_ids(ws, person)?.into_iter().collect(),
        };
        let recorded = |ids: &[i64]| -> Vec<i64> {
            ids.iter()
                .copied()
                .filter(|id| !work.silent.contains(id))
                .collect()
        };
        let (entered, exited) = (recorded(&outcome.entered), recorded(&outcome.exited));
        let journey_work = JourneyWork {
            events: &work.events,
            entered: &entered,
            exited: &exited,
            attributes: &work.changes.attributes,
            identify_offsets: &work.identify_offsets,
            broadcasts: &work.broadcasts,
            segments,
        };
        outcome.broadcasts_started = advance_person(
            tx,
            ws,
            &catalog.journeys,
            &state,
            &mut stored,
            journey_work,
            at,
        )?;
        journeys_next = catalog.journeys.next_date_due(&state.attributes, now);
    }
    // A moment that is not in the future would fire again at once, forever.
    let segments_next = checks.values().copied().filter(|t| *t > now).min();
    let next = PersonSchedule {
        next_check: earliest(earliest(computed.next_change, segments_next), journeys_next)
            .filter(|t| *t > now),
        segment_checks: Some(checks),
    };
    if schedule.as_ref() != Some(&next) {
        tx.set_person_schedule(ws, person, &next)?;
    }
    Ok(outcome)
}

pub(crate) fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn record_latency(received_at: Option<Timestamp>, now: Timestamp) {
    if let Some(at) = received_at {
        let seconds = (now.millis() - at.millis()).max(0) as f64 / 1000.0;
        metrics::histogram!("nudge_segment_transition_latency_seconds").record(seconds);
    }
    metrics::counter!("nudge_segment_transitions_total").increment(1);
}
