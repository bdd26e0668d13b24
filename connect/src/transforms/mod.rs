//! Single message transforms, configured as Kafka Connect configures them:
//!
//! ```text
//! transforms=route,mask            # applied in this order
//! transforms.route.type=regex-router
//! transforms.route.regex=(.*)-raw
//! transforms.route.replacement=$1
//! transforms.mask.type=org.apache.kafka.connect.transforms.MaskField$Value
//! transforms.mask.fields=card
//! transforms.mask.predicate=isOrders  # only where the predicate holds
//! transforms.mask.negate=false
//! predicates=isOrders
//! predicates.isOrders.type=topic-name-matches
//! predicates.isOrders.pattern=orders.*
//! ```
//!
//! Types go by a short name or Kafka's (or Debezium's) class name; `$Key` class names (or
//! `target=key`) act on the key. A transform may drop a record (`filter`). Errors name the
//! transform and say what was wrong with the record.

mod cast;
mod debezium;
pub(crate) mod fields;
mod predicates;
mod routers;
mod wasm;

use std::collections::BTreeMap;

use crate::config::ConnectorConfig;
use crate::data::Data;
use crate::error::{ConnectError, Result};
use crate::record::Record;

pub use predicates::Predicate;

/// A record's position, for transforms that insert it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Position {
    pub offset: Option<i64>,
}

/// One transform.
pub trait Transform: Send + Sync + std::fmt::Debug {
    /// The record transformed, or `None` to drop it.
    fn apply(&self, record: Record, position: Position) -> Result<Option<Record>, String>;
}

/// Which part of a record a field transform acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Key,
    Value,
}

impl Target {
    pub(crate) fn data(self, record: &mut Record) -> &mut Data {
        match self {
            Self::Key => &mut record.key,
            Self::Value => &mut record.value,
        }
    }
}

#[derive(Debug)]
struct Step {
    name: String,
    transform: Box<dyn Transform>,
    predicate: Option<(Predicate, bool)>,
}

/// The transforms of one connector, in order.
#[derive(Debug, Default)]
pub struct Chain {
    steps: Vec<Step>,
}

/// The settings of one transform or predicate (`transforms.NAME.*` with the prefix taken off).
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    entries: BTreeMap<String, String>,
}

impl Settings {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|v| v.trim())
    }

    pub fn require(&self, key: &str) -> Result<&str> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| ConnectError::Config(format!("transforms.{}.{key} is required", self.name)))
    }

    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key).map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ConnectError::Config(format!("transforms.{}.{key} must be true or false, got {v:?}", self.name))),
        }
    }

    /// `Key` or `Value`: from a `$Key`/`$Value` class name, else `target` (default value).
    fn target(&self, class: &str) -> Result<Target> {
        if class.ends_with("$Key") {
            return Ok(Target::Key);
        }
        if class.ends_with("$Value") {
            return Ok(Target::Value);
        }
        match self.get("target") {
            None | Some("value") => Ok(Target::Value),
            Some("key") => Ok(Target::Key),
            Some(other) => Err(ConnectError::Config(format!("transforms.{}.target must be key or value, got {other:?}", self.name))),
        }
    }
}

/// The transform and predicate type names this build knows, with a short description each.
pub const TYPES: &[(&str, &str)] = &[
    ("insert-field", "InsertField: adds topic, partition, offset, timestamp or a static value as fields"),
    ("replace-field", "ReplaceField: keeps (include) or drops (exclude) fields, renames (renames=old:new,...)"),
    ("mask-field", "MaskField: replaces fields' values with an empty value or `replacement`"),
    ("cast", "Cast: changes fields' (or the whole value's) types: spec=field:int64,other:string"),
    ("value-to-key", "ValueToKey: the key becomes a struct of the value's `fields`"),
    ("extract-field", "ExtractField: replaces the key or value by one of its fields"),
    ("drop", "Drop: sets the key or value to null"),
    ("timestamp-router", "TimestampRouter: topic.format=${topic}-${timestamp}, timestamp.format=yyyyMMdd"),
    ("regex-router", "RegexRouter: renames topics matching `regex` to `replacement` ($1 for groups)"),
    ("filter", "Filter: drops records (where its predicate holds)"),
    ("extract-new-record-state", "Debezium's ExtractNewRecordState: a change event's `after` state; deletes become tombstones"),
    ("wasm", "A WebAssembly plugin (fjord:transform world): wasm=/path/plugin.wasm, config.KEY=VALUE"),
];

