//! Getting a database ready for change data capture, with a clear error for each thing that
//! is missing: `wal_level=logical`, a user allowed to replicate, the tables, the publication
//! (created, or widened to the included tables), the replication slot (created when missing,
//! at the position the snapshot starts from); and the SQL names of column types.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool, Row};

use crate::connectors::postgres::{database_error, quote, TableName};
use crate::connectors::postgres_cdc::pgoutput::{Column, Relation};
use crate::error::{ConnectError, Result};

/// Fails unless the server can stream changes to this user.
pub async fn check_server(pool: &PgPool) -> Result<()> {
    let wal_level: String = sqlx::query_scalar("SELECT current_setting('wal_level')").fetch_one(pool).await.map_err(|e| database_error("could not read wal_level", &e))?;
    if wal_level != "logical" {
        return Err(ConnectError::Task(format!(
            "PostgreSQL's wal_level is {wal_level}; change data capture needs logical: run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"
        )));
    }
    let row = sqlx::query("SELECT current_user::text, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(pool)
        .await
        .map_err(|e| database_error("could not read the user's rights", &e))?;
    let user: String = row.try_get(0).map_err(|e| database_error("pg_roles", &e))?;
    let may_replicate: bool = row.try_get(1).map_err(|e| database_error("pg_roles", &e))?;
    if !may_replicate {
        return Err(ConnectError::Task(format!(
            "user {user} may not read replication streams; grant it with ALTER ROLE {} REPLICATION, or connect as a user that may",
            quote(&user)
        )));
    }
    Ok(())
}

/// Creates the publication for `tables` (every table when empty), or adds the tables it lacks.
pub async fn ensure_publication(pool: &PgPool, name: &str, tables: &[TableName]) -> Result<()> {
    for table in tables {
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text").bind(table.sql()).fetch_one(pool).await.map_err(|e| database_error("could not look for a table", &e))?;
        if exists.is_none() {
            return Err(ConnectError::Config(format!("table.include.list names {table}, which does not exist")));
        }
    }
    let exists: Option<bool> = sqlx::query_scalar("SELECT puballtables FROM pg_publication WHERE pubname = $1").bind(name).fetch_optional(pool).await.map_err(|e| database_error("could not read publications", &e))?;
    let list = tables.iter().map(TableName::sql).collect::<Vec<_>>().join(", ");
    match exists {
        None => {
            let sql = if tables.is_empty() { format!("CREATE PUBLICATION {} FOR ALL TABLES", quote(name)) } else { format!("CREATE PUBLICATION {} FOR TABLE {list}", quote(name)) };
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.map_err(|e| database_error(&format!("could not create publication {name}"), &e))?;
            tracing::info!(publication = name, "created the publication");
        }
        Some(true) => {}
        Some(false) => {
            for table in tables {
                let schema = table.schema.clone().unwrap_or_else(|| "public".to_string());
                let published: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3)")
                    .bind(name)
                    .bind(&schema)
                    .bind(&table.table)
                    .fetch_one(pool)
                    .await
                    .map_err(|e| database_error("could not read the publication's tables", &e))?;
                if !published {
                    let sql = format!("ALTER PUBLICATION {} ADD TABLE {}", quote(name), table.sql());
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.map_err(|e| database_error(&format!("could not add {table} to publication {name}"), &e))?;
                }
            }
        }
    }
    Ok(())
}

/// The slot's confirmed position, or `None` when there is no such slot.
pub async fn slot_position(pool: &PgPool, slot: &str) -> Result<Option<u64>> {
    let row = sqlx::query("SELECT plugin::text, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()")
        .bind(slot)
        .fetch_optional(pool)
        .await
        .map_err(|e| database_error("could not read replication slots", &e))?;
    let Some(row) = row else { return Ok(None) };
    let plugin: String = row.try_get(0).map_err(|e| database_error("pg_replication_slots", &e))?;
    if plugin != "pgoutput" {
        return Err(ConnectError::Config(format!("replication slot {slot} decodes with {plugin}, not pgoutput; choose another slot.name")));
    }
    let lsn: Option<String> = row.try_get(1).map_err(|e| database_error("pg_replication_slots", &e))?;
    lsn.map(|l| parse_lsn(&l)).transpose()
}

/// Creates the slot; its position.
pub async fn create_slot(pool: &PgPool, slot: &str) -> Result<u64> {
    let lsn: String = sqlx::query_scalar("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')")
        .bind(slot)
        .fetch_one(pool)
        .await
        .map_err(|e| database_error(&format!("could not create replication slot {slot} (max_replication_slots?)"), &e))?;
    tracing::info!(slot, lsn = %lsn, "created the replication slot");
    parse_lsn(&lsn)
}

pub fn parse_lsn(text: &str) -> Result<u64> {
    let (high, low) = text.split_once('/').ok_or_else(|| ConnectError::Task(format!("{text:?} is not an LSN")))?;
    let high = u64::from_str_radix(high, 16).map_err(|_| ConnectError::Task(format!("{text:?} is not an LSN")))?;
    let low = u64::from_str_radix(low, 16).map_err(|_| ConnectError::Task(format!("{text:?} is not an LSN")))?;
    Ok((high << 32) | low)
}

