//! The store conformance suite: the behaviour every backend must show, written once and run
//! against each backend by [`store_conformance!`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::FixedOffset;
use geo::Point;
use gridd_core::calendar::{WorkCalendar, WorkingWindow};
use gridd_core::category::{CategoryCode, LimitSpec, Urgency};
use gridd_core::dedup::KnownCase;
use gridd_core::escalation::Ladder;
use gridd_core::ids::{Reference, SquadId, TicketId};
use gridd_core::report::{Channel, ReportSummary};
use gridd_core::ticket::{self, FeedKind, NewCase, Placement, Policy, Routing, StageLimits, Ticket, TicketState, Timer, TimerKind};
use gridd_core::time::Timestamp;

use crate::{
    Account, AuditEntry, FrozenPeriod, IntakeKeyEntry, MachineKey, Photo, ReportStatus, Session, Signal, Store, StoreError, TicketFilter,
    topics,
};

/// The working calendar, ladder and stage limits the suite's cases run on.
struct Terms {
    calendar: WorkCalendar,
    ladder: Ladder,
    stages: StageLimits,
}

impl Terms {
    fn new() -> Self {
        let offset = FixedOffset::east_opt(8 * 3600).expect("offset");
        let windows = vec![WorkingWindow::parse("08:30-12:00").expect("window"), WorkingWindow::parse("13:30-17:30").expect("window")];
        let calendar = WorkCalendar::new(offset, windows, BTreeMap::new(), BTreeSet::new()).expect("calendar");
        let spec = |s: &str| LimitSpec::parse(s).expect("limit");
        let stages = StageLimits {
            dispatch_urgent: spec("10min"),
            dispatch_normal: spec("30min"),
            accept: spec("30min"),
            check_urban: spec("1h"),
            check_rural: spec("2h"),
            verify: spec("30min"),
            reply: spec("1WD"),
            approval: spec("1WH"),
        };
        Self { calendar, ladder: Ladder::default(), stages }
    }

    fn policy(&self) -> Policy<'_> {
        Policy { calendar: &self.calendar, ladder: &self.ladder, stages: &self.stages, on_dissatisfied: Default::default() }
    }
}

pub(crate) fn new_ticket(id: &str, squad: Option<&str>, created: i64) -> Ticket {
    let terms = Terms::new();
    let placement = match squad {
        Some(s) => Placement::Assigned {
            squad: SquadId::new(s),
            routing: Routing { rule_id: "r".into(), reason: "test".into(), grid_version: "g".into() },
        },
        None => Placement::Manual { reason: ticket::ManualReason::NoLocation, routing: None },
    };
    let case = NewCase {
        id: TicketId::new(id),
        report: ReportSummary {
            reference: Reference::new(id),
            channel: Channel::Hotline,
            received_at: Timestamp::from_millis(created),
            reply_required: false,
            contact_masked: String::new(),
            photo_urls: Vec::new(),
            caller_name: String::new(),
            contact_phone: String::new(),
            confidential: false,
            external_ticket_id: String::new(),
            reporter: String::new(),
        },
        category: CategoryCode::parse("E0102").expect("code"),
        condition: None,
        urgency: Urgency::Normal,
        handling: LimitSpec::parse("4WH").expect("limit"),
        location: None,
        address: String::new(),
        description: "d".into(),
        cell: None,
        rural: false,
        placement,
    };
    ticket::open(case, Timestamp::from_millis(created), terms.policy()).ticket
}

/// A role's batch: the engine's own waits wake when it commits, and the terminals' and
/// dashboards' waits wake too, with nothing written after it, once it is durable. The batch,
/// its position included, is kept.
pub(crate) async fn a_roles_batch_wakes_every_wait<S: Store>(store: S) {
    let (mut dispatch, mut events) = (store.subscribe(Signal::Dispatch), store.subscribe(Signal::TicketEvents));
    let mut feed = store.subscribe_feed(&SquadId::new("sq-1"));
    let (dispatch_before, events_before) = (*dispatch.borrow_and_update(), *events.borrow_and_update());
    store
        .write_redoable(|tx| -> Result<_, StoreError> {
            tx.append_log(topics::DISPATCH, "C1", b"decision", Timestamp::from_millis(1))?;
            let event = tx.append_log(topics::TICKET_EVENTS, "C1", b"opened", Timestamp::from_millis(2))?;
            tx.append_feed(&SquadId::new("sq-1"), &TicketId::new("C1"), FeedKind::Assigned, Timestamp::from_millis(2), event)?;
            tx.set_position("tracker", topics::DISPATCH, 2)
        })
        .await
        .expect("the batch");
    assert!(dispatch.has_changed().expect("sender alive"), "the roles wake as soon as the batch commits");
    assert_ne!(*dispatch.borrow_and_update(), dispatch_before);
    for (what, wait) in [("ticket events", &mut events), ("the squad's feed", &mut feed)] {
        tokio::time::timeout(std::time::Duration::from_secs(5), wait.changed())
            .await
            .unwrap_or_else(|_| panic!("the watchers of {what} wake without another write"))
            .expect("sender alive");
    }
    assert_ne!(*events.borrow_and_update(), events_before);
    let (position, history) = store
        .read(|tx| -> Result<_, StoreError> {
            Ok((tx.position("tracker", topics::DISPATCH)?, tx.ticket_history(&TicketId::new("C1"), 0, 10)?))
        })
        .await
        .expect("read");
    assert_eq!(position, 2);
    assert_eq!(history.iter().map(|r| r.payload.as_slice()).collect::<Vec<_>>(), [b"opened".as_slice()]);
}

/// A task for one squad wakes that squad's terminals, not every squad's.
pub(crate) async fn a_feed_entry_wakes_the_watchers_of_its_feed_alone<S: Store>(store: S) {
    let (mut ours, mut theirs) = (store.subscribe_feed(&SquadId::new("sq-1")), store.subscribe_feed(&SquadId::new("sq-2")));
    let (also_ours, before) = (store.subscribe_feed(&SquadId::new("sq-1")), *ours.borrow_and_update());
    theirs.borrow_and_update();
    store
        .write(|tx| tx.append_feed(&SquadId::new("sq-1"), &TicketId::new("C1"), FeedKind::Assigned, Timestamp::from_millis(1), 1))
        .await
        .expect("append");
    assert!(ours.has_changed().expect("sender alive") && also_ours.has_changed().expect("sender alive"), "every watcher of sq-1 wakes");
    assert_ne!(*ours.borrow_and_update(), before);
    assert!(!theirs.has_changed().expect("sender alive"), "sq-2's watchers sleep on");
    drop((ours, also_ours));
    store
        .write(|tx| tx.append_feed(&SquadId::new("sq-2"), &TicketId::new("C2"), FeedKind::Assigned, Timestamp::from_millis(2), 2))
        .await
        .expect("append");
    assert!(theirs.has_changed().expect("sender alive"), "sq-2's turn");
}

