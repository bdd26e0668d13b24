//! [`LogFile`]: the Raft log on disk, one append-only file of records, each an entry's index
//! and its bytes (`[index u64 LE][bytes]` inside the framing of [`super::record`]).
//!
//! Indexes in the file are consecutive. Opening scans the file and cuts a torn or damaged tail
//! (a crash during an append) back to the last whole record. Appends and truncations are
//! fsynced before they return. Purging only marks a prefix dead — the caller records the purge
//! point durably first — and the file is rewritten (atomically, by rename) without the dead
//! prefix once that prefix is as large as the rest, so purging costs O(1) amortised per byte.
//! This file knows nothing of Raft beyond indexes: the caller encodes the entries.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::REJOIN_EMPTY;
use super::atomic_file::{remove_leftover, sync_parent, temporary};
use super::record::{self, Records};
use crate::error::QuorumError;

const INDEX_LEN: usize = 8;

/// The open log file. See the module docs.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    /// The index of the file's first record (live or purged).
    first: u64,
    /// Where each record starts: `starts[i]` for index `first + i`.
    starts: Vec<u64>,
    /// The file's length: where the next record goes.
    end: u64,
    /// Records below this index are purged.
    live_from: u64,
}

/// What [`LogFile::open`] found.
#[derive(Debug)]
pub struct Recovered {
    /// The live records (index above the purge point), in order.
    pub records: Vec<(u64, Vec<u8>)>,
    /// How many bytes of torn or damaged tail were cut off.
    pub cut_bytes: u64,
}

impl LogFile {
    /// Opens (creating it if missing) the log at `path`, where every index up to `purged` has
    /// been purged, cutting a torn tail. A file whose whole records are not consecutive is
    /// [`QuorumError::Corrupt`].
    pub fn open(path: &Path, purged: Option<u64>) -> Result<(LogFile, Recovered), QuorumError> {
        remove_leftover(path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(QuorumError::io("open", path))?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)
            .map_err(QuorumError::io("read", path))?;
        sync_parent(path)?;

        let live_from = purged.map_or(0, |p| p.saturating_add(1));
        let mut log = LogFile {
            path: path.to_path_buf(),
            file,
            first: 0,
            starts: Vec::new(),
            end: 0,
            live_from,
        };
        let mut live = Vec::new();
        let mut records = Records::new(&contents);
        for (start, payload) in records.by_ref() {
            let (index, bytes) = split_index(payload)
                .ok_or_else(|| log.corrupt("a record too short to hold an index"))?;
            if log.starts.is_empty() {
                log.first = index;
            } else if index != log.next_index() {
                return Err(log.corrupt(&format!("index {index} follows {}", log.next_index() - 1)));
            }
            log.starts.push(start as u64);
            if index >= live_from {
                live.push((index, bytes.to_vec()));
            }
        }
        log.end = records.valid_len() as u64;
        let cut_bytes = contents.len() as u64 - log.end;
        if cut_bytes > 0 {
            tracing::warn!(path = %path.display(), cut_bytes, valid_bytes = log.end, "cutting a torn tail off the raft log");
            log.set_len(log.end)?;
        }
        log.file
            .seek(SeekFrom::Start(log.end))
            .map_err(QuorumError::io("seek", path))?;
        Ok((
            log,
            Recovered {
                records: live,
                cut_bytes,
            },
        ))
    }

    /// The index of the last record, purged or not.
    pub fn last_index(&self) -> Option<u64> {
        self.next_index()
            .checked_sub(1)
            .filter(|_| !self.starts.is_empty())
    }

