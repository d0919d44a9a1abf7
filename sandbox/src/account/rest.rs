//! The error body of Databricks' non-SCIM REST APIs (the permission assignment API among them):
//! `{"error_code":"…","message":"…"}`, as the Go SDK's `apierr` parses it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestError {
    pub status: StatusCode,
    pub error_code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl RestError {
    pub fn new(status: StatusCode, error_code: &'static str, message: impl Into<String>) -> Self {
        RestError {
            status,
            error_code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    pub fn malformed() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            "Malformed request body.",
        )
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = json!({ "error_code": self.error_code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }
}
