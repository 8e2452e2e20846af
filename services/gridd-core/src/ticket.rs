//! The case lifecycle: one state machine for every change to a ticket.
//!
//! [`open`] files a case from a router decision; [`apply`] takes a ticket, a [`Command`] and
//! the time, and returns the changed ticket with the changes to record, or refuses. Both are
//! pure: the caller stores the result, its history entries, feed entries and timers in one
//! transaction. Timers are not bookkept separately: [`desired_timers`] derives them from the
//! ticket, so after every transition the stored timers are replaced by what it returns.
//!
//! ```text
//!                 ┌──────── Dispatch (改派) ◄──────────────┐
//!  open ─► REGISTERED ──Dispatch──► DISPATCHED ──Accept──► ACCEPTED ──Start──► IN_PROGRESS
//!   │  (manual queue)                 │    ▲                  │                     │
//!   └─(squad found)───────────────────┘    │ Return ◄─────────┴─────────────────────┤
//!                                          │   ▼                                     │ Resolve
//!                                      RETURNED                                    CHECKING
//!                     REWORK ◄─── Verify(fail) ───────────────────────────────────────┤
//!                       └─Accept─► ACCEPTED                        Verify(pass) ──► CLOSED
//!  Suspend: DISPATCHED/ACCEPTED/IN_PROGRESS/REWORK ⇄ SUSPENDED (Resume)
//!  Close (特殊结案) and Cancel (作废): from any open state.
//!
//!  A public report the city verifies before filing (核实) opens as VERIFYING, with the
//!  supervisor's clock running:
//!  open ─► VERIFYING ──Confirm──► DISPATCHED or REGISTERED (filed and routed, as above)
//!              └──────Refuse───► NOT_FILED (不予立案, terminal)
//!
//!  Replies (回访): when a case closes or is not filed, every report that asked for a reply
//!  gets a reply task, and the reply clock runs until each is recorded. A dissatisfied
//!  caller reopens a closed case as REWORK for its squad, or presses the centre (policy).
//! ```

use geo::Point;
use serde::{Deserialize, Serialize};

use crate::calendar::WorkCalendar;
use crate::category::{CategoryCode, Limit, LimitSpec, Urgency};
use crate::escalation::{Ladder, Light};
use crate::grid::CellRef;
use crate::ids::{SquadId, TicketId};
use crate::report::ReportSummary;
use crate::time::Timestamp;

/// Lifecycle states; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// 立案, waiting in the manual queue.
    Registered,
    /// 派遣, waiting for the squad to sign for it.
    Dispatched,
    /// 签收.
    Accepted,
    /// 处置中.
    InProgress,
    /// 退回, back in the manual queue for re-dispatch.
    Returned,
    /// 核查.
    Checking,
    /// 返工.
    Rework,
    /// 挂账/缓办.
    Suspended,
    /// 结案 (terminal).
    Closed,
    /// 作废 (terminal).
    Cancelled,
    /// 待核实: a public report waiting for a supervisor's on-site verification before filing.
    Verifying,
    /// 不予立案: verified and not filed (terminal).
    NotFiled,
}

impl TicketState {
    /// Every state, in lifecycle order.
    pub const ALL: [TicketState; 12] = [
        TicketState::Verifying,
        TicketState::NotFiled,
        TicketState::Registered,
        TicketState::Dispatched,
        TicketState::Accepted,
        TicketState::InProgress,
        TicketState::Returned,
        TicketState::Checking,
        TicketState::Rework,
        TicketState::Suspended,
        TicketState::Closed,
        TicketState::Cancelled,
    ];

    /// Snake-case name, as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            TicketState::Registered => "registered",
            TicketState::Dispatched => "dispatched",
            TicketState::Accepted => "accepted",
            TicketState::InProgress => "in_progress",
            TicketState::Returned => "returned",
            TicketState::Checking => "checking",
            TicketState::Rework => "rework",
            TicketState::Suspended => "suspended",
            TicketState::Closed => "closed",
            TicketState::Cancelled => "cancelled",
            TicketState::Verifying => "verifying",
            TicketState::NotFiled => "not_filed",
        }
    }

    /// Parses a [`TicketState::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// True for closed, cancelled and not filed.
    pub fn is_terminal(self) -> bool {
        matches!(self, TicketState::Closed | TicketState::Cancelled | TicketState::NotFiled)
    }

    /// The states of a case not finished yet (every one but the terminal ones, suspended
    /// included), in lifecycle order.
    pub fn unfinished() -> impl Iterator<Item = TicketState> {
        Self::ALL.into_iter().filter(|s| !s.is_terminal())
    }

    /// True once the case is filed (立案): not while it waits for verification, nor when
    /// verification refused it.
    pub fn is_filed(self) -> bool {
        !matches!(self, TicketState::Verifying | TicketState::NotFiled)
    }

    /// True while a squad holds the task and the handling clock runs.
    pub fn is_with_squad(self) -> bool {
        matches!(self, TicketState::Dispatched | TicketState::Accepted | TicketState::InProgress | TicketState::Rework)
    }

    /// True while the case waits in the dispatch centre's manual queue.
    pub fn is_in_manual_queue(self) -> bool {
        matches!(self, TicketState::Registered | TicketState::Returned)
    }
}

impl std::fmt::Display for TicketState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The stage a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The dispatch centre must dispatch.
    Dispatch,
    /// The squad must handle it; starts at dispatch.
    Handling,
    /// The supervisor must check on site.
    Check,
    /// A supervisor must verify a public report on site before it is filed (核实).
    Verify,
    /// The callers who asked for a reply must get it (回访).
    Reply,
    /// The centre must decide a squad's application (延期, 挂账 or 退回 申请).
    Approval,
}

impl Stage {
    /// Name as shown.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Dispatch => "dispatch",
            Stage::Handling => "handling",
            Stage::Check => "check",
            Stage::Verify => "verify",
            Stage::Reply => "reply",
            Stage::Approval => "approval",
        }
    }
}

/// A running time limit of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageClock {
    /// The stage.
    pub stage: Stage,
    /// Identifies this deadline: a new clock, an extension or a re-dispatch gets a new one,
    /// and each ladder level fires at most once per generation.
    pub generation: u32,
    /// When the clock started.
    pub started_at: Timestamp,
    /// The limit (including approved extensions).
    pub limit: Limit,
    /// Time spent suspended, on the limit's clock; pushes every threshold back.
    pub paused_millis: i64,
    /// `started_at + limit + paused` on the calendar.
    pub deadline: Timestamp,
    /// Highest ladder level fired for this generation (0 = none).
    pub fired_level: u32,
}

impl StageClock {
    fn start(stage: Stage, generation: u32, now: Timestamp, limit: Limit, cal: &WorkCalendar) -> Self {
        let mut clock = Self { stage, generation, started_at: now, limit, paused_millis: 0, deadline: now, fired_level: 0 };
        clock.deadline = clock.threshold(1.0, cal);
        clock
    }

    /// The instant at which `share` of the limit is used up.
    pub fn threshold(&self, share: f64, cal: &WorkCalendar) -> Timestamp {
        let used = self.limit.share(share);
        cal.advance(self.started_at, Limit { clock: used.clock, millis: used.millis + self.paused_millis })
    }
}

/// Why a case waits in the manual queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManualReason {
    /// No location given.
    NoLocation,
    /// Outside every cell.
    OutsideGrid,
    /// No rule names a squad.
    NoResponsibleSquad,
    /// Returned by a squad.
    Returned,
}

/// How the router (or a dispatcher) chose the squad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// Rule id, `territorial-default`, or `manual`.
    pub rule_id: String,
    /// Reason for people.
    pub reason: String,
    /// Grid version that located the point.
    pub grid_version: String,
}

/// How a case was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseType {
    /// 正常结案.
    Normal,
    /// 超时结案.
    Overdue,
    /// 特殊结案.
    Special,
}

/// Why a case was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// Duplicate.
    Duplicate,
    /// Invalid / false report.
    Invalid,
    /// Outside city management's remit.
    OutOfScope,
    /// Already fixed.
    AlreadyFixed,
}

