//! What the squad terminal and the hotline console rely on, over the wire: photos kept with a
//! case and read only within the case's scope, task actions applied once per action id,
//! similar open cases near a point and an operator's explicit merge, cases found by the
//! caller's phone number, and the catalogue with pinyin initials.

use gridd_proto::tonic::{Code, Status};
use gridd_proto::v1;
use gridd_tests::{Clients, TestApp, XINAN, hotline_call, http_call, http_send, spawn_app};

/// A tiny PNG (its first bytes are what identifies the type; `seed` varies the rest).
fn png(seed: u8) -> Vec<u8> {
    [b"\x89PNG\r\n\x1a\n".as_slice(), &[0, 0, 0, 13], b"IHDR", &[seed; 13]].concat()
}

fn field_of(status: &Status) -> String {
    status.message().split(':').next().unwrap_or_default().to_string()
}

/// Signs in a squad member of `squad`: their clients and token.
async fn member(app: &TestApp, name: &str, squad: &str) -> (Clients, String) {
    let token = app.sign_in_as(name, "squad_member", Some(squad)).await;
    (app.clients_with(&token), token)
}

/// A hotline call at `point` routed to sq-1 (XINAN and points near it): the filed case.
async fn case_at(c: &mut Clients, key: &str, category: &str, point: (f64, f64)) -> v1::Ticket {
    let receipt = c.hotline(key, category, Some(point)).await.expect("accepted");
    c.ticket_of(&receipt.reference).await
}

async fn upload(app: &TestApp, token: &str, ticket: &str, content_type: &str, bytes: &[u8]) -> gridd_tests::HttpResponse {
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", content_type)];
    http_send(app.http_addr, "POST", &format!("/v1/tickets/{ticket}/photos"), &headers, bytes).await
}

#[tokio::test]
async fn photos_are_kept_with_the_case_and_shown_within_its_scope() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let case = case_at(&mut admin, "photo-1", "E0102", XINAN).await;
    assert_eq!(case.squad_id, "sq-1");
    let (mut member, token) = member(&app, "m.photo", "sq-1").await;
    let (_, other_token) = self::member(&app, "m.other", "sq-2").await;
    member.squad.accept_task(Clients::task("", &case.id)).await.expect("accept");
    member.squad.start_task(Clients::task("", &case.id)).await.expect("start");

    let first = upload(&app, &token, &case.id, "image/png", &png(1)).await;
    assert_eq!(first.status, 201, "{first:?}");
    let url = first.json()["url"].as_str().expect("a url").to_owned();
    assert!(url.starts_with("/v1/photos/"), "{url}");
    let again = upload(&app, &token, &case.id, "image/png", &png(1)).await;
    assert_eq!((again.status, again.json()["url"].as_str()), (200, Some(url.as_str())), "a resent photo is the stored one");

    // Refusals name the reason, and store nothing.
    let gif = upload(&app, &token, &case.id, "image/gif", b"GIF89a....").await;
    assert_eq!((gif.status, gif.json()["field"].as_str()), (400, Some("photo")), "{gif:?}");
    let lying = upload(&app, &token, &case.id, "image/jpeg", &png(2)).await;
    assert!(lying.json()["message"].as_str().is_some_and(|m| m.contains("is not a JPEG image")), "{lying:?}");
    let not_theirs = upload(&app, &other_token, &case.id, "image/png", &png(3)).await;
    assert_eq!(not_theirs.status, 403, "another squad's member cannot add photos: {not_theirs:?}");
    let nowhere = upload(&app, &token, "no-such-case", "image/png", &png(4)).await;
    assert_eq!(nowhere.status, 404);

    // The resolution keeps the note and the photo, and the case returns them.
    let absolute = format!("http://{}{url}", app.http_addr);
    let resolve =
        v1::ResolveTaskRequest { task: Some(Clients::task("", &case.id)), note: "已清运".into(), photo_urls: vec![absolute.clone()] };
    member.squad.resolve_task(resolve).await.expect("resolve");
    let (ticket, history) = admin.history(&case.id).await;
    assert_eq!((ticket.resolution_note.as_str(), ticket.resolution_photo_urls.clone()), ("已清运", vec![absolute]));
    assert!(ticket.resolved_at.is_some());
    assert!(history.iter().any(|e| e.kind == "resolved" && e.detail.contains("1 photo")), "{history:?}");

    // Read back by whoever may read the case; out of scope it does not exist.
    let auth = |t: &str| format!("Bearer {t}");
    let read = http_call(app.http_addr, "GET", &url, &[("Authorization", &auth(&app.admin_key))], "").await;
    assert_eq!((read.status, read.header("content-type"), read.bytes.clone()), (200, Some("image/png"), png(1)));
    assert_eq!(read.header("x-content-type-options"), Some("nosniff"));
    let hidden = http_call(app.http_addr, "GET", &url, &[("Authorization", &auth(&other_token))], "").await;
    assert_eq!(hidden.status, 404, "{hidden:?}");
    let anonymous = http_call(app.http_addr, "GET", &url, &[], "").await;
    assert_eq!(anonymous.status, 401);
    app.stop().await;
}

