//! Every place where the SQL of SQLite and PostgreSQL differs, as a named function. Queries
//! elsewhere are written once; they ask this room for the part that cannot be.

use diesel::{RunQueryDsl, SqliteConnection};

use super::{Backend, DbConn};

/// PostgreSQL has `reverse` built in; SQLite gets it from us.
pub fn register_sqlite_functions(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    super::reverse_utils::register_impl(conn, |text: String| crate::normalize::phone::reversed(&text))
}

/// Seconds from timestamp expression `from` to `to`, as a double.
pub fn seconds_between(backend: Backend, from: &str, to: &str) -> String {
    match backend {
        Backend::Postgres => format!("EXTRACT(EPOCH FROM ({to} - {from}))"),
        Backend::Sqlite => format!("((julianday({to}) - julianday({from})) * 86400.0)"),
    }
}

/// A timestamp expression for the midnight starting day `column`.
pub fn day_start(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Postgres => format!("CAST({column} AS TIMESTAMP)"),
        Backend::Sqlite => format!("{column} || ' 00:00:00'"),
    }
}

/// How `clients.id` is compared with a subquery of ids: PostgreSQL plans `= ANY(ARRAY(…))` as
/// an index lookup per id, SQLite reads `IN (…)` the same way. Returns the text around it.
pub fn in_ids(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::Postgres => ("= ANY(ARRAY(", "))"),
        Backend::Sqlite => ("IN (", ")"),
    }
}

/// The condition on `events` rows that only transactions already settled wrote: on PostgreSQL
/// a transaction id below the oldest still running, so a reader of the change feed never skips
/// an event committed after it read a later one. SQLite has a single writer: every row counts.
pub fn settled_events(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " AND txid < txid_snapshot_xmin(txid_current_snapshot())",
        Backend::Sqlite => "",
    }
}

/// The lock a claiming `SELECT` takes over rows of `alias` so that concurrent claimers skip
/// each other's rows: `FOR UPDATE SKIP LOCKED` on PostgreSQL; nothing on SQLite, whose writer
/// holds the database.
pub fn skip_locked(backend: Backend, alias: &str) -> String {
    match backend {
        Backend::Postgres => format!(" FOR UPDATE OF {alias} SKIP LOCKED"),
        Backend::Sqlite => String::new(),
    }
}

/// Takes the row locks of `table` rows `ids` (a comma-separated list of integers) in id order,
/// so that concurrent writers touching overlapping rows queue instead of deadlocking. SQLite
/// writers are serialised anyway.
pub fn lock_in_id_order(conn: &mut DbConn, table: &str, ids: &str) -> diesel::QueryResult<()> {
    if conn.backend() == Backend::Postgres {
        diesel::sql_query(format!("SELECT id FROM {table} WHERE id IN ({ids}) ORDER BY id FOR NO KEY UPDATE"))
            .execute(conn)?;
    }
    Ok(())
}

/// Ids for `n` new rows of `table`, taken before the insert so that a multi-row insert needs
/// no `RETURNING` order: from the table's sequence on PostgreSQL; on SQLite, whose writer holds
/// the database lock for the whole transaction, from the table's row in `id_counters`.
pub fn allocate_ids(conn: &mut DbConn, table: &'static str, n: usize) -> diesel::QueryResult<Vec<i64>> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    match conn.backend() {
        Backend::Postgres => {
            // The sequence is looked up once, not for every id: OFFSET 0 keeps the planner from
            // folding the lookup (a catalog search by name) into the per-row expression, which
            // made 1000 ids cost 6 ms instead of 0.8.
            let sql = format!(
                "SELECT nextval(seq) AS id FROM \
                 (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS seq OFFSET 0) s \
                 CROSS JOIN generate_series(1, $1)"
            );
            Ok(diesel::sql_query(sql)
                .bind::<diesel::sql_types::BigInt, _>(n as i64)
                .load::<Id>(conn)?
                .into_iter()
                .map(|r| r.id)
                .collect())
        }
        Backend::Sqlite => {
            // After the last id ever handed out, not the largest in use: a deleted row's id is
            // never given to another.
            let last = diesel::sql_query(format!(
                "SELECT MAX(COALESCE((SELECT last_id FROM id_counters WHERE table_name = '{table}'), 0), \
                 COALESCE((SELECT MAX(id) FROM {table}), 0)) AS id"
            ))
            .get_result::<Id>(conn)?
            .id;
            diesel::sql_query(
                "INSERT INTO id_counters (table_name, last_id) VALUES (?, ?) \
                 ON CONFLICT (table_name) DO UPDATE SET last_id = excluded.last_id",
            )
            .bind::<diesel::sql_types::Text, _>(table)
            .bind::<diesel::sql_types::BigInt, _>(last + n as i64)
            .execute(conn)?;
            Ok((1..=n as i64).map(|i| last + i).collect())
        }
    }
}
