//! gRPC status for the errors every service shares, built in one place so that codes and
//! messages stay consistent: field violations carry a `BadRequest` detail naming the field,
//! internal failures are opaque to the client and logged in full.

use std::fmt::Display;

use gridd_core::FieldError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Longest field path an `INVALID_ARGUMENT` names, in characters.
const MAX_FIELD_CHARS: usize = 128;
/// Longest reason an `INVALID_ARGUMENT` gives, in characters. Messages quote client values
/// through [`gridd_core::error::quote`]; this is the last guard should one not, so a huge
/// value never comes back as a huge `grpc-message` (or `BadRequest` detail).
const MAX_REASON_CHARS: usize = 512;

/// `text` cut to `max` characters, with `…` when cut.
fn capped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// `INVALID_ARGUMENT` naming the field, with a `BadRequest` field violation; field and reason
/// are capped in length (see [`MAX_REASON_CHARS`]).
pub fn invalid_argument(e: &FieldError) -> Status {
    let (field, reason) = (capped(&e.field, MAX_FIELD_CHARS), capped(&e.reason, MAX_REASON_CHARS));
    let message = format!("{field}: {reason}");
    let details = ErrorDetails::with_bad_request_violation(field, reason);
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// `INTERNAL` with an opaque message; the cause goes to the log, not to the client.
pub fn internal(context: &str, cause: &dyn Display) -> Status {
    if let Some(held_back) = LOG_THROTTLE.admit(context) {
        tracing::error!(error = %cause, held_back, "{context}");
    }
    Status::internal(format!("{context}: internal error, see the server log"))
}

/// `UNAVAILABLE`: the store or log could not take the request; the client should retry.
pub fn unavailable(context: &str, cause: &dyn Display) -> Status {
    if let Some(held_back) = LOG_THROTTLE.admit(context) {
        tracing::warn!(error = %cause, held_back, "{context}");
    }
    Status::unavailable(format!("{context}: temporarily unavailable, retry with the same idempotency key"))
}

/// One line a second per context for the failures every request of an outage hits: a broker
/// freeze refusing a thousand requests writes about twenty lines, not a thousand.
static LOG_THROTTLE: Throttle = Throttle::new(std::time::Duration::from_secs(1));

/// Lets one log line through per context and interval, counting the ones held back.
pub struct Throttle {
    every: std::time::Duration,
    last: std::sync::Mutex<Vec<(String, std::time::Instant, u64)>>,
}

impl Throttle {
    /// At most one line per context every `every`.
    pub const fn new(every: std::time::Duration) -> Self {
        Self { every, last: std::sync::Mutex::new(Vec::new()) }
    }

    /// `Some(lines held back since the last one)` if a line for `context` may be written now.
    pub fn admit(&self, context: &str) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match last.iter_mut().find(|(c, _, _)| c == context) {
            None => {
                last.push((context.to_owned(), now, 0));
                Some(0)
            }
            Some((_, at, held)) if now.duration_since(*at) >= self.every => {
                let held_back = std::mem::take(held);
                *at = now;
                Some(held_back)
            }
            Some((_, _, held)) => {
                *held += 1;
                None
            }
        }
    }
}

/// THE table from a gRPC code to the HTTP status and the short name the HTTP routes answer
/// with (`{"code": …}`): the browser sees the same refusals as gRPC clients.
pub fn http_status(code: Code) -> (tonic::codegen::http::StatusCode, &'static str) {
    use tonic::codegen::http::StatusCode as H;
    match code {
        Code::Ok => (H::OK, "ok"),
        Code::InvalidArgument | Code::OutOfRange => (H::BAD_REQUEST, "invalid_argument"),
        Code::Unauthenticated => (H::UNAUTHORIZED, "unauthenticated"),
        Code::PermissionDenied => (H::FORBIDDEN, "permission_denied"),
        Code::NotFound => (H::NOT_FOUND, "not_found"),
        Code::AlreadyExists => (H::CONFLICT, "already_exists"),
        Code::FailedPrecondition => (H::CONFLICT, "failed_precondition"),
        Code::Aborted => (H::CONFLICT, "aborted"),
        Code::ResourceExhausted => (H::TOO_MANY_REQUESTS, "resource_exhausted"),
        Code::Unavailable => (H::SERVICE_UNAVAILABLE, "unavailable"),
        Code::DeadlineExceeded => (H::GATEWAY_TIMEOUT, "deadline_exceeded"),
        Code::Unimplemented => (H::NOT_IMPLEMENTED, "unimplemented"),
        Code::Cancelled => (H::from_u16(499).unwrap_or(H::BAD_REQUEST), "cancelled"),
        Code::Unknown | Code::Internal | Code::DataLoss => (H::INTERNAL_SERVER_ERROR, "internal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_are_logged_once_an_interval_with_a_count() {
        let throttle = Throttle::new(std::time::Duration::from_millis(200));
        assert_eq!(throttle.admit("store"), Some(0), "the first is written");
        let held: Vec<_> = (0..50).map(|_| throttle.admit("store")).collect();
        assert!(held.iter().all(Option::is_none), "the rest of the interval is held back");
        assert_eq!(throttle.admit("log"), Some(0), "another context has its own interval");
        std::thread::sleep(std::time::Duration::from_millis(220));
        assert_eq!(throttle.admit("store"), Some(50), "the next line says how many were held back");
    }

    #[test]
    fn invalid_argument_names_the_field_and_caps_the_message() {
        let status = invalid_argument(&FieldError::new("location.crs", "7 is not a coordinate system"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "location.crs: 7 is not a coordinate system");
        let violations = status.get_details_bad_request().expect("a BadRequest detail").field_violations;
        assert_eq!(violations[0].field, "location.crs");

        let huge = FieldError::new("category", format!("{} is not in the catalogue", "x".repeat(1 << 20)));
        let status = invalid_argument(&huge);
        assert!(status.message().starts_with("category: xxx"));
        assert!(status.message().chars().count() <= "category: ".len() + MAX_REASON_CHARS + 1);
        assert!(status.message().ends_with('…'));
        let violations = status.get_details_bad_request().expect("a BadRequest detail").field_violations;
        assert!(violations[0].description.chars().count() <= MAX_REASON_CHARS + 1);
    }
}
