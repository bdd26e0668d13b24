//! Encoding a response: size prefix, response header (whose version depends on the API and
//! version), body.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseHeader, ResponseKind};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::protocol::Encodable;
use kafka_protocol::ResponseError;

use super::versions::SERVED_APIS;

/// Encodes `body` as the answer to request `correlation_id` of `api` at `version`, size prefix
/// included. Fails only when the response does not fit the version's layout (a broker bug).
pub fn encode(api: ApiKey, version: i16, correlation_id: i32, body: &ResponseKind) -> Result<Bytes, EncodeError> {
    // Fetch responses carry megabytes of records: sizing the buffer once avoids copying them
    // again on every growth of the buffer.
    let capacity = match body {
        ResponseKind::Fetch(fetch) => fetch.compute_size(version).unwrap_or(0) + 64,
        _ => 256,
    };
    let mut buf = BytesMut::with_capacity(capacity);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(&mut buf, api.response_header_version(version)).map_err(|e| EncodeError(e.to_string()))?;
    body.encode(&mut buf, version).map_err(|e| EncodeError(e.to_string()))?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// The answer Kafka gives an ApiVersions request of a version it does not know: error
/// UNSUPPORTED_VERSION with the supported ranges, in the v0 layout every client can read.
pub fn encode_api_versions_fallback(correlation_id: i32) -> Result<Bytes, EncodeError> {
    let body = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_version_list());
    encode(ApiKey::ApiVersions, 0, correlation_id, &ResponseKind::ApiVersions(body))
}

/// The supported ranges as ApiVersions entries.
pub fn api_version_list() -> Vec<ApiVersion> {
    SERVED_APIS
        .iter()
        .map(|s| ApiVersion::default().with_api_key(s.api as i16).with_min_version(s.advertised_min).with_max_version(s.max))
        .collect()
}

/// A response that does not fit its version's layout (a broker bug, logged and answered by
/// closing the connection).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode response: {0}")]
pub struct EncodeError(pub String);
