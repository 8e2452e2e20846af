//! The one record driver: how the router (on the intake log) and the tracker (on the dispatch
//! log) consume records, in the embedded mode (the store's own log) and in the distributed
//! mode (a Kafka consumer group). A role says how to decode a record and how to apply a batch
//! ([`Role`]); the driver owns the rest, once for both roles and both modes:
//!
//! - **Batches.** Records are taken in batches: embedded, up to [`Role::BATCH`] after the
//!   role's position, applied with the position in one store transaction; on Kafka, whatever
//!   a poll has ready (up to the same number), applied, and only then marked processed.
//! - **Failures are typed** ([`Failure`]). `Retry` (the database or the broker unreachable, a
//!   conflict) is retried after a pause, never skipped, so records stay in order. `Poison`
//!   (undecodable, naming what does not exist, corrupt stored data) can never succeed: the
//!   record goes to the dead letters with the reason and the role moves on. When a whole batch
//!   fails as poison, it is taken again one record at a time to find the record at fault.
//! - **Metrics**: batch sizes and times, retries and dead letters per role, and in the
//!   embedded mode how far the role is behind its log (`gridd_log_lag`).
//! - Repeated failures are logged once a second with a count of the lines held back.
//! - **Retention** ([`retention`]): in the embedded mode, consumed records are deleted from the
//!   store's log once older than their topic's retention.

pub mod retention;

use std::future::Future;
use std::time::{Duration, Instant};

use gridd_log::{KafkaConsumer, KafkaProducer, LogError, Record};
use gridd_proto::status::Throttle;
use gridd_store::{Signal, Store, StoreError, WriteTx};
use tokio_util::sync::CancellationToken;

/// Why a record, or a batch of them, was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// It may succeed later (the database or the broker unreachable, a conflict): retried
    /// after a pause, never skipped.
    #[error("{0}")]
    Retry(String),
    /// It can never succeed: the record goes to the dead letters with this reason.
    #[error("{0}")]
    Poison(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            // Stored data that cannot be read back will not read better on a retry.
            StoreError::Corrupt(_) => Failure::Poison(e.to_string()),
            StoreError::Backend(_) => Failure::Retry(e.to_string()),
        }
    }
}

impl From<LogError> for Failure {
    fn from(e: LogError) -> Self {
        Failure::Retry(e.to_string())
    }
}

/// What became of one record of a batch the role applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its effect is in the batch's transaction (or was there already: a replay).
    Applied,
    /// It cannot be applied; the rest of the batch stands. It goes to the dead letters.
    Poison(String),
}

/// A role that consumes a log: how to read a record and how to apply a batch.
pub trait Role: Clone + Send + Sync + 'static {
    /// A decoded record.
    type Item: Clone + Send + Sync + 'static;
    /// The store the role writes to.
    type Store: Store;
    /// The role's name: its consumer name on the embedded log, and the label of its metrics.
    const NAME: &'static str;
    /// The log it reads (the same name in the store and, prefixed, on Kafka).
    const TOPIC: &'static str;
    /// What wakes the embedded role: an append to its log.
    const SIGNAL: Signal;
    /// Most records applied together.
    const BATCH: usize;
    /// Embedded mode: how long the role, caught up after a batch of fewer than [`TRICKLE`]
    /// records, waits after an append before taking its next batch, so that the appends of
    /// that time share one write transaction. Records arriving in bulk are taken at once.
    const LINGER: Duration = Duration::ZERO;

    /// The role's store.
    fn store(&self) -> &Self::Store;

    /// Decodes a record's payload; an error is the reason it is poison.
    fn decode(payload: &[u8]) -> Result<Self::Item, String>;

    /// Applies `items` in order inside `tx`: one verdict per item. An error fails the whole
    /// batch and the transaction changes nothing.
    fn apply(&self, tx: &mut dyn WriteTx, items: &[Self::Item]) -> Result<Vec<Verdict>, StoreError>;

    /// The distributed mode's apply: makes the batch's effects durable before its records are
    /// marked processed. By default one store transaction running [`Role::apply`]; a role
    /// that also publishes (the router) overrides it.
    fn apply_distributed(&self, items: Vec<Self::Item>) -> impl Future<Output = Result<Vec<Verdict>, Failure>> + Send {
        apply_in_one_transaction(self.clone(), items)
    }
}

