//! Fjord's additions to Kafka's answers, carried in tagged fields: Kafka clients skip tags
//! they do not know, so the answers stay Kafka's while Fjord's own tools read more. Tags are
//! taken far above the ones Kafka's schemas use (0, 1, 2, …) so a future Kafka field never
//! collides with them.

/// DescribeCluster, on each broker: its state as the controller records it, as UTF-8 —
/// `alive`, `fenced` or `shutting down` (Kafka's answer has only `is_fenced`).
pub const BROKER_STATE_TAG: i32 = 10_000;

/// API key of Fjord's own admin requests on the Kafka listener (today: transforms). Far above
/// Kafka's keys; not advertised in ApiVersions, so Kafka clients never see it. A broker that
/// is not Fjord closes the connection on it, which `fjord` reports as "not supported".
pub const FJORD_ADMIN_API_KEY: i16 = 10_000;

/// A Fjord admin request: Kafka's request header v1 (API key, version, correlation id,
/// client id) followed by a JSON body.
#[derive(Debug, Clone)]
pub struct AdminFrame {
    /// The version of the admin API the client speaks.
    pub version: i16,
    /// The request's correlation id.
    pub correlation_id: i32,
    /// The client id.
    pub client_id: Option<String>,
    /// The JSON body.
    pub body: bytes::Bytes,
}

/// Whether `frame` (without its size prefix) is a Fjord admin request.
pub fn is_admin_frame(frame: &[u8]) -> bool {
    frame.len() >= 2 && i16::from_be_bytes([frame[0], frame[1]]) == FJORD_ADMIN_API_KEY
}

/// Decodes a Fjord admin request.
pub fn decode_admin(frame: bytes::Bytes) -> Result<AdminFrame, super::DecodeError> {
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::Decodable;
    if frame.len() < 8 {
        return Err(super::DecodeError::TooShort(frame.len()));
    }
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, 1).map_err(|_| super::DecodeError::UnknownApi { api_key: FJORD_ADMIN_API_KEY, correlation_id })?;
    Ok(AdminFrame {
        version: header.request_api_version,
        correlation_id,
        client_id: header.client_id.map(|c| c.to_string()),
        body: buf,
    })
}

/// The answer to a Fjord admin request: size prefix, correlation id (response header v0), JSON
/// body.
pub fn encode_admin_response(correlation_id: i32, body: &[u8]) -> bytes::Bytes {
    let mut frame = Vec::with_capacity(8 + body.len());
    frame.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(body);
    bytes::Bytes::from(frame)
}

/// A Fjord admin request as a client sends it (size prefix included).
pub fn encode_admin_request(version: i16, correlation_id: i32, client_id: &str, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(16 + client_id.len() + body.len());
    frame.extend_from_slice(&0i32.to_be_bytes());
    frame.extend_from_slice(&FJORD_ADMIN_API_KEY.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    let id = &client_id.as_bytes()[..client_id.len().min(i16::MAX as usize)];
    frame.extend_from_slice(&(id.len() as i16).to_be_bytes());
    frame.extend_from_slice(id);
    frame.extend_from_slice(body);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_request_round_trips() {
        let frame = encode_admin_request(0, 42, "fjord-cli", b"{\"op\":\"list\"}");
        let body = bytes::Bytes::copy_from_slice(&frame[4..]);
        assert!(is_admin_frame(&body));
        let decoded = decode_admin(body).unwrap();
        assert_eq!((decoded.version, decoded.correlation_id, decoded.client_id.as_deref()), (0, 42, Some("fjord-cli")));
        assert_eq!(&decoded.body[..], b"{\"op\":\"list\"}");
        assert!(decode_admin(bytes::Bytes::from_static(&[0x27, 0x10, 0])).is_err());
    }
}
