//! The monthly 考核 over gRPC and HTTP: a month's figures as cases change, freezing a month
//! once it is over, a frozen report (and its CSV) that stays identical after later changes,
//! and who may read and freeze.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{FixedOffset, NaiveDate};
use gridd_core::time::{Clock, Timestamp};
use gridd_proto::tonic::Code;
use gridd_proto::v1;
use gridd_tests::{Clients, engine_config, http_get_as, spawn_app_at, spread_point};

/// A clock the test sets by hand.
struct HandClock(AtomicI64);

impl HandClock {
    fn set(&self, at: Timestamp) {
        self.0.store(at.millis(), Ordering::SeqCst);
    }
}

impl Clock for HandClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Local time in the test city (+08:00).
fn local(month: u32, day: u32, hour: u32) -> Timestamp {
    let at = NaiveDate::from_ymd_opt(2026, month, day).and_then(|d| d.and_hms_opt(hour, 0, 0)).expect("valid time");
    Timestamp::from_local(at, FixedOffset::east_opt(8 * 3600).expect("offset"))
}

fn city_line(a: &v1::Assessment) -> &v1::AssessmentLine {
    a.lines.iter().find(|l| l.unit == "city").expect("a city line")
}

fn figure(line: &v1::AssessmentLine, name: &str) -> i64 {
    line.figures.get(name).copied().unwrap_or(0)
}

async fn assessment(c: &mut Clients, period: &str) -> v1::Assessment {
    c.dispatch.get_assessment(v1::GetAssessmentRequest { period: period.into() }).await.expect("assessment").into_inner()
}

async fn close(c: &mut Clients, id: &str) {
    let squad = &c.ticket_of(id).await.squad_id;
    c.squad.accept_task(Clients::task(squad, id)).await.expect("accept");
    c.squad.start_task(Clients::task(squad, id)).await.expect("start");
    let req = v1::ResolveTaskRequest { task: Some(Clients::task(squad, id)), note: "已清理".into(), photo_urls: Vec::new() };
    c.squad.resolve_task(req).await.expect("resolve");
    let verify = v1::VerifyRequest { ticket_id: id.into(), passed: true, context: Clients::operator() };
    c.dispatch.verify(verify).await.expect("verify");
}

#[tokio::test]
async fn a_frozen_month_stays_as_published_while_cases_move_on() {
    let clock = Arc::new(HandClock(AtomicI64::new(local(11, 30, 10).millis())));
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app_at(engine_config(dir.path()), dir, clock.clone()).await;
    let mut c = app.clients.clone();
    let mut ids = Vec::new();
    for i in 0..3 {
        let receipt = c.hotline(&format!("kh-{i}"), "E0102", Some(spread_point(i))).await.expect("accepted");
        ids.push(c.ticket_of(&receipt.reference).await.id);
    }
    let squad = c.ticket_of(&ids[0]).await.squad_id;
    close(&mut c, &ids[0]).await;
    let november = assessment(&mut c, "2026-11").await;
    let city = city_line(&november);
    assert_eq!((figure(city, "filed"), figure(city, "closed"), figure(city, "closed_on_time")), (3, 1, 1), "{city:?}");
    assert_eq!((city.should_close, city.rates.get("on_time_closure").copied()), (1, Some(1.0)));
    let squad_line = november.lines.iter().find(|l| l.unit == format!("squad:{squad}")).expect("the squad's line");
    assert_eq!((squad_line.kind.as_str(), squad_line.rank), ("squad", 1));
    assert!(squad_line.score > 99.9, "every owed rate at 100 %: {squad_line:?}");
    assert!(!november.frozen);

    // November is not over: it cannot be frozen yet.
    let early = c.dispatch.freeze_assessment(v1::FreezeAssessmentRequest { period: "2026-11".into() }).await.expect_err("too early");
    assert_eq!(early.code(), Code::FailedPrecondition, "{}", early.message());

    clock.set(local(12, 1, 9));
    let frozen = c.dispatch.freeze_assessment(v1::FreezeAssessmentRequest { period: "2026-11".into() }).await.expect("freeze").into_inner();
    assert!(frozen.frozen);
    assert_eq!(frozen.lines, november.lines, "freezing publishes the month as it stood");
    let (status, figures_csv) = http_get_as(app.http_addr, "/v1/assessment/2026-11/figures.csv", &app.admin_key).await;
    assert_eq!(status, 200, "{figures_csv}");
    let (_, cases_csv) = http_get_as(app.http_addr, "/v1/assessment/2026-11/cases.csv", &app.admin_key).await;
    assert!(cases_csv.lines().any(|l| l.starts_with("2026-11,closed,1,") && l.contains(ids[0].as_str())), "{cases_csv}");

    // December: another case closes, late lines of the November cases arrive; November's
    // report and exports do not move.
    close(&mut c, &ids[1]).await;
    let december = assessment(&mut c, "2026-12").await;
    assert_eq!(figure(city_line(&december), "closed"), 1, "closed in December counts in December");
    let again = assessment(&mut c, "2026-11").await;
    assert_eq!((again.frozen, &again.lines), (true, &frozen.lines));
    // The bodies byte for byte; the headers carry the time of the answer.
    let body = |response: &str| response.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_owned());
    let figures_again = http_get_as(app.http_addr, "/v1/assessment/2026-11/figures.csv", &app.admin_key).await.1;
    assert_eq!(body(&figures_again), body(&figures_csv));
    let cases_again = http_get_as(app.http_addr, "/v1/assessment/2026-11/cases.csv", &app.admin_key).await.1;
    assert_eq!(body(&cases_again), body(&cases_csv));
    assert!(body(&figures_csv).starts_with("\u{feff}period,unit,kind"), "{figures_csv}");
    let twice = c.dispatch.freeze_assessment(v1::FreezeAssessmentRequest { period: "2026-11".into() }).await.expect_err("frozen once");
    assert_eq!(twice.code(), Code::AlreadyExists);
    app.stop().await;
}

#[tokio::test]
async fn the_assessment_names_bad_months_and_keeps_to_its_readers() {
    let clock = Arc::new(HandClock(AtomicI64::new(local(12, 1, 10).millis())));
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app_at(engine_config(dir.path()), dir, clock).await;
    let mut c = app.clients.clone();
    for bad in ["2026-13", "", "December"] {
        let e = c.dispatch.get_assessment(v1::GetAssessmentRequest { period: bad.into() }).await.expect_err(bad);
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("period"), "{}", e.message());
    }
    let empty = assessment(&mut c, "2026-10").await;
    assert!(empty.lines.is_empty() && !empty.frozen, "a month with nothing has no lines");
    assert_eq!(empty.weights.get("on_time_closure").copied(), Some(50.0), "the standard weights");

    let member = app.clients_with(&app.sign_in_as("m.kh", "squad_member", Some("sq-1")).await);
    let refused = member.clone().dispatch.get_assessment(v1::GetAssessmentRequest { period: "2026-11".into() }).await.expect_err("no");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let leader = app.clients_with(&app.sign_in_as("lead.kh", "leadership", None).await);
    assessment(&mut leader.clone(), "2026-11").await;
    let freeze = leader.clone().dispatch.freeze_assessment(v1::FreezeAssessmentRequest { period: "2026-11".into() }).await;
    assert_eq!(freeze.expect_err("read-only").code(), Code::PermissionDenied);
    let (status, body) = http_get_as(app.http_addr, "/v1/assessment/2026-11/other.csv", &app.admin_key).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("figures.csv"), "{body}");
    app.stop().await;
}
