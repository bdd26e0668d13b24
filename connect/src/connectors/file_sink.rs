//! `file-sink`: writes each record's value as one line (`format=lines`: text as it is, other
//! values as JSON) or as a JSON document per line (`format=json`), and rolls the file by size
//! or age into `FILE.000001`, `FILE.000002`, ...
//!
//! Exactly once: on flush the file is fsynced, then a small state file beside it
//! (`.FILE.fjord-sink`) records the file's length and the next offset of each partition,
//! replaced atomically. On start the file is cut back to the recorded length (dropping what a
//! crash left after the last flush) and reading resumes from the recorded offsets, so no line
//! is lost or written twice.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::def::{ConfigDef, KeyDef, KeyType};
use crate::connector::{BoxFuture, ConnectorKind, SinkTask, TaskContext};
use crate::data::{self, Value};
use crate::error::{ConnectError, Result};
use crate::record::{SinkRecord, TopicPartition};
use crate::registry::{ConnectorPlugin, TaskStarter};

pub const PLUGIN: ConnectorPlugin = ConnectorPlugin {
    class: "file-sink",
    aliases: &["org.apache.kafka.connect.file.FileStreamSinkConnector", "FileStreamSink"],
    kind: ConnectorKind::Sink,
    version: env!("CARGO_PKG_VERSION"),
    definition,
    task_configs: crate::registry::single_task,
    start: TaskStarter::Sink(start),
    keeps_own_offsets: true,
};

fn definition() -> ConfigDef {
    ConfigDef::new(vec![
        KeyDef::required("file", KeyType::String, "The file to write.").in_group("File"),
        KeyDef::optional("format", KeyType::String, Some("lines"), "lines: each value as a line of text (non-text values as JSON); json: each value as a JSON document on one line.")
            .one_of(&["lines", "json"])
            .in_group("File"),
        KeyDef::optional("roll.size.bytes", KeyType::Long, Some("0"), "Start a new file once the current one is this large (0: never).").in_group("File"),
        KeyDef::optional("roll.interval.ms", KeyType::Long, Some("0"), "Start a new file once the current one is this old (0: never).").in_group("File"),
    ])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Lines,
    Json,
}

/// What the state file beside the output records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SinkState {
    /// Bytes of the current file that are flushed and belong to committed offsets.
    length: u64,
    /// How many files were rolled before the current one.
    rolled: u64,
    /// Next offset to read, by `topic/partition`.
    offsets: HashMap<String, i64>,
}

struct Output {
    path: PathBuf,
    state_path: PathBuf,
    file: File,
    state: SinkState,
    /// Bytes written to `file` since the last flush.
    unflushed: u64,
    opened: Instant,
}

struct FileSinkTask {
    format: Format,
    roll_size: u64,
    roll_age: Option<Duration>,
    buffer: Vec<u8>,
    /// Taken while blocking I/O runs.
    output: Option<Output>,
}

fn start(ctx: TaskContext) -> BoxFuture<'static, Result<Box<dyn SinkTask>>> {
    Box::pin(async move {
        let def = definition();
        let s = def.settings(&ctx.config)?;
        let path = PathBuf::from(s.require("file")?);
        let format = if s.string("format") == Some("json") { Format::Json } else { Format::Lines };
        let roll_size = s.long("roll.size.bytes")?.unwrap_or(0).max(0).unsigned_abs();
        let roll_ms = s.long("roll.interval.ms")?.unwrap_or(0).max(0).unsigned_abs();
        let output = crate::durable::blocking("file sink I/O", move || Output::open(path)).await?;
        let task: Box<dyn SinkTask> = Box::new(FileSinkTask {
            format,
            roll_size,
            roll_age: (roll_ms > 0).then(|| Duration::from_millis(roll_ms)),
            buffer: Vec::new(),
            output: Some(output),
        });
        Ok(task)
    })
}

