//! The router in the distributed mode: a member of the `router` consumer group on the intake
//! topic, driven by [`gridd_driver::run_kafka`]. Reports of one place share a partition (the
//! intake key is a coarse area or the camera), so duplicates meet in one router.
//!
//! For each polled batch: decide every report (duplicate lookups in the shared database) and
//! record the decisions with the reports in one transaction, send them to the dispatch topic
//! and wait for the broker, then make the new cases known to duplicate lookups in a second
//! transaction; only then are the records marked processed. In that order a case becomes
//! visible to other routers' duplicate lookups only after its opening decision is in the
//! dispatch log, so a merge into it can never reach the tracker before the case itself; the
//! batch's own later reports see it meanwhile through [`crate::Pending`]. A crash or a
//! rebalance anywhere replays the batch: the recorded decisions go out again unchanged (see
//! [`crate::decide_once`]) and the tracker takes them as no-ops.

use gridd_config::{CityConfig, CityHandle};
use gridd_core::report::{Decision, Report};
use gridd_driver::{Failure, Verdict};
use gridd_log::{KafkaProducer, topics};
use gridd_store::{Store, StoreError, WriteTx};

use crate::{Pending, decide_once, remember};

/// The router's consumer group (prefixed like the topics: `gridd.router`).
pub const GROUP: &str = "router";

/// Decides a batch in one transaction, each report seeing the cases of those before it.
fn decide_batch(tx: &mut dyn WriteTx, city: &CityConfig, reports: &[Report]) -> Result<Vec<(Decision, Vec<u8>)>, StoreError> {
    let mut pending = Pending::default();
    let mut decided = Vec::with_capacity(reports.len());
    for report in reports {
        let (decision, payload) = decide_once(tx, city, report.clone(), &pending)?;
        pending.note(&decision);
        decided.push((decision, payload));
    }
    Ok(decided)
}

/// Routes a batch: decided and recorded, published, then remembered (see the module's doc).
pub(crate) async fn route<S: Store>(
    store: &S,
    city: &CityHandle,
    producer: &KafkaProducer,
    reports: Vec<Report>,
) -> Result<Vec<Verdict>, Failure> {
    let current = city.current();
    let decided = store.write(move |tx| Ok::<_, Failure>(decide_batch(tx, &current, &reports)?)).await?;
    let records: Vec<(&str, &[u8])> = decided.iter().map(|(d, payload)| (d.ticket_id.as_str(), payload.as_slice())).collect();
    for sent in producer.send_all(topics::DISPATCH, &records).await {
        sent?;
    }
    let verdicts = vec![Verdict::Applied; decided.len()];
    store
        .write(move |tx| {
            for (decision, _) in &decided {
                remember(tx, decision)?;
            }
            Ok::<_, Failure>(())
        })
        .await?;
    Ok(verdicts)
}

#[cfg(test)]
mod tests {
    use gridd_core::category::CategoryCode;
    use gridd_core::ids::{CameraId, Reference, TicketId};
    use gridd_core::report::{CameraDetection, Channel, Outcome};
    use gridd_core::time::Timestamp;
    use gridd_store::sqlite::SqliteStore;
    use gridd_store::{ReadTx, StoreError};

    use super::*;

    fn city() -> CityConfig {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/xinyi/city.toml");
        gridd_config::load_city(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    const NOON: Timestamp = Timestamp::from_millis(1_795_320_000_000);

    fn report(reference: &str, minutes: i64, lon: f64, camera: Option<&str>) -> Report {
        let at = NOON.add_millis(minutes * 60_000);
        let channel = if camera.is_some() { Channel::Camera } else { Channel::Patrol };
        Report {
            location: Some(geo::Point::new(lon, 34.372)),
            description: "暴露垃圾".into(),
            camera: camera.map(|id| CameraDetection { camera_id: CameraId::new(id), detection_type: "garbage".into() }),
            confidence: camera.map(|_| 0.9),
            ..Report::new(Reference::new(reference), channel, at, CategoryCode::parse("E0101").expect("category"))
        }
    }

    fn merged_into(decision: &Decision) -> Option<&TicketId> {
        matches!(decision.outcome, Outcome::Attach { .. }).then_some(&decision.ticket_id)
    }

    #[tokio::test]
    async fn a_batch_merges_into_the_cases_it_opened_before_they_are_remembered() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("gridd.db")).expect("open store");
        let city = city();
        // Two patrol reports 10 m and a minute apart, then a camera's alert and its repeat, far
        // from the patrol reports: one batch, as one poll would bring them.
        let reports = vec![
            report("R-1", 0, 118.350, None),
            report("R-2", 1, 118.3501, None),
            report("C-1", 2, 118.360, Some("cam-7")),
            report("C-2", 3, 118.360, Some("cam-7")),
        ];
        let decided = store.write(move |tx| decide_batch(tx, &city, &reports)).await.expect("decide");
        let decisions: Vec<&Decision> = decided.iter().map(|(d, _)| d).collect();
        assert_eq!(merged_into(decisions[0]), None, "the first patrol report opens a case");
        assert_eq!(merged_into(decisions[1]), Some(&TicketId::new("R-1")), "the second joins it within the batch");
        assert_eq!(merged_into(decisions[2]), None, "the camera's first alert opens a case");
        assert_eq!(merged_into(decisions[3]), Some(&TicketId::new("C-1")), "its repeat joins it within the batch");
        let known = store
            .read(|tx: &mut dyn ReadTx| tx.known_cases_for_camera("cam-7/garbage"))
            .await
            .map_err(|e: StoreError| e.to_string())
            .expect("lookup");
        assert!(known.is_empty(), "nothing is known to other routers before the decisions are published: {known:?}");
    }
}
