use chrono::NaiveDate;
use geo::Point;

use super::*;
use crate::calendar::WorkCalendar;
use crate::calendar::tests::calendar_2026;
use crate::category::{CategoryCode, LimitSpec, Urgency};
use crate::grid::CellRef;
use crate::ids::{CellCode, CommunityCode, Reference, StreetCode};
use crate::report::ReportSummary;
use crate::ticket::{self, Actor, CancelReason, Command, ManualReason, NewCase, OnDissatisfied, Placement, Policy, Routing, StageLimits};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("offset")
}

/// Local time in Xinyi.
fn at(month: u32, day: u32, hour: u32) -> Timestamp {
    let (year, month) = if month > 12 { (2027, month - 12) } else { (2026, month) };
    let local = NaiveDate::from_ymd_opt(year, month, day).and_then(|d| d.and_hms_opt(hour, 0, 0)).expect("valid time");
    Timestamp::from_local(local, china())
}

fn month(text: &str) -> Period {
    Period::parse(text, "period").expect("month")
}

/// A city of one street and its ledger: every change is applied by the state machine and
/// booked by [`entries`], as the tracker does.
struct City {
    calendar: WorkCalendar,
    ladder: Ladder,
    stages: StageLimits,
    ledger: Vec<Entry>,
    next_id: u32,
}

impl City {
    fn new() -> Self {
        Self {
            calendar: calendar_2026(),
            ladder: Ladder::default(),
            stages: crate::ticket::test_stage_limits(),
            ledger: Vec::new(),
            next_id: 0,
        }
    }

    fn policy(&self) -> Policy<'_> {
        Policy { calendar: &self.calendar, ladder: &self.ladder, stages: &self.stages, on_dissatisfied: OnDissatisfied::Reopen }
    }

    fn rules(&self) -> Rules<'_> {
        Rules { offset: china(), ladder: &self.ladder }
    }

    /// Files a case with a 2-hour (24×7) handling limit at `now`, to `squad` or the manual queue.
    fn file(&mut self, squad: Option<&str>, now: Timestamp) -> Ticket {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        let placement = match squad {
            Some(s) => Placement::Assigned {
                squad: SquadId::new(s),
                routing: Routing { rule_id: "r".into(), reason: String::new(), grid_version: String::new() },
            },
            None => Placement::Manual { reason: ManualReason::NoResponsibleSquad, routing: None },
        };
        let case = NewCase {
            id: TicketId::new(&id),
            report: ReportSummary {
                reference: Reference::new(&id),
                channel: Channel::Patrol,
                received_at: now,
                reply_required: false,
                contact_masked: String::new(),
                photo_urls: Vec::new(),
                caller_name: String::new(),
                contact_phone: String::new(),
                confidential: false,
                external_ticket_id: String::new(),
                reporter: "sup.a".into(),
            },
            category: CategoryCode::parse("E0102").expect("code"),
            condition: None,
            urgency: Urgency::Normal,
            handling: LimitSpec::parse("2h").expect("limit"),
            location: Some(Point::new(118.35, 34.37)),
            address: String::new(),
            description: String::new(),
            cell: Some(CellRef {
                cell_code: CellCode::parse("320381001001001").expect("cell"),
                street_code: StreetCode::parse("320381001").expect("street"),
                street_name: "新安街道".into(),
                community_code: CommunityCode::parse("320381001001").expect("community"),
                community_name: "职工居委会".into(),
            }),
            rural: false,
            placement,
        };
        let transition = ticket::open(case, now, self.policy());
        self.book(None, &transition, now);
        transition.ticket
    }

    fn book(&mut self, before: Option<&Ticket>, transition: &Transition, now: Timestamp) {
        let booked = entries(before, transition, now, self.rules());
        self.ledger.extend(booked);
    }

    /// Fires the case's timers due up to `until`, then applies `command` by `actor` at `until`.
    fn step(&mut self, t: &Ticket, command: Command, actor: &Actor, until: Timestamp) -> Ticket {
        let t = self.wait(t, until);
        let transition = ticket::apply(&t, &command, actor, until, self.policy()).expect("allowed");
        self.book(Some(&t), &transition, until);
        transition.ticket
    }

    /// Fires the case's timers due up to `until`, in order, as the tracker's timer loop does.
    fn wait(&mut self, t: &Ticket, until: Timestamp) -> Ticket {
        let mut t = t.clone();
        while let Some(timer) = ticket::desired_timers(&t, self.policy()).into_iter().filter(|x| x.due <= until).min_by_key(|x| x.due) {
            let transition = ticket::apply(&t, &Command::Fire(timer), &Actor::Timer, timer.due, self.policy()).expect("due timer");
            self.book(Some(&t), &transition, timer.due);
            t = transition.ticket;
        }
        t
    }

    /// Signs for, starts and reports handled `after` from dispatch; checked an hour later.
    fn handle(&mut self, t: &Ticket, squad: &str, resolved_after: i64) -> Ticket {
        let start = t.dispatched_at.expect("dispatched");
        let member = Actor::Squad { squad: SquadId::new(squad), member: "m".into() };
        let t = self.step(t, Command::Accept, &member, start.add_millis(10 * MIN));
        let t = self.step(&t, Command::Start, &member, start.add_millis(11 * MIN));
        self.step(&t, Command::Resolve { note: String::new(), photo_urls: Vec::new() }, &member, start.add_millis(resolved_after))
    }

    fn check(&mut self, t: &Ticket, passed: bool) -> Ticket {
        let at = t.resolved_at.expect("resolved").add_millis(30 * MIN);
        self.step(t, Command::Verify { passed }, &operator(), at)
    }

    /// Figures of `unit` in `period` from the ledger.
    fn figures(&self, period: Period, unit: &Unit) -> Figures {
        let mut f = Figures::default();
        for e in self.ledger.iter().filter(|e| e.period == period && e.units.contains(unit)) {
            f.add(&e.indicator.name(), e.amount);
        }
        f
    }
}

