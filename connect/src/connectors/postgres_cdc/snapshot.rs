//! The initial snapshot: every included table read in one REPEATABLE READ transaction taken
//! after the replication slot exists, through a cursor a batch at a time. What the snapshot
//! shows is recorded ([`Visibility`]) so that streaming skips exactly the transactions already
//! in it: no change is missed between snapshot and stream, and none is sent twice.

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Row};

use crate::connectors::postgres::decimal::DecimalMode;
use crate::connectors::postgres::{database_error, quote, TableName};
use crate::connectors::postgres_cdc::envelope::TableSchema;
use crate::connectors::postgres_cdc::pgoutput::Cell;
use crate::connectors::postgres_cdc::setup::{parse_lsn, relation, Visibility};
use crate::error::Result;

/// A snapshot being read.
pub struct Snapshot {
    conn: PoolConnection<Postgres>,
    tables: Vec<(TableName, TableSchema)>,
    current: usize,
    cursor_open: bool,
    pub visibility: Visibility,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("current", &self.current).field("visibility", &self.visibility).finish_non_exhaustive()
    }
}

async fn run(conn: &mut PoolConnection<Postgres>, sql: String, doing: &str) -> Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut **conn).await.map_err(|e| database_error(doing, &e))?;
    Ok(())
}

impl Snapshot {
    /// Opens the snapshot transaction over `tables`.
    pub async fn begin(pool: &PgPool, tables: &[TableName], prefix: &str, decimals: DecimalMode) -> Result<Self> {
        let mut conn = pool.acquire().await.map_err(|e| database_error("could not connect for the snapshot", &e))?;
        run(&mut conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_string(), "could not start the snapshot").await?;
        // The first statement takes the snapshot; the WAL position is read after it.
        let row = sqlx::query("SELECT pg_current_snapshot()::text, pg_current_wal_lsn()::text")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| database_error("could not take the snapshot", &e))?;
        let snapshot: String = row.try_get(0).map_err(|e| database_error("snapshot", &e))?;
        let lsn: String = row.try_get(1).map_err(|e| database_error("snapshot", &e))?;
        let visibility = Visibility::parse(&snapshot, parse_lsn(&lsn)?)?;
        let mut schemas = Vec::with_capacity(tables.len());
        for table in tables {
            let (rel, types) = relation(&mut conn, table).await?;
            schemas.push((table.clone(), TableSchema::new(prefix, &rel, &types, decimals)));
        }
        tracing::info!(tables = schemas.len(), snapshot = %visibility.text(), "snapshot started");
        Ok(Self { conn, tables: schemas, current: 0, cursor_open: false, visibility })
    }

    /// The next rows (table index, cells); `None` once every table has been read (the
    /// transaction is then closed).
    pub async fn next(&mut self, max: usize) -> Result<Option<Vec<(usize, Vec<Cell>)>>> {
        loop {
            let Some((table, schema)) = self.tables.get(self.current) else {
                run(&mut self.conn, "COMMIT".to_string(), "could not end the snapshot").await?;
                return Ok(None);
            };
            if !self.cursor_open {
                let columns: Vec<String> = schema.columns.iter().map(|(n, _)| format!("{}::text", quote(n))).collect();
                run(&mut self.conn, format!("DECLARE fjord_snapshot NO SCROLL CURSOR FOR SELECT {} FROM {}", columns.join(", "), table.sql()), "could not read a table for the snapshot").await?;
                self.cursor_open = true;
            }
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("FETCH {max} FROM fjord_snapshot")))
                .fetch_all(&mut *self.conn)
                .await
                .map_err(|e| database_error(&format!("could not read {table} for the snapshot"), &e))?;
            let index = self.current;
            if rows.len() < max {
                run(&mut self.conn, "CLOSE fjord_snapshot".to_string(), "could not close the snapshot cursor").await?;
                self.cursor_open = false;
                self.current += 1;
            }
            if rows.is_empty() {
                continue;
            }
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut cells = Vec::with_capacity(row.len());
                for i in 0..row.len() {
                    let text: Option<String> = row.try_get(i).map_err(|e| database_error("snapshot row", &e))?;
                    cells.push(text.map_or(Cell::Null, Cell::Text));
                }
                out.push((index, cells));
            }
            return Ok(Some(out));
        }
    }

    /// The schema of table `index`.
    pub fn schema(&self, index: usize) -> Option<&TableSchema> {
        self.tables.get(index).map(|(_, s)| s)
    }
}
