//! InitProducerId for idempotent producers: a fresh id, or an epoch bump for a producer
//! that asks to continue with its id (KIP-360).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::cluster::{ControllerRequest, ControllerResponse};

impl Broker {
    pub(super) async fn init_producer_id(&self, request: InitProducerIdRequest, _version: i16) -> InitProducerIdResponse {
        let response = InitProducerIdResponse::default();
        if request.transactional_id.is_some() {
            tracing::warn!("refused InitProducerId with a transactional.id: transactions are not supported yet; use enable.idempotence without transactional.id");
            return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()).with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
        }
        let (id, epoch) = (request.producer_id.0, request.producer_epoch);
        // A known producer bumping its epoch keeps its id until the epoch would overflow.
        if id >= 0 && (0..i16::MAX - 1).contains(&epoch) {
            return response.with_producer_id(ProducerId(id)).with_producer_epoch(epoch + 1);
        }
        match self.next_producer_id().await {
            Ok(id) => response.with_producer_id(ProducerId(id)).with_producer_epoch(0),
            Err((code, message)) => {
                tracing::error!(%message, "cannot allocate a producer id");
                response.with_error_code(code.code()).with_producer_id(ProducerId(-1)).with_producer_epoch(-1)
            }
        }
    }

    /// A producer id never handed out before: from the local allocator of a node alone, or
    /// from this broker's block, taking a new block from the controller when it runs out.
    async fn next_producer_id(&self) -> Result<i64, (ResponseError, String)> {
        let Some(node) = self.cluster() else {
            let Some(local) = &self.producer_ids else {
                return Err((ResponseError::UnknownServerError, "no producer id allocator".into()));
            };
            return local.next().map_err(|e| (ResponseError::KafkaStorageError, e.to_string()));
        };
        let mut block = node.producer_ids.lock().await;
        if let Some(id) = block.take() {
            return Ok(id);
        }
        let request = ControllerRequest::AllocateProducerIds { node_id: self.config.node_id };
        match self.call_controller(request, std::time::Duration::from_secs(10)).await {
            ControllerResponse::ProducerIds { first, count } => {
                block.refill(first, count);
                block.take().ok_or_else(|| (ResponseError::UnknownServerError, "the controller gave an empty producer id block".into()))
            }
            ControllerResponse::Error { code, message } => Err((ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError), message)),
            other => Err((ResponseError::UnknownServerError, format!("unexpected answer from the controller: {other:?}"))),
        }
    }
}
