//! Seeing sends as they become visible: polls the workspace's outbox for messages newer than
//! the last one seen and hands each to the caller with the moment the poll returned it, so a
//! message's "sent at" is when its transaction had committed and a reader could see it (at
//! most one poll interval after the commit). Reads only.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nudge_core::Timestamp;
use nudge_store::OutboxMessage;

use super::Rig;

/// Messages read per poll; a full page is followed by the next at once.
const PAGE: usize = 1000;

/// When a message was first seen: on the clock the journeys run on, and as an instant.
#[derive(Debug, Clone, Copy)]
pub(super) struct SeenAt {
    pub at: Timestamp,
    pub instant: Instant,
}

/// Polls every `poll` until `done()` or `deadline`, handing every new message to
/// `on_message`. Starts after the last message an earlier watch saw, and remembers where it
/// stopped for the next one.
pub(super) fn watch(
    rig: &Rig,
    poll: Duration,
    deadline: Instant,
    mut on_message: impl FnMut(&OutboxMessage, SeenAt),
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let mut after = rig.outbox_seen.load(Ordering::SeqCst);
    let result = loop {
        let page = match rig.store.outbox(rig.ws, after, PAGE) {
            Ok(page) => page,
            Err(e) => break Err(e.into()),
        };
        let seen = SeenAt {
            at: rig.clock.now(),
            instant: Instant::now(),
        };
        for stored in &page {
            on_message(&stored.message, seen);
            after = stored.id;
        }
        if page.len() == PAGE {
            continue;
        }
        if done() || Instant::now() >= deadline {
            break Ok(());
        }
        std::thread::sleep(poll);
    };
    rig.outbox_seen.store(after, Ordering::SeqCst);
    result
}
