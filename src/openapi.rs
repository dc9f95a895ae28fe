//! The OpenAPI document: generated from the handlers, completed with the security scheme and the
//! problem responses every operation can give.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Password, Scopes, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::auth::scopes::Scope;
use crate::error::{FieldError, Problem, PROBLEM_JSON};

pub const TOKEN_URL: &str = "/api/v1/auth/token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "clientbase",
        description = "A self-hosted CRM backend for a company's client base: clients and contact \
            persons, the sales funnel, segmentation and analytics, campaigns, webhooks and \
            integrations. Errors are RFC 9457 problem documents; lists use keyset pagination.",
        license(name = "MIT")
    ),
    components(schemas(Problem, FieldError, Scope)),
    modifiers(&SecurityScheme_),
    tags(
        (name = "auth", description = "Access tokens"),
        (name = "users", description = "Users, teams and API clients"),
        (name = "channels", description = "The sales channel reference list"),
        (name = "custom-fields", description = "Typed fields of clients, contacts and deals: types, options, required, unique, filterable"),
        (name = "clients", description = "Client cards, their contact persons and timeline"),
        (name = "funnel", description = "Pipelines, deals, activities and tasks"),
        (name = "sales", description = "Purchases, single and in batches"),
        (name = "analytics", description = "Segmentation and reports from live data"),
        (name = "webhooks", description = "Outbound webhooks and their delivery log"),
        (name = "campaigns", description = "Mailings through providers, and their status callbacks"),
        (name = "integrations", description = "ERP/1C sync, the change feed and telephony"),
        (name = "automations", description = "Rules that work the base by themselves: schedules and events, conditions, actions, runs"),
        (name = "imports", description = "Spreadsheets into the base: upload, mapping, preview, background run, errors report, revert"),
        (name = "audit", description = "The append-only record of sensitive operations"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

#[allow(non_camel_case_types)]
struct SecurityScheme_;

impl Modify for SecurityScheme_ {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes = || Scopes::from_iter(Scope::described());
        let oauth = OAuth2::with_description(
            [
                Flow::Password(Password::new(TOKEN_URL, scopes())),
                Flow::ClientCredentials(ClientCredentials::new(TOKEN_URL, scopes())),
            ],
            "Bearer JWT from POST /api/v1/auth/token (HS256; iss, aud and exp are checked).",
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("oauth2", SecurityScheme::OAuth2(oauth));
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
            .build(),
    )
}

/// Adds the problem responses an operation can give but its handler does not list: they come
/// from extractors and shared rules (auth, JSON parsing, `If-Match`, the database being down).
fn add_common_responses(path: &str, op: &mut Operation) {
    let secured = op
        .security
        .as_ref()
        .is_some_and(|s| !s.is_empty() && serde_json::to_value(s).is_ok_and(|v| v != serde_json::json!([{}])));
    let has_param = |name: &str, place: ParameterIn| {
        op.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.name == name && p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let mut extra: Vec<(&str, &str)> = vec![
        ("400", "Malformed request: bad JSON syntax or invalid query parameters"),
        ("500", "Unexpected error (logged; the body carries no detail)"),
        ("503", "The database is unavailable"),
    ];
    if secured {
        extra.push(("401", "Missing, invalid, expired or revoked bearer token"));
        extra.push(("403", "The token lacks the required scope"));
    }
    if path.starts_with("/api/") {
        extra.push((
            "429",
            "Too many requests from this caller in the route class's window (see the `RateLimit` and \
             `RateLimit-Policy` headers every API response carries); retry after `Retry-After` seconds",
        ));
    }
    if path.contains('{') {
        extra.push(("404", "No such resource, or not visible to the caller"));
    }
    if op.request_body.is_some() {
        extra.push(("413", "The request body is too large"));
        extra.push(("415", "The request body is not JSON"));
        extra.push(("422", "Invalid fields, listed in `errors`"));
    }
    if has_param("If-Match", ParameterIn::Header) {
        extra.push(("412", "If-Match does not match the current ETag"));
    }
    if has_param("Idempotency-Key", ParameterIn::Header) {
        extra.push(("409", "A request with this Idempotency-Key is still being processed"));
        extra.push(("422", "The Idempotency-Key was used with a different request"));
    }
    for (status, description) in extra {
        op.responses.responses.entry(status.to_string()).or_insert_with(|| problem(description));
    }
}

/// Adds the `Idempotency-Key` header to every POST that can create something.
fn add_idempotency_header(op: &mut Operation) {
    use utoipa::openapi::path::ParameterBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let present = op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.name == "Idempotency-Key"));
    if present {
        return;
    }
    op.parameters.get_or_insert_with(Vec::new).push(RefOr::T(
        ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .description(Some("Repeating a POST with the same key replays the first response instead of acting twice"))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(200))
                    // Visible ASCII, spaces allowed inside: what the server keeps after trimming.
                    .pattern(Some(r"^[!-~]([ -~]*[!-~])?$")),
            ))
            .build(),
    ));
}

