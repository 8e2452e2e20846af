//! gridd's store: the source of truth for tickets, and in the embedded mode also the durable
//! log between the roles.
//!
//! Roles talk to it through [`Store`]: a closure runs inside one transaction ([`WriteTx`] or
//! [`ReadTx`]) and everything it writes commits together — a ticket change, its history
//! event, its squad-feed entries, its timers and the consumer position that caused it. That is
//! what makes delivery effectively exactly-once: a crash either loses the whole step (it is
//! replayed from the log) or none of it.
//!
//! Backends: [`sqlite::SqliteStore`] (embedded default) and [`postgres::PostgresStore`]
//! (distributed mode, several processes on one database), checked by one conformance suite.
//! Log payloads are opaque bytes here (protobuf, encoded by the roles); tickets are stored as
//! JSON of the core type.

use std::future::Future;

use std::collections::{BTreeMap, HashSet};

use gridd_core::assessment::{Entry, Unit};
use gridd_core::category::CategoryCode;
use gridd_core::dedup::KnownCase;
use gridd_core::ids::{Reference, SquadId, StreetCode, TicketId};
use gridd_core::report::Channel;
use gridd_core::ticket::{FeedKind, Ticket, TicketState, Timer};
use gridd_core::time::Timestamp;

mod codec;
pub mod postgres;
pub mod sqlite;
mod squares;

/// Log topic names. The embedded log and Kafka use the same names (Kafka with a prefix).
pub mod topics {
    /// Validated reports from intake.
    pub const INTAKE: &str = "intake";
    /// Router decisions.
    pub const DISPATCH: &str = "dispatch";
    /// Every ticket change; also each ticket's history.
    pub const TICKET_EVENTS: &str = "ticket-events";
}

/// A storage failure. The transaction that hit it was rolled back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database failed (I/O, constraint, busy past the timeout).
    #[error("store backend: {0}")]
    Backend(String),
    /// Stored data could not be read back (a bug or tampering, never a client's fault).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// What a wait can wake up on; bumped after every commit that touched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// A record was appended to the intake log.
    Intake,
    /// A record was appended to the dispatch log.
    Dispatch,
    /// A ticket event was appended.
    TicketEvents,
    /// Timers changed.
    Timers,
}

/// What a transaction changed that waits wake on: signals, and the squad feeds it appended to
/// (each feed has a wait of its own, see [`Store::subscribe_feed`]).
#[derive(Debug, Default)]
struct Touched {
    signals: HashSet<Signal>,
    feeds: HashSet<SquadId>,
}

impl Touched {
    fn extend(&mut self, other: Touched) {
        self.signals.extend(other.signals);
        self.feeds.extend(other.feeds);
    }

    /// Takes out what people outside the engine wait on: terminals on their squad's feed,
    /// dashboards on the ticket events. What is left wakes the engine's own roles and timers,
    /// which may read a commit before it is durable, since what they write after it can be no
    /// more durable than it (a log's commits reach the disk in order).
    fn take_outside(&mut self) -> Touched {
        let ticket_events = self.signals.remove(&Signal::TicketEvents);
        Touched { signals: ticket_events.then_some(Signal::TicketEvents).into_iter().collect(), feeds: std::mem::take(&mut self.feeds) }
    }
}

/// One watch channel per [`Signal`], and one per squad feed someone watches, shared by a
/// store's clones: bumped after each commit that touched it, subscribed to by waits. Feeds
/// have a channel each so that a task reaching one squad does not wake every terminal.
struct Signals {
    signals: Vec<(Signal, tokio::sync::watch::Sender<u64>)>,
    feeds: std::sync::Mutex<std::collections::HashMap<SquadId, tokio::sync::watch::Sender<u64>>>,
}

impl Signals {
    fn new() -> Self {
        Self { signals: Signal::ALL.iter().map(|s| (*s, tokio::sync::watch::channel(0).0)).collect(), feeds: Default::default() }
    }

