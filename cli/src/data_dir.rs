//! The layout of a Fjord data directory, and one process at a time using it.
//!
//! ```text
//! <data-dir>/
//!   .lock                        locked (flock) by the process serving the directory
//!   logs/<topic>-<partition>/    one partition log each (fjord_log_core::broker owns them)
//!   meta/                        the metadata image, producer-id block
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

/// A data directory that exists on disk.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_is_served_by_one_process_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::create(tmp.path()).unwrap();
        let partition = tmp.path().join(LOGS_DIR).join("orders-0");
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
