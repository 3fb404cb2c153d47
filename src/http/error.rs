//! The one error shape every API answer uses: `{"error": code, "message": text, "field": name}`.
//! Codes are stable snake_case words clients may match on; messages are for people; the cause
//! of a server-side failure is logged and never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::InvalidValue;
use crate::store::StoreError;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable code, e.g. `not_found`, `invalid_field`, `unauthenticated`.
    pub error: &'static str,
    /// What went wrong, in words a person can act on.
    pub message: String,
    /// The input field at fault, as a dotted path, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A field's value was refused (422).
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    /// The request as a whole cannot be read (400).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(entity: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{entity} not found"),
        )
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message).with_field(field)
    }

    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
    }

    /// A failure on our side. The cause is logged here and replaced by a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on the server; it has been logged",
        )
    }

    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%cause, "service unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a backing service is unavailable; try again shortly",
        )
    }

    /// Turns a domain parse failure into an error naming `field`.
    pub fn from_invalid(field: &str) -> impl FnOnce(InvalidValue) -> Self + '_ {
        move |e| Self::invalid_field(field, e.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            error: self.code,
            message: self.message.clone(),
            field: self.field.clone(),
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => Self::not_found(entity),
            StoreError::Conflict { field, message } => Self::conflict(field, message),
            StoreError::Invalid { field, message } => Self::invalid_field(field, message),
            StoreError::Unavailable(_) => Self::unavailable(&e),
            StoreError::UnknownScheme(_) | StoreError::Backend(_) => Self::internal(&e),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