#[tokio::test]
async fn a_case_keeps_at_most_twenty_photos() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let case = case_at(&mut admin, "photo-limit", "E0102", XINAN).await;
    let (_, token) = member(&app, "m.limit", "sq-1").await;
    for seed in 0..20 {
        let stored = upload(&app, &token, &case.id, "image/png", &png(seed)).await;
        assert_eq!(stored.status, 201, "photo {seed}: {stored:?}");
    }
    let over = upload(&app, &token, &case.id, "image/png", &png(99)).await;
    assert_eq!((over.status, over.json()["code"].as_str()), (409, Some("failed_precondition")), "{over:?}");
    assert!(over.json()["message"].as_str().is_some_and(|m| m.contains("20 photos")), "{over:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_task_action_is_applied_once_per_action_id() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let case = case_at(&mut admin, "action-1", "E0102", XINAN).await;
    let (mut member, _) = member(&app, "m.action", "sq-1").await;
    let accept = v1::TaskCommand { action_id: "a-1".into(), expected_version: case.version, ..Clients::task("", &case.id) };
    let accepted = member.squad.accept_task(accept.clone()).await.expect("accept").into_inner();
    assert_eq!(accepted.state(), v1::TicketState::Accepted);
    // The terminal lost the reply and sends the queued action again: nothing changes.
    let repeated = member.squad.accept_task(accept).await.expect("a repeat is answered").into_inner();
    assert_eq!((repeated.state(), repeated.version), (v1::TicketState::Accepted, accepted.version));
    let reused = v1::TaskCommand { action_id: "a-1".into(), ..Clients::task("", &case.id) };
    let refused = member.squad.start_task(reused).await.expect_err("an action id names one action");
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    let bad = v1::TaskCommand { action_id: "a b".into(), ..Clients::task("", &case.id) };
    let refused = member.squad.start_task(bad).await.expect_err("not a token");
    assert_eq!((refused.code(), field_of(&refused)), (Code::InvalidArgument, "action_id".to_owned()));
    let (_, history) = admin.history(&case.id).await;
    assert_eq!(history.iter().filter(|e| e.kind == "accepted").count(), 1, "{history:?}");

    // The centre re-assigns the task meanwhile: the member's queued action is a conflict.
    admin
        .dispatch
        .dispatch(v1::DispatchRequest { ticket_id: case.id.clone(), squad_id: "sq-2".into(), context: Clients::operator() })
        .await
        .expect("re-dispatch");
    let stale = v1::TaskCommand { action_id: "a-2".into(), expected_version: accepted.version, ..Clients::task("", &case.id) };
    let conflict = member.squad.start_task(stale).await.expect_err("the task moved on");
    assert!(matches!(conflict.code(), Code::Aborted | Code::PermissionDenied), "{conflict:?}");
    app.stop().await;
}