/// A case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Case number (the opening report's reference).
    pub id: TicketId,
    /// +1 on every change.
    pub version: u64,
    /// Lifecycle state.
    pub state: TicketState,
    /// Category.
    pub category: CategoryCode,
    /// Filing condition, if any.
    pub condition: Option<String>,
    /// Urgency.
    pub urgency: Urgency,
    /// Handling limit as written (for display).
    pub handling_spec: LimitSpec,
    /// WGS84 location, if known.
    pub location: Option<Point<f64>>,
    /// Address text.
    pub address: String,
    /// Description.
    pub description: String,
    /// Cell, if located.
    pub cell: Option<CellRef>,
    /// True in towns and zones (longer check limit).
    pub rural: bool,
    /// Squad holding the case; `None` in the manual queue.
    pub squad: Option<SquadId>,
    /// How the squad was chosen.
    pub routing: Option<Routing>,
    /// Why the case is in the manual queue.
    pub manual_reason: Option<ManualReason>,
    /// Reports, the opening one first. The store keeps them in rows of their own, not in
    /// the case's body: a case a camera repeats thousands of times must not rewrite them all
    /// on every merge. A case loaded to take in one more report holds the opening and the
    /// newest only (see `report_count`).
    #[serde(skip)]
    pub reports: Vec<ReportSummary>,
    /// How many reports the case has, whether `reports` holds them all or not.
    #[serde(default)]
    pub report_count: u32,
    /// When filed.
    pub created_at: Timestamp,
    /// Last dispatch.
    pub dispatched_at: Option<Timestamp>,
    /// The squad must sign for the task by then.
    pub accept_deadline: Option<Timestamp>,
    /// When the squad signed for it.
    pub accepted_at: Option<Timestamp>,
    /// True once the accept deadline passed without the squad signing.
    pub accept_overdue: bool,
    /// Last report of completion (处置反馈).
    pub resolved_at: Option<Timestamp>,
    /// The handling clock; kept through the check so rework resumes it.
    pub handling: Option<StageClock>,
    /// The dispatch or check clock, when one runs.
    pub side_clock: Option<StageClock>,
    /// Last clock generation handed out.
    pub generations: u32,
    /// Light of the running clock.
    pub light: Light,
    /// While suspended: the state to resume to and when it was suspended.
    pub suspension: Option<Suspension>,
    /// 返工 count.
    pub rework_count: u32,
    /// 延期 count.
    pub extension_count: u32,
    /// 退回 count.
    pub return_count: u32,
    /// Dispatches to a squad.
    pub dispatch_count: u32,
    /// Set once closed.
    pub close_type: Option<CloseType>,
    /// When closed or cancelled.
    pub closed_at: Option<Timestamp>,
    /// Set once cancelled.
    pub cancel_reason: Option<CancelReason>,
    /// What the squad reported with its last report of completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// The grid supervisor (监督员) asked to verify the report on site, while it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<String>,
    /// Why verification refused to file it (不予立案).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_filed: Option<NotFiledReason>,
    /// Reply tasks (回访), one per report that asked for a reply, from close on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<ReplyTask>,
    /// The reply clock: runs while a reply task is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_clock: Option<StageClock>,
    /// Pressings (督办) by the centre's leaders, with the squad's replies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presses: Vec<Press>,
    /// The squad's application waiting for the centre's decision, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<Application>,
    /// Returns the centre approved as its own dispatching error (派遣错误): not the squad's.
    #[serde(default)]
    pub dispatch_errors: u32,
    /// When the handling deadline first passed with the case not handled (超期), if it has.
    /// Kept through extensions: the case was overdue once, and the 考核 counts it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_since: Option<Timestamp>,
    /// Who dispatched the case by hand last; `None` while the router's dispatch stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_by: Option<String>,
    /// The cases this one was merged with or split from (并案/拆分), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lineage: Vec<CaseLink>,
}

/// How a case is related to another by a merge or a split; each side keeps its half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ticket")]
pub enum CaseLink {
    /// Cancelled as a duplicate of this master case, its callers moved there.
    MergedInto(TicketId),
    /// This duplicate case was merged in, its callers with it.
    MergedFrom(TicketId),
    /// Opened from a report split out of this case.
    SplitFrom(TicketId),
    /// One of the case's reports was split out into this case.
    SplitInto(TicketId),
}

/// What a squad applies for; the centre decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationKind {
    /// 延期: more time.
    Extension {
        /// How much.
        extension: LimitSpec,
    },
    /// 挂账: suspend the case.
    Suspension,
    /// 退回: the case is not the squad's.
    Return,
}

impl ApplicationKind {
    /// Name as shown.
    pub fn name(&self) -> &'static str {
        match self {
            ApplicationKind::Extension { .. } => "extension",
            ApplicationKind::Suspension => "suspension",
            ApplicationKind::Return => "return",
        }
    }
}

/// A squad's application, on its own clock until the centre decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// What for.
    pub kind: ApplicationKind,
    /// Why.
    pub reason: String,
    /// The member who applied.
    pub by: String,
    /// The decision clock.
    pub clock: StageClock,
}

/// A pressing (督办) of a case by a shift leader or a leader, and the squad's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Press {
    /// The ladder level it is given (e.g. 3 = yellow card), for its label.
    pub level: u32,
    /// What the leader asks.
    pub note: String,
    /// Who pressed.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// The squad's reply (督办回复), once given: what it says and when.
    pub reply: Option<(String, Timestamp)>,
}

/// Why a verified report was not filed (不予立案).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotFiledReason {
    /// Nothing there, or not a problem.
    NotAProblem,
    /// Not city management's business.
    NotCityBusiness,
    /// Fixed already when the supervisor got there.
    AlreadyFixed,
}

impl NotFiledReason {
    /// Name as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            NotFiledReason::NotAProblem => "not_a_problem",
            NotFiledReason::NotCityBusiness => "not_city_business",
            NotFiledReason::AlreadyFixed => "already_fixed",
        }
    }
}

/// How satisfied a caller said they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意.
    Satisfied,
    /// 基本满意.
    BasicallySatisfied,
    /// 不满意.
    Dissatisfied,
}

/// What the city does when a caller is dissatisfied with the outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDissatisfied {
    /// Reopen a closed case as rework for the same squad.
    #[default]
    Reopen,
    /// Press (督办) the centre about it; the case stays closed.
    Press,
}

/// The reply owed to one caller (回访).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTask {
    /// The caller's report.
    pub reference: crate::ids::Reference,
    /// When the task was opened.
    pub opened_at: Timestamp,
    /// When the reply is due.
    pub due: Timestamp,
    /// Calls that did not reach the caller.
    pub attempts: u32,
    /// The outcome, once the caller was reached.
    pub outcome: Option<ReplyOutcome>,
}

/// A caller reached, and what they said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyOutcome {
    /// How satisfied.
    pub satisfaction: Satisfaction,
    /// The operator's note.
    pub note: String,
    /// When.
    pub at: Timestamp,
    /// Who replied.
    pub by: String,
}

/// A squad's report of completion (处置反馈): what it did, and the after-photos.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// What was done.
    pub note: String,
    /// After-photos (URLs as the terminal sent them).
    pub photo_urls: Vec<String>,
}

/// A suspension in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspension {
    /// State to return to.
    pub prior: TicketState,
    /// When suspended.
    pub since: Timestamp,
}

impl Ticket {
    /// The clock that runs in the current state, if any: the reply clock once the case is
    /// closed or not filed and a caller still waits for the reply.
    pub fn active_clock(&self) -> Option<&StageClock> {
        match self.state {
            TicketState::Registered | TicketState::Returned | TicketState::Checking | TicketState::Verifying => self.side_clock.as_ref(),
            TicketState::Closed | TicketState::NotFiled => self.reply_clock.as_ref(),
            s if s.is_with_squad() => self.handling.as_ref(),
            _ => None,
        }
    }

    fn active_clock_mut(&mut self) -> Option<&mut StageClock> {
        match self.state {
            TicketState::Registered | TicketState::Returned | TicketState::Checking | TicketState::Verifying => self.side_clock.as_mut(),
            TicketState::Closed | TicketState::NotFiled => self.reply_clock.as_mut(),
            s if s.is_with_squad() => self.handling.as_mut(),
            _ => None,
        }
    }

    /// Reply tasks still waiting for the caller to be reached.
    pub fn open_replies(&self) -> impl Iterator<Item = &ReplyTask> {
        self.replies.iter().filter(|r| r.outcome.is_none())
    }

    /// True if the running clock's deadline has passed at `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.active_clock().is_some_and(|c| now >= c.deadline)
    }

    /// True if the handling deadline had passed when the squad last reported completion.
    pub fn resolved_late(&self) -> bool {
        match (&self.handling, self.resolved_at) {
            (Some(h), Some(at)) => at > h.deadline,
            _ => false,
        }
    }
}

