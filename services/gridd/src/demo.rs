//! `gridd demo`: the engine on the demo city, driven over gRPC like real clients would, with
//! a live summary in the terminal.
//!
//! Simulated actors, all plain gRPC clients of the running engine:
//! - hotline operators, citizens (sending GCJ-02 points, as phone map apps do) and patrol
//!   supervisors report problems at random places of the grid, some of them repeats;
//! - a camera gateway streams video-AI alerts, many of them repeats of a scene;
//! - every squad watches its task feed: most sign for and handle their tasks, some are slow
//!   (their cases climb the 督办 ladder), a few return tasks that are not theirs;
//! - supervisors verify public reports on site before they are filed (核实: most are
//!   confirmed, a few not filed) and check resolved cases (most pass, some fail → rework);
//! - the hotline calls back every caller who asked (回访); a few are dissatisfied, which
//!   reopens their case;
//! - a dispatcher empties the manual queue.
//!
//! Every actor signs in like a real client: people with the demo accounts created on start
//! (printed with their password, so a person can sign in too), the camera gateway and the
//! citizen app with machine keys.
//!
//! Time runs `--speed` times faster (default 300: a working hour passes in 12 s) on the
//! working-time calendar, so deadlines and escalations show up within a minute.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use geo::InteriorPoint;
use gridd_access::admin::{NewAccount, NewKey};
use gridd_access::client::Bearer;
use gridd_config::CityConfig;
use gridd_core::category::{ClockKind, Limit};
use gridd_core::coords::wgs84_to_gcj02;
use gridd_core::time::{AcceleratedClock, Clock, SystemClock, Timestamp};
use gridd_proto::tonic::service::interceptor::InterceptedService;
use gridd_proto::tonic::transport::{Channel, Endpoint};
use gridd_proto::v1;
use gridd_proto::v1::dispatch_service_client::DispatchServiceClient;
use gridd_proto::v1::grid_service_client::GridServiceClient;
use gridd_proto::v1::intake_service_client::IntakeServiceClient;
use gridd_proto::v1::squad_service_client::SquadServiceClient;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

/// Options of `gridd demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// How many times faster than real time the engine's clock runs.
    #[arg(long, default_value_t = 300)]
    pub speed: u32,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Reports per real second from hotline, citizens and patrols together.
    #[arg(long, default_value_t = 3.0)]
    pub rate: f64,
    /// Keep the database in this directory (default: a fresh temporary one).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// Categories the simulated reporters use, weighted towards what cities see most.
const COMMON: &[&str] = &[
    "E0102", "E0102", "E0104", "E0504", "E0504", "E05L1", "E0505", "E0505", "E0507", "E0201", "E0101", "C0102", "C0118", "C0305", "E0406",
    "C0402", "E0301",
];

/// The password of every demo account (a demo is not a deployment).
pub const DEMO_PASSWORD: &str = "gridd-demo";

/// A channel that sends one identity's credentials.
type Signed = InterceptedService<Channel, Bearer>;

/// The demo's people: (user name, role, squad, display name).
fn demo_people(city: &CityConfig) -> Vec<(String, &'static str, Option<String>, String)> {
    let mut people = vec![
        ("hotline".to_owned(), "hotline_operator", None, "受理员 王芳".to_owned()),
        ("dispatcher".to_owned(), "dispatcher", None, "派遣员 李强".to_owned()),
        ("leader".to_owned(), "shift_leader", None, "值班长 张伟".to_owned()),
        ("supervisor".to_owned(), "supervisor", None, "监督员 刘洋".to_owned()),
        ("viewer".to_owned(), "leadership", None, "领导 陈静".to_owned()),
    ];
    for squad in city.responsibility.squads() {
        people.push((member_of(squad.id.as_str()), "squad_member", Some(squad.id.to_string()), format!("{} 队员", squad.name)));
    }
    // The supervisors the city names to verify reports (核实) sign in as themselves.
    let mut verifiers: Vec<&String> = city.verification.supervisors.iter().flat_map(|a| &a.supervisors).collect();
    verifiers.sort_unstable();
    verifiers.dedup();
    for username in verifiers {
        people.push((username.clone(), "supervisor", None, format!("监督员 {username}")));
    }
    people
}

