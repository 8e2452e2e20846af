//! The web apps' HTTP routes: operations as JSON, the live streams as Server-Sent Events, the
//! city's own map, and the dashboard served from the binary.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use gridd_proto::v1;
use gridd_tests::{
    HttpResponse, PATIENCE, TestApp, XINAN, http_call, http_get, http_get_as, http_post_json, http_post_json_as, spawn_app, spread_point,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

/// The HTTP path of a unary operation.
fn rpc(service: &str, method: &str) -> String {
    format!("/v1/rpc/gridd.v1.{service}/{method}")
}

/// The body of a raw response from [`http_post_json_as`] and friends, as JSON.
fn json_body(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON body ({e}): {response}"))
}

/// A header of a raw response.
fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split_once("\r\n\r\n").map_or(response, |(head, _)| head);
    head.lines().skip(1).find_map(|line| line.split_once(':').filter(|(n, _)| n.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

/// Calls `Service/Method` over HTTP with `credential`: the status and the JSON answer.
async fn call(app: &TestApp, service: &str, method: &str, body: &Value, credential: &str) -> (u16, Value) {
    let (code, response) = http_post_json_as(app.http_addr, &rpc(service, method), &body.to_string(), credential).await;
    (code, json_body(&response))
}

/// Asks over HTTP (GetTicket by `id`, as `credential`) until the report is part of a case:
/// the whole answer.
async fn ticket_over_http(app: &TestApp, id: &str, credential: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (code, answer) = call(app, "DispatchService", "GetTicket", &json!({ "id": id }), credential).await;
        match code {
            200 if answer.get("ticket").is_some() => return answer,
            200 => assert_eq!(answer["pending"], true, "neither a case nor pending: {answer}"),
            404 => {}
            other => panic!("GetTicket({id}) over HTTP: {other} {answer}"),
        }
        assert!(Instant::now() < deadline, "report {id} was never placed in a case");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The actions GetTicket over HTTP offers `credential` on case `id` (an absent field is none).
async fn actions(app: &TestApp, id: &str, credential: &str) -> BTreeSet<String> {
    let (code, answer) = call(app, "DispatchService", "GetTicket", &json!({ "id": id }), credential).await;
    assert_eq!(code, 200, "{answer}");
    match answer.get("allowedActions") {
        None => BTreeSet::new(),
        Some(list) => list
            .as_array()
            .unwrap_or_else(|| panic!("allowedActions is a list: {answer}"))
            .iter()
            .map(|a| a.as_str().expect("action names").to_owned())
            .collect(),
    }
}

/// The proto3 JSON of a hotline call at `point`.
fn hotline_json(key: &str, (lon, lat): (f64, f64)) -> Value {
    json!({
        "idempotencyKey": key,
        "hotline": "HOTLINE_12345",
        "caller": { "name": "张三", "phone": "13812345678", "replyRequired": true },
        "category": "E0102",
        "location": { "lon": lon, "lat": lat, "crs": "COORD_SYSTEM_WGS84" },
        "address": "新安路",
        "description": "路边有垃圾",
    })
}

/// A city's dispatch desk works in a browser: the operations it calls over HTTP answer exactly
/// what a gRPC client gets (a call logged at the hotline desk becomes the same case, with
/// 64-bit numbers as strings and enums by name as the proto3 JSON mapping says), and every
/// refusal is a status and a JSON body the page can show: who may not do what, a missing
/// sign-in, malformed input, the field that is wrong, an operation that does not exist.
#[tokio::test]
async fn operations_over_http_answer_like_grpc() {
    let app = spawn_app().await;
    let dispatcher = app.sign_in_as("d1", "dispatcher", None).await;
    let operator = app.sign_in_as("h1", "hotline_operator", None).await;

    let (code, stats) = call(&app, "DispatchService", "GetStats", &json!({}), &dispatcher).await;
    assert_eq!(code, 200, "{stats}");
    let name = stats["city"]["name"].as_str().unwrap_or_else(|| panic!("city.name: {stats}"));
    assert!(name.starts_with("新沂市"), "{name}");

    let (code, receipt) = call(&app, "IntakeService", "LogHotlineCall", &hotline_json("web-call-1", XINAN), &operator).await;
    assert_eq!(code, 200, "{receipt}");
    let reference = receipt["reference"].as_str().unwrap_or_else(|| panic!("a reference: {receipt}")).to_owned();
    let answer = ticket_over_http(&app, &reference, &dispatcher).await;
    let ticket = &answer["ticket"];
    assert_eq!(ticket["id"], reference.as_str(), "the opening report's reference is the case number: {answer}");
    assert_eq!(ticket["category"], "E0102", "{answer}");
    assert!(ticket["state"].as_str().is_some_and(|s| s.starts_with("TICKET_STATE_")), "enums by name: {answer}");
    let version = ticket["version"].as_str().unwrap_or_else(|| panic!("a uint64 is a JSON string: {answer}"));
    assert!(version.parse::<u64>().is_ok_and(|v| v >= 1), "{version}");

    // The same question over gRPC, as the same dispatcher, gets the same answer.
    let http_answer: v1::GetTicketResponse =
        serde_json::from_value(answer.clone()).unwrap_or_else(|e| panic!("the proto3 JSON decodes ({e}): {answer}"));
    let grpc_answer = app
        .clients_with(&dispatcher)
        .dispatch
        .get_ticket(v1::GetTicketRequest { id: reference.clone(), include_history: false, ..Default::default() })
        .await
        .expect("GetTicket over gRPC")
        .into_inner();
    assert_eq!(http_answer, grpc_answer);

    // Refusals.
    let close = json!({ "ticketId": reference });
    let (code, refusal) = call(&app, "DispatchService", "Close", &close, &dispatcher).await;
    assert_eq!(code, 403, "{refusal}");
    assert_eq!(refusal["code"], "permission_denied", "{refusal}");
    let message = refusal["message"].as_str().unwrap_or_default();
    assert!(message.contains("dispatcher") && message.contains("Close"), "{message}");

    let (code, response) = http_post_json(app.http_addr, &rpc("DispatchService", "GetStats"), "{}").await;
    assert_eq!(code, 401, "{response}");
    assert_eq!(json_body(&response)["code"], "unauthenticated", "{response}");
    assert!(header(&response, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{response}");

    let (code, response) = http_post_json_as(app.http_addr, &rpc("DispatchService", "GetTicket"), "{\"id\": ", &dispatcher).await;
    assert_eq!(code, 400, "{response}");
    assert_eq!(json_body(&response)["code"], "invalid_argument", "{response}");

    let backwards = json!({ "createdFrom": "2026-12-02T00:00:00Z", "createdTo": "2026-12-01T00:00:00Z" });
    let (code, refusal) = call(&app, "DispatchService", "ListTickets", &backwards, &dispatcher).await;
    assert_eq!(code, 400, "{refusal}");
    assert_eq!((refusal["code"].as_str(), refusal["field"].as_str()), (Some("invalid_argument"), Some("created_to")), "{refusal}");

    // A stream is not a unary operation, and a name no service has is none at all.
    let (code, refusal) = call(&app, "DispatchService", "WatchTickets", &json!({}), &dispatcher).await;
    assert_eq!((code, refusal["code"].as_str()), (501, Some("unimplemented")), "{refusal}");
    let (code, response) = http_post_json(app.http_addr, &rpc("DispatchService", "NoSuchMethod"), "{}").await;
    assert_eq!(code, 401, "without credentials nobody learns what exists: {response}");
    let (code, refusal) = call(&app, "DispatchService", "NoSuchMethod", &json!({}), &dispatcher).await;
    assert_eq!(
        (code, refusal["code"].as_str()),
        (501, Some("unimplemented")),
        "a signed-in caller learns the method does not exist: {refusal}"
    );
    app.stop().await;
}

/// A dispatcher's, a shift leader's and a squad member's screens show only the buttons that
/// will work: GetTicket says which actions the caller's role may take on the case in its
/// state now, leadership (which reads and only presses, 督办) gets just that, and when the squad has
/// handled the case over HTTP the dispatcher is offered the check.
#[tokio::test]
async fn get_ticket_says_which_actions_the_caller_may_take() {
    let app = spawn_app().await;
    let dispatcher = app.sign_in_as("d1", "dispatcher", None).await;
    let shift_leader = app.sign_in_as("s1", "shift_leader", None).await;
    let member = app.sign_in_as("m1", "squad_member", Some("sq-1")).await;
    let leadership = app.sign_in_as("l1", "leadership", None).await;
    let mut admin = app.clients.clone();
    let receipt = admin.hotline("web-actions-1", "E0102", Some(XINAN)).await.expect("accepted");
    let ticket = admin.ticket_of(&receipt.reference).await;
    assert_eq!((ticket.state(), ticket.squad_id.as_str()), (v1::TicketState::Dispatched, "sq-1"), "{ticket:?}");
    let id = ticket.id;
    let has = |set: &BTreeSet<String>, names: &[&str]| names.iter().all(|n| set.contains(*n));
    let none_of = |set: &BTreeSet<String>, names: &[&str]| names.iter().all(|n| !set.contains(*n));

    let of_dispatcher = actions(&app, &id, &dispatcher).await;
    assert!(has(&of_dispatcher, &["dispatch", "cancel"]), "{of_dispatcher:?}");
    assert!(none_of(&of_dispatcher, &["close", "suspend", "extend", "accept"]), "{of_dispatcher:?}");
    let of_shift_leader = actions(&app, &id, &shift_leader).await;
    assert!(has(&of_shift_leader, &["close", "suspend", "extend", "dispatch"]), "{of_shift_leader:?}");
    let of_member = actions(&app, &id, &member).await;
    assert!(has(&of_member, &["accept", "return"]), "{of_member:?}");
    assert!(none_of(&of_member, &["dispatch"]), "{of_member:?}");
    let of_leadership = actions(&app, &id, &leadership).await;
    assert_eq!(of_leadership, BTreeSet::from(["press".to_owned()]), "leaders read and press, nothing else");

    let task = json!({ "ticketId": id });
    let (code, accepted) = call(&app, "SquadService", "AcceptTask", &task, &member).await;
    assert_eq!((code, accepted["state"].as_str()), (200, Some("TICKET_STATE_ACCEPTED")), "{accepted}");
    let (code, started) = call(&app, "SquadService", "StartTask", &task, &member).await;
    assert_eq!((code, started["state"].as_str()), (200, Some("TICKET_STATE_IN_PROGRESS")), "{started}");
    let resolve = json!({ "task": { "ticketId": id }, "note": "已处理" });
    let (code, resolved) = call(&app, "SquadService", "ResolveTask", &resolve, &member).await;
    assert_eq!((code, resolved["state"].as_str()), (200, Some("TICKET_STATE_CHECKING")), "{resolved}");

    let of_dispatcher = actions(&app, &id, &dispatcher).await;
    assert!(has(&of_dispatcher, &["verify_pass", "verify_fail"]), "{of_dispatcher:?}");
    let of_member = actions(&app, &id, &member).await;
    assert!(none_of(&of_member, &["accept", "start", "resolve", "verify_pass"]), "{of_member:?}");
    app.stop().await;
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    id: Option<u64>,
    event: String,
    data: String,
}

impl SseEvent {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is JSON ({e}): {self:?}"))
    }
}

/// A Server-Sent Events stream read over a raw HTTP/1.1 connection, event by event.
struct Sse {
    reader: BufReader<tokio::net::TcpStream>,
    status: u16,
    headers: Vec<(String, String)>,
    chunked: bool,
    /// Decoded body bytes not yet taken apart into events.
    pending: Vec<u8>,
}

impl Sse {
    /// `GET path` with `credential` and the extra `headers`; returns once the response's
    /// headers have arrived (so the server has decided where the stream starts).
    async fn open(addr: SocketAddr, path: &str, credential: &str, headers: &[(&str, &str)]) -> Sse {
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {credential}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut reader = BufReader::new(stream);
        let deadline = Instant::now() + PATIENCE;
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout_at(deadline, reader.read_line(&mut line)).await.expect("headers within patience").expect("read");
            assert!(n > 0, "the connection closed before the headers ended: {lines:?}");
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            lines.push(line);
        }
        let status = lines.first().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .iter()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        Sse { reader, status, headers, chunked, pending: Vec::new() }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Reads more of the body into `pending`; false at its end.
    async fn fill(&mut self) -> bool {
        if !self.chunked {
            let mut buf = [0u8; 4096];
            let n = self.reader.read(&mut buf).await.expect("read");
            self.pending.extend_from_slice(&buf[..n]);
            return n > 0;
        }
        let mut size_line = String::new();
        if self.reader.read_line(&mut size_line).await.expect("read a chunk size") == 0 {
            return false;
        }
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|e| panic!("a chunk size ({e}): {size_line:?}"));
        if size == 0 {
            return false;
        }
        let mut chunk = vec![0u8; size + 2];
        self.reader.read_exact(&mut chunk).await.expect("read a chunk");
        self.pending.extend_from_slice(&chunk[..size]);
        true
    }

    /// The next event (comments skipped), waiting until `deadline`; `None` when the stream
    /// ends.
    async fn next_until(&mut self, deadline: Instant) -> Option<SseEvent> {
        let mut event = SseEvent { id: None, event: String::new(), data: String::new() };
        let mut any = false;
        loop {
            while let Some(eol) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=eol).collect();
                let line = String::from_utf8(line).expect("UTF-8 events");
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if any {
                        return Some(event);
                    }
                    continue;
                }
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
                any = true;
                match field {
                    "id" => event.id = Some(value.parse().unwrap_or_else(|e| panic!("a numeric id ({e}): {value}"))),
                    "event" => event.event = value.to_owned(),
                    "data" if event.data.is_empty() => event.data = value.to_owned(),
                    "data" => event.data = format!("{}\n{value}", event.data),
                    _ => {}
                }
            }
            let more = tokio::time::timeout_at(deadline, self.fill()).await.expect("an event within patience");
            if !more {
                return None;
            }
        }
    }

    /// The next event, within [`PATIENCE`]; panics if the stream ends.
    async fn next(&mut self) -> SseEvent {
        self.next_until(Instant::now() + PATIENCE).await.expect("the stream goes on")
    }
}

/// Reads ticket events until each of `ids` has been filed: every event read, in order.
async fn until_filed(stream: &mut Sse, ids: &[&str]) -> Vec<SseEvent> {
    let mut seen = Vec::new();
    let mut waiting: BTreeSet<&str> = ids.iter().copied().collect();
    while !waiting.is_empty() {
        let event = stream.next().await;
        assert_eq!(event.event, "ticket", "{event:?}");
        let data = event.json();
        if data["kind"] == "filed" {
            waiting.remove(data["ticketId"].as_str().unwrap_or_default());
        }
        seen.push(event);
    }
    seen
}

/// The dispatch centre's wall screen and a squad's terminal lose their connection now and
/// then: the ticket stream resumes exactly after the last event they saw (`Last-Event-ID`, as
/// a browser sends it), a screen that wants only what happens from now on gets nothing old,
/// and a squad member sees only their own squad's task feed, never the whole city's cases.
#[tokio::test]
async fn the_ticket_stream_resumes_from_the_last_event_id() {
    let app = spawn_app().await;
    let dispatcher = app.sign_in_as("d1", "dispatcher", None).await;
    let member = app.sign_in_as("m1", "squad_member", Some("sq-1")).await;
    let mut admin = app.clients.clone();

    let mut stream = Sse::open(app.http_addr, "/v1/watch/tickets?after=0", &dispatcher, &[]).await;
    assert_eq!(stream.status, 200);
    assert!(stream.header("content-type").is_some_and(|v| v.starts_with("text/event-stream")), "{:?}", stream.headers);
    let first = admin.hotline("web-sse-1", "E0102", Some(spread_point(0))).await.expect("accepted").reference;
    let second = admin.hotline("web-sse-2", "E0102", Some(spread_point(5))).await.expect("accepted").reference;
    let seen = until_filed(&mut stream, &[&first, &second]).await;
    assert!(seen.len() >= 2, "{seen:?}");
    for event in &seen {
        assert_eq!(event.id, event.json()["seq"].as_str().and_then(|s| s.parse().ok()), "the id is the seq: {event:?}");
    }
    // Both cases went straight to a squad (no dispatch clock runs to add events later).
    for reference in [&first, &second] {
        let ticket = admin.ticket_of(reference).await;
        assert!(!ticket.squad_id.is_empty(), "{ticket:?}");
    }
    let n = seen[0].id.expect("events have ids");
    drop(stream);

    let last_event_id = n.to_string();
    let mut resumed = Sse::open(app.http_addr, "/v1/watch/tickets", &dispatcher, &[("Last-Event-ID", &last_event_id)]).await;
    assert_eq!(resumed.status, 200);
    let next = resumed.next().await;
    assert_eq!(next.id, Some(n + 1), "{next:?}");
    assert_eq!(next.json()["seq"], (n + 1).to_string(), "{next:?}");
    assert_eq!(next, seen[1], "the event after {n}, as the first stream had it");
    drop(resumed);

    let mut tail = Sse::open(app.http_addr, "/v1/watch/tickets?tail=1", &dispatcher, &[]).await;
    assert_eq!(tail.status, 200);
    let third = admin.hotline("web-sse-3", "E0102", Some(spread_point(10))).await.expect("accepted").reference;
    let event = tail.next().await;
    let data = event.json();
    assert_eq!((data["ticketId"].as_str(), data["kind"].as_str()), (Some(third.as_str()), Some("filed")), "nothing old: {event:?}");
    assert!(event.id.is_some_and(|id| id > seen.last().and_then(|e| e.id).unwrap_or(0)), "{event:?}");
    drop(tail);

    // A squad member: its own feed, nothing else.
    let refused = http_call(app.http_addr, "GET", "/v1/watch/tickets", &[("Authorization", &format!("Bearer {member}"))], "").await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.json()["code"], "permission_denied", "{refused:?}");
    let own = Sse::open(app.http_addr, "/v1/watch/tasks", &member, &[]).await;
    assert_eq!(own.status, 200, "{:?}", own.headers);
    assert!(own.header("content-type").is_some_and(|v| v.starts_with("text/event-stream")), "{:?}", own.headers);
    drop(own);
    // The squad is checked before the stream starts, so the refusal is a status, not an event.
    let other: HttpResponse =
        http_call(app.http_addr, "GET", "/v1/watch/tasks?squadId=sq-2", &[("Authorization", &format!("Bearer {member}"))], "").await;
    assert_eq!(other.status, 403, "{other:?}");
    assert_eq!(other.json()["code"], "permission_denied", "{other:?}");
    app.stop().await;
}

