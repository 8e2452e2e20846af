//! gridd's log on Apache Kafka (or any Kafka-protocol broker), for the distributed mode.
//!
//! - Topics (names `<prefix><topic>`, prefix `gridd.` by default): `intake` (key: coarse area
//!   or camera), `dispatch` and `ticket-events` (key: ticket id), `dead-letter` (records that
//!   cannot be processed, with the reason). [`ensure_topics`] creates what is missing.
//! - [`KafkaProducer`]: idempotent (`enable.idempotence`, `acks=all`); [`KafkaProducer::send`]
//!   returns only once the broker has the record, or fails within the delivery timeout, so a
//!   caller never acknowledges what the log does not hold.
//! - [`KafkaConsumer`]: consumer groups with `enable.auto.offset.store=false`: an offset is
//!   stored ([`KafkaConsumer::processed`]) only after the caller made the record's effect
//!   durable, and auto-commit writes stored offsets. After a crash or a rebalance records since
//!   the last commit are delivered again; every effect is idempotent (ids, versions), so a
//!   replay changes nothing. Each consumer publishes how far behind it is, per partition, as
//!   the gauge `gridd_log_lag{consumer, topic, partition}` (from librdkafka's statistics); the
//!   group's own lag on every partition, held or not (during a rebalance, or by a frozen
//!   member), is `gridd_log_group_lag{group, topic, partition}` ([`group_lag`]); and
//!   a stopping consumer waits out a rebalance in progress (up to 15 s) before it leaves its
//!   group.
//!
//! Payloads are the protobuf messages of `proto/`, encoded by the roles.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::statistics::Statistics;
use tokio_util::sync::CancellationToken;

/// Topic names without the prefix.
pub mod topics {
    /// Validated reports.
    pub const INTAKE: &str = "intake";
    /// Router decisions.
    pub const DISPATCH: &str = "dispatch";
    /// Every ticket change.
    pub const TICKET_EVENTS: &str = "ticket-events";
    /// Records that cannot be processed.
    pub const DEAD_LETTER: &str = "dead-letter";
    /// All of them.
    pub const ALL: [&str; 4] = [INTAKE, DISPATCH, TICKET_EVENTS, DEAD_LETTER];
}

/// Why the log could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The broker did not take or give records in time; retry later.
    #[error("Kafka unavailable: {0}")]
    Unavailable(String),
    /// A client could not be created (bad settings).
    #[error("Kafka client settings: {0}")]
    Settings(String),
}

/// Where the broker is and how topics are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Prefix of every topic name, e.g. `gridd.`.
    pub prefix: String,
    /// How long a send may wait for the broker before failing.
    pub delivery_timeout: Duration,
}

impl KafkaSettings {
    /// Settings for `brokers` with the default prefix and a 10 s delivery timeout.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self { brokers: brokers.into(), prefix: "gridd.".into(), delivery_timeout: Duration::from_secs(10) }
    }

    fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("client.id", "gridd");
        config
    }
}

/// Waits a moment before a retry; false if shutdown came first.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(500)) => true,
        () = shutdown.cancelled() => false,
    }
}

fn unavailable(e: KafkaError) -> LogError {
    LogError::Unavailable(e.to_string())
}

/// Creates the topics that do not exist yet.
pub async fn ensure_topics(settings: &KafkaSettings, partitions: i32, replication: i32) -> Result<(), LogError> {
    let admin: AdminClient<DefaultClientContext> = settings.client().create().map_err(|e| LogError::Settings(e.to_string()))?;
    let names: Vec<String> = topics::ALL.iter().map(|t| settings.topic(t)).collect();
    let new: Vec<NewTopic<'_>> = names.iter().map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(replication))).collect();
    let options = AdminOptions::new().operation_timeout(Some(settings.delivery_timeout));
    for result in admin.create_topics(&new, &options).await.map_err(unavailable)? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(LogError::Unavailable(format!("creating topic {topic}: {code}"))),
        }
    }
    Ok(())
}

/// Where a sent record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Partition.
    pub partition: i32,
    /// Offset in it.
    pub offset: i64,
}

/// The idempotent producer.
///
/// An idempotent producer whose records timed out (a broker that stopped answering) must
/// restart its sequence; a broker may refuse that and fence it for good. A fenced or otherwise
/// fatally failed producer is replaced by a fresh one on the next send, so the process
/// recovers once the broker does. Records a failed send may still have delivered are sent
/// again under a new producer id, so consumers may see them twice; every consumer of gridd's
/// topics takes a repeated record as a no-op.
#[derive(Clone)]
pub struct KafkaProducer {
    current: std::sync::Arc<std::sync::RwLock<Generation>>,
    settings: KafkaSettings,
}