pub(crate) async fn log_positions_and_signals<S: Store>(store: S) {
    let mut intake = store.subscribe(Signal::Intake);
    let before = *intake.borrow_and_update();
    let seqs = store
        .write(|tx| -> Result<_, StoreError> {
            let a = tx.append_log(topics::INTAKE, "k1", b"one", Timestamp::from_millis(1))?;
            let b = tx.append_log(topics::INTAKE, "k2", b"two", Timestamp::from_millis(2))?;
            let c = tx.append_log(topics::DISPATCH, "t", b"x", Timestamp::from_millis(3))?;
            Ok((a, b, c))
        })
        .await
        .expect("append");
    assert_eq!(seqs, (1, 2, 1), "seq is per topic and starts at 1");
    assert!(intake.has_changed().expect("sender alive"), "appending wakes intake waiters");
    assert_ne!(*intake.borrow_and_update(), before);
    let (records, pos, end) = store
        .read(|tx| -> Result<_, StoreError> {
            Ok((tx.read_log(topics::INTAKE, 1, 10)?, tx.position("router", topics::INTAKE)?, tx.log_end(topics::INTAKE)?))
        })
        .await
        .expect("read");
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].seq, records[0].payload.as_slice()), (2, b"two".as_slice()));
    assert_eq!((pos, end), (1, 2));
    // A case's history: its ticket events, read by case; records of other topics with the
    // same key are not part of it.
    let (c1, c2) = (TicketId::new("C1"), TicketId::new("C2"));
    store
        .write(|tx| -> Result<_, StoreError> {
            tx.append_log(topics::TICKET_EVENTS, "C1", b"opened", Timestamp::from_millis(4))?;
            tx.append_log(topics::TICKET_EVENTS, "C2", b"opened", Timestamp::from_millis(5))?;
            tx.append_log(topics::DISPATCH, "C1", b"decision", Timestamp::from_millis(6))?;
            tx.append_log(topics::TICKET_EVENTS, "C1", b"dispatched", Timestamp::from_millis(7))
        })
        .await
        .expect("append");
    let (last, pages) = store
        .read(move |tx| -> Result<_, StoreError> {
            let seqs = |records: Vec<crate::LogRecord>| records.iter().map(|r| r.seq).collect::<Vec<_>>();
            let last = (tx.last_ticket_change_at(&c1)?, tx.last_ticket_change_at(&c2)?, tx.last_ticket_change_at(&TicketId::new("C9"))?);
            let pages = (seqs(tx.ticket_history(&c1, 0, 1)?), seqs(tx.ticket_history(&c1, 1, 10)?), seqs(tx.ticket_history(&c1, 3, 10)?));
            Ok((last, pages))
        })
        .await
        .expect("read");
    let at = |ms| Some(Timestamp::from_millis(ms));
    assert_eq!(last, (at(7), at(5), None), "a case's last change is its last ticket event");
    assert_eq!(pages, (vec![1], vec![3], vec![]), "a case's history after a seq, at most a limit");
    store.write(|tx| tx.set_position("router", topics::INTAKE, 3)).await.expect("position");
    let pos = store.read(|tx| tx.position("router", topics::INTAKE)).await.expect("read");
    assert_eq!(pos, 3);
}

pub(crate) async fn a_log_is_trimmed_from_its_start_and_only_where_read<S: Store>(store: S) {
    // Intake records 1..=10, appended at 100, 200, … 1000 ms.
    store
        .write(|tx| -> Result<_, StoreError> {
            for i in 1..=10 {
                tx.append_log(topics::INTAKE, &format!("k{i}"), b"r", Timestamp::from_millis(i * 100))?;
            }
            Ok(())
        })
        .await
        .expect("append");
    let trim = |before: i64, limit: usize| store.write(move |tx| tx.trim_log(topics::INTAKE, Timestamp::from_millis(before), limit));
    let seqs = || async {
        let records = store.read(|tx| tx.read_log(topics::INTAKE, 0, 100)).await.expect("read");
        records.iter().map(|r| r.seq).collect::<Vec<_>>()
    };
    assert_eq!(trim(10_000, 100).await.expect("trim"), 0, "no consumer has a position: nothing is read, nothing goes");

    store.write(|tx| tx.set_position("router", topics::INTAKE, 5)).await.expect("position");
    store.write(|tx| tx.set_position("auditor", topics::INTAKE, 8)).await.expect("position");
    assert_eq!(trim(10_000, 2).await.expect("trim"), 2, "at most the limit");
    assert_eq!(seqs().await, (3..=10).collect::<Vec<_>>(), "from the start");
    assert_eq!(trim(10_000, 100).await.expect("trim"), 2, "never what the slowest consumer has not read");
    assert_eq!(seqs().await, (5..=10).collect::<Vec<_>>());

    store.write(|tx| tx.set_position("router", topics::INTAKE, 11)).await.expect("position");
    store.write(|tx| tx.set_position("auditor", topics::INTAKE, 11)).await.expect("position");
    assert_eq!(trim(650, 100).await.expect("trim"), 2, "only records appended before the cutoff");
    assert_eq!(seqs().await, (7..=10).collect::<Vec<_>>());
    assert_eq!(trim(10_000, 100).await.expect("trim"), 3, "all read and old, but the newest stays");
    assert_eq!(seqs().await, [10]);

    let next = store.write(|tx| tx.append_log(topics::INTAKE, "k11", b"r", Timestamp::from_millis(1100))).await.expect("append");
    let dispatch = store.read(|tx| tx.log_end(topics::DISPATCH)).await.expect("read");
    assert_eq!((next, dispatch), (11, 0), "seqs go on after a trim; other topics are untouched");
}

pub(crate) async fn a_finished_case_loses_its_history_once_old_and_read<S: Store>(store: S) {
    // Cases and their events, in seq order: (case, state, appended at).
    let events = [
        ("C1", TicketState::Closed, 100),
        ("C2", TicketState::InProgress, 110),
        ("C1", TicketState::Closed, 200),
        ("C3", TicketState::Cancelled, 210),
        ("C4", TicketState::NotFiled, 300),
        ("C3", TicketState::Cancelled, 900),
        ("C5", TicketState::Closed, 1_000),
    ];
    store
        .write(move |tx| -> Result<_, StoreError> {
            for (id, state, at) in events {
                if tx.ticket(&TicketId::new(id))?.is_none() {
                    tx.put_ticket(None, &Ticket { state, ..new_ticket(id, Some("sq-1"), 0) })?;
                }
                tx.append_log(topics::TICKET_EVENTS, id, b"changed", Timestamp::from_millis(at))?;
            }
            Ok(())
        })
        .await
        .expect("file");
    let step = |before: i64, after: u64, limit: usize| {
        store.write(move |tx| tx.trim_finished_histories(Timestamp::from_millis(before), after, limit))
    };
    let seqs = || async {
        let records = store.read(|tx| tx.read_log(topics::TICKET_EVENTS, 0, 100)).await.expect("read");
        records.iter().map(|r| r.seq).collect::<Vec<_>>()
    };
    let at = |seq: u64, ms: i64| Some((seq, Timestamp::from_millis(ms)));

    let first = step(500, 0, 2).await.expect("trim");
    assert_eq!((first.deleted, first.looked_to), (2, at(2, 110)), "C1 closed before 500: its whole history, past the window too");
    assert_eq!(seqs().await, [2, 4, 5, 6, 7]);
    let second = step(500, 2, 2).await.expect("trim");
    assert_eq!((second.deleted, second.looked_to), (1, at(5, 300)), "C3 changed after 500 and stays; C4 goes");
    let third = step(500, 5, 2).await.expect("trim");
    assert_eq!((third.deleted, third.looked_to), (0, at(7, 1_000)));
    assert_eq!(step(500, 7, 2).await.expect("trim").looked_to, None, "nothing after the last event");
    assert_eq!(seqs().await, [2, 4, 6, 7], "the open case keeps its history, however old");

    store.write(|tx| tx.set_position("relay", topics::TICKET_EVENTS, 6)).await.expect("position");
    assert_eq!(step(10_000, 0, 100).await.expect("trim").deleted, 0, "never what a consumer has not read");
    store.write(|tx| tx.set_position("relay", topics::TICKET_EVENTS, 8)).await.expect("position");
    assert_eq!(step(10_000, 0, 100).await.expect("trim").deleted, 2, "C3 once read; C5's event is the newest and stays");
    assert_eq!(seqs().await, [2, 7]);

    let (c1_history, c1) = store
        .read(|tx| -> Result<_, StoreError> {
            let id = TicketId::new("C1");
            Ok((tx.ticket_history(&id, 0, 10)?, tx.ticket(&id)?))
        })
        .await
        .expect("read");
    assert!(c1_history.is_empty(), "{c1_history:?}");
    assert_eq!(c1.map(|t| t.state), Some(TicketState::Closed), "the case itself stays");
    let next =
        store.write(|tx| tx.append_log(topics::TICKET_EVENTS, "C6", b"opened", Timestamp::from_millis(1_100))).await.expect("append");
    assert_eq!(next, 8, "seqs go on after a trim");
}

pub(crate) async fn failed_transactions_write_nothing<S: Store>(store: S) {
    #[derive(Debug)]
    struct Refused;
    impl From<StoreError> for Refused {
        fn from(_: StoreError) -> Self {
            Refused
        }
    }
    let out = store
        .write(|tx| -> Result<(), Refused> {
            tx.append_log(topics::INTAKE, "k", b"p", Timestamp::from_millis(1))?;
            tx.put_ticket(None, &new_ticket("T1", Some("sq-1"), 0))?;
            Err(Refused)
        })
        .await;
    assert!(out.is_err());
    let (end, t) = store
        .read(|tx| -> Result<_, StoreError> { Ok((tx.log_end(topics::INTAKE)?, tx.ticket(&TicketId::new("T1"))?)) })
        .await
        .expect("read");
    assert_eq!((end, t), (0, None), "a refused transaction leaves no trace");
}

