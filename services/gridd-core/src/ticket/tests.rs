use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::calendar::tests::calendar_2026;
use crate::category::ClockKind;
use crate::ids::{CellCode, CommunityCode, Reference, StreetCode};
use crate::report::Channel;

struct Env {
    calendar: WorkCalendar,
    ladder: Ladder,
    stages: StageLimits,
    on_dissatisfied: OnDissatisfied,
}

impl Env {
    fn new() -> Self {
        Self {
            calendar: calendar_2026(),
            ladder: Ladder::default(),
            stages: crate::ticket::test_stage_limits(),
            on_dissatisfied: OnDissatisfied::Reopen,
        }
    }

    fn policy(&self) -> Policy<'_> {
        Policy { calendar: &self.calendar, ladder: &self.ladder, stages: &self.stages, on_dissatisfied: self.on_dissatisfied }
    }
}

/// Monday 2026-11-23 09:00 in Xinyi.
fn monday_9am() -> Timestamp {
    let local = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("valid time");
    Timestamp::from_local(local, chrono::FixedOffset::east_opt(8 * 3600).expect("offset"))
}

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn squad(id: &str) -> SquadId {
    SquadId::new(id)
}

fn squad_actor(id: &str) -> Actor {
    Actor::Squad { squad: squad(id), member: "m1".into() }
}

fn new_case(placement: Placement) -> NewCase {
    NewCase {
        id: TicketId::new("261123-00000001"),
        report: ReportSummary {
            reference: Reference::new("261123-00000001"),
            channel: Channel::Hotline,
            received_at: monday_9am(),
            reply_required: true,
            contact_masked: "138****5678".into(),
            photo_urls: Vec::new(),
            caller_name: String::new(),
            contact_phone: String::new(),
            confidential: false,
            external_ticket_id: String::new(),
            reporter: String::new(),
        },
        category: CategoryCode::parse("E0102").expect("valid"),
        condition: None,
        urgency: Urgency::Normal,
        handling: LimitSpec::parse("4WH").expect("valid"),
        location: Some(Point::new(118.35, 34.37)),
        address: "新安路".into(),
        description: "垃圾".into(),
        cell: Some(CellRef {
            cell_code: CellCode::parse("320381001001001").expect("valid"),
            street_code: StreetCode::parse("320381001").expect("valid"),
            street_name: "新安街道".into(),
            community_code: CommunityCode::parse("320381001001").expect("valid"),
            community_name: "职工居委会".into(),
        }),
        rural: false,
        placement,
    }
}

fn assigned(squad_id: &str) -> Placement {
    Placement::Assigned {
        squad: squad(squad_id),
        routing: Routing { rule_id: "territorial-default".into(), reason: "test".into(), grid_version: "g1".into() },
    }
}

fn run(env: &Env, t: &Ticket, cmd: Command, actor: &Actor, at: Timestamp) -> Transition {
    apply(t, &cmd, actor, at, env.policy()).unwrap_or_else(|e| panic!("{} refused: {e}", cmd.name()))
}

#[test]
fn an_assigned_case_is_dispatched_with_working_time_deadlines() {
    let env = Env::new();
    let tr = open(new_case(assigned("sq-1")), monday_9am(), env.policy());
    let t = &tr.ticket;
    assert_eq!(t.state, TicketState::Dispatched);
    assert_eq!(t.squad, Some(squad("sq-1")));
    assert_eq!(tr.changes.iter().map(|c| c.kind).collect::<Vec<_>>(), vec![ChangeKind::Filed, ChangeKind::Dispatched]);
    assert_eq!(tr.changes[1].feed, vec![(squad("sq-1"), FeedKind::Assigned)]);
    // 4 WH from 09:00: 3 h before lunch, 1 h after 13:30.
    let handling = t.handling.as_ref().expect("handling clock");
    assert_eq!(handling.deadline, monday_9am().add_millis(5 * HOUR + 30 * MIN));
    assert_eq!(t.accept_deadline, Some(monday_9am().add_millis(30 * MIN)));
    let timers = desired_timers(t, env.policy());
    // 75 % of 4 WH = 3 WH → 12:00.
    assert!(timers.contains(&Timer {
        generation: handling.generation,
        kind: TimerKind::Escalation { level: 1 },
        due: monday_9am().add_millis(3 * HOUR)
    }));
    assert!(timers.iter().any(|x| x.kind == TimerKind::AcceptDue));
}

#[test]
fn the_closed_loop_from_dispatch_to_closure() {
    let env = Env::new();
    let s = squad_actor("sq-1");
    let t0 = monday_9am();
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let t = run(&env, &t, Command::Accept, &s, t0.add_millis(10 * MIN)).ticket;
    assert_eq!(t.state, TicketState::Accepted);
    let t = run(&env, &t, Command::Start, &s, t0.add_millis(20 * MIN)).ticket;
    let t = run(&env, &t, Command::Resolve { note: "cleared".into(), photo_urls: Vec::new() }, &s, t0.add_millis(HOUR)).ticket;
    assert_eq!(t.state, TicketState::Checking);
    assert_eq!(t.active_clock().map(|c| c.stage), Some(Stage::Check));
    let op = Actor::Operator("sup-1".into());
    let done = run(&env, &t, Command::Verify { passed: true }, &op, t0.add_millis(90 * MIN));
    assert_eq!(done.ticket.state, TicketState::Closed);
    assert_eq!(done.ticket.close_type, Some(CloseType::Normal));
    assert_eq!(done.changes[0].feed, vec![(squad("sq-1"), FeedKind::Closed)]);
    let timers = desired_timers(&done.ticket, env.policy());
    let reply = done.ticket.reply_clock.as_ref().expect("the caller asked for a reply");
    assert!(timers.iter().all(|x| x.generation == reply.generation), "closure stops every clock but the reply's: {timers:?}");
    assert_eq!(done.ticket.version, 5, "one version per command: open, accept, start, resolve, verify");
}

