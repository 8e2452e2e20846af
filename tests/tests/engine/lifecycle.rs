//! The closed loop over gRPC: accept, handle, check, rework, return, re-dispatch, refusals,
//! and the squad feed across reconnects.

use gridd_proto::tonic::Code;
use gridd_proto::v1;
use gridd_tests::{Clients, XINAN, spawn_app};

async fn handle_to_check(c: &mut Clients, squad: &str, id: &str) -> v1::Ticket {
    c.squad.accept_task(Clients::task(squad, id)).await.expect("accept");
    c.squad.start_task(Clients::task(squad, id)).await.expect("start");
    let req = v1::ResolveTaskRequest {
        task: Some(Clients::task(squad, id)),
        note: "已清理".into(),
        photo_urls: vec!["https://x/after.jpg".into()],
    };
    c.squad.resolve_task(req).await.expect("resolve").into_inner()
}

#[tokio::test]
async fn a_failed_check_sends_the_case_back_as_rework_until_it_passes() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let receipt = c.hotline("rw-1", "E0102", Some(XINAN)).await.expect("accepted");
    let id = c.ticket_of(&receipt.reference).await.id;
    let checking = handle_to_check(&mut c, "sq-1", &id).await;
    assert_eq!(checking.state(), v1::TicketState::Checking);
    assert_eq!(checking.stage(), v1::Stage::Check);
    let failed = c
        .dispatch
        .verify(v1::VerifyRequest { ticket_id: id.clone(), passed: false, context: Clients::operator() })
        .await
        .expect("verify")
        .into_inner();
    assert_eq!((failed.state(), failed.rework_count, failed.squad_id.as_str()), (v1::TicketState::Rework, 1, "sq-1"));
    let feed = c
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: 1, ..Default::default() })
        .await
        .expect("watch")
        .into_inner();
    let rework = tokio::time::timeout(gridd_tests::PATIENCE, async move {
        let mut feed = feed;
        feed.message().await
    })
    .await
    .expect("in time")
    .expect("ok")
    .expect("event");
    assert_eq!(rework.kind(), v1::TaskEventKind::Rework);
    let checking = handle_to_check(&mut c, "sq-1", &id).await;
    assert_eq!(checking.state(), v1::TicketState::Checking);
    let closed = c
        .dispatch
        .verify(v1::VerifyRequest { ticket_id: id.clone(), passed: true, context: Clients::operator() })
        .await
        .expect("verify")
        .into_inner();
    assert_eq!((closed.state(), closed.close_type()), (v1::TicketState::Closed, v1::CloseType::Normal));
    // The handling and check clocks stop; the caller asked for a reply, so its clock runs.
    assert_eq!(closed.stage(), v1::Stage::Reply, "after closure only the reply's clock runs");
    let (_, history) = c.history(&id).await;
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["filed", "dispatched", "accepted", "started", "resolved", "check_failed", "accepted", "started", "resolved", "check_passed"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_returned_case_is_redispatched_to_another_squad() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let receipt = c.hotline("ret-1", "E0102", Some(XINAN)).await.expect("accepted");
    let id = c.ticket_of(&receipt.reference).await.id;
    let req = v1::ReturnTaskRequest { task: Some(Clients::task("sq-1", &id)), reason: "属于市政".into() };
    let returned = c.squad.return_task(req).await.expect("return").into_inner();
    assert_eq!(
        (returned.state(), returned.manual_reason(), returned.squad_id.as_str()),
        (v1::TicketState::Returned, v1::ManualReason::Returned, "")
    );
    let redispatched = c
        .dispatch
        .dispatch(v1::DispatchRequest { ticket_id: id.clone(), squad_id: "sq-2".into(), context: Clients::operator() })
        .await
        .expect("dispatch")
        .into_inner();
    assert_eq!((redispatched.state(), redispatched.squad_id.as_str(), redispatched.return_count), (v1::TicketState::Dispatched, "sq-2", 1));
    let mut feed2 = c
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-2".into(), after_seq: 0, ..Default::default() })
        .await
        .expect("watch")
        .into_inner();
    let assigned = feed2.message().await.expect("ok").expect("event");
    assert_eq!((assigned.kind(), assigned.ticket.map(|t| t.id)), (v1::TaskEventKind::Assigned, Some(id.clone())));
    let mut feed1 = c
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: 1, ..Default::default() })
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(feed1.message().await.expect("ok").expect("event").kind(), v1::TaskEventKind::Withdrawn);
    // The new squad can work it; the old one cannot.
    let stale = c.squad.accept_task(Clients::task("sq-1", &id)).await.expect_err("not theirs any more");
    assert_eq!(stale.code(), Code::PermissionDenied);
    c.squad.accept_task(Clients::task("sq-2", &id)).await.expect("accept");
    app.stop().await;
}

