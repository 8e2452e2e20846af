//! `gridd bench`: a load generator that drives a running engine over gRPC, as its clients do,
//! and prints throughput and latency percentiles (HdrHistogram) with a progress line.
//!
//! Scenarios:
//! - `intake`: hotline calls (`LogHotlineCall`) at points all over the city, as fast as the
//!   clients in flight allow;
//! - `camera`: camera gateways streaming alerts (`StreamCameraAlerts`) in batches;
//! - `dispatch`: each client sends a patrol report and waits for the task to reach its squad's
//!   live feed (report → terminal);
//! - `lifecycle`: each client sends a patrol report, waits for the task to reach its squad's live feed
//!   (report → terminal), then signs for it, starts, reports it handled and passes the check;
//! - `mixed`: a quarter of the clients each of intake, lifecycles, camera streams and what a
//!   dashboard reads (listing, a case, the KPIs), on connections that also carry the squads'
//!   live feeds.
//!
//! `--rate` paces any scenario: the clients start at most that many operations per second
//! between them, for latencies at a given load rather than at the most the clients can push.
//!
//! The key must be an administrator's machine key (`gridd key create administrator`), which
//! may act for any squad; raise `[auth] intake_rate` in the engine's configuration for runs
//! above its per-key rate (benches/README.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use gridd_access::client::Bearer;
use gridd_config::CityConfig;
use gridd_proto::tonic::Status;
use gridd_proto::tonic::service::interceptor::InterceptedService;
use gridd_proto::tonic::transport::{Channel, Endpoint};
use gridd_proto::v1;
use gridd_proto::v1::dispatch_service_client::DispatchServiceClient;
use gridd_proto::v1::intake_service_client::IntakeServiceClient;
use gridd_proto::v1::squad_service_client::SquadServiceClient;
use hdrhistogram::Histogram;
use tokio::sync::Notify;

type Signed = InterceptedService<Channel, Bearer>;

/// Categories the reports cycle through (garbage, dirty ground, stalls outside shops and on
/// the road).
const CATEGORIES: [&str; 4] = ["E0102", "E0104", "E0505", "E0504"];

/// What to drive.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Hotline calls.
    Intake,
    /// Camera alert streams.
    Camera,
    /// Report → squad terminal.
    Dispatch,
    /// Report → squad terminal → sign for → start → handled → checked.
    Lifecycle,
    /// Intake, lifecycles, reads and listings together, beside live feeds.
    Mixed,
}

/// `gridd bench` options.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The scenario.
    #[arg(long, value_enum, default_value_t = Scenario::Intake)]
    scenario: Scenario,
    /// The engine's gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    /// An administrator's machine key.
    #[arg(long, env = "GRIDD_BENCH_KEY", hide_env_values = true)]
    key: String,
    /// Requests in flight (one per simulated client).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long to drive, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Stop after this many operations (reports, lifecycles, camera streams), if sooner.
    #[arg(long)]
    requests: Option<u64>,
    /// Operations started per second, over all clients: operation n starts no earlier than n
    /// / rate seconds into the run. Without it, each client starts its next as soon as its
    /// last is done. With too few clients for the rate, the run falls behind it; the figures
    /// show the rate reached.
    #[arg(long, value_parser = parse_rate)]
    rate: Option<f64>,
    /// Connections the clients share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Alerts per camera stream (camera scenario).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Cameras the alerts come from (camera scenario; 0: every camera of the city). One
    /// camera makes a storm: every alert merges into its one open case.
    #[arg(long, default_value_t = 0)]
    cameras: usize,
    /// Characters in each call's and patrol report's description (at most 2,000, the intake's
    /// limit): 0 for the short "gridd bench"; more for a hotline operator's write-up, a
    /// Chinese sentence repeated to that length.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=2000))]
    description_chars: u16,
}

/// A `--rate`: a positive number of operations per second.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a positive number of operations per second")),
    }
}

/// The sentence a long description repeats.
const WRITE_UP: &str = "市民来电反映：小区东门外人行道上有商户长期占道经营，堆放杂物，影响行人通行，请相关部门尽快处理。";

