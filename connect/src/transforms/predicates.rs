//! Predicates that limit a transform to some records (`transforms.X.predicate=NAME`, with
//! `negate=true` for the rest), and the Filter transform that drops what it is applied to:
//! `topic-name-matches` (`pattern`, a regular expression over the whole topic name),
//! `has-header-key` (`name`), `record-is-tombstone`.

use std::collections::BTreeMap;

use crate::config::ConnectorConfig;
use crate::error::{ConnectError, Result};
use crate::record::Record;
use crate::transforms::{Position, Transform};

/// A test on a record.
#[derive(Debug, Clone)]
pub enum Predicate {
    TopicNameMatches(regex::Regex),
    HasHeaderKey(String),
    RecordIsTombstone,
}

impl Predicate {
    pub fn test(&self, record: &Record) -> bool {
        match self {
            Self::TopicNameMatches(regex) => regex.is_match(&record.topic),
            Self::HasHeaderKey(name) => record.headers.iter().any(|(n, _)| n == name),
            Self::RecordIsTombstone => record.value.is_null(),
        }
    }
}

/// The predicates `config` defines, by name.
pub fn from_config(config: &ConnectorConfig) -> Result<BTreeMap<String, Predicate>> {
    let mut predicates = BTreeMap::new();
    for name in config.get("predicates").unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let settings = config.with_prefix(&format!("predicates.{name}."));
        let get = |key: &str| settings.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let class = get("type").ok_or_else(|| ConnectError::Config(format!("predicates.{name}.type is required")))?;
        let predicate = match class.trim_start_matches("org.apache.kafka.connect.transforms.predicates.") {
            "topic-name-matches" | "TopicNameMatches" => {
                let pattern = get("pattern").ok_or_else(|| ConnectError::Config(format!("predicates.{name}.pattern is required")))?;
                let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| ConnectError::Config(format!("predicates.{name}.pattern: {e}")))?;
                Predicate::TopicNameMatches(regex)
            }
            "has-header-key" | "HasHeaderKey" => Predicate::HasHeaderKey(get("name").ok_or_else(|| ConnectError::Config(format!("predicates.{name}.name is required")))?),
            "record-is-tombstone" | "RecordIsTombstone" => Predicate::RecordIsTombstone,
            other => {
                return Err(ConnectError::Config(format!(
                    "predicates.{name}.type {other:?} is not a known predicate; use topic-name-matches, has-header-key or record-is-tombstone"
                )));
            }
        };
        predicates.insert(name.to_string(), predicate);
    }
    Ok(predicates)
}

/// Filter: drops every record it is applied to (limit it with a predicate).
#[derive(Debug)]
pub struct Filter;

impl Transform for Filter {
    fn apply(&self, _: Record, _: Position) -> Result<Option<Record>, String> {
        Ok(None)
    }
}
