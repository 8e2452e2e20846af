//! The monthly 考核: figures a centre publishes, kept as a ledger the tracker writes with each
//! change, so a month's report never re-reads the cases and never changes once frozen.
//!
//! Every change to a case yields ledger [`Entry`]s (by [`entries`]): an indicator, a signed
//! amount, the case, the month it counts in and the unit it is credited to. The rules:
//!
//! - **A stage counts once, when it is disposed of or its deadline passes, whichever comes
//!   first**, in that month, credited to whoever held the case in that stage. A squad that
//!   returned a case answers for its sign-for only; the squad the case went to answers for
//!   the rest. So a case due in December but filed in November counts in December.
//! - **应结案 (should close) = 结案 + 超期未结案**: the cases closed in the month, plus those
//!   whose handling deadline passed in the month and were not closed, cancelled or suspended by
//!   its end (digitalcity eUrbanMIS: "disposed cases + overdue-undisposed cases, suspended
//!   excluded"; DOMAIN.md). A case that passes its deadline in a month and closes in the same
//!   month counts once, as closed late.
//! - **按期结案** is a close whose handling was reported by the handling deadline; a special
//!   closure is judged by the clock that ran (the dispatch clock of a case never dispatched).
//!   Cancelled cases and reports not filed are never 应结案.
//!
//! Totals per (month, unit, indicator) are kept beside the entries in the same transaction, so
//! a month's report reads a few hundred numbers whatever the number of cases. Rates, the
//! weighted composite score and the ranking are computed from totals by [`Sheet`].

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::escalation::Ladder;
use crate::ids::{SquadId, TicketId};
use crate::report::Channel;
use crate::ticket::{ChangeKind, CloseType, Satisfaction, Stage, StageClock, Ticket, TicketState, Transition};
use crate::time::Timestamp;

/// A calendar month in the city's time zone, written `2026-12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    /// The month `at` falls in, at the city's UTC offset.
    pub fn of(at: Timestamp, offset: FixedOffset) -> Self {
        let local = at.local(offset);
        Self { year: local.year(), month: local.month() }
    }

    /// Parses `YYYY-MM`; `field` names the request field in the error.
    pub fn parse(text: &str, field: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new(field, format!("{text:?} is not a month written YYYY-MM"));
        let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
        let (year, month): (i32, u32) = (year.parse().map_err(|_| bad())?, month.parse().map_err(|_| bad())?);
        NaiveDate::from_ymd_opt(year, month, 1).filter(|_| (1970..=9999).contains(&year)).ok_or_else(bad)?;
        Ok(Self { year, month })
    }

    /// The first instant of the month at `offset`.
    pub fn start(self, offset: FixedOffset) -> Timestamp {
        Self::first_instant(self.year, self.month, offset)
    }

    /// The first instant after the month at `offset`.
    pub fn end(self, offset: FixedOffset) -> Timestamp {
        let (year, month) = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        Self::first_instant(year, month, offset)
    }

    fn first_instant(year: i32, month: u32, offset: FixedOffset) -> Timestamp {
        let midnight = NaiveDate::from_ymd_opt(year, month, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default();
        Timestamp::from_local(midnight, offset)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Who a figure is credited to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// The whole city.
    City,
    /// A street or town, by code.
    Street(String),
    /// A squad (中队) or professional department.
    Squad(SquadId),
    /// A grid supervisor (监督员), by account.
    Supervisor(String),
    /// Who dispatched: a dispatcher's account, or [`ROUTER`] for the router's own dispatches.
    Dispatcher(String),
}

/// The dispatcher of cases the router dispatched by its rules.
pub const ROUTER: &str = "@router";

impl Unit {
    /// The stored key: `city`, `street:<code>`, `squad:<id>`, `supervisor:<account>`.
    pub fn key(&self) -> String {
        match self {
            Unit::City => "city".to_owned(),
            Unit::Street(code) => format!("street:{code}"),
            Unit::Squad(id) => format!("squad:{id}"),
            Unit::Supervisor(account) => format!("supervisor:{account}"),
            Unit::Dispatcher(account) => format!("dispatcher:{account}"),
        }
    }

    /// The unit of a stored key.
    pub fn from_key(key: &str) -> Option<Self> {
        match key.split_once(':') {
            None if key == "city" => Some(Unit::City),
            Some(("street", code)) => Some(Unit::Street(code.to_owned())),
            Some(("squad", id)) => Some(Unit::Squad(SquadId::new(id))),
            Some(("supervisor", account)) => Some(Unit::Supervisor(account.to_owned())),
            Some(("dispatcher", account)) => Some(Unit::Dispatcher(account.to_owned())),
            _ => None,
        }
    }

    /// `city`, `street`, `squad`, `supervisor` or `dispatcher`.
    pub fn kind(&self) -> &'static str {
        match self {
            Unit::City => "city",
            Unit::Street(_) => "street",
            Unit::Squad(_) => "squad",
            Unit::Supervisor(_) => "supervisor",
            Unit::Dispatcher(_) => "dispatcher",
        }
    }
}

