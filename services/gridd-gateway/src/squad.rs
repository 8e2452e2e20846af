//! `SquadService`: a squad terminal's task feed and task commands.

use gridd_access::{Grant, grant, quote};
use gridd_config::CityHandle;
use gridd_core::FieldError;
use gridd_core::ids::{SquadId, TicketId, validate_text, validate_token};
use gridd_core::ticket::{Actor, ApplicationKind, Command, FeedKind};
use gridd_proto::prost::Message;
use gridd_proto::tonic::{self, Request, Response, Status};
use gridd_proto::v1;
use gridd_store::{FeedEntry, ReadTx, Store};
use gridd_tracker::Tracker;
use tokio_util::sync::CancellationToken;

use crate::{WatchStream, invalid, required_id, spawn_watch, store_status};

/// The gRPC adapter.
pub struct SquadGrpc<S> {
    store: S,
    city: CityHandle,
    tracker: Tracker<S>,
    shutdown: CancellationToken,
}

impl<S: Store> SquadGrpc<S> {
    /// An adapter over the store and the tracker's command API; its watch streams end when
    /// `shutdown` is cancelled.
    pub fn new(store: S, city: CityHandle, tracker: Tracker<S>, shutdown: CancellationToken) -> Self {
        Self { store, city, tracker, shutdown }
    }

    /// The squad a call acts for: the caller's own, or the one a city-wide caller names.
    fn squad(&self, grant: &Grant, requested: &str) -> Result<SquadId, Status> {
        if !requested.is_empty() {
            required_id("squad_id", requested)?;
        }
        let id = grant.squad(requested)?;
        match self.city.current().responsibility.squad(&id) {
            Some(_) => Ok(id),
            None => Err(Status::not_found(format!("squad {} is not configured", quote(id.as_str())))),
        }
    }

    async fn run(
        &self,
        grant: &Grant,
        task: Option<&v1::TaskCommand>,
        command: Command,
        note: String,
    ) -> Result<Response<v1::Ticket>, Status> {
        let task = task.ok_or_else(|| invalid(FieldError::new("task", "is required")))?;
        let squad = self.squad(grant, &task.squad_id)?;
        required_id("ticket_id", &task.ticket_id)?;
        let expected = (task.expected_version != 0).then_some(task.expected_version);
        let action_id = (!task.action_id.is_empty()).then(|| task.action_id.clone());
        if let Some(action_id) = &action_id {
            validate_token("action_id", action_id, 128).map_err(invalid)?;
        }
        let actor = Actor::Squad { squad, member: grant.identity.subject.clone() };
        self.tracker
            .command(TicketId::new(task.ticket_id.as_str()), command, actor, expected, note, action_id)
            .await
            .map(Response::new)
            .map_err(|e| e.status())
    }
}

/// Streams the feed `holder` (a squad, or a supervisor's) after `after_seq`: stored entries,
/// then live ones.
pub(crate) fn watch_feed<S: Store>(store: S, holder: SquadId, after_seq: u64, shutdown: CancellationToken) -> WatchStream<v1::TaskEvent> {
    let changed = store.subscribe_feed(&holder);
    spawn_watch(changed, shutdown, after_seq, move |after| {
        let (store, holder) = (store.clone(), holder.clone());
        async move {
            let entries =
                store.read(move |tx: &mut dyn ReadTx| tx.feed(&holder, after, crate::WATCH_BATCH)).await.map_err(|e| store_status(&e))?;
            entries.into_iter().map(task_event).collect()
        }
    })
}

fn task_kind(kind: FeedKind) -> v1::TaskEventKind {
    match kind {
        FeedKind::Assigned => v1::TaskEventKind::Assigned,
        FeedKind::Rework => v1::TaskEventKind::Rework,
        FeedKind::Escalated => v1::TaskEventKind::Escalated,
        FeedKind::Withdrawn => v1::TaskEventKind::Withdrawn,
        FeedKind::Updated => v1::TaskEventKind::Updated,
        FeedKind::Closed => v1::TaskEventKind::Closed,
    }
}

