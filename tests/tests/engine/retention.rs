//! Retention of the embedded log: consumed intake and dispatch records are trimmed, and
//! nothing a user sees goes with them; a finished case's history goes only when configured.

use std::time::Duration;

use gridd_config::LogRetention;
use gridd_proto::v1;
use gridd_store::{ReadTx, Store, StoreError, topics};
use gridd_tests::{Clients, engine_config, spawn_app_on, spread_point};

/// The records left on `topic` in the engine's store.
async fn seqs_on(app: &gridd_tests::TestApp, topic: &'static str) -> Vec<u64> {
    let records = app.store.read(move |tx: &mut dyn ReadTx| tx.read_log(topic, 0, 1000)).await.expect("read the log");
    records.iter().map(|r| r.seq).collect()
}

/// Waits until `topic` holds only its newest record, `newest`.
async fn wait_trimmed_to(app: &gridd_tests::TestApp, topic: &'static str, newest: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let seqs = seqs_on(app, topic).await;
        if seqs == [newest] {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{topic} was never trimmed to its newest record: {seqs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn consumed_records_are_trimmed_and_cases_retries_and_new_reports_carry_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let retention = LogRetention { intake: Duration::from_secs(1), dispatch: Duration::from_secs(1), finished_cases: None };
    let app = spawn_app_on(gridd_config::EngineConfig { retention, ..engine_config(dir.path()) }, dir).await;
    let mut c = app.clients.clone();

    let mut placed = Vec::new();
    for i in 0..5 {
        let receipt = c.hotline(&format!("call-{i}"), "E0102", Some(spread_point(i))).await.expect("accepted");
        placed.push((receipt.reference.clone(), c.ticket_of(&receipt.reference).await.id));
    }
    wait_trimmed_to(&app, topics::INTAKE, 5).await;
    wait_trimmed_to(&app, topics::DISPATCH, 5).await;

    for (reference, case) in &placed {
        let (ticket, history) = c.history(case).await;
        assert!(ticket.reports.iter().any(|r| &r.reference == reference), "{case} still lists {reference}");
        assert!(!history.is_empty(), "{case} keeps its history: the ticket-event log is not trimmed");
    }
    let retried = c.hotline("call-0", "E0102", Some(spread_point(0))).await.expect("a retry is answered");
    assert_eq!(retried.reference, placed[0].0, "a retry after its record was trimmed gets the same reference");

    let later = c.hotline("call-later", "E0102", Some(spread_point(9))).await.expect("accepted");
    let case = c.ticket_of(&later.reference).await;
    assert!(placed.iter().all(|(_, id)| *id != case.id), "a new report after a trim is placed in a new case");
    let intake_end = app.store.read(|tx: &mut dyn ReadTx| -> Result<_, StoreError> { tx.log_end(topics::INTAKE) }).await.expect("read");
    assert_eq!(intake_end, 6, "seqs go on from the newest record kept");
}

#[tokio::test]
async fn a_finished_case_loses_its_history_after_the_retention_and_an_open_case_keeps_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let retention = LogRetention { finished_cases: Some(Duration::from_secs(1)), ..LogRetention::default() };
    let app = spawn_app_on(gridd_config::EngineConfig { retention, ..engine_config(dir.path()) }, dir).await;
    let mut c = app.clients.clone();

    let mut cases = Vec::new();
    for i in 0..2 {
        let receipt = c.hotline(&format!("call-{i}"), "E0102", Some(spread_point(i))).await.expect("accepted");
        cases.push(c.ticket_of(&receipt.reference).await.id);
    }
    let (finished, open) = (cases[0].clone(), cases[1].clone());
    let cancel = v1::CancelRequest {
        ticket_id: finished.clone(),
        reason: v1::CancelReason::Invalid.into(),
        context: Clients::operator(),
        duplicate_of: String::new(),
    };
    c.dispatch.cancel(cancel).await.expect("cancelled");
    // A later change, so the cancellation is not the log's newest record (which always stays).
    let later = c.hotline("call-later", "E0102", Some(spread_point(9))).await.expect("accepted");
    c.ticket_of(&later.reference).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (ticket, history) = c.history(&finished).await;
        assert_eq!(ticket.state(), v1::TicketState::Cancelled, "the case itself stays");
        if history.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{finished} kept its history: {} events", history.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, kept) = c.history(&open).await;
    assert!(!kept.is_empty(), "{open} is still open and keeps its history");
    app.stop().await;
}
