//! The intake role: takes reports from the four channels, validates and normalises them
//! (coordinates to WGS84, categories against the catalogue, lengths), gives each a reference,
//! and acknowledges only after the record is durably appended to the intake log.
//!
//! Idempotency: every request carries a client key (camera alerts use camera id + alert id).
//! A retry with the same key and the same content gets the same reference and writes nothing;
//! the same key with different content is refused, because answering it with the earlier
//! reference would silently drop the second report.
//!
//! - [`Intake`]: the role's API, used by the gRPC adapter and by tests;
//! - [`grpc::IntakeGrpc`]: `IntakeService` over tonic;
//! - [`Coalesced`]: concurrent requests appended together, for the distributed sink.

use std::sync::Arc;

use geo::Point;
use gridd_config::{CityConfig, CityHandle};
use gridd_core::FieldError;
use gridd_core::error::quote;
use gridd_core::ids::{CameraId, Reference, TicketId, validate_phone, validate_text, validate_token, validate_url, validate_urls};
use gridd_core::report::{CameraDetection, Channel, Report};
use gridd_core::time::{Clock, Timestamp};
use gridd_proto::v1;
use gridd_store::{IntakeKeyEntry, Store, StoreError, WriteTx, topics};
use std::future::Future;

mod coalesce;
pub mod grpc;
mod refs;

pub use coalesce::Coalesced;
pub use refs::ReferenceGenerator;

/// Longest client token (ids, idempotency keys).
const MAX_TOKEN: usize = 128;
/// Longest address text, in characters.
const MAX_ADDRESS: usize = 200;
/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 2000;
/// How far in the future a camera's clock may run before its alert is refused.
const CAMERA_CLOCK_SKEW_MS: i64 = 60_000;
/// How long before now a camera alert may have been detected and still be filed: 7 days.
/// A camera gateway that was offline sends its backlog when it is back, and a week covers a
/// long holiday outage; a detection older than that describes a street that has long
/// changed, would open a case already overdue and could not be merged with the reports of
/// the time (the duplicate windows are minutes to hours), so it is refused, not dispatched.
const CAMERA_MAX_AGE_MS: i64 = 7 * 24 * 3_600_000;
/// 2000-01-01T00:00:00Z. No camera alert is detected earlier: a `detected_at` before it comes
/// from a camera whose clock was never set (1970) or from an unset timestamp (year 1).
const CAMERA_EARLIEST_MS: i64 = 946_684_800_000;

/// Why a report was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntakeError {
    /// A field is wrong; nothing was written.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The idempotency key was used before for a different report.
    #[error("idempotency key {key:?} was already used for a different report ({reference})")]
    KeyReused {
        /// The key as the client sent it.
        key: String,
        /// The reference of the earlier report.
        reference: Reference,
    },
    /// The store could not take it; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log (Kafka) did not take it in time; nothing was acknowledged.
    #[error("log unavailable: {0}")]
    LogUnavailable(String),
}

impl IntakeError {
    /// The gRPC status for this error.
    pub fn status(&self) -> tonic::Status {
        match self {
            IntakeError::Invalid(e) => gridd_proto::status::invalid_argument(e),
            IntakeError::KeyReused { .. } => tonic::Status::already_exists(self.to_string()),
            IntakeError::Store(e) => gridd_proto::status::unavailable("intake", e),
            IntakeError::LogUnavailable(e) => gridd_proto::status::unavailable("intake", e),
        }
    }
}

use gridd_proto::tonic;

/// A report accepted (or recognised as already accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Its reference.
    pub reference: Reference,
    /// When it was first accepted.
    pub received_at: Timestamp,
    /// True if this was a retry of an accepted report.
    pub replayed: bool,
}

/// A validated report waiting for its reference and its append.
#[derive(Debug, Clone)]
pub struct Draft {
    idempotency_key: String,
    client_key: String,
    fingerprint: String,
    report: Report,
}

/// Where accepted reports go: the embedded store's log ([`StoreLog`]), or Kafka with the
/// idempotency keys in the shared database ([`KafkaLog`]).
pub trait IntakeSink: Send + Sync + 'static {
    /// Appends stamped drafts durably; one result per draft, in order. Only when this returns
    /// are the accepted ones acknowledged.
    fn append(&self, drafts: Vec<Draft>) -> impl Future<Output = Result<Vec<Result<Accepted, IntakeError>>, IntakeError>> + Send;
}

