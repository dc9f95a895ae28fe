//! The automation worker that runs inside every server process. Each round it resumes runs
//! whose process died, claims the due slot of each schedule (a unique row per slot: with
//! several replicas exactly one runs it) and reacts to new events. Rounds run every half
//! second off the async threads.

use std::time::Duration;

use actix_web::web;
use tokio::sync::watch;

use super::service::{self, Settings};
use crate::state::AppState;

const ROUND: Duration = Duration::from_millis(500);

/// Runs until `stop` turns true; a round under way finishes first.
pub async fn run(state: web::Data<AppState>, mut stop: watch::Receiver<bool>) {
    let settings = Settings::of(&state.config);
    loop {
        if *stop.borrow() {
            return;
        }
        let pool = state.pool.clone();
        let settings = settings.clone();
        match web::block(move || service::tick(&pool, &settings)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "an automation round failed"),
            Err(e) => tracing::warn!(error = %e, "an automation round could not run"),
        }
        tokio::select! {
            _ = tokio::time::sleep(ROUND) => {}
            _ = stop.changed() => {}
        }
    }
}