/// [`Role::apply`] in one store transaction of its own: what [`Role::apply_distributed`] does
/// unless a role overrides it.
pub async fn apply_in_one_transaction<R: Role>(role: R, items: Vec<R::Item>) -> Result<Vec<Verdict>, Failure> {
    let store = role.store().clone();
    store.write(move |tx| Ok::<_, Failure>(role.apply(tx, &items)?)).await
}

/// A batch's records decoded: the items with the records they came from, and the records that
/// do not decode, with the reason.
struct Decoded<'a, T, I> {
    items: Vec<I>,
    from: Vec<&'a T>,
    poison: Vec<(&'a T, String)>,
}

impl<'a, T, I> Decoded<'a, T, I> {
    fn new(records: &'a [T], payload: impl Fn(&T) -> &[u8], decode: impl Fn(&[u8]) -> Result<I, String>) -> Self {
        let mut decoded = Self { items: Vec::with_capacity(records.len()), from: Vec::with_capacity(records.len()), poison: Vec::new() };
        for record in records {
            match decode(payload(record)) {
                Ok(item) => {
                    decoded.items.push(item);
                    decoded.from.push(record);
                }
                Err(reason) => decoded.poison.push((record, reason)),
            }
        }
        decoded
    }

    /// Every poison record of the batch, given the verdicts on its items.
    fn poison(self, verdicts: Vec<Verdict>) -> Vec<(&'a T, String)> {
        let mut poison = self.poison;
        for (record, verdict) in self.from.into_iter().zip(verdicts) {
            if let Verdict::Poison(reason) = verdict {
                poison.push((record, reason));
            }
        }
        poison
    }
}

/// Lines of repeated failures: one a second per role and kind.
static THROTTLE: Throttle = Throttle::new(Duration::from_secs(1));

/// How long a failed batch waits before it is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Waits [`RETRY_PAUSE`]; false if shutdown came first.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY_PAUSE) => true,
        () = shutdown.cancelled() => false,
    }
}

fn warn_retry(role: &str, error: &str) {
    metrics::counter!("gridd_driver_retries_total", "role" => role.to_owned()).increment(1);
    if let Some(held_back) = THROTTLE.admit(&format!("{role}/retry")) {
        tracing::warn!(role, error, held_back, "applying a batch failed; retrying");
    }
}

fn count_dead_letter(role: &str, topic: &str, reason: &str) {
    metrics::counter!("gridd_dead_letters_total", "topic" => topic.to_owned()).increment(1);
    tracing::error!(role, topic, reason, "record sent to the dead letters");
}

fn observe_batch(role: &'static str, records: usize, started: Instant) {
    metrics::histogram!("gridd_driver_batch_records", "role" => role).record(records as f64);
    metrics::histogram!("gridd_driver_batch_seconds", "role" => role).record(started.elapsed().as_secs_f64());
}

/// Batches smaller than this are a trickle of records, which a role with a [`Role::LINGER`]
/// lets gather before taking the next.
pub const TRICKLE: usize = 16;

/// How many records the next batch takes: after a batch failed as poison, one at a time until
/// as many as the failed batch held are through, so the record at fault is found alone.
struct BatchSize {
    full: usize,
    singles_left: usize,
}

impl BatchSize {
    fn new(full: usize) -> Self {
        Self { full, singles_left: 0 }
    }

    fn next(&self) -> usize {
        if self.singles_left > 0 { 1 } else { self.full }
    }

    fn isolate(&mut self, failed_batch: usize) {
        self.singles_left = failed_batch;
    }

    fn done(&mut self, records: usize) {
        self.singles_left = self.singles_left.saturating_sub(records);
    }
}

// ---------------------------------------------------------------- embedded mode

/// What one embedded step did.
#[derive(Debug, Default)]
pub struct Stepped {
    /// Records consumed (applied or dead-lettered).
    pub consumed: usize,
    /// Why each dead-lettered one was, in log order.
    pub dead_lettered: Vec<String>,
}

