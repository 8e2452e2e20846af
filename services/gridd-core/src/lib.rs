//! gridd's pure domain core: no I/O, no async, no clocks of its own.
//!
//! Everything the engine decides lives here so that it can be tested and benchmarked alone:
//!
//! - [`time`]: timestamps and the [`time::Clock`] the engine reads the time from;
//! - [`coords`]: WGS84, GCJ-02 and BD-09 conversions and distances in metres;
//! - [`ids`]: validated codes (15-digit cell codes, street and community codes, references);
//! - [`category`]: the catalogue of components and events with urgency and time limits;
//! - [`calendar`]: the working-time calendar (windows, holidays, make-up workdays) and deadlines;
//! - [`escalation`]: the warning-light and 督办 ladder;
//! - [`ticket`]: the case lifecycle state machine, a pure function of (ticket, command, now);
//! - [`grid`]: the unit grid and its R-tree;
//! - [`routing`]: responsibility rules (area × category × time of day → squad);
//! - [`dedup`]: duplicate detection (并案) for camera repeats and nearby reports;
//! - [`report`]: a validated report as it travels from intake to the tracker;
//! - [`kpi`]: the evaluation indicators (综合评价) over a set of tickets;
//! - [`assessment`]: the monthly 考核 ledger, its period rules, rates and composite score.
#![deny(missing_docs)]

pub mod assessment;
pub mod calendar;
pub mod category;
pub mod components;
pub mod coords;
pub mod dedup;
pub mod error;
pub mod escalation;
pub mod grid;
pub mod ids;
pub mod kpi;
pub mod report;
pub mod routing;
pub mod ticket;
pub mod time;
pub mod verification;

pub use error::FieldError;