/// Who issues a command; recorded in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// The router's decision.
    Router,
    /// A due timer.
    Timer,
    /// A person at the centre (dispatcher, shift leader, supervisor).
    Operator(String),
    /// A squad member.
    Squad {
        /// The squad.
        squad: SquadId,
        /// The member.
        member: String,
    },
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Router => f.write_str("router"),
            Actor::Timer => f.write_str("timer"),
            Actor::Operator(id) => f.write_str(id),
            Actor::Squad { squad, member } => write!(f, "{squad}/{member}"),
        }
    }
}

/// A timer a ticket needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimerKind {
    /// Ladder level of the running clock.
    Escalation {
        /// The level (1-based).
        level: u32,
    },
    /// The squad has not signed for the task in time.
    AcceptDue,
}

/// A timer: which clock generation, what, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timer {
    /// Generation of the clock it belongs to.
    pub generation: u32,
    /// What fires.
    pub kind: TimerKind,
    /// When.
    pub due: Timestamp,
}

/// Commands on an existing ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Merge a duplicate report into the case (并案).
    Attach {
        /// The report.
        report: ReportSummary,
        /// Why it is a duplicate.
        reason: String,
    },
    /// Assign to a squad (first dispatch, 改派, or re-assignment).
    Dispatch {
        /// The squad.
        squad: SquadId,
    },
    /// The squad signs for the task.
    Accept,
    /// The squad starts handling.
    Start,
    /// The squad reports the task handled.
    Resolve {
        /// What was done.
        note: String,
        /// After-photos.
        photo_urls: Vec<String>,
    },
    /// The squad returns the task as not theirs.
    Return {
        /// Why.
        reason: String,
    },
    /// The on-site check result.
    Verify {
        /// Pass or fail.
        passed: bool,
    },
    /// Special closure by the centre.
    Close,
    /// Cancellation.
    Cancel {
        /// Why.
        reason: CancelReason,
    },
    /// Suspension.
    Suspend,
    /// Resumption.
    Resume,
    /// Extension of the handling deadline.
    Extend {
        /// Time added.
        extension: LimitSpec,
    },
    /// The supervisor verified the report: file it (立案) and route it.
    Confirm {
        /// What is filed, and where it goes.
        filing: Box<Filing>,
    },
    /// The supervisor verified the report: not filed (不予立案).
    Refuse {
        /// Why.
        reason: NotFiledReason,
        /// The supervisor's note.
        note: String,
    },
    /// The centre corrects the category or filing condition after filing (值班长): the urgency
    /// and the limits follow.
    Reclassify {
        /// The new category.
        category: CategoryCode,
        /// The new filing condition.
        condition: Option<String>,
        /// The urgency they fix.
        urgency: Urgency,
        /// The handling limit they fix.
        handling: LimitSpec,
        /// Why, for the history.
        reason: String,
    },
    /// A leader presses the case (督办) at a ladder level, with a note; the squad is told.
    Press {
        /// The ladder level (1-based).
        level: u32,
        /// What is asked.
        note: String,
    },
    /// The squad applies for an extension, a suspension or a return; the centre decides.
    Apply {
        /// What for.
        kind: ApplicationKind,
        /// Why.
        reason: String,
    },
    /// The centre decides the squad's application.
    Decide {
        /// Approved or rejected.
        approve: bool,
        /// Why, for the history and the squad.
        reason: String,
        /// An approved return was the dispatcher's error (派遣错误): not charged to the squad.
        dispatcher_error: bool,
    },
    /// The squad answers the last pressing (督办回复).
    AnswerPress {
        /// The answer.
        note: String,
    },
    /// The outcome of a reply call to one caller (回访).
    RecordReply {
        /// The caller's report.
        reference: crate::ids::Reference,
        /// How satisfied, if the caller was reached; `None`: not reached, call again.
        satisfaction: Option<Satisfaction>,
        /// The operator's note.
        note: String,
    },
    /// Cancels the case as a duplicate of `master` (并案); its callers move there.
    MergeInto {
        /// The case it duplicates.
        master: TicketId,
    },
    /// Takes in the reports (and so the callers) of a duplicate case merged into this one.
    Absorb {
        /// The duplicate case.
        duplicate: TicketId,
        /// Its reports.
        reports: Vec<ReportSummary>,
    },
    /// Takes a merged report out of the case into a case of its own (拆分).
    SplitOut {
        /// The report; not the case's own (first) report.
        reference: crate::ids::Reference,
        /// The case it opens.
        into: TicketId,
    },
    /// A due timer.
    Fire(Timer),
}

impl Command {
    /// Name used in errors and history.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Attach { .. } => "attach",
            Command::Dispatch { .. } => "dispatch",
            Command::Accept => "accept",
            Command::Start => "start",
            Command::Resolve { .. } => "resolve",
            Command::Return { .. } => "return",
            Command::Verify { .. } => "verify",
            Command::Close => "close",
            Command::Cancel { .. } => "cancel",
            Command::Suspend => "suspend",
            Command::Resume => "resume",
            Command::Extend { .. } => "extend",
            Command::Reclassify { .. } => "reclassify",
            Command::Press { .. } => "press",
            Command::AnswerPress { .. } => "answer_press",
            Command::Apply { .. } => "apply",
            Command::Decide { .. } => "decide",
            Command::Confirm { .. } => "confirm",
            Command::Refuse { .. } => "refuse",
            Command::RecordReply { .. } => "record_reply",
            Command::MergeInto { .. } => "merge_into",
            Command::Absorb { .. } => "absorb",
            Command::SplitOut { .. } => "split_out",
            Command::Fire(_) => "fire_timer",
        }
    }

    /// True for commands only the squad holding the task may issue.
    fn is_squad_command(&self) -> bool {
        matches!(
            self,
            Command::Accept
                | Command::Start
                | Command::Resolve { .. }
                | Command::Return { .. }
                | Command::AnswerPress { .. }
                | Command::Apply { .. }
        )
    }
}

/// Why a command was refused. A refused command changes nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// The command is not allowed in the ticket's state.
    #[error("ticket {ticket} is {state}: {command} is not allowed")]
    IllegalTransition {
        /// The ticket.
        ticket: TicketId,
        /// Its state.
        state: TicketState,
        /// The command.
        command: &'static str,
    },
    /// A squad command from a squad that does not hold the task.
    #[error("ticket {ticket} is not assigned to squad {squad}")]
    NotAssigned {
        /// The ticket.
        ticket: TicketId,
        /// The squad that asked.
        squad: SquadId,
    },
    /// The caller's expected version is stale.
    #[error("ticket {ticket} is at version {actual}, not {expected}")]
    VersionConflict {
        /// The ticket.
        ticket: TicketId,
        /// What the caller expected.
        expected: u64,
        /// What it is.
        actual: u64,
    },
    /// Dispatch to the squad that already holds the task.
    #[error("ticket {ticket} is already with squad {squad}")]
    AlreadyAssigned {
        /// The ticket.
        ticket: TicketId,
        /// The squad.
        squad: SquadId,
    },
    /// A timer that no longer applies (the clock moved on); the caller drops it.
    #[error("timer of ticket {ticket} no longer applies")]
    StaleTimer {
        /// The ticket.
        ticket: TicketId,
    },
}

/// What kind of change happened, as recorded in the history and on the ticket-event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Filed (立案).
    Filed,
    /// Sent to a squad.
    Dispatched,
    /// Signed for.
    Accepted,
    /// Handling started.
    Started,
    /// Reported handled.
    Resolved,
    /// Returned by the squad.
    Returned,
    /// Check passed and closed.
    CheckPassed,
    /// Check failed: rework.
    CheckFailed,
    /// Special closure.
    Closed,
    /// Cancelled.
    Cancelled,
    /// Suspended.
    Suspended,
    /// Resumed.
    Resumed,
    /// Deadline extended.
    Extended,
    /// Ladder level fired.
    Escalated,
    /// Squad late to sign for the task.
    AcceptOverdue,
    /// Duplicate report merged in.
    ReportMerged,
    /// A public report waits for on-site verification before filing.
    AwaitingVerification,
    /// Verified on site and filed (核实 → 立案).
    Verified,
    /// Verified on site and not filed (不予立案).
    NotFiled,
    /// A reply call did not reach the caller.
    ReplyAttempted,
    /// A caller was replied to, with their satisfaction.
    Replied,
    /// A dissatisfied caller reopened the case as rework.
    Reopened,
    /// A dissatisfied caller's case was pressed to the centre.
    ReplyPressed,
    /// Category or condition corrected after filing.
    Reclassified,
    /// Pressed (督办) by a leader.
    Pressed,
    /// The squad answered a pressing (督办回复).
    PressAnswered,
    /// The squad applied for an extension, a suspension or a return.
    Applied,
    /// The centre rejected the application.
    ApplicationRejected,
    /// A duplicate case was merged in (并案).
    CasesMerged,
    /// A report was split out into a case of its own (拆分).
    ReportSplit,
}

