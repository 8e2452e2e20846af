//! Open311 GeoReport v2 at `/open311/v2/`, so that the citizen apps and civic tools written
//! for the international standard can report to gridd and follow the cases they reported.
//!
//! Resources, each in both formats the spec defines (`.xml`, its required one, and `.json`),
//! the JSON being the spec's mapping of the XML (a list is an array):
//!
//! - `discovery.{fmt}`: this endpoint, its formats, and how to get a key;
//! - `services.{fmt}`: the catalogue's small classes as services: `service_code` is the class
//!   code (`E0102`), `service_name` its Chinese name, `description` its urgency and handling
//!   limit, `group` its big class (大类), `keywords` its English name and pinyin initials;
//!   `metadata` is true when the class has filing conditions (立案条件);
//! - `services/{code}.{fmt}`: the definition, whose one attribute `condition` (a
//!   `singlevaluelist`, not required: leaving it out is the class's default terms) lists the
//!   class's filing conditions;
//! - `POST requests.{fmt}`: a report on the citizen channel, through the very
//!   `IntakeService.SubmitCitizenReport` the gRPC server runs, so it is validated, keyed and
//!   rate-limited exactly as a citizen app's report over gRPC;
//! - `requests.{fmt}`, `requests/{id}.{fmt}`: cases (案卷) as service requests;
//! - `tokens/{token}.{fmt}`: the case a report was filed as or merged into (并案).
//!
//! **Requests are cases; the token is the report.** Intake answers at once with the report's
//! reference, but the case it belongs to is known only when the router has placed it — and a
//! report at the place of an open case of the same class joins that case, whose number is
//! another. So `POST requests` answers with `token` (the reference) and no
//! `service_request_id` (the spec allows one or the other, never both), every service is of
//! type `batch`, and `tokens/{token}` gives the `service_request_id` once the report is placed
//! (until then it answers with the token and no id). `requests/{id}` also takes a reference
//! and answers with its case.
//!
//! **Statuses.** A case is `closed` when its state is terminal ([`TicketState::is_terminal`]:
//! closed, cancelled, not filed after verification — and any terminal state added later),
//! `open` otherwise. `status_notes` says in plain Chinese where it stands ("已派遣至一中队，
//! 等待签收"), `agency_responsible` is the squad holding it, `expected_datetime` its handling
//! deadline while open and `service_notice` the terms it is handled on (urgency and limit),
//! `updated_datetime` its last change (for a closed case: when it was closed, as the spec
//! asks), `address_id` its unit-grid cell, `media_url` the first photo sent with one of its
//! reports. A camera's evidence frame is surveillance footage and is not published; callers'
//! names and phone numbers never appear anywhere in these answers.
//!
//! **Access.** Every `GET` is open, as the spec has it (clients read without a key): a city
//! that publishes Open311 publishes its service requests, and what is published here is what
//! the public may see of a case, never who reported it. `POST requests` needs `api_key`, a
//! gridd machine key (`gk_<id>_<secret>`) whose role may submit citizen reports
//! (`citizen_app`), checked by the same [`Access`] as every other caller: the access layer
//! routes `/open311/v2/…` as open and the handler authenticates the key from the form. A
//! missing or wrong key is refused with HTTP 403 (code 401 in the body), a key whose role may
//! not report with 403, the key's intake rate with 429.
//!
//! **Who reported.** gridd keeps a citizen id with every citizen report; here it is derived
//! from the first of `account_id` (`account:<id>`), `device_id` (`device:<id>`) or `email`
//! (`email:` and a SHA-256 digest of the lower-cased address, so the address itself is not
//! kept), one of which is required. `phone` is kept for the reply (回访): a citizen who gives a
//! number is called back when the case closes. `first_name` and `last_name` are not kept.
//!
//! **Idempotency.** The spec has no client token, so a POST may carry the extension field
//! `client_token`: a retry with the same token and the same content gets the same token back
//! and writes nothing; the same token with other content is refused. Without one, the key is
//! derived from the content (citizen id, service, condition, point, address, description,
//! media, phone) and the city's date: a client resending the same report the same day after a
//! lost answer gets the first token back, while the same words from the same person on
//! another day are a new report (a resend that crosses midnight is merged into the same case
//! by the router's duplicate rule).
//!
//! **Input and errors.** `lat`/`long` (WGS84) are required: gridd places every report on its
//! unit grid by the point, so `address_string` is kept as the address but cannot stand alone,
//! and `address_id` is not used. `jurisdiction_id` is ignored (one city per endpoint). Errors
//! are the spec's `errors` document, each description starting with the field it is about
//! (`lat: must be between -90 and 90`): 400 for bad input (nothing is written), 404 for an
//! unknown `service_code`, request or token, 403 for the key.

use std::collections::HashSet;
use std::fmt::Display;

use axum::Extension;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use gridd_access::{Access, AccessError, Grant, Operation, quote};
use gridd_config::CityConfig;
use gridd_core::category::{CategoryClass, CategoryCode, Kind, LimitSpec, LimitUnit, Urgency};
use gridd_core::ids::{Reference, TicketId, validate_token};
use gridd_core::report::Channel;
use gridd_core::ticket::{CancelReason, CloseType, NotFiledReason, Ticket, TicketState};
use gridd_core::time::Timestamp;
use gridd_ingest::IntakeSink;
use gridd_proto::tonic::{self, Code, Status};
use gridd_proto::v1;
use gridd_store::{ReadTx, ReportStatus, Store, StoreError, TicketFilter};

use crate::Services;

/// The specification's token, as discovery names it.
const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// Where the endpoint is served.
const BASE_PATH: &str = "/open311/v2";
/// Most service requests one listing returns (the spec's default limit).
const MAX_REQUESTS: usize = 1000;
/// The longest span a listing covers, and its default: the most recent 90 days.
const SPAN_MS: i64 = 90 * 86_400_000;
/// Longest id or token looked up.
const MAX_ID: usize = 128;
/// Longest `account_id` or `device_id` kept (the citizen id adds a prefix within gridd's 128).
const MAX_CITIZEN_ID: usize = 100;
/// Longest email address (RFC 5321).
const MAX_EMAIL: usize = 254;

