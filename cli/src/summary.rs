//! The table `fjord dev` prints after opening its partition logs: one row per partition with
//! its segments, offsets, size and what opening it found (a clean shutdown or a recovery).
//!
//! Pure formatting: it takes figures and returns text, and never touches a log.

use fjord_log_core::storage::RecoveryReport;

/// One partition as it stands after opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRow {
    /// `<topic>-<partition>`.
    pub name: String,
    /// Segments, the active one included.
    pub segments: usize,
    /// First readable offset.
    pub log_start: u64,
    /// One past the last offset.
    pub log_end: u64,
    /// Bytes in all segments.
    pub size_bytes: u64,
    /// What opening found, from [`describe_recovery`].
    pub state: String,
}

const HEADERS: [&str; 6] = [
    "PARTITION",
    "SEGMENTS",
    "LOG START",
    "LOG END",
    "SIZE",
    "STATE",
];
/// Columns aligned right (numbers); the others align left.
const RIGHT_ALIGNED: [bool; 6] = [false, true, true, true, true, false];

/// Renders the rows as an aligned table with a header line, each line ending in `\n`.
pub fn render(rows: &[PartitionRow]) -> String {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.segments.to_string(),
                r.log_start.to_string(),
                r.log_end.to_string(),
                human_bytes(r.size_bytes),
                r.state.clone(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADERS.map(str::to_owned);
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if RIGHT_ALIGNED[i] {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// "clean shutdown", "new" (no segment yet), or what recovery scanned and cut.
pub fn describe_recovery(report: &RecoveryReport) -> String {
    if report.clean_shutdown {
        return "clean shutdown".to_owned();
    }
    if report.segments == 0 {
        return "new".to_owned();
    }
    let mut text = format!(
        "recovered: scanned {}",
        plural(report.segments_recovered, "segment")
    );
    if report.truncated_bytes > 0 {
        text.push_str(&format!(
            ", cut a torn tail of {}",
            human_bytes(report.truncated_bytes)
        ));
    }
    if report.segments_dropped > 0 {
        text.push_str(&format!(
            ", dropped {} after it",
            plural(report.segments_dropped, "segment")
        ));
    }
    if report.truncated_bytes == 0 && report.segments_dropped == 0 {
        text.push_str(", nothing lost");
    }
    text
}

/// `1 segment`, `2 segments`, `2 batches`.
pub fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("{n} {noun}"),
        _ if ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end)) => {
            format!("{n} {noun}es")
        }
        _ => format!("{n} {noun}s"),
    }
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(plural(1, "batch"), "1 batch");
        assert_eq!(plural(2, "batch"), "2 batches");
        assert_eq!(plural(0, "partition log"), "0 partition logs");
    }

    #[test]
    fn recovery_is_described_by_what_it_cost() {
        assert_eq!(describe_recovery(&RecoveryReport::default()), "new");
        let clean = RecoveryReport {
            clean_shutdown: true,
            segments: 3,
            ..RecoveryReport::default()
        };
        assert_eq!(describe_recovery(&clean), "clean shutdown");
        let scanned = RecoveryReport {
            segments: 3,
            segments_recovered: 1,
            ..RecoveryReport::default()
        };
        assert_eq!(
            describe_recovery(&scanned),
            "recovered: scanned 1 segment, nothing lost"
        );
        let torn = RecoveryReport {
            segments: 3,
            segments_recovered: 2,
            truncated_bytes: 100,
            segments_dropped: 1,
            ..RecoveryReport::default()
        };
        assert_eq!(
            describe_recovery(&torn),
            "recovered: scanned 2 segments, cut a torn tail of 100 B, dropped 1 segment after it"
        );
    }

    #[test]
    fn columns_line_up() {
        let rows = [
            PartitionRow {
                name: "orders-0".into(),
                segments: 12,
                log_start: 0,
                log_end: 1_000_000,
                size_bytes: 2048,
                state: "clean shutdown".into(),
            },
            PartitionRow {
                name: "a-1".into(),
                segments: 1,
                log_start: 5,
                log_end: 7,
                size_bytes: 10,
                state: "recovered".into(),
            },
        ];
        let table = render(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "PARTITION  SEGMENTS  LOG START  LOG END     SIZE  STATE"
        );
        assert_eq!(
            lines[1],
            "orders-0         12          0  1000000  2.0 KiB  clean shutdown"
        );
        assert_eq!(
            lines[2],
            "a-1               1          5        7     10 B  recovered"
        );
    }
}