/// The demo account of a squad's member.
fn member_of(squad: &str) -> String {
    format!("m.{}", squad.to_ascii_lowercase())
}

/// Creates the demo accounts (kept when the data directory is reused) and the machine keys
/// of the simulated camera gateway and citizen app.
async fn create_demo_identities(path: &Path, city: &CityConfig) -> anyhow::Result<(String, String)> {
    let store = gridd_store::sqlite::SqliteStore::open(path)?;
    for (username, role, squad, display_name) in demo_people(city) {
        let new = NewAccount { username, display_name, role: role.into(), squad, password: DEMO_PASSWORD.into() };
        match gridd_access::admin::add_user(&store, city, new, "demo").await {
            Ok(_) => {}
            Err(gridd_access::AccessError::Invalid { field, .. }) if field == "username" => {} // exists from an earlier run
            Err(e) => return Err(anyhow::anyhow!("creating a demo account: {e}")),
        }
    }
    let key = |name: &str, role: &str, cameras: Vec<String>| NewKey { name: name.into(), role: role.into(), cameras };
    let cameras = city.cameras.keys().map(ToString::to_string).collect();
    let (_, camera) = gridd_access::admin::create_key(&store, city, key("演示视频网关", "camera_gateway", cameras), "demo").await?;
    let (_, citizen) = gridd_access::admin::create_key(&store, city, key("演示市民端", "citizen_app", Vec::new()), "demo").await?;
    Ok((camera, citizen))
}

