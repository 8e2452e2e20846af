//! What operators rely on: health, reflection, metrics, KPIs.

use gridd_proto::v1;
use gridd_tests::{Clients, XINAN, http_get, http_get_as, spawn_app};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn health_and_reflection_are_served() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.clients.channel.clone());
    for service in ["", "gridd.v1.IntakeService", "gridd.v1.DispatchService", "gridd.v1.SquadService", "gridd.v1.GridService"] {
        let status = health.check(HealthCheckRequest { service: service.into() }).await.expect("health check").into_inner();
        assert_eq!(status.status(), ServingStatus::Serving, "{service:?}");
    }
    let mut reflection = ServerReflectionClient::new(app.clients.authed.clone());
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut responses = reflection.server_reflection_info(tokio_stream::iter(vec![request])).await.expect("reflection").into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses.message().await.expect("ok").and_then(|r| r.message_response) else {
        panic!("reflection did not list services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in
        ["gridd.v1.IntakeService", "gridd.v1.DispatchService", "gridd.v1.SquadService", "gridd.v1.GridService", "grpc.health.v1.Health"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn metrics_and_kpis_reflect_the_work_done() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let receipt = c.hotline("kpi-1", "E0102", Some(XINAN)).await.expect("accepted");
    let id = c.ticket_of(&receipt.reference).await.id;
    c.squad.accept_task(Clients::task("sq-1", &id)).await.expect("accept");
    c.squad.start_task(Clients::task("sq-1", &id)).await.expect("start");
    let resolve = v1::ResolveTaskRequest { task: Some(Clients::task("sq-1", &id)), note: "done".into(), photo_urls: vec![] };
    c.squad.resolve_task(resolve).await.expect("resolve");
    c.dispatch.verify(v1::VerifyRequest { ticket_id: id, passed: true, context: Clients::operator() }).await.expect("verify");
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    let squad = stats.by_squad.iter().find(|k| k.key == "sq-1").expect("一中队 has KPIs");
    assert_eq!((squad.name.as_str(), squad.filed, squad.closed, squad.should_close), ("一中队", 1, 1, 1));
    assert_eq!((squad.closure_rate, squad.on_time_disposal_rate), (1.0, 1.0));
    let street = stats.by_street.iter().find(|k| k.key == "320381001").expect("新安街道 has KPIs");
    assert_eq!(street.name, "新安街道");
    let (code, body) = http_get_as(app.http_addr, "/metrics", &app.admin_key).await;
    assert_eq!(code, 200);
    assert!(body.contains("gridd_intake_records_total{channel=\"hotline\"}"), "intake counter exported");
    assert!(body.contains("gridd_router_decide_seconds"), "routing latency exported");
    assert_eq!(http_get(app.http_addr, "/health/readyz").await.0, 200);
    app.stop().await;
}
