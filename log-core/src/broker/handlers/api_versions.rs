//! ApiVersions and DescribeCluster: what this broker speaks and which brokers exist.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::broker::Broker;
use crate::protocol::api_version_list;
use crate::protocol::extensions::BROKER_STATE_TAG;

impl Broker {
    pub(super) fn api_versions(&self, _request: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(api_version_list())
    }

    pub(super) fn describe_cluster(&self, request: DescribeClusterRequest, version: i16) -> DescribeClusterResponse {
        // v1+: which endpoints the client wants, brokers (1) or controllers (2); this listener
        // is a broker's.
        match request.endpoint_type {
            1 => {}
            2 => {
                return DescribeClusterResponse::default()
                    .with_endpoint_type(request.endpoint_type)
                    .with_error_code(ResponseError::MismatchedEndpointType.code())
                    .with_error_message(Some(str_bytes("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")));
            }
            other => {
                let code = if version >= 1 { ResponseError::UnsupportedEndpointType } else { ResponseError::InvalidRequest };
                return DescribeClusterResponse::default()
                    .with_endpoint_type(other)
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(format!("unknown endpoint type {other}"))));
            }
        }
        let image = self.image();
        DescribeClusterResponse::default()
            .with_endpoint_type(request.endpoint_type)
            .with_cluster_id(str_bytes(image.cluster_id.clone()))
            .with_controller_id(BrokerId(self.client_controller_id()))
            .with_brokers(
                image
                    .brokers
                    .iter()
                    .filter(|b| request.include_fenced_brokers || !b.fenced)
                    .map(|b| {
                        DescribeClusterBroker::default()
                            .with_is_fenced(b.fenced)
                            .with_broker_id(BrokerId(b.node_id))
                            .with_host(str_bytes(b.host.clone()))
                            .with_port(b.port)
                            .with_rack(b.rack.clone().map(str_bytes))
                            .with_unknown_tagged_fields(std::iter::once((BROKER_STATE_TAG, bytes::Bytes::from_static(b.state().as_bytes()))).collect())
                    })
                    .collect(),
            )
    }
}
