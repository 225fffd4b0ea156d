//! What this process uses, as Linux reports it under /proc: CPU time of named threads and
//! peak resident memory. Reads only; elsewhere both read as zero.

use std::time::Duration;

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on every Linux Nudge runs on).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of this process's threads named `name`.
pub(in crate::bench) fn thread_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter_map(|stat| cpu_of(&stat).filter(|(comm, _)| comm == name))
        .map(|(_, cpu)| cpu)
        .sum()
}

/// User plus system CPU time of the calling thread.
pub(super) fn own_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| cpu_of(&stat))
        .map_or(Duration::ZERO, |(_, cpu)| cpu)
}

/// A thread's name and CPU time from its `stat` line: "tid (comm) state ppid …".
fn cpu_of(stat: &str) -> Option<(String, Duration)> {
    // The name may hold spaces and parentheses, so split at the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1;
    // After the name: state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let millis = (utime + stime) * 1000 / TICKS_PER_SECOND;
    Some((comm.to_string(), Duration::from_millis(millis)))
}

/// This process's peak resident memory so far (`VmHWM`), in MiB.
pub(in crate::bench) fn peak_rss_mib() -> f64 {
    let kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .to_string();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    kib as f64 / 1024.0
}

/// Bytes this process has written through system calls so far (`wchar` of /proc/self/io):
/// the database, its WAL and their checkpoints.
pub(super) fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            let line = io.lines().find(|l| l.starts_with("wchar:"))?.to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