/// A report's description of `chars` characters (see `BenchArgs::description_chars`).
fn description(chars: u16) -> String {
    match chars {
        0 => "gridd bench".into(),
        n => WRITE_UP.chars().cycle().take(usize::from(n)).collect(),
    }
}

/// Latencies and errors per operation.
#[derive(Default)]
struct Recorder {
    latencies: Mutex<HashMap<&'static str, Histogram<u64>>>,
    counts: Mutex<HashMap<&'static str, u64>>,
    errors: Mutex<HashMap<String, u64>>,
}

impl Recorder {
    fn record<T>(&self, op: &'static str, started: Instant, result: &Result<T, Status>) {
        match result {
            Ok(_) => self.took(op, started.elapsed(), 1),
            Err(e) => self.error(op, &format!("{:?}: {}", e.code(), e.message())),
        }
    }

    /// Records `items` done by one operation that took `elapsed`.
    fn took(&self, op: &'static str, elapsed: Duration, items: u64) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1);
        let mut latencies = self.latencies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let histogram = latencies.entry(op).or_insert_with(|| Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"));
        histogram.saturating_record(micros);
        *self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(op).or_default() += items;
    }

    fn error(&self, op: &str, what: &str) {
        // The first words say what kind; messages with ids would make every error distinct.
        let kind: String = what.chars().take(90).collect();
        *self.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(format!("{op}: {kind}")).or_default() += 1;
    }

    fn count(&self, op: &str) -> u64 {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(op).copied().unwrap_or(0)
    }
}

/// Shared by the clients of one run.
struct Run {
    id: String,
    city: Arc<CityConfig>,
    channels: Vec<Signed>,
    recorder: Recorder,
    stop: AtomicBool,
    /// Tasks seen on the squads' feeds: ticket id → (squad, when).
    pushed: Mutex<HashMap<String, (String, Instant)>>,
    arrived: Notify,
    next: AtomicU64,
    batch: usize,
    cameras: usize,
    requests: Option<u64>,
    rate: Option<f64>,
    /// When the clients started: operation n is due `n / rate` after it.
    started: Instant,
    /// When the run ends: no operation due later is started.
    until: Instant,
    description: String,
}

impl Run {
    fn channel(&self, i: usize) -> Signed {
        self.channels[i % self.channels.len()].clone()
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// Waits until operation `n` is due under `--rate` (at once without one); false if it is
    /// due after the run's end, so it is not started.
    async fn due(&self, n: u64) -> bool {
        let Some(rate) = self.rate else { return true };
        let at = self.started + Duration::from_secs_f64(n as f64 / rate);
        if at > self.until {
            return false;
        }
        tokio::time::sleep_until(at.into()).await;
        true
    }

    /// A point in the city: the centre of a cell picked by `n`, spread over the whole grid.
    fn point(&self, n: u64) -> v1::GeoPoint {
        let grid = self.city.grid();
        let cells = grid.cells();
        let cell = &cells[(n.wrapping_mul(2_654_435_761) % cells.len() as u64) as usize];
        let centre = geo::InteriorPoint::interior_point(&grid.polygon(cell)).unwrap_or_else(|| geo::Point::new(0.0, 0.0));
        v1::GeoPoint { lon: centre.x(), lat: centre.y(), crs: v1::CoordSystem::Wgs84.into() }
    }

    fn hotline_call(&self, n: u64) -> v1::LogHotlineCallRequest {
        v1::LogHotlineCallRequest {
            idempotency_key: format!("bench-{}-{n}", self.id),
            hotline: v1::Hotline::Hotline12345.into(),
            caller: Some(v1::Caller { name: String::new(), phone: "13800000000".into(), reply_required: false, confidential: false }),
            category: CATEGORIES[(n % 4) as usize].into(),
            location: Some(self.point(n)),
            address: "压力测试".into(),
            description: self.description.clone(),
            ..Default::default()
        }
    }

    /// A grid supervisor's report: filed and dispatched at once (a public report may first
    /// wait for on-site verification, 核实, where the city asks for it).
    fn patrol_report(&self, n: u64) -> v1::SubmitPatrolReportRequest {
        v1::SubmitPatrolReportRequest {
            idempotency_key: format!("bench-{}-{n}", self.id),
            category: CATEGORIES[(n % 4) as usize].into(),
            location: Some(self.point(n)),
            address: "压力测试".into(),
            description: self.description.clone(),
            ..Default::default()
        }
    }
}

/// Runs the bench and prints its figures.
pub async fn run(config: &std::path::Path, args: BenchArgs) -> anyhow::Result<()> {
    let (_, city) = crate::cli::load(config)?;
    let bearer = Bearer::new(&args.key).map_err(|e| anyhow::anyhow!("--key: {}", e.message()))?;
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        let endpoint = Endpoint::from_shared(args.target.clone()).context("--target")?.tcp_nodelay(true);
        let channel = endpoint.connect().await.with_context(|| format!("connecting to {}", args.target))?;
        channels.push(InterceptedService::new(channel, bearer.clone()));
    }
    let now = Instant::now();
    let run = Arc::new(Run {
        id: format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())),
        city: Arc::new(city),
        channels,
        recorder: Recorder::default(),
        stop: AtomicBool::new(false),
        pushed: Mutex::new(HashMap::new()),
        arrived: Notify::new(),
        next: AtomicU64::new(0),
        batch: args.batch.max(1),
        cameras: args.cameras,
        requests: args.requests,
        rate: args.rate,
        started: now,
        until: now + Duration::from_secs(args.seconds),
        description: description(args.description_chars),
    });
    if matches!(args.scenario, Scenario::Dispatch | Scenario::Lifecycle | Scenario::Mixed) {
        watch_feeds(&run).await?;
    }
    let started = run.started;
    let mut clients = Vec::new();
    for i in 0..args.clients.max(1) {
        let role = match args.scenario {
            Scenario::Mixed => [Scenario::Intake, Scenario::Lifecycle, Scenario::Mixed, Scenario::Camera][i % 4],
            other => other,
        };
        clients.push(tokio::spawn(client(run.clone(), i, role)));
    }
    let progress = tokio::spawn(progress(run.clone(), started));
    let all_done = async {
        for c in &mut clients {
            let _ = c.await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(args.seconds), all_done).await;
    run.stop.store(true, Ordering::Relaxed);
    let load = started.elapsed();
    // Those still in flight finish their operation; a handle already awaited is finished.
    for c in clients {
        if !c.is_finished() {
            let _ = c.await;
        }
    }
    progress.abort();
    eprintln!();
    report(&run, &args, load, started.elapsed());
    Ok(())
}

