//! The tracker in the distributed mode.
//!
//! - The decisions: [`crate::Tracker`] driven by [`gridd_driver::run_kafka`] as a member of
//!   the `tracker` consumer group on the dispatch topic (keyed by ticket id, so one ticket's
//!   decisions arrive in order at one tracker); each polled batch is applied in one database
//!   transaction and only then marked processed. Applying is idempotent, so the records
//!   replayed after a crash or a rebalance change nothing.
//! - [`run_relay`]: publishes the ticket events written to the database (the outbox, in the
//!   same transaction as each change) to the ticket-events topic, in order, and records how
//!   far it got; a crash resends from there (consumers de-duplicate by event seq).
//! - Timers run with [`crate::run_timers`] on the shared database: claims use
//!   `FOR UPDATE SKIP LOCKED`, so several trackers never fire one timer twice.

use std::time::Duration;

use gridd_log::{KafkaProducer, topics};
use gridd_store::{ReadTx, Store, StoreError, topics as store_topics};
use tokio_util::sync::CancellationToken;

/// The tracker's consumer group (prefixed like the topics: `gridd.tracker`).
pub const GROUP: &str = "tracker";
/// Name under which the relay records its position in the outbox.
pub const RELAY: &str = "kafka-relay";
/// Events published per round.
const RELAY_BATCH: usize = 256;

/// Sends a batch of the outbox together; returns the seq of the last record before the first
/// that failed (the position can move past it), if any. Later records that got through are
/// sent again from there, which consumers take as repeats.
async fn publish(producer: &KafkaProducer, batch: &[gridd_store::LogRecord]) -> Option<u64> {
    let records: Vec<(&str, &[u8])> = batch.iter().map(|r| (r.key.as_str(), r.payload.as_slice())).collect();
    let results = producer.send_all(topics::TICKET_EVENTS, &records).await;
    let delivered = results.iter().take_while(|r| r.is_ok()).count();
    if let Some(Err(e)) = results.get(delivered) {
        tracing::warn!(error = %e, "publishing ticket events; will resend from seq {}", batch[delivered].seq);
    }
    delivered.checked_sub(1).map(|last| batch[last].seq)
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
        let sent = publish(&producer, &batch).await;
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
