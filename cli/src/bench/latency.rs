//! Latency recording for the benchmarks: an HdrHistogram of microseconds (3 significant
//! digits, up to one hour) summarised as percentiles in milliseconds.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency recorded, in µs; larger ones are recorded as this.
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency histogram.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

/// Percentiles in milliseconds, as the JSON result and the summary show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Self {
        // `new_with_bounds` fails only on low < 1, high < 2 * low or sigfig > 5.
        let histogram = Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant bounds are valid");
        Latencies { histogram }
    }

    /// Records one latency in nanoseconds.
    pub fn record_nanos(&mut self, nanos: u64) {
        let micros = (nanos / 1_000).clamp(1, MAX_MICROS);
        self.histogram.saturating_record(micros);
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail; ignore the impossible error.
        let _ = self.histogram.add(&other.histogram);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The percentiles (all zero when nothing was recorded).
    pub fn percentiles(&self) -> Percentiles {
        if self.histogram.is_empty() {
            return Percentiles::default();
        }
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Percentiles {
            p50: ms(self.histogram.value_at_quantile(0.50)),
            p99: ms(self.histogram.value_at_quantile(0.99)),
            p999: ms(self.histogram.value_at_quantile(0.999)),
            max: ms(self.histogram.max()),
            mean: self.histogram.mean() / 1_000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let mut l = Latencies::new();
        for i in 1..=1000u64 {
            l.record_nanos(i * 1_000_000); // 1..=1000 ms
        }
        let p = l.percentiles();
        assert!((p.p50 - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() < 1.0, "{p:?}");
        let mut other = Latencies::new();
        other.record_nanos(5_000_000_000);
        l.merge(&other);
        assert_eq!(l.count(), 1001);
        assert_eq!(Latencies::new().percentiles(), Percentiles::default());
    }
}
