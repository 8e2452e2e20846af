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
//! [auth]                        # sign-in, tokens and abuse limits (always on)
//! access_token_ttl = "15min"
//! refresh_token_ttl = "12h"
//! open_reflection = true        # gRPC reflection without credentials
//! open_metrics = false          # /metrics without credentials (else: monitoring or administrator)
//! intake_rate = 200             # reports per second per identity, over intake_burst
//! intake_burst = 400
//! [auth.oidc]                   # optional: trust the city's identity provider
//! issuer = "https://id.example.gov.cn/realms/city"
//! audience = "gridd"
//! jwks = "oidc-jwks.json"       # relative to this file
//! role_claim = "gridd_role"
//! squad_claim = "gridd_squad"
//! [tls]                         # optional: TLS on both listeners
//! cert = "tls/server.pem"
//! key = "tls/server.key"
//! client_ca = "tls/clients-ca.pem"  # optional: verify client certificates of machines
//! client_auth = "optional"      # or "required"
//! [retention]                   # embedded log: consumed records kept this long (clock time)
//! intake = "72h"
//! dispatch = "72h"
//! finished_cases = "8760h"      # optional: a finished case's history, after its last change
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
    #[serde(default)]
    auth: AuthEntry,
    #[serde(default)]
    tls: Option<TlsEntry>,
    #[serde(default)]
    retention: Option<RetentionEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthEntry {
    #[serde(default = "default_access_ttl")]
    access_token_ttl: LimitSpec,
    #[serde(default = "default_refresh_ttl")]
    refresh_token_ttl: LimitSpec,
    #[serde(default)]
    open_reflection: bool,
    #[serde(default)]
    open_metrics: bool,
    #[serde(default = "default_intake_rate")]
    intake_rate: u32,
    #[serde(default = "default_intake_burst")]
    intake_burst: u32,
    #[serde(default)]
    oidc: Option<OidcEntry>,
}

impl Default for AuthEntry {
    fn default() -> Self {
        Self {
            access_token_ttl: default_access_ttl(),
            refresh_token_ttl: default_refresh_ttl(),
            open_reflection: false,
            open_metrics: false,
            intake_rate: default_intake_rate(),
            intake_burst: default_intake_burst(),
            oidc: None,
        }
    }
}

fn default_access_ttl() -> LimitSpec {
    LimitSpec { milli_amount: 15_000, unit: LimitUnit::Minutes }
}

fn default_refresh_ttl() -> LimitSpec {
    LimitSpec { milli_amount: 12_000, unit: LimitUnit::Hours }
}

fn default_intake_rate() -> u32 {
    200
}

fn default_intake_burst() -> u32 {
    400
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OidcEntry {
    issuer: String,
    audience: String,
    jwks: PathBuf,
    #[serde(default = "default_role_claim")]
    role_claim: String,
    #[serde(default = "default_squad_claim")]
    squad_claim: String,
}

fn default_role_claim() -> String {
    "gridd_role".into()
}

fn default_squad_claim() -> String {
    "gridd_squad".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsEntry {
    cert: PathBuf,
    key: PathBuf,
    #[serde(default)]
    client_ca: Option<PathBuf>,
    #[serde(default)]
    client_auth: ClientAuth,
}

/// Whether a TLS listener asks clients for a certificate (signed by `client_ca`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// Clients may present one; those that do must present a valid one.
    #[default]
    Optional,
    /// Every client must present a valid one.
    Required,
}

/// Sign-in, tokens and abuse limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// How long an access token is valid.
    pub access_token_ttl: Duration,
    /// How long a sign-in session (its refresh token) lasts.
    pub refresh_token_ttl: Duration,
    /// Whether gRPC reflection answers without credentials.
    pub open_reflection: bool,
    /// Whether `/metrics` answers without credentials.
    pub open_metrics: bool,
    /// Reports per second each identity may send, once its burst is spent.
    pub intake_rate: u32,
    /// Reports an identity may send at once.
    pub intake_burst: u32,
    /// The city's OpenID Connect provider, when its tokens are trusted.
    pub oidc: Option<OidcConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(12 * 3600),
            open_reflection: false,
            open_metrics: false,
            intake_rate: default_intake_rate(),
            intake_burst: default_intake_burst(),
            oidc: None,
        }
    }
}

