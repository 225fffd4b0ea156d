//! `nudge workspace create|list|rotate-keys`: administering workspaces and their keys
//! directly in the configured store.

use clap::Subcommand;
use nudge_api::credentials::{new_workspace, KeySet};
use nudge_core::{Clock, Env, SystemClock};
use serde_json::json;

use crate::config::StoreArgs;
use crate::server::open_store;

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace and print its credentials (shown once; only hashes are stored).
    Create {
        name: String,
        #[arg(long, default_value = "development")]
        env: Env,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List workspaces (never their keys).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Replace all three keys of a workspace; the old ones stop working at once.
    RotateKeys {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(store_args: &StoreArgs, command: WorkspaceCommand) -> anyhow::Result<()> {
    let store = open_store(store_args)?;
    match command {
        WorkspaceCommand::Create { name, env, json } => {
            validate_name(&name)?;
            let (new, keys) = new_workspace(&name, env, SystemClock.now());
            let workspace = store.create_workspace(&new)?;
            print_credentials(&keys.issued(&workspace), json)
        }
        WorkspaceCommand::List { json } => {
            let all = store.workspaces()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for w in all {
                    println!("{}\t{}\t{}\tsite_id={}", w.id, w.name, w.env, w.site_id);
                }
            }
            Ok(())
        }
        WorkspaceCommand::RotateKeys { name, json } => {
            let workspace = store
                .workspace_by_name(&name)?
                .ok_or_else(|| anyhow::anyhow!("no workspace named '{name}'"))?;
            let keys = KeySet::generate();
            store.replace_keys(workspace.id, &keys.records())?;
            print_credentials(&keys.issued(&workspace), json)
        }
    }
}

fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    anyhow::ensure!(
        ok,
        "workspace name '{name}' must be 1-64 characters of letters, digits, '-' or '_'"
    );
    Ok(())
}

fn print_credentials(
    issued: &nudge_api::credentials::IssuedCredentials,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(issued)?);
    } else {
        let v = json!(issued);
        for (key, value) in v.as_object().into_iter().flatten() {
            println!(
                "{key}: {}",
                value.as_str().map_or(value.to_string(), str::to_string)
            );
        }
        println!("Keep these keys now: Nudge stores only their hashes.");
    }
    Ok(())
}
