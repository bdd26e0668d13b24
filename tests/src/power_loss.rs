//! Power-loss simulation: what a process's files look like after the power went out.
//!
//! SIGKILL alone proves little about durability: the killed process's writes stay in the
//! page cache, so they survive whether or not it ever called fsync. This module adds the
//! missing half. A broker runs with an LD_PRELOAD shim (`tests/power_loss/shim.c`, compiled
//! by [`PowerLossShim::build`]) that journals, for its data directory, every namespace
//! operation (create, rename, unlink, mkdir, rmdir, truncate) and, at every fsync/fdatasync,
//! a copy of the file's bytes (its *durable image*). After the broker is killed,
//! [`PowerLossSession::power_cut`] rebuilds the data directory as a power loss at that moment
//! could have left it, choosing among the possible outcomes with a seeded RNG.
//!
//! The model, and what it assumes (a journaling file system like ext4 with `data=ordered`,
//! on a disk that honours flushes and writes 512-byte sectors atomically):
//!
//! - **Data.** Bytes a file held when it was last fsynced (or fdatasynced) are durable.
//!   Anything written since may or may not have reached the disk. The file's size after the
//!   cut starts from the last size change that is durable — its last fsync, or a later
//!   truncation the cut keeps (truncations are journaled metadata, kept or dropped with the
//!   namespace operations below; for a file never fsynced, 0) — and may be anything up to
//!   the largest size it had since (its current size, or the size before a truncation the
//!   cut drops: e.g. preallocated space a trim gave back). Each block (4 KiB, or 512 B for
//!   some files) then independently holds its durable bytes or its current ones, zeros
//!   standing in for bytes a side never had (preallocated or never-written space reads as
//!   zeros on ext4). A block never holds an intermediate version written between the two
//!   (writes are not intercepted), and bytes written and then truncated away come back as
//!   zeros. Appends to a file that was not preallocated may thus be lost together with the
//!   size that covered them, as with ext4's delayed allocation.
//! - **Namespace.** Creations, renames, deletions and mkdir/rmdir reach the disk in the
//!   order they were made (ext4 commits its metadata journal in order), so the cut keeps a
//!   prefix of them, of random length, never shorter than what was made durable: an fsync
//!   of a directory makes every earlier operation durable (on ext4 it commits the whole
//!   journal; POSIX promises only that directory's entries), and an fsync of a file makes
//!   the file's own name durable, with everything before it (on ext4 the fsync's journal
//!   commit carries the entry's creation; POSIX would want the directory fsynced as well).
//!   A file never fsynced may thus vanish, or survive with any prefix of its bytes (zeros
//!   in blocks that were not written back); a rename or deletion not followed by a
//!   directory fsync may be undone.
//! - What the shim does not see is not modelled: system calls made without glibc, mmap
//!   writes, io_uring. Fjord calls `fallocate` through `rustix` (raw system calls), so the
//!   preallocation is only inferred: the size it gives a file shows in the file's current
//!   size and in the size a later trim cuts it from, which bound the cut; but its place in
//!   the metadata order is unknown, so a preallocated file that was neither fsynced nor
//!   trimmed may come back shorter than its preallocation even when a later operation
//!   survives (ext4 would keep the preallocated size, zeros included): slightly more
//!   adversarial than ext4, and only for a partition's last segment. Operations the model
//!   cannot represent (hard links, O_SYNC, files that existed before the shim…) are
//!   journaled as unsupported and [`PowerLossSession::power_cut`] panics rather than guess.
//!
//! The shim skips the real fsync (the durable image is what counts), which also keeps the
//! tests fast. The same seed on the same pre-cut directory gives the same cut.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::rng::Rng;

/// The shim's source, compiled by [`PowerLossShim::build`].
const SHIM_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/power_loss/shim.c");

/// Files whose blocks are 512 bytes instead of 4 KiB: one in this many.
const SECTOR_BLOCKS_ONE_IN: u64 = 4;

/// The compiled shim (a shared library in a temporary directory, removed on drop).
#[derive(Debug)]
pub struct PowerLossShim {
    dir: TempDir,
    library: PathBuf,
}

