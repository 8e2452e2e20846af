//! A validated report as it travels from intake through the router to the tracker.

use geo::Point;
use serde::{Deserialize, Serialize};

use crate::category::CategoryCode;
use crate::ids::{CameraId, Reference, mask_phone};
use crate::time::Timestamp;

/// The channel a report arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// 12345 / 12319 hotline call.
    Hotline,
    /// Citizen app report.
    Citizen,
    /// Grid supervisor's patrol report.
    Patrol,
    /// Video-AI camera alert.
    Camera,
}

impl Channel {
    /// Every channel, in display order.
    pub const ALL: [Channel; 4] = [Channel::Hotline, Channel::Citizen, Channel::Patrol, Channel::Camera];

    /// Lower-case name, used in metrics labels and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Hotline => "hotline",
            Channel::Citizen => "citizen",
            Channel::Patrol => "patrol",
            Channel::Camera => "camera",
        }
    }
}

/// A report accepted by intake: validated, normalised to WGS84, with its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The reference returned to the reporter.
    pub reference: Reference,
    /// Channel.
    pub channel: Channel,
    /// When intake accepted it.
    pub received_at: Timestamp,
    /// When the problem was observed (a camera's detection time), else `received_at`.
    pub observed_at: Timestamp,
    /// Category.
    pub category: CategoryCode,
    /// Filing condition, if any.
    pub condition: Option<String>,
    /// WGS84 location, if the reporter gave one.
    pub location: Option<Point<f64>>,
    /// Address text.
    pub address: String,
    /// Description.
    pub description: String,
    /// Operator, citizen, supervisor or camera id.
    pub reporter_id: String,
    /// Contact phone for the reply, if any.
    pub contact_phone: Option<String>,
    /// True if the reporter must be called back when the case closes.
    pub reply_required: bool,
    /// Photo or frame URLs.
    pub media_urls: Vec<String>,
    /// Camera alerts: the camera and the detector label.
    pub camera: Option<CameraDetection>,
    /// Hotline calls transferred from the 12345 platform: its ticket number.
    pub external_ticket_id: Option<String>,
    /// Patrol reports about a numbered component: its 16-digit id.
    pub component_id: Option<String>,
    /// Hotline calls: the case the operator merged the call into (并案), if any.
    pub attach_to: Option<crate::ids::TicketId>,
    /// The caller's name, if given (hotline calls).
    pub caller_name: String,
    /// True if the caller's identity is confidential (保密).
    pub confidential: bool,
    /// Camera alerts: the detector's confidence, 0..1.
    pub confidence: Option<f32>,
}

/// Which camera saw what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraDetection {
    /// The camera.
    pub camera_id: CameraId,
    /// The detector label.
    pub detection_type: String,
}

impl CameraDetection {
    /// The key camera repeats are merged on: the same camera and detection.
    pub fn repeat_key(&self) -> String {
        format!("{}/{}", self.camera_id, self.detection_type)
    }
}

/// What a ticket keeps of each of its reports. Stored as JSON, one row a report: the parts a
/// report does not have are left out, so that a camera's ten thousand alerts stay small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSummary {
    /// The reference.
    pub reference: Reference,
    /// Channel.
    pub channel: Channel,
    /// When intake accepted it.
    pub received_at: Timestamp,
    /// True if the reporter must get the reply when the case closes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reply_required: bool,
    /// Masked contact for the reply; empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub contact_masked: String,
    /// Photos sent with the report (a citizen's or supervisor's photos, a camera's frame).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photo_urls: Vec<String>,
    /// The caller's name, if given. Kept in the store for the reply; clients see it only where
    /// the report is not confidential.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub caller_name: String,
    /// The caller's phone number, whole, for the reply (回访); clients see it masked, and
    /// only the reply task shows it whole.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub contact_phone: String,
    /// True if the caller's identity is confidential (保密).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confidential: bool,
    /// The 12345 platform's ticket number of a transferred call.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_ticket_id: String,
    /// Who sent it: the supervisor's account for a patrol report (问题发现数 is theirs).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporter: String,
}

impl Report {
    /// A report of what every report has, received and observed `at`, with its optional
    /// parts empty: set the others with struct update syntax (`..Report::new(..)`).
    pub fn new(reference: Reference, channel: Channel, at: Timestamp, category: CategoryCode) -> Self {
        Self {
            reference,
            channel,
            received_at: at,
            observed_at: at,
            category,
            condition: None,
            location: None,
            address: String::new(),
            description: String::new(),
            reporter_id: String::new(),
            contact_phone: None,
            reply_required: false,
            media_urls: Vec::new(),
            camera: None,
            external_ticket_id: None,
            component_id: None,
            attach_to: None,
            caller_name: String::new(),
            confidential: false,
            confidence: None,
        }
    }

    /// The summary a ticket keeps.
    pub fn summary(&self) -> ReportSummary {
        ReportSummary {
            reference: self.reference.clone(),
            channel: self.channel,
            received_at: self.received_at,
            reply_required: self.reply_required,
            contact_masked: self.contact_phone.as_deref().map(mask_phone).unwrap_or_default(),
            photo_urls: self.media_urls.clone(),
            caller_name: self.caller_name.clone(),
            contact_phone: self.contact_phone.clone().unwrap_or_default(),
            confidential: self.confidential,
            external_ticket_id: self.external_ticket_id.clone().unwrap_or_default(),
            reporter: self.reporter_id.clone(),
        }
    }
}

/// The router's decision for one report, as appended to the dispatch log.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The report decided on.
    pub report: Report,
    /// The case it opens or joins.
    pub ticket_id: crate::ids::TicketId,
    /// Open or attach.
    pub outcome: Outcome,
}

/// What the report does.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It opens a new case.
    Open {
        /// Where it lies, if located.
        cell: Option<crate::grid::CellRef>,
        /// Squad or manual queue.
        placement: crate::ticket::Placement,
    },
    /// It joins an existing case (并案).
    Attach {
        /// Why it is a duplicate.
        reason: String,
    },
}
