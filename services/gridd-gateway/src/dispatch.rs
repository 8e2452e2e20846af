//! `DispatchService`: what the dispatch centre and hotline operators do with cases.

use std::collections::BTreeMap;

use gridd_access::{Grant, Role, grant};
use gridd_config::CityHandle;
use gridd_core::FieldError;
use gridd_core::category::{CategoryCode, LimitSpec};
use gridd_core::dedup::MAX_RADIUS_M;
use gridd_core::error::quote;
use gridd_core::ids::{Reference, SquadId, StreetCode, TicketId, validate_text};
use gridd_core::kpi::Kpi;
use gridd_core::ticket::{CancelReason, Command, NotFiledReason, Ticket, TicketState};
use gridd_core::time::Timestamp;
use gridd_proto::prost::Message;
use gridd_proto::tonic::{self, Request, Response, Status};
use gridd_proto::v1;
use gridd_store::{PageCursor, ReadTx, ReportStatus, Signal, Store, StoreError, TicketFilter, topics};
use gridd_tracker::{Tracker, view};
use tokio_util::sync::CancellationToken;

use crate::{WatchStream, invalid, page_size, required_id, spawn_watch, store_status};

/// The gRPC adapter.
pub struct DispatchGrpc<S> {
    store: S,
    city: CityHandle,
    tracker: Tracker<S>,
    shutdown: CancellationToken,
}

impl<S: Store> DispatchGrpc<S> {
    /// An adapter over the store and the tracker's command API; its watch streams end when
    /// `shutdown` is cancelled.
    pub fn new(store: S, city: CityHandle, tracker: Tracker<S>, shutdown: CancellationToken) -> Self {
        Self { store, city, tracker, shutdown }
    }

    /// The engine's clock now (the demo's runs fast).
    pub fn now(&self) -> Timestamp {
        self.tracker.clock().now()
    }

    async fn run(
        &self,
        grant: &Grant,
        ticket_id: &str,
        context: Option<&v1::CommandContext>,
        command: Command,
    ) -> Result<Response<v1::Ticket>, Status> {
        required_id("ticket_id", ticket_id)?;
        let context = context.cloned().unwrap_or_default();
        validate_text("context.note", &context.note, 1000, false).map_err(invalid)?;
        let expected = (context.expected_version != 0).then_some(context.expected_version);
        let actor = grant.identity.actor();
        self.tracker
            .command(TicketId::new(ticket_id), command, actor, expected, context.note, None)
            .await
            .map(Response::new)
            .map_err(|e| e.status())
    }

    /// Merges the duplicate case into the master; returns the master.
    async fn merge(
        &self,
        grant: &Grant,
        duplicate_id: &str,
        master: TicketId,
        context: Option<&v1::CommandContext>,
    ) -> Result<v1::Ticket, Status> {
        let order = order(grant, "duplicate_id", duplicate_id, context)?;
        self.tracker.merge(order, master).await.map_err(|e| e.status())
    }

    fn known_squad(&self, squad_id: &str) -> Result<SquadId, Status> {
        required_id("squad_id", squad_id)?;
        let id = SquadId::new(squad_id);
        match self.city.current().responsibility.squad(&id) {
            Some(_) => Ok(id),
            None => Err(invalid(FieldError::new("squad_id", format!("{} is not a configured squad", gridd_access::quote(squad_id))))),
        }
    }
}

/// The tracker's order for a command on the case named in `field`, from the request's context.
fn order(grant: &Grant, field: &str, ticket_id: &str, context: Option<&v1::CommandContext>) -> Result<gridd_tracker::Order, Status> {
    required_id(field, ticket_id)?;
    let context = context.cloned().unwrap_or_default();
    validate_text("context.note", &context.note, 1000, false).map_err(invalid)?;
    Ok(gridd_tracker::Order {
        id: TicketId::new(ticket_id),
        actor: grant.identity.actor(),
        expected_version: (context.expected_version != 0).then_some(context.expected_version),
        note: context.note,
        action_id: None,
    })
}

/// What a `GetTicket` id turned out to be.
enum Lookup {
    /// A case, with its history records when asked for.
    Found(Box<Ticket>, Vec<gridd_store::LogRecord>),
    /// A report accepted but not yet placed.
    Pending,
    /// Neither.
    Missing,
}

/// Decodes ticket events read from the log.
fn decode_events(records: Vec<gridd_store::LogRecord>) -> Result<Vec<(u64, v1::TicketEvent)>, Status> {
    records
        .into_iter()
        .map(|r| {
            v1::TicketEvent::decode(r.payload.as_slice())
                .map(|e| (r.seq, e))
                .map_err(|e| gridd_proto::status::internal("decoding a ticket event", &e))
        })
        .collect()
}

