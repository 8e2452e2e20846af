//! Conversions between gridd.v1 wire types and the core's domain types.
//!
//! Encoding (core → wire) cannot fail. Decoding a log record (wire → core) can: a record that
//! does not decode is a poison record, and the error names the field.

use geo::Point;
use gridd_core::category::{CategoryCode, Urgency};
use gridd_core::escalation::Light;
use gridd_core::grid::CellRef;
use gridd_core::ids::{CameraId, CellCode, CommunityCode, Reference, SquadId, StreetCode, TicketId};
use gridd_core::report::{CameraDetection, Channel, Decision, Outcome, Report, ReportSummary};
use gridd_core::ticket::{
    CancelReason, CloseType, ManualReason, NotFiledReason, Placement, ReplyTask, Routing, Satisfaction, Stage, Ticket, TicketState,
};
use gridd_core::time::Timestamp;

use crate::v1;

/// A wire record that cannot be turned into a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct DecodeError {
    /// The offending field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn bad(field: &'static str, reason: impl Into<String>) -> DecodeError {
    DecodeError { field, reason: reason.into() }
}

/// Core timestamp → protobuf timestamp.
pub fn timestamp(t: Timestamp) -> crate::prost_types::Timestamp {
    let ms = t.millis();
    crate::prost_types::Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// Protobuf timestamp → core timestamp (millisecond precision).
pub fn from_timestamp(t: &crate::prost_types::Timestamp) -> Timestamp {
    Timestamp::from_millis(t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos) / 1_000_000))
}

fn opt_timestamp(t: Option<Timestamp>) -> Option<crate::prost_types::Timestamp> {
    t.map(timestamp)
}

/// Core channel → wire channel.
pub fn channel(c: Channel) -> v1::Channel {
    match c {
        Channel::Hotline => v1::Channel::Hotline,
        Channel::Citizen => v1::Channel::Citizen,
        Channel::Patrol => v1::Channel::Patrol,
        Channel::Camera => v1::Channel::Camera,
    }
}

fn from_channel(c: v1::Channel) -> Result<Channel, DecodeError> {
    Ok(match c {
        v1::Channel::Hotline => Channel::Hotline,
        v1::Channel::Citizen => Channel::Citizen,
        v1::Channel::Patrol => Channel::Patrol,
        v1::Channel::Camera => Channel::Camera,
        v1::Channel::Unspecified => return Err(bad("channel", "is unspecified")),
    })
}

/// Core state → wire state.
pub fn ticket_state(s: TicketState) -> v1::TicketState {
    match s {
        TicketState::Registered => v1::TicketState::Registered,
        TicketState::Dispatched => v1::TicketState::Dispatched,
        TicketState::Accepted => v1::TicketState::Accepted,
        TicketState::InProgress => v1::TicketState::InProgress,
        TicketState::Returned => v1::TicketState::Returned,
        TicketState::Checking => v1::TicketState::Checking,
        TicketState::Rework => v1::TicketState::Rework,
        TicketState::Suspended => v1::TicketState::Suspended,
        TicketState::Closed => v1::TicketState::Closed,
        TicketState::Cancelled => v1::TicketState::Cancelled,
        TicketState::Verifying => v1::TicketState::Verifying,
        TicketState::NotFiled => v1::TicketState::NotFiled,
    }
}

/// Core not-filed reason → wire.
pub fn not_filed_reason(r: NotFiledReason) -> v1::NotFiledReason {
    match r {
        NotFiledReason::NotAProblem => v1::NotFiledReason::NotAProblem,
        NotFiledReason::NotCityBusiness => v1::NotFiledReason::NotCityBusiness,
        NotFiledReason::AlreadyFixed => v1::NotFiledReason::AlreadyFixed,
    }
}

/// Core satisfaction → wire.
pub fn satisfaction(s: Satisfaction) -> v1::Satisfaction {
    match s {
        Satisfaction::Satisfied => v1::Satisfaction::Satisfied,
        Satisfaction::BasicallySatisfied => v1::Satisfaction::BasicallySatisfied,
        Satisfaction::Dissatisfied => v1::Satisfaction::Dissatisfied,
    }
}

/// Wire satisfaction → core; `None` for unspecified.
pub fn from_satisfaction(s: v1::Satisfaction) -> Option<Satisfaction> {
    Some(match s {
        v1::Satisfaction::Satisfied => Satisfaction::Satisfied,
        v1::Satisfaction::BasicallySatisfied => Satisfaction::BasicallySatisfied,
        v1::Satisfaction::Dissatisfied => Satisfaction::Dissatisfied,
        v1::Satisfaction::Unspecified => return None,
    })
}