/// A counted figure. Rates are ratios of these (see [`Figures`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Indicator {
    /// 立案数: cases filed.
    Filed,
    /// 派遣数: dispatches to a squad, by the router or by hand.
    Dispatched,
    /// 应派遣数: cases in the manual queue dispatched, or whose dispatch deadline passed first.
    DispatchOwed,
    /// 按期派遣数.
    DispatchedOnTime,
    /// 应签收数: tasks signed for, returned, or whose accept deadline passed first.
    AcceptOwed,
    /// 及时签收数.
    AcceptedOnTime,
    /// 应处置数: cases reported handled, or whose handling deadline passed first.
    DisposeOwed,
    /// 按期处置数.
    DisposedOnTime,
    /// 处置数: cases reported handled (the first time).
    Disposed,
    /// Milliseconds from dispatch to the first report of completion, summed over [`Indicator::Disposed`].
    HandlingMillis,
    /// 应核查数: checks (核查) made, or whose check deadline passed first.
    CheckOwed,
    /// 按期核查数.
    CheckedOnTime,
    /// 应核实数: public reports verified on site (核实).
    VerifyOwed,
    /// 按期核实数.
    VerifiedOnTime,
    /// 不予立案数.
    NotFiled,
    /// 结案数.
    Closed,
    /// 按期结案数.
    ClosedOnTime,
    /// 超期结案数.
    ClosedLate,
    /// 超期未结案数: passed the handling deadline in the month and not closed in it.
    OverdueUnclosed,
    /// 返工数.
    Reworked,
    /// 延期数.
    Extended,
    /// 挂账数.
    Suspended,
    /// 派遣错误数: returns the centre approved as its own dispatching error.
    DispatchErrors,
    /// 问题发现数: patrol reports a supervisor sent in.
    Reported,
    /// 有效上报数: of those, reports filed as a case (not merged as duplicates, not cancelled
    /// as invalid).
    ValidReports,
    /// 应回访数.
    RepliesDue,
    /// 已回访数.
    Replied,
    /// 按期回访数.
    RepliedOnTime,
    /// 满意数 (satisfied or basically satisfied).
    Satisfied,
    /// 督办 at a ladder level (1-based), by the ladder or by a leader.
    Pressed(u32),
}

/// Indicators without a level, in the order reports list them.
const PLAIN: [Indicator; 29] = [
    Indicator::Filed,
    Indicator::Dispatched,
    Indicator::DispatchOwed,
    Indicator::DispatchedOnTime,
    Indicator::AcceptOwed,
    Indicator::AcceptedOnTime,
    Indicator::DisposeOwed,
    Indicator::DisposedOnTime,
    Indicator::Disposed,
    Indicator::HandlingMillis,
    Indicator::CheckOwed,
    Indicator::CheckedOnTime,
    Indicator::VerifyOwed,
    Indicator::VerifiedOnTime,
    Indicator::NotFiled,
    Indicator::Closed,
    Indicator::ClosedOnTime,
    Indicator::ClosedLate,
    Indicator::OverdueUnclosed,
    Indicator::Reworked,
    Indicator::Extended,
    Indicator::Suspended,
    Indicator::DispatchErrors,
    Indicator::Reported,
    Indicator::ValidReports,
    Indicator::RepliesDue,
    Indicator::Replied,
    Indicator::RepliedOnTime,
    Indicator::Satisfied,
];

