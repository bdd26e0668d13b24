//! The config catalog: every topic config Kafka 4.0 accepts, the legacy ones Kafka 3.x took,
//! and every broker setting, each with its type, default, validity, documentation,
//! synonyms and how it may change at runtime — what DescribeConfigs reports and what
//! CreateTopics / AlterConfigs validate against. Kafka's names and rules; Fjord's wording.
//!
//! Conventions:
//! * `default: None` means the default is `null`: unset, falling back to a synonym, or (for
//!   `node.id`) required.
//!   `Some(s)` is the string DescribeConfigs prints for the default.
//! * Topic specs: `synonyms` are the broker keys that supply the topic's default, in precedence
//!   order (first one set wins); empty when the topic key has no broker default.
//! * Broker specs: `synonyms` is the list DescribeConfigs returns for the key (it includes the key
//!   itself), in Kafka's order, e.g. `log.retention.ms, log.retention.minutes, log.retention.hours`.
//! * Parsing follows Kafka's `ConfigDef.parseType`: values are trimmed (except PASSWORD), booleans are
//!   case-insensitive, lists split on commas with surrounding whitespace, `""` is the empty list.
//!   Enumerated strings are case-sensitive, as in Kafka.

use std::fmt;

/// Kafka `ConfigDef.Type` (every type listed, whether or not a catalogued key uses it).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigKind {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigKind {
    /// The `config_type` byte of DescribeConfigs v3+ (`ConfigEntry.ConfigType`).
    pub const fn describe_type(self) -> i8 {
        match self {
            ConfigKind::Boolean => 1,
            ConfigKind::String => 2,
            ConfigKind::Int => 3,
            ConfigKind::Short => 4,
            ConfigKind::Long => 5,
            ConfigKind::Double => 6,
            ConfigKind::List => 7,
            ConfigKind::Class => 8,
            ConfigKind::Password => 9,
        }
    }

}

/// Kafka `ConfigDef.Importance` (every level listed, whether or not a catalogued key uses it).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Importance {
    High,
    Medium,
    Low,
}

/// How a config may be changed at runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateMode {
    /// Broker config settable only in `server.properties`.
    ReadOnly,
    /// Broker config dynamically updatable, but only for a specific broker id.
    PerBroker,
    /// Broker config dynamically updatable at the cluster default (and per broker).
    ClusterWide,
    /// Topic config: set at creation or changed with (Incremental)AlterConfigs on the topic.
    PerTopic,
}

/// The value constraint Kafka applies (its `ConfigDef.Validator`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validity {
    /// No validator.
    Any,
    /// Integer ≥ the bound (`Range.atLeast`).
    AtLeast(i64),
    /// Integer in `[min, max]` (`Range.between`).
    Between(i64, i64),
    /// Double in `[min, max]`.
    DoubleBetween(f64, f64),
    /// `-1` or `1..=9` (gzip level validator).
    GzipLevel,
    /// One of these exact strings (`ValidString.in`, case-sensitive).
    OneOf(&'static [&'static str]),
    /// Every list item is one of these exact strings (`ValidList.in`); an empty list passes.
    ListOf(&'static [&'static str]),
    /// `*` or a list of `partition:broker` items (`ThrottledReplicaListValidator`).
    ThrottledReplicas,
}

/// One config key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfigSpec {
    pub name: &'static str,
    pub kind: ConfigKind,
    pub default: Option<&'static str>,
    pub valid: Validity,
    pub importance: Importance,
    pub doc: &'static str,
    pub synonyms: &'static [&'static str],
    pub update: UpdateMode,
}

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Boolean(bool),
    Int(i32),
    Short(i16),
    Long(i64),
    Double(f64),
    String(String),
    List(Vec<String>),
}

impl ConfigValue {
    /// The string DescribeConfigs would print (Kafka's `ConfigDef.convertToString`).
    pub fn to_kafka_string(&self) -> String {
        match self {
            ConfigValue::Boolean(b) => b.to_string(),
            ConfigValue::Int(v) => v.to_string(),
            ConfigValue::Short(v) => v.to_string(),
            ConfigValue::Long(v) => v.to_string(),
            ConfigValue::Double(v) => java_double_to_string(*v),
            ConfigValue::String(s) => s.clone(),
            ConfigValue::List(items) => items.join(","),
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(v) => Some(i64::from(*v)),
            ConfigValue::Short(v) => Some(i64::from(*v)),
            ConfigValue::Long(v) => Some(*v),
            _ => None,
        }
    }
}

