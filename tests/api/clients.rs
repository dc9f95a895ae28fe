use std::collections::HashSet;

use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn a_client_card_round_trips_normalised() {
    let app = TestApp::spawn().await;
    for (key, kind) in [("loyalty_card", "text"), ("stores", "number")] {
        let body = json!({"entity": "client", "key": key, "label": key, "type": kind});
        let res = app.admin(Method::POST, "/api/v1/custom-fields").json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
    }
    let res = app
        .admin(Method::POST, "/api/v1/clients")
        .json(&json!({
            "kind": "company",
            "name": "  ООО «Ромашка»  ",
            "legal_name": "Общество с ограниченной ответственностью «Ромашка»",
            "inn": "7707083893",
            "status": "active",
            "channel": "chain",
            "region": "Ярославская область",
            "industry": "Розничная торговля",
            "source": "exhibition",
            "tags": ["VIP", "vip", "Опт"],
            "notes": "Звонить до обеда",
            "custom_fields": {"loyalty_card": "A-17", "stores": 12},
            "external_ids": {"1c": "9f3a-01"},
            "phones": [{"number": "8 (4852) 12-34-56", "type": "work"}, {"number": "+7 916 123-45-67", "type": "mobile"}],
            "emails": [{"address": "Info@Romashka.RU"}],
            "addresses": [{"type": "legal", "line": "ул. Свободы, 1", "city": "Ярославль"}],
            "mailing_consent": true,
            "estimated_potential": "1500000.5"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let c = json(res).await;
    assert_eq!(c["name"], "ООО «Ромашка»");
    assert_eq!(c["tags"], json!(["vip", "опт"]));
    assert_eq!(c["phones"][0]["number"], "+74852123456");
    assert_eq!(c["phones"][1]["number"], "+79161234567");
    assert_eq!(c["emails"][0]["address"], "info@romashka.ru");
    assert_eq!(c["estimated_potential"], "1500000.50");
    assert_eq!(c["owner_id"], app.admin_id);
    assert_eq!(c["custom_fields"]["stores"], 12);
    assert_eq!(c["version"], 1);

    let res = app.admin(Method::GET, &location).send().await.unwrap();
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(json(res).await, c);

    // The stored phone answers the lookup index in E.164.
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM contact_points WHERE value = '+74852123456'"), 1);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'client.created'"), 1);
}

#[tokio::test]
async fn invalid_cards_name_every_bad_field() {
    let app = TestApp::spawn().await;
    let res = app
        .admin(Method::POST, "/api/v1/clients")
        .json(&json!({
            "name": " ",
            "inn": "7707083894",
            "status": "lost",
            "channel": "no_such_channel",
            "owner_id": 424242,
            "phones": [{"number": "12"}],
            "emails": [{"address": "nobody"}],
            "estimated_potential": "12.345"
        }))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    let got: HashSet<String> = fields(&p).into_iter().collect();
    let want: HashSet<String> = [
        "name",
        "inn",
        "lost_reason",
        "channel",
        "owner_id",
        "phones[0].number",
        "emails[0].address",
        "estimated_potential",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(got, want, "{p}");
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM clients"), 0);
}

#[tokio::test]
async fn malformed_requests_are_4xx_problems() {
    let app = TestApp::spawn().await;
    let post = |body: &'static str, content_type: &'static str| {
        app.admin(Method::POST, "/api/v1/clients").header("content-type", content_type).body(body)
    };
    problem(post("{\"name\": ", "application/json").send().await.unwrap(), 400).await;
    problem(post("{\"name\": \"A\"}", "text/plain").send().await.unwrap(), 415).await;
    let p =
        problem(post("{\"name\": \"A\", \"colour\": \"red\"}", "application/json").send().await.unwrap(), 422).await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("colour"));
    let p =
        problem(post("{\"name\": \"A\", \"kind\": \"robot\"}", "application/json").send().await.unwrap(), 422).await;
    assert_eq!(fields(&p), ["kind"]);
    let p = problem(post("{\"name\": 5}", "application/json").send().await.unwrap(), 422).await;
    assert_eq!(fields(&p), ["name"]);
    let p = problem(post("[]", "application/json").send().await.unwrap(), 422).await;
    assert_eq!(fields(&p), ["body"]);
    let big = format!("{{\"name\": \"{}\"}}", "я".repeat(300_000));
    let res = app
        .admin(Method::POST, "/api/v1/clients")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    problem(res, 413).await;

    for query in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=garbage",
        "status=gone",
        "sort=colour",
        "colour=red",
        "updated_since=yesterday",
    ] {
        let res = app.admin(Method::GET, &format!("/api/v1/clients?{query}")).send().await.unwrap();
        let p = problem(res, 400).await;
        assert_eq!(fields(&p).len(), 1, "{query}: {p}");
    }
    problem(app.admin(Method::GET, "/api/v1/clients/abc").send().await.unwrap(), 404).await;
    problem(app.admin(Method::GET, "/api/v1/nowhere").send().await.unwrap(), 404).await;

    // NUL characters (which PostgreSQL text cannot hold) are refused where they are, before
    // anything is written or streamed.
    let p = problem(
        post(r#"{"name": "A", "phones": [{"number": "+7\u0000"}]}"#, "application/json").send().await.unwrap(),
        422,
    )
    .await;
    assert_eq!(fields(&p), ["phones[0].number"]);
    for path in ["/api/v1/clients?region=%00", "/api/v1/clients/export?format=csv&tag=a%00b"] {
        let p = problem(app.admin(Method::GET, path).send().await.unwrap(), 400).await;
        assert_eq!(p["errors"][0]["message"], "must not contain NUL characters", "{path}");
    }
    let res = app.admin(Method::PATCH, "/api/v1/channels/a%00").json(&json!({"name": "x"})).send().await.unwrap();
    problem(res, 404).await;
    let res = app
        .http
        .post(app.url("/api/v1/auth/token"))
        .body("grant_type=password&username=a%00")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM clients"), 0);
}

async fn all_pages(app: &TestApp, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("/api/v1/clients?{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = json(app.admin(Method::GET, &url).send().await.unwrap()).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn pagination_loses_and_repeats_nothing() {
    let app = TestApp::spawn().await;
    // Equal names force the id tie-breaker to do its work.
    for i in 0..23 {
        app.client(json!({"name": format!("Клиент {}", i % 5)})).await;
    }
    for sort in ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"] {
        let items = all_pages(&app, &format!("limit=4&sort={sort}")).await;
        let ids: Vec<i64> = items.iter().map(|c| c["id"].as_i64().unwrap()).collect();
        let unique: HashSet<i64> = ids.iter().copied().collect();
        assert_eq!(ids.len(), 23, "{sort}");
        assert_eq!(unique.len(), 23, "{sort}");
        if sort == "name" {
            let names: Vec<&str> = items.iter().map(|c| c["name"].as_str().unwrap()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted);
        }
    }
    // Rows inserted behind the cursor while paging do not shift what follows.
    let first = json(app.admin(Method::GET, "/api/v1/clients?limit=10&sort=created_at").send().await.unwrap()).await;
    let seen: Vec<i64> = first["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    for i in 0..3 {
        app.client(json!({"name": format!("Новый {i}")})).await;
    }
    let cursor = first["next_cursor"].as_str().unwrap();
    let mut rest = Vec::new();
    let mut next = Some(cursor.to_string());
    while let Some(c) = next {
        let page = json(
            app.admin(Method::GET, &format!("/api/v1/clients?limit=10&sort=created_at&cursor={c}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        rest.extend(page["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()));
        next = page["next_cursor"].as_str().map(String::from);
    }
    assert_eq!(seen.len() + rest.len(), 26);
    assert!(rest.iter().all(|id| !seen.contains(id)));
    // A cursor from one sort is refused by another.
    let res = app.admin(Method::GET, &format!("/api/v1/clients?sort=name&cursor={cursor}")).send().await.unwrap();
    problem(res, 400).await;
}

#[tokio::test]
async fn search_is_case_insensitive_in_cyrillic_and_finds_phones_in_any_format() {
    let app = TestApp::spawn().await;
    let romashka = app
        .client(json!({"name": "ООО РОМАШКА", "inn": "500100732259", "phones": [{"number": "+7 (4852) 12-34-56"}]}))
        .await;
    app.client(json!({"name": "Ёлки-Палки", "emails": [{"address": "zakaz@elki.ru"}]})).await;
    app.client(json!({"name": "Lily 42% Ltd_"})).await;
    app.client(json!({"name": "Ромашка", "legal_name": "АО «Берёзовая роща»"})).await;
    app.client(json!({"name": "ИП Петров"})).await;
    let ids = |page: Value| -> Vec<String> {
        let mut names: Vec<String> =
            page["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    };
    let search = |q: &str| {
        let url = format!("/api/v1/clients?q={}", urlencode(q));
        app.admin(Method::GET, &url).send()
    };
    assert_eq!(ids(json(search("ромашка").await.unwrap()).await), ["ООО РОМАШКА", "Ромашка"]);
    assert_eq!(ids(json(search("рОмАш").await.unwrap()).await), ["ООО РОМАШКА", "Ромашка"]);
    // Word by word: `ё` as `е`, quotes, punctuation and legal forms ignored on both sides.
    for q in ["ёлки", "елки", "Елки палки", "«ЁЛКИ-ПАЛКИ»"] {
        assert_eq!(ids(json(search(q).await.unwrap()).await), ["Ёлки-Палки"], "{q}");
    }
    for q in ["ООО «Ромашка»", "АО Ромашка", "ромашка."] {
        assert_eq!(ids(json(search(q).await.unwrap()).await), ["ООО РОМАШКА", "Ромашка"], "{q}");
    }
    assert_eq!(ids(json(search("березовая роща").await.unwrap()).await), ["Ромашка"]);
    assert!(ids(json(search("ооо ромашка роща").await.unwrap()).await).is_empty());
    // A term of legal forms only finds the names with them.
    assert_eq!(ids(json(search("ИП").await.unwrap()).await), ["ИП Петров"]);
    assert_eq!(ids(json(search("ооо").await.unwrap()).await), ["ООО РОМАШКА"]);
    // Emails by their beginning, phones by the whole number or its trailing digits.
    assert_eq!(ids(json(search("ZAKAZ@").await.unwrap()).await), ["Ёлки-Палки"]);
    assert_eq!(ids(json(search("zaka").await.unwrap()).await), ["Ёлки-Палки"]);
    assert_eq!(ids(json(search("500100732259").await.unwrap()).await), ["ООО РОМАШКА"]);
    for phone in ["8 (4852) 12-34-56", "+74852123456", "74852123456", "12-34-56", "2 12 34 56"] {
        assert_eq!(ids(json(search(phone).await.unwrap()).await), ["ООО РОМАШКА"], "{phone}");
    }
    // LIKE wildcards never act as wildcards: in names they are punctuation, in emails literal.
    assert_eq!(ids(json(search("42%").await.unwrap()).await), ["Lily 42% Ltd_"]);
    for q in ["%", "_", "z%", "%@elki.ru"] {
        assert!(ids(json(search(q).await.unwrap()).await).is_empty(), "{q}");
    }
    assert!(ids(json(search("нет такого").await.unwrap()).await).is_empty());
    assert_eq!(romashka["inn"], "500100732259");
}

#[tokio::test]
async fn cards_of_an_earlier_release_get_search_keys_at_start() {
    let app = TestApp::spawn().await;
    let old = app.client(json!({"name": "ООО «Берёзка»", "legal_name": "Берёзка-Юг"})).await;
    let twin = app.client(json!({"name": "Берёзка"})).await;
    // As an earlier release left them: the lowercased names as search text, no name key.
    {
        use diesel::RunQueryDsl;
        let mut conn = app.conn();
        diesel::sql_query(
            "UPDATE clients SET search_text = lower(name), name_key = NULL WHERE id IN ($1, $2)"
                .replace("$1", &old["id"].to_string())
                .replace("$2", &twin["id"].to_string()),
        )
        .execute(&mut conn)
        .unwrap();
    }
    let found = |app: &TestApp, q: &'static str| {
        let req = app.admin(Method::GET, &format!("/api/v1/clients?q={}", urlencode(q))).send();
        async move { json(req.await.unwrap()).await["items"].as_array().unwrap().len() }
    };
    assert_eq!(found(&app, "березка").await, 0);
    // The next server to start over this database recomputes them.
    let restarted = app.replica().await;
    assert_eq!(found(&restarted, "березка").await, 2);
    assert_eq!(found(&restarted, "березка юг").await, 1);
    let mut conn = app.conn();
    let keys = count(&mut conn, "SELECT COUNT(*) AS n FROM clients WHERE name_key = 'березка'");
    assert_eq!(keys, 2);
    // … which also puts them back into the duplicates by name.
    let page = json(app.admin(Method::GET, "/api/v1/clients/duplicates").send().await.unwrap()).await;
    let members: Vec<i64> =
        page["items"][0]["clients"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(page["items"][0]["key"], "|березка", "{page}");
    assert_eq!(members, [old["id"].as_i64().unwrap(), twin["id"].as_i64().unwrap()]);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = TestApp::spawn().await;
    let (manager_id, _) = app.user(Role::Manager, "m@example.ru");
    app.client(json!({"name": "A", "status": "active", "channel": "retail", "region": "Москва", "tags": ["vip"]}))
        .await;
    app.client(
        json!({"name": "B", "status": "potential", "channel": "wholesale", "region": "Москва", "owner_id": manager_id}),
    )
    .await;
    app.client(
        json!({"name": "C", "status": "lost", "lost_reason": "долг", "channel": "retail", "industry": "HoReCa"}),
    )
    .await;
    let names = |v: Value| -> Vec<String> {
        let mut n: Vec<String> =
            v["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    let get = |q: String| app.admin(Method::GET, &format!("/api/v1/clients?{q}")).send();
    assert_eq!(names(json(get("status=active".into()).await.unwrap()).await), ["A"]);
    assert_eq!(names(json(get("channel=retail".into()).await.unwrap()).await), ["A", "C"]);
    assert_eq!(names(json(get(format!("region={}", urlencode("Москва"))).await.unwrap()).await), ["A", "B"]);
    assert_eq!(names(json(get("industry=HoReCa".into()).await.unwrap()).await), ["C"]);
    assert_eq!(names(json(get(format!("owner_id={manager_id}")).await.unwrap()).await), ["B"]);
    assert_eq!(names(json(get("tag=VIP".into()).await.unwrap()).await), ["A"]);
    assert_eq!(names(json(get("status=active&channel=wholesale".into()).await.unwrap()).await), Vec::<String>::new());
    let future = "2999-01-01T00:00:00Z";
    assert!(names(json(get(format!("updated_since={future}")).await.unwrap()).await).is_empty());
    assert_eq!(names(json(get("updated_since=2000-01-01T00:00:00Z".into()).await.unwrap()).await).len(), 3);
}

#[tokio::test]
async fn patch_changes_only_what_is_sent_and_honours_if_match() {
    let app = TestApp::spawn().await;
    let c = app
        .client(
            json!({"name": "Ромашка", "region": "Ярославль", "status": "lost", "lost_reason": "долг", "tags": ["a"]}),
        )
        .await;
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/clients/{id}");
    let res = app
        .admin(Method::PATCH, &path)
        .header("If-Match", format!("\"{id}-1\""))
        .json(&json!({"status": "active", "region": null, "phones": [{"number": "84852000000"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), format!("\"{id}-2\""));
    let c2 = json(res).await;
    assert_eq!(c2["status"], "active");
    assert_eq!(c2["lost_reason"], Value::Null);
    assert_eq!(c2["region"], Value::Null);
    assert_eq!(c2["name"], "Ромашка");
    assert_eq!(c2["tags"], json!(["a"]));
    assert_eq!(c2["phones"][0]["number"], "+74852000000");

    // A stale ETag is refused and changes nothing.
    let res = app
        .admin(Method::PATCH, &path)
        .header("If-Match", format!("\"{id}-1\""))
        .json(&json!({"name": "Перезапись"}))
        .send()
        .await
        .unwrap();
    problem(res, 412).await;
    let res = app.admin(Method::DELETE, &path).header("If-Match", format!("\"{id}-1\"")).send().await.unwrap();
    problem(res, 412).await;
    assert_eq!(json(app.admin(Method::GET, &path).send().await.unwrap()).await["name"], "Ромашка");

    // An unchanged patch keeps the version and emits nothing.
    let res = app.admin(Method::PATCH, &path).json(&json!({"name": "Ромашка"})).send().await.unwrap();
    assert_eq!(json(res).await["version"], 2);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'client.updated'"), 1);
    let res = app.admin(Method::PATCH, &path).json(&json!({"status": "lost"})).send().await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["lost_reason"]);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let send = |body: Value| {
        app.admin(Method::POST, "/api/v1/clients").header("Idempotency-Key", "create-romashka-1").json(&body).send()
    };
    let first = send(json!({"name": "Ромашка"})).await.unwrap();
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].clone();
    let first = json(first).await;
    let again = send(json!({"name": "Ромашка"})).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(json(again).await, first);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM clients"), 1);
    let other = send(json!({"name": "Другая"})).await.unwrap();
    problem(other, 422).await;
    // Keys are per caller: another user's same key is a new request.
    let (_, token) = app.user(Role::Supervisor, "s@example.ru");
    let res = app
        .req(Method::POST, "/api/v1/clients", &token)
        .header("Idempotency-Key", "create-romashka-1")
        .json(&json!({"name": "Ромашка"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn soft_delete_hides_until_restore() {
    let app = TestApp::spawn().await;
    let c = app.client(json!({"name": "Ромашка"})).await;
    let path = format!("/api/v1/clients/{}", c["id"]);
    assert_eq!(app.admin(Method::DELETE, &path).send().await.unwrap().status(), 204);
    problem(app.admin(Method::GET, &path).send().await.unwrap(), 404).await;
    let list = json(app.admin(Method::GET, "/api/v1/clients").send().await.unwrap()).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    problem(app.admin(Method::PATCH, &path).json(&json!({"name": "X"})).send().await.unwrap(), 404).await;
    let res = app.admin(Method::POST, &format!("{path}/restore")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["name"], "Ромашка");
    assert_eq!(app.admin(Method::GET, &path).send().await.unwrap().status(), 200);
    let mut conn = app.conn();
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type IN ('client.deleted', 'client.restored')"),
        2
    );
}

#[tokio::test]
async fn managers_see_and_change_only_their_own_clients() {
    let app = TestApp::spawn().await;
    let (me, my_token) = app.user(Role::Manager, "me@example.ru");
    let (other, _) = app.user(Role::Manager, "other@example.ru");
    let theirs = app.client(json!({"name": "Чужой", "owner_id": other})).await;
    let res = app.req(Method::POST, "/api/v1/clients", &my_token).json(&json!({"name": "Мой"})).send().await.unwrap();
    let mine = json(res).await;
    assert_eq!(mine["owner_id"], me);

    let list = json(app.req(Method::GET, "/api/v1/clients", &my_token).send().await.unwrap()).await;
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Мой"]);
    // Even asking for the other's clients by filter shows nothing.
    let list =
        json(app.req(Method::GET, &format!("/api/v1/clients?owner_id={other}"), &my_token).send().await.unwrap()).await;
    assert!(list["items"].as_array().unwrap().is_empty());

    let theirs_path = format!("/api/v1/clients/{}", theirs["id"]);
    problem(app.req(Method::GET, &theirs_path, &my_token).send().await.unwrap(), 404).await;
    problem(app.req(Method::PATCH, &theirs_path, &my_token).json(&json!({"name": "X"})).send().await.unwrap(), 404)
        .await;
    problem(app.req(Method::GET, &format!("{theirs_path}/contacts"), &my_token).send().await.unwrap(), 404).await;

    // A manager cannot hand a client to someone else, nor delete.
    let mine_path = format!("/api/v1/clients/{}", mine["id"]);
    let res = app.req(Method::PATCH, &mine_path, &my_token).json(&json!({"owner_id": other})).send().await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["owner_id"]);
    problem(app.req(Method::DELETE, &mine_path, &my_token).send().await.unwrap(), 403).await;
    let res = app
        .req(Method::POST, "/api/v1/clients", &my_token)
        .json(&json!({"name": "X", "owner_id": other}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["owner_id"]);

    // A supervisor sees both.
    let (_, sup) = app.user(Role::Supervisor, "sup@example.ru");
    let list = json(app.req(Method::GET, "/api/v1/clients", &sup).send().await.unwrap()).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn external_ids_are_unique_per_source() {
    let app = TestApp::spawn().await;
    let a = app.client(json!({"name": "A", "external_ids": {"1c": "X-1", "shop": "s-1"}})).await;
    let res = app
        .admin(Method::POST, "/api/v1/clients")
        .json(&json!({"name": "B", "external_ids": {"1c": "X-1"}}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    assert_eq!(fields(&p), ["external_ids.1c"]);
    assert!(p["errors"][0]["message"].as_str().unwrap().contains(&a["id"].to_string()));
    // The same id in another source is fine.
    app.client(json!({"name": "C", "external_ids": {"shop": "X-1"}})).await;
}

#[tokio::test]
async fn channels_are_a_configurable_reference_list() {
    let app = TestApp::spawn().await;
    let list = json(app.admin(Method::GET, "/api/v1/channels").send().await.unwrap()).await;
    let codes: HashSet<&str> = list.as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    for code in ["retail", "chain", "online_store", "wholesale", "b2c", "b2g"] {
        assert!(codes.contains(code), "{code}");
    }
    let res = app
        .admin(Method::POST, "/api/v1/channels")
        .json(&json!({"code": "horeca", "name": "HoReCa"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    problem(
        app.admin(Method::POST, "/api/v1/channels").json(&json!({"code": "horeca", "name": "x"})).send().await.unwrap(),
        409,
    )
    .await;
    let res = app
        .admin(Method::POST, "/api/v1/channels")
        .json(&json!({"code": "Bad Code", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["code"]);
    app.client(json!({"name": "Кафе", "channel": "horeca"})).await;
    // A deactivated channel can no longer be given to a client.
    let res = app.admin(Method::PATCH, "/api/v1/channels/horeca").json(&json!({"active": false})).send().await.unwrap();
    assert_eq!(json(res).await["active"], false);
    let res = app
        .admin(Method::POST, "/api/v1/clients")
        .json(&json!({"name": "X", "channel": "horeca"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["channel"]);
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    let res = app
        .req(Method::POST, "/api/v1/channels", &manager)
        .json(&json!({"code": "x", "name": "x"}))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
}