impl Indicator {
    /// The stored name, e.g. `closed_on_time` or `pressed_2`.
    pub fn name(self) -> String {
        let plain = match self {
            Indicator::Filed => "filed",
            Indicator::Dispatched => "dispatched",
            Indicator::DispatchOwed => "dispatch_owed",
            Indicator::DispatchedOnTime => "dispatched_on_time",
            Indicator::AcceptOwed => "accept_owed",
            Indicator::AcceptedOnTime => "accepted_on_time",
            Indicator::DisposeOwed => "dispose_owed",
            Indicator::DisposedOnTime => "disposed_on_time",
            Indicator::Disposed => "disposed",
            Indicator::HandlingMillis => "handling_millis",
            Indicator::CheckOwed => "check_owed",
            Indicator::CheckedOnTime => "checked_on_time",
            Indicator::VerifyOwed => "verify_owed",
            Indicator::VerifiedOnTime => "verified_on_time",
            Indicator::NotFiled => "not_filed",
            Indicator::Closed => "closed",
            Indicator::ClosedOnTime => "closed_on_time",
            Indicator::ClosedLate => "closed_late",
            Indicator::OverdueUnclosed => "overdue_unclosed",
            Indicator::Reworked => "reworked",
            Indicator::Extended => "extended",
            Indicator::Suspended => "suspended",
            Indicator::DispatchErrors => "dispatch_errors",
            Indicator::Reported => "reported",
            Indicator::ValidReports => "valid_reports",
            Indicator::RepliesDue => "replies_due",
            Indicator::Replied => "replied",
            Indicator::RepliedOnTime => "replied_on_time",
            Indicator::Satisfied => "satisfied",
            Indicator::Pressed(level) => return format!("pressed_{level}"),
        };
        plain.to_owned()
    }

    /// The indicator of a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        if let Some(level) = name.strip_prefix("pressed_") {
            return level.parse().ok().filter(|l| *l > 0).map(Indicator::Pressed);
        }
        PLAIN.into_iter().find(|i| i.name() == name)
    }
}

/// One ledger line: `amount` of `indicator` for each of `units` in `period`, because of
/// `ticket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The month it counts in.
    pub period: Period,
    /// Who it is credited to: the city, the street, and the squad or supervisor concerned.
    pub units: Vec<Unit>,
    /// What.
    pub indicator: Indicator,
    /// The case.
    pub ticket: TicketId,
    /// +1 for most; −1 takes back an 超期未结案 the same month closed; milliseconds for
    /// [`Indicator::HandlingMillis`].
    pub amount: i64,
}

/// What [`entries`] needs of the city.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The city's UTC offset: months are the city's months.
    pub offset: FixedOffset,
    /// The ladder, to tell 督办 levels.
    pub ladder: &'a Ladder,
}

/// The ledger entries of one recorded change: `before` is the case as it was (`None` when the
/// change opened it), `transition` what the state machine made of it at `now`.
pub fn entries(before: Option<&Ticket>, transition: &Transition, now: Timestamp, rules: Rules<'_>) -> Vec<Entry> {
    let after = &transition.ticket;
    let mut book = Book { out: Vec::new(), ticket: after, rules };
    let month = Period::of(now, rules.offset);
    for change in &transition.changes {
        book.change(before, change.kind, now, month);
    }
    book.overdue(before, after);
    book.out
}

/// Collects the entries of one transition.
struct Book<'a> {
    out: Vec<Entry>,
    ticket: &'a Ticket,
    rules: Rules<'a>,
}