/// The scheme the HTTP listener serves (`http` or `https`), put on every request by the
/// listener, for discovery to name the endpoint's full URL.
#[derive(Debug, Clone, Copy)]
pub struct Scheme(pub &'static str);

/// The two formats of the spec, chosen by the resource's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Xml,
    Json,
}

/// A document in the spec's shape, written as XML or as JSON from the same tree.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Absent: `null` in JSON, an empty element in XML.
    Null,
    Text(String),
    Number(f64),
    Integer(i64),
    Bool(bool),
    /// Named fields in order: a JSON object, child elements in XML.
    Object(Vec<(&'static str, Node)>),
    /// A JSON array; in XML, one element of the given name per item.
    List(&'static str, Vec<Node>),
}

impl Node {
    fn text(s: impl Into<String>) -> Node {
        Node::Text(s.into())
    }

    /// Text, or absent when empty.
    fn some_text(s: impl Into<String>) -> Node {
        let s = s.into();
        if s.is_empty() { Node::Null } else { Node::Text(s) }
    }

    fn json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Text(s) => Value::String(s.clone()),
            Node::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Node::Integer(n) => Value::from(*n),
            Node::Bool(b) => Value::Bool(*b),
            Node::Object(fields) => Value::Object(fields.iter().map(|(name, node)| ((*name).to_owned(), node.json())).collect()),
            Node::List(_, items) => Value::Array(items.iter().map(Node::json).collect()),
        }
    }

    fn write_xml(&self, name: &str, out: &mut String) {
        match self {
            Node::Null => {
                out.push_str(&format!("<{name}/>"));
                return;
            }
            Node::Text(s) => {
                out.push_str(&format!("<{name}>"));
                escape_xml(s, out);
            }
            Node::Number(n) => out.push_str(&format!("<{name}>{n}")),
            Node::Integer(n) => out.push_str(&format!("<{name}>{n}")),
            Node::Bool(b) => out.push_str(&format!("<{name}>{b}")),
            Node::Object(fields) => {
                out.push_str(&format!("<{name}>"));
                for (field, node) in fields {
                    node.write_xml(field, out);
                }
            }
            Node::List(item, items) => {
                out.push_str(&format!("<{name}>"));
                for node in items {
                    node.write_xml(item, out);
                }
            }
        }
        out.push_str(&format!("</{name}>"));
    }
}

/// Escapes text for XML content, dropping the control characters XML 1.0 cannot carry.
fn escape_xml(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}

/// A document: the XML root element's name and the tree.
type Doc = (&'static str, Node);

/// A list of service requests (`<service_requests><request>…`).
fn service_requests(items: Vec<Node>) -> Doc {
    ("service_requests", Node::List("request", items))
}

/// Writes a document in `format` with `status`.
fn render(format: Format, status: StatusCode, (root, node): &Doc, cache: &'static str) -> Response {
    let (body, content_type) = match format {
        Format::Json => (node.json().to_string(), "application/json; charset=utf-8"),
        Format::Xml => {
            let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
            node.write_xml(root, &mut xml);
            (xml, "text/xml; charset=utf-8")
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A refusal in the spec's `errors` document.
#[derive(Debug, Clone, PartialEq)]
struct Open311Error {
    status: StatusCode,
    code: u16,
    description: String,
    retry_after: Option<u64>,
}

impl Open311Error {
    fn new(status: StatusCode, code: u16, description: String) -> Self {
        Self { status, code, description, retry_after: None }
    }

    /// Bad input: HTTP 400 naming the field.
    fn invalid(field: &str, reason: impl Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400, format!("{field}: {reason}"))
    }

    /// Something named that does not exist: HTTP 404 naming the field.
    fn not_found(field: &str, reason: impl Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, format!("{field}: {reason}"))
    }

    /// The api_key refused: HTTP 403 as the spec has it, `code` (401 or 403) in the body.
    fn key(code: u16, reason: impl Display) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, format!("api_key: {reason}"))
    }

    fn unavailable(reason: impl Display) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, 503, format!("{reason}; try again"))
    }

    fn store(e: &StoreError) -> Self {
        tracing::warn!(error = %e, "open311");
        Self::unavailable("the store did not answer")
    }

    fn render(&self, format: Format) -> Response {
        let error = Node::Object(vec![("code", Node::Integer(i64::from(self.code))), ("description", Node::text(&self.description))]);
        let mut response = render(format, self.status, &("errors", Node::List("error", vec![error])), "no-store");
        if let Some(seconds) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// A resource file name taken apart: `services.json` → (`services`, JSON). The format of an
/// unknown or missing suffix is an error, answered in XML (the spec's required format).
fn split_format(file: &str) -> (&str, Result<Format, Open311Error>) {
    let (name, suffix) = file.rsplit_once('.').unwrap_or((file, ""));
    let format = match suffix {
        "json" => Ok(Format::Json),
        "xml" => Ok(Format::Xml),
        _ => Err(Open311Error::invalid("format", format!("end the resource with .xml or .json (got {})", quote(file)))),
    };
    (name, format)
}

/// Answers a resource: the document, or the refusal, in the asked format.
fn answer(format: Result<Format, Open311Error>, result: impl FnOnce(Format) -> Result<Doc, Open311Error>, cache: &'static str) -> Response {
    match format {
        Ok(format) => match result(format) {
            Ok(doc) => render(format, StatusCode::OK, &doc, cache),
            Err(e) => e.render(format),
        },
        Err(e) => e.render(Format::Xml),
    }
}

/// The parameters of a query string or a form, in order.
struct Params(Vec<(String, String)>);

impl Params {
    /// The one value of `name`; absent when missing or blank (the spec's "optional": an empty
    /// parameter is no parameter). Given twice is refused rather than one silently chosen.
    fn one(&self, name: &str) -> Result<Option<&str>, Open311Error> {
        let mut values = self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.trim().is_empty());
        let first = values.next();
        if values.next().is_some() {
            return Err(Open311Error::invalid(name, "is given twice"));
        }
        Ok(first)
    }

    /// Every value of `name`, a parameter the spec lets repeat or hold a comma-separated list.
    fn list(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n == name).flat_map(|(_, v)| v.split(',')).map(str::trim).filter(|v| !v.is_empty()).collect()
    }
}

