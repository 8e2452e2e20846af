//! Intake: validation, idempotency, coordinate conversion, camera streams.

use gridd_proto::tonic::Code;
use gridd_proto::v1;
use gridd_tests::{XINAN, hotline_call, spawn_app};
use tonic_types_check::field_of;

mod tonic_types_check {
    use gridd_proto::tonic::Status;

    /// The field a status names in its message (`field: reason`).
    pub fn field_of(status: &Status) -> String {
        status.message().split(':').next().unwrap_or_default().to_string()
    }
}

#[tokio::test]
async fn bad_requests_name_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let cases = [
        ("location.lon", {
            let mut r = hotline_call("k1", "E0102", Some((181.0, 34.0)));
            r.address = "x".into();
            r
        }),
        ("category", hotline_call("k2", "E9999", Some(XINAN))),
        ("category", hotline_call("k3", "garbage", Some(XINAN))),
        ("condition", {
            let mut r = hotline_call("k4", "C0102", Some(XINAN));
            r.condition = "stolen".into();
            r
        }),
        ("idempotency_key", hotline_call("", "E0102", Some(XINAN))),
        ("description", {
            let mut r = hotline_call("k5", "E0102", Some(XINAN));
            r.description = " ".into();
            r
        }),
        ("caller.phone", {
            let mut r = hotline_call("k6", "E0102", Some(XINAN));
            if let Some(c) = r.caller.as_mut() {
                c.phone.clear()
            }
            r
        }),
        ("hotline", {
            let mut r = hotline_call("k7", "E0102", Some(XINAN));
            r.hotline = 0;
            r
        }),
    ];
    for (field, request) in cases {
        let status = c.intake.log_hotline_call(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(field_of(&status), field, "{}", status.message());
    }
    let citizen = v1::SubmitCitizenReportRequest {
        idempotency_key: "c1".into(),
        citizen_id: "u1".into(),
        category: "E0102".into(),
        location: None,
        description: "垃圾".into(),
        ..Default::default()
    };
    let status = c.intake.submit_citizen_report(citizen).await.expect_err("citizen reports need a location");
    assert_eq!((status.code(), field_of(&status)), (Code::InvalidArgument, "location".to_string()));
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(stats.intake_by_channel.iter().map(|c| c.count).sum::<u64>(), 0, "a refused request writes nothing");
    assert!(stats.tickets_by_state.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_same_reference() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let first = c.hotline("call-1", "E0102", Some(XINAN)).await.expect("accepted");
    let retry = c.hotline("call-1", "E0102", Some(XINAN)).await.expect("accepted again");
    assert_eq!(retry.reference, first.reference);
    assert!(!first.replayed && retry.replayed);
    // The same key for a different report is refused rather than silently answered.
    let reused = c.hotline("call-1", "E0104", Some(XINAN)).await.expect_err("different content");
    assert_eq!(reused.code(), Code::AlreadyExists);
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(stats.intake_by_channel.iter().map(|c| c.count).sum::<u64>(), 1);
    // The operator's reference finds the case later.
    let ticket = c.ticket_of(&first.reference).await;
    assert_eq!(ticket.id, first.reference);
    app.stop().await;
}

#[tokio::test]
async fn map_app_coordinates_are_converted_to_wgs84() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let (glon, glat) = gridd_core::coords::wgs84_to_gcj02(XINAN.0, XINAN.1);
    let (blon, blat) = gridd_core::coords::gcj02_to_bd09(glon, glat);
    for (key, crs, lon, lat) in [("gcj", v1::CoordSystem::Gcj02, glon, glat), ("bd", v1::CoordSystem::Bd09, blon, blat)] {
        let req = v1::SubmitCitizenReportRequest {
            idempotency_key: key.into(),
            citizen_id: "u1".into(),
            category: if key == "gcj" { "E0102" } else { "E0104" }.into(),
            location: Some(v1::GeoPoint { lon, lat, crs: crs.into() }),
            description: "随手拍".into(),
            ..Default::default()
        };
        let receipt = c.intake.submit_citizen_report(req).await.expect("accepted").into_inner();
        let ticket = c.ticket_of(&receipt.reference).await;
        let p = ticket.location.expect("located");
        let off = gridd_core::coords::distance_m(geo::Point::new(p.lon, p.lat), geo::Point::new(XINAN.0, XINAN.1));
        assert!(off < 1.0, "{key}: stored point is {off:.2} m from the true WGS84 point");
        assert_eq!(ticket.cell.expect("in a cell").street_name, "新安街道");
    }
    app.stop().await;
}