impl Chain {
    /// The chain `config` describes (empty without `transforms`).
    pub fn from_config(config: &ConnectorConfig) -> Result<Self> {
        let predicates = predicates::from_config(config)?;
        let mut steps = Vec::new();
        for name in config.get("transforms").unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let settings = Settings { name: name.to_string(), entries: config.with_prefix(&format!("transforms.{name}.")) };
            let class = settings.require("type")?.to_string();
            let transform = build(&class, &settings)?;
            let predicate = match settings.get("predicate").filter(|p| !p.is_empty()) {
                Some(p) => {
                    let predicate = predicates
                        .get(p)
                        .cloned()
                        .ok_or_else(|| ConnectError::Config(format!("transforms.{name}.predicate names {p:?}, which is not in predicates")))?;
                    Some((predicate, settings.bool("negate", false)?))
                }
                None => None,
            };
            steps.push(Step { name: name.to_string(), transform, predicate });
        }
        Ok(Self { steps })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The record through every transform (`None`: a transform dropped it).
    pub fn apply(&self, mut record: Record, position: Position) -> Result<Option<Record>> {
        for step in &self.steps {
            if let Some((predicate, negate)) = &step.predicate
                && predicate.test(&record) == *negate
            {
                continue;
            }
            match step.transform.apply(record, position) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(message) => return Err(ConnectError::Transform { name: step.name.clone(), message }),
            }
        }
        Ok(Some(record))
    }
}

