//! Evaluation indicators (综合评价) over a set of tickets, per squad, per street or city-wide.
//!
//! A case "should" be disposed (应处置) once it was handled or its handling deadline has passed,
//! and "should" be closed (应结案) once it was closed or its deadline has passed: a case still
//! inside its time limit is not yet owed, and an overdue one counts against the rate whether
//! handled or not, so an on-time rate cannot look good by ignoring open overdue cases.
//! Suspended and cancelled cases are left out, as eUrbanMIS and Jinhua's rules do.
//!
//! Reports still waiting for on-site verification (核实), and those verification refused
//! (不予立案), are not cases: they count only in the verification figures, and their callers'
//! replies in the reply figures (回访率, 按期回访率, 满意率).

use crate::ticket::{CloseType, Satisfaction, Ticket, TicketState};
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
    /// 应处置数: dispatched, not cancelled or suspended, and handled or past its deadline.
    pub should_dispose: u64,
    /// 按期处置数: among those, reported handled by the handling deadline (and not sent back).
    pub disposed_on_time: u64,
    /// 应结案数: not cancelled or suspended, and closed or past its deadline.
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
    /// 应回访数: reply tasks opened.
    pub replies_due: u64,
    /// 已回访数: callers reached.
    pub replied: u64,
    /// Callers reached by the due time.
    pub replied_on_time: u64,
    /// Callers reached who were satisfied or basically satisfied.
    pub satisfied: u64,
    /// 核实数: reports verified on site (confirmed or not filed).
    pub verified: u64,
    /// 不予立案数.
    pub not_filed: u64,
    /// 派遣错误数: returns approved as the dispatcher's error.
    pub dispatch_errors: u64,
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

