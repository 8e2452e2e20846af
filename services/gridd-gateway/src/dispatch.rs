//! `DispatchService`: what the dispatch centre and hotline operators do with cases.

use std::collections::BTreeMap;

use gridd_config::CityHandle;
use gridd_core::FieldError;
use gridd_core::category::{CategoryCode, LimitSpec};
use gridd_core::ids::{Reference, SquadId, StreetCode, TicketId, validate_text};
use gridd_core::kpi::Kpi;
use gridd_core::ticket::{Actor, Command, Ticket};
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

    fn now(&self) -> Timestamp {
        self.tracker.clock().now()
    }

    async fn run(&self, ticket_id: &str, context: Option<&v1::CommandContext>, command: Command) -> Result<Response<v1::Ticket>, Status> {
        required_id("ticket_id", ticket_id)?;
        let context = context.cloned().unwrap_or_default();
        required_id("context.operator_id", &context.operator_id)?;
        validate_text("context.note", &context.note, 1000, false).map_err(invalid)?;
        let expected = (context.expected_version != 0).then_some(context.expected_version);
        let actor = Actor::Operator(context.operator_id);
        self.tracker
            .command(TicketId::new(ticket_id), command, actor, expected, context.note)
            .await
            .map(Response::new)
            .map_err(|e| e.status())
    }

    fn known_squad(&self, squad_id: &str) -> Result<SquadId, Status> {
        required_id("squad_id", squad_id)?;
        let id = SquadId::new(squad_id);
        match self.city.current().responsibility.squad(&id) {
            Some(_) => Ok(id),
            None => Err(invalid(FieldError::new("squad_id", format!("{squad_id} is not a configured squad")))),
        }
    }
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
    Ok(Some(PageCursor { created_at, id: TicketId::new(id) }))
}

fn listing_filter(req: &v1::ListTicketsRequest, now: Timestamp) -> Result<TicketFilter, FieldError> {
    let states = req
        .states()
        .map(|s| gridd_proto::from_ticket_state(s).ok_or_else(|| FieldError::new("states", "TICKET_STATE_UNSPECIFIED is not a state")))
        .collect::<Result<Vec<_>, _>>()?;
    let street = (!req.street_code.is_empty())
        .then(|| StreetCode::parse(&req.street_code).map_err(|e| FieldError::new("street_code", e)))
        .transpose()?;
    let category =
        (!req.category.is_empty()).then(|| CategoryCode::parse(&req.category).map_err(|e| FieldError::new("category", e))).transpose()?;
    Ok(TicketFilter {
        states,
        squad: (!req.squad_id.is_empty()).then(|| SquadId::new(&req.squad_id)),
        street,
        category,
        overdue_at: req.overdue_only.then_some(now),
        created_from: req.created_from.as_ref().map(gridd_proto::from_timestamp),
        created_to: req.created_to.as_ref().map(gridd_proto::from_timestamp),
        after: parse_page_token(req.page.as_ref().map_or("", |p| p.page_token.as_str()))?,
        limit: page_size(req.page.as_ref())?,
    })
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
    }
}

fn count(label: impl Into<String>, count: u64) -> v1::Count {
    v1::Count { label: label.into(), count }
}

