//! Load benchmark against a running server (see `scripts/bench.sh`, which starts one on a fresh
//! PostgreSQL database): loads a realistic base through the batch API and times the sync
//! throughput and every analytics endpoint, then grows the base for the export measurement.
//!
//! Settings come from the environment: `BENCH_BASE` (server URL), `BENCH_TOKEN` (a token with
//! every scope), `BENCH_CLIENTS` (default 100000), `BENCH_SALES` (default 1000000),
//! `BENCH_EXPORT_CLIENTS` (clients to reach before the export, default 1000000),
//! `BENCH_CONCURRENCY` (batches in flight, default 4), `BENCH_IMPORT_ROWS` (rows of the XLSX
//! import, default 100000), `BENCH_SERVER_PID` (to sample the server's memory during it),
//! `BENCH_ONLY=imports` (only the import and its sync baselines), `BENCH_ONLY=reads` (only the
//! clients, for the point reads), `BENCH_ONLY=analytics` (clients, sales and the reports),
//! `BENCH_DATABASE_URL` (the server's PostgreSQL database: the reports are then set beside a raw
//! `GROUP BY` over the same sales, timed by `psql` in the same run), `BENCH_SUMMARY` (a file the
//! rows with a baseline are appended to).

use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const NAMES: [&str; 16] = [
    "Ромашка",
    "Берёзка",
    "Северный ветер",
    "Альфа",
    "Торговый дом Волга",
    "Маяк",
    "Вектор",
    "Гранит",
    "Полюс",
    "Восток",
    "Радуга",
    "Олимп",
    "Янтарь",
    "Сибирь",
    "Зенит",
    "Лотос",
];
const FORMS: [&str; 4] = ["ООО", "ИП", "АО", "ООО ТД"];
const REGIONS: [&str; 8] =
    ["Москва", "Санкт-Петербург", "Ярославль", "Казань", "Новосибирск", "Екатеринбург", "Самара", "Ростов-на-Дону"];
const CHANNELS: [&str; 6] = ["retail", "chain", "online_store", "wholesale", "b2c", "b2g"];

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn client_item(i: usize, rng: &mut StdRng) -> Value {
    let roll: f64 = rng.gen();
    let (status, reason) = if roll < 0.7 {
        ("active", None)
    } else if roll < 0.9 {
        ("potential", None)
    } else {
        ("lost", Some("делистинг"))
    };
    let mut item = json!({
        "external_id": format!("C-{i}"),
        "name": format!("{} «{} {}»", FORMS[rng.gen_range(0..FORMS.len())], NAMES[rng.gen_range(0..NAMES.len())], i),
        "status": status,
        "channel": CHANNELS[rng.gen_range(0..CHANNELS.len())],
        "region": REGIONS[rng.gen_range(0..REGIONS.len())],
        "industry": if rng.gen_bool(0.8) { "Розничная торговля" } else { "Общепит" },
        "phones": [{"number": format!("+79{:09}", rng.gen_range(0..1_000_000_000u64)), "type": "mobile"}],
        "mailing_consent": rng.gen_bool(0.6),
        "estimated_potential": format!("{}.00", rng.gen_range(10_000..5_000_000)),
    });
    if let Some(reason) = reason {
        item["lost_reason"] = json!(reason);
    }
    if rng.gen_bool(0.5) {
        item["emails"] = json!([{"address": format!("client{i}@example.ru")}]);
    }
    item
}

