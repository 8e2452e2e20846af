//! The distributed backend: PostgreSQL, shared by every gridd process of a deployment.
//!
//! Same tables and behaviour as the SQLite backend (one conformance suite checks both), with
//! what concurrent processes need:
//! - a ticket read inside a write transaction is locked (`FOR UPDATE`), so a tracker and a
//!   gateway changing the same case take turns;
//! - due timers are claimed with `FOR UPDATE SKIP LOCKED`, so several trackers fire different
//!   timers and never the same one twice;
//! - appends to a log topic or a squad feed lock that topic's head row until commit, so
//!   sequence order is commit order and a reader never skips a late-committing record;
//! - a transaction the database aborts for a deadlock or serialisation conflict is run again.
//!
//! A few connections each live on a thread of their own; transactions are queued to them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use geo::Point;
use gridd_core::assessment::Entry;
use gridd_core::category::CategoryCode;
use gridd_core::dedup::KnownCase;
use gridd_core::ids::{Reference, SquadId, TicketId};
use gridd_core::report::{Channel, ReportSummary};
use gridd_core::ticket::{FeedKind, Ticket, TicketState, Timer};
use gridd_core::time::Timestamp;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement, Transaction};
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
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_decisions_and_unique_references.sql"),
    include_str!("../migrations/postgres/0003_access.sql"),
    include_str!("../migrations/postgres/0004_terminal_and_console.sql"),
    include_str!("../migrations/postgres/0005_assessment.sql"),
    include_str!("../migrations/postgres/0006_router_cases_by_place.sql"),
    include_str!("../migrations/postgres/0007_case_reports.sql"),
    include_str!("../migrations/postgres/0008_router_cases_by_square.sql"),
];
/// Connection threads (and so connections) per store.
const POOL: usize = 8;
/// Prepared statements a connection keeps (see [`Connection`]); gridd's fixed statements are
/// about a hundred.
const MAX_PREPARED: usize = 512;
/// Runs of a transaction aborted by a conflict before giving up.
const ATTEMPTS: usize = 5;
/// Key of the advisory lock that serialises migrations of concurrent starting processes.
const MIGRATION_LOCK: i64 = 0x6772_6964;

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// True for errors that mean "run the transaction again": deadlock, serialisation failure.
fn is_conflict(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| matches!(c.code(), "40001" | "40P01"))
}

/// A unit of work for a connection thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A connection thread's connection (none while PostgreSQL cannot be reached) and the
/// statements prepared on it. Every statement is prepared once per connection: run again, it
/// costs one round trip instead of two (parse, then bind and execute) and is not planned anew.
#[derive(Default)]
struct Connection {
    client: Option<Client>,
    statements: HashMap<String, Statement>,
}

impl Connection {
    /// Connects again if the connection is gone; its statements went with it.
    fn reconnect_if_closed(&mut self, url: &str) {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.statements.clear();
            self.client = connect(url).map_err(|e| tracing::warn!(error = %e, "PostgreSQL connection lost")).ok();
        }
    }
}

struct Inner {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    signals: Arc<Signals>,
    url: String,
    /// Started at the first wait on what other processes write ([`listen`]).
    listening: std::sync::Once,
}

/// The PostgreSQL store. Cheap to clone; clones share the connection threads.
///
/// The synchronous client blocks on a runtime of its own, which tokio forbids on its own
/// threads (even blocking ones); so each connection lives on a plain thread of its own, and
/// transactions are sent to those threads.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn connect(url: &str) -> Result<Client, StoreError> {
    Client::connect(url, NoTls).map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let current: Option<i64> = tx.query_opt("SELECT version FROM schema_version", &[])?.map(|r| r.get(0));
    let current = usize::try_from(current.unwrap_or(0)).unwrap_or(usize::MAX);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {current}, newer than this gridd ({}); refusing to use it",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.batch_execute(sql)?;
        tx.execute("DELETE FROM schema_version", &[])?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&as_i64(i as u64 + 1)])?;
    }
    tx.commit()?;
    Ok(())
}

/// Creates the database `name` on the server of `admin_url` (a connection string whose
/// user may create databases) and returns the connection string of the new database: for
/// provisioning a deployment or a test. `name` must be a plain SQL identifier.
pub fn create_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(StoreError::Backend(format!("database name {name:?}: use lowercase letters, digits and _ only")));
    }
    let (admin_url, name) = (admin_url.to_owned(), name.to_owned());
    // The synchronous client runs a runtime of its own: not on an async thread.
    std::thread::spawn(move || {
        connect(&admin_url)?.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(match admin_url.rsplit_once('/') {
            Some((server, _)) if !server.ends_with('/') => format!("{server}/{name}"),
            _ => format!("{}/{name}", admin_url.trim_end_matches('/')),
        })
    })
    .join()
    .map_err(|_| StoreError::Backend("the database creation thread failed".into()))?
}

impl PostgresStore {
    /// Connects to `url` (e.g. `postgres://gridd@db/gridd`), brings the schema up to date, and
    /// starts the connection threads. Blocking: call it outside async code.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut first = connect(url)?;
        migrate(&mut first)?;
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut first = Some(first);
        for i in 0..POOL {
            let (rx, url) = (rx.clone(), url.to_owned());
            let mut connection = Connection { client: if i == 0 { first.take() } else { None }, statements: HashMap::new() };
            std::thread::Builder::new()
                .name(format!("gridd-postgres-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv() {
                            Ok(job) => job,
                            // Every store clone is gone.
                            Err(_) => return,
                        };
                        connection.reconnect_if_closed(&url);
                        // A panicking job fails its own transaction (its caller sees the
                        // thread's answer dropped), not the connection thread.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut connection))).is_err() {
                            connection = Connection::default();
                        }
                    }
                })
                .map_err(|e| StoreError::Backend(format!("cannot start a PostgreSQL connection thread: {e}")))?;
        }
        let inner =
            Inner { jobs: Mutex::new(tx), signals: Arc::new(Signals::new()), url: url.to_owned(), listening: std::sync::Once::new() };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Starts listening for other processes' announcements, once per store.
    fn listen_to_others(&self) {
        self.inner.listening.call_once(|| {
            let (url, signals) = (self.inner.url.clone(), self.inner.signals.clone());
            let started = std::thread::Builder::new().name("gridd-postgres-listen".into()).spawn(move || listen(&url, &signals));
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start listening for other processes' changes; watches fall back to looking now and then");
            }
        });
    }

    /// Runs `f` on a connection thread, in a transaction, again on a conflict.
    async fn run<R, E, F>(&self, write: bool, f: F) -> Result<(R, Touched), E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: Fn(&mut Tx<'_, '_>) -> Result<R, E> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |connection: &mut Connection| {
            let Connection { client, statements } = connection;
            let outcome = match client.as_mut() {
                Some(client) => transact(client, statements, write, &f),
                None => Err(StoreError::Backend("no PostgreSQL connection".into()).into()),
            };
            let _ = done.send(outcome);
        });
        let sent = self.inner.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(job);
        if sent.is_err() {
            return Err(StoreError::Backend("the PostgreSQL connection threads have stopped".into()).into());
        }
        result.await.unwrap_or_else(|_| Err(StoreError::Backend("a PostgreSQL connection thread failed".into()).into()))
    }
}

