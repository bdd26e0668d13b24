//! Following the files a glob matches, as `tail -F` does but resumable: each file is known by
//! its identity (device and inode) and a fingerprint of its first line, and read from a byte
//! position. Lines are emitted only when complete (newline-terminated).
//!
//! Rotation:
//! - rename + new file: the renamed file keeps its inode, so it is drained from its open handle
//!   (or found again under its new name, when the glob matches it) before it is let go; the new
//!   file is read from its start.
//! - copytruncate: the original shrinks below the position read, so it is read again from 0;
//!   a new file whose fingerprint equals a recently truncated one is its copy and is read from
//!   where the original was, so the lines written between the last read and the copy are kept.
//!
//! This module does blocking file I/O; callers run it off the async threads.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{ConnectError, Result};

/// A file's identity on this machine.
pub type FileId = (u64, u64);

/// How long a file that no longer matches the glob is still read (a writer may still be
/// finishing its last lines in a renamed file), and how long a new file that looks like a copy
/// of a live one waits for the original to be truncated.
const ROTATION_GRACE: Duration = Duration::from_secs(5);
/// How often the glob is matched again.
const RESCAN: Duration = Duration::from_millis(500);
/// The first line is fingerprinted up to this many bytes.
const FINGERPRINT_BYTES: usize = 4096;

/// Where reading of one file stands, as stored in source offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub id: FileId,
    pub position: u64,
    pub fingerprint: u32,
}

/// A complete line read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub id: FileId,
    pub path: PathBuf,
    /// The line without its `\n` (or `\r\n`).
    pub bytes: Vec<u8>,
    /// The position right after the line's newline.
    pub end: u64,
    pub fingerprint: u32,
}

#[derive(Debug)]
struct Tracked {
    id: FileId,
    path: PathBuf,
    file: File,
    position: u64,
    /// `None` until the file has a complete first line (after a truncation, again).
    fingerprint: Option<u32>,
    gone_since: Option<Instant>,
}

/// The files of one glob and how far each has been read.
#[derive(Debug)]
pub struct Tracker {
    pattern: String,
    files: Vec<Tracked>,
    /// Positions stored before this run, by identity.
    stored: HashMap<FileId, Position>,
    /// Fingerprints and positions of files that were truncated recently (copytruncate).
    truncated: Vec<(u32, u64, Instant)>,
    /// New files that look like copies of a live file, and when they were first seen.
    waiting: HashMap<FileId, Instant>,
    last_scan: Option<Instant>,
}

impl Tracker {
    /// A tracker for `pattern`, resuming from `stored` positions.
    pub fn new(pattern: &str, stored: Vec<Position>) -> Result<Self> {
        glob::Pattern::new(pattern).map_err(|e| ConnectError::Config(format!("file pattern {pattern:?}: {e}")))?;
        Ok(Self {
            pattern: pattern.to_string(),
            files: Vec::new(),
            stored: stored.into_iter().map(|p| (p.id, p)).collect(),
            truncated: Vec::new(),
            waiting: HashMap::new(),
            last_scan: None,
        })
    }

    /// Up to `max_lines` complete lines (and about `max_bytes`), from the files in turn.
    pub fn read(&mut self, max_lines: usize, max_bytes: usize) -> Result<Vec<Line>> {
        let now = Instant::now();
        if self.last_scan.is_none_or(|at| now.duration_since(at) >= RESCAN) {
            self.scan(now)?;
            self.last_scan = Some(now);
        }
        // Oldest-written first: after a rotation the renamed file's last lines come before the
        // new file's first ones, as they were written.
        self.files.sort_by_key(|f| f.file.metadata().and_then(|m| m.modified()).ok());
        let mut lines = Vec::new();
        for file in &mut self.files {
            let bytes: usize = lines.iter().map(|l: &Line| l.bytes.len()).sum();
            if lines.len() >= max_lines || bytes >= max_bytes {
                break;
            }
            if let Err(e) = read_file(file, &mut self.truncated, now, max_lines - lines.len(), max_bytes - bytes, &mut lines) {
                return Err(ConnectError::io(&file.path, e));
            }
        }
        // Files gone from the glob are let go once drained and quiet for the grace period.
        self.files.retain(|f| match f.gone_since {
            Some(since) => !(now.duration_since(since) >= ROTATION_GRACE && f.file.metadata().is_ok_and(|m| m.len() <= f.position)),
            None => true,
        });
        Ok(lines)
    }

