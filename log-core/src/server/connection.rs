//! One client connection: read a frame, decode it, hand it to the broker, write the answer,
//! in order. Every request gets an answer or the connection is closed; nothing waits
//! forever:
//!
//! - between requests, a connection idle for `connections.max.idle.ms` is closed;
//! - once a frame's first byte arrived, the whole frame must arrive within
//!   `socket.request.read.timeout.ms` (time spent waiting for request memory not counted);
//! - a frame's bytes are reserved in the request memory pool as they arrive (a chunk ahead)
//!   and given back once its response is written.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::limits::{ConnectionSlot, RequestMemory, Reservation};
use crate::broker::{ApiLabel, Broker, ClientInfo, CloseReason, Handled};
use crate::protocol::{self, DecodeError, FrameError};

/// A connection being served.
#[derive(Debug)]
pub(super) struct Connection {
    broker: Arc<Broker>,
    peer: SocketAddr,
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    memory: RequestMemory,
    client: ClientInfo,
    _slot: ConnectionSlot,
}

/// How far ahead of the socket a connection reserves request memory.
const RESERVE_CHUNK: usize = 64 * 1024;

/// Why the read loop stopped.
enum Next {
    Frame(BytesMut, Reservation),
    Stop,
}

impl Connection {
    pub(super) fn new(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr, slot: ConnectionSlot, memory: RequestMemory) -> Self {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let client = ClientInfo { client_id: String::new(), client_host: peer.ip().to_string() };
        Self { broker, peer, read: BufReader::with_capacity(64 * 1024, read), write, memory, client, _slot: slot }
    }

    pub(super) async fn serve(mut self, mut shutdown: watch::Receiver<bool>) {
        let broker = self.broker.clone();
        broker.metrics().connections.inc();
        loop {
            let (frame, reservation) = match self.next_frame(&mut shutdown).await {
                Next::Frame(frame, reservation) => (frame, reservation),
                Next::Stop => break,
            };
            let keep_going = self.answer(frame.freeze()).await;
            drop(reservation);
            if !keep_going {
                break;
            }
        }
        let _ = self.write.shutdown().await;
        broker.metrics().connections.dec();
    }

    fn close(&self, reason: CloseReason) {
        self.broker.metrics().connection_closes.get_or_create(&reason.label()).inc();
    }

