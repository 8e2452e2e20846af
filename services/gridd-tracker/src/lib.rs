//! The tracker role: owns tickets.
//!
//! - It applies the router's decisions from the dispatch log (file a case, or merge a report
//!   into one) — [`Tracker`] as a role of the one record driver ([`gridd_driver`]) in both
//!   modes;
//! - it fires due timers: warning lights, the 督办 ladder, the accept deadline — [`run_timers`];
//! - and it applies people's commands for the gateway — [`Tracker::command`].
//!
//! Every change goes through the core state machine and is recorded by [`record`] in the same
//! transaction as its cause: the ticket, one ticket event per change (the history, and the
//! outbox the squad feeds and dashboards read), the squad-feed entries, the escalation rows,
//! and the ticket's timers, replaced by what the new state needs. Timers are rows, so they
//! survive a crash; an escalation row's key (ticket, clock generation, level) makes a second
//! firing impossible.

use std::sync::Arc;
use std::time::Duration;

use gridd_config::{CityConfig, CityHandle};
use gridd_core::assessment;
use gridd_core::category::LimitSpec;
use gridd_core::ids::TicketId;
use gridd_core::report::{Decision, Outcome};
use gridd_core::ticket::{self, Actor, Command, CommandError, NewCase, Policy, Ticket, Transition, desired_timers};
use gridd_core::time::{Clock, Timestamp};
use gridd_driver::{Role, Verdict};
use gridd_proto::prost::Message;
use gridd_proto::{tonic, v1};
use gridd_store::{ReadTx, Signal, Store, StoreError, WriteTx, topics};
use tokio_util::sync::CancellationToken;

pub mod kafka;

/// Consumer name of the tracker on the dispatch log.
pub const CONSUMER: &str = "tracker";
/// Timers fired per transaction.
const TIMER_BATCH: usize = 128;
/// Longest sleep of the embedded timer loop, so a changed wall clock is noticed.
pub const MAX_TIMER_SLEEP: Duration = Duration::from_secs(30);
/// Handling limit for a report whose category left the catalogue after intake accepted it.
const FALLBACK_HANDLING: &str = "1WD";

/// Why a command on a ticket failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackerError {
    /// No such ticket.
    #[error("ticket {0} not found")]
    NotFound(TicketId),
    /// The state machine refused it.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A request's value is wrong (e.g. a corrected category not in the catalogue).
    #[error(transparent)]
    Invalid(#[from] gridd_core::FieldError),
    /// The client's action id was used before for another command or ticket.
    #[error("action_id {0} was already used for another command")]
    ActionReused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TrackerError {
    /// The gRPC status for this error.
    pub fn status(&self) -> tonic::Status {
        match self {
            TrackerError::NotFound(_) => tonic::Status::not_found(self.to_string()),
            TrackerError::ActionReused(_) => tonic::Status::already_exists(self.to_string()),
            TrackerError::Invalid(e) => gridd_proto::status::invalid_argument(e),
            TrackerError::Command(CommandError::NotAssigned { .. }) => tonic::Status::permission_denied(self.to_string()),
            TrackerError::Command(CommandError::VersionConflict { .. }) => tonic::Status::aborted(self.to_string()),
            TrackerError::Command(
                CommandError::IllegalTransition { .. } | CommandError::AlreadyAssigned { .. } | CommandError::StaleTimer { .. },
            ) => tonic::Status::failed_precondition(self.to_string()),
            TrackerError::Store(e) => gridd_proto::status::unavailable("ticket command", e),
        }
    }
}

/// The state machine's policy from the city configuration.
pub fn policy(city: &CityConfig) -> Policy<'_> {
    Policy { calendar: &city.calendar, ladder: &city.ladder, stages: &city.stages, on_dissatisfied: city.verification.on_dissatisfied }
}

/// A ticket as clients see it, with squad and category names from the city.
pub fn view(city: &CityConfig, t: &Ticket, now: Timestamp) -> v1::Ticket {
    let squad = t.squad.as_ref().and_then(|s| city.responsibility.squad(s)).map_or("", |s| s.name.as_str());
    let category = city.catalogue.get(&t.category).map_or("", |c| c.name.as_str());
    let mut view = gridd_proto::ticket(t, now, gridd_proto::Names { squad, category });
    for pressing in &mut view.presses {
        pressing.label = city.ladder.at(pressing.level).map(|e| e.step.label.clone()).unwrap_or_default();
    }
    view
}

