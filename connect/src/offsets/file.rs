//! Source offsets in a local JSON file, for standalone workers (Kafka Connect's
//! `offset.storage.file.filename`): `{connector: [{"partition": {...}, "offset": {...}}]}`,
//! replaced atomically (write, fsync, rename, fsync the directory) on each flush.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{ConnectError, Result};
use crate::offsets::{partition_key, OffsetEntry, OffsetStore};
use crate::record::SourceMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredOffset {
    partition: SourceMap,
    offset: SourceMap,
}

/// Offsets kept in one file.
#[derive(Debug)]
pub struct FileOffsetStore {
    path: PathBuf,
    offsets: Mutex<BTreeMap<String, BTreeMap<String, StoredOffset>>>,
}

impl FileOffsetStore {
    /// Opens (or starts) the offsets file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let offsets = match std::fs::read(path) {
            Ok(bytes) if bytes.is_empty() => BTreeMap::new(),
            Ok(bytes) => {
                let stored: BTreeMap<String, Vec<StoredOffset>> = serde_json::from_slice(&bytes)
                    .map_err(|e| ConnectError::ConfigFile { path: path.to_path_buf(), message: format!("not an offsets file: {e}") })?;
                stored.into_iter().map(|(connector, list)| (connector, list.into_iter().map(|o| (partition_key(&o.partition), o)).collect())).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(ConnectError::io(path, e)),
        };
        Ok(Self { path: path.to_path_buf(), offsets: Mutex::new(offsets) })
    }

    fn write(&self, snapshot: BTreeMap<String, Vec<StoredOffset>>) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&snapshot).map_err(|e| ConnectError::Task(format!("offsets: {e}")))?;
        crate::durable::replace_file(&self.path, &bytes)
    }

    fn snapshot(&self) -> BTreeMap<String, Vec<StoredOffset>> {
        let offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        offsets.iter().map(|(c, m)| (c.clone(), m.values().cloned().collect())).collect()
    }
}

impl OffsetStore for FileOffsetStore {
    fn get(&self, connector: &str) -> Vec<OffsetEntry> {
        let offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        offsets.get(connector).map(|m| m.values().map(|o| (o.partition.clone(), o.offset.clone())).collect()).unwrap_or_default()
    }

    fn put(&self, connector: &str, entries: &[OffsetEntry]) {
        let mut offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        let mine = offsets.entry(connector.to_string()).or_default();
        for (partition, offset) in entries {
            mine.insert(partition_key(partition), StoredOffset { partition: partition.clone(), offset: offset.clone() });
        }
    }

    fn flush(&self) -> Result<()> {
        // One writer at a time keeps the file's replacements in order.
        static WRITING: Mutex<()> = Mutex::new(());
        let _guard = WRITING.lock().unwrap_or_else(|p| p.into_inner());
        self.write(self.snapshot())
    }

    fn remove(&self, connector: &str) -> Result<()> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner()).remove(connector);
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::source_map as map;
    use serde_json::json;


    #[test]
    fn flushed_offsets_survive_reopening_and_newer_ones_replace_older() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| ConnectError::io("tmp", e))?;
        let path = dir.path().join("offsets.json");
        let store = FileOffsetStore::open(&path)?;
        store.put("a", &[(map(json!({"file": 1})), map(json!({"position": 10})))]);
        store.put("a", &[(map(json!({"file": 1})), map(json!({"position": 20}))), (map(json!({"file": 2})), map(json!({"position": 5})))]);
        store.flush()?;
        let again = FileOffsetStore::open(&path)?;
        let mut got = again.get("a");
        got.sort_by_key(|(p, _)| partition_key(p));
        assert_eq!(got, vec![(map(json!({"file": 1})), map(json!({"position": 20}))), (map(json!({"file": 2})), map(json!({"position": 5})))]);
        again.remove("a")?;
        assert!(FileOffsetStore::open(&path)?.get("a").is_empty());
        Ok(())
    }
}