impl ChangeKind {
    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Filed => "filed",
            ChangeKind::Dispatched => "dispatched",
            ChangeKind::Accepted => "accepted",
            ChangeKind::Started => "started",
            ChangeKind::Resolved => "resolved",
            ChangeKind::Returned => "returned",
            ChangeKind::CheckPassed => "check_passed",
            ChangeKind::CheckFailed => "check_failed",
            ChangeKind::Closed => "closed",
            ChangeKind::Cancelled => "cancelled",
            ChangeKind::Suspended => "suspended",
            ChangeKind::Resumed => "resumed",
            ChangeKind::Extended => "extended",
            ChangeKind::Escalated => "escalated",
            ChangeKind::AcceptOverdue => "accept_overdue",
            ChangeKind::ReportMerged => "report_merged",
            ChangeKind::AwaitingVerification => "awaiting_verification",
            ChangeKind::Verified => "verified",
            ChangeKind::NotFiled => "not_filed",
            ChangeKind::ReplyAttempted => "reply_attempted",
            ChangeKind::Replied => "replied",
            ChangeKind::Reopened => "reopened",
            ChangeKind::ReplyPressed => "reply_pressed",
            ChangeKind::Reclassified => "reclassified",
            ChangeKind::Pressed => "pressed",
            ChangeKind::PressAnswered => "press_answered",
            ChangeKind::Applied => "applied",
            ChangeKind::ApplicationRejected => "application_rejected",
            ChangeKind::CasesMerged => "cases_merged",
            ChangeKind::ReportSplit => "report_split",
        }
    }
}

/// What a squad's terminal is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    /// New task.
    Assigned,
    /// Back for rework.
    Rework,
    /// Warning or escalation.
    Escalated,
    /// Taken away.
    Withdrawn,
    /// Changed otherwise.
    Updated,
    /// Closed after the check.
    Closed,
}

/// One change made by a command.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Kind.
    pub kind: ChangeKind,
    /// Detail for people.
    pub detail: String,
    /// Squads to tell, and what.
    pub feed: Vec<(SquadId, FeedKind)>,
    /// For [`ChangeKind::Escalated`]: the clock generation and ladder level that fired.
    pub escalation: Option<Fired>,
}

/// A ladder level fired against one clock generation (one deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    /// The clock generation.
    pub generation: u32,
    /// The ladder level.
    pub level: u32,
}

impl Change {
    fn new(kind: ChangeKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), feed: Vec::new(), escalation: None }
    }

    fn tell(mut self, squad: Option<&SquadId>, kind: FeedKind) -> Self {
        if let Some(squad) = squad {
            self.feed.push((squad.clone(), kind));
        }
        self
    }
}

/// The result of a successful command: the ticket after it and what to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The ticket after the command (version already incremented).
    pub ticket: Ticket,
    /// The changes, in order.
    pub changes: Vec<Change>,
}

/// Stage limits that are not per category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageLimits {
    /// Dispatch limit for urgent cases (10 min).
    pub dispatch_urgent: LimitSpec,
    /// Dispatch limit for normal cases (30 min).
    pub dispatch_normal: LimitSpec,
    /// The squad signs for a task within this (30 min).
    pub accept: LimitSpec,
    /// On-site check in urban streets (1 h).
    pub check_urban: LimitSpec,
    /// On-site check in towns and zones (2 h).
    pub check_rural: LimitSpec,
    /// On-site verification of a public report before filing (核实, 30 min).
    #[serde(default = "default_verify_limit")]
    pub verify: LimitSpec,
    /// The reply to a caller after the case closes or is not filed (回访, 1 working day).
    #[serde(default = "default_reply_limit")]
    pub reply: LimitSpec,
    /// The centre decides a squad's application (延期/挂账/退回) within this (1 working hour).
    #[serde(default = "default_approval_limit")]
    pub approval: LimitSpec,
}

fn default_approval_limit() -> LimitSpec {
    LimitSpec { milli_amount: 1_000, unit: crate::category::LimitUnit::WorkingHours }
}

fn default_verify_limit() -> LimitSpec {
    LimitSpec { milli_amount: 30_000, unit: crate::category::LimitUnit::Minutes }
}

fn default_reply_limit() -> LimitSpec {
    LimitSpec { milli_amount: 1_000, unit: crate::category::LimitUnit::WorkingDays }
}

/// Everything the state machine needs besides the ticket and the command.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Working-time calendar.
    pub calendar: &'a WorkCalendar,
    /// Escalation ladder.
    pub ladder: &'a Ladder,
    /// Stage limits.
    pub stages: &'a StageLimits,
    /// What a dissatisfied reply does.
    pub on_dissatisfied: OnDissatisfied,
}

/// Where the router placed a new case.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// A squad was found: the case is dispatched at once.
    Assigned {
        /// The squad.
        squad: SquadId,
        /// Why.
        routing: Routing,
    },
    /// No squad: the case waits in the manual queue.
    Manual {
        /// Why.
        reason: ManualReason,
        /// Routing detail, if the point was located.
        routing: Option<Routing>,
    },
    /// A public report to verify on site before it is filed (核实); routed once confirmed.
    Verify {
        /// The grid supervisor asked to verify it; none where the city names none (the
        /// centre sends someone).
        verifier: Option<String>,
    },
}

/// What a confirmed verification files: the report's terms, possibly corrected by the
/// supervisor, and where routing then sends the case.
#[derive(Debug, Clone, PartialEq)]
pub struct Filing {
    /// Category.
    pub category: CategoryCode,
    /// Filing condition.
    pub condition: Option<String>,
    /// Urgency.
    pub urgency: Urgency,
    /// Handling limit as written.
    pub handling: LimitSpec,
    /// Location.
    pub location: Option<Point<f64>>,
    /// Cell.
    pub cell: Option<CellRef>,
    /// Town or zone.
    pub rural: bool,
    /// A squad or the manual queue (never `Verify`).
    pub placement: Placement,
    /// What the supervisor corrected, for the history; empty if nothing.
    pub corrections: String,
}

/// A case to file.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    /// Case number.
    pub id: TicketId,
    /// Opening report.
    pub report: ReportSummary,
    /// Category.
    pub category: CategoryCode,
    /// Filing condition.
    pub condition: Option<String>,
    /// Urgency.
    pub urgency: Urgency,
    /// Handling limit as written.
    pub handling: LimitSpec,
    /// Location.
    pub location: Option<Point<f64>>,
    /// Address.
    pub address: String,
    /// Description.
    pub description: String,
    /// Cell.
    pub cell: Option<CellRef>,
    /// Town or zone.
    pub rural: bool,
    /// Where it goes.
    pub placement: Placement,
}

