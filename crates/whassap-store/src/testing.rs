//! Test support: a PostgreSQL database made for one test and dropped after
//! it, on the server `WHASSAP_TEST_POSTGRES` names.
//!
//! `WHASSAP_TEST_POSTGRES` is a URL of a database to connect to for
//! administration (`postgres://postgres@127.0.0.1:5432/postgres`), or `1`
//! for exactly that. Unset, PostgreSQL tests are skipped (loudly) unless
//! `WHASSAP_TEST_REQUIRE_INTEROP=1` makes a missing service a failure, as
//! `scripts/test.sh` does.

use sqlx::{Connection, Executor, PgConnection};

/// The administration URL used when `WHASSAP_TEST_POSTGRES=1`.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The administration URL of the test server, if PostgreSQL tests are on.
pub fn admin_url() -> Option<String> {
    match std::env::var("WHASSAP_TEST_POSTGRES") {
        Ok(v) if v == "1" => Some(DEFAULT_ADMIN_URL.to_string()),
        Ok(v) if !v.is_empty() && v != "0" => Some(v),
        _ => None,
    }
}

/// Whether every test that needs an outside service must run.
fn required() -> bool {
    std::env::var("WHASSAP_TEST_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

/// A fresh, empty PostgreSQL database, dropped (connections and all) when
/// this value is.
#[derive(Debug)]
pub struct TempDatabase {
    /// Connect here.
    pub url: String,
    name: String,
    admin: String,
}

/// Say loudly that a test was skipped, and why: `*** SKIPPED … ***` on
/// standard error. Written to the stream itself, because the test harness
/// keeps what `eprintln!` prints in a test that passes, and a skipped test
/// passes: the notice would never be seen.
pub fn announce_skip(notice: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\n*** SKIPPED {notice} ***\n");
}

impl TempDatabase {
    /// Create one for `test`, or `None` (having said so on stderr) when
    /// PostgreSQL tests are off. Panics when they are off but required, or
    /// when the server does not answer.
    pub async fn create(test: &str) -> Option<TempDatabase> {
        let Some(admin) = admin_url() else {
            assert!(
                !required(),
                "{test}: WHASSAP_TEST_POSTGRES is not set but PostgreSQL tests are required"
            );
            announce_skip(&format!(
                "PostgreSQL test {test}: WHASSAP_TEST_POSTGRES is not set. \
                 Run ./scripts/test.sh (or set WHASSAP_TEST_POSTGRES=1) to run it."
            ));
            return None;
        };
        let name = format!("whassap_test_{}_{}", std::process::id(), crate::random_id());
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("{test}: PostgreSQL at {admin} does not answer: {e}"));
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|e| panic!("{test}: creating database {name}: {e}"));
        let _ = conn.close().await;
        let url = match admin.rfind('/') {
            Some(i) if admin[..i].contains("://") && admin[..i].ends_with(|c| c != '/') => {
                let query = admin[i..].find('?').map_or("", |q| &admin[i + q..]);
                format!("{}/{name}{query}", &admin[..i])
            }
            _ => panic!("{test}: WHASSAP_TEST_POSTGRES={admin} has no database path"),
        };
        Some(TempDatabase { url, name, admin })
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop may run inside a runtime (or while a test unwinds): do the
        // async work on a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
