//! What the PostgreSQL connectors share: connecting (a `postgres://` URL, with
//! `connection.user` / `connection.password` overriding its parts, and TLS as libpq's
//! `sslmode` and friends in its query say), quoting identifiers,
//! table names, and turning Connect values into PostgreSQL's text input and back.

pub mod decimal;
pub mod text;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::def::{KeyDef, KeyType, Settings};
use crate::error::{ConnectError, Result};

/// The connection settings every PostgreSQL connector takes; `url_doc` says what the URL is for.
pub fn connection_keys(url_doc: &'static str) -> [KeyDef; 3] {
    [
        KeyDef::required("connection.url", KeyType::String, url_doc).in_group("Connection"),
        KeyDef::optional("connection.user", KeyType::String, None, "The user (overrides the URL's).").in_group("Connection"),
        KeyDef::optional("connection.password", KeyType::Password, None, "The password (overrides the URL's); ${env:NAME} or ${file:path:key} keep it out of the config.")
            .in_group("Connection"),
    ]
}

/// Connection options from `connection.url`, `connection.user` and `connection.password`.
pub fn connect_options(settings: &Settings<'_>) -> Result<PgConnectOptions> {
    let url = settings.require("connection.url")?;
    let mut options = PgConnectOptions::from_str(url).map_err(|e| ConnectError::Config(format!("connection.url is not a PostgreSQL URL (postgres://user@host:5432/db): {e}")))?;
    if let Some(user) = settings.string("connection.user").filter(|u| !u.is_empty()) {
        options = options.username(user);
    }
    if let Some(password) = settings.string("connection.password").filter(|p| !p.is_empty()) {
        options = options.password(password);
    }
    Ok(options.application_name("fjord-connect"))
}

/// TLS for the replication connection from the URL's libpq parameters, as sqlx reads them
/// for the others: `sslmode` (`disable`, `allow`/`prefer` — the default: TLS when the server
/// offers it —, `require`, `verify-ca`, `verify-full`), `sslrootcert`, `sslcert` and `sslkey`.
pub fn replication_tls(url: &url::Url, host: &str) -> Result<pgwire_replication::TlsConfig> {
    use pgwire_replication::{SslMode, TlsConfig};
    let param = |key: &str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
    let root = param("sslrootcert").map(std::path::PathBuf::from);
    let mut tls = match param("sslmode").as_deref().unwrap_or("prefer") {
        "disable" => TlsConfig::disabled(),
        "allow" | "prefer" => TlsConfig { mode: SslMode::Prefer, ..TlsConfig::default() },
        "require" => TlsConfig::require(),
        "verify-ca" => TlsConfig::verify_ca(root),
        "verify-full" => TlsConfig::verify_full(root).with_sni_hostname(host),
        other => {
            return Err(ConnectError::Config(format!("connection.url: sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full")));
        }
    };
    match (param("sslcert"), param("sslkey")) {
        (Some(cert), Some(key)) => tls = tls.with_client_cert(cert, key),
        (None, None) => {}
        _ => return Err(ConnectError::Config("connection.url: sslcert and sslkey go together (a client certificate and its key)".into())),
    }
    Ok(tls)
}

/// A small pool to the database (`connections` at most).
pub async fn pool(options: PgConnectOptions, connections: u32) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(|e| database_error("could not connect to PostgreSQL", &e))
}

/// A database error with what was being done, and a hint where one helps.
pub fn database_error(doing: &str, e: &sqlx::Error) -> ConnectError {
    let hint = match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => " (is PostgreSQL running and reachable at connection.url?)",
        sqlx::Error::Database(db) if db.code().as_deref() == Some("28P01") || db.code().as_deref() == Some("28000") => " (check connection.user and connection.password)",
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42501") => " (the user lacks a privilege this needs)",
        _ => "",
    };
    ConnectError::Task(format!("{doing}: {e}{hint}"))
}

/// `name` quoted as a PostgreSQL identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table, optionally in a schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    pub schema: Option<String>,
    pub table: String,
}

impl TableName {
    /// `schema.table` or `table`; with more dots, the dots become underscores (a topic such as
    /// `shop.public.orders` names table `shop_public_orders`).
    pub fn parse(text: &str) -> Self {
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            [schema, table] if !schema.is_empty() && !table.is_empty() => Self { schema: Some((*schema).to_string()), table: (*table).to_string() },
            _ => Self { schema: None, table: text.replace('.', "_") },
        }
    }

    /// The quoted, qualified name for SQL.
    pub fn sql(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&self.table)),
            None => quote(&self.table),
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.table),
            None => f.write_str(&self.table),
        }
    }
}