pub(crate) async fn intake_keys_and_report_status<S: Store>(store: S) {
    let r = Reference::new("261122-AAAA0000");
    let entry = IntakeKeyEntry { fingerprint: "f1".into(), reference: r.clone(), received_at: Timestamp::from_millis(5) };
    let e = entry.clone();
    let r2 = r.clone();
    store
        .write(move |tx| -> Result<_, StoreError> {
            tx.put_intake_key("hotline/abc", &e)?;
            tx.put_report(&r2, Channel::Hotline, Timestamp::from_millis(5))
        })
        .await
        .expect("write");
    let dup = store.write(move |tx| tx.put_intake_key("hotline/abc", &entry)).await;
    assert!(dup.is_err(), "a key is recorded once");
    let same_reference = IntakeKeyEntry { fingerprint: "f2".into(), reference: r.clone(), received_at: Timestamp::from_millis(6) };
    let collision = store.write(move |tx| tx.put_intake_key("citizen/other", &same_reference)).await;
    assert!(collision.is_err(), "a reference is given to one report only");
    let r3 = r.clone();
    let (found, status) =
        store.read(move |tx| -> Result<_, StoreError> { Ok((tx.intake_key("hotline/abc")?, tx.report_status(&r3)?)) }).await.expect("read");
    assert_eq!(found.map(|e| e.reference), Some(r.clone()));
    assert_eq!(status, ReportStatus::Pending);
    let r4 = r.clone();
    store.write(move |tx| tx.link_report(&r4, &TicketId::new("T9"), "filed", None)).await.expect("link");
    let status = store.read(move |tx| tx.report_status(&r)).await.expect("read");
    assert_eq!(status, ReportStatus::Linked(TicketId::new("T9")));
    let unknown = store.read(|tx| tx.report_status(&Reference::new("nope"))).await.expect("read");
    assert_eq!(unknown, ReportStatus::Unknown);
}

pub(crate) async fn the_log_end_of_a_write_predicts_its_next_seq<S: Store>(store: S) {
    // Writers that put the seq inside the record (ticket events) read the end first: with
    // writers in parallel, each must still get the seq it read.
    let writers = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(move |tx| -> Result<_, StoreError> {
                    let predicted = tx.log_end(topics::TICKET_EVENTS)? + 1;
                    // Widen the window in which another writer could slip in between.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    let appended = tx.append_log(topics::TICKET_EVENTS, &format!("T{i}"), b"event", Timestamp::from_millis(1))?;
                    // A change with several events (a tracker's batch has hundreds) takes the
                    // seqs after it, and so does its next read of the end.
                    for n in 1..3 {
                        let next = tx.append_log(topics::TICKET_EVENTS, &format!("T{i}"), b"event", Timestamp::from_millis(1))?;
                        assert_eq!(next, appended + n, "appends of one transaction are contiguous");
                    }
                    assert_eq!(tx.log_end(topics::TICKET_EVENTS)?, appended + 2, "the end follows the transaction's appends");
                    Ok((predicted, appended))
                })
                .await
        })
    });
    // Spawned all at once (collected), not one by one as the loop below awaits them.
    let writers: Vec<_> = writers.collect();
    for writer in writers {
        let (predicted, appended) = writer.await.expect("task").expect("write");
        assert_eq!(predicted, appended, "the seq read at the end is the seq appended");
    }
    let end = store.read(|tx| tx.log_end(topics::TICKET_EVENTS)).await.expect("read");
    assert_eq!(end, 24, "eight writers of three events each");
    let seqs: Vec<u64> = store.read(|tx| tx.read_log(topics::TICKET_EVENTS, 0, 100)).await.expect("read").iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>(), "no seq taken twice or skipped");
}

pub(crate) async fn a_report_keeps_its_first_decision<S: Store>(store: S) {
    let r = Reference::new("261122-AAAA0001");
    // Routers deciding the same report at once (a replay racing the original): one decision
    // stands and every one of them gets it back.
    let racing = (0..8u8).map(|i| {
        let (store, r) = (store.clone(), r.clone());
        tokio::spawn(async move { store.write(move |tx| tx.record_decision(&r, Channel::Camera, Timestamp::from_millis(7), &[i])).await })
    });
    let racing: Vec<_> = racing.collect();
    let mut kept = Vec::new();
    for task in racing {
        kept.push(task.await.expect("task").expect("record"));
    }
    assert!(kept.iter().all(|k| k == &kept[0]), "one decision stands: {kept:?}");
    let (r2, r3) = (r.clone(), r.clone());
    store
        .write(move |tx| tx.put_report(&r2, Channel::Camera, Timestamp::from_millis(7)))
        .await
        .expect("recording the report again is a no-op");
    let later = store.write(move |tx| tx.record_decision(&r3, Channel::Camera, Timestamp::from_millis(7), b"other")).await.expect("record");
    assert_eq!(later, kept[0], "a later decision does not replace the first");
    let status = store.read(move |tx| tx.report_status(&r)).await.expect("read");
    assert_eq!(status, ReportStatus::Pending, "deciding does not link the report to a case");
}