/// One transaction, run again (up to [`ATTEMPTS`] times) when PostgreSQL aborts it for a
/// deadlock or serialisation conflict.
fn transact<R, E: From<StoreError>>(
    client: &mut Client,
    statements: &mut HashMap<String, Statement>,
    write: bool,
    f: &impl Fn(&mut Tx<'_, '_>) -> Result<R, E>,
) -> Result<(R, Touched), E> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        CONFLICT.with(|c| c.set(false));
        let outcome = (|| {
            let mut tx = client.transaction().map_err(pg)?;
            if !write {
                tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").map_err(pg)?;
            }
            let (out, touched) = {
                let mut stx = Tx { tx: &mut tx, statements: &mut *statements, heads: Heads::default(), write, touched: Touched::default() };
                let out = f(&mut stx).and_then(|out| stx.write_heads().and_then(|()| stx.announce()).map(|()| out).map_err(E::from));
                (out, std::mem::take(&mut stx.touched))
            };
            let out = out?;
            tx.commit().map_err(pg)?;
            Ok::<_, E>((out, touched))
        })();
        let conflict = CONFLICT.with(|c| c.replace(false));
        match outcome {
            Err(_) if conflict && attempt < ATTEMPTS && !client.is_closed() => continue,
            other => return other,
        }
    }
}

thread_local! {
    /// Set when a statement of the current transaction failed with a conflict.
    static CONFLICT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Store for PostgresStore {
    fn write<R, E, F>(&self, f: F) -> impl Future<Output = Result<R, E>> + Send
    where
        F: Fn(&mut dyn WriteTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        async move {
            let (out, touched) = store.run(true, move |tx| f(tx)).await?;
            store.inner.signals.notify(&touched);
            Ok(out)
        }
    }

    fn read<R, E, F>(&self, f: F) -> impl Future<Output = Result<R, E>> + Send
    where
        F: Fn(&mut dyn ReadTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        async move { store.run(false, move |tx| f(tx)).await.map(|(out, _)| out) }
    }

    fn subscribe(&self, signal: Signal) -> watch::Receiver<u64> {
        if signal == Signal::TicketEvents {
            self.listen_to_others();
        }
        self.inner.signals.subscribe(signal)
    }

    fn subscribe_feed(&self, holder: &SquadId) -> watch::Receiver<u64> {
        self.listen_to_others();
        self.inner.signals.subscribe_feed(holder)
    }
}

/// The channel on which transactions announce what they appended that people wait on.
const CHANGES: &str = "gridd_changes";
/// How an announcement names the ticket events, and the prefix before a squad's feed.
const TICKET_EVENTS: &str = "ticket-events";
const FEED: &str = "feed:";

/// The announcements of what a transaction touched that people wait on.
fn announcements(touched: &Touched) -> Vec<String> {
    let ticket_events = touched.signals.contains(&Signal::TicketEvents).then(|| TICKET_EVENTS.to_owned());
    ticket_events.into_iter().chain(touched.feeds.iter().map(|squad| format!("{FEED}{squad}"))).collect()
}

/// What an announcement says was touched; nothing for one this gridd does not know.
fn announced(payload: &str) -> Touched {
    let mut touched = Touched::default();
    if payload == TICKET_EVENTS {
        touched.signals.insert(Signal::TicketEvents);
    } else if let Some(squad) = payload.strip_prefix(FEED) {
        touched.feeds.insert(SquadId::new(squad));
    }
    touched
}

/// Wakes this process's watch streams (terminals' feeds, dashboards' ticket events) when
/// another process appends what they wait on: its own connection LISTENs for the
/// announcements, which PostgreSQL sends with each commit. Returns once the store is gone.
/// A notification lost while reconnecting leaves the streams to their periodic look.
fn listen(url: &str, signals: &Arc<Signals>) {
    let store_alive = || Arc::strong_count(signals) > 1;
    // Warned once per outage, not once per retry.
    let mut failing = false;
    while store_alive() {
        let mut client =
            match connect(url).and_then(|mut c| c.batch_execute(&format!("LISTEN {CHANGES}")).map(|()| c).map_err(StoreError::from)) {
                Ok(client) => client,
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(error = %e, "cannot listen for other processes' changes; retrying every second");
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    continue;
                }
            };
        if std::mem::replace(&mut failing, false) {
            tracing::info!("listening for other processes' changes again");
        }
        while store_alive() && !client.is_closed() {
            let mut notifications = client.notifications();
            // A second at most, to see when the store is gone.
            let first = notifications.timeout_iter(std::time::Duration::from_secs(1)).next();
            match first {
                Ok(Some(first)) => {
                    let mut touched = announced(first.payload());
                    // What else has arrived, in one wake.
                    while let Ok(Some(more)) = notifications.iter().next() {
                        touched.extend(announced(more.payload()));
                    }
                    signals.notify(&touched);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "listening for other processes' changes failed; reconnecting");
                    break;
                }
            }
        }
    }
}

struct Tx<'a, 't> {
    tx: &'a mut Transaction<'t>,
    statements: &'a mut HashMap<String, Statement>,
    /// Head rows (`log_heads`, `feed_heads`) this transaction has locked: the last seq taken
    /// from each, and whether that is ahead of the row. A transaction appending many records
    /// to one topic locks its head once and writes it once, at commit ([`Tx::write_heads`]).
    heads: Heads,
    write: bool,
    touched: Touched,
}

/// Records a conflict so the transaction is retried, and converts the error.
fn pg(e: postgres::Error) -> StoreError {
    if is_conflict(&e) {
        CONFLICT.with(|c| c.set(true));
    }
    StoreError::from(e)
}

