//! Sequential reading of a segment file in large chunks: batch headers only (to find a
//! position or rebuild state) or whole batches (to check CRCs on recovery, or to compact).
//!
//! Never trusts the file: a batch that runs past the end or a header that does not parse is
//! reported as a [`Step::Defect`] with its position, and the caller decides (truncate, or
//! report corruption).

use std::fs::File;
use std::path::Path;

use super::batch::{self, BatchDefect, ScanHeader, SCAN_HEADER_LEN};
use super::error::{IoContext, Result};

/// Chunk size for header walks (a little more than the default index interval).
pub(crate) const HEADER_CHUNK: usize = 16 * 1024;
/// Chunk size for whole-batch reads.
pub(crate) const BATCH_CHUNK: usize = 1 << 20;

/// What the next step of a walk found.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// A batch at this position.
    Item(T),
    /// Exactly at the end of the readable range.
    End,
    /// Bad bytes at `position`; nothing from here on can be trusted.
    Defect { position: u64, defect: BatchDefect },
}

/// A forward cursor over `[pos, end)` of a segment file.
#[derive(Debug)]
pub(crate) struct SegmentReader<'a> {
    file: &'a File,
    path: &'a Path,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    chunk: usize,
}

impl<'a> SegmentReader<'a> {
    pub fn new(file: &'a File, path: &'a Path, pos: u64, end: u64, chunk: usize) -> Self {
        Self { file, path, pos, end, buf: Vec::new(), buf_start: pos, chunk }
    }

    /// Makes the buffer cover `[pos, pos + len)`; false when that passes the end.
    fn ensure(&mut self, len: usize) -> Result<bool> {
        let want_end = self.pos + len as u64;
        if want_end > self.end {
            return Ok(false);
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        if self.pos >= self.buf_start && want_end <= buf_end {
            return Ok(true);
        }
        let read_len = (len.max(self.chunk) as u64).min(self.end - self.pos) as usize;
        super::read_at::read_exact_into(self.file, &mut self.buf, read_len, self.pos).io("read", self.path)?;
        self.buf_start = self.pos;
        Ok(true)
    }

    fn window(&self, len: usize) -> &[u8] {
        let from = (self.pos - self.buf_start) as usize;
        &self.buf[from..from + len]
    }

    fn header_here(&mut self) -> Result<Step<ScanHeader>> {
        if self.pos == self.end {
            return Ok(Step::End);
        }
        let position = self.pos;
        if !self.ensure(SCAN_HEADER_LEN)? {
            let available = (self.end - self.pos) as usize;
            let defect = BatchDefect::Truncated { needed: SCAN_HEADER_LEN, available };
            return Ok(Step::Defect { position, defect });
        }
        match batch::scan_header(self.window(SCAN_HEADER_LEN)) {
            Ok(h) if position + h.total_len as u64 > self.end => {
                let available = (self.end - position) as usize;
                Ok(Step::Defect { position, defect: BatchDefect::Truncated { needed: h.total_len, available } })
            }
            Ok(h) => Ok(Step::Item(h)),
            Err(defect) => Ok(Step::Defect { position, defect }),
        }
    }

    /// The next batch's header, stepping over its body.
    pub fn next_header(&mut self) -> Result<Step<(u64, ScanHeader)>> {
        Ok(match self.header_here()? {
            Step::Item(h) => {
                let at = self.pos;
                self.pos += h.total_len as u64;
                Step::Item((at, h))
            }
            Step::End => Step::End,
            Step::Defect { position, defect } => Step::Defect { position, defect },
        })
    }

    /// The next whole batch (bytes valid until the next call).
    pub fn next_batch(&mut self) -> Result<Step<(u64, &[u8])>> {
        match self.header_here()? {
            Step::Item(h) => {
                self.ensure(h.total_len)?;
                let at = self.pos;
                let from = (self.pos - self.buf_start) as usize;
                self.pos += h.total_len as u64;
                Ok(Step::Item((at, &self.buf[from..from + h.total_len])))
            }
            Step::End => Ok(Step::End),
            Step::Defect { position, defect } => Ok(Step::Defect { position, defect }),
        }
    }
}