pub(crate) async fn cases_created_in_a_range_are_read_one_by_one<S: Store>(store: S) {
    store
        .write(|tx| -> Result<_, StoreError> {
            for (id, created) in [("C1", 1_000), ("C2", 2_000), ("C3", 3_000)] {
                tx.put_ticket(None, &new_ticket(id, Some("sq-1"), created))?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let created = |from: Option<i64>, to: Option<i64>| {
        store.read(move |tx| -> Result<_, StoreError> {
            let mut seen = Vec::new();
            let (from, to) = (from.map(Timestamp::from_millis), to.map(Timestamp::from_millis));
            tx.each_ticket_created(from, to, &mut |t| seen.push((t.id.to_string(), t.report_count, t.reports.len())))?;
            seen.sort();
            Ok(seen)
        })
    };
    let all = created(None, None).await.expect("read");
    assert_eq!(all, [("C1".to_string(), 1, 0), ("C2".to_string(), 1, 0), ("C3".to_string(), 1, 0)], "every case, without its reports");
    let ids = |seen: Vec<(String, u32, usize)>| seen.into_iter().map(|(id, ..)| id).collect::<Vec<_>>();
    assert_eq!(ids(created(Some(2_000), Some(3_000)).await.expect("read")), ["C2"], "from inclusive, to exclusive");
    assert_eq!(ids(created(Some(1_500), None).await.expect("read")), ["C2", "C3"]);
    assert!(created(Some(4_000), None).await.expect("read").is_empty());
}

pub(crate) async fn tickets_filter_and_page<S: Store>(store: S) {
    store
        .write(|tx| -> Result<_, StoreError> {
            for i in 0..5 {
                tx.put_ticket(None, &new_ticket(&format!("T{i}"), Some(if i % 2 == 0 { "sq-1" } else { "sq-2" }), i * 1000))?;
            }
            tx.put_ticket(None, &new_ticket("M1", None, 10_000))
        })
        .await
        .expect("write");
    let page1 = store
        .read(|tx| tx.list_tickets(&TicketFilter { squad: Some(SquadId::new("sq-1")), limit: 2, ..Default::default() }))
        .await
        .expect("list");
    assert_eq!(page1.iter().map(|t| t.id.to_string()).collect::<Vec<_>>(), ["T4", "T2"], "newest first");
    let cursor = crate::PageCursor { created_at: page1[1].created_at, id: page1[1].id.clone() };
    let page2 = store
        .read(move |tx| {
            tx.list_tickets(&TicketFilter {
                squad: Some(SquadId::new("sq-1")),
                after: Some(cursor.clone()),
                limit: 2,
                ..Default::default()
            })
        })
        .await
        .expect("list");
    assert_eq!(page2.iter().map(|t| t.id.to_string()).collect::<Vec<_>>(), ["T0"]);
    let manual = store
        .read(|tx| tx.list_tickets(&TicketFilter { states: vec![TicketState::Registered], limit: 10, ..Default::default() }))
        .await
        .expect("list");
    assert_eq!(manual.len(), 1);
    // Every ticket's running deadline is in 1970; far later all open ones are overdue.
    let overdue = store
        .read(|tx| {
            tx.list_tickets(&TicketFilter { overdue_at: Some(Timestamp::from_millis(10_i64.pow(12))), limit: 10, ..Default::default() })
        })
        .await
        .expect("list");
    assert_eq!(overdue.len(), 6);
    let counts = store.read(|tx| tx.live_counts(Timestamp::from_millis(0))).await.expect("counts");
    assert_eq!(counts.by_state.iter().map(|(_, n)| n).sum::<u64>(), 6);

    // The gauges' counts: a closed case is finished; a suspended one is not, but its clock
    // stands still, so it is never overdue.
    store
        .write(|tx| -> Result<_, StoreError> {
            for (id, state) in [("C1", TicketState::Closed), ("S1", TicketState::Suspended)] {
                let mut t = new_ticket(id, Some("sq-1"), 20_000);
                t.state = state;
                tx.put_ticket(None, &t)?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let far_later = Timestamp::from_millis(10_i64.pow(12));
    let (open, live) = store
        .read(move |tx| -> Result<_, StoreError> { Ok((tx.open_ticket_counts(far_later)?, tx.live_counts(far_later)?)) })
        .await
        .expect("counts");
    let count_of = |state| open.by_state.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
    assert_eq!(open.by_state.iter().map(|(_, n)| n).sum::<u64>(), 7, "six open and one suspended: {open:?}");
    assert_eq!((count_of(TicketState::Suspended), count_of(TicketState::Closed)), (1, 0));
    assert_eq!(open.overdue, 6, "the suspended case is not overdue");
    assert_eq!(live.overdue_open, open.overdue, "the summary and the gauges agree");
}

/// A report as a camera alert merging into a case sends it.
fn alert(reference: &str, at: i64) -> ReportSummary {
    let mut report = new_ticket(reference, None, at).reports.remove(0);
    report.channel = Channel::Camera;
    report
}

/// Applies `command` to the case, loaded whole or with its report ends only (as the tracker
/// loads it for a merge), and stores the change, in one transaction.
async fn change<S: Store>(store: &S, id: &str, ends_only: bool, command: ticket::Command) -> Ticket {
    let id = TicketId::new(id);
    store
        .write(move |tx| -> Result<_, StoreError> {
            let before = if ends_only { tx.ticket_ends(&id)? } else { tx.ticket(&id)? }.expect("case");
            let actor = if ends_only { ticket::Actor::Router } else { ticket::Actor::Operator("op".into()) };
            let after = ticket::apply(&before, &command, &actor, Timestamp::from_millis(9_000), Terms::new().policy())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
                .ticket;
            tx.put_ticket(Some(&before), &after)?;
            Ok(after)
        })
        .await
        .expect("change")
}

pub(crate) async fn a_case_keeps_its_reports_in_order_and_loads_their_ends<S: Store>(store: S) {
    store.write(|tx| -> Result<_, StoreError> { tx.put_ticket(None, &new_ticket("C1", Some("sq-1"), 0)) }).await.expect("file");
    // Merges as the tracker applies them: to the case loaded with its report ends only.
    for i in 1..=4 {
        let command = ticket::Command::Attach { report: alert(&format!("A{i}"), i * 100), reason: "same camera".into() };
        change(&store, "C1", true, command).await;
    }
    let references = |t: &Ticket| t.reports.iter().map(|r| r.reference.to_string()).collect::<Vec<_>>();
    let (whole, ends, listed) = store
        .read(|tx| -> Result<_, StoreError> {
            let id = TicketId::new("C1");
            Ok((tx.ticket(&id)?, tx.ticket_ends(&id)?, tx.list_tickets(&TicketFilter { limit: 10, ..Default::default() })?))
        })
        .await
        .expect("read");
    let (whole, ends) = (whole.expect("case"), ends.expect("case"));
    assert_eq!(references(&whole), ["C1", "A1", "A2", "A3", "A4"], "every merge kept, in order");
    assert_eq!(whole.report_count, 5);
    assert_eq!(whole.reports[1].channel, Channel::Camera, "a report comes back as it was stored");
    assert_eq!(references(&ends), ["C1", "A4"], "the opening report and the newest");
    assert_eq!(ends.report_count, 5);
    assert_eq!(references(&listed[0]), references(&whole), "a listing holds every report too");
    // A split takes one report out by reference; the next merge still goes last.
    let split = ticket::Command::SplitOut { reference: Reference::new("A2"), into: TicketId::new("C2") };
    change(&store, "C1", false, split).await;
    change(&store, "C1", true, ticket::Command::Attach { report: alert("A5", 600), reason: "same camera".into() }).await;
    let after = store.read(|tx| tx.ticket(&TicketId::new("C1"))).await.expect("read").expect("case");
    assert_eq!(references(&after), ["C1", "A1", "A3", "A4", "A5"]);
    assert_eq!(after.report_count, 5);
}

/// A case with three reports as schema version 6 stored it: the reports in the body, no count.
pub(crate) fn body_before_case_reports() -> (Ticket, String) {
    let mut t = new_ticket("OLD1", Some("sq-1"), 0);
    t.reports.extend([alert("OLD2", 100), alert("OLD3", 200)]);
    let mut body = serde_json::to_value(&t).expect("body");
    let object = body.as_object_mut().expect("object");
    object.remove("report_count");
    object.insert("reports".into(), serde_json::to_value(&t.reports).expect("reports"));
    (t, body.to_string())
}

/// What the upgrade past schema version 6 must leave of [`body_before_case_reports`]'s case.
pub(crate) async fn upgraded_case_keeps_its_reports<S: Store>(store: S, old: Ticket) {
    let loaded = store.read(|tx| tx.ticket(&TicketId::new("OLD1"))).await.expect("read").expect("case");
    assert_eq!(loaded.reports, old.reports, "the body's reports moved to rows, in order");
    assert_eq!(loaded.report_count, 3);
    let ends = store.read(|tx| tx.ticket_ends(&TicketId::new("OLD1"))).await.expect("read").expect("case");
    assert_eq!(ends.reports.iter().map(|r| r.reference.as_str()).collect::<Vec<_>>(), ["OLD1", "OLD3"]);
}

pub(crate) async fn feeds_are_contiguous_per_squad<S: Store>(store: S) {
    let seqs = store
        .write(|tx| -> Result<_, StoreError> {
            let e = tx.append_log(topics::TICKET_EVENTS, "T1", b"event", Timestamp::from_millis(1))?;
            let mut seqs = Vec::new();
            for squad in ["sq-1", "sq-2", "sq-1"] {
                seqs.push(tx.append_feed(&SquadId::new(squad), &TicketId::new("T1"), FeedKind::Assigned, Timestamp::from_millis(1), e)?);
            }
            Ok(seqs)
        })
        .await
        .expect("feed");
    assert_eq!(seqs, [1, 1, 2]);
    let feed = store.read(|tx| tx.feed(&SquadId::new("sq-1"), 1, 10)).await.expect("read");
    assert_eq!(feed.len(), 1);
    assert_eq!((feed[0].seq, feed[0].kind, feed[0].event_payload.as_slice()), (2, FeedKind::Assigned, b"event".as_slice()));
}

pub(crate) async fn timers_and_escalations<S: Store>(store: S) {
    let timer = |level, due| Timer { generation: 1, kind: TimerKind::Escalation { level }, due: Timestamp::from_millis(due) };
    store
        .write(move |tx| -> Result<_, StoreError> {
            tx.replace_timers(
                &TicketId::new("A"),
                &[timer(1, 100), Timer { generation: 1, kind: TimerKind::AcceptDue, due: Timestamp::from_millis(50) }],
            )?;
            tx.replace_timers(&TicketId::new("B"), &[timer(2, 300)])?;
            tx.replace_timers(&TicketId::new("A"), &[timer(2, 200)])
        })
        .await
        .expect("timers");
    let (due, next) = store
        .read(|tx| -> Result<_, StoreError> { Ok((tx.due_timers(Timestamp::from_millis(250), 10)?, tx.next_timer_due()?)) })
        .await
        .expect("read");
    assert_eq!(due, vec![(TicketId::new("A"), timer(2, 200))], "replace drops the old timers");
    assert_eq!(next, Some(Timestamp::from_millis(200)));
    let (first, second) = store
        .write(|tx| -> Result<_, StoreError> {
            let a = tx.record_escalation(&TicketId::new("A"), 1, 2, "pressing", Timestamp::from_millis(200))?;
            let b = tx.record_escalation(&TicketId::new("A"), 1, 2, "pressing", Timestamp::from_millis(201))?;
            Ok((a, b))
        })
        .await
        .expect("escalations");
    assert!(first && !second, "an escalation is recorded once per ticket, generation and level");
}

pub(crate) async fn known_cases_follow_ticket_state<S: Store>(store: S) {
    let case = KnownCase {
        ticket_id: TicketId::new("K1"),
        category: CategoryCode::parse("E0102").expect("code"),
        location: Some(Point::new(118.35, 34.37)),
        opened_at: Timestamp::from_millis(1000),
        last_seen_at: Timestamp::from_millis(1000),
        open: true,
    };
    // Around it, one case outside the box or the window on each count.
    let others = [
        ("LON", "E0102", 118.37, 34.37, 1000),
        ("LAT", "E0102", 118.35, 34.39, 1000),
        ("CAT", "E0104", 118.35, 34.37, 1000),
        ("OLD", "E0102", 118.35, 34.37, 100),
    ]
    .map(|(id, category, lon, lat, opened)| KnownCase {
        ticket_id: TicketId::new(id),
        category: CategoryCode::parse(category).expect("code"),
        location: Some(Point::new(lon, lat)),
        opened_at: Timestamp::from_millis(opened),
        last_seen_at: Timestamp::from_millis(opened),
        open: true,
    });
    store
        .write(move |tx| -> Result<_, StoreError> {
            tx.put_known_case(&case, Some("CAM-1/exposed_garbage"))?;
            others.iter().try_for_each(|c| tx.put_known_case(c, None))
        })
        .await
        .expect("write");
    let near = |store: S| async move {
        store
            .read(|tx| {
                tx.known_cases_near(
                    &CategoryCode::parse("E0102").expect("code"),
                    Timestamp::from_millis(500),
                    Point::new(118.34, 34.36),
                    Point::new(118.36, 34.38),
                )
            })
            .await
            .expect("read")
    };
    let found = near(store.clone()).await;
    assert_eq!(found.iter().map(|c| c.ticket_id.as_str()).collect::<Vec<_>>(), ["K1"], "the category's cases in the box and the window");
    assert!(found[0].open, "a case the tracker has not filed yet counts as open");
    let mut t = new_ticket("K1", Some("sq-1"), 1000);
    t.state = TicketState::Closed;
    store
        .write(move |tx| -> Result<_, StoreError> {
            tx.put_ticket(None, &t)?;
            tx.touch_known_case(&TicketId::new("K1"), Timestamp::from_millis(5000))
        })
        .await
        .expect("write");
    let found = near(store.clone()).await;
    assert!(!found[0].open, "closed cases are not merge targets");
    let camera = store.read(|tx| tx.known_cases_for_camera("CAM-1/exposed_garbage")).await.expect("read");
    assert_eq!(camera[0].last_seen_at, Timestamp::from_millis(5000));
}

pub(crate) async fn a_report_finds_the_cases_near_it_across_square_edges<S: Store>(store: S) {
    // A 50 m box around a point a metre from the corner of four squares: its cases lie in all
    // four. In the same squares, one case just outside the box and one opened before the window.
    let point = Point::new(118.35001, 34.37001);
    let (d_lon, d_lat) = (0.00055, 0.00045);
    let at = |id: &str, lon: f64, lat: f64, opened: i64| KnownCase {
        ticket_id: TicketId::new(id),
        category: CategoryCode::parse("E0102").expect("code"),
        location: Some(Point::new(lon, lat)),
        opened_at: Timestamp::from_millis(opened),
        last_seen_at: Timestamp::from_millis(opened),
        open: true,
    };
    let cases = [
        at("SW", 118.34996, 34.36996, 1000),
        at("SE", 118.35004, 34.36996, 1000),
        at("NW", 118.34996, 34.37004, 1000),
        at("NE", 118.35004, 34.37004, 1000),
        at("EDGE", 118.35001 + d_lon - 0.000001, 34.37001 - d_lat + 0.000001, 1000),
        at("OUT", 118.35001 + d_lon + 0.00001, 34.37001, 1000),
        at("EARLY", 118.35001, 34.37001, 499),
    ];
    store.write(move |tx| cases.iter().try_for_each(|c| tx.put_known_case(c, None))).await.expect("write");
    let found = store
        .read(move |tx| {
            tx.known_cases_near(
                &CategoryCode::parse("E0102").expect("code"),
                Timestamp::from_millis(500),
                Point::new(point.x() - d_lon, point.y() - d_lat),
                Point::new(point.x() + d_lon, point.y() + d_lat),
            )
        })
        .await
        .expect("read");
    let mut ids: Vec<&str> = found.iter().map(|c| c.ticket_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["EDGE", "NE", "NW", "SE", "SW"], "every case in the box and the window, whichever square holds it");
}

pub(crate) async fn concurrent_trackers_never_claim_a_timer_twice<S: Store>(store: S) {
    let timer = Timer { generation: 1, kind: TimerKind::Escalation { level: 1 }, due: Timestamp::from_millis(100) };
    store
        .write(move |tx| -> Result<_, StoreError> {
            for i in 0..20 {
                tx.replace_timers(&TicketId::new(format!("T{i}")), &[timer])?;
            }
            Ok(())
        })
        .await
        .expect("timers");
    // Two trackers at once, each holding its claim for a while before firing.
    let claim = |store: S| async move {
        store
            .write(|tx| -> Result<Vec<TicketId>, StoreError> {
                let due = tx.due_timers(Timestamp::from_millis(1000), 20)?;
                std::thread::sleep(std::time::Duration::from_millis(200));
                for (id, _) in &due {
                    tx.replace_timers(id, &[])?;
                }
                Ok(due.into_iter().map(|(id, _)| id).collect())
            })
            .await
            .expect("claim")
    };
    let (a, b) = tokio::join!(claim(store.clone()), claim(store.clone()));
    let mut all: Vec<TicketId> = a.iter().chain(&b).cloned().collect();
    all.sort();
    let claimed = all.len();
    all.dedup();
    assert_eq!(claimed, all.len(), "a timer was claimed by both trackers");
    assert_eq!(all.len(), 20, "every due timer was claimed once");
}

fn account(username: &str, disabled: bool, at: i64) -> Account {
    Account {
        username: username.into(),
        display_name: format!("{username} Display"),
        role: "dispatcher".into(),
        squad: (!disabled).then(|| "sq-1".to_owned()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        disabled,
        created_at: Timestamp::from_millis(1000),
        updated_at: Timestamp::from_millis(at),
    }
}

pub(crate) async fn accounts_round_trip_and_replace<S: Store>(store: S) {
    store
        .write(|tx| -> Result<_, StoreError> {
            // Byte order, whatever the database's locale: upper case before lower case.
            for name in ["bob", "Zed", "alice", "Alice"] {
                tx.put_account(&account(name, false, 1000))?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let (found, missing, all) =
        store.read(|tx| -> Result<_, StoreError> { Ok((tx.account("alice")?, tx.account("ALICE")?, tx.accounts()?)) }).await.expect("read");
    assert_eq!(found, Some(account("alice", false, 1000)), "an account round-trips");
    assert_eq!(missing, None, "usernames are case-sensitive");
    assert_eq!(all.iter().map(|a| a.username.as_str()).collect::<Vec<_>>(), ["Alice", "Zed", "alice", "bob"], "ordered by username");
    store.write(|tx| tx.put_account(&account("alice", true, 2000))).await.expect("replace");
    let (replaced, all) = store.read(|tx| -> Result<_, StoreError> { Ok((tx.account("alice")?, tx.accounts()?)) }).await.expect("read");
    let replaced = replaced.expect("still there");
    assert_eq!(replaced, account("alice", true, 2000), "replacing by username replaces every field");
    assert!(replaced.disabled && replaced.squad.is_none());
    assert_eq!(all.len(), 4, "replacing does not add an account");
    store.write(|tx| tx.put_account(&account("alice", false, 3000))).await.expect("re-enable");
    let back = store.read(|tx| tx.account("alice")).await.expect("read").expect("there");
    assert!(!back.disabled, "disabled flips back");
}

fn machine_key(id: &str, created: i64, cameras: &[&str]) -> MachineKey {
    MachineKey {
        id: id.into(),
        name: format!("gateway {id}"),
        role: "camera_gateway".into(),
        cameras: cameras.iter().map(|c| (*c).to_owned()).collect(),
        secret_hash: format!("hash-of-{id}"),
        created_at: Timestamp::from_millis(created),
        revoked_at: None,
    }
}

pub(crate) async fn machine_keys_round_trip_with_cameras_and_revocation<S: Store>(store: S) {
    // Odd camera ids too (a comma, a quote, non-ASCII): they come back exactly, in order.
    let gateway = machine_key("mk_b", 500, &["CAM-2", "CAM-1", "odd,id \"q\"", "摄像头"]);
    let keys = [gateway.clone(), machine_key("mk_c", 100, &[]), machine_key("mk_a", 500, &["CAM-9"])];
    store
        .write(move |tx| -> Result<_, StoreError> {
            for k in &keys {
                tx.put_machine_key(k)?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let (found, missing, all) = store
        .read(|tx| -> Result<_, StoreError> { Ok((tx.machine_key("mk_b")?, tx.machine_key("mk_z")?, tx.machine_keys()?)) })
        .await
        .expect("read");
    assert_eq!(found.as_ref(), Some(&gateway), "a key round-trips with its cameras");
    assert_eq!(missing, None);
    assert_eq!(all.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["mk_c", "mk_a", "mk_b"], "ordered by creation time, then id");
    assert!(all[0].cameras.is_empty(), "no cameras round-trips as none");
    let revoked = MachineKey { revoked_at: Some(Timestamp::from_millis(900)), ..gateway.clone() };
    let r = revoked.clone();
    store.write(move |tx| tx.put_machine_key(&r)).await.expect("revoke");
    let (found, count) =
        store.read(|tx| -> Result<_, StoreError> { Ok((tx.machine_key("mk_b")?, tx.machine_keys()?.len())) }).await.expect("read");
    assert_eq!(found, Some(revoked), "revocation is kept");
    assert_eq!(count, 3, "a revoked key is still listed");
}

fn session(id: &str, expires: i64) -> Session {
    Session {
        id: id.into(),
        username: "alice".into(),
        created_at: Timestamp::from_millis(100),
        expires_at: Timestamp::from_millis(expires),
        revoked_at: None,
    }
}

pub(crate) async fn sessions_revoke_and_expire<S: Store>(store: S) {
    store
        .write(|tx| -> Result<_, StoreError> {
            tx.put_session(&session("s-past", 900))?;
            tx.put_session(&session("s-now", 1000))?;
            tx.put_session(&session("s-later", 1001))?;
            tx.put_session(&session("s-revoked", 5000))
        })
        .await
        .expect("write");
    let found = store.read(|tx| tx.session("s-later")).await.expect("read");
    assert_eq!(found, Some(session("s-later", 1001)), "a session round-trips");
    let revoked = Session { revoked_at: Some(Timestamp::from_millis(200)), ..session("s-revoked", 5000) };
    let r = revoked.clone();
    store.write(move |tx| tx.put_session(&r)).await.expect("revoke");
    let deleted = store.write(|tx| tx.delete_expired_sessions(Timestamp::from_millis(1000))).await.expect("sweep");
    assert_eq!(deleted, 2, "sessions expiring at or before now are removed");
    let (past, now, later, kept) = store
        .read(|tx| -> Result<_, StoreError> {
            Ok((tx.session("s-past")?, tx.session("s-now")?, tx.session("s-later")?, tx.session("s-revoked")?))
        })
        .await
        .expect("read");
    assert_eq!((past, now), (None, None));
    assert_eq!(later, Some(session("s-later", 1001)), "an unexpired session stays");
    assert_eq!(kept, Some(revoked), "revocation is kept, and a revoked session is not swept before it expires");
    let again = store.write(|tx| tx.delete_expired_sessions(Timestamp::from_millis(1000))).await.expect("sweep");
    assert_eq!(again, 0);
    assert_eq!(store.read(|tx| tx.session("nope")).await.expect("read"), None);
}

pub(crate) async fn a_refresh_token_is_used_once<S: Store>(store: S) {
    store.write(|tx| tx.put_session(&session("s-1", 10_000))).await.expect("write");
    // Refreshes racing with one token (a stolen copy used as the owner refreshes): each reads
    // the session, and revokes it if it is not revoked yet. Only one may find it unrevoked.
    let racing = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(|tx| -> Result<bool, StoreError> {
                    let Some(s) = tx.session("s-1")?.filter(|s| s.revoked_at.is_none()) else { return Ok(false) };
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    tx.put_session(&Session { revoked_at: Some(Timestamp::from_millis(500)), ..s })?;
                    Ok(true)
                })
                .await
        })
    });
    let racing: Vec<_> = racing.collect();
    let mut winners = 0;
    for task in racing {
        winners += usize::from(task.await.expect("task").expect("refresh"));
    }
    assert_eq!(winners, 1, "one refresh rotates the token, the others find it revoked");
}

fn audit(actor: &str, at: i64) -> AuditEntry {
    AuditEntry {
        seq: 999,
        at: Timestamp::from_millis(at),
        actor: actor.into(),
        action: "sign_in".into(),
        target: actor.into(),
        address: "10.0.0.7".into(),
        outcome: "ok".into(),
    }
}

pub(crate) async fn audit_seqs_increase_and_page<S: Store>(store: S) {
    let seqs = store
        .write(|tx| -> Result<_, StoreError> {
            (0..3).map(|i| tx.append_audit(&audit(&format!("u{i}"), i))).collect::<Result<Vec<_>, _>>()
        })
        .await
        .expect("append");
    assert_eq!(seqs, [1, 2, 3], "seqs from 1, whatever the entry says");
    // Appenders at once: each gets a seq of its own, and the log stays contiguous.
    let racing = (3..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.write(move |tx| tx.append_audit(&audit(&format!("u{i}"), i))).await })
    });
    let racing: Vec<_> = racing.collect();
    let mut more = Vec::new();
    for task in racing {
        more.push(task.await.expect("task").expect("append"));
    }
    more.sort_unstable();
    assert_eq!(more, [4, 5, 6, 7, 8]);
    let (first, second, rest, all) = store
        .read(|tx| -> Result<_, StoreError> { Ok((tx.audit_log(0, 3)?, tx.audit_log(3, 3)?, tx.audit_log(6, 10)?, tx.audit_log(0, 100)?)) })
        .await
        .expect("read");
    assert_eq!(first, (1..=3).map(|i| AuditEntry { seq: i, ..audit(&format!("u{}", i - 1), i as i64 - 1) }).collect::<Vec<_>>());
    assert_eq!(second.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6], "oldest first, after after_seq, at most limit");
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 8]);
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());
    let beyond = store.read(|tx| tx.audit_log(8, 10)).await.expect("read");
    assert!(beyond.is_empty());
}

pub(crate) async fn the_first_signing_secret_stands<S: Store>(store: S) {
    assert_eq!(store.read(|tx| tx.signing_secret()).await.expect("read"), None);
    let first = store.write(|tx| tx.init_signing_secret(b"first")).await.expect("init");
    let second = store.write(|tx| tx.init_signing_secret(b"second")).await.expect("init");
    assert_eq!((first.as_slice(), second.as_slice()), (b"first".as_slice(), b"first".as_slice()), "a second candidate is ignored");
    assert_eq!(store.read(|tx| tx.signing_secret()).await.expect("read"), Some(b"first".to_vec()));
}

pub(crate) async fn processes_starting_together_share_one_signing_secret<S: Store>(store: S) {
    let racing = (0..8u8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.write(move |tx| tx.init_signing_secret(&[i; 32])).await })
    });
    let racing: Vec<_> = racing.collect();
    let mut kept = Vec::new();
    for task in racing {
        kept.push(task.await.expect("task").expect("init"));
    }
    assert!(kept.iter().all(|k| k == &kept[0]), "one secret stands: {kept:?}");
    assert_eq!(store.read(|tx| tx.signing_secret()).await.expect("read"), Some(kept[0].clone()));
}

