//! Picks up edits to the city's files while the engine runs: a new grid version, new
//! responsibility rules, another year's calendar. The files are polled; a changed set is
//! loaded and validated off the async threads and swapped in whole, so intake never stops and
//! every piece of work uses one consistent configuration. An invalid edit is refused with the
//! file, item and reason in the log, and the running configuration stays.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use gridd_config::{CityHandle, reload_city};
use tokio_util::sync::CancellationToken;

type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok();
            (f.clone(), meta.and_then(|m| Some((m.modified().ok()?, m.len()))))
        })
        .collect()
}

/// Polls the city's files every `poll` until shutdown.
pub async fn watch(city: CityHandle, poll: Duration, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut seen = fingerprint(&city.current().sources);
    loop {
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
        let now = fingerprint(&city.current().sources);
        if now == seen {
            continue;
        }
        seen = now;
        let previous = city.current();
        let loaded = tokio::task::spawn_blocking(move || reload_city(&previous)).await?;
        match loaded {
            Ok(next) => {
                for warning in &next.warnings {
                    tracing::warn!("{warning}");
                }
                let versions: Vec<String> = next.grids.versions().map(|g| g.version().to_owned()).collect();
                tracing::info!(grid_versions = ?versions, "city configuration reloaded");
                metrics::counter!("gridd_config_reloads_total", "result" => "loaded").increment(1);
                // Files may have been added or dropped: watch what this city was loaded from.
                seen = fingerprint(&next.sources);
                city.replace(next);
            }
            Err(e) => {
                tracing::error!(error = %e, "edited city configuration refused; the running configuration stays");
                metrics::counter!("gridd_config_reloads_total", "result" => "refused").increment(1);
            }
        }
    }
}
