//! What both backends store the same way: ticket bodies and machine keys' cameras as JSON,
//! timer and feed kinds as text, and the conversions between stored integers and the core's
//! types.

use gridd_core::report::Channel;
use gridd_core::ticket::{FeedKind, Ticket, TimerKind};

use crate::StoreError;

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn ticket_from_json(body: &str) -> Result<Ticket, StoreError> {
    serde_json::from_str(body).map_err(|e| corrupt("ticket body", e))
}

/// A machine key's cameras as stored: a JSON array of strings (any id round-trips, commas too).
pub(crate) fn cameras_json(cameras: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(cameras).map_err(|e| corrupt("machine key cameras serialisation", e))
}

pub(crate) fn cameras_from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("machine key cameras", e))
}

pub(crate) fn seq(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn timer_kind_text(kind: TimerKind) -> String {
    match kind {
        TimerKind::AcceptDue => "accept".into(),
        TimerKind::Escalation { level } => format!("escalation:{level}"),
    }
}

pub(crate) fn timer_kind_from(text: &str) -> Result<TimerKind, StoreError> {
    if text == "accept" {
        return Ok(TimerKind::AcceptDue);
    }
    text.strip_prefix("escalation:")
        .and_then(|l| l.parse().ok())
        .map(|level| TimerKind::Escalation { level })
        .ok_or_else(|| corrupt("timer kind", text))
}

pub(crate) const FEED_KINDS: [(FeedKind, &str); 6] = [
    (FeedKind::Assigned, "assigned"),
    (FeedKind::Rework, "rework"),
    (FeedKind::Escalated, "escalated"),
    (FeedKind::Withdrawn, "withdrawn"),
    (FeedKind::Updated, "updated"),
    (FeedKind::Closed, "closed"),
];

pub(crate) fn feed_kind_text(kind: FeedKind) -> &'static str {
    FEED_KINDS.iter().find(|(k, _)| *k == kind).map_or("updated", |(_, t)| t)
}

pub(crate) fn feed_kind_from(text: &str) -> Result<FeedKind, StoreError> {
    FEED_KINDS.iter().find(|(_, t)| *t == text).map(|(k, _)| *k).ok_or_else(|| corrupt("feed kind", text))
}

pub(crate) fn channel_from(text: &str) -> Option<Channel> {
    Channel::ALL.into_iter().find(|c| c.name() == text)
}

pub(crate) const OPEN_STATES_SQL: &str = "('registered','dispatched','accepted','in_progress','returned','checking','rework','verifying')";
