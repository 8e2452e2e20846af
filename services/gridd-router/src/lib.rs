//! The router role: reads the intake log, and for each report decides
//!
//! 1. whether it repeats an open case (same camera and detection; or same category near in
//!    space and time, across channels) and joins it (并案);
//! 2. otherwise where it lies (the unit-grid cell, community and street) and which squad is
//!    responsible (rules by area × category × time of day, territorial default last);
//! 3. what cannot be located or assigned goes to the dispatch centre's manual queue, never
//!    dropped.
//!
//! Decisions go to the dispatch log, keyed by ticket id. The router consumes its log through
//! the one record driver ([`gridd_driver`]) as the role [`Router`]. In the embedded mode a
//! batch of decisions, the router's duplicate index and its log position commit in one
//! transaction, so a crash replays the batch whole or not at all; the distributed mode is in
//! [`kafka`]. [`decide`] is the pure part, shared by every mode.

use std::future::Future;
use std::time::Instant;

use gridd_config::{CityConfig, CityHandle};
use gridd_core::category::CategoryCode;
use gridd_core::dedup::{self, KnownCase};
use gridd_core::ids::TicketId;
use gridd_core::report::{Decision, Outcome, Report};
use gridd_core::ticket::{ManualReason, Placement, Routing};
use gridd_core::time::Timestamp;
use gridd_driver::{Failure, Role, Verdict};
use gridd_log::KafkaProducer;
use gridd_proto::prost::Message;
use gridd_proto::v1;
use gridd_store::{Signal, Store, StoreError, WriteTx, topics};

pub mod kafka;

/// Consumer name of the router on the intake log.
pub const CONSUMER: &str = "router";

/// What the router can ask about cases it opened before.
pub trait CaseLookup {
    /// Cases of `category` opened since `since` inside the lon/lat box.
    fn near(&mut self, category: &CategoryCode, since: Timestamp, min: geo::Point<f64>, max: geo::Point<f64>) -> Vec<KnownCase>;
    /// Cases opened by what repeats them: a camera and detection, or a numbered component.
    fn repeats(&mut self, key: &str) -> Vec<KnownCase>;
    /// Whether the case exists and is open (not closed or cancelled).
    fn is_open(&mut self, id: &TicketId) -> bool;
}

/// Decides where one report goes. Pure apart from the case lookups.
pub fn decide(city: &CityConfig, report: Report, cases: &mut dyn CaseLookup) -> Decision {
    let own_id = TicketId::from(report.reference.clone());
    if let Some(duplicate) = find_duplicate(city, &report, cases) {
        return Decision { report, ticket_id: duplicate.ticket_id, outcome: Outcome::Attach { reason: duplicate.reason } };
    }
    let (cell, mut placement) = place(city, report.location, &report.category, report.received_at, report.observed_at);
    if let Some(owned) = component_owner(city, &report) {
        placement = owned;
    }
    if city.verification.needs(&report) {
        // Placed now for the supervisor's area; routed when the supervisor confirms it.
        let community = cell.as_ref().map(|c| c.community_code.clone());
        let verifier = city.verification.verifier(cell.as_ref().map(|c| &c.street_code), community.as_ref(), &report.reference);
        placement = Placement::Verify { verifier };
    }
    Decision { report, ticket_id: own_id, outcome: Outcome::Open { cell, placement } }
}

/// A numbered component's owner unit (权属单位), ahead of the category rules.
fn component_owner(city: &CityConfig, report: &Report) -> Option<Placement> {
    let id = report.component_id.as_deref()?;
    let owner = city.components.owner(id)?;
    let name = city.responsibility.squad(owner.unit).map_or(owner.unit.as_str(), |s| s.name.as_str());
    let routing = Routing {
        rule_id: "component-owner".into(),
        reason: format!("component {id} is {name}'s (权属单位, registry prefix {})", owner.prefix),
        grid_version: city.grids.at(report.received_at).version().to_owned(),
    };
    Some(Placement::Assigned { squad: owner.unit.clone(), routing })
}

