//! A small blocking Kafka protocol client for what librdkafka does not expose to programs
//! (DescribeCluster for the controller id, IncrementalAlterConfigs for changing one topic
//! config without resending the others, CreateTopics with the broker's error message). Codecs come from the `kafka-protocol` crate;
//! this module owns only the framing: size prefix, request header, correlation ids, and
//! choosing the highest version both sides support (from ApiVersions).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// How much longer than a request's own timeout to wait for its answer.
const READ_GRACE: Duration = Duration::from_secs(5);

/// Largest response accepted: admin responses are small, `fjord bench fetch` asks for 60 MiB
/// at most.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// One connection to one broker.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    address: String,
    correlation_id: i32,
    /// The broker's supported versions per API key.
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to the first reachable address of a comma-separated bootstrap list and asks
    /// it which API versions it supports.
    pub fn connect(bootstrap: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut failures = Vec::new();
        for server in bootstrap.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let connected = connect_one(server, timeout).and_then(|stream| {
                let mut connection =
                    Connection { stream, address: server.to_owned(), correlation_id: 0, versions: HashMap::new() };
                connection.load_versions()?;
                Ok(connection)
            });
            match connected {
                Ok(connection) => return Ok(connection),
                Err(e) => failures.push(format!("{server}: {e:#}")),
            }
        }
        if failures.is_empty() {
            bail!("no bootstrap server given");
        }
        Err(anyhow!("could not connect to any bootstrap server ({})", failures.join("; ")))
    }

    /// The address this connection reached.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends `request` at the highest version both this client and the broker support.
    pub fn call<R: Request>(&mut self, request: &R) -> anyhow::Result<R::Response> {
        self.call_at_most(R::VERSIONS.max, request)
    }

    /// As [`call`](Self::call), at `max_version` at most: for callers that build only the
    /// older layout of a request (Fetch by topic name rather than by topic id, say).
    pub fn call_at_most<R: Request>(&mut self, max_version: i16, request: &R) -> anyhow::Result<R::Response> {
        let version = self.version_for::<R>(max_version)?;
        self.call_at(version, request)
    }

    /// The highest version of `R` both sides support, `max_version` at most.
    fn version_for<R: Request>(&self, max_version: i16) -> anyhow::Result<i16> {
        let name = api_name::<R>();
        let (min, max) = self.versions.get(&R::KEY).copied().ok_or_else(|| {
            anyhow!("the broker at {} does not support {name} requests", self.address)
        })?;
        let (our_min, our_max) = (R::VERSIONS.min, R::VERSIONS.max.min(max_version));
        let version = max.min(our_max);
        if version < min.max(our_min) {
            bail!(
                "the broker at {} supports {name} versions {min}..{max}, this client {our_min}..{our_max}",
                self.address
            );
        }
        Ok(version)
    }

    fn load_versions(&mut self) -> anyhow::Result<()> {
        // Version 0 is the one every broker answers in the layout the client expects.
        let response = self
            .call_at(0, &ApiVersionsRequest::default())
            .context("ApiVersions failed")?;
        if response.error_code != 0 {
            bail!("ApiVersions failed with Kafka error code {}", response.error_code);
        }
        self.versions = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        Ok(())
    }

    /// Sends a Fjord admin request (a JSON body in Fjord's extension frame) and returns the
    /// JSON body of the answer. A broker that is not Fjord closes the connection on it.
    pub fn call_fjord_admin(&mut self, version: i16, body: &[u8]) -> anyhow::Result<Bytes> {
        use fjord_log_core::protocol::extensions::encode_admin_request;
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let frame = encode_admin_request(version, self.correlation_id, "fjord-cli", body);
        let unsupported = || {
            format!(
                "the broker at {} did not answer a Fjord admin request; is it a Fjord broker (Apache Kafka and others have no transforms)?",
                self.address
            )
        };
        self.stream.write_all(&frame).with_context(unsupported)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).with_context(unsupported)?;
        let size = usize::try_from(i32::from_be_bytes(size))
            .ok()
            .filter(|&n| (4..=MAX_RESPONSE_BYTES).contains(&n))
            .ok_or_else(|| anyhow!("{} sent a response of impossible size", self.address))?;
        let mut body = vec![0; size];
        self.stream.read_exact(&mut body).with_context(unsupported)?;
        let correlation_id = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        if correlation_id != self.correlation_id {
            bail!("{} answered request {} with correlation id {correlation_id}", self.address, self.correlation_id);
        }
        Ok(Bytes::from(body).slice(4..))
    }

    fn call_at<R: Request>(&mut self, version: i16, request: &R) -> anyhow::Result<R::Response> {
        let name = api_name::<R>();
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord-cli")));

        let mut frame = BytesMut::new();
        frame.put_i32(0); // the size, filled in below
        header
            .encode(&mut frame, R::header_version(version))
            .and_then(|()| request.encode(&mut frame, version))
            .with_context(|| format!("could not encode a {name} v{version} request"))?;
        let size = i32::try_from(frame.len() - 4).context("request too large")?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        let io_failed = || format!("{name} request to {} failed", self.address);
        self.stream.write_all(&frame).with_context(io_failed)?;

        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).with_context(io_failed)?;
        let size = usize::try_from(i32::from_be_bytes(size))
            .ok()
            .filter(|&n| n <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| anyhow!("{} sent a response of impossible size", self.address))?;
        let mut body = vec![0; size];
        self.stream.read_exact(&mut body).with_context(io_failed)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .with_context(|| format!("could not decode the {name} response header"))?;
        if header.correlation_id != self.correlation_id {
            bail!(
                "{} answered request {} with correlation id {}",
                self.address,
                self.correlation_id,
                header.correlation_id
            );
        }
        R::Response::decode(&mut body, version)
            .with_context(|| format!("could not decode the {name} v{version} response"))
    }
}

fn connect_one(server: &str, timeout: Duration) -> anyhow::Result<TcpStream> {
    let addresses = server
        .to_socket_addrs()
        .with_context(|| format!("`{server}` is not a HOST:PORT that resolves"))?;
    let mut last = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => {
                // Longer than the timeouts requests carry, so that a broker's own
                // REQUEST_TIMED_OUT answer arrives instead of a socket timeout.
                stream.set_read_timeout(Some(timeout + READ_GRACE))?;
                stream.set_write_timeout(Some(timeout))?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => anyhow!(e),
        None => anyhow!("`{server}` resolves to no address"),
    })
}

/// `DescribeClusterRequest` → `DescribeCluster`, for messages.
fn api_name<R: Request>() -> &'static str {
    let full = std::any::type_name::<R>();
    let short = full.rsplit("::").next().unwrap_or(full);
    short.strip_suffix("Request").unwrap_or(short)
}