/// Formats a double the way Java's `Double.toString` does (`0.5`, `1.0`, `1.7976931348623157E308`).
pub fn java_double_to_string(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".to_owned() } else { "-Infinity".to_owned() };
    }
    let abs = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&abs) {
        // Debug prints the shortest round-trip form and keeps a ".0" on whole numbers.
        return format!("{v:?}");
    }
    let sci = format!("{v:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    if mantissa.contains('.') {
        format!("{mantissa}E{exponent}")
    } else {
        format!("{mantissa}.0E{exponent}")
    }
}

/// A rejected config, worded like Kafka's `ConfigException` / `InvalidConfigurationException`.
/// Kafka answers these with error code INVALID_CONFIG (40).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub name: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(name: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        message: format!("Invalid value {value} for configuration {name}: {reason}"),
    }
}

impl ConfigSpec {
    /// Parses `raw` as Kafka would, without checking the validator.
    pub fn parse(&self, raw: &str) -> Result<ConfigValue, ConfigError> {
        let t = raw.trim();
        let num = |kind: &str| invalid(self.name, t, &format!("Not a number of type {kind}"));
        Ok(match self.kind {
            ConfigKind::Boolean => {
                if t.eq_ignore_ascii_case("true") {
                    ConfigValue::Boolean(true)
                } else if t.eq_ignore_ascii_case("false") {
                    ConfigValue::Boolean(false)
                } else {
                    return Err(invalid(self.name, t, "Expected value to be either true or false"));
                }
            }
            ConfigKind::Int => ConfigValue::Int(t.parse().map_err(|_| num("INT"))?),
            ConfigKind::Short => ConfigValue::Short(t.parse().map_err(|_| num("SHORT"))?),
            ConfigKind::Long => ConfigValue::Long(t.parse().map_err(|_| num("LONG"))?),
            ConfigKind::Double => ConfigValue::Double(t.parse().map_err(|_| num("DOUBLE"))?),
            ConfigKind::String | ConfigKind::Class => ConfigValue::String(t.to_owned()),
            ConfigKind::Password => ConfigValue::String(raw.to_owned()),
            ConfigKind::List => {
                if t.is_empty() {
                    ConfigValue::List(Vec::new())
                } else {
                    ConfigValue::List(t.split(',').map(|s| s.trim().to_owned()).collect())
                }
            }
        })
    }

    /// Parses and validates `raw`.
    pub fn validate(&self, raw: &str) -> Result<ConfigValue, ConfigError> {
        let value = self.parse(raw)?;
        let shown = value.to_kafka_string();
        let fail = |reason: String| Err(invalid(self.name, &shown, &reason));
        match self.valid {
            Validity::Any => {}
            Validity::AtLeast(min) => {
                if value.as_i64().is_some_and(|v| v < min) {
                    return fail(format!("Value must be at least {min}"));
                }
            }
            Validity::Between(min, max) => {
                if let Some(v) = value.as_i64() {
                    if v < min {
                        return fail(format!("Value must be at least {min}"));
                    }
                    if v > max {
                        return fail(format!("Value must be no more than {max}"));
                    }
                }
            }
            Validity::DoubleBetween(min, max) => {
                if let ConfigValue::Double(v) = value {
                    // Kafka lets NaN through; Fjord rejects it as well as out-of-range values.
                    if v.is_nan() || v < min {
                        return fail(format!("Value must be at least {}", java_double_to_string(min)));
                    }
                    if v > max {
                        return fail(format!("Value must be no more than {}", java_double_to_string(max)));
                    }
                }
            }
            Validity::GzipLevel => {
                if let Some(v) = value.as_i64()
                    && v != -1
                    && !(1..=9).contains(&v)
                {
                    return fail("Value must be between 1 and 9, or -1".to_owned());
                }
            }
            Validity::OneOf(allowed) => {
                if let ConfigValue::String(s) = &value
                    && !allowed.contains(&s.as_str())
                {
                    return fail(format!("String must be one of: {}", allowed.join(", ")));
                }
            }
            Validity::ListOf(allowed) => {
                if let ConfigValue::List(items) = &value
                    && let Some(bad) = items.iter().find(|i| !allowed.contains(&i.as_str()))
                {
                    return Err(invalid(self.name, bad, &format!("String must be one of: {}", allowed.join(", "))));
                }
            }
            Validity::ThrottledReplicas => {
                if let ConfigValue::List(items) = &value {
                    let wildcard = items.concat() == "*";
                    let replica_list = items.iter().all(|i| i.is_empty() || is_partition_broker(i));
                    if !(wildcard || replica_list) {
                        return fail(format!(
                            "{} must be the literal '*' or a list of replicas in the following format: \
                             [partitionId]:[brokerId],[partitionId]:[brokerId],...",
                            self.name
                        ));
                    }
                }
            }
        }
        Ok(value)
    }
}