fn query_params(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Params, Open311Error> {
    query.map(|Query(pairs)| Params(pairs)).map_err(|e| Open311Error::invalid("query", e.body_text()))
}

// ─── Routes ──────────────────────────────────────────────────────────────────────────────

/// `GET /open311/v2/{discovery|services|requests}.{fmt}`.
pub async fn get_resource<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Path(file): Path<String>,
    scheme: Option<Extension<Scheme>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let (name, format) = split_format(&file);
    let city = services.city.current();
    match name {
        "discovery" => {
            let scheme = scheme.map_or("http", |Extension(Scheme(s))| s);
            answer(format, |_| Ok(discovery(&city, scheme, &headers)), "no-cache")
        }
        "services" => answer(format, |_| Ok(service_list(&city)), "no-cache"),
        "requests" => {
            let listed = match query_params(query) {
                Ok(params) => list_requests(&services, &params).await,
                Err(e) => Err(e),
            };
            answer(format, |_| listed, "no-cache")
        }
        _ => not_a_resource(&file, format),
    }
}

/// `GET /open311/v2/{services|requests|tokens}/{id}.{fmt}`.
pub async fn get_item<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Path((directory, file)): Path<(String, String)>,
) -> Response {
    let (id, format) = split_format(&file);
    let city = services.city.current();
    match directory.as_str() {
        "services" => answer(format, |_| service_definition(&city, id), "no-cache"),
        "requests" => {
            let found = one_request(&services, id).await;
            answer(format, |_| found, "no-cache")
        }
        "tokens" => {
            let found = token(&services, id).await;
            answer(format, |_| found, "no-store")
        }
        _ => not_a_resource(&format!("{directory}/{file}"), format),
    }
}

/// `POST /open311/v2/requests.{fmt}`, form-encoded.
pub async fn post_resource<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Path(file): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (name, format) = split_format(&file);
    if name != "requests" {
        return not_a_resource(&file, format);
    }
    let submitted = match form {
        Ok(Form(pairs)) => submit(&services, &Params(pairs)).await,
        Err(FormRejection::InvalidFormContentType(_)) => {
            Err(Open311Error::invalid("Content-Type", "must be application/x-www-form-urlencoded, as the spec sends a service request"))
        }
        Err(e) => Err(Open311Error::invalid("body", e.body_text())),
    };
    answer(format, |_| submitted, "no-store")
}

fn not_a_resource(path: &str, format: Result<Format, Open311Error>) -> Response {
    let e = Open311Error::not_found("resource", format!("{} is not a GeoReport v2 resource of this endpoint", quote(path)));
    e.render(format.unwrap_or(Format::Xml))
}

// ─── Discovery and services ──────────────────────────────────────────────────────────────

/// The endpoint's URL as the client reached it.
fn endpoint_url(scheme: &str, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    match host {
        Some(host) => format!("{scheme}://{host}{BASE_PATH}"),
        None => BASE_PATH.to_owned(),
    }
}

fn discovery(city: &CityConfig, scheme: &str, headers: &HeaderMap) -> Doc {
    let version = city.catalogue.version.clone();
    let endpoint = Node::Object(vec![
        ("specification", Node::text(SPECIFICATION)),
        ("url", Node::text(endpoint_url(scheme, headers))),
        ("changeset", Node::text(&version)),
        ("type", Node::text("production")),
        ("formats", Node::List("format", vec![Node::text("text/xml"), Node::text("application/json")])),
    ]);
    let doc = Node::Object(vec![
        ("changeset", Node::text(version)),
        ("contact", Node::text(format!("{}数字化城市管理指挥中心", city.name))),
        (
            "key_service",
            Node::text(
                "api_key 是 gridd 的机器密钥（gk_ 开头，角色 citizen_app），由系统管理员用 gridd key create citizen_app --name <应用名称> 签发",
            ),
        ),
        ("endpoints", Node::List("endpoint", vec![endpoint])),
    ]);
    ("discovery", doc)
}

/// A limit in Chinese: `4WH` → 4工作时.
fn limit_words(limit: LimitSpec) -> String {
    let whole = limit.milli_amount / 1000;
    let frac = limit.milli_amount % 1000;
    let amount = if frac == 0 { whole.to_string() } else { format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0')) };
    let unit = match limit.unit {
        LimitUnit::WorkingHours => "工作时",
        LimitUnit::WorkingDays => "工作日",
        LimitUnit::Hours => "小时",
        LimitUnit::Minutes => "分钟",
        LimitUnit::Seconds => "秒",
    };
    format!("{amount}{unit}")
}

fn urgency_words(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::Normal => "一般",
        Urgency::Urgent => "紧急",
    }
}

/// What the city commits to for terms of this urgency and limit.
fn terms_words(urgency: Urgency, handling: LimitSpec) -> String {
    format!("{}案件，派遣后{}内处置", urgency_words(urgency), limit_words(handling))
}

/// The big class (大类) a class belongs to, by the national catalogue's numbering; local
/// extensions beyond it are named as such.
fn group(code: &CategoryCode) -> &'static str {
    match (code.kind(), code.big_class()) {
        (Kind::Component, "01") => "公用设施",
        (Kind::Component, "02") => "道路交通",
        (Kind::Component, "03") => "市容环境",
        (Kind::Component, "04") => "园林绿化",
        (Kind::Component, "05") => "房屋土地",
        (Kind::Component, "06") => "其他设施",
        (Kind::Component, _) => "扩展部件",
        (Kind::Event, "01") => "市容环境",
        (Kind::Event, "02") => "宣传广告",
        (Kind::Event, "03") => "施工管理",
        (Kind::Event, "04") => "突发事件",
        (Kind::Event, "05") => "街面秩序",
        (Kind::Event, _) => "其他事件",
    }
}

