//! One person's stored events for one evaluation, read at most once per name: the computed
//! attributes being recomputed and the segments being evaluated often read the same names,
//! and each read decodes every event's data. Only events of log entries the processor has
//! reached are kept: later ones are folded in when their entry is processed, and counting
//! them now would count them twice.

use std::collections::BTreeMap;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{EventRead, StoreResult, StoredEvent, WriteTx, ACTIVITIES_PER_ENTRY};

pub(crate) struct PersonEvents {
    ws: WorkspaceId,
    person: PersonKey,
    upto: i64,
    /// Per name: how far back it was read (`None`: all of it), and the events.
    by_name: BTreeMap<String, (Option<Timestamp>, Vec<StoredEvent>)>,
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

    /// The events a page read ahead (`events`, as `reads` brought them); names it did not
    /// read are read from the store when asked for.
    pub(crate) fn preloaded(
        ws: WorkspaceId,
        person: PersonKey,
        upto: i64,
        reads: &[EventRead],
        events: Vec<StoredEvent>,
    ) -> Self {
        let mut loaded = Self::new(ws, person, upto);
        for read in reads {
            for name in &read.names {
                let entry = loaded
                    .by_name
                    .entry(name.clone())
                    .or_insert((read.since, Vec::new()));
                if !covers(entry.0, read.since) {
                    entry.0 = read.since;
                }
            }
        }
        for event in events {
            if event.seq.div_euclid(ACTIVITIES_PER_ENTRY) <= upto {
                if let Some((_, list)) = loaded.by_name.get_mut(&event.name) {
                    list.push(event);
                }
            }
        }
        loaded
    }

    /// The person's events of `names` at or after `since` (all of them for `None`), in
    /// timestamp order.
    pub(crate) fn read(
        &mut self,
        tx: &mut dyn WriteTx,
        names: &[String],
        since: Option<Timestamp>,
    ) -> StoreResult<Vec<StoredEvent>> {
        let missing: Vec<String> = names
            .iter()
            .filter(|name| match self.by_name.get(*name) {
                None => true,
                Some((read_since, _)) => !covers(*read_since, since),
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            let mut fresh: BTreeMap<String, Vec<StoredEvent>> =
                missing.iter().map(|n| (n.clone(), Vec::new())).collect();
            for event in tx.person_events(self.ws, self.person, &missing, since)? {
                if event.seq.div_euclid(ACTIVITIES_PER_ENTRY) <= self.upto {
                    if let Some(list) = fresh.get_mut(&event.name) {
                        list.push(event);
                    }
                }
            }
            for (name, events) in fresh {
                self.by_name.insert(name, (since, events));
            }
        }
        let mut out: Vec<StoredEvent> = names
            .iter()
            .filter_map(|n| self.by_name.get(n))
            .flat_map(|(_, events)| events.iter())
            .filter(|e| since.is_none_or(|s| e.timestamp >= s))
            .cloned()
            .collect();
        out.sort_by_key(|e| (e.timestamp, e.seq));
        out.dedup_by_key(|e| e.seq);
        Ok(out)
    }
}

/// Whether a read from `read_since` holds everything a read from `wanted` needs.
fn covers(read_since: Option<Timestamp>, wanted: Option<Timestamp>) -> bool {
    match (read_since, wanted) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(r), Some(w)) => r <= w,
    }
}
