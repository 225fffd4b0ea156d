//! Journeys in the processor: the compiled [`JourneyCatalog`], moving a person's instances
//! along when their data changes ([`advance_person`]), firing timers
//! ([`process_due_instances`]), and carrying out what the pure engine (`nudge-journeys`)
//! decides: timeline rows, counters, the outbox, attribute updates and emitted events; and
//! how those timeline rows read ([`timeline`]).

mod broadcast;
mod catalog;
mod due;
mod effects;
mod person;
mod runner;
mod send;
pub mod timeline;
mod webhook;

pub use broadcast::{broadcast_job, broadcast_step};
pub use catalog::{compile_journeys, journey_subject, template_subject, JourneyCatalog};
pub use due::process_due_instances;
pub use effects::JOURNEY_SOURCE;
pub use person::BroadcastWork;
pub(crate) use person::{advance_person, JourneyWork};
