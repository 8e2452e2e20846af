//! The validation error shared by every input check: which field, and why; and [`quote`],
//! the one way an error message shows a value the client sent.

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

/// Characters of a client value an error message shows at most (see [`quote`]).
pub const QUOTE_CHARS: usize = 40;

/// A client value as an error message shows it: in double quotes with control characters
/// escaped (as `{:?}` prints it), and cut to its first [`QUOTE_CHARS`] characters followed by
/// `…` when longer, so a megabyte sent in a field never comes back as a megabyte of message.
///
/// Every message that embeds something the client sent (a code, an id, a unit) goes through
/// this, e.g. `format!("{} is not in the camera registry", quote(&alert.camera_id))`.
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_shows_short_values_whole() {
        assert_eq!(quote("E0102"), "\"E0102\"");
        assert_eq!(quote("a\nb"), "\"a\\nb\"", "control characters are escaped");
        let forty = "x".repeat(QUOTE_CHARS);
        assert_eq!(quote(&forty), format!("\"{forty}\""));
    }

    #[test]
    fn quote_cuts_long_values_to_a_prefix() {
        let huge = "街".repeat(1_000_000);
        let shown = quote(&huge);
        assert_eq!(shown, format!("\"{}\"…", "街".repeat(QUOTE_CHARS)));
        assert!(shown.len() < 200);
    }
}
