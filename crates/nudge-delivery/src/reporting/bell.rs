//! The dispatcher's doorbell, as the delivery worker's: appends, a moving virtual clock and
//! shutdown ring it; every ring is numbered and a round that finds nothing to do reports the
//! number it started after, so a test clock's driver can wait, from a plain thread, until
//! everything due has been posted.

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
    idle_after: u64,
}

impl Bell {
    fn lock(&self) -> std::sync::MutexGuard<'_, BellState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

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

    /// A round that began after `round` rings found nothing due and holds nothing.
    pub(super) fn idle_after(&self, round: u64) {
        let mut state = self.lock();
        state.idle_after = state.idle_after.max(round);
        self.idle.notify_all();
    }

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