fn find_duplicate(city: &CityConfig, report: &Report, cases: &mut dyn CaseLookup) -> Option<dedup::Duplicate> {
    // The operator merged the call by hand: that case, while it is open; one that closed in
    // the meantime takes no more reports, and the call is routed as any other.
    if let Some(case) = report.attach_to.as_ref().filter(|case| cases.is_open(case)) {
        return Some(dedup::Duplicate { ticket_id: case.clone(), reason: "merged by the hotline operator".into() });
    }
    // A replayed report finds the case it opened itself; that is not a duplicate.
    let own = TicketId::from(report.reference.clone());
    let others = |mut found: Vec<KnownCase>| {
        found.retain(|c| c.ticket_id != own);
        found
    };
    if let Some(camera) = &report.camera {
        let repeats = others(cases.repeats(&camera.repeat_key()));
        if let Some(d) = dedup::camera_repeat(&city.dedup, report.observed_at, &repeats) {
            return Some(d);
        }
    }
    if let Some(component) = &report.component_id {
        // A numbered component is its own case: two covers side by side are two problems.
        let repeats = others(cases.repeats(&gridd_core::components::repeat_key(component)));
        let open = repeats.into_iter().filter(|c| c.open).max_by_key(|c| c.opened_at);
        return open
            .map(|c| dedup::Duplicate { ticket_id: c.ticket_id, reason: format!("same component {component} while its case is open") });
    }
    let point = report.location?;
    let (min, max) = dedup::search_box(point, city.dedup.radius_m);
    let since = report.observed_at.add_millis(-city.dedup.window_ms);
    let nearby = others(cases.near(&report.category, since, min, max));
    dedup::nearby(&city.dedup, &report.category, point, report.observed_at, &nearby)
}

/// Where a report of `category` at `point` goes: its cell, and the squad (with the rule that
/// chose it) or the manual queue (with the reason). The grid is the version effective at
/// `received_at`; time-of-day rules look at `observed_at`. `GridService.Locate` explains
/// routing with this same function.
pub fn place(
    city: &CityConfig,
    point: Option<geo::Point<f64>>,
    category: &CategoryCode,
    received_at: Timestamp,
    observed_at: Timestamp,
) -> (Option<gridd_core::grid::CellRef>, Placement) {
    let grid = city.grids.at(received_at);
    let routing = |rule_id: &str, reason: String| Routing { rule_id: rule_id.into(), reason, grid_version: grid.version().to_owned() };
    let manual = |reason, routing| Placement::Manual { reason, routing };
    let Some(point) = point else {
        return (None, manual(ManualReason::NoLocation, None));
    };
    let Some(placed) = grid.locate_near(point, city.outside_tolerance_m) else {
        let why = format!("not within {} m of any cell", city.outside_tolerance_m);
        return (None, manual(ManualReason::OutsideGrid, Some(routing("outside-grid", why))));
    };
    let cell_ref = grid.cell_ref(placed.cell);
    let outside = if placed.distance_m > 0.0 {
        format!(" (the point lies {:.0} m outside the grid; nearest cell taken)", placed.distance_m)
    } else {
        String::new()
    };
    let Some(street) = grid.street_of(placed.cell) else {
        return (Some(cell_ref), manual(ManualReason::NoResponsibleSquad, None));
    };
    let minute = observed_at.minute_of_day(city.calendar.offset());
    let placement = match city.responsibility.assign(street, &cell_ref.community_code, category, minute) {
        Some(a) => Placement::Assigned { squad: a.squad, routing: routing(&a.rule_id, format!("{}{outside}", a.reason)) },
        None => manual(
            ManualReason::NoResponsibleSquad,
            Some(routing("none", format!("no rule or territorial squad covers {}{outside}", street.name))),
        ),
    };
    (Some(cell_ref), placement)
}