pub(crate) async fn photos_are_kept_once_per_case<S: Store>(store: S) {
    let ticket = TicketId::new("T-photo");
    let photo = |bytes: &[u8]| Photo {
        id: crate::photo_id(&ticket, bytes),
        ticket_id: ticket.clone(),
        content_type: "image/png".into(),
        bytes: bytes.to_vec(),
        uploaded_by: "m.sq-1".into(),
        uploaded_at: Timestamp::from_millis(7),
    };
    let (first, again, second) = (photo(b"one"), photo(b"one"), photo(b"second"));
    assert_eq!(first.id, again.id, "the same image of the same case has one id");
    assert_ne!(first.id, crate::photo_id(&TicketId::new("T-other"), b"one"), "another case's copy is another photo");
    let stored = {
        let (a, b, c) = (first.clone(), again, second.clone());
        store
            .write(move |tx| -> Result<_, StoreError> { Ok((tx.put_photo(&a)?, tx.put_photo(&b)?, tx.put_photo(&c)?)) })
            .await
            .expect("write")
    };
    assert_eq!(stored, (true, false, true), "a repeated upload stores nothing");
    let (usage, read, missing) = {
        let (ticket, id) = (ticket.clone(), first.id.clone());
        store
            .read(move |tx| -> Result<_, StoreError> { Ok((tx.photo_usage(&ticket)?, tx.photo(&id)?, tx.photo("nope")?)) })
            .await
            .expect("read")
    };
    assert_eq!(usage, (2, 9), "two photos of 3 + 6 bytes");
    assert_eq!(read, Some(first));
    assert_eq!(missing, None);
}

