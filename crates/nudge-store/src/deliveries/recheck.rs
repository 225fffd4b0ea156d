//! What a delivery worker reads to re-check a claimed batch right before sending it: the
//! journey instances of the batch's deliveries ([`Deliveries::instances`](crate::Deliveries::instances)),
//! then everything else the re-check looks at, the people, the suppressed addresses, the recent
//! marketing sends the frequency cap counts and the events that end a journey
//! ([`Deliveries::recheck_reads`](crate::Deliveries::recheck_reads)). Each read answers for the
//! whole batch of one workspace at once, never one delivery at a time. Plain data.

use std::collections::HashMap;

use nudge_core::{PersonKey, Timestamp};

use crate::{Address, AddressSuppression, MarketingSend, PersonView, StoredEvent};

/// What the re-check of a claimed batch reads in one workspace, in one read snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecheckQuery {
    /// People to read, each as [`Store::person`](crate::Store::person) reads one.
    pub people: Vec<PersonKey>,
    /// Addresses (email addresses, phone numbers) whose suppression to read.
    pub addresses: Vec<Address>,
    /// People whose recent marketing sends to read (the frequency cap).
    pub sends: Option<SendsQuery>,
    /// Events to read, each as [`Definitions::person_events`](crate::Definitions::person_events)
    /// reads them.
    pub events: Vec<EventsQuery>,
}

/// The marketing sends of `people` at or after `since`, each person's as
/// [`SendHistory::marketing_sends_since`](crate::SendHistory::marketing_sends_since) reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct SendsQuery {
    pub people: Vec<PersonKey>,
    pub since: Timestamp,
}

/// A person's events (and page and screen views) named one of `names`, with timestamp at or
/// after `since` when given.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsQuery {
    pub person: PersonKey,
    pub names: Vec<String>,
    pub since: Option<Timestamp>,
}

/// The answers to a [`RecheckQuery`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecheckReads {
    /// Each person of the query who exists; one who does not is absent.
    pub people: HashMap<PersonKey, PersonView>,
    /// Each address of the query that is suppressed; one that is not is absent.
    pub suppressions: HashMap<Address, AddressSuppression>,
    /// Each person of the sends query who has sends in the window, oldest first; one who has
    /// none is absent.
    pub sends: HashMap<PersonKey, Vec<MarketingSend>>,
    /// One answer per events query, in the query's order, each in timestamp order.
    pub events: Vec<Vec<StoredEvent>>,
}