/// Where the reply to one caller stands.
pub fn reply_status(r: &ReplyTask) -> v1::ReplyStatus {
    v1::ReplyStatus {
        reference: r.reference.to_string(),
        due: Some(timestamp(r.due)),
        attempts: r.attempts,
        satisfaction: r.outcome.as_ref().map_or(v1::Satisfaction::Unspecified, |o| satisfaction(o.satisfaction)).into(),
        replied_at: r.outcome.as_ref().map(|o| timestamp(o.at)),
        note: r.outcome.as_ref().map(|o| o.note.clone()).unwrap_or_default(),
    }
}

/// Wire state → core state; `None` for unspecified.
pub fn from_ticket_state(s: v1::TicketState) -> Option<TicketState> {
    TicketState::ALL.into_iter().find(|c| ticket_state(*c) == s)
}

/// Wire cancel reason → core; `None` for unspecified.
pub fn from_cancel_reason(r: v1::CancelReason) -> Option<CancelReason> {
    Some(match r {
        v1::CancelReason::Duplicate => CancelReason::Duplicate,
        v1::CancelReason::Invalid => CancelReason::Invalid,
        v1::CancelReason::OutOfScope => CancelReason::OutOfScope,
        v1::CancelReason::AlreadyFixed => CancelReason::AlreadyFixed,
        v1::CancelReason::Unspecified => return None,
    })
}

fn cancel_reason(r: CancelReason) -> v1::CancelReason {
    match r {
        CancelReason::Duplicate => v1::CancelReason::Duplicate,
        CancelReason::Invalid => v1::CancelReason::Invalid,
        CancelReason::OutOfScope => v1::CancelReason::OutOfScope,
        CancelReason::AlreadyFixed => v1::CancelReason::AlreadyFixed,
    }
}

/// Core manual-queue reason → wire.
pub fn manual_reason(r: ManualReason) -> v1::ManualReason {
    match r {
        ManualReason::NoLocation => v1::ManualReason::NoLocation,
        ManualReason::OutsideGrid => v1::ManualReason::OutsideGrid,
        ManualReason::NoResponsibleSquad => v1::ManualReason::NoResponsibleSquad,
        ManualReason::Returned => v1::ManualReason::Returned,
    }
}

fn from_manual_reason(r: v1::ManualReason) -> Result<ManualReason, DecodeError> {
    Ok(match r {
        v1::ManualReason::NoLocation => ManualReason::NoLocation,
        v1::ManualReason::OutsideGrid => ManualReason::OutsideGrid,
        v1::ManualReason::NoResponsibleSquad => ManualReason::NoResponsibleSquad,
        v1::ManualReason::Returned => ManualReason::Returned,
        v1::ManualReason::Unspecified => return Err(bad("open.manual_reason", "is unspecified for a case without a squad")),
    })
}

fn close_type(c: CloseType) -> v1::CloseType {
    match c {
        CloseType::Normal => v1::CloseType::Normal,
        CloseType::Overdue => v1::CloseType::Overdue,
        CloseType::Special => v1::CloseType::Special,
    }
}

fn light(l: Light) -> v1::Light {
    match l {
        Light::Green => v1::Light::Green,
        Light::Yellow => v1::Light::Yellow,
        Light::Red => v1::Light::Red,
    }
}

fn stage(s: Stage) -> v1::Stage {
    match s {
        Stage::Dispatch => v1::Stage::Dispatch,
        Stage::Handling => v1::Stage::Handling,
        Stage::Check => v1::Stage::Check,
        Stage::Verify => v1::Stage::Verify,
        Stage::Reply => v1::Stage::Reply,
        Stage::Approval => v1::Stage::Approval,
    }
}

/// An urgency as the contract spells it.
pub fn urgency(u: Urgency) -> v1::Urgency {
    match u {
        Urgency::Normal => v1::Urgency::Normal,
        Urgency::Urgent => v1::Urgency::Urgent,
    }
}

