//! The shape of the code, checked from its source: the layers point down (ARCHITECTURE.md),
//! each domain keeps the same rooms, and both migration trees carry the same steps.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Modules below the domains: they may use each other, never a domain or the wiring.
const KERNELS: &[&str] = &[
    "auth",
    "batch",
    "config",
    "db",
    "error",
    "events",
    "external_ids",
    "http",
    "idempotency",
    "memo",
    "metrics",
    "money",
    "normalize",
    "openapi",
    "pagination",
    "patch",
    "rounds",
    "state",
    "telemetry",
    "text_enum",
    "versioning",
];

/// The wiring at the top: it assembles everything and nothing imports it.
const WIRING: &[&str] = &["startup", "routes"];

/// Files allowed to name the wiring: the binary, the crate root and the assembly itself.
const WIRING_USERS: &[&str] = &["src/main.rs", "src/lib.rs", "src/startup.rs"];

/// The rooms a domain folder may have; larger domains split a room into files named after
/// what they hold, declared from the domain's `mod.rs` beside the room they belong to.
const ROOMS: &[&str] = &["mod.rs", "model.rs", "repo.rs", "service.rs", "api.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/…` relative path, with forward slashes.
fn rel(path: &Path) -> String {
    path.strip_prefix(ROOT).unwrap().to_string_lossy().replace('\\', "/")
}

/// The top-level module a file belongs to (`src/clients/repo.rs` → `clients`).
fn module_of(rel: &str) -> String {
    let rest = rel.strip_prefix("src/").unwrap();
    let first = rest.split('/').next().unwrap();
    first.trim_end_matches(".rs").to_string()
}

/// The source without comments, so that a doc comment naming a module is not an import.
fn code(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::<module>` a file names (in `use` lines and paths alike).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + 7..];
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            refs.insert(name);
        }
        rest = after;
    }
    // `use crate::{a, b::c}` groups.
    let mut rest = code;
    while let Some(i) = rest.find("crate::{") {
        let after = &rest[i + 8..];
        let end = after.find("};").unwrap_or(after.len());
        for part in after[..end].split(',') {
            let name: String = part.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                refs.insert(name);
            }
        }
        rest = after;
    }
    refs
}

fn domains(files: &[PathBuf]) -> BTreeSet<String> {
    files
        .iter()
        .map(|p| rel(p))
        .filter(|r| r.ends_with("/api.rs") || r.ends_with("/api/mod.rs"))
        .map(|r| module_of(&r))
        .filter(|m| !KERNELS.contains(&m.as_str()))
        .collect()
}

fn all_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    files.sort();
    files
}

#[test]
fn nothing_imports_the_wiring_but_the_top() {
    let mut wrong = Vec::new();
    for path in all_files() {
        let rel = rel(&path);
        if WIRING_USERS.contains(&rel.as_str()) {
            continue;
        }
        for r in crate_refs(&code(&path)) {
            if WIRING.contains(&r.as_str()) {
                wrong.push(format!("{rel} imports crate::{r}"));
            }
        }
    }
    assert!(wrong.is_empty(), "the wiring is imported from below:\n{}", wrong.join("\n"));
}

#[test]
fn kernels_know_no_domain() {
    let files = all_files();
    let domains = domains(&files);
    assert!(domains.contains("clients") && domains.contains("sales"), "domains found: {domains:?}");
    let mut wrong = Vec::new();
    for path in &files {
        let rel = rel(path);
        let module = module_of(&rel);
        if !KERNELS.contains(&module.as_str()) {
            continue;
        }
        for r in crate_refs(&code(path)) {
            if domains.contains(&r) || WIRING.contains(&r.as_str()) {
                wrong.push(format!("{rel} (kernel {module}) imports crate::{r}"));
            }
        }
    }
    assert!(wrong.is_empty(), "a shared module points up:\n{}", wrong.join("\n"));
}

#[test]
fn no_domain_imports_another_domains_handlers() {
    let files = all_files();
    let mut wrong = Vec::new();
    for path in &files {
        let rel = rel(path);
        let module = module_of(&rel);
        if WIRING_USERS.contains(&rel.as_str()) || rel == "src/routes.rs" {
            continue;
        }
        let text = code(path);
        let mut rest = text.as_str();
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + 7..];
            let path_text: String =
                after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
            let mut parts = path_text.split("::");
            if let (Some(target), Some("api")) = (parts.next(), parts.next()) {
                if target != module {
                    wrong.push(format!("{rel} uses crate::{target}::api"));
                }
            }
            rest = after;
        }
    }
    assert!(wrong.is_empty(), "handlers of another domain are used:\n{}", wrong.join("\n"));
}

#[test]
fn only_handlers_speak_http_and_read_the_state() {
    let mut wrong = Vec::new();
    for path in all_files() {
        let rel = rel(&path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name != "repo.rs" && name != "model.rs" {
            continue;
        }
        let text = code(&path);
        if text.contains("actix_web") {
            wrong.push(format!("{rel} uses actix_web"));
        }
        if crate_refs(&text).contains("state") {
            wrong.push(format!("{rel} reads the application state"));
        }
    }
    assert!(wrong.is_empty(), "models and repositories must not know HTTP:\n{}", wrong.join("\n"));
}

#[test]
fn every_domain_has_the_same_rooms() {
    let files = all_files();
    let mut wrong = Vec::new();
    for domain in domains(&files) {
        let dir = Path::new(ROOT).join("src").join(&domain);
        let front = dir.join("mod.rs");
        assert!(front.exists(), "{domain} has no mod.rs");
        let front_code = code(&front);
        // The front declares and re-exports; what the domain does lives in its rooms.
        if front_code.contains("fn ") || front_code.contains("struct ") || front_code.contains("enum ") {
            wrong.push(format!("src/{domain}/mod.rs holds code; it should only declare and re-export"));
        }
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let room = path.file_name().unwrap().to_string_lossy().to_string();
                if !ROOMS.contains(&format!("{room}.rs").as_str()) {
                    wrong.push(format!("{} is a folder that is not a room", rel(&path)));
                }
            }
        }
        for room in ["api.rs"] {
            if !dir.join(room).exists() && !dir.join(room.trim_end_matches(".rs")).exists() {
                wrong.push(format!("src/{domain} has no {room}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn handler_files_stay_short() {
    let mut wrong = Vec::new();
    for path in all_files() {
        let rel = rel(&path);
        let is_handler_file = rel.ends_with("/api.rs") || rel.contains("/api/");
        let lines = fs::read_to_string(&path).unwrap().lines().count();
        if is_handler_file && lines > 320 {
            wrong.push(format!("{rel}: {lines} lines"));
        }
    }
    assert!(wrong.is_empty(), "handler files over ~300 lines:\n{}", wrong.join("\n"));
}

#[test]
fn every_file_says_what_it_holds() {
    let missing: Vec<String> = all_files()
        .iter()
        .filter(|p| !fs::read_to_string(p).unwrap().trim_start().starts_with("//!"))
        .map(|p| rel(p))
        .collect();
    assert!(missing.is_empty(), "files without a //! header:\n{}", missing.join("\n"));
}

#[test]
fn both_migration_trees_carry_the_same_steps() {
    let steps = |backend: &str| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(Path::new(ROOT).join("migrations").join(backend))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    };
    let (pg, sqlite) = (steps("postgres"), steps("sqlite"));
    assert!(pg.len() >= 11, "{pg:?}");
    assert_eq!(pg, sqlite, "migrations/postgres and migrations/sqlite must name the same versions");
    for backend in ["postgres", "sqlite"] {
        for step in &pg {
            let up = Path::new(ROOT).join("migrations").join(backend).join(step).join("up.sql");
            let sql = fs::read_to_string(&up).unwrap_or_else(|_| panic!("{} is missing", up.display()));
            assert!(!sql.trim().is_empty(), "{} is empty: write the no-op statement and why", up.display());
        }
    }
}

#[test]
fn the_checks_see_what_they_check() {
    // The helpers above must find real imports, or every check passes vacuously.
    let refs =
        crate_refs("use crate::db::{self, DbConn};\nuse crate::{clients, sales::api};\nlet x = crate::money::parse;");
    assert!(refs.contains("db") && refs.contains("clients") && refs.contains("sales") && refs.contains("money"));
    assert_eq!(module_of("src/clients/repo.rs"), "clients");
    assert_eq!(module_of("src/startup.rs"), "startup");
    assert!(code(&Path::new(ROOT).join("src/lib.rs")).contains("pub mod clients"));
}