#[tonic::async_trait]
impl<S: Store> v1::dispatch_service_server::DispatchService for DispatchGrpc<S> {
    async fn get_ticket(&self, request: Request<v1::GetTicketRequest>) -> Result<Response<v1::GetTicketResponse>, Status> {
        let req = request.into_inner();
        required_id("id", &req.id)?;
        let (id, include_history) = (req.id.clone(), req.include_history);
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
                let history = if include_history { tx.read_log_by_key(topics::TICKET_EVENTS, t.id.as_str())? } else { Vec::new() };
                Ok(Lookup::Found(Box::new(t), history))
            })
            .await
            .map_err(|e| store_status(&e))?;
        match lookup {
            Lookup::Found(ticket, history) => {
                let city = self.city.current();
                Ok(Response::new(v1::GetTicketResponse {
                    ticket: Some(view(&city, &ticket, self.now())),
                    pending: false,
                    history: decode_events(history)?.into_iter().map(|(_, e)| e).collect(),
                }))
            }
            Lookup::Pending => Ok(Response::new(v1::GetTicketResponse { ticket: None, pending: true, history: Vec::new() })),
            Lookup::Missing => Err(Status::not_found(format!("no case or report {}", req.id))),
        }
    }

    async fn list_tickets(&self, request: Request<v1::ListTicketsRequest>) -> Result<Response<v1::ListTicketsResponse>, Status> {
        let now = self.now();
        let filter = listing_filter(request.get_ref(), now).map_err(invalid)?;
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
        let req = request.into_inner();
        let squad = self.known_squad(&req.squad_id)?;
        self.run(&req.ticket_id, req.context.as_ref(), Command::Dispatch { squad }).await
    }

    async fn verify(&self, request: Request<v1::VerifyRequest>) -> Result<Response<v1::Ticket>, Status> {
        let req = request.into_inner();
        self.run(&req.ticket_id, req.context.as_ref(), Command::Verify { passed: req.passed }).await
    }

    async fn close(&self, request: Request<v1::CloseRequest>) -> Result<Response<v1::Ticket>, Status> {
        let req = request.into_inner();
        self.run(&req.ticket_id, req.context.as_ref(), Command::Close).await
    }

    async fn cancel(&self, request: Request<v1::CancelRequest>) -> Result<Response<v1::Ticket>, Status> {
        let req = request.into_inner();
        let reason = gridd_proto::from_cancel_reason(req.reason())
            .ok_or_else(|| invalid(FieldError::new("reason", "is required (duplicate, invalid, out of scope or already fixed)")))?;
        self.run(&req.ticket_id, req.context.as_ref(), Command::Cancel { reason }).await
    }

    async fn suspend(&self, request: Request<v1::SuspendRequest>) -> Result<Response<v1::Ticket>, Status> {
        let req = request.into_inner();
        self.run(&req.ticket_id, req.context.as_ref(), Command::Suspend).await
    }

    async fn resume(&self, request: Request<v1::ResumeRequest>) -> Result<Response<v1::Ticket>, Status> {
        let req = request.into_inner();
        self.run(&req.ticket_id, req.context.as_ref(), Command::Resume).await
    }

    async fn extend_deadline(&self, request: Request<v1::ExtendDeadlineRequest>) -> Result<Response<v1::Ticket>, Status> {
        let req = request.into_inner();
        let extension = LimitSpec::parse(&req.extension).map_err(|e| invalid(FieldError::new("extension", e)))?;
        self.run(&req.ticket_id, req.context.as_ref(), Command::Extend { extension }).await
    }

    async fn get_stats(&self, request: Request<v1::GetStatsRequest>) -> Result<Response<v1::GetStatsResponse>, Status> {
        let req = request.into_inner();
        let (from, to) = (req.from.as_ref().map(gridd_proto::from_timestamp), req.to.as_ref().map(gridd_proto::from_timestamp));
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                return Err(invalid(FieldError::new("to", "must not be before from")));
            }
        }
        let now = self.now();
        let (tickets, live) = self
            .store
            .read(move |tx: &mut dyn ReadTx| -> Result<_, StoreError> { Ok((tx.tickets_created(from, to)?, tx.live_counts(now)?)) })
            .await
            .map_err(|e| store_status(&e))?;
        let city = self.city.current();
        let (mut by_squad, mut by_street, mut all) = (BTreeMap::new(), BTreeMap::new(), Kpi::default());
        for t in &tickets {
            all.add(t, now);
            let squad = t.squad.as_ref().map(ToString::to_string).unwrap_or_default();
            by_squad.entry(squad).or_insert_with(Kpi::default).add(t, now);
            let street = t.cell.as_ref().map(|c| c.street_code.to_string()).unwrap_or_default();
            by_street.entry(street).or_insert_with(Kpi::default).add(t, now);
        }
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
}
