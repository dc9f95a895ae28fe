//! The route table: every documented handler, mounted once for the server and for the OpenAPI
//! generator alike. Wiring: only `startup` and `main` use it.

use actix_web::middleware::from_fn;
use utoipa::OpenApi;
use utoipa_actix_web::scope;

use crate::{
    activities, analytics, api_clients, audit, automations, campaigns, channels, clients, contacts, custom_fields,
    deals, idempotency, imports, openapi, ops, pipelines, sales, segments, sync, tasks, teams, telephony, timeline,
    tokens, users, webhooks,
};

/// Registers every documented route.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.configure(ops::api::routes).service(
        scope::scope("/api/v1")
            .wrap(from_fn(idempotency::middleware))
            .configure(tokens::api::routes)
            .configure(users::api::routes)
            .configure(api_clients::api::routes)
            .configure(teams::api::routes)
            .configure(channels::api::routes)
            .configure(custom_fields::api::routes)
            .configure(clients::api::base::routes)
            .configure(clients::api::routes)
            .configure(contacts::api::routes)
            .configure(timeline::api::routes)
            .configure(pipelines::api::routes)
            .configure(deals::api::routes)
            .configure(activities::api::routes)
            .configure(tasks::api::routes)
            .configure(sales::api::routes)
            .configure(analytics::api::routes)
            .configure(segments::api::routes)
            .configure(webhooks::api::routes)
            .configure(campaigns::api::routes)
            .configure(audit::api::routes)
            .configure(sync::api::routes)
            .configure(telephony::api::routes)
            .configure(automations::api::routes)
            .configure(imports::api::routes),
    );
}

/// The document as served at `/openapi.json` and committed as `openapi/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, doc) =
        actix_web::App::new().into_utoipa_app().openapi(openapi::ApiDoc::openapi()).configure(routes).split_for_parts();
    openapi::finish(doc)
}