/// A producer and how many were created before it.
#[derive(Clone)]
struct Generation {
    number: u64,
    producer: FutureProducer,
}

impl KafkaProducer {
    /// A producer with `acks=all` and idempotence on.
    pub fn new(settings: &KafkaSettings) -> Result<Self, LogError> {
        let producer = Self::create(settings)?;
        Ok(Self { current: std::sync::Arc::new(std::sync::RwLock::new(Generation { number: 0, producer })), settings: settings.clone() })
    }

    fn create(settings: &KafkaSettings) -> Result<FutureProducer, LogError> {
        settings
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", settings.delivery_timeout.as_millis().to_string())
            .create()
            .map_err(|e| LogError::Settings(e.to_string()))
    }

    fn generation(&self) -> Generation {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces generation `failed` if it failed fatally (or was fenced) and is still the
    /// current one.
    fn replace_if_fatal(&self, failed: &Generation, error: &KafkaError) {
        let fenced = error.rdkafka_error_code() == Some(RDKafkaErrorCode::ProducerFenced);
        let Some((code, reason)) =
            failed.producer.client().fatal_error().or(fenced.then(|| (RDKafkaErrorCode::ProducerFenced, error.to_string())))
        else {
            return;
        };
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.number != failed.number {
            return;
        }
        match Self::create(&self.settings) {
            Ok(producer) => {
                tracing::warn!(%code, reason, "the Kafka producer failed fatally; replaced by a new one");
                *current = Generation { number: failed.number + 1, producer };
            }
            Err(e) => tracing::error!(error = %e, "the Kafka producer failed fatally and cannot be replaced"),
        }
    }

    /// Sends one record and waits until the broker has it.
    pub async fn send(&self, topic: &str, key: &str, payload: &[u8]) -> Result<Delivery, LogError> {
        let mut results = self.send_all(topic, &[(key, payload)]).await;
        results.pop().unwrap_or_else(|| Err(LogError::Unavailable("the record was not sent".into())))
    }

    /// Sends `records` (key, payload) to `topic` together, so the producer batches them, and
    /// waits until the broker has each or the delivery timeout has passed: one result per
    /// record, in order. They are handed to the producer in order, so the records of one
    /// partition keep their order; a failed record may be followed by later ones of other
    /// partitions that got through.
    pub async fn send_all(&self, topic: &str, records: &[(&str, &[u8])]) -> Vec<Result<Delivery, LogError>> {
        let (name, started) = (self.settings.topic(topic), std::time::Instant::now());
        let generation = self.generation();
        let mut deliveries = Vec::with_capacity(records.len());
        for (key, payload) in records {
            deliveries.push(self.enqueue(&generation, &name, key, payload).await);
        }
        let mut results = Vec::with_capacity(records.len());
        for delivery in deliveries {
            let delivered = match delivery {
                Ok(future) => match future.await {
                    Ok(Ok(d)) => Ok(Delivery { partition: d.partition, offset: d.offset }),
                    Ok(Err((e, _))) => Err(e),
                    Err(_) => Err(KafkaError::Canceled),
                },
                Err(e) => Err(e),
            };
            results.push(delivered.map_err(|e| {
                self.replace_if_fatal(&generation, &e);
                unavailable(e)
            }));
        }
        // From handing the first record over to the broker's answer for the last.
        metrics::histogram!("gridd_log_send_seconds", "topic" => topic.to_owned()).record(started.elapsed().as_secs_f64());
        results
    }

    /// Hands one record to `generation`'s producer, waiting while its queue is full (up to the
    /// delivery timeout).
    async fn enqueue(&self, generation: &Generation, topic: &str, key: &str, payload: &[u8]) -> Result<DeliveryFuture, KafkaError> {
        let deadline = tokio::time::Instant::now() + self.settings.delivery_timeout;
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        loop {
            match generation.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) if tokio::time::Instant::now() < deadline => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Checks that the broker answers a metadata request for the intake topic within `timeout`
    /// (a readiness probe).
    pub async fn ping(&self, timeout: Duration) -> Result<(), LogError> {
        let (producer, topic) = (self.generation().producer, self.settings.topic(topics::INTAKE));
        // The metadata call blocks its thread until the broker answers.
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(Some(&topic), timeout).map(drop).map_err(unavailable))
            .await
            .map_err(|e| LogError::Unavailable(e.to_string()))?
    }
}

/// One consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic, without the prefix.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key (empty if none).
    pub key: String,
    /// Payload.
    pub payload: Vec<u8>,
}

