//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: topics (every Kafka 4.0 topic
//! config, with its source, synonyms, type and documentation) and the broker (every setting
//! of the [`catalog`](crate::broker::catalog), with the ones Kafka lets change at runtime
//! changeable here too: see [`dynamic_config`](crate::broker::dynamic_config)).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym};
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::broker::catalog::{self, ConfigKind, ConfigSpec, BROKER_CONFIGS};
use crate::broker::dynamic_config::{self, DynamicConfigs};
use crate::broker::topic_config::{self, default_value};
use crate::broker::{Broker, ConfigSource, PartitionError};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_BROKER_LOGGER: i8 = 8;

/// What a DescribeConfigs request wants with each entry.
#[derive(Debug, Clone, Copy)]
struct EntryView {
    synonyms: bool,
    documentation: bool,
}

fn synonym(name: &str, value: Option<String>, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default().with_name(str_bytes(name)).with_value(value.map(str_bytes)).with_source(source)
}

/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

impl Broker {
    pub(super) fn describe_configs(&self, request: DescribeConfigsRequest, _version: i16) -> DescribeConfigsResponse {
        let image = self.image();
        let results = request
            .resources
            .into_iter()
            .map(|resource| {
                let name = resource.resource_name.to_string();
                let wanted = |key: &str| resource.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k.as_str() == key));
                let view = EntryView { synonyms: request.include_synonyms, documentation: request.include_documentation };
                let result = DescribeConfigsResult::default().with_resource_type(resource.resource_type).with_resource_name(str_bytes(name.clone()));
                let entries: Result<Vec<_>, PartitionError> = match resource.resource_type {
                    RESOURCE_TOPIC => match image.topics.get(&name) {
                        Some(topic) => Ok(topic_config::keys()
                            .filter(|k| wanted(k))
                            .map(|key| self.topic_entry(&image.broker_configs, &topic.configs, key, view))
                            .collect()),
                        None => Err(PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("topic {name:?} does not exist"))),
                    },
                    // An empty name is the cluster-wide default: the same settings here.
                    // The cluster-wide default resource holds only what was set there at runtime.
                    RESOURCE_BROKER if name.is_empty() => Ok(image
                        .broker_configs
                        .get("")
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| wanted(k))
                        .filter_map(|(key, value)| catalog::broker_config(key).map(|spec| (spec, value)))
                        .map(|(spec, value)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(spec.name))
                                .with_value(Some(str_bytes(value.clone())))
                                .with_read_only(false)
                                .with_config_source(ConfigSource::DynamicDefaultBroker.code())
                                .with_synonyms(if view.synonyms {
                                    vec![synonym(spec.name, Some(value.clone()), ConfigSource::DynamicDefaultBroker.code())]
                                } else {
                                    Vec::new()
                                })
                                .with_config_type(spec.kind.describe_type())
                                .with_documentation(view.documentation.then(|| str_bytes(spec.doc)))
                        })
                        .collect()),
                    RESOURCE_BROKER if name == self.config.node_id.to_string() => Ok(BROKER_CONFIGS
                        .iter()
                        .filter(|spec| wanted(spec.name))
                        .map(|spec| self.broker_entry(&image.broker_configs, spec, view))
                        .collect()),
                    RESOURCE_BROKER => Err(PartitionError::new(
                        ResponseError::InvalidRequest,
                        format!("broker {name} is not this broker ({}); ask that broker", self.config.node_id),
                    )),
                    RESOURCE_BROKER_LOGGER => Ok(Vec::new()),
                    other => Err(PartitionError::new(
                        ResponseError::InvalidRequest,
                        format!("resource type {other} is not supported; use 2 (topic), 4 (broker) or 8 (broker logger)"),
                    )),
                };
                match entries {
                    Ok(configs) => result.with_configs(configs),
                    Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(str_bytes(e.message))),
                }
            })
            .collect();
        DescribeConfigsResponse::default().with_results(results)
    }

    fn topic_entry(&self, dynamic: &DynamicConfigs, overrides: &BTreeMap<String, String>, key: &str, view: EntryView) -> DescribeConfigsResourceResult {
        let (value, source, chain) = topic_config::describe(&self.topic_defaults(), dynamic, overrides, key);
        let synonyms = if view.synonyms {
            chain.into_iter().map(|(name, value, source)| synonym(&name, Some(value), source.code())).collect()
        } else {
            Vec::new()
        };
        DescribeConfigsResourceResult::default()
            .with_name(str_bytes(key))
            .with_value(value.map(str_bytes))
            .with_read_only(false)
            .with_config_source(source.code())
            .with_synonyms(synonyms)
            .with_config_type(topic_config::config_type(key))
            .with_documentation(view.documentation.then(|| str_bytes(topic_config::documentation(key))))
    }

    fn broker_entry(&self, dynamic: &DynamicConfigs, spec: &ConfigSpec, view: EntryView) -> DescribeConfigsResourceResult {
        let source = dynamic_config::source(&self.config, dynamic, spec.name);
        let value = self.topic_defaults().value_of(spec.name);
        let mut synonyms = Vec::new();
        if view.synonyms {
            for (layer, layer_source) in dynamic_config::layers(&self.config, dynamic) {
                for name in spec.synonyms {
                    if let Some(v) = layer.and_then(|l| l.get(*name)) {
                        synonyms.push(synonym(name, Some(v.clone()), layer_source.code()));
                    }
                }
            }
            // The default behind them: the first synonym that has one (log.retention.ms has
            // none of its own; log.retention.hours' 168 is the default).
            let default = spec.synonyms.iter().find_map(|name| catalog::broker_config(name).and_then(|s| s.default).map(|d| (*name, d)));
            if let Some((name, value)) = default {
                synonyms.push(synonym(name, Some(value.to_string()), ConfigSource::Default.code()));
            }
        }
        DescribeConfigsResourceResult::default()
            .with_name(str_bytes(spec.name))
            .with_value(value.map(str_bytes))
            .with_read_only(!dynamic_config::is_dynamic(spec.name))
            .with_is_sensitive(spec.kind == ConfigKind::Password)
            .with_config_source(source.code())
            .with_synonyms(synonyms)
            .with_config_type(spec.kind.describe_type())
            .with_documentation(view.documentation.then(|| str_bytes(spec.doc)))
    }

    pub(super) async fn alter_configs(&self, request: AlterConfigsRequest, _version: i16) -> AlterConfigsResponse {
        let mut responses = Vec::new();
        for resource in request.resources {
            let name = resource.resource_name.to_string();
            let configs: BTreeMap<String, String> = resource.configs.into_iter().filter_map(|c| Some((c.name.to_string(), c.value?.to_string()))).collect();
            let result = self.alter_resource(resource.resource_type, &name, |_| Ok(configs), request.validate_only).await;
            let response = alter_configs_response::AlterConfigsResourceResponse::default().with_resource_type(resource.resource_type).with_resource_name(str_bytes(name));
            responses.push(match result {
                Ok(()) => response,
                Err(e) => response.with_error_code(e.code.code()).with_error_message(Some(str_bytes(e.message))),
            });
        }
        AlterConfigsResponse::default().with_responses(responses)
    }

    pub(super) async fn incremental_alter_configs(&self, request: IncrementalAlterConfigsRequest, _version: i16) -> IncrementalAlterConfigsResponse {
        let mut responses = Vec::new();
        for resource in request.resources {
            let name = resource.resource_name.to_string();
            let ops: Vec<(String, i8, Option<String>)> = resource.configs.into_iter().map(|c| (c.name.to_string(), c.config_operation, c.value.map(|v| v.to_string()))).collect();
            let broker_config = self.config.clone();
            let result = self
                .alter_resource(
                    resource.resource_type,
                    &name,
                    move |current| {
                        let mut next = current.clone();
                        for (key, op, value) in &ops {
                            apply_op(&broker_config, &mut next, key, *op, value.as_deref())?;
                        }
                        Ok(next)
                    },
                    request.validate_only,
                )
                .await;
            let response = incremental_alter_configs_response::AlterConfigsResourceResponse::default().with_resource_type(resource.resource_type).with_resource_name(str_bytes(name));
            responses.push(match result {
                Ok(()) => response,
                Err(e) => response.with_error_code(e.code.code()).with_error_message(Some(str_bytes(e.message))),
            });
        }
        IncrementalAlterConfigsResponse::default().with_responses(responses)
    }

    async fn alter_resource(
        &self,
        resource_type: i8,
        name: &str,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, PartitionError>,
        validate_only: bool,
    ) -> Result<(), PartitionError> {
        match resource_type {
            RESOURCE_TOPIC => {
                let current = self
                    .image()
                    .topics
                    .get(name)
                    .map(|t| t.configs.clone())
                    .ok_or_else(|| PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("topic {name:?} does not exist")))?;
                let next = change(&current)?;
                self.set_topic_configs(name, next, validate_only).await
            }
            RESOURCE_BROKER => {
                if !name.is_empty() && name != self.config.node_id.to_string() {
                    return Err(PartitionError::new(ResponseError::InvalidRequest, format!("broker {name} is not this broker ({})", self.config.node_id)));
                }
                let current = self.image().broker_configs.get(name).cloned().unwrap_or_default();
                let next = change(&current)?;
                self.set_broker_configs(name, next, validate_only).await
            }
            other => Err(PartitionError::new(ResponseError::InvalidRequest, format!("resource type {other} is not supported; use 2 (topic) or 4 (broker)"))),
        }
    }
}

