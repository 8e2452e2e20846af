//! Appends of concurrent requests taken together: a [`Coalesced`] sink hands the drafts of
//! every request waiting to its inner sink in one call.
//!
//! The distributed sink costs two PostgreSQL transactions and one broker round trip per call,
//! whatever the number of drafts. Under load, one of each per report kept PostgreSQL busier
//! than every gridd process together (benches/README). Taking the waiting requests together
//! costs them each one call's time, and most of that time is the broker's answer, which a
//! call of one report waits for as long as a call of fifty.
//!
//! One call runs at a time, like the embedded store's group commit. With two or four at once
//! each took fewer requests, intake was about as fast, and the extra transactions took
//! PostgreSQL's time from routing and filing, which fell behind (benches/README).

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::{Accepted, Draft, IntakeError, IntakeSink};

/// The answer to one request's drafts: one result per draft, or why none was accepted.
type Answer = Result<Vec<Result<Accepted, IntakeError>>, IntakeError>;

/// One request's drafts, waiting for a call to take them.
struct Waiting {
    drafts: Vec<Draft>,
    answer: oneshot::Sender<Answer>,
}

/// A sink that appends the drafts of concurrent requests in one call of `inner`, one call at
/// a time.
pub struct Coalesced<K> {
    inner: Arc<K>,
    waiting: Mutex<Vec<Waiting>>,
    /// Held by the call in flight.
    calling: Arc<tokio::sync::Mutex<()>>,
}

impl<K> Coalesced<K> {
    /// `inner`, taking the requests that wait together.
    pub fn new(inner: K) -> Self {
        Self { inner: Arc::new(inner), waiting: Mutex::new(Vec::new()), calling: Arc::new(tokio::sync::Mutex::new(())) }
    }