fn service_node(class: &CategoryClass) -> Node {
    let kind = match class.code.kind() {
        Kind::Component => "部件",
        Kind::Event => "事件",
    };
    let mut description = format!("{kind}·{}：{}", group(&class.code), terms_words(class.urgency, class.handling));
    if !class.conditions.is_empty() {
        description.push_str("；按立案条件另有时限");
    }
    let keywords: Vec<String> =
        [class.name_en.clone(), class.pinyin_initials(), class.code.to_string()].into_iter().filter(|k| !k.is_empty()).collect();
    Node::Object(vec![
        ("service_code", Node::text(class.code.as_str())),
        ("service_name", Node::text(&class.name)),
        ("description", Node::text(description)),
        ("metadata", Node::Bool(!class.conditions.is_empty())),
        ("type", Node::text("batch")),
        ("keywords", Node::text(keywords.join(", "))),
        ("group", Node::text(group(&class.code))),
    ])
}

fn service_list(city: &CityConfig) -> Doc {
    ("services", Node::List("service", city.catalogue.classes().map(service_node).collect()))
}

/// The class of a `service_code`, or 404 naming it.
fn service<'a>(city: &'a CityConfig, code: &str) -> Result<&'a CategoryClass, Open311Error> {
    CategoryCode::parse(code).ok().and_then(|c| city.catalogue.get(&c)).ok_or_else(|| {
        Open311Error::not_found("service_code", format!("{} is not a service of {} (see services.json)", quote(code), city.name))
    })
}

fn service_definition(city: &CityConfig, code: &str) -> Result<Doc, Open311Error> {
    let class = service(city, code)?;
    let mut attributes = Vec::new();
    if !class.conditions.is_empty() {
        let values = class
            .conditions
            .iter()
            .map(|c| {
                let name = format!("{}（{}）", c.label, terms_words(c.urgency, c.handling));
                Node::Object(vec![("key", Node::text(&c.name)), ("name", Node::text(name))])
            })
            .collect();
        attributes.push(Node::Object(vec![
            ("variable", Node::Bool(true)),
            ("code", Node::text("condition")),
            ("datatype", Node::text("singlevaluelist")),
            ("required", Node::Bool(false)),
            ("datatype_description", Node::text(format!("不选即一般情形：{}", terms_words(class.urgency, class.handling)))),
            ("order", Node::Integer(1)),
            ("description", Node::text("立案条件：决定案件的紧急程度和处置时限")),
            ("values", Node::List("value", values)),
        ]));
    }
    let definition =
        Node::Object(vec![("service_code", Node::text(class.code.as_str())), ("attributes", Node::List("attribute", attributes))]);
    Ok(("service_definition", definition))
}

// ─── POST requests ───────────────────────────────────────────────────────────────────────

/// Checks `api_key` with the access layer's [`Access`]: a machine key allowed to submit
/// citizen reports (its intake rate counts the call).
async fn authenticate<S: Store>(access: &Access<S>, api_key: Option<&str>) -> Result<Grant, Open311Error> {
    let key = api_key.ok_or_else(|| Open311Error::key(401, "is required: a gridd machine key (gk_…) with role citizen_app"))?;
    if !key.starts_with("gk_") {
        return Err(Open311Error::key(401, "is not a gridd machine key (gk_<id>_<secret>)"));
    }
    access.authorize(Some(&format!("Bearer {key}")), Operation::SubmitCitizenReport).await.map_err(|e| match e {
        AccessError::Unauthenticated(why) => Open311Error::key(401, why),
        AccessError::NotPermitted { role, .. } => {
            Open311Error::key(403, format!("a key of role {} may not submit service requests (citizen_app may)", role.id()))
        }
        AccessError::TooMany { retry_after, .. } => Open311Error {
            retry_after: Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)),
            ..Open311Error::new(StatusCode::TOO_MANY_REQUESTS, 429, format!("api_key: {e}"))
        },
        AccessError::Unavailable(_) => Open311Error::unavailable("the identity store did not answer"),
        other => Open311Error::key(403, other),
    })
}

/// The citizen id gridd keeps, from the first of `account_id`, `device_id` or `email`, with
/// the field it came from.
fn citizen(p: &Params) -> Result<(&'static str, String), Open311Error> {
    let checked =
        |field: &'static str, value: &str| validate_token(field, value, MAX_CITIZEN_ID).map_err(|e| Open311Error::invalid(field, e.reason));
    if let Some(account) = p.one("account_id")? {
        checked("account_id", account)?;
        return Ok(("account_id", format!("account:{account}")));
    }
    if let Some(device) = p.one("device_id")? {
        checked("device_id", device)?;
        return Ok(("device_id", format!("device:{device}")));
    }
    if let Some(email) = p.one("email")? {
        let email = email.trim().to_lowercase();
        let plausible = email.len() <= MAX_EMAIL
            && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plausible {
            return Err(Open311Error::invalid("email", "is not an email address"));
        }
        return Ok(("email", format!("email:{}", digest(&[email.as_str()]))));
    }
    Err(Open311Error::invalid(
        "account_id",
        "one of account_id, device_id or email is required: gridd keeps who reported each problem (an email only as a digest)",
    ))
}

/// A SHA-256 digest of `parts` (separated so that no two lists join alike), 32 hex digits.
fn digest(parts: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(part.as_bytes());
        ctx.update(&[0]);
    }
    ctx.finish().as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A coordinate: a number within ±`bound`.
fn coordinate(field: &str, text: &str, bound: f64) -> Result<f64, Open311Error> {
    let value: f64 = text.trim().parse().map_err(|_| Open311Error::invalid(field, format!("{} is not a number", quote(text))))?;
    if !value.is_finite() || value.abs() > bound {
        return Err(Open311Error::invalid(field, format!("must be between -{bound} and {bound}")));
    }
    Ok(value)
}

/// The point of `lat` and `long` (WGS84), both required.
fn point(p: &Params) -> Result<v1::GeoPoint, Open311Error> {
    let (lat, long) = match (p.one("lat")?, p.one("long")?) {
        (Some(lat), Some(long)) => (lat, long),
        (None, None) => {
            return Err(Open311Error::invalid(
                "lat",
                "lat and long are required: gridd places every report on its unit grid by its point (address_string or address_id alone cannot be placed)",
            ));
        }
        (Some(_), None) => return Err(Open311Error::invalid("long", "is required with lat")),
        (None, Some(_)) => return Err(Open311Error::invalid("lat", "is required with long")),
    };
    Ok(v1::GeoPoint { lat: coordinate("lat", lat, 90.0)?, lon: coordinate("long", long, 180.0)?, crs: v1::CoordSystem::Wgs84.into() })
}

