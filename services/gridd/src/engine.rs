//! One engine process in the embedded mode: the SQLite store, every role, the gRPC services
//! and the HTTP endpoints, under one shutdown.
//!
//! Listeners are bound before anything starts (so a port conflict fails fast, and port 0
//! reports the real port); the first task to fail stops all others; shutdown stops taking
//! requests, lets in-flight work finish for a few seconds, then ends the rest. Everything
//! acknowledged is already committed, so an abrupt end loses nothing either.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use gridd_config::{CityConfig, CityHandle, EngineConfig};
use gridd_core::time::Clock;
use gridd_proto::v1::dispatch_service_server::DispatchServiceServer;
use gridd_proto::v1::grid_service_server::GridServiceServer;
use gridd_proto::v1::intake_service_server::IntakeServiceServer;
use gridd_proto::v1::squad_service_server::SquadServiceServer;
use gridd_store::sqlite::SqliteStore;
use gridd_store::{ReadTx, Store};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::telemetry;

/// How long shutdown waits for in-flight work before ending it.
const DRAIN: Duration = Duration::from_secs(5);
/// How often the open-ticket gauges are refreshed.
const GAUGE_PERIOD: Duration = Duration::from_secs(5);

type TaskResult = (&'static str, anyhow::Result<()>);

/// A running engine.
pub struct Engine {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<TaskResult>,
    store: SqliteStore,
    city: CityHandle,
}

impl Engine {
    /// Opens the store, binds the listeners and starts every role.
    pub async fn start(config: &EngineConfig, city: CityConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let metrics = telemetry::metrics_handle();
        if let Some(dir) = config.sqlite.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating the data directory {}", dir.display()))?;
        }
        let store = SqliteStore::open(&config.sqlite).with_context(|| format!("opening the store {}", config.sqlite.display()))?;
        for warning in &city.warnings {
            tracing::warn!("{warning}");
        }
        let city = CityHandle::new(city);
        let grpc = TcpListener::bind(config.grpc_addr).await.with_context(|| format!("binding gRPC on {}", config.grpc_addr))?;
        let http = TcpListener::bind(config.http_addr).await.with_context(|| format!("binding HTTP on {}", config.http_addr))?;
        let (grpc_addr, http_addr) = (grpc.local_addr()?, http.local_addr()?);

        let shutdown = CancellationToken::new();
        let ready = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        let (s, c, k, t) = (store.clone(), city.clone(), clock.clone(), shutdown.clone());
        tasks.spawn(named("router", async move { Ok(gridd_router::run(s, c, t).await?) }));
        let (s, c, cl, t) = (store.clone(), city.clone(), k.clone(), shutdown.clone());
        tasks.spawn(named("tracker-dispatch", async move { Ok(gridd_tracker::run_dispatch(s, c, cl, t).await?) }));
        let (s, c, cl, t) = (store.clone(), city.clone(), k.clone(), shutdown.clone());
        tasks.spawn(named("tracker-timers", async move { Ok(gridd_tracker::run_timers(s, c, cl, t).await?) }));
        let services = Services { store: store.clone(), city: city.clone(), clock: k.clone(), node: config.intake_node };
        tasks.spawn(named("grpc", serve_grpc(grpc, services, shutdown.clone())));
        tasks.spawn(named("http", serve_http(http, metrics, ready.clone(), shutdown.clone())));
        let (s, cl, t) = (store.clone(), k, shutdown.clone());
        tasks.spawn(named("gauges", refresh_gauges(s, cl, t)));
        tasks.spawn(named("reload", crate::reload::watch(city.clone(), config.reload_poll, shutdown.clone())));
        ready.store(true, Ordering::Release);
        tracing::info!(%grpc_addr, %http_addr, sqlite = %config.sqlite.display(), "gridd started");
        Ok(Self { grpc_addr, http_addr, shutdown, tasks, store, city })
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

    /// The store (for the demo's summary and for tests).
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// The current city.
    pub fn city(&self) -> &CityHandle {
        &self.city
    }

    /// Runs until shutdown is requested or a task fails; returns the first failure.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let mut failure = None;
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            Some(joined) = self.tasks.join_next() => {
                failure = task_failure(joined);
                if failure.is_none() && !self.shutdown.is_cancelled() {
                    failure = Some(anyhow::anyhow!("a task ended before shutdown was requested"));
                }
            }
        }
        self.shutdown.cancel();
        let drained = tokio::time::timeout(DRAIN, async {
            while let Some(joined) = self.tasks.join_next().await {
                if let (None, Some(e)) = (&failure, task_failure(joined)) {
                    failure = Some(e);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("in-flight work did not finish within {DRAIN:?}; ending it");
            self.tasks.shutdown().await;
        }
        tracing::info!("gridd stopped");
        failure.map_or(Ok(()), Err)
    }
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

struct Services {
    store: SqliteStore,
    city: CityHandle,
    clock: Arc<dyn Clock>,
    node: u8,
}

async fn serve_grpc(listener: TcpListener, s: Services, shutdown: CancellationToken) -> anyhow::Result<()> {
    let intake = Arc::new(gridd_ingest::Intake::new(s.store.clone(), s.city.clone(), s.clock.clone(), s.node));
    let tracker = gridd_tracker::Tracker::new(s.store.clone(), s.city.clone(), s.clock.clone());
    let intake = IntakeServiceServer::new(gridd_ingest::grpc::IntakeGrpc::new(intake));
    let dispatch = DispatchServiceServer::new(gridd_gateway::dispatch::DispatchGrpc::new(
        s.store.clone(),
        s.city.clone(),
        tracker.clone(),
        shutdown.clone(),
    ));
    let squad = SquadServiceServer::new(gridd_gateway::squad::SquadGrpc::new(s.store.clone(), s.city.clone(), tracker, shutdown.clone()));
    let grid = GridServiceServer::new(gridd_gateway::grid::GridGrpc::new(s.city.clone(), s.clock.clone()));

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IntakeServiceServer<gridd_ingest::grpc::IntakeGrpc<SqliteStore>>>().await;
    health.set_serving::<DispatchServiceServer<gridd_gateway::dispatch::DispatchGrpc<SqliteStore>>>().await;
    health.set_serving::<SquadServiceServer<gridd_gateway::squad::SquadGrpc<SqliteStore>>>().await;
    health.set_serving::<GridServiceServer<gridd_gateway::grid::GridGrpc>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gridd_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;

    let on_shutdown = {
        let health = health.clone();
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            // Tell load balancers first, then stop accepting.
            health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        }
    };
    gridd_proto::tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(intake)
        .add_service(dispatch)
        .add_service(squad)
        .add_service(grid)
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), on_shutdown)
        .await
        .context("gRPC server")
}

async fn serve_http(
    listener: TcpListener,
    metrics: PrometheusHandle,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/metrics", get(move || std::future::ready(metrics.render())))
        .route("/health/livez", get(|| std::future::ready("ok")))
        .route(
            "/health/readyz",
            get(move || {
                let status =
                    if ready.load(Ordering::Acquire) { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "starting") };
                std::future::ready(status)
            }),
        );
    axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await.context("HTTP server")
}

/// Keeps the open-ticket gauges current (they are states, not events, so they are sampled).
async fn refresh_gauges(store: SqliteStore, clock: Arc<dyn Clock>, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        let now = clock.now();
        let counts = store.read(move |tx: &mut dyn ReadTx| tx.live_counts(now)).await?;
        for (state, n) in &counts.by_state {
            metrics::gauge!("gridd_tickets_open", "state" => state.name()).set(*n as f64);
        }
        metrics::gauge!("gridd_tickets_overdue").set(counts.overdue_open as f64);
        tokio::select! {
            () = tokio::time::sleep(GAUGE_PERIOD) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