/// The case as an event carries it: the opening report and the newest only (`report_count`
/// says how many there are), so that the events of a case merged into n times cost O(n) in
/// all, not O(n²).
pub fn event_snapshot(mut ticket: v1::Ticket) -> v1::Ticket {
    if ticket.reports.len() > 2 {
        let newest = ticket.reports.pop();
        ticket.reports.truncate(1);
        ticket.reports.extend(newest);
    }
    ticket
}

/// Records a transition of `before` (`None` when it opened the case): the ticket, its events,
/// feed entries, escalations, timers and its lines of the 考核 ledger. Returns the level names
/// of the escalations it recorded, for the caller to count once they are durable.
pub fn record(
    tx: &mut dyn WriteTx,
    city: &CityConfig,
    now: Timestamp,
    actor: &Actor,
    before: Option<&Ticket>,
    transition: &Transition,
) -> Result<Vec<String>, StoreError> {
    let t = &transition.ticket;
    tx.put_ticket(before, t)?;
    let rules = assessment::Rules { offset: city.calendar.offset(), ladder: &city.ladder };
    let lines = assessment::entries(before, transition, now, rules);
    // Most changes (a reminder, a note) count for nothing: no statement for them.
    if !lines.is_empty() {
        tx.book_assessment(&lines, now)?;
    }
    let snapshot = event_snapshot(view(city, t, now));
    let mut escalations = Vec::new();
    for change in &transition.changes {
        let seq = tx.log_end(topics::TICKET_EVENTS)? + 1;
        let event = v1::TicketEvent {
            seq,
            ticket_id: t.id.to_string(),
            version: t.version,
            at: Some(gridd_proto::timestamp(now)),
            actor: actor.to_string(),
            kind: change.kind.name().to_owned(),
            detail: change.detail.clone(),
            state: gridd_proto::ticket_state(t.state).into(),
            ticket: Some(snapshot.clone()),
        };
        let appended = tx.append_log(topics::TICKET_EVENTS, t.id.as_str(), &event.encode_to_vec(), now)?;
        if appended != seq {
            // The store guarantees this (see `ReadTx::log_end`); refuse rather than publish an
            // event carrying the wrong seq.
            return Err(StoreError::Backend(format!("ticket event appended at seq {appended}, expected {seq}")));
        }
        for (squad, kind) in &change.feed {
            tx.append_feed(squad, &t.id, *kind, now, appended)?;
        }
        if let Some(fired) = change.escalation {
            let name = city.ladder.level_name(fired.level);
            if tx.record_escalation(&t.id, fired.generation, fired.level, &name, now)? {
                escalations.push(name);
            }
        }
        // The event above is the change's record. A line per change at info, written on the
        // one writer's thread, cost 4 % of intake and 10 % of a camera storm's alerts under
        // load (benches/README, "Logs off the writer's path"), and logged every merge.
        tracing::debug!(ticket_id = %t.id, kind = change.kind.name(), state = %t.state, "{}", change.detail);
    }
    tx.replace_timers(&t.id, &desired_timers(t, policy(city)))?;
    Ok(escalations)
}

/// Files or merges one router decision. Idempotent: a decision already applied changes
/// nothing. A decision that can never be applied (a merge into a case that does not exist or
/// refuses it) is [`Verdict::Poison`].
pub fn apply_decision(tx: &mut dyn WriteTx, city: &CityConfig, now: Timestamp, decision: &Decision) -> Result<Verdict, StoreError> {
    let report = &decision.report;
    if let gridd_store::ReportStatus::Linked(_) = tx.report_status(&report.reference)? {
        // Placed already: this is a replay.
        return Ok(Verdict::Applied);
    }
    match &decision.outcome {
        Outcome::Open { cell, placement } => {
            if tx.ticket(&decision.ticket_id)?.is_some() {
                return Ok(Verdict::Applied);
            }
            let case = new_case(city, report, decision.ticket_id.clone(), cell.clone(), placement.clone())?;
            let transition = ticket::open(case, now, policy(city));
            record(tx, city, now, &Actor::Router, None, &transition)?;
            tx.link_report(&report.reference, &decision.ticket_id, "filed", caller_key(report).as_deref())?;
        }
        Outcome::Attach { reason } => {
            // Taking in a report appends it, and needs none of the case's other reports: a case
            // a camera repeats thousands of times costs each merge the same.
            let Some(t) = tx.ticket_ends(&decision.ticket_id)? else {
                return Ok(Verdict::Poison(format!("merge into unknown ticket {}", decision.ticket_id)));
            };
            let command = Command::Attach { report: report.summary(), reason: reason.clone() };
            match ticket::apply(&t, &command, &Actor::Router, now, policy(city)) {
                Ok(transition) => {
                    record(tx, city, now, &Actor::Router, Some(&t), &transition)?;
                }
                Err(e) => return Ok(Verdict::Poison(e.to_string())),
            }
            tx.link_report(&report.reference, &decision.ticket_id, "merged", caller_key(report).as_deref())?;
        }
    }
    Ok(Verdict::Applied)
}

