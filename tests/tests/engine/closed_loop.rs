//! The loop closed for the public, over gRPC: public reports verified on site before filing
//! (核实), refused ones not filed with the reason, and every caller who asked for one replied
//! to (回访) — merged callers too — with a dissatisfied reply reopening the case, and the
//! verification and reply clocks escalating when late. On the test city with verification
//! (tests/fixtures/city-verify: 新安街道's supervisor is `sup.xinan`, limits of seconds).

use std::path::Path;

use gridd_proto::tonic::Code;
use gridd_proto::v1;
use gridd_tests::{Clients, TestApp, XINAN, hotline_call, spawn_app_with};

fn verify_city() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/city-verify/city.toml")
}

/// The engine with the verifying city, and clients for its supervisor, a hotline operator
/// and a member of 一中队.
struct People {
    app: TestApp,
    supervisor: Clients,
    operator: Clients,
    member: Clients,
}

async fn people() -> People {
    let app = spawn_app_with(&verify_city()).await;
    let supervisor = app.clients_with(&app.sign_in_as("sup.xinan", "supervisor", None).await);
    let operator = app.clients_with(&app.sign_in_as("hotline.1", "hotline_operator", None).await);
    let member = app.clients_with(&app.sign_in_as("m.sq1", "squad_member", Some("sq-1")).await);
    People { app, supervisor, operator, member }
}

/// A call at `point` from `phone`, wanting a reply.
fn call(key: &str, point: (f64, f64), phone: &str, confidential: bool) -> v1::LogHotlineCallRequest {
    let mut r = hotline_call(key, "E0102", Some(point));
    r.caller = Some(v1::Caller { name: "王五".into(), phone: phone.into(), reply_required: true, confidential });
    r
}

async fn verify(c: &mut Clients, id: &str, outcome: v1::VerifyOutcome, note: &str) -> Result<v1::Ticket, gridd_proto::tonic::Status> {
    let req = v1::VerifyReportRequest { ticket_id: id.into(), outcome: outcome.into(), note: note.into(), ..Default::default() };
    c.dispatch.verify_report(req).await.map(|r| r.into_inner())
}

/// The squad handles the case and the check passes: closed.
async fn handle_and_close(p: &mut People, id: &str) -> v1::Ticket {
    p.member.squad.accept_task(Clients::task("", id)).await.expect("accept");
    p.member.squad.start_task(Clients::task("", id)).await.expect("start");
    let resolve = v1::ResolveTaskRequest { task: Some(Clients::task("", id)), note: "已清理".into(), photo_urls: Vec::new() };
    p.member.squad.resolve_task(resolve).await.expect("resolve");
    let pass = v1::VerifyRequest { ticket_id: id.into(), passed: true, context: None };
    p.supervisor.dispatch.verify(pass).await.expect("check passed").into_inner()
}

async fn open_reply_tasks(c: &mut Clients) -> Vec<v1::ReplyTask> {
    c.dispatch.list_reply_tasks(v1::ListReplyTasksRequest::default()).await.expect("reply tasks").into_inner().tasks
}

async fn reply(c: &mut Clients, id: &str, reference: &str, satisfaction: v1::Satisfaction) -> v1::Ticket {
    let req = v1::RecordReplyRequest {
        ticket_id: id.into(),
        reference: reference.into(),
        reached: true,
        satisfaction: satisfaction.into(),
        note: "已回访".into(),
        context: None,
    };
    c.dispatch.record_reply(req).await.expect("reply recorded").into_inner()
}