fn operator() -> Actor {
    Actor::Operator("op".into())
}

fn squad(id: &str) -> Unit {
    Unit::Squad(SquadId::new(id))
}

/// Tianmen's published December 2016 figures (天门 数字化城市管理12月绩效情况通报, S27 in
/// reference/domain-reference.md): 996 filed, 972 should close, 911 closed (93.72 %), 737 on
/// time (75.82 %). The same month, made of cases that run through the state machine: 737
/// closed within their limit, 174 closed after it, 61 past their deadline and open at the
/// month's end, and 24 filed in its last hours and not yet due.
#[test]
fn tianmen_december_2016_through_the_same_formulas() {
    let mut city = City::new();
    let december = month("2026-12");
    for i in 0..972_i64 {
        // Spread over the month's first 27 days.
        let t = city.file(Some("sq-1"), at(12, 1, 8).add_millis(i * 40 * MIN));
        if i < 737 {
            let t = city.handle(&t, "sq-1", HOUR);
            city.check(&t, true);
        } else if i < 911 {
            let t = city.handle(&t, "sq-1", 3 * HOUR);
            city.check(&t, true);
        } else {
            let t = city.step(&t, Command::Accept, &Actor::Squad { squad: SquadId::new("sq-1"), member: "m".into() }, t.created_at);
            city.wait(&t, at(12, 31, 23));
        }
    }
    for i in 0..24_i64 {
        let t = city.file(Some("sq-1"), at(12, 31, 22).add_millis(i * MIN));
        city.wait(&t, at(12, 31, 23));
    }
    for unit in [Unit::City, squad("sq-1")] {
        let f = city.figures(december, &unit);
        assert_eq!((f.get(Indicator::Closed), f.should_close(), f.get(Indicator::ClosedOnTime)), (911, 972, 737), "{unit:?}");
        let rate = |k: RateKind| k.of(&f).map(|r| (r * 10_000.0).round() / 100.0);
        assert_eq!(rate(RateKind::Closure), Some(93.72), "{unit:?}");
        assert_eq!(rate(RateKind::OnTimeClosure), Some(75.82), "{unit:?}");
        assert_eq!(f.get(Indicator::OverdueUnclosed), 61);
    }
    let city_figures = city.figures(december, &Unit::City);
    assert_eq!(city_figures.get(Indicator::Filed), 996);
    assert_eq!(city.figures(december, &Unit::Supervisor("sup.a".into())).get(Indicator::ValidReports), 996);
}

