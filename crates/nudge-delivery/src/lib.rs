//! Nudge's delivery: the channels that hand a message to a provider, and the worker that
//! drains the delivery ledger.

mod bell;
pub mod channel;
pub mod config;
pub mod providers;
pub mod reporting;
pub mod sinks;
pub mod tracking;
pub mod worker;
pub mod workspace_channels;

pub use channel::{Channel, Outcome, OutgoingMessage};
pub use config::{ChannelsConfig, ConfigError};
pub use workspace_channels::{ChannelDefinition, ChannelId, ChannelRegistry};
