//! [`Record`] (what a transform receives) and [`Output`] (what it returns).

/// A header: a name and an optional value.
pub type Header = (String, Option<Vec<u8>>);

/// A record given to a transform, with where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl Record {
    /// A record with `value` and nothing else, for tests.
    pub fn with_value(value: impl Into<Vec<u8>>) -> Self {
        Self { value: Some(value.into()), ..Self::default() }
    }

    /// The value as UTF-8 text, when it is.
    pub fn value_str(&self) -> Option<&str> {
        self.value.as_deref().and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The value of the header `name` (the last one).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref())
    }
}

/// A record a transform returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// None: the input record's timestamp.
    pub timestamp: Option<i64>,
    /// None: the deployment's output topic.
    pub topic: Option<String>,
}

impl Output {
    /// A copy of the input's key, value and headers, to the default output topic.
    pub fn from(record: &Record) -> Self {
        Self { key: record.key.clone(), value: record.value.clone(), headers: record.headers.clone(), timestamp: None, topic: None }
    }

    /// The input's key, value and headers, moved (not copied), to the default output topic:
    /// the cheap way to pass a record on, or to keep its key and headers with a new value.
    pub fn forward(record: Record) -> Self {
        Self { key: record.key, value: record.value, headers: record.headers, timestamp: None, topic: None }
    }

    /// With another value.
    pub fn with_value(mut self, value: Option<Vec<u8>>) -> Self {
        self.value = value;
        self
    }

    /// Sent to `topic` instead of the deployment's output topic.
    pub fn to_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// With a header added.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), Some(value.into())));
        self
    }

    /// The value as UTF-8 text, when it is.
    pub fn value_str(&self) -> Option<&str> {
        self.value.as_deref().and_then(|v| std::str::from_utf8(v).ok())
    }
}
