//! Every name in the committed contract's `components.schemas` is produced by exactly one Rust
//! type, and no two Rust types produce the same name: utoipa keys schemas by name alone, so two
//! types of one name (say two `Scope`s) would silently describe one with the other.
//!
//! The types are found by reading `src/**/*.rs`: `#[derive(… ToSchema …)]` on a struct or enum
//! (named by `#[schema(as = a::b::Name)]` as `a.b.Name` when given), and `impl ToSchema for X`
//! written by hand (named by its `fn name()` when it has one). A generic type such as `Page<T>`
//! produces `Page_Client`, `Page_Deal`, …: its name joined by `_` to its arguments' names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

/// One Rust type that produces a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaType {
    /// The schema name it produces (for a generic type: the name before its arguments).
    pub name: String,
    pub generic: bool,
    /// `file:line` and the Rust type's name, for messages.
    pub at: String,
}

/// Drops `//` comments (doc comments included) so examples in them are not read as code, and
/// unit-test modules, whose types are not part of the API.
fn code_of(source: &str) -> String {
    let tests = Regex::new(r"(?m)^\s*#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{").unwrap();
    let source = tests.find(source).map(|m| &source[..m.start()]).unwrap_or(source);
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        if line.trim_start().starts_with("//") {
            out.push('\n');
            continue;
        }
        // A trailing comment, outside string literals as far as a plain scan can tell.
        let cut = line.find(" //").filter(|&i| line[..i].matches('"').count() % 2 == 0).unwrap_or(line.len());
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// The schema types declared in one source file.
pub fn scan(file: &str, source: &str) -> Vec<SchemaType> {
    let code = code_of(source);
    let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();

    // Attributes, then the item they stand on. Attribute bodies may span lines and nest brackets
    // one level deep (`#[schema(example = json!([..]))]` is not used for names and may be skipped).
    let item = Regex::new(
        r"(?s)((?:#\[(?:[^\[\]]|\[(?:[^\[\]]|\[[^\[\]]*\])*\])*\]\s*)+)(?:pub(?:\([^)]*\))?\s+)?(struct|enum)\s+([A-Za-z_$][A-Za-z0-9_]*)\s*(<)?",
    )
    .unwrap();
    let derive = Regex::new(r"derive\s*\(([^)]*)\)").unwrap();
    let schema_as = Regex::new(r"#\[schema\s*\((?:[^()]|\([^()]*\))*?\bas\s*=\s*([A-Za-z_][A-Za-z0-9_:]*)").unwrap();
    for c in item.captures_iter(&code) {
        let attrs = &c[1];
        let derives_schema = derive
            .captures_iter(attrs)
            .any(|d| d[1].split(',').any(|t| t.trim().rsplit("::").next() == Some("ToSchema")));
        if !derives_schema {
            continue;
        }
        let ident = c[3].to_string();
        let name = match schema_as.captures(attrs) {
            Some(a) => a[1].split("::").filter(|s| !s.is_empty()).collect::<Vec<_>>().join("."),
            None => ident.clone(),
        };
        let at = format!("{file}:{} ({ident})", line_of(c.get(3).unwrap().start()));
        found.push(SchemaType { name, generic: c.get(4).is_some(), at });
    }

    // Hand-written implementations, with the `fn name()` they may give.
    let manual =
        Regex::new(r"impl\s*(<[^>]*>)?\s*(?:utoipa::)?ToSchema\s+for\s+([A-Za-z_$][A-Za-z0-9_]*)\s*(<)?").unwrap();
    let named = Regex::new(r#"^\s*\{[^{}]*fn\s+name\s*\(\s*\)[^{]*\{[^}]*?"([^"]+)""#).unwrap();
    for c in manual.captures_iter(&code) {
        let ident = c[2].to_string();
        let rest = &code[c.get(0).unwrap().end()..];
        let rest = rest.find('{').map(|i| &rest[i..]).unwrap_or_default();
        let name = named.captures(rest).map(|n| n[1].to_string()).unwrap_or_else(|| ident.clone());
        let at = format!("{file}:{} ({ident}, impl ToSchema)", line_of(c.get(2).unwrap().start()));
        found.push(SchemaType { name, generic: c.get(1).is_some() || c.get(3).is_some(), at });
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Names that two or more types produce.
pub fn shared_names(types: &[SchemaType]) -> BTreeMap<String, Vec<String>> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in types {
        by_name.entry(t.name.clone()).or_default().push(t.at.clone());
    }
    by_name.retain(|_, at| at.len() > 1);
    by_name
}

/// The types that produce `name`: a type of that name, or a generic type whose name and `_` begin
/// it, the rest naming its arguments (schemas themselves, or primitives).
pub fn producers<'a>(name: &str, types: &'a [SchemaType]) -> Vec<&'a SchemaType> {
    let known: BTreeSet<&str> = types.iter().map(|t| t.name.as_str()).collect();
    let primitive = |s: &str| {
        ["String", "str", "bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "Value"]
            .contains(&s)
    };
    types
        .iter()
        .filter(|t| {
            t.name == name
                || (t.generic
                    && name.strip_prefix(&format!("{}_", t.name)).is_some_and(|args| {
                        !args.is_empty() && args.split('_').all(|a| known.contains(a) || primitive(a))
                    }))
        })
        .collect()
}

fn source_types() -> Vec<SchemaType> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut types = Vec::new();
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        let shown = path.strip_prefix(root).unwrap().display().to_string();
        types.extend(scan(&shown, &source));
    }
    types
}

