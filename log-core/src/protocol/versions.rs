//! The API versions this broker answers, advertised in ApiVersions: the ranges of Apache
//! Kafka 4.0.1, API by API, for every API it serves. Clients that infer the broker's release
//! from ApiVersions (librdkafka's feature checks, franz-go, Sarama, kafka-python) therefore
//! infer 4.0.
//!
//! One exception, Kafka's own: Produce is advertised from version 0 (librdkafka checks for
//! v0 before it enables compression) but versions 0–2 are refused (the connection closed),
//! as Kafka 4.0 does (KAFKA-18659).

use kafka_protocol::messages::ApiKey;

/// An API this broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedApi {
    /// The API.
    pub api: ApiKey,
    /// Lowest version advertised.
    pub advertised_min: i16,
    /// Lowest version served.
    pub min: i16,
    /// Highest version served and advertised.
    pub max: i16,
}

const fn api(api: ApiKey, min: i16, max: i16) -> ServedApi {
    ServedApi { api, advertised_min: min, min, max }
}

/// Every API the broker serves, with Kafka 4.0.1's ranges.
pub const SERVED_APIS: &[ServedApi] = &[
    ServedApi { api: ApiKey::Produce, advertised_min: 0, min: 3, max: 12 },
    api(ApiKey::Fetch, 4, 17),
    api(ApiKey::ListOffsets, 1, 10),
    api(ApiKey::Metadata, 0, 13),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::SaslHandshake, 0, 1),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::AlterReplicaLogDirs, 1, 2),
    api(ApiKey::DescribeLogDirs, 1, 4),
    api(ApiKey::SaslAuthenticate, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DescribeCluster, 0, 2),
    api(ApiKey::DescribeTopicPartitions, 0, 0),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::DescribeQuorum, 0, 2),
    api(ApiKey::AlterPartitionReassignments, 0, 0),
    api(ApiKey::ListPartitionReassignments, 0, 0),
];

/// The version range served for `api`, if it is served at all.
pub fn supported(api: ApiKey) -> Option<(i16, i16)> {
    SERVED_APIS.iter().find(|s| s.api == api).map(|s| (s.min, s.max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_is_one_the_codec_can_decode() {
        for &ServedApi { api, min, max, .. } in SERVED_APIS {
            let codec = api.valid_versions();
            assert!(min <= max, "{api:?}");
            assert!(codec.min <= min && max <= codec.max, "{api:?} {min}..={max} outside {codec}");
        }
    }

    #[test]
    fn the_ranges_are_kafka_4_0_1s() {
        let advertised = |api| SERVED_APIS.iter().find(|s| s.api == api).map(|s| (s.advertised_min, s.max));
        assert_eq!(advertised(ApiKey::Produce), Some((0, 12)));
        assert_eq!(advertised(ApiKey::Fetch), Some((4, 17)));
        assert_eq!(advertised(ApiKey::ListOffsets), Some((1, 10)));
        assert_eq!(advertised(ApiKey::Metadata), Some((0, 13)));
        assert_eq!(supported(ApiKey::Produce), Some((3, 12)), "Produce v0-2 are advertised, not served");
    }

    #[test]
    fn floors_are_at_or_below_kafka_4() {
        for (api, floor) in [(ApiKey::Produce, 3), (ApiKey::Fetch, 4), (ApiKey::ListOffsets, 1), (ApiKey::OffsetCommit, 2), (ApiKey::OffsetFetch, 1), (ApiKey::Metadata, 0), (ApiKey::JoinGroup, 0)] {
            assert!(supported(api).is_some_and(|(min, _)| min <= floor), "{api:?}");
        }
    }
}