/// Why a point of a category goes where it goes: what `GridService.Locate` and
/// `gridd locate` show.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The grid version that answered.
    pub grid_version: String,
    /// The cell, if the point is in the grid or within the tolerance of it.
    pub cell: Option<gridd_core::grid::CellRef>,
    /// 0 inside a cell; otherwise metres outside the grid (within the tolerance).
    pub outside_by_m: f64,
    /// With a category: the squad routing chooses (none: the manual queue). Without: every
    /// rule that could apply at this cell, ending with the territorial default.
    pub responsible: Vec<(gridd_core::ids::SquadId, Routing)>,
    /// With a category, why it would go to the manual queue.
    pub manual: Option<ManualReason>,
}

/// Explains where a report at `point` (of `category`, if given) would go at `at`.
pub fn explain(city: &CityConfig, point: geo::Point<f64>, category: Option<&CategoryCode>, at: Timestamp) -> Explanation {
    let grid = city.grids.at(at);
    let placed = grid.locate_near(point, city.outside_tolerance_m);
    let mut out = Explanation {
        grid_version: grid.version().to_owned(),
        cell: placed.map(|p| grid.cell_ref(p.cell)),
        outside_by_m: placed.map_or(0.0, |p| p.distance_m),
        responsible: Vec::new(),
        manual: None,
    };
    match (category, placed) {
        (Some(category), _) => match place(city, Some(point), category, at, at).1 {
            Placement::Assigned { squad, routing } => out.responsible.push((squad, routing)),
            Placement::Manual { reason, .. } => out.manual = Some(reason),
            // `place` routes; it never asks for verification.
            Placement::Verify { .. } => {}
        },
        (None, Some(p)) => {
            if let Some(street) = grid.street_of(p.cell) {
                let community = p.cell.code.community();
                out.responsible = city
                    .responsibility
                    .applicable(street, &community)
                    .into_iter()
                    .map(|a| (a.squad, Routing { rule_id: a.rule_id, reason: a.reason, grid_version: grid.version().to_owned() }))
                    .collect();
            }
        }
        (None, None) => {}
    }
    out
}

/// Case lookups inside a store transaction.
pub struct TxCases<'a>(pub &'a mut dyn gridd_store::ReadTx);

impl CaseLookup for TxCases<'_> {
    fn near(&mut self, category: &CategoryCode, since: Timestamp, min: geo::Point<f64>, max: geo::Point<f64>) -> Vec<KnownCase> {
        self.0.known_cases_near(category, since, min, max).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "duplicate lookup failed; routing without it");
            Vec::new()
        })
    }

    fn repeats(&mut self, key: &str) -> Vec<KnownCase> {
        self.0.known_cases_for_camera(key).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "repeat lookup failed; routing without it");
            Vec::new()
        })
    }

    fn is_open(&mut self, id: &TicketId) -> bool {
        self.0.ticket(id).map(|t| t.is_some_and(|t| !t.state.is_terminal())).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "case lookup failed; routing the call without its merge");
            false
        })
    }
}

/// What the router keeps of a case a decision opened, and the key it is found again by: the
/// camera and detection, or the numbered component.
fn known_case(decision: &Decision) -> (KnownCase, Option<String>) {
    let report = &decision.report;
    let case = KnownCase {
        ticket_id: decision.ticket_id.clone(),
        category: report.category.clone(),
        location: report.location,
        opened_at: report.observed_at,
        last_seen_at: report.observed_at,
        open: true,
    };
    let repeat_key =
        report.camera.as_ref().map(|c| c.repeat_key()).or_else(|| report.component_id.as_deref().map(gridd_core::components::repeat_key));
    (case, repeat_key)
}

