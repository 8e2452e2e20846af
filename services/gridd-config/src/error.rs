//! The configuration error: file, item, reason.

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The item inside it (a key path, a line, a cell code); empty for the whole file.
    pub item: String,
    /// Why.
    pub reason: String,
}

impl ConfigError {
    /// An error about `item` in `file`.
    pub fn new(file: &Path, item: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { file: file.to_path_buf(), item: item.into(), reason: reason.into() }
    }

    /// The file could not be read.
    pub fn io(file: &Path, e: std::io::Error) -> Self {
        Self::new(file, "", format!("cannot read: {e}"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.item.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.item, self.reason)
        }
    }
}