/// The filing condition from `attribute[condition]`; any other attribute is refused.
fn condition<'a>(p: &'a Params, class: &CategoryClass) -> Result<&'a str, Open311Error> {
    let mut condition: Option<&str> = None;
    for (name, value) in &p.0 {
        let Some(code) = name.strip_prefix("attribute[") else { continue };
        let code = code.strip_suffix(']').unwrap_or(code);
        if code == "condition][" {
            return Err(Open311Error::invalid("attribute[condition]", "is a single-value list: send one value"));
        }
        if code != "condition" {
            let shown = if code.len() <= 40 && code.bytes().all(|b| b.is_ascii_graphic()) { code.to_owned() } else { quote(code) };
            let known = if class.conditions.is_empty() { "it has none" } else { "its one attribute is condition" };
            return Err(Open311Error::invalid(&format!("attribute[{shown}]"), format!("is not an attribute of {} ({known})", class.code)));
        }
        if value.trim().is_empty() {
            continue;
        }
        if condition.replace(value.trim()).is_some() {
            return Err(Open311Error::invalid("attribute[condition]", "is a single-value list: send one value"));
        }
    }
    Ok(condition.unwrap_or(""))
}

/// A validated POST: the citizen report and what the answer needs.
struct Submission {
    request: v1::SubmitCitizenReportRequest,
    /// The Open311 field the citizen id came from.
    citizen_field: &'static str,
    /// The `account_id` to echo.
    account_id: Option<String>,
}

/// Maps the form onto the citizen channel (checks here only what intake cannot name in
/// Open311's terms; intake checks the rest).
fn citizen_report(city: &CityConfig, p: &Params, today: &str) -> Result<Submission, Open311Error> {
    let code = p.one("service_code")?.ok_or_else(|| Open311Error::invalid("service_code", "is required (see services.json)"))?;
    let class = service(city, code.trim())?;
    let condition = condition(p, class)?;
    let location = point(p)?;
    let (citizen_field, citizen_id) = citizen(p)?;
    let phone = p.one("phone")?.unwrap_or("").trim().to_owned();
    let media = p.one("media_url")?.map(|u| u.trim().to_owned());
    let address = p.one("address_string")?.unwrap_or("");
    let description = p.one("description")?.unwrap_or("");
    let idempotency_key = match p.one("client_token")? {
        Some(token) => token.to_owned(),
        None => {
            let (lat, long) = (p.one("lat")?.unwrap_or(""), p.one("long")?.unwrap_or(""));
            let media = media.as_deref().unwrap_or("");
            let parts =
                [today, citizen_id.as_str(), class.code.as_str(), condition, lat, long, address, description, media, phone.as_str()];
            format!("o311-{}", digest(&parts))
        }
    };
    let request = v1::SubmitCitizenReportRequest {
        idempotency_key,
        citizen_id,
        reply_required: !phone.is_empty(),
        phone,
        category: class.code.to_string(),
        condition: condition.to_owned(),
        location: Some(location),
        address: address.to_owned(),
        description: description.to_owned(),
        photo_urls: media.into_iter().collect(),
    };
    Ok(Submission { request, citizen_field, account_id: p.one("account_id")?.map(str::to_owned) })
}

/// The Open311 field of a gridd citizen-report field.
fn open311_field(field: &str, citizen_field: &'static str) -> String {
    match field {
        "category" => "service_code".into(),
        "condition" => "attribute[condition]".into(),
        "address" => "address_string".into(),
        "citizen_id" => citizen_field.into(),
        "idempotency_key" => "client_token".into(),
        "location.lat" => "lat".into(),
        f if f.starts_with("location") => "long".into(),
        f if f.starts_with("photo_urls") => "media_url".into(),
        other => other.into(),
    }
}

/// Intake's refusal in Open311's terms.
fn intake_refusal(status: &Status, citizen_field: &'static str) -> Open311Error {
    use gridd_proto::tonic_types::StatusExt as _;
    match status.code() {
        Code::InvalidArgument => {
            let details = status.get_error_details();
            match details.bad_request().and_then(|b| b.field_violations.first()) {
                Some(v) => Open311Error::invalid(&open311_field(&v.field, citizen_field), &v.description),
                None => Open311Error::invalid("request", status.message()),
            }
        }
        Code::AlreadyExists => {
            Open311Error::invalid("client_token", "was already used for a different report; use a new token for a new report")
        }
        Code::ResourceExhausted => Open311Error::new(StatusCode::TOO_MANY_REQUESTS, 429, format!("api_key: {}", status.message())),
        Code::Unauthenticated | Code::PermissionDenied => Open311Error::key(403, status.message()),
        Code::Unavailable => Open311Error::unavailable("the report could not be taken"),
        _ => Open311Error::invalid("request", format!("could not be taken: {}", status.message())),
    }
}

async fn submit<S: Store, K: IntakeSink>(s: &Services<S, K>, p: &Params) -> Result<Doc, Open311Error> {
    use v1::intake_service_server::IntakeService as _;
    let grant = authenticate(&s.access, p.one("api_key")?).await?;
    let city = s.city.current();
    let today = s.dispatch.now().local(city.calendar.offset()).date().to_string();
    let submission = citizen_report(&city, p, &today)?;
    let intake = s.intake.as_ref().ok_or_else(|| Open311Error::unavailable("this gridd process takes no reports"))?;
    let (category, condition) = (submission.request.category.clone(), submission.request.condition.clone());
    let mut request = tonic::Request::new(submission.request);
    request.extensions_mut().insert(grant);
    let receipt = intake.submit_citizen_report(request).await.map_err(|e| intake_refusal(&e, submission.citizen_field))?.into_inner();
    let terms = city.catalogue.terms(&category, &condition).ok();
    let what = terms.map_or_else(String::new, |t| {
        let label =
            t.condition.and_then(|c| t.class.conditions.iter().find(|x| x.name == c)).map_or(String::new(), |c| format!("（{}）", c.label));
        format!("{}{label}为{}；", t.class.name, terms_words(t.urgency, t.handling))
    });
    let notice = format!(
        "已受理，受理编号 {reference}。{what}立案后凭受理编号（tokens/{reference}）可查到案件编号和办理进度。",
        reference = receipt.reference
    );
    let answer = Node::Object(vec![
        ("token", Node::text(&receipt.reference)),
        ("service_notice", Node::text(notice)),
        ("account_id", submission.account_id.map_or(Node::Null, Node::Text)),
    ]);
    Ok(service_requests(vec![answer]))
}