#[test]
fn squad_commands_need_the_holding_squad() {
    let env = Env::new();
    let t = open(new_case(assigned("sq-1")), monday_9am(), env.policy()).ticket;
    let err = apply(&t, &Command::Accept, &squad_actor("sq-2"), monday_9am(), env.policy());
    assert!(matches!(err, Err(CommandError::NotAssigned { .. })));
    let err = apply(&t, &Command::Start, &squad_actor("sq-1"), monday_9am(), env.policy());
    assert!(matches!(err, Err(CommandError::IllegalTransition { state: TicketState::Dispatched, command: "start", .. })));
}

#[test]
fn failed_check_is_rework_on_the_same_handling_clock() {
    let env = Env::new();
    let s = squad_actor("sq-1");
    let op = Actor::Operator("sup".into());
    let t0 = monday_9am();
    let mut t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    for cmd in [Command::Accept, Command::Start, Command::Resolve { note: "done".into(), photo_urls: Vec::new() }] {
        t = run(&env, &t, cmd, &s, t0.add_millis(MIN)).ticket;
    }
    let before = t.handling.clone();
    let tr = run(&env, &t, Command::Verify { passed: false }, &op, t0.add_millis(2 * MIN));
    assert_eq!(tr.ticket.state, TicketState::Rework);
    assert_eq!(tr.ticket.rework_count, 1);
    assert_eq!(tr.changes[0].feed, vec![(squad("sq-1"), FeedKind::Rework)]);
    let (before, after) = (before.expect("handling clock"), tr.ticket.handling.clone().expect("handling clock"));
    assert_eq!((after.generation, after.started_at), (before.generation, before.started_at), "rework resumes the same clock");
    assert_eq!(after.deadline, before.deadline.add_millis(MIN), "later by the minute the check took");
    let t = run(&env, &tr.ticket, Command::Accept, &s, t0.add_millis(3 * MIN)).ticket;
    assert_eq!(t.state, TicketState::Accepted);
}

/// Fires every due timer up to `until`, like the tracker does.
fn fire_due(env: &Env, mut t: Ticket, until: Timestamp) -> (Ticket, Vec<u32>) {
    let mut fired = Vec::new();
    loop {
        let due = desired_timers(&t, env.policy()).into_iter().filter(|x| x.due <= until).min_by_key(|x| x.due);
        let Some(timer) = due else { return (t, fired) };
        let tr = run(env, &t, Command::Fire(timer), &Actor::Timer, until);
        fired.extend(tr.changes.iter().filter_map(|c| c.escalation.map(|f| f.level)));
        t = tr.ticket;
    }
}

#[test]
fn the_ladder_fires_each_level_once_and_repeats_until_closed() {
    let env = Env::new();
    let t0 = monday_9am();
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    // Two working days later the 4 WH case is far past 200 %.
    let later = t0.add_millis(48 * HOUR);
    let (t, fired) = fire_due(&env, t, later);
    assert!(fired.starts_with(&[1, 2, 3, 4, 5]), "levels in order: {fired:?}");
    assert_eq!(fired.iter().collect::<HashSet<_>>().len(), fired.len(), "no level twice");
    assert_eq!(t.light, Light::Red);
    assert!(t.accept_overdue);
    // Firing an old timer again is refused as stale and changes nothing.
    let old = Timer { generation: t.handling.as_ref().map_or(0, |h| h.generation), kind: TimerKind::Escalation { level: 1 }, due: t0 };
    assert!(matches!(apply(&t, &Command::Fire(old), &Actor::Timer, later, env.policy()), Err(CommandError::StaleTimer { .. })));
    // A timer not yet due is refused too.
    let next = desired_timers(&t, env.policy()).into_iter().next().expect("ladder repeats");
    assert!(apply(&t, &Command::Fire(next), &Actor::Timer, next.due.add_millis(-1), env.policy()).is_err());
    let closed = run(&env, &t, Command::Close, &Actor::Operator("op".into()), later).ticket;
    let handling = t.handling.as_ref().map(|h| h.generation);
    assert!(desired_timers(&closed, env.policy()).iter().all(|x| Some(x.generation) != handling), "the handling ladder stops at closure");
    let replied = run(&env, &closed, reply(Some(Satisfaction::Satisfied)), &Actor::Operator("op".into()), later).ticket;
    assert!(desired_timers(&replied, env.policy()).is_empty(), "and the reply's once the caller is answered");
}

