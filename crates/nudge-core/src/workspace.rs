//! Workspaces (one brand's isolated data), their environment and the three APIs a key can open.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkspaceId(pub i64);

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    Production,
    Staging,
    Development,
}

impl Env {
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Production => "production",
            Env::Staging => "staging",
            Env::Development => "development",
        }
    }
}

impl FromStr for Env {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Env::Production),
            "staging" => Ok(Env::Staging),
            "development" => Ok(Env::Development),
            other => Err(format!(
                "unknown environment '{other}': expected production, staging or development"
            )),
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which API a key opens. A key opens exactly one API of exactly one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKind {
    Track,
    Pipelines,
    App,
}

impl ApiKind {
    pub const ALL: [ApiKind; 3] = [ApiKind::Track, ApiKind::Pipelines, ApiKind::App];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiKind::Track => "track",
            ApiKind::Pipelines => "pipelines",
            ApiKind::App => "app",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub env: Env,
    /// The public half of Track API credentials (the Basic auth user name).
    pub site_id: String,
}
