//! `nudge simulate --config DIR --scenario FILE`: runs a scenario through the production
//! engine on a virtual clock and a throwaway store, and prints the timeline. The definitions
//! in DIR are applied exactly as `nudge apply` would; every message goes through the
//! Pipelines API's own decoding and the group-commit writer; the processor runs the same
//! rounds it runs in a server, and the clock jumps from one due timer or check to the next,
//! so "30 minutes" is exactly 30 minutes without waiting for them.

pub mod dry_run;
pub mod scenario;
pub mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use nudge_api::pipelines::message::{accept, Shared};
use nudge_core::{
    Clock, Env, Identifier, IdentifierKind, ManualClock, PersonKey, Timestamp, WorkspaceId,
};
use nudge_ingest::{Ingestor, WriterConfig};
use nudge_process::{advance_clock, AdvanceError, Processor, ProcessorConfig};
use nudge_store::Store;
use serde_json::Value;

use scenario::Line;
use timeline::Entry;

/// How long after its last line a scenario runs on when no `--until` is given.
pub const DEFAULT_HORIZON_DAYS: i64 = 400;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The directory of definition files (journeys, templates, segments, computed attributes).
    #[arg(long, value_name = "DIR")]
    pub config: PathBuf,
    /// The scenario: NDJSON messages and `advance` lines.
    #[arg(long, value_name = "FILE", required_unless_present = "workspace")]
    pub scenario: Option<PathBuf>,
    /// Instead of a scenario: a dry run against what this workspace received (`--since`).
    #[arg(long, conflicts_with = "scenario", requires = "since")]
    pub workspace: Option<String>,
    /// With `--workspace`: how far back the dry run starts (`7d`, `24h`).
    #[arg(long, value_parser = parse_window)]
    pub since: Option<i64>,
    #[command(flatten)]
    pub store: crate::config::StoreArgs,
    /// One JSON object per line instead of readable text.
    #[arg(long)]
    pub json: bool,
    /// Stop the clock here (RFC 3339) instead of running on until nothing is left to do.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<Timestamp>,
}

fn parse_window(text: &str) -> Result<i64, String> {
    nudge_conditions::parse_duration(text)
        .ok_or_else(|| format!("'{text}' is not a duration such as 7d or 24h"))
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| format!("'{text}' is not an RFC 3339 time"))
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let entries = match (&args.scenario, &args.workspace, args.since) {
        (Some(path), _, _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let lines = scenario::parse(&text)
                .with_context(|| format!("in scenario {}", path.display()))?;
            simulate(&args.config, &lines, args.until)?
        }
        (None, Some(name), Some(window)) => {
            let source = crate::server::open_store(&args.store)?;
            let workspace = source
                .workspace_by_name(name)?
                .ok_or_else(|| anyhow::anyhow!("no workspace named '{name}'"))?;
            let now = args.until.unwrap_or_else(|| nudge_core::SystemClock.now());
            let since = now.minus_millis(window);
            dry_run::dry_run(source.as_ref(), workspace.id, &args.config, since, now)?
        }
        _ => anyhow::bail!("give --scenario FILE, or --workspace NAME with --since"),
    };
    for entry in entries {
        if args.json {
            println!("{}", entry.to_json());
        } else {
            println!("{}", entry.to_text());
        }
    }
    Ok(())
}

/// Runs `lines` against the definitions in `config` and returns the timeline.
pub fn simulate(
    config: &Path,
    lines: &[Line],
    until: Option<Timestamp>,
) -> anyhow::Result<Vec<Entry>> {
    let Some(first) = lines.first() else {
        return Ok(Vec::new());
    };
    let dir = tempfile::tempdir().context("creating the simulation's store")?;
    let store: Arc<dyn Store> = Arc::new(
        nudge_store_sqlite::SqliteStore::open(&dir.path().join("nudge.db"))
            .context("opening the simulation's store")?,
    );
    let clock = ManualClock::starting_at(first.at());
    let (new, _keys) =
        nudge_api::credentials::new_workspace("simulation", Env::Development, clock.now());
    let ws = store.create_workspace(&new)?.id;
    crate::apply::apply_dir(store.as_ref(), ws, config, clock.now())
        .with_context(|| format!("applying {}", config.display()))?;
    let mut simulation = Simulation::start(store.clone(), clock, ws);
    let horizon = until.unwrap_or_else(|| {
        let last = lines.last().map_or(first.at(), Line::at);
        last.plus_millis(DEFAULT_HORIZON_DAYS * 86_400_000)
    });
    let mut people: BTreeMap<String, Identifier> = BTreeMap::new();
    for line in lines {
        if line.at() > horizon {
            break;
        }
        simulation.advance_to(line.at())?;
        if let Line::Message {
            number, message, ..
        } = line
        {
            for (label, identifier) in identities(message) {
                people.entry(label).or_insert(identifier);
            }
            simulation
                .deliver(message.clone())
                .with_context(|| format!("scenario line {number}"))?;
        }
    }
    simulation.advance_to(horizon)?;
    simulation.stop();
    timeline::collect(store.as_ref(), ws, &labels(store.as_ref(), ws, &people)?)
}

