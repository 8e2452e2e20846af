//! `AuthService` over gRPC and the same operations over HTTP (`/v1/auth/*`, JSON in the
//! proto3 mapping): thin adapters over [`Access`].

use std::net::{IpAddr, SocketAddr};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use gridd_proto::tonic::{self, Request, Status};
use gridd_proto::v1;
use gridd_store::Store;

use crate::access::{Access, SignedIn};
use crate::identity::{Grant, Identity, grant};
use crate::layer::http_refusal;
use crate::permission::{allowed_roles, operations};

/// What the contract says about an identity.
pub fn principal(identity: &Identity) -> v1::Principal {
    let permissions = operations()
        .filter_map(|op| allowed_roles(op).into_iter().find(|(r, _)| *r == identity.role).map(|(_, s)| format!("{op} ({})", s.label())))
        .collect();
    v1::Principal {
        subject: identity.subject.clone(),
        display_name: identity.display_name.clone(),
        role: identity.role.id().into(),
        role_label: identity.role.label().into(),
        squad_id: identity.squad.as_ref().map(ToString::to_string).unwrap_or_default(),
        camera_ids: identity.cameras.iter().map(ToString::to_string).collect(),
        permissions,
    }
}

fn at(seconds: u64) -> Option<gridd_proto::prost_types::Timestamp> {
    Some(gridd_proto::prost_types::Timestamp { seconds: i64::try_from(seconds).unwrap_or(i64::MAX), nanos: 0 })
}

fn signed_in(s: SignedIn) -> v1::SignInResponse {
    v1::SignInResponse {
        access_token: s.access_token,
        access_expires_at: at(s.access_expires_at),
        refresh_token: s.refresh_token,
        refresh_expires_at: at(s.refresh_expires_at),
        principal: Some(principal(&s.identity)),
    }
}

/// The gRPC adapter.
pub struct AuthGrpc<S> {
    access: Access<S>,
}

impl<S> AuthGrpc<S> {
    /// An adapter over `access`.
    pub fn new(access: Access<S>) -> Self {
        Self { access }
    }
}

fn peer<T>(request: &Request<T>) -> Option<IpAddr> {
    request.remote_addr().map(|a| a.ip())
}

#[tonic::async_trait]
impl<S: Store> v1::auth_service_server::AuthService for AuthGrpc<S> {
    async fn sign_in(&self, request: Request<v1::SignInRequest>) -> Result<tonic::Response<v1::SignInResponse>, Status> {
        let address = peer(&request);
        let req = request.into_inner();
        let s = self.access.sign_in(&req.username, &req.password, address).await?;
        Ok(tonic::Response::new(signed_in(s)))
    }

    async fn refresh(&self, request: Request<v1::RefreshRequest>) -> Result<tonic::Response<v1::SignInResponse>, Status> {
        let address = peer(&request);
        let s = self.access.refresh(&request.get_ref().refresh_token, address).await?;
        Ok(tonic::Response::new(signed_in(s)))
    }

    async fn sign_out(&self, request: Request<v1::SignOutRequest>) -> Result<tonic::Response<v1::SignOutResponse>, Status> {
        let address = peer(&request);
        self.access.sign_out(&request.get_ref().refresh_token, address).await?;
        Ok(tonic::Response::new(v1::SignOutResponse {}))
    }

    async fn who_am_i(&self, request: Request<v1::WhoAmIRequest>) -> Result<tonic::Response<v1::Principal>, Status> {
        Ok(tonic::Response::new(principal(&grant(&request)?.identity)))
    }
}

/// The address of an HTTP client, for the sign-in limits and the audit log; the server puts
/// it in each request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

fn client_ip(client: Option<Extension<ClientAddr>>) -> Option<IpAddr> {
    client.map(|Extension(ClientAddr(a))| a.ip())
}

/// The HTTP routes of signing in, behind [`crate::layer::http_guard`].
pub fn http_routes<S: Store>(access: Access<S>) -> axum::Router {
    axum::Router::new()
        .route("/v1/auth/sign-in", axum::routing::post(http_sign_in::<S>))
        .route("/v1/auth/refresh", axum::routing::post(http_refresh::<S>))
        .route("/v1/auth/sign-out", axum::routing::post(http_sign_out::<S>))
        .route("/v1/auth/me", axum::routing::get(http_me))
        .with_state(access)
}

fn answer<T: serde::Serialize>(result: Result<T, crate::AccessError>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => http_refusal(&e),
    }
}

async fn http_sign_in<S: Store>(
    State(access): State<Access<S>>,
    client: Option<Extension<ClientAddr>>,
    Json(req): Json<v1::SignInRequest>,
) -> Response {
    answer(access.sign_in(&req.username, &req.password, client_ip(client)).await.map(signed_in))
}

async fn http_refresh<S: Store>(
    State(access): State<Access<S>>,
    client: Option<Extension<ClientAddr>>,
    Json(req): Json<v1::RefreshRequest>,
) -> Response {
    answer(access.refresh(&req.refresh_token, client_ip(client)).await.map(signed_in))
}

async fn http_sign_out<S: Store>(
    State(access): State<Access<S>>,
    client: Option<Extension<ClientAddr>>,
    Json(req): Json<v1::SignOutRequest>,
) -> Response {
    answer(access.sign_out(&req.refresh_token, client_ip(client)).await.map(|()| v1::SignOutResponse {}))
}

async fn http_me(Extension(grant): Extension<Grant>) -> Response {
    Json(principal(&grant.identity)).into_response()
}
