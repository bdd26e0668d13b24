//! Where `fjord consume` prints records, and when a group may commit them: an offset is
//! stored for commit only after the record's line has left the process (the buffer was
//! flushed to stdout), so neither a closed pipe nor Ctrl-C commits a record nobody saw.

use std::collections::BTreeMap;
use std::io::{BufWriter, StdoutLock, Write};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};

use super::render::{JsonRecord, Template};
use super::ConsumeOutput;

/// Records written since the last flush, after which the buffer is flushed anyway so that
/// commits keep up.
const FLUSH_EVERY: usize = 1024;

/// stdout, buffered, with the offsets printed since the last flush.
#[derive(Debug)]
pub struct Sink<'a> {
    out: BufWriter<StdoutLock<'a>>,
    /// Per partition, the offset of the last record written but not yet flushed.
    unflushed: BTreeMap<i32, i64>,
    written: usize,
    /// The topic, when offsets are stored for a group's commits.
    commits_for: Option<String>,
}

impl Sink<'_> {
    /// A sink on stdout; with `commits_for`, flushed records' offsets are stored for the
    /// group's commits.
    pub fn new(commits_for: Option<String>) -> Self {
        Sink {
            out: BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
            unflushed: BTreeMap::new(),
            written: 0,
            commits_for,
        }
    }

    /// Writes one record as `format`/`output` say.
    pub fn print(
        &mut self,
        consumer: &BaseConsumer,
        format: Option<&Template>,
        output: ConsumeOutput,
        message: &BorrowedMessage<'_>,
    ) -> anyhow::Result<()> {
        let out = &mut self.out;
        let written = match (format, output) {
            (Some(template), _) => template.write(out, message),
            (None, ConsumeOutput::Json) => serde_json::to_writer(&mut *out, &JsonRecord::new(message))
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n")),
            (None, ConsumeOutput::Text) => {
                out.write_all(message.payload().unwrap_or_default()).and_then(|()| out.write_all(b"\n"))
            }
        };
        written.context("could not write to stdout")?;
        self.unflushed.insert(message.partition(), message.offset());
        self.written += 1;
        if self.written >= FLUSH_EVERY {
            self.flush(consumer)?;
        }
        Ok(())
    }

    /// Flushes stdout, then stores the flushed records' offsets for the group's commits.
    pub fn flush(&mut self, consumer: &BaseConsumer) -> anyhow::Result<()> {
        self.out.flush().context("could not write to stdout")?;
        self.written = 0;
        let unflushed = std::mem::take(&mut self.unflushed);
        if let Some(topic) = &self.commits_for {
            for (partition, offset) in unflushed {
                // librdkafka commits the stored offset + 1: the next record to read.
                consumer.store_offset(topic, partition, offset).context("could not store the offset to commit")?;
            }
        }
        Ok(())
    }
}