#[test]
fn suspension_freezes_the_clock() {
    let env = Env::new();
    let t0 = monday_9am();
    let op = Actor::Operator("op".into());
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let deadline = t.handling.as_ref().map(|h| h.deadline).expect("deadline");
    let t = run(&env, &t, Command::Suspend, &op, t0.add_millis(HOUR)).ticket;
    assert!(desired_timers(&t, env.policy()).is_empty(), "a suspended case never escalates");
    assert!(apply(&t, &Command::Accept, &squad_actor("sq-1"), t0, env.policy()).is_err());
    // Suspended 10:00 Monday → 10:00 Tuesday: one working day (7.5 WH) frozen.
    let t = run(&env, &t, Command::Resume, &op, t0.add_millis(25 * HOUR)).ticket;
    assert_eq!(t.state, TicketState::Dispatched);
    let new_deadline = t.handling.as_ref().map(|h| h.deadline).expect("deadline");
    assert_eq!(env.calendar.elapsed(deadline, new_deadline, ClockKind::Working), 450 * MIN);
}

#[test]
fn extension_moves_the_deadline_and_rearms_the_ladder() {
    let env = Env::new();
    let t0 = monday_9am();
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let (t, fired) = fire_due(&env, t, t0.add_millis(6 * HOUR));
    assert_eq!(fired, vec![1, 2]);
    let old = t.handling.clone().expect("handling");
    let tr = run(
        &env,
        &t,
        Command::Extend { extension: LimitSpec::parse("1WD").expect("valid") },
        &Actor::Operator("op".into()),
        t0.add_millis(6 * HOUR),
    );
    let h = tr.ticket.handling.as_ref().expect("handling");
    assert_ne!(h.generation, old.generation);
    assert_eq!(h.fired_level, 0);
    assert_eq!(env.calendar.elapsed(old.deadline, h.deadline, ClockKind::Working), 450 * MIN);
    assert_eq!(tr.ticket.extension_count, 1);
}

#[test]
fn a_returned_case_is_redispatched_to_another_squad() {
    let env = Env::new();
    let t0 = monday_9am();
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let tr = run(&env, &t, Command::Return { reason: "not ours".into() }, &squad_actor("sq-1"), t0.add_millis(MIN));
    assert_eq!(tr.ticket.state, TicketState::Returned);
    assert_eq!(tr.ticket.squad, None);
    assert_eq!(tr.ticket.manual_reason, Some(ManualReason::Returned));
    assert_eq!(tr.changes[0].feed, vec![(squad("sq-1"), FeedKind::Withdrawn)]);
    assert_eq!(tr.ticket.active_clock().map(|c| c.stage), Some(Stage::Dispatch));
    let tr = run(&env, &tr.ticket, Command::Dispatch { squad: squad("sq-2") }, &Actor::Operator("op".into()), t0.add_millis(5 * MIN));
    assert_eq!(tr.ticket.state, TicketState::Dispatched);
    assert_eq!(tr.ticket.squad, Some(squad("sq-2")));
    assert_eq!(tr.ticket.dispatch_count, 2);
    assert_eq!(tr.changes[0].feed, vec![(squad("sq-2"), FeedKind::Assigned)]);
}

#[test]
fn manual_queue_cases_have_a_dispatch_clock() {
    let env = Env::new();
    let t = open(new_case(Placement::Manual { reason: ManualReason::OutsideGrid, routing: None }), monday_9am(), env.policy()).ticket;
    assert_eq!(t.state, TicketState::Registered);
    let clock = t.active_clock().expect("dispatch clock");
    assert_eq!((clock.stage, clock.deadline), (Stage::Dispatch, monday_9am().add_millis(30 * MIN)));
}

// ---- property: no illegal transition is reachable ----

/// The lifecycle of DOMAIN.md, written independently of `apply`: every (from, to) pair a
/// successful command may produce. Staying in the same state is allowed for annotations
/// (merge, escalation, extension).
fn allowed(from: TicketState, to: TicketState) -> bool {
    use TicketState as S;
    if from == to {
        return true;
    }
    match from {
        S::Registered | S::Returned => matches!(to, S::Dispatched | S::Closed | S::Cancelled),
        S::Dispatched => matches!(to, S::Accepted | S::Returned | S::Suspended | S::Closed | S::Cancelled),
        S::Accepted => matches!(to, S::InProgress | S::Returned | S::Dispatched | S::Suspended | S::Closed | S::Cancelled),
        S::InProgress => matches!(to, S::Checking | S::Returned | S::Dispatched | S::Suspended | S::Closed | S::Cancelled),
        S::Checking => matches!(to, S::Closed | S::Rework | S::Cancelled),
        S::Rework => matches!(to, S::Accepted | S::Dispatched | S::Suspended | S::Closed | S::Cancelled),
        S::Suspended => matches!(to, S::Dispatched | S::Accepted | S::InProgress | S::Rework | S::Closed | S::Cancelled),
        S::Verifying => matches!(to, S::Dispatched | S::Registered | S::NotFiled | S::Closed | S::Cancelled),
        // A dissatisfied caller reopens a closed case as rework.
        S::Closed => to == S::Rework,
        S::Cancelled | S::NotFiled => false,
    }
}

#[derive(Debug, Clone)]
enum Step {
    Cmd(u8, u8, u32),
    FireNext(u32),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![(0u8..23, 0u8..3, 0u32..600).prop_map(|(c, a, m)| Step::Cmd(c, a, m)), (0u32..6000).prop_map(Step::FireNext),];
    proptest::collection::vec(step, 1..60)
}