/// Records what the router knows of a decided case: a case it opened, or another report on one.
pub fn remember(tx: &mut dyn WriteTx, decision: &Decision) -> Result<(), StoreError> {
    match &decision.outcome {
        Outcome::Open { .. } => {
            let (case, repeat_key) = known_case(decision);
            tx.put_known_case(&case, repeat_key.as_deref())?;
        }
        Outcome::Attach { .. } => tx.touch_known_case(&decision.ticket_id, decision.report.observed_at)?,
    }
    Ok(())
}

/// Cases decided earlier in a batch and not remembered yet. The distributed router remembers
/// a batch's cases only once its decisions are on the broker (see [`kafka`]); until then the
/// later reports of the batch still find them here, as if remembered.
#[derive(Debug, Default)]
pub struct Pending {
    opened: Vec<(KnownCase, Option<String>)>,
    seen: Vec<(TicketId, Timestamp)>,
}

impl Pending {
    /// Notes what `decision` would make [`remember`] record.
    pub fn note(&mut self, decision: &Decision) {
        match &decision.outcome {
            Outcome::Open { .. } => self.opened.push(known_case(decision)),
            Outcome::Attach { .. } => self.seen.push((decision.ticket_id.clone(), decision.report.observed_at)),
        }
    }

    /// `found` with the pending cases that `matches`, and every case's last report as
    /// recorded by the pending merges.
    fn merged_into(&self, mut found: Vec<KnownCase>, matches: impl Fn(&KnownCase, Option<&str>) -> bool) -> Vec<KnownCase> {
        found.extend(self.opened.iter().filter(|(c, key)| matches(c, key.as_deref())).map(|(c, _)| c.clone()));
        for case in &mut found {
            for (_, at) in self.seen.iter().filter(|(id, _)| *id == case.ticket_id) {
                case.last_seen_at = case.last_seen_at.max(*at);
            }
        }
        found
    }
}

/// Case lookups of the store and of the batch's pending cases together.
struct WithPending<'a> {
    stored: TxCases<'a>,
    pending: &'a Pending,
}

impl CaseLookup for WithPending<'_> {
    fn near(&mut self, category: &CategoryCode, since: Timestamp, min: geo::Point<f64>, max: geo::Point<f64>) -> Vec<KnownCase> {
        // The store's query, on the pending cases.
        let inside = |p: geo::Point<f64>| (min.x()..=max.x()).contains(&p.x()) && (min.y()..=max.y()).contains(&p.y());
        let matches = |c: &KnownCase, _: Option<&str>| &c.category == category && c.opened_at >= since && c.location.is_some_and(inside);
        self.pending.merged_into(self.stored.near(category, since, min, max), matches)
    }

    fn repeats(&mut self, key: &str) -> Vec<KnownCase> {
        self.pending.merged_into(self.stored.repeats(key), |_, case_key| case_key == Some(key))
    }

    fn is_open(&mut self, id: &TicketId) -> bool {
        self.pending.opened.iter().any(|(c, _)| &c.ticket_id == id) || self.stored.is_open(id)
    }
}

/// Decides where `report` goes and records the decision with the report, unless the report
/// was decided before (a replay after a crash or a rebalance): then the recorded decision is
/// returned, so a report never gets two different decisions, whatever changed in between.
/// Duplicate lookups also see the `pending` cases. Returns the decision and its encoding (the
/// dispatch record's payload).
pub fn decide_once(tx: &mut dyn WriteTx, city: &CityConfig, report: Report, pending: &Pending) -> Result<(Decision, Vec<u8>), StoreError> {
    let started = Instant::now();
    let (reference, channel, received_at) = (report.reference.clone(), report.channel, report.received_at);
    let decision = decide(city, report, &mut WithPending { stored: TxCases(&mut *tx), pending });
    metrics::histogram!("gridd_router_decide_seconds").record(started.elapsed().as_secs_f64());
    let payload = gridd_proto::dispatch_decision(&decision).encode_to_vec();
    let kept = tx.record_decision(&reference, channel, received_at, &payload)?;
    let decision = if kept == payload { decision } else { recorded_decision(&reference, &kept)? };
    metrics::counter!("gridd_router_decisions_total", "outcome" => outcome_label(&decision)).increment(1);
    tracing::debug!(reference = %decision.report.reference, ticket_id = %decision.ticket_id, outcome = outcome_label(&decision), "routed");
    Ok((decision, kept))
}

