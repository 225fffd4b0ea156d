//! The behaviour every storage backend must share. Each backend's test suite expands
//! [`contract_tests!`](crate::contract_tests) with a constructor for a fresh, empty store,
//! so one list of checks runs against SQLite and PostgreSQL alike.

use crate::{NewWorkspace, Store};
use nudge_core::{ApiKind, Env, Timestamp};

/// Expands to one `#[test]` per contract check, each on a fresh store from `$make`.
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make; workspace_round_trip);
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let store = $make;
                $crate::contract::$check(&store);
            }
        )*
    };
}

pub fn workspace_round_trip(store: &dyn Store) {
    let created = store
        .create_workspace(&NewWorkspace {
            name: "lumen".into(),
            env: Env::Staging,
            site_id: "site-1".into(),
            keys: vec![crate::KeyRecord {
                kind: ApiKind::Track,
                hash: [7; 32],
            }],
            now: Timestamp::from_millis(1),
        })
        .expect("create workspace");
    assert_eq!(created.name, "lumen");
    assert_eq!(created.env, Env::Staging);
    let owner = store.find_key(&[7; 32]).unwrap().expect("key opens the workspace");
    assert_eq!(owner.workspace, created);
    assert_eq!(owner.kind, ApiKind::Track);
    assert!(store.find_key(&[8; 32]).unwrap().is_none());
}