fn is_partition_broker(item: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    item.split_once(':').is_some_and(|(p, b)| digits(p) && digits(b))
}


mod broker;
mod topic;

pub use broker::BROKER_CONFIGS;
pub use topic::{LegacyTopicConfig, LEGACY_TOPIC_CONFIGS, LEGACY_TOPIC_CONFIG_DETAILS, TOPIC_CONFIGS};


/// Looks up a topic config by name.
pub fn topic_config(name: &str) -> Option<&'static ConfigSpec> {
    TOPIC_CONFIGS.iter().find(|c| c.name == name)
}

/// Looks up a broker config by name.
pub fn broker_config(name: &str) -> Option<&'static ConfigSpec> {
    BROKER_CONFIGS.iter().find(|c| c.name == name)
}

/// Details of a topic config that 4.0 removed.
pub fn legacy_topic_config(name: &str) -> Option<&'static LegacyTopicConfig> {
    LEGACY_TOPIC_CONFIG_DETAILS.iter().find(|c| c.name == name)
}






#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn topic_table_is_complete_and_consistent() {
        assert_eq!(TOPIC_CONFIGS.len(), 33);
        let names: HashSet<_> = TOPIC_CONFIGS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), TOPIC_CONFIGS.len(), "duplicate topic config");
        let mut sorted: Vec<_> = TOPIC_CONFIGS.iter().map(|c| c.name).collect();
        sorted.sort_unstable();
        assert_eq!(sorted, TOPIC_CONFIGS.iter().map(|c| c.name).collect::<Vec<_>>());
        for c in TOPIC_CONFIGS {
            let d = c.default.expect("every topic config has a default");
            let v = c.validate(d).unwrap_or_else(|e| panic!("{}: default fails: {e}", c.name));
            assert_eq!(v.to_kafka_string(), d, "{} default round-trips", c.name);
            for syn in c.synonyms {
                assert!(broker_config(syn).is_some(), "{} synonym {syn} missing from BROKER_CONFIGS", c.name);
            }
            assert_eq!(c.update, UpdateMode::PerTopic);
        }
        for legacy in LEGACY_TOPIC_CONFIGS {
            assert!(topic_config(legacy).is_none());
            assert!(legacy_topic_config(legacy).is_some());
        }
    }

    #[test]
    fn broker_table_is_consistent() {
        let names: HashSet<_> = BROKER_CONFIGS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), BROKER_CONFIGS.len(), "duplicate broker config");
        for c in BROKER_CONFIGS {
            assert!(c.synonyms.contains(&c.name), "{} lists itself", c.name);
            if let Some(d) = c.default {
                c.validate(d).unwrap_or_else(|e| panic!("{}: default fails: {e}", c.name));
            }
        }
    }

    #[test]
    fn validation_matches_kafka() {
        let ratio = topic_config("min.cleanable.dirty.ratio").unwrap();
        assert!(ratio.validate("1.5").is_err());
        assert_eq!(ratio.validate(" 0.25 ").unwrap(), ConfigValue::Double(0.25));
        let gzip = topic_config("compression.gzip.level").unwrap();
        assert!(gzip.validate("-1").is_ok() && gzip.validate("9").is_ok());
        assert!(gzip.validate("0").is_err() && gzip.validate("10").is_err());
        let ts = topic_config("message.timestamp.type").unwrap();
        assert!(ts.validate("logappendtime").is_err());
        let policy = topic_config("cleanup.policy").unwrap();
        assert_eq!(
            policy.validate("compact, delete").unwrap(),
            ConfigValue::List(vec!["compact".into(), "delete".into()])
        );
        assert!(policy.validate("compact,foo").is_err());
        let thr = topic_config("leader.replication.throttled.replicas").unwrap();
        assert!(thr.validate("*").is_ok() && thr.validate("0:1, 1:2").is_ok() && thr.validate("").is_ok());
        assert!(thr.validate("0-1").is_err());
        let pre = topic_config("preallocate").unwrap();
        assert_eq!(pre.validate("TRUE").unwrap(), ConfigValue::Boolean(true));
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double_to_string(0.5), "0.5");
        assert_eq!(java_double_to_string(1.0), "1.0");
        assert_eq!(java_double_to_string(0.9), "0.9");
        assert_eq!(java_double_to_string(f64::MAX), "1.7976931348623157E308");
        assert_eq!(java_double_to_string(1e7), "1.0E7");
        assert_eq!(java_double_to_string(1e-4), "1.0E-4");
    }
}
