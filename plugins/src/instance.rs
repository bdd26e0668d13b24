//! [`PluginInstance`]: one running instance of a plugin, its calls bounded in memory and time,
//! started afresh after any failure that may have left it broken.

use std::sync::Arc;

use wasmtime::Store;

use crate::bindings::{GuestError, InputRecord, OutputRecord, Transform};
use crate::host::TICK;
use crate::limits::Limiter;
use crate::{Plugin, PluginError};

/// What a plugin instance's store holds: its memory limiter.
pub struct InstanceState {
    limiter: Limiter,
}

/// A live instance and its store.
struct Live {
    store: Store<InstanceState>,
    bindings: Transform,
}

/// One instance of a [`Plugin`], initialised with its configuration. Calls are synchronous:
/// run them off async workers. After a trap, a timeout or running out of memory the instance
/// is dropped and the next call starts (and initialises) a new one.
pub struct PluginInstance {
    plugin: Arc<Plugin>,
    config: Vec<(String, String)>,
    live: Option<Live>,
}

impl std::fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginInstance").field("plugin", &self.plugin.name()).field("live", &self.live.is_some()).finish_non_exhaustive()
    }
}

impl PluginInstance {
    /// Instantiates `plugin` and calls its `init` with `config`; a configuration it refuses is
    /// [`PluginError::Config`].
    pub fn new(plugin: Arc<Plugin>, config: Vec<(String, String)>) -> Result<Self, PluginError> {
        let mut instance = Self { plugin, config, live: None };
        instance.ensure_live(None)?;
        Ok(instance)
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// Transforms one batch. The batch's offsets are named in any error; an error the plugin
    /// returns itself names the record at fault when the plugin says which.
    pub fn process(&mut self, records: &[InputRecord]) -> Result<Vec<OutputRecord>, PluginError> {
        let offsets = records.first().zip(records.last()).map(|(f, l)| (f.offset, l.offset));
        self.ensure_live(offsets)?;
        let name = self.plugin.name().to_string();
        let budget = self.budget_ticks();
        let Some(live) = self.live.as_mut() else {
            return Err(PluginError::Trap { name, message: "no instance".into(), offsets });
        };
        live.store.set_epoch_deadline(budget);
        match live.bindings.call_process(&mut live.store, records) {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(GuestError { message, record_index })) => {
                let offset = record_index.and_then(|i| records.get(i as usize)).map(|r| r.offset);
                Err(PluginError::Failed { name, message, record_index, offset })
            }
            Err(error) => Err(self.broken(error, offsets)),
        }
    }

    /// Makes sure an instance is live, instantiating and initialising one if needed.
    fn ensure_live(&mut self, offsets: Option<(i64, i64)>) -> Result<(), PluginError> {
        if self.live.is_some() {
            return Ok(());
        }
        let name = self.plugin.name().to_string();
        let limits = self.plugin.limits();
        let mut store = Store::new(self.plugin.host().engine(), InstanceState { limiter: Limiter::new(limits.memory_bytes) });
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(self.budget_ticks());
        let bindings = match self.plugin.pre().instantiate(&mut store) {
            Ok(bindings) => bindings,
            Err(error) => return Err(classify(&name, &store, limits, error, offsets)),
        };
        match bindings.call_init(&mut store, &self.config) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(PluginError::Config { name, message }),
            Err(error) => return Err(classify(&name, &store, limits, error, offsets)),
        }
        self.live = Some(Live { store, bindings });
        Ok(())
    }

    /// The instance failed in a way that may have broken it: it is dropped, and the error
    /// says why.
    fn broken(&mut self, error: wasmtime::Error, offsets: Option<(i64, i64)>) -> PluginError {
        let name = self.plugin.name();
        let limits = self.plugin.limits();
        let reported = match &self.live {
            Some(live) => classify(name, &live.store, limits, error, offsets),
            None => PluginError::Trap { name: name.to_string(), message: format!("{error:#}"), offsets },
        };
        tracing::warn!(plugin = name, error = %reported, "plugin instance failed; the next batch starts a new instance");
        self.live = None;
        reported
    }

    fn budget_ticks(&self) -> u64 {
        self.plugin.limits().call_budget_ms.div_ceil(TICK.as_millis() as u64).max(1)
    }
}

/// Names what stopped a call: the CPU budget, the memory limit, or another trap.
fn classify(name: &str, store: &Store<InstanceState>, limits: crate::PluginLimits, error: wasmtime::Error, offsets: Option<(i64, i64)>) -> PluginError {
    let name = name.to_string();
    if matches!(error.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt)) {
        return PluginError::Timeout { name, budget_ms: limits.call_budget_ms, offsets };
    }
    if store.data().limiter.refused {
        return PluginError::OutOfMemory { name, limit_bytes: limits.memory_bytes, offsets };
    }
    PluginError::Trap { name, message: format!("{error:#}"), offsets }
}
