//! One engine process: the roles it runs, the gRPC services and the HTTP endpoints, under one
//! shutdown.
//!
//! - Embedded mode (no `[distributed]` in gridd.toml): every role in this process on one
//!   SQLite file, the roles passing work through the store's own log.
//! - Distributed mode: the roles named by `--role` run on the shared PostgreSQL and Kafka; any
//!   role may run in several processes at once. Until both answer, `/health/readyz` says
//!   "starting" and nothing else runs; later, whenever one stops answering, readiness (HTTP and
//!   gRPC health) drops until it answers again.
//!
//! Listeners are bound before anything starts (so a port conflict fails fast, and port 0
//! reports the real port); the first task to fail stops all others; shutdown stops taking
//! requests, lets in-flight work finish for a few seconds, then ends the rest. Everything
//! acknowledged is already committed, so an abrupt end loses nothing either.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::ConnectInfo;
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use gridd_access::Access;
use gridd_access::layer::GrpcAccessLayer;
use gridd_config::{AuthConfig, CityConfig, CityHandle, DistributedConfig, EngineConfig, LogRetention};
use gridd_core::ticket::TicketState;
use gridd_core::time::Clock;
use gridd_driver::retention::{Retention, keep_logs_trimmed};
use gridd_ingest::{Coalesced, Intake, IntakeSink, KafkaLog, StoreLog};
use gridd_log::{KafkaConsumer, KafkaProducer, KafkaSettings, topics};
use gridd_proto::v1::auth_service_server::{self, AuthServiceServer};
use gridd_proto::v1::dispatch_service_server::{self, DispatchServiceServer};
use gridd_proto::v1::grid_service_server::{self, GridServiceServer};
use gridd_proto::v1::intake_service_server::{self, IntakeServiceServer};
use gridd_proto::v1::squad_service_server::{self, SquadServiceServer};
use gridd_store::postgres::PostgresStore;
use gridd_store::sqlite::SqliteStore;
use gridd_store::{ReadTx, Store, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::telemetry;

/// How long shutdown waits for in-flight work before ending it: longer than a consumer waits
/// for its group to settle before leaving it (15 s).
const DRAIN: Duration = Duration::from_secs(20);
/// How often the open-ticket gauges are refreshed.
const GAUGE_PERIOD: Duration = Duration::from_secs(5);
/// How often the distributed mode's dependencies are checked, and how long each may take.
const PROBE_PERIOD: Duration = Duration::from_secs(2);
/// The longest wait between attempts to reach a dependency at start.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest sleep of a distributed tracker's timer loop: other trackers' changes to the timers
/// are not signalled to this process, so it looks at least this often.
const DISTRIBUTED_TIMER_POLL: Duration = Duration::from_secs(1);
/// How often the relay looks for ticket events written by other processes.
const RELAY_POLL: Duration = Duration::from_millis(500);

type TaskResult = (&'static str, anyhow::Result<()>);

/// The roles of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Takes reports over gRPC and appends them to the log.
    pub ingest: bool,
    /// Locates, deduplicates and assigns reports.
    pub router: bool,
    /// Applies decisions, runs the time limits and escalation, publishes ticket events.
    pub tracker: bool,
    /// Serves dispatch-centre, squad-terminal and grid queries and commands.
    pub gateway: bool,
}

impl Roles {
    /// Every role (the embedded mode, and `gridd run` without `--role`).
    pub const ALL: Self = Self { ingest: true, router: true, tracker: true, gateway: true };

    /// Whether this process talks to Kafka.
    fn need_kafka(self) -> bool {
        self.ingest || self.router || self.tracker
    }

    fn names(self) -> String {
        let named = [(self.ingest, "ingest"), (self.router, "router"), (self.tracker, "tracker"), (self.gateway, "gateway")];
        named.iter().filter(|(on, _)| *on).map(|(_, name)| *name).collect::<Vec<_>>().join(",")
    }
}

/// A running engine.
pub struct Engine {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<TaskResult>,
    city: CityHandle,
}

/// What every role's tasks share.
#[derive(Clone)]
struct Shared {
    city: CityHandle,
    clock: Arc<dyn Clock>,
    node: u8,
    shutdown: CancellationToken,
    auth: AuthConfig,
    /// TLS for the gRPC listener (ALPN h2), when configured.
    grpc_tls: Option<Arc<rustls::ServerConfig>>,
    /// The HTTP routes that need the store (sign-in, metrics behind the access layer), set
    /// once the store is reached; until then they answer 503.
    http_routes: Arc<OnceLock<axum::Router>>,
    metrics: PrometheusHandle,
}

impl Engine {
    /// Starts every role: the embedded mode, or all roles on the shared services when the
    /// configuration has a `[distributed]` section.
    pub async fn start(config: &EngineConfig, city: CityConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::start_roles(config, city, clock, Roles::ALL).await
    }

    /// Binds the listeners and starts `roles`.
    pub async fn start_roles(config: &EngineConfig, city: CityConfig, clock: Arc<dyn Clock>, roles: Roles) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.distributed.is_some() || roles == Roles::ALL,
            "--role needs a [distributed] section in the configuration: the embedded mode runs every role in one process"
        );
        let metrics = telemetry::metrics_handle();
        for warning in &city.warnings {
            tracing::warn!("{warning}");
        }
        let city = CityHandle::new(city);
        let grpc = TcpListener::bind(config.grpc_addr).await.with_context(|| format!("binding gRPC on {}", config.grpc_addr))?;
        let http = TcpListener::bind(config.http_addr).await.with_context(|| format!("binding HTTP on {}", config.http_addr))?;
        let (grpc_addr, http_addr) = (grpc.local_addr()?, http.local_addr()?);

        let shutdown = CancellationToken::new();
        let ready = Arc::new(AtomicBool::new(false));
        let tls = |alpn: &[&[u8]]| config.tls.as_ref().map(|t| crate::tls::server_config(t, alpn)).transpose();
        let (grpc_tls, http_tls) = (tls(&[b"h2"])?, tls(&[b"http/1.1"])?);
        let shared = Shared {
            city: city.clone(),
            clock,
            node: config.intake_node,
            shutdown: shutdown.clone(),
            auth: config.auth.clone(),
            grpc_tls,
            http_routes: Arc::new(OnceLock::new()),
            metrics,
        };
        let mut tasks = JoinSet::new();
        tasks.spawn(named("http", serve_http(http, http_tls, shared.http_routes.clone(), ready.clone(), shutdown.clone())));
        tasks.spawn(named("reload", crate::reload::watch(city.clone(), config.reload_poll, shutdown.clone())));
        match &config.distributed {
            None => {
                let store = open_sqlite(config)?;
                let access = open_access(store.clone(), &shared).await?;
                start_embedded(&mut tasks, store, access, grpc, config.retention, &shared)?;
                ready.store(true, Ordering::Release);
                tracing::info!(%grpc_addr, %http_addr, sqlite = %config.sqlite.display(), "gridd started (embedded)");
            }
            Some(distributed) => {
                tasks.spawn(named("distributed", run_distributed(distributed.clone(), roles, grpc, shared, ready)));
                tracing::info!(%grpc_addr, %http_addr, roles = roles.names(), "gridd started (distributed); waiting for PostgreSQL and Kafka");
            }
        }
        Ok(Self { grpc_addr, http_addr, shutdown, tasks, city })
    }

    /// Where gRPC listens.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Where HTTP (metrics, health) listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Cancelling this token shuts the engine down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The current city.
    pub fn city(&self) -> &CityHandle {
        &self.city
    }

    /// Runs until shutdown is requested or a task fails; returns the first failure.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let failure = join_first_failure(&mut self.tasks, &self.shutdown).await;
        tracing::info!("gridd stopped");
        failure.map_or(Ok(()), Err)
    }
}

