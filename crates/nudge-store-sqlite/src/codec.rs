//! How domain values are spelled in columns and read back: times as i64 milliseconds, JSON as
//! TEXT, enums by their stable names. Rows are first read into plain column values, then
//! decoded here, so a bad value becomes `StoreError::Corrupt` naming what broke.

use nudge_core::{
    Activity, ActivityKind, ApiKind, Device, Env, Identifier, IdentifierKind, JsonMap, PersonKey,
    PersonState, Timestamp, Workspace, WorkspaceId,
};
use nudge_store::{Backfill, StoreError, StoreResult};
use rusqlite::Row;
use serde::{de::DeserializeOwned, Serialize};

use crate::errors::corrupt;

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|err| StoreError::Backend(format!("encoding JSON: {err}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|err| corrupt(what, err))
}

pub(crate) fn identifier(kind: &str, value: &str) -> StoreResult<Identifier> {
    let kind = IdentifierKind::parse(kind)
        .ok_or_else(|| corrupt("identifier kind", format!("unknown kind '{kind}'")))?;
    Identifier::new(kind, value).map_err(|err| corrupt("identifier", err))
}

/// Merges `changes` into `attributes`: a `null` or `""` value removes the attribute.
pub(crate) fn merge_attributes(attributes: &mut JsonMap, changes: &JsonMap) {
    for (name, value) in changes {
        let removes = value.is_null() || value.as_str() == Some("");
        if removes {
            attributes.remove(name);
        } else {
            attributes.insert(name.clone(), value.clone());
        }
    }
}

pub(crate) fn millis(at: Option<Timestamp>) -> Option<i64> {
    at.map(Timestamp::millis)
}

/// Read from the columns `id, name, env, site_id`, in that order.
pub(crate) struct WorkspaceRow {
    id: i64,
    name: String,
    env: String,
    site_id: String,
}

impl WorkspaceRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            name: row.get(1)?,
            env: row.get(2)?,
            site_id: row.get(3)?,
        })
    }

    pub(crate) fn decode(self) -> StoreResult<Workspace> {
        Ok(Workspace {
            id: WorkspaceId(self.id),
            name: self.name,
            env: self
                .env
                .parse::<Env>()
                .map_err(|err| corrupt("workspace env", err))?,
            site_id: self.site_id,
        })
    }
}

pub(crate) fn api_kind(text: &str) -> StoreResult<ApiKind> {
    ApiKind::parse(text).ok_or_else(|| corrupt("api key kind", format!("unknown kind '{text}'")))
}

/// Read from the columns `key, cio_id, id, email, phone, attributes, attribute_times,
/// created_at, updated_at`, in that order.
pub(crate) struct PersonRow {
    key: i64,
    cio_id: String,
    id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    attributes: String,
    attribute_times: String,
    created_at: i64,
    updated_at: i64,
}

impl PersonRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            key: row.get(0)?,
            cio_id: row.get(1)?,
            id: row.get(2)?,
            email: row.get(3)?,
            phone: row.get(4)?,
            attributes: row.get(5)?,
            attribute_times: row.get(6)?,
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
        })
    }

    pub(crate) fn decode(self) -> StoreResult<PersonState> {
        Ok(PersonState {
            key: PersonKey(self.key),
            cio_id: self.cio_id,
            id: self.id,
            email: self.email,
            phone: self.phone,
            attributes: from_json(&self.attributes, "person attributes")?,
            attribute_times: from_json(&self.attribute_times, "person attribute times")?,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
        })
    }
}

/// Read from the columns `token, platform, last_used, attributes`, in that order.
pub(crate) struct DeviceRow {
    token: String,
    platform: String,
    last_used: Option<i64>,
    attributes: String,
}

impl DeviceRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            token: row.get(0)?,
            platform: row.get(1)?,
            last_used: row.get(2)?,
            attributes: row.get(3)?,
        })
    }

    pub(crate) fn decode(self) -> StoreResult<Device> {
        Ok(Device {
            token: self.token,
            platform: self.platform,
            last_used: self.last_used.map(Timestamp::from_millis),
            attributes: from_json(&self.attributes, "device attributes")?,
        })
    }
}

/// Read from the columns `seq, kind, name, timestamp, data, event_id, can_trigger,
/// recorded_at`, in that order.
pub(crate) struct ActivityRow {
    seq: i64,
    kind: String,
    name: String,
    timestamp: i64,
    data: String,
    event_id: Option<String>,
    can_trigger: bool,
    recorded_at: i64,
}

impl ActivityRow {
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            kind: row.get(1)?,
            name: row.get(2)?,
            timestamp: row.get(3)?,
            data: row.get(4)?,
            event_id: row.get(5)?,
            can_trigger: row.get(6)?,
            recorded_at: row.get(7)?,
        })
    }

    pub(crate) fn decode(self) -> StoreResult<nudge_core::person::StoredActivity> {
        let kind = ActivityKind::parse(&self.kind)
            .ok_or_else(|| corrupt("activity kind", format!("unknown kind '{}'", self.kind)))?;
        Ok(nudge_core::person::StoredActivity {
            seq: self.seq,
            activity: Activity {
                kind,
                name: self.name,
                timestamp: Timestamp::from_millis(self.timestamp),
                data: from_json(&self.data, "activity data")?,
                event_id: self.event_id,
                can_trigger: self.can_trigger,
            },
            recorded_at: Timestamp::from_millis(self.recorded_at),
        })
    }
}

/// A backfill as the four columns `backfill_complete, backfill_after, backfill_done,
/// backfill_total` that every definition table spells it with.
pub(crate) struct BackfillColumns {
    pub(crate) complete: bool,
    pub(crate) after: i64,
    pub(crate) done: i64,
    pub(crate) total: i64,
}

impl BackfillColumns {
    /// Reads the four columns starting at `first`.
    pub(crate) fn read(row: &Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            complete: row.get(first)?,
            after: row.get(first + 1)?,
            done: row.get(first + 2)?,
            total: row.get(first + 3)?,
        })
    }

    pub(crate) fn decode(self) -> StoreResult<Backfill> {
        let count = |n: i64| u64::try_from(n).map_err(|err| corrupt("backfill count", err));
        Ok(Backfill {
            complete: self.complete,
            after: self.after,
            done: count(self.done)?,
            total: count(self.total)?,
        })
    }
}

impl From<&Backfill> for BackfillColumns {
    fn from(backfill: &Backfill) -> Self {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            complete: backfill.complete,
            after: backfill.after,
            done: count(backfill.done),
            total: count(backfill.total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_and_empty_string_remove_other_values_set() {
        let mut attributes = json!({"plan": "pro", "seats": 3, "region": "eu"})
            .as_object()
            .cloned()
            .unwrap();
        let changes = json!({"plan": null, "seats": "", "region": "us", "tier": 0})
            .as_object()
            .cloned()
            .unwrap();
        merge_attributes(&mut attributes, &changes);
        assert_eq!(
            serde_json::Value::Object(attributes),
            json!({"region": "us", "tier": 0})
        );
    }

    #[test]
    fn unknown_enum_spellings_are_corrupt() {
        assert!(matches!(
            identifier("nickname", "x"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(api_kind("admin"), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            from_json::<JsonMap>("[1]", "attributes"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
