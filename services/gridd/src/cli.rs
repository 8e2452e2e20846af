//! The `gridd` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use gridd_config::{CityConfig, EngineConfig, load_city, load_engine};
use gridd_core::coords::{CoordSystem, to_wgs84};
use gridd_core::time::{Clock, SystemClock, Timestamp};

use crate::engine::{Engine, Roles};

/// gridd: grid event dispatch engine for city management centres (数字化城管).
#[derive(Parser, Debug)]
#[command(name = "gridd", version, about)]
pub struct Cli {
    /// Engine configuration file.
    #[arg(long, global = true, default_value = "config/gridd.toml", env = "GRIDD_CONFIG")]
    pub config: PathBuf,
    /// Roles this process runs, comma-separated (distributed mode only; default: all).
    #[arg(long, global = true, value_enum, value_delimiter = ',', env = "GRIDD_ROLE")]
    pub role: Vec<Role>,
    /// This intake process's node id inside references (0..=31), overriding `[intake] node`;
    /// every ingest process of a deployment needs its own.
    #[arg(long, global = true, env = "GRIDD_INTAKE_NODE", value_parser = clap::value_parser!(u8).range(0..32))]
    pub node: Option<u8>,
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A role of the engine (`--role`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Takes reports over gRPC and appends them to the log.
    Ingest,
    /// Locates, deduplicates and assigns reports.
    Router,
    /// Applies decisions, runs time limits and escalation, publishes ticket events.
    Tracker,
    /// Serves dispatch-centre, squad-terminal and grid requests.
    Gateway,
}

/// The roles named on the command line; all of them when none is.
fn roles(named: &[Role]) -> Roles {
    if named.is_empty() {
        return Roles::ALL;
    }
    Roles {
        ingest: named.contains(&Role::Ingest),
        router: named.contains(&Role::Router),
        tracker: named.contains(&Role::Tracker),
        gateway: named.contains(&Role::Gateway),
    }
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the engine: every role on SQLite (embedded mode), or the `--role` roles on
    /// PostgreSQL and Kafka when the configuration has a `[distributed]` section.
    Run,
    /// Run the engine on the demo city with simulated traffic and a live summary.
    Demo(crate::demo::DemoArgs),
    /// Drive a running engine over gRPC (intake, camera, lifecycle or mixed load) and print
    /// throughput and latency percentiles.
    Bench(crate::bench::BenchArgs),
    /// Load and validate the engine and city configuration (and the TLS files), then exit.
    CheckConfig,
    /// Exit 0 if the engine of this configuration on this host is ready (`/health/readyz`,
    /// over TLS when configured): for container health checks.
    Ready {
        /// A client certificate (PEM) to present, where `[tls] client_auth = "required"`.
        #[arg(long, requires = "client_key")]
        client_cert: Option<PathBuf>,
        /// Its private key (PEM).
        #[arg(long, requires = "client_cert")]
        client_key: Option<PathBuf>,
    },
    /// Locate a point in the unit grid and explain who is responsible, or a whole file of
    /// points with --batch.
    Locate {
        /// Longitude.
        #[arg(allow_negative_numbers = true, required_unless_present = "batch")]
        lon: Option<f64>,
        /// Latitude.
        #[arg(allow_negative_numbers = true, required_unless_present = "batch")]
        lat: Option<f64>,
        /// Datum of the point.
        #[arg(long, value_enum, default_value_t = Crs::Wgs84)]
        crs: Crs,
        /// Category code (e.g. E0505) to show the squad routing would choose.
        #[arg(long)]
        category: Option<String>,
        /// When (RFC 3339); picks the grid version and time-of-day rules. Default: now.
        #[arg(long)]
        at: Option<String>,
        /// Read points from this CSV (header with lon,lat; optional id,category,crs) or NDJSON
        /// file, or `-` for standard input, and write one located row per point to stdout.
        #[arg(long, conflicts_with_all = ["lon", "lat"])]
        batch: Option<PathBuf>,
    },
    /// Manage accounts of people (stored with Argon2id password hashes).
    User {
        /// What to do.
        #[command(subcommand)]
        command: crate::admin::UserCommand,
    },
    /// Manage machine keys (camera gateways, the citizen app, the 12345 platform, monitoring).
    Key {
        /// What to do.
        #[command(subcommand)]
        command: crate::admin::KeyCommand,
    },
    /// Show the last entries of the audit log (sign-ins, sign-outs, account and key changes).
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        last: usize,
    },
    /// Work with grid files.
    Grid {
        /// What to do.
        #[command(subcommand)]
        command: GridCommand,
    },
}

