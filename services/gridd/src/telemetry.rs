//! Logs (`tracing`, to stderr, filtered by `RUST_LOG`) and the Prometheus metrics recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How late timers are handled, as a histogram with buckets rather than the exporter's default
/// summary: the promise is "within 1 s of the due time", and a bucket at 1 s counts, since the
/// process started, how many kept it; a summary only shows quantiles of its last window.
const TIMER_LATENESS: &str = "gridd_timer_lateness_seconds";
const TIMER_LATENESS_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// Installs the log subscriber; `default_filter` applies when `RUST_LOG` is not set. Safe to
/// call twice (the second call does nothing).
pub fn init_tracing(default_filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// The process-wide Prometheus recorder (installed on first use), for `/metrics`.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(TIMER_LATENESS.into()), TIMER_LATENESS_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first (an embedding program's);
            // metrics then go there and /metrics shows what this recorder saw.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!("gridd_intake_records_total", "Reports durably accepted, per channel");
    metrics::describe_counter!("gridd_camera_alerts_rejected_total", "Camera alerts rejected by validation");
    metrics::describe_histogram!(
        "gridd_router_decide_seconds",
        metrics::Unit::Seconds,
        "Time to locate, deduplicate and assign one report"
    );
    metrics::describe_counter!("gridd_router_decisions_total", "Router decisions, per outcome (assigned, manual, merged)");
    metrics::describe_gauge!("gridd_log_lag", "Records a consumer has not processed yet (per topic partition in the distributed mode)");
    metrics::describe_counter!("gridd_escalations_total", "Escalations fired, per ladder level");
    metrics::describe_counter!("gridd_dead_letters_total", "Records kept as dead letters, per topic");
    metrics::describe_gauge!("gridd_tickets_open", "Cases not finished yet, per state (suspended included)");
    metrics::describe_gauge!("gridd_tickets_overdue", "Open tickets past their running deadline");
    metrics::describe_gauge!(
        "gridd_log_group_lag",
        "Records a consumer group owes on each partition (high watermark less its committed offset), held or not"
    );
    metrics::describe_histogram!("gridd_log_send_seconds", metrics::Unit::Seconds, "Time from handing records to the broker to its answer");
    metrics::describe_histogram!("gridd_driver_batch_records", "Records per batch a router or tracker applied together");
    metrics::describe_histogram!("gridd_driver_batch_seconds", metrics::Unit::Seconds, "Time to apply one batch, per role");
    metrics::describe_histogram!(
        "gridd_store_commit_seconds",
        metrics::Unit::Seconds,
        "Time the embedded store's one writer took to run and commit one group of writes, its fsync included (a group of the roles' batches alone commits without one)"
    );
    metrics::describe_histogram!("gridd_store_group_writes", "Writes the embedded store committed together in one group");
    metrics::describe_histogram!("gridd_intake_coalesced_requests", "Intake requests appended together in one call (distributed mode)");
    metrics::describe_counter!("gridd_log_trimmed_records_total", "Consumed records deleted from the embedded log by retention, per topic");
    metrics::describe_counter!("gridd_driver_retries_total", "Batches tried again after a failure that may pass, per role");
    metrics::describe_histogram!(
        TIMER_LATENESS,
        metrics::Unit::Seconds,
        "How long after its due time a timer (warning light, 督办 level, accept deadline) was handled"
    );
}