impl Book<'_> {
    fn add(&mut self, period: Period, units: &[Unit], indicator: Indicator, amount: i64) {
        self.out.push(Entry { period, units: units.to_vec(), indicator, ticket: self.ticket.id.clone(), amount });
    }

    fn count(&mut self, period: Period, units: &[Unit], indicator: Indicator, on_time: Option<(Indicator, bool)>) {
        self.add(period, units, indicator, 1);
        if let Some((indicator, true)) = on_time {
            self.add(period, units, indicator, 1);
        }
    }

    /// The city, the case's street and `squad` (the one credited), if any.
    fn units(&self, squad: Option<&SquadId>) -> Vec<Unit> {
        let mut units = vec![Unit::City];
        units.extend(self.ticket.cell.as_ref().map(|c| Unit::Street(c.street_code.to_string())));
        units.extend(squad.cloned().map(Unit::Squad));
        units
    }

    fn change(&mut self, before: Option<&Ticket>, kind: ChangeKind, now: Timestamp, month: Period) {
        let t = self.ticket;
        let held_by = before.and_then(|b| b.squad.clone());
        match kind {
            ChangeKind::Filed => self.filed(before, month),
            ChangeKind::Verified => {
                self.verified(before, now, month);
                self.filed(before, month);
            }
            ChangeKind::ReportMerged => self.merged(before, month),
            ChangeKind::Dispatched => self.dispatched(before, now, month),
            ChangeKind::Accepted | ChangeKind::Returned => self.signed_for(before, now, month),
            ChangeKind::AcceptOverdue => {
                let due = before.and_then(|b| b.accept_deadline).unwrap_or(now);
                let units = self.units(held_by.as_ref());
                self.count(Period::of(due, self.rules.offset), &units, Indicator::AcceptOwed, None);
            }
            ChangeKind::Resolved => self.resolved(before, now, month),
            ChangeKind::CheckPassed | ChangeKind::CheckFailed => {
                let on_time = clock_of(before, Stage::Check).is_none_or(|c| now <= c.deadline);
                let units = self.units(None);
                self.count(month, &units, Indicator::CheckOwed, Some((Indicator::CheckedOnTime, on_time)));
                if kind == ChangeKind::CheckPassed {
                    self.closed(before, now, month);
                } else {
                    let units = self.units(held_by.as_ref());
                    self.count(month, &units, Indicator::Reworked, None);
                }
            }
            ChangeKind::Closed => self.closed(before, now, month),
            ChangeKind::Reopened => {
                let units = self.units(t.squad.as_ref());
                self.count(month, &units, Indicator::Reworked, None);
            }
            ChangeKind::NotFiled => {
                self.verified(before, now, month);
                let units = self.units(None);
                self.count(month, &units, Indicator::NotFiled, None);
            }
            ChangeKind::Cancelled => self.cancelled(before, month),
            ChangeKind::Suspended => {
                let units = self.units(held_by.as_ref());
                self.count(month, &units, Indicator::Suspended, None);
                self.take_back_overdue(month);
            }
            ChangeKind::Extended => {
                let units = self.units(held_by.as_ref());
                self.count(month, &units, Indicator::Extended, None);
            }
            ChangeKind::Escalated | ChangeKind::Pressed => self.pressed(before, kind, month),
            ChangeKind::Replied => self.replied(before, month),
            _ => {}
        }
        if let Some(b) = before
            && t.dispatch_errors > b.dispatch_errors
        {
            // Charged to whoever made the dispatch the squad sent back.
            let mut units = self.units(None);
            units.push(dispatcher(b));
            self.count(month, &units, Indicator::DispatchErrors, None);
        }
        let owed = t.replies.len().saturating_sub(before.map_or(0, |b| b.replies.len()));
        if owed > 0 {
            let units = self.units(t.squad.as_ref());
            self.add(month, &units, Indicator::RepliesDue, owed as i64);
        }
    }

    /// A case filed: 立案; and for a supervisor's patrol report, a found and valid report.
    fn filed(&mut self, before: Option<&Ticket>, month: Period) {
        let t = self.ticket;
        if !t.state.is_filed() || before.is_some_and(|b| b.state.is_filed()) {
            return;
        }
        // 立案 is the centre's and the street's; a squad answers for what it was given.
        let units = self.units(None);
        self.count(month, &units, Indicator::Filed, None);
        if let Some(supervisor) = patrol_reporter(t, 0) {
            let units = [Unit::Supervisor(supervisor)];
            self.count(month, &units, Indicator::Reported, Some((Indicator::ValidReports, true)));
        }
    }

    /// A duplicate report merged in: a supervisor's report is found, not valid.
    fn merged(&mut self, before: Option<&Ticket>, month: Period) {
        let index = before.map_or(0, |b| b.reports.len());
        if let Some(supervisor) = patrol_reporter(self.ticket, index) {
            self.count(month, &[Unit::Supervisor(supervisor)], Indicator::Reported, None);
        }
    }

    /// The on-site verification (核实) of a waiting public report, credited to its supervisor.
    fn verified(&mut self, before: Option<&Ticket>, now: Timestamp, month: Period) {
        let Some(b) = before.filter(|b| b.state == TicketState::Verifying) else { return };
        let on_time = clock_of(Some(b), Stage::Verify).is_none_or(|c| now <= c.deadline);
        let mut units = self.units(None);
        units.extend(self.ticket.verifier.clone().map(Unit::Supervisor));
        self.count(month, &units, Indicator::VerifyOwed, Some((Indicator::VerifiedOnTime, on_time)));
    }

    /// A dispatch: counted for the dispatcher (准确派遣率's denominator), and against the
    /// centre's dispatch clock when the case waited in the manual queue.
    fn dispatched(&mut self, before: Option<&Ticket>, now: Timestamp, month: Period) {
        let mut units = self.units(None);
        units.push(dispatcher(self.ticket));
        self.count(month, &units, Indicator::Dispatched, None);
        let Some(clock) = clock_of(before, Stage::Dispatch) else { return };
        let units = self.units(None);
        self.count(month, &units, Indicator::DispatchOwed, Some((Indicator::DispatchedOnTime, now <= clock.deadline)));
    }

    /// Signed for, or returned, before the accept deadline was marked passed.
    fn signed_for(&mut self, before: Option<&Ticket>, now: Timestamp, month: Period) {
        let Some(b) = before.filter(|b| b.accepted_at.is_none() && !b.accept_overdue && b.squad.is_some()) else { return };
        let on_time = b.accept_deadline.is_none_or(|d| now <= d);
        let units = self.units(b.squad.as_ref());
        self.count(month, &units, Indicator::AcceptOwed, Some((Indicator::AcceptedOnTime, on_time)));
    }

    /// The first report of completion disposes of the case (处置); a later one, after rework,
    /// is the same disposal done again.
    fn resolved(&mut self, before: Option<&Ticket>, now: Timestamp, month: Period) {
        let Some(b) = before.filter(|b| b.resolved_at.is_none()) else { return };
        let units = self.units(b.squad.as_ref());
        if b.overdue_since.is_none() {
            let on_time = b.handling.as_ref().is_none_or(|h| now <= h.deadline);
            self.count(month, &units, Indicator::DisposeOwed, Some((Indicator::DisposedOnTime, on_time)));
        }
        self.count(month, &units, Indicator::Disposed, None);
        if let Some(dispatched) = b.dispatched_at {
            self.add(month, &units, Indicator::HandlingMillis, now.millis_since(dispatched).max(0));
        }
    }

    /// 结案, on time or late, credited to the squad that held the case.
    fn closed(&mut self, before: Option<&Ticket>, now: Timestamp, month: Period) {
        let Some(b) = before else { return };
        let t = self.ticket;
        let on_time = match t.close_type {
            Some(CloseType::Normal) => true,
            Some(CloseType::Overdue) => false,
            // Judged by the clock that ran: the handling clock, or the dispatch clock of a
            // case the centre closed before dispatching it.
            _ => b.handling.as_ref().or(b.active_clock()).is_some_and(|c| now <= c.deadline),
        };
        let units = self.units(b.squad.as_ref());
        self.count(month, &units, Indicator::Closed, None);
        self.count(month, &units, if on_time { Indicator::ClosedOnTime } else { Indicator::ClosedLate }, None);
        self.take_back_overdue(month);
    }

    /// A cancelled case (作废) was never a case: it leaves 立案 of the month it was filed in
    /// and is never 应结案.
    fn cancelled(&mut self, before: Option<&Ticket>, month: Period) {
        let t = self.ticket;
        if before.is_some_and(|b| b.state.is_filed()) {
            self.take_back_overdue(month);
            let units = self.units(None);
            self.add(Period::of(t.created_at, self.rules.offset), &units, Indicator::Filed, -1);
        }
        let invalid = matches!(t.cancel_reason, Some(crate::ticket::CancelReason::Invalid | crate::ticket::CancelReason::OutOfScope));
        if let (true, Some(supervisor)) = (invalid, patrol_reporter(t, 0)) {
            self.add(month, &[Unit::Supervisor(supervisor)], Indicator::ValidReports, -1);
        }
    }

    /// A case closed, cancelled or suspended in the month its deadline passed is not 超期未结案
    /// in that month: it counts as closed (late) or not at all.
    fn take_back_overdue(&mut self, month: Period) {
        let t = self.ticket;
        if let Some(since) = t.overdue_since
            && Period::of(since, self.rules.offset) == month
        {
            let units = self.units(t.squad.as_ref());
            self.add(month, &units, Indicator::OverdueUnclosed, -1);
        }
    }

    /// The handling deadline passed (first noticed in this change): 超期未结案 in the deadline's
    /// month (taken back if the case closes in it), and 应处置 (late) unless the squad had
    /// reported it handled.
    fn overdue(&mut self, before: Option<&Ticket>, after: &Ticket) {
        let (Some(b), Some(since)) = (before, after.overdue_since) else { return };
        if b.overdue_since.is_some() {
            return;
        }
        let period = Period::of(since, self.rules.offset);
        let units = self.units(b.squad.as_ref());
        if b.resolved_at.is_none() && after.resolved_at.is_none() {
            self.count(period, &units, Indicator::DisposeOwed, None);
        }
        self.add(period, &units, Indicator::OverdueUnclosed, 1);
    }

    /// 督办: a leader's pressing at its level, or the handling clock's ladder reaching a level
    /// (the centre's own stages have ladders too, but they press the centre, not the squad).
    fn pressed(&mut self, before: Option<&Ticket>, kind: ChangeKind, month: Period) {
        let t = self.ticket;
        let level = match kind {
            ChangeKind::Pressed => t.presses.last().map(|p| p.level),
            _ => {
                let fired = |x: Option<&Ticket>| x.and_then(|x| x.handling.as_ref()).map_or(0, |h| h.fired_level);
                let reached = fired(Some(t));
                (reached > fired(before)).then_some(reached)
            }
        };
        if let Some(level) = level.filter(|l| *l > 0) {
            let top = u32::try_from(self.rules.ladder.steps().len()).unwrap_or(u32::MAX).max(1);
            let units = self.units(t.squad.as_ref());
            self.count(month, &units, Indicator::Pressed(level.min(top)), None);
        }
    }

    fn replied(&mut self, before: Option<&Ticket>, month: Period) {
        let t = self.ticket;
        let answered = |x: &Ticket| x.replies.iter().filter(|r| r.outcome.is_some()).count();
        if answered(t) <= before.map_or(0, answered) {
            return;
        }
        let Some(task) = t.replies.iter().filter(|r| r.outcome.is_some()).max_by_key(|r| r.outcome.as_ref().map(|o| o.at)) else { return };
        let Some(outcome) = &task.outcome else { return };
        let units = self.units(t.squad.as_ref());
        self.count(month, &units, Indicator::Replied, Some((Indicator::RepliedOnTime, outcome.at <= task.due)));
        if matches!(outcome.satisfaction, Satisfaction::Satisfied | Satisfaction::BasicallySatisfied) {
            self.count(month, &units, Indicator::Satisfied, None);
        }
    }
}

