//! `kill -9` of a `gridd` process: nothing acknowledged is lost, nothing happens twice.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridd_proto::v1;
use gridd_tests::{Clients, EngineProcess, hotline_call, spread_point};

const REPORTS: usize = 400;
const SENDERS: usize = 8;

#[tokio::test]
async fn kill_9_mid_burst_loses_no_acknowledged_report_and_creates_no_duplicate_case() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = EngineProcess::start(dir.path());
    let clients = engine.clients().await;
    let acked: Arc<Mutex<BTreeMap<usize, String>>> = Arc::default();
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (mut c, acked) = (clients.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for i in (s..REPORTS).step_by(SENDERS) {
                match c.intake.log_hotline_call(hotline_call(&format!("burst-{i}"), "E0102", Some(spread_point(i)))).await {
                    Ok(r) => {
                        acked.lock().expect("lock").insert(i, r.into_inner().reference);
                    }
                    Err(_) => return, // the engine is gone; this sender stops like a real client would
                }
            }
        }));
    }
    // Kill it in the middle of the burst.
    while acked.lock().expect("lock").len() < REPORTS / 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    engine.kill_9();
    for s in senders {
        s.await.expect("sender task");
    }
    let before_restart = acked.lock().expect("lock").clone();
    assert!(before_restart.len() < REPORTS, "the kill landed mid-burst ({} acknowledged)", before_restart.len());

    // Restart on the same data; clients retry what was not acknowledged, and some of what was.
    let engine = EngineProcess::start(dir.path());
    let mut c = engine.clients().await;
    let mut references = before_restart.clone();
    for i in 0..REPORTS {
        let retry_of_acked = before_restart.contains_key(&i) && i % 10 == 0;
        if before_restart.contains_key(&i) && !retry_of_acked {
            continue;
        }
        let receipt = c
            .intake
            .log_hotline_call(hotline_call(&format!("burst-{i}"), "E0102", Some(spread_point(i))))
            .await
            .expect("accepted after restart")
            .into_inner();
        if let Some(earlier) = before_restart.get(&i) {
            assert_eq!(&receipt.reference, earlier, "a retry of an acknowledged report gets its reference");
            assert!(receipt.replayed);
        }
        references.insert(i, receipt.reference);
    }
    // Every acknowledged report is in exactly one case, and no case exists twice.
    let mut case_ids = HashSet::new();
    for reference in references.values() {
        let ticket = c.ticket_of(reference).await;
        assert_eq!(&ticket.id, reference, "reports 200 m apart each open their own case");
        assert!(case_ids.insert(ticket.id), "case {reference} found twice");
    }
    let mut listed = 0;
    let mut page_token = String::new();
    loop {
        let page = v1::PageRequest { page_size: 500, page_token: page_token.clone() };
        let r =
            c.dispatch.list_tickets(v1::ListTicketsRequest { page: Some(page), ..Default::default() }).await.expect("list").into_inner();
        listed += r.tickets.len();
        if r.next_page_token.is_empty() {
            break;
        }
        page_token = r.next_page_token;
    }
    assert_eq!(listed, REPORTS, "one case per report, none duplicated");
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(stats.intake_by_channel.iter().map(|c| c.count).sum::<u64>(), REPORTS as u64, "one intake record per report");
    drop(engine);
}

fn escalation_labels(history: &[v1::TicketEvent]) -> Vec<String> {
    history.iter().filter(|e| e.kind == "escalated").map(|e| e.detail.split(':').next().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn due_escalations_fire_after_a_restart_and_none_fires_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = EngineProcess::start(dir.path());
    let mut c = engine.clients().await;
    // E0201 has a 2 s limit in the test city: levels due at 1.5, 2, 3 and 4 s, then every 1 s.
    let receipt = c.hotline("esc-crash", "E0201", Some(gridd_tests::XINAN)).await.expect("accepted");
    let ticket = c.ticket_of(&receipt.reference).await;
    assert!(ticket.escalation_level == 0, "killed before the first level is due");
    engine.kill_9();
    // Down while every configured level comes due.
    tokio::time::sleep(Duration::from_millis(4200)).await;

    let engine = EngineProcess::start(dir.path());
    let mut c = engine.clients().await;
    let (_, history) = c.wait_for(&ticket.id, "the four levels", |_, h| escalation_labels(h).len() >= 4).await;
    assert_eq!(escalation_labels(&history)[..4], ["催办", "普通督办", "黄牌督办", "红牌督办"], "every missed level fires, in order");
    // Kill again while the red card repeats, restart, and check nothing fired twice.
    engine.kill_9();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let engine = EngineProcess::start(dir.path());
    let mut c = engine.clients().await;
    let seen = escalation_labels(&c.history(&ticket.id).await.1).len();
    let (_, history) = c.wait_for(&ticket.id, "one more repeat after the restart", |_, h| escalation_labels(h).len() > seen).await;
    let labels = escalation_labels(&history);
    let distinct: HashSet<&String> = labels.iter().collect();
    assert_eq!(distinct.len(), labels.len(), "no level fired twice: {labels:?}");
    c.dispatch.close(v1::CloseRequest { ticket_id: ticket.id.clone(), context: Clients::operator() }).await.expect("close");
    drop(engine);
}
