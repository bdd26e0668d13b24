//! What happens to a record that cannot be converted or transformed — Kafka Connect's
//! `errors.*` settings, for sources as well as sinks:
//!
//! - `errors.tolerance=none` (default): the task fails (and is restarted with backoff).
//! - `errors.tolerance=all`: the record is skipped (logged with `errors.log.enable=true`),
//!   and with `errors.deadletterqueue.topic.name` written to that topic as it was, with headers
//!   saying where it came from and what failed (`__connect.errors.*`, Kafka Connect's names;
//!   for a source record the source partition and offset as JSON).
//! - `errors.retry.timeout` (ms, default 0; -1 for ever) retries a failing put, flush or poll —
//!   a database briefly away — with backoff up to `errors.retry.delay.max.ms` before failing.

use std::time::Duration;

use crate::config::ConnectorConfig;
use crate::error::{ConnectError, Result};
use crate::record::Header;

/// A connector's error handling.
#[derive(Debug, Clone)]
pub(crate) struct ErrorPolicy {
    pub tolerate_all: bool,
    pub dead_letter_topic: Option<String>,
    pub log: bool,
    /// `None`: retry for ever.
    pub retry_timeout: Option<Duration>,
    pub retry_max_delay: Duration,
}

/// Where a failure happened, in Kafka Connect's stage names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    KeyConverter,
    ValueConverter,
    Transformation,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Self::KeyConverter => "KEY_CONVERTER",
            Self::ValueConverter => "VALUE_CONVERTER",
            Self::Transformation => "TRANSFORMATION",
        }
    }
}

impl ErrorPolicy {
    pub fn from_config(config: &ConnectorConfig) -> Result<Self> {
        let tolerate_all = match config.get("errors.tolerance").map(str::trim) {
            None | Some("none") => false,
            Some("all") => true,
            Some(other) => return Err(ConnectError::Config(format!("errors.tolerance must be none or all, got {other:?}"))),
        };
        let millis = |key: &str, default: i64| -> Result<i64> {
            config.get(key).map_or(Ok(default), |v| v.trim().parse::<i64>().map_err(|_| ConnectError::Config(format!("{key} must be a number of milliseconds, got {v:?}"))))
        };
        let retry_timeout = match millis("errors.retry.timeout", 0)? {
            -1 => None,
            ms if ms >= 0 => Some(Duration::from_millis(ms.unsigned_abs())),
            ms => return Err(ConnectError::Config(format!("errors.retry.timeout must be -1 (for ever) or at least 0, got {ms}"))),
        };
        let retry_max_delay = Duration::from_millis(millis("errors.retry.delay.max.ms", 60_000)?.max(1).unsigned_abs());
        let dead_letter_topic = config.get("errors.deadletterqueue.topic.name").map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
        if dead_letter_topic.is_some() && !tolerate_all {
            return Err(ConnectError::Config("errors.deadletterqueue.topic.name needs errors.tolerance=all (with none, a bad record fails the task)".into()));
        }
        let log = config.get("errors.log.enable").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Self { tolerate_all, dead_letter_topic, log, retry_timeout, retry_max_delay })
    }

    /// A retry loop for `what`: call [`Retry::after`] with each failure.
    pub fn retry(&self, what: &'static str) -> Retry<'_> {
        Retry { policy: self, what, started: std::time::Instant::now(), delay: Duration::from_millis(300) }
    }
}

/// Retrying one operation under `errors.retry.timeout`.
#[derive(Debug)]
pub(crate) struct Retry<'a> {
    policy: &'a ErrorPolicy,
    what: &'static str,
    started: std::time::Instant,
    delay: Duration,
}

impl Retry<'_> {
    /// Waits before the next attempt, or gives the error back when it is out of time or
    /// cannot be fixed by retrying.
    pub async fn after(&mut self, error: ConnectError) -> Result<()> {
        let out_of_time = self.policy.retry_timeout.is_some_and(|limit| self.started.elapsed() + self.delay > limit);
        if out_of_time || is_permanent(&error) {
            return Err(error);
        }
        tracing::warn!(error = %error, retry_in = ?self.delay, "{} failed; retrying (errors.retry.timeout)", self.what);
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(self.policy.retry_max_delay);
        Ok(())
    }
}

/// Errors no retry can fix.
fn is_permanent(e: &ConnectError) -> bool {
    matches!(e, ConnectError::Config(_) | ConnectError::UnknownClass(_) | ConnectError::Conversion(_) | ConnectError::Transform { .. })
}

/// The headers of a dead letter: what failed, where, and where the record came from.
pub(crate) fn dead_letter_headers(connector: &str, task: usize, stage: Stage, error: &ConnectError, origin: &[(&str, String)]) -> Vec<Header> {
    let mut headers: Vec<Header> = vec![
        ("__connect.errors.connector.name".into(), Some(connector.as_bytes().to_vec())),
        ("__connect.errors.task.id".into(), Some(task.to_string().into_bytes())),
        ("__connect.errors.stage".into(), Some(stage.name().as_bytes().to_vec())),
        ("__connect.errors.exception.class.name".into(), Some(error_class(error).as_bytes().to_vec())),
        ("__connect.errors.exception.message".into(), Some(error.to_string().into_bytes())),
    ];
    for (name, value) in origin {
        headers.push((format!("__connect.errors.{name}"), Some(value.clone().into_bytes())));
    }
    headers
}

fn error_class(error: &ConnectError) -> &'static str {
    match error {
        ConnectError::Conversion(_) => "org.apache.kafka.connect.errors.DataException",
        _ => "org.apache.kafka.connect.errors.ConnectException",
    }
}