impl PowerLossShim {
    /// Compiles `tests/power_loss/shim.c` with `cc -shared -fPIC` (gcc comes with
    /// build-essential, which `./scripts/test` installs). Panics with the compiler's output
    /// if that fails.
    #[track_caller]
    pub fn build() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("fjord-power-loss-shim-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let library = dir.path().join("libfjord_power_loss.so");
        let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
        let output = Command::new(&cc)
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
            .arg(&library)
            .arg(SHIM_SOURCE)
            .args(["-ldl", "-lpthread"])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run the C compiler `{}` ({e}); install one (Debian: apt-get install \
                     build-essential, which ./scripts/test does) or point CC at it",
                    cc.to_string_lossy()
                )
            });
        assert!(
            output.status.success(),
            "compiling {SHIM_SOURCE} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir, library }
    }

    /// The shared library to put in `LD_PRELOAD`.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// A session watching `watch` (which must exist and be empty when the process under the
    /// shim starts), keeping the journal and durable images in `state` (outside `watch`;
    /// created by the shim).
    pub fn session(&self, watch: &Path, state: &Path) -> PowerLossSession {
        debug_assert!(self.dir.path().exists());
        PowerLossSession {
            library: self.library.clone(),
            watch: watch.to_path_buf(),
            state: state.to_path_buf(),
        }
    }
}

/// One watched directory and what the shim recorded about it.
#[derive(Debug, Clone)]
pub struct PowerLossSession {
    library: PathBuf,
    watch: PathBuf,
    state: PathBuf,
}