/// SQL type names by (type oid, modifier), looked up once each.
#[derive(Debug, Default)]
pub struct TypeNames {
    names: HashMap<(u32, i32), String>,
}

impl TypeNames {
    pub async fn of(&mut self, pool: &PgPool, columns: &[Column]) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(columns.len());
        for c in columns {
            let key = (c.type_oid, c.type_modifier);
            if let std::collections::hash_map::Entry::Vacant(e) = self.names.entry(key) {
                let name: String = sqlx::query_scalar("SELECT format_type($1::oid, $2)")
                    .bind(i64::from(c.type_oid))
                    .bind(c.type_modifier)
                    .fetch_one(pool)
                    .await
                    .map_err(|e| database_error("could not name a column type", &e))?;
                e.insert(name);
            }
            out.push(self.names.get(&key).cloned().unwrap_or_default());
        }
        Ok(out)
    }
}

/// A table's relation as the catalog has it (for the snapshot, before the stream says it).
pub async fn relation(conn: &mut PgConnection, table: &TableName) -> Result<(Relation, Vec<String>)> {
    let rows = sqlx::query(
        "SELECT c.oid::int8, n.nspname::text, c.relname::text, a.attname::text, a.atttypid::int8, a.atttypmod, format_type(a.atttypid, a.atttypmod), \
         coalesce(a.attnum = ANY(i.indkey), false) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
         WHERE c.oid = to_regclass($1) ORDER BY a.attnum",
    )
    .bind(table.sql())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| database_error(&format!("could not read the columns of {table}"), &e))?;
    let mut relation = Relation { oid: 0, schema: String::new(), table: String::new(), columns: Vec::new() };
    let mut types = Vec::new();
    for row in rows {
        let get = |e: sqlx::Error| database_error("catalog", &e);
        relation.oid = u32::try_from(row.try_get::<i64, _>(0).map_err(get)?).unwrap_or(0);
        relation.schema = row.try_get(1).map_err(get)?;
        relation.table = row.try_get(2).map_err(get)?;
        relation.columns.push(Column {
            name: row.try_get(3).map_err(get)?,
            type_oid: u32::try_from(row.try_get::<i64, _>(4).map_err(get)?).unwrap_or(0),
            type_modifier: row.try_get(5).map_err(get)?,
            key: row.try_get(7).map_err(get)?,
        });
        types.push(row.try_get(6).map_err(get)?);
    }
    if relation.columns.is_empty() {
        return Err(ConnectError::Config(format!("table {table} does not exist")));
    }
    Ok((relation, types))
}

/// Which transactions a snapshot already shows: its xmin, xmax and in-progress list (as
/// `pg_current_snapshot()` writes them) and the WAL position when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    xmin: u32,
    xmax: u32,
    in_progress: Vec<u32>,
    pub wal_lsn: u64,
}

/// Whether 32-bit transaction id `a` precedes `b` (modulo wraparound).
fn precedes(a: u32, b: u32) -> bool {
    a.wrapping_sub(b).cast_signed() < 0
}

impl Visibility {
    /// From `xmin:xmax:xip,...` and the WAL position.
    pub fn parse(snapshot: &str, wal_lsn: u64) -> Result<Self> {
        let bad = || ConnectError::Task(format!("{snapshot:?} is not a snapshot"));
        let mut parts = snapshot.split(':');
        let low32 = |t: &str| t.parse::<u64>().map(|v| (v & 0xFFFF_FFFF) as u32).map_err(|_| bad());
        let xmin = low32(parts.next().ok_or_else(bad)?)?;
        let xmax = low32(parts.next().ok_or_else(bad)?)?;
        let in_progress = parts.next().unwrap_or("").split(',').filter(|s| !s.is_empty()).map(low32).collect::<Result<_>>()?;
        Ok(Self { xmin, xmax, in_progress, wal_lsn })
    }

    /// The text form, for offsets.
    pub fn text(&self) -> String {
        let xip: Vec<String> = self.in_progress.iter().map(u32::to_string).collect();
        format!("{}:{}:{}", self.xmin, self.xmax, xip.join(","))
    }

    /// Whether a streamed transaction's changes are already in the snapshot.
    pub fn shows(&self, xid: u32, commit_lsn: u64) -> bool {
        commit_lsn <= self.wal_lsn && (precedes(xid, self.xmin) || (precedes(xid, self.xmax) && !self.in_progress.contains(&xid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_shows_what_committed_before_it_and_not_what_ran() {
        let v = Visibility::parse("100:105:101,103", 5000).expect("snapshot");
        assert!(v.shows(99, 4000));
        assert!(v.shows(102, 4000));
        assert!(!v.shows(101, 4000), "in progress when the snapshot was taken");
        assert!(!v.shows(105, 4000));
        assert!(!v.shows(99, 6000), "committed after the snapshot's WAL position");
        assert_eq!(Visibility::parse(&v.text(), 5000).expect("again"), v);
        assert_eq!(parse_lsn("16/B374D848").expect("lsn"), (0x16 << 32) | 0xB374_D848);
    }
}
