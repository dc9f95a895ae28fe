//! The import worker that runs inside every server process: each round it takes the running
//! imports no live process holds (new ones, or those whose process died) and applies them.

use std::time::Duration;

use actix_web::web;
use tokio::sync::watch;

use super::service::{self, Settings};
use crate::state::AppState;

/// Runs until `stop` turns true; an import this process leaves is taken up by another.
pub async fn run(state: web::Data<AppState>, stop: watch::Receiver<bool>) {
    let settings = Settings::of(&state.config);
    let pool = state.pool.clone();
    crate::rounds::run(stop, Duration::from_millis(500), "an import", move || service::tick(&pool, &settings)).await
}
