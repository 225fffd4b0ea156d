//! The event contract (docs/contract.md): the agreement between the engineers who send events
//! and the marketers whose journeys read them. `parse` (or `Contract::from_yaml`) reads the
//! format with errors that point at the node; `diff` lists what changed between versions;
//! `validate_event` and `validate_traits` list the violations of one call (allocation-free when
//! there are none); `classify_event` reports drift and likely renames; `Inferrer` writes a
//! contract from observed traffic; `check` lists what configuration reads that the contract
//! does not declare. No IO, no store, no clock.

pub mod bench;
mod conformance;
mod diff;
mod document;
mod drift;
mod infer;
mod model;
mod names;
mod parse;
mod path;
mod rename;
mod strict;
mod validate;
mod walk;

pub use conformance::{breaks, check, Breach, Read, Usage, PERSON_IDENTIFIERS};
pub use diff::{changed_without_new_version, diff, Change};
pub use drift::{classify_event, classify_traits, Drift};
pub use infer::{
    infer, InferOptions, Inference, Inferrer, Note, MAX_INFERRED_KEYS, REQUIRED_PRESENCE,
};
pub use model::{
    AdditionalProperties, Contract, JsonType, Mode, Properties, Property, Schema, Section,
    StringFormat, Subject,
};
pub use names::{event_name_problem, property_name_problem};
pub use parse::{keys, parse, ContractError, FORMAT, MAX_DEPTH};
pub use rename::{likely_renames, normalise, RENAME_MAX_EDITS, RENAME_MAX_EDITS_PER_FIVE_CHARS};
pub use validate::{validate_event, validate_traits, Violation, ViolationKind};
