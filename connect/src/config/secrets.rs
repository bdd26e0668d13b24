//! Secrets in configs, as Kafka's config providers write them: `${env:NAME}` takes an
//! environment variable, `${file:/path/to/file.properties:key}` a key of a properties file.
//! Placeholders are resolved only in the copy a task runs with; the stored config and the REST
//! API keep the placeholder text.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::ConnectorConfig;
use crate::error::{ConnectError, Result};

/// `config` with every placeholder replaced by its value.
pub fn resolve(config: &ConnectorConfig) -> Result<ConnectorConfig> {
    let mut entries = BTreeMap::new();
    for (key, value) in config.entries() {
        let resolved = resolve_value(value).map_err(|e| ConnectError::Config(format!("{key}: {e}")))?;
        entries.insert(key.clone(), resolved);
    }
    Ok(ConnectorConfig::unchecked(entries))
}

/// Whether `value` holds a placeholder (such values are secrets: never logged).
pub fn has_placeholder(value: &str) -> bool {
    value.contains("${env:") || value.contains("${file:")
}

fn resolve_value(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let body = &after[..end];
        match body.split_once(':') {
            Some(("env", name)) => {
                let v = std::env::var(name).map_err(|_| format!("environment variable {name} is not set (from ${{env:{name}}})"))?;
                out.push_str(&v);
            }
            Some(("file", path_and_key)) => {
                let (path, key) = path_and_key
                    .rsplit_once(':')
                    .ok_or_else(|| format!("${{file:{path_and_key}}} needs a path and a key: ${{file:/path/to/file.properties:key}}"))?;
                out.push_str(&read_file_key(Path::new(path), key)?);
            }
            _ => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn read_file_key(path: &Path, key: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::config::file::parse_properties(&text).remove(key).ok_or_else(|| format!("{} has no key {key:?}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ConnectorConfig {
        ConnectorConfig::unchecked(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn env_and_file_placeholders_resolve_and_the_original_keeps_them() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| ConnectError::io("tempdir", e))?;
        let secrets = dir.path().join("db.properties");
        std::fs::write(&secrets, "# db\npassword = s3cret\nuser=app\n").map_err(|e| ConnectError::io(&secrets, e))?;
        let path = std::env::var("PATH").unwrap_or_default();
        let original = config(&[
            ("a", "${env:PATH}"),
            ("b", &format!("postgres://${{file:{0}:user}}:${{file:{0}:password}}@h/db", secrets.display())),
            ("c", "plain ${notaprovider:x} text"),
        ]);
        let resolved = resolve(&original)?;
        assert_eq!(resolved.get("a"), Some(path.as_str()));
        assert_eq!(resolved.get("b"), Some("postgres://app:s3cret@h/db"));
        assert_eq!(resolved.get("c"), Some("plain ${notaprovider:x} text"));
        assert!(has_placeholder(original.get("b").unwrap_or_default()));
        Ok(())
    }

    #[test]
    fn a_missing_secret_names_the_key_not_the_value() {
        let err = resolve(&config(&[("connection.password", "${env:FJORD_TEST_SURELY_UNSET}")])).unwrap_err().to_string();
        assert!(err.contains("connection.password") && err.contains("FJORD_TEST_SURELY_UNSET"), "{err}");
    }
}
