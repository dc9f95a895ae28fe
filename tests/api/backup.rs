//! `clientbase backup` and `restore` on the embedded SQLite database: a snapshot taken while a
//! server writes is consistent, a restore is refused while a server holds the file, and a data
//! dir restored from the snapshot starts with the snapshot's clients.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use diesel::Connection;
use serde_json::json;

use crate::cli::clientbase;
use crate::helpers::*;

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = clientbase().env("CLIENTBASE_DATA_DIR", dir).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn sqlite_count(path: &Path, sql: &str) -> i64 {
    let mut conn =
        clientbase::db::DbConn::Sqlite(diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap());
    count(&mut conn, sql)
}

async fn client_names(http: &reqwest::Client, base: &str, token: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut url = format!("{base}/api/v1/clients?limit=200");
    loop {
        let page = json(http.get(&url).bearer_auth(token).send().await.unwrap()).await;
        names.extend(page["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{base}/api/v1/clients?limit=200&cursor={cursor}"),
            None => return names,
        }
    }
}

#[tokio::test]
async fn a_backup_under_writes_restores_into_an_empty_data_dir() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        // PostgreSQL is backed up with its own tools; the command says so instead of copying.
        let dir = std::env::temp_dir().join(format!("clientbase-pgbackup-{}", uuid::Uuid::new_v4().simple()));
        let out = clientbase()
            .env("DATABASE_URL", std::env::var("TEST_DATABASE_URL").unwrap())
            .args(["backup", &dir.join("snap.db").to_string_lossy()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
        return;
    }
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let live = std::env::temp_dir().join(format!("clientbase-live-{unique}"));
    let fresh = std::env::temp_dir().join(format!("clientbase-restored-{unique}"));
    let snapshot = std::env::temp_dir().join(format!("clientbase-snapshot-{unique}.db"));
    let live_db = format!("sqlite://{}", live.join("clientbase.db").display());
    let server = start(&live_db, &live, &[]).await;
    let http = reqwest::Client::new();
    let token = login(&http, &server.base).await;

    // Writers keep creating clients while the snapshot is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (http, base, token, stop, written) =
            (http.clone(), server.base.clone(), token.clone(), stop.clone(), written.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let res = http
                    .post(format!("{base}/api/v1/clients"))
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("Writer {w} client {i}"), "tags": ["load"]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
                written.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    while written.load(Ordering::Relaxed) < 30 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (code, out) = run(&live, &["backup", &snapshot.to_string_lossy()]);
    let after_backup = written.load(Ordering::Relaxed);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("integrity ok"), "{out}");
    while written.load(Ordering::Relaxed) < after_backup + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let in_snapshot = sqlite_count(&snapshot, "SELECT COUNT(*) AS n FROM clients");
    let total = written.load(Ordering::Relaxed) as i64;
    assert!(in_snapshot >= 30 && in_snapshot < total, "snapshot {in_snapshot} of {total} clients");
    // Every client in the snapshot is whole: its tag rows came with it.
    assert_eq!(
        sqlite_count(&snapshot, "SELECT COUNT(*) AS n FROM clients c WHERE NOT EXISTS (SELECT 1 FROM client_tags t WHERE t.client_id = c.id)"),
        0
    );
    assert_eq!(run(&live, &["backup", &snapshot.to_string_lossy()]).0, Some(2), "a backup never overwrites");

    // The live data dir is held by its server.
    let (code, out) = run(&live, &["restore", &snapshot.to_string_lossy()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("a server is using"), "{out}");
    drop(server);

    let (code, out) = run(&fresh, &["restore", &snapshot.to_string_lossy()]);
    assert_eq!(code, Some(0), "{out}");
    let restored = fresh.join("clientbase.db");
    assert_eq!(sqlite_count(&restored, "SELECT COUNT(*) AS n FROM clients"), in_snapshot);
    let server = start(&format!("sqlite://{}", restored.display()), &fresh, &[]).await;
    let token = login(&http, &server.base).await;
    let names = client_names(&http, &server.base, &token).await;
    assert_eq!(names.len() as i64, in_snapshot);
    assert!(names.iter().all(|n| n.starts_with("Writer ")));
    drop(server);
    clientbase::db::backup::check_integrity(&restored).unwrap();

    // A missing file, or one that is not a database, is refused before anything is replaced.
    let (code, out) = run(&fresh, &["restore", &fresh.join("missing.db").to_string_lossy()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(!fresh.join("missing.db").exists());
    let junk = fresh.join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let (code, _) = run(&fresh, &["restore", &junk.to_string_lossy()]);
    assert_eq!(code, Some(2));
    assert_eq!(sqlite_count(&restored, "SELECT COUNT(*) AS n FROM clients"), in_snapshot);

    for dir in [&live, &fresh] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::remove_file(&snapshot);
}
