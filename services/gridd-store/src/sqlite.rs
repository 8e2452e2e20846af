//! The embedded backend: one SQLite file in WAL mode with `synchronous = FULL`, so a commit
//! is on disk before it is acknowledged and a crash (even `kill -9`) loses nothing committed.
//! A group of the roles' writes alone ([`Store::write_redoable`]) is committed without waiting
//! for the disk: a power cut could undo it, and the role would redo it from its position.
//!
//! SQLite has one writer at a time: writes go through one connection, owned by a thread of its
//! own that commits them in groups, which also serialises the roles' transactions. Reads use a
//! small pool of their own connections and see a consistent snapshot while writes go on (WAL).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use geo::Point;
use gridd_core::assessment::Entry;
use gridd_core::category::CategoryCode;
use gridd_core::dedup::KnownCase;
use gridd_core::ids::{Reference, SquadId, TicketId};
use gridd_core::report::{Channel, ReportSummary};
use gridd_core::ticket::{FeedKind, Ticket, TicketState, Timer};
use gridd_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use tokio::sync::watch;

use crate::codec::{
    ALL_REPORTS_SQL, OVERDUE_OPEN_SQL, REPORT_ENDS_SQL, UNFINISHED_BY_STATE_SQL, as_i64, cameras_from_json, cameras_json, cases_of,
    channel_from, corrupt, counts_by_state, feed_kind_from, feed_kind_text, history_may_go, history_trim, report_changes, report_from_json,
    report_json, seq, ticket_from_json, ticket_json, timer_kind_from, timer_kind_text,
};
use crate::squares::{square_of, squares_covering};
use crate::{
    Account, AuditEntry, FeedEntry, FrozenPeriod, HistoryTrim, IntakeKeyEntry, LedgerLine, LiveCounts, LogRecord, MachineKey,
    OpenTicketCounts, Photo, ReadTx, ReportStatus, Session, Signal, Signals, Store, StoreError, TicketFilter, Touched, WriteTx,
    assessment_totals, units_column,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_decisions_and_unique_references.sql"),
    include_str!("../migrations/sqlite/0003_access.sql"),
    include_str!("../migrations/sqlite/0004_terminal_and_console.sql"),
    include_str!("../migrations/sqlite/0005_assessment.sql"),
    include_str!("../migrations/sqlite/0006_router_cases_by_place.sql"),
    include_str!("../migrations/sqlite/0007_case_reports.sql"),
    include_str!("../migrations/sqlite/0008_ticket_events_by_case.sql"),
    include_str!("../migrations/sqlite/0009_tickets_with_rowids.sql"),
    include_str!("../migrations/sqlite/0010_log_table_per_topic.sql"),
    include_str!("../migrations/sqlite/0011_router_cases_by_square.sql"),
];
const READERS: usize = 4;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

struct Inner {
    /// Writes waiting for the writer thread ([`write_loop`]).
    writes: Arc<WriteQueue>,
    /// The writer thread, joined when the store is dropped: the file is closed by then.
    writer_thread: Option<std::thread::JoinHandle<()>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    signals: Arc<Signals>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.writes.queue).closed = true;
        self.writes.work.notify_one();
        let Some(thread) = self.writer_thread.take() else { return };
        // A write's closure holding the last handle would drop it on the writer thread itself.
        if thread.thread().id() != std::thread::current().id() && thread.join().is_err() {
            tracing::error!("the SQLite writer thread panicked");
        }
    }
}

/// The SQLite store. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// Prepared statements a connection keeps: more than gridd's fixed statements.
const STATEMENT_CACHE: usize = 256;

/// Page cache of the one writer, in KiB. SQLite's default (2 MiB) is less than the pages the
/// writer touches again and again (the right edges of the logs, the indexes by reference and
/// by key), so under load it kept reading them back from the file. 64 MiB read no fewer back
/// than 16, and cost more at every commit, where SQLite walks its cache to drop pages.
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// How long commits that did not wait for the disk may stay unsynced when nothing else is
/// written. Under load a client's write follows a role's batch within a millisecond or two,
/// and its fsync covers the batch, so waiting that long spares an fsync per batch; it also
/// delays the pushes to terminals and dashboards that the batch holds by as much.
const SYNC_DELAY: std::time::Duration = std::time::Duration::from_millis(2);

/// How long after a failed sync of those commits the writer tries again, if no durable commit
/// has made them durable meanwhile.
const SYNC_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Page size of a new database file. The log, the reports and most tables are WITHOUT ROWID
/// tables, which keep a row on its B-tree page only up to about a quarter of the page: 1 KB
/// with SQLite's default 4 KiB pages. A hotline call with a 300-character description makes
/// intake, dispatch and ticket-event records of 1.0-1.4 KB, so each took an overflow page
/// of its own, mostly empty: 21.8 KB of file per report. With 8 KiB pages rows of up to 2 KB
/// stay on the page (8.8 KB per report), while short reports and single commits cost the same.
/// A file created with other pages keeps them (deploy/README says how to convert one).
const PAGE_SIZE: i64 = 8192;

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Only a file with no tables yet takes it, so before anything writes (WAL included).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A group run again after a failed write runs each write in a savepoint, whose undo pages
    // SQLite keeps in a temporary file once they pass 64 KiB: a file written (and closed) for
    // that group. They are needed only until the group commits, so they stay in memory.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Plans that never depend on bound values: without this, the bundled SQLite (built with
    // STAT4) compiles a statement again whenever a parameter compared to an indexed column
    // changes, which was most of the writer's time under load.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Every statement gridd runs stays prepared (the default keeps 16, fewer than the tracker
    // alone uses per change).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {current}, newer than this gridd ({}); refusing to open it",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", as_i64(i as u64 + 1))?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = connect(path)?;
        writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        migrate(&mut writer)?;
        let readers = (0..READERS).map(|_| connect(path).map(Mutex::new)).collect::<Result<Vec<_>, _>>()?;
        let signals = Arc::new(Signals::new());
        let writer = Writer::new(writer, path);
        let writes = Arc::new(WriteQueue::default());
        let writer_thread = std::thread::Builder::new()
            .name("gridd-sqlite-writer".into())
            .spawn({
                let (writes, signals) = (writes.clone(), signals.clone());
                move || write_loop(writer, &writes, &signals)
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the SQLite writer thread: {e}")))?;
        let inner = Inner { writes, writer_thread: Some(writer_thread), readers, next_reader: AtomicUsize::new(0), signals };
        Ok(Self { inner: Arc::new(inner) })
    }

    fn queue_write<R, E, F>(&self, f: F, redoable: bool) -> impl Future<Output = Result<R, E>> + Send + use<R, E, F>
    where
        F: Fn(&mut dyn WriteTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<R, E>>();
        let write = Box::new(Write { f, answer, result: None });
        self.inner.writes.push(Queued { write, redoable });
        async move {
            answered.await.unwrap_or_else(|_| Err(StoreError::Backend("the write's group failed before it was answered".into()).into()))
        }
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        let i = self.inner.next_reader.fetch_add(1, Ordering::Relaxed) % self.inner.readers.len();
        lock(&self.inner.readers[i])
    }
}

/// The statements on one topic's table of the log. Each topic has a table of its own, its
/// seq the rowid (migration 0010): every append lands at the right end of its B-tree.
struct LogTable {
    read: &'static str,
    end: &'static str,
    /// Appends with the next seq: SQLite gives a rowid one past the largest, and the newest
    /// record is never trimmed, so seqs go on from the last one ever appended.
    append: &'static str,
    /// The bounds are uncorrelated subqueries, evaluated once; the delete is a range of the
    /// rowid.
    trim: &'static str,
}