fn command(index: u8) -> Command {
    match index {
        0 => Command::Dispatch { squad: squad("sq-2") },
        1 => Command::Dispatch { squad: squad("sq-1") },
        2 => Command::Accept,
        3 => Command::Start,
        4 => Command::Resolve { note: "n".into(), photo_urls: Vec::new() },
        5 => Command::Return { reason: "r".into() },
        6 => Command::Verify { passed: true },
        7 => Command::Verify { passed: false },
        8 => Command::Close,
        9 => Command::Cancel { reason: CancelReason::Invalid },
        10 => Command::Suspend,
        11 => Command::Resume,
        12 => Command::Extend { extension: LimitSpec::parse("2WH").expect("valid") },
        13 => Command::Confirm { filing: Box::new(filing(assigned("sq-1"))) },
        14 => Command::Confirm { filing: Box::new(filing(Placement::Manual { reason: ManualReason::NoResponsibleSquad, routing: None })) },
        15 => Command::Refuse { reason: NotFiledReason::NotAProblem, note: "n".into() },
        16 => reply(None),
        17 => reply(Some(Satisfaction::Satisfied)),
        18 => reply(Some(Satisfaction::Dissatisfied)),
        19 => Command::Attach { report: new_case(assigned("sq-1")).report, reason: "again".into() },
        20 => Command::MergeInto { master: TicketId::new("261123-00000099") },
        21 => Command::Absorb { duplicate: TicketId::new("261123-00000098"), reports: vec![other_report("261123-00000098")] },
        _ => Command::SplitOut { reference: Reference::new("261123-00000098"), into: TicketId::new("261123-00000098") },
    }
}

/// A report of another case, for merges and splits.
fn other_report(reference: &str) -> ReportSummary {
    ReportSummary { reference: Reference::new(reference), ..new_case(assigned("sq-1")).report }
}

/// A reply to the test case's caller.
fn reply(satisfaction: Option<Satisfaction>) -> Command {
    Command::RecordReply { reference: Reference::new("261123-00000001"), satisfaction, note: String::new() }
}

/// The test case's terms as verified, going to `placement`.
fn filing(placement: Placement) -> Filing {
    let case = new_case(placement);
    Filing {
        category: case.category,
        condition: case.condition,
        urgency: case.urgency,
        handling: case.handling,
        location: case.location,
        cell: case.cell,
        rural: case.rural,
        placement: case.placement,
        corrections: String::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_illegal_transition_is_reachable(start in 0u8..3, press in any::<bool>(), script in steps()) {
        let mut env = Env::new();
        if press {
            env.on_dissatisfied = OnDissatisfied::Press;
        }
        let placement = match start {
            0 => Placement::Manual { reason: ManualReason::NoLocation, routing: None },
            1 => assigned("sq-1"),
            _ => Placement::Verify { verifier: Some("sup-1".into()) },
        };
        let mut now = monday_9am();
        let mut t = open(new_case(placement), now, env.policy()).ticket;
        let mut fired: HashSet<(u32, u32)> = HashSet::new();
        for step in script {
            let (cmd, actor) = match step {
                Step::Cmd(c, a, minutes) => {
                    now = now.add_millis(i64::from(minutes) * MIN);
                    let actor = match a {
                        0 => Actor::Operator("op".into()),
                        1 => squad_actor(t.squad.as_ref().map_or("sq-1", |s| s.as_str())),
                        _ => squad_actor("sq-9"),
                    };
                    (command(c), actor)
                }
                Step::FireNext(minutes) => {
                    now = now.add_millis(i64::from(minutes) * MIN);
                    let Some(timer) = desired_timers(&t, env.policy()).into_iter().min_by_key(|x| x.due) else { continue };
                    (Command::Fire(timer), Actor::Timer)
                }
            };
            let before = t.clone();
            match apply(&t, &cmd, &actor, now, env.policy()) {
                Ok(tr) => {
                    prop_assert!(allowed(before.state, tr.ticket.state), "{} → {} by {}", before.state, tr.ticket.state, cmd.name());
                    prop_assert_eq!(tr.ticket.version, before.version + 1);
                    for f in tr.changes.iter().filter_map(|c| c.escalation) {
                        prop_assert!(fired.insert((f.generation, f.level)), "level {} fired twice for generation {}", f.level, f.generation);
                    }
                    t = tr.ticket;
                }
                Err(_) => prop_assert_eq!(&t, &before),
            }
            // Invariants that hold in every reachable state.
            if t.state.is_in_manual_queue() {
                prop_assert!(t.squad.is_none() && t.manual_reason.is_some(), "manual queue without a reason or with a squad");
            }
            if t.state.is_with_squad() || t.state == TicketState::Checking {
                prop_assert!(t.squad.is_some(), "{} without a squad", t.state);
            }
            if t.state == TicketState::Suspended || t.state == TicketState::Cancelled {
                prop_assert!(desired_timers(&t, env.policy()).is_empty(), "no timer in {}", t.state);
            }
            if t.state.is_terminal() {
                // After the end only the reply clock runs, and only while a caller waits.
                let waiting = t.open_replies().count() > 0;
                prop_assert_eq!(t.active_clock().is_some(), waiting && t.state != TicketState::Cancelled);
            } else if t.state != TicketState::Suspended {
                // Nothing waits forever: every open state but a suspension runs a clock, and so
                // has a timer that will fire.
                prop_assert!(t.active_clock().is_some(), "{} runs no clock", t.state);
                prop_assert!(!desired_timers(&t, env.policy()).is_empty(), "{} has no timer", t.state);
            }
            if t.state == TicketState::Verifying {
                prop_assert!(t.squad.is_none(), "a report waiting for verification is with no squad");
            }
            // The case's own report never leaves it; a case merged away is void.
            prop_assert_eq!(t.reports[0].reference.as_str(), "261123-00000001");
            // The count the store keeps in the case's body agrees with the reports themselves.
            prop_assert_eq!(t.report_count as usize, t.reports.len());
            if t.lineage.iter().any(|l| matches!(l, CaseLink::MergedInto(_))) {
                prop_assert_eq!((t.state, t.cancel_reason), (TicketState::Cancelled, Some(CancelReason::Duplicate)));
            }
        }
    }
}

#[test]
fn a_report_to_verify_waits_for_the_supervisor_then_is_filed_and_routed() {
    let env = Env::new();
    let t0 = monday_9am();
    let opened = open(new_case(Placement::Verify { verifier: Some("sup-1".into()) }), t0, env.policy());
    let t = &opened.ticket;
    assert_eq!((t.state, t.squad.as_ref(), t.verifier.as_deref()), (TicketState::Verifying, None, Some("sup-1")));
    assert_eq!(opened.changes[0].kind, ChangeKind::AwaitingVerification);
    assert_eq!(opened.changes[0].feed, vec![(supervisor_feed("sup-1"), FeedKind::Assigned)], "the supervisor's feed is told");
    let clock = t.active_clock().expect("the verification clock runs");
    assert_eq!((clock.stage, clock.deadline), (Stage::Verify, t0.add_millis(30 * MIN)));
    assert!(!t.state.is_filed(), "not yet 立案");

    let sup = Actor::Operator("sup-1".into());
    let mut corrected = filing(assigned("sq-2"));
    corrected.category = CategoryCode::parse("E0104").expect("valid");
    corrected.corrections = "category E0102 → E0104".into();
    let done = run(&env, t, Command::Confirm { filing: Box::new(corrected) }, &sup, t0.add_millis(20 * MIN));
    let kinds: Vec<ChangeKind> = done.changes.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChangeKind::Verified, ChangeKind::Dispatched]);
    assert!(done.changes[0].detail.contains("E0102 → E0104"), "{}", done.changes[0].detail);
    let t = done.ticket;
    assert_eq!((t.state, t.squad.as_ref().map(SquadId::as_str), t.category.as_str()), (TicketState::Dispatched, Some("sq-2"), "E0104"));
    assert_eq!(t.active_clock().map(|c| c.stage), Some(Stage::Handling), "the handling clock starts at dispatch");
    assert_eq!(t.version, 2);
}

