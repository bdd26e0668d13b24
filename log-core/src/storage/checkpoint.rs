//! Small checkpoint files (recovery point, log start offset, leader epochs) written
//! atomically: a temporary file is written and fsynced, renamed over the old one, and the
//! directory is fsynced, so a reader sees either the old contents or the new, never a mix.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use super::error::{IoContext, Result, StorageError};

/// Replaces `path` with `contents` atomically and durably.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).io("create", &tmp)?;
        f.write_all(contents).io("write", &tmp)?;
        f.sync_all().io("fsync", &tmp)?;
    }
    fs::rename(&tmp, path).io("rename", path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsyncs a directory so that file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).io("fsync directory", dir)
}

/// Reads a checkpoint file holding one decimal offset. A missing file is `None`; a file that
/// does not parse is reported as corrupt so the caller can fall back to a safe default.
pub(crate) fn read_offset(path: &Path) -> Result<Option<u64>> {
    match fs::read_to_string(path) {
        Ok(text) => text.trim().parse::<u64>().map(Some).map_err(|_| StorageError::Corrupt {
            what: "offset checkpoint",
            path: path.to_path_buf(),
            detail: format!("expected one offset, found {:?}", text.chars().take(40).collect::<String>()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).io("read", path),
    }
}

/// Writes a checkpoint file holding one offset.
pub(crate) fn write_offset(path: &Path, offset: u64) -> Result<()> {
    write_atomically(path, format!("{offset}\n").as_bytes())
}
