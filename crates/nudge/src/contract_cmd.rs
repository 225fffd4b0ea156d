//! `nudge contract infer`: writes a contract from a workspace's observed traffic (docs/contract.md,
//! "Inferring a contract"). It reads the events that happened in the window and the person
//! attributes set in it page by page from the store (never a whole table), folds them through
//! `nudge_contract::Inferrer` and prints the YAML document `nudge apply` reads.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use nudge_contract::{InferOptions, Inference, Inferrer, Note};
use nudge_core::{ActivityKind, Clock, JsonMap, PersonState, SystemClock, Timestamp, WorkspaceId};
use nudge_store::{ExportScope, Store};

use crate::config::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Write a contract from the traffic a workspace received (events and identify calls).
    Infer(InferArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InferArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The workspace whose traffic to read (by name).
    #[arg(long)]
    pub workspace: String,
    /// How far back to look: `30m`, `24h`, `7d`, `2w`.
    #[arg(long, default_value = "7d", value_parser = parse_window)]
    pub since: i64,
    /// Write the contract here (it appears once complete) instead of to stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Events or people read per store round trip.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub page_size: u32,
}

fn parse_window(text: &str) -> Result<i64, String> {
    nudge_conditions::parse_duration(text).ok_or_else(|| {
        format!("'{text}' is not a duration: one whole number and a unit (s, m, h, d, w), like 7d")
    })
}

pub fn run(command: ContractCommand) -> anyhow::Result<()> {
    match command {
        ContractCommand::Infer(args) => infer(args, &SystemClock),
    }
}

fn infer(args: InferArgs, clock: &dyn Clock) -> anyhow::Result<()> {
    let store = crate::server::open_store(&args.store)?;
    let workspace = store
        .workspace_by_name(&args.workspace)?
        .with_context(|| format!("there is no workspace named '{}'", args.workspace))?;
    let since = clock.now().minus_millis(args.since);
    let mut inferrer = Inferrer::new(InferOptions::default());
    let read = Read {
        store: store.as_ref(),
        ws: workspace.id,
        since,
        page: args.page_size as usize,
    };
    let events = read.events(&mut inferrer)?;
    let people = read.people(&mut inferrer)?;
    let inference = inferrer.finish();
    let yaml = inference.contract.to_yaml();
    match &args.out {
        Some(path) => write_file(path, &yaml)?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(yaml.as_bytes())?;
            stdout.flush()?;
        }
    }
    report(&inference, events, people, since);
    Ok(())
}

/// The window of one workspace's traffic, read in keyset pages of `page` rows.
struct Read<'s> {
    store: &'s dyn Store,
    ws: WorkspaceId,
    since: Timestamp,
    page: usize,
}

impl Read<'_> {
    fn scope(&self) -> ExportScope {
        ExportScope {
            segment: None,
            since: Some(self.since),
        }
    }

    /// Feeds every event (not page or screen views) that happened at or after `since`; returns
    /// how many.
    fn events(&self, inferrer: &mut Inferrer) -> anyhow::Result<u64> {
        let scope = self.scope();
        let mut seen = 0;
        let mut after = 0;
        loop {
            let page = self.store.events_page(self.ws, after, self.page, &scope)?;
            for event in &page {
                if event.activity.kind == ActivityKind::Event {
                    inferrer.observe_event(&event.activity.name, &event.activity.data);
                    seen += 1;
                }
            }
            match page.last() {
                Some(last) if page.len() == self.page => after = last.seq,
                _ => return Ok(seen),
            }
        }
    }

    /// Feeds, for each person updated at or after `since`, the attributes set at or after it (as
    /// one identify call); returns how many people had any.
    fn people(&self, inferrer: &mut Inferrer) -> anyhow::Result<u64> {
        let scope = self.scope();
        let mut seen = 0;
        let mut after = None;
        loop {
            let page = self.store.people_page(self.ws, after, self.page, &scope)?;
            for person in &page {
                let traits = set_since(person, self.since);
                if !traits.is_empty() {
                    inferrer.observe_traits(&traits);
                    seen += 1;
                }
            }
            match page.last() {
                Some(last) if page.len() == self.page => after = Some(last.key),
                _ => return Ok(seen),
            }
        }
    }
}

/// The person's attributes last set at or after `since` (an attribute without a recorded time
/// counts when the person was updated in the window, as people pages only bring those).
fn set_since(person: &PersonState, since: Timestamp) -> JsonMap {
    person
        .attributes
        .iter()
        .filter(|(name, _)| {
            person
                .attribute_times
                .get(*name)
                .is_none_or(|ms| *ms >= since.millis())
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

fn write_file(path: &PathBuf, text: &str) -> anyhow::Result<()> {
    let mut name = path.as_os_str().to_os_string();
    name.push(".part");
    let partial = PathBuf::from(name);
    std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("moving the contract to {}", path.display()))
}

/// What the contract rests on and what to review in it, on stderr.
fn report(inference: &Inference, events: u64, people: u64, since: Timestamp) {
    eprintln!(
        "inferred from {events} events ({} names) and the attributes of {people} people since {}",
        inference.events_seen.len(),
        since.to_rfc3339()
    );
    for note in &inference.notes {
        eprintln!("review: {}", describe(note));
    }
}

fn describe(note: &Note) -> String {
    match note {
        Note::MixedTypes {
            subject,
            path,
            seen,
            declared,
        } => {
            let seen: Vec<String> = seen.iter().map(|(t, n)| format!("{t} ({n})")).collect();
            format!(
                "{subject} {path}: mixed types ({}), declared {declared}",
                seen.join(", ")
            )
        }
        Note::FreeFormObject { subject, path } => {
            format!("{subject} {path}: too many distinct keys, declared free-form")
        }
        Note::SkippedEvent { event, reason } => format!("event '{event}' skipped: {reason}"),
        Note::SkippedProperty {
            subject,
            path,
            name,
            reason,
        } => format!("{subject} {path}: property '{name}' skipped: {reason}"),
    }
}
