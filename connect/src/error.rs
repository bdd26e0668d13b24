//! The crate's error type: what went wrong, in terms a connector's user can act on.

use std::path::PathBuf;

/// Errors of the connector runtime, its configs and its connectors.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A connector config that cannot be used: a missing or malformed setting.
    #[error("connector config: {0}")]
    Config(String),
    /// A config file that could not be read or parsed.
    #[error("config file {path}: {message}")]
    ConfigFile { path: PathBuf, message: String },
    /// No connector has this `connector.class`.
    #[error("unknown connector.class {0:?}; `fjord connect plugins` lists the classes this worker has")]
    UnknownClass(String),
    /// A record that a converter cannot turn into bytes, or bytes it cannot read.
    #[error("converter: {0}")]
    Conversion(String),
    /// A single message transform failed on a record.
    #[error("transform {name}: {message}")]
    Transform { name: String, message: String },
    /// The cluster refused or failed a request.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A file the runtime or a connector reads or writes.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A connector task failed; the message says why and what to check.
    #[error("{0}")]
    Task(String),
    /// No such connector (or task) here; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The connector exists already, or the request conflicts with its state.
    #[error("{0}")]
    Conflict(String),
}

impl ConnectError {
    /// The error for a connector name nothing runs under.
    pub(crate) fn no_connector(name: &str) -> Self {
        Self::NotFound(format!("Connector {name} not found"))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

/// The crate's result type.
pub type Result<T, E = ConnectError> = std::result::Result<T, E>;