    fn take_waiting(&self) -> Vec<Waiting> {
        std::mem::take(&mut *self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl<K: IntakeSink> IntakeSink for Coalesced<K> {
    /// Queues the drafts, then waits for their answer or for the call to be free, whichever
    /// comes first. A request that gets the call appends everything queued by then (its own
    /// drafts, unless an earlier call took them) and answers each request its own results.
    async fn append(&self, drafts: Vec<Draft>) -> Answer {
        let (answer, mut answered) = oneshot::channel();
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Waiting { drafts, answer });
        tokio::select! {
            biased;
            answer = &mut answered => return flatten(answer),
            call = self.calling.clone().lock_owned() => {
                let batch = self.take_waiting();
                if !batch.is_empty() {
                    // On a task of its own, holding the call: a request that gives up (its
                    // client gone) does not take the other requests' answers with it.
                    let inner = self.inner.clone();
                    let appended = tokio::spawn(async move {
                        append_together(&*inner, batch).await;
                        drop(call);
                    });
                    if let Err(e) = appended.await {
                        tracing::error!(error = %e, "an append of waiting reports failed");
                    }
                }
            }
        }
        flatten(answered.await)
    }
}

fn flatten(answer: Result<Answer, oneshot::error::RecvError>) -> Answer {
    answer.unwrap_or_else(|_| Err(IntakeError::LogUnavailable("the append that took this report stopped".into())))
}

/// Appends the requests' drafts in one call and answers each request with its part of the
/// results, or with the call's error.
async fn append_together<K: IntakeSink>(inner: &K, batch: Vec<Waiting>) {
    metrics::histogram!("gridd_intake_coalesced_requests").record(batch.len() as f64);
    let mut sizes = Vec::with_capacity(batch.len());
    let mut answers = Vec::with_capacity(batch.len());
    let mut drafts = Vec::new();
    for waiting in batch {
        sizes.push(waiting.drafts.len());
        answers.push(waiting.answer);
        drafts.extend(waiting.drafts);
    }
    match inner.append(drafts).await {
        Ok(results) => {
            let mut results = results.into_iter();
            for (size, answer) in sizes.into_iter().zip(answers) {
                let _ = answer.send(Ok(results.by_ref().take(size).collect()));
            }
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gridd_core::category::CategoryCode;
    use gridd_core::ids::Reference;
    use gridd_core::report::{Channel, Report};
    use gridd_core::time::Timestamp;

    use super::*;

    /// Accepts every draft under its own reference, refuses those described "refuse", and
    /// fails a whole call holding one described "fail"; counts its calls. Its first `gated`
    /// calls wait for a permit of `gate` each, so that other requests queue behind them.
    struct Recording {
        calls: AtomicUsize,
        gated: usize,
        gate: tokio::sync::Semaphore,
    }

    impl Recording {
        fn new(gated: usize) -> Arc<Self> {
            Arc::new(Self { calls: AtomicUsize::new(0), gated, gate: tokio::sync::Semaphore::new(0) })
        }

        async fn calls_reach(&self, n: usize) {
            while self.calls.load(Ordering::SeqCst) < n {
                tokio::task::yield_now().await;
            }
        }
    }

    impl IntakeSink for Arc<Recording> {
        async fn append(&self, drafts: Vec<Draft>) -> Answer {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.gated {
                self.gate.acquire().await.expect("gate open").forget();
            }
            if drafts.iter().any(|d| d.report.description == "fail") {
                return Err(IntakeError::LogUnavailable("broker down".into()));
            }
            Ok(drafts
                .iter()
                .map(|d| match d.report.description.as_str() {
                    "refuse" => Err(IntakeError::LogUnavailable(format!("refused {}", d.report.reference))),
                    _ => Ok(Accepted { reference: d.report.reference.clone(), received_at: d.report.received_at, replayed: false }),
                })
                .collect())
        }
    }

    fn draft(reference: &str, description: &str) -> Draft {
        let category = CategoryCode::parse("E0102").expect("code");
        let mut report = Report::new(Reference::new(reference), Channel::Citizen, Timestamp::from_millis(0), category);
        report.description = description.into();
        Draft { report, client_key: reference.into(), idempotency_key: reference.into(), fingerprint: String::new() }
    }

    fn references(answer: &Answer) -> Vec<String> {
        answer
            .as_ref()
            .expect("answered")
            .iter()
            .map(|r| r.as_ref().map_or_else(|e| e.to_string(), |a| a.reference.as_str().to_owned()))
            .collect()
    }

    /// Sends `drafts` as a request of its own.
    fn request(sink: &Arc<Coalesced<Arc<Recording>>>, drafts: Vec<Draft>) -> tokio::task::JoinHandle<Answer> {
        let sink = sink.clone();
        tokio::spawn(async move { sink.append(drafts).await })
    }

    async fn waiting_reach(sink: &Coalesced<Arc<Recording>>, n: usize) {
        while sink.waiting.lock().expect("queue").len() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn requests_waiting_behind_a_call_are_appended_together_and_answered_their_own() {
        let inner = Recording::new(1);
        let sink = Arc::new(Coalesced::new(inner.clone()));
        let first = request(&sink, vec![draft("A", "")]);
        inner.calls_reach(1).await;
        let later = [request(&sink, vec![draft("B", ""), draft("C", "refuse")]), request(&sink, vec![draft("D", "")])];
        waiting_reach(&sink, 2).await;
        inner.gate.add_permits(1);
        assert_eq!(references(&first.await.expect("first")), ["A"]);
        let mut answers = Vec::new();
        for request in later {
            answers.push(references(&request.await.expect("later")));
        }
        assert_eq!(answers, [vec!["B".to_owned(), "log unavailable: refused C".to_owned()], vec!["D".to_owned()]]);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2, "the two waiting requests shared one call");
    }

    #[tokio::test]
    async fn a_failed_call_fails_every_request_it_took() {
        let sink = Coalesced::new(Recording::new(0));
        let answer = sink.append(vec![draft("A", ""), draft("B", "fail")]).await;
        assert_eq!(answer, Err(IntakeError::LogUnavailable("broker down".into())));
    }

    /// A hotline client that hangs up must not fail the calls of the others appended with it.
    #[tokio::test]
    async fn a_request_that_gives_up_leaves_the_others_of_its_call_answered() {
        let inner = Recording::new(2);
        let sink = Arc::new(Coalesced::new(inner.clone()));
        let first = request(&sink, vec![draft("A", "")]);
        inner.calls_reach(1).await;
        // B waits first for the call, so B makes the second one, with C's draft in it.
        let gives_up = request(&sink, vec![draft("B", "")]);
        waiting_reach(&sink, 1).await;
        let stays = request(&sink, vec![draft("C", "")]);
        waiting_reach(&sink, 2).await;
        inner.gate.add_permits(1);
        assert_eq!(references(&first.await.expect("first")), ["A"]);
        inner.calls_reach(2).await;
        gives_up.abort();
        inner.gate.add_permits(1);
        assert_eq!(references(&stays.await.expect("C's request")), ["C"]);
    }
}
