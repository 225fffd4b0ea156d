//! Processing a batch of the event log: each entry says whom it concerns and what changed for
//! them; entries for the same person are gathered so each person is evaluated once per batch;
//! the batch commits together with the new processed offset. Whom the entries name is
//! resolved for the whole batch at once, and so are the people read, unless running a journey
//! could change someone before their turn (then each is read at their turn).

use std::collections::{BTreeMap, HashMap};

use nudge_conditions::segments::Changes;
use nudge_core::{
    BroadcastAudience, Identifier, IdentifierKind, Operation, PersonKey, Timestamp, WorkspaceId,
};
use nudge_journeys::TriggerData;
use nudge_store::{BroadcastJob, LogRecord, PagedPerson, Store, StoreResult, WriteTx};

use crate::computed_step::NewEvent;
use crate::journeys::{broadcast_job, BroadcastWork};
use crate::person::{process_paged_person, process_person, Moment, PersonOutcome, PersonWork};
use crate::Catalog;

/// Attributes that say who someone is: an identify carrying them may have merged or stitched
/// profiles, so everything is re-evaluated.
const IDENTITY_KEYS: [&str; 5] = ["id", "email", "phone", "cio_id", "anonymous_id"];

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub entries: usize,
    pub people: usize,
    pub transitions: usize,
}

/// Processes up to `limit` entries after the workspace's processed offset. A workspace with
/// no definitions has nothing to derive and is left alone (see [`skip_before`]).
pub fn process_log_batch(
    store: &dyn Store,
    ws: WorkspaceId,
    catalog: &Catalog,
    now: Timestamp,
    limit: usize,
) -> StoreResult<BatchReport> {
    if catalog.is_empty() {
        return Ok(BatchReport::default());
    }
    let from = store.processed_offset(ws)?;
    let records = store.read_log(ws, from, limit)?;
    let Some(last) = records.last().map(|r| r.offset) else {
        return Ok(BatchReport::default());
    };
    let mut report = BatchReport::default();
    store.write(&mut |tx| {
        // Derived state only: a crash makes the processor derive it again.
        tx.commit_lazily()?;
        report = BatchReport::default();
        if tx.processed_offset(ws)? != from {
            // Someone else (a rebuild) moved the offset since it was read: start over.
            return Ok(());
        }
        let resolved = Resolved::read(tx, ws, &records)?;
        let mut people: BTreeMap<PersonKey, PersonWork> = BTreeMap::new();
        let mut broadcasts: BTreeMap<i64, BroadcastJob> = BTreeMap::new();
        for record in &records {
            for (key, work) in work_for(tx, &resolved, ws, record)? {
                people.entry(key).or_default().absorb(work);
            }
            if let Some(job) = broadcast_of(record) {
                broadcasts.insert(record.offset, job);
            }
        }
        for work in people.values() {
            for broadcast in &work.broadcasts {
                if let Some(job) = broadcasts.get_mut(&broadcast.trigger.offset) {
                    job.visited += 1;
                }
            }
        }
        report.people = people.len();
        let at = Moment { now, upto: last };
        let mut ahead = read_ahead(tx, ws, catalog, &people, now)?;
        for (key, work) in people {
            let outcome = match ahead.as_mut() {
                Some(ahead) => match ahead.remove(&key) {
                    Some(paged) => process_paged_person(tx, ws, catalog, paged, &[], work, at)?,
                    // Deleted or merged away: `process_person` would skip them too.
                    None => PersonOutcome::default(),
                },
                None => process_person(tx, ws, catalog, key, work, at)?,
            };
            report.transitions += outcome.entered.len() + outcome.exited.len();
            for offset in outcome.broadcasts_started {
                if let Some(job) = broadcasts.get_mut(&offset) {
                    job.started += 1;
                }
            }
        }
        for job in broadcasts.values() {
            tx.put_broadcast(ws, job)?;
        }
        tx.set_processed_offset(ws, last)?;
        report.entries = records.len();
        Ok(())
    })?;
    Ok(report)
}