/// `gridd grid` subcommands.
#[derive(Subcommand, Debug)]
pub enum GridCommand {
    /// Validate a grid file (codes, rings, overlaps, gaps) and print every problem.
    Check {
        /// The grid file (GeoJSON FeatureCollection).
        file: PathBuf,
        /// The divisions file the codes must belong to (default: divisions.csv next to the grid).
        #[arg(long)]
        divisions: Option<PathBuf>,
        /// The city's outline (GeoJSON; default: boundary.geojson next to the grid, if there):
        /// holes it has too, enclaves of another jurisdiction (飞地), are not gaps.
        #[arg(long)]
        boundary: Option<PathBuf>,
    },
}

/// A coordinate datum on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Crs {
    /// WGS84 (GPS).
    Wgs84,
    /// GCJ-02 (Amap, Tencent).
    Gcj02,
    /// BD-09 (Baidu).
    Bd09,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    // --role and --node (often set through the environment of a container) only shape `run`.
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            crate::telemetry::init_tracing("info");
            let (mut engine, city) = load(&cli.config)?;
            if let Some(node) = cli.node {
                engine.intake_node = node;
            }
            runtime.block_on(run_engine(engine, city, roles(&cli.role)))
        }
        Command::Demo(args) => runtime.block_on(crate::demo::run(&cli.config, args)),
        Command::Bench(args) => runtime.block_on(crate::bench::run(&cli.config, args)),
        Command::CheckConfig => check_config(&cli.config),
        Command::Ready { client_cert, client_key } => {
            let client = client_cert.zip(client_key);
            runtime.block_on(ready(&cli.config, client.as_ref().map(|(c, k)| (c.as_path(), k.as_path()))))
        }
        Command::Locate { lon, lat, crs, category, at, batch } => {
            let at = match at {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                    .map(|d| Timestamp::from_millis(d.timestamp_millis()))
                    .map_err(|e| anyhow::anyhow!("--at {t:?} is not an RFC 3339 time: {e}"))?,
                None => SystemClock.now(),
            };
            match (batch, lon, lat) {
                (Some(file), _, _) => locate_batch(&cli.config, &file, at),
                (None, Some(lon), Some(lat)) => locate(&cli.config, lon, lat, crs, category.as_deref(), at),
                _ => anyhow::bail!("give LON LAT, or --batch FILE"),
            }
        }
        Command::User { command } => admin(&runtime, &cli.config, crate::admin::AdminCommand::User(command)),
        Command::Key { command } => admin(&runtime, &cli.config, crate::admin::AdminCommand::Key(command)),
        Command::Audit { last } => admin(&runtime, &cli.config, crate::admin::AdminCommand::Audit { last }),
        Command::Grid { command: GridCommand::Check { file, divisions, boundary } } => {
            if grid_check(&file, divisions.as_deref(), boundary.as_deref())? { Ok(()) } else { std::process::exit(1) }
        }
    }
}

fn admin(runtime: &tokio::runtime::Runtime, config: &Path, command: crate::admin::AdminCommand) -> anyhow::Result<()> {
    crate::telemetry::init_tracing("warn");
    runtime.block_on(crate::admin::run(config, command))
}

/// Loads the engine file and the city it names.
pub fn load(config: &Path) -> anyhow::Result<(EngineConfig, CityConfig)> {
    let engine = load_engine(config)?;
    let city = load_city(&engine.city)?;
    Ok((engine, city))
}

