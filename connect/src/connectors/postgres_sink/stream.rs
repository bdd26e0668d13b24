//! Plain inserts streamed as they arrive: the flush's transaction opens early, and one `COPY`
//! into the table takes the rows of each `put`, so PostgreSQL parses and stores them while the
//! task reads the next records. The flush finishes the `COPY` and writes whatever rows are
//! left, the offsets and the commit in that same transaction.
//!
//! Rows stay buffered until the commit: if anything fails, the transaction rolls back and the
//! flush writes them all again the ordinary way (where an error is reported in full).

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connectors::postgres::{database_error, quote, TableName};
use crate::connectors::postgres_sink::rows::{Row, Shape};
use crate::connectors::postgres_sink::write::copy_rows;
use crate::error::Result;

/// Chunks of COPY text the writer may hold before `send` waits for PostgreSQL.
const CHUNKS_AHEAD: usize = 4;

/// An open transaction with a `COPY` into one table, fed from the task.
pub struct CopyStream {
    table: Arc<TableName>,
    shape: Arc<Shape>,
    /// `None` once a row that does not belong to this COPY arrived: rows after it wait for
    /// the flush, in order.
    chunks: Option<mpsc::Sender<Vec<u8>>>,
    writer: Option<JoinHandle<Result<Transaction<'static, Postgres>>>>,
    /// How many of the task's buffered rows (from the first) the COPY has been given.
    pub rows: usize,
}

impl CopyStream {
    /// Opens a transaction and a COPY for rows like `first` (a plain insert into a table
    /// already known to have every column).
    pub fn start(pool: &PgPool, first: &Row) -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(CHUNKS_AHEAD);
        let columns: Vec<String> = first.shape.names().map(quote).collect();
        let statement = format!("COPY {} ({}) FROM STDIN", first.table.sql(), columns.join(", "));
        let pool = pool.clone();
        let table = first.table.clone();
        let writer = tokio::spawn(async move {
            let fail = |e: sqlx::Error| database_error(&format!("could not write rows to {table}"), &e);
            let mut transaction = pool.begin().await.map_err(|e| database_error("could not start a transaction", &e))?;
            let mut copy = transaction.copy_in_raw(&statement).await.map_err(fail)?;
            while let Some(chunk) = rx.recv().await {
                copy.send(chunk).await.map_err(fail)?;
            }
            copy.finish().await.map_err(fail)?;
            Ok(transaction)
        });
        Self { table: first.table.clone(), shape: first.shape.clone(), chunks: Some(tx), writer: Some(writer), rows: 0 }
    }

    /// Gives the COPY the rows of `buffered` it has not had, up to the first that does not
    /// belong to it.
    pub async fn feed(&mut self, buffered: &[Row]) {
        let Some(chunks) = &self.chunks else { return };
        let pending = buffered.get(self.rows..).unwrap_or_default();
        let fits = pending.iter().take_while(|row| self.accepts(row)).count();
        let mut text = String::with_capacity(fits * 48);
        // Rows that could not be encoded or sent are left to the flush, which reports why.
        let sent = match copy_rows(&pending[..fits], &self.table, &mut text) {
            Ok(()) => fits == 0 || chunks.send(text.into_bytes()).await.is_ok(),
            Err(_) => false,
        };
        if sent {
            self.rows += fits;
        }
        if !sent || fits < pending.len() {
            // The writer stopped (the flush will find out why), or a row of another kind came.
            self.chunks = None;
        }
    }

    fn accepts(&self, row: &Row) -> bool {
        !row.delete && row.table == self.table && Shape::same_columns(&row.shape, &self.shape)
    }

    /// Ends the COPY: the transaction holding its rows.
    pub async fn finish(mut self) -> Result<Transaction<'static, Postgres>> {
        self.chunks = None;
        let writer = self.writer.take();
        match writer {
            Some(writer) => writer.await.map_err(|e| crate::error::ConnectError::Task(format!("the COPY writer stopped: {e}")))?,
            None => Err(crate::error::ConnectError::Task("the COPY stream was already finished".into())),
        }
    }
}

impl Drop for CopyStream {
    /// A stream dropped without `finish` (the task stopping, a failed flush) rolls back.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
    }
}