impl PowerLossSession {
    /// The environment that puts a process under the shim.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        vec![
            ("LD_PRELOAD".into(), self.library.clone().into()),
            ("POWER_LOSS_WATCH".into(), self.watch.clone().into()),
            ("POWER_LOSS_STATE".into(), self.state.clone().into()),
        ]
    }

    /// The watched directory.
    pub fn watch(&self) -> &Path {
        &self.watch
    }

    /// The shim's journal, as text (for diagnostics).
    pub fn journal(&self) -> String {
        fs::read_to_string(self.state.join("journal")).unwrap_or_default()
    }

    /// Replaces the watched directory with what a power cut now could leave of it; every
    /// process under the shim must be dead (SIGKILL). The directory as the processes left it
    /// is kept beside it as `<watch>.before-cut` (renamed, so its inodes — which the journal
    /// names — stay the same), from which [`PowerLossSession::before_cut`] can replay cuts.
    /// Panics if the journal shows an operation the model does not support.
    #[track_caller]
    pub fn power_cut(&self, seed: u64) -> CutReport {
        let staging = sibling(&self.watch, "power-cut");
        let _ = fs::remove_dir_all(&staging);
        let report = self.cut_into(seed, &staging);
        let before = sibling(&self.watch, "before-cut");
        let _ = fs::remove_dir_all(&before);
        for (from, to) in [(&self.watch, &before), (&staging, &self.watch)] {
            fs::rename(from, to)
                .unwrap_or_else(|e| panic!("rename {} to {}: {e}", from.display(), to.display()));
        }
        report
    }

    /// The session of the directory a [`PowerLossSession::power_cut`] kept as it was before
    /// the cut, to replay cuts into other directories with [`PowerLossSession::cut_into`].
    pub fn before_cut(&self) -> PowerLossSession {
        PowerLossSession { watch: sibling(&self.watch, "before-cut"), ..self.clone() }
    }

    /// Writes into `target` (which must not exist) what a power cut now could leave of the
    /// watched directory, leaving the directory alone. Deterministic for a given seed and
    /// pre-cut state. Panics if the journal shows an operation the model does not support.
    #[track_caller]
    pub fn cut_into(&self, seed: u64, target: &Path) -> CutReport {
        let text = self.journal();
        assert!(
            text.starts_with("V\t1\t"),
            "no power-loss journal in {}: the shim did not run in the process (LD_PRELOAD not \
             applied, or POWER_LOSS_WATCH missing or not empty at start)",
            self.state.display()
        );
        let journal = Journal::parse(&text);
        assert!(
            journal.unsupported.is_empty(),
            "the power-loss shim saw operations its model does not cover:\n  {}",
            journal.unsupported.join("\n  ")
        );
        let mut rng = Rng::new(seed);
        let mut report = CutReport {
            seed,
            ops_total: journal.ops.len(),
            ..CutReport::default()
        };

        // Namespace: a prefix of the operations, at least up to the last barrier.
        let floor = journal.durable_floor();
        let kept = match rng.below(4) {
            0 => journal.ops.len(),
            1 => floor,
            _ => rng.between(floor as u64, journal.ops.len() as u64) as usize,
        };
        report.ops_floor = floor;
        report.ops_kept = kept;
        let mut inconsistent = Vec::new();
        let after = replay(&journal.ops[..kept], &mut inconsistent);
        let now = replay(&journal.ops, &mut inconsistent);
        assert!(
            inconsistent.is_empty(),
            "the power-loss journal is inconsistent (the shim missed an operation?):\n  {}",
            inconsistent.join("\n  ")
        );

        // Where each file object's current bytes are: by inode, the newest object to have it.
        let mut object_of_ino: HashMap<u64, u64> = HashMap::new();
        for op in &journal.ops {
            if let Op::Create { id, ino, .. } = op {
                object_of_ino.insert(*ino, *id);
            }
        }
        let mut current_path: HashMap<u64, PathBuf> = HashMap::new();
        walk_files(&self.watch, &mut |path, meta| {
            match object_of_ino.get(&meta.ino()) {
                Some(&id) => {
                    current_path.insert(id, path.to_path_buf());
                }
                // Created while the process was being killed, before the shim journaled it
                // (it holds its lock from the call to the journal line): not durable.
                None => report.anomalies.push(format!(
                    "{} is on disk but not in the journal (created as the process was killed?); left out",
                    path.display()
                )),
            }
        });

        assert!(!target.exists(), "cut_into: {} already exists", target.display());
        fs::create_dir_all(target).unwrap_or_else(|e| panic!("create {}: {e}", target.display()));
        for (path, node) in &after {
            let target = target.join(path);
            match node {
                Node::Dir => fs::create_dir_all(&target)
                    .unwrap_or_else(|e| panic!("create {}: {e}", target.display())),
                Node::File(id) => {
                    if let Some(parent) = target.parent() {
                        fs::create_dir_all(parent)
                            .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
                    }
                    let durable = fs::read(self.state.join("shadow").join(id.to_string())).ok();
                    let current = current_path.get(id).map(|p| {
                        fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
                    });
                    let sizes = journal.sizes_since_sync(*id, kept);
                    let file = FileCut::choose(durable, current, sizes, &mut rng);
                    fs::write(&target, &file.bytes)
                        .unwrap_or_else(|e| panic!("write {}: {e}", target.display()));
                    report.files += 1;
                    if file.changed() {
                        report.changed.push(format!("{path}: {}", file.describe()));
                    }
                }
            }
        }
        for (path, node) in &now {
            if matches!(node, Node::File(_)) && !after.contains_key(path) {
                report.vanished.push(path.clone());
            }
        }
        for (path, node) in &after {
            if matches!(node, Node::File(_)) && !now.contains_key(path) {
                report.resurrected.push(path.clone());
            }
        }
        report
    }
}

/// What [`PowerLossSession::power_cut`] did.
#[derive(Debug, Default, Clone)]
pub struct CutReport {
    pub seed: u64,
    /// Journaled operations, the least the cut had to keep, and how many it kept.
    pub ops_total: usize,
    pub ops_floor: usize,
    pub ops_kept: usize,
    /// Files written after the cut.
    pub files: usize,
    /// Files whose bytes differ from what the process left in the page cache, described.
    pub changed: Vec<String>,
    /// Files that existed before the cut and do not after.
    pub vanished: Vec<String>,
    /// Files that come back because their deletion or rename was not durable.
    pub resurrected: Vec<String>,
    /// Files on disk the journal does not know: created as the process was killed, before
    /// the shim journaled them (left out, as never durable).
    pub anomalies: Vec<String>,
}

impl fmt::Display for CutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "power cut (seed {}): kept {} of {} journaled operations (at least {}); {} files, {} changed, {} vanished, {} resurrected",
            self.seed,
            self.ops_kept,
            self.ops_total,
            self.ops_floor,
            self.files,
            self.changed.len(),
            self.vanished.len(),
            self.resurrected.len()
        )?;
        for line in &self.changed {
            writeln!(f, "  changed: {line}")?;
        }
        for path in &self.vanished {
            writeln!(f, "  vanished: {path}")?;
        }
        for path in &self.resurrected {
            writeln!(f, "  resurrected: {path}")?;
        }
        for line in &self.anomalies {
            writeln!(f, "  anomaly: {line}")?;
        }
        Ok(())
    }
}