    fn scan(&mut self, now: Instant) -> Result<()> {
        let paths = glob::glob(&self.pattern).map_err(|e| ConnectError::Config(format!("file pattern {:?}: {e}", self.pattern)))?;
        // Every matching file with its identity and, for files not followed yet, its
        // fingerprint (`None`: no complete first line yet).
        let mut on_disk: Vec<(PathBuf, u64, FileId, Option<u32>)> = Vec::new();
        for path in paths.flatten() {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let id = (meta.dev(), meta.ino());
            let fingerprint = if self.files.iter().any(|f| f.id == id) {
                None
            } else {
                let Ok(file) = File::open(&path) else { continue };
                fingerprint(&file).map_err(|e| ConnectError::io(&path, e))?
            };
            on_disk.push((path, meta.len(), id, fingerprint));
        }
        let seen: Vec<FileId> = on_disk.iter().map(|e| e.2).collect();
        for (path, len, id, fingerprint) in on_disk.iter().cloned() {
            if let Some(tracked) = self.files.iter_mut().find(|f| f.id == id) {
                tracked.path = path;
                tracked.gone_since = None;
                continue;
            }
            let Some(fingerprint) = fingerprint else { continue };
            let Some(position) = self.starting_position(id, fingerprint, len, now, &on_disk) else { continue };
            let file = File::open(&path).map_err(|e| ConnectError::io(&path, e))?;
            tracing::info!(file = %path.display(), position, "following file");
            self.files.push(Tracked { id, path, file, position, fingerprint: Some(fingerprint), gone_since: None });
        }
        for tracked in &mut self.files {
            if !seen.contains(&tracked.id) && tracked.gone_since.is_none() {
                tracing::info!(file = %tracked.path.display(), "file no longer matches the pattern (rotated or removed); reading what is left");
                tracked.gone_since = Some(now);
            }
        }
        self.truncated.retain(|(_, _, at)| now.duration_since(*at) < ROTATION_GRACE * 12);
        Ok(())
    }

    /// Where to start a file seen for the first time; `None`: not yet (it may be a copy in
    /// progress).
    fn starting_position(&mut self, id: FileId, fingerprint: u32, len: u64, now: Instant, on_disk: &[(PathBuf, u64, FileId, Option<u32>)]) -> Option<u64> {
        if let Some(stored) = self.stored.get(&id)
            && stored.fingerprint == fingerprint && stored.position <= len {
                return Some(stored.position);
            }
        if let Some(at) = self.truncated.iter().position(|(fp, pos, _)| *fp == fingerprint && *pos <= len) {
            let (_, position, _) = self.truncated.swap_remove(at);
            return Some(position);
        }
        // A copy made while this process was not running: the stored file is gone from disk,
        // or its identity now holds other content (truncated, or the inode reused), but its
        // first line lives on here.
        let original_moved_on = |p: &Position| match on_disk.iter().find(|e| e.2 == p.id) {
            None => true,
            Some((_, len, _, fp)) => *len < p.position || fp.is_some_and(|fp| fp != p.fingerprint),
        };
        let orphan = self.stored.values().find(|p| p.id != id && p.fingerprint == fingerprint && p.position <= len && original_moved_on(p)).map(|p| (p.id, p.position));
        if let Some((orphan_id, position)) = orphan {
            self.stored.remove(&orphan_id);
            return Some(position);
        }
        if self.files.iter().any(|f| f.fingerprint == Some(fingerprint)) {
            let first_seen = *self.waiting.entry(id).or_insert(now);
            if now.duration_since(first_seen) < ROTATION_GRACE {
                return None;
            }
        }
        self.waiting.remove(&id);
        Some(0)
    }
}

fn read_file(file: &mut Tracked, truncated: &mut Vec<(u32, u64, Instant)>, now: Instant, max_lines: usize, max_bytes: usize, out: &mut Vec<Line>) -> std::io::Result<()> {
    let len = file.file.metadata()?.len();
    let changed_head = match (file.fingerprint, file.position > 0) {
        (Some(known), true) => fingerprint(&file.file)?.is_some_and(|now_fp| now_fp != known),
        _ => false,
    };
    if len < file.position || changed_head {
        tracing::info!(file = %file.path.display(), was = file.position, now = len, "file was truncated (copytruncate?); reading it again from the start");
        if let Some(fp) = file.fingerprint.take() {
            truncated.push((fp, file.position, now));
        }
        file.position = 0;
    }
    if file.fingerprint.is_none() {
        match fingerprint(&file.file)? {
            Some(fp) => file.fingerprint = Some(fp),
            None => return Ok(()),
        }
    }
    let fingerprint = file.fingerprint.unwrap_or_default();
    let mut taken_lines = 0;
    let mut taken_bytes = 0;
    while file.position < len && taken_lines < max_lines && taken_bytes < max_bytes {
        let want = usize::try_from(len - file.position).unwrap_or(usize::MAX).min(256 * 1024).min(max_bytes.max(64 * 1024));
        let mut buf = vec![0; want];
        let n = file.file.read_at(&mut buf, file.position)?;
        buf.truncate(n);
        let Some(last_newline) = buf.iter().rposition(|&b| b == b'\n') else {
            if n == want && want >= 256 * 1024 {
                // A line longer than the read: read on until its end.
                return read_long_line(file, fingerprint, len, out);
            }
            break;
        };
        let mut start = 0;
        for end in memchr_all(&buf[..=last_newline]) {
            let mut line = &buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let end_position = file.position + end as u64 + 1;
            out.push(Line { id: file.id, path: file.path.clone(), bytes: line.to_vec(), end: end_position, fingerprint });
            taken_lines += 1;
            taken_bytes += line.len();
            start = end + 1;
            if taken_lines >= max_lines || taken_bytes >= max_bytes {
                break;
            }
        }
        file.position += start as u64;
    }
    Ok(())
}

