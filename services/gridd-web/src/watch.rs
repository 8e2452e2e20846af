//! The `Watch*` streams as Server-Sent Events: `GET /v1/watch/tickets` (WatchTickets) and
//! `GET /v1/watch/tasks?squadId=…` (WatchTasks). Each event's `id` is its sequence number, so a
//! browser that reconnects with `Last-Event-ID` (or `?after=`) misses nothing; `?tail=1`
//! starts from the current end instead of the beginning. The streams are the gRPC ones, run
//! with the caller's grant.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use gridd_access::Grant;
use gridd_ingest::IntakeSink;
use gridd_proto::tonic::{self, Status};
use gridd_proto::v1;
use gridd_store::{ReadTx, Store, topics};
use tokio_stream::{Stream, StreamExt as _};

use crate::{Services, status_response};

/// Where a stream starts.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchQuery {
    /// Resume after this sequence number (when there is no `Last-Event-ID`).
    after: Option<u64>,
    /// `1`: start at the current end.
    tail: Option<u8>,
    /// The squad of a task feed.
    squad_id: Option<String>,
    /// Whose verification feed (an administrator's choice).
    supervisor: Option<String>,
}

/// Comment lines this often keep proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// Turns a gRPC stream into SSE: each item an event named `name`, a refusal an `error` event
/// (after which the stream ends, as the gRPC one does).
fn sse<T, F>(stream: impl Stream<Item = Result<T, Status>> + Send + 'static, name: &'static str, seq: F) -> Response
where
    T: serde::Serialize,
    F: Fn(&T) -> u64 + Send + 'static,
{
    let events = stream.map(move |item| {
        Ok::<_, Infallible>(match item {
            Ok(message) => Event::default().id(seq(&message).to_string()).event(name).json_data(&message).unwrap_or_else(|e| {
                Event::default().event("error").data(format!("{{\"code\":\"internal\",\"message\":\"encoding an event: {e}\"}}"))
            }),
            Err(status) => {
                let (_, code) = gridd_proto::status::http_status(status.code());
                let body = serde_json::json!({ "code": code, "message": status.message() });
                Event::default().event("error").data(body.to_string())
            }
        })
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
}

async fn start<S: Store>(store: &S, headers: &HeaderMap, q: &WatchQuery) -> Result<u64, Status> {
    match (last_event_id(headers).or(q.after), q.tail) {
        (Some(after), _) => Ok(after),
        (None, Some(1)) => store
            .read(|tx: &mut dyn ReadTx| tx.log_end(topics::TICKET_EVENTS))
            .await
            .map_err(|e| gridd_proto::status::unavailable("store", &e)),
        (None, _) => Ok(0),
    }
}

/// `GET /v1/watch/tickets`.
pub async fn tickets<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Extension(grant): Extension<Grant>,
    headers: HeaderMap,
    Query(q): Query<WatchQuery>,
) -> Response {
    use v1::dispatch_service_server::DispatchService as _;
    let after_seq = match start(&services.store, &headers, &q).await {
        Ok(after) => after,
        Err(status) => return status_response(&status),
    };
    let mut request = tonic::Request::new(v1::WatchTicketsRequest { after_seq });
    request.extensions_mut().insert(grant);
    match services.dispatch.watch_tickets(request).await {
        Ok(stream) => sse(stream.into_inner(), "ticket", |e: &v1::TicketEvent| e.seq),
        Err(status) => status_response(&status),
    }
}

/// `GET /v1/watch/tasks?squadId=…` (a squad member's own squad when omitted). `tail` is not
/// offered: a terminal keeps its last seq, and a new one wants the whole feed.
pub async fn tasks<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Extension(grant): Extension<Grant>,
    headers: HeaderMap,
    Query(q): Query<WatchQuery>,
) -> Response {
    use v1::squad_service_server::SquadService as _;
    let after_seq = last_event_id(&headers).or(q.after).unwrap_or(0);
    let mut request =
        tonic::Request::new(v1::WatchTasksRequest { squad_id: q.squad_id.unwrap_or_default(), after_seq, ..Default::default() });
    request.extensions_mut().insert(grant);
    match services.squad.watch_tasks(request).await {
        Ok(stream) => sse(stream.into_inner(), "task", |e: &v1::TaskEvent| e.seq),
        Err(status) => status_response(&status),
    }
}

/// `GET /v1/watch/verifications`: the signed-in grid supervisor's feed (reports to verify,
/// 核实) as SSE; `?supervisor=` names whose for an administrator.
pub async fn verifications<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Extension(grant): Extension<Grant>,
    headers: HeaderMap,
    Query(q): Query<WatchQuery>,
) -> Response {
    use v1::dispatch_service_server::DispatchService as _;
    let after_seq = last_event_id(&headers).or(q.after).unwrap_or(0);
    let mut request = tonic::Request::new(v1::WatchVerificationsRequest { after_seq, supervisor: q.supervisor.unwrap_or_default() });
    request.extensions_mut().insert(grant);
    match services.dispatch.watch_verifications(request).await {
        Ok(stream) => sse(stream.into_inner(), "task", |e: &v1::TaskEvent| e.seq),
        Err(status) => status_response(&status),
    }
}
