//! [`PluginHost`]: the engine every plugin is compiled with, and the timer that bounds calls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

use crate::instance::InstanceState;

/// How often the epoch advances: the granularity of every plugin's CPU budget.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// The wasmtime engine plugins run on, with a thread ticking its epoch so that a call past
/// its budget is interrupted. One per process is enough; cloning shares it. The ticker stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct PluginHost {
    engine: Engine,
    linker: Arc<Linker<InstanceState>>,
    _ticker: Arc<Ticker>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").finish_non_exhaustive()
    }
}

impl PluginHost {
    /// A host with the component model enabled and epoch interruption on, compiling every
    /// plugin anew. With `FJORD_PLUGIN_PERFMAP=1` in the environment, compiled plugin code is
    /// listed in `/tmp/perf-PID.map`, so `perf record`/`perf report` name plugin functions.
    pub fn new() -> Result<Self, crate::PluginError> {
        Self::build(None)
    }

    /// As [`new`](Self::new), keeping compiled plugins in `dir` (keyed by a hash of the
    /// plugin's bytes and the engine's settings), so that a plugin seen before — by this
    /// process or an earlier one — loads without compiling.
    pub fn with_compile_cache(dir: impl Into<std::path::PathBuf>) -> Result<Self, crate::PluginError> {
        Self::build(Some(dir.into()))
    }

    fn build(cache_dir: Option<std::path::PathBuf>) -> Result<Self, crate::PluginError> {
        let host_error = |reason: String| crate::PluginError::Host { reason };
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // `perf record` can name plugin functions when the JIT writes /tmp/perf-PID.map.
        if std::env::var_os("FJORD_PLUGIN_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(&dir);
            let cache = wasmtime::Cache::new(cache).map_err(|e| host_error(format!("cannot use {} as the compiled-plugin cache: {e:#}", dir.display())))?;
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config).map_err(|e| host_error(format!("cannot start the WebAssembly engine: {e}")))?;
        // WASI and nothing else; what an instance reaches through it is its grants' choice.
        let mut linker = Linker::new(&engine);
        crate::wasi::link(&mut linker).map_err(|e| host_error(format!("cannot link WASI for plugins: {e:#}")))?;
        let linker = Arc::new(linker);
        let ticker = Ticker::start(engine.clone())
            .map_err(|e| host_error(format!("cannot start the plugin epoch timer: {e}")))?;
        let ticker = Arc::new(ticker);
        Ok(Self { engine, linker, _ticker: ticker })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<InstanceState> {
        &self.linker
    }
}

/// The epoch timer thread; stops when dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::Builder::new().name("fjord-plugin-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(Self { stop })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
