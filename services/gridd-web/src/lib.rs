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
//!   and the cells in view, simplified when zoomed out.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gridd_access::service::AuthGrpc;
use gridd_config::CityHandle;
use gridd_gateway::dispatch::DispatchGrpc;
use gridd_gateway::grid::GridGrpc;
use gridd_gateway::squad::SquadGrpc;
use gridd_ingest::IntakeSink;
use gridd_ingest::grpc::IntakeGrpc;
use gridd_store::Store;

pub mod map;
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
        .route("/assets/{*path}", get(|axum::extract::Path(path): axum::extract::Path<String>| async move { asset(&path) }))
        .route("/v1/rpc/{service}/{method}", post(rpc::call::<S, K>))
        .route("/v1/watch/tickets", get(watch::tickets::<S, K>))
        .route("/v1/watch/tasks", get(watch::tasks::<S, K>))
        .route("/v1/map/layers", get(map::layers::<S, K>))
        .route("/v1/map/cells", get(map::cells::<S, K>))
        .layer(axum::Extension(maps))
        .with_state(services)
}

/// Redirects to the dashboard, keeping the query (`/?wall=1` opens the wall layout).
async fn to_dashboard(uri: axum::http::Uri) -> Redirect {
    match uri.query() {
        Some(query) => Redirect::to(&format!("/dashboard/?{query}")),
        None => Redirect::to("/dashboard/"),
    }
}

/// What the pages may load: only this origin (no inline script, no third party).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An embedded asset, or 404.
fn asset(path: &str) -> Response {
    let Some((_, bytes, content_type)) = embedded::ASSETS.iter().find(|(p, _, _)| *p == path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut response = (*bytes).into_response();
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
