//! Roles, operations and the one permission table: which role may call which operation, and
//! within which scope.

use std::fmt;

/// Who a signed-in person or machine is to gridd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// 受理员: logs hotline calls and answers callers' questions about their cases.
    HotlineOperator,
    /// 派遣员: dispatches, re-dispatches, records checks, cancels invalid cases.
    Dispatcher,
    /// 值班长: everything a dispatcher does, plus the approvals (special close, suspend,
    /// resume, extend).
    ShiftLeader,
    /// 监督员: reports problems on patrol and checks fixes on site.
    Supervisor,
    /// 队员: works the tasks of one squad.
    SquadMember,
    /// 中队长: works the tasks of one squad and reads the KPIs.
    SquadLeader,
    /// 领导: reads everything, changes nothing.
    Leadership,
    /// 系统管理员: everything.
    Administrator,
    /// A video-AI gateway, bound to a set of cameras.
    CameraGateway,
    /// The citizen app's backend.
    CitizenApp,
    /// The 12345 platform's integration.
    Hotline12345,
    /// Prometheus and friends: metrics only.
    Monitoring,
}

impl Role {
    /// Every role, people first.
    pub const ALL: [Role; 12] = [
        Role::HotlineOperator,
        Role::Dispatcher,
        Role::ShiftLeader,
        Role::Supervisor,
        Role::SquadMember,
        Role::SquadLeader,
        Role::Leadership,
        Role::Administrator,
        Role::CameraGateway,
        Role::CitizenApp,
        Role::Hotline12345,
        Role::Monitoring,
    ];

    /// The role's id in configuration, the store, tokens and the command line.
    pub fn id(self) -> &'static str {
        match self {
            Role::HotlineOperator => "hotline_operator",
            Role::Dispatcher => "dispatcher",
            Role::ShiftLeader => "shift_leader",
            Role::Supervisor => "supervisor",
            Role::SquadMember => "squad_member",
            Role::SquadLeader => "squad_leader",
            Role::Leadership => "leadership",
            Role::Administrator => "administrator",
            Role::CameraGateway => "camera_gateway",
            Role::CitizenApp => "citizen_app",
            Role::Hotline12345 => "hotline_12345",
            Role::Monitoring => "monitoring",
        }
    }

    /// The role's name for people.
    pub fn label(self) -> &'static str {
        match self {
            Role::HotlineOperator => "受理员",
            Role::Dispatcher => "派遣员",
            Role::ShiftLeader => "值班长",
            Role::Supervisor => "监督员",
            Role::SquadMember => "队员",
            Role::SquadLeader => "中队长",
            Role::Leadership => "领导",
            Role::Administrator => "系统管理员",
            Role::CameraGateway => "视频网关",
            Role::CitizenApp => "市民端后台",
            Role::Hotline12345 => "12345平台",
            Role::Monitoring => "监控",
        }
    }

    /// Parses a role id.
    pub fn parse(id: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|r| r.id() == id).ok_or_else(|| {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.id()).collect();
            format!("{} is not a role (roles: {})", gridd_core::error::quote(id), known.join(", "))
        })
    }

    /// Whether the role is held by a machine (a key) rather than a person (an account).
    pub fn is_machine(self) -> bool {
        matches!(self, Role::CameraGateway | Role::CitizenApp | Role::Hotline12345 | Role::Monitoring)
    }

    /// Whether the role is bound to one squad.
    pub fn needs_squad(self) -> bool {
        matches!(self, Role::SquadMember | Role::SquadLeader)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.id(), self.label())
    }
}

