//! One person's stored events for one evaluation, read at most once per name: the computed
//! attributes being recomputed and the segments being evaluated often read the same names.
//! Each name remembers how far back it was read, and how far back with data (reads that need
//! only names and times skip decoding, and the store answers them from its index). Only
//! events of log entries the processor has reached are kept: later ones are folded in when
//! their entry is processed, and counting them now would count them twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{EventRead, StoreResult, StoredEvent, WriteTx, ACTIVITIES_PER_ENTRY};

/// What has been read of one name.
#[derive(Default)]
struct NameRead {
    /// Events from this time on are here (`None`: none read yet; `Some(None)`: all are).
    since: Option<Option<Timestamp>>,
    /// Events from this time on have their data (`None`: none has; `Some(None)`: all do).
    data_since: Option<Option<Timestamp>>,
    /// Shared, so handing events to the folds and the conditions copies no data.
    events: BTreeMap<i64, Arc<StoredEvent>>,
}

impl NameRead {
    fn covers(&self, read: &EventRead) -> bool {
        covers(self.since, read.since) && (!read.with_data || covers(self.data_since, read.since))
    }

    /// Takes in what a read of this name from `since` brought.
    fn absorb(&mut self, since: Option<Timestamp>, with_data: bool, events: Vec<Arc<StoredEvent>>) {
        self.since = earlier(self.since, since);
        if with_data {
            self.data_since = earlier(self.data_since, since);
        }
        for event in events {
            // A copy with data replaces one without; one without never replaces anything.
            if with_data || !self.events.contains_key(&event.seq) {
                self.events.insert(event.seq, event);
            }
        }
    }
}

pub(crate) struct PersonEvents {
    ws: WorkspaceId,
    person: PersonKey,
    upto: i64,
    by_name: BTreeMap<String, NameRead>,
}

impl PersonEvents {
    pub(crate) fn new(ws: WorkspaceId, person: PersonKey, upto: i64) -> Self {
        Self {
            ws,
            person,
            upto,
            by_name: BTreeMap::new(),
        }
    }

    /// The events a page read ahead (`events`, as `reads` brought them); what it did not read
    /// is read from the store when asked for.
    pub(crate) fn preloaded(
        ws: WorkspaceId,
        person: PersonKey,
        upto: i64,
        reads: &[EventRead],
        events: Vec<StoredEvent>,
    ) -> Self {
        let mut loaded = Self::new(ws, person, upto);
        let mut by_name: BTreeMap<String, Vec<Arc<StoredEvent>>> = BTreeMap::new();
        for event in events {
            if event.seq.div_euclid(ACTIVITIES_PER_ENTRY) <= upto {
                by_name
                    .entry(event.name.clone())
                    .or_default()
                    .push(Arc::new(event));
            }
        }
        for read in reads {
            for name in &read.names {
                let entry = loaded.by_name.entry(name.clone()).or_default();
                let events = by_name.get(name).cloned().unwrap_or_default();
                entry.absorb(read.since, read.with_data, events);
            }
        }
        loaded
    }

    /// The person's events `read` asks for, in timestamp order.
    pub(crate) fn read(
        &mut self,
        tx: &mut dyn WriteTx,
        read: &EventRead,
    ) -> StoreResult<Vec<Arc<StoredEvent>>> {
        self.read_all(tx, std::slice::from_ref(read))
    }

    /// The person's events any of `reads` asks for, each once, in timestamp order.
    pub(crate) fn read_all(
        &mut self,
        tx: &mut dyn WriteTx,
        reads: &[EventRead],
    ) -> StoreResult<Vec<Arc<StoredEvent>>> {
        for read in reads {
            self.load(tx, read)?;
        }
        let mut out: Vec<Arc<StoredEvent>> = Vec::new();
        for read in reads {
            let events = read
                .names
                .iter()
                .filter_map(|n| self.by_name.get(n))
                .flat_map(|n| n.events.values())
                .filter(|e| read.since.is_none_or(|s| e.timestamp >= s));
            out.extend(events.cloned());
        }
        out.sort_by_key(|e| (e.timestamp, e.seq));
        out.dedup_by_key(|e| e.seq);
        Ok(out)
    }

    /// Reads from the store what `read` asks for and is not here yet.
    fn load(&mut self, tx: &mut dyn WriteTx, read: &EventRead) -> StoreResult<()> {
        let missing: Vec<String> = read
            .names
            .iter()
            .filter(|name| !self.by_name.get(*name).is_some_and(|n| n.covers(read)))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let fetch = EventRead {
            names: missing.clone(),
            ..read.clone()
        };
        let mut fresh: BTreeMap<String, Vec<Arc<StoredEvent>>> = BTreeMap::new();
        for event in tx.person_events(self.ws, self.person, &fetch)? {
            if event.seq.div_euclid(ACTIVITIES_PER_ENTRY) <= self.upto {
                fresh
                    .entry(event.name.clone())
                    .or_default()
                    .push(Arc::new(event));
            }
        }
        for name in missing {
            let events = fresh.remove(&name).unwrap_or_default();
            let entry = self.by_name.entry(name).or_default();
            entry.absorb(read.since, read.with_data, events);
        }
        Ok(())
    }
}

/// Whether having read from `read_since` (`None`: never; `Some(None)`: all of it) holds
/// everything a read from `wanted` needs.
fn covers(read_since: Option<Option<Timestamp>>, wanted: Option<Timestamp>) -> bool {
    match (read_since, wanted) {
        (None, _) => false,
        (Some(None), _) => true,
        (Some(Some(_)), None) => false,
        (Some(Some(r)), Some(w)) => r <= w,
    }
}

/// The earlier of two read starts, in the same terms as [`covers`].
fn earlier(a: Option<Option<Timestamp>>, b: Option<Timestamp>) -> Option<Option<Timestamp>> {
    match (a, b) {
        (None, b) => Some(b),
        (Some(None), _) | (_, None) => Some(None),
        (Some(Some(x)), Some(y)) => Some(Some(x.min(y))),
    }
}
