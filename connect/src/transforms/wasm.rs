//! A WebAssembly plugin as a transform (`type=wasm`): any `fjord:transform` component — the
//! same plugins the brokers run — with `wasm=/path/plugin.wasm` and the plugin's own settings
//! as `config.KEY=VALUE`. The plugin sees bytes: a string value as UTF-8, bytes as they are,
//! anything else as JSON; it may return no record (dropped), one, or several (only the first
//! is kept: a transform maps one record to at most one), and may rename the topic. A returned
//! value is read back as it went in (a string stays a string; JSON is parsed, without schema).

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use fjord_plugins::{Header, InputBatch, InputRecord, Plugin, PluginHost, PluginInstance, PluginLimits};

use crate::data::{self, Data, Schema, SchemaType, Value};
use crate::error::{ConnectError, Result};
use crate::record::Record;
use crate::transforms::{Position, Settings, Transform};

/// One plugin host for the process (an engine and its epoch timer).
fn host() -> Result<&'static PluginHost> {
    static HOST: OnceLock<std::result::Result<PluginHost, String>> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new().map_err(|e| e.to_string())).as_ref().map_err(|e| ConnectError::Config(e.clone()))
}

#[derive(Debug)]
pub struct WasmTransform {
    instance: Mutex<PluginInstance>,
}

impl WasmTransform {
    pub fn new(settings: &Settings) -> Result<Self> {
        let path = settings.require("wasm")?;
        let bytes = std::fs::read(path).map_err(|e| ConnectError::Config(format!("transforms.{}.wasm: cannot read {path}: {e}", settings.name)))?;
        let plugin = Plugin::compile(host()?, &settings.name, &bytes, PluginLimits::default()).map_err(|e| ConnectError::Config(e.to_string()))?;
        let config: Vec<(String, String)> = settings.entries.iter().filter_map(|(k, v)| k.strip_prefix("config.").map(|k| (k.to_string(), v.clone()))).collect();
        let instance = PluginInstance::new(Arc::new(plugin), config).map_err(|e| ConnectError::Config(e.to_string()))?;
        Ok(Self { instance: Mutex::new(instance) })
    }
}

/// The bytes a plugin sees for `data`.
fn to_bytes(data: &Data) -> Option<Vec<u8>> {
    match &data.value {
        Value::Null => None,
        Value::String(s) => Some(s.clone().into_bytes()),
        Value::Bytes(b) => Some(b.clone()),
        other => Some(data::to_json_bytes(other)),
    }
}

/// `bytes` read back in the shape `like` had.
fn from_bytes(bytes: Option<Vec<u8>>, like: &Data) -> Result<Data, String> {
    let Some(bytes) = bytes else { return Ok(Data::NULL) };
    Ok(match &like.value {
        Value::Bytes(_) => Data::new(Some(Schema::optional(SchemaType::Bytes)), Value::Bytes(bytes)),
        Value::String(_) | Value::Null => match String::from_utf8(bytes) {
            Ok(s) => Data::new(Some(Schema::optional(SchemaType::String)), Value::String(s)),
            Err(e) => Data::new(Some(Schema::optional(SchemaType::Bytes)), Value::Bytes(e.into_bytes())),
        },
        _ => Data::new(None, data::from_json_bytes(&bytes).map_err(|e| format!("the plugin returned a value that is not JSON: {e}"))?),
    })
}

impl Transform for WasmTransform {
    fn apply(&self, record: Record, position: Position) -> Result<Option<Record>, String> {
        let input = InputRecord {
            key: to_bytes(&record.key).map(Bytes::from),
            value: to_bytes(&record.value).map(Bytes::from),
            headers: record.headers.iter().map(|(k, v)| Header { key: k.clone(), value: v.clone().map(Bytes::from) }).collect(),
            timestamp: record.timestamp.unwrap_or(0),
            offset: position.offset.unwrap_or(0),
        };
        let batch = InputBatch { topic: record.topic.clone(), partition: record.partition.unwrap_or(0), records: vec![input] };
        let outputs = {
            let mut instance = self.instance.lock().unwrap_or_else(|p| p.into_inner());
            instance.process(&batch).map_err(|e| e.to_string())?
        };
        let Some(out) = outputs.into_iter().next() else { return Ok(None) };
        Ok(Some(Record {
            topic: out.topic.unwrap_or(record.topic),
            partition: record.partition,
            key: from_bytes(out.key.map(Vec::from), &record.key)?,
            value: from_bytes(out.value.map(Vec::from), &record.value)?,
            timestamp: out.timestamp.or(record.timestamp),
            headers: out.headers.into_iter().map(|h| (h.key, h.value.map(Vec::from))).collect(),
        }))
    }
}