/// How often a consumer's statistics, and with them its lag gauges, are refreshed.
const STATISTICS_INTERVAL: Duration = Duration::from_secs(5);

/// What a consumer's client tells it besides records: its lag and its rebalances.
///
/// Lag: records of the partitions it reads that it has not marked processed, from
/// librdkafka's statistics, published as `gridd_log_lag{consumer, topic, partition}`; a
/// partition the consumer does not read (now) counts 0 here, so the sum over every process of
/// a group is the group's lag.
struct GroupMember {
    group: String,
    prefix: String,
    lag: std::sync::Mutex<Option<u64>>,
    /// True from joining (or a revocation) until partitions are assigned.
    rebalancing: std::sync::atomic::AtomicBool,
    /// When partitions were last assigned or revoked.
    last_rebalance: std::sync::Mutex<tokio::time::Instant>,
}

impl GroupMember {
    /// Records not processed yet of one partition: behind what was marked processed (stored),
    /// or, before anything was, behind the group's committed offset.
    fn partition_lag(p: &rdkafka::statistics::Partition) -> u64 {
        if p.fetch_state != "active" {
            return 0;
        }
        let lag = if p.consumer_lag_stored >= 0 { p.consumer_lag_stored } else { p.consumer_lag };
        u64::try_from(lag).unwrap_or(0)
    }

    fn rebalancing(&self) -> bool {
        self.rebalancing.load(std::sync::atomic::Ordering::Acquire)
    }

    fn last_rebalance(&self) -> tokio::time::Instant {
        *self.last_rebalance.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ClientContext for GroupMember {
    fn stats(&self, statistics: Statistics) {
        let mut total = 0;
        for (name, topic) in &statistics.topics {
            let topic_name = name.strip_prefix(self.prefix.as_str()).unwrap_or(name).to_owned();
            // Partition -1 is librdkafka's own, for records not yet assigned one.
            for (partition, p) in topic.partitions.iter().filter(|(id, _)| **id >= 0) {
                let lag = Self::partition_lag(p);
                total += lag;
                let labels = [("consumer", self.group.clone()), ("topic", topic_name.clone()), ("partition", partition.to_string())];
                metrics::gauge!("gridd_log_lag", &labels).set(lag as f64);
            }
        }
        *self.lag.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(total);
    }
}

/// Partitions of a list as `topic[partition]`, comma-separated, for the log.
fn describe(partitions: &rdkafka::TopicPartitionList) -> String {
    partitions.elements().iter().map(|p| format!("{}[{}]", p.topic(), p.partition())).collect::<Vec<_>>().join(", ")
}

impl ConsumerContext for GroupMember {
    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &rdkafka::consumer::Rebalance<'_>) {
        use rdkafka::consumer::Rebalance;
        let rebalancing = match rebalance {
            Rebalance::Assign(p) => {
                tracing::info!(group = %self.group, partitions = %describe(p), "partitions assigned");
                false
            }
            Rebalance::Revoke(p) => {
                tracing::info!(group = %self.group, partitions = %describe(p), "partitions revoked");
                true
            }
            Rebalance::Error(e) => {
                tracing::warn!(group = %self.group, error = %e, "rebalance failed");
                true
            }
        };
        self.rebalancing.store(rebalancing, std::sync::atomic::Ordering::Release);
        *self.last_rebalance.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = tokio::time::Instant::now();
    }
}

/// How often a consumer heartbeats; a rebalance another member started reaches it with the
/// next heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A stopping consumer leaves once its group has been settled this long (two heartbeats
/// without news of a rebalance)…
const SETTLED_FOR: Duration = Duration::from_secs(2);
/// …or once it has waited this long.
const SETTLE_LIMIT: Duration = Duration::from_secs(15);

/// A consumer in a group; offsets are stored only when the caller says a record is done.
pub struct KafkaConsumer {
    consumer: StreamConsumer<GroupMember>,
    settings: KafkaSettings,
    /// Publishes the whole group's lag while this consumer lives.
    _group_lag: GroupLagWatch,
}

impl KafkaConsumer {
    /// Joins `group` on `topics` (both named without the prefix, so deployments sharing a
    /// broker under different prefixes never share a group), from the earliest offset when the
    /// group has none.
    pub fn new(settings: &KafkaSettings, group: &str, topics: &[&str]) -> Result<Self, LogError> {
        let consumer: StreamConsumer<GroupMember> = settings
            .client()
            .set("group.id", settings.topic(group))
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("auto.commit.interval.ms", "1000")
            // The default eager assignment. cooperative-sticky kept the survivors of a killed
            // member at work (benches/README), but on tansu a member that stopped while the
            // others were joining once left a partition with no owner for over a minute.
            // Dynamic membership too: with `group.instance.id`, tansu 0.6 never expired a
            // killed static member, and its partitions stayed with it (benches/README).
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", HEARTBEAT.as_millis().to_string())
            .set("statistics.interval.ms", STATISTICS_INTERVAL.as_millis().to_string())
            .create_with_context(GroupMember {
                group: group.to_owned(),
                prefix: settings.prefix.clone(),
                lag: Default::default(),
                rebalancing: true.into(),
                last_rebalance: std::sync::Mutex::new(tokio::time::Instant::now()),
            })
            .map_err(|e| LogError::Settings(e.to_string()))?;
        let names: Vec<String> = topics.iter().map(|t| settings.topic(t)).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).map_err(|e| LogError::Settings(e.to_string()))?;
        let group_lag = GroupLagWatch::start(settings, group, topics)?;
        Ok(Self { consumer, settings: settings.clone(), _group_lag: group_lag })
    }