pub(crate) async fn task_actions_are_recorded_once<S: Store>(store: S) {
    let ticket = TicketId::new("T-action");
    let first = {
        let ticket = ticket.clone();
        store.write(move |tx| tx.put_task_action("action/m1/a-1", "accept:T-action", &ticket, Timestamp::from_millis(3))).await
    };
    assert_eq!(first, Ok(()));
    let again = store.write(move |tx| tx.put_task_action("action/m1/a-1", "start:T-action", &ticket, Timestamp::from_millis(4))).await;
    assert!(again.is_err(), "a key is recorded once");
    let found =
        store.read(|tx| -> Result<_, StoreError> { Ok((tx.task_action("action/m1/a-1")?, tx.task_action("action/m1/a-2")?)) }).await;
    assert_eq!(found, Ok((Some("accept:T-action".to_owned()), None)));
}

pub(crate) async fn cases_are_found_by_the_callers_number<S: Store>(store: S) {
    let key = crate::caller_key("+8613812345678").expect("a phone number");
    assert_eq!(crate::caller_key("13812345678").as_ref(), Some(&key), "+86 is the same number");
    assert_eq!(crate::caller_key("008613812345678").as_ref(), Some(&key), "0086 is the same number");
    assert_eq!(crate::caller_key("12ab"), None);
    let other = crate::caller_key("13900000000").expect("a phone number");
    store
        .write(move |tx| -> Result<_, StoreError> {
            for (id, created, caller) in [("T1", 1, Some(&key)), ("T2", 2, Some(&other)), ("T3", 3, Some(&key)), ("T4", 4, None)] {
                tx.put_ticket(None, &new_ticket(id, Some("sq-1"), created))?;
                let reference = Reference::new(format!("R-{id}"));
                tx.put_report(&reference, Channel::Hotline, Timestamp::from_millis(created))?;
                tx.link_report(&reference, &TicketId::new(id), "filed", caller.map(String::as_str))?;
            }
            Ok(())
        })
        .await
        .expect("write");
    let key = crate::caller_key("13812345678");
    let found =
        store.read(move |tx| tx.list_tickets(&TicketFilter { caller: key.clone(), limit: 10, ..Default::default() })).await.expect("read");
    let ids: Vec<&str> = found.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T3", "T1"], "the caller's cases, newest first");
}

