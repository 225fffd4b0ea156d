//! Feeding the real group-commit writer from the benchmark: operations gathered into
//! submissions of a fixed size with several in flight, so the writer always finds the next
//! commit's worth queued; every operation must be applied. Also how far the processor lags
//! behind the log, and waiting for it to catch up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Context;
use nudge_core::Operation;
use nudge_ingest::{Accepted, Outcome, Pending};

use super::Rig;

/// Operations on their way through the writer, answered in the order they were queued.
pub(super) struct Submitter<'r> {
    rig: &'r Rig,
    size: usize,
    in_flight: usize,
    batch: Vec<Accepted>,
    pending: VecDeque<Pending>,
    submitted: u64,
}

impl<'r> Submitter<'r> {
    /// Submissions of `size` operations, at most `in_flight` of them unanswered.
    pub(super) fn new(rig: &'r Rig, size: usize, in_flight: usize) -> Self {
        Self {
            rig,
            size: size.max(1),
            in_flight: in_flight.max(1),
            batch: Vec::with_capacity(size),
            pending: VecDeque::new(),
            submitted: 0,
        }
    }

    pub(super) fn push(&mut self, operation: Operation) -> anyhow::Result<()> {
        self.batch.push(Accepted::from(operation));
        if self.batch.len() >= self.size {
            self.flush()?;
        }
        Ok(())
    }

    /// Queues what is gathered, then waits for answers until fewer than `in_flight` remain.
    pub(super) fn flush(&mut self) -> anyhow::Result<()> {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.submitted += batch.len() as u64;
            let pending = self
                .rig
                .ingestor
                .enqueue_blocking(self.rig.ws, "track_v1", batch)?;
            self.pending.push_back(pending);
        }
        while self.pending.len() >= self.in_flight {
            self.settle_one()?;
        }
        Ok(())
    }

    fn settle_one(&mut self) -> anyhow::Result<()> {
        if let Some(pending) = self.pending.pop_front() {
            let outcomes = pending.wait().context("the writer refused a submission")?;
            if let Some(bad) = outcomes.iter().find(|o| !matches!(o, Outcome::Applied)) {
                anyhow::bail!("an operation was not applied: {bad:?}");
            }
        }
        Ok(())
    }

    /// Submits the rest and waits for every answer; returns how many operations were
    /// submitted in all.
    pub(super) fn finish(mut self) -> anyhow::Result<u64> {
        self.in_flight = 1;
        self.flush()?;
        while !self.pending.is_empty() {
            self.settle_one()?;
        }
        Ok(self.submitted)
    }
}

impl Rig {
    /// Log entries the processor has not reached yet.
    pub(super) fn lag(&self) -> anyhow::Result<u64> {
        let processed = self.store.processed_offset(self.ws)?;
        Ok(self.store.log_extent(self.ws, processed)?.entries)
    }

    /// Waits until the processor has reached the head of the log; how long that took, or
    /// `None` when it had not within `timeout`. Counting the entries behind the processor
    /// costs a range scan, so that is done once per round and then only the processed offset
    /// is polled.
    pub(super) fn wait_caught_up(&self, timeout: Duration) -> anyhow::Result<Option<Duration>> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            let processed = self.store.processed_offset(self.ws)?;
            let Some(head) = self.store.log_extent(self.ws, processed)?.last_offset else {
                return Ok(Some(started.elapsed()));
            };
            while self.store.processed_offset(self.ws)? < head {
                if started.elapsed() >= timeout {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(None)
    }
}
