//! The `gridd` engine as a library, so tests and the demo start it in-process:
//!
//! - [`engine::Engine`]: one embedded-mode process — store, roles, gRPC and HTTP;
//! - [`cli`]: the `gridd` command (`run`, `demo`, `check-config`, `locate`);
//! - [`demo`]: simulated traffic from all four channels, simulated squads and supervisors, and
//!   a live terminal summary;
//! - [`telemetry`]: logs and the Prometheus recorder.

pub mod cli;
pub mod demo;
pub mod engine;
pub mod telemetry;