/// One file's bytes after the cut, and how they came about.
struct FileCut {
    bytes: Vec<u8>,
    current_len: Option<usize>,
    durable_len: Option<usize>,
    reverted_blocks: usize,
    block: usize,
    current_differs: bool,
}

impl FileCut {
    /// Picks a length in the possible range and, per block, the durable or current bytes.
    fn choose(durable: Option<Vec<u8>>, current: Option<Vec<u8>>, sizes: SizeEvents, rng: &mut Rng) -> Self {
        let durable_len = durable.as_ref().map(Vec::len);
        let current_len = current.as_ref().map(Vec::len);
        let mut old = durable.unwrap_or_default();
        // A file unlinked (or replaced) since: its current bytes are unknown; it comes back as
        // it was last made durable.
        let new = current.unwrap_or_else(|| old.clone());
        // The size on disk: what the last durable size change left (a truncation the cut
        // keeps, else the last fsync; 0 for a file never fsynced), up to any size the file
        // had since (its current size, the sizes before truncations the cut drops).
        let low = match sizes.kept_truncation {
            Some(to) => {
                old.truncate(to as usize);
                to as usize
            }
            None => old.len(),
        };
        let high = low.max(new.len()).max(sizes.dropped_truncation_from.unwrap_or(0) as usize);
        let len = match rng.below(4) {
            0 => new.len().clamp(low, high),
            1 => low,
            _ => rng.between(low as u64, high as u64) as usize,
        };
        let p_new = match rng.below(4) {
            0 => 0.0,
            1 => 1.0,
            2 => 0.5,
            _ => rng.unit(),
        };
        let block = if rng.below(SECTOR_BLOCKS_ONE_IN) == 0 { 512 } else { 4096 };
        // Zeros stand in for bytes a side never had.
        let new_len = new.len();
        let (mut old, mut new) = (old, new);
        old.resize(old.len().max(len), 0);
        new.resize(new.len().max(len), 0);
        let mut bytes = vec![0u8; len];
        let mut reverted_blocks = 0;
        for start in (0..len).step_by(block) {
            let end = (start + block).min(len);
            let take_new = old[start..end] == new[start..end] || rng.chance(p_new);
            reverted_blocks += usize::from(!take_new);
            let source = if take_new { &new } else { &old };
            bytes[start..end].copy_from_slice(&source[start..end]);
        }
        let current_differs = current_len.is_none() || len != new_len || bytes[..] != new[..len];
        Self { bytes, current_len, durable_len, reverted_blocks, block, current_differs }
    }

    fn changed(&self) -> bool {
        self.current_differs
    }

    fn describe(&self) -> String {
        let size = |n: Option<usize>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
        format!(
            "{} bytes (durable {}, page cache {}), {} blocks of {} B reverted",
            self.bytes.len(),
            size(self.durable_len),
            size(self.current_len),
            self.reverted_blocks,
            self.block
        )
    }
}

/// One journaled operation (see the header of `shim.c`).
#[derive(Debug, Clone)]
enum Op {
    Create { id: u64, ino: u64, path: String },
    Truncate { id: u64, from: u64, to: u64 },
    Data { id: u64 },
    DirSync,
    Mkdir(String),
    Rmdir(String),
    Unlink(String),
    Rename { from: String, to: String },
}

#[derive(Debug, Default)]
struct Journal {
    ops: Vec<Op>,
    unsupported: Vec<String>,
}

