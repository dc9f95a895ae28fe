//! Imports end to end: real files uploaded over HTTP (a Windows-1251 CSV with `;` and Russian
//! headers, an XLSX written by a real writer), the guessed mapping, preview, the background
//! run, the errors report read back as Excel would, the revert, bad files, and a server killed
//! with SIGKILL in the middle of a run.

use std::time::Duration;

use calamine::{Data, Reader, Xlsx};
use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{count, fields, json, login, problem, start, TestApp, TestDb};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub(crate) fn cp1251(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1251.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// A multipart/form-data body by hand: (name, file name, content type, bytes) per part.
fn multipart(parts: &[(&str, Option<&str>, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "clientbase-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file_name, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match file_name {
            Some(f) => format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n"),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A workbook written by rust_xlsxwriter: text headers, numbers where Excel users type them.
pub(crate) fn workbook(header: &[&str], rows: &[Vec<Value>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Клиенты").unwrap();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match v {
                Value::Number(n) => sheet.write_number(r, c, n.as_f64().unwrap()).map(|_| ()).unwrap(),
                Value::String(s) => sheet.write_string(r, c, s).map(|_| ()).unwrap(),
                Value::Bool(b) => sheet.write_boolean(r, c, *b).map(|_| ()).unwrap(),
                _ => {}
            }
        }
    }
    book.save_to_buffer().unwrap()
}

pub(crate) async fn upload_raw(app: &TestApp, content_type: &str, bytes: Vec<u8>, query: &str) -> reqwest::Response {
    app.admin(Method::POST, "/api/v1/imports")
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload {query}: {e}"))
}

async fn upload_csv(app: &TestApp, bytes: Vec<u8>) -> Value {
    let res = upload_raw(app, "text/csv", bytes, "").await;
    assert_eq!(res.status(), 201);
    json(res).await
}

pub(crate) async fn wait_done(app: &TestApp, id: i64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let res = app.admin(Method::GET, &format!("/api/v1/imports/{id}")).send().await.unwrap();
        let import = json(res).await;
        if import["state"] != "running" || std::time::Instant::now() > deadline {
            return import;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn run(app: &TestApp, id: i64) -> Value {
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/run")).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let done = wait_done(app, id).await;
    assert_eq!(done["state"], "done", "{done}");
    done
}

fn strip_bom(bytes: &[u8]) -> String {
    String::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM").to_vec()).unwrap()
}

#[tokio::test]
async fn a_windows_1251_csv_with_russian_headers_is_mapped_previewed_run_and_reported() {
    let app = TestApp::spawn().await;
    let (anna, _) = app.user(Role::Manager, "anna@example.ru");
    let text = "Наименование;ИНН;Тел.;E-mail;Город;Ответственный;Статус;Теги;Комментарий\n\
        ООО «Ромашка»;7707083893;8 (916) 123-45-67;INFO@romashka.ru;Москва;anna@example.ru;Активный;опт, vip;первый\n\
        ИП Иванов И.И.;;+7 903 111-22-33;;Тверь;;Потенциальный;;\n\
        Берёзка;7707083890;;;Казань;;;;плохой ИНН\n\
        ООО Ромашка (копия);7707083893;;;;;;;та же фирма\n\
        Ландыш;;;;Сочи;Никто Никтович;Спящий;;\n\
        ;;;;;;;;\n\
        Клён;;12;;;;;;\n";
    let upload = upload_csv(&app, cp1251(text)).await;
    assert_eq!(upload["state"], "uploaded");
    assert_eq!(upload["format"], "csv");
    assert_eq!(upload["rows"], 6, "the empty line is not a row");
    assert_eq!(upload["columns"][0]["header"], "Наименование");
    assert_eq!(upload["columns"][0]["samples"][0], "ООО «Ромашка»");
    let mapping = &upload["mapping"];
    for (header, field) in [
        ("Наименование", "name"),
        ("ИНН", "inn"),
        ("Тел.", "phones"),
        ("E-mail", "emails"),
        ("Город", "region"),
        ("Ответственный", "owner"),
        ("Статус", "status"),
        ("Теги", "tags"),
        ("Комментарий", "notes"),
    ] {
        assert_eq!(mapping[header], field, "{header}");
    }
    let id = upload["id"].as_i64().unwrap();
    let etag = format!("\"{}-{}\"", id, upload["version"]);

    let res = app
        .admin(Method::PATCH, &format!("/api/v1/imports/{id}"))
        .header("if-match", etag)
        .json(&json!({"defaults": {"tags": ["excel"]}, "mode": "upsert"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/preview")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let preview = json(res).await;
    assert_eq!(preview["totals"], json!({"create": 2, "update": 0, "unchanged": 0, "skip": 0, "error": 4}));
    let rows = preview["rows"].as_array().unwrap();
    let outcome = |r: usize| rows[r - 1]["outcome"].as_str().unwrap().to_string();
    let first_field = |r: usize| rows[r - 1]["errors"][0]["field"].as_str().unwrap().to_string();
    assert_eq!((outcome(1), outcome(2)), ("create".into(), "create".into()));
    assert_eq!(first_field(3), "inn");
    assert_eq!(first_field(4), "row");
    assert!(rows[3]["errors"][0]["message"].as_str().unwrap().contains("row 1"));
    assert_eq!(fields(&json!({"errors": rows[4]["errors"]})), vec!["owner", "status"]);
    assert_eq!(first_field(6), "phones[0].number");
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM clients"), 0, "a preview writes nothing");
    // One outcome, paged.
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/preview?outcome=error&limit=2")).send().await;
    let page = json(res.unwrap()).await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_after"], 4);

    let done = run(&app, id).await;
    assert_eq!(
        (done["created"].as_i64(), done["errors"].as_i64(), done["processed"].as_i64()),
        (Some(2), Some(4), Some(6))
    );
    assert_eq!(done["started_by"], format!("user:{}", app.admin_id));
    assert!(done["finished_at"].is_string());
    let res = app.admin(Method::GET, "/api/v1/clients?q=Ромашка").send().await.unwrap();
    let card = json(res).await["items"][0].clone();
    assert_eq!(card["inn"], "7707083893");
    assert_eq!(card["status"], "active");
    assert_eq!(card["owner_id"], anna);
    assert_eq!(card["phones"][0]["number"], "+79161234567");
    assert_eq!(card["emails"][0]["address"], "info@romashka.ru");
    assert_eq!(card["tags"], json!(["опт", "vip", "excel"]));
    assert_eq!(card["notes"], "первый");

    // Running twice is refused.
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/run")).send().await.unwrap();
    problem(res, 409).await;

    // The rejected rows as uploaded, with their reasons, as CSV and as a workbook.
    let res = app.admin(Method::GET, &format!("/api/v1/imports/{id}/errors")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("errors.csv"));
    let report = strip_bom(&res.bytes().await.unwrap());
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 5, "{report}");
    assert!(lines[0].starts_with("Наименование;ИНН;Тел.;"));
    assert!(lines[1].starts_with("Берёзка;7707083890;;;Казань;;;;плохой ИНН;ИНН: "), "{}", lines[1]);
    assert!(lines[3].contains("Ответственный: 'Никто Никтович'"), "{}", lines[3]);
    assert!(lines[4].contains("phones[0].number (Тел.)"), "{}", lines[4]);
    let res = app.admin(Method::GET, &format!("/api/v1/imports/{id}/errors?format=xlsx")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], XLSX);
    let bytes = res.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range("errors").unwrap();
    assert_eq!(range.height(), 5);
    assert_eq!(range.get_value((0, 9)), Some(&Data::String("Ошибки / errors".into())));
    assert_eq!(range.get_value((1, 0)), Some(&Data::String("Берёзка".into())));
    // The report uploads again as a file of its own.
    let again = upload_csv(&app, report.into_bytes()).await;
    assert_eq!(again["rows"], 4);
    assert_eq!(again["mapping"]["Ошибки / errors"], "ignore");

    let audit = count(&mut app.conn(), "SELECT COUNT(*) AS n FROM audit_log WHERE action LIKE 'imports.%'");
    assert_eq!(audit, 4, "two uploads, the run and its end");
    let listed = json(app.admin(Method::GET, "/api/v1/imports?limit=1").send().await.unwrap()).await;
    assert_eq!(listed["items"][0]["id"], again["id"], "newest first");
    assert!(listed["next_cursor"].is_string());
}

#[tokio::test]
async fn an_xlsx_upserts_by_inn_and_running_it_again_creates_nothing() {
    let app = TestApp::spawn().await;
    let existing = app
        .client(json!({"name": "Ромашка", "inn": "7707083893", "region": "Москва", "tags": ["старый"], "phones": [{"number": "+74951234567"}]}))
        .await;
    let header = ["Контрагент", "ИНН", "Телефон", "Регион", "Теги", "Потенциал", "ID 1C", "Рассылка"];
    let rows = vec![
        vec![
            json!("ООО Ромашка"),
            json!(7707083893u64),
            json!(79161234567u64),
            json!("Тверь"),
            json!("опт"),
            json!(150000.5),
            json!("A-1"),
            json!(true),
        ],
        vec![
            json!("Берёзка"),
            json!(500100732259u64),
            json!("8 903 111 22 33"),
            json!("Казань"),
            json!(""),
            json!(2000),
            json!("A-2"),
            json!("нет"),
        ],
        vec![json!("Липа"), json!(""), json!(""), json!("Сочи"), json!(""), json!(""), json!("A-3"), json!("")],
    ];
    let file = workbook(&header, &rows);
    let (content_type, body) =
        multipart(&[("entity", None, "text/plain", b"clients"), ("file", Some("база.xlsx"), XLSX, &file)]);
    let res = app
        .admin(Method::POST, "/api/v1/imports")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let upload = json(res).await;
    assert_eq!(
        (upload["format"].as_str(), upload["sheet"].as_str(), upload["file_name"].as_str()),
        (Some("xlsx"), Some("Клиенты"), Some("база.xlsx"))
    );
    assert_eq!(upload["columns"][1]["samples"][0], "7707083893", "a whole number is read without a fraction");
    assert_eq!(upload["mapping"]["ID 1C"], "external_id:1c");
    assert_eq!(upload["mapping"]["Рассылка"], "mailing_consent");
    let id = upload["id"].as_i64().unwrap();
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/imports/{id}"))
        .json(&json!({"match_on": ["inn", "external_id:1c"], "defaults": {"status": "active"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let done = run(&app, id).await;
    assert_eq!(
        (done["created"].as_i64(), done["updated"].as_i64(), done["errors"].as_i64()),
        (Some(2), Some(1), Some(0)),
        "{done}"
    );

    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", existing["id"])).send().await.unwrap()).await;
    assert_eq!(card["name"], "ООО Ромашка");
    assert_eq!(card["region"], "Тверь");
    assert_eq!(card["tags"], json!(["старый", "опт"]), "tags are added, not replaced");
    let phones: Vec<&str> = card["phones"].as_array().unwrap().iter().map(|p| p["number"].as_str().unwrap()).collect();
    assert_eq!(phones, vec!["+74951234567", "+79161234567"]);
    assert_eq!(card["estimated_potential"], "150000.50");
    assert_eq!(card["external_ids"]["1c"], "A-1");
    assert_eq!(card["mailing_consent"], true);
    assert_eq!(card["status"], "potential", "a default fills new cards only");
    let res = app.admin(Method::GET, "/api/v1/clients?q=Берёзка").send().await.unwrap();
    let birch = json(res).await["items"][0].clone();
    assert_eq!((birch["status"].as_str(), birch["mailing_consent"].as_bool()), (Some("active"), Some(false)));

    // The same workbook once more: everything is found, nothing is created or changed.
    let (content_type, body) = multipart(&[("file", Some("база.xlsx"), XLSX, &file)]);
    let res = app
        .admin(Method::POST, "/api/v1/imports")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let second = json(res).await["id"].as_i64().unwrap();
    app.admin(Method::PATCH, &format!("/api/v1/imports/{second}"))
        .json(&json!({"match_on": ["inn", "external_id:1c"]}))
        .send()
        .await
        .unwrap();
    let again = run(&app, second).await;
    assert_eq!((again["created"].as_i64(), again["unchanged"].as_i64()), (Some(0), Some(3)), "{again}");
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM clients"), 3);
}

#[tokio::test]
async fn a_revert_deletes_what_was_created_and_restores_what_nobody_changed_since() {
    let app = TestApp::spawn().await;
    let a = app.client(json!({"name": "Альфа", "inn": "7707083893", "region": "Москва"})).await;
    let b = app.client(json!({"name": "Бета", "inn": "500100732259", "region": "Тула"})).await;
    let csv = "Название;ИНН;Регион\nАльфа;7707083893;Тверь\nБета;500100732259;Казань\nГамма;;Сочи\nДельта;;Омск\n";
    let id = upload_csv(&app, csv.as_bytes().to_vec()).await["id"].as_i64().unwrap();
    let done = run(&app, id).await;
    assert_eq!((done["created"].as_i64(), done["updated"].as_i64()), (Some(2), Some(2)));
    // Someone edits Бета after the import.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{}", b["id"]))
        .json(&json!({"notes": "звонили"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/revert")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let reverted = json(res).await;
    assert_eq!(reverted["state"], "reverted");
    let summary = &reverted["revert"];
    assert_eq!(
        (summary["deleted"].as_i64(), summary["restored"].as_i64(), summary["conflict_count"].as_i64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(summary["conflicts"][0]["client_id"], b["id"]);
    assert_eq!(summary["conflicts"][0]["row"], 2);
    let get = |id: &Value| app.admin(Method::GET, &format!("/api/v1/clients/{id}")).send();
    assert_eq!(json(get(&a["id"]).await.unwrap()).await["region"], "Москва", "restored");
    let beta = json(get(&b["id"]).await.unwrap()).await;
    assert_eq!((beta["region"].as_str(), beta["notes"].as_str()), (Some("Казань"), Some("звонили")), "left as edited");
    let live = count(&mut app.conn(), "SELECT COUNT(*) AS n FROM clients WHERE deleted_at IS NULL");
    assert_eq!(live, 2, "the created cards are deleted");
    // Reverting again undoes nothing twice.
    let again = json(app.admin(Method::POST, &format!("/api/v1/imports/{id}/revert")).send().await.unwrap()).await;
    assert_eq!(again["revert"]["deleted"], 2);
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'imports.revert'"), 2);
}

#[tokio::test]
async fn bad_files_and_settings_get_problems_naming_the_cause() {
    let app = TestApp::spawn_with(|c| c.import_max_bytes = 16384).await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("text/csv", Vec::new(), 422, "empty"),
        ("text/csv", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), 422, "neither CSV nor XLSX"),
        (XLSX, vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0], 422, "password-protected"),
        (XLSX, b"PK\x03\x04 this is no zip at all".to_vec(), 422, "not a readable XLSX"),
        ("text/csv", "Имя;ИНН\n".as_bytes().to_vec(), 422, "no rows"),
        ("text/csv", "Имя;имя\nА;Б\n".as_bytes().to_vec(), 422, "twice"),
        ("text/csv", vec![b'a'; 20_000], 413, "larger than 16384"),
        ("application/json", b"{}".to_vec(), 415, "multipart/form-data"),
    ];
    for (content_type, bytes, status, needle) in cases {
        let res = upload_raw(&app, content_type, bytes, needle).await;
        let p = problem(res, status).await;
        assert!(p["detail"].as_str().unwrap_or_default().contains(needle), "{needle}: {p}");
    }
    let empty_sheet = workbook(&[], &[]);
    let p = problem(upload_raw(&app, XLSX, empty_sheet, "empty sheet").await, 422).await;
    assert!(p["detail"].as_str().unwrap().contains("sheet is empty"), "{p}");
    let res = app
        .admin(Method::POST, "/api/v1/imports?sheet=Нет")
        .header("content-type", XLSX)
        .body(workbook(&["Имя"], &[vec![json!("А")]]))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), vec!["sheet"]);
    let (content_type, body) = multipart(&[("entity", None, "text/plain", b"clients")]);
    let res = app.admin(Method::POST, "/api/v1/imports").header("content-type", content_type).body(body).send().await;
    assert_eq!(fields(&problem(res.unwrap(), 422).await), vec!["file"]);
    let (content_type, body) =
        multipart(&[("file", Some("a.csv"), "text/csv", b"a\n1\n"), ("colour", None, "text/plain", b"red")]);
    let res = app.admin(Method::POST, "/api/v1/imports").header("content-type", content_type).body(body).send().await;
    assert_eq!(fields(&problem(res.unwrap(), 422).await), vec!["colour"]);
    let res = app
        .admin(Method::POST, "/api/v1/imports?entity=planets")
        .header("content-type", "text/csv")
        .body("a\n1\n")
        .send()
        .await;
    assert_eq!(problem(res.unwrap(), 400).await["status"], 400);

    let id = upload_csv(&app, "Имя;ИНН\nА;1\n".as_bytes().to_vec()).await["id"].as_i64().unwrap();
    let patch = |body: Value| app.admin(Method::PATCH, &format!("/api/v1/imports/{id}")).json(&body).send();
    let p = problem(patch(json!({"mapping": {"Имя": "shoe_size", "Нет": "name"}})).await.unwrap(), 422).await;
    assert_eq!(fields(&p), vec!["mapping.Имя", "mapping.Нет"]);
    let p = problem(patch(json!({"match_on": ["fax"], "values": {"status": {"Спит": "asleep"}}})).await.unwrap(), 422)
        .await;
    assert_eq!(fields(&p), vec!["match_on[0]", "values.status.Спит"]);
    let p = problem(patch(json!({"defaults": {"owner": "nobody@example.ru", "channel": "moon"}})).await.unwrap(), 422)
        .await;
    assert_eq!(fields(&p), vec!["defaults.owner", "defaults.channel"]);
    let p = problem(patch(json!({"mode": "merge"})).await.unwrap(), 422).await;
    assert_eq!(fields(&p), vec!["mode"]);
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/imports/{id}"))
        .header("if-match", "\"1-99\"")
        .json(&json!({}))
        .send()
        .await;
    problem(res.unwrap(), 412).await;
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/preview?limit=0")).send().await.unwrap();
    assert_eq!(fields(&problem(res, 400).await), vec!["limit"]);
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/revert")).send().await.unwrap();
    problem(res, 409).await;
    run(&app, id).await;
    problem(patch(json!({"mode": "create"})).await.unwrap(), 409).await;
    let res = app.admin(Method::GET, "/api/v1/imports/999999").send().await.unwrap();
    problem(res, 404).await;

    // Managers do not import.
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    let res = app.req(Method::GET, "/api/v1/imports", &manager).send().await.unwrap();
    problem(res, 403).await;
}

#[tokio::test]
async fn an_import_killed_midway_resumes_in_another_process_without_applying_a_row_twice() {
    let (_db, url) = TestDb::create();
    let dir = std::env::temp_dir().join(format!("clientbase-import-{}", uuid::Uuid::new_v4().simple()));
    let small = [("CLIENTBASE_IMPORT_BATCH", "20"), ("CLIENTBASE_IMPORT_LEASE_SECS", "2")];
    let mut first = start(&url, &dir, &small).await;
    let http = reqwest::Client::new();
    let token = login(&http, &first.base).await;
    let rows = 3000;
    let mut csv = String::from("Наименование;ID ERP\n");
    for i in 0..rows {
        csv.push_str(&format!("Клиент {i};E-{i}\n"));
    }
    let res = http
        .post(format!("{}/api/v1/imports", first.base))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(cp1251(&csv))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = json(res).await["id"].as_i64().unwrap();
    let res = http.post(format!("{}/api/v1/imports/{id}/run", first.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let mut conn = clientbase::db::establish(&url).unwrap();
    let processed =
        |conn: &mut clientbase::db::DbConn| count(conn, &format!("SELECT processed AS n FROM imports WHERE id = {id}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while processed(&mut conn) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    let at_kill = processed(&mut conn);
    assert!(at_kill > 0 && at_kill < rows, "killed mid-way, at row {at_kill}");
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM clients"), at_kill, "what committed is whole batches");

    let second = start(&url, &dir, &small).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let state = || {
        count(
            &mut clientbase::db::establish(&url).unwrap(),
            &format!("SELECT COUNT(*) AS n FROM imports WHERE id = {id} AND state = 'done'"),
        )
    };
    while state() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = http.get(format!("{}/api/v1/imports/{id}", second.base)).bearer_auth(&token).send().await.unwrap();
    let done = json(res).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        (done["processed"].as_i64(), done["created"].as_i64(), done["errors"].as_i64()),
        (Some(rows), Some(rows), Some(0))
    );
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM clients"), rows, "every row once");
    assert_eq!(count(&mut conn, "SELECT COUNT(DISTINCT name) AS n FROM clients"), rows);
    assert_eq!(count(&mut conn, &format!("SELECT COUNT(*) AS n FROM import_rows WHERE import_id = {id}")), rows);
}