    /// The file's length in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.end
    }

    /// Appends `records` (consecutive indexes following the last one) and fsyncs.
    pub fn append(&mut self, records: &[(u64, &[u8])]) -> Result<(), QuorumError> {
        let mut buf = Vec::new();
        let mut starts = Vec::with_capacity(records.len());
        let mut expected = if self.starts.is_empty() {
            None
        } else {
            Some(self.next_index())
        };
        for (index, bytes) in records {
            if expected.is_some_and(|e| e != *index) || *index < self.live_from {
                return Err(QuorumError::Raft(format!(
                    "log append out of order: index {index} after {:?} (purged below {})",
                    self.last_index(),
                    self.live_from
                )));
            }
            expected = Some(index.saturating_add(1));
            starts.push(self.end + buf.len() as u64);
            let mut payload = Vec::with_capacity(INDEX_LEN + bytes.len());
            payload.extend_from_slice(&index.to_le_bytes());
            payload.extend_from_slice(bytes);
            record::encode(&payload, &mut buf)?;
        }
        if let Err(e) = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
        {
            // Leave the file as it was, if the disk lets us; a failure here is reported anyway.
            let _ = self
                .file
                .set_len(self.end)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.end)).map(drop));
            return Err(QuorumError::io("append to", &self.path)(e));
        }
        if let (true, Some((first, _))) = (self.starts.is_empty(), records.first()) {
            self.first = *first;
        }
        self.starts.extend(starts);
        self.end += buf.len() as u64;
        Ok(())
    }

    /// Removes the records from index `from` on and fsyncs.
    pub fn truncate(&mut self, from: u64) -> Result<(), QuorumError> {
        let keep = usize::try_from(from.saturating_sub(self.first)).unwrap_or(usize::MAX);
        if keep >= self.starts.len() {
            return Ok(());
        }
        let end = self.starts[keep];
        self.set_len(end)?;
        self.starts.truncate(keep);
        self.end = end;
        Ok(())
    }

    /// Marks every record up to index `upto` purged; the caller has already made the purge
    /// point durable. Rewrites the file without them once they take as much room as the rest.
    pub fn purge(&mut self, upto: u64) -> Result<(), QuorumError> {
        self.live_from = self.live_from.max(upto.saturating_add(1));
        let dead = usize::try_from(self.live_from.saturating_sub(self.first)).unwrap_or(usize::MAX);
        if dead >= self.starts.len() {
            // Everything is purged: the next record may follow the purge point with a gap.
            self.set_len(0)?;
            self.starts.clear();
            self.end = 0;
            return Ok(());
        }
        let dead_bytes = self.starts[dead];
        if dead_bytes > 0 && dead_bytes >= self.end - dead_bytes {
            self.rewrite_from(dead)?;
        }
        Ok(())
    }

    /// Replaces the file with its records from position `keep` on (write a copy, fsync, rename
    /// over, fsync the directory).
    fn rewrite_from(&mut self, keep: usize) -> Result<(), QuorumError> {
        let cut = self.starts[keep];
        let mut tail = vec![0; usize::try_from(self.end - cut).unwrap_or(usize::MAX)];
        self.file
            .seek(SeekFrom::Start(cut))
            .and_then(|_| self.file.read_exact(&mut tail))
            .map_err(QuorumError::io("read", &self.path))?;
        let tmp = temporary(&self.path);
        {
            let mut copy = File::create(&tmp).map_err(QuorumError::io("create", &tmp))?;
            copy.write_all(&tail)
                .and_then(|()| copy.sync_all())
                .map_err(QuorumError::io("write", &tmp))?;
        }
        fs::rename(&tmp, &self.path).map_err(QuorumError::io("rename", &self.path))?;
        sync_parent(&self.path)?;
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(QuorumError::io("open", &self.path))?;
        self.first += keep as u64;
        self.starts = self
            .starts
            .split_off(keep)
            .into_iter()
            .map(|s| s - cut)
            .collect();
        self.end -= cut;
        self.file
            .seek(SeekFrom::End(0))
            .map_err(QuorumError::io("seek", &self.path))?;
        tracing::debug!(path = %self.path.display(), removed_bytes = cut, "rewrote the raft log without its purged prefix");
        Ok(())
    }

    fn next_index(&self) -> u64 {
        self.first.saturating_add(self.starts.len() as u64)
    }

    /// Cuts the file to `len` bytes, fsyncs and moves the write position there.
    fn set_len(&mut self, len: u64) -> Result<(), QuorumError> {
        self.file
            .set_len(len)
            .and_then(|()| self.file.sync_data())
            .and_then(|()| self.file.seek(SeekFrom::Start(len)).map(drop))
            .map_err(QuorumError::io("truncate", &self.path))
    }

    fn corrupt(&self, what: &str) -> QuorumError {
        QuorumError::Corrupt {
            path: self.path.clone(),
            detail: format!(
                "{what} (checksums match, so this is not a torn write); {REJOIN_EMPTY}"
            ),
        }
    }
}

fn split_index(payload: &[u8]) -> Option<(u64, &[u8])> {
    let (index, bytes) = payload.split_at_checked(INDEX_LEN)?;
    Some((u64::from_le_bytes(index.try_into().ok()?), bytes))
}