/// Who made the case's standing dispatch.
fn dispatcher(t: &Ticket) -> Unit {
    Unit::Dispatcher(t.dispatched_by.clone().unwrap_or_else(|| ROUTER.to_owned()))
}

/// The clock of `stage` running in `before`, if any.
fn clock_of(before: Option<&Ticket>, stage: Stage) -> Option<&StageClock> {
    before.and_then(|b| [b.side_clock.as_ref(), b.handling.as_ref()].into_iter().flatten().find(|c| c.stage == stage))
}

/// The supervisor who sent the case's `index`th report, if it is a patrol report.
fn patrol_reporter(t: &Ticket, index: usize) -> Option<String> {
    t.reports.get(index).filter(|r| r.channel == Channel::Patrol && !r.reporter.is_empty()).map(|r| r.reporter.clone())
}

/// Counted figures of one unit in one month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures(BTreeMap<String, i64>);

impl Figures {
    /// Adds `amount` of the indicator named `name`.
    pub fn add(&mut self, name: &str, amount: i64) {
        *self.0.entry(name.to_owned()).or_default() += amount;
    }

    /// The figure of `indicator` (0 if none).
    pub fn get(&self, indicator: Indicator) -> i64 {
        self.0.get(&indicator.name()).copied().unwrap_or(0)
    }