/// The dispatch centre's map needs no tile server and no internet: the city's outline, its
/// street and community boundaries and the street names come from the grid itself, the
/// cells in view come with their codes (every cell when the whole city is in view, simplified
/// so it stays light), and the map is for signed-in staff whose role may read the grid.
#[tokio::test]
async fn the_map_draws_the_city_from_its_own_cells() {
    let app = spawn_app().await;
    let dispatcher = app.sign_in_as("d1", "dispatcher", None).await;
    let get = |path: String, credential: String| {
        let addr = app.http_addr;
        async move { http_call(addr, "GET", &path, &[("Authorization", &format!("Bearer {credential}"))], "").await }
    };

    let layers = get("/v1/map/layers".into(), dispatcher.clone()).await;
    assert_eq!(layers.status, 200, "{layers:?}");
    let layers = layers.json();
    let bbox: Vec<f64> = layers["bbox"].as_array().expect("a bbox").iter().map(|v| v.as_f64().expect("numbers")).collect();
    assert_eq!(bbox.len(), 4, "{bbox:?}");
    assert!(bbox[0] < bbox[2] && bbox[1] < bbox[3], "{bbox:?}");
    assert!(117.0 < bbox[0] && bbox[2] < 119.0 && 33.0 < bbox[1] && bbox[3] < 35.0, "新沂 is at 118°E 34°N: {bbox:?}");
    for layer in ["boundary", "streets", "communities"] {
        let segments = layers[layer].as_array().unwrap_or_else(|| panic!("{layer} is a list"));
        assert!(!segments.is_empty(), "{layer} has segments");
        for segment in segments {
            let numbers = segment.as_array().unwrap_or_else(|| panic!("{layer}: a segment is a list: {segment}"));
            assert!(numbers.len() == 4 && numbers.iter().all(Value::is_number), "{layer}: {segment}");
        }
    }
    let labels = layers["streetLabels"].as_array().expect("streetLabels");
    assert!(labels.iter().any(|l| l["name"] == "新安街道"), "{labels:?}");

    let near = format!("{},{},{},{}", XINAN.0 - 0.002, XINAN.1 - 0.002, XINAN.0 + 0.002, XINAN.1 + 0.002);
    let view = get(format!("/v1/map/cells?bbox={near}&zoom=100000"), dispatcher.clone()).await;
    assert_eq!(view.status, 200, "{view:?}");
    let view = view.json();
    let cells = view["cells"].as_array().expect("cells");
    assert!(!cells.is_empty() && cells.len() < 100, "a few cells around 新安: {}", cells.len());
    assert!(cells.iter().any(|c| c["code"] == "320381001011018"), "the cell XINAN lies in");
    for cell in cells {
        let ring = cell["ring"].as_array().expect("a ring");
        assert!(ring.len() >= 8 && ring.len() % 2 == 0, "{cell}");
    }
    assert_eq!((view["simplified"].as_bool(), view["total"].as_u64()), (Some(false), Some(12_767)), "{}", view["total"]);

    let city = format!("{},{},{},{}", bbox[0], bbox[1], bbox[2], bbox[3]);
    let whole = get(format!("/v1/map/cells?bbox={city}"), dispatcher.clone()).await;
    assert_eq!(whole.status, 200, "{}", whole.status);
    let whole = whole.json();
    let all = whole["cells"].as_array().expect("cells");
    assert_eq!(all.len(), 12_767);
    assert_eq!(all.iter().map(|c| c["code"].as_str().expect("a code")).collect::<BTreeSet<_>>().len(), 12_767, "each cell once");
    assert_eq!(whole["simplified"], true);

    let bad = get("/v1/map/cells?bbox=118.5,34.2,118.1,34.6".into(), dispatcher.clone()).await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.json()["field"], "bbox", "{bad:?}");
    assert!(bad.json()["message"].as_str().is_some_and(|m| m.contains("bbox")), "{bad:?}");

    let (code, response) = http_get(app.http_addr, &format!("/v1/map/cells?bbox={near}")).await;
    assert_eq!(code, 401, "{response}");
    let (code, response) = http_get(app.http_addr, "/v1/map/layers").await;
    assert_eq!(code, 401, "{response}");
    let monitoring = app.key("monitoring", &[]).await;
    let (code, response) = http_get_as(app.http_addr, "/v1/map/layers", &monitoring).await;
    assert_eq!(code, 403, "{response}");
    assert!(json_body(&response)["message"].as_str().is_some_and(|m| m.contains("GetGrid")), "{response}");
    let (code, response) = http_get_as(app.http_addr, &format!("/v1/map/cells?bbox={near}"), &monitoring).await;
    assert_eq!(code, 403, "{response}");
    app.stop().await;
}

