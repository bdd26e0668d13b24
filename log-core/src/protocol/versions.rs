//! The API versions this broker answers, advertised in ApiVersions.
//!
//! Floors are Kafka 4.0's (the oldest versions `kafka-protocol` can decode), so clients see
//! the ranges they expect and enable their features (librdkafka turns idempotence off when a
//! range looks too narrow). Ceilings stop before versions whose layout needs something this
//! broker does not have yet: topic ids in Produce/Fetch/OffsetCommit, the KIP-848 consumer
//! protocol fields, share groups.

use kafka_protocol::messages::ApiKey;

/// `(api, min version, max version)` for every API the broker serves.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeCluster, 0, 1),
];

/// The version range served for `api`, if it is served at all.
pub fn supported(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS.iter().find(|(key, _, _)| *key == api).map(|&(_, min, max)| (min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_is_one_the_codec_can_decode() {
        for &(api, min, max) in SUPPORTED_APIS {
            let codec = api.valid_versions();
            assert!(min <= max, "{api:?}");
            assert!(codec.min <= min && max <= codec.max, "{api:?} {min}..={max} outside {codec}");
        }
    }

    #[test]
    fn floors_are_at_or_below_kafka_4() {
        for (api, floor) in [(ApiKey::Produce, 3), (ApiKey::Fetch, 4), (ApiKey::ListOffsets, 1), (ApiKey::OffsetCommit, 2), (ApiKey::OffsetFetch, 1), (ApiKey::Metadata, 0), (ApiKey::JoinGroup, 0)] {
            assert!(supported(api).is_some_and(|(min, _)| min <= floor), "{api:?}");
        }
    }
}