    /// Every figure by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// 应结案数 = 结案数 + 超期未结案数.
    pub fn should_close(&self) -> i64 {
        self.get(Indicator::Closed) + self.get(Indicator::OverdueUnclosed)
    }

    /// Every rate, by kind; `None` where its denominator is 0.
    pub fn rates(&self) -> Vec<(RateKind, Option<f64>)> {
        RateKind::ALL.iter().map(|k| (*k, k.of(self))).collect()
    }

    /// 平均处置时长 in seconds, if anything was disposed.
    pub fn average_handling_seconds(&self) -> Option<f64> {
        let n = self.get(Indicator::Disposed);
        (n > 0).then(|| self.get(Indicator::HandlingMillis) as f64 / n as f64 / 1000.0)
    }
}

/// A published rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RateKind {
    /// 结案率 = 结案数 / 应结案数.
    Closure,
    /// 按期结案率 = 按期结案数 / 应结案数.
    OnTimeClosure,
    /// 超期结案率 = 超期结案数 / 应结案数 (lower is better).
    OverdueClosure,
    /// 按期处置率 = 按期处置数 / 应处置数.
    OnTimeDisposal,
    /// 及时签收率 = 及时签收数 / 应签收数.
    TimelyAccept,
    /// 按期派遣率 = 按期派遣数 / 应派遣数.
    OnTimeDispatch,
    /// 准确派遣率 = (派遣数 − 派遣错误数) / 派遣数.
    AccurateDispatch,
    /// 按期核查率 = 按期核查数 / 应核查数.
    OnTimeCheck,
    /// 按期核实率 = 按期核实数 / 应核实数.
    OnTimeVerify,
    /// 返工率 = 返工数 / 处置数 (lower is better).
    Rework,
    /// 延期率 = 延期数 / 应处置数 (lower is better).
    Extension,
    /// 有效上报率 = 有效上报数 / 问题发现数.
    ValidReport,
    /// 按期回访率 = 按期回访数 / 应回访数.
    OnTimeReply,
    /// 满意率 = 满意数 / 已回访数.
    Satisfaction,
}

