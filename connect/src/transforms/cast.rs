//! Cast: fields (or the whole key/value) to another primitive type — `spec=id:int64,price:float64`
//! or `spec=string` — as Kafka Connect's Cast does (strings parsed, numbers truncated toward
//! zero, booleans as 0/1 or "true"/"false").

use crate::data::{Schema, SchemaType, Value};
use crate::error::{ConnectError, Result};
use crate::record::Record;
use crate::transforms::fields::kind_of;
use crate::transforms::{Position, Settings, Target, Transform};

#[derive(Debug)]
pub struct Cast {
    target: Target,
    /// `None` as the field: the whole key or value.
    casts: Vec<(Option<String>, SchemaType)>,
}

impl Cast {
    pub fn new(settings: &Settings, target: Target) -> Result<Self> {
        let mut casts = Vec::new();
        for part in settings.list("spec") {
            let (field, type_name) = match part.split_once(':') {
                Some((f, t)) => (Some(f.trim().to_string()), t.trim()),
                None => (None, part.as_str()),
            };
            let to = SchemaType::from_name(type_name)
                .filter(|t| !matches!(t, SchemaType::Array | SchemaType::Map | SchemaType::Struct | SchemaType::Bytes))
                .ok_or_else(|| ConnectError::Config(format!("transforms.{}.spec: cannot cast to {type_name:?}; use int8, int16, int32, int64, float32, float64, boolean or string", settings.name)))?;
            casts.push((field, to));
        }
        if casts.is_empty() {
            return Err(ConnectError::Config(format!("transforms.{}.spec is empty: give field:type pairs or one type", settings.name)));
        }
        if casts.iter().any(|(f, _)| f.is_none()) && casts.len() > 1 {
            return Err(ConnectError::Config(format!("transforms.{}.spec: a whole-value cast stands alone", settings.name)));
        }
        Ok(Self { target, casts })
    }
}

fn cast(value: &Value, to: SchemaType) -> Result<Value, String> {
    let bad = || format!("cannot cast {} to {}", kind_of(value), to.name());
    Ok(match (value, to) {
        (Value::Null, _) => Value::Null,
        (v, SchemaType::String) => Value::String(v.to_text()),
        (Value::Boolean(b), SchemaType::Boolean) => Value::Boolean(*b),
        (Value::Int(i), SchemaType::Boolean) => Value::Boolean(*i != 0),
        (Value::Float(f), SchemaType::Boolean) => Value::Boolean(*f != 0.0),
        (Value::String(s), SchemaType::Boolean) => Value::Boolean(match s.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(bad()),
        }),
        (Value::Boolean(b), t) if t.is_integer() => Value::Int(i64::from(*b)),
        (Value::Int(i), t) if t.is_integer() => Value::Int(fit(*i, t).ok_or_else(bad)?),
        (Value::Float(f), t) if t.is_integer() => Value::Int(fit(f.trunc() as i64, t).ok_or_else(bad)?),
        (Value::String(s), t) if t.is_integer() => Value::Int(s.trim().parse::<i64>().ok().and_then(|i| fit(i, t)).ok_or_else(bad)?),
        (Value::Boolean(b), SchemaType::Float32 | SchemaType::Float64) => Value::Float(if *b { 1.0 } else { 0.0 }),
        (Value::Int(i), SchemaType::Float32 | SchemaType::Float64) => Value::Float(*i as f64),
        (Value::Float(f), SchemaType::Float32 | SchemaType::Float64) => Value::Float(*f),
        (Value::String(s), SchemaType::Float32 | SchemaType::Float64) => Value::Float(s.trim().parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    })
}

/// `i` if it fits the integer type `t`.
fn fit(i: i64, t: SchemaType) -> Option<i64> {
    let ok = match t {
        SchemaType::Int8 => i8::try_from(i).is_ok(),
        SchemaType::Int16 => i16::try_from(i).is_ok(),
        SchemaType::Int32 => i32::try_from(i).is_ok(),
        _ => true,
    };
    ok.then_some(i)
}

fn cast_schema(schema: &mut Schema, to: SchemaType) {
    let optional = schema.optional;
    *schema = Schema { optional, ..Schema::of(to) };
}

impl Transform for Cast {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        let data = self.target.data(&mut record);
        if data.is_null() {
            return Ok(Some(record));
        }
        for (field, to) in &self.casts {
            match field {
                None => {
                    data.value = cast(&data.value, *to)?;
                    if let Some(schema) = data.schema.as_mut().map(std::sync::Arc::make_mut) {
                        cast_schema(schema, *to);
                    }
                }
                Some(name) => {
                    let Value::Struct(fields) = &mut data.value else {
                        return Err(format!("cast of field {name} needs a struct or JSON object, but the record has {}", kind_of(&data.value)));
                    };
                    if let Some((_, value)) = fields.iter_mut().find(|(n, _)| n == name) {
                        *value = cast(value, *to).map_err(|e| format!("{name}: {e}"))?;
                    }
                    if let Some(field) = data.schema.as_mut().map(std::sync::Arc::make_mut).and_then(|s| s.fields.iter_mut().find(|f| f.name == *name)) {
                        cast_schema(&mut field.schema, *to);
                    }
                }
            }
        }
        Ok(Some(record))
    }
}