// ─── GET requests and tokens ─────────────────────────────────────────────────────────────

/// A date-time as the spec writes it (w3, with the city's offset).
fn w3(t: Timestamp, city: &CityConfig) -> String {
    t.utc().with_timezone(&city.calendar.offset()).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses a w3 date-time (`2026-01-01T00:00:00+08:00`, `…Z`), or a date alone (midnight in
/// the city). A `+` that reached the query undecoded reads as a space, so one is put back.
fn parse_w3(field: &str, text: &str, city: &CityConfig) -> Result<Timestamp, Open311Error> {
    let text = text.trim();
    let repaired = text.replacen(' ', "+", 1);
    for candidate in [text, repaired.as_str()] {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(candidate) {
            return Ok(Timestamp::from_millis(t.timestamp_millis()));
        }
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Timestamp::from_local(day.and_time(chrono::NaiveTime::MIN), city.calendar.offset()));
    }
    Err(Open311Error::invalid(field, format!("{} is not a w3 date-time such as 2026-01-01T00:00:00+08:00", quote(text))))
}

/// The `[from, to]` of a listing: at most 90 days, the most recent 90 by default.
fn date_range(p: &Params, city: &CityConfig, now: Timestamp) -> Result<(Timestamp, Timestamp), Open311Error> {
    let start = p.one("start_date")?.map(|t| parse_w3("start_date", t, city)).transpose()?;
    let end = p.one("end_date")?.map(|t| parse_w3("end_date", t, city)).transpose()?;
    match (start, end) {
        (None, None) => Ok((now.add_millis(-SPAN_MS), now)),
        (Some(start), None) => Ok((start, start.add_millis(SPAN_MS))),
        (None, Some(end)) => Ok((end.add_millis(-SPAN_MS), end)),
        (Some(start), Some(end)) if end < start => Err(Open311Error::invalid("end_date", "must not be before start_date")),
        (Some(start), Some(end)) if end.millis_since(start) > SPAN_MS => {
            Err(Open311Error::invalid("end_date", "may be at most 90 days after start_date"))
        }
        (Some(start), Some(end)) => Ok((start, end)),
    }
}

/// Checks a request id, token or service request id before it is looked up.
fn checked_id<'a>(field: &str, id: &'a str) -> Result<&'a str, Open311Error> {
    if id.is_empty() || id.len() > MAX_ID || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Open311Error::not_found(field, format!("{} is not a {field} of this endpoint", quote(id))));
    }
    Ok(id)
}

/// The case `id` names: a case number, or the reference of one of its reports.
fn find_case(tx: &mut dyn ReadTx, id: &str) -> Result<Option<Ticket>, StoreError> {
    if let Some(t) = tx.ticket(&TicketId::new(id))? {
        return Ok(Some(t));
    }
    match tx.report_status(&Reference::new(id))? {
        ReportStatus::Linked(case) => tx.ticket(&case),
        ReportStatus::Pending | ReportStatus::Unknown => Ok(None),
    }
}

/// The cases with their last change (the time of their last ticket event).
fn with_last_change(tx: &mut dyn ReadTx, tickets: Vec<Ticket>) -> Result<Vec<(Ticket, Option<Timestamp>)>, StoreError> {
    tickets
        .into_iter()
        .map(|t| {
            let last = tx.last_ticket_change_at(&t.id)?;
            Ok((t, last))
        })
        .collect()
}

/// How a listing is filtered.
#[derive(Debug, Clone)]
enum Selection {
    /// These ids, in this order (the spec: they override every other argument).
    Ids(Vec<String>),
    /// Cases filed in a range, of some categories (none: all) and states (none: all).
    Filter { categories: Vec<CategoryCode>, states: Vec<TicketState>, from: Timestamp, to: Timestamp },
}

fn selection(p: &Params, city: &CityConfig, now: Timestamp) -> Result<Selection, Open311Error> {
    let ids = p.list("service_request_id");
    if !ids.is_empty() {
        if ids.len() > MAX_REQUESTS {
            return Err(Open311Error::invalid("service_request_id", format!("at most {MAX_REQUESTS} ids, got {}", ids.len())));
        }
        let ids = ids.into_iter().map(|id| checked_id("service_request_id", id).map(str::to_owned)).collect::<Result<_, _>>()?;
        return Ok(Selection::Ids(ids));
    }
    let categories =
        p.list("service_code").into_iter().map(|code| service(city, code).map(|c| c.code.clone())).collect::<Result<_, _>>()?;
    let mut closed = HashSet::new();
    for status in p.list("status") {
        match status {
            "open" => closed.insert(false),
            "closed" => closed.insert(true),
            other => return Err(Open311Error::invalid("status", format!("{} is not a status: use open or closed", quote(other)))),
        };
    }
    let states =
        if closed.len() == 1 { TicketState::ALL.into_iter().filter(|s| closed.contains(&s.is_terminal())).collect() } else { Vec::new() };
    let (from, to) = date_range(p, city, now)?;
    Ok(Selection::Filter { categories, states, from, to })
}

/// Reads the cases of a selection, newest first, at most [`MAX_REQUESTS`].
fn select(tx: &mut dyn ReadTx, selection: &Selection) -> Result<Vec<Ticket>, StoreError> {
    match selection {
        Selection::Ids(ids) => {
            let mut seen = HashSet::new();
            let mut cases = Vec::new();
            for id in ids {
                if let Some(t) = find_case(tx, id)? {
                    if seen.insert(t.id.clone()) {
                        cases.push(t);
                    }
                }
            }
            Ok(cases)
        }
        Selection::Filter { categories, states, from, to } => {
            let filter = |category: Option<CategoryCode>| TicketFilter {
                states: states.clone(),
                category,
                created_from: Some(*from),
                // The spec's end_date is the latest time included; the store's bound excludes.
                created_to: Some(to.add_millis(1)),
                limit: MAX_REQUESTS,
                ..TicketFilter::default()
            };
            let mut cases = Vec::new();
            if categories.is_empty() {
                cases = tx.list_tickets(&filter(None))?;
            } else {
                for category in categories {
                    cases.extend(tx.list_tickets(&filter(Some(category.clone())))?);
                }
                cases.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
                cases.truncate(MAX_REQUESTS);
            }
            Ok(cases)
        }
    }
}