/// The embedded mode's sink: key, report and log record in one store transaction.
pub struct StoreLog<S>(pub S);

impl<S: Store> IntakeSink for StoreLog<S> {
    async fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Result<Accepted, IntakeError>>, IntakeError> {
        Ok(self.0.write(move |tx| drafts.iter().map(|d| append_draft(tx, d)).collect::<Result<Vec<_>, _>>()).await?)
    }
}

/// The distributed mode's sink. For a batch (one report, or a camera stream's chunk): every key
/// is reserved in one database transaction, the new records are sent to Kafka together (each
/// waiting for `acks=all`), then the reports are recorded in one more transaction. A retry after
/// a failure in between finds the reservation and sends the same record again under the same
/// reference; the router and tracker take a record they have seen as a no-op.
pub struct KafkaLog<S> {
    store: S,
    producer: gridd_log::KafkaProducer,
}

impl<S> KafkaLog<S> {
    /// A sink recording keys in `store` and sending to `producer`.
    pub fn new(store: S, producer: gridd_log::KafkaProducer) -> Self {
        Self { store, producer }
    }
}

/// What a key reservation found.
enum Reserved {
    /// Already accepted (or the key names another report).
    Done(Result<Accepted, IntakeError>),
    /// To be sent under this reference and time (new, or left half-done by a failed attempt).
    Send { reference: Reference, received_at: Timestamp },
}

fn reserve(tx: &mut dyn WriteTx, d: &Draft) -> Result<Reserved, StoreError> {
    if let Some(earlier) = tx.intake_key(&d.idempotency_key)? {
        if earlier.fingerprint != d.fingerprint {
            return Ok(Reserved::Done(Err(IntakeError::KeyReused { key: d.client_key.clone(), reference: earlier.reference })));
        }
        if tx.report_status(&earlier.reference)? != gridd_store::ReportStatus::Unknown {
            return Ok(Reserved::Done(Ok(Accepted { reference: earlier.reference, received_at: earlier.received_at, replayed: true })));
        }
        return Ok(Reserved::Send { reference: earlier.reference, received_at: earlier.received_at });
    }
    if let Err(e) = check_attach(tx, &d.report)? {
        return Ok(Reserved::Done(Err(e)));
    }
    let r = &d.report;
    tx.put_intake_key(
        &d.idempotency_key,
        &IntakeKeyEntry { fingerprint: d.fingerprint.clone(), reference: r.reference.clone(), received_at: r.received_at },
    )?;
    Ok(Reserved::Send { reference: r.reference.clone(), received_at: r.received_at })
}

/// A draft of a batch after its reservation: answered already, or a report to send.
enum Slot {
    Answered(Result<Accepted, IntakeError>),
    ToSend(Box<Report>),
}

/// Turns reservations into slots. A key repeated within the batch reserves the same reference
/// twice; its later copies are answered as retries of the first rather than sent again.
fn slots(drafts: Vec<Draft>, reserved: Vec<Reserved>) -> Vec<Slot> {
    let mut sending = std::collections::HashSet::new();
    drafts
        .into_iter()
        .zip(reserved)
        .map(|(draft, reserved)| match reserved {
            Reserved::Done(result) => Slot::Answered(result),
            Reserved::Send { reference, received_at } if !sending.insert(reference.clone()) => {
                Slot::Answered(Ok(Accepted { reference, received_at, replayed: true }))
            }
            Reserved::Send { reference, received_at } => {
                let mut report = draft.report;
                report.reference = reference;
                report.received_at = received_at;
                if report.channel != Channel::Camera {
                    report.observed_at = received_at;
                }
                Slot::ToSend(Box::new(report))
            }
        })
        .collect()
}

impl<S: Store> KafkaLog<S> {
    /// Sends the reports' intake records together; fails if any did not reach the broker.
    async fn send(&self, reports: &[&Report]) -> Result<(), IntakeError> {
        let records: Vec<(String, Vec<u8>)> = reports
            .iter()
            .map(|r| (partition_key(r), gridd_proto::prost::Message::encode_to_vec(&gridd_proto::intake_record(r))))
            .collect();
        let records: Vec<(&str, &[u8])> = records.iter().map(|(key, payload)| (key.as_str(), payload.as_slice())).collect();
        match self.producer.send_all(gridd_log::topics::INTAKE, &records).await.into_iter().find_map(Result::err) {
            Some(e) => Err(IntakeError::LogUnavailable(e.to_string())),
            None => Ok(()),
        }
    }
}

