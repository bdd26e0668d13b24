//! A bare Kafka connection for requests the client libraries do not expose (DescribeLogDirs,
//! DescribeTopicPartitions, a Fetch with a hostile size, …): requests encoded and responses
//! decoded with the `kafka-protocol` crate, one at a time, every read with a timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// How long a call may take before the test gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response frame accepted.
const MAX_RESPONSE: usize = 256 << 20;

/// One connection to a broker.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    next_correlation_id: i32,
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// The broker closed the connection (or reset it) instead of answering.
    Closed,
    /// Anything else: a socket error or a response that does not decode.
    Other(String),
}

impl RawClient {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, CALL_TIMEOUT)?;
        stream.set_read_timeout(Some(CALL_TIMEOUT))?;
        stream.set_write_timeout(Some(CALL_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, next_correlation_id: 1 })
    }

    /// The underlying socket (to send bytes by hand).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Sends `request` as `api` at `version` and returns the decoded response and the size
    /// of its frame.
    pub fn call(&mut self, api: ApiKey, version: i16, request: impl Into<RequestKind>) -> Result<(ResponseKind, usize), CallError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord-tests")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, api.request_header_version(version)).map_err(|e| CallError::Other(e.to_string()))?;
        request.into().encode(&mut buf, version).map_err(|e| CallError::Other(e.to_string()))?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf).map_err(io_error)?;

        let frame = self.read_frame()?;
        let frame_len = frame.len();
        let mut body = frame.freeze();
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version)).map_err(|e| CallError::Other(e.to_string()))?;
        if header.correlation_id != correlation_id {
            return Err(CallError::Other(format!("correlation id {} answered {correlation_id}", header.correlation_id)));
        }
        let response = ResponseKind::decode(api, &mut body, version).map_err(|e| CallError::Other(format!("{api:?} v{version}: {e}")))?;
        if body.has_remaining() {
            return Err(CallError::Other(format!("{} bytes left after the {api:?} v{version} response", body.remaining())));
        }
        Ok((response, frame_len + 4))
    }

    fn read_frame(&mut self) -> Result<BytesMut, CallError> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(io_error)?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size).ok().filter(|&s| s <= MAX_RESPONSE).ok_or_else(|| CallError::Other(format!("response size {size}")))?;
        let mut frame = BytesMut::zeroed(size);
        self.stream.read_exact(&mut frame).map_err(io_error)?;
        Ok(frame)
    }
}

fn io_error(e: std::io::Error) -> CallError {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, UnexpectedEof};
    match e.kind() {
        UnexpectedEof | ConnectionReset | ConnectionAborted => CallError::Closed,
        _ => CallError::Other(e.to_string()),
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("the broker closed the connection"),
            Self::Other(e) => f.write_str(e),
        }
    }
}