/// An OpenID Connect provider whose tokens are trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// The `aud` its tokens must carry.
    pub audience: String,
    /// Its signing keys (a JWKS file).
    pub jwks: PathBuf,
    /// The claim naming the gridd role (e.g. "dispatcher").
    pub role_claim: String,
    /// The claim naming the squad of a squad member or leader.
    pub squad_claim: String,
}

/// TLS on the gRPC and HTTP listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA that signs client certificates (PEM), when clients may present them.
    pub client_ca: Option<PathBuf>,
    /// Whether a client certificate is optional or required (with `client_ca`).
    pub client_auth: ClientAuth,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionEntry {
    #[serde(default = "default_log_retention")]
    intake: LimitSpec,
    #[serde(default = "default_log_retention")]
    dispatch: LimitSpec,
    finished_cases: Option<LimitSpec>,
}

/// How long consumed records are kept unless configured: long enough to look back at a
/// weekend's traffic on a Monday.
const DEFAULT_LOG_RETENTION_HOURS: u64 = 72;

fn default_log_retention() -> LimitSpec {
    LimitSpec { milli_amount: DEFAULT_LOG_RETENTION_HOURS * 1000, unit: LimitUnit::Hours }
}

/// How long the embedded log keeps records its roles have consumed.
///
/// Intake and dispatch records are transport: once the router has placed a report and the
/// tracker has filed its decision, the report, its decision and the case are in their own
/// tables, so the records are only kept to look back at recent traffic. Records a role has
/// not yet read are kept whatever their age.
///
/// The ticket-event log is the cases' history, which a city keeps as its case files: by
/// default it is never trimmed. With `finished_cases` set, a case that is finished (closed,
/// cancelled or not filed) loses its events that long after its last change; an open case
/// keeps its whole history. In the distributed mode the broker's topic retention applies
/// instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRetention {
    /// How long consumed intake records are kept.
    pub intake: Duration,
    /// How long consumed dispatch records are kept.
    pub dispatch: Duration,
    /// How long a finished case's history is kept after its last change; `None`: for ever.
    pub finished_cases: Option<Duration>,
}

impl Default for LogRetention {
    fn default() -> Self {
        let keep = Duration::from_secs(DEFAULT_LOG_RETENTION_HOURS * 3600);
        Self { intake: keep, dispatch: keep, finished_cases: None }
    }
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
    /// Sign-in, tokens and abuse limits.
    pub auth: AuthConfig,
    /// TLS on both listeners; `None` serves plain text (loopback only, or behind a proxy).
    pub tls: Option<TlsConfig>,
    /// How long the embedded log keeps consumed records.
    pub retention: LogRetention,
}

/// Loads `gridd.toml`.
pub fn load_engine(path: &Path) -> Result<EngineConfig, ConfigError> {
    let file: File = read_toml(path)?;
    if file.intake.node >= 32 {
        return Err(ConfigError::new(path, "intake.node", "must be 0..=31"));
    }
    let reload_poll = clock_time(path, "reload.poll", file.reload.poll)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let auth = auth_config(path, dir, file.auth)?;
    let tls = file.tls.map(|t| tls_config(path, dir, t)).transpose()?;
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
    let retention = retention(path, file.retention, distributed.is_some())?;
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
        reload_poll,
        auth,
        tls,
        retention,
    })
}

/// The embedded log's retention; refused in the distributed mode, where the log is the
/// broker's and so is its retention.
fn retention(path: &Path, entry: Option<RetentionEntry>, distributed: bool) -> Result<LogRetention, ConfigError> {
    let Some(entry) = entry else { return Ok(LogRetention::default()) };
    if distributed {
        return Err(ConfigError::new(
            path,
            "retention",
            "applies to the embedded log only; with [distributed], set retention.ms on the broker's topics",
        ));
    }
    Ok(LogRetention {
        intake: clock_time(path, "retention.intake", entry.intake)?,
        dispatch: clock_time(path, "retention.dispatch", entry.dispatch)?,
        finished_cases: entry.finished_cases.map(|spec| clock_time(path, "retention.finished_cases", spec)).transpose()?,
    })
}

/// A limit that must be clock time, as a duration.
fn clock_time(path: &Path, item: &str, spec: LimitSpec) -> Result<Duration, ConfigError> {
    let millis = match spec.unit {
        LimitUnit::Seconds => spec.milli_amount,
        LimitUnit::Minutes => spec.milli_amount * 60,
        LimitUnit::Hours => spec.milli_amount * 3600,
        LimitUnit::WorkingHours | LimitUnit::WorkingDays => {
            return Err(ConfigError::new(path, item, "must be clock time (s, min or h)"));
        }
    };
    Ok(Duration::from_millis(millis))
}