#[test]
fn a_case_counts_in_the_month_it_falls_due_and_again_when_it_is_closed() {
    let mut city = City::new();
    // Filed on 30 November at 23:00 with a 2-hour limit: due at 01:00 on 1 December.
    let t = city.file(Some("sq-1"), at(11, 30, 23));
    let t = city.wait(&t, at(12, 31, 23));
    let (november, december, january) = (month("2026-11"), month("2026-12"), month("2027-01"));
    let nov = city.figures(november, &squad("sq-1"));
    assert_eq!((nov.should_close(), nov.get(Indicator::DisposeOwed)), (0, 0), "not owed in November");
    assert_eq!(city.figures(november, &Unit::City).get(Indicator::Filed), 1);
    let dec = city.figures(december, &squad("sq-1"));
    assert_eq!((dec.should_close(), dec.get(Indicator::Closed), dec.get(Indicator::DisposeOwed)), (1, 0, 1));
    assert_eq!(RateKind::Closure.of(&dec), Some(0.0));
    // Handled and closed in January: January's closure, late; December stays as it was.
    let member = Actor::Squad { squad: SquadId::new("sq-1"), member: "m".into() };
    let t = city.step(&t, Command::Accept, &member, at(13, 4, 9));
    let t = city.step(&t, Command::Start, &member, at(13, 4, 9));
    let t = city.step(&t, Command::Resolve { note: String::new(), photo_urls: Vec::new() }, &member, at(13, 4, 10));
    city.check(&t, true);
    assert_eq!(city.figures(december, &squad("sq-1")), dec);
    let jan = city.figures(january, &squad("sq-1"));
    assert_eq!((jan.get(Indicator::Closed), jan.get(Indicator::ClosedLate), jan.should_close()), (1, 1, 1));
    assert_eq!(jan.get(Indicator::DisposeOwed), 0, "its disposal was owed in December");
}

#[test]
fn overdue_and_closed_in_the_same_month_counts_once_as_closed_late() {
    let mut city = City::new();
    let t = city.file(Some("sq-1"), at(12, 2, 9));
    let t = city.handle(&t, "sq-1", 5 * HOUR);
    city.check(&t, true);
    let f = city.figures(month("2026-12"), &squad("sq-1"));
    assert_eq!((f.should_close(), f.get(Indicator::Closed), f.get(Indicator::ClosedLate), f.get(Indicator::OverdueUnclosed)), (1, 1, 1, 0));
    assert_eq!((f.get(Indicator::DisposeOwed), f.get(Indicator::DisposedOnTime)), (1, 0));
    assert!(f.get(Indicator::Pressed(2)) >= 1, "the ladder's 普通督办 fired: {f:?}");
}