#[test]
fn every_schema_name_is_produced_by_exactly_one_rust_type() {
    let types = source_types();
    assert!(types.len() > 100, "the scan found only {} schema types: {types:?}", types.len());
    let shared = shared_names(&types);
    assert!(shared.is_empty(), "schema names produced by more than one Rust type: {shared:#?}");

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let names: Vec<&String> = doc["components"]["schemas"].as_object().unwrap().keys().collect();
    assert!(names.len() > 100);
    let mut wrong = Vec::new();
    for name in names {
        let by = producers(name, &types);
        if by.len() != 1 {
            wrong.push(format!("{name}: {:?}", by.iter().map(|t| &t.at).collect::<Vec<_>>()));
        }
    }
    assert!(
        wrong.is_empty(),
        "schema names of the contract not produced by exactly one Rust type:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_reads_derives_renames_generics_and_manual_impls() {
    let source = r#"
use utoipa::ToSchema;

/// An example in a doc comment is not code: #[derive(ToSchema)] struct Ghost;
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub struct Scope {
    pub a: i64,
}

#[derive(ToSchema, Deserialize)]
#[schema(as = reports::Scope, example = json!({"a": [1]}))]
pub(crate) enum Scope {
    A,
}

#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
}

#[derive(Debug, Clone)]
pub struct Plain;

impl utoipa::PartialSchema for Role {
    fn schema() -> () {}
}
impl ToSchema for Role {}
impl ToSchema for Renamed {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Other")
    }
}

#[cfg(test)]
fn helper() {}

#[derive(ToSchema)]
struct After;

#[cfg(test)]
mod tests {
    #[derive(ToSchema)]
    struct OnlyInTests;
}
"#;
    let types = scan("x.rs", source);
    let names: Vec<(&str, bool)> = types.iter().map(|t| (t.name.as_str(), t.generic)).collect();
    assert_eq!(
        names,
        [
            ("Scope", false),
            ("reports.Scope", false),
            ("Page", true),
            ("After", false),
            ("Role", false),
            ("Other", false)
        ]
    );
    assert_eq!(types[0].at, "x.rs:7 (Scope)");

    // Two types of one name are caught; a generic type produces its instances' names only.
    let mut twice = types.clone();
    twice.push(SchemaType { name: "Scope".into(), generic: false, at: "y.rs:1 (Scope)".into() });
    assert_eq!(shared_names(&twice).keys().collect::<Vec<_>>(), ["Scope"]);
    assert!(shared_names(&types).is_empty());
    assert_eq!(producers("Page_Role", &types).len(), 1);
    assert_eq!(producers("Page_i64", &types).len(), 1);
    assert!(producers("Page_Unknown", &types).is_empty());
    assert!(producers("Ghost", &types).is_empty());
    assert!(producers("OnlyInTests", &types).is_empty());
    assert_eq!(producers("Scope", &twice).len(), 2);
}
