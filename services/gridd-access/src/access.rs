//! [`Access`]: checks credentials, applies the permission table and the abuse limits, and
//! runs signing in, refreshing and signing out. Both listeners use one `Access`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use gridd_config::AuthConfig;
use gridd_core::ids::{CameraId, SquadId};
use gridd_core::time::Timestamp;
use gridd_store::{Account, AuditEntry, MachineKey, ReadTx, Session, Store, WriteTx};

use crate::error::AccessError;
use crate::identity::{Credential, Grant, Identity};
use crate::limits::{RateLimiter, SignInThrottle, TtlCache};
use crate::permission::{Operation, Role, scope};
use crate::secret::{self, token_hash, token_matches};
use crate::token::{OidcVerifier, TokenSigner, signed_by_gridd};
use gridd_core::error::quote;

/// How long an account's or key's state is trusted before it is read again: a disabled
/// account or a revoked key stops working within this, in every process.
pub const STATE_TTL: Duration = Duration::from_secs(15);
/// Longest credential looked at; anything longer is refused unread.
const MAX_CREDENTIAL: usize = 8 * 1024;
/// Prefix of machine keys: `gk_<id>_<secret>`.
const KEY_PREFIX: &str = "gk_";

/// The tokens of a sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The access token.
    pub access_token: String,
    /// Its expiry, seconds since the epoch.
    pub access_expires_at: u64,
    /// The refresh token.
    pub refresh_token: String,
    /// The session's end, seconds since the epoch.
    pub refresh_expires_at: u64,
    /// Who signed in.
    pub identity: Identity,
}

/// Identity and access for one process. Cheap to clone.
pub struct Access<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Access<S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

struct Inner<S> {
    store: S,
    config: AuthConfig,
    signer: TokenSigner,
    oidc: Option<OidcVerifier>,
    accounts: TtlCache<Account>,
    keys: TtlCache<MachineKey>,
    sign_ins: SignInThrottle,
    intake: Arc<RateLimiter>,
}

/// Now, in the store's time type (real time: tokens and sessions follow the wall clock even
/// when the engine's clock is simulated).
pub(crate) fn now() -> Timestamp {
    Timestamp::from_millis(crate::token::now_millis())
}

fn seconds(t: Timestamp) -> u64 {
    u64::try_from(t.millis() / 1000).unwrap_or(0)
}

impl<S: Store> Access<S> {
    /// Access on `store`: reads (or creates) the deployment's token-signing secret and loads
    /// the identity provider's keys when one is configured.
    pub async fn open(store: S, config: AuthConfig) -> Result<Self, String> {
        let candidate = secret::random_bytes(32).map_err(|e| e.to_string())?;
        let secret = store
            .write(move |tx: &mut dyn WriteTx| tx.init_signing_secret(&candidate))
            .await
            .map_err(|e| format!("reading the token-signing secret: {e}"))?;
        let oidc = config.oidc.as_ref().map(OidcVerifier::load).transpose()?;
        let intake = Arc::new(RateLimiter::new(config.intake_rate, config.intake_burst));
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                signer: TokenSigner::new(&secret),
                oidc,
                accounts: TtlCache::new(STATE_TTL),
                keys: TtlCache::new(STATE_TTL),
                sign_ins: SignInThrottle::default(),
                intake,
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// Checks an `authorization` header value and the permission table for `op`; for intake,
    /// also the caller's rate.
    pub async fn authorize(&self, authorization: Option<&str>, op: Operation) -> Result<Grant, AccessError> {
        let identity = self.authenticate(authorization).await?;
        let scope = scope(identity.role, op).ok_or(AccessError::NotPermitted { role: identity.role, operation: op })?;
        let grant = Grant { identity: Arc::new(identity), operation: op, scope, intake: op.is_intake().then(|| self.inner.intake.clone()) };
        grant.take_report()?;
        Ok(grant)
    }

    /// Who an `authorization` header value (`Bearer <token or key>`) belongs to.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Identity, AccessError> {
        let header = authorization.ok_or_else(|| AccessError::unauthenticated("no credentials: send `authorization: Bearer <token>`"))?;
        if header.len() > MAX_CREDENTIAL {
            return Err(AccessError::unauthenticated(format!("credentials longer than {MAX_CREDENTIAL} bytes")));
        }
        let credential = bearer(header)?;
        if let Some(key) = credential.strip_prefix(KEY_PREFIX) {
            return self.machine(key).await;
        }
        if signed_by_gridd(credential)? {
            return self.account_token(credential).await;
        }
        match &self.inner.oidc {
            Some(oidc) => {
                let s = oidc.check(credential)?;
                Ok(Identity {
                    subject: s.subject,
                    display_name: s.name,
                    role: s.role,
                    squad: s.squad.map(SquadId::new),
                    cameras: Vec::new(),
                    credential: Credential::Oidc,
                })
            }
            None => Err(AccessError::unauthenticated("the token was not issued by gridd")),
        }
    }