#[test]
fn a_report_refused_at_verification_is_not_filed_and_its_caller_is_owed_a_reply() {
    let env = Env::new();
    let t0 = monday_9am();
    let t = open(new_case(Placement::Verify { verifier: None }), t0, env.policy()).ticket;
    let refused = run(
        &env,
        &t,
        Command::Refuse { reason: NotFiledReason::NotCityBusiness, note: "属供电公司".into() },
        &Actor::Operator("sup-2".into()),
        t0,
    );
    let t = refused.ticket;
    assert_eq!((t.state, t.not_filed), (TicketState::NotFiled, Some(NotFiledReason::NotCityBusiness)));
    assert!(t.state.is_terminal() && !t.state.is_filed());
    assert!(refused.changes[0].detail.contains("not_city_business") && refused.changes[0].detail.contains("属供电公司"));
    let task = t.replies.first().expect("the caller asked for a reply");
    assert_eq!((task.reference.as_str(), task.outcome.as_ref()), ("261123-00000001", None));
    assert_eq!(t.active_clock().map(|c| c.stage), Some(Stage::Reply));
    // One working day: Monday 09:00 → Tuesday 09:00.
    assert_eq!(task.due, t0.add_millis(24 * HOUR));
    // Commands of filed cases do not apply.
    assert!(apply(&t, &Command::Dispatch { squad: squad("sq-1") }, &Actor::Operator("op".into()), t0, env.policy()).is_err());
}

/// A case closed after the check, its caller owed a reply.
fn closed_case(env: &Env, t0: Timestamp) -> Ticket {
    let s = squad_actor("sq-1");
    let mut t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    for cmd in [Command::Accept, Command::Start, Command::Resolve { note: "done".into(), photo_urls: Vec::new() }] {
        t = run(env, &t, cmd, &s, t0.add_millis(10 * MIN)).ticket;
    }
    run(env, &t, Command::Verify { passed: true }, &Actor::Operator("sup".into()), t0.add_millis(HOUR)).ticket
}