impl Tx<'_, '_> {
    /// `sql` prepared on this connection (see [`Connection`]).
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(prepared) = self.statements.get(sql) {
            return Ok(prepared.clone());
        }
        let prepared = self.tx.prepare(sql).map_err(pg)?;
        // Listing filters build their SQL from the request: bound what a connection keeps.
        if self.statements.len() >= MAX_PREPARED {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), prepared.clone());
        Ok(prepared)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<postgres::Row>, StoreError> {
        let statement = self.statement(sql)?;
        self.tx.query(&statement, params).map_err(pg)
    }

    /// Announces to the other processes on this database what this transaction appended that
    /// people wait on ([`listen`]); PostgreSQL delivers it with the commit, or not at all.
    fn announce(&mut self) -> Result<(), StoreError> {
        let payloads = announcements(&self.touched);
        if payloads.is_empty() {
            return Ok(());
        }
        self.execute("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload", &[&CHANGES, &payloads]).map(drop)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        self.tx.execute(&statement, params).map_err(pg)
    }

    fn one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<postgres::Row, StoreError> {
        let statement = self.statement(sql)?;
        self.tx.query_one(&statement, params).map_err(pg)
    }

    fn opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<postgres::Row>, StoreError> {
        let statement = self.statement(sql)?;
        self.tx.query_opt(&statement, params).map_err(pg)
    }

    /// A case's body, its reports not yet read; locked until commit in a write transaction, so
    /// changes to a case take turns.
    fn ticket_body(&mut self, id: &TicketId) -> Result<Option<Ticket>, StoreError> {
        let sql = self.locking("SELECT body FROM tickets WHERE id = $1");
        self.opt(&sql, &[&id.as_str()])?.map(|r| ticket_from_json(&r.get::<_, String>(0))).transpose()
    }

    /// A case's reports that `sql` selects, oldest first.
    fn case_reports(&mut self, sql: &str, id: &TicketId) -> Result<Vec<ReportSummary>, StoreError> {
        self.query(sql, &[&id.as_str()])?.iter().map(|r| report_from_json(r.get(0), r.get(1))).collect()
    }

    /// Cases from their bodies, with all their reports, read in one statement for them all.
    fn tickets_with_reports(&mut self, rows: &[postgres::Row]) -> Result<Vec<Ticket>, StoreError> {
        let mut tickets = rows.iter().map(|r| ticket_from_json(&r.get::<_, String>(0))).collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<&str> = tickets.iter().map(|t| t.id.as_str()).collect();
        let mut reports: HashMap<String, Vec<ReportSummary>> = HashMap::new();
        let sql = "SELECT ticket_id, reference, body FROM case_reports WHERE ticket_id = ANY($1) ORDER BY ticket_id, ordinal";
        for row in self.query(sql, &[&ids])? {
            reports.entry(row.get(0)).or_default().push(report_from_json(row.get(1), row.get(2))?);
        }
        for t in &mut tickets {
            t.reports = reports.remove(t.id.as_str()).unwrap_or_default();
        }
        Ok(tickets)
    }

    fn known_cases(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<KnownCase>, StoreError> {
        self.query(sql, params)?
            .into_iter()
            .map(|r| {
                let state: Option<String> = r.get(6);
                Ok(KnownCase {
                    ticket_id: TicketId::new(r.get::<_, String>(0)),
                    category: CategoryCode::parse(&r.get::<_, String>(1)).map_err(|e| corrupt("router case category", e))?,
                    location: r.get::<_, Option<f64>>(2).zip(r.get::<_, Option<f64>>(3)).map(|(x, y)| Point::new(x, y)),
                    opened_at: Timestamp::from_millis(r.get(4)),
                    last_seen_at: Timestamp::from_millis(r.get(5)),
                    open: state.is_none_or(|s| !TicketState::from_name(&s).is_some_and(TicketState::is_terminal)),
                })
            })
            .collect()
    }

    /// Open cases past their running deadline at `now` (a suspended case's clock stands still).
    fn overdue_open(&mut self, now: Timestamp) -> Result<u64, StoreError> {
        let overdue: i64 = self.one(&OVERDUE_OPEN_SQL, &[&now.millis()])?.get(0);
        Ok(seq(overdue))
    }

    fn count_by(&mut self, sql: &str) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self.query(sql, &[])?.into_iter().map(|r| (r.get::<_, String>(0), seq(r.get(1)))).collect())
    }

    /// `sql` (a one-row select), locking the row it reads until commit in a write transaction,
    /// so read-modify-write changes to it take turns.
    fn locking(&self, sql: &str) -> String {
        if self.write { format!("{sql} FOR UPDATE") } else { sql.to_owned() }
    }

    /// Takes the next seq of a head row, locking it until commit.
    fn next_head(&mut self, head: Head, key: &str) -> Result<i64, StoreError> {
        if let Some((last, ahead)) = self.heads.of(head).get_mut(key) {
            *last += 1;
            *ahead = true;
            return Ok(*last);
        }
        let (table, column) = head.table();
        let taken: i64 = self
            .one(
                &format!("INSERT INTO {table} ({column}, last) VALUES ($1, 1) ON CONFLICT ({column}) DO UPDATE SET last = {table}.last + 1 RETURNING last"),
                &[&key],
            )?
            .get(0);
        self.heads.of(head).insert(key.to_owned(), (taken, false));
        Ok(taken)
    }

    /// The last seq of a head row, locking it until commit.
    fn lock_head(&mut self, head: Head, key: &str) -> Result<i64, StoreError> {
        if let Some((last, _)) = self.heads.of(head).get(key) {
            return Ok(*last);
        }
        let (table, column) = head.table();
        self.execute(&format!("INSERT INTO {table} ({column}, last) VALUES ($1, 0) ON CONFLICT ({column}) DO NOTHING"), &[&key])?;
        let last: i64 = self.one(&format!("SELECT last FROM {table} WHERE {column} = $1 FOR UPDATE"), &[&key])?.get(0);
        self.heads.of(head).insert(key.to_owned(), (last, false));
        Ok(last)
    }

    /// Writes the head rows that are behind the seqs this transaction took.
    fn write_heads(&mut self) -> Result<(), StoreError> {
        let mut ahead = Vec::new();
        for head in [Head::Log, Head::Feed] {
            ahead.extend(self.heads.of(head).iter().filter(|(_, (_, ahead))| *ahead).map(|(key, (last, _))| (head, key.clone(), *last)));
        }
        for (head, key, last) in ahead {
            let (table, column) = head.table();
            self.execute(&format!("UPDATE {table} SET last = $2 WHERE {column} = $1"), &[&key, &last])?;
        }
        Ok(())
    }
}

/// The head rows a transaction has locked, by kind and key: the last seq taken from each, and
/// whether that is ahead of the row.
#[derive(Default)]
struct Heads {
    log: HashMap<String, (i64, bool)>,
    feed: HashMap<String, (i64, bool)>,
}

impl Heads {
    fn of(&mut self, head: Head) -> &mut HashMap<String, (i64, bool)> {
        match head {
            Head::Log => &mut self.log,
            Head::Feed => &mut self.feed,
        }
    }
}

/// The rows sequence numbers are taken from: one per log topic, one per squad's feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Head {
    Log,
    Feed,
}

impl Head {
    /// The table and its key column.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Head::Log => ("log_heads", "topic"),
            Head::Feed => ("feed_heads", "squad"),
        }
    }
}