/// Opens every squad's live feed and notes when each task arrives.
async fn watch_feeds(run: &Arc<Run>) -> anyhow::Result<()> {
    let squads: Vec<String> = run.city.responsibility.squads().map(|s| s.id.to_string()).collect();
    for (i, squad) in squads.into_iter().enumerate() {
        let mut client = SquadServiceClient::new(run.channel(i));
        // From the feed's end: a store seeded with a million cases holds as many tasks, and
        // only the bench's own are waited for.
        let request = v1::WatchTasksRequest { squad_id: squad.clone(), from_end: true, ..Default::default() };
        let mut stream = client.watch_tasks(request).await?.into_inner();
        let run = run.clone();
        tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                if event.kind() == v1::TaskEventKind::Assigned {
                    let id = event.ticket.map(|t| t.id).unwrap_or_default();
                    run.pushed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, (squad.clone(), Instant::now()));
                    run.arrived.notify_waiters();
                }
                if !run.running() {
                    break;
                }
            }
        });
    }
    Ok(())
}

async fn client(run: Arc<Run>, i: usize, role: Scenario) {
    let channel = run.channel(i);
    while run.running() {
        let n = run.next.fetch_add(1, Ordering::Relaxed);
        if run.requests.is_some_and(|limit| n >= limit) {
            break;
        }
        if !run.due(n).await {
            break;
        }
        match role {
            Scenario::Intake => {
                let started = Instant::now();
                let result = IntakeServiceClient::new(channel.clone()).log_hotline_call(run.hotline_call(n)).await;
                run.recorder.record("intake", started, &result);
            }
            Scenario::Camera => camera_batch(&run, channel.clone(), n).await,
            Scenario::Dispatch => {
                let _ = report_to_terminal(&run, channel.clone(), n).await;
            }
            Scenario::Lifecycle => lifecycle(&run, channel.clone(), n).await,
            Scenario::Mixed => reads(&run, channel.clone(), n).await,
        }
    }
}

