//! Contract checks for the event log (ordered, per workspace, paged by offset) and for the
//! dedupe keys recorded beside it.

use super::{at, id, map, workspace, write};
use crate::{LogEntry, Store};
use nudge_core::{EventKind, EventRecord, Operation, WorkspaceId};
use serde_json::json;

fn entry(n: i64) -> LogEntry {
    let operation = if n % 2 == 0 {
        Operation::Track {
            person: id(&format!("p{n}")),
            event: EventRecord {
                kind: EventKind::Event,
                name: format!("event {n}"),
                id: Some(format!("01HZ{n}")),
                timestamp: Some(at(n)),
                data: map(json!({ "n": n, "nested": { "list": [1, 2] } })),
            },
        }
    } else {
        Operation::Identify {
            person: id(&format!("p{n}")),
            attributes: map(json!({ "n": n })),
            update_only: false,
            timestamp: None,
        }
    };
    LogEntry {
        source: if n % 2 == 0 { "track_v2" } else { "track_v1" }.into(),
        received_at: at(1_000 + n),
        operation,
        // Odd entries keep a raw payload, even ones none: both must read back as written.
        raw: (n % 2 == 1).then(|| json!({"type": "track", "messageId": format!("m-{n}"), "n": n})),
    }
}

fn append(store: &dyn Store, ws: WorkspaceId, entries: &[LogEntry]) -> Vec<i64> {
    write(store, |tx| {
        entries.iter().map(|e| tx.append_log(ws, e)).collect()
    })
}

pub fn log_offsets_increase_and_read_back_in_order(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let entries: Vec<LogEntry> = (1..=5).map(entry).collect();
    let mut offsets = append(store, ws, &entries[..3]);
    offsets.extend(append(store, ws, &entries[3..]));
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "offsets increase: {offsets:?}"
    );
    assert!(offsets[0] > 0, "offset 0 means 'from the start'");

    let all = store.read_log(ws, 0, 100).unwrap();
    let read: Vec<(i64, &LogEntry)> = all.iter().map(|r| (r.offset, &r.entry)).collect();
    let expected: Vec<(i64, &LogEntry)> = offsets.iter().copied().zip(&entries).collect();
    assert_eq!(read, expected, "every entry, as written, in offset order");

    let page = store.read_log(ws, offsets[1], 2).unwrap();
    let page_offsets: Vec<i64> = page.iter().map(|r| r.offset).collect();
    assert_eq!(
        page_offsets,
        offsets[2..4],
        "after is exclusive, limit caps"
    );
    assert_eq!(page[0].entry, entries[2]);

    assert!(store.read_log(ws, offsets[4], 100).unwrap().is_empty());
    assert_eq!(store.read_log(ws, 0, 1).unwrap()[0].offset, offsets[0]);
}

pub fn log_is_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let a = append(store, lumen, &[entry(1)]);
    let b = append(store, ember, &[entry(2)]);
    let c = append(store, lumen, &[entry(3)]);
    assert!(a[0] < c[0]);

    let lumen_log: Vec<i64> = store
        .read_log(lumen, 0, 10)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(lumen_log, [a[0], c[0]]);
    let ember_log = store.read_log(ember, 0, 10).unwrap();
    assert_eq!(ember_log.len(), 1);
    assert_eq!(
        (ember_log[0].offset, &ember_log[0].entry),
        (b[0], &entry(2))
    );
}

pub fn dedupe_key_recorded_twice_is_a_duplicate(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let (first, again) = write(store, |tx| {
        Ok((
            tx.record_dedupe_key(ws, "01HZA", at(1))?,
            tx.record_dedupe_key(ws, "01HZA", at(2))?,
        ))
    });
    assert!(first, "a new key is recorded");
    assert!(
        !again,
        "the same key in the same transaction is a duplicate"
    );
    let later = write(store, |tx| tx.record_dedupe_key(ws, "01HZA", at(3)));
    assert!(!later, "and in a later transaction");
    let other = write(store, |tx| tx.record_dedupe_key(ws, "01hza", at(3)));
    assert!(other, "keys match exactly");
}

pub fn dedupe_keys_are_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let (in_lumen, in_ember) = write(store, |tx| {
        Ok((
            tx.record_dedupe_key(lumen, "01HZA", at(1))?,
            tx.record_dedupe_key(ember, "01HZA", at(1))?,
        ))
    });
    assert!(
        in_lumen && in_ember,
        "one workspace's key is no duplicate in another"
    );
}

pub fn prune_dedupe_keys_forgets_only_older_keys(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    write(store, |tx| {
        tx.record_dedupe_key(lumen, "old", at(100))?;
        tx.record_dedupe_key(ember, "old-too", at(150))?;
        tx.record_dedupe_key(lumen, "boundary", at(200))?;
        tx.record_dedupe_key(lumen, "new", at(300))?;
        Ok(())
    });
    let pruned = write(store, |tx| tx.prune_dedupe_keys(at(200)));
    assert_eq!(pruned, 2, "keys recorded before 200, in every workspace");
    let recorded_again = write(store, |tx| {
        Ok([
            tx.record_dedupe_key(lumen, "old", at(400))?,
            tx.record_dedupe_key(ember, "old-too", at(400))?,
            tx.record_dedupe_key(lumen, "boundary", at(400))?,
            tx.record_dedupe_key(lumen, "new", at(400))?,
        ])
    });
    assert_eq!(recorded_again, [true, true, false, false]);
    assert_eq!(write(store, |tx| tx.prune_dedupe_keys(at(200))), 0);
}