fn log_record(r: &postgres::Row) -> LogRecord {
    LogRecord { seq: seq(r.get(0)), key: r.get(1), payload: r.get(2), appended_at: Timestamp::from_millis(r.get(3)) }
}

fn account_row(r: &postgres::Row) -> Account {
    Account {
        username: r.get(0),
        display_name: r.get(1),
        role: r.get(2),
        squad: r.get(3),
        password_hash: r.get(4),
        disabled: r.get(5),
        created_at: Timestamp::from_millis(r.get(6)),
        updated_at: Timestamp::from_millis(r.get(7)),
    }
}

fn machine_key_row(r: &postgres::Row) -> Result<MachineKey, StoreError> {
    Ok(MachineKey {
        id: r.get(0),
        name: r.get(1),
        role: r.get(2),
        cameras: cameras_from_json(r.get(3))?,
        secret_hash: r.get(4),
        created_at: Timestamp::from_millis(r.get(5)),
        revoked_at: r.get::<_, Option<i64>>(6).map(Timestamp::from_millis),
    })
}

fn session_row(r: &postgres::Row) -> Session {
    Session {
        id: r.get(0),
        username: r.get(1),
        created_at: Timestamp::from_millis(r.get(2)),
        expires_at: Timestamp::from_millis(r.get(3)),
        revoked_at: r.get::<_, Option<i64>>(4).map(Timestamp::from_millis),
    }
}

fn audit_row(r: &postgres::Row) -> AuditEntry {
    AuditEntry {
        seq: seq(r.get(0)),
        at: Timestamp::from_millis(r.get(1)),
        actor: r.get(2),
        action: r.get(3),
        target: r.get(4),
        address: r.get(5),
        outcome: r.get(6),
    }
}

impl ReadTx for Tx<'_, '_> {
    fn read_log(&mut self, topic: &str, after_seq: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        let rows = self.query(
            "SELECT seq, key, payload, appended_at FROM log WHERE topic = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&topic, &as_i64(after_seq), &as_i64(limit as u64)],
        )?;
        Ok(rows.iter().map(log_record).collect())
    }

    fn ticket_history(&mut self, id: &TicketId, after_seq: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        let rows = self.query(
            "SELECT seq, key, payload, appended_at FROM log WHERE topic = 'ticket-events' AND key = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&id.as_str(), &as_i64(after_seq), &as_i64(limit as u64)],
        )?;
        Ok(rows.iter().map(log_record).collect())
    }

    fn last_ticket_change_at(&mut self, id: &TicketId) -> Result<Option<Timestamp>, StoreError> {
        let row =
            self.opt("SELECT appended_at FROM log WHERE topic = 'ticket-events' AND key = $1 ORDER BY seq DESC LIMIT 1", &[&id.as_str()])?;
        Ok(row.map(|r| Timestamp::from_millis(r.get(0))))
    }

    fn log_end(&mut self, topic: &str) -> Result<u64, StoreError> {
        if self.write {
            // Lock the head row appends take their seq from, until commit.
            return Ok(seq(self.lock_head(Head::Log, topic)?));
        }
        let row = self.one("SELECT COALESCE(MAX(seq), 0) FROM log WHERE topic = $1", &[&topic])?;
        Ok(seq(row.get(0)))
    }

    fn position(&mut self, consumer: &str, topic: &str) -> Result<u64, StoreError> {
        let row = self.opt("SELECT next_seq FROM consumer_positions WHERE consumer = $1 AND topic = $2", &[&consumer, &topic])?;
        Ok(row.map_or(1, |r| seq(r.get(0))))
    }

    fn intake_key(&mut self, key: &str) -> Result<Option<IntakeKeyEntry>, StoreError> {
        let row = self.opt("SELECT fingerprint, reference, received_at FROM intake_keys WHERE idem_key = $1", &[&key])?;
        Ok(row.map(|r| IntakeKeyEntry {
            fingerprint: r.get(0),
            reference: Reference::new(r.get::<_, String>(1)),
            received_at: Timestamp::from_millis(r.get(2)),
        }))
    }

