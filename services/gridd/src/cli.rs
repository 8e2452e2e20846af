//! The `gridd` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use gridd_config::{CityConfig, EngineConfig, load_city, load_engine};
use gridd_core::category::CategoryCode;
use gridd_core::coords::{CoordSystem, to_wgs84, validate_lon_lat};
use gridd_core::ticket::Placement;
use gridd_core::time::{Clock, SystemClock, Timestamp};

use crate::engine::Engine;

/// gridd: grid event dispatch engine for city management centres (数字化城管).
#[derive(Parser, Debug)]
#[command(name = "gridd", version, about)]
pub struct Cli {
    /// Engine configuration file.
    #[arg(long, global = true, default_value = "config/gridd.toml", env = "GRIDD_CONFIG")]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the engine (embedded mode: one process, SQLite).
    Run,
    /// Run the engine on the demo city with simulated traffic and a live summary.
    Demo(crate::demo::DemoArgs),
    /// Load and validate the engine and city configuration, then exit.
    CheckConfig,
    /// Locate a point in the unit grid and show who is responsible.
    Locate {
        /// Longitude.
        #[arg(allow_negative_numbers = true)]
        lon: f64,
        /// Latitude.
        #[arg(allow_negative_numbers = true)]
        lat: f64,
        /// Datum of the point.
        #[arg(long, value_enum, default_value_t = Crs::Wgs84)]
        crs: Crs,
        /// Category code (e.g. E0505) to show the squad routing would choose now.
        #[arg(long)]
        category: Option<String>,
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
    match cli.command {
        Command::Run => {
            crate::telemetry::init_tracing("info");
            let (engine, city) = load(&cli.config)?;
            runtime.block_on(run_engine(engine, city))
        }
        Command::Demo(args) => runtime.block_on(crate::demo::run(&cli.config, args)),
        Command::CheckConfig => check_config(&cli.config),
        Command::Locate { lon, lat, crs, category } => locate(&cli.config, lon, lat, crs, category.as_deref()),
    }
}

/// Loads the engine file and the city it names.
pub fn load(config: &Path) -> anyhow::Result<(EngineConfig, CityConfig)> {
    let engine = load_engine(config)?;
    let city = load_city(&engine.city)?;
    Ok((engine, city))
}

async fn run_engine(config: EngineConfig, city: CityConfig) -> anyhow::Result<()> {
    let engine = Engine::start(&config, city, Arc::new(SystemClock)).await?;
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
        city.grid.divisions().city,
        city.grid.version(),
        city.grid.cells().len(),
        city.grid.divisions().streets().count()
    );
    println!("  catalogue {}: {} classes", city.catalogue.version, city.catalogue.classes().count());
    println!(
        "  {} squads, {} rules, {} cameras, {} detections",
        city.responsibility.squads().count(),
        city.responsibility.rules().len(),
        city.cameras.len(),
        city.detections.len()
    );
    println!("  store {}, gRPC {}, HTTP {}", engine.sqlite.display(), engine.grpc_addr, engine.http_addr);
    for warning in &city.warnings {
        println!("  warning: {warning}");
    }
    Ok(())
}

fn locate(config: &Path, lon: f64, lat: f64, crs: Crs, category: Option<&str>) -> anyhow::Result<()> {
    validate_lon_lat(lon, lat).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, city) = load(config)?;
    let datum = match crs {
        Crs::Wgs84 => CoordSystem::Wgs84,
        Crs::Gcj02 => CoordSystem::Gcj02,
        Crs::Bd09 => CoordSystem::Bd09,
    };
    let (x, y) = to_wgs84(datum, lon, lat);
    let point = geo::Point::new(x, y);
    println!("point (WGS84): {x:.6}, {y:.6}");
    let Some(cell) = city.grid.locate(point) else {
        println!("outside the grid ({}): reports here go to the manual queue", city.grid.version());
        return Ok(());
    };
    let r = city.grid.cell_ref(cell);
    println!("cell {} in {} {} (grid {}), {:.0} m²", r.cell_code, r.street_name, r.community_name, city.grid.version(), cell.area_m2);
    match category {
        Some(code) => {
            let code = CategoryCode::parse(code).map_err(|e| anyhow::anyhow!("category: {e}"))?;
            let now: Timestamp = SystemClock.now();
            match gridd_router::place(&city, Some(point), &code, now).1 {
                Placement::Assigned { squad, routing } => {
                    let name = city.responsibility.squad(&squad).map_or("", |s| s.name.as_str());
                    println!("{code} now → {name} ({squad}): {}", routing.reason);
                }
                Placement::Manual { reason, .. } => println!("{code} now → manual queue ({reason:?})"),
            }
        }
        None => {
            if let Some(street) = city.grid.street_of(cell) {
                for a in city.responsibility.applicable(street, &r.community_code) {
                    let name = city.responsibility.squad(&a.squad).map_or("", |s| s.name.as_str());
                    println!("  {name} ({}): {}", a.squad, a.reason);
                }
            }
        }
    }
    Ok(())
}