/// The case `report` opens as `id`, on the catalogue's terms as they are now.
fn new_case(
    city: &CityConfig,
    report: &gridd_core::report::Report,
    id: TicketId,
    cell: Option<gridd_core::grid::CellRef>,
    placement: ticket::Placement,
) -> Result<NewCase, StoreError> {
    let condition = report.condition.clone().unwrap_or_default();
    let (urgency, handling) = match city.catalogue.terms(report.category.as_str(), &condition) {
        Ok(terms) => (terms.urgency, terms.handling),
        Err(e) => {
            tracing::warn!(reference = %report.reference, error = %e, "category no longer in the catalogue; filing with the fallback limit");
            (Default::default(), LimitSpec::parse(FALLBACK_HANDLING).map_err(StoreError::Corrupt)?)
        }
    };
    let rural = cell.as_ref().and_then(|c| city.grid().divisions().street(&c.street_code)).is_some_and(|s| s.kind.is_rural());
    Ok(NewCase {
        id,
        report: report.summary(),
        category: report.category.clone(),
        condition: report.condition.clone(),
        urgency,
        handling,
        location: report.location,
        address: report.address.clone(),
        description: report.description.clone(),
        cell,
        rural,
        placement,
    })
}

/// The key a caller finds this report's case by (their phone number), if they gave one.
fn caller_key(report: &gridd_core::report::Report) -> Option<String> {
    report.contact_phone.as_deref().and_then(gridd_store::caller_key)
}

/// The tracker as a role of the record driver, on the router's decisions: each batch is
/// applied in one transaction, in both modes.
impl<S: Store> Role for Tracker<S> {
    type Item = Decision;
    type Store = S;
    const NAME: &'static str = CONSUMER;
    const TOPIC: &'static str = topics::DISPATCH;
    const SIGNAL: Signal = Signal::Dispatch;
    const BATCH: usize = 128;

    fn store(&self) -> &S {
        &self.store
    }

    fn decode(payload: &[u8]) -> Result<Decision, String> {
        gridd_router::decode_decision(payload)
    }

    fn apply(&self, tx: &mut dyn WriteTx, decisions: &[Decision]) -> Result<Vec<Verdict>, StoreError> {
        let (city, now) = (self.city.current(), self.clock.now());
        decisions.iter().map(|d| apply_decision(tx, &city, now, d)).collect()
    }
}

/// What one round of [`fire_due`] did.
#[derive(Debug, Default)]
pub struct TimersFired {
    /// When each timer taken was due.
    pub due: Vec<Timestamp>,
    /// The level names of the escalations recorded.
    pub escalations: Vec<String>,
}

/// Fires up to `max` timers due at `now`, in one transaction. A timer the ticket no longer
/// needs (the clock moved on) is dropped by re-deriving the ticket's timers.
pub fn fire_due(tx: &mut dyn WriteTx, city: &CityConfig, now: Timestamp, max: usize) -> Result<TimersFired, StoreError> {
    let due = tx.due_timers(now, max)?;
    let mut escalations = Vec::new();
    for (id, timer) in &due {
        let Some(t) = tx.ticket(id)? else {
            tx.replace_timers(id, &[])?;
            continue;
        };
        match ticket::apply(&t, &Command::Fire(*timer), &Actor::Timer, now, policy(city)) {
            Ok(transition) => escalations.extend(record(tx, city, now, &Actor::Timer, Some(&t), &transition)?),
            Err(_) => tx.replace_timers(id, &desired_timers(&t, policy(city)))?,
        }
    }
    Ok(TimersFired { due: due.iter().map(|(_, timer)| timer.due).collect(), escalations })
}

