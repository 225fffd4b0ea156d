//! The processor's loop: reload definitions when their version moves, process every
//! workspace's new log entries, fire due checks and journey timers, advance backfills, then
//! sleep until woken (a commit, a shutdown) or until the next check or timer is due; a round
//! that only took the log's last few entries sleeps at once, without a second round to find
//! nothing. Tests and the simulator drive the same rounds synchronously with
//! [`Processor::run_until_idle`] under a virtual clock; a test server on a virtual clock
//! waits for the thread's next idle round with [`Waker::wake_and_wait_idle`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nudge_core::{Clock, Timestamp, WorkspaceId};
use nudge_store::{DocumentKind, Store, StoreResult};

use crate::backfill::backfill_step;
use crate::due::process_due_checks;
use crate::journeys::{broadcast_step, compile_journeys, process_due_instances};
use crate::log_step::{process_log_batch, skip_before};
use crate::{compile, Catalog};

/// Called with a workspace's computed-attribute names whenever definitions are (re)loaded, so
/// ingestion can refuse writes to them.
pub type ReloadHook = Box<dyn Fn(WorkspaceId, BTreeSet<String>) + Send>;

/// Called after every round of the processor thread that did some work (it wakes the delivery
/// worker, which waits for the processor to reach the log's head before it claims messages).
pub type ProgressHook = Box<dyn Fn() + Send>;

/// Batch sizes keep each transaction to a few tens of milliseconds of work: on SQLite the
/// processor shares the one writer connection with ingestion, whose commits wait meanwhile.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Log entries per transaction.
    pub log_batch: usize,
    /// Due checks per transaction.
    pub due_batch: usize,
    /// People per backfill page.
    pub backfill_page: usize,
    /// The longest the loop sleeps before looking for definition changes made elsewhere
    /// (`nudge apply` against the store of a running server).
    pub idle_wait: Duration,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            log_batch: 256,
            due_batch: 256,
            backfill_page: 500,
            idle_wait: Duration::from_millis(500),
        }
    }
}

pub struct Processor {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: ProcessorConfig,
    catalogs: HashMap<WorkspaceId, Catalog>,
    loaded_version: Option<i64>,
    on_reload: Option<ReloadHook>,
    on_progress: Option<ProgressHook>,
}