/// The page of history a `GetTicket` asks for, as (after seq, at most): `None` without
/// `include_history`. A history page token is the seq of the page's last entry.
fn history_page(req: &v1::GetTicketRequest) -> Result<Option<(u64, usize)>, FieldError> {
    if !req.include_history {
        return Ok(None);
    }
    let limit = crate::page_size_of("history_page", req.history_page.as_ref(), crate::MAX_PAGE)?;
    let after = match req.history_page.as_ref().map_or("", |p| p.page_token.as_str()) {
        "" => 0,
        token => token.parse().map_err(|_| FieldError::new("history_page.page_token", "is not a token from a previous page"))?,
    };
    Ok(Some((after, limit)))
}

fn page_token(t: &Ticket) -> String {
    format!("{}~{}", t.created_at.millis(), t.id)
}

fn parse_page_token(token: &str) -> Result<Option<PageCursor>, FieldError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || FieldError::new("page.page_token", "is not a token from a previous page");
    let (ms, id) = token.split_once('~').ok_or_else(bad)?;
    let created_at = Timestamp::from_millis(ms.parse().map_err(|_| bad())?);
    // The ticket id part is a case number as `page_token` wrote it: a short printable token.
    gridd_core::ids::validate_token("page.page_token", id, 128).map_err(|_| bad())?;
    Ok(Some(PageCursor { created_at, id: TicketId::new(id) }))
}

/// A request's time range `[from, to)`, refused when `to` is before `from`; the error names
/// `to_field` (e.g. `created_to`) and says which field it must not precede.
fn time_range(
    (from_field, from): (&str, Option<&gridd_proto::prost_types::Timestamp>),
    (to_field, to): (&str, Option<&gridd_proto::prost_types::Timestamp>),
) -> Result<(Option<Timestamp>, Option<Timestamp>), FieldError> {
    let (from, to) = (from.map(gridd_proto::from_timestamp), to.map(gridd_proto::from_timestamp));
    match (from, to) {
        (Some(f), Some(t)) if t < f => Err(FieldError::new(to_field, format!("must not be before {from_field}"))),
        _ => Ok((from, to)),
    }
}

