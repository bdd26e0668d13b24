//! The connectors this build has, in one table: class name and aliases, kind, config
//! definition, how a config splits into task configs, and how a task starts.

use crate::config::ConnectorConfig;
use crate::config::def::{ConfigDef, KeyDef, KeyType};
use crate::connector::{BoxFuture, ConnectorKind, SinkTask, SourceTask, TaskContext};
use crate::connectors::{file_sink, file_source, postgres_cdc, postgres_sink, postgres_source};
use crate::error::{ConnectError, Result};

/// Starts a source task from its context.
pub type StartSource = fn(TaskContext) -> BoxFuture<'static, Result<Box<dyn SourceTask>>>;
/// Starts a sink task from its context.
pub type StartSink = fn(TaskContext) -> BoxFuture<'static, Result<Box<dyn SinkTask>>>;

/// How a connector's task starts.
#[derive(Debug, Clone, Copy)]
pub enum TaskStarter {
    Source(StartSource),
    Sink(StartSink),
}

/// One connector type.
#[derive(Debug)]
pub struct ConnectorPlugin {
    pub class: &'static str,
    /// Other names `connector.class` may use (Kafka Connect's class names).
    pub aliases: &'static [&'static str],
    pub kind: ConnectorKind,
    pub version: &'static str,
    /// The connector's own settings (the runtime's are in [`common_definition`]).
    pub definition: fn() -> ConfigDef,
    /// The task configs for at most `max` tasks.
    pub task_configs: fn(&ConnectorConfig, usize) -> Result<Vec<ConnectorConfig>>,
    pub start: TaskStarter,
    /// A sink that stores its consumed offsets with the data it writes (exactly once); its
    /// consumer group's offsets are not where it resumes from.
    pub keeps_own_offsets: bool,
}

impl ConnectorPlugin {
    /// The connector's definition together with the runtime's common settings.
    pub fn full_definition(&self) -> ConfigDef {
        let mut def = common_definition(self.kind);
        def.keys.extend((self.definition)().keys);
        def
    }
}

static PLUGINS: [ConnectorPlugin; 5] = [file_source::PLUGIN, file_sink::PLUGIN, postgres_sink::PLUGIN, postgres_source::PLUGIN, postgres_cdc::PLUGIN];

/// Every connector type this build has.
pub fn plugins() -> &'static [ConnectorPlugin] {
    &PLUGINS
}

/// The connector type `class` names (its name or an alias).
pub fn find(class: &str) -> Result<&'static ConnectorPlugin> {
    let class = class.trim();
    PLUGINS
        .iter()
        .find(|p| p.class == class || p.aliases.contains(&class))
        .ok_or_else(|| ConnectError::UnknownClass(class.to_string()))
}

/// `max` tasks with the same config (sinks whose tasks share the topics' partitions through
/// their consumer group).
pub fn copies(config: &ConnectorConfig, max: usize) -> Result<Vec<ConnectorConfig>> {
    Ok(vec![config.clone(); max.max(1)])
}

/// One task config, for connectors that run a single task.
pub fn single_task(config: &ConnectorConfig, _max: usize) -> Result<Vec<ConnectorConfig>> {
    Ok(vec![config.clone()])
}

const CONVERTERS: &[&str] = &[
    "json",
    "string",
    "bytes",
    "org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.storage.StringConverter",
    "org.apache.kafka.connect.converters.ByteArrayConverter",
];

/// The settings every connector takes.
pub fn common_definition(kind: ConnectorKind) -> ConfigDef {
    let mut keys = vec![
        KeyDef::required("name", KeyType::String, "Globally unique name to use for this connector."),
        KeyDef::required("connector.class", KeyType::String, "Name of the connector type: file-source, file-sink (or Kafka Connect's class names for them)."),
        KeyDef::optional("tasks.max", KeyType::Int, Some("1"), "Maximum number of tasks to use for this connector."),
        KeyDef::optional("key.converter", KeyType::String, None, "How record keys are written: json, string or bytes (default: the worker's, json).").one_of(CONVERTERS),
        KeyDef::optional("value.converter", KeyType::String, None, "How record values are written: json, string or bytes (default: the worker's, json).").one_of(CONVERTERS),
        KeyDef::optional("key.converter.schemas.enable", KeyType::Boolean, Some("true"), "With the json converter: keys carry the {schema, payload} envelope."),
        KeyDef::optional("value.converter.schemas.enable", KeyType::Boolean, Some("true"), "With the json converter: values carry the {schema, payload} envelope."),
    ];
    keys.extend([
        KeyDef::optional("transforms", KeyType::List, None, "Single message transforms to apply, in order (each configured as transforms.NAME.type and its settings).").in_group("Transforms"),
        KeyDef::optional("predicates", KeyType::List, None, "Predicates that transforms.NAME.predicate may name (predicates.NAME.type and its settings).").in_group("Predicates"),
        KeyDef::optional("errors.tolerance", KeyType::String, Some("none"), "none: a record that cannot be converted or transformed fails the task; all: it is skipped (or sent to the dead letter topic).")
            .one_of(&["none", "all"])
            .in_group("Error Handling"),
        KeyDef::optional("errors.deadletterqueue.topic.name", KeyType::String, None, "With errors.tolerance=all: the topic failed records are written to, with __connect.errors.* headers.").in_group("Error Handling"),
        KeyDef::optional("errors.log.enable", KeyType::Boolean, Some("false"), "Log each skipped record.").in_group("Error Handling"),
        KeyDef::optional("errors.retry.timeout", KeyType::Long, Some("0"), "How long (ms) a failing put, flush or poll is retried before the task fails; -1: for ever.").in_group("Error Handling"),
        KeyDef::optional("errors.retry.delay.max.ms", KeyType::Long, Some("60000"), "The longest wait between retries.").in_group("Error Handling"),
    ]);
    if kind == ConnectorKind::Sink {
        keys.push(KeyDef::optional("topics", KeyType::List, None, "The topics to read, comma-separated (or topics.regex)."));
        keys.push(KeyDef::optional("topics.regex", KeyType::String, None, "A regular expression naming the topics to read (instead of topics)."));
    }
    ConfigDef::new(keys)
}