/// The `src=`/`href=` values of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            let value = &rest[at + attribute.len()..];
            let end = value.find('"').expect("a closing quote");
            found.push(value[..end].to_owned());
            rest = &value[end..];
        }
    }
    found
}

/// The modules a JavaScript module imports (`from './x.js'`, `import('./x.js')`), as asset
/// paths (relative to `module`).
fn imports(module: &str, source: &str) -> Vec<String> {
    let dir = module.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut found = Vec::new();
    for marker in ["from '", "from \"", "import('", "import(\""] {
        let mut rest = source;
        while let Some(at) = rest.find(marker) {
            let value = &rest[at + marker.len()..];
            let quote = marker.chars().last().expect("a quote");
            let end = value.find(quote).expect("a closing quote");
            let spec = &value[..end];
            rest = &value[end..];
            let mut parts: Vec<&str> = if spec.starts_with('/') { Vec::new() } else { dir.split('/').filter(|p| !p.is_empty()).collect() };
            for part in spec.split('/') {
                match part {
                    "" | "." => {}
                    ".." => {
                        parts.pop();
                    }
                    p => parts.push(p),
                }
            }
            found.push(format!("/{}", parts.join("/")));
        }
    }
    found
}

/// A city's dispatch centre often runs on a network with no internet, under a security
/// office that forbids third-party code: the dashboard comes from gridd itself, with a
/// content security policy that lets the page load only from gridd, and everything the page
/// and its scripts load is served by gridd (nothing from a CDN).
#[tokio::test]
async fn the_dashboard_is_served_offline_with_a_strict_policy() {
    let app = spawn_app().await;
    for start in ["/", "/dashboard"] {
        let redirect = http_call(app.http_addr, "GET", start, &[], "").await;
        assert!(matches!(redirect.status, 301 | 302 | 303 | 307 | 308), "{start}: {redirect:?}");
        assert_eq!(redirect.header("location"), Some("/dashboard/"), "{start}: {redirect:?}");
    }

    let page = http_call(app.http_addr, "GET", "/dashboard/", &[], "").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.header("content-type").is_some_and(|v| v.starts_with("text/html")), "{:?}", page.headers);
    let policy = page.header("content-security-policy").unwrap_or_else(|| panic!("a policy: {:?}", page.headers));
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "no absolute URLs in the page");
    let refs = references(&page.body);
    let mut queue: Vec<String> = Vec::new();
    for r in &refs {
        // An in-page link (#…) and an inline data: URI load nothing from anywhere.
        if r.starts_with('#') || r.starts_with("data:") {
            continue;
        }
        assert!(r.starts_with("/assets/"), "the page refers only to gridd's own assets: {r}");
        queue.push(r.clone());
    }
    assert!(queue.iter().any(|r| r.ends_with(".js")) && queue.iter().any(|r| r.ends_with(".css")), "{refs:?}");

    let mut served = BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !served.insert(path.clone()) {
            continue;
        }
        let asset = http_call(app.http_addr, "GET", &path, &[], "").await;
        assert_eq!(asset.status, 200, "{path}: {asset:?}");
        let content_type = asset.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/javascript") || content_type.starts_with("text/css"),
            "{path}: a script or a style sheet, not {content_type:?}"
        );
        assert!(!asset.body.contains("http://") && !asset.body.contains("https://"), "{path} loads nothing from elsewhere");
        if content_type.starts_with("text/javascript") {
            queue.extend(imports(&path, &asset.body));
        }
    }
    assert!(served.len() > 2, "the dashboard's modules were followed: {served:?}");

    let missing = http_call(app.http_addr, "GET", "/assets/nope.js", &[], "").await;
    assert_eq!(missing.status, 404, "{missing:?}");
    app.stop().await;
}

