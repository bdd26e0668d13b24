//! InitProducerId for idempotent producers: a fresh id, or an epoch bump for a producer
//! that asks to continue with its id (KIP-360).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use crate::broker::Broker;

impl Broker {
    pub(super) fn init_producer_id(&self, request: InitProducerIdRequest, _version: i16) -> InitProducerIdResponse {
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
        match self.producer_ids.next() {
            Ok(id) => response.with_producer_id(ProducerId(id)).with_producer_epoch(0),
            Err(e) => {
                tracing::error!(error = %e, "cannot allocate a producer id");
                response.with_error_code(ResponseError::KafkaStorageError.code()).with_producer_id(ProducerId(-1)).with_producer_epoch(-1)
            }
        }
    }
}