/// The writer and the processor on one virtual clock.
struct Simulation {
    store: Arc<dyn Store>,
    clock: ManualClock,
    ws: WorkspaceId,
    ingestor: Option<Ingestor>,
    writer: Option<nudge_ingest::WriterHandle>,
    processor: Processor,
}

impl Simulation {
    fn start(store: Arc<dyn Store>, clock: ManualClock, ws: WorkspaceId) -> Self {
        let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
        let computed_keys = Arc::new(nudge_ingest::ComputedKeys::default());
        let processor =
            Processor::new(store.clone(), clock_arc.clone(), ProcessorConfig::default()).on_reload(
                {
                    let keys = computed_keys.clone();
                    Box::new(move |ws, names| keys.set(ws, names))
                },
            );
        let config = WriterConfig {
            computed_keys,
            ..WriterConfig::default()
        };
        let (ingestor, writer) = Ingestor::start(store.clone(), clock_arc, config);
        Simulation {
            store,
            clock,
            ws,
            ingestor: Some(ingestor),
            writer: Some(writer),
            processor,
        }
    }

    /// Runs the clock to `target`, stopping at every due check and timer on the way.
    fn advance_to(&mut self, target: Timestamp) -> anyhow::Result<()> {
        let processor = &mut self.processor;
        advance_clock(&self.clock, self.store.as_ref(), target, || {
            processor.run_until_idle().map_err(AdvanceError::from)
        })?;
        Ok(())
    }

    fn settle(&mut self) -> anyhow::Result<()> {
        self.processor.run_until_idle()?;
        Ok(())
    }

    /// Decodes a message as the Pipelines API does and commits it through the writer.
    fn deliver(&mut self, message: Value) -> anyhow::Result<()> {
        let accepted =
            accept(message, None, &Shared::default(), self.clock.now()).map_err(|refused| {
                let error = &refused.error;
                match &error.field {
                    Some(field) => anyhow::anyhow!("refused: {field}: {}", error.message),
                    None => anyhow::anyhow!("refused: {}", error.message),
                }
            })?;
        let ingestor = self.ingestor.as_ref().context("the writer has stopped")?;
        let outcomes = ingestor
            .enqueue_blocking(self.ws, "pipelines", vec![accepted])?
            .wait()?;
        if let Some(nudge_ingest::Outcome::Refused(reason)) = outcomes.first() {
            anyhow::bail!("refused: {reason}");
        }
        self.settle()
    }

    fn stop(&mut self) {
        self.ingestor.take();
        if let Some(writer) = self.writer.take() {
            writer.join();
        }
        let _ = &self.store;
    }
}

/// The identifiers a message names, with the label the timeline uses for each.
fn identities(message: &Value) -> Vec<(String, Identifier)> {
    let mut out = Vec::new();
    for (field, kind) in [
        ("userId", IdentifierKind::Id),
        ("anonymousId", IdentifierKind::AnonymousId),
    ] {
        if let Some(text) = message.get(field).and_then(Value::as_str) {
            if let Ok(identifier) = Identifier::new(kind, text) {
                out.push((text.to_string(), identifier));
            }
        }
    }
    out
}

/// Each person the scenario named, by key, labelled with their id (an anonymous id only
/// while no id resolves to the same person).
fn labels(
    store: &dyn Store,
    ws: WorkspaceId,
    people: &BTreeMap<String, Identifier>,
) -> anyhow::Result<BTreeMap<PersonKey, String>> {
    let mut labels: BTreeMap<PersonKey, String> = BTreeMap::new();
    for (label, identifier) in people {
        if let Some(key) = store.resolve(ws, identifier)? {
            let is_id = identifier.kind() == IdentifierKind::Id;
            match labels.get(&key) {
                Some(_) if !is_id => {}
                _ => {
                    labels.insert(key, label.clone());
                }
            }
        }
    }
    Ok(labels)
}