#[tokio::test]
async fn camera_streams_accept_valid_alerts_and_merge_repeats() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let now = gridd_proto::timestamp(gridd_core::time::Clock::now(&gridd_core::time::SystemClock));
    let alert = |id: &str, camera: &str, detection: &str, confidence: f32| v1::CameraAlert {
        camera_id: camera.into(),
        alert_id: id.into(),
        detection_type: detection.into(),
        confidence,
        detected_at: Some(now),
        frame_url: String::new(),
        location: None,
    };
    let alerts = vec![
        alert("a1", "CAM-0001", "occupy_road_business", 0.9),
        alert("a2", "CAM-0001", "occupy_road_business", 0.8),
        alert("a3", "CAM-9999", "occupy_road_business", 0.9),
        alert("a4", "CAM-0001", "flying_saucer", 0.9),
        alert("a5", "CAM-0002", "exposed_garbage", 0.2),
        alert("a1", "CAM-0001", "occupy_road_business", 0.9),
    ];
    let response = c.intake.stream_camera_alerts(tokio_stream::iter(alerts)).await.expect("stream accepted").into_inner();
    let rejected: Vec<(u32, &str)> = response.rejected.iter().map(|r| (r.index, r.field.as_str())).collect();
    assert_eq!(rejected, vec![(2, "camera_id"), (3, "detection_type"), (4, "confidence")]);
    assert_eq!(response.accepted.len(), 3);
    assert_eq!(response.accepted[2].reference, response.accepted[0].reference, "a resent alert is a replay");
    assert!(response.accepted[2].replayed);
    let first = c.ticket_of(&response.accepted[0].reference).await;
    let second = c.ticket_of(&response.accepted[1].reference).await;
    assert_eq!(second.id, first.id, "the same camera and detection joins the open case");
    let (merged, _) = c.wait_for(&first.id, "two reports", |t, _| t.reports.len() == 2).await;
    assert_eq!(merged.reports[1].reference, response.accepted[1].reference);
    app.stop().await;
}

/// The centre sees what reporters saw: the photos sent with a report come back with its case,
/// those of a caller merged into the case too.
#[tokio::test]
async fn photos_sent_with_reports_come_back_with_the_case() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let report = |key: &str, photo: &str| v1::SubmitCitizenReportRequest {
        idempotency_key: key.into(),
        citizen_id: "wx-1".into(),
        category: "E0102".into(),
        location: Some(v1::GeoPoint { lon: XINAN.0, lat: XINAN.1, crs: v1::CoordSystem::Wgs84.into() }),
        description: "垃圾堆放".into(),
        photo_urls: vec![photo.into()],
        ..Default::default()
    };
    let first = c.intake.submit_citizen_report(report("photo-1", "https://photos.example/a.jpg")).await.expect("accepted").into_inner();
    let case = c.ticket_of(&first.reference).await;
    // A second citizen reports the same problem at the same place: it joins the case.
    let second = c.intake.submit_citizen_report(report("photo-2", "https://photos.example/b.jpg")).await.expect("accepted").into_inner();
    assert_eq!(c.ticket_of(&second.reference).await.id, case.id, "the second report joins the case");
    let (ticket, _) = c.wait_for(&case.id, "both reports on the case", |t, _| t.reports.len() == 2).await;
    let photos: Vec<(&str, &[String])> = ticket.reports.iter().map(|r| (r.reference.as_str(), r.photo_urls.as_slice())).collect();
    assert_eq!(
        photos,
        [
            (first.reference.as_str(), &["https://photos.example/a.jpg".to_owned()][..]),
            (second.reference.as_str(), &["https://photos.example/b.jpg".to_owned()][..])
        ]
    );
    app.stop().await;
}

/// A camera repeating one problem merges into one case, and each merge costs the event log the
/// same: its events carry the opening and newest reports with the count, not every report.
#[tokio::test]
async fn a_camera_storm_costs_each_event_the_same() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let now = gridd_proto::timestamp(gridd_core::time::Clock::now(&gridd_core::time::SystemClock));
    let alerts: Vec<v1::CameraAlert> = (0..40)
        .map(|i| v1::CameraAlert {
            camera_id: "CAM-0001".into(),
            alert_id: format!("storm-{i}"),
            detection_type: "occupy_road_business".into(),
            confidence: 0.9,
            detected_at: Some(now),
            frame_url: String::new(),
            location: None,
        })
        .collect();
    let response = c.intake.stream_camera_alerts(tokio_stream::iter(alerts)).await.expect("accepted").into_inner();
    assert_eq!(response.accepted.len(), 40);
    let id = c.ticket_of(&response.accepted[0].reference).await.id;
    let (case, _) = c.wait_for(&id, "every alert on the case", |t, _| t.reports.len() == 40).await;
    assert_eq!(case.report_count, 40, "the case view has them all");
    let mut stream = c.dispatch.watch_tickets(v1::WatchTicketsRequest { after_seq: 0 }).await.expect("watch").into_inner();
    let mut merges = 0;
    while merges < 39 {
        let event = tokio::time::timeout(gridd_tests::PATIENCE, stream.message()).await.expect("in time").expect("ok").expect("event");
        if event.ticket_id != id {
            continue;
        }
        let snapshot = event.ticket.expect("a snapshot");
        assert!(snapshot.reports.len() <= 2, "{} reports on one event", snapshot.reports.len());
        assert_eq!(snapshot.reports[0].reference, response.accepted[0].reference, "the opening report stays");
        if event.kind == "report_merged" {
            merges += 1;
            assert_eq!(snapshot.report_count, merges + 1, "the count as it was then");
            let newest = &snapshot.reports[snapshot.reports.len() - 1].reference;
            assert_eq!(newest, &response.accepted[merges as usize].reference, "the report just merged");
        }
    }
    let (_, history) = c.history(&id).await;
    assert!(history.len() >= 40 && history.iter().all(|e| e.ticket.is_none()), "the history lists what happened, once");
    app.stop().await;
}
