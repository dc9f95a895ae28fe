//! Online backup and restore of the embedded SQLite database. A backup is `VACUUM INTO`: one
//! read transaction, so the copy is the database as of one instant while servers keep writing,
//! compacted and without a WAL of its own. A restore swaps the file in whole, and only while no
//! server holds the database: every server keeps a shared lock on `<database>.lock`, and the
//! restore needs it exclusively. PostgreSQL has `pg_dump` and point-in-time recovery for this.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, RunQueryDsl};

use super::{sqlite_path, Backend};

/// Held by a server for as long as it uses the SQLite database; released by the OS when the
/// process ends, however it ends.
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock(database: &Path) -> Result<File, String> {
    let path = lock_path(database);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

impl ServerLock {
    /// The server's shared hold on its database; refused while a restore replaces the file.
    pub fn shared(database: &Path) -> Result<ServerLock, String> {
        let file = open_lock(database)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(ServerLock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                Err(format!("{} is being restored; start again after", database.display()))
            }
            Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", lock_path(database).display())),
        }
    }
}

/// What a backup or restore wrote.
#[derive(Debug)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
}

fn sqlite_file(database_url: &str, what: &str) -> Result<PathBuf, String> {
    match Backend::of_url(database_url) {
        Backend::Sqlite => Ok(PathBuf::from(sqlite_path(database_url))),
        Backend::Postgres => {
            Err(format!("{what} is for the embedded SQLite database; back PostgreSQL up with pg_dump (see the README)"))
        }
    }
}

/// `PRAGMA integrity_check` of a database file: `Ok` only when SQLite answers `ok`.
pub fn check_integrity(path: &Path) -> Result<(), String> {
    // Opening a missing file would create an empty database, which checks as `ok`.
    if !path.is_file() {
        return Err(format!("there is no file at {}", path.display()));
    }
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let display = path.display();
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| format!("cannot open {display}: {e}"))?;
    let lines: Vec<Line> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .map_err(|e| format!("{display} is not a readable SQLite database: {e}"))?;
    match lines.as_slice() {
        [line] if line.integrity_check == "ok" => Ok(()),
        _ => Err(format!(
            "{display} failed its integrity check: {}",
            lines.iter().map(|l| l.integrity_check.as_str()).collect::<Vec<_>>().join("; ")
        )),
    }
}

/// Writes a consistent snapshot of the database to `target`, which must not exist yet.
pub fn backup(database_url: &str, target: &Path) -> Result<Copied, String> {
    let database = sqlite_file(database_url, "backup")?;
    if target.exists() {
        return Err(format!("{} exists already; name a new file", target.display()));
    }
    if !database.exists() {
        return Err(format!("there is no database at {}", database.display()));
    }
    let mut conn = super::establish(database_url).map_err(|e| format!("cannot open {}: {e}", database.display()))?;
    let super::DbConn::Sqlite(sqlite) = &mut conn else { unreachable!("a SQLite URL opens SQLite") };
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target.to_string_lossy().into_owned())
        .execute(sqlite)
        .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    check_integrity(target)?;
    let bytes = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    Ok(Copied { path: target.to_path_buf(), bytes })
}

/// Replaces the database with the snapshot at `source` once it passes its integrity check.
/// Refused while a server holds the database, unless `force`.
pub fn restore(database_url: &str, source: &Path, force: bool) -> Result<Copied, String> {
    let database = sqlite_file(database_url, "restore")?;
    check_integrity(source)?;
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let lock = open_lock(&database)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) if force => {}
        Err(TryLockError::WouldBlock) => {
            return Err(format!(
                "a server is using {}; stop it first (or pass --force to replace the file under it)",
                database.display()
            ))
        }
        Err(TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", lock_path(&database).display())),
    }
    // Copied beside the database and renamed over it: a crash midway leaves the old file whole.
    let mut staged = database.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    let bytes = std::fs::copy(source, &staged).map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
    File::open(&staged).and_then(|f| f.sync_all()).map_err(|e| format!("cannot sync {}: {e}", staged.display()))?;
    // The old database's write-ahead log belongs to the old file: replayed over the snapshot it
    // would corrupt it.
    for suffix in ["-wal", "-shm"] {
        let mut side = database.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(PathBuf::from(side)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove the old write-ahead log: {e}")),
        }
    }
    std::fs::rename(&staged, &database).map_err(|e| format!("cannot move the snapshot into place: {e}"))?;
    // Opened once so that the file is back in WAL mode; the server migrates it when it starts.
    let mut conn = super::establish(database_url).map_err(|e| format!("cannot open the restored database: {e}"))?;
    conn.batch_execute("SELECT 1").map_err(|e| e.to_string())?;
    drop(lock);
    Ok(Copied { path: database, bytes })
}
