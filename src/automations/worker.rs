//! The automation worker that runs inside every server process. Each round it resumes runs
//! whose process died, claims the due slot of each schedule (a unique row per slot: with
//! several replicas exactly one runs it) and reacts to new events. Rounds run every half
//! second off the async threads.

use std::time::Duration;

use actix_web::web;
use tokio::sync::watch;

use super::service::{self, Settings};
use crate::state::AppState;

/// Runs until `stop` turns true; a round under way finishes first.
pub async fn run(state: web::Data<AppState>, stop: watch::Receiver<bool>) {
    let settings = Settings::of(&state.config);
    let pool = state.pool.clone();
    crate::rounds::run(stop, Duration::from_millis(500), "an automation", move || service::tick(&pool, &settings)).await
}
