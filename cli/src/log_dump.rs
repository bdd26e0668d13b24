//! `fjord log dump DIR`: prints the record batches of one partition log, one line per batch,
//! in the spirit of Kafka's `kafka-dump-log.sh`.
//!
//! It opens the log through the storage engine — so it shows exactly what a broker would
//! serve, after recovery — and reads it front to back with `PartitionLog::read`. It never
//! closes the log (closing writes checkpoints and the clean-shutdown marker): apart from what
//! opening does (cutting a torn tail, finishing an interrupted compaction swap) it leaves the
//! directory as it found it. It refuses a partition whose data directory a running process
//! serves.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use fjord_log_core::storage::{
    BatchHeader, Batches, Compression, LOG_SUFFIX, LogConfig, PartitionLog, TimestampType,
    compute_crc,
};
use serde::Serialize;

use crate::data_dir;
use crate::summary::{human_bytes, plural};

/// Bytes asked of each read; a batch larger than this still comes whole.
const READ_BYTES: usize = 1 << 20;

/// Options of `fjord log dump`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  fjord log dump ./fjord-data/logs/orders-0
  fjord log dump ./fjord-data/logs/orders-0 --output json | jq 'select(.crc_valid | not)'

Opening the log recovers it as a broker would (a torn tail is cut). Stop `fjord dev` before \
dumping its logs. Exits non-zero when a batch fails its CRC check.")]
pub struct DumpArgs {
    /// Partition directory holding the segment files, e.g. ./fjord-data/logs/orders-0
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Output format
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// How batches are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One `key: value` line per batch, with a header and a total
    Text,
    /// One JSON object per batch per line, nothing else on stdout
    Json,
}

/// What the dump shows of one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Records in the batch.
    pub count: i32,
    /// Bytes of the whole batch.
    pub size: usize,
    /// CRC-32C stored in the header.
    pub crc: u32,
    /// The stored CRC matches the bytes.
    pub crc_valid: bool,
    /// Codec name as Kafka spells it (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub compression: String,
    /// `CreateTime` or `LogAppendTime`.
    pub timestamp_type: &'static str,
    /// Largest timestamp (ms since the epoch), or the append time under LogAppendTime.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Leader epoch of the broker that appended the batch.
    pub partition_leader_epoch: i32,
    /// Part of a transaction.
    pub transactional: bool,
    /// A control batch (transaction markers).
    pub control: bool,
}

impl BatchSummary {
    /// Describes one complete batch.
    pub fn of(bytes: &[u8], header: &BatchHeader) -> Self {
        let compression = match header.compression() {
            Ok(codec) => codec_name(codec).to_owned(),
            Err(_) => format!("unknown({})", header.attributes & 0x07),
        };
        Self {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            count: header.records_count,
            size: bytes.len(),
            crc: header.crc,
            crc_valid: compute_crc(bytes) == header.crc,
            compression,
            timestamp_type: match header.timestamp_type() {
                TimestampType::CreateTime => "CreateTime",
                TimestampType::LogAppendTime => "LogAppendTime",
            },
            max_timestamp: header.max_timestamp,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            partition_leader_epoch: header.partition_leader_epoch,
            transactional: header.is_transactional(),
            control: header.is_control(),
        }
    }

    /// The text form: `key: value` pairs on one line, named as `kafka-dump-log.sh` names them.
    pub fn to_text(&self) -> String {
        format!(
            "baseOffset: {} lastOffset: {} count: {} size: {} crc: {} crcValid: {} compression: {} \
             timestampType: {} maxTimestamp: {} producerId: {} producerEpoch: {} baseSequence: {} \
             partitionLeaderEpoch: {} isTransactional: {} isControl: {}",
            self.base_offset,
            self.last_offset,
            self.count,
            self.size,
            self.crc,
            self.crc_valid,
            self.compression,
            self.timestamp_type,
            self.max_timestamp,
            self.producer_id,
            self.producer_epoch,
            self.base_sequence,
            self.partition_leader_epoch,
            self.transactional,
            self.control,
        )
    }
}

fn codec_name(codec: Compression) -> &'static str {
    match codec {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// Runs `fjord log dump`.
pub fn run(args: DumpArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    check_is_partition_dir(dir)?;
    data_dir::ensure_not_served(dir)?;
    let (log, _report) = PartitionLog::open(dir, LogConfig::default())
        .with_context(|| format!("could not open the partition log at {}", dir.display()))?;

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let totals = dump(&log, args.output, &mut out)?;
    out.flush().context("could not write to stdout")?;
    // The log is dropped, not closed: see the module docs.
    drop(log);

    if totals.bad_crc > 0 {
        bail!(
            "{} of {} failed the CRC-32C check: the data in {} is corrupt",
            totals.bad_crc,
            plural(totals.batches, "batch"),
            dir.display()
        );
    }
    Ok(())
}

/// What a dump walked over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpTotals {
    /// Batches printed.
    pub batches: usize,
    /// Records in them.
    pub records: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Batches whose CRC did not match.
    pub bad_crc: usize,
}

