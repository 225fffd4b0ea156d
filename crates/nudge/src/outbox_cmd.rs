//! `nudge outbox tail`: the delivery ledger of a workspace as it grows — the newest messages,
//! then (with `--follow`) each new one as it is queued — read straight from the configured
//! store. With the default `outbox` channel (no provider configured) it is where a developer
//! sees what would have gone out.

use std::time::Duration;

use clap::{Args, Subcommand};
use nudge_core::WorkspaceId;
use nudge_store::{Delivery, DeliveryQuery, DeliveryState, Store};

use crate::config::StoreArgs;
use crate::server::open_store;

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Print the newest messages of the ledger; with --follow, keep printing new ones.
    Tail(TailArgs),
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, default_value = "development")]
    pub workspace: String,
    /// How many of the newest messages to print first.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub lines: usize,
    /// Keep printing messages as they are queued, until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// Only messages in this state (queued, attempted, sent, failed, skipped, …).
    #[arg(long, value_parser = parse_state)]
    pub state: Option<DeliveryState>,
    /// Only messages of this channel (email, sms, push, webhook).
    #[arg(long)]
    pub channel: Option<String>,
    /// One JSON object per line, as `GET /v1/messages/{id}` shows a message.
    #[arg(long)]
    pub json: bool,
}

fn parse_state(text: &str) -> Result<DeliveryState, String> {
    DeliveryState::parse(text).ok_or_else(|| {
        let names = DeliveryState::ALL.map(DeliveryState::as_str).join(", ");
        format!("'{text}' is not a state; one of {names}")
    })
}

/// How often `--follow` looks for new messages.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

pub fn run(command: OutboxCommand) -> anyhow::Result<()> {
    let OutboxCommand::Tail(args) = command;
    let store = open_store(&args.store)?;
    let ws = store
        .workspace_by_name(&args.workspace)?
        .ok_or_else(|| anyhow::anyhow!("no workspace named '{}'", args.workspace))?
        .id;
    let query = DeliveryQuery {
        limit: args.lines.clamp(1, 1000),
        newest_first: true,
        state: args.state,
        channel: args.channel.clone(),
        ..DeliveryQuery::default()
    };
    let mut newest = store.deliveries(ws, &query)?;
    newest.reverse();
    let mut last = newest.last().map(|d| d.id).unwrap_or(0);
    if newest.is_empty() && args.follow {
        last = newest_id(store.as_ref(), ws)?;
    }
    for delivery in &newest {
        print(delivery, args.json);
    }
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(FOLLOW_EVERY);
        let page = store.deliveries(
            ws,
            &DeliveryQuery {
                after_id: last,
                limit: 1000,
                newest_first: false,
                ..query.clone()
            },
        )?;
        for delivery in &page {
            print(delivery, args.json);
            last = delivery.id;
        }
    }
}

/// The id of the workspace's newest message, whatever its state (0 when there is none), so
/// following starts after it.
fn newest_id(store: &dyn Store, ws: WorkspaceId) -> anyhow::Result<i64> {
    let newest = store.deliveries(
        ws,
        &DeliveryQuery {
            limit: 1,
            newest_first: true,
            ..DeliveryQuery::default()
        },
    )?;
    Ok(newest.first().map(|d| d.id).unwrap_or(0))
}

fn print(delivery: &Delivery, json: bool) {
    if json {
        println!("{}", nudge_api::app::messages::message_view(delivery, true));
    } else {
        println!("{}", line(delivery));
    }
}

/// `2026-03-02T10:32:00Z  sent      sms      +15555550100  cart-recovery/sms  Ana, your…`
fn line(delivery: &Delivery) -> String {
    let message = &delivery.message;
    let origin = if message.journey.is_empty() {
        "-".to_string()
    } else {
        format!("{}/{}", message.journey, message.step)
    };
    let text = message
        .subject
        .clone()
        .unwrap_or_else(|| message.body.lines().next().unwrap_or_default().to_string());
    let mut line = format!(
        "{}  {:<13} {:<8} {}  {}  {}",
        message.created_at.to_rfc3339(),
        delivery.state.as_str(),
        message.channel,
        message.recipient,
        origin,
        shorten(&text, 80)
    );
    if let Some(reason) = &delivery.reason {
        line.push_str(&format!("  ({reason})"));
    }
    line
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}