impl<S: Store> IntakeSink for KafkaLog<S> {
    async fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Result<Accepted, IntakeError>>, IntakeError> {
        let batch = drafts.clone();
        let reserved = self.store.write(move |tx| batch.iter().map(|d| reserve(tx, d)).collect::<Result<Vec<_>, _>>()).await?;
        let slots = slots(drafts, reserved);
        let to_send: Vec<&Report> = slots.iter().filter_map(|s| if let Slot::ToSend(r) = s { Some(&**r) } else { None }).collect();
        self.send(&to_send).await?;
        let sent: Vec<(Reference, Channel, Timestamp)> = to_send.iter().map(|r| (r.reference.clone(), r.channel, r.received_at)).collect();
        self.store.write(move |tx| sent.iter().try_for_each(|(reference, channel, at)| tx.put_report(reference, *channel, *at))).await?;
        Ok(slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Answered(result) => result,
                Slot::ToSend(report) => {
                    metrics::counter!("gridd_intake_records_total", "channel" => report.channel.name()).increment(1);
                    Ok(Accepted { reference: report.reference, received_at: report.received_at, replayed: false })
                }
            })
            .collect())
    }
}

/// The intake role.
pub struct Intake<K> {
    sink: K,
    city: CityHandle,
    clock: Arc<dyn Clock>,
    refs: ReferenceGenerator,
}

impl<K: IntakeSink> Intake<K> {
    /// Intake into `sink` for `city`, handing out references as `node`.
    pub fn new(sink: K, city: CityHandle, clock: Arc<dyn Clock>, node: u8) -> Self {
        let offset = city.current().calendar.offset();
        Self { sink, city, clock, refs: ReferenceGenerator::new(node, offset) }
    }

    /// Validates and appends a hotline call.
    pub async fn hotline(&self, req: &v1::LogHotlineCallRequest, caller: &str) -> Result<Accepted, IntakeError> {
        let draft = validate_hotline(&self.city.current(), req, caller)?;
        self.append_one(draft).await
    }

    /// Validates and appends a citizen report.
    pub async fn citizen(&self, req: &v1::SubmitCitizenReportRequest, caller: &str) -> Result<Accepted, IntakeError> {
        let draft = validate_citizen(&self.city.current(), req, caller)?;
        self.append_one(draft).await
    }

    /// Validates and appends a patrol report.
    pub async fn patrol(&self, req: &v1::SubmitPatrolReportRequest, caller: &str) -> Result<Accepted, IntakeError> {
        let draft = validate_patrol(&self.city.current(), req, caller)?;
        self.append_one(draft).await
    }

    /// Validates one camera alert (for batching with [`Intake::append`]).
    pub fn validate_camera(&self, alert: &v1::CameraAlert) -> Result<Draft, FieldError> {
        validate_camera(&self.city.current(), alert, self.clock.now())
    }

    async fn append_one(&self, draft: Draft) -> Result<Accepted, IntakeError> {
        let mut results = self.append(vec![draft]).await?;
        results.pop().unwrap_or_else(|| Err(IntakeError::Store(StoreError::Backend("empty append result".into()))))
    }

    /// Gives each draft its reference and time and appends them; one result per draft, in
    /// order. Only when this returns are the accepted ones acknowledged.
    pub async fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Result<Accepted, IntakeError>>, IntakeError> {
        let now = self.clock.now();
        let stamped: Vec<Draft> = drafts
            .into_iter()
            .map(|mut d| {
                d.report.reference = self.refs.next(now);
                d.report.received_at = now;
                if d.report.channel != Channel::Camera {
                    d.report.observed_at = now;
                }
                d
            })
            .collect();
        let results = self.sink.append(stamped).await?;
        for accepted in results.iter().flatten().filter(|a| !a.replayed) {
            tracing::debug!(reference = %accepted.reference, "report accepted");
        }
        Ok(results)
    }
}

