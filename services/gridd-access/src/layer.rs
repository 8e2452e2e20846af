//! The one access layer, in front of every gRPC service ([`GrpcAccessLayer`], a tower layer)
//! and every HTTP route ([`http_guard`], axum middleware). Both classify the request, ask
//! [`Access::authorize`], and either refuse with the code of [`AccessError::code`] or pass
//! the request on with its [`Grant`](crate::Grant) in the extensions.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gridd_proto::tonic;
use gridd_store::Store;

use crate::access::Access;
use crate::error::AccessError;
use crate::permission::{GrpcRoute, Operation, grpc_route};

/// Refusals counted for metrics and logged at debug level (a client retrying without
/// credentials must not flood the log).
fn refused(e: &AccessError, path: &str) {
    metrics::counter!("gridd_access_refusals_total", "code" => e.kind()).increment(1);
    tracing::debug!(path, "refused: {e}");
}

fn authorization(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(http::header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

impl<S: Store> Access<S> {
    /// What a request needs: nothing (`Ok(None)`), or a grant for a protected operation.
    async fn admit(&self, route: GrpcRoute, headers: &http::HeaderMap) -> Result<Option<crate::Grant>, AccessError> {
        match route {
            GrpcRoute::Open => Ok(None),
            GrpcRoute::Reflection if self.config().open_reflection => Ok(None),
            GrpcRoute::Reflection => self.authorize(authorization(headers), Operation::Reflection).await.map(Some),
            GrpcRoute::Protected(op) => self.authorize(authorization(headers), op).await.map(Some),
            // Signed-in callers learn the method does not exist; others learn nothing.
            GrpcRoute::Unknown => self.authenticate(authorization(headers)).await.map(|_| None),
        }
    }
}

/// The tower layer that puts [`Access`] in front of the gRPC services.
pub struct GrpcAccessLayer<S> {
    access: Access<S>,
}

impl<S> GrpcAccessLayer<S> {
    /// The layer.
    pub fn new(access: Access<S>) -> Self {
        Self { access }
    }
}

impl<S> Clone for GrpcAccessLayer<S> {
    fn clone(&self) -> Self {
        Self { access: self.access.clone() }
    }
}

impl<S: Clone, Inner> tower::Layer<Inner> for GrpcAccessLayer<S> {
    type Service = GrpcAccess<S, Inner>;

    fn layer(&self, inner: Inner) -> Self::Service {
        GrpcAccess { access: self.access.clone(), inner }
    }
}

/// The service [`GrpcAccessLayer`] wraps around the gRPC routes.
#[derive(Clone)]
pub struct GrpcAccess<S, Inner> {
    access: Access<S>,
    inner: Inner,
}

impl<S, Inner, ReqBody> tower::Service<http::Request<ReqBody>> for GrpcAccess<S, Inner>
where
    S: Store,
    Inner: tower::Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    Inner::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Inner::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // The clone that was made ready stays with this call (tower's readiness contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let access = self.access.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            match access.admit(grpc_route(&path), request.headers()).await {
                Ok(grant) => {
                    if let Some(grant) = grant {
                        request.extensions_mut().insert(grant);
                    }
                    inner.call(request).await
                }
                Err(e) => {
                    refused(&e, &path);
                    Ok(e.status().into_http())
                }
            }
        })
    }
}

/// What an HTTP path needs: the operations of `/v1/rpc/<service>/<method>` are the gRPC
/// methods of the same name, so both encodings meet one permission table.
fn http_route<S: Store>(access: &Access<S>, path: &str) -> GrpcRoute {
    match path {
        "/health/livez" | "/health/readyz" => GrpcRoute::Open,
        "/v1/auth/sign-in" | "/v1/auth/refresh" | "/v1/auth/sign-out" => GrpcRoute::Open,
        // The web apps' pages and assets hold no data; they sign in through the routes above.
        "/" | "/dashboard" | "/dashboard/" | "/terminal" | "/terminal/" | "/console" | "/console/" => GrpcRoute::Open,
        "/terminal/sw.js" | "/terminal/manifest.webmanifest" => GrpcRoute::Open,
        p if p.starts_with("/assets/") => GrpcRoute::Open,
        "/metrics" if access.config().open_metrics => GrpcRoute::Open,
        "/metrics" => GrpcRoute::Protected(Operation::Metrics),
        "/v1/auth/me" => GrpcRoute::Protected(Operation::WhoAmI),
        "/v1/watch/tickets" => GrpcRoute::Protected(Operation::WatchTickets),
        "/v1/watch/tasks" => GrpcRoute::Protected(Operation::WatchTasks),
        "/v1/watch/verifications" => GrpcRoute::Protected(Operation::WatchVerifications),
        p if p.starts_with("/v1/map/") => GrpcRoute::Protected(Operation::GetGrid),
        // Uploading a case's photos is part of reporting it handled; reading one, of reading
        // the case. The handlers check the case's squad against the caller's scope.
        p if p.starts_with("/v1/tickets/") && p.ends_with("/photos") => GrpcRoute::Protected(Operation::ResolveTask),
        p if p.starts_with("/v1/photos/") => GrpcRoute::Protected(Operation::GetTicket),
        // The 考核's CSV exports are the report in another form.
        p if p.starts_with("/v1/assessment/") => GrpcRoute::Protected(Operation::GetAssessment),
        // Open311 GeoReport v2: its clients read without credentials (what is published is what
        // the public may see of a case, never who reported it), and a POST carries its key in
        // the form as `api_key`, which the handler authorizes as SubmitCitizenReport.
        p if p.starts_with("/open311/v2/") => GrpcRoute::Open,
        p => match p.strip_prefix("/v1/rpc") {
            Some(rpc) => grpc_route(rpc),
            None => GrpcRoute::Unknown,
        },
    }
}

/// Axum middleware: the same decisions for the HTTP routes.
pub async fn http_guard<S: Store>(State(access): State<Access<S>>, mut request: Request, next: Next) -> Response {
    let route = http_route(&access, request.uri().path());
    match access.admit(route, request.headers()).await {
        Ok(grant) => {
            if let Some(grant) = grant {
                request.extensions_mut().insert(grant);
            }
            next.run(request).await
        }
        Err(e) => {
            refused(&e, request.uri().path());
            http_refusal(&e)
        }
    }
}

/// An HTTP refusal: the status of its code and a JSON body
/// `{"code": …, "message": …}`, with `WWW-Authenticate` or `Retry-After` where they apply.
pub fn http_refusal(e: &AccessError) -> Response {
    let (status, _) = gridd_proto::status::http_status(e.code());
    let body = serde_json::json!({ "code": e.kind(), "message": e.to_string() });
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    match e {
        AccessError::Unauthenticated(_) => {
            headers.insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer realm=\"gridd\""));
        }
        AccessError::TooMany { retry_after, .. } => {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(v) = http::HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(http::header::RETRY_AFTER, v);
            }
        }
        _ => {}
    }
    response
}
