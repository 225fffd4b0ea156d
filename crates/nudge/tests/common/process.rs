//! The real `nudge serve` binary as a child process on a given store, for tests that kill it
//! with SIGKILL and start it again on the same data.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Running {
    pub child: Child,
    pub base: String,
}

/// Starts the binary on `data_dir` (SQLite) or `database_url`, with `env` added, and waits
/// for it to print its address.
pub fn start_binary(data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nudge"));
    command
        .arg("serve")
        .env("NUDGE_DATA_DIR", data_dir)
        .env("NUDGE_LISTEN", "127.0.0.1:0")
        .env("NUDGE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match database_url {
        Some(url) => command.env("NUDGE_DATABASE_URL", url),
        None => command.env_remove("NUDGE_DATABASE_URL"),
    };
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("nudge starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server printed its address");
    Running { child, base }
}

/// The credentials the first start wrote to the data directory.
pub fn credentials(data_dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(data_dir.join("credentials.json")).unwrap()).unwrap()
}
