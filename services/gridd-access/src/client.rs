//! The client side: a tonic interceptor that sends credentials, and a session that signs in
//! and keeps its access token fresh (what a terminal, the demo's simulated people, or a test
//! does).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use gridd_proto::tonic::metadata::{Ascii, MetadataValue};
use gridd_proto::tonic::service::Interceptor;
use gridd_proto::tonic::transport::Channel;
use gridd_proto::tonic::{Request, Status};
use gridd_proto::v1;
use gridd_proto::v1::auth_service_client::AuthServiceClient;
use tokio_util::sync::CancellationToken;

/// Sends `authorization: Bearer <credential>` on every call; the credential can be replaced
/// while clients use it (a refreshed token).
#[derive(Clone)]
pub struct Bearer(Arc<RwLock<MetadataValue<Ascii>>>);

impl Bearer {
    /// Credentials from a token or machine key.
    pub fn new(credential: &str) -> Result<Self, Status> {
        Ok(Self(Arc::new(RwLock::new(header(credential)?))))
    }

    /// Replaces the credential.
    pub fn set(&self, credential: &str) -> Result<(), Status> {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = header(credential)?;
        Ok(())
    }
}

fn header(credential: &str) -> Result<MetadataValue<Ascii>, Status> {
    format!("Bearer {credential}").parse().map_err(|_| Status::invalid_argument("a credential is printable ASCII"))
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let value = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

/// Signs in over `channel` and returns the credentials, refreshed in the background before
/// they expire until `stop` is cancelled.
pub async fn sign_in(channel: Channel, username: &str, password: &str, stop: CancellationToken) -> Result<(Bearer, v1::Principal), Status> {
    let mut auth = AuthServiceClient::new(channel);
    let signed_in = auth.sign_in(v1::SignInRequest { username: username.into(), password: password.into() }).await?.into_inner();
    let bearer = Bearer::new(&signed_in.access_token)?;
    let principal = signed_in.principal.clone().unwrap_or_default();
    tokio::spawn(keep_fresh(auth, bearer.clone(), signed_in, stop));
    Ok((bearer, principal))
}

async fn keep_fresh(mut auth: AuthServiceClient<Channel>, bearer: Bearer, mut current: v1::SignInResponse, stop: CancellationToken) {
    loop {
        let expires = current.access_expires_at.as_ref().map_or(0, |t| t.seconds);
        let now = crate::token::now_seconds() as i64;
        // Refresh at two thirds of the token's life.
        let wait = Duration::from_secs(u64::try_from((expires - now) * 2 / 3).unwrap_or(0).max(1));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        match auth.refresh(v1::RefreshRequest { refresh_token: current.refresh_token.clone() }).await {
            Ok(r) => {
                current = r.into_inner();
                if bearer.set(&current.access_token).is_err() {
                    return;
                }
            }
            Err(status) => {
                tracing::warn!(%status, "refreshing the session failed; retrying in 10 s");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    }
}