#[test]
fn a_squad_that_returned_the_case_answers_only_for_its_sign_for() {
    let mut city = City::new();
    let t = city.file(Some("sq-1"), at(12, 2, 9));
    let first = Actor::Squad { squad: SquadId::new("sq-1"), member: "m".into() };
    let t = city.step(&t, Command::Return { reason: "not ours".into() }, &first, at(12, 2, 9).add_millis(5 * MIN));
    let t = city.step(&t, Command::Dispatch { squad: SquadId::new("sq-2") }, &operator(), at(12, 2, 9).add_millis(10 * MIN));
    city.wait(&t, at(12, 3, 9));
    let december = month("2026-12");
    let returned = city.figures(december, &squad("sq-1"));
    assert_eq!((returned.get(Indicator::AcceptOwed), returned.get(Indicator::AcceptedOnTime)), (1, 1));
    assert_eq!((returned.should_close(), returned.get(Indicator::DisposeOwed)), (0, 0), "{returned:?}");
    let holder = city.figures(december, &squad("sq-2"));
    assert_eq!((holder.should_close(), holder.get(Indicator::DisposeOwed), holder.get(Indicator::AcceptOwed)), (1, 1, 1));
    assert_eq!(holder.get(Indicator::AcceptedOnTime), 0, "sq-2 never signed for it");
    let centre = city.figures(december, &Unit::City);
    assert_eq!((centre.get(Indicator::DispatchOwed), centre.get(Indicator::DispatchedOnTime)), (1, 1));
    assert_eq!(centre.get(Indicator::Dispatched), 2, "the router's dispatch and the dispatcher's");
    let op = city.figures(december, &Unit::Dispatcher("op".into()));
    assert_eq!((op.get(Indicator::Dispatched), RateKind::AccurateDispatch.of(&op)), (1, Some(1.0)));
}

#[test]
fn a_special_closure_before_dispatch_is_judged_by_the_dispatch_clock() {
    let mut city = City::new();
    let in_time = city.file(None, at(12, 2, 9));
    city.step(&in_time, Command::Close, &operator(), at(12, 2, 9).add_millis(10 * MIN));
    let late = city.file(None, at(12, 2, 9));
    city.step(&late, Command::Close, &operator(), at(12, 2, 12));
    let f = city.figures(month("2026-12"), &Unit::City);
    assert_eq!((f.get(Indicator::Closed), f.get(Indicator::ClosedOnTime), f.get(Indicator::ClosedLate)), (2, 1, 1));
}

#[test]
fn cancelled_cases_are_not_filed_and_never_owed() {
    let mut city = City::new();
    let t = city.file(Some("sq-1"), at(12, 2, 9));
    let t = city.wait(&t, at(12, 2, 12));
    city.step(&t, Command::Cancel { reason: CancelReason::Invalid }, &operator(), at(12, 2, 13));
    let f = city.figures(month("2026-12"), &Unit::City);
    assert_eq!((f.get(Indicator::Filed), f.should_close(), f.get(Indicator::Closed)), (0, 0, 0), "{f:?}");
    let supervisor = city.figures(month("2026-12"), &Unit::Supervisor("sup.a".into()));
    assert_eq!((supervisor.get(Indicator::Reported), supervisor.get(Indicator::ValidReports)), (1, 0));
    assert_eq!(RateKind::ValidReport.of(&supervisor), Some(0.0));
}

#[test]
fn rework_and_checks_are_counted_where_they_belong() {
    let mut city = City::new();
    let t = city.file(Some("sq-1"), at(12, 2, 9));
    let t = city.handle(&t, "sq-1", 30 * MIN);
    let t = city.check(&t, false);
    let member = Actor::Squad { squad: SquadId::new("sq-1"), member: "m".into() };
    let t = city.step(&t, Command::Accept, &member, at(12, 2, 10).add_millis(5 * MIN));
    let t = city.step(&t, Command::Start, &member, at(12, 2, 10).add_millis(6 * MIN));
    let t = city.step(&t, Command::Resolve { note: String::new(), photo_urls: Vec::new() }, &member, at(12, 2, 10).add_millis(20 * MIN));
    city.check(&t, true);
    let f = city.figures(month("2026-12"), &squad("sq-1"));
    assert_eq!((f.get(Indicator::Reworked), f.get(Indicator::Disposed), f.get(Indicator::DisposeOwed)), (1, 1, 1));
    assert_eq!((f.get(Indicator::AcceptOwed), f.get(Indicator::AcceptedOnTime)), (2, 2), "signed for again after rework");
    assert_eq!((f.get(Indicator::Closed), f.get(Indicator::ClosedOnTime)), (1, 1));
    let centre = city.figures(month("2026-12"), &Unit::City);
    assert_eq!((centre.get(Indicator::CheckOwed), centre.get(Indicator::CheckedOnTime)), (2, 2));
}