/// Applies up to `max` records after the role's position, with the position, in `tx`.
pub fn step<R: Role>(role: &R, tx: &mut dyn WriteTx, max: usize) -> Result<Stepped, Failure> {
    let next = tx.position(R::NAME, R::TOPIC)?;
    let records = tx.read_log(R::TOPIC, next.saturating_sub(1), max)?;
    let Some(last) = records.last() else {
        return Ok(Stepped::default());
    };
    let decoded = Decoded::new(&records, |r| r.payload.as_slice(), R::decode);
    let verdicts = role.apply(tx, &decoded.items)?;
    let mut poison = decoded.poison(verdicts);
    poison.sort_by_key(|(record, _)| record.seq);
    for (record, reason) in &poison {
        tx.dead_letter(R::TOPIC, record, reason)?;
    }
    tx.set_position(R::NAME, R::TOPIC, last.seq + 1)?;
    let end = tx.log_end(R::TOPIC)?;
    metrics::gauge!("gridd_log_lag", "consumer" => R::NAME).set(end.saturating_sub(last.seq) as f64);
    Ok(Stepped { consumed: records.len(), dead_lettered: poison.into_iter().map(|(_, reason)| reason).collect() })
}

/// Sends the record after the role's position to the dead letters with `reason` and moves
/// past it; returns its seq.
fn skip_poisoned<R: Role>(tx: &mut dyn WriteTx, reason: &str) -> Result<Option<u64>, StoreError> {
    let next = tx.position(R::NAME, R::TOPIC)?;
    let Some(record) = tx.read_log(R::TOPIC, next.saturating_sub(1), 1)?.pop() else {
        return Ok(None);
    };
    tx.dead_letter(R::TOPIC, &record, reason)?;
    tx.set_position(R::NAME, R::TOPIC, record.seq + 1)?;
    Ok(Some(record.seq))
}

/// The embedded mode: applies the store's log to the role until shutdown, waiting for the
/// next append when it has caught up. Each batch moves the role's position in its own
/// transaction, so a batch lost to a power cut is applied again: the batches are redoable
/// writes ([`Store::write_redoable`]), which need not wait for the disk.
pub async fn run_embedded<R: Role>(role: R, shutdown: CancellationToken) {
    let store = role.store().clone();
    let mut appended = store.subscribe(R::SIGNAL);
    let mut size = BatchSize::new(R::BATCH);
    loop {
        let trickle;
        appended.borrow_and_update();
        let (max, started) = (size.next(), Instant::now());
        let r = role.clone();
        match store.write_redoable(move |tx| step(&r, tx, max)).await {
            Ok(Stepped { consumed, dead_lettered }) => {
                for reason in &dead_lettered {
                    count_dead_letter(R::NAME, R::TOPIC, reason);
                }
                if consumed > 0 {
                    observe_batch(R::NAME, consumed, started);
                }
                size.done(consumed);
                trickle = consumed < TRICKLE;
                if consumed == max {
                    continue;
                }
            }
            Err(Failure::Poison(reason)) if max > 1 => {
                tracing::warn!(role = R::NAME, reason, "a batch failed as poison; taking its records one at a time");
                size.isolate(max);
                continue;
            }
            Err(Failure::Poison(reason)) => {
                let skip = reason.clone();
                match store.write_redoable(move |tx| skip_poisoned::<R>(tx, &skip)).await {
                    Ok(_) => {
                        count_dead_letter(R::NAME, R::TOPIC, &reason);
                        size.done(1);
                    }
                    Err(e) => warn_retry(R::NAME, &e.to_string()),
                }
                continue;
            }
            Err(Failure::Retry(e)) => {
                warn_retry(R::NAME, &e);
                if pause(&shutdown).await {
                    continue;
                }
                return;
            }
        }
        tokio::select! {
            _ = appended.changed() => {}
            () = shutdown.cancelled() => return,
        }
        if trickle && !R::LINGER.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(R::LINGER) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}

// ---------------------------------------------------------------- distributed mode

/// Sends a record that cannot be processed to the dead-letter topic, with where it came from
/// and why in the key; the payload is kept unchanged.
async fn dead_letter_on_broker(role: &str, producer: &KafkaProducer, record: &Record, reason: &str) -> Result<(), Failure> {
    let key = format!("{}/{}/{}: {reason}", record.topic, record.partition, record.offset);
    producer.send(gridd_log::topics::DEAD_LETTER, &key, &record.payload).await?;
    count_dead_letter(role, &record.topic, reason);
    Ok(())
}

/// Retries `attempt` until it is not [`Failure::Retry`]; `None` on shutdown.
async fn until_settled<T, F, Fut>(role: &str, shutdown: &CancellationToken, mut attempt: F) -> Option<Result<T, String>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    loop {
        match attempt().await {
            Ok(value) => return Some(Ok(value)),
            Err(Failure::Poison(reason)) => return Some(Err(reason)),
            Err(Failure::Retry(e)) => {
                warn_retry(role, &e);
                if !pause(shutdown).await {
                    return None;
                }
            }
        }
    }
}

