//! [`LeaderStream`]: a follower's replica-fetch stream to one leader broker — connect, then
//! one request at a time, each answered within a deadline. Any failure ends the stream: the
//! fetcher drops it and opens a new one after a backoff.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tonic::Streaming;

use super::pb::replica_service_client::ReplicaServiceClient;
use super::pb::{ReplicaFetchRequest, ReplicaFetchResponse};

/// How often an idle connection is checked, and how long the check may go unanswered.
use super::{MAX_FRAME_BYTES, WINDOW_BYTES};

const KEEPALIVE: Duration = Duration::from_secs(5);

/// Why a stream to a leader ended or never began.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    /// The endpoint in the metadata is not `host:port`.
    #[error("the leader's endpoint {endpoint:?} is not host:port: {source}")]
    BadEndpoint { endpoint: String, source: tonic::transport::Error },
    /// The leader could not be reached.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect { endpoint: String, source: tonic::transport::Error },
    /// The leader (or the connection) failed the stream.
    #[error("the stream to {endpoint} failed: {status}")]
    Status { endpoint: String, status: Box<tonic::Status> },
    /// The leader ended the stream (it is shutting down).
    #[error("{endpoint} closed the stream")]
    Closed { endpoint: String },
    /// No answer in time.
    #[error("no answer from {endpoint} within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
}

impl StreamError {
    /// Whether connecting was refused (nothing listens at the endpoint).
    pub(crate) fn is_connection_refused(&self) -> bool {
        let Self::Connect { source, .. } = self else { return false };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source);
        while let Some(e) = cause {
            if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

/// One open stream. See the module docs.
#[derive(Debug)]
pub(crate) struct LeaderStream {
    endpoint: String,
    requests: mpsc::Sender<ReplicaFetchRequest>,
    responses: Streaming<ReplicaFetchResponse>,
}

impl LeaderStream {
    /// Connects to `endpoint` (`host:port`) from `local_address` (when given) within
    /// `connect_timeout` and opens the stream within `timeout`. Answers larger than
    /// `max_response_bytes` will fail the stream.
    pub(crate) async fn open(endpoint: &str, local_address: Option<std::net::IpAddr>, connect_timeout: Duration, timeout: Duration, max_response_bytes: usize) -> Result<Self, StreamError> {
        let target = Endpoint::from_shared(format!("http://{endpoint}"))
            .map_err(|source| StreamError::BadEndpoint { endpoint: endpoint.to_string(), source })?
            .connect_timeout(connect_timeout)
            .local_address(local_address)
            .tcp_nodelay(true)
            // A leader that vanished without closing the connection (its host died, the
            // network split) is noticed in seconds rather than at the answer's deadline.
            .http2_keep_alive_interval(KEEPALIVE)
            .keep_alive_timeout(KEEPALIVE)
            .keep_alive_while_idle(true)
            // Answers of up to `max_response_bytes` flow without waiting for HTTP/2 window
            // updates and in large frames: with h2's defaults (64 KiB window, 16 KiB frames)
            // a 10 MiB answer is 640 frames and ~160 window round trips.
            .initial_stream_window_size(WINDOW_BYTES)
            .initial_connection_window_size(2 * WINDOW_BYTES)
            .max_frame_size(MAX_FRAME_BYTES);
        let channel = target.connect().await.map_err(|source| StreamError::Connect { endpoint: endpoint.to_string(), source })?;
        let mut client = ReplicaServiceClient::new(channel).max_decoding_message_size(max_response_bytes);
        let (requests, outbound) = mpsc::channel(1);
        let opened = tokio::time::timeout(timeout, client.fetch(ReceiverStream::new(outbound)))
            .await
            .map_err(|_| StreamError::Timeout { endpoint: endpoint.to_string(), timeout })?
            .map_err(|status| StreamError::Status { endpoint: endpoint.to_string(), status: Box::new(status) })?;
        Ok(Self { endpoint: endpoint.to_string(), requests, responses: opened.into_inner() })
    }

    /// The `host:port` this stream goes to.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends `request` and waits at most `timeout` for its answer.
    pub(crate) async fn exchange(&mut self, request: ReplicaFetchRequest, timeout: Duration) -> Result<ReplicaFetchResponse, StreamError> {
        let closed = || StreamError::Closed { endpoint: self.endpoint.clone() };
        self.requests.send(request).await.map_err(|_| closed())?;
        match tokio::time::timeout(timeout, self.responses.message()).await {
            Ok(Ok(Some(response))) => Ok(response),
            Ok(Ok(None)) => Err(closed()),
            Ok(Err(status)) => Err(StreamError::Status { endpoint: self.endpoint.clone(), status: Box::new(status) }),
            Err(_) => Err(StreamError::Timeout { endpoint: self.endpoint.clone(), timeout }),
        }
    }
}