pub(crate) async fn assessment_totals_follow_the_ledger_and_a_frozen_month_stands<S: Store>(store: S) {
    use gridd_core::assessment::{Entry, Indicator, Period, Unit};
    let entry = |period: &str, ticket: &str, indicator: Indicator, amount: i64| Entry {
        period: Period::parse(period, "period").expect("month"),
        units: vec![Unit::City, Unit::Squad(SquadId::new("sq-1"))],
        indicator,
        ticket: TicketId::new(ticket),
        amount,
    };
    let first = vec![
        entry("2026-12", "T1", Indicator::Closed, 1),
        entry("2026-12", "T2", Indicator::OverdueUnclosed, 1),
        entry("2027-01", "T3", Indicator::Closed, 1),
    ];
    store.write(move |tx| tx.book_assessment(&first, Timestamp::from_millis(5))).await.expect("book");
    let mark = store.write(|tx| tx.assessment_high_water()).await.expect("mark");
    let frozen = FrozenPeriod {
        period: "2026-12".into(),
        frozen_at: Timestamp::from_millis(6),
        frozen_by: "leader".into(),
        last_seq: mark,
        sheet: "{}".into(),
    };
    let (stored, again) = {
        let (a, b) = (frozen.clone(), FrozenPeriod { frozen_by: "someone else".into(), ..frozen.clone() });
        store.write(move |tx| -> Result<_, StoreError> { Ok((tx.freeze_period(&a)?, tx.freeze_period(&b)?)) }).await.expect("freeze")
    };
    assert_eq!((stored, again), (true, false), "a month is frozen once");
    // Later lines of the month: the totals move, the frozen month's lines do not.
    let later = vec![entry("2026-12", "T2", Indicator::OverdueUnclosed, -1), entry("2026-12", "T2", Indicator::Closed, 1)];
    store.write(move |tx| tx.book_assessment(&later, Timestamp::from_millis(7))).await.expect("book");
    let (mut totals, frozen_lines, all_lines, read_back, listed) = store
        .read(move |tx| -> Result<_, StoreError> {
            Ok((
                tx.assessment_totals("2026-12")?,
                tx.assessment_lines("2026-12", mark)?,
                tx.assessment_lines("2026-12", u64::MAX >> 1)?,
                tx.frozen_period("2026-12")?,
                tx.frozen_periods()?,
            ))
        })
        .await
        .expect("read");
    totals.sort();
    let expect = |unit: &str, indicator: &str, value: i64| (unit.to_owned(), indicator.to_owned(), value);
    assert_eq!(
        totals,
        [
            expect("city", "closed", 2),
            expect("city", "overdue_unclosed", 0),
            expect("squad:sq-1", "closed", 2),
            expect("squad:sq-1", "overdue_unclosed", 0)
        ]
    );
    assert_eq!(
        frozen_lines.iter().map(|l| (l.ticket_id.as_str(), l.indicator.as_str(), l.amount)).collect::<Vec<_>>(),
        [("T1", "closed", 1), ("T2", "overdue_unclosed", 1)]
    );
    assert_eq!(frozen_lines[0].units, ["city", "squad:sq-1"]);
    assert_eq!(all_lines.len(), 4);
    assert_eq!(read_back, Some(frozen));
    assert_eq!(listed.iter().map(|f| (f.period.as_str(), f.last_seq)).collect::<Vec<_>>(), [("2026-12", mark)]);
}