    fn report_status(&mut self, reference: &Reference) -> Result<ReportStatus, StoreError> {
        let row = self.opt("SELECT ticket_id FROM reports WHERE reference = $1", &[&reference.as_str()])?;
        Ok(match row.map(|r| r.get::<_, Option<String>>(0)) {
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
        let mut sql = String::from("SELECT body FROM tickets WHERE TRUE");
        let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: Box<dyn ToSql + Sync>| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if !filter.states.is_empty() {
            let names: Vec<String> = filter.states.iter().map(|s| format!("'{}'", s.name())).collect();
            sql.push_str(&format!(" AND state IN ({})", names.join(",")));
        }
        if let Some(squad) = &filter.squad {
            arg(&mut sql, " AND squad = ?", Box::new(squad.to_string()));
        }
        if let Some(street) = &filter.street {
            arg(&mut sql, " AND street = ?", Box::new(street.to_string()));
        }
        if let Some(category) = &filter.category {
            arg(&mut sql, " AND category = ?", Box::new(category.to_string()));
        }
        if let Some(now) = filter.overdue_at {
            arg(&mut sql, " AND deadline IS NOT NULL AND deadline <= ?", Box::new(now.millis()));
        }
        if let Some(from) = filter.created_from {
            arg(&mut sql, " AND created_at >= ?", Box::new(from.millis()));
        }
        if let Some(to) = filter.created_to {
            arg(&mut sql, " AND created_at < ?", Box::new(to.millis()));
        }
        if filter.clock_running {
            sql.push_str(" AND deadline IS NOT NULL");
        }
        if let Some(caller) = &filter.caller {
            arg(&mut sql, " AND id IN (SELECT ticket_id FROM reports WHERE contact_key = ?)", Box::new(caller.clone()));
        }
        if let Some(after) = &filter.after {
            args.push(Box::new(after.created_at.millis()));
            args.push(Box::new(after.id.to_string()));
            let (a, b) = (args.len() - 1, args.len());
            sql.push_str(&format!(" AND (created_at < ${a} OR (created_at = ${a} AND id < ${b}))"));
        }
        args.push(Box::new(as_i64(filter.limit as u64)));
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${}", args.len()));
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        let rows = self.query(&sql, &params)?;
        self.tickets_with_reports(&rows)
    }

    fn each_ticket_created(
        &mut self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        each: &mut dyn FnMut(Ticket),
    ) -> Result<(), StoreError> {
        let (from, to) = (from.map_or(i64::MIN, Timestamp::millis), to.map_or(i64::MAX, Timestamp::millis));
        let statement = self.statement("SELECT body FROM tickets WHERE created_at >= $1 AND created_at < $2")?;
        // Rows are decoded as they arrive, not gathered first.
        let mut rows = self.tx.query_raw(&statement, [&from as &(dyn ToSql + Sync), &to]).map_err(pg)?;
        while let Some(row) = rows.next().map_err(pg)? {
            each(ticket_from_json(row.get::<_, &str>(0))?);
        }
        Ok(())
    }

    fn feed_end(&mut self, squad: &SquadId) -> Result<u64, StoreError> {
        Ok(seq(self.one("SELECT COALESCE(MAX(seq), 0) FROM squad_feed WHERE squad = $1", &[&squad.as_str()])?.get(0)))
    }

    fn feed(&mut self, squad: &SquadId, after_seq: u64, limit: usize) -> Result<Vec<FeedEntry>, StoreError> {
        let rows = self.query(
            "SELECT f.seq, f.ticket_id, f.kind, f.at, l.payload FROM squad_feed f \
             JOIN log l ON l.topic = 'ticket-events' AND l.seq = f.event_seq \
             WHERE f.squad = $1 AND f.seq > $2 ORDER BY f.seq LIMIT $3",
            &[&squad.as_str(), &as_i64(after_seq), &as_i64(limit as u64)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(FeedEntry {
                    squad: squad.clone(),
                    seq: seq(r.get(0)),
                    ticket_id: TicketId::new(r.get::<_, String>(1)),
                    kind: feed_kind_from(&r.get::<_, String>(2))?,
                    at: Timestamp::from_millis(r.get(3)),
                    event_payload: r.get(4),
                })
            })
            .collect()
    }

    fn due_timers(&mut self, now: Timestamp, limit: usize) -> Result<Vec<(TicketId, Timer)>, StoreError> {
        // In a write transaction the due timers are claimed: another tracker skips them.
        let sql = if self.write {
            "SELECT ticket_id, generation, kind, due FROM timers WHERE due <= $1 ORDER BY due LIMIT $2 FOR UPDATE SKIP LOCKED"
        } else {
            "SELECT ticket_id, generation, kind, due FROM timers WHERE due <= $1 ORDER BY due LIMIT $2"
        };
        self.query(sql, &[&now.millis(), &as_i64(limit as u64)])?
            .iter()
            .map(|r| {
                let generation = u32::try_from(r.get::<_, i64>(1)).map_err(|e| corrupt("timer generation", e))?;
                Ok((
                    TicketId::new(r.get::<_, String>(0)),
                    Timer { generation, kind: timer_kind_from(&r.get::<_, String>(2))?, due: Timestamp::from_millis(r.get(3)) },
                ))
            })
            .collect()
    }

    fn next_timer_due(&mut self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.one("SELECT MIN(due) FROM timers", &[])?.get::<_, Option<i64>>(0).map(Timestamp::from_millis))
    }

    fn known_cases_near(
        &mut self,
        category: &CategoryCode,
        since: Timestamp,
        min: Point<f64>,
        max: Point<f64>,
    ) -> Result<Vec<KnownCase>, StoreError> {
        self.known_cases(
            "SELECT rc.ticket_id, rc.category, rc.lon, rc.lat, rc.opened_at, rc.last_seen_at, t.state \
             FROM router_cases rc LEFT JOIN tickets t ON t.id = rc.ticket_id \
             WHERE rc.category = $1 AND rc.square = ANY($2) AND rc.opened_at >= $3 \
             AND rc.lon BETWEEN $4 AND $5 AND rc.lat BETWEEN $6 AND $7",
            &[&category.as_str(), &squares_covering(min, max), &since.millis(), &min.x(), &max.x(), &min.y(), &max.y()],
        )
    }

    fn known_cases_for_camera(&mut self, camera_key: &str) -> Result<Vec<KnownCase>, StoreError> {
        self.known_cases(
            "SELECT rc.ticket_id, rc.category, rc.lon, rc.lat, rc.opened_at, rc.last_seen_at, t.state \
             FROM router_cases rc LEFT JOIN tickets t ON t.id = rc.ticket_id \
             WHERE rc.camera_key = $1 ORDER BY rc.last_seen_at DESC LIMIT 16",
            &[&camera_key],
        )
    }

    fn live_counts(&mut self, now: Timestamp) -> Result<LiveCounts, StoreError> {
        let by_state = counts_by_state(self.count_by("SELECT state, COUNT(*) FROM tickets GROUP BY state")?);
        let overdue_open = self.overdue_open(now)?;
        let intake_by_channel = self
            .count_by("SELECT channel, COUNT(*) FROM reports GROUP BY channel")?
            .into_iter()
            .filter_map(|(c, n)| channel_from(&c).map(|c| (c, n)))
            .collect();
        let escalations_by_name = self.count_by("SELECT name, COUNT(*) FROM escalations GROUP BY name ORDER BY MIN(level)")?;
        let merged: i64 = self.one("SELECT COUNT(*) FROM reports WHERE disposition = 'merged'", &[])?.get(0);
        Ok(LiveCounts { by_state, overdue_open, intake_by_channel, escalations_by_name, merged_reports: seq(merged) })
    }

    fn open_ticket_counts(&mut self, now: Timestamp) -> Result<OpenTicketCounts, StoreError> {
        let by_state = counts_by_state(self.count_by(&UNFINISHED_BY_STATE_SQL)?);
        Ok(OpenTicketCounts { by_state, overdue: self.overdue_open(now)? })
    }

    fn dead_letters(&mut self, topic: &str) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = self.query("SELECT source_seq, reason FROM dead_letters WHERE source_topic = $1 ORDER BY source_seq", &[&topic])?;
        Ok(rows.iter().map(|r| (seq(r.get(0)), r.get(1))).collect())
    }

