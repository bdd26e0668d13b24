//! Write a Fjord record transform in a few lines.
//!
//! ```ignore
//! use fjord_plugin_sdk::{Config, Output, Record, Transform};
//!
//! struct Upper;
//!
//! impl Transform for Upper {
//!     fn init(_config: &Config) -> Result<Self, String> {
//!         Ok(Upper)
//!     }
//!     fn process<'a>(&mut self, record: Record<'a>, out: &mut Vec<Output<'a>>) -> Result<(), String> {
//!         let output = Output::forward(record);
//!         out.push(match record.value {
//!             Some(value) => output.with_value(value.to_ascii_uppercase()),
//!             None => output,
//!         });
//!         Ok(())
//!     }
//! }
//!
//! fjord_plugin_sdk::transform!(Upper);
//! ```
//!
//! A [`Record`] borrows its batch and an [`Output`] borrows whatever it passes on unchanged
//! (`Output::forward` copies nothing), so a transform that changes one field pays for that
//! field alone.
//!
//! Build it as a WebAssembly component (`cargo build --target wasm32-wasip2 --release`, or
//! `wasm32-unknown-unknown` plus `wasm-tools component new`) and deploy the `.wasm` with
//! `fjord transform deploy`. Test it natively, without a cluster, with [`testing`].

mod columns;
mod config;
mod record;
pub mod json;
pub mod testing;

#[doc(hidden)]
pub mod glue;

pub use config::Config;
pub use record::{AddedHeader, HeaderIter, Headers, Output, Record};

/// A record transform. One value lives per plugin instance: `init` makes it from the
/// deployment's settings, then `process` is called for every record, in order.
pub trait Transform: Sized + 'static {
    /// Builds the transform from its settings; an error refuses the deployment.
    fn init(config: &Config) -> Result<Self, String>;

    /// Transforms one record, pushing zero or more records to `out`; they may borrow from the
    /// record. An error fails the batch, naming this record; what happens to it then is the
    /// deployment's choice (dead letter, skip, or stop).
    fn process<'a>(&mut self, record: Record<'a>, out: &mut Vec<Output<'a>>) -> Result<(), String>;
}

/// Exports `$t` (a [`Transform`]) as the plugin's `fjord:transform` world. Call it once, at
/// the crate's top level. Natively it exports nothing, so the crate's tests run on the host.
#[macro_export]
macro_rules! transform {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct FjordPluginExport;

            impl $crate::glue::bindings::Guest for FjordPluginExport {
                fn init(config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::glue::init::<$t>(config)
                }

                fn process(
                    batch: $crate::glue::bindings::fjord::transform::types::InputBatch,
                ) -> ::std::result::Result<
                    $crate::glue::bindings::fjord::transform::types::OutputBatch,
                    $crate::glue::bindings::fjord::transform::types::Error,
                > {
                    $crate::glue::process::<$t>(batch)
                }
            }

            $crate::glue::bindings::export!(FjordPluginExport with_types_in $crate::glue::bindings);
        };
    };
}