/// Generates the suite for a backend: `$make` is an async expression giving a fresh store.
macro_rules! store_conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn a_case_keeps_its_reports_in_order_and_loads_their_ends() {
                $crate::conformance::a_case_keeps_its_reports_in_order_and_loads_their_ends($make).await;
            }

            #[tokio::test]
            async fn cases_created_in_a_range_are_read_one_by_one() {
                $crate::conformance::cases_created_in_a_range_are_read_one_by_one($make).await;
            }

            #[tokio::test]
            async fn a_log_is_trimmed_from_its_start_and_only_where_read() {
                $crate::conformance::a_log_is_trimmed_from_its_start_and_only_where_read($make).await;
            }

            #[tokio::test]
            async fn a_finished_case_loses_its_history_once_old_and_read() {
                $crate::conformance::a_finished_case_loses_its_history_once_old_and_read($make).await;
            }

            #[tokio::test]
            async fn a_roles_batch_wakes_every_wait() {
                $crate::conformance::a_roles_batch_wakes_every_wait($make).await;
            }
            #[tokio::test]
            async fn a_feed_entry_wakes_the_watchers_of_its_feed_alone() {
                $crate::conformance::a_feed_entry_wakes_the_watchers_of_its_feed_alone($make).await;
            }
            #[tokio::test]
            async fn log_positions_and_signals() {
                $crate::conformance::log_positions_and_signals($make).await;
            }
            #[tokio::test]
            async fn failed_transactions_write_nothing() {
                $crate::conformance::failed_transactions_write_nothing($make).await;
            }
            #[tokio::test]
            async fn intake_keys_and_report_status() {
                $crate::conformance::intake_keys_and_report_status($make).await;
            }

            #[tokio::test]
            async fn the_log_end_of_a_write_predicts_its_next_seq() {
                $crate::conformance::the_log_end_of_a_write_predicts_its_next_seq($make).await;
            }

            #[tokio::test]
            async fn a_report_keeps_its_first_decision() {
                $crate::conformance::a_report_keeps_its_first_decision($make).await;
            }
            #[tokio::test]
            async fn tickets_filter_and_page() {
                $crate::conformance::tickets_filter_and_page($make).await;
            }
            #[tokio::test]
            async fn feeds_are_contiguous_per_squad() {
                $crate::conformance::feeds_are_contiguous_per_squad($make).await;
            }
            #[tokio::test]
            async fn timers_and_escalations() {
                $crate::conformance::timers_and_escalations($make).await;
            }
            #[tokio::test]
            async fn concurrent_trackers_never_claim_a_timer_twice() {
                $crate::conformance::concurrent_trackers_never_claim_a_timer_twice($make).await;
            }
            #[tokio::test]
            async fn known_cases_follow_ticket_state() {
                $crate::conformance::known_cases_follow_ticket_state($make).await;
            }
            #[tokio::test]
            async fn a_report_finds_the_cases_near_it_across_square_edges() {
                $crate::conformance::a_report_finds_the_cases_near_it_across_square_edges($make).await;
            }
            #[tokio::test]
            async fn accounts_round_trip_and_replace() {
                $crate::conformance::accounts_round_trip_and_replace($make).await;
            }
            #[tokio::test]
            async fn machine_keys_round_trip_with_cameras_and_revocation() {
                $crate::conformance::machine_keys_round_trip_with_cameras_and_revocation($make).await;
            }
            #[tokio::test]
            async fn photos_are_kept_once_per_case() {
                $crate::conformance::photos_are_kept_once_per_case($make).await;
            }
            #[tokio::test]
            async fn task_actions_are_recorded_once() {
                $crate::conformance::task_actions_are_recorded_once($make).await;
            }
            #[tokio::test]
            async fn cases_are_found_by_the_callers_number() {
                $crate::conformance::cases_are_found_by_the_callers_number($make).await;
            }
            #[tokio::test]
            async fn assessment_totals_follow_the_ledger_and_a_frozen_month_stands() {
                $crate::conformance::assessment_totals_follow_the_ledger_and_a_frozen_month_stands($make).await;
            }
            #[tokio::test]
            async fn sessions_revoke_and_expire() {
                $crate::conformance::sessions_revoke_and_expire($make).await;
            }
            #[tokio::test]
            async fn a_refresh_token_is_used_once() {
                $crate::conformance::a_refresh_token_is_used_once($make).await;
            }
            #[tokio::test]
            async fn audit_seqs_increase_and_page() {
                $crate::conformance::audit_seqs_increase_and_page($make).await;
            }
            #[tokio::test]
            async fn the_first_signing_secret_stands() {
                $crate::conformance::the_first_signing_secret_stands($make).await;
            }
            #[tokio::test]
            async fn processes_starting_together_share_one_signing_secret() {
                $crate::conformance::processes_starting_together_share_one_signing_secret($make).await;
            }
        }
    };
}

pub(crate) mod backends {
    use std::sync::LazyLock;

    use crate::sqlite::SqliteStore;

    /// Temp directories live for the whole test binary, so each store's file outlives it.
    static DIRS: LazyLock<std::sync::Mutex<Vec<tempfile::TempDir>>> = LazyLock::new(Default::default);

    pub(crate) fn sqlite() -> SqliteStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("gridd.db")).expect("open sqlite");
        DIRS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(dir);
        store
    }

    store_conformance!(sqlite_backend, sqlite());
    store_conformance!(postgres_backend, postgres());

    /// A fresh database on the PostgreSQL server the test script started
    /// (`GRIDD_TEST_POSTGRES_URL`); never skipped for want of a server.
    pub(crate) fn postgres() -> crate::postgres::PostgresStore {
        let db_url = postgres_url();
        // The synchronous client runs its own runtime: connect from a plain thread.
        std::thread::spawn(move || crate::postgres::PostgresStore::connect(&db_url).expect("open the test database"))
            .join()
            .expect("test database thread")
    }

    /// A fresh, empty database on the test server; its connection string.
    pub(crate) fn postgres_url() -> String {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let url = std::env::var("GRIDD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| panic!("GRIDD_TEST_POSTGRES_URL is not set: run the suite with tests/run.sh, which starts PostgreSQL"));
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("gridd_test_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        crate::postgres::create_database(&url, &name).expect("create a test database")
    }

    #[tokio::test]
    async fn sqlite_upgrade_moves_case_reports_out_of_the_body() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gridd.db");
        let (old, body) = super::body_before_case_reports();
        crate::sqlite::tests::at_schema(&path, 6, &[("OLD1", &body)]);
        super::upgraded_case_keeps_its_reports(SqliteStore::open(&path).expect("upgrade"), old).await;
        // Migration 0009: a case's row (about 1.2 KB) no longer takes an overflow page of its own.
        let conn = rusqlite::Connection::open(&path).expect("open");
        let rowid: i64 = conn.query_row("SELECT rowid FROM tickets WHERE id = 'OLD1'", [], |r| r.get(0)).expect("tickets have rowids");
        assert_eq!(rowid, 1);
    }

    #[tokio::test]
    async fn postgres_upgrade_moves_case_reports_out_of_the_body() {
        let (old, body) = super::body_before_case_reports();
        let url = crate::postgres::tests::at_schema(6, &[("OLD1", &body)]);
        let store = std::thread::spawn(move || crate::postgres::PostgresStore::connect(&url).expect("upgrade")).join().expect("thread");
        super::upgraded_case_keeps_its_reports(store, old).await;
    }

    /// A gateway's terminals and dashboards wake when a tracker in another process files a
    /// task or a change, not at their next periodic look.
    #[tokio::test]
    async fn postgres_watchers_wake_on_what_another_process_appends() {
        use crate::{Signal, Store, WriteTx, topics};
        use gridd_core::ids::{SquadId, TicketId};
        use gridd_core::ticket::FeedKind;
        use gridd_core::time::Timestamp;
        let url = postgres_url();
        let connect =
            |url: String| std::thread::spawn(move || crate::postgres::PostgresStore::connect(&url).expect("open")).join().expect("thread");
        let (gateway, tracker) = (connect(url.clone()), connect(url));
        let (mut feed, other_feed, events) = (
            gateway.subscribe_feed(&SquadId::new("sq-1")),
            gateway.subscribe_feed(&SquadId::new("sq-2")),
            gateway.subscribe(Signal::TicketEvents),
        );
        // The gateway starts listening when first watched, on a connection of its own: a
        // change committed before that is announced to nobody, so the tracker files again
        // until the gateway has heard (only its listener can wake it).
        for n in 1..=20 {
            tracker
                .write(move |tx: &mut dyn WriteTx| {
                    let seq = tx.append_log(topics::TICKET_EVENTS, "C1", b"changed", Timestamp::from_millis(n))?;
                    tx.append_feed(&SquadId::new("sq-1"), &TicketId::new("C1"), FeedKind::Updated, Timestamp::from_millis(n), seq)
                })
                .await
                .expect("file");
            if tokio::time::timeout(std::time::Duration::from_millis(500), feed.changed()).await.is_ok() {
                break;
            }
        }
        assert!(feed.has_changed().is_ok() && *feed.borrow_and_update() > 0, "the squad's feed: no wake from the other process");
        let mut events = events;
        tokio::time::timeout(std::time::Duration::from_secs(5), events.changed())
            .await
            .expect("the ticket events: no wake from the other process")
            .expect("sender alive");
        assert!(!other_feed.has_changed().expect("sender alive"), "another squad's terminals sleep on");
    }

    #[tokio::test]
    async fn sqlite_commits_survive_reopening() {
        use crate::{ReadTx, Store, StoreError, WriteTx, topics};
        use gridd_core::time::Timestamp;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gridd.db");
        let store = SqliteStore::open(&path).expect("open");
        store.write(|tx: &mut dyn WriteTx| tx.append_log(topics::INTAKE, "k", b"kept", Timestamp::from_millis(1))).await.expect("append");
        drop(store);
        let reopened = SqliteStore::open(&path).expect("reopen");
        let records =
            reopened.read(|tx: &mut dyn ReadTx| -> Result<_, StoreError> { tx.read_log(topics::INTAKE, 0, 10) }).await.expect("read");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].payload, b"kept");
    }
}
