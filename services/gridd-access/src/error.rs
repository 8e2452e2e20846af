//! Why access was refused, and the one table from a refusal to its gRPC code and HTTP status.

use std::time::Duration;

use gridd_proto::tonic::{Code, Status};

use crate::permission::{Operation, Role};

/// A refused request. The message tells the caller what to do; it never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No credentials, or credentials that do not check out.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Credentials whose role lacks the permission.
    #[error("permission denied: role {role} may not call {operation}")]
    NotPermitted {
        /// The caller's role.
        role: Role,
        /// What it asked for.
        operation: Operation,
    },
    /// Allowed operation, but outside the caller's scope (another squad's task, another
    /// gateway's camera).
    #[error("permission denied: {0}")]
    OutOfScope(String),
    /// Too many requests or failed sign-ins; try again after the hint.
    #[error("{reason}; retry in {} ms", retry_after.as_millis())]
    TooMany {
        /// What was exceeded.
        reason: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// Bad input to a sign-in or account operation.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not answer; nothing changed.
    #[error("identity store unavailable: {0}")]
    Unavailable(String),
}

impl AccessError {
    /// `Unauthenticated` with a reason.
    pub fn unauthenticated(reason: impl Into<String>) -> Self {
        AccessError::Unauthenticated(reason.into())
    }

    /// `Invalid` for a field.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        AccessError::Invalid { field: field.into(), reason: reason.into() }
    }

    /// The gRPC code of a refusal (its HTTP status follows from
    /// [`gridd_proto::status::http_status`]).
    pub fn code(&self) -> Code {
        match self {
            AccessError::Unauthenticated(_) => Code::Unauthenticated,
            AccessError::NotPermitted { .. } | AccessError::OutOfScope(_) => Code::PermissionDenied,
            AccessError::TooMany { .. } => Code::ResourceExhausted,
            AccessError::Invalid { .. } => Code::InvalidArgument,
            AccessError::Unavailable(_) => Code::Unavailable,
        }
    }

    /// The gRPC status, with a `RetryInfo` detail when there is a retry hint and a
    /// `BadRequest` detail naming the field of invalid input.
    pub fn status(&self) -> Status {
        use gridd_proto::tonic_types::{ErrorDetails, StatusExt};
        let code = self.code();
        match self {
            AccessError::TooMany { retry_after, .. } => {
                Status::with_error_details(code, self.to_string(), ErrorDetails::with_retry_info(Some(*retry_after)))
            }
            AccessError::Invalid { field, reason } => {
                Status::with_error_details(code, self.to_string(), ErrorDetails::with_bad_request_violation(field.clone(), reason.clone()))
            }
            _ => Status::new(code, self.to_string()),
        }
    }

    /// A short label for metrics and HTTP answers.
    pub fn kind(&self) -> &'static str {
        gridd_proto::status::http_status(self.code()).1
    }
}

impl From<gridd_store::StoreError> for AccessError {
    fn from(e: gridd_store::StoreError) -> Self {
        tracing::warn!(error = %e, "identity store");
        AccessError::Unavailable("the store did not answer; try again".into())
    }
}

impl From<AccessError> for Status {
    fn from(e: AccessError) -> Self {
        e.status()
    }
}