/// Files a case. An assigned case is dispatched in the same step, so its handling clock
/// starts at filing.
pub fn open(case: NewCase, now: Timestamp, policy: Policy<'_>) -> Transition {
    let mut t = Ticket {
        id: case.id,
        version: 1,
        state: TicketState::Registered,
        category: case.category,
        condition: case.condition,
        urgency: case.urgency,
        handling_spec: case.handling,
        location: case.location,
        address: case.address,
        description: case.description,
        cell: case.cell,
        rural: case.rural,
        squad: None,
        routing: None,
        manual_reason: None,
        reports: vec![case.report],
        report_count: 1,
        created_at: now,
        dispatched_at: None,
        accept_deadline: None,
        accepted_at: None,
        accept_overdue: false,
        resolved_at: None,
        handling: None,
        side_clock: None,
        generations: 0,
        light: Light::Green,
        suspension: None,
        rework_count: 0,
        extension_count: 0,
        return_count: 0,
        dispatch_count: 0,
        close_type: None,
        closed_at: None,
        cancel_reason: None,
        resolution: None,
        verifier: None,
        not_filed: None,
        replies: Vec::new(),
        reply_clock: None,
        presses: Vec::new(),
        application: None,
        dispatch_errors: 0,
        overdue_since: None,
        dispatched_by: None,
        lineage: Vec::new(),
    };
    let place = t
        .cell
        .as_ref()
        .map_or_else(|| "no location".to_string(), |c| format!("{} {} (cell {})", c.street_name, c.community_name, c.cell_code));
    let filed =
        Change::new(ChangeKind::Filed, format!("filed from {} report {} at {place}", t.reports[0].channel.name(), t.reports[0].reference));
    match case.placement {
        Placement::Assigned { squad, routing } => {
            let detail = format!("dispatched to {squad}: {}", routing.reason);
            t.routing = Some(routing);
            dispatch_to(&mut t, squad.clone(), now, policy);
            let dispatched = Change::new(ChangeKind::Dispatched, detail).tell(Some(&squad), FeedKind::Assigned);
            Transition { ticket: t, changes: vec![filed, dispatched] }
        }
        Placement::Manual { reason, routing } => {
            t.routing = routing;
            to_manual_queue(&mut t, TicketState::Registered, reason, now, policy);
            let detail = format!("{}; waiting in the manual queue ({reason:?})", filed.detail);
            Transition { ticket: t, changes: vec![Change::new(ChangeKind::Filed, detail)] }
        }
        Placement::Verify { verifier } => {
            let generation = next_generation(&mut t);
            let limit = policy.calendar.resolve(policy.stages.verify, t.urgency);
            t.side_clock = Some(StageClock::start(Stage::Verify, generation, now, limit, policy.calendar));
            t.state = TicketState::Verifying;
            let who = verifier
                .as_deref()
                .map_or_else(|| "the centre (no supervisor named for the place)".to_string(), |v| format!("supervisor {v}"));
            let detail = format!(
                "{} report {} at {place}: to be verified on site (核实) by {who} before filing",
                t.reports[0].channel.name(),
                t.reports[0].reference
            );
            let feed = verifier.as_deref().map(supervisor_feed);
            t.verifier = verifier;
            Transition {
                ticket: t,
                changes: vec![Change::new(ChangeKind::AwaitingVerification, detail).tell(feed.as_ref(), FeedKind::Assigned)],
            }
        }
    }
}

/// The feed a grid supervisor's terminal reads (verification tasks). Feeds are kept per
/// holder; a supervisor's is named `supervisor:<username>`, which no squad id can be.
pub fn supervisor_feed(username: &str) -> SquadId {
    SquadId::new(format!("supervisor:{username}"))
}

/// Files a verified report: the terms as confirmed (or corrected), then a squad or the
/// manual queue, exactly as [`open`] would have.
fn confirm(mut t: Ticket, filing: &Filing, actor: &Actor, now: Timestamp, policy: Policy<'_>) -> Transition {
    let f = filing.clone();
    (t.category, t.condition, t.urgency, t.handling_spec) = (f.category, f.condition, f.urgency, f.handling);
    (t.location, t.cell, t.rural) = (f.location, f.cell, f.rural);
    t.side_clock = None;
    t.verifier.get_or_insert_with(|| actor.to_string());
    let corrected = if f.corrections.is_empty() { String::new() } else { format!("; corrected: {}", f.corrections) };
    let verifier_feed = t.verifier.as_deref().map(supervisor_feed);
    let mut verified = Change::new(ChangeKind::Verified, format!("verified on site by {actor}{corrected}; filed (立案)"))
        .tell(verifier_feed.as_ref(), FeedKind::Closed);
    let mut changes = Vec::with_capacity(2);
    match f.placement {
        Placement::Assigned { squad, routing } => {
            let detail = format!("dispatched to {squad}: {}", routing.reason);
            t.routing = Some(routing);
            dispatch_to(&mut t, squad.clone(), now, policy);
            changes.push(Change::new(ChangeKind::Dispatched, detail).tell(Some(&squad), FeedKind::Assigned));
        }
        Placement::Manual { reason, routing } => {
            t.routing = routing;
            to_manual_queue(&mut t, TicketState::Registered, reason, now, policy);
            verified.detail.push_str(&format!("; waiting in the manual queue ({reason:?})"));
        }
        // A filing never asks for verification again; should one, the centre decides.
        Placement::Verify { .. } => to_manual_queue(&mut t, TicketState::Registered, ManualReason::NoResponsibleSquad, now, policy),
    }
    changes.insert(0, verified);
    t.version += 1;
    Transition { ticket: t, changes }
}

fn next_generation(t: &mut Ticket) -> u32 {
    t.generations += 1;
    t.generations
}

fn dispatch_to(t: &mut Ticket, squad: SquadId, now: Timestamp, policy: Policy<'_>) {
    let cal = policy.calendar;
    let generation = next_generation(t);
    let limit = cal.resolve(t.handling_spec, t.urgency);
    t.handling = Some(StageClock::start(Stage::Handling, generation, now, limit, cal));
    t.side_clock = None;
    t.accept_deadline = Some(cal.advance(now, cal.resolve(policy.stages.accept, t.urgency)));
    t.accepted_at = None;
    t.accept_overdue = false;
    // An application of the squad that had it lapses with the task.
    t.application = None;
    t.squad = Some(squad);
    t.manual_reason = None;
    t.dispatched_at = Some(now);
    t.dispatch_count += 1;
    t.light = Light::Green;
    t.state = TicketState::Dispatched;
}

fn to_manual_queue(t: &mut Ticket, state: TicketState, reason: ManualReason, now: Timestamp, policy: Policy<'_>) {
    let spec = match t.urgency {
        Urgency::Urgent => policy.stages.dispatch_urgent,
        Urgency::Normal => policy.stages.dispatch_normal,
    };
    let generation = next_generation(t);
    let limit = policy.calendar.resolve(spec, t.urgency);
    t.side_clock = Some(StageClock::start(Stage::Dispatch, generation, now, limit, policy.calendar));
    t.handling = None;
    t.accept_deadline = None;
    t.application = None;
    t.squad = None;
    t.manual_reason = Some(reason);
    t.light = Light::Green;
    t.state = state;
}

/// Refuses the command unless the ticket is at `expected` (when given).
pub fn check_version(t: &Ticket, expected: Option<u64>) -> Result<(), CommandError> {
    match expected {
        Some(expected) if expected != t.version => Err(CommandError::VersionConflict { ticket: t.id.clone(), expected, actual: t.version }),
        _ => Ok(()),
    }
}

