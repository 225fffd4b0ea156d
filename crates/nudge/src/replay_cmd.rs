//! `nudge replay --workspace W (--from OFFSET|TIME | --rebuild)`: re-applies a workspace's
//! event log to its derived state, with a progress bar (entries, entries/s, ETA; hidden when
//! stderr is not a terminal) and a summary. It opens the store directly, like `nudge
//! workspace`; docs/replay.md says why no server may write to the workspace meanwhile.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nudge_core::Timestamp;
use nudge_ingest::replay::{replay, ReplayPlan, ReplayProgress, ReplayStart, ReplaySummary};
use serde_json::json;

use crate::config::StoreArgs;
use crate::server::open_store;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The workspace whose log to replay, by name.
    #[arg(long)]
    pub workspace: String,
    /// Where to start: a log offset (that entry and every later one), or an RFC 3339 time
    /// (every entry from the first one received at or after it).
    #[arg(long, required_unless_present = "rebuild", conflicts_with = "rebuild")]
    pub from: Option<String>,
    /// Delete the workspace's derived state and re-apply its whole log.
    #[arg(long)]
    pub rebuild: bool,
    /// Log entries per transaction.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let start = match (&args.from, args.rebuild) {
        (_, true) => ReplayStart::Rebuild,
        (Some(from), false) => parse_from(from)?,
        (None, false) => anyhow::bail!("give --from OFFSET|TIME or --rebuild"),
    };
    let store = open_store(&args.store)?;
    let workspace = store
        .workspace_by_name(&args.workspace)?
        .ok_or_else(|| anyhow::anyhow!("no workspace named '{}'", args.workspace))?;
    let plan = ReplayPlan {
        ws: workspace.id,
        start,
        batch_entries: args.batch_size as usize,
    };
    let bar = progress_bar();
    let started = Instant::now();
    let summary = replay(store.as_ref(), &plan, &mut |progress| match progress {
        ReplayProgress::Planned { entries } => bar.set_length(entries),
        ReplayProgress::Replayed { entries } => bar.set_position(entries),
    })
    .with_context(|| format!("replaying the log of workspace '{}'", workspace.name))?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    print_summary(&workspace.name, start, &summary, elapsed, args.json)?;
    if start == ReplayStart::Rebuild && summary.appended_meanwhile > 0 {
        anyhow::bail!(
            "{} entries were appended to the log during the rebuild: something (a server?) \
             wrote to workspace '{}' while its derived state was being rebuilt, so that state \
             may be inconsistent. Stop every writer and run `nudge replay --rebuild` again.",
            summary.appended_meanwhile,
            workspace.name
        );
    }
    Ok(())
}

/// `--from`: a whole number is an offset, anything else must be an RFC 3339 time.
fn parse_from(text: &str) -> anyhow::Result<ReplayStart> {
    if let Ok(offset) = text.parse::<i64>() {
        anyhow::ensure!(
            offset >= 0,
            "--from offset must not be negative, got {offset}"
        );
        return Ok(ReplayStart::Offset(offset));
    }
    Timestamp::parse_rfc3339(text)
        .map(ReplayStart::Time)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--from must be a log offset or an RFC 3339 time such as \
                 2026-05-01T12:00:00Z, got '{text}'"
            )
        })
}

fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} entries \
         ({per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn print_summary(
    workspace: &str,
    start: ReplayStart,
    summary: &ReplaySummary,
    elapsed: Duration,
    as_json: bool,
) -> anyhow::Result<()> {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        summary.entries as f64 / seconds
    } else {
        0.0
    };
    let mode = if start == ReplayStart::Rebuild {
        "rebuild"
    } else {
        "from"
    };
    if as_json {
        let value = json!({
            "workspace": workspace,
            "mode": mode,
            "first_offset": summary.first_offset,
            "last_offset": summary.last_offset,
            "entries": summary.entries,
            "already_applied": summary.already_applied,
            "applied": summary.applied,
            "dropped": summary.dropped,
            "refused": summary.refused,
            "appended_meanwhile": summary.appended_meanwhile,
            "elapsed_seconds": seconds,
            "entries_per_second": rate,
        });
        println!("{}", serde_json::to_string(&value)?);
        return Ok(());
    }
    let span = match (summary.first_offset, summary.last_offset) {
        (Some(first), Some(last)) => format!(" (offsets {first} to {last})"),
        _ => String::new(),
    };
    let verb = if mode == "rebuild" {
        "Rebuilt from"
    } else {
        "Replayed"
    };
    println!(
        "{verb} {} log entries of workspace '{workspace}'{span} in {seconds:.1} s ({rate:.0} entries/s)",
        summary.entries
    );
    println!(
        "  already applied, skipped: {}; applied: {}; dropped: {}; refused: {}",
        summary.already_applied, summary.applied, summary.dropped, summary.refused
    );
    if summary.appended_meanwhile > 0 {
        println!(
            "  {} entries were appended while replaying; they are not part of this replay",
            summary.appended_meanwhile
        );
    }
    Ok(())
}
