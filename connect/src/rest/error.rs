//! Errors as Kafka Connect's REST API answers them: an HTTP status and the body
//! `{"error_code": STATUS, "message": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ConnectError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        let status = match &e {
            ConnectError::NotFound(_) => StatusCode::NOT_FOUND,
            ConnectError::Conflict(_) => StatusCode::CONFLICT,
            ConnectError::Config(_) | ConnectError::ConfigFile { .. } | ConnectError::UnknownClass(_) | ConnectError::Conversion(_) | ConnectError::Transform { .. } => StatusCode::BAD_REQUEST,
            ConnectError::Kafka(_) | ConnectError::Io { .. } | ConnectError::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error_code": self.status.as_u16(), "message": self.message});
        (self.status, Json(body)).into_response()
    }
}