#[tokio::test]
async fn illegal_commands_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let receipt = c.hotline("ill-1", "E0102", Some(XINAN)).await.expect("accepted");
    let ticket = c.ticket_of(&receipt.reference).await;
    let id = ticket.id.clone();
    let verify = c
        .dispatch
        .verify(v1::VerifyRequest { ticket_id: id.clone(), passed: true, context: Clients::operator() })
        .await
        .expect_err("not checking");
    assert_eq!(verify.code(), Code::FailedPrecondition);
    assert!(verify.message().contains("dispatched"), "{}", verify.message());
    let start = c.squad.start_task(Clients::task("sq-1", &id)).await.expect_err("not accepted yet");
    assert_eq!(start.code(), Code::FailedPrecondition);
    let stale = v1::TaskCommand { expected_version: ticket.version + 5, ..Clients::task("sq-1", &id) };
    assert_eq!(c.squad.accept_task(stale).await.expect_err("stale version").code(), Code::Aborted);
    let unknown = c
        .dispatch
        .dispatch(v1::DispatchRequest { ticket_id: id.clone(), squad_id: "sq-nobody".into(), context: Clients::operator() })
        .await;
    assert_eq!(unknown.expect_err("unknown squad").code(), Code::InvalidArgument);
    let missing = c.dispatch.close(v1::CloseRequest { ticket_id: "261122-NOSUCH00".into(), context: Clients::operator() }).await;
    assert_eq!(missing.expect_err("no such case").code(), Code::NotFound);
    let no_reason = c
        .dispatch
        .cancel(v1::CancelRequest { ticket_id: id.clone(), reason: 0, context: Clients::operator(), duplicate_of: String::new() })
        .await;
    assert_eq!(no_reason.expect_err("reason required").code(), Code::InvalidArgument);
    let (after, history) = c.history(&id).await;
    assert_eq!((after.version, after.state()), (ticket.version, v1::TicketState::Dispatched));
    assert_eq!(history.len(), 2, "only filed and dispatched");
    app.stop().await;
}

#[tokio::test]
async fn a_terminal_that_reconnects_misses_nothing() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let mut feed = c
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: 0, ..Default::default() })
        .await
        .expect("watch")
        .into_inner();
    let first = c.hotline("feed-0", "E0102", Some(XINAN)).await.expect("accepted");
    let event = feed.message().await.expect("ok").expect("event");
    assert_eq!(event.ticket.as_ref().map(|t| t.id.as_str()), Some(first.reference.as_str()));
    let last_seen = event.seq;
    drop(feed);
    // While the terminal is away: two more tasks and an escalation-free update.
    let mut missed = Vec::new();
    for i in 1..3 {
        let (lon, lat) = (XINAN.0 + 0.0008 * i as f64, XINAN.1);
        let r = c.hotline(&format!("feed-{i}"), "E0102", Some((lon, lat))).await.expect("accepted");
        let t = c.ticket_of(&r.reference).await;
        if t.squad_id == "sq-1" {
            missed.push(t.id);
        }
    }
    c.dispatch.suspend(v1::SuspendRequest { ticket_id: first.reference.clone(), context: Clients::operator() }).await.expect("suspend");
    let mut feed = c
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: last_seen, ..Default::default() })
        .await
        .expect("watch")
        .into_inner();
    let mut seqs = Vec::new();
    let mut assigned = Vec::new();
    for _ in 0..missed.len() + 1 {
        let e = tokio::time::timeout(gridd_tests::PATIENCE, feed.message()).await.expect("in time").expect("ok").expect("event");
        seqs.push(e.seq);
        if e.kind() == v1::TaskEventKind::Assigned {
            assigned.push(e.ticket.map(|t| t.id).unwrap_or_default());
        }
    }
    let expected: Vec<u64> = (last_seen + 1..=last_seen + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "contiguous from where the terminal left off");
    assert_eq!(assigned, missed);
    app.stop().await;
}

