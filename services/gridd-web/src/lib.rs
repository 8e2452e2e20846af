//! gridd's web apps and the HTTP routes they use, served by the gateway role on its HTTP
//! listener behind the same access layer as gRPC:
//!
//! - the dashboard's assets (`assets/`, embedded in the binary at build time: no CDN, no tile
//!   server, nothing to install), at `/dashboard/` and `/assets/…`;
//! - [`rpc`]: every unary gRPC operation as `POST /v1/rpc/<package.Service>/<Method>`, the
//!   same messages in the proto3 JSON mapping, handled by the very gRPC service
//!   implementations (so each operation's logic exists once);
//! - [`watch`]: the `Watch*` streams as Server-Sent Events, resumable with `Last-Event-ID`;
//! - [`map`]: the city's own shapes for the map — outline, street and community boundaries,
//!   and the cells in view, simplified when zoomed out;
//! - [`photos`]: photos of a case, uploaded by the squad's terminal and kept in the store;
//! - [`open311`]: Open311 GeoReport v2 at `/open311/v2/`, for the citizen apps and civic tools
//!   of the international standard: the catalogue as services, reports in on the citizen
//!   channel, cases out as service requests;
//! - the squad terminal (`/terminal/`, an installable PWA) and the hotline console
//!   (`/console/`), on the same assets, sign-in and routes as the dashboard.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gridd_access::Access;
use gridd_access::service::AuthGrpc;
use gridd_config::CityHandle;
use gridd_gateway::dispatch::DispatchGrpc;
use gridd_gateway::grid::GridGrpc;
use gridd_gateway::squad::SquadGrpc;
use gridd_ingest::IntakeSink;
use gridd_ingest::grpc::IntakeGrpc;
use gridd_store::Store;

mod content_type;
pub mod map;
pub mod open311;
pub mod photos;
pub mod rpc;
pub mod watch;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// The services the routes call: the same instances the gRPC server serves.
pub struct Services<S, K> {
    /// DispatchService.
    pub dispatch: Arc<DispatchGrpc<S>>,
    /// SquadService.
    pub squad: Arc<SquadGrpc<S>>,
    /// GridService.
    pub grid: Arc<GridGrpc>,
    /// AuthService.
    pub auth: Arc<AuthGrpc<S>>,
    /// IntakeService, where this process takes reports.
    pub intake: Option<Arc<IntakeGrpc<K>>>,
    /// The store (for the log's end when a stream starts at "now").
    pub store: S,
    /// The city (for the map).
    pub city: CityHandle,
    /// Access, for routes that take credentials in their body (Open311's `api_key`).
    pub access: Access<S>,
}

impl<S, K> Clone for Services<S, K>
where
    S: Clone,
{
    fn clone(&self) -> Self {
        Self {
            dispatch: self.dispatch.clone(),
            squad: self.squad.clone(),
            grid: self.grid.clone(),
            auth: self.auth.clone(),
            intake: self.intake.clone(),
            store: self.store.clone(),
            city: self.city.clone(),
            access: self.access.clone(),
        }
    }
}

