//! `nudge plan -f DIR --workspace W` and `nudge apply -f DIR --workspace W`: segments,
//! computed attributes, journeys and templates kept as files (docs/definitions.md). Both read every file and check the
//! whole set against the workspace before anything happens; a set with any problem is
//! refused whole, changing nothing. `plan` prints what `apply` would do; `apply` prints the
//! same and does it. Definitions in the store that no file mentions are left alone. Like
//! `nudge workspace`, it opens the store directly; a running server's processor picks the
//! changes up on its own.

pub mod files;
mod plan;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use nudge_core::{Clock, SystemClock, Timestamp, WorkspaceId};
use nudge_store::{DocumentKind, NewSegment, Store};

use crate::config::StoreArgs;
use crate::server::open_store;
use files::Definition;
use plan::{Action, Plan, Step};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The directory of definition files (`.yaml`, `.yml`, `.json`, read recursively).
    #[arg(short = 'f', long = "file", value_name = "DIR")]
    pub dir: PathBuf,
    /// The workspace the definitions belong to, by name.
    #[arg(long)]
    pub workspace: String,
}

/// Whether to stop after printing the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Apply,
}

pub fn run(args: ApplyArgs, mode: Mode) -> anyhow::Result<()> {
    let store = open_store(&args.store)?;
    let workspace = store
        .workspace_by_name(&args.workspace)?
        .ok_or_else(|| anyhow::anyhow!("no workspace named '{}'", args.workspace))?;
    let now = SystemClock.now();
    let plan = planned(store.as_ref(), workspace.id, &args.dir, now)?;
    print_plan(&plan);
    let counts = Counts::of(&plan);
    match mode {
        Mode::Plan => println!(
            "\nPlan: {} to create, {} to update, {} unchanged, {} kept (not in files).",
            counts.create, counts.update, counts.unchanged, counts.kept
        ),
        Mode::Apply => {
            execute(store.as_ref(), workspace.id, &plan, now)?;
            println!(
                "\nApplied: {} created, {} updated, {} unchanged, {} kept (not in files).",
                counts.create, counts.update, counts.unchanged, counts.kept
            );
        }
    }
    Ok(())
}

/// Reads `dir` and plans it against the workspace; every problem refuses the whole set.
fn planned(store: &dyn Store, ws: WorkspaceId, dir: &Path, now: Timestamp) -> anyhow::Result<Plan> {
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
    match plan::build(store, ws, located, now)? {
        Ok(plan) => Ok(plan),
        Err(problems) => Err(refused(&problems)),
    }
}

/// Applies the definitions in `dir` to the workspace, quietly (the simulator's way in).
pub fn apply_dir(
    store: &dyn Store,
    ws: WorkspaceId,
    dir: &Path,
    now: Timestamp,
) -> anyhow::Result<()> {
    let plan = planned(store, ws, dir, now)?;
    execute(store, ws, &plan, now)
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

/// Writes the plan's changes: computed attributes first, then segments, each after the
/// segments its conditions read, then templates, then journeys, so a processor reloading
/// midway never sees a reference to something that is not there yet.
fn execute(store: &dyn Store, ws: WorkspaceId, plan: &Plan, now: Timestamp) -> anyhow::Result<()> {
    let changed: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action != Action::Unchanged)
        .collect();
    let of = |wanted: fn(&Definition) -> bool| -> Vec<&Step> {
        changed
            .iter()
            .copied()
            .filter(|s| wanted(&s.definition))
            .collect()
    };
    let computed = of(|d| matches!(d, Definition::Computed { .. }));
    let segments = of(|d| matches!(d, Definition::Segment { .. }));
    let templates =
        of(|d| matches!(d, Definition::Document { kind, .. } if *kind == DocumentKind::Template));
    let journeys =
        of(|d| matches!(d, Definition::Document { kind, .. } if *kind == DocumentKind::Journey));
    let ordered = computed
        .into_iter()
        .chain(dependency_order(&segments))
        .chain(templates)
        .chain(journeys);
    for (done, step) in ordered.enumerate() {
        write(store, ws, step, now).with_context(|| {
            format!(
                "applying {} ({done} of {} changes were applied before it)",
                step.subject,
                changed.len()
            )
        })?;
    }
    Ok(())
}

fn write(store: &dyn Store, ws: WorkspaceId, step: &Step, now: Timestamp) -> anyhow::Result<()> {
    match &step.definition {
        Definition::Computed { name, definition } => {
            store.put_computed_definition(ws, name, definition, now)?;
        }
        Definition::Document { kind, name, body } => {
            store.put_document(ws, *kind, name, body, now)?;
        }
        Definition::Segment {
            id,
            name,
            description,
            conditions,
        } => {
            let new = NewSegment {
                id: Some(*id),
                name: name.clone(),
                description: description.clone(),
                conditions: conditions.clone(),
            };
            if step.action == Action::Create {
                store.create_segment(ws, &new, now)?;
            } else if store.update_segment(ws, *id, &new, now)?.is_none() {
                anyhow::bail!("segment {id} was deleted meanwhile");
            }
        }
    }
    Ok(())
}

/// Segment steps ordered so that each comes after the changed segments it refers to (the set
/// compiled, so there is no cycle).
fn dependency_order<'a>(steps: &[&'a Step]) -> Vec<&'a Step> {
    let by_id: HashMap<i64, &'a Step> = steps
        .iter()
        .filter_map(|s| match s.definition {
            Definition::Segment { id, .. } => Some((id, *s)),
            Definition::Computed { .. } | Definition::Document { .. } => None,
        })
        .collect();
    fn visit<'a>(
        step: &'a Step,
        by_id: &HashMap<i64, &'a Step>,
        placed: &mut BTreeSet<i64>,
        out: &mut Vec<&'a Step>,
    ) {
        let Definition::Segment { id, conditions, .. } = &step.definition else {
            return;
        };
        if !placed.insert(*id) {
            return;
        }
        let reads = conditions
            .as_ref()
            .and_then(|c| nudge_conditions::parse(c).ok())
            .map(|c| c.dependencies().segments)
            .unwrap_or_default();
        for dependency in reads {
            if let Some(first) = by_id.get(&dependency) {
                visit(first, by_id, placed, out);
            }
        }
        out.push(step);
    }
    let mut placed = BTreeSet::new();
    let mut out = Vec::new();
    for step in steps {
        visit(step, &by_id, &mut placed, &mut out);
    }
    out
}
