//! `/connector-plugins`: the connector types this worker has, their settings, and checking a
//! config against them (the answer Kafka Connect's validate endpoint gives).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::ConnectorConfig;
use crate::config::def::{KeyDef, KeyType};
use crate::registry;
use crate::rest::ApiError;

pub async fn list() -> Json<Value> {
    let plugins: Vec<Value> = registry::plugins().iter().map(|p| json!({"class": p.class, "type": p.kind.name(), "version": p.version})).collect();
    Json(Value::Array(plugins))
}

fn definition_json(key: &KeyDef, order: usize) -> Value {
    json!({
        "name": key.name,
        "type": key.kind.kafka_name(),
        "required": key.required,
        "default_value": key.default,
        "importance": key.importance.kafka_name(),
        "documentation": key.doc,
        "group": key.group,
        "width": "NONE",
        "display_name": key.name,
        "dependents": [],
        "order": order,
    })
}

pub async fn config(Path(class): Path<String>) -> Result<Response, ApiError> {
    let plugin = registry::find(&class)?;
    let keys: Vec<Value> = plugin.full_definition().keys.iter().enumerate().map(|(i, k)| definition_json(k, i + 1)).collect();
    Ok(Json(keys).into_response())
}

pub async fn validate(Path(class): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let body: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
    let Value::Object(map) = body else { return Err(ApiError::bad_request("The body must be the connector config as a JSON object")) };
    let entries: BTreeMap<String, String> = map
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    let config = ConnectorConfig::unchecked(entries);
    let plugin = registry::find(&class)?;
    if let Some(named) = config.get("connector.class") {
        let named_plugin = registry::find(named)?;
        if !std::ptr::eq(named_plugin, plugin) {
            return Err(ApiError::bad_request(format!("connector.class {named} does not match the plugin in the URL ({class})")));
        }
    }
    let def = plugin.full_definition();
    let errors = def.validate(&config);
    let mut error_count = 0;
    let mut groups: Vec<&str> = Vec::new();
    let configs: Vec<Value> = def
        .keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let key_errors = errors.get(key.name).cloned().unwrap_or_default();
            error_count += key_errors.len();
            if !groups.contains(&key.group) {
                groups.push(key.group);
            }
            let value = match (key.kind, config.get(key.name)) {
                (KeyType::Password, Some(_)) => Value::String("[hidden]".into()),
                (_, Some(v)) => Value::String(v.to_string()),
                (_, None) => key.default.map_or(Value::Null, |d| Value::String(d.to_string())),
            };
            json!({
                "definition": definition_json(key, i + 1),
                "value": {"name": key.name, "value": value, "recommended_values": key.allowed, "errors": key_errors, "visible": true},
            })
        })
        .collect();
    Ok(Json(json!({"name": plugin.class, "error_count": error_count, "groups": groups, "configs": configs})).into_response())
}
