//! Metadata: brokers, topics and partition placement, with topic auto-creation.

use std::collections::BTreeMap;

use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{str_bytes, topic_name};
use crate::broker::topics::{validate_topic_name, NewTopic};
use crate::broker::{Broker, TopicImage};

impl Broker {
    pub(super) async fn metadata(&self, request: MetadataRequest, version: i16) -> MetadataResponse {
        // v0: an empty list means every topic; v1+: null means every topic.
        // v10+ may name topics by id instead (null name, topic id set).
        let mut by_id = Vec::new();
        let requested: Option<Vec<String>> = match request.topics {
            None => None,
            Some(t) if t.is_empty() && version == 0 => None,
            Some(t) => {
                // Kafka answers each distinct name once; duplicates must not multiply the work.
                let mut names = Vec::new();
                for topic in t {
                    match topic.name {
                        Some(name) => names.push(name.to_string()),
                        None => by_id.push(topic.topic_id),
                    }
                }
                names.sort_unstable();
                names.dedup();
                Some(names)
            }
        };
        let auto_create = self.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
        let mut topics = Vec::new();
        match requested {
            None => {
                let image = self.image();
                for (name, topic) in &image.topics {
                    topics.push(topic_metadata(name, topic));
                }
            }
            Some(names) => {
                for name in names {
                    topics.push(self.topic_metadata_or_create(&name, auto_create).await);
                }
                let image = self.image();
                by_id.sort_unstable();
                by_id.dedup();
                for id in by_id {
                    let found = image.topics.iter().find(|(_, t)| Uuid::from_bytes(*t.id.as_bytes()) == id);
                    topics.push(match found {
                        Some((name, topic)) => topic_metadata(name, topic),
                        None => MetadataResponseTopic::default().with_topic_id(id).with_error_code(ResponseError::UnknownTopicId.code()),
                    });
                }
            }
        }
        let image = self.image();
        MetadataResponse::default()
            .with_brokers(
                image
                    .live_brokers()
                    .map(|b| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(b.node_id))
                            .with_host(str_bytes(b.host.clone()))
                            .with_port(b.port)
                            .with_rack(b.rack.clone().map(str_bytes))
                    })
                    .collect(),
            )
            .with_cluster_id(Some(str_bytes(image.cluster_id.clone())))
            .with_controller_id(BrokerId(self.client_controller_id()))
            .with_topics(topics)
    }

    async fn topic_metadata_or_create(&self, name: &str, auto_create: bool) -> MetadataResponseTopic {
        if let Some(topic) = self.image().topics.get(name) {
            return topic_metadata(name, topic);
        }
        let error = |code: ResponseError| MetadataResponseTopic::default().with_name(Some(topic_name(name))).with_error_code(code.code());
        if let Err(e) = validate_topic_name(name) {
            return error(e.code);
        }
        if !auto_create {
            return error(ResponseError::UnknownTopicOrPartition);
        }
        let new = NewTopic { name: name.to_string(), partitions: -1, replication_factor: -1, assignments: Vec::new(), configs: BTreeMap::new() };
        match self.create_topic(new, false).await {
            Ok(topic) => topic_metadata(name, &topic),
            // Created concurrently by another request: describe it.
            Err(e) if e.code == ResponseError::TopicAlreadyExists => match self.image().topics.get(name) {
                Some(topic) => topic_metadata(name, topic),
                None => error(ResponseError::LeaderNotAvailable),
            },
            Err(e) => {
                tracing::warn!(topic = name, error = %e, "auto-creating a topic failed");
                error(e.code)
            }
        }
    }
}

fn topic_metadata(name: &str, topic: &TopicImage) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_topic_id(Uuid::from_bytes(*topic.id.as_bytes()))
        .with_is_internal(topic.internal)
        .with_partitions(
            topic
                .partitions
                .iter()
                .enumerate()
                .map(|(index, p)| {
                    // No leader (its last in-sync replica is down): clients wait and retry.
                    let error = if p.leader < 0 { ResponseError::LeaderNotAvailable.code() } else { 0 };
                    MetadataResponsePartition::default()
                        .with_error_code(error)
                        .with_partition_index(index as i32)
                        .with_leader_id(BrokerId(p.leader))
                        .with_leader_epoch(p.leader_epoch)
                        .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                        .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
                })
                .collect(),
        )
}
