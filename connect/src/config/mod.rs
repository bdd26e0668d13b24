//! Connector configs: the flat string map Kafka Connect uses (`name`, `connector.class`,
//! `tasks.max`, converter and transform settings, and the connector's own keys), read from
//! files ([`file`]), described and checked by definitions ([`def`]), and with secrets taken
//! from the environment or files only when a task starts ([`secrets`]).
//!
//! A config is kept as the user wrote it, placeholders included: that is what the REST API
//! returns and what is stored, so a resolved secret is never echoed or written anywhere.

pub mod def;
pub mod file;
pub mod secrets;

use std::collections::BTreeMap;

use crate::error::{ConnectError, Result};

/// One connector's configuration as written: string keys to string values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ConnectorConfig {
    entries: BTreeMap<String, String>,
}

impl ConnectorConfig {
    /// A config from its entries; `name` and `connector.class` must be among them.
    pub fn new(entries: BTreeMap<String, String>) -> Result<Self> {
        let config = Self { entries };
        for key in ["name", "connector.class"] {
            if config.get(key).is_none_or(|v| v.trim().is_empty()) {
                return Err(ConnectError::Config(format!("missing required setting {key:?}")));
            }
        }
        Ok(config)
    }

    /// The same entries without the checks of [`ConnectorConfig::new`] (for validation, which
    /// reports missing keys itself).
    pub fn unchecked(entries: BTreeMap<String, String>) -> Self {
        Self { entries }
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        self.get("name").unwrap_or_default()
    }

    /// The `connector.class` setting as written.
    pub fn class(&self) -> &str {
        self.get("connector.class").unwrap_or_default()
    }

    /// A setting, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Every entry.
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.entries
    }

    /// The entries whose keys start with `prefix`, with the prefix taken off.
    pub fn with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest.to_string(), v.clone())))
            .collect()
    }

    /// A copy with `key` set to `value`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.entries.insert(key.to_string(), value.into());
        self
    }

    /// `tasks.max` (default 1).
    pub fn tasks_max(&self) -> Result<usize> {
        match self.get("tasks.max") {
            None => Ok(1),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(ConnectError::Config(format!("tasks.max must be a whole number of at least 1, got {v:?}"))),
            },
        }
    }
}
