//! The `gridd` engine as a library, so tests and the demo start it in-process:
//!
//! - [`engine::Engine`]: one embedded-mode process — store, roles, gRPC and HTTP;
//! - [`cli`]: the `gridd` command (`run`, `demo`, `bench`, `check-config`, `locate`, `grid check`,
//!   `user`, `key`, `audit`);
//! - [`admin`]: managing accounts and machine keys from the command line;
//! - [`tls`]: TLS and `TCP_NODELAY` on the listeners;
//! - [`locate`]: where points go and why, one at a time or in batches;
//! - [`reload`]: picking up edited city files while running;
//! - [`demo`]: simulated traffic from all four channels, simulated squads and supervisors, and
//!   a live terminal summary;
//! - [`bench`]: the load generator that drives a running engine over gRPC;
//! - [`telemetry`]: logs and the Prometheus recorder.

pub mod admin;
pub mod bench;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod locate;
pub mod reload;
pub mod telemetry;
pub mod tls;
