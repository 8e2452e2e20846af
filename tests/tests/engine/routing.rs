//! Routing: the cell, the squad, duplicates and the manual queue.

use gridd_proto::v1;
use gridd_tests::{XINAN, spawn_app};

#[tokio::test]
async fn a_hotline_call_in_xinan_becomes_a_case_of_its_squad_pushed_to_its_terminal() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let mut feed = c
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: 0, ..Default::default() })
        .await
        .expect("watch")
        .into_inner();
    let receipt = c.hotline("xinan-1", "E0102", Some(XINAN)).await.expect("accepted");
    let ticket = c.ticket_of(&receipt.reference).await;
    assert_eq!(ticket.state(), v1::TicketState::Dispatched);
    assert_eq!((ticket.squad_id.as_str(), ticket.squad_name.as_str()), ("sq-1", "一中队"));
    let cell = ticket.cell.clone().expect("located");
    assert_eq!((cell.street_code.as_str(), cell.street_name.as_str()), ("320381001", "新安街道"));
    assert_eq!(cell.cell_code.len(), 15);
    let routing = ticket.routing.clone().expect("explained");
    assert_eq!(routing.rule_id, "territorial-default");
    assert_eq!(routing.grid_version, "xinyi-2026.11");
    assert!(ticket.handling_deadline.is_some());
    let pushed =
        tokio::time::timeout(gridd_tests::PATIENCE, feed.message()).await.expect("pushed in time").expect("stream ok").expect("an event");
    assert_eq!(pushed.kind(), v1::TaskEventKind::Assigned);
    assert_eq!(pushed.seq, 1);
    assert_eq!(pushed.ticket.map(|t| t.id), Some(ticket.id));
    app.stop().await;
}

#[tokio::test]
async fn nearby_reports_of_the_same_problem_merge_into_one_case() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let first = c.hotline("dup-1", "E0102", Some(XINAN)).await.expect("accepted");
    let first_case = c.ticket_of(&first.reference).await;
    // 0.0002° of latitude is about 22 m.
    let near = (XINAN.0, XINAN.1 + 0.0002);
    let second = c.hotline("dup-2", "E0102", Some(near)).await.expect("accepted");
    let other_problem = c.hotline("dup-3", "E0104", Some(near)).await.expect("accepted");
    let far = (XINAN.0, XINAN.1 + 0.002);
    let far_away = c.hotline("dup-4", "E0102", Some(far)).await.expect("accepted");
    assert_eq!(c.ticket_of(&second.reference).await.id, first_case.id, "22 m away, same category: merged");
    assert_ne!(c.ticket_of(&other_problem.reference).await.id, first_case.id, "another category is another case");
    assert_ne!(c.ticket_of(&far_away.reference).await.id, first_case.id, "220 m away is another case");
    let (merged, history) = c.wait_for(&first_case.id, "two reports", |t, _| t.reports.len() == 2).await;
    assert!(merged.reports.iter().all(|r| r.reply_required && r.contact_masked == "138****5678"), "every caller keeps their reply");
    assert!(history.iter().any(|e| e.kind == "report_merged"));
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(stats.merged_reports, 1);
    app.stop().await;
}