/// The store filter of a `ListTickets` request. Every filter value must name something that
/// exists: an unknown state, an inverted time range or a street outside the city's divisions
/// is refused (naming the field), never read as "no filter".
fn listing_filter(req: &v1::ListTicketsRequest, city: &gridd_config::CityConfig, now: Timestamp) -> Result<TicketFilter, FieldError> {
    // `req.states()` would silently drop values outside the enum, leaving no filter at all.
    let states = req
        .states
        .iter()
        .map(|&raw| {
            let state = v1::TicketState::try_from(raw).map_err(|_| FieldError::new("states", format!("{raw} is not a ticket state")))?;
            gridd_proto::from_ticket_state(state).ok_or_else(|| FieldError::new("states", "TICKET_STATE_UNSPECIFIED is not a state"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let street = (!req.street_code.is_empty())
        .then(|| {
            let code = StreetCode::parse(&req.street_code).map_err(|e| FieldError::new("street_code", e))?;
            // Any loaded grid version: cases keep the street of the version that placed them.
            if city.grids.versions().any(|g| g.divisions().street(&code).is_some()) {
                Ok(code)
            } else {
                Err(FieldError::new("street_code", format!("{} is not a street of {}", quote(code.as_str()), city.name)))
            }
        })
        .transpose()?;
    let category =
        (!req.category.is_empty()).then(|| CategoryCode::parse(&req.category).map_err(|e| FieldError::new("category", e))).transpose()?;
    let (created_from, created_to) = time_range(("created_from", req.created_from.as_ref()), ("created_to", req.created_to.as_ref()))?;
    Ok(TicketFilter {
        states,
        squad: (!req.squad_id.is_empty()).then(|| SquadId::new(&req.squad_id)),
        street,
        category,
        overdue_at: req.overdue_only.then_some(now),
        created_from,
        created_to,
        caller: gridd_core::ids::validate_phone("caller_phone", &req.caller_phone)?.as_deref().and_then(gridd_store::caller_key),
        clock_running: false,
        after: parse_page_token(req.page.as_ref().map_or("", |p| p.page_token.as_str()))?,
        limit: page_size(req.page.as_ref())?,
    })
}

/// Most similar cases answered.
const MAX_SIMILAR: usize = 20;

/// What a similar-case search asks: the category, the point and the radius (0: the city's
/// merge radius).
fn similar_query(
    req: &v1::FindSimilarCasesRequest,
    city: &gridd_config::CityConfig,
) -> Result<(CategoryCode, geo::Point<f64>, f64), FieldError> {
    let category = city.catalogue.terms(req.category.trim(), "")?.class.code.clone();
    let point = gridd_proto::wgs84_point("location", req.location.as_ref())?.ok_or_else(|| FieldError::new("location", "is required"))?;
    let radius = match req.radius_m {
        0.0 => city.dedup.radius_m,
        // A hint for one place, not a listing: no wider than the longest merge radius.
        r if r.is_finite() && r > 0.0 && r <= MAX_RADIUS_M => r,
        _ => return Err(FieldError::new("radius_m", format!("must be between 0 and {MAX_RADIUS_M} metres"))),
    };
    Ok((category, point, radius))
}

/// The indicators of a set of cases: per squad (`""` for the manual queue), per street (`""`
/// for cases not located) and city-wide.
#[derive(Default)]
struct KpiGroups {
    by_squad: BTreeMap<String, Kpi>,
    by_street: BTreeMap<String, Kpi>,
    all: Kpi,
}

impl KpiGroups {
    fn add(&mut self, t: &Ticket, now: Timestamp) {
        self.all.add(t, now);
        let squad = t.squad.as_ref().map(ToString::to_string).unwrap_or_default();
        self.by_squad.entry(squad).or_default().add(t, now);
        let street = t.cell.as_ref().map(|c| c.street_code.to_string()).unwrap_or_default();
        self.by_street.entry(street).or_default().add(t, now);
    }
}

fn kpi_message(key: String, name: String, k: &Kpi) -> v1::Kpi {
    v1::Kpi {
        key,
        name,
        filed: k.filed,
        dispatched: k.dispatched,
        closed: k.closed,
        should_dispose: k.should_dispose,
        disposed_on_time: k.disposed_on_time,
        on_time_disposal_rate: k.on_time_disposal_rate(),
        should_close: k.should_close,
        closure_rate: k.closure_rate(),
        on_time_closure_rate: k.on_time_closure_rate(),
        rework_rate: k.rework_rate(),
        extension_rate: k.extension_rate(),
        overdue_pending: k.overdue_pending,
        average_handling_seconds: k.average_handling_seconds(),
        replies_due: k.replies_due,
        replied: k.replied,
        replied_on_time: k.replied_on_time,
        reply_rate: k.reply_rate(),
        on_time_reply_rate: k.on_time_reply_rate(),
        satisfaction_rate: k.satisfaction_rate(),
        verified: k.verified,
        not_filed: k.not_filed,
        dispatch_errors: k.dispatch_errors,
    }
}

fn count(label: impl Into<String>, count: u64) -> v1::Count {
    v1::Count { label: label.into(), count }
}

#[tonic::async_trait]
impl<S: Store> v1::dispatch_service_server::DispatchService for DispatchGrpc<S> {
    async fn get_ticket(&self, request: Request<v1::GetTicketRequest>) -> Result<Response<v1::GetTicketResponse>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        required_id("id", &req.id)?;
        let history_page = history_page(&req).map_err(invalid)?;
        let id = req.id.clone();
        let lookup = self
            .store
            .read(move |tx: &mut dyn ReadTx| -> Result<Lookup, StoreError> {
                let ticket = match tx.ticket(&TicketId::new(id.as_str()))? {
                    Some(t) => Some(t),
                    None => match tx.report_status(&Reference::new(id.as_str()))? {
                        ReportStatus::Linked(ticket_id) => tx.ticket(&ticket_id)?,
                        ReportStatus::Pending => return Ok(Lookup::Pending),
                        ReportStatus::Unknown => None,
                    },
                };
                let Some(t) = ticket else { return Ok(Lookup::Missing) };
                let history = match history_page {
                    Some((after, limit)) => tx.ticket_history(&t.id, after, limit)?,
                    None => Vec::new(),
                };
                Ok(Lookup::Found(Box::new(t), history))
            })
            .await
            .map_err(|e| store_status(&e))?;
        match lookup {
            Lookup::Found(ticket, history) => {
                grant.check_case_squad(ticket.id.as_str(), ticket.squad.as_ref())?;
                let (city, now) = (self.city.current(), self.now());
                let history_next_page_token = match (history_page, history.last()) {
                    (Some((_, limit)), Some(last)) if history.len() == limit => last.seq.to_string(),
                    _ => String::new(),
                };
                Ok(Response::new(v1::GetTicketResponse {
                    ticket: Some(view(&city, &ticket, now)),
                    pending: false,
                    // The case is in the answer; each entry says what happened, without the
                    // snapshot the event carried then (a history of n merges stays O(n)).
                    history: decode_events(history)?.into_iter().map(|(_, e)| v1::TicketEvent { ticket: None, ..e }).collect(),
                    allowed_actions: crate::actions::allowed(&grant, &ticket, &city, now),
                    history_next_page_token,
                }))
            }
            Lookup::Pending => {
                // A report not yet placed belongs to no squad yet.
                grant.check_case_squad(&req.id, None)?;
                Ok(Response::new(v1::GetTicketResponse { ticket: None, pending: true, ..Default::default() }))
            }
            Lookup::Missing => Err(Status::not_found(format!("no case or report {}", gridd_access::quote(&req.id)))),
        }
    }

    async fn list_tickets(&self, request: Request<v1::ListTicketsRequest>) -> Result<Response<v1::ListTicketsResponse>, Status> {
        let now = self.now();
        let grant = grant(&request)?;
        let mut filter = listing_filter(request.get_ref(), &self.city.current(), now).map_err(invalid)?;
        filter.squad = grant.squad_filter(&request.get_ref().squad_id)?;
        let limit = filter.limit;
        let tickets = self.store.read(move |tx: &mut dyn ReadTx| tx.list_tickets(&filter)).await.map_err(|e| store_status(&e))?;
        let next_page_token = if tickets.len() == limit { tickets.last().map(page_token).unwrap_or_default() } else { String::new() };
        let city = self.city.current();
        Ok(Response::new(v1::ListTicketsResponse { tickets: tickets.iter().map(|t| view(&city, t, now)).collect(), next_page_token }))
    }

    type WatchTicketsStream = WatchStream<v1::TicketEvent>;

    async fn watch_tickets(&self, request: Request<v1::WatchTicketsRequest>) -> Result<Response<Self::WatchTicketsStream>, Status> {
        let store = self.store.clone();
        let changed = store.subscribe(Signal::TicketEvents);
        let stream = spawn_watch(changed, self.shutdown.clone(), request.get_ref().after_seq, move |after| {
            let store = store.clone();
            async move {
                let records = store
                    .read(move |tx: &mut dyn ReadTx| tx.read_log(topics::TICKET_EVENTS, after, crate::WATCH_BATCH))
                    .await
                    .map_err(|e| store_status(&e))?;
                decode_events(records)
            }
        });
        Ok(Response::new(stream))
    }

    async fn dispatch(&self, request: Request<v1::DispatchRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        let squad = self.known_squad(&req.squad_id)?;
        self.run(&grant, &req.ticket_id, req.context.as_ref(), Command::Dispatch { squad }).await
    }

    async fn verify(&self, request: Request<v1::VerifyRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        self.run(&grant, &req.ticket_id, req.context.as_ref(), Command::Verify { passed: req.passed }).await
    }

    async fn close(&self, request: Request<v1::CloseRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        self.run(&grant, &req.ticket_id, req.context.as_ref(), Command::Close).await
    }

    async fn cancel(&self, request: Request<v1::CancelRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        let reason = gridd_proto::from_cancel_reason(req.reason())
            .ok_or_else(|| invalid(FieldError::new("reason", "is required (duplicate, invalid, out of scope or already fixed)")))?;
        if reason == CancelReason::Duplicate {
            // A duplicate names its master, and its callers move there: that is a merge.
            if req.duplicate_of.is_empty() {
                return Err(invalid(FieldError::new("duplicate_of", "is required to cancel a case as a duplicate: the master case")));
            }
            required_id("duplicate_of", &req.duplicate_of)?;
            self.merge(&grant, &req.ticket_id, TicketId::new(&req.duplicate_of), req.context.as_ref()).await?;
            let id = TicketId::new(&req.ticket_id);
            let city = self.city.current();
            let t = self.store.read(move |tx| tx.ticket(&id)).await.map_err(|e| store_status(&e))?;
            let t = t.ok_or_else(|| Status::not_found(format!("ticket {} not found", req.ticket_id)))?;
            return Ok(Response::new(view(&city, &t, self.now())));
        }
        self.run(&grant, &req.ticket_id, req.context.as_ref(), Command::Cancel { reason }).await
    }

    async fn merge_cases(&self, request: Request<v1::MergeCasesRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        required_id("master_id", &req.master_id)?;
        self.merge(&grant, &req.duplicate_id, TicketId::new(&req.master_id), req.context.as_ref()).await.map(Response::new)
    }

    async fn split_case(&self, request: Request<v1::SplitCaseRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        required_id("reference", &req.reference)?;
        let order = order(&grant, "ticket_id", &req.ticket_id, req.context.as_ref())?;
        self.tracker.split(order, Reference::new(&req.reference)).await.map(Response::new).map_err(|e| e.status())
    }

    async fn suspend(&self, request: Request<v1::SuspendRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        self.run(&grant, &req.ticket_id, req.context.as_ref(), Command::Suspend).await
    }

    async fn resume(&self, request: Request<v1::ResumeRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        self.run(&grant, &req.ticket_id, req.context.as_ref(), Command::Resume).await
    }

    async fn extend_deadline(&self, request: Request<v1::ExtendDeadlineRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        let extension = LimitSpec::parse(&req.extension).map_err(|e| invalid(FieldError::new("extension", e)))?;
        self.run(&grant, &req.ticket_id, req.context.as_ref(), Command::Extend { extension }).await
    }

    async fn get_stats(&self, request: Request<v1::GetStatsRequest>) -> Result<Response<v1::GetStatsResponse>, Status> {
        let req = request.into_inner();
        let (from, to) = time_range(("from", req.from.as_ref()), ("to", req.to.as_ref())).map_err(invalid)?;
        let now = self.now();
        let (KpiGroups { by_squad, by_street, all }, live) = self
            .store
            .read(move |tx: &mut dyn ReadTx| -> Result<_, StoreError> {
                let mut groups = KpiGroups::default();
                tx.each_ticket_created(from, to, &mut |t| groups.add(&t, now))?;
                Ok((groups, tx.live_counts(now)?))
            })
            .await
            .map_err(|e| store_status(&e))?;
        let city = self.city.current();
        let squad_name = |id: &str| {
            if id.is_empty() {
                return "指挥中心 (manual queue)".to_string();
            }
            city.responsibility.squad(&SquadId::new(id)).map_or_else(|| id.to_string(), |s| s.name.clone())
        };
        let street_name = |code: &str| {
            StreetCode::parse(code)
                .ok()
                .and_then(|c| city.grid().divisions().street(&c).map(|s| s.name.clone()))
                .unwrap_or_else(|| "(not located)".to_string())
        };
        let response = v1::GetStatsResponse {
            by_squad: by_squad.iter().map(|(k, v)| kpi_message(k.clone(), squad_name(k), v)).collect(),
            by_street: by_street.iter().map(|(k, v)| kpi_message(k.clone(), street_name(k), v)).collect(),
            city: Some(kpi_message(city.grid().divisions().city.to_string(), city.name.clone(), &all)),
            intake_by_channel: live.intake_by_channel.iter().map(|(c, n)| count(c.name(), *n)).collect(),
            tickets_by_state: live.by_state.iter().map(|(s, n)| count(s.name(), *n)).collect(),
            overdue_open: live.overdue_open,
            escalations_by_level: live.escalations_by_name.iter().map(|(l, n)| count(l.clone(), *n)).collect(),
            merged_reports: live.merged_reports,
        };
        Ok(Response::new(response))
    }

    async fn get_assessment(&self, request: Request<v1::GetAssessmentRequest>) -> Result<Response<v1::Assessment>, Status> {
        let period = crate::assessment::period(&request.get_ref().period)?;
        let city = self.city.current();
        let report = crate::assessment::report(&self.store, &city, period).await?;
        Ok(Response::new(crate::assessment::message(&city, &report)))
    }

    async fn freeze_assessment(&self, request: Request<v1::FreezeAssessmentRequest>) -> Result<Response<v1::Assessment>, Status> {
        let grant = grant(&request)?;
        let period = crate::assessment::period(&request.get_ref().period)?;
        let city = self.city.current();
        let by = grant.identity.subject.clone();
        let report = crate::assessment::freeze(&self.store, &city, period, by, self.now()).await?;
        tracing::info!(period = %period, by = %grant.identity.subject, "考核 frozen");
        Ok(Response::new(crate::assessment::message(&city, &report)))
    }

    async fn find_similar_cases(
        &self,
        request: Request<v1::FindSimilarCasesRequest>,
    ) -> Result<Response<v1::FindSimilarCasesResponse>, Status> {
        let city = self.city.current();
        let (category, point, radius) = similar_query(request.get_ref(), &city).map_err(invalid)?;
        let now = self.now();
        let (min, max) = gridd_core::dedup::search_box(point, radius);
        let (query_category, merge_policy) = (category.clone(), city.dedup);
        let found = self
            .store
            .read(move |tx: &mut dyn ReadTx| -> Result<_, StoreError> {
                // Every open case in the box, however old: the operator judges; the merge rule
                // (window and radius) only marks the one the router would pick.
                let known = tx.known_cases_near(&query_category, Timestamp::from_millis(0), min, max)?;
                let merge = gridd_core::dedup::nearby(&merge_policy, &query_category, point, now, &known).map(|d| d.ticket_id);
                let mut open = Vec::new();
                for case in known.iter().filter(|c| c.open) {
                    let Some(location) = case.location else { continue };
                    let distance = gridd_core::coords::distance_m(point, location);
                    match tx.ticket(&case.ticket_id)? {
                        Some(t) if distance <= radius && !t.state.is_terminal() => open.push((t, distance)),
                        _ => {}
                    }
                }
                Ok((open, merge))
            })
            .await
            .map_err(|e| store_status(&e))?;
        let (mut open, merge) = found;
        open.sort_by(|(a, da), (b, db)| da.total_cmp(db).then(a.created_at.cmp(&b.created_at)));
        let cases = open
            .iter()
            .take(MAX_SIMILAR)
            .map(|(t, distance)| v1::SimilarCase {
                ticket: Some(view(&city, t, now)),
                distance_m: *distance,
                age_seconds: u64::try_from(now.millis_since(t.created_at) / 1000).unwrap_or(0),
                would_merge: merge.as_ref() == Some(&t.id),
            })
            .collect();
        Ok(Response::new(v1::FindSimilarCasesResponse { cases, merge_radius_m: city.dedup.radius_m }))
    }

    async fn verify_report(&self, request: Request<v1::VerifyReportRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        required_id("ticket_id", &req.ticket_id)?;
        validate_text("note", &req.note, 1000, false).map_err(invalid)?;
        let context = req.context.clone().unwrap_or_default();
        let order = gridd_tracker::Order {
            id: TicketId::new(req.ticket_id.as_str()),
            actor: grant.identity.actor(),
            expected_version: (context.expected_version != 0).then_some(context.expected_version),
            note: String::new(),
            action_id: None,
        };
        let refused = |reason| Command::Refuse { reason, note: req.note.trim().to_owned() };
        let command = match req.outcome() {
            v1::VerifyOutcome::Confirmed => {
                let location = gridd_proto::wgs84_point("location", req.location.as_ref()).map_err(invalid)?;
                let correction = gridd_tracker::Correction {
                    category: (!req.category.trim().is_empty()).then(|| req.category.trim().to_owned()),
                    condition: (!req.condition.trim().is_empty()).then(|| req.condition.trim().to_owned()),
                    location,
                };
                return self.tracker.confirm(order, correction).await.map(Response::new).map_err(|e| e.status());
            }
            v1::VerifyOutcome::Unspecified => return Err(invalid(FieldError::new("outcome", "is required"))),
            _ if req.note.trim().is_empty() => {
                return Err(invalid(FieldError::new(
                    "note",
                    "is required when the report is not filed: the caller's reply gives the reason",
                )));
            }
            v1::VerifyOutcome::NotAProblem => refused(NotFiledReason::NotAProblem),
            v1::VerifyOutcome::NotCityBusiness => refused(NotFiledReason::NotCityBusiness),
            v1::VerifyOutcome::AlreadyFixed => refused(NotFiledReason::AlreadyFixed),
        };
        self.tracker
            .command(order.id, command, order.actor, order.expected_version, order.note, None)
            .await
            .map(Response::new)
            .map_err(|e| e.status())
    }

    type WatchVerificationsStream = WatchStream<v1::TaskEvent>;

    async fn watch_verifications(
        &self,
        request: Request<v1::WatchVerificationsRequest>,
    ) -> Result<Response<Self::WatchVerificationsStream>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        let own = grant.identity.subject.as_str();
        // A supervisor's feed is their own; an administrator names whose.
        let supervisor = match (grant.identity.role, req.supervisor.trim()) {
            (Role::Supervisor, "") => own,
            (Role::Supervisor, named) if named == own => own,
            (Role::Supervisor, named) => {
                return Err(Status::permission_denied(format!("a supervisor watches their own feed, not {}", quote(named))));
            }
            (_, "") => return Err(invalid(FieldError::new("supervisor", "is required: whose feed"))),
            (_, named) => named,
        };
        let feed = gridd_core::ticket::supervisor_feed(supervisor);
        Ok(Response::new(crate::squad::watch_feed(self.store.clone(), feed, req.after_seq, self.shutdown.clone())))
    }

    async fn list_reply_tasks(&self, request: Request<v1::ListReplyTasksRequest>) -> Result<Response<v1::ListReplyTasksResponse>, Status> {
        let req = request.into_inner();
        let filter = TicketFilter {
            states: vec![TicketState::Closed, TicketState::NotFiled],
            // A reply still owed keeps the reply clock running.
            clock_running: !req.include_answered,
            after: parse_page_token(req.page.as_ref().map_or("", |p| p.page_token.as_str())).map_err(invalid)?,
            limit: page_size(req.page.as_ref()).map_err(invalid)?,
            ..TicketFilter::default()
        };
        let limit = filter.limit;
        let tickets = self.store.read(move |tx: &mut dyn ReadTx| tx.list_tickets(&filter)).await.map_err(|e| store_status(&e))?;
        let next_page_token = if tickets.len() == limit { tickets.last().map(page_token).unwrap_or_default() } else { String::new() };
        let city = self.city.current();
        let mut tasks: Vec<v1::ReplyTask> = tickets.iter().flat_map(|t| reply_tasks(&city, t, req.include_answered)).collect();
        tasks.sort_by_key(|task| task.status.as_ref().and_then(|s| s.due).map(|d| (d.seconds, d.nanos)));
        Ok(Response::new(v1::ListReplyTasksResponse { tasks, next_page_token }))
    }

    async fn record_reply(&self, request: Request<v1::RecordReplyRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        required_id("reference", &req.reference)?;
        let satisfaction = match (req.reached, gridd_proto::from_satisfaction(req.satisfaction())) {
            (true, None) => return Err(invalid(FieldError::new("satisfaction", "is required when the caller was reached"))),
            (false, Some(_)) => return Err(invalid(FieldError::new("satisfaction", "is set only when the caller was reached"))),
            (_, satisfaction) => satisfaction,
        };
        validate_text("note", &req.note, 1000, false).map_err(invalid)?;
        let command =
            Command::RecordReply { reference: Reference::new(req.reference.as_str()), satisfaction, note: req.note.trim().to_owned() };
        self.run(&grant, &req.ticket_id, req.context.as_ref(), command).await
    }

    async fn reclassify(&self, request: Request<v1::ReclassifyRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        validate_text("reason", &req.reason, 1000, true).map_err(invalid)?;
        let city = self.city.current();
        let terms = city.catalogue.terms(req.category.trim(), req.condition.trim()).map_err(invalid)?;
        let command = Command::Reclassify {
            category: terms.class.code.clone(),
            condition: terms.condition.map(str::to_owned),
            urgency: terms.urgency,
            handling: terms.handling,
            reason: req.reason.trim().to_owned(),
        };
        self.run(&grant, &req.ticket_id, req.context.as_ref(), command).await
    }

    async fn decide(&self, request: Request<v1::DecideRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        validate_text("reason", &req.reason, 1000, true).map_err(invalid)?;
        let command =
            Command::Decide { approve: req.approve, reason: req.reason.trim().to_owned(), dispatcher_error: req.dispatcher_error };
        self.run(&grant, &req.ticket_id, req.context.as_ref(), command).await
    }

    async fn press(&self, request: Request<v1::PressRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        if !(1..=MAX_PRESS_LEVEL).contains(&req.level) {
            return Err(invalid(FieldError::new("level", format!("must be a ladder level from 1 to {MAX_PRESS_LEVEL}"))));
        }
        validate_text("note", &req.note, 1000, true).map_err(invalid)?;
        let command = Command::Press { level: req.level, note: req.note.trim().to_owned() };
        self.run(&grant, &req.ticket_id, req.context.as_ref(), command).await
    }
}

/// Highest ladder level a leader presses at by hand (the default ladder has four, then repeats).
const MAX_PRESS_LEVEL: u32 = 8;

/// The reply tasks of a case, with each caller's contact (for those who make the reply).
fn reply_tasks(city: &gridd_config::CityConfig, t: &Ticket, include_answered: bool) -> Vec<v1::ReplyTask> {
    let category_name = city.catalogue.get(&t.category).map(|c| c.name.clone()).unwrap_or_default();
    t.replies
        .iter()
        .filter(|task| include_answered || task.outcome.is_none())
        .map(|task| {
            let report = t.reports.iter().find(|r| r.reference == task.reference);
            v1::ReplyTask {
                ticket_id: t.id.to_string(),
                reference: task.reference.to_string(),
                caller_name: report.map(|r| r.caller_name.clone()).unwrap_or_default(),
                phone: report.map(|r| r.contact_phone.clone()).unwrap_or_default(),
                confidential: report.is_some_and(|r| r.confidential),
                external_ticket_id: report.map(|r| r.external_ticket_id.clone()).unwrap_or_default(),
                state: gridd_proto::ticket_state(t.state).into(),
                not_filed_reason: t.not_filed.map_or(v1::NotFiledReason::Unspecified, gridd_proto::not_filed_reason).into(),
                status: Some(gridd_proto::reply_status(task)),
                category_name: category_name.clone(),
                address: t.address.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use gridd_config::CityConfig;
    use gridd_core::ticket::TicketState;
    use gridd_proto::prost_types;

    use super::*;

    /// The demo city, loaded once.
    fn city() -> &'static CityConfig {
        static CITY: std::sync::OnceLock<CityConfig> = std::sync::OnceLock::new();
        CITY.get_or_init(|| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/xinyi/city.toml");
            gridd_config::load_city(&path).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    const NOW: Timestamp = Timestamp::from_millis(1_795_311_000_000);

    fn at(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn refused(req: &v1::ListTicketsRequest) -> FieldError {
        listing_filter(req, city(), NOW).expect_err("refused")
    }

    #[test]
    fn listing_filters_known_values() {
        let req = v1::ListTicketsRequest {
            states: vec![v1::TicketState::Dispatched.into(), v1::TicketState::Closed.into()],
            street_code: "320381001".into(),
            category: "E0102".into(),
            created_from: at(1_795_000_000),
            created_to: at(1_795_300_000),
            ..Default::default()
        };
        let filter = listing_filter(&req, city(), NOW).expect("valid");
        assert_eq!(filter.states, vec![TicketState::Dispatched, TicketState::Closed]);
        assert_eq!(filter.street.as_ref().map(StreetCode::as_str), Some("320381001"));
        assert_eq!(filter.created_from, Some(Timestamp::from_millis(1_795_000_000_000)));
        let same = v1::ListTicketsRequest { created_from: at(1_795_000_000), created_to: at(1_795_000_000), ..Default::default() };
        assert!(listing_filter(&same, city(), NOW).is_ok(), "an empty range is not inverted");
    }

    #[test]
    fn unknown_states_are_refused() {
        for raw in [42, -1, 13] {
            let e = refused(&v1::ListTicketsRequest { states: vec![v1::TicketState::Closed.into(), raw], ..Default::default() });
            assert_eq!((e.field.as_str(), e.reason), ("states", format!("{raw} is not a ticket state")));
        }
        let e = refused(&v1::ListTicketsRequest { states: vec![0], ..Default::default() });
        assert_eq!(e.field, "states");
    }

    #[test]
    fn inverted_time_ranges_are_refused() {
        let e = refused(&v1::ListTicketsRequest { created_from: at(1_795_300_000), created_to: at(1_795_000_000), ..Default::default() });
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("created_to", "must not be before created_from"));
        let e = time_range(("from", at(2_000).as_ref()), ("to", at(1_000).as_ref())).expect_err("inverted");
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("to", "must not be before from"));
        assert!(time_range(("from", None), ("to", at(1_000).as_ref())).is_ok());
    }

    #[test]
    fn unknown_streets_are_refused() {
        let e = refused(&v1::ListTicketsRequest { street_code: "320381999".into(), ..Default::default() });
        assert_eq!(e.field, "street_code");
        assert!(e.reason.starts_with("\"320381999\" is not a street of"), "{e}");
        let e = refused(&v1::ListTicketsRequest { street_code: "1".repeat(1 << 20), ..Default::default() });
        assert_eq!(e.field, "street_code");
        assert!(e.reason.len() < 120, "the code is quoted, not echoed whole: {}", e.reason.len());
    }

    #[test]
    fn page_tokens_must_come_from_a_page() {
        let t = parse_page_token("1795311000000~261122-0K3F9ZQ2").expect("valid").expect("present");
        assert_eq!(t.id.as_str(), "261122-0K3F9ZQ2");
        for bad in ["nonsense", "x~261122-0K3F9ZQ2", "1795311000000~", "1795311000000~a b", &format!("1~{}", "a".repeat(200))] {
            let e = parse_page_token(bad).expect_err(bad);
            assert_eq!((e.field.as_str(), e.reason.as_str()), ("page.page_token", "is not a token from a previous page"));
        }
    }
}
