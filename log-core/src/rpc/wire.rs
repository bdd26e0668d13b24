//! Replica fetch on the wire: a follower's [`FollowerFetch`] as a request partition, the
//! leader's [`FollowerFetchOutcome`] as an answer with Kafka's error codes, and that answer
//! back as the [`FetchAnswer`] the follower's state machine takes. Both sides convert here and
//! only here, and nothing here trusts a number it is given.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::pb::{DivergingEpoch, ReplicaFetchPartition, ReplicaFetchedPartition};
use crate::broker::{PartitionError, ReplicaFetched};
use crate::replication::{FetchAnswer, FetchPosition, FollowerFetch, FollowerFetchOutcome};
use crate::storage::EpochEndOffset;

/// `fetch` for partition `index` of `topic` as a follower whose high watermark is
/// `high_watermark` sends it.
pub(crate) fn fetch_partition(topic: &str, topic_id: Option<Uuid>, index: i32, fetch: &FollowerFetch, high_watermark: u64) -> ReplicaFetchPartition {
    ReplicaFetchPartition {
        topic_id: topic_id.map_or_else(Bytes::new, |id| Bytes::copy_from_slice(id.as_bytes())),
        topic: topic.to_string(),
        partition: index,
        current_leader_epoch: fetch.current_leader_epoch,
        fetch_offset: i64::try_from(fetch.position.fetch_offset).unwrap_or(i64::MAX),
        last_fetched_epoch: fetch.position.last_fetched_epoch.unwrap_or(-1),
        high_watermark: offset(high_watermark),
    }
}

/// The topic id a request partition names: `Ok(None)` when it names none (empty or nil).
pub(crate) fn requested_topic_id(requested: &ReplicaFetchPartition) -> Result<Option<Uuid>, PartitionError> {
    if requested.topic_id.is_empty() {
        return Ok(None);
    }
    let id = Uuid::from_slice(&requested.topic_id)
        .map_err(|_| PartitionError::new(ResponseError::UnknownTopicId, format!("a topic id of {} bytes", requested.topic_id.len())))?;
    Ok((!id.is_nil()).then_some(id))
}

/// The fetch a request partition stands for, from follower `replica`.
pub(crate) fn follower_fetch(replica: i32, requested: &ReplicaFetchPartition) -> Result<FollowerFetch, PartitionError> {
    let fetch_offset = u64::try_from(requested.fetch_offset)
        .map_err(|_| PartitionError::new(ResponseError::OffsetOutOfRange, format!("negative fetch offset {}", requested.fetch_offset)))?;
    Ok(FollowerFetch {
        replica,
        current_leader_epoch: requested.current_leader_epoch,
        position: FetchPosition {
            fetch_offset,
            last_fetched_epoch: (requested.last_fetched_epoch >= 0).then_some(requested.last_fetched_epoch),
        },
    })
}

/// An answer carrying only `code` (watermarks unknown).
pub(crate) fn error_answer(requested: &ReplicaFetchPartition, code: ResponseError) -> ReplicaFetchedPartition {
    ReplicaFetchedPartition { error_code: i32::from(code.code()), ..answer_to(requested) }
}

/// An answer to `requested` saying nothing yet: no error, every offset unknown.
fn answer_to(requested: &ReplicaFetchPartition) -> ReplicaFetchedPartition {
    ReplicaFetchedPartition {
        topic_id: requested.topic_id.clone(),
        topic: requested.topic.clone(),
        partition: requested.partition,
        error_code: 0,
        high_watermark: -1,
        log_start_offset: -1,
        diverging_epoch: None,
        log_end_offset: -1,
        records: Bytes::new(),
    }
}

/// The answer for a fetch the leader served; `high_watermark` is the partition's, reported
/// with every outcome but a read (which carries its own).
pub(crate) fn served_answer(requested: &ReplicaFetchPartition, served: ReplicaFetched, high_watermark: u64) -> ReplicaFetchedPartition {
    let code = match served.outcome {
        FollowerFetchOutcome::Read { .. } | FollowerFetchOutcome::Diverging(_) => None,
        FollowerFetchOutcome::OutOfRange { .. } => Some(ResponseError::OffsetOutOfRange),
        FollowerFetchOutcome::FencedLeaderEpoch => Some(ResponseError::FencedLeaderEpoch),
        FollowerFetchOutcome::UnknownLeaderEpoch => Some(ResponseError::UnknownLeaderEpoch),
        // What Kafka answers a fetch from a broker outside the assignment.
        FollowerFetchOutcome::NotAReplica => Some(ResponseError::NotLeaderOrFollower),
    };
    let mut answer = match code {
        Some(code) => error_answer(requested, code),
        None => answer_to(requested),
    };
    answer.log_start_offset = offset(served.log_start_offset);
    answer.high_watermark = offset(high_watermark);
    match served.outcome {
        FollowerFetchOutcome::Read { high_watermark } => {
            answer.high_watermark = offset(high_watermark);
            answer.records = served.records;
        }
        FollowerFetchOutcome::Diverging(end) => {
            answer.diverging_epoch = Some(DivergingEpoch { epoch: end.epoch, end_offset: end.end_offset });
        }
        FollowerFetchOutcome::OutOfRange { log_start, log_end } => {
            answer.log_start_offset = offset(log_start);
            answer.log_end_offset = offset(log_end);
        }
        FollowerFetchOutcome::FencedLeaderEpoch | FollowerFetchOutcome::UnknownLeaderEpoch | FollowerFetchOutcome::NotAReplica => {
            answer.high_watermark = -1;
        }
    }
    answer
}

