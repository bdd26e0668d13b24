//! ApiVersions and DescribeCluster: what this broker speaks and which brokers exist.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::protocol::api_version_list;

impl Broker {
    pub(super) fn api_versions(&self, _request: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(api_version_list())
    }

    pub(super) fn describe_cluster(&self, _request: DescribeClusterRequest, _version: i16) -> DescribeClusterResponse {
        let image = self.image();
        DescribeClusterResponse::default()
            .with_cluster_id(str_bytes(image.cluster_id.clone()))
            .with_controller_id(BrokerId(image.controller_id))
            .with_brokers(
                image
                    .brokers
                    .iter()
                    .map(|b| {
                        DescribeClusterBroker::default()
                            .with_broker_id(BrokerId(b.node_id))
                            .with_host(str_bytes(b.host.clone()))
                            .with_port(b.port)
                            .with_rack(b.rack.clone().map(str_bytes))
                    })
                    .collect(),
            )
    }
}