/// What a caller may want to do: every RPC, plus the HTTP routes that need credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // each variant is the RPC of the same name
pub enum Operation {
    LogHotlineCall,
    SubmitCitizenReport,
    SubmitPatrolReport,
    StreamCameraAlerts,
    GetTicket,
    ListTickets,
    WatchTickets,
    Dispatch,
    Verify,
    Close,
    Cancel,
    Suspend,
    Resume,
    ExtendDeadline,
    GetStats,
    GetAssessment,
    FreezeAssessment,
    MergeCases,
    SplitCase,
    FindSimilarCases,
    VerifyReport,
    WatchVerifications,
    ListReplyTasks,
    RecordReply,
    Reclassify,
    Press,
    Decide,
    WatchTasks,
    AcceptTask,
    StartTask,
    ResolveTask,
    ReturnTask,
    AnswerPress,
    Apply,
    Locate,
    GetGrid,
    GetCatalogue,
    WhoAmI,
    /// gRPC server reflection (v1 and v1alpha), when not open by configuration.
    Reflection,
    /// `/metrics`, when not open by configuration.
    Metrics,
}

impl Operation {
    /// The operation's name, as in the contract.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Reflection => "ServerReflection",
            Operation::Metrics => "Metrics",
            op => GRPC_METHODS.iter().find(|(o, _, _)| *o == op).map_or("?", |(_, _, method)| method),
        }
    }

    /// Whether the operation takes in reports (and so counts against the intake rate).
    pub fn is_intake(self) -> bool {
        matches!(
            self,
            Operation::LogHotlineCall | Operation::SubmitCitizenReport | Operation::SubmitPatrolReport | Operation::StreamCameraAlerts
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How far an allowed operation reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The whole city.
    City,
    /// Only the caller's own squad: its feed, its tasks, its cases.
    OwnSquad,
    /// Only the caller's own cameras.
    OwnCameras,
}

impl Scope {
    /// The scope in words.
    pub fn label(self) -> &'static str {
        match self {
            Scope::City => "city",
            Scope::OwnSquad => "own squad",
            Scope::OwnCameras => "own cameras",
        }
    }
}

/// The gRPC method behind each operation: (operation, service, method).
const GRPC_METHODS: &[(Operation, &str, &str)] = &[
    (Operation::LogHotlineCall, "gridd.v1.IntakeService", "LogHotlineCall"),
    (Operation::SubmitCitizenReport, "gridd.v1.IntakeService", "SubmitCitizenReport"),
    (Operation::SubmitPatrolReport, "gridd.v1.IntakeService", "SubmitPatrolReport"),
    (Operation::StreamCameraAlerts, "gridd.v1.IntakeService", "StreamCameraAlerts"),
    (Operation::GetTicket, "gridd.v1.DispatchService", "GetTicket"),
    (Operation::ListTickets, "gridd.v1.DispatchService", "ListTickets"),
    (Operation::WatchTickets, "gridd.v1.DispatchService", "WatchTickets"),
    (Operation::Dispatch, "gridd.v1.DispatchService", "Dispatch"),
    (Operation::Verify, "gridd.v1.DispatchService", "Verify"),
    (Operation::Close, "gridd.v1.DispatchService", "Close"),
    (Operation::Cancel, "gridd.v1.DispatchService", "Cancel"),
    (Operation::Suspend, "gridd.v1.DispatchService", "Suspend"),
    (Operation::Resume, "gridd.v1.DispatchService", "Resume"),
    (Operation::ExtendDeadline, "gridd.v1.DispatchService", "ExtendDeadline"),
    (Operation::GetStats, "gridd.v1.DispatchService", "GetStats"),
    (Operation::GetAssessment, "gridd.v1.DispatchService", "GetAssessment"),
    (Operation::FreezeAssessment, "gridd.v1.DispatchService", "FreezeAssessment"),
    (Operation::MergeCases, "gridd.v1.DispatchService", "MergeCases"),
    (Operation::SplitCase, "gridd.v1.DispatchService", "SplitCase"),
    (Operation::FindSimilarCases, "gridd.v1.DispatchService", "FindSimilarCases"),
    (Operation::VerifyReport, "gridd.v1.DispatchService", "VerifyReport"),
    (Operation::WatchVerifications, "gridd.v1.DispatchService", "WatchVerifications"),
    (Operation::ListReplyTasks, "gridd.v1.DispatchService", "ListReplyTasks"),
    (Operation::RecordReply, "gridd.v1.DispatchService", "RecordReply"),
    (Operation::Reclassify, "gridd.v1.DispatchService", "Reclassify"),
    (Operation::Press, "gridd.v1.DispatchService", "Press"),
    (Operation::Decide, "gridd.v1.DispatchService", "Decide"),
    (Operation::WatchTasks, "gridd.v1.SquadService", "WatchTasks"),
    (Operation::AcceptTask, "gridd.v1.SquadService", "AcceptTask"),
    (Operation::StartTask, "gridd.v1.SquadService", "StartTask"),
    (Operation::ResolveTask, "gridd.v1.SquadService", "ResolveTask"),
    (Operation::ReturnTask, "gridd.v1.SquadService", "ReturnTask"),
    (Operation::AnswerPress, "gridd.v1.SquadService", "AnswerPress"),
    (Operation::Apply, "gridd.v1.SquadService", "Apply"),
    (Operation::Locate, "gridd.v1.GridService", "Locate"),
    (Operation::GetGrid, "gridd.v1.GridService", "GetGrid"),
    (Operation::GetCatalogue, "gridd.v1.GridService", "GetCatalogue"),
    (Operation::WhoAmI, "gridd.v1.AuthService", "WhoAmI"),
];