fn build(class: &str, settings: &Settings) -> Result<Box<dyn Transform>> {
    let base = class.trim_end_matches("$Key").trim_end_matches("$Value");
    let short = match base {
        "org.apache.kafka.connect.transforms.InsertField" => "insert-field",
        "org.apache.kafka.connect.transforms.ReplaceField" => "replace-field",
        "org.apache.kafka.connect.transforms.MaskField" => "mask-field",
        "org.apache.kafka.connect.transforms.Cast" => "cast",
        "org.apache.kafka.connect.transforms.ValueToKey" => "value-to-key",
        "org.apache.kafka.connect.transforms.ExtractField" => "extract-field",
        "org.apache.kafka.connect.transforms.Drop" | "io.confluent.connect.transforms.Drop" => "drop",
        "org.apache.kafka.connect.transforms.TimestampRouter" => "timestamp-router",
        "org.apache.kafka.connect.transforms.RegexRouter" => "regex-router",
        "org.apache.kafka.connect.transforms.Filter" => "filter",
        "io.debezium.transforms.ExtractNewRecordState" => "extract-new-record-state",
        other => other,
    };
    let target = settings.target(class)?;
    Ok(match short {
        "insert-field" => Box::new(fields::InsertField::new(settings, target)?),
        "replace-field" => Box::new(fields::ReplaceField::new(settings, target)?),
        "mask-field" => Box::new(fields::MaskField::new(settings, target)?),
        "cast" => Box::new(cast::Cast::new(settings, target)?),
        "value-to-key" => Box::new(fields::ValueToKey::new(settings)?),
        "extract-field" => Box::new(fields::ExtractField::new(settings, target)?),
        "drop" => Box::new(fields::Drop { target }),
        "timestamp-router" => Box::new(routers::TimestampRouter::new(settings)?),
        "regex-router" => Box::new(routers::RegexRouter::new(settings)?),
        "filter" => Box::new(predicates::Filter),
        "extract-new-record-state" => Box::new(debezium::ExtractNewRecordState::new(settings)?),
        "wasm" => Box::new(wasm::WasmTransform::new(settings)?),
        other => {
            let known: Vec<&str> = TYPES.iter().map(|(n, _)| *n).collect();
            return Err(ConnectError::Config(format!("transforms.{}.type {other:?} is not a known transform; use one of {}", settings.name, known.join(", "))));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Field, Schema, SchemaType, Value};

    fn chain(pairs: &[(&str, &str)]) -> Result<Chain> {
        let mut entries: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        entries.insert("name".into(), "c".into());
        entries.insert("connector.class".into(), "file-sink".into());
        Chain::from_config(&ConnectorConfig::unchecked(entries))
    }

    fn row() -> Record {
        let schema = Schema::structure(
            Some("row"),
            vec![
                Field { name: "id".into(), schema: Schema::of(SchemaType::Int32) },
                Field { name: "email".into(), schema: Schema::optional(SchemaType::String) },
                Field { name: "amount".into(), schema: Schema::optional(SchemaType::String) },
            ],
        );
        let value = Value::Struct(vec![("id".into(), Value::Int(7)), ("email".into(), Value::String("a@b.io".into())), ("amount".into(), Value::String("12.5".into()))]);
        let mut record = Record::new("orders-raw", Data::NULL, Data::new(Some(schema), value));
        record.timestamp = Some(1_796_029_507_123);
        record
    }

    #[test]
    fn a_chain_masks_renames_casts_keys_and_routes_in_order() -> Result<()> {
        let chain = chain(&[
            ("transforms", "mask,rename,cast,key,route,when"),
            ("transforms.mask.type", "org.apache.kafka.connect.transforms.MaskField$Value"),
            ("transforms.mask.fields", "email"),
            ("transforms.mask.replacement", "***"),
            ("transforms.rename.type", "replace-field"),
            ("transforms.rename.renames", "amount:total"),
            ("transforms.cast.type", "cast"),
            ("transforms.cast.spec", "total:float64"),
            ("transforms.key.type", "value-to-key"),
            ("transforms.key.fields", "id"),
            ("transforms.route.type", "regex-router"),
            ("transforms.route.regex", "(.*)-raw"),
            ("transforms.route.replacement", "$1"),
            ("transforms.when.type", "timestamp-router"),
            ("transforms.when.topic.format", "${topic}-${timestamp}"),
            ("transforms.when.predicate", "isOrders"),
            ("predicates", "isOrders"),
            ("predicates.isOrders.type", "TopicNameMatches"),
            ("predicates.isOrders.pattern", "orders"),
        ])?;
        let out = chain.apply(row(), Position::default())?.expect("kept");
        assert_eq!(out.topic, "orders-20261130");
        assert_eq!(out.value.value.field("email"), Some(&Value::String("***".into())));
        assert_eq!(out.value.value.field("total"), Some(&Value::Float(12.5)));
        assert_eq!(out.value.schema.as_ref().and_then(|s| s.field("total")).map(|s| s.kind), Some(SchemaType::Float64));
        assert_eq!(out.key.value, Value::Struct(vec![("id".into(), Value::Int(7))]));
        Ok(())
    }

    #[test]
    fn filter_drops_only_where_its_predicate_holds() -> Result<()> {
        let chain = chain(&[
            ("transforms", "drop"),
            ("transforms.drop.type", "filter"),
            ("transforms.drop.predicate", "tomb"),
            ("predicates", "tomb"),
            ("predicates.tomb.type", "record-is-tombstone"),
        ])?;
        assert!(chain.apply(row(), Position::default())?.is_some());
        let tombstone = Record::new("t", Data::NULL, Data::NULL);
        assert!(chain.apply(tombstone, Position::default())?.is_none());
        Ok(())
    }

    #[test]
    fn unwrapping_change_events_keeps_the_new_state_and_turns_deletes_into_tombstones() -> Result<()> {
        let chain = chain(&[("transforms", "unwrap"), ("transforms.unwrap.type", "io.debezium.transforms.ExtractNewRecordState")])?;
        let event = |op: &str, after: Value| {
            let value = Value::Struct(vec![
                ("before".into(), Value::Null),
                ("after".into(), after),
                ("source".into(), Value::Struct(vec![("lsn".into(), Value::Int(42))])),
                ("op".into(), Value::String(op.into())),
            ]);
            Record::new("db.public.t", Data::NULL, Data::new(None, value))
        };
        let row = Value::Struct(vec![("id".into(), Value::Int(1))]);
        let created = chain.apply(event("c", row.clone()), Position::default())?.expect("kept");
        assert_eq!(created.value.value, row);
        let deleted = chain.apply(event("d", Value::Null), Position::default())?.expect("a tombstone");
        assert!(deleted.value.is_null());
        assert!(chain.apply(event("t", Value::Null), Position::default())?.is_none());
        Ok(())
    }

    #[test]
    fn unwrapped_rows_of_one_table_share_one_schema_with_the_added_fields() -> Result<()> {
        let chain = chain(&[
            ("transforms", "unwrap"),
            ("transforms.unwrap.type", "extract-new-record-state"),
            ("transforms.unwrap.add.fields", "op,source.lsn"),
            ("transforms.unwrap.delete.tombstone.handling.mode", "rewrite"),
        ])?;
        let row_schema = Schema::structure(Some("t.Value"), vec![Field { name: "id".into(), schema: Schema::of(SchemaType::Int32) }]).into_optional();
        let source_schema = Schema::structure(None, vec![Field { name: "lsn".into(), schema: Schema::optional(SchemaType::Int64) }]);
        let envelope = std::sync::Arc::new(Schema::structure(
            Some("t.Envelope"),
            vec![
                Field { name: "before".into(), schema: row_schema.clone() },
                Field { name: "after".into(), schema: row_schema },
                Field { name: "source".into(), schema: source_schema },
                Field { name: "op".into(), schema: Schema::of(SchemaType::String) },
            ],
        ));
        let event = |op: &str, id: i64| {
            let (before, after) = if op == "d" { (Value::Struct(vec![("id".into(), Value::Int(id))]), Value::Null) } else { (Value::Null, Value::Struct(vec![("id".into(), Value::Int(id))])) };
            let value = Value::Struct(vec![
                ("before".into(), before),
                ("after".into(), after),
                ("source".into(), Value::Struct(vec![("lsn".into(), Value::Int(40 + id))])),
                ("op".into(), Value::String(op.into())),
            ]);
            Record::new("db.public.t", Data::NULL, Data::shared(Some(envelope.clone()), value))
        };
        let first = chain.apply(event("c", 1), Position::default())?.expect("kept");
        let second = chain.apply(event("u", 2), Position::default())?.expect("kept");
        assert_eq!(second.value.value, Value::Struct(vec![("id".into(), Value::Int(2)), ("__op".into(), Value::String("u".into())), ("__source_lsn".into(), Value::Int(42))]));
        let (a, b) = (first.value.schema.expect("schema"), second.value.schema.expect("schema"));
        assert!(std::sync::Arc::ptr_eq(&a, &b), "one row schema for the table's events");
        let names: Vec<&str> = a.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "__op", "__source_lsn"]);
        assert_eq!(a.field("__source_lsn").map(|s| s.kind), Some(SchemaType::Int64));
        // A rewritten delete keeps the old row and says so, with its own schema.
        let deleted = chain.apply(event("d", 3), Position::default())?.expect("rewritten");
        assert_eq!(deleted.value.value.field("__deleted"), Some(&Value::String("true".into())));
        assert_eq!(deleted.value.value.field("id"), Some(&Value::Int(3)));
        assert!(deleted.value.schema.expect("schema").field("__deleted").is_some());
        Ok(())
    }

    #[test]
    fn bad_settings_and_bad_records_say_what_is_wrong() {
        let err = chain(&[("transforms", "x"), ("transforms.x.type", "no-such")]).unwrap_err().to_string();
        assert!(err.contains("not a known transform") && err.contains("insert-field"), "{err}");
        let err = chain(&[("transforms", "x"), ("transforms.x.type", "cast"), ("transforms.x.predicate", "p")]).unwrap_err().to_string();
        assert!(err.contains("spec") || err.contains("predicate"), "{err}");
        let cast = chain(&[("transforms", "c"), ("transforms.c.type", "cast"), ("transforms.c.spec", "email:int32")]).expect("chain");
        let err = cast.apply(row(), Position::default()).unwrap_err().to_string();
        assert!(err.contains("transform c") && err.contains("email"), "{err}");
    }
}