/// Prints every batch of `log` from its start offset to its end offset.
pub fn dump(
    log: &PartitionLog,
    format: OutputFormat,
    out: &mut impl Write,
) -> anyhow::Result<DumpTotals> {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let write_failed = "could not write to stdout";
    if format == OutputFormat::Text {
        writeln!(
            out,
            "Dumping {} (log start offset {start}, log end offset {end}, {}, {})",
            log.dir().display(),
            plural(log.segment_count(), "segment"),
            human_bytes(log.size_bytes())
        )
        .context(write_failed)?;
    }
    let mut totals = DumpTotals::default();
    let mut offset = start;
    while offset < end {
        let read = log.read(offset, READ_BYTES, None).with_context(|| {
            format!("could not read {} at offset {offset}", log.dir().display())
        })?;
        if read.records.is_empty() {
            break;
        }
        // A read starts with the batch holding `offset`, which may begin before it.
        let mut next = offset;
        for item in Batches::new(&read.records) {
            let malformed = |defect| {
                anyhow!(
                    "malformed batch in the read from offset {offset}: {defect}; the segment holding that offset is corrupt"
                )
            };
            let (_, bytes) = item.map_err(malformed)?;
            let header = BatchHeader::parse(bytes).map_err(malformed)?;
            let batch = BatchSummary::of(bytes, &header);
            let line = match format {
                OutputFormat::Text => batch.to_text(),
                OutputFormat::Json => {
                    serde_json::to_string(&batch).context("could not encode a batch as JSON")?
                }
            };
            writeln!(out, "{line}").context(write_failed)?;
            totals.batches += 1;
            totals.records += u64::try_from(header.records_count).unwrap_or(0);
            totals.bytes += bytes.len() as u64;
            totals.bad_crc += usize::from(!batch.crc_valid);
            next = next.max(u64::try_from(header.last_offset().saturating_add(1)).unwrap_or(0));
        }
        if next <= offset {
            bail!(
                "the read at offset {offset} of {} did not move past it; the log's offsets are inconsistent",
                log.dir().display()
            );
        }
        offset = next;
    }
    if format == OutputFormat::Text {
        writeln!(
            out,
            "{} in {} ({})",
            plural(
                usize::try_from(totals.records).unwrap_or(usize::MAX),
                "record"
            ),
            plural(totals.batches, "batch"),
            human_bytes(totals.bytes)
        )
        .context(write_failed)?;
    }
    Ok(totals)
}

/// Refuses anything but an existing directory with segment files, so that a typo never makes
/// `PartitionLog::open` create a fresh, empty log.
fn check_is_partition_dir(dir: &Path) -> anyhow::Result<()> {
    let hint = "pass a partition directory such as ./fjord-data/logs/orders-0";
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("could not read the directory {}; {hint}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("could not list {}", dir.display()))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.ends_with(LOG_SUFFIX))
        {
            return Ok(());
        }
    }
    bail!(
        "{} holds no segment files (*{LOG_SUFFIX}); {hint}",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use fjord_log_core::storage::{AppendOptions, BatchBuilder};

    use super::*;

    fn append(log: &mut PartitionLog, records: usize, compression: Compression) {
        let mut builder = BatchBuilder::new(0, compression, TimestampType::CreateTime);
        for i in 0..records {
            builder.push(
                i as i64,
                1_700_000_000_000 + i as i64,
                Some(&b"key"[..]),
                Some(&b"value"[..]),
                &[],
            );
        }
        let mut bytes = builder.build().unwrap();
        log.append(
            &mut bytes,
            AppendOptions {
                leader_epoch: 3,
                now_ms: 1_700_000_000_000,
            },
        )
        .unwrap();
    }

    fn json_lines(log: &PartitionLog) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        dump(log, OutputFormat::Json, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn every_batch_is_one_json_line_in_offset_order() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(tmp.path(), LogConfig::default()).unwrap();
        append(&mut log, 3, Compression::None);
        append(&mut log, 2, Compression::Zstd);
        let lines = json_lines(&log);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                lines[0]["base_offset"].as_i64(),
                lines[0]["last_offset"].as_i64()
            ),
            (Some(0), Some(2))
        );
        assert_eq!(
            (
                lines[1]["base_offset"].as_i64(),
                lines[1]["last_offset"].as_i64()
            ),
            (Some(3), Some(4))
        );
        assert_eq!(lines[1]["compression"], "zstd");
        assert_eq!(lines[1]["count"], 2);
        assert_eq!(lines[0]["crc_valid"], true);
        assert_eq!(lines[0]["partition_leader_epoch"], 3);
        assert_eq!(lines[0]["timestamp_type"], "CreateTime");
    }

    #[test]
    fn a_dump_walks_across_every_segment() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = LogConfig::default();
        config.set("segment.bytes", "4096").unwrap();
        let (mut log, _) = PartitionLog::open(tmp.path(), config).unwrap();
        for _ in 0..40 {
            append(&mut log, 10, Compression::None);
        }
        assert!(log.segment_count() > 1);
        let mut out = Vec::new();
        let totals = dump(&log, OutputFormat::Text, &mut out).unwrap();
        assert_eq!(
            (totals.batches, totals.records, totals.bad_crc),
            (40, 400, 0)
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Dumping "), "{text}");
        assert!(
            text.contains("baseOffset: 390 lastOffset: 399 count: 10"),
            "{text}"
        );
        assert!(
            text.trim_end().ends_with(&format!(
                "400 records in 40 batches ({})",
                human_bytes(totals.bytes)
            )),
            "{text}"
        );
    }

    #[test]
    fn an_empty_log_prints_no_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, _) = PartitionLog::open(tmp.path(), LogConfig::default()).unwrap();
        assert!(json_lines(&log).is_empty());
    }

    #[test]
    fn a_directory_without_segments_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let err = check_is_partition_dir(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("holds no segment files"), "{err}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
        assert!(check_is_partition_dir(&tmp.path().join("missing")).is_err());
    }
}