/// Completes a generated document with the shared responses and headers.
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for (path, item) in doc.paths.paths.iter_mut() {
        if path.starts_with("/api/v1/") && path != TOKEN_URL {
            if let Some(op) = item.post.as_mut() {
                add_idempotency_header(op);
            }
        }
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
        {
            add_common_responses(path, op);
            shape_if_match(op);
        }
    }
    doc
}

/// `If-Match` takes `*` or ETags this server issued (`"<id>-<version>"`, weak or strong, comma
/// separated); http::if_match, the one check, refuses anything else with 412.
fn shape_if_match(op: &mut Operation) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p {
            if p.name == "If-Match" && p.parameter_in == ParameterIn::Header {
                p.schema = Some(RefOr::T(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(r#"^(\*|(W/)?"[0-9]+-[0-9]+"( *, *(W/)?"[0-9]+-[0-9]+")*)$"#))
                        .into(),
                ));
            }
        }
    }
}

pub fn to_json(doc: &utoipa::openapi::OpenApi) -> String {
    let mut json = doc.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// The schema of an enum serde tags internally (`#[serde(tag = "…")]`) whose variants wrap
/// structs that deny unknown fields: each variant is the struct's own object with the tag
/// property added, so that `additionalProperties: false` does not refuse the tag itself (the
/// derive would combine them with `allOf`, which no valid value can satisfy).
pub fn tagged_one_of(
    tag: &str,
    variants: Vec<(&str, RefOr<utoipa::openapi::schema::Schema>)>,
) -> RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let mut one_of = OneOfBuilder::new();
    for (value, schema) in variants {
        let tag_schema = ObjectBuilder::new().schema_type(Type::String).enum_values(Some([value]));
        let item = match schema {
            RefOr::T(Schema::Object(mut object)) => {
                object.properties.insert(tag.to_string(), tag_schema.into());
                object.required.insert(0, tag.to_string());
                RefOr::T(Schema::Object(object))
            }
            other => other,
        };
        one_of = one_of.item(item);
    }
    one_of.into()
}

/// The `pattern` a parameter of `T` declares, for tests that hold a literal pattern to the list
/// the server checks against.
#[cfg(test)]
pub fn param_pattern<T: utoipa::IntoParams>(name: &str) -> Option<String> {
    T::into_params(|| None)
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| serde_json::to_value(p).ok())
        .and_then(|p| p["schema"]["pattern"].as_str().map(str::to_string))
}

/// The pattern of a comma-separated list of `names`, e.g. `^(a|b)(,(a|b))*$`.
#[cfg(test)]
pub fn comma_list_pattern<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let one = format!("({})", names.into_iter().collect::<Vec<_>>().join("|"));
    format!("^{one}(,{one})*$")
}
