//! Nudge's delivery: the channels that hand a message to a provider, and the worker that
//! drains the delivery ledger.

pub mod channel;
pub mod config;
pub mod providers;
pub mod sinks;
pub mod worker;

pub use channel::{Channel, Outcome, OutgoingMessage};
pub use config::{ChannelsConfig, ConfigError};
