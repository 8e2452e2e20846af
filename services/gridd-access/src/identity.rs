//! Who is calling ([`Identity`]) and what this one call was granted ([`Grant`]), with the scope
//! checks handlers apply to ids named in a request. Handlers never trust an id a request
//! declares: they ask the grant.

use std::sync::Arc;

use gridd_core::ids::{CameraId, SquadId};
use gridd_core::ticket::Actor;
use gridd_proto::tonic::{Request, Status};

use crate::error::AccessError;
use crate::permission::{Operation, Role, Scope};
use gridd_core::error::quote;

/// How an identity proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token from signing in with a local account.
    Account,
    /// A machine key.
    MachineKey,
    /// A token from the city's OpenID Connect provider.
    Oidc,
}

/// A signed-in person or machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Account user name, machine key id, or OpenID Connect subject.
    pub subject: String,
    /// Display name.
    pub display_name: String,
    /// Its role.
    pub role: Role,
    /// The squad of a squad member or leader.
    pub squad: Option<SquadId>,
    /// The cameras of a camera gateway.
    pub cameras: Vec<CameraId>,
    /// How it proved itself.
    pub credential: Credential,
}

impl Identity {
    /// The actor recorded in a case's history for this identity's commands.
    pub fn actor(&self) -> Actor {
        match (&self.squad, self.role.needs_squad()) {
            (Some(squad), true) => Actor::Squad { squad: squad.clone(), member: self.subject.clone() },
            _ => Actor::Operator(self.subject.clone()),
        }
    }
}

/// What the access layer granted one request: the identity and the scope of the operation.
/// Put in the request's extensions by the layer; handlers read it with [`grant`].
#[derive(Debug, Clone)]
pub struct Grant {
    /// Who.
    pub identity: Arc<Identity>,
    /// What.
    pub operation: Operation,
    /// How far.
    pub scope: Scope,
    /// The intake rate limiter, for intake operations: a call takes one report from it, and
    /// a camera stream one more for every further alert.
    pub(crate) intake: Option<Arc<crate::limits::RateLimiter>>,
}

/// The grant of a request. A request without one never passed the access layer: refused, so
/// that a wiring mistake fails closed.
pub fn grant<T>(request: &Request<T>) -> Result<Grant, Status> {
    request.extensions().get::<Grant>().cloned().ok_or_else(|| Status::unauthenticated("unauthenticated: no credentials were checked"))
}

impl Grant {
    /// The squad a squad-service call acts for. A squad-bound caller gets its own squad (a
    /// request may name it, but no other); a city-wide caller must name one.
    pub fn squad(&self, requested: &str) -> Result<SquadId, AccessError> {
        match self.scope {
            Scope::OwnSquad => {
                let own = self.own_squad()?;
                if requested.is_empty() || requested == own.as_str() {
                    Ok(own.clone())
                } else {
                    Err(self.out_of_scope(format!("squad {} is not your squad ({own})", quote(requested))))
                }
            }
            Scope::City | Scope::OwnCameras => {
                if requested.is_empty() {
                    Err(AccessError::invalid("squad_id", "is required"))
                } else {
                    Ok(SquadId::new(requested))
                }
            }
        }
    }

    /// The squad filter of a listing: a squad-bound caller's own (naming another is refused);
    /// whatever a city-wide caller asked for.
    pub fn squad_filter(&self, requested: &str) -> Result<Option<SquadId>, AccessError> {
        match self.scope {
            Scope::OwnSquad => self.squad(requested).map(Some),
            _ => Ok((!requested.is_empty()).then(|| SquadId::new(requested))),
        }
    }

    /// Checks that a case held by `squad` (none: not assigned) is within reach.
    pub fn check_case_squad(&self, case: &str, squad: Option<&SquadId>) -> Result<(), AccessError> {
        if self.scope != Scope::OwnSquad {
            return Ok(());
        }
        let own = self.own_squad()?;
        if squad == Some(own) {
            Ok(())
        } else {
            Err(self.out_of_scope(format!("case {} is not assigned to your squad ({own})", quote(case))))
        }
    }

    /// Checks that a camera gateway names one of its own cameras.
    pub fn check_camera(&self, camera: &str) -> Result<(), AccessError> {
        if self.scope != Scope::OwnCameras || self.identity.cameras.iter().any(|c| c.as_str() == camera) {
            Ok(())
        } else {
            Err(self.out_of_scope(format!("camera {} is not bound to this gateway's key", quote(camera))))
        }
    }

    /// Counts one report against the caller's intake rate.
    pub fn take_report(&self) -> Result<(), AccessError> {
        let Some(limiter) = &self.intake else { return Ok(()) };
        limiter.take(&self.identity.subject).map_err(|retry_after| AccessError::TooMany {
            reason: format!("intake rate of {} exceeded ({} reports/s)", self.identity.subject, limiter.per_second()),
            retry_after,
        })
    }

    fn own_squad(&self) -> Result<&SquadId, AccessError> {
        self.identity.squad.as_ref().ok_or_else(|| self.out_of_scope("the account is bound to no squad".to_owned()))
    }

    fn out_of_scope(&self, why: String) -> AccessError {
        AccessError::OutOfScope(format!("{} {}: {why}", self.identity.role.id(), self.identity.subject))
    }
}