/// A client that lists a squad's open tasks itself (a load tool, a wall screen) watches from
/// the feed's end: it gets what is written after its call, not the feed's history. Asking for
/// the end and a resume point at once is refused naming `from_end`.
#[tokio::test]
async fn a_watch_from_the_feed_end_skips_the_history() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    // Apart by more than the city's 50 m duplicate radius, so that the new report is a case
    // of its own.
    for i in 1..=3 {
        let (lon, lat) = (XINAN.0 + 0.0008 * i as f64, XINAN.1);
        let r = c.hotline(&format!("old-{i}"), "E0102", Some((lon, lat))).await.expect("accepted");
        c.ticket_of(&r.reference).await;
    }
    let from_end = v1::WatchTasksRequest { squad_id: "sq-1".into(), from_end: true, ..Default::default() };
    let mut feed = c.squad.watch_tasks(from_end.clone()).await.expect("watch").into_inner();
    let new = c.hotline("new-0", "E0102", Some(XINAN)).await.expect("accepted");
    let event = tokio::time::timeout(gridd_tests::PATIENCE, feed.message()).await.expect("in time").expect("ok").expect("event");
    assert_eq!(event.ticket.as_ref().map(|t| t.id.as_str()), Some(new.reference.as_str()), "the first entry is the new task");
    let history = c.squad.watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), ..Default::default() }).await;
    let mut history = history.expect("watch").into_inner();
    let oldest = history.message().await.expect("ok").expect("event");
    assert!(oldest.seq < event.seq, "the feed's history was there to skip: {} < {}", oldest.seq, event.seq);
    let both = c.squad.watch_tasks(v1::WatchTasksRequest { after_seq: 1, ..from_end }).await.expect_err("both");
    assert_eq!(both.code(), Code::InvalidArgument);
    assert!(both.message().starts_with("from_end: "), "{}", both.message());
    app.stop().await;
}

#[tokio::test]
async fn suspension_and_extension_move_the_deadline() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let receipt = c.hotline("ext-1", "E0102", Some(XINAN)).await.expect("accepted");
    let before = c.ticket_of(&receipt.reference).await;
    let extended = c
        .dispatch
        .extend_deadline(v1::ExtendDeadlineRequest { ticket_id: before.id.clone(), extension: "2h".into(), context: Clients::operator() })
        .await
        .expect("extend")
        .into_inner();
    let deadline = |t: &v1::Ticket| t.handling_deadline.as_ref().map(|d| d.seconds).unwrap_or_default();
    assert_eq!(deadline(&extended) - deadline(&before), 7200);
    assert_eq!(extended.extension_count, 1);
    let bad = c
        .dispatch
        .extend_deadline(v1::ExtendDeadlineRequest {
            ticket_id: before.id.clone(),
            extension: "2 weeks".into(),
            context: Clients::operator(),
        })
        .await;
    assert_eq!(bad.expect_err("bad extension").code(), Code::InvalidArgument);
    let suspended = c
        .dispatch
        .suspend(v1::SuspendRequest { ticket_id: before.id.clone(), context: Clients::operator() })
        .await
        .expect("suspend")
        .into_inner();
    assert_eq!((suspended.state(), suspended.stage()), (v1::TicketState::Suspended, v1::Stage::Unspecified));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let resumed = c
        .dispatch
        .resume(v1::ResumeRequest { ticket_id: before.id.clone(), context: Clients::operator() })
        .await
        .expect("resume")
        .into_inner();
    assert_eq!(resumed.state(), v1::TicketState::Dispatched);
    assert!(deadline(&resumed) > deadline(&extended), "the time spent suspended is given back");
    app.stop().await;
}

