//! [`PluginLimits`], what one plugin instance may use, and the limiter that enforces memory.

/// What one plugin instance may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// The most linear memory an instance may hold, in bytes (all its memories together).
    pub memory_bytes: usize,
    /// The longest one call (`init`, or `process` of one batch) may run, in milliseconds of
    /// wall-clock time, measured in ticks of [`crate::PluginHost`]'s epoch timer.
    pub call_budget_ms: u64,
}

impl Default for PluginLimits {
    /// 64 MiB of memory and 1 s per call.
    fn default() -> Self {
        Self { memory_bytes: 64 << 20, call_budget_ms: 1_000 }
    }
}

/// The memory limit of one instance (all its memories together at most `memory_bytes`;
/// wasmtime asks before creating a memory too, from a current size of 0) and a bound on its
/// tables, with a note of whether a growth was refused (a guest that runs out of memory
/// usually traps right after, and the trap is reported as running out of memory).
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_bytes: usize,
    /// Bytes held by the instance's memories so far.
    used: usize,
    /// Set once a memory growth was refused.
    pub(crate) refused: bool,
}

/// Elements in one table at most: generous for any real guest, small enough not to matter.
const TABLE_ELEMENTS: usize = 1 << 20;

impl Limiter {
    pub(crate) fn new(memory_bytes: usize) -> Self {
        Self { memory_bytes, used: 0, refused: false }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        let allowed = total <= self.memory_bytes;
        if allowed {
            self.used = total;
        }
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS)
    }
}