    /// Wakes the waits on everything in `touched`.
    fn notify(&self, touched: &Touched) {
        let bump = |sender: &tokio::sync::watch::Sender<u64>| sender.send_modify(|n| *n = n.wrapping_add(1));
        self.signals.iter().filter(|(s, _)| touched.signals.contains(s)).for_each(|(_, sender)| bump(sender));
        if !touched.feeds.is_empty() {
            let feeds = self.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            touched.feeds.iter().filter_map(|squad| feeds.get(squad)).for_each(bump);
        }
    }

    fn subscribe(&self, signal: Signal) -> tokio::sync::watch::Receiver<u64> {
        self.signals
            .iter()
            .find(|(s, _)| *s == signal)
            .map(|(_, sender)| sender.subscribe())
            .unwrap_or_else(|| tokio::sync::watch::channel(0).1)
    }

    /// A wait on `squad`'s feed. Channels nobody watches any more are dropped here.
    fn subscribe_feed(&self, squad: &SquadId) -> tokio::sync::watch::Receiver<u64> {
        let mut feeds = self.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        feeds.retain(|_, sender| sender.receiver_count() > 0);
        feeds.entry(squad.clone()).or_insert_with(|| tokio::sync::watch::channel(0).0).subscribe()
    }
}

impl Signal {
    const ALL: [Signal; 4] = [Signal::Intake, Signal::Dispatch, Signal::TicketEvents, Signal::Timers];

    fn of_topic(topic: &str) -> Option<Signal> {
        match topic {
            topics::INTAKE => Some(Signal::Intake),
            topics::DISPATCH => Some(Signal::Dispatch),
            topics::TICKET_EVENTS => Some(Signal::TicketEvents),
            _ => None,
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Position in its topic, from 1.
    pub seq: u64,
    /// Partition key (area, camera or ticket id).
    pub key: String,
    /// Encoded payload.
    pub payload: Vec<u8>,
    /// When it was appended.
    pub appended_at: Timestamp,
}

/// What an idempotency key was given the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeKeyEntry {
    /// Hash of the normalised request, to tell a retry from a reused key.
    pub fingerprint: String,
    /// The reference given.
    pub reference: Reference,
    /// When it was accepted.
    pub received_at: Timestamp,
}

/// Where a report reference stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportStatus {
    /// Never accepted.
    Unknown,
    /// Accepted, not yet filed or merged.
    Pending,
    /// Part of this case.
    Linked(TicketId),
}

/// Resume point of a ticket listing (keyset pagination, newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    /// Creation time of the last ticket of the previous page.
    pub created_at: Timestamp,
    /// Its id.
    pub id: TicketId,
}

/// Filters of a ticket listing; empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    /// Only these states.
    pub states: Vec<TicketState>,
    /// Only this squad's.
    pub squad: Option<SquadId>,
    /// Only this street's.
    pub street: Option<StreetCode>,
    /// Only this category.
    pub category: Option<CategoryCode>,
    /// Only open cases whose running clock is past its deadline at this instant.
    pub overdue_at: Option<Timestamp>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before.
    pub created_to: Option<Timestamp>,
    /// Only cases with a report from the phone number of this [`caller_key`].
    pub caller: Option<String>,
    /// Only tickets whose clock runs (with the terminal states: a reply still owed).
    pub clock_running: bool,
    /// Continue after this ticket.
    pub after: Option<PageCursor>,
    /// Page size.
    pub limit: usize,
}

/// One entry of a squad's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// The squad.
    pub squad: SquadId,
    /// Per-squad sequence number, contiguous from 1.
    pub seq: u64,
    /// The ticket.
    pub ticket_id: TicketId,
    /// What the squad is told.
    pub kind: FeedKind,
    /// When.
    pub at: Timestamp,
    /// The ticket event that caused it (encoded TicketEvent).
    pub event_payload: Vec<u8>,
}

/// A due timer of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimer<'a> {
    /// The ticket.
    pub ticket_id: &'a TicketId,
    /// The timer.
    pub timer: Timer,
}

