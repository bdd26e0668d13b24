//! A PostgreSQL database of a test's own, on the server `./scripts/test` makes sure runs
//! (`FJORD_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/test): created fresh,
//! queried with `psql`, dropped when the test ends (kept with `FJORD_TEST_KEEP`).

use std::process::Command;

use crate::clients::unique_name;

/// The server the tests use.
pub fn postgres_url() -> String {
    std::env::var("FJORD_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A database for one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    /// `postgres://…/NAME`, for connector configs.
    pub url: String,
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql (./scripts/test installs postgresql-client): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl TestDatabase {
    /// Creates a database named after `prefix`.
    #[track_caller]
    pub fn create(prefix: &str) -> Self {
        let server = postgres_url();
        let name = unique_name(prefix).replace('-', "_").to_lowercase();
        psql(&server, &format!("CREATE DATABASE {name}")).unwrap_or_else(|e| {
            panic!("cannot create database {name} on {server} (is PostgreSQL running? ./scripts/test starts it): {e}")
        });
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b).to_string();
        Self { url: format!("{base}/{name}"), name }
    }

    /// Runs `sql`; its rows as `psql -At` prints them (`|` between columns).
    #[track_caller]
    pub fn query(&self, sql: &str) -> String {
        psql(&self.url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Like [`TestDatabase::query`], the error returned instead of panicking.
    pub fn try_query(&self, sql: &str) -> Result<String, String> {
        psql(&self.url, sql)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var_os("FJORD_TEST_KEEP").is_some() && std::thread::panicking() {
            eprintln!("keeping database {} (FJORD_TEST_KEEP)", self.name);
            return;
        }
        // Replication slots pin a database: drop this database's first.
        let _ = psql(&postgres_url(), &format!("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{}' AND NOT active", self.name));
        let _ = psql(&postgres_url(), &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}