    async fn machine(&self, key: &str) -> Result<Identity, AccessError> {
        let bad = || AccessError::unauthenticated("not a valid machine key");
        let (id, secret) = key.split_once('_').ok_or_else(bad)?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let stored = self.load_key(id).await?.ok_or_else(bad)?;
        if !token_matches(secret, &stored.secret_hash) {
            return Err(bad());
        }
        if stored.revoked_at.is_some() {
            return Err(AccessError::unauthenticated(format!("machine key {id} was revoked")));
        }
        let role = Role::parse(&stored.role).map_err(|e| AccessError::unauthenticated(format!("machine key {id}: {e}")))?;
        Ok(Identity {
            subject: stored.id.clone(),
            display_name: stored.name.clone(),
            role,
            squad: None,
            cameras: stored.cameras.iter().map(CameraId::new).collect(),
            credential: Credential::MachineKey,
        })
    }

    async fn account_token(&self, token: &str) -> Result<Identity, AccessError> {
        let claims = self.inner.signer.check(token)?;
        let account = self.load_account(&claims.sub).await?.ok_or_else(|| AccessError::unauthenticated("the account no longer exists"))?;
        let identity = account_identity(&account)?;
        // A new password (or any change to the account) ends the tokens issued before it.
        if claims.issued_ms < account.updated_at.millis() {
            return Err(AccessError::unauthenticated("the account changed since this token was issued; sign in again"));
        }
        Ok(identity)
    }

    async fn load_account(&self, username: &str) -> Result<Option<Account>, AccessError> {
        if let Some(cached) = self.inner.accounts.get(username) {
            return Ok(cached);
        }
        let name = username.to_owned();
        let account = self.inner.store.read(move |tx: &mut dyn ReadTx| tx.account(&name)).await?;
        self.inner.accounts.put(username, account.clone());
        Ok(account)
    }

    async fn load_key(&self, id: &str) -> Result<Option<MachineKey>, AccessError> {
        if let Some(cached) = self.inner.keys.get(id) {
            return Ok(cached);
        }
        let key_id = id.to_owned();
        let key = self.inner.store.read(move |tx: &mut dyn ReadTx| tx.machine_key(&key_id)).await?;
        self.inner.keys.put(id, key.clone());
        Ok(key)
    }

