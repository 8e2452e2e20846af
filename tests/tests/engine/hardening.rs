//! Hostile and broken input over the real gRPC wire: every bad value is refused with
//! INVALID_ARGUMENT naming the field, in a short message, and changes nothing.

use gridd_proto::prost::Message;
use gridd_proto::prost::bytes::{Buf, BufMut};
use gridd_proto::tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use gridd_proto::tonic::transport::Channel;
use gridd_proto::tonic::{self, Code, Status};
use gridd_proto::tonic_types::StatusExt;
use gridd_proto::v1;
use gridd_tests::{Clients, XINAN, hotline_call, spawn_app};

/// Checks that `status` is INVALID_ARGUMENT naming `field`, both in the message
/// (`field: reason`) and in its `BadRequest` detail.
fn assert_names_field(status: &Status, field: &str, what: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    assert!(status.message().starts_with(&format!("{field}: ")), "{what}: the message names {field}: {:?}", status.message());
    let violations = status.get_details_bad_request().map(|b| b.field_violations).unwrap_or_default();
    assert_eq!(violations.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), [field], "{what}: the BadRequest detail");
}

/// Reports taken in so far, over all channels.
async fn intake_total(c: &mut Clients) -> u64 {
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    stats.intake_by_channel.iter().map(|c| c.count).sum()
}

/// Reports taken in so far on `channel` (e.g. "camera").
async fn intake_of(c: &mut Clients, channel: &str) -> u64 {
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    stats.intake_by_channel.iter().filter(|c| c.label == channel).map(|c| c.count).sum()
}

fn citizen_report(key: &str, crs: i32) -> v1::SubmitCitizenReportRequest {
    v1::SubmitCitizenReportRequest {
        idempotency_key: key.into(),
        citizen_id: "u1".into(),
        category: "E0102".into(),
        location: Some(v1::GeoPoint { lon: XINAN.0, lat: XINAN.1, crs }),
        description: "随手拍: 路边有垃圾".into(),
        ..Default::default()
    }
}

/// A camera alert of CAM-0001 detected at `detected_at`.
fn alert_at(alert_id: &str, detected_at: gridd_proto::prost_types::Timestamp) -> v1::CameraAlert {
    v1::CameraAlert {
        camera_id: "CAM-0001".into(),
        alert_id: alert_id.into(),
        detection_type: "exposed_garbage".into(),
        confidence: 0.9,
        detected_at: Some(detected_at),
        frame_url: String::new(),
        location: None,
    }
}

fn now() -> gridd_proto::prost_types::Timestamp {
    gridd_proto::timestamp(gridd_core::time::Clock::now(&gridd_core::time::SystemClock))
}

/// A citizen app that sends a map position in a coordinate system gridd does not know (a
/// newer SDK's enum value, a sign error) is told that `location.crs` is wrong, and no report
/// is filed at a point that was never converted to WGS84.
#[tokio::test]
async fn unknown_coordinate_systems_are_refused_naming_location_crs() {
    let app = spawn_app().await;
    let mut citizen_app = app.clients_with(&app.key("citizen_app", &[]).await);
    for crs in [7, -1, 99] {
        let refused = citizen_app.intake.submit_citizen_report(citizen_report(&format!("crs-{crs}"), crs)).await.expect_err("unknown crs");
        assert_names_field(&refused, "location.crs", &format!("crs {crs}"));
        assert!(refused.message().contains(&crs.to_string()), "the reason quotes the value: {}", refused.message());
    }
    let mut admin = app.clients.clone();
    assert_eq!(intake_total(&mut admin).await, 0, "nothing written for the refused reports");
    // The control: the same report in a known system is taken.
    citizen_app.intake.submit_citizen_report(citizen_report("crs-ok", v1::CoordSystem::Gcj02.into())).await.expect("GCJ-02 is known");
    assert_eq!(intake_total(&mut admin).await, 1);
    app.stop().await;
}

