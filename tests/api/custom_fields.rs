//! Typed custom fields end to end: definitions, the validation of every write of clients,
//! contacts and deals, uniqueness the database holds, filters in the list, segments and the
//! export, and typed columns in imports.

use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{count, fields, json, problem, TestApp};

async fn define(app: &TestApp, body: Value) -> Value {
    let res = app.admin(Method::POST, "/api/v1/custom-fields").json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "{body}");
    json(res).await
}

async fn create(app: &TestApp, body: Value) -> reqwest::Response {
    app.admin(Method::POST, "/api/v1/clients").json(&body).send().await.unwrap()
}

async fn list_ids(app: &TestApp, query: &str) -> Vec<i64> {
    let res = app.admin(Method::GET, &format!("/api/v1/clients?{query}")).send().await.unwrap();
    assert_eq!(res.status(), 200, "{query}");
    let page = json(res).await;
    let mut ids: Vec<i64> = page["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids
}

/// Fields of every type on clients, one unique and one required.
async fn fields_of_every_kind(app: &TestApp) {
    define(app, json!({"entity": "client", "key": "contract_no", "label": "Договор", "type": "text", "unique": true, "filterable": true})).await;
    define(
        app,
        json!({"entity": "client", "key": "employees", "label": "Сотрудников", "type": "number", "filterable": true}),
    )
    .await;
    define(app, json!({"entity": "client", "key": "credit_limit", "label": "Кредитный лимит", "type": "decimal"}))
        .await;
    define(app, json!({"entity": "client", "key": "since", "label": "Клиент с", "type": "date", "filterable": true}))
        .await;
    define(app, json!({"entity": "client", "key": "vip", "label": "VIP", "type": "boolean", "filterable": true})).await;
    define(
        app,
        json!({"entity": "client", "key": "tier", "label": "Уровень", "type": "select", "filterable": true,
               "options": [{"code": "gold", "label": "Золото"}, {"code": "silver", "label": "Серебро"}]}),
    )
    .await;
    define(
        app,
        json!({"entity": "client", "key": "lines", "label": "Направления", "type": "multiselect", "filterable": true,
               "options": [{"code": "retail", "label": "Розница"}, {"code": "opt", "label": "Опт"}]}),
    )
    .await;
    define(app, json!({"entity": "client", "key": "site", "label": "Сайт", "type": "url"})).await;
    define(app, json!({"entity": "client", "key": "billing", "label": "Почта бухгалтерии", "type": "email"})).await;
    define(app, json!({"entity": "client", "key": "hotline", "label": "Горячая линия", "type": "phone"})).await;
}

#[tokio::test]
async fn definitions_type_the_values_of_every_write_and_the_database_holds_uniqueness() {
    let app = TestApp::spawn().await;
    // A key written before definitions existed stays readable and does not block edits.
    let old = app.client(json!({"name": "Старый"})).await;
    let sql = format!("UPDATE clients SET custom_fields = '{{\"legacy_code\":\"A-1\"}}' WHERE id = {}", old["id"]);
    diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut app.conn()).unwrap();
    fields_of_every_kind(&app).await;

    let res = create(
        &app,
        json!({"name": "Ромашка", "custom_fields": {
            "contract_no": " Д-17 ", "employees": 40, "credit_limit": "0150000,50", "since": "01.02.2024",
            "vip": true, "tier": "gold", "lines": ["retail", "opt", "retail"], "site": "https://romashka.ru",
            "billing": "Buh@Romashka.RU", "hotline": "8 (495) 123-45-67"}}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let card = json(res).await;
    let cf = &card["custom_fields"];
    assert_eq!(cf["contract_no"], "Д-17");
    assert_eq!(cf["credit_limit"], "150000.5");
    assert_eq!(cf["since"], "2024-02-01");
    assert_eq!(cf["lines"], json!(["retail", "opt"]));
    assert_eq!(cf["billing"], "buh@romashka.ru");
    assert_eq!(cf["hotline"], "+74951234567");

    // Wrong types, unknown options and undefined keys: one 422 naming each field.
    let res = create(
        &app,
        json!({"name": "Ошибки", "custom_fields": {
            "employees": "много", "credit_limit": "1e5", "since": "2024-13-01", "vip": "yes", "tier": "platinum",
            "lines": ["wholesale"], "site": "javascript:alert(1)", "billing": "нет", "hotline": "12", "colour": "red"}}),
    )
    .await;
    let p = problem(res, 422).await;
    let mut got = fields(&p);
    got.sort();
    let mut want: Vec<String> =
        ["employees", "credit_limit", "since", "vip", "tier", "lines", "site", "billing", "hotline", "colour"]
            .iter()
            .map(|k| format!("custom_fields.{k}"))
            .collect();
    want.sort();
    assert_eq!(got, want, "{p}");

    // A unique value another card holds: 422 naming the field, case aside.
    let res = create(&app, json!({"name": "Дубль", "custom_fields": {"contract_no": "д-17"}})).await;
    assert_eq!(fields(&problem(res, 422).await), ["custom_fields.contract_no"]);
    // Even past the check the database refuses it: the index is unique.
    let mut conn = app.conn();
    let dup = diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "INSERT INTO custom_field_values (entity, record_id, field_key, value, unique_value) \
             VALUES ('client', {}, 'contract_no', 'д-17', 'д-17')",
            old["id"]
        )),
        &mut conn,
    );
    assert!(dup.is_err(), "the database lets two cards share a unique value");
    drop(conn);

    // The legacy key stays through an unrelated change; writing it anew is refused.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{}", old["id"]))
        .json(&json!({"name": "Старый клиент"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["custom_fields"]["legacy_code"], "A-1");
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{}", old["id"]))
        .json(&json!({"custom_fields": {"legacy_code": "B-2"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["custom_fields.legacy_code"]);

    // A deleted card frees its unique value; restoring it while another holds it is refused.
    let res = app.admin(Method::DELETE, &format!("/api/v1/clients/{}", card["id"])).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let res = create(&app, json!({"name": "Новый", "custom_fields": {"contract_no": "Д-17"}})).await;
    assert_eq!(res.status(), 201);
    let res = app.admin(Method::POST, &format!("/api/v1/clients/{}/restore", card["id"])).send().await.unwrap();
    assert_eq!(res.status(), 409);

    // Required applies to new cards and to changed custom fields, not to old cards' other edits.
    let list = json(app.admin(Method::GET, "/api/v1/custom-fields?entity=client").send().await.unwrap()).await;
    let employees = list.as_array().unwrap().iter().find(|d| d["key"] == "employees").unwrap().clone();
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/custom-fields/{}", employees["id"]))
        .header("If-Match", format!("\"{}-{}\"", employees["id"], employees["version"]))
        .json(&json!({"required": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = create(&app, json!({"name": "Без сотрудников"})).await;
    assert_eq!(fields(&problem(res, 422).await), ["custom_fields.employees"]);
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{}", old["id"]))
        .json(&json!({"notes": "звонить утром"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Contacts and deals are typed the same way.
    define(&app, json!({"entity": "contact", "key": "telegram", "label": "Telegram", "type": "text", "unique": true}))
        .await;
    define(&app, json!({"entity": "deal", "key": "tender_no", "label": "Тендер", "type": "number"})).await;
    let owner = old["id"].as_i64().unwrap();
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{owner}/contacts"))
        .json(&json!({"name": "Анна", "custom_fields": {"telegram": "@anna"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(json(res).await["custom_fields"]["telegram"], "@anna");
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{owner}/contacts"))
        .json(&json!({"name": "Не Анна", "custom_fields": {"telegram": "@ANNA"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["custom_fields.telegram"]);
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": owner, "title": "Тендер", "custom_fields": {"tender_no": "сорок"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["custom_fields.tender_no"]);
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": owner, "title": "Тендер", "custom_fields": {"tender_no": 40}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn definitions_are_checked_and_options_in_use_are_archived_not_removed() {
    let app = TestApp::spawn().await;
    let bad = [
        (json!({"entity": "client", "key": "Bad Key", "label": "x", "type": "text"}), "key"),
        (json!({"entity": "client", "key": "tier", "label": "x", "type": "select"}), "options"),
        (json!({"entity": "client", "key": "flag", "label": "x", "type": "boolean", "unique": true}), "unique"),
        (json!({"entity": "client", "key": "n", "label": "", "type": "number"}), "label"),
    ];
    for (body, field) in bad {
        let res = app.admin(Method::POST, "/api/v1/custom-fields").json(&body).send().await.unwrap();
        assert_eq!(fields(&problem(res, 422).await), [field], "{body}");
    }
    let res = app
        .admin(Method::POST, "/api/v1/custom-fields")
        .json(&json!({"entity": "client", "key": "x", "label": "x", "type": "colour"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["type"], "an unknown type is named");
    let (_, manager) = app.user(Role::Manager, "manager@example.ru");
    let res = app
        .req(Method::POST, "/api/v1/custom-fields", &manager)
        .json(&json!({"entity": "client", "key": "x", "label": "x", "type": "text"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "definitions need settings:manage");

    let tier = define(
        &app,
        json!({"entity": "client", "key": "tier", "label": "Уровень", "type": "select",
               "options": [{"code": "gold", "label": "Золото"}, {"code": "bronze", "label": "Бронза"}]}),
    )
    .await;
    let res = app
        .admin(Method::POST, "/api/v1/custom-fields")
        .json(&json!({"entity": "client", "key": "tier", "label": "Ещё", "type": "text"}))
        .send()
        .await
        .unwrap();
    problem(res, 409).await;
    let card = app.client(json!({"name": "Ромашка", "custom_fields": {"tier": "gold"}})).await;
    let path = format!("/api/v1/custom-fields/{}", tier["id"]);
    // Gold is in use: it can be archived, not left out. Bronze is unused and may go.
    let res = app
        .admin(Method::PATCH, &path)
        .json(&json!({"options": [{"code": "bronze", "label": "Бронза"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["options"]);
    let res = app
        .admin(Method::PATCH, &path)
        .json(&json!({"options": [{"code": "gold", "label": "Золото", "archived": true}, {"code": "silver", "label": "Серебро"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The card keeps its archived option through other edits; choosing it anew is refused.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{}", card["id"]))
        .json(&json!({"notes": "ok"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["custom_fields"]["tier"], "gold");
    let res = create(&app, json!({"name": "Новый", "custom_fields": {"tier": "gold"}})).await;
    assert_eq!(fields(&problem(res, 422).await), ["custom_fields.tier"]);
    // Stale If-Match is a 412.
    let res = app
        .admin(Method::PATCH, &path)
        .header("If-Match", format!("\"{}-1\"", tier["id"]))
        .json(&json!({"label": "Класс"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412);

    // Making a field unique over values that repeat is refused until they are distinct.
    // Written before any definition of `code` (as an earlier release allowed).
    for name in ["А", "Б"] {
        let id = app.client(json!({"name": name})).await["id"].clone();
        let sql = format!("UPDATE clients SET custom_fields = '{{\"code\":\"1\"}}' WHERE id = {id}");
        diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut app.conn()).unwrap();
    }
    let res = app
        .admin(Method::POST, "/api/v1/custom-fields")
        .json(&json!({"entity": "client", "key": "code", "label": "Код", "type": "text", "unique": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["unique"]);
    let code =
        define(&app, json!({"entity": "client", "key": "code", "label": "Код", "type": "text", "filterable": true}))
            .await;
    assert_eq!(list_ids(&app, "cf.code=1").await.len(), 2, "values written before the definition are indexed");
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/custom-fields/{}", code["id"]))
        .json(&json!({"unique": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["unique"]);
}

#[tokio::test]
async fn filterable_fields_filter_the_list_segments_and_the_export() {
    let app = TestApp::spawn().await;
    fields_of_every_kind(&app).await;
    let card = |name: &str, cf: Value| {
        let app = &app;
        let body = json!({"name": name, "custom_fields": cf});
        async move { app.client(body).await["id"].as_i64().unwrap() }
    };
    let a = card("Альфа", json!({"employees": 10, "since": "2020-05-01", "vip": true, "tier": "gold", "lines": ["retail"], "contract_no": "A-1"})).await;
    let b = card(
        "Бета",
        json!({"employees": 250, "since": "2024-01-15", "vip": false, "tier": "silver", "lines": ["retail", "opt"]}),
    )
    .await;
    let c = card("Гамма", json!({"employees": 40})).await;

    assert_eq!(list_ids(&app, "cf.tier=gold").await, [a]);
    assert_eq!(list_ids(&app, "cf.tier=%D0%A1%D0%B5%D1%80%D0%B5%D0%B1%D1%80%D0%BE").await, [b], "by label");
    assert_eq!(list_ids(&app, "cf.tier=gold&cf.tier=silver").await, [a, b]);
    assert_eq!(list_ids(&app, "cf.lines=opt").await, [b]);
    assert_eq!(list_ids(&app, "cf.lines=retail").await, [a, b]);
    assert_eq!(list_ids(&app, "cf.employees.gte=40").await, [b, c]);
    assert_eq!(list_ids(&app, "cf.employees.gte=20&cf.employees.lte=100").await, [c]);
    assert_eq!(list_ids(&app, "cf.since.lte=2023-12-31").await, [a]);
    assert_eq!(list_ids(&app, "cf.vip=%D0%BD%D0%B5%D1%82").await, [b], "нет reads as false");
    assert_eq!(list_ids(&app, "cf.contract_no=a-1").await, [a], "text compares case aside");

    // Bad filters are 400s naming the parameter.
    for (query, field) in [
        ("cf.nope=1", "cf.nope"),
        ("cf.site=x", "cf.site"),
        ("cf.employees=many", "cf.employees"),
        ("cf.vip.gte=1", "cf.vip"),
        ("cf.since.gte=2024-02-30", "cf.since"),
        ("cf.a.b=1", "cf.a.b"),
    ] {
        let res = app.admin(Method::GET, &format!("/api/v1/clients?{query}")).send().await.unwrap();
        assert_eq!(fields(&problem(res, 400).await), [field], "{query}");
    }

    // Segments (and so automations' client filters) take the same tests.
    let res = app
        .admin(Method::POST, "/api/v1/segments")
        .json(&json!({"name": "Крупные", "filter": {"custom_fields": {"employees": {"gte": "40"}, "lines": {"any_of": ["Розница"]}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let segment = json(res).await;
    let res = app.admin(Method::GET, &format!("/api/v1/segments/{}/clients", segment["id"])).send().await.unwrap();
    let members: Vec<i64> =
        json(res).await["items"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(members, [b]);
    let res = app
        .admin(Method::POST, "/api/v1/segments")
        .json(&json!({"name": "Плохой", "filter": {"custom_fields": {"site": {"any_of": ["x"]}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["filter.custom_fields.site"]);

    // The export has a column per live field, under its label, filtered the same way.
    let res =
        app.admin(Method::GET, "/api/v1/clients/export?format=csv&bom=false&cf.employees.gte=40").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert!(
        header.ends_with(&[
            "Договор".to_string(),
            "Сотрудников".into(),
            "Кредитный лимит".into(),
            "Клиент с".into(),
            "VIP".into(),
            "Уровень".into(),
            "Направления".into(),
            "Сайт".into(),
            "Почта бухгалтерии".into(),
            "Горячая линия".into()
        ]),
        "{header:?}"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let beta = rows.iter().find(|r| &r[at("name")] == "Бета").unwrap();
    assert_eq!((&beta[at("Сотрудников")], &beta[at("Направления")], &beta[at("VIP")]), ("250", "retail, opt", "false"));
    // Deleting a card takes its values out of the index.
    app.admin(Method::DELETE, &format!("/api/v1/clients/{a}")).send().await.unwrap();
    let n = count(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM custom_field_values WHERE record_id = {a}"));
    assert_eq!(n, 0);
}

#[tokio::test]
async fn imports_read_custom_columns_by_type_and_refuse_repeated_unique_values() {
    let app = TestApp::spawn().await;
    fields_of_every_kind(&app).await;
    let csv = "Наименование;Договор;Сотрудников;Уровень;VIP;Клиент с\n\
               Альфа;A-1;1 200;Золото;да;01.02.2024\n\
               Бета;A-1;12;Серебро;нет;\n\
               Гамма;B-2;много;Золото;может;\n\
               Дельта;C-3;5;Платина;да;2024-13-01\n";
    let res = app
        .admin(Method::POST, "/api/v1/imports")
        .header("content-type", "text/csv")
        .body(csv.as_bytes().to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let import = json(res).await;
    let mapping = &import["mapping"];
    assert_eq!(mapping["Договор"], "custom_fields.contract_no", "a field's label is recognised: {mapping}");
    assert_eq!(mapping["Уровень"], "custom_fields.tier");
    let id = import["id"].as_i64().unwrap();
    // A mapping to an undefined field is refused up front.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/imports/{id}"))
        .json(&json!({"mapping": {"Договор": "custom_fields.nowhere"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["mapping.Договор"]);
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/preview")).send().await.unwrap();
    let preview = json(res).await;
    let rows = preview["rows"].as_array().unwrap();
    assert_eq!(rows[0]["outcome"], "create", "{preview}");
    assert_eq!(rows[1]["outcome"], "error", "the same unique value as row 2");
    assert_eq!(rows[1]["errors"][0]["field"], "custom_fields.contract_no");
    let mut bad: Vec<String> =
        rows[2]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_string()).collect();
    bad.sort();
    assert_eq!(bad, ["custom_fields.employees", "custom_fields.vip"], "cells that do not read as the type");
    let mut bad: Vec<String> =
        rows[3]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_string()).collect();
    bad.sort();
    assert_eq!(bad, ["custom_fields.since", "custom_fields.tier"], "values the fields do not take");
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/run")).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let now = json(app.admin(Method::GET, &format!("/api/v1/imports/{id}")).send().await.unwrap()).await;
        if now["state"] != "running" || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        (done["state"].clone(), done["created"].clone(), done["errors"].clone()),
        (json!("done"), json!(1), json!(3))
    );
    let res = app.admin(Method::GET, "/api/v1/clients?cf.tier=gold").send().await.unwrap();
    let alpha = json(res).await["items"][0].clone();
    assert_eq!(
        alpha["custom_fields"],
        json!({"contract_no": "A-1", "employees": 1200, "tier": "gold", "vip": true, "since": "2024-02-01"})
    );
}
