//! The gateway role: the gRPC services people and terminals use.
//!
//! - [`dispatch::DispatchGrpc`]: the dispatch centre's and hotline operators' `DispatchService`
//!   (find, list, watch, and command cases; KPIs);
//! - [`squad::SquadGrpc`]: `SquadService` for squad terminals (a resumable task feed and task
//!   commands);
//! - [`grid::GridGrpc`]: `GridService` (locate a point and explain who is responsible);
//! - [`assessment`]: the monthly 考核, read, frozen and exported.
//!
//! Handlers are thin: validate, convert, call the tracker's command API or read the store,
//! map errors. Ticket changes always go through the tracker, never around it.

use std::future::Future;

use gridd_core::FieldError;
use gridd_core::ids::validate_token;
use gridd_proto::tonic::Status;
use gridd_store::StoreError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

mod actions;
pub mod assessment;
pub mod dispatch;
pub mod grid;
pub mod squad;

/// Largest page a listing returns.
const MAX_PAGE: u32 = 500;
/// Page size when the request gives none.
const DEFAULT_PAGE: u32 = 50;
/// How often a watch stream looks for entries written by other processes.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);
/// Entries a watch stream reads from the store per round.
const WATCH_BATCH: usize = 256;

/// The page size a request asks for in `page`, checked.
fn page_size(page: Option<&gridd_proto::v1::PageRequest>) -> Result<usize, FieldError> {
    page_size_of("page", page, DEFAULT_PAGE)
}

/// The page size asked for in the page request `field`, checked; `default` when it gives none.
fn page_size_of(field: &str, page: Option<&gridd_proto::v1::PageRequest>, default: u32) -> Result<usize, FieldError> {
    match page.map_or(0, |p| p.page_size) {
        0 => Ok(default as usize),
        n if n <= MAX_PAGE => Ok(n as usize),
        n => Err(FieldError::new(format!("{field}.page_size"), format!("must be at most {MAX_PAGE}, got {n}"))),
    }
}

/// Checks a required id field.
fn required_id(field: &str, value: &str) -> Result<(), Status> {
    validate_token(field, value, 128).map_err(|e| gridd_proto::status::invalid_argument(&e))
}

fn store_status(e: &StoreError) -> Status {
    gridd_proto::status::unavailable("store", e)
}

/// The stream type of a watch RPC.
pub type WatchStream<T> = ReceiverStream<Result<T, Status>>;

/// Runs a watch: `round(after)` returns the next items after a position (with their
/// positions); they are sent in order, then the watch waits on `changed` for more. Ends when
/// the client goes away or the engine shuts down (the client resumes elsewhere from the last
/// position it saw). Subscribing before reading means no append can fall between a read and
/// the wait.
fn spawn_watch<T, F, Fut>(
    mut changed: tokio::sync::watch::Receiver<u64>,
    shutdown: CancellationToken,
    mut after: u64,
    mut round: F,
) -> WatchStream<T>
where
    T: Send + 'static,
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<(u64, T)>, Status>> + Send,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            changed.borrow_and_update();
            let items = match round(after).await {
                Ok(items) => items,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            let full = items.len() >= WATCH_BATCH;
            for (position, item) in items {
                if tx.send(Ok(item)).await.is_err() {
                    return;
                }
                after = position;
            }
            if full {
                continue;
            }
            tokio::select! {
                result = changed.changed() => if result.is_err() { return },
                // Changes made by other processes wake nobody here: look again now and then.
                () = tokio::time::sleep(POLL) => {}
                () = tx.closed() => return,
                () = shutdown.cancelled() => return,
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Turns a `FieldError` into its status (helper for `?` in handlers).
fn invalid(e: FieldError) -> Status {
    gridd_proto::status::invalid_argument(&e)
}
