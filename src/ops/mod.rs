//! Operations: liveness and readiness probes, Prometheus metrics, the OpenAPI document and the
//! Swagger UI. Handlers only; what they report is kept by `metrics` and `db`.

pub mod api;
