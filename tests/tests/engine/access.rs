//! Identity and access: who may call what, within which scope.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gridd_access::access::STATE_TTL;
use gridd_access::permission::{self, Operation, Role};
use gridd_proto::tonic::client::GrpcService;
use gridd_proto::tonic::codegen::{Body, Bytes, StdError};
use gridd_proto::tonic::metadata::{Ascii, MetadataValue};
use gridd_proto::tonic::service::Interceptor;
use gridd_proto::tonic::service::interceptor::InterceptedService;
use gridd_proto::tonic::transport::Channel;
use gridd_proto::tonic::{self, Code, Status};
use gridd_proto::tonic_types::StatusExt;
use gridd_proto::v1;
use gridd_proto::v1::auth_service_client::AuthServiceClient;
use gridd_proto::v1::dispatch_service_client::DispatchServiceClient;
use gridd_proto::v1::grid_service_client::GridServiceClient;
use gridd_proto::v1::intake_service_client::IntakeServiceClient;
use gridd_proto::v1::squad_service_client::SquadServiceClient;
use gridd_store::{ReadTx, Store};
use gridd_tests::{
    Authed, Clients, PATIENCE, TEST_PASSWORD, TestApp, XINAN, create_user, hotline_call, http_get, http_get_as, http_post_json, spawn_app,
    spawn_app_on, spread_point,
};
use tonic_reflection::pb::v1 as reflection_v1;
use tonic_reflection::pb::v1alpha as reflection_v1alpha;

/// A case number no test ever files.
const NO_SUCH_CASE: &str = "261122-NOSUCH00";

/// The typed clients of every gRPC service over one transport: a [`Clients`]'s (with its
/// credentials) or the bare channel (none).
struct Callers<T> {
    intake: IntakeServiceClient<T>,
    dispatch: DispatchServiceClient<T>,
    squad: SquadServiceClient<T>,
    grid: GridServiceClient<T>,
    auth: AuthServiceClient<T>,
    reflection: reflection_v1::server_reflection_client::ServerReflectionClient<T>,
}

impl Callers<Authed> {
    /// The clients of `c`, with its credentials.
    fn of(c: &Clients) -> Self {
        Self {
            intake: c.intake.clone(),
            dispatch: c.dispatch.clone(),
            squad: c.squad.clone(),
            grid: c.grid.clone(),
            auth: c.auth.clone(),
            reflection: reflection_v1::server_reflection_client::ServerReflectionClient::new(c.authed.clone()),
        }
    }
}

impl Callers<Channel> {
    /// Clients that send no credentials at all.
    fn bare(channel: &Channel) -> Self {
        Self {
            intake: IntakeServiceClient::new(channel.clone()),
            dispatch: DispatchServiceClient::new(channel.clone()),
            squad: SquadServiceClient::new(channel.clone()),
            grid: GridServiceClient::new(channel.clone()),
            auth: AuthServiceClient::new(channel.clone()),
            reflection: reflection_v1::server_reflection_client::ServerReflectionClient::new(channel.clone()),
        }
    }
}

/// Sends exactly the `authorization` value given (or none), unlike [`gridd_access::client::Bearer`]
/// which always sends `Bearer <credential>`.
#[derive(Clone)]
struct RawAuthorization(Option<MetadataValue<Ascii>>);

impl Interceptor for RawAuthorization {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// An AuthService client that sends `authorization: <value>` verbatim.
fn auth_with_header(channel: &Channel, value: &str) -> AuthServiceClient<InterceptedService<Channel, RawAuthorization>> {
    let value: MetadataValue<Ascii> = value.parse().unwrap_or_else(|e| panic!("{:.40} is a valid header value: {e}", value));
    AuthServiceClient::new(InterceptedService::new(channel.clone(), RawAuthorization(Some(value))))
}

fn geo((lon, lat): (f64, f64)) -> Option<v1::GeoPoint> {
    Some(v1::GeoPoint { lon, lat, crs: v1::CoordSystem::Wgs84.into() })
}

fn citizen_report(key: &str, point: (f64, f64)) -> v1::SubmitCitizenReportRequest {
    v1::SubmitCitizenReportRequest {
        idempotency_key: key.into(),
        citizen_id: "u1".into(),
        category: "E0102".into(),
        location: geo(point),
        description: "随手拍: 路边有垃圾".into(),
        ..Default::default()
    }
}

fn patrol_report(key: &str) -> v1::SubmitPatrolReportRequest {
    v1::SubmitPatrolReportRequest {
        idempotency_key: key.into(),
        category: "E0102".into(),
        location: geo(XINAN),
        description: "巡查发现暴露垃圾".into(),
        ..Default::default()
    }
}

fn camera_alert(alert_id: &str, camera: &str) -> v1::CameraAlert {
    let now = gridd_proto::timestamp(gridd_core::time::Clock::now(&gridd_core::time::SystemClock));
    v1::CameraAlert {
        camera_id: camera.into(),
        alert_id: alert_id.into(),
        detection_type: "exposed_garbage".into(),
        confidence: 0.9,
        detected_at: Some(now),
        frame_url: String::new(),
        location: None,
    }
}

fn list_services_v1() -> reflection_v1::ServerReflectionRequest {
    reflection_v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(reflection_v1::server_reflection_request::MessageRequest::ListServices(String::new())),
    }
}

