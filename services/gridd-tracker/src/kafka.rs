//! The tracker in the distributed mode.
//!
//! - [`run_dispatch`]: a member of the `tracker` consumer group on the dispatch topic (keyed by
//!   ticket id, so one ticket's decisions arrive in order at one tracker); each decision is
//!   applied in one database transaction and only then marked processed. Applying is
//!   idempotent, so the records replayed after a crash or a rebalance change nothing.
//! - [`run_relay`]: publishes the ticket events written to the database (the outbox, in the
//!   same transaction as each change) to the ticket-events topic, in order, and records how
//!   far it got; a crash resends from there (consumers de-duplicate by event seq).
//! - Timers run with [`crate::run_timers`] on the shared database: claims use
//!   `FOR UPDATE SKIP LOCKED`, so several trackers never fire one timer twice.

use std::sync::Arc;
use std::time::Duration;

use gridd_config::CityHandle;
use gridd_core::time::Clock;
use gridd_log::{KafkaConsumer, KafkaProducer, Record, topics};
use gridd_proto::prost::Message;
use gridd_proto::v1;
use gridd_store::{ReadTx, Store, StoreError, topics as store_topics};
use tokio_util::sync::CancellationToken;

use crate::apply_decision;

/// The tracker's consumer group (prefixed like the topics: `gridd.tracker`).
pub const GROUP: &str = "tracker";
/// Name under which the relay records its position in the outbox.
pub const RELAY: &str = "kafka-relay";
/// Events published per round.
const RELAY_BATCH: usize = 256;

/// Applies the dispatch topic's decisions until shutdown.
pub async fn run_dispatch<S: Store>(
    store: S,
    city: CityHandle,
    clock: Arc<dyn Clock>,
    producer: KafkaProducer,
    consumer: KafkaConsumer,
    shutdown: CancellationToken,
) {
    let apply = |record: Record| {
        let (store, city, clock, producer) = (store.clone(), city.clone(), clock.clone(), producer.clone());
        async move { apply_one(&store, &city, &clock, &producer, &record).await }
    };
    consumer.process_each(&shutdown, apply).await;
}

async fn apply_one<S: Store>(
    store: &S,
    city: &CityHandle,
    clock: &Arc<dyn Clock>,
    producer: &KafkaProducer,
    record: &Record,
) -> Result<(), String> {
    let decoded = v1::DispatchDecision::decode(record.payload.as_slice())
        .map_err(|e| e.to_string())
        .and_then(|d| gridd_proto::decision(&d).map_err(|e| e.to_string()));
    let decision = match decoded {
        Ok(d) => d,
        Err(reason) => return gridd_router::kafka::dead_letter(producer, record, &reason).await,
    };
    let (current, now) = (city.current(), clock.now());
    let outcome = store.write(move |tx| apply_decision(tx, &current, now, decision.clone())).await.map_err(|e| e.to_string())?;
    match outcome {
        Ok(()) => Ok(()),
        Err(reason) => gridd_router::kafka::dead_letter(producer, record, &reason).await,
    }
}

/// Publishes the outbox of ticket events to Kafka until shutdown, polling every `poll`.
pub async fn run_relay<S: Store>(store: S, producer: KafkaProducer, poll: Duration, shutdown: CancellationToken) -> Result<(), StoreError> {
    let mut appended = store.subscribe(gridd_store::Signal::TicketEvents);
    loop {
        appended.borrow_and_update();
        let batch = store
            .read(|tx: &mut dyn ReadTx| -> Result<_, StoreError> {
                let next = tx.position(RELAY, store_topics::TICKET_EVENTS)?;
                tx.read_log(store_topics::TICKET_EVENTS, next.saturating_sub(1), RELAY_BATCH)
            })
            .await?;
        let mut sent = None;
        for record in &batch {
            if let Err(e) = producer.send(topics::TICKET_EVENTS, &record.key, &record.payload).await {
                tracing::warn!(error = %e, "publishing ticket events; will resend from seq {}", record.seq);
                break;
            }
            sent = Some(record.seq);
        }
        if let Some(last) = sent {
            store.write(move |tx| tx.set_position(RELAY, store_topics::TICKET_EVENTS, last + 1)).await?;
        }
        if batch.len() == RELAY_BATCH && sent.is_some() {
            continue;
        }
        tokio::select! {
            _ = appended.changed() => {}
            () = tokio::time::sleep(poll) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