/// A grid supervisor's browser follows the reports waiting for them to verify (核实) live.
#[tokio::test]
async fn a_supervisor_follows_their_verification_feed_over_sse() {
    let city = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/city-verify/city.toml");
    let app = gridd_tests::spawn_app_with(&city).await;
    let supervisor = app.sign_in_as("sup.xinan", "supervisor", None).await;
    let mut feed = Sse::open(app.http_addr, "/v1/watch/verifications", &supervisor, &[]).await;
    assert_eq!(feed.status, 200, "{:?}", feed.headers);
    let mut c = app.clients.clone();
    let reference = c.hotline("sse-verify-1", "E0102", Some(XINAN)).await.expect("accepted").reference;
    let event = feed.next().await;
    let data = event.json();
    assert_eq!(
        (data["kind"].as_str(), data["ticket"]["state"].as_str()),
        (Some("TASK_EVENT_KIND_ASSIGNED"), Some("TICKET_STATE_VERIFYING"))
    );
    assert_eq!(data["ticket"]["id"].as_str(), Some(reference.as_str()));
    drop(feed);
    let other = http_call(
        app.http_addr,
        "GET",
        "/v1/watch/verifications?supervisor=sup.other",
        &[("Authorization", &format!("Bearer {supervisor}"))],
        "",
    )
    .await;
    assert_eq!(other.status, 403, "another supervisor's feed: {other:?}");
    app.stop().await;
}
