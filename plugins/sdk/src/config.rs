//! [`Config`]: a transform's settings, as `--config key=value` gave them.

/// A transform's settings, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// Settings from pairs.
    pub fn new(entries: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) -> Self {
        Self { entries: entries.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// The value of `key` (the last one, if given more than once).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an error naming it.
    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key).ok_or_else(|| format!("the setting {key:?} is required (--config {key}=...)"))
    }

    /// Every setting, in order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }
}