#[tokio::test]
async fn a_call_is_verified_filed_closed_and_every_caller_gets_a_reply() {
    let mut p = people().await;
    // Transferred from the 12345 platform: its ticket number stays with the case.
    let mut transferred = call("loop-1", XINAN, "13911112222", true);
    transferred.external_ticket_id = "12345-20261201-0042".into();
    let first = p.operator.intake.log_hotline_call(transferred).await.expect("call").into_inner();
    let waiting = p.operator.ticket_of(&first.reference).await;
    assert_eq!((waiting.state(), waiting.squad_id.as_str(), waiting.verifier.as_str()), (v1::TicketState::Verifying, "", "sup.xinan"));
    assert_eq!(waiting.stage(), v1::Stage::Verify);
    // The confidential caller's name is in no ticket view; the phone only masked.
    let report = &waiting.reports[0];
    assert_eq!((report.caller_name.as_str(), report.confidential, report.contact_masked.as_str()), ("", true, "139****2222"));

    // The supervisor's feed has the report to verify.
    let mut feed =
        p.supervisor.dispatch.watch_verifications(v1::WatchVerificationsRequest::default()).await.expect("own feed").into_inner();
    let task = tokio::time::timeout(gridd_tests::PATIENCE, feed.message()).await.expect("in time").expect("ok").expect("an entry");
    assert_eq!((task.kind(), task.ticket.map(|t| t.id)), (v1::TaskEventKind::Assigned, Some(waiting.id.clone())));
    let others =
        p.supervisor.dispatch.watch_verifications(v1::WatchVerificationsRequest { after_seq: 0, supervisor: "sup.other".into() }).await;
    assert_eq!(others.map(drop).expect_err("another's feed").code(), Code::PermissionDenied);

    // A second caller 20 m away merges into it while it waits.
    let second =
        p.operator.intake.log_hotline_call(call("loop-2", (XINAN.0, XINAN.1 + 0.00018), "13933334444", false)).await.expect("call");
    let merged = p.operator.ticket_of(&second.get_ref().reference).await;
    assert_eq!(merged.id, waiting.id);

    let actions = |r: v1::GetTicketResponse| r.allowed_actions;
    let get = |id: &str| v1::GetTicketRequest { id: id.into(), include_history: false, ..Default::default() };
    let offered = actions(p.supervisor.dispatch.get_ticket(get(&waiting.id)).await.expect("get").into_inner());
    assert_eq!(offered, ["verify_confirm", "verify_refuse"], "a supervisor verifies; nothing else applies before filing");
    let filed = verify(&mut p.supervisor, &waiting.id, v1::VerifyOutcome::Confirmed, "").await.expect("confirmed");
    assert_eq!((filed.state(), filed.squad_id.as_str()), (v1::TicketState::Dispatched, "sq-1"), "filed and routed");
    let closed = handle_and_close(&mut p, &waiting.id).await;
    assert_eq!((closed.state(), closed.stage()), (v1::TicketState::Closed, v1::Stage::Reply));
    assert_eq!(closed.replies.len(), 2, "both callers are owed a reply: {:?}", closed.replies);

    let offered = actions(p.operator.dispatch.get_ticket(get(&waiting.id)).await.expect("get").into_inner());
    assert_eq!(offered, ["reply"], "the hotline replies to the callers of a closed case");
    // The hotline's work list: both callers, with the numbers to call.
    let tasks = open_reply_tasks(&mut p.operator).await;
    let mut phones: Vec<(&str, bool)> = tasks.iter().map(|t| (t.phone.as_str(), t.confidential)).collect();
    phones.sort_unstable();
    assert_eq!(phones, [("13911112222", true), ("13933334444", false)]);
    assert!(tasks.iter().all(|t| t.caller_name == "王五" && t.ticket_id == waiting.id));
    let squad_member = p.member.dispatch.list_reply_tasks(v1::ListReplyTasksRequest::default()).await;
    assert_eq!(squad_member.map(drop).expect_err("not the squad's").code(), Code::PermissionDenied);

    reply(&mut p.operator, &waiting.id, &first.reference, v1::Satisfaction::Satisfied).await;
    let done = reply(&mut p.operator, &waiting.id, &second.get_ref().reference, v1::Satisfaction::BasicallySatisfied).await;
    assert_eq!((done.state(), done.stage()), (v1::TicketState::Closed, v1::Stage::Unspecified), "every caller answered");
    assert!(open_reply_tasks(&mut p.operator).await.is_empty());
    let stats = p.app.clients.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    let city = stats.city.expect("city figures");
    assert_eq!((city.replies_due, city.replied, city.verified, city.filed), (2, 2, 1, 1));
    assert_eq!((city.reply_rate, city.satisfaction_rate), (1.0, 1.0));
    let (_, history) = p.operator.history(&waiting.id).await;
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds[..3], ["awaiting_verification", "report_merged", "verified"]);
    assert!(kinds.ends_with(&["replied", "replied"]), "{kinds:?}");
    assert!(history.iter().all(|e| e.ticket.is_none()), "the history says what happened; the case is in the answer");
    // The event log as an integration reads it (WatchTickets), snapshots and all.
    let events = case_events(&mut p.app.clients.clone(), &waiting.id, history.len()).await;
    assert!(events.iter().all(|e| e.ticket.is_some()), "every event carries the case as it was");
    assert!(events.iter().all(|e| !format!("{:?}", e.ticket).contains("13911112222")), "no event carries a whole number");
    // The closing and each reply are ticket events an integration can send back to 12345.
    let for_12345: Vec<&str> = events
        .iter()
        .filter(|e| e.ticket.as_ref().is_some_and(|t| t.reports.iter().any(|r| r.external_ticket_id == "12345-20261201-0042")))
        .map(|e| e.kind.as_str())
        .collect();
    assert!(for_12345.contains(&"check_passed") && for_12345.ends_with(&["replied", "replied"]), "{for_12345:?}");
    p.app.stop().await;
}

/// The first `n` events of case `id` on the ticket-event log, read from its start.
async fn case_events(c: &mut Clients, id: &str, n: usize) -> Vec<v1::TicketEvent> {
    let mut stream = c.dispatch.watch_tickets(v1::WatchTicketsRequest { after_seq: 0 }).await.expect("watch").into_inner();
    let mut events = Vec::new();
    while events.len() < n {
        let event = tokio::time::timeout(gridd_tests::PATIENCE, stream.message()).await.expect("in time").expect("ok").expect("an event");
        if event.ticket_id == id {
            events.push(event);
        }
    }
    events
}