/// A squad terminal that attaches too many after-photos, or links a photo a browser would run
/// or that breaks a log line (`javascript:`, `data:`, a newline), is refused naming the photo
/// field, and the case stays exactly where it was: still in progress, same version, nothing
/// added to its history. Valid photos are then taken.
#[tokio::test]
async fn resolve_task_refuses_bad_photo_urls_and_leaves_the_case_as_it_was() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let receipt = admin.hotline("photos-1", "E0102", Some(XINAN)).await.expect("accepted");
    let case = admin.ticket_of(&receipt.reference).await;
    assert_eq!((case.squad_id.as_str(), case.state()), ("sq-1", v1::TicketState::Dispatched), "XINAN is 一中队's");
    admin.squad.accept_task(Clients::task("sq-1", &case.id)).await.expect("accepted");
    let started = admin.squad.start_task(Clients::task("sq-1", &case.id)).await.expect("started").into_inner();
    assert_eq!(started.state(), v1::TicketState::InProgress);
    let (_, history_before) = admin.history(&case.id).await;

    let good = |i: usize| format!("https://img.example.cn/after-{i}.jpg");
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("ten photos", (0..10).map(good).collect(), "photo_urls"),
        ("a javascript: URL", vec![good(0), "javascript:alert(document.cookie)".into()], "photo_urls[1]"),
        ("a data: URL", vec!["data:image/png;base64,iVBORw0KGgo=".into()], "photo_urls[0]"),
        ("a URL with a newline", vec!["https://img.example.cn/a\nINFO forged log line".into()], "photo_urls[0]"),
    ];
    for (what, photo_urls, field) in cases {
        let request = v1::ResolveTaskRequest { task: Some(Clients::task("sq-1", &case.id)), note: "已清理".into(), photo_urls };
        let refused = admin.squad.resolve_task(request).await.expect_err(what);
        assert_names_field(&refused, field, what);
        assert!(refused.message().len() < 1024, "{what}: a short message");
    }
    let (after, history) = admin.history(&case.id).await;
    assert_eq!((after.state(), after.version), (v1::TicketState::InProgress, started.version), "the case did not move");
    assert_eq!(history.len(), history_before.len(), "nothing added to the history: {history:#?}");
    assert_eq!(history.last().map(|e| e.kind.as_str()), Some("started"));

    // The control: nine valid photos are taken and the case goes to its check.
    let request = v1::ResolveTaskRequest {
        task: Some(Clients::task("sq-1", &case.id)),
        note: "已清理".into(),
        photo_urls: (0..9).map(good).collect(),
    };
    let resolved = admin.squad.resolve_task(request).await.expect("nine valid photos").into_inner();
    assert_eq!(resolved.state(), v1::TicketState::Checking);
    app.stop().await;
}

/// Writes the bytes it is given as the message, whatever they are.
struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

/// Returns a message's bytes as they came.
struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// A codec of raw bytes: a client that sends whatever it likes.
#[derive(Clone, Copy)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// Sends `bytes` as the request message of `SubmitCitizenReport`, with `key`.
async fn submit_raw(channel: &Channel, key: &str, bytes: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
    let mut request = tonic::Request::new(bytes);
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().expect("a valid header value"));
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/gridd.v1.IntakeService/SubmitCitizenReport");
    grpc.unary(request, path, RawCodec).await.map(tonic::Response::into_inner)
}

/// A client built from stale or broken contracts, or a proxy that cuts a message, sends bytes
/// that are not a valid request: the engine answers INVALID_ARGUMENT (the client's fault, to
/// fix on its side; not INTERNAL, which pages the on-call engineer), and writes nothing.
#[tokio::test]
async fn malformed_protobuf_is_invalid_argument_not_internal() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let valid = citizen_report("raw-1", v1::CoordSystem::Wgs84.into()).encode_to_vec();
    let without_description = v1::SubmitCitizenReportRequest { description: String::new(), ..citizen_report("raw-2", 1) }.encode_to_vec();

    // Field 9 (description), length-delimited, holding bytes that are not UTF-8.
    let mut not_utf8 = without_description;
    not_utf8.extend_from_slice(&[(9 << 3) | 2, 2, 0xFF, 0xFE]);
    let truncated = valid[..valid.len() - 5].to_vec();
    let cases = [
        ("invalid UTF-8 in description", not_utf8),
        ("a truncated message", truncated),
        ("a length running past the end", vec![(9 << 3) | 2, 100, b'a']),
        ("garbage", vec![0xFF; 16]),
    ];
    for (what, bytes) in cases {
        let refused = submit_raw(&app.clients.channel, &app.admin_key, bytes).await.expect_err(what);
        assert_eq!(refused.code(), Code::InvalidArgument, "{what}: {refused:?}");
        assert!(refused.message().starts_with("malformed request"), "{what}: {:?}", refused.message());
        assert!(refused.message().len() < 1024, "{what}: a short message");
        if what.contains("UTF-8") {
            assert!(refused.message().contains("description") && refused.message().contains("UTF-8"), "{}", refused.message());
        }
    }
    assert_eq!(intake_total(&mut admin).await, 0, "nothing written for the malformed messages");

    // The control: the same path and codec with a well-formed message is accepted.
    let answer = submit_raw(&app.clients.channel, &app.admin_key, valid).await.expect("a well-formed message is accepted");
    let receipt = v1::IntakeReceipt::decode(answer.as_slice()).expect("a receipt");
    assert!(!receipt.reference.is_empty());
    assert_eq!(intake_total(&mut admin).await, 1);
    app.stop().await;
}

