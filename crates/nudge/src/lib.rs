//! The `nudge` binary's library half: configuration, the composition root ([`server::launch`])
//! and the CLI commands. Kept as a library so tests start Nudge exactly as production does.

pub mod apply;
pub mod bench;
pub mod cli;
pub mod config;
pub mod contract_cmd;
pub mod delivery_policy;
pub mod export;
pub mod import;
pub mod outbox_cmd;
pub mod replay_cmd;
pub mod server;
pub mod simulate;
pub mod workspace_cmd;
