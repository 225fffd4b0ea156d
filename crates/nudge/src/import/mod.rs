//! `nudge import`: streams a file of people, events or objects (NDJSON or CSV) into a
//! workspace through the same group-commit writer, apply rules and dedupe as the APIs. Rows go
//! in chunks with a few in flight; after each chunk the writer acknowledged, the rejects and the
//! checkpoint are written, so an interrupted import resumes where its committed data ends and
//! a repeated one finds every row a duplicate. Never holds the file in memory.

mod checkpoint;
mod decode;
mod progress;
mod records;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use nudge_core::{SystemClock, WorkspaceId};
use nudge_ingest::{Accepted, Ingestor, Outcome, Pending, WriterConfig};
use sha2::{Digest, Sha256};

use crate::config::StoreArgs;
use checkpoint::{Checkpoint, Counts, FileIdentity, Reject, Rejects};
pub use decode::RowType;
use progress::Progress;
#[cfg(test)]
pub(crate) use records::split_csv;
pub use records::Format;
use records::{Position, Records};

/// Chunks queued at the writer at once: enough that, when a commit answers several chunks,
/// the writer still finds a full group commit queued while the next chunks are parsed.
const IN_FLIGHT: usize = 8;

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The workspace to import into (by name).
    #[arg(long)]
    pub workspace: String,
    /// What each row is.
    #[arg(long = "type", value_enum)]
    pub row_type: RowType,
    #[arg(long, value_enum)]
    pub format: Format,
    /// Ignore any checkpoint left by an interrupted run and start from the first row.
    #[arg(long)]
    pub restart: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Rows per chunk handed to the writer.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chunk_rows: u32,
    /// The file to import.
    pub file: PathBuf,
}

/// Rows read since the last submission, waiting to be queued.
#[derive(Default)]
struct Chunk {
    accepted: Vec<Accepted>,
    /// Line and raw text of each accepted row, to report what the writer skipped.
    rows: Vec<(u64, String)>,
    rejects: Vec<Reject>,
    read: u64,
}

/// A queued chunk: its answer to wait for and what to record once it is committed.
struct InFlight {
    pending: Option<Pending>,
    rows: Vec<(u64, String)>,
    rejects: Vec<Reject>,
    read: u64,
    end: Position,
}

/// Everything one run works with.
struct Run {
    args: ImportArgs,
    ws: WorkspaceId,
    file: FileIdentity,
    key_prefix: String,
    ingestor: Ingestor,
    rejects: Rejects,
    counts: Counts,
    progress: Progress,
    in_flight: VecDeque<InFlight>,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let store = crate::server::open_store(&args.store)?;
    let workspace = store
        .workspace_by_name(&args.workspace)?
        .with_context(|| format!("there is no workspace named '{}'", args.workspace))?;
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    let mut progress = Progress::new(size);
    let file = checkpoint::identify(&args.file, &|bytes| progress.hashing(bytes))?;
    let checkpoint_path = checkpoint::checkpoint_path(&args.file);
    let rejects_path = checkpoint::rejects_path(&args.file);
    let resume = if args.restart {
        None
    } else {
        checkpoint::load(&checkpoint_path)?.filter(|c| {
            let continues = c.continues(&file, &workspace.name, args.row_type, args.format);
            if !continues {
                tracing::warn!(
                    "{} belongs to another import (file, workspace, type or format differ); \
                     starting from the first row",
                    checkpoint_path.display()
                );
            }
            continues
        })
    };
    let start = resume.as_ref().map(|c| c.position);
    let counts = resume.as_ref().map(|c| c.counts).unwrap_or_default();
    progress.importing(start.map_or(0, |p| p.offset), counts.read);
    let rejects = Rejects::open(
        &rejects_path,
        resume.as_ref().map_or(0, |c| c.rejects_bytes),
    )?;
    let mut records = Records::open(&args.file, args.format, start)?;
    let (ingestor, writer) = Ingestor::start(store, Arc::new(SystemClock), WriterConfig::default());
    let mut run = Run {
        key_prefix: key_prefix(&file, args.row_type),
        ws: workspace.id,
        file,
        ingestor,
        rejects,
        counts,
        progress,
        in_flight: VecDeque::new(),
        args,
    };
    let imported = run.import(&mut records, &checkpoint_path);
    let Run {
        ingestor,
        progress,
        counts,
        mut rejects,
        args,
        ..
    } = run;
    drop(ingestor);
    writer.join();
    imported?;
    rejects.sync()?;
    checkpoint::remove(&checkpoint_path)?;
    if rejects.bytes() == 0 {
        checkpoint::remove(&rejects_path)?;
    }
    let summary = progress.finish(counts, start.map(|p| p.line));
    summary.print(args.json, &rejects_path);
    Ok(())
}