/// A client that sends a megabyte where a five-character category code belongs gets a short
/// refusal that quotes the start of what it sent (enough to find the bug), not the megabyte
/// back in its error message, log line or proxy header.
#[tokio::test]
async fn a_megabyte_value_gets_a_short_refusal_quoting_only_a_prefix() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let huge = format!("E01{}", "晴".repeat((1 << 20) / 3));
    assert!(huge.len() >= 1 << 20);
    let prefix: String = huge.chars().take(20).collect();
    let long_prefix: String = huge.chars().take(200).collect();
    let check = |status: &Status, what: &str| {
        assert_names_field(status, "category", what);
        let message = status.message();
        assert!(message.len() < 1024, "{what}: the message is {} bytes", message.len());
        assert!(message.contains(&prefix), "{what}: it quotes the start of the value: {message}");
        assert!(!message.contains(&long_prefix), "{what}: only a prefix: {message}");
        assert!(message.contains('…'), "{what}: it says the value was cut: {message}");
        let detail = status.get_details_bad_request().map(|b| b.field_violations).unwrap_or_default();
        assert!(detail.iter().all(|v| v.description.len() < 1024), "{what}: the BadRequest detail is short too");
    };
    let citizen = v1::SubmitCitizenReportRequest { category: huge.clone(), ..citizen_report("huge-1", 1) };
    check(&admin.intake.submit_citizen_report(citizen).await.expect_err("a megabyte category"), "SubmitCitizenReport");
    let call = hotline_call("huge-2", &huge, Some(XINAN));
    check(&admin.intake.log_hotline_call(call).await.expect_err("a megabyte category"), "LogHotlineCall");
    let listing = v1::ListTicketsRequest { category: huge.clone(), ..Default::default() };
    check(&admin.dispatch.list_tickets(listing).await.expect_err("a megabyte category filter"), "ListTickets");
    assert_eq!(intake_total(&mut admin).await, 0, "nothing written");
    app.stop().await;
}

/// A dispatcher's screen that sends a filter gridd cannot apply (a state from a newer client,
/// a range whose end is before its start, a street code that is not one of the city's) is
/// told which filter is wrong, instead of silently getting every case or none.
#[tokio::test]
async fn list_tickets_refuses_filters_it_cannot_apply() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let receipt = admin.hotline("listed-1", "E0102", Some(XINAN)).await.expect("accepted");
    admin.ticket_of(&receipt.reference).await;
    let at = |seconds: i64| Some(gridd_proto::prost_types::Timestamp { seconds, nanos: 0 });
    let cases = [
        ("state 42", v1::ListTicketsRequest { states: vec![42], ..Default::default() }, "states"),
        (
            "a known and an unknown state",
            v1::ListTicketsRequest { states: vec![v1::TicketState::Dispatched.into(), 42], ..Default::default() },
            "states",
        ),
        (
            "created_to before created_from",
            v1::ListTicketsRequest { created_from: at(1_795_300_000), created_to: at(1_795_000_000), ..Default::default() },
            "created_to",
        ),
        ("an unknown street", v1::ListTicketsRequest { street_code: "320381999".into(), ..Default::default() }, "street_code"),
    ];
    for (what, request, field) in cases {
        let refused = admin.dispatch.list_tickets(request).await.expect_err(what);
        assert_names_field(&refused, field, what);
    }
    // The controls: the same filters with valid values list the case.
    let valid = v1::ListTicketsRequest {
        states: vec![v1::TicketState::Dispatched.into()],
        street_code: "320381001".into(),
        created_from: at(1_000_000_000),
        created_to: at(4_000_000_000),
        ..Default::default()
    };
    let listed = admin.dispatch.list_tickets(valid).await.expect("valid filters").into_inner();
    assert_eq!(listed.tickets.len(), 1, "{:?}", listed.tickets.iter().map(|t| &t.id).collect::<Vec<_>>());
    app.stop().await;
}

/// A camera whose clock was never set (1970) or a gateway that sends an unset timestamp (year
/// 1) would file a case already years overdue: each such alert is rejected in the stream's
/// answer naming `detected_at`, and the stream's other alerts are still filed.
#[tokio::test]
async fn camera_alerts_from_clocks_that_were_never_set_are_rejected() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let epoch = gridd_proto::prost_types::Timestamp { seconds: 0, nanos: 0 };
    // 0001-01-01T00:00:00Z, the earliest time a protobuf Timestamp may hold.
    let year_one = gridd_proto::prost_types::Timestamp { seconds: -62_135_596_800, nanos: 0 };
    let alerts = vec![alert_at("clock-ok", now()), alert_at("clock-1970", epoch), alert_at("clock-year-1", year_one)];
    let response = admin.intake.stream_camera_alerts(tokio_stream::iter(alerts)).await.expect("stream accepted").into_inner();
    let rejected: Vec<(u32, &str, &str)> = response.rejected.iter().map(|r| (r.index, r.alert_id.as_str(), r.field.as_str())).collect();
    assert_eq!(rejected, [(1, "clock-1970", "detected_at"), (2, "clock-year-1", "detected_at")], "{:?}", response.rejected);
    assert_eq!(response.accepted.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(), ["clock-ok"]);
    assert_eq!(intake_of(&mut admin, "camera").await, 1, "nothing written for the rejected alerts");
    app.stop().await;
}

