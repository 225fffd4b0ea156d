//! What makes an import resumable and repeatable: the file's identity (size and SHA-256 of
//! its content), the checkpoint written next to it after each committed chunk, and the rejects
//! file, which a resumed run cuts back to what the checkpoint covers before appending.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::decode::RowType;
use super::records::{Format, Position};

/// The content of an import file, whatever its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub size: u64,
    pub sha256: String,
}

/// Reads the whole file once, in blocks, reporting bytes read to `progress`.
pub fn identify(path: &Path, progress: &dyn Fn(u64)) -> anyhow::Result<FileIdentity> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
        size += n as u64;
        progress(size);
    }
    Ok(FileIdentity {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Row counts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Every record read, good or bad.
    pub read: u64,
    /// Committed and applied.
    pub imported: u64,
    /// Already imported (by an earlier run, or through the API for events with an id).
    pub duplicates: u64,
    /// Could not be read or failed validation; listed in the rejects file.
    pub rejected: u64,
    /// Committed, but had no effect (a suppressed person, an unknown cio_id); also listed.
    pub skipped: u64,
}

/// Written after the writer acknowledged a chunk: everything before `position` is committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub file: FileIdentity,
    pub workspace: String,
    pub row_type: RowType,
    pub format: Format,
    pub position: Position,
    /// Length of the rejects file covering the rows before `position`.
    pub rejects_bytes: u64,
    pub counts: Counts,
}

impl Checkpoint {
    /// Whether this checkpoint belongs to the same import of the same file.
    pub fn continues(
        &self,
        file: &FileIdentity,
        workspace: &str,
        row_type: RowType,
        format: Format,
    ) -> bool {
        self.file == *file
            && self.workspace == workspace
            && self.row_type == row_type
            && self.format == format
    }
}

pub fn checkpoint_path(file: &Path) -> PathBuf {
    sibling(file, ".nudge-checkpoint")
}

pub fn rejects_path(file: &Path) -> PathBuf {
    sibling(file, ".rejects.ndjson")
}

fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The checkpoint at `path`, if there is a readable one.
pub fn load(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(checkpoint) => Ok(Some(checkpoint)),
            Err(e) => {
                eprintln!("ignoring unreadable checkpoint {}: {e}", path.display());
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the checkpoint at once (write aside, then rename), so a reader never sees half.
pub fn save(path: &Path, checkpoint: &Checkpoint) -> anyhow::Result<()> {
    let aside = sibling(path, ".tmp");
    std::fs::write(&aside, serde_json::to_vec(checkpoint)?)
        .with_context(|| format!("writing {}", aside.display()))?;
    std::fs::rename(&aside, path).with_context(|| format!("replacing {}", path.display()))
}

pub fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// One bad row as the rejects file lists it.
#[derive(Debug, Serialize)]
pub struct Reject {
    pub line: u64,
    pub reason: String,
    pub field: Option<String>,
    pub row: String,
}

/// The rejects file, appended to chunk by chunk, in line order.
pub struct Rejects {
    out: BufWriter<File>,
    bytes: u64,
}

impl Rejects {
    /// Opens the rejects file, keeping its first `keep` bytes (what a checkpoint covers) and
    /// dropping anything after them; a fresh import starts it empty.
    pub fn open(path: &Path, keep: u64) -> anyhow::Result<Rejects> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let length = file.metadata()?.len();
        if length < keep {
            anyhow::bail!(
                "{} is shorter than its checkpoint says ({length} < {keep} bytes); \
                 run again with --restart",
                path.display()
            );
        }
        file.set_len(keep)?;
        let mut out = BufWriter::new(file);
        std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(keep))?;
        Ok(Rejects { out, bytes: keep })
    }

    pub fn write(&mut self, reject: &Reject) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(reject)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Flushes what was written and makes it durable before a checkpoint may count it.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}