/// Applies `command` from `actor` at `now`. On success the returned ticket has its version
/// incremented; on error nothing changed.
pub fn apply(ticket: &Ticket, command: &Command, actor: &Actor, now: Timestamp, policy: Policy<'_>) -> Result<Transition, CommandError> {
    if command.is_squad_command() {
        let holds = matches!(actor, Actor::Squad { squad, .. } if ticket.squad.as_ref() == Some(squad));
        if !holds {
            let squad = match actor {
                Actor::Squad { squad, .. } => squad.clone(),
                other => SquadId::new(other.to_string()),
            };
            return Err(CommandError::NotAssigned { ticket: ticket.id.clone(), squad });
        }
    }
    let mut t = ticket.clone();
    let illegal = || CommandError::IllegalTransition { ticket: ticket.id.clone(), state: ticket.state, command: command.name() };
    use TicketState as S;
    // The commands that record more than one change.
    match (command, ticket.state) {
        (Command::Confirm { filing }, S::Verifying) => return Ok(confirm(t, filing, actor, now, policy)),
        (Command::RecordReply { reference, satisfaction, note }, _) => {
            return record_reply(t, reference, *satisfaction, note, actor, now, policy).ok_or_else(illegal);
        }
        (Command::Decide { approve: true, reason, dispatcher_error }, _) => {
            let application = t.application.take().ok_or_else(illegal)?;
            return approve(t, application, reason, *dispatcher_error, actor, now, policy);
        }
        _ => {}
    }
    let change = match (command, ticket.state) {
        (Command::Attach { report, reason }, s) => {
            t.reports.push(report.clone());
            t.report_count = t.report_count.saturating_add(1);
            let mut detail = format!("report {} merged: {reason}", report.reference);
            // A caller who joins a case already closed still gets the reply.
            if (s == S::Closed || s == S::NotFiled) && report.reply_required {
                owe_replies(&mut t, std::slice::from_ref(&report.reference), now, policy);
                detail.push_str("; reply task opened");
            }
            Change::new(ChangeKind::ReportMerged, detail)
        }
        (Command::Reclassify { category, condition, urgency, handling, reason }, s) if s.is_filed() && !s.is_terminal() => {
            let before = format!("{} {:?}", t.category, t.urgency);
            (t.category, t.condition, t.urgency, t.handling_spec) = (category.clone(), condition.clone(), *urgency, *handling);
            reclock(&mut t, now, policy);
            let detail = format!("reclassified {before} → {category} {urgency:?} ({handling}): {}; deadlines recomputed", reason.trim());
            Change::new(ChangeKind::Reclassified, detail).tell(t.squad.as_ref(), FeedKind::Updated)
        }
        (Command::Press { level, note }, s) if s.is_filed() && !s.is_terminal() => {
            let label = policy.ladder.at(*level).map_or_else(|| format!("level {level}"), |e| e.step.label.clone());
            t.presses.push(Press { level: *level, note: note.trim().to_owned(), by: actor.to_string(), at: now, reply: None });
            let detail = format!("pressed ({label}) by {actor}: {}", note.trim());
            Change::new(ChangeKind::Pressed, detail).tell(t.squad.as_ref(), FeedKind::Escalated)
        }
        (Command::Apply { kind, reason }, s) if t.application.is_none() && applicable(kind, s) => {
            let generation = next_generation(&mut t);
            let limit = policy.calendar.resolve(policy.stages.approval, t.urgency);
            let clock = StageClock::start(Stage::Approval, generation, now, limit, policy.calendar);
            let what = match kind {
                ApplicationKind::Extension { extension } => format!("an extension of {extension} (延期)"),
                ApplicationKind::Suspension => "a suspension (挂账)".to_string(),
                ApplicationKind::Return => "a return (退回)".to_string(),
            };
            let detail = format!("{actor} applied for {what}: {}; the centre decides by {}", reason.trim(), clock.deadline);
            t.application = Some(Application { kind: kind.clone(), reason: reason.trim().to_owned(), by: actor.to_string(), clock });
            Change::new(ChangeKind::Applied, detail)
        }
        (Command::Decide { approve: false, reason, .. }, _) if t.application.is_some() => {
            let application = t.application.take().ok_or_else(illegal)?;
            let detail = format!("application for {} rejected by {actor}: {}", application.kind.name(), reason.trim());
            Change::new(ChangeKind::ApplicationRejected, detail).tell(t.squad.as_ref(), FeedKind::Updated)
        }
        (Command::AnswerPress { note }, _) if t.presses.last().is_some_and(|p| p.reply.is_none()) => {
            if let Some(press) = t.presses.last_mut() {
                press.reply = Some((note.trim().to_owned(), now));
            }
            Change::new(ChangeKind::PressAnswered, format!("督办回复: {}", note.trim()))
        }
        (Command::Refuse { reason, note }, S::Verifying) => {
            t.not_filed = Some(*reason);
            t.state = S::NotFiled;
            t.closed_at = Some(now);
            t.side_clock = None;
            t.light = Light::Green;
            let feed = t.verifier.as_deref().map(supervisor_feed);
            let replies = reply_owed(&t);
            owe_replies(&mut t, &replies, now, policy);
            let note = if note.trim().is_empty() { String::new() } else { format!(": {}", note.trim()) };
            Change::new(ChangeKind::NotFiled, format!("verified on site by {actor}: not filed (不予立案, {}){note}", reason.name()))
                .tell(feed.as_ref(), FeedKind::Closed)
        }
        (Command::Dispatch { squad }, s) if s.is_in_manual_queue() || s.is_with_squad() => {
            if ticket.squad.as_ref() == Some(squad) {
                return Err(CommandError::AlreadyAssigned { ticket: ticket.id.clone(), squad: squad.clone() });
            }
            let previous = ticket.squad.clone();
            t.routing = Some(Routing {
                rule_id: "manual".into(),
                reason: format!("dispatched by {actor}"),
                grid_version: ticket.routing.as_ref().map(|r| r.grid_version.clone()).unwrap_or_default(),
            });
            dispatch_to(&mut t, squad.clone(), now, policy);
            t.dispatched_by = Some(actor.to_string());
            let detail = match &previous {
                Some(p) => format!("re-assigned from {p} to {squad}"),
                None => format!("dispatched to {squad}"),
            };
            Change::new(ChangeKind::Dispatched, detail).tell(previous.as_ref(), FeedKind::Withdrawn).tell(Some(squad), FeedKind::Assigned)
        }
        (Command::Accept, S::Dispatched | S::Rework) => {
            let on_time = t.accept_deadline.is_none_or(|d| now <= d);
            t.accepted_at = Some(now);
            t.state = S::Accepted;
            let detail = if on_time { "signed for" } else { "signed for after the accept limit" };
            Change::new(ChangeKind::Accepted, detail)
        }
        (Command::Start, S::Accepted) => {
            t.state = S::InProgress;
            Change::new(ChangeKind::Started, "handling on site")
        }
        (Command::Resolve { note, photo_urls }, S::InProgress) => {
            let spec = if t.rural { policy.stages.check_rural } else { policy.stages.check_urban };
            let generation = next_generation(&mut t);
            let limit = policy.calendar.resolve(spec, t.urgency);
            t.side_clock = Some(StageClock::start(Stage::Check, generation, now, limit, policy.calendar));
            t.resolved_at = Some(now);
            if let Some(h) = t.handling.as_ref().filter(|h| now > h.deadline) {
                t.overdue_since.get_or_insert(h.deadline);
            }
            t.light = Light::Green;
            t.state = S::Checking;
            t.resolution = Some(Resolution { note: note.clone(), photo_urls: photo_urls.clone() });
            let photos = match photo_urls.len() {
                0 => String::new(),
                n => format!(" ({n} photo(s))"),
            };
            Change::new(ChangeKind::Resolved, format!("reported handled: {note}{photos}"))
        }
        (Command::Return { reason }, S::Dispatched | S::Accepted | S::InProgress) => {
            let squad = t.squad.clone();
            t.return_count += 1;
            to_manual_queue(&mut t, S::Returned, ManualReason::Returned, now, policy);
            Change::new(ChangeKind::Returned, format!("returned as not responsible: {reason}")).tell(squad.as_ref(), FeedKind::Withdrawn)
        }
        (Command::Verify { passed: true }, S::Checking) => {
            let close_type = if t.resolved_late() { CloseType::Overdue } else { CloseType::Normal };
            close(&mut t, close_type, now, policy);
            let detail = format!("check passed; closed ({close_type:?})");
            Change::new(ChangeKind::CheckPassed, detail).tell(t.squad.as_ref(), FeedKind::Closed)
        }
        (Command::Verify { passed: false }, S::Checking) => {
            t.rework_count += 1;
            t.side_clock = None;
            // The squad is not charged for the time the case waited for its check: the handling
            // clock stood still from the report of completion until now.
            if let (Some(h), Some(resolved)) = (t.handling.as_mut(), t.resolved_at) {
                h.paused_millis += policy.calendar.elapsed(resolved, now, h.limit.clock);
                h.deadline = h.threshold(1.0, policy.calendar);
            }
            restart_accept_clock(&mut t, now, policy);
            t.state = S::Rework;
            t.light = light_of(t.handling.as_ref(), policy.ladder);
            let detail = format!("check failed; rework #{}", t.rework_count);
            Change::new(ChangeKind::CheckFailed, detail).tell(t.squad.as_ref(), FeedKind::Rework)
        }
        (Command::Close, s) if !s.is_terminal() => {
            close(&mut t, CloseType::Special, now, policy);
            Change::new(ChangeKind::Closed, "closed by the centre (special closure)").tell(t.squad.as_ref(), FeedKind::Withdrawn)
        }
        (Command::Cancel { reason }, s) if !s.is_terminal() => {
            cancel(&mut t, *reason, now);
            Change::new(ChangeKind::Cancelled, format!("cancelled ({reason:?})")).tell(t.squad.as_ref(), FeedKind::Withdrawn)
        }
        (Command::MergeInto { master }, s) if s.is_filed() && !s.is_terminal() && *master != t.id => {
            cancel(&mut t, CancelReason::Duplicate, now);
            t.lineage.push(CaseLink::MergedInto(master.clone()));
            let detail = format!("merged into case {master} as a duplicate (并案); its callers follow; cancelled (Duplicate)");
            Change::new(ChangeKind::Cancelled, detail).tell(t.squad.as_ref(), FeedKind::Withdrawn)
        }
        (Command::Absorb { duplicate, reports }, s) if s.is_filed() && !s.is_terminal() && *duplicate != t.id => {
            let new: Vec<ReportSummary> =
                reports.iter().filter(|r| t.reports.iter().all(|kept| kept.reference != r.reference)).cloned().collect();
            let detail = format!("case {duplicate} merged in (并案) with {} report(s) and their callers", new.len());
            t.report_count = t.report_count.saturating_add(u32::try_from(new.len()).unwrap_or(u32::MAX));
            t.reports.extend(new);
            t.lineage.push(CaseLink::MergedFrom(duplicate.clone()));
            Change::new(ChangeKind::CasesMerged, detail).tell(t.squad.as_ref(), FeedKind::Updated)
        }
        (Command::SplitOut { reference, into }, s) if !s.is_terminal() => {
            // The first report is the case's own: it stays, the others may go.
            let index = t.reports.iter().skip(1).position(|r| &r.reference == reference).ok_or_else(illegal)? + 1;
            t.reports.remove(index);
            t.report_count = t.report_count.saturating_sub(1);
            t.lineage.push(CaseLink::SplitInto(into.clone()));
            let detail = format!("report {reference} split out into case {into} (拆分)");
            Change::new(ChangeKind::ReportSplit, detail).tell(t.squad.as_ref(), FeedKind::Updated)
        }
        (Command::Suspend, s) if s.is_with_squad() => {
            t.suspension = Some(Suspension { prior: s, since: now });
            t.state = S::Suspended;
            Change::new(ChangeKind::Suspended, "suspended; the clock is frozen").tell(t.squad.as_ref(), FeedKind::Updated)
        }
        (Command::Resume, S::Suspended) => {
            let Some(suspension) = t.suspension.take() else { return Err(illegal()) };
            if let Some(h) = t.handling.as_mut() {
                h.paused_millis += policy.calendar.elapsed(suspension.since, now, h.limit.clock);
                h.deadline = h.threshold(1.0, policy.calendar);
            }
            if suspension.prior == S::Dispatched {
                let accept = policy.calendar.resolve(policy.stages.accept, t.urgency);
                t.accept_deadline = Some(policy.calendar.advance(now, accept));
            }
            t.state = suspension.prior;
            let deadline = t.handling.as_ref().map(|h| h.deadline.to_string()).unwrap_or_default();
            Change::new(ChangeKind::Resumed, format!("resumed; handling deadline now {deadline}")).tell(t.squad.as_ref(), FeedKind::Updated)
        }
        (Command::Extend { extension }, s) if s.is_with_squad() => {
            let generation = next_generation(&mut t);
            let Some(h) = t.handling.as_mut() else { return Err(illegal()) };
            let added = policy.calendar.resolve_on(*extension, h.limit.clock);
            h.limit.millis += added.millis;
            h.generation = generation;
            h.fired_level = 0;
            h.deadline = h.threshold(1.0, policy.calendar);
            let detail = format!("extended by {extension}; handling deadline now {}", h.deadline);
            t.extension_count += 1;
            t.light = Light::Green;
            Change::new(ChangeKind::Extended, detail).tell(t.squad.as_ref(), FeedKind::Updated)
        }
        (Command::Fire(timer), _) => fire(&mut t, timer, now, policy)?,
        _ => return Err(illegal()),
    };
    settle_reply_clock(&mut t, now, policy);
    t.version += 1;
    Ok(Transition { ticket: t, changes: vec![change] })
}