/// The timer loop: fire what is due, then sleep until the earliest timer or a change (at most
/// `max_sleep`: other processes' timers wake nobody here, so the distributed mode polls).
pub async fn run_timers<S: Store>(
    store: S,
    city: CityHandle,
    clock: Arc<dyn Clock>,
    max_sleep: Duration,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    let mut changed = store.subscribe(Signal::Timers);
    loop {
        changed.borrow_and_update();
        let (current, now) = (city.current(), clock.now());
        let fired = store.write(move |tx| fire_due(tx, &current, now, TIMER_BATCH)).await?;
        // Counted once durable: a group that is rolled back fired nothing, and its timers fire
        // again later. How late each was handled: escalations are due to the minute.
        let handled = clock.now();
        for due in &fired.due {
            metrics::histogram!("gridd_timer_lateness_seconds").record(handled.millis_since(*due).max(0) as f64 / 1000.0);
        }
        for level in fired.escalations {
            metrics::counter!("gridd_escalations_total", "level" => level).increment(1);
        }
        if fired.due.len() == TIMER_BATCH {
            continue;
        }
        let next = store.read(|tx: &mut dyn ReadTx| tx.next_timer_due()).await?;
        let sleep = next.map_or(max_sleep, |due| clock.wall_duration(due.millis_since(clock.now())).min(max_sleep));
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            _ = changed.changed() => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

/// People's commands on tickets, for the gateway.
#[derive(Clone)]
pub struct Tracker<S> {
    store: S,
    city: CityHandle,
    clock: Arc<dyn Clock>,
}

impl<S: Store> Tracker<S> {
    /// A tracker on `store`.
    pub fn new(store: S, city: CityHandle, clock: Arc<dyn Clock>) -> Self {
        Self { store, city, clock }
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Applies `command` from `actor` to ticket `id` (refused with ABORTED unless at
    /// `expected_version`, when given), keeps `note` in the history, and returns the ticket
    /// as clients see it. With an `action_id` (the client's id for this action), a repeat of
    /// an action already applied changes nothing and returns the ticket as it is now.
    pub async fn command(
        &self,
        id: TicketId,
        command: Command,
        actor: Actor,
        expected_version: Option<u64>,
        note: String,
        action_id: Option<String>,
    ) -> Result<v1::Ticket, TrackerError> {
        let order = Order { id, actor, expected_version, note, action_id };
        self.apply_built(order, move |_, _, _| Ok(command.clone())).await
    }

    /// Files a report its supervisor verified on site (核实): its terms and point as the
    /// supervisor confirmed or corrected them, routed as the router would route them now.
    pub async fn confirm(&self, order: Order, correction: Correction) -> Result<v1::Ticket, TrackerError> {
        self.apply_built(order, move |t, city, now| Ok(Command::Confirm { filing: Box::new(filing(city, t, &correction, now)?) })).await
    }

    /// Merges the duplicate case `order.id` into `master` (并案), in one transaction: the
    /// duplicate is cancelled as a duplicate naming the master, its reports (and so its
    /// callers' replies) move to the master, and both keep the link. Returns the master.
    pub async fn merge(&self, order: Order, master: TicketId) -> Result<v1::Ticket, TrackerError> {
        let city = self.city.current();
        let clock = self.clock.clone();
        self.store
            .write(move |tx| {
                let now = clock.now();
                let Order { id, actor, expected_version, note, .. } = &order;
                if *id == master {
                    return Err(gridd_core::FieldError::new("master_id", "is the duplicate case itself").into());
                }
                let (duplicate, kept) = read_pair(tx, id, &master)?;
                ticket::check_version(&duplicate, *expected_version)?;
                let merged = Command::MergeInto { master: master.clone() };
                let gone = noted(ticket::apply(&duplicate, &merged, actor, now, policy(&city))?, note);
                let absorb = Command::Absorb { duplicate: id.clone(), reports: duplicate.reports.clone() };
                let grown = noted(ticket::apply(&kept, &absorb, actor, now, policy(&city))?, note);
                record(tx, &city, now, actor, Some(&duplicate), &gone)?;
                record(tx, &city, now, actor, Some(&kept), &grown)?;
                for report in &duplicate.reports {
                    let caller = gridd_store::caller_key(&report.contact_phone);
                    tx.link_report(&report.reference, &master, "merged", caller.as_deref())?;
                }
                Ok(view(&city, &grown.ticket, now))
            })
            .await
    }

    /// Splits the report `reference` out of case `order.id` into a case of its own (拆分), in
    /// one transaction: filed from the report as intake took it and routed as the router would
    /// now; both cases keep the link. Returns the new case.
    pub async fn split(&self, order: Order, reference: gridd_core::ids::Reference) -> Result<v1::Ticket, TrackerError> {
        let city = self.city.current();
        let clock = self.clock.clone();
        self.store
            .write(move |tx| {
                let now = clock.now();
                let Order { id, actor, expected_version, note, .. } = &order;
                let t = tx.ticket(id)?.ok_or_else(|| TrackerError::NotFound(id.clone()))?;
                ticket::check_version(&t, *expected_version)?;
                let report = split_report(tx, &t, &reference)?;
                let new_id = free_ticket_id(tx, &reference)?;
                let (cell, placement) = gridd_router::place(&city, report.location, &report.category, now, now);
                let case = new_case(&city, &report, new_id.clone(), cell.clone(), placement.clone())?;
                let mut opened = ticket::open(case, now, policy(&city));
                opened.ticket.lineage.push(ticket::CaseLink::SplitFrom(id.clone()));
                if let Some(filed) = opened.changes.first_mut() {
                    filed.detail = format!("split out of case {id} (拆分); {}", filed.detail);
                }
                let split = Command::SplitOut { reference: reference.clone(), into: new_id.clone() };
                let left = noted(ticket::apply(&t, &split, actor, now, policy(&city))?, note);
                let opened = noted(opened, note);
                record(tx, &city, now, actor, Some(&t), &left)?;
                record(tx, &city, now, actor, None, &opened)?;
                tx.link_report(&reference, &new_id, "split", caller_key(&report).as_deref())?;
                let decision = Decision { report, ticket_id: new_id, outcome: Outcome::Open { cell, placement } };
                gridd_router::remember(tx, &decision)?;
                Ok(view(&city, &opened.ticket, now))
            })
            .await
    }

    /// Applies the command `build` makes from the ticket as stored, in one transaction.
    async fn apply_built<F>(&self, order: Order, build: F) -> Result<v1::Ticket, TrackerError>
    where
        F: Fn(&Ticket, &CityConfig, gridd_core::time::Timestamp) -> Result<Command, TrackerError> + Send + 'static,
    {
        let city = self.city.current();
        let clock = self.clock.clone();
        let Order { id, actor, expected_version, note, action_id } = order;
        // Actions are the actor's own: two members choosing the same id never meet.
        let action = action_id.map(|a| (format!("action/{actor}/{a}"), a));
        self.store
            .write(move |tx| {
                let now = clock.now();
                // Read (and in PostgreSQL lock) the ticket first, so a repeat sent while the
                // first is being applied waits for it and then finds its key.
                let t = tx.ticket(&id)?.ok_or_else(|| TrackerError::NotFound(id.clone()))?;
                let command = build(&t, &city, now)?;
                if let Some((key, client_id)) = &action {
                    let fingerprint = format!("{}:{id}", command.name());
                    match tx.task_action(key)? {
                        Some(earlier) if earlier == fingerprint => return Ok(view(&city, &t, now)),
                        Some(_) => return Err(TrackerError::ActionReused(gridd_core::error::quote(client_id))),
                        None => tx.put_task_action(key, &fingerprint, &id, now)?,
                    }
                }
                ticket::check_version(&t, expected_version)?;
                let transition = noted(ticket::apply(&t, &command, &actor, now, policy(&city))?, &note);
                record(tx, &city, now, &actor, Some(&t), &transition)?;
                Ok(view(&city, &transition.ticket, now))
            })
            .await
    }
}

/// The transition with the person's note added to each change's detail.
fn noted(mut transition: Transition, note: &str) -> Transition {
    if !note.trim().is_empty() {
        for change in &mut transition.changes {
            change.detail = format!("{} (note: {})", change.detail, note.trim());
        }
    }
    transition
}

/// Reads two tickets, locking them (in PostgreSQL) in id order, so two commands on the same
/// pair never wait on each other.
fn read_pair(tx: &mut dyn WriteTx, a: &TicketId, b: &TicketId) -> Result<(Ticket, Ticket), TrackerError> {
    let mut read = |id: &TicketId| tx.ticket(id)?.ok_or_else(|| TrackerError::NotFound(id.clone()));
    if a <= b {
        let first = read(a)?;
        Ok((first, read(b)?))
    } else {
        let second = read(b)?;
        Ok((read(a)?, second))
    }
}

/// The report `reference` of case `t` as intake took it, if it may be split out: one merged
/// into the case, not the case's own.
fn split_report(
    tx: &mut dyn WriteTx,
    t: &Ticket,
    reference: &gridd_core::ids::Reference,
) -> Result<gridd_core::report::Report, TrackerError> {
    let quoted = gridd_core::error::quote(reference.as_str());
    match t.reports.iter().position(|r| &r.reference == reference) {
        None => return Err(gridd_core::FieldError::new("reference", format!("{quoted} is not a report of case {}", t.id)).into()),
        Some(0) => {
            let why = format!("{quoted} is the case's own report; only reports merged into it can be split out");
            return Err(gridd_core::FieldError::new("reference", why).into());
        }
        Some(_) => {}
    }
    let bytes = tx
        .report_decision(reference)?
        .ok_or_else(|| TrackerError::Store(StoreError::Corrupt(format!("report {reference} has no recorded decision"))))?;
    Ok(gridd_router::recorded_decision(reference, &bytes)?.report)
}

/// The id of a case split out from report `reference`: the reference, as for any case a
/// report opens, unless a case has it already (the report opened a case merged away since).
fn free_ticket_id(tx: &mut dyn WriteTx, reference: &gridd_core::ids::Reference) -> Result<TicketId, StoreError> {
    let mut candidate = TicketId::new(reference.as_str());
    let mut n = 1;
    while tx.ticket(&candidate)?.is_some() {
        candidate = TicketId::new(format!("{reference}-{n}"));
        n += 1;
    }
    Ok(candidate)
}

/// Who asks for a change to which ticket, and how: the parts of a command every kind shares.
#[derive(Debug, Clone)]
pub struct Order {
    /// The ticket.
    pub id: TicketId,
    /// Who.
    pub actor: Actor,
    /// Refused with ABORTED unless the ticket is at this version.
    pub expected_version: Option<u64>,
    /// Kept in the history.
    pub note: String,
    /// The client's id for the action, applied once.
    pub action_id: Option<String>,
}

/// What a supervisor corrects when confirming a report; `None` keeps the report's.
#[derive(Debug, Clone, Default)]
pub struct Correction {
    /// The category.
    pub category: Option<String>,
    /// The filing condition (of the corrected category, or of the report's).
    pub condition: Option<String>,
    /// The point.
    pub location: Option<geo::Point<f64>>,
}

/// The filing of a verified report: the corrected terms (checked against the catalogue)
/// and where routing sends it now.
fn filing(city: &CityConfig, t: &Ticket, c: &Correction, now: gridd_core::time::Timestamp) -> Result<ticket::Filing, TrackerError> {
    let category = c.category.clone().unwrap_or_else(|| t.category.to_string());
    let condition = match (&c.category, &c.condition) {
        (_, Some(condition)) => condition.clone(),
        (Some(_), None) => String::new(),
        (None, None) => t.condition.clone().unwrap_or_default(),
    };
    let terms = city.catalogue.terms(&category, &condition).map_err(TrackerError::Invalid)?;
    let location = c.location.or(t.location);
    let (cell, placement) = gridd_router::place(city, location, &terms.class.code, now, now);
    let rural = cell.as_ref().and_then(|c| city.grid().divisions().street(&c.street_code)).is_some_and(|s| s.kind.is_rural());
    let mut corrections = Vec::new();
    if terms.class.code != t.category {
        corrections.push(format!("category {} → {}", t.category, terms.class.code));
    }
    if terms.condition.map(str::to_owned) != t.condition {
        corrections.push(format!("condition → {}", terms.condition.unwrap_or("default")));
    }
    if let (Some(new), old) = (c.location, t.location) {
        let moved = old.map_or_else(|| "set".to_string(), |old| format!("moved {:.0} m", gridd_core::coords::distance_m(old, new)));
        corrections.push(format!("point {moved}"));
    }
    Ok(ticket::Filing {
        category: terms.class.code.clone(),
        condition: terms.condition.map(str::to_owned),
        urgency: terms.urgency,
        handling: terms.handling,
        location,
        cell,
        rural,
        placement,
        corrections: corrections.join("; "),
    })
}