async fn list_requests<S: Store, K: IntakeSink>(s: &Services<S, K>, p: &Params) -> Result<Doc, Open311Error> {
    let city = s.city.current();
    let selection = selection(p, &city, s.dispatch.now())?;
    let cases = s
        .store
        .read(move |tx| {
            let cases = select(tx, &selection)?;
            with_last_change(tx, cases)
        })
        .await
        .map_err(|e| Open311Error::store(&e))?;
    Ok(service_requests(cases.iter().map(|(t, last)| request_node(&city, t, *last)).collect()))
}

async fn one_request<S: Store, K: IntakeSink>(s: &Services<S, K>, id: &str) -> Result<Doc, Open311Error> {
    let id = checked_id("service_request_id", id)?.to_owned();
    let lookup = id.clone();
    let found = s
        .store
        .read(move |tx| {
            let case = find_case(tx, &lookup)?;
            with_last_change(tx, case.into_iter().collect())
        })
        .await
        .map_err(|e| Open311Error::store(&e))?;
    let city = s.city.current();
    match found.first() {
        Some((t, last)) => Ok(service_requests(vec![request_node(&city, t, *last)])),
        None => Err(Open311Error::not_found(
            "service_request_id",
            format!("no service request {} (a token not yet placed in a case is answered at tokens/{id})", quote(&id)),
        )),
    }
}

async fn token<S: Store, K: IntakeSink>(s: &Services<S, K>, token: &str) -> Result<Doc, Open311Error> {
    let token = checked_id("token", token)?.to_owned();
    let reference = Reference::new(token.as_str());
    let status = s.store.read(move |tx| tx.report_status(&reference)).await.map_err(|e| Open311Error::store(&e))?;
    let case = match status {
        ReportStatus::Linked(case) => Node::text(case.as_str()),
        // Accepted, not yet placed by the router: the id comes shortly.
        ReportStatus::Pending => Node::Null,
        ReportStatus::Unknown => return Err(Open311Error::not_found("token", format!("no token {}", quote(&token)))),
    };
    Ok(service_requests(vec![Node::Object(vec![("service_request_id", case), ("token", Node::text(token))])]))
}

fn cancel_words(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::Duplicate => "与其他案件重复",
        CancelReason::Invalid => "经查不属实",
        CancelReason::OutOfScope => "不属于城市管理范围",
        CancelReason::AlreadyFixed => "问题已经解决",
    }
}

fn not_filed_words(reason: NotFiledReason) -> &'static str {
    match reason {
        NotFiledReason::NotAProblem => "现场未发现所报问题",
        NotFiledReason::NotCityBusiness => "不属于城市管理范围",
        NotFiledReason::AlreadyFixed => "问题已经解决",
    }
}

/// Where the case stands, in plain words for the person who reported it.
fn status_notes(t: &Ticket, squad: Option<&str>) -> String {
    let squad = squad.unwrap_or("承办单位");
    match t.state {
        TicketState::Verifying => "已受理，等待网格监督员现场核实".into(),
        TicketState::NotFiled => match t.not_filed {
            Some(reason) => format!("经现场核实不予立案：{}", not_filed_words(reason)),
            None => "经现场核实不予立案".into(),
        },
        TicketState::Registered => "已立案，等待指挥中心派遣".into(),
        TicketState::Dispatched => format!("已派遣至{squad}，等待签收"),
        TicketState::Accepted => format!("{squad}已签收，即将处置"),
        TicketState::InProgress => format!("{squad}正在现场处置"),
        TicketState::Returned => "承办单位认为不属其职责，已退回指挥中心，等待改派".into(),
        TicketState::Checking => format!("{squad}已处置完毕，等待核查"),
        TicketState::Rework => format!("核查未通过，{squad}正在返工处置"),
        TicketState::Suspended => "经批准暂缓处置".into(),
        TicketState::Closed => match t.close_type {
            Some(CloseType::Special) => "已结案".into(),
            _ => "已处置完毕，经核查合格，已结案".into(),
        },
        TicketState::Cancelled => match t.cancel_reason {
            Some(reason) => format!("已作废：{}", cancel_words(reason)),
            None => "已作废".into(),
        },
    }
}

/// The address from the most specific part to the most general, as the spec asks.
fn address(city: &CityConfig, t: &Ticket) -> String {
    let mut parts: Vec<&str> = vec![t.address.as_str()];
    if let Some(cell) = &t.cell {
        parts.extend([cell.community_name.as_str(), cell.street_name.as_str()]);
    }
    parts.push(city.name.as_str());
    parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("，")
}

/// The first photo sent with one of the case's reports; camera frames are not published.
fn media_url(t: &Ticket) -> Option<&str> {
    t.reports.iter().filter(|r| r.channel != Channel::Camera).flat_map(|r| r.photo_urls.iter()).next().map(String::as_str)
}