/// A call the operator merges into a case explicitly must name an open case. Checked after
/// the idempotency key, so a retry of an accepted call is answered even if the case has
/// closed since.
fn check_attach(tx: &mut dyn WriteTx, r: &Report) -> Result<Result<(), IntakeError>, StoreError> {
    let Some(id) = &r.attach_to else { return Ok(Ok(())) };
    let refused = |reason: String| Ok(Err(IntakeError::Invalid(FieldError::new("attach_to", reason))));
    match tx.ticket(id)? {
        None => refused(format!("{} is not a case number", quote(id.as_str()))),
        Some(t) if t.state.is_terminal() => refused(format!("case {id} is {} and takes no more reports", t.state.name())),
        Some(_) => Ok(Ok(())),
    }
}

fn append_draft(tx: &mut dyn WriteTx, d: &Draft) -> Result<Result<Accepted, IntakeError>, StoreError> {
    if let Some(earlier) = tx.intake_key(&d.idempotency_key)? {
        if earlier.fingerprint != d.fingerprint {
            return Ok(Err(IntakeError::KeyReused { key: d.client_key.clone(), reference: earlier.reference }));
        }
        return Ok(Ok(Accepted { reference: earlier.reference, received_at: earlier.received_at, replayed: true }));
    }
    if let Err(e) = check_attach(tx, &d.report)? {
        return Ok(Err(e));
    }
    let r = &d.report;
    let entry = IntakeKeyEntry { fingerprint: d.fingerprint.clone(), reference: r.reference.clone(), received_at: r.received_at };
    tx.put_intake_key(&d.idempotency_key, &entry)?;
    tx.put_report(&r.reference, r.channel, r.received_at)?;
    let payload = gridd_proto::prost::Message::encode_to_vec(&gridd_proto::intake_record(r));
    tx.append_log(topics::INTAKE, &partition_key(r), &payload, r.received_at)?;
    metrics::counter!("gridd_intake_records_total", "channel" => r.channel.name()).increment(1);
    Ok(Ok(Accepted { reference: r.reference.clone(), received_at: r.received_at, replayed: false }))
}

/// The intake log key: reports of one place (a ~5 km square) or one camera meet in one
/// router partition, so duplicates can be merged there.
fn partition_key(r: &Report) -> String {
    match (&r.camera, r.location) {
        (Some(c), _) => format!("camera:{}", c.camera_id),
        (None, Some(p)) => format!("area:{}:{}", (p.x() / 0.05).floor() as i64, (p.y() / 0.05).floor() as i64),
        (None, None) => "area:none".into(),
    }
}

/// FNV-1a over the report's content: stable across builds, so stored fingerprints stay
/// comparable after an upgrade.
fn fingerprint(r: &Report) -> String {
    let mut text = format!(
        "{}|{}|{}|{:?}|{}|{}|{}|{:?}|{}|{:?}|{:?}|{:?}|{:?}",
        r.channel.name(),
        r.category,
        r.condition.as_deref().unwrap_or(""),
        r.location.map(|p| (format!("{:.6}", p.x()), format!("{:.6}", p.y()))),
        r.address,
        r.description,
        r.reporter_id,
        r.contact_phone,
        r.reply_required,
        r.camera.as_ref().map(CameraDetection::repeat_key),
        r.external_ticket_id,
        r.component_id,
        r.media_urls,
    );
    // Appended only when set, so the fingerprints of reports stored before these fields
    // existed stay the same.
    if let Some(case) = &r.attach_to {
        text.push_str(&format!("|attach:{case}"));
    }
    if !r.caller_name.is_empty() || r.confidential {
        text.push_str(&format!("|caller:{}:{}", r.caller_name, r.confidential));
    }
    if r.channel == Channel::Camera {
        text.push_str(&r.observed_at.millis().to_string());
    }
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{hash:016x}")
}

fn point(field: &str, p: Option<&v1::GeoPoint>, required: bool) -> Result<Option<Point<f64>>, FieldError> {
    match gridd_proto::wgs84_point(field, p)? {
        None if required => Err(FieldError::new(field, "is required")),
        point => Ok(point),
    }
}