#[test]
fn the_composite_score_weighs_the_rates_and_ranks_units_of_a_kind() {
    let totals = |unit: &str, closed: i64, on_time: i64, overdue: i64| {
        [("closed", closed), ("closed_on_time", on_time), ("overdue_unclosed", overdue)]
            .map(|(name, v)| (unit.to_owned(), name.to_owned(), v))
    };
    let weights = Weights(vec![(RateKind::OnTimeClosure, 50.0), (RateKind::Closure, 50.0)]);
    let rows = [totals("squad:a", 10, 10, 0), totals("squad:b", 8, 4, 2), totals("squad:c", 10, 10, 0), totals("city", 28, 24, 2)];
    let sheet = Sheet::from_totals(month("2026-12"), rows.into_iter().flatten(), &weights);
    let line = |u: &str| sheet.lines.iter().find(|l| l.unit == u).expect("line").clone();
    assert_eq!((line("squad:a").score, line("squad:a").rank, line("squad:c").rank), (Some(100.0), 1, 1));
    // b: closure 8/10, on time 4/10 → 50·0.8 + 50·0.4 = 60.
    assert_eq!((line("squad:b").score.map(|s| s.round()), line("squad:b").rank), (Some(60.0), 3));
    assert_eq!(line("city").rank, 1, "the city is ranked alone");
    assert_eq!(sheet.lines[0].unit, "city");
    // A unit with nothing owed has no score rather than 0.
    assert_eq!(Weights::standard().score(&Figures::default()), None);
}

#[test]
fn months_and_names_read_back() {
    assert_eq!(month("2026-12").to_string(), "2026-12");
    assert_eq!(month("2026-12").end(china()), at(13, 1, 0));
    assert_eq!(Period::of(at(12, 31, 23), china()), month("2026-12"));
    for bad in ["2026-13", "2026", "december", "2026-00"] {
        let e = Period::parse(bad, "period").expect_err(bad);
        assert_eq!(e.field, "period");
    }
    for indicator in PLAIN.into_iter().chain([Indicator::Pressed(3)]) {
        assert_eq!(Indicator::from_name(&indicator.name()), Some(indicator));
    }
    for unit in
        [Unit::City, Unit::Street("320381001".into()), squad("sq-1"), Unit::Supervisor("sup.a".into()), Unit::Dispatcher(ROUTER.into())]
    {
        assert_eq!(Unit::from_key(&unit.key()), Some(unit));
    }
}

#[test]
fn a_return_approved_as_a_dispatching_error_is_charged_to_the_dispatcher_not_the_squad() {
    let mut city = City::new();
    let t = city.file(None, at(12, 2, 9));
    let t = city.step(&t, Command::Dispatch { squad: SquadId::new("sq-1") }, &operator(), at(12, 2, 9).add_millis(5 * MIN));
    let member = Actor::Squad { squad: SquadId::new("sq-1"), member: "m".into() };
    let apply = Command::Apply { kind: crate::ticket::ApplicationKind::Return, reason: "not ours".into() };
    let t = city.step(&t, apply, &member, at(12, 2, 9).add_millis(6 * MIN));
    let decide = Command::Decide { approve: true, reason: "派错了".into(), dispatcher_error: true };
    city.step(&t, decide, &Actor::Operator("lead".into()), at(12, 2, 9).add_millis(7 * MIN));
    let december = month("2026-12");
    let op = city.figures(december, &Unit::Dispatcher("op".into()));
    assert_eq!((op.get(Indicator::Dispatched), op.get(Indicator::DispatchErrors)), (1, 1));
    assert_eq!(RateKind::AccurateDispatch.of(&op), Some(0.0));
    let squad_figures = city.figures(december, &squad("sq-1"));
    assert_eq!(squad_figures.get(Indicator::DispatchErrors), 0, "the squad is not charged");
    assert_eq!(city.figures(december, &Unit::City).get(Indicator::DispatchErrors), 1);
}
