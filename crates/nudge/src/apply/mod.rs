//! `nudge plan -f DIR --workspace W` and `nudge apply -f DIR --workspace W`: segments,
//! computed attributes, journeys, templates, channels and the event contract kept as files (docs/definitions.md). Both read
//! every file and check the whole set against the workspace before anything happens; a set
//! with any problem is refused whole, changing nothing. `plan` prints what `apply` would do;
//! `apply` prints the same and does it. Definitions the workspace holds that no file mentions
//! are left alone. Like `nudge workspace`, it opens the store directly (a running server's
//! processor picks the changes up on its own), or, with `--url` and `--app-key`, it reads and
//! writes through a running server's App API ([`remote`]).

mod contract;
pub mod files;
mod plan;
mod remote;
mod stored;
mod write;

use std::path::{Path, PathBuf};

use clap::Args;
use nudge_core::{Clock, SystemClock, Timestamp, WorkspaceId};
use nudge_store::Store;

use crate::config::StoreArgs;
use crate::server::open_store;
use plan::{Action, Plan};
pub use remote::AppClient;
pub use stored::StoredDefinitions;
use write::{StoreTarget, Target};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The directory of definition files (`.yaml`, `.yml`, `.json`, read recursively).
    #[arg(short = 'f', long = "file", value_name = "DIR")]
    pub dir: PathBuf,
    /// The workspace the definitions belong to, by name (not with `--url`: there the app key
    /// names the workspace).
    #[arg(long)]
    pub workspace: Option<String>,
    /// A running server's address (`http://host:port`): plan and apply through its App API
    /// instead of opening the store.
    #[arg(long, env = "NUDGE_URL", value_name = "URL")]
    pub url: Option<String>,
    /// The workspace's App API key, with `--url`.
    #[arg(
        long,
        env = "NUDGE_APP_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub app_key: Option<String>,
    /// Apply a contract change even though it breaks stored journeys, templates, segments or
    /// computed attributes (definitions the files change must conform all the same).
    #[arg(long)]
    pub force_contract: bool,
}

/// Whether to stop after printing the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Apply,
}

pub fn run(args: ApplyArgs, mode: Mode) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match (&args.url, &args.workspace) {
        (Some(url), None) => {
            let key = args.app_key.as_deref().ok_or_else(|| {
                anyhow::anyhow!(
                    "--url needs --app-key (or NUDGE_APP_KEY): the workspace's App API key"
                )
            })?;
            let client = AppClient::new(url, key)?;
            let stored = client.stored()?;
            report_and_write(&client, &stored, &args, mode, now)
        }
        (Some(_), Some(_)) => anyhow::bail!(
            "--workspace names a workspace in a store; with --url (or NUDGE_URL) the app key \
             names it: leave --workspace out"
        ),
        (None, Some(name)) => {
            let store = open_store(&args.store)?;
            let workspace = store
                .workspace_by_name(name)?
                .ok_or_else(|| anyhow::anyhow!("no workspace named '{name}'"))?;
            let stored = StoredDefinitions::read(store.as_ref(), workspace.id)?;
            let target = StoreTarget {
                store: store.as_ref(),
                ws: workspace.id,
                now,
            };
            report_and_write(&target, &stored, &args, mode, now)
        }
        (None, None) => anyhow::bail!(
            "name the workspace with --workspace, or a running server with --url and --app-key"
        ),
    }
}

/// Plans `dir` against `stored`, prints the plan, and in `Apply` mode writes it to `target`.
fn report_and_write(
    target: &dyn Target,
    stored: &StoredDefinitions,
    args: &ApplyArgs,
    mode: Mode,
    now: Timestamp,
) -> anyhow::Result<()> {
    let plan = planned(stored, &args.dir, now, args.force_contract)?;
    print_plan(&plan);
    let counts = Counts::of(&plan);
    match mode {
        Mode::Plan => println!(
            "\nPlan: {} to create, {} to update, {} unchanged, {} kept (not in files).",
            counts.create, counts.update, counts.unchanged, counts.kept
        ),
        Mode::Apply => {
            write::execute(target, &plan)?;
            println!(
                "\nApplied: {} created, {} updated, {} unchanged, {} kept (not in files).",
                counts.create, counts.update, counts.unchanged, counts.kept
            );
        }
    }
    Ok(())
}

/// Reads `dir` and plans it against `stored`; every problem refuses the whole set.
fn planned(
    stored: &StoredDefinitions,
    dir: &Path,
    now: Timestamp,
    force_contract: bool,
) -> anyhow::Result<Plan> {
    let refused = |problems: &[String]| {
        anyhow::anyhow!(
            "the definitions in {} were refused; nothing was changed:\n  {}",
            dir.display(),
            problems.join("\n  ")
        )
    };
    let located = match files::read_dir(dir)? {
        Ok(located) => located,
        Err(problems) => return Err(refused(&problems)),
    };
    plan::build(stored, located, now, force_contract).map_err(|problems| refused(&problems))
}

/// Applies the definitions in `dir` to the workspace, quietly (the simulator's way in).
pub fn apply_dir(
    store: &dyn Store,
    ws: WorkspaceId,
    dir: &Path,
    now: Timestamp,
) -> anyhow::Result<()> {
    let stored = StoredDefinitions::read(store, ws)?;
    let plan = planned(&stored, dir, now, false)?;
    write::execute(&StoreTarget { store, ws, now }, &plan)
}

struct Counts {
    create: usize,
    update: usize,
    unchanged: usize,
    kept: usize,
}

impl Counts {
    fn of(plan: &Plan) -> Self {
        let count =
            |wanted: fn(&Action) -> bool| plan.steps.iter().filter(|s| wanted(&s.action)).count();
        Counts {
            create: count(|a| *a == Action::Create),
            update: count(|a| matches!(a, Action::Update { .. })),
            unchanged: count(|a| *a == Action::Unchanged),
            kept: plan.kept.len(),
        }
    }
}

fn print_plan(plan: &Plan) {
    for step in &plan.steps {
        match &step.action {
            Action::Create => println!("{}: create  [{}]", step.subject, step.origin),
            Action::Unchanged => println!("{}: unchanged  [{}]", step.subject, step.origin),
            Action::Update { version, diff } => {
                println!(
                    "{}: update, version {version} → {}  [{}]",
                    step.subject,
                    version + 1,
                    step.origin
                );
                for line in diff {
                    println!("    {line}");
                }
            }
        }
    }
    for subject in &plan.kept {
        println!("{subject}: kept (not in files)");
    }
}