/// Moves the processed offset past the entries received up to `since`, when a workspace's
/// first definitions appear (written at `since`): the backfills they start evaluate everyone
/// as of then, so those entries need no processing of their own, while every entry received
/// after the definitions were written is processed, so no event sent just after a first
/// journey is missed. (Processing the earlier ones too would also be correct, since a backfill
/// counts only events of entries up to the processed offset; it is just work.)
pub fn skip_before(
    store: &dyn Store,
    ws: WorkspaceId,
    since: Option<Timestamp>,
) -> StoreResult<()> {
    let Some(since) = since else {
        return Ok(());
    };
    let from = store.processed_offset(ws)?;
    // Entries received in the very millisecond the definitions were written came first
    // (a clock that did not move between them, as in a simulation).
    let target = last_offset_before(store, ws, since.plus_millis(1))?;
    if target > from {
        store.write(&mut |tx| {
            if tx.processed_offset(ws)? == from {
                tx.set_processed_offset(ws, target)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// The offset of the last entry of the workspace's log received before `since` (0 when there
/// is none): a binary search over the log, which is in receipt order, one single-entry read
/// per step.
pub fn last_offset_before(
    store: &dyn Store,
    ws: WorkspaceId,
    since: Timestamp,
) -> StoreResult<i64> {
    let Some(last) = store.log_extent(ws, 0)?.last_offset else {
        return Ok(0);
    };
    // The smallest offset after which every entry came at or after `since`.
    let (mut low, mut high) = (0, last);
    while low < high {
        let middle = low + (high - low) / 2;
        let later = match store.read_log(ws, middle, 1)?.first() {
            Some(next) => next.entry.received_at >= since,
            None => true,
        };
        if later {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(low)
}

/// The batch's people, read ahead of their turns in a few statements (their journey
/// instances too, when there are journeys), when nothing done for one of them can change
/// another: no journey appends entries to the log (see
/// [`JourneyCatalog::appends_entries`](crate::journeys::JourneyCatalog::appends_entries)).
/// `None`: each is read at their turn.
fn read_ahead(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    catalog: &Catalog,
    people: &BTreeMap<PersonKey, PersonWork>,
    now: Timestamp,
) -> StoreResult<Option<HashMap<PersonKey, PagedPerson>>> {
    if catalog.journeys.appends_entries() {
        return Ok(None);
    }
    let keys: Vec<PersonKey> = people.keys().copied().collect();
    if !catalog.journeys.is_empty() {
        tx.prefetch_instances(ws, &keys, now)?;
    }
    let paged = tx.people_by_key(ws, &keys)?;
    Ok(Some(paged.into_iter().map(|p| (p.state.key, p)).collect()))
}

/// The people a batch's entries name, resolved together before anything is written: working
/// out whom each entry concerns writes nothing, so this is what resolving them one by one
/// would give.
struct Resolved(HashMap<Identifier, Option<PersonKey>>);

impl Resolved {
    fn read(tx: &mut dyn WriteTx, ws: WorkspaceId, records: &[LogRecord]) -> StoreResult<Self> {
        let mut named: Vec<Identifier> = records
            .iter()
            .flat_map(|r| named(&r.entry.operation))
            .collect();
        named.sort();
        named.dedup();
        let keys = tx.resolve_all(ws, &named)?;
        Ok(Self(named.into_iter().zip(keys).collect()))
    }

    /// The person `identifier` names; one [`named`] did not list is resolved now.
    fn get(
        &self,
        tx: &mut dyn WriteTx,
        ws: WorkspaceId,
        identifier: &Identifier,
    ) -> StoreResult<Option<PersonKey>> {
        match self.0.get(identifier) {
            Some(key) => Ok(*key),
            None => tx.resolve(ws, identifier),
        }
    }
}

/// Every identifier [`work_for`] looks up for `operation`.
fn named(operation: &Operation) -> Vec<Identifier> {
    match operation {
        Operation::Identify { person, .. } | Operation::Track { person, .. } => {
            vec![person.clone()]
        }
        Operation::TrackAnonymous {
            anonymous_id: Some(anon),
            ..
        } => Identifier::new(IdentifierKind::AnonymousId, anon)
            .into_iter()
            .collect(),
        Operation::TriggerBroadcast {
            audience: BroadcastAudience::People(recipients),
            ..
        } => recipients.iter().map(|r| r.person.clone()).collect(),
        Operation::Merge { primary, .. } => vec![primary.clone()],
        Operation::Alias { user, .. } => vec![user.clone()],
        Operation::ManualSegment { people, .. } => people.clone(),
        _ => Vec::new(),
    }
}

/// Whom one log entry concerns and what changed for them, resolved as the store stands now
/// (identifiers merged away since resolve to the survivor).
fn work_for(
    tx: &mut dyn WriteTx,
    resolved: &Resolved,
    ws: WorkspaceId,
    record: &LogRecord,
) -> StoreResult<Vec<(PersonKey, PersonWork)>> {
    let received_at = record.entry.received_at;
    let one = |key: Option<PersonKey>, work: PersonWork| {
        key.map(|k| {
            vec![(
                k,
                PersonWork {
                    received_at: Some(received_at),
                    ..work
                },
            )]
        })
        .unwrap_or_default()
    };
    Ok(match &record.entry.operation {
        Operation::Identify {
            person, attributes, ..
        } => {
            let mut work = PersonWork::default();
            if attributes
                .keys()
                .any(|k| IDENTITY_KEYS.contains(&k.as_str()))
            {
                work = PersonWork::everything();
            }
            work.changes.attributes.extend(attributes.keys().cloned());
            work.identify_offsets.push(record.offset);
            one(resolved.get(tx, ws, person)?, work)
        }
        Operation::Track { person, event } => {
            one(resolved.get(tx, ws, person)?, event_work(event, record))
        }
        Operation::TrackAnonymous {
            anonymous_id: Some(anon),
            event,
        } => match Identifier::new(IdentifierKind::AnonymousId, anon) {
            Ok(id) => one(resolved.get(tx, ws, &id)?, event_work(event, record)),
            Err(_) => Vec::new(),
        },
        Operation::TriggerBroadcast {
            journey,
            data,
            audience: BroadcastAudience::People(recipients),
            ..
        } => {
            let mut all = Vec::new();
            for recipient in recipients {
                let mut merged = data.clone();
                merged.extend(recipient.data.clone());
                let work = PersonWork {
                    broadcasts: vec![BroadcastWork {
                        journey: journey.clone(),
                        trigger: TriggerData {
                            event: None,
                            timestamp: received_at,
                            data: merged,
                            offset: record.offset,
                        },
                    }],
                    ..PersonWork::default()
                };
                all.extend(one(resolved.get(tx, ws, &recipient.person)?, work));
            }
            all
        }
        Operation::Merge { primary, .. } => {
            one(resolved.get(tx, ws, primary)?, PersonWork::everything())
        }
        Operation::Alias { user, .. } => one(resolved.get(tx, ws, user)?, PersonWork::everything()),
        Operation::ManualSegment { people, .. } => {
            let mut all = Vec::new();
            for person in people {
                // Segments built on a manual one re-read it: re-evaluate them all.
                let work = PersonWork {
                    changes: Changes {
                        everything: true,
                        ..Changes::default()
                    },
                    ..PersonWork::default()
                };
                all.extend(one(resolved.get(tx, ws, person)?, work));
            }
            all
        }
        // Deletions, suppression, devices and objects change nothing a condition reads.
        _ => Vec::new(),
    })
}

/// The job a broadcast entry records (its counts filled in as the batch goes).
fn broadcast_of(record: &LogRecord) -> Option<BroadcastJob> {
    let Operation::TriggerBroadcast {
        trigger_id,
        journey,
        data,
        audience,
    } = &record.entry.operation
    else {
        return None;
    };
    let filter = match audience {
        BroadcastAudience::People(_) => None,
        BroadcastAudience::Filter(filter) => Some(filter),
    };
    Some(broadcast_job(
        *trigger_id,
        record.offset,
        journey,
        data,
        filter,
        record.entry.received_at,
    ))
}

fn event_work(event: &nudge_core::EventRecord, record: &LogRecord) -> PersonWork {
    let received_at = record.entry.received_at;
    let mut work = PersonWork::default();
    work.changes.events.insert(event.name.clone());
    work.events.push(NewEvent {
        offset: record.offset,
        name: event.name.clone(),
        timestamp: event.timestamp.unwrap_or(received_at),
        data: event.data.clone(),
    });
    work
}