fn offset(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// What the leader's answer means to the follower's state machine, or the error that makes
/// the fetcher leave the partition alone for a while (an unknown partition, a storage error
/// on the leader, an answer that makes no sense).
pub(crate) fn fetch_answer(answer: &ReplicaFetchedPartition) -> Result<FetchAnswer, ResponseError> {
    let code = i16::try_from(answer.error_code).ok().map_or(Some(ResponseError::UnknownServerError), ResponseError::try_from_code);
    match code {
        None => match (answer.diverging_epoch, u64::try_from(answer.high_watermark)) {
            (Some(diverging), _) => Ok(FetchAnswer::Diverging(EpochEndOffset { epoch: diverging.epoch, end_offset: diverging.end_offset })),
            (None, Ok(high_watermark)) => Ok(FetchAnswer::Records { high_watermark }),
            (None, Err(_)) => Err(ResponseError::UnknownServerError),
        },
        Some(ResponseError::OffsetOutOfRange) => match (u64::try_from(answer.log_start_offset), u64::try_from(answer.log_end_offset)) {
            (Ok(log_start), Ok(log_end)) if log_start <= log_end => Ok(FetchAnswer::OutOfRange { log_start, log_end }),
            _ => Err(ResponseError::OffsetOutOfRange),
        },
        Some(ResponseError::NotLeaderOrFollower | ResponseError::FencedLeaderEpoch | ResponseError::UnknownLeaderEpoch) => Ok(FetchAnswer::NotLeader),
        Some(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested() -> ReplicaFetchPartition {
        let fetch = FollowerFetch { replica: 2, current_leader_epoch: 3, position: FetchPosition { fetch_offset: 7, last_fetched_epoch: None } };
        fetch_partition("t", Some(Uuid::from_u128(9)), 0, &fetch, 4)
    }

    fn served(outcome: FollowerFetchOutcome) -> ReplicaFetched {
        ReplicaFetched { outcome, records: Bytes::from_static(b"batch"), log_start_offset: 2 }
    }

    #[test]
    fn every_outcome_comes_back_as_the_answer_it_stands_for() {
        let cases = [
            (FollowerFetchOutcome::Read { high_watermark: 5 }, Ok(FetchAnswer::Records { high_watermark: 5 })),
            (
                FollowerFetchOutcome::Diverging(EpochEndOffset { epoch: -1, end_offset: -1 }),
                Ok(FetchAnswer::Diverging(EpochEndOffset { epoch: -1, end_offset: -1 })),
            ),
            (FollowerFetchOutcome::OutOfRange { log_start: 2, log_end: 4 }, Ok(FetchAnswer::OutOfRange { log_start: 2, log_end: 4 })),
            (FollowerFetchOutcome::FencedLeaderEpoch, Ok(FetchAnswer::NotLeader)),
            (FollowerFetchOutcome::UnknownLeaderEpoch, Ok(FetchAnswer::NotLeader)),
            (FollowerFetchOutcome::NotAReplica, Ok(FetchAnswer::NotLeader)),
        ];
        for (outcome, expected) in cases {
            let answer = served_answer(&requested(), served(outcome), 4);
            assert_eq!(fetch_answer(&answer), expected, "{outcome:?}");
            let read = matches!(outcome, FollowerFetchOutcome::Read { .. });
            assert_eq!(answer.records.is_empty(), !read, "records only with a read");
        }
    }

    #[test]
    fn nonsense_answers_are_errors_not_actions() {
        let mut answer = answer_to(&requested());
        assert_eq!(fetch_answer(&answer), Err(ResponseError::UnknownServerError), "a read without a high watermark");
        answer.error_code = i32::MAX;
        assert_eq!(fetch_answer(&answer), Err(ResponseError::UnknownServerError));
        answer.error_code = i32::from(ResponseError::OffsetOutOfRange.code());
        assert_eq!(fetch_answer(&answer), Err(ResponseError::OffsetOutOfRange), "out of range without the leader's bounds");
        answer.error_code = i32::from(ResponseError::UnknownTopicOrPartition.code());
        assert_eq!(fetch_answer(&answer), Err(ResponseError::UnknownTopicOrPartition));
    }

    #[test]
    fn bad_request_values_are_refused_with_kafka_codes() {
        let mut bad = requested();
        bad.fetch_offset = -1;
        assert_eq!(follower_fetch(2, &bad).map_err(|e| e.code), Err(ResponseError::OffsetOutOfRange));
        bad.topic_id = Bytes::from_static(b"short");
        assert_eq!(requested_topic_id(&bad).map_err(|e| e.code), Err(ResponseError::UnknownTopicId));
        bad.topic_id = Bytes::copy_from_slice(Uuid::nil().as_bytes());
        assert_eq!(requested_topic_id(&bad), Ok(None));
        let fetch = follower_fetch(2, &requested()).expect("valid");
        assert_eq!(fetch.position, FetchPosition { fetch_offset: 7, last_fetched_epoch: None });
        assert_eq!(requested_topic_id(&requested()), Ok(Some(Uuid::from_u128(9))));
    }
}
