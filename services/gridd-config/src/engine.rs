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
//! [reload]
//! poll = "5s"                   # how often the city's files are checked for edits
//! [distributed]                 # present: roles run on PostgreSQL and Kafka, not SQLite
//! postgres = "postgres://gridd@db/gridd"
//! kafka = "kafka-0:9092,kafka-1:9092"
//! topic_prefix = "gridd."
//! partitions = 6
//! replication = 3
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gridd_core::category::{LimitSpec, LimitUnit};
use serde::Deserialize;

use crate::{ConfigError, read_toml};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    city: PathBuf,
    server: ServerEntry,
    #[serde(default)]
    store: StoreEntry,
    #[serde(default)]
    distributed: Option<DistributedEntry>,
    #[serde(default)]
    intake: IntakeEntry,
    #[serde(default)]
    reload: ReloadEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadEntry {
    poll: LimitSpec,
}

impl Default for ReloadEntry {
    fn default() -> Self {
        Self { poll: LimitSpec { milli_amount: 5000, unit: LimitUnit::Seconds } }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEntry {
    grpc: SocketAddr,
    http: SocketAddr,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreEntry {
    sqlite: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DistributedEntry {
    postgres: String,
    kafka: String,
    #[serde(default = "default_prefix")]
    topic_prefix: String,
    #[serde(default = "default_partitions")]
    partitions: i32,
    #[serde(default = "default_replication")]
    replication: i32,
}

fn default_prefix() -> String {
    "gridd.".into()
}

fn default_partitions() -> i32 {
    6
}

fn default_replication() -> i32 {
    1
}

/// Where the distributed mode's shared services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributedConfig {
    /// PostgreSQL connection string.
    pub postgres: String,
    /// Kafka bootstrap servers.
    pub kafka: String,
    /// Prefix of every topic name.
    pub topic_prefix: String,
    /// Partitions of each topic created by gridd.
    pub partitions: i32,
    /// Replication factor of each topic created by gridd.
    pub replication: i32,
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
    /// The SQLite database file (embedded mode).
    pub sqlite: PathBuf,
    /// The shared services (distributed mode); `None` in the embedded mode.
    pub distributed: Option<DistributedConfig>,
    /// This intake process's node id inside references (0..=31).
    pub intake_node: u8,
    /// How often the city's files are checked for edits (a valid edit is loaded without a
    /// restart; an invalid one is refused and the running configuration kept).
    pub reload_poll: Duration,
}

/// Loads `gridd.toml`.
pub fn load_engine(path: &Path) -> Result<EngineConfig, ConfigError> {
    let file: File = read_toml(path)?;
    if file.intake.node >= 32 {
        return Err(ConfigError::new(path, "intake.node", "must be 0..=31"));
    }
    let poll = file.reload.poll;
    let poll_ms = match poll.unit {
        LimitUnit::Seconds => poll.milli_amount,
        LimitUnit::Minutes => poll.milli_amount * 60,
        LimitUnit::Hours => poll.milli_amount * 3600,
        LimitUnit::WorkingHours | LimitUnit::WorkingDays => {
            return Err(ConfigError::new(path, "reload.poll", "must be clock time (s, min or h)"));
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let distributed = file
        .distributed
        .map(|d| {
            if d.partitions < 1 || d.replication < 1 {
                return Err(ConfigError::new(path, "distributed", "partitions and replication must be at least 1"));
            }
            Ok(DistributedConfig {
                postgres: d.postgres,
                kafka: d.kafka,
                topic_prefix: d.topic_prefix,
                partitions: d.partitions,
                replication: d.replication,
            })
        })
        .transpose()?;
    let sqlite = match (file.store.sqlite, &distributed) {
        (Some(p), _) => dir.join(p),
        (None, Some(_)) => PathBuf::new(),
        (None, None) => return Err(ConfigError::new(path, "store.sqlite", "is required in the embedded mode (no [distributed] section)")),
    };
    Ok(EngineConfig {
        city: dir.join(file.city),
        grpc_addr: file.server.grpc,
        http_addr: file.server.http,
        sqlite,
        distributed,
        intake_node: file.intake.node,
        reload_poll: Duration::from_millis(poll_ms),
    })
}
