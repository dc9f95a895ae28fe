//! Report results remembered per write generation. The sales reports read the whole period of
//! every client in scope, yet the base changes far less often than directors open them: this
//! process keeps the serialized answer of each recent set of parameters and hands it out again
//! while no write has touched what the reports read since.
//!
//! The write generation (migration `write_generation`) grows with every committed write to
//! clients, their status history, sales and activities, on any replica. It is read *before* the
//! report is computed: a write committed in between is then either in the result or not, but it
//! moved the generation past the remembered one, so the entry is never served again. The
//! parameters, the caller's visibility included, make the key: a manager's report (limited to
//! their own clients) is never another caller's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;

use crate::db::{Backend, DbConn, Pool};
use crate::error::ApiError;

/// How many answers one process keeps at most.
const CAPACITY: usize = 64;

#[derive(QueryableByName)]
struct Generation {
    #[diesel(sql_type = BigInt)]
    generation: i64,
}

/// The current write generation as this connection's snapshot sees it.
pub fn generation(conn: &mut DbConn) -> QueryResult<i64> {
    diesel::sql_query(
        "SELECT g.folded + (SELECT COUNT(*) FROM write_marks) AS generation FROM write_generation g WHERE g.id = 1",
    )
    .get_result::<Generation>(conn)
    .map(|g| g.generation)
}

/// Folds the marks of PostgreSQL's writers into the counter, keeping the generation: one
/// statement, so no reader sees the marks gone without the counter grown. SQLite keeps no marks.
pub fn fold(conn: &mut DbConn) -> QueryResult<usize> {
    if conn.backend() != Backend::Postgres {
        return Ok(0);
    }
    diesel::sql_query(
        "WITH gone AS (DELETE FROM write_marks RETURNING n) \
         UPDATE write_generation SET folded = folded + (SELECT COALESCE(SUM(n), 0) FROM gone) WHERE id = 1",
    )
    .execute(conn)
}

/// A key naming a report and every input it depends on.
pub fn key(report: &str, inputs: &impl std::fmt::Debug) -> String {
    format!("{report} {inputs:?}")
}

/// The JSON response of the report `key` names: remembered, or computed off the async threads.
pub async fn answer<T, F>(pool: &Pool, memo: &Arc<Memo>, key: String, compute: F) -> Result<HttpResponse, ApiError>
where
    T: Serialize,
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
{
    let memo = memo.clone();
    let body = crate::db::run(pool, move |conn| memo.remember(conn, key, compute)).await?;
    Ok(HttpResponse::Ok().content_type(ContentType::json()).body(body))
}

#[derive(Default)]
struct Entries {
    generation: i64,
    /// Key → (last use, answer).
    answers: HashMap<String, (u64, Bytes)>,
    clock: u64,
}

/// The remembered answers of this process.
#[derive(Default)]
pub struct Memo {
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Memo {
    /// The answer for `key` if remembered at the current generation, else `compute`d, serialized
    /// and remembered.
    pub fn remember<T, F>(&self, conn: &mut DbConn, key: String, compute: F) -> Result<Bytes, ApiError>
    where
        T: Serialize,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError>,
    {
        let generation = generation(conn)?;
        if let Some(body) = self.lookup(generation, &key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(body);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let body = Bytes::from(serde_json::to_vec(&compute(conn)?).map_err(ApiError::internal)?);
        self.store(generation, key, body.clone());
        Ok(body)
    }

    fn lookup(&self, generation: i64, key: &str) -> Option<Bytes> {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.generation != generation {
            return None;
        }
        e.clock += 1;
        let now = e.clock;
        e.answers.get_mut(key).map(|(used, body)| {
            *used = now;
            body.clone()
        })
    }

    fn store(&self, generation: i64, key: String, body: Bytes) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Another request may have stored a newer generation meanwhile; an older one is dropped.
        if generation < e.generation {
            return;
        }
        if generation > e.generation {
            e.generation = generation;
            e.answers.clear();
        }
        if e.answers.len() >= CAPACITY && !e.answers.contains_key(&key) {
            if let Some(oldest) = e.answers.iter().min_by_key(|(_, (used, _))| *used).map(|(k, _)| k.clone()) {
                e.answers.remove(&oldest);
            }
        }
        e.clock += 1;
        let now = e.clock;
        e.answers.insert(key, (now, body));
    }

    /// The counters in Prometheus text.
    pub fn render(&self) -> String {
        format!(
            "# HELP report_memo_hits_total Reports answered from a result remembered at the current write generation.\n\
             # TYPE report_memo_hits_total counter\nreport_memo_hits_total {}\n\
             # HELP report_memo_misses_total Reports computed from the database.\n\
             # TYPE report_memo_misses_total counter\nreport_memo_misses_total {}\n",
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_generation_drops_the_older_answers_and_the_least_used_goes_first() {
        let m = Memo::default();
        m.store(1, "a".into(), Bytes::from_static(b"1"));
        assert_eq!(m.lookup(1, "a").as_deref(), Some(&b"1"[..]));
        assert_eq!(m.lookup(2, "a"), None);
        m.store(2, "b".into(), Bytes::from_static(b"2"));
        assert_eq!(m.lookup(2, "a"), None, "the generation-1 answer is gone");
        m.store(1, "c".into(), Bytes::from_static(b"3"));
        assert_eq!(m.lookup(2, "c"), None, "an answer of an older generation is not kept");
        for i in 0..CAPACITY {
            m.store(2, format!("k{i}"), Bytes::from_static(b"x"));
        }
        assert_eq!(m.lookup(2, "b"), None, "the least recently used answer made room");
        assert!(m.lookup(2, "k0").is_some());
        assert_eq!(m.entries.lock().unwrap().answers.len(), CAPACITY);
    }
}