// One statement per line reads better than the formatter's one argument per line.
#[rustfmt::skip]
macro_rules! log_table {
    ($table:literal) => {
        LogTable {
            read: concat!("SELECT seq, key, payload, appended_at FROM ", $table, " WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
            end: concat!("SELECT COALESCE(MAX(seq), 0) FROM ", $table),
            append: concat!("INSERT INTO ", $table, " (key, payload, appended_at) VALUES (?1, ?2, ?3) RETURNING seq"),
            trim: concat!(
                "DELETE FROM ", $table, " WHERE seq < MIN( \
                   COALESCE((SELECT MIN(next_seq) FROM consumer_positions WHERE topic = ?1), 0), \
                   COALESCE((SELECT seq FROM ", $table, " WHERE appended_at >= ?2 ORDER BY seq LIMIT 1), 9223372036854775807), \
                   (SELECT COALESCE(MAX(seq), 0) FROM ", $table, "), \
                   (SELECT COALESCE(MIN(seq), 0) FROM ", $table, ") + ?3)"
            ),
        }
    };
}

const INTAKE_LOG: LogTable = log_table!("log_intake");
const DISPATCH_LOG: LogTable = log_table!("log_dispatch");
const TICKET_EVENTS_LOG: LogTable = log_table!("log_ticket_events");

/// The table of `topic`; there is one per topic in [`crate::topics`].
fn log_table(topic: &str) -> Result<&'static LogTable, StoreError> {
    match topic {
        crate::topics::INTAKE => Ok(&INTAKE_LOG),
        crate::topics::DISPATCH => Ok(&DISPATCH_LOG),
        crate::topics::TICKET_EVENTS => Ok(&TICKET_EVENTS_LOG),
        other => Err(StoreError::Backend(format!("the embedded log has no topic {other:?}"))),
    }
}

/// Locks a connection, the writer or the queue. A poisoned mutex only means another thread
/// panicked while holding it; SQLite rolled that transaction back, so the connection is still
/// usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn blocking<R: Send + 'static, E: From<StoreError> + Send + 'static>(
    f: impl FnOnce() -> Result<R, E> + Send + 'static,
) -> Result<R, E> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(StoreError::Backend(format!("store task failed: {e}")).into()))
}

/// A write waiting for the writer, and whether its group may commit without the fsync.
struct Queued {
    write: Box<dyn GroupedWrite>,
    redoable: bool,
}

/// A write as its group runs it: once, or again if another write of the group failed
/// ([`run_group`]); a write's closure may run more than once, as on PostgreSQL.
trait GroupedWrite: Send {
    /// Runs the write in the group's transaction, in a savepoint of its own if `alone`.
    fn run(&mut self, conn: &Connection, alone: bool) -> Ran;
    /// Answers with the last run's result, or with the error of the commit that failed it.
    fn answer(self: Box<Self>, commit: Option<&StoreError>);
}

/// What running one write left.
struct Ran {
    touched: Touched,
    failed: bool,
    /// False if a failed write could not be rolled back to its savepoint: then the whole
    /// group is rolled back rather than commit part of it.
    sound: bool,
}

/// A write's closure, its answer, and the result of its last run.
struct Write<F, R, E> {
    f: F,
    answer: tokio::sync::oneshot::Sender<Result<R, E>>,
    result: Option<Result<R, E>>,
}

impl<F, R, E> GroupedWrite for Write<F, R, E>
where
    F: Fn(&mut dyn WriteTx) -> Result<R, E> + Send,
    R: Send,
    E: From<StoreError> + Send,
{
    fn run(&mut self, conn: &Connection, alone: bool) -> Ran {
        let (result, touched, sound) = if alone {
            run_in_savepoint(conn, &self.f)
        } else {
            let mut tx = Tx { conn, touched: Touched::default() };
            let result = (self.f)(&mut tx);
            (result, tx.touched, true)
        };
        let failed = result.is_err();
        self.result = Some(result);
        Ran { touched: if failed { Touched::default() } else { touched }, failed, sound }
    }

    fn answer(self: Box<Self>, commit: Option<&StoreError>) {
        let answer = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Some(e)) => Err(e.clone().into()),
            (Some(Ok(out)), None) => Ok(out),
            (None, _) => {
                Err(commit.cloned().unwrap_or_else(|| StoreError::Backend("the write's transaction could not be started".into())).into())
            }
        };
        let _ = self.answer.send(answer);
    }
}

/// The writes waiting for the writer thread, and what wakes it.
#[derive(Default)]
struct WriteQueue {
    queue: Mutex<Queue>,
    /// Signalled when a write arrives while the writer waits, and when the store is dropped.
    work: Condvar,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Queued>,
    /// True while the writer thread waits for work: only then does a new write wake it, so
    /// writes that arrive during a group cost no system call.
    idle: bool,
    /// Set when the store is dropped: the writer runs what is queued and ends.
    closed: bool,
}

/// What the writer thread does next.
enum Next {
    Group(Vec<Queued>),
    /// Make the commits that did not wait for the disk durable.
    Sync,
    Stop,
}

impl WriteQueue {
    fn push(&self, write: Queued) {
        let mut queue = lock(&self.queue);
        queue.pending.push(write);
        if std::mem::take(&mut queue.idle) {
            self.work.notify_one();
        }
    }

    /// Waits for the writer's next task. Once the queue is empty behind commits that did not
    /// wait for the disk (`unsynced`), their sync falls due [`SYNC_DELAY`] later, unless a
    /// durable commit clears `sync_due` first; a due sync goes before the next group.
    fn next(&self, sync_due: &mut Option<Instant>, unsynced: bool) -> Next {
        let mut queue = lock(&self.queue);
        loop {
            if sync_due.is_some_and(|due| Instant::now() >= due) {
                return Next::Sync;
            }
            if !queue.pending.is_empty() {
                return Next::Group(std::mem::take(&mut queue.pending));
            }
            if queue.closed {
                return Next::Stop;
            }
            if unsynced && sync_due.is_none() {
                *sync_due = Some(Instant::now() + SYNC_DELAY);
            }
            queue.idle = true;
            queue = match *sync_due {
                Some(due) => {
                    let wait = due.saturating_duration_since(Instant::now());
                    self.work.wait_timeout(queue, wait).map_or_else(|poisoned| poisoned.into_inner().0, |(queue, _)| queue)
                }
                None => self.work.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner),
            };
            queue.idle = false;
        }
    }
}

/// The writer thread: group commit. Every write waiting runs in one transaction, which commits
/// once (one fsync for the group); only then are they all answered. A write that fails changes
/// nothing ([`run_group`]); a failed commit fails every write of the group. A group of redoable
/// writes alone commits without the fsync; a later group's fsync, or a sync soon after the
/// queue runs empty, covers it.
fn write_loop(mut writer: Writer, writes: &WriteQueue, signals: &Signals) {
    let mut sync_due = None;
    loop {
        match writes.next(&mut sync_due, writer.unsynced) {
            Next::Group(group) => {
                // A panicking write drops its group's answers, which fails each of those writes,
                // and its transaction, which rolls back; the writer goes on with the next group.
                let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit_group(&mut writer, group, signals)));
                if committed.is_err() {
                    tracing::error!("a write panicked; its group was rolled back and its writes failed");
                }
                if !writer.unsynced {
                    sync_due = None;
                }
            }
            Next::Sync => {
                signals.notify(&writer.settle());
                // A failed sync (logged) is tried again a second later, not every SYNC_DELAY.
                sync_due = writer.unsynced.then(|| Instant::now() + SYNC_RETRY);
            }
            Next::Stop => {
                writer.settle();
                return;
            }
        }
    }
}

