//! A benchmark's result: what was run, how many messages and bytes in how long, and the
//! latency percentiles. Printed for people, as JSON with `--output json`, and written to
//! `--result-file` for later comparison.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::host_cpu::HostCpu;
use super::latency::Percentiles;

/// One benchmark run's result. MB means 10^6 bytes (of keys and values).
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// `produce`, `consume`, `fetch` or `e2e`.
    pub benchmark: &'static str,
    pub topic: String,
    pub message_size: usize,
    /// Producer settings, when the benchmark produces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acks: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Producers or consumers that ran in parallel.
    pub clients: usize,
    /// The rate asked for (messages/s), when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<u64>,
    pub messages: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    /// What `latency_ms` measures, in words.
    pub latency_measures: &'static str,
    pub latency_ms: Percentiles,
    /// e2e only: from each message's scheduled send time to its acknowledgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produce_latency_ms: Option<Percentiles>,
    /// Messages that failed (not acknowledged, or consume errors).
    pub errors: u64,
    /// How busy all of the machine's CPUs were during the run (everything on it, not only
    /// this benchmark), and the share the hypervisor stole; Linux only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_cpu: Option<HostCpu>,
}

impl BenchResult {
    /// Fills in the rates from the counts.
    pub fn rates(mut self) -> Self {
        let secs = self.seconds.max(1e-9);
        self.msgs_per_sec = self.messages as f64 / secs;
        self.mb_per_sec = self.bytes as f64 / secs / 1e6;
        self
    }

    /// The human-readable summary.
    pub fn print_human(&self) {
        let settings = match (&self.acks, &self.compression) {
            (Some(acks), Some(compression)) => format!(", acks={acks}, compression={compression}"),
            _ => String::new(),
        };
        println!(
            "{}: {} messages of {} B in {:.2} s ({} {}{}{})",
            self.benchmark,
            self.messages,
            self.message_size,
            self.seconds,
            self.clients,
            match self.benchmark {
                "consume" => "consumer(s)",
                "fetch" => "connection(s)",
                _ => "producer(s)",
            },
            settings,
            self.target_rate.map(|r| format!(", target {r} msgs/s")).unwrap_or_default()
        );
        println!("  throughput  {:.0} msgs/s  {:.1} MB/s", self.msgs_per_sec, self.mb_per_sec);
        let l = &self.latency_ms;
        println!(
            "  latency ms  p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  ({})",
            l.p50, l.p99, l.p999, l.max, self.latency_measures
        );
        if let Some(l) = &self.produce_latency_ms {
            println!(
                "  acks ms     p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (due-to-send → acknowledged)",
                l.p50, l.p99, l.p999, l.max
            );
        }
        if let Some(cpu) = &self.host_cpu {
            println!(
                "  host CPUs   {:.1}% busy, {:.1}% stolen by the hypervisor (all CPUs, whole machine)",
                cpu.busy_pct, cpu.steal_pct
            );
        }
        if self.errors > 0 {
            println!("  errors      {}", self.errors);
        }
    }
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_result_file<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(value).context("could not encode the result")?;
    std::fs::write(path, json).with_context(|| format!("could not write the result to {}", path.display()))
}
