//! Moving a virtual clock the way time would pass: from one due check or journey timer to the
//! next, letting the processor finish everything due at each stop before going on. The
//! simulator drives its processor synchronously through [`advance_clock`]; a test server
//! (`nudge serve --virtual-clock`) drives its processor thread, and any other worker that acts
//! on due work (the delivery worker), through a [`ClockDriver`]. Never used on the system
//! clock.

use std::sync::Mutex;
use std::time::Duration;

use nudge_core::{Clock, ManualClock, Timestamp};
use nudge_store::{Store, StoreError};

use crate::processor::{next_wake, Waker};

/// Stops one advance may make before it gives up on work that keeps rescheduling itself.
pub const MAX_STOPS_PER_ADVANCE: usize = 1_000_000;

/// Why the clock did not reach its target.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Clocks only move forward.
    #[error("{target} is before the clock's current time {now}")]
    Backwards { target: String, now: String },
    /// The processor did not finish what was due at `at` in time.
    #[error("the processor did not finish the work due at {at} within {waited:?}")]
    NotSettled { at: String, waited: Duration },
    #[error("work keeps being scheduled at {0}")]
    KeepsScheduling(String),
}

/// Runs `clock` to `target`, stopping at every due check and timer on the way: at each stop
/// (and at `target`) `settle` must return once the processor has done everything due then.
/// A target before the clock's time leaves the clock where it is (and still settles).
pub fn advance_clock(
    clock: &ManualClock,
    store: &dyn Store,
    target: Timestamp,
    settle: impl FnMut() -> Result<(), AdvanceError>,
) -> Result<(), AdvanceError> {
    advance_clock_through(clock, store, target, next_wake, settle)
}

/// [`advance_clock`] with its own idea of the next due moment (`next_due`), for a clock that
/// more than the processor waits on.
pub fn advance_clock_through(
    clock: &ManualClock,
    store: &dyn Store,
    target: Timestamp,
    next_due: impl Fn(&dyn Store) -> Result<Option<Timestamp>, StoreError>,
    mut settle: impl FnMut() -> Result<(), AdvanceError>,
) -> Result<(), AdvanceError> {
    settle()?;
    let mut stops = 0;
    while let Some(next) = next_due(store)? {
        if next > target {
            break;
        }
        clock.set(next.max(clock.now()));
        settle()?;
        stops += 1;
        if stops >= MAX_STOPS_PER_ADVANCE {
            return Err(AdvanceError::KeepsScheduling(next.to_rfc3339()));
        }
    }
    clock.set(target.max(clock.now()));
    settle()
}

/// A live server's virtual clock: the clock its writer, API and processor thread read, and
/// the means to move it forward only as fast as the processor keeps up. It holds no store: the
/// caller lends one to each advance (a store is closed on a blocking thread, never here).
pub struct ClockDriver {
    clock: ManualClock,
    processor: Waker,
    /// The delivery worker, when one runs: settled after the processor at every stop, and
    /// its retries are stops too.
    deliveries: Option<Box<dyn Fn(Duration) -> bool + Send + Sync>>,
    /// The longest one stop may wait for the processor.
    settle_timeout: Duration,
    /// One advance at a time.
    moving: Mutex<()>,
}

impl ClockDriver {
    pub fn new(clock: ManualClock, processor: Waker, settle_timeout: Duration) -> Self {
        Self {
            clock,
            processor,
            deliveries: None,
            settle_timeout,
            moving: Mutex::new(()),
        }
    }

    /// Also settles a delivery worker at every stop: `settle(timeout)` wakes it and returns
    /// once it is idle at the clock's time (`false` when it did not get there in time).
    pub fn with_deliveries(mut self, settle: Box<dyn Fn(Duration) -> bool + Send + Sync>) -> Self {
        self.deliveries = Some(settle);
        self
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the clock to `target` as [`advance_clock`] does (`store` is the processor's, for
    /// the next due moment), waiting at each stop until the processor thread is idle at that
    /// moment. Blocks; returns the clock's new time.
    pub fn advance_to(
        &self,
        store: &dyn Store,
        target: Timestamp,
    ) -> Result<Timestamp, AdvanceError> {
        let _one_at_a_time = self.moving.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        if target < now {
            return Err(AdvanceError::Backwards {
                target: target.to_rfc3339(),
                now: now.to_rfc3339(),
            });
        }
        let next_due = |store: &dyn Store| {
            let next = next_wake(store)?;
            Ok(match &self.deliveries {
                Some(_) => crate::person::earliest(next, store.next_delivery_due()?),
                None => next,
            })
        };
        advance_clock_through(&self.clock, store, target, next_due, || self.settle())?;
        Ok(self.clock.now())
    }

    /// Waits until the processor, then the delivery worker, then the processor again (for
    /// what deliveries wrote) are idle at the clock's time.
    fn settle(&self) -> Result<(), AdvanceError> {
        let not_settled = || AdvanceError::NotSettled {
            at: self.clock.now().to_rfc3339(),
            waited: self.settle_timeout,
        };
        if !self.processor.wake_and_wait_idle(self.settle_timeout) {
            return Err(not_settled());
        }
        let Some(deliveries) = &self.deliveries else {
            return Ok(());
        };
        if !deliveries(self.settle_timeout) {
            return Err(not_settled());
        }
        if !self.processor.wake_and_wait_idle(self.settle_timeout) {
            return Err(not_settled());
        }
        Ok(())
    }
}