/// Applies one IncrementalAlterConfigs operation to a topic's overrides.
fn apply_op(broker: &crate::broker::BrokerConfig, configs: &mut BTreeMap<String, String>, key: &str, op: i8, value: Option<&str>) -> Result<(), PartitionError> {
    let invalid = |m: String| PartitionError::new(ResponseError::InvalidConfig, m);
    let list = |configs: &BTreeMap<String, String>| -> Vec<String> {
        configs.get(key).cloned().or_else(|| default_value(broker, key)).unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    };
    match op {
        OP_SET => {
            let value = value.ok_or_else(|| invalid(format!("SET of {key} needs a value")))?;
            configs.insert(key.to_string(), value.to_string());
        }
        OP_DELETE => {
            configs.remove(key);
        }
        OP_APPEND | OP_SUBTRACT if topic_config::config_type(key) != 7 => return Err(invalid(format!("{key} is not a list config; APPEND and SUBTRACT apply to lists"))),
        OP_APPEND => {
            let mut items = list(configs);
            for v in value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !items.iter().any(|i| i == v) {
                    items.push(v.to_string());
                }
            }
            configs.insert(key.to_string(), items.join(","));
        }
        OP_SUBTRACT => {
            let remove: Vec<&str> = value.unwrap_or_default().split(',').map(str::trim).collect();
            let items: Vec<String> = list(configs).into_iter().filter(|i| !remove.contains(&i.as_str())).collect();
            configs.insert(key.to_string(), items.join(","));
        }
        other => return Err(PartitionError::new(ResponseError::InvalidRequest, format!("unknown config operation {other}"))),
    }
    Ok(())
}