/// One stream of alerts from one camera.
async fn camera_batch(run: &Run, channel: Signed, n: u64) {
    let mut cameras: Vec<_> = run.city.cameras.values().collect();
    cameras.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    if run.cameras > 0 {
        cameras.truncate(run.cameras);
    }
    if cameras.is_empty() {
        run.recorder.error("camera", "the city has no cameras");
        tokio::time::sleep(Duration::from_secs(1)).await;
        return;
    }
    let camera = cameras[(n % cameras.len() as u64) as usize];
    let now = gridd_proto::timestamp(gridd_core::time::Timestamp::from_millis(chrono::Utc::now().timestamp_millis()));
    let alerts: Vec<v1::CameraAlert> = (0..run.batch)
        .map(|k| v1::CameraAlert {
            camera_id: camera.id.to_string(),
            alert_id: format!("bench-{}-{n}-{k}", run.id),
            detection_type: "exposed_garbage".into(),
            confidence: 0.9,
            detected_at: Some(now),
            frame_url: String::new(),
            location: None,
        })
        .collect();
    let started = Instant::now();
    let result = IntakeServiceClient::new(channel).stream_camera_alerts(tokio_stream::iter(alerts)).await;
    match result {
        Ok(response) => {
            let response = response.into_inner();
            run.recorder.took("camera alert stream", started.elapsed(), 1);
            run.recorder.took("camera alert", started.elapsed(), response.accepted.len() as u64);
            for rejected in response.rejected.iter().take(1) {
                run.recorder.error("camera alert", &rejected.reason);
            }
        }
        Err(e) => run.recorder.error("camera alert stream", &format!("{:?}: {}", e.code(), e.message())),
    }
}

/// A patrol report, timed until its task is on its squad's live feed; the case and the squad.
async fn report_to_terminal(run: &Run, channel: Signed, n: u64) -> Option<(String, String)> {
    let started = Instant::now();
    let receipt = IntakeServiceClient::new(channel).submit_patrol_report(run.patrol_report(n)).await;
    run.recorder.record("patrol report", started, &receipt);
    let id = receipt.ok()?.into_inner().reference;
    let Some(squad) = wait_pushed(run, &id, Duration::from_secs(10)).await else {
        run.recorder.error("report → terminal", "not on a squad's feed within 10 s (merged, or the manual queue)");
        return None;
    };
    run.recorder.took("report → terminal", started.elapsed(), 1);
    Some((id, squad))
}

/// A case's whole life, each step timed, and the whole.
async fn lifecycle(run: &Run, channel: Signed, n: u64) {
    let started = Instant::now();
    let Some((id, squad)) = report_to_terminal(run, channel.clone(), n).await else { return };
    let mut squad_client = SquadServiceClient::new(channel.clone());
    let task = || v1::TaskCommand { squad_id: squad.clone(), ticket_id: id.clone(), ..Default::default() };
    let step = Instant::now();
    let r = squad_client.accept_task(task()).await;
    run.recorder.record("accept", step, &r);
    let step = Instant::now();
    let r = squad_client.start_task(task()).await;
    run.recorder.record("start", step, &r);
    let step = Instant::now();
    let r = squad_client.resolve_task(v1::ResolveTaskRequest { task: Some(task()), note: "已处置".into(), photo_urls: Vec::new() }).await;
    run.recorder.record("resolve", step, &r);
    let step = Instant::now();
    let verify = v1::VerifyRequest { ticket_id: id.clone(), passed: true, context: None };
    let r = DispatchServiceClient::new(channel).verify(verify).await;
    run.recorder.record("check", step, &r);
    if r.is_ok() {
        run.recorder.took("lifecycle", started.elapsed(), 1);
    }
}