/// The running clocks after the terms changed: the same start, the new limit, a new
/// generation (a new deadline, whose ladder fires afresh).
fn reclock(t: &mut Ticket, now: Timestamp, policy: Policy<'_>) {
    let handling_limit = policy.calendar.resolve(t.handling_spec, t.urgency);
    let dispatch_spec = match t.urgency {
        Urgency::Urgent => policy.stages.dispatch_urgent,
        Urgency::Normal => policy.stages.dispatch_normal,
    };
    let dispatch_limit = policy.calendar.resolve(dispatch_spec, t.urgency);
    let generation = next_generation(t);
    if let Some(h) = t.handling.as_mut() {
        *h = StageClock { generation, limit: handling_limit, fired_level: 0, ..h.clone() };
        h.deadline = h.threshold(1.0, policy.calendar);
    }
    if let Some(c) = t.side_clock.as_mut().filter(|c| c.stage == Stage::Dispatch) {
        *c = StageClock { generation, limit: dispatch_limit, fired_level: 0, ..c.clone() };
        c.deadline = c.threshold(1.0, policy.calendar);
    }
    t.light = match t.active_clock() {
        Some(c) if now >= c.deadline => Light::Red,
        _ => Light::Green,
    };
}

/// Whether the squad may apply for `kind` in state `s`: as the direct command would be.
fn applicable(kind: &ApplicationKind, s: TicketState) -> bool {
    match kind {
        ApplicationKind::Extension { .. } | ApplicationKind::Suspension => s.is_with_squad(),
        ApplicationKind::Return => matches!(s, TicketState::Dispatched | TicketState::Accepted | TicketState::InProgress),
    }
}

/// Carries out an approved application as the command it stands for, recorded as the centre's
/// decision. A return approved as the dispatcher's error is not charged to the squad.
fn approve(
    t: Ticket,
    application: Application,
    reason: &str,
    dispatcher_error: bool,
    actor: &Actor,
    now: Timestamp,
    policy: Policy<'_>,
) -> Result<Transition, CommandError> {
    let squad =
        t.squad.clone().ok_or_else(|| CommandError::IllegalTransition { ticket: t.id.clone(), state: t.state, command: "decide" })?;
    let (command, on_behalf) = match &application.kind {
        ApplicationKind::Extension { extension } => (Command::Extend { extension: *extension }, actor.clone()),
        ApplicationKind::Suspension => (Command::Suspend, actor.clone()),
        ApplicationKind::Return => {
            (Command::Return { reason: application.reason.clone() }, Actor::Squad { squad, member: application.by.clone() })
        }
    };
    let mut tr = apply(&t, &command, &on_behalf, now, policy)?;
    let error = dispatcher_error && application.kind == ApplicationKind::Return;
    if error {
        tr.ticket.return_count = tr.ticket.return_count.saturating_sub(1);
        tr.ticket.dispatch_errors += 1;
    }
    let blame = if error { "; a dispatching error (派遣错误), not charged to the squad" } else { "" };
    for change in &mut tr.changes {
        change.detail =
            format!("application for {} approved by {actor} ({}){blame}: {}", application.kind.name(), reason.trim(), change.detail);
    }
    Ok(tr)
}

/// A case back with its squad for rework must be signed for again, within the accept limit
/// from now.
fn restart_accept_clock(t: &mut Ticket, now: Timestamp, policy: Policy<'_>) {
    t.accept_deadline = Some(policy.calendar.advance(now, policy.calendar.resolve(policy.stages.accept, t.urgency)));
    t.accepted_at = None;
    t.accept_overdue = false;
}

/// Ends the case as void (作废): it never was the city's case.
fn cancel(t: &mut Ticket, reason: CancelReason, now: Timestamp) {
    t.cancel_reason = Some(reason);
    t.application = None;
    t.state = TicketState::Cancelled;
    t.closed_at = Some(now);
    t.side_clock = None;
    t.suspension = None;
}

fn close(t: &mut Ticket, close_type: CloseType, now: Timestamp, policy: Policy<'_>) {
    t.application = None;
    t.close_type = Some(close_type);
    t.closed_at = Some(now);
    t.state = TicketState::Closed;
    t.side_clock = None;
    t.suspension = None;
    t.light = Light::Green;
    let owed = reply_owed(t);
    owe_replies(t, &owed, now, policy);
}

/// The reports owed a reply now: those that asked for one and have no reply task, or whose
/// caller was dissatisfied before the case was reopened and is owed a new reply.
fn reply_owed(t: &Ticket) -> Vec<crate::ids::Reference> {
    t.reports
        .iter()
        .filter(|r| r.reply_required)
        .filter(|r| match t.replies.iter().rev().find(|task| task.reference == r.reference) {
            None => true,
            Some(task) => task.outcome.as_ref().is_some_and(|o| o.satisfaction == Satisfaction::Dissatisfied),
        })
        .map(|r| r.reference.clone())
        .collect()
}

/// Owes a reply to each of `references`; the reply clock starts if none runs.
fn owe_replies(t: &mut Ticket, references: &[crate::ids::Reference], now: Timestamp, policy: Policy<'_>) {
    // The clock (and so the due time) comes from `settle_reply_clock`, the one place that
    // starts and stops it; a task joining a running clock shares its deadline.
    let due = t.reply_clock.as_ref().map_or(now, |c| c.deadline);
    for reference in references {
        t.replies.push(ReplyTask { reference: reference.clone(), opened_at: now, due, attempts: 0, outcome: None });
    }
    settle_reply_clock(t, now, policy);
}

