//! Topic administration: CreateTopics (validate-only too), DeleteTopics, CreatePartitions.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse,
};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::broker::topic_config;
use crate::broker::topics::NewTopic;
use crate::broker::Broker;

impl Broker {
    pub(super) async fn create_topics(&self, request: CreateTopicsRequest, _version: i16) -> CreateTopicsResponse {
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let name = topic.name.to_string();
            let result = CreatableTopicResult::default().with_name(topic_name(&name));
            let mut configs = BTreeMap::new();
            let mut bad_config = None;
            for c in topic.configs {
                match c.value {
                    Some(v) => {
                        configs.insert(c.name.to_string(), v.to_string());
                    }
                    None => bad_config = Some(format!("config {} has no value", c.name.as_str())),
                }
            }
            let mut assignments: Vec<_> = topic.assignments.into_iter().map(|a| (a.partition_index, a.broker_ids.into_iter().map(|b| b.0).collect::<Vec<_>>())).collect();
            assignments.sort_by_key(|(i, _)| *i);
            if assignments.iter().enumerate().any(|(i, (p, _))| *p != i as i32) {
                bad_config = Some("replica assignments must cover partitions 0..n without gaps".into());
            }
            if let Some(message) = bad_config {
                results.push(result.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(str_bytes(message))));
                continue;
            }
            let new = NewTopic {
                name: name.clone(),
                partitions: topic.num_partitions,
                replication_factor: topic.replication_factor,
                assignments: assignments.into_iter().map(|(_, r)| r).collect(),
                configs: configs.clone(),
            };
            results.push(match self.create_topic(new, request.validate_only).await {
                Ok(created) => {
                    let stored = topic_config::canonicalize(&configs).unwrap_or_default();
                    let (defaults, image) = (self.topic_defaults(), self.image());
                    let dynamic = &image.broker_configs;
                    let described = topic_config::keys()
                        .map(|key| {
                            let (value, source, _) = topic_config::describe(&defaults, dynamic, &stored, key);
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(key))
                                .with_value(value.map(str_bytes))
                                .with_config_source(source.code())
                        })
                        .collect();
                    result
                        .with_topic_id(created.id)
                        .with_num_partitions(created.partitions.len() as i32)
                        .with_replication_factor(created.partitions.first().map_or(1, |p| p.replicas.len() as i16))
                        .with_configs(Some(described))
                }
                Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(str_bytes(e.message))).with_num_partitions(-1).with_replication_factor(-1),
            });
        }
        CreateTopicsResponse::default().with_topics(results)
    }

    /// DeleteTopics: by name (v1–5) or, from v6, each entry by name or by topic id (exactly
    /// one of them).
    pub(super) async fn delete_topics(&self, request: DeleteTopicsRequest, _version: i16) -> DeleteTopicsResponse {
        let image = self.image();
        let mut wanted: Vec<Result<String, DeletableTopicResult>> = request.topic_names.iter().map(|n| Ok(n.to_string())).collect();
        for topic in &request.topics {
            let by_id = !topic.topic_id.is_nil();
            wanted.push(match (&topic.name, by_id) {
                (Some(name), false) => Ok(name.to_string()),
                (None, true) => image
                    .topics
                    .iter()
                    .find(|(_, t)| t.id == topic.topic_id)
                    .map(|(name, _)| name.clone())
                    .ok_or_else(|| {
                        DeletableTopicResult::default()
                            .with_topic_id(topic.topic_id)
                            .with_error_code(ResponseError::UnknownTopicId.code())
                            .with_error_message(Some(str_bytes(format!("no topic has id {}", topic.topic_id))))
                    }),
                (name, _) => Err(DeletableTopicResult::default()
                    .with_name(name.clone())
                    .with_topic_id(topic.topic_id)
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes("give exactly one of the topic's name and id")))),
            });
        }
        let mut responses = Vec::with_capacity(wanted.len());
        for name in wanted {
            let name = match name {
                Ok(name) => name,
                Err(refused) => {
                    responses.push(refused);
                    continue;
                }
            };
            let result = DeletableTopicResult::default().with_name(Some(topic_name(&name)));
            responses.push(match self.delete_topic(&name).await {
                Ok(id) => result.with_topic_id(id),
                Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(str_bytes(e.message))),
            });
        }
        DeleteTopicsResponse::default().with_responses(responses)
    }

    pub(super) async fn create_partitions_request(&self, request: CreatePartitionsRequest, _version: i16) -> CreatePartitionsResponse {
        let mut results = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let name = topic.name.to_string();
            let assignments = topic.assignments.map(|a| a.into_iter().map(|x| x.broker_ids.into_iter().map(|b| b.0).collect()).collect());
            let result = CreatePartitionsTopicResult::default().with_name(topic_name(&name));
            results.push(match self.create_partitions(&name, topic.count, assignments, request.validate_only).await {
                Ok(()) => result,
                Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(str_bytes(e.message))),
            });
        }
        CreatePartitionsResponse::default().with_results(results)
    }
}