impl Output {
    fn open(path: PathBuf) -> Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.is_empty() {
            return Err(ConnectError::Config(format!("file {} names a directory, not a file", path.display())));
        }
        let state_path = path.with_file_name(format!(".{name}.fjord-sink"));
        let mut state: SinkState = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ConnectError::Task(format!("{}: not a file sink state file ({e}); move it away to start over", state_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SinkState::default(),
            Err(e) => return Err(ConnectError::io(&state_path, e)),
        };
        // A roll that a crash interrupted after the rename: finish it.
        let next_roll = rolled_path(&path, state.rolled + 1);
        if next_roll.exists() && !path.exists() {
            state.rolled += 1;
            state.length = 0;
            write_state(&state_path, &state)?;
        }
        let file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path).map_err(|e| ConnectError::io(&path, e))?;
        let len = file.metadata().map_err(|e| ConnectError::io(&path, e))?.len();
        if len > state.length {
            tracing::info!(file = %path.display(), dropped = len - state.length, "cutting the file back to its last committed length (written after the last flush)");
            file.set_len(state.length).map_err(|e| ConnectError::io(&path, e))?;
            file.sync_all().map_err(|e| ConnectError::io(&path, e))?;
        } else if len < state.length {
            return Err(ConnectError::Task(format!(
                "{} is shorter ({len} bytes) than the sink wrote and committed ({} bytes): it was changed by something else; move {} away to start over",
                path.display(),
                state.length,
                state_path.display()
            )));
        }
        Ok(Self { path, state_path, file, state, unflushed: 0, opened: Instant::now() })
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::{Seek, SeekFrom};
        let end = self.state.length + self.unflushed;
        self.file.seek(SeekFrom::Start(end)).map_err(|e| ConnectError::io(&self.path, e))?;
        self.file.write_all(bytes).map_err(|e| ConnectError::io(&self.path, e))?;
        self.unflushed += bytes.len() as u64;
        Ok(())
    }

    fn commit(&mut self, offsets: HashMap<String, i64>) -> Result<()> {
        self.file.sync_data().map_err(|e| ConnectError::io(&self.path, e))?;
        self.state.length += self.unflushed;
        self.unflushed = 0;
        self.state.offsets.extend(offsets);
        write_state(&self.state_path, &self.state)
    }

    fn roll(&mut self) -> Result<()> {
        let target = rolled_path(&self.path, self.state.rolled + 1);
        std::fs::rename(&self.path, &target).map_err(|e| ConnectError::io(&self.path, e))?;
        self.state.rolled += 1;
        self.state.length = 0;
        self.file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&self.path).map_err(|e| ConnectError::io(&self.path, e))?;
        write_state(&self.state_path, &self.state)?;
        self.opened = Instant::now();
        tracing::info!(file = %target.display(), "rolled");
        Ok(())
    }
}

fn rolled_path(path: &Path, n: u64) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{name}.{n:06}"))
}

/// Replaces the state file atomically and durably.
fn write_state(path: &Path, state: &SinkState) -> Result<()> {
    let bytes = serde_json::to_vec(state).map_err(|e| ConnectError::Task(format!("file sink state: {e}")))?;
    crate::durable::replace_file(path, &bytes)
}

fn key(tp: &TopicPartition) -> String {
    format!("{}/{}", tp.topic, tp.partition)
}

impl FileSinkTask {
    fn format_value(&mut self, value: &Value) {
        match (self.format, value) {
            (_, Value::Null) => return,
            (Format::Lines, Value::String(s)) => self.buffer.extend_from_slice(s.as_bytes()),
            (Format::Lines, Value::Bytes(b)) => self.buffer.extend_from_slice(b),
            (_, other) => self.buffer.extend_from_slice(&data::to_json_bytes(other)),
        }
        self.buffer.push(b'\n');
    }

    async fn write_buffer(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.buffer);
        let mut output = self.output.take().ok_or_else(|| ConnectError::Task("file sink: an earlier write did not finish".into()))?;
        let (output, result) = tokio::task::spawn_blocking(move || {
            let result = output.append(&bytes);
            (output, result)
        })
        .await
        .map_err(|e| ConnectError::Task(format!("file sink I/O stopped: {e}")))?;
        self.output = Some(output);
        result
    }
}

