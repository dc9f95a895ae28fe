//! Telephony: the screen pop (who is calling?) and call logging. Every call becomes a `call`
//! activity on the client — one per call id, however many events the PBX sends — and an
//! unknown caller becomes a potential client with a call-back task, so that everyone who ever
//! called to ask a price is in the base.
//!
//! Routing of an unknown caller: the user who took the call (by `user_id` or extension) owns the
//! new client and the task; otherwise the active manager with the fewest open call-back tasks
//! (then the lowest id); with no active manager the client stays unassigned.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;
