//! The `nudge` executable.

use clap::Parser;

fn main() -> std::process::ExitCode {
    match nudge::cli::run(nudge::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