struct Loader {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Loader {
    async fn post(&self, path: &str, body: &bytes::Bytes) -> Value {
        for attempt in 0..5 {
            let res = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => return r.json().await.expect("JSON"),
                Ok(r) if attempt < 4 && (r.status() == 409 || r.status() == 503) => {}
                Ok(r) => panic!("{path}: {} {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) if attempt < 4 => eprintln!("{path}: {e}, retrying"),
                Err(e) => panic!("{path}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        unreachable!()
    }

    async fn get(&self, path: &str) -> Duration {
        let started = Instant::now();
        let res = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.expect("request");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.bytes().await.expect("body");
        started.elapsed()
    }
}

/// Sends `batches` with `concurrency` in flight; returns the items per second. The bodies are
/// serialised before the clock starts, so that the figure is the server's, not the generator's.
async fn push(
    loader: &std::sync::Arc<Loader>,
    path: &'static str,
    batches: Vec<Value>,
    concurrency: usize,
) -> (f64, usize) {
    let items: usize = batches.iter().map(|b| b["items"].as_array().map_or(0, |a| a.len())).sum();
    let batches: Vec<bytes::Bytes> = batches.iter().map(|b| serde_json::to_vec(b).expect("JSON").into()).collect();
    let started = Instant::now();
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(batches.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (queue, loader) = (queue.clone(), loader.clone());
        workers.push(tokio::spawn(async move {
            let mut errors = 0usize;
            loop {
                let next = queue.lock().await.next();
                let Some(batch) = next else { return errors };
                let result = loader.post(path, &batch).await;
                errors += result["errors"].as_u64().unwrap_or(0) as usize;
            }
        }));
    }
    let mut errors = 0;
    for w in workers {
        errors += w.await.expect("worker");
    }
    (items as f64 / started.elapsed().as_secs_f64(), errors)
}

fn client_batches(range: std::ops::Range<usize>, rng: &mut StdRng) -> Vec<Value> {
    let all: Vec<Value> = range.map(|i| client_item(i, rng)).collect();
    all.chunks(1000).map(|c| json!({"source": "bench", "items": c})).collect()
}

#[tokio::main]
async fn main() {
    let loader = std::sync::Arc::new(Loader {
        http: reqwest::Client::builder().timeout(Duration::from_secs(600)).build().expect("client"),
        base: env("BENCH_BASE", "http://127.0.0.1:18090"),
        token: env("BENCH_TOKEN", ""),
    });
    let clients: usize = env("BENCH_CLIENTS", "100000").parse().expect("BENCH_CLIENTS");
    let sales: usize = env("BENCH_SALES", "1000000").parse().expect("BENCH_SALES");
    let export_clients: usize = env("BENCH_EXPORT_CLIENTS", "1000000").parse().expect("BENCH_EXPORT_CLIENTS");
    let concurrency: usize = env("BENCH_CONCURRENCY", "4").parse().expect("BENCH_CONCURRENCY");
    let mut rng = StdRng::seed_from_u64(2026);

    println!("| measurement | result |");
    println!("|---|---|");
    // `BENCH_ONLY=imports`: the import against its sync baselines alone, on an empty base.
    if env("BENCH_ONLY", "") == "imports" {
        imports(&loader, concurrency).await;
        return;
    }
    let batches = client_batches(0..clients, &mut rng);
    let (rate, errors) = push(&loader, "/api/v1/sync/clients", batches, concurrency).await;
    println!("| `/sync/clients`, {clients} new clients in batches of 1000, {concurrency} in flight | {rate:.0} clients/s ({errors} item errors) |");
    // `BENCH_ONLY=reads`: the base of clients alone, for the point reads `scripts/bench.sh` times.
    if env("BENCH_ONLY", "") == "reads" {
        return;
    }

    // The same batches again: every item unchanged.
    let mut again_rng = StdRng::seed_from_u64(2026);
    let again = client_batches(0..clients.min(50_000), &mut again_rng);
    let (rate, _) = push(&loader, "/api/v1/sync/clients", again, concurrency).await;
    println!("| `/sync/clients`, re-sync of {} unchanged clients | {rate:.0} clients/s |", clients.min(50_000));

    // Purchases over two years, by a client's own rhythm.
    let today = Utc::now().date_naive();
    let mut items = Vec::with_capacity(sales);
    for s in 0..sales {
        let client = rng.gen_range(0..clients);
        let day = today - Days::days(rng.gen_range(0..730));
        let amount: u64 = rng.gen_range(1_000..100_000);
        let cost = amount * rng.gen_range(60..95) / 100;
        items.push(json!({
            "external_id": format!("S-{s}"),
            "client_external_id": format!("C-{client}"),
            "sold_on": day.to_string(),
            "amount": format!("{amount}.00"),
            "cost": format!("{cost}.00"),
            "document_number": format!("РН-{s}"),
        }));
    }
    let sale_batches: Vec<Value> = items.chunks(1000).map(|c| json!({"source": "bench", "items": c})).collect();
    drop(items);
    let (rate, errors) = push(&loader, "/api/v1/sync/sales", sale_batches, concurrency).await;
    println!("| `/sync/sales`, {sales} purchases over two years | {rate:.0} sales/s ({errors} item errors) |");

    // What autovacuum would have done by now on a server that runs it (this machine's does not):
    // statistics for the planner and the visibility map for index-only scans.
    let database = env("BENCH_DATABASE_URL", "");
    if !database.is_empty() {
        let _ = std::process::Command::new("psql").args([database.as_str(), "-qc", "VACUUM ANALYZE"]).status();
    }
    for path in [
        "/api/v1/analytics/abc-xyz",
        "/api/v1/analytics/abc-xyz?measure=margin&cell=AX",
        "/api/v1/analytics/abcde",
        "/api/v1/analytics/pareto?by=channel",
        "/api/v1/analytics/funnel?group_by=owner",
        "/api/v1/analytics/reactivation",
        "/api/v1/analytics/lost-clients",
        "/api/v1/analytics/completeness",
        "/api/v1/analytics/summary",
        "/api/v1/clients?q=%D1%80%D0%BE%D0%BC%D0%B0%D1%88",
        "/api/v1/telephony/lookup?phone=%2B79000000000",
    ] {
        // The first request computes; the sales reports answer the next two from memory.
        let first = loader.get(path).await.as_secs_f64();
        let median = median_of_3(&loader, path).await;
        println!("| `GET {path}` | first {:.0} ms, then median of 3 {:.0} ms |", first * 1000.0, median * 1000.0);
    }
    if !database.is_empty() {
        analytics_ratios(&loader, &database).await;
    }
    if env("BENCH_ONLY", "") == "analytics" {
        return;
    }

    automations(&loader).await;
    imports(&loader, concurrency).await;

    if export_clients > clients {
        let extra = client_batches(clients..export_clients, &mut rng);
        let (rate, _) = push(&loader, "/api/v1/sync/clients", extra, concurrency).await;
        println!(
            "| `/sync/clients`, {} more clients (base of {export_clients}) | {rate:.0} clients/s |",
            export_clients - clients
        );
    }
}

/// The median of 3 timed `GET`s of `path`, in seconds.
async fn median_of_3(loader: &Loader, path: &str) -> f64 {
    let mut times = Vec::new();
    for _ in 0..3 {
        times.push(loader.get(path).await);
    }
    times.sort();
    times[1].as_secs_f64()
}

/// The raw aggregate every sales report starts from: each client's months of the last year.
const RAW_GROUP_BY: &str = "SELECT client_id, date_trunc('month', sold_on), sum(amount), sum(margin), count(*) \
                            FROM sales WHERE sold_on > current_date - 365 GROUP BY 1, 2";

/// The median of 3 runs of a statement as `psql` times it (execution and every row received).
fn psql_median(url: &str, statement: &str) -> Option<f64> {
    let mut times = Vec::new();
    for _ in 0..3 {
        let out = std::process::Command::new("psql")
            .args([url, "-At", "-o", "/dev/null", "-c", "\\timing on", "-c", statement])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let ms = text.lines().find_map(|l| l.strip_prefix("Time: "))?.split(' ').next()?.parse::<f64>().ok()?;
        times.push(ms / 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Some(times[1])
}

/// The sales reports as ratios to the raw `GROUP BY` over the same sales, timed in the same run:
/// cold (the first request after a write, computed from the database) and warm (the same request
/// again, answered from the result remembered at the current write generation).
async fn analytics_ratios(loader: &Loader, database: &str) {
    let Some(raw) = psql_median(database, RAW_GROUP_BY) else {
        println!("| raw `GROUP BY` baseline | psql failed |");
        return;
    };
    println!(
        "| baseline: raw `GROUP BY client_id, month` over the last year (psql, median of 3) | {:.0} ms |",
        raw * 1000.0
    );
    // What a write does to the generation, without changing any figure.
    let bump = || {
        let _ = std::process::Command::new("psql")
            .args([database, "-qc", "UPDATE write_generation SET folded = folded + 1 WHERE id = 1"])
            .status();
    };
    for path in [
        "/api/v1/analytics/abc-xyz",
        "/api/v1/analytics/abcde",
        "/api/v1/analytics/pareto?by=channel",
        "/api/v1/analytics/summary",
    ] {
        let mut cold = Vec::new();
        for _ in 0..3 {
            bump();
            cold.push(loader.get(path).await.as_secs_f64());
        }
        cold.sort_by(f64::total_cmp);
        let (cold, warm) = (cold[1], median_of_3(loader, path).await);
        for (kind, t) in [("after a write", cold), ("again, nothing written", warm)] {
            println!(
                "| `GET {path}` {kind} ÷ raw `GROUP BY` | {:.1} ms ÷ {:.0} ms = ratio {:.3} (goal ≤ 0.3) |",
                t * 1000.0,
                raw * 1000.0,
                t / raw
            );
            summary_row(&format!(
                "| `GET {path}` {kind}, median of 3 | {:.1} ms | raw `GROUP BY client_id, month` over the last year: {:.0} ms | {:.3} (goal ≤ 0.3) |",
                t * 1000.0,
                raw * 1000.0,
                t / raw
            ));
        }
    }
}

/// A row for the summary `scripts/bench.sh` prints at the end (the file named by `BENCH_SUMMARY`).
fn summary_row(line: &str) {
    use std::io::Write as _;
    let path = env("BENCH_SUMMARY", "");
    if path.is_empty() {
        return;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("BENCH_SUMMARY");
    writeln!(file, "{line}").expect("BENCH_SUMMARY");
}

/// Automation runs over the whole base, each as a ratio to the read-only report of the same
/// rule timed in the same run (`GET /analytics/reactivation`): what acting adds to judging.
async fn automations(loader: &Loader) {
    let http = &loader.http;
    let send = |req: reqwest::RequestBuilder| async move {
        let started = Instant::now();
        let res = req.bearer_auth(&loader.token).send().await.expect("request");
        assert!(res.status().is_success(), "{}", res.status());
        let body: Value = res.json().await.expect("JSON");
        (started.elapsed(), body)
    };
    let (_, list) = send(http.get(format!("{}/api/v1/automations?limit=200", loader.base))).await;
    let (_, users) = send(http.get(format!("{}/api/v1/users?limit=1", loader.base))).await;
    let admin = users["items"][0]["id"].clone();
    let find = |key: &str| list["items"].as_array().unwrap().iter().find(|a| a["key"] == key).cloned().unwrap();
    // Synced clients have no owner: their tasks go to the administrator.
    for key in ["reactivation", "potential_activation"] {
        let a = find(key);
        let mut actions = a["actions"].clone();
        actions[0]["fallback_assignee_id"] = admin.clone();
        let url = format!("{}/api/v1/automations/{}", loader.base, a["id"]);
        send(http.patch(url).json(&json!({"actions": actions}))).await;
    }
    let base = median_of_3(loader, "/api/v1/analytics/reactivation?limit=1").await;
    println!("| baseline: `GET /analytics/reactivation` (median of 3) | {:.0} ms |", base * 1000.0);
    let run = |key: &str, query: &str| {
        let url = format!("{}/api/v1/automations/{}/run{query}", loader.base, find(key)["id"]);
        send(http.post(url))
    };
    let soon = (Utc::now() + chrono::Duration::days(31)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for (label, key, query) in [
        ("reactivation, dry run", "reactivation", String::new() + "?dry_run=true"),
        ("reactivation", "reactivation", String::new()),
        ("reactivation again (nothing new)", "reactivation", String::new()),
        ("potential_activation as of 31 days on", "potential_activation", format!("?as_of={soon}")),
    ] {
        let (took, outcome) = run(key, &query).await;
        println!(
            "| automation run: {label} | {:.2} s ({:.1}× the baseline): {} subjects, {} create_task actions |",
            took.as_secs_f64(),
            took.as_secs_f64() / base,
            outcome["subjects_matched"],
            outcome["actions"]["create_task"].as_i64().unwrap_or(0),
        );
    }
}

fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A workbook of new clients with the columns a director's spreadsheet has, the rows the same
/// as `client_item` makes for the sync (numbers as numbers).
fn import_workbook(range: std::ops::Range<usize>, rng: &mut StdRng) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory().expect("sheet");
    let header = [
        "Наименование",
        "Статус",
        "Канал",
        "Регион",
        "Отрасль",
        "Телефон",
        "E-mail",
        "Рассылка",
        "Потенциал",
        "ID bench",
        "Причина потери",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    for (r, i) in range.enumerate() {
        let item = client_item(i, rng);
        let r = r as u32 + 1;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let cells = [
            text(&item["name"]),
            text(&item["status"]),
            text(&item["channel"]),
            text(&item["region"]),
            text(&item["industry"]),
            text(&item["phones"][0]["number"]),
            text(&item["emails"][0]["address"]),
            if item["mailing_consent"] == true { "да".into() } else { "нет".into() },
            String::new(),
            text(&item["external_id"]),
            text(&item["lost_reason"]),
        ];
        for (c, v) in cells.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r, c as u16, v).expect("cell");
            }
        }
        let potential: f64 = text(&item["estimated_potential"]).parse().expect("potential");
        sheet.write_number(r, 8, potential).expect("cell");
    }
    book.save_to_buffer().expect("workbook")
}

/// The XLSX import of new clients against `/sync/clients` of as many new clients of the same
/// shape, both timed in this run: from the upload to the import's end, and the server's memory.
async fn imports(loader: &std::sync::Arc<Loader>, concurrency: usize) {
    let rows: usize = env("BENCH_IMPORT_ROWS", "100000").parse().expect("BENCH_IMPORT_ROWS");
    let mut rng = StdRng::seed_from_u64(16);
    let batches = client_batches(20_000_000..20_000_000 + rows, &mut rng);
    let (rate, _) = push(loader, "/api/v1/sync/clients", batches, concurrency).await;
    println!(
        "| baseline: `/sync/clients`, {rows} new clients, {concurrency} batches in flight | {rate:.0} clients/s |"
    );
    let batches = client_batches(21_000_000..21_000_000 + rows, &mut rng);
    let (single, _) = push(loader, "/api/v1/sync/clients", batches, 1).await;
    println!("| baseline: `/sync/clients`, {rows} new clients, one batch at a time | {single:.0} clients/s |");

    let file = import_workbook(30_000_000..30_000_000 + rows, &mut rng);
    let pid = env("BENCH_SERVER_PID", "");
    let before = rss_kib(&pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let (peak, pid) = (peak.clone(), pid.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(&pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let http = &loader.http;
    let started = Instant::now();
    let res = http
        .post(format!("{}/api/v1/imports?file_name=bench.xlsx", loader.base))
        .bearer_auth(&loader.token)
        .header(reqwest::header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .body(file.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 201, "upload");
    let import: Value = res.json().await.expect("JSON");
    let uploaded = started.elapsed();
    let url = format!("{}/api/v1/imports/{}", loader.base, import["id"]);
    let res = http
        .patch(&url)
        .bearer_auth(&loader.token)
        .json(&json!({"match_on": ["external_id:bench"]}))
        .send()
        .await
        .expect("settings");
    assert!(res.status().is_success(), "settings: {}", res.status());
    let res = http.post(format!("{url}/run")).bearer_auth(&loader.token).send().await.expect("run");
    assert_eq!(res.status(), 202, "run");
    let done = loop {
        let state: Value =
            http.get(&url).bearer_auth(&loader.token).send().await.expect("poll").json().await.expect("JSON");
        if state["state"] != "running" {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed().as_secs_f64();
    sampler.abort();
    assert_eq!(done["state"], "done", "{done}");
    let imported = rows as f64 / took;
    println!(
        "| XLSX import of {rows} new clients ({} MiB), upload to done | {took:.1} s: {imported:.0} clients/s, {:.2}× the sync with {concurrency} in flight, {:.2}× one batch at a time ({} created, {} errors; upload and survey {:.1} s); server memory {} MiB before, {} MiB at most |",
        file.len() / 1_048_576,
        imported / rate,
        imported / single,
        done["created"],
        done["errors"],
        uploaded.as_secs_f64(),
        before / 1024,
        peak.load(std::sync::atomic::Ordering::Relaxed) / 1024,
    );
}
