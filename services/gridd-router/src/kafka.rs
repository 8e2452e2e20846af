//! The router in the distributed mode: a member of the `router` consumer group on the intake
//! topic. Reports of one place share a partition (the intake key is a coarse area or the
//! camera), so duplicates meet in one router.
//!
//! For each record: decide (duplicate lookups in the shared database) and record the decision
//! with the report, send it to the dispatch topic and wait for the broker, then make the case
//! known to duplicate lookups, then mark the record processed. In that order a case becomes
//! visible to other routers' duplicate lookups only after its opening decision is in the
//! dispatch log, so a merge into it can never reach the tracker before the case itself. A crash
//! or a rebalance anywhere replays the record: the recorded decision goes out again unchanged
//! (see [`crate::decide_once`]) and the tracker takes it as a no-op.

use gridd_config::CityHandle;
use gridd_log::{KafkaConsumer, KafkaProducer, Record, topics};
use gridd_proto::prost::Message;
use gridd_proto::v1;
use gridd_store::Store;
use tokio_util::sync::CancellationToken;

use crate::{decide_once, outcome_label, remember};

/// The router's consumer group (prefixed like the topics: `gridd.router`).
pub const GROUP: &str = "router";

/// Runs until shutdown; transient failures of the broker or database are retried, never
/// skipped.
pub async fn run<S: Store>(store: S, city: CityHandle, producer: KafkaProducer, consumer: KafkaConsumer, shutdown: CancellationToken) {
    let route = |record: Record| {
        let (store, city, producer) = (store.clone(), city.clone(), producer.clone());
        async move { route_one(&store, &city, &producer, &record).await }
    };
    consumer.process_each(&shutdown, route).await;
}

async fn route_one<S: Store>(store: &S, city: &CityHandle, producer: &KafkaProducer, record: &Record) -> Result<(), String> {
    let decoded = v1::IntakeRecord::decode(record.payload.as_slice())
        .map_err(|e| e.to_string())
        .and_then(|r| gridd_proto::report(&r).map_err(|e| e.to_string()));
    let report = match decoded {
        Ok(report) => report,
        Err(reason) => return dead_letter(producer, record, &reason).await,
    };
    let current = city.current();
    let (decision, payload) = store.write(move |tx| decide_once(tx, &current, report.clone())).await.map_err(|e| e.to_string())?;
    metrics::counter!("gridd_router_decisions_total", "outcome" => outcome_label(&decision)).increment(1);
    producer.send(topics::DISPATCH, decision.ticket_id.as_str(), &payload).await.map_err(|e| e.to_string())?;
    store.write(move |tx| remember(tx, &decision)).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Sends a record that cannot be processed to the dead-letter topic, with where it came from
/// and why in the key; the original payload is kept unchanged.
pub async fn dead_letter(producer: &KafkaProducer, record: &Record, reason: &str) -> Result<(), String> {
    tracing::error!(topic = %record.topic, partition = record.partition, offset = record.offset, reason, "record sent to the dead-letter topic");
    metrics::counter!("gridd_dead_letters_total", "topic" => record.topic.clone()).increment(1);
    let key = format!("{}/{}/{}: {reason}", record.topic, record.partition, record.offset);
    producer.send(topics::DEAD_LETTER, &key, &record.payload).await.map(drop).map_err(|e| e.to_string())
}
