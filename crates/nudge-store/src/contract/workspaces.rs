//! Contract checks for workspaces and their API keys: creation, lookup, uniqueness and key
//! rotation.

use super::{at, key, workspace, workspace_with_keys};
use crate::{KeyRecord, NewWorkspace, Store, StoreError};
use nudge_core::{ApiKind, Env};

pub fn workspace_round_trip(store: &dyn Store) {
    let created = store
        .create_workspace(&NewWorkspace {
            name: "lumen".into(),
            env: Env::Staging,
            site_id: "site-1".into(),
            keys: vec![KeyRecord {
                kind: ApiKind::Track,
                hash: [7; 32],
            }],
            now: at(1),
        })
        .expect("create workspace");
    assert_eq!(created.name, "lumen");
    assert_eq!(created.env, Env::Staging);
    assert_eq!(created.site_id, "site-1");
    let owner = store
        .find_key(&[7; 32])
        .unwrap()
        .expect("key opens the workspace");
    assert_eq!(owner.workspace, created);
    assert_eq!(owner.kind, ApiKind::Track);
    assert!(store.find_key(&[8; 32]).unwrap().is_none());
}

pub fn workspaces_are_listed_and_found_by_name(store: &dyn Store) {
    assert!(
        store.workspaces().unwrap().is_empty(),
        "a fresh store has no workspace"
    );
    let first = workspace(store, "lumen");
    let second = workspace(store, "ember");
    assert_ne!(first, second);

    let mut listed = store.workspaces().unwrap();
    listed.sort_by_key(|w| w.id);
    let names: Vec<&str> = listed.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["lumen", "ember"]);

    let found = store
        .workspace_by_name("ember")
        .unwrap()
        .expect("found by name");
    assert_eq!(found.id, second);
    assert_eq!(found.site_id, "site-ember");
    assert_eq!(found.env, Env::Production);
    assert!(
        store.workspace_by_name("Ember").unwrap().is_none(),
        "names match exactly"
    );
    assert!(store.workspace_by_name("nope").unwrap().is_none());
}

pub fn duplicate_workspace_name_or_site_is_a_conflict(store: &dyn Store) {
    workspace_with_keys(store, "lumen", vec![key(ApiKind::Track, 1)]);
    let attempt = |name: &str, site_id: &str| {
        store.create_workspace(&NewWorkspace {
            name: name.into(),
            env: Env::Development,
            site_id: site_id.into(),
            keys: vec![key(ApiKind::App, 2)],
            now: at(2),
        })
    };
    let same_name = attempt("lumen", "site-other");
    assert!(
        matches!(same_name, Err(StoreError::Conflict(_))),
        "{same_name:?}"
    );
    let same_site = attempt("other", "site-lumen");
    assert!(
        matches!(same_site, Err(StoreError::Conflict(_))),
        "{same_site:?}"
    );
    // A key hash already in use refuses the whole workspace, not just the key.
    let taken_key = store.create_workspace(&NewWorkspace {
        name: "other".into(),
        env: Env::Development,
        site_id: "site-other".into(),
        keys: vec![key(ApiKind::App, 2), key(ApiKind::Track, 1)],
        now: at(2),
    });
    assert!(
        matches!(taken_key, Err(StoreError::Conflict(_))),
        "{taken_key:?}"
    );
    // A refused workspace leaves nothing behind: not itself, not its keys.
    assert_eq!(store.workspaces().unwrap().len(), 1);
    assert!(store.find_key(&[2; 32]).unwrap().is_none());
    assert!(store.workspace_by_name("other").unwrap().is_none());
    // And the name is still free for a well-formed workspace.
    assert!(attempt("other", "site-other").is_ok());
}

pub fn replace_keys_retires_the_old_keys(store: &dyn Store) {
    let ws = workspace_with_keys(
        store,
        "lumen",
        vec![key(ApiKind::Track, 1), key(ApiKind::App, 2)],
    );
    assert!(store.find_key(&[1; 32]).unwrap().is_some());

    store
        .replace_keys(ws, &[key(ApiKind::Track, 3), key(ApiKind::Pipelines, 4)])
        .unwrap();
    assert!(
        store.find_key(&[1; 32]).unwrap().is_none(),
        "old track key retired"
    );
    assert!(
        store.find_key(&[2; 32]).unwrap().is_none(),
        "old app key retired"
    );
    let track = store
        .find_key(&[3; 32])
        .unwrap()
        .expect("new track key works");
    assert_eq!((track.workspace.id, track.kind), (ws, ApiKind::Track));
    let pipelines = store
        .find_key(&[4; 32])
        .unwrap()
        .expect("new pipelines key works");
    assert_eq!(
        (pipelines.workspace.id, pipelines.kind),
        (ws, ApiKind::Pipelines)
    );

    store.replace_keys(ws, &[]).unwrap();
    assert!(store.find_key(&[3; 32]).unwrap().is_none());
    assert!(store.find_key(&[4; 32]).unwrap().is_none());
}

pub fn keys_open_only_their_own_workspace(store: &dyn Store) {
    let lumen = workspace_with_keys(store, "lumen", vec![key(ApiKind::Track, 1)]);
    let ember = workspace_with_keys(store, "ember", vec![key(ApiKind::App, 2)]);
    assert_eq!(
        store.find_key(&[1; 32]).unwrap().unwrap().workspace.id,
        lumen
    );
    let owner = store.find_key(&[2; 32]).unwrap().unwrap();
    assert_eq!((owner.workspace.id, owner.kind), (ember, ApiKind::App));
    assert_eq!(owner.workspace.name, "ember");

    // Rotating one workspace's keys leaves the other's alone.
    store
        .replace_keys(lumen, &[key(ApiKind::Track, 5)])
        .unwrap();
    assert_eq!(
        store.find_key(&[2; 32]).unwrap().unwrap().workspace.id,
        ember
    );
    assert_eq!(
        store.find_key(&[5; 32]).unwrap().unwrap().workspace.id,
        lumen
    );
}

pub fn ping_answers(store: &dyn Store) {
    store.ping().expect("a fresh store answers");
    assert!(!store.backend_name().is_empty());
}