#[test]
fn every_caller_of_a_closed_case_gets_a_reply_task_and_the_clock_stops_when_all_are_answered() {
    let env = Env::new();
    let t0 = monday_9am();
    let mut merged = new_case(assigned("sq-1")).report;
    merged.reference = Reference::new("261123-00000002");
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let t = run(&env, &t, Command::Attach { report: merged.clone(), reason: "same place".into() }, &Actor::Router, t0).ticket;
    let s = squad_actor("sq-1");
    let mut t = t;
    for cmd in [Command::Accept, Command::Start, Command::Resolve { note: "done".into(), photo_urls: Vec::new() }] {
        t = run(&env, &t, cmd, &s, t0.add_millis(10 * MIN)).ticket;
    }
    let t = run(&env, &t, Command::Verify { passed: true }, &Actor::Operator("sup".into()), t0.add_millis(HOUR)).ticket;
    let owed: Vec<&str> = t.replies.iter().map(|r| r.reference.as_str()).collect();
    assert_eq!(owed, ["261123-00000001", "261123-00000002"], "the merged caller too");
    let op = Actor::Operator("hotline-1".into());
    let missed = Command::RecordReply { reference: merged.reference.clone(), satisfaction: None, note: "无人接听".into() };
    let t = run(&env, &t, missed, &op, t0.add_millis(2 * HOUR)).ticket;
    assert_eq!(t.replies[1].attempts, 1);
    assert!(t.reply_clock.is_some(), "not reached: the task stays open");
    let t = run(&env, &t, reply(Some(Satisfaction::Satisfied)), &op, t0.add_millis(2 * HOUR)).ticket;
    let last =
        Command::RecordReply { reference: merged.reference, satisfaction: Some(Satisfaction::BasicallySatisfied), note: String::new() };
    let t = run(&env, &t, last, &op, t0.add_millis(3 * HOUR)).ticket;
    assert_eq!(t.state, TicketState::Closed);
    assert!(t.reply_clock.is_none() && desired_timers(&t, env.policy()).is_empty(), "every caller answered: no clock");
    assert!(apply(&t, &reply(Some(Satisfaction::Satisfied)), &op, t0, env.policy()).is_err(), "a reply is recorded once");
}

#[test]
fn a_dissatisfied_caller_reopens_the_case_or_presses_the_centre() {
    let mut env = Env::new();
    let t0 = monday_9am();
    let op = Actor::Operator("hotline-1".into());
    let t = closed_case(&env, t0);
    let reopened = run(&env, &t, reply(Some(Satisfaction::Dissatisfied)), &op, t0.add_millis(2 * HOUR));
    let kinds: Vec<ChangeKind> = reopened.changes.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChangeKind::Replied, ChangeKind::Reopened]);
    assert_eq!(reopened.changes[1].feed, vec![(squad("sq-1"), FeedKind::Rework)], "the same squad is told");
    let t = reopened.ticket;
    assert_eq!((t.state, t.rework_count, t.close_type), (TicketState::Rework, 1, None));
    assert_eq!(t.active_clock().map(|c| c.stage), Some(Stage::Handling));
    // Handled again and closed: the dissatisfied caller is owed a new reply.
    let s = squad_actor("sq-1");
    let mut t = t;
    for cmd in [Command::Accept, Command::Start, Command::Resolve { note: "redone".into(), photo_urls: Vec::new() }] {
        t = run(&env, &t, cmd, &s, t0.add_millis(3 * HOUR)).ticket;
    }
    let t = run(&env, &t, Command::Verify { passed: true }, &Actor::Operator("sup".into()), t0.add_millis(4 * HOUR)).ticket;
    assert_eq!(t.open_replies().count(), 1);

    env.on_dissatisfied = OnDissatisfied::Press;
    let t = closed_case(&env, t0);
    let pressed = run(&env, &t, reply(Some(Satisfaction::Dissatisfied)), &op, t0.add_millis(2 * HOUR));
    assert_eq!(pressed.changes.iter().map(|c| c.kind).collect::<Vec<_>>(), [ChangeKind::Replied, ChangeKind::ReplyPressed]);
    assert_eq!(pressed.ticket.state, TicketState::Closed, "pressing leaves the case closed");
}

#[test]
fn late_verification_and_late_replies_escalate() {
    let env = Env::new();
    let t0 = monday_9am();
    let t = open(new_case(Placement::Verify { verifier: Some("sup-1".into()) }), t0, env.policy()).ticket;
    let timer = desired_timers(&t, env.policy()).into_iter().min_by_key(|x| x.due).expect("a verification timer");
    let fired = run(&env, &t, Command::Fire(timer), &Actor::Timer, timer.due);
    assert_eq!(fired.changes[0].kind, ChangeKind::Escalated);
    assert_eq!(fired.changes[0].feed, vec![(supervisor_feed("sup-1"), FeedKind::Escalated)]);
    assert!(fired.changes[0].detail.contains("verify limit"), "{}", fired.changes[0].detail);

    let closed = closed_case(&env, t0);
    let timer = desired_timers(&closed, env.policy()).into_iter().min_by_key(|x| x.due).expect("a reply timer");
    let fired = run(&env, &closed, Command::Fire(timer), &Actor::Timer, timer.due);
    assert!(fired.changes[0].detail.contains("reply limit") && fired.changes[0].detail.contains("热线回访"), "{}", fired.changes[0].detail);
}