impl Processor {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ProcessorConfig) -> Self {
        Self {
            store,
            clock,
            config,
            catalogs: HashMap::new(),
            loaded_version: None,
            on_reload: None,
            on_progress: None,
        }
    }

    pub fn on_reload(mut self, hook: ReloadHook) -> Self {
        self.on_reload = Some(hook);
        self
    }

    pub fn on_progress(mut self, hook: ProgressHook) -> Self {
        self.on_progress = Some(hook);
        self
    }

    /// One round of everything there is to do; returns how much was done (0: idle).
    pub fn run_once(&mut self) -> StoreResult<usize> {
        Ok(self.round()?.done)
    }

    fn round(&mut self) -> StoreResult<Round> {
        self.reload_if_changed()?;
        let now = self.clock.now();
        let mut done = 0;
        let mut log_short = true;
        for (ws, catalog) in &self.catalogs {
            let report = process_log_batch(
                self.store.as_ref(),
                *ws,
                catalog,
                now,
                self.config.log_batch,
            )?;
            done += report.entries;
            log_short &= report.entries < self.config.log_batch;
            if report.entries > 0 {
                metrics::counter!("nudge_processed_entries_total").increment(report.entries as u64);
            }
        }
        let from_the_log = done;
        done += process_due_checks(
            self.store.as_ref(),
            &self.catalogs,
            now,
            self.config.due_batch,
        )?;
        done += process_due_instances(
            self.store.as_ref(),
            &self.catalogs,
            now,
            self.config.due_batch,
        )?;
        for (ws, catalog) in &self.catalogs {
            done += broadcast_step(
                self.store.as_ref(),
                *ws,
                catalog,
                now,
                self.config.backfill_page,
            )?;
        }
        for (ws, catalog) in self.catalogs.iter_mut() {
            done += backfill_step(
                self.store.as_ref(),
                *ws,
                catalog,
                now,
                self.config.backfill_page,
            )?;
        }
        Ok(Round {
            done,
            drained: log_short && done == from_the_log,
        })
    }

    /// Runs rounds until there is nothing left to do at the clock's current time.
    pub fn run_until_idle(&mut self) -> StoreResult<()> {
        while self.run_once()? > 0 {}
        Ok(())
    }

    fn reload_if_changed(&mut self) -> StoreResult<()> {
        // A new workspace has no definitions until one is created, which raises the version.
        let version = self.store.config_version()?;
        if self.loaded_version == Some(version) {
            return Ok(());
        }
        let workspaces: Vec<WorkspaceId> =
            self.store.workspaces()?.into_iter().map(|w| w.id).collect();
        let mut catalogs = HashMap::new();
        for &ws in &workspaces {
            let segments = self.store.segment_definitions(ws)?;
            let computed = self.store.computed_definitions(ws)?;
            let journeys = self
                .store
                .all_document_versions(ws, DocumentKind::Journey)?;
            let templates = self.store.documents(ws, DocumentKind::Template)?;
            let segment_ids = segments.iter().map(|s| s.id).collect();
            let compiled = compile(&segments, &computed).and_then(|catalog| {
                compile_journeys(&journeys, &templates, &segment_ids)
                    .map(|journeys| catalog.with_journeys(journeys))
            });
            match compiled {
                Ok(catalog) => {
                    if let Some(hook) = &self.on_reload {
                        hook(ws, catalog.computed_names());
                    }
                    if !catalog.is_empty() {
                        let first_definitions =
                            self.loaded_version.is_some() && !self.catalogs.contains_key(&ws);
                        if first_definitions {
                            let since = definitions_since(&segments, &computed, &journeys);
                            skip_before(self.store.as_ref(), ws, since)?;
                        }
                        catalogs.insert(ws, catalog);
                    }
                }
                Err(e) => {
                    // Definitions are validated before they are stored; keep what ran before.
                    tracing::error!(workspace = ws.0, error = %e, "stored definitions do not compile");
                    if let Some(previous) = self.catalogs.remove(&ws) {
                        catalogs.insert(ws, previous);
                    }
                }
            }
        }
        self.catalogs = catalogs;
        self.loaded_version = Some(version);
        Ok(())
    }

    /// Runs the loop on its own thread until the handle stops it.
    pub fn spawn(mut self) -> ProcessorHandle {
        let signal = Arc::new(Signal::default());
        let waker = Waker(signal.clone());
        let thread = std::thread::Builder::new()
            .name("nudge-processor".into())
            .spawn(move || {
                while let Some(begun) = signal.begin_round() {
                    let wait = match self.round() {
                        Ok(round) if round.done == 0 => {
                            signal.idle_after(begun);
                            self.idle_wait()
                        }
                        Ok(round) => {
                            if let Some(hook) = &self.on_progress {
                                hook();
                            }
                            // A round that drained what it saw needs no second one to find
                            // nothing, unless a caller waits to hear of an idle round.
                            if !round.drained || signal.idle_awaited() {
                                continue;
                            }
                            self.idle_wait()
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "processing failed; retrying");
                            self.config.idle_wait
                        }
                    };
                    signal.wait(wait);
                }
            })
            .expect("spawning the processor thread");
        ProcessorHandle { waker, thread }
    }

    /// How long to sleep: until the next scheduled check or journey timer, at most
    /// `idle_wait`.
    fn idle_wait(&self) -> Duration {
        let next = [
            self.store.next_scheduled_check(),
            self.store.next_instance_wake(),
        ]
        .into_iter()
        .filter_map(|at| at.ok().flatten())
        .min();
        let until_next = match next {
            Some(at) => (at.millis() - self.clock.now().millis()).max(0) as u64,
            None => u64::MAX,
        };
        Duration::from_millis(until_next).min(self.config.idle_wait)
    }

    /// The earliest moment something is scheduled: a person's check or a journey timer.
    pub fn next_wake(&self) -> StoreResult<Option<Timestamp>> {
        next_wake(self.store.as_ref())
    }
}

/// The earliest moment something is scheduled in `store`: a person's check or a journey
/// timer, of any workspace.
pub fn next_wake(store: &dyn Store) -> StoreResult<Option<Timestamp>> {
    let check = store.next_scheduled_check()?;
    let timer = store.next_instance_wake()?;
    Ok(crate::person::earliest(check, timer))
}