/// The web routes (the access layer is applied by the caller, over these and the others).
pub fn routes<S: Store, K: IntakeSink>(services: Services<S, K>) -> axum::Router {
    let maps = Arc::new(map::Maps::default());
    axum::Router::new()
        .route("/", get(to_dashboard))
        .route("/dashboard", get(to_dashboard))
        .route("/dashboard/", get(|| async { asset("index.html") }))
        .route("/terminal", get(|| async { Redirect::to("/terminal/") }))
        .route("/terminal/", get(|| async { asset("terminal.html") }))
        .route("/terminal/sw.js", get(|| async { asset("terminal-sw.js") }))
        .route("/terminal/manifest.webmanifest", get(|| async { asset("terminal.webmanifest") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { asset("console.html") }))
        .route("/assets/{*path}", get(|axum::extract::Path(path): axum::extract::Path<String>| async move { asset(&path) }))
        .route("/v1/rpc/{service}/{method}", post(rpc::call::<S, K>))
        .route("/v1/watch/tickets", get(watch::tickets::<S, K>))
        .route("/v1/watch/tasks", get(watch::tasks::<S, K>))
        .route("/v1/watch/verifications", get(watch::verifications::<S, K>))
        .route("/v1/map/layers", get(map::layers::<S, K>))
        .route("/v1/map/cells", get(map::cells::<S, K>))
        .route(
            "/v1/tickets/{id}/photos",
            post(photos::upload::<S, K>).layer(axum::extract::DefaultBodyLimit::max(photos::MAX_PHOTO_BYTES + 1)),
        )
        .route("/v1/photos/{id}", get(photos::download::<S, K>))
        .route("/v1/assessment/{period}/{file}", get(assessment_csv::<S, K>))
        .route("/open311/v2/{file}", get(open311::get_resource::<S, K>).post(open311::post_resource::<S, K>))
        .route("/open311/v2/{directory}/{file}", get(open311::get_item::<S, K>))
        .layer(axum::Extension(maps))
        .with_state(services)
}

/// Redirects to the dashboard, keeping the query (`/?wall=1` opens the wall layout).
/// `GET /v1/assessment/{period}/figures.csv` (a unit per row) and `.../cases.csv` (the ledger
/// lines behind every figure): the month's 考核 for spreadsheets, with a BOM so Excel reads the
/// Chinese names as UTF-8.
async fn assessment_csv<S: Store, K: IntakeSink>(
    axum::extract::State(services): axum::extract::State<Services<S, K>>,
    axum::extract::Path((period, file)): axum::extract::Path<(String, String)>,
) -> Response {
    use gridd_gateway::assessment;
    let city = services.city.current();
    let csv = match assessment::period(&period) {
        Err(status) => Err(status),
        Ok(month) => match file.as_str() {
            "figures.csv" => assessment::report(&services.store, &city, month).await.map(|r| assessment::figures_csv(&city, &r)),
            "cases.csv" => assessment::cases_csv(&services.store, &city, month).await,
            _ => Err(gridd_proto::tonic::Status::not_found(format!(
                "no export {}; there are figures.csv and cases.csv",
                gridd_access::quote(&file)
            ))),
        },
    };
    match csv {
        Ok(csv) => {
            let disposition = format!("attachment; filename=\"gridd-assessment-{period}-{file}\"");
            let headers = [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ];
            (headers, format!("\u{feff}{csv}")).into_response()
        }
        Err(status) => status_response(&status),
    }
}

async fn to_dashboard(uri: axum::http::Uri) -> Redirect {
    match uri.query() {
        Some(query) => Redirect::to(&format!("/dashboard/?{query}")),
        None => Redirect::to("/dashboard/"),
    }
}

/// What the pages may load: only this origin (no inline script, no third party).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Where assets are read from disk instead of the binary, when set: `GRIDD_ASSETS_DIR`, for
/// working on the pages without rebuilding. Only files the binary embeds are served, so the
/// directory cannot widen what is reachable.
fn assets_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("GRIDD_ASSETS_DIR").map(std::path::PathBuf::from)).as_deref()
}

/// An asset from `GRIDD_ASSETS_DIR`: a relative path of plain names only (no `..`).
fn asset_from_disk(dir: &std::path::Path, path: &str) -> Option<(axum::body::Body, &'static str)> {
    let plain = !path.is_empty() && path.split('/').all(|part| !part.is_empty() && part != ".." && part != "." && !part.contains('\\'));
    if !plain {
        return None;
    }
    let file = dir.join(path);
    Some((std::fs::read(&file).ok()?.into(), content_type::content_type(&file)))
}

/// An embedded asset (or, when `GRIDD_ASSETS_DIR` is set, the file there), or 404.
fn asset(path: &str) -> Response {
    let found = match assets_dir() {
        Some(dir) => asset_from_disk(dir, path),
        None => embedded::ASSETS
            .iter()
            .find(|(p, _, _)| *p == path)
            .map(|(_, bytes, content_type)| (axum::body::Body::from(*bytes), *content_type)),
    };
    let Some((bytes, content_type)) = found else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut response = Response::new(bytes);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Assets change with the binary: revalidate every time (they are small, and a city
    // upgrading gridd must not keep yesterday's script).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The JSON error body of a refused call: `{"code", "message", "field"?}` with the status of
/// [`gridd_proto::status::http_status`].
pub fn status_response(status: &gridd_proto::tonic::Status) -> Response {
    use gridd_proto::tonic_types::StatusExt as _;
    let (http, code) = gridd_proto::status::http_status(status.code());
    let field = status.get_error_details().bad_request().and_then(|b| b.field_violations.first().map(|v| v.field.clone()));
    let mut body = serde_json::json!({ "code": code, "message": status.message() });
    if let Some(field) = field {
        body["field"] = serde_json::Value::String(field);
    }
    (http, axum::Json(body)).into_response()
}
