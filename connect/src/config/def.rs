//! Config definitions: every key a connector reads, with its type, default and meaning. One
//! definition serves three purposes — typed reading with clear errors ([`Settings`]), the
//! REST API's validate endpoint, and the documentation `fjord connect plugins` prints.

use std::collections::BTreeMap;

use crate::config::ConnectorConfig;
use crate::error::{ConnectError, Result};

/// The type of a setting, with Kafka's names for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    String,
    Int,
    Long,
    Boolean,
    /// Comma-separated values.
    List,
    /// A string that is never shown back.
    Password,
}

impl KeyType {
    /// Kafka Connect's name for the type (`STRING`, `INT`, ...).
    pub fn kafka_name(self) -> &'static str {
        match self {
            Self::String => "STRING",
            Self::Int => "INT",
            Self::Long => "LONG",
            Self::Boolean => "BOOLEAN",
            Self::List => "LIST",
            Self::Password => "PASSWORD",
        }
    }
}

/// How much a setting matters, as Kafka Connect grades them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    High,
    Medium,
    Low,
}

impl Importance {
    pub fn kafka_name(self) -> &'static str {
        match self {
            Self::High => "HIGH",
            Self::Medium => "MEDIUM",
            Self::Low => "LOW",
        }
    }
}

/// One setting.
#[derive(Debug, Clone)]
pub struct KeyDef {
    pub name: &'static str,
    pub kind: KeyType,
    /// The value used when the setting is absent; `None` with `required` means it must be set.
    pub default: Option<&'static str>,
    pub required: bool,
    pub importance: Importance,
    pub doc: &'static str,
    /// The only values allowed, when there is such a list.
    pub allowed: &'static [&'static str],
    pub group: &'static str,
}

impl KeyDef {
    /// A required setting.
    pub const fn required(name: &'static str, kind: KeyType, doc: &'static str) -> Self {
        Self { name, kind, default: None, required: true, importance: Importance::High, doc, allowed: &[], group: "Common" }
    }

    /// An optional setting with a default (`None`: absent means "not used").
    pub const fn optional(name: &'static str, kind: KeyType, default: Option<&'static str>, doc: &'static str) -> Self {
        Self { name, kind, default, required: false, importance: Importance::Medium, doc, allowed: &[], group: "Common" }
    }

    /// The same setting limited to `allowed` values.
    pub const fn one_of(mut self, allowed: &'static [&'static str]) -> Self {
        self.allowed = allowed;
        self
    }

    /// The same setting in another group of the validate answer.
    pub const fn in_group(mut self, group: &'static str) -> Self {
        self.group = group;
        self
    }

    /// Why `value` is not acceptable for this setting, if it is not.
    pub fn check(&self, value: &str) -> Option<String> {
        let v = value.trim();
        let bad_type = match self.kind {
            KeyType::Int => v.parse::<i32>().is_err(),
            KeyType::Long => v.parse::<i64>().is_err(),
            KeyType::Boolean => !matches!(v.to_ascii_lowercase().as_str(), "true" | "false"),
            KeyType::String | KeyType::List | KeyType::Password => false,
        };
        if bad_type {
            return Some(format!("Invalid value {value} for configuration {}: Not a {}", self.name, self.type_word()));
        }
        if !self.allowed.is_empty() && !self.allowed.contains(&v) {
            return Some(format!("Invalid value {value} for configuration {}: must be one of {}", self.name, self.allowed.join(", ")));
        }
        None
    }

    fn type_word(&self) -> &'static str {
        match self.kind {
            KeyType::Int => "number (int)",
            KeyType::Long => "number (long)",
            KeyType::Boolean => "boolean (true or false)",
            _ => "string",
        }
    }
}

/// The settings of one connector (its own keys; the runtime's common keys are added by
/// [`ConfigDef::with_common`]).
#[derive(Debug, Clone, Default)]
pub struct ConfigDef {
    pub keys: Vec<KeyDef>,
}

impl ConfigDef {
    pub fn new(keys: Vec<KeyDef>) -> Self {
        Self { keys }
    }

    /// The definition of `name`.
    pub fn key(&self, name: &str) -> Option<&KeyDef> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The errors of each key of this definition for `config` (empty list: fine).
    pub fn validate(&self, config: &ConnectorConfig) -> BTreeMap<&'static str, Vec<String>> {
        self.keys
            .iter()
            .map(|key| {
                let errors = match config.get(key.name) {
                    None if key.required => vec![format!("Missing required configuration \"{}\" which has no default value.", key.name)],
                    Some(v) if key.required && v.trim().is_empty() => vec![format!("Missing required configuration \"{}\" which has no default value.", key.name)],
                    None => Vec::new(),
                    Some(v) => key.check(v).into_iter().collect(),
                };
                (key.name, errors)
            })
            .collect()
    }

    /// Typed reading of `config` by this definition; fails on the first bad key.
    pub fn settings<'a>(&'a self, config: &'a ConnectorConfig) -> Result<Settings<'a>> {
        for (key, errors) in self.validate(config) {
            if let Some(first) = errors.into_iter().next() {
                return Err(ConnectError::Config(format!("{first} (key {key})")));
            }
        }
        Ok(Settings { def: self, config })
    }
}

/// A config read through its definition: values or defaults, already checked.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    def: &'a ConfigDef,
    config: &'a ConnectorConfig,
}

impl<'a> Settings<'a> {
    /// The value or the default; `None` when neither exists.
    pub fn string(&self, key: &str) -> Option<&'a str> {
        self.config.get(key).map(str::trim).or_else(|| self.def.key(key).and_then(|k| k.default))
    }

    /// A value that must be there (required keys, or keys with a default).
    pub fn require(&self, key: &str) -> Result<&'a str> {
        self.string(key).filter(|v| !v.is_empty()).ok_or_else(|| ConnectError::Config(format!("missing required setting {key:?}")))
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        Ok(self.string(key).is_some_and(|v| v.eq_ignore_ascii_case("true")))
    }

    pub fn long(&self, key: &str) -> Result<Option<i64>> {
        self.string(key)
            .map(|v| v.parse::<i64>().map_err(|_| ConnectError::Config(format!("{key} must be a whole number, got {v:?}"))))
            .transpose()
    }

    /// A comma-separated list, each element trimmed, empty elements dropped.
    pub fn list(&self, key: &str) -> Vec<&'a str> {
        self.string(key).map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    }
}