/// Runs the demo until Ctrl-C or `--duration`.
pub async fn run(config: &Path, args: DemoArgs) -> anyhow::Result<()> {
    crate::telemetry::init_tracing("warn");
    let (mut engine_config, city) = crate::cli::load(config)?;
    let (data_dir, temporary) = match &args.data {
        Some(dir) => (dir.clone(), false),
        None => (std::env::temp_dir().join(format!("gridd-demo-{}", std::process::id())), true),
    };
    // The demo is one process on a file of its own, whatever mode the configuration names.
    engine_config.sqlite = data_dir.join("gridd.db");
    engine_config.distributed = None;
    engine_config.grpc_addr = "127.0.0.1:0".parse()?;
    engine_config.http_addr = "127.0.0.1:0".parse()?;

    let origin = first_working_instant(&city, SystemClock.now());
    let clock: Arc<dyn Clock> = Arc::new(AcceleratedClock::new(origin, args.speed));
    let world = Arc::new(World::from(&city));
    let city_name = format!("{} ({})", city.name, city.grid().divisions().city);
    let offset = city.calendar.offset();
    let people = demo_people(&city);
    let engine = Engine::start(&engine_config, city, clock.clone()).await?;
    let (camera_key, citizen_key) = create_demo_identities(&engine_config.sqlite, &engine.city().current()).await?;
    let channel = Endpoint::from_shared(format!("http://{}", engine.grpc_addr()))?.connect().await.context("connecting to the engine")?;
    let stop = engine.shutdown_token();
    let header =
        Header { city: city_name, offset, grpc: engine.grpc_addr().to_string(), http: engine.http_addr().to_string(), speed: args.speed };

    let sign_in = |username: String| {
        let (channel, stop) = (channel.clone(), stop.clone());
        async move {
            let (bearer, _) = gridd_access::client::sign_in(channel, &username, DEMO_PASSWORD, stop)
                .await
                .map_err(|s| anyhow::anyhow!("signing in as {username}: {}", s.message()))?;
            anyhow::Ok(bearer)
        }
    };
    let mut squads = Vec::new();
    for (username, _, squad, _) in &people {
        if let Some(squad) = squad {
            squads.push((squad.clone(), sign_in(username.clone()).await?));
        }
    }
    let signed = |bearer: Bearer| InterceptedService::new(channel.clone(), bearer);
    let ids = Identities {
        hotline: signed(sign_in("hotline".into()).await?),
        citizen: signed(Bearer::new(&citizen_key)?),
        supervisor: signed(sign_in("supervisor".into()).await?),
        camera: signed(Bearer::new(&camera_key)?),
        dispatcher: signed(sign_in("dispatcher".into()).await?),
        squads: squads.into_iter().map(|(squad, bearer)| (squad, signed(bearer))).collect(),
    };
    let viewer = signed(sign_in("viewer".into()).await?);
    let actors = Actors { ids: Arc::new(ids), clock: clock.clone(), world, stop: stop.clone() };
    actors.start(&args);
    println!("{}", sign_in_help(&header, &people));
    tokio::spawn(summary_loop(DispatchServiceClient::new(viewer), clock, header, people, stop.clone()));
    let duration = args.duration.map(Duration::from_secs);
    let token = stop.clone();
    tokio::spawn(async move {
        match duration {
            Some(d) => tokio::select! {
                () = tokio::time::sleep(d) => {}
                () = crate::cli::wait_for_signal() => {}
            },
            None => crate::cli::wait_for_signal().await,
        }
        token.cancel();
    });
    let result = engine.run_until_stopped().await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

/// The first working instant at or after `now`, so the demo starts at work.
fn first_working_instant(city: &CityConfig, now: Timestamp) -> Timestamp {
    city.calendar.advance(now, Limit { clock: ClockKind::Working, millis: 1 }).add_millis(-1)
}

/// What the simulated actors know of the city.
struct World {
    places: Vec<(f64, f64)>,
    cameras: Vec<String>,
    detections: Vec<String>,
    squads: Vec<String>,
    fallback_squad: String,
}

impl From<&CityConfig> for World {
    fn from(city: &CityConfig) -> Self {
        // Reports cluster where people are: three in four in the urban streets.
        let mut places = Vec::new();
        let grid = city.grid();
        for cell in grid.cells() {
            let urban = grid.street_of(cell).is_some_and(|s| !s.kind.is_rural());
            if let Some(p) = grid.polygon(cell).interior_point() {
                for _ in 0..if urban { 3 } else { 1 } {
                    places.push((p.x(), p.y()));
                }
            }
        }
        let squads: Vec<String> = city.responsibility.squads().map(|s| s.id.to_string()).collect();
        let fallback_squad = squads.iter().find(|s| s.contains("mobile")).or(squads.first()).cloned().unwrap_or_default();
        Self {
            places,
            cameras: city.cameras.keys().map(ToString::to_string).collect(),
            detections: city.detections.keys().cloned().collect(),
            squads,
            fallback_squad,
        }
    }
}

/// The signed-in channels of the simulated people and machines.
struct Identities {
    hotline: Signed,
    citizen: Signed,
    supervisor: Signed,
    camera: Signed,
    dispatcher: Signed,
    squads: std::collections::HashMap<String, Signed>,
}

/// How to sign in, printed at start and above the live summary.
fn sign_in_help(h: &Header, people: &[(String, &'static str, Option<String>, String)]) -> String {
    let street_members: Vec<&str> = people
        .iter()
        .filter(|(_, _, squad, _)| squad.as_deref().is_some_and(|s| s.starts_with("sq-")))
        .map(|(u, ..)| u.as_str())
        .take(5)
        .collect();
    format!(
        "Dashboard: http://{http}/dashboard/ — sign in with password {DEMO_PASSWORD:?} as:\n  \
         hotline (受理员) · dispatcher (派遣员) · leader (值班长) · supervisor (监督员) · viewer (领导) · squad members {} …\n\
         Hotline console: http://{http}/console/ (as hotline) · squad terminal: http://{http}/terminal/ (as a squad member; \
         a phone-sized window)\n",
        street_members.join(", "),
        http = h.http,
    )
}

/// Everything the simulated actors share.
#[derive(Clone)]
struct Actors {
    ids: Arc<Identities>,
    clock: Arc<dyn Clock>,
    world: Arc<World>,
    stop: CancellationToken,
}

impl Actors {
    fn start(&self, args: &DemoArgs) {
        let rate = args.rate.max(0.1);
        tokio::spawn(self.clone().reporters(rate, args.seed));
        tokio::spawn(self.clone().cameras(args.seed + 1));
        for (i, squad) in self.world.squads.iter().enumerate() {
            tokio::spawn(self.clone().squad(squad.clone(), args.seed + 10 + i as u64));
        }
        tokio::spawn(self.clone().centre(args.seed + 2));
    }

    /// Sleeps `virtual_millis` of engine time; false if the demo is stopping.
    async fn wait(&self, virtual_millis: i64) -> bool {
        tokio::select! {
            () = tokio::time::sleep(self.clock.wall_duration(virtual_millis)) => true,
            () = self.stop.cancelled() => false,
        }
    }

    async fn reporters(self, rate: f64, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut recent: Vec<(f64, f64, &str)> = Vec::new();
        let period = Duration::from_secs_f64(1.0 / rate);
        for n in 0u64.. {
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                () = self.stop.cancelled() => return,
            }
            // One report in six repeats a recent one nearby: the router merges it (并案).
            let (lon, lat, category) = match recent.choose(&mut rng) {
                Some(&(x, y, c)) if rng.random_bool(1.0 / 6.0) => (x + rng.random_range(-0.0002..0.0002), y, c),
                _ => {
                    let &(x, y) = self.world.places.choose(&mut rng).unwrap_or(&(0.0, 0.0));
                    (x, y, *COMMON.choose(&mut rng).unwrap_or(&"E0102"))
                }
            };
            recent.push((lon, lat, category));
            if recent.len() > 50 {
                recent.remove(0);
            }
            let key = format!("demo-{seed}-{n}");
            let point = |crs: v1::CoordSystem, (x, y): (f64, f64)| Some(v1::GeoPoint { lon: x, lat: y, crs: crs.into() });
            let result = match n % 3 {
                0 => {
                    // A caller who cannot say where it is, now and then: the manual queue.
                    let location = if rng.random_bool(0.05) { None } else { point(v1::CoordSystem::Wgs84, (lon, lat)) };
                    let caller = v1::Caller {
                        name: "市民".into(),
                        phone: format!("138{:08}", rng.random_range(0..100_000_000)),
                        reply_required: true,
                        confidential: false,
                    };
                    let req = v1::LogHotlineCallRequest {
                        idempotency_key: key,
                        hotline: v1::Hotline::Hotline12345.into(),
                        caller: Some(caller),
                        category: category.into(),
                        location,
                        address: "市民来电描述的位置".into(),
                        description: "市民来电反映".into(),
                        ..Default::default()
                    };
                    IntakeServiceClient::new(self.ids.hotline.clone()).log_hotline_call(req).await.map(drop)
                }
                1 => {
                    let req = v1::SubmitCitizenReportRequest {
                        idempotency_key: key,
                        citizen_id: format!("wx-{}", rng.random_range(1000..9999)),
                        category: category.into(),
                        location: point(v1::CoordSystem::Gcj02, wgs84_to_gcj02(lon, lat)),
                        description: "随手拍".into(),
                        photo_urls: vec!["https://example.invalid/photo.jpg".into()],
                        ..Default::default()
                    };
                    IntakeServiceClient::new(self.ids.citizen.clone()).submit_citizen_report(req).await.map(drop)
                }
                _ => {
                    let req = v1::SubmitPatrolReportRequest {
                        idempotency_key: key,
                        category: category.into(),
                        location: point(v1::CoordSystem::Wgs84, (lon, lat)),
                        description: "巡查发现".into(),
                        ..Default::default()
                    };
                    IntakeServiceClient::new(self.ids.supervisor.clone()).submit_patrol_report(req).await.map(drop)
                }
            };
            if let Err(status) = result {
                tracing::warn!(%status, "simulated report refused");
            }
        }
    }

    async fn cameras(self, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut intake = IntakeServiceClient::new(self.ids.camera.clone());
        let mut scenes: Vec<(String, String)> = Vec::new();
        for batch in 0u64.. {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = self.stop.cancelled() => return,
            }
            let mut alerts = Vec::new();
            for i in 0..rng.random_range(1..4) {
                // Half of the alerts repeat a scene already seen: they join its case.
                let scene = match scenes.choose(&mut rng) {
                    Some(s) if rng.random_bool(0.5) => s.clone(),
                    _ => {
                        let camera = self.world.cameras.choose(&mut rng).cloned().unwrap_or_default();
                        let detection = self.world.detections.choose(&mut rng).cloned().unwrap_or_default();
                        scenes.push((camera.clone(), detection.clone()));
                        (camera, detection)
                    }
                };
                alerts.push(v1::CameraAlert {
                    camera_id: scene.0,
                    alert_id: format!("a-{seed}-{batch}-{i}"),
                    detection_type: scene.1,
                    confidence: rng.random_range(0.6..0.99),
                    detected_at: Some(gridd_proto::timestamp(self.clock.now())),
                    frame_url: "https://example.invalid/frame.jpg".into(),
                    location: None,
                });
            }
            if let Err(status) = intake.stream_camera_alerts(tokio_stream::iter(alerts)).await {
                tracing::warn!(%status, "simulated camera stream refused");
            }
        }
    }

    /// One squad terminal: handles what it is given, at its own pace.
    async fn squad(self, squad: String, seed: u64) {
        let Some(channel) = self.ids.squads.get(&squad).cloned() else { return };
        let mut client = SquadServiceClient::new(channel);
        let request = v1::WatchTasksRequest { squad_id: squad.clone(), after_seq: 0, ..Default::default() };
        let Ok(response) = client.watch_tasks(request).await else { return };
        let mut feed = response.into_inner();
        let mut rng = StdRng::seed_from_u64(seed);
        loop {
            let event = tokio::select! {
                event = feed.message() => event,
                () = self.stop.cancelled() => return,
            };
            let Ok(Some(event)) = event else { return };
            let kind = event.kind();
            let Some(ticket) = event.ticket else { continue };
            if matches!(kind, v1::TaskEventKind::Assigned | v1::TaskEventKind::Rework) {
                let behaviour = rng.random_range(0..100);
                let pace = rng.random_range(0.3..1.4);
                tokio::spawn(self.clone().handle(squad.clone(), ticket, behaviour, pace));
            }
        }
    }

    async fn handle(self, squad: String, ticket: v1::Ticket, behaviour: u32, pace: f64) {
        let Some(channel) = self.ids.squads.get(&squad).cloned() else { return };
        let mut client = SquadServiceClient::new(channel);
        let task = |version: u64| v1::TaskCommand {
            squad_id: squad.clone(),
            ticket_id: ticket.id.clone(),
            expected_version: version,
            ..Default::default()
        };
        let minute = 60_000;
        if behaviour < 6 && ticket.state() == v1::TicketState::Dispatched {
            if self.wait(10 * minute).await {
                let req = v1::ReturnTaskRequest { task: Some(task(0)), reason: "不属于本单位职责".into() };
                let _ = client.return_task(req).await;
            }
            return;
        }
        if !self.wait((5.0 + 20.0 * pace) as i64 * minute).await || client.accept_task(task(0)).await.is_err() {
            return;
        }
        if behaviour < 18 {
            return; // a slow squad: signed for, never handled; the case climbs the ladder
        }
        if !self.wait(10 * minute).await || client.start_task(task(0)).await.is_err() {
            return;
        }
        let deadline = ticket.handling_deadline.as_ref().map(gridd_proto::from_timestamp).unwrap_or_else(|| self.clock.now());
        let left = deadline.millis_since(self.clock.now()).max(30 * minute);
        if self.wait((left as f64 * pace) as i64).await {
            let req = v1::ResolveTaskRequest { task: Some(task(0)), note: "已处置".into(), photo_urls: vec![] };
            let _ = client.resolve_task(req).await;
        }
    }

    /// The centre: supervisors check resolved cases, a dispatcher empties the manual queue.
    async fn centre(self, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut dispatch = DispatchServiceClient::new(self.ids.dispatcher.clone());
        let Ok(response) = dispatch.watch_tickets(v1::WatchTicketsRequest { after_seq: 0 }).await else { return };
        let mut events = response.into_inner();
        loop {
            let event = tokio::select! {
                event = events.message() => event,
                () = self.stop.cancelled() => return,
            };
            let Ok(Some(event)) = event else { return };
            let Some(ticket) = event.ticket else { continue };
            match (event.kind.as_str(), ticket.state()) {
                ("resolved", v1::TicketState::Checking) => {
                    let passed = rng.random_bool(0.85);
                    let delay = rng.random_range(10..50) * 60_000;
                    tokio::spawn(self.clone().verify(ticket.id, passed, delay));
                }
                ("filed" | "returned", v1::TicketState::Registered | v1::TicketState::Returned) => {
                    let delay = rng.random_range(5..25) * 60_000;
                    tokio::spawn(self.clone().redispatch(ticket, delay));
                }
                ("awaiting_verification", v1::TicketState::Verifying) => {
                    // Most public reports are there; some are not the city's, or gone.
                    let outcome = match rng.random_range(0..20) {
                        0 => v1::VerifyOutcome::NotAProblem,
                        1 => v1::VerifyOutcome::NotCityBusiness,
                        _ => v1::VerifyOutcome::Confirmed,
                    };
                    let delay = rng.random_range(5..40) * 60_000;
                    tokio::spawn(self.clone().verify_report(ticket.id, outcome, delay));
                }
                ("check_passed" | "closed" | "not_filed" | "report_merged", v1::TicketState::Closed | v1::TicketState::NotFiled) => {
                    for status in ticket.replies.iter().filter(|r| r.replied_at.is_none()) {
                        let satisfaction = match rng.random_range(0..20) {
                            0 => v1::Satisfaction::Dissatisfied,
                            1..=3 => v1::Satisfaction::BasicallySatisfied,
                            _ => v1::Satisfaction::Satisfied,
                        };
                        let delay = rng.random_range(30..300) * 60_000;
                        tokio::spawn(self.clone().reply(ticket.id.clone(), status.reference.clone(), satisfaction, delay));
                    }
                }
                _ => {}
            }
        }
    }

    /// A supervisor verifies a public report on site (核实).
    async fn verify_report(self, ticket_id: String, outcome: v1::VerifyOutcome, delay: i64) {
        if self.wait(delay).await {
            let note = if outcome == v1::VerifyOutcome::Confirmed { "" } else { "现场核实：不予立案" };
            let req = v1::VerifyReportRequest { ticket_id, outcome: outcome.into(), note: note.into(), ..Default::default() };
            let _ = DispatchServiceClient::new(self.ids.supervisor.clone()).verify_report(req).await;
        }
    }

    /// The hotline calls a caller back (回访).
    async fn reply(self, ticket_id: String, reference: String, satisfaction: v1::Satisfaction, delay: i64) {
        if self.wait(delay).await {
            let req = v1::RecordReplyRequest {
                ticket_id,
                reference,
                reached: true,
                satisfaction: satisfaction.into(),
                note: "电话回访".into(),
                context: None,
            };
            let _ = DispatchServiceClient::new(self.ids.hotline.clone()).record_reply(req).await;
        }
    }

    async fn verify(self, ticket_id: String, passed: bool, delay: i64) {
        if self.wait(delay).await {
            let req = v1::VerifyRequest { ticket_id, passed, context: None };
            let _ = DispatchServiceClient::new(self.ids.supervisor.clone()).verify(req).await;
        }
    }

    /// Sends a manual-queue case to the territorial squad of its street (another one if that
    /// squad returned it), or to the mobile squad when it has no location.
    async fn redispatch(self, ticket: v1::Ticket, delay: i64) {
        if !self.wait(delay).await {
            return;
        }
        let mut squad = self.world.fallback_squad.clone();
        if let Some(point) = ticket.location {
            let req = v1::LocateRequest { point: Some(point), ..Default::default() };
            if let Ok(found) = GridServiceClient::new(self.ids.dispatcher.clone()).locate(req).await {
                if let Some(last) = found.into_inner().responsible.pop() {
                    squad = last.squad_id;
                }
            }
        }
        if ticket.state() == v1::TicketState::Returned && ticket.return_count > 0 && squad != self.world.fallback_squad {
            squad = self.world.fallback_squad.clone();
        }
        let req = v1::DispatchRequest { ticket_id: ticket.id, squad_id: squad, context: None };
        let _ = DispatchServiceClient::new(self.ids.dispatcher.clone()).dispatch(req).await;
    }
}

struct Header {
    city: String,
    offset: chrono::FixedOffset,
    grpc: String,
    http: String,
    speed: u32,
}

/// Prints the live summary every second (redrawn in a terminal, appended every 5 s otherwise).
async fn summary_loop(
    mut client: DispatchServiceClient<Signed>,
    clock: Arc<dyn Clock>,
    header: Header,
    people: Vec<(String, &'static str, Option<String>, String)>,
    stop: CancellationToken,
) {
    let help = sign_in_help(&header, &people);
    let started = Instant::now();
    let tty = std::io::stdout().is_terminal();
    let period = if tty { Duration::from_secs(1) } else { Duration::from_secs(5) };
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = stop.cancelled() => return,
        }
        let Ok(stats) = client.get_stats(v1::GetStatsRequest::default()).await else { continue };
        let now = clock.now();
        let period = gridd_core::assessment::Period::of(now, header.offset).to_string();
        let month = client.get_assessment(v1::GetAssessmentRequest { period }).await.map(|a| a.into_inner()).ok();
        let mut text = render(&header, &stats.into_inner(), now, started.elapsed());
        text.push_str(&month.as_ref().map(render_assessment).unwrap_or_default());
        let text = format!("{text}\n{help}");
        if tty {
            print!("\x1b[2J\x1b[H{text}");
        } else {
            println!("{text}");
        }
    }
}

