//! Imports of contact persons and of purchases over HTTP: each row finds its client by the
//! `client.*` columns, contacts are matched within their company and sales by their external
//! id (or, without one, by client, day, amount and number), re-runs create nothing, and a
//! revert undoes only what nobody changed since.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{count, fields, json, problem, TestApp};
use crate::imports::{cp1251, run, workbook};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

async fn upload(app: &TestApp, entity: &str, content_type: &str, bytes: Vec<u8>) -> Value {
    let res = app
        .admin(Method::POST, &format!("/api/v1/imports?entity={entity}"))
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    json(res).await
}

async fn preview(app: &TestApp, id: i64) -> Value {
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/preview")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn revert(app: &TestApp, id: i64) -> Value {
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/revert")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    json(res).await["revert"].clone()
}

async fn contacts_of(app: &TestApp, client: &Value) -> Vec<Value> {
    let res = app.admin(Method::GET, &format!("/api/v1/clients/{}/contacts", client["id"])).send().await.unwrap();
    json(res).await["items"].as_array().unwrap().clone()
}

async fn configure(app: &TestApp, import: &Value, body: Value) -> reqwest::Response {
    app.admin(Method::PATCH, &format!("/api/v1/imports/{}", import["id"]))
        .header("if-match", format!("\"{}-{}\"", import["id"], import["version"]))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn contact_persons_come_in_from_a_windows_1251_csv_matched_to_their_companies() {
    let app = TestApp::spawn().await;
    let alfa = app.client(json!({"name": "ООО Альфа", "inn": "7707083893", "region": "Москва"})).await;
    let beta = app.client(json!({"name": "Бета", "region": "Тула"})).await;
    let csv = "Компания;ИНН;ФИО;Должность;Телефон;E-mail;Дата рождения;ЛПР\n\
               ООО Альфа;7707083893;Иван Петров;Директор;8 916 123-45-67;ivan@alfa.ru;01.03.1980;да\n\
               Бета;;Мария Смирнова;Бухгалтер;;maria@beta.ru;;нет\n\
               Неизвестная;;Кто-то;;;x@example.com;;\n\
               ООО Альфа;7707083893;Пётр;;;IVAN@alfa.ru;;\n\
               ООО Альфа;7707083893;;;+7 916 000-00-01;;;\n";
    let import = upload(&app, "contacts", "text/csv", cp1251(csv)).await;
    assert_eq!(import["entity"], "contacts");
    let m = &import["mapping"];
    assert_eq!(
        [
            &m["Компания"],
            &m["ИНН"],
            &m["ФИО"],
            &m["Должность"],
            &m["Телефон"],
            &m["E-mail"],
            &m["Дата рождения"],
            &m["ЛПР"]
        ],
        ["client.name", "client.inn", "name", "position", "phones", "emails", "birthday", "is_decision_maker"]
    );
    assert_eq!(import["match_on"], json!(["inn", "name_region", "name"]));

    let p = preview(&app, import["id"].as_i64().unwrap()).await;
    assert_eq!((p["totals"]["create"].as_i64(), p["totals"]["error"].as_i64()), (Some(2), Some(3)), "{p}");
    let rows = p["rows"].as_array().unwrap();
    assert_eq!(rows[0]["client_id"], alfa["id"]);
    assert_eq!(rows[1]["client_id"], beta["id"], "found by its name alone");
    assert_eq!(rows[2]["errors"][0]["field"], "client");
    assert_eq!(rows[3]["errors"][0]["message"], "repeats row 1", "the same email, case aside");
    assert_eq!(rows[4]["errors"][0]["field"], "name");
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM contacts"), 0, "a preview writes nothing");

    let id = import["id"].as_i64().unwrap();
    let done = run(&app, id).await;
    assert_eq!((done["created"].as_i64(), done["errors"].as_i64()), (Some(2), Some(3)));
    let ivan = contacts_of(&app, &alfa).await.remove(0);
    assert_eq!(ivan["name"], "Иван Петров");
    assert_eq!(ivan["phones"][0]["number"], "+79161234567");
    assert_eq!((ivan["birthday"].as_str(), ivan["is_decision_maker"].as_bool()), (Some("1980-03-01"), Some(true)));
    assert_eq!(contacts_of(&app, &beta).await[0]["emails"][0]["address"], "maria@beta.ru");

    // The same file again creates nothing: each person is found by email within the company.
    let again = upload(&app, "contacts", "text/csv", cp1251(csv)).await;
    let done = run(&app, again["id"].as_i64().unwrap()).await;
    assert_eq!((done["created"].as_i64(), done["unchanged"].as_i64()), (Some(0), Some(2)));

    // A promotion comes in by another file; its revert puts the position back.
    let promotion = "ИНН;ФИО;Должность;E-mail\n7707083893;Иван Петров;Генеральный директор;ivan@alfa.ru\n";
    let second = upload(&app, "contacts", "text/csv", promotion.as_bytes().to_vec()).await;
    let p = preview(&app, second["id"].as_i64().unwrap()).await;
    assert_eq!(p["rows"][0]["outcome"], "update");
    assert_eq!(p["rows"][0]["record_id"], ivan["id"]);
    assert_eq!(p["rows"][0]["changes"], json!(["position"]));
    assert_eq!(run(&app, second["id"].as_i64().unwrap()).await["updated"], 1);
    assert_eq!(contacts_of(&app, &alfa).await[0]["position"], "Генеральный директор");
    assert_eq!(revert(&app, second["id"].as_i64().unwrap()).await["restored"], 1);
    assert_eq!(contacts_of(&app, &alfa).await[0]["position"], "Директор");

    // Reverting the first import deletes Мария; Иван changed since (twice) and stays.
    let summary = revert(&app, id).await;
    assert_eq!((summary["deleted"].as_i64(), summary["conflict_count"].as_i64()), (Some(1), Some(1)), "{summary}");
    assert_eq!(summary["conflicts"][0]["record_id"], ivan["id"]);
    assert!(contacts_of(&app, &beta).await.is_empty());
    assert_eq!(contacts_of(&app, &alfa).await.len(), 1);
}

#[tokio::test]
async fn purchases_come_in_from_an_xlsx_and_a_second_run_of_the_file_adds_nothing() {
    let app = TestApp::spawn().await;
    let alfa = app.client(json!({"name": "ООО Альфа", "inn": "7707083893"})).await;
    let beta = app.client(json!({"name": "Бета", "inn": "500100732259"})).await;
    let header = ["Дата", "Покупатель", "ИНН", "Номер документа", "Сумма", "Себестоимость"];
    let rows = vec![
        vec![json!("15.01.2026"), json!("ООО Альфа"), json!(7707083893i64), json!("РН-1"), json!(1500.5), json!(1000)],
        vec![
            json!("2026-02-03"),
            json!("ООО Альфа"),
            json!(7707083893i64),
            json!("РН-2"),
            json!("12 000,00"),
            json!(""),
        ],
        vec![json!("03.02.2026"), json!("Бета"), json!(""), json!(""), json!(700), json!("")],
        vec![json!("31.02.2026"), json!("Бета"), json!(""), json!(""), json!(700), json!("")],
        vec![json!("04.02.2026"), json!("Гамма"), json!(""), json!(""), json!("много"), json!("")],
    ];
    let bytes = workbook(&header, &rows);
    let import = upload(&app, "sales", XLSX, bytes.clone()).await;
    let m = &import["mapping"];
    assert_eq!(
        [&m["Дата"], &m["Покупатель"], &m["ИНН"], &m["Номер документа"], &m["Сумма"], &m["Себестоимость"]],
        ["sold_on", "client.name", "client.inn", "document_number", "amount", "cost"]
    );
    let id = import["id"].as_i64().unwrap();
    let p = preview(&app, id).await;
    assert_eq!((p["totals"]["create"].as_i64(), p["totals"]["error"].as_i64()), (Some(3), Some(2)), "{p}");
    assert_eq!(p["rows"][3]["errors"][0]["field"], "sold_on", "31 February");
    assert_eq!(p["rows"][4]["errors"][0]["field"], "client", "{}", p["rows"][4]);
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM sales"), 0, "a preview writes nothing");

    let done = run(&app, id).await;
    assert_eq!((done["created"].as_i64(), done["errors"].as_i64()), (Some(3), Some(2)));
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", alfa["id"])).send().await.unwrap()).await;
    assert_eq!(card["purchases"]["revenue"], "13500.50", "the client's figures follow");
    assert_eq!(card["purchases"]["margin"], "500.50");
    let res = app.admin(Method::GET, &format!("/api/v1/sales?client_id={}", beta["id"])).send().await.unwrap();
    let sales = json(res).await;
    assert_eq!(
        (sales["items"][0]["amount"].as_str(), sales["items"][0]["sold_on"].as_str()),
        (Some("700.00"), Some("2026-02-03"))
    );

    let again = upload(&app, "sales", XLSX, bytes).await;
    let done = run(&app, again["id"].as_i64().unwrap()).await;
    assert_eq!((done["created"].as_i64(), done["unchanged"].as_i64()), (Some(0), Some(3)), "{done}");
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM sales"), 3);

    assert_eq!(revert(&app, id).await["deleted"], 3);
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM sales"), 0);
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", alfa["id"])).send().await.unwrap()).await;
    assert_eq!(card["purchases"]["purchase_count"], 0);
}

#[tokio::test]
async fn sales_with_their_own_ids_are_updated_by_a_later_file_and_the_revert_writes_them_back() {
    let app = TestApp::spawn().await;
    let alfa = app.client(json!({"name": "ООО Альфа", "inn": "7707083893"})).await;
    let first = "Документ 1С;Дата;ИНН;Сумма\nD-1;2026-03-01;7707083893;100\nD-2;2026-03-02;7707083893;200\n";
    let import = upload(&app, "sales", "text/csv", first.as_bytes().to_vec()).await;
    let mut mapping = import["mapping"].clone();
    mapping["Документ 1С"] = json!("external_id:1c");
    let res = configure(&app, &import, json!({"mapping": mapping, "mode": "create"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(run(&app, import["id"].as_i64().unwrap()).await["created"], 2);

    let second = "Документ 1С;Дата;ИНН;Сумма\nD-1;2026-03-01;7707083893;150\nD-2;2026-03-02;7707083893;200\nD-3;2026-03-03;7707083893;50\n";
    let import = upload(&app, "sales", "text/csv", second.as_bytes().to_vec()).await;
    let res = configure(&app, &import, json!({"mapping": mapping, "mode": "update"})).await;
    assert_eq!(res.status(), 200);
    let id = import["id"].as_i64().unwrap();
    let p = preview(&app, id).await;
    let outcomes: Vec<&str> = p["rows"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["update", "unchanged", "skip"]);
    assert_eq!(p["rows"][0]["changes"], json!(["amount"]));
    run(&app, id).await;
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", alfa["id"])).send().await.unwrap()).await;
    assert_eq!(card["purchases"]["revenue"], "350.00");

    assert_eq!(revert(&app, id).await["restored"], 1);
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", alfa["id"])).send().await.unwrap()).await;
    assert_eq!(card["purchases"]["revenue"], "300.00", "D-1 is 100 again");
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM sales"), 2);
}

#[tokio::test]
async fn settings_of_contact_and_sale_imports_are_checked_in_their_own_vocabulary() {
    let app = TestApp::spawn().await;
    let csv = "Клиент;Сумма;Дата\nАльфа;10;2026-01-01\n";
    let import = upload(&app, "sales", "text/csv", csv.as_bytes().to_vec()).await;
    let body = json!({
        "mapping": {"Клиент": "client.owner", "Сумма": "custom_fields.bonus", "Дата": "sold_on"},
        "mode": "update",
        "defaults": {"status": "active"},
        "values": {"status": {"Активный": "active"}}
    });
    let p = problem(configure(&app, &import, body).await, 422).await;
    let f = fields(&p);
    for field in ["mapping.Клиент", "mapping.Сумма", "mapping", "mode", "defaults", "values.status"] {
        assert!(f.iter().any(|x| x == field), "{field} in {f:?}");
    }
    let res = app
        .admin(Method::POST, "/api/v1/imports?entity=deals")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}
