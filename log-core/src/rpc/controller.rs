//! The controller envelope both ways: [`ControllerCalls`] serves `ControllerService.Call` by
//! handing the request to the local broker's active controller, and [`GrpcControllerTransport`]
//! carries a broker's request to another node's. Bodies are the JSON of
//! [`crate::cluster::ControllerRequest`] and [`crate::cluster::ControllerResponse`]; this
//! module only moves bytes.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::pb::Envelope;
use super::{ControllerService, ControllerServiceClient};
use crate::broker::{Broker, ControllerTransport};
use crate::cluster::ControllerRequest;

/// How long one controller call may take on the wire (the caller retries).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side: requests for this node's active controller.
#[derive(Debug, Clone)]
pub struct ControllerCalls {
    broker: Weak<Broker>,
}

impl ControllerCalls {
    /// Serves requests with `broker`'s controller (held weakly: the server never keeps a
    /// broker alive).
    pub fn new(broker: &Arc<Broker>) -> Self {
        Self { broker: Arc::downgrade(broker) }
    }
}

#[tonic::async_trait]
impl ControllerService for ControllerCalls {
    async fn call(&self, request: Request<Envelope>) -> Result<Response<Envelope>, Status> {
        let body = request.into_inner().body;
        let request: ControllerRequest = serde_json::from_slice(&body).map_err(|e| Status::invalid_argument(format!("not a controller request: {e}")))?;
        let broker = self.broker.upgrade().ok_or_else(|| Status::unavailable("the broker is shutting down"))?;
        let answer = broker.handle_controller_request(request).await;
        let body = serde_json::to_vec(&answer).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(Envelope { body: body.into() }))
    }
}

/// The client side: one lazily connected channel per controller endpoint.
#[derive(Debug, Default)]
pub struct GrpcControllerTransport {
    channels: Mutex<HashMap<String, Channel>>,
    local_address: Option<std::net::IpAddr>,
}

impl GrpcControllerTransport {
    /// A transport whose connections leave from `local_address` (`None`: the system chooses).
    pub fn new(local_address: Option<std::net::IpAddr>) -> Self {
        Self { channels: Mutex::default(), local_address }
    }

    fn channel(&self, endpoint: &str) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(endpoint) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(format!("http://{endpoint}"))
            .map_err(|e| format!("bad controller endpoint {endpoint:?}: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .local_address(self.local_address)
            .connect_lazy();
        channels.insert(endpoint.to_string(), channel.clone());
        Ok(channel)
    }
}

impl ControllerTransport for GrpcControllerTransport {
    fn call(&self, endpoint: String, body: Vec<u8>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>> {
        let channel = self.channel(&endpoint);
        Box::pin(async move {
            let mut client = ControllerServiceClient::new(channel?)
                .max_decoding_message_size(super::MAX_CONTROLLER_MESSAGE_BYTES)
                .max_encoding_message_size(super::MAX_CONTROLLER_MESSAGE_BYTES);
            match tokio::time::timeout(CALL_TIMEOUT, client.call(Envelope { body: body.into() })).await {
                Ok(Ok(answer)) => Ok(answer.into_inner().body.to_vec()),
                Ok(Err(status)) => Err(format!("{}: {}", status.code(), status.message())),
                Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
            }
        })
    }
}
