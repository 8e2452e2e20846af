//! `POST /v1/rpc/<package.Service>/<Method>`: a unary gRPC operation with its request and
//! response in the proto3 JSON mapping. The call goes to the same service implementation the
//! gRPC server uses, with the grant the access layer put on the HTTP request, so validation,
//! scope checks and the command itself are exactly the gRPC ones.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use gridd_access::Grant;
use gridd_ingest::IntakeSink;
use gridd_proto::tonic::{self, Status};
use gridd_proto::v1;
use gridd_store::Store;

use crate::{Services, status_response};

/// Longest part of a JSON parse error quoted back.
const MAX_ERROR: usize = 200;

/// Decodes a request message from JSON (an empty body is the empty message).
fn decode<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, Status> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        let why: String = e.to_string().chars().take(MAX_ERROR).collect();
        Status::invalid_argument(format!("malformed request: {why}"))
    })
}

/// Runs one unary method of a service implementation on a decoded request with `grant`.
macro_rules! unary {
    ($service:expr, $method:ident, $grant:expr, $body:expr) => {{
        let mut request = tonic::Request::new(decode($body)?);
        request.extensions_mut().insert($grant);
        let response = $service.$method(request).await?;
        serde_json::to_value(response.get_ref()).map_err(|e| gridd_proto::status::internal("encoding a response", &e))
    }};
}

/// The route.
pub async fn call<S: Store, K: IntakeSink>(
    State(services): State<Services<S, K>>,
    Path((service, method)): Path<(String, String)>,
    grant: Option<Extension<Grant>>,
    body: Bytes,
) -> Response {
    // Every operation served here is protected, so the access layer granted it; a request it
    // let through without a grant (checked credentials, unknown operation; or an open route
    // such as signing in, which has its own path) names nothing this route serves.
    let Some(Extension(grant)) = grant else {
        return status_response(&Status::unimplemented(format!(
            "{}/{} is not an operation served over HTTP",
            gridd_access::quote(&service),
            gridd_access::quote(&method)
        )));
    };
    match run(&services, &service, &method, grant, &body).await {
        Ok(json) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(json)).into_response(),
        Err(status) => status_response(&status),
    }
}

async fn run<S: Store, K: IntakeSink>(
    s: &Services<S, K>,
    service: &str,
    method: &str,
    grant: Grant,
    body: &[u8],
) -> Result<serde_json::Value, Status> {
    use v1::auth_service_server::AuthService as _;
    use v1::dispatch_service_server::DispatchService as _;
    use v1::grid_service_server::GridService as _;
    use v1::intake_service_server::IntakeService as _;
    use v1::squad_service_server::SquadService as _;
    let intake = || s.intake.as_ref().ok_or_else(|| Status::unimplemented("this process takes no reports"));
    match (service, method) {
        ("gridd.v1.DispatchService", "GetTicket") => unary!(s.dispatch, get_ticket, grant, body),
        ("gridd.v1.DispatchService", "ListTickets") => unary!(s.dispatch, list_tickets, grant, body),
        ("gridd.v1.DispatchService", "Dispatch") => unary!(s.dispatch, dispatch, grant, body),
        ("gridd.v1.DispatchService", "Verify") => unary!(s.dispatch, verify, grant, body),
        ("gridd.v1.DispatchService", "Close") => unary!(s.dispatch, close, grant, body),
        ("gridd.v1.DispatchService", "Cancel") => unary!(s.dispatch, cancel, grant, body),
        ("gridd.v1.DispatchService", "Suspend") => unary!(s.dispatch, suspend, grant, body),
        ("gridd.v1.DispatchService", "Resume") => unary!(s.dispatch, resume, grant, body),
        ("gridd.v1.DispatchService", "ExtendDeadline") => unary!(s.dispatch, extend_deadline, grant, body),
        ("gridd.v1.DispatchService", "GetStats") => unary!(s.dispatch, get_stats, grant, body),
        ("gridd.v1.DispatchService", "GetAssessment") => unary!(s.dispatch, get_assessment, grant, body),
        ("gridd.v1.DispatchService", "FreezeAssessment") => unary!(s.dispatch, freeze_assessment, grant, body),
        ("gridd.v1.DispatchService", "MergeCases") => unary!(s.dispatch, merge_cases, grant, body),
        ("gridd.v1.DispatchService", "SplitCase") => unary!(s.dispatch, split_case, grant, body),
        ("gridd.v1.DispatchService", "FindSimilarCases") => unary!(s.dispatch, find_similar_cases, grant, body),
        ("gridd.v1.DispatchService", "VerifyReport") => unary!(s.dispatch, verify_report, grant, body),
        ("gridd.v1.DispatchService", "ListReplyTasks") => unary!(s.dispatch, list_reply_tasks, grant, body),
        ("gridd.v1.DispatchService", "RecordReply") => unary!(s.dispatch, record_reply, grant, body),
        ("gridd.v1.DispatchService", "Reclassify") => unary!(s.dispatch, reclassify, grant, body),
        ("gridd.v1.DispatchService", "Press") => unary!(s.dispatch, press, grant, body),
        ("gridd.v1.SquadService", "AnswerPress") => unary!(s.squad, answer_press, grant, body),
        ("gridd.v1.SquadService", "Apply") => unary!(s.squad, apply, grant, body),
        ("gridd.v1.DispatchService", "Decide") => unary!(s.dispatch, decide, grant, body),
        ("gridd.v1.SquadService", "AcceptTask") => unary!(s.squad, accept_task, grant, body),
        ("gridd.v1.SquadService", "StartTask") => unary!(s.squad, start_task, grant, body),
        ("gridd.v1.SquadService", "ResolveTask") => unary!(s.squad, resolve_task, grant, body),
        ("gridd.v1.SquadService", "ReturnTask") => unary!(s.squad, return_task, grant, body),
        ("gridd.v1.GridService", "Locate") => unary!(s.grid, locate, grant, body),
        ("gridd.v1.GridService", "GetGrid") => unary!(s.grid, get_grid, grant, body),
        ("gridd.v1.GridService", "GetCatalogue") => unary!(s.grid, get_catalogue, grant, body),
        ("gridd.v1.AuthService", "WhoAmI") => unary!(s.auth, who_am_i, grant, body),
        ("gridd.v1.IntakeService", "LogHotlineCall") => unary!(intake()?, log_hotline_call, grant, body),
        ("gridd.v1.IntakeService", "SubmitCitizenReport") => unary!(intake()?, submit_citizen_report, grant, body),
        ("gridd.v1.IntakeService", "SubmitPatrolReport") => unary!(intake()?, submit_patrol_report, grant, body),
        _ => Err(Status::unimplemented(format!(
            "{}/{} is not a unary operation served over HTTP (streams are under /v1/watch/)",
            gridd_access::quote(service),
            gridd_access::quote(method)
        ))),
    }
}