/// The month's 考核 so far: the city's rates and the best and worst squads by score.
fn render_assessment(a: &v1::Assessment) -> String {
    let pct = |line: &v1::AssessmentLine, rate: &str| line.rates.get(rate).map_or_else(|| "—".to_owned(), |r| format!("{:.0}%", r * 100.0));
    let Some(city) = a.lines.iter().find(|l| l.kind == "city") else { return format!("考核 {}    no figures yet\n", a.period) };
    let mut squads: Vec<&v1::AssessmentLine> = a.lines.iter().filter(|l| l.kind == "squad" && l.rank > 0).collect();
    squads.sort_by_key(|l| l.rank);
    let named = |l: Option<&&v1::AssessmentLine>| l.map_or_else(|| "—".to_owned(), |l| format!("{} {:.1}", l.name, l.score));
    format!(
        "考核 {}    应结案 {}   结案率 {}   按期结案率 {}   及时签收率 {}   best {}   last {}\n",
        a.period,
        city.should_close,
        pct(city, "closure"),
        pct(city, "on_time_closure"),
        pct(city, "timely_accept"),
        named(squads.first()),
        named(squads.last())
    )
}

fn counts(items: &[v1::Count], order: &[&str]) -> String {
    let value = |label: &str| items.iter().find(|c| c.label == label).map_or(0, |c| c.count);
    order.iter().map(|l| format!("{l} {}", value(l))).collect::<Vec<_>>().join("   ")
}

