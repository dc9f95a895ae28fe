//! Tasks: what someone has to do next, and when — call back, meet, send a proposal, reactivate
//! a client, push for payment. `GET /tasks?assignee=me&due=today` is a manager's day.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::{
    Generated, NewTask, Planned, Task, TaskFilter, TaskPatch, TaskRow, TaskSort, TaskStatus, TaskType, ENTITY,
    TASK_SORTS,
};
pub use repo::{by_ids, get, list};
pub use service::{create, create_generated, create_unless_open, delete, open_of_type, update};