/// The fields every channel shares.
struct Common<'a> {
    channel: Channel,
    idempotency_key: &'a str,
    category: &'a str,
    condition: &'a str,
    location: Option<Point<f64>>,
    address: &'a str,
    description: &'a str,
    reporter_id: String,
    /// The signed-in caller, for the unary channels: their idempotency keys are the caller's
    /// own, so two callers who pick the same key never see each other's reports. Camera
    /// alerts are keyed by camera instead.
    caller: Option<&'a str>,
}

fn draft(city: &CityConfig, c: Common<'_>, fill: impl FnOnce(&mut Report)) -> Result<Draft, FieldError> {
    validate_token("idempotency_key", c.idempotency_key, MAX_TOKEN)?;
    let terms = city.catalogue.terms(c.category.trim(), c.condition.trim())?;
    validate_text("address", c.address, MAX_ADDRESS, false)?;
    validate_text("description", c.description, MAX_DESCRIPTION, true)?;
    let mut report = Report {
        condition: terms.condition.map(str::to_owned),
        location: c.location,
        address: c.address.trim().to_owned(),
        description: c.description.trim().to_owned(),
        reporter_id: c.reporter_id,
        // The reference and times are given when the report is accepted.
        ..Report::new(Reference::new(""), c.channel, Timestamp::from_millis(0), terms.class.code.clone())
    };
    fill(&mut report);
    Ok(Draft {
        idempotency_key: match c.caller {
            Some(caller) => format!("{}/{caller}/{}", c.channel.name(), c.idempotency_key),
            None => format!("{}/{}", c.channel.name(), c.idempotency_key),
        },
        client_key: c.idempotency_key.to_owned(),
        fingerprint: fingerprint(&report),
        report,
    })
}

fn validate_hotline(city: &CityConfig, req: &v1::LogHotlineCallRequest, caller: &str) -> Result<Draft, FieldError> {
    validate_token("idempotency_key", &req.idempotency_key, MAX_TOKEN)?;
    if req.hotline() == v1::Hotline::Unspecified {
        return Err(FieldError::new("hotline", "must be HOTLINE_12345 or HOTLINE_12319"));
    }
    let person = req.caller.clone().unwrap_or_default();
    validate_text("caller.name", &person.name, 50, false)?;
    let contact = validate_phone("caller.phone", &person.phone)?;
    if person.reply_required && contact.is_none() {
        return Err(FieldError::new("caller.phone", "is required when caller.reply_required is set"));
    }
    if !req.external_ticket_id.is_empty() {
        validate_token("external_ticket_id", &req.external_ticket_id, MAX_TOKEN)?;
    }
    if !req.attach_to.is_empty() {
        validate_token("attach_to", &req.attach_to, MAX_TOKEN)?;
    }
    let location = point("location", req.location.as_ref(), false)?;
    let common = Common {
        channel: Channel::Hotline,
        idempotency_key: &req.idempotency_key,
        category: &req.category,
        condition: &req.condition,
        location,
        address: &req.address,
        description: &req.description,
        reporter_id: caller.to_owned(),
        caller: Some(caller),
    };
    draft(city, common, |r| {
        r.contact_phone = contact;
        r.reply_required = person.reply_required;
        r.external_ticket_id = Some(req.external_ticket_id.clone()).filter(|s| !s.is_empty());
        r.attach_to = Some(req.attach_to.trim()).filter(|s| !s.is_empty()).map(TicketId::new);
        r.caller_name = person.name.trim().to_owned();
        r.confidential = person.confidential;
    })
}

fn validate_citizen(city: &CityConfig, req: &v1::SubmitCitizenReportRequest, caller: &str) -> Result<Draft, FieldError> {
    validate_token("idempotency_key", &req.idempotency_key, MAX_TOKEN)?;
    validate_token("citizen_id", &req.citizen_id, MAX_TOKEN)?;
    let contact = validate_phone("phone", &req.phone)?;
    if req.reply_required && contact.is_none() {
        return Err(FieldError::new("phone", "is required when reply_required is set"));
    }
    let location = point("location", req.location.as_ref(), true)?;
    validate_urls("photo_urls", &req.photo_urls)?;
    let media = req.photo_urls.clone();
    let common = Common {
        channel: Channel::Citizen,
        idempotency_key: &req.idempotency_key,
        category: &req.category,
        condition: &req.condition,
        location,
        address: &req.address,
        description: &req.description,
        reporter_id: req.citizen_id.clone(),
        caller: Some(caller),
    };
    draft(city, common, |r| {
        r.contact_phone = contact;
        r.reply_required = req.reply_required;
        r.media_urls = media;
    })
}

