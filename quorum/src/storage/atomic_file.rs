//! Small files replaced whole — the vote, the purge point, the commit point, the snapshot.
//!
//! A write goes to a temporary file that is fsynced, renamed over the old one, and the
//! directory fsynced: a reader sees the old contents or the new, never a mix. The contents are
//! records ([`super::record`]), so damage is detected rather than misread. Since no write is
//! ever torn, a file that is not exactly its records is corrupt ([`QuorumError::Corrupt`]).

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::record::{self, Records};
use crate::error::QuorumError;

/// Whether a write must be on disk when it returns (the vote, the purge point, the snapshot)
/// or may be lost in a crash (the commit point, a hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    Fsync,
    BestEffort,
}

/// Replaces `path` with the records `parts`.
pub(crate) fn write(
    path: &Path,
    parts: &[&[u8]],
    durability: Durability,
) -> Result<(), QuorumError> {
    let mut contents = Vec::with_capacity(parts.iter().map(|p| p.len() + record::HEADER_LEN).sum());
    for part in parts {
        record::encode(part, &mut contents)?;
    }
    let tmp = temporary(path);
    {
        let mut file = File::create(&tmp).map_err(QuorumError::io("create", &tmp))?;
        file.write_all(&contents)
            .map_err(QuorumError::io("write", &tmp))?;
        if durability == Durability::Fsync {
            file.sync_all().map_err(QuorumError::io("fsync", &tmp))?;
        }
    }
    fs::rename(&tmp, path).map_err(QuorumError::io("rename", path))?;
    if durability == Durability::Fsync {
        sync_parent(path)?;
    }
    Ok(())
}

/// The `parts` records of `path`, or `None` when there is no such file. `remedy` ends the
/// [`QuorumError::Corrupt`] message of a damaged file: what the operator can do.
pub(crate) fn read(
    path: &Path,
    parts: usize,
    remedy: &str,
) -> Result<Option<Vec<Vec<u8>>>, QuorumError> {
    let contents = match fs::read(path) {
        Ok(contents) => contents,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(QuorumError::io("read", path)(e)),
    };
    let mut records = Records::new(&contents);
    let found: Vec<Vec<u8>> = records
        .by_ref()
        .map(|(_, payload)| payload.to_vec())
        .collect();
    if found.len() != parts || records.valid_len() != contents.len() {
        return Err(QuorumError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "expected {parts} checksummed record(s) making up its {} bytes, found {} valid in \
                 the first {} bytes; {remedy}",
                contents.len(),
                found.len(),
                records.valid_len()
            ),
        });
    }
    Ok(Some(found))
}

/// Replaces `path` with `value` as JSON in one record.
pub(crate) fn write_json<T: Serialize>(
    path: &Path,
    value: &T,
    durability: Durability,
) -> Result<(), QuorumError> {
    let json = serde_json::to_vec(value)
        .map_err(|e| QuorumError::Raft(format!("cannot encode {}: {e}", path.display())))?;
    write(path, &[&json], durability)
}

/// The JSON value in the one record of `path`, or `None` when there is no such file.
pub(crate) fn read_json<T: DeserializeOwned>(
    path: &Path,
    remedy: &str,
) -> Result<Option<T>, QuorumError> {
    match read(path, 1, remedy)? {
        Some(records) => decode_json(path, &records[0], remedy).map(Some),
        None => Ok(None),
    }
}

/// Decodes JSON read from `path`; a failure is [`QuorumError::Corrupt`] ending with `remedy`.
pub(crate) fn decode_json<T: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    remedy: &str,
) -> Result<T, QuorumError> {
    serde_json::from_slice(bytes).map_err(|e| QuorumError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("a checksummed record does not decode ({e}); {remedy}"),
    })
}

/// Removes a temporary file a crash left behind next to `path`.
pub(crate) fn remove_leftover(path: &Path) -> Result<(), QuorumError> {
    let tmp = temporary(path);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(QuorumError::io("remove", &tmp)(e)),
        _ => Ok(()),
    }
}

/// fsyncs the directory holding `path`, making a creation, rename or removal in it durable.
pub(crate) fn sync_parent(path: &Path) -> Result<(), QuorumError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(QuorumError::io("fsync directory", dir))
}

/// The temporary file `path` is written through.
pub(crate) fn temporary(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back_and_damage_is_reported_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vote");
        assert!(read(&path, 1, "fix it").unwrap().is_none());
        write(&path, &[b"a", b"bc"], Durability::Fsync).unwrap();
        assert_eq!(
            read(&path, 2, "fix it").unwrap().unwrap(),
            [b"a".to_vec(), b"bc".to_vec()]
        );

        let mut contents = fs::read(&path).unwrap();
        contents.push(0);
        fs::write(&path, &contents).unwrap();
        let err = read(&path, 2, "fix it").unwrap_err().to_string();
        assert!(err.contains("vote") && err.contains("fix it"), "{err}");
        assert!(read(&path, 3, "fix it").is_err());
    }
}
