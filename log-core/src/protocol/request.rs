//! Turning one frame into a typed request: the header first (API key, version, correlation
//! id, client id), then the body with the codec for that API and version.
//!
//! Failures keep what is known about the request (correlation id, API) so the caller can log
//! it, answer when Kafka would (ApiVersions with an unsupported version), or close the
//! connection.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use super::versions;

/// A decoded request.
#[derive(Debug)]
pub struct Request {
    /// The request header (correlation id, client id).
    pub header: RequestHeader,
    /// Which API.
    pub api_key: ApiKey,
    /// Which version of it.
    pub version: i16,
    /// The body.
    pub body: RequestKind,
}

/// Why a frame is not a request this broker can serve.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a request header's fixed part.
    #[error("request of {0} bytes is shorter than a request header")]
    TooShort(usize),
    /// The API key is not one Kafka defines, or one this broker does not serve.
    #[error("unsupported API key {api_key} (correlation id {correlation_id})")]
    UnknownApi {
        /// The key sent.
        api_key: i16,
        /// The request's correlation id.
        correlation_id: i32,
    },
    /// The API is served but not at this version.
    #[error("{api:?} version {version} is not supported (served: {min}..={max})")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// The version sent.
        version: i16,
        /// Lowest served version.
        min: i16,
        /// Highest served version.
        max: i16,
        /// The request's correlation id.
        correlation_id: i32,
    },
    /// The header or body does not decode.
    #[error("malformed {api:?} v{version} request (correlation id {correlation_id}): {reason}")]
    Malformed {
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// The request's correlation id.
        correlation_id: i32,
        /// What the codec reported.
        reason: String,
    },
}

/// Decodes one frame (without its size prefix).
pub fn decode(frame: Bytes) -> Result<Request, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::TooShort(frame.len()));
    }
    let mut fixed = &frame[..8];
    let raw_key = fixed.get_i16();
    let version = fixed.get_i16();
    let correlation_id = fixed.get_i32();
    let api = ApiKey::try_from(raw_key).map_err(|_| DecodeError::UnknownApi { api_key: raw_key, correlation_id })?;
    let Some((min, max)) = versions::supported(api) else {
        return Err(DecodeError::UnknownApi { api_key: raw_key, correlation_id });
    };
    if version < min || version > max {
        return Err(DecodeError::UnsupportedVersion { api, version, min, max, correlation_id });
    }
    let malformed = |reason: String| DecodeError::Malformed { api, version, correlation_id, reason };
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).map_err(|e| malformed(e.to_string()))?;
    let body = RequestKind::decode(api, &mut buf, version).map_err(|e| malformed(e.to_string()))?;
    Ok(Request { header, api_key: api, version, body })
}

impl DecodeError {
    /// The correlation id of the failed request, when its header got that far.
    pub fn correlation_id(&self) -> Option<i32> {
        match self {
            Self::TooShort(_) => None,
            Self::UnknownApi { correlation_id, .. }
            | Self::UnsupportedVersion { correlation_id, .. }
            | Self::Malformed { correlation_id, .. } => Some(*correlation_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(api: i16, version: i16, rest: &[u8]) -> Bytes {
        let mut v = Vec::new();
        v.extend_from_slice(&api.to_be_bytes());
        v.extend_from_slice(&version.to_be_bytes());
        v.extend_from_slice(&7i32.to_be_bytes());
        v.extend_from_slice(rest);
        Bytes::from(v)
    }

    #[test]
    fn api_versions_v0_decodes() {
        let req = decode(frame(18, 0, &[0, 4, b't', b'e', b's', b't'])).unwrap();
        assert_eq!(req.api_key, ApiKey::ApiVersions);
        assert_eq!(req.header.correlation_id, 7);
        assert_eq!(req.header.client_id.as_deref(), Some("test"));
    }

    #[test]
    fn bad_requests_are_errors_that_keep_the_correlation_id() {
        assert!(matches!(decode(Bytes::from_static(&[0, 1])), Err(DecodeError::TooShort(2))));
        assert!(matches!(decode(frame(999, 0, &[])), Err(DecodeError::UnknownApi { api_key: 999, correlation_id: 7 })));
        assert!(matches!(decode(frame(18, 99, &[])), Err(DecodeError::UnsupportedVersion { .. })));
        // Metadata v0 whose topic array claims 2^31-1 entries in a handful of bytes.
        let err = decode(frame(3, 0, &[0, 0, 0x7f, 0xff, 0xff, 0xff, 0])).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { correlation_id: 7, .. }), "{err}");
    }
}
