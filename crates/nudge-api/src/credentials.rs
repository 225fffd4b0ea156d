//! Workspace credentials: random keys (128 bits), their SHA-256 hashes (the only form
//! stored), and the one-time printout a new workspace gets.

use nudge_core::{ApiKind, Env, Timestamp, Workspace};
use nudge_store::{KeyHash, KeyRecord, NewWorkspace};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What `nudge workspace create` prints once; the keys cannot be recovered afterwards.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct IssuedCredentials {
    pub workspace_id: i64,
    pub name: String,
    pub env: Env,
    pub site_id: String,
    pub track_api_key: String,
    pub pipelines_write_key: String,
    pub app_api_key: String,
}

/// Plain keys for the three APIs.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub track: String,
    pub pipelines: String,
    pub app: String,
}

impl KeySet {
    pub fn generate() -> Self {
        Self {
            track: random_hex(16),
            pipelines: random_hex(16),
            app: random_hex(16),
        }
    }

    pub fn records(&self) -> Vec<KeyRecord> {
        [
            (ApiKind::Track, &self.track),
            (ApiKind::Pipelines, &self.pipelines),
            (ApiKind::App, &self.app),
        ]
        .into_iter()
        .map(|(kind, key)| KeyRecord {
            kind,
            hash: hash_key(key),
        })
        .collect()
    }

    pub fn issued(&self, workspace: &Workspace) -> IssuedCredentials {
        IssuedCredentials {
            workspace_id: workspace.id.0,
            name: workspace.name.clone(),
            env: workspace.env,
            site_id: workspace.site_id.clone(),
            track_api_key: self.track.clone(),
            pipelines_write_key: self.pipelines.clone(),
            app_api_key: self.app.clone(),
        }
    }
}

/// A new workspace request with fresh keys; keep the `KeySet` to print it once.
pub fn new_workspace(name: &str, env: Env, now: Timestamp) -> (NewWorkspace, KeySet) {
    let keys = KeySet::generate();
    let new = NewWorkspace {
        name: name.to_string(),
        env,
        site_id: random_hex(10),
        keys: keys.records(),
        now,
    };
    (new, keys)
}

pub fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_distinct_and_stored_only_as_hashes() {
        let a = KeySet::generate();
        let b = KeySet::generate();
        assert_eq!(a.track.len(), 32, "128 bits as hex");
        assert_ne!(a.track, b.track);
        assert_ne!(a.track, a.app);
        let records = a.records();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].hash, hash_key(&a.track));
        assert_ne!(records[0].hash.to_vec(), a.track.as_bytes().to_vec());
    }
}
