//! The virtual clock of a test server against a running processor thread: it moves only
//! forward, answers once the thread has gone idle at the new moment, and reports a processor
//! that has stopped instead of waiting for it forever.

use std::sync::Arc;
use std::time::Duration;

use nudge_core::{Clock, ManualClock, Timestamp};
use nudge_process::{AdvanceError, ClockDriver, Processor, ProcessorConfig};
use nudge_store::{NewWorkspace, Store};

const T0: Timestamp = Timestamp::from_millis(1_772_445_600_000);

fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let store = nudge_store_sqlite::SqliteStore::open(&dir.path().join("n.db")).unwrap();
    store
        .create_workspace(&NewWorkspace {
            name: "lumen".into(),
            env: nudge_core::Env::Production,
            site_id: "lumen-site".into(),
            keys: vec![],
            now: T0,
        })
        .unwrap();
    Arc::new(store)
}

#[test]
fn the_clock_moves_forward_only_and_waits_for_the_processor() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let clock = ManualClock::starting_at(T0);
    let processor = Processor::new(
        store.clone(),
        Arc::new(clock.clone()),
        ProcessorConfig::default(),
    )
    .spawn();
    let driver = ClockDriver::new(clock.clone(), processor.waker(), Duration::from_secs(30));

    let later = T0.plus_millis(3_600_000);
    assert_eq!(driver.advance_to(store.as_ref(), later).unwrap(), later);
    assert_eq!(clock.now(), later, "the clock the processor reads moved");
    assert_eq!(
        driver.advance_to(store.as_ref(), later).unwrap(),
        later,
        "staying put is allowed"
    );
    let refused = driver.advance_to(store.as_ref(), T0).unwrap_err();
    assert!(
        matches!(refused, AdvanceError::Backwards { .. }),
        "{refused}"
    );
    assert_eq!(driver.now(), later, "a refusal leaves the clock alone");

    let waker = processor.waker();
    processor.stop();
    assert!(
        !waker.wake_and_wait_idle(Duration::from_secs(30)),
        "a stopped processor never goes idle again"
    );
    let stuck = driver
        .advance_to(store.as_ref(), later.plus_millis(1))
        .unwrap_err();
    assert!(matches!(stuck, AdvanceError::NotSettled { .. }), "{stuck}");
}