/// Runs one group and answers its writes once its commit is known.
fn commit_group(writer: &mut Writer, group: Vec<Queued>, signals: &Signals) {
    let durable = group.iter().any(|q| !q.redoable);
    metrics::histogram!("gridd_store_group_writes").record(group.len() as f64);
    let mut writes: Vec<Box<dyn GroupedWrite>> = group.into_iter().map(|q| q.write).collect();
    let started = Instant::now();
    let (outcome, touched) = writer.run_group(&mut writes, durable);
    metrics::histogram!("gridd_store_commit_seconds").record(started.elapsed().as_secs_f64());
    if outcome.is_ok() {
        signals.notify(&writer.committed(touched, durable));
    }
    for write in writes {
        write.answer(outcome.as_ref().err());
    }
}

/// The one writing connection, and what its commits left that is not yet on disk.
struct Writer {
    conn: Connection,
    /// Its WAL file, where commits go first; `None` for a database without a file.
    wal_path: Option<PathBuf>,
    /// The WAL file, opened at the first sync of commits made without one.
    wal: Option<File>,
    /// `synchronous` as last set: true for FULL, the commit waits for the disk.
    waits_for_disk: bool,
    /// True if a commit since the last durable one did not wait for the disk.
    unsynced: bool,
    /// What those commits touched that reaches outside the engine: woken once they are durable.
    held: Touched,
}

impl Writer {
    fn new(conn: Connection, path: &Path) -> Self {
        // SQLite names the log after the database file; a database in memory has neither.
        let wal_path = conn.path().filter(|p| !p.is_empty()).map(|_| {
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            PathBuf::from(wal)
        });
        Self { conn, wal_path, wal: None, waits_for_disk: true, unsynced: false, held: Touched::default() }
    }

    /// Runs a group of writes in one transaction and commits it, waiting for the disk if
    /// `durable`.
    fn run_group(&mut self, writes: &mut [Box<dyn GroupedWrite>], durable: bool) -> (Result<(), StoreError>, Touched) {
        if let Err(e) = self.wait_for_disk(durable) {
            tracing::error!(error = %e, writes = writes.len(), "could not set how a write transaction commits");
            return (Err(StoreError::from(e)), Touched::default());
        }
        run_group(&mut self.conn, writes)
    }

    /// Sets whether the next commit waits for the disk (`synchronous` FULL) or not (NORMAL:
    /// the log's commits still reach the disk in order, so a later durable one covers it).
    fn wait_for_disk(&mut self, wait: bool) -> rusqlite::Result<()> {
        if self.waits_for_disk != wait {
            self.conn.pragma_update(None, "synchronous", if wait { "FULL" } else { "NORMAL" })?;
            self.waits_for_disk = wait;
        }
        Ok(())
    }

    /// What a commit wakes now: after a durable commit, everything it touched and everything
    /// held before it; otherwise only the engine's own waits, the rest held.
    fn committed(&mut self, mut touched: Touched, durable: bool) -> Touched {
        if durable {
            self.unsynced = false;
            touched.extend(std::mem::take(&mut self.held));
            return touched;
        }
        self.unsynced = true;
        self.held.extend(touched.take_outside());
        touched
    }

    /// Makes the commits that did not wait for the disk durable and returns the signals they
    /// held. If the sync fails they stay held, and the next durable commit (whose own fsync
    /// then has to succeed) or the next scheduled sync releases them.
    fn settle(&mut self) -> Touched {
        if !self.unsynced {
            return Touched::default();
        }
        match self.sync_wal() {
            Ok(()) => {
                self.unsynced = false;
                std::mem::take(&mut self.held)
            }
            Err(e) => {
                tracing::error!(error = %e, wal = ?self.wal_path, "could not sync the write-ahead log");
                Touched::default()
            }
        }
    }

    /// fsync flushes a file's data whichever descriptor wrote it, so the WAL that SQLite
    /// wrote is synced through a descriptor of our own.
    fn sync_wal(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.wal_path else {
            return Ok(());
        };
        if self.wal.is_none() {
            self.wal = Some(File::open(path)?);
        }
        self.wal.as_ref().map_or(Ok(()), File::sync_data)
    }
}

/// Runs a group of writes in one transaction and commits it.
///
/// The writes first run one after the other with no savepoints: a savepoint, which lets a
/// failed write be undone alone, copies every page the write touches into its journal, and
/// that took a tenth of the writer's time. If a write fails, the transaction is rolled back
/// and the group runs again with each write in a savepoint of its own, so the failed one
/// changes nothing and the others commit.
fn run_group(conn: &mut Connection, writes: &mut [Box<dyn GroupedWrite>]) -> (Result<(), StoreError>, Touched) {
    let mut alone = false;
    'run: loop {
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(error = %e, writes = writes.len(), "could not begin a write transaction");
                return (Err(StoreError::from(e)), Touched::default());
            }
        };
        let mut touched = Touched::default();
        let mut sound = true;
        for write in writes.iter_mut() {
            let ran = write.run(&tx, alone);
            if ran.failed && !alone {
                if let Err(e) = tx.rollback() {
                    return (Err(StoreError::from(e)), Touched::default());
                }
                alone = true;
                continue 'run;
            }
            touched.extend(ran.touched);
            sound &= ran.sound;
        }
        if !sound {
            let rolled_back = tx.rollback().map_err(StoreError::from).err();
            let e =
                rolled_back.unwrap_or_else(|| StoreError::Backend("a failed write could not be undone; its group was rolled back".into()));
            return (Err(e), Touched::default());
        }
        return (tx.commit().map_err(StoreError::from), touched);
    }
}

impl Store for SqliteStore {
    fn write<R, E, F>(&self, f: F) -> impl Future<Output = Result<R, E>> + Send
    where
        F: Fn(&mut dyn WriteTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.queue_write(f, false)
    }

    fn write_redoable<R, E, F>(&self, f: F) -> impl Future<Output = Result<R, E>> + Send
    where
        F: Fn(&mut dyn WriteTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.queue_write(f, true)
    }

    fn read<R, E, F>(&self, f: F) -> impl Future<Output = Result<R, E>> + Send
    where
        F: Fn(&mut dyn ReadTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || {
            let mut conn = store.reader();
            let tx = conn.transaction().map_err(StoreError::from)?;
            let mut stx = Tx { conn: &tx, touched: Touched::default() };
            f(&mut stx)
        })
    }

    fn subscribe(&self, signal: Signal) -> watch::Receiver<u64> {
        self.inner.signals.subscribe(signal)
    }

    fn subscribe_feed(&self, holder: &SquadId) -> watch::Receiver<u64> {
        self.inner.signals.subscribe_feed(holder)
    }
}

/// Runs one write in a savepoint: kept on success, rolled back to nothing on failure. The
/// flag is false if that rollback itself failed.
fn run_in_savepoint<R, E, F>(conn: &Connection, f: &F) -> (Result<R, E>, Touched, bool)
where
    F: Fn(&mut dyn WriteTx) -> Result<R, E>,
    E: From<StoreError>,
{
    // Cached like any statement: parsing them was a measurable part of every write.
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map(drop);
    if let Err(e) = run("SAVEPOINT write") {
        return (Err(StoreError::from(e).into()), Touched::default(), false);
    }
    let mut tx = Tx { conn, touched: Touched::default() };
    let result = f(&mut tx);
    let kept = match &result {
        Ok(_) => run("RELEASE write"),
        // A failed write changes nothing: undo it and leave the group's others be.
        Err(_) => run("ROLLBACK TO write").and_then(|()| run("RELEASE write")),
    };
    match (result, kept) {
        (Ok(out), Ok(())) => (Ok(out), tx.touched, true),
        (Err(e), Ok(())) => (Err(e), Touched::default(), true),
        (_, Err(e)) => {
            tracing::error!(error = %e, "could not end a write's savepoint");
            (Err(StoreError::from(e).into()), Touched::default(), false)
        }
    }
}

struct Tx<'c> {
    conn: &'c Connection,
    touched: Touched,
}

