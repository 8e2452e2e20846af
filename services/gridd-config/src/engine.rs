//! `gridd.toml`: how one engine process runs (where it listens, where it stores, which city).
//!
//! ```toml
//! city = "xinyi/city.toml"     # relative to this file
//! [server]
//! grpc = "127.0.0.1:50051"
//! http = "127.0.0.1:9464"      # /metrics, /health/livez, /health/readyz
//! [store]
//! sqlite = "../data/gridd.db"  # relative to this file
//! [intake]
//! node = 0                      # 0..31, distinct per intake process
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{ConfigError, read_toml};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    city: PathBuf,
    server: ServerEntry,
    store: StoreEntry,
    #[serde(default)]
    intake: IntakeEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEntry {
    grpc: SocketAddr,
    http: SocketAddr,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreEntry {
    sqlite: PathBuf,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IntakeEntry {
    #[serde(default)]
    node: u8,
}

/// The engine configuration, paths resolved against the file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The city.toml to load.
    pub city: PathBuf,
    /// gRPC listen address (port 0 picks a free port).
    pub grpc_addr: SocketAddr,
    /// HTTP listen address for metrics and health.
    pub http_addr: SocketAddr,
    /// The SQLite database file.
    pub sqlite: PathBuf,
    /// This intake process's node id inside references (0..=31).
    pub intake_node: u8,
}

/// Loads `gridd.toml`.
pub fn load_engine(path: &Path) -> Result<EngineConfig, ConfigError> {
    let file: File = read_toml(path)?;
    if file.intake.node >= 32 {
        return Err(ConfigError::new(path, "intake.node", "must be 0..=31"));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(EngineConfig {
        city: dir.join(file.city),
        grpc_addr: file.server.grpc,
        http_addr: file.server.http,
        sqlite: dir.join(file.store.sqlite),
        intake_node: file.intake.node,
    })
}
