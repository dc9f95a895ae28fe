//! Automations: the base worked by itself. A trigger (a schedule over the base, or events as
//! they happen), conditions in the vocabulary of segments plus the entities' own predicates, and
//! actions (tasks with placeholders, statuses, tags, events for webhooks), with the built-in
//! playbooks of reactivation, payment follow-up, post-sale work, birthdays and holidays.
//!
//! `model` holds the types, `schedule` and `conditions` the pure rules of when and whom, `facts`
//! the bulk reads conditions judge, `engine` a run's subjects, plans and writes, `repo` the
//! storage, `service` validation and the runs, `worker` the loop in every process, `api` the
//! endpoints.

pub mod api;
pub mod conditions;
pub mod engine;
pub mod facts;
pub mod model;
pub mod repo;
pub mod schedule;
pub mod service;
pub mod worker;

pub use model::{Automation, AutomationPatch, NewAutomation, Run, RunOutcome};