impl Journal {
    fn parse(text: &str) -> Self {
        let mut journal = Journal::default();
        // A last line without its newline was being written when the process died.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        for line in complete.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            let text = |i: usize| fields.get(i).map(|s| (*s).to_owned());
            let op = match fields.first().copied() {
                Some("V") => continue,
                Some("!") => {
                    journal.unsupported.push(fields[1..].join(" "));
                    continue;
                }
                Some("C") => num(1).zip(num(2)).zip(text(3)).map(|((id, ino), path)| Op::Create { id, ino, path }),
                Some("T") => num(1).zip(num(2)).zip(num(3)).map(|((id, from), to)| Op::Truncate { id, from, to }),
                Some("D") => num(1).map(|id| Op::Data { id }),
                Some("S") => Some(Op::DirSync),
                Some("M") => text(1).map(Op::Mkdir),
                Some("X") => text(1).map(Op::Rmdir),
                Some("U") => text(1).map(Op::Unlink),
                Some("R") => text(1).zip(text(2)).map(|(from, to)| Op::Rename { from, to }),
                _ => None,
            };
            match op {
                Some(op) => journal.ops.push(op),
                None => journal.unsupported.push(format!("unreadable journal line {line:?}")),
            }
        }
        journal
    }

    /// How many operations a cut must keep: up to the last directory fsync, and up to the
    /// operation that gave each fsynced file the name it had when fsynced.
    fn durable_floor(&self) -> usize {
        let mut floor = 0;
        let mut names: BTreeMap<String, Node> = BTreeMap::new();
        let mut named_at: HashMap<u64, usize> = HashMap::new();
        let mut ignored = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            match op {
                Op::DirSync => floor = floor.max(i),
                Op::Data { id } => {
                    if let Some(&at) = named_at.get(id) {
                        floor = floor.max(at + 1);
                    }
                }
                _ => {}
            }
            apply(&mut names, op, &mut ignored);
            match op {
                Op::Create { id, .. } => {
                    named_at.insert(*id, i);
                }
                Op::Rename { to, .. } => {
                    for (path, node) in &names {
                        if let Node::File(id) = node
                            && (path == to || is_under(path, to))
                        {
                            named_at.insert(*id, i);
                        }
                    }
                }
                Op::Unlink(_) | Op::Rmdir(_) => {
                    named_at.retain(|id, _| names.values().any(|n| matches!(n, Node::File(f) if f == id)));
                }
                _ => {}
            }
        }
        floor
    }

    /// The truncations (and O_TRUNC opens) of a file since its last fsync, as a cut keeping
    /// the first `kept` operations sees them: truncations reach the disk in order with the
    /// namespace operations (ext4 journals them), so the kept ones are a prefix.
    fn sizes_since_sync(&self, id: u64, kept: usize) -> SizeEvents {
        let last_sync = self.ops.iter().rposition(|op| matches!(op, Op::Data { id: d } if *d == id));
        let since = last_sync.map_or(0, |i| i + 1);
        let mut sizes = SizeEvents::default();
        for (i, op) in self.ops.iter().enumerate().skip(since) {
            if let Op::Truncate { id: t, from, to } = op
                && *t == id
            {
                if i < kept {
                    sizes.kept_truncation = Some(*to);
                } else {
                    sizes.dropped_truncation_from = Some(sizes.dropped_truncation_from.map_or(*from, |f| f.max(*from)));
                }
            }
        }
        sizes
    }
}

/// A file's truncations since its last fsync, split by whether the cut keeps them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SizeEvents {
    /// The size the last kept truncation left.
    kept_truncation: Option<u64>,
    /// The largest size a dropped truncation cut the file from (the file may still be that
    /// long on disk, e.g. preallocated space a trim gave back).
    dropped_truncation_from: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Dir,
    File(u64),
}

fn is_under(path: &str, dir: &str) -> bool {
    dir == "." || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The namespace after `ops`, from an empty watched directory; operations on paths that do
/// not exist go to `inconsistent`.
fn replay(ops: &[Op], inconsistent: &mut Vec<String>) -> BTreeMap<String, Node> {
    let mut names = BTreeMap::new();
    for op in ops {
        apply(&mut names, op, inconsistent);
    }
    names
}

fn apply(names: &mut BTreeMap<String, Node>, op: &Op, inconsistent: &mut Vec<String>) {
    match op {
        Op::Create { id, path, .. } => {
            names.insert(path.clone(), Node::File(*id));
        }
        Op::Mkdir(path) => {
            names.insert(path.clone(), Node::Dir);
        }
        Op::Unlink(path) | Op::Rmdir(path) => {
            if names.remove(path).is_none() {
                inconsistent.push(format!("journal removes {path}, which it never created"));
            }
            names.retain(|p, _| !is_under(p, path));
        }
        Op::Rename { from, to } => {
            let Some(node) = names.remove(from) else {
                inconsistent.push(format!("journal renames {from}, which it never created"));
                return;
            };
            names.remove(to);
            names.retain(|p, _| !is_under(p, to));
            if node == Node::Dir {
                let moved: Vec<(String, Node)> = names
                    .iter()
                    .filter(|(p, _)| is_under(p, from))
                    .map(|(p, n)| (format!("{to}{}", &p[from.len()..]), *n))
                    .collect();
                names.retain(|p, _| !is_under(p, from));
                names.extend(moved);
            }
            names.insert(to.clone(), node);
        }
        Op::Truncate { .. } | Op::Data { .. } | Op::DirSync => {}
    }
}

/// Calls `each` for every regular file under `dir`.
fn walk_files(dir: &Path, each: &mut dyn FnMut(&Path, &fs::Metadata)) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            walk_files(&path, each);
        } else if meta.is_file() {
            each(&path, &meta);
        }
    }
}

