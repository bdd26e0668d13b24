//! SaslHandshake and SaslAuthenticate on a listener without SASL: answered, as Kafka answers
//! them on a PLAINTEXT listener, so that a client configured for SASL fails at once with a
//! message instead of reconnecting until its timeout.

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::broker::Broker;

impl Broker {
    pub(super) fn sasl_handshake(&self, request: SaslHandshakeRequest, _version: i16) -> SaslHandshakeResponse {
        tracing::warn!(
            mechanism = %request.mechanism.as_str(),
            "a client asked for SASL authentication, which this listener does not offer; configure the client with security.protocol=PLAINTEXT"
        );
        // No mechanism is enabled: the client reports "enabled mechanisms are []".
        SaslHandshakeResponse::default().with_error_code(ResponseError::UnsupportedSaslMechanism.code()).with_mechanisms(Vec::new())
    }

    pub(super) fn sasl_authenticate(&self, _request: SaslAuthenticateRequest, _version: i16) -> SaslAuthenticateResponse {
        SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(str_bytes("SASL is not enabled on this listener; connect with security.protocol=PLAINTEXT")))
    }
}