    /// Signs a person in. Failures are slowed, then refused for a while, per account and per
    /// address; every attempt is audited.
    pub async fn sign_in(&self, username: &str, password: &str, address: Option<IpAddr>) -> Result<SignedIn, AccessError> {
        gridd_core::ids::validate_token("username", username, 64).map_err(|e| AccessError::invalid(&e.field, e.reason))?;
        if password.is_empty() || password.len() > 4 * secret::MAX_PASSWORD {
            return Err(AccessError::invalid("password", "is required"));
        }
        let delay = self.inner.sign_ins.check(username, address).inspect_err(|e| {
            metrics::counter!("gridd_sign_in_refusals_total", "reason" => "locked").increment(1);
            tracing::warn!(username = %quote(username), address = ?address, "sign-in refused: {e}");
        })?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let name = username.to_owned();
        let account = self.inner.store.read(move |tx: &mut dyn ReadTx| tx.account(&name)).await?;
        let hash = account.as_ref().map_or_else(|| secret::decoy_hash().to_owned(), |a| a.password_hash.clone());
        let attempt = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || secret::verify_password(&attempt, &hash)).await.unwrap_or(false);
        let refusal = match &account {
            Some(a) if matches && a.disabled => Some("the account is disabled"),
            Some(_) if matches => None,
            _ => Some("wrong user name or password"),
        };
        if let Some(why) = refusal {
            let locked = self.inner.sign_ins.failed(username, address);
            metrics::counter!("gridd_sign_in_failures_total").increment(1);
            tracing::warn!(username = %quote(username), address = ?address, locked, "sign-in failed: {why}");
            self.audit(username, "sign_in", username, address, &format!("refused: {why}")).await;
            return Err(AccessError::unauthenticated(why));
        }
        self.inner.sign_ins.succeeded(username);
        let account = account.ok_or_else(|| AccessError::unauthenticated("wrong user name or password"))?;
        let signed_in = self.open_session(&account, None, address).await?;
        self.inner.accounts.put(username, Some(account));
        Ok(signed_in)
    }

    /// Trades a refresh token for new tokens; the old refresh token stops working.
    pub async fn refresh(&self, refresh_token: &str, address: Option<IpAddr>) -> Result<SignedIn, AccessError> {
        let session = self.live_session(refresh_token).await?;
        let name = session.username.clone();
        let account = self
            .inner
            .store
            .read(move |tx: &mut dyn ReadTx| tx.account(&name))
            .await?
            .ok_or_else(|| AccessError::unauthenticated("the account no longer exists"))?;
        if account.disabled {
            return Err(AccessError::unauthenticated("the account is disabled"));
        }
        if session.created_at < account.updated_at {
            return Err(AccessError::unauthenticated("the account changed since this session began; sign in again"));
        }
        self.open_session(&account, Some(session), address).await
    }

    /// Ends the session of a refresh token.
    pub async fn sign_out(&self, refresh_token: &str, address: Option<IpAddr>) -> Result<(), AccessError> {
        let mut session = self.live_session(refresh_token).await?;
        session.revoked_at = Some(now());
        let entry = audit_entry(&session.username, "sign_out", &session.username, address, "ok");
        self.inner
            .store
            .write(move |tx: &mut dyn WriteTx| {
                tx.put_session(&session)?;
                tx.append_audit(&entry).map(drop)
            })
            .await?;
        Ok(())
    }

    async fn live_session(&self, refresh_token: &str) -> Result<Session, AccessError> {
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            return Err(AccessError::invalid("refresh_token", "is required"));
        }
        let id = token_hash(refresh_token);
        let session = self.inner.store.read(move |tx: &mut dyn ReadTx| tx.session(&id)).await?;
        match session {
            Some(s) if s.revoked_at.is_none() && s.expires_at > now() => Ok(s),
            Some(s) if s.revoked_at.is_some() => {
                Err(AccessError::unauthenticated("the session was signed out, or this refresh token was already used; sign in again"))
            }
            Some(_) => Err(AccessError::unauthenticated("the session has expired; sign in again")),
            None => Err(AccessError::unauthenticated("not a refresh token of this deployment")),
        }
    }

    /// Stores a new session (ending `replaced`, if any) with its audit entry, and issues its
    /// tokens.
    async fn open_session(&self, account: &Account, replaced: Option<Session>, address: Option<IpAddr>) -> Result<SignedIn, AccessError> {
        let identity = account_identity(account)?;
        let refresh_token = secret::random_token(32)?;
        let at = now();
        let ttl_ms = i64::try_from(self.inner.config.refresh_token_ttl.as_millis()).unwrap_or(i64::MAX);
        // A refreshed session keeps its end: refreshing never makes a session outlive the
        // sign-in that began it.
        let session = Session {
            id: token_hash(&refresh_token),
            username: account.username.clone(),
            created_at: at,
            expires_at: replaced.as_ref().map_or(Timestamp::from_millis(at.millis().saturating_add(ttl_ms)), |old| old.expires_at),
            revoked_at: None,
        };
        let action = if replaced.is_some() { "refresh" } else { "sign_in" };
        let entry = audit_entry(&account.username, action, &account.username, address, "ok");
        let refresh_expires_at = seconds(session.expires_at);
        let stored = session.clone();
        let ended = replaced.map(|mut s| {
            s.revoked_at = Some(at);
            s
        });
        self.inner
            .store
            .write(move |tx: &mut dyn WriteTx| {
                if let Some(old) = &ended {
                    tx.put_session(old)?;
                }
                tx.delete_expired_sessions(at)?;
                tx.put_session(&stored)?;
                tx.append_audit(&entry).map(drop)
            })
            .await?;
        let squad = identity.squad.as_ref().map(SquadId::as_str);
        let (access_token, access_expires_at) =
            self.inner.signer.issue(&identity.subject, &identity.display_name, identity.role, squad, self.inner.config.access_token_ttl)?;
        tracing::info!(target: "gridd::audit", username = %account.username, address = ?address, "{action}");
        Ok(SignedIn { access_token, access_expires_at, refresh_token, refresh_expires_at, identity })
    }

    /// Records a security event in the audit log (and the process log). A store that cannot
    /// take it is logged, not fatal: the event itself already happened.
    pub async fn audit(&self, actor: &str, action: &str, target: &str, address: Option<IpAddr>, outcome: &str) {
        tracing::info!(target: "gridd::audit", actor = %quote(actor), action, target = %quote(target), address = ?address, "{outcome}");
        let entry = audit_entry(actor, action, target, address, outcome);
        if let Err(e) = self.inner.store.write(move |tx: &mut dyn WriteTx| tx.append_audit(&entry)).await {
            tracing::error!(error = %e, action, "the audit log did not take an entry");
        }
    }
}

/// The identity an account signs in as.
fn account_identity(account: &Account) -> Result<Identity, AccessError> {
    if account.disabled {
        return Err(AccessError::unauthenticated("the account is disabled"));
    }
    let role = Role::parse(&account.role).map_err(|e| AccessError::unauthenticated(format!("account {}: {e}", account.username)))?;
    Ok(Identity {
        subject: account.username.clone(),
        display_name: account.display_name.clone(),
        role,
        squad: account.squad.as_ref().map(SquadId::new),
        cameras: Vec::new(),
        credential: Credential::Account,
    })
}

/// The credential of a `Bearer` authorization value.
fn bearer(header: &str) -> Result<&str, AccessError> {
    let header = header.trim();
    let (scheme, credential) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AccessError::unauthenticated("authorization must be `Bearer <token>`"));
    }
    let credential = credential.trim();
    if credential.is_empty() {
        return Err(AccessError::unauthenticated("the bearer token is empty"));
    }
    Ok(credential)
}

/// An audit entry at the current time. Actors and targets are validated names and ids, never
/// free text from a request.
pub fn audit_entry(actor: &str, action: &str, target: &str, address: Option<IpAddr>, outcome: &str) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at: now(),
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        address: address.map(|a| a.to_string()).unwrap_or_default(),
        outcome: outcome.into(),
    }
}