fn validate_patrol(city: &CityConfig, req: &v1::SubmitPatrolReportRequest, caller: &str) -> Result<Draft, FieldError> {
    validate_token("idempotency_key", &req.idempotency_key, MAX_TOKEN)?;
    let location = point("location", req.location.as_ref(), true)?;
    validate_urls("photo_urls", &req.photo_urls)?;
    let media = req.photo_urls.clone();
    let component_ok = req.component_id.len() == 16 && req.component_id.bytes().all(|b| b.is_ascii_digit());
    if !req.component_id.is_empty() && !component_ok {
        return Err(FieldError::new("component_id", "a component id (部件标识码) is 16 digits"));
    }
    let common = Common {
        channel: Channel::Patrol,
        idempotency_key: &req.idempotency_key,
        category: &req.category,
        condition: &req.condition,
        location,
        address: &req.address,
        description: &req.description,
        reporter_id: caller.to_owned(),
        caller: Some(caller),
    };
    draft(city, common, |r| {
        r.media_urls = media;
        r.component_id = Some(req.component_id.clone()).filter(|s| !s.is_empty());
    })
}

fn validate_camera(city: &CityConfig, alert: &v1::CameraAlert, now: Timestamp) -> Result<Draft, FieldError> {
    validate_token("camera_id", &alert.camera_id, MAX_TOKEN)?;
    let camera = city
        .cameras
        .get(&CameraId::new(alert.camera_id.as_str()))
        .ok_or_else(|| FieldError::new("camera_id", format!("{} is not in the camera registry", quote(&alert.camera_id))))?;
    validate_token("alert_id", &alert.alert_id, MAX_TOKEN)?;
    let (category, label) = city
        .detections
        .get(alert.detection_type.as_str())
        .ok_or_else(|| FieldError::new("detection_type", format!("{} is not a configured detection", quote(&alert.detection_type))))?;
    if !(alert.confidence.is_finite() && alert.confidence <= 1.0) {
        return Err(FieldError::new("confidence", "must be a number from 0 to 1"));
    }
    if alert.confidence < city.camera_min_confidence {
        return Err(FieldError::new(
            "confidence",
            format!("{} is below the minimum {} for filing", alert.confidence, city.camera_min_confidence),
        ));
    }
    let detected_at =
        alert.detected_at.as_ref().map(gridd_proto::from_timestamp).ok_or_else(|| FieldError::new("detected_at", "is required"))?;
    if detected_at.millis_since(now) > CAMERA_CLOCK_SKEW_MS {
        return Err(FieldError::new("detected_at", "is in the future; check the camera gateway's clock"));
    }
    if detected_at < Timestamp::from_millis(CAMERA_EARLIEST_MS) {
        return Err(FieldError::new("detected_at", "is before 2000-01-01; check the camera's clock"));
    }
    if now.millis_since(detected_at) > CAMERA_MAX_AGE_MS {
        let days = CAMERA_MAX_AGE_MS / 86_400_000;
        return Err(FieldError::new("detected_at", format!("is more than {days} days ago; alerts that old are not filed")));
    }
    let frame = if alert.frame_url.is_empty() {
        Vec::new()
    } else {
        validate_url("frame_url", &alert.frame_url)?;
        vec![alert.frame_url.clone()]
    };
    let location = point("location", alert.location.as_ref(), false)?.unwrap_or(camera.location);
    let description = format!("{label} ({} {:.0}%)", camera.name, alert.confidence * 100.0);
    let common = Common {
        channel: Channel::Camera,
        idempotency_key: &format!("{}/{}", alert.camera_id, alert.alert_id),
        category: category.as_str(),
        condition: "",
        location: Some(location),
        address: &camera.name,
        description: &description,
        reporter_id: alert.camera_id.clone(),
        caller: None,
    };
    let mut d = draft(city, common, |r| {
        r.media_urls = frame;
        r.observed_at = detected_at;
        r.camera = Some(CameraDetection { camera_id: camera.id.clone(), detection_type: alert.detection_type.clone() });
        r.confidence = Some(alert.confidence);
    })?;
    d.fingerprint = fingerprint(&d.report);
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_group_places_and_cameras() {
        let category = gridd_core::category::CategoryCode::parse("E0102").expect("code");
        let mut r = Report {
            location: Some(Point::new(118.351, 34.371)),
            ..Report::new(Reference::new("r"), Channel::Citizen, Timestamp::from_millis(0), category)
        };
        let here = partition_key(&r);
        r.location = Some(Point::new(118.352, 34.372));
        assert_eq!(partition_key(&r), here, "points 150 m apart share a partition");
        let before = fingerprint(&r);
        r.description = "other".into();
        assert_ne!(fingerprint(&r), before, "different content, different fingerprint");
        r.camera = Some(CameraDetection { camera_id: CameraId::new("CAM-0001"), detection_type: "x".into() });
        assert_eq!(partition_key(&r), "camera:CAM-0001");
    }

    #[test]
    fn phones() {
        assert_eq!(validate_phone("p", "+8613812345678"), Ok(Some("+8613812345678".into())));
        assert_eq!(validate_phone("p", ""), Ok(None));
        assert_eq!(validate_phone("p", "12-34").map_err(|e| e.field), Err("p".into()));
    }

    /// The demo city, loaded once.
    fn city() -> &'static CityConfig {
        static CITY: std::sync::OnceLock<CityConfig> = std::sync::OnceLock::new();
        CITY.get_or_init(|| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/xinyi/city.toml");
            gridd_config::load_city(&path).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    fn citizen() -> v1::SubmitCitizenReportRequest {
        v1::SubmitCitizenReportRequest {
            idempotency_key: "k-1".into(),
            citizen_id: "u-1".into(),
            category: "E0102".into(),
            location: Some(v1::GeoPoint { lon: 118.3546, lat: 34.3725, crs: v1::CoordSystem::Wgs84.into() }),
            description: "垃圾暴露".into(),
            photo_urls: vec!["https://img.example.cn/1.jpg".into()],
            ..Default::default()
        }
    }

    fn patrol() -> v1::SubmitPatrolReportRequest {
        v1::SubmitPatrolReportRequest {
            idempotency_key: "k-1".into(),
            category: "E0102".into(),
            location: Some(v1::GeoPoint { lon: 118.3546, lat: 34.3725, crs: v1::CoordSystem::Wgs84.into() }),
            description: "垃圾暴露".into(),
            ..Default::default()
        }
    }

    /// Now, for the camera tests: 2026-11-22T01:30:00Z.
    const NOW_MS: i64 = 1_795_311_000_000;

    fn alert(detected_ms: i64) -> v1::CameraAlert {
        v1::CameraAlert {
            camera_id: "CAM-0001".into(),
            alert_id: "a-1".into(),
            detection_type: "occupy_road_business".into(),
            confidence: 0.9,
            detected_at: Some(gridd_proto::timestamp(Timestamp::from_millis(detected_ms))),
            frame_url: "https://frames.example.cn/1.jpg".into(),
            location: None,
        }
    }

    fn camera(a: &v1::CameraAlert) -> Result<Draft, FieldError> {
        validate_camera(city(), a, Timestamp::from_millis(NOW_MS))
    }

    #[test]
    fn photo_urls_are_checked_by_the_shared_url_check() {
        assert!(validate_citizen(city(), &citizen(), "app").is_ok());
        let with =
            |urls: Vec<&str>| v1::SubmitCitizenReportRequest { photo_urls: urls.into_iter().map(String::from).collect(), ..citizen() };
        let e = validate_citizen(city(), &with(vec!["https://img.example.cn/a\nb.jpg"]), "app").expect_err("newline");
        assert_eq!(e.field, "photo_urls[0]");
        assert!(e.reason.contains("control characters"), "{e}");
        let e = validate_citizen(city(), &with(vec!["https://x/1.jpg", "javascript:alert(1)"]), "app").expect_err("javascript");
        assert_eq!((e.field.as_str(), e.reason.contains("http or https")), ("photo_urls[1]", true), "{e}");
        let e = validate_citizen(city(), &with(vec!["https://x/1.jpg"; 50]), "app").expect_err("50 photos");
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("photo_urls", "at most 9 URLs, got 50"));

        let e = validate_patrol(
            city(),
            &v1::SubmitPatrolReportRequest { photo_urls: vec!["data:image/png;base64,AA".into()], ..patrol() },
            "p",
        )
        .expect_err("data URL");
        assert_eq!(e.field, "photo_urls[0]");
    }

    #[test]
    fn unknown_coordinate_systems_are_refused() {
        for crs in [7, -1, 99] {
            let mut req = citizen();
            req.location = Some(v1::GeoPoint { lon: 118.3546, lat: 34.3725, crs });
            let e = validate_citizen(city(), &req, "app").expect_err("unknown crs");
            assert_eq!(e.field, "location.crs", "crs {crs}");
            let mut req = patrol();
            req.location = Some(v1::GeoPoint { lon: 118.3546, lat: 34.3725, crs });
            assert_eq!(validate_patrol(city(), &req, "p").err().map(|e| e.field), Some("location.crs".into()));
        }
        let mut a = alert(NOW_MS);
        a.location = Some(v1::GeoPoint { lon: 118.3546, lat: 34.3725, crs: 7 });
        assert_eq!(camera(&a).err().map(|e| e.field), Some("location.crs".into()));
    }

    #[test]
    fn camera_detections_must_be_recent() {
        const HOUR: i64 = 3_600_000;
        assert!(camera(&alert(NOW_MS - HOUR)).is_ok());
        assert!(camera(&alert(NOW_MS - 6 * 24 * HOUR)).is_ok(), "a backlog of a few days is filed");
        let e = camera(&alert(NOW_MS - 8 * 24 * HOUR)).expect_err("8 days old");
        assert_eq!((e.field.as_str(), e.reason.as_str()), ("detected_at", "is more than 7 days ago; alerts that old are not filed"));
        for before_2000 in [0, -62_135_596_800_000, 946_684_799_999] {
            let e = camera(&alert(before_2000)).expect_err("before 2000");
            assert_eq!(e.field, "detected_at");
            assert!(e.reason.contains("before 2000"), "{e}");
        }
        let mut year_one = alert(NOW_MS);
        year_one.detected_at = Some(gridd_proto::prost_types::Timestamp { seconds: i64::MIN, nanos: 0 });
        assert_eq!(camera(&year_one).err().map(|e| e.field), Some("detected_at".into()));
        assert_eq!(camera(&alert(NOW_MS + 2 * HOUR)).err().map(|e| e.field), Some("detected_at".into()), "the future is still refused");
    }

    #[test]
    fn camera_frame_urls_use_the_shared_url_check() {
        for bad in ["javascript:alert(1)", "data:image/jpeg;base64,AA", "https://x/a b.jpg", "https://x/a\r\n.jpg"] {
            let a = v1::CameraAlert { frame_url: bad.into(), ..alert(NOW_MS) };
            assert_eq!(camera(&a).err().map(|e| e.field), Some("frame_url".into()), "{bad}");
        }
        let a = v1::CameraAlert { frame_url: String::new(), ..alert(NOW_MS) };
        assert!(camera(&a).is_ok(), "the frame is optional");
    }

    #[test]
    fn errors_quote_only_a_prefix_of_client_values() {
        let huge = "x".repeat(1 << 20);
        let a = v1::CameraAlert { detection_type: huge.clone(), ..alert(NOW_MS) };
        let e = camera(&a).expect_err("unknown detection");
        assert_eq!(e.field, "detection_type");
        assert!(e.reason.len() < 120 && e.reason.contains("…"), "{e}");
        let a = v1::CameraAlert { camera_id: "CAM-9999".into(), ..alert(NOW_MS) };
        assert_eq!(camera(&a).err().map(|e| e.reason), Some("\"CAM-9999\" is not in the camera registry".into()));
        let req = v1::SubmitCitizenReportRequest { category: huge.clone(), ..citizen() };
        let e = validate_citizen(city(), &req, "app").expect_err("bad category");
        assert!(e.field == "category" && e.reason.len() < 300, "{}", &e.reason[..300.min(e.reason.len())]);
        let req = v1::SubmitCitizenReportRequest { condition: huge, ..citizen() };
        let e = validate_citizen(city(), &req, "app").expect_err("bad condition");
        assert!(e.field == "condition" && e.reason.len() < 300, "{}", &e.reason[..300.min(e.reason.len())]);
    }
}
