//! `file-source`: one record per line of the files a path or glob names, followed as they
//! grow and rotate. The record value is the line (a string; bytes when it is not UTF-8), the
//! key is null. Source partition: the file's identity (`dev`, `inode`); source offset: the
//! byte position after the line, the first line's fingerprint and the file's path.

mod tracker;

use std::time::Duration;

use serde_json::json;

use crate::config::ConnectorConfig;
use crate::config::def::{ConfigDef, KeyDef, KeyType};
use crate::connector::{BoxFuture, ConnectorKind, SourceTask, TaskContext};
use crate::data::Data;
use crate::error::{ConnectError, Result};
use crate::record::{Record, SourceMap, SourceRecord, source_map};
use crate::registry::{ConnectorPlugin, TaskStarter};

use tracker::{Position, Tracker};

pub const PLUGIN: ConnectorPlugin = ConnectorPlugin {
    class: "file-source",
    aliases: &["org.apache.kafka.connect.file.FileStreamSourceConnector", "FileStreamSource"],
    kind: ConnectorKind::Source,
    version: env!("CARGO_PKG_VERSION"),
    definition,
    task_configs: crate::registry::single_task,
    start: TaskStarter::Source(start),
    keeps_own_offsets: false,
};

fn definition() -> ConfigDef {
    ConfigDef::new(vec![
        KeyDef::optional("file", KeyType::String, None, "The file to read (or file.glob for several). Read from its start, then followed as it grows and rotates.").in_group("File"),
        KeyDef::optional("file.glob", KeyType::String, None, "A glob of files to read, e.g. /var/log/app/*.log; include rotated names (app.log*) so that lines written just before a rotation are not missed.").in_group("File"),
        KeyDef::required("topic", KeyType::String, "The topic to write the lines to.").in_group("File"),
        KeyDef::optional("batch.size", KeyType::Int, Some("2000"), "The most lines one poll returns.").in_group("File"),
        KeyDef::optional("poll.interval.ms", KeyType::Long, Some("200"), "How long to wait before looking again when there is nothing new.").in_group("File"),
    ])
}

struct Settings {
    pattern: String,
    topic: String,
    batch_size: usize,
    poll_interval: Duration,
}

fn settings(config: &ConnectorConfig) -> Result<Settings> {
    let def = definition();
    let s = def.settings(config)?;
    let pattern = match (s.string("file"), s.string("file.glob")) {
        (Some(file), None) if !file.is_empty() => glob::Pattern::escape(file),
        (None, Some(pattern)) if !pattern.is_empty() => pattern.to_string(),
        (Some(_), Some(_)) => return Err(ConnectError::Config("set file or file.glob, not both".into())),
        _ => return Err(ConnectError::Config("set file (one file) or file.glob (a pattern) to say what to read".into())),
    };
    let batch_size = s.long("batch.size")?.unwrap_or(2000);
    if batch_size < 1 {
        return Err(ConnectError::Config("batch.size must be at least 1".into()));
    }
    let poll_ms = s.long("poll.interval.ms")?.unwrap_or(200).clamp(1, 60_000);
    Ok(Settings {
        pattern,
        topic: s.require("topic")?.to_string(),
        batch_size: usize::try_from(batch_size).unwrap_or(2000),
        poll_interval: Duration::from_millis(poll_ms.unsigned_abs()),
    })
}

fn start(ctx: TaskContext) -> BoxFuture<'static, Result<Box<dyn SourceTask>>> {
    Box::pin(async move {
        let settings = settings(&ctx.config)?;
        let stored = ctx.offsets.iter().filter_map(|(partition, offset)| stored_position(partition, offset)).collect();
        let tracker = Tracker::new(&settings.pattern, stored)?;
        let task: Box<dyn SourceTask> = Box::new(FileSourceTask { tracker: Some(tracker), settings });
        Ok(task)
    })
}

fn stored_position(partition: &SourceMap, offset: &SourceMap) -> Option<Position> {
    let dev = partition.get("dev")?.as_u64()?;
    let inode = partition.get("inode")?.as_u64()?;
    let position = offset.get("position")?.as_u64()?;
    let fingerprint = u32::try_from(offset.get("fingerprint")?.as_u64()?).ok()?;
    Some(Position { id: (dev, inode), position, fingerprint })
}

struct FileSourceTask {
    /// Taken while a blocking read runs.
    tracker: Option<Tracker>,
    settings: Settings,
}

impl SourceTask for FileSourceTask {
    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<SourceRecord>>> {
        Box::pin(async move {
            let Some(mut tracker) = self.tracker.take() else {
                return Err(ConnectError::Task("file source: an earlier read did not finish".into()));
            };
            let max = self.settings.batch_size;
            let (tracker, lines) = tokio::task::spawn_blocking(move || {
                let lines = tracker.read(max, 4 << 20);
                (tracker, lines)
            })
            .await
            .map_err(|e| ConnectError::Task(format!("file source read stopped: {e}")))?;
            self.tracker = Some(tracker);
            let lines = lines?;
            if lines.is_empty() {
                tokio::time::sleep(self.settings.poll_interval).await;
                return Ok(Vec::new());
            }
            Ok(lines
                .into_iter()
                .map(|line| {
                    let partition = json!({"dev": line.id.0, "inode": line.id.1});
                    let offset = json!({"position": line.end, "fingerprint": line.fingerprint, "file": line.path.display().to_string()});
                    let value = match String::from_utf8(line.bytes) {
                        Ok(text) => Data::string(text),
                        Err(e) => Data::bytes(e.into_bytes()),
                    };
                    SourceRecord {
                        source_partition: source_map(partition),
                        source_offset: source_map(offset),
                        record: Record::new(self.settings.topic.clone(), Data::NULL, value),
                    }
                })
                .collect())
        })
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ConnectorConfig {
        ConnectorConfig::unchecked(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn file_or_glob_but_not_both() {
        assert!(settings(&config(&[("topic", "t")])).is_err());
        assert!(settings(&config(&[("topic", "t"), ("file", "/a"), ("file.glob", "/b*")])).is_err());
        let s = settings(&config(&[("topic", "t"), ("file", "/var/log/[x].log")])).expect("settings");
        let pattern = glob::Pattern::new(&s.pattern).expect("pattern");
        assert!(pattern.matches("/var/log/[x].log") && !pattern.matches("/var/log/x.log"), "a plain file name is matched literally");
    }
}
