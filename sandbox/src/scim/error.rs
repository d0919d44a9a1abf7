//! The SCIM error document and the constructors the handlers use. Every non-2xx answer the emulator
//! produces itself (faults injected by [`crate::faults`] excepted) goes through [`ScimError`], so the body is
//! always `{"schemas":[Error URN],"detail":…,"status":"<code as a string>","scimType"?:…}` with
//! `Content-Type: application/json`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(crate) const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Detail the real service gives for any body it cannot make sense of.
const UNPARSABLE: &str = "Request is unparsable, syntactically incorrect, or violates schema.";

/// One SCIM error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScimError {
    pub status: StatusCode,
    pub detail: String,
    pub scim_type: Option<&'static str>,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            detail: detail.into(),
            scim_type,
            retry_after: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "Invalid access token or no access token supplied.",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, None, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), detail)
    }

    /// A body that is not JSON, or JSON of the wrong shape.
    pub fn invalid_syntax() -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), UNPARSABLE)
    }

    pub fn invalid_syntax_because(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidPath"), detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("noTarget"), detail)
    }

    /// An attribute that cannot be changed (`userName`, `emails`, `applicationId`).
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("mutability"), detail)
    }

    pub fn throttled(retry_after_secs: u64) -> Self {
        ScimError {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "Too many requests. Please wait a moment and try again.",
            )
        }
    }

    /// What a workspace answers to reactivating a user deactivated in the Databricks account: HTTP 500
    /// with the body shown in the Databricks knowledge base, "Reactivate a user that has been disabled
    /// with AAD at the Account and Workspace level" (a Java cast error, `status` as a string).
    pub fn account_deactivated() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "class java.lang.String cannot be cast to class java.lang.Boolean (java.lang.String and \
             java.lang.Boolean are in module java.base of loader 'bootstrap')",
        )
    }

    pub fn no_such_path(path: &str) -> Self {
        Self::not_found(format!("No API found for '{path}'."))
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            "This method is not allowed on this endpoint.",
        )
    }

    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "detail": self.detail,
            "status": self.status.as_u16().to_string(),
        });
        if let (Some(scim_type), Some(object)) = (self.scim_type, body.as_object_mut()) {
            object.insert("scimType".to_owned(), Value::from(scim_type));
        }
        body
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.to_json())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Parses a request body as a JSON object.
pub(crate) fn parse_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, ScimError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ScimError::invalid_syntax()),
    }
}
