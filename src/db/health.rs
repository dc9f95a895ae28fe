//! What the server knows of the database's health. Every connection attempt and check through
//! the pool reports here, and a probe asks the database twice a second, so that a partition,
//! which fails nothing but only stops answering, is noticed too. Requests stop waiting for a
//! connection early while the database is down instead of queueing for the whole pool timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::r2d2::ManageConnection;

use super::{Backend, DbConn, Pool};

#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
}

impl Health {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    pub fn set_down(&self, down: bool) {
        if self.down.swap(down, Ordering::Relaxed) != down {
            if down {
                tracing::warn!("the database stopped answering");
            } else {
                tracing::info!("the database answers again");
            }
        }
    }
}

/// How often the probe asks while the database answers, and while it does not.
const EVERY: Duration = Duration::from_millis(500);
const EVERY_WHILE_DOWN: Duration = Duration::from_millis(250);
/// A check without an answer in this time counts as failed.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// Probes PostgreSQL on a connection of its own, outside the pool, until the task is dropped.
/// A SQLite file has no outages to notice.
pub async fn probe(pool: Pool) {
    if pool.backend() == Backend::Sqlite {
        return;
    }
    let mut kept: Option<DbConn> = None;
    loop {
        tokio::time::sleep(if pool.health().is_down() { EVERY_WHILE_DOWN } else { EVERY }).await;
        let (p, conn) = (pool.clone(), kept.take());
        // `connect` and `is_valid` report their outcome to the health themselves.
        let check = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(conn) => conn,
                None => p.manager_ref().connect()?,
            };
            p.manager_ref().is_valid(&mut conn).map(|()| conn)
        });
        match tokio::time::timeout(ANSWER_WITHIN, check).await {
            Ok(Ok(Ok(conn))) => kept = Some(conn),
            Ok(_) => {}
            // The blocked check finishes (or fails) on its own thread when packets flow again.
            Err(_) => pool.health().set_down(true),
        }
    }
}