#[test]
fn rework_does_not_charge_the_check_and_restarts_the_sign_for_clock() {
    let env = Env::new();
    let s = squad_actor("sq-1");
    let t0 = monday_9am();
    let mut t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let first_deadline = t.handling.as_ref().map(|h| h.deadline).expect("handling clock");
    for cmd in [Command::Accept, Command::Start, Command::Resolve { note: "done".into(), photo_urls: Vec::new() }] {
        t = run(&env, &t, cmd, &s, t0.add_millis(30 * MIN)).ticket;
    }
    // The check takes an hour of working time (09:30 → 10:30) and fails.
    let reworked = run(&env, &t, Command::Verify { passed: false }, &Actor::Operator("sup".into()), t0.add_millis(90 * MIN)).ticket;
    let handling = reworked.handling.as_ref().expect("handling clock");
    assert_eq!(handling.deadline, first_deadline.add_millis(HOUR), "the hour of checking is not the squad's");
    assert_eq!(reworked.accept_deadline, Some(t0.add_millis(2 * HOUR)), "sign for the rework within 30 min of it");
    assert!(desired_timers(&reworked, env.policy()).iter().any(|x| x.kind == TimerKind::AcceptDue));
    let signed = run(&env, &reworked, Command::Accept, &s, t0.add_millis(100 * MIN)).ticket;
    assert!(matches!((signed.accepted_at, signed.accept_deadline), (Some(a), Some(d)) if a <= d), "signed for on time after a rework");
}

#[test]
fn stage_limits_in_working_time_wait_for_the_working_day() {
    let mut env = Env::new();
    env.stages.accept = LimitSpec::parse("0.5WH").expect("valid");
    // Sunday 2026-11-22 02:00: a normal case's sign-for clock waits for Monday 08:30.
    let sunday_2am = monday_9am().add_millis(-31 * HOUR);
    let t = open(new_case(assigned("sq-1")), sunday_2am, env.policy()).ticket;
    assert_eq!(t.accept_deadline, Some(monday_9am()), "08:30 + 30 working minutes");
    // An urgent case stays 24×7.
    let mut urgent = new_case(assigned("sq-1"));
    urgent.urgency = Urgency::Urgent;
    let t = open(urgent, sunday_2am, env.policy()).ticket;
    assert_eq!(t.accept_deadline, Some(sunday_2am.add_millis(30 * MIN)));
}

#[test]
fn a_reclassified_case_keeps_its_start_and_takes_the_new_limits() {
    let env = Env::new();
    let t0 = monday_9am();
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let before = t.handling.clone().expect("handling clock");
    let reclassify = Command::Reclassify {
        category: CategoryCode::parse("C0102").expect("valid"),
        condition: Some("missing".into()),
        urgency: Urgency::Urgent,
        handling: LimitSpec::parse("2h").expect("valid"),
        reason: "井盖缺失，属紧急".into(),
    };
    let tr = run(&env, &t, reclassify, &Actor::Operator("leader".into()), t0.add_millis(10 * MIN));
    let h = tr.ticket.handling.clone().expect("handling clock");
    assert_eq!((h.started_at, h.deadline), (before.started_at, t0.add_millis(2 * HOUR)), "2 h from dispatch, 24×7 now");
    assert!(h.generation > before.generation, "a new deadline, whose ladder fires afresh");
    assert_eq!((tr.ticket.category.as_str(), tr.ticket.urgency), ("C0102", Urgency::Urgent));
    assert_eq!(tr.changes[0].kind, ChangeKind::Reclassified);
    assert!(tr.changes[0].detail.contains("井盖缺失"), "{}", tr.changes[0].detail);
    assert_eq!(tr.changes[0].feed, vec![(squad("sq-1"), FeedKind::Updated)]);
}

#[test]
fn a_pressing_goes_to_the_squad_and_its_reply_shows_on_the_case() {
    let env = Env::new();
    let t0 = monday_9am();
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let press = Command::Press { level: 3, note: "今天务必处置".into() };
    let tr = run(&env, &t, press, &Actor::Operator("leader".into()), t0.add_millis(MIN));
    assert_eq!(tr.changes[0].feed, vec![(squad("sq-1"), FeedKind::Escalated)]);
    assert!(tr.changes[0].detail.contains("今天务必处置"));
    let answer = Command::AnswerPress { note: "已安排人员前往".into() };
    assert!(apply(&tr.ticket, &answer, &squad_actor("sq-2"), t0, env.policy()).is_err(), "only the holding squad answers");
    let answered = run(&env, &tr.ticket, answer.clone(), &squad_actor("sq-1"), t0.add_millis(2 * MIN)).ticket;
    assert_eq!(answered.presses[0].reply.as_ref().map(|(n, _)| n.as_str()), Some("已安排人员前往"));
    assert!(apply(&answered, &answer, &squad_actor("sq-1"), t0, env.policy()).is_err(), "one reply per pressing");
}

