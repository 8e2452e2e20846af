//! Open311 GeoReport v2 at `/open311/v2/`: every answer checked against the spec's field lists
//! in JSON and in XML, reports in on the citizen channel with the api_key, cases out with their
//! status as they close, refusals in the spec's error format naming the field and writing
//! nothing, idempotent POSTs, and a round trip driven by a third-party client from PyPI.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gridd_proto::v1;
use gridd_tests::{Clients, HttpResponse, PATIENCE, TestApp, XINAN, http_call, spawn_app};
use serde_json::Value;

const BASE: &str = "/open311/v2";

/// The fields of a service request (GET requests), in the spec's order.
const REQUEST_FIELDS: [&str; 17] = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
];

/// The fields of a service (GET services).
const SERVICE_FIELDS: [&str; 7] = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"];

/// The fields of a service definition's attribute.
const ATTRIBUTE_FIELDS: [&str; 8] = ["variable", "code", "datatype", "required", "datatype_description", "order", "description", "values"];

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_call(addr, "GET", &format!("{BASE}/{path}"), &[], "").await
}

/// Percent-encodes a form value (everything but the unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// POSTs `fields` form-encoded to `requests.{format}`.
async fn post(addr: SocketAddr, format: &str, fields: &[(&str, &str)]) -> HttpResponse {
    let body: Vec<String> = fields.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect();
    let headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")];
    http_call(addr, "POST", &format!("{BASE}/requests.{format}"), &headers, &body.join("&")).await
}

/// A form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

/// A complete report of exposed garbage in 新安街道 with `key` and a client token.
fn report<'a>(key: &'a str, token: &'a str) -> Form<'a> {
    vec![
        ("api_key", key),
        ("service_code", "E0102"),
        ("lat", "34.372"),
        ("long", "118.35"),
        ("address_string", "新安路 18 号"),
        ("description", "路边有一堆垃圾"),
        ("media_url", "https://photos.example.cn/open311/a.jpg"),
        ("account_id", "wx-user-7"),
        ("first_name", "三"),
        ("last_name", "张"),
        ("phone", "13812345678"),
        ("client_token", token),
    ]
}

/// `fields` with `name` set to `value` (added when missing, removed when `None`).
fn with<'a>(fields: &[(&'a str, &'a str)], name: &'a str, value: Option<&'a str>) -> Form<'a> {
    let mut out: Vec<_> = fields.iter().filter(|(n, _)| *n != name).copied().collect();
    if let Some(value) = value {
        out.push((name, value));
    }
    out
}

/// Reports accepted so far, over every channel.
async fn intake_count(c: &mut Clients) -> u64 {
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    stats.intake_by_channel.iter().map(|c| c.count).sum()
}

/// An XML element of an answer: its name, its text, its children.
#[derive(Debug)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> &Element {
        self.children.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("<{}> has no <{name}>: {self:?}", self.name))
    }

    fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Reads one element (the answers have no attributes, comments or CDATA).
fn element(s: &str) -> (Element, &str) {
    let s = s.trim_start();
    assert!(s.starts_with('<'), "an element expected at {s:.40}");
    let end = s.find('>').expect("a closed tag");
    let tag = &s[1..end];
    if let Some(name) = tag.strip_suffix('/') {
        return (Element { name: name.to_owned(), text: String::new(), children: Vec::new() }, &s[end + 1..]);
    }
    let mut e = Element { name: tag.to_owned(), text: String::new(), children: Vec::new() };
    let mut rest = &s[end + 1..];
    loop {
        if let Some(after) = rest.strip_prefix(&format!("</{}>", e.name)) {
            return (e, after);
        }
        if rest.trim_start().starts_with('<') && !rest.trim_start().starts_with("</") {
            let (child, after) = element(rest);
            e.children.push(child);
            rest = after;
        } else {
            let stop = rest.find('<').expect("the element is closed");
            e.text.push_str(&unescape(&rest[..stop]));
            rest = &rest[stop..];
        }
    }
}

