//! Converters: between a record's Connect data and the bytes in a topic, chosen per key and
//! value by `key.converter` / `value.converter` (with `*.schemas.enable` for JSON) under
//! Kafka Connect's names or their class names.

use crate::config::ConnectorConfig;
use crate::data::{self, Data, Schema, SchemaType, Value};
use crate::error::{ConnectError, Result};

/// A converter for one side (key or value) of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converter {
    /// Kafka Connect's JsonConverter; `schemas` is `schemas.enable`.
    Json { schemas: bool },
    /// StringConverter: text as UTF-8.
    String,
    /// ByteArrayConverter: bytes as they are.
    Bytes,
}

/// Which side of a record a converter handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Key,
    Value,
}

impl Side {
    fn prefix(self) -> &'static str {
        match self {
            Self::Key => "key.converter",
            Self::Value => "value.converter",
        }
    }
}

/// The default converter when neither the connector nor the worker names one: JSON with
/// schemas, as Kafka Connect's shipped worker configs set it.
pub const DEFAULT: Converter = Converter::Json { schemas: true };

impl Converter {
    /// The converter `config` names for `side`, or `fallback`.
    pub fn from_config(config: &ConnectorConfig, side: Side, fallback: Converter) -> Result<Self> {
        let prefix = side.prefix();
        let schemas_key = format!("{prefix}.schemas.enable");
        let schemas = config.get(&schemas_key);
        let Some(name) = config.get(prefix) else {
            // The worker's converter, with the connector's schemas.enable when it is JSON.
            return match (fallback, schemas) {
                (Self::Json { .. }, Some(_)) => Self::named("json", schemas).map_err(|e| ConnectError::Config(format!("{schemas_key}: {e}"))),
                _ => Ok(fallback),
            };
        };
        Self::named(name, schemas).map_err(|e| ConnectError::Config(format!("{prefix}: {e}")))
    }

    /// The converter called `name`, with `schemas.enable` as given (default true for JSON).
    pub fn named(name: &str, schemas_enable: Option<&str>) -> Result<Self, String> {
        match name.trim() {
            "json" | "org.apache.kafka.connect.json.JsonConverter" => {
                let schemas = match schemas_enable.map(str::trim) {
                    None => true,
                    Some(v) if v.eq_ignore_ascii_case("true") => true,
                    Some(v) if v.eq_ignore_ascii_case("false") => false,
                    Some(v) => return Err(format!("schemas.enable must be true or false, got {v:?}")),
                };
                Ok(Self::Json { schemas })
            }
            "string" | "org.apache.kafka.connect.storage.StringConverter" => Ok(Self::String),
            "bytes" | "org.apache.kafka.connect.converters.ByteArrayConverter" => Ok(Self::Bytes),
            other => Err(format!("unknown converter {other:?}; use json, string or bytes")),
        }
    }

    /// The bytes to write for `data` (`None` for a null: no key, or a tombstone).
    pub fn encode(&self, data: &Data) -> Result<Option<Vec<u8>>> {
        if data.is_null() && !matches!(self, Self::Json { schemas: true } if data.schema.is_some()) {
            return Ok(None);
        }
        Ok(Some(match self {
            Self::Json { schemas } => data::json::encode(data, *schemas),
            Self::String => data.value.to_text().into_bytes(),
            Self::Bytes => match &data.value {
                Value::Bytes(b) => b.clone(),
                Value::String(s) => s.clone().into_bytes(),
                other => return Err(ConnectError::Conversion(format!("the bytes converter needs bytes or a string, not {other:?}; use the json or string converter"))),
            },
        }))
    }

    /// The data read from `bytes` (`None`: a null).
    pub fn decode(&self, bytes: Option<&[u8]>) -> Result<Data> {
        let Some(bytes) = bytes else {
            return Ok(Data::NULL);
        };
        match self {
            Self::Json { schemas } => data::json::decode(bytes, *schemas).map_err(ConnectError::Conversion),
            Self::String => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Data::new(Some(Schema::optional(SchemaType::String)), Value::String(s.to_string()))),
                Err(e) => Err(ConnectError::Conversion(format!("the string converter needs UTF-8: {e}; use the bytes converter for binary data"))),
            },
            Self::Bytes => Ok(Data::new(Some(Schema::optional(SchemaType::Bytes)), Value::Bytes(bytes.to_vec()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_and_short_names_agree() {
        assert_eq!(Converter::named("org.apache.kafka.connect.json.JsonConverter", Some("false")), Ok(Converter::Json { schemas: false }));
        assert_eq!(Converter::named("string", None), Ok(Converter::String));
        assert!(Converter::named("avro", None).unwrap_err().contains("json, string or bytes"));
    }

    #[test]
    fn a_string_through_json_with_schemas_is_the_envelope() -> Result<()> {
        let bytes = Converter::Json { schemas: true }.encode(&Data::string("line"))?.unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&bytes), r#"{"schema":{"type":"string","optional":false},"payload":"line"}"#);
        let back = Converter::Json { schemas: true }.decode(Some(&bytes))?;
        assert_eq!(back.value, Value::String("line".into()));
        Ok(())
    }

    #[test]
    fn schemas_enable_alone_applies_to_the_workers_json_converter() -> Result<()> {
        let config = ConnectorConfig::unchecked([("value.converter.schemas.enable".to_string(), "false".to_string())].into_iter().collect());
        assert_eq!(Converter::from_config(&config, Side::Value, DEFAULT)?, Converter::Json { schemas: false });
        assert_eq!(Converter::from_config(&config, Side::Key, DEFAULT)?, DEFAULT);
        assert_eq!(Converter::from_config(&config, Side::Value, Converter::String)?, Converter::String);
        Ok(())
    }

    #[test]
    fn nulls_are_absent_bytes() -> Result<()> {
        assert_eq!(Converter::String.encode(&Data::NULL)?, None);
        assert!(Converter::Json { schemas: false }.decode(None)?.is_null());
        Ok(())
    }
}