impl RateKind {
    /// Every rate, in the order reports show them.
    pub const ALL: [RateKind; 14] = [
        RateKind::Closure,
        RateKind::OnTimeClosure,
        RateKind::OverdueClosure,
        RateKind::OnTimeDisposal,
        RateKind::TimelyAccept,
        RateKind::OnTimeDispatch,
        RateKind::AccurateDispatch,
        RateKind::OnTimeCheck,
        RateKind::OnTimeVerify,
        RateKind::Rework,
        RateKind::Extension,
        RateKind::ValidReport,
        RateKind::OnTimeReply,
        RateKind::Satisfaction,
    ];

    /// The name used in config weights and exports.
    pub fn name(self) -> &'static str {
        match self {
            RateKind::Closure => "closure",
            RateKind::OnTimeClosure => "on_time_closure",
            RateKind::OverdueClosure => "overdue_closure",
            RateKind::OnTimeDisposal => "on_time_disposal",
            RateKind::TimelyAccept => "timely_accept",
            RateKind::OnTimeDispatch => "on_time_dispatch",
            RateKind::AccurateDispatch => "accurate_dispatch",
            RateKind::OnTimeCheck => "on_time_check",
            RateKind::OnTimeVerify => "on_time_verify",
            RateKind::Rework => "rework",
            RateKind::Extension => "extension",
            RateKind::ValidReport => "valid_report",
            RateKind::OnTimeReply => "on_time_reply",
            RateKind::Satisfaction => "satisfaction",
        }
    }

    /// The rate of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// True where a lower rate is better; the composite score counts `1 − rate` for these.
    pub fn lower_is_better(self) -> bool {
        matches!(self, RateKind::OverdueClosure | RateKind::Rework | RateKind::Extension)
    }

    /// The rate of `f`, `None` when nothing was owed.
    pub fn of(self, f: &Figures) -> Option<f64> {
        use Indicator as I;
        let (n, d) = match self {
            RateKind::Closure => (f.get(I::Closed), f.should_close()),
            RateKind::OnTimeClosure => (f.get(I::ClosedOnTime), f.should_close()),
            RateKind::OverdueClosure => (f.get(I::ClosedLate), f.should_close()),
            RateKind::OnTimeDisposal => (f.get(I::DisposedOnTime), f.get(I::DisposeOwed)),
            RateKind::TimelyAccept => (f.get(I::AcceptedOnTime), f.get(I::AcceptOwed)),
            RateKind::OnTimeDispatch => (f.get(I::DispatchedOnTime), f.get(I::DispatchOwed)),
            RateKind::AccurateDispatch => (f.get(I::Dispatched) - f.get(I::DispatchErrors), f.get(I::Dispatched)),
            RateKind::OnTimeCheck => (f.get(I::CheckedOnTime), f.get(I::CheckOwed)),
            RateKind::OnTimeVerify => (f.get(I::VerifiedOnTime), f.get(I::VerifyOwed)),
            RateKind::Rework => (f.get(I::Reworked), f.get(I::Disposed)),
            RateKind::Extension => (f.get(I::Extended), f.get(I::DisposeOwed)),
            RateKind::ValidReport => (f.get(I::ValidReports), f.get(I::Reported)),
            RateKind::OnTimeReply => (f.get(I::RepliedOnTime), f.get(I::RepliesDue)),
            RateKind::Satisfaction => (f.get(I::Satisfied), f.get(I::Replied)),
        };
        (d > 0).then(|| n as f64 / d as f64)
    }
}

