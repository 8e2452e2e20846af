//! What both backends store the same way: ticket bodies and machine keys' cameras as JSON,
//! timer and feed kinds as text, and the conversions between stored integers and the core's
//! types.

use std::collections::HashSet;
use std::sync::LazyLock;

use gridd_core::ids::Reference;
use gridd_core::report::{Channel, ReportSummary};
use gridd_core::ticket::{FeedKind, Ticket, TicketState, TimerKind};
use gridd_core::time::Timestamp;

use crate::{HistoryTrim, StoreError};

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn ticket_from_json(body: &str) -> Result<Ticket, StoreError> {
    serde_json::from_str(body).map_err(|e| corrupt("ticket body", e))
}

/// The case's body as stored: everything but its reports, which have rows of their own.
pub(crate) fn ticket_json(t: &Ticket) -> Result<String, StoreError> {
    serde_json::to_string(t).map_err(|e| corrupt("ticket serialisation", e))
}

/// A case's report from its row (`reference`, `body`). Rows written before the body left the
/// reference out still hold it there too.
pub(crate) fn report_from_json(reference: &str, body: &str) -> Result<ReportSummary, StoreError> {
    let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(body).map_err(|e| corrupt("case report", e))?;
    fields.entry("reference").or_insert_with(|| serde_json::Value::String(reference.to_owned()));
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| corrupt("case report", e))
}

/// A case's report as its row's body: without the reference, which the row holds in a column
/// of its own. A camera storm's case has a row per alert, and each stored it twice.
pub(crate) fn report_json(r: &ReportSummary) -> Result<String, StoreError> {
    let mut body = serde_json::to_value(r).map_err(|e| corrupt("case report serialisation", e))?;
    if let Some(fields) = body.as_object_mut() {
        fields.remove("reference");
    }
    serde_json::to_string(&body).map_err(|e| corrupt("case report serialisation", e))
}

/// What a change did to a case's reports, for the rows to follow: the references that left
/// it (a split) and the reports that joined it (a merge), in order. By reference, so it holds
/// for a case loaded with its report ends only, as long as `after` came from that `before`.
pub(crate) fn report_changes<'a>(before: Option<&'a Ticket>, after: &'a Ticket) -> (Vec<&'a Reference>, Vec<&'a ReportSummary>) {
    let had: HashSet<&Reference> = before.map(|b| b.reports.iter().map(|r| &r.reference).collect()).unwrap_or_default();
    let has: HashSet<&Reference> = after.reports.iter().map(|r| &r.reference).collect();
    let left = had.iter().filter(|r| !has.contains(*r)).copied().collect();
    let joined = after.reports.iter().filter(|r| !had.contains(&r.reference)).collect();
    (left, joined)
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

/// A case's reports, oldest first (the parameter is the case's id, in both dialects).
pub(crate) const ALL_REPORTS_SQL: &str = "SELECT reference, body FROM case_reports WHERE ticket_id = $1 ORDER BY ordinal";

/// A case's opening and newest report: two index lookups however many it has.
pub(crate) const REPORT_ENDS_SQL: &str = "SELECT reference, body FROM case_reports WHERE ticket_id = $1 AND ordinal IN \
     ((SELECT MIN(ordinal) FROM case_reports WHERE ticket_id = $1), (SELECT MAX(ordinal) FROM case_reports WHERE ticket_id = $1)) \
     ORDER BY ordinal";

/// `('a','b',…)`, for `state IN …`: the states' stored names.
fn states_in(states: impl Iterator<Item = TicketState>) -> String {
    let names: Vec<String> = states.map(|s| format!("'{}'", s.name())).collect();
    format!("({})", names.join(","))
}

/// Counts the cases not finished yet (suspended ones included) per state, through the state
/// index; which states those are is the core's [`TicketState::unfinished`].
pub(crate) static UNFINISHED_BY_STATE_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT state, COUNT(*) FROM tickets WHERE state IN {} GROUP BY state", states_in(TicketState::unfinished())));

/// Whether a finished case's history may go: its state (as stored) is a terminal one, and its
/// last event (`last_seq`, appended at `last_at`) came before `finished_before` and below
/// `keep_from`, the first seq that must stay (what a consumer has not read, the log's newest).
pub(crate) fn history_may_go(state: &str, last_seq: i64, last_at: i64, finished_before: Timestamp, keep_from: i64) -> bool {
    TicketState::from_name(state).is_some_and(TicketState::is_terminal) && last_at < finished_before.millis() && last_seq < keep_from
}

/// The cases of a window of ticket events, each once, in the order of their first event there.
pub(crate) fn cases_of(window: &[(i64, String, i64)]) -> Vec<&str> {
    let mut seen = HashSet::new();
    window.iter().map(|(_, key, _)| key.as_str()).filter(|key| seen.insert(*key)).collect()
}

/// What a step of trimming histories reports: the deleted count and the window's last event.
pub(crate) fn history_trim(deleted: u64, window: &[(i64, String, i64)]) -> HistoryTrim {
    HistoryTrim { deleted, looked_to: window.last().map(|(s, _, at)| (seq(*s), Timestamp::from_millis(*at))) }
}

/// Counts the unfinished cases past their running deadline (the parameter is `now`, in both
/// dialects). A suspended case's clock stands still, so it is never overdue.
pub(crate) static OVERDUE_OPEN_SQL: LazyLock<String> = LazyLock::new(|| {
    let running = TicketState::unfinished().filter(|s| *s != TicketState::Suspended);
    format!("SELECT COUNT(*) FROM tickets WHERE deadline <= $1 AND state IN {}", states_in(running))
});

/// Cases per state as a `GROUP BY state` gives them; a name this build does not know is left out.
pub(crate) fn counts_by_state(rows: Vec<(String, u64)>) -> Vec<(TicketState, u64)> {
    rows.into_iter().filter_map(|(s, n)| TicketState::from_name(&s).map(|s| (s, n))).collect()
}