#[test]
fn a_squads_application_waits_on_its_own_clock_for_the_centre() {
    let env = Env::new();
    let t0 = monday_9am();
    let s = squad_actor("sq-1");
    let op = Actor::Operator("dispatcher".into());
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let t = run(&env, &t, Command::Accept, &s, t0.add_millis(MIN)).ticket;
    let deadline = t.handling.as_ref().map(|h| h.deadline).expect("handling clock");
    let extension = ApplicationKind::Extension { extension: LimitSpec::parse("2WH").expect("valid") };
    let applied =
        run(&env, &t, Command::Apply { kind: extension.clone(), reason: "需要等待配件".into() }, &s, t0.add_millis(2 * MIN)).ticket;
    let app = applied.application.clone().expect("pending");
    assert_eq!((app.clock.stage, app.clock.deadline), (Stage::Approval, t0.add_millis(62 * MIN)), "1 working hour to decide");
    assert!(desired_timers(&applied, env.policy()).iter().any(|x| x.generation == app.clock.generation), "its own ladder");
    let twice = Command::Apply { kind: ApplicationKind::Suspension, reason: "x".into() };
    assert!(apply(&applied, &twice, &s, t0, env.policy()).is_err(), "one application at a time");
    // Approved: the extension is granted as the centre's decision.
    let granted = run(
        &env,
        &applied,
        Command::Decide { approve: true, reason: "同意".into(), dispatcher_error: false },
        &op,
        t0.add_millis(30 * MIN),
    );
    assert_eq!(granted.ticket.handling.as_ref().map(|h| h.deadline), Some(deadline.add_millis(2 * HOUR)));
    assert!(granted.ticket.application.is_none() && granted.changes[0].detail.contains("approved"));
    // Rejected: nothing changes but the record, and the squad is told.
    let again = run(
        &env,
        &granted.ticket,
        Command::Apply { kind: ApplicationKind::Suspension, reason: "施工".into() },
        &s,
        t0.add_millis(40 * MIN),
    )
    .ticket;
    let rejected = run(
        &env,
        &again,
        Command::Decide { approve: false, reason: "不符合挂账条件".into(), dispatcher_error: false },
        &op,
        t0.add_millis(45 * MIN),
    );
    assert_eq!(
        (rejected.ticket.state, rejected.changes[0].feed.clone()),
        (TicketState::Accepted, vec![(squad("sq-1"), FeedKind::Updated)])
    );
}

#[test]
fn a_return_approved_as_a_dispatching_error_is_not_charged_to_the_squad() {
    let env = Env::new();
    let t0 = monday_9am();
    let s = squad_actor("sq-1");
    let t = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let applied =
        run(&env, &t, Command::Apply { kind: ApplicationKind::Return, reason: "不属本中队".into() }, &s, t0.add_millis(MIN)).ticket;
    let decide = Command::Decide { approve: true, reason: "派遣错误".into(), dispatcher_error: true };
    let returned = run(&env, &applied, decide, &Actor::Operator("dispatcher".into()), t0.add_millis(5 * MIN));
    let t = returned.ticket;
    assert_eq!((t.state, t.squad.as_ref(), t.return_count, t.dispatch_errors), (TicketState::Returned, None, 0, 1));
    assert!(returned.changes[0].detail.contains("派遣错误"), "{}", returned.changes[0].detail);
}

#[test]
fn a_duplicate_case_merges_into_its_master_and_a_report_splits_back_out() {
    let env = Env::new();
    let t0 = monday_9am();
    let op = Actor::Operator("op".into());
    let master = open(new_case(assigned("sq-1")), t0, env.policy()).ticket;
    let mut dup_case = new_case(assigned("sq-1"));
    dup_case.id = TicketId::new("261123-00000002");
    dup_case.report = other_report("261123-00000002");
    let dup = open(dup_case, t0, env.policy()).ticket;

    let merged = run(&env, &dup, Command::MergeInto { master: master.id.clone() }, &op, t0.add_millis(MIN));
    let gone = &merged.ticket;
    assert_eq!((gone.state, gone.cancel_reason), (TicketState::Cancelled, Some(CancelReason::Duplicate)));
    assert_eq!(gone.lineage, [CaseLink::MergedInto(master.id.clone())]);
    assert!(merged.changes[0].detail.contains("261123-00000001"), "the history names the master");
    let absorbed = run(&env, &master, Command::Absorb { duplicate: dup.id.clone(), reports: dup.reports.clone() }, &op, t0.add_millis(MIN));
    let m = &absorbed.ticket;
    assert_eq!(m.reports.iter().map(|r| r.reference.as_str()).collect::<Vec<_>>(), ["261123-00000001", "261123-00000002"]);
    assert_eq!(
        (m.lineage.as_slice(), absorbed.changes[0].kind),
        ([CaseLink::MergedFrom(dup.id.clone())].as_slice(), ChangeKind::CasesMerged)
    );
    // A case cannot merge into itself, nor a closed one be merged.
    assert!(apply(m, &Command::MergeInto { master: m.id.clone() }, &op, t0, env.policy()).is_err());
    assert!(apply(gone, &Command::MergeInto { master: m.id.clone() }, &op, t0, env.policy()).is_err());

    let own = Command::SplitOut { reference: Reference::new("261123-00000001"), into: TicketId::new("x") };
    assert!(apply(m, &own, &op, t0, env.policy()).is_err(), "the case's own report stays");
    let split = Command::SplitOut { reference: Reference::new("261123-00000002"), into: TicketId::new("261123-00000002") };
    let out = run(&env, m, split, &op, t0.add_millis(2 * MIN));
    assert_eq!(out.ticket.reports.len(), 1);
    assert_eq!(out.ticket.lineage.last(), Some(&CaseLink::SplitInto(TicketId::new("261123-00000002"))));
    assert_eq!(out.changes[0].kind, ChangeKind::ReportSplit);
}
