//! The validation error shared by every input check: which field, and why.

use std::fmt;

/// A rejected input value: the field path (e.g. `location.lon`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// Dotted path of the offending field as the client named it.
    pub field: String,
    /// Why the value was rejected, lower case, no trailing punctuation.
    pub reason: String,
}

impl FieldError {
    /// Builds an error for `field` with `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }

    /// Prefixes the field path, e.g. `lon` inside `location` becomes `location.lon`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}
