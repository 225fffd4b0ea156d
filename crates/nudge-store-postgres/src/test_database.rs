//! Throwaway databases for tests, here and in other crates: each [`TestDatabase`] is a fresh,
//! empty database on the local test server, dropped again when the value is. Test support
//! only; production code never creates or drops databases.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use nudge_store::StoreResult;
use postgres::{Client, Config, NoTls};

use crate::PostgresStore;

/// The server tests expect: local, trust authentication, user `postgres`.
pub const SERVER: &str = "127.0.0.1:5432";
const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// When set (to anything but empty or `0`), a missing server fails the test instead of
/// skipping it. CI sets it so that PostgreSQL coverage cannot silently vanish.
pub const REQUIRE_ENV: &str = "NUDGE_REQUIRE_POSTGRES";

/// A fresh database, dropped (with any connections still open to it) on `Drop`.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `nudge_test_<random hex>`. `None`, after a loud notice on stderr, when no
    /// server answers and [`REQUIRE_ENV`] is not set; the caller's test should then return.
    ///
    /// # Panics
    /// When no server answers and [`REQUIRE_ENV`] is set, or when the server answers but
    /// refuses to create the database.
    pub fn create() -> Option<TestDatabase> {
        off_runtime(Self::create_here)
    }

    fn create_here() -> Option<TestDatabase> {
        let mut admin = match admin_client() {
            Ok(admin) => admin,
            Err(err) if required() => panic!(
                "{REQUIRE_ENV} is set but no PostgreSQL answers at {SERVER} \
                 (user postgres, trust auth): {err}"
            ),
            Err(err) => {
                eprintln!(
                    "SKIPPED: no PostgreSQL at {SERVER} ({err}); this test did not run. \
                     Start a server (user postgres, trust auth) or set {REQUIRE_ENV}=1 to make \
                     this a failure."
                );
                return None;
            }
        };
        let name = format!("nudge_test_{}", random_hex());
        if let Err(err) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
            panic!("PostgreSQL at {SERVER} refused to create test database {name}: {err}");
        }
        let url = format!("postgres://postgres@{SERVER}/{name}");
        Some(TestDatabase { name, url })
    }

    /// Connects a store to this database (migrating it) and hands the database to the store:
    /// it is dropped when the store is, after the store's connections close.
    pub fn into_store(self) -> StoreResult<PostgresStore> {
        let mut store = PostgresStore::connect(&self.url)?;
        store.database = Some(self);
        Ok(store)
    }

    /// The connection URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = &self.name;
        let dropped = off_runtime(|| {
            admin_client().and_then(|mut admin| {
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            })
        });
        if let Err(err) = dropped {
            // Never panic in drop: it would abort a test that is already unwinding.
            eprintln!("could not drop test database {}: {err}", self.name);
        }
    }
}

/// Runs `work` on a thread of its own: the synchronous `postgres` client starts a runtime of
/// its own, which tokio forbids on a thread already driving async tasks (as async tests do).
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn admin_client() -> Result<Client, postgres::Error> {
    let mut config: Config = ADMIN_URL.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    config.connect(NoTls)
}

fn required() -> bool {
    std::env::var_os(REQUIRE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// 64 random bits as hex: the standard library's randomly keyed hasher over the process,
/// the time and a counter, so concurrent tests and test processes never pick the same name.
fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    std::process::id().hash(&mut hasher);
    SystemTime::now().hash(&mut hasher);
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}
