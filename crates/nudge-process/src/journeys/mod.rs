//! Journeys in the processor: the compiled [`JourneyCatalog`], moving a person's instances
//! along when their data changes ([`advance_person`]), firing timers
//! ([`process_due_instances`]), and carrying out what the pure engine (`nudge-journeys`)
//! decides: timeline rows, counters, the outbox, attribute updates and emitted events.

mod catalog;
mod due;
mod effects;
mod person;
mod webhook;

pub use catalog::{compile_journeys, journey_subject, template_subject, JourneyCatalog};
pub use due::process_due_instances;
pub use effects::JOURNEY_SOURCE;
pub(crate) use person::{advance_person, JourneyWork};