/// Rows of this file imported as this type share a key prefix; the line makes each key its
/// own, and keeps keys of one file in order, which keeps their index inserts local.
fn key_prefix(file: &FileIdentity, row_type: RowType) -> String {
    let digest = Sha256::new()
        .chain_update(file.sha256.as_bytes())
        .chain_update(b":")
        .chain_update(row_type.as_str().as_bytes())
        .finalize();
    format!("import:{}", hex::encode(&digest[..8]))
}

impl Run {
    fn import(
        &mut self,
        records: &mut Records,
        checkpoint_path: &std::path::Path,
    ) -> anyhow::Result<()> {
        let chunk_rows = self.args.chunk_rows as usize;
        let mut chunk = Chunk::default();
        while let Some(record) = records.next_record()? {
            chunk.read += 1;
            let operation = record
                .fields
                .map_err(|reason| decode::Bad {
                    reason,
                    field: None,
                })
                .and_then(|fields| decode::operation(self.args.row_type, fields));
            match operation {
                Ok(operation) => {
                    let mut accepted = Accepted::from(operation);
                    if accepted.dedupe_key.is_none() {
                        accepted.dedupe_key =
                            Some(format!("{}:{:010}", self.key_prefix, record.line));
                    }
                    chunk.accepted.push(accepted);
                    chunk.rows.push((record.line, record.raw));
                }
                Err(bad) => chunk.rejects.push(Reject {
                    line: record.line,
                    reason: bad.reason,
                    field: bad.field,
                    row: record.raw,
                }),
            }
            if chunk.read as usize >= chunk_rows {
                self.submit(
                    std::mem::take(&mut chunk),
                    records.position(),
                    checkpoint_path,
                )?;
            }
        }
        if chunk.read > 0 {
            self.submit(chunk, records.position(), checkpoint_path)?;
        }
        while !self.in_flight.is_empty() {
            self.settle(checkpoint_path)?;
        }
        Ok(())
    }

    fn submit(
        &mut self,
        chunk: Chunk,
        end: Position,
        checkpoint_path: &std::path::Path,
    ) -> anyhow::Result<()> {
        let pending = if chunk.accepted.is_empty() {
            None
        } else {
            Some(
                self.ingestor
                    .enqueue_blocking(self.ws, "import", chunk.accepted)?,
            )
        };
        self.in_flight.push_back(InFlight {
            pending,
            rows: chunk.rows,
            rejects: chunk.rejects,
            read: chunk.read,
            end,
        });
        while self.in_flight.len() > IN_FLIGHT {
            self.settle(checkpoint_path)?;
        }
        Ok(())
    }

    /// Waits for the oldest chunk's commit, then records its rejects and the checkpoint after
    /// it: the checkpoint never runs ahead of committed data.
    fn settle(&mut self, checkpoint_path: &std::path::Path) -> anyhow::Result<()> {
        let Some(chunk) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let outcomes = match chunk.pending {
            Some(pending) => pending
                .wait()
                .with_context(|| format!("committing the rows before line {}", chunk.end.line))?,
            None => Vec::new(),
        };
        let mut rejects = chunk.rejects;
        self.counts.read += chunk.read;
        self.counts.rejected += rejects.len() as u64;
        for ((line, raw), outcome) in chunk.rows.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Applied => self.counts.imported += 1,
                Outcome::Duplicate => self.counts.duplicates += 1,
                Outcome::Dropped(reason) | Outcome::Refused(reason) => {
                    self.counts.skipped += 1;
                    rejects.push(Reject {
                        line,
                        reason: format!("skipped: {reason}"),
                        field: None,
                        row: raw,
                    });
                }
            }
        }
        if !rejects.is_empty() {
            rejects.sort_by_key(|r| r.line);
            for reject in &rejects {
                self.rejects.write(reject)?;
            }
            self.rejects.sync()?;
        }
        checkpoint::save(
            checkpoint_path,
            &Checkpoint {
                file: self.file.clone(),
                workspace: self.args.workspace.clone(),
                row_type: self.args.row_type,
                format: self.args.format,
                position: chunk.end,
                rejects_bytes: self.rejects.bytes(),
                counts: self.counts,
            },
        )?;
        tracing::debug!(
            line = chunk.end.line,
            offset = chunk.end.offset,
            "checkpoint written"
        );
        self.progress.update(chunk.end.offset, self.counts.read);
        Ok(())
    }
}
