//! Automations over HTTP: the seeded playbooks, validation naming the field, runs now and dry
//! runs as of any instant, never acting twice, events reacted to within seconds, and the
//! schedule across two real server processes and a process killed mid-run.

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::Receiver;

const PLAYBOOKS: [&str; 8] = [
    "reactivation",
    "lost_reanimation",
    "payment_follow_up",
    "post_sale",
    "potential_activation",
    "birthdays",
    "holidays",
    "unknown_caller",
];

async fn playbook(app: &TestApp, key: &str) -> Value {
    let list = json(app.admin(Method::GET, "/api/v1/automations?limit=200").send().await.unwrap()).await;
    list["items"].as_array().unwrap().iter().find(|a| a["key"] == key).cloned().unwrap_or_else(|| panic!("{key}"))
}

async fn enable(app: &TestApp, key: &str) -> Value {
    let a = playbook(app, key).await;
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/automations/{}", a["id"]))
        .header("If-Match", format!("\"{}-{}\"", a["id"], a["version"]))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn run(app: &TestApp, id: &Value, query: &str) -> Value {
    let res = app.admin(Method::POST, &format!("/api/v1/automations/{id}/run{query}")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    json(res).await
}

fn tasks_by(app: &TestApp, key: &str) -> i64 {
    count(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM tasks WHERE created_by = 'automation:{key}'"))
}

async fn tasks_of(app: &TestApp, client: &Value) -> Vec<Value> {
    let res = app.admin(Method::GET, &format!("/api/v1/tasks?client_id={}", client["id"])).send().await.unwrap();
    json(res).await["items"].as_array().unwrap().clone()
}

fn days_ago(n: i64) -> String {
    (Utc::now().date_naive() - chrono::Duration::days(n)).to_string()
}

/// Waits up to `secs` for `check` to hold.
async fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

#[tokio::test]
async fn the_playbooks_are_seeded_disabled_and_editable() {
    let app = TestApp::spawn().await;
    let list = json(app.admin(Method::GET, "/api/v1/automations").send().await.unwrap()).await;
    let keys: Vec<&str> = list["items"].as_array().unwrap().iter().map(|a| a["key"].as_str().unwrap()).collect();
    assert_eq!(keys, PLAYBOOKS);
    assert!(list["items"].as_array().unwrap().iter().all(|a| a["enabled"] == false && a["builtin"] == true));
    let enabled = json(app.admin(Method::GET, "/api/v1/automations?enabled=true").send().await.unwrap()).await;
    assert!(enabled["items"].as_array().unwrap().is_empty());

    // A manager may neither read nor change them.
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    problem(app.req(Method::GET, "/api/v1/automations", &manager).send().await.unwrap(), 403).await;

    let a = playbook(&app, "payment_follow_up").await;
    let path = format!("/api/v1/automations/{}", a["id"]);
    let on = enable(&app, "payment_follow_up").await;
    assert_eq!(on["enabled"], true);
    assert_eq!(on["version"], 2);
    // The version read before is stale now.
    let res = app
        .admin(Method::PATCH, &path)
        .header("If-Match", format!("\"{}-1\"", a["id"]))
        .json(&json!({"name": "Дожим"}))
        .send()
        .await
        .unwrap();
    problem(res, 412).await;
    // Editable: five days become three.
    let res = app
        .admin(Method::PATCH, &path)
        .json(&json!({"conditions": {"deal": {"stage_name": ["Invoice issued"], "days_in_stage_min": 3}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["conditions"]["deal"]["days_in_stage_min"], 3);

    // Deleted: gone from the list, its history still readable, its key free again.
    assert_eq!(app.admin(Method::DELETE, &path).send().await.unwrap().status(), 204);
    problem(app.admin(Method::GET, &path).send().await.unwrap(), 404).await;
    let runs = app.admin(Method::GET, &format!("{path}/runs")).send().await.unwrap();
    assert_eq!(runs.status(), 200);
    let audit = count(&mut app.conn(), "SELECT COUNT(*) AS n FROM audit_log WHERE action LIKE 'automations.%'");
    assert_eq!(audit, 3, "enabling, editing and deleting are on record");
}

#[tokio::test]
async fn a_bad_automation_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let post = |body: Value| app.admin(Method::POST, "/api/v1/automations").json(&body).send();
    let task =
        json!({"action": "create_task", "type": "call_back", "title": "Call {{client.name}}", "assignee": "owner"});

    let res = post(json!({
        "key": "bad", "name": "Bad",
        "trigger": {"type": "schedule", "every": "day", "at": "25:00", "time_zone": "Mars/Olympus"},
        "conditions": {"deal": {"days_in_stage_min": 3}},
        "actions": [task, {"action": "create_task", "type": "call_back", "title": "{{deal.title}} {{nope}}", "due_in": "P1M", "assignee": "deal_owner"}]
    }))
    .await
    .unwrap();
    let p = problem(res, 422).await;
    let f = fields(&p);
    for field in [
        "trigger.at",
        "trigger.time_zone",
        "conditions.deal",
        "actions[1].title",
        "actions[1].due_in",
        "actions[1].assignee",
    ] {
        assert!(f.contains(&field.to_string()), "{field} in {f:?}");
    }

    for (body, field) in [
        (json!({"key": "x", "name": "x", "trigger": {"type": "cron"}, "actions": [task]}), "trigger.type"),
        (
            json!({"key": "x", "name": "x", "trigger": {"type": "event", "event_types": ["deal.won"]},
                   "actions": [task, {"action": "send_sms"}]}),
            "actions[1]",
        ),
        (
            json!({"key": "x", "name": "x", "trigger": {"type": "event", "event_types": ["deal.exploded"]}, "actions": [task]}),
            "trigger.event_types[0]",
        ),
        (
            json!({"key": "x", "name": "x", "trigger": {"type": "event", "event_types": ["sale.created"]},
                   "conditions": {"contact": {"birthday_within_days": 3}}, "actions": [task]}),
            "conditions.contact",
        ),
        (
            json!({"key": "x", "name": "x", "trigger": {"type": "event", "event_types": ["deal.won"]},
                   "actions": [{"action": "create_task", "type": "call_back", "title": "x", "due_in": "soon", "assignee": "owner"}]}),
            "actions[0].due_in",
        ),
        (
            json!({"key": "x", "name": "x", "trigger": {"type": "event", "event_types": ["deal.won"]},
                   "actions": [{"action": "emit_event", "event_type": "deal.won"}]}),
            "actions[0].event_type",
        ),
        (
            json!({"key": "Not a key", "name": "x", "trigger": {"type": "event", "event_types": ["deal.won"]}, "actions": [task]}),
            "key",
        ),
        (
            json!({"key": "x", "name": "x", "trigger": {"type": "schedule", "every": "day", "at": "06:00"},
                   "conditions": {"client_filter": {"channel": ["nowhere"]}}, "actions": [task]}),
            "conditions.client_filter.channel[0]",
        ),
    ] {
        let p = problem(post(body.clone()).await.unwrap(), 422).await;
        let f = fields(&p);
        assert!(f.iter().any(|x| x.starts_with(field)), "{field} in {f:?} for {body}");
    }
    let res = app
        .admin(Method::POST, "/api/v1/automations")
        .header("content-type", "application/json")
        .body("{\"key\": ")
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
    // The key is unique among the live ones.
    let res = post(json!({"key": "birthdays", "name": "x", "trigger": {"type": "event", "event_types": ["deal.won"]}, "actions": [task]}))
        .await
        .unwrap();
    problem(res, 409).await;
    // An event automation is not run now; an instant out of range is refused.
    let post_sale = playbook(&app, "post_sale").await;
    problem(
        app.admin(Method::POST, &format!("/api/v1/automations/{}/run", post_sale["id"])).send().await.unwrap(),
        409,
    )
    .await;
    let birthdays = playbook(&app, "birthdays").await;
    let res = app
        .admin(Method::POST, &format!("/api/v1/automations/{}/run?as_of=3000-01-01T00:00:00Z", birthdays["id"]))
        .send();
    let p = problem(res.await.unwrap(), 400).await;
    assert_eq!(fields(&p), ["as_of"]);
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM automations"), 8, "nothing was stored");
}

#[tokio::test]
async fn reactivation_acts_once_per_silence_and_a_dry_run_writes_nothing() {
    let app = TestApp::spawn().await;
    let (manager, _) = app.user(Role::Manager, "m@example.ru");
    let sleeping = app.client(json!({"name": "Ромашка", "status": "active", "owner_id": manager})).await;
    let regular = app.client(json!({"name": "Лютик", "status": "active", "owner_id": manager})).await;
    // Every 30 days, silent for 60: due (more than 1.5 × 30). The other bought yesterday.
    for (client, days) in [(&sleeping, [120, 90, 60]), (&regular, [61, 31, 1])] {
        for d in days {
            let body = json!({"client_id": client["id"], "sold_on": days_ago(d), "amount": "1000"});
            assert_eq!(app.admin(Method::POST, "/api/v1/sales").json(&body).send().await.unwrap().status(), 201);
        }
    }
    let a = playbook(&app, "reactivation").await;

    let preview = run(&app, &a["id"], "?dry_run=true").await;
    assert_eq!(preview["subjects_matched"], 1);
    assert_eq!(preview["preview"][0]["subject"], format!("client:{}", sleeping["id"]));
    let planned = &preview["preview"][0]["actions"][0];
    assert_eq!(planned["action"], "create_task");
    assert_eq!(planned["assignee_id"], manager);
    assert!(planned["detail"].as_str().unwrap().starts_with("Reactivate Ромашка: no purchase for 6"), "{planned}");
    assert_eq!(tasks_by(&app, "reactivation"), 0, "a dry run writes nothing");
    assert!(preview["run"].is_null());

    // Time travel: 40 days ago nobody was due yet.
    let then = (Utc::now() - chrono::Duration::days(40)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(run(&app, &a["id"], &format!("?dry_run=true&as_of={then}")).await["subjects_matched"], 0);

    let done = run(&app, &a["id"], "").await;
    assert_eq!(done["actions"]["create_task"], 1);
    assert_eq!(done["run"]["status"], "finished");
    let tasks = tasks_of(&app, &sleeping).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["type"], "reactivation");
    assert_eq!(tasks[0]["assignee_id"], manager);
    assert!(tasks[0]["description"].as_str().unwrap().contains("revenue at risk 12166.67"), "{}", tasks[0]);
    assert!(tasks_of(&app, &regular).await.is_empty());

    // Again the same day, and again after the task is done: the same silence, nobody new.
    let again = run(&app, &a["id"], "").await;
    assert_eq!((again["subjects_matched"].as_i64(), again["skipped"].as_i64()), (Some(1), Some(1)));
    assert!(again["actions"].get("create_task").is_none());
    let task_path = format!("/api/v1/tasks/{}", tasks[0]["id"]);
    let res = app.admin(Method::PATCH, &task_path).json(&json!({"status": "done"})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    run(&app, &a["id"], "").await;
    assert_eq!(tasks_by(&app, "reactivation"), 1);

    // The history, newest first and paginated; the actor in the event log and the timeline.
    let page =
        json(app.admin(Method::GET, &format!("/api/v1/automations/{}/runs?limit=2", a["id"])).send().await.unwrap())
            .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0]["id"].as_i64() > items[1]["id"].as_i64());
    assert_eq!(items[1]["actions_taken"], json!({}));
    let next = page["next_cursor"].as_str().unwrap();
    let rest = json(
        app.admin(Method::GET, &format!("/api/v1/automations/{}/runs?cursor={next}", a["id"])).send().await.unwrap(),
    )
    .await;
    assert_eq!(rest["items"][0]["actions_taken"]["create_task"], 1);
    let by_actor = count(
        &mut app.conn(),
        "SELECT COUNT(*) AS n FROM events WHERE event_type = 'task.created' AND actor = 'automation:reactivation'",
    );
    assert_eq!(by_actor, 1);
    let timeline =
        json(app.admin(Method::GET, &format!("/api/v1/clients/{}/timeline", sleeping["id"])).send().await.unwrap())
            .await;
    assert!(timeline.to_string().contains("automation:reactivation"), "{timeline}");
    problem(app.admin(Method::GET, "/api/v1/automations/1/runs?cursor=garbage").send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn payment_follow_up_birthdays_holidays_and_the_silent_ones() {
    let app = TestApp::spawn().await;
    let (seller, _) = app.user(Role::Manager, "seller@example.ru");
    let client = app.client(json!({"name": "Ромашка", "status": "active"})).await;
    let pipelines = json(app.admin(Method::GET, "/api/v1/pipelines").send().await.unwrap()).await;
    let stage = |name: &str| {
        pipelines[0]["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["id"].clone()
    };
    let deal = json(
        app.admin(Method::POST, "/api/v1/deals")
            .json(&json!({"client_id": client["id"], "title": "Опт", "amount": "50000", "owner_id": seller}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = app
        .admin(Method::POST, &format!("/api/v1/deals/{}/stage", deal["id"]))
        .json(&json!({"stage_id": stage("Invoice issued")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let in_days = |d: i64| (Utc::now() + chrono::Duration::days(d)).format("%Y-%m-%dT%H:%M:%SZ").to_string();

    let pay = playbook(&app, "payment_follow_up").await;
    assert_eq!(run(&app, &pay["id"], &format!("?as_of={}", in_days(3))).await["subjects_matched"], 0);
    let done = run(&app, &pay["id"], &format!("?as_of={}", in_days(6))).await;
    assert_eq!(done["actions"]["create_task"], 1);
    let tasks = tasks_of(&app, &client).await;
    assert_eq!(tasks[0]["type"], "payment_follow_up");
    assert_eq!(tasks[0]["deal_id"], deal["id"]);
    assert_eq!(tasks[0]["assignee_id"], seller, "the deal's owner");
    assert!(tasks[0]["title"].as_str().unwrap().starts_with("Follow up the payment of Опт (Ромашка): invoice issued"));
    // A day later the same stay in the stage: nothing new.
    assert_eq!(run(&app, &pay["id"], &format!("?as_of={}", in_days(7))).await["skipped"], 1);

    // Birthdays: the next one within three days, wrapping the year.
    let soon = Utc::now().date_naive() + chrono::Duration::days(2);
    let born = NaiveDate::from_ymd_opt(1980, soon.month(), soon.day()).unwrap();
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{}/contacts", client["id"]))
        .json(&json!({"name": "Иван Петрович", "birthday": born.to_string(), "is_decision_maker": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let birthdays = playbook(&app, "birthdays").await;
    assert_eq!(
        run(&app, &birthdays["id"], &format!("?dry_run=true&as_of={}", in_days(-5))).await["subjects_matched"],
        0
    );
    let done = run(&app, &birthdays["id"], "").await;
    assert_eq!(done["actions"]["create_task"], 1);
    assert_eq!(
        run(&app, &birthdays["id"], &format!("?as_of={}", in_days(1))).await["skipped"],
        1,
        "one greeting a birthday"
    );

    // Holidays: on 16 February, a greeting before the 23rd for every active client's owner.
    let active = app.client(json!({"name": "Лютик", "status": "active", "owner_id": seller})).await;
    let holidays = playbook(&app, "holidays").await;
    let greeted = run(&app, &holidays["id"], "?as_of=2027-02-16T07:00:00Z").await;
    // Ромашка is active too, but its greeting of this type (the birthday's) is still open.
    assert_eq!((greeted["subjects_matched"].as_i64(), greeted["skipped"].as_i64()), (Some(2), Some(1)));
    let tasks = tasks_of(&app, &active).await;
    assert_eq!(tasks[0]["title"], "Greet Лютик before 23 February");
    assert_eq!(tasks[0]["due_at"], "2027-02-21T07:00:00Z");

    // Lost for 90 days without contact for 60, potential without contact for 30.
    let lost = app.client(json!({"name": "Василёк", "owner_id": seller})).await;
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{}", lost["id"]))
        .json(&json!({"status": "lost", "lost_reason": "ушли к конкуренту"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let potential = app.client(json!({"name": "Одуванчик", "status": "potential", "owner_id": seller})).await;
    let reanimation = playbook(&app, "lost_reanimation").await;
    assert_eq!(
        run(&app, &reanimation["id"], &format!("?dry_run=true&as_of={}", in_days(80))).await["subjects_matched"],
        0
    );
    let done = run(&app, &reanimation["id"], &format!("?as_of={}", in_days(100))).await;
    assert_eq!(done["subjects_matched"], 1);
    assert!(tasks_of(&app, &lost).await[0]["title"].as_str().unwrap().starts_with("Call Василёк: lost 100 days ago"));
    let activation = playbook(&app, "potential_activation").await;
    let done = run(&app, &activation["id"], &format!("?as_of={}", in_days(31))).await;
    assert_eq!(done["subjects_matched"], 1);
    assert_eq!(tasks_of(&app, &potential).await[0]["title"], "Call Одуванчик: no contact for 31 days");
}

#[tokio::test]
async fn events_are_reacted_to_within_seconds_and_never_twice() {
    let app = TestApp::spawn().await;
    let (operator, _) = app.user(Role::Manager, "operator@example.ru");
    {
        let mut conn = app.conn();
        use diesel::RunQueryDsl;
        diesel::sql_query(format!("UPDATE users SET phone_extension = '101' WHERE id = {operator}"))
            .execute(&mut conn)
            .unwrap();
    }
    enable(&app, "post_sale").await;
    enable(&app, "unknown_caller").await;
    // A custom one: a client turning lost is tagged and announced to the webhooks.
    let res = app
        .admin(Method::POST, "/api/v1/automations")
        .json(&json!({
            "key": "lost_watch", "name": "Lost watch", "enabled": true,
            "trigger": {"type": "event", "event_types": ["client.status_changed"]},
            "conditions": {"event": {"to_status": ["lost"]}},
            "actions": [{"action": "add_tag", "tag": "Lost-Watch"}, {"action": "emit_event", "event_type": "automation.client_lost"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // A messenger bot subscribed to what the automation emits, by name.
    let bot = Receiver::start().await;
    let res = app
        .admin(Method::POST, "/api/v1/webhooks")
        .json(&json!({"name": "bot", "url": bot.url, "event_types": ["automation.client_lost"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let client = app.client(json!({"name": "Ромашка"})).await;
    let pipelines = json(app.admin(Method::GET, "/api/v1/pipelines").send().await.unwrap()).await;
    let paid = pipelines[0]["stages"].as_array().unwrap().iter().find(|s| s["name"] == "Paid").unwrap()["id"].clone();
    let deal = json(
        app.admin(Method::POST, "/api/v1/deals")
            .json(&json!({"client_id": client["id"], "title": "Опт", "amount": "1000"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = app
        .admin(Method::POST, &format!("/api/v1/deals/{}/stage", deal["id"]))
        .json(&json!({"stage_id": paid}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(eventually(10, || tasks_by(&app, "post_sale") == 1).await, "a post-sale task within seconds");
    let task = &tasks_of(&app, &client).await[0];
    assert_eq!(task["type"], "post_sale");
    let due: chrono::DateTime<Utc> = task["due_at"].as_str().unwrap().parse().unwrap();
    assert!((due - Utc::now()).num_hours() > 6 * 24, "due a week later: {due}");

    // A first sale of another client: a post-sale task; a repeat sale: none.
    let buyer = app.client(json!({"name": "Лютик"})).await;
    for day in [days_ago(1), days_ago(0)] {
        let body = json!({"client_id": buyer["id"], "sold_on": day, "amount": "500"});
        assert_eq!(app.admin(Method::POST, "/api/v1/sales").json(&body).send().await.unwrap().status(), 201);
    }
    assert!(eventually(10, || tasks_by(&app, "post_sale") == 2).await);

    // A missed call from a known client: a call-back task for the extension's user.
    app.client(json!({"name": "Звонящий", "phones": [{"number": "+74852123456"}]})).await;
    let pbx_call = json!({"call_id": "c-1", "direction": "inbound", "from": "+74852123456", "to": "101",
                          "status": "missed", "extension": "101"});
    let res = app.admin(Method::POST, "/api/v1/telephony/calls").json(&pbx_call).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        eventually(10, || count(
            &mut app.conn(),
            &format!("SELECT COUNT(*) AS n FROM tasks WHERE created_by = 'automation:unknown_caller' AND assignee_id = {operator}")
        ) == 1)
        .await
    );

    // A status change: tagged (normalised) and an event for the webhooks, once.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{}", client["id"]))
        .json(&json!({"status": "lost", "lost_reason": "дорого"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let emitted = "SELECT COUNT(*) AS n FROM events WHERE event_type = 'automation.client_lost'";
    assert!(eventually(10, || count(&mut app.conn(), emitted) == 1).await);
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", client["id"])).send().await.unwrap()).await;
    assert_eq!(card["tags"], json!(["lost-watch"]));
    let got = bot.wait_for(1, 10).await;
    assert_eq!(got.len(), 1, "the bot gets the emitted event, signed");
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["type"], "automation.client_lost");
    assert_eq!(body["data"]["automation"], "lost_watch");
    assert_eq!(body["data"]["client"]["name"], "Ромашка");
    assert!(got[0].headers.iter().any(|(k, v)| k == "webhook-signature" && v.starts_with("v1,")));
    // The tag's own client.updated is the automation's: no loop, nothing more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&mut app.conn(), emitted), 1);
    assert_eq!(tasks_by(&app, "post_sale"), 2);
    let lost_watch = playbook(&app, "lost_watch").await;
    let runs =
        json(app.admin(Method::GET, &format!("/api/v1/automations/{}/runs", lost_watch["id"])).send().await.unwrap())
            .await;
    assert_eq!(runs["items"][0]["trigger"], "event");
    assert_eq!(runs["items"][0]["actions_taken"], json!({"add_tag": 1, "emit_event": 1}));

    // The log read again from its start (a restored backup, a cursor lost): nothing twice.
    {
        use diesel::RunQueryDsl;
        diesel::sql_query("UPDATE automations SET cursor_txid = 0, cursor_id = 0").execute(&mut app.conn()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(tasks_by(&app, "post_sale"), 2, "replayed events are not acted on again");
    assert_eq!(count(&mut app.conn(), emitted), 1);

    // Disabled: the next change is left alone.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/automations/{}", lost_watch["id"]))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{}", buyer["id"]))
        .json(&json!({"status": "lost", "lost_reason": "закрылись"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&mut app.conn(), emitted), 1);
}

/// A schedule that fires a few seconds from now (UTC), over every client, a task each.
fn soon_schedule(key: &str, seconds: i64) -> Value {
    let at = (Utc::now() + chrono::Duration::seconds(seconds)).format("%H:%M:%S").to_string();
    json!({
        "key": key, "name": key, "enabled": true,
        "trigger": {"type": "schedule", "every": "day", "at": at, "time_zone": "UTC"},
        "actions": [{"action": "create_task", "type": "call_back", "title": "Call {{client.name}}", "assignee": "owner"}]
    })
}

async fn seed_clients(http: &reqwest::Client, base: &str, token: &str, n: usize) {
    for i in 0..n {
        let res = http
            .post(format!("{base}/api/v1/clients"))
            .bearer_auth(token)
            .json(&json!({"name": format!("Клиент {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
}

fn per_client(conn: &mut clientbase::db::DbConn, key: &str) -> (i64, i64) {
    let tasks = count(conn, &format!("SELECT COUNT(*) AS n FROM tasks WHERE created_by = 'automation:{key}'"));
    let distinct =
        count(conn, &format!("SELECT COUNT(DISTINCT client_id) AS n FROM tasks WHERE created_by = 'automation:{key}'"));
    (tasks, distinct)
}

#[tokio::test]
async fn two_server_processes_run_a_scheduled_slot_once() {
    let (_db, url) = TestDb::create();
    let dir = std::env::temp_dir().join(format!("clientbase-auto-{}", uuid::Uuid::new_v4().simple()));
    let first = start(&url, &dir, &[]).await;
    let second = start(&url, &dir, &[]).await;
    let http = reqwest::Client::new();
    let token = login(&http, &first.base).await;
    seed_clients(&http, &first.base, &token, 30).await;
    let res = http
        .post(format!("{}/api/v1/automations", second.base))
        .bearer_auth(&token)
        .json(&soon_schedule("morning_calls", 3))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = json(res).await["id"].as_i64().unwrap();
    let mut conn = clientbase::db::establish(&url).unwrap();
    assert!(eventually(20, || per_client(&mut conn, "morning_calls").0 == 30).await, "the slot ran");
    // Both processes keep looking for a while: the slot stays run once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(per_client(&mut conn, "morning_calls"), (30, 30));
    let runs =
        http.get(format!("{}/api/v1/automations/{id}/runs", first.base)).bearer_auth(&token).send().await.unwrap();
    let runs = json(runs).await;
    let items = runs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{runs}");
    assert_eq!(items[0]["trigger"], "schedule");
    assert_eq!(items[0]["occurrence"], Utc::now().date_naive().to_string());
}

#[tokio::test]
async fn a_run_killed_midway_is_resumed_without_duplicates() {
    let (_db, url) = TestDb::create();
    let dir = std::env::temp_dir().join(format!("clientbase-auto-{}", uuid::Uuid::new_v4().simple()));
    // Small batches with a pause between them: the run is still going when the process dies.
    let slow = [
        ("CLIENTBASE_AUTOMATION_BATCH", "5"),
        ("CLIENTBASE_AUTOMATION_BATCH_PAUSE_MS", "150"),
        ("CLIENTBASE_AUTOMATION_LEASE_SECS", "2"),
    ];
    let mut first = start(&url, &dir, &slow).await;
    let http = reqwest::Client::new();
    let token = login(&http, &first.base).await;
    seed_clients(&http, &first.base, &token, 60).await;
    let mut body = soon_schedule("catch_up", 0);
    body["enabled"] = json!(false);
    body["trigger"]["at"] = json!("00:00");
    let res = http.post(format!("{}/api/v1/automations", first.base)).bearer_auth(&token).json(&body).send().await;
    let id = json(res.unwrap()).await["id"].as_i64().unwrap();
    let request = {
        let (http, url, token) = (http.clone(), format!("{}/api/v1/automations/{id}/run", first.base), token.clone());
        tokio::spawn(async move { http.post(url).bearer_auth(token).send().await })
    };
    let mut conn = clientbase::db::establish(&url).unwrap();
    assert!(eventually(20, || per_client(&mut conn, "catch_up").0 >= 10).await, "the run started");
    first.kill();
    assert!(request.await.unwrap().is_err(), "the request died with its process");
    let (done, _) = per_client(&mut conn, "catch_up");
    assert!(done < 60, "killed mid-way, after {done} tasks");
    let running = count(&mut conn, "SELECT COUNT(*) AS n FROM automation_runs WHERE status = 'running'");
    assert_eq!(running, 1);

    // Another process takes the abandoned run over once its lease has passed.
    let _second = start(&url, &dir, &slow).await;
    assert!(
        eventually(30, || count(&mut conn, "SELECT COUNT(*) AS n FROM automation_runs WHERE status = 'finished'") == 1)
            .await
    );
    assert_eq!(per_client(&mut conn, "catch_up"), (60, 60), "every client once");
    let matched = count(&mut conn, "SELECT subjects_matched AS n FROM automation_runs");
    assert_eq!(matched, 60);
}

#[tokio::test]
async fn a_slot_missed_during_downtime_is_caught_up_once() {
    let app = TestApp::spawn().await;
    app.client(json!({"name": "Ромашка"})).await;
    let mut body = soon_schedule("night_calls", 0);
    body["trigger"]["at"] = json!("00:00");
    let res = app.admin(Method::POST, "/api/v1/automations").json(&body).send().await.unwrap();
    let id = json(res).await["id"].clone();
    // As if it had been switched on three days ago and the servers had been down since.
    {
        use diesel::RunQueryDsl;
        let enabled_at = (Utc::now() - chrono::Duration::days(3)).format("%Y-%m-%d %H:%M:%S");
        diesel::sql_query(format!("UPDATE automations SET enabled_at = '{enabled_at}' WHERE key = 'night_calls'"))
            .execute(&mut app.conn())
            .unwrap();
    }
    let runs_of = || async {
        let res = app.admin(Method::GET, &format!("/api/v1/automations/{id}/runs")).send().await.unwrap();
        json(res).await["items"].as_array().unwrap().clone()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while runs_of().await.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = runs_of().await;
    assert_eq!(runs.len(), 1, "the latest missed slot only: {runs:?}");
    assert_eq!(runs[0]["occurrence"], Utc::now().date_naive().to_string());
    assert_eq!(runs[0]["as_of"], format!("{}T00:00:00Z", Utc::now().date_naive()));
    assert_eq!(tasks_by(&app, "night_calls"), 1);
}

#[tokio::test]
async fn the_segment_vocabulary_is_judged_as_of_the_run() {
    let app = TestApp::spawn().await;
    let client = app.client(json!({"name": "Ромашка", "status": "active"})).await;
    let body = json!({"client_id": client["id"], "sold_on": days_ago(40), "amount": "1000"});
    assert_eq!(app.admin(Method::POST, "/api/v1/sales").json(&body).send().await.unwrap().status(), 201);
    let res = app
        .admin(Method::POST, "/api/v1/automations")
        .json(&json!({
            "key": "monthly_buyers", "name": "Bought this month",
            "trigger": {"type": "schedule", "every": "month", "day_of_month": 1, "at": "08:00", "time_zone": "Europe/Moscow"},
            "conditions": {"client_filter": {"revenue_min": "500", "period_months": 1}},
            "actions": [{"action": "add_tag", "tag": "buyer"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = json(res).await["id"].clone();
    // Today the purchase is more than a month old; twenty days ago it was within the month.
    assert_eq!(run(&app, &id, "?dry_run=true").await["subjects_matched"], 0);
    let then = (Utc::now() - chrono::Duration::days(20)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let preview = run(&app, &id, &format!("?dry_run=true&as_of={then}")).await;
    assert_eq!(preview["subjects_matched"], 1);
    assert_eq!(preview["preview"][0]["actions"][0]["detail"], "buyer");
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", client["id"])).send().await.unwrap()).await;
    assert_eq!(card["tags"], json!([]), "a dry run writes nothing");
}
