//! Contract checks for rejected messages: recorded inside the write transaction (so they
//! commit or roll back with it), kept per workspace, listed newest first and paged by id.

use super::{at, workspace, write};
use crate::{Rejection, Store, StoreError};
use serde_json::json;

fn rejection(n: i64) -> Rejection {
    Rejection {
        received_at: at(1_000 + n),
        source: "pipelines".into(),
        reason: format!("reason {n}"),
        // Every other rejection names a field; both forms must read back as written.
        field: (n % 2 == 0).then(|| format!("batch[{n}].traits.email")),
        raw: json!({"type": "identify", "messageId": format!("m-{n}"),
                    "traits": {"nested": {"list": [1, n]}}, "n": n}),
    }
}

pub fn rejections_are_recorded_and_listed_newest_first(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    assert!(store.rejections(ws, None, 10).unwrap().is_empty());
    let written: Vec<Rejection> = (1..=5).map(rejection).collect();
    let mut ids = write(store, |tx| {
        written[..3]
            .iter()
            .map(|r| tx.record_rejection(ws, r))
            .collect::<Result<Vec<_>, _>>()
    });
    ids.extend(write(store, |tx| {
        written[3..]
            .iter()
            .map(|r| tx.record_rejection(ws, r))
            .collect::<Result<Vec<_>, _>>()
    }));
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    let all = store.rejections(ws, None, 100).unwrap();
    let read: Vec<(i64, &Rejection)> = all.iter().map(|r| (r.id, &r.rejection)).collect();
    let expected: Vec<(i64, &Rejection)> = ids.iter().copied().zip(&written).rev().collect();
    assert_eq!(read, expected, "every rejection, as written, newest first");

    let page = store.rejections(ws, Some(ids[3]), 2).unwrap();
    let page_ids: Vec<i64> = page.iter().map(|r| r.id).collect();
    assert_eq!(
        page_ids,
        [ids[2], ids[1]],
        "before_id is exclusive, limit caps"
    );
    assert_eq!(page[0].rejection, written[2]);
    assert!(store.rejections(ws, Some(ids[0]), 10).unwrap().is_empty());
    assert_eq!(store.rejections(ws, None, 1).unwrap()[0].id, ids[4]);
}

pub fn rejections_are_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let (a, b) = write(store, |tx| {
        Ok((
            tx.record_rejection(lumen, &rejection(1))?,
            tx.record_rejection(ember, &rejection(2))?,
        ))
    });
    let lumen_ids: Vec<i64> = (store.rejections(lumen, None, 10).unwrap().iter())
        .map(|r| r.id)
        .collect();
    assert_eq!(lumen_ids, [a]);
    let ember_list = store.rejections(ember, None, 10).unwrap();
    assert_eq!(ember_list.len(), 1);
    assert_eq!(
        (ember_list[0].id, &ember_list[0].rejection),
        (b, &rejection(2))
    );
}

pub fn rejections_roll_back_with_their_transaction(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let result = store.write(&mut |tx| {
        tx.record_rejection(ws, &rejection(1))?;
        Err(StoreError::Backend("the batch failed".into()))
    });
    assert!(result.is_err());
    assert!(
        store.rejections(ws, None, 10).unwrap().is_empty(),
        "a rejection is durable only with the commit of its batch"
    );
}
