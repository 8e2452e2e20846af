//! The distributed mode end to end: every role a separate `gridd` OS process on the real
//! PostgreSQL and a real Kafka-protocol broker (tansu) that the test script starts; processes
//! killed with SIGKILL or stopped with SIGTERM, the broker frozen with SIGSTOP, a PostgreSQL of
//! the test's own crashed and restarted, or frozen.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridd_proto::tonic::{Code, Request};
use gridd_proto::v1;
use gridd_tests::cluster::{Broker, Cluster, Postgres, free_port};
use gridd_tests::{Clients, XINAN, hotline_call, http_get, http_get_as, spread_point};

/// Waits for the slow parts of a distributed run: consumer groups rejoining after a kill or a
/// frozen broker take several seconds on tansu.
const RECOVERY: Duration = Duration::from_secs(90);

fn point(i: usize) -> Option<v1::GeoPoint> {
    let (lon, lat) = spread_point(i);
    Some(v1::GeoPoint { lon, lat, crs: v1::CoordSystem::Wgs84.into() })
}

fn citizen_report(key: &str, category: &str, i: usize) -> v1::SubmitCitizenReportRequest {
    v1::SubmitCitizenReportRequest {
        idempotency_key: key.into(),
        citizen_id: "u-7".into(),
        category: category.into(),
        location: point(i),
        description: "小区门口垃圾满溢".into(),
        ..Default::default()
    }
}

fn patrol_report(key: &str, category: &str, i: usize) -> v1::SubmitPatrolReportRequest {
    v1::SubmitPatrolReportRequest {
        idempotency_key: key.into(),
        category: category.into(),
        location: point(i),
        description: "巡查发现暴露垃圾".into(),
        ..Default::default()
    }
}

fn camera_alert(camera: &str, alert: &str) -> v1::CameraAlert {
    let now = gridd_proto::timestamp(gridd_core::time::Clock::now(&gridd_core::time::SystemClock));
    v1::CameraAlert {
        camera_id: camera.into(),
        alert_id: alert.into(),
        detection_type: "occupy_road_business".into(),
        confidence: 0.9,
        detected_at: Some(now),
        frame_url: String::new(),
        location: None,
    }
}

/// Every case of the deployment, all pages.
async fn all_cases(c: &mut Clients) -> Vec<v1::Ticket> {
    let mut cases = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = v1::PageRequest { page_size: 500, page_token: page_token.clone() };
        let r =
            c.dispatch.list_tickets(v1::ListTicketsRequest { page: Some(page), ..Default::default() }).await.expect("list").into_inner();
        cases.extend(r.tickets);
        if r.next_page_token.is_empty() {
            return cases;
        }
        page_token = r.next_page_token;
    }
}

fn escalation_labels(history: &[v1::TicketEvent]) -> Vec<String> {
    history.iter().filter(|e| e.kind == "escalated").map(|e| e.detail.split(':').next().unwrap_or_default().to_owned()).collect()
}

fn count_kind(history: &[v1::TicketEvent], kind: &str) -> usize {
    history.iter().filter(|e| e.kind == kind).count()
}

/// Checks that every case was filed once and holds each of its reports once.
async fn assert_each_case_filed_once(c: &mut Clients, cases: &[v1::Ticket]) {
    for case in cases {
        let (_, history) = c.history(&case.id).await;
        assert_eq!(count_kind(&history, "filed"), 1, "case {} filed once: {history:#?}", case.id);
        assert_eq!(count_kind(&history, "report_merged"), case.reports.len() - 1, "case {}: one merge per joined report", case.id);
        let references: HashSet<&str> = case.reports.iter().map(|r| r.reference.as_str()).collect();
        assert_eq!(references.len(), case.reports.len(), "case {} holds each report once", case.id);
    }
}

