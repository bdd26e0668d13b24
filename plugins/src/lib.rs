//! Fjord's WebAssembly plugin host. A plugin is a WebAssembly component implementing the
//! `fjord:transform` world (`plugins/wit/transform.wit`): `init` with the deployment's
//! settings, then `process` on batches of records, returning the records to write. The host
//! knows nothing of Kafka: brokers, connectors and SQL all call plugins through it.
//!
//! ```text
//!  PluginHost (engine, epoch ticker) ─► Plugin::compile (valid component? the right world?
//!                                        imports nothing the host does not give)
//!                                         │ InstancePre: instantiating is cheap
//!                                         ▼
//!                                       PluginInstance::process(batch) ─► records out
//!                                         memory cap (ResourceLimiter), CPU budget per call
//!                                         (epoch deadline); after a trap, a timeout or running
//!                                         out of memory the next call starts a fresh instance
//! ```
//!
//! A plugin may import WASI 0.2 (so components built for `wasm32-wasip2` run) and nothing
//! else, but reaches no filesystem, network, environment or clock through it, and its stderr
//! is discarded, unless its [`Grants`] say otherwise (`wasi.rs`).

mod bindings;
mod error;
mod grants;
mod host;
mod instance;
mod limits;
mod plugin;
mod records;
mod wasi;

pub use records::{Header, InputBatch, InputRecord, OutputRecord};
pub use error::PluginError;
pub use grants::Grants;
pub use host::PluginHost;
pub use instance::PluginInstance;
pub use limits::PluginLimits;
pub use plugin::Plugin;
pub use wasi::{CapturedStderr, STDERR_BYTES};