impl Kpi {
    /// Adds one ticket, judged at `now`.
    pub fn add(&mut self, t: &Ticket, now: Timestamp) {
        self.add_replies(t);
        self.verified += u64::from((t.verifier.is_some() && t.state != TicketState::Verifying) || t.state == TicketState::NotFiled);
        self.not_filed += u64::from(t.state == TicketState::NotFiled);
        if !t.state.is_filed() {
            return;
        }
        let counted = !matches!(t.state, TicketState::Cancelled | TicketState::Suspended);
        let dispatched = t.dispatch_count > 0;
        self.filed += 1;
        self.dispatched += u64::from(dispatched);
        self.closed += u64::from(t.state == TicketState::Closed);
        let deadline = t.handling.as_ref().map(|h| h.deadline).or_else(|| t.active_clock().map(|c| c.deadline));
        let due = deadline.is_some_and(|d| d <= now);
        let disposed_now = matches!(t.state, TicketState::Checking | TicketState::Closed) && t.resolved_at.is_some();
        if dispatched && counted && (disposed_now || due) {
            self.should_dispose += 1;
            self.disposed_on_time += u64::from(disposed_now && !t.resolved_late());
        }
        if counted && (t.state == TicketState::Closed || due) {
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
        self.dispatch_errors += u64::from(t.dispatch_errors);
        self.extended += u64::from(t.extension_count > 0);
        self.overdue_pending += u64::from(!t.state.is_terminal() && t.is_overdue(now));
    }

    fn add_replies(&mut self, t: &Ticket) {
        for task in &t.replies {
            self.replies_due += 1;
            let Some(outcome) = &task.outcome else { continue };
            self.replied += 1;
            self.replied_on_time += u64::from(outcome.at <= task.due);
            self.satisfied += u64::from(matches!(outcome.satisfaction, Satisfaction::Satisfied | Satisfaction::BasicallySatisfied));
        }
    }

    /// 回访率: callers reached / replies owed.
    pub fn reply_rate(&self) -> f64 {
        ratio(self.replied, self.replies_due)
    }

    /// 按期回访率: callers reached by the due time / replies owed.
    pub fn on_time_reply_rate(&self) -> f64 {
        ratio(self.replied_on_time, self.replies_due)
    }

    /// 满意率: satisfied and basically satisfied / callers reached.
    pub fn satisfaction_rate(&self) -> f64 {
        ratio(self.satisfied, self.replied)
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

#[cfg(test)]
mod tests {
    use geo::Point;

    use super::*;
    use crate::calendar::tests::calendar_2026;
    use crate::category::{CategoryCode, LimitSpec, Urgency};
    use crate::escalation::Ladder;
    use crate::ids::{Reference, SquadId, TicketId};
    use crate::report::{Channel, ReportSummary};
    use crate::ticket::{self, Actor, CancelReason, Command, NewCase, Placement, Policy, Routing};

    const HOUR: i64 = 3_600_000;

    fn run(handle: impl FnOnce(Ticket, &dyn Fn(&Ticket, Command, Timestamp) -> Ticket) -> Ticket) -> Ticket {
        let calendar = calendar_2026();
        let ladder = Ladder::default();
        let spec = |s: &str| LimitSpec::parse(s).expect("limit");
        let stages = crate::ticket::test_stage_limits();
        let policy =
            Policy { calendar: &calendar, ladder: &ladder, stages: &stages, on_dissatisfied: crate::ticket::OnDissatisfied::Reopen };
        let case = NewCase {
            id: TicketId::new("t"),
            report: ReportSummary {
                reference: Reference::new("t"),
                channel: Channel::Patrol,
                received_at: Timestamp::from_millis(0),
                reply_required: false,
                contact_masked: String::new(),
                photo_urls: Vec::new(),
                caller_name: String::new(),
                contact_phone: String::new(),
                confidential: false,
                external_ticket_id: String::new(),
                reporter: String::new(),
            },
            category: CategoryCode::parse("E0102").expect("code"),
            condition: None,
            urgency: Urgency::Urgent,
            handling: spec("2h"),
            location: Some(Point::new(118.35, 34.37)),
            address: String::new(),
            description: String::new(),
            cell: None,
            rural: false,
            placement: Placement::Assigned {
                squad: SquadId::new("sq-1"),
                routing: Routing { rule_id: "r".into(), reason: String::new(), grid_version: String::new() },
            },
        };
        let t = ticket::open(case, Timestamp::from_millis(0), policy).ticket;
        let squad = Actor::Squad { squad: SquadId::new("sq-1"), member: "m".into() };
        let step = |t: &Ticket, c: Command, at: Timestamp| {
            let actor =
                if matches!(c, Command::Verify { .. } | Command::Cancel { .. }) { Actor::Operator("op".into()) } else { squad.clone() };
            ticket::apply(t, &c, &actor, at, policy).expect("allowed").ticket
        };
        handle(t, &step)
    }

    fn closed_after(hours: i64) -> Ticket {
        run(|t, step| {
            let at = |h: i64| Timestamp::from_millis(h * HOUR);
            let t = step(&t, Command::Accept, at(0));
            let t = step(&t, Command::Start, at(0));
            let t = step(&t, Command::Resolve { note: String::new(), photo_urls: Vec::new() }, at(hours));
            step(&t, Command::Verify { passed: true }, at(hours))
        })
    }

    #[test]
    fn only_owed_cases_count_and_overdue_ones_count_against() {
        let now = Timestamp::from_millis(3 * HOUR);
        let on_time = closed_after(1);
        let late = closed_after(3);
        let open_not_due = run(|t, _| t);
        let open_overdue = run(|t, _| t);
        let cancelled = run(|t, step| step(&t, Command::Cancel { reason: CancelReason::Invalid }, Timestamp::from_millis(0)));
        let mut k = Kpi::default();
        // The 2 h urgent limit from time 0 has passed at 3 h for every dispatched case; judge
        // the open one at 1 h, when it is not yet owed.
        for t in [&on_time, &late, &cancelled] {
            k.add(t, now);
        }
        k.add(&open_not_due, Timestamp::from_millis(HOUR));
        k.add(&open_overdue, now);
        assert_eq!((k.filed, k.closed, k.should_dispose, k.disposed_on_time), (5, 2, 3, 1));
        assert_eq!((k.should_close, k.closed_on_time, k.overdue_pending), (3, 1, 1));
        assert!((k.on_time_disposal_rate() - 1.0 / 3.0).abs() < 1e-9);
        assert!((k.closure_rate() - 2.0 / 3.0).abs() < 1e-9);
    }
}
