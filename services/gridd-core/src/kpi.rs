//! Evaluation indicators (综合评价) over a set of tickets, per squad, per street or city-wide.
//!
//! Suspended and cancelled cases are left out of the "should" denominators, as eUrbanMIS and
//! Jinhua's rules do; open cases past their deadline count as overdue-pending, so an on-time
//! rate cannot look good by ignoring them.

use crate::ticket::{CloseType, Ticket, TicketState};
use crate::time::Timestamp;

/// Indicators of one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kpi {
    /// 立案数.
    pub filed: u64,
    /// Dispatched at least once.
    pub dispatched: u64,
    /// 结案数.
    pub closed: u64,
    /// 应处置数: dispatched, not cancelled, not suspended.
    pub should_dispose: u64,
    /// 按期处置数: among those, reported handled by the handling deadline (and not sent back).
    pub disposed_on_time: u64,
    /// 应结案数: not cancelled, not suspended.
    pub should_close: u64,
    /// Closed by the handling deadline (or special closures of cases without one).
    pub closed_on_time: u64,
    /// Cases that reached the check at least once.
    pub disposed: u64,
    /// Cases with at least one rework.
    pub reworked: u64,
    /// Cases with at least one extension.
    pub extended: u64,
    /// 超期未处置数 at `now`.
    pub overdue_pending: u64,
    /// Sum of dispatch → last completion report, in milliseconds.
    pub handling_millis_total: i64,
    /// Cases in that sum.
    pub handling_count: u64,
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

impl Kpi {
    /// Adds one ticket, judged at `now`.
    pub fn add(&mut self, t: &Ticket, now: Timestamp) {
        let counted = !matches!(t.state, TicketState::Cancelled | TicketState::Suspended);
        let dispatched = t.dispatch_count > 0;
        self.filed += 1;
        self.dispatched += u64::from(dispatched);
        self.closed += u64::from(t.state == TicketState::Closed);
        if dispatched && counted {
            self.should_dispose += 1;
            let disposed_now = matches!(t.state, TicketState::Checking | TicketState::Closed) && t.resolved_at.is_some();
            self.disposed_on_time += u64::from(disposed_now && !t.resolved_late());
        }
        if counted {
            self.should_close += 1;
            self.closed_on_time += u64::from(self.closed_in_time(t));
        }
        if let Some(resolved) = t.resolved_at {
            self.disposed += 1;
            if let Some(dispatched_at) = t.dispatched_at {
                self.handling_millis_total += resolved.millis_since(dispatched_at).max(0);
                self.handling_count += 1;
            }
        }
        self.reworked += u64::from(t.rework_count > 0);
        self.extended += u64::from(t.extension_count > 0);
        self.overdue_pending += u64::from(!t.state.is_terminal() && t.is_overdue(now));
    }

    fn closed_in_time(&self, t: &Ticket) -> bool {
        match (t.state, t.close_type, &t.handling, t.closed_at) {
            (TicketState::Closed, Some(CloseType::Normal), _, _) => true,
            (TicketState::Closed, Some(CloseType::Special), None, _) => true,
            (TicketState::Closed, Some(CloseType::Special), Some(h), Some(at)) => at <= h.deadline,
            _ => false,
        }
    }

    /// 按期处置率.
    pub fn on_time_disposal_rate(&self) -> f64 {
        ratio(self.disposed_on_time, self.should_dispose)
    }

    /// 结案率.
    pub fn closure_rate(&self) -> f64 {
        ratio(self.closed, self.should_close)
    }

    /// 按期结案率.
    pub fn on_time_closure_rate(&self) -> f64 {
        ratio(self.closed_on_time, self.should_close)
    }

    /// 返工率: reworked / reached the check.
    pub fn rework_rate(&self) -> f64 {
        ratio(self.reworked, self.disposed)
    }

    /// 延期率: extended / dispatched.
    pub fn extension_rate(&self) -> f64 {
        ratio(self.extended, self.dispatched)
    }

    /// 平均处置时长, in seconds.
    pub fn average_handling_seconds(&self) -> f64 {
        if self.handling_count == 0 { 0.0 } else { self.handling_millis_total as f64 / self.handling_count as f64 / 1000.0 }
    }
}
