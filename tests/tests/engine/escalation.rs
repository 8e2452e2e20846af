//! Deadlines and the 督办 ladder on the test city's second-scale limits (E0201: 2 s; the
//! ladder fires at 1.5 s, 2 s, 3 s, 4 s, then every 1 s).

use std::time::Duration;

use gridd_proto::v1;
use gridd_tests::{Clients, XINAN, http_get_as, spawn_app};

/// The `le` bounds and counts of the timer-lateness histogram on `/metrics`, in order.
fn lateness_buckets(metrics: &str) -> Vec<(String, u64)> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("gridd_timer_lateness_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (bound, count) = rest.split_once("\"} ")?;
            Some((bound.to_owned(), count.trim().parse().ok()?))
        })
        .collect()
}

fn escalations(history: &[v1::TicketEvent]) -> Vec<&str> {
    history.iter().filter(|e| e.kind == "escalated").map(|e| e.detail.split(':').next().unwrap_or_default()).collect()
}

#[tokio::test]
async fn an_overdue_case_escalates_level_by_level_until_closed() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let receipt = c.hotline("esc-1", "E0201", Some(XINAN)).await.expect("accepted");
    let id = c.ticket_of(&receipt.reference).await.id;
    let (yellow, _) = c.wait_for(&id, "the reminder", |_, h| escalations(h).len() == 1).await;
    assert_eq!((yellow.light(), yellow.overdue, yellow.escalation_level), (v1::Light::Yellow, false, 1));
    let (red, history) = c.wait_for(&id, "the red card", |_, h| escalations(h).len() >= 4).await;
    assert_eq!(escalations(&history)[..4], ["催办", "普通督办", "黄牌督办", "红牌督办"]);
    assert!(history.iter().any(|e| e.detail.contains("局 told")), "the red card goes to the bureau");
    assert_eq!((red.light(), red.overdue), (v1::Light::Red, true));
    // The squad's terminal was told of every step on its task.
    let mut feed = c
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: 1, ..Default::default() })
        .await
        .expect("watch")
        .into_inner();
    for _ in 0..4 {
        assert_eq!(feed.message().await.expect("ok").expect("event").kind(), v1::TaskEventKind::Escalated);
    }
    // Past 200 % the red card repeats until the case is closed ...
    let (_, history) = c.wait_for(&id, "a repeated red card", |_, h| escalations(h).len() >= 5).await;
    assert!(history.iter().any(|e| e.detail.contains("repeat 1")));
    c.dispatch.close(v1::CloseRequest { ticket_id: id.clone(), context: Clients::operator() }).await.expect("close");
    let fired_before = escalations(&c.history(&id).await.1).len();
    // ... and closure stops it: wait past the next two repeat times (1 s apart).
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (closed, history) = c.history(&id).await;
    assert_eq!(closed.state(), v1::TicketState::Closed);
    assert_eq!(escalations(&history).len(), fired_before, "no escalation after closure");
    let stats = c.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    let level = |name: &str| stats.escalations_by_level.iter().find(|c| c.label == name).map_or(0, |c| c.count);
    assert_eq!((level("reminder"), level("pressing"), level("yellow_card"), level("red_card")), (1, 1, 1, 1));
    assert!(level("red_card_repeat") >= 1);

    // Monitoring sees how late every timer was handled, as cumulative buckets up to 1 s and
    // beyond (the promise is "within 1 s").
    let (status, metrics) = http_get_as(app.http_addr, "/metrics", &app.admin_key).await;
    assert_eq!(status, 200);
    let buckets = lateness_buckets(&metrics);
    assert!(buckets.iter().any(|(bound, _)| bound == "1"), "a bucket at 1 s: {buckets:?}");
    let (last_bound, handled) = buckets.last().cloned().expect("buckets");
    assert_eq!(last_bound, "+Inf");
    assert!(handled >= 5, "every escalation's timer counted: {buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative: {buckets:?}");
    // ... and counts each escalation once, as the case's history has it.
    let counted: u64 = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("gridd_escalations_total{"))
        .filter_map(|rest| rest.rsplit_once(' ')?.1.trim().parse::<u64>().ok())
        .sum();
    assert_eq!(counted, escalations(&history).len() as u64, "gridd_escalations_total against the history");
    app.stop().await;
}

#[tokio::test]
async fn the_manual_queue_escalates_to_the_centre() {
    let app = spawn_app().await;
    let mut c = app.clients.clone();
    let receipt = c.hotline("esc-manual", "E0102", None).await.expect("accepted");
    let id = c.ticket_of(&receipt.reference).await.id;
    let (t, history) = c.wait_for(&id, "dispatch overdue", |_, h| escalations(h).len() >= 2).await;
    assert!(t.overdue && t.stage() == v1::Stage::Dispatch);
    assert!(history.iter().filter(|e| e.kind == "escalated").all(|e| e.detail.contains("指挥中心")), "the centre is pressed, not a squad");
    // Dispatching starts the squad's handling clock: the light goes back to green.
    let dispatched = c
        .dispatch
        .dispatch(v1::DispatchRequest { ticket_id: id, squad_id: "sq-3".into(), context: Clients::operator() })
        .await
        .expect("dispatch")
        .into_inner();
    assert_eq!((dispatched.light(), dispatched.overdue, dispatched.stage()), (v1::Light::Green, false, v1::Stage::Handling));
    app.stop().await;
}