#[tokio::test]
async fn similar_open_cases_are_found_and_a_call_can_be_merged_into_one() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let case = case_at(&mut c, "similar-1", "E0102", XINAN).await;
    let point = |dlat: f64| Some(v1::GeoPoint { lon: XINAN.0, lat: XINAN.1 + dlat, crs: v1::CoordSystem::Wgs84.into() });
    let find = |category: &str, dlat: f64, radius_m: f64| v1::FindSimilarCasesRequest {
        category: category.into(),
        location: point(dlat),
        radius_m,
    };

    // 0.00027° of latitude is 30 m: inside the merge radius.
    let near = c.dispatch.find_similar_cases(find("E0102", 0.00027, 0.0)).await.expect("find").into_inner();
    assert_eq!(near.merge_radius_m, 50.0);
    let hit = near.cases.first().expect("the case 30 m away");
    assert_eq!((hit.ticket.as_ref().map(|t| t.id.as_str()), hit.would_merge), (Some(case.id.as_str()), true));
    assert!((hit.distance_m - 30.0).abs() < 1.5, "{}", hit.distance_m);
    let other = c.dispatch.find_similar_cases(find("E0104", 0.00027, 0.0)).await.expect("find").into_inner();
    assert!(other.cases.is_empty(), "another category is not similar");
    // 300 m away: outside the merge radius; found only when asked to look that far.
    assert!(c.dispatch.find_similar_cases(find("E0102", 0.0027, 0.0)).await.expect("find").into_inner().cases.is_empty());
    let wide = c.dispatch.find_similar_cases(find("E0102", 0.0027, 500.0)).await.expect("find").into_inner();
    assert_eq!(
        wide.cases.iter().map(|s| (s.ticket.as_ref().map(|t| t.id.clone()), s.would_merge)).collect::<Vec<_>>(),
        [(Some(case.id.clone()), false)]
    );
    let refused = c.dispatch.find_similar_cases(find("E0102", 0.0, 5000.0)).await.expect_err("too far");
    assert_eq!(field_of(&refused), "radius_m");

    // The operator merges a call from 300 m away by hand.
    let mut call = hotline_call("similar-2", "E0102", Some((XINAN.0, XINAN.1 + 0.0027)));
    call.attach_to = case.id.clone();
    let receipt = c.intake.log_hotline_call(call).await.expect("accepted").into_inner();
    let merged = c.ticket_of(&receipt.reference).await;
    assert_eq!(merged.id, case.id, "the call joined the case");
    assert!(merged.reports.iter().any(|r| r.reference == receipt.reference));
    let (_, history) = c.history(&case.id).await;
    assert!(history.iter().any(|e| e.detail.contains("merged by the hotline operator")), "{history:?}");

    // Only open cases take calls.
    let mut unknown = hotline_call("similar-3", "E0102", Some(XINAN));
    unknown.attach_to = "no-such-case".into();
    let refused = c.intake.log_hotline_call(unknown).await.expect_err("no such case");
    assert_eq!((refused.code(), field_of(&refused)), (Code::InvalidArgument, "attach_to".to_owned()));
    c.dispatch
        .cancel(v1::CancelRequest {
            ticket_id: case.id.clone(),
            reason: v1::CancelReason::Invalid.into(),
            duplicate_of: String::new(),
            context: Clients::operator(),
        })
        .await
        .expect("cancel");
    let mut late = hotline_call("similar-4", "E0102", Some(XINAN));
    late.attach_to = case.id.clone();
    let refused = c.intake.log_hotline_call(late).await.expect_err("a cancelled case takes no calls");
    assert!(refused.message().contains("cancelled"), "{refused:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_caller_finds_their_cases_by_phone_number_shown_masked() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let call = |key: &str, phone: &str, point: (f64, f64)| {
        let mut r = hotline_call(key, "E0102", Some(point));
        r.caller = Some(v1::Caller { name: "李四".into(), phone: phone.into(), reply_required: true, confidential: false });
        r
    };
    let first = c.intake.log_hotline_call(call("phone-1", "13912345678", gridd_tests::spread_point(1))).await.expect("accepted");
    let second = c.intake.log_hotline_call(call("phone-2", "+8613912345678", gridd_tests::spread_point(2))).await.expect("accepted");
    c.intake.log_hotline_call(call("phone-3", "13700000000", gridd_tests::spread_point(3))).await.expect("accepted");
    let (a, b) = (c.ticket_of(&first.get_ref().reference).await, c.ticket_of(&second.get_ref().reference).await);
    let mut wait = 0;
    let found = loop {
        let req = v1::ListTicketsRequest { caller_phone: "13912345678".into(), ..Default::default() };
        let found = c.dispatch.list_tickets(req).await.expect("list").into_inner().tickets;
        if found.len() >= 2 || wait > 100 {
            break found;
        }
        wait += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut ids: Vec<&str> = found.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [a.id.as_str(), b.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "both calls from the number, and not the other caller's");
    assert!(found.iter().all(|t| t.reports.iter().all(|r| r.contact_masked == "139****5678")), "{found:?}");
    let bad = v1::ListTicketsRequest { caller_phone: "12ab".into(), ..Default::default() };
    let refused = c.dispatch.list_tickets(bad).await.expect_err("not a number");
    assert_eq!(field_of(&refused), "caller_phone");
    app.stop().await;
}

#[tokio::test]
async fn the_catalogue_lists_classes_with_their_terms_and_pinyin_initials() {
    let app = spawn_app().await;
    let operator = app.sign_in_as("hotline.1", "hotline_operator", None).await;
    let mut c = app.clients_with(&operator);
    let catalogue = c.grid.get_catalogue(v1::GetCatalogueRequest {}).await.expect("catalogue").into_inner();
    let garbage = catalogue.categories.iter().find(|k| k.code == "E0102").expect("E0102");
    assert_eq!((garbage.name.as_str(), garbage.pinyin_initials.as_str(), garbage.handling.as_str()), ("暴露垃圾", "bllj", "2h"));
    let cover = catalogue.categories.iter().find(|k| k.code == "C0102").expect("C0102");
    let missing = cover.conditions.iter().find(|k| k.name == "missing").expect("a condition");
    assert_eq!((missing.urgency(), missing.handling.as_str()), (v1::Urgency::Urgent, "1h"));
    app.stop().await;
}
