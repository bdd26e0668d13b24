//! Reading connector configs from files: JSON, YAML, TOML or Java properties (by extension;
//! content sniffed when the extension says nothing). A file holds either the flat map
//! (`name`, `connector.class`, ...) or the REST API's shape (`{"name": ..., "config": {...}}`).
//! Nested tables become dotted keys (`transforms: {unwrap: {type: x}}` is
//! `transforms.unwrap.type=x`), lists become comma-separated values, numbers and booleans
//! their text.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::config::ConnectorConfig;
use crate::error::{ConnectError, Result};

/// Reads one connector config from `path`.
pub fn load(path: &Path) -> Result<ConnectorConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| ConnectError::io(path, e))?;
    let fail = |message: String| ConnectError::ConfigFile { path: path.to_path_buf(), message };
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let entries = match extension.as_str() {
        "json" => from_tree(parse_json(&text).map_err(fail)?).map_err(fail)?,
        "yaml" | "yml" => from_tree(parse_yaml(&text).map_err(fail)?).map_err(fail)?,
        "toml" => from_tree(parse_toml(&text).map_err(fail)?).map_err(fail)?,
        "properties" | "props" => parse_properties(&text),
        _ => sniff(&text).map_err(fail)?,
    };
    ConnectorConfig::new(entries).map_err(|e| fail(e.to_string()))
}

/// Reads a config given as text in one of the formats (the REST API takes JSON only; this is
/// for callers that take any).
pub fn parse(text: &str) -> Result<ConnectorConfig> {
    let entries = sniff(text).map_err(ConnectError::Config)?;
    ConnectorConfig::new(entries)
}

fn sniff(text: &str) -> Result<BTreeMap<String, String>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return from_tree(parse_json(text)?);
    }
    if let Ok(tree) = parse_toml(text) {
        return from_tree(tree);
    }
    if let Ok(tree) = parse_yaml(text)
        && tree.is_object() {
            return from_tree(tree);
        }
    Ok(parse_properties(text))
}

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

fn parse_yaml(text: &str) -> Result<Value, String> {
    serde_norway::from_str(text).map_err(|e| format!("not valid YAML: {e}"))
}

fn parse_toml(text: &str) -> Result<Value, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
    serde_json::to_value(table).map_err(|e| format!("not valid TOML: {e}"))
}

/// Java properties: `key=value` or `key: value` lines, `#` and `!` comments, a trailing
/// backslash continuing a line.
pub(crate) fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            logical.push_str(continued);
            continue;
        }
        logical.push_str(line);
        let split = logical.find(['=', ':']);
        let (key, value) = match split {
            Some(at) => (&logical[..at], &logical[at + 1..]),
            None => (logical.as_str(), ""),
        };
        entries.insert(key.trim().to_string(), value.trim().to_string());
        logical.clear();
    }
    entries
}

/// The flat map from a parsed document: the REST shape is unwrapped, nesting flattened.
fn from_tree(tree: Value) -> Result<BTreeMap<String, String>, String> {
    let Value::Object(mut top) = tree else {
        return Err("expected a map of settings at the top level".to_string());
    };
    let mut entries = BTreeMap::new();
    if let Some(Value::Object(config)) = top.remove("config") {
        let name = top.remove("name");
        flatten("", Value::Object(config), &mut entries)?;
        if let Some(name) = name {
            flatten("name", name, &mut entries)?;
        }
        if let Some(extra) = top.keys().next() {
            return Err(format!("unexpected key {extra:?} beside \"name\" and \"config\""));
        }
    } else {
        flatten("", Value::Object(top), &mut entries)?;
    }
    Ok(entries)
}

fn flatten(prefix: &str, value: Value, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    let text = match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let key = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
                flatten(&key, inner, out)?;
            }
            return Ok(());
        }
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => return Err(format!("{prefix}: a list may hold only plain values")),
                    Value::String(s) => parts.push(s),
                    other => parts.push(other.to_string()),
                }
            }
            parts.join(",")
        }
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    };
    out.insert(prefix.to_string(), text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(name: &str, text: &str) -> Result<ConnectorConfig> {
        let dir = tempfile::tempdir().map_err(|e| ConnectError::io("tempdir", e))?;
        let path = dir.path().join(name);
        std::fs::write(&path, text).map_err(|e| ConnectError::io(&path, e))?;
        load(&path)
    }

    #[test]
    fn every_format_gives_the_same_flat_config() -> Result<()> {
        let json = load_text("a.json", r#"{"name":"in","config":{"connector.class":"file-source","tasks.max":1,"topics":["a","b"]}}"#)?;
        let yaml = load_text("a.yaml", "name: in\nconnector.class: file-source\ntasks.max: 1\ntopics: [a, b]\n")?;
        let toml = load_text("a.toml", "name = \"in\"\n\"connector.class\" = \"file-source\"\n\"tasks.max\" = 1\ntopics = [\"a\", \"b\"]\n")?;
        let props = load_text("a.properties", "# comment\nname=in\nconnector.class = file-source\ntasks.max=1\ntopics=a,b\n")?;
        for config in [&yaml, &toml, &props] {
            assert_eq!(config, &json);
        }
        assert_eq!(json.get("topics"), Some("a,b"));
        Ok(())
    }

    #[test]
    fn nested_tables_become_dotted_keys() -> Result<()> {
        let config = load_text("t.yaml", "name: x\nconnector.class: c\ntransforms: unwrap\ntransforms.unwrap:\n  type: extract-new-record-state\n")?;
        assert_eq!(config.get("transforms.unwrap.type"), Some("extract-new-record-state"));
        Ok(())
    }

    #[test]
    fn a_broken_file_names_itself_and_the_problem() {
        let err = load_text("bad.json", "{\"name\": ").unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("not valid JSON"), "{err}");
        let err = load_text("noclass.yaml", "name: x\n").unwrap_err().to_string();
        assert!(err.contains("connector.class"), "{err}");
    }
}