/// One real call of the gRPC operation `op` with a minimal request (`tag` keeps idempotency
/// keys apart); streaming calls only wait for the initial response. `None` for `Metrics`,
/// which is HTTP.
async fn call<T>(c: &mut Callers<T>, op: Operation, tag: &str) -> Option<Result<(), Status>>
where
    T: GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    let key = format!("matrix-{tag}");
    let context = Clients::operator;
    let task = || Some(Clients::task("sq-1", NO_SUCH_CASE));
    let result = match op {
        Operation::LogHotlineCall => c.intake.log_hotline_call(hotline_call(&key, "E0102", Some(XINAN))).await.map(drop),
        Operation::SubmitCitizenReport => c.intake.submit_citizen_report(citizen_report(&key, XINAN)).await.map(drop),
        Operation::SubmitPatrolReport => c.intake.submit_patrol_report(patrol_report(&key)).await.map(drop),
        Operation::StreamCameraAlerts => {
            c.intake.stream_camera_alerts(tokio_stream::iter(vec![camera_alert(&key, "CAM-0001")])).await.map(drop)
        }
        Operation::GetTicket => c
            .dispatch
            .get_ticket(v1::GetTicketRequest { id: NO_SUCH_CASE.into(), include_history: false, ..Default::default() })
            .await
            .map(drop),
        Operation::ListTickets => c.dispatch.list_tickets(v1::ListTicketsRequest::default()).await.map(drop),
        Operation::WatchTickets => c.dispatch.watch_tickets(v1::WatchTicketsRequest { after_seq: 0 }).await.map(drop),
        Operation::Dispatch => c
            .dispatch
            .dispatch(v1::DispatchRequest { ticket_id: NO_SUCH_CASE.into(), squad_id: "sq-1".into(), context: context() })
            .await
            .map(drop),
        Operation::Verify => {
            c.dispatch.verify(v1::VerifyRequest { ticket_id: NO_SUCH_CASE.into(), passed: true, context: context() }).await.map(drop)
        }
        Operation::Close => c.dispatch.close(v1::CloseRequest { ticket_id: NO_SUCH_CASE.into(), context: context() }).await.map(drop),
        Operation::Cancel => c
            .dispatch
            .cancel(v1::CancelRequest {
                ticket_id: NO_SUCH_CASE.into(),
                reason: v1::CancelReason::Duplicate.into(),
                context: context(),
                duplicate_of: "other".into(),
            })
            .await
            .map(drop),
        Operation::Suspend => c.dispatch.suspend(v1::SuspendRequest { ticket_id: NO_SUCH_CASE.into(), context: context() }).await.map(drop),
        Operation::Resume => c.dispatch.resume(v1::ResumeRequest { ticket_id: NO_SUCH_CASE.into(), context: context() }).await.map(drop),
        Operation::ExtendDeadline => c
            .dispatch
            .extend_deadline(v1::ExtendDeadlineRequest { ticket_id: NO_SUCH_CASE.into(), extension: "2h".into(), context: context() })
            .await
            .map(drop),
        Operation::GetStats => c.dispatch.get_stats(v1::GetStatsRequest::default()).await.map(drop),
        Operation::GetAssessment => c.dispatch.get_assessment(v1::GetAssessmentRequest { period: "2026-10".into() }).await.map(drop),
        Operation::MergeCases => c
            .dispatch
            .merge_cases(v1::MergeCasesRequest { duplicate_id: NO_SUCH_CASE.into(), master_id: "other".into(), context: context() })
            .await
            .map(drop),
        Operation::SplitCase => c
            .dispatch
            .split_case(v1::SplitCaseRequest { ticket_id: NO_SUCH_CASE.into(), reference: "r".into(), context: context() })
            .await
            .map(drop),
        Operation::FreezeAssessment => {
            c.dispatch.freeze_assessment(v1::FreezeAssessmentRequest { period: "2026-10".into() }).await.map(drop)
        }
        Operation::FindSimilarCases => c
            .dispatch
            .find_similar_cases(v1::FindSimilarCasesRequest { category: "E0102".into(), location: geo(XINAN), radius_m: 0.0 })
            .await
            .map(drop),
        Operation::VerifyReport => c
            .dispatch
            .verify_report(v1::VerifyReportRequest {
                ticket_id: NO_SUCH_CASE.into(),
                outcome: v1::VerifyOutcome::Confirmed.into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Operation::WatchVerifications => {
            c.dispatch.watch_verifications(v1::WatchVerificationsRequest { after_seq: 0, supervisor: String::new() }).await.map(drop)
        }
        Operation::ListReplyTasks => c.dispatch.list_reply_tasks(v1::ListReplyTasksRequest::default()).await.map(drop),
        Operation::RecordReply => c
            .dispatch
            .record_reply(v1::RecordReplyRequest { ticket_id: NO_SUCH_CASE.into(), reference: NO_SUCH_CASE.into(), ..Default::default() })
            .await
            .map(drop),
        Operation::Reclassify => c
            .dispatch
            .reclassify(v1::ReclassifyRequest {
                ticket_id: NO_SUCH_CASE.into(),
                category: "E0102".into(),
                reason: "改类".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Operation::Press => c
            .dispatch
            .press(v1::PressRequest { ticket_id: NO_SUCH_CASE.into(), level: 1, note: "请尽快处置".into(), context: None })
            .await
            .map(drop),
        Operation::AnswerPress => c
            .squad
            .answer_press(v1::AnswerPressRequest { task: Some(Clients::task("sq-1", NO_SUCH_CASE)), note: "已安排".into() })
            .await
            .map(drop),
        Operation::Decide => c
            .dispatch
            .decide(v1::DecideRequest { ticket_id: NO_SUCH_CASE.into(), approve: false, reason: "不同意".into(), ..Default::default() })
            .await
            .map(drop),
        Operation::Apply => c
            .squad
            .apply(v1::ApplyRequest {
                task: Some(Clients::task("sq-1", NO_SUCH_CASE)),
                kind: v1::ApplicationKind::Suspension.into(),
                extension: String::new(),
                reason: "施工".into(),
            })
            .await
            .map(drop),
        Operation::WatchTasks => {
            c.squad.watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: 0, ..Default::default() }).await.map(drop)
        }
        Operation::AcceptTask => c.squad.accept_task(Clients::task("sq-1", NO_SUCH_CASE)).await.map(drop),
        Operation::StartTask => c.squad.start_task(Clients::task("sq-1", NO_SUCH_CASE)).await.map(drop),
        Operation::ResolveTask => {
            c.squad.resolve_task(v1::ResolveTaskRequest { task: task(), note: "已清理".into(), photo_urls: Vec::new() }).await.map(drop)
        }
        Operation::ReturnTask => c.squad.return_task(v1::ReturnTaskRequest { task: task(), reason: "不属于本中队".into() }).await.map(drop),
        Operation::Locate => c.grid.locate(v1::LocateRequest { point: geo(XINAN), category: String::new(), at: None }).await.map(drop),
        Operation::GetGrid => c
            .grid
            .get_grid(v1::GetGridRequest {
                street_code: String::new(),
                include_geometry: false,
                page: Some(v1::PageRequest { page_size: 1, page_token: String::new() }),
            })
            .await
            .map(drop),
        Operation::GetCatalogue => c.grid.get_catalogue(v1::GetCatalogueRequest {}).await.map(drop),
        Operation::WhoAmI => c.auth.who_am_i(v1::WhoAmIRequest {}).await.map(drop),
        Operation::Reflection => c.reflection.server_reflection_info(tokio_stream::iter(vec![list_services_v1()])).await.map(drop),
        Operation::Metrics => return None,
    };
    Some(result)
}

/// What one call came to, as far as access goes.
#[derive(Debug)]
enum Outcome {
    /// The access layer let it through; what the service said then (a code or HTTP status).
    Through(String),
    /// PERMISSION_DENIED (HTTP 403), with its message.
    Denied(String),
    /// UNAUTHENTICATED (HTTP 401), with its message.
    Unauthenticated(String),
}

fn grpc_outcome(result: Result<(), Status>) -> Outcome {
    match result {
        Ok(()) => Outcome::Through("OK".into()),
        Err(s) if s.code() == Code::PermissionDenied => Outcome::Denied(s.message().into()),
        Err(s) if s.code() == Code::Unauthenticated => Outcome::Unauthenticated(s.message().into()),
        Err(s) => Outcome::Through(format!("{:?}", s.code())),
    }
}

/// The body of a raw HTTP response, as JSON.
fn json_body(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON body ({e}): {response}"))
}

/// A header of a raw HTTP response.
fn http_header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split_once("\r\n\r\n").map_or(response, |(head, _)| head);
    head.lines().skip(1).find_map(|line| line.split_once(':').filter(|(n, _)| n.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

fn http_outcome(code: u16, response: &str) -> Outcome {
    let message = || json_body(response)["message"].as_str().unwrap_or_default().to_owned();
    match code {
        401 => Outcome::Unauthenticated(message()),
        403 => Outcome::Denied(message()),
        other => Outcome::Through(format!("HTTP {other}")),
    }
}

/// Calls `op` with `credential` (none: no `authorization` at all).
async fn probe(app: &TestApp, credential: Option<&str>, op: Operation, tag: &str) -> Outcome {
    if op == Operation::Metrics {
        let (code, response) = match credential {
            Some(credential) => http_get_as(app.http_addr, "/metrics", credential).await,
            None => http_get(app.http_addr, "/metrics").await,
        };
        return http_outcome(code, &response);
    }
    let result = match credential {
        Some(credential) => call(&mut Callers::of(&app.clients_with(credential)), op, tag).await,
        None => call(&mut Callers::bare(&app.clients.channel), op, tag).await,
    };
    grpc_outcome(result.expect("a gRPC operation"))
}

/// A credential for `role`: a signed-in account for people (squad roles in `sq-1`), a key for
/// machines (a camera gateway's bound to CAM-0001).
async fn credential_for(app: &TestApp, role: Role) -> String {
    if role.is_machine() {
        let cameras: &[&str] = if role == Role::CameraGateway { &["CAM-0001"] } else { &[] };
        app.key(role.id(), cameras).await
    } else {
        let squad = role.needs_squad().then_some("sq-1");
        app.sign_in_as(&format!("m.{}", role.id()), role.id(), squad).await
    }
}

/// Every desk, terminal and machine of the city relies on being able to do its job and
/// nothing more: each of the 12 roles calls every operation once, and exactly what the
/// permission table allows gets past the access layer; everything else is refused with
/// PERMISSION_DENIED naming the role and the operation, and a caller without credentials is
/// refused everything with UNAUTHENTICATED. A handful of rows are also checked against
/// expectations written out here, so that a wrong row in the table cannot pass unnoticed.
#[tokio::test]
async fn every_role_can_call_exactly_what_the_permission_table_allows() {
    let app = spawn_app().await;
    let mut credentials = Vec::new();
    for role in Role::ALL {
        credentials.push((role, credential_for(&app, role).await));
    }
    let mut allowed: BTreeMap<Operation, BTreeSet<Role>> = BTreeMap::new();
    let mut what_happened: BTreeMap<Operation, Vec<String>> = BTreeMap::new();
    for op in permission::operations() {
        match probe(&app, None, op, "anonymous").await {
            Outcome::Unauthenticated(message) => assert!(!message.is_empty(), "{op} without credentials: a reason"),
            other => panic!("{op} without credentials must be UNAUTHENTICATED, got {other:?}"),
        }
        let roles = allowed.entry(op).or_default();
        for (role, credential) in &credentials {
            let outcome = probe(&app, Some(credential), op, role.id()).await;
            match (permission::scope(*role, op), &outcome) {
                (Some(_), Outcome::Through(said)) => {
                    roles.insert(*role);
                    what_happened.entry(op).or_default().push(format!("{}={said}", role.id()));
                }
                (None, Outcome::Denied(message)) => {
                    let expected = format!("permission denied: role {} ({}) may not call {}", role.id(), role.label(), op.name());
                    assert_eq!(message, &expected, "the refusal of {op} to {role} names both");
                }
                (Some(scope), other) => panic!("{role} may call {op} ({}), but got {other:?}", scope.label()),
                (None, other) => panic!("{role} may not call {op}, but got {other:?}"),
            }
        }
    }

    // Independent expectations, written out rather than read from the table.
    use Operation as O;
    use Role as R;
    let may = |role: Role, op: Operation| allowed[&op].contains(&role);
    let literal = [
        (R::SquadMember, O::Dispatch, false),
        (R::SquadMember, O::Close, false),
        (R::SquadMember, O::AcceptTask, true),
        (R::Leadership, O::GetStats, true),
        (R::Leadership, O::Verify, false),
        (R::Leadership, O::Cancel, false),
        (R::Leadership, O::LogHotlineCall, false),
        (R::HotlineOperator, O::LogHotlineCall, true),
        (R::HotlineOperator, O::GetTicket, true),
        (R::HotlineOperator, O::Dispatch, false),
        (R::Dispatcher, O::Dispatch, true),
        (R::Dispatcher, O::Close, false),
        (R::ShiftLeader, O::Close, true),
        (R::Supervisor, O::SubmitPatrolReport, true),
        (R::CitizenApp, O::SubmitCitizenReport, true),
        (R::CitizenApp, O::ListTickets, false),
    ];
    for (role, op, expected) in literal {
        assert_eq!(may(role, op), expected, "{role} on {op}");
    }
    let rpcs_of = |role: Role| -> BTreeSet<Operation> {
        allowed.iter().filter(|(op, roles)| !matches!(op, O::Metrics | O::Reflection) && roles.contains(&role)).map(|(op, _)| *op).collect()
    };
    assert_eq!(rpcs_of(R::CameraGateway), BTreeSet::from([O::StreamCameraAlerts, O::WhoAmI]), "a camera gateway only sends alerts");
    assert_eq!(rpcs_of(R::Monitoring), BTreeSet::from([O::WhoAmI]), "monitoring calls no gridd RPC but WhoAmI");
    assert_eq!(allowed[&O::Metrics], BTreeSet::from([R::Administrator, R::Monitoring]), "who reads /metrics");
    assert_eq!(allowed[&O::Reflection], BTreeSet::from(Role::ALL), "every signed-in caller may reflect");
    assert_eq!(rpcs_of(R::Administrator).len(), permission::operations().count() - 2, "the administrator may call every RPC");

    println!("{:<20} roles allowed (observed; what the call then answered)", "operation");
    for (op, roles) in &allowed {
        let names: Vec<&str> = roles.iter().map(|r| r.id()).collect();
        println!("{:<20} {}", op.name(), names.join(", "));
        println!("{:<20}   {}", "", what_happened.get(op).map(|w| w.join(" ")).unwrap_or_default());
    }
    app.stop().await;
}

/// A squad terminal sees and works only its own squad's tasks: a member of 二中队 cannot
/// watch 一中队's feed, sign for, return or even read its cases, nor list them; a member of
/// 一中队 gets the task on its feed without naming the squad, signs for it, and the history
/// records that member as the one who did.
#[tokio::test]
async fn a_squad_member_neither_sees_nor_acts_on_another_squads_tasks() {
    let app = spawn_app().await;
    let mut admin = app.clients.clone();
    let receipt = admin.hotline("scope-1", "E0102", Some(XINAN)).await.expect("accepted");
    let case = admin.ticket_of(&receipt.reference).await;
    assert_eq!(case.squad_id, "sq-1", "the call in 新安街道 is 一中队's case");

    let mut two = app.clients_with(&app.sign_in_as("m.two", "squad_member", Some("sq-2")).await);
    let watch = two.squad.watch_tasks(v1::WatchTasksRequest { squad_id: "sq-1".into(), after_seq: 0, ..Default::default() }).await;
    let refused = watch.expect_err("another squad's feed");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("sq-1") && refused.message().contains("sq-2"), "{}", refused.message());
    for squad in ["", "sq-1"] {
        let refused = two.squad.accept_task(Clients::task(squad, &case.id)).await.expect_err("not their task");
        assert_eq!(refused.code(), Code::PermissionDenied, "AcceptTask naming {squad:?}: {refused:?}");
        let back = v1::ReturnTaskRequest { task: Some(Clients::task(squad, &case.id)), reason: "不是我们的".into() };
        let refused = two.squad.return_task(back).await.expect_err("not their task to return");
        assert_eq!(refused.code(), Code::PermissionDenied, "ReturnTask naming {squad:?}: {refused:?}");
    }
    let read = two.dispatch.get_ticket(v1::GetTicketRequest { id: case.id.clone(), include_history: true, ..Default::default() }).await;
    assert_eq!(read.expect_err("another squad's case").code(), Code::PermissionDenied);
    let listed = two.dispatch.list_tickets(v1::ListTicketsRequest { squad_id: "sq-1".into(), ..Default::default() }).await;
    assert_eq!(listed.expect_err("another squad's list").code(), Code::PermissionDenied);
    let own = two.dispatch.list_tickets(v1::ListTicketsRequest::default()).await.expect("own list").into_inner();
    assert!(
        own.tickets.iter().all(|t| t.squad_id == "sq-2"),
        "only 二中队's cases: {:?}",
        own.tickets.iter().map(|t| &t.id).collect::<Vec<_>>()
    );
    let (after, history) = admin.history(&case.id).await;
    assert_eq!(
        (after.version, after.state(), after.squad_id.as_str()),
        (case.version, v1::TicketState::Dispatched, "sq-1"),
        "nothing changed"
    );
    assert_eq!(history.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["filed", "dispatched"]);

    let mut one = app.clients_with(&app.sign_in_as("m.one", "squad_member", Some("sq-1")).await);
    let mut feed = one
        .squad
        .watch_tasks(v1::WatchTasksRequest { squad_id: String::new(), after_seq: 0, ..Default::default() })
        .await
        .expect("own feed")
        .into_inner();
    let assigned = tokio::time::timeout(PATIENCE, feed.message()).await.expect("in time").expect("stream ok").expect("an event");
    assert_eq!((assigned.kind(), assigned.squad_id.as_str()), (v1::TaskEventKind::Assigned, "sq-1"));
    assert_eq!(assigned.ticket.map(|t| t.id), Some(case.id.clone()));
    let seen = one
        .dispatch
        .get_ticket(v1::GetTicketRequest { id: case.id.clone(), include_history: false, ..Default::default() })
        .await
        .expect("own case");
    assert_eq!(seen.into_inner().ticket.map(|t| t.id), Some(case.id.clone()));
    let accepted = one.squad.accept_task(Clients::task("", &case.id)).await.expect("sign for own task").into_inner();
    assert_eq!(accepted.state(), v1::TicketState::Accepted);
    let (_, history) = admin.history(&case.id).await;
    let last = history.last().expect("history");
    assert_eq!(last.kind, "accepted");
    assert!(last.actor.contains("m.one") && last.actor.contains("sq-1"), "the member who signed is the actor: {:?}", last.actor);
    app.stop().await;
}

/// A video-AI gateway speaks only for the cameras its key is bound to: an alert of another
/// camera in the same stream is rejected with its reason, and the gateway's own alerts are
/// still taken in.
#[tokio::test]
async fn a_camera_gateway_sends_only_for_its_own_cameras() {
    let app = spawn_app().await;
    let gateway = app.key("camera_gateway", &["CAM-0001"]).await;
    let mut gw = app.clients_with(&gateway);
    let me = gw.auth.who_am_i(v1::WhoAmIRequest {}).await.expect("who am i").into_inner();
    assert_eq!((me.role.as_str(), me.camera_ids.clone()), ("camera_gateway", vec!["CAM-0001".to_string()]));
    let alerts = vec![camera_alert("own-1", "CAM-0001"), camera_alert("other-1", "CAM-0002")];
    let response = gw.intake.stream_camera_alerts(tokio_stream::iter(alerts)).await.expect("stream accepted").into_inner();
    assert_eq!(response.accepted.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(), ["own-1"]);
    let rejected: Vec<(u32, &str, &str)> = response.rejected.iter().map(|r| (r.index, r.alert_id.as_str(), r.field.as_str())).collect();
    assert_eq!(rejected, [(1, "other-1", "camera_id")]);
    assert!(response.rejected[0].reason.contains("CAM-0002"), "the reason names the camera: {}", response.rejected[0].reason);
    let mut admin = app.clients.clone();
    admin.ticket_of(&response.accepted[0].reference).await;
    let stats = admin.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    let cameras: u64 = stats.intake_by_channel.iter().filter(|c| c.label == "camera").map(|c| c.count).sum();
    assert_eq!(cameras, 1, "nothing was written for the other camera's alert");
    app.stop().await;
}

/// Polls WhoAmI every 200 ms until it is refused with UNAUTHENTICATED, for at most
/// [`STATE_TTL`] plus 5 s; returns the refusal.
async fn refused_within_state_ttl(mut auth: AuthServiceClient<Authed>, what: &str) -> Status {
    let limit = STATE_TTL + Duration::from_secs(5);
    let start = tokio::time::Instant::now();
    loop {
        match auth.who_am_i(v1::WhoAmIRequest {}).await {
            Ok(_) => {}
            Err(s) if s.code() == Code::Unauthenticated => return s,
            Err(s) => panic!("{what}: expected UNAUTHENTICATED, got {s:?}"),
        }
        assert!(start.elapsed() < limit, "{what} still works {limit:?} later");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> Result<v1::SignInResponse, Status> {
    let mut auth = AuthServiceClient::new(app.clients.channel.clone());
    auth.sign_in(v1::SignInRequest { username: username.into(), password: password.into() }).await.map(|r| r.into_inner())
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Result<v1::SignInResponse, Status> {
    let mut auth = AuthServiceClient::new(app.clients.channel.clone());
    auth.refresh(v1::RefreshRequest { refresh_token: refresh_token.into() }).await.map(|r| r.into_inner())
}

/// When a gateway's key leaks or a member of staff leaves, the administrator revokes the key
/// or disables the account, and from then on (within the state cache's lifetime) neither
/// works: calls are refused saying why, the account can no longer sign in, and its session
/// cannot be refreshed. Other credentials keep working.
#[tokio::test]
async fn a_revoked_key_and_a_disabled_account_stop_working() {
    let app = spawn_app().await;
    let key = app.key("citizen_app", &[]).await;
    let key_id = key.strip_prefix("gk_").and_then(|k| k.split_once('_')).map(|(id, _)| id.to_owned()).expect("gk_<id>_<secret>");
    create_user(&app.store, &app.city, "leaving.soon", "dispatcher", None).await;
    let session = sign_in(&app, "leaving.soon", TEST_PASSWORD).await.expect("signs in");
    let (key_client, account_client) = (app.clients_with(&key).auth, app.clients_with(&session.access_token).auth);
    // Both work, and so are in the state cache.
    assert_eq!(key_client.clone().who_am_i(v1::WhoAmIRequest {}).await.expect("key works").into_inner().subject, key_id);
    assert_eq!(account_client.clone().who_am_i(v1::WhoAmIRequest {}).await.expect("token works").into_inner().subject, "leaving.soon");

    gridd_access::admin::revoke_key(&app.store, &key_id, "test").await.expect("revoked");
    gridd_access::admin::set_disabled(&app.store, "leaving.soon", true, "test").await.expect("disabled");

    let refused = sign_in(&app, "leaving.soon", TEST_PASSWORD).await.expect_err("a disabled account cannot sign in");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("disabled"), "{}", refused.message());
    let refused = refresh(&app, &session.refresh_token).await.expect_err("nor refresh its session");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("disabled"), "{}", refused.message());

    let (key_refusal, account_refusal) = tokio::join!(
        refused_within_state_ttl(key_client, "the revoked key"),
        refused_within_state_ttl(account_client, "the disabled account's token"),
    );
    assert!(key_refusal.message().contains("revoked"), "{}", key_refusal.message());
    assert!(account_refusal.message().contains("disabled"), "{}", account_refusal.message());
    let mut admin = app.clients.clone();
    admin.auth.who_am_i(v1::WhoAmIRequest {}).await.expect("other credentials keep working");
    app.stop().await;
}

/// Unpadded base64url, as in JWTs.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// Claims in the shape of gridd's own access tokens.
fn claims(sub: &str, iss: &str, aud: &str, exp: u64, role: &str) -> serde_json::Value {
    let issued_ms = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as i64;
    serde_json::json!({ "iss": iss, "aud": aud, "sub": sub, "exp": exp, "iat": now_seconds(), "issued_ms": issued_ms, "role": role, "name": sub })
}

/// An HS256 token with header kid "gridd", signed with `secret`.
fn hs256(secret: &[u8], claims: &serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("gridd".into());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret)).expect("encode a JWT")
}

/// Whoever holds a credential that is expired, forged, tampered with or simply malformed is
/// refused with UNAUTHENTICATED and a reason a client developer can act on — never another
/// code, never a crash — and the engine goes on serving everyone else.
#[tokio::test]
async fn expired_tampered_and_malformed_credentials_are_refused_with_a_reason() {
    let app = spawn_app().await;
    create_user(&app.store, &app.city, "real.one", "dispatcher", None).await;
    let secret = app
        .store
        .read(|tx: &mut dyn ReadTx| tx.signing_secret())
        .await
        .expect("store reads")
        .expect("the deployment's token-signing secret");
    let key = app.key("citizen_app", &[]).await;
    let key_id = key.strip_prefix("gk_").and_then(|k| k.split_once('_')).map(|(id, _)| id.to_owned()).expect("gk_<id>_<secret>");
    let hour_ahead = now_seconds() + 3600;
    let good = hs256(&secret, &claims("real.one", "gridd", "gridd", hour_ahead, "dispatcher"));
    // The control: a token made here the way gridd makes them is accepted, so each refusal
    // below is for the one thing that is wrong with it.
    let me = auth_with_header(&app.clients.channel, &format!("Bearer {good}")).who_am_i(v1::WhoAmIRequest {}).await;
    assert_eq!(me.expect("a well-made token").into_inner().subject, "real.one");

    let none_header = base64url(br#"{"alg":"none","typ":"JWT","kid":"gridd"}"#);
    let payload = base64url(claims("real.one", "gridd", "gridd", hour_ahead, "administrator").to_string().as_bytes());
    let unsigned = format!("{none_header}.{payload}.");
    let forged =
        hs256(b"not this deployment's secret, another one entirely", &claims("real.one", "gridd", "gridd", hour_ahead, "dispatcher"));
    let wrong_issuer = hs256(&secret, &claims("real.one", "https://evil.example", "gridd", hour_ahead, "dispatcher"));
    let wrong_audience = hs256(&secret, &claims("real.one", "gridd", "another-service", hour_ahead, "dispatcher"));
    let expired = hs256(&secret, &claims("real.one", "gridd", "gridd", now_seconds() - 3600, "dispatcher"));
    // The payload of an administrator's token under the signature of the dispatcher's.
    let promoted = hs256(&secret, &claims("real.one", "gridd", "gridd", hour_ahead, "administrator"));
    let (good_parts, promoted_parts): (Vec<&str>, Vec<&str>) = (good.split('.').collect(), promoted.split('.').collect());
    let tampered = format!("{}.{}.{}", good_parts[0], promoted_parts[1], good_parts[2]);
    let over_gridds_limit = format!("Bearer {}", "a".repeat(9 * 1024));

    // (what, authorization value, a word the reason must contain; "" for any reason)
    let cases: Vec<(&str, String, &str)> = vec![
        ("an empty value", String::new(), "Bearer"),
        // The scheme is right and the token is missing: the caller must be told so, as for
        // "Bearer" alone, not that the scheme is wrong.
        ("Bearer and a space", "Bearer ".into(), "the bearer token is empty"),
        ("Bearer alone", "Bearer".into(), "empty"),
        ("another scheme", "Basic eHl6".into(), "Bearer"),
        ("garbage", "Bearer !!garbage!!".into(), "malformed"),
        ("a JWT-shaped garbage", "Bearer a.b.c".into(), "malformed"),
        ("an unknown machine key", format!("Bearer gk_deadbeef_{}", "0".repeat(64)), "machine key"),
        ("a real key id with a wrong secret", format!("Bearer gk_{key_id}_{}", "0".repeat(64)), "machine key"),
        ("a key without a secret", "Bearer gk_".into(), "machine key"),
        ("9 KiB, over gridd's own 8 KiB limit", over_gridds_limit, "longer than"),
        ("alg none", format!("Bearer {unsigned}"), ""),
        ("signed with another key", format!("Bearer {forged}"), "signature"),
        ("tampered payload", format!("Bearer {tampered}"), "signature"),
        ("wrong issuer", format!("Bearer {wrong_issuer}"), "issuer"),
        ("wrong audience", format!("Bearer {wrong_audience}"), "audience"),
        ("expired", format!("Bearer {expired}"), "expired"),
    ];
    // Reasons that do not say what is wrong; checked last, so that every other check runs.
    let mut unhelpful = Vec::new();
    for (what, value, reason) in &cases {
        let refused = auth_with_header(&app.clients.channel, value).who_am_i(v1::WhoAmIRequest {}).await.expect_err(what);
        assert_eq!(refused.code(), Code::Unauthenticated, "{what}: {refused:?}");
        assert!(refused.message().len() > "unauthenticated: ".len(), "{what}: a reason, got {:?}", refused.message());
        if !refused.message().contains(reason) {
            unhelpful.push(format!("{what}: {:?} does not say {reason:?}", refused.message()));
        }
        // The same refusal on a service call, not only on WhoAmI.
        let value: MetadataValue<Ascii> = value.parse().expect("header value");
        let mut dispatch = DispatchServiceClient::new(InterceptedService::new(app.clients.channel.clone(), RawAuthorization(Some(value))));
        let refused = dispatch.get_stats(v1::GetStatsRequest::default()).await.expect_err(what);
        assert_eq!(refused.code(), Code::Unauthenticated, "{what} on GetStats: {refused:?}");
    }

    // A megabyte: far over what the server's HTTP/2 layer takes (hyper's default
    // SETTINGS_MAX_HEADER_LIST_SIZE is 16 KiB), so gridd never sees it. What happens (tonic
    // 0.14, hyper 1.12, h2 0.4): while the header block is still arriving in CONTINUATION
    // frames, h2 ends the connection with GOAWAY ENHANCE_YOUR_CALM ("too_many_continuations"),
    // which tonic reports to the client as RESOURCE_EXHAUSTED "h2 protocol error". Accepted
    // here only as that transport refusal; UNAUTHENTICATED would be fine too.
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    let huge_result = auth_with_header(&app.clients.channel, &huge).who_am_i(v1::WhoAmIRequest {}).await;
    let refused = huge_result.expect_err("a megabyte of credentials");
    let by_transport = std::error::Error::source(&refused).is_some() && refused.message().contains("h2 protocol error");
    assert!(refused.code() == Code::Unauthenticated || by_transport, "{refused:?}");

    // The engine still serves valid callers, on the same channel.
    let mut admin = app.clients.clone();
    admin.auth.who_am_i(v1::WhoAmIRequest {}).await.expect("the engine still answers");
    let me = auth_with_header(&app.clients.channel, &format!("Bearer {good}")).who_am_i(v1::WhoAmIRequest {}).await;
    assert_eq!(me.expect("a valid token still works").into_inner().subject, "real.one");
    assert!(unhelpful.is_empty(), "refusals whose reason is off:\n{}", unhelpful.join("\n"));
    app.stop().await;
}

/// A person signs in, learns who the engine thinks they are, keeps the session alive with
/// refresh tokens (each usable once), and signs out — over gRPC and over HTTP, with the
/// refusals a browser or a script can act on — and the security office finds every step in
/// the audit log. `/metrics` is for monitoring, not for dispatchers.
#[tokio::test]
async fn sign_in_refresh_and_sign_out_over_grpc_and_http_are_audited() {
    let app = spawn_app().await;
    create_user(&app.store, &app.city, "li.na", "squad_member", Some("sq-1")).await;
    let first = sign_in(&app, "li.na", TEST_PASSWORD).await.expect("signs in");
    assert!(!first.access_token.is_empty() && !first.refresh_token.is_empty());
    let principal = first.principal.clone().expect("who signed in");
    assert_eq!(principal.subject, "li.na");
    let me = app.clients_with(&first.access_token).auth.who_am_i(v1::WhoAmIRequest {}).await.expect("who am i").into_inner();
    assert_eq!(
        (me.subject.as_str(), me.role.as_str(), me.role_label.as_str(), me.squad_id.as_str()),
        ("li.na", "squad_member", "队员", "sq-1")
    );
    assert!(me.permissions.iter().any(|p| p == "AcceptTask (own squad)"), "{:?}", me.permissions);
    assert!(!me.permissions.iter().any(|p| p.starts_with("Dispatch ")), "{:?}", me.permissions);

    let second = refresh(&app, &first.refresh_token).await.expect("refreshes");
    assert_ne!(second.refresh_token, first.refresh_token, "a new refresh token");
    let me = app.clients_with(&second.access_token).auth.who_am_i(v1::WhoAmIRequest {}).await.expect("the new token works");
    assert_eq!(me.into_inner().subject, "li.na");
    let reused = refresh(&app, &first.refresh_token).await.expect_err("a refresh token works once");
    assert_eq!(reused.code(), Code::Unauthenticated, "{reused:?}");
    let mut auth = AuthServiceClient::new(app.clients.channel.clone());
    auth.sign_out(v1::SignOutRequest { refresh_token: second.refresh_token.clone() }).await.expect("signs out");
    let after = refresh(&app, &second.refresh_token).await.expect_err("the session ended");
    assert_eq!(after.code(), Code::Unauthenticated, "{after:?}");
    assert!(after.message().contains("signed out"), "{}", after.message());

    // Over HTTP.
    let body = serde_json::json!({ "username": "li.na", "password": TEST_PASSWORD }).to_string();
    let (code, response) = http_post_json(app.http_addr, "/v1/auth/sign-in", &body).await;
    assert_eq!(code, 200, "{response}");
    let token = json_body(&response)["accessToken"].as_str().expect("accessToken").to_owned();
    let (code, response) = http_get_as(app.http_addr, "/v1/auth/me", &token).await;
    assert_eq!(code, 200, "{response}");
    assert_eq!(json_body(&response)["subject"], "li.na");
    let wrong = serde_json::json!({ "username": "li.na", "password": "not-the-password" }).to_string();
    let (code, response) = http_post_json(app.http_addr, "/v1/auth/sign-in", &wrong).await;
    assert_eq!(code, 401, "{response}");
    assert_eq!(json_body(&response)["code"], "unauthenticated", "{response}");
    assert!(http_header(&response, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{response}");

    let (code, response) = http_get(app.http_addr, "/metrics").await;
    assert_eq!(code, 401, "{response}");
    let dispatcher = app.sign_in_as("wang.fang", "dispatcher", None).await;
    let (code, response) = http_get_as(app.http_addr, "/metrics", &dispatcher).await;
    assert_eq!(code, 403, "{response}");
    let message = json_body(&response)["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("dispatcher") && message.contains("Metrics"), "{message}");
    let monitoring = app.key("monitoring", &[]).await;
    let (code, response) = http_get_as(app.http_addr, "/metrics", &monitoring).await;
    assert_eq!(code, 200, "{response}");

    let audit = app.store.read(|tx: &mut dyn ReadTx| tx.audit_log(0, 1000)).await.expect("the audit log");
    let of_li_na: Vec<(&str, &str, &str)> =
        audit.iter().filter(|e| e.actor == "li.na").map(|e| (e.action.as_str(), e.outcome.as_str(), e.address.as_str())).collect();
    let has = |action: &str, outcome: &dyn Fn(&str) -> bool| of_li_na.iter().any(|(a, o, _)| *a == action && outcome(o));
    assert!(has("sign_in", &|o| o == "ok"), "{of_li_na:?}");
    assert!(has("sign_in", &|o| o.starts_with("refused")), "{of_li_na:?}");
    assert!(has("refresh", &|o| o == "ok"), "{of_li_na:?}");
    assert!(has("sign_out", &|o| o == "ok"), "{of_li_na:?}");
    assert_eq!(of_li_na.iter().filter(|(a, o, _)| *a == "sign_in" && *o == "ok").count(), 2, "gRPC and HTTP: {of_li_na:?}");
    assert!(of_li_na.iter().all(|(_, _, address)| *address == "127.0.0.1"), "each entry says where from: {of_li_na:?}");
    app.stop().await;
}

/// Someone guessing a password gets slower answers and then none at all for that account —
/// even with the right password, told when to try again — while colleagues still sign in.
#[tokio::test]
async fn repeated_failed_sign_ins_are_slowed_then_refused() {
    let app = spawn_app().await;
    create_user(&app.store, &app.city, "li.si", "dispatcher", None).await;
    create_user(&app.store, &app.city, "wang.wu", "dispatcher", None).await;
    for attempt in 1..=10 {
        let refused = sign_in(&app, "li.si", &format!("guess-{attempt}")).await.expect_err("wrong password");
        assert_eq!(refused.code(), Code::Unauthenticated, "attempt {attempt}: {refused:?}");
    }
    let locked = sign_in(&app, "li.si", TEST_PASSWORD).await.expect_err("locked, even with the right password");
    assert_eq!(locked.code(), Code::ResourceExhausted, "{locked:?}");
    assert!(locked.message().contains("retry in"), "{}", locked.message());
    let retry = locked.get_error_details().retry_info().and_then(|r| r.retry_delay).expect("a RetryInfo detail");
    assert!(retry > Duration::from_secs(60), "locked for a while, not a moment: {retry:?}");
    let body = serde_json::json!({ "username": "li.si", "password": TEST_PASSWORD }).to_string();
    let (code, response) = http_post_json(app.http_addr, "/v1/auth/sign-in", &body).await;
    assert_eq!(code, 429, "{response}");
    assert!(http_header(&response, "retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s > 60)), "{response}");
    let colleague = sign_in(&app, "wang.wu", TEST_PASSWORD).await.expect("another account still signs in");
    assert_eq!(colleague.principal.map(|p| p.subject), Some("wang.wu".to_string()));
    app.stop().await;
}

/// One misbehaving client (a citizen-app backend in a retry loop) cannot flood intake: past
/// its burst it is refused with RESOURCE_EXHAUSTED and told when to retry, nothing is written
/// for the refused reports, a client that waits as told gets through, and another client is
/// not slowed by it.
#[tokio::test]
async fn intake_is_rate_limited_per_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = gridd_tests::engine_config(dir.path());
    (config.auth.intake_rate, config.auth.intake_burst) = (5, 5);
    let app = spawn_app_on(config, dir).await;
    let first_key = app.key("citizen_app", &[]).await;
    let mut first = app.clients_with(&first_key);
    // WhoAmI is not intake: it takes nothing from the allowance, and it puts the key in the
    // state cache so that the burst below reaches the limiter at once.
    first.auth.who_am_i(v1::WhoAmIRequest {}).await.expect("who am i");
    // Sent together, so that the limiter sees all eight within far less than the 200 ms in
    // which it gives back one report.
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..8 {
        let mut c = first.clone();
        burst.spawn(async move { c.intake.submit_citizen_report(citizen_report(&format!("burst-{i}"), spread_point(i))).await });
    }
    let (mut accepted, mut refused) = (0, Vec::new());
    while let Some(result) = burst.join_next().await {
        match result.expect("task") {
            Ok(_) => accepted += 1,
            Err(s) => refused.push(s),
        }
    }
    assert_eq!((accepted, refused.len()), (5, 3), "the burst of 5 and no more: {refused:?}");
    let mut hint = Duration::ZERO;
    for s in &refused {
        assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
        assert!(s.message().contains("intake rate"), "{}", s.message());
        let delay = s.get_error_details().retry_info().and_then(|r| r.retry_delay).expect("a RetryInfo detail");
        assert!(delay > Duration::ZERO && delay <= Duration::from_secs(1), "at 5 reports/s the wait is under a second: {delay:?}");
        hint = hint.max(delay);
    }
    let mut admin = app.clients.clone();
    let stats = admin.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(stats.intake_by_channel.iter().map(|c| c.count).sum::<u64>(), 5, "nothing written for the refused reports");

    let mut second = app.clients_with(&app.key("citizen_app", &[]).await);
    second
        .intake
        .submit_citizen_report(citizen_report("other-1", spread_point(20)))
        .await
        .expect("another key is not limited by the first");
    // A client that waits as it was told gets through.
    tokio::time::sleep(hint).await;
    first.intake.submit_citizen_report(citizen_report("after-wait", spread_point(21))).await.expect("accepted after the hinted wait");
    let stats = admin.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(stats.intake_by_channel.iter().map(|c| c.count).sum::<u64>(), 7);
    app.stop().await;
}

/// The service names a signed-in person or tool gets from reflection (grpcurl, Postman,
/// Evans — some speak only v1alpha): both versions answer anyone signed in, even a monitoring
/// key, and nobody without credentials when reflection is not opened by configuration.
#[tokio::test]
async fn reflection_v1alpha_and_v1_are_served_to_signed_in_callers() {
    use reflection_v1alpha::server_reflection_client::ServerReflectionClient as ClientV1alpha;
    use reflection_v1alpha::server_reflection_request::MessageRequest as RequestV1alpha;
    use reflection_v1alpha::server_reflection_response::MessageResponse as ResponseV1alpha;
    let app = spawn_app().await;
    let list = || reflection_v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(RequestV1alpha::ListServices(String::new())),
    };
    let monitoring = app.clients_with(&app.key("monitoring", &[]).await);
    for (who, channel) in [("an administrator", app.clients.authed.clone()), ("a monitoring key", monitoring.authed.clone())] {
        let mut client = ClientV1alpha::new(channel.clone());
        let mut responses = client.server_reflection_info(tokio_stream::iter(vec![list()])).await.expect("v1alpha").into_inner();
        let Some(ResponseV1alpha::ListServicesResponse(services)) = responses.message().await.expect("ok").and_then(|r| r.message_response)
        else {
            panic!("v1alpha reflection did not list services for {who}");
        };
        let names: Vec<String> = services.service.into_iter().map(|s| s.name).collect();
        for expected in ["gridd.v1.AuthService", "gridd.v1.IntakeService"] {
            assert!(names.contains(&expected.to_string()), "{who}: {expected} missing from {names:?}");
        }
        let mut client = reflection_v1::server_reflection_client::ServerReflectionClient::new(channel);
        let mut responses = client.server_reflection_info(tokio_stream::iter(vec![list_services_v1()])).await.expect("v1").into_inner();
        let listed = responses.message().await.expect("ok").and_then(|r| r.message_response);
        let Some(reflection_v1::server_reflection_response::MessageResponse::ListServicesResponse(services)) = listed else {
            panic!("v1 reflection did not list services for {who}");
        };
        assert!(services.service.iter().any(|s| s.name == "gridd.v1.AuthService"), "{who}");
    }
    let mut bare = ClientV1alpha::new(app.clients.channel.clone());
    let refused = bare.server_reflection_info(tokio_stream::iter(vec![list()])).await.expect_err("no credentials");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let mut bare = reflection_v1::server_reflection_client::ServerReflectionClient::new(app.clients.channel.clone());
    let refused = bare.server_reflection_info(tokio_stream::iter(vec![list_services_v1()])).await.expect_err("no credentials");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    app.stop().await;
}

/// When a member of staff's password is changed (it leaked, a colleague knew it), every
/// session begun with the old one ends: within the state cache's lifetime the access tokens
/// issued before the change are refused, the old session's refresh token gets no new tokens,
/// the old password no longer signs in, and the new one does.
#[tokio::test]
async fn a_new_password_signs_the_account_out_everywhere() {
    const NEW_PASSWORD: &str = "test-password-2";
    let app = spawn_app().await;
    create_user(&app.store, &app.city, "pw.change", "dispatcher", None).await;
    let before = sign_in(&app, "pw.change", TEST_PASSWORD).await.expect("signs in");
    let old_token = app.clients_with(&before.access_token).auth;
    let me = old_token.clone().who_am_i(v1::WhoAmIRequest {}).await.expect("the token works").into_inner();
    assert_eq!(me.subject, "pw.change");
    // Straight after the sign-in, in the same second: millisecond issue times still end it.
    gridd_access::admin::set_password(&app.store, "pw.change", NEW_PASSWORD, "tests").await.expect("password changed");

    // Refresh reads the session and the account from the store every time: refused at once
    // (and asked once only: a refresh that worked would have used the token up).
    let refused = refresh(&app, &before.refresh_token).await.expect_err("the old session gets no new tokens");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(refused.message().contains("sign in again"), "{}", refused.message());
    let refused = refused_within_state_ttl(old_token, "the access token issued before the new password").await;
    assert!(refused.message().contains("changed"), "{}", refused.message());

    let old = sign_in(&app, "pw.change", TEST_PASSWORD).await.expect_err("the old password no longer signs in");
    assert_eq!(old.code(), Code::Unauthenticated, "{old:?}");
    let after = sign_in(&app, "pw.change", NEW_PASSWORD).await.expect("the new password signs in");
    let me = app.clients_with(&after.access_token).auth.who_am_i(v1::WhoAmIRequest {}).await.expect("the new token works");
    assert_eq!(me.into_inner().subject, "pw.change");
    refresh(&app, &after.refresh_token).await.expect("the new session refreshes");
    app.stop().await;
}

/// The wait a rate refusal's reason hints at (`…; retry in <n> ms`).
fn retry_hint(reason: &str) -> Option<Duration> {
    let after = reason.split("retry in ").nth(1)?;
    let ms: u64 = after.split(' ').next()?.parse().ok()?;
    Some(Duration::from_millis(ms))
}

/// A video-AI gateway cannot flood intake by packing alerts into one long stream: every alert
/// of a stream counts against its key's intake rate; those over it are rejected one by one
/// (field `alert_id`, the wait in the reason) while the others are filed, and a gateway that
/// resends the rejected ones after the wait gets them filed.
#[tokio::test]
async fn a_camera_stream_counts_every_alert_against_the_rate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = gridd_tests::engine_config(dir.path());
    (config.auth.intake_rate, config.auth.intake_burst) = (3, 3);
    let app = spawn_app_on(config, dir).await;
    let mut gateway = app.clients_with(&app.key("camera_gateway", &["CAM-0001"]).await);
    // WhoAmI takes nothing from the allowance and puts the key in the state cache, so that
    // the stream's alerts reach the limiter together.
    gateway.auth.who_am_i(v1::WhoAmIRequest {}).await.expect("who am i");
    let alerts: Vec<v1::CameraAlert> = (0..6).map(|i| camera_alert(&format!("rate-{i}"), "CAM-0001")).collect();
    let response = gateway.intake.stream_camera_alerts(tokio_stream::iter(alerts.clone())).await.expect("stream accepted").into_inner();
    assert_eq!(response.accepted.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(), ["rate-0", "rate-1", "rate-2"], "the burst of 3");
    let rejected: Vec<(u32, &str, &str)> = response.rejected.iter().map(|r| (r.index, r.alert_id.as_str(), r.field.as_str())).collect();
    assert_eq!(rejected, [(3, "rate-3", "alert_id"), (4, "rate-4", "alert_id"), (5, "rate-5", "alert_id")]);
    let mut wait = Duration::ZERO;
    for r in &response.rejected {
        assert!(r.reason.contains("intake rate") && r.reason.contains("retry in"), "{}", r.reason);
        let hint = retry_hint(&r.reason).unwrap_or_else(|| panic!("a wait in ms: {}", r.reason));
        assert!(hint > Duration::ZERO && hint <= Duration::from_secs(1), "at 3 reports/s the wait is under a second: {hint:?}");
        wait = wait.max(hint);
    }
    let mut admin = app.clients.clone();
    let camera_intake =
        |stats: v1::GetStatsResponse| stats.intake_by_channel.iter().filter(|c| c.label == "camera").map(|c| c.count).sum::<u64>();
    let stats = admin.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(camera_intake(stats), 3, "nothing written for the rejected alerts");

    // The gateway resends what was rejected after the hinted wait, until all is filed.
    let mut filed: BTreeSet<String> = response.accepted.iter().map(|a| a.alert_id.clone()).collect();
    let mut pending: Vec<v1::CameraAlert> = alerts[3..].to_vec();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !pending.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "{pending:?} never filed");
        tokio::time::sleep(wait).await;
        match gateway.intake.stream_camera_alerts(tokio_stream::iter(pending.clone())).await {
            Ok(r) => {
                let r = r.into_inner();
                filed.extend(r.accepted.iter().map(|a| a.alert_id.clone()));
                wait = Duration::from_millis(1);
                for rejected in &r.rejected {
                    assert_eq!(rejected.field, "alert_id", "only the rate rejects these: {rejected:?}");
                    wait = wait.max(retry_hint(&rejected.reason).unwrap_or_else(|| panic!("a wait: {}", rejected.reason)));
                }
                pending.retain(|a| r.rejected.iter().any(|rejected| rejected.alert_id == a.alert_id));
            }
            // The stream's first alert is counted when it opens: refused whole, with a wait.
            Err(s) if s.code() == Code::ResourceExhausted => {
                wait = s.get_error_details().retry_info().and_then(|r| r.retry_delay).expect("a RetryInfo detail");
            }
            Err(s) => panic!("resending the rejected alerts: {s:?}"),
        }
    }
    assert_eq!(filed, (0..6).map(|i| format!("rate-{i}")).collect::<BTreeSet<_>>());
    let stats = admin.dispatch.get_stats(v1::GetStatsRequest::default()).await.expect("stats").into_inner();
    assert_eq!(camera_intake(stats), 6, "each alert filed once");
    app.stop().await;
}
