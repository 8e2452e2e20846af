//! The Kafka adapter against the real broker the test script started
//! (`GRIDD_TEST_KAFKA_BROKERS`): never skipped for want of one.

use std::time::Duration;

use gridd_log::{KafkaConsumer, KafkaProducer, KafkaSettings, ensure_topics, topics};

fn settings() -> KafkaSettings {
    let brokers = std::env::var("GRIDD_TEST_KAFKA_BROKERS")
        .unwrap_or_else(|_| panic!("GRIDD_TEST_KAFKA_BROKERS is not set: run the suite with tests/run.sh, which starts a broker"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut s = KafkaSettings::new(brokers);
    // Topics of this test only.
    s.prefix = format!("test-{}-{nanos}.", std::process::id());
    s
}

async fn recv(consumer: &KafkaConsumer) -> gridd_log::Record {
    tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await.expect("a record in time").expect("consume")
}

#[tokio::test]
async fn a_group_resumes_after_the_last_processed_record() {
    let s = settings();
    ensure_topics(&s, 1, 1).await.expect("topics");
    ensure_topics(&s, 1, 1).await.expect("creating existing topics is fine");
    let producer = KafkaProducer::new(&s).expect("producer");
    for i in 0..10 {
        let delivery = producer.send(topics::INTAKE, &format!("k{i}"), format!("record {i}").as_bytes()).await.expect("delivered");
        assert_eq!(delivery.offset, i, "one partition: offsets in send order");
    }
    {
        let consumer = KafkaConsumer::new(&s, "router", &[topics::INTAKE]).expect("consumer");
        for i in 0..10 {
            let r = recv(&consumer).await;
            assert_eq!(
                (r.topic.as_str(), r.key.clone(), r.payload.clone()),
                (topics::INTAKE, format!("k{i}"), format!("record {i}").into_bytes())
            );
            // Only the first six are durable when the consumer stops.
            if i < 6 {
                consumer.processed(&r).expect("store offset");
            }
        }
        // Its lag counts the four it read but did not mark processed. (Statistics arrive while
        // the consumer polls; there is nothing more to read.)
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while consumer.lag() != Some(4) {
            assert!(tokio::time::Instant::now() < deadline, "the lag never showed the four unprocessed records: {:?}", consumer.lag());
            let nothing = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
            assert!(nothing.is_err(), "no eleventh record");
        }
        consumer.commit_now().expect("commit");
    }
    let again = KafkaConsumer::new(&s, "router", &[topics::INTAKE]).expect("consumer");
    let first = recv(&again).await;
    assert_eq!((first.offset, first.key.as_str()), (6, "k6"), "what was not processed is delivered again, nothing earlier");
    // Another group reads everything from the start.
    let other = KafkaConsumer::new(&s, "audit", &[topics::INTAKE]).expect("consumer");
    assert_eq!(recv(&other).await.offset, 0);
}