    /// Records of this consumer's partitions not marked processed yet, as of its latest
    /// statistics (refreshed every few seconds); `None` before the first.
    pub fn lag(&self) -> Option<u64> {
        *self.consumer.context().lag.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next record.
    pub async fn recv(&self) -> Result<Record, LogError> {
        let message = self.consumer.recv().await.map_err(unavailable)?;
        let topic = message.topic().strip_prefix(self.settings.prefix.as_str()).unwrap_or(message.topic()).to_owned();
        Ok(Record {
            topic,
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        })
    }

    /// Marks `record` done: its offset is committed with the next auto-commit. Call only once
    /// the record's effect is durable.
    pub fn processed(&self, record: &Record) -> Result<(), LogError> {
        // librdkafka stores `offset + 1`, the next record to read.
        self.consumer.store_offset(&self.settings.topic(&record.topic), record.partition, record.offset).map_err(unavailable)
    }

    /// The next records: waits for one (through broker failures), then takes whatever else
    /// is ready, up to `max`, without waiting for more. `None` on shutdown.
    pub async fn next_batch(&self, shutdown: &CancellationToken, max: usize) -> Option<Vec<Record>> {
        let first = self.next_or_shutdown(shutdown).await?;
        let mut batch = vec![first];
        while batch.len() < max {
            // A zero timeout still polls the receive once: a record already fetched is taken.
            match tokio::time::timeout(Duration::ZERO, self.recv()).await {
                Ok(Ok(record)) => batch.push(record),
                _ => break,
            }
        }
        Some(batch)
    }

    /// Leaves the group: commits the stored offsets and waits out a rebalance in progress (see
    /// [`Self::settle`]).
    pub async fn leave(&self) {
        if let Err(e) = self.commit_now() {
            tracing::warn!(error = %e, "committing offsets on shutdown");
        }
        self.settle(SETTLE_LIMIT).await;
    }

    /// Waits (up to `limit`) until the group has been settled for [`SETTLED_FOR`], so that this
    /// member leaves a settled group: a member that leaves while the others are rejoining (say,
    /// a new process joined a moment ago) can leave the group waiting for it (on tansu, with no
    /// partition assigned to anyone for more than 90 s, as long as we watched). Records that arrive meanwhile are not processed; their offsets are not
    /// stored, so they go to whoever owns them next.
    async fn settle(&self, limit: Duration) {
        let member = self.consumer.context();
        let started = tokio::time::Instant::now();
        let settled = || !member.rebalancing() && member.last_rebalance().max(started).elapsed() >= SETTLED_FOR;
        while !settled() && started.elapsed() < limit {
            // Polling is what moves a rebalance on.
            let _ = tokio::time::timeout(Duration::from_millis(100), self.consumer.recv()).await;
        }
        if member.rebalancing() {
            tracing::warn!(group = %member.group, "leaving the group in the middle of a rebalance");
        }
    }

    /// The next record, waiting out broker failures; `None` on shutdown.
    async fn next_or_shutdown(&self, shutdown: &CancellationToken) -> Option<Record> {
        loop {
            let received = tokio::select! {
                r = self.recv() => r,
                () = shutdown.cancelled() => return None,
            };
            match received {
                Ok(record) => return Some(record),
                Err(e) => {
                    tracing::warn!(error = %e, "consuming; retrying");
                    if !pause(shutdown).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Commits what is stored now (on shutdown), waiting for the broker.
    pub fn commit_now(&self) -> Result<(), LogError> {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// How long one question to the broker about a group's lag may take.
const GROUP_LAG_TIMEOUT: Duration = Duration::from_secs(5);

/// How far a consumer group is behind on every partition of `topics` (named without the
/// prefix): each partition's high watermark less the offset the group committed on it (or
/// its low watermark, where the group never committed), by (topic, partition).
///
/// It asks the broker, not the members: a partition counts while nobody holds it, in the
/// middle of a rebalance, or while its member is frozen. Blocking.
pub fn group_lag(
    settings: &KafkaSettings,
    group: &str,
    topics: &[&str],
) -> Result<std::collections::BTreeMap<(String, i32), u64>, LogError> {
    let observer = GroupObserver::new(settings, group)?;
    observer.lag(topics)
}

/// A client that reads a group's committed offsets without joining it (it never subscribes).
struct GroupObserver {
    consumer: rdkafka::consumer::BaseConsumer,
    settings: KafkaSettings,
}

impl GroupObserver {
    fn new(settings: &KafkaSettings, group: &str) -> Result<Self, LogError> {
        let consumer = settings
            .client()
            .set("group.id", settings.topic(group))
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| LogError::Settings(e.to_string()))?;
        Ok(Self { consumer, settings: settings.clone() })
    }

    fn lag(&self, topics: &[&str]) -> Result<std::collections::BTreeMap<(String, i32), u64>, LogError> {
        use rdkafka::Offset;
        let mut partitions = rdkafka::TopicPartitionList::new();
        for topic in topics {
            let name = self.settings.topic(topic);
            let metadata = self.consumer.fetch_metadata(Some(&name), GROUP_LAG_TIMEOUT).map_err(unavailable)?;
            for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
                partitions.add_partition(&name, p.id());
            }
        }
        let committed = self.consumer.committed_offsets(partitions, GROUP_LAG_TIMEOUT).map_err(unavailable)?;
        let mut lag = std::collections::BTreeMap::new();
        for element in committed.elements() {
            let (low, high) =
                self.consumer.fetch_watermarks(element.topic(), element.partition(), GROUP_LAG_TIMEOUT).map_err(unavailable)?;
            let from = match element.offset() {
                Offset::Offset(committed) => committed,
                _ => low,
            };
            let topic = element.topic().strip_prefix(self.settings.prefix.as_str()).unwrap_or(element.topic()).to_owned();
            lag.insert((topic, element.partition()), u64::try_from(high - from).unwrap_or(0));
        }
        Ok(lag)
    }
}

/// Publishes [`group_lag`] as `gridd_log_group_lag{group, topic, partition}` every
/// [`STATISTICS_INTERVAL`], on a thread of its own (the broker questions block), until dropped.
/// Every member of a group publishes the same figures: take their maximum, not their sum.
struct GroupLagWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl GroupLagWatch {
    fn start(settings: &KafkaSettings, group: &str, topics: &[&str]) -> Result<Self, LogError> {
        let observer = GroupObserver::new(settings, group)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stopped, group, topics) = (stop.clone(), group.to_owned(), topics.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>());
        std::thread::Builder::new()
            .name(format!("gridd-lag-{group}"))
            .spawn(move || {
                let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
                while !stopped.load(std::sync::atomic::Ordering::Acquire) {
                    match observer.lag(&topics) {
                        Ok(lag) => {
                            for ((topic, partition), records) in lag {
                                let labels = [("group", group.clone()), ("topic", topic), ("partition", partition.to_string())];
                                metrics::gauge!("gridd_log_group_lag", &labels).set(records as f64);
                            }
                        }
                        Err(e) => tracing::debug!(group, error = %e, "the group's lag is unknown for now"),
                    }
                    // In short steps, so a dropped consumer's thread ends soon.
                    for _ in 0..STATISTICS_INTERVAL.as_millis() / 100 {
                        if stopped.load(std::sync::atomic::Ordering::Acquire) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
            .map_err(|e| LogError::Settings(format!("cannot start the group lag thread: {e}")))?;
        Ok(Self { stop })
    }
}

impl Drop for GroupLagWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
    }
}