#[tokio::test]
async fn what_cannot_be_located_waits_in_the_manual_queue() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let nowhere = c.hotline("m-1", "E0102", None).await.expect("accepted without a location");
    let beijing = c.hotline("m-2", "E0102", Some((116.40, 39.90))).await.expect("accepted outside the city");
    let t1 = c.ticket_of(&nowhere.reference).await;
    let t2 = c.ticket_of(&beijing.reference).await;
    assert_eq!((t1.state(), t1.manual_reason()), (v1::TicketState::Registered, v1::ManualReason::NoLocation));
    assert_eq!((t2.state(), t2.manual_reason()), (v1::TicketState::Registered, v1::ManualReason::OutsideGrid));
    assert_eq!(t1.stage(), v1::Stage::Dispatch, "the dispatch clock runs for the centre");
    let queue = c
        .dispatch
        .list_tickets(v1::ListTicketsRequest { states: vec![v1::TicketState::Registered.into()], ..Default::default() })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(queue.tickets.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn locate_explains_the_choice() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let point = Some(v1::GeoPoint { lon: XINAN.0, lat: XINAN.1, crs: v1::CoordSystem::Wgs84.into() });
    let with_category = c.grid.locate(v1::LocateRequest { point, category: "E0102".into(), at: None }).await.expect("locate").into_inner();
    assert!(with_category.found);
    assert_eq!(with_category.cell.expect("cell").community_code.len(), 12);
    let chosen = &with_category.responsible;
    assert_eq!(chosen.len(), 1);
    assert_eq!((chosen[0].squad_id.as_str(), chosen[0].squad_name.as_str()), ("sq-1", "一中队"));
    let all = c.grid.locate(v1::LocateRequest { point, category: String::new(), at: None }).await.expect("locate").into_inner();
    assert_eq!(all.responsible.last().map(|r| r.squad_id.as_str()), Some("sq-1"), "territorial default last");
    assert!(all.responsible.iter().any(|r| r.squad_id == "sq-vehicles"));
    let outside = v1::LocateRequest { point: Some(v1::GeoPoint { lon: 116.4, lat: 39.9, crs: 0 }), ..Default::default() };
    assert!(!c.grid.locate(outside).await.expect("locate").into_inner().found);
    let grid =
        c.grid.get_grid(v1::GetGridRequest { street_code: "320381001".into(), ..Default::default() }).await.expect("grid").into_inner();
    assert_eq!(grid.city_code, "320381");
    assert!(grid.total_cells > 500 && !grid.next_page_token.is_empty());
    app.stop().await;
}

/// A patrol report at `point` about a numbered component (部件).
fn component_report(key: &str, category: &str, component_id: &str, point: (f64, f64)) -> v1::SubmitPatrolReportRequest {
    v1::SubmitPatrolReportRequest {
        idempotency_key: key.into(),
        category: category.into(),
        location: Some(v1::GeoPoint { lon: point.0, lat: point.1, crs: v1::CoordSystem::Wgs84.into() }),
        component_id: component_id.into(),
        description: "井盖破损".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_numbered_component_goes_to_its_owner_and_its_reports_are_one_case() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    // A power cover (电力井盖) in 新安街道: the power company's, not 一中队's.
    let first = c.intake.submit_patrol_report(component_report("cmp-1", "C0105", "3203810105000017", XINAN)).await.expect("accepted");
    let case = c.ticket_of(&first.get_ref().reference).await;
    assert_eq!((case.squad_id.as_str(), case.squad_name.as_str()), ("unit-power", "新沂供电公司"));
    let routing = case.routing.clone().expect("explained");
    assert_eq!(routing.rule_id, "component-owner");
    assert!(routing.reason.contains("3203810105000017") && routing.reason.contains("3203810105"), "{}", routing.reason);
    // The same component reported again, even with a point 200 m off, is the same case.
    let again = c
        .intake
        .submit_patrol_report(component_report("cmp-2", "C0105", "3203810105000017", (XINAN.0, XINAN.1 + 0.0018)))
        .await
        .expect("accepted");
    assert_eq!(c.ticket_of(&again.get_ref().reference).await.id, case.id);
    // Another component of the same class at the same place is another case.
    let other = c.intake.submit_patrol_report(component_report("cmp-3", "C0105", "3203810105000018", XINAN)).await.expect("accepted");
    assert_ne!(c.ticket_of(&other.get_ref().reference).await.id, case.id);
    // A component the registry does not cover is routed by its category as usual.
    let unlisted = c.intake.submit_patrol_report(component_report("cmp-4", "C0102", "3203810102000001", XINAN)).await.expect("accepted");
    assert_eq!(c.ticket_of(&unlisted.get_ref().reference).await.squad_id, "dept-water");
    app.stop().await;
}

#[tokio::test]
async fn a_gas_leak_goes_to_the_gas_company_even_in_a_town() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let locate = |point: (f64, f64)| v1::LocateRequest {
        point: Some(v1::GeoPoint { lon: point.0, lat: point.1, crs: v1::CoordSystem::Wgs84.into() }),
        category: "E0403".into(),
        at: None,
    };
    for point in [XINAN, gridd_tests::spread_point(0)] {
        let answer = c.grid.locate(locate(point)).await.expect("located").into_inner();
        let squads: Vec<&str> = answer.responsible.iter().map(|r| r.squad_id.as_str()).collect();
        assert_eq!(squads, ["unit-gas"], "at {point:?}");
    }
    let receipt = c.hotline("gas-1", "E0403", Some(XINAN)).await.expect("accepted");
    assert_eq!(c.ticket_of(&receipt.reference).await.squad_id, "unit-gas");
    app.stop().await;
}
