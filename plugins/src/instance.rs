//! [`PluginInstance`]: one running instance of a plugin, its calls bounded in memory and time,
//! started afresh after any failure that may have left it broken.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::Store;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{GuestError, Transform};
use crate::records::{self, InputBatch, OutputRecord};
use crate::host::TICK;
use crate::limits::Limiter;
use crate::wasi::{self, CapturedStderr, StderrCapture};
use crate::{Grants, Plugin, PluginError};

/// What a plugin instance's store holds: its memory limiter and its WASI context (what its
/// grants let it reach).
pub struct InstanceState {
    limiter: Limiter,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
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
    /// What it may reach through WASI.
    grants: Grants,
    /// The plugin's stderr, when granted: shared by every instance this one starts.
    stderr: Option<StderrCapture>,
}

impl std::fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginInstance").field("plugin", &self.plugin.name()).field("grants", &self.grants).field("live", &self.live.is_some()).finish_non_exhaustive()
    }
}

impl PluginInstance {
    /// Instantiates `plugin` and calls its `init` with `config`; a configuration it refuses is
    /// [`PluginError::Config`]. It reaches nothing outside its memory ([`Grants::default`]).
    pub fn new(plugin: Arc<Plugin>, config: Vec<(String, String)>) -> Result<Self, PluginError> {
        Self::granted(plugin, config, Grants::default())
    }

    /// As [`new`](Self::new), the instance granted `grants`.
    pub fn granted(plugin: Arc<Plugin>, config: Vec<(String, String)>, grants: Grants) -> Result<Self, PluginError> {
        let stderr = grants.stderr.then(StderrCapture::default);
        let mut instance = Self { plugin, config, live: None, grants, stderr };
        instance.live = Some(instance.start(None)?);
        Ok(instance)
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// What the plugin wrote to stderr since the last call, when it is granted `stderr`
    /// (otherwise nothing is kept). Kept across failures: a panicking guest's message is here
    /// after its call fails.
    pub fn take_stderr(&self) -> CapturedStderr {
        self.stderr.as_ref().map(StderrCapture::take).unwrap_or_default()
    }

    /// Transforms one batch. The batch's offsets are named in any error; an error the plugin
    /// returns itself names the record at fault when the plugin says which.
    pub fn process(&mut self, batch: &InputBatch) -> Result<Vec<OutputRecord>, PluginError> {
        let records = &batch.records;
        let offsets = records.first().zip(records.last()).map(|(f, l)| (f.offset, l.offset));
        let name = self.plugin.name();
        let failed = |message: String, record_index: Option<u32>| {
            let offset = record_index.and_then(|i| records.get(i as usize)).map(|r| r.offset);
            PluginError::Failed { name: name.to_string(), message, record_index, offset }
        };
        let packed = records::pack(batch).map_err(|message| failed(message, None))?;
        // Taken out for the call and put back unless the call may have broken it.
        let mut live = match self.live.take() {
            Some(live) => live,
            None => self.start(offsets)?,
        };
        live.store.set_epoch_deadline(self.budget_ticks());
        match live.bindings.call_process(&mut live.store, &packed) {
            Ok(answer) => {
                self.live = Some(live);
                let outputs = answer.map_err(|GuestError { message, record_index }| failed(message, record_index))?;
                records::unpack(outputs).map_err(|m| {
                    let at = m.record.map(|i| format!("output record {i}: ")).unwrap_or_default();
                    failed(format!("the plugin answered with a malformed batch: {at}{}", m.reason), None)
                })
            }
            Err(error) => {
                let reported = classify(name, &live.store, self.plugin.limits(), error, offsets);
                tracing::warn!(plugin = name, error = %reported, "plugin instance failed; the next batch starts a new instance");
                Err(reported)
            }
        }
    }

    /// A new instance, instantiated and initialised.
    fn start(&self, offsets: Option<(i64, i64)>) -> Result<Live, PluginError> {
        let name = self.plugin.name();
        let limits = self.plugin.limits();
        let state = InstanceState {
            limiter: Limiter::new(limits.memory_bytes),
            wasi: wasi::context(self.grants, self.stderr.as_ref()),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(self.plugin.host().engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(self.budget_ticks());
        let bindings = match self.plugin.pre().instantiate(&mut store) {
            Ok(bindings) => bindings,
            Err(error) => return Err(classify(name, &store, limits, error, offsets)),
        };
        match bindings.call_init(&mut store, &self.config) {
            Ok(Ok(())) => Ok(Live { store, bindings }),
            Ok(Err(message)) => Err(PluginError::Config { name: name.to_string(), message }),
            Err(error) => Err(classify(name, &store, limits, error, offsets)),
        }
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
