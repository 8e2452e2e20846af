//! Retention of the embedded log: consumed records are deleted once they are older than the
//! topic's retention. The store decides what may go ([`gridd_store::WriteTx::trim_log`]): a prefix of the
//! log that every consumer has read, never the newest record. This task only decides when.
//!
//! The ticket-event log is the cases' history, so it is not trimmed by age: when configured, a
//! finished case's events go that long after its last change
//! ([`gridd_store::WriteTx::trim_finished_histories`]), and an open case keeps them all.

use std::sync::Arc;
use std::time::Duration;

use gridd_core::time::{Clock, Timestamp};
use gridd_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

/// Records deleted per transaction, so a trim never holds the store's one writer for long:
/// intake goes on between two batches.
const TRIM_BATCH: usize = 2_000;

/// Ticket events looked at per transaction when trimming histories. Fewer than [`TRIM_BATCH`]:
/// each case found there costs a lookup and a delete of its own, and the writer is held for
/// all of them.
const HISTORY_WINDOW: usize = 500;

/// The longest wait between two trims.
const LONGEST_PERIOD: Duration = Duration::from_secs(60);

/// The shortest: a trim is a transaction of its own, not worth running more often.
const SHORTEST_PERIOD: Duration = Duration::from_secs(1);

/// How long one topic's consumed records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The topic (a `gridd_store::topics` name).
    pub topic: &'static str,
    /// How long its consumed records are kept.
    pub keep: Duration,
}

/// Trims each topic to its retention, and finished cases' histories to `finished_cases` when
/// set, until shutdown. A record outlives its retention by at most half of it (and never by
/// more than a minute), plus the time its consumers take.
pub async fn keep_logs_trimmed<S: Store>(
    store: S,
    clock: Arc<dyn Clock>,
    rules: Vec<Retention>,
    finished_cases: Option<Duration>,
    shutdown: CancellationToken,
) {
    let period = trim_period(rules.iter().map(|r| r.keep).chain(finished_cases));
    loop {
        // Owned values only across the awaits: borrows of generic values there make the
        // future not `Send` for the spawner.
        for rule in rules.clone() {
            if let Err(e) = trim_topic(store.clone(), clock.now(), rule).await {
                // The next round tries again; the records are only kept longer meanwhile.
                tracing::warn!(topic = rule.topic, error = %e, "trimming the log failed");
            }
        }
        if let Some(keep) = finished_cases
            && let Err(e) = trim_finished_histories(store.clone(), clock.now(), keep).await
        {
            tracing::warn!(error = %e, "trimming finished cases' histories failed");
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Half the shortest retention, within [`SHORTEST_PERIOD`] and [`LONGEST_PERIOD`].
fn trim_period(retentions: impl Iterator<Item = Duration>) -> Duration {
    let shortest = retentions.min().unwrap_or(LONGEST_PERIOD);
    (shortest / 2).clamp(SHORTEST_PERIOD, LONGEST_PERIOD)
}

/// Deletes `rule.topic`'s consumed records appended before `now - rule.keep`, a batch per
/// transaction; returns how many.
async fn trim_topic<S: Store>(store: S, now: Timestamp, rule: Retention) -> Result<u64, StoreError> {
    let before = cutoff(now, rule.keep);
    let mut total = 0;
    loop {
        // An owned topic: a `&'static str` captured here would make the future not `Send` to the
        // compiler (rust-lang/rust#110338).
        let topic = rule.topic.to_owned();
        let deleted = store.write(move |tx| tx.trim_log(&topic, before, TRIM_BATCH)).await?;
        total += deleted;
        metrics::counter!("gridd_log_trimmed_records_total", "topic" => rule.topic).increment(deleted);
        if deleted < TRIM_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Deletes the histories of cases finished before `now - keep`, walking the ticket-event log
/// from its start a window per transaction, up to the first window that reaches past that
/// time; returns how many events went. Each round walks what is left before that time: the
/// events of cases still open, or finished within `keep`.
async fn trim_finished_histories<S: Store>(store: S, now: Timestamp, keep: Duration) -> Result<u64, StoreError> {
    let before = cutoff(now, keep);
    let (mut after, mut total) = (0, 0);
    loop {
        let step = store.write(move |tx| tx.trim_finished_histories(before, after, HISTORY_WINDOW)).await?;
        total += step.deleted;
        metrics::counter!("gridd_log_trimmed_records_total", "topic" => gridd_store::topics::TICKET_EVENTS).increment(step.deleted);
        match step.looked_to {
            Some((seq, at)) if at < before => after = seq,
            _ => return Ok(total),
        }
    }
}

/// The time `keep` before `now`.
fn cutoff(now: Timestamp, keep: Duration) -> Timestamp {
    let keep = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millis(now.millis().saturating_sub(keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(secs: &[u64]) -> Duration {
        trim_period(secs.iter().map(|s| Duration::from_secs(*s)))
    }

    #[test]
    fn the_shortest_retention_sets_the_pace_within_bounds() {
        assert_eq!(period(&[72 * 3600, 10]), Duration::from_secs(5));
        assert_eq!(period(&[72 * 3600]), LONGEST_PERIOD);
        assert_eq!(period(&[1]), SHORTEST_PERIOD);
    }
}
