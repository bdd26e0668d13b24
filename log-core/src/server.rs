//! The Kafka listener: accepts connections and serves each one on its own task. Requests on
//! one connection are answered in order, one at a time (as Kafka does); connections are
//! independent. A frame that cannot be decoded closes only its own connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::{Broker, ClientInfo, Handled};
use crate::protocol::{self, DecodeError, FrameError};

/// Serves `listener` until `shutdown` turns true, then stops accepting, lets every
/// connection finish the request it is serving, and returns.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let broker = broker.clone();
                    let shutdown = shutdown.clone();
                    connections.spawn(async move { serve_connection(broker, stream, peer, shutdown).await });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr, mut shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    broker.metrics().connections.inc();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(64 * 1024, read);
    let max = broker.config().socket_request_max_bytes;
    let mut client = ClientInfo { client_id: String::new(), client_host: peer.ip().to_string() };
    loop {
        let frame = tokio::select! {
            frame = protocol::read_frame(&mut read, max) => frame,
            _ = shutdown.changed() => break,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(FrameError::Io(e)) => {
                tracing::debug!(%peer, error = %e, "connection error");
                break;
            }
            Err(e) => {
                broker.metrics().request_errors.inc();
                tracing::warn!(%peer, error = %e, "closing connection");
                break;
            }
        };
        broker.metrics().bytes_received.inc_by(frame.len() as u64 + 4);
        let arrived = std::time::Instant::now();
        let mut api_label = None;
        let response = match protocol::decode(frame.freeze()) {
            Ok(request) => {
                if let Some(id) = request.header.client_id.as_deref()
                    && id != client.client_id
                {
                    client.client_id = id.to_string();
                }
                let (api, version, correlation_id) = (request.api_key, request.version, request.header.correlation_id);
                let label = crate::broker::ApiLabel { api: format!("{api:?}") };
                broker.metrics().requests.get_or_create(&label).inc();
                api_label = Some(label);
                match broker.handle(request, &client).await {
                    Handled::Respond(body) => protocol::encode(api, version, correlation_id, &body),
                    Handled::NoResponse => continue,
                }
            }
            Err(DecodeError::UnsupportedVersion { api: kafka_protocol::messages::ApiKey::ApiVersions, correlation_id, version, .. }) => {
                tracing::debug!(%peer, version, "ApiVersions version not supported; answering with the v0 fallback");
                protocol::encode_api_versions_fallback(correlation_id)
            }
            Err(e) => {
                broker.metrics().request_errors.inc();
                tracing::warn!(%peer, client_id = %client.client_id, error = %e, "closing connection after a request that cannot be served");
                break;
            }
        };
        let bytes: Bytes = match response {
            Ok(bytes) => bytes,
            Err(e) => {
                broker.metrics().request_errors.inc();
                tracing::error!(%peer, error = %e, "closing connection: response could not be encoded");
                break;
            }
        };
        broker.metrics().bytes_sent.inc_by(bytes.len() as u64);
        if let Err(e) = write.write_all(&bytes).await {
            tracing::debug!(%peer, error = %e, "writing a response failed");
            break;
        }
        if let Some(label) = &api_label {
            broker.metrics().request_seconds.get_or_create(label).observe(arrived.elapsed().as_secs_f64());
        }
    }
    let _ = write.shutdown().await;
    broker.metrics().connections.dec();
}