    fn account(&mut self, username: &str) -> Result<Option<Account>, StoreError> {
        let sql = self.locking(
            "SELECT username, display_name, role, squad, password_hash, disabled, created_at, updated_at \
             FROM accounts WHERE username = $1",
        );
        Ok(self.opt(&sql, &[&username])?.as_ref().map(account_row))
    }

    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        let rows = self.query(
            "SELECT username, display_name, role, squad, password_hash, disabled, created_at, updated_at \
             FROM accounts ORDER BY username",
            &[],
        )?;
        Ok(rows.iter().map(account_row).collect())
    }

    fn machine_key(&mut self, id: &str) -> Result<Option<MachineKey>, StoreError> {
        let sql = self.locking("SELECT id, name, role, cameras, secret_hash, created_at, revoked_at FROM machine_keys WHERE id = $1");
        self.opt(&sql, &[&id])?.as_ref().map(machine_key_row).transpose()
    }

    fn machine_keys(&mut self) -> Result<Vec<MachineKey>, StoreError> {
        self.query("SELECT id, name, role, cameras, secret_hash, created_at, revoked_at FROM machine_keys ORDER BY created_at, id", &[])?
            .iter()
            .map(machine_key_row)
            .collect()
    }

    fn session(&mut self, id: &str) -> Result<Option<Session>, StoreError> {
        let sql = self.locking("SELECT id, username, created_at, expires_at, revoked_at FROM sessions WHERE id = $1");
        Ok(self.opt(&sql, &[&id])?.as_ref().map(session_row))
    }

    fn audit_log(&mut self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self.query(
            "SELECT seq, at, actor, action, target, address, outcome FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&as_i64(after_seq), &as_i64(limit as u64)],
        )?;
        Ok(rows.iter().map(audit_row).collect())
    }

    fn signing_secret(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.opt("SELECT secret FROM signing_secret WHERE id = 1", &[])?.map(|r| r.get(0)))
    }

    fn photo(&mut self, id: &str) -> Result<Option<Photo>, StoreError> {
        let row = self.opt("SELECT id, ticket_id, content_type, bytes, uploaded_by, uploaded_at FROM photos WHERE id = $1", &[&id])?;
        Ok(row.map(|r| Photo {
            id: r.get(0),
            ticket_id: TicketId::new(r.get::<_, String>(1)),
            content_type: r.get(2),
            bytes: r.get(3),
            uploaded_by: r.get(4),
            uploaded_at: Timestamp::from_millis(r.get(5)),
        }))
    }

    fn photo_usage(&mut self, ticket: &TicketId) -> Result<(u64, u64), StoreError> {
        let row = self.one("SELECT COUNT(*), COALESCE(SUM(size), 0)::BIGINT FROM photos WHERE ticket_id = $1", &[&ticket.as_str()])?;
        Ok((seq(row.get(0)), seq(row.get(1))))
    }

    fn task_action(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.opt("SELECT fingerprint FROM task_actions WHERE action_key = $1", &[&key])?.map(|r| r.get(0)))
    }

    fn report_decision(&mut self, reference: &Reference) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self.opt("SELECT decision FROM reports WHERE reference = $1", &[&reference.as_str()])?;
        Ok(row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
    }

    fn assessment_totals(&mut self, period: &str) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = self.query("SELECT unit, indicator, value FROM assessment_totals WHERE period = $1", &[&period])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    fn assessment_lines(&mut self, period: &str, last_seq: u64) -> Result<Vec<LedgerLine>, StoreError> {
        let rows = self.query(
            "SELECT seq, period, units, indicator, ticket_id, amount, at FROM assessment_ledger \
             WHERE period = $1 AND seq <= $2 ORDER BY seq",
            &[&period, &as_i64(last_seq)],
        )?;
        Ok(rows
            .iter()
            .map(|r| LedgerLine {
                seq: seq(r.get(0)),
                period: r.get(1),
                units: r.get::<_, String>(2).split(' ').map(str::to_owned).collect(),
                indicator: r.get(3),
                ticket_id: TicketId::new(r.get::<_, String>(4)),
                amount: r.get(5),
                at: Timestamp::from_millis(r.get(6)),
            })
            .collect())
    }

    fn frozen_period(&mut self, period: &str) -> Result<Option<FrozenPeriod>, StoreError> {
        let row = self.opt("SELECT period, frozen_at, frozen_by, last_seq, sheet FROM assessment_frozen WHERE period = $1", &[&period])?;
        Ok(row.as_ref().map(frozen_row))
    }

    fn frozen_periods(&mut self) -> Result<Vec<FrozenPeriod>, StoreError> {
        let rows = self.query("SELECT period, frozen_at, frozen_by, last_seq, '' FROM assessment_frozen ORDER BY period DESC", &[])?;
        Ok(rows.iter().map(frozen_row).collect())
    }
}

fn frozen_row(r: &postgres::Row) -> FrozenPeriod {
    FrozenPeriod {
        period: r.get(0),
        frozen_at: Timestamp::from_millis(r.get(1)),
        frozen_by: r.get(2),
        last_seq: seq(r.get(3)),
        sheet: r.get(4),
    }
}

impl WriteTx for Tx<'_, '_> {
    fn append_log(&mut self, topic: &str, key: &str, payload: &[u8], at: Timestamp) -> Result<u64, StoreError> {
        let n = self.next_head(Head::Log, topic)?;
        self.execute(
            "INSERT INTO log (topic, seq, key, payload, appended_at) VALUES ($1, $2, $3, $4, $5)",
            &[&topic, &n, &key, &payload, &at.millis()],
        )?;
        if let Some(signal) = Signal::of_topic(topic) {
            self.touched.signals.insert(signal);
        }
        Ok(seq(n))
    }

