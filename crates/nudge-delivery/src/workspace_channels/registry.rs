//! Which channel a delivery goes out through, by its workspace: the workspace's applied
//! channel definition if there is one; else, for the first workspace only, the environment's
//! channel (the `NUDGE_*` variables); else the outbox, which records it. Channels are built
//! once per stored version of their definition, when the store's config version moves (the
//! signal the processor reloads on), not per message; a definition that cannot be built
//! (a reference that does not resolve) is tried again after [`REBUILD_AFTER`] and meanwhile
//! holds its deliveries back with the reason. What is in flight keeps the channel it started
//! with; the next attempt takes the current one, so a change loses and repeats nothing.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use nudge_core::{Clock, Timestamp, WorkspaceId};
use nudge_store::{DocumentKind, Store, StoreResult};

use super::build::build;
use super::definition::{ChannelDefinition, ChannelId};
use crate::channel::Channel;
use crate::config::ChannelsConfig;

/// How long a definition that could not be built waits before it is tried again (a secret
/// file may appear meanwhile).
pub const REBUILD_AFTER: Duration = Duration::from_secs(30);

/// What a delivery on a channel name goes out through.
pub enum Resolved {
    Send {
        channel: Arc<dyn Channel>,
        /// Recorded with the delivery: why it was only recorded (the outbox stood in).
        note: Option<String>,
        /// The circuit breaker's key: one per provider, so one workspace's failing provider
        /// pauses nobody else's.
        breaker_key: String,
    },
    /// The workspace defines this channel but it cannot be built: the delivery waits.
    Unavailable { reason: String },
}

/// The channels of every workspace, rebuilt as their definitions change.
pub struct ChannelRegistry {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    environment: Arc<ChannelsConfig>,
    loaded: RwLock<Loaded>,
}

#[derive(Default)]
struct Loaded {
    config_version: Option<i64>,
    /// The workspace the environment's channels serve: the first one created.
    first: Option<WorkspaceId>,
    built: HashMap<(WorkspaceId, ChannelId), Built>,
}

#[derive(Clone)]
struct Built {
    version: i64,
    channel: Result<Arc<dyn Channel>, String>,
    at: Timestamp,
}

impl Built {
    fn due_again(&self, now: Timestamp) -> bool {
        self.channel.is_err() && now.millis() - self.at.millis() >= REBUILD_AFTER.as_millis() as i64
    }
}

impl ChannelRegistry {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        environment: Arc<ChannelsConfig>,
    ) -> Self {
        Self {
            store,
            clock,
            environment,
            loaded: RwLock::new(Loaded::default()),
        }
    }

    /// Brings the channels up to date with the stored definitions: nothing happens unless the
    /// config version moved or a failed definition is due to be tried again. Blocking (store
    /// reads): run it off the async workers.
    pub fn refresh(&self) -> StoreResult<()> {
        let version = self.store.config_version()?;
        let now = self.clock.now();
        {
            let loaded = self.read();
            let retry = loaded.built.values().any(|built| built.due_again(now));
            if loaded.config_version == Some(version) && !retry {
                return Ok(());
            }
        }
        let workspaces = self.store.workspaces()?;
        let first = workspaces.iter().map(|w| w.id).min();
        let mut stored = Vec::new();
        for workspace in &workspaces {
            for document in self.store.documents(workspace.id, DocumentKind::Channel)? {
                stored.push((workspace.id, document));
            }
        }
        // Sends in flight keep resolving against the current map until the new one replaces
        // it whole.
        let mut previous = self.read().built.clone();
        let mut built = HashMap::new();
        for (ws, document) in stored {
            let Some(id) = ChannelId::parse(&document.name) else {
                tracing::error!(workspace = ws.0, channel = %document.name,
                    "a stored channel definition names no channel; ignored");
                continue;
            };
            let key = (ws, id);
            match previous.remove(&key) {
                Some(kept) if kept.version == document.version && !kept.due_again(now) => {
                    built.insert(key, kept);
                }
                _ => {
                    let channel = ChannelDefinition::parse(id.as_str(), &document.body)
                        .and_then(|definition| {
                            build(
                                &definition,
                                self.environment.references(),
                                self.environment.client(),
                                self.clock.clone(),
                            )
                        })
                        .map_err(|error| error.to_string());
                    match &channel {
                        Ok(_) => tracing::info!(
                            workspace = ws.0,
                            channel = id.as_str(),
                            version = document.version,
                            "channel definition in use"
                        ),
                        Err(error) => tracing::error!(workspace = ws.0, channel = id.as_str(),
                            version = document.version, %error,
                            "channel definition cannot be used; its deliveries wait"),
                    }
                    built.insert(
                        key,
                        Built {
                            version: document.version,
                            channel,
                            at: now,
                        },
                    );
                }
            }
        }
        let mut loaded = self.write();
        loaded.built = built;
        loaded.first = first;
        loaded.config_version = Some(version);
        Ok(())
    }

    /// The channel a delivery of workspace `ws` on channel `name` goes out through.
    pub fn resolve(&self, ws: WorkspaceId, name: &str) -> Resolved {
        if name == "outbox" {
            return Resolved::Send {
                channel: self.environment.outbox(),
                note: None,
                breaker_key: name.to_string(),
            };
        }
        let loaded = self.read();
        if let Some(id) = ChannelId::parse(name) {
            if let Some(built) = loaded.built.get(&(ws, id)) {
                return match &built.channel {
                    Ok(channel) => Resolved::Send {
                        channel: channel.clone(),
                        note: None,
                        breaker_key: format!("{name}/workspace {}", ws.0),
                    },
                    Err(reason) => Resolved::Unavailable {
                        reason: format!(
                            "the workspace's {name} channel (version {}) cannot be used: {reason}",
                            built.version
                        ),
                    },
                };
            }
        }
        let first = loaded.first.is_none_or(|first| first == ws);
        if first {
            if let Some(channel) = self.environment.channel(name) {
                return Resolved::Send {
                    channel,
                    note: None,
                    breaker_key: name.to_string(),
                };
            }
        }
        let note = if first {
            format!("recorded only: no {name} provider is configured")
        } else {
            format!("recorded only: no {name} channel is configured for this workspace")
        };
        Resolved::Send {
            channel: self.environment.outbox(),
            note: Some(note),
            breaker_key: name.to_string(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Loaded> {
        self.loaded.write().unwrap_or_else(|e| e.into_inner())
    }
}
