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

pub use city::{Camera, CityConfig, load_city};
pub use engine::{EngineConfig, load_engine};
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