    fn set_position(&mut self, consumer: &str, topic: &str, next_seq: u64) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO consumer_positions (consumer, topic, next_seq) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer, topic) DO UPDATE SET next_seq = excluded.next_seq",
            &[&consumer, &topic, &as_i64(next_seq)],
        )?;
        Ok(())
    }

    fn trim_log(&mut self, topic: &str, appended_before: Timestamp, limit: usize) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM log WHERE topic = $1 AND seq < LEAST( \
               COALESCE((SELECT MIN(next_seq) FROM consumer_positions WHERE topic = $1), 0), \
               COALESCE((SELECT seq FROM log WHERE topic = $1 AND appended_at >= $2 ORDER BY seq LIMIT 1), 9223372036854775807), \
               (SELECT COALESCE(MAX(seq), 0) FROM log WHERE topic = $1), \
               (SELECT COALESCE(MIN(seq), 0) FROM log WHERE topic = $1) + $3)",
            &[&topic, &appended_before.millis(), &as_i64(limit as u64)],
        )
    }

    fn trim_finished_histories(&mut self, finished_before: Timestamp, after_seq: u64, limit: usize) -> Result<HistoryTrim, StoreError> {
        let window: Vec<(i64, String, i64)> = self
            .query(
                "SELECT seq, key, appended_at FROM log WHERE topic = 'ticket-events' AND seq > $1 ORDER BY seq LIMIT $2",
                &[&as_i64(after_seq), &as_i64(limit as u64)],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let keep_from: i64 = self
            .one(
                "SELECT LEAST(COALESCE((SELECT MIN(next_seq) FROM consumer_positions WHERE topic = 'ticket-events'), 9223372036854775807), \
                              (SELECT COALESCE(MAX(seq), 0) FROM log WHERE topic = 'ticket-events'))",
                &[],
            )?
            .get(0);
        let mut deleted = 0;
        for case in cases_of(&window) {
            let last = self.opt(
                "SELECT t.state, l.seq, l.appended_at FROM tickets t JOIN log l ON l.topic = 'ticket-events' AND l.key = t.id \
                 WHERE t.id = $1 ORDER BY l.seq DESC LIMIT 1",
                &[&case],
            )?;
            if let Some(row) = last
                && history_may_go(row.get(0), row.get(1), row.get(2), finished_before, keep_from)
            {
                deleted += self.execute("DELETE FROM log WHERE topic = 'ticket-events' AND key = $1", &[&case])?;
            }
        }
        Ok(history_trim(deleted, &window))
    }

    fn put_intake_key(&mut self, key: &str, entry: &IntakeKeyEntry) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO intake_keys (idem_key, fingerprint, reference, received_at) VALUES ($1, $2, $3, $4)",
            &[&key, &entry.fingerprint, &entry.reference.as_str(), &entry.received_at.millis()],
        )?;
        Ok(())
    }

    fn put_report(&mut self, reference: &Reference, channel: Channel, received_at: Timestamp) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO reports (reference, channel, received_at) VALUES ($1, $2, $3) ON CONFLICT (reference) DO NOTHING",
            &[&reference.as_str(), &channel.name(), &received_at.millis()],
        )?;
        Ok(())
    }

    fn record_decision(
        &mut self,
        reference: &Reference,
        channel: Channel,
        received_at: Timestamp,
        decision: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        // The upsert locks the row: of two routers deciding one report at once, the second
        // waits for the first to commit and gets its decision back.
        let row = self.one(
            "INSERT INTO reports (reference, channel, received_at, decision) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (reference) DO UPDATE SET decision = COALESCE(reports.decision, excluded.decision) RETURNING decision",
            &[&reference.as_str(), &channel.name(), &received_at.millis(), &decision],
        )?;
        Ok(row.get(0))
    }

    fn link_report(&mut self, reference: &Reference, ticket: &TicketId, disposition: &str, caller: Option<&str>) -> Result<(), StoreError> {
        self.execute(
            "UPDATE reports SET ticket_id = $2, disposition = $3, contact_key = $4 WHERE reference = $1",
            &[&reference.as_str(), &ticket.as_str(), &disposition, &caller],
        )?;
        Ok(())
    }

    fn put_ticket(&mut self, before: Option<&Ticket>, t: &Ticket) -> Result<(), StoreError> {
        let body = ticket_json(t)?;
        self.execute(
            "INSERT INTO tickets (id, state, squad, street, category, created_at, deadline, version, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, squad = excluded.squad, street = excluded.street, \
             deadline = excluded.deadline, version = excluded.version, body = excluded.body",
            &[
                &t.id.as_str(),
                &t.state.name(),
                &t.squad.as_ref().map(SquadId::as_str),
                &t.cell.as_ref().map(|c| c.street_code.to_string()),
                &t.category.as_str(),
                &t.created_at.millis(),
                &t.active_clock().map(|c| c.deadline.millis()),
                &as_i64(t.version),
                &body,
            ],
        )?;
        let (left, joined) = report_changes(before, t);
        for reference in left {
            self.execute("DELETE FROM case_reports WHERE ticket_id = $1 AND reference = $2", &[&t.id.as_str(), &reference.as_str()])?;
        }
        for report in joined {
            // The case's row is locked (it was read for update, or is new in this transaction),
            // so the next ordinal is this transaction's to take.
            self.execute(
                "INSERT INTO case_reports (ticket_id, ordinal, reference, body) \
                 VALUES ($1, (SELECT COALESCE(MAX(ordinal), 0) + 1 FROM case_reports WHERE ticket_id = $1), $2, $3)",
                &[&t.id.as_str(), &report.reference.as_str(), &report_json(report)?],
            )?;
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
        let n = self.next_head(Head::Feed, squad.as_str())?;
        self.execute(
            "INSERT INTO squad_feed (squad, seq, ticket_id, kind, at, event_seq) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&squad.as_str(), &n, &ticket.as_str(), &feed_kind_text(kind), &at.millis(), &as_i64(event_seq)],
        )?;
        self.touched.feeds.insert(squad.clone());
        Ok(seq(n))
    }

    fn replace_timers(&mut self, ticket: &TicketId, timers: &[Timer]) -> Result<(), StoreError> {
        self.execute("DELETE FROM timers WHERE ticket_id = $1", &[&ticket.as_str()])?;
        if !timers.is_empty() {
            let generations: Vec<i64> = timers.iter().map(|t| i64::from(t.generation)).collect();
            let kinds: Vec<String> = timers.iter().map(|t| timer_kind_text(t.kind)).collect();
            let dues: Vec<i64> = timers.iter().map(|t| t.due.millis()).collect();
            self.execute(
                "INSERT INTO timers (ticket_id, generation, kind, due) \
                 SELECT $1, g, k, d FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::BIGINT[]) AS t (g, k, d)",
                &[&ticket.as_str(), &generations, &kinds, &dues],
            )?;
        }
        self.touched.signals.insert(Signal::Timers);
        Ok(())
    }

    fn record_escalation(&mut self, ticket: &TicketId, generation: u32, level: u32, name: &str, at: Timestamp) -> Result<bool, StoreError> {
        let inserted = self.execute(
            "INSERT INTO escalations (ticket_id, generation, level, name, fired_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&ticket.as_str(), &i64::from(generation), &i64::from(level), &name, &at.millis()],
        )?;
        Ok(inserted == 1)
    }

    fn put_known_case(&mut self, case: &KnownCase, camera_key: Option<&str>) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO router_cases (ticket_id, category, lon, lat, square, opened_at, last_seen_at, camera_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (ticket_id) DO NOTHING",
            &[
                &case.ticket_id.as_str(),
                &case.category.as_str(),
                &case.location.map(|p| p.x()),
                &case.location.map(|p| p.y()),
                &case.location.and_then(square_of),
                &case.opened_at.millis(),
                &case.last_seen_at.millis(),
                &camera_key,
            ],
        )?;
        Ok(())
    }

    fn touch_known_case(&mut self, ticket: &TicketId, at: Timestamp) -> Result<(), StoreError> {
        self.execute(
            "UPDATE router_cases SET last_seen_at = GREATEST(last_seen_at, $2) WHERE ticket_id = $1 AND camera_key IS NOT NULL",
            &[&ticket.as_str(), &at.millis()],
        )?;
        Ok(())
    }

    fn dead_letter(&mut self, topic: &str, record: &LogRecord, reason: &str) -> Result<(), StoreError> {
        tracing::error!(topic, seq = record.seq, reason, "record kept as a dead letter");
        self.execute(
            "INSERT INTO dead_letters (source_topic, source_seq, source_key, reason, payload, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[&topic, &as_i64(record.seq), &record.key, &reason, &record.payload, &record.appended_at.millis()],
        )?;
        Ok(())
    }

    fn put_account(&mut self, a: &Account) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO accounts (username, display_name, role, squad, password_hash, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name, role = excluded.role, \
             squad = excluded.squad, password_hash = excluded.password_hash, disabled = excluded.disabled, \
             created_at = excluded.created_at, updated_at = excluded.updated_at",
            &[
                &a.username,
                &a.display_name,
                &a.role,
                &a.squad,
                &a.password_hash,
                &a.disabled,
                &a.created_at.millis(),
                &a.updated_at.millis(),
            ],
        )?;
        Ok(())
    }

    fn put_machine_key(&mut self, k: &MachineKey) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO machine_keys (id, name, role, cameras, secret_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, cameras = excluded.cameras, \
             secret_hash = excluded.secret_hash, created_at = excluded.created_at, revoked_at = excluded.revoked_at",
            &[
                &k.id,
                &k.name,
                &k.role,
                &cameras_json(&k.cameras)?,
                &k.secret_hash,
                &k.created_at.millis(),
                &k.revoked_at.map(Timestamp::millis),
            ],
        )?;
        Ok(())
    }

    fn put_session(&mut self, s: &Session) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO sessions (id, username, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET username = excluded.username, created_at = excluded.created_at, \
             expires_at = excluded.expires_at, revoked_at = excluded.revoked_at",
            &[&s.id, &s.username, &s.created_at.millis(), &s.expires_at.millis(), &s.revoked_at.map(Timestamp::millis)],
        )?;
        Ok(())
    }

    fn delete_expired_sessions(&mut self, now: Timestamp) -> Result<u64, StoreError> {
        self.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now.millis()])
    }

    fn append_audit(&mut self, e: &AuditEntry) -> Result<u64, StoreError> {
        // The head row stays locked until commit: seqs are gapless and in commit order.
        let n: i64 = self
            .one(
                "INSERT INTO audit_head (id, last) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET last = audit_head.last + 1 RETURNING last",
                &[],
            )?
            .get(0);
        self.execute(
            "INSERT INTO audit_log (seq, at, actor, action, target, address, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&n, &e.at.millis(), &e.actor, &e.action, &e.target, &e.address, &e.outcome],
        )?;
        Ok(seq(n))
    }

    fn init_signing_secret(&mut self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        // A process racing the first one waits on its insert, then (read committed) sees its row.
        self.execute("INSERT INTO signing_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", &[&candidate])?;
        Ok(self.one("SELECT secret FROM signing_secret WHERE id = 1", &[])?.get(0))
    }

    fn put_photo(&mut self, p: &Photo) -> Result<bool, StoreError> {
        let inserted = self.execute(
            "INSERT INTO photos (id, ticket_id, content_type, bytes, size, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            &[
                &p.id,
                &p.ticket_id.as_str(),
                &p.content_type,
                &p.bytes,
                &as_i64(p.bytes.len() as u64),
                &p.uploaded_by,
                &p.uploaded_at.millis(),
            ],
        )?;
        Ok(inserted == 1)
    }

    fn put_task_action(&mut self, key: &str, fingerprint: &str, ticket: &TicketId, at: Timestamp) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO task_actions (action_key, fingerprint, ticket_id, applied_at) VALUES ($1, $2, $3, $4)",
            &[&key, &fingerprint, &ticket.as_str(), &at.millis()],
        )?;
        Ok(())
    }

    fn book_assessment(&mut self, entries: &[Entry], at: Timestamp) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        // One statement for the lines and one for the totals, however many there are.
        let periods: Vec<String> = entries.iter().map(|e| e.period.to_string()).collect();
        let units: Vec<String> = entries.iter().map(units_column).collect();
        let indicators: Vec<String> = entries.iter().map(|e| e.indicator.name()).collect();
        let tickets: Vec<&str> = entries.iter().map(|e| e.ticket.as_str()).collect();
        let amounts: Vec<i64> = entries.iter().map(|e| e.amount).collect();
        self.execute(
            "INSERT INTO assessment_ledger (period, units, indicator, ticket_id, amount, at) \
             SELECT p, u, i, t, a, $6 FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[]) \
             WITH ORDINALITY AS l (p, u, i, t, a, n) ORDER BY n",
            &[&periods, &units, &indicators, &tickets, &amounts, &at.millis()],
        )?;
        let totals = assessment_totals(entries);
        let mut columns: (Vec<&str>, Vec<&str>, Vec<&str>, Vec<i64>) = Default::default();
        for ((period, unit, indicator), value) in &totals {
            columns.0.push(period);
            columns.1.push(unit);
            columns.2.push(indicator);
            columns.3.push(*value);
        }
        // The totals' keys are distinct (a map's), as one upsert statement needs.
        self.execute(
            "INSERT INTO assessment_totals (period, unit, indicator, value) \
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[]) \
             ON CONFLICT (period, unit, indicator) DO UPDATE SET value = assessment_totals.value + EXCLUDED.value",
            &[&columns.0, &columns.1, &columns.2, &columns.3],
        )?;
        Ok(())
    }

    fn assessment_high_water(&mut self) -> Result<u64, StoreError> {
        // Sequence numbers are handed out before their transactions commit: wait for every
        // writer booking lines now, so no line below the mark can appear after it.
        self.execute("LOCK TABLE assessment_ledger IN SHARE MODE", &[])?;
        Ok(seq(self.one("SELECT COALESCE(MAX(seq), 0)::BIGINT FROM assessment_ledger", &[])?.get(0)))
    }

    fn freeze_period(&mut self, f: &FrozenPeriod) -> Result<bool, StoreError> {
        let inserted = self.execute(
            "INSERT INTO assessment_frozen (period, frozen_at, frozen_by, last_seq, sheet) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (period) DO NOTHING",
            &[&f.period, &f.frozen_at.millis(), &f.frozen_by, &as_i64(f.last_seq), &f.sheet],
        )?;
        Ok(inserted == 1)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh database at schema `version` on the test server, holding cases as (id, body) in
    /// that version's form; returns its connection string.
    pub(crate) fn at_schema(version: usize, cases: &[(&str, &str)]) -> String {
        let db = crate::conformance::backends::postgres_url();
        let cases: Vec<(String, String)> = cases.iter().map(|(id, body)| ((*id).to_owned(), (*body).to_owned())).collect();
        let url = db.clone();
        std::thread::spawn(move || {
            let mut client = connect(&url).expect("connect");
            client.batch_execute("CREATE TABLE schema_version (version BIGINT NOT NULL)").expect("version table");
            for sql in &MIGRATIONS[..version] {
                client.batch_execute(sql).expect("old migration");
            }
            client.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&as_i64(version as u64)]).expect("version");
            for (id, body) in &cases {
                client
                    .execute(
                        "INSERT INTO tickets (id, state, category, created_at, version, body) VALUES ($1, 'dispatched', 'E0102', 0, 1, $2)",
                        &[id, body],
                    )
                    .expect("old case");
            }
        })
        .join()
        .expect("thread");
        db
    }
}