    /// Waits for the next frame within the connection's time limits and reserves memory for it.
    async fn next_frame(&mut self, shutdown: &mut watch::Receiver<bool>) -> Next {
        let config = self.broker.config();
        let idle = Duration::from_millis(config.connections_max_idle_ms.max(1));
        let read_timeout = Duration::from_millis(config.request_read_timeout_ms.max(1));
        let max = config.socket_request_max_bytes;
        let peer = self.peer;
        // Idle until the first byte of the next frame.
        let first = tokio::select! {
            first = tokio::time::timeout(idle, self.read.fill_buf()) => first,
            _ = shutdown.changed() => return Next::Stop,
        };
        match first {
            Err(_) => {
                tracing::debug!(%peer, idle_ms = idle.as_millis() as u64, "closing an idle connection (connections.max.idle.ms)");
                self.close(CloseReason::Idle);
                return Next::Stop;
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "connection error");
                return Next::Stop;
            }
            Ok(Ok([])) => return Next::Stop, // closed between requests
            Ok(Ok(_)) => {}
        }
        let started = Instant::now();
        let size = match tokio::time::timeout(read_timeout, protocol::read_frame_size(&mut self.read, max)).await {
            Ok(Ok(Some(size))) => size,
            Ok(Ok(None)) => return Next::Stop,
            Ok(Err(e)) => return self.frame_error(e),
            Err(_) => return self.read_timed_out(0, 4),
        };
        // The body, a chunk at a time: memory for each chunk is reserved before it is read.
        // Time spent waiting for memory does not count against the read timeout.
        let mut deadline = started + read_timeout;
        let mut reservation = Reservation::empty();
        let mut payload = BytesMut::with_capacity(size.min(RESERVE_CHUNK));
        while payload.len() < size {
            let chunk = (size - payload.len()).min(RESERVE_CHUNK);
            let waiting = Instant::now();
            let more = tokio::select! {
                more = self.memory.reserve(chunk) => more,
                _ = shutdown.changed() => return Next::Stop,
            };
            reservation.merge(more);
            deadline += waiting.elapsed();
            payload.reserve(chunk);
            let target = payload.len() + chunk;
            match tokio::time::timeout_at(deadline, protocol::read_frame_part(&mut self.read, &mut payload, target, size)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return self.frame_error(e),
                Err(_) => return self.read_timed_out(payload.len(), size),
            }
        }
        self.broker.metrics().bytes_received.inc_by(size as u64 + 4);
        Next::Frame(payload, reservation)
    }

    fn frame_error(&self, error: FrameError) -> Next {
        let peer = self.peer;
        match error {
            FrameError::Io(e) => tracing::debug!(%peer, error = %e, "connection error"),
            e => {
                self.broker.metrics().request_errors.inc();
                tracing::warn!(%peer, client_id = %self.client.client_id, error = %e, "closing connection");
            }
        }
        Next::Stop
    }

    fn read_timed_out(&self, buffered: usize, size: usize) -> Next {
        let peer = self.peer;
        self.broker.metrics().request_errors.inc();
        self.close(CloseReason::ReadTimeout);
        tracing::warn!(
            %peer,
            client_id = %self.client.client_id,
            size,
            buffered,
            timeout_ms = self.broker.config().request_read_timeout_ms,
            "closing connection: a request did not arrive in full within socket.request.read.timeout.ms"
        );
        Next::Stop
    }

    /// Decodes and serves one frame and writes its answer. False when the connection must
    /// close.
    async fn answer(&mut self, frame: Bytes) -> bool {
        let broker = self.broker.clone();
        let peer = self.peer;
        let arrived = std::time::Instant::now();
        let mut api_label = None;
        let response = if protocol::extensions::is_admin_frame(&frame) {
            match protocol::extensions::decode_admin(frame) {
                Ok(request) => {
                    let label = ApiLabel { api: "FjordAdmin".to_string() };
                    broker.metrics().requests.get_or_create(&label).inc();
                    api_label = Some(label);
                    let correlation_id = request.correlation_id;
                    let answer = broker.handle_admin(request).await;
                    Ok(protocol::extensions::encode_admin_response(correlation_id, &answer))
                }
                Err(e) => {
                    broker.metrics().request_errors.inc();
                    tracing::warn!(%peer, client_id = %self.client.client_id, error = %e, "closing connection after a Fjord admin request that does not decode");
                    return false;
                }
            }
        } else {
            match protocol::decode(frame) {
            Ok(request) => {
                if let Some(id) = request.header.client_id.as_deref()
                    && id != self.client.client_id
                {
                    self.client.client_id = id.to_string();
                }
                let (api, version, correlation_id) = (request.api_key, request.version, request.header.correlation_id);
                let label = ApiLabel { api: format!("{api:?}") };
                broker.metrics().requests.get_or_create(&label).inc();
                api_label = Some(label);
                match broker.handle(request, &self.client).await {
                    Handled::Respond(body) => protocol::encode(api, version, correlation_id, &body),
                    Handled::NoResponse => return true,
                    Handled::Close(reason) => {
                        tracing::debug!(%peer, client_id = %self.client.client_id, %reason, "closing connection");
                        return false;
                    }
                }
            }
            Err(DecodeError::UnsupportedVersion { api: ApiKey::ApiVersions, correlation_id, version, .. }) => {
                tracing::debug!(%peer, version, "ApiVersions version not supported; answering with the v0 fallback");
                protocol::encode_api_versions_fallback(correlation_id)
            }
            Err(e) => {
                broker.metrics().request_errors.inc();
                tracing::warn!(%peer, client_id = %self.client.client_id, error = %e, "closing connection after a request that cannot be served");
                return false;
            }
            }
        };
        let bytes: Bytes = match response {
            Ok(bytes) => bytes,
            Err(e) => {
                broker.metrics().request_errors.inc();
                tracing::error!(%peer, error = %e, "closing connection: response could not be encoded");
                return false;
            }
        };
        broker.metrics().bytes_sent.inc_by(bytes.len() as u64);
        // A client that stops reading its responses is treated as idle.
        let idle = Duration::from_millis(broker.config().connections_max_idle_ms.max(1));
        match tokio::time::timeout(idle, self.write.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "writing a response failed");
                return false;
            }
            Err(_) => {
                tracing::warn!(%peer, client_id = %self.client.client_id, "closing connection: the client read none of its response within connections.max.idle.ms");
                self.close(CloseReason::Idle);
                return false;
            }
        }
        if let Some(label) = &api_label {
            broker.metrics().request_seconds.get_or_create(label).observe(arrived.elapsed().as_secs_f64());
        }
        true
    }
}
