//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics; broker configs are
//! described (read-only: they come from the config file).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym};
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::ResponseError;

use super::admin::{SOURCE_DEFAULT, SOURCE_STATIC_BROKER, SOURCE_TOPIC};
use super::str_bytes;
use crate::broker::topic_config::{config_type, default_value, documentation, TOPIC_CONFIG_KEYS};
use crate::broker::{Broker, PartitionError};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

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
                let result = DescribeConfigsResult::default().with_resource_type(resource.resource_type).with_resource_name(str_bytes(name.clone()));
                let entries: Result<Vec<_>, PartitionError> = match resource.resource_type {
                    RESOURCE_TOPIC => match image.topics.get(&name) {
                        Some(topic) => Ok(TOPIC_CONFIG_KEYS
                            .iter()
                            .filter(|k| wanted(k))
                            .map(|key| {
                                let default = default_value(&self.config, key);
                                let (value, source) = match topic.configs.get(*key) {
                                    Some(v) => (Some(v.clone()), SOURCE_TOPIC),
                                    None => (default.clone(), SOURCE_DEFAULT),
                                };
                                let mut synonyms = Vec::new();
                                if request.include_synonyms {
                                    if source == SOURCE_TOPIC {
                                        synonyms.push(DescribeConfigsSynonym::default().with_name(str_bytes(*key)).with_value(value.clone().map(str_bytes)).with_source(SOURCE_TOPIC));
                                    }
                                    synonyms.push(DescribeConfigsSynonym::default().with_name(str_bytes(*key)).with_value(default.map(str_bytes)).with_source(SOURCE_DEFAULT));
                                }
                                entry(key, value, source, false, synonyms, request.include_documentation)
                            })
                            .collect()),
                        None => Err(PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("topic {name:?} does not exist"))),
                    },
                    RESOURCE_BROKER if name.is_empty() || name == self.config.node_id.to_string() => Ok(self
                        .broker_configs()
                        .into_iter()
                        .filter(|(k, _)| wanted(k))
                        .map(|(key, value)| entry(key, Some(value), SOURCE_STATIC_BROKER, true, Vec::new(), request.include_documentation))
                        .collect()),
                    RESOURCE_BROKER => Err(PartitionError::new(ResponseError::InvalidRequest, format!("broker {name} is not this broker ({})", self.config.node_id))),
                    other => Err(PartitionError::new(ResponseError::InvalidRequest, format!("resource type {other} is not supported; use 2 (topic) or 4 (broker)"))),
                };
                match entries {
                    Ok(configs) => result.with_configs(configs),
                    Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(str_bytes(e.message))),
                }
            })
            .collect();
        DescribeConfigsResponse::default().with_results(results)
    }

    fn broker_configs(&self) -> Vec<(&'static str, String)> {
        let c = &self.config;
        let mut out = vec![
            ("node.id", c.node_id.to_string()),
            ("advertised.listeners", format!("PLAINTEXT://{}:{}", c.advertised_host, c.advertised_port)),
            ("log.dirs", c.data_dir.join("logs").display().to_string()),
            ("num.partitions", c.num_partitions.to_string()),
            ("default.replication.factor", c.default_replication_factor.to_string()),
            ("auto.create.topics.enable", c.auto_create_topics.to_string()),
            ("socket.request.max.bytes", c.socket_request_max_bytes.to_string()),
            ("message.max.bytes", c.log.max_message_bytes.to_string()),
            ("offsets.topic.num.partitions", c.offsets_topic_partitions.to_string()),
            ("log.retention.check.interval.ms", c.retention_check_interval_ms.to_string()),
            ("flush.on.acks.all", c.flush_on_acks_all.to_string()),
        ];
        for key in TOPIC_CONFIG_KEYS {
            if let Some(v) = default_value(&self.config, key) {
                out.push((key, v));
            }
        }
        out
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
            RESOURCE_BROKER => Err(PartitionError::new(
                ResponseError::InvalidRequest,
                "broker configs are static: change them in the broker's config file (or FJORD_* environment) and restart",
            )),
            other => Err(PartitionError::new(ResponseError::InvalidRequest, format!("resource type {other} is not supported; use 2 (topic)"))),
        }
    }
}

fn entry(key: &str, value: Option<String>, source: i8, read_only: bool, synonyms: Vec<DescribeConfigsSynonym>, docs: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(key))
        .with_value(value.map(str_bytes))
        .with_read_only(read_only)
        .with_config_source(source)
        .with_synonyms(synonyms)
        .with_config_type(config_type(key))
        .with_documentation(docs.then(|| str_bytes(documentation(key))))
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
        OP_APPEND | OP_SUBTRACT if config_type(key) != 7 => return Err(invalid(format!("{key} is not a list config; APPEND and SUBTRACT apply to lists"))),
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