/// A shift leader who extends a deadline must write it exactly (`4WH`): a spelling the engine
/// might read another way (`4 WH`, `4wh`) is refused naming `extension`, the case's deadline
/// is untouched, and the exact spelling extends it.
#[tokio::test]
async fn extend_deadline_takes_only_exactly_spelled_extensions() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let receipt = admin.hotline("extend-1", "E0102", Some(XINAN)).await.expect("accepted");
    let case = admin.ticket_of(&receipt.reference).await;
    assert_eq!(case.state(), v1::TicketState::Dispatched);
    let mut leader = app.clients_with(&app.sign_in_as("shift.lead", "shift_leader", None).await);
    let extend = |extension: &str| v1::ExtendDeadlineRequest {
        ticket_id: case.id.clone(),
        extension: extension.into(),
        context: Clients::operator(),
    };
    for spelling in ["4 WH", "4wh"] {
        let refused = leader.dispatch.extend_deadline(extend(spelling)).await.expect_err(spelling);
        assert_names_field(&refused, "extension", spelling);
    }
    let (unchanged, history) = admin.history(&case.id).await;
    assert_eq!(unchanged.version, case.version, "the refused extensions changed nothing");
    assert!(!history.iter().any(|e| e.kind == "extended"), "{history:#?}");

    let extended = leader.dispatch.extend_deadline(extend("4WH")).await.expect("4WH is a limit").into_inner();
    assert_eq!(extended.state(), v1::TicketState::Dispatched);
    assert!(extended.version > case.version);
    let (_, history) = admin.history(&case.id).await;
    assert_eq!(history.iter().filter(|e| e.kind == "extended").count(), 1, "{history:#?}");
    app.stop().await;
}

/// A camera repeating one detection merges every alert into one case, and no answer about
/// that case grows with the storm: its view lists the opening report and the newest 99 with
/// the count of them all, and its history comes in pages that chain to the end. Paging that
/// asks for too much or brings a forged token is refused naming the field.
#[tokio::test]
async fn a_camera_storm_case_is_read_in_bounded_views_and_history_pages() {
    const ALERTS: usize = 150;
    const PAGE: usize = 40;
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let alerts: Vec<_> = (0..ALERTS).map(|i| alert_at(&format!("storm-{i:03}"), now())).collect();
    let response = admin.intake.stream_camera_alerts(tokio_stream::iter(alerts)).await.expect("stream accepted").into_inner();
    assert_eq!(response.accepted.len(), ALERTS);
    let (first, newest) = (&response.accepted[0].reference, &response.accepted[ALERTS - 1].reference);
    let opened = admin.ticket_of(first).await;
    let (case, _) = admin.wait_for(&opened.id, "every alert merged", |t, _| t.report_count as usize == ALERTS).await;
    assert_eq!(case.reports.len(), 100, "the opening report and the newest 99");
    assert_eq!((&case.reports[0].reference, &case.reports[99].reference), (first, newest));

    let page = |token: &str, size: u32| v1::GetTicketRequest {
        id: case.id.clone(),
        include_history: true,
        history_page: Some(v1::PageRequest { page_size: size, page_token: token.into() }),
    };
    let (mut seqs, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let answer = admin.dispatch.get_ticket(page(&token, PAGE as u32)).await.expect("a page").into_inner();
        assert!(answer.history.len() <= PAGE, "a page holds at most its size: {}", answer.history.len());
        seqs.extend(answer.history.iter().map(|e| e.seq));
        pages += 1;
        token = answer.history_next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let (_, whole) = admin.history(&case.id).await;
    assert!(whole.len() > ALERTS, "filed, dispatched and one merge an alert: {}", whole.len());
    assert_eq!(seqs, whole.iter().map(|e| e.seq).collect::<Vec<_>>(), "the pages chain to the whole history, in order");
    assert_eq!(pages, whole.len() / PAGE + 1, "full pages, then the page that ends it");

    let too_big = admin.dispatch.get_ticket(page("", 501)).await.expect_err("501 entries a page");
    assert_names_field(&too_big, "history_page.page_size", "page of 501");
    let forged = admin.dispatch.get_ticket(page("not-a-seq", 10)).await.expect_err("forged token");
    assert_names_field(&forged, "history_page.page_token", "forged token");
    app.stop().await;
}
