//! A background loop of every server process: a blocking round, run off the async threads
//! every so often until told to stop (a round under way finishes first). The workers of
//! automations and imports are such loops.

use std::time::Duration;

use tokio::sync::watch;

use crate::error::ApiError;

/// Runs `round` every `every` until `stop` turns true; a failed round is logged as `what`.
pub async fn run<F>(mut stop: watch::Receiver<bool>, every: Duration, what: &'static str, round: F)
where
    F: Fn() -> Result<(), ApiError> + Clone + Send + 'static,
{
    loop {
        if *stop.borrow() {
            return;
        }
        match actix_web::web::block(round.clone()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "{what} round failed"),
            Err(e) => tracing::warn!(error = %e, "{what} round could not run"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}