async fn run_engine(config: EngineConfig, city: CityConfig, roles: Roles) -> anyhow::Result<()> {
    let engine = Engine::start_roles(&config, city, Arc::new(SystemClock), roles).await?;
    println!("gridd is running: gRPC on {}, metrics and health on http://{}", engine.grpc_addr(), engine.http_addr());
    let token = engine.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down (press Ctrl-C again to stop at once)");
        token.cancel();
        wait_for_signal().await;
        std::process::exit(130);
    });
    engine.run_until_stopped().await
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn check_config(config: &Path) -> anyhow::Result<()> {
    let (engine, city) = load(config)?;
    println!("{}: ok", config.display());
    println!(
        "  city {} ({}), grid {}: {} cells in {} streets",
        city.name,
        city.grid().divisions().city,
        city.grid().version(),
        city.grid().cells().len(),
        city.grid().divisions().streets().count()
    );
    println!("  catalogue {}: {} classes", city.catalogue.version, city.catalogue.classes().count());
    println!(
        "  {} squads, {} rules, {} cameras, {} detections",
        city.responsibility.squads().count(),
        city.responsibility.rules().len(),
        city.cameras.len(),
        city.detections.len()
    );
    match &engine.distributed {
        None => {
            println!("  embedded: store {}, gRPC {}, HTTP {}", engine.sqlite.display(), engine.grpc_addr, engine.http_addr);
            let hours = |d: std::time::Duration| d.as_secs_f64() / 3600.0;
            let histories = match engine.retention.finished_cases {
                Some(keep) => format!("a finished case's history kept {} h after its last change", hours(keep)),
                None => "case histories kept".to_owned(),
            };
            println!(
                "  log retention: consumed intake records kept {} h, dispatch records {} h; {histories}",
                hours(engine.retention.intake),
                hours(engine.retention.dispatch)
            );
        }
        Some(d) => println!(
            "  distributed: Kafka {} (topics {}*, {} partitions, replication {}), gRPC {}, HTTP {}",
            d.kafka, d.topic_prefix, d.partitions, d.replication, engine.grpc_addr, engine.http_addr
        ),
    }
    if let Some(tls) = &engine.tls {
        crate::tls::server_config(tls, &[])?;
        let clients = tls.client_ca.as_ref().map_or_else(
            || "no client certificates".to_owned(),
            |ca| format!("client certificates ({:?}) signed by {}", tls.client_auth, ca.display()),
        );
        println!("  TLS on both listeners: {} ({clients})", tls.cert.display());
    } else {
        println!("  no TLS: listeners speak plain text (keep them on loopback or behind a TLS proxy)");
    }
    if let Some(oidc) = &engine.auth.oidc {
        gridd_access::token::OidcVerifier::load(oidc).map_err(|e| anyhow::anyhow!("auth.oidc: {e}"))?;
        println!("  OpenID Connect tokens of {} (audience {}) trusted", oidc.issuer, oidc.audience);
    }
    for warning in &city.warnings {
        println!("  warning: {warning}");
    }
    Ok(())
}

/// `gridd ready`: GET /health/readyz on this host's HTTP listener.
async fn ready(config: &Path, client: Option<(&Path, &Path)>) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let engine = load_engine(config)?;
    let mut addr = engine.http_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let request = format!("GET /health/readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let tcp = tokio::time::timeout(std::time::Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow::anyhow!("{addr}: no answer"))?
        .with_context(|| format!("connecting to {addr}"))?;
    let mut response = Vec::new();
    match &engine.tls {
        Some(tls) => {
            let connector = tokio_rustls::TlsConnector::from(crate::tls::pinned_client_config(tls, client)?);
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            let mut stream = connector.connect(name, tcp).await.context("TLS handshake")?;
            stream.write_all(request.as_bytes()).await?;
            // A server closing without close_notify still sent its whole answer.
            let _ = stream.read_to_end(&mut response).await;
        }
        None => {
            let mut stream = tcp;
            stream.write_all(request.as_bytes()).await?;
            stream.read_to_end(&mut response).await?;
        }
    }
    let response = String::from_utf8_lossy(&response);
    let status = response.lines().next().unwrap_or_default();
    anyhow::ensure!(status.split_whitespace().nth(1) == Some("200"), "not ready: {status}");
    println!("ready");
    Ok(())
}