/// What one step of [`WriteTx::trim_finished_histories`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryTrim {
    /// Ticket events deleted.
    pub deleted: u64,
    /// The last ticket event looked at, and when it was appended; `None` when the step found
    /// none after its start.
    pub looked_to: Option<(u64, Timestamp)>,
}

/// Counts for the live summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Tickets per state.
    pub by_state: Vec<(TicketState, u64)>,
    /// Open tickets past their running deadline.
    pub overdue_open: u64,
    /// Reports accepted per channel.
    pub intake_by_channel: Vec<(Channel, u64)>,
    /// Escalations fired per level name.
    pub escalations_by_name: Vec<(String, u64)>,
    /// Reports merged into an existing case.
    pub merged_reports: u64,
}

/// The cases not finished yet, as the gauges sample them every few seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenTicketCounts {
    /// Cases per state that is not terminal, suspended included (states with none are left
    /// out).
    pub by_state: Vec<(TicketState, u64)>,
    /// Cases past their running deadline (a suspended case's clock stands still).
    pub overdue: u64,
}

/// A person's local account. `role` and `squad` are opaque strings here (the access crate
/// parses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The sign-in name; the key, case-sensitive.
    pub username: String,
    /// The name shown to others.
    pub display_name: String,
    /// The role, as the access crate names it.
    pub role: String,
    /// The squad a squad member belongs to.
    pub squad: Option<String>,
    /// A PHC string (Argon2id) of the password, never the password.
    pub password_hash: String,
    /// A disabled account cannot sign in.
    pub disabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A machine key. Only the hash of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineKey {
    /// The key (the public part of the key).
    pub id: String,
    /// What it is for, for people.
    pub name: String,
    /// The role, as the access crate names it.
    pub role: String,
    /// Camera ids a camera gateway is bound to (empty for other keys), in the order given.
    pub cameras: Vec<String>,
    /// Hash of the secret part.
    pub secret_hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A sign-in session: the refresh token's hash identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The key: hash of the refresh token.
    pub id: String,
    /// Whose session it is.
    pub username: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops being usable.
    pub expires_at: Timestamp,
    /// When it was revoked (signed out), if it was.
    pub revoked_at: Option<Timestamp>,
}

/// One entry of the audit log (sign-ins, sign-outs, key and account changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log, from 1, contiguous in commit order; assigned by the store on
    /// append (ignored there).
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// Who did it (a username or machine key id).
    pub actor: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// The network address it came from.
    pub address: String,
    /// How it ended.
    pub outcome: String,
}

/// A line of the 考核 ledger as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    /// Its place in the ledger (increasing).
    pub seq: u64,
    /// The month, `YYYY-MM`.
    pub period: String,
    /// Unit keys it is credited to ([`gridd_core::assessment::Unit::key`]).
    pub units: Vec<String>,
    /// Indicator name.
    pub indicator: String,
    /// The case.
    pub ticket_id: TicketId,
    /// Amount.
    pub amount: i64,
    /// When it was booked.
    pub at: Timestamp,
}

/// A month's report as frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenPeriod {
    /// The month, `YYYY-MM`.
    pub period: String,
    /// When it was frozen.
    pub frozen_at: Timestamp,
    /// Who froze it.
    pub frozen_by: String,
    /// The last ledger line it includes.
    pub last_seq: u64,
    /// The report (a [`gridd_core::assessment::Sheet`] as JSON).
    pub sheet: String,
}

/// The totals a batch of ledger entries adds, per (month, unit, indicator), in key order (so
/// concurrent writers take the rows' locks in one order).
pub fn assessment_totals(entries: &[Entry]) -> BTreeMap<(String, String, String), i64> {
    let mut totals = BTreeMap::new();
    for e in entries {
        for unit in &e.units {
            *totals.entry((e.period.to_string(), unit.key(), e.indicator.name())).or_default() += e.amount;
        }
    }
    totals
}