/// A feed entry as a terminal sees it.
pub(crate) fn task_event(entry: FeedEntry) -> Result<(u64, v1::TaskEvent), Status> {
    let event =
        v1::TicketEvent::decode(entry.event_payload.as_slice()).map_err(|e| gridd_proto::status::internal("decoding a feed entry", &e))?;
    Ok((
        entry.seq,
        v1::TaskEvent {
            seq: entry.seq,
            squad_id: entry.squad.to_string(),
            kind: task_kind(entry.kind).into(),
            at: Some(gridd_proto::timestamp(entry.at)),
            detail: event.detail,
            ticket: event.ticket,
        },
    ))
}

#[tonic::async_trait]
impl<S: Store> v1::squad_service_server::SquadService for SquadGrpc<S> {
    type WatchTasksStream = WatchStream<v1::TaskEvent>;

    async fn watch_tasks(&self, request: Request<v1::WatchTasksRequest>) -> Result<Response<Self::WatchTasksStream>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        let squad = self.squad(&grant, &req.squad_id)?;
        let after_seq = match (req.from_end, req.after_seq) {
            (false, after_seq) => after_seq,
            (true, 0) => {
                let squad = squad.clone();
                self.store.read(move |tx: &mut dyn ReadTx| tx.feed_end(&squad)).await.map_err(|e| store_status(&e))?
            }
            (true, _) => return Err(invalid(FieldError::new("from_end", "starts at the feed's end: leave after_seq at 0"))),
        };
        Ok(Response::new(watch_feed(self.store.clone(), squad, after_seq, self.shutdown.clone())))
    }

    async fn accept_task(&self, request: Request<v1::TaskCommand>) -> Result<Response<v1::Ticket>, Status> {
        self.run(&grant(&request)?, Some(request.get_ref()), Command::Accept, String::new()).await
    }

    async fn start_task(&self, request: Request<v1::TaskCommand>) -> Result<Response<v1::Ticket>, Status> {
        self.run(&grant(&request)?, Some(request.get_ref()), Command::Start, String::new()).await
    }

    async fn resolve_task(&self, request: Request<v1::ResolveTaskRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        validate_text("note", &req.note, 1000, true).map_err(invalid)?;
        gridd_core::ids::validate_urls("photo_urls", &req.photo_urls).map_err(invalid)?;
        let command = Command::Resolve { note: req.note.trim().to_owned(), photo_urls: req.photo_urls };
        self.run(&grant, req.task.as_ref(), command, String::new()).await
    }

    async fn answer_press(&self, request: Request<v1::AnswerPressRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        validate_text("note", &req.note, 1000, true).map_err(invalid)?;
        self.run(&grant, req.task.as_ref(), Command::AnswerPress { note: req.note.trim().to_owned() }, String::new()).await
    }

    async fn apply(&self, request: Request<v1::ApplyRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        validate_text("reason", &req.reason, 1000, true).map_err(invalid)?;
        let kind = match req.kind() {
            v1::ApplicationKind::Extension => {
                let extension =
                    gridd_core::category::LimitSpec::parse(&req.extension).map_err(|e| invalid(FieldError::new("extension", e)))?;
                ApplicationKind::Extension { extension }
            }
            v1::ApplicationKind::Suspension => ApplicationKind::Suspension,
            v1::ApplicationKind::Return => ApplicationKind::Return,
            v1::ApplicationKind::Unspecified => {
                return Err(invalid(FieldError::new("kind", "is required: extension, suspension or return")));
            }
        };
        self.run(&grant, req.task.as_ref(), Command::Apply { kind, reason: req.reason.trim().to_owned() }, String::new()).await
    }

    async fn return_task(&self, request: Request<v1::ReturnTaskRequest>) -> Result<Response<v1::Ticket>, Status> {
        let grant = grant(&request)?;
        let req = request.into_inner();
        validate_text("reason", &req.reason, 1000, true).map_err(invalid)?;
        self.run(&grant, req.task.as_ref(), Command::Return { reason: req.reason.trim().to_owned() }, String::new()).await
    }
}