fn locate(config: &Path, lon: f64, lat: f64, crs: Crs, category: Option<&str>, at: Timestamp) -> anyhow::Result<()> {
    let (_, city) = load(config)?;
    let datum = match crs {
        Crs::Wgs84 => CoordSystem::Wgs84,
        Crs::Gcj02 => CoordSystem::Gcj02,
        Crs::Bd09 => CoordSystem::Bd09,
    };
    let (x, y) = to_wgs84(datum, lon, lat);
    let e = crate::locate::locate_one(&city, lon, lat, datum, category, at).map_err(|e| anyhow::anyhow!(e))?;
    println!("point (WGS84): {x:.6}, {y:.6}; grid version {}", e.grid_version);
    let Some(cell) = &e.cell else {
        println!("outside the grid by more than {} m: reports here go to the manual queue", city.outside_tolerance_m);
        return Ok(());
    };
    let outside = if e.outside_by_m > 0.0 {
        format!(" — the point lies {:.0} m outside the grid; nearest cell", e.outside_by_m)
    } else {
        String::new()
    };
    println!("cell {} in {} {} ({}){outside}", cell.cell_code, cell.street_name, cell.community_name, cell.community_code);
    if let Some(reason) = e.manual {
        println!("{} → manual queue ({reason:?})", category.unwrap_or_default());
    }
    for (squad, routing) in &e.responsible {
        let name = city.responsibility.squad(squad).map_or("", |s| s.name.as_str());
        let head = category.map(|c| format!("{c} → ")).unwrap_or_else(|| "  ".into());
        println!("{head}{name} ({squad}): rule {}: {}", routing.rule_id, routing.reason);
    }
    Ok(())
}

fn locate_batch(config: &Path, file: &Path, at: Timestamp) -> anyhow::Result<()> {
    let (_, city) = load(config)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let summary = if file.as_os_str() == "-" {
        crate::locate::batch(&city, std::io::stdin().lock(), &mut out, at)?
    } else {
        let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        crate::locate::batch(&city, std::io::BufReader::new(input), &mut out, at)?
    };
    std::io::Write::flush(&mut out)?;
    eprintln!("gridd locate: {} rows, {} located, {} errors", summary.rows, summary.located, summary.errors);
    Ok(())
}

/// Validates a grid file and prints the report; true if it is valid.
fn grid_check(file: &Path, divisions: Option<&Path>, boundary: Option<&Path>) -> anyhow::Result<bool> {
    let started = std::time::Instant::now();
    let divisions_path = divisions.map(Path::to_path_buf).unwrap_or_else(|| file.with_file_name("divisions.csv"));
    let divisions = gridd_config::divisions::load(&divisions_path)?;
    let beside = file.with_file_name("boundary.geojson");
    let boundary_path = boundary.map(Path::to_path_buf).or_else(|| beside.exists().then_some(beside));
    let boundary = boundary_path.as_deref().map(gridd_config::geojson::read_boundary).transpose()?;
    let grid_file = gridd_config::geojson::read_grid(file)?;
    let cells = grid_file.cells.len();
    match gridd_core::grid::Grid::load_within(grid_file.version.clone(), divisions, grid_file.cells, boundary.as_ref()) {
        Ok(grid) => {
            let (interior, candidates) = grid.index().bucket_stats();
            println!(
                "{}: ok — grid {}{}, {cells} cells, checked and indexed in {:.2} s ({:.0}% of buckets answer without a polygon test, {candidates:.1} candidates in the others)",
                file.display(),
                grid.version(),
                grid_file.effective_from.map(|t| format!(" effective from {t}")).unwrap_or_default(),
                started.elapsed().as_secs_f64(),
                interior * 100.0,
            );
            Ok(true)
        }
        Err(gridd_core::grid::GridErrors(problems)) => {
            for p in &problems {
                println!("{}: cell {}: {}", file.display(), p.cell, p.reason);
            }
            println!("{}: {} problem(s) in {cells} cells; the grid is refused", file.display(), problems.len());
            Ok(false)
        }
    }
}
