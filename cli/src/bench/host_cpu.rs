//! How busy the machine's CPUs were during a benchmark, and how much time the hypervisor
//! took from them ("steal"), from `/proc/stat` on Linux. On a shared virtual machine the
//! same run can differ several times in its latency tail depending on what neighbours do; a
//! result that carries its steal share can be told apart from one that ran on a quiet host.

use serde::Serialize;

/// Cumulative CPU time counters of all CPUs, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    busy: u64,
    idle: u64,
    steal: u64,
}

/// The share of all CPUs' time, between two samples, that was busy (including steal) and
/// that was stolen by the hypervisor, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HostCpu {
    pub busy_pct: f64,
    pub steal_pct: f64,
}

impl CpuTicks {
    /// The counters now; `None` where `/proc/stat` is missing or unreadable (not Linux).
    pub fn sample() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(&text)
    }

    /// Reads the aggregate `cpu` line: user nice system idle iowait irq softirq steal ….
    /// Guest time is already included in user and nice, so it is not added again.
    fn parse(text: &str) -> Option<Self> {
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().ok()).collect::<Option<_>>()?;
        let field = |i: usize| fields.get(i).copied().unwrap_or(0);
        let idle = field(3) + field(4);
        let steal = field(7);
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + steal;
        Some(CpuTicks { busy, idle, steal })
    }

    /// Usage between `earlier` and `self`; `None` if no time passed.
    pub fn since(&self, earlier: &CpuTicks) -> Option<HostCpu> {
        let busy = self.busy.checked_sub(earlier.busy)?;
        let idle = self.idle.checked_sub(earlier.idle)?;
        let steal = self.steal.checked_sub(earlier.steal)?;
        let total = busy + idle;
        if total == 0 {
            return None;
        }
        let pct = |n: u64| (n as f64 * 1000.0 / total as f64).round() / 10.0;
        Some(HostCpu { busy_pct: pct(busy), steal_pct: pct(steal) })
    }
}

/// Measures host CPU use from its creation until [`HostCpuWindow::finish`].
#[derive(Debug)]
pub struct HostCpuWindow(Option<CpuTicks>);

impl HostCpuWindow {
    pub fn start() -> Self {
        HostCpuWindow(CpuTicks::sample())
    }

    pub fn finish(&self) -> Option<HostCpu> {
        CpuTicks::sample()?.since(self.0.as_ref()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 17 0 0\n";
    const AFTER: &str = "cpu  160 0 70 900 10 0 5 55 0 0\ncpu0 80 0 35 450 5 0 2 27 0 0\n";

    #[test]
    fn busy_and_steal_are_shares_of_all_cpu_time_in_the_window() {
        let (before, after) = (CpuTicks::parse(BEFORE).unwrap(), CpuTicks::parse(AFTER).unwrap());
        // busy: user +60, system +20, steal +20 = 100; idle +100; total 200.
        assert_eq!(after.since(&before), Some(HostCpu { busy_pct: 50.0, steal_pct: 10.0 }));
    }

    #[test]
    fn no_elapsed_time_or_a_garbled_file_gives_nothing() {
        let same = CpuTicks::parse(BEFORE).unwrap();
        assert_eq!(same.since(&same), None);
        assert_eq!(CpuTicks::parse("intr 1 2 3\n"), None);
        assert_eq!(CpuTicks::parse("cpu  1 two 3\n"), None);
    }

    #[test]
    fn counters_that_went_backwards_give_nothing() {
        let (before, after) = (CpuTicks::parse(BEFORE).unwrap(), CpuTicks::parse(AFTER).unwrap());
        assert_eq!(before.since(&after), None);
    }
}
