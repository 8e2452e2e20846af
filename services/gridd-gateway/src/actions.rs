//! Which actions a caller may take on a case now, for `GetTicketResponse.allowed_actions`:
//! those the permission table gives its role and the state machine admits in the case's
//! state. Each is tried on the state machine itself (with stand-in arguments), so the answer
//! never drifts from what a command would get.

use gridd_access::{Grant, Operation, Scope, permission};
use gridd_config::CityConfig;
use gridd_core::category::{LimitSpec, LimitUnit};
use gridd_core::ticket::{self, Actor, ApplicationKind, CancelReason, Command, NotFiledReason, Ticket};
use gridd_core::time::Timestamp;

/// The actions a client may offer, with the operation that allows each and a command that
/// stands for it.
fn candidates(city: &CityConfig, t: &Ticket) -> Vec<(&'static str, Operation, Command)> {
    // Dispatch stands for 改派 too: any squad other than the current one.
    let other_squad = city.responsibility.squads().map(|s| s.id.clone()).find(|s| Some(s) != t.squad.as_ref());
    let mut list = vec![
        ("verify_pass", Operation::Verify, Command::Verify { passed: true }),
        ("verify_fail", Operation::Verify, Command::Verify { passed: false }),
        ("close", Operation::Close, Command::Close),
        ("cancel", Operation::Cancel, Command::Cancel { reason: CancelReason::Invalid }),
        ("suspend", Operation::Suspend, Command::Suspend),
        ("resume", Operation::Resume, Command::Resume),
        (
            "extend",
            Operation::ExtendDeadline,
            Command::Extend { extension: LimitSpec { milli_amount: 1000, unit: LimitUnit::WorkingHours } },
        ),
        ("accept", Operation::AcceptTask, Command::Accept),
        ("start", Operation::StartTask, Command::Start),
        ("resolve", Operation::ResolveTask, Command::Resolve { note: "-".into(), photo_urls: Vec::new() }),
        ("return", Operation::ReturnTask, Command::Return { reason: "-".into() }),
        // Confirming and refusing are allowed in the same state; refusing stands for both
        // (a confirmation needs the routing its correction leads to).
        ("verify_confirm", Operation::VerifyReport, Command::Refuse { reason: NotFiledReason::NotAProblem, note: "-".into() }),
        ("verify_refuse", Operation::VerifyReport, Command::Refuse { reason: NotFiledReason::NotAProblem, note: "-".into() }),
    ];
    if let Some(squad) = other_squad {
        list.insert(0, ("dispatch", Operation::Dispatch, Command::Dispatch { squad }));
    }
    let reclassify = Command::Reclassify {
        category: t.category.clone(),
        condition: t.condition.clone(),
        urgency: t.urgency,
        handling: t.handling_spec,
        reason: "-".into(),
    };
    list.push(("reclassify", Operation::Reclassify, reclassify));
    list.push(("press", Operation::Press, Command::Press { level: 1, note: "-".into() }));
    list.push(("answer_press", Operation::AnswerPress, Command::AnswerPress { note: "-".into() }));
    // Applying for a suspension stands for every application: the squad holds the task and
    // none waits.
    list.push(("apply", Operation::Apply, Command::Apply { kind: ApplicationKind::Suspension, reason: "-".into() }));
    list.push(("decide", Operation::Decide, Command::Decide { approve: false, reason: "-".into(), dispatcher_error: false }));
    // Merging stands for merging into any other case; splitting, for each merged report.
    list.push(("merge", Operation::MergeCases, Command::MergeInto { master: gridd_core::ids::TicketId::new(format!("{}-other", t.id)) }));
    if let Some(merged) = t.reports.get(1) {
        let split =
            Command::SplitOut { reference: merged.reference.clone(), into: gridd_core::ids::TicketId::new(merged.reference.as_str()) };
        list.push(("split", Operation::SplitCase, split));
    }
    if let Some(owed) = t.open_replies().next() {
        let reply = Command::RecordReply { reference: owed.reference.clone(), satisfaction: None, note: String::new() };
        list.push(("reply", Operation::RecordReply, reply));
    }
    list
}

/// The actor a command of `grant` would be recorded with; squad commands of a city-wide
/// caller act for the case's squad.
fn actor(grant: &Grant, op: Operation, t: &Ticket) -> Actor {
    let squad_op = matches!(
        op,
        Operation::AcceptTask
            | Operation::StartTask
            | Operation::ResolveTask
            | Operation::ReturnTask
            | Operation::AnswerPress
            | Operation::Apply
    );
    match (squad_op, grant.identity.actor(), &t.squad) {
        (true, Actor::Operator(member), Some(squad)) => Actor::Squad { squad: squad.clone(), member },
        (_, actor, _) => actor,
    }
}

/// The allowed actions, by name.
pub fn allowed(grant: &Grant, t: &Ticket, city: &CityConfig, now: Timestamp) -> Vec<String> {
    let policy = gridd_tracker::policy(city);
    candidates(city, t)
        .into_iter()
        .filter(|(_, op, _)| match permission::scope(grant.identity.role, *op) {
            None => false,
            Some(Scope::OwnSquad) => grant.identity.squad.as_ref().is_some_and(|own| t.squad.as_ref() == Some(own)),
            Some(_) => true,
        })
        .filter(|(_, op, command)| ticket::apply(t, command, &actor(grant, *op, t), now, policy).is_ok())
        .map(|(name, _, _)| name.to_owned())
        .collect()
}
