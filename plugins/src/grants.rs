//! [`Grants`]: what outside the sandbox a deployment lets its plugin reach.

/// What a plugin instance may reach beyond its own memory
/// ([`crate::PluginInstance::granted`]). Nothing by default: plugins built for WASI
/// (`wasm32-wasip2`) load and run, but their files, network, environment and arguments are
/// empty, stdout is discarded, and stderr and the clocks are given only when granted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    /// What the plugin writes to stderr is kept (for its log; see
    /// [`crate::PluginInstance::take_stderr`]). Without it, stderr is discarded.
    pub stderr: bool,
    /// The wall clock and the monotonic clock tell the time. Without it, both read zero
    /// (the Unix epoch).
    pub clock: bool,
}

impl Grants {
    /// Every grant's name, as deployments spell them.
    pub const NAMES: [&'static str; 2] = ["stderr", "clock"];

    /// Grants from their names (`stderr`, `clock`); an unknown name is an error naming the
    /// known ones.
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut grants = Self::default();
        for name in names {
            match name.as_ref() {
                "stderr" => grants.stderr = true,
                "clock" => grants.clock = true,
                other => return Err(format!("unknown grant {other:?}: a plugin may be granted {}", Self::NAMES.join(", "))),
            }
        }
        Ok(grants)
    }

    /// The names of what is granted.
    pub fn names(&self) -> Vec<&'static str> {
        [(self.stderr, "stderr"), (self.clock, "clock")].into_iter().filter(|(on, _)| *on).map(|(_, name)| name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Grants;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        let grants = Grants::from_names(["clock", "stderr"]).unwrap_or_default();
        assert_eq!(grants, Grants { stderr: true, clock: true });
        assert_eq!(grants.names(), ["stderr", "clock"]);
        assert_eq!(Grants::from_names(Vec::<String>::new()), Ok(Grants::default()));
        let error = Grants::from_names(["network"]).unwrap_err();
        assert!(error.contains("network") && error.contains("stderr, clock"), "{error}");
    }
}