/// The stored `units` column of an entry.
fn units_column(e: &Entry) -> String {
    e.units.iter().map(Unit::key).collect::<Vec<_>>().join(" ")
}

/// A photo uploaded for a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// Its id: see [`photo_id`].
    pub id: String,
    /// The case.
    pub ticket_id: TicketId,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
    /// The image.
    pub bytes: Vec<u8>,
    /// Who uploaded it (a username).
    pub uploaded_by: String,
    /// When.
    pub uploaded_at: Timestamp,
}

/// The id of a photo of a case: the same image uploaded again for the same case gets the same
/// id, so a terminal's retry finds the stored photo instead of storing it twice.
pub fn photo_id(ticket: &TicketId, bytes: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(ticket.as_str().as_bytes());
    ctx.update(&[0]);
    ctx.update(bytes);
    hex(&ctx.finish().as_ref()[..16])
}

/// The key reports are looked up by their reporter's phone number with: a SHA-256 of the
/// number's digits without a `+86` or `0086` country prefix, so `+8613812345678` and
/// `13812345678` find the same cases. `None` for a value that is not a phone number.
pub fn caller_key(phone: &str) -> Option<String> {
    let national = gridd_core::ids::national_number(phone);
    let digits = national.strip_prefix('+').unwrap_or(national);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(hex(ring::digest::digest(&ring::digest::SHA256, digits.as_bytes()).as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads inside a transaction (a consistent snapshot).
pub trait ReadTx {
    /// Records of `topic` after `after_seq`, oldest first, at most `limit`.
    fn read_log(&mut self, topic: &str, after_seq: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError>;
    /// A page of a case's history: its records on ticket-events after `after_seq`, oldest
    /// first, at most `limit`. Ticket events are the only records read by key, so only they
    /// are indexed by key.
    fn ticket_history(&mut self, id: &TicketId, after_seq: u64, limit: usize) -> Result<Vec<LogRecord>, StoreError>;
    /// When a case last changed (its last ticket event was appended), without reading its
    /// history; `None` when it has none.
    fn last_ticket_change_at(&mut self, id: &TicketId) -> Result<Option<Timestamp>, StoreError>;
    /// The last seq of `topic` (0 when empty). In a write transaction the end stays locked
    /// until commit, so `log_end + 1` is the seq this transaction's next append to `topic`
    /// gets, however many processes append at once.
    fn log_end(&mut self, topic: &str) -> Result<u64, StoreError>;
    /// The next seq `consumer` reads on `topic` (1 when it never read).
    fn position(&mut self, consumer: &str, topic: &str) -> Result<u64, StoreError>;
    /// What an idempotency key was given.
    fn intake_key(&mut self, key: &str) -> Result<Option<IntakeKeyEntry>, StoreError>;
    /// Where a report stands.
    fn report_status(&mut self, reference: &Reference) -> Result<ReportStatus, StoreError>;
    /// A ticket, with all its reports.
    fn ticket(&mut self, id: &TicketId) -> Result<Option<Ticket>, StoreError>;
    /// A ticket with its opening and newest report only (`report_count` counts them all): what
    /// taking in one more report needs, at the same cost however many the case has.
    fn ticket_ends(&mut self, id: &TicketId) -> Result<Option<Ticket>, StoreError>;
    /// Tickets matching `filter`, newest first, with all their reports.
    fn list_tickets(&mut self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError>;
    /// Calls `each` with every ticket created in `[from, to)`, one at a time and without its
    /// reports: a month of a large city's cases is more than memory should hold at once, and
    /// the indicators read none of the reports.
    fn each_ticket_created(
        &mut self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        each: &mut dyn FnMut(Ticket),
    ) -> Result<(), StoreError>;
    /// Squad feed entries after `after_seq`, oldest first.
    fn feed(&mut self, squad: &SquadId, after_seq: u64, limit: usize) -> Result<Vec<FeedEntry>, StoreError>;
    /// The seq of a squad feed's last entry (0 when it has none).
    fn feed_end(&mut self, squad: &SquadId) -> Result<u64, StoreError>;
    /// Timers due at or before `now`, earliest first.
    fn due_timers(&mut self, now: Timestamp, limit: usize) -> Result<Vec<(TicketId, Timer)>, StoreError>;
    /// The earliest timer, if any.
    fn next_timer_due(&mut self) -> Result<Option<Timestamp>, StoreError>;
    /// Cases the router opened with `category`, opened since `since`, inside the lon/lat box.
    fn known_cases_near(
        &mut self,
        category: &CategoryCode,
        since: Timestamp,
        min: geo::Point<f64>,
        max: geo::Point<f64>,
    ) -> Result<Vec<KnownCase>, StoreError>;
    /// Cases the router opened from this camera and detection.
    fn known_cases_for_camera(&mut self, camera_key: &str) -> Result<Vec<KnownCase>, StoreError>;
    /// Counts for the live summary at `now`.
    fn live_counts(&mut self, now: Timestamp) -> Result<LiveCounts, StoreError>;
    /// Unfinished cases per state and how many are overdue, from the tickets' state index alone:
    /// cheap enough to sample every few seconds on a store of a million cases, which
    /// [`ReadTx::live_counts`] (it also counts every report) is not.
    fn open_ticket_counts(&mut self, now: Timestamp) -> Result<OpenTicketCounts, StoreError>;
    /// Dead letters of `topic`: (seq, reason), oldest first.
    fn dead_letters(&mut self, topic: &str) -> Result<Vec<(u64, String)>, StoreError>;
    /// An account by username (case-sensitive). In a write transaction it stays locked until
    /// commit, so changes to one account take turns.
    fn account(&mut self, username: &str) -> Result<Option<Account>, StoreError>;
    /// Every account, ordered by username (byte order).
    fn accounts(&mut self) -> Result<Vec<Account>, StoreError>;
    /// A machine key by id, revoked or not. In a write transaction it stays locked until commit.
    fn machine_key(&mut self, id: &str) -> Result<Option<MachineKey>, StoreError>;
    /// Every machine key, revoked ones too, ordered by creation time, then id.
    fn machine_keys(&mut self) -> Result<Vec<MachineKey>, StoreError>;
    /// A session by id (the refresh token's hash), expired or revoked or not. In a write
    /// transaction it stays locked until commit, so of two refreshes with one token only the
    /// first finds it unrevoked.
    fn session(&mut self, id: &str) -> Result<Option<Session>, StoreError>;
    /// Audit entries after `after_seq`, oldest first, at most `limit`.
    fn audit_log(&mut self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// The token-signing secret, if one was stored.
    fn signing_secret(&mut self) -> Result<Option<Vec<u8>>, StoreError>;
    /// A photo by id.
    fn photo(&mut self, id: &str) -> Result<Option<Photo>, StoreError>;
    /// How many photos a case has, and their bytes in all.
    fn photo_usage(&mut self, ticket: &TicketId) -> Result<(u64, u64), StoreError>;
    /// The fingerprint of the task action recorded under `key`, if one was.
    fn task_action(&mut self, key: &str) -> Result<Option<String>, StoreError>;
    /// The router's decision recorded for a report (a `DispatchDecision`, encoded), if any.
    fn report_decision(&mut self, reference: &Reference) -> Result<Option<Vec<u8>>, StoreError>;
    /// The 考核 totals of `period` (`YYYY-MM`): (unit key, indicator name, value).
    fn assessment_totals(&mut self, period: &str) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// The 考核 ledger lines of `period` up to `last_seq`, in order.
    fn assessment_lines(&mut self, period: &str, last_seq: u64) -> Result<Vec<LedgerLine>, StoreError>;
    /// The frozen report of `period`, if frozen.
    fn frozen_period(&mut self, period: &str) -> Result<Option<FrozenPeriod>, StoreError>;
    /// The frozen months, newest first (without their sheets).
    fn frozen_periods(&mut self) -> Result<Vec<FrozenPeriod>, StoreError>;
}

/// Writes inside a transaction; everything commits together or not at all.
pub trait WriteTx: ReadTx {
    /// Appends to `topic`; returns the record's seq.
    fn append_log(&mut self, topic: &str, key: &str, payload: &[u8], at: Timestamp) -> Result<u64, StoreError>;
    /// Sets the next seq `consumer` reads on `topic`.
    fn set_position(&mut self, consumer: &str, topic: &str, next_seq: u64) -> Result<(), StoreError>;
    /// Deletes the oldest records of `topic`, at most `limit`, and returns how many: those
    /// before the first one appended at or after `appended_before` (a log is trimmed from its
    /// start), that every consumer with a position on `topic` has read. Nothing is deleted
    /// from a topic no consumer has a position on, and its newest record is always kept, so
    /// seqs go on from it.
    fn trim_log(&mut self, topic: &str, appended_before: Timestamp, limit: usize) -> Result<u64, StoreError>;
    /// One step of trimming finished cases' histories. Looks at the ticket events after
    /// `after_seq`, at most `limit`, and deletes every event of each of their cases that is
    /// finished (closed, cancelled or not filed) and whose last event was appended before
    /// `finished_before`, has been read by every consumer with a position on ticket-events, and
    /// is not the log's newest record (seqs go on from it). A case still open keeps its whole
    /// history, however old.
    fn trim_finished_histories(&mut self, finished_before: Timestamp, after_seq: u64, limit: usize) -> Result<HistoryTrim, StoreError>;
    /// Records an idempotency key.
    fn put_intake_key(&mut self, key: &str, entry: &IntakeKeyEntry) -> Result<(), StoreError>;
    /// Records an accepted report (pending); nothing if it is recorded already.
    fn put_report(&mut self, reference: &Reference, channel: Channel, received_at: Timestamp) -> Result<(), StoreError>;
    /// Records the router's decision for a report (recording the report too if need be),
    /// unless one is recorded already; returns the decision that stands, which is the first.
    fn record_decision(
        &mut self,
        reference: &Reference,
        channel: Channel,
        received_at: Timestamp,
        decision: &[u8],
    ) -> Result<Vec<u8>, StoreError>;
    /// Links a report to its case; `disposition` is `filed` or `merged`; `caller` is the
    /// [`caller_key`] of the reporter's phone number, if it gave one.
    fn link_report(&mut self, reference: &Reference, ticket: &TicketId, disposition: &str, caller: Option<&str>) -> Result<(), StoreError>;
    /// Inserts or replaces a ticket, changed from `before` as it was loaded in this
    /// transaction (`None` for a new case): of its reports only those that joined or left it
    /// are written.
    fn put_ticket(&mut self, before: Option<&Ticket>, ticket: &Ticket) -> Result<(), StoreError>;
    /// Appends to a squad's feed; returns its seq.
    fn append_feed(&mut self, squad: &SquadId, ticket: &TicketId, kind: FeedKind, at: Timestamp, event_seq: u64)
    -> Result<u64, StoreError>;
    /// Replaces all of a ticket's timers.
    fn replace_timers(&mut self, ticket: &TicketId, timers: &[Timer]) -> Result<(), StoreError>;
    /// Records a fired escalation; false if that (ticket, generation, level) was already recorded.
    fn record_escalation(&mut self, ticket: &TicketId, generation: u32, level: u32, name: &str, at: Timestamp) -> Result<bool, StoreError>;
    /// Records a case the router opened.
    fn put_known_case(&mut self, case: &KnownCase, camera_key: Option<&str>) -> Result<(), StoreError>;
    /// Notes another report joining a known case: its time becomes the case's last report if
    /// later. Only a case found again by its key (`put_known_case`'s camera and detection, or
    /// component) keeps it, since the camera's cooldown runs from it; nothing reads it of the
    /// others, and leaving their rows alone spares a merge the write of one more page.
    fn touch_known_case(&mut self, ticket: &TicketId, at: Timestamp) -> Result<(), StoreError>;
    /// Keeps a record of `topic` that cannot be processed, with the reason, so that it is not
    /// lost; the consumer then moves past it.
    fn dead_letter(&mut self, topic: &str, record: &LogRecord, reason: &str) -> Result<(), StoreError>;
    /// Inserts an account or replaces the one with its username.
    fn put_account(&mut self, account: &Account) -> Result<(), StoreError>;
    /// Inserts a machine key or replaces the one with its id.
    fn put_machine_key(&mut self, key: &MachineKey) -> Result<(), StoreError>;
    /// Inserts a session or replaces the one with its id.
    fn put_session(&mut self, session: &Session) -> Result<(), StoreError>;
    /// Removes the sessions whose `expires_at` is at or before `now`; returns how many.
    fn delete_expired_sessions(&mut self, now: Timestamp) -> Result<u64, StoreError>;
    /// Appends to the audit log (`entry.seq` is ignored); returns the seq it was given.
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<u64, StoreError>;
    /// Stores `candidate` as the token-signing secret unless one is stored already; returns
    /// the one that stands, which is the first, so processes starting together all end up
    /// with the same secret.
    fn init_signing_secret(&mut self, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Stores a photo unless one with its id is stored already; true if it was stored.
    fn put_photo(&mut self, photo: &Photo) -> Result<bool, StoreError>;
    /// Records a task action applied to `ticket` under the client's `key`, with a
    /// `fingerprint` of what it did; fails if the key is recorded already.
    fn put_task_action(&mut self, key: &str, fingerprint: &str, ticket: &TicketId, at: Timestamp) -> Result<(), StoreError>;
    /// Books 考核 ledger entries and adds them to the totals.
    fn book_assessment(&mut self, entries: &[Entry], at: Timestamp) -> Result<(), StoreError>;
    /// The last ledger line so far, with every line before it committed (0 if none): what a
    /// report frozen now includes. In PostgreSQL this waits for writers still booking lines.
    fn assessment_high_water(&mut self) -> Result<u64, StoreError>;
    /// Stores a frozen report; false (and nothing changed) if the month was frozen before.
    fn freeze_period(&mut self, frozen: &FrozenPeriod) -> Result<bool, StoreError>;
}

/// A store backend.
pub trait Store: Clone + Send + Sync + 'static {
    /// Runs `f` in one write transaction and commits if it returns `Ok`. Waiters on what it
    /// touched are woken after the commit. A backend may run `f` again from the start when the
    /// database aborts the transaction for a conflict (a deadlock between processes), so `f`
    /// must not have effects outside the transaction.
    fn write<R, E, F>(&self, f: F) -> impl Future<Output = Result<R, E>> + Send
    where
        F: Fn(&mut dyn WriteTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static;

    /// Like [`Store::write`], for a write its consumer redoes if it is lost: one that moves the
    /// consumer's position on a log in the same transaction, answering no client. A backend may
    /// commit it without waiting for the disk. It is durable once a later write is, or once
    /// nothing else waits to be written, and only then wakes the waits on the signals that
    /// reach outside the engine (squad feeds and ticket events). The default is [`Store::write`].
    fn write_redoable<R, E, F>(&self, f: F) -> impl Future<Output = Result<R, E>> + Send
    where
        F: Fn(&mut dyn WriteTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write(f)
    }

    /// Runs `f` on a consistent read snapshot.
    fn read<R, E, F>(&self, f: F) -> impl Future<Output = Result<R, E>> + Send
    where
        F: Fn(&mut dyn ReadTx) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static;

    /// A receiver that changes after every commit touching `signal`.
    fn subscribe(&self, signal: Signal) -> tokio::sync::watch::Receiver<u64>;

    /// A receiver that changes after every commit appending to `holder`'s feed.
    fn subscribe_feed(&self, holder: &SquadId) -> tokio::sync::watch::Receiver<u64>;
}

#[cfg(test)]
mod conformance;