#[tokio::test]
async fn a_dissatisfied_caller_reopens_the_case_for_its_squad() {
    let mut p = people().await;
    let receipt = p.operator.intake.log_hotline_call(call("again-1", XINAN, "13955556666", false)).await.expect("call").into_inner();
    let id = p.operator.ticket_of(&receipt.reference).await.id;
    verify(&mut p.supervisor, &id, v1::VerifyOutcome::Confirmed, "").await.expect("confirmed");
    handle_and_close(&mut p, &id).await;
    let reopened = reply(&mut p.operator, &id, &receipt.reference, v1::Satisfaction::Dissatisfied).await;
    assert_eq!((reopened.state(), reopened.squad_id.as_str(), reopened.rework_count), (v1::TicketState::Rework, "sq-1", 1));
    let (_, history) = p.operator.history(&id).await;
    assert!(history.iter().any(|e| e.kind == "reopened" && e.detail.contains("dissatisfied")), "{history:?}");
    // Handled again and closed: the caller is owed a new reply.
    p.member.squad.accept_task(Clients::task("", &id)).await.expect("accept");
    p.member.squad.start_task(Clients::task("", &id)).await.expect("start");
    let resolve = v1::ResolveTaskRequest { task: Some(Clients::task("", &id)), note: "重新清理".into(), photo_urls: Vec::new() };
    p.member.squad.resolve_task(resolve).await.expect("resolve");
    p.supervisor.dispatch.verify(v1::VerifyRequest { ticket_id: id.clone(), passed: true, context: None }).await.expect("check");
    let tasks = open_reply_tasks(&mut p.operator).await;
    assert_eq!(tasks.iter().map(|t| t.reference.as_str()).collect::<Vec<_>>(), [receipt.reference.as_str()]);
    p.app.stop().await;
}

#[tokio::test]
async fn a_report_refused_at_verification_is_not_filed_and_its_caller_hears_why() {
    let mut p = people().await;
    let receipt = p.operator.intake.log_hotline_call(call("refuse-1", XINAN, "13977778888", false)).await.expect("call").into_inner();
    let id = p.operator.ticket_of(&receipt.reference).await.id;
    let no_note = verify(&mut p.supervisor, &id, v1::VerifyOutcome::NotCityBusiness, "").await.expect_err("the reason is required");
    assert_eq!(no_note.code(), Code::InvalidArgument);
    let refused = verify(&mut p.supervisor, &id, v1::VerifyOutcome::NotCityBusiness, "属供电公司管理").await.expect("refused");
    assert_eq!((refused.state(), refused.not_filed_reason()), (v1::TicketState::NotFiled, v1::NotFiledReason::NotCityBusiness));
    let tasks = open_reply_tasks(&mut p.operator).await;
    let task = tasks.iter().find(|t| t.ticket_id == id).expect("the caller is owed a reply");
    assert_eq!((task.state(), task.not_filed_reason()), (v1::TicketState::NotFiled, v1::NotFiledReason::NotCityBusiness));
    let (_, history) = p.operator.history(&id).await;
    assert!(history.iter().any(|e| e.kind == "not_filed" && e.detail.contains("属供电公司管理")), "{history:?}");
    let stats = p.app.clients.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    let city = stats.city.expect("city figures");
    assert_eq!((city.filed, city.verified, city.not_filed), (0, 1, 1), "a report not filed is no case");
    // A patrol report is filed directly, verification or not.
    let patrol = v1::SubmitPatrolReportRequest {
        idempotency_key: "patrol-1".into(),
        category: "E0104".into(),
        location: Some(v1::GeoPoint { lon: XINAN.0, lat: XINAN.1, crs: v1::CoordSystem::Wgs84.into() }),
        description: "路面不洁".into(),
        ..Default::default()
    };
    let receipt = p.supervisor.intake.submit_patrol_report(patrol).await.expect("patrol").into_inner();
    assert_eq!(p.supervisor.ticket_of(&receipt.reference).await.state(), v1::TicketState::Dispatched);
    p.app.stop().await;
}

#[tokio::test]
async fn late_verification_and_late_replies_escalate() {
    let mut p = people().await;
    let receipt = p.operator.intake.log_hotline_call(call("late-1", XINAN, "13900001111", false)).await.expect("call").into_inner();
    let id = p.operator.ticket_of(&receipt.reference).await.id;
    // The verification limit is 3 s: its ladder fires while nobody verifies.
    let (late, history) = p.operator.wait_for(&id, "verification pressed", |t, _| t.escalation_level >= 2).await;
    assert_eq!((late.state(), late.light()), (v1::TicketState::Verifying, v1::Light::Red));
    assert!(history.iter().any(|e| e.kind == "escalated" && e.detail.contains("verify limit")), "{history:?}");

    let refused = verify(&mut p.supervisor, &id, v1::VerifyOutcome::AlreadyFixed, "已自行清理").await.expect("refused");
    assert_eq!(refused.escalation_level, 0, "the reply clock starts afresh");
    let (late, history) = p.operator.wait_for(&id, "reply pressed", |t, _| t.stage() == v1::Stage::Reply && t.escalation_level >= 2).await;
    assert_eq!(late.light(), v1::Light::Red);
    assert!(history.iter().any(|e| e.kind == "escalated" && e.detail.contains("reply limit")), "{history:?}");
    p.app.stop().await;
}