impl Tx<'_> {
    /// A case's body, its reports not yet read.
    fn ticket_body(&self, id: &TicketId) -> Result<Option<Ticket>, StoreError> {
        let body: Option<String> =
            self.conn.prepare_cached("SELECT body FROM tickets WHERE id = ?1")?.query_row([id.as_str()], |r| r.get(0)).optional()?;
        body.as_deref().map(ticket_from_json).transpose()
    }

    /// A case's reports that `sql` selects, oldest first.
    fn case_reports(&self, sql: &str, id: &TicketId) -> Result<Vec<ReportSummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([id.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|row| {
            let (reference, body) = row?;
            report_from_json(&reference, &body)
        })
        .collect()
    }

    /// Cases from their bodies, with all their reports.
    fn tickets_with_reports(&self, bodies: impl Iterator<Item = rusqlite::Result<String>>) -> Result<Vec<Ticket>, StoreError> {
        let mut tickets = Vec::new();
        for body in bodies {
            let mut t = ticket_from_json(&body?)?;
            t.reports = self.case_reports(ALL_REPORTS_SQL, &t.id)?;
            tickets.push(t);
        }
        Ok(tickets)
    }

    fn known_cases(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<KnownCase>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<f64>>(2)?,
                r.get::<_, Option<f64>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, category, lon, lat, opened, seen, state) = row?;
            out.push(KnownCase {
                ticket_id: TicketId::new(id),
                category: CategoryCode::parse(&category).map_err(|e| corrupt("router case category", e))?,
                location: lon.zip(lat).map(|(x, y)| Point::new(x, y)),
                opened_at: Timestamp::from_millis(opened),
                last_seen_at: Timestamp::from_millis(seen),
                open: state.is_none_or(|s| !TicketState::from_name(&s).is_some_and(TicketState::is_terminal)),
            });
        }
        Ok(out)
    }

    /// Open cases past their running deadline at `now` (a suspended case's clock stands still).
    fn overdue_open(&self, now: Timestamp) -> Result<u64, StoreError> {
        let overdue: i64 = self.conn.prepare_cached(&OVERDUE_OPEN_SQL)?.query_row([now.millis()], |r| r.get(0))?;
        Ok(seq(overdue))
    }

    fn count_by(&self, sql: &str, now: Option<i64>) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let map = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, seq(r.get(1)?)));
        let rows = match now {
            Some(now) => stmt.query_map([now], map)?.collect::<Result<Vec<_>, _>>()?,
            None => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        username: r.get(0)?,
        display_name: r.get(1)?,
        role: r.get(2)?,
        squad: r.get(3)?,
        password_hash: r.get(4)?,
        disabled: r.get(5)?,
        created_at: Timestamp::from_millis(r.get(6)?),
        updated_at: Timestamp::from_millis(r.get(7)?),
    })
}

/// A machine key row. Its cameras are decoded once SQLite's part is done: a bad value is the
/// store's corruption, not a SQLite error.
fn machine_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<MachineKey, StoreError>> {
    let cameras: String = r.get(3)?;
    let key = MachineKey {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        cameras: Vec::new(),
        secret_hash: r.get(4)?,
        created_at: Timestamp::from_millis(r.get(5)?),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
    };
    Ok(cameras_from_json(&cameras).map(|cameras| MachineKey { cameras, ..key }))
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        username: r.get(1)?,
        created_at: Timestamp::from_millis(r.get(2)?),
        expires_at: Timestamp::from_millis(r.get(3)?),
        revoked_at: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
    })
}

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: seq(r.get(0)?),
        at: Timestamp::from_millis(r.get(1)?),
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        address: r.get(5)?,
        outcome: r.get(6)?,
    })
}

