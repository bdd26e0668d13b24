//! `fjord bench baseline`: this machine's physical limits, measured the way the broker uses
//! them — sequential buffered writes to the data directory's disk (what an append costs
//! before fsync), the same with an fsync after every MiB (what a durable append costs), and
//! TCP over loopback (what a client connection can carry) — so every benchmark can be stated
//! as a ratio to them.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::output::{Output, print_json};

/// Bytes per write call.
const CHUNK: usize = 1 << 20;

/// Options of `fjord bench baseline`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
disk_write: SIZE bytes written in 1 MiB chunks through the page cache, no fsync (the rate an \
append reaches the page cache). disk_fsync_write: FSYNC_SIZE bytes in 1 MiB chunks, each \
followed by fdatasync (the rate of durable appends). loopback: SIZE bytes over one TCP \
connection on 127.0.0.1. MB is 10^6 bytes. The files are removed afterwards.

Examples:
  fjord bench baseline --data-dir ./fjord-data
  fjord bench baseline --data-dir /var/lib/fjord --size 4GiB --output json")]
pub struct BaselineArgs {
    /// Directory on the disk to measure (the broker's data directory)
    #[arg(long, default_value = "./fjord-data")]
    pub data_dir: PathBuf,

    /// Bytes for the buffered write and loopback tests (e.g. 1GiB, 512MiB)
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub size: u64,

    /// Bytes for the fsync'd write test
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub fsync_size: u64,

    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,

    /// Also write the JSON result to this file
    #[arg(long, value_name = "FILE")]
    pub result_file: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Baseline {
    data_dir: String,
    disk_write_bytes: u64,
    disk_write_mb_per_sec: f64,
    disk_fsync_write_bytes: u64,
    disk_fsync_write_mb_per_sec: f64,
    loopback_bytes: u64,
    loopback_mb_per_sec: f64,
}

pub fn run(args: BaselineArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("could not create {}", args.data_dir.display()))?;
    let chunk = vec![0x5au8; CHUNK];
    let path = args.data_dir.join(format!(".fjord-baseline-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(path.clone());

    eprintln!("Measuring buffered writes of {} to {} …", crate::summary::human_bytes(args.size), args.data_dir.display());
    let buffered = write_file(&path, &chunk, args.size, false)?;
    std::fs::remove_file(&path).ok();
    eprintln!("Measuring fsync'd writes of {} …", crate::summary::human_bytes(args.fsync_size));
    let durable = write_file(&path, &chunk, args.fsync_size, true)?;
    std::fs::remove_file(&path).ok();
    eprintln!("Measuring loopback TCP with {} …", crate::summary::human_bytes(args.size));
    let loopback = loopback(&chunk, args.size)?;

    let mbps = |bytes: u64, took: Duration| bytes as f64 / 1e6 / took.as_secs_f64().max(1e-9);
    let baseline = Baseline {
        data_dir: args.data_dir.display().to_string(),
        disk_write_bytes: args.size,
        disk_write_mb_per_sec: mbps(args.size, buffered),
        disk_fsync_write_bytes: args.fsync_size,
        disk_fsync_write_mb_per_sec: mbps(args.fsync_size, durable),
        loopback_bytes: args.size,
        loopback_mb_per_sec: mbps(args.size, loopback),
    };
    if let Some(file) = &args.result_file {
        super::report::write_result_file(file, &baseline)?;
    }
    if args.output == Output::Json {
        return print_json(&baseline);
    }
    println!("baseline for {}", baseline.data_dir);
    println!("  disk write (buffered)        {:>9.1} MB/s", baseline.disk_write_mb_per_sec);
    println!("  disk write (fsync each MiB)  {:>9.1} MB/s", baseline.disk_fsync_write_mb_per_sec);
    println!("  loopback TCP                 {:>9.1} MB/s", baseline.loopback_mb_per_sec);
    Ok(())
}

/// Writes `size` bytes in chunks; returns how long the writes (and fsyncs) took.
fn write_file(path: &Path, chunk: &[u8], size: u64, fsync_each: bool) -> anyhow::Result<Duration> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    let started = Instant::now();
    let mut written = 0u64;
    while written < size {
        let n = (size - written).min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n]).with_context(|| format!("could not write {}", path.display()))?;
        if fsync_each {
            file.sync_data().with_context(|| format!("could not fsync {}", path.display()))?;
        }
        written += n as u64;
    }
    Ok(started.elapsed())
}

/// Sends `size` bytes over one loopback TCP connection; returns how long until all arrived.
fn loopback(chunk: &[u8], size: u64) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").context("could not listen on 127.0.0.1")?;
    let address = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut stream, _) = listener.accept()?;
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let mut stream = TcpStream::connect(address).context("could not connect over loopback")?;
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < size {
        let n = (size - sent).min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n]).context("loopback write failed")?;
        sent += n as u64;
    }
    drop(stream);
    let received = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the loopback reader panicked"))?
        .context("loopback read failed")?;
    let took = started.elapsed();
    if received != size {
        bail!("loopback carried {received} of {size} bytes");
    }
    Ok(took)
}

/// `1GiB`, `512MiB`, `64KiB`, `1000000` (bytes).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a size; write e.g. 512MiB or 1GiB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("unknown size unit `{other}` in `{text}`; use B, KiB, MiB, GiB, KB, MB or GB")),
    };
    let bytes = number.checked_mul(factor).ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes == 0 {
        return Err("the size must be more than 0".to_owned());
    }
    Ok(bytes)
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1TB").is_err());
        assert!(parse_size("lots").is_err());
    }
}
