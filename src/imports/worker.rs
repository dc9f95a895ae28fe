//! The import worker that runs inside every server process: each round it takes the running
//! imports no live process holds (new ones, or those whose process died) and applies them.

use std::time::Duration;

use actix_web::web;
use tokio::sync::watch;

use super::service::{self, Settings};
use crate::state::AppState;

const ROUND: Duration = Duration::from_millis(500);

/// Runs until `stop` turns true; an import under way goes on to its next batch boundary in
/// another process if this one stops.
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
            Ok(Err(e)) => tracing::warn!(error = %e, "an import round failed"),
            Err(e) => tracing::warn!(error = %e, "an import round could not run"),
        }
        tokio::select! {
            _ = tokio::time::sleep(ROUND) => {}
            _ = stop.changed() => {}
        }
    }
}
