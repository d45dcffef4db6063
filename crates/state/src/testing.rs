//! Test fixtures: each store test runs on both backends. `FLEXSYNC_TEST_POSTGRES_URL` names a
//! server to test on (`.ci/test` starts one, offering TLS with a certificate signed by the CA in
//! `FLEXSYNC_TEST_POSTGRES_CA`); without it the PostgreSQL half is skipped, or fails when
//! `FLEXSYNC_REQUIRE_INTEROP=1`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::pg::{PgConn, PgTarget, quote_ident};
use crate::store::StateStore;

/// The environment variable with the URL of the PostgreSQL server to test on.
pub const POSTGRES_URL_ENV: &str = "FLEXSYNC_TEST_POSTGRES_URL";

/// A database that tests open (and reopen, as another process would) through [`TestDb::open`].
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres(PgTarget),
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        TestDb::Sqlite { _dir: dir, path }
    }

    /// A fresh schema on the test server, dropped afterwards; `None` when no server is given.
    pub fn postgres(test: &str) -> Option<TestDb> {
        let Ok(url) = std::env::var(POSTGRES_URL_ENV) else {
            assert!(
                std::env::var("FLEXSYNC_REQUIRE_INTEROP").as_deref() != Ok("1"),
                "{test}: {POSTGRES_URL_ENV} is not set and FLEXSYNC_REQUIRE_INTEROP=1"
            );
            eprintln!("SKIPPED {test} on PostgreSQL: {POSTGRES_URL_ENV} is not set");
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!(
            "test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test.rsplit("::").next().unwrap_or(test)
        );
        Some(TestDb::Postgres(PgTarget {
            url,
            password: None,
            schema,
            ca_pem: test_ca(),
        }))
    }

    /// Opens the store, as a new handle each time.
    pub fn open(&self) -> StateStore {
        match self {
            TestDb::Sqlite { path, .. } => StateStore::open(path).unwrap(),
            TestDb::Postgres(target) => StateStore::open_postgres(target).unwrap(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres(target) = self {
            let admin = PgTarget {
                schema: "public".into(),
                ..target.clone()
            };
            if let Ok(mut conn) = PgConn::connect(&admin) {
                let _ = conn.batch(&format!(
                    "DROP SCHEMA IF EXISTS {} CASCADE",
                    quote_ident(&target.schema)
                ));
            }
        }
    }
}

/// The test server's CA, when it offers TLS.
pub fn test_ca() -> Option<Vec<u8>> {
    let path = std::env::var("FLEXSYNC_TEST_POSTGRES_CA").ok()?;
    Some(std::fs::read(path).unwrap())
}

/// Each `fn name(db) { body }` becomes a module `name` with the test `sqlite` and the test
/// `postgres`, each running `body` with `db: &TestDb` on its backend.
macro_rules! both_backends {
    ($(fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let $db = &$crate::testing::TestDb::sqlite();
                $body
            }

            #[test]
            fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres(module_path!()) {
                    let $db = &db;
                    $body
                }
            }
        }
    )*};
}
pub(crate) use both_backends;
