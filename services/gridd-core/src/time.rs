//! Instants in milliseconds since the Unix epoch, and the clock the engine reads them from.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// This instant moved by `millis` (negative moves back), saturating at the i64 range.
    pub const fn add_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// Milliseconds from `earlier` to `self` (negative if `earlier` is later).
    pub const fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The local wall-clock date and time at `offset` (China: +08:00, no daylight saving).
    pub fn local(self, offset: FixedOffset) -> NaiveDateTime {
        self.utc().with_timezone(&offset).naive_local()
    }

    /// Minutes since local midnight at `offset` (0..1440), for time-of-day rules.
    pub fn minute_of_day(self, offset: FixedOffset) -> u16 {
        use chrono::Timelike;
        let local = self.local(offset);
        (local.hour() * 60 + local.minute()) as u16
    }

    /// The instant of a local wall-clock time at `offset`.
    pub fn from_local(local: NaiveDateTime, offset: FixedOffset) -> Self {
        let utc = local - chrono::Duration::seconds(i64::from(offset.local_minus_utc()));
        Self(utc.and_utc().timestamp_millis())
    }

    /// This instant as a chrono UTC date-time.
    pub fn utc(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.utc().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

/// Where the engine reads the time. Production uses the system clock; the demo runs a faster
/// clock so that a working day passes in minutes; tests may set the time by hand.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// The wall-clock time to wait until `span_millis` of this clock's time have passed.
    fn wall_duration(&self, span_millis: i64) -> Duration {
        Duration::from_millis(u64::try_from(span_millis.max(0)).unwrap_or(0))
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(Utc::now().timestamp_millis())
    }
}

/// A clock that starts at a chosen instant and runs `speed` times faster than real time.
///
/// The demo uses it so that time limits of hours are reached within a minute; every deadline
/// is still computed on the working-time calendar, just watched at a higher speed.
#[derive(Debug, Clone)]
pub struct AcceleratedClock {
    origin: Timestamp,
    started: std::time::Instant,
    speed: u32,
}

impl AcceleratedClock {
    /// A clock reading `origin` now and advancing `speed` (≥ 1) milliseconds per real millisecond.
    pub fn new(origin: Timestamp, speed: u32) -> Self {
        Self { origin, started: std::time::Instant::now(), speed: speed.max(1) }
    }
}

impl Clock for AcceleratedClock {
    fn now(&self) -> Timestamp {
        let real = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.origin.add_millis(real.saturating_mul(i64::from(self.speed)))
    }

    fn wall_duration(&self, span_millis: i64) -> Duration {
        let real = span_millis.max(0) / i64::from(self.speed);
        Duration::from_millis(u64::try_from(real).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_round_trip_at_china_offset() {
        let offset = FixedOffset::east_opt(8 * 3600).expect("valid offset");
        let t = Timestamp::from_millis(1_790_000_000_000);
        assert_eq!(Timestamp::from_local(t.local(offset), offset), t);
    }

    #[test]
    fn accelerated_clock_scales_waits() {
        let clock = AcceleratedClock::new(Timestamp::from_millis(0), 100);
        assert_eq!(clock.wall_duration(60_000), Duration::from_millis(600));
        assert!(clock.now() >= Timestamp::from_millis(0));
    }
}
