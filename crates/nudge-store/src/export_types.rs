//! Plain data of exports: what a page of people or events is read with, an event as exports
//! list it, and the export jobs the App API runs. Reads only; nothing here writes people.

use nudge_core::{Activity, Timestamp};
use serde::{Deserialize, Serialize};

/// Which people (or whose events) an export reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportScope {
    /// Only members of this segment.
    pub segment: Option<i64>,
    /// People updated at or after this time; events that happened at or after it.
    pub since: Option<Timestamp>,
}

/// An event, page or screen view as exports list it: the activity and who it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedEvent {
    /// The activity's position: pages continue after the last one read.
    pub seq: i64,
    pub person_id: Option<String>,
    pub person_email: Option<String>,
    pub person_cio_id: String,
    pub activity: Activity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Pending,
    Done,
    Failed,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Pending => "pending",
            ExportStatus::Done => "done",
            ExportStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ExportStatus::Pending,
            ExportStatus::Done,
            ExportStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What `create_export` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExport {
    /// What is exported ("customers").
    pub kind: String,
    /// The request's audience filter, as given.
    pub filters: serde_json::Value,
    pub now: Timestamp,
}

/// An export job of the App API.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportJob {
    pub id: i64,
    pub kind: String,
    pub filters: serde_json::Value,
    pub status: ExportStatus,
    /// Rows written, once done.
    pub total: i64,
    /// How many times the file was fetched.
    pub downloads: i64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportEnd {
    Done { total: i64 },
    Failed { error: String },
}