/// Waits for shutdown or a task's end (which requests shutdown), then for the rest, at most
/// [`DRAIN`]; returns the first failure.
async fn join_first_failure(tasks: &mut JoinSet<TaskResult>, shutdown: &CancellationToken) -> Option<anyhow::Error> {
    let mut failure = None;
    tokio::select! {
        () = shutdown.cancelled() => {}
        Some(joined) = tasks.join_next() => {
            failure = task_failure(joined);
            if failure.is_none() && !shutdown.is_cancelled() {
                failure = Some(anyhow::anyhow!("a task ended before shutdown was requested"));
            }
        }
    }
    shutdown.cancel();
    let drained = tokio::time::timeout(DRAIN, async {
        while let Some(joined) = tasks.join_next().await {
            if let (None, Some(e)) = (&failure, task_failure(joined)) {
                failure = Some(e);
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("in-flight work did not finish within {DRAIN:?}; ending it");
        tasks.shutdown().await;
    }
    failure
}

fn task_failure(joined: Result<TaskResult, tokio::task::JoinError>) -> Option<anyhow::Error> {
    match joined {
        Ok((_, Ok(()))) => None,
        Ok((name, Err(e))) => {
            tracing::error!(task = name, error = %format!("{e:#}"), "task failed");
            Some(e.context(format!("{name} failed")))
        }
        Err(e) => Some(anyhow::anyhow!("a task panicked: {e}")),
    }
}

async fn named(name: &'static str, f: impl Future<Output = anyhow::Result<()>>) -> TaskResult {
    (name, f.await)
}

fn open_sqlite(config: &EngineConfig) -> anyhow::Result<SqliteStore> {
    if let Some(dir) = config.sqlite.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the data directory {}", dir.display()))?;
    }
    SqliteStore::open(&config.sqlite).with_context(|| format!("opening the store {}", config.sqlite.display()))
}

/// Access on `store`.
async fn open_access<S: Store>(store: S, s: &Shared) -> anyhow::Result<Access<S>> {
    Access::open(store, s.auth.clone()).await.map_err(|e| anyhow::anyhow!("identity and access: {e}"))
}

/// Every role on the SQLite store, work passing through the store's log.
fn start_embedded(
    tasks: &mut JoinSet<TaskResult>,
    store: SqliteStore,
    access: Access<SqliteStore>,
    grpc: TcpListener,
    retention: LogRetention,
    s: &Shared,
) -> anyhow::Result<()> {
    let (st, c, t) = (store.clone(), s.city.clone(), s.shutdown.clone());
    tasks.spawn(named("router", async move {
        gridd_driver::run_embedded(gridd_router::Router::embedded(st, c), t).await;
        Ok(())
    }));
    let (st, c, k, t) = (store.clone(), s.city.clone(), s.clock.clone(), s.shutdown.clone());
    tasks.spawn(named("tracker-dispatch", async move {
        gridd_driver::run_embedded(gridd_tracker::Tracker::new(st, c, k), t).await;
        Ok(())
    }));
    let (st, c, k, t) = (store.clone(), s.city.clone(), s.clock.clone(), s.shutdown.clone());
    tasks.spawn(named("tracker-timers", async move { Ok(gridd_tracker::run_timers(st, c, k, gridd_tracker::MAX_TIMER_SLEEP, t).await?) }));
    tasks.spawn(named("gauges", refresh_gauges(store.clone(), s.clock.clone(), s.shutdown.clone())));
    let rules = vec![
        Retention { topic: gridd_store::topics::INTAKE, keep: retention.intake },
        Retention { topic: gridd_store::topics::DISPATCH, keep: retention.dispatch },
    ];
    let (st, k, t) = (store.clone(), s.clock.clone(), s.shutdown.clone());
    tasks.spawn(named("log-retention", async move {
        keep_logs_trimmed(st, k, rules, retention.finished_cases, t).await;
        Ok(())
    }));
    let services = GrpcServices { store: store.clone(), access, intake: Some(StoreLog(store)), gateway: true };
    tasks.spawn(named("grpc", serve_grpc(grpc, services, s.clone())?));
    Ok(())
}

/// Reaches PostgreSQL and Kafka (retrying until they answer), then runs `roles` on them.
async fn run_distributed(
    config: DistributedConfig,
    roles: Roles,
    grpc: TcpListener,
    s: Shared,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut settings = KafkaSettings::new(config.kafka.clone());
    settings.prefix = config.topic_prefix.clone();
    let url = config.postgres.clone();
    let Some(store) = until_reached("PostgreSQL", &s.shutdown, || connect_postgres(url.clone())).await else { return Ok(()) };
    let access = open_access(store.clone(), &s).await?;
    let producer = if roles.need_kafka() {
        let reached = until_reached("Kafka", &s.shutdown, || {
            let settings = settings.clone();
            async move { gridd_log::ensure_topics(&settings, config.partitions, config.replication).await.map_err(anyhow::Error::from) }
        })
        .await;
        if reached.is_none() {
            return Ok(());
        }
        Some(KafkaProducer::new(&settings)?)
    } else {
        None
    };

    let (health, health_service) = tonic_health::server::health_reporter();
    let intake = match (&producer, roles.ingest) {
        (Some(p), true) => Some(Coalesced::new(KafkaLog::new(store.clone(), p.clone()))),
        _ => None,
    };
    let services = GrpcServices { store: store.clone(), access, intake, gateway: roles.gateway };
    // Built (HTTP routes set) before the first probe can report the process ready.
    let grpc = serve_grpc_with(grpc, services, s.clone(), health.clone(), health_service)?;
    let mut tasks = JoinSet::new();
    let probe = Probe { store: store.clone(), producer: producer.clone(), ready, health, roles };
    probe.check().await;
    tasks.spawn(named("readiness", probe.run(s.shutdown.clone())));
    if let Some(producer) = &producer {
        spawn_log_roles(&mut tasks, roles, &store, producer, &settings, &s)?;
    }
    tasks.spawn(named("grpc", grpc));
    tracing::info!(roles = roles.names(), "PostgreSQL and Kafka reached; roles running");
    join_first_failure(&mut tasks, &s.shutdown).await.map_or(Ok(()), Err)
}

/// The router and tracker tasks of a distributed process.
fn spawn_log_roles(
    tasks: &mut JoinSet<TaskResult>,
    roles: Roles,
    store: &PostgresStore,
    producer: &KafkaProducer,
    settings: &KafkaSettings,
    s: &Shared,
) -> anyhow::Result<()> {
    if roles.router {
        let consumer = KafkaConsumer::new(settings, gridd_router::kafka::GROUP, &[topics::INTAKE])?;
        let (st, c, p, t) = (store.clone(), s.city.clone(), producer.clone(), s.shutdown.clone());
        tasks.spawn(named("router", async move {
            gridd_driver::run_kafka(gridd_router::Router::distributed(st, c, p.clone()), consumer, p, t).await;
            Ok(())
        }));
    }
    if roles.tracker {
        let consumer = KafkaConsumer::new(settings, gridd_tracker::kafka::GROUP, &[topics::DISPATCH])?;
        let (st, c, k, p, t) = (store.clone(), s.city.clone(), s.clock.clone(), producer.clone(), s.shutdown.clone());
        tasks.spawn(named("tracker-dispatch", async move {
            gridd_driver::run_kafka(gridd_tracker::Tracker::new(st, c, k), consumer, p, t).await;
            Ok(())
        }));
        let (st, c, k) = (store.clone(), s.city.clone(), s.clock.clone());
        tasks.spawn(named(
            "tracker-timers",
            restarting("tracker-timers", s.shutdown.clone(), move |t| {
                gridd_tracker::run_timers(st.clone(), c.clone(), k.clone(), DISTRIBUTED_TIMER_POLL, t)
            }),
        ));
        let (st, p) = (store.clone(), producer.clone());
        tasks.spawn(named(
            "tracker-relay",
            restarting("tracker-relay", s.shutdown.clone(), move |t| gridd_tracker::kafka::run_relay(st.clone(), p.clone(), RELAY_POLL, t)),
        ));
        let (st, k) = (store.clone(), s.clock.clone());
        tasks.spawn(named("gauges", restarting("gauges", s.shutdown.clone(), move |t| refresh_gauges(st.clone(), k.clone(), t))));
    }
    Ok(())
}

/// Connects to PostgreSQL and migrates on a plain thread: the synchronous client runs a
/// runtime of its own, which must not be nested in tokio's.
pub(crate) async fn connect_postgres(url: String) -> anyhow::Result<PostgresStore> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("gridd-postgres-connect".into())
        .spawn(move || {
            let _ = done.send(PostgresStore::connect(&url));
        })
        .context("starting the PostgreSQL connect thread")?;
    Ok(result.await.context("the PostgreSQL connect thread failed")??)
}

/// Calls `attempt` until it succeeds, backing off up to [`MAX_BACKOFF`]; `None` on shutdown.
async fn until_reached<T, F, Fut>(what: &str, shutdown: &CancellationToken, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut wait = Duration::from_millis(200);
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "{what} not reachable yet; retrying in {wait:?}"),
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return None,
        }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}

