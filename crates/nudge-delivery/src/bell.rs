//! A background loop's doorbell and what it last reported (the delivery worker's and the
//! reporting dispatcher's). Commits, the processor's progress, appended reports and a moving
//! virtual clock ring it; every ring is numbered, a round notes the number it started after,
//! and a round that finds nothing to do reports it, so a caller (a test clock's driver) can
//! wait until the loop has done everything due, from a plain thread.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Default)]
pub(super) struct Bell {
    state: Mutex<BellState>,
    idle: Condvar,
    ring: Notify,
}

#[derive(Default)]
struct BellState {
    stopped: bool,
    rings: u64,
    /// The rings the latest idle round had started after.
    idle_after: u64,
}

impl Bell {
    fn lock(&self) -> std::sync::MutexGuard<'_, BellState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rings; returns the ring's number.
    pub(super) fn ring(&self, stop: bool) -> u64 {
        let mut state = self.lock();
        state.stopped |= stop;
        state.rings += 1;
        self.ring.notify_one();
        if stop {
            self.idle.notify_all();
        }
        state.rings
    }

    /// Where a round starts: the rings it has seen, or `None` once stopped.
    pub(super) fn begin_round(&self) -> Option<u64> {
        let state = self.lock();
        (!state.stopped).then_some(state.rings)
    }

    /// A round that began after `round` rings found nothing to do and holds nothing.
    pub(super) fn idle_after(&self, round: u64) {
        let mut state = self.lock();
        state.idle_after = state.idle_after.max(round);
        self.idle.notify_all();
    }

    /// Resolves at the next ring (or at once if one came since the last wait).
    pub(super) async fn rung(&self) {
        self.ring.notified().await;
    }

    /// Rings and blocks until a round that began after it was idle; `false` on timeout or
    /// once stopped. Never from async code.
    pub(super) fn ring_and_wait_idle(&self, timeout: Duration) -> bool {
        let ticket = self.ring(false);
        let state = self.lock();
        let (state, _) = self
            .idle
            .wait_timeout_while(state, timeout, |s| s.idle_after < ticket && !s.stopped)
            .unwrap_or_else(|e| e.into_inner());
        state.idle_after >= ticket
    }
}
