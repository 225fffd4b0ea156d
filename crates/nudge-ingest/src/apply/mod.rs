//! Applies one logged operation to people, identifiers, activities, devices, segments and
//! objects inside the caller's transaction. The same function serves live ingestion and
//! replay, so everything it decides comes from the entry and the stored state alone.

use nudge_core::{
    Activity, ActivityKind, EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, Operation,
    PersonKey, Timestamp, WorkspaceId,
};
use nudge_store::{LogEntry, Marked, StoreResult, WriteTx};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::TRIGGER_WINDOW_MILLIS;

/// What became of one operation. Every outcome is committed with the log entry; `Dropped` and
/// `Refused` carry the reason the client or the timeline is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// The client's dedupe key was seen before; nothing was written.
    Duplicate,
    /// Accepted but had no effect (unknown cio_id, suppressed identifier, `_update` miss).
    Dropped(String),
    /// The request named something that does not exist or cannot be changed this way; the
    /// API reports it as a client error.
    Refused(String),
}

/// The state one application works with.
pub(crate) struct Cx<'t> {
    pub tx: &'t mut dyn WriteTx,
    pub ws: WorkspaceId,
    pub now: Timestamp,
    /// The log offset, which seeds the cio_ids of people this entry creates.
    pub offset: i64,
    pub created: u32,
    /// Activities this entry recorded so far, which numbers the next one.
    pub recorded: u32,
}

impl Cx<'_> {
    /// Marks `subject` as changed by this entry, which is how a replay recognises the entry as
    /// already applied. Every change an entry makes marks what it changed, except an
    /// activity, whose position already names the entry.
    pub(crate) fn mark(&mut self, subject: Marked<'_>) -> StoreResult<()> {
        self.tx.mark(self.ws, subject, self.offset)
    }

    /// A cio_id derived from the log position, so replaying the log recreates the same ids.
    fn next_cio_id(&mut self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.ws.0.to_be_bytes());
        hasher.update(self.offset.to_be_bytes());
        hasher.update(self.created.to_be_bytes());
        self.created += 1;
        hex::encode(&hasher.finalize()[..10])
    }

    pub(crate) fn create_person(&mut self, identifiers: &[&Identifier]) -> StoreResult<PersonKey> {
        let cio_id = self.next_cio_id();
        let key = self.tx.insert_person(self.ws, &cio_id, self.now)?;
        let cio = Identifier::new(IdentifierKind::CioId, &cio_id).expect("hex is a valid cio_id");
        self.tx.link_identifier(self.ws, &cio, key)?;
        let mut person = self
            .tx
            .load_person(self.ws, key)?
            .ok_or_else(|| nudge_store::StoreError::Backend("inserted person vanished".into()))?;
        for identifier in identifiers {
            self.tx.link_identifier(self.ws, identifier, key)?;
            set_identifier_field(&mut person, identifier);
        }
        self.tx.save_person(self.ws, &person)?;
        self.mark(Marked::Person(key))?;
        Ok(key)
    }

    /// The person an identifier names, created when missing (a cio_id is never created).
    pub(crate) fn resolve_or_create(
        &mut self,
        person: &Identifier,
    ) -> StoreResult<Result<PersonKey, String>> {
        // Suppression blocks creation; an identifier that resolves names a live person.
        if let Some(key) = self.tx.resolve(self.ws, person)? {
            return Ok(Ok(key));
        }
        if self.tx.is_suppressed(self.ws, person)? {
            return Ok(Err(format!("{person} is suppressed")));
        }
        if person.kind() == IdentifierKind::CioId {
            return Ok(Err(format!("no person has cio_id {}", person.value())));
        }
        self.create_person(&[person]).map(Ok)
    }

    pub(crate) fn record(&mut self, key: PersonKey, activity: Activity) -> StoreResult<()> {
        if i64::from(self.recorded) >= nudge_store::ACTIVITIES_PER_ENTRY {
            return Err(nudge_store::StoreError::Backend(format!(
                "log entry {} records more than {} activities",
                self.offset,
                nudge_store::ACTIVITIES_PER_ENTRY
            )));
        }
        let seq = nudge_store::activity_seq(self.offset, self.recorded);
        self.recorded += 1;
        self.tx
            .record_activity(self.ws, key, &activity, seq, self.now)
    }

    pub(crate) fn record_failure(
        &mut self,
        key: PersonKey,
        reason: &str,
        attributes: &JsonMap,
    ) -> StoreResult<()> {
        let data = json!({"reason": reason, "attributes": attributes});
        self.record(
            key,
            Activity {
                kind: ActivityKind::FailedAttributeChange,
                name: String::new(),
                timestamp: self.now,
                data: data.as_object().cloned().unwrap_or_default(),
                event_id: None,
                can_trigger: false,
            },
        )
    }
}

pub(crate) fn set_identifier_field(person: &mut nudge_core::PersonState, identifier: &Identifier) {
    let value = Some(identifier.value().to_string());
    match identifier.kind() {
        IdentifierKind::Id => person.id = value,
        IdentifierKind::Email => person.email = value,
        IdentifierKind::Phone => person.phone = value,
        IdentifierKind::CioId | IdentifierKind::AnonymousId => {}
    }
}