/// A case as a service request. Only what the public may see: no caller's name or number.
fn request_node(city: &CityConfig, t: &Ticket, last_change: Option<Timestamp>) -> Node {
    let squad = t.squad.as_ref().and_then(|s| city.responsibility.squad(s)).map(|s| s.name.as_str());
    let closed = t.state.is_terminal();
    let changed = if closed { t.closed_at.or(last_change) } else { last_change };
    let updated = changed.map_or(t.created_at, |c| c.max(t.created_at));
    let expected = t.handling.as_ref().filter(|_| !closed).map(|clock| clock.deadline);
    // Seven decimals are a centimetre: the rest is the noise of datum conversion.
    let point = |value: fn(geo::Point<f64>) -> f64| t.location.map_or(Node::Null, |p| Node::Number((value(p) * 1e7).round() / 1e7));
    Node::Object(vec![
        ("service_request_id", Node::text(t.id.as_str())),
        ("status", Node::text(if closed { "closed" } else { "open" })),
        ("status_notes", Node::text(status_notes(t, squad))),
        ("service_name", city.catalogue.get(&t.category).map_or(Node::Null, |c| Node::text(&c.name))),
        ("service_code", Node::text(t.category.as_str())),
        ("description", Node::some_text(&t.description)),
        ("agency_responsible", squad.map_or(Node::Null, Node::text)),
        ("service_notice", if closed { Node::Null } else { Node::text(terms_words(t.urgency, t.handling_spec)) }),
        ("requested_datetime", Node::text(w3(t.created_at, city))),
        ("updated_datetime", Node::text(w3(updated, city))),
        ("expected_datetime", expected.map_or(Node::Null, |d| Node::text(w3(d, city)))),
        ("address", Node::some_text(address(city, t))),
        ("address_id", t.cell.as_ref().map_or(Node::Null, |c| Node::text(c.cell_code.to_string()))),
        ("zipcode", Node::Null),
        ("lat", point(geo::Point::y)),
        ("long", point(geo::Point::x)),
        ("media_url", media_url(t).map_or(Node::Null, Node::text)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn one_tree_writes_both_formats() {
        let doc = service_requests(vec![Node::Object(vec![
            ("service_request_id", Node::text("A<1>&\"'")),
            ("lat", Node::Number(34.372)),
            ("zipcode", Node::Null),
            ("flag", Node::Bool(true)),
            ("values", Node::List("value", vec![Node::Object(vec![("key", Node::text("k"))])])),
        ])]);
        let mut xml = String::new();
        doc.1.write_xml(doc.0, &mut xml);
        assert_eq!(
            xml,
            "<service_requests><request><service_request_id>A&lt;1&gt;&amp;&quot;&apos;</service_request_id><lat>34.372</lat><zipcode/>\
             <flag>true</flag><values><value><key>k</key></value></values></request></service_requests>"
        );
        assert_eq!(
            doc.1.json(),
            serde_json::json!([{ "service_request_id": "A<1>&\"'", "lat": 34.372, "zipcode": null, "flag": true, "values": [{ "key": "k" }] }])
        );
    }

    #[test]
    fn xml_text_drops_what_xml_cannot_carry() {
        let mut out = String::new();
        escape_xml("a\u{1}b\tc\n\u{fffe}", &mut out);
        assert_eq!(out, "ab\tc\n");
    }

    #[test]
    fn suffixes_choose_the_format() {
        assert_eq!(split_format("services.json").1, Ok(Format::Json));
        assert_eq!(split_format("E0102.xml"), ("E0102", Ok(Format::Xml)));
        let (name, format) = split_format("requests");
        assert_eq!(name, "requests");
        assert!(format.expect_err("no suffix").description.starts_with("format: "));
        assert!(split_format("requests.html").1.is_err());
    }

    #[test]
    fn parameters_given_twice_or_blank() {
        let p = params(&[("lat", "1"), ("lat", "2"), ("phone", " "), ("status", "open, closed"), ("status", "open")]);
        assert_eq!(p.one("lat").expect_err("twice").description, "lat: is given twice");
        assert_eq!(p.one("phone").expect("blank is absent"), None);
        assert_eq!(p.list("status"), ["open", "closed", "open"]);
    }

    #[test]
    fn coordinates_name_their_field() {
        let e = point(&params(&[("lat", "91"), ("long", "118.35")])).expect_err("out of range");
        assert_eq!((e.status, e.description.as_str()), (StatusCode::BAD_REQUEST, "lat: must be between -90 and 90"));
        let e = point(&params(&[("lat", "34.3"), ("long", "x")])).expect_err("not a number");
        assert_eq!(e.description, "long: \"x\" is not a number");
        assert!(
            point(&params(&[("address_string", "新安路")]))
                .expect_err("no point")
                .description
                .starts_with("lat: lat and long are required")
        );
        assert_eq!(point(&params(&[("lat", "34.3")])).expect_err("half").description, "long: is required with lat");
        let p = point(&params(&[("lat", "34.372"), ("long", "118.35")])).expect("a point");
        assert_eq!((p.lat, p.lon), (34.372, 118.35));
    }

    #[test]
    fn the_citizen_id_comes_from_the_first_identifier_given() {
        let (field, id) = citizen(&params(&[("device_id", "dev-1"), ("email", "a@b.cn")])).expect("device");
        assert_eq!((field, id.as_str()), ("device_id", "device:dev-1"));
        let (field, id) = citizen(&params(&[("email", " Zhang@Example.CN ")])).expect("email");
        assert_eq!(field, "email");
        assert_eq!(id, citizen(&params(&[("email", "zhang@example.cn")])).expect("email").1, "the digest ignores case and spaces");
        assert!(!id.contains("zhang"), "the address is not kept: {id}");
        assert_eq!(citizen(&params(&[("email", "not-an-address")])).expect_err("bad").description, "email: is not an email address");
        assert!(citizen(&params(&[])).expect_err("none").description.starts_with("account_id: one of account_id, device_id or email"));
        assert!(citizen(&params(&[("account_id", "a b")])).expect_err("space").description.starts_with("account_id: "));
    }

    #[test]
    fn gridd_fields_are_named_in_open311_terms() {
        assert_eq!(open311_field("photo_urls[0]", "email"), "media_url");
        assert_eq!(open311_field("location.lat", "email"), "lat");
        assert_eq!(open311_field("location.lon", "email"), "long");
        assert_eq!(open311_field("citizen_id", "device_id"), "device_id");
        assert_eq!(open311_field("condition", "email"), "attribute[condition]");
        assert_eq!(open311_field("description", "email"), "description");
    }

    #[test]
    fn limits_read_in_chinese() {
        let limit = |s: &str| limit_words(LimitSpec::parse(s).expect("limit"));
        assert_eq!(limit("4WH"), "4工作时");
        assert_eq!(limit("1.5h"), "1.5小时");
        assert_eq!(limit("0.25WD"), "0.25工作日");
        assert_eq!(limit("30min"), "30分钟");
    }
}
