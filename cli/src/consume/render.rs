//! How `fjord consume` prints a record: the value alone, a `--format` template, or one JSON
//! object per line.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rdkafka::Timestamp;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use serde::Serialize;

/// A parsed `--format` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Topic,
    Partition,
    Offset,
    Timestamp,
    Key,
    Value,
    Headers,
}

/// The placeholders a template may use, for help and errors.
pub const PLACEHOLDERS: &str = "{topic} {partition} {offset} {timestamp} {key} {value} {headers}";

impl Template {
    /// Parses `{field}` placeholders, `{{`/`}}` for literal braces and `\n`, `\t`, `\\`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[at + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("unclosed `{{` at position {at} of the format"))?;
                    let name = &rest[..end];
                    let field = match name {
                        "topic" => Field::Topic,
                        "partition" => Field::Partition,
                        "offset" => Field::Offset,
                        "timestamp" => Field::Timestamp,
                        "key" => Field::Key,
                        "value" => Field::Value,
                        "headers" => Field::Headers,
                        _ => {
                            return Err(format!(
                                "unknown placeholder `{{{name}}}` at position {at}; use {PLACEHOLDERS}"
                            ));
                        }
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(field));
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                '}' => return Err(format!("lone `}}` at position {at} of the format; write `}}}}`")),
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => literal.push('\n'),
                    Some('t') => literal.push('\t'),
                    Some('\\') => literal.push('\\'),
                    Some(other) => {
                        literal.push('\\');
                        literal.push(other);
                    }
                    None => literal.push('\\'),
                },
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// Writes one record through the template, then a newline.
    pub fn write(&self, out: &mut impl Write, message: &BorrowedMessage<'_>) -> std::io::Result<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.write_all(text.as_bytes())?,
                Piece::Field(Field::Topic) => out.write_all(message.topic().as_bytes())?,
                Piece::Field(Field::Partition) => write!(out, "{}", message.partition())?,
                Piece::Field(Field::Offset) => write!(out, "{}", message.offset())?,
                Piece::Field(Field::Timestamp) => match message.timestamp().to_millis() {
                    Some(ms) => write!(out, "{ms}")?,
                    None => out.write_all(b"-")?,
                },
                Piece::Field(Field::Key) => out.write_all(message.key().unwrap_or_default())?,
                Piece::Field(Field::Value) => out.write_all(message.payload().unwrap_or_default())?,
                Piece::Field(Field::Headers) => match read_headers(message) {
                    Ok(headers) => {
                        for (i, (key, value)) in headers.iter().enumerate() {
                            if i > 0 {
                                out.write_all(b",")?;
                            }
                            out.write_all(key.as_bytes())?;
                            out.write_all(b"=")?;
                            out.write_all(value.unwrap_or_default())?;
                        }
                    }
                    Err(BadHeaderKey) => out.write_all(b"<a header key is not UTF-8>")?,
                },
            }
        }
        out.write_all(b"\n")
    }
}

/// One record as a JSON line. Keys, values and header values that are not UTF-8 are written
/// in base64 and flagged with `*_encoding: "base64"`.
#[derive(Debug, Serialize)]
pub struct JsonRecord<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    /// Milliseconds since the Unix epoch, null when the record has none.
    timestamp: Option<i64>,
    timestamp_type: &'static str,
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_encoding: Option<&'static str>,
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_encoding: Option<&'static str>,
    headers: Vec<JsonHeader<'a>>,
    /// Set when the headers could not be read (their keys must be UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    headers_error: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct JsonHeader<'a> {
    key: &'a str,
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_encoding: Option<&'static str>,
}

impl<'a> JsonRecord<'a> {
    /// The JSON view of `message`.
    pub fn new(message: &'a BorrowedMessage<'a>) -> Self {
        let (key, key_encoding) = text_or_base64(message.key());
        let (value, value_encoding) = text_or_base64(message.payload());
        let (headers, headers_error) = match read_headers(message) {
            Ok(headers) => {
                let headers = headers
                    .into_iter()
                    .map(|(key, value)| {
                        let (value, value_encoding) = text_or_base64(value);
                        JsonHeader { key, value, value_encoding }
                    })
                    .collect();
                (headers, None)
            }
            Err(BadHeaderKey) => (Vec::new(), Some("a header key is not UTF-8")),
        };
        let (timestamp, timestamp_type) = match message.timestamp() {
            Timestamp::NotAvailable => (None, "none"),
            Timestamp::CreateTime(ms) => (Some(ms), "create_time"),
            Timestamp::LogAppendTime(ms) => (Some(ms), "log_append_time"),
        };
        JsonRecord {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp,
            timestamp_type,
            key,
            key_encoding,
            value,
            value_encoding,
            headers,
            headers_error,
        }
    }
}

/// A header's key and value.
type HeaderPair<'a> = (&'a str, Option<&'a [u8]>);

/// A record has a header whose key is not UTF-8 (the protocol says it must be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadHeaderKey;

/// A record's headers as (key, value) pairs. rdkafka 0.39 panics on a header key that is not
/// UTF-8 (`CStr::to_str().unwrap()` in `BorrowedHeaders::try_get`) and offers no other safe
/// way in; a record from a misbehaving producer must not crash the consumer, so the panic is
/// caught here, silently, and reported as [`BadHeaderKey`].
fn read_headers<'a>(message: &'a BorrowedMessage<'a>) -> Result<Vec<HeaderPair<'a>>, BadHeaderKey> {
    let Some(headers) = message.headers() else { return Ok(Vec::new()) };
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        headers.iter().map(|h| (h.key, h.value)).collect::<Vec<_>>()
    }));
    std::panic::set_hook(quiet);
    read.map_err(|_| BadHeaderKey)
}

fn text_or_base64(bytes: Option<&[u8]>) -> (Option<String>, Option<&'static str>) {
    match bytes {
        None => (None, None),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (Some(BASE64.encode(bytes)), Some("base64")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_mix_text_fields_and_escapes() {
        let t = Template::parse("{key}={value}\\t{{x}}").unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Field(Field::Key),
                Piece::Text("=".into()),
                Piece::Field(Field::Value),
                Piece::Text("\t{x}".into()),
            ]
        );
    }

    #[test]
    fn bad_templates_say_where() {
        assert!(Template::parse("{nope}").unwrap_err().contains("position 0"));
        assert!(Template::parse("a {key").unwrap_err().contains("unclosed"));
        assert!(Template::parse("a } b").unwrap_err().contains("position 2"));
    }

    #[test]
    fn non_utf8_becomes_base64() {
        assert_eq!(text_or_base64(Some(b"hi")), (Some("hi".into()), None));
        assert_eq!(text_or_base64(Some(&[0xff])), (Some("/w==".into()), Some("base64")));
        assert_eq!(text_or_base64(None), (None, None));
    }
}