/// The composite score's weights (综合评价), from city config: rate name → points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights(pub Vec<(RateKind, f64)>);

impl Weights {
    /// Jinhua's published weighting: 按期结案率 50 points, 结案率 20, and the squad's own stages
    /// for the rest.
    pub fn standard() -> Self {
        Self(vec![
            (RateKind::OnTimeClosure, 50.0),
            (RateKind::Closure, 20.0),
            (RateKind::OnTimeDisposal, 10.0),
            (RateKind::TimelyAccept, 10.0),
            (RateKind::Rework, 10.0),
        ])
    }

    /// The score of `f` out of 100: the weighted mean of the rates it has a denominator for
    /// (a lower-is-better rate counts as `1 − rate`); `None` if it has none.
    pub fn score(&self, f: &Figures) -> Option<f64> {
        let (mut points, mut weight) = (0.0, 0.0);
        for (kind, w) in &self.0 {
            if let Some(rate) = kind.of(f) {
                points += w * if kind.lower_is_better() { 1.0 - rate } else { rate };
                weight += w;
            }
        }
        (weight > 0.0).then(|| 100.0 * points / weight)
    }
}

/// One unit's line of a month's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The unit's key ([`Unit::key`]).
    pub unit: String,
    /// Its figures.
    pub figures: Figures,
    /// Composite score out of 100, if any rate applies.
    pub score: Option<f64>,
    /// Rank among units of its kind by score (1 = best); 0 without a score.
    pub rank: u32,
}

/// A month's report: every unit's figures, scores and ranks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sheet {
    /// The month.
    pub period: String,
    /// Lines: the city, then streets, squads, supervisors and dispatchers, each by key.
    pub lines: Vec<Line>,
}

impl Sheet {
    /// Builds the report from stored totals `(unit key, indicator name, value)`.
    pub fn from_totals(period: Period, totals: impl IntoIterator<Item = (String, String, i64)>, weights: &Weights) -> Self {
        let mut by_unit: BTreeMap<(u8, String), Figures> = BTreeMap::new();
        for (unit, indicator, value) in totals {
            let order = Unit::from_key(&unit).map_or(9, |u| match u {
                Unit::City => 0,
                Unit::Street(_) => 1,
                Unit::Squad(_) => 2,
                Unit::Supervisor(_) => 3,
                Unit::Dispatcher(_) => 4,
            });
            by_unit.entry((order, unit)).or_default().add(&indicator, value);
        }
        let mut lines: Vec<Line> =
            by_unit.into_iter().map(|((_, unit), figures)| Line { score: weights.score(&figures), unit, figures, rank: 0 }).collect();
        rank(&mut lines);
        Self { period: period.to_string(), lines }
    }

    /// The line of `unit`, if it has figures.
    pub fn line(&self, unit: &Unit) -> Option<&Line> {
        let key = unit.key();
        self.lines.iter().find(|l| l.unit == key)
    }
}

/// Ranks lines by score within their unit kind; ties share a rank.
fn rank(lines: &mut [Line]) {
    let kind = |l: &Line| l.unit.split(':').next().unwrap_or_default().to_owned();
    let scores: Vec<(String, f64)> = lines.iter().filter_map(|l| l.score.map(|s| (kind(l), s))).collect();
    for line in lines.iter_mut() {
        if let Some(score) = line.score {
            let k = kind(line);
            line.rank = 1 + scores.iter().filter(|(other, s)| *other == k && *s > score + 1e-9).count() as u32;
        }
    }
}

#[cfg(test)]
mod tests;