/// Waits until the task of case `id` is on a squad's feed; its squad.
async fn wait_pushed(run: &Run, id: &str, patience: Duration) -> Option<String> {
    let deadline = Instant::now() + patience;
    loop {
        let arrived = run.arrived.notified();
        if let Some((squad, _)) = run.pushed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id) {
            return Some(squad);
        }
        if tokio::time::timeout_at(deadline.into(), arrived).await.is_err() {
            return None;
        }
    }
}

/// What a dashboard does: read a case, list the open ones.
async fn reads(run: &Run, channel: Signed, n: u64) {
    let mut dispatch = DispatchServiceClient::new(channel);
    let started = Instant::now();
    let listed = dispatch.list_tickets(v1::ListTicketsRequest::default()).await;
    run.recorder.record("list tickets", started, &listed);
    let Ok(listed) = listed else { return };
    let tickets = listed.into_inner().tickets;
    if let Some(t) = tickets.get((n % tickets.len().max(1) as u64) as usize) {
        let started = Instant::now();
        let read = dispatch.get_ticket(v1::GetTicketRequest { id: t.id.clone(), include_history: false, ..Default::default() }).await;
        run.recorder.record("get ticket", started, &read);
    }
    let started = Instant::now();
    let stats = dispatch.get_stats(v1::GetStatsRequest::default()).await;
    run.recorder.record("get stats", started, &stats);
}

async fn progress(run: Arc<Run>, started: Instant) {
    let mut last: HashMap<&'static str, u64> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let counts = run.recorder.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let errors: u64 = run.recorder.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().sum();
        let mut line = format!("\r[{:>3}s]", started.elapsed().as_secs());
        let mut ops: Vec<_> = counts.iter().collect();
        ops.sort();
        for (op, n) in ops {
            line.push_str(&format!("  {op} {}/s", n - last.get(op).copied().unwrap_or(0)));
        }
        line.push_str(&format!("  errors {errors}   "));
        eprint!("{line}");
        last = counts;
    }
}

/// Prints each operation's count, rate and latencies. Rates are over the `load`, the time
/// operations were started in: those in flight at its end only finish after it (a lifecycle
/// waits up to 10 s for its task), which would otherwise count as time with nothing done.
fn report(run: &Run, args: &BenchArgs, load: Duration, elapsed: Duration) {
    let secs = load.as_secs_f64();
    println!(
        "gridd bench — scenario {:?}, {} clients on {} connections, {:.1} s of load ({:.1} s in all) against {}",
        args.scenario,
        args.clients,
        args.connections,
        secs,
        elapsed.as_secs_f64(),
        args.target
    );
    println!(
        "{:<22} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "operation", "count", "per second", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    let latencies = run.recorder.latencies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut ops: Vec<_> = latencies.iter().collect();
    ops.sort_by_key(|(op, _)| *op);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (op, h) in ops {
        let count = run.recorder.count(op);
        println!(
            "{op:<22} {count:>9} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            count as f64 / secs,
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1000.0
        );
    }
    let errors = run.recorder.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if errors.is_empty() {
        println!("errors: none");
    }
    for (what, n) in errors.iter() {
        println!("errors: {n} × {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::{description, parse_rate};

    #[test]
    fn a_rate_is_a_positive_number_per_second() {
        assert_eq!(parse_rate("1000"), Ok(1000.0));
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        for bad in ["0", "-5", "NaN", "inf", "fast", ""] {
            let refused = parse_rate(bad).expect_err(bad);
            assert!(refused.contains("not a positive number of operations per second"), "{bad}: {refused}");
        }
    }

    #[test]
    fn a_long_description_has_the_characters_asked_for() {
        assert_eq!(description(0), "gridd bench");
        let long = description(300);
        assert_eq!(long.chars().count(), 300);
        assert!(long.starts_with("市民来电反映"), "{long}");
    }
}
