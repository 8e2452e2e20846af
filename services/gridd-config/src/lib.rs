//! Loads gridd's configuration: the engine file (`config/gridd.toml`) and a city directory
//! (`config/xinyi/`): divisions, unit grid, catalogue, calendars, escalation ladder, squads
//! and rules, cameras.
//!
//! Every error names the file, the item and the reason ([`ConfigError`]); nothing here panics
//! on input. A loaded [`CityConfig`] is fully validated: the engine never starts, nor swaps in
//! a reloaded city, with a half-valid one.

mod calendar;
mod catalogue;
mod city;
pub mod divisions;
mod engine;
mod error;
pub mod geojson;
mod squads;

pub use city::{Camera, CityConfig, load_city, load_grid, reload_city};
pub use engine::{AuthConfig, ClientAuth, DistributedConfig, EngineConfig, LogRetention, OidcConfig, TlsConfig, load_engine};
pub use error::ConfigError;

/// Parses a TOML file into `T`, naming the file in errors.
fn read_toml<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
    toml::from_str(&text).map_err(|e| {
        let item = e.span().map(|span| {
            let line = text[..span.start.min(text.len())].lines().count().max(1);
            format!("line {line}")
        });
        ConfigError::new(path, item.unwrap_or_default(), e.message().trim())
    })
}

/// The city the engine runs on now; a reload swaps it whole, and work already under way keeps
/// the version it started with.
#[derive(Clone, Debug)]
pub struct CityHandle {
    inner: std::sync::Arc<std::sync::RwLock<std::sync::Arc<CityConfig>>>,
}

impl CityHandle {
    /// A handle on `city`.
    pub fn new(city: CityConfig) -> Self {
        Self { inner: std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(city))) }
    }

    /// The current city.
    pub fn current(&self) -> std::sync::Arc<CityConfig> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the city for all work that starts from now on.
    pub fn replace(&self, city: CityConfig) {
        *self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(city);
    }
}
