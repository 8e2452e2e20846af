//! `IntakeService` over gRPC: a thin adapter that validates through [`Intake`] and maps errors.

use std::sync::Arc;
use std::time::Instant;

use crate::{Accepted, Draft, Intake, IntakeError, IntakeSink};
use gridd_core::FieldError;
use gridd_proto::tonic::{self, Request, Response, Status, Streaming};
use gridd_proto::{timestamp, v1};

/// Camera alerts are appended in batches of this many (one transaction each).
const CAMERA_BATCH: usize = 128;

/// The gRPC adapter.
pub struct IntakeGrpc<K> {
    intake: Arc<Intake<K>>,
}

impl<K> IntakeGrpc<K> {
    /// An adapter over `intake`.
    pub fn new(intake: Arc<Intake<K>>) -> Self {
        Self { intake }
    }
}

fn receipt(a: Accepted) -> Response<v1::IntakeReceipt> {
    Response::new(v1::IntakeReceipt {
        reference: a.reference.to_string(),
        received_at: Some(timestamp(a.received_at)),
        replayed: a.replayed,
    })
}

/// The answer to one report, with the channel's latency and refusals counted for operators.
fn answer(channel: &'static str, started: Instant, result: Result<Accepted, IntakeError>) -> Result<Response<v1::IntakeReceipt>, Status> {
    metrics::histogram!("gridd_intake_seconds", "channel" => channel).record(started.elapsed().as_secs_f64());
    result.map(receipt).map_err(|e| {
        let status = e.status();
        metrics::counter!("gridd_intake_refused_total", "channel" => channel, "code" => gridd_proto::status::http_status(status.code()).1)
            .increment(1);
        status
    })
}

#[tonic::async_trait]
impl<K: IntakeSink> v1::intake_service_server::IntakeService for IntakeGrpc<K> {
    async fn log_hotline_call(&self, request: Request<v1::LogHotlineCallRequest>) -> Result<Response<v1::IntakeReceipt>, Status> {
        let started = Instant::now();
        let caller = gridd_access::grant(&request)?.identity.subject.clone();
        answer("hotline", started, self.intake.hotline(request.get_ref(), &caller).await)
    }

    async fn submit_citizen_report(&self, request: Request<v1::SubmitCitizenReportRequest>) -> Result<Response<v1::IntakeReceipt>, Status> {
        let started = Instant::now();
        let caller = gridd_access::grant(&request)?.identity.subject.clone();
        answer("citizen", started, self.intake.citizen(request.get_ref(), &caller).await)
    }

    async fn submit_patrol_report(&self, request: Request<v1::SubmitPatrolReportRequest>) -> Result<Response<v1::IntakeReceipt>, Status> {
        let started = Instant::now();
        let caller = gridd_access::grant(&request)?.identity.subject.clone();
        answer("patrol", started, self.intake.patrol(request.get_ref(), &caller).await)
    }

    async fn stream_camera_alerts(
        &self,
        request: Request<Streaming<v1::CameraAlert>>,
    ) -> Result<Response<v1::StreamCameraAlertsResponse>, Status> {
        let grant = gridd_access::grant(&request)?;
        let mut stream = request.into_inner();
        let mut response = v1::StreamCameraAlertsResponse::default();
        let mut batch: Vec<(u32, String, Draft)> = Vec::with_capacity(CAMERA_BATCH);
        let mut index: u32 = 0;
        while let Some(alert) = stream.message().await? {
            // The call took one report from the caller's intake rate; each further alert
            // takes one more, and one over the rate is rejected for the gateway to resend.
            let within_rate = if index == 0 { Ok(()) } else { grant.take_report().map_err(|e| FieldError::new("alert_id", e.to_string())) };
            let checked =
                within_rate.and_then(|()| grant.check_camera(&alert.camera_id).map_err(|e| FieldError::new("camera_id", e.to_string())));
            match checked.and_then(|()| self.intake.validate_camera(&alert)) {
                Ok(draft) => batch.push((index, alert.alert_id.clone(), draft)),
                Err(e) => response.rejected.push(v1::RejectedAlert { index, alert_id: alert.alert_id, field: e.field, reason: e.reason }),
            }
            index = index.saturating_add(1);
            if batch.len() >= CAMERA_BATCH {
                self.flush(&mut batch, &mut response).await?;
            }
        }
        self.flush(&mut batch, &mut response).await?;
        metrics::counter!("gridd_camera_alerts_rejected_total").increment(response.rejected.len() as u64);
        Ok(Response::new(response))
    }
}

impl<K: IntakeSink> IntakeGrpc<K> {
    /// Appends a batch; a store failure ends the stream with `UNAVAILABLE` (earlier batches
    /// stay accepted, and a resend of the whole stream is answered as replays).
    async fn flush(&self, batch: &mut Vec<(u32, String, Draft)>, response: &mut v1::StreamCameraAlertsResponse) -> Result<(), Status> {
        if batch.is_empty() {
            return Ok(());
        }
        let (meta, drafts): (Vec<(u32, String)>, Vec<Draft>) = batch.drain(..).map(|(i, id, d)| ((i, id), d)).unzip();
        let results = self.intake.append(drafts).await.map_err(|e| e.status())?;
        for ((index, alert_id), result) in meta.into_iter().zip(results) {
            match result {
                Ok(a) => {
                    response.accepted.push(v1::CameraAlertReceipt { alert_id, reference: a.reference.to_string(), replayed: a.replayed })
                }
                Err(e) => response.rejected.push(v1::RejectedAlert { index, alert_id, field: "alert_id".into(), reason: e.to_string() }),
            }
        }
        Ok(())
    }
}
