//! The layout of a Fjord data directory, and one process at a time using it.
//!
//! ```text
//! <data-dir>/
//!   .lock                        locked (flock) by the process serving the directory
//!   logs/<topic>-<partition>/    one partition log each
//! ```
//!
//! This module knows directory names only. What lies inside a partition directory belongs to
//! `fjord_log_core::storage`; nothing here reads or writes those files.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Folder of the partition logs inside a data directory.
pub const LOGS_DIR: &str = "logs";
/// Lock file held by the process that serves a data directory.
pub const LOCK_FILE: &str = ".lock";

/// Longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

/// A data directory that exists on disk.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// One partition's directory under `<data-dir>/logs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDir {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// The directory.
    pub path: PathBuf,
}

impl PartitionDir {
    /// `<topic>-<partition>`, Kafka's name for it.
    pub fn name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

/// Held while a process serves a data directory; released when dropped (or when the process
/// dies, since the lock belongs to the open file).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDir {
    /// Creates `root` and its `logs/` folder when missing.
    pub fn create(root: &Path) -> anyhow::Result<Self> {
        let logs = root.join(LOGS_DIR);
        std::fs::create_dir_all(&logs).with_context(|| {
            format!("could not create the data directory {}; check its permissions or pass another --data-dir", logs.display())
        })?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<data-dir>/logs`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join(LOGS_DIR)
    }

    /// Takes the directory for this process; fails when another process holds it.
    pub fn lock(&self) -> anyhow::Result<DataDirLock> {
        let path = self.root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| {
                format!(
                    "could not open the lock file {}; check the data directory's permissions",
                    path.display()
                )
            })?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => bail!(
                "the data directory {} is in use by another fjord process; stop that process or pass another --data-dir",
                self.root.display()
            ),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("could not lock {}", path.display()))
            }
        }
    }

    /// The partition directories under `logs/`, sorted by topic then partition. Entries that
    /// are not `<topic>-<partition>` directories are skipped with a warning.
    pub fn partitions(&self) -> anyhow::Result<Vec<PartitionDir>> {
        let logs = self.logs_dir();
        let entries = std::fs::read_dir(&logs)
            .with_context(|| format!("could not list {}", logs.display()))?;
        let mut partitions = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("could not list {}", logs.display()))?;
            let path = entry.path();
            let is_dir = entry
                .file_type()
                .with_context(|| format!("could not stat {}", path.display()))?
                .is_dir();
            let parsed = entry
                .file_name()
                .to_str()
                .and_then(parse_partition_dir_name);
            match parsed {
                Some((topic, partition)) if is_dir => partitions.push(PartitionDir {
                    topic,
                    partition,
                    path,
                }),
                _ => {
                    tracing::warn!(path = %path.display(), "ignoring an entry that is not a <topic>-<partition> directory")
                }
            }
        }
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(partitions)
    }
}

/// Fails when `partition_dir` lies in a data directory that a running process holds, so that
/// tools opening one partition directly never touch a log that is being served.
pub fn ensure_not_served(partition_dir: &Path) -> anyhow::Result<()> {
    let Ok(absolute) = std::fs::canonicalize(partition_dir) else {
        return Ok(());
    };
    let Some(logs) = absolute.parent() else {
        return Ok(());
    };
    let Some(root) = logs.parent() else {
        return Ok(());
    };
    if logs.file_name().is_none_or(|name| name != LOGS_DIR) {
        return Ok(());
    }
    let path = root.join(LOCK_FILE);
    // A missing or unreadable lock file means no process has taken the directory.
    let Ok(file) = File::open(&path) else {
        return Ok(());
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => bail!(
            "{} belongs to the data directory {}, which a running fjord process is serving; stop it first (opening a log recovers it, which must not happen under a running process)",
            partition_dir.display(),
            root.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("could not check the lock {}", path.display()))
        }
    }
}

/// Splits `<topic>-<partition>`; `None` when `name` is not a partition directory's name.
pub fn parse_partition_dir_name(name: &str) -> Option<(String, u32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if !is_valid_topic(topic)
        || partition.is_empty()
        || !partition.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((topic.to_owned(), partition.parse().ok()?))
}

/// Kafka's rule: 1 to 249 of `[a-zA-Z0-9._-]`, and neither `.` nor `..`.
fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_TOPIC_LEN
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_split_at_the_last_dash() {
        assert_eq!(
            parse_partition_dir_name("orders-0"),
            Some(("orders".into(), 0))
        );
        assert_eq!(
            parse_partition_dir_name("my-topic-12"),
            Some(("my-topic".into(), 12))
        );
        assert_eq!(
            parse_partition_dir_name("__consumer_offsets-49"),
            Some(("__consumer_offsets".into(), 49))
        );
    }

    #[test]
    fn other_names_are_not_partitions() {
        for name in [
            "orders",
            "orders-",
            "-0",
            "orders-x",
            "orders-+1",
            "orders-0.abc-delete",
            "..-0",
            "a b-0",
            "orders-99999999999",
        ] {
            assert_eq!(parse_partition_dir_name(name), None, "{name}");
        }
    }

    #[test]
    fn partitions_are_listed_in_order_and_strays_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::create(tmp.path()).unwrap();
        for dir in ["orders-10", "orders-2", "audit-0", "not a partition"] {
            std::fs::create_dir(data.logs_dir().join(dir)).unwrap();
        }
        std::fs::write(data.logs_dir().join("stray-1"), b"").unwrap();
        let names: Vec<String> = data
            .partitions()
            .unwrap()
            .iter()
            .map(PartitionDir::name)
            .collect();
        assert_eq!(names, ["audit-0", "orders-2", "orders-10"]);
    }

    #[test]
    fn a_data_dir_is_served_by_one_process_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::create(tmp.path()).unwrap();
        let partition = data.logs_dir().join("orders-0");
        std::fs::create_dir(&partition).unwrap();
        ensure_not_served(&partition).unwrap();

        let lock = data.lock().unwrap();
        let err = data.lock().unwrap_err();
        assert!(
            err.to_string().contains("in use by another fjord process"),
            "{err}"
        );
        assert!(ensure_not_served(&partition).is_err());

        drop(lock);
        data.lock().unwrap();
    }
}
