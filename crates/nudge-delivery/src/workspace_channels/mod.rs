//! Channels configured per workspace: the `channel` definition kind (its format, checks and
//! redaction), building a working channel from a definition, and the registry the delivery
//! worker asks which channel a delivery of a workspace goes out through.

pub mod build;
pub mod definition;
pub mod registry;
pub mod secret;

pub use definition::{has_inline_secret, redacted, ChannelDefinition, ChannelId, FieldError};
pub use registry::{ChannelRegistry, Resolved};
pub use secret::{EnvLookup, Secret, SecretSources, DEFAULT_SECRETS_DIR, ENV_PREFIX, REDACTED};