/// What a gRPC request path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcRoute {
    /// Needs no credentials: health checks, signing in, refreshing, signing out.
    Open,
    /// Reflection: open or protected by configuration.
    Reflection,
    /// A protected operation.
    Protected(Operation),
    /// A path no service serves; any signed-in caller is told so.
    Unknown,
}

/// Classifies a gRPC request path (`/package.Service/Method`).
pub fn grpc_route(path: &str) -> GrpcRoute {
    let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else { return GrpcRoute::Unknown };
    match service {
        "grpc.health.v1.Health" => return GrpcRoute::Open,
        "grpc.reflection.v1.ServerReflection" | "grpc.reflection.v1alpha.ServerReflection" => return GrpcRoute::Reflection,
        "gridd.v1.AuthService" if matches!(method, "SignIn" | "Refresh" | "SignOut") => return GrpcRoute::Open,
        _ => {}
    }
    GRPC_METHODS.iter().find(|(_, s, m)| *s == service && *m == method).map_or(GrpcRoute::Unknown, |(op, _, _)| GrpcRoute::Protected(*op))
}

/// Shorthands for the table below.
const CITY: Option<Scope> = Some(Scope::City);
const SQUAD: Option<Scope> = Some(Scope::OwnSquad);
const CAMERAS: Option<Scope> = Some(Scope::OwnCameras);
const NO: Option<Scope> = None;