impl ReadTx for Tx<'_> {
    fn dead_letters(&mut self, topic: &str) -> Result<Vec<(u64, String)>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT source_seq, reason FROM dead_letters WHERE source_topic = ?1 ORDER BY source_seq")?;
        let rows = stmt.query_map([topic], |r| Ok((seq(r.get(0)?), r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn read_log(&mut self, topic: &str, after_seq: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(log_table(topic)?.read)?;
        let rows = stmt.query_map(params![as_i64(after_seq), as_i64(limit as u64)], |r| {
            Ok(LogRecord { seq: seq(r.get(0)?), key: r.get(1)?, payload: r.get(2)?, appended_at: Timestamp::from_millis(r.get(3)?) })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn ticket_history(&mut self, id: &TicketId, after_seq: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        // The index is named: left to itself, the planner may prefer the rowid, which reads
        // every ticket event after `after_seq`.
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, key, payload, appended_at FROM log_ticket_events INDEXED BY ticket_events_by_case \
             WHERE key = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![id.as_str(), as_i64(after_seq), as_i64(limit as u64)], |r| {
            Ok(LogRecord { seq: seq(r.get(0)?), key: r.get(1)?, payload: r.get(2)?, appended_at: Timestamp::from_millis(r.get(3)?) })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn last_ticket_change_at(&mut self, id: &TicketId) -> Result<Option<Timestamp>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT appended_at FROM log_ticket_events INDEXED BY ticket_events_by_case \
             WHERE key = ?1 ORDER BY seq DESC LIMIT 1",
        )?;
        Ok(stmt.query_row([id.as_str()], |r| r.get(0)).optional()?.map(Timestamp::from_millis))
    }

    fn log_end(&mut self, topic: &str) -> Result<u64, StoreError> {
        let end: i64 = self.conn.prepare_cached(log_table(topic)?.end)?.query_row([], |r| r.get(0))?;
        Ok(seq(end))
    }

    fn position(&mut self, consumer: &str, topic: &str) -> Result<u64, StoreError> {
        let next: Option<i64> = self
            .conn
            .query_row("SELECT next_seq FROM consumer_positions WHERE consumer = ?1 AND topic = ?2", [consumer, topic], |r| r.get(0))
            .optional()?;
        Ok(next.map_or(1, seq))
    }

    fn intake_key(&mut self, key: &str) -> Result<Option<IntakeKeyEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT fingerprint, reference, received_at FROM intake_keys WHERE idem_key = ?1")?;
        Ok(stmt
            .query_row([key], |r| {
                Ok(IntakeKeyEntry {
                    fingerprint: r.get(0)?,
                    reference: Reference::new(r.get::<_, String>(1)?),
                    received_at: Timestamp::from_millis(r.get(2)?),
                })
            })
            .optional()?)
    }

    fn report_status(&mut self, reference: &Reference) -> Result<ReportStatus, StoreError> {
        let row: Option<Option<String>> = self
            .conn
            .prepare_cached("SELECT ticket_id FROM reports WHERE reference = ?1")?
            .query_row([reference.as_str()], |r| r.get(0))
            .optional()?;
        Ok(match row {
            None => ReportStatus::Unknown,
            Some(None) => ReportStatus::Pending,
            Some(Some(id)) => ReportStatus::Linked(TicketId::new(id)),
        })
    }

    fn ticket(&mut self, id: &TicketId) -> Result<Option<Ticket>, StoreError> {
        let Some(mut t) = self.ticket_body(id)? else { return Ok(None) };
        t.reports = self.case_reports(ALL_REPORTS_SQL, id)?;
        Ok(Some(t))
    }

    fn ticket_ends(&mut self, id: &TicketId) -> Result<Option<Ticket>, StoreError> {
        let Some(mut t) = self.ticket_body(id)? else { return Ok(None) };
        t.reports = self.case_reports(REPORT_ENDS_SQL, id)?;
        Ok(Some(t))
    }

    fn list_tickets(&mut self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError> {
        let mut sql = String::from("SELECT body FROM tickets WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if !filter.states.is_empty() {
            let names: Vec<String> = filter.states.iter().map(|s| format!("'{}'", s.name())).collect();
            sql.push_str(&format!(" AND state IN ({})", names.join(",")));
        }
        if let Some(squad) = &filter.squad {
            arg(&mut sql, " AND squad = ?", squad.to_string().into());
        }
        if let Some(street) = &filter.street {
            arg(&mut sql, " AND street = ?", street.to_string().into());
        }
        if let Some(category) = &filter.category {
            arg(&mut sql, " AND category = ?", category.to_string().into());
        }
        if let Some(now) = filter.overdue_at {
            arg(&mut sql, " AND deadline IS NOT NULL AND deadline <= ?", now.millis().into());
        }
        if let Some(from) = filter.created_from {
            arg(&mut sql, " AND created_at >= ?", from.millis().into());
        }
        if let Some(to) = filter.created_to {
            arg(&mut sql, " AND created_at < ?", to.millis().into());
        }
        if filter.clock_running {
            sql.push_str(" AND deadline IS NOT NULL");
        }
        if let Some(caller) = &filter.caller {
            arg(&mut sql, " AND id IN (SELECT ticket_id FROM reports WHERE contact_key = ?)", caller.clone().into());
        }
        if let Some(after) = &filter.after {
            args.push(after.created_at.millis().into());
            args.push(after.id.to_string().into());
            let (a, b) = (args.len() - 1, args.len());
            sql.push_str(&format!(" AND (created_at < ?{a} OR (created_at = ?{a} AND id < ?{b}))"));
        }
        args.push(as_i64(filter.limit as u64).into());
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ?{}", args.len()));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let bodies = stmt.query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(0))?;
        self.tickets_with_reports(bodies)
    }

    fn each_ticket_created(
        &mut self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        each: &mut dyn FnMut(Ticket),
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT body FROM tickets WHERE created_at >= ?1 AND created_at < ?2")?;
        let (from, to) = (from.map_or(i64::MIN, Timestamp::millis), to.map_or(i64::MAX, Timestamp::millis));
        let mut rows = stmt.query([from, to])?;
        while let Some(row) = rows.next()? {
            each(ticket_from_json(row.get_ref(0)?.as_str().map_err(|e| corrupt("ticket body", e))?)?);
        }
        Ok(())
    }

    fn feed_end(&mut self, squad: &SquadId) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM squad_feed WHERE squad = ?1")?;
        Ok(seq(stmt.query_row([squad.as_str()], |r| r.get(0))?))
    }

    fn feed(&mut self, squad: &SquadId, after_seq: u64, limit: usize) -> Result<Vec<FeedEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.seq, f.ticket_id, f.kind, f.at, l.payload FROM squad_feed f \
             JOIN log_ticket_events l ON l.seq = f.event_seq \
             WHERE f.squad = ?1 AND f.seq > ?2 ORDER BY f.seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![squad.as_str(), as_i64(after_seq), as_i64(limit as u64)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, Vec<u8>>(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (n, ticket, kind, at, payload) = row?;
            out.push(FeedEntry {
                squad: squad.clone(),
                seq: seq(n),
                ticket_id: TicketId::new(ticket),
                kind: feed_kind_from(&kind)?,
                at: Timestamp::from_millis(at),
                event_payload: payload,
            });
        }
        Ok(out)
    }

    fn due_timers(&mut self, now: Timestamp, limit: usize) -> Result<Vec<(TicketId, Timer)>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT ticket_id, generation, kind, due FROM timers WHERE due <= ?1 ORDER BY due LIMIT ?2")?;
        let rows = stmt.query_map(params![now.millis(), as_i64(limit as u64)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, generation, kind, due) = row?;
            let generation = u32::try_from(generation).map_err(|e| corrupt("timer generation", e))?;
            out.push((TicketId::new(id), Timer { generation, kind: timer_kind_from(&kind)?, due: Timestamp::from_millis(due) }));
        }
        Ok(out)
    }

    fn next_timer_due(&mut self) -> Result<Option<Timestamp>, StoreError> {
        let due: Option<i64> = self.conn.prepare_cached("SELECT MIN(due) FROM timers")?.query_row([], |r| r.get(0))?;
        Ok(due.map(Timestamp::from_millis))
    }

    fn known_cases_near(
        &mut self,
        category: &CategoryCode,
        since: Timestamp,
        min: Point<f64>,
        max: Point<f64>,
    ) -> Result<Vec<KnownCase>, StoreError> {
        // One statement per square, each an index equality and a range on the opening time.
        // Asked as one `IN` list, SQLite builds a temporary table for the list on every lookup;
        // a statement per square cost no more in the writer's profile, and needs no list.
        let mut found = Vec::new();
        for square in squares_covering(min, max) {
            found.extend(self.known_cases(
                "SELECT rc.ticket_id, rc.category, rc.lon, rc.lat, rc.opened_at, rc.last_seen_at, t.state \
                 FROM router_cases rc INDEXED BY router_cases_by_square LEFT JOIN tickets t ON t.id = rc.ticket_id \
                 WHERE rc.category = ?1 AND rc.square = ?2 AND rc.opened_at >= ?3 \
                 AND rc.lon BETWEEN ?4 AND ?5 AND rc.lat BETWEEN ?6 AND ?7",
                params![category.as_str(), square, since.millis(), min.x(), max.x(), min.y(), max.y()],
            )?);
        }
        Ok(found)
    }

    fn known_cases_for_camera(&mut self, camera_key: &str) -> Result<Vec<KnownCase>, StoreError> {
        self.known_cases(
            "SELECT rc.ticket_id, rc.category, rc.lon, rc.lat, rc.opened_at, rc.last_seen_at, t.state \
             FROM router_cases rc LEFT JOIN tickets t ON t.id = rc.ticket_id \
             WHERE rc.camera_key = ?1 ORDER BY rc.last_seen_at DESC LIMIT 16",
            params![camera_key],
        )
    }

    fn live_counts(&mut self, now: Timestamp) -> Result<LiveCounts, StoreError> {
        let by_state = counts_by_state(self.count_by("SELECT state, COUNT(*) FROM tickets GROUP BY state", None)?);
        let overdue_open = self.overdue_open(now)?;
        let intake_by_channel = self
            .count_by("SELECT channel, COUNT(*) FROM reports GROUP BY channel", None)?
            .into_iter()
            .filter_map(|(c, n)| channel_from(&c).map(|c| (c, n)))
            .collect();
        let escalations_by_name = self.count_by("SELECT name, COUNT(*) FROM escalations GROUP BY name ORDER BY MIN(level)", None)?;
        let merged: i64 =
            self.conn.prepare_cached("SELECT COUNT(*) FROM reports WHERE disposition = 'merged'")?.query_row([], |r| r.get(0))?;
        Ok(LiveCounts { by_state, overdue_open, intake_by_channel, escalations_by_name, merged_reports: seq(merged) })
    }

    fn open_ticket_counts(&mut self, now: Timestamp) -> Result<OpenTicketCounts, StoreError> {
        let by_state = counts_by_state(self.count_by(&UNFINISHED_BY_STATE_SQL, None)?);
        Ok(OpenTicketCounts { by_state, overdue: self.overdue_open(now)? })
    }

    fn account(&mut self, username: &str) -> Result<Option<Account>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT username, display_name, role, squad, password_hash, disabled, created_at, updated_at \
             FROM accounts WHERE username = ?1",
        )?;
        Ok(stmt.query_row([username], account_row).optional()?)
    }

    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT username, display_name, role, squad, password_hash, disabled, created_at, updated_at \
             FROM accounts ORDER BY username",
        )?;
        Ok(stmt.query_map([], account_row)?.collect::<Result<Vec<_>, _>>()?)
    }

    fn machine_key(&mut self, id: &str) -> Result<Option<MachineKey>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name, role, cameras, secret_hash, created_at, revoked_at FROM machine_keys WHERE id = ?1")?;
        stmt.query_row([id], machine_key_row).optional()?.transpose()
    }

    fn machine_keys(&mut self) -> Result<Vec<MachineKey>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, role, cameras, secret_hash, created_at, revoked_at FROM machine_keys ORDER BY created_at, id",
        )?;
        stmt.query_map([], machine_key_row)?.map(|row| row?).collect()
    }

    fn session(&mut self, id: &str) -> Result<Option<Session>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT id, username, created_at, expires_at, revoked_at FROM sessions WHERE id = ?1")?;
        Ok(stmt.query_row([id], session_row).optional()?)
    }

    fn audit_log(&mut self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, actor, action, target, address, outcome FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![as_i64(after_seq), as_i64(limit as u64)], audit_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn signing_secret(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.conn.prepare_cached("SELECT secret FROM signing_secret WHERE id = 1")?.query_row([], |r| r.get(0)).optional()?)
    }

    fn photo(&mut self, id: &str) -> Result<Option<Photo>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT id, ticket_id, content_type, bytes, uploaded_by, uploaded_at FROM photos WHERE id = ?1")?;
        Ok(stmt
            .query_row([id], |r| {
                Ok(Photo {
                    id: r.get(0)?,
                    ticket_id: TicketId::new(r.get::<_, String>(1)?),
                    content_type: r.get(2)?,
                    bytes: r.get(3)?,
                    uploaded_by: r.get(4)?,
                    uploaded_at: Timestamp::from_millis(r.get(5)?),
                })
            })
            .optional()?)
    }

    fn photo_usage(&mut self, ticket: &TicketId) -> Result<(u64, u64), StoreError> {
        let (count, size): (i64, i64) = self
            .conn
            .prepare_cached("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM photos WHERE ticket_id = ?1")?
            .query_row([ticket.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((seq(count), seq(size)))
    }

    fn task_action(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT fingerprint FROM task_actions WHERE action_key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    fn report_decision(&mut self, reference: &Reference) -> Result<Option<Vec<u8>>, StoreError> {
        let found: Option<Option<Vec<u8>>> = self
            .conn
            .prepare_cached("SELECT decision FROM reports WHERE reference = ?1")?
            .query_row([reference.as_str()], |r| r.get(0))
            .optional()?;
        Ok(found.flatten())
    }

    fn assessment_totals(&mut self, period: &str) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT unit, indicator, value FROM assessment_totals WHERE period = ?1")?;
        let rows = stmt.query_map([period], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn assessment_lines(&mut self, period: &str, last_seq: u64) -> Result<Vec<LedgerLine>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, period, units, indicator, ticket_id, amount, at FROM assessment_ledger \
             WHERE period = ?1 AND seq <= ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![period, as_i64(last_seq)], |r| {
            let units: String = r.get(2)?;
            Ok(LedgerLine {
                seq: seq(r.get(0)?),
                period: r.get(1)?,
                units: units.split(' ').map(str::to_owned).collect(),
                indicator: r.get(3)?,
                ticket_id: TicketId::new(r.get::<_, String>(4)?),
                amount: r.get(5)?,
                at: Timestamp::from_millis(r.get(6)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn frozen_period(&mut self, period: &str) -> Result<Option<FrozenPeriod>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT period, frozen_at, frozen_by, last_seq, sheet FROM assessment_frozen WHERE period = ?1")?
            .query_row([period], frozen_row)
            .optional()?)
    }

    fn frozen_periods(&mut self) -> Result<Vec<FrozenPeriod>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT period, frozen_at, frozen_by, last_seq, '' FROM assessment_frozen ORDER BY period DESC")?;
        let rows = stmt.query_map([], frozen_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn frozen_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FrozenPeriod> {
    Ok(FrozenPeriod {
        period: r.get(0)?,
        frozen_at: Timestamp::from_millis(r.get(1)?),
        frozen_by: r.get(2)?,
        last_seq: seq(r.get(3)?),
        sheet: r.get(4)?,
    })
}

impl WriteTx for Tx<'_> {
    fn dead_letter(&mut self, topic: &str, record: &LogRecord, reason: &str) -> Result<(), StoreError> {
        tracing::error!(topic, seq = record.seq, reason, "record kept as a dead letter");
        self.conn
            .prepare_cached(
                "INSERT INTO dead_letters (source_topic, source_seq, source_key, reason, payload, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            )?
            .execute(params![topic, as_i64(record.seq), record.key, reason, record.payload, record.appended_at.millis()])?;
        Ok(())
    }

    fn append_log(&mut self, topic: &str, key: &str, payload: &[u8], at: Timestamp) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(log_table(topic)?.append)?;
        let n: i64 = stmt.query_row(params![key, payload, at.millis()], |r| r.get(0))?;
        if let Some(signal) = Signal::of_topic(topic) {
            self.touched.signals.insert(signal);
        }
        Ok(seq(n))
    }

    fn set_position(&mut self, consumer: &str, topic: &str, next_seq: u64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO consumer_positions (consumer, topic, next_seq) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (consumer, topic) DO UPDATE SET next_seq = excluded.next_seq",
            )?
            .execute(params![consumer, topic, as_i64(next_seq)])?;
        Ok(())
    }

    fn trim_log(&mut self, topic: &str, appended_before: Timestamp, limit: usize) -> Result<u64, StoreError> {
        let deleted =
            self.conn.prepare_cached(log_table(topic)?.trim)?.execute(params![topic, appended_before.millis(), as_i64(limit as u64)])?;
        Ok(deleted as u64)
    }

    fn trim_finished_histories(&mut self, finished_before: Timestamp, after_seq: u64, limit: usize) -> Result<HistoryTrim, StoreError> {
        let window = self
            .conn
            .prepare_cached("SELECT seq, key, appended_at FROM log_ticket_events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?
            .query_map(params![as_i64(after_seq), as_i64(limit as u64)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<(i64, String, i64)>, _>>()?;
        let keep_from: i64 = self
            .conn
            .prepare_cached(
                "SELECT MIN(COALESCE((SELECT MIN(next_seq) FROM consumer_positions WHERE topic = 'ticket-events'), 9223372036854775807), \
                        (SELECT COALESCE(MAX(seq), 0) FROM log_ticket_events))",
            )?
            .query_row([], |r| r.get(0))?;
        let mut deleted = 0;
        for case in cases_of(&window) {
            let last = self
                .conn
                .prepare_cached(
                    "SELECT t.state, l.seq, l.appended_at FROM tickets t, log_ticket_events l INDEXED BY ticket_events_by_case \
                     WHERE t.id = ?1 AND l.key = ?1 ORDER BY l.seq DESC LIMIT 1",
                )?
                .query_row([case], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            if let Some((state, last_seq, last_at)) = last
                && history_may_go(&state, last_seq, last_at, finished_before, keep_from)
            {
                deleted += self.conn.prepare_cached("DELETE FROM log_ticket_events WHERE key = ?1")?.execute([case])? as u64;
            }
        }
        Ok(history_trim(deleted, &window))
    }

    fn put_intake_key(&mut self, key: &str, entry: &IntakeKeyEntry) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO intake_keys (idem_key, fingerprint, reference, received_at) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![key, entry.fingerprint, entry.reference.as_str(), entry.received_at.millis()])?;
        Ok(())
    }

    fn put_report(&mut self, reference: &Reference, channel: Channel, received_at: Timestamp) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO reports (reference, channel, received_at) VALUES (?1, ?2, ?3) ON CONFLICT (reference) DO NOTHING")?
            .execute(params![reference.as_str(), channel.name(), received_at.millis()])?;
        Ok(())
    }

    fn record_decision(
        &mut self,
        reference: &Reference,
        channel: Channel,
        received_at: Timestamp,
        decision: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let kept = self
            .conn
            .prepare_cached(
                "INSERT INTO reports (reference, channel, received_at, decision) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (reference) DO UPDATE SET decision = COALESCE(reports.decision, excluded.decision) RETURNING decision",
            )?
            .query_row(params![reference.as_str(), channel.name(), received_at.millis(), decision], |r| r.get(0))?;
        Ok(kept)
    }

    fn link_report(&mut self, reference: &Reference, ticket: &TicketId, disposition: &str, caller: Option<&str>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE reports SET ticket_id = ?2, disposition = ?3, contact_key = ?4 WHERE reference = ?1")?
            .execute(params![reference.as_str(), ticket.as_str(), disposition, caller])?;
        Ok(())
    }

    fn put_ticket(&mut self, before: Option<&Ticket>, t: &Ticket) -> Result<(), StoreError> {
        let body = ticket_json(t)?;
        self.conn
            .prepare_cached(
                "INSERT INTO tickets (id, state, squad, street, category, created_at, deadline, version, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, squad = excluded.squad, street = excluded.street, \
                 deadline = excluded.deadline, version = excluded.version, body = excluded.body",
            )?
            .execute(params![
                t.id.as_str(),
                t.state.name(),
                t.squad.as_ref().map(SquadId::as_str),
                t.cell.as_ref().map(|c| c.street_code.to_string()),
                t.category.as_str(),
                t.created_at.millis(),
                t.active_clock().map(|c| c.deadline.millis()),
                as_i64(t.version),
                body,
            ])?;
        let (left, joined) = report_changes(before, t);
        let mut remove = self.conn.prepare_cached("DELETE FROM case_reports WHERE ticket_id = ?1 AND reference = ?2")?;
        for reference in left {
            remove.execute([t.id.as_str(), reference.as_str()])?;
        }
        let mut add = self.conn.prepare_cached(
            "INSERT INTO case_reports (ticket_id, ordinal, reference, body) \
             VALUES (?1, (SELECT COALESCE(MAX(ordinal), 0) + 1 FROM case_reports WHERE ticket_id = ?1), ?2, ?3)",
        )?;
        for report in joined {
            add.execute(params![t.id.as_str(), report.reference.as_str(), report_json(report)?])?;
        }
        Ok(())
    }

    fn append_feed(
        &mut self,
        squad: &SquadId,
        ticket: &TicketId,
        kind: FeedKind,
        at: Timestamp,
        event_seq: u64,
    ) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO squad_feed (squad, seq, ticket_id, kind, at, event_seq) \
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM squad_feed WHERE squad = ?1), ?2, ?3, ?4, ?5) RETURNING seq",
        )?;
        let n: i64 =
            stmt.query_row(params![squad.as_str(), ticket.as_str(), feed_kind_text(kind), at.millis(), as_i64(event_seq)], |r| r.get(0))?;
        self.touched.feeds.insert(squad.clone());
        Ok(seq(n))
    }

    fn replace_timers(&mut self, ticket: &TicketId, timers: &[Timer]) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM timers WHERE ticket_id = ?1")?.execute([ticket.as_str()])?;
        let mut insert = self.conn.prepare_cached("INSERT INTO timers (ticket_id, generation, kind, due) VALUES (?1, ?2, ?3, ?4)")?;
        for t in timers {
            insert.execute(params![ticket.as_str(), t.generation, timer_kind_text(t.kind), t.due.millis()])?;
        }
        self.touched.signals.insert(Signal::Timers);
        Ok(())
    }

    fn record_escalation(&mut self, ticket: &TicketId, generation: u32, level: u32, name: &str, at: Timestamp) -> Result<bool, StoreError> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO escalations (ticket_id, generation, level, name, fired_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![ticket.as_str(), generation, level, name, at.millis()])?;
        Ok(inserted == 1)
    }

    fn put_known_case(&mut self, case: &KnownCase, camera_key: Option<&str>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO router_cases (ticket_id, category, lon, lat, square, opened_at, last_seen_at, camera_key) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (ticket_id) DO NOTHING",
            )?
            .execute(params![
                case.ticket_id.as_str(),
                case.category.as_str(),
                case.location.map(|p| p.x()),
                case.location.map(|p| p.y()),
                case.location.and_then(square_of),
                case.opened_at.millis(),
                case.last_seen_at.millis(),
                camera_key,
            ])?;
        Ok(())
    }

    fn touch_known_case(&mut self, ticket: &TicketId, at: Timestamp) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE router_cases SET last_seen_at = MAX(last_seen_at, ?2) WHERE ticket_id = ?1 AND camera_key IS NOT NULL")?
            .execute(params![ticket.as_str(), at.millis()])?;
        Ok(())
    }

    fn put_account(&mut self, a: &Account) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO accounts (username, display_name, role, squad, password_hash, disabled, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name, role = excluded.role, \
                 squad = excluded.squad, password_hash = excluded.password_hash, disabled = excluded.disabled, \
                 created_at = excluded.created_at, updated_at = excluded.updated_at",
            )?
            .execute(params![
                a.username,
                a.display_name,
                a.role,
                a.squad,
                a.password_hash,
                a.disabled,
                a.created_at.millis(),
                a.updated_at.millis(),
            ])?;
        Ok(())
    }

    fn put_machine_key(&mut self, k: &MachineKey) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO machine_keys (id, name, role, cameras, secret_hash, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, cameras = excluded.cameras, \
                 secret_hash = excluded.secret_hash, created_at = excluded.created_at, revoked_at = excluded.revoked_at",
            )?
            .execute(params![
                k.id,
                k.name,
                k.role,
                cameras_json(&k.cameras)?,
                k.secret_hash,
                k.created_at.millis(),
                k.revoked_at.map(Timestamp::millis),
            ])?;
        Ok(())
    }

    fn put_session(&mut self, s: &Session) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO sessions (id, username, created_at, expires_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (id) DO UPDATE SET username = excluded.username, created_at = excluded.created_at, \
                 expires_at = excluded.expires_at, revoked_at = excluded.revoked_at",
            )?
            .execute(params![s.id, s.username, s.created_at.millis(), s.expires_at.millis(), s.revoked_at.map(Timestamp::millis)])?;
        Ok(())
    }

    fn delete_expired_sessions(&mut self, now: Timestamp) -> Result<u64, StoreError> {
        let deleted = self.conn.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?.execute([now.millis()])?;
        Ok(deleted as u64)
    }

    fn append_audit(&mut self, e: &AuditEntry) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO audit_log (seq, at, actor, action, target, address, outcome) \
             VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log), ?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq",
        )?;
        let n: i64 = stmt.query_row(params![e.at.millis(), e.actor, e.action, e.target, e.address, e.outcome], |r| r.get(0))?;
        Ok(seq(n))
    }

    fn init_signing_secret(&mut self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.conn
            .prepare_cached("INSERT INTO signing_secret (id, secret) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING")?
            .execute([candidate])?;
        Ok(self.conn.prepare_cached("SELECT secret FROM signing_secret WHERE id = 1")?.query_row([], |r| r.get(0))?)
    }

    fn put_photo(&mut self, p: &Photo) -> Result<bool, StoreError> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO photos (id, ticket_id, content_type, bytes, size, uploaded_by, uploaded_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                p.id,
                p.ticket_id.as_str(),
                p.content_type,
                p.bytes,
                as_i64(p.bytes.len() as u64),
                p.uploaded_by,
                p.uploaded_at.millis()
            ])?;
        Ok(inserted == 1)
    }

    fn put_task_action(&mut self, key: &str, fingerprint: &str, ticket: &TicketId, at: Timestamp) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO task_actions (action_key, fingerprint, ticket_id, applied_at) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![key, fingerprint, ticket.as_str(), at.millis()])?;
        Ok(())
    }

    fn book_assessment(&mut self, entries: &[Entry], at: Timestamp) -> Result<(), StoreError> {
        let mut line = self.conn.prepare_cached(
            "INSERT INTO assessment_ledger (period, units, indicator, ticket_id, amount, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for e in entries {
            line.execute(params![e.period.to_string(), units_column(e), e.indicator.name(), e.ticket.as_str(), e.amount, at.millis()])?;
        }
        let mut total = self.conn.prepare_cached(
            "INSERT INTO assessment_totals (period, unit, indicator, value) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (period, unit, indicator) DO UPDATE SET value = value + excluded.value",
        )?;
        for ((period, unit, indicator), value) in assessment_totals(entries) {
            total.execute(params![period, unit, indicator, value])?;
        }
        Ok(())
    }

    fn assessment_high_water(&mut self) -> Result<u64, StoreError> {
        let last: i64 = self.conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM assessment_ledger")?.query_row([], |r| r.get(0))?;
        Ok(seq(last))
    }

    fn freeze_period(&mut self, f: &FrozenPeriod) -> Result<bool, StoreError> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO assessment_frozen (period, frozen_at, frozen_by, last_seq, sheet) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (period) DO NOTHING",
            )?
            .execute(params![f.period, f.frozen_at.millis(), f.frozen_by, as_i64(f.last_seq), f.sheet])?;
        Ok(inserted == 1)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A database file at schema `version`, holding cases as (id, body) in that version's form.
    pub(crate) fn at_schema(path: &Path, version: usize, cases: &[(&str, &str)]) {
        let conn = Connection::open(path).expect("create");
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.pragma_update(None, "user_version", as_i64(version as u64)).expect("version");
        for (id, body) in cases {
            conn.execute(
                "INSERT INTO tickets (id, state, category, created_at, version, body) VALUES (?1, 'dispatched', 'E0102', 0, 1, ?2)",
                params![id, body],
            )
            .expect("old case");
        }
    }

    #[tokio::test]
    async fn a_failed_write_in_a_group_changes_nothing_and_the_others_of_its_group_commit() {
        #[derive(Debug, PartialEq)]
        struct Refused;
        impl From<StoreError> for Refused {
            fn from(_: StoreError) -> Self {
                Refused
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("gridd.db")).expect("open");
        // Keeps the writer busy while the writes below are queued, so they wait for the same
        // group.
        let busy = store.write(|_| -> Result<(), StoreError> {
            std::thread::sleep(std::time::Duration::from_millis(200));
            Ok(())
        });
        let writes: Vec<_> = (0..8)
            .map(|i| {
                store.write(move |tx| -> Result<u64, Refused> {
                    let seq = tx.append_log(crate::topics::INTAKE, &format!("k{i}"), b"p", Timestamp::from_millis(1))?;
                    if i == 3 { Err(Refused) } else { Ok(seq) }
                })
            })
            .collect();
        busy.await.expect("the first write");
        let mut answers = Vec::new();
        for write in writes {
            answers.push(write.await);
        }
        assert_eq!(answers, vec![Ok(1), Ok(2), Ok(3), Err(Refused), Ok(4), Ok(5), Ok(6), Ok(7)], "each write has its own answer");
        let keys = store
            .read(|tx| tx.read_log(crate::topics::INTAKE, 0, 100))
            .await
            .expect("read")
            .into_iter()
            .map(|record| record.key)
            .collect::<Vec<_>>();
        assert_eq!(keys, ["k0", "k1", "k2", "k4", "k5", "k6", "k7"], "the refused write left nothing, the others all committed");
    }

    #[tokio::test]
    async fn the_upgrade_to_a_table_per_topic_keeps_every_record_its_seq_and_the_histories() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("old.db");
        at_schema(&path, 9, &[]);
        let conn = Connection::open(&path).expect("open");
        let records = [
            ("intake", 1, "R1"),
            ("intake", 2, "R2"),
            ("dispatch", 1, "R1"),
            ("ticket-events", 1, "T1"),
            ("ticket-events", 2, "T2"),
            ("ticket-events", 3, "T1"),
        ];
        for (topic, seq, key) in records {
            conn.execute(
                "INSERT INTO log (topic, seq, key, payload, appended_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![topic, seq, key, format!("{topic} {seq}").into_bytes(), seq * 10],
            )
            .expect("old record");
        }
        drop(conn);

        let store = SqliteStore::open(&path).expect("upgrade");
        let log = |topic: &'static str| store.read(move |tx: &mut dyn ReadTx| tx.read_log(topic, 0, 10));
        let payloads =
            |records: Vec<LogRecord>| records.into_iter().map(|r| String::from_utf8(r.payload).expect("text")).collect::<Vec<_>>();
        assert_eq!(payloads(log(crate::topics::INTAKE).await.expect("intake")), ["intake 1", "intake 2"]);
        assert_eq!(payloads(log(crate::topics::DISPATCH).await.expect("dispatch")), ["dispatch 1"]);
        let history = store.read(|tx: &mut dyn ReadTx| tx.ticket_history(&TicketId::new("T1"), 0, 10)).await.expect("history");
        assert_eq!(history.iter().map(|r| (r.seq, r.appended_at.millis())).collect::<Vec<_>>(), [(1, 10), (3, 30)]);
        let next = store
            .write(|tx: &mut dyn WriteTx| tx.append_log(crate::topics::INTAKE, "R3", b"intake 3", Timestamp::from_millis(40)))
            .await
            .expect("append");
        assert_eq!(next, 3, "seqs go on from the records moved");
    }

    #[tokio::test]
    async fn the_upgrade_to_squares_finds_the_cases_stored_before_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("old.db");
        at_schema(&path, 10, &[]);
        let conn = Connection::open(&path).expect("open");
        // Either side of a square's corner, one of them west of the prime meridian and south
        // of the equator (where SQL's truncation and floor differ), and one without a place.
        let cases = [("A", Some((118.34996, 34.36996))), ("B", Some((118.35004, 34.37004))), ("W", Some((-0.0003, -0.0003))), ("N", None)];
        for (id, place) in cases {
            conn.execute(
                "INSERT INTO router_cases (ticket_id, category, lon, lat, opened_at, last_seen_at) VALUES (?1, 'E0102', ?2, ?3, 10, 10)",
                params![id, place.map(|(lon, _)| lon), place.map(|(_, lat)| lat)],
            )
            .expect("old case");
        }
        drop(conn);

        let store = SqliteStore::open(&path).expect("upgrade");
        let near = |min: (f64, f64), max: (f64, f64)| {
            store.read(move |tx: &mut dyn ReadTx| {
                let found = tx.known_cases_near(
                    &CategoryCode::parse("E0102").expect("code"),
                    Timestamp::from_millis(0),
                    Point::new(min.0, min.1),
                    Point::new(max.0, max.1),
                )?;
                Ok::<_, StoreError>(found.into_iter().map(|c| c.ticket_id.as_str().to_owned()).collect::<Vec<_>>())
            })
        };
        let mut around = near((118.3495, 34.3695), (118.3505, 34.3705)).await.expect("near the corner");
        around.sort_unstable();
        assert_eq!(around, ["A", "B"]);
        assert_eq!(near((-0.0005, -0.0005), (-0.0001, -0.0001)).await.expect("near zero"), ["W"]);
    }

    fn page_size(path: &Path) -> i64 {
        Connection::open(path).expect("open").pragma_query_value(None, "page_size", |r| r.get(0)).expect("page size")
    }

    #[test]
    fn a_new_file_gets_8_kib_pages_and_an_older_file_keeps_its_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let new = dir.path().join("new.db");
        drop(SqliteStore::open(&new).expect("create"));
        assert_eq!(page_size(&new), PAGE_SIZE);

        let old = dir.path().join("old.db");
        at_schema(&old, 8, &[]);
        drop(SqliteStore::open(&old).expect("upgrade"));
        assert_eq!(page_size(&old), 4096, "SQLite's default, as older gridd created files");
    }
}
