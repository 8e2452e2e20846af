//! Editing the city's files while the engine runs: new rules and new grid versions take
//! effect without a restart, intake never stops, and an invalid edit is refused.

use std::path::Path;
use std::time::Duration;

use gridd_proto::v1;
use gridd_tests::{PATIENCE, XINAN, spawn_app_with, spread_point, test_city};

/// A copy of the test city whose squads, catalogue and grid can be edited.
fn editable_city(dir: &Path) -> std::path::PathBuf {
    let fixtures = test_city().parent().expect("fixtures dir").to_path_buf();
    let xinyi = fixtures.join("../../../config/xinyi");
    for (from, to) in [
        (xinyi.join("squads.toml"), "squads.toml"),
        (xinyi.join("grid.geojson"), "grid.geojson"),
        (fixtures.join("catalogue.toml"), "catalogue.toml"),
        (fixtures.join("detections.toml"), "detections.toml"),
    ] {
        std::fs::copy(&from, dir.join(to)).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
    let city = std::fs::read_to_string(test_city()).expect("test city");
    let absolute = |name: &str| xinyi.join(name).canonicalize().expect("file exists").display().to_string();
    let city = city
        .replace("\"../../../config/xinyi/divisions.csv\"", &format!("{:?}", absolute("divisions.csv")))
        .replace("\"../../../config/xinyi/grid.geojson\"", "\"grid.geojson\"")
        .replace("\"../../../config/xinyi/calendar/2026.toml\"", &format!("{:?}", absolute("calendar/2026.toml")))
        .replace("\"../../../config/xinyi/squads.toml\"", "\"squads.toml\"")
        .replace("\"../../../config/xinyi/cameras.csv\"", &format!("{:?}", absolute("cameras.csv")))
        .replace("\"../../../config/xinyi/components.toml\"", &format!("{:?}", absolute("components.toml")));
    let path = dir.join("city.toml");
    std::fs::write(&path, city).expect("write city");
    path
}

async fn squad_for(c: &mut gridd_tests::Clients, at: Option<gridd_proto::prost_types::Timestamp>) -> (String, String) {
    let point = Some(v1::GeoPoint { lon: XINAN.0, lat: XINAN.1, crs: v1::CoordSystem::Wgs84.into() });
    let r = c.grid.locate(v1::LocateRequest { point, category: "E0102".into(), at }).await.expect("locate").into_inner();
    (r.responsible.first().map(|s| s.squad_id.clone()).unwrap_or_default(), r.grid_version)
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn edited_rules_and_new_grid_versions_load_without_stopping_intake() {
    let dir = tempfile::tempdir().expect("temp dir");
    let city = editable_city(dir.path());
    let app = spawn_app_with(&city).await;
    let mut c = app.clients.clone();
    assert_eq!(squad_for(&mut c, None).await, ("sq-1".to_string(), "xinyi-2026.11".to_string()));

    // Reports keep arriving while the configuration changes under them.
    let mut sender = c.clone();
    let reports = tokio::spawn(async move {
        let mut acked = 0;
        for i in 0..60 {
            let r = sender.hotline(&format!("during-reload-{i}"), "E0102", Some(spread_point(i))).await;
            acked += usize::from(r.is_ok());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        acked
    });

    // 新安街道 moves from 一中队 to 二中队.
    let squads = std::fs::read_to_string(dir.path().join("squads.toml")).expect("squads");
    let moved = squads.replacen("territory = [\"320381001\"]", "territory = []", 1).replacen(
        "territory = [\"320381002\"]",
        "territory = [\"320381002\", \"320381001\"]",
        1,
    );
    assert_ne!(moved, squads, "the test edits the territories");
    std::fs::write(dir.path().join("squads.toml"), &moved).expect("edit squads");
    wait_until("the new territories", async || squad_for(&mut c, None).await.0 == "sq-2").await;

    // An invalid edit is refused and the running rules stay.
    std::fs::write(
        dir.path().join("squads.toml"),
        format!("{moved}\n[[rule]]\nid = \"broken\"\nsquad = \"sq-nobody\"\ndescription = \"x\"\n"),
    )
    .expect("break squads");
    let (metrics_addr, key) = (app.http_addr, app.admin_key.clone());
    wait_until("the refusal", async || metrics(metrics_addr, &key).await.contains("gridd_config_reloads_total{result=\"refused\"}")).await;
    assert_eq!(squad_for(&mut c, None).await.0, "sq-2", "the last good rules stay");

    // Fixed again; then a new grid version dated an hour ahead: events of now keep the
    // current grid.
    std::fs::write(dir.path().join("squads.toml"), &moved).expect("fix squads");
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(1);
    let grid = std::fs::read_to_string(dir.path().join("grid.geojson")).expect("grid");
    let dated = grid.replacen(
        "\"grid_version\":\"xinyi-2026.11\"",
        &format!("\"grid_version\":\"xinyi-next\",\"effective_from\":\"{}\"", later.to_rfc3339()),
        1,
    );
    std::fs::write(dir.path().join("grid.geojson"), dated).expect("new grid version");
    let at_later = Some(gridd_proto::prost_types::Timestamp { seconds: later.timestamp() + 60, nanos: 0 });
    wait_until("the dated grid version", async || squad_for(&mut c, at_later).await.1 == "xinyi-next").await;
    assert_eq!(squad_for(&mut c, None).await.1, "xinyi-2026.11", "now is still routed by the current version");
    let receipt = c.hotline("after-new-version", "E0102", Some(XINAN)).await.expect("accepted");
    let ticket = c.ticket_of(&receipt.reference).await;
    assert_eq!(ticket.routing.map(|r| r.grid_version), Some("xinyi-2026.11".to_string()), "the case records the version that routed it");

    assert_eq!(reports.await.expect("sender"), 60, "every report during the reloads was acknowledged");
    app.stop().await;
}

async fn metrics(addr: std::net::SocketAddr, key: &str) -> String {
    gridd_tests::http_get_as(addr, "/metrics", key).await.1
}
