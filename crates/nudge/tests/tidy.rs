//! Guards for the architecture's stated absences: every module says what it is for, the pure
//! core pulls in no runtime or IO crate, and only the clock reads the wall clock.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn library_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(workspace_root().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_sources(&src, &mut files);
        }
    }
    assert!(files.len() > 20, "found the sources");
    files
}

#[test]
fn every_module_opens_with_a_doc_line() {
    let missing: Vec<_> = library_sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a //! line: {missing:?}"
    );
}

#[test]
fn the_domain_core_depends_on_no_runtime_or_io_crate() {
    let manifest =
        std::fs::read_to_string(workspace_root().join("crates/nudge-core/Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for forbidden in [
        "tokio",
        "axum",
        "hyper",
        "reqwest",
        "rusqlite",
        "postgres",
        "r2d2",
        "tracing-subscriber",
    ] {
        assert!(
            !dependencies
                .lines()
                .any(|l| l.trim_start().starts_with(forbidden)),
            "nudge-core must not depend on {forbidden}"
        );
    }
}

#[test]
fn only_the_system_clock_reads_the_wall_clock() {
    let offenders: Vec<_> = library_sources()
        .into_iter()
        .filter(|path| !path.ends_with("nudge-core/src/time.rs"))
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            // Test-support code (throwaway database names) may use SystemTime; nothing else.
            let code = text.split("#[cfg(test)]").next().unwrap();
            (code.contains("Utc::now()")
                || code.contains("SystemTime::now()")
                || code.contains("Local::now()"))
                && !path.ends_with("test_database.rs")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "wall-clock reads outside the Clock: {offenders:?}"
    );
}
