//! gRPC status for the errors every service shares, built in one place so that codes and
//! messages stay consistent: field violations carry a `BadRequest` detail naming the field,
//! internal failures are opaque to the client and logged in full.

use std::fmt::Display;

use gridd_core::FieldError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `INVALID_ARGUMENT` naming the field, with a `BadRequest` field violation.
pub fn invalid_argument(e: &FieldError) -> Status {
    let details = ErrorDetails::with_bad_request_violation(e.field.clone(), e.reason.clone());
    Status::with_error_details(Code::InvalidArgument, e.to_string(), details)
}

/// `INTERNAL` with an opaque message; the cause goes to the log, not to the client.
pub fn internal(context: &str, cause: &dyn Display) -> Status {
    tracing::error!(error = %cause, "{context}");
    Status::internal(format!("{context}: internal error, see the server log"))
}

/// `UNAVAILABLE`: the store or log could not take the request; the client should retry.
pub fn unavailable(context: &str, cause: &dyn Display) -> Status {
    tracing::warn!(error = %cause, "{context}");
    Status::unavailable(format!("{context}: temporarily unavailable, retry with the same idempotency key"))
}
