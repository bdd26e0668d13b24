//! Loading: replays partitions of the offsets topic (all of them on a node alone; one as a
//! cluster member becomes its leader), in offset order, into groups. The
//! last record of a key wins; tombstones delete. A group comes back Stable with its members
//! (each given a fresh session to heartbeat or rejoin, as Kafka does) or Empty, with its
//! generation, protocol, leader, assignments and committed offsets.

use std::collections::{BTreeMap, HashMap};

use crate::group::GroupError;
use crate::group::records::{GroupRecord, GroupValue, OffsetValue};
use crate::group::state::{Group, GroupState, Member, Now};
use crate::group::store::OffsetsTopic;

#[derive(Default)]
struct Replayed {
    metadata: Option<GroupValue>,
    offsets: BTreeMap<String, BTreeMap<i32, OffsetValue>>,
}

/// Reads every partition and builds the groups. Undecodable records are skipped with a
/// warning; a partition that cannot be read fails the load.
pub(crate) fn replay<S: OffsetsTopic>(
    store: &S,
    partitions: std::ops::Range<i32>,
    now: &Now,
) -> Result<HashMap<String, Group>, GroupError> {
    let mut replayed: HashMap<String, Replayed> = HashMap::new();
    for partition in partitions {
        for (index, (key, value)) in store.read_all(partition)?.into_iter().enumerate() {
            let record = match GroupRecord::decode(Some(&key), value.as_deref()) {
                Ok(record) => record,
                Err(error) => {
                    tracing::warn!(partition, index, %error, "skipping undecodable offsets topic record");
                    continue;
                }
            };
            apply(&mut replayed, record);
        }
    }
    Ok(replayed
        .into_iter()
        .filter(|(_, r)| r.metadata.is_some() || r.offsets.values().any(|p| !p.is_empty()))
        .map(|(id, r)| {
            let group = build(id.clone(), r, now);
            (id, group)
        })
        .collect())
}

fn apply(replayed: &mut HashMap<String, Replayed>, record: GroupRecord) {
    match record {
        GroupRecord::Offset { group, topic, partition, value } => {
            let entry = replayed.entry(group).or_default();
            match value {
                Some(v) => {
                    entry.offsets.entry(topic).or_default().insert(partition, v);
                }
                None => {
                    if let Some(partitions) = entry.offsets.get_mut(&topic) {
                        partitions.remove(&partition);
                        if partitions.is_empty() {
                            entry.offsets.remove(&topic);
                        }
                    }
                }
            }
        }
        GroupRecord::Group { group, value } => {
            replayed.entry(group).or_default().metadata = value;
        }
    }
}

fn build(id: String, replayed: Replayed, now: &Now) -> Group {
    let mut group = Group::new(id, now);
    group.offsets = replayed.offsets;
    let Some(meta) = replayed.metadata else {
        // Offsets only (a group that never had members): Empty, no known state timestamp.
        group.state_timestamp_ms = None;
        return group;
    };
    group.generation = meta.generation;
    group.protocol_type = Some(meta.protocol_type).filter(|t| !t.is_empty());
    group.protocol_name = meta.protocol;
    group.state_timestamp_ms = Some(meta.current_state_timestamp).filter(|t| *t >= 0);
    let protocol = group.protocol_name.clone().unwrap_or_default();
    for m in meta.members {
        let mut member = Member {
            id: m.member_id,
            instance_id: m.group_instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            session_timeout_ms: m.session_timeout_ms,
            protocols: vec![(protocol.clone(), m.subscription)],
            assignment: m.assignment,
            join_waiter: None,
            sync_waiter: None,
            session_deadline: now.instant,
            is_new: false,
            joined_at: now.instant,
        };
        member.reset_session(now.instant);
        group.members.push(member);
    }
    group.leader = meta.leader.filter(|l| group.has(l)).or_else(|| group.members.first().map(|m| m.id.clone()));
    group.state = if group.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
    group.compute_subscribed_topics();
    group
}