#[tokio::test]
async fn the_centre_reclassifies_and_presses_a_case_and_the_squad_answers() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let mut leader = app.clients_with(&app.sign_in_as("leader.1", "shift_leader", None).await);
    let mut viewer = app.clients_with(&app.sign_in_as("viewer.1", "leadership", None).await);
    let mut member = app.clients_with(&app.sign_in_as("m.centre", "squad_member", Some("sq-1")).await);
    let receipt = admin.hotline("centre-1", "E0102", Some(XINAN)).await.expect("accepted");
    let case = admin.ticket_of(&receipt.reference).await;
    let offered = leader
        .dispatch
        .get_ticket(v1::GetTicketRequest { id: case.id.clone(), include_history: false, ..Default::default() })
        .await
        .expect("get");
    let offered = offered.into_inner().allowed_actions;
    assert!(offered.contains(&"reclassify".to_owned()) && offered.contains(&"press".to_owned()), "{offered:?}");

    // A missing manhole cover, not garbage: urgent, 1 h, from the same dispatch.
    let reclassify = v1::ReclassifyRequest {
        ticket_id: case.id.clone(),
        category: "C0102".into(),
        condition: "missing".into(),
        reason: "现场为井盖缺失".into(),
        context: None,
    };
    let dispatcher = app.clients_with(&app.sign_in_as("dispatcher.1", "dispatcher", None).await);
    let refused = dispatcher.clone().dispatch.reclassify(reclassify.clone()).await.expect_err("a shift leader's decision");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let changed = leader.dispatch.reclassify(reclassify).await.expect("reclassified").into_inner();
    assert_eq!((changed.category.as_str(), changed.urgency()), ("C0102", v1::Urgency::Urgent));
    let deadline = |t: &v1::Ticket| t.handling_deadline.as_ref().map(|d| d.seconds).expect("deadline");
    assert_eq!(deadline(&changed) - changed.dispatched_at.as_ref().map(|d| d.seconds).expect("dispatched"), 3600, "1 h from dispatch");

    // A leader presses it; the squad hears on its feed and answers.
    let press = v1::PressRequest { ticket_id: case.id.clone(), level: 3, note: "今天务必处置".into(), context: None };
    let pressed = viewer.dispatch.press(press).await.expect("pressed").into_inner();
    assert_eq!((pressed.presses[0].label.as_str(), pressed.presses[0].note.as_str()), ("黄牌督办", "今天务必处置"));
    let mut feed = member.squad.watch_tasks(v1::WatchTasksRequest::default()).await.expect("feed").into_inner();
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(gridd_tests::PATIENCE, feed.message()).await.expect("in time").expect("ok").expect("event");
        kinds.push((event.kind(), event.detail));
    }
    assert_eq!(
        kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [v1::TaskEventKind::Assigned, v1::TaskEventKind::Updated, v1::TaskEventKind::Escalated]
    );
    assert!(kinds[2].1.contains("今天务必处置"), "{kinds:?}");
    let answer = v1::AnswerPressRequest { task: Some(Clients::task("", &case.id)), note: "已安排人员前往".into() };
    let answered = member.squad.answer_press(answer.clone()).await.expect("answered").into_inner();
    assert_eq!(answered.presses[0].reply, "已安排人员前往");
    assert!(answered.presses[0].replied_at.is_some());
    let again = member.squad.answer_press(answer).await.expect_err("answered already");
    assert_eq!(again.code(), Code::FailedPrecondition);
    let (_, history) = admin.history(&case.id).await;
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.ends_with(&["reclassified", "pressed", "press_answered"]), "{kinds:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_squad_applies_and_the_dispatcher_decides() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let mut dispatcher = app.clients_with(&app.sign_in_as("dispatcher.2", "dispatcher", None).await);
    let mut member = app.clients_with(&app.sign_in_as("m.apply", "squad_member", Some("sq-1")).await);
    let receipt = admin.hotline("apply-1", "E0102", Some(XINAN)).await.expect("accepted");
    let case = admin.ticket_of(&receipt.reference).await;
    member.squad.accept_task(Clients::task("", &case.id)).await.expect("accept");
    let apply = |kind: v1::ApplicationKind, extension: &str| v1::ApplyRequest {
        task: Some(Clients::task("", &case.id)),
        kind: kind.into(),
        extension: extension.into(),
        reason: "需等配件到货".into(),
    };
    let bad = member.squad.apply(apply(v1::ApplicationKind::Extension, "4 WH")).await.expect_err("badly written");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let applied = member.squad.apply(apply(v1::ApplicationKind::Extension, "1h")).await.expect("applied").into_inner();
    let pending = applied.application.clone().expect("waiting for the centre");
    assert_eq!((pending.kind(), pending.extension.as_str()), (v1::ApplicationKind::Extension, "1h"));
    assert!(pending.decide_by.is_some());
    let before = applied.handling_deadline.as_ref().map(|d| d.seconds).expect("deadline");
    let decide = |approve: bool, dispatcher_error: bool| v1::DecideRequest {
        ticket_id: case.id.clone(),
        approve,
        reason: "同意".into(),
        dispatcher_error,
        context: None,
    };
    let granted = dispatcher.dispatch.decide(decide(true, false)).await.expect("approved").into_inner();
    assert_eq!(granted.handling_deadline.as_ref().map(|d| d.seconds), Some(before + 3600), "an hour more");
    assert!(granted.application.is_none() && granted.extension_count == 1);
    let nothing = dispatcher.dispatch.decide(decide(false, false)).await.expect_err("no application waits");
    assert_eq!(nothing.code(), Code::FailedPrecondition);

    // A return applied for, approved as the dispatcher's error: the squad is not charged.
    member.squad.apply(apply(v1::ApplicationKind::Return, "")).await.expect("applied");
    let returned = dispatcher.dispatch.decide(decide(true, true)).await.expect("approved").into_inner();
    assert_eq!((returned.state(), returned.return_count, returned.dispatch_error_count), (v1::TicketState::Returned, 0, 1));
    let stats = admin.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(stats.city.map(|k| k.dispatch_errors), Some(1));
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_case_merges_into_its_master_and_a_report_splits_back_out() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let mut ids = Vec::new();
    for (i, phone) in ["13800000001", "13800000002"].into_iter().enumerate() {
        let mut call = gridd_tests::hotline_call(&format!("merge-{i}"), "E0102", Some(gridd_tests::spread_point(20 + i)));
        call.caller.as_mut().expect("caller").phone = phone.into();
        let receipt = c.intake.log_hotline_call(call).await.expect("accepted").into_inner();
        ids.push(c.ticket_of(&receipt.reference).await.id);
    }
    let (master, duplicate) = (ids[0].clone(), ids[1].clone());
    let cancel = |duplicate_of: &str| v1::CancelRequest {
        ticket_id: duplicate.clone(),
        reason: v1::CancelReason::Duplicate.into(),
        context: Clients::operator(),
        duplicate_of: duplicate_of.into(),
    };
    let unnamed = c.dispatch.cancel(cancel("")).await.expect_err("a duplicate names its master");
    assert_eq!(unnamed.code(), Code::InvalidArgument);
    assert!(unnamed.message().contains("duplicate_of"), "{}", unnamed.message());
    let itself = v1::MergeCasesRequest { duplicate_id: master.clone(), master_id: master.clone(), context: None };
    let itself = c.dispatch.merge_cases(itself).await.expect_err("not into itself");
    assert_eq!(itself.code(), Code::InvalidArgument);
    assert!(itself.message().contains("master_id"), "{}", itself.message());

    // Cancelling as a duplicate naming the master merges: the callers move over.
    let cancelled = c.dispatch.cancel(cancel(&master)).await.expect("merged").into_inner();
    assert_eq!((cancelled.state(), cancelled.cancel_reason()), (v1::TicketState::Cancelled, v1::CancelReason::Duplicate));
    let link = |kind: v1::case_link::Kind, id: &str| v1::CaseLink { kind: kind.into(), ticket_id: id.into() };
    assert_eq!(cancelled.lineage, [link(v1::case_link::Kind::MergedInto, &master)]);
    let (kept, history) = c.history(&master).await;
    assert_eq!(kept.reports.len(), 2, "the duplicate's caller is the master's now");
    assert_eq!(kept.lineage, [link(v1::case_link::Kind::MergedFrom, &duplicate)]);
    assert!(history.iter().any(|e| e.kind == "cases_merged" && e.detail.contains(duplicate.as_str())), "{history:?}");
    let by_phone = v1::ListTicketsRequest { caller_phone: "13800000002".into(), ..Default::default() };
    let found = c.dispatch.list_tickets(by_phone).await.expect("list").into_inner().tickets;
    assert_eq!(found.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [master.as_str()], "the caller finds the master");
    let again = v1::MergeCasesRequest { duplicate_id: master.clone(), master_id: duplicate.clone(), context: None };
    assert_eq!(c.dispatch.merge_cases(again).await.expect_err("into a cancelled case").code(), Code::FailedPrecondition);

    // Split the merged report back out: a case of its own, filed and routed, linked both ways.
    let own = v1::SplitCaseRequest { ticket_id: master.clone(), reference: master.clone(), context: None };
    let own = c.dispatch.split_case(own).await.expect_err("the case's own report stays");
    assert!(own.code() == Code::InvalidArgument && own.message().contains("reference"), "{}", own.message());
    let split = v1::SplitCaseRequest { ticket_id: master.clone(), reference: duplicate.clone(), context: Clients::operator() };
    let split = c.dispatch.split_case(split).await.expect("split").into_inner();
    assert_ne!(split.id, duplicate, "the cancelled duplicate keeps its number");
    assert_eq!((split.state(), split.reports.len()), (v1::TicketState::Dispatched, 1));
    assert_eq!(split.reports[0].reference, duplicate);
    assert_eq!(split.lineage, [link(v1::case_link::Kind::SplitFrom, &master)]);
    let left = c.ticket_of(&master).await;
    assert_eq!(left.reports.len(), 1);
    assert_eq!(left.lineage.last(), Some(&link(v1::case_link::Kind::SplitInto, &split.id)));
    let found = c.dispatch.list_tickets(v1::ListTicketsRequest { caller_phone: "13800000002".into(), ..Default::default() });
    let found = found.await.expect("list").into_inner().tickets;
    assert_eq!(found.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [split.id.as_str()], "the caller follows the report");
    app.stop().await;
}
