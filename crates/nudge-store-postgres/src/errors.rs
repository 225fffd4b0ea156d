//! Maps PostgreSQL, pool and decoding failures onto [`StoreError`], so no driver error type
//! crosses the crate boundary. Connection trouble is `Unavailable` (retryable), a broken
//! uniqueness or reference rule is `Conflict`, undecodable stored data is `Corrupt`.

use std::error::Error as _;

use nudge_store::StoreError;
use postgres::error::SqlState;

/// Classifies a driver error. Errors that carry no server response (IO, closed connection,
/// timeout, failed handshake) mean the database could not be reached.
pub(crate) fn pg(err: postgres::Error) -> StoreError {
    let Some(db) = err.as_db_error() else {
        let cause = err
            .source()
            .map(|source| format!("{err}: {source}"))
            .unwrap_or_else(|| err.to_string());
        return StoreError::Unavailable(cause);
    };
    let text = match db.detail() {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_string(),
    };
    let code = db.code();
    // Class 23: unique, foreign key, not-null and check violations, as SQLite's
    // SQLITE_CONSTRAINT is.
    if code.code().starts_with("23") {
        StoreError::Conflict(text)
    } else if is_transient(code) {
        StoreError::Unavailable(text)
    } else {
        StoreError::Backend(text)
    }
}

/// Server states after which the same request may succeed if retried: lost connections,
/// exhausted resources, shutdowns, and the two transaction-ordering failures.
fn is_transient(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    matches!(class, "08" | "53" | "57")
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
}

/// No pooled connection could be had in time.
pub(crate) fn pool(err: r2d2::Error) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {err}"))
}

/// A stored value that does not decode into the domain type it should hold.
pub(crate) fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {err}"))
}

/// Prefixes the message with what was being done, keeping the kind of failure.
pub(crate) fn with_context(err: StoreError, context: &str) -> StoreError {
    match err {
        StoreError::Unavailable(m) => StoreError::Unavailable(format!("{context}: {m}")),
        StoreError::Conflict(m) => StoreError::Conflict(format!("{context}: {m}")),
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{context}: {m}")),
        StoreError::Backend(m) => StoreError::Backend(format!("{context}: {m}")),
    }
}

/// Reads column `idx` of `row`, reporting a type mismatch as corruption rather than a panic.
pub(crate) fn column<'a, T>(row: &'a postgres::Row, idx: usize) -> Result<T, StoreError>
where
    T: postgres::types::FromSql<'a>,
{
    row.try_get(idx)
        .map_err(|e| corrupt(&format!("column {}", column_name(row, idx)), e))
}

fn column_name(row: &postgres::Row, idx: usize) -> &str {
    row.columns().get(idx).map_or("?", |c| c.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_states_are_retryable() {
        assert!(is_transient(&SqlState::ADMIN_SHUTDOWN));
        assert!(is_transient(&SqlState::CONNECTION_FAILURE));
        assert!(is_transient(&SqlState::TOO_MANY_CONNECTIONS));
        assert!(is_transient(&SqlState::T_R_DEADLOCK_DETECTED));
        assert!(!is_transient(&SqlState::UNIQUE_VIOLATION));
        assert!(!is_transient(&SqlState::SYNTAX_ERROR));
    }
}
