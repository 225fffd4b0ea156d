//! The one mapping from SQLite, pool and JSON failures to [`StoreError`]: callers above the
//! store only ever see whether to retry (Unavailable), a broken uniqueness rule (Conflict) or
//! unreadable data (Corrupt). No rusqlite type leaves this crate.

use nudge_store::StoreError;
use rusqlite::ErrorCode;

/// Classifies a rusqlite error by what the caller can do about it.
pub(crate) fn from_sqlite(err: rusqlite::Error) -> StoreError {
    let text = err.to_string();
    match &err {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::OutOfMemory
            | ErrorCode::OperationInterrupted
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::NoLargeFileSupport => StoreError::Unavailable(text),
            ErrorCode::ConstraintViolation => StoreError::Conflict(text),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase | ErrorCode::TypeMismatch => {
                StoreError::Corrupt(text)
            }
            _ => StoreError::Backend(text),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt(text),
        _ => StoreError::Backend(text),
    }
}

/// No read connection could be had in time: the database is overloaded or gone.
pub(crate) fn from_pool(err: r2d2::Error) -> StoreError {
    StoreError::Unavailable(format!("no read connection: {err}"))
}

/// Stored JSON (or an enum spelled as text) that does not decode.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn check(code: i32, expected: &str) {
        let err = rusqlite::Error::SqliteFailure(ffi::Error::new(code), None);
        let variant = match from_sqlite(err) {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Conflict(_) => "conflict",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Backend(_) => "backend",
        };
        assert_eq!(variant, expected, "for SQLite result code {code}");
    }

    #[test]
    fn sqlite_codes_map_to_what_the_caller_can_do() {
        check(ffi::SQLITE_BUSY, "unavailable");
        check(ffi::SQLITE_LOCKED, "unavailable");
        check(ffi::SQLITE_IOERR, "unavailable");
        check(ffi::SQLITE_IOERR_FSYNC, "unavailable");
        check(ffi::SQLITE_FULL, "unavailable");
        check(ffi::SQLITE_CANTOPEN, "unavailable");
        check(ffi::SQLITE_CONSTRAINT, "conflict");
        check(ffi::SQLITE_CONSTRAINT_UNIQUE, "conflict");
        check(ffi::SQLITE_CONSTRAINT_FOREIGNKEY, "conflict");
        check(ffi::SQLITE_CORRUPT, "corrupt");
        check(ffi::SQLITE_NOTADB, "corrupt");
        check(ffi::SQLITE_MISUSE, "backend");
    }

    #[test]
    fn undecodable_columns_are_corrupt() {
        let err = rusqlite::Error::InvalidColumnType(0, "key".into(), rusqlite::types::Type::Text);
        assert!(matches!(from_sqlite(err), StoreError::Corrupt(_)));
    }
}