impl SinkTask for FileSinkTask {
    fn stored_offsets(&mut self) -> BoxFuture<'_, Result<HashMap<TopicPartition, i64>>> {
        Box::pin(async move {
            let output = self.output.as_ref().ok_or_else(|| ConnectError::Task("file sink is not open".into()))?;
            Ok(output
                .state
                .offsets
                .iter()
                .filter_map(|(k, offset)| {
                    let (topic, partition) = k.rsplit_once('/')?;
                    Some((TopicPartition::new(topic, partition.parse().ok()?), *offset))
                })
                .collect())
        })
    }

    fn put(&mut self, records: Vec<SinkRecord>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for record in &records {
                self.format_value(&record.record.value.value);
            }
            if self.buffer.len() >= 1 << 20 {
                self.write_buffer().await?;
            }
            Ok(())
        })
    }

    fn flush<'a>(&'a mut self, offsets: &'a HashMap<TopicPartition, i64>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.write_buffer().await?;
            let offsets: HashMap<String, i64> = offsets.iter().map(|(tp, o)| (key(tp), *o)).collect();
            let mut output = self.output.take().ok_or_else(|| ConnectError::Task("file sink: an earlier write did not finish".into()))?;
            let (roll_size, roll_age) = (self.roll_size, self.roll_age);
            let (output, result) = tokio::task::spawn_blocking(move || {
                let result = output.commit(offsets).and_then(|()| {
                    let too_big = roll_size > 0 && output.state.length >= roll_size;
                    let too_old = roll_age.is_some_and(|age| output.opened.elapsed() >= age) && output.state.length > 0;
                    if too_big || too_old { output.roll() } else { Ok(()) }
                });
                (output, result)
            })
            .await
            .map_err(|e| ConnectError::Task(format!("file sink I/O stopped: {e}")))?;
            self.output = Some(output);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectorConfig;
    use crate::data::Data;
    use crate::record::Record;

    fn record(offset: i64, text: &str) -> SinkRecord {
        SinkRecord { record: Record::new("t", Data::NULL, Data::string(text)), partition: 0, offset }
    }

    async fn open(path: &Path, extra: &[(&str, &str)]) -> Result<Box<dyn SinkTask>> {
        let mut entries: std::collections::BTreeMap<String, String> = [("name", "s"), ("connector.class", "file-sink")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        entries.insert("file".into(), path.display().to_string());
        for (k, v) in extra {
            entries.insert(k.to_string(), v.to_string());
        }
        start(TaskContext { connector: "s".into(), task: 0, config: ConnectorConfig::unchecked(entries), offsets: Vec::new(), metrics: crate::runtime::TaskMetrics::detached("s", 0) }).await
    }

    #[tokio::test]
    async fn what_was_not_flushed_is_cut_away_and_offsets_resume() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| ConnectError::io("tmp", e))?;
        let path = dir.path().join("out.txt");
        let mut sink = open(&path, &[]).await?;
        sink.put(vec![record(0, "a"), record(1, "b")]).await?;
        let tp = TopicPartition::new("t", 0);
        sink.flush(&HashMap::from([(tp.clone(), 2)])).await?;
        sink.put(vec![record(2, "c")]).await?;
        // A crash after the write of "c" reached the file but before the flush committed it.
        drop(sink);
        std::fs::OpenOptions::new().append(true).open(&path).and_then(|mut f| f.write_all(b"c\n")).map_err(|e| ConnectError::io(&path, e))?;
        let mut again = open(&path, &[]).await?;
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), "a\nb\n");
        assert_eq!(again.stored_offsets().await?.get(&tp), Some(&2));
        Ok(())
    }

    #[tokio::test]
    async fn files_roll_by_size_at_flush() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| ConnectError::io("tmp", e))?;
        let path = dir.path().join("out.jsonl");
        let mut sink = open(&path, &[("format", "json"), ("roll.size.bytes", "5")]).await?;
        sink.put(vec![record(0, "hello")]).await?;
        sink.flush(&HashMap::from([(TopicPartition::new("t", 0), 1)])).await?;
        sink.put(vec![record(1, "x")]).await?;
        sink.flush(&HashMap::from([(TopicPartition::new("t", 0), 2)])).await?;
        assert_eq!(std::fs::read_to_string(rolled_path(&path, 1)).unwrap_or_default(), "\"hello\"\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), "\"x\"\n");
        Ok(())
    }
}