/// An XML answer: UTF-8 declared, one root element.
fn xml(response: &HttpResponse) -> Element {
    assert_eq!(response.header("content-type"), Some("text/xml; charset=utf-8"), "{response:?}");
    let body =
        response.body.strip_prefix("<?xml version=\"1.0\" encoding=\"utf-8\"?>").unwrap_or_else(|| panic!("no declaration: {response:?}"));
    let (root, rest) = element(body);
    assert!(rest.trim().is_empty(), "one root element: {rest}");
    root
}

/// A JSON answer.
fn json(response: &HttpResponse) -> Value {
    assert_eq!(response.header("content-type"), Some("application/json; charset=utf-8"), "{response:?}");
    response.json()
}

/// A w3 date-time with the city's offset, as the spec requires.
fn w3(text: &str) -> chrono::DateTime<chrono::FixedOffset> {
    assert!(text.ends_with("+08:00"), "{text} is in the city's offset");
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text} is not a w3 date-time: {e}"))
}

/// Checks a JSON service request against the spec's fields and their types.
fn check_json_request(r: &Value) {
    let keys: BTreeSet<&str> = r.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(keys, REQUEST_FIELDS.into_iter().collect(), "{r}");
    for field in ["service_request_id", "status", "status_notes", "service_name", "service_code", "requested_datetime"] {
        assert!(r[field].as_str().is_some_and(|s| !s.is_empty()), "{field} is text: {r}");
    }
    assert!(["open", "closed"].contains(&r["status"].as_str().expect("status")), "{r}");
    // The terms it is handled on, while it is.
    assert_eq!(r["service_notice"].is_string(), r["status"] == "open", "{r}");
    for field in ["description", "agency_responsible", "expected_datetime", "address", "address_id", "zipcode", "media_url"] {
        assert!(r[field].is_string() || r[field].is_null(), "{field} is text or null: {r}");
    }
    for field in ["lat", "long"] {
        assert!(r[field].is_f64() || r[field].is_null(), "{field} is a number or null: {r}");
    }
    let requested = w3(r["requested_datetime"].as_str().expect("requested"));
    let updated = w3(r["updated_datetime"].as_str().expect("updated"));
    assert!(updated >= requested, "updated after requested: {r}");
    if let Some(expected) = r["expected_datetime"].as_str() {
        w3(expected);
    }
}

/// Checks an XML `<request>` the same way: every field, in the spec's order.
fn check_xml_request(r: &Element) {
    assert_eq!(r.name, "request");
    assert_eq!(r.names(), REQUEST_FIELDS, "{r:?}");
    assert!(["open", "closed"].contains(&r.child("status").text.as_str()), "{r:?}");
    w3(&r.child("requested_datetime").text);
    w3(&r.child("updated_datetime").text);
    for field in ["lat", "long"] {
        let text = &r.child(field).text;
        assert!(text.is_empty() || text.parse::<f64>().is_ok(), "{field} is a number: {text}");
    }
}