/// When a workspace's definitions as they stand now were written: the earliest creation of a
/// data-driven segment, a computed attribute or a live journey's current version. Entries
/// received before it were not meant for them.
fn definitions_since(
    segments: &[nudge_store::SegmentDefinition],
    computed: &[nudge_store::ComputedDefinition],
    journeys: &[nudge_store::Document],
) -> Option<nudge_core::Timestamp> {
    let mut latest: HashMap<&str, &nudge_store::Document> = HashMap::new();
    for document in journeys {
        let entry = latest.entry(&document.name).or_insert(document);
        if document.version > entry.version {
            *entry = document;
        }
    }
    segments
        .iter()
        .filter(|s| !s.manual())
        .map(|s| s.created_at)
        .chain(computed.iter().map(|c| c.created_at))
        .chain(latest.values().filter(|d| !d.deleted).map(|d| d.created_at))
        .min()
}

/// Wakes the processor: after a commit, or when a virtual clock moves.
#[derive(Clone)]
pub struct Waker(Arc<Signal>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify(false);
    }

    /// Wakes the processor and waits until a round that began after this call found nothing
    /// to do: the log is processed to its head and nothing is due at the clock's time as the
    /// round read it. `false` when that did not happen within `timeout` (processing keeps
    /// failing or keeps finding work) or the processor has stopped.
    pub fn wake_and_wait_idle(&self, timeout: Duration) -> bool {
        self.0.wait_idle(timeout)
    }
}

/// What one round did.
struct Round {
    /// Entries processed, checks and timers fired, pages advanced.
    done: usize,
    /// Whether it left nothing it saw undone: only log entries were processed, fewer than a
    /// full batch in every workspace (the log's head was reached). What arrives later rings
    /// the bell, and a check or timer coming due ends the sleep, so no second round need run
    /// to find nothing.
    drained: bool,
}

pub struct ProcessorHandle {
    waker: Waker,
    thread: JoinHandle<()>,
}

impl ProcessorHandle {
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Stops the loop after its current round and waits for it.
    pub fn stop(self) {
        self.waker.0.notify(true);
        let _ = self.thread.join();
    }
}

/// The loop's doorbell, and what it last reported. Every wake-up is numbered; a round notes
/// the number it started after, and when it finds nothing to do it reports that number, so a
/// caller knows whether the idle round it waits for saw its own wake-up.
#[derive(Default)]
struct Signal {
    state: Mutex<SignalState>,
    bell: Condvar,
    idle: Condvar,
}

#[derive(Default)]
struct SignalState {
    /// A wake-up came since the loop last went to sleep.
    woken: bool,
    stopped: bool,
    /// Wake-ups so far.
    wakes: u64,
    /// The wake-ups the latest idle round had started after.
    idle_after: u64,
    /// Callers waiting to hear of an idle round.
    awaiting_idle: usize,
}

impl Signal {
    fn lock(&self) -> std::sync::MutexGuard<'_, SignalState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rings the bell; returns the wake-up's number.
    fn notify(&self, stop: bool) -> u64 {
        let mut state = self.lock();
        state.woken = true;
        state.stopped |= stop;
        state.wakes += 1;
        self.bell.notify_one();
        if stop {
            self.idle.notify_all();
        }
        state.wakes
    }

    /// Where a round starts: the wake-ups it has seen, or `None` once stopped.
    fn begin_round(&self) -> Option<u64> {
        let state = self.lock();
        (!state.stopped).then_some(state.wakes)
    }

    /// A round that began after `round` wake-ups found nothing to do.
    fn idle_after(&self, round: u64) {
        let mut state = self.lock();
        state.idle_after = state.idle_after.max(round);
        self.idle.notify_all();
    }

    fn wait_idle(&self, timeout: Duration) -> bool {
        self.lock().awaiting_idle += 1;
        let ticket = self.notify(false);
        let state = self.lock();
        let (mut state, _) = self
            .idle
            .wait_timeout_while(state, timeout, |s| s.idle_after < ticket && !s.stopped)
            .unwrap_or_else(|e| e.into_inner());
        state.awaiting_idle -= 1;
        state.idle_after >= ticket
    }

    /// Whether a caller waits to hear of an idle round (one that comes in after this is asked
    /// rings the bell, so the loop runs another round anyway).
    fn idle_awaited(&self) -> bool {
        self.lock().awaiting_idle > 0
    }

    /// Sleeps until notified or `timeout`; a notification that came in while awake ends the
    /// wait at once.
    fn wait(&self, timeout: Duration) {
        let state = self.lock();
        let (mut state, _) = self
            .bell
            .wait_timeout_while(state, timeout, |s| !s.woken)
            .unwrap_or_else(|e| e.into_inner());
        state.woken = false;
    }
}