fn render(h: &Header, s: &v1::GetStatsResponse, now: Timestamp, elapsed: Duration) -> String {
    let local = now.local(h.offset);
    let city = s.city.clone().unwrap_or_default();
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    let levels: Vec<&str> = s.escalations_by_level.iter().map(|c| c.label.as_str()).collect();
    let mut out = String::new();
    out.push_str(&format!(
        "gridd demo — {} · engine time {} (×{}) · running {:>3}s · Ctrl-C to stop\n",
        h.city,
        local.format("%Y-%m-%d %a %H:%M"),
        h.speed,
        elapsed.as_secs()
    ));
    out.push_str(&format!("gRPC {} · HTTP http://{} (sign-in; /metrics with a monitoring key)\n\n", h.grpc, h.http));
    out.push_str(&format!(
        "Events in     {}   (merged into open cases: {})\n",
        counts(&s.intake_by_channel, &["hotline", "citizen", "patrol", "camera"]),
        s.merged_reports
    ));
    out.push_str(&format!(
        "Cases         {}\n              {}\n              {}\n",
        counts(&s.tickets_by_state, &["verifying", "registered", "dispatched", "accepted", "in_progress", "returned"]),
        counts(&s.tickets_by_state, &["checking", "rework", "suspended", "closed", "cancelled"]),
        counts(&s.tickets_by_state, &["not_filed"])
    ));
    out.push_str(&format!("Overdue now   {}\n", s.overdue_open));
    out.push_str(&format!(
        "Escalations   {}\n",
        if levels.is_empty() { "none yet".into() } else { counts(&s.escalations_by_level, &levels) }
    ));
    out.push_str(&format!(
        "KPIs          on-time disposal {}   closure {}   on-time closure {}   rework {}   avg handling {:.0} min\n",
        pct(city.on_time_disposal_rate),
        pct(city.closure_rate),
        pct(city.on_time_closure_rate),
        pct(city.rework_rate),
        city.average_handling_seconds / 60.0
    ));
    out.push_str(&format!(
        "Public        verified {}   not filed {}   replies {}/{} (on time {})   satisfied {}\n",
        city.verified,
        city.not_filed,
        city.replied,
        city.replies_due,
        pct(city.on_time_reply_rate),
        pct(city.satisfaction_rate)
    ));
    out
}