/// The reply clock runs exactly while a closed or not-filed case owes a caller a reply: it
/// stops with the last reply (or when the case is reopened), and starts for replies still
/// owed when the case ends again.
fn settle_reply_clock(t: &mut Ticket, now: Timestamp, policy: Policy<'_>) {
    let owing = matches!(t.state, TicketState::Closed | TicketState::NotFiled) && t.open_replies().next().is_some();
    match (owing, t.reply_clock.is_some()) {
        (false, true) => t.reply_clock = None,
        (true, false) => {
            let generation = next_generation(t);
            let limit = policy.calendar.resolve(policy.stages.reply, Urgency::Normal);
            let clock = StageClock::start(Stage::Reply, generation, now, limit, policy.calendar);
            for task in t.replies.iter_mut().filter(|r| r.outcome.is_none()) {
                task.due = clock.deadline;
            }
            t.reply_clock = Some(clock);
        }
        _ => {}
    }
}

/// Records a reply call. `None` if the reference has no open reply task.
fn record_reply(
    mut t: Ticket,
    reference: &crate::ids::Reference,
    satisfaction: Option<Satisfaction>,
    note: &str,
    actor: &Actor,
    now: Timestamp,
    policy: Policy<'_>,
) -> Option<Transition> {
    let task = t.replies.iter_mut().rev().find(|task| &task.reference == reference && task.outcome.is_none())?;
    let note_text = if note.trim().is_empty() { String::new() } else { format!(": {}", note.trim()) };
    let mut changes = Vec::with_capacity(2);
    match satisfaction {
        None => {
            task.attempts += 1;
            let detail = format!("reply call {} to the caller of {reference} did not reach them; call again{note_text}", task.attempts);
            changes.push(Change::new(ChangeKind::ReplyAttempted, detail));
        }
        Some(satisfaction) => {
            task.outcome = Some(ReplyOutcome { satisfaction, note: note.trim().to_owned(), at: now, by: actor.to_string() });
            changes.push(Change::new(
                ChangeKind::Replied,
                format!("replied to the caller of {reference}: {}{note_text}", satisfaction_label(satisfaction)),
            ));
            if satisfaction == Satisfaction::Dissatisfied {
                changes.push(dissatisfied(&mut t, reference, now, policy));
            }
        }
    }
    settle_reply_clock(&mut t, now, policy);
    t.version += 1;
    Some(Transition { ticket: t, changes })
}

fn satisfaction_label(s: Satisfaction) -> &'static str {
    match s {
        Satisfaction::Satisfied => "satisfied (满意)",
        Satisfaction::BasicallySatisfied => "basically satisfied (基本满意)",
        Satisfaction::Dissatisfied => "dissatisfied (不满意)",
    }
}

/// What a dissatisfied caller causes: the closed case back to its squad as rework, or a
/// pressing (督办) of the centre where the policy says so or there is no squad to send it to.
fn dissatisfied(t: &mut Ticket, reference: &crate::ids::Reference, now: Timestamp, policy: Policy<'_>) -> Change {
    match (policy.on_dissatisfied, t.state, t.squad.clone()) {
        (OnDissatisfied::Reopen, TicketState::Closed, Some(squad)) => {
            t.rework_count += 1;
            (t.close_type, t.closed_at, t.reply_clock) = (None, None, None);
            let generation = next_generation(t);
            let limit = policy.calendar.resolve(t.handling_spec, t.urgency);
            t.handling = Some(StageClock::start(Stage::Handling, generation, now, limit, policy.calendar));
            restart_accept_clock(t, now, policy);
            t.state = TicketState::Rework;
            t.light = Light::Green;
            let detail = format!("reopened as rework #{} for {squad}: the caller of {reference} is dissatisfied", t.rework_count);
            Change::new(ChangeKind::Reopened, detail).tell(Some(&squad), FeedKind::Rework)
        }
        _ => Change::new(ChangeKind::ReplyPressed, format!("the caller of {reference} is dissatisfied: pressed (督办) to 指挥中心")),
    }
}

/// Light implied by the levels already fired on `clock`.
fn light_of(clock: Option<&StageClock>, ladder: &Ladder) -> Light {
    clock.and_then(|c| ladder.at(c.fired_level)).map_or(Light::Green, |e| e.step.light)
}

fn fire(t: &mut Ticket, timer: &Timer, now: Timestamp, policy: Policy<'_>) -> Result<Change, CommandError> {
    let id = t.id.clone();
    let stale = || CommandError::StaleTimer { ticket: id.clone() };
    let current = desired_timers(t, policy);
    if !current.contains(timer) || timer.due > now {
        return Err(stale());
    }
    match timer.kind {
        TimerKind::AcceptDue => {
            t.accept_overdue = true;
            Ok(Change::new(ChangeKind::AcceptOverdue, "not signed for within the accept limit; 中队长 told")
                .tell(t.squad.as_ref(), FeedKind::Escalated))
        }
        TimerKind::Escalation { level } => {
            let escalation = policy.ladder.at(level).ok_or_else(stale)?;
            let squad = t.squad.clone();
            let verifier_feed = t.verifier.as_deref().map(supervisor_feed);
            // The application's clock runs beside the case's; the timer's generation says which.
            let on_application = t.application.as_ref().is_some_and(|a| a.clock.generation == timer.generation);
            let clock =
                if on_application { t.application.as_mut().map(|a| &mut a.clock) } else { t.active_clock_mut() }.ok_or_else(stale)?;
            clock.fired_level = level;
            let (stage, generation, deadline) = (clock.stage, clock.generation, clock.deadline);
            if stage == Stage::Handling && escalation.share >= 1.0 {
                t.overdue_since.get_or_insert(deadline);
            }
            if !on_application {
                t.light = escalation.step.light;
            }
            let step = escalation.step;
            let repeat = if escalation.repetition > 0 { format!(" (repeat {})", escalation.repetition) } else { String::new() };
            let detail = format!(
                "{}{repeat}: {:.0}% of the {} limit used; {} told",
                step.label,
                escalation.share * 100.0,
                stage.name(),
                audience(stage, &step.notify),
            );
            let mut change = Change::new(ChangeKind::Escalated, detail);
            change.escalation = Some(Fired { generation, level });
            match stage {
                Stage::Handling => change = change.tell(squad.as_ref(), FeedKind::Escalated),
                Stage::Verify => change = change.tell(verifier_feed.as_ref(), FeedKind::Escalated),
                _ => {}
            }
            Ok(change)
        }
    }
}

/// Who is told at a ladder step: the squad chain while the squad handles it, the centre's
/// own chain for the dispatch and check stages.
fn audience(stage: Stage, notify: &str) -> String {
    match stage {
        Stage::Handling => notify.to_string(),
        Stage::Dispatch => format!("指挥中心 ({notify} level)"),
        Stage::Check | Stage::Verify => format!("监督中心 ({notify} level)"),
        Stage::Reply => format!("热线回访 ({notify} level)"),
        Stage::Approval => format!("指挥中心审批 ({notify} level)"),
    }
}

/// The timer of the next ladder level of `clock`, if the ladder has one.
fn next_ladder_timer(clock: &StageClock, policy: Policy<'_>) -> Option<Timer> {
    let level = clock.fired_level + 1;
    let next = policy.ladder.at(level)?;
    Some(Timer { generation: clock.generation, kind: TimerKind::Escalation { level }, due: clock.threshold(next.share, policy.calendar) })
}

/// The timers the ticket needs now: the next ladder level of the running clock, and the
/// accept deadline while the squad has not signed for a dispatched or reworked task.
pub fn desired_timers(t: &Ticket, policy: Policy<'_>) -> Vec<Timer> {
    // The case's running clock, and an application's, which runs beside it.
    let clocks = t.active_clock().into_iter().chain(t.application.as_ref().map(|a| &a.clock));
    let mut timers: Vec<Timer> = clocks.filter_map(|clock| next_ladder_timer(clock, policy)).collect();
    let waiting_to_be_signed_for = matches!(t.state, TicketState::Dispatched | TicketState::Rework) && t.accepted_at.is_none();
    if let (true, Some(due), false, Some(h)) = (waiting_to_be_signed_for, t.accept_deadline, t.accept_overdue, t.handling.as_ref()) {
        timers.push(Timer { generation: h.generation, kind: TimerKind::AcceptDue, due });
    }
    timers
}

/// The stage limits the core's tests use: the demo city's, in clock time.
#[cfg(test)]
pub(crate) fn test_stage_limits() -> StageLimits {
    let spec = |s: &str| LimitSpec::parse(s).expect("valid limit");
    StageLimits {
        dispatch_urgent: spec("10min"),
        dispatch_normal: spec("30min"),
        accept: spec("30min"),
        check_urban: spec("1h"),
        check_rural: spec("2h"),
        verify: spec("30min"),
        reply: spec("1WD"),
        approval: spec("1WH"),
    }
}

#[cfg(test)]
mod tests;