/// A client's point converted to WGS84, checked; `None` when absent. Errors name `field`
/// (e.g. `location.lon`, `location.crs`). A `crs` outside the `CoordSystem` enum is refused
/// rather than taken as WGS84: a point in an unknown datum may be half a kilometre off.
pub fn wgs84_point(field: &str, p: Option<&v1::GeoPoint>) -> Result<Option<Point<f64>>, gridd_core::FieldError> {
    let Some(p) = p else { return Ok(None) };
    gridd_core::coords::validate_lon_lat(p.lon, p.lat).map_err(|e| e.within(field))?;
    // `p.crs()` would map an unknown value to the default (unspecified, i.e. WGS84).
    let crs = match v1::CoordSystem::try_from(p.crs) {
        Ok(v1::CoordSystem::Unspecified | v1::CoordSystem::Wgs84) => gridd_core::coords::CoordSystem::Wgs84,
        Ok(v1::CoordSystem::Gcj02) => gridd_core::coords::CoordSystem::Gcj02,
        Ok(v1::CoordSystem::Bd09) => gridd_core::coords::CoordSystem::Bd09,
        Err(_) => {
            let reason = format!(
                "{} is not a coordinate system; use COORD_SYSTEM_WGS84 (1), COORD_SYSTEM_GCJ02 (2), COORD_SYSTEM_BD09 (3) or leave it unset for WGS84",
                p.crs
            );
            return Err(gridd_core::FieldError::new("crs", reason).within(field));
        }
    };
    let (lon, lat) = gridd_core::coords::to_wgs84(crs, p.lon, p.lat);
    Ok(Some(Point::new(lon, lat)))
}

/// A WGS84 point on the wire.
pub fn point(p: Point<f64>) -> v1::GeoPoint {
    v1::GeoPoint { lon: p.x(), lat: p.y(), crs: v1::CoordSystem::Wgs84.into() }
}

/// Core cell reference → wire.
pub fn cell_ref(c: &CellRef) -> v1::CellRef {
    v1::CellRef {
        cell_code: c.cell_code.to_string(),
        street_code: c.street_code.to_string(),
        street_name: c.street_name.clone(),
        community_code: c.community_code.to_string(),
        community_name: c.community_name.clone(),
    }
}

fn from_cell_ref(c: &v1::CellRef) -> Result<CellRef, DecodeError> {
    Ok(CellRef {
        cell_code: CellCode::parse(&c.cell_code).map_err(|e| bad("open.cell.cell_code", e))?,
        street_code: StreetCode::parse(&c.street_code).map_err(|e| bad("open.cell.street_code", e))?,
        street_name: c.street_name.clone(),
        community_code: CommunityCode::parse(&c.community_code).map_err(|e| bad("open.cell.community_code", e))?,
        community_name: c.community_name.clone(),
    })
}

/// Core routing explanation → wire.
pub fn routing(r: &Routing) -> v1::RoutingExplanation {
    v1::RoutingExplanation { rule_id: r.rule_id.clone(), reason: r.reason.clone(), grid_version: r.grid_version.clone() }
}

fn from_routing(r: &v1::RoutingExplanation) -> Routing {
    Routing { rule_id: r.rule_id.clone(), reason: r.reason.clone(), grid_version: r.grid_version.clone() }
}

