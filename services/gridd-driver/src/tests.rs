//! The embedded driver on a real SQLite file, with a role that copies text records from the
//! intake log to the dispatch log and can be told to refuse, to corrupt, or to fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gridd_core::time::Timestamp;
use gridd_store::sqlite::SqliteStore;
use gridd_store::{ReadTx, Signal, StoreError, WriteTx, topics};

use super::*;

/// Copies each text record to the dispatch log. `refused` is poison on its own; `corrupt`
/// fails its whole batch as corrupt data; the first `failures` transactions fail as the
/// database would when it is unreachable.
#[derive(Clone)]
struct Copier {
    store: SqliteStore,
    failures: Arc<AtomicUsize>,
}

impl Role for Copier {
    type Item = String;
    type Store = SqliteStore;
    const NAME: &'static str = "copier";
    const TOPIC: &'static str = topics::INTAKE;
    const SIGNAL: Signal = Signal::Intake;
    const BATCH: usize = 4;

    fn store(&self) -> &SqliteStore {
        &self.store
    }

    fn decode(payload: &[u8]) -> Result<String, String> {
        String::from_utf8(payload.to_vec()).map_err(|_| "not text".to_owned())
    }

    fn apply(&self, tx: &mut dyn WriteTx, items: &[String]) -> Result<Vec<Verdict>, StoreError> {
        let failing = self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if failing {
            return Err(StoreError::Backend("database is locked".into()));
        }
        let mut verdicts = Vec::new();
        for item in items {
            match item.as_str() {
                "refused" => verdicts.push(Verdict::Poison("refused by the role".into())),
                "corrupt" => return Err(StoreError::Corrupt("stored case unreadable".into())),
                text => {
                    tx.append_log(topics::DISPATCH, "copy", text.as_bytes(), Timestamp::from_millis(0))?;
                    verdicts.push(Verdict::Applied);
                }
            }
        }
        Ok(verdicts)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    role: Copier,
}

fn fixture(failures: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("gridd.db")).expect("open store");
    Fixture { _dir: dir, role: Copier { store, failures: Arc::new(AtomicUsize::new(failures)) } }
}

async fn append(store: &SqliteStore, payloads: &[&[u8]]) {
    let payloads: Vec<Vec<u8>> = payloads.iter().map(|p| p.to_vec()).collect();
    store
        .write(move |tx| {
            for p in &payloads {
                tx.append_log(topics::INTAKE, "k", p, Timestamp::from_millis(0))?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .expect("append");
}

/// The dispatch log's payloads as text, and the intake log's dead letters' reasons.
async fn outcome(store: &SqliteStore) -> (Vec<String>, Vec<String>) {
    store
        .read(|tx: &mut dyn ReadTx| {
            let copies = tx.read_log(topics::DISPATCH, 0, 1000)?;
            let dead = tx.dead_letters(topics::INTAKE)?;
            Ok::<_, StoreError>((
                copies.iter().map(|r| String::from_utf8_lossy(&r.payload).into_owned()).collect(),
                dead.into_iter().map(|(_, reason)| reason).collect(),
            ))
        })
        .await
        .expect("read")
}

/// Runs the embedded driver until the role has consumed the whole intake log.
async fn drive(role: &Copier) {
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run_embedded(role.clone(), shutdown.clone()));
    let store = role.store.clone();
    let caught_up = async {
        loop {
            let (position, end) = store
                .read(|tx: &mut dyn ReadTx| Ok::<_, StoreError>((tx.position(Copier::NAME, topics::INTAKE)?, tx.log_end(topics::INTAKE)?)))
                .await
                .expect("read position");
            if position > end {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), caught_up).await.expect("the driver consumed the log");
    shutdown.cancel();
    running.await.expect("driver task");
}

#[tokio::test]
async fn every_record_is_applied_once_in_order_across_batches() {
    let f = fixture(0);
    let texts: Vec<String> = (1..=10).map(|n| format!("r{n}")).collect();
    let payloads: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
    append(&f.role.store, &payloads).await;
    drive(&f.role).await;
    let (copies, dead) = outcome(&f.role.store).await;
    assert_eq!(copies, texts, "ten records in three batches of at most four, each copied once, in order");
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
}

#[tokio::test]
async fn poison_records_go_to_the_dead_letters_and_the_rest_of_their_batch_is_applied() {
    let f = fixture(0);
    // The first batch holds all three kinds of poison: one that does not decode, one the role
    // refuses and one that fails the whole batch's transaction.
    append(&f.role.store, &[b"a", b"\xff\xfe", b"refused", b"corrupt", b"b", b"c"]).await;
    drive(&f.role).await;
    let (copies, dead) = outcome(&f.role.store).await;
    assert_eq!(copies, ["a", "b", "c"], "the good records of the poisoned batch and after it");
    assert_eq!(dead.len(), 3, "each poison record dead-lettered once: {dead:?}");
    assert!(dead[0].contains("not text"), "the decoding error: {}", dead[0]);
    assert!(dead[1].contains("refused by the role"), "the role's reason: {}", dead[1]);
    assert!(dead[2].contains("stored case unreadable"), "the corrupt data: {}", dead[2]);
}

#[tokio::test]
async fn a_failing_store_is_retried_and_nothing_is_skipped() {
    let f = fixture(2);
    append(&f.role.store, &[b"x", b"y"]).await;
    drive(&f.role).await;
    let (copies, dead) = outcome(&f.role.store).await;
    assert_eq!(copies, ["x", "y"], "applied once the store answers again");
    assert!(dead.is_empty(), "a failure that may pass is never dead-lettered: {dead:?}");
    assert_eq!(f.role.failures.load(Ordering::SeqCst), 0, "both failures were met");
}

#[test]
fn store_errors_are_typed_as_retry_or_poison() {
    assert!(matches!(Failure::from(StoreError::Backend("connection refused".into())), Failure::Retry(_)));
    assert!(matches!(Failure::from(StoreError::Corrupt("bad json".into())), Failure::Poison(_)));
    assert!(matches!(Failure::from(LogError::Unavailable("broker down".into())), Failure::Retry(_)));
}
