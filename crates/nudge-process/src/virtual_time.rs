//! Moving a virtual clock the way time would pass: from one due check or journey timer to the
//! next, letting the processor finish everything due at each stop before going on. The
//! simulator drives its processor synchronously through [`advance_clock`]; a test server
//! (`nudge serve --virtual-clock`) drives its processor thread through a [`ClockDriver`]. Never
//! used on the system clock.

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
    mut settle: impl FnMut() -> Result<(), AdvanceError>,
) -> Result<(), AdvanceError> {
    settle()?;
    let mut stops = 0;
    while let Some(next) = next_wake(store)? {
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
            settle_timeout,
            moving: Mutex::new(()),
        }
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
        advance_clock(&self.clock, store, target, || {
            if self.processor.wake_and_wait_idle(self.settle_timeout) {
                Ok(())
            } else {
                Err(AdvanceError::NotSettled {
                    at: self.clock.now().to_rfc3339(),
                    waited: self.settle_timeout,
                })
            }
        })?;
        Ok(self.clock.now())
    }
}