/// A report as the intake log carries it.
pub fn intake_record(r: &Report) -> v1::IntakeRecord {
    let camera = r.camera.as_ref();
    v1::IntakeRecord {
        reference: r.reference.to_string(),
        channel: channel(r.channel).into(),
        received_at: Some(timestamp(r.received_at)),
        category: r.category.to_string(),
        condition: r.condition.clone().unwrap_or_default(),
        location: r.location.map(point),
        address: r.address.clone(),
        description: r.description.clone(),
        reporter_id: r.reporter_id.clone(),
        contact_phone: r.contact_phone.clone().unwrap_or_default(),
        reply_required: r.reply_required,
        media_urls: r.media_urls.clone(),
        camera_id: camera.map(|c| c.camera_id.to_string()).unwrap_or_default(),
        detection_type: camera.map(|c| c.detection_type.clone()).unwrap_or_default(),
        external_ticket_id: r.external_ticket_id.clone().unwrap_or_default(),
        component_id: r.component_id.clone().unwrap_or_default(),
        observed_at: Some(timestamp(r.observed_at)),
        attach_to: r.attach_to.as_ref().map(ToString::to_string).unwrap_or_default(),
        confidence: r.confidence,
        caller_name: r.caller_name.clone(),
        confidential: r.confidential,
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// An intake log record → report. Intake validated it on the way in; this checks what the
/// downstream roles rely on, so a corrupt record is caught as poison, not acted on.
pub fn report(r: &v1::IntakeRecord) -> Result<Report, DecodeError> {
    if r.reference.is_empty() {
        return Err(bad("reference", "is empty"));
    }
    let received_at = r.received_at.as_ref().map(from_timestamp).ok_or_else(|| bad("received_at", "is missing"))?;
    let location = match &r.location {
        Some(p) if p.lon.is_finite() && p.lat.is_finite() => Some(Point::new(p.lon, p.lat)),
        Some(_) => return Err(bad("location", "is not a finite point")),
        None => None,
    };
    let camera = match (r.camera_id.is_empty(), r.detection_type.is_empty()) {
        (true, true) => None,
        (false, false) => Some(CameraDetection { camera_id: CameraId::new(&r.camera_id), detection_type: r.detection_type.clone() }),
        _ => return Err(bad("camera_id", "camera_id and detection_type come together")),
    };
    Ok(Report {
        reference: Reference::new(&r.reference),
        channel: from_channel(r.channel())?,
        received_at,
        observed_at: r.observed_at.as_ref().map_or(received_at, from_timestamp),
        category: CategoryCode::parse(&r.category).map_err(|e| bad("category", e))?,
        condition: non_empty(&r.condition),
        location,
        address: r.address.clone(),
        description: r.description.clone(),
        reporter_id: r.reporter_id.clone(),
        contact_phone: non_empty(&r.contact_phone),
        reply_required: r.reply_required,
        media_urls: r.media_urls.clone(),
        camera,
        external_ticket_id: non_empty(&r.external_ticket_id),
        component_id: non_empty(&r.component_id),
        attach_to: non_empty(&r.attach_to).map(TicketId::new),
        caller_name: r.caller_name.clone(),
        confidential: r.confidential,
        confidence: r.confidence,
    })
}

/// A router decision as the dispatch log carries it.
pub fn dispatch_decision(d: &Decision) -> v1::DispatchDecision {
    use v1::dispatch_decision::Outcome as Wire;
    let outcome = match &d.outcome {
        Outcome::Open { cell, placement } => {
            let mut open = v1::OpenCase { cell: cell.as_ref().map(cell_ref), ..Default::default() };
            match placement {
                Placement::Assigned { squad, routing: r } => (open.squad_id, open.routing) = (squad.to_string(), Some(routing(r))),
                Placement::Manual { reason, routing: r } => {
                    (open.routing, open.manual_reason) = (r.as_ref().map(routing), manual_reason(*reason).into());
                }
                Placement::Verify { verifier } => (open.verify, open.verifier) = (true, verifier.clone().unwrap_or_default()),
            }
            Wire::Open(open)
        }
        Outcome::Attach { reason } => Wire::Attach(v1::AttachReport { reason: reason.clone() }),
    };
    v1::DispatchDecision { report: Some(intake_record(&d.report)), ticket_id: d.ticket_id.to_string(), outcome: Some(outcome) }
}

/// A dispatch log record → decision.
pub fn decision(d: &v1::DispatchDecision) -> Result<Decision, DecodeError> {
    use v1::dispatch_decision::Outcome as Wire;
    let report = report(d.report.as_ref().ok_or_else(|| bad("report", "is missing"))?)?;
    if d.ticket_id.is_empty() {
        return Err(bad("ticket_id", "is empty"));
    }
    let outcome = match d.outcome.as_ref().ok_or_else(|| bad("outcome", "is missing"))? {
        Wire::Open(open) => {
            let cell = open.cell.as_ref().map(from_cell_ref).transpose()?;
            let routing_opt = open.routing.as_ref().map(from_routing);
            let placement = if open.verify {
                Placement::Verify { verifier: non_empty(&open.verifier) }
            } else if open.squad_id.is_empty() {
                Placement::Manual { reason: from_manual_reason(open.manual_reason())?, routing: routing_opt }
            } else {
                let routing = routing_opt.ok_or_else(|| bad("open.routing", "is missing for an assigned case"))?;
                Placement::Assigned { squad: SquadId::new(&open.squad_id), routing }
            };
            Outcome::Open { cell, placement }
        }
        Wire::Attach(a) => Outcome::Attach { reason: a.reason.clone() },
    };
    Ok(Decision { report, ticket_id: TicketId::new(&d.ticket_id), outcome })
}

/// How many reports a view of a case lists at most: the opening one and the newest. A case a
/// camera repeated ten thousand times still fits a client's message limit, and
/// `report_count` says how many there are.
pub const REPORTS_IN_VIEW: usize = 100;

/// The reports a view lists: all of them up to [`REPORTS_IN_VIEW`], else the opening report
/// and the newest.
fn shown_reports(reports: &[ReportSummary]) -> impl Iterator<Item = &ReportSummary> {
    let newest = reports.len().saturating_sub(REPORTS_IN_VIEW - 1).max(1);
    reports.iter().take(1).chain(reports.iter().skip(newest))
}

fn report_ref(r: &ReportSummary) -> v1::ReportRef {
    v1::ReportRef {
        reference: r.reference.to_string(),
        channel: channel(r.channel).into(),
        received_at: Some(timestamp(r.received_at)),
        reply_required: r.reply_required,
        contact_masked: r.contact_masked.clone(),
        photo_urls: r.photo_urls.clone(),
        // A confidential caller's name stays with the reply task; ticket views (and so the
        // ticket-event log) never carry it.
        caller_name: if r.confidential { String::new() } else { r.caller_name.clone() },
        confidential: r.confidential,
        external_ticket_id: r.external_ticket_id.clone(),
    }
}

/// Names the view of a ticket shows next to codes.
pub struct Names<'a> {
    /// The squad's name (empty if none).
    pub squad: &'a str,
    /// The category's name.
    pub category: &'a str,
}

fn case_link(link: &gridd_core::ticket::CaseLink) -> v1::CaseLink {
    use gridd_core::ticket::CaseLink as L;
    use v1::case_link::Kind;
    let (kind, id) = match link {
        L::MergedInto(id) => (Kind::MergedInto, id),
        L::MergedFrom(id) => (Kind::MergedFrom, id),
        L::SplitFrom(id) => (Kind::SplitFrom, id),
        L::SplitInto(id) => (Kind::SplitInto, id),
    };
    v1::CaseLink { kind: kind.into(), ticket_id: id.to_string() }
}

/// A ticket as clients see it at `now`.
pub fn ticket(t: &Ticket, now: Timestamp, names: Names<'_>) -> v1::Ticket {
    let clock = t.active_clock();
    v1::Ticket {
        id: t.id.to_string(),
        version: t.version,
        state: ticket_state(t.state).into(),
        category: t.category.to_string(),
        category_name: names.category.to_owned(),
        condition: t.condition.clone().unwrap_or_default(),
        urgency: urgency(t.urgency).into(),
        location: t.location.map(point),
        address: t.address.clone(),
        description: t.description.clone(),
        cell: t.cell.as_ref().map(cell_ref),
        squad_id: t.squad.as_ref().map(ToString::to_string).unwrap_or_default(),
        squad_name: names.squad.to_owned(),
        routing: t.routing.as_ref().map(routing),
        manual_reason: t.manual_reason.map_or(v1::ManualReason::Unspecified, manual_reason).into(),
        reports: shown_reports(&t.reports).map(report_ref).collect(),
        created_at: Some(timestamp(t.created_at)),
        dispatched_at: opt_timestamp(t.dispatched_at),
        handling_deadline: opt_timestamp(t.handling.as_ref().map(|h| h.deadline)),
        stage: clock.map_or(v1::Stage::Unspecified, |c| stage(c.stage)).into(),
        stage_deadline: opt_timestamp(clock.map(|c| c.deadline)),
        light: (if clock.is_some() { light(t.light) } else { v1::Light::Unspecified }).into(),
        escalation_level: clock.map_or(0, |c| c.fired_level),
        overdue: t.is_overdue(now),
        rework_count: t.rework_count,
        extension_count: t.extension_count,
        return_count: t.return_count,
        close_type: t.close_type.map_or(v1::CloseType::Unspecified, close_type).into(),
        closed_at: opt_timestamp(t.closed_at),
        cancel_reason: t.cancel_reason.map_or(v1::CancelReason::Unspecified, cancel_reason).into(),
        accepted_on_time: matches!((t.accepted_at, t.accept_deadline), (Some(a), Some(d)) if a <= d),
        resolved_at: opt_timestamp(t.resolved_at),
        resolution_note: t.resolution.as_ref().map(|r| r.note.clone()).unwrap_or_default(),
        resolution_photo_urls: t.resolution.as_ref().map(|r| r.photo_urls.clone()).unwrap_or_default(),
        verifier: t.verifier.clone().unwrap_or_default(),
        not_filed_reason: t.not_filed.map_or(v1::NotFiledReason::Unspecified, not_filed_reason).into(),
        replies: t.replies.iter().map(reply_status).collect(),
        lineage: t.lineage.iter().map(case_link).collect(),
        report_count: t.report_count,
        presses: t
            .presses
            .iter()
            .map(|p| v1::Pressing {
                level: p.level,
                label: String::new(),
                note: p.note.clone(),
                by: p.by.clone(),
                at: Some(timestamp(p.at)),
                reply: p.reply.as_ref().map(|(note, _)| note.clone()).unwrap_or_default(),
                replied_at: p.reply.as_ref().map(|(_, at)| timestamp(*at)),
            })
            .collect(),
        application: t.application.as_ref().map(application),
        dispatch_error_count: t.dispatch_errors,
    }
}

fn application(a: &gridd_core::ticket::Application) -> v1::Application {
    use gridd_core::ticket::ApplicationKind as K;
    let (kind, extension) = match &a.kind {
        K::Extension { extension } => (v1::ApplicationKind::Extension, extension.to_string()),
        K::Suspension => (v1::ApplicationKind::Suspension, String::new()),
        K::Return => (v1::ApplicationKind::Return, String::new()),
    };
    v1::Application {
        kind: kind.into(),
        extension,
        reason: a.reason.clone(),
        applied_by: a.by.clone(),
        applied_at: Some(timestamp(a.clock.started_at)),
        decide_by: Some(timestamp(a.clock.deadline)),
    }
}

#[cfg(test)]
mod tests {
    use gridd_core::ticket::Routing;

    use super::*;

    fn sample_report() -> Report {
        let category = CategoryCode::parse("E0504").expect("valid");
        Report {
            observed_at: Timestamp::from_millis(1_795_000_000_000),
            location: Some(Point::new(118.35, 34.37)),
            description: "店外经营".into(),
            reporter_id: "CAM-0001".into(),
            media_urls: vec!["http://frames/1.jpg".into()],
            camera: Some(CameraDetection { camera_id: CameraId::new("CAM-0001"), detection_type: "occupy_road_business".into() }),
            ..Report::new(Reference::new("261122-0K3F9ZQ2"), Channel::Camera, Timestamp::from_millis(1_795_000_000_123), category)
        }
    }

    #[test]
    fn decisions_round_trip() {
        let d = Decision {
            report: sample_report(),
            ticket_id: TicketId::new("261122-0K3F9ZQ2"),
            outcome: Outcome::Open {
                cell: None,
                placement: Placement::Assigned {
                    squad: SquadId::new("sq-1"),
                    routing: Routing { rule_id: "r".into(), reason: "why".into(), grid_version: "g".into() },
                },
            },
        };
        assert_eq!(decision(&dispatch_decision(&d)), Ok(d));
    }

    #[test]
    fn poison_records_name_the_field() {
        let mut wire = intake_record(&sample_report());
        wire.category = "bogus".into();
        assert_eq!(report(&wire).map_err(|e| e.field), Err("category"));
        let mut wire = intake_record(&sample_report());
        wire.received_at = None;
        assert_eq!(report(&wire).map_err(|e| e.field), Err("received_at"));
    }

    #[test]
    fn unknown_coordinate_systems_are_refused_naming_the_field() {
        for crs in [7, -1, 99, 4] {
            let p = v1::GeoPoint { lon: 118.35, lat: 34.37, crs };
            let e = wgs84_point("location", Some(&p)).expect_err("unknown crs");
            assert_eq!(e.field, "location.crs", "crs {crs}");
            assert!(e.reason.starts_with(&format!("{crs} is not a coordinate system")), "{e}");
        }
        let unset = v1::GeoPoint { lon: 118.35, lat: 34.37, crs: 0 };
        assert_eq!(wgs84_point("location", Some(&unset)), Ok(Some(Point::new(118.35, 34.37))));
        let gcj = v1::GeoPoint { lon: 118.35, lat: 34.37, crs: v1::CoordSystem::Gcj02.into() };
        let moved = wgs84_point("location", Some(&gcj)).expect("valid").expect("present");
        assert_ne!(moved, Point::new(118.35, 34.37), "GCJ-02 is converted");
    }

    #[test]
    fn timestamps_keep_milliseconds_before_the_epoch() {
        let t = Timestamp::from_millis(-1500);
        assert_eq!(from_timestamp(&timestamp(t)), t);
    }
}
