//! `nudge export people|events`: streams a workspace's people or events to a file or stdout as
//! NDJSON or CSV, page by page (keyset pages from the store, never a whole table), optionally
//! only a segment's members and only what changed or happened since a time. Rows look as
//! `nudge_api::app::exports::rows` says, the same as the App API's export files.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use nudge_api::app::exports::rows;
use nudge_core::Timestamp;
use nudge_store::ExportScope;
use serde_json::Value;

use crate::config::StoreArgs;
use crate::import::Format;

/// Rows read per store round trip.
const PAGE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportKind {
    People,
    Events,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to export.
    #[arg(value_enum)]
    pub kind: ExportKind,
    /// The workspace to export from (by name).
    #[arg(long)]
    pub workspace: String,
    /// Only members of this segment (people), or the events of its members.
    #[arg(long)]
    pub segment: Option<i64>,
    /// Only people updated, or events that happened, at or after this time (unix seconds or
    /// RFC 3339).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Timestamp>,
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: Format,
    /// Write here (it appears once complete) instead of to stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

fn parse_since(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    Timestamp::parse_rfc3339(text)
        .or_else(|| {
            text.parse::<i64>()
                .ok()
                .and_then(Timestamp::from_unix_seconds)
        })
        .ok_or_else(|| format!("'{text}' is neither unix seconds nor an RFC 3339 time"))
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    match export(args) {
        // A reader that stopped reading (`nudge export … | head`) is not a failure.
        Err(e) if broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let store = crate::server::open_store(&args.store)?;
    let workspace = store
        .workspace_by_name(&args.workspace)?
        .with_context(|| format!("there is no workspace named '{}'", args.workspace))?;
    let scope = ExportScope {
        segment: args.segment,
        since: args.since,
    };
    let partial = args.output.as_ref().map(|path| {
        let mut name = path.as_os_str().to_os_string();
        name.push(".part");
        PathBuf::from(name)
    });
    let sink: Box<dyn Write> = match &partial {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = RowWriter::new(BufWriter::with_capacity(256 * 1024, sink), args.format);
    let ws = workspace.id;
    let mut written = 0u64;
    match args.kind {
        ExportKind::People => {
            out.header(&rows::PERSON_COLUMNS)?;
            let mut after = None;
            loop {
                let page = store.people_page(ws, after, PAGE, &scope)?;
                for person in &page {
                    out.row(&rows::person_row(person))?;
                }
                written += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() == PAGE => after = Some(last.key),
                    _ => break,
                }
            }
        }
        ExportKind::Events => {
            out.header(&rows::EVENT_COLUMNS)?;
            let mut after = 0;
            loop {
                let page = store.events_page(ws, after, PAGE, &scope)?;
                for event in &page {
                    out.row(&rows::event_row(event))?;
                }
                written += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() == PAGE => after = last.seq,
                    _ => break,
                }
            }
        }
    }
    out.finish()?;
    if let (Some(partial), Some(output)) = (&partial, &args.output) {
        std::fs::rename(partial, output)
            .with_context(|| format!("moving the export to {}", output.display()))?;
    }
    let what = match args.kind {
        ExportKind::People => "people",
        ExportKind::Events => "events",
    };
    eprintln!("exported {written} {what}");
    Ok(())
}

/// Rows out as NDJSON lines or CSV records (nested objects as JSON text, `null` as empty).
struct RowWriter<W: Write> {
    out: W,
    format: Format,
}

impl<W: Write> RowWriter<W> {
    fn new(out: W, format: Format) -> Self {
        Self { out, format }
    }

    fn header(&mut self, columns: &[&str]) -> anyhow::Result<()> {
        if self.format == Format::Csv {
            let cells: Vec<String> = columns.iter().map(|c| csv_cell(c)).collect();
            writeln!(self.out, "{}", cells.join(","))?;
        }
        Ok(())
    }

    fn row(&mut self, row: &Value) -> anyhow::Result<()> {
        match self.format {
            Format::Ndjson => {
                serde_json::to_writer(&mut self.out, row)?;
                self.out.write_all(b"\n")?;
            }
            Format::Csv => {
                let cells: Vec<String> = row
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.values())
                    .map(|value| match value {
                        Value::Null => String::new(),
                        Value::String(s) => csv_cell(s),
                        other => csv_cell(&other.to_string()),
                    })
                    .collect();
                writeln!(self.out, "{}", cells.join(","))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// Quotes a CSV field when it holds a comma, a quote or a line break (RFC 4180).
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_rows_quote_what_needs_it_and_nest_objects_as_json() {
        let mut out = RowWriter::new(Vec::new(), Format::Csv);
        out.header(&["id", "email", "attributes"]).unwrap();
        out.row(&json!({"id": "a,b", "email": null, "attributes": {"q": "say \"hi\""}}))
            .unwrap();
        let text = String::from_utf8(out.out).unwrap();
        assert_eq!(
            text,
            "id,email,attributes\n\"a,b\",,\"{\"\"q\"\":\"\"say \\\"\"hi\\\"\"\"\"}\"\n"
        );
        let cells = crate::import::split_csv(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(cells, ["a,b", "", r#"{"q":"say \"hi\""}"#]);
    }

    #[test]
    fn since_takes_unix_seconds_or_rfc_3339() {
        assert_eq!(
            parse_since("1700000000").unwrap().unix_seconds(),
            1_700_000_000
        );
        assert_eq!(
            parse_since("2023-11-14T22:13:20Z").unwrap().unix_seconds(),
            1_700_000_000
        );
        assert!(parse_since("last week").is_err());
    }
}
