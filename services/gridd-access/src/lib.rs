//! gridd's identity and access: who may do what, and the one layer that enforces it on every
//! gRPC service and every HTTP route.
//!
//! - [`permission`]: the roles, the operations, and THE permission table (role × operation →
//!   scope: the whole city, the caller's own squad, or its own cameras);
//! - [`Access`]: checks credentials — access tokens from signing in with a local account
//!   (Argon2id passwords, HS256 tokens signed with a secret kept in the store, refresh tokens
//!   stored hashed), machine keys (`gk_<id>_<secret>`, stored hashed, compared in constant
//!   time) and, when configured, the city identity provider's OpenID Connect tokens — and
//!   applies the abuse limits (failed sign-ins slowed then refused, intake rate per identity)
//!   and the audit log;
//! - [`layer`]: the tower layer in front of the gRPC services and the axum middleware in
//!   front of the HTTP routes; both hand the handler a [`Grant`], whose scope checks
//!   ([`Grant::squad`], [`Grant::check_case_squad`], [`Grant::check_camera`]) are the only way
//!   a handler reads an id a request names;
//! - [`service`]: `AuthService` (sign in, refresh, sign out, who am I) over gRPC and HTTP;
//! - [`admin`]: managing accounts and keys (`gridd user …`, `gridd key …`, the demo);
//! - [`client`]: sending credentials from a client, and keeping a session's token fresh.
//!
//! Account and key state is cached for [`access::STATE_TTL`], so a disabled account or a
//! revoked key stops working within that in every process of a deployment.

pub mod access;
pub mod admin;
pub mod client;
mod error;
mod identity;
pub mod layer;
mod limits;
pub mod permission;
mod secret;
pub mod service;
pub mod token;

pub use access::Access;
pub use error::AccessError;
pub use gridd_core::error::quote;
pub use identity::{Credential, Grant, Identity, grant};
pub use permission::{Operation, Role, Scope};