/// The verdicts of `items`, applied together, or one at a time when the batch as a whole
/// failed as poison; `None` on shutdown.
async fn apply_isolating<R: Role>(role: &R, items: &[R::Item], shutdown: &CancellationToken) -> Option<Vec<Verdict>> {
    match until_settled(R::NAME, shutdown, || role.apply_distributed(items.to_vec())).await? {
        Ok(verdicts) => Some(verdicts),
        Err(reason) if items.len() == 1 => Some(vec![Verdict::Poison(reason)]),
        Err(reason) => {
            tracing::warn!(role = R::NAME, reason, "a batch failed as poison; taking its records one at a time");
            let mut verdicts = Vec::with_capacity(items.len());
            for item in items {
                let one = until_settled(R::NAME, shutdown, || role.apply_distributed(vec![item.clone()])).await?;
                verdicts.push(one.map_or_else(Verdict::Poison, |mut v| v.pop().unwrap_or(Verdict::Applied)));
            }
            Some(verdicts)
        }
    }
}

/// Sends the poison records of a batch to the dead-letter topic; false on shutdown.
async fn dead_letter_all<R: Role>(producer: &KafkaProducer, poisoned: &[(&Record, String)], shutdown: &CancellationToken) -> bool {
    for (record, reason) in poisoned {
        if until_settled(R::NAME, shutdown, || dead_letter_on_broker(R::NAME, producer, record, reason)).await.is_none() {
            return false;
        }
    }
    true
}

/// Decodes, applies and dead-letters one polled batch; false on shutdown (nothing of an
/// unfinished batch is marked processed, so it goes to whoever reads the partition next).
async fn process_batch<R: Role>(role: &R, producer: &KafkaProducer, records: &[Record], shutdown: &CancellationToken) -> bool {
    let decoded = Decoded::new(records, |r| r.payload.as_slice(), R::decode);
    let verdicts = if decoded.items.is_empty() {
        Vec::new()
    } else {
        let Some(verdicts) = apply_isolating(role, &decoded.items, shutdown).await else {
            return false;
        };
        verdicts
    };
    dead_letter_all::<R>(producer, &decoded.poison(verdicts), shutdown).await
}

/// The distributed mode: applies what `consumer` receives to the role until shutdown. A batch
/// is marked processed only once applied and its poison records dead-lettered; stored offsets
/// are committed on the way out.
pub async fn run_kafka<R: Role>(role: R, consumer: KafkaConsumer, producer: KafkaProducer, shutdown: CancellationToken) {
    while let Some(records) = consumer.next_batch(&shutdown, R::BATCH).await {
        let started = Instant::now();
        if !process_batch(&role, &producer, &records, &shutdown).await {
            break;
        }
        observe_batch(R::NAME, records.len(), started);
        for record in &records {
            if let Err(e) = consumer.processed(record) {
                tracing::warn!(error = %e, "storing an offset");
            }
        }
    }
    consumer.leave().await;
}

#[cfg(test)]
mod tests;