/// Reads one line longer than a single read, to its newline (or leaves it for later).
fn read_long_line(file: &mut Tracked, fingerprint: u32, len: u64, out: &mut Vec<Line>) -> std::io::Result<()> {
    let mut line = Vec::new();
    let mut at = file.position;
    let mut buf = vec![0; 256 * 1024];
    while at < len {
        let n = file.file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(nl) = buf[..n].iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..nl]);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            file.position = at + nl as u64 + 1;
            out.push(Line { id: file.id, path: file.path.clone(), bytes: line, end: file.position, fingerprint });
            return Ok(());
        }
        line.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    Ok(())
}

fn memchr_all(buf: &[u8]) -> impl Iterator<Item = usize> + '_ {
    buf.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i)
}

/// A checksum of the file's first line (up to 4 KiB); `None` while the first line is not
/// complete and shorter than that.
fn fingerprint(file: &File) -> std::io::Result<Option<u32>> {
    let mut head = vec![0; FINGERPRINT_BYTES];
    let n = file.read_at(&mut head, 0)?;
    let head = &head[..n];
    match head.iter().position(|&b| b == b'\n') {
        Some(nl) => Ok(Some(crc32c::crc32c(&head[..nl]))),
        None if n == FINGERPRINT_BYTES => Ok(Some(crc32c::crc32c(head))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
        f.write_all(text.as_bytes()).expect("write");
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| String::from_utf8_lossy(&l.bytes).into_owned()).collect()
    }

    fn read_all(tracker: &mut Tracker) -> Vec<Line> {
        tracker.last_scan = None;
        tracker.read(10_000, 1 << 20).expect("read")
    }

    #[test]
    fn only_complete_lines_are_read_and_crlf_is_a_newline() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("app.log");
        append(&path, "one\ntwo\r\nthr");
        let mut tracker = Tracker::new(&path.display().to_string(), Vec::new()).expect("tracker");
        assert_eq!(texts(&read_all(&mut tracker)), ["one", "two"]);
        append(&path, "ee\n");
        assert_eq!(texts(&read_all(&mut tracker)), ["three"]);
    }

    #[test]
    fn a_stored_position_resumes_after_the_lines_already_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("app.log");
        append(&path, "a\nb\n");
        let mut first = Tracker::new(&path.display().to_string(), Vec::new()).expect("tracker");
        let lines = read_all(&mut first);
        let last = lines.last().expect("a line");
        let stored = Position { id: last.id, position: lines[0].end, fingerprint: last.fingerprint };
        append(&path, "c\n");
        let mut second = Tracker::new(&path.display().to_string(), vec![stored]).expect("tracker");
        assert_eq!(texts(&read_all(&mut second)), ["b", "c"]);
    }

    #[test]
    fn rename_rotation_drains_the_old_file_then_reads_the_new_one() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("app.log");
        append(&path, "1\n2\n");
        let mut tracker = Tracker::new(&path.display().to_string(), Vec::new()).expect("tracker");
        assert_eq!(texts(&read_all(&mut tracker)), ["1", "2"]);
        append(&path, "3\n");
        std::fs::rename(&path, dir.path().join("app.log.1")).expect("rename");
        append(&dir.path().join("app.log.1"), "4\n");
        append(&path, "5\n");
        let mut got = texts(&read_all(&mut tracker));
        got.sort();
        assert_eq!(got, ["3", "4", "5"]);
    }

    #[test]
    fn copytruncate_keeps_the_lines_written_before_the_copy() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("app.log");
        let pattern = format!("{}*", path.display());
        append(&path, "first\nsecond\n");
        let mut tracker = Tracker::new(&pattern, Vec::new()).expect("tracker");
        assert_eq!(texts(&read_all(&mut tracker)), ["first", "second"]);
        append(&path, "third\n");
        std::fs::copy(&path, dir.path().join("app.log.1")).expect("copy");
        std::fs::File::create(&path).expect("truncate");
        append(&path, "fourth\n");
        // The truncation is seen first, then the copy resumes where the original was.
        let mut got = texts(&read_all(&mut tracker));
        got.extend(texts(&read_all(&mut tracker)));
        got.sort();
        assert_eq!(got, ["fourth", "third"]);
    }
}
