//! The command line: `serve`, `check-config`, `workspace …`, `import`, `export`, `replay`,
//! `plan`, `apply`, `contract infer`, `simulate`, `outbox tail`, `bench …`.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use nudge_core::SystemClock;

use crate::config::{ServeArgs, StoreArgs};
use crate::workspace_cmd::WorkspaceCommand;

#[derive(Debug, Parser)]
#[command(
    name = "nudge",
    version,
    about = "Self-hosted customer engagement, Customer.io compatible"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (Track API, App API, metrics) until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Print the effective configuration, secrets redacted.
    CheckConfig(ServeArgs),
    /// Manage workspaces and their API keys.
    Workspace {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Import people, events or objects from an NDJSON or CSV file (docs/import-export.md).
    Import(crate::import::ImportArgs),
    /// Export people or events as NDJSON or CSV (docs/import-export.md).
    Export(crate::export::ExportArgs),
    /// Re-apply a workspace's event log to its derived state (docs/replay.md).
    Replay(crate::replay_cmd::ReplayArgs),
    /// Show what `apply` would change for a directory of definition files (docs/definitions.md).
    Plan(crate::apply::ApplyArgs),
    /// Create and update segments, computed attributes, journeys and templates from
    /// definition files (docs/definitions.md).
    Apply(crate::apply::ApplyArgs),
    /// The event contract: `nudge contract infer` writes one from observed traffic
    /// (docs/contract.md).
    #[command(subcommand)]
    Contract(crate::contract_cmd::ContractCommand),
    /// Run a scenario through journeys on a virtual clock and print the timeline
    /// (docs/simulator.md).
    Simulate(crate::simulate::SimulateArgs),
    /// The delivery ledger: `nudge outbox tail` shows what went out, or would have.
    #[command(subcommand)]
    Outbox(crate::outbox_cmd::OutboxCommand),
    /// Benchmarks (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Track API ingestion vs the /healthz ceiling and raw store inserts.
    Track(crate::bench::BenchArgs),
    /// Pipelines /v1/batch ingestion vs raw batched store inserts.
    Batch(crate::bench::batch::BatchArgs),
    /// `nudge import` of generated events vs raw inserts of the same rows, with peak RSS.
    Import(crate::bench::import::ImportBenchArgs),
    /// Segments and computed attributes: backfill, incremental cost, transition latency.
    Segments(crate::bench::segments::SegmentsBenchArgs),
    /// Journeys: a million pending timers, event-triggered throughput, event-to-send latency.
    Journeys(crate::bench::journeys::JourneysBenchArgs),
    /// Delivery: messages/s through journey, ledger, worker and provider vs the bare client.
    Delivery(crate::bench::delivery::DeliveryBenchArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::CheckConfig(args) => {
            println!("{}", serde_json::to_string_pretty(&args.effective()?)?);
            Ok(())
        }
        Command::Workspace { store, command } => crate::workspace_cmd::run(&store, command),
        Command::Import(args) => {
            init_logging();
            crate::import::run(args)
        }
        Command::Export(args) => crate::export::run(args),
        Command::Replay(args) => crate::replay_cmd::run(args),
        Command::Plan(args) => crate::apply::run(args, crate::apply::Mode::Plan),
        Command::Apply(args) => crate::apply::run(args, crate::apply::Mode::Apply),
        Command::Simulate(args) => crate::simulate::run(args),
        Command::Contract(command) => crate::contract_cmd::run(command),
        Command::Outbox(command) => crate::outbox_cmd::run(command),
        Command::Bench(BenchCommand::Track(args)) => crate::bench::run(args),
        Command::Bench(BenchCommand::Import(args)) => crate::bench::import::run(args),
        Command::Bench(BenchCommand::Batch(args)) => crate::bench::batch::run(args),
        Command::Bench(BenchCommand::Segments(args)) => crate::bench::segments::run(args),
        Command::Bench(BenchCommand::Journeys(args)) => crate::bench::journeys::run(args),
        Command::Bench(BenchCommand::Delivery(args)) => crate::bench::delivery::run(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = std::net::TcpListener::bind(args.listen)
            .with_context(|| format!("binding {}", args.listen))?;
        let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
        crate::server::launch(args, listener, Arc::new(SystemClock), shutdown_signal()?, |addr, created| {
            if let Some(issued) = created {
                println!("Created the development workspace. Its credentials, shown once (also in credentials.json in the data directory):");
                println!("{}", serde_json::to_string_pretty(&issued).unwrap_or_default());
            }
            println!("listening on {scheme}://{addr}");
        })
        .await
    })
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("NUDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("NUDGE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed here, before the server
/// announces that it listens, so a signal sent right after that line is never missed.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}