/// Applies `entry` (already appended at `offset`) inside `tx`.
pub fn apply_entry(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    offset: i64,
    entry: &LogEntry,
) -> StoreResult<Outcome> {
    let mut cx = Cx {
        tx,
        ws,
        now: entry.received_at,
        offset,
        created: 0,
        recorded: 0,
    };
    match &entry.operation {
        Operation::Identify {
            person,
            attributes,
            update_only,
            timestamp,
        } => identify::identify(&mut cx, person, attributes, *update_only, *timestamp),
        Operation::DeletePerson { person } => delete_person(&mut cx, person),
        Operation::Track { person, event } => match cx.resolve_or_create(person)? {
            Ok(key) => track(&mut cx, key, event),
            Err(reason) => Ok(Outcome::Dropped(reason)),
        },
        Operation::TrackAnonymous {
            anonymous_id,
            event,
        } => match anonymous_id {
            // An anonymous invite: kept in the log for delivery, attached to nobody.
            None => Ok(Outcome::Applied),
            Some(anon) => {
                let anon = Identifier::new(IdentifierKind::AnonymousId, anon)
                    .map_err(|e| nudge_store::StoreError::Corrupt(e.to_string()))?;
                match cx.resolve_or_create(&anon)? {
                    Ok(key) => track(&mut cx, key, event),
                    Err(reason) => Ok(Outcome::Dropped(reason)),
                }
            }
        },
        Operation::Suppress { person } => suppress(&mut cx, person),
        Operation::Unsuppress { person } => {
            for freed in cx.tx.unsuppress_together(ws, person)? {
                cx.mark(Marked::Identifier(&freed))?;
            }
            cx.mark(Marked::Identifier(person))?;
            Ok(Outcome::Applied)
        }
        Operation::Merge { primary, secondary } => identify::merge(&mut cx, primary, secondary),
        Operation::Alias { previous, user } => identify::alias(&mut cx, previous, user),
        // Logged for the processor, which starts the instances; nothing to store here.
        Operation::TriggerBroadcast { .. } => Ok(Outcome::Applied),
        other => relations::apply(&mut cx, other),
    }
}

/// What replaying one log entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The store already reflects the entry: it, or a later entry, changed what the entry
    /// names. Nothing was written.
    AlreadyApplied,
    /// Nothing the entry names carries a trace of it, so it was applied (again), with this
    /// outcome.
    Applied(Outcome),
}

/// Re-applies `entry` (logged at `offset`) on top of whatever the store holds now: skipped
/// when the store already reflects it, otherwise exactly [`apply_entry`]. Replaying a log on
/// an intact store therefore changes nothing, and replaying onto a store that lags the log
/// catches it up.
pub fn replay_entry(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    offset: i64,
    entry: &LogEntry,
) -> StoreResult<Replayed> {
    if guard::already_applied(tx, ws, offset, &entry.operation)? {
        return Ok(Replayed::AlreadyApplied);
    }
    apply_entry(tx, ws, offset, entry).map(Replayed::Applied)
}

fn track(cx: &mut Cx<'_>, key: PersonKey, event: &EventRecord) -> StoreResult<Outcome> {
    let timestamp = event.timestamp.unwrap_or(cx.now);
    let kind = match event.kind {
        EventKind::Event => ActivityKind::Event,
        EventKind::Page => ActivityKind::Page,
        EventKind::Screen => ActivityKind::Screen,
    };
    let activity = Activity {
        kind,
        name: event.name.clone(),
        timestamp,
        data: event.data.clone(),
        event_id: event.id.clone(),
        can_trigger: timestamp >= cx.now.minus_millis(TRIGGER_WINDOW_MILLIS),
    };
    cx.record(key, activity)?;
    Ok(Outcome::Applied)
}

fn delete_person(cx: &mut Cx<'_>, person: &Identifier) -> StoreResult<Outcome> {
    match cx.tx.resolve(cx.ws, person)? {
        Some(key) => {
            cx.mark(Marked::IdentifiersOf(key))?;
            cx.tx.delete_person(cx.ws, key)?;
            Ok(Outcome::Applied)
        }
        None => Ok(Outcome::Dropped(format!("no person matches {person}"))),
    }
}

/// Deletes the person and blocks each of their identifiers from re-creation.
fn suppress(cx: &mut Cx<'_>, person: &Identifier) -> StoreResult<Outcome> {
    let mut blocked = vec![person.clone()];
    if let Some(key) = cx.tx.resolve(cx.ws, person)? {
        if let Some(state) = cx.tx.load_person(cx.ws, key)? {
            let known = [
                (IdentifierKind::Id, state.id),
                (IdentifierKind::Email, state.email),
                (IdentifierKind::Phone, state.phone),
            ];
            for (kind, value) in known {
                if let Some(identifier) = value.and_then(|v| Identifier::new(kind, &v).ok()) {
                    blocked.push(identifier);
                }
            }
        }
        cx.mark(Marked::IdentifiersOf(key))?;
        cx.tx.delete_person(cx.ws, key)?;
    }
    blocked.retain(|i| i.kind() != IdentifierKind::CioId);
    blocked.sort();
    blocked.dedup();
    cx.tx.suppress_together(cx.ws, &blocked, cx.now)?;
    for identifier in &blocked {
        cx.mark(Marked::Identifier(identifier))?;
    }
    Ok(Outcome::Applied)
}

mod guard;
mod identify;
mod relations;
