//! What a person watching an import sees: a progress bar on a terminal (rows, rows/s and an
//! ETA from bytes read against the file size; hidden when stderr is not a terminal) and, in
//! every case, a summary at the end, as text or as one JSON object.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::checkpoint::Counts;

pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    /// Rows already counted when this run started (a resumed import).
    rows_before: u64,
}

impl Progress {
    pub fn new(file_size: u64) -> Progress {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(file_size)
        } else {
            ProgressBar::hidden()
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            started: Instant::now(),
            rows_before: 0,
        }
    }

    /// Shows reading the file for its identity.
    pub fn hashing(&self, bytes: u64) {
        if bytes == 0 {
            self.bar.set_style(style(
                "{spinner} identifying the file {wide_bar} {bytes}/{total_bytes} {eta}",
            ));
        }
        self.bar.set_position(bytes);
    }

    /// From here on the bar shows the import itself, which starts at `offset` with
    /// `rows_before` rows already done by an earlier run.
    pub fn importing(&mut self, offset: u64, rows_before: u64) {
        self.bar.set_style(style(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent}% {msg} ETA {eta}",
        ));
        self.bar.reset();
        self.bar.set_position(offset);
        self.started = Instant::now();
        self.rows_before = rows_before;
    }

    /// After a committed chunk: the file offset it reached and the total rows read.
    pub fn update(&self, offset: u64, rows: u64) {
        self.bar.set_position(offset);
        let rate = (rows - self.rows_before) as f64 / self.started.elapsed().as_secs_f64();
        self.bar
            .set_message(format!("{rows} rows, {rate:.0} rows/s"));
    }

    pub fn finish(&self, counts: Counts, resumed_at_line: Option<u64>) -> Summary {
        self.bar.finish_and_clear();
        let elapsed = self.started.elapsed().as_secs_f64();
        let this_run = counts.read - self.rows_before;
        Summary {
            rows_read: counts.read,
            imported: counts.imported,
            duplicates: counts.duplicates,
            rejected: counts.rejected,
            skipped: counts.skipped,
            elapsed_seconds: elapsed,
            rows_per_second: if elapsed > 0.0 {
                this_run as f64 / elapsed
            } else {
                0.0
            },
            resumed_at_line,
            peak_rss_kib: peak_rss_kib(),
        }
    }
}

/// This process's peak resident memory (`VmHWM`), where the system reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The end of an import. Counts cover the whole import, earlier interrupted runs included;
/// elapsed time and rate cover this run.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub rows_read: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub skipped: u64,
    pub elapsed_seconds: f64,
    pub rows_per_second: f64,
    /// Set when this run continued from a checkpoint.
    pub resumed_at_line: Option<u64>,
    /// Peak resident memory of the importing process, in KiB (Linux).
    pub peak_rss_kib: Option<u64>,
}

impl Summary {
    pub fn print(&self, json: bool, rejects: &std::path::Path) {
        if json {
            println!("{}", serde_json::to_string(self).unwrap_or_default());
            return;
        }
        if let Some(line) = self.resumed_at_line {
            println!("resumed at line {line}");
        }
        println!(
            "rows read {}, imported {}, duplicates {}, rejected {}, skipped {}",
            self.rows_read, self.imported, self.duplicates, self.rejected, self.skipped
        );
        println!(
            "elapsed {:.1} s, {:.0} rows/s",
            self.elapsed_seconds, self.rows_per_second
        );
        if self.rejected + self.skipped > 0 {
            println!("bad and skipped rows are listed in {}", rejects.display());
        }
    }
}