fn auth_config(path: &Path, dir: &Path, a: AuthEntry) -> Result<AuthConfig, ConfigError> {
    let access_token_ttl = clock_time(path, "auth.access_token_ttl", a.access_token_ttl)?;
    let refresh_token_ttl = clock_time(path, "auth.refresh_token_ttl", a.refresh_token_ttl)?;
    if access_token_ttl < Duration::from_secs(10) || access_token_ttl > Duration::from_secs(24 * 3600) {
        return Err(ConfigError::new(path, "auth.access_token_ttl", "must be between 10 s and 24 h"));
    }
    if refresh_token_ttl < access_token_ttl {
        return Err(ConfigError::new(path, "auth.refresh_token_ttl", "must not be shorter than auth.access_token_ttl"));
    }
    if a.intake_rate == 0 || a.intake_burst == 0 {
        return Err(ConfigError::new(path, "auth.intake_rate", "intake_rate and intake_burst must be at least 1"));
    }
    let oidc = a
        .oidc
        .map(|o| {
            if o.issuer.trim().is_empty() || o.audience.trim().is_empty() {
                return Err(ConfigError::new(path, "auth.oidc", "issuer and audience are required"));
            }
            Ok(OidcConfig {
                issuer: o.issuer,
                audience: o.audience,
                jwks: dir.join(o.jwks),
                role_claim: o.role_claim,
                squad_claim: o.squad_claim,
            })
        })
        .transpose()?;
    Ok(AuthConfig {
        access_token_ttl,
        refresh_token_ttl,
        open_reflection: a.open_reflection,
        open_metrics: a.open_metrics,
        intake_rate: a.intake_rate,
        intake_burst: a.intake_burst,
        oidc,
    })
}

fn tls_config(path: &Path, dir: &Path, t: TlsEntry) -> Result<TlsConfig, ConfigError> {
    if t.client_auth == ClientAuth::Required && t.client_ca.is_none() {
        return Err(ConfigError::new(path, "tls.client_auth", "\"required\" needs tls.client_ca"));
    }
    Ok(TlsConfig { cert: dir.join(t.cert), key: dir.join(t.key), client_ca: t.client_ca.map(|c| dir.join(c)), client_auth: t.client_auth })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<EngineConfig, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gridd.toml");
        std::fs::write(&path, text).expect("write");
        load_engine(&path)
    }

    const BASE: &str = "city = \"city.toml\"\n[server]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n[store]\nsqlite = \"gridd.db\"\n";

    #[test]
    fn consumed_log_records_are_kept_three_days_unless_configured() {
        assert_eq!(load(BASE).expect("loads").retention, LogRetention::default());
        assert_eq!(LogRetention::default().intake, Duration::from_secs(72 * 3600));
        let configured = load(&format!("{BASE}[retention]\nintake = \"30min\"\ndispatch = \"1.5h\"\n")).expect("loads");
        let expected = LogRetention { intake: Duration::from_secs(1800), dispatch: Duration::from_secs(5400), finished_cases: None };
        assert_eq!(configured.retention, expected, "finished cases keep their histories unless configured");
        let configured = load(&format!("{BASE}[retention]\nfinished_cases = \"8760h\"\n")).expect("loads");
        assert_eq!(configured.retention.finished_cases, Some(Duration::from_secs(365 * 24 * 3600)));
    }

    #[test]
    fn a_retention_in_working_time_or_of_an_unknown_log_is_refused_by_name() {
        let e = load(&format!("{BASE}[retention]\ndispatch = \"2WD\"\n")).expect_err("working days are not clock time");
        assert_eq!(e.item, "retention.dispatch");
        let e = load(&format!("{BASE}[retention]\nfinished_cases = \"30WD\"\n")).expect_err("working days are not clock time");
        assert_eq!(e.item, "retention.finished_cases");
        let e = load(&format!("{BASE}[retention]\nticket_events = \"1h\"\n")).expect_err("only finished cases' histories go");
        assert!(e.to_string().contains("ticket_events"), "{e}");
        let distributed = "[distributed]\npostgres = \"postgres://db/gridd\"\nkafka = \"k:9092\"\n";
        let e = load(&format!("{BASE}{distributed}[retention]\nintake = \"1h\"\n")).expect_err("the broker keeps the log");
        assert_eq!(e.item, "retention");
    }
}