/// Runs a loop that fails when the database does, again after a pause, until shutdown: in the
/// distributed mode a lost connection is a passing state, not a reason to stop the process.
async fn restarting<F, Fut, E>(name: &'static str, shutdown: CancellationToken, run: F) -> anyhow::Result<()>
where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    loop {
        match run(shutdown.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => tracing::warn!(task = name, error = %e, "failed; restarting in 1 s"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

/// Keeps readiness (HTTP and gRPC health) in step with whether PostgreSQL and, for roles that
/// use it, Kafka answer.
struct Probe {
    store: PostgresStore,
    producer: Option<KafkaProducer>,
    ready: Arc<AtomicBool>,
    health: tonic_health::server::HealthReporter,
    roles: Roles,
}

impl Probe {
    async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                () = tokio::time::sleep(PROBE_PERIOD) => self.check().await,
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    async fn check(&self) {
        let database = tokio::time::timeout(PROBE_PERIOD, self.store.read(|tx: &mut dyn ReadTx| tx.log_end(gridd_store::topics::INTAKE)))
            .await
            .map_err(|_| "no answer".to_owned())
            .and_then(|r| r.map(drop).map_err(|e: StoreError| e.to_string()));
        let broker = match &self.producer {
            Some(p) => p.ping(PROBE_PERIOD).await.map_err(|e| e.to_string()),
            None => Ok(()),
        };
        let now_ready = database.is_ok() && broker.is_ok();
        let was_ready = self.ready.swap(now_ready, Ordering::AcqRel);
        if now_ready != was_ready {
            match (database, broker) {
                (Ok(()), Ok(())) => tracing::info!("PostgreSQL and Kafka answer; ready"),
                (Err(e), _) => tracing::warn!(error = %e, "PostgreSQL does not answer; not ready"),
                (_, Err(e)) => tracing::warn!(error = %e, "Kafka does not answer; not ready"),
            }
        }
        let status = if now_ready { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
        for name in served_names(self.roles.ingest, self.roles.gateway) {
            self.health.set_service_status(name, status).await;
        }
        self.health.set_service_status("", status).await;
    }
}

/// The gRPC services of the roles a process runs.
struct GrpcServices<S, K> {
    store: S,
    /// Identity and access on the same store.
    access: Access<S>,
    /// Present when the process takes reports.
    intake: Option<K>,
    /// Whether the dispatch, squad and grid services run here.
    gateway: bool,
}

fn served_names(ingest: bool, gateway: bool) -> Vec<&'static str> {
    let mut names = vec![auth_service_server::SERVICE_NAME];
    if ingest {
        names.push(intake_service_server::SERVICE_NAME);
    }
    if gateway {
        names.extend([dispatch_service_server::SERVICE_NAME, squad_service_server::SERVICE_NAME, grid_service_server::SERVICE_NAME]);
    }
    names
}

/// Serves `services`, all reported serving from the start (the embedded mode has no
/// dependency to wait for). The HTTP routes are in place when this returns.
fn serve_grpc<S: Store, K: IntakeSink>(
    listener: TcpListener,
    services: GrpcServices<S, K>,
    s: Shared,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let names = served_names(services.intake.is_some(), services.gateway);
    let serve = serve_grpc_with(listener, services, s, health.clone(), health_service)?;
    Ok(async move {
        for name in names {
            health.set_service_status(name, tonic_health::ServingStatus::Serving).await;
        }
        serve.await
    })
}

/// Builds the services and sets the HTTP routes that share them, then returns the server to
/// run. Building before returning matters: the process says it is running, and readiness turns
/// true, only after this, so no request meets "waiting for the store" once it is up.
fn serve_grpc_with<S: Store, K: IntakeSink>(
    listener: TcpListener,
    services: GrpcServices<S, K>,
    s: Shared,
    health: tonic_health::server::HealthReporter,
    health_service: tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    let tracker = gridd_tracker::Tracker::new(services.store.clone(), s.city.clone(), s.clock.clone());
    // One instance of each service, shared by the gRPC server and the HTTP routes.
    let intake = services.intake.map(|sink| {
        let intake = Arc::new(Intake::new(sink, s.city.clone(), s.clock.clone(), s.node));
        Arc::new(gridd_ingest::grpc::IntakeGrpc::new(intake))
    });
    let store = services.store.clone();
    let dispatch = Arc::new(gridd_gateway::dispatch::DispatchGrpc::new(store.clone(), s.city.clone(), tracker.clone(), s.shutdown.clone()));
    let squad = Arc::new(gridd_gateway::squad::SquadGrpc::new(store.clone(), s.city.clone(), tracker, s.shutdown.clone()));
    let grid = Arc::new(gridd_gateway::grid::GridGrpc::new(s.city.clone(), s.clock.clone()));
    let auth = Arc::new(gridd_access::service::AuthGrpc::new(services.access.clone()));
    let web = services.gateway.then(|| gridd_web::Services {
        dispatch: dispatch.clone(),
        squad: squad.clone(),
        grid: grid.clone(),
        auth: auth.clone(),
        intake: intake.clone(),
        store,
        city: s.city.clone(),
        access: services.access.clone(),
    });
    let _ = s.http_routes.set(http_routes(services.access.clone(), s.metrics.clone(), web));
    let intake = intake.map(IntakeServiceServer::from_arc);
    let (dispatch, squad, grid) = if services.gateway {
        (
            Some(DispatchServiceServer::from_arc(dispatch)),
            Some(SquadServiceServer::from_arc(squad)),
            Some(GridServiceServer::from_arc(grid)),
        )
    } else {
        (None, None, None)
    };
    // Reflection in both versions: older grpcurl, Evans, Postman and most Python tooling
    // speak only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(gridd_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().context("building the reflection service")?;
    let reflection_v1alpha = reflection().build_v1alpha().context("building the reflection service (v1alpha)")?;
    let auth = AuthServiceServer::from_arc(auth);

    let on_shutdown = {
        let shutdown = s.shutdown.clone();
        async move {
            shutdown.cancelled().await;
            // Tell load balancers first, then stop accepting.
            health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        }
    };
    let router = gridd_proto::tonic::transport::Server::builder()
        .layer(GrpcAccessLayer::new(services.access))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(auth)
        .add_optional_service(intake)
        .add_optional_service(dispatch)
        .add_optional_service(squad)
        .add_optional_service(grid);
    Ok(async move {
        match &s.grpc_tls {
            Some(config) => {
                let incoming = crate::tls::accept_tls(listener, config.clone(), s.shutdown.clone());
                let incoming = tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(incoming), |(stream, _)| {
                    Ok::<_, std::io::Error>(stream)
                });
                router.serve_with_incoming_shutdown(incoming, on_shutdown).await
            }
            None => {
                // TCP_NODELAY: see the tls module.
                let incoming = tokio_stream::StreamExt::map(tokio_stream::wrappers::TcpListenerStream::new(listener), |tcp| {
                    tcp.inspect(|t| {
                        let _ = t.set_nodelay(true);
                    })
                });
                router.serve_with_incoming_shutdown(incoming, on_shutdown).await
            }
        }
        .context("gRPC server")
    })
}

/// The HTTP routes behind the access layer: metrics, signing in, and, where the gateway role
/// runs, the web apps and their routes.
fn http_routes<S: Store, K: IntakeSink>(
    access: Access<S>,
    metrics: PrometheusHandle,
    web: Option<gridd_web::Services<S, K>>,
) -> axum::Router {
    let mut router = axum::Router::new()
        .route("/metrics", axum::routing::get(move || std::future::ready(metrics.render())))
        .merge(gridd_access::service::http_routes(access.clone()));
    if let Some(web) = web {
        router = router.merge(gridd_web::routes(web));
    }
    router.layer(axum::middleware::from_fn_with_state(access, gridd_access::layer::http_guard::<S>))
}

/// The address of an HTTP client, from either listener.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

impl Connected<IncomingStream<'_, crate::tls::TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, crate::tls::NoDelayListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, crate::tls::NoDelayListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

async fn serve_http(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    routes: Arc<OnceLock<axum::Router>>,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    // Open311 discovery names the endpoint by its full URL, scheme included.
    let scheme = gridd_web::open311::Scheme(if tls.is_some() { "https" } else { "http" });
    // Health answers from the start; everything else once the store is reached.
    let later = tower::service_fn(move |request: axum::extract::Request| {
        let routes = routes.get().cloned();
        async move {
            Ok::<_, std::convert::Infallible>(match routes {
                Some(router) => tower::ServiceExt::oneshot(router, request).await.unwrap_or_else(|never| match never {}),
                None => axum::response::IntoResponse::into_response((StatusCode::SERVICE_UNAVAILABLE, "starting: waiting for the store")),
            })
        }
    });
    let app = axum::Router::new()
        .route("/health/livez", get(|| std::future::ready("ok")))
        .route(
            "/health/readyz",
            get(move || {
                let status = if ready.load(Ordering::Acquire) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready: waiting for PostgreSQL or Kafka")
                };
                std::future::ready(status)
            }),
        )
        .fallback_service(later)
        .layer(axum::middleware::map_request(
            move |ConnectInfo(Peer(peer)): ConnectInfo<Peer>, mut request: axum::extract::Request| async move {
                request.extensions_mut().insert(gridd_access::service::ClientAddr(peer));
                request.extensions_mut().insert(scheme);
                request
            },
        ));
    let app = app.into_make_service_with_connect_info::<Peer>();
    match tls {
        Some(config) => {
            let listener = crate::tls::TlsListener::new(listener, config, shutdown.clone())?;
            axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await
        }
        None => axum::serve(crate::tls::NoDelayListener(listener), app).with_graceful_shutdown(shutdown.cancelled_owned()).await,
    }
    .context("HTTP server")
}

/// Keeps the open-ticket gauges current (they are states, not events, so they are sampled).
async fn refresh_gauges<S: Store>(store: S, clock: Arc<dyn Clock>, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        let now = clock.now();
        let counts = store.read(move |tx: &mut dyn ReadTx| tx.open_ticket_counts(now)).await?;
        // Every unfinished state, so a state whose last case moved on reads 0, not its last count.
        for state in TicketState::unfinished() {
            let open = counts.by_state.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
            metrics::gauge!("gridd_tickets_open", "state" => state.name()).set(open as f64);
        }
        metrics::gauge!("gridd_tickets_overdue").set(counts.overdue as f64);
        tokio::select! {
            () = tokio::time::sleep(GAUGE_PERIOD) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
