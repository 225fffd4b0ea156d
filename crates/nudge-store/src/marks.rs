//! What a replay of the event log needs from a store beyond the domain operations: marks that
//! remember, per subject, the newest log entry that changed it, and how much of a log follows
//! an offset. A replayed entry whose subjects carry a mark at or past its own offset is
//! already reflected in the store and is skipped; that is what makes `nudge replay`
//! idempotent. No SQL here.

use nudge_core::{Identifier, ObjectRef, PersonKey};

/// A subject whose newest change a store remembers by log offset. Marks only ever rise, and
/// they outlive their subject: a deleted person's identifiers and a deleted object keep
/// theirs, which is how a replay learns that a later entry removed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked<'a> {
    /// A person: their row, identifiers, devices, memberships and relationships. The mark is
    /// kept on their cio_id; reading it also counts their newest activity, whose position
    /// ([`activity_seq`](crate::activity_seq)) names the entry that recorded it, so recording
    /// an event needs no extra write.
    Person(PersonKey),
    /// Every identifier that names the person (their cio_id included): marked just before
    /// the person is deleted, so each identifier keeps a trace of the deletion.
    IdentifiersOf(PersonKey),
    /// One identifier, linked or not: marked when it is retired from a person and when it is
    /// suppressed or unsuppressed.
    Identifier(&'a Identifier),
    /// An object: its attributes and relationships, and its deletion.
    Object(&'a ObjectRef),
}

/// How much of a workspace's log follows an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogExtent {
    /// Entries with a greater offset.
    pub entries: u64,
    /// The greatest offset among them, `None` when there are none.
    pub last_offset: Option<i64>,
}
