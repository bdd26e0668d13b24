//! [`Plugin`]: a compiled, checked plugin, ready to be instantiated cheaply.

use wasmtime::component::Component;

use crate::bindings::TransformPre;
use crate::instance::InstanceState;
use crate::{PluginError, PluginHost, PluginLimits};

/// A plugin compiled for this host and checked against the `fjord:transform` world: it is a
/// component, it imports nothing but WASI 0.2, and it exports `init` and `process` with the
/// world's types. Instances are cheap to make from it; what each reaches through WASI is its
/// [`crate::Grants`]' choice.
pub struct Plugin {
    name: String,
    limits: PluginLimits,
    pre: TransformPre<InstanceState>,
    host: PluginHost,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("name", &self.name).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Plugin {
    /// Compiles `bytes` (a WebAssembly component, binary or text) as the plugin `name`. Fails
    /// with [`PluginError::Invalid`] for anything that is not a component and
    /// [`PluginError::WrongWorld`] for a component this host cannot run as a transform.
    pub fn compile(host: &PluginHost, name: &str, bytes: &[u8], limits: PluginLimits) -> Result<Self, PluginError> {
        let invalid = |reason: String| PluginError::Invalid { name: name.to_string(), reason };
        let wrong_world = |reason: String| PluginError::WrongWorld { name: name.to_string(), reason };
        if bytes.starts_with(b"\0asm") && bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(invalid(
                "this is a core WebAssembly module, not a component; wrap it with `wasm-tools component new`, or build for wasm32-wasip2".into(),
            ));
        }
        let component = Component::new(host.engine(), bytes).map_err(|e| invalid(format!("{e:#}")))?;
        let pre = host.linker().instantiate_pre(&component).map_err(|e| wrong_world(format!("{e:#} (a plugin may import only WASI 0.2 interfaces, and reaches through them only what its deployment grants)")))?;
        let pre = TransformPre::new(pre).map_err(|e| wrong_world(format!("{e:#}")))?;
        Ok(Self { name: name.to_string(), limits, pre, host: host.clone() })
    }

    /// The plugin's name, as errors report it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What each instance may use.
    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    pub(crate) fn pre(&self) -> &TransformPre<InstanceState> {
        &self.pre
    }

    pub(crate) fn host(&self) -> &PluginHost {
        &self.host
    }
}
