//! Transforms that change a record's topic: TimestampRouter (`topic.format` with `${topic}`
//! and `${timestamp}`, the timestamp written by `timestamp.format` in Java's date pattern
//! letters: yyyy, yy, MM, dd, HH, mm, ss, SSS) and RegexRouter (`regex` over the whole topic
//! name, `replacement` with `$1`-style groups).

use crate::error::{ConnectError, Result};
use crate::record::Record;
use crate::transforms::{Position, Settings, Transform};

#[derive(Debug)]
pub struct TimestampRouter {
    topic_format: String,
    timestamp_format: String,
}

impl TimestampRouter {
    pub fn new(settings: &Settings) -> Result<Self> {
        Ok(Self {
            topic_format: settings.get("topic.format").unwrap_or("${topic}-${timestamp}").to_string(),
            timestamp_format: settings.get("timestamp.format").unwrap_or("yyyyMMdd").to_string(),
        })
    }
}

/// `millis` (UTC) written by a Java date pattern.
pub(crate) fn format_timestamp(millis: i64, pattern: &str) -> String {
    // `YYYY-MM-DDTHH:MM:SS.ffffffZ`: the fields by position.
    let rfc = crate::data::time::format_timestamp_micros(millis.saturating_mul(1000));
    let part = |from: usize, to: usize| rfc.get(from..to).unwrap_or("00").to_string();
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut quoted = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        if quoted || !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let text = match (c, run) {
            ('y', 2) => part(2, 4),
            ('y', _) => part(0, 4),
            ('M', _) => part(5, 7),
            ('d', _) => part(8, 10),
            ('H', _) => part(11, 13),
            ('m', _) => part(14, 16),
            ('s', _) => part(17, 19),
            ('S', _) => part(20, 23),
            _ => chars[i..i + run].iter().collect(),
        };
        out.push_str(&text);
        i += run;
    }
    out
}

impl Transform for TimestampRouter {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        let ts = record.timestamp.ok_or("the record has no timestamp to route by")?;
        record.topic = self.topic_format.replace("${topic}", &record.topic).replace("${timestamp}", &format_timestamp(ts, &self.timestamp_format));
        Ok(Some(record))
    }
}

#[derive(Debug)]
pub struct RegexRouter {
    regex: regex::Regex,
    replacement: String,
}

impl RegexRouter {
    pub fn new(settings: &Settings) -> Result<Self> {
        let pattern = settings.require("regex")?;
        let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| ConnectError::Config(format!("transforms.{}.regex: {e}", settings.name)))?;
        // Java writes groups as $1; the regex crate as ${1} (so that "$1x" is not group "1x").
        let replacement = java_groups(settings.get("replacement").unwrap_or_default());
        Ok(Self { regex, replacement })
    }
}

fn java_groups(replacement: &str) -> String {
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            out.push_str(&format!("${{{digits}}}"));
        } else if c == '\\' {
            if let Some(next) = chars.next() {
                if next == '$' {
                    out.push_str("$$");
                } else {
                    out.push(next);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Transform for RegexRouter {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        if self.regex.is_match(&record.topic) {
            record.topic = self.regex.replace(&record.topic, self.replacement.as_str()).into_owned();
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_date_patterns_format_utc_timestamps() {
        // 2026-11-30T09:05:07.123Z
        let ts = 1_796_029_507_123;
        assert_eq!(format_timestamp(ts, "yyyyMMdd"), "20261130");
        assert_eq!(format_timestamp(ts, "yyyy-MM-dd'T'HH:mm:ss.SSS"), "2026-11-30T09:05:07.123");
        assert_eq!(format_timestamp(0, "yy/MM/dd"), "70/01/01");
    }

    #[test]
    fn java_group_references_become_the_regex_crates() {
        assert_eq!(java_groups("$1-out"), "${1}-out");
        assert_eq!(java_groups("a\\$b"), "a$$b");
    }
}
