//! The log processor (design note 2): an ordered consumer of each workspace's event log that
//! keeps computed attributes and data-driven segment membership exact, records every
//! segment transition at the moment it happens, schedules the one moment time alone could
//! next change a person's memberships, and backfills new or edited definitions over existing
//! people without pausing ingestion. Each batch commits together with the processed offset,
//! so a crash resumes where it stopped and nothing is applied twice.

mod backfill;
pub mod catalog;
mod computed_step;
mod due;
mod events;
pub mod facts;
pub mod journeys;
mod log_step;
mod person;
mod processor;
mod virtual_time;

pub use backfill::backfill_step;
pub use catalog::{compile, computed_subject, segment_subject, Catalog, CatalogError};
pub use computed_step::NewEvent;
pub use due::process_due_checks;
pub use facts::PersonData;
pub use log_step::{last_offset_before, process_log_batch, BatchReport};
pub use person::{process_person, Moment, PersonOutcome, PersonWork};
pub use processor::{
    next_wake, Processor, ProcessorConfig, ProcessorHandle, ProgressHook, ReloadHook, Waker,
};
pub use virtual_time::{
    advance_clock, advance_clock_through, AdvanceError, ClockDriver, MAX_STOPS_PER_ADVANCE,
};