/// A decision from its encoding (a dispatch record's payload); the error says why not.
pub fn decode_decision(bytes: &[u8]) -> Result<Decision, String> {
    let wire = v1::DispatchDecision::decode(bytes).map_err(|e| format!("not a dispatch decision: {e}"))?;
    gridd_proto::decision(&wire).map_err(|e| e.to_string())
}

/// A decision as recorded with report `reference`.
pub fn recorded_decision(reference: &gridd_core::ids::Reference, bytes: &[u8]) -> Result<Decision, StoreError> {
    decode_decision(bytes).map_err(|e| StoreError::Corrupt(format!("the recorded decision of report {reference}: {e}")))
}

/// Name of a decision's outcome, for metrics and logs.
pub fn outcome_label(d: &Decision) -> &'static str {
    match &d.outcome {
        Outcome::Attach { .. } => "merged",
        Outcome::Open { placement: Placement::Assigned { .. }, .. } => "assigned",
        Outcome::Open { placement: Placement::Manual { .. }, .. } => "manual",
        Outcome::Open { placement: Placement::Verify { .. }, .. } => "verify",
    }
}

/// The router as a role of the record driver, on the intake log.
#[derive(Clone)]
pub struct Router<S> {
    store: S,
    city: CityHandle,
    /// The distributed mode's producer; `None` in the embedded mode, where decisions go to the
    /// store's dispatch log in the batch's transaction.
    producer: Option<KafkaProducer>,
}

impl<S: Store> Router<S> {
    /// The embedded router.
    pub fn embedded(store: S, city: CityHandle) -> Self {
        Self { store, city, producer: None }
    }

    /// The distributed router, publishing its decisions with `producer`.
    pub fn distributed(store: S, city: CityHandle, producer: KafkaProducer) -> Self {
        Self { store, city, producer: Some(producer) }
    }
}

impl<S: Store> Role for Router<S> {
    type Item = Report;
    type Store = S;
    const NAME: &'static str = CONSUMER;
    const TOPIC: &'static str = topics::INTAKE;
    const SIGNAL: Signal = Signal::Intake;
    const BATCH: usize = 256;
    const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

    fn store(&self) -> &S {
        &self.store
    }

    fn decode(payload: &[u8]) -> Result<Report, String> {
        let record = v1::IntakeRecord::decode(payload).map_err(|e| format!("not an intake record: {e}"))?;
        gridd_proto::report(&record).map_err(|e| e.to_string())
    }

    /// Decides each report, remembers its case and appends the decision to the dispatch log,
    /// all in `tx`.
    fn apply(&self, tx: &mut dyn WriteTx, reports: &[Report]) -> Result<Vec<Verdict>, StoreError> {
        let city = self.city.current();
        let none_pending = Pending::default();
        for report in reports {
            let (decision, payload) = decide_once(tx, &city, report.clone(), &none_pending)?;
            remember(tx, &decision)?;
            tx.append_log(topics::DISPATCH, decision.ticket_id.as_str(), &payload, decision.report.received_at)?;
        }
        Ok(vec![Verdict::Applied; reports.len()])
    }

    fn apply_distributed(&self, reports: Vec<Report>) -> impl Future<Output = Result<Vec<Verdict>, Failure>> + Send {
        let router = self.clone();
        async move {
            match router.producer.clone() {
                Some(producer) => kafka::route(&router.store, &router.city, &producer, reports).await,
                None => gridd_driver::apply_in_one_transaction(router, reports).await,
            }
        }
    }
}
