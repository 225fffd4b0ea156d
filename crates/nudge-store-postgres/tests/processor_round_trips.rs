//! What the PostgreSQL backend does to save the processor round trips must not change what a
//! caller sees: instances read ahead for a batch answer `person_instances` as a read at that
//! moment would, also after the transaction wrote one of them; the messages of instances a
//! transaction started are written behind, and reach the outbox in the order they were
//! queued, each id once, mixed with messages inserted at once, and their delivery state can
//! be read in the transaction that queued them.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Definitions, InstanceRow, NewWorkspace, OutboxMessage, Store, StoreResult, WriteTx,
};
use nudge_store_postgres::test_database::TestDatabase;
use nudge_store_postgres::PostgresStore;
use serde_json::json;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn store() -> Option<(PostgresStore, WorkspaceId)> {
    let database = TestDatabase::create()?;
    let store = database.into_store().unwrap();
    let ws = store
        .create_workspace(&NewWorkspace {
            name: "lumen".into(),
            env: nudge_core::Env::Production,
            site_id: "site-lumen".into(),
            keys: vec![],
            now: at(1),
        })
        .unwrap()
        .id;
    Some((store, ws))
}

fn write<T>(store: &dyn Store, mut work: impl FnMut(&mut dyn WriteTx) -> StoreResult<T>) -> T {
    let mut out = None;
    store
        .write(&mut |tx| {
            out = Some(work(tx)?);
            Ok(())
        })
        .unwrap();
    out.unwrap()
}

fn person(store: &dyn Store, ws: WorkspaceId, cio_id: &str) -> PersonKey {
    write(store, |tx| tx.insert_person(ws, cio_id, at(1)))
}

fn instance(person: PersonKey, key: &str, active: bool) -> InstanceRow {
    InstanceRow {
        id: 0,
        journey: "cart".into(),
        version: 1,
        person,
        key: key.into(),
        active,
        step: Some("wait".into()),
        wake_at: None,
        watch_until: None,
        entered_at: at(100),
        state: json!({"key": key}),
    }
}

fn message(person: PersonKey, instance: i64, id: &str) -> OutboxMessage {
    OutboxMessage {
        message_id: id.into(),
        person,
        journey: "cart".into(),
        step: "mail".into(),
        instance,
        channel: "email".into(),
        recipient: "ana@example.com".into(),
        subject: Some("Your cart".into()),
        body: format!("message {id}"),
        payload: json!({"html": null}),
        created_at: at(200),
    }
}

fn keys(rows: &[InstanceRow]) -> Vec<String> {
    rows.iter().map(|r| r.key.clone()).collect()
}

#[test]
fn instances_read_ahead_answer_as_a_read_at_that_moment_would() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    let bob = person(&store, ws, "bob");
    let cy = person(&store, ws, "cy");
    let a1 = write(&store, |tx| {
        tx.insert_instance(ws, &instance(bob, "b-1", true))?;
        tx.insert_instance(ws, &instance(ana, "a-1", true))
    });
    let (ana_read, bob_read, cy_read) = write(&store, |tx| {
        tx.prefetch_instances(ws, &[ana, bob, cy], at(100))?;
        // Ana's instance moves on before her turn; Bob, after his first read, changes his
        // and starts another; Cy, who had none when they were read, starts one.
        let mut moved = tx.instance(ws, a1)?.expect("ana's instance");
        moved.step = Some("sms".into());
        tx.update_instance(ws, &moved)?;
        let mut b1 = tx.person_instances(ws, bob, at(100))?.remove(0);
        b1.step = Some("mail".into());
        tx.update_instance(ws, &b1)?;
        tx.insert_instance(ws, &instance(bob, "b-2", true))?;
        tx.insert_instance(ws, &instance(cy, "c-1", true))?;
        Ok((
            tx.person_instances(ws, ana, at(100))?,
            tx.person_instances(ws, bob, at(100))?,
            tx.person_instances(ws, cy, at(100))?,
        ))
    });
    assert_eq!(keys(&ana_read), ["a-1"]);
    assert_eq!(ana_read[0].step.as_deref(), Some("sms"));
    assert_eq!(keys(&bob_read), ["b-1", "b-2"]);
    assert_eq!(bob_read[0].step.as_deref(), Some("mail"));
    assert_eq!(keys(&cy_read), ["c-1"]);
}

#[test]
fn instances_read_ahead_for_another_moment_are_not_used() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    write(&store, |tx| {
        let mut watched = instance(ana, "a-1", false);
        watched.watch_until = Some(at(500));
        tx.insert_instance(ws, &watched)?;
        Ok(())
    });
    let (early, late) = write(&store, |tx| {
        tx.prefetch_instances(ws, &[ana], at(100))?;
        // Asked at a moment the conversion window has closed.
        let late = tx.person_instances(ws, ana, at(600))?;
        tx.prefetch_instances(ws, &[ana], at(100))?;
        Ok((tx.person_instances(ws, ana, at(100))?, late))
    });
    assert_eq!(keys(&early), ["a-1"]);
    assert!(late.is_empty(), "{late:?}");
}

#[test]
fn messages_of_started_instances_reach_the_outbox_in_order_each_once() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    let old = write(&store, |tx| {
        tx.insert_instance(ws, &instance(ana, "old", true))
    });
    write(&store, |tx| {
        tx.enqueue_message(ws, &message(ana, old, "m-old-1"))?;
        Ok(())
    });
    let queued = write(&store, |tx| {
        let fresh = tx.insert_instance(ws, &instance(ana, "new", false))?;
        Ok(vec![
            tx.enqueue_message(ws, &message(ana, fresh, "m-1"))?,
            tx.enqueue_message(ws, &message(ana, fresh, "m-2"))?,
            // Queued again in the same transaction: not a second message.
            tx.enqueue_message(ws, &message(ana, fresh, "m-1"))?,
            // An older instance's message goes in at once, after those before it; the
            // table says whether it is new.
            tx.enqueue_message(ws, &message(ana, old, "m-old-1"))?,
            tx.enqueue_message(ws, &message(ana, old, "m-old-2"))?,
            tx.enqueue_message(ws, &message(ana, fresh, "m-3"))?,
        ])
    });
    assert_eq!(queued, [true, true, false, false, true, true]);
    let stored = store.outbox(ws, 0, 100).unwrap();
    let ids: Vec<&str> = stored
        .iter()
        .map(|m| m.message.message_id.as_str())
        .collect();
    assert_eq!(ids, ["m-old-1", "m-1", "m-2", "m-old-2", "m-3"]);
    let body_of_m1 = &stored[1].message;
    assert_eq!(body_of_m1, &message(ana, body_of_m1.instance, "m-1"));
}

#[test]
fn messages_written_behind_go_with_a_transaction_that_fails() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    let failed = store.write(&mut |tx| {
        let fresh = tx.insert_instance(ws, &instance(ana, "new", false))?;
        tx.enqueue_message(ws, &message(ana, fresh, "m-1"))?;
        Err(nudge_store::StoreError::Backend(
            "the caller gives up".into(),
        ))
    });
    assert!(failed.is_err());
    assert!(store.outbox(ws, 0, 100).unwrap().is_empty());
}

#[test]
fn a_message_written_behind_has_its_delivery_state_in_the_same_transaction() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    let state = write(&store, |tx| {
        let fresh = tx.insert_instance(ws, &instance(ana, "new", false))?;
        tx.enqueue_message(ws, &message(ana, fresh, "m-1"))?;
        tx.delivery_state(ws, "m-1")
    });
    assert_eq!(state, Some(nudge_store::DeliveryState::Queued));
}
