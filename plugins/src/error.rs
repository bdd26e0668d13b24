//! [`PluginError`], everything that can go wrong with a plugin, each naming the plugin.

/// The host could not start, or a plugin failed to load or to process a batch. Every
/// plugin's variant names the plugin; those about a batch carry the offsets it held, so the
/// failure can be traced to its input.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The host itself could not start (the engine, its compile cache, its epoch timer).
    #[error("the plugin host could not start: {reason}")]
    Host { reason: String },
    /// The bytes are not a WebAssembly component.
    #[error("plugin {name}: not a valid WebAssembly component: {reason}")]
    Invalid { name: String, reason: String },
    /// A component, but not a `fjord:transform` plugin this host can run.
    #[error("plugin {name} does not implement the fjord:transform@0.1.0 world: {reason}")]
    WrongWorld { name: String, reason: String },
    /// The plugin's `init` refused its configuration.
    #[error("plugin {name} refused its configuration: {message}")]
    Config { name: String, message: String },
    /// The plugin answered the batch with an error of its own.
    #[error("plugin {name} failed the batch{}: {message}", record_at(*offset, *record_index))]
    Failed { name: String, message: String, record_index: Option<u32>, offset: Option<i64> },
    /// The call ran past its CPU budget and was stopped.
    #[error("plugin {name} ran past its CPU budget of {budget_ms} ms per call{}", batch_offsets(*offsets))]
    Timeout { name: String, budget_ms: u64, offsets: Option<(i64, i64)> },
    /// The plugin asked for more memory than its limit.
    #[error("plugin {name} went over its memory limit of {limit_bytes} bytes{}", batch_offsets(*offsets))]
    OutOfMemory { name: String, limit_bytes: usize, offsets: Option<(i64, i64)> },
    /// The plugin trapped (a panic, an unreachable instruction, an out-of-bounds access).
    #[error("plugin {name} trapped{}: {message}", batch_offsets(*offsets))]
    Trap { name: String, message: String, offsets: Option<(i64, i64)> },
}

impl PluginError {
    /// The plugin's name; `None` for a failure of the host itself.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Self::Host { .. } => None,
            Self::Invalid { name, .. }
            | Self::WrongWorld { name, .. }
            | Self::Config { name, .. }
            | Self::Failed { name, .. }
            | Self::Timeout { name, .. }
            | Self::OutOfMemory { name, .. }
            | Self::Trap { name, .. } => Some(name),
        }
    }
}

fn record_at(offset: Option<i64>, index: Option<u32>) -> String {
    match (offset, index) {
        (Some(offset), _) => format!(" at offset {offset}"),
        (None, Some(index)) => format!(" at record {index} of the batch"),
        (None, None) => String::new(),
    }
}

fn batch_offsets(range: Option<(i64, i64)>) -> String {
    match range {
        Some((first, last)) if first == last => format!(" on the batch at offset {first}"),
        Some((first, last)) => format!(" on the batch of offsets {first}..={last}"),
        None => String::new(),
    }
}