/// Keys of the records on the deployment's ticket-events topic, read until `wanted` are all
/// there.
async fn published_ticket_ids(cluster: &Cluster, wanted: &HashSet<String>) -> HashSet<String> {
    let mut settings = gridd_log::KafkaSettings::new(cluster.brokers.clone());
    settings.prefix = cluster.prefix.clone();
    let consumer = gridd_log::KafkaConsumer::new(&settings, "audit", &[gridd_log::topics::TICKET_EVENTS]).expect("audit consumer");
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while !wanted.is_subset(&seen) && tokio::time::Instant::now() < deadline {
        if let Ok(Ok(record)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            seen.insert(record.key);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_from_every_channel_flow_through_separate_role_processes_to_cases() {
    let cluster = Cluster::new();
    // Two of every role but the gateway, each its own OS process.
    let front = cluster.start("ingest,gateway", 0).await;
    let second_ingest = cluster.start("ingest", 1).await;
    let routers = [cluster.start("router", 0).await, cluster.start("router", 0).await];
    let _trackers = [cluster.start("tracker", 0).await, cluster.start("tracker", 0).await];
    let (mut a, mut b) = (front.clients().await, second_ingest.clients().await);

    // Places 0..90: one report each, through both ingest processes and three channels; E0201
    // (2 s limit in the test city) every tenth, so escalations fire with two trackers running.
    let mut own_case: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..90 {
        let category = if i % 10 == 0 { "E0201" } else { "E0102" };
        let reference = match i % 3 {
            0 => a.hotline(&format!("h-{i}"), category, Some(spread_point(i))).await.map(|r| r.reference),
            1 => b.intake.submit_citizen_report(citizen_report(&format!("c-{i}"), category, i)).await.map(|r| r.into_inner().reference),
            _ => a.intake.submit_patrol_report(patrol_report(&format!("p-{i}"), category, i)).await.map(|r| r.into_inner().reference),
        };
        own_case.insert(reference.expect("accepted"), i);
    }
    // A hotline call repeating each of places 0..30 (a citizen's or a patrol's report there
    // included): each joins the case of its place.
    let mut repeats: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..30 {
        let category = if i % 10 == 0 { "E0201" } else { "E0102" };
        let receipt = b.hotline(&format!("again-{i}"), category, Some(spread_point(i))).await.expect("accepted");
        repeats.insert(receipt.reference, i);
    }
    // Four cameras, three alerts each of the same scene: one case per camera. The camera
    // resends its first alert within the same stream.
    let mut alerts: Vec<v1::CameraAlert> =
        (1..=4).flat_map(|cam| (0..3).map(move |n| camera_alert(&format!("CAM-000{cam}"), &format!("a-{cam}-{n}")))).collect();
    alerts.push(alerts[0].clone());
    let mut streamed = b.intake.stream_camera_alerts(tokio_stream::iter(alerts)).await.expect("stream").into_inner();
    assert!(streamed.rejected.is_empty(), "valid alerts: {:?}", streamed.rejected);
    let resent = streamed.accepted.pop().expect("the resent alert's receipt");
    assert_eq!((resent.reference.as_str(), resent.replayed), (streamed.accepted[0].reference.as_str(), true), "a resent alert is a replay");

    let mut case_of_place = HashMap::new();
    for (reference, place) in &own_case {
        let case = a.ticket_of_within(reference, RECOVERY).await;
        assert_eq!(&case.id, reference, "place {place}: the first report there opens the case");
        assert!(!case.squad_id.is_empty(), "place {place} is assigned to a squad by the grid");
        case_of_place.insert(*place, case.id);
    }
    for (reference, place) in &repeats {
        let case = a.ticket_of_within(reference, RECOVERY).await;
        assert_eq!(case.id, case_of_place[place], "the repeat at place {place} joins that place's case");
    }
    let camera_cases: HashSet<String> = {
        let mut ids = HashSet::new();
        for receipt in &streamed.accepted {
            ids.insert(a.ticket_of_within(&receipt.reference, RECOVERY).await.id);
        }
        ids
    };
    assert_eq!(camera_cases.len(), 4, "one case per camera scene");

    let cases = all_cases(&mut a).await;
    assert_eq!(cases.len(), 90 + 4, "one case per place and per camera scene, none twice");
    for (place, id) in case_of_place.iter().filter(|(p, _)| **p < 30) {
        let (case, _) = a.wait_for(id, "its repeat merged", |t, _| t.reports.len() == 2).await;
        assert_eq!(case.reports.len(), 2, "place {place}");
    }
    let cases = all_cases(&mut a).await;
    assert_each_case_filed_once(&mut a, &cases).await;

    // With two trackers firing timers, each escalation level still fires once.
    for id in (0..90).step_by(10).map(|place| &case_of_place[&place]) {
        let (_, history) = a.wait_for(id, "four escalation levels", |_, h| escalation_labels(h).len() >= 4).await;
        let labels = escalation_labels(&history);
        assert_eq!(labels[..4], ["催办", "普通督办", "黄牌督办", "红牌督办"], "case {id}: every level in order, once");
        assert_eq!(labels.iter().collect::<HashSet<_>>().len(), labels.len(), "case {id}: no level fired twice: {labels:?}");
    }

    let stats = a.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    let by_channel: HashMap<String, u64> = stats.intake_by_channel.iter().map(|c| (c.label.clone(), c.count)).collect();
    assert_eq!(by_channel.values().sum::<u64>(), 90 + 30 + 12, "every report counted once: {by_channel:?}");

    // Downstream consumers see every case on the ticket-events topic.
    let ids: HashSet<String> = cases.iter().map(|c| c.id.clone()).collect();
    let published = published_ticket_ids(&cluster, &ids).await;
    assert!(ids.is_subset(&published), "cases missing from the ticket-events topic: {:?}", ids.difference(&published).collect::<Vec<_>>());

    // The routers publish their lag on each partition of the intake topic: nothing is left.
    let deadline = tokio::time::Instant::now() + RECOVERY;
    loop {
        let mut lag: HashMap<String, f64> = HashMap::new();
        for router in &routers {
            for (partition, value) in intake_lag(&http_get_as(router.http_addr, "/metrics", &router.key).await.1) {
                *lag.entry(partition).or_default() += value;
            }
        }
        if lag.len() == 4 && lag.values().all(|v| *v == 0.0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the routers' lag on the four intake partitions: {lag:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The router's `gridd_log_lag` on the intake topic from a metrics page, by partition.
fn intake_lag(metrics: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter(|line| line.starts_with("gridd_log_lag{") && line.contains(r#"consumer="router""#) && line.contains(r#"topic="intake""#))
        .filter_map(|line| {
            let partition = line.split(r#"partition=""#).nth(1)?.split('"').next()?.to_owned();
            let value = line.rsplit(' ').next()?.parse().ok()?;
            Some((partition, value))
        })
        .collect()
}

/// The intake processes clients send to; a test puts a restarted process in its place.
type Front = Arc<Mutex<Vec<SocketAddr>>>;

fn front(addresses: &[SocketAddr]) -> Front {
    Arc::new(Mutex::new(addresses.to_vec()))
}

/// Reports of `places` places, two each (so half of them merge), sent by several tasks to the
/// processes of a [`Front`] in turn. A report that is refused, or whose process dies under it,
/// is sent again with the same key to the next process until it is acknowledged, as a client
/// of a load-balanced intake would.
struct Burst {
    places: usize,
    acked: Arc<Mutex<BTreeMap<usize, String>>>,
    /// Every failed attempt: the report and the status code.
    refusals: Arc<Mutex<Vec<(usize, Code)>>>,
}

impl Burst {
    fn report(n: usize) -> Request<v1::LogHotlineCallRequest> {
        let place = n / 2;
        let category = if place % 10 == 0 { "E0201" } else { "E0102" };
        let mut request = Request::new(hotline_call(&format!("burst-{n}"), category, Some(spread_point(place))));
        request.set_timeout(Duration::from_secs(10));
        request
    }

    /// Starts sending; each sender waits `pace` after each acknowledged report.
    /// `key` is the credential the senders use.
    fn send(places: usize, front: Front, senders: usize, pace: Duration, key: &str) -> (Self, Vec<tokio::task::JoinHandle<()>>) {
        let burst = Self { places, acked: Arc::default(), refusals: Arc::default() };
        let tasks = (0..senders)
            .map(|s| {
                let (front, acked, refusals, key) = (front.clone(), burst.acked.clone(), burst.refusals.clone(), key.to_owned());
                tokio::spawn(async move {
                    let mut clients = HashMap::new();
                    for n in (s..places * 2).step_by(senders) {
                        let reference = Self::send_until_acked(&front, &mut clients, n, &refusals, &key).await;
                        acked.lock().expect("lock").insert(n, reference);
                        tokio::time::sleep(pace).await;
                    }
                })
            })
            .collect();
        (burst, tasks)
    }

    async fn send_until_acked(
        front: &Front,
        clients: &mut HashMap<SocketAddr, Clients>,
        n: usize,
        refusals: &Mutex<Vec<(usize, Code)>>,
        key: &str,
    ) -> String {
        let deadline = tokio::time::Instant::now() + RECOVERY;
        let mut attempt = n;
        loop {
            let addr = {
                let front = front.lock().expect("lock");
                front[attempt % front.len()]
            };
            let c = clients.entry(addr).or_insert_with(|| Clients::lazy(addr, key));
            match c.intake.log_hotline_call(Self::report(n)).await {
                Ok(receipt) => return receipt.into_inner().reference,
                Err(status) => {
                    refusals.lock().expect("lock").push((n, status.code()));
                    assert!(tokio::time::Instant::now() < deadline, "report {n} was never acknowledged; last answer: {status}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            attempt += 1;
        }
    }

    fn acked(&self) -> usize {
        self.acked.lock().expect("lock").len()
    }

    fn refusals(&self) -> Vec<(usize, Code)> {
        self.refusals.lock().expect("lock").clone()
    }

    async fn until_acked(&self, n: usize) {
        while self.acked() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the senders, then checks the outcome: every report acknowledged; both
    /// reports of a place in one case, opened by one of them; no other case; every case filed
    /// once; the escalations of the E0201 cases each fired once per level.
    async fn assert_one_case_per_place(self, senders: Vec<tokio::task::JoinHandle<()>>, c: &mut Clients) {
        for s in senders {
            s.await.expect("sender");
        }
        let acked = self.acked.lock().expect("lock").clone();
        assert_eq!(acked.len(), self.places * 2, "every report acknowledged");
        for place in 0..self.places {
            let (first, second) = (&acked[&(place * 2)], &acked[&(place * 2 + 1)]);
            let case = c.ticket_of_within(first, RECOVERY).await;
            assert!(&case.id == first || &case.id == second, "place {place}: the case is one of its reports'");
            assert_eq!(c.ticket_of_within(second, RECOVERY).await.id, case.id, "place {place}: both reports in one case");
        }
        let cases = all_cases(c).await;
        assert_eq!(cases.len(), self.places, "one case per place: none created twice");
        for case in &cases {
            c.wait_for(&case.id, "both reports in", |t, _| t.reports.len() == 2).await;
        }
        let cases = all_cases(c).await;
        assert_each_case_filed_once(c, &cases).await;

        let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
        let intake: u64 = stats.intake_by_channel.iter().map(|channel| channel.count).sum();
        assert_eq!(intake, self.places as u64 * 2, "every report counted once");

        for place in (0..self.places).step_by(10) {
            let id = c.ticket_of(&acked[&(place * 2)]).await.id;
            let (_, history) = c.wait_for(&id, "four escalation levels", |_, h| escalation_labels(h).len() >= 4).await;
            let labels = escalation_labels(&history);
            assert_eq!(labels.iter().collect::<HashSet<_>>().len(), labels.len(), "case {id}: no level fired twice: {labels:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_and_tracker_killed_mid_burst_lose_nothing_and_repeat_nothing() {
    const PLACES: usize = 150;
    let cluster = Cluster::new();
    let gateway = cluster.start("ingest,gateway", 0).await;
    let mut router = cluster.start("router", 0).await;
    let mut tracker = cluster.start("tracker", 0).await;

    let (burst, senders) = Burst::send(PLACES, front(&[gateway.grpc_addr]), 6, Duration::ZERO, &cluster.key);
    // SIGKILL the router a quarter of the way in and the tracker half-way, each restarted at
    // once; then both together at three quarters.
    burst.until_acked(PLACES / 2).await;
    router.kill_9();
    router = cluster.start("router", 0).await;
    burst.until_acked(PLACES).await;
    tracker.kill_9();
    tracker = cluster.start("tracker", 0).await;
    burst.until_acked(PLACES * 3 / 2).await;
    router.kill_9();
    tracker.kill_9();
    let (_router, _tracker) = (cluster.start("router", 0).await, cluster.start("tracker", 0).await);

    assert_eq!(burst.refusals(), [], "intake answers while routers and trackers die");
    burst.assert_one_case_per_place(senders, &mut gateway.clients().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_and_trackers_added_and_stopped_mid_burst_hand_over_their_partitions() {
    const PLACES: usize = 150;
    let cluster = Cluster::new();
    let gateway = cluster.start("ingest,gateway", 0).await;
    let first = cluster.start("router,tracker", 0).await;
    let mut c = gateway.clients().await;

    // About 30 reports a second for ten seconds.
    let (burst, senders) = Burst::send(PLACES, front(&[gateway.grpc_addr]), 3, Duration::from_millis(100), &cluster.key);
    // Once the first process is at work, scale out: partitions move to new processes while
    // it keeps working. Two thirds in, stop it (SIGTERM): it finishes the record in hand,
    // commits, and leaves its partitions to the others.
    burst.until_acked(1).await;
    let earliest = burst.acked.lock().expect("lock").values().next().cloned().expect("one acknowledged");
    c.ticket_of_within(&earliest, RECOVERY).await;
    let _added = [cluster.start("router", 0).await, cluster.start("tracker", 0).await];
    burst.until_acked(PLACES * 4 / 3).await;
    first.terminate();

    assert_eq!(burst.refusals(), [], "intake answers while routers and trackers come and go");
    burst.assert_one_case_per_place(senders, &mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_process_killed_mid_burst_loses_nothing_it_acknowledged() {
    const PLACES: usize = 150;
    let cluster = Cluster::new();
    let first = cluster.start("ingest", 1).await;
    let second = cluster.start("ingest", 2).await;
    let back = cluster.start("router,tracker,gateway", 0).await;
    let intake = front(&[first.grpc_addr, second.grpc_addr]);

    let (burst, senders) = Burst::send(PLACES, intake.clone(), 6, Duration::ZERO, &cluster.key);
    // SIGKILL the first intake process with requests in flight; clients carry on with the
    // second, and with the first again once it is back (same node number, new address).
    burst.until_acked(PLACES * 2 / 3).await;
    first.kill_9();
    let refused_before_restart = loop {
        let refused = burst.refusals().len();
        if refused > 0 || burst.acked() == PLACES * 2 {
            break refused;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let first = cluster.start("ingest", 1).await;
    intake.lock().expect("lock")[0] = first.grpc_addr;

    assert!(refused_before_restart > 0, "calls to the killed process failed");
    let mut c = back.clients().await;
    burst.assert_one_case_per_place(senders, &mut c).await;
}

/// A burst of reports through a PostgreSQL outage of `down`, begun by `fail` half-way and ended
/// by `recover`: nothing is acknowledged while the database is out, every refusal carries one
/// of `refusal_codes`, the intake process is not ready meanwhile, and afterwards every report
/// is in one case per place.
async fn burst_through_a_postgres_outage(down: Duration, fail: fn(&Postgres), recover: fn(&Postgres), refusal_codes: &[Code]) {
    const PLACES: usize = 100;
    let postgres = Postgres::start();
    let cluster = Cluster::on_postgres(&postgres.url);
    let gateway = cluster.start("ingest,gateway", 0).await;
    let _back = cluster.start("router,tracker", 0).await;

    let (burst, senders) = Burst::send(PLACES, front(&[gateway.grpc_addr]), 4, Duration::ZERO, &cluster.key);
    burst.until_acked(PLACES / 2).await;
    fail(&postgres);
    let up_again = tokio::time::Instant::now() + down;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked_once_down = burst.acked();
    let mut saw_not_ready = false;
    while tokio::time::Instant::now() < up_again {
        saw_not_ready |= http_get(gateway.http_addr, "/health/readyz").await.0 == 503;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(burst.acked(), acked_once_down, "nothing is acknowledged while the database is out");
    recover(&postgres);

    let refusals = burst.refusals();
    assert!(!refusals.is_empty(), "calls made while PostgreSQL was out were refused");
    assert!(refusals.iter().all(|(_, code)| refusal_codes.contains(code)), "refused only with {refusal_codes:?}: {refusals:?}");
    assert!(saw_not_ready, "the intake process reported not ready while its database was out");
    burst.assert_one_case_per_place(senders, &mut gateway.clients().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crashed_mid_burst_refuses_intake_until_back_and_loses_nothing_acknowledged() {
    burst_through_a_postgres_outage(Duration::from_secs(10), Postgres::crash, Postgres::start_again, &[Code::Unavailable]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_frozen_mid_burst_holds_intake_until_it_answers_and_loses_nothing_acknowledged() {
    // A frozen server answers nothing and keeps its connections open, so calls wait until it
    // answers or the client's 10 s deadline ends them (tonic reports its own timeout as
    // CANCELLED, a server-side one as DEADLINE_EXCEEDED).
    let codes = [Code::Unavailable, Code::DeadlineExceeded, Code::Cancelled];
    burst_through_a_postgres_outage(Duration::from_secs(15), Postgres::freeze, Postgres::resume, &codes).await;
}

/// The squad routing gives an E0102 report at `point`.
async fn squad_at(c: &mut Clients, point: (f64, f64)) -> String {
    let request = v1::LocateRequest {
        point: Some(v1::GeoPoint { lon: point.0, lat: point.1, crs: v1::CoordSystem::Wgs84.into() }),
        category: "E0102".into(),
        at: None,
    };
    let located = c.grid.locate(request).await.expect("locate").into_inner();
    located.responsible.first().map(|r| r.squad_id.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_whose_gateway_is_killed_resumes_on_another_and_misses_nothing() {
    const TASKS: usize = 24;
    let cluster = Cluster::new();
    let first = cluster.start("gateway", 0).await;
    let second = cluster.start("gateway", 0).await;
    let engine = cluster.start("ingest,router,tracker", 0).await;
    let intake = engine.clients().await;

    // Places of one squad: the squad of the first place, and the places it shares it with.
    let mut survivor = second.clients().await;
    let squad = squad_at(&mut survivor, spread_point(0)).await;
    let mut places = Vec::new();
    for i in 0..400 {
        if places.len() < TASKS && squad_at(&mut survivor, spread_point(i)).await == squad {
            places.push(i);
        }
    }
    assert_eq!(places.len(), TASKS, "{TASKS} places of squad {squad} on the lattice");

    let mut terminal = first.clients().await;
    let watch = |after_seq| v1::WatchTasksRequest { squad_id: squad.clone(), after_seq, ..Default::default() };
    let mut feed = terminal.squad.watch_tasks(watch(0)).await.expect("watch").into_inner();
    let mut seen: Vec<v1::TaskEvent> = Vec::new();
    let send = |place: usize| {
        let mut intake = intake.clone();
        async move { intake.hotline(&format!("task-{place}"), "E0102", Some(spread_point(place))).await.expect("accepted").reference }
    };
    let mut sent = Vec::new();
    for &place in &places[..TASKS / 2] {
        sent.push(send(place).await);
    }
    // The terminal has seen some of the first half when its gateway dies.
    while seen.len() < TASKS / 4 {
        let event = tokio::time::timeout(RECOVERY, feed.message()).await.expect("an event in time").expect("ok").expect("event");
        seen.push(event);
    }
    first.kill_9();
    for &place in &places[TASKS / 2..] {
        sent.push(send(place).await);
    }

    // It reconnects to the other gateway from the last event it saw.
    let last_seen = seen.last().map_or(0, |e| e.seq);
    let mut feed = survivor.squad.watch_tasks(watch(last_seen)).await.expect("watch").into_inner();
    let assigned = |seen: &[v1::TaskEvent]| seen.iter().filter(|e| e.kind() == v1::TaskEventKind::Assigned).count();
    while assigned(&seen) < TASKS {
        let event = tokio::time::timeout(RECOVERY, feed.message()).await.expect("an event in time").expect("ok").expect("event");
        seen.push(event);
    }
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "one contiguous feed across the gateway's death");
    let tasks: Vec<String> =
        seen.iter().filter(|e| e.kind() == v1::TaskEventKind::Assigned).filter_map(|e| e.ticket.as_ref().map(|t| t.id.clone())).collect();
    assert_eq!(tasks.len(), TASKS);
    assert_eq!(tasks.iter().collect::<HashSet<_>>(), sent.iter().collect::<HashSet<_>>(), "every task assigned to the squad, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_broker_makes_intake_answer_unavailable_and_loses_nothing_acknowledged() {
    const FREEZE: Duration = Duration::from_secs(30);
    let broker = Broker::start();
    let cluster = Cluster::on_broker(&broker.address.to_string());
    let front = cluster.start("ingest,gateway", 0).await;
    let _back = cluster.start("router,tracker", 0).await;
    let mut c = front.clients().await;
    let mut acked: BTreeMap<usize, String> = BTreeMap::new();
    for n in 0..20 {
        acked.insert(n, c.hotline(&format!("before-{n}"), "E0102", Some(spread_point(n))).await.expect("accepted").reference);
    }

    broker.freeze();
    let frozen_until = tokio::time::Instant::now() + FREEZE;
    // Four clients keep calling while the broker is frozen.
    let callers: Vec<_> = (0..4)
        .map(|s| {
            let mut c = c.clone();
            tokio::spawn(async move {
                let (mut answers, mut n) = (Vec::new(), 100 + s);
                while tokio::time::Instant::now() < frozen_until {
                    let result = c.hotline(&format!("during-{n}"), "E0102", Some(spread_point(n))).await;
                    answers.push((n, result.map(|r| r.reference).map_err(|e| e.code())));
                    n += 4;
                }
                answers
            })
        })
        .collect();
    let mut saw_not_ready = false;
    while tokio::time::Instant::now() < frozen_until {
        saw_not_ready |= http_get(front.http_addr, "/health/readyz").await.0 == 503;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    broker.resume();
    let mut refused = Vec::new();
    for caller in callers {
        for (n, answer) in caller.await.expect("caller") {
            match answer {
                Ok(reference) => {
                    acked.insert(n, reference);
                }
                Err(code) => {
                    assert_eq!(code, Code::Unavailable, "report {n}: a frozen log means UNAVAILABLE, nothing else");
                    refused.push(n);
                }
            }
        }
    }
    assert!(!refused.is_empty(), "calls made while the broker was frozen were refused");
    assert!(saw_not_ready, "the ingest process reported not ready while its broker was frozen");

    // The clients retry what was refused; once the broker answers, it is accepted.
    for &n in &refused {
        let receipt = retry_until_accepted(&mut c, &format!("during-{n}"), n).await;
        acked.insert(n, receipt);
    }
    for n in 200..220 {
        acked.insert(n, c.hotline(&format!("after-{n}"), "E0102", Some(spread_point(n))).await.expect("accepted").reference);
    }
    // Everything acknowledged, before, during and after the freeze, ends in its own case.
    for (n, reference) in &acked {
        let case = c.ticket_of_within(reference, RECOVERY).await;
        assert_eq!(&case.id, reference, "report {n} opened its own case");
    }
    let cases = all_cases(&mut c).await;
    assert_eq!(cases.len(), acked.len(), "one case per acknowledged report, none twice");
    assert_each_case_filed_once(&mut c, &cases).await;
    drop(front);
}

async fn retry_until_accepted(c: &mut Clients, key: &str, n: usize) -> String {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    loop {
        match c.hotline(key, "E0102", Some(spread_point(n))).await {
            Ok(receipt) => return receipt.reference,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{key}: {status}");
                assert!(tokio::time::Instant::now() < deadline, "{key} was never accepted after the broker resumed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_process_is_ready_only_once_its_broker_answers() {
    let port = free_port();
    let cluster = Cluster::on_broker(&format!("127.0.0.1:{port}"));
    let router = cluster.spawn("router", 0);
    for _ in 0..6 {
        let (code, body) = http_get(router.http_addr, "/health/readyz").await;
        assert_eq!(code, 503, "no broker yet: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _broker = Broker::start_on(port);
    router.wait_ready().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_records_go_to_the_dead_letter_topic_and_their_partitions_move_on() {
    const DISPATCH_POISON: usize = 8;
    let cluster = Cluster::new();
    let engine = cluster.start("ingest,router,tracker,gateway", 0).await;
    let mut c = engine.clients().await;
    let mut settings = gridd_log::KafkaSettings::new(cluster.brokers.clone());
    settings.prefix = cluster.prefix.clone();
    // The key intake gives reports at XINAN (its ~5 km area square), so the poison record
    // sits in the partition the next report goes to, ahead of it.
    let area_key = format!("area:{}:{}", (XINAN.0 / 0.05).floor() as i64, (XINAN.1 / 0.05).floor() as i64);
    let poison = b"\xff\xfe not a protobuf record".to_vec();
    let producer = gridd_log::KafkaProducer::new(&settings).expect("producer");
    producer.send(gridd_log::topics::INTAKE, &area_key, &poison).await.expect("poison intake record sent");
    // Undecodable decisions under several ticket keys, spread over the dispatch partitions.
    for n in 0..DISPATCH_POISON {
        producer.send(gridd_log::topics::DISPATCH, &format!("poison-{n}"), &poison).await.expect("poison decision sent");
    }

    let receipt = c.hotline("after-poison", "E0102", Some(XINAN)).await.expect("accepted");
    let case = c.ticket_of_within(&receipt.reference, RECOVERY).await;
    assert_eq!(case.id, receipt.reference, "the report behind the poison records is routed and filed");

    let consumer = gridd_log::KafkaConsumer::new(&settings, "audit", &[gridd_log::topics::DEAD_LETTER]).expect("consumer");
    let mut dead_keys = Vec::new();
    while dead_keys.len() < 1 + DISPATCH_POISON {
        let dead = tokio::time::timeout(RECOVERY, consumer.recv()).await.expect("a dead letter within the wait").expect("record");
        assert_eq!(dead.payload, poison, "the record is kept as it was");
        assert!(dead.key.contains("decod") || dead.key.contains("invalid"), "the key says why: {}", dead.key);
        dead_keys.push(dead.key);
    }
    let from = |topic: &str| dead_keys.iter().filter(|k| k.starts_with(&format!("{topic}/"))).count();
    assert_eq!((from("intake"), from("dispatch")), (1, DISPATCH_POISON), "the key says where each came from: {dead_keys:?}");
}

/// When a camera gateway's key leaks or a dispatcher leaves, the administrator revokes the key
/// or disables the account once, with the CLI, and it stops working on every gateway of the
/// deployment — not only on the one it last called — while the other processes keep their
/// own caches of who may call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_and_a_disabled_account_stop_working_in_every_process() {
    use gridd_proto::v1::auth_service_client::AuthServiceClient;
    let cluster = Cluster::new();
    // Gateway processes need no intake node of their own (node 0, as the other gateway tests);
    // WhoAmI and SignIn are served by every process's AuthService, Locate by the gateway.
    let (a, b) = (cluster.start("gateway", 0).await, cluster.start("gateway", 0).await);
    gridd_tests::gridd_cli(cluster.config(), &["user", "add", "d1", "dispatcher"], "test-password-1\n");
    let key = gridd_tests::cli_key(cluster.config(), "citizen_app");
    let key_id = key.strip_prefix("gk_").and_then(|k| k.split_once('_')).map(|(id, _)| id.to_owned()).expect("gk_<id>_<secret>");
    let (on_a, on_b) = (a.clients().await, b.clients().await);
    let session = AuthServiceClient::new(on_a.channel.clone())
        .sign_in(v1::SignInRequest { username: "d1".into(), password: "test-password-1".into() })
        .await
        .expect("d1 signs in on gateway A")
        .into_inner();

    // (what, clients): the account's token and the key, on each process.
    let callers = [
        ("d1's token on A", on_a.as_identity(&session.access_token), false),
        ("d1's token on B", on_b.as_identity(&session.access_token), false),
        ("the key on A", on_a.as_identity(&key), true),
        ("the key on B", on_b.as_identity(&key), true),
    ];
    let locate = || v1::LocateRequest {
        point: Some(v1::GeoPoint { lon: XINAN.0, lat: XINAN.1, crs: v1::CoordSystem::Wgs84.into() }),
        category: "E0102".into(),
        at: None,
    };
    // One call of each credential: WhoAmI for the account, Locate for the key.
    async fn try_call(c: &Clients, is_key: bool, locate: v1::LocateRequest) -> Result<(), gridd_proto::tonic::Status> {
        let mut c = c.clone();
        if is_key { c.grid.locate(locate).await.map(drop) } else { c.auth.who_am_i(v1::WhoAmIRequest {}).await.map(drop) }
    }
    // Both work on both processes (and so are in each process's cache).
    for (what, c, is_key) in &callers {
        try_call(c, *is_key, locate()).await.unwrap_or_else(|s| panic!("{what} works before: {s:?}"));
    }
    let me = on_b.as_identity(&session.access_token).auth.who_am_i(v1::WhoAmIRequest {}).await.expect("who am i on B").into_inner();
    assert_eq!(me.subject, "d1", "a token issued by A is good on B");

    gridd_tests::gridd_cli(cluster.config(), &["key", "revoke", &key_id], "");
    gridd_tests::gridd_cli(cluster.config(), &["user", "disable", "d1"], "");

    // The engine promises STATE_TTL (15 s) in every process (the CLI tells the operator "within
    // a minute"); the test allows the minute, polling.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut refused: BTreeMap<&str, String> = BTreeMap::new();
    while refused.len() < callers.len() {
        for (what, c, is_key) in &callers {
            if refused.contains_key(what) {
                continue;
            }
            match try_call(c, *is_key, locate()).await {
                Ok(()) => {}
                Err(s) if s.code() == Code::Unauthenticated => {
                    refused.insert(*what, s.message().to_owned());
                }
                Err(s) => panic!("{what}: expected UNAUTHENTICATED, got {s:?}"),
            }
        }
        let working: Vec<&str> = callers.iter().map(|(what, _, _)| *what).filter(|w| !refused.contains_key(w)).collect();
        assert!(tokio::time::Instant::now() < deadline, "still working a minute after revocation: {working:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Refused for good, and a disabled account cannot sign in again on either process.
    for (what, c, is_key) in &callers {
        let again = try_call(c, *is_key, locate()).await.expect_err(what);
        assert_eq!(again.code(), Code::Unauthenticated, "{what}: {again:?}");
    }
    for (name, c) in [("A", &on_a), ("B", &on_b)] {
        let sign_in = AuthServiceClient::new(c.channel.clone())
            .sign_in(v1::SignInRequest { username: "d1".into(), password: "test-password-1".into() })
            .await
            .expect_err("a disabled account cannot sign in");
        assert_eq!(sign_in.code(), Code::Unauthenticated, "on {name}: {sign_in:?}");
        refused.insert(if name == "A" { "signing in as d1 on A" } else { "signing in as d1 on B" }, sign_in.message().to_owned());
    }
    // The administrator's own key still works on both.
    for c in [&on_a, &on_b] {
        c.clone().auth.who_am_i(v1::WhoAmIRequest {}).await.expect("other credentials keep working");
    }
    // Checked last, so that everything above runs: each refusal says why, so that a person
    // is not told to sign in again with an account that is disabled.
    let unhelpful: Vec<String> = refused
        .iter()
        .filter_map(|(what, message)| {
            let why = if what.starts_with("the key") { "revoked" } else { "disabled" };
            (!message.contains(why)).then(|| format!("{what}: {message:?} does not say {why:?}"))
        })
        .collect();
    assert!(unhelpful.is_empty(), "refusals whose reason is off:\n{}", unhelpful.join("\n"));
}

/// The group's lag is read from the broker: every partition of the topic counts from what the
/// group committed on it, whether a member holds it or not (before any joined, in a
/// rebalance, with its member frozen), so a backlog never reads as 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_lag_counts_every_partition_from_what_the_group_committed() {
    const SENT: u64 = 12;
    const PROCESSED: usize = 5;
    let cluster = Cluster::new();
    let mut settings = gridd_log::KafkaSettings::new(cluster.brokers.clone());
    settings.prefix = cluster.prefix.clone();
    gridd_log::ensure_topics(&settings, 4, 1).await.expect("topics");
    let producer = gridd_log::KafkaProducer::new(&settings).expect("producer");
    for n in 0..SENT {
        producer.send(gridd_log::topics::INTAKE, &format!("area:{n}"), b"report").await.expect("sent");
    }
    let group_lag = |settings: gridd_log::KafkaSettings| async move {
        tokio::task::spawn_blocking(move || gridd_log::group_lag(&settings, "router", &[gridd_log::topics::INTAKE]))
            .await
            .expect("lag task")
            .expect("the broker answers")
    };

    let before = group_lag(settings.clone()).await;
    assert_eq!(before.len(), 4, "every partition of the topic, none of them held: {before:?}");
    assert_eq!(before.values().sum::<u64>(), SENT, "nothing read yet: {before:?}");

    // A member reads, processes and commits a few; the rest are still owed by the group.
    let member = gridd_log::KafkaConsumer::new(&settings, "router", &[gridd_log::topics::INTAKE]).expect("member");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut processed = 0;
    while processed < PROCESSED {
        let batch = tokio::time::timeout(RECOVERY, member.next_batch(&shutdown, PROCESSED - processed))
            .await
            .expect("records within the wait")
            .expect("not shut down");
        for record in &batch {
            member.processed(record).expect("offset stored");
        }
        processed += batch.len();
    }
    member.commit_now().expect("committed");
    let after = group_lag(settings.clone()).await;
    assert_eq!(after.values().sum::<u64>(), SENT - PROCESSED as u64, "what was committed no longer counts: {after:?}");
}
