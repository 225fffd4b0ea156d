//! `nudge bench delivery`: messages per second through the whole delivery path — journey
//! step, render, ledger, worker, provider — to a local SMTP sink and a local webhook sink,
//! with enqueue-to-receipt latency, against the bare provider client sending the same
//! messages at the same concurrency in the same run, and the ledger's cost per message in
//! claim and finish. Everything runs in this process on a fresh store, wired as
//! `server::launch` wires it: the writer, the processor thread and the real delivery worker.

mod baseline;
mod definitions;
mod ledger;
mod phase;
mod report;
mod rig;
mod stats;

use clap::Args;

use super::BenchStore;
use report::{ChannelReport, Report};
use rig::{Rig, Sink};

#[derive(Debug, Clone, Args)]
pub struct DeliveryBenchArgs {
    /// Which store(s) to measure. PostgreSQL uses a throwaway database on 127.0.0.1:5432.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: BenchStore,
    /// Messages per phase (and people: each gets one message per phase).
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,
    /// Print one JSON object per store instead of a report.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DeliveryBenchArgs) -> anyhow::Result<()> {
    for store in args.store.names() {
        let report = bench_store(store, args.messages.max(1))?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            report::print(&report);
        }
    }
    Ok(())
}

fn bench_store(store_name: &'static str, messages: u64) -> anyhow::Result<Report> {
    let rig = Rig::start(store_name)?;
    let measured = measure(&rig, store_name, messages);
    rig.stop();
    measured
}

fn measure(rig: &Rig, store_name: &'static str, messages: u64) -> anyhow::Result<Report> {
    eprintln!("[{store_name}] setup: {messages} people");
    rig.create_people(messages)?;
    let mut channels = Vec::new();
    for sink in [Sink::Smtp, Sink::Webhook] {
        let name = sink.channel();
        eprintln!("[{store_name}] {name}: whole path, the worker running while events arrive");
        let (pipelined, sent) = phase::run(rig, sink, messages, phase::Mode::Pipelined)?;
        eprintln!("[{store_name}] {name}: the worker draining a full ledger");
        let (backlog, _) = phase::run(rig, sink, messages, phase::Mode::Backlog)?;
        eprintln!("[{store_name}] {name}: the bare client, same messages, same concurrency");
        let bare = baseline::run(rig, sink, &sent)?;
        channels.push(ChannelReport::new(name, pipelined, backlog, bare));
    }
    eprintln!("[{store_name}] ledger: claim and finish of {messages} queued deliveries");
    let ledger = ledger::run(rig, messages)?;
    Ok(Report {
        store: store_name,
        messages,
        concurrency: rig.worker_config.concurrency,
        batch: rig.worker_config.batch,
        smtp_connections: rig.smtp_connections,
        load_average: report::load_average(),
        channels,
        ledger,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{BenchCommand, Cli, Command};

    fn parse(args: &[&str]) -> Result<DeliveryBenchArgs, String> {
        let line = ["nudge", "bench", "delivery"].iter().chain(args);
        match Cli::try_parse_from(line)
            .map_err(|e| e.kind().to_string())?
            .command
        {
            Command::Bench(BenchCommand::Delivery(args)) => Ok(args),
            other => Err(format!("parsed as {other:?}")),
        }
    }

    #[test]
    fn the_defaults_measure_sqlite_with_twenty_thousand_messages() {
        let args = parse(&[]).expect("no arguments are needed");
        assert_eq!(args.store, BenchStore::Sqlite);
        assert_eq!((args.messages, args.json), (20_000, false));
    }

    #[test]
    fn store_size_and_output_can_be_chosen() {
        let args = parse(&["--store", "postgres", "--messages", "5000", "--json"])
            .expect("valid arguments");
        assert_eq!(args.store, BenchStore::Postgres);
        assert_eq!((args.messages, args.json), (5000, true));
        assert!(parse(&["--store", "mysql"]).is_err());
        assert!(parse(&["--messages", "many"]).is_err());
    }
}