/// THE permission table: for each operation, the scope each role gets, in the order of
/// [`Role::ALL`]; `NO` means refused. Nothing else in gridd decides who may do what.
///
/// Columns: hotline operator, dispatcher, shift leader, supervisor, squad member, squad
/// leader, leadership, administrator | camera gateway, citizen app, 12345 platform, monitoring.
#[rustfmt::skip]
const TABLE: &[(Operation, [Option<Scope>; 12])] = &[
    //                                  受理   派遣   值班长  监督   队员    中队长  领导   管理员   网关     市民端  12345  监控
    (Operation::LogHotlineCall,      [CITY, NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   CITY, NO]),
    (Operation::SubmitCitizenReport, [NO,   NO,   NO,    NO,   NO,    NO,    NO,   CITY,  NO,      CITY, NO,   NO]),
    (Operation::SubmitPatrolReport,  [NO,   NO,   NO,    CITY, NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::StreamCameraAlerts,  [NO,   NO,   NO,    NO,   NO,    NO,    NO,   CITY,  CAMERAS, NO,   NO,   NO]),
    (Operation::GetTicket,           [CITY, CITY, CITY,  CITY, SQUAD, SQUAD, CITY, CITY,  NO,      CITY, CITY, NO]),
    (Operation::ListTickets,         [CITY, CITY, CITY,  CITY, SQUAD, SQUAD, CITY, CITY,  NO,      NO,   NO,   NO]),
    (Operation::WatchTickets,        [NO,   CITY, CITY,  NO,   NO,    NO,    CITY, CITY,  NO,      NO,   CITY, NO]),
    (Operation::Dispatch,            [NO,   CITY, CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::Verify,              [NO,   CITY, CITY,  CITY, NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::Close,               [NO,   NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::Cancel,              [NO,   CITY, CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::Suspend,             [NO,   NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::Resume,              [NO,   NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::ExtendDeadline,      [NO,   NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::GetStats,            [NO,   CITY, CITY,  NO,   NO,    CITY,  CITY, CITY,  NO,      NO,   NO,   NO]),
    (Operation::GetAssessment,       [NO,   CITY, CITY,  CITY, NO,    CITY,  CITY, CITY,  NO,      NO,   NO,   NO]),
    (Operation::FreezeAssessment,    [NO,   NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::MergeCases,          [NO,   CITY, CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::SplitCase,           [NO,   CITY, CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::FindSimilarCases,    [CITY, CITY, CITY,  CITY, NO,    NO,    CITY, CITY,  NO,      NO,   CITY, NO]),
    (Operation::VerifyReport,        [NO,   CITY, CITY,  CITY, NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::WatchVerifications,  [NO,   NO,   NO,    CITY, NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::ListReplyTasks,      [CITY, NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   CITY, NO]),
    (Operation::RecordReply,         [CITY, NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   CITY, NO]),
    (Operation::Reclassify,          [NO,   NO,   CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    // Leaders press (督办) cases: the one change a leadership viewer makes.
    (Operation::Press,               [NO,   NO,   CITY,  NO,   NO,    NO,    CITY, CITY,  NO,      NO,   NO,   NO]),
    (Operation::Decide,              [NO,   CITY, CITY,  NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::WatchTasks,          [NO,   NO,   NO,    NO,   SQUAD, SQUAD, NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::AcceptTask,          [NO,   NO,   NO,    NO,   SQUAD, SQUAD, NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::StartTask,           [NO,   NO,   NO,    NO,   SQUAD, SQUAD, NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::ResolveTask,         [NO,   NO,   NO,    NO,   SQUAD, SQUAD, NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::ReturnTask,          [NO,   NO,   NO,    NO,   SQUAD, SQUAD, NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::AnswerPress,         [NO,   NO,   NO,    NO,   SQUAD, SQUAD, NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::Apply,               [NO,   NO,   NO,    NO,   SQUAD, SQUAD, NO,   CITY,  NO,      NO,   NO,   NO]),
    (Operation::Locate,              [CITY, CITY, CITY,  CITY, CITY,  CITY,  CITY, CITY,  NO,      CITY, CITY, NO]),
    (Operation::GetGrid,             [CITY, CITY, CITY,  CITY, CITY,  CITY,  CITY, CITY,  NO,      CITY, CITY, NO]),
    (Operation::GetCatalogue,        [CITY, CITY, CITY,  CITY, CITY,  CITY,  CITY, CITY,  NO,      CITY, CITY, NO]),
    (Operation::WhoAmI,              [CITY, CITY, CITY,  CITY, CITY,  CITY,  CITY, CITY,  CITY,    CITY, CITY, CITY]),
    (Operation::Reflection,          [CITY, CITY, CITY,  CITY, CITY,  CITY,  CITY, CITY,  CITY,    CITY, CITY, CITY]),
    (Operation::Metrics,             [NO,   NO,   NO,    NO,   NO,    NO,    NO,   CITY,  NO,      NO,   NO,   CITY]),
];

/// Every operation in the table, in its order.
pub fn operations() -> impl Iterator<Item = Operation> {
    TABLE.iter().map(|(op, _)| *op)
}

/// The scope `role` has for `op`, or `None` if the role may not call it.
pub fn scope(role: Role, op: Operation) -> Option<Scope> {
    let column = Role::ALL.iter().position(|r| *r == role)?;
    TABLE.iter().find(|(o, _)| *o == op).and_then(|(_, scopes)| scopes[column])
}

/// The roles allowed to call `op`, with their scopes.
pub fn allowed_roles(op: Operation) -> Vec<(Role, Scope)> {
    Role::ALL.into_iter().filter_map(|r| scope(r, op).map(|s| (r, s))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_one_row_and_every_grpc_method_is_in_the_table() {
        let mut seen = std::collections::HashSet::new();
        for op in operations() {
            assert!(seen.insert(op), "{op} has two rows");
        }
        for (op, service, method) in GRPC_METHODS {
            assert!(seen.contains(op), "{service}/{method} has no row");
            assert_eq!(grpc_route(&format!("/{service}/{method}")), GrpcRoute::Protected(*op));
        }
    }

    #[test]
    fn scopes_follow_the_roles_bindings() {
        for op in operations() {
            for (role, scope) in allowed_roles(op) {
                match scope {
                    Scope::OwnSquad => assert!(role.needs_squad(), "{role} has an own-squad scope on {op} but no squad"),
                    Scope::OwnCameras => assert_eq!(role, Role::CameraGateway, "{op}"),
                    Scope::City => assert!(
                        !role.needs_squad()
                            || matches!(
                                op,
                                Operation::GetStats
                                    | Operation::GetAssessment
                                    | Operation::Locate
                                    | Operation::GetGrid
                                    | Operation::GetCatalogue
                                    | Operation::WhoAmI
                                    | Operation::Reflection
                            )
                    ),
                }
            }
        }
    }

    #[test]
    fn leadership_reads_and_only_presses() {
        let changes = [
            Operation::Dispatch,
            Operation::Verify,
            Operation::Close,
            Operation::Cancel,
            Operation::Suspend,
            Operation::Resume,
            Operation::ExtendDeadline,
            Operation::AcceptTask,
            Operation::LogHotlineCall,
            Operation::VerifyReport,
            Operation::RecordReply,
            Operation::Reclassify,
            Operation::AnswerPress,
            Operation::Decide,
        ];
        for op in changes {
            assert_eq!(scope(Role::Leadership, op), None, "{op}");
        }
        assert_eq!(scope(Role::Leadership, Operation::GetStats), Some(Scope::City));
        assert_eq!(scope(Role::Leadership, Operation::Press), Some(Scope::City), "leaders press cases (督办)");
    }

    #[test]
    fn monitoring_sees_metrics_only() {
        let allowed: Vec<Operation> = operations().filter(|op| scope(Role::Monitoring, *op).is_some()).collect();
        assert_eq!(allowed, [Operation::WhoAmI, Operation::Reflection, Operation::Metrics]);
    }

    #[test]
    fn health_and_sign_in_are_open_and_unknown_paths_are_not() {
        assert_eq!(grpc_route("/grpc.health.v1.Health/Check"), GrpcRoute::Open);
        assert_eq!(grpc_route("/gridd.v1.AuthService/SignIn"), GrpcRoute::Open);
        assert_eq!(grpc_route("/gridd.v1.AuthService/WhoAmI"), GrpcRoute::Protected(Operation::WhoAmI));
        assert_eq!(grpc_route("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"), GrpcRoute::Reflection);
        assert_eq!(grpc_route("/gridd.v1.Nope/Nope"), GrpcRoute::Unknown);
        assert_eq!(grpc_route("garbage"), GrpcRoute::Unknown);
    }

    #[test]
    fn role_ids_round_trip_and_unknown_ones_are_named() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.id()), Ok(role));
        }
        let e = Role::parse("root").expect_err("not a role");
        assert!(e.contains("\"root\" is not a role") && e.contains("dispatcher"), "{e}");
    }
}
