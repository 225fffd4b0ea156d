//! The shared storage contract on PostgreSQL: every check of `nudge_store::contract` on a
//! fresh store in a fresh database, dropped afterwards.

use nudge_store_postgres::test_database::TestDatabase;

nudge_store::contract_tests!(match TestDatabase::create() {
    Some(database) => database.into_store().expect("connect to the test database"),
    // TestDatabase::create has printed the SKIPPED notice.
    None => return,
});
