//! How commands print results: human-readable tables by default, one JSON document with
//! `--output json`. stdout carries only results, so `| jq` always works; progress and
//! summaries go to stderr.

use std::io::Write;

use anyhow::Context;
use comfy_table::presets::NOTHING;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use serde::Serialize;

/// `--output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people
    #[default]
    Table,
    /// One JSON document on stdout, for scripts and jq
    Json,
}

/// `--output table|json`, flattened into commands that print results.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

impl OutputArgs {
    /// True for `--output json`.
    pub fn json(&self) -> bool {
        self.output == Output::Json
    }
}

/// Prints `value` as one pretty JSON document and a newline.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    // Encoded first, then written, so a closed pipe surfaces as the io::Error it is.
    let mut json = serde_json::to_vec_pretty(value).context("could not encode the output as JSON")?;
    json.push(b'\n');
    std::io::stdout().lock().write_all(&json).context("could not write to stdout")
}

/// A table with a header row, borderless like `kubectl get`: columns separated by spaces,
/// numbers right-aligned.
#[derive(Debug)]
pub struct TextTable {
    table: Table,
}

impl TextTable {
    /// A table with these column headers; `numeric` columns are right-aligned.
    pub fn new(headers: &[(&str, bool)]) -> Self {
        let mut table = Table::new();
        table
            .load_preset(NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(headers.iter().map(|(h, numeric)| {
                let cell = Cell::new(h);
                if *numeric { cell.set_alignment(CellAlignment::Right) } else { cell }
            }));
        for (column, (_, numeric)) in table.column_iter_mut().zip(headers) {
            column.set_padding((0, 2));
            if *numeric {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        TextTable { table }
    }

    /// Adds a row; it must have one cell per column.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        self.table.add_row(cells.into_iter().map(|c| Cell::new(c.to_string())));
    }

    /// Prints the table to stdout.
    pub fn print(&self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for line in self.table.lines() {
            writeln!(out, "{}", line.trim_end()).context("could not write to stdout")?;
        }
        Ok(())
    }
}

/// `[1, 2, 3]` as `1,2,3`.
pub fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// An offset for people: `-` for "none".
pub fn offset_cell(offset: Option<i64>) -> String {
    offset.map_or_else(|| "-".to_owned(), |o| o.to_string())
}