/// Checks a refusal in both formats: the status, the body's code, and a description that
/// starts with the field.
fn check_error_json(response: &HttpResponse, status: u16, code: i64, field: &str) {
    assert_eq!(response.status, status, "{response:?}");
    let body = json(response);
    let errors = body.as_array().unwrap_or_else(|| panic!("an array of errors: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], code, "{body}");
    let description = errors[0]["description"].as_str().expect("a description");
    assert!(description.starts_with(&format!("{field}: ")), "the description names {field}: {description}");
}

fn check_error_xml(response: &HttpResponse, status: u16, code: &str, field: &str) {
    assert_eq!(response.status, status, "{response:?}");
    let root = xml(response);
    assert_eq!((root.name.as_str(), root.names()), ("errors", vec!["error"]), "{root:?}");
    let error = root.child("error");
    assert_eq!(error.names(), ["code", "description"]);
    assert_eq!(error.child("code").text, code);
    assert!(error.child("description").text.starts_with(&format!("{field}: ")), "names {field}: {error:?}");
}

/// Waits until `token` is placed in a case: its service_request_id.
async fn request_id_of(addr: SocketAddr, token: &str) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = get(addr, &format!("tokens/{token}.json")).await;
        assert_eq!(response.status, 200, "{response:?}");
        let answer = json(&response);
        assert_eq!(answer[0]["token"], token, "{answer}");
        if let Some(id) = answer[0]["service_request_id"].as_str() {
            return id.to_owned();
        }
        assert!(answer[0]["service_request_id"].is_null(), "{answer}");
        assert!(tokio::time::Instant::now() < deadline, "token {token} was never placed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The one service request `id`, in JSON.
async fn request_json(addr: SocketAddr, id: &str) -> Value {
    let response = get(addr, &format!("requests/{id}.json")).await;
    assert_eq!(response.status, 200, "{response:?}");
    let answer = json(&response);
    assert_eq!(answer.as_array().map(Vec::len), Some(1), "{answer}");
    check_json_request(&answer[0]);
    answer[0].clone()
}

/// The ids a listing returns.
async fn listed(addr: SocketAddr, query: &str) -> Vec<String> {
    let response = get(addr, &format!("requests.json?{query}")).await;
    assert_eq!(response.status, 200, "{query}: {response:?}");
    let answer = json(&response);
    let requests = answer.as_array().expect("an array");
    requests.iter().for_each(check_json_request);
    requests.iter().map(|r| r["service_request_id"].as_str().expect("id").to_owned()).collect()
}

async fn citizen_key(app: &TestApp) -> String {
    app.key("citizen_app", &[]).await
}

#[tokio::test]
async fn discovery_services_and_definitions_follow_the_spec_in_both_formats() {
    let app = spawn_app().await;
    let addr = app.http_addr;

    let discovery = json(&get(addr, "discovery.json").await);
    for field in ["changeset", "contact", "key_service"] {
        assert!(discovery[field].is_string(), "{field}: {discovery}");
    }
    let endpoint = &discovery["endpoints"][0];
    assert_eq!(endpoint["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(endpoint["url"], format!("http://{addr}/open311/v2"));
    assert_eq!(endpoint["formats"], serde_json::json!(["text/xml", "application/json"]));
    let discovery = xml(&get(addr, "discovery.xml").await);
    assert_eq!(discovery.names(), ["changeset", "contact", "key_service", "endpoints"]);
    let endpoint = discovery.child("endpoints").child("endpoint");
    assert_eq!(endpoint.names(), ["specification", "url", "changeset", "type", "formats"]);
    assert_eq!(endpoint.child("formats").names(), ["format", "format"]);

    let services = json(&get(addr, "services.json").await);
    let services = services.as_array().expect("an array of services");
    let catalogue = app.city.current().catalogue.classes().count();
    assert_eq!(services.len(), catalogue, "one service per class");
    for s in services {
        let keys: BTreeSet<&str> = s.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, SERVICE_FIELDS.into_iter().collect(), "{s}");
        for field in ["service_code", "service_name", "description", "keywords", "group"] {
            assert!(s[field].as_str().is_some_and(|t| !t.is_empty()), "{field}: {s}");
        }
        assert!(s["metadata"].is_boolean(), "{s}");
        assert_eq!(s["type"], "batch", "{s}");
    }
    let by_code = |code: &str| services.iter().find(|s| s["service_code"] == code).unwrap_or_else(|| panic!("{code} is a service")).clone();
    let garbage = by_code("E0102");
    assert_eq!((garbage["service_name"].as_str(), garbage["metadata"].as_bool()), (Some("暴露垃圾"), Some(false)));
    assert_eq!(garbage["group"], "市容环境");
    assert!(garbage["keywords"].as_str().expect("keywords").contains("Exposed garbage"), "{garbage}");
    assert!(garbage["description"].as_str().expect("description").contains("2小时"), "the handling limit: {garbage}");
    assert_eq!(by_code("C0102")["metadata"], true, "C0102 has a filing condition");

    let services = xml(&get(addr, "services.xml").await);
    assert_eq!(services.name, "services");
    assert_eq!(services.children.len(), catalogue);
    for s in &services.children {
        assert_eq!((s.name.as_str(), s.names()), ("service", SERVICE_FIELDS.to_vec()), "{s:?}");
        assert!(["true", "false"].contains(&s.child("metadata").text.as_str()));
    }

    let definition = json(&get(addr, "services/C0102.json").await);
    assert_eq!(definition["service_code"], "C0102");
    let attribute = &definition["attributes"][0];
    let keys: BTreeSet<&str> = attribute.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ATTRIBUTE_FIELDS.into_iter().collect(), "{attribute}");
    assert_eq!(
        (attribute["variable"].as_bool(), attribute["required"].as_bool(), attribute["order"].as_i64()),
        (Some(true), Some(false), Some(1))
    );
    assert_eq!((attribute["code"].as_str(), attribute["datatype"].as_str()), (Some("condition"), Some("singlevaluelist")));
    assert_eq!(attribute["values"][0]["key"], "missing");
    assert!(attribute["values"][0]["name"].as_str().expect("name").starts_with("缺失（紧急"), "{attribute}");
    let definition = xml(&get(addr, "services/C0102.xml").await);
    assert_eq!(definition.name, "service_definition");
    let attribute = definition.child("attributes").child("attribute");
    assert_eq!(attribute.names(), ATTRIBUTE_FIELDS);
    let value = attribute.child("values").child("value");
    assert_eq!((value.names(), value.child("key").text.as_str()), (vec!["key", "name"], "missing"));
    let plain = json(&get(addr, "services/E0102.json").await);
    assert_eq!(plain["attributes"], serde_json::json!([]), "a class without conditions has no attributes");

    check_error_json(&get(addr, "services/E9999.json").await, 404, 404, "service_code");
    check_error_xml(&get(addr, "services/E9999.xml").await, 404, "404", "service_code");
    check_error_xml(&get(addr, "services.html").await, 400, "400", "format");
    check_error_json(&get(addr, "nothing.json").await, 404, 404, "resource");
    app.stop().await;
}

#[tokio::test]
async fn a_posted_request_is_a_citizen_report_followed_until_it_closes() {
    let app = spawn_app().await;
    let addr = app.http_addr;
    let mut c = app.clients.clone();
    let key = citizen_key(&app).await;

    let response = post(addr, "json", &report(&key, "token-1")).await;
    assert_eq!(response.status, 200, "{response:?}");
    let answer = json(&response);
    let posted = answer.as_array().expect("an array");
    assert_eq!(posted.len(), 1);
    let keys: BTreeSet<&str> = posted[0].as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["account_id", "service_notice", "token"].into_iter().collect(), "a token, never with a service_request_id: {answer}");
    assert_eq!(posted[0]["account_id"], "wx-user-7");
    let token = posted[0]["token"].as_str().expect("token").to_owned();
    assert!(posted[0]["service_notice"].as_str().expect("notice").contains(&token), "{answer}");

    // The report went in on the citizen channel, with the phone for the reply.
    let id = request_id_of(addr, &token).await;
    let case = c.ticket_of(&token).await;
    assert_eq!(case.id, id);
    let opening = &case.reports[0];
    assert_eq!((opening.channel(), opening.reply_required), (v1::Channel::Citizen, true), "{opening:?}");
    assert_eq!(opening.photo_urls, ["https://photos.example.cn/open311/a.jpg"]);
    assert_eq!((case.category.as_str(), case.squad_id.as_str(), case.state()), ("E0102", "sq-1", v1::TicketState::Dispatched));

    let open = request_json(addr, &id).await;
    assert_eq!(open["service_request_id"], id.as_str());
    assert_eq!((open["status"].as_str(), open["status_notes"].as_str()), (Some("open"), Some("已派遣至一中队，等待签收")));
    assert_eq!((open["service_code"].as_str(), open["service_name"].as_str()), (Some("E0102"), Some("暴露垃圾")));
    assert_eq!(open["agency_responsible"], "一中队");
    assert_eq!(open["description"], "路边有一堆垃圾");
    assert_eq!(open["media_url"], "https://photos.example.cn/open311/a.jpg");
    assert_eq!((open["lat"].as_f64(), open["long"].as_f64()), (Some(XINAN.1), Some(XINAN.0)));
    assert!(open["address"].as_str().expect("address").starts_with("新安路 18 号，"), "most specific first: {open}");
    assert_eq!(open["address_id"], case.cell.as_ref().expect("located").cell_code.as_str());
    let deadline = case.handling_deadline.expect("a handling deadline");
    assert_eq!(w3(open["expected_datetime"].as_str().expect("expected")).timestamp(), deadline.seconds);
    for private in ["13812345678", "张", "wx-user-7"] {
        assert!(!open.to_string().contains(private), "{private} is not published: {open}");
    }
    // A report reference answers with its case too.
    assert_eq!(request_json(addr, &token).await["service_request_id"], id.as_str());

    let response = get(addr, &format!("requests/{id}.xml")).await;
    let root = xml(&response);
    assert_eq!((root.name.as_str(), root.children.len()), ("service_requests", 1));
    let request = &root.children[0];
    check_xml_request(request);
    assert_eq!(request.child("status_notes").text, "已派遣至一中队，等待签收");
    assert_eq!(request.child("zipcode").text, "");
    let token_xml = xml(&get(addr, &format!("tokens/{token}.xml")).await);
    assert_eq!(token_xml.child("request").names(), ["service_request_id", "token"]);
    assert_eq!(token_xml.child("request").child("service_request_id").text, id);

    assert!(listed(addr, "status=open").await.contains(&id));
    assert!(listed(addr, "service_code=E0102,E0104&status=open").await.contains(&id));
    assert!(!listed(addr, "status=closed").await.contains(&id));
    assert!(!listed(addr, "service_code=E0104").await.contains(&id));
    assert_eq!(
        listed(addr, &format!("service_request_id={id},NOSUCH,{token}&status=closed")).await,
        [id.as_str()],
        "ids override the rest"
    );

    // The squad handles it, the check passes: closed, and updated when it closed.
    c.squad.accept_task(Clients::task("sq-1", &id)).await.expect("accept");
    assert_eq!(request_json(addr, &id).await["status_notes"], "一中队已签收，即将处置");
    c.squad.start_task(Clients::task("sq-1", &id)).await.expect("start");
    let resolve = v1::ResolveTaskRequest { task: Some(Clients::task("sq-1", &id)), note: "已清理".into(), photo_urls: Vec::new() };
    c.squad.resolve_task(resolve).await.expect("resolve");
    let checking = request_json(addr, &id).await;
    assert_eq!((checking["status"].as_str(), checking["status_notes"].as_str()), (Some("open"), Some("一中队已处置完毕，等待核查")));
    let verify = v1::VerifyRequest { ticket_id: id.clone(), passed: true, context: Clients::operator() };
    let closed = c.dispatch.verify(verify).await.expect("verify").into_inner();
    assert_eq!(closed.state(), v1::TicketState::Closed);
    let after = request_json(addr, &id).await;
    assert_eq!((after["status"].as_str(), after["status_notes"].as_str()), (Some("closed"), Some("已处置完毕，经核查合格，已结案")));
    assert_eq!(after["expected_datetime"], Value::Null, "nothing more is expected of a closed case");
    let closed_at = closed.closed_at.expect("closed at");
    assert_eq!(w3(after["updated_datetime"].as_str().expect("updated")).timestamp(), closed_at.seconds, "updated when it closed");
    assert!(listed(addr, "status=closed").await.contains(&id));
    assert!(!listed(addr, "status=open").await.contains(&id));
    check_xml_request(&xml(&get(addr, &format!("requests/{id}.xml")).await).children[0]);
    app.stop().await;
}

#[tokio::test]
async fn cancelled_cases_are_closed_with_the_reason_in_words() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let receipt = c.hotline("o311-cancel", "E0102", Some(XINAN)).await.expect("accepted");
    let id = c.ticket_of(&receipt.reference).await.id;
    let master = c.hotline("o311-master", "E0102", Some(gridd_tests::spread_point(7))).await.expect("accepted");
    let master = c.ticket_of(&master.reference).await.id;
    let cancel = v1::CancelRequest {
        ticket_id: id.clone(),
        reason: v1::CancelReason::Duplicate.into(),
        context: Clients::operator(),
        duplicate_of: master,
    };
    c.dispatch.cancel(cancel).await.expect("cancel");
    let request = request_json(app.http_addr, &id).await;
    assert_eq!((request["status"].as_str(), request["status_notes"].as_str()), (Some("closed"), Some("已作废：与其他案件重复")));
    // A hotline caller's name and number are not published either.
    for private in ["张三", "13812345678"] {
        assert!(!request.to_string().contains(private), "{private}: {request}");
    }
    assert_eq!(request["media_url"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let addr = app.http_addr;
    let mut c = app.clients.clone();
    let key = citizen_key(&app).await;
    let good = report(&key, "bad-1");
    let long_address = "长".repeat(201);

    // (the form, the HTTP status, the field the description names)
    let cases: Vec<(Form, u16, &str)> = vec![
        (with(&good, "lat", Some("91")), 400, "lat"),
        (with(&good, "long", Some("east")), 400, "long"),
        (with(&good, "lat", None), 400, "lat"),
        (with(&with(&good, "lat", None), "long", None), 400, "lat"),
        (with(&good, "service_code", None), 400, "service_code"),
        (with(&good, "service_code", Some("E9999")), 404, "service_code"),
        (with(&good, "description", None), 400, "description"),
        (with(&good, "media_url", Some("javascript:alert(1)")), 400, "media_url"),
        (with(&good, "phone", Some("12-34")), 400, "phone"),
        (with(&good, "account_id", None), 400, "account_id"),
        (with(&with(&good, "account_id", None), "email", Some("not-an-address")), 400, "email"),
        (with(&good, "attribute[colour]", Some("red")), 400, "attribute[colour]"),
        (with(&good, "attribute[condition]", Some("missing")), 400, "attribute[condition]"),
        (with(&good, "address_string", Some(&long_address)), 400, "address_string"),
        (with(&good, "client_token", Some("has space")), 400, "client_token"),
        (with(&good, "api_key", None), 403, "api_key"),
        (with(&good, "api_key", Some("gk_nobody_nothing")), 403, "api_key"),
        (with(&good, "api_key", Some("an-account-token")), 403, "api_key"),
    ];
    for (fields, status, field) in &cases {
        let code = if *status == 403 { 401 } else { i64::from(*status) };
        check_error_json(&post(addr, "json", fields).await, *status, code, field);
        check_error_xml(&post(addr, "xml", fields).await, *status, &code.to_string(), field);
    }
    let e = json(&post(addr, "json", &with(&good, "lat", Some("91"))).await);
    assert_eq!(e[0]["description"], "lat: must be between -90 and 90");

    // A key whose role may not report.
    let hotline_key = app.key("hotline_12345", &[]).await;
    check_error_json(&post(addr, "json", &with(&good, "api_key", Some(&hotline_key))).await, 403, 403, "api_key");
    // Not a form.
    let headers = [("Content-Type", "application/json")];
    let as_json = http_call(addr, "POST", &format!("{BASE}/requests.json"), &headers, "{\"service_code\":\"E0102\"}").await;
    check_error_json(&as_json, 400, 400, "Content-Type");
    // GET requests' filters.
    check_error_json(&get(addr, "requests.json?status=pending").await, 400, 400, "status");
    check_error_json(&get(addr, "requests.json?start_date=yesterday").await, 400, 400, "start_date");
    let inverted = "requests.json?start_date=2026-03-01T00:00:00Z&end_date=2026-02-01T00:00:00Z";
    check_error_json(&get(addr, inverted).await, 400, 400, "end_date");
    let too_long = "requests.json?start_date=2026-01-01T00:00:00%2B08:00&end_date=2026-06-01T00:00:00%2B08:00";
    check_error_json(&get(addr, too_long).await, 400, 400, "end_date");
    check_error_json(&get(addr, "requests.json?service_code=E9999").await, 404, 404, "service_code");
    check_error_json(&get(addr, "requests/NOSUCH.json").await, 404, 404, "service_request_id");
    check_error_xml(&get(addr, "tokens/NOSUCH.xml").await, 404, "404", "token");

    assert_eq!(intake_count(&mut c).await, 0, "no refused request wrote anything");
    // The good one goes in.
    assert_eq!(post(addr, "json", &good).await.status, 200);
    assert_eq!(intake_count(&mut c).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_retried_post_returns_the_same_token_and_writes_nothing_new() {
    let app = spawn_app().await;
    let addr = app.http_addr;
    let mut c = app.clients.clone();
    let key = citizen_key(&app).await;
    let token_of = |response: &HttpResponse| json(response)[0]["token"].as_str().expect("token").to_owned();

    let first = post(addr, "json", &report(&key, "retry-1")).await;
    let again = post(addr, "xml", &report(&key, "retry-1")).await;
    assert_eq!(again.status, 200, "{again:?}");
    let again = xml(&again);
    assert_eq!(again.child("request").names(), ["token", "service_notice", "account_id"]);
    assert_eq!(again.child("request").child("token").text, token_of(&first), "the same token for the same client token");
    assert_eq!(intake_count(&mut c).await, 1);
    // The same client token for another report is refused.
    let other = with(&report(&key, "retry-1"), "description", Some("另一处垃圾"));
    check_error_json(&post(addr, "json", &other).await, 400, 400, "client_token");

    // Without a client token, the same content is the same report.
    let untokened = with(&report(&key, ""), "client_token", None);
    let a = token_of(&post(addr, "json", &untokened).await);
    let b = token_of(&post(addr, "json", &untokened).await);
    assert_eq!(a, b, "a resent POST without a client token");
    assert_ne!(a, token_of(&first));
    let different = with(&untokened, "description", Some("路边又有一堆垃圾"));
    assert_ne!(token_of(&post(addr, "json", &different).await), a, "other words are another report");
    assert_eq!(intake_count(&mut c).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn a_third_party_open311_client_from_pypi_round_trips() {
    let python = std::env::var("GRIDD_TEST_OPEN311_PYTHON").expect(
        "GRIDD_TEST_OPEN311_PYTHON is not set: run the suite with tests/run.sh, which installs the georeport client \
         (or `. tests/services.sh && install_open311_client`)",
    );
    let app = spawn_app().await;
    let key = citizen_key(&app).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("open311/roundtrip.py");
    let base = format!("http://{}{BASE}", app.http_addr);
    // The engine runs on this test's runtime: the client waits on a blocking thread.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .arg(&base)
            .env("GEOREPORT_API_KEY", &key)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .output()
            .unwrap_or_else(|e| panic!("running {python} {}: {e}", script.display()))
    })
    .await
    .expect("the client ran");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the round trip failed ({}):\n{printed}", output.status);
    assert!(printed.contains("checks passed"), "{printed}");
    eprintln!("{printed}");
    app.stop().await;
}