/// `<dir>.<suffix>`, beside `dir`.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().map(OsString::from).unwrap_or_default();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_follows_directory_fsyncs_and_the_names_of_fsynced_files() {
        let journal = Journal::parse(
            "V\t1\t/w\nM\td\nC\t1\t10\td/a\nC\t2\t11\td/b\nD\t1\t5\nR\td/b\td/c\nC\t3\t12\td/t\n\
             D\t2\t9\nU\td/t\nS\td\nC\t4\t13\td/e\nT\t4\t0\t0\nD\t4\t0\nR\td/e\td/f\nC\t5\t14\td/g\n",
        );
        assert!(journal.unsupported.is_empty(), "{:?}", journal.unsupported);
        // Ops 0-9 must stay: the directory fsync (op 8), and d/e's creation (op 9), fsynced
        // at op 11. The rename of d/e (op 12) and d/g's creation may be lost.
        assert_eq!(journal.durable_floor(), 10);
        let mut anomalies = Vec::new();
        let names = replay(&journal.ops, &mut anomalies);
        assert!(anomalies.is_empty(), "{anomalies:?}");
        let files: Vec<_> = names.iter().map(|(p, n)| (p.as_str(), *n)).collect();
        assert_eq!(
            files,
            [("d", Node::Dir), ("d/a", Node::File(1)), ("d/c", Node::File(2)), ("d/f", Node::File(4)), ("d/g", Node::File(5))]
        );
        assert_eq!(journal.sizes_since_sync(4, 11), SizeEvents::default());
        assert_eq!(journal.sizes_since_sync(5, 14), SizeEvents::default());
        let trims = Journal::parse("C\t1\t1\ta\nD\t1\t100\nT\t1\t900\t50\nC\t2\t2\tb\nT\t1\t60\t40\nT\t1\t70\t30\n");
        assert_eq!(trims.sizes_since_sync(1, 2), SizeEvents { kept_truncation: None, dropped_truncation_from: Some(900) });
        assert_eq!(trims.sizes_since_sync(1, 5), SizeEvents { kept_truncation: Some(40), dropped_truncation_from: Some(70) });
    }

    #[test]
    fn a_directory_rename_moves_its_entries() {
        let journal = Journal::parse("M\ta\nC\t1\t1\ta/x\nM\tb\nR\ta\tb\n");
        let names = replay(&journal.ops, &mut Vec::new());
        assert_eq!(names.get("b/x"), Some(&Node::File(1)));
        assert!(!names.contains_key("a") && !names.contains_key("a/x"));
    }

    #[test]
    fn a_cut_keeps_durable_bytes_and_stays_within_the_possible_sizes() {
        let durable: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut current = durable.clone();
        current.extend((0..9_000u32).map(|i| (i % 13 + 1) as u8));
        let mut saw_loss = false;
        let mut saw_all = false;
        for seed in 0..200 {
            let cut = FileCut::choose(Some(durable.clone()), Some(current.clone()), SizeEvents::default(), &mut Rng::new(seed));
            assert!((durable.len()..=current.len()).contains(&cut.bytes.len()), "seed {seed}");
            assert_eq!(&cut.bytes[..durable.len()], &durable[..], "seed {seed}: durable bytes changed");
            saw_loss |= cut.bytes.len() < current.len() || cut.bytes != current[..cut.bytes.len()];
            saw_all |= cut.bytes == current;
        }
        assert!(saw_loss && saw_all);
    }
}
